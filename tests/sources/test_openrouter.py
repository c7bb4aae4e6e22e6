"""OpenRouter activity, today from the keys' daily usage, limits and balance: documented payloads in,
exact ledger buckets out; and what a sync writes, keeps and replaces."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import StringIO
from typing import Any

import anyio
import httpx2
import pytest

from cost_mcp import sync
from cost_mcp.analytics.spend import get_spend, resolve
from cost_mcp.cli.app import Console
from cost_mcp.cli.data import _render_sync
from cost_mcp.config import Settings, load_settings
from cost_mcp.errors import ProviderAuthError, ProviderResponseError
from cost_mcp.models import SyncResult
from cost_mcp.pricing import Pricer
from cost_mcp.sources import openrouter
from cost_mcp.sources.billing import Feed, Window, decode
from cost_mcp.sources.http import provider_client
from cost_mcp.store import connect
from cost_mcp.store.buckets import DAY_MS
from cost_mcp.store.connection import Conn
from tests.sources.fake_providers import (
    DEFAULT_WORKSPACE,
    OPENROUTER_KEY,
    FakeOpenRouter,
    Router,
    fixture,
    json_response,
    ms,
)

TODAY = date(2026, 11, 5)
NOW = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)
WINDOW = Window(ms("2026-10-06"), ms("2026-11-06"))  # 31 days through today, as a first sync asks


def exact(payload: Any) -> Any:
    """A payload as the client decodes it: JSON numbers as Decimal, never float."""
    return json.loads(json.dumps(payload), parse_float=Decimal)


def decoded(raw: dict[str, Any], *, raw_usage: bool = False) -> openrouter.ActivityRow:
    """An activity row as the fetcher reads it, decoded as the client would (numbers as Decimal);
    with ``raw_usage`` its ``usage`` is kept as given, to hand it what a JSON decoder never would."""
    rest = exact(json.loads(json.dumps({k: v for k, v in raw.items() if k != "usage"}, default=str)))
    usage = raw.get("usage") if raw_usage else exact(json.loads(json.dumps(raw.get("usage"), default=str)))
    return decode({**rest, "usage": usage}, openrouter.ActivityRow, "/api/v1/activity")


def row(day: str, model: str = "openai/gpt-4.1", usage: object = 0.015, **extra: Any) -> dict[str, Any]:
    [documented] = fixture("openrouter_activity_documented.json")["data"]
    return {**documented, "date": day, "model": model, "usage": usage, **extra}


def account() -> FakeOpenRouter:
    """A management key: activity on Nov 3 and 4 (yesterday), three keys that spent $1.75 today."""
    return FakeOpenRouter(
        TODAY,
        activity=[
            row("2026-11-03", usage=1.25, requests=10, prompt_tokens=1_000, completion_tokens=500),
            row(
                "2026-11-03",
                model="anthropic/claude-sonnet-4.5",
                usage="0.50",  # a string amount is read exactly too
                provider_name="Anthropic",
                requests=2,
                prompt_tokens=20_000,
                completion_tokens=1_000,
                byok_usage_inference=0,
            ),
            row("2026-11-04", usage=0.015),  # the documented row, BYOK $0.012
            row("2026-09-01", usage=99),  # older than 30 days: activity no longer lists it
        ],
        keys=[
            {"hash": "a", "usage_daily": 1.5},
            {"hash": "b", "usage_daily": "0.25", "disabled": True},
            {"hash": "c", "usage_daily": 0},
        ],
    )


@pytest.fixture
def configured(home: object, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("OPENROUTER_API_KEY", OPENROUTER_KEY)
    return load_settings()


def run(
    settings: Settings, handler: Callable[[httpx2.Request], httpx2.Response], window: Window = WINDOW
) -> Any:
    async def go() -> list[Feed]:
        transport = httpx2.MockTransport(handler)
        async with provider_client(
            settings, "openrouter", openrouter.auth_headers, transport=transport
        ) as client:
            return await openrouter.fetch(client, Pricer(), window)

    return anyio.run(go)


# --- one row ----------------------------------------------------------------------------------------


def test_documented_activity_row_is_billed_in_exact_dollars() -> None:
    [item] = exact(fixture("openrouter_activity_documented.json"))["data"]
    b = openrouter.cost_bucket(decoded(item))
    assert b.cost_nanos == 15_000_000  # $0.015, US dollars (not cents)
    assert (b.start_ms, b.end_ms) == (ms("2025-08-24"), ms("2025-08-25"))
    assert (b.model, b.line_item, b.requests, b.input_tokens, b.output_tokens) == (
        "openai/gpt-4.1",
        "OpenAI",
        5,
        50,
        125,  # completion tokens already include the 25 reasoning tokens
    )


def test_activity_tokens_are_priced_with_provider_openrouter() -> None:
    [item] = exact(fixture("openrouter_activity_documented.json"))["data"]
    # openai/gpt-4.1 on OpenRouter: $2/M input, $8/M output: 50 x 2e-6 + 125 x 8e-6 = $0.0011
    assert openrouter.usage_bucket(decoded(item), Pricer()).cost_nanos == 1_100_000
    sonnet = exact(row("2025-08-24", model="anthropic/claude-sonnet-4.5", requests=1, completion_tokens=0))
    # $3/M input under OpenRouter's id for the model
    assert openrouter.usage_bucket(decoded(sonnet), Pricer()).cost_nanos == 150_000


def test_an_unknown_model_stays_unpriced_but_billed() -> None:
    item = exact(row("2025-08-24", model="someone/mystery-model-9"))
    assert openrouter.usage_bucket(decoded(item), Pricer()).cost_nanos is None
    assert openrouter.cost_bucket(decoded(item)).cost_nanos == 15_000_000


@pytest.mark.parametrize(
    ("usage", "nanos"), [(Decimal("0.015"), 15_000_000), ("0.015", 15_000_000), (2, 2_000_000_000), (0, 0)]
)
def test_usage_as_numbers_or_strings(usage: object, nanos: int) -> None:
    assert openrouter.cost_bucket(decoded(row("2025-08-24", usage=usage), raw_usage=True)).cost_nanos == nanos


@pytest.mark.parametrize("usage", [None, 0.015, True, "a lot"])
def test_unusable_usage_is_refused_not_zero(usage: object) -> None:
    with pytest.raises(ProviderResponseError, match="usage"):
        openrouter.cost_bucket(decoded(row("2025-08-24", usage=usage), raw_usage=True))


def test_a_bad_date_is_refused() -> None:
    with pytest.raises(ProviderResponseError, match="an activity date 'yesterday'"):
        openrouter.cost_bucket(decoded(row("yesterday")))


# --- a management key -------------------------------------------------------------------------------


@pytest.mark.no_ledger
def test_management_key_reads_activity_today_from_every_key_and_the_balance(configured: Settings) -> None:
    fake = account()
    cost, usage, today = run(configured, fake.handle)
    assert (cost.kind, usage.kind, today.kind) == ("cost", "usage", "cost")
    # activity: the last 30 completed days (Oct 6 is older than that), yesterday included
    assert (cost.start_ms, cost.end_ms) == (ms("2026-10-06"), ms("2026-11-05"))
    assert (usage.start_ms, usage.end_ms) == (cost.start_ms, cost.end_ms)
    assert cost.cost_nanos == 1_765_000_000  # 1.25 + "0.50" + 0.015, exactly
    assert {(b.model, b.line_item) for b in cost.buckets} == {
        ("openai/gpt-4.1", "OpenAI"),
        ("anthropic/claude-sonnet-4.5", "Anthropic"),
    }
    # today: usage_daily over all keys, disabled included, read over two pages
    assert (today.start_ms, today.end_ms) == (ms("2026-11-05"), ms("2026-11-06"))
    [partial] = today.buckets
    assert (partial.cost_nanos, partial.model, partial.line_item) == (
        1_750_000_000,
        "",
        "today so far, from /key (partial)",
    )
    assert today.note == (
        "today (2026-11-05) so far $1.75; balance $74.75 ($100.50 credits, $25.75 used); "
        "key limit $100.00 (resets monthly), $74.50 remaining; "
        "BYOK inference $0.02 was billed by the upstream providers, not counted here"
    )
    default = [r for r in fake.calls("/api/v1/keys") if "workspace_id" not in r.url.params]
    assert [r.url.params.get("offset") for r in default] == ["0", "2", "3"]  # until an empty page
    assert all(r.url.params["include_disabled"] == "true" for r in fake.calls("/api/v1/keys"))
    assert "date" not in fake.calls("/api/v1/activity")[0].url.params  # one request, all 30 days
    assert fake.requests[0].headers["authorization"] == f"Bearer {OPENROUTER_KEY}"


@pytest.mark.no_ledger
def test_yesterday_is_left_to_its_partial_row_until_activity_lists_it(configured: Settings) -> None:
    fake = account()
    fake.activity = [r for r in fake.activity if r["date"] != "2026-11-04"]
    cost, usage, today = run(configured, fake.handle)
    assert cost.end_ms == usage.end_ms == ms("2026-11-04")  # Nov 4 not replaced by nothing
    assert today.start_ms == ms("2026-11-05")


@pytest.mark.no_ledger
def test_a_one_day_window_is_today_only(configured: Settings) -> None:
    cost, usage, today = run(configured, account().handle, Window(ms("2026-11-05"), ms("2026-11-06")))
    assert cost.days == usage.days == 0
    assert today.days == 1


# --- an inference key --------------------------------------------------------------------------------


@pytest.mark.no_ledger
def test_an_inference_key_degrades_to_what_key_gives(configured: Settings) -> None:
    fake = FakeOpenRouter(TODAY, activity=[row("2026-11-04")], management=False)
    [today] = run(configured, fake.handle)
    assert (today.kind, today.start_ms, today.cost_nanos) == ("cost", ms("2026-11-05"), 25_500_000_000)
    assert today.note == (
        "today (2026-11-05) so far $25.50; " + openrouter.INFERENCE_KEY_NOTE + "; "
        "key limit $100.00 (resets monthly), $74.50 remaining"
    )
    assert [r.url.path for r in fake.requests] == ["/api/v1/key"]  # /key said so: nothing else asked


@pytest.mark.no_ledger
def test_without_flags_a_403_on_activity_means_an_inference_key(configured: Settings) -> None:
    fake = FakeOpenRouter(TODAY, management=False, key_data={"limit": None})
    for flag in ("is_management_key", "is_provisioning_key"):
        del fake.key_data[flag]
    [today] = run(configured, fake.handle)
    assert openrouter.INFERENCE_KEY_NOTE in today.note
    assert "the key has no credit limit" in today.note
    assert [r.url.path for r in fake.requests] == ["/api/v1/key", "/api/v1/activity"]


# --- errors ------------------------------------------------------------------------------------------


@pytest.mark.no_ledger
def test_a_refused_key_names_the_variable(home: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-wrong-key-0123456789")
    with pytest.raises(ProviderAuthError) as caught:
        run(load_settings(), account().handle)
    assert str(caught.value).startswith("needs a key in OPENROUTER_API_KEY: /api/v1/key answered HTTP 401")
    assert "wrong-key" not in str(caught.value)


@pytest.mark.no_ledger
def test_a_403_on_credits_with_a_management_key_is_an_error(configured: Settings) -> None:
    fake = account()
    fake.script("/api/v1/credits", json_response(403, fixture("openrouter_error_403_management.json")))
    with pytest.raises(ProviderAuthError, match=r"/api/v1/credits answered HTTP 403"):
        run(configured, fake.handle)


@pytest.mark.no_ledger
def test_429_on_activity_is_retried_after_retry_after(configured: Settings) -> None:
    fake = account()
    limited = json_response(
        429, {"error": {"code": 429, "message": "Rate limit exceeded"}}, {"retry-after": "1"}
    )
    fake.script("/api/v1/activity", limited)
    cost, _, _ = run(configured, fake.handle)
    assert cost.cost_nanos == 1_765_000_000
    assert len(fake.calls("/api/v1/activity")) == 2


@pytest.mark.no_ledger
def test_persistent_500_gives_up_with_the_message(configured: Settings) -> None:
    fake = account()
    fake.script(
        "/api/v1/activity", *[json_response(500, {"error": {"code": 500, "message": "Internal"}})] * 5
    )
    with pytest.raises(
        ProviderResponseError, match=r"^/api/v1/activity: HTTP 500: Internal; gave up after 5"
    ):
        run(configured, fake.handle)


@pytest.mark.no_ledger
def test_malformed_json_is_an_error(configured: Settings) -> None:
    fake = account()
    fake.script("/api/v1/key", httpx2.Response(200, content=b'{"data": {"usage_daily": 1'))
    with pytest.raises(ProviderResponseError, match=r"^/api/v1/key returned malformed JSON"):
        run(configured, fake.handle)


@pytest.mark.no_ledger
def test_activity_that_is_not_a_list_is_an_error(configured: Settings) -> None:
    fake = account()
    fake.script("/api/v1/activity", json_response(200, {"data": {"rows": []}}))
    with pytest.raises(ProviderResponseError, match="/api/v1/activity data is not a list"):
        run(configured, fake.handle)


@pytest.mark.no_ledger
def test_a_key_without_usage_daily_is_an_error_not_zero(configured: Settings) -> None:
    fake = FakeOpenRouter(TODAY, management=False)
    del fake.key_data["usage_daily"]
    with pytest.raises(ProviderResponseError, match=r"^/api/v1/key did not report usage_daily"):
        run(configured, fake.handle)
    fake.key_data["usage_daily"] = "unknown"
    with pytest.raises(ProviderResponseError, match=r"/api/v1/key usage_daily: not a decimal amount"):
        run(configured, fake.handle)


@pytest.mark.parametrize(
    ("path", "change", "said"),
    [
        (
            "key",
            {"is_management_key": "yes"},
            "/api/v1/key is_management_key: expected `bool | null`, got `str`",
        ),
        ("key", {"limit_remaining": [74.5]}, "/api/v1/key limit_remaining: not an amount: [Decimal('74.5')]"),
        ("credits", {"total_usage": None}, "/api/v1/credits total_usage: not an amount: None"),
        ("activity", {"requests": "five"}, "/api/v1/activity requests: expected a count, got 'five'"),
        ("activity", {"model": {"id": "x"}}, "/api/v1/activity model: expected a string, got {'id': 'x'}"),
        ("keys", {"usage_daily": True}, "/api/v1/keys usage_daily: not an amount: True"),
    ],
)
@pytest.mark.no_ledger
def test_a_wrong_typed_field_fails_the_sync_naming_it(
    configured: Settings, path: str, change: dict[str, Any], said: str
) -> None:
    fake = account()
    if path == "key":
        fake.key_data.update(change)
    elif path == "credits":
        fake.credits = {**fake.credits, **change}
    elif path == "activity":
        fake.activity[0] = {**fake.activity[0], **change}
    else:
        fake.keys[0] = {**fake.keys[0], **change}
    with pytest.raises(ProviderResponseError, match=f"^unexpected response: {re.escape(said)} \\(at "):
        run(configured, fake.handle)


@pytest.mark.no_ledger
def test_a_management_key_needs_no_usage_daily_of_its_own(configured: Settings) -> None:
    fake = account()
    del fake.key_data["usage_daily"]
    assert run(configured, fake.handle)[-1].cost_nanos == 1_750_000_000


@pytest.mark.no_ledger
def test_today_sums_the_keys_of_every_workspace(configured: Settings) -> None:
    # /keys without workspace_id lists the default workspace only; two more workspaces spent today.
    fake = account()
    fake.workspaces = [
        {"id": DEFAULT_WORKSPACE, "name": "Default"},
        {"id": "ws-prod", "name": "Production"},
        {"id": "ws-lab", "name": "Lab"},
    ]
    fake.keys += [
        {"hash": "p1", "usage_daily": 2, "workspace_id": "ws-prod"},
        {"hash": "p2", "usage_daily": "0.5", "workspace_id": "ws-prod"},
        {"hash": "p3", "usage_daily": 0.125, "workspace_id": "ws-prod", "disabled": True},
        {"hash": "l1", "usage_daily": 3, "workspace_id": "ws-lab"},
    ]
    *_, today = run(configured, fake.handle)
    assert today.cost_nanos == 7_375_000_000  # 1.75 default (counted once) + 2.625 prod + 3 lab
    listed = {r.url.params.get("workspace_id") for r in fake.calls("/api/v1/keys")}
    assert listed == {None, DEFAULT_WORKSPACE, "ws-prod", "ws-lab"}
    pages = [r.url.params["offset"] for r in fake.calls("/api/v1/workspaces")]
    assert pages == ["0", "1", "2"]  # read up to total_count


@pytest.mark.no_ledger
def test_keys_listed_again_are_not_counted_twice(configured: Settings) -> None:
    fake = account()
    first_page = json_response(200, {"data": fake.keys[:2]})
    fake.script("/api/v1/keys", first_page, first_page)  # the offset ignored
    with pytest.raises(ProviderResponseError, match=r"listed key 'a' twice \(offset 2\)"):
        run(configured, fake.handle)


# --- through the sync ----------------------------------------------------------------------------------


@pytest.fixture
def conn(configured: Settings, ledger_made: None) -> Iterator[Conn]:
    c = connect(configured.db)
    yield c
    c.close()


def sync_at(conn: Conn, settings: Settings, fake: FakeOpenRouter, now: datetime) -> SyncResult:
    transport = Router(openrouter=fake).transport()
    return sync.sync_providers(conn, settings, Pricer(), transport=transport, now=now)


def day_rows(conn: Conn, day: str) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT kind, model, line_item, cost_nanos FROM provider_buckets "
        "WHERE provider = 'openrouter' AND start_ms = ? ORDER BY 1, 2, 3",
        (ms(day),),
    ).fetchall()


def test_sync_writes_billed_days_today_and_the_note(conn: Conn, configured: Settings) -> None:
    result = sync_at(conn, configured, account(), NOW)
    [synced] = result.sources
    assert (synced.source, synced.ok, synced.days) == ("openrouter", True, 31)
    assert synced.billed_usd == Decimal("3.515")  # activity $1.765 + today so far $1.75
    assert synced.note is not None and synced.note.startswith(
        "today (2026-11-05) so far $1.75; balance $74.75"
    )
    detail = conn.execute("SELECT detail FROM source_state WHERE source = 'openrouter'").fetchone()[0]
    assert detail.endswith(synced.note)
    assert day_rows(conn, "2026-11-05") == [("cost", "", "today so far, from /key (partial)", 1_750_000_000)]
    p = resolve(configured, None, "2026-11-01", "2026-11-05", None)
    spent = get_spend(conn, configured, p, ["day", "basis"])
    assert {(r.group["day"], r.basis): r.cost_usd for r in spent.rows} == {
        ("2026-11-03", "billed"): Decimal("1.75"),
        ("2026-11-04", "billed"): Decimal("0.015"),
        ("2026-11-05", "billed"): Decimal("1.75"),
    }
    # the estimate from activity's tokens only attributes under the billed days
    assert {a.basis for a in spent.attribution} == {"estimated"}
    statuses = {s.source: s for s in spent.sources}
    assert statuses["openrouter"].last_refresh is not None
    assert "balance $74.75" in statuses["openrouter"].last_refresh


def test_a_day_with_nothing_spent_yet_has_no_row_for_today(conn: Conn, configured: Settings) -> None:
    # The keys spent nothing today: no "(model not reported)" $0.00 row, the day listed empty.
    fake = account()
    for key in fake.keys:
        key["usage_daily"] = 0
    [synced] = sync_at(conn, configured, fake, NOW).sources
    assert synced.note is not None and synced.note.startswith("today (2026-11-05) so far $0.00")
    assert day_rows(conn, "2026-11-05") == []
    p = resolve(configured, None, "2026-11-05", "2026-11-05", None)
    spent = get_spend(conn, configured, p, ["model"])
    assert (spent.rows, spent.attribution, spent.total_usd) == ([], [], Decimal(0))
    [status] = [s for s in spent.sources if s.source == "openrouter"]
    assert status.coverage is not None and status.coverage.empty_billed_days == 1


def test_the_partial_row_is_replaced_once_activity_reports_the_day(conn: Conn, configured: Settings) -> None:
    fake = account()
    sync_at(conn, configured, fake, NOW)
    # Just after midnight: activity has not processed Nov 5 yet; the partial row stays.
    fake.today = date(2026, 11, 6)
    for key in fake.keys:
        key["usage_daily"] = 0
    sync_at(conn, configured, fake, NOW + timedelta(hours=12, minutes=10))
    assert day_rows(conn, "2026-11-05") == [("cost", "", "today so far, from /key (partial)", 1_750_000_000)]
    # Later: activity lists Nov 5 per model; the whole day is replaced, the partial row is gone.
    fake.activity.append(row("2026-11-05", usage=1.8, prompt_tokens=0, completion_tokens=0))
    sync_at(conn, configured, fake, NOW + timedelta(hours=20))
    assert day_rows(conn, "2026-11-05") == [
        ("cost", "openai/gpt-4.1", "OpenAI", 1_800_000_000),
        ("usage", "openai/gpt-4.1", "OpenAI", 0),
    ]


def test_a_failure_in_the_middle_of_the_keys_pages_keeps_the_previous_data(
    conn: Conn, configured: Settings
) -> None:
    fake = account()
    sync_at(conn, configured, fake, NOW)
    before = conn.execute("SELECT * FROM provider_buckets ORDER BY id").fetchall()
    fake.activity[0]["usage"] = 50
    page_one = fake.answer
    fake.script(
        "/api/v1/keys",
        page_one,
        *[json_response(502, {"error": {"code": 502, "message": "Bad gateway"}})] * 5,
    )
    result = sync_at(conn, configured, fake, NOW + timedelta(hours=1))
    [failed] = result.sources
    assert failed.ok is False and failed.error is not None
    assert failed.error.startswith("/api/v1/keys: HTTP 502: Bad gateway; gave up after 5 attempts")
    assert conn.execute("SELECT * FROM provider_buckets ORDER BY id").fetchall() == before


def test_an_inference_key_sync_is_a_success_that_says_what_is_missing(
    conn: Conn, configured: Settings
) -> None:
    result = sync_at(conn, configured, FakeOpenRouter(TODAY, management=False), NOW)
    [synced] = result.sources
    assert (synced.ok, synced.days, synced.billed_usd) == (True, 1, Decimal("25.5"))
    assert synced.note is not None and openrouter.INFERENCE_KEY_NOTE in synced.note
    assert result.warnings == []
    assert conn.execute(
        "SELECT COUNT(*) FROM provider_coverage WHERE provider = 'openrouter'"
    ).fetchone() == (1,)


@pytest.mark.no_ledger
def test_the_day_span_is_exact(configured: Settings) -> None:
    # 30 completed days before Nov 5: Oct 6 .. Nov 4; a longer window starts at Oct 6 all the same.
    start, end = openrouter.activity_span(
        Window(ms("2026-09-01"), ms("2026-11-06")), [decoded(row("2026-11-04"))]
    )
    assert (start, end) == (ms("2026-10-06"), ms("2026-11-05"))
    assert (end - start) // DAY_MS == 30


def test_a_sync_before_activity_lists_yesterday_says_so_as_get_spend_does(
    conn: Conn, configured: Settings
) -> None:
    # Nov 4 is not processed yet: the sync covered Oct 6 to Nov 3 and today, 30 days, not 31
    # "through today"; the table names the day get_spend warns about.
    fake = account()
    fake.activity = [r for r in fake.activity if r["date"] != "2026-11-04"]
    result = sync_at(conn, configured, fake, NOW)
    [synced] = result.sources
    assert synced.days == 30
    assert (synced.first_day, synced.last_day, synced.not_listed_yet) == (
        "2026-10-06",
        "2026-11-05",
        ["2026-11-04"],
    )
    screen = StringIO()
    _render_sync(Console(file=screen, width=200), result)
    assert "30 (2026-10-06 to 2026-11-05; 2026-11-04 not listed yet)" in screen.getvalue()
    p = resolve(configured, None, "2026-11-01", "2026-11-05", None)
    warnings = get_spend(conn, configured, p, ["day"]).warnings
    assert any(w.startswith("openrouter: its report does not list 2026-11-04 yet") for w in warnings)
    # Once listed, the next sync (its last 3 days again) covers every day of its window.
    [later] = sync_at(conn, configured, account(), NOW + timedelta(hours=1)).sources
    assert (later.days, later.not_listed_yet) == (3, [])
