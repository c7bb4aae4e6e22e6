"""The CLI as a person runs it: in-process through `cost_mcp.cli.main(argv)` with stdout and stderr
captured, and a real `cost-mcp` process where the process itself is the point (the entry point, the
server on a terminal or a pipe, a corrupt ledger before the MCP handshake)."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from cost_mcp import __version__
from cost_mcp.cli import main
from cost_mcp.config import load_settings
from cost_mcp.store.connection import shown
from tests.sources.claude_logs import (
    a_call_and_a_project_to_hide,
    assistant,
    permissions_hold,
    session_file,
    write,
)
from tests.venvs import temporary_environment


@dataclass(frozen=True)
class Ran:
    """What a command did: its exit code and what it wrote, as a finished process reports them."""

    returncode: int
    stdout: str
    stderr: str


def run(*args: str, env: dict[str, str] | None = None) -> Ran:
    """``cost-mcp ARGS`` in this process, with ``env`` added to the environment while it runs."""
    saved = {name: os.environ.get(name) for name in env or {}}
    os.environ.update(env or {})
    out, err = io.StringIO(), io.StringIO()
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = main(list(args))
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return Ran(code, out.getvalue(), err.getvalue())


def process(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """A real `cost-mcp ARGS` process (``python -m cost_mcp``), in ``env`` (this one's if None)."""
    return subprocess.run(
        [sys.executable, "-m", "cost_mcp", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def imported(args: Sequence[str], modules: Sequence[str]) -> set[str]:
    """The modules a fresh `cost-mcp ARGS` process has imported when it ends, among ``modules``
    (a name there stands for its submodules too: "pydantic" for "pydantic.main"). The command must
    succeed: a failing one proves nothing about what a working one imports."""
    probe = (
        "import io, json, sys\n"
        "from cost_mcp.launcher import main\n"
        "sys.stdout = io.StringIO()\n"
        f"code = main({list(args)!r})\n"
        "sys.stdout = sys.__stdout__\n"
        f"heavy = {tuple(modules)!r}\n"
        "print(code, json.dumps(sorted(m for m in sys.modules if m in heavy or m.split('.')[0] in heavy)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=dict(os.environ), check=False
    )
    assert done.returncode == 0, done.stderr
    code, _, loaded = done.stdout.strip().partition(" ")
    assert code == "0", done.stderr
    return set(json.loads(loaded))


def test_version() -> None:
    assert process("--version").stdout.strip() == f"cost-mcp {__version__}"
    assert run("--version").stdout.strip() == f"cost-mcp {__version__}"


@pytest.mark.usefixtures("home")
def test_doctor_reports_paths_and_masks_keys(home: Path) -> None:
    secret = "sk-admin-CANARY1234567890-abcd"
    proc = run("doctor", "--json", env={"OPENAI_ADMIN_KEY": secret})
    assert proc.returncode == 0, proc.stderr
    assert "CANARY" not in proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["database"] == shown(load_settings().db)
    assert report["timezone"] == "UTC"
    openai = next(p for p in report["providers"] if p["provider"] == "openai")
    assert openai["configured"] is True and openai["origin"] == "environment"
    assert openai["masked"].endswith("(30 chars)")
    assert report["claude_log_roots"][0]["projects_dir_found"] is True


@pytest.mark.usefixtures("home")
@pytest.mark.sqlite_only  # a corrupt SQLite file
def test_doctor_explains_a_corrupt_database(home: Path) -> None:
    db = home / "data" / "cost.db"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"garbage" * 1000)
    proc = run("doctor")
    assert proc.returncode == 1
    assert "not a usable SQLite database" in proc.stdout


@pytest.mark.usefixtures("home")
@pytest.mark.sqlite_only  # SQLite files
def test_doctor_says_what_every_command_says_of_a_foreign_or_newer_ledger(home: Path) -> None:
    """Another application's SQLite file: doctor said "ok (empty: no schema yet)" and exit 0 while
    every command refused it. A newer cost-mcp's ledger: doctor said what was wrong, not what to do."""
    import sqlite3

    db = home / "data" / "cost.db"
    db.parent.mkdir(parents=True)
    with sqlite3.connect(db) as other:
        other.execute("CREATE TABLE notes (body TEXT)")
    other.close()
    refused = run("report")
    doctor = run("doctor", "--json")
    assert refused.returncode == 2 and doctor.returncode == 1
    problem = f"{db} is not a cost-mcp ledger (it is another application's SQLite database, with tables notes"
    assert problem in refused.stderr and problem in json.loads(doctor.stdout)["database_status"]
    assert any(p.startswith(problem) for p in json.loads(doctor.stdout)["problems"])

    db.unlink()
    assert run("budget", "list").returncode == 0  # a ledger of today's schema
    with sqlite3.connect(db) as newer:
        newer.execute("INSERT INTO _migrations VALUES ('m999_from_the_future', '2030-01-01')")
    newer.close()
    assert "upgrade cost-mcp" in run("report").stderr
    doctor = run("doctor")
    assert doctor.returncode == 1
    assert (
        "problem: written by a newer cost-mcp (migrations m999_from_the_future): upgrade cost-mcp, or set "
        "COST_MCP_DB to another ledger" in " ".join(doctor.stdout.split())
    )


@pytest.mark.usefixtures("home")
@pytest.mark.sqlite_only  # about a setting, not the ledger
@pytest.mark.parametrize("server", ["http://[::1", "https://cost.example.com:abc"])
def test_a_team_server_url_that_cannot_be_split_is_named_not_a_traceback(server: str) -> None:
    """An unclosed IPv6 bracket or a port that is not a number: `push --server` raised ValueError
    from urlsplit, doctor httpx's InvalidURL, and the MCP server's own pushes logged tracebacks."""
    pushed = run("push", "--server", server, "--token", "cmt_x")
    assert pushed.returncode == 2 and "Traceback" not in pushed.stderr
    assert pushed.stderr.startswith("error: the team server URL (--server) is not a URL (")
    env = {"COST_MCP_TEAM_SERVER": server, "COST_MCP_TEAM_TOKEN": "cmt_x", "COLUMNS": "400"}
    doctor = run("doctor", env=env)
    assert doctor.returncode == 1 and "Traceback" not in doctor.stderr
    assert f"problem: setting COST_MCP_TEAM_SERVER={server!r} is not usable (not a URL (" in doctor.stdout


def restricted(*args: str) -> subprocess.CompletedProcess[str]:
    """A real `cost-mcp ARGS` process for which file modes hold (root without its capabilities), its
    lines wide enough that no path is folded."""
    return subprocess.run(
        [*permissions_hold(), sys.executable, "-m", "cost_mcp", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "400"},
    )


def one_line(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.sqlite_only  # about log folders; root without the capabilities cannot reach PostgreSQL
def test_doctor_names_the_claude_log_folders_it_cannot_open(home: Path) -> None:
    """doctor said "0 log file(s)" and no problem for a project folder it could not open (after
    a report had said PARTIAL for it too), and a Claude folder it could not enter was a
    PermissionError traceback. Both are now a problem naming the folder and what to do."""
    log = write(session_file(home / "claude", "s1"), assistant("m1", "r1", "2026-11-02T10:00:00.000Z"))
    hidden = log.parent
    for closed in (hidden, home / "claude"):
        closed.chmod(0)
        try:
            proc = restricted("doctor")
            as_json = restricted("doctor", "--json")
        finally:
            closed.chmod(0o755)
        said = one_line(proc.stdout)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        where = hidden if closed == hidden else home / "claude" / "projects"
        assert f"problem: Claude Code logs: cannot open {where} (Permission denied)" in said
        assert "make them readable by the user running cost-mcp" in said
        assert "no coding agent's logs found" not in said  # they are there, only closed
        roots = json.loads(as_json.stdout)["claude_log_roots"]
        assert roots[0]["unreadable"] == [f"{where} (Permission denied)"]


def test_doctor_counts_the_claude_logs_the_scan_reads(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """doctor counted every ``.jsonl`` name under ``projects/`` with a walk of its own: a link leading
    out of the folder, a pipe and a name that is not UTF-8 were "log files" no read ever opens. It
    counts what the scan reads, through the scanner every agent's read uses."""
    log = write(session_file(home / "claude", "s1"), assistant("m1", "r1", "2026-11-02T10:00:00.000Z"))
    outside = write(home / "elsewhere" / "private.jsonl", assistant("m2", "r2", "2026-11-02T10:00:00.000Z"))
    (log.parent / "s2.jsonl").symlink_to(outside)
    os.mkfifo(log.parent / "s3.jsonl")
    Path(os.fsdecode(os.fsencode(log.parent) + b"/bad-\xff.jsonl")).write_text("{}\n", encoding="utf-8")
    main(["doctor", "--json"])
    [root] = json.loads(capsys.readouterr().out)["claude_log_roots"]
    assert (root["jsonl_files"], root["unreadable"]) == (1, [])


@pytest.mark.sqlite_only  # about log folders; root without the capabilities cannot reach PostgreSQL
def test_doctor_names_another_agents_log_folders_it_cannot_open(home: Path) -> None:
    """The same for another agent: CODEX_HOME closed was a traceback, a closed folder under it
    "0 log file(s)" and nothing else."""
    day = home / "codex" / "sessions" / "2026" / "11"
    day.mkdir(parents=True)
    (day / "rollout-2026-11-02T10-00-00-x.jsonl").write_text("{}\n", encoding="utf-8")
    for closed, where in (
        (home / "codex", [home / "codex" / "sessions", home / "codex" / "archived_sessions"]),
        (day, [day]),
    ):
        closed.chmod(0)
        try:
            proc = restricted("doctor")
        finally:
            closed.chmod(0o755)
        said = one_line(proc.stdout)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        named = "; ".join(f"{w} (Permission denied)" for w in where)
        assert f"problem: codex logs: cannot open {named}: their calls are not counted" in said
    sessions = home / "codex" / "sessions"
    assert f"agent logs codex {sessions}: 0 log file(s), 1 folder(s) it cannot open" in said


@pytest.mark.sqlite_only  # about a file's mode; root without the capabilities cannot reach PostgreSQL
def test_a_price_file_that_cannot_be_read_is_one_line_not_a_traceback(home: Path) -> None:
    """A price override file of mode 000: report and doctor were PermissionError tracebacks."""
    prices = home / "config" / "prices.toml"
    prices.parent.mkdir(parents=True, exist_ok=True)
    prices.write_text('[[price]]\nmodel = "house-1"\ninput_mtok = "2"\n', encoding="utf-8")
    prices.chmod(0)
    try:
        report = restricted("report")
        doctor = restricted("doctor")
    finally:
        prices.chmod(0o644)
    said = f"price override file {prices} cannot be read (Permission denied): make it readable"
    assert report.returncode == 2 and "Traceback" not in report.stderr, report.stderr
    assert report.stderr.startswith(f"error: {said}")
    assert doctor.returncode == 1 and "Traceback" not in doctor.stderr, doctor.stderr
    assert f"problem: {said}" in doctor.stdout


@pytest.mark.sqlite_only  # about a file's mode; root without the capabilities cannot reach PostgreSQL
def test_doctor_names_an_env_file_it_cannot_read(home: Path) -> None:
    """An env file of mode 000 (or a folder there) sets nothing, keys included, and every command
    goes on without it as the code meant ("doctor names an env file it cannot read"); doctor said
    "(found)" and no problem."""
    env_file = home / "config" / "env"
    env_file.parent.mkdir(parents=True, exist_ok=True)
    env_file.write_text("OPENAI_ADMIN_KEY=sk-admin-CANARY-0123456789\n", encoding="utf-8")
    env_file.chmod(0)
    try:
        doctor = restricted("doctor")
    finally:
        env_file.chmod(0o644)
    assert doctor.returncode == 1 and "CANARY" not in doctor.stdout
    assert (
        f"problem: the env file {env_file} cannot be read (Permission denied), so nothing in it is set: "
        "make it readable" in doctor.stdout
    )
    env_file.unlink()
    env_file.mkdir()
    folder = run("doctor", env={"COLUMNS": "400"})
    assert folder.returncode == 1
    assert f"the env file {env_file} cannot be read (Is a directory)" in folder.stdout


@pytest.mark.usefixtures("home")
@pytest.mark.sqlite_only  # about the price file
def test_doctor_says_a_price_file_that_is_a_folder_reads_no_price(home: Path) -> None:
    """COST_MCP_PRICES_FILE naming a folder reads as no overrides, and every note said to add the
    model's price "to the price override file (/that/folder)"; doctor said "(absent): no overrides"."""
    folder = home / "config" / "prices"
    folder.mkdir(parents=True)
    doctor = run("doctor", env={"COST_MCP_PRICES_FILE": str(folder), "COLUMNS": "400"})
    assert doctor.returncode == 1
    assert f"problem: price override file {folder} is a folder, so no price of yours is read" in doctor.stdout


@pytest.mark.sqlite_only  # about log files; root without the capabilities cannot reach PostgreSQL
def test_doctor_warns_of_log_files_the_last_read_could_not_open(home: Path) -> None:
    """A file doctor's walk lists but a reader cannot open: the last read's error, from the ledger."""
    log = write(session_file(home / "claude", "s1"), assistant("m1", "r1", "2026-11-02T10:00:00.000Z"))
    log.chmod(0)
    try:
        assert restricted("report").returncode == 0
        proc = restricted("doctor")
    finally:
        log.chmod(0o644)
    said = one_line(proc.stdout)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert f"warning: Claude Code logs: the last read could not open some files ({log}" in said
    assert "make them readable by the user running cost-mcp" in said


@pytest.mark.usefixtures("home")
@pytest.mark.sqlite_only  # a corrupt SQLite file
def test_serve_refuses_a_corrupt_database_with_a_message(home: Path) -> None:
    db = home / "data" / "cost.db"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"garbage" * 1000)
    proc = process("serve")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "not a valid SQLite database" in proc.stderr


@pytest.mark.usefixtures("home")
def test_estimate_json() -> None:
    proc = run("estimate", "claude-sonnet-4-5", "--input", "1000000", "--output", "1000000", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["cost_usd"] == 18


@pytest.mark.usefixtures("home")
def test_estimate_suggests_no_model_whose_context_window_cannot_take_the_prompt() -> None:
    """A 300k-token prompt on gpt-4.1 (a 1M window) was offered gpt-oss-20b and gpt-4o-mini, whose
    windows genai-prices gives as 131,072 and 128,000 tokens: cheaper, and unable to read it."""
    from cost_mcp.pricing import provider_models

    windows = {m.id: m.context_window for m in provider_models("openai")}
    proc = run("estimate", "gpt-4.1", "--input", "300000", "--output", "1000", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["requests"] == 1 and result["cheaper"]
    for alt in result["cheaper"]:
        assert (windows[alt["model"]] or 300_000) >= 300_000, alt
    [note] = [n for n in result["notes"] if n.startswith("Not suggested")]
    assert "the call's 300,000 input tokens" in note
    shown = run("estimate", "gpt-4.1", "--input", "300000", "--output", "1000", env={"COLUMNS": "300"})
    assert shown.stdout.startswith("gpt-4.1 (openai), 1 call: "), shown.stdout
    assert "gpt-4o-mini " not in shown.stdout.split("cheaper model", 1)[1]


@pytest.mark.usefixtures("home")
def test_estimate_prices_fast_mode_and_us_only_inference_like_the_ledger() -> None:
    # Opus 4.6 $5 / $25 per MTok, fast mode x6, US-only inference x1.1: (5 + 25) x 6.6 = $198.
    args = ("estimate", "claude-opus-4-6", "--input", "1000000", "--output", "1000000", "--requests", "1")
    proc = run(*args, "--speed", "fast", "--inference-geo", "us", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["cost_usd"] == 198
    bad = run(*args, "--speed", "turbo")
    assert bad.returncode == 2
    assert "'turbo' is not one of 'standard', 'fast'" in bad.stderr


@pytest.mark.usefixtures("home")
def test_estimate_unknown_model_exits_2_with_suggestions() -> None:
    proc = run("estimate", "claude-sonet-4-5", "--input", "1")
    assert proc.returncode == 2
    assert "claude-sonnet-4-5" in proc.stderr


@pytest.mark.usefixtures("home")
def test_estimate_of_a_model_another_provider_prices_names_the_option_to_type() -> None:
    """`cost-mcp estimate llama-3.3-70b-versatile` answered "pass provider='groq'": a tool's
    spelling, which a shell does not take; the error names the option too."""
    proc = run("estimate", "llama-3.3-70b-versatile", "--input", "1")
    assert proc.returncode == 2
    assert "--provider groq on the command line" in proc.stderr, proc.stderr
    again = run("estimate", "llama-3.3-70b-versatile", "--input", "1", "--provider", "groq")
    assert again.returncode == 0, again.stderr
    unknown = run("estimate", "no-such-model-at-all", "--input", "1")
    assert unknown.returncode == 2
    assert "--provider on the command line" in unknown.stderr, unknown.stderr


@pytest.mark.usefixtures("home")
def test_report_with_nothing_configured_says_how_to_start() -> None:
    proc = run("report")
    assert proc.returncode == 0, proc.stderr
    assert "$0.00" in proc.stdout
    assert "CLAUDE_CONFIG_DIR" in proc.stdout


def test_a_claude_config_dir_that_does_not_exist_is_called_so(home: Path) -> None:
    """A typo in CLAUDE_CONFIG_DIR: before, the report said "set CLAUDE_CONFIG_DIR if yours are
    elsewhere" to someone who had set it, and never that the folder named is not there."""
    typo = home / ".claud"
    proc = run("report", "--json", env={"CLAUDE_CONFIG_DIR": str(typo)})
    assert proc.returncode == 0, proc.stderr
    (said,) = [w for w in json.loads(proc.stdout)["warnings"] if w.startswith("no data source")]
    assert f"read from {typo} (CLAUDE_CONFIG_DIR), which does not exist: fix CLAUDE_CONFIG_DIR" in said
    assert "if yours are elsewhere" not in said
    # Set to a folder that is there (no logs yet): the usual advice.
    proc = run("report", "--json", env={"CLAUDE_CONFIG_DIR": str(home / "claude")})
    (said,) = [w for w in json.loads(proc.stdout)["warnings"] if w.startswith("no data source")]
    assert "(set CLAUDE_CONFIG_DIR if yours are elsewhere)" in said


def _claude_usage(home: Path) -> None:
    from tests.sources.claude_logs import assistant, session_file, write

    write(
        session_file(home / "claude", "s1"),
        assistant("m1", "r1", "2026-11-02T09:00:00.000Z", input=1_000, output=1_000),
        assistant("m2", "r2", "2026-11-03T09:00:00.000Z", input=1_000, output=1_000),
    )


def test_report_reads_the_logs_and_draws_day_bars(home: Path) -> None:
    _claude_usage(home)
    proc = run("report", "--start", "2026-11-01", "--end", "2026-11-07", "--chart")
    assert proc.returncode == 0, proc.stderr
    assert "$0.04" in proc.stdout
    assert "2026-11-02 █" in proc.stdout


def test_report_json_and_csv(home: Path) -> None:
    _claude_usage(home)
    as_json = json.loads(run("report", "--start", "2026-11-01", "--end", "2026-11-07", "--json").stdout)
    assert as_json["total_usd"] == 0.036
    as_csv = run(
        "report", "--start", "2026-11-01", "--end", "2026-11-07", "--csv", "--group-by", "day"
    ).stdout
    assert as_csv.splitlines() == [
        "day,basis,cost_usd,requests,total_tokens,unpriced_requests,complete",
        "2026-11-02,estimated,0.018000000,1,2000,0,true",
        "2026-11-03,estimated,0.018000000,1,2000,0,true",
    ]


def test_export_csv_keeps_money_exact(home: Path) -> None:
    import csv
    import io

    _claude_usage(home)
    out = run("export", "--start", "2026-11-01", "--end", "2026-11-07").stdout
    records = list(csv.DictReader(io.StringIO(out)))
    assert [r["cost_usd"] for r in records] == ["0.018000000", "0.018000000"]
    assert {r["kind"] for r in records} == {"event"}


def test_bad_period_exits_2_with_the_fix(home: Path) -> None:
    proc = run("report", "--period", "fortnight")
    assert proc.returncode == 2
    assert "this_week" in proc.stderr or "today" in proc.stderr


@pytest.mark.usefixtures("home")
def test_budget_set_list_delete() -> None:
    assert run("budget", "set", "monthly", "150", "--period", "month", "--hard").returncode == 0
    listed = run("budget", "list")
    assert "monthly (hard)" in listed.stdout
    assert "$150.00" in listed.stdout
    # The forecast projects the same month from another rate: the table says which one it uses.
    assert "carried to its end at its average per hour" in " ".join(listed.stdout.split())
    assert "last 7 whole days" in " ".join(listed.stdout.split())
    data = json.loads(run("budget", "list", "--json").stdout)
    assert data["budgets"][0]["status"] == "ok"
    assert run("budget", "delete", "monthly").returncode == 0
    missing = run("budget", "delete", "monthly")
    assert missing.returncode == 2
    assert "no budgets exist yet" in missing.stderr


def test_raising_a_budget_by_name_and_amount_says_what_else_it_replaced(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`budget set NAME AMOUNT` replaces a budget whole. Raised the way people raise one, by name and
    amount, a hard day budget with a webhook became a soft month budget with none (the Claude Code
    hook stopped enforcing it), and all it said was "$5.00 per month". It now names every setting
    the replacement changed and gives the command that keeps them; that command puts them back."""
    monkeypatch.setenv("COST_MCP_WEBHOOKS", json.dumps({"ops": "https://hooks.example.com/x"}))
    first = ["--period", "day", "--agent", "claude-code", "--threshold", "0.9", "--hard", "--webhook", "ops"]
    assert run("budget", "set", "daily", "1.20", *first).returncode == 0
    raised = run("budget", "set", "daily", "5")
    assert raised.returncode == 0
    said = " ".join(raised.stdout.split())
    assert said.startswith(
        "budget 'daily': $5.00 per month; alerts at 50%, 80%, 100% note: budget 'daily' replaced, "
        "not only its amount: "
    )
    for change in (
        "period day -> month",
        "hard -> soft: check_budget and the Claude Code hook no longer refuse calls over it",
        "webhook 'ops' -> none: alerts go to 'ops' no more",
        "scope agents=claude-code -> all usage",
        "thresholds 90% -> 50%, 80%, 100%",
    ):
        assert change in said
    command = said.split("to keep the rest as it was: ", 1)[1].split(" note: ")[0]
    assert command == "cost-mcp budget set daily 5 " + " ".join(first)
    assert run(*command.split()[1:]).returncode == 0
    (budget,) = json.loads(run("budget", "list", "--json").stdout)["budgets"]
    assert {k: budget["budget"][k] for k in ("amount_usd", "period", "hard", "webhook", "thresholds")} == {
        "amount_usd": 5.0, "period": "day", "hard": True, "webhook": "ops", "thresholds": ["0.9"]
    }  # fmt: skip
    assert budget["budget"]["scope"]["agents"] == ["claude-code"]
    # Only the amount changed: nothing else to say.
    assert "replaced" not in run("budget", "set", "daily", "6", *first).stdout


@pytest.mark.usefixtures("home")
def test_budget_set_rejects_a_bad_amount() -> None:
    proc = run("budget", "set", "x", "lots")
    assert proc.returncode == 2
    assert "give amounts like 150" in proc.stderr


@pytest.mark.usefixtures("home")
def test_subscription_add_list_remove() -> None:
    added = run(
        "subscription", "add", "max", "--vendor", "anthropic", "--amount", "200", "--start", "2026-01-01"
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout == "subscription 'max': anthropic, $200.00 monthly from 2026-01-01\n"
    seat = ("--vendor", "openai", "--amount", "20", "--period", "yearly", "--start", "2026-01-01")
    plus = run("subscription", "add", "plus", *seat, "--end", "2026-12-31", "--member", "ana@example.com")
    # The last day and the member were not said.
    assert plus.stdout == (
        "subscription 'plus': openai, $20.00 yearly from 2026-01-01 to 2026-12-31, ana@example.com's seat\n"
    )
    assert run("subscription", "remove", "plus").returncode == 0
    listed = run("subscription", "list")
    assert "max" in listed.stdout
    assert "$200.00 per month" in listed.stdout
    assert run("subscription", "remove", "max").returncode == 0
    assert "No subscriptions" in run("subscription", "list").stdout


def test_report_chart_stops_at_today_and_unpriced_never_shows_as_zero(clock: None, home: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from tests.sources.claude_logs import assistant, session_file, write

    now = datetime.now(UTC)
    today = now.date()
    # A call on a model with no known price, today; and a seat started 40 days ago, so each day of
    # the month has a share of its fee, the days to come included.
    write(
        session_file(home / "claude", "s1"),
        assistant("m1", "r1", now.strftime("%Y-%m-%dT%H:%M:%S.000Z"), model="claude-unknown-9", input=10),
    )
    start = (today - timedelta(days=40)).isoformat()
    added = run("subscription", "add", "seat", "--vendor", "anthropic", "--amount", "31", "--start", start)
    assert added.returncode == 0, added.stderr
    proc = run("report", "--period", "this_month", "--group-by", "model", "--chart", env={"COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    chart = [line for line in proc.stdout.splitlines() if line[:4].isdigit() and line[4] == "-"]
    assert chart[-1].startswith(today.isoformat())  # no bars for the days to come
    assert len(chart) == today.day
    assert "claude-unknown-9" in proc.stdout
    [unknown_row] = [
        line for line in proc.stdout.splitlines() if "claude-unknown-9" in line and "call" not in line
    ]
    assert "unpriced" in unknown_row and "$0.00" not in unknown_row
    # In JSON the unknown cost is null, and a breakdown sorts it (last) rather than failing on it.
    as_json = json.loads(run("report", "--period", "today", "--group-by", "model", "--json").stdout)
    [json_row] = [r for r in as_json["rows"] if r["group"]["model"] == "claude-unknown-9"]
    assert (json_row["cost_usd"], json_row["unpriced_requests"]) == (None, 1)
    by = ("--group-by", "provider", "--breakdown", "model")
    split = run("report", "--period", "today", *by, env={"COLUMNS": "200"})
    assert split.returncode == 0, split.stderr
    [sub_row] = [line for line in split.stdout.splitlines() if "└─claude-unknown-9" in line]
    assert "unpriced" in sub_row and "$0.00" not in sub_row
    csv_out = run("report", "--period", "today", "--group-by", "model", "--csv").stdout
    assert "0E-9" not in csv_out
    [csv_row] = [line for line in csv_out.splitlines() if line.startswith("claude-unknown-9")]
    assert csv_row.split(",")[2] == "unpriced"
    exported = run("export", "--period", "today").stdout
    [export_row] = [line for line in exported.splitlines() if "claude-unknown-9" in line]
    assert ",unpriced," in export_row
    budget = run("budget", "set", "daily", "5", "--period", "day")
    assert budget.returncode == 0, budget.stderr
    listed = run("budget", "list").stdout
    assert "unpriced" in listed


def test_seat_fees_are_named_so_in_reports_rows_and_sub_rows(home: Path) -> None:
    """A seat fee's row of `report --group-by model` (agent, project, session) read "-" while its
    `--breakdown` sub-row read "seat fees", model_breakdown "(seat fees)" and the dashboard
    "(unknown)": one thing, four names. Every view now names it as vocabulary.SEAT_FEES."""
    from cost_mcp.analytics.vocabulary import SEAT_FEES

    added = run(
        "subscription", "add", "seat", "--vendor", "anthropic", "--amount", "31", "--start", "2026-03-01"
    )
    assert added.returncode == 0, added.stderr
    days = ("--start", "2026-03-01", "--end", "2026-03-02")
    for dim in ("model", "agent", "project", "session"):
        grouped = run("report", *days, "--group-by", dim, env={"COLUMNS": "200"})
        assert grouped.returncode == 0, grouped.stderr
        [row] = [line for line in grouped.stdout.splitlines() if "subscription" in line]
        # Columns are two spaces apart or more; the name has one inside.
        assert re.split(r"\s{2,}", row.strip())[:3] == [SEAT_FEES, "subscription", "-"], (dim, row)
    split = run("report", *days, "--breakdown", "model", env={"COLUMNS": "200"})
    assert split.returncode == 0, split.stderr
    [sub] = [line for line in split.stdout.splitlines() if "└─" in line]
    assert re.split(r"\s{2,}", sub.strip())[:2] == [f"└─{SEAT_FEES}", "-"], sub


def test_session_and_blocks_of_unpriced_calls_only_show_unpriced_never_zero(clock: None, home: Path) -> None:
    """`cost-mcp session` and `cost-mcp blocks` over calls that all lack a price: the cost, the
    burn rate and the projection say unpriced (null with --json), never $0.00."""
    from datetime import UTC, datetime, timedelta

    from tests.sources.claude_logs import assistant, session_file, write

    now = datetime.now(UTC)
    write(
        session_file(home / "claude", "dark"),
        *(
            assistant(
                f"m{i}",
                f"r{i}",
                (now - timedelta(minutes=ago)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                session="dark",
                model="claude-mystery-9",
                input=10,
                output=10,
            )
            for i, ago in enumerate((30, 10))
        ),
    )
    shown = run("session", "dark", env={"COLUMNS": "200"})
    assert shown.returncode == 0, shown.stderr
    assert "$0.00" not in shown.stdout
    [head] = [line for line in shown.stdout.splitlines() if line.startswith("session dark")]
    assert "unpriced" in head
    [rate] = [line for line in shown.stdout.splitlines() if line.startswith("burn rate")]
    assert rate == "burn rate: unpriced per hour"
    as_json = json.loads(run("session", "dark", "--json").stdout)
    assert (as_json["cost_usd"], as_json["burn_rate"]["cost_per_hour_usd"]) == (None, None)
    listed = run("blocks", "--token-limit", "1000", env={"COLUMNS": "200"})
    assert listed.returncode == 0, listed.stderr
    assert "$0.00" not in listed.stdout
    [row] = [
        line for line in listed.stdout.splitlines() if "active" in line and not line.startswith("active")
    ]
    assert row.rstrip().endswith("unpriced")
    [projected] = [line for line in listed.stdout.splitlines() if line.startswith("active block:")]
    assert "tokens, unpriced by" in projected and "/h" not in projected
    active = json.loads(run("blocks", "--json").stdout)["active"]
    assert (active["cost_usd"], active["projection"]["cost_usd"]) == (None, None)


def test_one_of_anything_is_counted_in_the_singular(clock: None, home: Path) -> None:
    """A session of one call read "1 calls over 0 min", and its ingest "1 files (...), 1 new calls":
    every count the CLI prints goes through one helper (output.counted)."""
    from datetime import UTC, datetime, timedelta

    from tests.sources.claude_logs import assistant, session_file, write

    at = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    write(
        session_file(home / "claude", "solo"), assistant("m1", "r1", at, session="solo", input=10, output=10)
    )
    ingested = run("ingest")
    assert ingested.returncode == 0, ingested.stderr
    assert ingested.stdout.startswith("1 file (1 new, ")
    assert "1 line, " in ingested.stdout
    assert "1 new call, 0 duplicate lines collapsed" in ingested.stdout
    shown = run("session", "solo", env={"COLUMNS": "200"})
    assert shown.returncode == 0, shown.stderr
    [head] = [line for line in shown.stdout.splitlines() if line.startswith("session solo")]
    assert ", 1 call over " in head
    assert not re.search(r"\b1 [a-z ]*[a-z]s\b", ingested.stdout + shown.stdout), (
        ingested.stdout + shown.stdout
    )


@pytest.mark.usefixtures("home")
def test_serve_in_a_terminal_says_it_is_waiting_for_a_client() -> None:
    import pty

    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cost_mcp"], stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    os.close(terminal)
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline().decode()
        assert "MCP server" in first and "waiting for a client" in first
        assert "cost-mcp report" in proc.stderr.readline().decode()
    finally:
        proc.kill()
        proc.communicate()
        os.close(controller)


def _terminal_hint(python: str | Path, lines: int) -> list[str]:
    """The first ``lines`` lines `cost-mcp` alone prints on a terminal, run by ``python``."""
    import pty

    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [str(python), "-m", "cost_mcp"], stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    os.close(terminal)
    try:
        assert proc.stderr is not None
        return [proc.stderr.readline().decode() for _ in range(lines)]
    finally:
        proc.kill()
        proc.communicate()
        os.close(controller)


def test_serve_from_uvx_in_a_terminal_names_uvx_not_its_cache(home: Path) -> None:
    """`uvx cost-mcp` typed in a terminal said to run `claude mcp add cost-mcp -- ~/.cache/uv/
    archive-v0/<id>/bin/cost-mcp`: a path `uv cache clean` deletes, after which Claude Code fails to
    connect. It now names `uvx cost-mcp` (or `pipx run cost-mcp`), which lasts, and says why."""
    cache = home / "cache" / "uv"
    lines = _terminal_hint(temporary_environment(cache), 4)
    assert lines[1].startswith("To see your spend run `cost-mcp report`")
    hint = " ".join(" ".join(lines[2:]).split())
    assert hint.startswith("`claude mcp add cost-mcp -- uvx cost-mcp` (or `-- pipx run cost-mcp`)")
    assert str(cache) in hint and "archive-v0" not in hint


@pytest.mark.usefixtures("home")
def test_forget_pushes_with_no_range_asks_on_a_terminal_first() -> None:
    """`team forget-pushes --member ana` with no range removed everything Ana had sent, unasked. On
    a terminal it now shows what that is per source and asks; "n" removes nothing, "y" removes it."""
    import pty

    from cost_mcp.pricing import Pricer, Tokens
    from cost_mcp.sources.reported import record_call
    from cost_mcp.store import connect

    db = load_settings().db
    conn = connect(db)
    try:
        # What Ana's agent reported over /mcp with her token: held nowhere else.
        record_call(
            conn,
            Pricer(),
            provider="openai",
            model="gpt-4o",
            tokens=Tokens(input=100_000),
            agent="a",
            member="ana@x.io",
        )
        conn.commit()
    finally:
        conn.close()

    def answered(answer: bytes) -> tuple[int, str]:
        controller, terminal = pty.openpty()
        proc = subprocess.Popen(
            [sys.executable, "-m", "cost_mcp", "team", "forget-pushes", "--member", "ana@x.io"],
            stdin=terminal,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "COLUMNS": "400"},
        )
        os.close(terminal)
        try:
            os.write(controller, answer)
            _, err = proc.communicate(timeout=120)
        finally:
            os.close(controller)
        return proc.returncode, " ".join(err.decode().split())

    def left() -> int:
        conn = connect(db)
        try:
            return int(conn.execute("SELECT count(*) FROM usage_events").fetchone()[0])
        finally:
            conn.close()

    code, said = answered(b"n\n")
    assert code != 0 and left() == 1, said
    assert "record_usage 1 row(s) $0.25" in said and "dry run" not in said
    assert "Forget everything ana@x.io ever pushed (1 row(s), $0.25)? This server keeps no copy" in said
    code, said = answered(b"y\n")
    assert code == 0 and left() == 0, said
    assert "forgot 1 row(s) of ana@x.io, $0.25" in said
    assert "to undo: this server keeps no copy: `cost-mcp team unforget-pushes --member ana@x.io`" in said


@pytest.mark.usefixtures("home")
def test_serve_on_a_pipe_keeps_stderr_quiet_of_the_hint() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "cost_mcp"], input="", capture_output=True, text=True, timeout=60, check=False
    )
    assert "waiting for a client" not in proc.stderr
    assert proc.stdout == ""


@pytest.mark.usefixtures("home")
def test_a_bad_setting_is_one_line_in_report_and_doctor() -> None:
    report = run("report", env={"COST_MCP_TIMEZONE": "Paris"})
    assert report.returncode == 0, report.stderr
    assert "Traceback" not in report.stderr
    warning = [line for line in report.stderr.splitlines() if "COST_MCP_TIMEZONE" in line]
    assert warning == [warning[0]] and "Europe/Paris" in warning[0]
    doctor = run("doctor", env={"COST_MCP_TIMEZONE": "Paris"})
    assert doctor.returncode == 1 and "Traceback" not in doctor.stderr
    assert "COST_MCP_TIMEZONE='Paris'" in doctor.stdout


@pytest.mark.usefixtures("home")
def test_subscription_add_over_an_existing_one_says_past_fees_change() -> None:
    """Setting the same name again with a new amount recounts every past day: said on stderr, with
    the way to change a plan from a day on; the first add and an unchanged one say nothing."""
    seat = ("--vendor", "anthropic", "--start", "2026-01-01")
    first = run("subscription", "add", "max", "--amount", "200", *seat)
    assert first.returncode == 0 and first.stderr == ""
    same = run("subscription", "add", "max", "--amount", "200", *seat)
    assert same.returncode == 0 and same.stderr == ""
    cheaper = run("subscription", "add", "max", "--amount", "100", *seat)
    assert cheaper.returncode == 0
    assert cheaper.stdout == "subscription 'max': anthropic, $100.00 monthly from 2026-01-01\n"
    said = " ".join(cheaper.stderr.split())
    assert said.startswith("note: subscription 'max' replaced: its fees from 2026-01-01 to ")
    assert " change by -$" in said and "give the old one an --end (the day before)" in said


@pytest.mark.usefixtures("home")
def test_subscription_remove_says_what_it_takes_out_of_past_reports() -> None:
    """Removing a plan that ran takes every fee it counted out of every report, reconciled months
    too: the removal says how much, and that --end stops it from a day on instead."""
    assert (
        run(
            "subscription", "add", "max", "--vendor", "anthropic", "--amount", "200", "--start", "2026-01-01"
        ).returncode
        == 0
    )
    removed = run("subscription", "remove", "max")
    assert removed.returncode == 0
    assert removed.stdout == "removed subscription 'max'\n"
    said = " ".join(removed.stderr.split())
    assert said.startswith("note: the $") and "its fees had counted up to " in said
    assert "left every report" in said and "set it again with --end (its last day)" in said
    assert (
        run(
            "subscription", "add", "later", "--vendor", "x", "--amount", "5", "--start", "2099-01-01"
        ).returncode
        == 0
    )
    assert run("subscription", "remove", "later").stderr == ""  # nothing counted yet: nothing to say


def test_report_and_compare_of_unpriced_calls_only_never_show_zero(clock: None, home: Path) -> None:
    """A month whose every call is on a model with no known price: `compare` showed "calls at list
    price $0.00", "calls 0" and "change: $0.00" as if nothing had been used, and `report --json` gave
    `total_usd: 0` with nothing beside it; both now say the calls are unpriced and how many."""
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    write(
        session_file(home / "claude", "dark"),
        *(
            assistant(
                f"m{i}", f"r{i}", now.strftime("%Y-%m-%dT%H:%M:%S.000Z"), model="claude-mystery-9", input=10
            )
            for i in range(2)
        ),
    )
    as_json = json.loads(run("report", "--period", "today", "--json").stdout)
    assert (as_json["total_usd"], as_json["unpriced_requests"]) == (0, 2)
    assert run("budget", "set", "daily", "5", "--period", "day").returncode == 0
    budgets = run("budget", "status", env={"COLUMNS": "200"})
    [daily] = [line for line in budgets.stdout.splitlines() if line.startswith("daily")]
    # limit, spent, left, %, projected: none reads as if the budget were unused
    assert daily.split()[4:9] == ["$5.00", "unpriced", "≤$5.00", "≥0.0", "unpriced"], daily
    compared = run("compare", "--before", "yesterday", "--after", "today", env={"COLUMNS": "200"})
    assert compared.returncode == 0, compared.stderr
    lines = compared.stdout.splitlines()
    [price] = [line for line in lines if line.strip().startswith("calls at list price")]
    assert price.split()[-1] == "unpriced", price
    [calls] = [line for line in lines if line.split()[:1] == ["calls"] and "list price" not in line]
    assert calls.split()[-4:] == ["0", "+", "2", "unpriced"], calls
    [change] = [line for line in lines if line.startswith("change:")]
    assert change == "change: $0.00 of priced calls; 2 unpriced calls left out"


@pytest.mark.usefixtures("home")
@pytest.mark.sqlite_only  # about an SQLite file's and its folder's modes
def test_a_new_data_folder_and_ledger_are_the_users_only(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ledger holds who spent what on which projects (and held webhook URLs before m044), yet
    the data folder and ledger were made with the umask's modes (0755, 0644): any user of the
    machine could read them. New ones are owner-only; doctor names an older one, with the fix."""
    monkeypatch.delenv("COST_MCP_DB")
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "xdg"))
    folder = home / "xdg" / "cost-mcp"
    previous = os.umask(0o022)
    try:
        made = run(
            "budget",
            "set",
            "daily",
            "5",
            "--period",
            "day",
            "--webhook",
            "https://hooks.slack.com/services/T0/B0/CANARY",
            "--confirm-webhook-url",
        )
    finally:
        os.umask(previous)
    assert made.returncode == 0, made.stderr
    assert oct(folder.stat().st_mode & 0o777) == oct(0o700)
    assert oct((folder / "cost.db").stat().st_mode & 0o777) == oct(0o600)
    assert {oct(p.stat().st_mode & 0o777) for p in folder.iterdir()} == {oct(0o600)}  # -wal, -shm too
    assert "can be read by other users" not in run("doctor", env={"COLUMNS": "400"}).stdout

    # One made before (or by hand) keeps its mode: doctor says so and how to fix it.
    folder.chmod(0o755)
    (folder / "cost.db").chmod(0o644)
    doctor = run("doctor", env={"COLUMNS": "400"})
    assert oct(folder.stat().st_mode & 0o777) == oct(0o755)
    assert (
        f"the data folder {folder} can be read by other users of this machine (mode 755), and it may hold "
        f"secrets (webhook URLs, keys): make it yours only with `chmod 700 {folder}`"
    ) in one_line(doctor.stdout)
    assert f"`chmod 600 {folder / 'cost.db'}`" in one_line(doctor.stdout)
    env_file = home / "config" / "env"
    env_file.parent.mkdir(parents=True, exist_ok=True)
    env_file.write_text("OPENAI_ADMIN_KEY=sk-admin-CANARY-0123456789\n", encoding="utf-8")
    env_file.chmod(0o640)
    # `budget set --webhook` made its folder owner-only (where it keeps the URL), which keeps others
    # out of a readable file in it too: opened up, as a folder made by hand with the umask's mode.
    env_file.parent.chmod(0o755)
    assert f"the env file {env_file} can be read by other users" in one_line(
        run("doctor", env={"COLUMNS": "400"}).stdout
    )


@pytest.mark.sqlite_only  # about the env file's and its folder's modes
def test_an_env_file_in_a_folder_only_its_owner_enters_is_not_said_to_be_readable(home: Path) -> None:
    """QA (h-qateam4): a member following README's team steps (`mkdir -p ~/.config/cost-mcp && chmod
    700 ~/.config/cost-mcp`, then an editor writes the env file with the umask's 0644) was warned by
    the `cost-mcp doctor` those steps end with that the env file "can be read by other users of this
    machine (mode 644)": no other user opens a file in a folder only its owner may enter. Doctor warns
    once the folder lets others in."""
    env_file = home / "config" / "env"
    env_file.parent.mkdir(parents=True, exist_ok=True)
    env_file.parent.chmod(0o700)
    env_file.write_text("COST_MCP_TEAM_TOKEN=cmt_CANARY\n", encoding="utf-8")
    env_file.chmod(0o644)
    said = f"the env file {env_file} can be read by other users of this machine (mode 644)"
    assert said not in one_line(run("doctor", env={"COLUMNS": "400"}).stdout)
    env_file.parent.chmod(0o711)  # others may enter, though not list: the file's own mode decides
    assert said in one_line(run("doctor", env={"COLUMNS": "400"}).stdout)


@pytest.mark.sqlite_only  # about log folders; root without the capabilities cannot reach PostgreSQL
@pytest.mark.usefixtures("clock")
def test_budgets_and_rows_unreadable_logs_may_be_in_read_as_bounds(home: Path) -> None:
    """With a project folder the last read could not open, `budget status` said PARTIAL under its
    table yet an all-scope budget's and a Claude Code budget's rows read "$0.0045 ... ok" as sure
    figures (a budget's complete weighed bills only), and `report --group-by agent` read the
    claude-code row "$0.0045" under a total of "≥$0.0045". Those rows now say at least (≥, ≤), the
    note says why; a budget of OpenAI's bill, which those logs cannot touch, stays plain, and so
    does all once the folder is read. So does a budget of agent "Claude Code": agents' names match
    exactly (budgets.applies), so it counts none of claude-code's calls, yet a local spelling rule
    of the log-gap check read it as claude-code's and marked it."""
    hidden = a_call_and_a_project_to_hide(home / "claude")
    for args in (
        ("all", "100"),
        ("local", "100", "--agent", "claude-code"),
        ("openai", "100", "--provider", "openai"),
        ("spelt", "100", "--agent", "Claude Code"),
    ):
        assert run("budget", "set", *args).returncode == 0

    def rows(out: str, names: Sequence[str]) -> dict[str, list[str]]:
        # name, period ("month from DAY"), limit, spent, left, %, projected, status
        return {c[0]: c[4:9] for c in (line.split() for line in out.splitlines()) if c and c[0] in names}

    hidden.chmod(0)
    try:
        status = restricted("budget", "status")
        as_json = json.loads(restricted("budget", "status", "--json").stdout)
        report = restricted("report", "--group-by", "agent")
    finally:
        hidden.chmod(0o755)
    said = one_line(status.stdout)
    assert status.returncode == 0 and "PARTIAL: claude_code logs: the last read could not open" in said, said
    budgets = rows(status.stdout, ("all", "local", "openai", "spelt"))
    # The projection (last) carries spent over the month from the hours so far: at least, too.
    assert budgets["all"][:4] == budgets["local"][:4] == ["$100.00", "≥$0.0045", "≤$100.00", "≥0.0"], budgets
    assert budgets["all"][4].startswith("≥$") and budgets["local"][4].startswith("≥$"), budgets
    assert budgets["openai"] == budgets["spelt"] == ["$100.00", "$0.00", "$100.00", "0.0", "$0.00"], budgets
    assert "≥ at least, ≤ at most: claude_code log files the budget counts could not be opened" in said, said
    lacking = {b["budget"]["name"]: (b["complete"], b["lacking"]) for b in as_json["budgets"]}
    assert lacking == {
        "all": (False, ["claude_code log files the budget counts could not be opened"]),
        "local": (False, ["claude_code log files the budget counts could not be opened"]),
        "openai": (True, []),
        "spelt": (True, []),
    }, lacking
    agent = next(line.split() for line in report.stdout.splitlines() if line.startswith(" claude-code"))
    assert report.stdout.splitlines()[0].endswith(": ≥$0.0045") and agent[6] == "≥$0.0045", report.stdout

    read = run("budget", "status")  # this process reads the folder: nothing is missing now
    budgets = rows(read.stdout, ("all", "local"))
    assert budgets["all"][:4] == ["$100.00", "$0.0090", "$99.99", "0.0"], read.stdout
    assert "≥" not in read.stdout and "PARTIAL" not in read.stdout, read.stdout
