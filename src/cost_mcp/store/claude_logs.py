"""The SQL of Claude Code's log reader (``sources/claude_code.py``): copies of calls, which copy of
each call counts, and how far each log file has been read (``scanned_files``).

Every statement here is portable (``?`` placeholders, ``ON CONFLICT``) but the per-batch look-ups
(:func:`touch`): they take a batch's message ids as one JSON parameter on SQLite (``message_id IN
(SELECT value FROM json_each(?))``) and from the ``touched`` temp table on PostgreSQL (``message_id
= ANY(ARRAY(SELECT ...))``). Both engines answer with one look-up per id on the unique key
(tests/sources/test_claude_code_plans.py checks SQLite's plans): never a walk over the source's
rows, whose cost would grow with the ledger instead of the batch. Many rows are written with COPY
on PostgreSQL (store.bulk).
"""

from __future__ import annotations

import json
import operator
import weakref
from collections import deque
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import repeat

from cost_mcp.store import bulk, meta, otel, reported, rollup, skipped, stages
from cost_mcp.store.connection import Conn, dialect, in_chunks, sqlite_pragma
from cost_mcp.store.usage import PUSH_ORIGIN, TOKEN_COLUMNS_SQL, TOKENS_FROM_EXCLUDED_SQL

COPY_COLUMNS = (
    "source, message_id, request_id, is_sidechain, ts_ms, provider, model, session_id, project, agent, "
    f"{TOKEN_COLUMNS_SQL}, total_tokens, speed, cost_nanos, reported_cost_nanos, priced_model, origin, "
    "service_tier, inference_geo, price_note, counted"
)
"""The columns of a copy row, in the order ``sources.claude_code`` builds them (token counts in
:data:`cost_mcp.tokens.KINDS` order)."""

_KEY = ("source", "message_id", "request_id", "is_sidechain")
_source_of, _message_of = operator.itemgetter(0), operator.itemgetter(1)
"""A row's message id, the unique key's (:data:`_KEY`) second column: the first is the source, one
per batch, and the last two mostly one per message."""

_ON_CONFLICT = f"""
ON CONFLICT (source, message_id, request_id, is_sidechain) DO UPDATE SET
    ts_ms = excluded.ts_ms, model = excluded.model, session_id = excluded.session_id,
    project = excluded.project, {TOKENS_FROM_EXCLUDED_SQL}, total_tokens = excluded.total_tokens,
    speed = excluded.speed, cost_nanos = excluded.cost_nanos,
    reported_cost_nanos = excluded.reported_cost_nanos, priced_model = excluded.priced_model,
    origin = CASE WHEN usage_events.origin = '{PUSH_ORIGIN}' THEN usage_events.origin
                  ELSE excluded.origin END,
    service_tier = excluded.service_tier,
    inference_geo = excluded.inference_geo, price_note = excluded.price_note
WHERE excluded.total_tokens > usage_events.total_tokens
   OR (excluded.total_tokens = usage_events.total_tokens
       AND (excluded.ts_ms, excluded.session_id, excluded.origin)
         <= (usage_events.ts_ms, usage_events.session_id, usage_events.origin))
"""
# A member's pushed row stays theirs by origin too (a team server reading its own log of a call a
# member pushed): ``ingest --forget`` of that file must not delete it, nor `team forget-pushes` miss it.
# "<=": the very same copy read again (a full rescan, or the re-read after an upgrade) takes the
# price of today's pricing and overrides instead of keeping the one it was first stored with.


def upsert_copies(
    conn: Conn, rows: Iterable[Sequence[object]], stored_messages: Collection[str] | None = None
) -> None:
    """Store copies (rows in COPY_COLUMNS order); a key already held keeps its better copy.

    ``counted`` is written for a new row only; a stored row's is changed by :func:`set_counted`.
    ``stored_messages``, when the caller knows it (looked up under the write lock it still holds),
    lists the message ids the ledger holds rows of: rows of other messages, no key twice, cannot
    meet a stored key and go straight in (COPY on PostgreSQL); only the rest are merged.
    """
    rows = list(rows)
    if not rows:
        return
    meta.note_pricing(conn)
    columns = COPY_COLUMNS.split(", ")
    # Gathered only if the ledger holds OTel copies to uncount (most hold none).
    request_ids = (str(r[2]) for r in rows if r[0] == otel.LOG_SOURCE)
    if stored_messages is not None:
        # Most of a first load's batches hold no stored message: two passes over 20k rows for nothing.
        fresh = [r for r in rows if r[1] not in stored_messages] if stored_messages else rows
        if dialect(conn) == "postgresql":
            # In the unique key's order (C collation: code points, as Python compares str), each
            # insert lands beside the previous one in that index instead of on a random page:
            # 0.7 -> 0.4 s of server time for a first load's 75k rows. Row ids follow this order.
            # By message id alone, which orders the key but within a message (the same page):
            # a string per row, where the whole key's tuples took twice as long (11 -> 23 ms per
            # 20k rows).
            fresh.sort(key=_message_of)
        bulk.copy_in(conn, "usage_events", columns, fresh)
        merged = [r for r in rows if r[1] in stored_messages] if stored_messages else []
        bulk.insert_rows(conn, "usage_events", columns, merged, on_conflict=_ON_CONFLICT, key=_KEY)
        _wrote(conn, rows)
    else:
        bulk.insert_rows(conn, "usage_events", columns, rows, on_conflict=_ON_CONFLICT, key=_KEY)
    otel.uncount_otel_copies(conn, request_ids)


LOAD_CHECKPOINT_BYTES = 25_000 * 4096
"""How large (~100 MB) this connection lets the WAL grow during a first load before it checkpoints:
25,000 pages of a ledger created with SQLite's 4 KiB pages, 6,250 of one created with 16 KiB
(``connection.PAGE_SIZE``)."""


@contextmanager
def large_read(conn: Conn) -> Iterator[None]:
    """The setting of a large read by the log reader: look-ups that skip what no one can hold yet
    (:class:`_Written`); on SQLite, few WAL checkpoints too (:func:`few_checkpoints`); on
    PostgreSQL, staging tables kept for the read."""
    if dialect(conn) == "postgresql":
        # Made once for the read and emptied by each batch's commit: staged per batch, each
        # TRUNCATE gave the table a new file (and the look-up before it a round trip), ~9 a load.
        kept = (
            (bulk.TABLE, COPY_COLUMNS.split(", ")),
            ("usage_rollup", rollup.STAGED_COLUMNS),
            ("scanned_files", FILE_COLUMNS),
            ("skipped_lines", skipped.COLUMNS),
        )
        stages.prepare(conn, kept)
    _written[conn] = _Written()
    try:
        with few_checkpoints(conn):
            yield
    finally:
        _written.pop(conn, None)


@contextmanager
def few_checkpoints(conn: Conn) -> Iterator[None]:
    """Checkpoint the WAL rarely while this connection loads a large first read (SQLite).

    At SQLite's default (every 1,000 pages) a 1x cold load checkpointed after nearly every batch,
    copying the B-tree pages each batch touches back into the database again and again; at the end
    the default returns and the next commit checkpoints once. Durability is WAL's as before.
    """
    if dialect(conn) == "postgresql":
        yield
        return
    page = int(conn.execute("PRAGMA page_size").fetchone()[0])
    with sqlite_pragma(conn, "wal_autocheckpoint", lambda _: LOAD_CHECKPOINT_BYTES // page):
        yield


@contextmanager
def checkpoint_beside(conn: Conn) -> Iterator[None]:
    """SQLite: copy a large read's WAL into the database file on another thread, through a
    connection of its own, while this one goes on (the index builds after a first load).

    The first commit after :func:`few_checkpoints` checkpoints the whole WAL of the load (its
    pages copied and the file synced: ~0.1 s of the load's serial end) on the writer's thread; a
    passive checkpoint beside it copies what is committed without waiting for or blocking anyone,
    on the core the parse worker has left, and leaves that commit the index builds' pages."""
    if dialect(conn) == "postgresql":
        yield
        return
    import sqlite3
    import threading

    row = conn.execute("PRAGMA database_list").fetchone()
    path = str(row[2]) if row is not None else ""

    def run() -> None:
        try:
            other = sqlite3.connect(path, isolation_level=None)
        except sqlite3.Error:
            return
        try:
            other.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:
            pass  # nothing lost: the next commit's own checkpoint copies it all
        finally:
            other.close()

    thread = threading.Thread(target=run, name="cost-mcp-checkpoint", daemon=True) if path else None
    if thread is not None:
        thread.start()
    try:
        yield
    finally:
        if thread is not None:
            thread.join()


@dataclass(frozen=True, slots=True)
class Touched:
    """A batch's message ids as the look-ups that follow read them (made by :func:`touch`)."""

    where: str
    """The FROM and WHERE of the touched messages' stored rows (alias ``e``)."""
    args: tuple[object, ...]


@dataclass
class _Written:
    """What a large read has written, so that its look-ups can skip the rest.

    A first load probes every message id of a batch (20,000 index probes, and on PostgreSQL the
    ids COPYed to the server first) to find the few a previous batch wrote. Once the look-up has
    seen that the ledger holds no row of the source, the message ids this connection writes are
    marked in a filter of fixed size (:data:`WRITTEN_SLOTS`), and a later batch probes only those
    whose slot is marked (another id in the same slot only probes an id for nothing). That holds
    while no one else has added a row. On PostgreSQL every insert into
    ``usage_events`` takes its id from the identity (no statement of the store names ``id``), whose
    sequence this connection reads under the write lock after its own inserts (:attr:`mark`) and
    again at the next look-up. On SQLite the mark is ``PRAGMA data_version``, which changes when
    any other connection commits, with the largest row id, which grows with any insert of this
    connection's outside the read (a process shares its one connection between threads, one at a
    time). Any other value and the look-ups probe every id again, for the rest of the read."""

    slots: bytearray = field(default_factory=bytearray)
    """1 at ``hash(id) % WRITTEN_SLOTS`` for every message id of the source the ledger holds, while
    :attr:`mark` is set (empty until the read's first write, and once :attr:`gone`)."""
    source: str = ""
    mark: tuple[int, int] | None = None
    """The id sequence's value (PostgreSQL; data version and largest row id on SQLite) when
    :attr:`hashes` was known complete; None: not known."""
    checked: bool = False
    """The current transaction's look-up found :attr:`mark` unchanged (the write lock is held)."""
    gone: bool = False
    """Someone else wrote: look every id up from now on."""


_written: weakref.WeakKeyDictionary[Conn, _Written] = weakref.WeakKeyDictionary()

WRITTEN_SLOTS = 1 << 22
"""Slots of a large read's filter of the message ids it wrote (:class:`_Written`): one byte each,
4 MiB whatever the read's size. A set of the ids' hashes took ~70 bytes per message, +17 MiB of
the writer's peak on the 4x tree (253k messages), growing with the history; here an id that
shares a slot with one written is probed for nothing: 0.6 % of the 1x tree's ids, 2.7 % of the 4x
tree's, ~25 % of a history ten times that (a probe costs ~1 us), and every id once every slot is
marked, as a read did before it remembered anything (bench/README, issue 18, twelfth round)."""

_TOUCHED = (
    'CREATE TEMP TABLE IF NOT EXISTS touched (message_id TEXT COLLATE "C" NOT NULL) ON COMMIT DELETE ROWS; '
    "DELETE FROM touched"
)
"""A batch's look-up list (and the recount's, ``recounted``), emptied in place by every commit (so
it is read in the transaction that filled it). A TRUNCATE per look-up gave the table a new file each
time (with the stage tables ~6 a batch, ~0.05 s of a 75k-call first load's server CPU, most of it
the file system's inode allocation); the DELETE before a fill finds it empty but for a batch's
second look-up (the recounted messages: a few hundred ids)."""

_SEQUENCE = "COALESCE(pg_sequence_last_value(pg_get_serial_sequence('usage_events', 'id')::regclass), 0)"
_SQLITE_MARK = (
    "(SELECT data_version FROM pragma_data_version()), (SELECT COALESCE(MAX(id), 0) FROM usage_events)"
)
"""SQLite's mark (see :class:`_Written`): a seek to the last row id, where counting rows walks them."""


def _worth_probing(conn: Conn, source: str, message_ids: Iterable[str]) -> tuple[Iterable[str], str]:
    """``message_ids`` less those :class:`_Written` knows no stored row has, and the SQL (ending
    in ``; ``) that prepares the look-up's temp table (PostgreSQL)."""
    postgres = dialect(conn) == "postgresql"
    setup = _TOUCHED if postgres else ""
    memo = _written.get(conn)
    if memo is None or memo.gone or memo.source not in ("", source):
        return message_ids, setup
    none_stored = "NOT EXISTS (SELECT 1 FROM usage_events WHERE source = ?)"
    if postgres:
        # One round trip with the temp table's set-up (the SELECT's row is the cursor's first result).
        seq, empty = conn.execute(f"SELECT {_SEQUENCE}, {none_stored}; {setup}", (source,)).fetchone()
        mark = (int(seq), 0)
    else:
        version, last_id, empty = conn.execute(f"SELECT {_SQLITE_MARK}, {none_stored}", (source,)).fetchone()
        mark = (int(version), int(last_id))
    if memo.mark is None and empty:
        memo.source, memo.mark = source, mark
    if memo.mark is None or memo.mark != mark:
        memo.gone, memo.checked = True, False
        memo.slots = bytearray()
        return message_ids, ""
    memo.checked = True
    if not memo.slots:
        return [], ""
    # A comprehension: a chain of maps through the bytearray's bound __getitem__ took twice as long.
    slots, mask = memo.slots, len(memo.slots) - 1
    return [m for m in message_ids if slots[hash(m) & mask]], ""


def _wrote(conn: Conn, rows: Sequence[Sequence[object]]) -> None:
    """Remember the message ids of ``rows``, just written after a look-up in this transaction."""
    memo = _written.get(conn)
    if memo is None or not memo.checked:
        return
    memo.checked = False
    if not memo.slots:
        memo.slots = bytearray(WRITTEN_SLOTS)
    if operator.countOf(map(_source_of, rows), memo.source) == len(rows):
        # In C: a reader's batch is of its one source, and a generator over 75k rows cost 0.02 s.
        ids: Iterable[object] = map(_message_of, rows)
    else:
        ids = (r[1] for r in rows if r[0] == memo.source)
    # In C (operator's functions, not the bound methods' slower wrappers): 20k ids in ~2.5 ms.
    slots = map(operator.and_, map(hash, ids), repeat(len(memo.slots) - 1))
    deque(map(operator.setitem, repeat(memo.slots), slots, repeat(1)), maxlen=0)
    if dialect(conn) == "postgresql":
        memo.mark = (int(conn.execute(f"SELECT {_SEQUENCE}").fetchone()[0]), 0)
        return
    version, last_id = conn.execute(f"SELECT {_SQLITE_MARK}").fetchone()
    memo.mark = (int(version), int(last_id))


def touch(conn: Conn, source: str, message_ids: Iterable[str]) -> Touched:
    """The rows of ``source`` a batch's message ids name, for look-ups in the same transaction."""
    if dialect(conn) == "postgresql":
        # COPYed (binary) into a temp table the look-ups turn into one array: as an array
        # parameter, 20,000 ids were quoted into the statement's text and parsed back by the
        # server, for each look-up (0.1 s of a batch even with nothing stored). ARRAY(...): one
        # look-up per id on the unique key, whatever the planner knows of the temp table (a join
        # could walk the source's rows instead).
        # Set-up in one round trip (a batch makes up to three look-ups, each its own list).
        probed, setup = _worth_probing(conn, source, message_ids)
        if setup:
            conn.execute(setup)
        bulk.copy_in(conn, "touched", ["message_id"], ((m,) for m in probed))
        return Touched(
            "FROM usage_events e WHERE e.source = ? "
            "AND e.message_id = ANY(ARRAY(SELECT message_id FROM touched))",
            (source,),
        )
    # One JSON parameter: writing a temp table per batch (its rows, its index, its undo) cost
    # ~0.2 s of a 1x cold load's writer; json_each is read once per look-up, in C.
    probed, _ = _worth_probing(conn, source, message_ids)
    return Touched(
        "FROM usage_events e WHERE e.source = ? AND e.message_id IN (SELECT value FROM json_each(?))",
        (source, json.dumps(list(probed))),
    )


def touched_rows(conn: Conn, touched: Touched) -> list[tuple[str, int, int]]:
    """(message id, ts_ms, counted) of every stored row of the touched messages."""
    return [
        (str(m), int(ts), int(c))
        for m, ts, c in conn.execute(f"SELECT e.message_id, e.ts_ms, e.counted {touched.where}", touched.args)
    ]


def touched_copies(conn: Conn, touched: Touched) -> list[tuple[str, int, str, int, int, int, str, str]]:
    """Every stored copy of the touched messages, grouped by message id: (message id, row id,
    request id, is_sidechain, total tokens, ts_ms, session id, origin)."""
    return [
        (str(m), int(i), str(r), int(sc), int(tt), int(ts), str(s), str(o))
        for m, i, r, sc, tt, ts, s, o in conn.execute(
            "SELECT e.message_id, e.id, e.request_id, e.is_sidechain, e.total_tokens, e.ts_ms, "
            f"e.session_id, e.origin {touched.where} ORDER BY e.message_id",
            touched.args,
        )
    ]


def counted_of_touched(conn: Conn, touched: Touched) -> int:
    """How many rows of the touched messages are counted."""
    row = conn.execute(f"SELECT COALESCE(SUM(e.counted), 0) {touched.where}", touched.args).fetchone()
    return int(row[0])


def set_counted(conn: Conn, updates: Iterable[tuple[int, int]]) -> None:
    """Set ``counted`` (0 or 1) of rows by id, from (counted, id) pairs; unchanged rows are not written."""
    if dialect(conn) == "postgresql":
        # One UPDATE ... FROM a COPYed list, not a statement per row.
        pending = list(updates)
        if not pending:
            return
        conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS recounted (counted INTEGER NOT NULL, id BIGINT NOT NULL) "
            "ON COMMIT DELETE ROWS; DELETE FROM recounted"
        )
        bulk.copy_in(conn, "recounted", ["counted", "id"], pending)
        # ARRAY(...): the rows probed by id, one look-up each. Joined on id alone, the planner
        # hashed the whole table for a few thousand ids while a first load's statistics still
        # said it was empty (20-60 ms a batch of 75k rows, growing with the load).
        conn.execute(
            "UPDATE usage_events SET counted = r.counted FROM recounted r "
            "WHERE usage_events.id = ANY(ARRAY(SELECT id FROM recounted)) "
            "AND usage_events.id = r.id AND usage_events.counted != r.counted"
        )
        return
    conn.executemany(
        "UPDATE usage_events SET counted = ? WHERE id = ? AND counted != ?", ((c, i, c) for c, i in updates)
    )


# --- read state of log files ---------------------------------------------------------------------

FileRow = tuple[str, int, int, int, int, int, bytes | None, bool, str | None, str | None]
"""(path, device, inode, size, mtime_ns, offset, check hash, skipping, project, session id)."""


FILE_COLUMNS = (
    "path",
    "device",
    "inode",
    "size",
    "mtime_ns",
    '"offset"',
    "scanned_at",
    "check_hash",
    "skipping",
    "project",
    "session_id",
)
"""The columns of ``scanned_files`` :func:`save_files` writes, in its rows' order."""

_FILES_ON_CONFLICT = """
ON CONFLICT (path) DO UPDATE SET
    device = excluded.device, inode = excluded.inode, size = excluded.size,
    mtime_ns = excluded.mtime_ns, "offset" = excluded."offset", scanned_at = excluded.scanned_at,
    check_hash = excluded.check_hash, skipping = excluded.skipping,
    project = excluded.project, session_id = excluded.session_id
WHERE NOT (scanned_files.device = excluded.device AND scanned_files.inode = excluded.inode
           AND scanned_files."offset" > excluded."offset" AND scanned_files.size >= excluded.size
           AND scanned_files.mtime_ns >= excluded.mtime_ns)
"""


def save_files(conn: Conn, files: Iterable[FileRow], scanned_at: str) -> None:
    """Remember how far each file was read.

    The WHERE keeps a slower concurrent scan (an older stat of the same file) from moving an
    offset back; a file rewritten since (newer mtime) may move it back.
    """
    bulk.upsert_many(
        conn,
        "scanned_files",
        FILE_COLUMNS,
        [(p, d, i, s, m, o, scanned_at, c, int(sk), pr, se) for p, d, i, s, m, o, c, sk, pr, se in files],
        on_conflict=_FILES_ON_CONFLICT,
        key=("path",),
    )


def known_files(conn: Conn, paths: Sequence[str] | None = None) -> list[FileRow]:
    """The read state of every log file read so far, or of just ``paths`` (a few: one query)."""
    where, args = "", tuple[str, ...]()
    if paths is not None:
        if not paths:
            return []  # PostgreSQL has no empty IN ()
        where, args = f" WHERE path IN ({', '.join('?' * len(paths))})", tuple(paths)
    return [
        (str(p), int(d), int(i), int(s), int(m), int(o), None if c is None else bytes(c), bool(sk), pr, se)
        for p, d, i, s, m, o, c, sk, pr, se in conn.execute(
            'SELECT path, device, inode, size, mtime_ns, "offset", check_hash, skipping, project, session_id '
            f"FROM scanned_files{where}",
            args,
        )
    ]


# --- forgetting files -----------------------------------------------------------------------------


def _under(column: str, prefix: str) -> tuple[str, tuple[object, ...]]:
    """SQL for ``column`` being ``prefix`` or a path inside it (no LIKE: paths may hold % and _)."""
    inside = prefix if prefix.endswith("/") else prefix + "/"
    return f"({column} = ? OR substr({column}, 1, ?) = ?)", (prefix, len(inside), inside)


def copies_from(conn: Conn, source: str, prefix: str) -> list[tuple[int, str, int]]:
    """(row id, message id, ts_ms) of the copies read from files at or under ``prefix``."""
    clause, args = _under("origin", prefix)
    return [
        (int(i), str(m), int(ts))
        for i, m, ts in conn.execute(
            f"SELECT id, message_id, ts_ms FROM usage_events WHERE source = ? AND {clause}", (source, *args)
        )
    ]


def origins_under(conn: Conn, source: str, prefix: str) -> list[str]:
    """The files at or under ``prefix`` that stored copies were read from, each once."""
    clause, args = _under("origin", prefix)
    sql = f"SELECT DISTINCT origin FROM usage_events WHERE source = ? AND {clause}"
    return [str(origin) for (origin,) in conn.execute(sql, (source, *args))]


def delete_rows(conn: Conn, ids: Iterable[int]) -> None:
    """Delete usage rows by id; a reported call their request id had stopped counting counts again
    unless another copy still holds it (:func:`reported.recount_reported_copies`)."""
    ids = list(ids)
    request_ids: list[str] = []
    if ids and reported.any_reported(conn):
        for rows in in_chunks(
            conn, "SELECT DISTINCT request_id FROM usage_events WHERE id IN ({}) AND request_id != ''", ids
        ):
            request_ids += [str(r[0]) for r in rows]
    conn.executemany("DELETE FROM usage_events WHERE id = ?", ((i,) for i in ids))
    if request_ids:
        reported.recount_reported_copies(conn, request_ids)


def forget_files(conn: Conn, paths: Sequence[str]) -> None:
    """Forget the read state of exactly these files."""
    conn.executemany("DELETE FROM scanned_files WHERE path = ?", ((p,) for p in paths))


def forget_files_under(conn: Conn, prefix: str) -> int:
    """Forget the read state of files at or under ``prefix``; returns how many."""
    clause, args = _under("path", prefix)
    return int(conn.execute(f"DELETE FROM scanned_files WHERE {clause}", args).rowcount)


def reread_all_files(conn: Conn) -> None:
    """Mark every known file to be read again from its start."""
    conn.execute('UPDATE scanned_files SET "offset" = 0, check_hash = NULL, skipping = 0')
