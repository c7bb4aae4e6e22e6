"""Budgets as stored: one row per name, scope and thresholds as JSON text."""

from __future__ import annotations

from dataclasses import dataclass

from cost_mcp.store.connection import Conn, write_transaction

_COLUMNS = "name, amount_nanos, period, scope, thresholds, hard, webhook"


@dataclass(frozen=True)
class BudgetRow:
    """A stored budget, before its JSON is parsed (analytics/budgets.py turns it into a Budget)."""

    name: str
    amount_nanos: int
    period: str
    scope_json: str
    thresholds_json: str
    hard: bool
    webhook: str | None
    """The name of a webhook configured in COST_MCP_WEBHOOKS: never a URL, whose path may be its
    secret (m044 moved the URLs stored before out of the ledger)."""


def _row(r: tuple[object, ...]) -> BudgetRow:
    name, amount, period, scope, thresholds, hard, webhook = r
    return BudgetRow(
        name=str(name),
        amount_nanos=int(str(amount)),
        period=str(period),
        scope_json=str(scope),
        thresholds_json=str(thresholds),
        hard=bool(hard),
        webhook=str(webhook) if webhook else None,
    )


def upsert(conn: Conn, row: BudgetRow, now_iso: str) -> None:
    """Create or replace the budget ``row.name`` in one transaction (fired alerts are kept)."""
    with write_transaction(conn):
        conn.execute(
            """
            INSERT INTO budgets (name, amount_nanos, period, scope, thresholds, hard,
                                 created_at, updated_at, webhook)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (name) DO UPDATE SET amount_nanos = excluded.amount_nanos,
                period = excluded.period, scope = excluded.scope, thresholds = excluded.thresholds,
                hard = excluded.hard, updated_at = excluded.updated_at,
                webhook = excluded.webhook
            """,
            (
                row.name,
                row.amount_nanos,
                row.period,
                row.scope_json,
                row.thresholds_json,
                int(row.hard),
                now_iso,
                now_iso,
                row.webhook,
            ),
        )


def delete(conn: Conn, name: str) -> bool:
    """Remove a budget and its alert history in one transaction; False when there was none."""
    with write_transaction(conn):
        deleted = conn.execute("DELETE FROM budgets WHERE name = ?", (name,)).rowcount
        conn.execute("DELETE FROM budget_alerts WHERE budget = ?", (name,))
    return bool(deleted)


def names(conn: Conn) -> list[str]:
    """Every budget's name, sorted."""
    return [str(r[0]) for r in conn.execute("SELECT name FROM budgets ORDER BY name")]


def get(conn: Conn, name: str) -> BudgetRow | None:
    """The budget called ``name``, if any."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM budgets WHERE name = ?", (name,)).fetchone()
    return _row(row) if row is not None else None


def all_budgets(conn: Conn) -> list[BudgetRow]:
    """Every budget, by name."""
    return [_row(r) for r in conn.execute(f"SELECT {_COLUMNS} FROM budgets ORDER BY name").fetchall()]


def changed_at(conn: Conn) -> dict[str, str]:
    """When each budget was last set (created or changed), as ISO text, by name."""
    return {str(n): str(at) for n, at in conn.execute("SELECT name, updated_at FROM budgets").fetchall()}
