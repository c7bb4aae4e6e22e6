"""Opening the ledger safely for several processes at once.

Claude Code starts one MCP server per session, so many processes share one file. WAL lets readers
run beside a writer; every write takes the lock up front (``BEGIN IMMEDIATE``) so that a busy
timeout applies to it: a deferred transaction that upgrades from read to write fails at once with
"database is locked" instead of waiting.

``COST_MCP_DB`` may instead be a ``postgresql://`` URL: :mod:`cost_mcp.store.postgres` then gives
the same connection API (:class:`Conn`) over psycopg, and ``BEGIN IMMEDIATE`` takes an advisory lock.
"""

from __future__ import annotations

import enum
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence, Sized
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from cost_mcp.core_settings import POSTGRES_PREFIXES, connection_kind
from cost_mcp.errors import DatabaseError

if TYPE_CHECKING:
    from cost_mcp.store.postgres import PgPool

BUSY_TIMEOUT_MS = 60_000
REFRESH_LOCK_TIMEOUT_MS = 1_000
"""How long a query's refresh waits for another process's write lock before answering without it."""
WAL_SIZE_LIMIT = 32 * 1024 * 1024
"""Bytes SQLite leaves of the ``-wal`` file each time it starts it over after a checkpoint. A first
load lets it grow to ~100 MB (claude_logs.few_checkpoints), and a reader that kept the last
checkpoint from completing left it at that size for good (15 MB after a 68.8 MB ingest). 32 MiB is
twice what everyday writes grow it to (SQLite's 1,000-page checkpoints of 16 KiB pages), so they
never shrink and regrow it; the limit bounds what is left, not how large a load may let it grow."""
OUR_FIRST_MIGRATION = "m001_meta"
PAGE_SIZE = 16384
"""Bytes per page of a ledger file created from now on (SQLite's default is 4,096; a file keeps the
size it was created with). A first load writes every page of ``usage_events`` and its unique key to
the WAL and again to the file, then builds three indexes: with 16 KiB pages (fuller, fewer splits and
WAL frames) the writer and that tail took 0.1-0.2 s less CPU of ~0.9 s on 75k calls, while a commit
of a few rows writes its pages whole, ~30 us more (bench/README, issue 18, fifteenth round)."""


class Cursor(Protocol):
    """What the store reads from a statement's result, on either engine."""

    @property
    def rowcount(self) -> int:
        """Rows changed by the statement (or returned, on PostgreSQL)."""

    @property
    def description(self) -> Any:
        """The result's columns: ``description[i][0]`` is the i-th one's name."""

    def fetchone(self) -> Any:
        """The next row, or None."""

    def fetchall(self) -> list[Any]:
        """Every remaining row."""

    def __iter__(self) -> Iterator[Any]:
        """The remaining rows."""


class Conn(Protocol):
    """A ledger connection on either engine: SQLite (:class:`LedgerConnection`) or PostgreSQL
    (:class:`cost_mcp.store.postgres.PgConnection`). Annotate with this, not ``sqlite3.Connection``.

    A plain ``sqlite3.Connection`` does not: it has none of the attributes below, which both of
    ours carry (open one with ``factory=LedgerConnection`` where the opener's setup is not wanted).
    """

    dialect: str
    """``"sqlite"`` or ``"postgresql"``."""
    read_only: bool
    """Whether the ledger could only be opened for reading."""
    rollup_watches: list[Any] | None
    """The open ``rollup.watch`` blocks on this connection, innermost last (set by the first one)."""
    alerts_checked: object
    """What the ledger looked like when budgets were last evaluated on it (see sync.fire_alerts)."""

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open."""

    @property
    def total_changes(self) -> int:
        """Rows changed through this connection so far."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor:
        """Run one statement with ``?`` placeholders."""

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]], /) -> Cursor:
        """Run one statement for each parameter row."""

    def commit(self) -> None:
        """Commit."""

    def rollback(self) -> None:
        """Roll back."""

    def close(self) -> None:
        """Close."""

    def __enter__(self) -> Any:
        """``with conn:`` commits the block's changes, or rolls them back on an error."""

    def __exit__(self, kind: Any, value: Any, tb: Any, /) -> Any:
        """See ``__enter__``."""


def without_nul(text: str) -> str:
    """``text`` with each NUL character as U+FFFD: PostgreSQL cannot store a NUL in text, and one
    refused the whole write (an ingest, a push, an OTLP request). Every reader and receiver replaces
    it the same way, so a call read or pushed again keeps one key."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def marks(values: Sized) -> str:
    """As many ``?`` placeholders as ``values`` has, comma-separated: an ``IN (...)`` list's."""
    return ", ".join("?" * len(values))


IN_CHUNK = 500
"""Placeholders per ``IN (...)`` list of :func:`in_chunks` unless told: far below either engine's
bound on a statement's parameters (SQLite's 32,766 by default, PostgreSQL's 65,535)."""


def in_chunks(
    conn: Conn,
    sql: str,
    values: Sequence[Any],
    *,
    before: Sequence[Any] = (),
    after: Sequence[Any] = (),
    mark: str = "?",
    max_marks: int = IN_CHUNK,
) -> Iterator[list[Any]]:
    """Run ``sql`` once per chunk of ``values`` and yield each statement's rows, fetched whole (the
    caller may run other statements before taking the next), in the order of the chunks.

    ``sql``'s ``{}`` is where the chunk's ``IN`` list goes: ``mark`` once per value, at most
    ``max_marks`` placeholders in all, and the parameters are ``before``, the chunk's, ``after``.
    A ``mark`` of several placeholders (a row value, ``"(?, ?)"``) takes a value that is a tuple of
    as many parameters. Both engines read ``?`` (PostgreSQL's connection translates it). No value
    means no statement: PostgreSQL has no empty ``IN ()``."""
    width = mark.count("?")
    per_statement = max(1, max_marks // max(1, width))
    for start in range(0, len(values), per_statement):
        chunk = values[start : start + per_statement]
        flat = list(chunk) if width == 1 else [part for value in chunk for part in value]
        yield conn.execute(sql.format(", ".join([mark] * len(chunk))), (*before, *flat, *after)).fetchall()


def dialect(conn: Conn) -> str:
    """``"sqlite"`` or ``"postgresql"``: which engine ``conn`` talks to."""
    return conn.dialect


def is_postgres(target: Path | str) -> bool:
    """Whether a COST_MCP_DB value names a PostgreSQL database (a ``postgresql://`` URL)."""
    return isinstance(target, str) and target.startswith(POSTGRES_PREFIXES)


_URL_FORM = "postgresql://USER:PASSWORD@HOST:PORT/DBNAME"
_ENCODE = "percent-encode special characters in the password, e.g. @ as %40, / as %2F, ? as %3F, % as %25"
_NOT_SHOWN = "its value is not shown: it may hold a password"


def folder_problem(path: Path) -> str:
    """What to do when COST_MCP_DB names a folder: SQLite's "unable to open database file" led to
    "make the file and its folder writable", which no chmod fixes."""
    return (
        f"the ledger {path} is a folder, not a file: set COST_MCP_DB to a file's path (such as "
        f"{path / 'cost.db'}), or move the folder away; cost-mcp creates the file"
    )


def target_problem(target: Path | str) -> str | None:
    """Why the COST_MCP_DB value ``target`` cannot be opened, in a sentence that never quotes the
    value (it may hold a password); None for a file's path or a URL that can be opened.

    A libpq keyword string (``host=... password=...``) and any URL but PostgreSQL's are refused, not
    taken for a file's path (which created a file named after them, password included). A
    PostgreSQL URL is refused when its password is not percent-encoded: libpq and Python split
    ``p@ss@host`` at different ``@``, so neither the connection nor the masking could be right.
    """
    if not isinstance(target, str):
        return None
    kind = connection_kind(target)
    if kind is None:
        return None
    if kind == "keywords":
        return (
            f"COST_MCP_DB is a libpq keyword string (host=... dbname=...), which cost-mcp does not read "
            f"({_NOT_SHOWN}): write it as a URL, {_URL_FORM}, and {_ENCODE}; or set COST_MCP_DB to an "
            "SQLite file's path"
        )
    scheme = target.partition("://")[0]
    if kind == "url":
        if scheme.lower() in ("postgresql", "postgres"):
            return (
                f"COST_MCP_DB's scheme must be lower case, postgresql:// ({_NOT_SHOWN}): libpq reads no other"
            )
        return (
            f"COST_MCP_DB is a {scheme}:// URL ({_NOT_SHOWN}); the ledger is an SQLite file's path or a "
            f"PostgreSQL URL, {_URL_FORM}"
        )
    rest = target.partition("://")[2]
    credentials = rest.partition("@")[0] if "@" in rest else ""
    if (
        rest.count("@") > 1
        or any(c in credentials for c in "/?#[]")
        or re.search(r"\s|%(?![0-9A-Fa-f]{2})", credentials)
    ):
        return (
            f"COST_MCP_DB is not a PostgreSQL URL cost-mcp can read ({_NOT_SHOWN}): {_ENCODE}, as in "
            f"{_URL_FORM}"
        )
    try:
        urlsplit(target)  # Python's own message may quote the host part: not repeated
    except ValueError:
        return (
            f"COST_MCP_DB is not a readable PostgreSQL URL ({_NOT_SHOWN}): check its host and port (an "
            f"IPv6 address goes in square brackets), as in {_URL_FORM}, and {_ENCODE}"
        )
    return None


def shown(target: Path | str) -> str:
    """The ledger's name for a message or a log: a path as it is, a URL with its password as
    ``***`` (in the userinfo or a ``password=`` parameter), and a value cost-mcp does not open
    (see :func:`target_problem`) only by its kind."""
    text = str(target)
    kind = connection_kind(text) if isinstance(target, str) else None
    if kind is None:
        return text
    if kind == "keywords":
        return "(a libpq keyword string, not shown)"
    scheme = text.partition("://")[0]
    if target_problem(text) is not None:
        return f"({scheme}:// URL, not shown)"
    parts = urlsplit(text)
    text = _PASSWORD_PARAM.sub(r"\1***", text)
    if parts.password is None:
        return text
    parts = urlsplit(text)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(
        (parts.scheme, f"{parts.username or ''}:***@{host}", parts.path, parts.query, parts.fragment)
    )


_PASSWORD_PARAM = re.compile(r"(password=)[^&#]*")
"""A password in a URL's query (``?password=...``; ``sslpassword=`` too)."""


def scrub_text(text: str, target: Path | str) -> str:
    """``text`` (a message from PostgreSQL's client library, which may quote the connection string
    or parts of it) without any secret of the COST_MCP_DB value ``target``: the value itself, and
    its password as written, decoded and re-encoded."""
    if not isinstance(target, str) or connection_kind(target) is None:
        return text
    text = text.replace(target, shown(target))
    for secret in _secrets(target):
        for form in sorted({secret, unquote(secret), quote(unquote(secret), safe="")}, key=len, reverse=True):
            if form:
                text = text.replace(form, "***")
    return text


def _secrets(target: str) -> list[str]:
    """Every text of ``target`` that may be a password: its userinfo's (read up to the first and up
    to the last ``@``, when it is not encoded), ``password=`` values of the query or keywords."""
    found = re.findall(r"password\s*=\s*('(?:[^'\\]|\\.)*'|[^&#\s]*)", target)
    secrets = [s.strip("'") for s in found]
    rest = target.partition("://")[2]
    if "@" in rest:
        for userinfo in (rest.partition("@")[0], rest.rpartition("@")[0]):
            if ":" in userinfo:
                secrets.append(userinfo.partition(":")[2])
    return [s for s in secrets if s]


class LedgerConnection(sqlite3.Connection):
    """A connection that knows whether the ledger could only be opened for reading."""

    dialect: str = "sqlite"
    read_only: bool = False
    path: str = ":memory:"
    alerts_checked: object = None
    """What the ledger looked like when budgets were last evaluated on it (see sync.fire_alerts)."""
    rollup_watches: list[Any] | None = None
    """The open ``rollup.watch`` blocks on this connection, innermost last (set by the first one)."""


def sqlite_uri(path: Path | str, query: str = "mode=ro") -> str:
    """``path`` as the SQLite URI that opens exactly it, with ``query`` (``mode=ro``: read-only).
    ``f"file:{path}?mode=ro"`` cut a path at a ``#`` or ``?`` in a folder's name (``.../c#/x.db`` opened
    ``.../c``, for writing, creating it) and read ``%41`` as ``A``: the path is percent-encoded."""
    return f"{Path(path).absolute().as_uri()}?{query}"


def connect(path: Path | str, *, migrate_schema: bool = True) -> Conn:
    """Open (creating if needed) the ledger at ``path``, configured and migrated.

    ``path`` is a file (SQLite) or a ``postgresql://`` URL. A ledger this process cannot write
    (read-only file or folder) is opened for reading, marked ``read_only``: questions are answered
    from it without refreshing. Raises DatabaseError with what to do when the file is not a
    database, is damaged, belongs to another application, cannot be created, or was written by a
    newer cost-mcp; for PostgreSQL, when the server cannot be reached, refuses the credentials or
    has no such database.
    """
    problem = target_problem(path)
    if problem is not None:
        raise DatabaseError(problem)
    if is_postgres(path):
        from cost_mcp.store import postgres

        try:
            return postgres.connect(str(path), lock_timeout_ms=BUSY_TIMEOUT_MS, migrate_schema=migrate_schema)
        except sqlite3.Error as exc:
            raise DatabaseError(explain(path, exc)) from None
    return connect_sqlite(path, migrate_schema=migrate_schema)


def connect_sqlite(path: Path | str, *, migrate_schema: bool = True) -> LedgerConnection:
    """:func:`connect` for an SQLite file (or ``:memory:``)."""
    target = str(path)
    if target != ":memory:":
        db_path = Path(path)
        if db_path.is_dir():
            raise DatabaseError(folder_problem(db_path))
        if not db_path.exists():
            try:
                make_private_folder(db_path.parent)
            except OSError as exc:
                raise DatabaseError(
                    f"cannot create the folder for the ledger {db_path}: {exc.strerror}. "
                    "Set COST_MCP_DB to a writable path."
                ) from None
            _create_private_file(db_path)
    try:
        conn = _open(target, migrate_schema=migrate_schema)
    except sqlite3.OperationalError as exc:
        if target == ":memory:" or not _cannot_write(exc) or not Path(target).is_file():
            raise DatabaseError(explain(target, exc)) from None
        conn = _open_read_only(target, exc)
    if target != ":memory:" and not os.access(target, os.W_OK):
        conn.read_only = True
    return conn


PRIVATE_FOLDER_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
"""The modes of the data folder and a ledger cost-mcp creates: the ledger holds who spent what, on
which projects, not for the machine's other users."""


def make_private_folder(folder: Path) -> None:
    """Create ``folder`` and each missing parent owner-only; a folder that exists keeps its mode
    (changing the user's own choice unasked would be a surprise: doctor warns instead)."""
    missing: list[Path] = []
    for candidate in [folder, *folder.parents]:
        if candidate.exists():
            break
        missing.append(candidate)
    for path in reversed(missing):
        with suppress(FileExistsError):  # another process made it first
            path.mkdir(mode=PRIVATE_FOLDER_MODE)
    if not folder.is_dir():
        folder.mkdir()  # raises what is there instead (a file), as mkdir(parents=True) did


def _create_private_file(path: Path) -> None:
    """Create an empty ``path`` owner-only before SQLite opens it: SQLite makes a new file with the
    umask's mode (often world-readable), and its -wal and -shm files copy the database file's mode."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
    except FileExistsError:
        pass  # another process created it first: that one chose its mode
    except OSError:
        pass  # SQLite's own open says what is wrong, in the words every command uses


def _open(target: str, *, migrate_schema: bool) -> LedgerConnection:
    from cost_mcp.store.migrations import migrate

    try:
        conn = sqlite3.connect(
            target,
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,
            factory=LedgerConnection,
        )
    except sqlite3.Error as exc:
        raise DatabaseError(explain(target, exc)) from None
    conn.path = target
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _refuse_foreign(conn, target)
        conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # a new file only; an existing one keeps its own
        _use_wal(conn)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
        conn.execute("PRAGMA foreign_keys = ON")
        # Ingest inserts rows under random message ids; with SQLite's default 2 MB page cache the
        # unique index no longer fits and every insert reads pages back. 64 MB is a bound, not a use.
        conn.execute("PRAGMA cache_size = -65536")
        conn.execute("PRAGMA temp_store = MEMORY")
        if migrate_schema:
            from cost_mcp.store.bulk import restore_indexes

            restore_indexes(conn, opening=True)  # after a bulk load killed before it finished
            migrate(conn)
    except sqlite3.OperationalError:
        conn.close()
        raise
    except sqlite3.Error as exc:
        conn.close()
        raise DatabaseError(explain(target, exc)) from None
    except DatabaseError:
        conn.close()
        raise
    return conn


def _use_wal(conn: LedgerConnection) -> None:
    """Put the ledger in WAL mode, waiting as long as for any write lock.

    Switching a new file to WAL needs every other connection out of it, and SQLite answers a switch
    that meets another process's (two processes creating the ledger at once: Claude Code starting
    the server beside the status line, or a team's servers) with SQLITE_BUSY at once: its busy
    handler is not called for it. One process wins; the others find WAL set when they try again."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(0.005)


def _open_read_only(target: str, first: sqlite3.OperationalError) -> LedgerConnection:
    """The ledger opened for reading only: plainly, or, when not even WAL's shared-memory file can
    be created beside it, as an immutable file (nobody can be writing it then either)."""
    from cost_mcp.store.migrations import MIGRATIONS, applied_read_only

    for mode in ("mode=ro", "immutable=1"):
        try:
            conn = sqlite3.connect(
                sqlite_uri(Path(target).resolve(), mode),
                uri=True,
                isolation_level=None,
                check_same_thread=False,
                factory=LedgerConnection,
            )
        except sqlite3.Error:
            continue
        conn.path = target
        try:
            conn.execute(f"PRAGMA busy_timeout = {REFRESH_LOCK_TIMEOUT_MS}")
            _refuse_foreign(conn, target)
            done = applied_read_only(conn)
        except sqlite3.OperationalError:
            conn.close()
            continue
        except sqlite3.Error as exc:
            conn.close()
            raise DatabaseError(explain(target, exc)) from None
        except DatabaseError:
            conn.close()
            raise
        pending = [name for name, _ in MIGRATIONS if name not in done]
        if pending:
            conn.close()
            raise DatabaseError(
                f"the ledger {target} is read-only and needs upgrading to this cost-mcp's schema; make it "
                "and its folder writable (chmod u+w), or set COST_MCP_DB to a writable path"
            )
        conn.read_only = True
        return conn
    raise DatabaseError(explain(target, first))


def _refuse_foreign(conn: LedgerConnection, target: str) -> None:
    """Refuse a database that is neither empty nor ours, rather than add our tables to it."""
    # One read transaction: its statements see one state of the file. Read one by one, another
    # process creating the ledger could commit its first migration between them, and the file
    # read as neither being created nor ours (eight servers starting at once did it).
    conn.execute("BEGIN")
    try:
        _refuse_foreign_now(conn, target)
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")


def _refuse_foreign_now(conn: LedgerConnection, target: str) -> None:
    problem = foreign_file_problem(conn, target)
    if problem is not None:
        raise DatabaseError(problem)


def foreign_file_problem(conn: sqlite3.Connection, target: str) -> str | None:
    """What to say of an SQLite file that is another application's database (tables, but not
    cost-mcp's), or None when it is a ledger, one being created, or empty. Read in one transaction
    (see _refuse_foreign)."""
    tables = [
        str(r[0])
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    if not tables:
        return None
    try:
        ours = "_migrations" in tables and (
            conn.execute("SELECT 1 FROM _migrations WHERE name = ?", (OUR_FIRST_MIGRATION,)).fetchone()
            is not None
        )
    except sqlite3.OperationalError:  # a _migrations table of another shape; corruption propagates
        ours = False
    # Another process creating the ledger at this moment: migrate() makes _migrations before its
    # first migration's transaction, so for that instant it is the only table, and empty.
    creating = tables == ["_migrations"] and conn.execute("SELECT 1 FROM _migrations").fetchone() is None
    if ours or creating:
        return None
    shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
    return (
        f"{target} is not a cost-mcp ledger (it is another application's SQLite database, with tables "
        f"{shown}); cost-mcp leaves it untouched. Set COST_MCP_DB to a file of cost-mcp's own."
    )


def _cannot_write(exc: sqlite3.Error) -> bool:
    name = str(getattr(exc, "sqlite_errorname", ""))
    return name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN")) or "readonly" in str(exc)


ONLY_IN_THE_LEDGER = (
    "calls agents reported with record_usage or sent over OTLP, and on a team server its tokens and "
    "members' pushes (each laptop's `cost-mcp push --full` sends its own again)"
)
"""What only the ledger holds besides budgets and subscriptions: "it is only a cache of logs and
provider data, except budgets and subscriptions" had a team server's admin start afresh without
every member's usage and tokens."""


def explain(target: str | Path, exc: sqlite3.Error) -> str:
    """One line a person can act on for an SQLite error on the ledger at ``target`` (a PostgreSQL
    error arrives as the sqlite3 error it maps to; see store.postgres)."""
    if is_overflow(exc):
        return scrub_text(f"the ledger {shown(target)} cannot sum this: it adds up to {OVERFLOW_FIX}", target)
    if is_postgres(target):
        return scrub_text(_explain_postgres(shown(target), exc), target)
    text = str(exc)
    name = str(getattr(exc, "sqlite_errorname", ""))
    if name.startswith("SQLITE_NOTADB") or "not a database" in text:
        return (
            f"the ledger {target} is not a valid SQLite database ({text}). Put back your backup copy of "
            "it (README, Backup and restore), or move it aside (or set COST_MCP_DB to another path) to "
            "start afresh: logs and provider bills are read again, but not what only the ledger held: "
            f"budgets, subscriptions, {ONLY_IN_THE_LEDGER}"
        )
    if name.startswith("SQLITE_CORRUPT") or "malformed" in text:
        return (
            f"the ledger {target} is damaged ({text}). Put back your backup copy of it (README, Backup "
            "and restore), or rebuild it: if it still opens, save what was entered by hand (`cost-mcp "
            "budget list --json`, `cost-mcp subscription list --json`), move the file aside, then "
            "`cost-mcp ingest` and `cost-mcp sync --days 62` re-read the logs and provider APIs, and set "
            f"the budgets and subscriptions again; not read again is the rest only the ledger held: "
            f"{ONLY_IN_THE_LEDGER}"
        )
    if is_disk_full(exc):
        return (
            f"the disk holding the ledger {target} is full ({text}); nothing was lost. Free some space "
            "there, or set COST_MCP_DB to a path on another disk, then try again"
        )
    if is_busy(exc):
        return (
            f"the ledger {target} is locked by another process for longer than "
            f"{BUSY_TIMEOUT_MS // 1000} s ({text}); try again when it is done (another cost-mcp "
            "ingest or sync, or a program holding the file open)"
        )
    if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM")) or "readonly" in text:
        return (
            f"cannot write the ledger {target} ({text}). Make the file and its folder writable "
            "(chmod u+w), or set COST_MCP_DB to a writable path"
        )
    if name.startswith("SQLITE_IOERR") or "disk I/O" in text:
        return (
            f"cannot read or write the ledger {target} ({text}): check the disk, the file's permissions "
            "and free space, or set COST_MCP_DB to another path"
        )
    return f"the ledger {target} cannot be used: {text}"


def _explain_postgres(target: str, exc: sqlite3.Error) -> str:
    text = str(exc)
    name = str(getattr(exc, "sqlite_errorname", ""))
    if is_conflict(exc):
        # Refused at once (after a second's deadlock check at most), not after the lock's wait:
        # "locked for longer than 60 s" was not what happened.
        return (
            f"the ledger {target} refused this write: it crossed another process's write at the same "
            f"moment ({text}); nothing of it was stored, so running it again is safe"
        )
    if is_cancelled(exc):
        # "locked by another process for longer than 60 s" was said of a statement the role's
        # statement_timeout cut short after a second: the fix is the setting, not a wait.
        return (
            f"the PostgreSQL server of the ledger {target} cancelled this statement before it finished "
            f"({text}): {CANCELLED_BY}; nothing of it was stored. {CANCELLED_FIX}, or run it at a "
            "quieter time"
        )
    if is_busy(exc):
        return (
            f"the ledger {target} is locked by another process for longer than "
            f"{BUSY_TIMEOUT_MS // 1000} s ({text}); try again when it is done (another cost-mcp ingest "
            "or sync holds the write lock)"
        )
    if name.startswith("SQLITE_READONLY"):
        return (
            f"the role in COST_MCP_DB may not write the ledger {target} ({text}); grant it the "
            "database's tables (it should own them), or use a role that may"
        )
    if name.startswith("SQLITE_FULL"):
        return f"the PostgreSQL server of the ledger {target} is out of disk space ({text}); free some"
    if name.startswith("SQLITE_IOERR"):
        return (
            f"the PostgreSQL server of the ledger {target} stopped answering ({text}); check that it is "
            "running and reachable, then try again"
        )
    return f"the ledger {target} cannot be used: {text}"


def data_version(conn: Conn) -> int:
    """A number that changes when another connection commits a write (SQLite's ``data_version``)."""
    if dialect(conn) == "postgresql":
        from cost_mcp.store.postgres import PgConnection

        assert isinstance(conn, PgConnection)
        return conn.data_version()
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


@contextmanager
def lock_timeout(conn: Conn, ms: int | None) -> Iterator[None]:
    """Wait at most ``ms`` for another process's write lock inside the block (None: unchanged)."""
    if ms is None:
        yield
        return
    if dialect(conn) == "postgresql":
        from cost_mcp.store.postgres import PgConnection

        assert isinstance(conn, PgConnection)
        previous = conn.set_lock_timeout(ms)
        try:
            yield
        finally:
            conn.set_lock_timeout(previous)
        return
    with sqlite_pragma(conn, "busy_timeout", lambda before: min(ms, before)):
        yield


@contextmanager
def sqlite_pragma(conn: Conn, name: str, value: Callable[[int], int]) -> Iterator[None]:
    """Set the integer pragma ``name`` of this SQLite connection to ``value(current)`` inside the
    block, and back to what it was after it, whatever happens in between."""
    before = int(conn.execute(f"PRAGMA {name}").fetchone()[0])
    conn.execute(f"PRAGMA {name} = {int(value(before))}")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA {name} = {before}")


def is_busy(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` means another process holds the lock."""
    return str(getattr(exc, "sqlite_errorname", "")).startswith("SQLITE_BUSY") or "locked" in str(exc)


def is_read_only(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` means this process may not write the ledger: a file or folder it cannot
    write, or (PostgreSQL, mapped so by store.postgres) a role without the right."""
    return str(getattr(exc, "sqlite_errorname", "")).startswith("SQLITE_READONLY") or "readonly" in str(exc)


def is_disk_full(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` means the ledger's disk (or PostgreSQL server's) has no room for the write."""
    return str(getattr(exc, "sqlite_errorname", "")).startswith("SQLITE_FULL") or "disk is full" in str(exc)


def is_cancelled(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` is PostgreSQL cancelling the statement (SQLSTATE 57014, whatever the server's
    message language): the role's ``statement_timeout`` (set by an admin) ran out, or an admin
    cancelled it. Nothing of it was stored. store.postgres maps it into SQLite's busy family, so
    :func:`is_busy` is true of it too (callers that only skip a write treat both alike); SQLite
    never raises it."""
    return getattr(exc.__cause__, "sqlstate", None) == "57014"


CANCELLED_BY = "its statement_timeout for this role, set by an admin, or an admin stopped it"
"""Who cancels a PostgreSQL statement (:func:`is_cancelled`), as every message about it says."""
CANCELLED_FIX = (
    "Raise the role's statement_timeout (ALTER ROLE <role> SET statement_timeout = '5min', or 0 for none)"
)
"""The fix for a cancelled write: the setting, never a wait for another process. One wording for the
command that stops on it, the hook's note and an answer's warning."""


class Unwritable(enum.Enum):
    """Why the ledger cannot take a write now, when that is its state and not a fault: what
    :func:`why_unwritable` finds. Each caller words it for its own reader (the status line in a
    few words, the hook's note, an answer's warning)."""

    BUSY = "busy"
    """Another process held the write lock past the wait allowed."""
    CANCELLED = "cancelled"
    """PostgreSQL cancelled the statement (:func:`is_cancelled`): its fix is the role's
    ``statement_timeout``, not a wait for another process."""
    READ_ONLY = "read-only"
    """This process may not write the ledger (:func:`is_read_only`)."""
    DISK_FULL = "disk full"
    """The ledger's disk, or its PostgreSQL server's, is full (:func:`is_disk_full`)."""


def why_unwritable(exc: sqlite3.Error) -> Unwritable | None:
    """Why a write failed when it is the ledger's state (:class:`Unwritable`); None for anything
    else, which the caller raises."""
    if is_cancelled(exc):  # before is_busy, which store.postgres makes true of it too
        return Unwritable.CANCELLED
    if is_busy(exc):
        return Unwritable.BUSY
    if is_read_only(exc):
        return Unwritable.READ_ONLY
    if is_disk_full(exc):
        return Unwritable.DISK_FULL
    return None


T = TypeVar("T")


def write_briefly(
    conn: Conn, write: Callable[[], T], lock_ms: int | None = REFRESH_LOCK_TIMEOUT_MS
) -> tuple[T, None] | tuple[None, Unwritable]:
    """``(write(), None)``, waiting at most ``lock_ms`` for another process's write lock (None: the
    connection's usual wait); or, when the ledger cannot take the write (:func:`why_unwritable`),
    ``(None, why)``. Anything else is raised; either way what ``write`` left open is rolled back.
    For a write an answer can do without (a refresh before a question, the status line's reading of
    its transcript, a rollup rebuild): the answer then comes from the ledger as it stands, saying
    why."""
    try:
        with lock_timeout(conn, lock_ms):
            return write(), None
    except sqlite3.OperationalError as exc:
        if conn.in_transaction:
            conn.rollback()
        why = why_unwritable(exc)
        if why is None:
            raise
        return None, why


def is_overflow(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` is a sum past 64 bits: SQLite's SUM() of integers raising "integer overflow",
    or PostgreSQL refusing a value beyond BIGINT (SQLSTATE 22003, whatever the message language)."""
    return "integer overflow" in str(exc) or getattr(exc.__cause__, "sqlstate", None) == "22003"


OVERFLOW_FIX = (
    "more cost or tokens than a 64-bit sum holds (over $9.2 billion, or 9.2e18 tokens): the ledger "
    "holds calls that are no real use (a crafted log or record_usage flood). Ask about a narrower "
    "period, or filter away the model/agent/project of the bogus calls; to remove them for good, "
    "`cost-mcp reported forget` for calls agents reported, `cost-mcp ingest --forget PATH` for a log "
    "file that brought them, or move the ledger aside and read the logs again (`cost-mcp ingest`)"
)
"""What to do when :func:`is_overflow`: the sums cannot hold such a ledger, so only removing the
calls (or asking about less) answers again."""


def is_conflict(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` is PostgreSQL rolling this transaction back whole because it crossed another
    one: picked as a deadlock's victim (SQLSTATE 40P01) or a serialization failure (40001), whatever
    the server's message language. Nothing of it was stored and it may be run again. SQLite, one
    writer at a time, never raises either."""
    return getattr(exc.__cause__, "sqlstate", None) in ("40P01", "40001")


LOCK_NOTICE_MS = 1_500
"""How long a write waits for another process's write lock before a person is told it is waiting
(see :func:`telling_lock_waits`): a commit of another process's batch takes well under it."""

_lock_wait_teller: Callable[[float], None] | None = None


@contextmanager
def telling_lock_waits(tell: Callable[[float], None] | None) -> Iterator[None]:
    """Inside the block, a write that has waited :data:`LOCK_NOTICE_MS` for another process's
    write lock (SQLite's file lock, PostgreSQL's advisory lock) calls ``tell`` with the seconds it
    may still wait, then goes on waiting that long (None: no telling). The CLI does so for every
    command: the wait is otherwise a silent minute. Process-wide: for a single-threaded command,
    not a server."""
    before = set_lock_wait_teller(tell)
    try:
        yield
    finally:
        set_lock_wait_teller(before)


def set_lock_wait_teller(tell: Callable[[float], None] | None) -> Callable[[float], None] | None:
    """What :func:`telling_lock_waits` sets, for good (a server turns the CLI's off); returns the one
    before."""
    global _lock_wait_teller
    before, _lock_wait_teller = _lock_wait_teller, tell
    return before


def _lock_wait_ms(conn: Conn) -> int | None:
    """How long this connection waits for a lock now, in ms (None: no limit)."""
    if dialect(conn) == "postgresql":
        from cost_mcp.store.postgres import PgConnection

        assert isinstance(conn, PgConnection)
        return conn.lock_timeout_ms() or None  # PostgreSQL's 0 is no limit, SQLite's no wait
    return int(conn.execute("PRAGMA busy_timeout").fetchone()[0])


def _begin_telling(conn: Conn, begin: str, tell: Callable[[float], None]) -> None:
    """``begin``, calling ``tell`` once it has waited :data:`LOCK_NOTICE_MS` for the lock; the
    whole wait is no longer than without telling."""
    limit = _lock_wait_ms(conn)
    if limit is not None and limit <= LOCK_NOTICE_MS:
        conn.execute(begin)
        return
    try:
        with lock_timeout(conn, LOCK_NOTICE_MS):
            conn.execute(begin)
        return
    except sqlite3.OperationalError as exc:
        # A statement the server cancelled (the role's statement_timeout, shorter than the notice)
        # is no lock to wait for: it said "waiting up to 58 s more for another process", then the
        # wait was cancelled again.
        if not is_busy(exc) or is_cancelled(exc):
            raise
        if conn.in_transaction:
            conn.rollback()
    tell(float("inf") if limit is None else (limit - LOCK_NOTICE_MS) / 1000)
    with lock_timeout(conn, None if limit is None else limit - LOCK_NOTICE_MS):
        conn.execute(begin)


def take_lock(conn: Conn, statement: str) -> None:
    """Run ``statement``, which waits for a lock another process may hold (a ``BEGIN IMMEDIATE``,
    PostgreSQL's migration lock), telling a person it waits as :func:`telling_lock_waits` asks."""
    tell = _lock_wait_teller
    if tell is None:
        conn.execute(statement)
    else:
        _begin_telling(conn, statement, tell)


@contextmanager
def write_transaction(conn: Conn, *, shared: bool = False) -> Iterator[Conn]:
    """One atomic write: everything inside commits together or not at all.

    ``shared`` (PostgreSQL only): the ledger's write lock in shared mode, for a writer whose
    statements stay right beside others of its kind (a team server's pushes, store.team): they
    exclude every other writer and are excluded by it, but not each other. SQLite has one writer
    at a time whatever is asked."""
    take_lock(conn, "BEGIN SHARED" if shared and dialect(conn) == "postgresql" else "BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        # SQLite has already rolled back after some errors (a full disk): rolling back again would
        # replace the error that says what happened with "no transaction is active"; and a
        # PostgreSQL server gone fails the rollback too ("the connection is closed").
        with suppress(sqlite3.Error):
            if conn.in_transaction:
                conn.rollback()
        raise
    else:
        conn.execute("COMMIT")


def _refuse_upgraded(conn: Conn) -> None:
    """Raise :class:`LedgerUpgradedError` when a newer cost-mcp has migrated the ledger since this
    process opened it. A server still running the release before a `pip install -U` (Claude Code
    keeps its MCP server for the whole session), or a team server's replica not yet upgraded, went
    on answering and recording with code that does not know the new schema, saying nothing."""
    from cost_mcp.store.migrations import upgraded_error, upgraded_since

    unknown = upgraded_since(conn)
    if unknown:
        raise upgraded_error(unknown)


POOL_SIZE = 8
"""Most PostgreSQL connections one process opens: a team server's pushes share the write lock
(web.http lets two into the ledger at once) and its token checks and queries need their own."""


class Ledger:
    """One process's handle on the ledger: a connection shared by worker threads, one at a time.

    The server runs the synchronous analytics functions on worker threads; this lock keeps them from
    interleaving on the one connection. Other processes are kept apart by SQLite's own locking.
    On PostgreSQL the threads share a connection pool instead (the schema is migrated once here).
    """

    def __init__(self, path: Path | str, *, unusable_at_start: bool = False) -> None:
        """Open (and migrate) the ledger at ``path``. ``unusable_at_start``: a ledger that cannot be
        opened now (a newer release's, an unwritable folder, a PostgreSQL server down) does not
        raise here; each :meth:`use` tries to open it again and raises what stops it."""
        self.path = path
        self._lock = threading.Lock()
        self._pool: PgPool | None = None
        self._conn: Conn | None = None
        self._opened = False
        self.unusable_at_start: DatabaseError | None = None
        """Why the ledger could not be opened at start, when ``unusable_at_start`` let it be."""
        try:
            self._open()
        except DatabaseError as exc:
            if not unusable_at_start:
                raise
            self.unusable_at_start = exc

    def _open(self) -> None:
        if is_postgres(self.path):
            from cost_mcp.store.postgres import PgPool

            connect(self.path).close()  # migrates, with one clear error when the server is not usable
            self._pool = PgPool(str(self.path), BUSY_TIMEOUT_MS, max_size=POOL_SIZE)
        else:
            self._conn = connect(self.path)
        self._opened = True

    def _open_now(self) -> None:
        """Open a ledger that could not be opened at start, or raise why it still cannot be."""
        with self._lock:
            if not self._opened:
                self._open()

    @property
    def read_only(self) -> bool:
        """Whether the ledger could only be opened for reading."""
        return self._conn is not None and self._conn.read_only

    @contextmanager
    def use(self) -> Iterator[Conn]:
        """Exclusive use of a connection for the duration of the block; a database error inside
        it becomes a DatabaseError saying what happened to the ledger and what to do."""
        if not self._opened:
            self._open_now()
        if self._pool is not None:
            with self._pool.connection() as pooled:
                try:
                    _refuse_upgraded(pooled)
                    yield pooled
                except sqlite3.Error as exc:
                    # The server gone (restarted, unreachable) fails the rollback too: that error
                    # ("the connection is closed") hid this one, and left a traceback.
                    with suppress(sqlite3.Error):
                        if pooled.in_transaction:
                            pooled.rollback()
                    raise DatabaseError(explain(self.path, exc)) from None
            return
        assert self._conn is not None
        with self._lock:
            try:
                _refuse_upgraded(self._conn)
                yield self._conn
            except sqlite3.Error as exc:
                if self._conn.in_transaction:
                    self._conn.rollback()
                raise DatabaseError(explain(self.path, exc)) from None

    def close(self) -> None:
        """Close the connection (or the pool)."""
        if self._pool is not None:
            self._pool.close()
            return
        with self._lock:
            if self._conn is not None:
                self._conn.close()
