"""Every answer rebuilds the rollup only from the first quarter-hour it reads (or, for a command
that removes calls, the first it changed) on.

``reprice --all`` marks quarter-hours over a ledger's whole history a chunk at a time. An answer
that rebuilt them all, under the write lock, rebuilt years of quarter-hours it does not read,
while every other writer waited.
Those marks stay for the question that reads them; the answer is exact for its own period.
A log read (which a server runs before answering) rebuilds only from the first call it added,
changed or removed on, and nothing when it wrote none.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from cost_mcp.analytics import agents, budgets, export, hourly, reported, reprice, spend
from cost_mcp.analytics.budget_glance import glance
from cost_mcp.config import Settings
from cost_mcp.models import BudgetScope
from cost_mcp.money import from_nanos
from cost_mcp.pricing import Pricer
from cost_mcp.sources import agents as agent_logs
from cost_mcp.sources import claude_code
from cost_mcp.sources.agents import codex
from cost_mcp.statusline import StatusInput, render
from cost_mcp.store import rollup
from cost_mcp.store.connection import Conn, write_transaction
from cost_mcp.store.reported import Selection
from tests.analytics.repriced import CALL, SONNET
from tests.analytics.repriced import marked as _marked
from tests.analytics.repriced import repriced_ledger as _repriced_ledger
from tests.sources.claude_logs import assistant, session_file, user, write

REPRICED = Decimal("0.1")  # what repriced_ledger re-prices CALL to


def _budget_status(conn: Conn, settings: Settings) -> Decimal:
    budgets.set_budget(conn, "daily", Decimal(5), "day", BudgetScope())
    return budgets.budget_status(conn, settings, take_alerts=False).budgets[0].spent_usd


def _glance(conn: Conn, settings: Settings) -> Decimal:
    budgets.set_budget(conn, "daily", Decimal(5), "day", BudgetScope())
    glanced = glance(conn, settings, datetime.now(UTC))
    assert glanced is not None
    return glanced[0].spent


def _by_hour(conn: Conn, settings: Settings) -> Decimal:
    return hourly.cost_by_hour(conn, settings, spend.resolve(settings, "today", None, None, "UTC")).total_usd


def _export(conn: Conn, settings: Settings) -> Decimal:
    rows = export.export_records(conn, settings, spend.resolve(settings, "today", None, None, "UTC"))
    return sum((Decimal(str(r["cost_usd"])) for r in rows if r["kind"] == "event"), Decimal(0))


def _status_line(conn: Conn, settings: Settings) -> Decimal:
    line = render(conn, settings, StatusInput("", "", "", {}), fields=["today"], colour=False)
    return Decimal(line.split(" today")[0].lstrip("≥$"))


ANSWERS: dict[str, Callable[[Conn, Settings], Decimal]] = {
    "budget_status": _budget_status,
    "budget glance": _glance,
    "cost_by_hour": _by_hour,
    "export": _export,
    "status line": _status_line,
}


@pytest.mark.usefixtures("clock")
@pytest.mark.parametrize("answer", ANSWERS)
def test_an_answer_leaves_marks_before_its_period_and_is_exact_for_it(
    conn: Conn, settings: Settings, answer: str
) -> None:
    old_qh = _repriced_ledger(conn, settings)
    assert ANSWERS[answer](conn, settings) == REPRICED  # today's call at its new price
    assert _marked(conn) == [old_qh]  # 300 days ago: left for the question that reads it
    whole = spend.resolve(
        settings, None, (datetime.now(UTC) - timedelta(days=400)).date().isoformat(), None, "UTC"
    )
    assert spend.get_spend(conn, settings, whole, [], take_alerts=False).total_usd == 2 * REPRICED
    assert _marked(conn) == []


@pytest.mark.usefixtures("clock")
def test_forgetting_a_reported_call_rebuilds_from_its_quarter_hour_on(conn: Conn, settings: Settings) -> None:
    old_qh = _repriced_ledger(conn, settings)
    today = int(datetime.now(UTC).replace(hour=0, minute=0).timestamp() * 1000)
    result = reported.forget(conn, settings, Selection(start_ms=today))
    assert len(result.forgotten) == 1
    assert _marked(conn) == [old_qh]  # today's quarter-hour rebuilt; the re-price's old mark left
    day = rollup.sums_by_quarter_hour(
        conn, today // rollup.QUARTER_HOUR_MS, today // rollup.QUARTER_HOUR_MS + 96, settings.cost_mode
    )
    assert day == []  # the forgotten call is out of the rollup


@pytest.mark.usefixtures("clock")
def test_pricing_the_unpriced_calls_rebuilds_from_the_first_it_priced_on(
    conn: Conn, settings: Settings
) -> None:
    # An edit of the price file prices today's call of a new model (every refresh follows the
    # file): the rollup was rebuilt over every marked quarter-hour, years of a running re-price's.
    old_qh = _repriced_ledger(conn, settings)
    agents.record_usage(
        conn, settings, Pricer(), provider="acme", model="house-model-1", tokens=CALL, agent="w",
        request_id="new-model", take_alerts=False,
    )  # fmt: skip
    settings.prices_file.parent.mkdir(parents=True, exist_ok=True)
    settings.prices_file.write_text(
        '[[price]]\nmodel = "house-model-1"\ninput_mtok = "1"\noutput_mtok = "0"\n'
    )
    assert reprice.reprice_unpriced(conn, Pricer.from_file(settings.prices_file)).priced == 1
    assert _marked(conn) == [old_qh]  # today's quarter-hour rebuilt; the re-price's old mark left
    today = spend.resolve(settings, "today", None, None, "UTC")
    assert spend.get_spend(conn, settings, today, [], take_alerts=False).total_usd == REPRICED + REPRICED


def _counting_refreshes(monkeypatch: pytest.MonkeyPatch) -> list[int | None]:
    """The ``since_ms`` of every rollup refresh from here on (each still runs)."""
    calls: list[int | None] = []
    real = rollup.refresh

    def counted(conn: Conn, since_ms: int | None = None) -> int:
        calls.append(since_ms)
        return real(conn, since_ms)

    monkeypatch.setattr(rollup, "refresh", counted)
    return calls


@pytest.mark.usefixtures("clock")
def test_a_budget_check_refreshes_the_rollup_once(
    conn: Conn, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # It refreshed before reading its budgets' spend and again for its warning that calls are left
    # out: the second rebuilt, under the write lock again, what a re-price marked in between.
    _repriced_ledger(conn, settings)
    budgets.set_budget(conn, "daily", Decimal(5), "day", BudgetScope())
    refreshes = _counting_refreshes(monkeypatch)
    checked = budgets.check_budget(conn, settings, Decimal("0.01"))
    assert checked.budgets[0].remaining_before_usd == Decimal(5) - REPRICED
    assert len(refreshes) == 1
    status = budgets.budget_status(conn, settings, take_alerts=False)
    assert status.budgets[0].spent_usd == REPRICED
    assert len(refreshes) == 2


@pytest.mark.usefixtures("clock")
def test_record_usage_refreshes_the_rollup_only_from_its_call_and_its_budgets_periods(
    conn: Conn, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Storing the call refreshed every marked quarter-hour (years of a re-price's), then the
    # budgets' answer refreshed again from their periods on. Only the budgets' answer refreshes now,
    # from their periods on (storing the call marks its quarter-hour for the answers that read it).
    old_qh = _repriced_ledger(conn, settings)
    budgets.set_budget(conn, "daily", Decimal(5), "day", BudgetScope())
    refreshes = _counting_refreshes(monkeypatch)
    recorded = agents.record_usage(
        conn,
        settings,
        Pricer(),
        provider="anthropic",
        model=SONNET,
        tokens=CALL,
        agent="w",
        take_alerts=False,
    )
    assert recorded.budgets[0].remaining_after_usd == Decimal(5) - REPRICED - Decimal("0.315")
    assert refreshes and None not in refreshes
    assert _marked(conn) == [old_qh]


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _claude_code_read(home: Path, conn: Conn, settings: Settings, at: datetime) -> None:
    """Claude Code logs a call at ``at`` and the ledger reads it."""
    write(session_file(home / "claude", f"s-{at:%Y%m%d}"), assistant(f"m-{at:%Y%m%d}", "r", _stamp(at)))
    claude_code.ingest(conn, settings, Pricer())


def _codex_read(home: Path, conn: Conn, settings: Settings, at: datetime) -> None:
    """Codex logs a call at ``at`` in a rollout and the ledger reads it (the agents' scanner)."""
    sid = f"sess-{at:%Y%m%d}"
    used = {
        "input_tokens": 1000,
        "cached_input_tokens": 0,
        "output_tokens": 100,
        "reasoning_output_tokens": 0,
    }
    lines = [
        ("session_meta", {"id": sid, "cwd": "/w"}),
        ("turn_context", {"model": "gpt-5"}),
        ("event_msg", {"type": "token_count", "info": {"total_token_usage": used, "last_token_usage": used}}),
    ]
    folder = home / "codex" / "sessions" / f"{at:%Y/%m/%d}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"rollout-{sid}.jsonl").write_text(
        "".join(json.dumps({"timestamp": _stamp(at), "type": t, "payload": p}) + "\n" for t, p in lines)
    )
    agent_logs.scan(conn, codex.LOG, settings, Pricer())


READS: dict[str, Callable[[Path, Conn, Settings, datetime], None]] = {
    "claude_code": _claude_code_read,
    "codex": _codex_read,
}


def _read_cost(conn: Conn, source: str) -> Decimal:
    """The cost of the calls a read stored, as the events hold them."""
    (nanos,) = conn.execute(
        "SELECT SUM(cost_nanos) FROM usage_events WHERE source = ? AND counted = 1", (source,)
    ).fetchone()
    return from_nanos(int(nanos))


@pytest.mark.usefixtures("clock")
@pytest.mark.parametrize("read", READS)
def test_a_log_read_of_todays_calls_leaves_a_reprices_old_marks(
    home: Path, conn: Conn, settings: Settings, read: str
) -> None:
    # It rebuilt every quarter-hour marked over the ledger's history, under the write lock, before
    # a server's answer whenever the read took a new line.
    old_qh = _repriced_ledger(conn, settings)
    READS[read](home, conn, settings, datetime.now(UTC) - timedelta(minutes=5))
    assert _marked(conn) == [old_qh]  # today's re-priced quarter-hour rebuilt; 300 days ago left
    today = spend.resolve(settings, "today", None, None, "UTC")
    answer = spend.get_spend(conn, settings, today, [], take_alerts=False).total_usd
    assert answer == REPRICED + _read_cost(conn, read)
    assert _marked(conn) == [old_qh]


@pytest.mark.usefixtures("clock")
@pytest.mark.parametrize("read", READS)
def test_a_log_read_of_an_old_call_rebuilds_from_its_quarter_hour_on(
    home: Path, conn: Conn, settings: Settings, read: str
) -> None:
    old_qh = _repriced_ledger(conn, settings)
    older = datetime.now(UTC) - timedelta(days=400)
    with write_transaction(conn):
        rollup.mark_dirty(conn, [int(older.timestamp() * 1000)])  # as a re-price marks a quarter-hour
    # A log file from last year appears, with a call ten days before the re-priced one.
    READS[read](home, conn, settings, datetime.now(UTC) - timedelta(days=310))
    assert _marked(conn) == [int(older.timestamp() * 1000) // rollup.QUARTER_HOUR_MS]
    old_sums = rollup.sums_by_quarter_hour(conn, old_qh, old_qh + 1, settings.cost_mode)
    assert [(qh, cost, calls) for qh, cost, _, calls in old_sums] == [(old_qh, 100_000_000, 1)]  # re-priced


@pytest.mark.usefixtures("clock")
def test_a_log_read_that_adds_no_call_rebuilds_nothing(home: Path, conn: Conn, settings: Settings) -> None:
    old_qh = _repriced_ledger(conn, settings)
    marked = _marked(conn)
    write(session_file(home / "claude", "s-quiet"), user(_stamp(datetime.now(UTC))))
    scanned = claude_code.ingest(conn, settings, Pricer())
    assert scanned.files_new == 1 and scanned.lines_read == 1 and old_qh in marked
    assert _marked(conn) == marked  # both re-priced quarter-hours left for the questions that read them


@pytest.mark.usefixtures("clock")
def test_forgetting_a_log_file_rebuilds_from_its_first_call_on(
    home: Path, conn: Conn, settings: Settings
) -> None:
    old_qh = _repriced_ledger(conn, settings)
    at = datetime.now(UTC) - timedelta(days=200)
    _claude_code_read(home, conn, settings, at)
    assert _marked(conn) == [old_qh]
    qh = int(at.timestamp() * 1000) // rollup.QUARTER_HOUR_MS
    assert len(rollup.sums_by_quarter_hour(conn, qh, qh + 1, settings.cost_mode)) == 1
    report = claude_code.forget(
        conn, settings, Pricer(), [str(session_file(home / "claude", f"s-{at:%Y%m%d}"))]
    )
    assert report.forgotten is not None and report.forgotten.events_removed == 1
    assert rollup.sums_by_quarter_hour(conn, qh, qh + 1, settings.cost_mode) == []  # the call is out
    assert _marked(conn) == [old_qh]  # the re-price's older mark left for the question that reads it
