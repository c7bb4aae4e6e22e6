"""Writing what provider APIs report: replace a synced range, record which days it covers.

Re-syncing a range replaces it (never adds to it), and the whole range is written in one
transaction: a failed sync leaves the previous data exactly as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from cost_mcp import tokens
from cost_mcp.store.connection import Conn
from cost_mcp.store.usage import TOKEN_COLUMNS_SQL, TOKEN_MARKS_SQL, tokens_added_sql

BucketKind = Literal["cost", "usage"]
DAY_MS = 86_400_000

CLAUDE_CODE_PROVIDER = "anthropic-claude-code"
"""Anthropic's Claude Code analytics report: per-member estimates of usage that Anthropic's cost
report, its usage report and the local Claude Code logs already count."""
ATTRIBUTION_ONLY: frozenset[str] = frozenset({CLAUDE_CODE_PROVIDER})
"""Bucket providers whose amounts only say who spent; they are never added to a total."""
OUTSIDE_BILL: dict[str, frozenset[str]] = {"anthropic": frozenset({"priority", "priority_on_demand"})}
"""Per provider, the usage service tiers its billing report leaves out (Anthropic: "Priority Tier
costs use a different billing model and are not included in the cost endpoint"), counted on top."""


@dataclass(frozen=True, slots=True)
class Bucket:
    """One row of a provider's report: an amount (cost) or token counts (usage) for a time bucket."""

    start_ms: int
    end_ms: int
    cost_nanos: int | None = None
    model: str = ""
    project: str = ""
    workspace: str = ""
    api_key: str = ""
    line_item: str = ""
    service_tier: str = ""
    member: str = ""
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    web_search_requests: int = 0


def replace_range(
    conn: Conn,
    provider: str,
    kind: BucketKind,
    start_ms: int,
    end_ms: int,
    buckets: Sequence[Bucket],
    *,
    now: datetime | None = None,
) -> None:
    """Replace everything ``provider`` reported as ``kind`` in ``[start_ms, end_ms)`` by ``buckets``
    and mark each UTC day of the range as covered, synced at ``now``. The caller owns the transaction.

    A bucket starting outside the range is refused (ValueError): the range's delete would not
    reach it on the next sync, so each re-sync would add it again. Buckets sharing the ledger's
    unique key are summed, and a cost stays unknown (NULL) if any part of it is unknown.
    """
    if start_ms % DAY_MS or end_ms % DAY_MS or end_ms <= start_ms:
        raise ValueError("a synced range must be whole UTC days")
    outside = [b for b in buckets if not start_ms <= b.start_ms < end_ms or b.end_ms <= b.start_ms]
    if outside:
        raise ValueError(
            f"{provider} {kind}: {len(outside)} bucket(s) outside the synced range "
            f"[{start_ms}, {end_ms}) (first starts at {outside[0].start_ms}); nothing was written"
        )
    synced_at = (now or datetime.now(UTC)).astimezone(UTC).isoformat()
    conn.execute(
        "DELETE FROM provider_buckets WHERE provider = ? AND kind = ? AND start_ms >= ? AND start_ms < ?",
        (provider, kind, start_ms, end_ms),
    )
    conn.executemany(
        f"""
        INSERT INTO provider_buckets (
            provider, kind, start_ms, end_ms, model, project, workspace, api_key, line_item,
            service_tier, member, cost_nanos, requests, {TOKEN_COLUMNS_SQL}, fetched_at
        ) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, {TOKEN_MARKS_SQL}, ?)
        ON CONFLICT (provider, kind, start_ms, end_ms, model, project, workspace, api_key, line_item,
                     service_tier, member)
        DO UPDATE SET
            cost_nanos = provider_buckets.cost_nanos + excluded.cost_nanos,
            requests = provider_buckets.requests + excluded.requests,
            {tokens_added_sql("provider_buckets")}
        """,
        [
            (
                provider,
                kind,
                b.start_ms,
                b.end_ms,
                b.model,
                b.project,
                b.workspace,
                b.api_key,
                b.line_item,
                b.service_tier,
                b.member,
                b.cost_nanos,
                b.requests,
                *(getattr(b, c) for c in tokens.COLUMNS),
                synced_at,
            )
            for b in buckets
        ],
    )
    conn.executemany(
        """
        INSERT INTO provider_coverage (provider, kind, start_ms, end_ms, synced_at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (provider, kind, start_ms) DO UPDATE SET synced_at = excluded.synced_at
        """,
        [(provider, kind, day, day + DAY_MS, synced_at) for day in range(start_ms, end_ms, DAY_MS)],
    )
