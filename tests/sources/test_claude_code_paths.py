"""Which paths the log reader may read when a model chooses them, and undoing an import (--forget).

The MCP tool runs through the in-memory client on the real server; the CLI through `cost_mcp.cli.main`;
real log files on disk and the real ledger throughout.
"""

from __future__ import annotations

import json
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from cost_mcp.cli import main
from cost_mcp.config import load_settings
from cost_mcp.store import connect
from tests.sources.claude_logs import assistant, session_file, write

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def ts(minutes: int) -> str:
    return (NOW + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    capsys.readouterr()
    assert main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def counted_rows(home: Path) -> list[tuple[Any, ...]]:
    with closing(connect(load_settings().db)) as conn:
        return conn.execute(
            "SELECT message_id, request_id, output_tokens, cost_nanos, origin FROM usage_events "
            "WHERE counted = 1 ORDER BY message_id"
        ).fetchall()


def outside_tree(home: Path) -> Path:
    """A Claude folder outside the configured one: a backup holding a copy of a call and two of its own.

    Its name sorts before the configured folder's, so its copy of the shared call is the one stored."""
    backup = home / "a-backup"
    write(
        session_file(backup, "s1"),
        assistant("msg_shared", "req_shared", ts(0), output=100),
        assistant("msg_x", "req_x", ts(1), output=5_000),
    )
    write(session_file(backup, "s9", project="-home-dev-other"), assistant("msg_y", "req_y", ts(2), output=7))
    return backup


def configured_tree(home: Path) -> None:
    write(
        session_file(home / "claude", "s1"),
        assistant("msg_shared", "req_shared", ts(0), output=100),
        assistant("msg_own", "req_own", ts(3), output=40),
    )


# --- paths a model chooses --------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_tool_refuses_a_file_outside_the_claude_folders(home: Path, client: Client) -> None:
    secret = home / "secret.jsonl"
    write(secret, assistant("msg_s", "req_s", ts(0), output=1))
    for path in (str(secret), "/etc/passwd", str(home), str(home / "claude" / ".." / "secret.jsonl")):
        result = await client.call_tool("ingest_claude_code_logs", {"paths": [path]})
        assert result.is_error, path
        text = result.content[0].text  # type: ignore[union-attr]
        assert "not inside a configured Claude Code folder" in text
        assert str(home / "claude") in text  # names the allowed root
        assert "lines" not in text
    assert counted_rows(home) == []


@pytest.mark.anyio
async def test_the_tool_refuses_a_symlink_leading_out_of_the_claude_folders(
    home: Path, client: Client
) -> None:
    outside = outside_tree(home)
    link = home / "claude" / "projects" / "linked"
    link.symlink_to(outside / "projects" / "-home-dev-app")
    result = await client.call_tool("ingest_claude_code_logs", {"paths": [str(link)]})
    assert result.is_error
    assert counted_rows(home) == []


@pytest.mark.anyio
async def test_the_tool_reads_a_folder_inside_the_claude_folders(home: Path, client: Client) -> None:
    configured_tree(home)
    project = home / "claude" / "projects" / "-home-dev-app"
    result = await client.call_tool("ingest_claude_code_logs", {"paths": [str(project)]})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    assert result.structured_content["files_seen"] == 1
    # The server's background reader may have read the file first (then the tool adds nothing new):
    # either way both calls are in the ledger, once each.
    assert [row[0] for row in counted_rows(home)] == ["msg_own", "msg_shared"]


def test_the_cli_reads_any_path_the_user_types(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = cli_json(capsys, "ingest", str(outside_tree(home)))
    assert result["events_added"] == 3


# --- forgetting what one path brought in ------------------------------------------------------


def test_forget_removes_exactly_what_a_path_brought_in(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configured_tree(home)
    cli_json(capsys, "ingest")
    before_rows = counted_rows(home)
    before = cli_json(capsys, "report", "--period", "last_7_days", "--group-by", "project", "session")
    backup = outside_tree(home)
    assert cli_json(capsys, "ingest", str(backup))["events_added"] == 2
    # The shared call's stored copy is now the backup's.
    assert any(row[0] == "msg_shared" and row[4].startswith(str(backup)) for row in counted_rows(home))

    result = cli_json(capsys, "ingest", "--forget", str(backup))
    assert result["forgotten"]["events_removed"] == 3
    assert result["forgotten"]["files_forgotten"] == 2
    assert result["forgotten"]["warnings"] == []
    assert result["events_added"] == 1  # the configured folder's copy of the shared call, read again
    assert counted_rows(home) == before_rows
    after = cli_json(capsys, "report", "--period", "last_7_days", "--group-by", "project", "session")
    assert after["total_usd"] == before["total_usd"]
    assert after["rows"] == before["rows"]
    # Forgotten for good: the next scan of the configured folders does not bring it back.
    cli_json(capsys, "ingest")
    assert counted_rows(home) == before_rows
    assert main(["ingest", "--forget", str(backup)]) == 0  # human output, nothing left to remove
    assert "forgot 0" in capsys.readouterr().out


def test_forget_and_paths_together_is_refused(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", str(home), "--forget", str(home)]) != 0
    assert "not both" in capsys.readouterr().err


@pytest.mark.anyio
async def test_the_tool_forgets_a_path_and_the_totals_follow(
    home: Path, client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    configured_tree(home)
    cli_json(capsys, "ingest", str(outside_tree(home)))  # imported by the user, by mistake
    with_backup = await client.call_tool("get_spend", {"period": "last_7_days"})
    assert with_backup.structured_content is not None

    forgot = await client.call_tool("ingest_claude_code_logs", {"forget": [str(home / "a-backup")]})
    assert not forgot.is_error, forgot.content
    assert forgot.structured_content is not None
    assert forgot.structured_content["forgotten"]["events_removed"] == 3
    spend = await client.call_tool("get_spend", {"period": "last_7_days", "group_by": ["project"]})
    assert spend.structured_content is not None
    assert spend.structured_content["total_usd"] < with_backup.structured_content["total_usd"]
    assert [r["group"]["project"] for r in spend.structured_content["rows"]] == ["-home-dev-app"]
    assert {row[0] for row in counted_rows(home)} == {"msg_shared", "msg_own"}

    both = await client.call_tool("ingest_claude_code_logs", {"forget": ["/x"], "paths": ["/y"]})
    assert both.is_error


@pytest.mark.anyio
async def test_forgetting_a_configured_folder_warns_that_it_comes_back(home: Path, client: Client) -> None:
    configured_tree(home)
    project = home / "claude" / "projects" / "-home-dev-app"
    await client.call_tool("ingest_claude_code_logs", {})
    forgot = await client.call_tool("ingest_claude_code_logs", {"forget": [str(project)]})
    assert forgot.structured_content is not None
    assert forgot.structured_content["forgotten"]["events_removed"] == 2
    assert "next scan reads it again" in forgot.structured_content["forgotten"]["warnings"][0]


@pytest.mark.anyio
async def test_the_tool_refuses_to_forget_a_whole_claude_folder(
    home: Path, client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    """A model (wrong, or injected) called forget=["/"] and every call read from the Claude folder
    was gone, for good where Claude Code had already deleted the logs (cleanupPeriodDays). A path
    holding a whole configured folder's logs is refused by the tool, before anything is removed;
    a project's folder still can be forgotten, and the user can forget anything at the CLI."""
    configured_tree(home)
    await client.call_tool("ingest_claude_code_logs", {})
    gone = home / "claude" / "projects" / "-home-dev-old"
    write(
        session_file(home / "claude", "s7", project="-home-dev-old"), assistant("msg_old", "req_old", ts(5))
    )
    await client.call_tool("ingest_claude_code_logs", {})
    (gone / "s7.jsonl").unlink()  # Claude Code's cleanup: the call is now only in the ledger
    rows = counted_rows(home)
    assert len(rows) == 3
    for path in ("/", str(home), str(home / "claude"), str(home / "claude" / "projects"), "~/../../"):
        refused = await client.call_tool("ingest_claude_code_logs", {"forget": [path]})
        assert refused.is_error, path
        said = refused.content[0].text  # type: ignore[union-attr]
        assert "holds every log of the Claude folder" in said and "cost-mcp ingest --forget PATH" in said
    assert counted_rows(home) == rows  # nothing removed
    assert cli_json(capsys, "ingest", "--forget", str(home / "claude"))["forgotten"]["events_removed"] == 3


@pytest.mark.anyio
async def test_the_tool_refuses_to_forget_calls_whose_logs_are_gone(
    home: Path, client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    """The whole-folder guard left a model (wrong, or injected) free to forget project after
    project: calls whose transcripts Claude Code had already deleted (cleanupPeriodDays) were gone
    for good, nothing left to read them back from. The tool now forgets only what can be read back:
    a path holding a call read from a file no longer on disk is refused, before anything is
    removed; a project whose files are all there still can be, and the user can do both at the CLI."""
    configured_tree(home)
    old = home / "claude" / "projects" / "-home-dev-old"
    write(
        session_file(home / "claude", "s7", project="-home-dev-old"), assistant("msg_old", "req_old", ts(5))
    )
    write(session_file(home / "claude", "s8", project="-home-dev-old"), assistant("msg_kept", "req_k", ts(6)))
    await client.call_tool("ingest_claude_code_logs", {})
    (old / "s7.jsonl").unlink()  # Claude Code's cleanup: the call is now only in the ledger
    rows = counted_rows(home)
    assert len(rows) == 4
    for path in (old, old / "s7.jsonl"):
        refused = await client.call_tool("ingest_claude_code_logs", {"forget": [str(path)]})
        assert refused.is_error, path
        said = refused.content[0].text  # type: ignore[union-attr]
        assert "no longer on disk" in said and "cost-mcp ingest --forget PATH" in said, said
    assert counted_rows(home) == rows  # nothing removed
    kept = await client.call_tool("ingest_claude_code_logs", {"forget": [str(old / "s8.jsonl")]})
    assert not kept.is_error and kept.structured_content is not None
    assert kept.structured_content["forgotten"]["events_removed"] == 1
    assert cli_json(capsys, "ingest", "--forget", str(old))["forgotten"]["events_removed"] == 1
    assert {row[0] for row in counted_rows(home)} == {"msg_shared", "msg_own"}
