"""Memory stays bounded by the longest line, not by the size of a file (sized down for CI)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sources.claude_logs import assistant, encode, user

pytestmark = pytest.mark.slow


def _one_big_session(path: Path, calls: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    filler = encode(user("2026-11-02T09:00:00.000Z", size=4_000)) + "\n"
    with path.open("w") as out:
        for i in range(calls):
            out.write(filler)
            out.write(
                encode(assistant(f"m{i}", f"r{i}", "2026-11-02T09:00:00.000Z", output=1 + i % 50)) + "\n"
            )


def _peak_rss_kib(env: dict[str, str]) -> int:
    proc = subprocess.Popen(
        [sys.executable, "-m", "cost_mcp", "ingest", "--full", "--json"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0
    return int(usage.ru_maxrss)


def test_peak_memory_does_not_grow_with_the_file(home: Path, tmp_path: Path) -> None:
    sizes = {}
    for calls in (5_000, 25_000):  # about 22 MB and 110 MB in one file
        claude = tmp_path / f"claude-{calls}"
        _one_big_session(claude / "projects" / "-p" / "big.jsonl", calls)
        env = {**os.environ, "CLAUDE_CONFIG_DIR": str(claude), "COST_MCP_DB": str(tmp_path / f"{calls}.db")}
        sizes[calls] = _peak_rss_kib(env)
    # 5x the file, and more distinct calls than one write batch: memory grows by far less than the
    # 88 MB the file grew by (what remains is SQLite's bounded page cache and the batch).
    assert sizes[25_000] - sizes[5_000] < 40 * 1024, sizes


def test_a_tree_of_5000_files_is_rechecked_without_reading(home: Path, tmp_path: Path) -> None:
    from cost_mcp.config import load_settings
    from cost_mcp.pricing import Pricer
    from cost_mcp.sources.claude_code import ingest
    from cost_mcp.store import connect

    claude = tmp_path / "claude"
    line = encode(assistant("m", "r", "2026-11-02T09:00:00.000Z")) + "\n"
    for i in range(5_000):
        path = claude / "projects" / f"-p{i % 50}" / f"s{i}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(line.replace('"m"', f'"m{i}"').replace('"r"', f'"r{i}"'))
    settings = load_settings({**os.environ, "CLAUDE_CONFIG_DIR": str(claude)})
    conn = connect(settings.db)
    try:
        first = ingest(conn, settings, Pricer())
        again = ingest(conn, settings, Pricer())
    finally:
        conn.close()
    assert (first.files_new, first.events_added) == (5_000, 5_000)
    assert (again.files_unchanged, again.lines_read, again.bytes_read) == (5_000, 0, 0)
