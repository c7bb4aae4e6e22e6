"""The status line's and hooks' glance at budgets equals budget_status wherever it answers, and
declines (None) wherever only the full rules are exact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from cost_mcp.analytics.budget_glance import glance
from cost_mcp.analytics.budgets import list_budgets, set_budget, states_of
from cost_mcp.config import Settings
from cost_mcp.models import BudgetScope
from cost_mcp.statusline import read_transcript
from cost_mcp.store.buckets import Bucket, replace_range
from cost_mcp.store.connection import Conn, connect, write_transaction
from tests.sources.claude_logs import assistant, session_file, write

NOW = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)  # a Wednesday
OPUS = "claude-opus-4-1-20250805"
DAY_MS = 86_400_000


def _at(delta: timedelta) -> str:
    return (NOW - delta).isoformat().replace("+00:00", "Z")


def _ledger(home: Path, settings: Settings) -> Conn:
    """Calls today, earlier this week, earlier this month and last month, in two projects."""
    claude = home / "claude"
    app = session_file(claude, "s-app", project="-home-dev-app")
    write(
        app,
        assistant("a1", "ra1", _at(timedelta(hours=2)), session="s-app", input=900, output=40_000),
        assistant(
            "a2", "ra2", _at(timedelta(days=2)), session="s-app", input=100, output=9_000, cache_read=80_000
        ),
        assistant("a3", "ra3", _at(timedelta(days=12)), session="s-app", model=OPUS, input=50, output=7_000),
        assistant("a4", "ra4", _at(timedelta(days=25)), session="s-app", input=10, output=99_000),
        # No known price: counted apart by both paths, never as $0 of spend.
        assistant("a5", "ra5", _at(timedelta(hours=3)), session="s-app", model="mystery-9", input=10),
    )
    other = session_file(claude, "s-web", project="-home-dev-web")
    write(
        other,
        assistant("w1", "rw1", _at(timedelta(hours=1)), session="s-web", model=OPUS, input=10, output=3_000),
        assistant("w2", "rw2", _at(timedelta(days=6)), session="s-web", input=10, output=12_000),
    )
    conn = connect(settings.db)
    read_transcript(conn, settings, str(app))
    read_transcript(conn, settings, str(other))
    return conn


BUDGETS: list[tuple[str, str, str, BudgetScope, bool]] = [
    ("all-day", "1", "day", BudgetScope(), True),
    ("all-day-roomy", "1000", "day", BudgetScope(), True),
    ("anthropic-week", "2", "week", BudgetScope(providers=["anthropic"]), False),
    ("app-month", "5", "month", BudgetScope(projects=["-home-dev-app"]), True),
    ("web-month", "50", "month", BudgetScope(projects=["-home-dev-web"]), False),
    ("opus-month", "0.2", "month", BudgetScope(models=[OPUS]), False),
    ("agent-week", "3", "week", BudgetScope(agents=["claude-code"]), True),
    ("openai-day", "1", "day", BudgetScope(providers=["openai"]), False),
]


def test_the_glance_equals_budget_status(home: Path, settings: Settings) -> None:
    conn = _ledger(home, settings)
    try:
        for name, amount, period, scope, hard in BUDGETS:
            set_budget(conn, name, Decimal(amount), period, scope, hard=hard)  # type: ignore[arg-type]
        for moment in (NOW, NOW + timedelta(minutes=20), NOW - timedelta(hours=14)):
            glanced = glance(conn, settings, moment)
            assert glanced is not None
            full = states_of(conn, settings, list_budgets(conn), moment)
            assert [
                (
                    g.name,
                    g.spent,
                    g.remaining,
                    g.percent,
                    g.status(int(moment.timestamp() * 1000)),
                    g.hard,
                    g.unpriced,
                )
                for g in glanced
            ] == [
                (
                    s.budget.name,
                    s.spent_usd,
                    s.remaining_usd,
                    s.percent,
                    s.status,
                    s.budget.hard,
                    s.unpriced_requests,
                )
                for s in full
            ]
        statuses = {s.status for s in states_of(conn, settings, list_budgets(conn), NOW)}
        assert {"exceeded", "ok"} <= statuses  # the cases above are not all alike
        at_now = glance(conn, settings, NOW) or []
        assert [g.name for g in at_now if not g.spent] == ["openai-day"]
        assert {g.name for g in at_now if g.unpriced} == {
            "all-day",
            "all-day-roomy",
            "anthropic-week",
            "app-month",
            "agent-week",
        }
    finally:
        conn.close()


@pytest.mark.parametrize(
    "scope",
    [
        BudgetScope(basis=["subscription"]),
        BudgetScope(sources=["claude_code"]),
        BudgetScope(members=["ana"]),
    ],
)
def test_the_glance_leaves_seat_fees_sources_and_members_to_the_full_path(
    home: Path, settings: Settings, scope: BudgetScope
) -> None:
    conn = _ledger(home, settings)
    try:
        set_budget(conn, "plain", Decimal(10), "day", BudgetScope())
        assert glance(conn, settings, NOW) is not None
        set_budget(conn, "special", Decimal(10), "day", scope)
        assert glance(conn, settings, NOW) is None
    finally:
        conn.close()


def test_the_glance_leaves_billed_data_and_subscription_billing_to_the_full_path(
    home: Path, settings: Settings
) -> None:
    conn = _ledger(home, settings)
    try:
        set_budget(conn, "all-week", Decimal(10), "week", BudgetScope())
        assert glance(conn, settings, NOW) is not None
        covered = settings.model_copy(update={"claude_code_billing": "subscription"})
        assert glance(conn, covered, NOW) is None
        # A billed day long before the week does not matter; one inside it does.
        day = (int(NOW.timestamp() * 1000) // DAY_MS - 60) * DAY_MS
        with write_transaction(conn):
            replace_range(
                conn, "openai", "cost", day, day + DAY_MS, [Bucket(day, day + DAY_MS, 10**9)], now=NOW
            )
        assert glance(conn, settings, NOW) is not None
        day = (int(NOW.timestamp() * 1000) // DAY_MS - 1) * DAY_MS
        with write_transaction(conn):
            replace_range(conn, "openai", "cost", day, day + DAY_MS, [], now=NOW)  # synced, empty
        assert glance(conn, settings, NOW) is None
    finally:
        conn.close()
