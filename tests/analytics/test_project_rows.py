"""A breakdown by project names each folder once, from real log files in a real ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cost_mcp.analytics import savings, spend
from cost_mcp.config import Settings
from cost_mcp.pricing import Pricer
from cost_mcp.sources.claude_code import ingest
from cost_mcp.store import connect
from tests.sources.claude_logs import assistant, session_file, write

WHEN = (datetime.now(UTC) - timedelta(hours=3)).replace(microsecond=0)


def _line(message: str, cwd: str | None, minutes: int, output: int) -> dict[str, Any]:
    line = assistant(message, "req_" + message, _ts(minutes), output=output)
    line["cwd"] = cwd
    return line


def _ts(minutes: int) -> str:
    return (WHEN + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def _by_project(settings: Settings, *, as_logged: bool = False) -> dict[str | None, tuple[int | None, Any]]:
    conn = connect(settings.db)
    try:
        ingest(conn, settings, Pricer())
        p = spend.resolve(settings, "last_7_days", None, None, None)
        result = spend.get_spend(
            conn, settings, p, ["project"], spend.Filters(), take_alerts=False, models_as_logged=as_logged
        )
    finally:
        conn.close()
    return {r.group["project"]: (r.requests, r.cost_usd) for r in result.rows}


def test_a_folder_logged_with_and_without_its_cwd_is_one_row(home: Path, settings: Settings) -> None:
    """Claude Code writes ``"cwd": null`` on some lines; their calls are stored under the folder's
    slug, and the breakdown showed one folder as two rows: ``/home/dev/app`` and ``-home-dev-app``.
    It is now one row, under the path, holding both calls. A slug no path of the period has stays
    as it is, and so does one two paths share (``/home/dev/a-b`` and ``/home/dev/a/b``). An export
    (``models_as_logged``) still names what each log line said."""
    claude = home / "claude"
    write(
        session_file(claude, "s1", "-home-dev-app"),
        _line("m1", "/home/dev/app", 0, 100),
        _line("m2", None, 1, 200),
    )
    write(session_file(claude, "s2", "-home-dev-other"), _line("m3", None, 2, 300))
    write(session_file(claude, "s3", "-home-dev-a-b"), _line("m4", "/home/dev/a-b", 3, 400))
    write(session_file(claude, "s4", "-home-dev-a-b"), _line("m5", "/home/dev/a/b", 4, 500))
    write(session_file(claude, "s5", "-home-dev-a-b"), _line("m6", None, 5, 600))
    logged = _by_project(settings, as_logged=True)
    shown = _by_project(settings)
    assert {k: v[0] for k, v in logged.items()} == {
        "/home/dev/app": 1,
        "-home-dev-app": 1,
        "-home-dev-other": 1,
        "/home/dev/a-b": 1,
        "/home/dev/a/b": 1,
        "-home-dev-a-b": 1,
    }
    assert {k: v[0] for k, v in shown.items()} == {
        "/home/dev/app": 2,
        "-home-dev-other": 1,
        "/home/dev/a-b": 1,
        "/home/dev/a/b": 1,
        "-home-dev-a-b": 1,
    }
    assert shown["/home/dev/app"][1] == logged["/home/dev/app"][1] + logged["-home-dev-app"][1]
    assert sum(v[1] for v in shown.values()) == sum(v[1] for v in logged.values())


def test_compare_names_a_folder_once_on_both_sides(home: Path, settings: Settings) -> None:
    """compare's rows by project: a folder whose calls were stored under its path before and under
    its slug after (lines with ``"cwd": null``) is one row that changed, not one gone and one new."""
    claude = home / "claude"
    write(session_file(claude, "s1", "-home-dev-app"), _line("m1", "/home/dev/app", -60 * 24 * 2, 100))
    write(session_file(claude, "s2", "-home-dev-app"), _line("m2", None, 0, 200))
    conn = connect(settings.db)
    try:
        ingest(conn, settings, Pricer())
        before = spend.resolve(settings, (WHEN - timedelta(days=2)).date().isoformat(), None, None, None)
        after = spend.resolve(settings, WHEN.date().isoformat(), None, None, None)
        compared = savings.compare_periods(conn, settings, Pricer(), before, after, ["project"])
    finally:
        conn.close()
    assert [(r.group["project"], r.before_calls, r.after_calls) for r in compared.rows] == [
        ("/home/dev/app", 1, 1)
    ]
