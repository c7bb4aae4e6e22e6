"""``get_spend(group_by=["session"])`` with a window is grouped and bounded in SQL
(store/session_rows.py, issue 22); without a window (the CLI) it is grouped in Python. Both must
give the same rows: these tests page through a ledger where a billed day turns some sessions into
attribution, one model has no price and two providers mix, and compare every page with the whole."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from cost_mcp.analytics import rows
from cost_mcp.analytics.agents import record_usage
from cost_mcp.analytics.spend import get_spend, resolve
from cost_mcp.config import Settings
from cost_mcp.errors import InvalidInputError
from cost_mcp.models import SpendResult
from cost_mcp.pricing import Pricer, Tokens
from cost_mcp.sources import claude_code
from cost_mcp.store import connect, write_transaction
from cost_mcp.store.buckets import DAY_MS, Bucket, replace_range
from tests.sources.claude_logs import assistant, session_file, write

DAY = datetime(2026, 11, 2, tzinfo=UTC)


@pytest.fixture
def ledger(settings: Settings, home: Path) -> Path | str:
    """60 sessions over three days: anthropic (billed on the middle day), openai, and an unknown model,
    plus two Claude Code sessions read from its logs (covered by a subscription in one test)."""
    for i, day in enumerate((DAY, DAY + timedelta(days=1))):
        stamp = (day + timedelta(hours=11)).isoformat().replace("+00:00", "Z")
        write(session_file(home / "claude", f"cc-{i}"), assistant(f"m{i}", f"q{i}", stamp, session=f"cc-{i}"))
    conn = connect(settings.db)
    try:
        claude_code.ingest(conn, settings, Pricer())
        with conn:
            for i in range(60):
                provider, model = [
                    ("anthropic", "claude-sonnet-4-5"),
                    ("openai", "gpt-4o"),
                    ("anthropic", "claude-haiku-4-5"),
                    ("openai", "no-such-model-xyz"),
                ][i % 4]
                record_usage(
                    conn,
                    settings,
                    Pricer(),
                    provider=provider,
                    model=model,
                    # Every fifth session costs what the one before it costs: ties across pages.
                    tokens=Tokens(input=1_000 * (i - (i % 5 == 4)) + 10, output=50, cache_read=7 * i),
                    agent="a",
                    session=f"s{i:02d}" if i % 11 else "",
                    request_id=f"r{i}",
                    timestamp=DAY + timedelta(days=i % 3, hours=9, minutes=i),
                )
        day_ms = int((DAY + timedelta(days=1)).timestamp()) * 1000
        bucket = Bucket(day_ms, day_ms + DAY_MS, cost_nanos=2_000_000_000, model="claude-sonnet-4-5")
        with write_transaction(conn):
            replace_range(conn, "anthropic", "cost", day_ms, day_ms + DAY_MS, [bucket])
    finally:
        conn.close()
    return settings.db


def _key(r: object) -> tuple[object, ...]:
    d = r.model_dump()  # type: ignore[attr-defined]
    return (d["group"]["session"], d["basis"], d.get("reason"), d["cost_usd"], d["tokens"], d["requests"])


def _check_page(whole: SpendResult, page: SpendResult, window: rows.Window) -> None:
    assert page.total_usd == whole.total_usd
    assert page.warnings == whole.warnings
    for mine, every, total_rows in (
        (page.rows, whole.rows, page.total_rows),
        (page.attribution, whole.attribution, page.attribution_total_rows),
    ):
        assert total_rows == len(every)
        ranked = sorted(every, key=lambda r: -(r.cost_usd or 0))  # stable: ties in the whole's order
        end = window.offset + window.limit
        shown = [r for r in mine if r.group["session"] != rows.OTHER]
        assert sorted(map(_key, shown), key=str) == sorted(map(_key, ranked[window.offset : end]), key=str)
        other = [r for r in mine if r.group["session"] == rows.OTHER]
        rest = ranked[: window.offset] + ranked[end:]
        assert sum((r.cost_usd or Decimal(0) for r in other), Decimal(0)) == sum(
            (r.cost_usd or Decimal(0) for r in rest), Decimal(0)
        )
        assert sum(r.cost_usd or Decimal(0) for r in mine) == sum(r.cost_usd or Decimal(0) for r in every)


@pytest.mark.parametrize("billing", ["api", "subscription"])
def test_every_page_of_sessions_is_the_whole_breakdown_cut(
    ledger: Path, settings: Settings, billing: str
) -> None:
    settings = settings.model_copy(update={"claude_code_billing": billing})
    conn = connect(ledger)
    try:
        p = resolve(settings, None, "2026-11-01", "2026-11-05", None)
        whole = get_spend(conn, settings, p, ["session"], take_alerts=False)
        assert whole.attribution and any(r.basis == "billed" for r in whole.rows)
        assert any("no-such-model-xyz" in w for w in whole.warnings)
        reasons = {a.reason for a in whole.attribution}
        assert any("subscription" in r for r in reasons) == (billing == "subscription")
        for window in (
            rows.Window(),
            rows.Window(4, 0),
            rows.Window(4, 4),
            rows.Window(7, 35),
            rows.Window(3, len(whole.rows) - 2),
        ):
            _check_page(
                whole, get_spend(conn, settings, p, ["session"], take_alerts=False, window=window), window
            )
        # Past the last row (of rows and attribution both) is refused, where it gave "(other)" alone.
        with pytest.raises(InvalidInputError, match="past the last row"):
            get_spend(conn, settings, p, ["session"], take_alerts=False, window=rows.Window(3, 80))
        # Following the cursors shows every session exactly once, tied ones included.
        seen: list[str | None] = []
        cursor: str | None = None
        while True:
            page = get_spend(
                conn, settings, p, ["session"], take_alerts=False, window=rows.Window.of(6, cursor)
            )
            seen += [r.group["session"] for r in page.rows if r.group["session"] != rows.OTHER]
            if not (cursor := page.next_cursor):
                break
        assert sorted(seen, key=str) == sorted((r.group["session"] for r in whole.rows), key=str)
    finally:
        conn.close()


@pytest.mark.parametrize("group_by", [["session"], ["model", "day"], ["provider"], ["agent"]])
def test_rows_built_without_validation_are_the_rows_validation_builds(
    ledger: Path, settings: Settings, group_by: list[str]
) -> None:
    # Result rows skip pydantic's validation (models.trusted): each must be what validating its
    # own fields gives, down to the JSON (an int where a Decimal was, or a shared dict, would show).
    conn = connect(ledger)
    try:
        p = resolve(settings, None, "2026-11-01", "2026-11-05", "Europe/Paris")
        # The second row, the first in "(other)": a page past the last row is refused.
        for window in (None, rows.Window(1, 1)):
            result = get_spend(conn, settings, p, group_by, take_alerts=False, window=window)
            assert result.rows and (result.attribution or group_by != ["session"])
            assert window is None or result.truncated
            for row in [*result.rows, *result.attribution]:
                again = type(row).model_validate(row.model_dump())
                assert again == row
                assert again.model_fields_set == row.model_fields_set
                assert again.model_dump_json() == row.model_dump_json()
                assert row.tokens is None or again.tokens == row.tokens
            whole = SpendResult.model_validate(result.model_dump())
            assert whole.model_dump_json() == result.model_dump_json()
            groups = [row.group for row in [*result.rows, *result.attribution]]
            assert len({id(g) for g in groups}) == len(groups)
    finally:
        conn.close()
