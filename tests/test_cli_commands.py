"""CLI commands run in-process through `cost_mcp.cli.main(argv)`: what a person sees, and exit codes."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from mcp import Client

from cost_mcp.cli import main
from cost_mcp.config import load_settings
from cost_mcp.money import format_usd
from tests.sources.claude_logs import SONNET, assistant, session_file, write

CLOSED_PORT = "http://127.0.0.1:9"
"""Nothing listens there: a provider behind it is offline."""


@pytest.fixture
def logs(home: Path, clock: None) -> Path:
    """Two calls this month: one priced, one on a model with no known price."""
    # A minute ago at noon (the clock fixture): today's, this week's and this month's, whenever the
    # suite runs (a NOW taken at import was last month's for a test run just after midnight on the 1st).
    now = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    write(
        session_file(home / "claude", "s1"),
        assistant("msg_1", "req_1", now, input=1000, output=100),
        assistant("msg_2", "req_2", now, model="no-such-model-x", input=10, output=10),
    )
    return home


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.usefixtures("logs")
def test_report_csv_names_basis_once_when_grouping_by_it(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "report", "--csv", "--group-by", "provider", "basis")
    assert code == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == [
        "provider",
        "basis",
        "cost_usd",
        "requests",
        "total_tokens",
        "unpriced_requests",
        "complete",
    ]
    assert rows[1][:2] == ["anthropic", "estimated"]
    assert "E-" not in out  # no exponent in an amount


@pytest.mark.usefixtures("logs")
def test_export_json_money_is_a_number_and_unpriced_is_null(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "export", "--format", "json")
    assert code == 0
    records = json.loads(out)
    costs = {r["model"]: r["cost_usd"] for r in records}
    assert isinstance(costs[SONNET], float) and costs[SONNET] > 0
    assert costs["no-such-model-x"] is None


@pytest.mark.usefixtures("logs")
@pytest.mark.parametrize("fmt", ["csv", "json", "focus"])
def test_export_says_what_its_rows_lack(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    """The QA case (h-cover F5): with OpenAI's bill never synced (offline), `export` wrote the
    local rows only and said nothing, exit 0: a month-end reconciliation took the file as whole.
    Now stderr says what the rows lack, as `report --csv` does (the file keeps its format)."""
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-" + "a" * 40)
    monkeypatch.setenv("COST_MCP_OPENAI_BASE_URL", CLOSED_PORT)
    code, out, err = run(capsys, "export", "--format", fmt, "--period", "this_month")
    assert code == 0 and out
    assert "PARTIAL: openai: never synced" in " ".join(err.split())
    assert "no-such-model-x" in err  # its calls have no price: not in any cost


@pytest.mark.usefixtures("logs")
def test_export_to_a_closed_pipe_ends_quietly(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`cost-mcp export | head -1`: the reader goes away; no BrokenPipeError traceback."""

    class ClosedPipe(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr("sys.stdout", ClosedPipe())
    assert main(["export"]) == 0


@pytest.mark.usefixtures("home")
@pytest.mark.sqlite_only  # about the output, not the ledger
@pytest.mark.parametrize("command", [["report"], ["report", "--json"], ["subscription", "list"]])
def test_a_table_to_a_reader_that_has_gone_ends_with_exit_0(command: list[str]) -> None:
    """`cost-mcp report | head -1` in a real process, the reader gone before the first line: rich
    exited 1 on it ("something checked is not right"), so `set -o pipefail` scripts failed."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write now fails with EPIPE, as once head has what it wanted
    try:
        done = subprocess.run(
            [sys.executable, "-m", "cost_mcp", *command],
            stdout=write_end,
            stderr=subprocess.PIPE,
            check=False,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 0, done.stderr
    assert b"Traceback" not in done.stderr and b"Error" not in done.stderr, done.stderr


@pytest.mark.usefixtures("logs")
@pytest.mark.sqlite_only  # about the output file, not the ledger
@pytest.mark.parametrize(
    ("fmt", "name"), [("csv", "x.csv"), ("json", "x.json"), ("focus", "x.csv"), ("focus", "x.parquet")]
)
def test_export_to_a_file_that_cannot_be_written_says_so_in_one_line(
    home: Path, capsys: pytest.CaptureFixture[str], fmt: str, name: str
) -> None:
    """`export -o` into a folder that does not exist, or onto a folder: a traceback it was."""
    for target in (home / "no-such-folder" / name, home):
        code, out, err = run(capsys, "export", "--format", fmt, "-o", str(target))
        assert code == 2 and out == ""
        assert err.startswith(f"error: cannot write {target} (") and "Traceback" not in err
        assert "give --output a file in a folder that exists" in " ".join(err.split())
    assert not (home / "no-such-folder").exists()


@pytest.mark.usefixtures("home")
def test_estimate_without_token_counts_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "estimate", "claude-sonnet-4-5")
    assert code == 2 and out == ""
    assert "give the call's token counts" in err and "--input" in err


@pytest.mark.usefixtures("home")
@pytest.mark.sqlite_only  # no ledger involved
@pytest.mark.parametrize(
    ("option", "value", "allowed"),
    [
        ("--requests", "0", "1<=x<=1000000000"),
        ("--requests", "-3", "1<=x<=1000000000"),
        ("--input", "-5", "x>=0"),
    ],
)
def test_estimate_refuses_counts_out_of_range_naming_the_option(
    capsys: pytest.CaptureFixture[str], option: str, value: str, allowed: str
) -> None:
    """`--requests 0` divided the tokens by zero (a traceback); `--requests -3` was blamed on the
    input ("input must be a whole number >= 0, got -333"), the tokens divided by -3."""
    argv = ["estimate", "claude-sonnet-4-5", "--input", "1000", "--output", "100", option, value]
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and "Traceback" not in err
    assert f"Invalid value for '{option}': {value} is not in the range {allowed}." in err


@pytest.mark.usefixtures("home")
@pytest.mark.sqlite_only  # refused before the ledger is read
def test_blocks_out_of_range_says_the_option_once(capsys: pytest.CaptureFixture[str]) -> None:
    """It said "invalid --days (1 to 31) (--days (1 to 31): Input should be ...)"."""
    code, _, err = run(capsys, "blocks", "--days", "367")
    assert code == 2
    assert err == "error: invalid --days (1 to 366) (Input should be less than or equal to 366)\n"
    code, _, err = run(capsys, "blocks", "--token-limit", "lots")
    assert code == 2 and err.count("--token-limit") == 1


@pytest.mark.usefixtures("logs")
@pytest.mark.sqlite_only  # about the price file
def test_a_cli_command_stops_at_a_broken_price_file(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """README: a running server keeps the prices read before a broken edit; a CLI command has none,
    and stops with the one-line error rather than store calls at prices the file would change."""
    prices = home / "config" / "prices.toml"
    prices.parent.mkdir(parents=True, exist_ok=True)
    prices.write_text('[[price]]\nmodel = "no-such-model-x"\ninput_mtok = \n', encoding="utf-8")
    code, out, err = run(capsys, "report")
    assert (code, out) == (2, "")
    assert err.startswith(f"error: price override file {prices} is not valid TOML")


@pytest.mark.sqlite_only  # about an SQLite file's place
def test_serve_http_refuses_an_sqlite_ledger_on_a_network_share(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A team put the server's SQLite ledger on an NFS share (to back it up, or to run a replica on
    a second host): the server started and served, though SQLite's WAL does not work over a network
    file system and two hosts' writes can corrupt the file. It now refuses at once, naming the two
    fixes. (No share can be mounted here: the mount table's answer for the ledger's folder is
    replaced; the folder itself is a real one.)"""
    import socket

    import cost_mcp.files
    from cost_mcp.config import load_settings

    db = Path(load_settings().db)
    real = cost_mcp.files.file_system_type
    assert cost_mcp.files.network_file_system(db) is None  # this machine's test folder: a local disk
    shared = db.parent  # the share's mount point, where the ledger is to be made
    shared.mkdir(parents=True, exist_ok=True)
    monkeypatch.setattr(
        cost_mcp.files, "file_system_type", lambda path: "nfs4" if path == shared else real(path)
    )
    with socket.socket() as held:  # had the ledger been taken, the server stops at the port, not serves
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        code, out, err = run(capsys, "serve", "--http", "--port", str(held.getsockname()[1]))
    assert (code, out) == (2, ""), err
    said = " ".join(err.split())
    assert said.startswith(f"error: the ledger {db} is on a network file system (nfs4): SQLite cannot share")
    assert "Set COST_MCP_DB to a path on a local disk of this host, or to a PostgreSQL URL" in said
    assert "Traceback" not in err and not db.exists()


@pytest.mark.usefixtures("home")
@pytest.mark.sqlite_only  # about the port, not the ledger
def test_a_port_another_program_holds_is_one_line_for_the_dashboard_and_the_server(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`dashboard --port N` on a port in use was an OSError traceback (an OverflowError past 65535);
    `serve --http --port N` announced itself, then uvicorn logged "[Errno 98]" and exited 3."""
    import socket

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        port = str(held.getsockname()[1])
        for argv in (["dashboard", "--no-browser", "--port", port], ["serve", "--http", "--port", port]):
            code, out, err = run(capsys, *argv)
            assert (code, out) == (2, ""), err
            assert err.startswith(f"error: cannot listen on 127.0.0.1:{port} (Address already in use)")
            assert "choose another --port" in err and "Traceback" not in err
    for argv in (["dashboard", "--no-browser", "--port", "99999"], ["serve", "--http", "--port", "99999"]):
        code, _, err = run(capsys, *argv)
        assert code == 2 and "Invalid value for '--port': 99999 is not in the range" in err


@pytest.mark.usefixtures("home")
def test_budget_set_says_everything_it_set(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`budget set ci 10 --agent ci --include-subscriptions --threshold 0.9` printed "budget 'ci':
    $10.00 per month": the scope, the seat fees and the thresholds were not said."""
    monkeypatch.setenv("COLUMNS", "400")
    argv = [
        "budget",
        "set",
        "ci",
        "10",
        "--agent",
        "ci",
        "--provider",
        "anthropic",
        "--include-subscriptions",
    ]
    code, out, _ = run(capsys, *argv, "--threshold", "0.9", "--threshold", "1", "--hard")
    assert code == 0
    assert out.splitlines()[0] == (
        "budget 'ci': $10.00 per month (hard), providers anthropic, agents ci, seat fees counted; "
        "alerts at 90%, 100%"
    )
    code, out, _ = run(capsys, "budget", "set", "plain", "5", "--period", "day")
    assert out.splitlines()[0] == "budget 'plain': $5.00 per day; alerts at 50%, 80%, 100%"


@pytest.mark.usefixtures("logs")
def test_session_messages_name_no_tool_argument(capsys: pytest.CaptureFixture[str]) -> None:
    """`cost-mcp session nope` said "omit session_id", and the latest session from another folder
    "pass session_id for another": the CLI has an ID argument, no session_id."""
    code, _, err = run(capsys, "session", "nope")
    assert code == 2 and "give no session id for the latest one" in err and "session_id" not in err
    code, out, _ = run(capsys, "session")  # run from this checkout: the session is another folder's
    said = " ".join(out.split())
    assert code == 0 and "this is the most recent one" in said and "give a session id for another" in said


@pytest.mark.usefixtures("home")
def test_budget_set_and_delete_do_not_sync_or_read_logs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_refresh(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("budget set/delete refreshed the ledger")

    monkeypatch.setattr("cost_mcp.sync.refresh", no_refresh)
    monkeypatch.setattr("cost_mcp.sync.refresh_or_skip", no_refresh, raising=False)
    assert run(capsys, "budget", "set", "monthly", "150")[0] == 0
    code, out, _ = run(capsys, "budget", "delete", "monthly")
    assert code == 0 and "deleted budget 'monthly'" in out


@pytest.mark.usefixtures("home")
def test_budget_status_lists_budgets(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "budget", "set", "monthly", "150")[0] == 0
    code, out, _ = run(capsys, "budget", "status", "--json")
    assert code == 0
    assert json.loads(out)["budgets"][0]["budget"]["name"] == "monthly"


@pytest.mark.anyio
@pytest.mark.usefixtures("logs")
async def test_the_summary_resource_labels_a_budget_spent_in_part_on_unpriced_calls(
    client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    """cost://summary said "monthly: $0.0045 of $150.00" where budget_status and the dashboard say
    "$0.0045 + unpriced": a call with no known price counts nothing against the budget, unsaid."""
    await client.call_tool("set_budget", {"name": "monthly", "amount_usd": 150, "period": "month"})
    summary = await client.read_resource("cost://summary")
    text = getattr(summary.contents[0], "text", "")
    [line] = [s.strip() for s in text.splitlines() if s.strip().startswith("monthly:")]
    code, out, _ = run(capsys, "budget", "status")
    [row] = [r for r in out.splitlines() if r.startswith("monthly")]
    assert code == 0 and "+ unpriced" in row
    assert line.startswith("monthly: $0.0045 + unpriced of $150.00 per month"), line
    # Its percent is a lower bound and what is left an upper one, marked alike everywhere: the
    # summary read "(0.0%)" as a sure figure where the CLI read "≥0.0".
    assert line.startswith("monthly: $0.0045 + unpriced of $150.00 per month (≥0.0%), ok"), line
    assert "$0.0045 + unpriced ≤$150.00 ≥0.0 ok" in " ".join(row.split()), row


@pytest.mark.usefixtures("home")
def test_budget_status_with_no_budget_says_how_to_make_one_once_as_a_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A first `cost-mcp budget status` printed its advice twice: as a command, then as the MCP
    tool's note, `set_budget(name, amount_usd, period)`, which no shell runs."""
    for command in (("budget", "status"), ("budget", "list")):
        code, out, err = run(capsys, *command)
        assert code == 0
        assert out.count("cost-mcp budget set") == 1, out
        assert "set_budget(" not in out + err
    code, out, _ = run(capsys, "budget", "status", "--json")
    [said] = json.loads(out)["warnings"]
    assert "cost-mcp budget set" in said and "set_budget(" not in said


@pytest.mark.usefixtures("home")
def test_budget_status_shows_the_local_first_day(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A day budget in Tokyo (UTC+9) starts at 15:00 UTC the day before: the table shows the local
    day, as the JSON's first_day says it (it showed period_start's UTC date, a day early)."""
    monkeypatch.setenv("COST_MCP_TIMEZONE", "Asia/Tokyo")
    assert run(capsys, "budget", "set", "daily", "5", "--period", "day")[0] == 0
    code, out, _ = run(capsys, "budget", "status", "--json")
    [state] = json.loads(out)["budgets"]
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Tokyo")).date().isoformat()
    assert state["first_day"] == today and state["period_start"][:10] != today
    code, out, _ = run(capsys, "budget", "status")
    assert code == 0 and f"day from {today}" in out


@pytest.mark.parametrize(
    "command", [("budget", "set", "tiny"), ("subscription", "add", "tiny", "--vendor", "v")]
)
def test_an_amount_below_a_billionth_is_refused_as_an_amount_not_blamed_on_the_ledger(
    capsys: pytest.CaptureFixture[str], command: tuple[str, ...]
) -> None:
    amount = (
        ["0.0000000004"] if command[0] == "budget" else ["--amount", "0.0000000004", "--start", "2026-12-01"]
    )
    code, _, err = run(capsys, *command, *amount)
    assert code == 2
    typed = "AMOUNT" if command[0] == "budget" else "--amount"  # as the person wrote it, not amount_usd
    assert f"{typed} must be above 0 (at least 0.000000001" in err and "ledger" not in err


@pytest.mark.usefixtures("home")
@pytest.mark.parametrize(
    "argv",
    [
        ("neg", "-5"),
        ("neg", "-0.5", "--period", "day"),
        ("--period", "day", "neg", "-.5", "--hard"),
        ("--threshold", "0.5", "neg", "-5"),
    ],
)
def test_a_negative_amount_is_refused_as_an_amount_not_as_an_unknown_option(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    """click read "-5" as an option and said "No such option '-5'": the amount must reach the
    command's own check, which says what an amount must be."""
    code, _, err = run(capsys, "budget", "set", *argv)
    assert code == 2
    assert "AMOUNT must be above 0 (at least 0.000000001" in err and "No such option" not in err
    code, out, _ = run(capsys, "budget", "status", "--json")
    assert code == 0 and json.loads(out)["budgets"] == []


@pytest.mark.usefixtures("home")
def test_a_negative_amount_leaves_option_typos_and_values_to_click(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Only positionals move: a mistyped option is still named, with click's suggestion, and an
    option's value is still its own."""
    code, _, err = run(capsys, "budget", "set", "neg", "-5", "--provder", "openai")
    assert code == 2 and "No such option '--provder'" in err and "--provider" in err
    code, _, err = run(capsys, "budget", "set", "neg", "-5", "--threshold", "-1")
    assert code == 2 and "AMOUNT must be above 0" in err
    code, _, err = run(capsys, "budget", "set", "ok", "5", "--threshold", "-1")
    assert code == 2 and "--threshold -1: give a fraction of the amount above 0" in err


def test_a_threshold_written_as_a_percent_is_refused_with_how_to_write_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(capsys, "budget", "set", "b", "5", "--threshold", "80%")
    assert code == 2 and "--threshold: not a decimal amount: '80%'" in err and "e.g. 0.8 for 80%" in err


@pytest.mark.anyio
async def test_cli_and_mcp_refuse_the_same_budget_name(
    capsys: pytest.CaptureFixture[str], client: Client
) -> None:
    code, _, err = run(capsys, "budget", "set", "bad name!", "5")
    assert code == 2 and "budget name" in err
    result = await client.call_tool("set_budget", {"name": "bad name!", "amount_usd": 5, "period": "month"})
    assert result.is_error is True and "'name'" in result.content[0].text  # type: ignore[union-attr]
    # A name both accept is accepted by both.
    assert run(capsys, "budget", "set", "team-a", "5")[0] == 0
    ok = await client.call_tool("set_budget", {"name": "team-b", "amount_usd": 5, "period": "month"})
    assert ok.is_error is False


@pytest.mark.anyio
@pytest.mark.usefixtures("logs")
async def test_a_budget_scope_that_matches_nothing_is_said_when_it_is_set(
    capsys: pytest.CaptureFixture[str], client: Client
) -> None:
    """A typo in a scope makes a budget that counts nothing: said at once, by the CLI and the tool."""
    code, out, _ = run(capsys, "budget", "set", "typo", "5", "--agent", "claude-cod")
    assert code == 0
    assert "budget 'typo': agent filter 'claude-cod' matches nothing in the ledger" in " ".join(out.split())
    made = await client.call_tool(
        "set_budget", {"name": "typo2", "amount_usd": 5, "period": "month", "agents": ["claude-cod"]}
    )
    data = made.structured_content
    assert made.is_error is False and data is not None
    assert data["warnings"][0].startswith("budget 'typo2': agent filter 'claude-cod' matches nothing")
    fine = await client.call_tool(
        "set_budget", {"name": "ok", "amount_usd": 5, "period": "month", "agents": ["claude-code"]}
    )
    assert fine.structured_content is not None and fine.structured_content["warnings"] == []


def test_doctor_exit_code_is_the_same_with_and_without_json(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789")
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", "your-key-here")
    env_file = home / "config" / "env"
    env_file.parent.mkdir(parents=True)
    env_file.write_text("# keys\nGROQ_API_KEY gsk_missing_equals_sign\nCOST_MCP_WEEK_START=monday\n")
    code_json, out_json, _ = run(capsys, "doctor", "--json")
    code_text, out_text, _ = run(capsys, "doctor")
    assert code_json == code_text == 1
    problems = json.loads(out_json)["problems"]
    assert any("OPENAI_ADMIN_KEY is a project key" in p and "cannot read billing" in p for p in problems)
    assert any("ANTHROPIC_ADMIN_KEY looks like a placeholder" in p for p in problems)
    assert any("line 2: no '='" in p for p in problems)
    assert "abcdefghij" not in out_json + out_text and "gsk_missing" not in out_json + out_text


def test_doctor_says_a_key_was_pasted_with_quotes_or_its_scheme(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The QA case (h-qaprov): an admin key pasted with its quotes (kept by a JSON config or a
    systemd unit) or as 'Bearer sk-admin-...' from a curl example was called "not an admin key:
    create an admin key", sending the user to make a new key when theirs was right."""
    monkeypatch.setenv("OPENAI_ADMIN_KEY", '"sk-admin-abcdefghijklmnopqrstuvwxyz0123456789"')
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", "Bearer sk-ant-admin01-abcdefghijklmnopqrstuvwxyz")
    code, out, _ = run(capsys, "doctor", "--json")
    assert code == 1
    problems = [p for p in json.loads(out)["problems"] if "ADMIN_KEY" in p]
    assert problems == [
        "OPENAI_ADMIN_KEY starts with a quote, so the provider receives something else than the key: "
        "set the key alone (OPENAI_ADMIN_KEY=<key>, no quotes inside the value, no scheme)",
        "ANTHROPIC_ADMIN_KEY starts with the auth scheme 'Bearer', so the provider receives something "
        "else than the key: set the key alone (ANTHROPIC_ADMIN_KEY=<key>, no quotes inside the value, "
        "no scheme)",
    ]
    assert "abcdefghij" not in out


def test_doctor_fits_80_columns(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "doctor")
    assert code in (0, 1)
    assert max(len(line) for line in out.splitlines()) <= 80
    # The key table keeps each provider on one line.
    assert any(line.split()[:2] == ["openai", "OPENAI_ADMIN_KEY"] for line in out.splitlines())


def _failed_sync(db: Path | str, source: str) -> None:
    from cost_mcp.store import connect

    conn = connect(db)
    conn.execute(
        "INSERT INTO source_state (source, last_attempt, last_error) VALUES (?, ?, ?)",
        (source, datetime.now(UTC).isoformat(), "HTTP 401: bad key"),
    )
    conn.commit()
    conn.close()


def test_old_sync_errors_are_not_reported_once_the_key_is_gone(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "budget", "list")[0] == 0  # creates the ledger
    _failed_sync(load_settings().db, "openai")
    code, out, _ = run(capsys, "report", "--json")
    assert code == 0
    result = json.loads(out)
    assert not any("last refresh failed" in w for w in result["warnings"])
    assert all(s["status"] != "error" for s in result["sources"])


def test_sync_skip_takes_any_source_name(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cost_mcp.analytics import spend
    from cost_mcp.store import connect
    from cost_mcp.sync import plan_sync

    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", "sk-ant-admin01-abcdefghijklmnopqrstuvwxyz")
    monkeypatch.setenv("COST_MCP_ANTHROPIC_BASE_URL", CLOSED_PORT)
    monkeypatch.setenv("COST_MCP_SYNC_SKIP", "anthropic-claude-code")
    settings = load_settings()
    conn = connect(settings.db)
    try:
        _failed_sync(settings.db, "anthropic-claude-code")
        planned = [p.source.id for p in plan_sync(conn, settings, use_ttl=True)]
        assert planned == ["anthropic"]
        p = spend.resolve(settings, "this_month", None, None, None)
        warnings = spend.get_spend(conn, settings, p).warnings
        assert not any("anthropic-claude-code" in w for w in warnings)
    finally:
        conn.close()
    assert settings.skips_sync("anthropic-claude-code") and not settings.skips_sync("anthropic")


def test_sync_offline_is_one_line_per_source_without_retry_noise(
    home: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-abcdefghijklmnopqrstuvwxyz012345")
    monkeypatch.setenv("COST_MCP_OPENAI_BASE_URL", CLOSED_PORT)
    caplog.set_level(logging.DEBUG)
    code, out, err = run(capsys, "sync")
    assert code == 1
    assert not [r for r in caplog.records if r.name.startswith("stamina")]
    assert "stamina" not in out + err
    lines = [line for line in out.splitlines() if line.strip().startswith("openai")]
    assert lines and "failed" in lines[0]


@pytest.mark.usefixtures("clock")
def test_forecast_of_calls_with_no_known_price_never_reads_zero(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A month of a model with no known price read "$0.00 spent ... $0.00 projected" and a burn
    rate of $0.00/day, where report says "unpriced" (h-qadash's finding for the dashboard)."""
    now = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    write(
        session_file(home / "claude", "s1"),
        *(
            assistant(f"msg_{n}", f"req_{n}", now, model="no-such-model-x", input=10, output=10)
            for n in range(3)
        ),
    )
    code, out, _ = run(capsys, "forecast", "--period", "today")
    said = " ".join(out.split())
    assert code == 0 and "unpriced spent in 1 of 1 day; unpriced projected" in said, said
    assert "burn rate: unpriced/day over the period" in said
    assert "3 call(s) of the period have no known price" in said
    code, out, _ = run(capsys, "forecast", "--period", "today", "--json")
    assert json.loads(out)["unpriced_requests"] == 3


@pytest.mark.usefixtures("clock")
def test_blocks_active_speaks_of_the_active_block_alone(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`blocks --active` showed the active block and then named the unpriced model of a block of
    yesterday it did not show; --json listed every block. Both now hold the active block alone."""
    now = datetime.now(UTC)
    write(
        session_file(home / "claude", "s1"),
        assistant(
            "msg_1", "req_1", (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z"), model="old-x"
        ),
        assistant(
            "msg_2", "req_2", (now - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z"), input=1000
        ),
    )
    code, out, _ = run(capsys, "blocks")
    assert code == 0 and "old-x: 1 call(s) have no known price" in " ".join(out.split())
    code, out, _ = run(capsys, "blocks", "--active")
    assert code == 0 and "active" in out and "1,000" in out
    assert "old-x" not in out and "no known price" not in out
    code, out, _ = run(capsys, "blocks", "--active", "--json")
    result = json.loads(out)
    assert code == 0 and [b["is_active"] for b in result["blocks"]] == [True]
    assert not any("old-x" in w for w in result["warnings"])


@pytest.mark.usefixtures("logs")
def test_blocks_session_and_forecast_views(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "blocks", "--active")
    assert code == 0
    assert "active" in out and "1,010" in out  # input tokens of both calls
    # One of the two calls has no known price: the block's cost says so, and the note names it.
    assert "$0.0045 + unpriced" in out
    assert "no-such-model-x: 1 call(s) have no known price" in " ".join(out.split())
    code, out, _ = run(capsys, "blocks", "--json")
    blocks = json.loads(out)
    assert code == 0 and blocks["active"]["requests"] == 2
    code, out, _ = run(capsys, "session")
    assert code == 0 and "s1" in out and "claude-sonnet-4-5" in out
    assert out.startswith("session s1") and "+ unpriced, 2 calls" in out.splitlines()[0]
    # A long model id folds rather than being cut; money is right-aligned in the last column.
    assert "…" not in out
    lines = out.splitlines()
    priced = next(line for line in lines if line.rstrip().endswith("$0.0045"))
    unpriced = next(line for line in lines if "unpriced" in line and "no-such-model-x" in line)
    assert len(priced.rstrip()) == len(unpriced.rstrip())
    code, out, _ = run(capsys, "session", "s1", "--json")
    assert code == 0 and json.loads(out)["session_id"] == "s1"
    code, out, _ = run(capsys, "forecast")
    assert code == 0 and "projected at the last 7 days' rate" in out and "burn rate" in out
    # The unpriced call is in no amount, and said so: "$0.0045 + unpriced spent".
    said = " ".join(out.split())
    assert "$0.0045 + unpriced spent" in said and "+ unpriced/day over the period" in said
    assert "1 call(s) of the period have no known price and are in none of these amounts" in said
    # The trailing rate leaves today out: said so, or today's spend reads as missing from it.
    assert "$0.00/day over the 7 days before today" in said
    code, out, _ = run(capsys, "forecast", "--json")
    assert code == 0 and json.loads(out)["days_in_period"] >= 28


def test_blocks_go_back_a_year(home: Path, clock: None, capsys: pytest.CaptureFixture[str]) -> None:
    """`blocks --days 40` was refused ("1 to 31"), so a month and a half of 5-hour windows (or last
    quarter's) could not be listed at all, though the ledger holds them; ccusage lists any range."""
    now = datetime.now(UTC)
    stamp = "%Y-%m-%dT%H:%M:%S.000Z"
    write(
        session_file(home / "claude", "s1"),
        assistant("msg_old", "req_old", (now - timedelta(days=200)).strftime(stamp), input=1000, output=100),
        assistant("msg_mid", "req_mid", (now - timedelta(days=35)).strftime(stamp), input=1000, output=100),
        assistant("msg_new", "req_new", (now - timedelta(minutes=1)).strftime(stamp), input=1000, output=100),
    )
    code, out, err = run(capsys, "blocks", "--days", "40", "--json")
    assert code == 0, err
    assert len([b for b in json.loads(out)["blocks"] if not b["is_gap"]]) == 2
    code, out, err = run(capsys, "blocks", "--days", "366", "--json")
    assert code == 0, err
    assert len([b for b in json.loads(out)["blocks"] if not b["is_gap"]]) == 3


PROJECT = "Café Zürich 東京"
NOV2 = 1_793_577_600_000  # 2026-11-02T00:00:00Z


def _billed_project(db: Path | str) -> None:
    """A bill of Nov 2, 2026 for a project whose name is not ASCII."""
    from cost_mcp.store import connect, write_transaction
    from cost_mcp.store.buckets import DAY_MS, Bucket, replace_range

    conn = connect(db)
    try:
        with write_transaction(conn):
            bucket = Bucket(NOV2, NOV2 + DAY_MS, cost_nanos=1_250_000_000, model=SONNET, project=PROJECT)
            replace_range(conn, "anthropic", "cost", NOV2, NOV2 + DAY_MS, [bucket])
    finally:
        conn.close()


def test_csv_for_excel_starts_with_a_byte_order_mark_and_only_when_asked(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Finance opened `export -o spend.csv` in Excel on Windows and read "CafÃ© ZÃ¼rich æ±äº¬": Excel
    takes a CSV without a UTF-8 byte-order mark for the ANSI code page. `--excel` writes the mark
    (files, stdout, FOCUS too); without it the bytes stay plain UTF-8, as pipes and Python's csv
    module (which reads the mark as part of the first column's name) expect."""
    assert run(capsys, "budget", "list")[0] == 0  # creates the ledger
    _billed_project(load_settings().db)
    period = ("--period", "2026-11")
    for fmt in ("csv", "focus"):
        plain, excel = tmp_path / f"{fmt}.csv", tmp_path / f"{fmt}-excel.csv"
        assert run(capsys, "export", *period, "--format", fmt, "-o", str(plain))[0] == 0
        assert run(capsys, "export", *period, "--format", fmt, "-o", str(excel), "--excel")[0] == 0
        assert not plain.read_bytes().startswith(b"\xef\xbb\xbf")
        assert excel.read_bytes() == b"\xef\xbb\xbf" + plain.read_bytes()
        assert PROJECT in excel.read_bytes().decode("utf-8-sig")
    code, out, _ = run(capsys, "export", *period, "--excel")
    assert code == 0 and out.startswith("\ufeffkind,")
    code, out, _ = run(capsys, "export", *period)
    assert code == 0 and out.startswith("kind,")
    code, _, err = run(capsys, "export", *period, "--format", "json", "--excel")
    assert code == 2 and "--excel is for CSV" in err

    code, out, _ = run(capsys, "report", *period, "--group-by", "project", "--csv")
    assert code == 0 and out.startswith("project,basis,cost_usd")
    code, _, err = run(capsys, "report", *period, "--group-by", "project", "--excel")
    assert code == 2 and "--excel is for CSV" in err
    # Excel's users are on Windows, where a redirected stdout is the ANSI code page: the mark and
    # the names are UTF-8 there too, not a UnicodeEncodeError.
    env = {**os.environ, "PYTHONIOENCODING": "cp1252"}
    done = subprocess.run(
        [sys.executable, "-m", "cost_mcp", "report", *period, "--group-by", "project", "--csv", "--excel"],
        env=env,
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(b"\xef\xbb\xbfproject,basis,cost_usd")
    rows = list(csv.reader(io.StringIO(done.stdout.decode("utf-8-sig"))))
    assert rows[1][:3] == [PROJECT, "billed", "1.250000000"]


def _billed_projects(db: Path | str, nanos: dict[str, int], day_ms: int = NOV2) -> None:
    """A bill of one day (Nov 2, 2026 unless told) with one amount per project."""
    from cost_mcp.store import connect, write_transaction
    from cost_mcp.store.buckets import DAY_MS, Bucket, replace_range

    conn = connect(db)
    try:
        with write_transaction(conn):
            buckets = [
                Bucket(day_ms, day_ms + DAY_MS, cost_nanos=n, model=SONNET, project=p)
                for p, n in nanos.items()
            ]
            replace_range(conn, "anthropic", "cost", day_ms, day_ms + DAY_MS, buckets)
    finally:
        conn.close()


def _shown_amounts(out: str) -> list[Decimal]:
    """The dollar amounts at the end of a table's rows, as a person reads them."""
    found = (re.search(r"(-?)\$([\d,]+\.\d+)\s+-\s*$", line) for line in out.splitlines())
    return [Decimal(m[1] + m[2].replace(",", "")) for m in found if m]


def test_report_says_when_its_rounded_rows_do_not_add_up_to_its_total(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The QA case (h-qacents): three projects billed $3.335 each showed $3.34 three times under
    "$10.01" (with a credit) and nothing said why a finance lead's sum came to $10.02. Each figure
    stays the one every view gives (half-even, as CSV and JSON round it); a line under the table
    says what the rows add up to as shown, and that the total is their exact sum."""
    assert run(capsys, "budget", "list")[0] == 0  # creates the ledger
    _billed_projects(
        load_settings().db, {"a": 3_335_000_000, "b": 3_335_000_000, "c": 3_335_000_000, "d": -5_000}
    )
    code, out, _ = run(capsys, "report", "--period", "2026-11", "--group-by", "project")
    assert code == 0
    flat = " ".join(out.split())
    total = json.loads(run(capsys, "report", "--period", "2026-11", "--group-by", "project", "--json")[1])
    exact = Decimal(str(total["total_usd"]))
    rows = _shown_amounts(out)
    assert len(rows) == 4
    shown_total = format_usd(exact)
    assert out.splitlines()[0].endswith(f"): {shown_total}")
    assert format_usd(sum(rows, Decimal(0))) != shown_total  # the case: the column does not add up
    assert (
        f"as shown they add up to {format_usd(sum(rows, Decimal(0)))}; {shown_total} is their exact sum"
        in flat
    )

    # Rows that add up as shown get no such line.
    _billed_projects(load_settings().db, {"a": 3_330_000_000, "b": 3_330_000_000})
    code, out, _ = run(capsys, "report", "--period", "2026-11", "--group-by", "project")
    assert code == 0 and "rounded on their own" not in out


@pytest.mark.usefixtures("logs")
def test_blocks_token_limit_is_shown_for_a_block_with_no_rate_yet(capsys: pytest.CaptureFixture[str]) -> None:
    """Both calls at one instant: no burn rate, yet the block is already over a 1,000-token limit."""
    code, out, _ = run(capsys, "blocks", "--active", "--token-limit", "1000")
    assert code == 0
    assert "token limit 1,000: 112.0% used, 1,120 tokens projected (exceeds)" in " ".join(out.split())


@pytest.mark.usefixtures("logs")
def test_blocks_table_shows_times_in_the_configured_zone(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocks are laid out in UTC (as Claude's windows are), but a person reads them in their zone:
    the table said "(UTC)" to someone in Tokyo, nine hours off their clock."""
    monkeypatch.setenv("COST_MCP_TIMEZONE", "Asia/Tokyo")
    code, out, _ = run(capsys, "blocks", "--active")
    assert code == 0
    start = (datetime.now(UTC) - timedelta(minutes=1)).replace(minute=0, second=0, microsecond=0)
    local = start.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%Y-%m-%d %H:%M")
    flat = " ".join(out.split())
    assert "block start" in flat and "(Asia/Tokyo)" in flat and f"{local} active" in flat
    code, out, _ = run(capsys, "blocks", "--json")
    assert json.loads(out)["active"]["start"] == start.strftime("%Y-%m-%dT%H:%M:%S.000Z")  # JSON stays UTC


@pytest.mark.usefixtures("home")
def test_blocks_rejects_a_bad_limit(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "blocks", "--token-limit", "lots")
    assert code == 2 and "--token-limit" in err


@pytest.mark.usefixtures("logs")
def test_report_shows_token_columns_and_the_chart_only_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "report", "--group-by", "model")
    assert code == 0
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:3] == ["model", "basis", "input"])
    assert lines[header].split()[3:6] == ["output", "read", "write"]
    assert lines[header - 1].split() == ["cache", "cache"]  # the two-word headers on two lines
    assert "█" not in out
    code, out, _ = run(capsys, "report", "--chart")
    assert code == 0 and "█" in out
    code, out, _ = run(capsys, "report", "--group-by", "day")
    assert code == 0 and "█" in out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_an_active_block_with_unpriced_calls_projects_no_dollar_rate(
    logs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The block's rate would be of its priced calls only: the projection leaves the rate out (as
    the status line does) and marks the projected cost as missing the unpriced calls."""
    earlier = (datetime.now(UTC) - timedelta(minutes=31)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    write(session_file(logs / "claude", "s0"), assistant("msg_0", "req_0", earlier, input=1000, output=100))
    code, out, _ = run(capsys, "blocks", "--active")
    assert code == 0
    projection = next(line for line in out.splitlines() if line.startswith("active block:"))
    assert "+ unpriced by" in projection and "/h" not in projection


def test_a_block_starting_in_the_hour_the_clock_repeats_says_which(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The QA case (h-qatime F4): New York's clock went from 01:59 EDT back to 01:00 EST on
    2026-11-01; a block starting at 06:00Z was listed at "2026-11-01 01:00", as one starting an hour
    earlier would have been."""
    import time_machine

    monkeypatch.setenv("COST_MCP_TIMEZONE", "America/New_York")
    write(
        session_file(home / "claude", "s1"),
        assistant("m1", "r1", "2026-10-31T05:10:00.000Z"),  # 01:10 EDT, an hour that happens once
        assistant("m2", "r2", "2026-11-01T06:10:00.000Z"),  # 01:10 EST, the second 01:10 of the day
    )
    with time_machine.travel(datetime(2026, 11, 2, 12, tzinfo=UTC), tick=False):
        code, out, _ = run(capsys, "blocks", "--days", "5")
    assert code == 0
    starts = [line.split()[:3] for line in out.splitlines() if line.strip().startswith("2026-")]
    assert starts == [["2026-10-31", "01:00", "4"], ["2026-11-01", "01:00", "EST"]]  # 4: input tokens


@pytest.mark.parametrize(
    ("call", "now", "end"),
    [
        ("2026-11-01T00:10:00.000Z", "2026-11-01T01:00:00Z", "01:00 EDT"),  # ends 05:00Z, the first 01:00
        ("2026-11-01T01:10:00.000Z", "2026-11-01T02:00:00Z", "01:00 EST"),  # ends 06:00Z, the second
        ("2026-11-01T02:10:00.000Z", "2026-11-01T03:00:00Z", "02:00"),  # ends 07:00Z, once
    ],
)
def test_an_active_block_ending_in_the_hour_the_clock_repeats_says_which(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    call: str,
    now: str,
    end: str,
) -> None:
    """`blocks --active` said "projected ... by 01:00 America/New_York" on the night New York's
    clock goes back, when 01:00 comes twice an hour apart; the block's end now names its zone's
    abbreviation in that hour, as the blocks' table does (the test above)."""
    import time_machine

    monkeypatch.setenv("COST_MCP_TIMEZONE", "America/New_York")
    later = call.replace(":10:00", ":40:00")  # two calls: a rate to project from
    write(
        session_file(home / "claude", "s1"),
        assistant("m1", "r1", call, input=1000, output=100),
        assistant("m2", "r2", later, input=1000, output=100),
    )
    with time_machine.travel(datetime.fromisoformat(now), tick=False):
        code, out, _ = run(capsys, "blocks", "--active")
    assert code == 0
    flat = " ".join(out.split())  # the sentence may wrap at the terminal's width
    assert re.findall(r"active block: .*? by (\d\d:\d\d(?: [A-Z]+)?) America/New_York", flat) == [end], flat


def test_budget_status_names_the_timezone_its_periods_are_in(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # "month from 2026-03-01" began at 18:30Z on Feb 28 in Kolkata, at 08:00Z on Mar 1 in Los Angeles.
    monkeypatch.setenv("COST_MCP_TIMEZONE", "Asia/Kolkata")
    assert main(["budget", "set", "monthly", "100", "--period", "month"]) == 0
    code, out, _ = run(capsys, "budget", "status")
    assert code == 0
    assert "periods: calendar days, weeks and months in Asia/Kolkata" in " ".join(out.split())


@pytest.mark.usefixtures("clock")
def test_blocks_token_limit_max_is_the_heaviest_block_of_a_month_not_of_the_days_shown(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`blocks --active --token-limit max` took the largest block of the 3 days shown: a small one of
    yesterday became the limit, and a usual block read as far past it ("exceeds")."""
    now = datetime.now(UTC)

    def ago(delta: timedelta) -> str:
        return (now - delta).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    write(
        session_file(home / "claude", "s1"),
        assistant("msg_big", "req_big", ago(timedelta(days=20)), input=90_000, output=10_000),
        assistant("msg_small", "req_small", ago(timedelta(days=1)), input=900, output=100),
        assistant("msg_now", "req_now", ago(timedelta(minutes=1)), input=4_000, output=1_000),
    )
    code, out, _ = run(capsys, "blocks", "--token-limit", "max", "--json")
    result = json.loads(out)
    assert code == 0 and result["token_limit"] == 100_000
    assert result["active"]["token_limit_status"]["status"] == "ok"
    # The blocks listed are still those of the days asked for: the old heavy one only sets the limit.
    assert [b["tokens"]["total_tokens"] for b in result["blocks"] if not b["is_gap"]] == [1_000, 5_000]
    code, out, _ = run(capsys, "blocks", "--active", "--token-limit", "max")
    assert code == 0 and "token limit 100,000: 5.0% used" in " ".join(out.split())


@pytest.mark.usefixtures("clock")
def test_report_of_an_empty_period_says_when_the_calls_recorded_are(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """ccusage shows the whole history; `cost-mcp report` this month. A user whose calls were all
    before it read "$0.00" and nothing else, as if no log had been read."""
    first = datetime.now(UTC) - timedelta(days=70)
    last = datetime.now(UTC) - timedelta(days=40)
    write(
        session_file(home / "claude", "s1"),
        assistant("msg_1", "req_1", first.strftime("%Y-%m-%dT%H:%M:%S.000Z"), input=1000, output=100),
        assistant("msg_2", "req_2", last.strftime("%Y-%m-%dT%H:%M:%S.000Z"), input=1000, output=100),
    )
    span = f"{first.date().isoformat()}..{last.date().isoformat()}"
    code, out, _ = run(capsys, "report")
    assert code == 0 and "$0.00" in out
    said = " ".join(out.split())
    assert f"the ledger holds calls from {first.date().isoformat()} to {last.date().isoformat()}" in said
    assert f"such as {span}" in said
    # The period it names is one `--period` takes, and it holds them.
    code, out, _ = run(capsys, "report", "--period", span, "--json")
    result = json.loads(out)
    assert code == 0 and result["total_usd"] > 0
    assert not any("no calls are recorded" in w for w in result["warnings"])


def test_a_budget_short_of_its_limit_never_reads_100_percent(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The QA case (h-qacents): $99.96 spent of a $100 budget read "100.0%" in `budget status`
    (beside "$0.04 left"), in its JSON, in the 80% alert ("$99.96 spent (100.0%)") and "100%" on
    the status line, though the limit is reached, the budget exceeded and the 100% alert fired only
    at spent >= limit. A percent is now rounded down: it reads 100 only once the limit is reached."""
    monkeypatch.setenv("NO_COLOR", "1")
    assert run(capsys, "budget", "set", "monthly", "100", "--period", "month")[0] == 0
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    day_ms = int(today.timestamp() * 1000)
    db = load_settings().db

    def status_line() -> str:
        stdin = json.dumps(
            {"session_id": "x", "workspace": {"current_dir": str(home)}, "model": {"id": SONNET}}
        )
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code, out, _ = run(capsys, "statusline", "--fields", "budget")
        assert code == 0
        return out.strip()

    _billed_projects(db, {"app": 99_960_000_000}, day_ms)
    code, out, _ = run(capsys, "budget", "status", "--json")
    assert code == 0
    answer = json.loads(out)
    state = answer["budgets"][0]
    assert Decimal(str(state["spent_usd"])) < 100 and state["status"] != "exceeded"
    assert state["percent"] < 100
    assert answer["alerts"] and all("(100.0%)" not in a for a in answer["alerts"])
    code, out, _ = run(capsys, "budget", "status")
    assert code == 0 and re.search(rf"\$0\.04 +{state['percent']} ", out) and not re.search(r" 100\.0 ", out)
    assert status_line().startswith("monthly ") and "100%" not in status_line()

    # At exactly the limit: 100%, exceeded, and the 100% alert fires (spent >= limit, as documented).
    _billed_projects(db, {"app": 100_000_000_000}, day_ms)
    code, out, _ = run(capsys, "budget", "status", "--json")
    answer = json.loads(out)
    state = answer["budgets"][0]
    assert state["percent"] == 100.0 and state["status"] == "exceeded"
    assert any("passed 100% of $100.00" in a and "(100.0%)" in a for a in answer["alerts"])
    assert status_line() == "monthly 100% of $100.00"


@pytest.mark.usefixtures("clock")
def test_session_and_breakdown_say_when_rounded_parts_miss_their_total(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two models at $0.015 each (Sonnet 4.5: 1,000 output tokens at $15/M; Haiku 4.5: 3,000 at
    $5/M) showed $0.02 and $0.02 under a session of $0.03, and as sub-rows under a project row of
    $0.03, with nothing saying why; each view now says the parts are rounded on their own."""
    now = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    write(
        session_file(home / "claude", "s-round"),
        assistant("m1", "r1", now, session="s-round", input=0, output=1000),
        assistant(
            "m2", "r2", now, session="s-round", model="claude-haiku-4-5-20251001", input=0, output=3000
        ),
    )
    code, out, _ = run(capsys, "session", "s-round")
    assert code == 0
    header = out.splitlines()[0]
    shown_total = header.split(": ")[1].split(",")[0]
    parts = [Decimal(m) for m in re.findall(r"\$(\d+\.\d+)\s*$", out, re.MULTILINE)]
    assert len(parts) == 2 and format_usd(sum(parts, Decimal(0))) != shown_total
    assert (
        f"as shown they add up to {format_usd(sum(parts, Decimal(0)))}; {shown_total} is their exact sum"
        in (" ".join(out.split()))
    )

    code, out, _ = run(capsys, "report", "--group-by", "project", "--breakdown", "model")
    assert code == 0
    flat = " ".join(out.split())
    assert "some sub-rows, each rounded on its own, add up to a cent or so more or less than the row" in flat
    code, out, _ = run(capsys, "report", "--group-by", "project", "--breakdown", "project")
    assert code == 0 and "sub-rows" not in out  # no sub-rows, nothing to say


@pytest.mark.usefixtures("clock")
def test_compare_says_when_a_change_differs_from_the_difference_as_shown(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before $0.015 (1,000 Sonnet 4.5 output tokens at $15/M) and after $0.045 (3,000) read $0.02
    and $0.04 beside a change of $0.03: each is rounded on its own (half-even), and now a line says
    so rather than leave a reader to find the sum wrong."""

    def month_ago(months: int) -> str:
        day = datetime.now(UTC).replace(day=15) - timedelta(days=31 * months)
        return day.strftime("%Y-%m-%dT12:00:00.000Z")

    before_month, after_month = month_ago(2)[:7], month_ago(1)[:7]
    write(
        session_file(home / "claude", "s-cmp"),
        assistant("m1", "r1", month_ago(2), session="s-cmp", input=0, output=1000),
        assistant("m2", "r2", month_ago(1), session="s-cmp", input=0, output=3000),
    )
    code, out, _ = run(capsys, "compare", "--before", before_month, "--after", after_month)
    assert code == 0
    flat = " ".join(out.split())
    shown = re.search(r"calls at list price \$(\d+\.\d+) \$(\d+\.\d+)", flat)
    change = re.search(r"change: \$(\d+\.\d+)", flat)
    assert shown and change
    assert Decimal(shown[2]) - Decimal(shown[1]) != Decimal(change[1])  # the case
    assert "before and after are each rounded on their own, so a change may differ by a cent" in flat

    # A change that is the difference as shown: nothing to say.
    write(
        session_file(home / "claude", "s-cmp"),
        assistant("m3", "r3", month_ago(1), session="s-cmp", input=0, output=1000),
        append=True,
    )
    code, out, _ = run(capsys, "compare", "--before", before_month, "--after", after_month)
    assert code == 0 and "before and after are each rounded" not in out  # $0.06 - $0.02 is $0.04


@pytest.mark.parametrize(("spent_nanos", "left"), [(5_005_000_000, "$5.01"), (15_005_000_000, "-$4.99")])
def test_a_budgets_spent_and_left_add_up_to_its_limit_as_shown(
    home: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    spent_nanos: int,
    left: str,
) -> None:
    """$5.005 spent of a $10.01 budget read "$5.00 spent, $5.00 left" (each rounded half-even on
    its own), a cent short of the limit beside them. Left is now the shown limit less the shown
    spent, as near the exact amount as a cent allows; the JSON keeps the exact amount."""
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "120")
    assert run(capsys, "budget", "set", "monthly", "10.01", "--period", "month")[0] == 0
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    _billed_projects(load_settings().db, {"app": spent_nanos}, int(today.timestamp() * 1000))
    code, out, _ = run(capsys, "budget", "status", "--json")
    [state] = json.loads(out)["budgets"]
    spent = Decimal(spent_nanos).scaleb(-9)
    assert code == 0 and Decimal(str(state["remaining_usd"])) == Decimal("10.01") - spent
    code, out, _ = run(capsys, "budget", "status")
    row = next(line for line in out.splitlines() if line.startswith("monthly"))
    assert code == 0 and re.search(rf"\$10\.01 +{re.escape(format_usd(spent))} +{re.escape(left)} ", row), row
    shown = [Decimal(a.replace("$", "")) for a in row.split()[4:7]]
    assert shown[0] - shown[1] == shown[2]  # limit - spent = left, as the reader sees them


def test_report_keeps_only_the_agents_providers_models_or_projects_asked_for(
    logs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Codex user's `ccusage codex daily` had no cost-mcp equivalent: `report` took no filter, so
    Codex's spend came only as one row among every agent's (h-qaother). `--agent` (and
    `--provider`, `--model`, `--project`) keep only that spend, as get_spend's filters do; a name
    that matches nothing says so rather than reading as $0 spent."""
    import shutil

    shutil.copytree(Path(__file__).parent / "fixtures" / "agents" / "codex", logs / "codex")
    span = ("--start", "2026-11-01", "--end", datetime.now(UTC).date().isoformat())

    def report(*argv: str) -> dict[str, Any]:
        code, out, err = run(capsys, "report", *span, "--json", *argv)
        assert code == 0, err
        result: dict[str, Any] = json.loads(out)
        return result

    by_agent = {r["group"]["agent"]: r for r in report("--group-by", "agent")["rows"]}
    assert {"codex", "claude-code"} <= set(by_agent)
    codex = report("--agent", "codex", "--group-by", "day")
    assert Decimal(str(codex["total_usd"])) == Decimal(str(by_agent["codex"]["cost_usd"])) > 0
    assert sum(r["requests"] for r in codex["rows"]) == by_agent["codex"]["requests"]
    both = report("--agent", "codex", "--agent", "claude-code")
    assert both["total_usd"] == report()["total_usd"]
    first = report("--agent", "codex", "--group-by", "model")["rows"][0]
    model = first["group"]["model"]
    assert report("--agent", "codex", "--model", model)["total_usd"] == first["cost_usd"]
    typo = report("--agent", "Codex")
    assert any("'Codex'" in w and "codex" in w for w in typo["warnings"]), typo["warnings"]


@pytest.mark.usefixtures("logs")
def test_budget_status_marks_a_budget_whose_bill_is_missing_on_its_row(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README walk: with OpenAI's bill never synced (offline), an OpenAI budget's row read
    "$0.00 ... ok" as if nothing were spent, the PARTIAL line under the table the only sign. Its
    row now says its figures are bounds; a budget of local calls only, which lacks nothing, not."""
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-" + "a" * 40)
    monkeypatch.setenv("COST_MCP_OPENAI_BASE_URL", CLOSED_PORT)
    monkeypatch.setenv("COLUMNS", "120")
    assert run(capsys, "budget", "set", "openai", "100", "--provider", "openai")[0] == 0
    assert run(capsys, "budget", "set", "local", "100", "--agent", "claude-code")[0] == 0
    code, out, _ = run(capsys, "budget", "status")
    assert code == 0
    rows = {
        line.split()[0]: line.split() for line in out.splitlines() if line.startswith(("openai ", "local "))
    }
    assert rows["openai"][4:9] == ["$100.00", "≥$0.00", "≤$100.00", "≥0.0", "≥$0.00"]
    # Its unpriced call marks its percent and what is left, not its spent (said "+ unpriced").
    assert not rows["local"][5].startswith("≥") and rows["local"][6:8] == ["+", "unpriced"]
    assert "≥ at least, ≤ at most: a provider's bill the budget counts is missing (PARTIAL below)" in out
    assert "PARTIAL: openai: never synced" in " ".join(out.split())
    shown = json.loads(run(capsys, "budget", "status", "--json")[1])
    assert {b["budget"]["name"]: b["complete"] for b in shown["budgets"]} == {"openai": False, "local": True}


@pytest.mark.usefixtures("logs")
def test_report_total_is_a_lower_bound_when_a_providers_bill_is_missing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With OpenAI's bill never synced, `report --provider openai` read "this_month ...: $0.00" as
    if nothing were spent, the PARTIAL note the only sign; its total now says at least, as budget
    status's rows do. A report that lacks nothing keeps its plain total."""
    code, out, _ = run(capsys, "report")
    assert code == 0 and out.splitlines()[0].endswith("): $0.0045 + unpriced"), out
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-" + "a" * 40)
    monkeypatch.setenv("COST_MCP_OPENAI_BASE_URL", CLOSED_PORT)
    code, out, _ = run(capsys, "report", "--provider", "openai")
    assert code == 0 and out.splitlines()[0].endswith("): ≥$0.00"), out
    assert "PARTIAL: openai: never synced" in " ".join(out.split())
    code, out, _ = run(capsys, "report")
    assert code == 0 and out.splitlines()[0].endswith("): ≥$0.0045 + unpriced"), out


@pytest.mark.usefixtures("logs")
def test_forecast_amounts_are_lower_bounds_when_a_providers_bill_is_missing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With OpenAI's bill never synced, `forecast` read "$0.0045 + unpriced spent ...; $0.0045 +
    unpriced projected" as sure figures under a PARTIAL note; both now say at least, as report's total
    does (money.bounded). A forecast that lacks nothing keeps its plain figures."""
    code, out, _ = run(capsys, "forecast")
    first = " ".join(out.split("\nburn rate")[0].split())
    assert (
        code == 0 and ": $0.0045 + unpriced spent in " in first and "; $0.0045 + unpriced projected" in first
    )
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-" + "a" * 40)
    monkeypatch.setenv("COST_MCP_OPENAI_BASE_URL", CLOSED_PORT)
    code, out, _ = run(capsys, "forecast")
    first = " ".join(out.split("\nburn rate")[0].split())
    assert code == 0 and ": ≥$0.0045 + unpriced spent in " in first, out
    assert "; ≥$0.0045 + unpriced projected at the last 7 days' rate" in first, out
    assert "PARTIAL: openai: never synced" in " ".join(out.split())
    # The burn rates, of the same partial amounts, read as sure figures under them (h-label2).
    rate = next(line for line in out.splitlines() if line.startswith("burn rate: "))
    assert rate.startswith("burn rate: ≥$") and "/day over the period, ≥$" in rate, rate


@pytest.mark.anyio
@pytest.mark.usefixtures("logs")
async def test_summary_totals_are_lower_bounds_when_a_providers_bill_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The cost://summary resource read "today: $0.0045 + unpriced", and so of the week and the month,
    with OpenAI's bill never synced and a PARTIAL note at its foot the only sign; its budget lines
    said at least already (h-tidy9), its totals now do too."""
    from cost_mcp.server import mcp

    async def summary() -> list[str]:
        async with Client(mcp, raise_exceptions=True) as client:
            read = await client.read_resource("cost://summary")
        return str(getattr(read.contents[0], "text", "")).splitlines()

    def totals(lines: list[str]) -> list[str]:
        # "today: 2026-12-07: $0.0045 + unpriced (estimated $0.0045 + unpriced)": the total.
        return [line.split(" (")[0].rsplit(": ", 1)[1] for line in lines[:3]]

    plain = await summary()
    assert totals(plain) == ["$0.0045 + unpriced"] * 3, plain
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-" + "a" * 40)
    monkeypatch.setenv("COST_MCP_OPENAI_BASE_URL", CLOSED_PORT)
    lines = await summary()
    assert totals(lines) == ["≥$0.0045 + unpriced"] * 3, lines
    assert any(line.startswith("note: PARTIAL: openai: never synced") for line in lines), lines


ANTHROPIC_OFFLINE = {
    "ANTHROPIC_ADMIN_KEY": "sk-ant-admin01-" + "a" * 40,
    "COST_MCP_ANTHROPIC_BASE_URL": CLOSED_PORT,
}
"""Anthropic's key set, its API offline: its bill is never synced (PARTIAL: anthropic: never synced)."""
OPENAI_OFFLINE = {"OPENAI_ADMIN_KEY": "sk-admin-" + "a" * 40, "COST_MCP_OPENAI_BASE_URL": CLOSED_PORT}


def _table(out: str, first: str) -> dict[str, str]:
    """The report table's rows whose first cell starts ``first``, by that cell: their cost cell
    (after the four token counts), one line each (COLUMNS is wide)."""
    rows = {}
    for line in out.splitlines():
        cells = line.split()
        if len(cells) > 7 and cells[0].startswith(first) and cells[1] in ("billed", "estimated"):
            # day/provider, basis, 4 token counts, then the cost up to the requests count.
            rows[cells[0]] = " ".join(cells[6:-1])
    return rows


@pytest.mark.usefixtures("logs")
def test_report_rows_a_missing_bill_may_be_in_read_as_lower_bounds(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With Anthropic's key set and its bill never synced, `report --group-by day` said "≥$0.0045 +
    unpriced" in its total (h-tidy9), yet today's row and bar read "$0.0045 + unpriced" and the
    days before "$0.00", sure figures of days whose bill is missing; `--csv` had nothing to tell
    such a row by. They are now at least, and the CSV's new last column, complete, says false. Only
    the rows the gap may be in: with OpenAI's bill missing instead, the Anthropic row stays plain
    (and complete true) under a total that is at least."""
    monkeypatch.setenv("COLUMNS", "160")
    today = datetime.now(UTC).date()
    for name, value in ANTHROPIC_OFFLINE.items():
        monkeypatch.setenv(name, value)
    code, out, _ = run(capsys, "report", "--group-by", "day")
    assert code == 0 and "PARTIAL: anthropic: never synced" in " ".join(out.split()), out
    assert _table(out, today.isoformat()) == {today.isoformat(): "≥$0.0045 + unpriced"}, out
    bars = [line for line in out.splitlines() if re.match(r"\d{4}-\d{2}-\d{2} [█ ]", line)]
    assert bars and all(" ≥$" in line for line in bars), bars
    code, out, _ = run(capsys, "report", "--group-by", "provider")
    assert _table(out, "anthropic") == {"anthropic": "≥$0.0045 + unpriced"}, out
    code, out, _ = run(capsys, "report", "--csv", "--group-by", "provider")
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0][-1] == "complete" and [r[-1] for r in rows[1:]] == ["false"], rows

    for name in ANTHROPIC_OFFLINE:
        monkeypatch.delenv(name)
    for name, value in OPENAI_OFFLINE.items():
        monkeypatch.setenv(name, value)
    code, out, _ = run(capsys, "report", "--group-by", "provider")
    assert code == 0 and out.splitlines()[0].endswith("): ≥$0.0045 + unpriced"), out
    assert _table(out, "anthropic") == {"anthropic": "$0.0045 + unpriced"}, out
    code, out, _ = run(capsys, "report", "--csv", "--group-by", "provider")
    assert [r[-1] for r in list(csv.reader(io.StringIO(out)))[1:]] == ["true"], out
    shown = json.loads(run(capsys, "report", "--json", "--group-by", "provider")[1])
    assert shown["complete"] is False and [r["complete"] for r in shown["rows"]] == [True], shown


@pytest.mark.anyio
@pytest.mark.usefixtures("logs")
async def test_summary_rows_a_missing_bill_may_be_in_read_as_lower_bounds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """cost://summary marked its totals when a bill was missing (79dda87), yet not their parts nor
    the month's models: with Anthropic's bill never synced "today: ≥$0.0045 + unpriced (estimated
    $0.0045 + unpriced)" and "claude-sonnet-4-5: $0.0045 (100.0%)" read as sure. Each part the gap
    may be in is now at least; with OpenAI's bill missing instead, the Anthropic model stays plain."""
    from cost_mcp.server import mcp

    async def summary() -> list[str]:
        async with Client(mcp, raise_exceptions=True) as client:
            read = await client.read_resource("cost://summary")
        return str(getattr(read.contents[0], "text", "")).splitlines()

    for name, value in ANTHROPIC_OFFLINE.items():
        monkeypatch.setenv(name, value)
    lines = await summary()
    assert all(
        line.endswith(": ≥$0.0045 + unpriced (estimated ≥$0.0045 + unpriced)") for line in lines[:3]
    ), lines
    sonnet = next(line for line in lines if line.startswith(f"  {SONNET}"))
    assert sonnet.startswith(f"  {SONNET}: ≥$0.0045 ("), lines

    for name in ANTHROPIC_OFFLINE:
        monkeypatch.delenv(name)
    for name, value in OPENAI_OFFLINE.items():
        monkeypatch.setenv(name, value)
    lines = await summary()
    assert lines[0].endswith(": ≥$0.0045 + unpriced (estimated ≥$0.0045 + unpriced)"), lines
    sonnet = next(line for line in lines if line.startswith(f"  {SONNET}"))
    assert sonnet.startswith(f"  {SONNET}: $0.0045 ("), lines
