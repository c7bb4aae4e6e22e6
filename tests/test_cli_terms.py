"""The CLI in its own terms: the periods every period-taking command accepts are the ones `compare`
accepts, and an error names the flag or argument the person typed (--end, AMOUNT), not the MCP
tool's argument (`end`, amount_usd) they never saw."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.sources.claude_logs import assistant, session_file, write
from tests.test_cli import run


@pytest.fixture
def two_months(home: Path) -> Path:
    """A call on the first and last day of November 2026 and one each side of it."""
    days = ("2026-10-31", "2026-11-01", "2026-11-30", "2026-12-01")
    lines = [assistant(f"msg_{i}", f"req_{i}", f"{day}T12:00:00.000Z") for i, day in enumerate(days)]
    write(session_file(home / "claude", "s1"), *lines)
    return home


def _answer(stdout: str) -> object:
    """A command's --json answer without when its sources were last read (that changes between runs)."""
    try:
        answer = json.loads(stdout)
    except json.JSONDecodeError:
        return stdout
    if isinstance(answer, dict):
        answer.pop("reading", None)
        answer.pop("sources", None)
    return answer


@pytest.mark.usefixtures("two_months")
@pytest.mark.sqlite_only  # how arguments are read, not the ledger
@pytest.mark.parametrize(
    "command",
    [
        ("report", "--json"),
        ("report", "--csv"),
        ("forecast", "--json"),
        ("savings", "--json"),
        ("export", "--format", "json"),
        ("reported", "list", "--json"),
        ("team", "forget-pushes", "--member", "a@example.com", "--dry-run"),
    ],
)
def test_every_period_option_takes_a_month_a_day_and_a_range(command: tuple[str, ...]) -> None:
    """`report --period 2026-11` was "Unknown period" while `compare --after 2026-11` took it."""
    dates = run(*command, "--start", "2026-11-01", "--end", "2026-11-30")
    assert dates.returncode == 0, dates.stderr
    for spec in ("2026-11", "2026-11-01..2026-11-30"):
        given = run(*command, "--period", spec)
        assert given.returncode == 0, given.stderr
        assert _answer(given.stdout) == _answer(dates.stdout)
    day = run(*command, "--period", "2026-11-30")
    assert day.returncode == 0, day.stderr
    assert _answer(day.stdout) == _answer(
        run(*command, "--start", "2026-11-30", "--end", "2026-11-30").stdout
    )


@pytest.mark.usefixtures("two_months")
@pytest.mark.sqlite_only
def test_a_month_is_the_whole_month() -> None:
    report = json.loads(run("report", "--period", "2026-11", "--json").stdout)
    assert (report["period"]["first_day"], report["period"]["last_day"]) == ("2026-11-01", "2026-11-30")
    assert sum(row["requests"] for row in report["rows"]) == 2  # the 1st and the 30th, not Oct 31 or Dec 1


@pytest.mark.usefixtures("home")
@pytest.mark.sqlite_only  # refused before the ledger is changed
@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("report", "--end", "2026-11-03"), "Got --end without --start: pass --start too (YYYY-MM-DD)"),
        (("report", "--start", "2026-11-40"), "--start '2026-11-40' is not a real calendar date"),
        (
            ("export", "--start", "2026-11-05", "--end", "2026-11-01"),
            "--start 2026-11-05 is after --end 2026-11-01",
        ),
        (
            ("forecast", "--period", "today", "--start", "2026-11-01"),
            "Got both --period 'today' and --start/--end dates",
        ),
        (
            ("report", "--period", "2026-11-09..2026-11-02"),
            "the first date 2026-11-09 is after the last date",
        ),
        (("report", "--period", "lastweek"), "Did you mean 'last_week'?"),
        (("report", "--period", "all"), "give the day of your first call as the start (a start alone runs"),
        (("report", "--period", "lastweek"), "a month YYYY-MM"),
        (("budget", "set", "x", "-5"), "AMOUNT must be above 0"),
        (("budget", "set", "x", "0"), "AMOUNT must be above 0"),
        (("budget", "set", "x", "5", "--threshold", "0"), "--threshold 0: give a fraction of the amount"),
        (
            ("subscription", "add", "s", "--vendor", "v", "--amount", "0", "--start", "2026-01-01"),
            "--amount must be above 0",
        ),
        (
            (
                "subscription",
                "add",
                "s",
                "--vendor",
                "v",
                "--amount",
                "3",
                "--start",
                "2026-02-01",
                "--end",
                "2026-01-01",
            ),
            "--end 2026-01-01 is before --start 2026-02-01",
        ),
        (
            ("subscription", "add", "s", "--vendor", "v", "--amount", "3", "--start", "2026-02-30"),
            "--start '2026-02-30' is not a real calendar date",
        ),
        (("sync", "--days", "0"), "--days must be between 1 and"),
        (("subscription", "remove", "nope"), "no subscription named 'nope' (subscriptions: none yet)"),
    ],
)
def test_an_error_names_the_flag_that_was_typed(args: tuple[str, ...], says: str) -> None:
    done = run(*args)
    assert done.returncode == 2
    error = " ".join(done.stderr.split())  # rich wraps at the console's width
    assert says in error
    # The MCP tools' names for the same arguments, which the person never typed.
    for tool_term in ("`start`", "`end`", "amount_usd", "start/end", "set_subscription", "[0.5, 0.8, 1]"):
        assert tool_term not in error
    assert done.stdout == ""


def test_the_exit_codes_a_script_branches_on_are_in_the_help() -> None:
    """They were only in the README: a person in the terminal reads `cost-mcp --help`."""
    shown = run("--help")
    assert shown.returncode == 0
    helped = " ".join(shown.stdout.split())
    readme = " ".join((Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8").split())
    for code, meaning in (
        (0, "done"),
        (1, "something checked is not right"),
        (2, "a bad argument"),
        (130, "interrupted"),
    ):
        assert f"{code} {meaning}" in helped and f"{code} {meaning}" in readme


@pytest.mark.usefixtures("two_months")
@pytest.mark.sqlite_only
def test_a_long_session_says_how_long_in_days_and_hours() -> None:
    """Oct 31 12:00 to Dec 1 12:00 read "4 calls over 44640 min"."""
    shown = run("session", "s1", env={"COLUMNS": "100"})
    assert shown.returncode == 0, shown.stderr
    assert "4 calls over 31d 0h" in shown.stdout


@pytest.mark.parametrize(
    ("minutes", "said"), [(0.4, "0 min"), (59.4, "59 min"), (125, "2h05m"), (1500, "1d 1h")]
)
def test_a_span_reads_as_said(minutes: float, said: str) -> None:
    from cost_mcp.cli.spend import _span

    assert _span(minutes) == said


@pytest.mark.sqlite_only  # whether the ledger file was made
@pytest.mark.parametrize(
    "command",
    [
        ("report",),
        ("forecast",),
        ("savings",),
        ("export",),
        ("reported", "list"),
        ("reported", "forget", "--yes"),
        ("team", "forget-pushes", "--member", "a@example.com"),
    ],
)
@pytest.mark.parametrize(
    "bad", [("--period", "lastweek"), ("--start", "2026-11-31"), ("--timezone", "Mars/Base")]
)
def test_a_bad_period_is_refused_before_any_log_is_read(
    two_months: Path, command: tuple[str, ...], bad: tuple[str, ...]
) -> None:
    """A typo in --period on a terminal showed the log-reading progress bar first (minutes on a
    first run over large logs), then the error."""
    done = run(*command, *bad)
    assert done.returncode == 2 and "error:" in done.stderr
    assert not (two_months / "data" / "cost.db").exists()


@pytest.mark.parametrize(
    ("typed", "meant"),
    [("reprot", "Did you mean 'report', 'reported' or 'export'?"), ("bugdet", "Did you mean 'budget'?")],
)
def test_a_mistyped_command_is_answered_with_the_command_meant(typed: str, meant: str) -> None:
    """`cost-mcp budget sett` suggested 'set'; `cost-mcp reprot` said only "No such command"."""
    done = run(typed)
    assert done.returncode == 2
    assert f"No such command '{typed}'. {meant}" in done.stderr


@pytest.mark.usefixtures("home")
@pytest.mark.parametrize(
    ("command", "hint"),
    [
        (("token", "list"), "No tokens yet. Create one: cost-mcp token create NAME --member EMAIL"),
        (("team", "list"), "No teams yet. Create one: cost-mcp team set NAME EMAIL ..."),
    ],
)
def test_an_empty_list_says_so_on_stderr_and_leaves_stdout_to_scripts(
    command: tuple[str, ...], hint: str
) -> None:
    """`token list` and `team list` printed nothing at all, where `budget status` says how to add one."""
    empty = run(*command)
    assert (empty.returncode, empty.stdout) == (0, "")
    assert hint in empty.stderr
    made = (
        ("token", "create", "ci", "--member", "a@example.com")
        if command[0] == "token"
        else ("team", "set", "qa", "a@example.com")
    )
    assert run(*made).returncode == 0
    listed = run(*command)
    assert listed.stdout.split("\t")[0] in ("ci", "qa") and listed.stderr == ""
