"""The token kinds are defined once (cost_mcp/tokens.py): every kind has its columns and its field."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest

from cost_mcp import tokens
from cost_mcp.analytics.usage import token_totals
from cost_mcp.models import TokenTotals
from cost_mcp.pricing import Tokens
from cost_mcp.store import connect
from cost_mcp.store.usage import TOKEN_SUMS_SQL

TABLES = ("usage_events", "usage_rollup", "provider_buckets")


@pytest.mark.parametrize("table", TABLES)
def test_every_kind_has_a_column_in_the_migrated_ledger(tmp_path: Path, table: str) -> None:
    conn = connect(tmp_path / "cost.db")
    try:
        for kind in tokens.KINDS:
            try:
                conn.execute(f"SELECT {kind.column} FROM {table} LIMIT 0")
            except sqlite3.OperationalError as exc:
                pytest.fail(f"token kind {kind.column!r} has no column in {table}: add a migration ({exc})")
    finally:
        conn.close()


def test_every_kind_is_a_field_of_the_results_and_nothing_else_is() -> None:
    fields = set(TokenTotals.model_fields) - {"total_tokens"}
    assert fields == {k.field for k in tokens.KINDS}


def test_every_kind_is_counted_for_a_priced_call() -> None:
    counts = tuple(range(1, len(tokens.KINDS) + 1))
    call = Tokens(**{k.call_field: n for k, n in zip(tokens.KINDS, counts, strict=True)})
    assert tokens.of_call(call) == counts
    assert tokens.token_count(counts) == call.total  # what the ledger's total_tokens stores
    assert {f.name for f in dataclasses.fields(Tokens)} == {k.call_field for k in tokens.KINDS}


def test_sums_and_totals_follow_the_one_order() -> None:
    assert TOKEN_SUMS_SQL.count("SUM(") == len(tokens.KINDS)
    counts = [10**i for i in range(len(tokens.KINDS))]  # a distinct power of ten per kind
    totals = token_totals(counts)
    for kind, n in zip(tokens.KINDS, counts, strict=True):
        assert getattr(totals, kind.field) == n
    assert totals.total_tokens == sum(n for k, n in zip(tokens.KINDS, counts, strict=True) if k.is_token)
    assert tokens.add(counts, counts) == [2 * n for n in counts]
