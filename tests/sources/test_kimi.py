"""Kimi CLI's wire files, written by the test in Kimi's real layout and shapes, read through the real
scanner into both ledger backends and answered by the real server.

Shapes (MoonshotAI/kimi-cli at 4a550eff): ``src/kimi_cli/wire/file.py`` (the ``metadata`` header,
``WireMessageRecord`` lines written with ``json.dumps(..., ensure_ascii=False)``),
``src/kimi_cli/wire/types.py`` (``StatusUpdate``, ``SubagentEvent``, ``WireMessageEnvelope``),
``packages/kosong/src/kosong/chat_provider/__init__.py`` (``TokenUsage``),
``src/kimi_cli/soul/kimisoul.py`` (the ``StatusUpdate`` after each step), ``src/kimi_cli/metadata.py``
(``kimi.json``, session folders named by the work folder's MD5), ``src/kimi_cli/config.py``
(``config.toml``), ``src/kimi_cli/subagents/store.py`` (``subagents/<id>/wire.jsonl``) and
``src/kimi_cli/session_fork.py`` (a fork's lines copied verbatim); ccusage's
``adapter/kimi/loader.rs`` test line ``loads_status_update_token_usage_from_wire_files``."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from mcp import Client

from cost_mcp.config import Settings
from cost_mcp.money import from_nanos
from cost_mcp.pricing import Price, Pricer, Tokens
from cost_mcp.sources import agents
from cost_mcp.sources.agents import kimi
from cost_mcp.sources.agents.scanner import AgentScan
from cost_mcp.store.connection import connect

SHOP = "/home/ana/shop"
FOLDER = hashlib.md5(SHOP.encode()).hexdigest()
SESSION = "3f1c2b9a-7d4e-4a61-9c0b-5e8f7a6d2c10"
FORK = "8a2d4c6e-1b3f-4d5a-8e7c-9f0a1b2c3d4e"
AGENT_ID = "a1b2c3d4"
T0 = datetime(2026, 11, 20, 9, tzinfo=UTC).timestamp()
SECRET = "sk-kimi-never-stored-0123456789"
CONFIG = f"""default_model = "kimi-k2.5"

[providers.moonshot]
type = "kimi"
base_url = "https://api.moonshot.ai/v1"
api_key = "{SECRET}"

[models."kimi-k2.5"]
provider = "moonshot"
model = "kimi-k2.5"
max_context_size = 262144
"""


def record(offset: float, kind: str, payload: dict[str, object]) -> str:
    """A wire line as ``WireFile.append_record`` writes it."""
    return json.dumps(
        {"timestamp": T0 + offset, "message": {"type": kind, "payload": payload}}, ensure_ascii=False
    )


def status(offset: float, response: str, other: int, out: int, read: int = 0, write: int = 0) -> str:
    usage = {"input_other": other, "output": out, "input_cache_read": read, "input_cache_creation": write}
    return record(
        offset,
        "StatusUpdate",
        {
            "context_usage": 0.05,
            "context_tokens": other + read + write,
            "max_context_tokens": 262144,
            "token_usage": usage,
            "message_id": response,
            "plan_mode": False,
            "mcp_status": None,
        },
    )


METADATA = json.dumps({"type": "metadata", "protocol_version": "1.10"})
TURN = record(0.1, "TurnBegin", {"user_input": "fix the usage report"})
OWN = [
    status(5.25, "chatcmpl-1", 9800, 480),
    status(60.5, "chatcmpl-2", 200, 210, read=9800),
    # Kimi's status updates with no usage (MCP, plan mode) are no calls.
    record(61, "StatusUpdate", {"token_usage": None, "message_id": None, "mcp_status": {"loading": False}}),
    # The parent's copy of its subagent's update: the call is read from the subagent's own file.
    record(
        90,
        "SubagentEvent",
        {"agent_id": AGENT_ID, "event": json.loads(status(89, "chatcmpl-s1", 3000, 120))["message"]},
    ),
]
SUB = [status(89, "chatcmpl-s1", 3000, 120)]
FORK_OWN = [status(3600, "chatcmpl-f1", 150, 90, read=10000)]

# (session, seconds after T0, tokens) in the ledger's kinds: each call once.
CALLS = [
    (SESSION, 5.25, Tokens(input=9800, output=480)),
    (SESSION, 60.5, Tokens(input=200, cache_read=9800, output=210)),
    (SESSION, 89, Tokens(input=3000, output=120)),
    (FORK, 3600, Tokens(input=150, cache_read=10000, output=90)),
]


def write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def install(share: Path, config: str | None = CONFIG) -> Path:
    """A session, its subagent, and a fork of it, where KIMI_SHARE_DIR (conftest) points."""
    if config is not None:
        write(share / "config.toml", [config])
    write(
        share / "kimi.json",
        [json.dumps({"work_dirs": [{"path": SHOP, "kaos": "local", "last_session_id": FORK}]})],
    )
    sessions = share / "sessions" / FOLDER
    wire = write(sessions / SESSION / "wire.jsonl", [METADATA, TURN, *OWN])
    write(sessions / SESSION / "context.jsonl", ['{"role": "_checkpoint", "id": 0}'])
    write(sessions / SESSION / "subagents" / AGENT_ID / "wire.jsonl", [METADATA, *SUB])
    fork = write(sessions / FORK / "wire.jsonl", [METADATA, TURN, *OWN[:2], *FORK_OWN])
    # fork_session's state: its title, and the wire's mtime just after it wrote the copies.
    state = {"version": 1, "custom_title": "Fork: fix the usage report", "wire_mtime": T0 + 3000.5}
    write(fork.parent / "state.json", [json.dumps(state)])
    write(sessions / SESSION / "state.json", [json.dumps({"version": 1, "custom_title": "usage"})])
    return wire


def ledger(settings: Settings) -> list[tuple[object, ...]]:
    conn = connect(settings.db)
    try:
        return conn.execute(
            """
            SELECT session_id, ts_ms, model, provider, project, agent, input_tokens, cache_read_tokens,
                   cache_write_5m_tokens, output_tokens, cost_nanos
            FROM usage_events WHERE source = 'kimi_cli' AND counted = 1 ORDER BY ts_ms
            """
        ).fetchall()
    finally:
        conn.close()


def expected(model: str = "kimi-k2.5", provider: str = "moonshotai") -> list[tuple[object, ...]]:
    found: list[tuple[object, ...]] = []
    for session, offset, t in CALLS:
        ts_ms = int((T0 + offset) * 1000)
        price = Pricer().price(t, model, provider, datetime.fromtimestamp(ts_ms / 1000, UTC))
        cost = price.total_nanos if isinstance(price, Price) else None
        row = (
            session,
            ts_ms,
            model,
            provider,
            SHOP,
            "kimi-cli",
            t.input,
            t.cache_read,
            t.cache_write_5m,
            t.output,
        )
        found.append((*row, cost))
    return found


def scan(settings: Settings) -> AgentScan:
    conn = connect(settings.db)
    try:
        return agents.scan(conn, kimi.LOG, settings, Pricer())
    finally:
        conn.close()


def test_wire_files_give_each_call_once_across_subagents_and_forks(home: Path, settings: Settings) -> None:
    install(home / "kimi")
    got = scan(settings)
    rows = ledger(settings)
    # The fork's copies (stamped before its state.json's wire_mtime) count once, under the parent.
    assert rows == expected()
    assert all(r[10] is not None for r in rows)  # Moonshot's rates for kimi-k2.5
    # Three wire files (context.jsonl is not one); the fork's two copies seen and counted once.
    assert (got.files_seen, got.events_seen, got.events_added) == (3, 6, 4) and not got.skipped
    again = scan(settings)
    assert (again.files_read, again.events_added) == (0, 0)
    conn = connect(settings.db)
    try:
        stored = " ".join(str(r) for r in conn.execute("SELECT * FROM usage_events").fetchall())
        states = " ".join(str(r) for r in conn.execute("SELECT * FROM agent_files").fetchall())
    finally:
        conn.close()
    assert SECRET not in stored and SECRET not in states  # the config's API key is never read into them


def test_side_files_nested_too_deep_to_decode_cost_only_what_they_add(home: Path, settings: Settings) -> None:
    """``kimi.json`` (the work folders) nested deeper than ``json`` decodes (found by
    tests/reliability/test_agent_fuzz.py) raised RecursionError on every line of every wire file,
    each of which asks for it: every Kimi call was counted as a bad line and none was in the
    answers. A fork's ``state.json`` and ``config.toml`` so nested did the same. They only name the
    projects, the fork's time and the model: the calls count."""
    share = home / "kimi"
    install(share)
    deep = "[" * 5000 + "]" * 5000
    (share / "kimi.json").write_text('{"work_dirs": ' + deep + "}")
    (share / "config.toml").write_text("x = " + deep + "\n")
    got = scan(settings)
    assert not got.skipped
    assert len(ledger(settings)) == len(expected())


def test_a_work_folder_no_path_can_name_costs_only_itself(home: Path, settings: Settings) -> None:
    """A work folder in ``kimi.json`` whose path holds a lone surrogate (``\\ud800``; found by
    tests/reliability/test_agent_fuzz.py) raised UnicodeEncodeError on every line of every wire
    file: every Kimi call was counted as a bad line. That entry names no folder; the others do."""
    share = home / "kimi"
    install(share)
    broken = {"path": "/home/ana/\ud800", "kaos": "local"}
    dirs = [broken, {"path": SHOP, "kaos": "local", "last_session_id": FORK}]
    (share / "kimi.json").write_text(json.dumps({"work_dirs": dirs}))  # json writes the surrogate as \ud800
    got = scan(settings)
    assert not got.skipped
    assert ledger(settings) == expected()


def test_a_model_no_price_is_known_for_or_no_config_is_unpriced_never_free(
    home: Path, settings: Settings
) -> None:
    """Kimi Code's plan model (``kimi-for-coding``) has no public rates; without a config no model
    is known: both are stored unpriced (answers name them), never at $0."""
    plan = CONFIG.replace('default_model = "kimi-k2.5"', 'default_model = "kimi-code"') + (
        '\n[models."kimi-code"]\nprovider = "moonshot"\nmodel = "kimi-for-coding"\n'
        "max_context_size = 262144\n"
    )
    install(home / "kimi", plan)
    got = scan(settings)
    assert [(*r[2:4], r[10]) for r in ledger(settings)] == [("kimi-for-coding", "moonshotai", None)] * 4
    assert dict(got.unpriced) == {"kimi-for-coding": 4}


def test_no_config_stores_the_calls_under_no_model(home: Path, settings: Settings) -> None:
    """``cost-mcp ingest --full`` says so in words a user can act on: before, "no price for  (4
    calls): add it to prices.toml", a model with no name to add."""
    from tests.test_cli import run

    install(home / "kimi", config=None)
    done = run("ingest", "--full", env={"COLUMNS": "400"})
    assert done.returncode == 0, done.stderr
    assert "kimi-cli: 3 files (3 read), 4 new calls" in done.stdout
    assert "4 calls name no model: unpriced, shown as (model not reported)" in done.stdout
    assert "no price for  " not in done.stdout
    assert [(r[2], r[3], r[10]) for r in ledger(settings)] == [("", "", None)] * 4


def test_appends_are_read_from_the_offset_and_hostile_lines_are_counted_and_skipped(
    home: Path, settings: Settings
) -> None:
    wire = install(home / "kimi")
    scan(settings)
    bad_usage = {"input_other": 1, "output": 1}
    with wire.open("a") as f:
        for line in [
            'not json but a "token_usage"',
            '{"timestamp": 1795165300.0, "message": {"type": "StatusUpdate", "payload": {"token_usage": {',
            record(200, "StatusUpdate", {"token_usage": {"input_other": -1, "output": 5}}),
            record(201, "StatusUpdate", {"token_usage": {"input_other": "9", "output": 5}}),
            record(202, "StatusUpdate", {"token_usage": {"input_other": 10**12, "output": 5}}),
            record(203, "StatusUpdate", {"token_usage": "lots"}),
            json.dumps(
                {
                    "timestamp": "yesterday",
                    "message": {"type": "StatusUpdate", "payload": {"token_usage": bad_usage}},
                }
            ),
            json.dumps(
                {
                    "timestamp": 1e30,
                    "message": {"type": "StatusUpdate", "payload": {"token_usage": bad_usage}},
                }
            ),
            status(300, "chatcmpl-3", 400, 50, read=10000),
        ]:
            f.write(line + "\n")
    got = scan(settings)
    assert (got.files_read, got.lines_read, got.events_added) == (1, 9, 1)
    assert dict(got.skipped) == {"malformed": 1, "truncated": 1, "invalid_fields": 6}
    assert len(ledger(settings)) == len(CALLS) + 1


def test_kimi_share_dir_and_work_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """KIMI_SHARE_DIR moves Kimi's folder as Kimi's ``get_share_dir`` reads it; a session folder is
    its work folder's MD5, prefixed with the KAOS name when that is not ``local``."""
    from cost_mcp.config import load_settings

    monkeypatch.setenv("KIMI_SHARE_DIR", str(tmp_path / "share"))
    assert kimi.roots(load_settings()) == [tmp_path / "share" / "sessions"]
    monkeypatch.delenv("KIMI_SHARE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert kimi.roots(load_settings()) == [tmp_path / ".kimi" / "sessions"]
    write(
        tmp_path / "kimi.json",
        [json.dumps({"work_dirs": [{"path": SHOP, "kaos": "local"}, {"path": "/srv/app", "kaos": "ssh"}]})],
    )
    assert kimi.work_dirs(tmp_path) == {
        FOLDER: SHOP,
        "ssh_" + hashlib.md5(b"/srv/app").hexdigest(): "/srv/app",
    }
    assert kimi.provider_for("openai_legacy", "gpt-5") == "openai"
    assert kimi.provider_for("gemini", "gemini-2.5-pro") == "google"


@pytest.mark.anyio
async def test_get_spend_by_agent_gives_kimis_exact_total(home: Path, client: Client) -> None:
    install(home / "kimi")
    result = await client.call_tool(
        "get_spend", {"start": "2026-11-01", "end": "2026-11-30", "group_by": ["agent"]}
    )
    assert result.structured_content is not None
    [row] = [r for r in result.structured_content["rows"] if r["group"]["agent"] == "kimi-cli"]
    total = sum((from_nanos(int(str(r[10]))) for r in expected()), Decimal(0))
    assert Decimal(str(row["cost_usd"])) == total and row["requests"] == len(CALLS)
    assert row["unpriced_requests"] == 0


def test_kimis_config_or_state_replaced_by_a_pipe_is_not_waited_on(home: Path, settings: Settings) -> None:
    """A named pipe where config.toml, kimi.json or a session's state.json should be: the scan
    reads what it can and never waits for a writer (every answer would wait behind it)."""
    from tests.sources.pipes import without_waiting_on

    wire = install(home / "kimi", config=None)
    os.mkfifo(home / "kimi" / "config.toml")
    (wire.parent / "state.json").unlink()
    os.mkfifo(wire.parent / "state.json")
    got = without_waiting_on(home / "kimi" / "config.toml", lambda: scan(settings))
    assert got.events_added == len(CALLS) and not got.errors
    assert dict(got.skipped) == {"not_a_file": 1}  # the state.json beside the wire, counted
