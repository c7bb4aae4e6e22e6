"""The ledger records which price data priced its rows (genai-prices version, and data date)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cost_mcp import pricing
from cost_mcp.config import Settings
from cost_mcp.doctor import diagnose
from cost_mcp.pricing import GENAI_PRICES_VERSION, Pricer, Tokens
from cost_mcp.sources import claude_code
from cost_mcp.sources.reported import record_call
from cost_mcp.store import connect
from cost_mcp.store.meta import price_data_history
from tests.sources.claude_logs import assistant, session_file, write


def _log(home: Path, session: str, message_id: str) -> None:
    stamp = (datetime.now(UTC) - timedelta(days=2)).isoformat().replace("+00:00", "Z")
    write(
        session_file(home / "claude", session),
        assistant(message_id, f"r-{message_id}", stamp, session=session),
    )


def test_an_ingest_records_the_price_data_and_doctor_shows_it(settings: Settings, home: Path) -> None:
    conn = connect(settings.db)
    try:
        assert price_data_history(conn) == []  # nothing priced yet
        assert diagnose(settings).priced_with == []
        _log(home, "s1", "m1")
        assert claude_code.ingest(conn, settings, Pricer()).events_added == 1
        [used] = price_data_history(conn)
        assert used.version == GENAI_PRICES_VERSION and used.data_date is None  # bundled data: no date
        _log(home, "s2", "m2")
        claude_code.ingest(conn, settings, Pricer())
        assert price_data_history(conn) == [used]  # the same version again: nothing new
    finally:
        conn.close()
    [shown] = diagnose(settings).priced_with
    assert (shown.version, shown.data_date, shown.first_used) == (used.version, None, used.first_used)


def test_an_upgrade_is_appended_so_older_rows_can_be_priced_again(
    settings: Settings, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = connect(settings.db)
    try:
        _log(home, "s1", "m1")
        claude_code.ingest(conn, settings, Pricer())
    finally:
        conn.close()
    # A later release with fetched price data: a new process (connection) pricing with it.
    monkeypatch.setattr(pricing, "price_data", lambda: ("99.0.0", "2027-01-02T03:04:05"))
    conn = connect(settings.db)
    try:
        _log(home, "s2", "m2")
        claude_code.ingest(conn, settings, Pricer())
        old, new = price_data_history(conn)
    finally:
        conn.close()
    assert old.version == GENAI_PRICES_VERSION
    assert (new.version, new.data_date) == ("99.0.0", "2027-01-02T03:04:05")
    assert new.first_used >= old.first_used
    assert [u.version for u in diagnose(settings).priced_with] == [GENAI_PRICES_VERSION, "99.0.0"]


def test_record_usage_records_the_price_data(settings: Settings) -> None:
    conn = connect(settings.db)
    try:
        record_call(
            conn,
            Pricer(),
            provider="anthropic",
            model="claude-sonnet-4-5",
            tokens=Tokens(input=10, output=5),
            agent="bot",
            request_id="q1",
        )
        assert [u.version for u in price_data_history(conn)] == [GENAI_PRICES_VERSION]
    finally:
        conn.close()


def test_a_damaged_record_is_started_again_not_an_error(settings: Settings) -> None:
    from cost_mcp.store import write_transaction
    from cost_mcp.store.meta import PRICE_DATA_KEY, note_price_data

    conn = connect(settings.db)
    try:
        with write_transaction(conn):
            conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (PRICE_DATA_KEY, "{not json"))
        assert price_data_history(conn) == []
        with write_transaction(conn):
            note_price_data(conn, "1.2.3", None, now=datetime(2026, 1, 2, tzinfo=UTC))
        [entry] = price_data_history(conn)
        assert (entry.version, entry.first_used) == ("1.2.3", "2026-01-02T00:00:00+00:00")
    finally:
        conn.close()
