"""Seat fees spread over their billing periods, exactly, and counted beside API spend once."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine

from cost_mcp import launcher
from cost_mcp.analytics import subscriptions
from cost_mcp.analytics.spend import Filters, fees_ahead, get_spend, resolve
from cost_mcp.config import Settings, load_settings
from cost_mcp.errors import InvalidInputError, NotFoundError
from cost_mcp.pricing import Pricer
from cost_mcp.sources import agents
from cost_mcp.sources.claude_code import ingest
from cost_mcp.store import write_transaction
from cost_mcp.store.buckets import DAY_MS, Bucket, replace_range
from cost_mcp.store.connection import Conn
from tests.sources.claude_logs import assistant, session_file, write

SET_ON = date(2026, 12, 1)
"""The day a subscription is set or removed on here (the configured timezone's, as callers pass it)."""

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "agents"


LATER = date(2030, 1, 1)
"""Seen from after every period these tests ask about, so each fee day has come."""


def total(conn: Conn, settings: Settings, start: str, end: str, **filters: list[str]) -> Decimal:
    p = resolve(settings, None, start, end, None)
    return get_spend(conn, settings, p, [], Filters(**filters), today=LATER).total_usd


def test_this_month_so_far_counts_only_the_days_that_have_come(conn: Conn, settings: Settings) -> None:
    # A $200 seat from Nov 15 (Nov 15 - Dec 14: 30 days, $6.666666667 a day), asked on Dec 2.
    subscriptions.set_subscription(
        conn, "max", "anthropic", Decimal(200), "monthly", "2026-11-15", today=SET_ON
    )
    dec2 = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
    p = resolve(settings, "this_month", None, None, None, now=dec2)
    so_far = get_spend(conn, settings, p, [], today=dec2.date())
    assert so_far.total_usd == Decimal("13.333333334")  # Dec 1 and 2 (the first 20 days carry a nano more)
    assert fees_ahead(conn, p, Filters(), dec2.date()) == Decimal("203.010752686") - Decimal("13.333333334")
    assert total(conn, settings, "2026-12-01", "2026-12-31") == Decimal("203.010752686")


def test_monthly_fee_over_a_partial_month(conn: Conn, settings: Settings) -> None:
    # $30 billed from Mar 10: the period Mar 10 - Apr 9 has 31 days; 30e9 nanos / 31 = 967,741,935 r 15,
    # so the first 15 days carry one nano more. March holds 22 of its days.
    subscriptions.set_subscription(
        conn, "cursor-pro", "cursor", Decimal(30), "monthly", "2026-03-10", today=SET_ON
    )
    assert total(conn, settings, "2026-03-01", "2026-03-31") == Decimal("21.290322585")
    assert total(conn, settings, "2026-03-10", "2026-04-09") == Decimal(30)  # one whole period, exactly
    assert total(conn, settings, "2026-02-01", "2026-02-28") == 0  # before it started


def test_yearly_fee(conn: Conn, settings: Settings) -> None:
    subscriptions.set_subscription(
        conn, "midjourney", "midjourney", Decimal(120), "yearly", "2026-01-01", today=SET_ON
    )
    assert total(conn, settings, "2026-01-01", "2026-01-31") == Decimal("10.191780844")
    assert total(conn, settings, "2026-01-01", "2026-12-31") == Decimal(120)
    assert total(conn, settings, "2027-01-01", "2027-12-31") == Decimal(120)


def test_subscription_ending_mid_period_counts_to_its_end(conn: Conn, settings: Settings) -> None:
    subscriptions.set_subscription(
        conn, "plus", "openai", Decimal(30), "monthly", "2026-03-01", end="2026-03-15", today=SET_ON
    )
    assert total(conn, settings, "2026-03-01", "2026-03-31") == Decimal("14.51612904")
    assert total(conn, settings, "2026-04-01", "2026-04-30") == 0


def test_billing_periods_from_the_31st_clamp_to_month_ends() -> None:
    periods = subscriptions.billing_periods(date(2026, 1, 31), "monthly")
    firsts = [next(periods)[0] for _ in range(4)]
    assert firsts == [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30)]


def test_seats_and_api_spend_together_without_double_counting(
    home: Path, conn: Conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COST_MCP_CLAUDE_CODE_BILLING", "subscription")
    settings = load_settings()
    # Claude Code usage covered by Ana's Claude Max seat: shown as value, not spend.
    write(
        session_file(home / "claude", "s1"),
        assistant("m1", "r1", "2026-03-05T10:00:00.000Z", input=100_000, output=10_000),
    )
    ingest(conn, settings, Pricer())
    subscriptions.set_subscription(
        conn, "max-ana", "anthropic", Decimal(31), "monthly", "2026-03-01", member="ana", today=SET_ON
    )
    # OpenAI API billed on Mar 5 beside Bo's ChatGPT seat.
    day = int(datetime(2026, 3, 5, tzinfo=UTC).timestamp()) * 1000
    with write_transaction(conn):
        replace_range(
            conn, "openai", "cost", day, day + DAY_MS, [Bucket(day, day + DAY_MS, cost_nanos=4_000_000_000)]
        )
    subscriptions.set_subscription(
        conn, "plus-bo", "openai", Decimal(31), "monthly", "2026-03-01", member="bo", today=SET_ON
    )
    p = resolve(settings, None, "2026-03-01", "2026-03-10", None)
    result = get_spend(conn, settings, p, ["member", "basis"], today=LATER)
    rows = {(r.group["member"], r.basis): r.cost_usd for r in result.rows}
    assert rows == {
        ("ana", "subscription"): Decimal(10),
        ("bo", "subscription"): Decimal(10),
        (None, "billed"): Decimal(4),
    }
    assert result.total_usd == Decimal(24)
    assert [a.reason for a in result.attribution] == [
        "Claude Code is covered by a subscription: API-equivalent value, not spend"
    ]
    assert not [w for w in result.warnings if "seat fee is counted beside" in w]


def test_an_anthropic_seat_beside_claude_code_at_api_prices_asks_which_it_is(
    home: Path, conn: Conn, settings: Settings
) -> None:
    """A Max seat registered while Claude Code is counted at API prices (the default) counts the
    plan's fee and the usage it paid for: the answer asks the user to say which it is."""
    write(
        session_file(home / "claude", "s1"),
        assistant("m1", "r1", "2026-03-05T10:00:00.000Z", input=100_000, output=10_000),
    )
    ingest(conn, settings, Pricer())
    p = resolve(settings, None, "2026-03-01", "2026-03-10", None)
    warned = "if the seat is a Pro or Max plan that covers Claude Code, set COST_MCP_CLAUDE_CODE_BILLING"
    assert not [w for w in get_spend(conn, settings, p, [], today=LATER).warnings if warned in w]
    subscriptions.set_subscription(
        conn, "max", "anthropic", Decimal(31), "monthly", "2026-03-01", today=SET_ON
    )
    result = get_spend(conn, settings, p, [], today=LATER)
    assert result.total_usd == Decimal(10) + Decimal("0.45")  # both counted, as configured
    assert [w for w in result.warnings if warned in w]
    # A seat at another vendor says nothing about Claude Code.
    subscriptions.delete_subscription(conn, "max", today=SET_ON)
    subscriptions.set_subscription(conn, "plus", "openai", Decimal(31), "monthly", "2026-03-01", today=SET_ON)
    assert not [w for w in get_spend(conn, settings, p, [], today=LATER).warnings if warned in w]


def test_filters_apply_to_subscriptions(conn: Conn, settings: Settings) -> None:
    subscriptions.set_subscription(
        conn, "a", "anthropic", Decimal(31), "monthly", "2026-03-01", member="ana", today=SET_ON
    )
    assert total(conn, settings, "2026-03-01", "2026-03-31", members=["ana"]) == Decimal(31)
    assert total(conn, settings, "2026-03-01", "2026-03-31", members=["bo"]) == 0
    assert total(conn, settings, "2026-03-01", "2026-03-31", models=["gpt-5"]) == 0


def test_bad_subscriptions_are_refused(conn: Conn) -> None:
    with pytest.raises(InvalidInputError, match="before `start`"):
        subscriptions.set_subscription(
            conn, "x", "v", Decimal(1), "monthly", "2026-03-10", end="2026-03-01", today=SET_ON
        )
    with pytest.raises(InvalidInputError, match="YYYY-MM-DD"):
        subscriptions.set_subscription(conn, "x", "v", Decimal(1), "monthly", "March 1st", today=SET_ON)
    with pytest.raises(NotFoundError, match="none yet"):
        subscriptions.delete_subscription(conn, "x", today=SET_ON)


def test_listing_gives_the_monthly_equivalent(conn: Conn) -> None:
    subscriptions.set_subscription(
        conn, "a", "anthropic", Decimal(200), "monthly", "2026-01-01", today=SET_ON
    )
    subscriptions.set_subscription(
        conn, "b", "midjourney", Decimal(120), "yearly", "2026-01-01", today=SET_ON
    )
    subscriptions.set_subscription(
        conn, "c", "openai", Decimal(20), "monthly", "2026-01-01", end="2026-02-01", today=SET_ON
    )
    listing = subscriptions.list_subscriptions(conn, today=date(2026, 6, 1))
    assert listing.monthly_equivalent_usd == Decimal(210)


def test_replacing_a_subscription_says_what_it_changes_in_fees_already_counted(
    conn: Conn, settings: Settings
) -> None:
    """A lead moves Claude Max from $200 to $100 a month by setting the same name again: every past
    month is recounted at $100, a reconciled November included. The replacement says so, with the
    exact amount, and how to change a plan from a day on instead; a change that leaves past fees as
    they were (a later end, a member) says nothing."""
    subscriptions.set_subscription(
        conn, "max", "anthropic", Decimal(200), "monthly", "2026-10-15", today=SET_ON
    )
    nov = ("2026-11-01", "2026-11-30")
    assert total(conn, settings, *nov) == Decimal("196.989247314")  # 200 x 14/31 + 200 x 16/30, in nanos
    today = date(2026, 12, 5)
    again = subscriptions.set_subscription(
        conn, "max", "anthropic", Decimal(200), "monthly", "2026-10-15", end="2027-06-30", today=today
    )
    assert again.warnings == []
    cheaper = subscriptions.set_subscription(
        conn, "max", "anthropic", Decimal(100), "monthly", "2026-10-15", today=today
    )
    # Oct 15 - Dec 5: a whole period ($200) and 21 of the next 30 days ($140), at half the fee.
    assert cheaper.warnings == [
        "subscription 'max' replaced: its fees from 2026-10-15 to 2026-12-05 change by -$170.00 ($340.00 "
        "-> $170.00) in every report of those days, past months too; to change a plan from a day on and "
        "keep what was counted before, give the old one an `end` (the day before) and add the new plan "
        "under another name"
    ]
    assert total(conn, settings, *nov) == Decimal("98.494623654")


def test_a_chatgpt_seat_beside_codex_at_api_prices_says_it_may_count_twice(
    home: Path, conn: Conn, settings: Settings
) -> None:
    """The QA case (h-qaprov2 F7): a ChatGPT Plus seat registered (vendor openai) and Codex's calls
    read from its logs at API prices were both counted, with nothing said, though Codex signed in
    with that plan uses the plan: the fee and the usage it paid for, one dollar twice. The answer
    now says so (Claude Code's twin case asks for COST_MCP_CLAUDE_CODE_BILLING)."""
    shutil.copytree(FIXTURES / "codex", home / "codex", dirs_exist_ok=True)
    agents.ingest_all(conn, settings, Pricer())
    p = resolve(settings, None, "2026-11-20", "2026-11-20", None)
    warned = "a ChatGPT (OpenAI) seat fee is counted beside Codex's usage at API prices"
    codex_only = get_spend(conn, settings, p, [], today=LATER)
    assert codex_only.total_usd > 0
    assert not [w for w in codex_only.warnings if warned in w]
    subscriptions.set_subscription(conn, "plus", "openai", Decimal(30), "monthly", "2026-11-01", today=SET_ON)
    result = get_spend(conn, settings, p, [], today=LATER)
    assert result.total_usd == codex_only.total_usd + Decimal(1)  # both counted, as configured
    assert [w for w in result.warnings if w.startswith(warned)]
    # A seat at another vendor says nothing about Codex.
    subscriptions.delete_subscription(conn, "plus", today=SET_ON)
    subscriptions.set_subscription(
        conn, "max", "anthropic", Decimal(30), "monthly", "2026-11-01", today=SET_ON
    )
    assert not [w for w in get_spend(conn, settings, p, [], today=LATER).warnings if warned in w]


def test_running_now_is_said_of_the_local_day(
    conn: Conn, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`subscription list` said what runs "now" on the UTC date: at 18:00 on Dec 31 in Pago Pago
    (05:00 UTC on Jan 1) a plan ending Dec 31, whose fee that day's reports count, was not running
    and one from Jan 1 was. It is the configured timezone's day, as every report's."""
    monkeypatch.setenv("COST_MCP_TIMEZONE", "Pacific/Pago_Pago")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    subscriptions.set_subscription(
        conn, "old", "openai", Decimal(20), "monthly", "2026-01-01", end="2026-12-31", today=SET_ON
    )
    subscriptions.set_subscription(
        conn, "new", "anthropic", Decimal(100), "monthly", "2027-01-01", today=SET_ON
    )
    now = datetime(2027, 1, 1, 5, tzinfo=UTC)
    today = now.astimezone(ZoneInfo("Pacific/Pago_Pago")).date()  # the oracle: zoneinfo's local date
    running = [(20, "2026-01-01", "2026-12-31"), (100, "2027-01-01", "9999-12-31")]
    expected = sum(a for a, first, last in running if first <= today.isoformat() <= last)
    assert expected == 20
    with time_machine.travel(now, tick=False):
        assert launcher.main(["subscription", "list"]) == 0
    assert f"running now: ${expected}.00 per month" in capsys.readouterr().out
