"""Kilo CLI's calls, read from a real ``kilo.db`` in Kilo's own data folder by OpenCode's reader.

Kilo CLI is Kilo-Org/kilocode's ``packages/opencode``, a fork of OpenCode: ``Database.Path`` is
``kilo.db`` in ``Global.Path.data`` (``packages/opencode/src/storage/db.ts`` at f10b24fc), which is
``path.join(xdgData, "kilo")`` (``src/global/index.ts`` at 30e1f287), and its tables are OpenCode's
(``message``, ``part``, as ccusage's ``kilo`` adapter reads them, ``adapter/kilo/loader.rs`` at
5816e640). Messages and ``step-finish`` parts are written as OpenCode's ``MessageV2`` (the shapes
of tests/fixtures/agents/opencode).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from mcp import Client

from cost_mcp.config import Settings, load_settings
from cost_mcp.money import from_nanos, to_nanos
from cost_mcp.pricing import Price, Pricer, Tokens
from cost_mcp.sources import agents
from cost_mcp.sources.agents import kilo_cli, opencode
from cost_mcp.store.connection import connect

SONNET = "claude-sonnet-4-5"
GATEWAY_SONNET = "anthropic/claude-sonnet-4.5"
"""A model as Kilo's gateway names it (OpenRouter's ids: ``DEFAULT_MODEL = "anthropic/claude-sonnet-4"``
in ``packages/kilo-gateway/src/api/constants.ts`` at 000a08d0, its provider ``"kilo"``)."""
CREATED = 1_795_165_200_000  # 2026-11-20T09:00:00Z


def _message(
    mid: str, cost: float, tokens: dict[str, object], provider: str = "anthropic", model: str = SONNET
) -> dict[str, object]:
    return {
        "id": mid,
        "sessionID": "ses_kilo1",
        "role": "assistant",
        "time": {"created": CREATED, "completed": CREATED + 9_000},
        "modelID": model,
        "providerID": provider,
        "mode": "code",
        "path": {"cwd": "/home/ana/shop", "root": "/home/ana/shop"},
        "cost": cost,
        "tokens": tokens,
    }


def _tokens(inp: int, out: int, read: int = 0, write: int = 0) -> dict[str, object]:
    return {"input": inp, "output": out, "reasoning": 0, "cache": {"read": read, "write": write}}


def _db(path: Path, messages: list[dict[str, object]], steps: dict[str, list[dict[str, object]]]) -> None:
    """A database with OpenCode's ``message`` and ``part`` tables (``session.sql.ts``), in WAL mode as
    Kilo opens it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute(
        "CREATE TABLE message (id TEXT PRIMARY KEY, session_id TEXT NOT NULL, time_created INTEGER, "
        "time_updated INTEGER, data TEXT)"
    )
    db.execute(
        "CREATE TABLE part (id TEXT PRIMARY KEY, message_id TEXT NOT NULL, session_id TEXT NOT NULL, "
        "time_created INTEGER, time_updated INTEGER, data TEXT)"
    )
    for m in messages:
        db.execute(
            "INSERT INTO message VALUES (?, ?, ?, ?, ?)",
            (m["id"], m["sessionID"], CREATED, CREATED + 9_000, json.dumps(m)),
        )
    for mid, finished in steps.items():
        for n, tokens in enumerate(finished):
            part: dict[str, object] = {"id": f"prt_{mid}_{n}", "messageID": mid, "sessionID": "ses_kilo1"}
            part |= {"type": "step-finish", "reason": "tool-calls", "tokens": tokens, "cost": 0}
            db.execute(
                "INSERT INTO part VALUES (?, ?, ?, ?, ?, ?)",
                (part["id"], mid, "ses_kilo1", CREATED, CREATED, json.dumps(part)),
            )
    db.commit()
    db.close()


def _stored(settings: Settings, source: str) -> list[tuple[object, ...]]:
    conn = connect(settings.db)
    try:
        return conn.execute(
            "SELECT message_id, agent, provider, input_tokens, cache_read_tokens, output_tokens, "
            "reported_cost_nanos, project FROM usage_events WHERE source = ? AND counted = 1 "
            "ORDER BY message_id",
            (source,),
        ).fetchall()
    finally:
        conn.close()


def test_kilo_cli_is_read_from_its_own_folder_as_its_own_agent(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kilo's ``kilo.db`` in ``$XDG_DATA_HOME/kilo`` (no ``KILO_DATA_DIR``): each message once, its
    tokens the sum of its steps', its cost Kilo's, as agent ``kilo-cli`` (the Kilo Code extension's
    task files are ``kilo-code``'s). OpenCode's reader leaves Kilo's database alone and Kilo's
    leaves an ``opencode.db`` alone, so neither agent counts the other's calls; a new message (only
    the WAL changed) is read by the next scan, and nothing twice."""
    xdg = tmp_path / "xdg-data"
    monkeypatch.delenv("KILO_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(xdg))
    settings = load_settings()
    assert settings.kilo_data_path() == xdg / "kilo"
    first, second = _tokens(4_000, 200, write=12_000), _tokens(300, 500, read=12_000)
    _db(
        xdg / "kilo" / "kilo.db",
        [
            _message("msg_1", 0.0525, second),
            _message("msg_2", 0.0, _tokens(1_000, 50), provider="kilo", model=GATEWAY_SONNET),
            _message("msg_4", 0.0, _tokens(800, 20), provider="kilo", model="z-ai/glm-4.6:free"),
        ],
        {"msg_1": [first, second]},
    )
    _db(xdg / "kilo" / "opencode.db", [_message("msg_other", 0.5, _tokens(9, 9))], {})
    _db(home / "opencode" / "kilo.db", [_message("msg_other2", 0.5, _tokens(9, 9))], {})
    conn = connect(settings.db)
    read = agents.scan(conn, kilo_cli.LOG, settings, Pricer())
    other = agents.scan(conn, opencode.LOG, settings, Pricer())
    db = sqlite3.connect(xdg / "kilo" / "kilo.db")
    m3 = _message("msg_3", 0.01, _tokens(100, 10))
    db.execute(
        "INSERT INTO message VALUES (?, ?, ?, ?, ?)", ("msg_3", "ses_kilo1", CREATED, CREATED, json.dumps(m3))
    )
    db.commit()
    db.close()
    again = agents.scan(conn, kilo_cli.LOG, settings, Pricer())
    conn.close()
    assert (read.events_added, read.skipped, read.errors, other.events_added) == (3, {}, [], 0)
    assert again.events_added == 1
    assert _stored(settings, "kilo_cli") == [
        ("msg_1", "kilo-cli", "anthropic", 4_300, 12_000, 700, to_nanos(Decimal("0.0525")), "/home/ana/shop"),
        # Through Kilo's own gateway, logged at $0: no reported cost; under its model's vendor.
        ("msg_2", "kilo-cli", "anthropic", 1_000, 0, 50, None, "/home/ana/shop"),
        ("msg_3", "kilo-cli", "anthropic", 100, 0, 10, to_nanos(Decimal("0.01")), "/home/ana/shop"),
        # A vendor no price list knows: the gateway stays named, the call unpriced, never free.
        ("msg_4", "kilo-cli", "kilo", 800, 0, 20, None, "/home/ana/shop"),
    ]
    assert read.unpriced == {"z-ai/glm-4.6:free": 1}
    assert _stored(settings, "opencode") == []


def test_kilo_cli_legacy_message_files_are_read(home: Path, settings: Settings) -> None:
    """A Kilo from before its database keeps OpenCode's legacy one-file-per-message storage
    (``storage/message/<session>/<message>.json``, which Kilo's ``json-migration.ts`` moves into
    ``kilo.db``): read too, and a message in both counts once."""
    message = _message("msg_9", 0.02, _tokens(500, 40))
    folder = home / "kilo" / "storage" / "message" / "ses_kilo1"
    folder.mkdir(parents=True)
    (folder / "msg_9.json").write_text(json.dumps(message))
    _db(home / "kilo" / "kilo.db", [message], {})
    conn = connect(settings.db)
    scan = agents.scan(conn, kilo_cli.LOG, settings, Pricer())
    conn.close()
    assert (scan.files_read, scan.skipped) == (2, {})
    assert [r[:6] for r in _stored(settings, "kilo_cli")] == [("msg_9", "kilo-cli", "anthropic", 500, 0, 40)]


def test_a_kilo_database_locked_by_kilo_names_kilo(home: Path, settings: Settings) -> None:
    """Kilo holding its database locked: the scan says it is Kilo CLI writing, not OpenCode, and
    the next scan reads it."""
    path = home / "kilo" / "kilo.db"
    _db(path, [_message("msg_1", 0.01, _tokens(100, 10))], {})
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = DELETE")  # readers wait on a writer's lock, unlike WAL
    db.execute("BEGIN EXCLUSIVE")
    db.execute("UPDATE message SET data = data WHERE id = 'none'")
    conn = connect(settings.db)
    locked = agents.scan(conn, kilo_cli.LOG, settings, Pricer())
    db.execute("ROLLBACK")
    db.close()
    after = agents.scan(conn, kilo_cli.LOG, settings, Pricer())
    conn.close()
    assert [e.split(": ", 1)[1] for e in locked.errors] == [
        "locked by another process (Kilo CLI writing); read again next time"
    ]
    assert (after.events_added, after.errors) == (1, [])


@pytest.mark.anyio
async def test_kilo_cli_spend_is_answered_by_agent(home: Path, client: Client) -> None:
    """get_spend by agent through the real server: Kilo CLI's own cost of its call under
    ``kilo-cli``, and a call through Kilo's gateway it logged at $0 priced by its tokens at its
    model's vendor's rates."""
    gateway = _message("msg_2", 0.0, _tokens(1_000, 50), provider="kilo", model=GATEWAY_SONNET)
    _db(home / "kilo" / "kilo.db", [_message("msg_1", 0.0525, _tokens(4_000, 200)), gateway], {})
    result = await client.call_tool(
        "get_spend", {"start": "2026-11-01", "end": "2026-11-30", "group_by": ["agent"]}
    )
    assert result.structured_content is not None
    rows = result.structured_content["rows"]
    by_agent = {r["group"]["agent"]: Decimal(str(r["cost_usd"])) for r in rows}
    priced = Pricer().price(
        Tokens(input=1_000, output=50),
        GATEWAY_SONNET,
        "anthropic",
        datetime.fromtimestamp(CREATED / 1000, UTC),
    )
    assert isinstance(priced, Price)
    assert by_agent == {"kilo-cli": Decimal("0.0525") + from_nanos(priced.total_nanos)}
