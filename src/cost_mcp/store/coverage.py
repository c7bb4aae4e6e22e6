"""Which provider-days a sync covered, what each report holds for them, and what calls recorded
locally estimate for a day."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cost_mcp.store.buckets import DAY_MS
from cost_mcp.store.connection import Conn
from cost_mcp.store.rollup import QUARTER_HOUR_MS


@dataclass(frozen=True)
class CoveredDay:
    """One UTC day a provider's report of ``kind`` was synced for, and whether it had rows."""

    provider: str
    kind: str
    start_ms: int
    end_ms: int
    synced_at: str
    has_rows: bool
    cost_nanos: int = 0
    """The sum of the report's known amounts for the day (rows of unknown price add nothing)."""


def covered_days(conn: Conn, lo_ms: int, hi_ms: int) -> list[CoveredDay]:
    """Every synced provider-day starting in ``[lo_ms, hi_ms)``."""
    rows = conn.execute(
        """
        SELECT c.provider, c.kind, c.start_ms, c.end_ms, c.synced_at,
               EXISTS (SELECT 1 FROM provider_buckets b
                       WHERE b.provider = c.provider AND b.kind = c.kind AND b.start_ms = c.start_ms),
               (SELECT COALESCE(SUM(b.cost_nanos), 0) FROM provider_buckets b
                WHERE b.provider = c.provider AND b.kind = c.kind
                  AND b.start_ms >= c.start_ms AND b.start_ms < c.end_ms)
        FROM provider_coverage c
        WHERE c.start_ms >= ? AND c.start_ms < ?
        """,
        (lo_ms, hi_ms),
    ).fetchall()
    return [
        CoveredDay(str(provider), str(kind), int(start), int(end), str(synced), bool(has_rows), int(nanos))
        for provider, kind, start, end, synced, has_rows, nanos in rows
    ]


def local_cost(
    conn: Conn, provider: str, day: int, skip_sources: Sequence[str], cost_mode: str
) -> int | None:
    """What calls of ``provider`` recorded locally (not from ``skip_sources``) on UTC day number
    ``day`` are estimated to cost in nano-USD, priced as ``cost_mode`` prices them (calls of unknown
    price add nothing); None when there are no such calls."""
    if cost_mode not in ("auto", "calculate", "display"):
        raise ValueError(f"unknown cost mode {cost_mode!r}")
    qh_per_day = DAY_MS // QUARTER_HOUR_MS
    skip = "".join(" AND source != ?" for _ in skip_sources)
    row = conn.execute(
        f"SELECT COUNT(*), COALESCE(SUM({cost_mode}_nanos), 0) FROM usage_rollup"
        f" WHERE qh >= ? AND qh < ? AND provider = ?{skip}",
        (day * qh_per_day, (day + 1) * qh_per_day, provider, *skip_sources),
    ).fetchone()
    return int(row[1]) if row is not None and int(row[0]) else None


def latest_covered_by_kind(conn: Conn) -> dict[tuple[str, str], int]:
    """Per (provider, report kind), the start (epoch ms) of the latest UTC day it was synced for."""
    rows = conn.execute(
        "SELECT provider, kind, MAX(start_ms) FROM provider_coverage GROUP BY provider, kind"
    ).fetchall()
    return {(str(provider), str(kind)): int(start) for provider, kind, start in rows}
