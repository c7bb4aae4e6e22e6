"""Cursor's Admin API: what each team member was charged, per day and model, and the cycle's spend.

- ``POST /teams/filtered-usage-events`` is the billed truth: one event per request with
  ``chargedCents`` (model cost plus Cursor's token fee; Cursor says summing it reconciles with
  /teams/spend), a number of cents with fractions. Events become cost buckets per UTC day, member
  (the user's email), model and kind (``Usage-based``, ``Included in Business``...). An event
  Cursor marks ``isChargeable: false`` is kept for its tokens and requests at $0 charged: included
  usage is paid for by the seat, which is a subscription (counted once, as such).
- ``POST /teams/spend`` gives the current billing cycle's spend per member: summed into the
  source's note, not stored as spend (it overlaps the events).

Ranges are epoch milliseconds and BOTH bounds are inclusive, at most 30 days a request: a window
is asked for in 30-day pieces ``[start, next_start - 1]``, so the millisecond at a boundary
belongs to one piece only. Auth is HTTP Basic with the key as the user name and an empty password.

Rate limits (Cursor's docs): filtered-usage-events 60 requests a minute per team; 20 a minute for
"most" admin endpoints (used for /teams/spend, whose own limit is not documented). :class:`Pacer`
keeps this process under both; a 429 is still retried after its Retry-After by the shared policy
(another process or tool of the team may be using the same budget). Cursor aggregates usage hourly
and asks to be polled at most once an hour: :data:`MIN_TTL_SECONDS` keeps automatic refreshes to
that, while an explicit sync still runs when asked.
"""

from __future__ import annotations

import base64
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import anyio
import msgspec

from cost_mcp.errors import ProviderResponseError
from cost_mcp.money import amount_nanos, format_usd, from_nanos
from cost_mcp.pricing import Pricer
from cost_mcp.sources.billing import Amount, Count, Feed, Text, Window, day_floor, decode, merge
from cost_mcp.sources.paging import MAX_PAGES, Json, follow_pages
from cost_mcp.store.buckets import DAY_MS, Bucket

if TYPE_CHECKING:
    from cost_mcp.sources.http import ProviderClient

PROVIDER = "cursor"
KEY_HINT = (
    "an Admin API key, key_…, created by a team admin at cursor.com/dashboard → Settings → Advanced → "
    "Admin API Keys (Enterprise teams)"
)
EVENTS_PATH = "/teams/filtered-usage-events"
SPEND_PATH = "/teams/spend"
PAGE_SIZE = 1000
"""Events a page: the documented maximum (the default is 100)."""
WINDOW_DAYS = 30
"""The longest range one request may ask for."""
RATE_LIMITS: dict[str, int] = {EVENTS_PATH: 60, SPEND_PATH: 20}
"""Requests per :data:`RATE_PERIOD_SECONDS` per team, per path."""
DEFAULT_RATE_LIMIT = 20
RATE_PERIOD_SECONDS = 60.0
MIN_TTL_SECONDS = 3600
"""Cursor: "Data is aggregated at the hourly level - we recommend polling this endpoint at most
once per hour"."""


def auth_headers(key: str) -> dict[str, str]:
    """HTTP Basic: the key is the user name, the password is empty (``curl -u KEY:``)."""
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode("ascii")}


# --- the answers' shapes (the fields read) ----------------------------------------------------------


class _TokenUsage(msgspec.Struct, rename="camel"):
    input_tokens: Count = Count(0)
    output_tokens: Count = Count(0)
    cache_read_tokens: Count = Count(0)
    cache_write_tokens: Count = Count(0)


class UsageEvent(msgspec.Struct, rename="camel"):
    """One filtered-usage-events event: ``timestamp`` is epoch ms sent as a string."""

    timestamp: Count = Count(0)
    kind: Text = Text("")
    model: Text = Text("")
    is_chargeable: bool | None = None
    charged_cents: Amount | None = None
    token_usage: _TokenUsage | None = None
    user_email: Text = Text("")
    service_account_name: Text = Text("")
    service_account_id: Text = Text("")


class _Pagination(msgspec.Struct, rename="camel"):
    has_next_page: bool | None = None
    num_pages: Count = Count(0)


class _Events(msgspec.Struct, rename="camel"):
    usage_events: list[UsageEvent] | None = None
    pagination: _Pagination | None = None


class _MemberSpend(msgspec.Struct, rename="camel"):
    spend_cents: Amount | None = None
    overall_spend_cents: Amount | None = None


class _Spend(msgspec.Struct, rename="camel"):
    team_member_spend: list[_MemberSpend] | None = None
    subscription_cycle_start: Count | None = None
    total_pages: Count | None = None


class Pacer:
    """Keeps requests to each path within its documented per-minute limit, in this process: the
    n-th request waits until the (n - limit)-th is a whole period old. Small syncs never wait; a
    long backfill slows down to the limit instead of collecting 429s."""

    def __init__(self, limits: Mapping[str, int] | None = None, period: float | None = None) -> None:
        self.limits = dict(RATE_LIMITS if limits is None else limits)
        self.period = RATE_PERIOD_SECONDS if period is None else period
        self._sent: dict[str, deque[float]] = defaultdict(deque)

    async def wait(self, path: str) -> None:
        """Return when one more request to ``path`` stays within its limit; count it as sent."""
        limit = self.limits.get(path, DEFAULT_RATE_LIMIT)
        sent = self._sent[path]
        while len(sent) >= limit:
            wait = sent[0] + self.period - time.monotonic()
            if wait <= 0:
                sent.popleft()
            else:
                await anyio.sleep(wait)
        sent.append(time.monotonic())

    async def post(self, client: ProviderClient, path: str, body: Mapping[str, object]) -> Json:
        """POST through ``client`` once the limit allows it."""
        await self.wait(path)
        return await client.post_json(path, body)


def pieces(window: Window) -> list[tuple[int, int]]:
    """``window`` as inclusive [startDate, endDate] ranges of at most 30 days, in epoch ms, that
    neither overlap nor leave a gap: each ends on the last millisecond before the next begins."""
    step = WINDOW_DAYS * DAY_MS
    return [
        (start, min(start + step, window.end_ms) - 1) for start in range(window.start_ms, window.end_ms, step)
    ]


# --- usage events -------------------------------------------------------------------------------


def event_member(event: UsageEvent) -> str:
    """Who an event belongs to: the user's email, else the service account that made it."""
    email = event.user_email.strip()
    if email:
        return email
    account = (event.service_account_name or event.service_account_id).strip()
    return f"service account {account}" if account else ""


def event_bucket(event: UsageEvent) -> Bucket:
    """One usage event as billed: ``chargedCents`` to exact nano-USD on the event's UTC day.

    A chargeable event without ``chargedCents`` is an error, not $0 (an older response shape would
    otherwise read as free use). ``tokenUsage`` is absent when the call was not token-based.
    """
    if event.timestamp <= 0:
        raise ProviderResponseError(f"{EVENTS_PATH}: an event has no timestamp")
    day = day_floor(event.timestamp)
    kind = event.kind or "usage"
    if event.is_chargeable is False:
        cost, line_item = 0, f"{kind} (not charged)"
    elif event.charged_cents is None:
        raise ProviderResponseError(f"{EVENTS_PATH} chargedCents is not an amount: None")
    else:
        cost, line_item = amount_nanos(event.charged_cents, cents=True), kind
    tokens = event.token_usage or _TokenUsage()
    return Bucket(
        start_ms=day,
        end_ms=day + DAY_MS,
        cost_nanos=cost,
        model=event.model,
        line_item=line_item,
        member=event_member(event),
        requests=1,
        input_tokens=tokens.input_tokens,
        output_tokens=tokens.output_tokens,
        cache_read_tokens=tokens.cache_read_tokens,
        cache_write_5m_tokens=tokens.cache_write_tokens,
    )


async def events(
    client: ProviderClient, pacer: Pacer, start_ms: int, end_ms: int
) -> AsyncIterator[UsageEvent]:
    """Every usage event in ``[start_ms, end_ms]`` (both inclusive), page after page.

    Follows ``pagination.hasNextPage`` (or ``numPages`` when the flag is missing) through
    :func:`follow_pages`, which stops with an error after :data:`MAX_PAGES` pages rather than loop
    on an API that always says "more".
    """

    async def get(page: int) -> _Events:
        body = {"startDate": start_ms, "endDate": end_ms, "page": page, "pageSize": PAGE_SIZE}
        return decode(await pacer.post(client, EVENTS_PATH, body), _Events, EVENTS_PATH)

    def after(body: _Events, page: int) -> int | None:
        pagination = body.pagination or _Pagination()
        more = pagination.has_next_page
        if more is None:
            more = page < pagination.num_pages
        return page + 1 if more else None

    async for body in follow_pages(get, after, 1, what=EVENTS_PATH, max_pages=MAX_PAGES):
        for event in body.usage_events or []:
            yield event


# --- team spend of the current cycle ------------------------------------------------------------


async def team_spend(client: ProviderClient, pacer: Pacer) -> str:
    """The current billing cycle's spend over all members, as a note (cents to USD, exact)."""
    on_demand = overall = members = 0
    cycle_start: int | None = None

    async def get(page: int) -> _Spend:
        return decode(await pacer.post(client, SPEND_PATH, {"page": page}), _Spend, SPEND_PATH)

    def after(body: _Spend, page: int) -> int | None:
        return page + 1 if page < (body.total_pages or 1) else None

    async for body in follow_pages(get, after, 1, what=SPEND_PATH, max_pages=MAX_PAGES):
        for member in body.team_member_spend or []:
            members += 1
            spent = member.spend_cents or 0
            on_demand += amount_nanos(spent, cents=True)
            total = member.overall_spend_cents
            overall += amount_nanos(total if total is not None else spent, cents=True)
        if body.subscription_cycle_start is not None:
            cycle_start = body.subscription_cycle_start
    since = (
        f" (since {datetime.fromtimestamp(cycle_start / 1000, UTC).date().isoformat()})"
        if cycle_start
        else ""
    )
    return (
        f"team spend this cycle{since}: {format_usd(from_nanos(on_demand))} on-demand, "
        f"{format_usd(from_nanos(overall))} including included usage, over {members} member(s)"
    )


# --- the source -----------------------------------------------------------------------------------


async def fetch(client: ProviderClient, _pricer: Pricer, window: Window) -> list[Feed]:
    """Charged amounts per day, member, model and kind over ``window``, and the cycle's spend.

    Every day of the window is covered: events are only listed for days with use, and an answer
    for a range vouches for all of it (today up to the last hourly aggregation; the next sync
    replaces it). Requests are made one after another, paced by :class:`Pacer`.
    """
    pacer = Pacer()
    buckets: list[Bucket] = []
    for start, end in pieces(window):
        async for event in events(client, pacer, start, end):
            bucket = event_bucket(event)
            # An event outside what was asked would land on a day this sync does not replace.
            if window.start_ms <= bucket.start_ms < window.end_ms:
                buckets.append(bucket)
    note = await team_spend(client, pacer)
    return [Feed(PROVIDER, "cost", window.start_ms, window.end_ms, merge(buckets), note=note)]
