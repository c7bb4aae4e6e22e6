"""OpenClaw's session transcripts, written by the test in OpenClaw's real layout and shapes, read
through the real scanner into both ledger backends and answered by the real server.

Shapes (openclaw/openclaw; commits in docs/agent-formats.md): a transcript is Pi's session file
(OpenClaw runs Pi's ``SessionManager``), one per session at
``<state dir>/agents/<agent id>/sessions/<session id>.jsonl`` (``src/config/sessions/paths.ts``);
an assistant message is pi-ai's ``AssistantMessage``. The usage-accounting entries are those
``src/agents/usage-budget.ts`` and ``src/agents/pi-embedded-runner/...`` append and
``src/infra/session-cost-usage.ts`` reads: a compaction's ``usageAccounting``, the custom
``openclaw:compaction-usage`` and ``openclaw:model-call-usage`` entries (``data.message``), the
latter with ``data.usageBudgetBridge: true`` when it repeats a call logged elsewhere. Archive and
checkpoint names follow ``src/config/sessions/artifacts.ts``; the first message's numbers are those
of ccusage's own OpenClaw fixture (``adapter/openclaw/loader.rs``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from mcp import Client

from cost_mcp.config import Settings, load_settings
from cost_mcp.money import from_nanos, to_nanos
from cost_mcp.periods import to_ms
from cost_mcp.pricing import Price, Pricer, Tokens
from cost_mcp.sources import agents
from cost_mcp.sources.agents import openclaw
from cost_mcp.sources.agents.scanner import AgentScan
from cost_mcp.store.connection import connect

WORKSPACE = "/home/ana/.openclaw/workspace"
CODER = "/home/ana/.openclaw/workspace-coder"
S1 = "8c2f4e1a-6b3d-4f7e-9a01-2c5d7e9f1b3a"
S2 = "1f0e9d8c-7b6a-4c5d-8e4f-3a2b1c0d9e8f"
S3 = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
CHECKPOINT = "0d9c8b7a-6f5e-4d3c-a2b1-0f9e8d7c6b5a"
T0 = to_ms(datetime(2026, 11, 20, 9, tzinfo=UTC))
DAY = 86_400_000
SONNET = "claude-sonnet-4-5"


def _stamp(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def archived(ms: int) -> str:
    """OpenClaw's ``formatSessionArchiveTimestamp``: the ISO stamp with ``:`` as ``-``."""
    return _stamp(ms).replace(":", "-")


def header(session: str, ms: int, cwd: str = WORKSPACE) -> dict[str, object]:
    return {"type": "session", "version": 3, "id": session, "timestamp": _stamp(ms), "cwd": cwd}


def usage(inp: int, out: int, read: int = 0, write: int = 0, cost: object = None) -> dict[str, object]:
    found: dict[str, object] = {
        "input": inp,
        "output": out,
        "cacheRead": read,
        "cacheWrite": write,
        "totalTokens": inp + out + read + write,
    }
    return found | ({"cost": {"total": cost}} if cost is not None else {})


def message(
    ms: int, u: dict[str, object], model: str | None, provider: str | None, api: str
) -> dict[str, object]:
    found: dict[str, object] = {
        "role": "assistant",
        "content": [{"type": "text", "text": "done"}],
        "api": api,
    }
    if provider is not None:
        found["provider"] = provider
    if model is not None:
        found["model"] = model
    return found | {"usage": u, "stopReason": "stop", "timestamp": ms}


def call(
    entry_id: str, ms: int, u: dict[str, object], model: str | None, provider: str | None, api: str
) -> dict[str, object]:
    """An assistant message entry as Pi's ``appendMessage`` writes it."""
    return {
        "type": "message",
        "id": entry_id,
        "parentId": None,
        "timestamp": _stamp(ms + 1500),
        "message": message(ms, u, model, provider, api),
    }


def model_change(entry_id: str, ms: int, provider: str, model: str) -> dict[str, object]:
    return {
        "type": "model_change",
        "id": entry_id,
        "parentId": None,
        "timestamp": _stamp(ms),
        "provider": provider,
        "modelId": model,
    }


def user(entry_id: str, ms: int) -> dict[str, object]:
    return {
        "type": "message",
        "id": entry_id,
        "parentId": None,
        "timestamp": _stamp(ms),
        "message": {"role": "user", "content": "summarise my inbox", "timestamp": ms},
    }


def accounting(
    custom_type: str, entry_id: str, ms: int, msg: dict[str, object], bridge: bool = False
) -> dict[str, object]:
    """A usage-accounting custom entry as OpenClaw's ``appendSessionTranscriptEvent`` writes it."""
    data: dict[str, object] = {"schemaVersion": 1}
    if bridge:
        data["usageBudgetBridge"] = True
    return {
        "type": "custom",
        "customType": custom_type,
        "id": entry_id,
        "parentId": None,
        "timestamp": _stamp(ms),
        "appendMode": "side",
        "data": data | {"message": msg},
    }


def compaction(entry_id: str, ms: int, provider: str, model: str, u: dict[str, object]) -> dict[str, object]:
    return {
        "type": "compaction",
        "id": entry_id,
        "parentId": None,
        "timestamp": _stamp(ms),
        "summary": "the inbox so far",
        "firstKeptEntryId": "u1",
        "tokensBefore": 120000,
        "usageAccounting": {"provider": provider, "model": model, "api": "anthropic-messages", "usage": u},
    }


def write(path: Path, entries: list[dict[str, object] | str]) -> None:
    """Entries as ``JSON.stringify`` writes them, one a line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [e if isinstance(e, str) else json.dumps(e, separators=(",", ":")) for e in entries]
    path.write_text("".join(f"{line}\n" for line in lines))


def sessions(state: Path, agent: str = "main") -> Path:
    return state / "agents" / agent / "sessions"


# (session, ts, model, provider stored, project, tokens in the ledger's kinds, OpenClaw's cost or None)
Call = tuple[str, int, str, str, str, Tokens, str | None]

CALLS: list[Call] = [
    (
        S1,
        T0 + 5_000,
        SONNET,
        "anthropic",
        WORKSPACE,
        Tokens(input=12, cache_write_5m=9800, output=480),
        "0.0440385",
    ),
    # No model or provider of its own: the last model_change's.
    (
        S1,
        T0 + 60_000,
        SONNET,
        "anthropic",
        WORKSPACE,
        Tokens(input=3, cache_read=9800, output=210),
        "0.006099",
    ),
    # ChatGPT's Codex plan through pi-ai: cached input already out of input, priced as OpenAI's.
    (
        S1,
        T0 + 120_000,
        "gpt-5.2",
        "openai",
        WORKSPACE,
        Tokens(input=1660, cache_read=108928, output=55),
        "0.02",
    ),
    # The compaction's own model call, in its entry's usageAccounting.
    (S1, T0 + 200_000, SONNET, "anthropic", WORKSPACE, Tokens(input=20000, output=900), "0.0735"),
    # A hidden compaction call in an openclaw:compaction-usage entry, through OpenClaw's Moonshot plugin.
    (S1, T0 + 210_000, "kimi-k2.5", "moonshotai", WORKSPACE, Tokens(input=800, output=90), None),
    # An ephemeral call (no bridge flag): a call of its own.
    (S1, T0 + 220_000, "gpt-5.2", "openai", WORKSPACE, Tokens(input=300, cache_read=1200, output=40), None),
    # A session reset the day before: its renamed transcript still counts.
    (S2, T0 - DAY + 5_000, SONNET, "anthropic", WORKSPACE, Tokens(input=50, output=100), "0.00165"),
    # Another agent's, on a local model: no rates anywhere, so unpriced, never $0.
    (S3, T0 + 3_605_000, "qwen3-coder:30b", "ollama", CODER, Tokens(input=5000, output=100), None),
]


def s1_entries() -> list[dict[str, object] | str]:
    return [
        header(S1, T0),
        model_change("m1", T0 + 100, "anthropic", SONNET),
        user("u1", T0 + 1_000),
        call("a1", T0 + 5_000, usage(12, 480, 0, 9800, 0.0440385), SONNET, "anthropic", "anthropic-messages"),
        call("a2", T0 + 60_000, usage(3, 210, 9800, 0, 0.006099), None, None, "anthropic-messages"),
        # The usage budget's record of a2: the same call again, never counted twice.
        accounting(
            openclaw.MODEL_CALL_USAGE,
            "c2:usage",
            T0 + 60_400,
            message(T0 + 60_400, usage(3, 210, 9800), SONNET, "anthropic", "anthropic-messages"),
            bridge=True,
        ),
        model_change("m2", T0 + 100_000, "openai-codex", "gpt-5.2"),
        call(
            "a3",
            T0 + 120_000,
            usage(1660, 55, 108928, 0, 0.02),
            "gpt-5.2",
            "openai-codex",
            "openai-codex-responses",
        ),
        compaction("k1", T0 + 200_000, "anthropic", SONNET, usage(20000, 900, cost=0.0735)),
        accounting(
            openclaw.COMPACTION_USAGE,
            "k2",
            T0 + 210_500,
            message(T0 + 210_000, usage(800, 90), "kimi-k2.5", "moonshot", "openai-completions"),
        ),
        accounting(
            openclaw.MODEL_CALL_USAGE,
            "e1:usage",
            T0 + 220_000,
            message(T0 + 220_000, usage(300, 40, 1200), "gpt-5.2", "openai-codex", "openai-codex-responses"),
        ),
    ]


def install(state: Path) -> Path:
    """Two agents' sessions, with the copies OpenClaw keeps beside them; returns S1's transcript."""
    own = s1_entries()
    live = sessions(state) / f"{S1}.jsonl"
    write(live, own)
    # The transcript before a compaction, kept as its checkpoint: copies of S1's first calls.
    write(sessions(state) / f"{S1}.checkpoint.{CHECKPOINT}.jsonl", own[:5])
    write(
        sessions(state) / f"{S2}.jsonl.reset.{archived(T0 - DAY + 3_600_000)}",
        [
            header(S2, T0 - DAY),
            call(
                "b1",
                T0 - DAY + 5_000,
                usage(50, 100, cost=0.00165),
                SONNET,
                "anthropic",
                "anthropic-messages",
            ),
        ],
    )
    # Not transcripts OpenClaw counts: were they read, their calls would show.
    stray = call("x1", T0 + 7_000, usage(7, 7, cost=1), SONNET, "anthropic", "anthropic-messages")
    write(sessions(state) / f"{S1}.trajectory.jsonl", [stray])
    write(sessions(state) / f"{S1}.jsonl.bak.{archived(T0 + 500_000)}", [header(S1, T0), stray])
    write(sessions(state) / "sessions.json.bak.1795683600000", [stray])
    (sessions(state) / "sessions.json").write_text(json.dumps({"agent:main:main": {"sessionId": S1}}))
    # A turn OpenClaw's CLI backend answered by running Claude Code: Claude Code logs it itself.
    write(
        sessions(state, "coder") / f"{S2}.jsonl",
        [
            header(S2, T0 + 3_000_000, CODER),
            call("d1", T0 + 3_001_000, usage(40, 60, cost=0.00102), SONNET, "claude-cli", "cli"),
        ],
    )
    write(
        sessions(state, "coder") / f"{S3}.jsonl",
        [
            header(S3, T0 + 3_600_000, CODER),
            call(
                "c1",
                T0 + 3_605_000,
                usage(5000, 100, cost=0),
                "qwen3-coder:30b",
                "ollama",
                "openai-completions",
            ),
        ],
    )
    return live


def ledger(settings: Settings) -> list[tuple[object, ...]]:
    conn = connect(settings.db)
    try:
        return conn.execute(
            """
            SELECT session_id, ts_ms, model, provider, project, agent, input_tokens, cache_read_tokens,
                   cache_write_5m_tokens, output_tokens, cost_nanos, reported_cost_nanos
            FROM usage_events WHERE source = 'openclaw' AND counted = 1 ORDER BY ts_ms
            """
        ).fetchall()
    finally:
        conn.close()


def expected(calls: list[Call]) -> list[tuple[object, ...]]:
    found = []
    for session, ts, model, provider, project, t, cost in calls:
        price = Pricer().price(t, model, provider, datetime.fromtimestamp(ts / 1000, UTC))
        found.append(
            (
                session,
                ts,
                model,
                provider,
                project,
                "openclaw",
                t.input,
                t.cache_read,
                t.cache_write_5m,
                t.output,
                price.total_nanos if isinstance(price, Price) else None,
                to_nanos(Decimal(cost)) if cost is not None else None,
            )
        )
    return sorted(found, key=lambda r: int(str(r[1])))


def scan(settings: Settings) -> AgentScan:
    conn = connect(settings.db)
    try:
        return agents.scan(conn, openclaw.LOG, settings, Pricer())
    finally:
        conn.close()


def test_transcripts_give_each_call_once_hidden_calls_included_and_openclaws_cost(
    home: Path, settings: Settings
) -> None:
    install(home / "openclaw")
    got = scan(settings)
    assert ledger(settings) == expected(CALLS)
    # The live transcript, its checkpoint, the reset one and the other agent's two: nothing else.
    assert got.files_seen == 5 and got.events_added == len(CALLS) and not got.skipped
    # The checkpoint's two copies were seen and counted once.
    assert got.events_seen == len(CALLS) + 2
    assert dict(got.unpriced) == {"qwen3-coder:30b": 1}
    again = scan(settings)
    assert (again.files_read, again.lines_read, again.events_added) == (0, 0, 0)


def test_the_state_folder_is_found_as_openclaw_finds_it(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """OPENCLAW_STATE_DIR (else CLAWDBOT_STATE_DIR), else ~/.openclaw, else the first legacy folder
    that exists; ``~`` is OPENCLAW_HOME when set (``resolveStateDir``, ``resolveRequiredHomeDir``)."""
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("OPENCLAW_STATE_DIR")
    assert openclaw.roots(load_settings()) == [home / ".openclaw" / "agents"]
    (home / ".moltbot").mkdir()
    (home / ".clawdbot").mkdir()
    assert openclaw.roots(load_settings()) == [home / ".clawdbot" / "agents"]
    (home / ".openclaw").mkdir()
    assert openclaw.roots(load_settings()) == [home / ".openclaw" / "agents"]
    monkeypatch.setenv("OPENCLAW_HOME", "~/elsewhere")
    assert openclaw.roots(load_settings()) == [home / "elsewhere" / ".openclaw" / "agents"]
    monkeypatch.setenv("CLAWDBOT_STATE_DIR", "~/bot")
    assert openclaw.roots(load_settings()) == [home / "elsewhere" / "bot" / "agents"]
    monkeypatch.setenv("OPENCLAW_STATE_DIR", "~/claw")
    settings = load_settings()
    assert openclaw.roots(settings) == [home / "elsewhere" / "claw" / "agents"]
    install(home / "elsewhere" / "claw")
    conn = connect(settings.db)
    try:
        scans = {s.agent: s for s in agents.ingest_all(conn, settings, Pricer())}
    finally:
        conn.close()
    assert scans["openclaw"].events_added == len(CALLS)


def test_appends_are_read_from_the_offset_and_a_reset_session_counts_nothing_twice(
    home: Path, settings: Settings
) -> None:
    live = install(home / "openclaw")
    scan(settings)
    later = call(
        "a4", T0 + 400_000, usage(4, 90, 10500, 0, 0.0048), SONNET, "anthropic", "anthropic-messages"
    )
    with live.open("a") as f:
        f.write(json.dumps(later, separators=(",", ":")) + "\n")
    appended = scan(settings)
    assert (appended.files_read, appended.lines_read, appended.events_added) == (1, 1, 1)
    # /reset renames the transcript (sessions.ts' archive) and starts a new session in its place.
    live.rename(live.with_name(f"{live.name}.reset.{archived(T0 + 500_000)}"))
    write(live, [header(S1, T0 + 500_000)])
    reset = scan(settings)
    assert reset.files_read == 2 and reset.events_added == 0 and not reset.skipped
    assert len(ledger(settings)) == len(CALLS) + 1


def test_hostile_lines_are_counted_and_skipped_never_stopping_the_read(
    home: Path, settings: Settings
) -> None:
    path = sessions(home / "openclaw") / f"{S1}.jsonl"
    good = call("a1", T0 + 5_000, usage(12, 480, 0, 9800), SONNET, "anthropic", "anthropic-messages")
    after = call("a2", T0 + 60_000, usage(3, 210, 9800), SONNET, "anthropic", "anthropic-messages")
    write(
        path,
        [
            header(S1, T0),
            'this is not json, but names a "usage"',
            '{"type":"message","message":{"role":"assistant","usage":{"input":',
            good,
            call("b1", T0 + 10_000, usage(-5, 1), SONNET, "anthropic", "anthropic-messages"),
            call(
                "b2", T0 + 11_000, {"input": 10**12, "output": 1}, SONNET, "anthropic", "anthropic-messages"
            ),
            # No model of its own and no model_change before it: not guessed.
            call("b3", T0 + 12_000, usage(5, 5), None, "anthropic", "anthropic-messages"),
            {"type": "custom", "customType": openclaw.COMPACTION_USAGE, "id": "b4", "data": "lots"},
            {
                "type": "compaction",
                "id": "b5",
                "timestamp": _stamp(T0 + 13_000),
                "usageAccounting": {"model": SONNET, "provider": "anthropic", "usage": "lots"},
            },
            accounting(
                openclaw.MODEL_CALL_USAGE,
                "b6",
                T0 + 14_000,
                message(10**18, usage(1, 1), SONNET, "anthropic", "x"),
            ),
            after,
        ],
    )
    got = scan(settings)
    assert dict(got.skipped) == {"malformed": 1, "truncated": 1, "invalid_fields": 6}
    assert [r[1] for r in ledger(settings)] == [T0 + 5_000, T0 + 60_000]
    # Rewritten shorter (a compaction's rewrite of the transcript): read again from its start, its
    # skipped lines counted anew, its calls still once.
    write(path, [header(S1, T0), good])
    again = scan(settings)
    assert again.files_reread == 1 and again.events_added == 0 and not again.skipped
    conn = connect(settings.db)
    try:
        skipped = conn.execute("SELECT COUNT(*) FROM skipped_lines WHERE path = ?", (str(path),)).fetchone()
    finally:
        conn.close()
    assert skipped == (0,)


def test_only_the_transcripts_openclaw_counts_are_read() -> None:
    root = "/s/agents/main/sessions/"
    assert openclaw.accept(root + f"{S1}.jsonl")
    assert openclaw.accept(root + f"{S1}.checkpoint.{CHECKPOINT}.jsonl")
    assert openclaw.accept(root + f"{S1}.jsonl.reset.2026-03-20T06-34-44.520Z")
    assert openclaw.accept(root + f"{S1}.jsonl.deleted.2026-03-20T06-34-44Z")
    assert not openclaw.accept(root + f"{S1}.jsonl.bak.2026-03-20T06-34-44.520Z")
    assert not openclaw.accept(root + f"{S1}.trajectory.jsonl")
    assert not openclaw.accept(root + f"{S1}.jsonl.reset.yesterdayZ")
    assert not openclaw.accept(f"/s/agents/main/{S1}.jsonl")  # not in a sessions folder
    assert openclaw.session_of(root + f"{S1}.checkpoint.{CHECKPOINT}.jsonl") == S1
    assert openclaw.session_of(root + f"{S1}.jsonl.deleted.2026-03-20T06-34-44Z") == S1


def _total(mode: str) -> Decimal:
    """The fixtures' total: OpenClaw's own cost where it logged one (``auto``), else our price."""
    nanos = [r[11] if mode == "auto" and r[11] is not None else r[10] for r in expected(CALLS)]
    return sum((from_nanos(int(str(n))) for n in nanos if n is not None), Decimal(0))


@pytest.mark.anyio
async def test_get_spend_by_agent_counts_openclaws_cost_and_names_the_unpriced_call(
    home: Path, client: Client
) -> None:
    install(home / "openclaw")
    result = await client.call_tool(
        "get_spend", {"start": "2026-11-01", "end": "2026-11-30", "group_by": ["agent"]}
    )
    assert result.structured_content is not None
    [row] = [r for r in result.structured_content["rows"] if r["group"]["agent"] == "openclaw"]
    assert Decimal(str(row["cost_usd"])) == _total("auto") != _total("calculate")
    assert row["unpriced_requests"] == 1 and row["requests"] == len(CALLS)
    kinds = {s["source"]: s["kind"] for s in result.structured_content["sources"]}
    assert kinds["openclaw"] == "logs"
