"""A hard budget gates a fleet: what check_budget allowed is held until the call is recorded.

Workers that checked at the same moment each saw the same room and were all allowed (15 stdio
servers on one ledger let 12 calls of $0.315 through a $1 hard budget that fits 3).
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from threading import Barrier

import pytest
import time_machine

from cost_mcp import hooks
from cost_mcp.analytics import agents, budgets, spend
from cost_mcp.config import Settings, load_settings
from cost_mcp.models import BudgetScope, CheckResult
from cost_mcp.periods import calendar_period
from cost_mcp.pricing import Pricer
from cost_mcp.store import connect
from cost_mcp.store import holds as hold_store
from cost_mcp.store.connection import Conn
from tests import fleet
from tests.analytics.repriced import CALL, SONNET, marked, repriced_ledger

# CALL: $0.315 at list price, so 3 fit in the hard $1 budget of gate()


def check(
    conn: Conn,
    settings: Settings,
    *,
    agent: str | None = "w",
    cost: Decimal | None = None,
    member: str | None = None,
) -> CheckResult:
    return agents.check(
        conn,
        settings,
        Pricer(),
        estimated_cost_usd=cost,
        model=None if cost is not None else SONNET,
        provider=None,
        tokens=None if cost is not None else CALL,
        agent=agent,
        project=None,
        member=member,
    )


def record(
    conn: Conn,
    settings: Settings,
    request_id: str | None = None,
    *,
    agent: str = "w",
    member: str | None = None,
) -> None:
    agents.record_usage(
        conn,
        settings,
        Pricer(),
        provider="anthropic",
        model=SONNET,
        tokens=CALL,
        agent=agent,
        request_id=request_id,
        member=member,
    )


def gate(conn: Conn) -> None:
    budgets.set_budget(conn, "gate", Decimal(1), "day", BudgetScope(), hard=True)


def _worker(db: str, name: str, ready: Barrier, out: multiprocessing.Queue[bool]) -> None:
    settings = load_settings()
    with contextlib.closing(connect(db)) as conn:
        ready.wait(60)  # every process started and connected: then all check at once
        out.put(check(conn, settings, agent=name).allowed)


@pytest.mark.usefixtures("clock")
def test_workers_checking_at_once_are_allowed_only_the_calls_that_fit(conn: Conn, settings: Settings) -> None:
    gate(conn)
    context = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue[bool] = context.Queue()
    names = [f"w{i}" for i in range(8)]
    ready = context.Barrier(len(names))  # held here until the workers have it: its semaphores go with it
    # Eight processes, each with its own connection, forked from one that imported the code once
    # (tests/fleet.py): eight spawned ones took 31-44 s under load, importing it eight times.
    workers = fleet.start(_worker, [(str(settings.db), n, ready, out) for n in names])
    answers = [out.get(timeout=60) for _ in names]
    workers.join(60)
    assert workers.exitcode == 0  # every worker exited 0
    assert sorted(answers) == [False] * 5 + [True] * 3
    refused = check(conn, settings)
    assert refused.allowed is False
    assert refused.budgets[0].held_usd == Decimal("0.945")
    assert "$0.9450 of its $1.00 is held by 3 allowed calls not recorded yet" in refused.reason
    assert "after 300 s" in refused.reason


@pytest.mark.usefixtures("clock")
def test_recording_a_call_releases_its_hold_and_its_spend_takes_its_place(
    conn: Conn, settings: Settings
) -> None:
    gate(conn)
    first = check(conn, settings)
    assert first.allowed is True
    assert first.held_usd == Decimal("0.315")
    assert first.hold_expires_at is not None
    second = check(conn, settings)
    assert second.budgets[0].held_usd == Decimal("0.315")
    assert second.budgets[0].remaining_before_usd == Decimal("0.685")
    record(conn, settings, "r1")
    # One hold released, the recorded call's spend in its place: the room left is unchanged.
    third = check(conn, settings)
    assert third.allowed is True
    assert third.budgets[0].held_usd == Decimal("0.315")
    assert third.budgets[0].remaining_before_usd == Decimal("0.37")
    # Another agent's record does not release this agent's holds.
    record(conn, settings, "r2", agent="other")
    assert check(conn, settings, cost=Decimal("0.001")).budgets[0].held_usd == Decimal("0.63")


@pytest.mark.usefixtures("clock")
def test_a_hold_never_counts_as_spend(conn: Conn, settings: Settings) -> None:
    gate(conn)
    assert check(conn, settings).held_usd == Decimal("0.315")
    day = calendar_period("day", datetime.now(UTC), tz=settings.tz, week_start=settings.week_start)
    report = spend.get_spend(conn, settings, day, ())
    assert report.total_usd == 0
    assert budgets.budget_status(conn, settings).budgets[0].spent_usd == 0


@pytest.mark.usefixtures("clock")
def test_holds_expire(conn: Conn, settings: Settings) -> None:
    gate(conn)
    short = settings.model_copy(update={"budget_hold_seconds": 1})
    # The clock stands still until moved: on the running one, the hold's one second had to cover
    # both checks (a machine stalled that long failed the test), and a sleep waited it out.
    with time_machine.travel(datetime.now(UTC), tick=False) as traveller:
        assert check(conn, short).allowed is True
        assert check(conn, short).budgets[0].held_usd == Decimal("0.315")
        traveller.shift(1.2)
        after = check(conn, short)
    assert after.budgets[0].held_usd == 0  # the first two expired
    assert after.budgets[0].remaining_before_usd == 1
    assert conn.execute("SELECT COUNT(*) FROM budget_holds").fetchone()[0] == 1  # only its own: deleted


@pytest.mark.usefixtures("clock")
def test_a_zero_setting_holds_nothing(conn: Conn, settings: Settings) -> None:
    gate(conn)
    off = settings.model_copy(update={"budget_hold_seconds": 0})
    answers = [check(conn, off) for _ in range(5)]
    assert all(a.allowed and a.held_usd is None for a in answers)
    assert conn.execute("SELECT COUNT(*) FROM budget_holds").fetchone()[0] == 0


@pytest.mark.usefixtures("clock")
def test_a_check_under_soft_budgets_only_holds_nothing(conn: Conn, settings: Settings) -> None:
    budgets.set_budget(conn, "soft", Decimal(1), "day", BudgetScope())
    assert [check(conn, settings).held_usd for _ in range(4)] == [None] * 4


@pytest.mark.usefixtures("clock")
def test_the_claude_code_hook_counts_holds_and_makes_none(conn: Conn, settings: Settings) -> None:
    gate(conn)
    event = {"hook_event_name": "UserPromptSubmit", "session_id": "s1", "cwd": "/work/app"}
    assert "decision" not in hooks.decide(conn, settings, event).stdout  # allowed
    for _ in range(3):
        assert check(conn, settings).allowed is True
    assert check(conn, settings, cost=Decimal("0.055")).allowed is True  # the $1 all held now
    answer = json.loads(hooks.decide(conn, settings, event).stdout)
    assert answer["decision"] == "block"
    # In cents, as the person reads every amount (the agent reads "$1.0000").
    assert "$1.00 of its $1.00 is held by 4 allowed calls not recorded yet" in answer["reason"]
    assert conn.execute("SELECT COUNT(*) FROM budget_holds").fetchone()[0] == 4  # the checks' only


@pytest.mark.usefixtures("clock")
def test_a_members_hold_counts_against_their_budget_and_their_record_releases_it(
    conn: Conn, settings: Settings
) -> None:
    budgets.set_budget(conn, "ana-cap", Decimal(1), "day", BudgetScope(members=["ana"]), hard=True)

    def ask(member: str) -> CheckResult:
        return check(conn, settings, member=member)

    assert [ask("ana").allowed for _ in range(4)] == [True, True, True, False]
    assert ask("bo").allowed is True  # not ana's budget
    agents.record_usage(
        conn, settings, Pricer(), provider="anthropic", model=SONNET, tokens=CALL, agent="w", member="bo"
    )
    assert ask("ana").allowed is False  # bo's record released bo's hold, none of ana's
    agents.record_usage(
        conn, settings, Pricer(), provider="anthropic", model=SONNET, tokens=CALL, agent="w", member="ana"
    )
    refused = ask("ana")
    assert refused.budgets[0].held_usd == Decimal("0.63")
    assert refused.budgets[0].remaining_before_usd == Decimal("0.055")


def test_a_check_that_named_no_agent_is_released_by_its_members_call(conn: Conn, settings: Settings) -> None:
    """QA: ana's check_budget without `agent` held $0.315; her agent then recorded the call (a record
    always names its agent) and the hold stayed for its 300 s: the call counted twice, spent and
    held, and a hard budget refused calls that fitted. Her next call releases it, after any hold of
    its own agent, and never another member's."""
    budgets.set_budget(conn, "fleet", Decimal(10), "day", BudgetScope(), hard=True)

    def ask(member: str, agent: str | None) -> None:
        checked = check(conn, settings, agent=agent, member=member)
        assert checked.held_usd == Decimal("0.315")

    def tell(member: str, agent: str) -> None:
        record(conn, settings, agent=agent, member=member)

    def held() -> list[tuple[str, str]]:
        return [(h.member, h.agent) for h in hold_store.live(conn, int(time.time() * 1000))]

    ask("ana", None)
    tell("bob", "w")
    assert held() == [("ana", "")]  # bob's call releases no hold of ana's
    tell("ana", "w")
    assert held() == []  # hers does: the check was of this call
    ask("ana", "x")
    ask("ana", None)
    tell("ana", "x")  # her agent x's own hold goes first; the one naming no agent stays
    assert held() == [("ana", "")]
    assert budgets.check_budget(conn, settings, Decimal(0)).budgets[0].held_usd == Decimal("0.315")


@pytest.mark.usefixtures("clock")
def test_a_check_rebuilds_the_rollup_only_where_its_budgets_read_spend(
    conn: Conn, settings: Settings
) -> None:
    # `reprice --all` marks quarter-hours over years of history a chunk at a time; a check that
    # rebuilt them all, under its write lock, kept an agent waiting up to 18 s on a 3M-call ledger.
    gate(conn)
    now = datetime.now(UTC)
    old_qh = repriced_ledger(conn, settings, days_ago=200)  # both calls at $0.10, as a re-price writes
    result = check(conn, settings, cost=Decimal("0.01"))
    assert result.budgets[0].remaining_before_usd == Decimal("0.9")  # today's call at its new price
    assert marked(conn) == [old_qh]  # left for the question that reads it
    whole = spend.resolve(settings, None, (now - timedelta(days=300)).date().isoformat(), None, "UTC")
    assert spend.get_spend(conn, settings, whole, [], take_alerts=False).total_usd == Decimal("0.2")
    assert conn.execute("SELECT COUNT(*) FROM rollup_dirty").fetchone()[0] == 0
