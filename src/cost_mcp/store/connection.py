"""Opening the ledger safely for several processes at once.

Claude Code starts one MCP server per session, so many processes share one file. WAL lets readers
run beside a writer; every write takes the lock up front (``BEGIN IMMEDIATE``) so that a busy
timeout applies to it: a deferred transaction that upgrades from read to write fails at once with
"database is locked" instead of waiting.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cost_mcp.errors import DatabaseError

BUSY_TIMEOUT_MS = 60_000


def connect(path: Path | str, *, migrate_schema: bool = True) -> sqlite3.Connection:
    """Open (creating if needed) the ledger at ``path``, configured and migrated.

    Raises DatabaseError with what to do when the file is not a database, cannot be created or
    written, or was written by a newer cost-mcp.
    """
    from cost_mcp.store.migrations import migrate

    target = str(path)
    if target != ":memory:":
        db_path = Path(path)
        try:
            db_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseError(
                f"cannot create the folder for the ledger {db_path}: {exc.strerror}. "
                "Set COST_MCP_DB to a writable path."
            ) from None
    try:
        conn = sqlite3.connect(
            target, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise DatabaseError(_explain(target, exc)) from None
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        # Ingest inserts rows under random message ids; with SQLite's default 2 MB page cache the
        # unique index no longer fits and every insert reads pages back. 64 MB is a bound, not a use.
        conn.execute("PRAGMA cache_size = -65536")
        conn.execute("PRAGMA temp_store = MEMORY")
        if migrate_schema:
            from cost_mcp.store.bulk import restore_indexes

            restore_indexes(conn)  # after a bulk load that was killed before it finished
            migrate(conn)
    except sqlite3.Error as exc:
        conn.close()
        raise DatabaseError(_explain(target, exc)) from None
    except DatabaseError:
        conn.close()
        raise
    return conn


def _explain(target: str, exc: sqlite3.Error) -> str:
    text = str(exc)
    if "not a database" in text or "malformed" in text:
        return (
            f"the ledger {target} is not a valid SQLite database ({text}). Move it aside "
            "(it is only a cache of logs and provider data, except budgets and subscriptions) "
            "or set COST_MCP_DB to another path."
        )
    if "readonly" in text or "unable to open" in text or "disk I/O" in text:
        return (
            f"cannot write the ledger {target} ({text}). Check the file and folder permissions, "
            "or set COST_MCP_DB to a writable path."
        )
    return f"the ledger {target} cannot be used: {text}"


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One atomic write: everything inside commits together or not at all."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")


class Ledger:
    """One process's handle on the ledger: a connection shared by worker threads, one at a time.

    The server runs the synchronous analytics functions on worker threads; this lock keeps them from
    interleaving on the one connection. Other processes are kept apart by SQLite's own locking.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = connect(path)
        self._lock = threading.Lock()

    @contextmanager
    def use(self) -> Iterator[sqlite3.Connection]:
        """Exclusive use of the connection for the duration of the block."""
        with self._lock:
            yield self._conn

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()
