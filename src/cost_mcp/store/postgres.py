"""The ledger on PostgreSQL: a psycopg 3 connection behind the API the store uses on SQLite.

Every statement in ``store/`` is written once, in the SQL both engines understand, with ``?``
placeholders. :class:`PgConnection` gives it the duck-typed surface of an ``sqlite3.Connection``
(``execute``, ``executemany``, ``in_transaction``, ``total_changes``, ``commit``...), translating
each statement's placeholders once (cached) and psycopg's errors into the ``sqlite3`` exception
classes the callers already handle, so a caller never needs to know which engine it talks to.

Writers are serialised, as on SQLite: ``BEGIN IMMEDIATE`` becomes ``BEGIN`` plus a transaction-scoped
advisory lock. The store's read-then-write steps (rollup rebuilds, alert evaluation) were designed
for one writer at a time; readers never wait (MVCC), and the lock is held only for a write batch.
The one exception is ``BEGIN SHARED``, the lock in shared mode, for team pushes, whose statements
are written to stay right beside each other (store.team: each push claims its messages first).
"""

from __future__ import annotations

import functools
import re
import select
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import psycopg
import psycopg.errors
from psycopg import ClientCursor
from psycopg.adapt import Dumper, Loader
from psycopg.pq import TransactionStatus

from cost_mcp.errors import DatabaseError
from cost_mcp.store.connection import scrub_text, shown, target_problem

WRITE_LOCK = 0x636F73_7401
"""Advisory lock key every write transaction takes (per database): the ledger's one-writer lock."""
MIGRATE_LOCK = 0x636F73_7402
"""Advisory lock key held while migrating, so processes starting at once migrate once."""
SESSION_SETUP = "SET lock_timeout = {ms}; SET synchronous_commit = off; SET jit = off"
"""Every session: how long the write lock is waited for, and commits that do not wait for their
WAL flush. The latter is SQLite's WAL + ``synchronous=NORMAL`` on PostgreSQL: a server crash can
lose the last fraction of a second of commits (the ledger is re-read from logs and APIs), never
corrupt anything; measured 8 concurrent writers, it is the difference between fsync-bound and not.
No JIT: the ledger's statements run for milliseconds, and compiling one whose estimate passes
``jit_above_cost`` costs 0.3-2.5 s (a rollup rebuild after a first load: 2.6 s with, 0.1 s without)."""


# --- placeholders ---------------------------------------------------------------------------------

_TOKEN = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"|--[^\n]*|\?(\d*)|%|INDEXED BY \w+", re.IGNORECASE)


@functools.lru_cache(maxsize=1024)
def translate(sql: str) -> tuple[str, tuple[int, ...] | None]:
    """``sql`` with SQLite's ``?``/``?N`` placeholders as psycopg's ``%s`` (``%`` doubled), and, when
    numbered placeholders reorder or repeat parameters, the index of the parameter each ``%s`` takes.

    SQLite's planner hints (``INDEXED BY``) are dropped: PostgreSQL plans without them.
    """
    order: list[int] = []
    numbered = False
    highest = 0

    def replace(m: re.Match[str]) -> str:
        nonlocal numbered, highest
        text = m.group(0)
        if text == "%":
            return "%%"
        if text.startswith("?"):
            if m.group(1):
                numbered = True
                index = int(m.group(1))
            else:
                index = highest + 1
            highest = max(highest, index)
            order.append(index - 1)
            return "%s"
        if text.upper().startswith("INDEXED BY"):
            return ""
        # psycopg reads % everywhere, quoted text included
        return text.replace("%", "%%")

    out = _TOKEN.sub(replace, sql)
    return out, tuple(order) if numbered else None


def _params(order: tuple[int, ...] | None, params: Sequence[Any]) -> Sequence[Any]:
    return params if order is None else [params[i] for i in order]


# --- type adaptation ----------------------------------------------------------------------------


class _NumericLoader(Loader):
    """NUMERIC as int when integral (SUM over BIGINT), Decimal otherwise: sums stay exact ints."""

    def load(self, data: Any) -> int | Decimal:
        # int() parses the digits straight from bytes and refuses anything else ("1.5", "NaN"):
        # one call per value, where sums by session load tens of thousands of them.
        text = bytes(data)
        try:
            return int(text)
        except ValueError:
            return Decimal(text.decode())


class _BoolAsIntDumper(Dumper):
    """Python bools as 0/1, as SQLite stores them (flag columns are BIGINT here)."""

    oid = psycopg.adapters.types["int8"].oid

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"

    def quote(self, obj: Any) -> bytes:
        return self.dump(obj)


# --- errors -------------------------------------------------------------------------------------

_BUSY = (
    psycopg.errors.LockNotAvailable,
    psycopg.errors.DeadlockDetected,
    psycopg.errors.SerializationFailure,
)


def _as_sqlite_error(exc: psycopg.Error) -> sqlite3.Error:
    """The ``sqlite3`` exception the store's callers handle for this psycopg error, with the same
    ``sqlite_errorname`` family SQLite would give (busy, read-only, constraint...)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    new: sqlite3.Error
    if isinstance(exc, _BUSY):
        new = sqlite3.OperationalError(f"database is locked: {text}")
        name = "SQLITE_BUSY"
    elif isinstance(exc, psycopg.errors.QueryCanceled):
        # statement_timeout (an admin's ALTER ROLE ... SET), or an admin's pg_cancel_backend: not a
        # lock held, though the store's callers treat it as one (nothing done; answer from what is
        # there, or try later), so it keeps SQLite's busy family.
        new = sqlite3.OperationalError(f"the server cancelled the statement: {text}")
        name = "SQLITE_BUSY"
    elif isinstance(exc, psycopg.errors.ReadOnlySqlTransaction | psycopg.errors.InsufficientPrivilege):
        new = sqlite3.OperationalError(f"attempt to write a readonly database: {text}")
        name = "SQLITE_READONLY"
    elif isinstance(exc, psycopg.errors.DiskFull):
        new = sqlite3.OperationalError(f"database or disk is full: {text}")
        name = "SQLITE_FULL"
    elif isinstance(exc, psycopg.IntegrityError):
        new = sqlite3.IntegrityError(text)
        name = "SQLITE_CONSTRAINT"
    elif isinstance(exc, psycopg.OperationalError):
        new = sqlite3.OperationalError(f"the PostgreSQL server could not be used: {text}")
        name = "SQLITE_IOERR"
    elif isinstance(exc, psycopg.ProgrammingError | psycopg.DataError):
        new = sqlite3.OperationalError(text)
        name = "SQLITE_ERROR"
    else:
        new = sqlite3.DatabaseError(text)
        name = "SQLITE_ERROR"
    new.sqlite_errorname = name  # the attribute sqlite3 sets on its own errors
    return new


def explain_connect(target: str, exc: psycopg.Error, *, waited: float | None = None) -> str:
    """One line a person can act on when the PostgreSQL ledger at ``target`` cannot be reached
    (``waited``: the seconds it was waited for first, said when it is not reached)."""
    ledger = shown(target)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = scrub_text(text, target)
    lower = text.lower()
    if "password authentication failed" in lower or "authentication" in lower or "no password" in lower:
        return (
            f"PostgreSQL refused the credentials in COST_MCP_DB ({ledger}): {text}. Check the role's "
            "name and password (ALTER ROLE ... PASSWORD ...) and pg_hba.conf"
        )
    if "does not exist" in lower and "database" in lower:
        return (
            f"the PostgreSQL database named in COST_MCP_DB ({ledger}) does not exist: {text}. Create it "
            "(createdb -O <role> <name>) or correct the URL"
        )
    if any(
        words in lower
        for words in (
            "connection refused",
            "could not connect",
            "no such file",
            "timeout expired",
            "no route",
        )
    ):
        after = f" (waited {waited:g} s)" if waited else ""
        return (
            f"cannot reach the PostgreSQL server for the ledger ({ledger}){after}: {text}. Start the "
            "server, or correct the host and port in COST_MCP_DB"
        )
    return f"cannot open the PostgreSQL ledger ({ledger}): {text}"


# --- the connection -----------------------------------------------------------------------------


class PgConnection:
    """A psycopg connection with the API the store uses on ``sqlite3.Connection``.

    Autocommit underneath, with explicit BEGIN/COMMIT, like SQLite with ``isolation_level=None``.
    """

    dialect = "postgresql"

    def __init__(self, raw: psycopg.Connection[Any], target: str) -> None:
        self.raw = raw
        self.path = shown(target)
        self.read_only = False
        self.alerts_checked: object = None
        self.rollup_watches: list[Any] | None = None  # see LedgerConnection.rollup_watches
        self._changes = 0
        self._types: dict[tuple[str, tuple[str, ...]], list[int]] = {}
        adapters = raw.adapters
        adapters.register_loader("numeric", _NumericLoader)
        adapters.register_dumper(bool, _BoolAsIntDumper)

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open (or failed and not yet rolled back)."""
        return self.raw.info.transaction_status != TransactionStatus.IDLE

    @property
    def total_changes(self) -> int:
        """Rows inserted, updated or deleted through this connection (as SQLite counts them)."""
        return self._changes

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> psycopg.Cursor[Any]:
        """Run one statement; ``BEGIN IMMEDIATE`` takes the ledger's write lock."""
        head = sql.lstrip()[:16].upper()
        if head.startswith("BEGIN"):
            if "SHARED" in head:
                return self._begin(write=True, shared=True)
            return self._begin(write="IMMEDIATE" in head or "EXCLUSIVE" in head)
        query, order = translate(sql)
        cur = self.raw.cursor()
        try:
            cur.execute(query, _params(order, parameters))
        except psycopg.Error as exc:
            raise _as_sqlite_error(exc) from exc
        if cur.rowcount > 0 and cur.description is None:
            self._changes += cur.rowcount
        return cur

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]], /) -> psycopg.Cursor[Any]:
        """Run one statement for every parameter row (pipelined by psycopg)."""
        query, order = translate(sql)
        rows = [_params(order, p) for p in seq]
        cur = self.raw.cursor()
        if not rows:
            return cur
        try:
            cur.executemany(query, rows)
        except psycopg.Error as exc:
            raise _as_sqlite_error(exc) from exc
        if cur.rowcount > 0:
            self._changes += cur.rowcount
        return cur

    def copy_rows(
        self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, binary: bool = False
    ) -> int:
        """Load ``rows`` into ``columns`` of ``table`` with one ``COPY ... FROM STDIN``; returns how many.

        One round trip for the whole batch where ``executemany`` costs the server a statement per
        row; callers stage rows this way and merge them with one ``INSERT ... SELECT`` (store.bulk).
        ``binary``: values travel in PostgreSQL's binary format, typed as the columns are, which
        the caller's values must then be exactly (int for integers, str for text, or None): a
        first load's 75k rows cost the client 0.08 s instead of 0.2 s formatted as text.
        """
        n = 0
        cur = self.raw.cursor()
        try:
            # Looked up before the COPY starts: the connection serves nothing else during one.
            types = self._column_types(table, columns) if binary else None
            fmt = " (FORMAT BINARY)" if binary else ""
            with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN{fmt}") as copy:
                if types is not None:
                    copy.set_types(types)
                for row in rows:
                    copy.write_row(row)
                    n += 1
        except psycopg.Error as exc:
            raise _as_sqlite_error(exc) from exc
        return n

    def _column_types(self, table: str, columns: Sequence[str]) -> list[int]:
        """The type oids of ``columns`` of ``table`` (a temporary table too), looked up once."""
        key = (table, tuple(columns))
        found = self._types.get(key)
        if found is None:
            rows = self.raw.execute(
                "SELECT a.attname, a.atttypid FROM pg_attribute a "
                "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped",
                (table,),
            ).fetchall()
            by_name = {str(name): int(oid) for name, oid in rows}
            found = self._types[key] = [by_name[c.strip('"')] for c in columns]
        return found

    def _begin(self, *, write: bool, shared: bool = False) -> psycopg.Cursor[Any]:
        cur = self.raw.cursor()
        try:
            if shared:
                # ``BEGIN SHARED`` (connection.write_transaction): writers that may run side by
                # side hold the lock together; a waiting exclusive writer queues new ones behind it.
                cur.execute("BEGIN; SELECT pg_advisory_xact_lock_shared(%s)", (WRITE_LOCK,))
            elif write:
                # One round trip for both (a client-side cursor sends them as one simple query).
                cur.execute("BEGIN; SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            else:
                cur.execute("BEGIN")
        except psycopg.Error as exc:
            if self.in_transaction:
                self.raw.execute("ROLLBACK")
            raise _as_sqlite_error(exc) from exc
        return cur

    def commit(self) -> None:
        """Commit the open transaction, if any."""
        if self.in_transaction:
            self.execute("COMMIT")

    def rollback(self) -> None:
        """Roll back the open transaction, if any."""
        if self.in_transaction:
            try:
                self.raw.execute("ROLLBACK")
            except psycopg.Error as exc:
                raise _as_sqlite_error(exc) from exc

    def close(self) -> None:
        """Close the connection."""
        self.raw.close()

    def __enter__(self) -> PgConnection:
        """As on sqlite3: the block's changes commit at its end, or roll back on an error."""
        return self

    def __exit__(self, kind: object, value: object, tb: object, /) -> None:
        if kind is None:
            self.commit()
        else:
            self.rollback()

    def set_lock_timeout(self, ms: int) -> int:
        """Set how long a lock (the write lock included) is waited for; returns the previous ms."""
        before = str(self.raw.execute("SHOW lock_timeout").fetchone()[0])  # type: ignore[index]
        self.raw.execute(f"SET lock_timeout = {int(ms)}")
        return _ms(before)

    def lock_timeout_ms(self) -> int:
        """How long a lock (the write lock included) is waited for now, in ms (0: no limit)."""
        return _ms(str(self.raw.execute("SHOW lock_timeout").fetchone()[0]))  # type: ignore[index]

    def data_version(self) -> int:
        """A number that changes whenever any transaction of the server has written (SQLite's
        ``PRAGMA data_version``): the next transaction id to be assigned."""
        row = self.raw.execute("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint").fetchone()
        return int(row[0]) if row else 0


def _ms(setting: str) -> int:
    """A PostgreSQL duration setting ("60s", "1500ms", "0") in milliseconds."""
    m = re.fullmatch(r"(\d+)\s*(ms|s|min|h|d)?", setting.strip())
    if not m:
        return 0
    factor = {"ms": 1, None: 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}[m.group(2)]
    return int(m.group(1)) * factor


CONNECT_TIMEOUT = 5
"""Seconds a connection attempt to the server may take (libpq's ``connect_timeout``): a reachable
server answers in milliseconds, and one whose host drops packets was otherwise waited for 10 s."""


def open_raw(target: str, lock_timeout_ms: int) -> psycopg.Connection[Any]:
    """A new autocommit psycopg connection to ``target``; DatabaseError with what to do if it fails."""
    refuse_unreadable(target)
    try:
        raw = psycopg.connect(
            target, autocommit=True, cursor_factory=ClientCursor, connect_timeout=CONNECT_TIMEOUT
        )
    except psycopg.Error as exc:
        raise DatabaseError(explain_connect(target, exc)) from None
    raw.execute(SESSION_SETUP.format(ms=int(lock_timeout_ms)))
    return raw


def refuse_unreadable(target: str) -> None:
    """DatabaseError, before psycopg ever sees ``target``, when it is no URL whose password is known
    for sure (psycopg's own errors quote parts of what it could not read)."""
    problem = target_problem(target)
    if problem is not None:
        raise DatabaseError(problem)


def connect(target: str, *, lock_timeout_ms: int, migrate_schema: bool = True) -> PgConnection:
    """Open the PostgreSQL ledger at ``target`` (a URL), migrated unless told otherwise."""
    conn = PgConnection(open_raw(target, lock_timeout_ms), target)
    if migrate_schema:
        from cost_mcp.store.bulk import restore_indexes
        from cost_mcp.store.migrations import migrate

        try:
            restore_indexes(conn, opening=True)  # after a bulk load killed before it finished
            migrate(conn)
        except BaseException:
            conn.close()
            raise
    return conn


def applied_names(target: str) -> list[str] | None:
    """The migrations recorded in the PostgreSQL ledger at ``target`` (None: no schema yet), read
    without creating anything; DatabaseError with what to do when it cannot be reached."""
    raw = open_raw(target, lock_timeout_ms=1000)
    try:
        if raw.execute("SELECT to_regclass('_migrations')").fetchone() in (None, (None,)):
            return None
        return [str(r[0]) for r in raw.execute("SELECT name FROM _migrations ORDER BY seq")]
    except psycopg.Error as exc:
        raise DatabaseError(
            f"the ledger {shown(target)} cannot be read: {scrub_text(str(exc), target)}"
        ) from None
    finally:
        raw.close()


def _closed_by_server(raw: psycopg.Connection[Any]) -> bool:
    """Whether an idle pooled connection is known dead without a round trip: closed or broken, or
    its socket readable. An idle autocommit session gets nothing unasked (no LISTEN here), so
    something to read is the server's goodbye ("terminating connection due to administrator
    command") or the end of the stream; at worst a status report after a reload, and then a
    healthy connection is replaced for nothing."""
    if raw.closed or raw.broken:
        return True
    try:
        poll = select.poll()  # not select(): a busy server's descriptors pass FD_SETSIZE
        poll.register(raw.fileno(), select.POLLIN)
        return bool(poll.poll(0))
    except (OSError, ValueError, psycopg.Error):
        return True


OUTAGE_WAIT_SECONDS = 2.0
"""How long a request waits for a pooled connection while the pool has none working before the
server is asked directly whether it is there at all: long enough for the pool's own reconnect
(it retries a second after a failure), short enough that a server that is down is said at once.
Each request used to wait the pool's whole 30 s, and a laptop's push, retrying five times, hung
2.5 minutes before it said anything."""


class PgPool:
    """A psycopg_pool pool handing out :class:`PgConnection` wrappers (one per pooled connection)."""

    def __init__(self, target: str, lock_timeout_ms: int, max_size: int = 4) -> None:
        from psycopg_pool import ConnectionPool

        refuse_unreadable(target)
        self.target = target
        self._lock_timeout_ms = lock_timeout_ms
        self._wrappers: dict[int, PgConnection] = {}
        self._guard = threading.Lock()
        # Connections handed out by connection(), counted here: psycopg_pool's get_stats() cannot
        # tell a busy pool from a dead one. Its pool_size counts connections out, idle and still
        # being (re)connected alike, and requests_waiting keeps a request that timed out: after the
        # server stopped, with nothing in use, it read pool_size=2, pool_available=0,
        # requests_waiting=1, which would make a down server wait 30 s and be called busy.
        self._in_use = 0

        def configure(raw: psycopg.Connection[Any]) -> None:
            raw.execute(SESSION_SETUP.format(ms=int(lock_timeout_ms)))

        try:
            self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
                target,
                min_size=1,
                max_size=max_size,
                kwargs={"autocommit": True, "cursor_factory": ClientCursor},
                configure=configure,
                open=True,
                timeout=30,
            )
            self._pool.wait(timeout=10)
        except Exception as exc:
            raise DatabaseError(
                explain_connect(target, exc if isinstance(exc, psycopg.Error) else psycopg.Error(str(exc)))
            ) from None

    @contextmanager
    def connection(self) -> Iterator[PgConnection]:
        """A pooled connection for the duration of the block.

        One the server closed while it sat idle in the pool (PostgreSQL restarted, or an admin
        ended its backend) is closed and replaced before it is handed out: each of the pool's
        connections used to fail its next request once (a push answered 500, a tool an error).
        psycopg_pool's own ``check`` would cost a round trip per request and back off a second or
        more after each dead one.

        While the pool has no working connection (none handed out, none coming within
        :data:`OUTAGE_WAIT_SECONDS`), the server is asked directly: unreachable, that is a
        DatabaseError saying so at once; there again (restarted), that connection serves the
        request, where the pool's next reconnect may be many seconds away. A pool whose
        connections are all busy is waited for up to its 30 s, and then too the error says why:
        psycopg_pool's PoolTimeout was a traceback, and the team server's answer a 500."""
        raw = self._take()
        if raw is None:
            direct = self._direct()
            try:
                with direct:  # commits, or rolls back on an error, then closes
                    yield self._wrapper(direct)
            finally:
                with self._guard:
                    self._wrappers.pop(id(direct), None)
                direct.close()
            return
        with self._guard:
            self._in_use += 1
        try:
            with raw:  # as psycopg_pool's own connection(): commit, or roll back on an error
                yield self._wrapper(raw)
        finally:
            with self._guard:
                self._in_use -= 1
            self._pool.putconn(raw)

    def _take(self) -> psycopg.Connection[Any] | None:
        """A live pooled connection; None when the pool has none working and should be bypassed."""
        from psycopg_pool import PoolTimeout

        deadline = time.monotonic() + float(self._pool.timeout)
        dead = 0
        while True:
            with self._guard:
                idle_pool = self._in_use == 0
            wait = deadline - time.monotonic()
            try:
                raw = self._pool.getconn(
                    timeout=max(0.01, min(wait, OUTAGE_WAIT_SECONDS) if idle_pool else wait)
                )
            except PoolTimeout as exc:
                if time.monotonic() < deadline:
                    with self._guard:
                        busy = self._in_use > 0
                    # Another request took the pool's connection while this one waited (a burst
                    # after the pool lost its idle one): the pool works and is busy, so wait for
                    # it, as a pool busy from the start is waited for, rather than go past its size.
                    if busy:
                        continue
                    return None  # nothing working in the pool: ask the server itself
                with self._guard:
                    busy = self._in_use > 0
                if busy:
                    # The server was reached: "cannot reach it, start it" sent its admin the wrong way.
                    raise DatabaseError(
                        f"the PostgreSQL ledger ({shown(self.target)}) had no free connection for "
                        f"{self._pool.timeout:g} s: this process's {self._pool.max_size} stayed in use "
                        "(a slow or stuck statement, or more requests at once than they serve); try "
                        "again, and if it lasts, look for long queries in the server's pg_stat_activity"
                    ) from None
                raise DatabaseError(
                    explain_connect(self.target, psycopg.OperationalError(f"could not connect: {exc}"))
                ) from None
            if dead < self._pool.max_size and _closed_by_server(raw):
                raw.close()
                self._pool.putconn(raw)  # the pool drops it and opens a new one
                dead += 1
                continue
            return raw

    def _direct(self) -> psycopg.Connection[Any]:
        """A connection of its own, opened now (DatabaseError saying why when the server is not there)."""
        started = time.monotonic()
        try:
            raw = psycopg.connect(
                self.target, autocommit=True, cursor_factory=ClientCursor, connect_timeout=CONNECT_TIMEOUT
            )
        except psycopg.Error as exc:
            # The pool's wait and then this attempt's (a host that drops packets: its connect_timeout).
            waited = round(OUTAGE_WAIT_SECONDS + time.monotonic() - started)
            raise DatabaseError(explain_connect(self.target, exc, waited=waited)) from None
        try:
            raw.execute(SESSION_SETUP.format(ms=int(self._lock_timeout_ms)))
        except BaseException:
            raw.close()  # reached, but refused the session's settings: not a connection to leave open
            raise
        return raw

    def _wrapper(self, raw: psycopg.Connection[Any]) -> PgConnection:
        with self._guard:
            wrapper = self._wrappers.get(id(raw))
            if wrapper is None or wrapper.raw is not raw:
                # A new connection: the ones it replaces (closed as dead here, or by psycopg_pool
                # at its max_lifetime, hourly) are let go, or each stayed here, closed, for good.
                for key in [k for k, w in self._wrappers.items() if w.raw.closed]:
                    del self._wrappers[key]
                wrapper = self._wrappers[id(raw)] = PgConnection(raw, self.target)
        return wrapper

    def close(self) -> None:
        """Close every pooled connection."""
        self._pool.close()
