"""A first load of many rows without maintaining secondary indexes row by row.

Inserting tens of thousands of rows under random keys into a table with several indexes updates
every index per row; building an index once after the load is a single sort. So a first load
drops ``usage_events``' secondary indexes (never its UNIQUE key, which dedup needs) and builds them
again at the end. The dropped definitions are saved in ``meta`` in the same transaction as the
drop, and :func:`restore_indexes` (run at the end of the load and on every :func:`connect`) builds
them back from there: a load killed in the middle leaves a ledger whose queries are correct (only
slower) until the next process opens it.

On PostgreSQL both are no-ops: its triggers (m016's cross-path dedup) look rows up through two of
those indexes on every insert, and the ingest is bound by parsing, not index upkeep, there.
"""

from __future__ import annotations

import json
import sqlite3

from cost_mcp.store.connection import Conn, dialect, write_transaction

PENDING_KEY = "bulk_load_dropped_indexes"
TABLE = "usage_events"


def table_is_empty(conn: Conn) -> bool:
    """Whether ``usage_events`` holds no row at all (a first load)."""
    return conn.execute(f"SELECT 1 FROM {TABLE} LIMIT 1").fetchone() is None


def drop_secondary_indexes(conn: Conn) -> int:
    """Drop the secondary indexes of ``usage_events`` for a bulk load; returns how many."""
    if dialect(conn) == "postgresql":
        return 0
    with write_transaction(conn):
        rows = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
            (TABLE,),
        ).fetchall()
        # An index a trigger names (INDEXED BY) must stay: without it every INSERT would fail.
        triggers = " ".join(
            r[0] or "" for r in conn.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger'")
        )
        rows = [(name, sql) for name, sql in rows if name not in triggers]
        if not rows:
            return 0
        pending = _pending(conn)
        pending.update((str(name), str(sql)) for name, sql in rows)
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (PENDING_KEY, json.dumps(pending, sort_keys=True)),
        )
        for name, _ in rows:
            conn.execute(f'DROP INDEX "{name}"')
    return len(rows)


def restore_indexes(conn: Conn) -> int:
    """Build every index a bulk load dropped (also after a crash); returns how many were built."""
    if dialect(conn) == "postgresql":
        return 0
    try:
        if (
            not _has_meta(conn)
            or conn.execute("SELECT 1 FROM meta WHERE key = ?", (PENDING_KEY,)).fetchone() is None
        ):
            return 0
    except sqlite3.OperationalError:
        raise
    except sqlite3.DatabaseError:
        # A damaged ledger: it still opens, so its first real use reports the damage with what to
        # do (store.connection.explain), as it would without this check.
        return 0
    with write_transaction(conn):
        pending = _pending(conn)  # read again under the write lock: another process may have done it
        present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        built = 0
        for name, sql in sorted(pending.items()):
            if name not in present:
                conn.execute(sql)
                built += 1
        conn.execute("DELETE FROM meta WHERE key = ?", (PENDING_KEY,))
    return built


def _pending(conn: Conn) -> dict[str, str]:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (PENDING_KEY,)).fetchone()
    return dict(json.loads(row[0])) if row else {}


def _has_meta(conn: Conn) -> bool:
    return (
        conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
        is not None
    )
