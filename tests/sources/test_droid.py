"""Factory Droid's session totals read from real files in Droid's own layout.

Droid is closed source; the files are written as Factory's own SDK describes them
(Factory-AI/droid-sdk-typescript: ``src/protocol/session-settings-schema.ts`` at 3b01aea8, the
``SessionSettingsSchema`` persisted to ``<id>.settings.json``; ``src/protocol/session.ts`` at
60621c2b, its ``TokenUsageSchema``; ``src/schemas/session-metadata.ts`` and
``src/session-discovery.ts`` at 41210e3d: the transcript ``<id>.jsonl`` opening with a
``session_start`` line, each project's sessions in ``-<work folder, slashes as dashes>``) and as
ccusage's ``droid`` adapter reads them (``adapter/droid/loader.rs`` tests at 5816e640). Droid
rewrites the settings document whole as a session goes: a test rewrites it with grown totals.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

import pytest
from mcp import Client

from cost_mcp.config import Settings
from cost_mcp.money import from_nanos
from cost_mcp.periods import ms_to_datetime
from cost_mcp.pricing import Price, Pricer, Tokens
from cost_mcp.sources import agents
from cost_mcp.sources.agents import droid
from cost_mcp.sources.agents.scanner import GROWN_CHUNK, AgentScan
from cost_mcp.store.connection import connect

SONNET = "claude-sonnet-4-5-20250929"
GPT = "gpt-5"
PROJECT = "/home/ana/shop"
STARTED = "2026-11-20T09:00:00.000Z"
START_MS = 1_795_165_200_000  # 2026-11-20T09:00:00Z


def _folder(home: Path, cwd: str = PROJECT) -> Path:
    """A project's session folder, named as Droid's ``sanitizePathToDirectoryName`` names it."""
    folder = home / "droid" / ("-" + cwd.strip("/").replace("/", "-"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _transcript(
    folder: Path,
    sid: str,
    cwd: str = PROJECT,
    first: str = "2026-11-20T08:59:58.000Z",
    text: str = 'say "timestamp":"x"',
) -> None:
    """The session's transcript: its ``session_start`` line and a first user message."""
    lines = [
        # A title quoting a timestamp key: in JSON text its quotes are escaped, never a key.
        {
            "type": "session_start",
            "sessionId": sid,
            "title": 'Why "timestamp":"2020-01-01T00:00:00Z"?',
            "cwd": cwd,
        },
        {
            "type": "message",
            "id": "m1",
            "timestamp": first,
            "message": {"role": "user", "content": [{"type": "text", "text": text}]},
        },
    ]
    (folder / f"{sid}.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


def _settings(
    folder: Path,
    sid: str,
    usage: dict[str, object] | None,
    model: str = SONNET,
    lock: str | None = "anthropic",
    locked_at: str | None = STARTED,
) -> Path:
    """The session's settings document as Droid writes it (rewritten whole at each change)."""
    doc: dict[str, object] = {
        "model": model,
        "reasoningEffort": "medium",
        "interactionMode": "auto",
        "autonomyLevel": "medium",
        "assistantActiveTimeMs": 41_000,
        "tags": [],
    }
    if lock is not None:
        doc["providerLock"] = lock
        doc["apiProviderLock"] = lock
    if locked_at is not None:
        doc["providerLockTimestamp"] = locked_at
    if usage is not None:
        doc["tokenUsage"] = usage
        # A parent's totals with its sub-agents' sessions (which have files of their own): not read.
        doc["inclusiveTokenUsage"] = {k: 2 * v if isinstance(v, int) else v for k, v in usage.items()}
    path = folder / f"{sid}{droid.SETTINGS_SUFFIX}"
    path.write_text(json.dumps(doc, indent=2))
    return path


def _usage(inp: int, out: int, write: int = 0, read: int = 0, thinking: int = 0) -> dict[str, object]:
    return {
        "inputTokens": inp,
        "outputTokens": out,
        "cacheCreationTokens": write,
        "cacheReadTokens": read,
        "thinkingTokens": thinking,
    }


def _stored(settings: Settings) -> dict[str, tuple[object, ...]]:
    conn = connect(settings.db)
    try:
        got = conn.execute(
            "SELECT message_id, ts_ms, input_tokens, cache_read_tokens, cache_write_5m_tokens, "
            "output_tokens, model, provider, session_id, project, cost_nanos, agent, price_note "
            "FROM usage_events WHERE source = 'droid' AND counted = 1"
        ).fetchall()
    finally:
        conn.close()
    return {str(r[0]): tuple(r[1:]) for r in got}


def _scanned(
    settings: Settings,
) -> tuple[AgentScan, dict[str, tuple[object, ...]], dict[str, tuple[object, ...]]]:
    """A scan of Droid's sessions, the rows stored, and each session's model, provider and whether
    it is priced (as its output row has them)."""
    conn = connect(settings.db)
    scan = agents.scan(conn, droid.LOG, settings, Pricer())
    conn.close()
    stored = _stored(settings)
    return scan, stored, {k: (r[5], r[6], r[9] is not None) for k, r in stored.items() if k.endswith(":out")}


def _price(tokens: Tokens, model: str, provider: str) -> int:
    priced = Pricer().price(tokens, model, provider, ms_to_datetime(START_MS))
    assert isinstance(priced, Price)
    return priced.total_nanos


def _chunks(kind: str, total: int) -> list[Tokens]:
    full, rest = divmod(total, GROWN_CHUNK)
    return [Tokens(**{kind: size}) for size in [GROWN_CHUNK] * full + ([rest] if rest else [])]


def test_droid_sessions_grow_in_rows_that_count_once(home: Path, settings: Settings) -> None:
    """A session Droid rewrites with grown totals between scans: the second scan adds only the
    growth, a third reads nothing, a full read changes nothing. Input, cache reads and cache writes
    are stored in rows of at most GROWN_CHUNK tokens (one row of 300,000 cache reads would be
    priced at Claude's long-context tier, as none of the calls was), thinking billed with the
    output; every row dated when the session locked its provider, its project the transcript's."""
    folder = _folder(home)
    _transcript(folder, "s-1")
    path = _settings(folder, "s-1", _usage(40_000, 3_000, write=20_000, read=300_000, thinking=500))
    other = _folder(home, "/home/ana/api")
    _transcript(other, "s-2", "/home/ana/api")
    _settings(other, "s-2", _usage(5_000, 700, read=9_000), model=GPT, lock="openai")
    conn = connect(settings.db)
    first = agents.scan(conn, droid.LOG, settings, Pricer())
    stored = _stored(settings)
    assert sorted(k for k in stored if k.startswith("s-1")) == [
        "s-1:cr:0",
        *(f"s-1:cr:{n}" for n in range(1, 10)),
        "s-1:cw:0",
        "s-1:in:0",
        "s-1:in:1",
        "s-1:out",
    ]
    assert stored["s-1:out"][:11] == (
        START_MS, 0, 0, 0, 3_500, SONNET, "anthropic", "s-1", PROJECT, stored["s-1:out"][9], "droid"
    )  # fmt: skip
    assert stored["s-1:cr:9"][:4] == (START_MS, 0, 12_000, 0)
    assert stored["s-1:in:1"][1] == 8_000 and stored["s-1:cw:0"][3] == 20_000
    assert stored["s-2:in:0"][5:9] == (GPT, "openai", "s-2", "/home/ana/api")
    assert {r[11] for r in stored.values()} == {droid.PRICE_NOTE}
    total = sum(int(str(r[9] or 0)) for k, r in stored.items() if k.startswith("s-1"))
    rows = [
        *_chunks("input", 40_000),
        *_chunks("cache_read", 300_000),
        *_chunks("cache_write_5m", 20_000),
        Tokens(output=3_500),
    ]
    assert total == sum(_price(t, SONNET, "anthropic") for t in rows)
    whole = Tokens(input=40_000, cache_read=300_000, cache_write_5m=20_000, output=3_500)
    assert total < _price(whole, SONNET, "anthropic")

    # Droid rewrites the document whole after the next call, the totals grown.
    _settings(folder, "s-1", _usage(50_000, 4_000, write=20_000, read=330_000, thinking=500))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    second = agents.scan(conn, droid.LOG, settings, Pricer())
    third = agents.scan(conn, droid.LOG, settings, Pricer())
    grown = _stored(settings)
    full = agents.scan(conn, droid.LOG, settings, Pricer(), full=True)
    conn.close()
    assert (first.events_added, first.skipped, first.errors) == (17, {}, [])
    # in:1 grew (8,000 -> 18,000), cr:9 filled (12,000 -> 32,000) and cr:10 came, the output grew.
    assert (second.events_added, third.files_read, full.events_added) == (4, 0, 0)
    mine = [r for k, r in grown.items() if k.startswith("s-1")]
    sums = tuple(sum(int(str(r[i])) for r in mine) for i in (1, 2, 3, 4))
    assert sums == (50_000, 330_000, 20_000, 4_500)
    assert {r[0] for r in mine} == {START_MS}
    assert _stored(settings) == grown


def test_a_transcript_nested_too_deep_to_decode_costs_only_its_project(
    home: Path, settings: Settings
) -> None:
    """A transcript whose ``session_start`` line is nested deeper than msgspec decodes (found by
    tests/reliability/test_agent_fuzz.py) raised RecursionError from the read of the session's
    settings beside it: the scanner's guard counted the settings as one bad document, and every
    call of the session was missing from the answers. The transcript only names the project and
    the first message's time: the calls count, under no project."""
    folder = _folder(home)
    _transcript(folder, "s-1")
    _settings(folder, "s-1", _usage(4_000, 300))
    deep = '{"type":"session_start","x":' + "[" * 5000 + "]" * 5000 + "}\n"
    (folder / "s-1.jsonl").write_text(deep)
    conn = connect(settings.db)
    try:
        done = agents.scan(conn, droid.LOG, settings, Pricer())
    finally:
        conn.close()
    assert not done.skipped
    stored = _stored(settings)
    assert sorted(stored) == ["s-1:in:0", "s-1:out"]


def test_a_session_copied_to_another_folder_counts_once(home: Path, settings: Settings) -> None:
    """One session twice, as ccusage's ``keeps_latest_snapshot_for_duplicate_session_ids`` has it
    (an archive, or a session from before Droid kept one folder per project, left at the top
    beside its project's copy): its rows are keyed by the session's id, so the copy with the larger
    totals is the one counted, once."""
    root = home / "droid"
    root.mkdir(parents=True)
    old = _settings(root, "s-9", _usage(10_000, 200), model=GPT, lock="openai")
    _settings(_folder(home), "s-9", _usage(12_000, 300), model=GPT, lock="openai")
    conn = connect(settings.db)
    scan = agents.scan(conn, droid.LOG, settings, Pricer())
    conn.close()
    assert (scan.files_read, scan.skipped) == (2, {})
    stored = _stored(settings)
    assert sorted(stored) == ["s-9:in:0", "s-9:out"]
    assert (stored["s-9:in:0"][1], stored["s-9:out"][4]) == (12_000, 300)
    assert old.exists()


def test_droid_providers_are_priced_under_their_own_vendor(home: Path, settings: Settings) -> None:
    """``providerLock`` names the model's vendor; ``factory`` (Factory's own routing) names none,
    so the model's family tells it; a custom model's name loses ``custom:``, its bracketed notes
    and its index; an OpenAI-compatible endpoint's unknown model keeps the endpoint as provider and
    is unpriced, never $0 nor another vendor's price; without a lock the family decides; a session
    that names no model is unpriced."""
    folder = _folder(home)
    _settings(folder, "routed", _usage(1_000, 100), model=SONNET, lock="factory")
    _settings(folder, "custom", _usage(1_000, 100), model="custom:GPT-5-[OpenAI]-0", lock="openai")
    _settings(
        folder,
        "byok",
        _usage(1_000, 100),
        model="custom:My-Finetune-[Local]-3",
        lock="generic-chat-completion-api",
    )
    _settings(folder, "nolock", _usage(1_000, 100), model=GPT, lock=None)
    _settings(folder, "nomodel", _usage(1_000, 100), model="", lock="openai")
    scan, stored, got = _scanned(settings)
    assert got == {
        "routed:out": (SONNET, "anthropic", True),
        "custom:out": ("gpt-5", "openai", True),
        "byok:out": ("my-finetune", "generic-chat-completion-api", False),
        "nolock:out": (GPT, "openai", True),
        # No model named (Droid's ``model`` left empty): stored under none, unpriced, still counted.
        "nomodel:out": ("", "openai", False),
    }
    assert scan.unpriced == {"my-finetune": 2, "": 2}
    assert stored["custom:out"][9] == _price(Tokens(output=100), GPT, "openai")


def test_a_session_without_a_lock_time_is_dated_by_its_transcript(home: Path, settings: Settings) -> None:
    """No ``providerLockTimestamp``: the session is dated at its transcript's first message (found
    in its bytes as a key, never in a message's text), which stays put as Droid rewrites the
    document; with no transcript either there is no time that stays put, so the session is
    counted as ``invalid_fields`` and said, never dated by the file's moving mtime."""
    folder = _folder(home)
    _transcript(folder, "s-3", first="2026-11-20T08:30:00+01:00")
    _settings(folder, "s-3", _usage(1_000, 100), locked_at=None)
    _settings(folder, "s-4", _usage(1_000, 100), locked_at=None)
    conn = connect(settings.db)
    scan = agents.scan(conn, droid.LOG, settings, Pricer())
    conn.close()
    stored = _stored(settings)
    assert sorted(stored) == ["s-3:in:0", "s-3:out"]
    assert stored["s-3:out"][0] == START_MS - 5_400_000  # 07:30Z
    assert stored["s-3:out"][8] == PROJECT
    assert dict(scan.skipped) == {"invalid_fields": 1}


def test_hostile_droid_files_are_counted_and_skipped(home: Path, settings: Settings) -> None:
    """Documents that are not JSON, cut off, of the wrong shape, with counts that are text,
    negative, fractional or beyond any session: each counted by reason, the good session still
    read; a session with no call yet gives nothing; a document rewritten shorter and broken keeps
    what was stored and is counted."""
    folder = _folder(home)
    good = _settings(folder, "good", _usage(1_000, 100))
    _settings(folder, "idle", None)
    _settings(folder, "zero", _usage(0, 0))
    (folder / "text.settings.json").write_text("Droid was here\n")
    (folder / "cut.settings.json").write_text('{"model": "gpt-5", "tokenUsage": {"inputTokens": 12')
    (folder / "list.settings.json").write_text("[1, 2]")
    _settings(folder, "shape", None).write_text(json.dumps({"model": SONNET, "tokenUsage": [5]}))
    for sid, value in (("words", "many"), ("negative", -5), ("fraction", 2.5), ("huge", 10**15)):
        _settings(folder, sid, {**_usage(1_000, 100), "inputTokens": value})
    (folder / "notes.json").write_text("not a settings document, not read\n")
    conn = connect(settings.db)
    scan = agents.scan(conn, droid.LOG, settings, Pricer())
    good.write_text('{"model": "claude')  # rewritten shorter, cut off
    again = agents.scan(conn, droid.LOG, settings, Pricer())
    conn.close()
    assert dict(scan.skipped) == {"malformed": 1, "truncated": 1, "invalid_fields": 6}
    assert scan.errors == [] and again.errors == []
    # Only the changed document is read again; the others' counts are kept with them (doctor).
    assert (dict(again.skipped), again.files_read) == ({"truncated": 1}, 1)
    assert sorted(_stored(settings)) == ["good:in:0", "good:out"]


@pytest.mark.anyio
async def test_droid_spend_is_answered_by_agent_with_its_assumption(home: Path, client: Client) -> None:
    """get_spend by agent through the real server gives Droid's exact total, read from its files by
    the server's own refresh, and says how it was priced."""
    folder = _folder(home)
    _transcript(folder, "s-1")
    _settings(folder, "s-1", _usage(40_000, 2_000, read=10_000, thinking=500))
    result = await client.call_tool(
        "get_spend", {"start": "2026-11-01", "end": "2026-11-30", "group_by": ["agent"]}
    )
    assert result.structured_content is not None
    content = result.structured_content
    by_agent = {r["group"]["agent"]: Decimal(str(r["cost_usd"])) for r in content["rows"]}
    rows = [Tokens(input=32_000), Tokens(input=8_000), Tokens(cache_read=10_000), Tokens(output=2_500)]
    assert by_agent == {"droid": from_nanos(sum(_price(t, SONNET, "anthropic") for t in rows))}
    assert f"4 calls priced with an assumption: {droid.PRICE_NOTE}" in content["warnings"]


def test_a_session_whose_settings_name_no_model_is_priced_by_its_transcripts(
    home: Path, settings: Settings
) -> None:
    """Settings that name no model (``model`` empty or absent) left the session unpriced, where its
    transcript names the model in the reminder it opens with ("Model: Claude Opus 4.5 Thinking
    [Anthropic]"), which ccusage reads (``adapter/droid/parser.rs`` at 5816e640,
    ``extract_model_from_sidecar_jsonl``). It is now read the same way, only when the settings name
    none; with no such line, or no transcript, the session stays unpriced."""
    folder = _folder(home)
    reminder = (
        "<system-reminder>\nUser system info (linux 6.8)\nModel: Claude Opus 4.5 Thinking [Anthropic]\n"
        f"Working directory: {PROJECT}\n</system-reminder>\nfix the build"
    )
    _transcript(folder, "empty", text=reminder)
    _settings(folder, "empty", _usage(1_000, 100), model="", lock="anthropic")
    _transcript(folder, "absent", text="Model: GPT-5 [OpenAI]")
    path = _settings(folder, "absent", _usage(1_000, 100), lock=None)
    doc = json.loads(path.read_text())
    del doc["model"]
    path.write_text(json.dumps(doc))
    # The settings' model wins over the transcript's.
    _transcript(folder, "named", text=reminder)
    _settings(folder, "named", _usage(1_000, 100), model=SONNET)
    _transcript(folder, "unsaid")
    _settings(folder, "unsaid", _usage(1_000, 100), model="", lock="openai")
    scan, stored, got = _scanned(settings)
    assert got == {
        "empty:out": ("claude-opus-4.5-thinking", "anthropic", True),
        "absent:out": ("gpt-5", "openai", True),
        "named:out": (SONNET, "anthropic", True),
        "unsaid:out": ("", "openai", False),
    }
    assert scan.unpriced == {"": 2}
    assert stored["empty:out"][9] == _price(Tokens(output=100), "claude-opus-4.5-thinking", "anthropic")
