"""Groq's Prometheus metrics: 5-minute rates in, whole daily token counts out, priced as estimated;
and an organisation without the metrics API told so, not shown an empty success."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import anyio
import httpx2
import pytest

from cost_mcp import sync
from cost_mcp.analytics.spend import get_spend, resolve
from cost_mcp.config import Settings, load_settings
from cost_mcp.errors import ProviderAuthError, ProviderResponseError
from cost_mcp.models import SyncResult
from cost_mcp.pricing import Pricer
from cost_mcp.sources import groq
from cost_mcp.sources.billing import Feed, Window
from cost_mcp.sources.http import provider_client
from cost_mcp.store import connect
from cost_mcp.store.buckets import DAY_MS
from cost_mcp.store.connection import Conn
from tests.sources.fake_providers import GROQ_KEY, FakeGroq, Router, fixture, json_response, ms

LLAMA = ("llama-3.3-70b-versatile", "project_abc")
NOW = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)
TOKENS_IN, TOKENS_OUT, REQUESTS = groq.METRICS["input"], groq.METRICS["output"], groq.METRICS["requests"]


def days(first: str, n: int) -> Window:
    return Window(ms(first), ms(first) + n * DAY_MS)


def steady() -> FakeGroq:
    """Nov 3: 2.5 input and 0.5 output tokens a second, one request every 100 s, all day long."""
    fake = FakeGroq()
    fake.rates[TOKENS_IN][LLAMA] = {"2026-11-03": "2.5"}
    fake.rates[TOKENS_OUT][LLAMA] = {"2026-11-03": "0.5"}
    fake.rates[REQUESTS][LLAMA] = {"2026-11-03": "0.01"}
    return fake


@pytest.fixture
def configured(home: object, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("GROQ_API_KEY", GROQ_KEY)
    return load_settings()


def run(settings: Settings, handler: Callable[[httpx2.Request], httpx2.Response], window: Window) -> Feed:
    async def go() -> Feed:
        transport = httpx2.MockTransport(handler)
        async with provider_client(settings, "groq", groq.auth_headers, transport=transport) as client:
            [feed] = await groq.fetch(client, Pricer(), window)
            return feed

    return anyio.run(go)


# --- rates to daily tokens ----------------------------------------------------------------------------


@pytest.mark.no_ledger
def test_a_steady_day_integrates_to_exact_counts_and_is_priced_with_groq(configured: Settings) -> None:
    fake = steady()
    feed = run(configured, fake.handle, days("2026-11-02", 3))
    assert (feed.provider, feed.kind, feed.start_ms, feed.end_ms) == (
        "groq",
        "usage",
        ms("2026-11-02"),
        ms("2026-11-05"),
    )  # every day covered, with or without use
    [b] = feed.buckets
    assert (b.start_ms, b.model, b.project) == (ms("2026-11-03"), *LLAMA)
    # 288 five-minute steps: 2.5/s x 300 s x 288 = 216,000; 0.5/s -> 43,200; 0.01/s -> 864 requests
    assert (b.input_tokens, b.output_tokens, b.requests) == (216_000, 43_200, 864)
    # llama-3.3-70b-versatile on Groq: $0.59/M in, $0.79/M out = $0.12744 + $0.034128
    assert b.cost_nanos == 161_568_000
    assert b.line_item == "metrics (5-minute rates)"


@pytest.mark.no_ledger
def test_queries_ask_for_5_minute_steps_in_chunks_of_10_days(configured: Settings) -> None:
    fake = FakeGroq()
    run(configured, fake.handle, days("2026-10-06", 31))
    asked = sorted(
        (int(r.url.params["start"]), int(r.url.params["end"]), r.url.params["query"]) for r in fake.requests
    )
    assert len(asked) == 12  # 10 + 10 + 10 + 1 days, three metrics each
    first = ms("2026-10-06") // 1000
    assert asked[0][:2] == (first + 300, first + 10 * 86_400)
    assert asked[-1][:2] == (ms("2026-11-05") // 1000 + 300, ms("2026-11-06") // 1000)
    assert {q for *_, q in asked} == {
        "sum by (model, project_id) (model_project_id:tokens_in:rate5m)",
        "sum by (model, project_id) (model_project_id:tokens_out:rate5m)",
        "sum by (model, project_id) (model_project_id_status_code:requests:rate5m)",
    }
    assert all(r.url.params["step"] == "300s" for r in fake.requests)
    assert fake.requests[0].headers["authorization"] == f"Bearer {GROQ_KEY}"


@pytest.mark.no_ledger
def test_a_step_ending_at_midnight_belongs_to_the_day_before(configured: Settings) -> None:
    fake = FakeGroq()
    midnight = ms("2026-11-04") // 1000
    fake.samples[TOKENS_IN][LLAMA] = {midnight: "1", midnight + 300: "2"}
    feed = run(configured, fake.handle, days("2026-11-03", 2))
    by_day = {b.start_ms: b.input_tokens for b in feed.buckets}
    assert by_day == {ms("2026-11-03"): 300, ms("2026-11-04"): 600}


@pytest.mark.parametrize(
    ("samples", "tokens"),
    [
        (["0.005"], 2),  # 1.5 tokens: half-even rounds to 2
        (["0.005", "0.005", "0.005"], 4),  # 4.5 -> 4: rounded once per day, not per step
        (["0.0016666", "0.0016667"], 1),  # 0.49998 + 0.50001 = 0.99999
        (["0.001"], 0),  # 0.3 of a token
        (["NaN", "1"], 300),  # no value at a step: skipped
        (["1.5", 2], 1_050),  # numbers (1.5 is unquoted below) are read as well as strings
    ],
)
@pytest.mark.no_ledger
def test_a_days_total_is_rounded_once_half_even(
    configured: Settings, samples: list[Any], tokens: int
) -> None:
    fake = FakeGroq()
    start = ms("2026-11-03") // 1000
    fake.samples[TOKENS_IN][LLAMA] = {start + 300 * (i + 1): v for i, v in enumerate(samples)}
    original = fake.answer

    def exact(request: httpx2.Request) -> httpx2.Response:
        # JSON cannot carry Decimal: send numbers as numbers
        response = original(request)
        text = response.read().decode().replace('"1.5"', "1.5")
        return httpx2.Response(200, content=text.encode(), headers=response.headers)

    feed = run(configured, exact, days("2026-11-03", 1))
    assert sum(b.input_tokens for b in feed.buckets) == tokens


@pytest.mark.no_ledger
def test_an_unknown_model_keeps_its_tokens_unpriced(configured: Settings) -> None:
    fake = FakeGroq()
    fake.rates[TOKENS_IN][("mystery-model-9", "")] = {"2026-11-03": "1"}
    [b] = run(configured, fake.handle, days("2026-11-03", 1)).buckets
    assert (b.model, b.input_tokens, b.cost_nanos) == ("mystery-model-9", 86_400, None)


@pytest.mark.no_ledger
def test_a_day_with_no_samples_is_covered_with_no_bucket(configured: Settings) -> None:
    feed = run(configured, FakeGroq().handle, days("2026-11-03", 2))
    assert (feed.days, feed.buckets) == (2, ())


# --- errors ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [403, 404])
@pytest.mark.no_ledger
def test_no_metrics_entitlement_is_a_clear_error(configured: Settings, status: int) -> None:
    fake = FakeGroq()
    fake.script(groq.QUERY_RANGE_PATH, *[json_response(status, {"error": {"message": "Forbidden"}})] * 12)
    with pytest.raises(ProviderAuthError) as caught:
        run(configured, fake.handle, days("2026-11-03", 1))
    message = str(caught.value)
    assert message.startswith(
        "Groq's metrics API needs the Enterprise plan; usage from Groq cannot be synced: "
        f"/v1/metrics/prometheus/api/v1/query_range answered HTTP {status} for GROQ_API_KEY."
    )
    assert "record_usage(provider='groq')" in message
    assert len(fake.requests) <= 3  # never retried


@pytest.mark.no_ledger
def test_a_wrong_key_is_told_apart(home: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk_wrong_0123456789abcdef")
    with pytest.raises(ProviderAuthError, match=r"^Groq refused GROQ_API_KEY \(.* HTTP 401\): check the key"):
        run(load_settings(), FakeGroq().handle, days("2026-11-03", 1))


@pytest.mark.no_ledger
def test_429_then_success(configured: Settings) -> None:
    fake = steady()
    fake.script(
        groq.QUERY_RANGE_PATH, json_response(429, {"error": "too many requests"}, {"retry-after": "1"})
    )
    [b] = run(configured, fake.handle, days("2026-11-03", 1)).buckets
    assert b.input_tokens == 216_000
    assert len(fake.requests) == 4


@pytest.mark.no_ledger
def test_persistent_500_is_an_error(configured: Settings) -> None:
    fake = steady()
    fake.script(groq.QUERY_RANGE_PATH, *[json_response(500, {"status": "error", "error": "internal"})] * 15)
    with pytest.raises(
        ProviderResponseError, match=r"query_range: HTTP 500: internal; gave up after 5 attempts"
    ):
        run(configured, fake.handle, days("2026-11-03", 1))


@pytest.mark.no_ledger
def test_a_prometheus_error_is_reported(configured: Settings) -> None:
    fake = FakeGroq()
    fake.script(groq.QUERY_RANGE_PATH, json_response(400, fixture("groq_error_bad_data.json")))
    with pytest.raises(ProviderResponseError, match=r"HTTP 400: 1:5: parse error: unexpected identifier$"):
        run(configured, fake.handle, days("2026-11-03", 1))
    fake = FakeGroq()
    fake.script(
        groq.QUERY_RANGE_PATH,
        json_response(200, {"status": "error", "errorType": "timeout", "error": "slow"}),
    )
    with pytest.raises(ProviderResponseError, match=r"answered status 'error' \(timeout: slow\)"):
        run(configured, fake.handle, days("2026-11-03", 1))


@pytest.mark.no_ledger
def test_an_instant_vector_is_not_taken_for_a_range(configured: Settings) -> None:
    fake = FakeGroq()
    fake.script(groq.QUERY_RANGE_PATH, json_response(200, fixture("groq_query_documented.json")))
    with pytest.raises(ProviderResponseError, match="returned a 'vector' result, not a matrix"):
        run(configured, fake.handle, days("2026-11-03", 1))


@pytest.mark.no_ledger
def test_malformed_json_is_an_error(configured: Settings) -> None:
    fake = FakeGroq()
    fake.script(groq.QUERY_RANGE_PATH, httpx2.Response(200, content=b'{"status":"success","data":{'))
    with pytest.raises(ProviderResponseError, match="returned malformed JSON"):
        run(configured, fake.handle, days("2026-11-03", 1))


@pytest.mark.parametrize("value", ["-1", "+Inf", "lots", None, True])
@pytest.mark.no_ledger
def test_unusable_samples_are_refused(configured: Settings, value: object) -> None:
    body = {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [{"metric": {"model": "m"}, "values": [[ms("2026-11-03") // 1000 + 300, value]]}],
        },
    }
    with pytest.raises(ProviderResponseError, match=r"a (rate|sample value)"):
        list(groq.step_samples(body, ms("2026-11-03"), ms("2026-11-04")))


@pytest.mark.parametrize(
    ("series", "said"),
    [
        ({"metric": {"model": ["m"]}, "values": []}, "metric[*]: expected a string, got ['m']"),
        (
            {"metric": {"model": "m"}, "values": [[1, "2", 3]]},
            "values[0]: expected `array` of length 2, got 3",
        ),
        ({"metric": {"model": "m"}, "values": {"1": "2"}}, "values is not a list"),
        ("m", "result[0] is not an object"),
    ],
)
def test_a_wrong_typed_series_is_refused_naming_the_field(series: object, said: str) -> None:
    body = {"status": "success", "data": {"resultType": "matrix", "result": [series]}}
    with pytest.raises(
        ProviderResponseError, match=f"^unexpected response: {groq.QUERY_RANGE_PATH} {re.escape(said)}"
    ):
        list(groq.step_samples(body, ms("2026-11-03"), ms("2026-11-04")))


# --- through the sync ----------------------------------------------------------------------------------


@pytest.fixture
def conn(configured: Settings, ledger_made: None) -> Iterator[Conn]:
    c = connect(configured.db)
    yield c
    c.close()


def sync_at(conn: Conn, settings: Settings, fake: FakeGroq, now: datetime = NOW) -> SyncResult:
    return sync.sync_providers(conn, settings, Pricer(), transport=Router(groq=fake).transport(), now=now)


def test_sync_stores_estimated_usage_that_outranks_local_records(conn: Conn, configured: Settings) -> None:
    from cost_mcp.analytics.agents import record_usage
    from cost_mcp.pricing import Tokens

    # An agent reported one Groq call on Nov 3; the metrics cover that day and are the total.
    record_usage(
        conn,
        configured,
        Pricer(),
        provider="groq",
        model="llama-3.3-70b-versatile",
        tokens=Tokens(input=1_000_000),
        agent="batch-bot",
        request_id="r1",
        timestamp=datetime(2026, 11, 3, 9, tzinfo=UTC),
    )
    result = sync_at(conn, configured, steady())
    [row] = result.sources
    assert (row.source, row.ok, row.days, row.billed_usd) == ("groq", True, 31, None)
    p = resolve(configured, None, "2026-11-01", "2026-11-05", None)
    spent = get_spend(conn, configured, p, ["provider", "basis"])
    assert {(r.group["provider"], r.basis): r.cost_usd for r in spent.rows} == {
        ("groq", "estimated"): Decimal("0.161568")
    }
    assert [(a.group["provider"], a.cost_usd) for a in spent.attribution] == [("groq", Decimal("0.59"))]
    assert {s.source: s.kind for s in spent.sources}["groq"] == "usage api"


def test_no_entitlement_in_the_sync_is_an_error_row_not_an_empty_success(
    conn: Conn, configured: Settings
) -> None:
    result = sync_at(conn, configured, FakeGroq(entitled=False))
    [row] = result.sources
    assert row.ok is False and row.error is not None
    assert row.error.startswith(
        "Groq's metrics API needs the Enterprise plan; usage from Groq cannot be synced"
    )
    assert row.days == 0
    assert conn.execute("SELECT COUNT(*) FROM provider_coverage WHERE provider = 'groq'").fetchone() == (0,)
    assert result.warnings == [f"groq: sync failed ({row.error}); none of its data is in the ledger yet"]


def test_a_failing_chunk_leaves_the_previous_data_intact(conn: Conn, configured: Settings) -> None:
    fake = steady()
    sync_at(conn, configured, fake)
    before = conn.execute("SELECT * FROM provider_buckets ORDER BY id").fetchall()
    fake.rates[TOKENS_IN][LLAMA]["2026-11-03"] = "9"
    # the last chunk's input query fails for good after the others answered
    fake.script(groq.QUERY_RANGE_PATH, fake.answer, fake.answer, *[json_response(503, {"error": "down"})] * 5)
    later = NOW + timedelta(hours=1)
    result = sync.sync_providers(
        conn, configured, Pricer(), transport=Router(groq=fake).transport(), now=later, days=3
    )
    [row] = result.sources
    assert row.ok is False and row.error is not None and "HTTP 503: down" in row.error
    assert conn.execute("SELECT * FROM provider_buckets ORDER BY id").fetchall() == before


def test_without_the_metrics_plan_the_answer_gives_one_fix_not_two_contradicting_ones(
    conn: Conn, configured: Settings
) -> None:
    """The QA case (h-qaprov F5): a company whose GROQ_API_KEY serves its own apps was told to remove
    that key from cost-mcp's configuration, then, in the same warning, to "sync again later", and
    that Groq's "billed spend" was missing (Groq has no bill here: its usage is estimated). Then the
    advice after the error repeated the error's own fix (h-cover): said once now."""
    error = sync_at(conn, configured, FakeGroq(entitled=False)).sources[0].error
    assert error is not None and "COST_MCP_SYNC_SKIP=groq" in error and "remove GROQ_API_KEY" not in error
    p = resolve(configured, None, "2026-11-01", "2026-11-05", None)
    [warning] = [w for w in get_spend(conn, configured, p, []).warnings if w.startswith("PARTIAL: groq")]
    assert warning == (
        f"PARTIAL: groq: never synced ({error}); its usage is not in this answer, only what local logs "
        "and record_usage estimate."
    )
    assert warning.count("COST_MCP_SYNC_SKIP") == 1  # the error's own fix, not said again after it
