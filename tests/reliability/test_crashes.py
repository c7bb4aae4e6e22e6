"""A process killed with SIGKILL in the middle of an ingest loses nothing and counts nothing twice."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from cost_mcp.store import connect, migrate
from cost_mcp.store.connection import connect_sqlite, is_postgres
from tests.sources.claude_logs import assistant, encode, session_file, user

pytestmark = pytest.mark.slow


def _tree(home: Path, files: int, calls: int, *, tool_results: bool = True) -> int:
    """Sessions of calls split over two lines each, with bulky tool results (or none: more calls
    to the megabyte); returns output tokens."""
    total = 0
    for f in range(files):
        path = session_file(home / "claude", f"s{f}")
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w") as out:
            for i in range(calls):
                n = f * calls + i
                tokens = 1 + n % 997
                total += tokens
                if tool_results:
                    out.write(encode(user("2026-11-02T09:00:00.000Z", size=3_000)) + "\n")
                out.write(encode(assistant(f"m{n}", f"r{n}", "2026-11-02T09:00:00.000Z", output=1)) + "\n")
                out.write(
                    encode(assistant(f"m{n}", f"r{n}", "2026-11-02T09:00:00.050Z", output=tokens)) + "\n"
                )
    return total


def _ingest(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "cost_mcp", "ingest", "--json"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _rows_when_some_committed(db: str, proc: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if is_postgres(db) or Path(db).exists():
            try:
                if is_postgres(db):
                    with closing(connect(db, migrate_schema=False)) as pg:
                        rows = int(pg.execute("SELECT COUNT(*) FROM usage_events").fetchone()[0])
                else:
                    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
                        rows = int(conn.execute("SELECT COUNT(*) FROM usage_events").fetchone()[0])
            except sqlite3.OperationalError:
                rows = 0  # tables not created yet
            if rows:
                return rows
        time.sleep(0.005)
    return 0


def test_sigkill_mid_ingest_then_rerun_is_exact(home: Path) -> None:
    files, calls = 40, 600  # about 75 MB: long enough to be killed in the middle
    truth = _tree(home, files, calls)
    env = dict(os.environ)
    db = env["COST_MCP_DB"]
    on_pg = is_postgres(db)
    # First a kill before anything is committed, then one right after the first batch commits.
    proc = _ingest(env)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    proc = _ingest(env)
    killed_rows = _rows_when_some_committed(db, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert 0 < killed_rows < files * calls, "the kill should land in the middle of the ingest"
    if not on_pg:  # PostgreSQL keeps its indexes through a load (store/bulk.py)
        with closing(sqlite3.connect(db)) as lite:
            assert lite.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            # 75 MB into an empty ledger is a bulk load: killed with its secondary indexes dropped
            dropped = lite.execute(
                "SELECT value FROM meta WHERE key = 'bulk_load_dropped_indexes'"
            ).fetchone()
        assert dropped is not None and "usage_events_counted_ts" in dropped[0]
    _finish_exactly(env, files * calls, truth)


def _finish_exactly(env: dict[str, str], calls: int, truth: int) -> None:
    """A new ingest completes the interrupted one: every call once, the rollup and indexes whole."""
    db = env["COST_MCP_DB"]
    on_pg = is_postgres(db)
    finish = subprocess.run(
        [sys.executable, "-m", "cost_mcp", "ingest", "--json"],
        env=env,
        capture_output=True,
        check=False,
        timeout=300,
    )
    assert finish.returncode == 0, finish.stderr
    with closing(connect(db, migrate_schema=False)) as conn:
        count, output = conn.execute(
            "SELECT COUNT(*), SUM(output_tokens) FROM usage_events WHERE counted = 1"
        ).fetchone()
        rollup_output = conn.execute("SELECT SUM(output_tokens) FROM usage_rollup").fetchone()[0]
        dirty = conn.execute("SELECT COUNT(*) FROM rollup_dirty").fetchone()[0]
        pending = conn.execute("SELECT 1 FROM meta WHERE key = 'bulk_load_dropped_indexes'").fetchone()
    assert (count, output) == (calls, truth)
    assert rollup_output == truth
    assert dirty == 0
    assert pending is None
    if on_pg:
        return
    with closing(sqlite3.connect(db)) as lite:
        indexes = {r[0] for r in lite.execute("SELECT sql FROM sqlite_master WHERE type = 'index'")}
    fresh = connect_sqlite(":memory:", migrate_schema=False)
    migrate(fresh)
    assert indexes == {r[0] for r in fresh.execute("SELECT sql FROM sqlite_master WHERE type = 'index'")}
    assert pending is None


def test_ctrl_c_mid_ingest_says_aborted_without_a_traceback_then_rerun_is_exact(home: Path) -> None:
    # About 110 MB of small lines, 120k calls: many more batches than the parse worker may run
    # ahead of the writer, so it is still at work when the first one is committed.
    files, calls = 120, 1_000
    truth = _tree(home, files, calls, tool_results=False)
    env = dict(os.environ)

    # A shell running the tests in the background may have left Ctrl-C ignored here, and an ignored
    # signal stays ignored across exec: the command would never see it. A handled one is reset to
    # the default in the command, as from a terminal.
    ignored = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cost_mcp", "ingest"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    finally:
        signal.signal(signal.SIGINT, ignored)
    # While it reads (the first batch committed): a large first load, parsed in a forked worker
    # where the machine has two cores. The terminal interrupts the whole foreground group, and
    # which process sees it first is a race: the worker printed a KeyboardInterrupt traceback
    # under "aborted" whenever it won it. Here it always does, being interrupted first.
    assert _rows_when_some_committed(env["COST_MCP_DB"], proc) > 0
    for worker in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split():
        os.kill(int(worker), signal.SIGINT)
    # Long enough for a worker that does not ignore it to print its traceback; short beside the
    # ~1-2 s the load still has to run here (a faster machine runs it faster, hence the 120 files).
    time.sleep(0.1)
    assert proc.poll() is None, "the ingest ended before it was interrupted: the tree is too small"
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    said = stderr.decode()
    assert proc.returncode == 130, said
    assert "Traceback" not in said and "KeyboardInterrupt" not in said, said
    assert said.strip() == "aborted"
    _finish_exactly(env, files * calls, truth)
