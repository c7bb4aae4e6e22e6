"""The click CLI in-process: report --breakdown, sync's progress display, greedy --group-by, usage errors."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from cost_mcp.cli import EXIT_USAGE, main
from cost_mcp.cli import data as data_commands
from tests.sources.claude_logs import SONNET, assistant, session_file, write

HAIKU = "claude-haiku-4-5-20251001"
CLOSED_PORT = "http://127.0.0.1:9"


@pytest.fixture
def two_models(home: Path, clock: None) -> Path:
    """Two sessions this month: Sonnet in both, Haiku in one."""
    # A minute ago at noon (the clock fixture): today's, this week's and this month's, whenever the
    # suite runs (a NOW taken at import was last month's for a test run just after midnight on the 1st).
    now = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    write(
        session_file(home / "claude", "s1"),
        assistant("m1", "r1", now, session="s1", input=1000, output=100),
        assistant("m2", "r2", now, session="s1", model=HAIKU, input=2000, output=200),
    )
    write(
        session_file(home / "claude", "s2"),
        assistant("m3", "r3", now, session="s2", model=SONNET, input=3000, output=300),
    )
    return home


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _money(cell: str) -> Decimal:
    return Decimal(cell.replace("$", "").replace(",", ""))


def _table(out: str) -> list[list[str]]:
    return [line.split() for line in out.splitlines() if line.strip()]


def _is_sub(cells: list[str]) -> bool:
    return cells[0].startswith("└─")


@pytest.mark.usefixtures("two_models")
def test_report_breakdown_puts_a_row_per_model_under_each_row(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run(capsys, "report", "--breakdown")
    assert code == 0, out
    assert max(len(line) for line in out.splitlines()) <= 80  # long model ids fold
    monkeypatch.setenv("COLUMNS", "200")  # one line per row, to read the cells back
    code, out, _ = run(capsys, "report", "--breakdown")
    rows = _table(out)
    parent = next(i for i, cells in enumerate(rows) if cells[0] == "anthropic")
    subs = [cells for cells in rows[parent + 1 :] if _is_sub(cells)]
    assert [s[0] for s in subs] == [f"└─{SONNET}", f"└─{HAIKU}"]  # costliest first
    # Each count of the row is the sum of its sub-rows' (tokens, requests; the cost, shown rounded,
    # is checked exactly in the JSON below).
    assert rows[parent][1] == "estimated"
    for column in (-6, -5, -4, -3, -1):
        total = sum(_money(s[column]) for s in subs)
        assert total == _money(rows[parent][column]), column

    # Machine output gives the finer rows, from the same function, summing to the same total.
    code, fine_json, _ = run(capsys, "report", "--breakdown", "--json")
    code2, coarse_json, _ = run(capsys, "report", "--json")
    fine, coarse = json.loads(fine_json), json.loads(coarse_json)
    assert code == code2 == 0
    assert fine["group_by"] == ["provider", "basis", "model"]
    assert fine["complete"] is True and fine["warnings"] == coarse["warnings"]  # labelled alike
    assert {r["group"]["model"] for r in fine["rows"]} == {SONNET, HAIKU}
    assert fine["total_usd"] == coarse["total_usd"] > 0
    parts = sum(Decimal(str(r["cost_usd"])) for r in fine["rows"])
    assert Decimal(str(coarse["rows"][0]["cost_usd"])) == parts
    code, csv_out, _ = run(capsys, "report", "--breakdown", "session", "--csv")
    assert code == 0 and csv_out.splitlines()[0].startswith("provider,session,basis,cost_usd")
    assert {line.split(",")[1] for line in csv_out.splitlines()[1:]} == {"s1", "s2"}


@pytest.mark.usefixtures("two_models")
def test_report_breakdown_by_session_under_each_model(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = run(capsys, "report", "--group-by", "model", "--breakdown", "session")
    assert code == 0
    rows = _table(out)
    sonnet = next(i for i, cells in enumerate(rows) if cells[0] == SONNET)
    under = []
    for cells in rows[sonnet + 1 :]:
        if not _is_sub(cells):
            break
        under.append(cells[0])
    assert under == ["└─s2", "└─s1"]  # s2 cost more
    haiku = next(i for i, cells in enumerate(rows) if cells[0] == HAIKU)
    assert rows[haiku + 1][0] == "└─s1"


@pytest.mark.usefixtures("home")
def test_report_breakdown_refuses_an_unknown_dimension(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "report", "--breakdown", "colour")
    assert code == EXIT_USAGE and "colour" in err and "model" in err


@pytest.mark.usefixtures("two_models")
def test_group_by_takes_several_values_and_says_when_given_none(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "report", "--group-by", "model", "session", "--json")
    assert code == 0 and json.loads(out)["group_by"] == ["model", "session"]
    code, out, _ = run(capsys, "report", "--group-by", "model", "--group-by", "session", "--json")
    assert code == 0 and json.loads(out)["group_by"] == ["model", "session"]
    code, out, _ = run(capsys, "report", "--group-by=model", "session", "--json")
    assert code == 0 and json.loads(out)["group_by"] == ["model", "session"]
    # As a list with commas (the MCP tool's group_by is a list): it said "cannot group by 'model,session'".
    for args in (
        ["--group-by", "model,session"],
        ["--group-by=model,", "session"],
        ["--group-by", "model, session"],
    ):
        code, out, err = run(capsys, "report", *args, "--json")
        assert code == 0 and json.loads(out)["group_by"] == ["model", "session"], err
    code, out, _ = run(capsys, "report", "--breakdown", "--group-by", "day", "--json")
    assert code == 0 and json.loads(out)["group_by"] == ["day", "model"]  # --breakdown alone: by model
    code, _, err = run(capsys, "report", "--json", "--group-by")
    assert code == EXIT_USAGE and "--group-by" in err
    code, _, err = run(capsys, "report", "--json", "--csv")
    assert code == EXIT_USAGE and "not both" in err


def test_unknown_command_and_option_exit_2_with_the_usage(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "reprot")
    assert code == EXIT_USAGE and "No such command 'reprot'" in err
    code, _, err = run(capsys, "report", "--perod", "today")
    assert code == EXIT_USAGE and "--period" in err  # click suggests the option meant
    code, out, _ = run(capsys, "budget", "--help")
    assert code == 0 and "delete" in out and "status" in out


class _Recorder:
    """Stands for the terminal display: what sync told it, in order."""

    def __init__(self) -> None:
        self.heard: list[tuple[str, ...]] = []

    def planned(self, sources: Any) -> None:
        self.heard.append(("planned", *sources))

    def fetched(self, source: str, error: str | None, seconds: float) -> None:
        self.heard.append(("fetched", source, "failed" if error else "ok"))


def test_sync_tells_the_display_each_source_and_its_state(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-abcdefghijklmnopqrstuvwxyz012345")
    monkeypatch.setenv("COST_MCP_OPENAI_BASE_URL", CLOSED_PORT)
    recorder = _Recorder()
    monkeypatch.setattr(data_commands, "_sync_progress", lambda wanted: _yield(recorder if wanted else None))
    code, out, _ = run(capsys, "sync")
    assert code == 1
    assert recorder.heard[0] == ("planned", "openai")
    assert recorder.heard[1:] == [("fetched", "openai", "failed")]
    # Off the display, one line per source with its state, then why it failed, once.
    assert re.search(r"^\s*openai\s+failed", out, re.M)
    assert re.search(r"^note: openai: sync failed \(cannot reach", out, re.M)
    assert out.count("cannot reach") == 1
    recorder.heard.clear()
    assert run(capsys, "sync", "--json")[0] == 1
    assert recorder.heard == []  # --json: no display


def test_sync_display_draws_a_line_per_source_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from io import StringIO

    screen = StringIO()
    terminal = Console(file=screen, force_terminal=True, width=80, stderr=True)
    monkeypatch.setattr(data_commands, "Console", lambda **_: terminal)
    with data_commands._sync_progress(True) as display:
        assert display is not None
        display.planned(["openai", "anthropic"])
        display.fetched("openai", "connection refused", 0.4)
        display.fetched("anthropic", None, 1.2)
    drawn = screen.getvalue()
    assert "openai" in drawn and "anthropic" in drawn and "failed" in drawn and "ok" in drawn
    monkeypatch.setattr(data_commands, "Console", lambda **_: Console(file=StringIO(), force_terminal=False))
    with data_commands._sync_progress(True) as display:
        assert display is None  # not a terminal: the table after the sync says it all


def _yield(value: Any) -> Any:
    from contextlib import nullcontext

    return nullcontext(value)


@pytest.mark.usefixtures("home")
def test_ctrl_c_exits_130_without_a_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from cost_mcp.analytics import estimate

    def interrupted(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(estimate, "estimate_cost", interrupted)
    code, out, err = run(capsys, "estimate", "claude-sonnet-4-5", "--input", "10")
    assert code == 130 and out == ""
    assert "aborted" in err and "Traceback" not in err


def test_every_command_is_in_the_lazy_map_under_its_own_module() -> None:
    from cost_mcp.cli import app, cli, load_all

    load_all()
    assert sorted(cli.commands) == sorted(app.COMMAND_MODULES)
    for name, command in cli.commands.items():
        assert command.callback is not None
        assert command.callback.__module__ == f"cost_mcp.cli.{app.COMMAND_MODULES[name]}", name


def test_every_commands_summary_in_its_groups_help_is_whole() -> None:
    """click ends a command's summary in its group's --help at the first ". ": `budget --help`
    listed "set  Create or replace a budget (AMOUNT in US dollars, e.g." (a cut sentence)."""
    import click

    from cost_mcp.cli import cli, load_all

    load_all()
    groups = [cli, *(c for c in cli.commands.values() if isinstance(c, click.Group))]
    for group in groups:
        for name, command in group.commands.items():
            summary = command.get_short_help_str(limit=200)  # its first sentence, whatever the width
            if summary.endswith("..."):  # cut for its length, and says so
                continue
            assert summary.endswith("."), f"{group.name} {name}: {summary!r}"
            assert summary.count("(") == summary.count(")"), f"{group.name} {name}: {summary!r}"


@pytest.mark.usefixtures("home")
@pytest.mark.sqlite_only  # an argument refused before the ledger is read
def test_compare_refuses_a_dimension_as_a_comparison(capsys: pytest.CaptureFixture[str]) -> None:
    """`compare --group-by day` said "cannot group savings by 'day'": compare shares savings' check."""
    assert main(["compare", "--group-by", "day"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "cannot group a comparison by 'day'; use any of: provider, model, agent" in err


@pytest.mark.parametrize(
    ("server", "says"),
    [
        ("not-a-url", "--server 'not-a-url' is not a server's URL: give its scheme and host"),
        ("cost.example.com", "--server 'cost.example.com' is not a server's URL"),
        ("http://127.0.0.1:port", "is not a server's URL"),
        (
            "https://ana:s3cret@cost.example.com",
            "give the server's address alone, e.g. https://cost.example.com ",
        ),
        ("https://cost.example.com:8443/?token=s3cret", "alone, e.g. https://cost.example.com:8443 "),
    ],
)
def test_otel_config_refuses_a_server_that_is_no_url(
    capsys: pytest.CaptureFixture[str], server: str, says: str
) -> None:
    """`otel-config --server not-a-url` printed settings pointing every agent at "not-a-url" (they
    drop what they cannot send, silently), exit 0. A secret in the URL is never echoed."""
    assert main(["otel-config", "--server", server]) == EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.out == "" and says in captured.err and "s3cret" not in captured.err


@pytest.mark.usefixtures("home")
@pytest.mark.sqlite_only  # about the settings printed; the ledger is not read
def test_otel_config_for_the_team_server_through_a_tunnel_sends_the_token(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A laptop reaching its team server through an SSH tunnel on 127.0.0.1 got settings with no
    bearer token and no warning: the team server refused every event (401), and agents drop them
    unseen. The team server's address on loopback now gets the token, as any team server does."""
    monkeypatch.setenv("COST_MCP_TEAM_SERVER", "http://127.0.0.1:14318")
    monkeypatch.delenv("COST_MCP_TEAM_TOKEN", raising=False)
    assert main(["otel-config", "--server", "http://127.0.0.1:14318/"]) == 0
    captured = capsys.readouterr()
    assert "Authorization=Bearer $COST_MCP_TEAM_TOKEN" in captured.out
    assert "warning: the settings below read the token from $COST_MCP_TEAM_TOKEN" in captured.err
    # Another port on this machine is this laptop's own server: no token until it has one.
    assert main(["otel-config", "--server", "http://127.0.0.1:4318"]) == 0
    captured = capsys.readouterr()
    assert "Bearer" not in captured.out and captured.err == ""
    # --no-bearer still wins.
    assert main(["otel-config", "--server", "http://127.0.0.1:14318", "--no-bearer"]) == 0
    assert "Bearer" not in capsys.readouterr().out


@pytest.mark.parametrize("command", ["statusline", "hook"])
def test_the_commands_claude_code_runs_say_they_read_stdin(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """Run by hand, `cost-mcp hook` waits for its input: its --help did not say it reads any."""
    assert main([command, "--help"]) == 0
    assert "JSON on stdin" in " ".join(capsys.readouterr().out.split())


def test_a_command_imports_only_its_own_module(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys; from cost_mcp.cli import main; main(['ingest', '--help']); "
        "print(sorted(m for m in sys.modules if m.startswith('cost_mcp.cli.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    ).stdout
    assert out.strip().splitlines()[-1] == "['cost_mcp.cli.app', 'cost_mcp.cli.data']"


@pytest.mark.usefixtures("two_models")
def test_report_breakdown_names_a_seat_fee_sub_row(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Cursor seat's fee is its own row (basis subscription) with no model: its sub-row was a bare
    "└─-" beside the models' sub-rows, with no basis column to say what it was."""
    start = datetime.now(UTC).date().replace(day=1).isoformat()
    code, out, _ = run(
        capsys, "subscription", "add", "seat", "--vendor", "cursor", "--amount", "40", "--start", start
    )
    assert code == 0, out
    monkeypatch.setenv("COLUMNS", "200")
    for dim in ("model", "project", "session"):
        code, out, _ = run(capsys, "report", "--breakdown", dim)
        assert code == 0, out
        rows = _table(out)
        cursor = next(i for i, cells in enumerate(rows) if cells[0] == "cursor")
        assert rows[cursor][1] == "subscription"
        fee = rows[cursor + 1]
        # Its own labelled sub-row, no tokens, named as every view names seat fees.
        assert fee[:3] == ["└─(seat", "fees)", "-"], (dim, fee)
        assert fee[-2] == rows[cursor][-2], dim  # the whole fee
        assert not any(cells[0] == "└─-" for cells in rows), dim
        # The models' sub-rows are not touched by it.
        anthropic = next(i for i, cells in enumerate(rows) if cells[0] == "anthropic")
        assert not any(c[0] == "└─(seat" for c in rows[anthropic + 1 : anthropic + 3]), dim


def test_ctrl_c_while_the_command_starts_exits_130_without_a_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ctrl-C in its first fraction of a second lands in the CLI's imports, before the CLI's own
    # handling (`cost-mcp ingest` interrupted at once printed the import machinery's traceback).
    import cost_mcp.cli
    from cost_mcp import launcher

    def importing(*_: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cost_mcp.cli, "main", importing)
    try:
        code = launcher.main(["report"])
    except KeyboardInterrupt:
        pytest.fail("the interrupt reached the interpreter, which prints its traceback")
    assert code == 130
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == "aborted\n"
