"""Saved price plans (``price_plans``, migration m018): the SQL that keeps and reads them.

What they are is :class:`cost_mcp.pricing.SavedPlan`'s business; this module only stores them.
"""

from __future__ import annotations

from collections.abc import Iterable

from cost_mcp.pricing import SavedPlan
from cost_mcp.store.connection import Conn

MAX_PLANS = 10_000
"""The most plans read for one data key: far more than the models anyone uses (a few per model),
so a ledger filled with junk lookups cannot make every status line slow."""


def load(conn: Conn, data_key: str) -> list[SavedPlan]:
    """Every plan saved under ``data_key`` (a handful: one per model, lookup and price period)."""
    return [
        SavedPlan(str(m), str(p), str(v), int(f), int(e), str(plan))
        for m, p, v, f, e, plan in conn.execute(
            "SELECT model, provider, variant, first_day, end_day, plan FROM price_plans "
            "WHERE data_key = ? LIMIT ?",
            (data_key, MAX_PLANS),
        )
    ]


def save(conn: Conn, data_key: str, plans: Iterable[SavedPlan]) -> int:
    """Keep ``plans`` under ``data_key`` (one already kept stays); returns how many were added.

    Runs inside the caller's transaction.
    """
    added = 0
    for s in plans:
        added += conn.execute(
            "INSERT INTO price_plans (data_key, model, provider, variant, first_day, end_day, plan) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (data_key, s.model, s.provider, s.variant, s.first_day, s.end_day, s.plan),
        ).rowcount
    return added
