"""The CLI's tables on a narrow terminal (80 columns, or a pipe): every number shown whole, or
rounded and labelled as such, never cut short with an ellipsis."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine

from tests.sources.claude_logs import assistant, session_file, write
from tests.test_cli import Ran, run

DAY = "2026-03-10"
PERIOD = ("--start", DAY, "--end", DAY)
LONG_MODEL = "claude-opus-4-1-20250805"


@pytest.fixture
def heavy_logs(home: Path) -> Path:
    """Two models with counts of seven to ten digits and a cost in the thousands of dollars."""
    lines = [
        assistant(
            f"msg_{i}",
            f"req_{i}",
            f"{DAY}T1{i % 10}:00:00.000Z",
            model=LONG_MODEL if i % 2 else "claude-sonnet-4-5-20250929",
            input=1_234_567 + i,
            output=3_205_649 + i,
            cache_read=33_432_001 + i,
            write_5m=1_866_761 + i,
        )
        for i in range(40)
    ]
    write(session_file(home / "claude", "s1"), *lines)
    return home


def at(columns: int, *args: str) -> Ran:
    done = run(*args, env={"COLUMNS": str(columns)})
    assert done.returncode == 0, done.stderr
    return done


def test_a_narrow_report_cuts_no_number(heavy_logs: Path) -> None:
    at(80, "subscription", "add", "seat", "--vendor", "cursor", "--amount", "9000", "--start", "2026-03-01")
    whole = json.loads(at(80, "report", *PERIOD, "--group-by", "model", "--json").stdout)
    costs = [f"${row['cost_usd']:,.2f}" for row in whole["rows"]]
    assert min(row["cost_usd"] for row in whole["rows"]) > 100  # three digits or more before the point
    assert {row["basis"] for row in whole["rows"]} == {"estimated", "subscription"}

    narrow = at(80, "report", *PERIOD, "--group-by", "model").stdout
    assert "…" not in narrow
    assert all(len(line) <= 80 for line in narrow.splitlines())
    for cost in costs:  # each row's cost on one line, whole
        assert cost in narrow
    assert re.search(r"\bsubscription\b", narrow)  # a basis is never folded
    assert "token counts rounded to fit 80 columns" in narrow
    assert re.search(r"\b\d+(\.\d+)?[kMB]\b", narrow)  # rounded counts
    first_column = "".join(line.split()[0] for line in narrow.splitlines() if line.strip())
    assert LONG_MODEL in first_column  # the model's name folds onto the next lines, whole

    wide = at(200, "report", *PERIOD, "--group-by", "model").stdout
    tokens = whole["rows"][0]["tokens"]
    assert f"{tokens['cache_read_tokens']:,}" in wide  # in full where they fit
    assert "token counts rounded" not in wide


def test_a_narrow_session_and_blocks_cut_no_number(heavy_logs: Path) -> None:
    for args in (("session", "s1"), ("blocks", "--days", "31")):
        narrow = at(80, *args).stdout
        assert "…" not in narrow, args


@pytest.mark.parametrize(
    ("count", "shown"),
    [
        (9_999, "9,999"),
        (10_000, "10.0k"),
        (612_011, "612k"),
        (999_999, "1.00M"),
        (3_205_649, "3.21M"),
        (334_320_012, "334M"),
        (1_334_320_012, "1.33B"),
        (1_234_567_890_123, "1235B"),
    ],
)
def test_rounded_counts(count: int, shown: str) -> None:
    from cost_mcp.cli.spend import _count

    assert _count(count, compact=True) == shown
    assert _count(count, compact=False) == f"{count:,}"


def test_money_columns_line_up_on_the_right(home: Path) -> None:
    at(80, "budget", "set", "small", "5")
    at(80, "budget", "set", "large", "12345.67")
    lines = at(80, "budget", "list").stdout.splitlines()
    header = next(line for line in lines if " limit " in line)
    end = header.index(" limit ") + len(" limit")
    for name, limit in (("small", "$5.00"), ("large", "$12,345.67")):
        row = next(line for line in lines if line.split()[:1] == [name])
        assert row.index(limit) + len(limit) == end, (row, header)


def test_a_narrow_comparison_keeps_its_columns(heavy_logs: Path) -> None:
    # The change's parts were lines of text: at 80 columns each meaning ran on from column 0, under
    # the part names; the per-model amounts were left-aligned.
    args = ("compare", "--before", "2026-03-03..2026-03-09", "--after", "2026-03-10..2026-03-16")
    lines = at(80, *args, "--group-by", "model").stdout.splitlines()
    change = next(i for i, line in enumerate(lines) if line.startswith("change:"))
    header = next(i for i, line in enumerate(lines) if line.split()[:1] == ["model"])
    parts = lines[change + 1 : header]
    meaning = parts[0].index("more or fewer calls")
    names = {"volume", "mix", "tokens_per_call", "caching", "price"}
    assert len([line for line in parts if line.split()[0] not in names]) > 0  # some meaning folded
    for line in parts:
        if line.split()[0] not in names:
            assert line[:meaning].strip() == "", line  # folded under its own column

    end = lines[header].index(" after ") + len(" after")
    row = next(line for line in lines if line.split()[:1] == [LONG_MODEL])
    amount = row.split()[2]
    assert amount.startswith("$") and row.index(amount, len(LONG_MODEL)) + len(amount) == end, row


def test_a_report_shows_its_alert_once_and_no_log_lines(home: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A person reads the answer: the alert it carries, once, and no log records besides (stderr
    had "INFO cost_mcp.sync: read 1 new ..." before every table, and the alert a second time)."""
    with time_machine.travel(datetime(2026, 3, 10, 12, tzinfo=UTC), tick=True):
        at(80, "budget", "set", "tiny", "1", "--period", "month")
        line = assistant("m1", "r1", "2026-03-10T11:00:00.000Z", input=10**6)
        write(session_file(home / "claude", "s1"), line)
        with caplog.at_level(logging.DEBUG):
            done = at(80, "report")
    assert done.stdout.count("alert: budget 'tiny' passed 100%") == 1
    assert [r.getMessage() for r in caplog.records if r.name == "cost_mcp.analytics.alerts"] == []
    # As a person runs it, in a process of its own: a query that reads a new line logs nothing.
    line = assistant("m2", "r2", "2026-03-10T11:30:00.000Z")
    write(session_file(home / "claude", "s2"), line)
    ran = subprocess.run(
        [sys.executable, "-m", "cost_mcp", "report", *PERIOD],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "80"},
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert "2026-03-10" in ran.stdout
    assert ran.stderr == ""


def test_a_narrow_table_of_small_counts_says_nothing_of_rounding(home: Path) -> None:
    """Counts under 10,000 are shown whole at any width: a note that they were rounded was wrong."""
    write(
        session_file(home / "claude", "s1"),
        assistant("msg_1", "req_1", f"{DAY}T10:00:00.000Z", input=20, output=10),
    )
    narrow = at(80, "report", *PERIOD, "--group-by", "model").stdout
    assert re.search(r"\b20\s+10\b", narrow)
    assert "rounded" not in narrow


def test_two_keys_at_80_columns_stay_readable_and_the_counts_give_way(heavy_logs: Path) -> None:
    """With two --group-by at 80 columns the keys were folded three characters wide (``202/6-0/3-1/0``)
    so that every count stayed whole: keys keep ten characters (a date whole), counts fold instead."""
    args = ("report", *PERIOD, "--group-by", "provider", "--group-by", "day", "--group-by", "model")
    whole = json.loads(at(80, *args, "--json").stdout)
    narrow = at(80, *args).stdout
    assert "…" not in narrow and all(len(line) <= 80 for line in narrow.splitlines())
    rows = [line.split() for line in narrow.splitlines() if line.startswith(" anthropic ")]
    assert len(rows) == len(whole["rows"]) == 2
    for row, data in zip(rows, whole["rows"], strict=True):
        assert row[:3] == ["anthropic", DAY, data["group"]["model"][:10]]  # each key on its first line
        assert f"${data['cost_usd']:,.2f}" in row  # the cost whole


def test_four_keys_at_80_columns_leave_counts_out_rather_than_fold_them_a_digit_a_line(
    heavy_logs: Path,
) -> None:
    """With four --group-by at 80 columns the keys kept ten characters each, yet the columns to
    leave out were chosen as if they took six: the token counts were folded a digit a line
    ("1" over "," over "2" ...) and the requests column squeezed to nothing, unnamed. The counts
    that have no room are left out and named; those shown, and every cost, are whole."""
    args = (
        "report",
        *PERIOD,
        *(x for d in ("model", "agent", "project", "session") for x in ("--group-by", d)),
    )
    whole = json.loads(at(80, *args, "--json").stdout)
    narrow = at(80, *args).stdout
    lines = narrow.splitlines()
    assert all(len(line) <= 80 for line in lines) and "…" not in narrow
    firsts = [line.split() for line in lines if line.startswith(" claude-")]
    assert len(firsts) == len(whole["rows"]) == 2
    for first, data in zip(firsts, whole["rows"], strict=True):
        assert first[-2:] == [f"${data['cost_usd']:,.2f}", f"{data['requests']:,}"], narrow
    left_out = " ".join(narrow[narrow.index("not shown, to fit 80 columns:") :].split())
    assert left_out.startswith("not shown, to fit 80 columns: cache write, cache read, input, output"), narrow
    # Every rounded count is among those left out: nothing shown is said to be rounded.
    assert "token counts rounded" not in narrow, narrow
    # No cell folded to a digit or a separator alone on a line of its own.
    assert not any(re.fullmatch(r"[\d,.]", cell) for line in lines for cell in line.split()), narrow


def test_a_merged_model_row_names_the_ids_it_sums_in_csv(home: Path) -> None:
    """The table says "(+1)" and --json lists model_ids; --csv had no column for them, so a CSV
    reader could not tell which ids a model's row sums."""
    models = ["claude-sonnet-4-5-20250929", "claude-sonnet-4.5", "claude-sonnet-4.5", "claude-haiku-4-5"]
    lines = [
        assistant(f"msg_{i}", f"req_{i}", f"{DAY}T1{i}:00:00.000Z", model=model, input=1_000, output=100)
        for i, model in enumerate(models)
    ]
    write(session_file(home / "claude", "s1"), *lines)
    for args in (("--group-by", "model"), ("--breakdown", "model")):
        done = at(200, "report", *PERIOD, *args, "--csv")
        assert done.returncode == 0, done.stderr
        header, *rows = csv.reader(io.StringIO(done.stdout))
        # After the columns a reader had before: model_ids, then complete (added since).
        assert header[-2:] == ["model_ids", "complete"], args
        ids = {row[header.index("model")]: row[-2] for row in rows}
        assert ids == {
            "claude-sonnet-4.5": "claude-sonnet-4-5-20250929 claude-sonnet-4.5",
            "claude-haiku-4-5": "",  # the one id shown, as model_ids is null in --json
        }, args
    by_provider = at(200, "report", *PERIOD, "--group-by", "provider", "--csv").stdout
    assert "model_ids" not in by_provider.splitlines()[0]  # no model in the row, nothing to list


def test_a_merged_model_row_names_the_ids_it_sums_at_any_width(home: Path) -> None:
    """One row per model sums every id the logs gave it; the ids were only in --json, so a reader
    of the table could not tell the dated id's calls were in the row."""
    lines = [
        assistant(f"msg_{i}", f"req_{i}", f"{DAY}T1{i}:00:00.000Z", model=model, input=1_000, output=100)
        for i, model in enumerate(["claude-sonnet-4-5-20250929", "claude-sonnet-4.5", "claude-sonnet-4.5"])
    ]
    write(session_file(home / "claude", "s1"), *lines)
    whole = json.loads(at(80, "report", *PERIOD, "--group-by", "model", "--json").stdout)
    [row] = whole["rows"]
    assert row["group"]["model"] == "claude-sonnet-4.5"
    assert row["model_ids"] == ["claude-sonnet-4-5-20250929", "claude-sonnet-4.5"]
    for columns in (80, 200):
        shown = at(columns, "report", *PERIOD, "--group-by", "model").stdout
        assert "…" not in shown and all(len(line) <= columns for line in shown.splitlines())
        flat = " ".join(shown.split())
        # On the row's own lines (its name may fold), as one word.
        assert any("(+1)" in line.split() for line in shown.splitlines() if "also sums" not in line), columns
        assert "claude-sonnet-4.5 (+1): also sums claude-sonnet-4-5-20250929," in flat, columns
    both = f"{DAY}..{DAY}"
    compared = at(80, "compare", "--before", both, "--after", both, "--group-by", "model").stdout
    assert any("(+1)" in line.split() for line in compared.splitlines() if "also sums" not in line)
    assert "claude-sonnet-4.5 (+1): also sums claude-sonnet-4-5-20250929," in " ".join(compared.split())


@pytest.mark.sqlite_only  # how tables are laid out, not the ledger
@pytest.mark.parametrize("columns", [60, 50])
def test_under_80_columns_money_stays_on_one_line_and_columns_give_way(
    heavy_logs: Path, columns: int
) -> None:
    """At 60 columns a cost read "$1,532" over ".37", a limit "$2,500" over ".00" and a header
    "savin" over "g": money never folds, the least useful columns are left out and said so."""
    at(
        columns,
        "subscription",
        "add",
        "seat",
        "--vendor",
        "cursor",
        "--amount",
        "9000",
        "--start",
        "2026-03-01",
    )
    at(columns, "budget", "set", "monthly-team-budget-long-name", "12345.67")
    report = json.loads(at(columns, "report", *PERIOD, "--group-by", "model", "--json").stdout)
    budgets = json.loads(at(columns, "budget", "status", "--json").stdout)["budgets"]
    session = json.loads(at(columns, "session", "s1", "--json").stdout)
    savings = json.loads(at(columns, "savings", *PERIOD, "--json").stdout)
    shown = {
        ("report", *PERIOD, "--group-by", "model"): [row["cost_usd"] for row in report["rows"]],
        ("budget", "status"): [b[k] for b in budgets for k in ("spent_usd", "remaining_usd")]
        + [b["budget"]["amount_usd"] for b in budgets],
        ("session", "s1"): [m["cost_usd"] for m in session["models"]],
        ("savings", *PERIOD): [row["cost_usd"] for row in savings["model_mix"]["rows"]],
    }
    for args, amounts in shown.items():
        table = at(columns, *args).stdout
        assert all(len(line) <= columns for line in table.splitlines()), table
        assert max(amounts) > 100  # three digits or more before the point
        for amount in amounts:
            assert f"${amount:,.2f}" in table, (args, amount, table)  # whole, on one line
        assert "…" not in table
    narrow_report = at(columns, "report", *PERIOD, "--group-by", "model").stdout
    assert f"not shown, to fit {columns} columns: cache write" in " ".join(narrow_report.split())
    assert LONG_MODEL in "".join(
        line.split()[0] for line in narrow_report.splitlines() if line.startswith(" ")
    )


def test_a_narrow_budget_status_cuts_no_amount_nor_date(heavy_logs: Path) -> None:
    """At 80 columns `budget status` folded "$1,631.90" into "$1,631.9" over a "0", the first day
    "2026-12-0" over a "1" and "forecast_exceede" over a "d"."""
    with time_machine.travel(datetime(2026, 3, 10, 12, tzinfo=UTC), tick=False):
        at(80, "budget", "set", "team", "20000", "--period", "month")
        at(80, "budget", "set", "platform-engineering", "5000", "--period", "day", "--hard")
        table = at(80, "budget", "status").stdout
        states = json.loads(at(80, "budget", "status", "--json").stdout)["budgets"]
    assert {s["status"] for s in states} == {"exceeded", "forecast_exceeded"}
    lines = table.splitlines()
    assert max(len(line) for line in lines) <= 80
    for state in states:
        amounts = [
            state["budget"]["amount_usd"],
            state["spent_usd"],
            state["remaining_usd"],
            state["projected_usd"],
        ]
        for amount in amounts:
            shown = f"${abs(amount):,.2f}"
            assert len(shown) >= len("$5,000.00") and any(shown in line for line in lines), (shown, table)
        assert any(state["first_day"] in line for line in lines), table
    assert any(line.rstrip().endswith(" forecast") for line in lines), table  # between its words
    assert any(line.rstrip().endswith(" exceeded") for line in lines), table
