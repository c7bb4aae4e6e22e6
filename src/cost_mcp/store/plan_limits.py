"""Plan-limit readings: the SQL that stores and reads them (``plan_limit_readings``, migration m011)."""

from __future__ import annotations

from cost_mcp.store.connection import Conn


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
    last = conn.execute(
        'SELECT used_percent, resets_at_ms FROM plan_limit_readings WHERE agent = ? AND "window" = ? '
        "ORDER BY ts_ms DESC, id DESC LIMIT 1",
        (agent, window),
    ).fetchone()
    if last is not None and (last[0], last[1]) == (used_percent, resets_at_ms):
        return 0
    return conn.execute(
        "INSERT INTO plan_limit_readings "
        '(ts_ms, agent, "window", used_percent, resets_at_ms, session_id) VALUES (?, ?, ?, ?, ?, ?) '
        "ON CONFLICT DO NOTHING",
        (ts_ms, agent, window, used_percent, resets_at_ms, session_id),
    ).rowcount


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
