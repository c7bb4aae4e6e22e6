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

import anyio

from cost_mcp.errors import ProviderResponseError
from cost_mcp.money import format_usd, from_nanos
from cost_mcp.pricing import Pricer
from cost_mcp.sources.billing import (
    Feed,
    Window,
    amount_nanos,
    as_dict,
    as_int,
    as_list,
    as_str,
    day_floor,
    merge,
)
from cost_mcp.sources.http import MAX_PAGES, Json, ProviderClient
from cost_mcp.store.buckets import DAY_MS, Bucket

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


def event_member(event: Json) -> str:
    """Who an event belongs to: the user's email, else the service account that made it."""
    email = as_str(event.get("userEmail")).strip()
    if email:
        return email
    account = as_str(event.get("serviceAccountName") or event.get("serviceAccountId")).strip()
    return f"service account {account}" if account else ""


def event_bucket(event: Json) -> Bucket:
    """One usage event as billed: ``chargedCents`` to exact nano-USD on the event's UTC day.

    A chargeable event without ``chargedCents`` is an error, not $0 (an older response shape would
    otherwise read as free use). ``tokenUsage`` is absent when the call was not token-based.
    """
    at = as_int(event.get("timestamp"))  # epoch ms, sent as a string
    if at <= 0:
        raise ProviderResponseError(f"{EVENTS_PATH}: an event has no timestamp")
    day = day_floor(at)
    kind = as_str(event.get("kind")) or "usage"
    if event.get("isChargeable") is False:
        cost, line_item = 0, f"{kind} (not charged)"
    else:
        cost, line_item = (
            amount_nanos(event.get("chargedCents"), f"{EVENTS_PATH} chargedCents", cents=True),
            kind,
        )
    tokens = as_dict(event.get("tokenUsage") or {}, f"{EVENTS_PATH} tokenUsage")
    return Bucket(
        start_ms=day,
        end_ms=day + DAY_MS,
        cost_nanos=cost,
        model=as_str(event.get("model")),
        line_item=line_item,
        member=event_member(event),
        requests=1,
        input_tokens=as_int(tokens.get("inputTokens")),
        output_tokens=as_int(tokens.get("outputTokens")),
        cache_read_tokens=as_int(tokens.get("cacheReadTokens")),
        cache_write_5m_tokens=as_int(tokens.get("cacheWriteTokens")),
    )


async def events(client: ProviderClient, pacer: Pacer, start_ms: int, end_ms: int) -> AsyncIterator[Json]:
    """Every usage event in ``[start_ms, end_ms]`` (both inclusive), page after page.

    Follows ``pagination.hasNextPage`` (or ``numPages`` when the flag is missing) and stops with
    an error after :data:`MAX_PAGES` pages rather than loop on an API that always says "more".
    """
    for page in range(1, MAX_PAGES + 1):
        body = await pacer.post(
            client,
            EVENTS_PATH,
            {"startDate": start_ms, "endDate": end_ms, "page": page, "pageSize": PAGE_SIZE},
        )
        for raw in as_list(body.get("usageEvents") or [], f"{EVENTS_PATH} usageEvents"):
            yield as_dict(raw, f"a {EVENTS_PATH} event")
        pagination = as_dict(body.get("pagination") or {}, f"{EVENTS_PATH} pagination")
        more = pagination.get("hasNextPage")
        if more is None:
            more = page < as_int(pagination.get("numPages"))
        if more is not True:
            return
    raise ProviderResponseError(f"{EVENTS_PATH} still had more after {MAX_PAGES} pages; stopped")


# --- team spend of the current cycle ------------------------------------------------------------


async def team_spend(client: ProviderClient, pacer: Pacer) -> str:
    """The current billing cycle's spend over all members, as a note (cents to USD, exact)."""
    on_demand = overall = members = 0
    cycle_start: int | None = None
    for page in range(1, MAX_PAGES + 1):
        body = await pacer.post(client, SPEND_PATH, {"page": page})
        for raw in as_list(body.get("teamMemberSpend") or [], f"{SPEND_PATH} teamMemberSpend"):
            member = as_dict(raw, f"a {SPEND_PATH} member")
            members += 1
            on_demand += amount_nanos(member.get("spendCents") or 0, f"{SPEND_PATH} spendCents", cents=True)
            total = member.get("overallSpendCents")
            overall += amount_nanos(
                total if total is not None else member.get("spendCents") or 0,
                f"{SPEND_PATH} overallSpendCents",
                cents=True,
            )
        if body.get("subscriptionCycleStart") is not None:
            cycle_start = as_int(body.get("subscriptionCycleStart"))
        if page >= as_int(body.get("totalPages") or 1):
            break
    else:
        raise ProviderResponseError(f"{SPEND_PATH} still had more after {MAX_PAGES} pages; stopped")
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
