"""Fired budget alerts, handed out once: each rides in exactly one query result."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from cost_mcp.store.connection import REFRESH_LOCK_TIMEOUT_MS, Conn, is_busy, lock_timeout, write_transaction


def take_alerts(conn: Conn) -> list[str]:
    """Alerts not shown yet, marked shown in the same transaction, so that across every process
    sharing the ledger each one is shown exactly once."""
    if getattr(conn, "read_only", False):
        return []  # cannot mark them shown: they ride in an answer once the ledger is writable
    # Most answers have no alert pending: a plain read avoids taking the write lock for nothing,
    # which would make every query wait behind another process's ingest.
    if conn.execute("SELECT 1 FROM budget_alerts WHERE shown_at IS NULL LIMIT 1").fetchone() is None:
        return []
    try:
        # Another process writing must not hold an answer up: its alerts ride in the next one.
        with lock_timeout(conn, REFRESH_LOCK_TIMEOUT_MS), write_transaction(conn):
            rows = conn.execute(
                "UPDATE budget_alerts SET shown_at = ? WHERE shown_at IS NULL RETURNING message, fired_at",
                (datetime.now(UTC).isoformat(),),
            ).fetchall()
    except sqlite3.OperationalError as exc:
        if is_busy(exc):
            return []
        raise
    return [str(message) for message, _ in sorted(rows, key=lambda r: str(r[1]))]
