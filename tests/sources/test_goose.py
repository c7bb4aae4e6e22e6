"""Goose's session totals read from a real ``sessions.db`` in Goose's own layout and schema.

The table is Goose's ``sessions`` as its schema 9 creates it (block/goose,
``crates/goose/src/session/session_manager.rs`` at dbec1655, ``create_schema``); rows are written
as Goose writes them: ``created_at``/``updated_at`` by SQLite's ``CURRENT_TIMESTAMP`` text, the
model in ``model_config_json`` (``ModelConfig``'s ``model_name``), and after each call the
``accumulated_*`` columns grown in place (``update_session_metrics``).
"""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from mcp import Client

from cost_mcp.config import Settings, load_settings
from cost_mcp.money import from_nanos
from cost_mcp.periods import ms_to_datetime
from cost_mcp.pricing import Price, Pricer, Tokens
from cost_mcp.sources import agents
from cost_mcp.sources.agents import goose
from cost_mcp.store.connection import connect

SCHEMA = """
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    user_set_name BOOLEAN DEFAULT FALSE,
    session_type TEXT NOT NULL DEFAULT 'user',
    working_dir TEXT NOT NULL,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    extension_data TEXT DEFAULT '{}',
    total_tokens INTEGER,
    input_tokens INTEGER,
    output_tokens INTEGER,
    accumulated_total_tokens INTEGER,
    accumulated_input_tokens INTEGER,
    accumulated_output_tokens INTEGER,
    schedule_id TEXT,
    recipe_json TEXT,
    user_recipe_values_json TEXT,
    provider_name TEXT,
    model_config_json TEXT,
    tenant_id TEXT,
    user_id TEXT
)
"""
SONNET = "claude-sonnet-4-5-20250929"
GEMINI = "gemini-2.5-pro"


def _db(home: Path) -> sqlite3.Connection:
    path = home / "goose" / "data" / "sessions" / goose.DATABASE
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")  # as Goose's pool opens it
    db.execute(SCHEMA)
    return db


def _session(
    db: sqlite3.Connection, sid: str, model: str, provider: str, created: str, workdir: str = "/work/app"
) -> None:
    config = json.dumps({"model_name": model, "context_limit": None, "temperature": None})
    db.execute(
        "INSERT INTO sessions (id, name, working_dir, created_at, updated_at, provider_name, "
        "model_config_json) VALUES (?, 'n', ?, ?, ?, ?, ?)",
        (sid, workdir, created, created, provider, config),
    )


def _call(
    db: sqlite3.Connection, sid: str, inp: int, out: int, total: int | None = None, at: str = ""
) -> None:
    """One model call as Goose records it: the last call's counts, the session's sums grown."""
    total = inp + out if total is None else total
    db.execute(
        """
        UPDATE sessions SET input_tokens = ?, output_tokens = ?, total_tokens = ?,
            accumulated_input_tokens = COALESCE(accumulated_input_tokens, 0) + ?,
            accumulated_output_tokens = COALESCE(accumulated_output_tokens, 0) + ?,
            accumulated_total_tokens = COALESCE(accumulated_total_tokens, 0) + ?,
            updated_at = COALESCE(NULLIF(?, ''), datetime('now'))
        WHERE id = ?
        """,
        (inp, out, total, inp, out, total, at, sid),
    )


def _stored(settings: Settings) -> dict[str, tuple[int, int, int, str, str, str, str, int | None]]:
    conn = connect(settings.db)
    try:
        got = conn.execute(
            "SELECT message_id, ts_ms, input_tokens, output_tokens, model, provider, session_id, project, "
            "cost_nanos FROM usage_events WHERE source = 'goose' AND counted = 1"
        ).fetchall()
    finally:
        conn.close()
    return {str(r[0]): tuple(r[1:]) for r in got}


def _price(tokens: Tokens, model: str, provider: str, ts_ms: int) -> int:
    priced = Pricer().price(tokens, model, provider, ms_to_datetime(ts_ms))
    assert isinstance(priced, Price)
    return priced.total_nanos


def test_goose_sessions_are_stored_in_rows_that_grow_and_count_once(home: Path, settings: Settings) -> None:
    """Two sessions; one grows by a call between scans (Goose updates its row in place): the second
    scan adds only the growth, a third finds nothing, and a full read again changes nothing. Gemini's
    thoughts (``total`` beyond input + output) count as output. Input is stored in rows of at most
    GROWN_CHUNK tokens, each priced at base rates: one row of 250,000 input tokens would be priced
    at Claude's long-context tier, as none of its calls was."""
    db = _db(home)
    _session(db, "20261120_1", SONNET, "anthropic", "2026-11-20 09:00:00")
    _session(db, "20261120_2", GEMINI, "google", "2026-11-20 10:30:00", "/work/other")
    for _ in range(5):
        _call(db, "20261120_1", 50_000, 1_000)
    _call(db, "20261120_2", 4_000, 300, total=4_900)  # 600 thought tokens
    conn = connect(settings.db)
    first = agents.scan(conn, goose.LOG, settings, Pricer())
    stored = _stored(settings)
    start = 1_795_165_200_000  # 2026-11-20T09:00:00Z
    assert sorted(k for k in stored if k.startswith("20261120_1")) == [
        "20261120_1:in:0",
        "20261120_1:in:1",
        "20261120_1:in:2",
        "20261120_1:in:3",
        "20261120_1:in:4",
        "20261120_1:in:5",
        "20261120_1:in:6",
        "20261120_1:in:7",
        "20261120_1:out",
    ]
    assert stored["20261120_1:in:7"][:5] == (start, 26_000, 0, SONNET, "anthropic")
    assert stored["20261120_1:out"][:7] == (start, 0, 5_000, SONNET, "anthropic", "20261120_1", "/work/app")
    assert stored["20261120_2:out"][:3] == (start + 5_400_000, 0, 900)
    assert stored["20261120_2:in:0"][:3] == (start + 5_400_000, 4_000, 0)
    total = sum(int(r[7] or 0) for k, r in stored.items() if k.startswith("20261120_1"))
    chunks = [Tokens(input=32_000)] * 7 + [Tokens(input=26_000), Tokens(output=5_000)]
    assert total == sum(_price(t, SONNET, "anthropic", start) for t in chunks)
    assert total < _price(Tokens(input=250_000, output=5_000), SONNET, "anthropic", start)

    _call(db, "20261120_1", 40_000, 2_000, at="2026-11-20 11:00:00")
    second = agents.scan(conn, goose.LOG, settings, Pricer())
    third = agents.scan(conn, goose.LOG, settings, Pricer())
    grown = _stored(settings)
    full = agents.scan(conn, goose.LOG, settings, Pricer(), full=True)
    conn.close()
    db.close()
    assert (first.events_added, first.skipped, first.errors) == (11, {}, [])
    # The last input row filled (26,000 -> 32,000), one more (34,000 -> 32,000 + 2,000), output grew.
    assert (second.events_added, third.files_read, full.events_added) == (4, 0, 0)
    inputs = sum(r[1] for k, r in grown.items() if k.startswith("20261120_1"))
    outputs = sum(r[2] for k, r in grown.items() if k.startswith("20261120_1"))
    assert (inputs, outputs, len(grown)) == (290_000, 7_000, 13)
    assert _stored(settings) == grown


@pytest.mark.anyio
async def test_goose_spend_is_answered_by_agent(home: Path, client: Client) -> None:
    """get_spend by agent through the real server gives Goose's exact total, its calls read from
    its database by the server's own refresh."""
    db = _db(home)
    _session(db, "20261120_1", SONNET, "anthropic", "2026-11-20 09:00:00")
    _call(db, "20261120_1", 40_000, 2_500)
    db.close()
    result = await client.call_tool(
        "get_spend", {"start": "2026-11-01", "end": "2026-11-30", "group_by": ["agent"]}
    )
    assert result.structured_content is not None
    by_agent = {r["group"]["agent"]: Decimal(str(r["cost_usd"])) for r in result.structured_content["rows"]}
    start = 1_795_165_200_000
    expected = sum(
        _price(t, SONNET, "anthropic", start)
        for t in (Tokens(input=32_000), Tokens(input=8_000), Tokens(output=2_500))
    )
    assert by_agent == {"goose": from_nanos(expected)}


def test_hostile_goose_rows_are_counted_and_skipped_and_an_unknown_model_is_unpriced(
    home: Path, settings: Settings
) -> None:
    """Rows with a count that is text, negative or beyond Goose's i32, a model config that is not
    JSON, a start that is no time: each counted as ``invalid_fields``, the good session still read;
    a session that used no token gives nothing; a model no price is known for is stored unpriced,
    never at $0."""
    db = _db(home)
    _session(db, "good", SONNET, "anthropic", "2026-11-20T09:00:00+00:00")
    _call(db, "good", 1_000, 100)
    for sid in ("text", "negative", "huge", "config", "time"):
        _session(db, sid, SONNET, "anthropic", "2026-11-20 09:00:00")
        _call(db, sid, 1_000, 100)
    db.execute("UPDATE sessions SET accumulated_input_tokens = 'many' WHERE id = 'text'")
    db.execute("UPDATE sessions SET accumulated_output_tokens = -5 WHERE id = 'negative'")
    db.execute("UPDATE sessions SET accumulated_input_tokens = 9223372036854775807 WHERE id = 'huge'")
    db.execute("UPDATE sessions SET model_config_json = '{\"model_name\": ' WHERE id = 'config'")
    db.execute("UPDATE sessions SET created_at = 'yesterday' WHERE id = 'time'")
    _session(db, "idle", SONNET, "anthropic", "2026-11-20 09:00:00")
    _session(db, "local", "my-own-finetune-7b", "ollama", "2026-11-20 09:00:00")
    _call(db, "local", 2_000, 50)
    conn = connect(settings.db)
    scan = agents.scan(conn, goose.LOG, settings, Pricer())
    _call(db, "good", 10, 1)
    db.close()
    # Read again (the good session grew): the bad rows, unchanged, are still counted, not passed over.
    again = agents.scan(conn, goose.LOG, settings, Pricer())
    conn.close()
    assert dict(scan.skipped) == {"invalid_fields": 5} and scan.errors == []
    assert (dict(again.skipped), again.events_added) == ({"invalid_fields": 5}, 2)
    stored = _stored(settings)
    assert sorted(stored) == ["good:in:0", "good:out", "local:in:0", "local:out"]
    assert (stored["good:in:0"][1], stored["good:out"][2]) == (1_010, 101)
    assert stored["good:in:0"][0] == 1_795_165_200_000  # an RFC 3339 stamp (an imported session)
    assert [stored[k][7] for k in ("local:in:0", "local:out")] == [None, None]
    assert scan.unpriced == {"my-own-finetune-7b": 2}


def test_a_goose_database_locked_by_goose_is_read_by_the_next_scan(home: Path, settings: Settings) -> None:
    """Goose holding its database locked while a scan comes: the scan says so as an error and keeps
    it unread, so the next scan reads the call written before the lock, with no line skipped."""
    db = _db(home)
    db.execute("PRAGMA journal_mode = DELETE")  # readers wait on a writer's lock, unlike WAL
    _session(db, "s", SONNET, "anthropic", "2026-11-20 09:00:00")
    _call(db, "s", 1_000, 100)
    conn = connect(settings.db)
    assert agents.scan(conn, goose.LOG, settings, Pricer()).events_added == 2
    _call(db, "s", 1_000, 100)
    db.execute("BEGIN EXCLUSIVE")
    db.execute("UPDATE sessions SET name = name WHERE id = 'none'")
    locked = agents.scan(conn, goose.LOG, settings, Pricer())
    db.execute("ROLLBACK")
    db.close()
    after = agents.scan(conn, goose.LOG, settings, Pricer())
    conn.close()
    path = home / "goose" / "data" / "sessions" / goose.DATABASE
    assert (locked.events_added, dict(locked.skipped)) == (0, {})
    assert [e.split(": ", 1) for e in locked.errors] == [
        [str(path), "locked by another process (Goose writing); read again next time"]
    ]
    assert (after.events_added, dict(after.skipped), after.errors) == (2, {}, [])
    assert sorted(r[1:3] for r in _stored(settings).values()) == [(0, 200), (2_000, 0)]


def test_a_goose_database_of_another_schema_is_said_and_an_empty_one_is_not(
    home: Path, settings: Settings
) -> None:
    """A Goose older than its schema 6 (no ``model_config_json``: no model to price by) is counted
    as ``unknown_schema`` and named in the answers' warnings; an empty ``sessions.db`` (Goose's pool
    made it, no table yet) is no skipped line."""
    path = home / "goose" / "data" / "sessions" / goose.DATABASE
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")
    conn = connect(settings.db)
    empty = agents.scan(conn, goose.LOG, settings, Pricer())
    old = sqlite3.connect(path)
    old.execute(SCHEMA.replace("model_config_json TEXT,", "").replace("provider_name TEXT,", ""))
    old.execute("INSERT INTO sessions (id, working_dir, accumulated_input_tokens) VALUES ('s', '/w', 10)")
    old.commit()
    old.close()
    older = agents.scan(conn, goose.LOG, settings, Pricer())
    conn.close()
    assert (dict(empty.skipped), empty.errors) == ({}, [])
    assert (dict(older.skipped), older.events_added, older.errors) == ({"unknown_schema": 1}, 0, [])


def test_goose_folder_follows_goose_path_root_as_goose_reads_it(
    home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """GOOSE_PATH_ROOT moves Goose's data to ``data/`` in it when absolute; Goose ignores a relative
    one (``Paths::validated_path_root``) and keeps ``goose`` in the XDG data folder."""
    assert load_settings().goose_sessions_path() == home / "goose" / "data" / "sessions"
    monkeypatch.setenv("GOOSE_PATH_ROOT", "relative/root")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert load_settings().goose_sessions_path() == tmp_path / "xdg" / "goose" / "sessions"


@pytest.mark.anyio
async def test_a_goose_database_of_another_schema_is_named_in_answers(home: Path, client: Client) -> None:
    """What a user of an older Goose sees: not an empty total that looks complete, but a warning
    naming the skipped database and why."""
    path = home / "goose" / "data" / "sessions" / goose.DATABASE
    path.parent.mkdir(parents=True)
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE sessions (id TEXT PRIMARY KEY, working_dir TEXT, accumulated_input_tokens INTEGER)"
    )
    old.commit()
    old.close()
    result = await client.call_tool("get_spend", {"period": "this_month", "group_by": ["agent"]})
    warnings = result.structured_content["warnings"] if result.structured_content else []
    [warning] = [w for w in warnings if "Goose" in w]
    assert warning.startswith("1 Goose log line in 1 file was skipped and is not counted (unknown_schema 1)")


def test_a_goose_database_replaced_by_an_older_copy_is_neither_lost_nor_counted_twice(
    home: Path, settings: Settings
) -> None:
    """Goose's ``restore_backup`` puts an older ``sessions.db`` in place (a new, smaller file with
    smaller totals): read from nothing again, its rows are the ones already stored or smaller, so
    the ledger keeps what it counted, once, without an error or a skipped line. The known limit of
    totals alone: the session's calls after the restore count only from where its restored totals
    pass what was stored (here 70,000 input tokens stored, though 100,000 were sent in all)."""
    path = home / "goose" / "data" / "sessions" / goose.DATABASE
    db = _db(home)
    _session(db, "20261120_1", SONNET, "anthropic", "2026-11-20 09:00:00")
    _call(db, "20261120_1", 30_000, 1_000)
    backup = home / "backup.db"
    db.execute(f"VACUUM INTO '{backup}'")
    _call(db, "20261120_1", 30_000, 1_000)
    db.close()
    conn = connect(settings.db)
    agents.scan(conn, goose.LOG, settings, Pricer())
    before = _stored(settings)
    path.unlink()
    for side in ("-wal", "-shm"):
        path.with_name(path.name + side).unlink(missing_ok=True)
    backup.rename(path)
    restored = agents.scan(conn, goose.LOG, settings, Pricer())
    after_restore = _stored(settings)
    db = sqlite3.connect(path, isolation_level=None)
    _call(db, "20261120_1", 40_000, 500)  # now 70,000 / 1,500 in the restored file: more than stored
    db.close()
    grown = agents.scan(conn, goose.LOG, settings, Pricer())
    conn.close()
    assert (restored.events_added, restored.skipped, restored.errors) == (0, {}, [])
    assert after_restore == before
    assert sum(int(str(r[1])) for r in before.values()) == 60_000
    inputs = sum(int(str(r[1])) for r in _stored(settings).values())
    outputs = sum(int(str(r[2])) for r in _stored(settings).values())
    assert (grown.errors, inputs, outputs) == ([], 70_000, 2_000)
