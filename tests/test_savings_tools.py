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
        assert "Unknown period 'last_fortnight'" in bad.content[0].text  # type: ignore[union-attr]


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
            "before_unpriced_calls": 0,
            "after_unpriced_calls": 0,
            "change_usd": -1.162,
            "model_ids": None,
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


async def test_compare_periods_says_when_a_side_has_not_begun_is_reversed_or_holds_no_calls(
    client: Client,
) -> None:
    """A "before" in the future (next year's January against this month) was compared in silence,
    its $0 read as a real drop, as was a before that comes after its after; a side with no calls
    at all was said to have "no priced calls", as if calls were there without a price."""
    _ledger()
    today = datetime.now(UTC).date()
    ahead = f"{today.year + 1}-01"
    result = await client.call_tool("compare_periods", {"before": ahead, "after": "2026-11"})
    assert result.is_error is False, result.content
    data = result.structured_content
    assert data is not None
    warnings = data["warnings"]
    assert (
        f"before ({ahead}-01 to {ahead}-31) has not begun (today is {today.isoformat()}): "
        "it holds no calls yet" in warnings
    )
    assert (
        f"before ({ahead}-01 to {ahead}-31) begins after after (2026-11-01 to 2026-11-30): the change reads "
        "backwards; swap before and after" in warnings
    )
    assert (
        "the before period has no calls in the ledger (none recorded for its days yet): the whole change is "
        "counted as volume" in warnings
    )
    # In the right order, over days that are past and hold calls: none of these.
    fine = await client.call_tool("compare_periods", WEEKS)
    assert fine.structured_content is not None
    said = " ".join(fine.structured_content["warnings"])
    assert "has not begun" not in said and "backwards" not in said and "no calls" not in said


def _unpriced_ledger() -> None:
    """Beside the router (priced both weeks): 'ghost' on a model with no known price both weeks,
    'newbie' unpriced the first week and priced the second, 'mixed' one call of each the first week."""
    _ledger()
    conn = connect(load_settings_leniently()[0].db)
    try:
        for agent, day, model in (
            ("ghost", 10, "no-such-model-xyz"),
            ("ghost", 17, "no-such-model-xyz"),
            ("newbie", 10, "no-such-model-xyz"),
            ("newbie", 17, "claude-haiku-4-5"),
            ("mixed", 10, "no-such-model-xyz"),
            ("mixed", 10, "claude-haiku-4-5"),
        ):
            record_call(
                conn,
                Pricer(),
                provider="anthropic",
                model=model,
                tokens=Tokens(input=20_000, output=150),
                agent=agent,
                timestamp=datetime(2026, 11, day, 11, tzinfo=UTC),
                now=NOW,
            )
    finally:
        conn.close()


WEEKS = {"before": "2026-11-09..2026-11-15", "after": "2026-11-16..2026-11-22"}


async def test_a_compared_group_of_unpriced_calls_only_costs_null_over_stdio(home: Path) -> None:
    """compare_periods over a real stdio server: a side whose calls all lack a price costs null
    (unknown, not $0), its calls counted with the unpriced ones apart, and the change against it is
    null too, ranked after every known change; a side with some priced calls keeps their sum."""
    import sys

    from mcp import StdioServerParameters

    from tests.test_server import server_env

    _unpriced_ledger()
    params = StdioServerParameters(command=sys.executable, args=["-m", "cost_mcp"], env=server_env(home))
    async with Client(params) as c:
        result = await c.call_tool("compare_periods", {**WEEKS, "group_by": ["agent"]})
    data = result.structured_content
    assert result.is_error is False and data is not None
    fields = (
        "before_cost_usd",
        "after_cost_usd",
        "before_calls",
        "after_calls",
        "before_unpriced_calls",
        "after_unpriced_calls",
        "change_usd",
    )
    rows = {r["group"]["agent"]: tuple(r[f] for f in fields) for r in data["rows"]}
    assert rows == {
        "router": (1.245, 0.083, 4, 4, 0, 0, -1.162),
        "mixed": (0.02075, 0, 2, 0, 1, 0, -0.02075),
        "ghost": (None, None, 1, 1, 1, 1, None),
        "newbie": (None, 0.02075, 1, 1, 1, 0, None),
    }
    # Known changes by size, then the unknown ones.
    assert [r["group"]["agent"] for r in data["rows"]] == ["router", "mixed", "ghost", "newbie"]
    # The periods' own figures stay of the priced calls, with the warning naming the unpriced model.
    assert data["change_usd"] == round(0.083 + 0.02075 - 1.245 - 0.02075, 9)
    assert any("no-such-model-xyz" in w for w in data["warnings"])


def test_cli_compare_shows_an_unknown_side_as_unpriced(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _unpriced_ledger()
    args = ["compare", "--before", WEEKS["before"], "--after", WEEKS["after"], "--group-by", "agent"]
    assert main([*args, "--json"]) == 0
    rows = {r["group"]["agent"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    assert (rows["ghost"]["before_cost_usd"], rows["ghost"]["change_usd"]) == (None, None)
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    [ghost] = [line.split() for line in lines if line.strip().startswith("ghost")]
    assert ghost == ["ghost", "unpriced", "unpriced", "unpriced"]
    [newbie] = [line.split() for line in lines if line.strip().startswith("newbie")]
    assert newbie == ["newbie", "unpriced", "$0.02", "unpriced"]
    [mixed] = [line.split() for line in lines if line.strip().startswith("mixed")]
    assert mixed == ["mixed", "$0.02", "+", "unpriced", "$0.00", "-$0.02"]


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


def test_cli_compare_says_its_amounts_are_calls_at_list_price_not_the_bill(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A month billed at $50 by the provider, whose recorded calls cost $1.245 at list price: compare
    shows $1.24 and says that it is the calls, not the spend `report` gives, instead of calling it
    "spend" beside report's $50."""
    from cost_mcp.store import write_transaction
    from cost_mcp.store.buckets import DAY_MS, Bucket, replace_range

    _ledger()
    nov10 = int(datetime(2026, 11, 10, tzinfo=UTC).timestamp() * 1000)
    conn = connect(load_settings_leniently()[0].db)
    try:
        with write_transaction(conn):
            bill = Bucket(nov10, nov10 + DAY_MS, cost_nanos=50_000_000_000, model="claude-opus-4-1")
            replace_range(conn, "anthropic", "cost", nov10, nov10 + DAY_MS, [bill])
    finally:
        conn.close()
    args = ["compare", "--before", "2026-11-09..2026-11-15", "--after", "2026-11-16..2026-11-22"]
    assert main(args) == 0
    out = capsys.readouterr().out
    [before] = [line.split() for line in out.splitlines() if line.strip().startswith("calls at list price")]
    assert before == ["calls", "at", "list", "price", "$1.24", "$0.08"]
    assert " spend " not in out.split("change:")[0]
    assert "provider bills and seat fees are not split per call and are left out" in " ".join(out.split())
    assert main(["report", "--start", "2026-11-09", "--end", "2026-11-15", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total_usd"] == 50
