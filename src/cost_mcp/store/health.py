"""Looking at a ledger file without changing it: for `cost-mcp doctor`."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from cost_mcp.store import meta, otel, reported, skipped, source_state, team
from cost_mcp.store.connection import Conn, LedgerConnection, sqlite_uri
from cost_mcp.store.migrations import applied_read_only

T = TypeVar("T")


@dataclass(frozen=True)
class FileCheck:
    """What a read-only look at a ledger file found: the migrations applied, or why it cannot be read
    (``empty``: a database with no schema yet)."""

    migrations: list[str]
    error: str | None = None
    empty: bool = False
    foreign: str | None = None
    """What to say when the file is another application's database, which every command refuses."""


def _read_only(path: Path) -> LedgerConnection:
    """The SQLite file at ``path`` opened for reading only, as it is: none of the opener's setup,
    which writes (WAL, migrations)."""
    conn = sqlite3.connect(sqlite_uri(path), uri=True, factory=LedgerConnection)
    conn.read_only = True
    conn.path = str(path)
    return conn


def check_file(path: Path) -> FileCheck:
    """Open ``path`` read-only, check its pages (SQLite's quick_check) and list its migrations."""
    from cost_mcp.store.connection import foreign_file_problem

    try:
        conn = _read_only(path)
        try:
            conn.execute("PRAGMA quick_check").fetchone()
            conn.execute("BEGIN")
            foreign = foreign_file_problem(conn, str(path))
            if foreign is not None:
                return FileCheck([], foreign=foreign)
            names = applied_read_only(conn)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        if "no such table" in str(exc):
            return FileCheck([], empty=True)
        return FileCheck([], error=str(exc))
    return FileCheck(names)


def read_without_writing(target: Path | str, read: Callable[[Conn], T], default: T) -> T:
    """``read`` on the ledger at ``target`` opened without writing it (a SQLite file read-only, a
    PostgreSQL ledger unmigrated); ``default`` when it is absent, unreadable or not migrated that far
    (an older ledger has no such table)."""
    from cost_mcp.errors import DatabaseError
    from cost_mcp.store.connection import connect, is_postgres, target_problem

    if target_problem(target) is not None:
        return default
    if is_postgres(target):
        try:
            pg = connect(target, migrate_schema=False)
        except DatabaseError:
            return default
        try:
            return read(pg)
        except sqlite3.DatabaseError:  # PostgreSQL errors are mapped to sqlite3's classes
            return default
        finally:
            pg.close()
    path = Path(target)
    if not path.is_file():
        return default
    try:
        conn = _read_only(path)
        try:
            return read(conn)
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return default


def price_data(target: Path | str) -> list[meta.PriceDataUse]:
    """The price data versions recorded in the ledger (see store.meta), read without writing it."""
    return read_without_writing(target, meta.price_data_history, [])


def price_data_in_force(target: Path | str) -> list[meta.PriceDataUse]:
    """The price data whose prices stored calls may still carry (:func:`meta.price_data_in_force`),
    read without writing the ledger."""
    return read_without_writing(target, meta.price_data_in_force, [])


def skipped_files(target: Path | str) -> list[tuple[str, str, dict[str, int]]]:
    """The files whose lines were skipped (path, whose log, counts per reason), read without
    writing the ledger."""
    return read_without_writing(target, skipped.by_file, [])


def read_errors(target: Path | str) -> dict[str, str]:
    """Each source's last read or sync error (only those that failed), read without writing."""
    return read_without_writing(
        target, lambda c: {s.source: s.last_error for s in source_state.all_states(c) if s.last_error}, {}
    )


def failed_syncs(target: Path | str) -> list[source_state.SourceState]:
    """Every source whose last read or sync failed, with when it last worked, read without writing."""
    return read_without_writing(target, lambda c: [s for s in source_state.all_states(c) if s.last_error], [])


def reprice_all_unfinished(target: Path | str) -> str | None:
    """When the unfinished ``reprice --all`` started (:func:`meta.reprice_all_unfinished`), read
    without writing; None when none is, or it cannot tell."""
    found: str | None = read_without_writing(target, meta.reprice_all_unfinished, None)
    return found


def push_state(target: Path | str, server: str) -> tuple[team.PushMark, Counter[str]] | None:
    """Where pushes to ``server`` stand and what waits to be sent, by source, read without writing
    the ledger; None when it cannot tell (absent, unreadable, or not migrated)."""
    found: tuple[team.PushMark, Counter[str]] | None = read_without_writing(
        target, lambda c: (team.push_mark(c, server), team.pending_by_source(c, server)), None
    )
    return found


def push_refused(target: Path | str) -> team.PushRefusal | None:
    """The team server's refusal of this ledger's pushes (:func:`team.push_refused`), read without
    writing; None when none is kept, or it cannot tell."""
    found: team.PushRefusal | None = read_without_writing(target, team.push_refused, None)
    return found


def forget_backlog(target: Path | str, server: str) -> reported.ForgetBacklog | None:
    """The forgets and unforgets made here that ``server`` has not acknowledged, read without
    writing the ledger; None when it cannot tell (absent, unreadable, or from before m033)."""
    return read_without_writing(
        target, lambda c: reported.forget_backlog(c, team.push_mark(c, server).forget_seq), None
    )


def received_pushes(target: Path | str) -> list[team.PushSender] | None:
    """On a team server's ledger, each token that has pushed and when it last did, read without
    writing; empty for a laptop's ledger; None when it cannot tell (absent, unreadable, or not
    migrated that far: a ledger this release has not upgraded yet)."""
    found: list[team.PushSender] | None = read_without_writing(target, team.push_senders, None)
    return found


def tokens(target: Path | str) -> list[team.TokenInfo]:
    """Every token of a team server's ledger (revoked ones too), read without writing; empty for a
    laptop's ledger (or one not migrated that far)."""
    return read_without_writing(target, team.list_tokens, [])


def otel_senders(target: Path | str, since_ms: int, until_ms: int | None = None) -> list[otel.Sender]:
    """Whose OTLP calls arrived since ``since_ms`` (and, with ``until_ms``, none from then on: see
    store.otel.senders), read without writing the ledger; by the calls' times on a ledger from before
    m041, which kept no arrivals (doctor reads a ledger as it is, not upgraded)."""

    def read(conn: Conn) -> list[otel.Sender]:
        if "m041_otlp_senders" in applied_read_only(conn):
            return otel.senders(conn, since_ms, until_ms)
        return otel.senders_by_call_time(conn, since_ms, until_ms)

    return read_without_writing(target, read, [])
