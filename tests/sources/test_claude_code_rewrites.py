"""Log files that change under the reader: rewritten in place, or holding a line past the cap.

Real files on disk, the real ledger, the CLI entry point (`cost_mcp.cli.main`).
"""

from __future__ import annotations

import json
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from cost_mcp.cli import main
from cost_mcp.config import load_settings
from cost_mcp.store import connect
from tests.sources.claude_logs import assistant, encode, session_file, user, write

T = "2026-11-02T09:{:02d}:00.000Z"


def ingest(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    capsys.readouterr()
    assert main(["ingest", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def calls(home: Path) -> tuple[int, int]:
    """Counted calls and their output tokens, straight from the ledger."""
    conn = connect(load_settings().db)
    with closing(conn):
        row = conn.execute(
            "SELECT COUNT(*), SUM(output_tokens) FROM usage_events WHERE counted = 1"
        ).fetchone()
    return int(row[0]), int(row[1] or 0)


def lines(*names: str, output: int = 10) -> bytes:
    return b"".join(
        encode(assistant(f"msg_{n}", f"req_{n}", T.format(i), output=output)).encode() + b"\n"
        for i, n in enumerate(names)
    )


def rewrite_in_place(path: Path, data: bytes) -> None:
    """Truncate and write again through the same inode, as an editor or a compaction might."""
    inode = path.stat().st_ino
    with path.open("r+b") as f:
        f.truncate(0)
        f.write(data)
    assert path.stat().st_ino == inode


def test_a_file_rewritten_in_place_with_longer_content_is_read_again_from_the_start(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = session_file(home / "claude", "s1")
    path.parent.mkdir(parents=True)
    path.write_bytes(lines("a", "b", "c"))
    assert ingest(capsys)["events_added"] == 3
    # Six other calls, longer than before: the old offset lands mid-file, after three of them.
    rewrite_in_place(path, lines("d", "e", "f", "g", "h", "i", output=12))
    result = ingest(capsys)
    assert result["files_reread"] == 1 and result["files_changed"] == 0
    assert result["events_added"] == 6
    assert calls(home) == (9, 3 * 10 + 6 * 12)
    assert ingest(capsys)["files_unchanged"] == 1


def test_a_rewrite_that_keeps_the_old_lines_counts_each_call_once(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = session_file(home / "claude", "s1")
    path.parent.mkdir(parents=True)
    path.write_bytes(lines("a", "b", "c"))
    ingest(capsys)
    # The same calls, now after a summary line, and two more: every byte before the old offset moved.
    summary = encode({"type": "summary", "summary": "compacted", "leafUuid": "u1"}).encode() + b"\n"
    rewrite_in_place(path, summary + lines("a", "b", "c", "d", "e"))
    result = ingest(capsys)
    assert result["files_reread"] == 1
    assert result["events_added"] == 2
    assert calls(home) == (5, 50)


def test_a_file_that_shrank_is_read_once_not_on_every_scan(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = session_file(home / "claude", "s1")
    path.parent.mkdir(parents=True)
    path.write_bytes(lines("a", "b", "c", "d"))
    ingest(capsys)
    rewrite_in_place(path, lines("x"))
    assert ingest(capsys)["files_reread"] == 1
    again = ingest(capsys)
    assert again["files_unchanged"] == 1 and again["bytes_read"] == 0
    assert calls(home) == (5, 50)


@pytest.fixture
def small_cap(monkeypatch: pytest.MonkeyPatch, home: Path) -> int:
    cap = 4096
    monkeypatch.setenv("COST_MCP_MAX_LINE_BYTES", str(cap))
    return cap


def long_user_line(size: int) -> bytes:
    line = encode(user(T.format(30), size=size)).encode()
    assert len(line) > size
    return line


def test_a_line_over_the_cap_is_skipped_with_a_reason(
    home: Path, capsys: pytest.CaptureFixture[str], small_cap: int
) -> None:
    path = session_file(home / "claude", "s1")
    path.parent.mkdir(parents=True)
    path.write_bytes(lines("a") + long_user_line(small_cap * 5) + b"\n" + lines("b"))
    result = ingest(capsys)
    assert result["skipped"]["too_long"] == 1
    assert result["events_added"] == 2
    assert result["lines_read"] == 3 and result["bytes_read"] == path.stat().st_size


def test_a_line_at_the_cap_is_read(home: Path, capsys: pytest.CaptureFixture[str], small_cap: int) -> None:
    line = assistant("msg_pad", "req_pad", T.format(5), output=7)
    line["message"]["content"][0]["text"] = ""
    padding = small_cap - len(encode(line).encode())
    line["message"]["content"][0]["text"] = "x" * padding
    data = encode(line).encode()
    assert len(data) == small_cap
    write(session_file(home / "claude", "s1"), line)
    result = ingest(capsys)
    assert result["skipped"]["too_long"] == 0 and result["events_added"] == 1


def test_a_growing_line_over_the_cap_is_skipped_once_and_never_read_again(
    home: Path, capsys: pytest.CaptureFixture[str], small_cap: int
) -> None:
    path = session_file(home / "claude", "s1")
    path.parent.mkdir(parents=True)
    long = long_user_line(small_cap * 20)
    path.write_bytes(lines("a") + long[: small_cap * 3])  # still being written: no newline yet
    first = ingest(capsys)
    assert first["skipped"]["too_long"] == 1 and first["events_added"] == 1
    assert first["bytes_read"] == path.stat().st_size
    # More of the same line arrives, still without a newline: only the new bytes are read.
    with path.open("ab") as f:
        f.write(long[small_cap * 3 : small_cap * 10])
    second = ingest(capsys)
    assert second["bytes_read"] == small_cap * 7
    assert second["skipped"]["too_long"] == 0 and second["lines_read"] == 0
    # The line ends, and a call follows it.
    with path.open("ab") as f:
        f.write(long[small_cap * 10 :] + b"\n" + lines("b"))
    third = ingest(capsys)
    assert third["skipped"]["too_long"] == 0
    assert third["events_added"] == 1
    assert third["bytes_read"] == len(long) - small_cap * 10 + 1 + len(lines("b"))
    assert calls(home) == (2, 20)
    assert ingest(capsys)["files_unchanged"] == 1
