"""The webhook delivery queue: fired budget alerts that still have to be POSTed somewhere.

A row of ``budget_alerts`` with a ``destination`` is a delivery: ``pending`` (due at
``next_attempt_ms``), ``delivered``, or ``failed`` (given up; ``delivery_error`` says why).
"""

from __future__ import annotations

from dataclasses import dataclass

from cost_mcp.output import counted
from cost_mcp.store.connection import Conn, write_transaction


@dataclass(frozen=True)
class Delivery:
    """One claimed attempt: which alert, where to, what to send, and the how-manieth attempt."""

    budget: str
    period_start_ms: int
    threshold: str
    fired_at: str
    """Which firing of the threshold: one re-armed and fired again is another delivery."""
    destination: str
    payload: str
    attempts: int


def claim_due(conn: Conn, now_ms: int, *, lease_ms: int) -> list[Delivery]:
    """Pending deliveries due at ``now_ms``, each moved ``lease_ms`` into the future and counted as
    an attempt in one transaction, so another process does not make the same attempt meanwhile."""
    # A plain read first: most refreshes have nothing to deliver and must not take the write lock.
    due = "delivery = 'pending' AND (next_attempt_ms IS NULL OR next_attempt_ms <= ?)"
    if conn.execute(f"SELECT 1 FROM budget_alerts WHERE {due} LIMIT 1", (now_ms,)).fetchone() is None:
        return []
    with write_transaction(conn):
        rows = conn.execute(
            f"""
            UPDATE budget_alerts SET attempts = attempts + 1, next_attempt_ms = ?
            WHERE {due}
            RETURNING budget, period_start_ms, threshold, fired_at, destination, payload, attempts
            """,
            (now_ms + lease_ms, now_ms),
        ).fetchall()
    return [
        Delivery(str(b), int(p), str(t), str(at), str(d), str(body), int(n))
        for b, p, t, at, d, body, n in rows
    ]


# The firing too, not only the threshold's key: an attempt still in flight when its alert was
# re-armed (store.alerts.rearm) and fired again must not mark the new alert delivered unsent.
_WHERE = "WHERE budget = ? AND period_start_ms = ? AND threshold = ? AND fired_at = ?"


def _key(d: Delivery) -> tuple[str, int, str, str]:
    return (d.budget, d.period_start_ms, d.threshold, d.fired_at)


def mark_delivered(conn: Conn, d: Delivery) -> None:
    """The receiver accepted it."""
    with write_transaction(conn):
        conn.execute(
            "UPDATE budget_alerts SET delivery = 'delivered', next_attempt_ms = NULL, delivery_error = NULL "
            + _WHERE,
            _key(d),
        )


def mark_failed(conn: Conn, d: Delivery, error: str, next_attempt_ms: int | None) -> None:
    """An attempt failed: retry at ``next_attempt_ms``, or give up when it is None."""
    with write_transaction(conn):
        conn.execute(
            "UPDATE budget_alerts SET delivery = ?, next_attempt_ms = ?, delivery_error = ? " + _WHERE,
            ("pending" if next_attempt_ms is not None else "failed", next_attempt_ms, error[:500], *_key(d)),
        )


def seconds_to_next(conn: Conn, now_ms: int) -> float | None:
    """Seconds until the next pending delivery is due (0 if one is due now), None if none is pending."""
    row = conn.execute(
        "SELECT MIN(COALESCE(next_attempt_ms, 0)) FROM budget_alerts WHERE delivery = 'pending'"
    ).fetchone()
    if row is None or row[0] is None:
        return None
    return max(int(row[0]) - now_ms, 0) / 1000


def any_due(conn: Conn, now_ms: int) -> bool:
    """Whether a pending delivery is due now (a plain read)."""
    row = conn.execute(
        "SELECT 1 FROM budget_alerts WHERE delivery = 'pending' "
        "AND (next_attempt_ms IS NULL OR next_attempt_ms <= ?) LIMIT 1",
        (now_ms,),
    ).fetchone()
    return row is not None


def problems(conn: Conn, budget: str | None = None) -> list[str]:
    """One line per alert whose delivery failed at least once and is not delivered yet."""
    rows = conn.execute(
        """
        SELECT budget, threshold, delivery, attempts, delivery_error FROM budget_alerts
        WHERE delivery IN ('pending', 'failed') AND delivery_error IS NOT NULL
          AND (? IS NULL OR budget = ?)
        ORDER BY budget, period_start_ms, threshold
        """,
        (budget, budget),
    ).fetchall()
    lines = []
    for name, threshold, state, attempts, error in rows:
        what = f"budget '{name}' alert at {float(threshold) * 100:.0f}%"
        tries = counted(attempts, "attempt")
        if state == "failed":
            lines.append(f"{what} was never delivered (gave up after {tries}): {error}")
        else:
            lines.append(f"{what} not delivered yet ({tries}, retrying with backoff): {error}")
    return lines
