"""savings_report and compare_periods through the in-memory MCP client, and their CLI commands."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mcp import Client

from cost_mcp.cli import main
from cost_mcp.config import load_settings_leniently
from cost_mcp.pricing import Pricer, Tokens
from cost_mcp.sources.reported import record_call
from cost_mcp.store import connect

NOW = datetime(2026, 11, 25, tzinfo=UTC)

pytestmark = pytest.mark.anyio


def _ledger() -> None:
    """A router on Opus with short answers in the week of Nov 9, and the same router on Haiku the
    week after (the switch the comparison should show)."""
    conn = connect(load_settings_leniently()[0].db)
    try:
        for day, model in ((10, "claude-opus-4-1"), (17, "claude-haiku-4-5")):
            for i in range(4):
                record_call(
                    conn,
                    Pricer(),
                    provider="anthropic",
                    model=model,
                    tokens=Tokens(input=20_000, output=150),
                    agent="router",
                    session=f"r{day}",
                    project="gateway",
                    timestamp=datetime(2026, 11, day, 10, 10 * i, tzinfo=UTC),
                    now=NOW,
                )
    finally:
        conn.close()


async def test_savings_report_tool(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cost_mcp.server import mcp

    monkeypatch.setenv("COST_MCP_SUBSTITUTES", "claude-opus-4-1=claude-haiku-4-5")
    _ledger()
    async with Client(mcp, raise_exceptions=True) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert tools["savings_report"].annotations is not None
        assert tools["savings_report"].annotations.read_only_hint is True
        result = await client.call_tool("savings_report", {"start": "2026-11-09", "end": "2026-11-15"})
        assert result.is_error is False
        data = result.structured_content
        assert data is not None
        # 4 x (0.31125 on Opus - 0.02075 on Haiku)
        assert data["model_mix"]["saving_usd"] == 1.162
        assert data["model_mix"]["rows"][0]["target"] == "claude-haiku-4-5"
        assert "quality" in data["notes"][0]
        bad = await client.call_tool("savings_report", {"period": "last_fortnight"})
        assert bad.is_error is True
        assert "allowed: one of today, yesterday" in bad.content[0].text  # type: ignore[union-attr]


async def test_compare_periods_tool(client: Client) -> None:
    _ledger()
    result = await client.call_tool(
        "compare_periods",
        {"before": "2026-11-09..2026-11-15", "after": "2026-11-16..2026-11-22", "group_by": ["agent"]},
    )
    assert result.is_error is False
    data = result.structured_content
    assert data is not None
    # 4 x 0.31125 = 1.245 on Opus, then 4 x 0.02075 = 0.083 on Haiku: all of it is mix.
    assert data["change_usd"] == -1.162
    parts = {p["part"]: p["usd"] for p in data["parts"]}
    assert parts == {"volume": 0, "mix": -1.162, "tokens_per_call": 0, "caching": 0, "price": 0}
    assert data["rows"] == [
        {
            "group": {"agent": "router"},
            "before_cost_usd": 1.245,
            "after_cost_usd": 0.083,
            "before_calls": 4,
            "after_calls": 4,
            "change_usd": -1.162,
        }
    ]
    bad = await client.call_tool("compare_periods", {"before": "2026-11-09..", "after": "last_week"})
    assert bad.is_error is True
    assert "YYYY-MM-DD..YYYY-MM-DD" in bad.content[0].text  # type: ignore[union-attr]
    # Months as one says them: October against November (the calls all fall in November).
    months = await client.call_tool("compare_periods", {"before": "2026-10", "after": "2026-11"})
    data = months.structured_content
    assert months.is_error is False and data is not None
    assert (data["before"]["period"]["first_day"], data["before"]["period"]["last_day"]) == (
        "2026-10-01",
        "2026-10-31",
    )
    assert (data["after"]["calls"], data["change_usd"]) == (8, 1.328)
    unknown = await client.call_tool("compare_periods", {"before": "last_fortnight"})
    text = unknown.content[0].text  # type: ignore[union-attr]
    assert unknown.is_error is True and "a month YYYY-MM" in text and "start/end" not in text


async def test_compare_periods_this_month_against_as_many_days_before(client: Client) -> None:
    """A month in progress is compared with as many days as it has had, and the answer says so."""
    from datetime import UTC, date, datetime, timedelta
    from zoneinfo import ZoneInfo

    _ledger()
    result = await client.call_tool("compare_periods", {"after": "this_month"})
    data = result.structured_content
    assert result.is_error is False and data is not None
    after, before = data["after"]["period"], data["before"]["period"]
    first, last = date.fromisoformat(after["first_day"]), date.fromisoformat(after["last_day"])
    today = datetime.now(UTC).astimezone(ZoneInfo(after["timezone"])).date()
    days = (today - first).days + 1 if today < last else (last - first).days + 1
    assert date.fromisoformat(before["last_day"]) == first - timedelta(days=1)
    assert date.fromisoformat(before["first_day"]) == first - timedelta(days=days)
    in_progress = [w for w in data["warnings"] if "this_month is in progress" in w]
    assert len(in_progress) == (1 if today < last else 0)


async def test_weekly_review_prompt_asks_for_the_savings(client: Client) -> None:
    prompt = await client.get_prompt("weekly_cost_review", {})
    text = prompt.messages[0].content.text  # type: ignore[union-attr]
    assert 'savings_report(period="last_week")' in text
    assert 'compare_periods(after="last_week")' in text


def test_cli_savings_json_and_text(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COST_MCP_SUBSTITUTES", "claude-opus-4-1=claude-haiku-4-5")
    _ledger()
    assert main(["savings", "--start", "2026-11-09", "--end", "2026-11-15", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["model_mix"]["saving_usd"] == 1.162
    assert main(["savings", "--start", "2026-11-09", "--end", "2026-11-15", "--group-by", "agent"]) == 0
    out = capsys.readouterr().out
    assert "model mix: $1.16" in out
    assert "router" in out and "claude-haiku-4-5" in out
    assert "top sessions: r10 ($1.16)" in out
    assert "caching: $0.00" in out and "batch: $0.00" in out
    assert "quality" in out


def test_cli_compare_and_its_errors(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _ledger()
    args = ["compare", "--before", "2026-11-09..2026-11-15", "--after", "2026-11-16..2026-11-22"]
    assert main([*args, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [p["usd"] for p in data["parts"]] == [0, -1.162, 0, 0, 0]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "change: -$1.16" in out
    assert "mix" in out and "claude-haiku-4-5" in out
    assert main(["compare", "--after", "someday"]) == 2
    assert "Unknown period" in capsys.readouterr().err
    assert main(["savings", "--group-by", "colour"]) == 2
    assert "cannot group savings by 'colour'" in capsys.readouterr().err


async def test_a_bad_substitutes_setting_is_a_warning_not_a_failure(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cost_mcp.server import mcp

    monkeypatch.setenv("COST_MCP_SUBSTITUTES", "claude-opus-4-1")
    _ledger()
    async with Client(mcp, raise_exceptions=True) as client:
        result = await client.call_tool("savings_report", {"start": "2026-11-09", "end": "2026-11-15"})
    assert result.is_error is False
    data = result.structured_content
    assert data is not None
    assert "COST_MCP_SUBSTITUTES" in data["warnings"][0]
    candidates = data["model_mix"]["models"][0]["candidates"]
    assert candidates and {c["origin"] for c in candidates} == {"same provider"}


def test_cli_savings_says_once_what_every_row_shares(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """One agent in one project on two models: the rows differ by model only, so agent and project
    are said once above the table, and an 80-column terminal keeps its width for the models."""
    monkeypatch.setenv("COLUMNS", "80")
    _ledger()
    assert main(["savings", "--start", "2026-11-09", "--end", "2026-11-22"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    shared = lines.index("  every row shown: agent router, project gateway")
    header = lines[shared + 1].split()
    assert header[:2] == ["model", "calls"] and "agent" not in header and "project" not in header
    assert any(line.split()[:1] == ["claude-opus-4-1"] for line in lines[shared + 2 :])
