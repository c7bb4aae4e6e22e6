"""OpenRouter: what the account was billed per day and model, today so far, and its balance.

- ``/api/v1/activity`` (management key) is the billed truth for the last 30 *completed* UTC days:
  one row per day, model and serving endpoint, ``usage`` in US dollars (credits spent). It becomes
  cost buckets per day, model and upstream provider, and, from the same rows' token counts, usage
  buckets priced with genai-prices under provider ``openrouter`` (model ids such as
  ``anthropic/claude-sonnet-4.5``): estimates that only attribute under the billed days.
- Today is never in activity. It is filled from the day's usage that keys report (``usage_daily``,
  "current UTC day", USD): summed over every key of every workspace of the account
  (``/api/v1/workspaces``, then ``/api/v1/keys?workspace_id=`` for each: without it /keys lists the
  default workspace's keys only) with a management key, or the configured key's own
  (``/api/v1/key``) otherwise. It is stored as ONE
  cost bucket for today, line item :data:`TODAY_LINE_ITEM`, without a model. See
  :func:`fetch` for how that partial row is replaced once activity reports the day.
- ``/api/v1/key``'s limit and remaining, and ``/api/v1/credits``' balance (management key), are not
  spend: they go in the feed's note, which the sync keeps in the source's detail line.
- BYOK inference (``byok_usage_inference``) is paid to the upstream provider with the user's own
  key, not to OpenRouter; that provider's own billing counts it, so it is not added here (the note
  says how much there was).

With an inference key instead of a management key, /activity and /credits answer 403: the sync then
keeps what /key gives (today's spend of that one key, its limit) and says so in the note, rather
than failing or pretending to be complete.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import msgspec

from cost_mcp.errors import ProviderAuthError, ProviderResponseError
from cost_mcp.money import amount_nanos, format_usd, from_nanos
from cost_mcp.periods import utc_day
from cost_mcp.pricing import Pricer, Tokens
from cost_mcp.sources.billing import (
    Amount,
    Count,
    Feed,
    Text,
    Window,
    day_ms,
    decode,
    merge,
    price_usage,
)
from cost_mcp.sources.paging import Json, follow_pages
from cost_mcp.store.buckets import DAY_MS, Bucket

if TYPE_CHECKING:
    from cost_mcp.sources.http import ProviderClient

PROVIDER = "openrouter"
MANAGEMENT_KEYS_URL = "openrouter.ai/settings/management-keys"
KEY_HINT = (
    f"a management key from {MANAGEMENT_KEYS_URL} reads the whole account's history; "
    "an inference key only gives today's spend of that key"
)
KEY_PATH = "/api/v1/key"
KEYS_PATH = "/api/v1/keys"
WORKSPACES_PATH = "/api/v1/workspaces"
WORKSPACES_PAGE = 100
"""/workspaces' maximum ``limit``."""
ACTIVITY_PATH = "/api/v1/activity"
CREDITS_PATH = "/api/v1/credits"
ACTIVITY_DAYS = 30
"""Activity covers the last 30 completed UTC days; older days cannot be fetched again."""
TODAY_LINE_ITEM = "today so far, from /key (partial)"
INFERENCE_KEY_NOTE = (
    "OPENROUTER_API_KEY is not a management key: /activity and /credits need one, so only today's "
    "spend of this key was synced (no per-day history, no models, no balance)"
)


def auth_headers(key: str) -> dict[str, str]:
    """OpenRouter takes every key, inference or management, as a bearer token."""
    return {"Authorization": f"Bearer {key}"}


# --- the answers' shapes (the fields read) ----------------------------------------------------------


class _KeyData(msgspec.Struct):
    usage_daily: Amount | None = None
    is_management_key: bool | None = None
    is_provisioning_key: bool | None = None
    limit: Amount | None = None
    limit_reset: Text = Text("")
    limit_remaining: Amount | None = None


class _Key(msgspec.Struct):
    data: _KeyData


class _Workspace(msgspec.Struct):
    id: Text = Text("")


class _Workspaces(msgspec.Struct):
    data: list[_Workspace]
    total_count: Count | None = None


class _ApiKey(msgspec.Struct):
    usage_daily: Amount
    hash: Text = Text("")
    name: Text = Text("")
    label: Text = Text("")
    created_at: Text = Text("")
    workspace_id: Text = Text("")


class _Keys(msgspec.Struct):
    data: list[_ApiKey]


class _CreditsData(msgspec.Struct):
    total_credits: Amount
    total_usage: Amount


class _Credits(msgspec.Struct):
    data: _CreditsData


class ActivityRow(msgspec.Struct):
    """One /activity row: a day, model and serving endpoint, ``usage`` in US dollars."""

    usage: Amount
    date: Text = Text("")
    model: Text = Text("")
    provider_name: Text = Text("")
    byok_usage_inference: Amount | None = None
    requests: Count = Count(0)
    prompt_tokens: Count = Count(0)
    completion_tokens: Count = Count(0)


class _Activity(msgspec.Struct):
    data: list[ActivityRow]


# --- /key, /keys, /credits: today so far, limits and balance ------------------------------------


@dataclass(frozen=True)
class KeyInfo:
    """What /key says about the configured key."""

    usage_daily_nanos: int | None
    """The key's own spend today; None when /key does not say (only needed for an inference key)."""
    management: bool | None
    """True or False when /key says; None when it carries neither flag (then /activity decides)."""
    limit_note: str
    """The key's credit limit and what remains of it; '' when the key has no limit."""


def key_info(body: Json) -> KeyInfo:
    """The configured key's usage today, whether it is a management key, and its limit as a note."""
    data = decode(body, _Key, KEY_PATH).data
    flags = [f for f in (data.is_management_key, data.is_provisioning_key) if f is not None]
    limit_note = ""
    if data.limit is not None:
        limit_note = f"key limit {format_usd(from_nanos(amount_nanos(data.limit)))}"
        if data.limit_reset:
            limit_note += f" (resets {data.limit_reset})"
        if data.limit_remaining is not None:
            limit_note += f", {format_usd(from_nanos(amount_nanos(data.limit_remaining)))} remaining"
    daily = data.usage_daily
    return KeyInfo(
        usage_daily_nanos=None if daily is None else amount_nanos(daily),
        management=any(flags) if flags else None,
        limit_note=limit_note,
    )


async def workspace_ids(client: ProviderClient) -> list[str]:
    """Every workspace of the account (management key), paged by ``offset``/``limit`` up to
    ``total_count``.

    OpenRouter API reference, "List workspaces" (openrouter.ai/docs/api/api-reference/workspaces/
    list-workspaces): ``GET /workspaces``, ``offset`` and ``limit`` (max 100), answer
    ``{"data": [{"id": …}], "total_count": n}``.
    """

    async def get(offset: int) -> _Workspaces:
        params: list[tuple[str, str | int]] = [("offset", offset), ("limit", WORKSPACES_PAGE)]
        return decode(await client.get_json(WORKSPACES_PATH, params), _Workspaces, WORKSPACES_PATH)

    def after(page: _Workspaces, offset: int) -> int | None:
        following = offset + len(page.data)
        done = not page.data or (page.total_count is not None and following >= page.total_count)
        return None if done else following

    pages = follow_pages(get, after, 0, what=WORKSPACES_PATH, position="offset")
    return [w.id async for page in pages for w in page.data if w.id]


async def account_usage_today(client: ProviderClient) -> int:
    """Today's spend of the whole account, in nano-USD: ``usage_daily`` summed over every key of
    every workspace, disabled ones included (a key disabled this afternoon still spent this morning).

    ``/keys`` lists the default workspace's keys unless given a ``workspace_id`` (API reference,
    "List API keys": "Filter API keys by workspace ID. By default, keys in the default workspace are
    returned."), so the default listing and each workspace's are read; a key found in two of them
    (the default workspace is listed too) counts once.
    """
    counted: set[str] = set()
    total = 0
    for workspace in [None, *await workspace_ids(client)]:
        for identity, nanos in await _workspace_keys(client, workspace):
            if identity in counted:
                continue
            counted.add(identity)
            total += nanos
    return total


async def _workspace_keys(client: ProviderClient, workspace: str | None) -> list[tuple[str, int]]:
    """(identity, usage_daily nano-USD) of every key of one workspace (None: the default listing).

    /keys pages by ``offset`` with no "more" flag, so pages are read until one comes back empty. A
    key hash seen twice means the offset was not honoured: summing on would count keys twice.
    """

    async def get(offset: int) -> tuple[int, _Keys]:
        params: list[tuple[str, str | int]] = [("include_disabled", "true"), ("offset", offset)]
        if workspace is not None:
            params.append(("workspace_id", workspace))
        return offset, decode(await client.get_json(KEYS_PATH, params), _Keys, KEYS_PATH)

    def after(page: tuple[int, _Keys], offset: int) -> int | None:
        return offset + len(page[1].data) if page[1].data else None

    keys_found: list[tuple[str, int]] = []
    seen: set[str] = set()
    async for offset, page in follow_pages(get, after, 0, what=KEYS_PATH, position="offset"):
        for key in page.data:
            if key.hash and key.hash in seen:
                raise ProviderResponseError(
                    f"{KEYS_PATH} listed key {key.hash[:16]!r} twice (offset {offset}); stopped rather "
                    "than count it twice"
                )
            seen.add(key.hash)
            # A key without a hash (the spec requires one) is told apart by what else it says.
            identity = key.hash or msgspec.json.encode(key, enc_hook=str).decode()
            keys_found.append((identity, amount_nanos(key.usage_daily)))
    return keys_found


def credits_note(body: Json) -> str:
    """The account's balance: credits bought minus credits used (USD)."""
    data = decode(body, _Credits, CREDITS_PATH).data
    bought = amount_nanos(data.total_credits)
    used = amount_nanos(data.total_usage)
    return (
        f"balance {format_usd(from_nanos(bought - used))} "
        f"({format_usd(from_nanos(bought))} credits, {format_usd(from_nanos(used))} used)"
    )


# --- /activity: billed per day and model ----------------------------------------------------------


def activity_day(item: ActivityRow) -> int:
    """The UTC day of an activity row (``date`` is YYYY-MM-DD), as epoch ms."""
    try:
        return day_ms(date.fromisoformat(item.date[:10]))
    except ValueError:
        raise ProviderResponseError(f"unexpected response: an activity date {item.date[:40]!r}") from None


def activity_tokens(item: ActivityRow) -> Tokens:
    """An activity row's tokens. ``completion_tokens`` already includes ``reasoning_tokens`` (as in
    the OpenAI convention OpenRouter follows), so reasoning is not added again. Activity does not
    split cached input out, so cache reads are priced as input: an estimate on the high side."""
    return Tokens(input=item.prompt_tokens, output=item.completion_tokens)


def cost_bucket(item: ActivityRow) -> Bucket:
    """One activity row as billed: ``usage`` dollars, per day, model and upstream provider."""
    day = activity_day(item)
    tokens = activity_tokens(item)
    return Bucket(
        start_ms=day,
        end_ms=day + DAY_MS,
        cost_nanos=amount_nanos(item.usage),
        model=item.model,
        line_item=item.provider_name,
        requests=item.requests,
        input_tokens=tokens.input,
        output_tokens=tokens.output,
    )


def usage_bucket(item: ActivityRow, pricer: Pricer) -> Bucket:
    """The same row's tokens priced at list price under provider ``openrouter`` (estimated)."""
    day = activity_day(item)
    tokens = activity_tokens(item)
    return Bucket(
        start_ms=day,
        end_ms=day + DAY_MS,
        cost_nanos=price_usage(pricer, tokens, item.model, PROVIDER, day, requests=item.requests),
        model=item.model,
        line_item=item.provider_name,
        requests=item.requests,
        input_tokens=tokens.input,
        output_tokens=tokens.output,
    )


def activity_span(window: Window, items: Iterable[ActivityRow]) -> tuple[int, int]:
    """The days activity vouches for within ``window``: the last 30 completed UTC days, but
    yesterday only once activity lists it.

    Activity only lists days with use, so it cannot say "no spend yesterday" apart from "not
    processed yet" just after midnight. Until a row for yesterday arrives, yesterday is left out
    and keeps the partial /key row the last sync of that day wrote; a day older than that is
    covered either way (a day without rows then really had no spend).
    """
    today = window.end_ms - DAY_MS
    yesterday = today - DAY_MS
    start = max(window.start_ms, today - ACTIVITY_DAYS * DAY_MS)
    end = today if any(activity_day(i) == yesterday for i in items) else yesterday
    return (start, end) if end > start else (window.start_ms, window.start_ms)


async def fetch_activity(client: ProviderClient) -> list[ActivityRow] | None:
    """Every activity row of the last 30 completed days (one request: no ``date`` means all of
    them), or None when the key may not read activity (HTTP 403: not a management key)."""
    try:
        body = await client.get_json(ACTIVITY_PATH)
    except ProviderAuthError as exc:
        if exc.status == 403:
            return None
        raise
    return decode(body, _Activity, ACTIVITY_PATH).data


# --- the source -----------------------------------------------------------------------------------


async def fetch(client: ProviderClient, pricer: Pricer, window: Window) -> list[Feed]:
    """Billed days from activity, today so far from the keys' daily usage, and the estimate of
    activity's tokens; the last day of ``window`` is today (the sync always fetches through today).

    Today's row and how it is replaced: today is written as one cost bucket,
    :data:`TODAY_LINE_ITEM`, replacing the day's cost buckets on every sync (each sync writes the
    latest usage_daily). After midnight, once /activity lists that day, the next sync's activity
    feed covers it and replaces the whole day, partial row included, with activity's per-model
    rows; until then it is left alone (see :func:`activity_span`). With an inference key it is
    never replaced: each day keeps the last partial figure synced that day.
    """
    today = window.end_ms - DAY_MS
    info = key_info(await client.get_json(KEY_PATH))
    items: list[ActivityRow] | None = None
    if info.management is not False:
        items = await fetch_activity(client)
    notes: list[str] = []
    feeds: list[Feed] = []
    if items is None:
        notes.append(INFERENCE_KEY_NOTE)
        notes.append(info.limit_note or "the key has no credit limit")
        if info.usage_daily_nanos is None:
            raise ProviderResponseError(f"{KEY_PATH} did not report usage_daily, today's spend of the key")
        today_nanos = info.usage_daily_nanos
    else:
        today_nanos = await account_usage_today(client)
        notes.append(credits_note(await client.get_json(CREDITS_PATH)))
        if info.limit_note:
            notes.append(info.limit_note)
        start, end = activity_span(window, items)
        inside = [i for i in items if start <= activity_day(i) < end]
        feeds.append(Feed(PROVIDER, "cost", start, end, merge(cost_bucket(i) for i in inside)))
        feeds.append(Feed(PROVIDER, "usage", start, end, merge(usage_bucket(i, pricer) for i in inside)))
        byok = sum(amount_nanos(i.byok_usage_inference or 0) for i in inside)
        if byok:
            notes.append(
                f"BYOK inference {format_usd(from_nanos(byok))} was billed by the upstream providers, "
                "not counted here"
            )
    # Nothing spent yet today is a day listed without rows (as the other billing reports list an
    # empty day), not a $0.00 row of no model: it never hides local estimates.
    partial_today = (
        (Bucket(start_ms=today, end_ms=today + DAY_MS, cost_nanos=today_nanos, line_item=TODAY_LINE_ITEM),)
        if today_nanos
        else ()
    )
    when = utc_day(today)
    notes.insert(0, f"today ({when}) so far {format_usd(from_nanos(today_nanos))}")
    feeds.append(Feed(PROVIDER, "cost", today, today + DAY_MS, partial_today, note="; ".join(notes)))
    return feeds
