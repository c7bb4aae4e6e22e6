"""The token kinds are defined once (cost_mcp/tokens.py): every kind has its columns and its field."""

from __future__ import annotations

import ast
import dataclasses
import re
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from cost_mcp import pricing, tokens
from cost_mcp.analytics.usage import token_totals
from cost_mcp.models import CostByKind, TokenTotals
from cost_mcp.pricing import Tokens
from cost_mcp.store import connect, otel, rollup, team
from cost_mcp.store.usage import TOKEN_SUMS_SQL

TABLES = ("usage_events", *rollup.TABLES, "provider_buckets")


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
    counts = tuple(10**i for i in range(len(tokens.KINDS)))  # a distinct power of ten per kind
    call = Tokens(**{k.call_field: n for k, n in zip(tokens.KINDS, counts, strict=True)})
    assert tokens.of_call(call) == counts
    assert tokens.token_count(counts) == call.total  # what the ledger's total_tokens stores
    assert tokens.token_total(counts) == call.total
    assert tokens.input_total(counts) == call.total_input
    assert call.total_input == sum(n for k, n in zip(tokens.KINDS, counts, strict=True) if k.is_input)
    # In KINDS order, so a call's counts make one positionally (Tokens(*counts)) on the hot paths.
    assert tuple(f.name for f in dataclasses.fields(Tokens)) == tokens.NAMES
    assert Tokens(*counts) == call


def test_every_kind_has_a_field_in_a_prices_split() -> None:
    assert set(CostByKind.model_fields) == {k.cost_field for k in tokens.KINDS}
    by_kind = pricing.Price("m", "p", "override", False, tuple(range(1, len(tokens.KINDS) + 1))).by_kind
    assert set(by_kind) == set(tokens.NAMES)


def test_every_kind_is_priced_at_a_genai_prices_price() -> None:
    """Each kind names the genai-prices prices it is charged at: its own, then its ancestors in
    genai-prices' decomposition (a unit whose dimensions are a subset of the kind's), each on the
    usage field and per the number of units genai-prices' own unit table gives."""
    from genai_prices.data_units import unit_data

    units = {u["price_key"]: (usage, u) for usage, u in unit_data.items()}
    for kind in tokens.KINDS:
        assert kind.prices, f"{kind.call_field} has no price: name genai-prices' price for it"
        own = units[kind.prices[0]][1]["dimensions"].items()
        for price_key in kind.prices:
            assert price_key in units, f"{kind.call_field}: {price_key} is not a genai-prices price"
            usage, unit = units[price_key]
            assert pricing._usage_key(price_key) == usage
            assert pricing._per(price_key) == unit["per"]
            assert unit["dimensions"].items() <= own, f"{price_key} is not an ancestor of {kind.prices[0]}"
            assert price_key in pricing._FAST_KEYS  # an override file may set it
        assert kind.is_input == (("direction", "input") in own)


def test_each_kind_is_priced_at_its_own_rate() -> None:
    # A price table giving every kind's own price a distinct rate: each kind's share of the price is
    # its count at its rate, whatever its position.
    rates = {k.prices[0]: Decimal(10**i) for i, k in enumerate(tokens.KINDS)}
    compiled = pricing._Rates.from_prices(rates)
    assert compiled is not None
    counts = tuple(range(2, len(tokens.KINDS) + 2))
    picos, _ = compiled.price_counts(counts, tokens.input_total(counts))
    for kind, n, pico in zip(tokens.KINDS, counts, picos, strict=True):
        key = kind.prices[0]
        assert pico == n * rates[key] * pricing.PICO_PER_USD / pricing._per(key), kind.call_field


def test_sums_and_totals_follow_the_one_order() -> None:
    assert TOKEN_SUMS_SQL.count("SUM(") == len(tokens.KINDS)
    counts = [10**i for i in range(len(tokens.KINDS))]  # a distinct power of ten per kind
    totals = token_totals(counts)
    for kind, n in zip(tokens.KINDS, counts, strict=True):
        assert getattr(totals, kind.field) == n
    assert totals.total_tokens == sum(n for k, n in zip(tokens.KINDS, counts, strict=True) if k.is_token)
    assert tokens.add(counts, counts) == [2 * n for n in counts]


# --- every column list in store/ follows KINDS ---------------------------------------------------

STORE = Path(__file__).resolve().parents[1] / "src" / "cost_mcp" / "store"
SCHEMA = {"migrations.py", "pg_schema.py"}
"""Where columns are created: adding a kind is a migration there."""


def _literals(path: Path) -> list[tuple[int, str]]:
    """Every string literal of a module (f-strings by their literal parts), docstrings left out."""
    tree = ast.parse(path.read_text())
    docs = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if id(node) in docs:
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            out.append((node.lineno, node.value))
        elif isinstance(node, ast.JoinedStr):
            text = "".join(str(v.value) for v in node.values if isinstance(v, ast.Constant))
            out.append((node.lineno, text))
    return out


def _token_columns_named(text: str) -> set[str]:
    return {c for c in tokens.COLUMNS if re.search(rf"\b{c}\b", text)}


def test_store_derives_its_token_column_lists_from_kinds() -> None:
    # A literal naming two or more token columns is a hand-written list: adding a kind would
    # need an edit there. They are built from tokens.KINDS (store.usage's fragments) instead.
    hand_written = [
        f"{path.name}:{line}: {sorted(named)}"
        for path in sorted(STORE.glob("*.py"))
        if path.name not in SCHEMA
        for line, text in _literals(path)
        if len(named := _token_columns_named(text)) >= 2
    ]
    assert hand_written == []


def test_rows_read_by_position_hold_the_kinds_in_kinds_order() -> None:
    # The OTel receiver's rows and the pushed rows read back are built positionally (per-row speed),
    # so their token fields must sit together in KINDS order where the derived SQL puts them.
    pushed = [f.name for f in dataclasses.fields(team.PushedRow)]
    first = pushed.index(tokens.COLUMNS[0])
    assert pushed[first - 1] == "agent"
    assert tuple(pushed[first : first + len(tokens.COLUMNS)]) == tokens.COLUMNS
    otel_kinds = [f for f in otel.EventRow._fields if f in tokens.COLUMNS]
    assert otel_kinds == [c for c in tokens.COLUMNS if c in otel_kinds]  # KINDS order, some left out
    first = otel.EventRow._fields.index(otel_kinds[0])
    assert otel.EventRow._fields[first - 1] == "member"
    assert list(otel.EventRow._fields[first : first + len(otel_kinds)]) == otel_kinds


def test_the_derived_lists_follow_a_kind_added_to_kinds(tmp_path: Path) -> None:
    # One edit: a new kind in tokens.KINDS and its column (the migration) is all the store's
    # derived inserts and selects and the pricer's rates need. Run in a fresh interpreter, with
    # tokens.py run again with that one entry added, so every name derived there and in every
    # module imported after it follows.
    script = f"""
import dataclasses, pathlib, sqlite3
from cost_mcp import tokens
source = pathlib.Path(tokens.__file__).read_text()
end = source.index("\\n)\\n", source.index("KINDS: tuple[TokenKind, ...] = ("))
kind = ('\\n    TokenKind("reasoning_tokens", "reasoning_tokens", "reasoning", "reasoning", "reasoning_usd",'
        ' ("output_reasoning_mtok", "output_mtok")),')
exec(compile(source[:end] + kind + source[end:], tokens.__file__, "exec"), tokens.__dict__)
from datetime import UTC, datetime
from cost_mcp import pricing
# Priced at its own rate, which a price override file may name, in the call's counts' last place.
prices = pathlib.Path({str(tmp_path)!r}) / "prices.toml"
prices.write_text('[[price]]\\nmodel = "m"\\ninput_mtok = "1"\\noutput_mtok = "10"\\n'
                  'output_reasoning_mtok = "100"\\n')
plan = pricing.Pricer.from_file(prices).rates("m", None, datetime(2026, 1, 1, tzinfo=UTC))
print(plan.nanos((1_000, 1_000, 0, 0, 0, 0, 1_000)), tokens.token_total((1, 2, 3, 4, 5, 6, 7)))
from cost_mcp.store import connect, write_transaction
from cost_mcp.store import buckets, claude_logs, events, usage, agent_files
from cost_mcp.store import otel, rollup, session_rows, team
def ledger(name):
    conn = connect(str(tmp / name))
    for table in {TABLES!r}:
        conn.execute(f"ALTER TABLE {{table}} ADD COLUMN reasoning_tokens INTEGER NOT NULL DEFAULT 0")
    return conn
tmp = __import__("pathlib").Path({str(tmp_path)!r})
conn = ledger("cost.db")
assert "reasoning_tokens" in claude_logs.COPY_COLUMNS and "reasoning_tokens" in usage.TOKEN_SUMS_SQL
with write_transaction(conn):
    n = agent_files.upsert_events(conn, [("codex", "k1", 1000, "openai", "gpt-5", "s", "p", "codex",
                                          1, 2, 3, 4, 5, 6, 7, 22, None, None, "local-log")])
    # The new kind's field, as a real edit would add it to Bucket:
    Bucket = dataclasses.make_dataclass(
        "Bucket", [("reasoning_tokens", int, 0)], bases=(buckets.Bucket,), frozen=True)
    buckets.replace_range(conn, "openai", "usage", 0, 86_400_000,
                          [Bucket(0, 86_400_000, cost_nanos=1, reasoning_tokens=9)])
assert n == 1
print(conn.execute("SELECT reasoning_tokens FROM usage_events").fetchone()[0],
      conn.execute("SELECT reasoning_tokens FROM provider_buckets").fetchone()[0])
# The rollup's rebuilds at every level, and the session page read from it.
with write_transaction(conn):
    rollup.rebuild(conn, [0])  # the quarter-hour of the event at 1000 ms
print(*(conn.execute(f"SELECT reasoning_tokens FROM {{t}}").fetchone()[0]
        for t in {TABLES[1:-1]!r}))
page = session_rows.session_page(conn, lo_qh=0, hi_qh=1000, mode="calculate", filters=(), rules=(), top=5)
print(page.counted[0].tokens[-1], len(page.counted[0].tokens))
# A push: read back as the laptop sends it, stored on a team server (summed into its rollup there).
fields = [(f.name, f.type) for f in dataclasses.fields(team.PushedRow)]
at = [name for name, _ in fields].index("web_search_requests") + 1
fields.insert(at, ("reasoning_tokens", int))
team.PushedRow = dataclasses.make_dataclass(
    "PushedRow", fields, frozen=True, namespace={{"total_tokens": team.PushedRow.total_tokens}})
pushed = team.new_events(conn, 0, 10)
server = ledger("server.db")
stored = team.store_pushed(
    server, "ann", "laptop", pushed, [team.Priced(1, "gpt-5", "")], lambda c, ids: None)
print(pushed[0].reasoning_tokens, stored.changed,
      server.execute("SELECT reasoning_tokens FROM usage_events").fetchone()[0],
      server.execute("SELECT reasoning_tokens FROM usage_rollup_day").fetchone()[0])
# OTLP events carry no such kind: stored as 0, every other count where it belongs.
row = otel.EventRow("otel", "o1", "", 2000, "openai", "gpt-5", "s2", "codex", "", 1, 2, 3, 4, 5, 15,
                    "", None, None, None, "{{}}")
assert otel.write(conn, [row], []).added == 1
print(*conn.execute(f"SELECT {{usage.TOKEN_COLUMNS_SQL}} FROM usage_events WHERE source = 'otel'").fetchone())
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:-1] == [
        "111000000 22",  # $0.001 + $0.01 + $0.1 in nanos; every kind but web searches is a token
        "7 9",
        "7 7 7 7 7 7",
        "7 7",
        "7 1 7 7",
        "1 2 3 4 5 0 0",
    ]
