"""Bulk loads: secondary indexes dropped for a first load come back, even after a crash."""

from __future__ import annotations

from pathlib import Path

from cost_mcp.store import connect
from cost_mcp.store.bulk import PENDING_KEY, drop_secondary_indexes, restore_indexes, table_is_empty
from cost_mcp.store.connection import Conn


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
    conn.close()  # the loader dies here: nothing restores them in this process
    again = connect(db)
    try:
        assert _index_sql(again) == before
        assert again.execute("SELECT 1 FROM meta WHERE key = ?", (PENDING_KEY,)).fetchone() is None
        assert restore_indexes(again) == 0  # nothing left to do
    finally:
        again.close()


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


def test_the_log_copy_trigger_dropped_for_a_load_is_settled_for_every_row_on_the_next_connect(
    tmp_path: Path,
) -> None:
    db = tmp_path / "cost.db"
    loader = connect(db)
    triggers = _triggers(loader)
    assert "usage_events_log_copy_added" in triggers
    drop_secondary_indexes(loader)
    assert _triggers(loader) == triggers - {"usage_events_log_copy_added"}
    # While the load runs, the OTel receiver stores two calls; the load then stores the log copy
    # of one of them. Without the trigger nothing uncounts that OTel copy yet.
    ts = 1_790_000_000_000
    _row(loader, "claude_code_otel", "otel-1", "req_1", ts)
    _row(loader, "claude_code_otel", "otel-2", "req_2", ts + 3_600_000)
    _row(loader, "claude_code", "msg_1", "req_1", ts)
    loader.execute("DELETE FROM rollup_dirty")
    assert _otel_counted(loader) == {"req_1": 1, "req_2": 1}
    loader.close()  # killed before the end of the load
    again = connect(db)
    try:
        assert _triggers(again) == triggers
        assert _otel_counted(again) == {"req_1": 0, "req_2": 1}
        assert [r[0] for r in again.execute("SELECT qh FROM rollup_dirty")] == [ts // 900_000]
        # The trigger is back: a log copy arriving now uncounts its OTel copy row by row again.
        _row(again, "claude_code", "msg_2", "req_2", ts + 3_600_000)
        assert _otel_counted(again) == {"req_1": 0, "req_2": 0}
        assert restore_indexes(again) == 0
    finally:
        again.close()
