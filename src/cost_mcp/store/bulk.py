"""A first load of many rows without maintaining secondary indexes row by row.

Inserting tens of thousands of rows under random keys into a table with several indexes updates
every index per row; building an index once after the load is a single sort. So a first load
drops ``usage_events``' secondary indexes (never its UNIQUE key, which dedup needs) and builds them
again at the end. The dropped definitions are saved in ``meta`` in the same transaction as the
drop, and :func:`restore_indexes` (run at the end of the load and on every :func:`connect`) builds
them back from there: a load killed in the middle leaves a ledger whose queries are correct (only
slower) until the next process opens it. A process opening the ledger while the load is still
under way leaves them to the loader (:data:`LOADER_KEY`): it waited for the load's write lock and
then built them itself, in the middle of the load (a status line or hook: seconds, not the 1 s
they wait for a writer).

PostgreSQL drops its indexes too, keeping the one secondary index the cross-path dedup (m016's
rule, applied per batch since m021) looks up for every log row, ``usage_events_otel_request``: a
partial index over OTel rows only, which a log row never has to update.

On SQLite, row triggers whose whole effect one set-based statement can redo (:data:`SETTLE`) are
dropped the same way: m016's ``usage_events_log_copy_added`` ran a sub-query per inserted row (~0.3
s of a 3 s cold ingest of 75k rows) to uncount the OpenTelemetry copy of a call whose log copy
arrives. It is created again at the end of the load (or by the next connect after a crash) and its
statement is then run once over the whole table, in the same transaction: an OTel copy that arrived
while the trigger was gone stops counting then, as it would have row by row. (PostgreSQL keeps its
triggers.) Since m021 that trigger is gone (log writers apply its rule per batch,
``store.otel.uncount_otel_copies``): this now settles a load a previous release left unfinished.
m016's delete trigger is dropped and settled likewise: it names ``usage_events_cc_request``, the
partial index of log rows' request ids, which costs a load's insert more than any other index
(0.1-0.2 s of 75k rows) and is built after it with the others. The OTLP receiver's insert names it
too, and falls back to a plan without it while a load has it dropped (``store.otel.write``).

Many rows go in through :func:`insert_rows` and :func:`copy_in`: ``executemany`` on SQLite (one
prepared statement, no round trips), ``COPY`` on PostgreSQL, where ``executemany`` costs the
server one statement per row (a 20,000-row batch of log copies took 4 s that way). An upsert
there is a ``COPY`` into a temporary staging table and one ``INSERT ... SELECT ... ON CONFLICT``.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
import weakref
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, cast

from cost_mcp.store.connection import (
    REFRESH_LOCK_TIMEOUT_MS,
    Conn,
    dialect,
    is_busy,
    lock_timeout,
    write_transaction,
)
from cost_mcp.store.connection import marks as placeholders

if TYPE_CHECKING:
    from cost_mcp.store.postgres import PgConnection

PENDING_KEY = "bulk_load_dropped_indexes"
TRIGGERS_KEY = "bulk_load_dropped_triggers"
LOADER_KEY = "bulk_load_loader"
"""The process loading with the indexes dropped (host and pid) and when it last wrote a batch."""
LOADER_SILENT_SECONDS = 30.0
"""How long after a loader's last batch (:func:`beat`) its load still counts as under way unless its
process is known gone: a loader on another host (a shared PostgreSQL ledger), or one whose process
id another process took since, is then taken for killed and its indexes are built."""
_loaders: weakref.WeakSet[Any] = weakref.WeakSet()
"""This process's connections loading with the indexes dropped (see :func:`drop_secondary_indexes`)."""
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
    # m016: a log copy deleted (forgotten) while no other log copy of its request id is left makes
    # its OTel copy count again. Dropped for a load because it names usage_events_cc_request, which
    # a SQLite load drops too.
    # Run after the indexes are back; each walks the OTel copies only (none in most ledgers): the
    # planner would otherwise walk every uncounted row by usage_events_counted_ts.
    "usage_events_log_copy_removed": (
        """INSERT INTO rollup_dirty (qh)
           SELECT DISTINCT ts_ms / 900000 FROM usage_events AS o INDEXED BY usage_events_otel_request
           WHERE source = 'claude_code_otel' AND counted = 0 AND request_id != '' AND NOT EXISTS (
               SELECT 1 FROM usage_events INDEXED BY usage_events_cc_request
               WHERE source = 'claude_code' AND request_id = o.request_id)
           ON CONFLICT DO NOTHING""",
        """UPDATE usage_events AS o INDEXED BY usage_events_otel_request SET counted = 1
           WHERE source = 'claude_code_otel' AND counted = 0 AND request_id != '' AND NOT EXISTS (
               SELECT 1 FROM usage_events INDEXED BY usage_events_cc_request
               WHERE source = 'claude_code' AND request_id = o.request_id)""",
    ),
}
"""Triggers a bulk load may drop, each with the statements that redo its effect for every row."""


def copy_in(conn: Conn, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Insert ``rows`` (values for ``columns``, in order) into ``table``, with no conflict handling.

    Each value must be of its column's Python type (int, str, bytes or None; a bool for an integer
    column): PostgreSQL receives them in binary COPY, which converts nothing."""
    rows = list(rows)
    if not rows:
        return
    if dialect(conn) == "postgresql":
        _pg(conn).copy_rows(table, columns, rows, binary=True)
        return
    marks = placeholders(columns)
    conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


def insert_rows(
    conn: Conn,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    on_conflict: str = "",
    key: Sequence[str] = (),
) -> int:
    """``INSERT INTO table (columns) VALUES (row) <on_conflict>`` for every row, in order, as one
    ``executemany`` would; returns how many rows were inserted or updated.

    ``on_conflict`` may read ``excluded.<column>`` and ``<table>.<column>``. ``key`` names the
    conflict target's columns (all of them in ``columns``): on PostgreSQL rows that share a key go
    to successive ``INSERT ... SELECT`` statements, because one statement may not update a row
    twice, and so a later row meets the earlier one exactly as it would under ``executemany``.
    """
    names = ", ".join(columns)
    if dialect(conn) != "postgresql":
        marks = placeholders(columns)
        # The cursor's count, not the connection's total_changes: that adds what triggers wrote
        # (usage_events_changed numbers every grown row), so a push said "2 new or grown" of one.
        cursor = conn.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks}) {on_conflict}", rows)
        return max(cursor.rowcount, 0)
    pending = list(rows)
    if not pending:
        return 0
    from cost_mcp.store import stages  # it imports this module

    changed = 0
    for part in rounds(pending, [list(columns).index(c) for c in key]):
        # A kept table when the connection prepared one (stages.prepare), else this module's.
        stage = stages.staged(conn, table, columns, part)
        # ORDER BY n: rows are numbered (their ids too) in the order they were given.
        changed += max(
            conn.execute(
                f"INSERT INTO {table} ({names}) SELECT {names} FROM {stage} ORDER BY n {on_conflict}"
            ).rowcount,
            0,
        )
    return changed


FEW_ROWS = 16
"""Up to this many rows :func:`upsert_many` sends a statement per row on PostgreSQL: staging them
costs two to four round trips (look-up, TRUNCATE, COPY, INSERT) where a pipelined statement per
row costs one."""


def upsert_many(
    conn: Conn,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    on_conflict: str,
    key: Sequence[str],
) -> None:
    """``INSERT ... VALUES (row) <on_conflict>`` for every row, as :func:`insert_rows`, for a
    statement whose rows are usually few (a read's files, one batch's skipped lines) and sometimes
    many: on PostgreSQL more than :data:`FEW_ROWS` go in as one staged statement, where a statement
    per row cost the server and the client a bind and an execute each (a first load's ~550 files,
    in every batch's write transaction)."""
    if dialect(conn) == "postgresql" and len(rows) > FEW_ROWS:
        insert_rows(conn, table, columns, rows, on_conflict=on_conflict, key=key)
        return
    marks = placeholders(columns)
    conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) {on_conflict}", rows)


def staged(
    conn: Conn, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, binary: bool = False
) -> str:
    """PostgreSQL: the name of the session's staging table for ``columns`` of ``table``, holding
    exactly ``rows`` (COPYed in, numbered ``n`` in order), for set-based statements to read.
    ``binary``: as ``PgConnection.copy_rows`` (every value exactly of its column's type)."""
    stage = _stage(conn, table, columns)
    conn.execute(f"TRUNCATE {stage}")
    _pg(conn).copy_rows(stage, columns, rows, binary=binary)
    return stage


def _stage(conn: Conn, table: str, columns: Sequence[str]) -> str:
    """A session's temporary staging table for ``columns`` of ``table`` (typed as they are, no
    constraints), plus ``n`` numbering rows as they are copied in."""
    import hashlib  # here: every connect imports this module (restore_indexes); only bulk loads stage

    digest = hashlib.sha1(",".join(columns).encode(), usedforsecurity=False).hexdigest()[:10]
    stage = f"stage_{table}_{digest}"
    # Looked up rather than cached: a rolled-back transaction takes a table it created with it.
    if conn.execute("SELECT to_regclass(?)", (f"pg_temp.{stage}",)).fetchone()[0] is None:
        conn.execute(f"CREATE TEMP TABLE {stage} AS SELECT {', '.join(columns)} FROM {table} WHERE false")
        conn.execute(f"ALTER TABLE {stage} ADD COLUMN n BIGINT GENERATED ALWAYS AS IDENTITY")
    return stage


def rounds(rows: list[Sequence[Any]], key: Sequence[int]) -> list[list[Sequence[Any]]]:
    """``rows`` split so that no part holds a key twice; a key's rows keep their order across parts."""
    if not key:
        return [rows]
    seen: Counter[tuple[Any, ...]] = Counter()
    parts: list[list[Sequence[Any]]] = []
    for row in rows:
        k = tuple(row[i] for i in key)
        n = seen[k]
        seen[k] = n + 1
        if n == len(parts):
            parts.append([])
        parts[n].append(row)
    return parts


def _pg(conn: Conn) -> PgConnection:
    return cast("PgConnection", conn)


def table_is_empty(conn: Conn) -> bool:
    """Whether ``usage_events`` holds no row at all (a first load)."""
    return conn.execute(f"SELECT 1 FROM {TABLE} LIMIT 1").fetchone() is None


def drop_secondary_indexes(conn: Conn, *, loader: bool = False) -> int:
    """Drop the secondary indexes of ``usage_events`` for a bulk load; returns how many.

    ``loader``: this connection goes on to load, calling :func:`beat` in each batch and
    :func:`restore_indexes` at the end; until then another process opening the ledger leaves the
    indexes to it (without, nothing tells that a load is under way: a test's killed load)."""
    with write_transaction(conn):
        if dialect(conn) == "sqlite":
            _drop_settled_triggers(conn)
        if loader:
            _loaders.add(conn)
            _note_loader(conn)
        rows = _droppable(conn)
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


def _droppable(conn: Conn) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the secondary indexes a bulk load may drop."""
    if dialect(conn) == "postgresql":
        rows = conn.execute(
            "SELECT c.relname, pg_get_indexdef(c.oid) FROM pg_index x "
            "JOIN pg_class c ON c.oid = x.indexrelid "
            "WHERE x.indrelid = CAST(? AS regclass) AND NOT x.indisunique AND NOT x.indisprimary",
            (TABLE,),
        ).fetchall()
        return [(str(n), str(sql)) for n, sql in rows if n not in PG_KEPT_INDEXES]
    rows = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
        (TABLE,),
    ).fetchall()
    # An index a trigger names (INDEXED BY) must stay: without it every INSERT would fail.
    triggers = " ".join(
        r[0] or "" for r in conn.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger'")
    )
    return [
        (str(name), str(sql))
        for name, sql in rows
        if name not in triggers and name not in SQLITE_KEPT_INDEXES
    ]


PG_KEPT_INDEXES = frozenset(
    {"usage_events_otel_request", "usage_events_change_seq", "usage_events_price_note"}
)
"""Kept through a PostgreSQL bulk load: the log-copy rule (``store.otel.uncount_otel_copies``)
probes ``usage_events_otel_request`` for every log row. The other two are partial indexes over
rows a load rarely writes (changed after their insert: the recount's few; with a price note): a
row outside them costs the load only its predicate, where building each again scanned the table
(0.03 s each for 75k rows)."""


SQLITE_KEPT_INDEXES = frozenset(
    {"usage_events_otel_request", "usage_events_change_seq", "usage_events_price_note"}
)
"""Kept through a SQLite bulk load although no trigger names them (the load drops m016's delete
trigger, :data:`SETTLE`). The log-copy rule probes ``usage_events_otel_request`` by name, a partial
index over OTel rows, which a log load never writes. m020's ``usage_events_changed``
numbers every updated row with ``MAX(change_seq) + 1``, which without ``usage_events_change_seq``
walks the whole table, once per row a load's recount updates (5.1 s of a 7.3 s cold ingest of 75k
rows). Both are partial indexes over rows a load rarely writes (changed after their insert; with a
price note: 16 of 75k rows): a row outside them costs the load only its predicate, where building
``usage_events_price_note`` again after the load scanned the table (0.02 s, with nothing beside it)."""


def index_names(conn: Conn) -> set[str]:
    """The names of the ledger's indexes (all tables on SQLite, ``usage_events``' on PostgreSQL)."""
    if dialect(conn) == "postgresql":
        return {
            str(r[0]) for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = ?", (TABLE,))
        }
    return {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}


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


def beat(conn: Conn) -> None:
    """In a batch's write transaction of a load that dropped the indexes with ``loader``: note that
    the load is still under way (see :data:`LOADER_SILENT_SECONDS`)."""
    if conn in _loaders:
        _note_loader(conn)


def _note_loader(conn: Conn) -> None:
    owner = {"host": socket.gethostname(), "pid": os.getpid(), "at": time.time()}
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (LOADER_KEY, json.dumps(owner, sort_keys=True)),
    )


def _load_under_way(conn: Conn) -> bool:
    """Whether the process that dropped the indexes is still loading, as far as can be told."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (LOADER_KEY,)).fetchone()
    if row is None:
        return False
    try:
        owner = json.loads(row[0])
        host, pid, at = str(owner["host"]), int(owner["pid"]), float(owner["at"])
    except (ValueError, KeyError, TypeError):
        return False
    if not time.time() - LOADER_SILENT_SECONDS < at < time.time() + LOADER_SILENT_SECONDS:
        return False
    if host != socket.gethostname() or os.name != "posix":
        return True  # its process cannot be looked up from here (os.kill on Windows would end it)
    if pid == os.getpid():
        return len(_loaders) > 0
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's process: it exists
    return True


def restore_indexes(conn: Conn, *, opening: bool = False) -> int:
    """Build every index a bulk load dropped (also after a crash); returns how many were built.

    ``opening`` (the ledger, in :func:`connect`): none while the load that dropped them is under
    way (:func:`drop_secondary_indexes`' ``loader``): the loader builds them at its end; and none
    when another process holds the write lock past :data:`REFRESH_LOCK_TIMEOUT_MS`: the next
    process to open the ledger builds them. A status line or hook opening it after a killed load
    waited for the write lock as long as the writer held it (up to the busy timeout), where it
    waits 1 s for a writer; queries are right without them, only slower.

    The rollup is not rebuilt here: a load sums it per batch and leaves only its recounted
    messages' quarter-hours dirty (~120 of a 65k-call history), which the ordinary refresh after
    this rebuilds through the indexes just built in 0.07-0.10 s. Rebuilding the span from the
    first to the last of them beside the index builds (on PostgreSQL, on a second connection)
    scanned nearly the whole history again: 0.5-0.8 s, longer than the builds it ran beside."""
    if not opening:
        _loaders.discard(conn)  # the load is over, whatever is left to build
    try:
        if (
            not _has_meta(conn)
            or conn.execute("SELECT 1 FROM meta WHERE key IN (?, ?)", (PENDING_KEY, TRIGGERS_KEY)).fetchone()
            is None
        ):
            return 0
        if opening and _load_under_way(conn):
            return 0
    except sqlite3.OperationalError:
        raise
    except sqlite3.DatabaseError:
        # A damaged ledger: it still opens, so its first real use reports the damage with what to
        # do (store.connection.explain), as it would without this check.
        return 0
    if not opening:
        return _restore(conn)
    try:
        with lock_timeout(conn, REFRESH_LOCK_TIMEOUT_MS):
            return _restore(conn)
    except sqlite3.OperationalError as exc:
        if not is_busy(exc):
            raise
        return 0


def _restore(conn: Conn) -> int:
    with write_transaction(conn):
        pending = _pending(conn)  # read again under the write lock: another process may have done it
        present = index_names(conn)
        missing = [sql for name, sql in sorted(pending.items()) if name not in present]
        for sql in missing:
            conn.execute(sql)
        built = len(missing)
        conn.execute("DELETE FROM meta WHERE key = ?", (PENDING_KEY,))
        if built and dialect(conn) == "postgresql":
            # The planner still sees the empty table the load started from (autovacuum comes
            # later): the rollup rebuild that follows read every run by a scan of the table.
            # The columns statements look rows up by only: all of them cost 0.3 s more. A sample
            # of 3,000 rows (a tenth of the default) tells the planner the table's size and these
            # columns' shape as well for that, in a fifth of the time (0.13 -> 0.03 s for 75k
            # rows); autovacuum's own ANALYZE, due after such a load, takes the full sample.
            conn.execute("SET LOCAL default_statistics_target = 10")
            conn.execute(f"ANALYZE {TABLE} (counted, ts_ms, source, message_id, request_id)")
        # After the indexes: a trigger may read through one of them (INDEXED BY). Only SQLite's
        # loads drop triggers.
        triggers = _pending(conn, TRIGGERS_KEY)
        present = (
            {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
            if triggers
            else set()
        )
        for name, sql in sorted(triggers.items()):
            if name not in present:
                conn.execute(sql)
            for statement in SETTLE.get(name, ()):
                conn.execute(statement)
        conn.execute("DELETE FROM meta WHERE key IN (?, ?)", (TRIGGERS_KEY, LOADER_KEY))
    return built


def _pending(conn: Conn, key: str = PENDING_KEY) -> dict[str, str]:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return dict(json.loads(row[0])) if row else {}


def _has_meta(conn: Conn) -> bool:
    if dialect(conn) == "postgresql":
        return conn.execute("SELECT to_regclass('meta')").fetchone()[0] is not None
    return (
        conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
        is not None
    )
