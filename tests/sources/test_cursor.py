"""Cursor's Admin API: charged cents per member, day and model, inclusive millisecond ranges, pages,
rate limits and the cycle's team spend; and what a sync writes and keeps."""

from __future__ import annotations

import base64
import json
import re
import time
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
from cost_mcp.sources import cursor
from cost_mcp.sources.billing import Feed, Window, decode
from cost_mcp.sources.http import provider_client
from cost_mcp.store import connect
from cost_mcp.store.buckets import DAY_MS
from cost_mcp.store.connection import Conn
from tests.sources.fake_providers import CURSOR_KEY, FakeCursor, Router, fixture, json_response, ms

EVENTS, SPEND = cursor.EVENTS_PATH, cursor.SPEND_PATH
NOW = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)
WINDOW = Window(ms("2026-10-06"), ms("2026-11-06"))  # a first sync: 31 days through today


def exact(payload: Any) -> Any:
    """A payload as the client decodes it: JSON numbers as Decimal, never float."""
    return json.loads(json.dumps(payload), parse_float=Decimal)


def decoded(raw: dict[str, Any]) -> cursor.UsageEvent:
    return decode(raw, cursor.UsageEvent, EVENTS)


def event(
    at: int, email: str = "developer@company.com", cents: object = 21.36232, **extra: Any
) -> dict[str, Any]:
    [documented] = fixture("cursor_usage_events_documented.json")["usageEvents"]
    return {**documented, "timestamp": str(at), "userEmail": email, "chargedCents": cents, **extra}


def team() -> FakeCursor:
    """Two developers over Nov 3-5: $0.50 + $1.25 + $0.2136232 charged, one included event at $0."""
    return FakeCursor(
        events=[
            event(ms("2026-11-03", 9), cents=50),
            event(ms("2026-11-03", 10), email="second@company.com", cents="125", model="gpt-5"),
            event(ms("2026-11-04", 23)),
            event(
                ms("2026-11-05", 8),
                email="second@company.com",
                cents=3.5,
                kind="Included in Business",
                isChargeable=False,
            ),
        ],
        spend=[
            *fixture("cursor_spend_documented.json")["teamMemberSpend"],
            {"email": "second@company.com", "spendCents": 125, "overallSpendCents": "300.5"},
            {"email": "third@company.com", "spendCents": 0},
        ],
        cycle_start=ms("2026-11-01"),
    )


@pytest.fixture
def configured(home: object, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("CURSOR_ADMIN_API_KEY", CURSOR_KEY)
    return load_settings()


def run(
    settings: Settings, handler: Callable[[httpx2.Request], httpx2.Response], window: Window = WINDOW
) -> Feed:
    async def go() -> Feed:
        transport = httpx2.MockTransport(handler)
        async with provider_client(
            settings, "cursor", cursor.auth_headers, key_hint=cursor.KEY_HINT, transport=transport
        ) as client:
            [feed] = await cursor.fetch(client, Pricer(), window)
            return feed

    return anyio.run(go)


# --- one event ----------------------------------------------------------------------------------------


def test_documented_event_is_charged_cents_converted_exactly() -> None:
    [item] = exact(fixture("cursor_usage_events_documented.json"))["usageEvents"]
    b = cursor.event_bucket(decoded(item))
    assert b.cost_nanos == 213_623_200  # 21.36232 cents = $0.2136232 (model cost + Cursor's fee)
    assert b.start_ms == ms("2025-06-26")  # "1750979225854" is an epoch-ms string: 23:07 UTC
    assert (b.member, b.model, b.line_item, b.requests) == (
        "developer@company.com",
        "claude-4.5-sonnet",
        "Usage-based",
        1,
    )
    assert (b.input_tokens, b.output_tokens, b.cache_read_tokens, b.cache_write_5m_tokens) == (
        126,
        450,
        11964,
        6112,
    )


@pytest.mark.parametrize(
    ("cents", "nanos"),
    [
        (Decimal("21.36232"), 213_623_200),
        ("21.36232", 213_623_200),
        (5, 50_000_000),
        (Decimal("2450.125487"), 24_501_254_870),
    ],
)
def test_cents_as_numbers_or_strings(cents: object, nanos: int) -> None:
    assert cursor.event_bucket(decoded(event(1, cents=cents))).cost_nanos == nanos


@pytest.mark.parametrize("cents", [None, 21.36, "twenty", True])
def test_a_chargeable_event_without_usable_cents_is_refused_not_free(cents: object) -> None:
    with pytest.raises(ProviderResponseError, match=r"chargedCents is not an amount|chargedCents:"):
        cursor.event_bucket(decoded(event(1, cents=cents)))


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"isChargeable": "yes"}, "isChargeable: expected `bool | null`, got `str`"),
        ({"tokenUsage": [126, 450]}, "tokenUsage is not an object"),
        ({"tokenUsage": {"inputTokens": "many"}}, "inputTokens: expected a count, got 'many'"),
        ({"kind": {"name": "Usage-based"}}, "kind: expected a string, got {'name': 'Usage-based'}"),
        ({"userEmail": ["developer@company.com"]}, "userEmail: expected a string"),
    ],
)
@pytest.mark.no_ledger
def test_a_wrong_typed_event_field_fails_the_sync_naming_it(
    configured: Settings, change: dict[str, Any], said: str
) -> None:
    fake = team()
    fake.events[0] = {**fake.events[0], **change}
    with pytest.raises(ProviderResponseError, match=f"^unexpected response: {EVENTS} {re.escape(said)}"):
        run(configured, fake.handle)


@pytest.mark.no_ledger
def test_a_wrong_typed_spend_field_fails_the_sync_naming_it(configured: Settings) -> None:
    fake = team()
    fake.spend[0] = {**fake.spend[0], "spendCents": "lots"}
    with pytest.raises(
        ProviderResponseError, match=f"^unexpected response: {SPEND} spendCents: not a decimal"
    ):
        run(configured, fake.handle)


def test_an_event_cursor_does_not_charge_is_kept_at_zero() -> None:
    b = cursor.event_bucket(decoded(event(1, cents=None, kind="Included in Business", isChargeable=False)))
    assert (b.cost_nanos, b.line_item, b.requests) == (0, "Included in Business (not charged)", 1)


def test_an_event_without_token_usage_or_email() -> None:
    item = event(1, tokenUsage=None, isTokenBasedCall=False)
    item.pop("userEmail")
    item["serviceAccountName"] = "ci"
    b = cursor.event_bucket(decoded(exact(item)))
    assert (b.member, b.input_tokens) == ("service account ci", 0)


# --- ranges: 30 days at most, both bounds inclusive ---------------------------------------------------


def test_pieces_are_30_days_inclusive_without_overlap() -> None:
    first, second = cursor.pieces(WINDOW)
    assert first == (ms("2026-10-06"), ms("2026-11-05") - 1)
    assert second == (ms("2026-11-05"), ms("2026-11-06") - 1)
    assert second[0] == first[1] + 1  # the boundary millisecond is asked for exactly once
    assert cursor.pieces(Window(ms("2026-11-05"), ms("2026-11-06"))) == [
        (ms("2026-11-05"), ms("2026-11-06") - 1)
    ]


@pytest.mark.no_ledger
def test_events_at_the_boundary_millisecond_are_counted_once(configured: Settings) -> None:
    boundary = ms("2026-11-05")
    fake = FakeCursor(events=[event(boundary - 1, cents=1), event(boundary, cents=2)])
    feed = run(configured, fake.handle)
    assert feed.cost_nanos == 30_000_000
    bodies = fake.bodies(EVENTS)
    assert [(b["startDate"], b["endDate"]) for b in bodies] == [
        (ms("2026-10-06"), boundary - 1),
        (boundary, ms("2026-11-06") - 1),
    ]


# --- fetching ------------------------------------------------------------------------------------------


@pytest.mark.no_ledger
def test_fetch_pages_through_events_and_sums_the_team_spend(configured: Settings) -> None:
    fake = team()
    feed = run(configured, fake.handle)
    assert (feed.provider, feed.kind, feed.start_ms, feed.end_ms) == (
        "cursor",
        "cost",
        WINDOW.start_ms,
        WINDOW.end_ms,
    )
    assert feed.cost_nanos == 1_963_623_200  # $0.50 + $1.25 + $0.2136232 + $0 (included)
    members = {(b.start_ms, b.member, b.model, b.line_item): b.cost_nanos for b in feed.buckets}
    assert members == {
        (ms("2026-11-03"), "developer@company.com", "claude-4.5-sonnet", "Usage-based"): 500_000_000,
        (ms("2026-11-03"), "second@company.com", "gpt-5", "Usage-based"): 1_250_000_000,
        (ms("2026-11-04"), "developer@company.com", "claude-4.5-sonnet", "Usage-based"): 213_623_200,
        (
            ms("2026-11-05"),
            "second@company.com",
            "claude-4.5-sonnet",
            "Included in Business (not charged)",
        ): 0,
    }
    assert feed.note == (
        "team spend this cycle (since 2026-11-01): $25.75 on-demand, "
        "$27.51 including included usage, over 3 member(s)"
    )
    bodies = fake.bodies(EVENTS)
    assert [(b["page"], b["pageSize"]) for b in bodies] == [(1, 1000), (2, 1000), (1, 1000)]
    assert [b["page"] for b in fake.bodies(SPEND)] == [1, 2]
    expected = base64.b64encode(f"{CURSOR_KEY}:".encode()).decode()
    assert all(r.headers["authorization"] == f"Basic {expected}" for r in fake.requests)
    assert all(r.method == "POST" for r in fake.requests)


@pytest.mark.no_ledger
def test_429_with_retry_after_then_success(configured: Settings) -> None:
    fake = team()
    fake.script(EVENTS, json_response(429, fixture("cursor_error_429.json"), {"retry-after": "2"}))
    assert run(configured, fake.handle).cost_nanos == 1_963_623_200


@pytest.mark.no_ledger
def test_persistent_429_gives_up_with_cursors_message(configured: Settings) -> None:
    fake = team()
    fake.script(EVENTS, *[json_response(429, fixture("cursor_error_429.json"), {"retry-after": "0"})] * 5)
    with pytest.raises(ProviderResponseError) as caught:
        run(configured, fake.handle)
    assert str(caught.value) == (
        "/teams/filtered-usage-events: rate limited (HTTP 429): Rate limit exceeded. "
        "Please try again later.; gave up after 5 attempts"
    )


@pytest.mark.parametrize("status", [401, 403])
@pytest.mark.no_ledger
def test_a_refused_key_names_the_variable(configured: Settings, status: int) -> None:
    fake = team()
    fake.script(EVENTS, json_response(status, {"error": "Unauthorized", "message": "Invalid API key"}))
    with pytest.raises(ProviderAuthError) as caught:
        run(configured, fake.handle)
    assert str(caught.value).startswith(
        f"needs an admin key in CURSOR_ADMIN_API_KEY: /teams/filtered-usage-events answered HTTP {status}"
    )
    assert "Enterprise" in str(caught.value)  # the hint says who can have one


@pytest.mark.no_ledger
def test_a_wrong_key_is_refused(home: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CURSOR_ADMIN_API_KEY", "key_wrong_0123456789")
    with pytest.raises(ProviderAuthError, match="HTTP 401"):
        run(load_settings(), team().handle)


@pytest.mark.no_ledger
def test_500_and_malformed_json(configured: Settings) -> None:
    fake = team()
    fake.script(SPEND, *[json_response(500, {"error": "Internal Server Error", "message": "oops"})] * 5)
    with pytest.raises(
        ProviderResponseError, match=r"^/teams/spend: HTTP 500: oops; gave up after 5 attempts$"
    ):
        run(configured, fake.handle)
    fake = team()
    fake.script(EVENTS, httpx2.Response(200, content=b'{"usageEvents": [{"timestamp": "17'))
    with pytest.raises(ProviderResponseError, match="returned malformed JSON"):
        run(configured, fake.handle)


@pytest.mark.no_ledger
def test_a_page_that_always_has_a_next_page_stops(
    configured: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cursor, "MAX_PAGES", 3)
    endless = json_response(200, {"usageEvents": [], "pagination": {"hasNextPage": True}})
    fake = team()
    fake.script(EVENTS, *[endless] * 10)
    with pytest.raises(ProviderResponseError, match="still had more after 3 pages"):
        run(configured, fake.handle)


@pytest.mark.no_ledger
def test_num_pages_is_followed_when_has_next_page_is_missing(configured: Settings) -> None:
    pages = [
        json_response(
            200, {"usageEvents": [event(ms("2026-11-03"), cents=1)], "pagination": {"numPages": 2}}
        ),
        json_response(
            200, {"usageEvents": [event(ms("2026-11-04"), cents=2)], "pagination": {"numPages": 2}}
        ),
        json_response(200, {"usageEvents": []}),
    ]
    fake = team()
    fake.script(EVENTS, *pages)
    assert run(configured, fake.handle).cost_nanos == 30_000_000


# --- the documented rate limit ---------------------------------------------------------------------------


def test_the_pacer_keeps_to_the_limit_per_path(monkeypatch: pytest.MonkeyPatch) -> None:
    pacer = cursor.Pacer({"/a": 2}, period=0.3)
    stamps: list[float] = []
    waits: list[float] = []
    sleep = anyio.sleep

    async def counted_sleep(seconds: float) -> None:
        waits.append(seconds)
        await sleep(seconds)

    monkeypatch.setattr(anyio, "sleep", counted_sleep)

    async def go() -> None:
        for _ in range(5):
            await pacer.wait("/a")
            stamps.append(time.monotonic())
        waited = len(waits)
        await pacer.wait("/b")  # its own budget (the default), no wait
        # Told by the sleeps it asked for, not by a wall-clock bound (it was < 50 ms), which a
        # machine that stalls the test for that long fails with no wait at all.
        assert waits[waited:] == []

    anyio.run(go)
    # at most 2 requests in any 0.3 s: the 3rd waits for the 1st to age out, the 5th for the 3rd
    assert stamps[2] - stamps[0] >= 0.3 - 0.01
    assert stamps[4] - stamps[2] >= 0.3 - 0.01
    assert waits
    assert cursor.RATE_LIMITS == {EVENTS: 60, SPEND: 20}


@pytest.mark.no_ledger
def test_a_long_backfill_is_paced_not_hammered(configured: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cursor, "RATE_LIMITS", {EVENTS: 2, SPEND: 20})
    monkeypatch.setattr(cursor, "RATE_PERIOD_SECONDS", 0.25)
    fake = team()  # 3 events pages over 2 pieces, then spend
    started = time.monotonic()
    run(configured, fake.handle)
    assert time.monotonic() - started >= 0.25 - 0.01
    times = [r for r in fake.requests if r.url.path == EVENTS]
    assert len(times) == 3


# --- through the sync ------------------------------------------------------------------------------------


@pytest.fixture
def conn(configured: Settings, ledger_made: None) -> Iterator[Conn]:
    c = connect(configured.db)
    yield c
    c.close()


def sync_at(conn: Conn, settings: Settings, fake: FakeCursor, now: datetime = NOW, **kw: Any) -> SyncResult:
    return sync.sync_providers(
        conn, settings, Pricer(), transport=Router(cursor=fake).transport(), now=now, **kw
    )


def test_sync_writes_charges_per_member_and_the_team_spend_note(conn: Conn, configured: Settings) -> None:
    result = sync_at(conn, configured, team())
    [row] = result.sources
    assert (row.source, row.ok, row.days, row.billed_usd) == ("cursor", True, 31, Decimal("1.9636232"))
    assert row.note is not None and row.note.startswith("team spend this cycle (since 2026-11-01): $25.75")
    p = resolve(configured, None, "2026-11-01", "2026-11-05", None)
    spent = get_spend(conn, configured, p, ["member"])
    assert {r.group["member"]: r.cost_usd for r in spent.rows} == {
        "developer@company.com": Decimal("0.7136232"),
        "second@company.com": Decimal("1.25"),
    }
    assert {r.basis for r in spent.rows} == {"billed"}
    status = {s.source: s for s in spent.sources}["cursor"]
    assert status.kind == "billing api" and status.last_refresh is not None
    assert "team spend this cycle" in status.last_refresh


def test_a_failure_in_the_middle_of_pagination_keeps_the_previous_data(
    conn: Conn, configured: Settings
) -> None:
    fake = team()
    sync_at(conn, configured, fake)
    before = conn.execute("SELECT * FROM provider_buckets ORDER BY id").fetchall()
    fake.events[0]["chargedCents"] = 9_999
    failing = json_response(500, {"error": "Internal Server Error", "message": "oops"})
    fake.script(EVENTS, fake.answer, *[failing] * 5)  # page 1 fine, page 2 never
    result = sync_at(conn, configured, fake, NOW + timedelta(hours=2))
    [row] = result.sources
    assert (
        row.ok is False
        and row.error == "/teams/filtered-usage-events: HTTP 500: oops; gave up after 5 attempts"
    )
    assert [b["page"] for b in fake.bodies(EVENTS)[-6:]] == [1, 2, 2, 2, 2, 2]
    assert conn.execute("SELECT * FROM provider_buckets ORDER BY id").fetchall() == before


def test_automatic_refresh_polls_cursor_at_most_hourly(conn: Conn, configured: Settings) -> None:
    fake = team()
    transport = Router(cursor=fake).transport()
    sync.refresh(conn, configured, Pricer(), transport=transport, now=NOW)
    asked = len(fake.requests)
    assert asked > 0
    # past the 15-minute TTL, within Cursor's hour: nothing is fetched
    sync.refresh(conn, configured, Pricer(), transport=transport, now=NOW + timedelta(minutes=30))
    assert len(fake.requests) == asked
    sync.refresh(conn, configured, Pricer(), transport=transport, now=NOW + timedelta(minutes=61))
    assert len(fake.requests) > asked
    # an explicit sync is not held back
    asked = len(fake.requests)
    sync_at(conn, configured, fake, NOW + timedelta(minutes=62))
    assert len(fake.requests) > asked


def test_an_event_outside_the_window_is_not_written(conn: Conn, configured: Settings) -> None:
    fake = team()
    stray = json_response(
        200,
        {
            "usageEvents": [event(ms("2026-09-01"), cents=100), event(ms("2026-11-04"), cents=1)],
            "pagination": {},
        },
    )
    fake.script(EVENTS, stray)
    sync_at(conn, configured, fake, days=3)
    days = {r[0] for r in conn.execute("SELECT start_ms FROM provider_buckets WHERE provider = 'cursor'")}
    assert min(days) >= ms("2026-11-03") and (max(days) - min(days)) // DAY_MS <= 2
