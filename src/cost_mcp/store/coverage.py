"""Which provider-days a sync covered, and whether calls recorded locally exist for a day."""

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


def covered_days(conn: Conn, lo_ms: int, hi_ms: int) -> list[CoveredDay]:
    """Every synced provider-day starting in ``[lo_ms, hi_ms)``."""
    rows = conn.execute(
        """
        SELECT c.provider, c.kind, c.start_ms, c.end_ms, c.synced_at,
               EXISTS (SELECT 1 FROM provider_buckets b
                       WHERE b.provider = c.provider AND b.kind = c.kind AND b.start_ms = c.start_ms)
        FROM provider_coverage c
        WHERE c.start_ms >= ? AND c.start_ms < ?
        """,
        (lo_ms, hi_ms),
    ).fetchall()
    return [
        CoveredDay(str(provider), str(kind), int(start), int(end), str(synced), bool(has_rows))
        for provider, kind, start, end, synced, has_rows in rows
    ]


def has_local_calls(conn: Conn, provider: str, day: int, skip_sources: Sequence[str]) -> bool:
    """Whether calls of ``provider`` recorded locally (not from ``skip_sources``) fall on UTC day
    number ``day``."""
    qh_per_day = DAY_MS // QUARTER_HOUR_MS
    skip = "".join(" AND source != ?" for _ in skip_sources)
    row = conn.execute(
        f"SELECT 1 FROM usage_rollup WHERE qh >= ? AND qh < ? AND provider = ?{skip} LIMIT 1",
        (day * qh_per_day, (day + 1) * qh_per_day, provider, *skip_sources),
    ).fetchone()
    return row is not None


def latest_covered(conn: Conn) -> dict[str, int]:
    """Per provider, the start (epoch ms) of the latest UTC day any of its reports was synced for."""
    rows = conn.execute("SELECT provider, MAX(start_ms) FROM provider_coverage GROUP BY provider").fetchall()
    return {str(provider): int(start) for provider, start in rows}
