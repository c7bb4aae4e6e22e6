"""Looking at a ledger file without changing it: for `cost-mcp doctor`."""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from cost_mcp.store import meta, skipped, team
from cost_mcp.store.migrations import applied_read_only


@dataclass(frozen=True)
class FileCheck:
    """What a read-only look at a ledger file found: the migrations applied, or why it cannot be read
    (``empty``: a database with no schema yet)."""

    migrations: list[str]
    error: str | None = None
    empty: bool = False


def check_file(path: Path) -> FileCheck:
    """Open ``path`` read-only, check its pages (SQLite's quick_check) and list its migrations."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            conn.execute("PRAGMA quick_check").fetchone()
            names = applied_read_only(conn)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        if "no such table" in str(exc):
            return FileCheck([], empty=True)
        return FileCheck([], error=str(exc))
    return FileCheck(names)


def price_data_in_file(path: Path) -> list[meta.PriceDataUse]:
    """The price data versions recorded in ``path`` (see store.meta), read without writing it."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return meta.price_data_history(conn)
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return []


def skipped_in_file(path: Path) -> list[tuple[str, dict[str, int]]]:
    """The files whose lines were skipped, per reason, read from ``path`` without writing it (an
    older or unreadable ledger has none)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return skipped.by_file(conn)
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return []


def push_state_in_file(path: Path, server: str) -> tuple[team.PushMark, Counter[str]] | None:
    """Where pushes to ``server`` stand and what waits to be sent, by source, read from ``path``
    without writing it; None when the ledger cannot tell (absent, unreadable, or not migrated)."""
    if not path.is_file():
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return team.push_mark(conn, server), team.pending_by_source(conn, server)
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return None
