"""Provider sync against fake admin APIs: what is fetched, what is written, what survives a failure,
and how synced data changes the totals."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from cost_mcp import sync
from cost_mcp.analytics.breakdown import model_breakdown
from cost_mcp.analytics.spend import MEMBER_SYNC_ERROR, Filters, get_spend, resolve
from cost_mcp.config import Settings, load_settings
from cost_mcp.errors import InvalidInputError
from cost_mcp.models import SpendResult, SyncResult
from cost_mcp.pricing import Pricer
from cost_mcp.sources import anthropic
from cost_mcp.store import connect
from cost_mcp.store.connection import Conn
from tests.sources.claude_logs import assistant, session_file, write
from tests.sources.fake_providers import (
    ANTHROPIC_KEY,
    OPENAI_KEY,
    FakeAnthropic,
    FakeOpenAI,
    Router,
    fixture,
    json_response,
)

SET_ON = date(2026, 12, 1)
"""The day a subscription is set or removed on here (the configured timezone's, as callers pass it)."""

NOW = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)
COSTS = "/v1/organization/costs"
COMPLETIONS = "/v1/organization/usage/completions"


def epoch_s(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp())


def openai_fake() -> FakeOpenAI:
    return FakeOpenAI(
        {
            COSTS: {
                "2026-11-03": [
                    {
                        "object": "organization.costs.result",
                        "amount": {"value": 1.25, "currency": "usd"},
                        "line_item": "gpt-4o-2024-08-06, input",
                        "project_id": "proj_abc",
                    },
                    {
                        "object": "organization.costs.result",
                        "amount": {"value": "2.50", "currency": "usd"},
                        "line_item": "gpt-4o-2024-08-06, output",
                        "project_id": "proj_abc",
                    },
                ],
                "2026-11-04": [
                    {"object": "organization.costs.result", "amount": {"value": 0.06, "currency": "usd"}}
                ],
            },
            COMPLETIONS: {
                "2026-11-05": [
                    {
                        "object": "organization.usage.completions.result",
                        "input_tokens": 1_000_000,
                        "output_tokens": 0,
                        "num_model_requests": 10,
                        "model": "gpt-4o-mini-2024-07-18",
                        "project_id": "proj_abc",
                    }
                ]
            },
        },
        page_size=2,
    )


def anthropic_fake() -> FakeAnthropic:
    [cost] = fixture("anthropic_cost_report_documented.json")["data"][0]["results"]
    [record] = fixture("anthropic_claude_code_documented.json")["data"]
    return FakeAnthropic(
        {
            anthropic.COST_PATH: {
                "2026-11-03": [cost],  # "123.78912" cents
                "2026-11-04": [{"amount": "250", "currency": "USD", "description": "Web Search Usage"}],
            },
            anthropic.MESSAGES_PATH: {
                "2026-11-04": [
                    {
                        "uncached_input_tokens": 1_000_000,
                        "model": "claude-sonnet-4-5",
                        "context_window": "0-200k",
                        "workspace_id": "wrkspc_team",
                    }
                ]
            },
            anthropic.CLAUDE_CODE_PATH: {"2026-11-04": [record]},
        },
        page_size=2,
    )


@pytest.fixture
def keys(home: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", ANTHROPIC_KEY)
    return load_settings()


@pytest.fixture
def router() -> Router:
    return Router(openai_fake(), anthropic_fake())


def run_sync(
    conn: Conn,
    settings: Settings,
    router: Router,
    now: datetime = NOW,
    **kwargs: Any,
) -> SyncResult:
    return sync.sync_providers(conn, settings, Pricer(), transport=router.transport(), now=now, **kwargs)


def rows(result: SyncResult) -> dict[str, Any]:
    return {s.source: s for s in result.sources}


def dump(conn: Conn, provider: str) -> list[tuple[Any, ...]]:
    buckets = conn.execute(
        "SELECT kind, start_ms, model, project, workspace, line_item, member, cost_nanos, input_tokens "
        "FROM provider_buckets WHERE provider = ? ORDER BY 1, 2, 3, 4, 5, 6, 7",
        (provider,),
    ).fetchall()
    coverage = conn.execute(
        "SELECT kind, start_ms FROM provider_coverage WHERE provider = ? ORDER BY 1, 2", (provider,)
    ).fetchall()
    return [*buckets, *coverage]


def state(conn: Conn, source: str) -> dict[str, Any]:
    row = conn.execute(
        "SELECT last_attempt, last_success, last_error, covered_start_ms, covered_end_ms, detail "
        "FROM source_state WHERE source = ?",
        (source,),
    ).fetchone()
    names = ("last_attempt", "last_success", "last_error", "covered_start_ms", "covered_end_ms", "detail")
    return dict(zip(names, row, strict=True)) if row else {}


def spend(conn: Conn, settings: Settings, group_by: list[str]) -> SpendResult:
    p = resolve(settings, None, "2026-11-01", "2026-11-05", None)
    return get_spend(conn, settings, p, group_by)


# --- what a sync fetches and writes ---------------------------------------------------------------


def test_first_sync_fetches_31_days_and_records_each_source(
    conn: Conn, keys: Settings, router: Router
) -> None:
    result = run_sync(conn, keys, router)
    by = rows(result)
    assert set(by) == {"openai", "anthropic", "anthropic-claude-code"}
    assert all(r.ok and r.error is None for r in by.values())
    assert (by["openai"].days, by["openai"].first_day, by["openai"].last_day) == (
        31,
        "2026-10-06",
        "2026-11-05",
    )
    assert by["openai"].billed_usd == Decimal("3.81")
    assert by["anthropic"].billed_usd == Decimal("3.7378912")
    assert by["anthropic-claude-code"].billed_usd is None
    assert result.warnings == []
    first_costs = router.openai.calls(COSTS)[0].url.params
    assert (first_costs["start_time"], first_costs["end_time"]) == (
        str(epoch_s("2026-10-06")),
        str(epoch_s("2026-11-06")),
    )
    assert len(router.anthropic.calls(anthropic.CLAUDE_CODE_PATH)) == 31  # one request per day
    st = state(conn, "openai")
    assert st["last_success"] == st["last_attempt"] == NOW.isoformat()
    assert st["last_error"] is None
    assert (st["covered_start_ms"], st["covered_end_ms"]) == (
        epoch_s("2026-10-06") * 1000,
        epoch_s("2026-11-06") * 1000,
    )
    assert st["detail"].startswith(f"synced 31 day(s): {by['openai'].buckets} bucket(s) in ")
    covered = conn.execute(
        "SELECT kind, COUNT(*) FROM provider_coverage WHERE provider = 'openai' GROUP BY kind"
    ).fetchall()
    assert sorted(covered) == [("cost", 31), ("usage", 31)]  # days with no spend are covered too


def test_resync_refetches_the_last_3_days_and_replaces_them(
    conn: Conn, keys: Settings, router: Router
) -> None:
    run_sync(conn, keys, router)
    before = {p: dump(conn, p) for p in ("openai", "anthropic", "anthropic-claude-code")}
    router.openai.requests.clear()
    again = run_sync(conn, keys, router, now=NOW + timedelta(hours=1))
    assert rows(again)["openai"].days == 3
    assert rows(again)["openai"].billed_usd == Decimal("3.81")
    assert {p: dump(conn, p) for p in before} == before  # replaced, never added to
    params = router.openai.calls(COSTS)[0].url.params
    assert params["start_time"] == str(epoch_s("2026-11-03"))
    assert state(conn, "openai")["covered_start_ms"] == epoch_s("2026-10-06") * 1000


def test_days_forces_a_longer_backfill(conn: Conn, keys: Settings, router: Router) -> None:
    result = run_sync(conn, keys, router, providers=["openai"], days=62)
    assert [r.source for r in result.sources] == ["openai"]
    assert rows(result)["openai"].first_day == "2026-09-05"
    assert router.anthropic.requests == []


def test_sync_refuses_what_it_cannot_do(conn: Conn, keys: Settings, router: Router) -> None:
    with pytest.raises(
        InvalidInputError,
        match="billing sync exists for openai, anthropic, openrouter, groq, cursor, azure, google, aws only",
    ):
        run_sync(conn, keys, router, providers=["gemini"])
    with pytest.raises(InvalidInputError, match=r"^cursor: needs an admin key in CURSOR_ADMIN_API_KEY \("):
        run_sync(conn, keys, router, providers=["cursor"])
    with pytest.raises(InvalidInputError, match=r"^groq: needs a key in GROQ_API_KEY \("):
        run_sync(conn, keys, router, providers=["groq"])
    with pytest.raises(InvalidInputError, match="days must be between 1 and 366"):
        run_sync(conn, keys, router, days=0)


def test_sync_without_keys_says_which_to_set(home: Path, router: Router) -> None:
    settings = load_settings()
    c = connect(settings.db)
    try:
        with pytest.raises(
            InvalidInputError,
            match="set one or more of OPENAI_ADMIN_KEY, ANTHROPIC_ADMIN_KEY, OPENROUTER_API_KEY, "
            "GROQ_API_KEY, CURSOR_ADMIN_API_KEY",
        ) as refused:
            run_sync(c, settings, router)
        # AWS and Azure need more than one variable, and a profile alone configures AWS: the list
        # names all of it, not the credential alone.
        assert "COST_MCP_AWS_SECRET_ACCESS_KEY + COST_MCP_AWS_ACCESS_KEY_ID (or COST_MCP_AWS_PROFILE)" in str(
            refused.value
        )
        assert "AZURE_CLIENT_SECRET + AZURE_TENANT_ID + AZURE_CLIENT_ID" in str(refused.value)
        # Where to set it, as plain `sync` says: `sync --provider openai` named the variable only.
        where = (
            "(in the environment or the cost-mcp env file; `cost-mcp doctor` shows where), then sync again"
        )
        assert str(refused.value).endswith(where)
        with pytest.raises(InvalidInputError) as one:
            run_sync(c, settings, router, providers=["openai"])
        assert str(one.value) == f"openai: needs an admin key in OPENAI_ADMIN_KEY {where}"
    finally:
        c.close()


# --- failures leave the previous data exactly as it was -------------------------------------------


def test_a_failure_in_the_middle_of_pagination_writes_nothing(
    conn: Conn, keys: Settings, router: Router
) -> None:
    run_sync(conn, keys, router)
    before = dump(conn, "openai")
    first_success = state(conn, "openai")["last_success"]
    # New numbers upstream in both reports, but the second page of costs keeps failing.
    router.openai.reports[COSTS]["2026-11-03"][0]["amount"]["value"] = 99
    router.openai.reports[COMPLETIONS]["2026-11-05"][0]["input_tokens"] = 7
    failing = json_response(500, fixture("openai_error_500.json"))
    router.openai.script(COSTS, router.openai.answer, *[failing] * 5)
    later = NOW + timedelta(hours=1)
    result = run_sync(conn, keys, router, now=later)
    openai_row = rows(result)["openai"]
    assert openai_row.ok is False
    assert openai_row.error == (
        "/v1/organization/costs: HTTP 500: The server had an error while processing your request. "
        "Sorry about that!; gave up after 5 attempts"
    )
    assert (openai_row.days, openai_row.buckets, openai_row.billed_usd) == (0, 0, None)
    assert [c.url.params.get("page") for c in router.openai.calls(COSTS)[-6:]] == [None] + ["page_2"] * 5
    assert dump(conn, "openai") == before  # usage and page 1 were fine, yet nothing was written
    st = state(conn, "openai")
    assert (st["last_success"], st["last_attempt"]) == (first_success, later.isoformat())
    assert st["last_error"] == openai_row.error
    assert rows(result)["anthropic"].ok  # one source failing does not stop the others
    assert result.warnings == [f"openai: sync failed ({openai_row.error}); the data synced before is kept"]
    shown = spend(conn, keys, ["provider"])
    assert any(
        # Since when: the data shown is as old as the last sync that worked.
        w.startswith(
            f"PARTIAL: openai: last refresh failed ({openai_row.error}); showing data synced at "
            f"{first_success}: its billed spend since is not in this answer"
        )
        for w in shown.warnings
    )
    assert {r.group["provider"]: r.cost_usd for r in shown.rows if r.basis == "billed"}["openai"] == Decimal(
        "3.81"
    )


def test_401_names_the_variable_and_writes_nothing(
    conn: Conn, keys: Settings, router: Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-proj-a-project-key-not-an-admin-key")
    result = run_sync(conn, load_settings(), router)
    error = rows(result)["openai"].error
    assert error is not None
    assert error.startswith("needs an admin key in OPENAI_ADMIN_KEY: /v1/organization/")
    assert "HTTP 401" in error
    # The advice names the right key's shape, which the key scrubbing once replaced with [redacted];
    # the project key itself never appears.
    assert "an organization Admin key, sk-admin-…, from platform.openai.com" in error
    assert "sk-proj-a-project" not in error
    assert dump(conn, "openai") == []
    assert rows(result)["anthropic"].ok


def test_a_provider_that_never_synced_is_named_as_missing_from_the_total_not_as_earlier_data(
    conn: Conn, keys: Settings, router: Router
) -> None:
    # A wrong key on the very first sync: there is no earlier data, so the answer must say the
    # provider's bill is missing from it (the total is the local estimates only), not "earlier data".
    router.openai.key = "sk-admin-someone-elses-key"
    result = run_sync(conn, keys, router)
    assert rows(result)["openai"].ok is False
    shown = spend(conn, keys, ["provider"])
    [openai_warning] = [w for w in shown.warnings if w.startswith("PARTIAL: openai")]
    assert openai_warning.startswith("PARTIAL: openai: never synced (needs an admin key in OPENAI_ADMIN_KEY")
    assert "its billed spend is not in this answer" in openai_warning
    assert not any("earlier data" in w or "showing data synced" in w for w in shown.warnings)
    assert "openai" not in {r.group["provider"] for r in shown.rows}


def test_claude_code_analytics_never_synced_is_not_said_to_miss_billed_spend(
    conn: Conn, keys: Settings, router: Router
) -> None:
    # A wrong Anthropic key on the first sync fails its Claude Code report too. That report only
    # attributes use to members and never changes a total: the answer must not say its billed
    # spend is missing (Anthropic's own warning says that), nor mark the answer partial for it.
    router.anthropic.key = "sk-ant-admin-someone-elses-key"
    result = run_sync(conn, keys, router)
    assert rows(result)["anthropic-claude-code"].ok is False
    shown = spend(conn, keys, ["provider"])
    [warning] = [w for w in shown.warnings if "anthropic-claude-code" in w]
    assert warning.startswith("anthropic-claude-code: never synced (needs an admin key")
    assert "billed spend" not in warning and "PARTIAL" not in warning
    assert "totals do not depend on it" in warning
    assert "who used Claude Code" in warning
    assert any(w.startswith("PARTIAL: anthropic: never synced") for w in shown.warnings)


def test_a_configured_provider_not_synced_yet_is_named_as_missing_from_the_total(
    conn: Conn, keys: Settings
) -> None:
    # Keys set, but no sync has finished yet (the first one outran the refresh budget): the answer
    # lacks both providers' bills and must say so, not stay silent.
    shown = spend(conn, keys, ["provider"])
    assert {w for w in shown.warnings if w.startswith("PARTIAL:")} == {
        f"PARTIAL: {p}: not synced yet; its billed spend is not in this answer. "
        "Ask again shortly, or run `cost-mcp sync`"
        for p in ("openai", "anthropic")
    }


def test_malformed_json_in_one_report_fails_the_whole_source(
    conn: Conn, keys: Settings, router: Router
) -> None:
    router.openai.script(COMPLETIONS, httpx2.Response(200, content=b"<html>gateway timeout</html>"))
    result = run_sync(conn, keys, router)
    assert rows(result)["openai"].error == (
        "/v1/organization/usage/completions returned malformed JSON (JSONDecodeError at character 0)"
    )
    assert dump(conn, "openai") == []  # the costs report was fine, but a source is all or nothing


def test_a_first_sync_that_fails_for_another_reason_than_the_key_says_so_and_not_fix_the_key(
    conn: Conn, keys: Settings, router: Router
) -> None:
    """The QA case (h-qabill F6): a first sync broken by a malformed answer said "the data synced
    before is kept" (there was none) and every answer after it said "Fix the key" (the key works)."""
    router.openai.script(COMPLETIONS, httpx2.Response(200, content=b"<html>gateway timeout</html>"))
    result = run_sync(conn, keys, router)
    error = rows(result)["openai"].error
    assert result.warnings == [f"openai: sync failed ({error}); none of its data is in the ledger yet"]
    [warning] = [w for w in spend(conn, keys, ["provider"]).warnings if w.startswith("PARTIAL: openai")]
    assert warning == (
        f"PARTIAL: openai: never synced ({error}); its billed spend is not in this answer, only what "
        "local logs and record_usage estimate. Sync again later (`cost-mcp sync`), or add it to "
        "COST_MCP_SYNC_SKIP to stop syncing it"
    )


def test_a_team_members_warnings_say_a_sync_failed_but_not_the_providers_words(
    conn: Conn, keys: Settings, router: Router
) -> None:
    """A member's sources[] said only that a provider's last sync failed, while their warnings
    quoted the provider's error (an account, a key's name) and told them to fix the server's
    settings. Both now say the same, and that a team admin can fix it; an admin's keep the words."""
    said = {"error": {"message": "admin key 'ops-billing' of org-Secret123 lacks api.usage.read"}}
    router.openai.script(COMPLETIONS, json_response(400, said))
    error = rows(run_sync(conn, keys, router))["openai"].error
    assert error is not None and "org-Secret123" in error
    p = resolve(keys, None, "2026-11-01", "2026-11-05", None)
    mine = get_spend(conn, keys, p, [], Filters(members=["ana@example.com"]), member="ana@example.com")
    [warning] = [w for w in mine.warnings if w.startswith("PARTIAL: openai")]
    assert warning == (
        f"PARTIAL: openai: never synced ({MEMBER_SYNC_ERROR}); its billed spend is not in this answer, "
        "only what local logs and record_usage estimate. A team admin can fix it"
    )
    assert not any("Secret123" in w or "COST_MCP_SYNC_SKIP" in w for w in mine.warnings), mine.warnings
    admins = get_spend(conn, keys, p, [], Filters(members=["ana@example.com"]))
    assert any(f"never synced ({error})" in w for w in admins.warnings)


def test_a_repeated_next_page_fails_the_source(conn: Conn, keys: Settings, router: Router) -> None:
    looping = json_response(200, fixture("anthropic_cost_report_documented.json"))
    router.anthropic.script(anthropic.COST_PATH, looping, looping)
    result = run_sync(conn, keys, router)
    error = rows(result)["anthropic"].error
    assert (
        error is not None and "returned the next_page cursor 'page_MjAyNS0wNS0xNFQwMDowMFo=' twice" in error
    )
    assert dump(conn, "anthropic") == []
    assert rows(result)["anthropic-claude-code"].ok  # its own source, its own transaction


def test_429_with_retry_after_then_success(conn: Conn, keys: Settings, router: Router) -> None:
    limited = json_response(429, fixture("anthropic_error_429.json"), {"retry-after": "1"})
    router.anthropic.script(anthropic.COST_PATH, limited)
    result = run_sync(conn, keys, router)
    assert rows(result)["anthropic"].ok
    assert rows(result)["anthropic"].billed_usd == Decimal("3.7378912")


# --- refresh before every query -------------------------------------------------------------------


def refresh(conn: Conn, settings: Settings, router: Router, now: datetime) -> None:
    sync.refresh(conn, settings, Pricer(), transport=router.transport(), now=now)


def test_refresh_syncs_stale_providers_and_reads_logs_together(
    home: Path, conn: Conn, keys: Settings, router: Router
) -> None:
    write(
        session_file(home / "claude", "s1"),
        assistant("m1", "r1", "2026-11-04T09:00:00.000Z", input=1_000, output=1_000),
    )
    result = sync.refresh(conn, keys, Pricer(), transport=router.transport(), now=NOW)
    assert result.events_added == 1
    assert state(conn, "openai")["last_success"] == NOW.isoformat()
    assert state(conn, "anthropic-claude-code")["last_success"] == NOW.isoformat()


def test_refresh_respects_the_ttl(conn: Conn, keys: Settings, router: Router) -> None:
    refresh(conn, keys, router, NOW)
    asked = len(router.openai.requests)
    refresh(conn, keys, router, NOW + timedelta(minutes=14))
    assert len(router.openai.requests) == asked  # within the 15-minute TTL: nothing fetched
    refresh(conn, keys, router, NOW + timedelta(minutes=16))
    assert len(router.openai.requests) == asked + 11 * 2  # the last 3 days again: 11 reports x 2 pages
    assert state(conn, "openai")["last_success"] == (NOW + timedelta(minutes=16)).isoformat()


def test_refresh_never_raises_and_backs_off_after_a_failure(
    conn: Conn, keys: Settings, router: Router
) -> None:
    router.openai.script(COSTS, *[json_response(503, fixture("openai_error_500.json"))] * 5)
    refresh(conn, keys, router, NOW)
    st = state(conn, "openai")
    assert st["last_success"] is None and "HTTP 503" in st["last_error"]
    asked = len(router.openai.requests)
    refresh(conn, keys, router, NOW + timedelta(seconds=30))
    assert len(router.openai.requests) == asked  # failed moments ago: do not slow this query down
    refresh(conn, keys, router, NOW + timedelta(seconds=61))
    assert state(conn, "openai")["last_error"] is None
    assert state(conn, "openai")["last_success"] == (NOW + timedelta(seconds=61)).isoformat()


def test_refresh_stays_within_its_time_budget(
    conn: Conn, keys: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COST_MCP_REFRESH_BUDGET_SECONDS", "0.3")
    settings = load_settings()

    async def stalled(request: httpx2.Request) -> httpx2.Response:
        await anyio.sleep(30)
        raise AssertionError("never answered")

    started = time.monotonic()
    sync.refresh(conn, settings, Pricer(), transport=httpx2.MockTransport(stalled), now=NOW)
    assert time.monotonic() - started < 3
    error = state(conn, "openai")["last_error"]
    assert error.startswith("did not finish within the 0.3 s time budget, so nothing was written")


def test_refresh_without_keys_calls_no_api(home: Path, settings: Settings) -> None:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise AssertionError(f"unexpected request to {request.url}")

    c = connect(settings.db)
    try:
        sync.refresh(c, settings, Pricer(), transport=httpx2.MockTransport(refuse), now=NOW)
        assert c.execute("SELECT COUNT(*) FROM source_state WHERE source != 'claude_code'").fetchone() == (0,)
    finally:
        c.close()


# --- what synced data does to the answers ---------------------------------------------------------


def test_billed_totals_win_and_estimates_only_attribute(
    home: Path, conn: Conn, keys: Settings, router: Router
) -> None:
    # A Claude Code call on Nov 4 ($0.018 estimated): Anthropic's billed data covers that day.
    write(
        session_file(home / "claude", "s1"),
        assistant("m1", "r1", "2026-11-04T09:00:00.000Z", input=1_000, output=1_000),
    )
    sync.refresh(conn, keys, Pricer(), transport=router.transport(), now=NOW)
    result = spend(conn, keys, ["provider", "basis"])
    totals = {(r.group["provider"], r.basis): r.cost_usd for r in result.rows}
    # Nov 5 (today) is listed by both costs reports with no rows: that hides nothing, so OpenAI's
    # completions usage for today ($0.15) is the day's total.
    assert totals == {
        ("anthropic", "billed"): Decimal("3.7378912"),
        ("openai", "billed"): Decimal("3.81"),
        ("openai", "estimated"): Decimal("0.15"),
    }
    assert result.total_usd == Decimal("7.6978912")
    attributed = {(a.group["provider"], a.reason.split(" ")[0]): a.cost_usd for a in result.attribution}
    assert attributed == {
        ("anthropic", "anthropic"): Decimal("3.018"),  # messages usage $3 + the local call $0.018
        ("anthropic-claude-code", "anthropic-claude-code"): Decimal("1.13"),
    }
    by_member = spend(conn, keys, ["member"])
    claude_code = [a for a in by_member.attribution if a.group["member"] == "developer@company.com"]
    assert [a.cost_usd for a in claude_code] == [Decimal("1.13")]
    assert by_member.total_usd == Decimal("7.6978912")


def test_usage_is_priced_for_days_without_cost_data(conn: Conn, keys: Settings, router: Router) -> None:
    # The costs report has not opened today's bucket yet; the usage report has.
    router.openai.listed_until[COSTS] = date(2026, 11, 4)
    run_sync(conn, keys, router, providers=["openai"])
    result = spend(conn, keys, ["day", "basis"])
    by_day = {(r.group["day"], r.basis): r.cost_usd for r in result.rows}
    assert by_day[("2026-11-05", "estimated")] == Decimal("0.15")  # 1M input on gpt-4o-mini at $0.15/M
    assert ("2026-11-05", "billed") not in by_day
    assert by_day[("2026-11-03", "billed")] == Decimal("3.75")
    assert result.total_usd == Decimal("3.96")
    models = model_breakdown(conn, keys, resolve(keys, None, "2026-11-01", "2026-11-05", None))
    assert {m.model: m.cost_usd for m in models.models} == {
        "gpt-4o-2024-08-06": Decimal("3.75"),
        "gpt-4o-mini-2024-07-18": Decimal("0.15"),
        "(model not reported)": Decimal("0.06"),
    }


def test_export_marks_claude_code_analytics_as_attribution(
    conn: Conn, keys: Settings, router: Router
) -> None:
    from cost_mcp.analytics.export import export_records

    run_sync(conn, keys, router)
    records = list(export_records(conn, keys, resolve(keys, None, "2026-11-01", "2026-11-05", None)))
    basis = {(r["provider"], r["basis"]) for r in records}
    assert basis == {
        ("openai", "billed"),
        ("openai", "estimated"),
        ("anthropic", "billed"),
        # Anthropic's usage report of Nov 4, a day its cost report bills: it only attributes.
        ("anthropic", "attribution"),
        ("anthropic-claude-code", "attribution"),
    }
    counted = sum(Decimal(str(r["cost_usd"])) for r in records if r["basis"] == "billed")
    assert counted == Decimal("7.5478912")


def test_export_rows_that_count_add_up_to_the_total_and_the_others_say_attribution(
    home: Path, conn: Conn, keys: Settings, router: Router
) -> None:
    """A finance lead sums the export's cost column in a spreadsheet: the rows not marked attribution
    add up to get_spend's total exactly. An estimate of a day the bill covers (a Claude Code call on
    an Anthropic-billed day, OpenAI usage beside its costs) is set aside in the total, so it is
    `attribution` here too, never counted twice; seat fees are in the total, so they are rows too."""
    from cost_mcp.analytics import subscriptions
    from cost_mcp.analytics.export import export_records

    write(
        session_file(home / "claude", "s1"),
        # Anthropic's bill covers Nov 3: this call only attributes ($0.018).
        assistant("m1", "r1", "2026-11-03T09:00:00.000Z", input=1_000, output=1_000),
        # Nov 2 has no bill: this call counts ($0.0105).
        assistant("m2", "r2", "2026-11-02T09:00:00.000Z", input=1_000, output=500),
    )
    sync.refresh(conn, keys, Pricer(), transport=router.transport(), now=NOW)
    subscriptions.set_subscription(
        conn, "max", "anthropic", Decimal(300), "monthly", "2026-10-15", today=SET_ON
    )
    p = resolve(keys, None, "2026-11-01", "2026-11-05", None)
    total = get_spend(conn, keys, p, take_alerts=False).total_usd
    records = list(export_records(conn, keys, p))

    def cost(r: dict[str, str | int]) -> Decimal:
        return Decimal(str(r["cost_usd"]))

    counted = sum(cost(r) for r in records if r["basis"] != "attribution")
    assert counted == total
    by_id = {(r["kind"], r["id"]): r for r in records}
    assert by_id[("event", "m1/r1")]["basis"] == "attribution"
    assert by_id[("event", "m2/r2")]["basis"] == "estimated"
    seat_days = [r for r in records if r["kind"] == "subscription"]
    # Oct 15 - Nov 14 has 31 days: $300 over them, 5 of them in Nov 1-5.
    assert [r["id"] for r in seat_days] == [f"subscription-max/2026-11-0{d}" for d in range(1, 6)]
    assert sum(cost(r) for r in seat_days) == Decimal("48.387096775")
    assert {r["basis"] for r in seat_days} == {"subscription"}


# --- members across sources -----------------------------------------------------------------------


def test_spend_by_member_spans_cursor_users_claude_code_users_and_subscriptions(
    conn: Conn, keys: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cost_mcp.analytics import subscriptions
    from tests.sources.fake_providers import CURSOR_KEY, FakeCursor, ms

    monkeypatch.setenv("CURSOR_ADMIN_API_KEY", CURSOR_KEY)
    settings = load_settings()
    [documented] = fixture("cursor_usage_events_documented.json")["usageEvents"]
    cursor_fake = FakeCursor(
        events=[
            documented | {"timestamp": str(ms("2026-11-03", 9)), "chargedCents": 250},
            documented
            | {
                "timestamp": str(ms("2026-11-04", 9)),
                "userEmail": "second@company.com",
                "chargedCents": "12.5",
            },
        ]
    )
    router = Router(openai_fake(), anthropic_fake(), cursor=cursor_fake)
    result = run_sync(conn, settings, router, providers=["anthropic", "cursor"])
    assert all(r.ok for r in result.sources)
    # Seats: a Cursor seat for the developer, a Claude plan for the second member, $30 days in November.
    subscriptions.set_subscription(
        conn,
        "cursor-dev",
        "cursor",
        Decimal(30),
        "monthly",
        "2026-11-01",
        member="developer@company.com",
        today=SET_ON,
    )
    subscriptions.set_subscription(
        conn,
        "claude-max-second",
        "anthropic",
        Decimal(90),
        "monthly",
        "2026-11-01",
        member="second@company.com",
        today=SET_ON,
    )
    shown = spend(conn, settings, ["member"])
    rows = {(r.group["member"], r.basis): r.cost_usd for r in shown.rows}
    assert rows == {
        # Cursor's charges per user (billed)
        ("developer@company.com", "billed"): Decimal("2.5"),
        ("second@company.com", "billed"): Decimal("0.125"),
        # seat fees, $1 and $3 a day over Nov 1-5
        ("developer@company.com", "subscription"): Decimal(5),
        ("second@company.com", "subscription"): Decimal(15),
        # Anthropic's billed total names no member
        (None, "billed"): Decimal("3.7378912"),
    }
    assert shown.total_usd == Decimal("26.3628912")
    # Claude Code users from Anthropic's report: who used it, never added on top
    claude_code = {
        a.group["member"]: a.cost_usd
        for a in shown.attribution
        if a.reason.startswith("anthropic-claude-code")
    }
    assert claude_code == {"developer@company.com": Decimal("1.13")}
    # one member's view: their Cursor charges and their seat
    mine = get_spend(
        conn,
        settings,
        resolve(settings, None, "2026-11-01", "2026-11-05", None),
        ["provider", "basis"],
        Filters(members=["developer@company.com"]),
    )
    assert {(r.group["provider"], r.basis): r.cost_usd for r in mine.rows} == {
        ("cursor", "billed"): Decimal("2.5"),
        ("cursor", "subscription"): Decimal(5),
    }
    assert [(a.group["provider"], a.cost_usd) for a in mine.attribution] == [
        ("anthropic-claude-code", Decimal("1.13"))
    ]


def test_providers_in_sync_skip_are_left_out_of_automatic_sync(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cost_mcp.config import load_settings
    from cost_mcp.store import connect
    from cost_mcp.sync import plan_sync

    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-test-openai-key-000")
    monkeypatch.setenv("GROQ_API_KEY", "gsk_test_inference_key_0000")
    monkeypatch.setenv("COST_MCP_SYNC_SKIP", "Groq, cursor")
    settings = load_settings()
    conn = connect(settings.db)
    try:
        automatic = {p.source.id for p in plan_sync(conn, settings, use_ttl=True)}
        explicit = {p.source.id for p in plan_sync(conn, settings, ["groq"])}
    finally:
        conn.close()
    assert "groq" not in automatic
    assert "openai" in automatic
    assert explicit == {"groq"}


class LockProbe(httpx2.AsyncBaseTransport):
    """Passes requests on to the fakes, first trying to take the ledger's write lock from another
    connection without waiting: a sync that held it across the network would make that fail."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, db: Path | str) -> None:
        self.inner = inner
        self.db = db
        self.free = 0
        self.locked = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        probe = sqlite3.connect(self.db, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            self.free += 1
        except sqlite3.OperationalError:
            self.locked += 1
        finally:
            probe.close()
        return await self.inner.handle_async_request(request)


@pytest.mark.sqlite_only  # probes SQLite's file lock (PostgreSQL's write lock is an advisory lock)
@pytest.mark.parametrize("explicit", [False, True], ids=["automatic refresh", "sync_providers"])
def test_no_sync_holds_the_write_lock_while_waiting_on_the_network(
    conn: Conn, keys: Settings, router: Router, explicit: bool
) -> None:
    probe = LockProbe(router.transport(), keys.db)
    if explicit:
        sync.sync_providers(conn, keys, Pricer(), transport=probe, now=NOW)
    else:
        sync.refresh(conn, keys, Pricer(), transport=probe, now=NOW, logs="skip")
    assert probe.free > 0 and probe.locked == 0
    assert state(conn, "openai")["last_success"] == NOW.isoformat()  # and the data was written after


def test_an_explicit_sync_that_runs_out_of_time_does_not_say_to_run_it_again(
    conn: Conn, keys: Settings
) -> None:
    # `cost-mcp sync` (and the tool) against a provider that never answers: "run `cost-mcp sync`
    # to fetch with more time" is what the user just did.
    async def stalled(request: httpx2.Request) -> httpx2.Response:
        await anyio.sleep(30)
        raise AssertionError("never answered")

    result = sync.sync_providers(
        conn, keys, Pricer(), ["openai"], transport=httpx2.MockTransport(stalled), now=NOW, budget=0.3
    )
    [source] = result.sources
    assert source.error is not None
    assert source.error.startswith("did not finish within the 0.3 s time budget, so nothing was written")
    assert "the provider answered too slowly or not at all; try again later" in source.error
    assert "cost-mcp sync" not in source.error
