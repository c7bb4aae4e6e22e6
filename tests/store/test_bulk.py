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
