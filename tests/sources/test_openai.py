"""OpenAI costs and usage reports: documented payloads in, exact ledger buckets out."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import anyio
import httpx2
import pytest

from cost_mcp.config import Settings, load_settings
from cost_mcp.errors import ProviderResponseError
from cost_mcp.pricing import Pricer
from cost_mcp.sources import openai
from cost_mcp.sources.billing import Feed, Window, decode, merge
from cost_mcp.sources.http import provider_client
from cost_mcp.store.buckets import DAY_MS, Bucket
from tests.sources.fake_providers import OPENAI_KEY, FakeOpenAI, fixture, json_response

NOV1_2025 = int(datetime(2025, 11, 1, tzinfo=UTC).timestamp()) * 1000
USAGE = "/v1/organization/usage/"


def decoded(raw: object) -> openai.Result:
    return decode(raw, openai.Result, "a result")


@pytest.fixture
def configured(home: object, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", OPENAI_KEY)
    return load_settings()


def days(first: int, n: int) -> Window:
    return Window(first, first + n * DAY_MS)


def run(
    settings: Settings,
    handler: Callable[[httpx2.Request], httpx2.Response],
    fetch: Callable[..., object],
    *args: object,
) -> object:
    async def go() -> object:
        transport = httpx2.MockTransport(handler)
        async with provider_client(settings, "openai", openai.auth_headers, transport=transport) as client:
            return await fetch(client, *args)  # type: ignore[misc]

    return anyio.run(go)


def by_day(feed: Feed) -> dict[str, int]:
    sums: dict[str, int] = {}
    for b in feed.buckets:
        day = datetime.fromtimestamp(b.start_ms / 1000, UTC).date().isoformat()
        sums[day] = sums.get(day, 0) + (b.cost_nanos or 0)
    return sums


@pytest.mark.no_ledger
def test_costs_over_two_pages_with_amounts_as_numbers_and_strings(configured: Settings) -> None:
    replies = [
        json_response(200, fixture("openai_costs_page1.json")),
        json_response(200, fixture("openai_costs_page2_string_amounts.json")),
    ]
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return replies.pop(0)

    feed = run(configured, handler, openai.fetch_costs, days(NOV1_2025, 5))
    assert isinstance(feed, Feed)
    assert (feed.provider, feed.kind) == ("openai", "cost")
    # exact to the nano-dollar: 1.25 + 2.5 | 0.06 + 0.03 | "12.50" + "0.10" | an empty day
    assert by_day(feed) == {
        "2025-11-01": 3_750_000_000,
        "2025-11-02": 90_000_000,
        "2025-11-03": 12_600_000_000,
    }
    assert feed.cost_nanos == 16_440_000_000
    # the report listed Nov 1-4 (Nov 4 empty): those days are covered, Nov 5 is not
    assert (feed.start_ms, feed.end_ms) == (NOV1_2025, NOV1_2025 + 4 * DAY_MS)
    rows = {(b.line_item, b.project): b.model for b in feed.buckets}
    assert rows == {
        ("gpt-4o-2024-08-06, input", "proj_abc"): "gpt-4o-2024-08-06",
        ("gpt-4o-2024-08-06, output", "proj_abc"): "gpt-4o-2024-08-06",
        ("", ""): "",
        ("web search tool call", "proj_abc"): "",
        ("gpt-4o-mini, input", "proj_xyz"): "gpt-4o-mini",
        ("gpt-4o-mini, cached input", "proj_xyz"): "gpt-4o-mini",
    }
    first, second = seen
    assert first.url.params.get_list("group_by") == ["line_item", "project_id"]
    assert first.url.params["start_time"] == str(NOV1_2025 // 1000)
    assert first.url.params["end_time"] == str(NOV1_2025 // 1000 + 5 * 86_400)
    assert (first.url.params["bucket_width"], first.url.params["limit"]) == ("1d", "180")
    assert "page" not in first.url.params
    assert second.url.params["page"] == "page_AAAAAGdGxdEiJdKOAAAAAGcqsYA="


@pytest.mark.parametrize(
    ("line_item", "model"),
    [
        ("gpt-4o-2024-08-06, input", "gpt-4o-2024-08-06"),
        ("gpt-4o, cached input", "gpt-4o"),
        ("ft-gpt-4o-2024-08-06, input", "ft-gpt-4o-2024-08-06"),
        ("assistants api | file search", ""),
        ("web search tool call", ""),
        ("input_tokens", ""),
        ("", ""),
    ],
)
def test_model_from_line_item(line_item: str, model: str) -> None:
    assert openai.line_item_model(line_item) == model


def test_a_cost_in_another_currency_is_refused() -> None:
    result = {"object": "organization.costs.result", "amount": {"value": 1, "currency": "eur"}}
    with pytest.raises(ProviderResponseError, match=r"in 'eur', not USD: .* set COST_MCP_SYNC_SKIP=openai"):
        openai.cost_bucket(decoded(result), NOV1_2025)


def test_completions_spec_example_keeps_cached_input_apart() -> None:
    [bucket] = fixture("openai_completions_spec_example.json")["data"]
    [result] = bucket["results"]
    b = openai.completions_bucket(decoded(result), NOV1_2025, Pricer())
    # input_tokens (1000) includes 400 cached and 100 cache-write tokens: 500 are uncached
    assert (b.input_tokens, b.cache_read_tokens, b.cache_write_5m_tokens, b.output_tokens) == (
        500,
        400,
        100,
        500,
    )
    assert b.requests == 5
    assert b.cost_nanos is None  # not grouped by model: no price, and never $0
    assert b.line_item == "completions"


def test_completions_with_the_older_field_set_are_priced_per_token_kind() -> None:
    page = fixture("openai_completions_cookbook_old_fields.json")
    result = page["data"][0]["results"][0]
    b = openai.completions_bucket(decoded(result), NOV1_2025, Pricer())
    # gpt-4o-mini: 800k uncached x $0.15/M + 200k cached x $0.075/M + 1M output x $0.60/M = $0.735
    assert (b.input_tokens, b.cache_read_tokens, b.output_tokens) == (800_000, 200_000, 1_000_000)
    assert b.cost_nanos == 735_000_000
    assert (b.model, b.project, b.api_key, b.requests) == (
        "gpt-4o-mini-2024-07-18",
        "proj_abc",
        "key_abc",
        10,
    )


def test_amount_as_a_float_never_reaches_the_ledger() -> None:
    raw = {"object": "organization.costs.result", "amount": {"value": 0.1, "currency": "usd"}}
    with pytest.raises(ProviderResponseError, match=r"value: not an amount: 0\.1 \(at \$\.amount\.value\)"):
        decoded(raw)  # our decoder yields Decimal; a float here is a bug


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("amount", {"value": True, "currency": "usd"}, r"value: not an amount: True"),
        ("amount", {"value": "12,50", "currency": "usd"}, r"value: not a decimal amount: '12,50'"),
        ("amount", {"currency": "usd"}, r"amount has no value"),
        ("amount", "12.50", r"amount is not an object"),
        ("project_id", {"id": "proj_1"}, r"project_id: expected a string"),
    ],
)
@pytest.mark.no_ledger
def test_a_wrong_typed_cost_field_is_an_error_naming_it(
    configured: Settings, field: str, value: object, said: str
) -> None:
    cost = {"object": "organization.costs.result", "amount": {"value": "1.5", "currency": "usd"}}
    page = {
        "object": "page",
        "data": [{"object": "bucket", "start_time": NOV1_2025 // 1000, "results": [{**cost, field: value}]}],
        "has_more": False,
    }
    with pytest.raises(ProviderResponseError, match=f"^unexpected response: /v1/organization/costs {said}"):
        run(configured, lambda _r: json_response(200, page), openai.fetch_costs, days(NOV1_2025, 1))


@pytest.mark.no_ledger
def test_counts_may_be_numeric_strings_but_not_fractions_or_bools(configured: Settings) -> None:
    assert decoded({"input_tokens": "1000", "num_model_requests": 2}).input_tokens == 1000
    with pytest.raises(ProviderResponseError, match=r"input_tokens: expected a whole count, got '1\.5'"):
        decoded({"input_tokens": "1.5"})
    with pytest.raises(ProviderResponseError, match=r"num_model_requests: expected a count, got True"):
        decoded({"num_model_requests": True})
    page = {"object": "page", "data": [{"object": "bucket", "start_time": None}], "has_more": False}
    with pytest.raises(ProviderResponseError, match="has no start_time"):
        run(configured, lambda _r: json_response(200, page), openai.fetch_costs, days(NOV1_2025, 1))


def _fake() -> FakeOpenAI:
    day1, day2 = "2025-11-01", "2025-11-02"
    return FakeOpenAI(
        {
            "/v1/organization/costs": {
                day1: fixture("openai_costs_page1.json")["data"][0]["results"],
                day2: [
                    {"object": "organization.costs.result", "amount": {"value": "0.5", "currency": "usd"}}
                ],
            },
            USAGE + "completions": {
                day1: [
                    fixture("openai_completions_cookbook_old_fields.json")["data"][0]["results"][0],
                    {"object": "organization.usage.completions.result_v2", "input_tokens": 5},
                ]
            },
            USAGE + "embeddings": {
                day1: [
                    {
                        "object": "organization.usage.embeddings.result",
                        "input_tokens": 1_000_000,
                        "num_model_requests": 4,
                        "model": "text-embedding-3-small",
                        "project_id": "proj_abc",
                    }
                ]
            },
            USAGE + "moderations": {
                day1: [
                    {
                        "object": "organization.usage.moderations.result",
                        "input_tokens": 9_000,
                        "num_model_requests": 3,
                        "model": "omni-moderation-latest",
                    }
                ]
            },
            USAGE + "images": {
                day2: [
                    {
                        "object": "organization.usage.images.result",
                        "images": 4,
                        "num_model_requests": 2,
                        "model": "dall-e-3",
                        "project_id": "proj_abc",
                    }
                ]
            },
            USAGE + "web_search_calls": {
                day2: [
                    {
                        "object": "organization.usage.web_searches.result",
                        "num_requests": 1_000,
                        "num_model_requests": 800,
                        "model": "gpt-4o",
                    }
                ]
            },
        },
        page_size=1,
    )


@pytest.mark.no_ledger
def test_fetch_reads_costs_and_every_usage_report(configured: Settings) -> None:
    fake = _fake()
    feeds = run(configured, fake.handle, openai.fetch, Pricer(), days(NOV1_2025, 2))
    assert isinstance(feeds, list)
    costs, usage = feeds
    assert costs.cost_nanos == 3_750_000_000 + 500_000_000
    assert (usage.start_ms, usage.end_ms) == (NOV1_2025, NOV1_2025 + 2 * DAY_MS)
    rows = {(b.line_item, b.model): b for b in usage.buckets}
    assert set(rows) == {
        ("completions", "gpt-4o-mini-2024-07-18"),
        ("embeddings", "text-embedding-3-small"),
        ("moderations", "omni-moderation-latest"),
        ("images", "dall-e-3"),
        ("web_search_calls", "gpt-4o"),
    }  # the unknown result type was skipped
    assert rows["completions", "gpt-4o-mini-2024-07-18"].cost_nanos == 735_000_000
    assert rows["embeddings", "text-embedding-3-small"].cost_nanos == 20_000_000  # 1M x $0.02/M
    assert rows["moderations", "omni-moderation-latest"].cost_nanos == 0  # free of charge
    assert rows["images", "dall-e-3"].cost_nanos is None  # no per-image price: unknown, not $0
    assert rows["images", "dall-e-3"].requests == 2
    web = rows["web_search_calls", "gpt-4o"]
    assert (web.cost_nanos, web.web_search_requests, web.requests) == (10_000_000_000, 1_000, 800)
    # two days at one bucket a page: two pages per report, eleven reports
    assert {r.url.path for r in fake.requests} == {"/v1/organization/costs"} | {
        USAGE + r.name for r in openai.USAGE_REPORTS
    }
    assert len(fake.requests) == 22
    assert fake.calls(USAGE + "vector_stores")[0].url.params.get_list("group_by") == ["project_id"]
    completions = fake.calls(USAGE + "completions")[0].url.params
    assert completions.get_list("group_by") == ["model", "project_id", "api_key_id"]
    assert completions["limit"] == "31"


@pytest.mark.no_ledger
def test_usage_covers_only_days_every_report_listed(configured: Settings) -> None:
    fake = _fake()
    # The images report lists only Nov 1 (say, its Nov 2 bucket is not open yet).
    only_day1 = {
        "object": "page",
        "data": [
            {"object": "bucket", "start_time": NOV1_2025 // 1000, "end_time": NOV1_2025 // 1000 + 86_400}
        ],
        "has_more": False,
        "next_page": None,
    }
    fake.script(USAGE + "images", json_response(200, only_day1))
    result = run(configured, fake.handle, openai.fetch, Pricer(), days(NOV1_2025, 2))
    assert isinstance(result, list)
    usage = result[1]
    assert (usage.start_ms, usage.end_ms) == (NOV1_2025, NOV1_2025 + DAY_MS)
    assert all(b.start_ms == NOV1_2025 for b in usage.buckets)
    assert ("web_search_calls", "gpt-4o") not in {(b.line_item, b.model) for b in usage.buckets}


@pytest.mark.no_ledger
def test_a_bucket_without_start_time_is_an_error(configured: Settings) -> None:
    broken = {"object": "page", "data": [{"object": "bucket", "results": []}], "has_more": False}
    with pytest.raises(ProviderResponseError, match="has no start_time"):
        run(configured, lambda _r: json_response(200, broken), openai.fetch_costs, days(NOV1_2025, 1))


def test_same_key_results_are_summed_not_overwritten() -> None:
    a = Bucket(NOV1_2025, NOV1_2025 + DAY_MS, cost_nanos=5, line_item="x", input_tokens=1)
    b = Bucket(NOV1_2025, NOV1_2025 + DAY_MS, cost_nanos=7, line_item="x", input_tokens=2)
    unknown = Bucket(NOV1_2025, NOV1_2025 + DAY_MS, cost_nanos=None, line_item="x")
    [merged] = merge([a, b])
    assert (merged.cost_nanos, merged.input_tokens) == (12, 3)
    [with_unknown] = merge([a, unknown])
    assert with_unknown.cost_nanos is None
