"""Bulk loads: secondary indexes dropped for a first load come back, even after a crash."""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from multiprocessing.synchronize import Event
from pathlib import Path

from cost_mcp.store import MIGRATIONS, connect, write_transaction
from cost_mcp.store import otel as otel_store
from cost_mcp.store.bulk import (
    PENDING_KEY,
    SETTLE,
    TRIGGERS_KEY,
    copy_in,
    drop_secondary_indexes,
    index_names,
    restore_indexes,
    table_is_empty,
)
from cost_mcp.store.claude_logs import upsert_copies
from cost_mcp.store.connection import Conn, connect_sqlite, dialect


def _index_sql(conn: Conn) -> set[str]:
    return {
        r[0] for r in conn.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
    }


def test_indexes_dropped_by_a_load_that_never_finished_are_rebuilt_on_the_next_connect(
    tmp_path: Path,
) -> None:
    db = tmp_path / "cost.db"
    conn = connect(db)
    before = _index_sql(conn)
    assert table_is_empty(conn)
    assert drop_secondary_indexes(conn) >= 2
    left = " ".join(_index_sql(conn))
    assert "usage_events_counted_ts" not in left and "usage_events_session" not in left
    assert "usage_events_otel_request" in left  # a trigger reads through it: kept
    # m020's change trigger reads MAX(change_seq) per recounted row without naming the index: kept
    # too, or each recount in the load scans the table.
    assert "usage_events_change_seq" in left
    assert "usage_events_price_note" in left  # partial, over the few rows with a price note: kept
    conn.close()  # the loader dies here: nothing restores them in this process
    again = connect(db)
    try:
        assert _index_sql(again) == before
        assert again.execute("SELECT 1 FROM meta WHERE key = ?", (PENDING_KEY,)).fetchone() is None
        assert restore_indexes(again) == 0  # nothing left to do
    finally:
        again.close()


def test_a_bulk_load_keeps_the_index_the_change_trigger_numbers_rows_from(tmp_path: Path) -> None:
    # m020's trigger takes MAX(change_seq) for every row an update changes (a load's recount
    # updates thousands): without its partial index that is a walk of the whole table per row.
    conn = connect(tmp_path / "cost.db")
    try:
        drop_secondary_indexes(conn)
        assert "usage_events_change_seq" in index_names(conn)
        plan = [
            str(r[3])
            for r in conn.execute(
                "EXPLAIN QUERY PLAN SELECT COALESCE(MAX(change_seq), 0) + 1 FROM usage_events "
                "WHERE change_seq IS NOT NULL"
            )
        ]
        assert any("usage_events_change_seq" in step for step in plan), plan
        assert not any(step.startswith("SCAN usage_events") and "INDEX" not in step for step in plan), plan
    finally:
        conn.close()


def test_a_restore_by_another_process_first_leaves_nothing_for_the_loader(tmp_path: Path) -> None:
    db = tmp_path / "cost.db"
    loader = connect(db)
    before = _index_sql(loader)
    drop_secondary_indexes(loader)
    other = connect(db)  # e.g. the MCP server starting while the CLI loads: it rebuilds them
    try:
        assert restore_indexes(loader) == 0
        assert _index_sql(loader) == before == _index_sql(other)
        loader.execute(
            "INSERT INTO usage_events (source, message_id, ts_ms, provider, model) "
            "VALUES ('x', 'm', 0, 'p', 'mod')"
        )
        assert not table_is_empty(loader)
    finally:
        other.close()
        loader.close()


# --- many rows at once: executemany on SQLite, COPY on PostgreSQL ----------------------------------


def _copy_row(message_id: str, output: int, request_id: str = "r", counted: int = 1) -> tuple[object, ...]:
    """A Claude Code log copy in claude_logs.COPY_COLUMNS order."""
    return (
        "claude_code", message_id, request_id, 0, 1_700_000_000_000, "anthropic", "claude-sonnet-4-5",
        "s1", "p", "claude-code", 4, output, 0, 0, 0, 0, 4 + output, "", 1000 * output, None,
        "claude-sonnet-4-5", "/logs/a.jsonl", "standard", "", "", counted,
    )  # fmt: skip


def _stored(conn: Conn) -> list[tuple[str, int]]:
    return [
        (str(m), int(o))
        for m, o in conn.execute("SELECT message_id, output_tokens FROM usage_events ORDER BY id")
    ]


def test_a_repeated_key_in_one_batch_is_applied_in_order_as_executemany_would(home: Path) -> None:
    # One INSERT ... SELECT may not update a row twice on PostgreSQL: rows sharing a key go in
    # successive statements, so the later copy meets the earlier one exactly as row by row.
    from cost_mcp.config import load_settings

    conn = connect(load_settings().db)
    try:
        with write_transaction(conn):
            upsert_copies(
                conn, [_copy_row("a", 10), _copy_row("b", 5), _copy_row("a", 30), _copy_row("a", 20)]
            )
        assert _stored(conn) == [("a", 30), ("b", 5)]  # most tokens wins, b numbered after a
        with write_transaction(conn):
            upsert_copies(conn, [_copy_row("b", 1), _copy_row("c", 7)])  # fewer tokens: b keeps 5
        assert _stored(conn) == [("a", 30), ("b", 5), ("c", 7)]
    finally:
        conn.close()


def test_rows_of_unstored_messages_go_straight_in_and_the_others_are_merged(home: Path) -> None:
    from cost_mcp.config import load_settings

    conn = connect(load_settings().db)
    try:
        with write_transaction(conn):
            upsert_copies(conn, [_copy_row("a", 10)], stored_messages=set())
            # "a" is stored: its better copy is merged; "d" and "e" are new and COPYed.
            upsert_copies(
                conn,
                [_copy_row("d", 3), _copy_row("a", 50), _copy_row("e", 4, request_id="")],
                stored_messages={"a"},
            )
        assert sorted(_stored(conn)) == [("a", 50), ("d", 3), ("e", 4)]
        assert conn.execute("SELECT COUNT(*) FROM usage_events WHERE counted = 1").fetchone()[0] == 3
        with write_transaction(conn):
            copy_in(conn, "rollup_dirty", ["qh"], [(1,), (2,)])
            copy_in(conn, "rollup_dirty", ["qh"], [])
        assert [r[0] for r in conn.execute("SELECT qh FROM rollup_dirty ORDER BY qh")] == [1, 2]
    finally:
        conn.close()


def test_a_killed_bulk_load_is_repaired_on_either_backend(home: Path) -> None:
    from cost_mcp.config import load_settings

    db = load_settings().db
    conn = connect(db)
    before = index_names(conn)
    dropped = drop_secondary_indexes(conn)
    assert dropped >= 2 and len(index_names(conn)) == len(before) - dropped
    assert not {"usage_events_counted_ts", "usage_events_session"} & index_names(conn)
    # The index the log-copy trigger probes for every row stays (PostgreSQL names it; SQLite's
    # trigger names its own): without it each insert would scan the table.
    assert "usage_events_otel_request" in index_names(conn)
    # Partial indexes over rows a load seldom writes (changed after their insert; with a price
    # note) cost the load next to nothing kept, and a scan of the table each rebuilt.
    assert {"usage_events_change_seq", "usage_events_price_note"} <= index_names(conn)
    conn.close()  # killed here
    again = connect(db)
    try:
        assert index_names(again) == before
        assert again.execute("SELECT 1 FROM meta WHERE key = ?", (PENDING_KEY,)).fetchone() is None
    finally:
        again.close()


BATCH_SECONDS = 3.0


def _load(db: str, in_batch: Event, go_on: Event, killed: bool) -> None:
    """A first load in its own process: indexes dropped, a batch holding the write lock for
    :data:`BATCH_SECONDS`, then (unless ``killed`` first) the indexes built at its end."""
    import os

    from cost_mcp.store import bulk, connect, write_transaction

    conn = connect(db)
    bulk.drop_secondary_indexes(conn, loader=True)
    with write_transaction(conn):
        in_batch.set()
        time.sleep(BATCH_SECONDS)
        bulk.beat(conn)
    if killed:
        os._exit(9)
    go_on.wait(60)
    bulk.restore_indexes(conn)
    conn.close()


def _loading(db: str, *, killed: bool) -> tuple[multiprocessing.process.BaseProcess, Event]:
    context = multiprocessing.get_context("spawn")
    in_batch, go_on = context.Event(), context.Event()
    process = context.Process(target=_load, args=(db, in_batch, go_on, killed))
    process.start()
    assert in_batch.wait(60)
    return process, go_on


def test_a_process_opening_the_ledger_during_a_load_leaves_the_indexes_to_the_loader(home: Path) -> None:
    # Claude Code runs the status line and the hook beside a first `cost-mcp ingest`: each opened
    # the ledger by waiting for the load's batch to commit and then building the dropped indexes
    # in the middle of the load, seconds past the 1 s they wait for a writer.
    from cost_mcp.config import load_settings

    db = load_settings().db
    connect(db).close()
    loader, go_on = _loading(str(db), killed=False)
    try:
        started = time.monotonic()
        conn = connect(db)
        took = time.monotonic() - started
        try:
            assert took < BATCH_SECONDS / 2, took
            assert "usage_events_counted_ts" not in index_names(conn)  # the loader's, still
            assert conn.execute("SELECT 1 FROM meta WHERE key = ?", (PENDING_KEY,)).fetchone() is not None
        finally:
            conn.close()
    finally:
        go_on.set()
        loader.join(60)
    assert loader.exitcode == 0
    with contextlib.closing(connect(db)) as after:
        assert "usage_events_counted_ts" in index_names(after)  # built by the loader at its end
        assert after.execute("SELECT 1 FROM meta WHERE key LIKE 'bulk_load%'").fetchone() is None


def test_a_load_killed_a_moment_ago_is_repaired_by_the_next_process(home: Path) -> None:
    from cost_mcp.config import load_settings

    db = load_settings().db
    with contextlib.closing(connect(db)) as conn:
        before = index_names(conn)
    loader, _ = _loading(str(db), killed=True)
    loader.join(60)
    assert loader.exitcode == 9
    with contextlib.closing(connect(db)) as again:  # its last batch a moment ago: its process is gone
        assert index_names(again) == before
        assert again.execute("SELECT 1 FROM meta WHERE key LIKE 'bulk_load%'").fetchone() is None


def _write_a_while(db: str, opened: Event, go_on: Event, in_batch: Event) -> None:
    """Another writer (a report reading the logs after the killed load) holding the write lock."""
    from cost_mcp.store import connect, write_transaction

    conn = connect(db)
    opened.set()
    go_on.wait(60)
    with write_transaction(conn):
        in_batch.set()
        time.sleep(BATCH_SECONDS)
    conn.close()


def test_a_process_opening_the_ledger_beside_a_writer_leaves_a_killed_loads_indexes_to_the_next(
    home: Path,
) -> None:
    # A status line opening the ledger after a killed first load waited for the write lock as long
    # as another writer held it (up to the busy timeout) to build the indexes, where it waits 1 s
    # for a writer.
    from cost_mcp.config import load_settings

    db = load_settings().db
    context = multiprocessing.get_context("spawn")
    opened, go_on, in_batch = context.Event(), context.Event(), context.Event()
    writer = context.Process(target=_write_a_while, args=(str(db), opened, go_on, in_batch))
    writer.start()
    try:
        assert opened.wait(60)
        with contextlib.closing(connect(db)) as conn:
            before = index_names(conn)
            drop_secondary_indexes(conn)  # and killed
        go_on.set()
        assert in_batch.wait(60)
        started = time.monotonic()
        with contextlib.closing(connect(db)) as conn:
            took = time.monotonic() - started
            assert took < BATCH_SECONDS / 2, took
            assert "usage_events_counted_ts" not in index_names(conn)  # left for the next
    finally:
        go_on.set()
        writer.join(60)
    assert writer.exitcode == 0
    with contextlib.closing(connect(db)) as again:
        assert index_names(again) == before
        assert again.execute("SELECT 1 FROM meta WHERE key LIKE 'bulk_load%'").fetchone() is None


def _row(conn: Conn, source: str, key: str, request_id: str, ts_ms: int, counted: int = 1) -> None:
    conn.execute(
        "INSERT INTO usage_events (source, message_id, request_id, counted, ts_ms, provider, model) "
        "VALUES (?, ?, ?, ?, ?, 'anthropic', 'claude-sonnet-4-5')",
        (source, key, request_id, counted, ts_ms),
    )


def _triggers(conn: Conn) -> set[str]:
    return {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}


def _otel_counted(conn: Conn) -> dict[str, int]:
    return {
        str(r): int(c)
        for r, c in conn.execute(
            "SELECT request_id, counted FROM usage_events WHERE source = 'claude_code_otel'"
        )
    }


def _previous_release(db: Path, upto: str = "m020_push_marks") -> Conn:
    """A ledger as the release before m021 left it (the log-copy insert trigger in place)."""
    old = connect_sqlite(db, migrate_schema=False)
    old.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for name, migrate in MIGRATIONS:
        migrate(old)
        old.execute("INSERT INTO _migrations VALUES (?, '2026-12-01')", (name,))
        if name == upto:
            return old
    raise AssertionError(f"no migration {upto}")


def test_a_previous_release_load_killed_with_the_log_copy_trigger_dropped_is_settled_on_upgrade(
    tmp_path: Path,
) -> None:
    db = tmp_path / "cost.db"
    loader = _previous_release(db)
    triggers = _triggers(loader)
    assert "usage_events_log_copy_added" in triggers
    drop_secondary_indexes(loader)
    assert _triggers(loader) == triggers - {"usage_events_log_copy_added", "usage_events_log_copy_removed"}
    # While the load runs, the OTel receiver stores two calls; the load then stores the log copy
    # of one of them. Without the trigger nothing uncounts that OTel copy yet.
    ts = 1_790_000_000_000
    _row(loader, "claude_code_otel", "otel-1", "req_1", ts)
    _row(loader, "claude_code_otel", "otel-2", "req_2", ts + 3_600_000)
    _row(loader, "claude_code", "msg_1", "req_1", ts)
    loader.execute("DELETE FROM rollup_dirty")
    assert _otel_counted(loader) == {"req_1": 1, "req_2": 1}
    loader.close()  # killed before the end of the load
    again = connect(db)  # this release: the load is settled, then m021 retires the trigger
    try:
        # m036 adds its own, on rollup_dirty.
        assert _triggers(again) == (triggers - {"usage_events_log_copy_added"}) | {"rollup_dirty_taken"}
        assert _otel_counted(again) == {"req_1": 0, "req_2": 1}
        assert [r[0] for r in again.execute("SELECT qh FROM rollup_dirty")] == [ts // 900_000]
        assert again.execute("SELECT 1 FROM meta WHERE key = ?", (TRIGGERS_KEY,)).fetchone() is None
        # A log copy arriving now is settled by its writer, once per batch.
        _row(again, "claude_code", "msg_2", "req_2", ts + 3_600_000)
        assert _otel_counted(again) == {"req_1": 0, "req_2": 1}
        otel_store.uncount_otel_copies(again, ["req_2", ""])
        assert _otel_counted(again) == {"req_1": 0, "req_2": 0}
        assert restore_indexes(again) == 0
    finally:
        again.close()


def _otel_event(key: str, request_id: str, ts_ms: int) -> otel_store.Row:
    return (
        "claude_code_otel", key, request_id, ts_ms, "anthropic", "claude-sonnet-4-5", "s1", "",
        "", 1, 2, 0, 0, 0, 3, "", None, None, None, "{}",
    )  # fmt: skip


def test_otel_writes_and_forgotten_log_copies_during_a_load_count_as_the_triggers_would(
    home: Path,
) -> None:
    from cost_mcp.config import load_settings

    db = load_settings().db
    conn = connect(db)
    triggers = _triggers(conn) if dialect(conn) == "sqlite" else set()
    ts = 1_790_000_000_000
    _row(conn, "claude_code", "msg_1", "req_1", ts)
    _row(conn, "claude_code", "msg_2", "req_2", ts + 900_000)
    otel_store.write(conn, [_otel_event("otel-2", "req_2", ts + 900_000)], [])
    assert _otel_counted(conn) == {"req_2": 0}
    drop_secondary_indexes(conn)
    # The load drops the log rows' request-id index, and with it on SQLite the delete trigger
    # that names it; the receiver and a forget may still write between two of its batches.
    assert "usage_events_cc_request" not in index_names(conn)
    if dialect(conn) == "sqlite":
        assert _triggers(conn) == triggers - {"usage_events_log_copy_removed"}
    otel_store.write(
        conn, [_otel_event("otel-1", "req_1", ts), _otel_event("otel-3", "req_3", ts + 1_800_000)], []
    )
    conn.execute("DELETE FROM rollup_dirty")
    conn.execute("DELETE FROM usage_events WHERE message_id = 'msg_2'")
    assert _otel_counted(conn)["req_1"] == 0 and _otel_counted(conn)["req_3"] == 1
    restore_indexes(conn)
    try:
        assert "usage_events_cc_request" in index_names(conn)
        if dialect(conn) == "sqlite":
            assert _triggers(conn) == triggers
        # req_2's log copy is gone: its OTel copy counts again, and its quarter-hour is rebuilt.
        assert _otel_counted(conn) == {"req_1": 0, "req_2": 1, "req_3": 1}
        dirty = {r[0] for r in conn.execute("SELECT qh FROM rollup_dirty")}
        assert (ts + 900_000) // 900_000 in dirty
    finally:
        conn.close()


def test_the_receivers_insert_reads_the_log_rows_request_id_index_and_does_without_it(
    tmp_path: Path,
) -> None:
    conn = connect(tmp_path / "cost.db")
    try:
        plans = {}
        for sql in (otel_store._INSERT, otel_store._INSERT_WHILE_LOADING):
            probe = sql[sql.index("SELECT 1") : sql.index(") THEN")].replace("?3", "'req'")
            plans[sql] = " ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + probe))
        assert "USING INDEX usage_events_cc_request (request_id=?)" in plans[otel_store._INSERT]
        drop_secondary_indexes(conn)
        sql = otel_store._INSERT_WHILE_LOADING
        probe = sql[sql.index("SELECT 1") : sql.index(") THEN")].replace("?3", "'req'")
        plan = " ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + probe))
        # Named nothing, the planner walks the log rows' prefix of the unique key per event: only
        # while a load has the index dropped.
        assert "(source=?)" in plan and "usage_events_cc_request" not in plan
        restore_indexes(conn)
        # The delete trigger's settle after a load walks the OTel copies, a probe of the log rows'
        # index each, not every uncounted row of the load.
        for statement in SETTLE["usage_events_log_copy_removed"]:
            plan = " ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + statement))
            assert "SCAN o USING INDEX usage_events_otel_request" in plan
            assert "usage_events_cc_request (request_id=?)" in plan
    finally:
        conn.close()


def test_m021_leaves_every_stored_row_as_the_trigger_counted_it(tmp_path: Path) -> None:
    db = tmp_path / "cost.db"
    old = _previous_release(db)
    ts = 1_790_000_000_000
    # Both arrival orders under the trigger: OTel first then its log copy, and log copy first.
    _row(old, "claude_code_otel", "otel-1", "req_1", ts)
    _row(old, "claude_code", "msg_1", "req_1", ts)
    _row(old, "claude_code", "msg_2", "req_2", ts)
    _row(old, "claude_code_otel", "otel-2", "req_2", ts, counted=0)
    _row(old, "claude_code_otel", "otel-3", "req_3", ts)
    stored = old.execute("SELECT id, source, counted, change_seq FROM usage_events ORDER BY id").fetchall()
    assert _otel_counted(old) == {"req_1": 0, "req_2": 0, "req_3": 1}
    old.close()
    conn = connect(db)
    try:
        assert "usage_events_log_copy_added" not in _triggers(conn)
        assert (
            conn.execute("SELECT id, source, counted, change_seq FROM usage_events ORDER BY id").fetchall()
            == stored
        )
        # Forgetting a log copy still makes its OTel copy count again (the delete trigger stays).
        conn.execute("DELETE FROM usage_events WHERE message_id = 'msg_1'")
        assert _otel_counted(conn) == {"req_1": 1, "req_2": 0, "req_3": 1}
    finally:
        conn.close()


def _copy(message_id: str) -> tuple[object, ...]:
    return ("claude_code", message_id, f"r-{message_id}", 0, 1, "anthropic", "claude-sonnet-4-5", "s", "p",
            "claude-code", 1, 1, 0, 0, 0, 0, 2, "", 1, None, None, "/a.jsonl", "", "", "", 1)  # fmt: skip


def _batch(conn: Conn, messages: list[str], *, write: list[str]) -> list[str]:
    """One writer's batch as the log reader makes it: look the messages up, then write ``write``
    (those found go through the merge); returns the messages found."""
    from cost_mcp.store import claude_logs

    with write_transaction(conn):
        touched = claude_logs.touch(conn, "claude_code", messages)
        found = sorted({m for m, _, _ in claude_logs.touched_rows(conn, touched)})
        upsert_copies(conn, [_copy(m) for m in write], stored_messages=set(found))
    return found


def test_a_large_reads_look_ups_skip_only_what_no_one_can_hold(home: Path) -> None:
    # A first load looks up only the messages it wrote itself until anyone else adds a row: from
    # then on every id is looked up again, so a message written by another process is found. On
    # SQLite the other process's insert here takes the row id a deleted row had, so that only
    # PRAGMA data_version (not the largest row id) tells that someone wrote.
    from cost_mcp.config import load_settings
    from cost_mcp.store import claude_logs

    db = load_settings().db
    conn, other = connect(db), connect(db)
    try:
        with claude_logs.large_read(conn):
            assert _batch(conn, ["a", "b"], write=["a", "b"]) == []
            assert _batch(conn, ["a", "c"], write=["a", "c"]) == ["a"]
            memo = claude_logs._written[conn]
            assert memo.mark is not None and not memo.gone
            # Nothing else wrote: an id no batch wrote is not looked up at all. One whose slot of
            # the filter is free: str hashes change from run to run, and an id sharing a written
            # id's slot is looked up by design.
            mask = len(memo.slots) - 1
            unseen = next(m for m in (f"d{n}" for n in range(100)) if not memo.slots[hash(m) & mask])
            with write_transaction(conn):
                assert claude_logs._worth_probing(conn, "claude_code", ["b", unseen])[0] == ["b"]
            with write_transaction(other):  # another process, between two batches
                last = other.execute("SELECT MAX(id) FROM usage_events").fetchone()[0]
                other.execute("DELETE FROM usage_events WHERE id = ?", (last,))
                upsert_copies(other, [_copy("x")])
                if dialect(other) == "sqlite":
                    assert other.execute("SELECT MAX(id) FROM usage_events").fetchone()[0] == last
            assert _batch(conn, ["x", "b", "y"], write=["y"]) == ["b", "x"]
            assert claude_logs._written[conn].gone
            assert _batch(conn, ["x"], write=[]) == ["x"]
        assert conn not in claude_logs._written
        count = "SELECT COUNT(*) FROM usage_events WHERE source = 'claude_code'"
        assert conn.execute(count).fetchone()[0] == 4  # a, b, x, y (c deleted by the other)
    finally:
        conn.close()
        other.close()


def test_a_large_reads_look_ups_see_a_write_of_its_own_connection_outside_the_read(home: Path) -> None:
    # A process shares its one connection between threads one at a time: another writer on the
    # same connection between two batches (an OTLP receiver's, say) commits nothing "another
    # connection" did, so the largest row id (or PostgreSQL's sequence) must tell.
    from cost_mcp.config import load_settings
    from cost_mcp.store import claude_logs

    conn = connect(load_settings().db)
    try:
        with claude_logs.large_read(conn):
            assert _batch(conn, ["a"], write=["a"]) == []
            with write_transaction(conn):
                upsert_copies(conn, [_copy("x")])
            assert _batch(conn, ["x", "z"], write=[]) == ["x"]
            assert claude_logs._written[conn].gone
    finally:
        conn.close()


def test_a_large_read_into_a_ledger_holding_the_source_looks_every_id_up(home: Path) -> None:
    from cost_mcp.config import load_settings
    from cost_mcp.store import claude_logs

    conn = connect(load_settings().db)
    try:
        _batch(conn, ["held"], write=["held"])
        with claude_logs.large_read(conn):
            assert _batch(conn, ["held", "new"], write=["held", "new"]) == ["held"]
            assert claude_logs._written[conn].gone
            assert _batch(conn, ["held", "new"], write=[]) == ["held", "new"]
    finally:
        conn.close()


def test_a_large_reads_memory_of_what_it_wrote_does_not_grow_with_it(home: Path) -> None:
    # A user's history can hold millions of messages: what a first load remembers of the ids it
    # wrote stays the same size however many it writes (a set of their hashes took ~70 bytes
    # each), and every id written is still looked up, in any later batch.
    import tracemalloc

    from cost_mcp.config import load_settings
    from cost_mcp.store import claude_logs

    first = [f"msg_a{i}" for i in range(20_000)]
    second = [f"msg_b{i}" for i in range(20_000)]
    unseen = [f"msg_c{i}" for i in range(20_000)]
    mine = tracemalloc.Filter(True, claude_logs.__file__)
    conn = connect(load_settings().db)
    try:
        with claude_logs.large_read(conn):
            assert _batch(conn, first, write=first) == []
            tracemalloc.start()
            try:
                _batch(conn, second[:1], write=second[:1])
                before = tracemalloc.take_snapshot().filter_traces([mine])
                _batch(conn, second[1:], write=second[1:])
                after = tracemalloc.take_snapshot().filter_traces([mine])
            finally:
                tracemalloc.stop()
            grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
            assert grown < 64 * 1024, f"{grown:,} bytes kept for 19,999 ids written"
            with write_transaction(conn):
                probed = set(claude_logs._worth_probing(conn, "claude_code", first + unseen)[0])
            assert probed >= set(first)  # no id written is skipped
            assert len(probed - set(first)) < 2_000  # ~1 % share a slot with one written
            assert _batch(conn, [*first[::1000], *second[::1000], *unseen[::1000]], write=[]) == sorted(
                first[::1000] + second[::1000]
            )
            assert not claude_logs._written[conn].gone
    finally:
        conn.close()


def test_a_large_read_checkpoints_rarely_and_then_as_before(tmp_path: Path) -> None:
    from cost_mcp.store.claude_logs import LOAD_CHECKPOINT_BYTES, few_checkpoints

    conn = connect(tmp_path / "cost.db")
    try:
        before = conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        with few_checkpoints(conn):
            assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] * page == LOAD_CHECKPOINT_BYTES
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == before
    finally:
        conn.close()


def test_a_loads_wal_is_copied_into_the_database_beside_the_index_builds(tmp_path: Path) -> None:
    # The load's pages reach the database file through the other thread's connection: the first
    # commit after the load (its own checkpoint, on the writer's thread) is left only what followed.
    from cost_mcp.store.claude_logs import checkpoint_beside, few_checkpoints

    db = tmp_path / "cost.db"
    conn = connect(db)
    try:
        with few_checkpoints(conn):
            with write_transaction(conn):
                upsert_copies(conn, [_copy(f"m{i}") for i in range(5_000)])
            before = db.stat().st_size
            wal = Path(f"{db}-wal").stat().st_size
            assert wal > 10 * before  # nothing checkpointed yet
            # Every page the load committed (the WAL holds more: earlier versions of the same pages).
            loaded = (
                conn.execute("PRAGMA page_count").fetchone()[0]
                * conn.execute("PRAGMA page_size").fetchone()[0]
            )
            assert loaded > 10 * before
            # The writer goes on meanwhile (the index builds).
            with checkpoint_beside(conn), write_transaction(conn):
                conn.execute("CREATE INDEX t_ts ON usage_events (ts_ms)")
            assert db.stat().st_size >= loaded
        assert conn.execute("SELECT COUNT(*) FROM usage_events").fetchone()[0] == 5_000
    finally:
        conn.close()


def _rollup_tables(conn: Conn) -> dict[str, list[tuple[object, ...]]]:
    from cost_mcp.store import rollup

    tables = [t for t, _, _ in rollup.LEVELS] + [f"{t}_nosession" for t, _, _ in rollup.LEVELS]
    return {t: sorted(tuple(r) for r in conn.execute(f"SELECT * FROM {t}")) for t in tables}


def test_a_first_load_leaves_every_rollup_level_as_a_rebuild_from_the_events_would(home: Path) -> None:
    """A first load sums the rollup per batch and rebuilds its recounted quarter-hours after the
    index builds: every level and its twin equal to a rebuild of every quarter-hour from the
    events, with gaps of empty quarter-hours and calls split across batches."""
    from unittest import mock

    from cost_mcp.config import load_settings
    from cost_mcp.pricing import Pricer
    from cost_mcp.sources import claude_code
    from cost_mcp.store import rollup
    from tests.sources.claude_logs import assistant, encode

    projects = home / "claude" / "projects"
    for s in range(4):
        lines = []
        for n in range(30):
            # Days apart and hours apart: many runs of dirty quarter-hours with gaps between them.
            ts = f"2026-10-{1 + (s * 7 + n) % 28:02d}T{(n * 5) % 24:02d}:{(n * 13) % 60:02d}:00.000Z"
            mid, rid = f"msg_{s}_{n % 20}", f"req_{s}_{n % 20}"  # repeats: recounts across batches
            lines.append(encode(assistant(mid, rid, ts, session=f"s{s}", output=10 + n, cache_read=n)))
        path = projects / f"-home-dev-p{s % 2}" / f"s{s}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
    settings = load_settings()
    conn = connect(settings.db)
    try:
        with (
            mock.patch.object(claude_code, "BULK_LOAD_BYTES", 0),
            mock.patch.object(claude_code, "BATCH_COPIES", 9),
        ):
            added = claude_code.ingest(conn, settings, Pricer(), full=True).events_added
        assert added == 80
        assert conn.execute("SELECT COUNT(*) FROM rollup_dirty").fetchone()[0] == 0
        assert index_names(conn) >= {"usage_events_counted_ts", "usage_events_session"}
        loaded = _rollup_tables(conn)
        assert loaded["usage_rollup"] and loaded["usage_rollup_day_nosession"]
        qhs = [int(r[0]) for r in conn.execute("SELECT DISTINCT ts_ms / 900000 FROM usage_events")]
        with write_transaction(conn):
            rollup.rebuild(conn, qhs)
        assert _rollup_tables(conn) == loaded
    finally:
        conn.close()
