"""The values each spend dimension takes in the ledger, for checking filters against them."""

from __future__ import annotations

from cost_mcp.store.connection import Conn

_ROLLUP = {
    "provider": "provider",
    "model": "model",
    "project": "project",
    "agent": "agent",
    "member": "member",
    "source": "source",
    "session": "session_id",
}
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
    only in that member's rows (a team member's answer names nothing of anyone else's)."""
    values: set[str] = set()
    mine, args = (" WHERE member = ?", (member,)) if member is not None else ("", ())
    if dimension in _ROLLUP:
        col = _ROLLUP[dimension]
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


def provider_data_sources(conn: Conn) -> dict[str, list[str]]:
    """The data-source names each provider's synced buckets carry (``openai``: openai-costs, openai-usage)."""
    fed: dict[str, list[str]] = {}
    for provider, kind in conn.execute("SELECT DISTINCT provider, kind FROM provider_buckets ORDER BY 1, 2"):
        fed.setdefault(str(provider), []).append(data_source(str(provider), str(kind)))
    return fed
