"""Codebuff's turns read from real ``chat-messages.json`` files in Codebuff's own layout.

The layout and the message shape are Codebuff's CLI's (CodebuffAI/codebuff, ``cli/src``):
``utils/run-state-storage.ts`` writes ``JSON.stringify(messages, null, 2)`` to
``<config dir>/projects/<basename of the project>/chats/<chat id>/chat-messages.json``
(``project-files.ts``: the chat id is ``new Date().toISOString()`` with ':' made '-'); a message is
``types/chat.ts``'s ``ChatMessage``; the AI message of a turn is made with the id
``ai-${Date.now()}-<hex>`` and a time-of-day ``timestamp`` (``hooks/use-send-message.ts``), and
given ``credits`` (the ``finish`` event's ``totalCost``) and ``metadata.runState`` when the turn
completes (``hooks/helpers/send-message.ts``, ``handleRunCompletion``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from mcp import Client

from cost_mcp.config import Settings, load_settings
from cost_mcp.money import to_nanos
from cost_mcp.periods import to_ms
from cost_mcp.pricing import Pricer
from cost_mcp.sources import agents
from cost_mcp.sources.agents import codebuff
from cost_mcp.store.connection import connect

CHAT = "2026-11-20T09-00-00.000Z"
T0 = to_ms(datetime(2026, 11, 20, 9, 0, 5, tzinfo=UTC))


def _user(n: int) -> dict[str, object]:
    return {"id": f"user-{T0 + n}", "variant": "user", "content": f"task {n}", "timestamp": "09:00"}


def _ai(ms: int, credits: object = None, **more: object) -> dict[str, object]:
    """A turn's AI message as the CLI keeps it; ``credits`` only once the turn completed."""
    message: dict[str, object] = {
        "id": f"ai-{ms}-9f3a2c",
        "variant": "ai",
        "content": "",
        "blocks": [{"type": "text", "content": "Done.", "textType": "text"}],
        "timestamp": "09:00",
        **more,
    }
    if credits is not None:
        message |= {
            "credits": credits,
            "isComplete": True,
            "completionTime": "12s",
            "metadata": {"runState": {"sessionState": {"mainAgentState": {"creditsUsed": credits}}}},
        }
    return message


def _write(home: Path, messages: list[object], chat: str = CHAT, project: str = "app") -> Path:
    path = home / "codebuff" / "projects" / project / "chats" / chat / codebuff.CHAT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(messages, indent=2))
    return path


def _stored(settings: Settings) -> dict[str, tuple[object, ...]]:
    conn = connect(settings.db)
    try:
        rows = conn.execute(
            "SELECT message_id, ts_ms, model, session_id, project, total_tokens, cost_nanos, "
            "reported_cost_nanos, price_note FROM usage_events WHERE source = 'codebuff' AND counted = 1"
        ).fetchall()
    finally:
        conn.close()
    return {str(r[0]): tuple(r[1:]) for r in rows}


def _usd(credits: str) -> int:
    return to_nanos(Decimal(credits) / 100)


def test_codebuff_turns_count_their_credits_once_at_codebuffs_credit_price(
    home: Path, settings: Settings
) -> None:
    """Each finished turn is one call worth its credits at $0.01, at the start its id names, with no
    tokens and so no price of ours (unpriced in the ``calculate`` mode) and a note saying how it was
    counted. A turn still running (no credits yet) waits; once Codebuff rewrites the file with its
    credits it counts. The chat cut to its last messages (Codebuff keeps 100) loses none already
    counted, and a resumed chat's copy of a turn counts once."""
    first, second = T0 + 60_000, T0 + 180_000
    path = _write(home, [_user(0), _ai(first, 37), _user(1), _ai(second)])
    conn = connect(settings.db)
    scan = agents.scan(conn, codebuff.LOG, settings, Pricer())
    assert (scan.events_added, dict(scan.skipped), scan.errors, dict(scan.unpriced)) == (1, {}, [], {})
    _write(home, [_ai(second, 12.5)])  # the turn finished; the older messages cut from the file
    grown = agents.scan(conn, codebuff.LOG, settings, Pricer())
    # The same chat resumed into a new chat folder, its messages copied, and one more turn.
    _write(home, [_ai(first, 37), _ai(second, 12.5), _ai(T0 + 900_000, 3)], chat="2026-11-20T10-00-00.000Z")
    resumed = agents.scan(conn, codebuff.LOG, settings, Pricer())
    again = agents.scan(conn, codebuff.LOG, settings, Pricer(), full=True)
    conn.close()
    assert (grown.events_added, resumed.events_added, again.events_added) == (1, 1, 0)
    note = codebuff.PRICE_NOTE
    assert _stored(settings) == {
        f"ai-{first}-9f3a2c": (first, "codebuff", CHAT, "app", 0, None, _usd("37"), note),
        f"ai-{second}-9f3a2c": (second, "codebuff", CHAT, "app", 0, None, _usd("12.5"), note),
        f"ai-{T0 + 900_000}-9f3a2c": (
            T0 + 900_000, "codebuff", "2026-11-20T10-00-00.000Z", "app", 0, None, _usd("3"), note,
        ),
    }  # fmt: skip
    assert path.exists()


def test_a_turn_without_a_stamped_id_is_dated_by_its_chat_and_hostile_messages_are_skipped(
    home: Path, settings: Settings
) -> None:
    """A message whose id carries no time is dated by an ISO ``timestamp`` when it has one, else by
    its chat's start (the folder's name); credits that are text, negative, not finite, a boolean or
    beyond any real turn are counted as ``invalid_fields`` and skipped, the good turns still read;
    a free turn (0 credits) and a user's message are no call; a chat file that is not JSON, cut off,
    or not a list is counted once, never stopping the scan."""
    _write(
        home,
        [
            "not a message",
            _user(0),
            {"id": "m1", "variant": "ai", "credits": 5, "timestamp": "2026-11-20T09:30:00.000Z"},
            {"id": "m2", "variant": "agent", "credits": 2, "timestamp": "9:31 AM"},
            _ai(T0, "many"),
            _ai(T0 + 1, -3),
            _ai(T0 + 2, True),
            _ai(T0 + 3, 10**40),
            _ai(T0 + 4, 0),
            {"variant": "ai", "credits": 1},
        ],
    )
    (home / "codebuff" / "projects" / "app" / "chats" / "2026-11-20T11-00-00.000Z").mkdir(parents=True)
    bad = _write(home, [], chat="2026-11-20T11-00-00.000Z")
    bad.write_bytes(b'[{"id": "ai-1795165200000-1", "variant": "ai", "credits": 1')
    _write(home, {"messages": []}, chat="2026-11-20T12-00-00.000Z")  # type: ignore[arg-type]
    (_write(home, [], chat="2026-11-20T13-00-00.000Z")).write_bytes(b"\x00\xff not json")
    conn = connect(settings.db)
    scan = agents.scan(conn, codebuff.LOG, settings, Pricer())
    conn.close()
    assert dict(scan.skipped) == {"invalid_fields": 6, "truncated": 1, "malformed": 1}
    assert scan.errors == []
    stored = _stored(settings)
    assert sorted(stored) == ["m1", "m2"]
    assert stored["m1"][0] == to_ms(datetime(2026, 11, 20, 9, 30, tzinfo=UTC))
    assert stored["m2"][0] == to_ms(datetime(2026, 11, 20, 9, tzinfo=UTC))  # the chat's start


def test_codebuff_reads_only_chat_files_in_each_configured_folder(
    home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Codebuff's folder is ~/.config/manicode (and its dev and staging builds' folders) when no
    variable names one; COST_MCP_CODEBUFF_DIRS, or ccusage's CODEBUFF_DATA_DIR, names several. The
    ``run-state.json`` beside each chat (its whole agent state) is never opened."""
    monkeypatch.delenv("COST_MCP_CODEBUFF_DIRS")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert load_settings().codebuff_paths() == [
        tmp_path / ".config" / "manicode",
        tmp_path / ".config" / "manicode-dev",
        tmp_path / ".config" / "manicode-staging",
    ]
    monkeypatch.setenv("CODEBUFF_DATA_DIR", f"{tmp_path / 'a'}, {tmp_path / 'b'}")
    assert codebuff.roots(load_settings()) == [tmp_path / "a" / "projects", tmp_path / "b" / "projects"]
    assert codebuff.accept("/x/projects/app/chats/c/chat-messages.json")
    assert not codebuff.accept("/x/projects/app/chats/c/run-state.json")


@pytest.mark.anyio
async def test_codebuff_spend_is_answered_by_agent_with_its_note(home: Path, client: Client) -> None:
    """get_spend by agent through the real server gives Codebuff's credits as dollars, read by the
    server's own refresh, and says in its warnings how they were counted."""
    _write(home, [_user(0), _ai(T0, 150), _ai(T0 + 60_000, 7.25)])
    result = await client.call_tool(
        "get_spend", {"start": "2026-11-01", "end": "2026-11-30", "group_by": ["agent"]}
    )
    assert result.structured_content is not None
    rows = result.structured_content["rows"]
    by_agent = {r["group"]["agent"]: (Decimal(str(r["cost_usd"])), r["unpriced_requests"]) for r in rows}
    assert by_agent == {"codebuff": (Decimal("1.5725"), 0)}
    assert (
        f"2 calls priced with an assumption: {codebuff.PRICE_NOTE}" in result.structured_content["warnings"]
    )
