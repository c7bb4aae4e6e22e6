"""Budget alerts follow the user's commands that move spend without new usage: `cost-mcp reprice`
alerts for the thresholds the calls it prices cross, and a command that lowers spend
(`reprice --all` with lower prices, `reported forget`) re-arms the thresholds spend fell back under,
so the next real crossing alerts again, once, across processes.

Through the real CLI (subprocesses, as a user runs it) with a local webhook receiver, on a real
SQLite file and a real PostgreSQL database (the ``home`` fixture).
"""

from __future__ import annotations

import json
from contextlib import closing
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cost_mcp.analytics import budgets
from cost_mcp.analytics.alerts import fire_alerts
from cost_mcp.analytics.budgets import alert_keys, budget_period, get_budget, set_budget
from cost_mcp.cli import main
from cost_mcp.config import Settings
from cost_mcp.models import BudgetScope
from cost_mcp.pricing import Pricer, Tokens
from cost_mcp.sources.reported import record_call
from cost_mcp.store import alerts as alert_store
from cost_mcp.store import connect, deliveries
from cost_mcp.store.connection import Conn
from tests.sources.claude_logs import assistant, session_file, write
from tests.test_webhooks import SECRET, Receiver, cli, ops, ops_webhook, receiver  # noqa: F401 (fixtures)

MODEL = "house-model-1"


def _price_file(settings: Settings, usd_per_mtok: str) -> None:
    """The override file pricing MODEL's input tokens at ``usd_per_mtok`` (no price: no file)."""
    settings.prices_file.parent.mkdir(parents=True, exist_ok=True)
    settings.prices_file.write_text(f'[[price]]\nmodel = "{MODEL}"\ninput_mtok = "{usd_per_mtok}"\n')


def _log_call(home: Path, name: str, input_tokens: int) -> None:
    """A Claude Code call of MODEL a minute ago, in a session file of its own."""
    ts = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    write(
        session_file(home / "claude", name),
        assistant(f"msg_{name}", f"req_{name}", ts, model=MODEL, input=input_tokens),
    )


def _ok(*args: str) -> str:
    done = cli(*args)
    assert done.returncode == 0, done.stderr
    assert SECRET not in done.stdout + done.stderr
    return " ".join(done.stdout.split())


def _budget_with_webhook(*thresholds: str) -> None:
    """A $10 daily budget "d" alerting at ``thresholds``, POSTed to the "ops" webhook."""
    _ok(
        "budget",
        "set",
        "d",
        "10",
        "--period",
        "day",
        "--webhook",
        "ops",
        *(a for t in thresholds for a in ("--threshold", t)),
    )


def _sent() -> list[tuple[str, Decimal]]:
    """(threshold, spent) of every alert the receiver accepted, in order."""
    return [(p["threshold"], Decimal(p["spent_usd"])) for p in Receiver.received]


@pytest.mark.usefixtures("ops", "clock")
def test_plain_reprice_alerts_for_the_thresholds_its_newly_priced_calls_cross(
    home: Path, settings: Settings
) -> None:
    """Calls stored while their model had no price count nothing; `cost-mcp reprice` prices them
    and, before it exits, POSTs the one threshold they cross (not the one they do not)."""
    _budget_with_webhook("0.5", "1")
    _log_call(home, "a", 4_000_000)
    _log_call(home, "b", 2_000_000)
    _ok("ingest")
    assert _sent() == []  # unpriced: nothing spent as far as budgets know
    _price_file(settings, "1")
    out = _ok("reprice")
    assert "priced 2 call(s) that had no known price ($6.00)" in out
    assert _sent() == [("0.5", Decimal(6))]
    _ok("report")  # another process evaluates: the alert is not sent twice
    assert _sent() == [("0.5", Decimal(6))]


@pytest.mark.usefixtures("ops", "clock")
def test_reprice_all_with_lower_prices_rearms_what_spend_fell_under_and_the_next_crossing_alerts(
    home: Path, settings: Settings
) -> None:
    """$6 at $10 per million tokens fires 5% and 50% of $10 (one alert, 50%'s, covering 5%); the
    price is corrected to $1, so `reprice --all` leaves $0.60: 50% is re-armed (it fired on spend
    the ledger no longer holds), 5% is still reached and stays fired. New usage taking spend to
    $5.60 alerts 50% again, once."""
    _budget_with_webhook("0.05", "0.5")
    _price_file(settings, "10")
    _log_call(home, "a", 600_000)
    _ok("ingest")
    assert _sent() == [("0.5", Decimal(6))] and Receiver.received[0]["covers"] == ["0.05"]

    _price_file(settings, "1")
    out = _ok("reprice", "--all")
    assert "today's prices changed 1 (-5.400000000 USD)" in out
    assert "budget 'd': 50% will alert again when crossed ($0.60 of $10.00 spent now)" in out
    assert "5%" not in out.split("will alert again")[0]
    assert len(_sent()) == 1  # lowering spend sends nothing

    _log_call(home, "b", 5_000_000)
    _ok("ingest")
    assert _sent() == [("0.5", Decimal(6)), ("0.5", Decimal("5.6"))]
    assert Receiver.received[1]["covers"] == []
    _ok("report")
    assert len(_sent()) == 2
    with closing(connect(settings.db)) as conn:
        fired = conn.execute("SELECT threshold, delivery FROM budget_alerts ORDER BY threshold").fetchall()
    # 5% fired, covered by the first 50% alert: recorded, nothing of its own to deliver.
    assert [tuple(r) for r in fired] == [("0.05", None), ("0.5", "delivered")]


@pytest.mark.usefixtures("clock")
def test_reprice_all_json_names_the_rearmed_thresholds(
    home: Path, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same re-arming, as a script reading `reprice --all --json` sees it."""
    assert main(["budget", "set", "d", "10", "--period", "day", "--threshold", "0.5"]) == 0
    _price_file(settings, "10")
    _log_call(home, "a", 600_000)
    assert main(["ingest"]) == 0
    _price_file(settings, "1")
    capsys.readouterr()
    assert main(["reprice", "--all", "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["alerts_rearmed"] == [
        "budget 'd': 50% will alert again when crossed ($0.60 of $10.00 spent now)"
    ]


def _firings(conn: Conn) -> dict[str, str]:
    """Budget d's fired thresholds, each with when it fired (which firing it is)."""
    return {
        str(t): str(at)
        for t, at in conn.execute("SELECT threshold, fired_at FROM budget_alerts WHERE budget = 'd'")
    }


@pytest.mark.usefixtures("clock")
def test_a_forget_does_not_rearm_a_threshold_another_process_fired_meanwhile(
    home: Path,
    settings: Settings,
    conn: Conn,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The user forgets a mistaken $10 call, which fired 50% of $20. While the forget sums spend
    (without the call), another process re-arms 50% (its own forget) and real usage crosses it
    again: that process fires and sends 50%. The forget's sum is older than that crossing, so it
    must leave that alert alone; re-arming it would have the same crossing alert a second time."""
    now = datetime.now(UTC)
    set_budget(conn, "d", Decimal(20), "month", BudgetScope(), thresholds=[Decimal("0.5")])
    keys = alert_keys(budget_period(get_budget(conn, "d"), settings, now))
    call: dict[str, Any] = {
        "provider": "openai",
        "model": "gpt-4o",
        "agent": "bot",
        "timestamp": now - timedelta(minutes=1),
    }
    # gpt-4o input at $2.50 per million tokens: 4M is $10.
    record_call(conn, Pricer(), tokens=Tokens(input=4_000_000), request_id="mistake", **call)
    fire_alerts(conn, settings)
    mistaken = _firings(conn)
    assert list(mistaken) == ["0.5"]

    real_states_of = budgets.states_of
    meanwhile: dict[str, str] = {}

    def states_then_another_process(*args: Any, **kwargs: Any) -> Any:
        states = real_states_of(*args, **kwargs)
        if not meanwhile:
            meanwhile["started"] = "yes"  # the other process's own evaluation comes through here too
            with closing(connect(settings.db)) as other:
                alert_store.rearm(other, "d", keys, mistaken)
                record_call(other, Pricer(), tokens=Tokens(input=4_000_000), request_id="real", **call)
                fire_alerts(other, settings)
                meanwhile.update(_firings(other))
        return states

    monkeypatch.setattr(budgets, "states_of", states_then_another_process)
    assert main(["reported", "forget", "mistake"]) == 0
    capsys.readouterr()
    assert meanwhile["0.5"] != mistaken["0.5"]  # the other process fired anew
    fire_alerts(conn, settings)  # any process's next evaluation
    assert _firings(conn) == {"0.5": meanwhile["0.5"]}  # that firing, still the only one


def test_an_attempt_in_flight_when_its_alert_is_rearmed_does_not_mark_the_new_alert_delivered(
    conn: Conn,
) -> None:
    """A server claims 50%'s delivery and POSTs it; meanwhile the threshold is re-armed and fires
    again (a new alert, still to send). The first attempt's outcome is that alert's, not the new one's."""
    alert = alert_store.NewAlert(
        budget="d",
        period_start_ms=0,
        threshold="0.5",
        fired_at="2026-01-01T10:00:00+00:00",
        spent_nanos=10,
        message="budget 'd' passed 50%",
        destination="https://hooks.example.com/x",
        payload="{}",
    )
    assert alert_store.record_crossing(conn, "d", [0], ["0.5"], lambda _: [alert]) == [alert]
    [in_flight] = deliveries.claim_due(conn, 1_000, lease_ms=60_000)
    assert alert_store.rearm(conn, "d", [0], {"0.5": alert.fired_at}) == 1
    again = replace(alert, fired_at="2026-01-01T11:00:00+00:00")
    assert alert_store.record_crossing(conn, "d", [0], ["0.5"], lambda _: [again]) == [again]
    deliveries.mark_delivered(conn, in_flight)
    assert deliveries.any_due(conn, 2_000)  # the new alert is still to be sent
    deliveries.mark_failed(conn, in_flight, "timed out", None)
    row = conn.execute("SELECT delivery, delivery_error FROM budget_alerts").fetchone()
    assert tuple(row) == ("pending", None)
