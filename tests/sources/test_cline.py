"""Cline, Roo Code and Kilo Code task folders, read from real-shaped files on disk through the real
scanner into both ledger backends (see tests/fixtures/agents/README.md for the fixture's shapes)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from cost_mcp.config import Settings
from cost_mcp.money import from_nanos, to_nanos
from cost_mcp.periods import to_ms
from cost_mcp.pricing import Price, Pricer, Tokens
from cost_mcp.sources import agents
from cost_mcp.sources.agents import cline, scanner
from cost_mcp.store.connection import connect
from tests.conftest import AGENT_FOLDERS
from tests.sources.pipes import without_waiting_on

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "agents" / "cline" / "User"
CLINE_TASK = "1795172400000"
ROO_TASK = "0196f3a2-5b1c-7d4e-8f90-a1b2c3d4e5f6"
T0 = to_ms(datetime(2026, 11, 20, 11, tzinfo=UTC))
R0 = to_ms(datetime(2026, 11, 21, 9, tzinfo=UTC))
SONNET = "claude-sonnet-4-5-20250929"
SHOP = "/home/ana/shop"

Call = tuple[int, str, str, Tokens, str | None]
"""(ts, model, provider, tokens, the cost the extension logged or None), in the ledger's kinds."""

CLINE_CALLS: list[Call] = [
    (T0 + 12, SONNET, "anthropic", Tokens(input=12, cache_write_5m=9800, output=480), "0.0440385"),
    # Cancelled by the user mid-stream: the tokens it streamed were billed.
    (
        T0 + 15000,
        SONNET,
        "anthropic",
        Tokens(input=3, cache_read=9800, cache_write_5m=1200, output=210),
        "0.010584",
    ),
    # After the switch task_metadata.json's model_usage records at T0 + 59000.
    (
        T0 + 61000,
        "anthropic/claude-haiku-4.5",
        "openrouter",
        Tokens(input=40, cache_read=11000, output=300),
        "0.002640",
    ),
    (T0 + 120000, "gpt-5", "openai", Tokens(input=2500, output=700), "0.0101250"),
    # A local model: Cline logs cost 0, which is no price at all.
    (T0 + 180000, "qwen3-coder:30b", "ollama", Tokens(input=5000, output=100), None),
]
# Roo Code's tokensIn is the whole prompt: 12010 = 10 uncached + 12000 written; 12805 = 5 + 800 + 12000.
ROO_CALLS: list[Call] = [
    (
        R0 + 20,
        "claude-sonnet-4-5",
        "anthropic",
        Tokens(input=10, cache_write_5m=12000, output=350),
        "0.050280",
    ),
    # Switched to Haiku: the request saved to the API history just after this call names it.
    (
        R0 + 30000,
        "claude-haiku-4-5",
        "anthropic",
        Tokens(input=5, cache_read=12000, cache_write_5m=800, output=600),
        "0.015",
    ),
]


def install(home: Path, editor: str = "vscode") -> Path:
    """The fixture's VS Code user folder where COST_MCP_VSCODE_USER_DIRS (set by conftest) points."""
    shutil.copytree(FIXTURE, home / editor / "User")
    return home / editor / "User" / "globalStorage"


def ledger(settings: Settings, source: str) -> list[tuple[object, ...]]:
    conn = connect(settings.db)
    try:
        return conn.execute(
            """
            SELECT message_id, ts_ms, model, provider, session_id, project, agent, input_tokens,
                   cache_read_tokens, cache_write_5m_tokens, output_tokens, cost_nanos, reported_cost_nanos
            FROM usage_events WHERE source = ? AND counted = 1 ORDER BY ts_ms
            """,
            (source,),
        ).fetchall()
    finally:
        conn.close()


def expected(calls: list[Call], task: str, agent: str) -> list[tuple[object, ...]]:
    found: list[tuple[object, ...]] = []
    for ts, model, provider, t, cost in calls:
        price = Pricer().price(t, model, provider, datetime.fromtimestamp(ts / 1000, UTC))
        found.append(
            (
                f"{task}:{ts}",
                ts,
                model,
                provider,
                task,
                SHOP,
                agent,
                t.input,
                t.cache_read,
                t.cache_write_5m,
                t.output,
                price.total_nanos if isinstance(price, Price) else None,
                to_nanos(Decimal(cost)) if cost is not None else None,
            )
        )
    return found


def scan_all(settings: Settings) -> dict[str, scanner.AgentScan]:
    conn = connect(settings.db)
    try:
        return {s.agent: s for s in agents.ingest_all(conn, settings, Pricer())}
    finally:
        conn.close()


def test_task_folders_give_each_call_once_with_model_tokens_and_logged_cost(
    home: Path, settings: Settings
) -> None:
    install(home)
    scans = scan_all(settings)
    assert ledger(settings, "cline") == expected(CLINE_CALLS, CLINE_TASK, "cline")
    assert ledger(settings, "roo_code") == expected(ROO_CALLS, ROO_TASK, "roo-code")
    assert (scans["cline"].events_added, scans["roo-code"].events_added) == (5, 2)
    assert not scans["cline"].skipped and not scans["roo-code"].skipped
    # Only the chats are read as documents: the files beside them are read with them.
    assert (scans["cline"].files_seen, scans["roo-code"].files_seen, scans["kilo-code"].files_seen) == (
        1,
        1,
        0,
    )
    assert dict(scans["cline"].unpriced) == {"qwen3-coder:30b": 1}
    again = scan_all(settings)
    assert again["cline"].files_read == again["roo-code"].files_read == 0


def _ui(globalstorage: Path) -> Path:
    return globalstorage / "saoudrizwan.claude-dev" / "tasks" / CLINE_TASK / "ui_messages.json"


def test_a_rewritten_chat_counts_nothing_twice_and_a_grown_request_keeps_its_largest_copy(
    home: Path, settings: Settings
) -> None:
    path = _ui(install(home))
    scan_all(settings)
    messages = json.loads(path.read_text())
    # The placeholder's request finished (same ts, tokens now there); the first request's message
    # is rewritten with a smaller copy (a retry clears it, then streams again): the larger stays.
    messages[-1]["text"] = json.dumps(
        {"request": "continue", "tokensIn": 7, "tokensOut": 90, "cacheReads": 12000}
    )
    first = json.loads(messages[1]["text"])
    messages[1]["text"] = json.dumps({**first, "tokensOut": 20, "cost": 0.04})
    # A call grown later keeps its grown copy: the OpenAI one streamed 50 more output tokens.
    grown = json.loads(messages[8]["text"])
    messages[8]["text"] = json.dumps({**grown, "tokensOut": 750, "cost": 0.010625})
    path.write_text(json.dumps(messages))
    second = scan_all(settings)["cline"]
    assert second.events_added == 2 and not second.skipped
    got = {r[0]: (r[10], r[12]) for r in ledger(settings, "cline")}
    assert len(got) == 6
    assert got[f"{CLINE_TASK}:{T0 + 12}"] == (480, to_nanos(Decimal("0.0440385")))
    assert got[f"{CLINE_TASK}:{T0 + 120000}"] == (750, to_nanos(Decimal("0.010625")))
    assert got[f"{CLINE_TASK}:{T0 + 240000}"] == (90, None)


def test_a_task_copied_into_another_editor_counts_once(
    home: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Settings Sync or a copied profile puts the same task folder under Cursor too: its calls are
    named by task and ts, not by file, so they count once."""
    install(home)
    install(home, "cursor")
    monkeypatch.setenv("COST_MCP_VSCODE_USER_DIRS", f"{home / 'vscode' / 'User'}, {home / 'cursor' / 'User'}")
    from cost_mcp.config import load_settings

    scans = scan_all(load_settings())
    assert scans["cline"].files_seen == 2 and scans["cline"].events_seen == 10
    assert ledger(settings, "cline") == expected(CLINE_CALLS, CLINE_TASK, "cline")


def _call(ts: object, info: object, **extra: object) -> dict[str, object]:
    text = info if isinstance(info, str) else json.dumps(info)
    return {"ts": ts, "type": "say", "say": "api_req_started", "text": text, **extra}


def test_hostile_task_files_are_counted_and_skipped_never_fatal(
    home: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks = home / "vscode" / "User" / "globalStorage" / "kilocode.kilo-code" / "tasks"
    good = {"tokensIn": 1000, "tokensOut": 10, "cost": 0.0033}
    bad = [
        _call(T0 + 1, "not json {"),  # malformed
        _call(T0 + 2, {"tokensIn": -5, "tokensOut": 1}),  # invalid_fields
        _call(T0 + 3, {"tokensIn": 1.5, "tokensOut": 1}),
        _call(T0 + 4, {"tokensIn": 10**12, "tokensOut": 1}),
        _call(None, good),
        _call("yesterday", good),
        _call(T0 + 7, {"tokensIn": 5, "cost": -1}),
        _call(T0 + 8, {"tokensIn": 5, "cost": 1e9}),
        _call(T0 + 9, {"tokensIn": 5, "cost": "lots"}),
        {"ts": T0 + 10, "type": "say", "say": "api_req_started", "text": 42},
        _call(T0 + 11, good, modelInfo={"modelId": "claude-sonnet-4-5", "providerId": "anthropic"}),
        _call(T0 + 12, good, modelInfo={"modelId": "m" * 5000, "providerId": "p" * 5000}),
    ]
    for name, body in (
        ("t-bad", json.dumps(bad)),
        ("t-notjson", "{oops"),
        ("t-cut", json.dumps([_call(T0 + 20, good)])[:-30]),
        ("t-object", json.dumps({"messages": []})),
        ("t-huge", json.dumps([_call(T0 + 30, good)]) + " " * 40_000),
    ):
        (tasks / name).mkdir(parents=True)
        (tasks / name / "ui_messages.json").write_text(body)
    monkeypatch.setattr(scanner, "MAX_DOCUMENT_BYTES", 32_000)
    got = scan_all(settings)["kilo-code"]
    assert dict(got.skipped) == {"malformed": 3, "invalid_fields": 9, "truncated": 1, "too_long": 1}
    assert got.events_added == 2 and not got.errors
    row, long_names = ledger(settings, "kilo_code")
    assert row[:4] == ("t-bad:" + str(T0 + 11), T0 + 11, "claude-sonnet-4-5", "anthropic")
    assert row[7:11] == (1000, 0, 0, 10) and row[12] == to_nanos(Decimal("0.0033"))
    # Ids a file can make as long as it likes are cut, not stored and grouped whole.
    assert (len(str(long_names[2])), len(str(long_names[3]))) == (256, 64)


def test_providers_map_to_pricing_ids_and_unknown_ones_stay_named() -> None:
    assert cline._provider("bedrock", "anthropic.claude-sonnet-4-5-20250929-v1:0") == "aws"
    assert cline._provider("vertex", "claude-sonnet-4-5@20250929") == "google"
    assert cline._provider("gemini", "gemini-2.5-pro") == "google"
    assert cline._provider("xai", "grok-4") == "x-ai"
    # Cline's own gateway and "OpenAI Compatible": the model's vendor.
    assert cline._provider("cline", "anthropic/claude-sonnet-4.5") == "anthropic"
    assert cline._provider("cline", "x-ai/grok-code-fast-1") == "x-ai"
    assert cline._provider("openai", "gpt-4.1") == "openai"
    assert cline._provider("", "claude-sonnet-4-5") == "anthropic"
    assert cline._provider("lmstudio", "qwen3-coder") == "lmstudio"


def test_a_gateway_call_whose_model_names_no_vendor_keeps_the_gateways_name() -> None:
    # Stored under "" it was priced as whatever genai-prices guessed from the id, under no name.
    assert cline._provider("cline", "qwen/qwen3-coder") == "cline"
    assert cline._provider("litellm", "llama-3.3-70b") == "litellm"
    # "OpenAI Compatible" (a local server, say) is never OpenAI's spend, nor priced as it.
    assert cline._provider("openai", "qwen3-coder") == "openai-compatible"
    # No provider logged at all: nothing to name, the model id alone prices it.
    assert cline._provider("", "qwen3-coder") == ""
    # A gateway's Bedrock and Vertex Claude ids are the clouds' that bill them.
    assert cline._provider("litellm", "us.anthropic.claude-sonnet-4-5-20250929-v1:0") == "aws"


def test_calls_through_clines_claude_code_provider_are_left_to_claude_codes_own_logs(
    home: Path, settings: Settings
) -> None:
    tasks = home / "vscode" / "User" / "globalStorage" / "saoudrizwan.claude-dev" / "tasks"
    (tasks / "t1").mkdir(parents=True)
    info = {"tokensIn": 3, "tokensOut": 40, "cacheReads": 9000, "cost": 0.01}
    messages = [
        _call(T0 + 1, info, modelInfo={"modelId": "claude-sonnet-4-5", "providerId": "claude-code"}),
        _call(T0 + 2, info, modelInfo={"modelId": "claude-sonnet-4-5", "providerId": "anthropic"}),
    ]
    (tasks / "t1" / "ui_messages.json").write_text(json.dumps(messages))
    scan_all(settings)
    assert [r[0] for r in ledger(settings, "cline")] == [f"t1:{T0 + 2}"]


def _server_env(home: Path) -> dict[str, str]:
    keep = [k for k in os.environ if k.startswith("COST_MCP_")]
    keep += ["CLAUDE_CONFIG_DIR", *AGENT_FOLDERS, "CLOUDSDK_CONFIG", "PYTHONPATH"]
    return {k: os.environ[k] for k in keep if k in os.environ}


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["auto", "calculate"])
async def test_get_spend_by_agent_over_a_real_stdio_server(
    home: Path, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In the default cost mode a cost the extension logged counts (as Claude Code's costUSD does);
    ``calculate`` prices the tokens; the local model is unpriced, never $0."""
    install(home)
    monkeypatch.setenv("COST_MCP_COST_MODE", mode)
    params = StdioServerParameters(command=sys.executable, args=["-m", "cost_mcp"], env=_server_env(home))
    async with Client(params) as c:
        result = await c.call_tool(
            "get_spend", {"start": "2026-11-01", "end": "2026-11-30", "group_by": ["agent"]}
        )
    assert result.structured_content is not None
    by_agent = {r["group"]["agent"]: Decimal(str(r["cost_usd"])) for r in result.structured_content["rows"]}

    def total(calls: list[Call]) -> Decimal:
        nanos = [
            row[12] if mode == "auto" and row[12] is not None else row[11] for row in expected(calls, "", "")
        ]
        return sum((from_nanos(n) for n in nanos if isinstance(n, int)), Decimal(0))

    assert by_agent == {"cline": total(CLINE_CALLS), "roo-code": total(ROO_CALLS)}
    unpriced = {r["group"]["agent"]: r["unpriced_requests"] for r in result.structured_content["rows"]}
    assert unpriced == {"cline": 1, "roo-code": 0}


SESSIONS = Path(__file__).resolve().parents[1] / "fixtures" / "agents" / "cline" / "data" / "sessions"
S0 = to_ms(datetime(2026, 11, 22, 10, tzinfo=UTC))
LEAD = "1795341600000_k3v9q"
FORK = "1795345200000_f0rk1"

# Cline 4.x's inputTokens is the whole prompt: 9812 = 12 uncached + 9800 written.
SESSION_CALLS: list[tuple[str, str, Call]] = [
    (
        "msg_a_a1",
        LEAD,
        (S0 + 1000, SONNET, "anthropic", Tokens(input=12, cache_write_5m=9800, output=150), "0.0390045"),
    ),
    (
        "msg_a_a3",
        LEAD,
        (
            S0 + 5000,
            SONNET,
            "anthropic",
            Tokens(input=3, cache_read=9800, cache_write_5m=1200, output=420),
            "0.01206",
        ),
    ),
    # A subagent's call, in its own file beside the lead's.
    ("msg_s_a1", LEAD, (S0 + 20000, "gpt-5", "openai", Tokens(input=2500, output=700), "0.010125")),
    # Through Cline's own gateway: the model id names the vendor.
    (
        "msg_a_a4",
        LEAD,
        (
            S0 + 60000,
            "anthropic/claude-haiku-4.5",
            "anthropic",
            Tokens(input=40, cache_read=12000, output=300),
            "0.00274",
        ),
    ),
    # The fork's own call (the lead's, copied into it with their ids, count once).
    (
        "msg_f_a1",
        FORK,
        (
            S0 + 3_610_000,
            SONNET,
            "anthropic",
            Tokens(input=20, cache_read=12000, cache_write_5m=480, output=200),
            "0.00846",
        ),
    ),
    # The resumed legacy task's new call; its old calls (their totals on msg_l_a2) are the old folder's.
    (
        "msg_l_a3",
        CLINE_TASK,
        (S0 + 7_204_000, SONNET, "anthropic", Tokens(input=100, cache_write_5m=13000, output=250), "0.0528"),
    ),
]


def _expected_sessions() -> list[tuple[object, ...]]:
    found: list[tuple[object, ...]] = []
    for message_id, session, call in SESSION_CALLS:
        (row,) = expected([call], session, "cline")
        found.append((f"msg:{message_id}", *row[1:4], session, *row[5:]))
    return found


def test_cline_4_sessions_give_each_call_once_across_forks_subagents_and_a_resumed_legacy_task(
    home: Path, settings: Settings
) -> None:
    """Cline 4.x's ``sessions/<id>/*.messages.json`` beside the old task folders: exact tokens, model,
    provider and logged cost of each call; a fork's copied calls and a resumed legacy task's rolled-up
    totals (its calls are in its old folder, read too) are not counted again."""
    install(home)
    shutil.copytree(SESSIONS, home / "cline-data" / "sessions")
    scans = scan_all(settings)
    rows = ledger(settings, "cline")
    assert [r for r in rows if str(r[0]).startswith(CLINE_TASK)] == expected(CLINE_CALLS, CLINE_TASK, "cline")
    assert [r for r in rows if str(r[0]).startswith("msg:")] == _expected_sessions()
    # 3 of the lead's, 1 of its subagent, 4 in the fork (3 copied), 1 after the legacy warning.
    assert scans["cline"].events_seen == 5 + 9 and scans["cline"].events_added == 5 + 6
    assert not scans["cline"].skipped and scans["cline"].files_seen == 1 + 4
    again = scan_all(settings)
    assert again["cline"].files_read == 0 and again["cline"].events_added == 0


def test_a_side_file_nested_too_deep_to_decode_costs_only_what_it_adds(
    home: Path, settings: Settings
) -> None:
    """A session manifest (``<id>.json``, where the session ran) nested deeper than msgspec decodes
    (found by tests/reliability/test_agent_fuzz.py) raised RecursionError from the read of the
    messages beside it: the scanner's guard counted them as one bad document, and every call of
    the session was missing from the answers. The manifest only names the project: the calls count,
    under no project."""
    shutil.copytree(SESSIONS, home / "cline-data" / "sessions")
    manifest = home / "cline-data" / "sessions" / LEAD / f"{LEAD}.json"
    manifest.write_text('{"cwd": "/w", "x":' + '{"a":' * 5000 + "1" + "}" * 5001)
    scans = scan_all(settings)
    assert not scans["cline"].skipped
    assert scans["cline"].events_seen == 9
    lead = [r for r in ledger(settings, "cline") if r[4] == LEAD]
    assert len(lead) == 4 and {r[5] for r in lead} == {""}


def test_hostile_session_files_are_counted_and_skipped_never_fatal(home: Path, settings: Settings) -> None:
    sessions = home / "cline-data" / "sessions"
    good = {
        "inputTokens": 1000,
        "outputTokens": 10,
        "cacheReadTokens": 0,
        "cacheWriteTokens": 0,
        "cost": 0.0033,
    }
    model = {"id": "claude-sonnet-4-5", "provider": "anthropic"}

    def msg(i: int, ts: object, metrics: object, **extra: object) -> dict[str, object]:
        return {"id": f"m{i}", "role": "assistant", "ts": ts, "modelInfo": model, "metrics": metrics, **extra}

    bad = [
        msg(1, S0 + 1, {**good, "inputTokens": -5}),  # invalid_fields
        msg(2, S0 + 2, {**good, "outputTokens": 1.5}),
        msg(3, None, good),
        msg(4, "yesterday", good),
        msg(5, S0 + 5, {**good, "cost": -1}),
        msg(6, S0 + 6, {**good, "cost": "lots"}),
        msg(7, S0 + 7, good),
        msg(8, S0 + 8, good, modelInfo={"id": "claude-sonnet-4-5", "provider": "claude-code"}),
        {"id": "m9", "role": "user", "metrics": good, "content": []},
    ]
    for name, body in (
        ("s-bad", json.dumps({"version": 1, "messages": bad})),
        ("s-notjson", "{oops"),
        ("s-cut", json.dumps({"version": 1, "messages": [msg(20, S0 + 20, good)]})[:-30]),
        ("s-array", json.dumps([msg(30, S0 + 30, good)])),
    ):
        (sessions / name).mkdir(parents=True)
        (sessions / name / f"{name}.messages.json").write_text(body)
        (sessions / name / f"{name}.json").write_text("{not a manifest")
    got = scan_all(settings)["cline"]
    assert dict(got.skipped) == {"malformed": 2, "invalid_fields": 6, "truncated": 1}
    assert got.events_added == 1 and not got.errors
    (row,) = ledger(settings, "cline")
    assert row[:7] == ("msg:m7", S0 + 7, "claude-sonnet-4-5", "anthropic", "s-bad", "", "cline")
    assert row[7:11] == (1000, 0, 0, 10) and row[12] == to_nanos(Decimal("0.0033"))


def test_cline_session_data_dir_moves_the_session_store_as_cline_reads_it(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(SESSIONS / LEAD, home / "elsewhere" / LEAD)
    monkeypatch.setenv("CLINE_SESSION_DATA_DIR", str(home / "elsewhere"))
    from cost_mcp.config import load_settings

    moved = load_settings()
    scans = scan_all(moved)
    assert scans["cline"].events_added == 4
    got = [r[0] for r in ledger(moved, "cline")]
    assert got == ["msg:msg_a_a1", "msg:msg_a_a3", "msg:msg_s_a1", "msg:msg_a_a4"]


def test_a_task_side_file_that_is_a_pipe_is_not_waited_on(home: Path, settings: Settings) -> None:
    """A task's ``task_metadata.json`` replaced by a named pipe made the scan wait for a writer
    forever (and every answer behind it); now it is not read, and the task's calls still count."""
    task = home / "vscode" / "User" / "globalStorage" / "kilocode.kilo-code" / "tasks" / "t-pipe"
    task.mkdir(parents=True)
    good = {"tokensIn": 1000, "tokensOut": 10, "cost": 0.0033}
    (task / "ui_messages.json").write_text(json.dumps([_call(T0 + 1, good)]))
    os.mkfifo(task / "task_metadata.json")
    got = without_waiting_on(task / "task_metadata.json", lambda: scan_all(settings))["kilo-code"]
    assert got.events_added == 1 and not got.errors


def test_task_side_files_leading_out_of_the_folder_are_passed_over_and_counted(
    home: Path, settings: Settings
) -> None:
    """A task's ``task_metadata.json`` and ``history_item.json`` that are links to files outside
    the extension's folder were read wherever they led: another file's model named the task's
    calls and its workspace their project. They are now left alone, as the walk leaves a log link
    leading out, and counted among the files passed over."""
    outside = home / "elsewhere"
    outside.mkdir()
    (outside / "meta.json").write_text(
        json.dumps({"model_usage": [{"ts": T0, "model_id": "outside-model", "model_provider_id": "openai"}]})
    )
    (outside / "item.json").write_text(json.dumps({"workspace": "/home/someone/private"}))
    task = home / "vscode" / "User" / "globalStorage" / "kilocode.kilo-code" / "tasks" / "t-link"
    task.mkdir(parents=True)
    good = {"tokensIn": 1000, "tokensOut": 10, "cost": 0.0033}
    (task / "ui_messages.json").write_text(json.dumps([_call(T0 + 1, good)]))
    (task / "task_metadata.json").symlink_to(outside / "meta.json")
    (task / "history_item.json").symlink_to(outside / "item.json")
    got = scan_all(settings)["kilo-code"]
    assert got.events_added == 1 and not got.errors
    [row] = ledger(settings, "kilo_code")
    assert (row[2], row[5]) == ("", "")  # no model nor project: nothing beside the chat said them
    assert dict(got.skipped) == {"link_outside": 2}
