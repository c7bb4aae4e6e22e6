"""Anthropic cost report, messages usage and Claude Code analytics: documented payloads in, exact
ledger buckets out."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import anyio
import httpx2
import pytest

from cost_mcp.config import Settings, load_settings
from cost_mcp.errors import ProviderAuthError, ProviderResponseError
from cost_mcp.pricing import Pricer
from cost_mcp.sources import anthropic
from cost_mcp.sources.billing import Feed, Window, decode
from cost_mcp.sources.http import provider_client
from cost_mcp.store.buckets import CLAUDE_CODE_PROVIDER, DAY_MS
from tests.sources.fake_providers import ANTHROPIC_KEY, FakeAnthropic, fixture, json_response

AUG1_2025 = int(datetime(2025, 8, 1, tzinfo=UTC).timestamp()) * 1000
SEP8_2025 = int(datetime(2025, 9, 8, tzinfo=UTC).timestamp()) * 1000


def usage(raw: object) -> anthropic.UsageResult:
    return decode(raw, anthropic.UsageResult, "a usage result")


@pytest.fixture
def configured(home: object, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", ANTHROPIC_KEY)
    return load_settings()


def run(
    settings: Settings,
    handler: Callable[[httpx2.Request], httpx2.Response],
    fetch: Callable[..., object],
    *args: object,
) -> object:
    async def go() -> object:
        transport = httpx2.MockTransport(handler)
        async with provider_client(
            settings, "anthropic", anthropic.auth_headers, transport=transport
        ) as client:
            return await fetch(client, *args)  # type: ignore[misc]

    return anyio.run(go)


@pytest.mark.no_ledger
def test_cost_report_cents_strings_over_two_pages(configured: Settings) -> None:
    replies = [
        json_response(200, fixture("anthropic_cost_report_documented.json")),
        json_response(200, fixture("anthropic_cost_report_page2.json")),
    ]
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return replies.pop(0)

    feed = run(configured, handler, anthropic.fetch_costs, Window(AUG1_2025, AUG1_2025 + 2 * DAY_MS))
    assert isinstance(feed, Feed)
    assert (feed.provider, feed.kind, feed.days) == ("anthropic", "cost", 2)
    rows = {b.line_item: b for b in feed.buckets}
    opus = rows["Claude Opus 5 Usage - Input Tokens"]
    # "123.78912" cents is $1.2378912, exactly
    assert opus.cost_nanos == 1_237_891_200
    assert (opus.model, opus.workspace, opus.service_tier) == (
        "claude-opus-5",
        "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ",
        "standard",
    )
    assert rows["Web Search Usage"].cost_nanos == 2_500_000_000  # "250" cents
    assert rows["Web Search Usage"].workspace == ""  # the default workspace is null
    assert rows["Code Execution Usage"].cost_nanos == 5_000_000  # "0.5" cents
    assert feed.cost_nanos == 3_742_891_200
    first, second = seen
    assert first.url.params.get_list("group_by[]") == ["description", "workspace_id"]
    assert first.url.params["starting_at"] == "2025-08-01T00:00:00Z"
    assert first.url.params["ending_at"] == "2025-08-03T00:00:00Z"
    assert (first.url.params["bucket_width"], first.url.params["limit"]) == ("1d", "31")
    assert second.url.params["page"] == "page_MjAyNS0wNS0xNFQwMDowMFo="
    assert first.headers["x-api-key"] == ANTHROPIC_KEY
    assert first.headers["anthropic-version"] == "2023-06-01"


@pytest.mark.parametrize(
    ("amount", "nanos"),
    [("123.45", 1_234_500_000), (Decimal("25.5"), 255_000_000), (100, 1_000_000_000), ("0", 0)],
)
def test_cost_amounts_as_strings_or_numbers(amount: object, nanos: int) -> None:
    result = decode({"amount": amount, "currency": "USD", "description": "x"}, anthropic.CostResult, "x")
    b = anthropic.cost_bucket(result, AUG1_2025)
    assert b.cost_nanos == nanos


@pytest.mark.parametrize("amount", [None, 1.5, "lots", True, [], "NaN"])
def test_unusable_amounts_are_refused(amount: object) -> None:
    with pytest.raises(ProviderResponseError, match=r"^unexpected response: /cost amount: not a"):
        decode({"amount": amount, "currency": "USD"}, anthropic.CostResult, "/cost")


@pytest.mark.parametrize(
    ("result", "said"),
    [
        ({"amount": "1.5", "workspace_id": ["w"]}, r"workspace_id: expected a string, got \['w'\]"),
        ({"amount": {"value": "1.5"}}, r"amount: not an amount: \{'value': '1.5'\}"),
        ({"currency": "USD"}, r"results\[0\] has no amount \(at \$\.data\[0\]\.results\[0\]\)"),
    ],
)
@pytest.mark.no_ledger
def test_a_wrong_typed_cost_report_field_fails_the_fetch_naming_it(
    configured: Settings, result: dict[str, object], said: str
) -> None:
    fake = FakeAnthropic({anthropic.COST_PATH: {"2025-08-01": [result]}})
    with pytest.raises(ProviderResponseError, match=f"^unexpected response: {anthropic.COST_PATH} .*{said}"):
        run(configured, fake.handle, anthropic.fetch_costs, Window(AUG1_2025, AUG1_2025 + DAY_MS))


def test_wrong_typed_usage_fields_are_refused_where_they_are() -> None:
    with pytest.raises(ProviderResponseError, match=r"cache_creation is not an object"):
        decode({"cache_creation": 500}, anthropic.UsageResult, "/usage")
    with pytest.raises(ProviderResponseError, match=r"output_tokens: expected a count, got \{\}"):
        decode({"output_tokens": {}}, anthropic.UsageResult, "/usage")
    counted = decode({"output_tokens": "500", "uncached_input_tokens": None}, anthropic.UsageResult, "/usage")
    assert (counted.output_tokens, counted.uncached_input_tokens) == (500, 0)


def test_messages_documented_example_maps_every_token_kind() -> None:
    [result] = fixture("anthropic_messages_documented.json")["data"][0]["results"]
    b = anthropic.usage_bucket(decode(result, anthropic.UsageResult, "x"), AUG1_2025, Pricer())
    assert (
        b.input_tokens,
        b.cache_read_tokens,
        b.cache_write_5m_tokens,
        b.cache_write_1h_tokens,
        b.output_tokens,
        b.web_search_requests,
    ) == (1500, 200, 500, 1000, 500, 10)
    assert (b.model, b.workspace, b.api_key, b.service_tier) == (
        "claude-opus-5",
        "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ",
        "apikey_01Rj2N8SVvo6BePZj99NhmiT",
        "standard",
    )
    # Opus 5: 1500 x $5/M + 200 x $0.50/M + 500 x $6.25/M + 1000 x $10/M + 500 x $25/M + 10 searches
    # x $10/1000 = $0.0075 + $0.0001 + $0.003125 + $0.01 + $0.0125 + $0.10
    assert b.cost_nanos == 133_225_000


@pytest.mark.parametrize(
    ("context_window", "nanos"),
    [("0-200k", 3_000_000_000), ("200k-1M", 6_000_000_000), (None, 3_000_000_000)],
)
def test_a_day_of_tokens_is_priced_at_its_context_window_rate(context_window: str | None, nanos: int) -> None:
    # 1M uncached input on Sonnet 4.5: $3/M as calls under 200k each, $6/M as long-context calls.
    result = {
        "uncached_input_tokens": 1_000_000,
        "model": "claude-sonnet-4-5",
        "context_window": context_window,
    }
    assert anthropic.usage_bucket(usage(result), AUG1_2025, Pricer()).cost_nanos == nanos


def test_an_unknown_model_is_unpriced_not_free() -> None:
    result = {"uncached_input_tokens": 1_000, "model": "claude-mystery-9"}
    assert anthropic.usage_bucket(usage(result), AUG1_2025, Pricer()).cost_nanos is None


@pytest.mark.no_ledger
def test_fetch_reads_cost_and_usage_reports(configured: Settings) -> None:
    day = "2025-08-01"
    fake = FakeAnthropic(
        {
            anthropic.COST_PATH: {
                day: fixture("anthropic_cost_report_documented.json")["data"][0]["results"]
            },
            anthropic.MESSAGES_PATH: {
                day: fixture("anthropic_messages_documented.json")["data"][0]["results"]
            },
        },
        page_size=1,
    )
    feeds = run(configured, fake.handle, anthropic.fetch, Pricer(), Window(AUG1_2025, AUG1_2025 + 3 * DAY_MS))
    assert isinstance(feeds, list)
    costs, usage = feeds
    assert (costs.kind, costs.days, costs.cost_nanos) == ("cost", 3, 1_237_891_200)
    assert (usage.kind, usage.days, usage.cost_nanos) == ("usage", 3, 133_225_000)
    assert len(fake.calls(anthropic.COST_PATH)) == 3  # three days, one a page
    usage_params = fake.calls(anthropic.MESSAGES_PATH)[0].url.params
    assert usage_params.get_list("group_by[]") == [
        "model",
        "workspace_id",
        "api_key_id",
        "service_tier",
        "context_window",
    ]


@pytest.mark.no_ledger
def test_a_workspace_key_is_refused_with_the_variable_to_set(
    home: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", "sk-ant-api03-a-workspace-key")
    fake = FakeAnthropic()
    with pytest.raises(ProviderAuthError, match=r"^needs an admin key in ANTHROPIC_ADMIN_KEY: .* HTTP 401"):
        run(load_settings(), fake.handle, anthropic.fetch_costs, Window(AUG1_2025, AUG1_2025 + DAY_MS))
    assert len(fake.requests) == 1


def test_claude_code_documented_record() -> None:
    [record] = fixture("anthropic_claude_code_documented.json")["data"]
    [b] = anthropic.claude_code_buckets(decode(record, anthropic.ClaudeCodeRecord, "x"), SEP8_2025)
    assert (b.member, b.model, b.line_item) == (
        "developer@company.com",
        "claude-opus-5-5",
        "claude code (api customer)",
    )
    assert b.cost_nanos == 1_130_000_000  # 113 cents, an estimate
    assert (b.input_tokens, b.output_tokens, b.cache_read_tokens, b.cache_write_5m_tokens) == (
        100_000,
        35_000,
        10_000,
        5_000,
    )


def test_claude_code_api_actor_is_named_by_its_key() -> None:
    record = {
        "actor": {"type": "api_actor", "api_key_name": "ci-bot"},
        "customer_type": "subscription",
        "model_breakdown": [{"model": "claude-sonnet-4-5", "tokens": {"input": 10}}],
    }
    [b] = anthropic.claude_code_buckets(decode(record, anthropic.ClaudeCodeRecord, "x"), SEP8_2025)
    assert (b.member, b.line_item, b.cost_nanos) == (
        "api key ci-bot",
        "claude code (subscription customer)",
        None,
    )


@pytest.mark.no_ledger
def test_claude_code_is_fetched_one_day_per_request_all_pages(configured: Settings) -> None:
    [record] = fixture("anthropic_claude_code_documented.json")["data"]
    other = record | {"actor": {"type": "user_actor", "email_address": "second@company.com"}}
    fake = FakeAnthropic({anthropic.CLAUDE_CODE_PATH: {"2025-09-08": [record, other]}}, page_size=1)
    feeds = run(
        configured,
        fake.handle,
        anthropic.fetch_claude_code,
        Pricer(),
        Window(SEP8_2025, SEP8_2025 + 2 * DAY_MS),
    )
    assert isinstance(feeds, list)
    [feed] = feeds
    assert (feed.provider, feed.kind, feed.days) == (CLAUDE_CODE_PROVIDER, "usage", 2)
    assert sorted(b.member for b in feed.buckets) == ["developer@company.com", "second@company.com"]
    assert feed.cost_nanos == 2_260_000_000
    asked = [(r.url.params["starting_at"], r.url.params.get("page")) for r in fake.requests]
    assert sorted(asked, key=str) == sorted(
        [("2025-09-08", None), ("2025-09-08", "page_1"), ("2025-09-09", None)], key=str
    )
    assert all(r.url.params["limit"] == "1000" for r in fake.requests)
