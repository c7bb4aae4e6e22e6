"""Every counted usage event and provider bucket of a period, as flat records for CSV or JSON."""

from __future__ import annotations

from collections.abc import Iterator

from cost_mcp.analytics.usage import cost_sql
from cost_mcp.config import Settings
from cost_mcp.money import from_nanos, plain_usd
from cost_mcp.periods import Period, iso_utc
from cost_mcp.store import rollup
from cost_mcp.store.buckets import ATTRIBUTION_ONLY
from cost_mcp.store.connection import Conn

FIELDS = (
    "kind",
    "time",
    "end_time",
    "source",
    "provider",
    "model",
    "project",
    "agent",
    "session",
    "member",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "web_search_requests",
    "requests",
    "cost_usd",
    "basis",
    "id",
)


def _usd(nanos: int | None) -> str:
    return plain_usd(None if nanos is None else from_nanos(int(nanos)))


def _basis(provider: str, kind: str) -> str:
    if provider in ATTRIBUTION_ONLY:
        return "attribution"
    return "billed" if kind == "cost" else "estimated"


def export_records(conn: Conn, settings: Settings, p: Period) -> Iterator[dict[str, str | int]]:
    """Counted usage events (kind 'event'), then provider buckets (kind 'cost' or 'usage').

    Money is an exact decimal string; ``unpriced`` means no known price (never 0). Buckets are selected by
    their UTC date, as get_spend places them. Rows with basis 'attribution' (Claude Code analytics)
    only say who spent: their amounts are counted elsewhere and must not be added to a total.
    """
    rollup.refresh(conn)
    for row in conn.execute(
        f"""
        SELECT ts_ms, source, provider, model, project, agent, session_id, member, input_tokens,
               output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens,
               web_search_requests, {cost_sql(settings.cost_mode)}, message_id, request_id
        FROM usage_events WHERE counted = 1 AND ts_ms >= ? AND ts_ms < ? ORDER BY ts_ms
        """,
        (p.start_ms, p.end_ms),
    ):
        ts, source, provider, model, project, agent, session, member, *tokens, cost, mid, rid = row
        yield {
            "kind": "event",
            "time": iso_utc(ts),
            "end_time": "",
            "source": source,
            "provider": provider,
            "model": model,
            "project": project,
            "agent": agent,
            "session": session,
            "member": member,
            **dict(zip(FIELDS[10:16], tokens, strict=True)),
            "requests": 1,
            "cost_usd": _usd(cost),
            "basis": "estimated",
            "id": f"{mid}/{rid}" if rid else str(mid),
        }
    first, last = p.utc_dates_ms()
    for row in conn.execute(
        """
        SELECT id, kind, start_ms, end_ms, provider, model, project, workspace, member, input_tokens,
               output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens,
               web_search_requests, requests, cost_nanos, line_item, api_key
        FROM provider_buckets WHERE start_ms >= ? AND start_ms < ? ORDER BY start_ms, id
        """,
        (first, last),
    ):
        bid, kind, start, end, provider, model, project, workspace, member, *rest = row
        tokens, requests, cost, line_item, api_key = rest[:6], rest[6], rest[7], rest[8], rest[9]
        yield {
            "kind": str(kind),
            "time": iso_utc(start),
            "end_time": iso_utc(end),
            "source": f"{provider} {'billing' if kind == 'cost' else 'usage'} api",
            "provider": provider,
            "model": model or line_item,
            "project": project or workspace,
            "agent": "",
            "session": "",
            "member": member,
            **dict(zip(FIELDS[10:16], tokens, strict=True)),
            "requests": requests,
            "cost_usd": _usd(cost),
            "basis": _basis(str(provider), str(kind)),
            "id": f"bucket-{bid}" + (f"/{api_key}" if api_key else ""),
        }
