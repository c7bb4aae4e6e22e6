"""The dashboard's data: the tools' own results side by side, long breakdowns cut with a warning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cost_mcp.analytics import dashboard
from cost_mcp.analytics.alerts import take_alerts
from cost_mcp.analytics.spend import Filters, get_spend, resolve
from cost_mcp.config import Settings
from cost_mcp.errors import InvalidInputError
from cost_mcp.pricing import Pricer, Tokens
from cost_mcp.sources.reported import record_call
from cost_mcp.store.connection import Conn

NOW = datetime(2026, 11, 20, 15, tzinfo=UTC)


def spend_on(conn: Conn, agent: str, usd: int, when: datetime = NOW) -> None:
    record_call(
        conn,
        Pricer(),
        provider="openai",
        model="gpt-4o",
        tokens=Tokens(input=usd * 400_000),
        agent=agent,
        timestamp=when - timedelta(minutes=5),
        now=max(when, NOW),
    )


def test_each_part_is_the_tools_answer(conn: Conn, settings: Settings) -> None:
    spend_on(conn, "a", 2)
    spend_on(conn, "b", 3, NOW - timedelta(days=3))
    d = dashboard.build_dashboard(conn, settings, "this_month", now=NOW, filters=Filters(agents=["a", "b"]))
    for part, period in ((d.today, "today"), (d.this_week, "this_week"), (d.this_month, "this_month")):
        p = resolve(settings, period, None, None, None, now=NOW)
        assert part.total_usd == get_spend(conn, settings, p, (), Filters(agents=["a", "b"])).total_usd
    assert d.this_month is d.daily_by_provider or d.this_month == d.daily_by_provider
    assert d.filters == {"agents": ["a", "b"]}
    assert set(d.breakdowns) == set(dashboard.BREAKDOWN_DIMS)
    assert d.hourly.total_usd == d.this_month.total_usd  # all local calls here
    only = dashboard.build_dashboard(conn, settings, now=NOW, breakdowns=["session"])
    assert list(only.breakdowns) == ["session"]
    with pytest.raises(InvalidInputError, match="no breakdown by 'colour'"):
        dashboard.build_dashboard(conn, settings, now=NOW, breakdowns=["colour"])


def test_long_breakdowns_keep_their_largest_rows_and_say_so(conn: Conn, settings: Settings) -> None:
    for i in range(1, 21):
        spend_on(conn, f"agent-{i:02d}", i)
    d = dashboard.build_dashboard(conn, settings, "this_month", now=NOW)
    agents = d.breakdowns["agent"]
    assert len(agents.rows) == dashboard.MAX_ROWS + 1
    assert [r.group["agent"] for r in agents.rows[:2]] == ["agent-20", "agent-19"]
    assert agents.total_usd == sum(range(1, 21))  # the total still covers every agent
    assert agents.truncated and agents.total_rows == 20
    assert agents.rows[-1].group["agent"] == "(other)" and agents.rows[-1].cost_usd == sum(range(1, 6))


def test_a_view_never_consumes_the_conversations_alerts(conn: Conn, settings: Settings, clock: None) -> None:
    # At noon (the clock fixture): spend 5 minutes ago is today's, and the day budget is exceeded;
    # just after midnight it was yesterday's and no alert was due.
    from decimal import Decimal

    from cost_mcp import sync
    from cost_mcp.analytics import budgets
    from cost_mcp.models import BudgetScope

    spend_on(conn, "a", 5, datetime.now(UTC))
    budgets.set_budget(conn, "tiny", Decimal(1), "day", BudgetScope())
    sync.fire_alerts(conn, settings)
    d = dashboard.build_dashboard(conn, settings)
    assert d.budgets.alerts == [] and d.forecast.alerts == [] and d.this_month.alerts == []
    assert any("tiny" in a for a in take_alerts(conn))
