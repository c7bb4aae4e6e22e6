"""A first load of many rows without maintaining secondary indexes row by row.

Inserting tens of thousands of rows under random keys into a table with several indexes updates
every index per row; building an index once after the load is a single sort. So a first load
drops ``usage_events``' secondary indexes (never its UNIQUE key, which dedup needs) and builds them
again at the end. The dropped definitions are saved in ``meta`` in the same transaction as the
drop, and :func:`restore_indexes` (run at the end of the load and on every :func:`connect`) builds
them back from there: a load killed in the middle leaves a ledger whose queries are correct (only
slower) until the next process opens it.

Row triggers whose whole effect one set-based statement can redo (:data:`SETTLE`) are dropped the
same way: m016's ``usage_events_log_copy_added`` ran a sub-query per inserted row (~0.3 s of a 3 s
cold ingest of 75k rows) to uncount the OpenTelemetry copy of a call whose log copy arrives. It is
created again at the end of the load (or by the next connect after a crash) and its statement is
then run once over the whole table, in the same transaction: an OTel copy that arrived while the
trigger was gone stops counting then, as it would have row by row.

On PostgreSQL both are no-ops: its triggers (m016's cross-path dedup) look rows up through two of
those indexes on every insert, and the ingest is bound by parsing, not index upkeep, there.
"""

from __future__ import annotations

import json
import sqlite3

from cost_mcp.store.connection import Conn, dialect, write_transaction

PENDING_KEY = "bulk_load_dropped_indexes"
TRIGGERS_KEY = "bulk_load_dropped_triggers"
TABLE = "usage_events"

SETTLE: dict[str, tuple[str, ...]] = {
    # m016: a log copy (claude_code) of an API request makes its OTel copy stop counting.
    "usage_events_log_copy_added": (
        """INSERT INTO rollup_dirty (qh)
           SELECT DISTINCT ts_ms / 900000 FROM usage_events
           WHERE source = 'claude_code_otel' AND counted = 1 AND request_id != '' AND request_id IN (
               SELECT request_id FROM usage_events WHERE source = 'claude_code' AND request_id != '')
           ON CONFLICT DO NOTHING""",
        """UPDATE usage_events SET counted = 0
           WHERE source = 'claude_code_otel' AND counted = 1 AND request_id != '' AND request_id IN (
               SELECT request_id FROM usage_events WHERE source = 'claude_code' AND request_id != '')""",
    ),
}
"""Triggers a bulk load may drop, each with the statements that redo its effect for every row."""


def table_is_empty(conn: Conn) -> bool:
    """Whether ``usage_events`` holds no row at all (a first load)."""
    return conn.execute(f"SELECT 1 FROM {TABLE} LIMIT 1").fetchone() is None


def drop_secondary_indexes(conn: Conn) -> int:
    """Drop the secondary indexes of ``usage_events`` for a bulk load; returns how many."""
    if dialect(conn) == "postgresql":
        return 0
    with write_transaction(conn):
        _drop_settled_triggers(conn)
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


def _drop_settled_triggers(conn: Conn) -> None:
    """Drop the triggers of :data:`SETTLE` on ``usage_events``, keeping their SQL in ``meta``."""
    rows = [
        (str(name), str(sql))
        for name, sql in conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (TABLE,)
        )
        if name in SETTLE
    ]
    if not rows:
        return
    pending = _pending(conn, TRIGGERS_KEY)
    pending.update(rows)
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (TRIGGERS_KEY, json.dumps(pending, sort_keys=True)),
    )
    for name, _ in rows:
        conn.execute(f'DROP TRIGGER "{name}"')


def restore_indexes(conn: Conn) -> int:
    """Build every index a bulk load dropped (also after a crash); returns how many were built."""
    if dialect(conn) == "postgresql":
        return 0
    try:
        if (
            not _has_meta(conn)
            or conn.execute("SELECT 1 FROM meta WHERE key IN (?, ?)", (PENDING_KEY, TRIGGERS_KEY)).fetchone()
            is None
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
        # After the indexes: a trigger may read through one of them (INDEXED BY).
        present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        for name, sql in sorted(_pending(conn, TRIGGERS_KEY).items()):
            if name not in present:
                conn.execute(sql)
            for statement in SETTLE.get(name, ()):
                conn.execute(statement)
        conn.execute("DELETE FROM meta WHERE key = ?", (TRIGGERS_KEY,))
    return built


def _pending(conn: Conn, key: str = PENDING_KEY) -> dict[str, str]:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return dict(json.loads(row[0])) if row else {}


def _has_meta(conn: Conn) -> bool:
    return (
        conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
        is not None
    )
