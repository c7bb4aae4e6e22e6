"""Anthropic's Admin API: what the organisation was billed, what it used, and who used Claude Code.

- ``/v1/organizations/cost_report`` (grouped by description and workspace) is the billed truth:
  kind 'cost'. Amounts are decimal strings in CENTS (``"123.45"`` is $1.2345), converted exactly.
  Anthropic notes Priority Tier costs are not in this report.
- ``/v1/organizations/usage_report/messages`` (grouped by model, workspace, API key, service tier
  and context window) is usage: uncached input, cache reads, 5-minute and 1-hour cache writes,
  output and web searches, priced here at standard rates (batch discounts are not applied). The
  context-window grouping is what lets a day's tokens be priced at the right long-context rate.
- ``/v1/organizations/usage_report/claude_code`` (one user or API key per day) is stored under its
  own provider id, :data:`CLAUDE_CODE_PROVIDER`, for attribution only. See
  :func:`fetch_claude_code` for why it is never added to a total.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Generic, TypeVar

import msgspec

from cost_mcp import money
from cost_mcp.errors import ProviderResponseError
from cost_mcp.money import format_usd, from_nanos
from cost_mcp.periods import utc_day
from cost_mcp.pricing import Pricer, Tokens
from cost_mcp.sources.billing import (
    Amount,
    Count,
    Feed,
    Text,
    Window,
    covered,
    day_floor,
    decode,
    gather,
    merge,
    not_usd,
    price_usage,
)
from cost_mcp.sources.paging import Json
from cost_mcp.store.buckets import CLAUDE_CODE_PROVIDER, DAY_MS, OUTSIDE_BILL, Bucket

if TYPE_CHECKING:
    from cost_mcp.sources.http import ProviderClient

PROVIDER = "anthropic"
API_VERSION = "2023-06-01"
KEY_HINT = (
    "an Admin API key, sk-ant-admin…, created by an organization admin in the Claude Console; "
    "workspace keys cannot read usage or cost"
)
COST_PATH = "/v1/organizations/cost_report"
MESSAGES_PATH = "/v1/organizations/usage_report/messages"
CLAUDE_CODE_PATH = "/v1/organizations/usage_report/claude_code"
LIMIT = 31
"""Day buckets per page: the maximum both reports allow."""
CLAUDE_CODE_LIMIT = 1000
CONCURRENCY = 4
_CONTEXT_WINDOWS = {"0-200k": 200_000, "200k-1M": 1_000_000}


def auth_headers(key: str) -> dict[str, str]:
    """Anthropic's admin endpoints take the key in x-api-key, with the API version."""
    return {"x-api-key": key, "anthropic-version": API_VERSION}


# --- the reports' shapes (the fields read), decoded once per page -----------------------------------


class CostResult(msgspec.Struct):
    """One cost_report result: an amount in cents, as a decimal string."""

    amount: Amount
    currency: Text = Text("")
    model: Text = Text("")
    workspace_id: Text = Text("")
    description: Text = Text("")
    service_tier: Text = Text("")


class _CacheCreation(msgspec.Struct):
    ephemeral_5m_input_tokens: Count = Count(0)
    ephemeral_1h_input_tokens: Count = Count(0)


class _ServerToolUse(msgspec.Struct):
    web_search_requests: Count = Count(0)


class UsageResult(msgspec.Struct):
    """One messages usage_report result."""

    uncached_input_tokens: Count = Count(0)
    output_tokens: Count = Count(0)
    cache_read_input_tokens: Count = Count(0)
    cache_creation: _CacheCreation | None = None
    server_tool_use: _ServerToolUse | None = None
    model: Text = Text("")
    workspace_id: Text = Text("")
    api_key_id: Text = Text("")
    service_tier: Text = Text("")
    context_window: Text = Text("")


R = TypeVar("R")


class _Day(msgspec.Struct, Generic[R]):
    starting_at: Text
    results: list[R] | None = None


class _Report(msgspec.Struct, Generic[R]):
    data: list[_Day[R]]


class _Actor(msgspec.Struct):
    type: Text = Text("")
    email_address: Text = Text("")
    api_key_name: Text = Text("")


class _ClaudeCodeTokens(msgspec.Struct):
    input: Count = Count(0)
    output: Count = Count(0)
    cache_read: Count = Count(0)
    cache_creation: Count = Count(0)


class _Estimate(msgspec.Struct):
    amount: Amount
    currency: Text = Text("")


class _ModelUse(msgspec.Struct):
    model: Text = Text("")
    tokens: _ClaudeCodeTokens | None = None
    estimated_cost: _Estimate | None = None


class ClaudeCodeRecord(msgspec.Struct):
    """One actor-day of the Claude Code usage report."""

    actor: _Actor | None = None
    customer_type: Text = Text("")
    model_breakdown: list[_ModelUse] | None = None


class _Records(msgspec.Struct):
    data: list[ClaudeCodeRecord]


def _rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _range(window: Window) -> list[tuple[str, str | int]]:
    return [
        ("starting_at", _rfc3339(window.start_ms)),
        ("ending_at", _rfc3339(window.end_ms)),
        ("bucket_width", "1d"),
        ("limit", LIMIT),
    ]


def day_buckets(page: Json, path: str, shape: type[R]) -> Iterator[tuple[int, list[R]]]:
    """(UTC day start in ms, results as ``shape``) for every bucket of a page, empty days included."""
    for bucket in decode(page, _Report[shape], path).data:  # type: ignore[valid-type]
        try:
            start = datetime.fromisoformat(bucket.starting_at)
        except ValueError:
            raise ProviderResponseError(
                f"unexpected response: starting_at {bucket.starting_at[:40]!r}"
            ) from None
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        yield day_floor(int(start.timestamp() * 1000)), bucket.results or []


# --- cost report ----------------------------------------------------------------------------------


def cost_bucket(result: CostResult, day: int) -> Bucket:
    """One cost_report result as a billed bucket: cents as a decimal string, to exact USD."""
    currency = result.currency or "USD"
    if currency.upper() != "USD":
        raise not_usd(COST_PATH, currency, PROVIDER)
    return Bucket(
        start_ms=day,
        end_ms=day + DAY_MS,
        cost_nanos=money.amount_nanos(result.amount, cents=True),
        model=result.model,
        # null for the default workspace (and when not grouped by workspace)
        workspace=result.workspace_id,
        line_item=result.description,
        service_tier=result.service_tier,
    )


async def fetch_costs(client: ProviderClient, window: Window) -> Feed:
    """Billed amounts per day, description and workspace over ``window``."""
    params = [*_range(window), ("group_by[]", "description"), ("group_by[]", "workspace_id")]
    buckets: list[Bucket] = []
    days: list[int] = []
    async for page in client.paginate(COST_PATH, params):
        for day, results in day_buckets(page, COST_PATH, CostResult):
            days.append(day)
            buckets += [cost_bucket(r, day) for r in results]
    return _feed(PROVIDER, "cost", window, days, buckets, COST_PATH)


# --- messages usage -------------------------------------------------------------------------------


def usage_tokens(result: UsageResult) -> Tokens:
    """A messages usage result's tokens, in the same disjoint kinds as the ledger."""
    creation = result.cache_creation or _CacheCreation()
    tools = result.server_tool_use or _ServerToolUse()
    return Tokens(
        input=result.uncached_input_tokens,
        output=result.output_tokens,
        cache_read=result.cache_read_input_tokens,
        cache_write_5m=creation.ephemeral_5m_input_tokens,
        cache_write_1h=creation.ephemeral_1h_input_tokens,
        web_search_requests=tools.web_search_requests,
    )


def usage_bucket(result: UsageResult, day: int, pricer: Pricer) -> Bucket:
    """One messages usage result, priced. The report has no request count, so a day's tokens are
    spread over the fewest calls its context window allows (see price_usage)."""
    tokens = usage_tokens(result)
    model = result.model
    window = _CONTEXT_WINDOWS.get(result.context_window)
    return Bucket(
        start_ms=day,
        end_ms=day + DAY_MS,
        cost_nanos=price_usage(pricer, tokens, model, PROVIDER, day, max_input_per_call=window),
        model=model,
        workspace=result.workspace_id,
        api_key=result.api_key_id,
        line_item="messages",
        service_tier=result.service_tier,
        input_tokens=tokens.input,
        output_tokens=tokens.output,
        cache_read_tokens=tokens.cache_read,
        cache_write_5m_tokens=tokens.cache_write_5m,
        cache_write_1h_tokens=tokens.cache_write_1h,
        web_search_requests=tokens.web_search_requests,
    )


async def fetch_usage(client: ProviderClient, pricer: Pricer, window: Window) -> Feed:
    """Token usage per day, model, workspace, API key, service tier and context window."""
    params = [
        *_range(window),
        *(
            ("group_by[]", g)
            for g in ("model", "workspace_id", "api_key_id", "service_tier", "context_window")
        ),
    ]
    buckets: list[Bucket] = []
    days: list[int] = []
    async for page in client.paginate(MESSAGES_PATH, params):
        for day, results in day_buckets(page, MESSAGES_PATH, UsageResult):
            days.append(day)
            buckets += [usage_bucket(r, day, pricer) for r in results]
    return _feed(PROVIDER, "usage", window, days, buckets, MESSAGES_PATH)


async def fetch(client: ProviderClient, pricer: Pricer, window: Window) -> list[Feed]:
    """The cost report (billed) and messages usage (estimated); any failure fails both."""
    costs, usage = await gather(
        [partial(fetch_costs, client, window), partial(fetch_usage, client, pricer, window)], limit=2
    )
    tiers = OUTSIDE_BILL[PROVIDER]
    priority = [b for b in usage.buckets if b.service_tier in tiers]
    if priority:
        known = sum(b.cost_nanos or 0 for b in priority)
        note = (
            f"Priority Tier usage {format_usd(from_nanos(known))} (estimated at standard rates"
            + (", some unpriced" if any(b.cost_nanos is None for b in priority) else "")
            + ") is not in cost_report: counted on top of it"
        )
        usage = replace(usage, note=note)
    return [costs, usage]


# --- Claude Code analytics ------------------------------------------------------------------------


def claude_code_member(actor: _Actor | None) -> str:
    """Who a Claude Code record belongs to: the user's email, or the API key's name."""
    a = actor or _Actor()
    if a.type == "api_actor" or (a.api_key_name and not a.email_address):
        return f"api key {a.api_key_name}".strip()
    return a.email_address


def claude_code_buckets(record: ClaudeCodeRecord, day: int) -> list[Bucket]:
    """One actor-day's Claude Code usage, per model, with Anthropic's own estimate in cents."""
    member = claude_code_member(record.actor)
    line_item = f"claude code ({record.customer_type or 'unknown'} customer)"
    buckets: list[Bucket] = []
    for entry in record.model_breakdown or []:
        tokens = entry.tokens or _ClaudeCodeTokens()
        estimate = entry.estimated_cost
        cost = None
        if estimate is not None and (estimate.currency or "USD").upper() == "USD":
            cost = money.amount_nanos(estimate.amount, cents=True)
        buckets.append(
            Bucket(
                start_ms=day,
                end_ms=day + DAY_MS,
                cost_nanos=cost,
                model=entry.model,
                line_item=line_item,
                member=member,
                input_tokens=tokens.input,
                output_tokens=tokens.output,
                cache_read_tokens=tokens.cache_read,
                # The report does not split cache writes by lifetime.
                cache_write_5m_tokens=tokens.cache_creation,
            )
        )
    return buckets


async def fetch_claude_code_day(client: ProviderClient, day: int) -> list[Bucket]:
    """Every actor's Claude Code usage on one UTC day (the report takes one day per request)."""
    params: list[tuple[str, str | int]] = [
        ("starting_at", utc_day(day)),
        ("limit", CLAUDE_CODE_LIMIT),
    ]
    buckets: list[Bucket] = []
    async for page in client.paginate(CLAUDE_CODE_PATH, params):
        for record in decode(page, _Records, CLAUDE_CODE_PATH).data:
            buckets += claude_code_buckets(record, day)
    return buckets


async def fetch_claude_code(client: ProviderClient, _pricer: Pricer, window: Window) -> list[Feed]:
    """Claude Code usage per member and day, stored under :data:`CLAUDE_CODE_PROVIDER`.

    Why a provider id of its own, and why attribution only: a dollar in this report is already
    counted elsewhere. API-billed Claude Code calls are inside the cost report (billed) and the
    messages report (usage), and the same calls are in the local Claude Code logs; subscription
    customers' usage is an API-equivalent value, not spend. Stored under 'anthropic' it would
    either replace the messages usage (same provider and kind) or be added to it; stored under its
    own id and counted, it would be added on top of Anthropic's billed total. So its rows are
    always attribution in get_spend ("who on the team used it"), whatever else covers the day.
    Today's numbers are partial: the report only includes data older than an hour.
    """
    days = window.day_starts()
    found = await gather([partial(fetch_claude_code_day, client, d) for d in days], limit=CONCURRENCY)
    buckets = [b for day_buckets_ in found for b in day_buckets_]
    start, end = covered(window, days, CLAUDE_CODE_PATH)
    return [Feed(CLAUDE_CODE_PROVIDER, "usage", start, end, merge(buckets))]


def _feed(
    provider: str, kind: str, window: Window, days: list[int], buckets: list[Bucket], what: str
) -> Feed:
    start, end = covered(window, days, what)
    inside = [b for b in buckets if start <= b.start_ms < end]
    return Feed(provider, "cost" if kind == "cost" else "usage", start, end, merge(inside))
