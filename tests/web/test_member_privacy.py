"""What a team member's answers say of other members: nothing (their budgets, calls and alerts).

Each test runs the real `cost-mcp serve --http` (the ``team`` fixture of test_team: an admin and
members ana, bob and cy, each with their own token) on SQLite and on PostgreSQL, and asks over MCP
with a member's token as their agent would.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.web.test_team import Team, _call, _served


@pytest.fixture
def team(home: Path) -> Iterator[Team]:
    members = [(name, f"{name}@example.com", "member") for name in ("ana", "bob", "cy")]
    with _served(home, [("admin", "boss@example.com", "admin"), *members]) as served:
        yield served


def _ask(team: Team, who: str, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    answer = anyio.run(_call, team.base, team.tokens[who], tool, args)
    assert not answer.is_error, answer.content
    return dict(answer.structured_content)


def _gpt4o(agent: str, request_id: str, usd: int = 3) -> dict[str, Any]:
    """A record_usage call on gpt-4o ($2.50 per million input tokens) costing ``usd`` dollars."""
    return {
        "provider": "openai",
        "model": "gpt-4o",
        "input_tokens": usd * 400_000,
        "output_tokens": 0,
        "agent": agent,
        "request_id": request_id,
    }


def test_a_members_record_usage_takes_no_alert_of_anyones_budget(team: Team) -> None:
    """QA: cy's record_usage answer carried "budget 'bob-cap' passed 100% of $1.00 per month: $3.00
    spent", fired by bob's usage, and marked it shown, so the admin never saw it. A member's answers
    carry no alerts (as get_spend and budget_status already did not); they wait for an admin."""
    cap = {"name": "bob-cap", "amount_usd": 1, "period": "month", "members": ["bob@example.com"]}
    _ask(team, "admin", "set_budget", cap)
    assert _ask(team, "bob", "record_usage", _gpt4o("bob-bot", "req-bob-1"))["alerts"] == []
    assert _ask(team, "cy", "record_usage", _gpt4o("cy-bot", "req-cy-1", usd=1))["alerts"] == []
    shown = _ask(team, "admin", "budget_status", {})["alerts"]
    assert shown == [
        "budget 'bob-cap' passed 100% of $1.00 per month: $3.00 spent (300.0%); covers 50% and 80% too, "
        "crossed at the same time"
    ]
