"""A user's own files and Claude Code's status-line input, odd or hostile: never waited on, never
breaking the line Claude Code shows."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from cost_mcp.analytics.plan_limits import plan_limits
from cost_mcp.store.connection import Conn


def _cli(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``cost-mcp ARGS`` in a process of its own: one that hangs fails the test instead of the run."""
    return subprocess.run(
        [sys.executable, "-m", "cost_mcp", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "300", **env},
        timeout=60,
        check=False,
    )


def test_a_pipe_at_the_prices_file_path_is_named_not_waited_on(home: Path, tmp_path: Path) -> None:
    pipe = tmp_path / "prices.toml"
    os.mkfifo(pipe)
    ran = _cli("report", env={"COST_MCP_PRICES_FILE": str(pipe)})
    assert ran.returncode == 2, ran.stderr
    assert f"price override file {pipe} is not a regular file" in ran.stderr
    # The status line, which Claude Code runs on every prompt, still shows.
    line = _cli("statusline", env={"COST_MCP_PRICES_FILE": str(pipe)}, stdin="{}")
    assert line.returncode == 0 and "today" in line.stdout, line.stderr


def test_a_pipe_at_the_env_file_or_claude_settings_path_is_not_waited_on(home: Path, tmp_path: Path) -> None:
    pipe = tmp_path / "env"
    os.mkfifo(pipe)
    os.mkfifo(home / "claude" / "settings.json")
    ran = _cli("doctor", env={"COST_MCP_ENV_FILE": str(pipe)})
    assert f"{pipe} is not a regular file" in " ".join(ran.stdout.split()), ran.stdout + ran.stderr
    assert _cli("report", env={"COST_MCP_ENV_FILE": str(pipe)}).returncode == 0


@pytest.mark.parametrize("resets_at", ["1e300", "1e400", "-1e20", "253402300800", "NaN", "true"])
def test_an_unusable_plan_limit_reset_time_leaves_the_status_line_whole(
    home: Path, conn: Conn, resets_at: str
) -> None:
    """Claude Code's status-line JSON with a reset time no clock can show (or no number at all):
    the window shows without it, and its reading is kept without a reset time."""
    limits = f'{{"five_hour": {{"used_percentage": 50, "resets_at": {resets_at}}}}}'
    ran = _cli("statusline", env={"NO_COLOR": "1"}, stdin=f'{{"session_id": "s1", "rate_limits": {limits}}}')
    assert ran.returncode == 0 and ran.stderr == ""
    assert ran.stdout.rstrip().endswith("5h limit 50% used"), ran.stdout
    readings = plan_limits(conn, days=1)
    assert [(w.window, w.used_percent, w.resets_at) for w in readings.windows] == [("five_hour", 50.0, None)]


@pytest.mark.parametrize("used", ["-5", "-0.4", "-1e300"])
def test_a_negative_plan_limit_reading_is_neither_shown_nor_kept(home: Path, conn: Conn, used: str) -> None:
    """Claude Code's status-line JSON with a used percentage below zero showed "7d -5%", read as a
    fall over seven days or an error: no share of a limit is used below nothing, so the window is
    left out of the line and of the readings, and the other window still shows, in plain words."""
    limits = f'{{"five_hour": {{"used_percentage": 12.9}}, "seven_day": {{"used_percentage": {used}}}}}'
    ran = _cli("statusline", env={"NO_COLOR": "1"}, stdin=f'{{"session_id": "s1", "rate_limits": {limits}}}')
    assert ran.returncode == 0 and ran.stderr == ""
    assert ran.stdout.rstrip().endswith(" · 5h limit 12% used"), ran.stdout
    assert "7d" not in ran.stdout and "-" not in ran.stdout.split("today", 1)[1], ran.stdout
    readings = plan_limits(conn, days=1)
    assert [(w.window, w.used_percent) for w in readings.windows] == [("five_hour", 12.9)]


def test_ingesting_a_pipe_says_what_it_is_and_does_not_wait(home: Path, tmp_path: Path) -> None:
    pipe = tmp_path / "x.jsonl"
    os.mkfifo(pipe)
    ran = _cli("ingest", str(pipe), env={})
    assert ran.returncode == 2
    assert f"{pipe} is not a file or folder; give a Claude folder" in " ".join(ran.stderr.split())


def test_importing_a_billing_export_from_a_pipe_says_so_and_does_not_wait(home: Path, tmp_path: Path) -> None:
    """``import google-billing <(gsutil cat ...)`` hands over a pipe: named, with what to do instead."""
    pipe = tmp_path / "billing.csv"
    os.mkfifo(pipe)
    ran = _cli("import", "google-billing", str(pipe), env={})
    assert ran.returncode == 2, ran.stderr
    message = " ".join(ran.stderr.split())
    assert f"{pipe} is not a regular file (a pipe, socket or device): save the Cloud Billing" in message


def test_a_pipe_as_the_google_credentials_file_is_refused_not_waited_on(home: Path, tmp_path: Path) -> None:
    pipe = tmp_path / "key.json"
    os.mkfifo(pipe)
    env = {"GOOGLE_APPLICATION_CREDENTIALS": str(pipe), "COST_MCP_GOOGLE_BILLING_TABLE": "p.d.t"}
    ran = _cli("sync", "--provider", "google", env=env)
    out = " ".join((ran.stdout + ran.stderr).split())
    assert "GOOGLE_APPLICATION_CREDENTIALS names a pipe, socket or device, not a file" in out, out


def test_a_pipe_at_claude_settings_is_named_by_setup_not_waited_on(home: Path) -> None:
    settings_json = home / "claude" / "settings.json"
    os.mkfifo(settings_json)
    ran = _cli("statusline", "--install", "--yes", env={})
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert f"{settings_json} is not a regular file" in " ".join(ran.stderr.split())


def test_a_blank_timezone_is_the_systems_without_a_warning(home: Path) -> None:
    """`claude mcp add -e COST_MCP_TIMEZONE=` warned "not usable" on every command."""
    ran = _cli("report", "--period", "today", env={"COST_MCP_TIMEZONE": "", "TZ": "Asia/Kolkata"})
    assert ran.returncode == 0 and ran.stderr == "", ran.stderr


@pytest.mark.sqlite_only
@pytest.mark.parametrize("odd", ["c#", "what?", "100%41"])
def test_a_folder_name_sqlite_reads_as_a_uri_neither_leaves_a_file_nor_opens_another(
    home: Path, tmp_path: Path, odd: str
) -> None:
    """QA (h-qasec): a ledger or OpenCode folder named ``c#`` or ``what?`` was opened as the SQLite
    URI ``file:.../c#/opencode.db?mode=ro``, which SQLite cut at the ``#`` (or ``?``): it opened
    ``.../c`` for writing, leaving an empty file there, and never read the database (``100%41``
    opened ``100A`` instead). Each is opened by its own name, read-only, and nothing is made."""
    import json
    import sqlite3

    root = tmp_path / "odd"
    ledger, opencode = root / f"ledger-{odd}" / "cost.db", root / f"opencode-{odd}"
    ledger.parent.mkdir(parents=True)
    opencode.mkdir()
    message = {
        "id": "msg_a1",
        "sessionID": "ses_1",
        "role": "assistant",
        "time": {"created": 1795680000000},
        "modelID": "gpt-4o",
        "providerID": "openai",
        "cost": 0,
        "tokens": {"input": 400_000, "output": 0, "reasoning": 0, "cache": {"read": 0, "write": 0}},
    }
    conn = sqlite3.connect(opencode / "opencode.db")
    conn.execute("CREATE TABLE message (id TEXT PRIMARY KEY, session_id TEXT NOT NULL, data TEXT)")
    conn.execute("INSERT INTO message VALUES (?, ?, ?)", ("msg_a1", "ses_1", json.dumps(message)))
    conn.commit()
    conn.close()
    env = {"COST_MCP_DB": str(ledger), "OPENCODE_DATA_DIR": str(opencode)}

    ran = _cli("report", "--agent", "opencode", "--period", "2026-11", "--json", env=env)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["total_usd"] == 1, ran.stdout
    assert _cli("doctor", env=env).returncode in (0, 1)
    assert sorted(p.name for p in root.iterdir()) == sorted([ledger.parent.name, opencode.name])


def test_a_pipe_beside_an_agents_database_is_named_not_waited_on(home: Path) -> None:
    """A FIFO named ``sessions.db-journal`` beside Goose's database: SQLite opens a rollback journal
    it finds beside a database to see whether it is hot, and opening a pipe waits for a writer, so
    every refresh (the MCP server's tools, ``report``) hung for good. The database is left unread,
    named with its pipe; its calls are read once the pipe is gone."""
    folder = home / "goose" / "data" / "sessions"
    folder.mkdir(parents=True)
    db = sqlite3.connect(folder / "sessions.db")
    db.execute("CREATE TABLE sessions (id TEXT PRIMARY KEY)")
    db.commit()
    db.close()
    pipe = folder / "sessions.db-journal"
    os.mkfifo(pipe)
    ran = _cli("report", "--json", env={})
    assert ran.returncode == 0, ran.stderr
    assert f"{pipe} is not a regular file" in " ".join(ran.stdout.split()), ran.stdout
    pipe.unlink()
    again = _cli("report", "--json", env={})
    assert again.returncode == 0 and "sessions.db-journal" not in again.stdout, again.stdout
