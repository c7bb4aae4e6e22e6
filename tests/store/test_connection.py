"""Connection settings a block changes for itself come back afterwards, on both engines."""

from __future__ import annotations

import contextlib
import multiprocessing
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from cost_mcp.store.connection import Conn, dialect, lock_timeout, sqlite_pragma
from tests import fleet


def _waited_ms(conn: Conn) -> int:
    if dialect(conn) == "postgresql":
        from cost_mcp.store.postgres import PgConnection

        assert isinstance(conn, PgConnection)
        previous = conn.set_lock_timeout(0)
        conn.set_lock_timeout(previous)
        return previous
    return int(conn.execute("PRAGMA busy_timeout").fetchone()[0])


def test_a_shorter_wait_holds_inside_the_block_only(conn: Conn) -> None:
    before = _waited_ms(conn)
    assert before > 250
    with pytest.raises(RuntimeError), lock_timeout(conn, 250):
        assert _waited_ms(conn) == 250
        raise RuntimeError("the block fails")
    assert _waited_ms(conn) == before


@pytest.mark.sqlite_only  # PostgreSQL takes the block's own lock_timeout, longer or not
def test_a_longer_wait_than_the_connections_is_not_taken_on_sqlite(conn: Conn) -> None:
    before = _waited_ms(conn)
    with lock_timeout(conn, before * 10):
        assert _waited_ms(conn) == before


@pytest.mark.sqlite_only  # a SQLite pragma
def test_a_pragma_comes_back_after_a_failing_block(conn: Conn) -> None:
    before = int(conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
    with pytest.raises(RuntimeError), sqlite_pragma(conn, "wal_autocheckpoint", lambda now: now * 3):
        assert int(conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]) == before * 3
        raise RuntimeError("the block fails")
    assert int(conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]) == before


def test_a_new_ledger_has_16_kib_pages_and_an_older_one_keeps_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fuller pages: a first load's inserts, commits and index builds take less CPU (bench/README,
    # issue 18, fifteenth round). A file's page size is fixed once it holds a table.
    from cost_mcp.store import connect
    from cost_mcp.store import connection as connection_module

    new = connect(tmp_path / "new.db")
    try:
        assert new.execute("PRAGMA page_size").fetchone()[0] == 16384
        assert new.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        new.close()
    monkeypatch.setattr(connection_module, "PAGE_SIZE", 4096)  # as releases before made it
    connect(tmp_path / "old.db").close()
    monkeypatch.undo()
    old = connect(tmp_path / "old.db")
    try:
        assert old.execute("PRAGMA page_size").fetchone()[0] == 4096
        old.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')")
        assert old.execute("SELECT value FROM meta WHERE key = 'k'").fetchone()[0] == "v"
    finally:
        old.close()


OPENERS = 8
ROUNDS = 12


def _open_each_round(folder: str, ready: Barrier, out: multiprocessing.Queue[str]) -> None:
    from cost_mcp.errors import CostMcpError
    from cost_mcp.store import connect

    for n in range(ROUNDS):
        ready.wait(60)  # every process at the same new file at once
        try:
            connect(Path(folder) / f"round{n}.db").close()
        except CostMcpError as exc:
            out.put(f"round {n}: {exc}")
            continue
        out.put("ok")


@pytest.mark.sqlite_only  # a file's journal mode; PostgreSQL's migrations wait on their own lock
def test_processes_creating_the_ledger_at_once_all_open_it(tmp_path: Path) -> None:
    # Claude Code starts the server beside the status line and hook; a team starts several servers.
    # SQLite refused the losers' switch of the new file to WAL at once ("database is locked"),
    # without waiting: here one or more of eight failed in 18 of 60 tries.
    context = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue[str] = context.Queue()
    ready = context.Barrier(OPENERS)
    # Forked from one process that imported the code once (tests/fleet.py), each its own process.
    workers = fleet.start(_open_each_round, [(str(tmp_path), ready, out)] * OPENERS)
    answers = [out.get(timeout=120) for _ in range(OPENERS * ROUNDS)]
    workers.join(60)
    assert workers.exitcode == 0  # every opener exited 0
    assert [a for a in answers if a != "ok"] == []
    for n in range(ROUNDS):
        from cost_mcp.store import connect

        with contextlib.closing(connect(tmp_path / f"round{n}.db")) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_the_wal_a_reader_kept_at_its_peak_shrinks_at_the_next_write(tmp_path: Path) -> None:
    """A large write while a reader held a snapshot (the status line, a dashboard query) left the
    final checkpoint incomplete, and the -wal file stayed at its peak size for good (15 MB after a
    68.8 MB ingest; a first load lets it reach ~100 MB). Once the WAL is checkpointed, the next
    write starts it over and leaves at most WAL_SIZE_LIMIT of it."""
    import os
    import sqlite3

    from cost_mcp.store import connect, write_transaction
    from cost_mcp.store.connection import WAL_SIZE_LIMIT

    db = tmp_path / "cost.db"
    wal = Path(f"{db}-wal")
    conn = connect(db)
    try:
        conn.execute("CREATE TABLE load (x BLOB)")
        reader = sqlite3.connect(db)
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM meta").fetchone()  # a snapshot held through the load
        with sqlite_pragma(conn, "wal_autocheckpoint", lambda _: 100_000):  # as a first load does
            for _ in range(48):
                with write_transaction(conn):
                    conn.execute("INSERT INTO load VALUES (?)", (os.urandom(1 << 20),))
        peak = wal.stat().st_size
        assert peak > 1.4 * WAL_SIZE_LIMIT
        reader.rollback()
        reader.close()
        assert conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[0] == 0  # all copied back
        assert wal.stat().st_size == peak  # a checkpoint alone leaves the file as it is
        with write_transaction(conn):
            conn.execute("INSERT INTO load VALUES (x'00')")
        assert wal.stat().st_size <= WAL_SIZE_LIMIT
    finally:
        conn.close()
