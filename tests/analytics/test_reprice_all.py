"""`cost-mcp reprice --all`: calls stored with an older price (before a correction) are priced again
with today's prices; --dry-run says exactly what would change and changes nothing; spend, budgets
and the rollup move by exactly that; reported costs and calls today's prices cannot price are kept.

The ledger is priced "as an older release did" by ingesting real log files (and a record_usage call)
with the long-context corrections taken out of the table, which is what releases before them stored.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cost_mcp import pricing_corrections
from cost_mcp.analytics.budgets import budget_status, set_budget
from cost_mcp.analytics.reprice import reprice_all
from cost_mcp.analytics.spend import get_spend, resolve
from cost_mcp.cli import main
from cost_mcp.config import Settings
from cost_mcp.doctor import diagnose
from cost_mcp.models import BudgetScope
from cost_mcp.money import from_nanos
from cost_mcp.pricing import Price, Pricer, Tokens, Unpriced
from cost_mcp.sources.claude_code import ingest
from cost_mcp.sources.reported import record_call
from cost_mcp.store import connect, events, rollup
from cost_mcp.store.connection import Conn, write_briefly, write_transaction
from tests.sources.claude_logs import encode, session_file, usage
from tests.sources.test_claude_code import assert_rollup_is_rebuilt_from_events, rollup_tables

BEDROCK = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
LONG = {"input": 1_000, "output": 1_000, "cache_read": 250_000}
# Bedrock's regional rates (+10%): above 200k input every token at the long-context rates,
# 1k x $6.60 + 1k x $24.75 + 250k x $0.66; without the correction, at the standard ones,
# 1k x $3.30 + 1k x $16.50 + 250k x $0.33.
CORRECTED = Decimal("0.19635")
UNCORRECTED = Decimal("0.1023")


def _line(ts: str, message_id: str, model: str, tokens: dict[str, int], **outer: object) -> str:
    return encode(
        {
            "type": "assistant",
            "timestamp": ts,
            "sessionId": "s",
            "requestId": "req_" + message_id,
            "message": {"id": message_id, "model": model, "usage": usage(**tokens)},
            **outer,
        }
    )


def _older_release(monkeypatch: pytest.MonkeyPatch) -> None:
    """Price as a release without the long-context corrections did."""
    monkeypatch.setattr(
        pricing_corrections,
        "CORRECTIONS",
        tuple(c for c in pricing_corrections.CORRECTIONS if c.long_context is None),
    )


def _store_old_ledger(
    home: Path, conn: Conn, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> datetime:
    """Calls priced before the correction: two long-context Bedrock calls read from a log (one with
    its own logged cost), one recorded with record_usage, a short one the correction does not
    change, one priced by the override file that is gone since, and one never priced."""
    now = datetime.now(UTC)
    at = now - timedelta(minutes=2)
    ts = at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    path = session_file(home / "claude", "s")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(
            line + "\n"
            for line in (
                _line(ts, "long", BEDROCK, LONG),
                _line(ts, "logged", BEDROCK, LONG, costUSD=0.5),  # its agent's own cost
                _line(ts, "short", BEDROCK, {**LONG, "cache_read": 199_000}),  # 200k in all: not above
                _line(ts, "house", "house-model-1", {"input": 1_000_000, "output": 0}),
                _line(ts, "nobody", "house-model-2", {"input": 1_000_000, "output": 0}),
            )
        ),
        encoding="utf-8",
    )
    settings.prices_file.parent.mkdir(parents=True, exist_ok=True)
    settings.prices_file.write_text('[[price]]\nmodel = "house-model-1"\ninput_mtok = "2"\n')
    with monkeypatch.context() as patch:
        _older_release(patch)
        pricer = Pricer.from_file(settings.prices_file)
        ingest(conn, settings, pricer)
        record_call(
            conn, pricer, provider="aws", model=BEDROCK, tokens=Tokens(input=1_000, output=1_000,
            cache_read=250_000), agent="bot", request_id="rec", timestamp=at, now=now,
        )  # fmt: skip
    settings.prices_file.unlink()  # house-model-1 has no price today
    return now


def _usd(amount: Decimal) -> float:
    """An amount as --json shows it: a JSON number of dollars, exact to the nano-dollar (README's
    "Money in machine output"; it was a string here)."""
    return float(amount.quantize(Decimal("1e-9")))


def _events(conn: Conn) -> dict[str, tuple[Decimal | None, Decimal | None]]:
    return {
        str(m): (
            None if c is None else from_nanos(int(c)),
            None if r is None else from_nanos(int(r)),
        )
        for m, c, r in conn.execute(
            "SELECT message_id, cost_nanos, reported_cost_nanos FROM usage_events WHERE counted = 1"
        )
    }


def test_reprice_all_stores_todays_prices_and_spend_budgets_and_rollup_move_by_exactly_that(
    clock: None,
    home: Path,
    conn: Conn,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    now = _store_old_ledger(home, conn, settings, monkeypatch)
    stored = _events(conn)
    recorded = next(m for m in stored if m not in {"long", "logged", "short", "house", "nobody"})
    assert stored == {
        "long": (UNCORRECTED, None),
        "logged": (UNCORRECTED, Decimal("0.5")),
        recorded: (UNCORRECTED, None),
        "short": (Decimal("0.08547"), None),  # 1k x $3.30 + 1k x $16.50 + 199k x $0.33
        "house": (Decimal(2), None),
        "nobody": (None, None),
    }
    period = resolve(settings, "this_month", None, None, "UTC")
    spend_before = get_spend(conn, settings, period, [], take_alerts=False).total_usd
    # Spend counts the logged call's own $0.50: the two others move it by 2 x $0.09405.
    moved = 2 * (CORRECTED - UNCORRECTED)
    set_budget(conn, "month", spend_before + moved / 2, "month", BudgetScope(), thresholds=[Decimal(1)])
    first = budget_status(conn, settings, "month", now)
    assert first.alerts == [] and first.budgets[0].spent_usd == spend_before
    events_before, rollup_before = _events(conn), rollup_tables(conn)

    assert main(["reprice", "--all", "--dry-run", "--json"]) == 0
    dry = json.loads(capsys.readouterr().out)
    change = {
        "model": BEDROCK,
        "calls": 3,
        "before_usd": _usd(3 * UNCORRECTED),
        "after_usd": _usd(3 * CORRECTED),
    }
    assert dry == {
        "dry_run": True,
        "checked": 5,  # every call stored with a price
        "changed": 3,
        "models": [change],
        "difference_usd": _usd(3 * (CORRECTED - UNCORRECTED)),
        "reported_cost_calls": 1,
        "kept": {"house-model-1": 1},
        "alerts_rearmed": [],  # prices went up: no threshold fell back under
        "warnings": [],
    }
    assert _events(conn) == events_before and rollup_tables(conn) == rollup_before  # nothing written
    assert main(["reprice", "--all", "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert f"{BEDROCK}: 3 call(s), 0.306900000 -> 0.589050000 USD" in text and "nothing was changed" in text

    assert main(["reprice", "--all", "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert done == {**dry, "dry_run": False}
    assert _events(conn) == {
        "long": (CORRECTED, None),
        "logged": (CORRECTED, Decimal("0.5")),  # its own logged cost untouched
        recorded: (CORRECTED, None),
        "short": (Decimal("0.08547"), None),
        "house": (Decimal(2), None),  # no price today: keeps the one it was stored with
        "nobody": (None, None),  # never priced: `cost-mcp reprice` prices those
    }
    assert get_spend(conn, settings, period, [], take_alerts=False).total_usd == spend_before + moved
    status = budget_status(conn, settings, "month", now)
    assert status.budgets[0].spent_usd == spend_before + moved
    assert len(status.alerts) == 1 and "month" in status.alerts[0]  # crossed by the reprice
    assert_rollup_is_rebuilt_from_events(conn)

    # Again: today's prices are stored, nothing changes.
    assert main(["reprice", "--all", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["changed"], again["models"], again["difference_usd"]) == (0, [], 0)


def test_the_ledger_is_read_and_written_a_chunk_at_a_time(
    home: Path, conn: Conn, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _store_old_ledger(home, conn, settings, monkeypatch)
    done = reprice_all(conn, Pricer.from_file(settings.prices_file), settings, chunk=2)
    assert (done.checked, done.changed, done.kept) == (5, 3, {"house-model-1": 1})
    assert done.difference_usd == 3 * (CORRECTED - UNCORRECTED)
    costs = [c for c, _ in _events(conn).values() if c is not None]
    assert sorted(costs) == sorted([CORRECTED] * 3 + [Decimal("0.08547"), Decimal(2)])
    assert_rollup_is_rebuilt_from_events(conn)


def test_a_reprice_stopped_half_way_is_said_in_every_answer_until_one_ends(
    home: Path,
    conn: Conn,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # It commits a chunk at a time: killed after the first chunk (a laptop shut, a server redeployed),
    # the ledger mixed new and old prices, and every answer called its totals complete.
    _store_old_ledger(home, conn, settings, monkeypatch)
    pricer = Pricer.from_file(settings.prices_file)
    chunks = {"read": 0}
    real = events.priced_calls_after

    def stopped_after_one_chunk(c: Conn, after: int, limit: int) -> list[events.PricedCall]:
        chunks["read"] += 1
        if chunks["read"] == 2:
            raise KeyboardInterrupt  # the process ends here: nothing after the first chunk runs
        return real(c, after, limit)

    with monkeypatch.context() as patch:
        patch.setattr(events, "priced_calls_after", stopped_after_one_chunk)
        with pytest.raises(KeyboardInterrupt):
            reprice_all(conn, pricer, settings, chunk=2)
    half = [c for c, _ in _events(conn).values() if c is not None]
    # The first chunk's calls only: some of the three long calls have the new price, some the old.
    assert half.count(CORRECTED) + half.count(UNCORRECTED) == 3 and CORRECTED in half and UNCORRECTED in half
    assert main(["report", "--period", "today", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["complete"] is False
    assert answer["warnings"][0].startswith("PARTIAL: a `cost-mcp reprice --all` started at ")
    assert "If it is not running, run `cost-mcp reprice --all` again" in answer["warnings"][0]
    assert any("`cost-mcp reprice --all` started at" in p for p in diagnose(settings).problems)
    reprice_all(conn, pricer, settings)
    costs = [c for c, _ in _events(conn).values() if c is not None]
    assert sorted(costs) == sorted([CORRECTED] * 3 + [Decimal("0.08547"), Decimal(2)])  # as one whole run
    assert main(["report", "--period", "today", "--json"]) == 0
    after = json.loads(capsys.readouterr().out)
    assert not any("reprice --all" in w for w in after["warnings"])
    assert not any("reprice --all` started" in p for p in diagnose(settings).problems)


def test_doctor_suggests_a_reprice_when_calls_were_priced_with_other_corrections(
    home: Path, conn: Conn, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    advice = "`cost-mcp reprice --all --dry-run`"
    current = pricing_corrections.corrections_digest()
    _store_old_ledger(home, conn, settings, monkeypatch)
    report = diagnose(settings)
    [older] = report.priced_with
    assert older.corrections is not None and older.corrections != current
    assert any(advice in w for w in report.warnings)
    reprice_all(conn, Pricer.from_file(settings.prices_file), settings)
    report = diagnose(settings)
    assert [u.corrections for u in report.priced_with] == [older.corrections, current]
    assert not any(advice in w for w in report.warnings)  # every stored call has today's prices


def test_the_corrections_digest_names_what_the_table_prices(monkeypatch: pytest.MonkeyPatch) -> None:
    digest = pricing_corrections.corrections_digest()
    assert len(digest) == 12 and pricing_corrections.corrections_digest() == digest
    _older_release(monkeypatch)
    assert pricing_corrections.corrections_digest() != digest


def test_other_writers_get_the_lock_while_a_chunk_is_priced_and_a_call_they_change_keeps_its_change(
    home: Path, conn: Conn, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The re-price held the write lock while it read and priced each chunk and took it again the
    # moment it let go: a server's check_budget waited up to 12 s for it on a ledger of 3M calls.
    _store_old_ledger(home, conn, settings, monkeypatch)
    pricer = Pricer.from_file(settings.prices_file)
    smaller = {**LONG, "cache_read": 100_000}  # the call read again, shorter: under 200k, not long context
    smaller_cost = pricer.price(Tokens(**smaller), BEDROCK, None, datetime.now(UTC))
    assert not isinstance(smaller_cost, Unpriced)
    other = connect(settings.db)
    written: list[object] = []
    real = pricer.price

    def reread() -> None:
        with write_transaction(other):  # what another process's re-read of the log stores
            other.execute(
                "UPDATE usage_events SET cache_read_tokens = ?, cost_nanos = ? WHERE message_id = 'long'",
                (smaller["cache_read"], smaller_cost.total_nanos),
            )

    def pricing(*args: Any, **kwargs: Any) -> Price | Unpriced:
        if not written:  # the first chunk is being priced
            written.append(write_briefly(other, reread, lock_ms=200)[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(pricer, "price", pricing)
    try:
        done = reprice_all(conn, pricer, settings, chunk=10)
    finally:
        other.close()
    assert written == [None]  # the write went through: the lock was free
    assert _events(conn)["long"][0] == smaller_cost.total  # its new tokens' price, not the old tokens'
    assert done.changed == 2  # "logged" and the recorded call; "long" was already right
    assert_rollup_is_rebuilt_from_events(conn)


def test_the_rollup_is_rebuilt_a_week_per_transaction_at_the_end(
    home: Path, conn: Conn, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One rebuild of every quarter-hour the re-price marked (33,765 in 7 s on a ledger of 3M calls)
    # held the write lock that long, while a running server's check_budget waited for it.
    now = _store_old_ledger(home, conn, settings, monkeypatch)
    with monkeypatch.context() as patch:
        _older_release(patch)
        record_call(
            conn, Pricer(), provider="aws", model=BEDROCK, tokens=Tokens(input=1_000, output=1_000,
            cache_read=250_000), agent="bot", request_id="month-ago", timestamp=now - timedelta(days=30),
            now=now,
        )  # fmt: skip
    transactions: list[list[int]] = []
    real = rollup.rebuild

    def rebuild(c: Conn, qhs: Iterable[int], *, empty: bool = False) -> None:
        qhs = list(qhs)
        transactions.append(qhs)
        real(c, qhs, empty=empty)

    monkeypatch.setattr(rollup, "rebuild", rebuild)
    done = reprice_all(conn, Pricer.from_file(settings.prices_file), settings)
    assert done.changed == 4
    assert len(transactions) == 2 and all(max(t) - min(t) < rollup.WEEK_QHS for t in transactions)
    assert min(transactions[0]) > max(transactions[1])  # the newest first: this week's budgets
    assert_rollup_is_rebuilt_from_events(conn)
