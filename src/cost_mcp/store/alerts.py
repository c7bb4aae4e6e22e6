"""Fired budget alerts: recorded once per (budget, period, threshold), handed out once.

The primary key decides which process fires an alert (``ON CONFLICT DO NOTHING``, never a read then
a write), and marking alerts shown is one ``UPDATE ... RETURNING``, so across every process sharing
the ledger each alert fires once and rides in exactly one answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cost_mcp.store.connection import (
    Conn,
    data_version,
    marks,
    write_briefly,
    write_transaction,
)


@dataclass(frozen=True)
class NewAlert:
    """A threshold crossed: what to record (``destination`` set when a webhook should get it).

    ``covered``: crossed together with a higher threshold whose alert says so; recorded as fired
    (it does not fire later for the same crossing) but neither shown nor delivered on its own.
    """

    budget: str
    period_start_ms: int
    threshold: str
    fired_at: str
    spent_nanos: int
    message: str
    destination: str | None
    payload: str
    covered: bool = False


def record_crossing(
    conn: Conn,
    budget: str,
    period_keys: Sequence[int],
    thresholds: Sequence[str],
    alerts: Callable[[list[str]], list[NewAlert]],
) -> list[NewAlert]:
    """Record the alerts for those of ``thresholds`` (crossed by ``budget`` in the period whose
    alerts are keyed ``period_keys``, see :func:`fired`) not fired yet, in one transaction; returns
    those this call fired.

    ``alerts`` makes the rows from the thresholds still to fire, read under the ledger's write lock:
    an alert that covers lower thresholds names exactly those it fires with, never one another
    process alerted on meanwhile (its spend figures were read before the lock).
    """
    with write_transaction(conn):
        done = fired(conn, budget, period_keys)
        new = [t for t in thresholds if t not in done]
        return [a for a in (alerts(new) if new else []) if _insert(conn, a)]


def _insert(conn: Conn, a: NewAlert) -> bool:
    # The primary key decides, even under the write lock: it is what "fires once" rests on.
    # A covered alert is shown (in its higher threshold's alert) and has nothing to deliver.
    return bool(
        conn.execute(
            """
            INSERT INTO budget_alerts
                (budget, period_start_ms, threshold, fired_at, spent_nanos, message,
                 destination, payload, delivery, shown_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (budget, period_start_ms, threshold) DO NOTHING
            """,
            (
                a.budget,
                a.period_start_ms,
                a.threshold,
                a.fired_at,
                a.spent_nanos,
                a.message,
                None if a.covered else a.destination,
                a.payload,
                "pending" if a.destination and not a.covered else None,
                a.fired_at if a.covered else None,
            ),
        ).rowcount
    )


def fired(conn: Conn, budget: str, period_keys: Sequence[int]) -> dict[str, str]:
    """The thresholds of ``budget`` fired in one period, each with when it fired (which names that
    firing: a threshold re-armed and fired again fires anew).

    ``period_keys``: the ``period_start_ms`` values its alerts may be recorded under, the key new
    alerts take first (analytics/budgets.py ``alert_keys``)."""
    return {
        str(t): str(at)
        for t, at in conn.execute(
            "SELECT threshold, fired_at FROM budget_alerts "
            f"WHERE budget = ? AND period_start_ms IN ({marks(period_keys)})",
            (budget, *period_keys),
        )
    }


def rearm(conn: Conn, budget: str, period_keys: Sequence[int], firings: dict[str, str]) -> int:
    """Forget the firings (threshold: fired_at, as :func:`fired` read them) of ``budget`` in the
    period keyed ``period_keys`` (spend fell below them), so each fires again when spend crosses it
    anew. An alert not shown or not delivered yet goes with its record.

    Each record goes only if it is still the firing that was read: one another process fired since
    (a real crossing after the fall) stays, or the caller's older verdict would let it fire twice.
    Returns how many were forgotten."""
    if not firings:
        return 0
    gone = 0
    with write_transaction(conn):
        for threshold, fired_at in firings.items():
            gone += conn.execute(
                f"DELETE FROM budget_alerts WHERE budget = ? AND period_start_ms IN ({marks(period_keys)}) "
                "AND threshold = ? AND fired_at = ?",
                (budget, *period_keys, threshold, fired_at),
            ).rowcount
    return gone


def take(conn: Conn) -> list[str]:
    """Alerts not shown yet, oldest first, marked shown in the same transaction.

    Returns nothing on a read-only ledger (they cannot be marked shown, so they wait for an answer
    from a writable one), or when another process holds the write lock for over a second or the
    ledger cannot take the write (a full disk: see ``connection.why_unwritable``): they ride in the
    next answer; an answer is never held up for them.
    """
    if conn.read_only:
        return []
    # Most answers have no alert pending: a plain read avoids taking the write lock for nothing,
    # which would make every query wait behind another process's ingest.
    if conn.execute("SELECT 1 FROM budget_alerts WHERE shown_at IS NULL LIMIT 1").fetchone() is None:
        return []

    def mark_shown() -> list[Any]:
        with write_transaction(conn):
            return conn.execute(
                "UPDATE budget_alerts SET shown_at = ? WHERE shown_at IS NULL RETURNING message, fired_at",
                (datetime.now(UTC).isoformat(),),
            ).fetchall()

    # Whatever keeps the ledger from taking the write (another process's lock, a full disk, a role
    # that may not write), the alerts ride in the next answer that can mark them shown: a full disk
    # stopped the question itself with an error, though its answer needed no write.
    rows, _ = write_briefly(conn, mark_shown)
    return [str(message) for message, _ in sorted(rows or [], key=lambda r: str(r[1]))]


def ledger_version(conn: Conn) -> tuple[int, int]:
    """Changes since this connection opened, and the ledger's version as other processes left it:
    equal values mean nothing was written since (SQLite's ``data_version``)."""
    return conn.total_changes, data_version(conn)
