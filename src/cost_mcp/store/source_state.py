"""Freshness of a data source: when it was last read or synced, and what that brought in."""

from __future__ import annotations

from datetime import UTC, datetime

from cost_mcp.store.connection import Conn, write_transaction


def record_scan(conn: Conn, source: str, *, error: str | None, detail: str) -> None:
    """Remember that a log reader just checked ``source``: results show it beside their freshness."""
    now = datetime.now(UTC).isoformat()
    with write_transaction(conn):
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
