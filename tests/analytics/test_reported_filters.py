"""A call record_usage stores is seen by the next answer's filters, though storing it rebuilds no rollup.

record_usage marks the call's quarter-hour, as the OTLP receiver and a push do; each answer rebuilds
the rollup from its own period on before it checks and widens its filters against the rollup's
values (``vocabulary.read``). A filter naming the project by its folder or the model without its
date, a budget scoped so, and check_budget matching a session's folder slug to the stored path all
count the call at once. (record_usage rebuilt the rollup itself because answers checked first.)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from cost_mcp.analytics import agents, budgets, hourly, spend
from cost_mcp.analytics.budget_glance import glance
from cost_mcp.config import Settings
from cost_mcp.models import BudgetScope
from cost_mcp.pricing import Pricer, Tokens
from cost_mcp.store.connection import Conn

PATH = "/home/alice/src/webapp"
SLUG = "-home-alice-src-webapp"  # how the hook names the session's folder when Claude Code gives no cwd
DATED = "claude-sonnet-4-5-20250929"
CALL = Tokens(input=200_000, output=2_000)


def _reported(conn: Conn, settings: Settings) -> Decimal:
    """One call reported by an agent working in PATH; returns its cost."""
    recorded = agents.record_usage(
        conn, settings, Pricer(), provider="anthropic", model=DATED, tokens=CALL, agent="w",
        project=PATH, take_alerts=False,
    )  # fmt: skip
    assert recorded.cost_usd is not None
    return recorded.cost_usd


def _marked(conn: Conn) -> int:
    (n,) = conn.execute("SELECT COUNT(*) FROM rollup_dirty").fetchone()
    return int(n)


FILTERS = {
    "project by folder": spend.Filters(projects=["webapp"]),
    "model": spend.Filters(models=["claude-sonnet-4-5"]),
}


@pytest.mark.usefixtures("clock")
@pytest.mark.parametrize("filters", FILTERS)
def test_get_spend_and_cost_by_hour_count_a_call_just_reported(
    conn: Conn, settings: Settings, filters: str
) -> None:
    cost = _reported(conn, settings)
    assert _marked(conn) == 1  # left for the answer: storing a call rebuilds nothing
    today = spend.resolve(settings, "today", None, None, "UTC")
    by_hour = hourly.cost_by_hour(conn, settings, today, FILTERS[filters])
    assert by_hour.total_usd == cost
    assert not [w for w in by_hour.warnings if "matches nothing" in w]
    result = spend.get_spend(conn, settings, today, [], FILTERS[filters], take_alerts=False)
    assert result.total_usd == cost
    assert not [w for w in result.warnings if "matches nothing" in w]


def _status(conn: Conn, settings: Settings) -> Decimal:
    return budgets.budget_status(conn, settings, take_alerts=False).budgets[0].spent_usd


def _glanced(conn: Conn, settings: Settings) -> Decimal:
    glanced = glance(conn, settings, datetime.now(UTC))
    assert glanced is not None
    return glanced[0].spent


def _checked(conn: Conn, settings: Settings) -> Decimal:
    # The hook names the session by its folder slug: the budget naming the folder holds it once the
    # slug is matched to the stored path, which only the call just reported gave.
    checked = budgets.check_budget(conn, settings, Decimal("0.01"), project=SLUG)
    assert [c.name for c in checked.budgets] == ["webapp"]
    return Decimal(1) - checked.budgets[0].remaining_before_usd


ANSWERS: dict[str, Callable[[Conn, Settings], Decimal]] = {
    "budget_status": _status,
    "status line's glance": _glanced,
    "check_budget by slug": _checked,
}


@pytest.mark.usefixtures("clock")
@pytest.mark.parametrize("answer", ANSWERS)
def test_a_budget_on_the_folder_counts_a_call_just_reported(
    conn: Conn, settings: Settings, answer: str
) -> None:
    cost = _reported(conn, settings)
    # Set after the call: record_usage answered with no budget, so nothing rebuilt the rollup since.
    budgets.set_budget(conn, "webapp", Decimal(1), "day", BudgetScope(projects=["webapp"]), hard=True)
    assert _marked(conn) == 1
    assert ANSWERS[answer](conn, settings) == cost
