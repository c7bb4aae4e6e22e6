"""`cost-mcp ingest` prints the ingest tool's result without loading pydantic: its JSON must stay the
model's JSON, and its start must stay free of the settings model and the result models."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from pathlib import Path

from cost_mcp.config import load_settings
from cost_mcp.models import ForgetSummary, IngestResult
from cost_mcp.sources.claude_code import ForgetReport, IngestReport
from tests.sources.claude_logs import assistant, session_file, user, write
from tests.sources.test_agents import CODEX_CALLS, FIXTURES, as_rows, rows
from tests.test_cli import imported, run

STAMP = "2026-11-02T10:00:00.000Z"  # any fixed moment: nothing here depends on today


def _logs(home: Path) -> Path:
    """Two sessions, one in a project whose name is not ASCII, with a duplicate, an unpriced model
    and a malformed line, so that every part of the result has something in it."""
    claude = home / "claude"
    write(
        session_file(claude, "s1", project="-home-dév-app"),
        assistant("msg_1", "req_1", STAMP),
        assistant("msg_1", "req_1", STAMP),
        user(STAMP),
    )
    other = write(session_file(claude, "s2"), assistant("msg_2", "req_2", STAMP, model="no-such-modèle"))
    with other.open("a", encoding="utf-8") as f:
        f.write("{not json\n")
    return claude


def test_the_plain_report_has_the_models_fields_in_their_order() -> None:
    assert [f.name for f in dataclasses.fields(IngestReport)] == list(IngestResult.model_fields)
    assert [f.name for f in dataclasses.fields(ForgetReport)] == list(ForgetSummary.model_fields)


def test_ingest_json_is_the_ingest_results_json(home: Path) -> None:
    claude = _logs(home)
    done = run("ingest", "--json")
    assert done.returncode == 0, done.stderr
    read = IngestResult.model_validate_json(done.stdout)
    assert done.stdout == read.model_dump_json(indent=2) + "\n"
    assert (read.events_added, read.duplicates_collapsed, read.skipped["malformed"]) == (2, 1, 1)
    assert read.unpriced_models == {"no-such-modèle": 1}
    assert "modèle" in done.stdout  # as the model writes it: UTF-8, not \u escapes

    forgot = run("ingest", "--json", "--forget", str(claude / "projects" / "-home-dév-app"))
    assert forgot.returncode == 0, forgot.stderr
    result = IngestResult.model_validate_json(forgot.stdout)
    assert forgot.stdout == result.model_dump_json(indent=2) + "\n"
    assert result.forgotten is not None and result.forgotten.events_removed == 1
    assert result.forgotten.warnings  # the path lies inside the configured folder
    assert "dév" in forgot.stdout


def test_ingest_table(home: Path) -> None:
    _logs(home)
    done = run("ingest", env={"COLUMNS": "400"})  # wide enough that no line is wrapped
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert re.fullmatch(
        r"2 files \(2 new, 0 grown, 0 re-read, 0 unchanged\), 5 lines, 0\.0 MB in \d+\.\d\ds", lines[0]
    )
    assert lines[1:] == [
        "2 new calls, 1 duplicate line collapsed",
        "skipped: malformed 1",
        f"no price for no-such-modèle (1 call): add it to {os.environ['COST_MCP_PRICES_FILE']}",
    ]


def test_ingest_warns_of_an_unusable_setting_it_reads(home: Path) -> None:
    _logs(home)
    done = run("ingest", env={"COST_MCP_MAX_LINE_BYTES": "12"})
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "COST_MCP_MAX_LINE_BYTES" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning: setting COST_MCP_MAX_LINE_BYTES='12'")


def test_ingest_starts_without_the_settings_model_or_the_result_models(home: Path) -> None:
    """A second `cost-mcp ingest` over unchanged logs (the command people time) imports no pydantic:
    not for its settings, not for its result; the first imports it only to price new calls."""
    _logs(home)
    heavy = ("pydantic", "pydantic_settings", "cost_mcp.config", "cost_mcp.models", "mcp")
    first = imported(["ingest", "--json"], heavy)
    assert not {"pydantic_settings", "cost_mcp.config", "cost_mcp.models", "mcp"} & first
    assert imported(["ingest", "--json"], heavy) == set()


def test_ingest_of_a_codex_home_starts_without_the_settings_model(home: Path) -> None:
    """A Codex user's `cost-mcp ingest` (no Claude Code folder, so the agents' folders are read)
    loaded pydantic-settings and the whole settings model (~0.2 s of its start) to learn where
    CODEX_HOME is; the agents' folders are now read as the Claude Code path reads its settings."""
    shutil.rmtree(home / "claude")
    shutil.copytree(FIXTURES / "codex", home / "codex")
    assert imported(["ingest", "--json"], ("pydantic_settings", "cost_mcp.config")) == set()
    assert rows(load_settings(), "codex") == as_rows(CODEX_CALLS, "codex", "openai")
    # Over the same files unchanged, nothing is priced: no pydantic at all, as for Claude Code's.
    assert (
        imported(["ingest", "--json"], ("pydantic", "pydantic_settings", "cost_mcp.config", "mcp")) == set()
    )


def test_ingest_refuses_a_named_file_that_is_not_a_log_and_stores_nothing(home: Path, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("root:x:0:0:root:/root:/bin/bash\n", encoding="utf-8")
    done = run("ingest", str(notes))
    assert done.returncode != 0
    assert "notes.txt is not a Claude Code log" in done.stderr and ".jsonl" in done.stderr
    # Nothing was stored: the next answer has no skipped lines to carry.
    report = run("report", "--json")
    assert report.returncode == 0, report.stderr
    assert "skipped" not in report.stdout and "malformed" not in report.stdout

    log = write(tmp_path / "copy.jsonl", assistant("msg_1", "req_1", STAMP))
    named = run("ingest", "--json", str(log))
    assert named.returncode == 0, named.stderr
    assert IngestResult.model_validate_json(named.stdout).events_added == 1


def test_ingest_of_a_folder_with_no_log_file_says_so(home: Path) -> None:
    """`cost-mcp ingest ~/.config/claude` (a Claude folder with no projects/ yet) or any folder with
    no .jsonl file said "0 files (...), 0 new calls", as if its logs had been read and held nothing
    new; it now says that nothing there is a Claude Code log, and what to give instead."""
    empty = home / "not-logs"
    empty.mkdir()
    (empty / "notes.txt").write_text("nothing here\n", encoding="utf-8")
    done = run("ingest", str(empty), env={"COLUMNS": "400"})
    assert done.returncode == 0, done.stderr
    assert f"no Claude Code log (.jsonl file) under {empty}" in done.stdout
    assert "give a Claude folder (e.g. ~/.claude)" in done.stdout
    # A folder whose logs are all read already is not such a folder.
    _logs(home)
    assert run("ingest", env={"COLUMNS": "400"}).returncode == 0
    again = run("ingest", str(home / "claude"), env={"COLUMNS": "400"})
    assert again.returncode == 0 and "no Claude Code log" not in again.stdout


def test_ingest_of_another_agents_folder_says_it_found_no_claude_code_call(home: Path) -> None:
    """`cost-mcp ingest ~/.codex/sessions` read Codex's lines as Claude Code's, found nothing and said
    nothing; it now says what it read and where other agents' logs are read."""
    import shutil

    codex = home / "codex"
    shutil.copytree(Path(__file__).parent / "fixtures" / "agents" / "codex", codex)
    done = run("ingest", str(codex / "sessions"), env={"COLUMNS": "400"})
    assert done.returncode == 0, done.stderr
    assert "0 new calls" in done.stdout
    assert "is a Claude Code call" in done.stdout and "`cost-mcp report --group-by agent`" in done.stdout
    # A Claude Code folder that simply has nothing new says nothing of the kind.
    _logs(home)
    again = run("ingest", str(home / "claude"), env={"COLUMNS": "400"})
    assert again.returncode == 0 and "Claude Code call" not in again.stdout


def test_forgetting_another_agents_log_says_that_it_forgets_only_claude_codes_calls(home: Path) -> None:
    """The QA case: `cost-mcp ingest --forget` on a Codex rollout said "forgot 0 stored call copies"
    and nothing more, exit 0, as if done: its calls stay in every total. It now says why."""
    import shutil

    shutil.copytree(Path(__file__).parent / "fixtures" / "agents" / "codex", home / "codex")
    rollout = next((home / "codex" / "sessions").rglob("*.jsonl"))
    before = run("report", "--json", "--start", "2026-11-01", "--end", "2026-11-30")
    assert before.returncode == 0, before.stderr
    done = run("ingest", "--json", "--forget", str(rollout))
    assert done.returncode == 0, done.stderr
    forgotten = IngestResult.model_validate_json(done.stdout).forgotten
    assert forgotten is not None and forgotten.events_removed == 0
    assert forgotten.warnings == [
        f"nothing read from Claude Code's logs lies under {rollout}: forgetting removes only the calls read "
        "from Claude Code's logs; other agents' calls (Codex, Gemini CLI, OpenCode...) stay in the ledger, "
        "even once their files are deleted"
    ]
    after = run("report", "--json", "--start", "2026-11-01", "--end", "2026-11-30")
    assert json.loads(after.stdout)["total_usd"] == json.loads(before.stdout)["total_usd"] > 0
    # Forgetting a Claude Code folder that holds calls says nothing of the kind.
    claude = _logs(home)
    assert run("ingest").returncode == 0
    real = IngestResult.model_validate_json(
        run("ingest", "--json", "--forget", str(claude / "projects" / "-home-dév-app")).stdout
    ).forgotten
    assert real is not None and real.events_removed == 1
    assert not any("nothing read from" in w for w in real.warnings)


def test_ingest_without_claude_code_reads_the_other_agents_logs_and_says_so(home: Path) -> None:
    """A Codex user with no Claude Code folder ran `cost-mcp ingest` as the README says: it printed
    "No Claude Code logs found" and read nothing, as if there were no usage to read. It now reads
    each other agent's folders and says what it found there; run again, nothing is added twice."""
    import shutil

    from cost_mcp.config import load_settings
    from cost_mcp.store.connection import connect

    shutil.rmtree(home / "claude")
    shutil.copytree(Path(__file__).parent / "fixtures" / "agents" / "codex", home / "codex")
    files = len(list((home / "codex").rglob("*.jsonl")))

    def codex_calls() -> int:
        conn = connect(load_settings().db)
        try:
            row = conn.execute(
                "SELECT COUNT(*) FROM usage_events WHERE source = 'codex' AND counted = 1"
            ).fetchone()
        finally:
            conn.close()
        assert row is not None
        return int(row[0])

    done = run("ingest", env={"COLUMNS": "400"})
    assert done.returncode == 0, done.stderr
    calls = codex_calls()
    assert calls > 0
    lines = done.stdout.splitlines()
    assert lines[0].startswith("No Claude Code logs found in ")
    assert re.fullmatch(rf"codex: {files} files \({files} read\), {calls} new calls in \d+\.\d\ds", lines[1])
    again = run("ingest", env={"COLUMNS": "400"})
    assert again.returncode == 0, again.stderr
    assert re.fullmatch(
        rf"codex: {files} files \(0 read\), 0 new calls in \d+\.\d\ds", again.stdout.splitlines()[1]
    )
    assert codex_calls() == calls


def test_ingest_with_no_logs_at_all_says_none_of_any_agent_was_found(home: Path) -> None:
    import shutil

    shutil.rmtree(home / "claude")
    done = run("ingest", env={"COLUMNS": "400"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1:] == [
        "No other coding agent's logs found either (`cost-mcp doctor` lists the folders read)."
    ]


def test_ingest_full_reads_every_agents_files_again_and_counts_nothing_twice(home: Path) -> None:
    """`cost-mcp ingest --full` re-read only Claude Code's logs: a Codex user told to run it after a
    fix had nothing of theirs read again. It now reads every agent's files from their start, beside
    Claude Code's, says so per agent, and adds no call twice (each call's key names it)."""
    import shutil

    from cost_mcp.config import load_settings
    from cost_mcp.store.connection import connect

    _logs(home)
    shutil.copytree(Path(__file__).parent / "fixtures" / "agents" / "codex", home / "codex")
    files = len(list((home / "codex").rglob("*.jsonl")))

    def calls() -> dict[str, int]:
        conn = connect(load_settings().db)
        try:
            rows = conn.execute(
                "SELECT source, COUNT(*) FROM usage_events WHERE counted = 1 GROUP BY source"
            ).fetchall()
        finally:
            conn.close()
        return {str(source): int(n) for source, n in rows}

    plain = run("ingest", env={"COLUMNS": "400"})
    assert plain.returncode == 0, plain.stderr
    assert not any(line.startswith("codex:") for line in plain.stdout.splitlines())
    # What a report reads of Codex (as every report command does) before the full read.
    assert run("report").returncode == 0
    before = calls()
    assert before["codex"] > 0 and before["claude_code"] == 2

    for _ in range(2):  # the second on a ledger that has just read every file whole
        done = run("ingest", "--full", env={"COLUMNS": "400"})
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert re.fullmatch(
            r"2 files \(2 new, 0 grown, 0 re-read, 0 unchanged\), 5 lines, 0\.0 MB in \d+\.\d\ds", lines[0]
        )
        codex = [line for line in lines if line.startswith("codex:")]
        assert len(codex) == 1
        assert re.fullmatch(rf"codex: {files} files \({files} read\), 0 new calls in \d+\.\d\ds", codex[0])
        assert calls() == before
