"""Plan-limit readings: the SQL that stores and reads them (``plan_limit_readings``, migration m011)."""

from __future__ import annotations

from collections.abc import Iterable

from cost_mcp.store.connection import Conn

Reading = tuple[str, float, int | None, str, int]
"""One plan-limit reading to store: (window, used_percent, resets_at_ms, session_id, ts_ms)."""


def insert_reading(
    conn: Conn,
    agent: str,
    window: str,
    used_percent: float,
    resets_at_ms: int | None,
    session_id: str,
    ts_ms: int,
) -> int:
    """Add one reading unless the window's latest one says the same; rows added (0 or 1).

    Runs inside the caller's transaction: readings are written with whatever brought them in.
    """
    return insert_readings(conn, agent, [(window, used_percent, resets_at_ms, session_id, ts_ms)])


def insert_readings(conn: Conn, agent: str, readings: Iterable[Reading]) -> int:
    """Add each reading, in order, unless its window's latest one (by time, then by insertion) says
    the same; rows added. The same rows as one :func:`insert_reading` per reading, but each window's
    latest row is looked up once and then followed here: a Codex home gives a reading per model
    call, and one look-up per reading sorted the window's every row each time (a 22 MB home spent
    18 of its 23 s of ingest there).

    Runs inside the caller's transaction.
    """
    latest: dict[str, tuple[int, float, int | None] | None] = {}
    # Rows known to be stored (added or found by the batch): the same reading again would hit the
    # UNIQUE constraint and add nothing. Not for readings without a reset time: NULLs are distinct.
    stored: set[tuple[str, float, int]] = set()
    added = 0
    for window, used_percent, resets_at_ms, session_id, ts_ms in readings:
        if resets_at_ms is not None and (window, used_percent, resets_at_ms) in stored:
            continue
        if window not in latest:
            row = conn.execute(
                "SELECT ts_ms, used_percent, resets_at_ms FROM plan_limit_readings "
                'WHERE agent = ? AND "window" = ? ORDER BY ts_ms DESC, id DESC LIMIT 1',
                (agent, window),
            ).fetchone()
            latest[window] = None if row is None else (int(row[0]), float(row[1]), row[2])
        last = latest[window]
        if last is not None and (last[1], last[2]) == (used_percent, resets_at_ms):
            continue
        inserted = conn.execute(
            "INSERT INTO plan_limit_readings "
            '(ts_ms, agent, "window", used_percent, resets_at_ms, session_id) VALUES (?, ?, ?, ?, ?, ?) '
            "ON CONFLICT DO NOTHING",
            (ts_ms, agent, window, used_percent, resets_at_ms, session_id),
        ).rowcount
        added += inserted
        if resets_at_ms is not None:
            stored.add((window, used_percent, resets_at_ms))
        # The new row is the window's latest unless an earlier one is stamped later (a tie goes to
        # the new row: it has the higher id).
        if inserted and (last is None or ts_ms >= last[0]):
            latest[window] = (ts_ms, used_percent, resets_at_ms)
    return added


def readings_since(conn: Conn, since_ms: int) -> list[tuple[str, str, int, float, int | None]]:
    """(agent, window, ts_ms, used_percent, resets_at_ms) since ``since_ms``, per window in time order."""
    return [
        (str(a), str(w), int(t), float(u), None if r is None else int(r))
        for a, w, t, u, r in conn.execute(
            'SELECT agent, "window", ts_ms, used_percent, resets_at_ms FROM plan_limit_readings '
            'WHERE ts_ms >= ? ORDER BY agent, "window", ts_ms, id',
            (since_ms,),
        )
    ]
