"""Azure OpenAI through Cost Management: the client-credentials token on the shared client, the
documented query envelope mapped by column name, nextLink paging, 429 retry headers, currencies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import anyio
import httpx2
import pytest

from cost_mcp import sync
from cost_mcp.config import Settings, load_settings
from cost_mcp.errors import ProviderAuthError, ProviderResponseError
from cost_mcp.pricing import Pricer
from cost_mcp.sources import azure
from cost_mcp.sources.billing import Feed, Window
from cost_mcp.sources.http import RetryableStatus, _retry_after, provider_client, retry_wait
from cost_mcp.store import connect
from cost_mcp.store.connection import Conn
from tests.sources.fake_providers import (
    AZURE_CLIENT,
    AZURE_SCOPE,
    AZURE_SECRET,
    AZURE_TENANT,
    AZURE_TOKEN,
    FakeAzure,
    Router,
    fixture,
    json_response,
    ms,
)

WINDOW = Window(ms("2026-10-01"), ms("2026-10-04"))
RES = f"{AZURE_SCOPE}/resourceGroups/AI-RG/providers/Microsoft.CognitiveServices/accounts/my-openai"
INPUT = "gpt-4o-0513 Input global Tokens"
OUTPUT = "gpt-4o-0513 Output global Tokens"


def rows() -> list[tuple[str, str, str, object, str]]:
    return [
        ("2026-10-01", RES, INPUT, 1.25, "USD"),
        ("2026-10-01", RES, OUTPUT, 0.1, "USD"),
        ("2026-10-02", RES, INPUT, 2.000000001, "USD"),
        ("2026-09-30", RES, INPUT, 99, "USD"),  # before the window: never asked for
    ]


@pytest.fixture
def configured(home: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("AZURE_TENANT_ID", AZURE_TENANT)
    monkeypatch.setenv("AZURE_CLIENT_ID", AZURE_CLIENT)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", AZURE_SECRET)
    monkeypatch.setenv("COST_MCP_AZURE_SCOPE", AZURE_SCOPE)
    monkeypatch.setenv("COST_MCP_AZURE_BASE_URL", "https://management.example")
    monkeypatch.setenv("COST_MCP_AZURE_TOKEN_URL", "https://login.example")
    return load_settings()


def run(settings: Settings, fake: FakeAzure, window: Window = WINDOW) -> Feed:
    async def go() -> Feed:
        transport = httpx2.MockTransport(fake.handle)
        async with provider_client(settings, "azure", key_hint=azure.KEY_HINT, transport=transport) as client:
            [feed] = await azure.fetch(client, Pricer(), window)
            return feed

    return anyio.run(go)


def test_documented_example_is_mapped_by_column_name() -> None:
    page = json.loads(json.dumps(fixture("azure_query_documented.json")), parse_float=Decimal)
    found = azure.rows(page)
    assert found[0] == {
        "PreTaxCost": Decimal("19.545363672276512"),
        "ResourceGroup": "JapanUnifia-Trial",
        "UsageDate": 20180331,
        "Currency": "USD",
    }
    buckets, notes = azure.to_buckets(found, Window(ms("2018-03-31"), ms("2018-04-01")))
    assert notes == []
    # 19.545363672276512 + 173.41979241290323 + 20.35941656262545 + 0.16677720329728665, each
    # rounded half-even to nano-USD once.
    assert (
        sum(b.cost_nanos or 0 for b in buckets)
        == 19_545_363_672 + 173_419_792_413 + 20_359_416_563 + 166_777_203
    )


@pytest.mark.no_ledger
def test_token_then_paged_query_gives_exact_buckets_per_day_resource_and_meter(configured: Settings) -> None:
    fake = FakeAzure(rows(), page_size=2)
    feed = run(configured, fake)
    assert fake.tokens == 1
    queries = fake.calls(FakeAzure.QUERY)
    assert len(queries) == 2  # 3 rows in the window, 2 a page: the nextLink was followed
    assert queries[0].url.params["api-version"] == "2025-03-01"
    assert json.loads(queries[0].content) == json.loads(queries[1].content)  # same body on nextLink
    body = json.loads(queries[0].content)
    assert body["timePeriod"] == {"from": "2026-10-01T00:00:00Z", "to": "2026-10-03T23:59:59Z"}
    assert body["dataset"]["granularity"] == "Daily"
    assert [g["name"] for g in body["dataset"]["grouping"]] == ["ResourceId", "Meter"]
    for request in queries:
        assert request.headers["authorization"] == f"Bearer {AZURE_TOKEN}"
        assert AZURE_SECRET not in str(request.url) + request.content.decode()
    by = {(b.start_ms, b.line_item): b for b in feed.buckets}
    assert by[(ms("2026-10-01"), INPUT)].cost_nanos == 1_250_000_000
    assert by[(ms("2026-10-01"), OUTPUT)].cost_nanos == 100_000_000
    assert by[(ms("2026-10-02"), INPUT)].cost_nanos == 2_000_000_001
    assert {b.project for b in feed.buckets} == {"ai-rg/my-openai"}
    assert (feed.start_ms, feed.end_ms, feed.note) == (WINDOW.start_ms, WINDOW.end_ms, "")


@pytest.mark.no_ledger
def test_columns_in_another_order_are_read_by_name(configured: Settings) -> None:
    fake = FakeAzure(rows(), page_size=10, columns=("Currency", "Meter", "Cost", "ResourceId", "UsageDate"))
    assert sum(b.cost_nanos or 0 for b in run(configured, fake).buckets) == 3_350_000_001


@pytest.mark.no_ledger
def test_a_refused_secret_is_an_auth_error_naming_the_variables_never_the_secret(
    configured: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "wrong-secret-value-0123456789")
    fake = FakeAzure(rows())
    with pytest.raises(ProviderAuthError) as err:
        run(load_settings(), fake)
    assert "AZURE_CLIENT_SECRET" in str(err.value) and "HTTP 401" in str(err.value)
    assert "wrong-secret-value" not in str(err.value)
    assert fake.calls(FakeAzure.QUERY) == []


@pytest.mark.no_ledger
def test_missing_settings_are_named(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_CLIENT_SECRET", AZURE_SECRET)
    settings = load_settings()
    assert settings.provider_key("azure") is None
    assert settings.provider_missing("azure") == [
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "COST_MCP_AZURE_SCOPE",
    ]
    with pytest.raises(ProviderAuthError, match="AZURE_TENANT_ID, AZURE_CLIENT_ID, COST_MCP_AZURE_SCOPE"):
        provider_client(settings, "azure")


@pytest.mark.no_ledger
def test_429_retry_headers_are_honoured_and_the_query_retried(configured: Settings) -> None:
    headers = {
        "x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after": "7",
        "x-ms-ratelimit-microsoft.costmanagement-entity-retry-after": "3",
        "retry-after": "2",
    }
    throttled = json_response(429, fixture("azure_error_429.json"), headers)
    assert _retry_after(throttled) == 7.0
    exc = RetryableStatus("429", 429, _retry_after(throttled))
    assert retry_wait(exc, 1, remaining=100.0) == 7.0
    assert retry_wait(exc, 1, remaining=5.0) is False  # would end past the deadline: report now
    fake = FakeAzure(rows(), page_size=10)
    fake.script(FakeAzure.QUERY, throttled)
    feed = run(configured, fake)
    assert len(fake.calls(FakeAzure.QUERY)) == 2
    assert sum(b.cost_nanos or 0 for b in feed.buckets) == 3_350_000_001


@pytest.mark.no_ledger
def test_throttled_to_the_end_is_an_error_with_the_providers_message(configured: Settings) -> None:
    fake = FakeAzure(rows())
    fake.script(FakeAzure.QUERY, *[json_response(429, fixture("azure_error_429.json"))] * 5)
    with pytest.raises(ProviderResponseError, match=r"rate limited \(HTTP 429\): Too many requests"):
        run(configured, fake)


@pytest.mark.no_ledger
def test_malformed_json_is_an_error_not_an_empty_day(configured: Settings) -> None:
    fake = FakeAzure(rows())
    fake.script(FakeAzure.QUERY, httpx2.Response(200, content=b'{"properties": {"rows": [[1.5, 2026'))
    with pytest.raises(ProviderResponseError, match="malformed JSON"):
        run(configured, fake)


@pytest.mark.no_ledger
def test_a_next_link_to_another_origin_is_refused_before_the_token_goes_there(configured: Settings) -> None:
    fake = FakeAzure(rows())
    page = fixture("azure_query_documented.json")
    page["properties"]["nextLink"] = "https://evil.example/steal?$skiptoken=1"
    page["properties"]["rows"] = []
    fake.script(FakeAzure.QUERY, json_response(200, page))
    with pytest.raises(ProviderResponseError, match=r"evil\.example"):
        run(configured, fake)
    assert all(r.url.host != "evil.example" for r in fake.requests)


@pytest.mark.no_ledger
def test_other_currencies_stay_out_of_usd_and_are_named_in_the_note(configured: Settings) -> None:
    fake = FakeAzure(
        [
            ("2026-10-01", RES, INPUT, 1.25, "USD"),
            ("2026-10-01", RES + "-eu", INPUT, 40.5, "EUR"),
            ("2026-10-02", RES + "-eu", INPUT, 0.7, "EUR"),
            ("2026-10-02", RES + "-uk", INPUT, 3, "GBP"),
        ],
        page_size=10,
    )
    feed = run(configured, fake)
    assert [b.cost_nanos for b in feed.buckets] == [1_250_000_000]
    assert feed.note == (
        "billed in EUR, not in USD totals: EUR 41.2 over 2 day(s) (2026-10-01 to 2026-10-02); "
        "billed in GBP, not in USD totals: GBP 3 over 1 day(s) (2026-10-02 to 2026-10-02)"
    )
    assert azure.not_usd_notes(feed.note) == [
        ("EUR 41.2", date(2026, 10, 1), date(2026, 10, 2)),
        ("GBP 3", date(2026, 10, 2), date(2026, 10, 2)),
    ]
    assert feed.days == WINDOW.days


@pytest.mark.no_ledger
def test_a_scope_billed_only_in_euros_marks_no_day_as_billed(configured: Settings) -> None:
    fake = FakeAzure([("2026-10-01", RES, INPUT, 40.5, "EUR")], page_size=10)
    feed = run(configured, fake)
    assert feed.buckets == () and feed.days == 0
    assert "EUR 40.5" in feed.note


@pytest.mark.no_ledger
def test_a_bad_scope_is_refused_before_any_request(
    configured: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COST_MCP_AZURE_SCOPE", "/subscriptions/x/../../elsewhere?x=1")
    fake = FakeAzure(rows())
    with pytest.raises(ProviderResponseError, match="COST_MCP_AZURE_SCOPE"):
        run(load_settings(), fake)
    assert fake.calls(FakeAzure.QUERY) == []


@pytest.fixture
def conn(configured: Settings, ledger_made: None) -> Iterator[Conn]:
    c = connect(configured.db)
    yield c
    c.close()


def test_sync_writes_the_days_and_keeps_the_note(conn: Conn, configured: Settings) -> None:
    router = Router(azure=FakeAzure(rows(), page_size=2))
    now = datetime(2026, 10, 3, 12, tzinfo=UTC)
    result = sync.sync_providers(
        conn, configured, Pricer(), ["azure"], days=3, transport=router.transport(), now=now
    )
    [row] = result.sources
    assert row.ok and row.source == "azure" and row.billed_usd == Decimal("3.350000001")
    assert (row.first_day, row.last_day) == ("2026-10-01", "2026-10-03")


@pytest.mark.no_ledger
def test_an_answer_of_another_shape_is_an_error(configured: Settings) -> None:
    fake = FakeAzure(rows())
    fake.script(FakeAzure.QUERY, json_response(200, {"properties": {"columns": [], "rows": "none"}}))
    with pytest.raises(ProviderResponseError, match=r"unexpected Cost Management response: Expected `array`"):
        run(configured, fake)


@pytest.mark.no_ledger
def test_the_token_and_the_secret_are_scrubbed_from_provider_error_text(configured: Settings) -> None:
    fake = FakeAzure(rows())
    echo = f"bad request from Bearer {AZURE_TOKEN} with secret {AZURE_SECRET}"
    fake.script(FakeAzure.QUERY, json_response(400, {"error": {"code": "BadRequest", "message": echo}}))
    with pytest.raises(ProviderResponseError) as err:
        run(configured, fake)
    text = str(err.value)
    assert "HTTP 400" in text and "[redacted]" in text
    assert AZURE_TOKEN not in text and AZURE_SECRET not in text
