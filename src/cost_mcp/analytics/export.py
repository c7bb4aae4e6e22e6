"""Every counted usage event and provider bucket of a period, as flat records for CSV or JSON."""

from __future__ import annotations

from collections.abc import Iterator

from cost_mcp import tokens
from cost_mcp.config import Settings
from cost_mcp.money import from_nanos, plain_usd
from cost_mcp.periods import Period, iso_utc
from cost_mcp.store import export as store
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
    *tokens.COLUMNS,
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
    for e in store.events(conn, p.start_ms, p.end_ms, settings.cost_mode):
        yield {
            "kind": "event",
            "time": iso_utc(e.ts_ms),
            "end_time": "",
            "source": e.source,
            "provider": e.provider,
            "model": e.model,
            "project": e.project,
            "agent": e.agent,
            "session": e.session_id,
            "member": e.member,
            **dict(zip(tokens.COLUMNS, e.tokens, strict=True)),
            "requests": 1,
            "cost_usd": _usd(e.cost_nanos),
            "basis": "estimated",
            "id": f"{e.message_id}/{e.request_id}" if e.request_id else e.message_id,
        }
    first, last = p.utc_dates_ms()
    for b in store.buckets(conn, first, last):
        yield {
            "kind": b.kind,
            "time": iso_utc(b.start_ms),
            "end_time": iso_utc(b.end_ms),
            "source": f"{b.provider} {'billing' if b.kind == 'cost' else 'usage'} api",
            "provider": b.provider,
            "model": b.model or b.line_item,
            "project": b.project or b.workspace,
            "agent": "",
            "session": "",
            "member": b.member,
            **dict(zip(tokens.COLUMNS, b.tokens, strict=True)),
            "requests": b.requests,
            "cost_usd": _usd(b.cost_nanos),
            "basis": _basis(b.provider, b.kind),
            "id": f"bucket-{b.id}" + (f"/{b.api_key}" if b.api_key else ""),
        }
