"""Seat fees registered by hand, as stored: one row per name."""

from __future__ import annotations

from dataclasses import dataclass

from cost_mcp.store.connection import Conn, write_transaction

_COLUMNS = "name, vendor, amount_nanos, period, member, start_date, end_date"


@dataclass(frozen=True)
class SubscriptionRow:
    """A stored subscription (dates ISO ``YYYY-MM-DD``; ``member`` empty when nobody's)."""

    name: str
    vendor: str
    amount_nanos: int
    period: str
    member: str
    start_date: str
    end_date: str | None


def _row(r: tuple[object, ...]) -> SubscriptionRow:
    name, vendor, amount, period, member, start, end = r
    return SubscriptionRow(
        name=str(name),
        vendor=str(vendor),
        amount_nanos=int(str(amount)),
        period=str(period),
        member=str(member or ""),
        start_date=str(start),
        end_date=str(end) if end else None,
    )


def upsert(conn: Conn, row: SubscriptionRow, now_iso: str) -> None:
    """Create or replace the subscription ``row.name`` in one transaction."""
    with write_transaction(conn):
        conn.execute(
            """
            INSERT INTO subscriptions (name, vendor, amount_nanos, period, member, start_date, end_date,
                                       created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (name) DO UPDATE SET vendor = excluded.vendor, amount_nanos = excluded.amount_nanos,
                period = excluded.period, member = excluded.member, start_date = excluded.start_date,
                end_date = excluded.end_date, updated_at = excluded.updated_at
            """,
            (
                row.name,
                row.vendor,
                row.amount_nanos,
                row.period,
                row.member,
                row.start_date,
                row.end_date,
                now_iso,
                now_iso,
            ),
        )


def get(conn: Conn, name: str) -> SubscriptionRow | None:
    """The subscription called ``name``, if any."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM subscriptions WHERE name = ?", (name,)).fetchone()
    return _row(row) if row is not None else None


def names(conn: Conn) -> list[str]:
    """Every subscription's name, sorted."""
    return [str(r[0]) for r in conn.execute("SELECT name FROM subscriptions ORDER BY name")]


def delete(conn: Conn, name: str) -> None:
    """Remove the subscription ``name`` (nothing when there is none)."""
    with write_transaction(conn):
        conn.execute("DELETE FROM subscriptions WHERE name = ?", (name,))


def all_subscriptions(conn: Conn) -> list[SubscriptionRow]:
    """Every subscription, by name."""
    return [_row(r) for r in conn.execute(f"SELECT {_COLUMNS} FROM subscriptions ORDER BY name").fetchall()]
