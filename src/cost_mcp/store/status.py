"""The ledger reads the status line and the hooks make on every call, each one indexed.

``cost-mcp statusline`` runs after every assistant message, so these stay plain SQL over
``usage_events``' indexes (session, time) and import nothing beyond the cost expression.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cost_mcp.store.connection import Conn
from cost_mcp.store.connection import marks as placeholders
from cost_mcp.store.usage import cost_sql

if TYPE_CHECKING:
    from cost_mcp.core_settings import CostMode


def _cost_and_unpriced(mode: CostMode) -> str:
    """Two columns: the nano-USD sum of the rows' costs, and how many rows have no price."""
    cost = cost_sql(mode)
    return f"COALESCE(SUM({cost}), 0), COALESCE(SUM(CASE WHEN {cost} IS NULL THEN 1 ELSE 0 END), 0)"


def scanned_stamp(conn: Conn, path: str) -> tuple[int, int] | None:
    """(size, mtime_ns) of a Claude Code log file when it was last read, or None if never."""
    row = conn.execute("SELECT size, mtime_ns FROM scanned_files WHERE path = ?", (path,)).fetchone()
    return None if row is None else (int(row[0]), int(row[1]))


def session_cost(conn: Conn, session_id: str, mode: CostMode) -> tuple[int, int, int]:
    """(calls, nano-USD, unpriced calls) of one session's counted calls; unpriced calls are left
    out of the sum and counted apart."""
    row = conn.execute(
        f"SELECT COUNT(*), {_cost_and_unpriced(mode)} FROM usage_events WHERE session_id = ? AND counted = 1",
        (session_id,),
    ).fetchone()
    return int(row[0]), int(row[1]), int(row[2])


def session_model(conn: Conn, session_id: str) -> str | None:
    """The model of one session's latest counted call, as logged (None: no call yet)."""
    row = conn.execute(
        "SELECT model FROM usage_events WHERE session_id = ? AND counted = 1 ORDER BY ts_ms DESC LIMIT 1",
        (session_id,),
    ).fetchone()
    return None if row is None else str(row[0])


def cost_between(conn: Conn, start_ms: int, end_ms: int, mode: CostMode) -> tuple[int, int]:
    """(nano-USD, unpriced calls) of every counted call in [start_ms, end_ms)."""
    row = conn.execute(
        f"SELECT {_cost_and_unpriced(mode)} FROM usage_events WHERE counted = 1 AND ts_ms >= ? AND ts_ms < ?",
        (start_ms, end_ms),
    ).fetchone()
    return int(row[0]), int(row[1])


def first_call_after(conn: Conn, sources: Sequence[str], after_ms: int) -> int | None:
    """When the earliest of these sources' counted calls later than ``after_ms`` was made (None: none).

    One walk of the (counted, ts_ms) index from ``after_ms``, stopping at the first call of these
    sources: how the status line finds the active block without reading a day of calls.
    """
    marks = placeholders(sources)
    row = conn.execute(
        f"SELECT ts_ms FROM usage_events WHERE counted = 1 AND source IN ({marks}) AND ts_ms > ? "
        "ORDER BY ts_ms LIMIT 1",
        (*sources, after_ms),
    ).fetchone()
    return None if row is None else int(row[0])


def last_call(conn: Conn, sources: Sequence[str], since_ms: int, until_ms: int) -> int | None:
    """When the latest of these sources' counted calls from ``since_ms`` to ``until_ms`` (both
    included) was made (None: none)."""
    marks = placeholders(sources)
    row = conn.execute(
        f"SELECT ts_ms FROM usage_events WHERE counted = 1 AND source IN ({marks}) AND ts_ms >= ? "
        "AND ts_ms <= ? ORDER BY ts_ms DESC LIMIT 1",
        (*sources, since_ms, until_ms),
    ).fetchone()
    return None if row is None else int(row[0])


def source_cost_until(
    conn: Conn, sources: Sequence[str], since_ms: int, until_ms: int, mode: CostMode
) -> tuple[int, int]:
    """(nano-USD, unpriced calls) of these sources' counted calls from ``since_ms`` to ``until_ms``
    (both included)."""
    marks = placeholders(sources)
    row = conn.execute(
        f"SELECT {_cost_and_unpriced(mode)} FROM usage_events "
        f"WHERE counted = 1 AND source IN ({marks}) AND ts_ms >= ? AND ts_ms <= ?",
        (*sources, since_ms, until_ms),
    ).fetchone()
    return int(row[0]), int(row[1])


def has_budgets(conn: Conn) -> bool:
    """Whether any budget is set (when none is, the status line and hooks skip budget work)."""
    return conn.execute("SELECT 1 FROM budgets LIMIT 1").fetchone() is not None


def billing_data_between(conn: Conn, lo_ms: int, hi_ms: int, *, rows_only: bool = False) -> bool:
    """Whether any provider billing data (a bucket, or a synced provider-day, even an empty one)
    touches ``[lo_ms, hi_ms)``: then billed figures may replace local estimates there.
    ``rows_only``: a bucket only (an empty day's report never hides the estimates below it)."""
    bucket = conn.execute(
        "SELECT 1 FROM provider_buckets WHERE start_ms < ? AND end_ms > ? LIMIT 1", (hi_ms, lo_ms)
    ).fetchone()
    if bucket is not None or rows_only:
        return bucket is not None
    return (
        conn.execute(
            "SELECT 1 FROM provider_coverage WHERE start_ms < ? AND end_ms > ? LIMIT 1", (hi_ms, lo_ms)
        ).fetchone()
        is not None
    )
