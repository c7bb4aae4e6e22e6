"""Fired budget alerts, handed out once: each rides in exactly one query result."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from cost_mcp.store.connection import write_transaction


def take_alerts(conn: sqlite3.Connection) -> list[str]:
    """Alerts not shown yet, marked shown in the same transaction, so that across every process
    sharing the ledger each one is shown exactly once."""
    # Most answers have no alert pending: a plain read avoids taking the write lock for nothing,
    # which would make every query wait behind another process's ingest.
    if conn.execute("SELECT 1 FROM budget_alerts WHERE shown_at IS NULL LIMIT 1").fetchone() is None:
        return []
    with write_transaction(conn):
        rows = conn.execute(
            "UPDATE budget_alerts SET shown_at = ? WHERE shown_at IS NULL RETURNING message, fired_at",
            (datetime.now(UTC).isoformat(),),
        ).fetchall()
    return [str(message) for message, _ in sorted(rows, key=lambda r: str(r[1]))]
