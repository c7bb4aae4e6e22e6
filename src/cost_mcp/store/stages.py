"""PostgreSQL staging tables a connection keeps for its whole session, emptied by every commit.

A team server's push stages its batch and its rollup groups (COPY, then one set-based statement
reading them). :func:`bulk.staged` looks its table up and TRUNCATEs it per batch: a TRUNCATE gives
the table a new file and writes the catalog, ~0.7 ms each, plus ~0.6 ms per look-up, four round
trips per push under the ledger's write lock. Here the tables are made once per connection with
``ON COMMIT DELETE ROWS`` (the commit empties them in place) and *outside* any transaction, so no
rolled-back transaction can take them with it and the connection may remember them.

Within one transaction a table staged twice (a batch holding a key twice is merged in rounds) is
emptied by a DELETE first: its earlier rows are still there until the commit.
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from cost_mcp.store import bulk
from cost_mcp.store.connection import Conn, dialect

if TYPE_CHECKING:
    from cost_mcp.store.postgres import PgConnection


@dataclass
class _Kept:
    made: set[str] = field(default_factory=set)
    """The kept tables this connection has made."""
    filled: set[str] = field(default_factory=set)
    """Those filled since the connection was last outside a transaction."""


_kept: weakref.WeakKeyDictionary[Any, _Kept] = weakref.WeakKeyDictionary()


def _name(table: str, columns: Sequence[str]) -> str:
    digest = hashlib.sha1(",".join(columns).encode(), usedforsecurity=False).hexdigest()[:10]
    return f"kept_{table}_{digest}"


def prepare(conn: Conn, specs: Sequence[tuple[str, Sequence[str]]]) -> None:
    """Make sure ``conn`` (PostgreSQL) has a kept staging table for each ``(table, columns)``.

    Call it outside a transaction: inside one it does nothing, and :func:`staged` uses what was
    prepared before or falls back to :func:`bulk.staged`. Outside one every kept table is empty
    (the last transaction either committed, which emptied them, or rolled back its rows)."""
    if dialect(conn) != "postgresql" or conn.in_transaction:
        return
    kept = _kept.get(conn)
    if kept is None:
        kept = _kept[conn] = _Kept()
    kept.filled.clear()
    for table, columns in specs:
        stage = _name(table, columns)
        if stage in kept.made:
            continue
        # Autocommit: each statement commits at once, so the table lives as long as the session.
        conn.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS "
            f"SELECT {', '.join(columns)} FROM {table} WHERE false"
        )
        conn.execute(f"ALTER TABLE {stage} ADD COLUMN IF NOT EXISTS n BIGINT GENERATED ALWAYS AS IDENTITY")
        kept.made.add(stage)


def staged(
    conn: Conn, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, binary: bool = False
) -> str:
    """The name of a staging table holding exactly ``rows`` (COPYed in, numbered ``n`` in order):
    ``conn``'s kept table when :func:`prepare` made one, else :func:`bulk.staged`'s. ``binary``:
    as ``PgConnection.copy_rows`` (every value exactly of its column's type)."""
    stage = _name(table, columns)
    kept = _kept.get(conn)
    if kept is None or stage not in kept.made:
        return bulk.staged(conn, table, columns, rows, binary=binary)
    if stage in kept.filled:
        conn.execute(f"DELETE FROM {stage}")
    kept.filled.add(stage)
    cast("PgConnection", conn).copy_rows(stage, columns, rows, binary=binary)
    return stage
