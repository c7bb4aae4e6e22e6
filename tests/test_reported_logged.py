"""A call an agent reports with record_usage that is also seen by another path (Claude Code's logs,
read here or pushed to a team server, or its OpenTelemetry events) counts once, from that copy.

DESIGN.md: "one dedup key per API call (the provider's request id where there is one), so a call
seen by two paths counts once". Before, record_usage deduplicated only against other reports: an
agent reporting a Claude Code call by its request id (req_...) counted it twice, in either order.
Real log files read by the real server, pushes received by the team server's own code, on SQLite
and PostgreSQL; totals exact, and the rollup equal to a rebuild from the events.
"""

from __future__ import annotations

import json
import os
from contextlib import closing
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from cost_mcp import access, push
from cost_mcp.analytics import agents, spend
from cost_mcp.analytics import reported as reported_calls
from cost_mcp.analytics.spend import Filters
from cost_mcp.config import Settings
from cost_mcp.models import RecordResult
from cost_mcp.pricing import Pricer, Tokens
from cost_mcp.store import connect, otel, rollup
from cost_mcp.store.connection import Conn
from tests.sources.claude_logs import SONNET, assistant, session_file, write
from tests.sources.test_claude_code import assert_rollup_is_rebuilt_from_events
from tests.test_reported_forget import run

# Sonnet 4.5 at $3 per million input and $15 per million output tokens: the log copy is $0.45; the
# agent's own report of the same call (fewer output tokens) would be $0.3015.
LOGGED_USD = Decimal("0.45")
REPORTED_USD = Decimal("0.3015")
REPORT: dict[str, Any] = {
    "provider": "anthropic",
    "model": SONNET,
    "input_tokens": 100_000,
    "output_tokens": 100,
    "agent": "claude-code",
}
ALREADY = "is already counted from Claude Code's logs, which holds the same request id: nothing was added"


def _log(home: Path, message_id: str, request_id: str, session: str = "s1") -> None:
    """A Claude Code log line of one call a minute ago, in a real session file."""
    ts = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    line = assistant(message_id, request_id, ts, session=session, input=100_000, output=10_000)
    write(session_file(home / "claude", session), line)


async def _totals(c: Client) -> tuple[Decimal, Decimal]:
    """get_spend's total this month and the 'monthly' budget's spend."""
    got = await c.call_tool("get_spend", {"period": "this_month"})
    status = await c.call_tool("budget_status", {"name": "monthly"})
    assert got.structured_content is not None and status.structured_content is not None
    return (
        Decimal(str(got.structured_content["total_usd"])),
        Decimal(str(status.structured_content["budgets"][0]["spent_usd"])),
    )


async def _report(c: Client, request_id: str) -> dict[str, Any]:
    result = await c.call_tool("record_usage", {**REPORT, "request_id": request_id})
    answer = result.structured_content
    assert result.is_error is False and isinstance(answer, dict)
    return answer


def _rollup_exact(conn: Conn) -> None:
    assert rollup.refresh(conn) >= 0
    assert_rollup_is_rebuilt_from_events(conn)


@pytest.mark.anyio
@pytest.mark.usefixtures("clock")
async def test_a_call_read_from_the_logs_then_reported_counts_once(
    home: Path, client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    """The log copy is read first; the agent then reports the call by its request id: not
    recorded, told where it is counted from, and spend and budget stay the log copy's."""
    assert run(capsys, "budget", "set", "monthly", "100")[0] == 0
    _log(home, "msg_1", "req_X")
    assert await _totals(client) == (LOGGED_USD, LOGGED_USD)

    for _ in range(2):  # a retry is told the same
        answer = await _report(client, "req_X")
        assert answer["recorded"] is False and answer["forgotten"] is False
        assert answer["warnings"] == [f"request 'req_X' {ALREADY} (the call counts once)"]
        assert answer["budgets"][0]["remaining_before_usd"] == answer["budgets"][0]["remaining_after_usd"]
    assert await _totals(client) == (LOGGED_USD, LOGGED_USD)

    with closing(connect(os.environ["COST_MCP_DB"])) as conn:
        assert [tuple(r) for r in conn.execute("SELECT source, counted FROM usage_events")] == [
            ("claude_code", 1)
        ]
        _rollup_exact(conn)


@pytest.mark.anyio
@pytest.mark.usefixtures("clock")
async def test_a_call_reported_then_read_from_the_logs_counts_once_from_its_log_copy(
    home: Path, client: Client, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The common order: the agent reports the call as it makes it, the ledger reads its log line
    later. The report counts until then; after, the log copy alone counts (its tokens, its cost),
    and `reported list` still shows the report, marked as counted from the logs."""
    assert run(capsys, "budget", "set", "monthly", "100")[0] == 0
    answer = await _report(client, "req_X")
    assert answer["recorded"] is True and Decimal(str(answer["cost_usd"])) == REPORTED_USD
    other = await _report(client, "req_other")  # a call no log holds: it keeps counting
    assert other["recorded"] is True
    assert await _totals(client) == (2 * REPORTED_USD, 2 * REPORTED_USD)

    _log(home, "msg_1", "req_X")
    assert await _totals(client) == (LOGGED_USD + REPORTED_USD, LOGGED_USD + REPORTED_USD)
    again = await _report(client, "req_X")
    assert again["recorded"] is False and again["warnings"][0].startswith(f"request 'req_X' {ALREADY}")

    code, out, _ = run(capsys, "reported", "list", "--json")
    assert code == 0
    listed = {c["id"]: c["counted_from"] for c in json.loads(out)["calls"]}
    assert listed == {"req_X": "claude_code", "req_other": None}
    monkeypatch.setenv("COLUMNS", "200")  # the table on one line per call
    code, out, _ = run(capsys, "reported", "list")
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert code == 0 and out.splitlines()[0].split()[-2:] == ["counted", "from"]
    assert rows["req_X"].rstrip().endswith("Claude Code logs") and "Claude" not in rows["req_other"]
    with closing(connect(os.environ["COST_MCP_DB"])) as conn:
        counted = conn.execute("SELECT message_id, counted FROM usage_events WHERE source = 'record_usage'")
        assert sorted(tuple(r) for r in counted) == [("req_X", 0), ("req_other", 1)]
        _rollup_exact(conn)

    # Forgetting a report its log copy counts instead changes no total: said, beside the report's cost.
    code, out, _ = run(capsys, "reported", "forget", "req_X", "req_other", "--dry-run", "--json")
    assert code == 0
    assert json.loads(out)["warnings"] == [
        "1 of these reported call(s) did not count in spend: Claude Code's logs or OpenTelemetry hold "
        "the same request id and count the call; forgetting them changes no total"
    ]

    # The log file forgotten (and gone): the report counts again, as an OTel copy would.
    log = session_file(home / "claude", "s1")
    assert run(capsys, "ingest", "--forget", str(log))[0] == 0
    log.unlink()
    assert await _totals(client) == (2 * REPORTED_USD, 2 * REPORTED_USD)
    with closing(connect(os.environ["COST_MCP_DB"])) as conn:
        _rollup_exact(conn)


ANA = access.Caller("ana@example.com", "member", "ana@example.com")
BOB = access.Caller("bob@example.com", "member", "bob@example.com")


def _pushed_log(message_id: str, request_id: str, ts_ms: int) -> push.WireRow:
    """A Claude Code log row as a laptop pushes it ($0.45)."""
    return push.WireRow(
        source="claude_code", message_id=message_id, request_id=request_id, ts_ms=ts_ms,
        provider="anthropic", model=SONNET, session_id="s1", agent="claude-code",
        input_tokens=100_000, output_tokens=10_000,
    )  # fmt: skip


def _pushed_report(request_id: str, ts_ms: int) -> push.WireRow:
    """A call reported on a laptop (record_usage), as the laptop pushes it."""
    return push.WireRow(
        source="record_usage", message_id=request_id, ts_ms=ts_ms, provider="anthropic", model=SONNET,
        input_tokens=100_000, output_tokens=100, agent="claude-code",
    )  # fmt: skip


def _member_reports(conn: Conn, settings: Settings, who: access.Caller, request_id: str) -> RecordResult:
    """record_usage as the team server's MCP endpoint calls it for a member's token."""
    return agents.record_usage(
        conn, settings, Pricer(), provider="anthropic", model=SONNET,
        tokens=Tokens(input=100_000, output=100), agent="claude-code", request_id=request_id,
        member=who.member, take_alerts=False,
    )  # fmt: skip


def _spend_of(conn: Conn, settings: Settings, member: str | None = None) -> Decimal:
    p = spend.resolve(settings, "last_7_days", None, None, None)
    return spend.get_spend(conn, settings, p, (), Filters(members=[member] if member else [])).total_usd


def test_on_a_team_server_a_pushed_log_copy_and_a_members_report_count_once(
    settings: Settings, conn: Conn
) -> None:
    """Ana's laptop pushes her log copies; she also reports calls through the team's MCP
    endpoint, before and after the push, and her laptop pushes a reported call too. Each call counts
    once, from the log copy. Bob, reporting Ana's request id, gets the very answer he gets for an
    id Ana reported: nothing tells him whose it is or how it reached the server."""
    ts_ms = int(datetime.now(UTC).timestamp() * 1000) - 60_000

    # Log copy first, then Ana's report of it.
    push.receive(conn, Pricer(), ANA, [_pushed_log("msg_a", "req_a", ts_ms)])
    late = _member_reports(conn, settings, ANA, "req_a")
    assert not late.recorded and late.warnings == [f"request 'req_a' {ALREADY} (the call counts once)"]

    # Ana's report first, then the log copy.
    assert _member_reports(conn, settings, ANA, "req_b").recorded
    assert _spend_of(conn, settings, ANA.member) == LOGGED_USD + REPORTED_USD
    push.receive(conn, Pricer(), ANA, [_pushed_log("msg_b", "req_b", ts_ms)])

    # A reported call her laptop pushes after its log copy reached the server, and one that
    # comes in the same push as its log copy.
    push.receive(conn, Pricer(), ANA, [_pushed_log("msg_c", "req_c", ts_ms)])
    push.receive(conn, Pricer(), ANA, [_pushed_report("req_c", ts_ms)])
    push.receive(conn, Pricer(), ANA, [_pushed_report("req_d", ts_ms), _pushed_log("msg_d", "req_d", ts_ms)])

    assert _spend_of(conn, settings, ANA.member) == 4 * LOGGED_USD
    assert _spend_of(conn, settings) == 4 * LOGGED_USD

    # Bob reports Ana's logged call, and a call Ana reported herself (req_e): the same answer.
    assert _member_reports(conn, settings, ANA, "req_e").recorded
    logged, reported_by_ana = (_member_reports(conn, settings, BOB, r) for r in ("req_a", "req_e"))
    assert not logged.recorded and logged.cost_usd is None
    apart = {"id", "warnings"}
    assert logged.model_dump(exclude=apart) == reported_by_ana.model_dump(exclude=apart)
    assert [w.replace("req_a", "ID") for w in logged.warnings] == [
        w.replace("req_e", "ID") for w in reported_by_ana.warnings
    ]
    assert "cannot be recorded by you" in logged.warnings[0]
    assert _spend_of(conn, settings, BOB.member) == 0
    assert _spend_of(conn, settings) == 4 * LOGGED_USD + REPORTED_USD

    rows = conn.execute("SELECT source, message_id, counted FROM usage_events WHERE source = 'record_usage'")
    assert sorted(tuple(r) for r in rows) == [
        ("record_usage", "req_b", 0),
        ("record_usage", "req_c", 0),
        ("record_usage", "req_d", 0),
        ("record_usage", "req_e", 1),
    ]
    _rollup_exact(conn)

    # Bob's report, then Ana's log copy of the same call: his stops counting. An admin then forgets
    # what Ana's tokens pushed: the call must not vanish with her copy, so his report counts again.
    assert _member_reports(conn, settings, BOB, "req_z").recorded
    push.receive(conn, Pricer(), ANA, [_pushed_log("msg_z", "req_z", ts_ms)])
    assert _spend_of(conn, settings, BOB.member) == 0
    forgot = reported_calls.forget_pushes(conn, settings, ANA.member, None, None)
    assert {s.source: s.rows for s in forgot.sums} == {"claude_code": 5, "record_usage": 4}
    assert _spend_of(conn, settings, BOB.member) == _spend_of(conn, settings) == REPORTED_USD
    _rollup_exact(conn)


def _otel_event(request_id: str, member: str, ts_ms: int) -> otel.Row:
    """A Claude Code api_request event as the OTLP receiver stores it ($0.45)."""
    tokens = (100_000, 10_000, 0, 0, 0, 110_000)
    return (otel.CLAUDE_SOURCE, request_id, request_id, ts_ms, "anthropic", SONNET, "s1", "claude-code",
            member, *tokens, "", 450_000_000, None, SONNET, "{}")  # fmt: skip


def test_an_otel_event_after_a_report_of_its_call_counts_once(settings: Settings, conn: Conn) -> None:
    """Over OTLP too: a member reports a call, then its api_request event arrives (the report stops
    counting); another call's event arrives first (its report is not recorded)."""
    ts_ms = int(datetime.now(UTC).timestamp() * 1000) - 60_000
    assert _member_reports(conn, settings, ANA, "req_o1").recorded
    otel.write(conn, [_otel_event("req_o1", ANA.member, ts_ms), _otel_event("req_o2", ANA.member, ts_ms)], [])
    late = _member_reports(conn, settings, ANA, "req_o2")
    assert not late.recorded
    assert late.warnings == [
        "request 'req_o2' is already counted from Claude Code's OpenTelemetry events, which holds the "
        "same request id: nothing was added (the call counts once)"
    ]
    assert _spend_of(conn, settings) == 2 * LOGGED_USD
    _rollup_exact(conn)
