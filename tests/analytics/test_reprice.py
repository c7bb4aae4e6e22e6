"""`cost-mcp reprice`: stored calls that had no known price are priced once the override file
prices their model, whatever they came from, and every view (raw events, rollup, budgets) agrees."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from cost_mcp.analytics import reprice
from cost_mcp.analytics.spend import get_spend, resolve
from cost_mcp.cli import main
from cost_mcp.config import Settings
from cost_mcp.pricing import Pricer, Tokens, Unpriced
from cost_mcp.sources.claude_code import ingest
from cost_mcp.sources.reported import record_call
from cost_mcp.store import connect
from cost_mcp.store.connection import lock_timeout
from tests.sources.claude_logs import assistant, session_file, write


def test_calls_stored_without_a_price_are_priced_once_the_file_prices_them(
    home: Path, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    at = (now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    write(
        session_file(home / "claude", "s1"),
        assistant("m1", "r1", at, model="house-model-1", input=1_000_000, output=0),
        assistant("m2", "r2", at, input=1000, output=0),  # priced by genai-prices: untouched
    )
    conn = connect(settings.db)
    try:
        ingest(conn, settings, Pricer())
        for model in ("house-model-1", "other-model-2"):
            record_call(
                conn, Pricer(), provider="acme", model=model, tokens=Tokens(input=2_000_000),
                agent="bot", timestamp=now - timedelta(minutes=1), now=now,
            )  # fmt: skip
        p = resolve(settings, "last_7_days", None, None, "UTC")
        before = get_spend(conn, settings, p, ["model"])
        assert sum(r.unpriced_requests for r in before.rows) == 3
        settings.prices_file.parent.mkdir(parents=True, exist_ok=True)
        settings.prices_file.write_text(
            '[[price]]\nmodel = "house-model-1"\ninput_mtok = "2"\noutput_mtok = "8"\n'
        )
        assert main(["reprice", "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        # $2 for the logged call's million input tokens, $4 for the recorded call's two million.
        # Money a JSON number, as in every --json (it was the string "6.000000000").
        assert result == {"priced": 2, "added_usd": 6, "still_unpriced": {"other-model-2": 1}}
        assert isinstance(result["added_usd"], float)
        after = get_spend(conn, settings, p, ["model"])
        costs = {r.group["model"]: (r.cost_usd, r.unpriced_requests) for r in after.rows}
        assert costs["house-model-1"] == (Decimal(6), 0)
        assert costs["other-model-2"] == (None, 1)  # unknown, not $0
        assert after.total_usd == before.total_usd + 6
        # The rollup (which every grouped answer reads) agrees with the events themselves.
        raw = conn.execute(
            "SELECT SUM(cost_nanos) FROM usage_events WHERE counted = 1 AND model = 'house-model-1'"
        ).fetchone()[0]
        assert raw == 6_000_000_000
        assert main(["reprice"]) == 0  # again: nothing new, the one left named with the fix
        out = capsys.readouterr().out
        assert out.startswith("priced 0 call(s)") and "still no price: other-model-2: 1 call(s)" in out
    finally:
        conn.close()


def test_an_edit_of_the_file_prices_stored_calls_once_per_ledger(home: Path, settings: Settings) -> None:
    """follow_price_file, which every refresh runs: the first process to see the new content
    prices the stored calls; another (a server started before the edit) takes the prices into
    its pricer without pricing them again; a CLI command prices them with no `reprice`."""
    from cost_mcp.analytics.reprice import follow_price_file
    from cost_mcp.store import meta

    now = datetime.now(UTC)
    conn = connect(settings.db)
    try:
        server = Pricer.from_file(settings.prices_file)  # started before the edit: no file
        for model, n in (("house-model-1", 1_000_000), ("house-model-2", 3_000_000)):
            record_call(
                conn, server, provider="acme", model=model, tokens=Tokens(input=n),
                agent="bot", timestamp=now - timedelta(minutes=1), now=now,
            )  # fmt: skip
        assert follow_price_file(conn, server, settings.prices_file) is None  # no file, nothing new
        settings.prices_file.parent.mkdir(parents=True, exist_ok=True)
        settings.prices_file.write_text('[[price]]\nmodel = "house-model-1"\ninput_mtok = "2"\n')
        cli = Pricer.from_file(settings.prices_file)
        assert cli.overrides_digest != server.overrides_digest
        done = follow_price_file(conn, cli, settings.prices_file)
        assert done is not None and (done.priced, done.still_unpriced) == (1, {"house-model-2": 1})
        assert meta.overrides_applied(conn) == cli.overrides_digest
        assert follow_price_file(conn, cli, settings.prices_file) is None
        # The server's pricer takes the new prices; the calls are not priced a second time.
        assert follow_price_file(conn, server, settings.prices_file) is None
        assert server.overrides_digest == cli.overrides_digest
        priced = server.price(Tokens(input=1_000_000), "house-model-1", "acme", now)
        assert not isinstance(priced, Unpriced) and priced.total_nanos == 2_000_000_000
        costs = dict(conn.execute("SELECT model, cost_nanos FROM usage_events ORDER BY model").fetchall())
        assert costs == {"house-model-1": 2_000_000_000, "house-model-2": None}
        # A broken edit changes nothing and says why; the prices before it stay in use.
        settings.prices_file.write_text('[[price]]\nmodel = "house-model-2"\ninput_mtok = \n')
        assert follow_price_file(conn, server, settings.prices_file) is None
        assert "still in use" in str(server.file_problem)
        assert server.overrides_digest == cli.overrides_digest
        settings.prices_file.write_text(
            '[[price]]\nmodel = "house-model-1"\ninput_mtok = "2"\n'
            '[[price]]\nmodel = "house-model-2"\ninput_mtok = "1"\n'
        )
        done = follow_price_file(conn, server, settings.prices_file)
        assert server.file_problem is None
        assert done is not None and (done.priced, done.still_unpriced) == (1, {})
        # Rows of this test are priced as the file said: $2 and $3.
        total = conn.execute("SELECT SUM(cost_nanos) FROM usage_events WHERE counted = 1").fetchone()[0]
        assert total == 5_000_000_000
    finally:
        conn.close()


def test_a_call_that_grows_while_it_is_repriced_is_never_left_at_its_smaller_price(
    home: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The status line reads a growing transcript beside a reprice: a later copy of the call, with
    # more tokens and stored unpriced by a pricer without the new price, was stored between the
    # reprice's read and its write, which then gave the call the price of the tokens it had read.
    at = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    log = session_file(home / "claude", "s1")
    write(log, assistant("m1", "r1", at, model="house-model-1", input=1_000_000, output=0))
    settings.prices_file.parent.mkdir(parents=True, exist_ok=True)
    settings.prices_file.write_text(
        '[[price]]\nmodel = "house-model-1"\ninput_mtok = "2"\noutput_mtok = "8"\n'
    )
    conn, status_line = connect(settings.db), connect(settings.db)
    try:
        ingest(conn, settings, Pricer())  # unpriced
        grown: list[str] = []
        price = reprice._price

        def price_while_the_call_grows(pricer: Pricer, call: object) -> object:
            if not grown:
                write(
                    log, assistant("m1", "r1", at, model="house-model-1", input=1_000_000, output=1_000_000)
                )
                try:
                    with lock_timeout(status_line, 1):  # PostgreSQL: 0 is no limit
                        ingest(status_line, settings, Pricer())
                    grown.append("meanwhile")
                except sqlite3.OperationalError:
                    grown.append("after")  # the reprice holds the ledger: it is read next time
            return price(pricer, call)  # type: ignore[arg-type]

        monkeypatch.setattr(reprice, "_price", price_while_the_call_grows)
        reprice.reprice_unpriced(conn, Pricer.from_file(settings.prices_file))
        monkeypatch.undo()
        if grown == ["after"]:
            ingest(status_line, settings, Pricer())
        stored = conn.execute(
            "SELECT output_tokens, cost_nanos FROM usage_events WHERE message_id = 'm1' AND counted = 1"
        ).fetchall()
        # Unpriced until the next reprice, or $2 + $8 for its tokens: never the $2 of the smaller copy.
        assert stored in ([(1_000_000, None)], [(1_000_000, 10_000_000_000)]), (grown, stored)
    finally:
        status_line.close()
        conn.close()
