"""Names a log line or a record_usage call carries, in every CSV a spreadsheet may open: a cell that
would start a formula is neutralised (OWASP), and quotes, commas and line breaks stay one cell; the
JSON export keeps every name exactly as recorded."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from mcp import Client

from tests.test_cli import run

pytestmark = pytest.mark.anyio

HOSTILE = {
    "agent": '=HYPERLINK("http://evil.example","x")',
    "project": "+cmd|' /C calc'!A0",
    "session": "@SUM(1+1)*cmd|' /C calc'!A0",
}
AWKWARD = {"agent": 'say "hi", then, go', "project": "-2+3", "session": "line one\nline two"}
CONTROL = {"agent": "\t=1+2", "project": "\r=1+2", "session": "tab-and-cr"}


@pytest.mark.usefixtures("home")
async def test_export_neutralises_formulas_and_keeps_quotes_commas_and_lines_in_one_cell(
    client: Client, tmp_path: Path
) -> None:
    base = {"provider": "anthropic", "model": "claude-sonnet-4-5", "input_tokens": 10, "output_tokens": 1}
    for i, names in enumerate((HOSTILE, AWKWARD, CONTROL)):
        done = await client.call_tool(
            "record_usage", {**base, **names, "request_id": f"csv-{i}", "timestamp": "2026-11-03T10:00:00Z"}
        )
        assert done.is_error is False, done.content
    target = tmp_path / "calls.csv"
    assert run("export", "--period", "2026-11", "-o", str(target)).returncode == 0
    with target.open(encoding="utf-8", newline="") as f:
        rows = {r["session"]: r for r in csv.DictReader(f)}
    hostile = rows["'" + HOSTILE["session"]]
    assert (hostile["agent"], hostile["project"]) == ("'" + HOSTILE["agent"], "'" + HOSTILE["project"])
    # No cell a spreadsheet would run: each begins with none of = + - @ tab CR unless it is a number.
    for row in rows.values():
        for cell in row.values():
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), cell
            assert not cell.startswith("-") or cell.lstrip("-").replace(".", "").isdigit(), cell
    # A line break is shown as an escape (a CSV printed on a terminal must not move its cursor), and
    # quotes and commas stay inside their one cell.
    awkward = rows["line one\\nline two"]
    assert (awkward["agent"], awkward["project"]) == (AWKWARD["agent"], "'-2+3")
    # OWASP's tab and carriage return: written as the visible escapes every control character is.
    control = rows["tab-and-cr"]
    assert (control["agent"], control["project"]) == ("\\t=1+2", "\\r=1+2")
    as_json = run("export", "--period", "2026-11", "--format", "json")
    exact = {r["session"]: r for r in json.loads(as_json.stdout)}
    assert exact[HOSTILE["session"]]["agent"] == HOSTILE["agent"]
    assert exact[AWKWARD["session"]]["project"] == AWKWARD["project"]
    report = run("report", "--period", "2026-11", "--group-by", "project", "--csv")
    projects = [r[0] for r in csv.reader(io.StringIO(report.stdout))][1:]
    assert "'" + HOSTILE["project"] in projects and "'-2+3" in projects
