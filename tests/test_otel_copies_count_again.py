"""A Codex or Gemini CLI session's OTel copies count again when the log copies that shadowed them go.

The two copies of such a session count once (``store.session_copies``): its log copy while one is
stored, else its OTel copies. The rule was applied when rows were written only, so a path that
deleted the log copies (``team forget-pushes`` over part of a session, a push's removal of a copy
its laptop's reader found counted twice, the reader's own removal) or filed them under another
session (a copy of the call that wins the key brings its own session id) left the OTel copies
uncounted: the session's calls vanished from every total. Through the paths the product uses (the
receiver, the push, the log reader on real files), on both backends, in either arrival order; the
OTel copy lies in another quarter-hour than the log copy, so a rollup not rebuilt where the flag
flipped would disagree with the events.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import time_machine
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from cost_mcp import push
from cost_mcp.analytics import reported as reported_tools
from cost_mcp.config import Settings
from cost_mcp.pricing import Pricer
from cost_mcp.sources import agents, otel
from cost_mcp.sources.agents import codex
from cost_mcp.store import reported, rollup
from cost_mcp.store.connection import Conn
from tests.sources.claude_logs import SONNET
from tests.sources.test_claude_code import assert_rollup_is_rebuilt_from_events
from tests.test_every_source_once import (
    ANA,
    CODEX_CALL,
    GPT5,
    NOW,
    _kv,
    _pushed_codex,
    _record,
    claude_event,
    codex_event,
    spend,
)

AT_9 = int(datetime(2026, 11, 5, 9, tzinfo=UTC).timestamp() * 1000)
"""The log copies' instant; the OTel copies are at 09:20, the next quarter-hour but one."""
OTEL_AT = "2026-11-05T09:20:00+00:00"
QUARTER_HOUR = 15 * 60 * 1000
SESSION = "019ae000-0000-7000-8000-0000000000a1"
OTHER = "019ae000-0000-7000-8000-0000000000b2"
ANA_EMAIL = {"user.email": ANA.member}


def gemini_event(session: str, ts: str, **more: str) -> ExportLogsServiceRequest:
    """Gemini CLI's api_response event of a 9k (6k cached) + 400 call."""
    counts = {"input_token_count": 9000, "output_token_count": 400, "cached_content_token_count": 6000}
    return _record(
        "gemini-cli",
        [
            _kv("event.name", "gemini_cli.api_response"),
            _kv("event.timestamp", ts),
            _kv("session.id", session),
            _kv("model", "gemini-2.5-pro"),
            *[_kv(k, v) for k, v in counts.items()],
            *[_kv(k, v) for k, v in more.items()],
        ],
    )


def pushed_gemini(key: str, session: str, ts_ms: int) -> push.WireRow:
    """The same call as a laptop pushes its chat's row: 3k uncached + 6k cache reads + 400 out."""
    return push.WireRow(
        source="gemini_cli", message_id=key, ts_ms=ts_ms, provider="google", model="gemini-2.5-pro",
        session_id=session, agent="gemini-cli", input_tokens=3_000, cache_read_tokens=6_000,
        output_tokens=400,
    )  # fmt: skip


Copies = tuple[Callable[[str, int], push.WireRow], Callable[[str], ExportLogsServiceRequest]]
AGENTS: dict[str, Copies] = {
    "codex": (
        lambda session, ts_ms: _pushed_codex("k-1", session, ts_ms),
        lambda session: codex_event(session, OTEL_AT, **ANA_EMAIL),
    ),
    "gemini-cli": (
        lambda session, ts_ms: pushed_gemini("g-1", session, ts_ms),
        lambda session: gemini_event(session, OTEL_AT, **ANA_EMAIL),
    ),
}


def total(conn: Conn, settings: Settings) -> Decimal:
    """Every call of the days, as an answer counts them (the rollup refreshed first)."""
    return spend(conn, settings, []).total_usd


def counted(conn: Conn) -> list[tuple[str, str, int]]:
    """(source, session, counted) of every stored copy."""
    return sorted(
        (str(s), str(sid), int(c))
        for s, sid, c in conn.execute("SELECT source, session_id, counted FROM usage_events")
    )


def settled(conn: Conn) -> None:
    """The rollup rebuilt where anything was marked, and equal to a rebuild from the events."""
    assert rollup.refresh(conn) >= 0
    assert_rollup_is_rebuilt_from_events(conn)


@pytest.mark.parametrize("order", ["log first", "otel first"])
@pytest.mark.parametrize("agent", sorted(AGENTS))
def test_forget_pushes_over_the_log_copy_lets_the_sessions_otel_copy_count(
    conn: Conn, settings: Settings, agent: str, order: str
) -> None:
    """Ana's laptop pushed her session's log copy (09:00) and her agent sent the call over OTLP
    (09:20): counted once. `team forget-pushes` over 09:00-09:15 removes the log copy alone: the
    OTel copy counts again, the total unchanged to the nano-dollar."""
    log_copy, otel_copy = AGENTS[agent]
    source = log_copy(SESSION, AT_9).source
    with time_machine.travel(NOW, tick=True):
        if order == "log first":
            push.receive(conn, Pricer(), ANA, [log_copy(SESSION, AT_9)])
        otel.receive(conn, Pricer(), "logs", otel_copy(SESSION))
        if order == "otel first":
            push.receive(conn, Pricer(), ANA, [log_copy(SESSION, AT_9)])
        assert counted(conn) == [(source, SESSION, 1), ("otel", SESSION, 0)]
        before = total(conn, settings)
        assert before > 0

        forgot = reported_tools.forget_pushes(conn, settings, ANA.member, AT_9, AT_9 + QUARTER_HOUR)
        assert [s.source for s in forgot.sums] == [source]

        assert counted(conn) == [("otel", SESSION, 1)]
        assert total(conn, settings) == before
        settled(conn)


@pytest.mark.parametrize("order", ["log first", "otel first"])
def test_forget_pushes_leaves_a_session_that_keeps_a_log_copy_counted_once(
    conn: Conn, settings: Settings, order: str
) -> None:
    """The range takes one of the session's two log copies: the other still holds the session, so
    its OTel copy stays uncounted (never a dollar twice)."""
    with time_machine.travel(NOW, tick=True):
        later = _pushed_codex("k-2", SESSION, AT_9 + 2 * QUARTER_HOUR)
        if order == "log first":
            push.receive(conn, Pricer(), ANA, [_pushed_codex("k-1", SESSION, AT_9), later])
        otel.receive(conn, Pricer(), "logs", codex_event(SESSION, OTEL_AT, **ANA_EMAIL))
        if order == "otel first":
            push.receive(conn, Pricer(), ANA, [_pushed_codex("k-1", SESSION, AT_9), later])
        assert total(conn, settings) == 2 * CODEX_CALL

        reported_tools.forget_pushes(conn, settings, ANA.member, AT_9, AT_9 + QUARTER_HOUR)

        assert counted(conn) == [("codex", SESSION, 1), ("otel", SESSION, 0)]
        assert total(conn, settings) == CODEX_CALL
        settled(conn)


@pytest.mark.parametrize("order", ["log first", "otel first"])
@pytest.mark.parametrize("agent", sorted(AGENTS))
def test_a_pushed_copy_filed_under_another_session_lets_the_old_sessions_otel_copy_count(
    conn: Conn, settings: Settings, agent: str, order: str
) -> None:
    """A second copy of the call, the same tokens and time under a session id that sorts first,
    wins the key (the push's tie-break) and moves the call to that session: the one it left holds
    no log copy, and counts from its OTel copy."""
    log_copy, otel_copy = AGENTS[agent]
    source = log_copy(OTHER, AT_9).source
    with time_machine.travel(NOW, tick=True):
        if order == "log first":
            push.receive(conn, Pricer(), ANA, [log_copy(OTHER, AT_9)])
        otel.receive(conn, Pricer(), "logs", otel_copy(OTHER))
        if order == "otel first":
            push.receive(conn, Pricer(), ANA, [log_copy(OTHER, AT_9)])
        assert counted(conn) == [(source, OTHER, 1), ("otel", OTHER, 0)]
        one = total(conn, settings)

        assert SESSION < OTHER
        push.receive(conn, Pricer(), ANA, [log_copy(SESSION, AT_9)])

        assert counted(conn) == [(source, SESSION, 1), ("otel", OTHER, 1)]
        assert total(conn, settings) == 2 * one
        settled(conn)


def test_a_push_removing_a_forks_copy_lets_the_forks_otel_copy_count(conn: Conn, settings: Settings) -> None:
    """Ana's laptop found its reader had counted a fork's copy of a parent call twice and pushes its
    removal: the fork's session, left with no log copy, counts from its OTel copy."""
    with time_machine.travel(NOW, tick=True):
        push.receive(conn, Pricer(), ANA, [_pushed_codex("k-parent", SESSION, AT_9)])
        push.receive(conn, Pricer(), ANA, [_pushed_codex("k-copy", OTHER, AT_9 + 60_000)])
        otel.receive(conn, Pricer(), "logs", codex_event(OTHER, OTEL_AT, **ANA_EMAIL))
        assert counted(conn) == [("codex", SESSION, 1), ("codex", OTHER, 1), ("otel", OTHER, 0)]

        answer = push.receive(
            conn, Pricer(), ANA, [], forgets=[reported.ForgetChange(("codex", "k-copy", "", 0), False)]
        )
        assert answer.removed == 1

        assert counted(conn) == [("codex", SESSION, 1), ("otel", OTHER, 1)]
        assert total(conn, settings) == 2 * CODEX_CALL
        settled(conn)


def test_claude_codes_otel_copy_counts_again_when_forget_pushes_takes_its_log_copy(
    conn: Conn, settings: Settings
) -> None:
    """Claude Code's rule (per request id, m016's delete trigger) already held: checked the same way."""
    with time_machine.travel(NOW, tick=True):
        log_row = push.WireRow(
            source="claude_code", message_id="msg_1", request_id="req_1", ts_ms=AT_9, provider="anthropic",
            model=SONNET, session_id="s1", agent="claude-code", input_tokens=1_000, output_tokens=1_000,
        )  # fmt: skip
        push.receive(conn, Pricer(), ANA, [log_row])
        event = claude_event("req_1", OTEL_AT)
        event.resource_logs[0].scope_logs[0].log_records[0].attributes.append(_kv("user.email", ANA.member))
        otel.receive(conn, Pricer(), "logs", event)
        assert counted(conn) == [("claude_code", "s1", 1), ("claude_code_otel", "s1", 0)]
        before = total(conn, settings)

        reported_tools.forget_pushes(conn, settings, ANA.member, AT_9, AT_9 + QUARTER_HOUR)

        assert counted(conn) == [("claude_code_otel", "s1", 1)]
        assert total(conn, settings) == before
        settled(conn)


def rollout(home: Path, name: str, session: str, started: str, call_at: str) -> None:
    """A Codex rollout of session ``session`` begun at ``started`` holding one 10k + 1k call at
    ``call_at``: a line stamped before its session began is a copy (``replay``) of another's call."""
    folder = home / "codex" / "sessions" / "2026" / "11" / "05"
    folder.mkdir(parents=True, exist_ok=True)
    usage = {
        "input_tokens": 10_000,
        "cached_input_tokens": 0,
        "output_tokens": 1_000,
        "reasoning_output_tokens": 0,
        "total_tokens": 11_000,
    }
    meta = {"id": session, "timestamp": started, "cwd": "/w", "model_provider": "openrouter"}
    count = {"type": "token_count", "info": {"total_token_usage": usage, "last_token_usage": usage}}
    lines: list[dict[str, Any]] = [
        {"timestamp": started, "type": "session_meta", "payload": meta},
        {"timestamp": call_at, "type": "turn_context", "payload": {"model": GPT5}},
        {"timestamp": call_at, "type": "event_msg", "payload": count},
    ]
    (folder / name).write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")


@pytest.mark.parametrize("order", ["log first", "otel first"])
def test_a_read_that_files_a_call_under_another_session_lets_the_old_sessions_otel_copy_count(
    home: Path, conn: Conn, settings: Settings, order: str
) -> None:
    """A rollout holding a copy of a call (stamped before its session began) is read first, so the
    call is filed under the copy's session; its original's rollout, read next, wins the key and
    files the call under its own session. The copy's session holds no log copy after that read: it
    counts from its OTel copy."""
    with time_machine.travel(NOW, tick=True):
        rollout(home, f"rollout-2026-11-05T09-30-00-{OTHER}.jsonl", OTHER, "2026-11-05T09:30:00.000Z",
                "2026-11-05T09:00:00.000Z")  # fmt: skip
        if order == "log first":
            agents.scan(conn, codex.LOG, settings, Pricer())
        otel.receive(conn, Pricer(), "logs", codex_event(OTHER, OTEL_AT))
        if order == "otel first":
            agents.scan(conn, codex.LOG, settings, Pricer())
        assert counted(conn) == [("codex", OTHER, 1), ("otel", OTHER, 0)]
        assert total(conn, settings) == CODEX_CALL

        rollout(home, f"rollout-2026-11-05T08-00-00-{SESSION}.jsonl", SESSION, "2026-11-05T08:00:00.000Z",
                "2026-11-05T09:00:00.000Z")  # fmt: skip
        agents.scan(conn, codex.LOG, settings, Pricer())

        assert counted(conn) == [("codex", SESSION, 1), ("otel", OTHER, 1)]
        assert total(conn, settings) == 2 * CODEX_CALL
        settled(conn)


def test_a_read_that_removes_a_forks_copies_lets_the_forks_otel_copy_count(
    home: Path, conn: Conn, settings: Settings
) -> None:
    """An earlier cost-mcp stored a Codex fork's copy of its parent's calls under the fork's session
    (test_agent_repair's reader before the fix); the fork made no call of its own, and its Codex sent
    an event over OTLP under its session. Reading the fork's rollout removes the copies
    (``agent_files.drop_copies``): the fork's session holds no log copy, and counts from its OTel copy."""
    from cost_mcp.analytics.spend import get_spend
    from cost_mcp.periods import days_period
    from tests.sources.test_agent_repair import _fork, _lines, _parent, _read_as_before_the_fix, _sessions

    def total_usd() -> Decimal:
        day = datetime(2026, 11, 20, tzinfo=UTC).date()
        return get_spend(
            conn, settings, days_period(day, day, tz=settings.tz), [], take_alerts=False
        ).total_usd

    folder = _sessions(home)
    (folder / "rollout-2026-11-20T12-00-00-p-1.jsonl").write_text(_lines(_parent()))
    agents.scan(conn, codex.LOG, settings, Pricer())
    fork = _lines(_fork("f-1", 30)[:6])  # the copied burst, and no call of the fork's own
    _read_as_before_the_fix(conn, settings, home, "rollout-2026-11-20T12-30-00-f-1.jsonl", fork)
    otel.receive(conn, Pricer(), "logs", codex_event("f-1", "2026-11-20T13:00:00+00:00"))
    copies, calls = [("codex", "f-1", 1)] * 2, [("codex", "p-1", 1)] * 2
    assert counted(conn) == [*copies, *calls, ("otel", "f-1", 0)]
    before = total_usd()

    (folder / "rollout-2026-11-20T12-30-00-f-1.jsonl").write_text(fork)
    [scan] = [s for s in agents.ingest_all(conn, settings, Pricer()) if s.agent == codex.AGENT]

    assert scan.copies_removed == 2
    assert counted(conn) == [*calls, ("otel", "f-1", 1)]
    otel_nanos = int(conn.execute("SELECT cost_nanos FROM usage_events WHERE source = 'otel'").fetchone()[0])
    assert total_usd() == before - (Decimal(scan.copies_removed_nanos) - otel_nanos) / 10**9
    settled(conn)


def gemini_chat(home: Path, session: str, output: int) -> None:
    """A Gemini CLI chat (JSONL) of ``session`` holding message ``g-1``: 9k input (6k cached) +
    ``output`` out, at 09:00."""
    folder = home / "gemini" / "tmp" / "c0ffee1234" / "chats"
    folder.mkdir(parents=True, exist_ok=True)
    tokens = {
        "input": 9000,
        "output": output,
        "cached": 6000,
        "thoughts": 0,
        "tool": 0,
        "total": 9000 + output,
    }
    lines = [
        {"sessionId": session, "projectHash": "c0ffee1234", "startTime": "2026-11-05T08:59:00.000Z"},
        {"id": "g-1", "timestamp": "2026-11-05T09:00:00.000Z", "type": "gemini", "content": [{"text": "ok"}],
         "thoughts": [], "tokens": tokens, "model": "gemini-2.5-pro"},
    ]  # fmt: skip
    chat = folder / f"session-2026-11-05T08-59-{session[:8]}.jsonl"
    chat.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")


@pytest.mark.parametrize("order", ["log first", "otel first"])
def test_a_gemini_message_read_again_under_another_session_lets_the_old_sessions_otel_copy_count(
    home: Path, conn: Conn, settings: Settings, order: str
) -> None:
    """Gemini CLI counts a message once by its id, the copy with the most tokens winning: a chat of
    another session holding the message with its full tokens moves it there. The session it left
    holds no log copy: it counts from its OTel copy."""
    from cost_mcp.sources.agents import gemini_cli

    with time_machine.travel(NOW, tick=True):
        gemini_chat(home, OTHER, 400)
        if order == "log first":
            agents.scan(conn, gemini_cli.LOG, settings, Pricer())
        otel.receive(conn, Pricer(), "logs", gemini_event(OTHER, OTEL_AT))
        if order == "otel first":
            agents.scan(conn, gemini_cli.LOG, settings, Pricer())
        assert counted(conn) == [("gemini_cli", OTHER, 1), ("otel", OTHER, 0)]
        one = total(conn, settings)

        gemini_chat(home, SESSION, 500)
        agents.scan(conn, gemini_cli.LOG, settings, Pricer())

        assert counted(conn) == [("gemini_cli", SESSION, 1), ("otel", OTHER, 1)]
        otel_nanos = int(
            conn.execute("SELECT cost_nanos FROM usage_events WHERE source = 'otel'").fetchone()[0]
        )
        log_nanos = int(
            conn.execute("SELECT cost_nanos FROM usage_events WHERE source = 'gemini_cli'").fetchone()[0]
        )
        assert one == Decimal(otel_nanos) / 10**9  # the same call, priced the same either way
        assert total(conn, settings) == Decimal(log_nanos + otel_nanos) / 10**9
        settled(conn)
