"""Reads behind the coding-agent session views: one session's totals and models, recent calls."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cost_mcp import tokens
from cost_mcp.store.connection import Conn, marks
from cost_mcp.store.usage import TOKEN_SUMS_SQL, cost_sql


@dataclass(frozen=True)
class SessionTotals:
    """A session's counted calls summed (cost under the cost mode; ``unpriced`` calls lack one)."""

    first_ms: int
    last_ms: int
    requests: int
    tokens: list[int]
    """Counts in :data:`cost_mcp.tokens.KINDS` order."""
    cost_nanos: int
    unpriced: int
    project: str


def session_totals(
    conn: Conn, sources: Sequence[str], session_id: str, cost_mode: str
) -> SessionTotals | None:
    """The counted calls of ``session_id`` from any of ``sources``, summed; None when there are none."""
    cost = cost_sql(cost_mode)
    row = conn.execute(
        f"""
        SELECT MIN(ts_ms), MAX(ts_ms), COUNT(*), {TOKEN_SUMS_SQL}, SUM({cost}),
               SUM(CASE WHEN ({cost}) IS NULL THEN 1 ELSE 0 END), MAX(project)
        FROM usage_events WHERE counted = 1 AND source IN ({marks(sources)}) AND session_id = ?
        """,
        (*sources, session_id),
    ).fetchone()
    if not row or not row[2]:
        return None
    k = len(tokens.COLUMNS)
    return SessionTotals(
        first_ms=int(row[0]),
        last_ms=int(row[1]),
        requests=int(row[2]),
        tokens=[int(v) for v in row[3 : 3 + k]],
        cost_nanos=int(row[3 + k] or 0),
        unpriced=int(row[4 + k] or 0),
        project=str(row[5 + k] or ""),
    )


def latest_session(conn: Conn, sources: Sequence[str], projects: Sequence[str] = ()) -> str | None:
    """The session of the most recent counted call from ``sources`` (in one of ``projects``, if given)."""
    if projects:
        # Each project's newest call through usage_events_project_ts (m040), walked back from its
        # end: with ``project IN (...)`` SQLite (no statistics) took the (counted, ts_ms) index and
        # read every counted call newest first, 4.4 s on a ledger of 3M calls for a project with none.
        found = [
            conn.execute(
                "SELECT ts_ms, session_id FROM usage_events WHERE counted = 1 AND project = ? "
                f"AND source IN ({marks(sources)}) ORDER BY ts_ms DESC LIMIT 1",
                (project, *sources),
            ).fetchone()
            for project in dict.fromkeys(projects)
        ]
        newest = max(((int(r[0]), str(r[1])) for r in found if r is not None), default=None)
        return newest[1] if newest else None
    row = conn.execute(
        f"SELECT session_id FROM usage_events WHERE counted = 1 AND source IN ({marks(sources)}) "
        "ORDER BY ts_ms DESC LIMIT 1",
        tuple(sources),
    ).fetchone()
    return str(row[0]) if row else None


def output_by_source(conn: Conn, sources: Sequence[str], session_id: str) -> dict[str, int]:
    """The output tokens of ``session_id``'s counted calls per source (only the sources it has
    calls from): which agent's logs a session rests on, and whether their output counts matter."""
    # Every source of the session, the others dropped here: with ``source IN (...)`` in the WHERE,
    # SQLite (no statistics) took the unique key, whose first column orders GROUP BY source, and read
    # every call of those sources, 16 s on a ledger of 3M calls for a session of 155.
    rows = conn.execute(
        "SELECT source, SUM(output_tokens) FROM usage_events WHERE counted = 1 AND session_id = ? "
        "GROUP BY source",
        (session_id,),
    ).fetchall()
    return {str(source): int(n or 0) for source, n in rows if source in sources}


@dataclass(frozen=True)
class ModelSums:
    """One model's counted calls in a session, summed."""

    model: str
    requests: int
    tokens: list[int]
    cost_nanos: int | None
    """None when no call of the model has a price."""


def session_models(conn: Conn, sources: Sequence[str], session_id: str, cost_mode: str) -> list[ModelSums]:
    """Per model, the counted calls of ``session_id`` from ``sources``, costliest first."""
    cost = cost_sql(cost_mode)
    rows = conn.execute(
        f"""
        SELECT model, COUNT(*), {TOKEN_SUMS_SQL},
               SUM({cost}), SUM(CASE WHEN ({cost}) IS NULL THEN 1 ELSE 0 END)
        FROM usage_events WHERE counted = 1 AND source IN ({marks(sources)}) AND session_id = ?
        GROUP BY model ORDER BY SUM({cost}) DESC, model
        """,
        (*sources, session_id),
    ).fetchall()
    k = len(tokens.COLUMNS)
    return [
        ModelSums(
            model=str(r[0]),
            requests=int(r[1]),
            tokens=[int(v) for v in r[2 : 2 + k]],
            cost_nanos=None if r[3 + k] == r[1] else int(r[2 + k] or 0),
        )
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class TimedCall:
    """One counted call: when, its counts, its cost (None when unpriced), model and source."""

    ts_ms: int
    tokens: tuple[int, ...]
    cost_nanos: int | None
    model: str
    source: str


def sources_since(conn: Conn, sources: Sequence[str], since_ms: int) -> list[str]:
    """Which of ``sources`` have a counted call from ``since_ms`` on, sorted."""
    rows = conn.execute(
        "SELECT DISTINCT source FROM usage_events "
        f"WHERE counted = 1 AND ts_ms >= ? AND source IN ({marks(sources)})",
        (since_ms, *sources),
    ).fetchall()
    return sorted(str(r[0]) for r in rows)


def calls_since(conn: Conn, sources: Sequence[str], since_ms: int, cost_mode: str) -> list[TimedCall]:
    """Counted calls from ``sources`` from ``since_ms`` on, oldest first."""
    k = len(tokens.COLUMNS)
    rows = conn.execute(
        f"""
        SELECT ts_ms, {", ".join(tokens.COLUMNS)}, {cost_sql(cost_mode)}, model, source
        FROM usage_events WHERE counted = 1 AND source IN ({marks(sources)}) AND ts_ms >= ? ORDER BY ts_ms
        """,
        (*sources, since_ms),
    ).fetchall()
    return [
        TimedCall(
            int(r[0]),
            tuple(int(v) for v in r[1 : 1 + k]),
            None if r[1 + k] is None else int(r[1 + k]),
            str(r[2 + k]),
            str(r[3 + k]),
        )
        for r in rows
    ]
