"""Budget alerts follow the user's commands that move spend without new usage: `cost-mcp reprice`
alerts for the thresholds the calls it prices cross.

Through the real CLI (subprocesses, as a user runs it) with a local webhook receiver, on a real
SQLite file and a real PostgreSQL database (the ``home`` fixture).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from cost_mcp.config import Settings
from tests.sources.claude_logs import assistant, session_file, write
from tests.test_webhooks import SECRET, Receiver, cli, ops, receiver  # noqa: F401 (fixtures)

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
