"""Pi's session files, written by the test in Pi's real layout and shapes, read through the real
scanner into both ledger backends and answered by the real server.

Shapes: a session file is what ``SessionManager`` writes (badlogic/pi-mono at 83378aad,
``packages/coding-agent/src/core/session-manager.ts``: the header, then ``_persist``'s entries), its
name ``<ISO stamp with - for : and .>_<session id>.jsonl`` in ``--<cwd with / as ->--/``
(``getDefaultSessionDir``); an assistant message is pi-ai's ``AssistantMessage``
(``packages/ai/src/types.ts``). The v1 session is the shape of pi-mono's own
``packages/coding-agent/test/fixtures/before-compaction.jsonl`` (no entry ids, no version, a float
``cost.total`` as JavaScript prints it)."""

from __future__ import annotations

import json
import os
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
from cost_mcp.sources.agents import pi
from cost_mcp.sources.agents.scanner import AgentEvent, AgentScan
from cost_mcp.store.connection import connect

SHOP = "/home/ana/shop"
SESSION = "0a6c2f5e-91d4-4b7e-8c1a-3f5e7d9b2c41"
FORK = "7b3e9d21-5c8a-4f60-a2d4-e6f8a0b1c3d5"
OLD = "ffae836b-9420-4060-ac13-7745215f90ff"
T0 = to_ms(datetime(2026, 11, 20, 9, tzinfo=UTC))
SONNET = "claude-sonnet-4-5"


def _stamp(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def header(session: str, ms: int, cwd: str = SHOP, version: int | None = 3) -> dict[str, object]:
    found: dict[str, object] = {"type": "session"}
    if version is not None:
        found["version"] = version
    return found | {"id": session, "timestamp": _stamp(ms), "cwd": cwd}


def call(
    entry_id: str | None,
    ms: int,
    model: str,
    provider: str,
    api: str,
    usage: dict[str, object],
    cost: object = None,
) -> dict[str, object]:
    """One assistant message entry as ``appendMessage`` writes it (ids from v2 on)."""
    message = {
        "role": "assistant",
        "content": [{"type": "text", "text": "done"}],
        "api": api,
        "provider": provider,
        "model": model,
        "usage": usage | ({"cost": {"total": cost}} if cost is not None else {}),
        "stopReason": "stop",
        "timestamp": ms,
    }
    entry: dict[str, object] = {"type": "message"}
    if entry_id is not None:
        entry |= {"id": entry_id, "parentId": None}
    return entry | {"timestamp": _stamp(ms + 2000), "message": message}


def user(entry_id: str, ms: int) -> dict[str, object]:
    return {
        "type": "message",
        "id": entry_id,
        "parentId": None,
        "timestamp": _stamp(ms),
        "message": {"role": "user", "content": "fix the usage report", "timestamp": ms},
    }


def usage(inp: int, out: int, read: int = 0, write: int = 0, total: int | None = None) -> dict[str, object]:
    return {
        "input": inp,
        "output": out,
        "cacheRead": read,
        "cacheWrite": write,
        "totalTokens": inp + out + read + write if total is None else total,
    }


def session_path(root: Path, session: str, ms: int, cwd: str = SHOP) -> Path:
    folder = root / "sessions" / f"--{cwd.lstrip('/').replace('/', '-')}--"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{_stamp(ms).replace(':', '-').replace('.', '-')}_{session}.jsonl"


def write(path: Path, entries: list[dict[str, object] | str]) -> None:
    """Entries as Pi's ``JSON.stringify`` writes them, one a line."""
    lines = [e if isinstance(e, str) else json.dumps(e, separators=(",", ":")) for e in entries]
    path.write_text("".join(f"{line}\n" for line in lines))


# (session, ts, model, provider stored, tokens in the ledger's kinds, Pi's cost or None)
Call = tuple[str, int, str, str, Tokens, str | None]

CALLS: list[Call] = [
    (
        SESSION,
        T0 + 5_000,
        SONNET,
        "anthropic",
        Tokens(input=12, cache_write_5m=9800, output=480),
        "0.0440385",
    ),
    (SESSION, T0 + 60_000, SONNET, "anthropic", Tokens(input=3, cache_read=9800, output=210), "0.006099"),
    # OpenAI's Responses API: cached input taken out of input by pi-ai, reasoning inside output.
    (SESSION, T0 + 120_000, "gpt-5", "openai", Tokens(input=2500, cache_read=4000, output=700), "0.0105"),
    # Gemini through Google's API: input logged as promptTokenCount, cached tokens inside.
    (
        SESSION,
        T0 + 180_000,
        "gemini-2.5-pro",
        "google",
        Tokens(input=1000, cache_read=6000, output=300),
        None,
    ),
    # Kimi's coding plan, priced by Moonshot's rates; Pi logged no cost for it.
    (SESSION, T0 + 240_000, "kimi-k2.5", "moonshotai", Tokens(input=800, output=90), None),
    # A local model: no rates anywhere, so unpriced, never $0.
    (SESSION, T0 + 300_000, "qwen3-coder:30b", "ollama", Tokens(input=5000, output=100), None),
    # The fork's own call; the calls it copied from SESSION count once, under SESSION.
    (FORK, T0 + 3_600_000, SONNET, "anthropic", Tokens(input=20, cache_read=10000, output=200), "0.006063"),
    # The v1 session, its cost a float as JavaScript prints it: 0.017400000000000002.
    (
        OLD,
        T0 - 86_400_000,
        "claude-opus-4-5",
        "anthropic",
        Tokens(input=2775, output=141),
        "0.017400000000000002",
    ),
]


def install(root: Path) -> tuple[Path, Path, Path]:
    """A session, a fork of it, and a v1 session, where PI_CODING_AGENT_DIR (conftest) points."""
    own = [
        user("a1b2c3d4", T0),
        call(
            "b2c3d4e5",
            T0 + 5_000,
            SONNET,
            "anthropic",
            "anthropic-messages",
            usage(12, 480, 0, 9800),
            0.0440385,
        ),
        call(
            "c3d4e5f6", T0 + 60_000, SONNET, "anthropic", "anthropic-messages", usage(3, 210, 9800), 0.006099
        ),
        call("d4e5f6a7", T0 + 120_000, "gpt-5", "openai", "openai-responses", usage(2500, 700, 4000), 0.0105),
        call(
            "e5f6a7b8",
            T0 + 180_000,
            "gemini-2.5-pro",
            "google",
            "google-generative-ai",
            usage(7000, 300, 6000, total=7300),
            0.0137,
        ),
        call("f6a7b8c9", T0 + 240_000, "kimi-k2.5", "kimi-coding", "anthropic-messages", usage(800, 90), 0),
        call(
            "a7b8c9d0", T0 + 300_000, "qwen3-coder:30b", "ollama", "openai-completions", usage(5000, 100), 0
        ),
    ]
    first = session_path(root, SESSION, T0)
    write(first, [header(SESSION, T0), *own])
    fork = session_path(root, FORK, T0 + 3_000_000)
    fork_call = call(
        "0d1e2f3a", T0 + 3_600_000, SONNET, "anthropic", "anthropic-messages", usage(20, 200, 10000), 0.006063
    )
    write(fork, [{**header(FORK, T0 + 3_000_000), "parentSession": str(first)}, *own[:4], fork_call])
    old = session_path(root, OLD, T0 - 86_400_000 - 60_000, "/Users/badlogic/workspaces/pi-mono")
    v1_call = call(
        None, T0 - 86_400_000, "claude-opus-4-5", "anthropic", "anthropic-messages", usage(2775, 141)
    )
    raw = json.dumps(v1_call, separators=(",", ":")).replace(
        '"usage":{', '"usage":{"cost":{"total":0.017400000000000002},', 1
    )
    write(
        old, [header(OLD, T0 - 86_400_000 - 60_000, "/Users/badlogic/workspaces/pi-mono", version=None), raw]
    )
    return first, fork, old


def ledger(settings: Settings) -> list[tuple[object, ...]]:
    conn = connect(settings.db)
    try:
        return conn.execute(
            """
            SELECT session_id, ts_ms, model, provider, project, agent, input_tokens, cache_read_tokens,
                   cache_write_5m_tokens, output_tokens, cost_nanos, reported_cost_nanos
            FROM usage_events WHERE source = 'pi' AND counted = 1 ORDER BY ts_ms
            """
        ).fetchall()
    finally:
        conn.close()


def expected(calls: list[Call]) -> list[tuple[object, ...]]:
    found = []
    for session, ts, model, provider, t, cost in calls:
        price = Pricer().price(t, model, provider, datetime.fromtimestamp(ts / 1000, UTC))
        project = "/Users/badlogic/workspaces/pi-mono" if session == OLD else SHOP
        found.append(
            (
                session,
                ts,
                model,
                provider,
                project,
                "pi",
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
        return agents.scan(conn, pi.LOG, settings, Pricer())
    finally:
        conn.close()


def test_sessions_give_each_call_once_with_tokens_mapped_and_pis_cost(home: Path, settings: Settings) -> None:
    install(home / "pi")
    got = scan(settings)
    assert ledger(settings) == expected(CALLS)
    assert got.files_seen == 3 and got.events_added == len(CALLS) and not got.skipped
    # The fork's three copies were seen, and counted once, under the session that made them.
    assert got.events_seen == len(CALLS) + 3
    assert dict(got.unpriced) == {"qwen3-coder:30b": 1}
    again = scan(settings)
    assert (again.files_read, again.lines_read, again.events_added) == (0, 0, 0)


def test_all_agents_read_pi_and_the_setting_follows_pis_own_variable(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PI_CODING_AGENT_DIR moves Pi's folder as Pi's ``getAgentDir`` reads it (``~`` expanded)."""
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PI_CODING_AGENT_DIR", "~/elsewhere")
    settings = load_settings()
    assert pi.roots(settings) == [home / "elsewhere" / "sessions"]
    install(home / "elsewhere")
    conn = connect(settings.db)
    try:
        scans = {s.agent: s for s in agents.ingest_all(conn, settings, Pricer())}
    finally:
        conn.close()
    assert scans["pi"].events_added == len(CALLS)
    monkeypatch.delenv("PI_CODING_AGENT_DIR")
    assert pi.roots(load_settings()) == [home / ".pi" / "agent" / "sessions"]


def test_appends_are_read_from_the_offset_and_a_migrated_rewrite_counts_nothing_twice(
    home: Path, settings: Settings
) -> None:
    first, _, old = install(home / "pi")
    scan(settings)
    later = call(
        "b8c9d0e1", T0 + 400_000, SONNET, "anthropic", "anthropic-messages", usage(4, 90, 10500), 0.0048
    )
    with first.open("a") as f:
        f.write(json.dumps(later, separators=(",", ":")) + "\n")
    appended = scan(settings)
    assert (appended.files_read, appended.lines_read, appended.events_added) == (1, 1, 1)
    # Opening the v1 session migrates it: Pi rewrites the file with a version and new entry ids.
    lines = old.read_text().splitlines()
    migrated = [json.loads(line) for line in lines]
    migrated[0]["version"] = 3
    migrated[1] = {"type": "message", "id": "9e8d7c6b", "parentId": None} | migrated[1]
    old.write_text("".join(json.dumps(e) + "\n" for e in migrated))
    os.utime(old, ns=(old.stat().st_atime_ns, old.stat().st_mtime_ns + 1_000_000_000))
    rewritten = scan(settings)
    assert rewritten.files_read == 1 and rewritten.events_added == 0
    assert len(ledger(settings)) == len(CALLS) + 1


def test_hostile_lines_are_counted_and_skipped_never_stopping_the_read(
    home: Path, settings: Settings
) -> None:
    path = session_path(home / "pi", SESSION, T0)
    good = call("b2c3d4e5", T0 + 5_000, SONNET, "anthropic", "anthropic-messages", usage(12, 480, 0, 9800))
    after = call("c3d4e5f6", T0 + 60_000, SONNET, "anthropic", "anthropic-messages", usage(3, 210, 9800))

    def bad(**changes: object) -> dict[str, object]:
        entry = call("0bad0bad", T0 + 30_000, SONNET, "anthropic", "anthropic-messages", usage(1, 1))
        message = entry["message"]
        assert isinstance(message, dict)
        message.update(changes)
        return entry

    write(
        path,
        [
            header(SESSION, T0),
            'this is not json, but names a "usage"',
            '{"type":"message","message":{"role":"assistant","usage":{"input":',
            good,
            bad(usage={"input": -5, "output": 1}),
            bad(usage={"input": "12", "output": 1}),
            bad(usage={"input": 10**12, "output": 1}),
            bad(usage={"totalTokens": 333}),  # a total without its split: not guessed
            bad(usage="lots"),
            bad(model=None),
            bad(timestamp=10**18),
            # Pi's cost that is no amount: the call still counts, priced by us.
            bad(usage=usage(7, 70) | {"cost": {"total": "free"}}),
            bad(usage=usage(0, 0)),  # a call that failed before any usage: no call, no skip
            after,
        ],
    )
    got = scan(settings)
    assert dict(got.skipped) == {"malformed": 1, "truncated": 1, "invalid_fields": 7}
    rows = ledger(settings)
    assert [(r[1], r[6], r[10] is not None, r[11]) for r in rows] == [
        (T0 + 5_000, 12, True, None),
        (T0 + 30_000, 7, True, None),
        (T0 + 60_000, 3, True, None),
    ]
    # Rewritten shorter (a session file replaced by another): read again from its start, its skipped
    # lines counted anew, its calls still once.
    write(path, [header(SESSION, T0), good])
    again = scan(settings)
    assert again.files_reread == 1 and again.events_added == 0 and not again.skipped
    conn = connect(settings.db)
    try:
        skipped = conn.execute("SELECT COUNT(*) FROM skipped_lines WHERE path = ?", (str(path),)).fetchone()
    finally:
        conn.close()
    assert skipped == (0,)


def test_a_google_call_whose_input_holds_its_cache_reads_is_not_counted_twice() -> None:
    """pi-ai's google and google-vertex providers log promptTokenCount (cached tokens inside) as
    input; its Gemini CLI provider takes them out (pi-mono 2a0283ec). ``totalTokens`` tells which."""
    from cost_mcp.sources.agents.scanner import FileContext

    def parsed(api: str, u: dict[str, object]) -> tuple[Tokens, int | None]:
        entry = call("e5f6a7b8", T0, "gemini-2.5-pro", "google", api, u, 0.0137)
        found = pi.parse_line(json.dumps(entry).encode(), FileContext("x.jsonl", "", {}))
        assert isinstance(found, list) and len(found) == 1
        [event] = found
        assert isinstance(event, AgentEvent)
        return event.tokens, event.reported_cost_nanos

    inclusive = usage(7000, 300, 6000, total=7300)
    assert parsed("google-generative-ai", inclusive) == (
        Tokens(input=1000, cache_read=6000, output=300),
        None,
    )
    assert parsed("google-vertex", inclusive)[0].input == 1000
    exclusive = usage(1000, 300, 6000)
    assert parsed("google-gemini-cli", exclusive) == (
        Tokens(input=1000, cache_read=6000, output=300),
        13_700_000,
    )
    # A later Pi that takes them out itself: its total says so, and nothing is taken out again.
    assert parsed("google-generative-ai", exclusive)[0].input == 1000


def test_providers_map_to_pricing_ids_and_unknown_ones_stay_named() -> None:
    assert pi.pricing_provider("amazon-bedrock", "anthropic.claude-sonnet-4-5-20250929-v1:0") == "aws"
    assert pi.pricing_provider("xai", "grok-4") == "x-ai"
    assert pi.pricing_provider("kimi-coding", "kimi-k2.5") == "moonshotai"
    assert pi.pricing_provider("vercel-ai-gateway", "anthropic/claude-sonnet-4.5") == "anthropic"
    assert pi.pricing_provider("opencode", "gpt-5") == "openai"
    assert pi.pricing_provider("ollama", "qwen3-coder:30b") == "ollama"


def test_a_gateways_claude_ids_are_priced_as_the_cloud_that_bills_them() -> None:
    # Before, a Bedrock id through a gateway kept the gateway's name and was "unknown provider".
    assert pi.pricing_provider("opencode", "us.anthropic.claude-sonnet-4-5-20250929-v1:0") == "aws"
    assert pi.pricing_provider("vercel-ai-gateway", "claude-sonnet-4-5@20250929") == "google"
    assert pi.pricing_provider("vercel-ai-gateway", "qwen/qwen3-coder") == "vercel-ai-gateway"


def _total(mode: str) -> Decimal:
    """The fixtures' total: Pi's own cost where it logged one (``auto``), else our price."""
    nanos = [r[11] if mode == "auto" and r[11] is not None else r[10] for r in expected(CALLS)]
    return sum((from_nanos(int(str(n))) for n in nanos if n is not None), Decimal(0))


@pytest.mark.anyio
async def test_get_spend_by_agent_counts_pis_cost_and_names_the_unpriced_call(
    home: Path, client: Client
) -> None:
    """The default ``auto`` mode counts the cost Pi logged (as Claude Code's costUSD); the local
    model is unpriced, never $0."""
    install(home / "pi")
    result = await client.call_tool(
        "get_spend", {"start": "2026-11-01", "end": "2026-11-30", "group_by": ["agent"]}
    )
    assert result.structured_content is not None
    [row] = [r for r in result.structured_content["rows"] if r["group"]["agent"] == "pi"]
    assert Decimal(str(row["cost_usd"])) == _total("auto")
    assert row["unpriced_requests"] == 1 and row["requests"] == len(CALLS)
    kinds = {s["source"]: s["kind"] for s in result.structured_content["sources"]}
    assert kinds["pi"] == "logs"


def test_the_calculate_mode_prices_pis_calls_by_their_tokens(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cost_mcp.analytics.spend import get_spend, resolve

    monkeypatch.setenv("COST_MCP_COST_MODE", "calculate")
    settings = load_settings()
    install(home / "pi")
    conn = connect(settings.db)
    try:
        agents.ingest_all(conn, settings, Pricer())
        result = get_spend(
            conn, settings, resolve(settings, None, "2026-11-01", "2026-11-30", None), ["agent"]
        )
    finally:
        conn.close()
    [row] = [r for r in result.rows if r.group == {"agent": "pi"}]
    assert row.cost_usd == _total("calculate") != _total("auto")
    assert row.unpriced_requests == 1
