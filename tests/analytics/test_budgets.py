"""Budgets over a real ledger: calendar periods, exact arithmetic, alerts once, hard vs soft."""

from __future__ import annotations

import contextlib
import json
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr

from cost_mcp import notify, sync
from cost_mcp.analytics import agents, budgets
from cost_mcp.analytics import reported as reported_calls
from cost_mcp.analytics.alerts import take_alerts
from cost_mcp.config import Settings, load_settings
from cost_mcp.errors import InvalidInputError, NotFoundError
from cost_mcp.models import Budget, BudgetScope, RecordResult
from cost_mcp.periods import to_ms
from cost_mcp.pricing import Pricer, Tokens
from cost_mcp.sources.reported import record_call
from cost_mcp.store import alerts as alert_store
from cost_mcp.store import connect, deliveries, write_transaction
from cost_mcp.store.connection import Conn
from cost_mcp.store.reported import Selection
from tests import fleet

SET_ON = date(2026, 12, 1)
"""The day a subscription is set or removed on here (the configured timezone's, as callers pass it)."""

SONNET = "claude-sonnet-4-5"
FLAT = "gpt-4o"  # $2.50 per million input tokens at any size: amounts below are exact token counts


def spend_usd(conn: Conn, pricer: Pricer, usd: Decimal, when: datetime, *, agent: str = "bot") -> None:
    """Record a call costing exactly ``usd`` (gpt-4o input, a flat $2.50 per million tokens)."""
    tokens = usd * 400_000
    assert tokens == int(tokens)
    record_call(
        conn,
        pricer,
        provider="openai",
        model=FLAT,
        tokens=Tokens(input=int(tokens)),
        agent=agent,
        timestamp=when,
        now=when,
    )


def day_budget(conn: Conn, amount: str = "5", **scope: list[str]) -> Budget:
    return budgets.set_budget(conn, "daily", Decimal(amount), "day", BudgetScope(**scope), hard=True)


def test_day_budget_counts_exactly_its_calendar_day_in_the_timezone(
    conn: Conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COST_MCP_TIMEZONE", "Europe/Paris")
    s = load_settings()
    pricer = Pricer()
    budget = day_budget(conn)
    # Paris is UTC+1 in November: its Nov 10 runs 23:00Z Nov 9 .. 23:00Z Nov 10.
    spend_usd(conn, pricer, Decimal("0.99"), datetime(2026, 11, 9, 22, 59, 59, tzinfo=UTC))  # Nov 9 local
    spend_usd(conn, pricer, Decimal("1.20"), datetime(2026, 11, 9, 23, 0, 0, tzinfo=UTC))  # Nov 10 local
    spend_usd(conn, pricer, Decimal("2.31"), datetime(2026, 11, 10, 22, 59, 59, tzinfo=UTC))  # Nov 10 local
    spend_usd(conn, pricer, Decimal("4.00"), datetime(2026, 11, 10, 23, 0, 0, tzinfo=UTC))  # Nov 11 local
    state = budgets.state_of(conn, s, budget, datetime(2026, 11, 10, 12, tzinfo=UTC))
    assert state.period_start == "2026-11-09T23:00:00.000Z"
    assert state.spent_usd == Decimal("3.51")
    assert state.remaining_usd == Decimal("1.49")
    assert state.percent == 70.2


@pytest.mark.parametrize(
    ("week_start", "first_day"),
    [("monday", "2026-11-16"), ("sunday", "2026-11-15"), ("saturday", "2026-11-21")],
)
def test_week_budget_follows_the_week_start(
    conn: Conn, monkeypatch: pytest.MonkeyPatch, week_start: str, first_day: str
) -> None:
    monkeypatch.setenv("COST_MCP_WEEK_START", week_start)
    s = load_settings()
    budget = budgets.set_budget(conn, "weekly", Decimal(100), "week", BudgetScope())
    state = budgets.state_of(conn, s, budget, datetime(2026, 11, 21, 12, tzinfo=UTC))  # a Saturday
    assert state.period_start.startswith(first_day)


@pytest.mark.parametrize(
    ("now", "start", "end"),
    [
        (datetime(2026, 2, 14, tzinfo=UTC), "2026-02-01", "2026-03-01"),
        (datetime(2028, 2, 29, tzinfo=UTC), "2028-02-01", "2028-03-01"),
        (datetime(2026, 12, 31, 23, tzinfo=UTC), "2026-12-01", "2027-01-01"),
    ],
)
def test_month_budget_spans_the_calendar_month(
    conn: Conn, settings: Settings, now: datetime, start: str, end: str
) -> None:
    budget = budgets.set_budget(conn, "monthly", Decimal(150), "month", BudgetScope())
    state = budgets.state_of(conn, settings, budget, now)
    assert state.period_start.startswith(start)
    assert state.period_end.startswith(end)


def test_projection_and_statuses(conn: Conn, settings: Settings) -> None:
    pricer = Pricer()
    budget = budgets.set_budget(conn, "daily", Decimal(10), "day", BudgetScope())
    spend_usd(conn, pricer, Decimal(3), datetime(2026, 11, 10, 1, tzinfo=UTC))
    early = budgets.state_of(conn, settings, budget, datetime(2026, 11, 10, 6, tzinfo=UTC))
    assert early.projected_usd == Decimal(12)  # $3 in 6 hours of 24
    assert early.status == "forecast_exceeded"
    late = budgets.state_of(conn, settings, budget, datetime(2026, 11, 10, 18, tzinfo=UTC))
    assert late.projected_usd == Decimal(4)
    assert late.status == "ok"
    spend_usd(conn, pricer, Decimal(3), datetime(2026, 11, 10, 19, tzinfo=UTC))
    assert (
        budgets.state_of(conn, settings, budget, datetime(2026, 11, 10, 23, tzinfo=UTC)).status == "warning"
    )
    spend_usd(conn, pricer, Decimal(4), datetime(2026, 11, 10, 23, tzinfo=UTC))
    assert (
        budgets.state_of(conn, settings, budget, datetime(2026, 11, 10, 23, 30, tzinfo=UTC)).status
        == "exceeded"
    )


def test_each_threshold_fires_once_and_rides_in_one_result(conn: Conn, settings: Settings) -> None:
    pricer = Pricer()
    now = datetime.now(UTC)
    day_budget(conn, "10")
    spend_usd(conn, pricer, Decimal(6), now)
    sync.fire_alerts(conn, settings)
    sync.fire_alerts(conn, settings)  # nothing new: 50% already fired
    first = take_alerts(conn)
    assert len(first) == 1
    assert "passed 50%" in first[0]
    assert take_alerts(conn) == []  # shown once
    spend_usd(conn, pricer, Decimal(5), now)
    sync.fire_alerts(conn, settings)
    # $11 of $10 crossed 80% and 100% at once: one alert, for 100%, naming the 80% it covers.
    [second] = take_alerts(conn)
    assert "passed 100%" in second and "covers 80% too" in second
    state = budgets.budget_status(conn, settings).budgets[0]
    assert state.fired_thresholds == [Decimal("0.5"), Decimal("0.8"), Decimal("1.0")]


def test_raising_a_budget_rearms_the_thresholds_its_new_amount_puts_out_of_reach(
    conn: Conn, settings: Settings
) -> None:
    pricer = Pricer()
    now = datetime.now(UTC)
    budgets.set_budget(conn, "daily", Decimal(1), "day", BudgetScope(), settings=settings)
    spend_usd(conn, pricer, Decimal("0.9"), now)
    sync.fire_alerts(conn, settings)
    assert len(take_alerts(conn)) == 1  # 80% of $1, covering 50%
    # Raised to $2, $0.90 is 45%: no threshold is reached any more, so none may stay fired.
    budgets.set_budget(conn, "daily", Decimal(2), "day", BudgetScope(), settings=settings)
    assert budgets.budget_status(conn, settings).budgets[0].fired_thresholds == []
    spend_usd(conn, pricer, Decimal("1.2"), now)  # $2.10: 105% of $2
    sync.fire_alerts(conn, settings)
    assert [a.split(":")[0] for a in take_alerts(conn)] == ["budget 'daily' passed 100% of $2.00 per day"]
    # Set again unchanged, or lowered under spend already past every threshold: nothing fires twice.
    budgets.set_budget(conn, "daily", Decimal(2), "day", BudgetScope(), settings=settings)
    budgets.set_budget(conn, "daily", Decimal("1.5"), "day", BudgetScope(), settings=settings)
    sync.fire_alerts(conn, settings)
    assert take_alerts(conn) == []
    assert budgets.budget_status(conn, settings).budgets[0].fired_thresholds == [
        Decimal("0.5"),
        Decimal("0.8"),
        Decimal("1.0"),
    ]


def in_zone(monkeypatch: pytest.MonkeyPatch, tz: str) -> Settings:
    monkeypatch.setenv("COST_MCP_TIMEZONE", tz)
    return load_settings()


def test_a_budget_alerts_once_in_its_period_whatever_timezone_evaluates_it(
    conn: Conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The QA case (h-qatime F1): a developer in Los Angeles got the alerts of a monthly budget,
    flew to Paris mid-month, and got the same three alerts (and webhooks) again: the alert was keyed
    by the instant March began in the zone that evaluated it. Team members in Paris, New York and
    Sydney sharing one ledger had each alert once per zone, for the same March."""
    pricer = Pricer()
    now = datetime(2026, 3, 15, 12, tzinfo=UTC)
    budgets.set_budget(conn, "monthly", Decimal(10), "month", BudgetScope())
    spend_usd(conn, pricer, Decimal(6), datetime(2026, 3, 10, 20, tzinfo=UTC))
    seen: list[str] = []
    for tz in ("America/Los_Angeles", "Europe/Paris", "America/New_York", "Australia/Sydney"):
        s = in_zone(monkeypatch, tz)
        with contextlib.closing(connect(s.db)) as process:  # each zone its own process
            sync.fire_alerts(process, s, now=now)
            seen += take_alerts(process)
            state = budgets.state_of(process, s, budgets.get_budget(process, "monthly"), now)
            assert state.fired_thresholds == [Decimal("0.5")]
    assert [a.split(":")[0] for a in seen] == ["budget 'monthly' passed 50% of $10.00 per month"]
    # The next threshold, crossed in Sydney, fires there once, and nowhere again.
    spend_usd(conn, pricer, Decimal(3), datetime(2026, 3, 14, 20, tzinfo=UTC))
    for tz in ("Australia/Sydney", "Asia/Kolkata", "America/Los_Angeles"):
        s = in_zone(monkeypatch, tz)
        with contextlib.closing(connect(s.db)) as process:
            sync.fire_alerts(process, s, now=now)
            seen += take_alerts(process)
    assert [a.split(":")[0] for a in seen[1:]] == ["budget 'monthly' passed 80% of $10.00 per month"]
    # April is another period in every zone: its first crossing alerts again.
    spend_usd(conn, pricer, Decimal(6), datetime(2026, 4, 2, 12, tzinfo=UTC))
    s = in_zone(monkeypatch, "Europe/Paris")
    sync.fire_alerts(conn, s, now=datetime(2026, 4, 2, 13, tzinfo=UTC))
    assert [a.split(":")[0] for a in take_alerts(conn)] == ["budget 'monthly' passed 50% of $10.00 per month"]


def test_an_alert_fired_before_periods_were_keyed_by_date_still_counts_as_fired(
    conn: Conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ledgers keyed an alert by the instant its period began in the configured zone: an alert of
    # this month fired before the upgrade must not fire again after it.
    s = in_zone(monkeypatch, "Asia/Kolkata")
    now = datetime(2026, 3, 15, 12, tzinfo=UTC)
    budgets.set_budget(conn, "monthly", Decimal(10), "month", BudgetScope())
    spend_usd(conn, Pricer(), Decimal(6), datetime(2026, 3, 10, 20, tzinfo=UTC))
    sync.fire_alerts(conn, s, now=now)
    assert len(take_alerts(conn)) == 1
    kolkata_march = int(datetime(2026, 2, 28, 18, 30, tzinfo=UTC).timestamp()) * 1000
    with write_transaction(conn):
        conn.execute("UPDATE budget_alerts SET period_start_ms = ?", (kolkata_march,))
    with contextlib.closing(connect(s.db)) as process:
        sync.fire_alerts(process, s, now=now)
        assert take_alerts(process) == []
        state = budgets.state_of(process, s, budgets.get_budget(process, "monthly"), now)
        assert state.fired_thresholds == [Decimal("0.5")]


def test_hard_budget_refuses_soft_budget_warns(conn: Conn, settings: Settings) -> None:
    pricer = Pricer()
    budgets.set_budget(conn, "hard-agent", Decimal(5), "day", BudgetScope(agents=["bot"]), hard=True)
    budgets.set_budget(conn, "soft-all", Decimal(2), "day", BudgetScope())
    spend_usd(conn, pricer, Decimal("4.50"), datetime.now(UTC))
    small = agents.check(
        conn,
        settings,
        pricer,
        estimated_cost_usd=Decimal("0.40"),
        model=None,
        provider=None,
        tokens=None,
        agent="bot",
        project=None,
    )
    assert small.allowed is True
    assert "soft budget 'soft-all'" in small.reason
    big = agents.check(
        conn,
        settings,
        pricer,
        estimated_cost_usd=Decimal("0.60"),
        model=None,
        provider=None,
        tokens=None,
        agent="bot",
        project=None,
    )
    assert big.allowed is False
    assert big.binding_budget == "hard-agent"
    # The small call was allowed and not recorded yet: its $0.40 is held.
    assert "$0.1000 left" in big.reason
    assert "$0.4000 of its $5.00 is held by 1 allowed call not recorded yet" in big.reason
    other_agent = agents.check(
        conn,
        settings,
        pricer,
        estimated_cost_usd=Decimal("0.60"),
        model=None,
        provider=None,
        tokens=None,
        agent="someone-else",
        project=None,
    )
    assert other_agent.allowed is True  # the hard budget is scoped to "bot"


@pytest.mark.usefixtures("clock")  # the spend and the check on one day, whenever the suite runs
def test_a_used_up_hard_budget_says_so(conn: Conn, settings: Settings) -> None:
    budgets.set_budget(conn, "hard", Decimal(5), "day", BudgetScope(), hard=True)
    spend_usd(conn, Pricer(), Decimal("5.25"), datetime.now(UTC))
    prompt = agents.check(
        conn,
        settings,
        Pricer(),
        estimated_cost_usd=Decimal(0),  # a prompt about to be sent: nothing known of its cost
        model=None,
        provider=None,
        tokens=None,
        agent=None,
        project=None,
    )
    assert prompt.allowed is False
    assert prompt.reason.startswith("refused: hard budget 'hard' is used up ($5.2500 spent of $5.00);")


@pytest.mark.usefixtures("clock")  # the spend and the checks on one day, whenever the suite runs
def test_a_refusal_tells_held_room_apart_from_spend(conn: Conn, settings: Settings) -> None:
    """A check allowed under a hard budget holds its cost until its call is recorded. The next
    refusal said "is used up ($5.0000 spent of $5.00)" where $3 was spent and $2 held: a spend no
    report, budget status or status line showed."""
    budgets.set_budget(conn, "hard", Decimal(5), "day", BudgetScope(), hard=True)
    spend_usd(conn, Pricer(), Decimal(3), datetime.now(UTC))
    held = agents.check(
        conn,
        settings,
        Pricer(),
        estimated_cost_usd=Decimal(2),
        model=None,
        provider=None,
        tokens=None,
        agent="bot",
        project=None,
    )
    assert held.allowed is True and held.held_usd == 2
    refused = budgets.check_budget(conn, settings, Decimal("0.01"))
    assert refused.allowed is False
    assert refused.reason == (
        "refused: hard budget 'hard' has no room left ($3.0000 spent and $2.0000 held of $5.00); "
        "use a cheaper model, wait for the next period, or ask for a bigger budget; $2.0000 of its $5.00 "
        "is held by 1 allowed call not recorded yet, released when recorded or after "
        f"{settings.budget_hold_seconds} s"
    )
    assert budgets.budget_status(conn, settings).budgets[0].spent_usd == 3


def test_set_command_gives_a_budget_back_whole(conn: Conn, settings: Settings) -> None:
    """The command the hook and `budget set` print to raise a budget keeps everything it has, and says
    what the CLI cannot give (a basis other than usage, or usage and seat fees)."""
    scope = BudgetScope(projects=["/home/dev/my app"], members=["ana@example.com"], teams=["core"])
    made = budgets.set_budget(conn, "team week", Decimal(9), "week", scope, [Decimal("0.9")], hard=True)
    assert budgets.set_command(made) == (
        "cost-mcp budget set 'team week' AMOUNT --period week --project '/home/dev/my app' "
        "--member ana@example.com --team core --threshold 0.9 --hard"
    )
    seats = budgets.set_budget(
        conn, "s", Decimal(1), "month", BudgetScope(basis=["subscription", "billed", "estimated"])
    )
    assert budgets.set_command(seats, "2") == "cost-mcp budget set s 2 --period month --include-subscriptions"
    billed = budgets.set_budget(conn, "b", Decimal(1), "month", BudgetScope(basis=["billed"]))
    assert budgets.set_command(billed) == (
        "cost-mcp budget set b AMOUNT --period month "
        "(the CLI cannot give its basis billed: the set_budget tool can)"
    )


def test_a_refusal_by_a_hair_shows_the_amounts_apart(conn: Conn, settings: Settings) -> None:
    """$0.99530 left and a call of $0.99531 read "has $0.9953 left ... needs ~$0.9953": a refusal
    that looked like a contradiction to the agent reading it."""
    budgets.set_budget(conn, "gate", Decimal(1), "day", BudgetScope(), hard=True)
    spend_usd(conn, Pricer(), Decimal("0.0047"), datetime.now(UTC))

    def check(usd: str) -> tuple[bool, str]:
        result = budgets.check_budget(conn, settings, Decimal(usd))
        return result.allowed, result.reason

    assert check("0.9953") == (True, "allowed: $0.0000 left on 'gate' after this call")
    assert check("0.99531") == (
        False,
        "refused: hard budget 'gate' has $0.99530 left of $1.00 and this call needs ~$0.99531; "
        "use a cheaper model, wait for the next period, or ask for a bigger budget",
    )
    assert check("0.9953001")[1].startswith("refused: hard budget 'gate' has $0.9953000 left of $1.00 and ")
    assert check("2")[1].startswith(
        "refused: hard budget 'gate' has $0.9953 left of $1.00 and this call needs ~$2.0000;"
    )


def test_a_check_that_leaves_out_what_a_hard_budget_is_scoped_by_says_so(
    conn: Conn, settings: Settings
) -> None:
    """An agent that forgot `agent` was told "allowed: no budget applies" while a hard budget held
    its agent: the fleet's cap never stopped it, and nothing said why."""
    budgets.set_budget(conn, "w1cap", Decimal("0.01"), "day", BudgetScope(agents=["w1"]), hard=True)
    budgets.set_budget(conn, "soft", Decimal("0.01"), "day", BudgetScope(models=[FLAT]))
    budgets.set_budget(
        conn, "eve", Decimal("0.01"), "day", BudgetScope(agents=["w1"], members=["eve@x.io"]), hard=True
    )

    def check(agent: str | None, member: str | None = None) -> tuple[bool, list[str]]:
        result = agents.check(
            conn,
            settings,
            Pricer(),
            estimated_cost_usd=Decimal(5),
            model=None,
            provider=None,
            tokens=None,
            agent=agent,
            project=None,
            member=member,
            member_view=member is not None,  # a member asking, as the team server passes it
        )
        return result.allowed, result.warnings

    w1cap = (
        "hard budget 'w1cap' is scoped by agent, which this check did not give, so it was not checked: "
        "pass agent as record_usage will report the call"
    )
    eve = w1cap.replace("w1cap", "eve")
    # A team-wide budget scoped by an agent that is not yet a member's own is not named to them (its
    # name is not theirs to learn, as budget_status hides it), but still said: it may hold their agent.
    unnamed = w1cap.replace("hard budget 'w1cap'", "a team-wide hard budget")
    assert check(None) == (True, [eve, w1cap])
    # A member is told only of budgets that could count them, never of another member's; of their
    # own too (QA: ana's own hard budget on her agent was left out, as if it were someone else's).
    assert check(None, member="ana@x.io") == (True, [unnamed])
    budgets.set_budget(
        conn, "ana", Decimal("0.01"), "day", BudgetScope(agents=["w1"], members=["ana@x.io"]), hard=True
    )
    assert check(None, member="ana@x.io") == (True, [w1cap.replace("w1cap", "ana"), unnamed])
    assert check("w1") == (False, [])
    assert check("w2") == (True, [])


def test_check_prices_a_model_call(conn: Conn, settings: Settings) -> None:
    budgets.set_budget(conn, "tiny", Decimal("0.01"), "day", BudgetScope(), hard=True)
    result = agents.check(
        conn,
        settings,
        Pricer(),
        estimated_cost_usd=None,
        model=SONNET,
        provider="anthropic",
        tokens=Tokens(input=10_000, output=1_000),
        agent=None,
        project=None,
    )
    assert result.estimated_cost_usd == Decimal("0.045")
    assert result.allowed is False


@pytest.mark.parametrize(
    ("estimate", "warned"),
    [
        ("0.01", "checked with estimated_cost_usd $0.0100, under half what the given tokens cost on "),
        ("0.03", None),  # within a factor of two of $0.045 either way: a fair estimate
        ("0.09", None),
        ("0.5", "checked with estimated_cost_usd $0.5000, over twice what the given tokens cost on "),
    ],
)
def test_a_check_given_a_cost_and_tokens_that_disagree_says_which_it_used(
    conn: Conn, settings: Settings, estimate: str, warned: str | None
) -> None:
    """Given both estimated_cost_usd and model + tokens, a check used the estimate and said nothing
    of the tokens: an estimate well under their price could pass a hard budget the call then broke."""
    budgets.set_budget(conn, "cap", Decimal("0.04"), "day", BudgetScope(), hard=True)
    result = agents.check(
        conn,
        settings,
        Pricer(),
        estimated_cost_usd=Decimal(estimate),
        model=SONNET,
        provider="anthropic",
        tokens=Tokens(input=10_000, output=1_000),  # $0.045 at list price
        agent=None,
        project=None,
    )
    assert result.estimated_cost_usd == Decimal(estimate)  # still the cost checked
    assert result.allowed is (Decimal(estimate) <= Decimal("0.04"))
    notes = [w for w in result.warnings if w.startswith("checked with estimated_cost_usd")]
    if warned is None:
        assert notes == []
    else:
        assert notes == [
            f"{warned}{SONNET} at list price ($0.0450); leave estimated_cost_usd out to check with the "
            "token price"
        ]


def test_check_needs_a_cost_or_a_model(conn: Conn, settings: Settings) -> None:
    with pytest.raises(InvalidInputError, match="estimated_cost_usd"):
        agents.check(
            conn,
            settings,
            Pricer(),
            estimated_cost_usd=None,
            model=None,
            provider=None,
            tokens=None,
            agent=None,
            project=None,
        )


def test_bad_budgets_are_refused(conn: Conn, settings: Settings) -> None:
    with pytest.raises(InvalidInputError, match="thresholds"):
        budgets.set_budget(conn, "x", Decimal(1), "day", BudgetScope(), thresholds=[Decimal(0)])
    with pytest.raises(InvalidInputError, match="http:// or https://"):
        budgets.set_budget(
            conn, "x", Decimal(1), "day", BudgetScope(), webhook="x", settings=_hooks(settings, x="ftp://x")
        )
    with pytest.raises(NotFoundError, match="no budgets exist yet"):
        budgets.delete_budget(conn, "x")


def test_record_usage_is_idempotent_and_keeps_unknown_models_unpriced(conn: Conn, settings: Settings) -> None:
    pricer = Pricer()
    first = agents.record_usage(
        conn,
        settings,
        pricer,
        provider="OpenAI",
        model=FLAT,
        tokens=Tokens(input=1_000_000),
        agent="bot",
        request_id="req_1",
    )
    again = agents.record_usage(
        conn,
        settings,
        pricer,
        provider="openai",
        model=FLAT,
        tokens=Tokens(input=1_000_000),
        agent="bot",
        request_id="req_1",
    )
    assert (first.recorded, again.recorded) == (True, False)
    assert first.cost_usd == again.cost_usd == Decimal("2.5")
    assert "already recorded" in again.warnings[0]
    assert conn.execute("SELECT COUNT(*) FROM usage_events").fetchone()[0] == 1
    unknown = agents.record_usage(
        conn, settings, pricer, provider="acme", model="acme-1", tokens=Tokens(input=10), agent="bot"
    )
    assert unknown.cost_usd is None
    assert "no known price" in unknown.warnings[0]


def test_a_report_under_a_recorded_id_with_other_counts_says_the_first_is_kept(
    conn: Conn, settings: Settings
) -> None:
    """An agent that reports a call which failed midway, then the finished call under the same id,
    was told only "already recorded", as for a plain retry: the difference was lost unseen."""
    pricer = Pricer()

    def report(input_tokens: int, output: int = 0, member: str | None = None) -> list[str]:
        result = agents.record_usage(
            conn,
            settings,
            pricer,
            provider="openai",
            model=FLAT,
            tokens=Tokens(input=input_tokens, output=output),
            agent="bot",
            request_id="req_9",
            member=member,
        )
        # Another member's call is not described to this one: neither what it cost nor its model.
        assert (result.cost_usd, result.priced_model) == ((None, None) if member else (Decimal("2.5"), FLAT))
        return result.warnings

    report(1_000_000)
    assert report(1_000_000) == ["request 'req_9' was already recorded; nothing was added"]
    assert report(3_000_000, 500) == [
        "request 'req_9' was already recorded; nothing was added",
        "this report of 'req_9' differs from the one recorded first (openai/gpt-4o, input 1,000,000 kept; "
        "this one: openai/gpt-4o, input 3,000,000, output 500): the first is what counts. Give each "
        "distinct call its own request_id; to replace the first, run `cost-mcp reported forget req_9` "
        "and report it under a new id",
    ]
    # Another member's call under that id: what it used and cost is not shown to this one.
    assert report(3_000_000, member="eve@example.com") == [TAKEN.format("req_9")]
    assert conn.execute("SELECT COUNT(*) FROM usage_events").fetchone()[0] == 1


TAKEN = (
    "request id {!r} cannot be recorded by you: this call was not recorded nor counted in your spend or "
    "budgets; report it under the request id its provider gave it, or leave request_id out to have a new id"
)
"""What a member is told of a request id another member's call holds, whatever that call's state."""


def test_a_member_learns_nothing_of_another_members_call_under_the_same_request_id(
    conn: Conn, settings: Settings
) -> None:
    """QA: bob's record_usage under ana's request id answered "belongs to a call another member
    reported", and under one of hers an admin forgot, `forgotten: true` and "was forgotten by the user
    (`cost-mcp reported forget`) ... do not report it again under another id". Bob now gets one
    answer for both, naming nobody and nothing of her call; her call stays hers, counted once."""

    def report(request_id: str, member: str, input_tokens: int = 400_000) -> RecordResult:
        return agents.record_usage(
            conn,
            settings,
            Pricer(),
            provider="openai",
            model=FLAT,
            tokens=Tokens(input=input_tokens),
            agent="bot",
            request_id=request_id,
            member=member,
        )

    ana, bob = "ana@example.com", "bob@example.com"
    assert report("req-held", ana).recorded and report("req-gone", ana).recorded
    reported_calls.forget(conn, settings, Selection(ids=["req-gone"]))
    answers = [report(rid, bob, 4_000_000) for rid in ("req-held", "req-gone")]
    for answer, rid in zip(answers, ("req-held", "req-gone"), strict=True):
        assert (answer.recorded, answer.forgotten, answer.cost_usd, answer.priced_model) == (
            False,
            False,
            None,
            None,
        )
        assert answer.warnings == [TAKEN.format(rid)]
    # Ana is still told her own call's state, and hers is all that counts.
    mine = report("req-gone", ana)
    assert (mine.recorded, mine.forgotten) == (False, True)
    assert "was forgotten by the user" in mine.warnings[0]
    rows = conn.execute("SELECT message_id, member, input_tokens FROM usage_events").fetchall()
    assert [tuple(r) for r in rows] == [("req-held", ana, 400_000)]


def test_an_empty_request_id_is_said_to_count_each_retry(conn: Conn, settings: Settings) -> None:
    """request_id="" (an id the agent failed to read) was taken as none without a word: each retry
    of the call counted again."""
    results = [
        agents.record_usage(
            conn,
            settings,
            Pricer(),
            provider="openai",
            model=FLAT,
            tokens=Tokens(input=4),
            agent="bot",
            request_id="",
        )
        for _ in range(2)
    ]
    assert [r.recorded for r in results] == [True, True]
    assert [r.warnings for r in results] == [
        [
            f"request_id was empty: recorded under a new id, {r.id!r}; a retry with an empty id counts the "
            "call again: pass the provider's request id, or this id"
        ]
        for r in results
    ]
    assert results[0].id.startswith("rec_") and results[0].id != results[1].id


def test_a_call_older_than_a_year_is_refused_with_the_way_forward(conn: Conn, settings: Settings) -> None:
    """A unix time or a mistyped year came back as "... is more than a year old" and nothing more."""
    now = datetime(2026, 12, 5, 9, tzinfo=UTC)
    with pytest.raises(InvalidInputError) as refused:
        record_call(
            conn,
            Pricer(),
            provider="openai",
            model=FLAT,
            tokens=Tokens(input=1),
            agent="bot",
            timestamp=datetime(2024, 12, 5, 9, 13, 20, tzinfo=UTC),
            now=now,
        )
    assert str(refused.value) == (
        "timestamp 2024-12-05T09:13:20+00:00 is more than a year old (the earliest taken is "
        "2025-12-04T09:00:00+00:00): "
        "give the call's own time as ISO 8601 with its offset, e.g. 2026-11-22T10:15:00Z, or omit it for "
        "a call just made"
    )


def test_record_usage_takes_a_back_dated_call_only_from_budgets_whose_period_holds_it(
    conn: Conn, settings: Settings
) -> None:
    pricer = Pricer()
    budget = day_budget(conn, "5")
    today = budgets.budget_period(budget, settings, datetime.now(UTC))
    yesterday = datetime.fromtimestamp(today.start_ms / 1000, UTC) - timedelta(hours=1)

    def record(request_id: str, when: datetime | None) -> tuple[Decimal, Decimal]:
        result = agents.record_usage(
            conn,
            settings,
            pricer,
            provider="openai",
            model=FLAT,
            tokens=Tokens(input=400_000),  # $1.00
            agent="bot",
            request_id=request_id,
            timestamp=when,
        )
        [daily] = result.budgets
        return daily.remaining_before_usd, daily.remaining_after_usd

    # Yesterday's call leaves today's $5 untouched, and the result must not say it took $1 of it.
    assert record("late-report", yesterday) == (Decimal(5), Decimal(5))
    assert record("now", None) == (Decimal(5), Decimal(4))


def test_record_usage_rejects_a_call_dated_more_than_a_day_ahead_and_says_what_to_fix(conn: Conn) -> None:
    now = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    with pytest.raises(InvalidInputError) as refused:
        record_call(
            conn,
            Pricer(),
            provider="anthropic",
            model=SONNET,
            tokens=Tokens(input=1),
            agent="a",
            timestamp=now + timedelta(days=1, minutes=1),
            now=now,
        )
    assert str(refused.value) == (
        "timestamp 2026-11-23T10:01:00+00:00 is more than a day after this server's clock "
        "(2026-11-22T10:00:00.000Z): check the date, time and timezone of the machine that made the "
        "call, or omit timestamp for a call just made"
    )
    assert conn.execute("SELECT count(*) FROM usage_events").fetchone()[0] == 0


def test_record_usage_stores_a_call_from_a_clock_ahead_at_its_arrival_as_a_push_does(
    conn: Conn, settings: Settings
) -> None:
    """A laptop whose clock runs 20 minutes fast: its agent's reports were refused ("in the
    future") and lost, where a push or an OTLP event from it is stored at its arrival with a
    warning. record_usage follows the same rule (periods.arrival_time)."""
    pricer = Pricer()
    day_budget(conn, "5")

    def record(request_id: str, ahead: timedelta) -> tuple[RecordResult, int]:
        before = datetime.now(UTC)
        result = agents.record_usage(
            conn,
            settings,
            pricer,
            provider="openai",
            model=FLAT,
            tokens=Tokens(input=400_000),  # $1.00
            agent="bot",
            request_id=request_id,
            timestamp=datetime.now(UTC) + ahead,
        )
        [ts_ms] = conn.execute(
            "SELECT ts_ms FROM usage_events WHERE message_id = ?", (request_id,)
        ).fetchone()
        assert to_ms(before) <= ts_ms <= to_ms(datetime.now(UTC))  # at its arrival, not its own date
        return result, ts_ms

    fast, _ = record("fast-clock", timedelta(minutes=20))
    assert fast.recorded and fast.cost_usd == Decimal(1)
    [ahead] = [w for w in fast.warnings if "after this server's clock" in w]
    assert ahead.endswith(
        "stored at the time the server received it, since no call happens later; check the date and "
        "time of the machine that made the call"
    )
    # It counts today, where it was made: the budget took it, and says so.
    [daily] = fast.budgets
    assert (daily.remaining_before_usd, daily.remaining_after_usd) == (Decimal(5), Decimal(4))
    # A clock a few seconds or minutes ahead is drift, not worth a word: stored at arrival, silently.
    drift, _ = record("drift", timedelta(minutes=3))
    assert drift.recorded and not [w for w in drift.warnings if "clock" in w]
    [state] = budgets.budget_status(conn, settings).budgets
    assert state.remaining_usd == Decimal(3)


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, object]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_webhook_receives_the_alert_as_json(conn: Conn, settings: Settings) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Hook.received.clear()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hooks/SECRET-TOKEN"
        settings = _hooks(settings, hook=url)
        budgets.set_budget(conn, "daily", Decimal(2), "day", BudgetScope(), webhook="hook", settings=settings)
        shown = budgets.get_budget(conn, "daily", settings).webhook_url
        assert shown == f"http://127.0.0.1:{server.server_port}/…"
        spend_usd(conn, Pricer(), Decimal(3), datetime.now(UTC))
        thread = sync.fire_alerts(conn, settings)
        assert thread is not None
        notify.drain()
    finally:
        server.shutdown()
        server.server_close()
    # crossed at once: one POST, for 100%, covering 50% and 80%
    assert [(p["budget"], p["threshold"], p["covers"]) for p in _Hook.received] == [
        ("daily", "1.0", ["0.5", "0.8"]),
    ]
    assert _Hook.received[0]["spent_usd"] == "3.000000000"


def test_failing_webhook_is_logged_and_blocks_nothing(
    conn: Conn, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # Nothing listens on this port: the connection is refused.
    with socket_port() as port:
        pass
    settings = _hooks(settings, hook=f"http://127.0.0.1:{port}/secret-path")
    budgets.set_budget(conn, "daily", Decimal(1), "day", BudgetScope(), webhook="hook", settings=settings)
    spend_usd(conn, Pricer(), Decimal(2), datetime.now(UTC))
    with caplog.at_level("WARNING"):
        thread = sync.fire_alerts(conn, settings)
        assert thread is not None
        notify.drain()
    assert f"not delivered to webhook 'hook' (http://127.0.0.1:{port}/…)" in caplog.text
    assert "secret-path" not in caplog.text
    assert len(take_alerts(conn)) == 1  # the alert itself is kept (100%, covering 50% and 80%)
    # ... and so are their deliveries: shown in budget_status, retried later
    warnings = budgets.budget_status(conn, settings).warnings
    assert len(warnings) == 1 and "retrying with backoff" in warnings[0] and "ConnectError" in warnings[0]


def _hooks(settings: Settings, **urls: str) -> Settings:
    """``settings`` with these webhooks configured (COST_MCP_WEBHOOKS), by name."""
    return settings.model_copy(update={"webhooks": SecretStr(json.dumps(urls))})


class socket_port:
    """A free local port, closed again on exit."""

    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        return int(self.sock.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def _record_many(db: str, worker: int, count: int, at: datetime) -> None:
    settings = load_settings({"COST_MCP_DB": db, "COST_MCP_TIMEZONE": "UTC"}, env_file=Path("/nonexistent"))
    conn = connect(settings.db)
    pricer = Pricer()
    for i in range(count):
        agents.record_usage(
            conn,
            settings,
            pricer,
            provider="openai",
            model=FLAT,
            tokens=Tokens(input=1_000),
            agent="bot",
            request_id=f"w{worker}-{i}",
            timestamp=at,
        )
    conn.close()


def test_two_processes_recording_at_once_lose_nothing(conn: Conn, settings: Settings) -> None:
    budgets.set_budget(conn, "daily", Decimal(1000), "day", BudgetScope())
    # Every call at one moment, and the budget read at it: recorded at "now" over a few seconds, the
    # calls of a run begun just before midnight fell on two days and today's budget saw some.
    at = datetime.now(UTC) - timedelta(seconds=1)
    # Two processes forked from one that imported the code once (tests/fleet.py), not each spawned.
    recorders = fleet.start(_record_many, [(str(settings.db), w, 60, at) for w in range(2)])
    recorders.join(120)
    assert recorders.exitcode == 0  # both exited 0
    assert conn.execute("SELECT COUNT(*) FROM usage_events").fetchone()[0] == 120
    state = budgets.budget_status(conn, settings, now=at).budgets[0]
    assert state.spent_usd == Decimal("0.3")  # 120 x 1,000 tokens x $2.50/MTok


def test_a_budget_counts_usage_and_seats_only_when_it_says_so(conn: Conn, settings: Settings) -> None:
    from cost_mcp.analytics import subscriptions

    # A $300 seat from Nov 1 (30 days: $10 a day) and $6 of API calls, seen as Nov 10 begins.
    subscriptions.set_subscription(
        conn, "max", "anthropic", Decimal(300), "monthly", "2026-11-01", today=SET_ON
    )
    spend_usd(conn, Pricer(), Decimal(6), datetime(2026, 11, 9, 1, tzinfo=UTC))
    now = datetime(2026, 11, 10, 0, tzinfo=UTC)
    usage_only = budgets.set_budget(conn, "api", Decimal(150), "month", BudgetScope())
    state = budgets.state_of(conn, settings, usage_only, now)
    assert state.spent_usd == Decimal(6)  # the seat is not API spend
    assert state.projected_usd == Decimal(20)  # $6 over 9 of 30 days
    with_seats = budgets.set_budget(
        conn, "all", Decimal(400), "month", BudgetScope(basis=["billed", "estimated", "subscription"])
    )
    state = budgets.state_of(conn, settings, with_seats, now)
    assert state.spent_usd == Decimal(106)  # Nov 1-10 of the seat ($100) and the $6
    assert state.projected_usd == Decimal(320)  # the seat's whole $300, exactly, plus $20 of usage
    seats_only = budgets.set_budget(
        conn, "seats", Decimal(1000), "month", BudgetScope(basis=["subscription"])
    )
    assert budgets.state_of(conn, settings, seats_only, now).spent_usd == Decimal(100)
    check = budgets.check_budget(conn, settings, Decimal(1), provider="openai", now=now)
    assert {c.name for c in check.budgets} == {"api", "all"}  # a call is not a seat fee


def test_a_budgets_spent_says_how_much_is_billed_estimated_and_seat_fees(
    conn: Conn, settings: Settings
) -> None:
    """Which part of a budget's spent is the provider's bill and which is tokens x list price (or
    seat fees): every answer says which is which, and the parts add up to spent exactly."""
    from cost_mcp.analytics import subscriptions
    from cost_mcp.store import write_transaction
    from cost_mcp.store.buckets import DAY_MS, Bucket, replace_range

    subscriptions.set_subscription(
        conn, "max", "anthropic", Decimal(300), "monthly", "2026-11-01", today=SET_ON
    )
    spend_usd(conn, Pricer(), Decimal(6), datetime(2026, 11, 9, 1, tzinfo=UTC))  # estimated
    nov3 = int(datetime(2026, 11, 3, tzinfo=UTC).timestamp() * 1000)
    with write_transaction(conn):
        bill = Bucket(nov3, nov3 + DAY_MS, cost_nanos=12_345_000_000, model=SONNET)
        replace_range(conn, "anthropic", "cost", nov3, nov3 + DAY_MS, [bill])
    budgets.set_budget(
        conn, "all", Decimal(400), "month", BudgetScope(basis=["billed", "estimated", "subscription"])
    )
    budgets.set_budget(conn, "api", Decimal(150), "month", BudgetScope())
    now = datetime(2026, 11, 10, 0, tzinfo=UTC)
    states = {s.budget.name: s for s in budgets.budget_status(conn, settings, now=now).budgets}
    assert states["all"].spent_usd == Decimal("118.345")
    assert states["all"].spent_by_basis == {
        "billed": Decimal("12.345"),
        "estimated": Decimal(6),
        "subscription": Decimal(100),
    }
    assert states["api"].spent_by_basis == {"billed": Decimal("12.345"), "estimated": Decimal(6)}
    assert sum(states["api"].spent_by_basis.values()) == states["api"].spent_usd


def test_a_budgets_spent_by_basis_counts_the_unpriced_calls_beside_each_basis(
    conn: Conn, settings: Settings
) -> None:
    """A budget whose estimated calls all have no known price read "estimated: $0" in
    spent_by_basis, as if they cost nothing, where get_spend's by_basis has unpriced_by_basis beside
    it. The budget says the same, from the same split."""
    from cost_mcp.analytics.spend import Filters, get_spend
    from cost_mcp.store import write_transaction
    from cost_mcp.store.buckets import DAY_MS, Bucket, replace_range

    nov3 = int(datetime(2026, 11, 3, tzinfo=UTC).timestamp() * 1000)
    with write_transaction(conn):
        bill = Bucket(nov3, nov3 + DAY_MS, cost_nanos=12_345_000_000, model=SONNET)
        replace_range(conn, "anthropic", "cost", nov3, nov3 + DAY_MS, [bill])
    for i in range(2):
        record_call(
            conn, Pricer(), provider="openai", model="gpt-mystery", tokens=Tokens(input=10), agent="bot",
            request_id=f"r{i}", timestamp=datetime(2026, 11, 9, 1, tzinfo=UTC),
            now=datetime(2026, 11, 9, 2, tzinfo=UTC),
        )  # fmt: skip
    budget = budgets.set_budget(conn, "api", Decimal(150), "month", BudgetScope())
    now = datetime(2026, 11, 10, 0, tzinfo=UTC)
    [state] = budgets.budget_status(conn, settings, now=now).budgets
    assert state.spent_by_basis == {"billed": Decimal("12.345"), "estimated": Decimal(0)}
    assert state.unpriced_by_basis == {"estimated": 2}
    assert state.unpriced_requests == 2
    spend = get_spend(
        conn, settings, budgets.budget_period(budget, settings, now), (), Filters(), take_alerts=False,
        today=now.date(),
    )  # fmt: skip
    assert (spend.by_basis, spend.unpriced_by_basis) == (state.spent_by_basis, state.unpriced_by_basis)


def test_record_usage_on_a_billed_day_takes_nothing_from_remaining_as_check_budget_says(
    conn: Conn, settings: Settings
) -> None:
    """On a day openai's bill is the total, a recorded call's estimate is set aside (the bill counts
    it): record_usage said the call took its $1 of the budget (remaining_before_usd $1 above
    remaining_after_usd), while check_budget right after read the same remaining as before it."""
    from cost_mcp.store import write_transaction
    from cost_mcp.store.buckets import DAY_MS, Bucket, replace_range

    budget = day_budget(conn, "20")
    today = to_ms(datetime.now(UTC)) // DAY_MS * DAY_MS
    with write_transaction(conn):
        bill = Bucket(today, today + DAY_MS, cost_nanos=9_000_000_000, model=FLAT)
        replace_range(conn, "openai", "cost", today, today + DAY_MS, [bill])
    assert budgets.budget_period(budget, settings, datetime.now(UTC)).start_ms == today  # a UTC day
    result = agents.record_usage(
        conn,
        settings,
        Pricer(),
        provider="openai",
        model=FLAT,
        tokens=Tokens(input=400_000),  # $1.00
        agent="bot",
        request_id="billed-day",
    )
    assert result.recorded and result.cost_usd == Decimal(1)
    [daily] = result.budgets
    assert (daily.remaining_before_usd, daily.remaining_after_usd) == (Decimal(11), Decimal(11))
    check = budgets.check_budget(conn, settings, Decimal(0), provider="openai", agent="bot")
    assert [c.remaining_before_usd for c in check.budgets] == [Decimal(11)]
    # A call of a provider no bill covers still takes its cost, as before.
    other = agents.record_usage(
        conn,
        settings,
        Pricer(),
        provider="anthropic",
        model=SONNET,
        tokens=Tokens(input=100_000),  # $0.30 at $3 per million
        agent="bot",
        request_id="estimated-day",
    )
    [daily] = other.budgets
    assert (daily.remaining_before_usd, daily.remaining_after_usd) == (Decimal(11), Decimal("10.7"))


def test_a_project_budget_names_the_calls_a_workspace_bill_stands_for(conn: Conn, settings: Settings) -> None:
    """Once a provider's bill is a day's total, the estimates of that day's calls count nothing, and
    a bill by workspace (Anthropic's) or without a project names no project: a project budget then
    reads $0 for the project's $6 of calls that day. It cannot count them without counting the
    bill twice, so budget_status and check_budget say so, with the amount, instead of showing $0 as
    if the calls were free; a budget of all usage, which the bill counts in full, is not warned."""
    from cost_mcp.store import write_transaction
    from cost_mcp.store.buckets import DAY_MS, Bucket, replace_range

    nov3 = datetime(2026, 11, 3, 9, tzinfo=UTC)
    for i, usd in enumerate(("6", "0.25")):
        record_call(
            conn, Pricer(), provider="openai", model=FLAT, tokens=Tokens(input=int(Decimal(usd) * 400_000)),
            agent="bot", project="webapp", request_id=f"w{i}", timestamp=nov3 + timedelta(days=i * 2),
            now=nov3 + timedelta(days=5),
        )  # fmt: skip
    day = int(datetime(2026, 11, 3, tzinfo=UTC).timestamp() * 1000)
    with write_transaction(conn):
        bill = Bucket(day, day + DAY_MS, cost_nanos=9_000_000_000, model=FLAT)  # no project
        replace_range(conn, "openai", "cost", day, day + DAY_MS, [bill])
    budgets.set_budget(conn, "webapp", Decimal(5), "month", BudgetScope(projects=["webapp"]), hard=True)
    budgets.set_budget(conn, "all", Decimal(50), "month", BudgetScope())
    now = datetime(2026, 11, 10, tzinfo=UTC)
    result = budgets.budget_status(conn, settings, now=now)
    states = {s.budget.name: s for s in result.budgets}
    assert states["webapp"].spent_usd == Decimal("0.25")  # Nov 5's call; Nov 3's is the bill's
    assert states["webapp"].estimates_set_aside_usd == Decimal(6)
    assert states["all"].spent_usd == Decimal("9.25")
    expected = (
        "budget 'webapp': $6.00 of calls in its scope (estimated) are on days a provider's bill is the "
        "total, and count nothing against it (only the bill's rows that name its projects "
        "count, so it cannot stop those calls); get_spend with the same filters lists them under attribution"
    )
    assert [w for w in result.warnings if "provider's bill is the total" in w] == [expected]
    check = budgets.check_budget(conn, settings, Decimal(1), provider="openai", project="webapp", now=now)
    assert expected in check.warnings


def test_calls_with_no_known_price_are_named_not_counted_as_nothing(conn: Conn, settings: Settings) -> None:
    """A hard budget cannot stop what it cannot price: budget_status and check_budget say how many
    calls of its period have no known price, and where to add it."""
    now = datetime.now(UTC)
    pricer = Pricer()
    spend_usd(conn, pricer, Decimal("1"), now)
    for i in range(2):
        record_call(
            conn, pricer, provider="openai", model="gpt-mystery", tokens=Tokens(input=10), agent="bot",
            request_id=f"r{i}", timestamp=now, now=now,
        )  # fmt: skip
    day_budget(conn)
    [state] = budgets.budget_status(conn, settings, now=now).budgets
    assert (state.spent_usd, state.unpriced_requests) == (Decimal("1"), 2)
    expected = (
        "budget 'daily': 2 call(s) in its period have no known price and count nothing against it, so "
        f"it cannot stop them; add the model's price to the price override file ({settings.prices_file}): "
        "they are priced with it from the next answer on. A model recorded under a provider that does not "
        "price it needs the right provider instead: get_spend for the budget's period and filters names it"
    )
    assert budgets.budget_status(conn, settings, now=now).warnings == [expected]
    check = budgets.check_budget(conn, settings, Decimal("0.5"), provider="openai", now=now)
    assert check.allowed is True and check.warnings == [expected]


def test_a_member_is_not_told_of_another_members_budget_alert_that_failed_to_deliver(
    conn: Conn, settings: Settings
) -> None:
    """A member's budget_status listed every budget's undelivered webhook alerts ("budget 'bob-cap'
    alert at 50% was never delivered ..."): a budget, and a threshold of spend, not theirs."""
    budgets.set_budget(conn, "bob-cap", Decimal(1), "month", BudgetScope(members=["bob@x.io"]))
    budgets.set_budget(conn, "all", Decimal(100), "month", BudgetScope())

    def fire(name: str) -> None:
        alert = alert_store.NewAlert(
            budget=name,
            period_start_ms=0,
            threshold="0.5",
            fired_at="2026-01-01T10:00:00+00:00",
            spent_nanos=10,
            message=f"budget '{name}' passed 50%",
            destination="https://hooks.example.com/x",
            payload="{}",
        )
        assert alert_store.record_crossing(conn, name, [0], ["0.5"], lambda _: [alert]) == [alert]

    fire("bob-cap")
    fire("all")
    for delivery in deliveries.claim_due(conn, 1_000, lease_ms=60_000):
        deliveries.mark_failed(conn, delivery, "HTTP 500", None)
    failed = "alert at 50% was never delivered (gave up after 1 attempt): HTTP 500"
    admin = budgets.budget_status(conn, settings, take_alerts=False).warnings
    assert [w for w in admin if failed in w] == [f"budget 'all' {failed}", f"budget 'bob-cap' {failed}"]
    ana = budgets.budget_status(conn, settings, take_alerts=False, member="ana@x.io").warnings
    assert [w for w in ana if failed in w] == [f"budget 'all' {failed}"]


@pytest.mark.parametrize(
    ("zone", "now"),
    [
        # Havana's clocks go from 00:00 to 01:00 on 2026-03-08: the next day's first moment reads 01:00.
        ("America/Havana", datetime(2026, 3, 7, 20, tzinfo=UTC)),
        # Santiago's from 24:00 to 01:00 on the night of 2026-09-05.
        ("America/Santiago", datetime(2026, 9, 5, 20, tzinfo=UTC)),
        # Havana goes back from 01:00 to 00:00 on 2026-11-01: midnight comes twice, first in CDT.
        ("America/Havana", datetime(2026, 10, 31, 20, tzinfo=UTC)),
        ("Europe/Paris", datetime(2026, 3, 28, 20, tzinfo=UTC)),
    ],
)
def test_when_a_used_up_budget_starts_again_is_a_time_the_clock_shows(
    conn: Conn, monkeypatch: pytest.MonkeyPatch, zone: str, now: datetime
) -> None:
    """A hard day budget's refusal says when it starts again. Where a clock skips midnight it said
    "from 2026-03-08 00:00 (America/Havana)", a time the clock never shows (it goes from 23:59 to
    01:00); it now names the wall time of the day's first moment."""
    monkeypatch.setenv("COST_MCP_TIMEZONE", zone)
    budget = day_budget(conn)
    tz = ZoneInfo(zone)
    period = budgets.budget_period(budget, load_settings(), now)
    # The oracle: step through the instants after now until the local date changes.
    t = now
    while (t + timedelta(minutes=1)).astimezone(tz).date() == now.astimezone(tz).date():
        t += timedelta(minutes=1)
    first = (t + timedelta(minutes=1)).astimezone(tz)
    wall = f"{first:%Y-%m-%d %H:%M}"
    ambiguous = first.replace(fold=1 - first.fold).utcoffset() != first.utcoffset()
    expected = f"{wall} {first.tzname()}" if ambiguous else wall
    assert budgets.person_advice(budget, period).endswith(f"wait for its next day, from {expected} ({zone})")


def test_a_members_project_budget_names_the_calls_a_workspace_bill_stands_for(
    conn: Conn, settings: Settings
) -> None:
    """On a team server, a budget counting a member's project read $0 for the $6 of that member's
    calls on a day a bill by workspace is the total, and said nothing: its estimates set aside
    were taken as 0 (a member's question is answered apart from the budgets' one read), where the
    same budget without the member names them (the test above). It now names them alike."""
    from cost_mcp.store import write_transaction
    from cost_mcp.store.buckets import DAY_MS, Bucket, replace_range

    nov3 = datetime(2026, 11, 3, 9, tzinfo=UTC)
    calls = (("6", "ana@example.com"), ("0.25", "ana@example.com"), ("2", "bob@x.io"))
    for i, (usd, member) in enumerate(calls):
        record_call(
            conn, Pricer(), provider="openai", model=FLAT, tokens=Tokens(input=int(Decimal(usd) * 400_000)),
            agent="bot", project="webapp", request_id=f"w{i}", timestamp=nov3 + timedelta(days=i * 2 % 4),
            now=nov3 + timedelta(days=5), member=member,
        )  # fmt: skip
    day = int(datetime(2026, 11, 3, tzinfo=UTC).timestamp() * 1000)
    with write_transaction(conn):
        bill = Bucket(day, day + DAY_MS, cost_nanos=9_000_000_000, model=FLAT)  # no project, no member
        replace_range(conn, "openai", "cost", day, day + DAY_MS, [bill])
    scope = BudgetScope(projects=["webapp"], members=["ana@example.com"])
    budgets.set_budget(conn, "ana-webapp", Decimal(5), "month", scope, hard=True)
    now = datetime(2026, 11, 10, tzinfo=UTC)
    result = budgets.budget_status(conn, settings, now=now)
    [state] = result.budgets
    assert state.spent_usd == Decimal("0.25")  # Nov 5's call; Nov 3's is the bill's
    assert state.estimates_set_aside_usd == Decimal(6)  # not bob's $2 of the same day
    expected = (
        "budget 'ana-webapp': $6.00 of calls in its scope (estimated) are on days a provider's bill is "
        "the total, and count nothing against it (only the bill's rows that name its projects "
        "count, so it cannot stop those calls); get_spend with the same filters lists them under attribution"
    )
    assert [w for w in result.warnings if "provider's bill is the total" in w] == [expected]
    check = budgets.check_budget(
        conn, settings, Decimal(1), provider="openai", project="webapp", member="ana@example.com", now=now
    )
    assert expected in check.warnings


def test_a_budgets_members_are_kept_as_the_ledger_stores_them_an_account_id_as_sent() -> None:
    # An OTel event without an email names its member by Claude Code's account id, stored as sent:
    # set_budget lower-cased it, a member no call names, so the budget counted nothing of theirs.
    given = [" Ana@Example.COM", "User_01AbC", "team: core ", "ana@example.com"]
    assert budgets.members_and_teams(given) == (["ana@example.com", "User_01AbC"], ["core"])
