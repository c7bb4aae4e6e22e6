"""The values each spend dimension takes in the ledger, for checking filters against them."""

from __future__ import annotations

from cost_mcp.store.connection import Conn
from cost_mcp.store.rollup import DIMENSION_COLUMNS, QUARTER_HOUR_MS

_BUCKETS = {
    "provider": "provider",
    "model": "model",
    "project": "CASE WHEN project != '' THEN project ELSE workspace END",
    "member": "member",
}
_SUBSCRIPTIONS = {"provider": "vendor", "member": "member"}


def data_source(provider: str, kind: str) -> str:
    """The data-source name of provider buckets: ``openai-costs`` (a cost API, billed) or
    ``openai-usage`` (a usage API, priced here); attribution-only feeds keep their own name."""
    from cost_mcp.store.buckets import ATTRIBUTION_ONLY  # here: the hook's budget check imports this module

    if provider in ATTRIBUTION_ONLY:
        return provider
    return f"{provider}-{'costs' if kind == 'cost' else 'usage'}"


def known_values(conn: Conn, dimension: str, member: str | None = None) -> set[str]:
    """Every non-empty value ``dimension`` has anywhere in the ledger (all time); with ``member``,
    only in that member's own usage, buckets and subscriptions (what a team member may be told of)."""
    mine = "" if member is None else " WHERE member = ?"
    args: tuple[str, ...] = () if member is None else (member,)
    values: set[str] = set()
    if dimension in DIMENSION_COLUMNS:
        col = DIMENSION_COLUMNS[dimension]
        # The daily rollup has every value the quarter-hours have, in a fifth of the rows.
        values |= {
            str(r[0]) for r in conn.execute(f"SELECT DISTINCT {col} FROM usage_rollup_day{mine}", args)
        }
    if dimension in _BUCKETS:
        expr = _BUCKETS[dimension]
        values |= {
            str(r[0]) for r in conn.execute(f"SELECT DISTINCT {expr} FROM provider_buckets{mine}", args)
        }
    if dimension == "source":
        pairs = conn.execute(f"SELECT DISTINCT provider, kind FROM provider_buckets{mine}", args)
        values |= {data_source(str(p), str(k)) for p, k in pairs}
        if conn.execute(f"SELECT 1 FROM subscriptions{mine} LIMIT 1", args).fetchone():
            values.add("subscription")
    if dimension in _SUBSCRIPTIONS:
        col = _SUBSCRIPTIONS[dimension]
        values |= {str(r[0]) for r in conn.execute(f"SELECT DISTINCT {col} FROM subscriptions{mine}", args)}
    if dimension == "basis":
        values |= {"billed", "estimated", "subscription"}
    values.discard("")
    return values


def marked_values(conn: Conn, dimension: str, member: str | None = None) -> set[str]:
    """The non-empty values ``dimension`` has in the counted calls of quarter-hours still marked for
    the rollup (``rollup_dirty``, ``rollup_levels_dirty``), which :func:`known_values` does not see
    yet: an answer rebuilds the rollup from its own period on, and leaves older marks (a call
    received over OTLP last month, a re-price's chunk) for the question that reads them. With
    ``member``, only in that member's own calls. As cheap as the marks are few: read only for a
    filter value :func:`known_values` lacks."""
    if dimension not in DIMENSION_COLUMNS:
        return set()
    col = DIMENSION_COLUMNS[dimension]
    mine = "" if member is None else " AND e.member = ?"
    args: tuple[str, ...] = () if member is None else (member,)
    qh = QUARTER_HOUR_MS
    rows = conn.execute(
        f"SELECT DISTINCT e.{col} "
        "FROM (SELECT qh FROM rollup_dirty UNION SELECT qh FROM rollup_levels_dirty) AS m "
        f"JOIN usage_events e ON e.counted = 1 AND e.ts_ms >= m.qh * {qh} AND e.ts_ms < (m.qh + 1) * {qh}"
        f"{mine}",
        args,
    )
    return {str(r[0]) for r in rows} - {""}


def every_value(conn: Conn, dimension: str, member: str | None = None) -> set[str]:
    """:func:`known_values` and :func:`marked_values`: every value the ledger holds, rebuilt in the
    rollup or not, for what no answer's period bounds (a budget being set names the ids its model
    counts, a team's member is checked for usage, an error hints at a session's whole id). Not for
    every answer: while a ``reprice --all`` runs, its marks cover years of calls."""
    return known_values(conn, dimension, member) | marked_values(conn, dimension, member)


def provider_data_sources(conn: Conn) -> dict[str, list[str]]:
    """The data-source names each provider's synced buckets carry (``openai``: openai-costs, openai-usage)."""
    fed: dict[str, list[str]] = {}
    for provider, kind in conn.execute("SELECT DISTINCT provider, kind FROM provider_buckets ORDER BY 1, 2"):
        fed.setdefault(str(provider), []).append(data_source(str(provider), str(kind)))
    return fed
