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

from cost_mcp.errors import ProviderResponseError
from cost_mcp.money import parse_usd, to_nanos
from cost_mcp.pricing import Pricer, Tokens
from cost_mcp.sources.billing import (
    Feed,
    Window,
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
from cost_mcp.store.buckets import DAY_MS, Bucket

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


# --- costs ----------------------------------------------------------------------------------------


def line_item_model(line_item: str) -> str:
    """The model named by a cost line item such as ``"gpt-4o-2024-08-06, input"``, else ''.

    The format is not documented; third parties report "<model>, <what>" for token charges and
    plain text ("web search tool call", "assistants api | file search") for the rest, so only the
    part before the first ", " is taken, and only when there is one.
    """
    head, sep, _ = line_item.partition(", ")
    return head.strip() if sep and head.strip() else ""


def cost_bucket(result: Json, day: int) -> Bucket:
    """One costs result as a billed bucket (USD, exact)."""
    amount = as_dict(result.get("amount"), "a cost's amount")
    currency = str(amount.get("currency") or "usd")
    if currency.lower() != "usd":
        raise ProviderResponseError(f"{COSTS_PATH} reported an amount in {currency!r}; only USD is supported")
    value = amount.get("value")
    if value is None or isinstance(value, (bool, float)):
        raise ProviderResponseError(f"{COSTS_PATH} reported an amount that is not a number: {value!r}")
    try:
        usd = parse_usd(value)
    except ValueError as exc:
        raise ProviderResponseError(f"{COSTS_PATH}: {exc}") from None
    line_item = as_str(result.get("line_item"))
    return Bucket(
        start_ms=day,
        end_ms=day + DAY_MS,
        cost_nanos=to_nanos(usd),
        model=line_item_model(line_item),
        project=as_str(result.get("project_id")),
        api_key=as_str(result.get("api_key_id")),
        line_item=line_item,
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
    return _feed("cost", window, days, buckets)


# --- usage ----------------------------------------------------------------------------------------

_MODEL_PROJECT_KEY = ("model", "project_id", "api_key_id")


@dataclass(frozen=True)
class UsageReport:
    """One of the usage endpoints: its path, result type, grouping and how a result becomes a bucket."""

    name: str
    object: str
    group_by: tuple[str, ...]
    to_bucket: Callable[[Json, int, Pricer], Bucket]


def _bucket(
    result: Json,
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
        model=as_str(result.get("model")),
        project=as_str(result.get("project_id")),
        api_key=as_str(result.get("api_key_id")),
        line_item=name,
        requests=requests,
        input_tokens=t.input,
        output_tokens=t.output,
        cache_read_tokens=t.cache_read,
        cache_write_5m_tokens=t.cache_write_5m,
        web_search_requests=t.web_search_requests,
    )


def completions_bucket(result: Json, day: int, pricer: Pricer) -> Bucket:
    """Completions usage: ``input_tokens`` INCLUDES cached input (and, since mid-2026, cache
    writes), so uncached input is the rest; each part is priced at its own rate."""
    total_input = as_int(result.get("input_tokens"))
    cached = as_int(result.get("input_cached_tokens"))
    written = as_int(result.get("input_cache_write_tokens"))
    reported_uncached = result.get("input_uncached_tokens")
    uncached = (
        as_int(reported_uncached) if reported_uncached is not None else max(total_input - cached - written, 0)
    )
    tokens = Tokens(
        input=uncached,
        output=as_int(result.get("output_tokens")),
        cache_read=cached,
        cache_write_5m=written,
    )
    requests = as_int(result.get("num_model_requests"))
    model = as_str(result.get("model"))
    cost = price_usage(pricer, tokens, model, PROVIDER, day, requests=requests)
    return _bucket(result, day, "completions", cost_nanos=cost, requests=requests, tokens=tokens)


def input_only_bucket(result: Json, day: int, pricer: Pricer, *, name: str, free: bool = False) -> Bucket:
    """Embeddings and moderations: input tokens only. Moderation calls are free of charge."""
    tokens = Tokens(input=as_int(result.get("input_tokens")))
    requests = as_int(result.get("num_model_requests"))
    model = as_str(result.get("model"))
    cost = 0 if free else price_usage(pricer, tokens, model, PROVIDER, day, requests=requests)
    return _bucket(result, day, name, cost_nanos=cost, requests=requests, tokens=tokens)


def web_search_bucket(result: Json, day: int, pricer: Pricer) -> Bucket:
    """Web search tool calls, priced per search where the price data has a rate for the model."""
    searches = as_int(result.get("num_requests"))
    tokens = Tokens(web_search_requests=searches)
    model = as_str(result.get("model"))
    cost = price_usage(pricer, tokens, model, PROVIDER, day, requests=max(searches, 1))
    requests = as_int(result.get("num_model_requests"))
    return _bucket(result, day, "web_search_calls", cost_nanos=cost, requests=requests, tokens=tokens)


def unpriced_bucket(result: Json, day: int, _pricer: Pricer, *, name: str, count: str | None) -> Bucket:
    """Usage counted in images, characters, seconds, bytes, sessions or searches: kept for
    attribution with an unknown cost (the price data has no such rates; the costs report has them).
    ``count`` names the field that counts calls, if the report has one."""
    requests = as_int(result.get(count)) if count else 0
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
    return buckets, covered(window, days)


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


def day_buckets(page: Json, path: str) -> Iterator[tuple[int, list[Json]]]:
    """(UTC day start in ms, results) for every bucket of a page, empty days included."""
    for raw in as_list(page.get("data"), f"{path} data"):
        bucket = as_dict(raw, f"a {path} bucket")
        if bucket.get("start_time") is None:
            raise ProviderResponseError(f"unexpected response: a {path} bucket has no start_time")
        # The first bucket may start at start_time rather than midnight; we always ask from
        # midnight, and a day is stored under its midnight either way.
        day = day_floor(as_int(bucket["start_time"]) * 1000)
        results = as_list(bucket.get("results") or [], f"a {path} bucket's results")
        yield day, [as_dict(r, f"a {path} result") for r in results]


def _is(result: Json, expected: str) -> bool:
    # Unknown result types (new report kinds) are skipped, not guessed at.
    kind = result.get("object")
    return kind is None or kind == expected


def _feed(kind: str, window: Window, days: list[int], buckets: list[Bucket]) -> Feed:
    start, end = covered(window, days)
    inside = [b for b in buckets if start <= b.start_ms < end]
    return Feed(PROVIDER, "cost" if kind == "cost" else "usage", start, end, merge(inside))
