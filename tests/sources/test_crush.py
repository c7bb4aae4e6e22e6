"""Crush's sessions read from real ``crush.db`` files in Crush's own layout and schema.

The tables are ``sessions`` and ``messages`` as Crush's migrations make them (charmbracelet/crush
at 37f36e93, ``internal/db/migrations``: the first schema of 2025-04-24, then
``summary_message_id``, the messages' ``provider``, ``is_summary_message`` and the sessions'
``todos``); rows are written as its queries write them (``internal/db/sql``: times by
``strftime('%s', 'now')``, a session's ``cost`` grown after each call by ``UpdateSession``, a
sub-agent's session with ``parent_session_id`` and an id ``<message>$$<tool call>``). The
projects are listed in ``projects.json`` in Crush's global data folder as ``projects.Register``
writes it (``internal/projects/projects.go``).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from mcp import Client

from cost_mcp.analytics.reprice import reprice_unpriced
from cost_mcp.config import Settings, load_settings
from cost_mcp.money import to_nanos
from cost_mcp.periods import to_ms
from cost_mcp.pricing import Pricer
from cost_mcp.sources import agents
from cost_mcp.sources.agents import crush
from cost_mcp.store.connection import connect

SCHEMA = """
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    parent_session_id TEXT,
    title TEXT NOT NULL,
    message_count INTEGER NOT NULL DEFAULT 0 CHECK (message_count >= 0),
    prompt_tokens  INTEGER NOT NULL DEFAULT 0 CHECK (prompt_tokens >= 0),
    completion_tokens  INTEGER NOT NULL DEFAULT 0 CHECK (completion_tokens>= 0),
    cost REAL NOT NULL DEFAULT 0.0 CHECK (cost >= 0.0),
    updated_at INTEGER NOT NULL,  -- Unix timestamp in milliseconds
    created_at INTEGER NOT NULL   -- Unix timestamp in milliseconds
);
CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    role TEXT NOT NULL,
    parts TEXT NOT NULL default '[]',
    model TEXT,
    created_at INTEGER NOT NULL,  -- Unix timestamp in milliseconds
    updated_at INTEGER NOT NULL,  -- Unix timestamp in milliseconds
    finished_at INTEGER,  -- Unix timestamp in milliseconds
    FOREIGN KEY (session_id) REFERENCES sessions (id) ON DELETE CASCADE
);
CREATE INDEX idx_messages_session_id ON messages (session_id);
ALTER TABLE sessions ADD COLUMN summary_message_id TEXT;
ALTER TABLE messages ADD COLUMN provider TEXT;
ALTER TABLE messages ADD COLUMN is_summary_message INTEGER DEFAULT 0 NOT NULL;
ALTER TABLE sessions ADD COLUMN todos TEXT;
"""
SONNET = "claude-sonnet-4-5-20250929"
T0 = to_ms(datetime(2026, 11, 20, 9, tzinfo=UTC))


def _projects(home: Path, *entries: tuple[Path, Path]) -> None:
    """``projects.json`` as Crush's ``projects.Save`` writes it: (working folder, data folder)."""
    folder = home / "crush"
    folder.mkdir(parents=True, exist_ok=True)
    projects = [
        {"path": str(path), "data_dir": str(data), "last_accessed": "2026-11-20T09:00:00Z"}
        for path, data in entries
    ]
    (folder / crush.PROJECTS).write_text(json.dumps({"projects": projects}, indent="  "))


def _db(data_dir: Path, schema: str = SCHEMA) -> sqlite3.Connection:
    data_dir.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(data_dir / crush.DATABASE, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")  # as Crush's connection pragmas set it
    db.executescript(schema)
    return db


def _session(db: sqlite3.Connection, sid: str, created_ms: int, parent: str | None = None) -> None:
    db.execute(
        "INSERT INTO sessions (id, parent_session_id, title, updated_at, created_at) "
        "VALUES (?, ?, 't', ?, ?)",
        (sid, parent, created_ms // 1000, created_ms // 1000),
    )


def _answer(db: sqlite3.Connection, sid: str, model: str, provider: str, cost: str, n: int = 0) -> None:
    """One assistant message and its call's cost added to the session, as ``updateSessionUsage``
    then ``sessions.Save`` do (the token columns overwritten with the call's own counts)."""
    db.execute(
        "INSERT INTO messages (id, session_id, role, parts, model, provider, created_at, updated_at) "
        "VALUES (?, ?, 'assistant', '[]', ?, ?, ?, ?)",
        (f"{sid}-m{n}-{model}", sid, model, provider, T0 // 1000 + n, T0 // 1000 + n),
    )
    db.execute(
        "UPDATE sessions SET cost = cost + ?, prompt_tokens = 9000, completion_tokens = 300 WHERE id = ?",
        (float(cost), sid),
    )


def _stored(settings: Settings) -> dict[str, tuple[object, ...]]:
    conn = connect(settings.db)
    try:
        rows = conn.execute(
            "SELECT message_id, ts_ms, model, provider, project, total_tokens, cost_nanos, "
            "reported_cost_nanos, price_note FROM usage_events WHERE source = 'crush' AND counted = 1"
        ).fetchall()
    finally:
        conn.close()
    return {str(r[0]): tuple(r[1:]) for r in rows}


def _nanos(*costs: str) -> int:
    """The nanos of a cost as Crush's REAL holds the sum of ``costs`` (its own text of it)."""
    return to_nanos(Decimal(repr(sum(float(c) for c in costs))))


def test_crush_sessions_grow_in_place_and_count_once_with_crushs_own_cost(
    home: Path, settings: Settings
) -> None:
    """Two projects listed in ``projects.json``, one with its data folder set elsewhere: each
    top-level session is one call worth the cost Crush wrote, at its start, under the model most of
    its answers name, in the project holding ``.crush``. A sub-agent's session (its cost added to
    its parent's by Crush) is not counted apart. A session that grows between scans replaces its
    row; a third scan finds nothing; a full read again changes nothing; a session deleted in Crush
    stays counted."""
    app, api = home / "work" / "app", home / "work" / "api"
    elsewhere = home / "crush-data" / "api"
    _projects(home, (app, app / ".crush"), (app / "sub", app / ".crush"), (api, elsewhere))
    db = _db(app / ".crush")
    _session(db, "s1", T0)
    _answer(db, "s1", SONNET, "anthropic", "0.0123", 0)
    _answer(db, "s1", SONNET, "anthropic", "0.0456", 1)
    _answer(db, "s1", "gpt-5", "openai", "0.002", 2)
    child = "s1-m1$$toolu_01"
    _session(db, child, T0 + 5_000, parent="s1")
    _answer(db, child, "gpt-5", "openai", "0.0031")
    db.execute(
        "UPDATE sessions SET cost = cost + (SELECT cost FROM sessions WHERE id = ?) WHERE id = 's1'", (child,)
    )
    other = _db(elsewhere)
    _session(other, "s2", T0 + 3_600_000)
    _answer(other, "s2", "gpt-5", "openrouter", "0.25")
    server = _db(home / "crush" / ".crush")  # Crush's server's own workspace, in its global folder
    _session(server, "s3", T0)
    _answer(server, "s3", SONNET, "anthropic", "0.125")
    server.close()
    conn = connect(settings.db)
    first = agents.scan(conn, crush.LOG, settings, Pricer())
    note = crush.PRICE_NOTE
    s1 = _nanos("0.0123", "0.0456", "0.002", "0.0031")
    assert (first.events_added, dict(first.skipped), first.errors, dict(first.unpriced)) == (3, {}, [], {})
    assert _stored(settings) == {
        "s1": (T0, SONNET, "anthropic", str(app), 0, None, s1, note),
        "s2": (T0 + 3_600_000, "gpt-5", "openrouter", str(elsewhere), 0, None, _nanos("0.25"), note),
        "s3": (T0, SONNET, "anthropic", str(home / "crush"), 0, None, _nanos("0.125"), note),
    }
    _answer(db, "s1", SONNET, "anthropic", "0.5", 3)
    second = agents.scan(conn, crush.LOG, settings, Pricer())
    third = agents.scan(conn, crush.LOG, settings, Pricer())
    other.execute("DELETE FROM messages")
    other.execute("DELETE FROM sessions")
    full = agents.scan(conn, crush.LOG, settings, Pricer(), full=True)
    conn.close()
    db.close()
    other.close()
    assert (second.events_added, third.files_read, full.events_added) == (1, 0, 0)
    grown = _nanos("0.0123", "0.0456", "0.002", "0.0031", "0.5")
    stored = _stored(settings)
    assert (stored["s1"][5], stored["s2"][5], len(stored)) == (None, None, 3)
    assert (stored["s1"][6], stored["s2"][6]) == (grown, _nanos("0.25"))


def test_a_crush_session_with_no_cost_is_unpriced_never_zero_and_hostile_rows_are_skipped(
    home: Path, settings: Settings
) -> None:
    """A session with answers and a cost of 0 (a flat-rate model, usage Crush only estimated) is
    stored unpriced, and stays so after ``reprice`` (its model's rates on no tokens would make it
    $0); a session with no answer yet is no call; a cost that is text or beyond any session, a start
    that is no time, a cost with no answer: each counted as ``invalid_fields``, the good session
    still read, and counted again at the next read."""
    app = home / "work" / "app"
    _projects(home, (app, app / ".crush"))
    db = _db(app / ".crush")
    _session(db, "good", T0)
    _answer(db, "good", SONNET, "anthropic", "0.01")
    _session(db, "free", T0)  # Claude through a flat-rate subscription: Crush adds no cost
    _answer(db, "free", SONNET, "anthropic", "0")
    _session(db, "new", T0)
    for sid in ("text", "huge", "time", "lonely"):
        _session(db, sid, T0)
    for sid in ("text", "huge", "time"):
        _answer(db, sid, SONNET, "anthropic", "0.01")
    db.execute("UPDATE sessions SET cost = 'lots' WHERE id = 'text'")
    db.execute("UPDATE sessions SET cost = 1e300 WHERE id = 'huge'")
    db.execute("UPDATE sessions SET created_at = 'yesterday' WHERE id = 'time'")
    db.execute("UPDATE sessions SET cost = 0.3 WHERE id = 'lonely'")
    conn = connect(settings.db)
    scan = agents.scan(conn, crush.LOG, settings, Pricer())
    _answer(db, "good", SONNET, "anthropic", "0.02", 1)
    again = agents.scan(conn, crush.LOG, settings, Pricer())
    repriced = reprice_unpriced(conn, Pricer())
    conn.close()
    db.close()
    assert (dict(scan.skipped), scan.errors, dict(scan.unpriced)) == ({"invalid_fields": 4}, [], {})
    assert dict(scan.uncosted) == {SONNET: 1}
    assert (dict(again.skipped), again.events_added) == ({"invalid_fields": 4}, 1)
    stored = _stored(settings)
    assert sorted(stored) == ["free", "good"]
    assert stored["free"][4:7] == (0, None, None)
    assert stored["good"][6] == _nanos("0.01", "0.02")
    assert repriced.priced == 0


def test_crush_folders_come_from_its_project_list(
    home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Crush's global data folder is CRUSH_GLOBAL_DATA, else ``crush`` in XDG_DATA_HOME, else
    ~/.local/share/crush, as Crush's ``GlobalConfigData`` finds it; the folders read are it (its
    server's workspace) and the data folders its ``projects.json`` lists, each once (a relative
    one, which Crush never writes, is left out); with no list, or one that is not JSON, it alone."""
    app = tmp_path / "app"
    _projects(home, (app, app / ".crush"), (app / "x", app / ".crush"), (app, Path("rel/.crush")))
    assert crush.roots(load_settings()) == [home / "crush", app / ".crush" / crush.DATABASE]
    (home / "crush" / crush.PROJECTS).write_text('{"projects": [')
    assert crush.roots(load_settings()) == [home / "crush"]
    monkeypatch.delenv("CRUSH_GLOBAL_DATA")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert load_settings().crush_data_path() == tmp_path / "xdg" / "crush"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert load_settings().crush_data_path() == tmp_path / ".local" / "share" / "crush"


def test_a_crush_database_locked_or_of_another_schema_is_said(home: Path, settings: Settings) -> None:
    """Crush holding its database locked: the scan says so as an error and keeps it unread, the
    next reads it. A database without the columns read (another program's ``crush.db``) is
    counted as ``unknown_schema``; an empty one (Crush made it, no table yet) is no skipped line."""
    app, empty, odd = (home / "work" / n for n in ("app", "empty", "odd"))
    _projects(home, (app, app / ".crush"), (empty, empty / ".crush"), (odd, odd / ".crush"))
    db = _db(app / ".crush")
    db.execute("PRAGMA journal_mode = DELETE")  # readers wait on a writer's lock, unlike WAL
    _session(db, "s", T0)
    _answer(db, "s", SONNET, "anthropic", "0.01")
    (empty / ".crush").mkdir(parents=True)
    (empty / ".crush" / crush.DATABASE).write_bytes(b"")
    _db(odd / ".crush", "CREATE TABLE sessions (id TEXT, cost REAL);").close()
    db.execute("BEGIN EXCLUSIVE")
    db.execute("UPDATE sessions SET title = title WHERE id = 'none'")
    conn = connect(settings.db)
    locked = agents.scan(conn, crush.LOG, settings, Pricer())
    db.execute("ROLLBACK")
    db.close()
    after = agents.scan(conn, crush.LOG, settings, Pricer())
    conn.close()
    path = app / ".crush" / crush.DATABASE
    assert (locked.events_added, dict(locked.skipped)) == (0, {"unknown_schema": 1})
    assert [e.split(": ", 1) for e in locked.errors] == [
        [str(path), "locked by another process (Crush writing); read again next time"]
    ]
    assert (after.events_added, dict(after.skipped), after.errors) == (1, {"unknown_schema": 1}, [])


@pytest.mark.anyio
async def test_crush_spend_is_answered_by_agent_with_its_note(home: Path, client: Client) -> None:
    """get_spend by agent through the real server gives Crush's own cost of its sessions, read by the
    server's own refresh, its unpriced session named, and says how the cost was counted."""
    app = home / "work" / "app"
    _projects(home, (app, app / ".crush"))
    db = _db(app / ".crush")
    _session(db, "s1", T0)
    _answer(db, "s1", SONNET, "anthropic", "0.75")
    _session(db, "s2", T0)
    _answer(db, "s2", SONNET, "anthropic", "0")
    db.close()
    result = await client.call_tool(
        "get_spend", {"start": "2026-11-01", "end": "2026-11-30", "group_by": ["agent"]}
    )
    assert result.structured_content is not None
    rows = result.structured_content["rows"]
    by_agent = {r["group"]["agent"]: (Decimal(str(r["cost_usd"])), r["unpriced_requests"]) for r in rows}
    assert by_agent == {"crush": (Decimal("0.75"), 1)}
    warnings = result.structured_content["warnings"]
    assert f"2 calls priced with an assumption: {crush.PRICE_NOTE}" in warnings
    assert (
        f"{SONNET}: 1 call(s) (0 tokens) have no known price and are not in the total; the agent that "
        "logged them gave neither tokens nor a cost (as Crush does for a flat-rate model or usage it "
        "only estimated), so no price applies"
    ) in warnings


def test_cost_mcp_ingest_says_which_crush_sessions_logged_no_cost(
    home: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Crush user (no Claude Code folder) runs `cost-mcp ingest`: its line for Crush says the
    session Crush priced at $0 is unpriced because Crush logged neither tokens nor a cost, not that
    a price for its model would fix it (it would not: there are no tokens to price)."""
    import shutil

    from cost_mcp.cli import main

    app = home / "work" / "app"
    _projects(home, (app, app / ".crush"))
    db = _db(app / ".crush")
    _session(db, "s1", T0)
    _answer(db, "s1", SONNET, "anthropic", "0")
    db.close()
    shutil.rmtree(home / "claude", ignore_errors=True)
    monkeypatch.setenv("COLUMNS", "300")
    assert main(["ingest"]) == 0
    out = capsys.readouterr().out
    assert f"  1 call of {SONNET} logged neither tokens nor a cost: unpriced, shown as" in out, out
    assert "no price for" not in out


def test_a_listed_crush_data_folder_gives_its_own_database_never_a_walk_of_it(
    home: Path, settings: Settings, tmp_path: Path
) -> None:
    """``projects.json`` lists whatever data folder a project's config named (``data_directory``
    in its ``crush.json``): one naming ``/`` or a whole home folder made the scan walk all of it
    and read every ``crush.db`` below, other users' and other projects' data folders included.
    A listed folder gives the ``crush.db`` Crush keeps in it and nothing else."""
    wide = tmp_path / "wide"  # stands for "/" or someone's home: a folder holding others' data
    _projects(home, (wide, wide))
    own = _db(wide)
    _session(own, "mine", T0)
    _answer(own, "mine", SONNET, "anthropic", "0.01")
    own.close()
    theirs = _db(wide / "home" / "bob" / "proj" / ".crush")  # a database the list never named
    _session(theirs, "bobs", T0)
    _answer(theirs, "bobs", SONNET, "anthropic", "9")
    theirs.close()
    conn = connect(settings.db)
    try:
        scan = agents.scan(conn, crush.LOG, settings, Pricer())
    finally:
        conn.close()
    assert (scan.events_added, scan.errors) == (1, [])
    assert list(_stored(settings)) == ["mine"]


def test_a_listed_crush_database_that_links_out_of_its_folder_is_not_opened(
    home: Path, settings: Settings, tmp_path: Path
) -> None:
    """A listed folder's ``crush.db`` that is a symlink to a file elsewhere (another user's
    database, a private file) is passed over, as the walk of a folder passes over such a link."""
    elsewhere = _db(tmp_path / "elsewhere")
    _session(elsewhere, "theirs", T0)
    _answer(elsewhere, "theirs", SONNET, "anthropic", "9")
    elsewhere.close()
    linked, own = tmp_path / "linked", tmp_path / "own"
    linked.mkdir()
    (linked / crush.DATABASE).symlink_to(tmp_path / "elsewhere" / crush.DATABASE)
    db = _db(own)
    _session(db, "mine", T0)
    _answer(db, "mine", SONNET, "anthropic", "0.01")
    db.close()
    _projects(home, (linked, linked), (own, own))
    assert crush.roots(load_settings()) == [home / "crush", own / crush.DATABASE]
    conn = connect(settings.db)
    try:
        agents.scan(conn, crush.LOG, settings, Pricer())
    finally:
        conn.close()
    assert list(_stored(settings)) == ["mine"]
