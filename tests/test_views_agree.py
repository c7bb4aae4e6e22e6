"""The same questions asked through every way in, on one ledger: the CLI (`report --json`, `budget
status --json`), the MCP tools (get_spend, budget_status, session_usage) and the dashboard's JSON API
(/api/spend, /api/budgets). Each is a shell over the same analytics functions, so their totals and
rows must agree to the nano-dollar, whatever the period and the grouping.

The ledger: bench/gen_claude_logs.py's log tree (calls on 2026-02-11, -27, -28 and 2026-03-04),
two record_usage calls today, an Anthropic bill for 2026-02-27 (a day of logged Claude Code calls,
which the bill then replaces in totals) and an OpenAI bill for today (which replaces the reported
gpt-5 call's estimate)."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client

from cost_mcp.config import Settings
from cost_mcp.pricing import Pricer
from cost_mcp.store import Ledger, connect
from cost_mcp.store.buckets import Bucket, replace_range
from cost_mcp.store.connection import write_transaction
from cost_mcp.web.app import create_app
from tests.test_cli import process
from tests.web.conftest import serve

pytestmark = pytest.mark.anyio

GENERATOR = Path(__file__).parents[1] / "bench" / "gen_claude_logs.py"
PERIODS = ("2026-02", "2026-03", "2026-02-11..2026-03-04", "2026-02-27", "this_month")
GROUPS = ("model", "day", "agent")
DAY_MS = 86_400_000


def _ms(day: datetime) -> int:
    return int(day.timestamp() * 1000)


@pytest.fixture
def ledger(home: Path, settings: Settings, clock: None, ledger_made: None) -> Settings:
    """The generated logs, read once (so no view reads them first), and the two bills."""
    made = subprocess.run(
        [sys.executable, str(GENERATOR), str(home / "claude"), "--lines", "3000", "--seed", "1"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    assert process("ingest").returncode == 0
    feb27 = _ms(datetime(2026, 2, 27, tzinfo=UTC))
    today = _ms(datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0))
    conn = connect(settings.db)
    try:
        with write_transaction(conn):
            bill = [Bucket(feb27, feb27 + DAY_MS, cost_nanos=7_777_777_777, model="claude-opus-4-6")]
            replace_range(conn, "anthropic", "cost", feb27, feb27 + DAY_MS, bill)
            openai = [
                Bucket(today, today + DAY_MS, cost_nanos=3_335_000_001, model=m) for m in ("gpt-5", "o3")
            ]
            replace_range(conn, "openai", "cost", today, today + DAY_MS, openai)
    finally:
        conn.close()
    return settings


@pytest.fixture
def web(ledger: Settings) -> Iterator[httpx2.Client]:
    """The dashboard's app as `cost-mcp dashboard` serves it, signed in."""
    store = Ledger(ledger.db)
    token = secrets.token_urlsafe(16)
    app = create_app(store, ledger, Pricer(), token=token, allowed_hosts=["127.0.0.1", "localhost"])
    try:
        for base in serve(app):
            with httpx2.Client(base_url=base, timeout=60, follow_redirects=True) as c:
                assert c.get(f"/?token={token}").status_code == 200
                yield c
    finally:
        store.close()


def _exact(value: Any) -> Any:
    """A result with every number as a Decimal from its JSON text (floats as the tool sent them)."""
    return json.loads(json.dumps(value), parse_float=Decimal)


def _answer(result: Mapping[str, Any]) -> tuple[Decimal, list[tuple[str, Decimal | None, str]]]:
    """A spend answer's total and its rows (group, cost, basis), sorted; the rows add up to it."""
    rows = sorted((json.dumps(r["group"], sort_keys=True), r["cost_usd"], r["basis"]) for r in result["rows"])
    assert sum(cost or 0 for _, cost, _ in rows) == result["total_usd"], rows
    return result["total_usd"], rows


async def test_the_cli_the_tools_and_the_dashboard_agree_to_the_nano(
    ledger: Settings, web: httpx2.Client, client: Client
) -> None:
    for call in (
        {"provider": "openai", "model": "gpt-5"},
        {"provider": "anthropic", "model": "claude-sonnet-4-5"},
    ):
        recorded = await client.call_tool(
            "record_usage",
            {
                **call,
                "input_tokens": 120_001,
                "output_tokens": 3_333,
                "agent": "triage",
                "session": "t1",
                "request_id": call["model"],
                "timestamp": (datetime.now(UTC) - timedelta(minutes=30)).isoformat(),
            },
        )
        assert recorded.is_error is False
    totals: dict[str, Decimal] = {}
    for period in PERIODS:
        for dim in GROUPS:
            cli = process("report", "--period", period, "--group-by", dim, "--json")
            assert cli.returncode == 0, cli.stderr
            tool = await client.call_tool("get_spend", {"period": period, "group_by": [dim]})
            api = web.get("/api/spend", params={"period": period, "group_by": dim})
            assert api.status_code == 200, api.text
            answers = [
                _answer(json.loads(cli.stdout, parse_float=Decimal)),
                _answer(_exact(tool.structured_content)),
                _answer(json.loads(api.text, parse_float=Decimal)),
            ]
            assert answers[0] == answers[1] == answers[2], (period, dim, answers)
            assert totals.setdefault(period, answers[0][0]) == answers[0][0], (period, dim)
    # The bills count: Feb 27's Anthropic bill in place of that day's logged estimates, today's
    # OpenAI bill in place of the gpt-5 call's, and the sonnet call beside it.
    assert totals["2026-02"] > 0 and totals["this_month"] > Decimal("6.67")
    assert totals["2026-02-11..2026-03-04"] == totals["2026-02"] + totals["2026-03"]

    set_budget = {"amount_usd": 100, "period": "month"}
    for name, scope in (
        ("all", {}),
        ("triage", {"agents": ["triage"]}),
        ("openai", {"providers": ["openai"]}),
    ):
        assert (await client.call_tool("set_budget", {"name": name, **set_budget, **scope})).is_error is False
    month = {
        name: _exact(
            (await client.call_tool("get_spend", {"period": "this_month", **scope})).structured_content
        )["total_usd"]
        for name, scope in (
            ("all", {}),
            ("triage", {"agents": ["triage"]}),
            ("openai", {"providers": ["openai"]}),
        )
    }
    assert month["all"] == totals["this_month"]
    tool_budgets = _exact((await client.call_tool("budget_status", {})).structured_content)
    cli_budgets = json.loads(process("budget", "status", "--json").stdout, parse_float=Decimal)
    api_budgets = json.loads(web.get("/api/budgets").text, parse_float=Decimal)
    for said in (tool_budgets, cli_budgets, api_budgets):
        assert {b["budget"]["name"]: b["spent_usd"] for b in said["budgets"]} == month

    # Each Claude Code session of March (no bill there) costs in session_usage what its row says.
    sessions = _exact(
        (
            await client.call_tool("get_spend", {"period": "2026-03", "group_by": ["session"]})
        ).structured_content
    )
    assert sessions["rows"]
    for row in sessions["rows"]:
        usage = await client.call_tool("session_usage", {"session_id": row["group"]["session"]})
        assert _exact(usage.structured_content)["cost_usd"] == row["cost_usd"], row
