"""Kept staging tables (store.stages): each use holds exactly the rows staged, across commits,
rollbacks and a table staged twice in one transaction; pushes through them stay exact."""

from __future__ import annotations

import pytest

from cost_mcp.config import Settings
from cost_mcp.store import connect, stages, write_transaction
from cost_mcp.store.connection import Conn, dialect

COLUMNS = ("source", "message_id", "ts_ms")


def _rows(conn: Conn, stage: str) -> list[tuple[object, ...]]:
    return [tuple(r) for r in conn.execute(f"SELECT source, message_id, ts_ms FROM {stage} ORDER BY n")]


def test_kept_tables_hold_exactly_what_was_staged(settings: Settings) -> None:
    conn = connect(settings.db)
    try:
        if dialect(conn) != "postgresql":
            # SQLite stages nothing (executemany); preparing is a no-op there.
            stages.prepare(conn, [("usage_events", COLUMNS)])
            return
        with write_transaction(conn):
            # Inside a transaction a table made could be rolled back: nothing is made, and staging
            # falls back to the table store.bulk looks up each time.
            stages.prepare(conn, [("usage_events", COLUMNS)])
            assert not stages.staged(conn, "usage_events", COLUMNS, [("a", "m0", 0)]).startswith("kept_")
        stages.prepare(conn, [("usage_events", COLUMNS)])
        with write_transaction(conn):
            stage = stages.staged(conn, "usage_events", COLUMNS, [("a", "m1", 1), ("a", "m2", 2)])
            assert stage.startswith("kept_")
            assert _rows(conn, stage) == [("a", "m1", 1), ("a", "m2", 2)]
            # Twice in one transaction (a batch merged in rounds): only the second round's rows.
            assert stages.staged(conn, "usage_events", COLUMNS, [("a", "m3", 3)]) == stage
            assert _rows(conn, stage) == [("a", "m3", 3)]
        assert _rows(conn, stage) == []  # the commit emptied it
        stages.prepare(conn, [("usage_events", COLUMNS)])
        with pytest.raises(RuntimeError), write_transaction(conn):
            stages.staged(conn, "usage_events", COLUMNS, [("a", "m4", 4)])
            raise RuntimeError("a push that fails half-way")
        # The rollback neither dropped the table (it was made outside any transaction) nor left rows.
        assert _rows(conn, stage) == []
        stages.prepare(conn, [("usage_events", COLUMNS)])
        with write_transaction(conn):
            assert stages.staged(conn, "usage_events", COLUMNS, [("b", "m5", 5)]) == stage
            assert _rows(conn, stage) == [("b", "m5", 5)]
        # Without prepare since the last transaction, a stage still filled from it is emptied first.
        with write_transaction(conn):
            stages.staged(conn, "usage_events", COLUMNS, [("c", "m6", 6)])
            assert _rows(conn, stage) == [("c", "m6", 6)]
    finally:
        conn.close()


@pytest.mark.postgresql_only
def test_each_connection_makes_its_own(settings: Settings) -> None:
    # Temporary tables belong to a session: another pooled connection (or a replica's) makes its own.
    first, second = connect(settings.db), connect(settings.db)
    try:
        stages.prepare(first, [("usage_events", COLUMNS)])
        with write_transaction(first):
            stage = stages.staged(first, "usage_events", COLUMNS, [("a", "m1", 1)])
        stages.prepare(second, [("usage_events", COLUMNS)])
        with write_transaction(second):
            assert stages.staged(second, "usage_events", COLUMNS, [("b", "m2", 2)]) == stage
            assert _rows(second, stage) == [("b", "m2", 2)]
    finally:
        first.close()
        second.close()
