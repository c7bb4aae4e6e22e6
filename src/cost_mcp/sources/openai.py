"""OpenAI's Administration API: what the organisation was billed, and what it used, per UTC day.

- ``/v1/organization/costs`` (grouped by line_item and project_id) is the billed truth: buckets of
  kind 'cost' in USD. ``amount.value`` is a number in the spec but has been seen as a string
  (``"12.50"``); both are decoded exactly, never through a float.
- ``/v1/organization/usage/*`` are usage buckets (kind 'usage'): completions grouped by model,
  project and API key with cached input kept apart, and the other usage reports (embeddings,
  moderations, images, audio, vector stores, code interpreter, web and file search). Token counts
  are priced here with genai-prices; counts with no token price (images, audio seconds, storage
  bytes, sessions, file searches) are stored with an unknown cost, never $0.

OpenAI says its usage reports "may not always reconcile perfectly" with costs; costs reconcile to
the invoice, which is why a day with cost data never counts the usage estimate as well.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import msgspec

from cost_mcp import money
from cost_mcp.errors import ProviderResponseError
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
from cost_mcp.store.buckets import DAY_MS, Bucket

if TYPE_CHECKING:
    from cost_mcp.sources.http import ProviderClient

PROVIDER = "openai"
KEY_HINT = (
    "an organization Admin key, sk-admin-…, from platform.openai.com/settings/organization/admin-keys; "
    "project keys cannot read costs or usage"
)
COSTS_PATH = "/v1/organization/costs"
USAGE_PATH = "/v1/organization/usage/"
COSTS_LIMIT = 180
"""Buckets per page: the costs report allows up to 180 days, the usage reports 31."""
USAGE_LIMIT = 31
CONCURRENCY = 4


def auth_headers(key: str) -> dict[str, str]:
    """OpenAI's admin endpoints take the key as a bearer token."""
    return {"Authorization": f"Bearer {key}"}


# --- the reports' shapes (the fields read), decoded once per page -----------------------------------


class _Money(msgspec.Struct):
    value: Amount
    currency: Text = Text("")


class Result(msgspec.Struct):
    """One result of a costs or usage bucket: every report's fields, each optional (a report has
    the ones of its kind; ``object`` says which)."""

    object: Text = Text("")
    amount: _Money | None = None
    line_item: Text = Text("")
    model: Text = Text("")
    project_id: Text = Text("")
    api_key_id: Text = Text("")
    input_tokens: Count = Count(0)
    input_cached_tokens: Count = Count(0)
    input_cache_write_tokens: Count = Count(0)
    input_uncached_tokens: Count | None = None
    output_tokens: Count = Count(0)
    num_model_requests: Count = Count(0)
    num_requests: Count = Count(0)
    num_sessions: Count = Count(0)


class _Bucket(msgspec.Struct):
    start_time: Count | None
    results: list[Result] | None = None


class _Page(msgspec.Struct):
    data: list[_Bucket]


# --- costs ----------------------------------------------------------------------------------------


def line_item_model(line_item: str) -> str:
    """The model named by a cost line item such as ``"gpt-4o-2024-08-06, input"``, else ''.

    The format is not documented; third parties report "<model>, <what>" for token charges and
    plain text ("web search tool call", "assistants api | file search") for the rest, so only the
    part before the first ", " is taken, and only when there is one.
    """
    head, sep, _ = line_item.partition(", ")
    return head.strip() if sep and head.strip() else ""


def cost_bucket(result: Result, day: int) -> Bucket:
    """One costs result as a billed bucket (USD, exact)."""
    if result.amount is None:
        raise ProviderResponseError(f"unexpected response: a {COSTS_PATH} result has no amount")
    currency = result.amount.currency or "usd"
    if currency.lower() != "usd":
        raise not_usd(COSTS_PATH, currency, PROVIDER)
    return Bucket(
        start_ms=day,
        end_ms=day + DAY_MS,
        cost_nanos=money.amount_nanos(result.amount.value),
        model=line_item_model(result.line_item),
        project=result.project_id,
        api_key=result.api_key_id,
        line_item=result.line_item,
    )


async def fetch_costs(client: ProviderClient, window: Window) -> Feed:
    """Billed amounts per day, line item and project over ``window``."""
    params = [
        *_range(window),
        ("group_by", "line_item"),
        ("group_by", "project_id"),
        ("limit", COSTS_LIMIT),
    ]
    buckets: list[Bucket] = []
    days: list[int] = []
    async for page in client.paginate(COSTS_PATH, params):
        for day, results in day_buckets(page, COSTS_PATH):
            days.append(day)
            buckets += [cost_bucket(r, day) for r in results if _is(r, "organization.costs.result")]
    return _feed("cost", window, days, buckets, COSTS_PATH)


# --- usage ----------------------------------------------------------------------------------------

_MODEL_PROJECT_KEY = ("model", "project_id", "api_key_id")


@dataclass(frozen=True)
class UsageReport:
    """One of the usage endpoints: its path, result type, grouping and how a result becomes a bucket."""

    name: str
    object: str
    group_by: tuple[str, ...]
    to_bucket: Callable[[Result, int, Pricer], Bucket]


def _bucket(
    result: Result,
    day: int,
    name: str,
    *,
    cost_nanos: int | None,
    requests: int,
    tokens: Tokens | None = None,
) -> Bucket:
    """A usage bucket with the dimensions every usage report shares; ``name`` is kept as its line item."""
    t = tokens or Tokens()
    return Bucket(
        start_ms=day,
        end_ms=day + DAY_MS,
        cost_nanos=cost_nanos,
        model=result.model,
        project=result.project_id,
        api_key=result.api_key_id,
        line_item=name,
        requests=requests,
        input_tokens=t.input,
        output_tokens=t.output,
        cache_read_tokens=t.cache_read,
        cache_write_5m_tokens=t.cache_write_5m,
        web_search_requests=t.web_search_requests,
    )


def completions_bucket(result: Result, day: int, pricer: Pricer) -> Bucket:
    """Completions usage: ``input_tokens`` INCLUDES cached input (and, since mid-2026, cache
    writes), so uncached input is the rest; each part is priced at its own rate."""
    cached = result.input_cached_tokens
    written = result.input_cache_write_tokens
    reported = result.input_uncached_tokens
    uncached = reported if reported is not None else max(result.input_tokens - cached - written, 0)
    tokens = Tokens(
        input=uncached,
        output=result.output_tokens,
        cache_read=cached,
        cache_write_5m=written,
    )
    requests = result.num_model_requests
    cost = price_usage(pricer, tokens, result.model, PROVIDER, day, requests=requests)
    return _bucket(result, day, "completions", cost_nanos=cost, requests=requests, tokens=tokens)


def input_only_bucket(result: Result, day: int, pricer: Pricer, *, name: str, free: bool = False) -> Bucket:
    """Embeddings and moderations: input tokens only. Moderation calls are free of charge."""
    tokens = Tokens(input=result.input_tokens)
    requests = result.num_model_requests
    cost = 0 if free else price_usage(pricer, tokens, result.model, PROVIDER, day, requests=requests)
    return _bucket(result, day, name, cost_nanos=cost, requests=requests, tokens=tokens)


def web_search_bucket(result: Result, day: int, pricer: Pricer) -> Bucket:
    """Web search tool calls, priced per search where the price data has a rate for the model."""
    searches = result.num_requests
    tokens = Tokens(web_search_requests=searches)
    cost = price_usage(pricer, tokens, result.model, PROVIDER, day, requests=max(searches, 1))
    requests = result.num_model_requests
    return _bucket(result, day, "web_search_calls", cost_nanos=cost, requests=requests, tokens=tokens)


def unpriced_bucket(result: Result, day: int, _pricer: Pricer, *, name: str, count: str | None) -> Bucket:
    """Usage counted in images, characters, seconds, bytes, sessions or searches: kept for
    attribution with an unknown cost (the price data has no such rates; the costs report has them).
    ``count`` names the field that counts calls, if the report has one."""
    requests: int = getattr(result, count) if count else 0
    return _bucket(result, day, name, cost_nanos=None, requests=requests)


USAGE_REPORTS: tuple[UsageReport, ...] = (
    UsageReport(
        "completions", "organization.usage.completions.result", _MODEL_PROJECT_KEY, completions_bucket
    ),
    UsageReport(
        "embeddings",
        "organization.usage.embeddings.result",
        _MODEL_PROJECT_KEY,
        partial(input_only_bucket, name="embeddings"),
    ),
    UsageReport(
        "moderations",
        "organization.usage.moderations.result",
        _MODEL_PROJECT_KEY,
        partial(input_only_bucket, name="moderations", free=True),
    ),
    UsageReport(
        "images",
        "organization.usage.images.result",
        _MODEL_PROJECT_KEY,
        partial(unpriced_bucket, name="images", count="num_model_requests"),
    ),
    UsageReport(
        "audio_speeches",
        "organization.usage.audio_speeches.result",
        _MODEL_PROJECT_KEY,
        partial(unpriced_bucket, name="audio_speeches", count="num_model_requests"),
    ),
    UsageReport(
        "audio_transcriptions",
        "organization.usage.audio_transcriptions.result",
        _MODEL_PROJECT_KEY,
        partial(unpriced_bucket, name="audio_transcriptions", count="num_model_requests"),
    ),
    UsageReport(
        "vector_stores",
        "organization.usage.vector_stores.result",
        ("project_id",),
        partial(unpriced_bucket, name="vector_stores", count=None),
    ),
    UsageReport(
        "code_interpreter_sessions",
        "organization.usage.code_interpreter_sessions.result",
        ("project_id",),
        partial(unpriced_bucket, name="code_interpreter_sessions", count="num_sessions"),
    ),
    # The result object names of these two do not match their paths (spec quirk).
    UsageReport(
        "web_search_calls", "organization.usage.web_searches.result", _MODEL_PROJECT_KEY, web_search_bucket
    ),
    UsageReport(
        "file_search_calls",
        "organization.usage.file_searches.result",
        ("project_id", "api_key_id"),
        partial(unpriced_bucket, name="file_search_calls", count="num_requests"),
    ),
)


async def fetch_usage_report(
    client: ProviderClient, pricer: Pricer, window: Window, report: UsageReport
) -> tuple[list[Bucket], tuple[int, int]]:
    """One usage report's buckets over ``window`` and the days it covered."""
    path = USAGE_PATH + report.name
    params = [*_range(window), ("limit", USAGE_LIMIT), *(("group_by", g) for g in report.group_by)]
    buckets: list[Bucket] = []
    days: list[int] = []
    async for page in client.paginate(path, params):
        for day, results in day_buckets(page, path):
            days.append(day)
            buckets += [report.to_bucket(r, day, pricer) for r in results if _is(r, report.object)]
    return buckets, covered(window, days, path)


async def fetch_usage(client: ProviderClient, pricer: Pricer, window: Window) -> Feed:
    """All usage reports as one feed, covering only the days every report that answered covered."""
    reports = await gather(
        [partial(fetch_usage_report, client, pricer, window, r) for r in USAGE_REPORTS], limit=CONCURRENCY
    )
    spans = [span for _, span in reports if span[1] > span[0]]
    start = max((s for s, _ in spans), default=window.start_ms)
    end = min((e for _, e in spans), default=window.start_ms)
    if end <= start:
        start = end = window.start_ms
    buckets = [b for found, _ in reports for b in found if start <= b.start_ms < end]
    return Feed(PROVIDER, "usage", start, end, merge(buckets))


async def fetch(client: ProviderClient, pricer: Pricer, window: Window) -> list[Feed]:
    """Costs (billed) and usage (estimated) over ``window``; any failure fails the whole fetch."""
    costs, usage = await gather(
        [partial(fetch_costs, client, window), partial(fetch_usage, client, pricer, window)], limit=2
    )
    return [costs, usage]


# --- shared ---------------------------------------------------------------------------------------


def _range(window: Window) -> list[tuple[str, str | int]]:
    # start_time is inclusive and end_time exclusive, in Unix seconds.
    return [
        ("start_time", window.start_ms // 1000),
        ("end_time", window.end_ms // 1000),
        ("bucket_width", "1d"),
    ]


def day_buckets(page: Json, path: str) -> Iterator[tuple[int, list[Result]]]:
    """(UTC day start in ms, results) for every bucket of a page, empty days included."""
    for bucket in decode(page, _Page, path).data:
        if bucket.start_time is None:
            raise ProviderResponseError(f"unexpected response: a {path} bucket has no start_time")
        # The first bucket may start at start_time rather than midnight; we always ask from
        # midnight, and a day is stored under its midnight either way.
        yield day_floor(bucket.start_time * 1000), bucket.results or []


def _is(result: Result, expected: str) -> bool:
    # Unknown result types (new report kinds) are skipped, not guessed at.
    return not result.object or result.object == expected


def _feed(kind: str, window: Window, days: list[int], buckets: list[Bucket], what: str) -> Feed:
    start, end = covered(window, days, what)
    inside = [b for b in buckets if start <= b.start_ms < end]
    return Feed(PROVIDER, "cost" if kind == "cost" else "usage", start, end, merge(inside))
