"""Qwen Code's chat recordings, read from real-shaped files on disk through the real scanner into both
ledger backends.

The records are shaped as Qwen Code writes them: ``ChatRecord`` of QwenLM/qwen-code
``packages/core/src/services/chatRecordingService.ts`` at 015346f1 (``uuid``, ``parentUuid``,
``sessionId``, ``timestamp``, ``type``, ``cwd``, ``version``, ``gitBranch``, ``message``, ``model``,
``usageMetadata`` as the converter fills it, ``forkedFrom`` on a ``/branch`` copy), in
``<runtime dir>/projects/<sanitized cwd>/chats/<session id>.jsonl`` (``Storage.getProjectDir``);
ccusage's own fixture (``adapter/qwen/mod.rs`` at 5816e640) has the same assistant record.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from mcp import Client

from cost_mcp.config import Settings
from cost_mcp.money import from_nanos
from cost_mcp.periods import to_ms
from cost_mcp.pricing import Price, Pricer, Tokens
from cost_mcp.sources import agents
from cost_mcp.sources.agents import qwen_code
from cost_mcp.sources.agents.scanner import AgentScan
from cost_mcp.store.connection import connect

SHOP = "/home/ana/shop"
SESSION = "6b1f3c2a-9d4e-4f60-8a7b-1c2d3e4f5a60"
BRANCH = "7c2a4d3b-0e5f-4a71-9b8c-2d3e4f5a6b71"
DAY = "2026-11-20"


def _record(kind: str, uuid: str, at: str, **extra: object) -> dict[str, object]:
    """One ChatRecord as ``createBaseRecord`` writes it, plus ``extra``."""
    return {
        "uuid": uuid,
        "parentUuid": None,
        "sessionId": SESSION,
        "timestamp": f"{DAY}T{at}Z",
        "type": kind,
        "cwd": SHOP,
        "version": "0.9.1",
        "gitBranch": "main",
        **extra,
    }


def _assistant(uuid: str, at: str, model: str, usage: object, **extra: object) -> dict[str, object]:
    return _record(
        "assistant",
        uuid,
        at,
        model=model,
        message={"role": "model", "parts": [{"text": "Done."}]},
        usageMetadata=usage,
        contextWindowSize=1_000_000,
        **extra,
    )


# Qwen Code's OpenAI-compatible converter (converter.ts, convertOpenAIChunkToGemini): candidates is
# completion_tokens, which includes the reasoning; the total is the API's prompt + completion.
OPENAI_STYLE = {
    "promptTokenCount": 12000,
    "candidatesTokenCount": 900,
    "thoughtsTokenCount": 300,
    "totalTokenCount": 12900,
    "cachedContentTokenCount": 8000,
}
# The Gemini API's own counts (Qwen Code on a Gemini key): thoughts outside the candidates, in the total.
GEMINI_STYLE = {
    "promptTokenCount": 5000,
    "candidatesTokenCount": 200,
    "thoughtsTokenCount": 100,
    "toolUsePromptTokenCount": 40,
    "totalTokenCount": 5340,
}
# Early versions' short names (chatRecordingService.ts at 1ef51670, toTokensSummary).
SHORT_NAMES = {"input": 3000, "output": 120, "cached": 1000, "thoughts": 0, "tool": 0, "total": 3120}

CALLS = [
    ("a-1", f"{DAY}T09:00:05Z", "qwen3-coder-plus", Tokens(input=4000, cache_read=8000, output=900)),
    ("a-2", f"{DAY}T09:01:00Z", "gemini-2.5-pro", Tokens(input=5040, output=300)),
    ("a-3", f"{DAY}T09:02:00Z", "qwen3-coder-plus", Tokens(input=2000, cache_read=1000, output=120)),
]


def _chat() -> list[dict[str, object]]:
    return [
        _record("user", "u-1", "09:00:00", message={"role": "user", "parts": [{"text": "fix the build"}]}),
        _assistant("a-1", "09:00:05", "qwen3-coder-plus", OPENAI_STYLE),
        _record("tool_result", "t-1", "09:00:30", message={"role": "user", "parts": []}),
        _assistant("a-2", "09:01:00", "gemini-2.5-pro", GEMINI_STYLE),
        # An assistant turn recorded without usage (recordAssistantTurn's tokens are optional).
        _record(
            "assistant", "a-0", "09:01:30", model="qwen3-coder-plus", message={"role": "model", "parts": []}
        ),
        _record("system", "s-1", "09:01:40", subtype="ui_telemetry", systemPayload={"uiEvent": {}}),
        _assistant("a-3", "09:02:00", "qwen3-coder-plus", SHORT_NAMES),
    ]


def _lines(records: list[dict[str, object]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def chats(home: Path) -> Path:
    folder = home / "qwen" / "projects" / "-home-ana-shop" / "chats"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def scan(settings: Settings) -> AgentScan:
    conn = connect(settings.db)
    try:
        return agents.scan(conn, qwen_code.LOG, settings, Pricer())
    finally:
        conn.close()


def stored(settings: Settings) -> list[tuple[object, ...]]:
    conn = connect(settings.db)
    try:
        return [
            tuple(r)
            for r in conn.execute(
                "SELECT message_id, ts_ms, model, provider, session_id, project, agent, input_tokens, "
                "cache_read_tokens, output_tokens FROM usage_events WHERE source = ? AND counted = 1 "
                "ORDER BY ts_ms",
                (qwen_code.SOURCE,),
            )
        ]
    finally:
        conn.close()


def expected(calls: list[tuple[str, str, str, Tokens]], session: str = SESSION) -> list[tuple[object, ...]]:
    return [
        (
            key,
            to_ms(datetime.fromisoformat(at)),
            model,
            qwen_code.provider(model),
            session,
            SHOP,
            "qwen-code",
            t.input,
            t.cache_read,
            t.output,
        )
        for key, at, model, t in calls
    ]


def test_each_call_counts_once_with_its_reasoning_once(home: Path, settings: Settings) -> None:
    """The OpenAI-style record's 300 reasoning tokens are inside its 900 candidates (its total says
    so): output 900, not 1200 as ccusage counts it; the Gemini-style record's thoughts are apart and
    add to its output. A ``/branch`` copy of the session, same uuids and a ``forkedFrom``, adds
    nothing, and its calls stay the original session's."""
    folder = chats(home)
    (folder / f"{SESSION}.jsonl").write_text(_lines(_chat()))
    copies = [
        {**r, "sessionId": BRANCH, "forkedFrom": {"sessionId": SESSION, "messageUuid": r["uuid"]}}
        for r in _chat()
    ]
    (folder / f"{BRANCH}.jsonl").write_text(_lines(copies))
    # Not a chat: Qwen Code keeps other files in its project folders.
    (folder.parent / "notes.jsonl").write_text("not json\n")
    done = scan(settings)
    assert (done.events_added, dict(done.skipped), dict(done.unpriced)) == (3, {}, {"qwen3-coder-plus": 2})
    assert stored(settings) == expected(CALLS)


def test_the_branch_read_first_gives_way_to_the_original(home: Path, settings: Settings) -> None:
    """The branch is read alone first (the original written later): its copies are stored as
    replays; the original's record of the same call then takes the call over, once."""
    folder = chats(home)
    copy = {**_assistant("a-1", "09:00:05", "qwen3-coder-plus", OPENAI_STYLE), "sessionId": BRANCH}
    copy["forkedFrom"] = {"sessionId": SESSION, "messageUuid": "a-1"}
    (folder / f"{BRANCH}.jsonl").write_text(_lines([copy]))
    scan(settings)
    assert [r[4] for r in stored(settings)] == [BRANCH]
    (folder / f"{SESSION}.jsonl").write_text(_lines(_chat()[:2]))
    scan(settings)
    assert stored(settings) == expected(CALLS[:1])


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"{not json\n", "malformed"),
        (b"[1, 2]\n", "malformed"),
        (
            json.dumps(_assistant("x", "10:00:00", "qwen3-coder-plus", "many")).encode() + b"\n",
            "invalid_fields",
        ),
        (
            json.dumps(_assistant("x", "10:00:00", "qwen3-coder-plus", {"promptTokenCount": "12"})).encode()
            + b"\n",
            "invalid_fields",
        ),
        (
            json.dumps(_assistant("x", "10:00:00", "qwen3-coder-plus", {"promptTokenCount": -5})).encode()
            + b"\n",
            "invalid_fields",
        ),
        (
            json.dumps(
                _assistant("x", "10:00:00", "qwen3-coder-plus", {"candidatesTokenCount": 10**30})
            ).encode()
            + b"\n",
            "invalid_fields",
        ),
        (
            json.dumps({**_assistant("x", "", "qwen3-coder-plus", OPENAI_STYLE), "timestamp": 5}).encode()
            + b"\n",
            "invalid_fields",
        ),
        (
            json.dumps({**_assistant("x", "10:00:00", "m", OPENAI_STYLE), "uuid": None}).encode() + b"\n",
            "invalid_fields",
        ),
        (
            json.dumps({**_assistant("x", "10:00:00", "m", OPENAI_STYLE), "model": 7}).encode() + b"\n",
            "invalid_fields",
        ),
    ],
    ids=[
        "not-json",
        "not-an-object",
        "usage-not-object",
        "count-a-string",
        "negative",
        "huge",
        "no-time",
        "no-uuid",
        "model-not-text",
    ],
)
def test_a_bad_line_is_counted_and_skipped_and_the_rest_read(
    home: Path, settings: Settings, line: bytes, reason: str
) -> None:
    records = _chat()
    text = _lines(records[:3]).encode() + line + _lines(records[3:]).encode()
    (chats(home) / f"{SESSION}.jsonl").write_bytes(text)
    done = scan(settings)
    assert dict(done.skipped) == {reason: 1}
    assert stored(settings) == expected(CALLS)


def test_an_unknown_model_is_stored_unpriced_never_at_zero(home: Path, settings: Settings) -> None:
    record = _assistant("a-9", "09:00:05", "", OPENAI_STYLE)
    del record["model"]
    (chats(home) / f"{SESSION}.jsonl").write_text(_lines([record]))
    done = scan(settings)
    assert dict(done.unpriced) == {"unknown": 1}
    conn = connect(settings.db)
    try:
        row = conn.execute(
            "SELECT model, provider, cost_nanos FROM usage_events WHERE source = ?", ("qwen_code",)
        )
        assert [tuple(r) for r in row] == [("unknown", "", None)]
    finally:
        conn.close()


def test_appends_are_read_from_the_offset_and_a_cut_line_waits_for_its_end(
    home: Path, settings: Settings
) -> None:
    chat = chats(home) / f"{SESSION}.jsonl"
    records = _chat()
    chat.write_text(_lines(records[:4]))
    first = scan(settings)
    again = scan(settings)
    assert (first.events_added, again.lines_read, again.events_added) == (2, 0, 0)
    # Qwen Code is writing the next line: its first half is on disk.
    half = json.dumps(records[6])
    with chat.open("a") as f:
        f.write(_lines(records[4:6]) + half[:40])
    mid = scan(settings)
    assert (mid.lines_read, mid.events_added, dict(mid.skipped)) == (2, 0, {})
    with chat.open("a") as f:
        f.write(half[40:] + "\n")
    last = scan(settings)
    assert (last.lines_read, last.events_added, dict(last.skipped)) == (1, 1, {})
    assert stored(settings) == expected(CALLS)


def test_a_file_rewritten_shorter_is_read_again_and_counts_nothing_twice(
    home: Path, settings: Settings
) -> None:
    chat = chats(home) / f"{SESSION}.jsonl"
    chat.write_text(_lines(_chat()))
    scan(settings)
    chat.write_text(_lines(_chat()[:2]))  # a truncation: what it still holds was read already
    again = scan(settings)
    assert (again.files_reread, again.events_added) == (1, 0)
    assert stored(settings) == expected(CALLS)


def test_the_runtime_dir_then_qwen_home_then_the_home_folder_hold_the_sessions(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As Qwen Code's ``Storage.getRuntimeBaseDir``: QWEN_RUNTIME_DIR, else QWEN_HOME, else ~/.qwen."""
    from cost_mcp.config import load_settings

    monkeypatch.setenv("QWEN_HOME", str(home / "qh"))
    assert qwen_code.roots(load_settings()) == [home / "qwen" / "projects"]
    monkeypatch.delenv("QWEN_RUNTIME_DIR")
    assert qwen_code.roots(load_settings()) == [home / "qh" / "projects"]
    monkeypatch.delenv("QWEN_HOME")
    monkeypatch.setenv("HOME", str(home / "user"))
    assert qwen_code.roots(load_settings()) == [home / "user" / ".qwen" / "projects"]


@pytest.mark.anyio
async def test_get_spend_by_agent_gives_qwen_codes_priced_calls_and_names_the_unpriced(
    home: Path, client: Client
) -> None:
    (chats(home) / f"{SESSION}.jsonl").write_text(_lines(_chat()))
    result = await client.call_tool(
        "get_spend", {"start": "2026-11-01", "end": "2026-11-30", "group_by": ["agent"]}
    )
    assert result.structured_content is not None
    [row] = [r for r in result.structured_content["rows"] if r["group"]["agent"] == "qwen-code"]
    price = Pricer().price(CALLS[1][3], "gemini-2.5-pro", "google", datetime(2026, 11, 20, 9, 1, tzinfo=UTC))
    assert isinstance(price, Price)
    assert Decimal(str(row["cost_usd"])) == from_nanos(price.total_nanos)
    assert (row["requests"], row["unpriced_requests"]) == (3, 2)
    assert any(w.startswith("qwen3-coder-plus: 2 call(s)") for w in result.structured_content["warnings"])


def test_a_subagents_transcript_below_chats_is_read_and_shares_no_call(
    home: Path, settings: Settings
) -> None:
    """A sub-agent's records (``isSidechain``, ``agentId``) in a file below ``chats/`` are read too;
    a record it shares with the parent's file (same uuid) counts once."""
    folder = chats(home)
    (folder / f"{SESSION}.jsonl").write_text(_lines(_chat()[:2]))
    side = _assistant(
        "sub-1", "09:00:20", "qwen3-coder-plus", OPENAI_STYLE, isSidechain=True, agentId="explore-7f3c"
    )
    nested = folder / SESSION / "subagents"
    nested.mkdir(parents=True)
    (nested / "explore-7f3c.jsonl").write_text(_lines([_chat()[1], side]))
    done = scan(settings)
    assert (done.events_added, dict(done.skipped)) == (2, {})
    tokens = Tokens(input=4000, cache_read=8000, output=900)
    assert stored(settings) == expected([CALLS[0], ("sub-1", f"{DAY}T09:00:20Z", "qwen3-coder-plus", tokens)])


def test_a_gemini_cli_count_no_call_can_reach_is_skipped_and_the_rest_read(
    home: Path, settings: Settings
) -> None:
    """Gemini CLI's tokens go through the same mapping (``gemini_cli.ledger_tokens``): a count past
    :data:`tokens.MAX_CALL_TOKENS` is no real call, and could overflow the ledger's sums."""
    from cost_mcp.sources.agents import gemini_cli

    folder = home / "gemini" / "tmp" / "app" / "chats"
    folder.mkdir(parents=True)
    meta: dict[str, object] = {
        "sessionId": SESSION,
        "projectHash": "ab" * 32,
        "startTime": f"{DAY}T10:00:00.000Z",
        "kind": "main",
    }
    good = {"input": 900, "output": 40, "cached": 0, "thoughts": 0, "tool": 0, "total": 940}
    records: list[dict[str, object]] = [
        meta,
        {
            "id": "g-1",
            "timestamp": f"{DAY}T10:00:05Z",
            "type": "gemini",
            "model": "gemini-2.5-pro",
            "tokens": good,
        },
        {
            "id": "g-2",
            "timestamp": f"{DAY}T10:00:09Z",
            "type": "gemini",
            "model": "gemini-2.5-pro",
            "tokens": {**good, "output": 2**63},
        },
    ]
    (folder / "session-2026-11-20T10-00-6b1f3c2a.jsonl").write_text(_lines(records))
    conn = connect(settings.db)
    try:
        done = agents.scan(conn, gemini_cli.LOG, settings, Pricer())
        rows = conn.execute("SELECT message_id, output_tokens FROM usage_events WHERE source = 'gemini_cli'")
        assert [tuple(r) for r in rows] == [("g-1", 40)]
    finally:
        conn.close()
    assert (done.events_added, dict(done.skipped), done.errors) == (1, {"invalid_fields": 1}, [])
