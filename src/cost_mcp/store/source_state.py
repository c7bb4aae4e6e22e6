"""Freshness of a data source: when it was last read or synced, and what that brought in."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cost_mcp.store.connection import Conn, is_busy, lock_timeout, write_transaction
from cost_mcp.store.connection import marks as placeholders

NOTE_WAIT_MS = 1
"""How long a note that nothing was read waits for another writer (0 would mean no limit on
PostgreSQL)."""


def record_scan(conn: Conn, source: str, *, error: str | None, detail: str, wait: bool = True) -> None:
    """Remember that a log reader just checked ``source``: results show it beside their freshness.

    Without ``wait`` (the check read nothing), the note is left out when another writer holds the
    ledger at this instant; the next check writes it. Every question refreshes first, so on a team
    server taking pushes each one otherwise queued for the write lock behind them only to write
    this timestamp.
    """
    now = datetime.now(UTC).isoformat()
    try:
        with lock_timeout(conn, None if wait else NOTE_WAIT_MS), write_transaction(conn):
            conn.execute(
                """
                INSERT INTO source_state (source, last_attempt, last_success, last_error, detail)
                VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (source) DO UPDATE SET last_attempt = excluded.last_attempt,
                    last_success = excluded.last_success, last_error = excluded.last_error,
                    detail = excluded.detail
                """,
                (source, now, now, error, detail),
            )
    except sqlite3.OperationalError as exc:
        if wait or not is_busy(exc):
            raise


@dataclass(frozen=True)
class SourceState:
    """What the ledger remembers of a source's last refresh (times are ISO 8601 UTC strings)."""

    source: str
    last_attempt: str | None
    last_success: str | None
    last_error: str | None
    covered_start_ms: int | None
    covered_end_ms: int | None
    detail: str | None


def all_states(conn: Conn) -> list[SourceState]:
    """Every source that has ever been read or synced, by name."""
    rows = conn.execute(
        "SELECT source, last_attempt, last_success, last_error, covered_start_ms, covered_end_ms, detail "
        "FROM source_state ORDER BY source"
    ).fetchall()
    return [
        SourceState(
            str(source),
            attempt,
            success,
            error,
            int(start) if start is not None else None,
            int(end) if end is not None else None,
            detail,
        )
        for source, attempt, success, error, start, end, detail in rows
    ]


def errors_of(conn: Conn, sources: Sequence[str]) -> list[tuple[str, str]]:
    """Each of ``sources`` whose last read or sync failed, with that error, by name."""
    if not sources:
        return []
    marks = placeholders(sources)
    rows = conn.execute(
        f"SELECT source, last_error FROM source_state WHERE last_error IS NOT NULL AND source IN ({marks}) "
        "ORDER BY source",
        tuple(sources),
    ).fetchall()
    return [(str(source), str(error)) for source, error in rows]


def record_failure(conn: Conn, source: str, moment: str, error: str) -> None:
    """A sync of ``source`` failed at ``moment``: only the attempt and the error change."""
    with write_transaction(conn):
        conn.execute(
            """
            INSERT INTO source_state (source, last_attempt, last_error) VALUES (?, ?, ?)
            ON CONFLICT (source) DO UPDATE SET
                last_attempt = excluded.last_attempt, last_error = excluded.last_error
            """,
            (source, moment, error),
        )


def record_success(
    conn: Conn,
    source: str,
    moment: str,
    covered: tuple[int | None, int | None],
    detail: str,
) -> None:
    """A sync of ``source`` succeeded at ``moment`` (call inside the transaction that wrote its data)."""
    conn.execute(
        """
        INSERT INTO source_state (source, last_attempt, last_success, last_error,
                                  covered_start_ms, covered_end_ms, detail)
        VALUES (?, ?, ?, NULL, ?, ?, ?)
        ON CONFLICT (source) DO UPDATE SET
            last_attempt = excluded.last_attempt, last_success = excluded.last_success,
            last_error = NULL, covered_start_ms = excluded.covered_start_ms,
            covered_end_ms = excluded.covered_end_ms, detail = excluded.detail
        """,
        (source, moment, moment, covered[0], covered[1], detail),
    )


READING_SECONDS = 30
"""How long after a first read last said how far it got it still counts as being read: it says so
every few seconds (:func:`note_reading`), so an older note is of a read that was stopped or killed."""


def note_reading(conn: Conn, source: str, detail: str) -> None:
    """Say that ``source``'s logs are being read for the first time and how far (``detail``), for
    the status line and the hook of sessions meanwhile (:func:`log_marks`). A source read whole once
    is left as it is; the note is left out when another writer holds the ledger at this instant."""
    now = datetime.now(UTC).isoformat()
    try:
        with lock_timeout(conn, NOTE_WAIT_MS), write_transaction(conn):
            conn.execute(
                """
                INSERT INTO source_state (source, last_attempt, detail) VALUES (?, ?, ?)
                ON CONFLICT (source) DO UPDATE SET last_attempt = excluded.last_attempt,
                    detail = excluded.detail
                WHERE source_state.last_success IS NULL
                """,
                (source, now, detail),
            )
    except sqlite3.OperationalError as exc:
        if not is_busy(exc):
            raise


@dataclass(frozen=True)
class LogMarks:
    """What the status line and the hook mark about the logs beside their figures."""

    read: bool
    """Whether the first source was ever read whole."""
    unreadable: bool
    """Whether the last read of any source could not open something."""
    unreadable_sources: frozenset[str]
    """Which sources' last read could not open something (a figure of one agent's calls is bounded
    only by its own)."""
    reading: str | None
    """While the first source's first read is under way (noted within :data:`READING_SECONDS`):
    how far it got (:func:`note_reading`)."""


def log_marks(conn: Conn, sources: Sequence[str], now: datetime | None = None) -> LogMarks:
    """What the status line and the hook mark (:class:`LogMarks`), in one indexed query."""
    marks = placeholders(sources)
    rows = conn.execute(
        "SELECT source, last_success, last_error, last_attempt, detail FROM source_state "
        f"WHERE source IN ({marks})",
        tuple(sources),
    ).fetchall()
    first = [row for row in rows if row[0] == sources[0]]
    read = any(success for _, success, _, _, _ in first)
    reading = None
    if first and not read and first[0][3]:
        since = (now or datetime.now(UTC)) - datetime.fromisoformat(str(first[0][3]))
        if since.total_seconds() < READING_SECONDS:
            reading = str(first[0][4])
    failing = frozenset(str(source) for source, _, error, _, _ in rows if error)
    return LogMarks(read, bool(failing), failing, reading)


def others_known(conn: Conn, sources: Sequence[str]) -> bool:
    """Whether any source but ``sources`` (a provider's sync) has a state: only then can a bill be
    missing from a total (never synced, failing, or stale), as the status line asks before it
    weighs that the slow way."""
    marks = placeholders(sources)
    row = conn.execute(
        f"SELECT 1 FROM source_state WHERE source NOT IN ({marks}) LIMIT 1", tuple(sources)
    ).fetchone()
    return row is not None


def last_success(conn: Conn, source: str) -> str | None:
    """When ``source`` was last read or synced successfully (ISO 8601), if ever."""
    row = conn.execute("SELECT last_success FROM source_state WHERE source = ?", (source,)).fetchone()
    return str(row[0]) if row and row[0] else None
