"""Never a dollar twice, never silently partial: one user with every source at once, for the same days.

Claude Code's logs and the same calls over OpenTelemetry; an Anthropic admin key whose bill covers
those calls and calls made outside Claude Code; an agent reporting calls (record_usage), some the
bill covers too; OpenAI (costs + usage, the costs endpoint answering 429 once) and OpenRouter bills;
a Codex session through OpenRouter, read from its rollout and received over OTLP. Real log files,
the fake provider APIs over a real sync, the real receiver's decoding, a real ledger on SQLite and
PostgreSQL; every figure checked against totals computed by hand below.

The QA case (h-qadup): a Codex call read from its rollout and also received over OTLP (``cost-mcp
otel-config`` points Codex at the receiver) counted twice, and its OTel copy counted under
``openai`` even when the session went through OpenRouter, where no OpenAI bill could set it aside.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import time_machine
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from cost_mcp import access, push, sync
from cost_mcp.analytics import agents as agent_tools
from cost_mcp.analytics.spend import get_spend, resolve
from cost_mcp.config import Settings, load_settings
from cost_mcp.models import SpendResult
from cost_mcp.pricing import Pricer, Tokens
from cost_mcp.sources import agents, anthropic, claude_code, openai, otel
from cost_mcp.sources.agents import codex, gemini_cli
from cost_mcp.store import rollup
from cost_mcp.store.connection import Conn
from tests.sources.claude_logs import SONNET, assistant, session_file, write
from tests.sources.fake_providers import (
    ANTHROPIC_KEY,
    OPENAI_KEY,
    OPENROUTER_KEY,
    FakeAnthropic,
    FakeOpenAI,
    FakeOpenRouter,
    Router,
    fixture,
    json_response,
)
from tests.sources.test_claude_code import assert_rollup_is_rebuilt_from_events

NOW = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)
"""Noon on Nov 5: Anthropic has billed through Nov 3 and reported usage through Nov 4, OpenAI
billed through Nov 3 and reported usage through Nov 4, OpenRouter lists activity through Nov 3."""
GPT5 = "openai/gpt-5"
CODEX_A = "019ae000-0000-7000-8000-00000000c0d1"
CODEX_B = "019ae000-0000-7000-8000-00000000c0d2"
CODEX_C = "019ae000-0000-7000-8000-00000000c0d3"
# Prices: Sonnet 4.5 $3 / $15 per M input / output, so 1k + 1k is $0.018; GPT-4o $2.50 / $10, so
# 1k + 1k is $0.0125; GPT-5 through OpenRouter $1.25 / $10, so 10k + 1k is $0.0225.
CLAUDE_CALL = Decimal("0.018")
OPENAI_CALL = Decimal("0.0125")
CODEX_CALL = Decimal("0.0225")


@pytest.fixture
def keys(home: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", ANTHROPIC_KEY)
    monkeypatch.setenv("OPENAI_ADMIN_KEY", OPENAI_KEY)
    monkeypatch.setenv("OPENROUTER_API_KEY", OPENROUTER_KEY)
    return load_settings()


def _kv(key: str, value: str | int) -> KeyValue:
    v = AnyValue(int_value=value) if isinstance(value, int) else AnyValue(string_value=value)
    return KeyValue(key=key, value=v)


def _record(service: str, attrs: list[KeyValue]) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    logs = request.resource_logs.add()
    logs.resource.attributes.append(_kv("service.name", service))
    logs.scope_logs.add().log_records.add().attributes.extend(attrs)
    return request


def claude_event(request_id: str, ts: str) -> ExportLogsServiceRequest:
    """Claude Code's api_request event of a 1k + 1k Sonnet call, with the cost it reports."""
    return _record(
        "claude-code",
        [
            _kv("event.name", "api_request"),
            _kv("event.timestamp", ts),
            _kv("session.id", "s1"),
            _kv("model", SONNET),
            _kv("input_tokens", 1_000),
            _kv("output_tokens", 1_000),
            _kv("request_id", request_id),
            _kv("cost_usd", str(CLAUDE_CALL)),
        ],
    )


def codex_event(session: str, ts: str, **more: str) -> ExportLogsServiceRequest:
    """Codex's response.completed event of a 10k + 1k call (counts as strings, as Codex sends them)."""
    return _record(
        "codex_cli_rs",
        [
            _kv("event.name", "codex.sse_event"),
            _kv("event.kind", "response.completed"),
            _kv("event.timestamp", ts),
            _kv("conversation.id", session),
            _kv("model", GPT5),
            _kv("slug", GPT5),
            _kv("input_token_count", "10000"),
            _kv("output_token_count", "1000"),
            _kv("cached_token_count", 0),
            *[_kv(k, v) for k, v in more.items()],
        ],
    )


def codex_rollout(home: Path, day: str, session: str) -> None:
    """A Codex session through OpenRouter on ``day``: one 10k + 1k call at 09:00 UTC."""
    folder = home / "codex" / "sessions" / day.replace("-", "/")
    folder.mkdir(parents=True, exist_ok=True)
    usage = {
        "input_tokens": 10_000,
        "cached_input_tokens": 0,
        "output_tokens": 1_000,
        "reasoning_output_tokens": 0,
        "total_tokens": 11_000,
    }
    meta = {"id": session, "timestamp": f"{day}T08:00:00.000Z", "cwd": "/w", "model_provider": "openrouter"}
    count = {"type": "token_count", "info": {"total_token_usage": usage, "last_token_usage": usage}}
    lines: list[dict[str, Any]] = [
        {"timestamp": f"{day}T08:00:00.000Z", "type": "session_meta", "payload": meta},
        {"timestamp": f"{day}T08:00:01.000Z", "type": "turn_context", "payload": {"model": GPT5}},
        {"timestamp": f"{day}T09:00:00.000Z", "type": "event_msg", "payload": count},
        {"timestamp": f"{day}T09:00:01.000Z", "type": "event_msg", "payload": {"type": "task_complete"}},
    ]
    rollout = folder / f"rollout-{day}T08-00-00-{session}.jsonl"
    rollout.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")


def report(conn: Conn, settings: Settings, provider: str, model: str, request_id: str, ts: str) -> bool:
    """An agent's record_usage of a 1k + 1k call: whether it was recorded."""
    return agent_tools.record_usage(
        conn, settings, Pricer(), provider=provider, model=model, tokens=Tokens(input=1_000, output=1_000),
        agent="bot", request_id=request_id, timestamp=datetime.fromisoformat(ts), take_alerts=False,
    ).recorded  # fmt: skip


def the_bills() -> Router:
    """The three providers' APIs as they stand at NOW (see NOW)."""
    sonnet = {"model": "claude-sonnet-4-5", "currency": "USD", "description": "Claude Sonnet 4.5 Usage"}
    billed = FakeAnthropic(
        {
            # Nov 2: the two Claude Code calls and the agent's ($0.054), and $0.50 used outside them.
            anthropic.COST_PATH: {
                "2026-11-02": [{**sonnet, "amount": "55.4"}],  # cents
                "2026-11-03": [{**sonnet, "amount": "20"}],
            },
            # Nov 4: the Claude Code call, the agent's, and one more made elsewhere: 3k + 3k.
            anthropic.MESSAGES_PATH: {
                "2026-11-04": [
                    {
                        "uncached_input_tokens": 3_000,
                        "output_tokens": 3_000,
                        "model": "claude-sonnet-4-5",
                        "context_window": "0-200k",
                    }
                ]
            },
        }
    )
    billed.listed_until[anthropic.COST_PATH] = date(2026, 11, 3)
    billed.listed_until[anthropic.MESSAGES_PATH] = date(2026, 11, 4)
    line = {"object": "organization.costs.result", "project_id": "proj_abc", "line_item": "gpt-4o, input"}
    oai = FakeOpenAI(
        {
            openai.COSTS_PATH: {"2026-11-03": [{**line, "amount": {"value": "0.50", "currency": "usd"}}]},
            openai.USAGE_PATH + "completions": {
                "2026-11-04": [
                    {
                        "object": "organization.usage.completions.result",
                        "input_tokens": 3_000,
                        "output_tokens": 3_000,
                        "num_model_requests": 3,
                        "model": "gpt-4o-2024-08-06",
                    }
                ]
            },
        }
    )
    oai.listed_until[openai.COSTS_PATH] = date(2026, 11, 3)
    oai.script(openai.COSTS_PATH, json_response(429, fixture("openai_error_429.json"), {"retry-after": "0"}))
    [documented] = fixture("openrouter_activity_documented.json")["data"]
    activity = {**documented, "date": "2026-11-03", "model": GPT5, "usage": "0.30", "byok_usage_inference": 0}
    return Router(anthropic=billed, openai=oai, openrouter=FakeOpenRouter(NOW.date(), activity=[activity]))


def every_source(home: Path, conn: Conn, settings: Settings) -> Router:
    """The user's week, each source in the order it would reach the ledger; the bills synced last."""
    write(
        session_file(home / "claude", "s1"),
        assistant("msg_1", "req_1", "2026-11-02T09:00:00.000Z", input=1_000, output=1_000),
        assistant("msg_2", "req_2", "2026-11-02T10:00:00.000Z", input=1_000, output=1_000),
        assistant("msg_3", "req_3", "2026-11-04T09:00:00.000Z", input=1_000, output=1_000),
    )
    # req_3's OTel event arrives before its log line is read, the others after.
    assert otel.receive(conn, Pricer(), "logs", claude_event("req_3", "2026-11-04T09:00:00+00:00")).added == 1
    claude_code.ingest(conn, settings, Pricer())
    for request_id, ts in (("req_1", "2026-11-02T09:00:00+00:00"), ("req_2", "2026-11-02T10:00:00+00:00")):
        assert otel.receive(conn, Pricer(), "logs", claude_event(request_id, ts)).added == 1

    assert not report(conn, settings, "anthropic", SONNET, "req_1", "2026-11-02T09:00:00+00:00")  # logged
    assert report(conn, settings, "anthropic", SONNET, "req_out", "2026-11-02T11:00:00+00:00")
    assert report(conn, settings, "anthropic", SONNET, "req_late", "2026-11-04T11:00:00+00:00")
    for request_id, day in (("oa_1", "03"), ("oa_3", "04"), ("oa_2", "05")):
        assert report(conn, settings, "openai", "gpt-4o", request_id, f"2026-11-{day}T11:00:00+00:00")

    # Codex: session A's event arrives before its rollout is read, session B's after.
    assert otel.receive(conn, Pricer(), "logs", codex_event(CODEX_A, "2026-11-03T09:00:00+00:00")).added == 1
    codex_rollout(home, "2026-11-03", CODEX_A)
    codex_rollout(home, "2026-11-05", CODEX_B)
    assert agents.scan(conn, codex.LOG, settings, Pricer()).events_added == 2
    assert otel.receive(conn, Pricer(), "logs", codex_event(CODEX_B, "2026-11-05T09:00:00+00:00")).added == 1

    router = the_bills()
    result = sync.sync_providers(conn, settings, Pricer(), ["anthropic", "openai", "openrouter"], days=5,
                                 transport=router.transport())  # fmt: skip
    assert all(s.ok for s in result.sources), result
    return router


def spend(conn: Conn, settings: Settings, group_by: list[str]) -> SpendResult:
    return get_spend(conn, settings, resolve(settings, None, "2026-11-01", "2026-11-05", None), group_by)


def rows(result: SpendResult) -> dict[tuple[str | None, ...], Decimal | None]:
    return {(*r.group.values(), r.basis): r.cost_usd for r in result.rows}


# By hand, per provider and UTC day: the bill where it covers the day, else the usage report where
# it does, else the local estimates (each call once).
EXPECTED_DAYS = {
    ("2026-11-02", "anthropic", "billed"): Decimal("0.554"),
    ("2026-11-03", "anthropic", "billed"): Decimal("0.20"),
    ("2026-11-03", "openai", "billed"): Decimal("0.50"),  # oa_1 is in it
    ("2026-11-03", "openrouter", "billed"): Decimal("0.30"),  # Codex session A is in it
    ("2026-11-04", "anthropic", "estimated"): 3 * CLAUDE_CALL,  # the usage report: 3k + 3k
    ("2026-11-04", "openai", "estimated"): 3 * OPENAI_CALL,  # the usage report: 3k + 3k
    ("2026-11-05", "openai", "estimated"): OPENAI_CALL,  # oa_2, no report reached today
    ("2026-11-05", "openrouter", "estimated"): CODEX_CALL,  # Codex session B, once
}
BILLED = Decimal("1.554")
ESTIMATED = 3 * CLAUDE_CALL + 4 * OPENAI_CALL + CODEX_CALL


def test_every_source_at_once_counts_each_call_once_and_labels_every_estimate(
    home: Path, conn: Conn, keys: Settings
) -> None:
    with time_machine.travel(NOW, tick=True):
        router = every_source(home, conn, keys)
        assert len(router.openai.calls(openai.COSTS_PATH)) >= 2  # the 429, then the answer

        by_day = spend(conn, keys, ["day", "provider"])
        assert rows(by_day) == EXPECTED_DAYS
        assert by_day.total_usd == BILLED + ESTIMATED == Decimal("1.6805")
        assert by_day.by_basis == {"billed": BILLED, "estimated": ESTIMATED}
        assert by_day.unpriced_requests == 0

        # The same total however it is cut, and each cut adds up to it.
        by_provider = rows(spend(conn, keys, ["provider"]))
        assert by_provider == {
            ("anthropic", "billed"): Decimal("0.754"),
            ("openai", "billed"): Decimal("0.50"),
            ("openrouter", "billed"): Decimal("0.30"),
            ("openai", "estimated"): 4 * OPENAI_CALL,
            ("anthropic", "estimated"): 3 * CLAUDE_CALL,
            ("openrouter", "estimated"): CODEX_CALL,
        }
        assert rows(spend(conn, keys, ["source"])) == {
            ("anthropic-costs", "billed"): Decimal("0.754"),
            ("openai-costs", "billed"): Decimal("0.50"),
            ("openrouter-costs", "billed"): Decimal("0.30"),
            ("anthropic-usage", "estimated"): 3 * CLAUDE_CALL,
            ("openai-usage", "estimated"): 3 * OPENAI_CALL,
            ("record_usage", "estimated"): OPENAI_CALL,
            ("codex", "estimated"): CODEX_CALL,  # its log copy: no `otel` row
        }
        by_model = spend(conn, keys, ["model"])
        per_model: dict[str | None, Decimal] = {}
        for r in by_model.rows:
            assert r.cost_usd is not None
            per_model[r.group["model"]] = per_model.get(r.group["model"], Decimal(0)) + r.cost_usd
        assert per_model == {
            "claude-sonnet-4-5": Decimal("0.754") + 3 * CLAUDE_CALL,
            "gpt-4o": Decimal("0.50") + 4 * OPENAI_CALL,
            GPT5: Decimal("0.30") + CODEX_CALL,
        }
        for cut in (by_provider, rows(by_model)):
            assert sum(v for v in cut.values() if v is not None) == by_day.total_usd

        # What the bills replaced is attribution, never in the total: each local call once.
        local: dict[tuple[str, str], Decimal] = {}
        for a in spend(conn, keys, ["source", "day"]).attribution:
            if a.group["source"] in ("claude_code", "record_usage", "codex") and a.cost_usd is not None:
                key = (str(a.group["source"]), str(a.group["day"]))
                local[key] = local.get(key, Decimal(0)) + a.cost_usd
        assert local == {
            ("claude_code", "2026-11-02"): 2 * CLAUDE_CALL,  # req_1 and req_2, not their OTel copies
            ("record_usage", "2026-11-02"): CLAUDE_CALL,  # req_out; req_1 was not recorded
            ("codex", "2026-11-03"): CODEX_CALL,
            ("record_usage", "2026-11-03"): OPENAI_CALL,
            ("claude_code", "2026-11-04"): CLAUDE_CALL,
            ("record_usage", "2026-11-04"): CLAUDE_CALL + OPENAI_CALL,
        }

        # Each estimated provider-day is labelled as one the bill has not reached, with freshness.
        statuses = {s.source: s for s in by_day.sources}
        for (day, provider, basis), _ in EXPECTED_DAYS.items():
            status = statuses[provider]
            assert status.last_success is not None and status.status == "ok", status
            assert status.coverage is not None
            unreached = {(d.day, d.report) for d in status.coverage.estimated_days}
            assert ((day, "billing") in unreached) == (basis == "estimated"), (day, provider)
        for source in ("claude_code", "codex", "otlp:claude-code", "otlp:codex"):
            assert statuses[source].last_success is not None, source
        assert all(r.complete for r in by_day.rows)
        assert not [w for w in by_day.warnings if w.startswith("PARTIAL")], by_day.warnings
        assert any("2026-11-04 to 2026-11-04" in w and w.startswith("anthropic:") for w in by_day.warnings)

        assert rollup.refresh(conn) >= 0
        assert_rollup_is_rebuilt_from_events(conn)


def _codex_rows(conn: Conn) -> list[tuple[str, str, str, int]]:
    return sorted(
        (str(s), str(p), str(sid), int(c))
        for s, p, sid, c in conn.execute(
            "SELECT source, provider, session_id, counted FROM usage_events WHERE agent = 'codex'"
        )
    )


@pytest.mark.parametrize("order", ["log first", "otel first"])
def test_a_codex_call_read_from_its_rollout_and_received_over_otel_counts_once(
    home: Path, conn: Conn, keys: Settings, order: str
) -> None:
    """The log copy counts (it knows the session went through OpenRouter), whichever came first;
    a session seen only over OTLP still counts from its events."""
    with time_machine.travel(NOW, tick=True):
        codex_rollout(home, "2026-11-05", CODEX_B)
        if order == "log first":
            agents.scan(conn, codex.LOG, keys, Pricer())
        otel.receive(conn, Pricer(), "logs", codex_event(CODEX_B, "2026-11-05T09:00:00+00:00"))
        otel.receive(conn, Pricer(), "logs", codex_event(CODEX_A, "2026-11-05T10:00:00+00:00"))  # no log
        if order == "otel first":
            agents.scan(conn, codex.LOG, keys, Pricer())
        assert _codex_rows(conn) == [
            ("codex", "openrouter", CODEX_B, 1),
            ("otel", "openai", CODEX_A, 1),
            ("otel", "openai", CODEX_B, 0),
        ]
        result = spend(conn, keys, ["provider", "source"])
        assert rows(result) == {
            ("openrouter", "codex", "estimated"): CODEX_CALL,
            ("openai", "otel", "estimated"): CODEX_CALL,
        }
        assert rollup.refresh(conn) >= 0
        assert_rollup_is_rebuilt_from_events(conn)


GEMINI_SESSION = "5f2e1a3b-6c7d-4e8f-9a0b-1c2d3e4f5a6b"


def gemini_chat(home: Path) -> None:
    """A Gemini CLI chat (JSONL) with one call at 09:00 UTC on Nov 5: 9k input (6k cached) + 400 out."""
    folder = home / "gemini" / "tmp" / "c0ffee1234" / "chats"
    folder.mkdir(parents=True)
    tokens = {"input": 9000, "output": 400, "cached": 6000, "thoughts": 0, "tool": 0, "total": 9400}
    lines = [
        {"sessionId": GEMINI_SESSION, "projectHash": "c0ffee1234", "startTime": "2026-11-05T08:59:00.000Z"},
        {"id": "g-1", "timestamp": "2026-11-05T09:00:00.000Z", "type": "gemini", "content": [{"text": "ok"}],
         "thoughts": [], "tokens": tokens, "model": "gemini-2.5-pro"},
    ]  # fmt: skip
    chat = folder / "session-2026-11-05T08-59-5f2e1a3b.jsonl"
    chat.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")


def gemini_event(session: str) -> ExportLogsServiceRequest:
    """Gemini CLI's api_response event of the call :func:`gemini_chat` logs."""
    counts = {"input_token_count": 9000, "output_token_count": 400, "cached_content_token_count": 6000}
    return _record(
        "gemini-cli",
        [
            _kv("event.name", "gemini_cli.api_response"),
            _kv("event.timestamp", "2026-11-05T09:00:00+00:00"),
            _kv("session.id", session),
            _kv("model", "gemini-2.5-pro"),
            _kv("prompt_id", "p1"),
            *[_kv(k, v) for k, v in counts.items()],
        ],
    )


@pytest.mark.parametrize("order", ["log first", "otel first"])
def test_a_gemini_cli_call_read_from_its_chat_and_received_over_otel_counts_once(
    home: Path, conn: Conn, keys: Settings, order: str
) -> None:
    """The same for Gemini CLI, whose api_response event carries no id its chat shares either."""
    with time_machine.travel(NOW, tick=True):
        gemini_chat(home)
        if order == "log first":
            agents.scan(conn, gemini_cli.LOG, keys, Pricer())
        otel.receive(conn, Pricer(), "logs", gemini_event(GEMINI_SESSION))
        otel.receive(conn, Pricer(), "logs", gemini_event("another-session"))  # no log
        if order == "otel first":
            agents.scan(conn, gemini_cli.LOG, keys, Pricer())
        counted = conn.execute(
            "SELECT source, session_id, counted FROM usage_events WHERE agent = 'gemini-cli' ORDER BY 1, 2"
        )
        assert [tuple(r) for r in counted] == [
            ("gemini_cli", GEMINI_SESSION, 1),
            ("otel", GEMINI_SESSION, 0),
            ("otel", "another-session", 1),
        ]
        per_source = rows(spend(conn, keys, ["source"]))
        assert per_source[("gemini_cli", "estimated")] == per_source[("otel", "estimated")] is not None
        assert rollup.refresh(conn) >= 0
        assert_rollup_is_rebuilt_from_events(conn)


ANA = access.Caller("ana@example.com", "member", "ana@example.com")
BOB = access.Caller("bob@example.com", "member", "bob@example.com")


def _pushed_codex(key: str, session: str, ts_ms: int) -> push.WireRow:
    """A Codex rollout row as a laptop pushes it (through OpenRouter, 10k + 1k)."""
    return push.WireRow(
        source="codex", message_id=key, ts_ms=ts_ms, provider="openrouter", model=GPT5,
        session_id=session, agent="codex", input_tokens=10_000, output_tokens=1_000,
    )  # fmt: skip


def test_on_a_team_server_a_pushed_codex_log_and_its_otel_events_count_once(
    conn: Conn, keys: Settings
) -> None:
    """Ana's laptop pushes her Codex session and her Codex exports the same calls over OTLP: once.
    Bob's push naming her session takes nothing of hers. An OTel copy her laptop received and
    pushes itself (counted there before it read the log) counts once too, in either order."""
    with time_machine.travel(NOW, tick=True):
        ts_ms = int(datetime(2026, 11, 5, 9, tzinfo=UTC).timestamp() * 1000)
        ana = {"user.email": ANA.member}
        otel.receive(conn, Pricer(), "logs", codex_event(CODEX_A, "2026-11-05T09:00:00+00:00", **ana))
        push.receive(conn, Pricer(), BOB, [_pushed_codex("k-bob", CODEX_A, ts_ms + 1)])
        assert _codex_rows(conn) == [("codex", "openrouter", CODEX_A, 1), ("otel", "openai", CODEX_A, 1)]

        push.receive(conn, Pricer(), ANA, [_pushed_codex("k-ana", CODEX_A, ts_ms)])
        counted = conn.execute("SELECT source, member FROM usage_events WHERE counted = 1 ORDER BY 1, 2")
        assert [tuple(r) for r in counted] == [("codex", ANA.member), ("codex", BOB.member)]
        assert spend(conn, keys, []).total_usd == 2 * CODEX_CALL

        def otel_copy(key: str, session: str) -> push.WireRow:
            return push.WireRow(
                source="otel", message_id=key, ts_ms=ts_ms, provider="openai", model=GPT5,
                session_id=session, agent="codex", input_tokens=10_000, output_tokens=1_000,
            )  # fmt: skip

        push.receive(conn, Pricer(), ANA, [_pushed_codex("k-b", CODEX_B, ts_ms)])
        push.receive(conn, Pricer(), ANA, [otel_copy("o-b", CODEX_B)])
        push.receive(conn, Pricer(), ANA, [otel_copy("o-c", CODEX_C)])
        push.receive(conn, Pricer(), ANA, [_pushed_codex("k-c", CODEX_C, ts_ms)])
        assert spend(conn, keys, []).total_usd == 4 * CODEX_CALL

        assert rollup.refresh(conn) >= 0
        assert_rollup_is_rebuilt_from_events(conn)
