"""Append-only schema migrations: small named functions, applied in order, each in a transaction.

Never edit or reorder a migration that has shipped; add a new one. The ``_migrations`` table records
what ran, so several processes starting at once apply each migration exactly once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime

from cost_mcp.errors import DatabaseError

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[tuple[str, Migration]] = []


def migration(fn: Migration) -> Migration:
    """Register ``fn`` as the next migration, named after the function."""
    MIGRATIONS.append((fn.__name__, fn))
    return fn


def applied(conn: sqlite3.Connection) -> list[str]:
    """Names of the migrations already applied, in order."""
    conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    return [row[0] for row in conn.execute("SELECT name FROM _migrations ORDER BY rowid")]


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply pending migrations; returns the names applied now."""
    known = {name for name, _ in MIGRATIONS}
    done = applied(conn)
    unknown = [name for name in done if name not in known]
    if unknown:
        raise DatabaseError(
            f"the ledger was written by a newer cost-mcp (unknown migrations: {', '.join(unknown)}); "
            "upgrade cost-mcp or point COST_MCP_DB elsewhere."
        )
    ran: list[str] = []
    for name, fn in MIGRATIONS:
        if name in done:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have applied it while we waited for the lock.
            if conn.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone() is None:
                fn(conn)
                conn.execute(
                    "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                    (name, datetime.now(UTC).isoformat()),
                )
                ran.append(name)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return ran


# --- migrations, oldest first ------------------------------------------------------------------


@migration
def m001_meta(conn: sqlite3.Connection) -> None:
    """Key/value facts about the ledger itself (e.g. the price data version events were priced with)."""
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
