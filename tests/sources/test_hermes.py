"""Hermes Agent's usage read from a real ``state.db`` in Hermes's own layout and schema.

The tables are Hermes's ``sessions`` (the columns its token accounting writes) and
``session_model_usage`` as ``SCHEMA_SQL`` creates them (NousResearch/hermes-agent,
``hermes_state_common.py`` at 00704d08). Calls are written as Hermes writes them
(``hermes_state_usage.py`` at 0ebb0462): a main-loop call adds its usage to the session's row and to
its (model, route, task) row of ``session_model_usage`` in one transaction (``update_token_counts``);
an auxiliary call (vision, compression, titles...) to its ``session_model_usage`` row alone
(``record_auxiliary_usage``); a gateway's running totals set the session's row (``absolute``),
writing no usage row; a compression continuation is a new session row with no counts of its own
(``hermes_state_compression.py`` at 04c18865, ``_publish_child_session_row``).
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from mcp import Client

from cost_mcp.config import Settings, load_settings
from cost_mcp.money import from_nanos, to_nanos
from cost_mcp.periods import ms_to_datetime
from cost_mcp.pricing import Price, Pricer, Tokens
from cost_mcp.sources import agents
from cost_mcp.sources.agents import hermes
from cost_mcp.store.connection import connect

SESSIONS = """
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    user_id TEXT,
    model TEXT,
    model_config TEXT,
    parent_session_id TEXT,
    started_at REAL NOT NULL,
    ended_at REAL,
    end_reason TEXT,
    message_count INTEGER DEFAULT 0,
    tool_call_count INTEGER DEFAULT 0,
    input_tokens INTEGER DEFAULT 0,
    output_tokens INTEGER DEFAULT 0,
    cache_read_tokens INTEGER DEFAULT 0,
    cache_write_tokens INTEGER DEFAULT 0,
    reasoning_tokens INTEGER DEFAULT 0,
    cwd TEXT,
    billing_provider TEXT,
    billing_base_url TEXT,
    billing_mode TEXT,
    estimated_cost_usd REAL,
    actual_cost_usd REAL,
    cost_status TEXT,
    cost_source TEXT,
    pricing_version TEXT,
    title TEXT,
    api_call_count INTEGER DEFAULT 0,
    archived INTEGER NOT NULL DEFAULT 0,
    FOREIGN KEY (parent_session_id) REFERENCES sessions(id)
)
"""
USAGE = """
CREATE TABLE session_model_usage (
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    model TEXT NOT NULL,
    billing_provider TEXT NOT NULL DEFAULT '',
    billing_base_url TEXT NOT NULL DEFAULT '',
    billing_mode TEXT NOT NULL DEFAULT '',
    task TEXT NOT NULL DEFAULT '',
    api_call_count INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens INTEGER NOT NULL DEFAULT 0,
    estimated_cost_usd REAL NOT NULL DEFAULT 0,
    actual_cost_usd REAL NOT NULL DEFAULT 0,
    cost_status TEXT,
    cost_source TEXT,
    first_seen REAL,
    last_seen REAL,
    PRIMARY KEY (session_id, model, billing_provider, billing_base_url, billing_mode, task)
)
"""
SONNET = "claude-sonnet-4-5"
HAIKU = "claude-haiku-4-5"
FLASH = "gemini-2.5-flash"
STARTED = 1_795_165_200.25  # 2026-11-20T09:00:00.250Z, as time.time() gives it
START_MS = 1_795_165_200_250


def _db(path: Path, usage: bool = True) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")  # as Hermes opens it
    db.execute(SESSIONS)
    if usage:
        db.execute(USAGE)
    return db


def _home_db(home: Path, usage: bool = True) -> sqlite3.Connection:
    return _db(home / "hermes" / hermes.DATABASE, usage)


def _session(
    db: sqlite3.Connection,
    sid: str,
    model: str = SONNET,
    provider: str = "anthropic",
    parent: str | None = None,
    source: str = "cli",
    config: str | None = None,
) -> None:
    """A session row as ``create_session`` (or a compression's ``_publish_child_session_row``) makes
    it: no token counts of its own."""
    db.execute(
        "INSERT INTO sessions (id, source, model, model_config, parent_session_id, started_at, cwd, "
        "billing_provider) VALUES (?, ?, ?, ?, ?, ?, '/work/app', ?)",
        (sid, source, model, config, parent, STARTED, provider),
    )


def _compressed(db: sqlite3.Connection, sid: str) -> None:
    """The session ended by a compression (``end_session(..., 'compression')``)."""
    db.execute(
        "UPDATE sessions SET ended_at = ?, end_reason = 'compression' WHERE id = ?", (STARTED + 60, sid)
    )


def _usage_row(
    db: sqlite3.Connection,
    sid: str,
    task: str,
    model: str,
    provider: str,
    counts: tuple[int, int, int, int],
    estimated: float | None,
    actual: float | None,
) -> None:
    """Add a delta to the (session, model, route, task) row of ``session_model_usage``, creating it
    the first time, as ``_record_model_usage`` does."""
    db.execute(
        """
        INSERT INTO session_model_usage (session_id, model, billing_provider, task, api_call_count,
            input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, estimated_cost_usd,
            actual_cost_usd, first_seen, last_seen)
        VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT(session_id, model, billing_provider, billing_base_url, billing_mode, task) DO UPDATE SET
            api_call_count = api_call_count + 1,
            input_tokens = input_tokens + excluded.input_tokens,
            output_tokens = output_tokens + excluded.output_tokens,
            cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
            cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
            estimated_cost_usd = estimated_cost_usd + excluded.estimated_cost_usd,
            actual_cost_usd = actual_cost_usd + excluded.actual_cost_usd,
            last_seen = excluded.last_seen
        """,
        (sid, model, provider, task, *counts, float(estimated or 0), float(actual or 0), STARTED, STARTED),
    )


def _main(
    db: sqlite3.Connection,
    sid: str,
    counts: tuple[int, int, int, int],
    estimated: float | None = None,
    actual: float | None = None,
    *,
    model: str = SONNET,
    provider: str = "anthropic",
    task: str = "",
    reasoning: int = 0,
) -> None:
    """One main-loop call (or a voice turn's, ``task='voice_chat'``) as ``update_token_counts``
    records it: the session's counters and costs grown in place, and its usage row, together."""
    db.execute("BEGIN")
    db.execute(
        """
        UPDATE sessions SET input_tokens = input_tokens + ?, output_tokens = output_tokens + ?,
            cache_read_tokens = cache_read_tokens + ?, cache_write_tokens = cache_write_tokens + ?,
            reasoning_tokens = reasoning_tokens + ?,
            estimated_cost_usd = COALESCE(estimated_cost_usd, 0) + COALESCE(?, 0),
            actual_cost_usd = CASE WHEN ? IS NULL THEN actual_cost_usd
                ELSE COALESCE(actual_cost_usd, 0) + ? END,
            api_call_count = COALESCE(api_call_count, 0) + 1
        WHERE id = ?
        """,
        (*counts, reasoning, estimated, actual, actual, sid),
    )
    _usage_row(db, sid, task, model, provider, counts, estimated, actual)
    db.execute("COMMIT")


def _aux(
    db: sqlite3.Connection,
    sid: str,
    task: str,
    counts: tuple[int, int, int, int],
    estimated: float | None = None,
    *,
    model: str = FLASH,
    provider: str = "gemini",
) -> None:
    """One auxiliary call as ``record_auxiliary_usage`` records it: its usage row alone."""
    _usage_row(db, sid, task, model, provider, counts, estimated, None)


def _absolute(db: sqlite3.Connection, sid: str, counts: tuple[int, int, int, int], estimated: float) -> None:
    """The gateway's path (``update_token_counts(absolute=True)``): the session's counters set to
    its agent's running totals, no usage row written."""
    db.execute(
        "UPDATE sessions SET input_tokens = ?, output_tokens = ?, cache_read_tokens = ?, "
        "cache_write_tokens = ?, estimated_cost_usd = COALESCE(?, 0) WHERE id = ?",
        (*counts, estimated, sid),
    )


Stored = dict[str, tuple[object, ...]]


def _stored(settings: Settings) -> Stored:
    """message id -> (ts, input, cache read, cache write 5m, output, model, provider, session,
    project, cost, reported cost)."""
    conn = connect(settings.db)
    try:
        got = conn.execute(
            "SELECT message_id, ts_ms, input_tokens, cache_read_tokens, cache_write_5m_tokens, "
            "output_tokens, model, provider, session_id, project, cost_nanos, reported_cost_nanos "
            "FROM usage_events WHERE source = 'hermes' AND counted = 1"
        ).fetchall()
    finally:
        conn.close()
    return {str(r[0]): tuple(r[1:]) for r in got}


def _tokens_by_model(stored: Stored) -> dict[str, tuple[int, int, int, int]]:
    """(input, cache read, cache write, output) summed per model."""
    found: dict[str, tuple[int, int, int, int]] = {}
    for row in stored.values():
        was = found.get(str(row[5]), (0, 0, 0, 0))
        found[str(row[5])] = (
            was[0] + int(str(row[1])),
            was[1] + int(str(row[2])),
            was[2] + int(str(row[3])),
            was[3] + int(str(row[4])),
        )
    return found


def _reported(stored: Stored, prefix: str = "") -> int:
    return sum(int(str(r[10])) for k, r in stored.items() if k.startswith(prefix) and r[10] is not None)


def _price(tokens: Tokens, model: str = SONNET, provider: str = "anthropic") -> int:
    priced = Pricer().price(tokens, model, provider, ms_to_datetime(START_MS))
    assert isinstance(priced, Price)
    return priced.total_nanos


def test_main_loop_voice_and_auxiliary_calls_are_each_counted_once(home: Path, settings: Settings) -> None:
    """A session with main-loop calls, a voice turn on another model (both in the session's row and
    in their usage rows) and auxiliary calls (vision, compression: in their usage rows only). Read,
    grown by a call of each kind, read again, and read whole again: every call's tokens are stored
    once, at the model that made it. Read from the session's row alone, the vision and compression
    calls' 61,000 tokens were missing; subtracted from it as if it held them, the main loop's were
    short by as much; added to the main rows, the main loop's were counted twice."""
    db = _home_db(home)
    sid = "20261120_090000_ab12"
    _session(db, sid)
    _main(db, sid, (2_000, 1_500, 30_000, 5_000), estimated=0.25, reasoning=400)
    _main(db, sid, (300, 200, 0, 0), estimated=0.01, model=HAIKU, task="voice_chat")
    _aux(db, sid, "vision", (40_000, 300, 0, 0), estimated=0.0125)
    _aux(db, sid, "compression", (20_000, 700, 0, 0), estimated=0.0075)
    conn = connect(settings.db)
    first = agents.scan(conn, hermes.LOG, settings, Pricer())
    _main(db, sid, (1_000, 900, 35_000, 0), estimated=0.125)
    _aux(db, sid, "vision", (1_000, 10, 0, 0), estimated=0.0005)
    second = agents.scan(conn, hermes.LOG, settings, Pricer())
    stored = _stored(settings)
    full = agents.scan(conn, hermes.LOG, settings, Pricer(), full=True)
    conn.close()
    db.close()
    assert (first.skipped, first.errors, second.errors, full.events_added) == ({}, [], [], 0)
    # The second read writes only what grew: of the main row, input, output, the cache-read row
    # that filled and the two after it, and the cache-write row (the same tokens, a new share of the
    # row's cost); of the vision row, its first input row (a new share), its second and its output.
    assert (first.events_added, second.events_added) == (11, 9)
    assert _tokens_by_model(stored) == {
        SONNET: (3_000, 65_000, 5_000, 2_400),
        HAIKU: (300, 0, 0, 200),
        FLASH: (61_000, 0, 0, 1_010),
    }
    # No part of the session's own row is left over: its main-loop rows hold all of it.
    assert not [k for k in stored if ":u:" not in k]
    assert {r[7] for r in stored.values()} == {sid}
    assert {(r[0], r[8]) for r in stored.values()} == {(START_MS, "/work/app")}
    assert {(r[5], r[6]) for r in stored.values()} == {
        (SONNET, "anthropic"),
        (HAIKU, "anthropic"),
        (FLASH, "google"),  # Hermes's Google AI Studio, priced as Google's
    }
    # Hermes's own estimate of each call, added up exactly over the rows that carry it.
    assert _reported(stored) == to_nanos(Decimal("0.4055"))
    # Rows of at most 32,000 tokens of one kind, each priced at base rates.
    assert max(int(str(r[2])) for r in stored.values()) == 32_000
    assert len([k for k in stored if ":cr:" in k]) == 3


def test_gateway_totals_and_older_databases_count_the_session_row_and_auxiliary_calls(
    home: Path, settings: Settings
) -> None:
    """A gateway session (running totals set on the session's row, no main-loop usage rows) with a
    title call: the session's row counted at its model, the title call beside it. A session row of
    more than its main-loop rows (calls from before Hermes kept them): the rest counted at the
    session's model. A ``state.db`` of a Hermes before ``session_model_usage``, and one whose
    ``session_model_usage`` predates ``task``: their rows read as the main loop's."""
    db = _home_db(home)
    _session(db, "gateway", provider="openrouter", model="anthropic/claude-sonnet-4.5")
    _absolute(db, "gateway", (10_000, 2_000, 50_000, 0), estimated=0.2)
    _aux(db, "gateway", "title_generation", (900, 18, 0, 0), estimated=0.001)
    _session(db, "upgraded")
    db.execute("UPDATE sessions SET input_tokens = 7000, output_tokens = 70 WHERE id = 'upgraded'")
    _main(db, "upgraded", (1_000, 10, 0, 0))
    db.close()
    old = _db(home / "hermes" / "profiles" / "old" / hermes.DATABASE, usage=False)
    _session(old, "gateway")  # the same id as the default home's: another store, another session
    old.execute("UPDATE sessions SET input_tokens = 4000, output_tokens = 40 WHERE id = 'gateway'")
    old.close()
    untasked = _db(home / "hermes" / "profiles" / "untasked" / hermes.DATABASE, usage=False)
    untasked.execute(USAGE.replace("task TEXT NOT NULL DEFAULT '',", "").replace(", task)", ")"))
    _session(untasked, "s")
    untasked.execute("UPDATE sessions SET input_tokens = 5000 WHERE id = 's'")
    untasked.execute(
        "INSERT INTO session_model_usage (session_id, model, billing_provider, input_tokens) "
        "VALUES ('s', ?, 'anthropic', 2000)",
        (HAIKU,),
    )
    untasked.close()
    conn = connect(settings.db)
    scan = agents.scan(conn, hermes.LOG, settings, Pricer())
    conn.close()
    stored = _stored(settings)
    assert (scan.skipped, scan.errors) == ({}, [])
    session_rows = {k: r for k, r in stored.items() if k.startswith("gateway:") and ":u:" not in k}
    assert {k: r[1:5] + r[5:7] for k, r in session_rows.items()} == {
        "gateway:in:0": (10_000, 0, 0, 0, "anthropic/claude-sonnet-4.5", "openrouter"),
        "gateway:cr:0": (0, 32_000, 0, 0, "anthropic/claude-sonnet-4.5", "openrouter"),
        "gateway:cr:1": (0, 18_000, 0, 0, "anthropic/claude-sonnet-4.5", "openrouter"),
        "gateway:out": (0, 0, 0, 2_000, "anthropic/claude-sonnet-4.5", "openrouter"),
    }
    assert _reported(session_rows) == to_nanos(Decimal("0.2"))
    assert _tokens_by_model({k: r for k, r in stored.items() if k.startswith("gateway:u:")}) == {
        FLASH: (900, 0, 0, 18)
    }
    assert _tokens_by_model({k: r for k, r in stored.items() if k.startswith("upgraded:")}) == {
        SONNET: (8_000, 0, 0, 80)
    }
    assert _tokens_by_model({k: r for k, r in stored.items() if k.startswith("old/")}) == {
        SONNET: (4_000, 0, 0, 40)
    }
    assert _tokens_by_model({k: r for k, r in stored.items() if k.startswith("untasked/")}) == {
        HAIKU: (2_000, 0, 0, 0),
        SONNET: (3_000, 0, 0, 0),
    }


def test_a_compression_continuation_counts_its_own_calls_only(home: Path, settings: Settings) -> None:
    """Compression ends a session and publishes its continuation with no counts of its own; the
    next calls go to the continuation, the summary call (an auxiliary ``compression`` call) to the
    session the turn began in. Each call is counted once: the continuation does not repeat its
    parent's tokens."""
    db = _home_db(home)
    _session(db, "parent")
    _main(db, "parent", (5_000, 500, 20_000, 1_000), estimated=0.1)
    _aux(db, "parent", "compression", (25_000, 800, 0, 0), estimated=0.01)
    _compressed(db, "parent")
    _session(db, "child", parent="parent")
    conn = connect(settings.db)
    agents.scan(conn, hermes.LOG, settings, Pricer())
    _main(db, "child", (1_000, 100, 4_000, 0), estimated=0.02)
    agents.scan(conn, hermes.LOG, settings, Pricer())
    conn.close()
    db.close()
    stored = _stored(settings)
    assert _tokens_by_model(stored) == {SONNET: (6_000, 24_000, 1_000, 600), FLASH: (25_000, 0, 0, 800)}
    assert {str(r[7]) for k, r in stored.items() if k.startswith("child:")} == {"child"}
    assert _reported(stored) == to_nanos(Decimal("0.13"))


def test_a_gateway_continuation_set_to_its_agents_running_totals_is_counted_once(
    home: Path, settings: Settings
) -> None:
    """A gateway's cached agent keeps its running totals through compressions and sets them on each
    continuation's row (Hermes from a8df7f99 to 20441cf2, 2026-03-26 to 04-02: ``gateway/session.py``'s
    ``set_token_counts(absolute=True)``, ``run_agent._compress_context`` rotating the session id, in
    kshitijk4poor/hermes-agent at 4b2f865e, a copy of Hermes's history): a chain of three rows
    holding 5,000, 8,000 and 9,000 input tokens is 9,000 tokens, not 22,000. Not taken for a repeat:
    a subagent fork of the parent (an agent of its own), a CLI continuation (the CLI added per call),
    a continuation whose agent was made again (a restart: it holds less than the parent in some
    kind), and one begun after 2026-04-02 (added to per call). A Hermes adding per call that set the
    totals too: the continuation's calls once."""
    db = _home_db(home, usage=False)
    march = 1_774_688_400  # 2026-03-28T09:00Z, when Hermes's gateway set its rows
    _session(db, "p0", source="telegram")
    _absolute(db, "p0", (5_000, 500, 20_000, 1_000), estimated=0.1)
    _compressed(db, "p0")
    _session(db, "p1", parent="p0", source="telegram")
    _absolute(db, "p1", (8_000, 800, 30_000, 1_000), estimated=0.15)
    _compressed(db, "p1")
    _session(db, "p2", parent="p1", source="telegram")
    _absolute(db, "p2", (9_000, 900, 36_000, 1_200), estimated=0.17)
    _session(db, "fork", parent="p0", source="telegram", config='{"_delegate_from": "p0"}')
    _absolute(db, "fork", (6_000, 600, 21_000, 1_000), estimated=0.1)
    _session(db, "restarted", parent="p0", source="telegram")
    _absolute(db, "restarted", (7_000, 700, 1_000, 0), estimated=0.01)
    db.execute("UPDATE sessions SET started_at = ?", (march,))
    # Begun after 2026-04-02: a Hermes adding per call, before it counted calls; its own calls.
    _session(db, "april", parent="p0", source="telegram")
    _absolute(db, "april", (9_000, 900, 36_000, 1_200), estimated=0.07)
    _session(db, "c0")
    db.execute("UPDATE sessions SET input_tokens = 1000, api_call_count = 2 WHERE id = 'c0'")
    _compressed(db, "c0")
    _session(db, "c1", parent="c0")
    db.execute("UPDATE sessions SET input_tokens = 3000, api_call_count = 4 WHERE id = 'c1'")
    db.close()
    newer = _db(home / "hermes" / "profiles" / "newer" / hermes.DATABASE)
    _session(newer, "q0", source="discord")
    _main(newer, "q0", (5_000, 500, 20_000, 1_000), estimated=0.1)
    _compressed(newer, "q0")
    _session(newer, "q1", parent="q0", source="discord")
    _main(newer, "q1", (1_000, 100, 4_000, 0), estimated=0.02)
    _absolute(newer, "q1", (6_000, 600, 24_000, 1_000), estimated=0.12)
    newer.close()
    conn = connect(settings.db)
    scan = agents.scan(conn, hermes.LOG, settings, Pricer())
    conn.close()
    stored = _stored(settings)
    assert (scan.skipped, scan.errors) == ({}, [])

    def of(*sessions: str) -> Stored:
        return {k: r for k, r in stored.items() if str(r[7]) in sessions}

    assert _tokens_by_model(of("p0", "p1", "p2")) == {SONNET: (9_000, 36_000, 1_200, 900)}
    assert _reported(of("p0", "p1", "p2")) == to_nanos(Decimal("0.17"))
    assert _tokens_by_model(of("fork")) == {SONNET: (6_000, 21_000, 1_000, 600)}
    assert _tokens_by_model(of("restarted")) == {SONNET: (7_000, 1_000, 0, 700)}
    assert _tokens_by_model(of("april")) == {SONNET: (9_000, 36_000, 1_200, 900)}
    assert _tokens_by_model(of("c0", "c1")) == {SONNET: (4_000, 0, 0, 0)}
    assert _tokens_by_model(of("newer/q0", "newer/q1")) == {SONNET: (6_000, 24_000, 1_000, 600)}
    assert _reported(of("newer/q0", "newer/q1")) == to_nanos(Decimal("0.12"))


@pytest.mark.anyio
async def test_hermes_spend_by_agent_is_what_hermes_billed_with_its_auxiliary_calls(
    home: Path, client: Client
) -> None:
    """get_spend by agent through the real server: a main-loop call the provider billed
    (``actual_cost_usd``) costs that, not Hermes's estimate; the session's vision call costs Hermes's
    estimate of it; a profile's session, whose calls Hermes priced at nothing, is priced by its
    tokens. Read from the sessions alone, the answer lacked the vision call's $0.02."""
    db = _home_db(home)
    _session(db, "billed")
    _main(db, "billed", (10_000, 500, 0, 0), estimated=0.0375, actual=0.04)
    _aux(db, "billed", "vision", (30_000, 200, 0, 0), estimated=0.02)
    db.close()
    profile = _db(home / "hermes" / "profiles" / "work" / hermes.DATABASE)
    _session(profile, "billed")  # the same id in another profile: its own session
    _main(profile, "billed", (1_000, 100, 0, 0))
    profile.close()
    result = await client.call_tool(
        "get_spend", {"start": "2026-11-01", "end": "2026-11-30", "group_by": ["agent"]}
    )
    assert result.structured_content is not None
    by_agent = {r["group"]["agent"]: Decimal(str(r["cost_usd"])) for r in result.structured_content["rows"]}
    ours = _price(Tokens(input=1_000)) + _price(Tokens(output=100))
    assert by_agent == {"hermes": Decimal("0.06") + from_nanos(ours)}


def test_hermes_providers_are_priced_as_their_vendors(home: Path, settings: Settings) -> None:
    """Hermes names its providers its own way (``hermes_cli/auth.py``): each call is stored under the
    vendor genai-prices prices it as, a gateway's (Nous Portal, a custom endpoint) under its model's
    vendor, and a provider no price is known for under Hermes's own name, unpriced."""
    db = _home_db(home)
    routes = {
        "studio": ("gemini", FLASH),
        "codex": ("openai-codex", "gpt-5"),
        "portal": ("nous", "anthropic/claude-sonnet-4.5"),
        "proxy": ("custom", SONNET),
        "router": ("openrouter", "anthropic/claude-sonnet-4.5"),
        "lab": ("lmstudio", "qwen3-coder-30b"),
    }
    for sid, (provider, model) in routes.items():
        _session(db, sid, model=model, provider=provider)
        _main(db, sid, (1_000, 100, 0, 0), model=model, provider=provider)
    db.close()
    conn = connect(settings.db)
    scan = agents.scan(conn, hermes.LOG, settings, Pricer())
    conn.close()
    stored = _stored(settings)
    by_session = {str(r[7]): (r[6], r[9] is not None) for r in stored.values()}
    assert by_session == {
        "studio": ("google", True),
        "codex": ("openai", True),
        "portal": ("anthropic", True),
        "proxy": ("anthropic", True),
        "router": ("openrouter", True),
        "lab": ("lmstudio", False),
    }
    assert scan.unpriced == {"qwen3-coder-30b": 2}


def test_hostile_hermes_rows_are_counted_and_skipped(home: Path, settings: Settings) -> None:
    """Counts that are text, negative or absurd (in a session's row or a usage row), tokens of no
    model, a start that is no time, usage of no session: each counted as ``invalid_fields`` at every
    read, the good session still read; a model no price is known for is stored unpriced, never at
    $0, and an idle session gives nothing."""
    db = _home_db(home)
    for sid in ("good", "text", "negative", "huge", "nomodel", "time", "badusage", "local"):
        model = "my-own-finetune-7b" if sid == "local" else SONNET
        _session(db, sid, model=model, provider="ollama" if sid == "local" else "anthropic")
        _main(db, sid, (1_000, 100, 0, 0), model=model, provider="ollama" if sid == "local" else "anthropic")
    db.execute("UPDATE sessions SET input_tokens = 'many' WHERE id = 'text'")
    db.execute("UPDATE sessions SET output_tokens = -5 WHERE id = 'negative'")
    db.execute("UPDATE sessions SET cache_read_tokens = 9223372036854775807 WHERE id = 'huge'")
    db.execute("UPDATE sessions SET model = NULL, input_tokens = 2000 WHERE id = 'nomodel'")
    db.execute("UPDATE sessions SET started_at = 'yesterday' WHERE id = 'time'")
    db.execute("UPDATE session_model_usage SET output_tokens = 'x' WHERE session_id = 'badusage'")
    db.execute("PRAGMA foreign_keys = OFF")
    _aux(db, "gone", "vision", (10, 1, 0, 0))
    _session(db, "idle")
    conn = connect(settings.db)
    scan = agents.scan(conn, hermes.LOG, settings, Pricer())
    _main(db, "good", (10, 1, 0, 0))
    db.close()
    again = agents.scan(conn, hermes.LOG, settings, Pricer())
    conn.close()
    assert (dict(scan.skipped), scan.errors) == ({"invalid_fields": 7}, [])
    assert (dict(again.skipped), again.events_added) == ({"invalid_fields": 7}, 2)
    stored = _stored(settings)
    assert sorted(k.split(":u:")[0] + (":u" if ":u:" in k else "") for k in stored) == [
        "good:u",
        "good:u",
        "local:u",
        "local:u",
    ]
    assert _tokens_by_model(stored) == {SONNET: (1_010, 0, 0, 101), "my-own-finetune-7b": (1_000, 0, 0, 100)}
    assert [r[9] for r in stored.values() if r[5] == "my-own-finetune-7b"] == [None, None]
    assert scan.unpriced == {"my-own-finetune-7b": 2}


def test_a_hermes_database_locked_or_of_another_schema(home: Path, settings: Settings) -> None:
    """Hermes holding its database locked: an error of that scan, the next reads it. A ``state.db``
    without the cost columns (an older Hermes), or whose ``session_model_usage`` lacks its token
    columns, is one ``unknown_schema`` skip each; an empty one is none."""
    path = home / "hermes" / hermes.DATABASE
    db = _home_db(home)
    db.execute("PRAGMA journal_mode = DELETE")  # readers wait on a writer's lock, unlike WAL
    _session(db, "s")
    _main(db, "s", (1_000, 100, 0, 0))
    db.execute("BEGIN EXCLUSIVE")
    db.execute("UPDATE sessions SET title = title WHERE id = 'none'")
    conn = connect(settings.db)
    locked = agents.scan(conn, hermes.LOG, settings, Pricer())
    db.execute("ROLLBACK")
    db.close()
    after = agents.scan(conn, hermes.LOG, settings, Pricer())
    legacy = _db(home / "hermes" / "profiles" / "legacy" / hermes.DATABASE, usage=False)
    legacy.execute("ALTER TABLE sessions DROP COLUMN actual_cost_usd")
    legacy.close()
    other = _db(home / "hermes" / "profiles" / "other" / hermes.DATABASE, usage=False)
    other.execute("CREATE TABLE session_model_usage (session_id TEXT, model TEXT, tokens INTEGER)")
    other.close()
    empty = home / "hermes" / "profiles" / "new" / hermes.DATABASE
    empty.parent.mkdir(parents=True)
    empty.write_bytes(b"")
    schemas = agents.scan(conn, hermes.LOG, settings, Pricer())
    conn.close()
    assert [e.split(": ", 1) for e in locked.errors] == [
        [str(path), "locked by another process (Hermes Agent writing); read again next time"]
    ]
    assert (locked.events_added, dict(locked.skipped)) == (0, {})
    assert (after.events_added, after.errors) == (2, [])
    assert (dict(schemas.skipped), schemas.events_added, schemas.errors) == ({"unknown_schema": 2}, 0, [])


@pytest.mark.anyio
async def test_a_hermes_database_of_another_schema_is_named_in_answers(home: Path, client: Client) -> None:
    """What a user of an older Hermes sees: not an empty total that looks complete, but a warning
    naming the skipped database and why."""
    legacy = _home_db(home, usage=False)
    legacy.execute("ALTER TABLE sessions DROP COLUMN billing_provider")
    legacy.close()
    result = await client.call_tool("get_spend", {"period": "this_month", "group_by": ["agent"]})
    warnings = result.structured_content["warnings"] if result.structured_content else []
    [warning] = [w for w in warnings if "Hermes" in w]
    assert warning.startswith(
        "1 Hermes Agent log line in 1 file was skipped and is not counted (unknown_schema 1)"
    )


def test_hermes_home_follows_hermes_home_as_hermes_reads_it(
    home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """HERMES_HOME moves Hermes's home (one naming a profile's home gives its root, whose every
    profile is read); without it, ``~/.hermes`` with HERMES_DATA_DIR_SUFFIX
    (``hermes_constants._get_platform_default_hermes_home``)."""
    assert load_settings().hermes_root_path() == home / "hermes"
    monkeypatch.setenv("HERMES_HOME", str(home / "hermes" / "profiles" / "work"))
    assert load_settings().hermes_root_path() == home / "hermes"
    monkeypatch.delenv("HERMES_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("HERMES_DATA_DIR_SUFFIX", "-dev")
    assert load_settings().hermes_root_path() == tmp_path / ".hermes-dev"


def test_a_hermes_database_replaced_by_an_older_copy_is_neither_lost_nor_counted_twice(
    home: Path, settings: Settings
) -> None:
    """A ``state.db`` put back from an older copy (a new, smaller file with smaller totals): read from
    nothing again, its rows are the ones stored or smaller, so the ledger keeps what it counted,
    once, with no error or skipped line; the calls added after count from where the totals pass
    what was stored."""
    path = home / "hermes" / hermes.DATABASE
    db = _home_db(home)
    _session(db, "s")
    _main(db, "s", (30_000, 1_000, 0, 0), estimated=0.1)
    _aux(db, "s", "vision", (5_000, 50, 0, 0), estimated=0.01)
    backup = home / "backup.db"
    db.execute(f"VACUUM INTO '{backup}'")
    _main(db, "s", (30_000, 1_000, 0, 0), estimated=0.1)
    db.close()
    conn = connect(settings.db)
    agents.scan(conn, hermes.LOG, settings, Pricer())
    before = _stored(settings)
    path.unlink()
    for side in ("-wal", "-shm"):
        path.with_name(path.name + side).unlink(missing_ok=True)
    backup.rename(path)
    restored = agents.scan(conn, hermes.LOG, settings, Pricer())
    conn.close()
    assert (restored.events_added, restored.skipped, restored.errors) == (0, {}, [])
    assert _stored(settings) == before
    assert _tokens_by_model(before) == {SONNET: (60_000, 0, 0, 2_000), FLASH: (5_000, 0, 0, 50)}


def test_a_profile_linked_out_of_hermes_home_is_counted_not_read(home: Path, settings: Settings) -> None:
    """``profiles/<name>`` a symlink to a folder outside Hermes's home (another user's Hermes, any
    ``state.db`` a hostile tree points at): its database was read and its calls counted as this
    user's, where every other reader passes such a link over. Now counted as ``link_outside``, never
    opened; the profile beside it is read as before."""
    own = _db(home / "hermes" / "profiles" / "work" / hermes.DATABASE)
    _session(own, "mine")
    _main(own, "mine", (1_000, 100, 0, 0))
    own.close()
    elsewhere = _db(home / "someone-else" / ".hermes" / hermes.DATABASE)
    _session(elsewhere, "theirs")
    _main(elsewhere, "theirs", (50_000, 5_000, 0, 0))
    elsewhere.close()
    (home / "hermes" / "profiles" / "stolen").symlink_to(home / "someone-else" / ".hermes")
    conn = connect(settings.db)
    scan = agents.scan(conn, hermes.LOG, settings, Pricer())
    conn.close()
    assert (dict(scan.skipped), scan.errors) == ({"link_outside": 1}, [])
    assert {r[7] for r in _stored(settings).values()} == {"work/mine"}


def test_a_profile_linked_to_another_inside_hermes_home_is_read_once(home: Path, settings: Settings) -> None:
    """``profiles/alias`` a symlink to ``profiles/work`` (or to the home itself): the one database was
    read under both names, its session ids prefixed with each, so every call counted twice. Now a
    database is read once, under its own folder's name, as a walk reads a linked file once."""
    own = _db(home / "hermes" / "profiles" / "work" / hermes.DATABASE)
    _session(own, "mine")
    _main(own, "mine", (1_000, 100, 0, 0))
    own.close()
    main = _home_db(home)
    _session(main, "default")
    _main(main, "default", (2_000, 200, 0, 0))
    main.close()
    (home / "hermes" / "profiles" / "alias").symlink_to(home / "hermes" / "profiles" / "work")
    (home / "hermes" / "profiles" / "again").symlink_to(home / "hermes")
    conn = connect(settings.db)
    scan = agents.scan(conn, hermes.LOG, settings, Pricer())
    conn.close()
    assert (dict(scan.skipped), scan.errors) == ({}, [])
    stored = _stored(settings)
    assert sorted({str(r[7]) for r in stored.values()}) == ["default", "work/mine"]
    assert _tokens_by_model(stored) == {SONNET: (3_000, 0, 0, 300)}
