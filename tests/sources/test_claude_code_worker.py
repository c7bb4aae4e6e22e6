"""A large read parses in a forked worker while the main process writes: same ledger, same result."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from cost_mcp.config import load_settings
from cost_mcp.models import IngestResult
from cost_mcp.pricing import Pricer
from cost_mcp.sources import beside, claude_code
from cost_mcp.store import bulk, connect
from tests.pg_cluster import Cluster
from tests.sources.claude_logs import SONNET, assistant, encode, progress, user

CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
# Not beside.can_fork() itself: it also wants a single thread, which says nothing about this
# machine, and a thread alive at collection would have skipped the whole module quietly.
pytestmark = pytest.mark.skipif(
    CORES < 2 or "fork" not in multiprocessing.get_all_start_methods(), reason="needs fork and two cores"
)


@pytest.fixture(autouse=True)
def single_threaded() -> None:
    """The worker is forked only from a process with a single thread (beside.can_fork), so
    these tests need one: an earlier test's threads get a few seconds to end (an AnyIO worker
    thread ends a moment after its test's event loop closes); a thread still running after that
    fails the test here, by name, rather than as a read that quietly did not fork."""
    deadline = time.monotonic() + 10
    for thread in threading.enumerate():
        if thread is not threading.current_thread():
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
    others = [t.name for t in threading.enumerate() if t is not threading.current_thread()]
    assert not others, f"threads an earlier test left running: {others}"
    assert beside.can_fork()


def _tree(root: Path, calls: int = 25, sessions: int = 6) -> Path:
    """Sessions with split calls, a subagent mirror, a resumed copy, bad lines and an unfinished one."""
    projects = root / "projects"
    for s in range(sessions):
        lines = []
        for n in range(calls):
            ts = f"2026-10-{1 + (s * calls + n) % 28:02d}T{n % 24:02d}:00:00.000Z"
            mid, rid = f"msg_{s}_{n}", f"req_{s}_{n}"
            lines.append(encode(assistant(mid, rid, ts, session=f"s{s}", output=1, cache_read=n)))
            lines.append(encode(assistant(mid, rid, ts, session=f"s{s}", output=100 + n, cache_read=n)))
            lines.append(encode(user(ts, session=f"s{s}")))
            if n % 7 == 0:
                lines.append(encode(progress(assistant(mid, rid, ts, session=f"s{s}", output=100 + n))))
            if n % 11 == 0:
                lines.append('{"type": "assistant", "message": {')  # cut off
        if s > 0:  # a resumed session repeats a call of the one before
            lines.append(encode(assistant(f"msg_{s - 1}_3", f"req_{s - 1}_3", "2026-10-04T03:00:00.000Z")))
        path = projects / f"-home-dev-p{s % 2}" / f"s{s}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n" + ('{"type": "assistant"' if s == 2 else ""))
    return root


def _ingest(
    root: Path, db: Path | str, worker: bool, standby: bool = False, batch: int = 7, **kwargs: Any
) -> tuple[dict[str, Any], list[tuple[Any, ...]]]:
    env = {"COST_MCP_DB": str(db), "CLAUDE_CONFIG_DIR": str(root), "COST_MCP_TIMEZONE": "UTC"}
    conn = connect(db)
    try:
        with (
            mock.patch.object(beside, "PARSE_WORKER", worker),
            mock.patch.object(claude_code, "BULK_LOAD_BYTES", 0),
            mock.patch.object(claude_code, "BATCH_COPIES", batch),  # by default many batches through the pipe
            mock.patch.object(claude_code, "_read_beside", wraps=claude_code._read_beside) as read_beside,
        ):
            if standby:  # as `cost-mcp ingest` does before its start (cost_mcp.launcher)
                claude_code.stand_by()
                assert len(claude_code._standing) == 1
            result = claude_code.ingest(
                conn, load_settings(env, env_file=root / "absent"), Pricer(), **kwargs
            )
        assert read_beside.call_count == int(worker)
        assert claude_code._standing == []
        rows = conn.execute(
            "SELECT source, message_id, request_id, is_sidechain, counted, ts_ms, model, session_id, "
            "project, "
            "input_tokens, output_tokens, cache_read_tokens, total_tokens, cost_nanos, origin "
            "FROM usage_events ORDER BY message_id, request_id, is_sidechain"
        ).fetchall()
        files = conn.execute(
            'SELECT path, size, "offset", check_hash FROM scanned_files ORDER BY path'
        ).fetchall()
        skipped = conn.execute("SELECT * FROM skipped_lines ORDER BY 1, 2").fetchall()
        rollup = conn.execute("SELECT * FROM usage_rollup ORDER BY 1, 2, 3, 4, 5, 6").fetchall()
    finally:
        conn.close()
    summary = IngestResult.of(result).model_dump(exclude={"seconds"})
    return summary, [*rows, *files, *skipped, *rollup]


def test_the_parse_worker_writes_exactly_what_reading_in_turn_writes(tmp_path: Path) -> None:
    root = _tree(tmp_path / "claude")
    alone = _ingest(root, tmp_path / "alone.db", worker=False)
    beside = _ingest(root, tmp_path / "beside.db", worker=True)
    assert beside == alone
    summary = beside[0]
    assert summary["events_added"] == 6 * 25 and summary["skipped"]["truncated"] == 6 * 3
    assert summary["complete"]


def test_on_postgresql_the_worker_writes_exactly_what_reading_in_turn_writes(
    pg_cluster: Cluster, tmp_path: Path
) -> None:
    """And what SQLite holds after reading in turn: on PostgreSQL a large read stages its merges and
    rollup sums in tables kept for the read (store.stages), emptied by each batch's commit."""
    root = _tree(tmp_path / "claude")
    alone = _ingest(root, tmp_path / "alone.db", worker=False)
    beside = _ingest(root, pg_cluster.url(pg_cluster.new_database()), worker=True)
    assert beside == alone
    assert beside[0]["events_added"] == 6 * 25


def test_on_postgresql_a_read_of_many_files_stores_their_states_and_skipped_lines_as_sqlite_does(
    pg_cluster: Cluster, tmp_path: Path
) -> None:
    """More files in a batch than ``bulk.FEW_ROWS``: PostgreSQL saves their read states and
    skipped-line counts with one staged statement each (tables kept for the read), and forgets a
    restarted file's counts with one statement; it stores what SQLite stores, on the first read and
    after every file is rewritten shorter and read again from its start (its counts start again)."""
    root = _tree(tmp_path / "claude", calls=12, sessions=bulk.FEW_ROWS + 6)
    lite, pg = tmp_path / "alone.db", pg_cluster.url(pg_cluster.new_database())
    with mock.patch.object(bulk, "insert_rows", wraps=bulk.insert_rows) as staged:
        first = _ingest(root, pg, worker=True, batch=10_000)
    assert {c.args[1] for c in staged.call_args_list} >= {"scanned_files", "skipped_lines"}
    assert first == _ingest(root, lite, worker=False, batch=10_000)
    assert first[0]["skipped"]["truncated"] == (bulk.FEW_ROWS + 6) * 2
    for path in sorted(root.rglob("*.jsonl")):
        lines = path.read_text().splitlines()
        path.write_text("\n".join(lines[: len(lines) // 2]) + "\n")
    again = _ingest(root, pg, worker=True, batch=10_000)
    lite_again = _ingest(root, lite, worker=False, batch=10_000)
    # As sets: the rollup's ORDER BY leaves ties (its key is longer), which each engine breaks its way.
    assert again[0] == lite_again[0] and sorted(again[1], key=repr) == sorted(lite_again[1], key=repr)
    ledger = connect(pg)
    try:
        skipped = ledger.execute("SELECT reason, lines FROM skipped_lines").fetchall()
    finally:
        ledger.close()
    # Each first half holds one of its file's two cut-off lines: one each, not the first read's 2 + 1.
    assert sorted(skipped) == [("truncated", 1)] * (bulk.FEW_ROWS + 6)


def test_a_worker_that_dies_leaves_the_read_to_this_process(tmp_path: Path) -> None:
    root = _tree(tmp_path / "claude")
    alone = _ingest(root, tmp_path / "alone.db", worker=False)

    def dies(*args: Any) -> None:
        os._exit(3)  # killed before it sent anything: nothing of it is merged

    with mock.patch.object(claude_code, "_parse_worker", dies):
        beside = _ingest(root, tmp_path / "beside.db", worker=True)
    assert beside == alone


def test_a_worker_stopped_by_the_time_budget_leaves_the_rest_for_the_next_scan(tmp_path: Path) -> None:
    root = _tree(tmp_path / "claude")
    alone = _ingest(root, tmp_path / "alone.db", worker=False, budget_seconds=0)
    beside = _ingest(root, tmp_path / "beside.db", worker=True, budget_seconds=0)
    assert not beside[0]["complete"] and beside[0]["files_pending"] > 0
    assert beside == alone
    # the next scan completes it, to the same totals as one uninterrupted read
    again = _ingest(root, tmp_path / "beside.db", worker=True)
    full = _ingest(root, tmp_path / "full.db", worker=False)
    assert again[1] == full[1]


def test_when_the_writer_fails_the_worker_stops_and_the_error_reaches_the_caller(tmp_path: Path) -> None:
    root = _tree(tmp_path / "claude", calls=600)  # far more than a pipe's buffer holds
    write = claude_code._write
    calls = []

    def fails_second(*args: Any) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        write(*args)

    # The worker is still sending batches when the writer stops reading: it must get a broken pipe
    # and exit (the writer joins it), not block on the pipe forever.
    with mock.patch.object(claude_code, "_write", fails_second), pytest.raises(OSError, match="disk full"):
        _ingest(root, tmp_path / "beside.db", worker=True)
    assert len(calls) == 2
    # What the first batch wrote is kept with its offsets; a new scan finishes the read exactly.
    again = _ingest(root, tmp_path / "beside.db", worker=True)
    full = _ingest(root, tmp_path / "full.db", worker=False)
    assert again[1] == full[1]


def test_a_worker_forked_before_the_start_writes_exactly_what_reading_in_turn_writes(tmp_path: Path) -> None:
    root = _tree(tmp_path / "claude")
    alone = _ingest(root, tmp_path / "alone.db", worker=False)
    with mock.patch.object(claude_code, "_fork_worker", wraps=claude_code._fork_worker) as fork:
        early = _ingest(root, tmp_path / "early.db", worker=True, standby=True)
    assert fork.call_count == 0  # the worker that stood by took the read
    assert early == alone


def test_a_large_read_halved_over_the_early_worker_and_its_sibling_writes_exactly_what_reading_in_turn_writes(
    tmp_path: Path,
) -> None:
    # The early worker forks a sibling for the second half of the files: copies of one message in
    # both halves (a resumed session repeats the one before) reach the writer from two pipes.
    root = _tree(tmp_path / "claude")
    alone = _ingest(root, tmp_path / "alone.db", worker=False)
    with (
        mock.patch.object(claude_code, "SPLIT_BYTES", 0),
        mock.patch.object(beside, "pump_all", wraps=beside.pump_all) as pump_all,
    ):
        halved = _ingest(root, tmp_path / "halved.db", worker=True, standby=True)
    assert [len(call.args[0]) for call in pump_all.call_args_list] == [2]
    assert halved == alone


def test_on_postgresql_a_large_read_is_not_halved_and_writes_exactly_what_reading_in_turn_writes(
    pg_cluster: Cluster, tmp_path: Path
) -> None:
    # PostgreSQL's writer is the slower side already: a second worker would only take its CPU.
    root = _tree(tmp_path / "claude")
    alone = _ingest(root, tmp_path / "alone.db", worker=False)
    with (
        mock.patch.object(claude_code, "SPLIT_BYTES", 0),
        mock.patch.object(beside, "pump_all", wraps=beside.pump_all) as pump_all,
    ):
        early = _ingest(root, pg_cluster.url(pg_cluster.new_database()), worker=True, standby=True)
    assert [len(call.args[0]) for call in pump_all.call_args_list] == [1]
    assert early == alone


def test_when_the_writer_fails_a_halved_reads_sibling_is_ended_with_the_early_worker(tmp_path: Path) -> None:
    # The sibling is the early worker's child, which the writer cannot kill: without a way to end
    # it, the writer drained its pipe until it had parsed its whole half (here: never sent a thing).
    root = _tree(tmp_path / "claude", calls=200)
    marks = tmp_path / "marks"
    marks.mkdir()
    parse = claude_code._parse_worker
    test_process = os.getpid()

    def stalls_as_sibling(*args: Any, **kwargs: Any) -> None:
        if os.getppid() != test_process:  # forked by the early worker: the sibling
            (marks / str(os.getpid())).touch()
            time.sleep(30)
            (marks / "woke").touch()
        parse(*args, **kwargs)

    def fails_first(*args: Any) -> None:
        raise OSError("disk full")

    with (
        mock.patch.object(claude_code, "SPLIT_BYTES", 0),
        mock.patch.object(claude_code, "_parse_worker", stalls_as_sibling),
        mock.patch.object(claude_code, "_write", fails_first),
        pytest.raises(OSError, match="disk full"),
    ):
        _ingest(root, tmp_path / "halved.db", worker=True, standby=True)
    pids = [int(p.name) for p in marks.iterdir() if p.name != "woke"]
    assert len(pids) == 1
    assert not (marks / "woke").exists()
    assert not _running(pids[0])
    # Nothing was written; the next read, halved again, is exact.
    with mock.patch.object(claude_code, "SPLIT_BYTES", 0):
        again = _ingest(root, tmp_path / "halved.db", worker=True, standby=True)
    full = _ingest(root, tmp_path / "full.db", worker=False)
    assert again[1] == full[1]


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie no one has reaped yet is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def test_the_batches_taper_towards_the_end_and_write_what_reading_in_turn_writes(tmp_path: Path) -> None:
    root = _tree(tmp_path / "claude", calls=60, sessions=12)
    alone = _ingest(root, tmp_path / "alone.db", worker=False)
    write = claude_code._write
    sizes: list[int] = []

    def counted(conn: Any, prepared: Any, batch: Any, stats: Any) -> None:
        sizes.append(len(prepared.rows))
        write(conn, prepared, batch, stats)

    with (
        mock.patch.object(claude_code, "_write", counted),
        mock.patch.object(claude_code, "YIELD_EVERY_LINES", 1),
        mock.patch.object(claude_code, "FIRST_BATCH_COPIES", 30),
        mock.patch.object(claude_code, "TAPER_COPIES", 10),
    ):
        tapered = _ingest(root, tmp_path / "tapered.db", worker=True, batch=120)
    assert tapered == alone
    # 30 first, then full batches while more than two are left, then smaller ones down to ~10,
    # and the rest.
    last_full = len(sizes) - 1 - sizes[::-1].index(120)
    assert sizes[0] == 30 and sizes[1] == 120
    tapering = sizes[last_full:-1]
    assert len(tapering) >= 3 and tapering == sorted(tapering, reverse=True), sizes
    assert tapering[-1] < 30 and sizes[-1] < 30, sizes


def test_a_tapered_batch_is_half_of_what_the_unread_bytes_should_hold() -> None:
    with (
        mock.patch.object(claude_code, "BATCH_COPIES", 20_000),
        mock.patch.object(claude_code, "TAPER_COPIES", 2_500),
    ):
        assert claude_code._tapered(0, 0, 1000) == 20_000  # nothing read: no rate yet
        assert claude_code._tapered(5_000, 100, 1000) == 20_000  # 45,000 left: a full batch
        assert claude_code._tapered(60_000, 800, 1000) == 7_500  # 15,000 left
        assert claude_code._tapered(70_000, 950, 1000) == 2_500  # 3,684 left: the floor
        assert claude_code._tapered(75_000, 1000, 1000) == 2_500  # all read: the rest
    with mock.patch.object(claude_code, "BATCH_COPIES", 7):  # never above a batch
        assert claude_code._tapered(60_000, 800, 1000) == 7


def test_halves_cut_the_files_in_order_at_half_their_bytes(tmp_path: Path) -> None:
    files = []
    for i, size in enumerate([10, 30, 5, 40, 15]):
        path = tmp_path / f"f{i}.jsonl"
        path.write_bytes(b"x" * size)
        files.append((str(path), path.stat(), claude_code.identify(path, tmp_path), 0, False))
    first, rest = claude_code._halves(files) or ([], [])
    assert [f[0] for f in first] == [f[0] for f in files[:4]]  # 85 of 100 bytes: the 4th passes half
    assert [f[0] for f in rest] == [files[4][0]]
    assert claude_code._halves(files[:1]) is None


def test_a_worker_forked_early_that_no_read_takes_is_ended(tmp_path: Path) -> None:
    # A small read (here: the worker turned off after the fork) reads in turn and ends the worker.
    root = _tree(tmp_path / "claude")
    alone = _ingest(root, tmp_path / "alone.db", worker=False)
    with mock.patch.object(claude_code, "_end", wraps=claude_code._end) as end:
        claude_code.stand_by()
        process = claude_code._standing[0].process
        small = _ingest(root, tmp_path / "small.db", worker=False)
    assert end.call_count == 1 and process.exitcode is not None
    assert small == alone


def test_a_worker_forked_early_that_died_is_replaced_by_a_fresh_fork(tmp_path: Path) -> None:
    root = _tree(tmp_path / "claude")
    alone = _ingest(root, tmp_path / "alone.db", worker=False)
    claude_code.stand_by()
    standby = claude_code._standing[0]
    standby.process.kill()
    standby.process.join()
    with mock.patch.object(claude_code, "_fork_worker", wraps=claude_code._fork_worker) as fork:
        again = _ingest(root, tmp_path / "again.db", worker=True)
    assert fork.call_count == 1
    assert again == alone


def test_the_command_forks_its_worker_early_only_for_a_read_of_every_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cost_mcp import launcher

    monkeypatch.setenv("COST_MCP_ENV_FILE", str(tmp_path / "absent"))
    monkeypatch.setenv("COST_MCP_DB", str(tmp_path / "cost.db"))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", f"{tmp_path / 'none'},{tmp_path / 'claude'}")
    with mock.patch.object(claude_code, "stand_by") as stand_by:
        launcher._cold_ingest([])  # no Claude Code folder: nothing for it to read
        launcher._cold_ingest(["--full", "--json"])
        assert stand_by.call_count == 0
        (tmp_path / "claude" / "projects").mkdir(parents=True)
        launcher._cold_ingest([])  # a ledger not made yet: every file is read
        launcher._cold_ingest(["--forget", "x"])
        launcher._cold_ingest(["--help"])
        assert stand_by.call_count == 1
        connect(tmp_path / "cost.db").close()
        launcher._cold_ingest(["some/path"])  # a ledger that exists: maybe a few lines
        assert stand_by.call_count == 1
        launcher._cold_ingest(["--full"])
        assert stand_by.call_count == 2
        monkeypatch.setenv("COST_MCP_DB", "postgresql://localhost/none")  # not known empty
        launcher._cold_ingest([])
        assert stand_by.call_count == 2


def test_a_full_read_imports_the_other_agents_readers_while_its_worker_starts(tmp_path: Path) -> None:
    """`ingest --full` reads the other agents' folders after Claude Code's: their readers' import
    (~0.03 s) was on the command's tail. A full read of every folder imports them at its start, beside
    the early worker; a read of given paths (no other agent is read) does not."""
    (tmp_path / "claude" / "projects").mkdir(parents=True)
    script = (
        "import sys\n"
        "from cost_mcp import launcher\n"
        "launcher._cold_ingest(sys.argv[1:])\n"
        "print('cost_mcp.sources.agents' in sys.modules)\n"
    )
    env = {
        **os.environ,
        "COST_MCP_ENV_FILE": str(tmp_path / "absent"),
        "COST_MCP_DB": str(tmp_path / "cost.db"),
        "CLAUDE_CONFIG_DIR": str(tmp_path / "claude"),
    }

    def imported(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", script, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout.strip()

    assert imported("--full", "--json") == "True"
    assert imported("--full", str(tmp_path / "claude")) == "False"
    assert imported("--json") == "False"  # a first read without --full reads no other agent


def test_a_worker_and_a_bulk_load_store_claude_on_bedrock_and_vertex_under_their_cloud(
    tmp_path: Path,
) -> None:
    """The first load's path (forked parse, bulk insert, rollup sums made in the worker) stores
    Bedrock's and Vertex's model ids under the cloud that bills them, in the events and the rollup."""
    root = _tree(tmp_path / "claude", calls=3)
    models = {
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0": "aws",
        "global.anthropic.claude-haiku-4-5-20251001-v1:0": "aws",
        "claude-sonnet-4-5@20250929": "google",
        "claude-sonnet-4-5": "anthropic",
    }
    lines = [
        encode(assistant(f"cloud_{i}", f"rc_{i}", "2026-10-02T10:00:00.000Z", session="c", model=m, output=5))
        for i, m in enumerate(models)
    ]
    (root / "projects" / "-home-dev-p0" / "c.jsonl").write_text("\n".join(lines) + "\n")
    db = tmp_path / "beside.db"
    _ingest(root, db, worker=True)
    conn = connect(db)
    try:
        events = dict(conn.execute("SELECT DISTINCT model, provider FROM usage_events").fetchall())
        rollup = dict(conn.execute("SELECT DISTINCT model, provider FROM usage_rollup").fetchall())
        priced = conn.execute("SELECT COUNT(*) FROM usage_events WHERE cost_nanos IS NULL").fetchone()
    finally:
        conn.close()
    assert events == rollup == {**models, SONNET: "anthropic"}  # the tree's other calls
    assert priced == (0,)


@pytest.mark.parametrize("worker", [False, True], ids=["in_turn", "beside"])
def test_what_is_left_goes_down_with_each_committed_batch(tmp_path: Path, worker: bool) -> None:
    """A background reading says how much is left; it stayed at the last chunk's figure while the
    chunk read on. Each report now says what the ledger's stored offsets leave, at that moment."""
    root = _tree(tmp_path / "claude")
    db = tmp_path / "left.db"
    logs = sorted(str(p) for p in root.rglob("*.jsonl"))
    checker = connect(db)
    reports: list[tuple[int, int, int, int]] = []

    def left(unread: int, files: int) -> None:
        stored = {row[0]: row[1] for row in checker.execute('SELECT path, "offset" FROM scanned_files')}
        behind = [os.path.getsize(p) - stored.get(p, 0) for p in logs]
        reports.append((unread, files, sum(behind), sum(b > 0 for b in behind)))

    try:
        summary, _ = _ingest(root, db, worker=worker, left=left)
    finally:
        checker.close()
    assert summary["complete"]
    assert len(reports) > 6  # the list of work, then a batch per file
    assert [(u, f) for u, f, _, _ in reports] == [(b, n) for _, _, b, n in reports]
    unread = [u for u, _, _, _ in reports]
    assert unread == sorted(unread, reverse=True) and unread[0] == sum(map(os.path.getsize, logs))
    # The last line of s2 has no newline yet (a session still writing it): all that is left.
    assert reports[-1][:2] == (len('{"type": "assistant"'), 1)
