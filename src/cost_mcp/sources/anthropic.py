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

from cost_mcp.errors import ProviderResponseError
from cost_mcp.money import format_usd, from_nanos
from cost_mcp.pricing import Pricer, Tokens
from cost_mcp.sources.billing import (
    Feed,
    Window,
    amount_nanos,
    as_dict,
    as_int,
    as_list,
    as_str,
    covered,
    day_floor,
    gather,
    merge,
    price_usage,
)
from cost_mcp.sources.http import Json, ProviderClient
from cost_mcp.store.buckets import CLAUDE_CODE_PROVIDER, DAY_MS, OUTSIDE_BILL, Bucket

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


def _rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _range(window: Window) -> list[tuple[str, str | int]]:
    return [
        ("starting_at", _rfc3339(window.start_ms)),
        ("ending_at", _rfc3339(window.end_ms)),
        ("bucket_width", "1d"),
        ("limit", LIMIT),
    ]


def day_buckets(page: Json, path: str) -> Iterator[tuple[int, list[Json]]]:
    """(UTC day start in ms, results) for every bucket of a page, empty days included."""
    for raw in as_list(page.get("data"), f"{path} data"):
        bucket = as_dict(raw, f"a {path} bucket")
        starting_at = bucket.get("starting_at")
        if not isinstance(starting_at, str):
            raise ProviderResponseError(f"unexpected response: a {path} bucket has no starting_at")
        try:
            start = datetime.fromisoformat(starting_at)
        except ValueError:
            raise ProviderResponseError(f"unexpected response: starting_at {starting_at[:40]!r}") from None
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        day = day_floor(int(start.timestamp() * 1000))
        results = as_list(bucket.get("results") or [], f"a {path} bucket's results")
        yield day, [as_dict(r, f"a {path} result") for r in results]


# --- cost report ----------------------------------------------------------------------------------


def cost_bucket(result: Json, day: int) -> Bucket:
    """One cost_report result as a billed bucket: cents as a decimal string, to exact USD."""
    currency = str(result.get("currency") or "USD")
    if currency.upper() != "USD":
        raise ProviderResponseError(f"{COST_PATH} reported an amount in {currency!r}; only USD is supported")
    return Bucket(
        start_ms=day,
        end_ms=day + DAY_MS,
        cost_nanos=amount_nanos(result.get("amount"), f"{COST_PATH} amount", cents=True),
        model=as_str(result.get("model")),
        # null for the default workspace (and when not grouped by workspace)
        workspace=as_str(result.get("workspace_id")),
        line_item=as_str(result.get("description")),
        service_tier=as_str(result.get("service_tier")),
    )


async def fetch_costs(client: ProviderClient, window: Window) -> Feed:
    """Billed amounts per day, description and workspace over ``window``."""
    params = [*_range(window), ("group_by[]", "description"), ("group_by[]", "workspace_id")]
    buckets: list[Bucket] = []
    days: list[int] = []
    async for page in client.paginate(COST_PATH, params):
        for day, results in day_buckets(page, COST_PATH):
            days.append(day)
            buckets += [cost_bucket(r, day) for r in results]
    return _feed(PROVIDER, "cost", window, days, buckets)


# --- messages usage -------------------------------------------------------------------------------


def usage_tokens(result: Json) -> Tokens:
    """A messages usage result's tokens, in the same disjoint kinds as the ledger."""
    creation = result.get("cache_creation") or {}
    tools = result.get("server_tool_use") or {}
    creation = as_dict(creation, "cache_creation")
    tools = as_dict(tools, "server_tool_use")
    return Tokens(
        input=as_int(result.get("uncached_input_tokens")),
        output=as_int(result.get("output_tokens")),
        cache_read=as_int(result.get("cache_read_input_tokens")),
        cache_write_5m=as_int(creation.get("ephemeral_5m_input_tokens")),
        cache_write_1h=as_int(creation.get("ephemeral_1h_input_tokens")),
        web_search_requests=as_int(tools.get("web_search_requests")),
    )


def usage_bucket(result: Json, day: int, pricer: Pricer) -> Bucket:
    """One messages usage result, priced. The report has no request count, so a day's tokens are
    spread over the fewest calls its context window allows (see price_usage)."""
    tokens = usage_tokens(result)
    model = as_str(result.get("model"))
    window = _CONTEXT_WINDOWS.get(as_str(result.get("context_window")))
    return Bucket(
        start_ms=day,
        end_ms=day + DAY_MS,
        cost_nanos=price_usage(pricer, tokens, model, PROVIDER, day, max_input_per_call=window),
        model=model,
        workspace=as_str(result.get("workspace_id")),
        api_key=as_str(result.get("api_key_id")),
        line_item="messages",
        service_tier=as_str(result.get("service_tier")),
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
        for day, results in day_buckets(page, MESSAGES_PATH):
            days.append(day)
            buckets += [usage_bucket(r, day, pricer) for r in results]
    return _feed(PROVIDER, "usage", window, days, buckets)


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


def claude_code_member(actor: object) -> str:
    """Who a Claude Code record belongs to: the user's email, or the API key's name."""
    a = as_dict(actor or {}, "a Claude Code actor")
    if a.get("type") == "api_actor" or (a.get("api_key_name") and not a.get("email_address")):
        return f"api key {as_str(a.get('api_key_name'))}".strip()
    return as_str(a.get("email_address"))


def claude_code_buckets(record: Json, day: int) -> list[Bucket]:
    """One actor-day's Claude Code usage, per model, with Anthropic's own estimate in cents."""
    member = claude_code_member(record.get("actor"))
    line_item = f"claude code ({as_str(record.get('customer_type')) or 'unknown'} customer)"
    buckets: list[Bucket] = []
    for raw in as_list(record.get("model_breakdown") or [], "a Claude Code model_breakdown"):
        entry = as_dict(raw, "a Claude Code model_breakdown entry")
        tokens = as_dict(entry.get("tokens") or {}, "Claude Code tokens")
        estimate = entry.get("estimated_cost")
        cost = None
        if estimate is not None:
            estimate = as_dict(estimate, "Claude Code estimated_cost")
            currency = str(estimate.get("currency") or "USD")
            if currency.upper() == "USD":
                cost = amount_nanos(
                    estimate.get("amount"), f"{CLAUDE_CODE_PATH} estimated_cost.amount", cents=True
                )
        buckets.append(
            Bucket(
                start_ms=day,
                end_ms=day + DAY_MS,
                cost_nanos=cost,
                model=as_str(entry.get("model")),
                line_item=line_item,
                member=member,
                input_tokens=as_int(tokens.get("input")),
                output_tokens=as_int(tokens.get("output")),
                cache_read_tokens=as_int(tokens.get("cache_read")),
                # The report does not split cache writes by lifetime.
                cache_write_5m_tokens=as_int(tokens.get("cache_creation")),
            )
        )
    return buckets


async def fetch_claude_code_day(client: ProviderClient, day: int) -> list[Bucket]:
    """Every actor's Claude Code usage on one UTC day (the report takes one day per request)."""
    params: list[tuple[str, str | int]] = [
        ("starting_at", datetime.fromtimestamp(day / 1000, UTC).date().isoformat()),
        ("limit", CLAUDE_CODE_LIMIT),
    ]
    buckets: list[Bucket] = []
    async for page in client.paginate(CLAUDE_CODE_PATH, params):
        for raw in as_list(page.get("data"), f"{CLAUDE_CODE_PATH} data"):
            buckets += claude_code_buckets(as_dict(raw, f"a {CLAUDE_CODE_PATH} record"), day)
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
    start, end = covered(window, days)
    return [Feed(CLAUDE_CODE_PROVIDER, "usage", start, end, merge(buckets))]


def _feed(provider: str, kind: str, window: Window, days: list[int], buckets: list[Bucket]) -> Feed:
    start, end = covered(window, days)
    inside = [b for b in buckets if start <= b.start_ms < end]
    return Feed(provider, "cost" if kind == "cost" else "usage", start, end, merge(inside))
