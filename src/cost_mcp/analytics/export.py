"""Every counted usage event, provider bucket and seat-fee day of a period, as flat records for CSV
or JSON."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from functools import cache
from typing import Literal

from cost_mcp import tokens
from cost_mcp.analytics import spend, subscriptions
from cost_mcp.config import Settings
from cost_mcp.money import from_nanos, plain_usd
from cost_mcp.periods import Period, iso_utc, local_midnight
from cost_mcp.store import export as store
from cost_mcp.store import rollup
from cost_mcp.store.buckets import ATTRIBUTION_ONLY, DAY_MS
from cost_mcp.store.connection import Conn
from cost_mcp.store.known import data_source

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


def _basis(provider: str, kind: str, set_aside: str | None) -> str:
    if provider in ATTRIBUTION_ONLY or set_aside is not None:
        return "attribution"
    return "billed" if kind == "cost" else "estimated"


def export_records(conn: Conn, settings: Settings, p: Period) -> Iterator[dict[str, str | int]]:
    """Counted usage events (kind 'event'), provider buckets (kind 'cost' or 'usage'), then each
    subscription's share of its fee per day (kind 'subscription', up to today, as get_spend counts).

    Money is an exact decimal string; ``unpriced`` means no known price (never 0). Buckets are selected by
    their UTC date, as get_spend places them. Rows with basis 'attribution' only say who spent: their
    amounts are counted elsewhere (Claude Code analytics; estimates of a day whose bill is its total)
    and must not be added to a total. The other rows add up to get_spend's total exactly.
    """
    rollup.refresh(conn, p.start_ms)  # the period's quarter-hours; older marks wait for their question
    rules = spend.day_rules(conn, settings, p)

    # One answer per provider, day and source: asked per row, 1M calls took 6 s more.
    @cache
    def aside_of(
        kind: Literal["cost", "usage", "event"], provider: str, utc_day: int, source: str, outside: bool
    ) -> str | None:
        return spend.set_aside(
            rules,
            settings,
            kind=kind,
            provider=provider,
            utc_day=utc_day,
            source=source,
            outside_bill=outside,
        )

    for e in store.events(conn, p.start_ms, p.end_ms, settings.cost_mode):
        aside = aside_of("event", e.provider, e.ts_ms // DAY_MS, e.source, False)
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
            "basis": "attribution" if aside is not None else "estimated",
            "id": f"{e.message_id}/{e.request_id}" if e.request_id else e.message_id,
        }
    first, last = p.utc_dates_ms()
    for b in store.buckets(conn, first, last):
        kind: Literal["cost", "usage"] = "cost" if b.kind == "cost" else "usage"
        aside = aside_of(
            kind, b.provider, b.start_ms // DAY_MS, data_source(b.provider, b.kind), b.outside_bill
        )
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
            "basis": _basis(b.provider, b.kind, aside),
            "id": f"bucket-{b.id}" + (f"/{b.api_key}" if b.api_key else ""),
        }
    yield from _seat_fees(conn, p)


def _seat_fees(conn: Conn, p: Period) -> Iterator[dict[str, str | int]]:
    """Each subscription's share of its fee on each day of ``p`` that has come (get_spend counts a
    seat's fee day by day up to today), as one row per subscription and local day."""
    today = datetime.now(p.tz).date()
    for sub in subscriptions.all_subscriptions(conn):
        for day, nanos in subscriptions.daily_nanos(sub, p.first_day, min(p.last_day, today)):
            yield {
                "kind": "subscription",
                "time": _day_start(day, p),
                "end_time": _day_start(day + timedelta(days=1), p),
                "source": "subscription",
                "provider": sub.vendor,
                "model": "",
                "project": "",
                "agent": "",
                "session": "",
                "member": sub.member or "",
                **dict.fromkeys(tokens.COLUMNS, 0),
                "requests": 0,
                "cost_usd": _usd(nanos),
                "basis": "subscription",
                "id": f"subscription-{sub.name}/{day.isoformat()}",
            }


def _day_start(day: date, p: Period) -> str:
    return iso_utc(int(local_midnight(day, p.tz).timestamp() * 1000))
