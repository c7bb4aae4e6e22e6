"""CLI output that a hostile name cannot abuse: no terminal escapes obeyed, no spreadsheet formulas,
and the same length limits as the MCP tools."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.sources.claude_logs import assistant, session_file, write
from tests.test_cli import Ran, run

ESCAPES = "\x1b]0;pwned\x07\x1b[2J\x1b[31m\x9b"
MODEL = f"claude-sonnet-4-5{ESCAPES}[red]x[/red]"
FORMULA = '=HYPERLINK("http://evil.example","click")'


def cli(*args: str) -> Ran:
    return run(*args, env={"COLUMNS": "400"})  # wide enough that no name is cut short


@pytest.fixture
def hostile_logs(clock: None, home: Path) -> Path:
    """Two calls stamped now, on the ``clock`` fixture: a test that reports them and then exports
    this month's, each in its own process, straddled a month's end begun in its last second."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    write(
        session_file(home / "claude", "s1", project=f"-home-{ESCAPES}-app"),
        assistant("msg_1", "req_1", now, model=MODEL),
    )
    write(
        session_file(home / "claude", "s2", project="-home-dev-app"),
        assistant("msg_2", "req_2", now, model=FORMULA),
    )
    return home


def test_report_neutralises_escape_sequences_in_names(hostile_logs: Path) -> None:
    done = cli("report", "--group-by", "model", "project")
    assert done.returncode == 0, done.stderr
    out = done.stdout + done.stderr
    for raw in ("\x1b", "\x07", "\x9b"):
        assert raw not in out
    flat = "".join(done.stdout.split())
    assert "\\x1b]0;pwn" in flat  # shown, visibly, not obeyed
    assert "[red]x[/red]" in flat  # rich markup in a name is text, not a style


def test_csv_outputs_are_safe_from_formula_injection(hostile_logs: Path, tmp_path: Path) -> None:
    report = cli("report", "--csv", "--group-by", "model")
    assert report.returncode == 0, report.stderr
    models = [row[0] for row in csv.reader(io.StringIO(report.stdout))][1:]
    assert "'" + FORMULA in models and FORMULA not in models
    target = tmp_path / "out.csv"
    exported = cli("export", "-o", str(target))
    assert exported.returncode == 0, exported.stderr
    with target.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {r["model"] for r in rows if r["model"].endswith('"click")')} == {"'" + FORMULA}
    assert all(not r[k].startswith(("=", "+", "@")) for r in rows for k in r)


@pytest.mark.parametrize(
    "args",
    [
        ("report", "--csv", "--group-by", "model", "project"),
        ("export",),
        ("export", "--format", "focus"),
    ],
)
def test_csv_on_stdout_shows_escape_sequences_and_formulas_as_text(
    hostile_logs: Path, args: tuple[str, ...]
) -> None:
    done = cli(*args)
    assert done.returncode == 0, done.stderr
    for raw in ("\x1b", "\x07", "\x9b"):
        assert raw not in done.stdout
    cells = [cell for row in csv.reader(io.StringIO(done.stdout)) for cell in row]
    assert any("\\x1b]0;pwned\\x07" in cell for cell in cells)
    if "focus" not in args:  # FOCUS keeps a value as the Parquet has it (see test_focus)
        assert FORMULA not in cells and all(not c.startswith(("=", "@")) for c in cells)


@pytest.mark.usefixtures("home")
@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["budget", "set", "x" * 1000, "5"], "invalid budget name"),
        (["budget", "set", "ok", "5", "--agent", "a" * 100_000], "invalid budget scope"),
        (["budget", "set", "ok", "5", *[f"--model=m{i}" for i in range(60)]], "invalid budget scope"),
        (["budget", "delete", "y" * 100_000], "no budget named 'yyyy"),
        (
            ["subscription", "add", "s", "--vendor", "v" * 100_000, "--amount", "5", "--start", "2026-01-01"],
            "invalid vendor",
        ),
        (
            [
                "subscription",
                "add",
                "s",
                "--vendor",
                "v",
                "--amount",
                "5",
                "--start",
                "2026-01-01",
                "--member",
                "m" * 100_000,
            ],
            "invalid member",
        ),
    ],
)
def test_names_and_scope_values_have_the_mcp_limits_in_the_cli(args: list[str], reason: str) -> None:
    done = cli(*args)
    assert done.returncode == 2
    assert reason in done.stderr and "Traceback" not in done.stderr
    assert len(done.stdout + done.stderr) < 2000  # the value is not echoed back
    assert '"budgets": []' in cli("budget", "list", "--json").stdout  # nothing was stored
