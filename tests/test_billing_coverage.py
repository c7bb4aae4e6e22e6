"""The bill wins only where the bill is there: empty billed days, reporting lag, Anthropic's Priority
Tier and replace_range's own guarantees, over fake provider APIs and a real ledger."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import time_machine
from mcp import Client

from cost_mcp import sync
from cost_mcp.analytics import budgets
from cost_mcp.analytics.breakdown import model_breakdown
from cost_mcp.analytics.spend import Filters, get_spend, resolve, spend_totals
from cost_mcp.cli import main
from cost_mcp.config import Settings, load_settings
from cost_mcp.models import BudgetScope, CoverageDay, SourceCoverage, SpendResult, SyncResult
from cost_mcp.pricing import Pricer, Tokens
from cost_mcp.sources import anthropic
from cost_mcp.sources.claude_code import ingest
from cost_mcp.sources.reported import record_call
from cost_mcp.store import write_transaction
from cost_mcp.store.buckets import DAY_MS, Bucket, replace_range
from cost_mcp.store.connection import Conn
from tests.sources.claude_logs import assistant, session_file, write
from tests.sources.fake_providers import (
    ANTHROPIC_KEY,
    OPENAI_KEY,
    FakeAnthropic,
    FakeOpenAI,
    Router,
    json_response,
    local_server,
    ms,
)

NOW = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)
COSTS = "/v1/organization/costs"
SONNET_1M_INPUT = {
    "uncached_input_tokens": 1_000_000,
    "model": "claude-sonnet-4-5",
    "context_window": "0-200k",
}


@pytest.fixture
def keys(home: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", ANTHROPIC_KEY)
    monkeypatch.setenv("OPENAI_ADMIN_KEY", OPENAI_KEY)
    return load_settings()


def claude_code_call(home: Path, conn: Conn, settings: Settings, ts: str, rid: str) -> None:
    """One local Claude Code call, 1k in + 1k out on Sonnet 4.5: $0.018 estimated."""
    write(
        session_file(home / "claude", f"s-{rid}"), assistant(f"m-{rid}", rid, ts, input=1_000, output=1_000)
    )
    ingest(conn, settings, Pricer())


def claude_code_call_logged(home: Path, ts: str) -> None:
    """The same call only logged, for a server or CLI of this process to read: $0.018 at ``ts``."""
    write(
        session_file(home / "claude", f"s-{ts[:10]}"),
        assistant(f"m-{ts}", f"r-{ts}", ts, input=1_000, output=1_000),
    )


def billed_beside_local_calls(
    home: Path,
    conn: Conn,
    settings: Settings,
    billed: tuple[str, str],
    group_by: list[str],
    call_days: tuple[str, ...] = (),
) -> SpendResult:
    """The spend by ``group_by`` once Anthropic's cost_report lists ``billed`` (a day and its
    amount, in cents) and this machine logged a $0.018 call at 09:00 UTC of each of ``call_days``
    (the billed day if none), ingested before the sync."""
    day, amount = billed
    fake = FakeAnthropic({anthropic.COST_PATH: {day: [{"amount": amount, "currency": "USD"}]}})
    for call_day in call_days or (day,):
        claude_code_call(home, conn, settings, f"{call_day}T09:00:00.000Z", f"r{call_day[-1]}")
    run_sync(conn, settings, Router(anthropic=fake), "anthropic")
    return spend(conn, settings, group_by)


def run_sync(conn: Conn, settings: Settings, router: Router, provider: str) -> SyncResult:
    result = sync.sync_providers(
        conn, settings, Pricer(), [provider], transport=router.transport(), now=NOW, days=5
    )
    assert all(r.ok for r in result.sources), result
    return result


def spend(conn: Conn, settings: Settings, group_by: list[str]) -> SpendResult:
    return get_spend(conn, settings, resolve(settings, None, "2026-11-01", "2026-11-05", None), group_by)


def coverage(result: SpendResult, source: str) -> SourceCoverage:
    [status] = [s for s in result.sources if s.source == source]
    assert status.coverage is not None
    return status.coverage


def totals(result: SpendResult) -> dict[tuple[Any, ...], Decimal | None]:
    return {(*r.group.values(), r.basis): r.cost_usd for r in result.rows}


def test_an_empty_billed_day_leaves_the_local_estimate_in_the_total(
    home: Path, conn: Conn, keys: Settings
) -> None:
    # cost_report and the messages report list Nov 3 with no results; Claude Code spent $0.018 then.
    result = billed_beside_local_calls(
        home, conn, keys, ("2026-11-02", "100"), ["day"], call_days=("2026-11-03", "2026-11-02")
    )
    assert totals(result) == {
        ("2026-11-02", "billed"): Decimal("1"),  # a billed day with rows still wins
        ("2026-11-03", "estimated"): Decimal("0.018"),
    }
    assert result.total_usd == Decimal("1.018")
    assert [a.group["day"] for a in result.attribution] == ["2026-11-02"]
    cov = coverage(result, "anthropic")
    assert cov.billed_days == 1
    assert cov.empty_billed_days == 4  # Nov 1, 3, 4, 5: listed, no rows
    assert cov.reporting_lag == "1h"
    assert CoverageDay(day="2026-11-03", report="billing", rule="no_rows", total_from="local estimates") in (
        cov.estimated_days
    )
    # Days where nothing local is there to replace are not listed as left to estimates.
    assert {d.day for d in cov.estimated_days} == {"2026-11-03"}


def test_a_day_inside_the_reporting_lag_does_not_replace_local_estimates(
    home: Path, conn: Conn, keys: Settings
) -> None:
    # Today (Nov 5) cost_report already has $0.01 of a busy day; the local logs know of more.
    result = billed_beside_local_calls(home, conn, keys, ("2026-11-05", "1"), ["day", "basis"])
    assert totals(result) == {("2026-11-05", "estimated", "estimated"): Decimal("0.018")}
    [partial] = result.attribution
    assert partial.basis == "billed" and partial.cost_usd == Decimal("0.01")
    assert "reporting lag" in partial.reason
    assert "local estimates ($0.02) are larger than the $0.01 reported so far" in partial.reason
    cov = coverage(result, "anthropic")
    assert cov.estimated_days == [
        CoverageDay(
            day="2026-11-05",
            report="billing",
            rule="reporting_lag",
            total_from="local estimates",
            report_usd=Decimal("0.01"),
            local_usd=Decimal("0.018"),
        ),
        # The usage report has no rows for today yet: not reached, inside its lag (h-qaprov F4).
        CoverageDay(day="2026-11-05", report="usage", rule="reporting_lag", total_from="local estimates"),
    ]


def test_a_day_the_bill_has_not_reached_yet_is_labelled_so_not_as_billed_nothing(
    home: Path, conn: Conn, keys: Settings
) -> None:
    """The QA case (h-qaprov F4): a report synced within its reporting lag that lists no rows for
    the day yet (today; or yesterday for Azure's and Google's exports, 24 h behind) was labelled
    `no_rows`, "the report listed the day with no results", as if nothing had been billed. The
    estimate counts either way; now the label says the bill has not reached the day."""
    fake = FakeAnthropic({anthropic.COST_PATH: {"2026-11-02": [{"amount": "100", "currency": "USD"}]}})
    claude_code_call(home, conn, keys, "2026-11-03T09:00:00.000Z", "r3")
    claude_code_call(home, conn, keys, "2026-11-05T09:00:00.000Z", "r5")
    run_sync(conn, keys, Router(anthropic=fake), "anthropic")  # at noon on Nov 5
    result = spend(conn, keys, ["day"])
    assert totals(result) == {
        ("2026-11-02", "billed"): Decimal("1"),
        ("2026-11-03", "estimated"): Decimal("0.018"),
        ("2026-11-05", "estimated"): Decimal("0.018"),
    }
    assert {(d.day, d.report, d.rule) for d in coverage(result, "anthropic").estimated_days} == {
        ("2026-11-03", "billing", "no_rows"),  # listed empty long after it ended: nothing billed
        ("2026-11-03", "usage", "no_rows"),
        ("2026-11-05", "billing", "reporting_lag"),  # today: not reached yet
        ("2026-11-05", "usage", "reporting_lag"),
    }


def test_a_model_the_bill_has_no_row_of_says_where_its_estimate_went(
    home: Path, conn: Conn, keys: Settings
) -> None:
    """The QA case (h-qaprov F6): asked for one model that only local estimates know of, on a day
    the provider's bill covers (its rows name another model), get_spend said $0 with no warning;
    the estimate sat in attribution. The provider's total is right; now the answer says why the
    model counts $0 and where its estimate is."""
    opus = {
        "amount": "100",
        "currency": "USD",
        "model": "claude-opus-4-1",
        "description": "Claude Opus 4.1 Usage",
    }
    fake = FakeAnthropic({anthropic.COST_PATH: {"2026-11-03": [opus]}})
    claude_code_call(home, conn, keys, "2026-11-03T09:00:00.000Z", "r3")  # Sonnet 4.5, $0.018
    run_sync(conn, keys, Router(anthropic=fake), "anthropic")
    p = resolve(keys, None, "2026-11-01", "2026-11-05", None)
    sonnet = get_spend(conn, keys, p, ["model"], Filters(models=["claude-sonnet-4-5"]))
    assert sonnet.total_usd == Decimal(0)
    assert [(a.group["model"], a.cost_usd) for a in sonnet.attribution] == [
        ("claude-sonnet-4-5-20250929", Decimal("0.018"))
    ]
    assert (
        "claude-sonnet-4-5-20250929: $0.02 of its estimated use is on days anthropic's own report is the "
        "total, and that report has no row of this model, so it counts $0 here (listed under "
        "attribution); anthropic's total for those days is right, only its split by model lacks it"
    ) in sonnet.warnings
    # By session too, where the local calls are grouped in SQL (it said nothing).
    by_session = get_spend(conn, keys, p, ["session"], Filters(models=["claude-sonnet-4-5"]))
    assert by_session.total_usd == Decimal(0)
    assert [w for w in by_session.warnings if "its estimated use" in w] == [
        w for w in sonnet.warnings if "its estimated use" in w
    ]
    opus_only = get_spend(conn, keys, p, ["model"], Filters(models=["claude-opus-4-1"]))
    assert opus_only.total_usd == Decimal(1)
    assert not [w for w in opus_only.warnings if "its estimated use" in w]


def test_a_partial_report_larger_than_the_local_calls_stays_the_total(
    home: Path, conn: Conn, keys: Settings
) -> None:
    # Today (Nov 5) so far: billed $2.50 and $3.00 of usage org-wide; this machine's Claude Code
    # logged one $0.018 call. Both are lower bounds of the day: adding the call must not lower it.
    fake = FakeAnthropic(
        {
            anthropic.COST_PATH: {"2026-11-05": [{"amount": "250", "currency": "USD"}]},
            anthropic.MESSAGES_PATH: {"2026-11-05": [SONNET_1M_INPUT]},
        }
    )
    run_sync(conn, keys, Router(anthropic=fake), "anthropic")
    assert spend(conn, keys, []).total_usd == Decimal("3")
    claude_code_call(home, conn, keys, "2026-11-05T09:00:00.000Z", "r5")
    result = spend(conn, keys, ["basis"])
    assert totals(result) == {("estimated", "estimated"): Decimal("3")}
    assert result.total_usd == Decimal("3")
    reasons = {(a.basis, a.cost_usd): a.reason for a in result.attribution}
    assert reasons.keys() == {("billed", Decimal("2.5")), ("estimated", Decimal("0.018"))}
    assert "the provider's usage report is the total" in reasons[("billed", Decimal("2.5"))]
    assert reasons[("estimated", Decimal("0.018"))] == (
        "anthropic usage data for the UTC day was synced within its 1h reporting lag and may be partial, "
        "but its $3.00 so far is at least the local estimates' $0.02, so it is the total"
    )
    assert coverage(result, "anthropic").estimated_days == [
        CoverageDay(day="2026-11-05", report="billing", rule="reporting_lag", total_from="usage report"),
        CoverageDay(
            day="2026-11-05",
            report="usage",
            rule="reporting_lag",
            total_from="partial report",
            report_usd=Decimal("3"),
            local_usd=Decimal("0.018"),
        ),
    ]
    # Budgets count spend the same way, and so do the session rows grouped in SQL.
    question = resolve(keys, None, "2026-11-01", "2026-11-05", None)
    [budgeted] = spend_totals(conn, keys, [(question, Filters())], date(2026, 11, 5))
    assert budgeted.total_usd == Decimal("3")
    by_session = spend(conn, keys, ["session"])
    assert by_session.total_usd == Decimal("3")
    [session] = [a for a in by_session.attribution if a.basis == "estimated"]
    assert session.cost_usd == Decimal("0.018")
    assert session.reason == reasons[("estimated", Decimal("0.018"))]


def test_a_partial_report_equal_to_the_local_calls_is_the_total(
    home: Path, conn: Conn, keys: Settings
) -> None:
    result = billed_beside_local_calls(home, conn, keys, ("2026-11-05", "1.8"), ["basis"])
    assert totals(result) == {("billed", "billed"): Decimal("0.018")}
    [local] = result.attribution
    assert local.basis == "estimated" and "at least the local estimates' $0.02" in local.reason
    [day] = coverage(result, "anthropic").estimated_days[:1]
    assert (day.total_from, day.report_usd, day.local_usd) == (
        "partial report",
        Decimal("0.018"),
        Decimal("0.018"),
    )


def test_a_complete_bill_is_the_total_even_below_the_local_calls(
    home: Path, conn: Conn, keys: Settings
) -> None:
    # Nov 3 was synced on Nov 5, past Anthropic's one-hour lag: the bill is whole and wins.
    result = billed_beside_local_calls(home, conn, keys, ("2026-11-03", "1"), ["basis"])
    assert totals(result) == {("billed", "billed"): Decimal("0.01")}
    [local] = result.attribution
    assert local.reason == "anthropic billing data covers the UTC day and is the total"
    assert coverage(result, "anthropic").billed_days == 1


def test_a_utc_day_bill_seen_from_los_angeles_says_it_is_a_utc_day(
    home: Path, conn: Conn, keys: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The QA case (h-qatime F2): Anthropic bills $1 on UTC Nov 2. A call made in Los Angeles at
    19:00 on Nov 1 (03:00Z Nov 2) is on that UTC day, so the bill counts it; it was listed under
    Nov 1 as "covered by billing data for this day" beside no bill on Nov 1, and nothing said
    that the bill sat on its UTC date."""
    claude_code_call(home, conn, keys, "2026-11-02T03:00:00.000Z", "evening")
    claude_code_call(home, conn, keys, "2026-11-03T05:00:00.000Z", "late")  # Nov 2, 21:00 local
    fake = FakeAnthropic({anthropic.COST_PATH: {"2026-11-02": [{"amount": "100", "currency": "USD"}]}})
    run_sync(conn, keys, Router(anthropic=fake), "anthropic")
    monkeypatch.setenv("COST_MCP_TIMEZONE", "America/Los_Angeles")
    la = load_settings()
    result = get_spend(conn, la, resolve(la, None, "2026-11-01", "2026-11-02", None), ["day"])
    assert totals(result) == {
        ("2026-11-02", "billed"): Decimal("1"),
        ("2026-11-02", "estimated"): Decimal("0.018"),  # UTC Nov 3 has no bill
    }
    [evening] = result.attribution
    assert evening.group == {"day": "2026-11-01"}
    assert evening.reason == "anthropic billing data covers the UTC day and is the total"
    assert [w for w in result.warnings if "UTC day" in w] == [
        "provider reports (bills, usage reports) are per UTC day and sit on their UTC date; calls recorded "
        "locally sit on their America/Los_Angeles date: the report of 2026-11-01 began at 17:00 the day "
        "before in America/Los_Angeles, and a local call on the UTC day of a report that is the total only "
        "attributes"
    ]
    # In UTC the two calendars are one: nothing to say.
    utc = get_spend(conn, keys, resolve(keys, None, "2026-11-01", "2026-11-02", None), ["day"])
    assert not [w for w in utc.warnings if "UTC day" in w]


def test_a_partial_bill_counts_when_nothing_else_covers_the_day(conn: Conn, keys: Settings) -> None:
    fake = FakeOpenAI(
        {
            COSTS: {
                "2026-11-05": [
                    {"object": "organization.costs.result", "amount": {"value": "0.4", "currency": "usd"}}
                ]
            }
        }
    )
    run_sync(conn, keys, Router(openai=fake), "openai")
    result = spend(conn, keys, ["day"])
    assert totals(result) == {("2026-11-05", "billed"): Decimal("0.4")}
    assert coverage(result, "openai").estimated_days == [
        CoverageDay(day="2026-11-05", report="billing", rule="reporting_lag", total_from="partial report")
    ]


def test_a_day_synced_after_its_lag_is_the_total(home: Path, conn: Conn, keys: Settings) -> None:
    claude_code_call(home, conn, keys, "2026-11-04T09:00:00.000Z", "r4")
    day = ms("2026-11-04")

    def bill_synced_at(when: datetime) -> None:
        with write_transaction(conn):
            bucket = Bucket(day, day + DAY_MS, cost_nanos=10_000_000)
            replace_range(conn, "anthropic", "cost", day, day + DAY_MS, [bucket], now=when)

    # $0.01 inside Anthropic's one-hour lag is partial: the larger local $0.018 is the total...
    bill_synced_at(datetime(2026, 11, 5, 0, 30, tzinfo=UTC))
    assert spend(conn, keys, []).total_usd == Decimal("0.018")
    bill_synced_at(datetime(2026, 11, 5, 1, 0, tzinfo=UTC))
    result = spend(conn, keys, [])
    assert result.total_usd == Decimal("0.01")  # ...and once whole, the bill is, however small
    assert coverage(result, "anthropic").billed_days == 1


def test_priority_tier_usage_is_counted_on_top_of_the_bill(conn: Conn, keys: Settings) -> None:
    # Nov 3: billed $2.50 (standard use); the messages report also has $3 of Priority Tier usage,
    # which cost_report leaves out, and $3 of standard usage, which the bill already holds.
    fake = FakeAnthropic(
        {
            anthropic.COST_PATH: {
                "2026-11-03": [{"amount": "250", "currency": "USD", "service_tier": "standard"}]
            },
            anthropic.MESSAGES_PATH: {
                "2026-11-03": [
                    {**SONNET_1M_INPUT, "service_tier": "priority"},
                    {**SONNET_1M_INPUT, "service_tier": "standard"},
                ]
            },
        }
    )
    synced = run_sync(conn, keys, Router(anthropic=fake), "anthropic")
    [row] = [r for r in synced.sources if r.source == "anthropic"]
    assert row.note and "Priority Tier usage $3.00" in row.note and "not in cost_report" in row.note
    result = spend(conn, keys, ["basis"])
    assert totals(result) == {("billed", "billed"): Decimal("2.5"), ("estimated", "estimated"): Decimal("3")}
    assert result.total_usd == Decimal("5.5")
    [standard] = result.attribution
    assert standard.cost_usd == Decimal("3") and "billing data covers the UTC day" in standard.reason
    assert any("Priority Tier" in w and "$3.00" in w for w in result.warnings)


def test_priority_tier_is_not_added_where_usage_is_already_the_total(conn: Conn, keys: Settings) -> None:
    fake = FakeAnthropic(
        {anthropic.MESSAGES_PATH: {"2026-11-03": [{**SONNET_1M_INPUT, "service_tier": "priority"}]}}
    )
    run_sync(conn, keys, Router(anthropic=fake), "anthropic")
    result = spend(conn, keys, [])
    assert result.total_usd == Decimal("3")
    assert not any("Priority Tier" in w for w in result.warnings)


# --- replace_range --------------------------------------------------------------------------------


def _stored(conn: Conn) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT start_ms, cost_nanos FROM provider_buckets ORDER BY start_ms").fetchall()


def test_replace_range_refuses_a_bucket_outside_its_range(conn: Conn) -> None:
    day = ms("2026-11-03")
    outside = Bucket(day + DAY_MS, day + 2 * DAY_MS, cost_nanos=7)
    for _ in range(3):
        with pytest.raises(ValueError, match="outside the synced range"), write_transaction(conn):
            replace_range(
                conn, "openai", "cost", day, day + DAY_MS, [Bucket(day, day + DAY_MS, cost_nanos=1), outside]
            )
    assert _stored(conn) == []  # refused as a whole, and never summed into 21


def test_replace_range_keeps_an_unknown_amount_unknown(conn: Conn) -> None:
    day = ms("2026-11-03")
    with write_transaction(conn):
        replace_range(
            conn,
            "openai",
            "usage",
            day,
            day + DAY_MS,
            [Bucket(day, day + DAY_MS, cost_nanos=None), Bucket(day, day + DAY_MS, cost_nanos=5)],
        )
    assert _stored(conn) == [(day, None)]


def test_openai_costs_listing_no_day_while_usage_does_is_a_warning(conn: Conn, keys: Settings) -> None:
    usage = {
        "object": "organization.usage.completions.result",
        "input_tokens": 1_000_000,
        "output_tokens": 0,
        "num_model_requests": 10,
        "model": "gpt-4o-mini-2024-07-18",
    }
    fake = FakeOpenAI({"/v1/organization/usage/completions": {"2026-11-03": [usage]}})
    fake.listed_until[COSTS] = date(2026, 10, 1)  # the costs report lists none of the days asked
    result = sync.sync_providers(
        conn, keys, Pricer(), ["openai"], transport=Router(openai=fake).transport(), now=NOW, days=5
    )
    assert any("billing report listed no day while the usage report listed 5" in w for w in result.warnings)
    answer = spend(conn, keys, ["basis"])
    assert totals(answer) == {("estimated", "estimated"): Decimal("0.15")}
    [warning] = [w for w in answer.warnings if "billing report has not listed" in w]
    assert warning.startswith(
        "openai: the billing report has not listed 1 day(s) its usage report has (2026-11-03"
    )


def test_days_the_bill_does_not_list_yet_are_labelled_not_left_silent(
    home: Path, conn: Conn, keys: Settings
) -> None:
    """The QA case (h-cover F1): Anthropic's cost_report lists every day asked, empty ones included,
    so a day it leaves out is one its billing has not reached. Synced at noon on Nov 5, it listed
    only through Nov 3: Nov 4 and 5 were totalled from local estimates with no coverage entry and
    no warning, as if billed. Now both are labelled, in sources[].coverage and in a warning."""
    fake = FakeAnthropic({anthropic.COST_PATH: {"2026-11-02": [{"amount": "100", "currency": "USD"}]}})
    for path in (anthropic.COST_PATH, anthropic.MESSAGES_PATH):
        fake.listed_until[path] = date(2026, 11, 3)
    claude_code_call(home, conn, keys, "2026-11-04T09:00:00.000Z", "r4")
    run_sync(conn, keys, Router(anthropic=fake), "anthropic")
    result = spend(conn, keys, ["day"])
    assert totals(result) == {
        ("2026-11-02", "billed"): Decimal("1"),
        ("2026-11-04", "estimated"): Decimal("0.018"),
    }
    # Nov 5 had no local call: its $0 is not a billed $0 either.
    assert coverage(result, "anthropic").estimated_days == [
        CoverageDay(day="2026-11-04", report="billing", rule="reporting_lag", total_from="local estimates"),
        CoverageDay(day="2026-11-05", report="billing", rule="reporting_lag", total_from="local estimates"),
    ]
    [warning] = [w for w in result.warnings if "does not list" in w]
    assert warning.startswith(
        "anthropic: its billing report does not list 2 days (2026-11-04 to 2026-11-05) yet"
    )
    # Asked about another provider only, the answer says nothing of Anthropic's days.
    p = resolve(keys, None, "2026-11-01", "2026-11-05", None)
    other = get_spend(conn, keys, p, [], Filters(providers=["openai"]))
    assert not any("does not list" in w for w in other.warnings)


def test_a_lagging_bill_beside_a_settled_usage_report_says_so_once(
    home: Path, conn: Conn, keys: Settings
) -> None:
    """Nov 4: the usage report lists it (settled), the billing report does not yet. The day is
    labelled in coverage as the bill not reached, totalled from usage, and warned about once."""
    usage = {"uncached_input_tokens": 1_000_000, "model": "claude-sonnet-4-5", "context_window": "0-200k"}
    fake = FakeAnthropic({anthropic.MESSAGES_PATH: {"2026-11-04": [usage]}})
    fake.listed_until[anthropic.COST_PATH] = date(2026, 11, 3)
    run_sync(conn, keys, Router(anthropic=fake), "anthropic")
    result = spend(conn, keys, ["day"])
    assert totals(result) == {("2026-11-04", "estimated"): Decimal("3")}
    assert (
        CoverageDay(day="2026-11-04", report="billing", rule="reporting_lag", total_from="usage report")
        in coverage(result, "anthropic").estimated_days
    )
    named = [w for w in result.warnings if "2026-11-04" in w]
    assert len(named) == 1 and "billing report has not listed 1 day(s)" in named[0], named


def test_a_bill_in_another_currency_is_labelled_with_what_to_do(conn: Conn, keys: Settings) -> None:
    """The QA case (h-cover F3): OpenAI's costs in euros fail the sync; every answer covering OpenAI
    says its bill is missing, and why, and no longer advises syncing again later (it never passes)."""
    eur = {"object": "organization.costs.result", "amount": {"value": "5.00", "currency": "eur"}}
    fake = FakeOpenAI({COSTS: {"2026-11-03": [eur]}})
    result = sync.sync_providers(
        conn, keys, Pricer(), ["openai"], transport=Router(openai=fake).transport(), now=NOW, days=5
    )
    assert not any(r.ok for r in result.sources)
    [partial] = [w for w in spend(conn, keys, []).warnings if w.startswith("PARTIAL: openai")]
    assert "reported an amount in 'eur', not USD" in partial
    assert "count it from the invoice, and set COST_MCP_SYNC_SKIP=openai" in partial
    assert "Sync again later" not in partial


def test_a_provider_not_refreshed_for_days_is_partial_over_the_days_since(conn: Conn, keys: Settings) -> None:
    """The QA case (h-cover F6): a provider last synced on Nov 5 (more than two days ago: its later
    syncs outran the refresh budget) said only "not refreshed since ...", and the answer for a
    period reaching past Nov 5 was complete although its bill since was missing. Now that is a
    PARTIAL line, as after a failed refresh; a period its last sync settled is not held to it."""
    fake = FakeAnthropic({anthropic.COST_PATH: {"2026-11-02": [{"amount": "100", "currency": "USD"}]}})
    run_sync(conn, keys, Router(anthropic=fake), "anthropic")  # at NOW, Nov 5, weeks ago
    since = get_spend(conn, keys, resolve(keys, None, "2026-11-01", "2026-11-30", None), [])
    [partial] = [w for w in since.warnings if w.startswith("PARTIAL: anthropic:")]
    assert partial.startswith("PARTIAL: anthropic: not refreshed since 2026-11-05T12:00:00+00:00: its billed")
    settled = get_spend(conn, keys, resolve(keys, None, "2026-11-01", "2026-11-03", None), [])
    assert "anthropic: not refreshed since 2026-11-05T12:00:00+00:00" in settled.warnings
    assert not any(w.startswith("PARTIAL: anthropic") for w in settled.warnings)


def test_a_los_angeles_evening_the_bill_has_not_reached_is_labelled(
    home: Path, conn: Conn, keys: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The QA case (h-qaprov2 F1): in Los Angeles, a call at 19:00 on Nov 4 is on UTC Nov 5, which
    Anthropic's cost report (synced at noon on Nov 5) does not list yet. Asked about Nov 4, the
    answer counted the call as estimated beside the billed Nov 4 and said nothing of why: no
    warning, no coverage entry, while the same call asked about from UTC was labelled. A UTC day
    the period's calls sit on is labelled whatever its UTC date."""
    fake = FakeAnthropic({anthropic.COST_PATH: {"2026-11-04": [{"amount": "100", "currency": "USD"}]}})
    for path in (anthropic.COST_PATH, anthropic.MESSAGES_PATH):
        fake.listed_until[path] = date(2026, 11, 4)
    claude_code_call(home, conn, keys, "2026-11-05T03:00:00.000Z", "evening")  # Nov 4, 19:00 local
    run_sync(conn, keys, Router(anthropic=fake), "anthropic")
    monkeypatch.setenv("COST_MCP_TIMEZONE", "America/Los_Angeles")
    la = load_settings()
    result = get_spend(conn, la, resolve(la, None, "2026-11-04", "2026-11-04", None), ["day"])
    assert totals(result) == {
        ("2026-11-04", "billed"): Decimal("1"),
        ("2026-11-04", "estimated"): Decimal("0.018"),
    }
    assert coverage(result, "anthropic").estimated_days == [
        CoverageDay(day="2026-11-05", report="billing", rule="reporting_lag", total_from="local estimates")
    ]
    [warning] = [w for w in result.warnings if "does not list" in w]
    assert warning.startswith("anthropic: its billing report does not list 2026-11-05 yet")
    # The morning before, Nov 4 in UTC: no call on UTC Nov 5, nothing to say of it.
    utc = get_spend(conn, keys, resolve(keys, None, "2026-11-04", "2026-11-04", None), ["day"])
    assert totals(utc) == {("2026-11-04", "billed"): Decimal("1")}
    assert not [w for w in utc.warnings if "does not list" in w]
    assert coverage(utc, "anthropic").estimated_days == []


def billed_nov3_beside_calls_nov3_and_nov4(home: Path, conn: Conn, keys: Settings) -> None:
    """Anthropic bills $1 on Nov 3 (by workspace: no project, no model) and lists nothing later;
    this machine's Claude Code spent $0.018 on Nov 3 and on Nov 4."""
    fake = FakeAnthropic({anthropic.COST_PATH: {"2026-11-03": [{"amount": "100", "currency": "USD"}]}})
    fake.listed_until[anthropic.COST_PATH] = date(2026, 11, 3)
    claude_code_call(home, conn, keys, "2026-11-03T09:00:00.000Z", "r3")
    claude_code_call(home, conn, keys, "2026-11-04T09:00:00.000Z", "r4")
    run_sync(conn, keys, Router(anthropic=fake), "anthropic")


def test_a_project_or_source_filter_says_where_the_estimates_a_bill_replaced_went(
    home: Path, conn: Conn, keys: Settings
) -> None:
    """The QA case (h-qaprov2 F2): Anthropic's bill is Nov 3's total and names no project (it is by
    workspace) nor any local source. Asked for the project's or Claude Code's spend, get_spend said
    $0.018 (Nov 4's call) with no warning, while Nov 3's call sat in attribution: "what did this
    project cost?" read as if the billed day's calls were free. As for a model filter, the answer
    now says so, with the amount; a filter the bill's rows pass is not warned."""
    billed_nov3_beside_calls_nov3_and_nov4(home, conn, keys)
    p = resolve(keys, None, "2026-11-01", "2026-11-05", None)
    for f, what in (
        (Filters(projects=["-home-dev-app"]), "project"),
        (Filters(sources=["claude_code"]), "source"),
    ):
        result = get_spend(conn, keys, p, [], f)
        assert result.total_usd == Decimal("0.018")
        assert [a.cost_usd for a in result.attribution] == [Decimal("0.018")]
        assert (
            f"anthropic: $0.02 of estimated use this {what} filter keeps is on days anthropic's own report "
            "is the total, which has no row the filter keeps, so it counts $0 here (listed under "
            f"attribution); anthropic's total for those days is right, only its split by {what} lacks it"
        ) in result.warnings
    # The bill's rows pass this filter: they count for Nov 3, and nothing is missing from the answer.
    both = get_spend(conn, keys, p, [], Filters(sources=["claude_code", "anthropic-costs"]))
    assert both.total_usd == Decimal("1.018")
    assert not [w for w in both.warnings if "of estimated use" in w]


def test_spend_by_session_says_where_the_estimates_a_bill_replaced_went_as_other_groupings_do(
    home: Path, conn: Conn, keys: Settings
) -> None:
    """By session, the local calls are grouped in SQL, not read as slices: a project or source
    filter on Anthropic's billed Nov 3 said nothing of the call the bill replaced, where every other
    grouping says where its estimate went (a model filter's case:
    test_a_model_the_bill_has_no_row_of_says_where_its_estimate_went)."""
    billed_nov3_beside_calls_nov3_and_nov4(home, conn, keys)
    p = resolve(keys, None, "2026-11-01", "2026-11-05", None)
    for f in (
        Filters(projects=["-home-dev-app"]),
        Filters(sources=["claude_code"]),
    ):
        by_session = get_spend(conn, keys, p, ["session"], f)
        by_day = get_spend(conn, keys, p, ["day"], f)
        aside = [w for w in by_day.warnings if "counts $0 here" in w]
        assert len(aside) == 1, by_day.warnings
        assert [w for w in by_session.warnings if "counts $0 here" in w] == aside
        assert by_session.total_usd == by_day.total_usd == Decimal("0.018")
    # A filter the bill's rows pass counts them: nothing is missing, by session either.
    both = get_spend(conn, keys, p, ["session"], Filters(sources=["claude_code", "anthropic-costs"]))
    assert both.total_usd == Decimal("1.018")
    assert not [w for w in both.warnings if "counts $0 here" in w]


def test_a_source_budget_says_where_the_estimates_a_bill_replaced_went(
    home: Path, conn: Conn, keys: Settings
) -> None:
    """The QA case (h-qaprov2 F3): a budget of Claude Code's calls (scoped by source) read $0.018 for
    the $0.036 they cost, with no note: Nov 3's call is the bill's, and a bill is no local source.
    Budgets scoped by project or model said so already; by source they now do too. A scope that
    counts the bill as well has nothing set aside (the bill's row stands for Nov 3's call), where
    it used to report the call as set aside."""
    billed_nov3_beside_calls_nov3_and_nov4(home, conn, keys)
    budgets.set_budget(conn, "cc", Decimal(5), "month", BudgetScope(sources=["claude_code"]))
    budgets.set_budget(
        conn, "cc-billed", Decimal(5), "month", BudgetScope(sources=["claude_code", "anthropic-costs"])
    )
    status = budgets.budget_status(conn, keys, now=NOW)
    states = {s.budget.name: s for s in status.budgets}
    assert (states["cc"].spent_usd, states["cc"].estimates_set_aside_usd) == (
        Decimal("0.018"),
        Decimal("0.018"),
    )
    assert (states["cc-billed"].spent_usd, states["cc-billed"].estimates_set_aside_usd) == (
        Decimal("1.018"),
        Decimal(0),
    )
    assert [w for w in status.warnings if "provider's bill is the total" in w] == [
        "budget 'cc': $0.02 of calls in its scope (estimated) are on days a provider's bill is the total, "
        "and count nothing against it (only the bill's rows that name its sources count); get_spend with "
        "the same filters lists them under attribution"
    ]


def test_a_model_billed_on_some_days_has_no_per_request_cost_from_the_others(
    home: Path, conn: Conn, keys: Settings
) -> None:
    """The QA case (h-qaprov2 F5): Sonnet 4.5 billed $1 on Nov 3 (Anthropic's cost report names the
    model, not the calls) and one local call of $0.018 on Nov 4, which the bill does not list yet.
    model_breakdown showed `requests: 1` and `cost_per_request_usd: 1.018`: the bill's dollars over
    the one call it could count, 56 times that call's cost. Its tokens were already unknown once a
    bill was part of the row; its requests now are too, and so is the cost per request."""
    sonnet = {"amount": "100", "currency": "USD", "model": "claude-sonnet-4-5"}
    fake = FakeAnthropic({anthropic.COST_PATH: {"2026-11-03": [sonnet]}})
    fake.listed_until[anthropic.COST_PATH] = date(2026, 11, 3)
    claude_code_call(home, conn, keys, "2026-11-04T09:00:00.000Z", "r4")
    run_sync(conn, keys, Router(anthropic=fake), "anthropic")
    p = resolve(keys, None, "2026-11-01", "2026-11-05", None)
    [row] = model_breakdown(conn, keys, p).models
    assert (row.model, row.cost_usd, row.basis) == (
        "claude-sonnet-4-5",
        Decimal("1.018"),
        ["billed", "estimated"],
    )
    assert (row.requests, row.cost_per_request_usd, row.avg_tokens_per_request) == (None, None, None)
    # Over Nov 4 alone, the call is the row: counted and priced per request.
    [call] = model_breakdown(conn, keys, resolve(keys, None, "2026-11-04", "2026-11-04", None)).models
    assert (call.requests, call.cost_per_request_usd) == (1, Decimal("0.018"))


def test_a_page_missing_mid_listing_keeps_the_days_synced_before(conn: Conn, keys: Settings) -> None:
    """The QA case (h-qaprov2 F6): OpenAI's costs list every day of the range asked, a page of days at
    a time. A re-sync whose second page came back empty while pointing on to a third (a cursor the
    API lost) listed Nov 1-2 and Nov 5: the sync marked Nov 1-5 synced and replaced them, so the $2
    billed on Nov 3-4, synced before, was deleted, and the total fell from $5 to $3 with nothing
    failed. Days missing between listed ones now fail the sync, and nothing of it is written."""
    day = {"object": "organization.costs.result", "amount": {"value": "1.00", "currency": "usd"}}
    fake = FakeOpenAI({COSTS: {f"2026-11-0{d}": [day] for d in range(1, 6)}}, page_size=2)
    run_sync(conn, keys, Router(openai=fake), "openai")
    assert spend(conn, keys, []).total_usd == Decimal(5)
    lost = {"object": "page", "data": [], "has_more": True, "next_page": "page_4"}
    fake.script(COSTS, fake.answer, json_response(200, lost))
    result = sync.sync_providers(
        conn, keys, Pricer(), ["openai"], transport=Router(openai=fake).transport(), now=NOW, days=5
    )
    [source] = result.sources
    assert not source.ok
    assert source.error is not None and "did not list 2 days (2026-11-03 to 2026-11-04)" in source.error
    after = spend(conn, keys, [])
    assert after.total_usd == Decimal(5)
    assert any(w.startswith("PARTIAL: openai: last refresh failed") for w in after.warnings)


def test_a_billed_model_beside_its_unpriced_calls_keeps_the_billed_cost(conn: Conn, keys: Settings) -> None:
    """With the bill's $1 of a model genai-prices does not know, and one call of it recorded on a
    day the bill does not list, model_breakdown showed the model's cost as unknown (null): its one
    counted call had no price, so the row read as calls none of which were priced, bill and all."""
    fake = FakeAnthropic({anthropic.COST_PATH: {"2026-11-03": [{"amount": "100", "model": "mystery-9"}]}})
    fake.listed_until[anthropic.COST_PATH] = date(2026, 11, 3)
    record_call(
        conn, Pricer(), provider="anthropic", model="mystery-9", tokens=Tokens(input=10), agent="bot",
        request_id="m4", timestamp=datetime(2026, 11, 4, 9, tzinfo=UTC), now=NOW,
    )  # fmt: skip
    run_sync(conn, keys, Router(anthropic=fake), "anthropic")
    [row] = model_breakdown(conn, keys, resolve(keys, None, "2026-11-01", "2026-11-05", None)).models
    assert (row.model, row.cost_usd, row.unpriced_requests, row.requests) == (
        "mystery-9",
        Decimal(1),
        1,
        None,
    )


@contextmanager
def anthropic_served(fake: FakeAnthropic, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``fake`` on a local server, configured as Anthropic's API with its admin key, for the server
    and the CLI of this process."""
    with local_server(Router(anthropic=fake)) as url:
        monkeypatch.setenv("COST_MCP_ANTHROPIC_BASE_URL", url)
        monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", fake.key)
        # A whole answer on a loaded machine: past the default budget, it is (rightly) labelled partial.
        monkeypatch.setenv("COST_MCP_REFRESH_BUDGET_SECONDS", "60")
        yield


async def synced_then_asked(period: str) -> SpendResult:
    """Anthropic synced now by the sync_providers tool, then get_spend by day, both through the
    in-memory MCP client on the real server."""
    from cost_mcp.server import mcp

    async with Client(mcp, raise_exceptions=True) as client:
        synced = await client.call_tool("sync_providers", {"providers": ["anthropic"], "days": 2})
        spent = await client.call_tool("get_spend", {"period": period, "group_by": ["day"]})
    assert synced.structured_content is not None and spent.structured_content is not None
    assert all(s["ok"] for s in synced.structured_content["sources"]), synced.structured_content
    # Validated back into the model: its amounts are Decimals again, compared exactly.
    return SpendResult.model_validate(spent.structured_content)


def reported(capsys: pytest.CaptureFixture[str], period: str) -> tuple[SpendResult, str]:
    """`cost-mcp report --json` by day, and the report's text, for ``period``."""
    capsys.readouterr()
    assert main(["report", "--json", "--period", period, "--group-by", "day"]) == 0
    as_json = SpendResult.model_validate_json(capsys.readouterr().out)
    assert main(["report", "--period", period]) == 0
    return as_json, " ".join(capsys.readouterr().out.split())  # the console wraps long lines


def weighed_bill(day: str) -> CoverageDay:
    """``day``'s bill so far ($2.50) counted as a partial report over a $0.018 local call."""
    return CoverageDay(
        day=day,
        report="billing",
        rule="reporting_lag",
        total_from="partial report",
        report_usd=Decimal("2.5"),
        local_usd=Decimal("0.018"),
    )


PARTIAL_OVER_LOCAL = (
    "anthropic billing data for the UTC day was synced within its 1h reporting lag and may be partial, "
    "but its $2.50 so far is at least the local estimates' $0.02, so it is the total"
)


@pytest.mark.anyio
async def test_todays_bill_so_far_above_the_local_calls_is_the_total_and_labelled_partial(
    clock: None, home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The review case (h-lagday): today's cost_report, synced at noon within Anthropic's reporting
    lag, has $2.50 so far, more than the $0.018 Claude Code call this machine logged. The bill is
    the day's total (both are lower bounds, the larger counts), and it must not read as a billed,
    complete day: get_spend, `report --json` and the report's text all say the day's bill may still grow."""
    today = datetime.now(UTC).date().isoformat()
    claude_code_call_logged(home, f"{today}T09:00:00.000Z")
    fake = FakeAnthropic({anthropic.COST_PATH: {today: [{"amount": "250", "currency": "USD"}]}})
    with anthropic_served(fake, monkeypatch):
        answer = await synced_then_asked("today")
        as_json, text = reported(capsys, "today")
    for result in (answer, as_json):
        assert totals(result) == {(today, "billed"): Decimal("2.5")}
        cov = coverage(result, "anthropic")
        # Counted as the day's total, and named in the same answer as a partial report, so far.
        assert cov.billed_days == 1
        assert cov.estimated_days == [weighed_bill(today)]
        [local] = result.attribution
        assert (local.basis, local.cost_usd, local.reason) == (
            "estimated",
            Decimal("0.018"),
            PARTIAL_OVER_LOCAL,
        )
    assert (
        f"partial: anthropic: {today} billed so far (synced before the day ended plus its 1h reporting "
        "lag); may still grow"
    ) in text


@pytest.mark.anyio
@pytest.mark.parametrize("hour_of_day", [0])
async def test_yesterdays_bill_synced_within_its_lag_is_labelled_until_a_sync_past_it(
    clock: None, home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Yesterday's bill synced just after midnight, inside Anthropic's one-hour lag, may still be
    missing late rows: above the local call it is the total, labelled partial as today's is. Synced
    again past the lag it is the whole bill, and the label goes."""
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    claude_code_call_logged(home, f"{yesterday}T09:00:00.000Z")
    fake = FakeAnthropic({anthropic.COST_PATH: {yesterday: [{"amount": "250", "currency": "USD"}]}})
    with anthropic_served(fake, monkeypatch):
        lagging = await synced_then_asked("yesterday")
        lagging_json, lagging_text = reported(capsys, "yesterday")
        with time_machine.travel(datetime.now(UTC) + timedelta(hours=1, minutes=30), tick=True):
            settled = await synced_then_asked("yesterday")
            settled_json, settled_text = reported(capsys, "yesterday")
    for result in (lagging, lagging_json):
        assert totals(result) == {(yesterday, "billed"): Decimal("2.5")}
        assert coverage(result, "anthropic").estimated_days == [weighed_bill(yesterday)]
        assert [a.reason for a in result.attribution] == [PARTIAL_OVER_LOCAL]
    assert f"partial: anthropic: {yesterday} billed so far (synced before the day ended" in lagging_text
    for result in (settled, settled_json):
        assert totals(result) == {(yesterday, "billed"): Decimal("2.5")}
        cov = coverage(result, "anthropic")
        assert (cov.billed_days, cov.estimated_days) == (1, [])
        assert [a.reason for a in result.attribution] == [
            "anthropic billing data covers the UTC day and is the total"
        ]
    assert "partial:" not in settled_text and "billed so far" not in settled_text
