"""The OTLP receiver of `cost-mcp serve --http`, fed by the official OpenTelemetry SDK and exporters.

A real server process (uvicorn on a free port) and a real ledger file; the SDK's own exporters send
protobuf (gzip) and the JSON encoding is posted as OTLP/JSON. Expected costs come from the same
pricing function record_usage uses, applied to the tokens each test sends.
"""

from __future__ import annotations

import gzip
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
import pytest
from opentelemetry._logs import LogRecord
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import Counter, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from cost_mcp.analytics import budgets, hourly, spend
from cost_mcp.analytics.budget_glance import glance
from cost_mcp.analytics.budgets import set_budget
from cost_mcp.config import Settings
from cost_mcp.models import BudgetScope
from cost_mcp.money import from_nanos
from cost_mcp.periods import to_ms
from cost_mcp.pricing import Price, Pricer, Tokens
from cost_mcp.sources import claude_code
from cost_mcp.store import connect, write_transaction
from cost_mcp.store.connection import Conn
from cost_mcp.web import http
from tests import servers
from tests.servers import ServerProcess
from tests.sources.claude_logs import assistant, session_file, write
from tests.sources.otlp_bombs import empty_records
from tests.test_webhooks import Receiver, ops, ops_webhook, receiver  # noqa: F401 (fixtures)

SONNET = "claude-sonnet-4-5-20250929"
HAIKU = "claude-haiku-4-5-20251001"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop(proc: ServerProcess, grace: float = 10) -> None:
    """SIGTERM, up to ``grace`` seconds for the server to end, then SIGKILL: a server that ignores
    SIGTERM (or hangs shutting down) is still gone, rather than left running by a teardown that
    raised TimeoutExpired."""
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=grace)


@pytest.fixture
def server(settings: Settings, tmp_path: Path) -> Iterator[str]:
    """`cost-mcp serve --http` in its own process, on a free loopback port; yields its base URL.

    Its output goes to a file, not to pipes nobody reads (a server that logged 64 KiB would have
    blocked on a full pipe), and the start waits after any answer but 200, not only after a
    refused connection (a 503 while starting used up the tries at once), as test_team's start."""
    port = _free_port()
    log = tmp_path / "server.stderr"
    argv = ["serve", "--http", "--port", str(port)]
    # Forked by tests/servers.py's zygote (its own process all the same), not spawned: the start
    # costs no imports.
    proc: ServerProcess | None = servers.start(argv, os.environ, log)
    if proc is None:
        with log.open("ab") as stderr:
            proc = subprocess.Popen(
                [sys.executable, "-m", "cost_mcp", *argv],
                env=dict(os.environ),
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if proc.poll() is not None:
                raise AssertionError(f"server exited: {log.read_text(errors='replace')}")
            try:
                if httpx2.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            time.sleep(0.1)
        else:
            raise AssertionError("server did not start")
        yield base
    finally:
        stop(proc)


def _ago(minutes: int) -> datetime:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).replace(microsecond=0)


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _price(tokens: Tokens, model: str, provider: str, when: datetime) -> int:
    priced = Pricer().price(tokens, model, provider, when)
    assert isinstance(priced, Price)
    return priced.total_nanos


def _api_request(
    request_id: str, when: datetime, tokens: Tokens, model: str = SONNET, **extra: Any
) -> dict[str, Any]:
    """Attributes of a claude_code.api_request event, as Claude Code sends them."""
    attrs: dict[str, Any] = {
        "event.name": "api_request",
        "event.timestamp": _iso(when),
        "event.sequence": 1,
        "session.id": "sess-otel",
        "prompt.id": "prompt-1",
        "user.email": "dev@example.com",
        "user.account_id": "user_01abc",
        "organization.id": "org-1",
        "model": model,
        "input_tokens": tokens.input,
        "output_tokens": tokens.output,
        "cache_read_tokens": tokens.cache_read,
        "cache_creation_tokens": tokens.cache_write_5m,
        "cost_usd": 0.0123,
        "cost_usd_micros": 12300,
        "duration_ms": 1500,
        "request_id": request_id,
        "speed": "normal",
        "query_source": "repl_main_thread",
    }
    attrs.update(extra)
    return attrs


def _send_logs(
    base: str,
    events: list[dict[str, Any]],
    *,
    compression: Compression = Compression.Gzip,
    token: str | None = None,
) -> None:
    """Emit events through the SDK's logger provider and OTLP/HTTP protobuf exporter (with
    ``token`` as the bearer, as OTEL_EXPORTER_OTLP_HEADERS sets it)."""
    resource = Resource.create(
        {"service.name": "claude-code", "team.id": "platform", "cost_center": "eng-123", "department": "eng"}
    )
    provider = LoggerProvider(resource=resource)
    headers = {"Authorization": f"Bearer {token}"} if token else None
    exporter = OTLPLogExporter(endpoint=f"{base}/v1/logs", compression=compression, headers=headers)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("com.anthropic.claude_code.events")
    for attrs in events:
        logger.emit(
            LogRecord(body="claude_code.api_request", attributes=attrs, event_name="claude_code.api_request")
        )
    provider.shutdown()


def arrived(db: Path | str, member: str, when: datetime) -> None:
    """As if the OTLP receiver had last heard from ``member`` at ``when`` (and first then, if
    later): what days of nothing more sent since leave in the ledger, for doctor's lists by arrival."""
    conn = connect(db)
    try:
        with write_transaction(conn):
            at = to_ms(when)
            conn.execute(
                "UPDATE otlp_senders SET last_ms = ?, "
                "first_ms = CASE WHEN first_ms > ? THEN ? ELSE first_ms END WHERE member = ?",
                (at, at, at, member),
            )
    finally:
        conn.close()


def _rows(settings: Settings, where: str = "1 = 1") -> list[dict[str, Any]]:
    """Usage events by column name, on either backend."""
    conn = connect(settings.db)
    try:
        cur = conn.execute(f"SELECT * FROM usage_events WHERE {where} ORDER BY request_id, id")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        conn.close()


def _total(settings: Settings, mode: str = "calculate", **filters: list[str]) -> Decimal:
    """Total spend over the last week, with our own prices ("calculate") unless told otherwise."""
    settings = settings.model_copy(update={"cost_mode": mode})
    conn = connect(settings.db)
    try:
        p = spend.resolve(settings, "last_7_days", None, None, None)
        return spend.get_spend(conn, settings, p, [], spend.Filters(**filters), take_alerts=False).total_usd
    finally:
        conn.close()


def test_claude_code_events_become_usage_events(server: str, settings: Settings) -> None:
    a, b = Tokens(input=1200, output=300, cache_read=5000, cache_write_5m=800), Tokens(input=10, output=20)
    ta, tb = _ago(30), _ago(20)
    _send_logs(
        server,
        [
            _api_request("req_A", ta, a),
            _api_request("req_B", tb, b, model=HAIKU, speed="fast", **{"agent.name": "explorer"}),
        ],
    )
    rows = _rows(settings)
    assert [r["request_id"] for r in rows] == ["req_A", "req_B"]
    first = rows[0]
    assert first["source"] == "claude_code_otel"
    assert (first["agent"], first["member"], first["session_id"], first["model"]) == (
        "claude-code",
        "dev@example.com",
        "sess-otel",
        SONNET,
    )
    assert (first["input_tokens"], first["output_tokens"], first["cache_read_tokens"]) == (1200, 300, 5000)
    assert first["cache_write_5m_tokens"] == 800
    assert first["reported_cost_nanos"] == 12_300_000
    assert first["cost_nanos"] == _price(a, SONNET, "anthropic", ta)
    dims = json.loads(first["dimensions"])
    assert dims["team.id"] == "platform"
    assert dims["cost_center"] == "eng-123"
    assert dims["prompt.id"] == "prompt-1"
    assert dims["query_source"] == "repl_main_thread"
    assert "service.name" not in dims
    assert rows[1]["speed"] == "fast"
    assert json.loads(rows[1]["dimensions"])["agent.name"] == "explorer"
    expected = from_nanos(first["cost_nanos"] + rows[1]["cost_nanos"])
    assert _total(settings) == expected
    assert _total(settings, members=["dev@example.com"]) == expected
    # "auto" (the default) shows Claude Code's own figure where the event carried one, as for logs.
    assert _total(settings, "auto") == from_nanos(2 * 12_300_000)

    # An exporter's retry (the same request ids again) adds nothing.
    _send_logs(server, [_api_request("req_A", ta, a)], compression=Compression.NoCompression)
    assert len(_rows(settings)) == 2
    assert _total(settings) == expected


@pytest.mark.parametrize("otel_first", [True, False])
def test_a_call_in_the_jsonl_log_and_over_otel_counts_once(
    server: str, settings: Settings, home: Path, otel_first: bool
) -> None:
    t1, t2, t3 = _ago(50), _ago(40), _ago(30)
    shared, log_only, otel_only = (
        Tokens(input=100, output=50, cache_read=1000, cache_write_5m=200),
        Tokens(input=7, output=70),
        Tokens(input=9, output=90),
    )

    def log() -> None:
        write(
            session_file(home / "claude", "sess-otel"),
            assistant(
                "msg_1",
                "req_shared",
                _iso(t1),
                session="sess-otel",
                input=100,
                output=50,
                cache_read=1000,
                write_5m=200,
            ),
            assistant("msg_2", "req_log", _iso(t2), session="sess-otel", input=7, output=70),
        )
        conn = connect(settings.db)
        try:
            claude_code.ingest(conn, settings, Pricer())
        finally:
            conn.close()

    def otel() -> None:
        _send_logs(server, [_api_request("req_shared", t1, shared), _api_request("req_otel", t3, otel_only)])

    first, second = (otel, log) if otel_first else (log, otel)
    first()
    second()
    expected = from_nanos(
        _price(shared, SONNET, "anthropic", t1)
        + _price(log_only, SONNET, "anthropic", t2)
        + _price(otel_only, SONNET, "anthropic", t3)
    )
    assert _total(settings) == expected
    counted = _rows(settings, "counted = 1")
    assert sorted(r["request_id"] for r in counted) == ["req_log", "req_otel", "req_shared"]
    # The log's copy of the shared call is the one that counts (it has the cache-write split).
    assert next(r["source"] for r in counted if r["request_id"] == "req_shared") == "claude_code"


def test_genai_spans_from_an_instrumented_agent(server: str, settings: Settings) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "fake-agent"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{server}/v1/traces")))
    tracer = provider.get_tracer("fake.agent")
    calls = [
        ("gpt-4o-2024-08-06", "openai", Tokens(input=800, output=120, cache_read=200)),
        ("claude-sonnet-4-5-20250929", "anthropic", Tokens(input=300, output=60, cache_read=0)),
    ]
    # An agent run span carries the totals of the calls beneath it: it must not count again.
    with tracer.start_as_current_span(
        "invoke_agent fake",
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.request.model": "gpt-4o-2024-08-06",
            "gen_ai.usage.input_tokens": 1300,
            "gen_ai.usage.output_tokens": 180,
        },
    ):
        for model, system, t in calls:
            with tracer.start_as_current_span(
                f"chat {model}",
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.system": system,
                    "gen_ai.request.model": model,
                    "gen_ai.usage.input_tokens": t.input + t.cache_read,
                    "gen_ai.usage.output_tokens": t.output,
                    "gen_ai.usage.cache_read.input_tokens": t.cache_read,
                },
            ):
                pass
        with tracer.start_as_current_span(
            "execute_tool search", attributes={"gen_ai.operation.name": "execute_tool"}
        ):
            pass
    provider.shutdown()
    rows = _rows(settings)
    assert len(rows) == 2
    assert {r["agent"] for r in rows} == {"fake-agent"}
    assert sorted((r["provider"], r["model"], r["input_tokens"], r["cache_read_tokens"]) for r in rows) == [
        ("anthropic", "claude-sonnet-4-5-20250929", 300, 0),
        ("openai", "gpt-4o-2024-08-06", 800, 200),
    ]
    expected = sum(
        _price(t, model, system, datetime.fromtimestamp(r["ts_ms"] / 1000, UTC))
        for (model, system, t), r in zip(sorted(calls), sorted(rows, key=lambda r: r["model"]), strict=True)
    )
    assert _total(settings) == from_nanos(expected)
    assert _total(settings, agents=["fake-agent"]) == from_nanos(expected)


def test_a_genai_span_naming_no_model_is_counted_unpriced_never_dropped(
    server: str, settings: Settings
) -> None:
    """An agent's GenAI span with token counts and no model (GitHub Copilot's, or any instrumented
    agent that leaves ``gen_ai.request.model`` out): the receiver rejected it, so its call was in no
    total, said only in the OTLP answer, which exporters do not show. Now it is stored unpriced under
    no model: not $0, not in the total, and get_spend names it "(model not reported)" with the fix."""
    provider = TracerProvider(resource=Resource.create({"service.name": "github-copilot"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{server}/v1/traces")))
    tracer = provider.get_tracer("copilot")
    priced = Tokens(input=800, output=120)
    for model, t in (("gpt-4o", priced), (None, Tokens(input=500, output=40))):
        attributes: dict[str, str | int] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "openai",
            "gen_ai.usage.input_tokens": t.input,
            "gen_ai.usage.output_tokens": t.output,
        }
        if model:
            attributes["gen_ai.request.model"] = model
        with tracer.start_as_current_span("chat", attributes=attributes):
            pass
    provider.shutdown()
    rows = sorted(_rows(settings), key=lambda r: r["model"])
    assert [
        (r["agent"], r["model"], r["input_tokens"], r["output_tokens"], r["cost_nanos"]) for r in rows
    ] == [
        ("github-copilot", "", 500, 40, None),
        ("github-copilot", "gpt-4o", 800, 120, rows[1]["cost_nanos"]),
    ]
    when = datetime.fromtimestamp(rows[1]["ts_ms"] / 1000, UTC)
    assert rows[1]["cost_nanos"] == _price(priced, "gpt-4o", "openai", when)
    conn = connect(settings.db)
    try:
        p = spend.resolve(settings, "last_7_days", None, None, None)
        result = spend.get_spend(conn, settings, p, ["model"], spend.Filters(), take_alerts=False)
    finally:
        conn.close()
    assert result.total_usd == from_nanos(rows[1]["cost_nanos"])
    [unknown] = [r for r in result.rows if not r.group["model"]]
    assert (unknown.cost_usd, unknown.requests, unknown.unpriced_requests) == (None, 1, 1)
    [warned] = [w for w in result.warnings if "no known price" in w]
    assert warned.startswith("(model not reported): 1 call(s) (540 tokens) have no known price"), warned
    assert "named no model" in warned and "price override file" not in warned, warned


def test_log_events_naming_no_model_are_counted_unpriced_never_dropped(
    server: str, settings: Settings
) -> None:
    """Claude Code's api_request, Codex's completed response and Gemini CLI's api_response with their
    token counts but no model were rejected (OTLP's partial success, which exporters do not show),
    so their calls were in no total. As a model-less GenAI span is, each is now stored unpriced under
    no model: not $0, not in the total, and get_spend names them "(model not reported)"."""
    when = _ago(20)
    ns = int(when.timestamp() * 1e9)
    claude = _api_request("req_nomodel", when, Tokens(input=300, output=30))
    del claude["model"]
    claude["_ns"] = ns
    events: list[dict[str, Any]] = [
        claude,
        {**_api_request("req_priced", when, Tokens(input=100, output=10)), "_ns": ns + 1},
        {
            "_ns": ns + 2,
            "event.name": "codex.sse_event",
            "event.kind": "response.completed",
            "conversation.id": "conv-nomodel",
            "input_token_count": 1000,
            "output_token_count": 50,
        },
        {
            "_ns": ns + 3,
            "event.name": "gemini_cli.api_response",
            "session.id": "gem-nomodel",
            "input_token_count": 2000,
            "output_token_count": 100,
        },
    ]
    response = httpx2.post(f"{server}/v1/logs", json=_otlp_json_logs(events, {"service.name": "claude-code"}))
    assert response.status_code == 200, response.text
    assert "partialSuccess" not in response.json(), response.json()
    rows = _rows(settings)
    assert sorted(
        (r["model"], r["input_tokens"] + r["output_tokens"], r["cost_nanos"] is None) for r in rows
    ) == [
        ("", 330, True),
        ("", 1050, True),
        ("", 2100, True),
        (SONNET, 110, False),
    ]
    [priced] = [r for r in rows if r["model"] == SONNET]
    conn = connect(settings.db)
    try:
        calculate = settings.model_copy(update={"cost_mode": "calculate"})
        p = spend.resolve(settings, "last_7_days", None, None, None)
        result = spend.get_spend(conn, calculate, p, ["model"], spend.Filters(), take_alerts=False)
    finally:
        conn.close()
    assert result.total_usd == from_nanos(priced["cost_nanos"])
    [unknown] = [r for r in result.rows if not r.group["model"]]
    assert (unknown.cost_usd, unknown.requests, unknown.unpriced_requests) == (None, 3, 3)
    [warned] = [w for w in result.warnings if "no known price" in w]
    assert warned.startswith("(model not reported): 3 call(s) (3,480 tokens) have no known price"), warned


def _otlp_json_logs(records: list[dict[str, Any]], resource: dict[str, str]) -> dict[str, Any]:
    def kv(attrs: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        for k, v in attrs.items():
            value = {"intValue": str(v)} if isinstance(v, int) else {"stringValue": str(v)}
            out.append({"key": k, "value": value})
        return out

    return {
        "resourceLogs": [
            {
                "resource": {"attributes": kv(resource)},
                "scopeLogs": [
                    {
                        "scope": {"name": "test"},
                        "logRecords": [
                            {"timeUnixNano": str(r.pop("_ns")), "attributes": kv(r)} for r in records
                        ],
                    }
                ],
            }
        ]
    }


def test_a_sender_whose_clock_is_a_day_ahead_has_its_calls_counted_today(
    server: str, settings: Settings, tmp_path: Path
) -> None:
    """QA: the receiver rejected every event more than 10 minutes ahead of its clock, so a laptop
    whose clock ran a day ahead lost all its OTel spend, while its pushes stored the same calls at
    their arrival. Both now follow one rule: up to a day ahead is stored at its arrival (said past
    5 minutes), later is refused."""
    tokens = Tokens(input=1_000, output=100)
    before = datetime.now(UTC)
    _send_logs(
        server,
        [
            _api_request("req_day_ahead", before + timedelta(hours=23), tokens),
            _api_request("req_drift", before + timedelta(minutes=2), tokens),
            _api_request("req_too_far", before + timedelta(hours=25), tokens),
        ],
    )
    after = datetime.now(UTC)
    rows = {r["request_id"]: r for r in _rows(settings)}
    assert sorted(rows) == ["req_day_ahead", "req_drift"]
    assert all(to_ms(before) <= r["ts_ms"] <= to_ms(after) for r in rows.values())
    conn = connect(settings.db)
    try:
        ours = settings.model_copy(update={"cost_mode": "calculate"})  # our price, not the events' own
        p = spend.resolve(ours, "today", None, None, None)
        today = spend.get_spend(conn, ours, p, [], spend.Filters(), take_alerts=False)
    finally:
        conn.close()
    assert today.total_usd == from_nanos(sum(r["cost_nanos"] for r in rows.values())) > 0
    log = (tmp_path / "server.stderr").read_text()
    assert "1 event was dated after this server's clock" in log  # the 2-minute drift is not said
    assert "more than a day after this server's clock" in log

    # The sender hears it in OTLP's partial success: a warning, nothing rejected.
    ahead = before + timedelta(hours=3)
    record = {"_ns": 1, **_api_request("req_json_ahead", ahead, tokens)}
    answer = httpx2.post(
        f"{server}/v1/logs",
        content=json.dumps(_otlp_json_logs([record], {"service.name": "claude-code"})).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 200
    partial = answer.json()["partialSuccess"]
    assert partial.get("rejectedLogRecords", "0") == "0"
    assert partial["errorMessage"].startswith(
        f"1 event was dated after this server's clock (first: {_iso(ahead)[:19]}"
    )
    assert "check the sending machine's date and time" in partial["errorMessage"]
    assert "req_json_ahead" in {r["request_id"] for r in _rows(settings)}


def test_an_event_with_a_nul_character_is_stored_with_the_rest(server: str, settings: Settings) -> None:
    # A NUL in an attribute (a session id, here): PostgreSQL cannot store one in text, and the
    # whole request got a 500, which an exporter retries and then drops with every record in it.
    when = _ago(10)
    ns = int(when.timestamp() * 1e9)
    odd = _api_request("req_nul", when, Tokens(input=100, output=10), **{"session.id": "sess\x00x"})
    plain = _api_request("req_plain", when, Tokens(input=200, output=20))
    body = json.dumps(
        _otlp_json_logs([{"_ns": ns, **odd}, {"_ns": ns + 1, **plain}], {"service.name": "claude-code"})
    )
    for _ in range(2):  # an exporter's retry adds nothing: the character is replaced the same way
        answer = httpx2.post(
            f"{server}/v1/logs", content=body, headers={"Content-Type": "application/json"}, timeout=30
        )
        assert answer.status_code == 200, answer.text
    rows = _rows(settings)
    assert [(r["request_id"], r["session_id"]) for r in rows] == [
        ("req_nul", "sess\ufffdx"),
        ("req_plain", "sess-otel"),
    ]
    assert _total(settings) == from_nanos(sum(r["cost_nanos"] for r in rows)) > 0


def test_json_encoding_codex_and_gemini_events(server: str, settings: Settings) -> None:
    when = _ago(15)
    ns = int(when.timestamp() * 1e9)
    payload = _otlp_json_logs(
        [
            {
                "_ns": ns,
                "event.name": "codex.sse_event",
                "event.kind": "response.completed",
                "model": "gpt-4o-2024-08-06",
                "conversation.id": "conv-1",
                "input_token_count": 1000,
                "cached_token_count": 400,
                "output_token_count": 50,
            },
            {
                "_ns": ns + 1,
                "event.name": "codex.sse_event",
                "event.kind": "response.created",  # not a completed response: no usage
                "model": "gpt-4o-2024-08-06",
            },
            {
                "_ns": ns + 2,
                "event.name": "gemini_cli.api_response",
                "model": "gemini-2.5-flash",
                "session.id": "gem-1",
                "input_token_count": 2000,
                "cached_content_token_count": 500,
                "output_token_count": 100,
                "thoughts_token_count": 30,
            },
        ],
        {"service.name": "codex_cli_rs"},
    )
    response = httpx2.post(f"{server}/v1/logs", json=payload)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "partialSuccess" not in response.json()
    rows = {r["model"]: r for r in _rows(settings)}
    codex, gemini = rows["gpt-4o-2024-08-06"], rows["gemini-2.5-flash"]
    assert (codex["input_tokens"], codex["cache_read_tokens"], codex["output_tokens"]) == (600, 400, 50)
    assert (gemini["input_tokens"], gemini["cache_read_tokens"], gemini["output_tokens"]) == (1500, 500, 130)
    assert codex["session_id"] == "conv-1"
    assert codex["provider"] == "openai"
    assert gemini["provider"] == "google"
    priced = [r["cost_nanos"] for r in rows.values() if r["cost_nanos"] is not None]
    assert codex["cost_nanos"] == _price(
        Tokens(input=600, cache_read=400, output=50), "gpt-4o-2024-08-06", "openai", when
    )
    assert _total(settings) == from_nanos(sum(priced))
    # The same JSON again (an exporter retry) adds nothing.
    assert httpx2.post(f"{server}/v1/logs", json=payload).status_code == 200
    assert len(_rows(settings)) == 2


def test_metrics_flag_gaps_and_never_add(server: str, settings: Settings) -> None:
    t = Tokens(input=100, output=50)
    _send_logs(server, [_api_request("req_m", _ago(10), t)])
    before = _total(settings)
    for temporality in (AggregationTemporality.DELTA, AggregationTemporality.CUMULATIVE):
        exporter = OTLPMetricExporter(
            endpoint=f"{server}/v1/metrics", preferred_temporality={Counter: temporality}
        )
        reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
        meters = MeterProvider(
            resource=Resource.create({"service.name": "claude-code"}), metric_readers=[reader]
        )
        tokens = meters.get_meter("com.anthropic.claude_code").create_counter("claude_code.token.usage")
        cost = meters.get_meter("com.anthropic.claude_code").create_counter("claude_code.cost.usage")
        # The events said 150 tokens; the metrics say 150 + 5000 (a lost event batch).
        session = f"sess-{temporality.name.lower()}"
        _send_logs(server, [_api_request(f"req_{session}", _ago(5), t, **{"session.id": session})])
        tokens.add(100, {"session.id": session, "type": "input", "model": SONNET})
        tokens.add(50, {"session.id": session, "type": "output", "model": SONNET})
        tokens.add(5000, {"session.id": session, "type": "input", "model": SONNET})
        cost.add(0.5, {"session.id": session, "model": SONNET})
        reader.force_flush()
        tokens.add(0, {"session.id": session, "type": "input", "model": SONNET})
        reader.force_flush()  # a second export: cumulative repeats, delta adds nothing
        meters.shutdown()
    calculate = settings.model_copy(update={"cost_mode": "calculate"})
    conn = connect(settings.db)
    try:
        p = spend.resolve(settings, "last_7_days", None, None, None)
        result = spend.get_spend(conn, calculate, p, [], None, take_alerts=False)
    finally:
        conn.close()
    gaps = [w for w in result.warnings if "OTel metrics report" in w]
    assert len(gaps) == 2, result.warnings
    assert all("5,000 more tokens" in w for w in gaps)
    added = _price(t, SONNET, "anthropic", _ago(5)) * 2
    assert result.total_usd == before + from_nanos(added)


def _metric_points(name: str, points: list[dict[str, Any]], session: str) -> bytes:
    """An OTLP/JSON metrics request: ``points`` of the cumulative sum ``name`` for ``session``."""
    attrs = [
        {"key": "session.id", "value": {"stringValue": session}},
        {"key": "type", "value": {"stringValue": "input"}},
    ]
    data = {"dataPoints": [{**p, "attributes": attrs} for p in points], "aggregationTemporality": 2}
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "claude-code"}}]}
    request = {
        "resourceMetrics": [
            {"resource": resource, "scopeMetrics": [{"metrics": [{"name": name, "sum": data}]}]}
        ]
    }
    return json.dumps(request).encode()


def test_metric_points_no_session_can_have_are_counted_and_skipped(server: str, settings: Settings) -> None:
    """QA (h-qasec5): a metric point dated 2^64 - 1 ns, or of a cost of 1e308, failed its whole batch
    with a 500 (the ledger's 64-bit columns hold neither), and two token points of 2^62 each were
    stored, after which every answer's gap check overflowed SQLite's SUM. Each is now rejected
    with its reason, the batch's other points kept, and the answers go on."""
    t = Tokens(input=100, output=50)
    _send_logs(server, [_api_request("req_q", _ago(10), t, **{"session.id": "sess-q"})])
    now_ns = time.time_ns() - 60_000_000_000
    start = str(now_ns - 3_600_000_000_000)
    good = {"startTimeUnixNano": start, "timeUnixNano": str(now_ns), "asInt": "5150"}
    batches: list[tuple[str, dict[str, Any], str]] = [
        ("claude_code.token.usage", {**good, "timeUnixNano": str(2**64 - 1)}, "2554-07-21"),
        ("claude_code.token.usage", {**good, "timeUnixNano": "1"}, "1970-01-01"),
        (
            "claude_code.cost.usage",
            {**good, "asInt": None, "asDouble": 1e308},
            "more than a session can count",
        ),
        ("claude_code.token.usage", {**good, "asInt": str(2**62)}, "more than a session can count"),
        ("claude_code.token.usage", {**good, "startTimeUnixNano": str(now_ns + 1)}, "start time is after"),
    ]
    for name, bad, why in batches:
        point = {k: v for k, v in bad.items() if v is not None}
        body = _metric_points(name, [point, good], "sess-q")
        answer = httpx2.post(
            f"{server}/v1/metrics", content=body, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 200, (name, bad, answer.text)
        partial = answer.json()["partialSuccess"]
        assert partial["rejectedDataPoints"] == "1" and why in partial["errorMessage"], (why, partial)
    body = _metric_points("claude_code.token.usage", [{**good, "asInt": str(2**62)}] * 2, "sess-q")
    httpx2.post(f"{server}/v1/metrics", content=body, headers={"Content-Type": "application/json"})
    conn = connect(settings.db)
    try:
        p = spend.resolve(settings, "last_7_days", None, None, None)
        result = spend.get_spend(conn, settings, p, [], None, take_alerts=False)
    finally:
        conn.close()
    # The good point (5,150 tokens for a session whose events count 150) is the gap told.
    assert [w for w in result.warnings if "OTel metrics report" in w and "5,000 more tokens" in w], (
        result.warnings
    )


def test_every_gzip_member_of_a_body_is_read_and_trailing_bytes_refused(
    server: str, settings: Settings
) -> None:
    """QA (h-qasec5): a gzip body of two members (RFC 1952 allows any number; pigz and streaming
    writers make them) had its first member read and the rest dropped unsaid: protobuf messages
    concatenated are one request, so the second member's calls were silently missing from every
    total. Every member is read now; bytes after the last that are no member are a 400."""
    from google.protobuf import json_format
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    def member(request_id: str) -> bytes:
        attrs = {"_ns": 1, **_api_request(request_id, _ago(5), Tokens(input=1, output=2))}
        request = json_format.Parse(
            json.dumps(_otlp_json_logs([attrs], {"service.name": "claude-code"})), ExportLogsServiceRequest()
        )
        return gzip.compress(request.SerializeToString())

    headers = {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}
    answer = httpx2.post(f"{server}/v1/logs", content=member("req_m1") + member("req_m2"), headers=headers)
    assert answer.status_code == 200, answer.text
    assert [r["request_id"] for r in _rows(settings)] == ["req_m1", "req_m2"]
    junk = httpx2.post(f"{server}/v1/logs", content=member("req_m3") + b"junk", headers=headers)
    assert junk.status_code == 400 and "what follows gzip member 1" in junk.text, junk.text
    assert [r["request_id"] for r in _rows(settings)] == ["req_m1", "req_m2"]


def test_bad_payloads(server: str, settings: Settings) -> None:
    garbage = httpx2.post(
        f"{server}/v1/logs",
        content=b"\xff\xfe not protobuf",
        headers={"Content-Type": "application/x-protobuf"},
    )
    assert garbage.status_code == 400
    bad_json = httpx2.post(f"{server}/v1/traces", content=b"{", headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400
    assert "not a valid OTLP traces export request" in bad_json.json()["message"]
    bad_gzip = httpx2.post(
        f"{server}/v1/logs",
        content=b"nope",
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert bad_gzip.status_code == 400
    big = httpx2.post(
        f"{server}/v1/logs", content=b"x" * (5 * 1024 * 1024), headers={"Content-Type": "application/json"}
    )
    assert big.status_code == 413
    bomb = gzip.compress(b" " * (40 * 1024 * 1024))
    inflated = httpx2.post(
        f"{server}/v1/logs",
        content=bomb,
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert inflated.status_code == 413
    assert (
        httpx2.post(f"{server}/v1/logs", content=b"{}", headers={"Content-Type": "text/plain"}).status_code
        == 415
    )
    untyped = httpx2.post(f"{server}/v1/logs", content=b"{}", headers={"Content-Type": ""})
    assert untyped.status_code == 415
    assert untyped.text.endswith("; this request has no Content-Type")

    # One bad record among good ones: the good ones are stored, the answer says what was rejected.
    when = _ago(5)
    good = _api_request("req_good", when, Tokens(input=1, output=2))
    bad = _api_request("req_bad", when, Tokens(input=1, output=2))
    bad["input_tokens"] = -5
    payload = _otlp_json_logs([{"_ns": 1, **good}, {"_ns": 1, **bad}], {"service.name": "claude-code"})
    answer = httpx2.post(
        f"{server}/v1/logs",
        content=gzip.compress(json.dumps(payload).encode()),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert answer.status_code == 200
    partial = answer.json()["partialSuccess"]
    assert partial["rejectedLogRecords"] == "1"
    assert "input_tokens is negative" in partial["errorMessage"]
    assert [r["request_id"] for r in _rows(settings)] == ["req_good"]


def _senders(settings: Settings) -> int:
    conn = connect(settings.db)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM otlp_senders").fetchone()[0])
    finally:
        conn.close()


def test_an_otlp_json_body_that_is_no_object_is_refused_as_malformed_json_is(
    server: str, settings: Settings
) -> None:
    """Review finding: OTLP/JSON must be one Export*ServiceRequest object, and the parser read any
    iterable as one, so ``[]`` or a string was answered 200 as an empty request (and ``[{}]`` a 400
    about an unhashable dict). Each such body is now a 400 saying what it is and what to send,
    answered as malformed JSON is (the same google.rpc.Status), and stores nothing: not even a
    real request wrapped in an array."""
    call = {"_ns": 1, **_api_request("req_wrapped", _ago(5), Tokens(input=1, output=2))}
    request = _otlp_json_logs([call], {"service.name": "claude-code"})
    headers = {"Content-Type": "application/json"}
    malformed = httpx2.post(f"{server}/v1/logs", content=b"{", headers=headers)
    assert malformed.status_code == 400
    shapes = {
        "[]": "an array",
        "[{}]": "an array",
        json.dumps([request]): "an array",
        ' "resourceLogs"': "a string",
        "42": "a number",
        "-1.5e3": "a number",
        "null": "null",
        "true": "a boolean",
    }
    for body, kind in shapes.items():
        for compressed in (False, True):
            sent = gzip.compress(body.encode()) if compressed else body.encode()
            coding = {"Content-Encoding": "gzip"} if compressed else {}
            answer = httpx2.post(f"{server}/v1/logs", content=sent, headers={**headers, **coding})
            assert answer.status_code == 400, (body, answer.text)
            assert answer.json().keys() == malformed.json().keys()
            assert answer.json()["code"] == malformed.json()["code"] == 3  # INVALID_ARGUMENT
            message = answer.json()["message"]
            assert message.startswith("not a valid OTLP logs export request (json): ")
            assert f"the body is {kind}, not an object" in message, message
            assert 'send one ExportLogsServiceRequest as a JSON object, {"resourceLogs": [...]}' in message
    traces = httpx2.post(f"{server}/v1/traces", content=b"[]", headers=headers)
    assert traces.status_code == 400 and '{"resourceSpans": [...]}' in traces.json()["message"]
    metrics = httpx2.post(f"{server}/v1/metrics", content=b"[]", headers=headers)
    assert metrics.status_code == 400 and '{"resourceMetrics": [...]}' in metrics.json()["message"]
    assert _rows(settings) == [] and _senders(settings) == 0
    # The same request as an object is taken: the refusals above were of the shape alone.
    taken = httpx2.post(f"{server}/v1/logs", content=json.dumps(request).encode(), headers=headers)
    assert taken.status_code == 200, taken.text
    assert [r["request_id"] for r in _rows(settings)] == ["req_wrapped"]


def _gzip_bomb(unpacked: int) -> bytes:
    """A gzip member of ``unpacked`` spaces, compressed as it goes (never held whole)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b" " * (1 << 20)
    parts = [packer.compress(chunk) for _ in range(unpacked >> 20)]
    return b"".join([*parts, packer.flush()])


def test_mcp_takes_a_gzip_body_as_otlp_does_and_refuses_a_bomb_and_other_codings(server: str) -> None:
    """A compressed POST to /mcp was read by the SDK as JSON: "Parse error" and no word of why. It is
    inflated now as OTLP bodies are (gzip or deflate, every member), to at most the 4 MiB the SDK
    takes: a bomb is refused there (413), a body that is not the gzip it says is a parse error saying
    so, and another coding gets 415 naming those taken (OTLP's answer to one too, which was 400)."""
    mcp = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    tools = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}).encode()
    gzipped = httpx2.post(
        f"{server}/mcp", content=gzip.compress(tools), headers={**mcp, "Content-Encoding": "gzip"}
    )
    assert gzipped.status_code == 200 and "get_spend" in gzipped.text, gzipped.text
    two_members = gzip.compress(tools[:10]) + gzip.compress(tools[10:])
    both = httpx2.post(f"{server}/mcp", content=two_members, headers={**mcp, "Content-Encoding": "GZIP"})
    assert both.status_code == 200 and "get_spend" in both.text, both.text
    deflated = httpx2.post(
        f"{server}/mcp", content=zlib.compress(tools), headers={**mcp, "Content-Encoding": "deflate"}
    )
    assert deflated.status_code == 200 and "get_spend" in deflated.text, deflated.text

    # 256 MiB of spaces in a ~250 kB gzip: inflated no further than the limit, then refused.
    bomb = _gzip_bomb(256 << 20)
    assert len(bomb) < http.MCP_MAX_BODY_BYTES // 8
    refused = httpx2.post(
        f"{server}/mcp", content=bomb, headers={**mcp, "Content-Encoding": "gzip"}, timeout=60
    )
    assert refused.status_code == 413, refused.text
    assert refused.json()["error"] == {
        "code": -32600,
        "message": f"request body inflates to more than {http.MCP_MAX_BODY_BYTES:,} bytes",
    }
    # Just over the limit unpacked is refused too, and the limit itself is what the SDK takes.
    padded = json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {"_meta": {"pad": ""}}})
    pad = http.MCP_MAX_BODY_BYTES - len(padded)
    fits = padded.replace('"pad": ""', f'"pad": "{"x" * pad}"').encode()
    assert len(fits) == http.MCP_MAX_BODY_BYTES
    at_limit = httpx2.post(
        f"{server}/mcp", content=gzip.compress(fits), headers={**mcp, "Content-Encoding": "gzip"}
    )
    assert at_limit.status_code == 200 and "get_spend" in at_limit.text, at_limit.text[:300]
    over = gzip.compress(fits + b" ")
    assert (
        httpx2.post(f"{server}/mcp", content=over, headers={**mcp, "Content-Encoding": "gzip"}).status_code
        == 413
    )

    not_gzip = httpx2.post(f"{server}/mcp", content=tools, headers={**mcp, "Content-Encoding": "gzip"})
    assert not_gzip.status_code == 400, not_gzip.text
    error = not_gzip.json()["error"]
    assert error["code"] == -32700 and "is not the gzip/deflate its Content-Encoding says" in error["message"]

    said = "is not supported: send the body as it is, or with Content-Encoding gzip or deflate"
    brotli = httpx2.post(f"{server}/mcp", content=tools, headers={**mcp, "Content-Encoding": "br"})
    assert brotli.status_code == 415, brotli.text
    assert brotli.headers["Accept-Encoding"] == "identity, gzip, deflate"
    assert brotli.json()["error"] == {"code": -32600, "message": f"Content-Encoding 'br' {said}"}
    # Two codings, as two headers: each would have to be undone, and only gzip once is taken.
    twice = [*mcp.items(), ("Content-Encoding", "gzip"), ("Content-Encoding", "gzip")]
    gzip_gzip = httpx2.post(f"{server}/mcp", content=gzip.compress(gzip.compress(tools)), headers=twice)
    assert gzip_gzip.status_code == 415 and "'gzip, gzip' is not supported" in gzip_gzip.text, gzip_gzip.text
    otlp_headers = {"Content-Type": "application/json", "Content-Encoding": "zstd"}
    otlp = httpx2.post(f"{server}/v1/logs", content=b"{}", headers=otlp_headers)
    assert otlp.status_code == 415 and otlp.headers["Accept-Encoding"] == "identity, gzip, deflate"
    assert otlp.json() == {"code": 3, "message": f"Content-Encoding 'zstd' {said}"}
    # The server is none the worse: an uncompressed call is answered as ever.
    plain = httpx2.post(f"{server}/mcp", content=tools, headers=mcp)
    assert plain.status_code == 200 and "get_spend" in plain.text


def test_a_large_batch_is_stored_whole_and_a_bomb_of_empty_records_is_refused(
    server: str, settings: Settings
) -> None:
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter

    # 5,000 Claude Code events in one export (~2.9 MB unpacked): counted before parsing, all stored.
    kept = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    provider = LoggerProvider(resource=Resource.create({"service.name": "claude-code"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(kept))
    logger = provider.get_logger("com.anthropic.claude_code.events")
    when = _ago(5)
    for i in range(5000):
        attrs = _api_request(f"req_{i}", when, Tokens(input=i + 1, output=2))
        logger.emit(
            LogRecord(body="claude_code.api_request", attributes=attrs, event_name="claude_code.api_request")
        )
    exporter = OTLPLogExporter(endpoint=f"{server}/v1/logs", compression=Compression.NoCompression)
    assert exporter.export(kept.get_finished_logs()).name == "SUCCESS"
    rows = _rows(settings)
    assert len(rows) == 5000 and sum(r["input_tokens"] for r in rows) == 5000 * 5001 // 2

    # 4M empty log records in a 7 kB gzip: parsed first, they took the server ~520 MB and 12 s.
    bomb = gzip.compress(empty_records(4_000_000))
    refused = httpx2.post(
        f"{server}/v1/logs",
        content=bomb,
        headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
        timeout=120,
    )
    assert refused.status_code == 413
    assert "over 200,000 log records" in refused.text
    assert len(_rows(settings)) == 5000


def test_mcp_and_dashboard_share_the_server(server: str) -> None:
    import anyio
    from mcp import Client

    async def tools() -> list[str]:
        async with Client(f"{server}/mcp") as client:
            return [t.name for t in (await client.list_tools()).tools]

    assert "get_spend" in anyio.run(tools)
    assert httpx2.get(f"{server}/").status_code == 200
    assert httpx2.get(f"{server}/api/spend?period=today").json()["total_usd"] is not None
    # Another site's page that rebinds its name to 127.0.0.1 gets nothing.
    assert httpx2.get(f"{server}/api/spend", headers={"Host": "evil.example"}).status_code == 400


def test_refuses_to_listen_beyond_loopback(home: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cost_mcp", "serve", "--http", "--host", "0.0.0.0", "--port", "0"],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "not a loopback address" in done.stderr


def test_otel_config_points_agents_here(capsys: pytest.CaptureFixture[str]) -> None:
    from cost_mcp.cli import main

    assert main(["otel-config", "--server", "http://10.0.0.5:4318/"]) == 0
    out = capsys.readouterr().out
    assert "export OTEL_EXPORTER_OTLP_ENDPOINT=http://10.0.0.5:4318\n" in out
    assert "CLAUDE_CODE_ENABLE_TELEMETRY" in out
    assert '"otlpEndpoint": "http://10.0.0.5:4318"' in out
    assert 'endpoint = "http://10.0.0.5:4318/v1/logs", protocol = "binary", headers = {' in out
    managed = out.split("managed-settings.json (locks the endpoint for everyone)\n", 1)[1].split("\n\n", 1)[0]
    env = json.loads(managed[managed.index("{") :])["env"]
    assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    # Another machine's server always needs a token; the file expands no variable: a placeholder.
    assert env["OTEL_EXPORTER_OTLP_HEADERS"] == "Authorization=Bearer cmt_..."
    # That token sits on every laptop: the note recommends one that can only send, never an admin's.
    assert managed.startswith(
        "# (cmt_...: one ingest token for every machine, made on the server with\n"
        "#   cost-mcp token create fleet --member you@example.com --role ingest\n"
        "# It keeps each event's own user.email and can read nothing."
    )


def test_otel_config_on_a_personal_ledger_warns_of_nothing(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    from cost_mcp.cli import main

    connect(settings.db).close()  # a ledger without tokens: its server answers without one
    assert main(["otel-config"]) == 0
    printed = capsys.readouterr()
    assert "Authorization" not in printed.out
    assert printed.err == ""


def test_otel_config_fleet_note_makes_an_ingest_token(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    from cost_mcp.cli import main
    from cost_mcp.store import team

    assert main(["otel-config", "--server", "https://cost.example.com"]) == 0
    out = capsys.readouterr().out
    command = next(line for line in out.splitlines() if line.startswith("#   cost-mcp token create "))
    assert main(shlex.split(command.removeprefix("#   cost-mcp "))) == 0
    capsys.readouterr()
    conn = connect(settings.db)
    try:
        assert [(t.name, t.member, t.role) for t in team.list_tokens(conn)] == [
            ("fleet", "you@example.com", "ingest")
        ]
    finally:
        conn.close()


@pytest.fixture
def ana_token(settings: Settings, ledger_made: None) -> str:
    """A member's token, made before the server starts (it reads whether tokens exist at start)."""
    from cost_mcp.store import team

    conn = connect(settings.db)
    try:
        return team.create_token(conn, "ana-laptop", "ana@example.com")
    finally:
        conn.close()


def test_otel_config_for_a_team_server_sends_the_members_token(
    ana_token: str,
    server: str,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # With tokens the server refuses an export without one (401), and an agent drops what it could
    # not send without a word: the printed settings must carry the bearer.
    from cost_mcp.cli import main

    _send_logs(server, [_api_request("req_no_token", _ago(5), Tokens(input=1, output=1))])
    assert _rows(settings) == []  # refused

    assert main(["otel-config", "--server", server]) == 0
    printed = capsys.readouterr()
    assert "Authorization" not in printed.out  # this machine: no token unless asked...
    # ...but those settings lose everything here, so it says so, with the fix.
    assert printed.err == (
        "warning: this ledger has tokens, so the server refuses (401) telemetry without one and the"
        " agents drop it silently; add --bearer (each member's token in COST_MCP_TEAM_TOKEN, from"
        " `cost-mcp token create NAME --member EMAIL`), or --no-bearer\n"
    )
    assert main(["otel-config", "--server", server, "--no-bearer"]) == 0
    assert capsys.readouterr().err == ""  # asked for: said nothing
    assert main(["otel-config", "--server", server, "--bearer"]) == 0
    out = capsys.readouterr().out
    exports = "\n".join(line for line in out.splitlines() if line.startswith("export OTEL_EXPORTER_OTLP_"))
    # As the member's shell reads them, with the token in COST_MCP_TEAM_TOKEN.
    shell = subprocess.run(
        ["bash", "-c", f'{exports}\nprintf %s "$OTEL_EXPORTER_OTLP_HEADERS"'],
        env={"PATH": os.environ["PATH"], "COST_MCP_TEAM_TOKEN": ana_token},
        capture_output=True,
        text=True,
        check=True,
    )
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", shell.stdout)
    _send_logs(server, [_api_request("req_token", _ago(5), Tokens(input=1, output=1))])
    assert [(r["request_id"], r["member"]) for r in _rows(settings)] == [("req_token", "ana@example.com")]


def test_otel_config_says_when_the_token_is_in_the_env_file_only(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A laptop set up as the README says, COST_MCP_TEAM_TOKEN in the env file: the printed exports
    read `$COST_MCP_TEAM_TOKEN` from the shell, where it is empty, so Claude Code sent "Bearer " and
    dropped every refused event without a word, and nothing said so."""
    from cost_mcp.cli import main

    monkeypatch.delenv("COST_MCP_TEAM_TOKEN", raising=False)
    env_file = home / "config" / "env"
    env_file.parent.mkdir(parents=True, exist_ok=True)
    env_file.write_text("COST_MCP_TEAM_TOKEN=cmt_in-the-file\n")
    assert main(["otel-config", "--server", "https://cost.example.com"]) == 0
    printed = capsys.readouterr()
    assert "$COST_MCP_TEAM_TOKEN" in printed.out and "cmt_in-the-file" not in printed.out + printed.err
    assert printed.err == (
        "warning: the settings below read the token from $COST_MCP_TEAM_TOKEN, which this shell does not "
        f"set (it is in {env_file}, which only cost-mcp reads): export it in the shell that starts the "
        "agent, or the server refuses (401) every event and the agent drops them silently\n"
    )
    monkeypatch.setenv("COST_MCP_TEAM_TOKEN", "cmt_exported")
    assert main(["otel-config", "--server", "https://cost.example.com"]) == 0
    assert capsys.readouterr().err == ""


def test_a_server_started_without_tokens_stops_answering_once_one_exists(
    server: str, settings: Settings
) -> None:
    # It decides at start whether a bearer is needed: after the first token it answered anyone
    # without one until restarted, while its admin believed it now required one.
    from cost_mcp.store import team

    body: dict[str, list[object]] = {"resourceLogs": []}
    assert httpx2.post(f"{server}/v1/logs", json=body).status_code == 200
    conn = connect(settings.db)
    team.create_token(conn, "admin", "boss@example.com", "admin")
    conn.close()
    statuses: list[int] = []
    for _ in range(100):  # it looks at most every 2 s
        statuses.append(httpx2.post(f"{server}/v1/logs", json=body).status_code)
        if statuses[-1] != 200:
            break
        time.sleep(0.1)
    refused = httpx2.get(f"{server}/")
    assert statuses[-1] == refused.status_code == 503
    assert "restart `cost-mcp serve --http`" in refused.json()["error"]
    assert httpx2.get(f"{server}/healthz").status_code == 200


def test_the_server_fixture_kills_a_server_that_ignores_sigterm() -> None:
    """The ``server`` fixture's teardown (:func:`stop`): a process that ignores SIGTERM is killed
    once the grace period is over, not left running behind the suite."""
    ignores = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('up', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", ignores], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"up\n"  # SIGTERM is ignored now
        started = time.monotonic()
        stop(proc, grace=0.5)
        assert proc.returncode == -signal.SIGKILL
        assert time.monotonic() - started < 10
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


def test_a_server_on_every_address_says_to_set_its_public_url(settings: Settings) -> None:
    """A 401's metadata URL would name 0.0.0.0: the start says what to set, only when it matters."""
    from cost_mcp.web.http import wildcard_note

    note = wildcard_note(settings, "0.0.0.0", 8000, auth=True)
    assert note is not None and "COST_MCP_PUBLIC_URL" in note and "http://0.0.0.0:8000" in note
    assert wildcard_note(settings, "::", 8000, auth=True) is not None
    assert wildcard_note(settings, "10.0.0.5", 8000, auth=True) is None  # a real address works
    assert wildcard_note(settings, "0.0.0.0", 8000, auth=False) is None  # no tokens: no 401s
    public = settings.model_copy(update={"public_url": "https://cost.example.com"})
    assert wildcard_note(public, "0.0.0.0", 8000, auth=True) is None


# Both before `server`: the server reads the webhook at start, and the clock (noon) through its
# environment. The calls below are seconds old and the budget a day's, evaluated 5 s later: on the
# real clock, a test started a few seconds before midnight evaluated the new day, which they are not in.
@pytest.mark.usefixtures("ops", "clock")
def test_otlp_usage_fires_a_budget_webhook_with_no_query(server: str, settings: Settings) -> None:
    """A budget crossed by OTel events alone reaches its webhook within seconds, each threshold
    once, though nobody asks the server anything (before, only a query evaluated budgets)."""
    conn = connect(settings.db)
    try:
        set_budget(conn, "dev", Decimal("0.02"), "day", BudgetScope(), webhook="ops", settings=settings)
    finally:
        conn.close()
    # Claude Code's own estimate counts (cost mode auto): 0.0123 each, so 0.0246 of 0.02.
    now = datetime.now(UTC).replace(microsecond=0)
    _send_logs(server, [_api_request("req_W1", now - timedelta(seconds=3), Tokens(input=10, output=10))])
    _send_logs(server, [_api_request("req_W2", now - timedelta(seconds=2), Tokens(input=10, output=10))])
    deadline = time.monotonic() + 30
    while not any(p["threshold"] == "1.0" for p in Receiver.received) and time.monotonic() < deadline:
        time.sleep(0.1)
    # One evaluation for both writes sends one alert, for 100%, covering 50% and 80%; were they
    # evaluated apart, 50% would go alone first: each threshold is delivered or covered once.
    assert sorted(t for p in Receiver.received for t in [p["threshold"], *p["covers"]]) == [
        "0.5",
        "0.8",
        "1.0",
    ]
    assert Receiver.received[-1]["spent_usd"] == "0.024600000"
    sent = len(Receiver.received)
    fired = alerts_of(settings.db, "dev")
    # More usage in the same period fires nothing again.
    _send_logs(server, [_api_request("req_W3", now - timedelta(seconds=1), Tokens(input=10, output=10))])
    after_the_evaluation(
        settings.db,
        settings,
        BudgetScope(models=[HAIKU]),  # W3 is Sonnet's
        lambda: _send_logs(server, [_api_request("req_C", now, Tokens(input=10, output=10), model=HAIKU)]),
    )
    assert [p["budget"] for p in Receiver.received[sent:]] == [CANARY]  # nothing but the canary's
    assert alerts_of(settings.db, "dev") == fired


CANARY = "canary"
"""The budget of :func:`after_the_evaluation`."""


def after_the_evaluation(
    db: Path | str, settings: Settings, scope: BudgetScope, cross: Callable[[], None]
) -> None:
    """Return once a server has evaluated budgets over the usage it received so far (the evaluation
    RECEIVED_ALERT_DELAY_SECONDS after a write, cost_mcp.analytics.alerts), for a test that no alert
    came of it: budget :data:`CANARY` (a month's, in the server's ledger ``db``), of a ``scope`` that
    usage is not in, alerts to the "ops" webhook of ``settings`` once ``cross`` sends the server
    usage that crosses it. That alert is recorded, then delivered, by an evaluation that read the
    ledger after that usage, so after everything before it: one that fired nothing else has run to
    its end. The test checks that in the ledger (:func:`alerts_of`): another alert of the same
    evaluation may reach the webhook after the canary's. Waiting out the delay and a margin instead
    was slower, and passed quietly on a machine slower than the margin."""
    conn = connect(db)
    try:
        set_budget(conn, CANARY, Decimal("0.001"), "month", scope, webhook="ops", settings=settings)
    finally:
        conn.close()
    cross()
    deadline = time.monotonic() + 60
    while not any(p["budget"] == CANARY for p in Receiver.received) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert any(p["budget"] == CANARY for p in Receiver.received), Receiver.received


def alerts_of(db: Path | str, budget: str) -> list[tuple[int, str, str]]:
    """(period key, threshold, message) of every alert ``budget`` fired, in the order they fired."""
    conn = connect(db)
    try:
        rows = conn.execute(
            "SELECT period_start_ms, threshold, message FROM budget_alerts WHERE budget = ? "
            "ORDER BY fired_at, threshold",
            (budget,),
        ).fetchall()
    finally:
        conn.close()
    return [(int(k), str(t), str(m)) for k, t, m in rows]


def _doctor(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "cost_mcp", "doctor", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_doctor_lists_who_sends_over_otlp(server: str, settings: Settings, home: Path) -> None:
    """`cost-mcp doctor` tells whether OTel events arrive, from which agent and member, and when the
    last arrived; calls read from the logs are not OTLP senders."""
    assert "otlp          no calls received in the last 7 days" in _doctor().stdout
    write(
        session_file(home / "claude", "sess-log"),
        assistant("msg_l", "req_log_only", _iso(_ago(9)), session="sess-log", input=5, output=5),
    )
    conn = connect(settings.db)
    try:
        claude_code.ingest(conn, settings, Pricer())
    finally:
        conn.close()
    _send_logs(
        server,
        [
            _api_request("req_S1", _ago(8), Tokens(input=1, output=1)),
            _api_request("req_S2", _ago(2), Tokens(input=1, output=1)),
            _api_request("req_S3", _ago(6), Tokens(input=1, output=1), **{"user.email": "ana@example.com"}),
        ],
    )
    ana = _ago(60)
    arrived(settings.db, "ana@example.com", ana)
    report = json.loads(_doctor("--json").stdout)
    [dev] = [s for s in report["otel_senders"] if s["member"] == "dev@example.com"]
    # Its time is the arrival's (seconds ago), not the latest call's, two minutes before it.
    assert datetime.fromisoformat(dev["last_event"]) > _ago(1)
    assert report["otel_senders"] == [
        {
            "agent": "claude-code",
            "member": "dev@example.com",
            "events": 2,
            "last_event": dev["last_event"],
            "departed": False,
        },
        {
            "agent": "claude-code",
            "member": "ana@example.com",
            "events": 1,
            "last_event": ana.isoformat(),
            "departed": False,
        },
    ]
    table = _doctor().stdout
    assert "no calls received" not in table
    shown = dev["last_event"][:16].replace("T", " ")
    assert f"claude-code  dev@example.com  2               {shown}" in table, table


def test_doctor_names_whose_otlp_calls_stopped(server: str, settings: Settings) -> None:
    # Someone who sent only over OTel and then stopped dropped out of doctor's 7-day list with
    # nothing said: a team total lacking them read as complete.
    day = 24 * 60
    fay, one = _ago(12 * day), Tokens(input=1, output=1)
    _send_logs(
        server,
        [
            _api_request("req_dev", _ago(30), one),
            _api_request("req_f1", _ago(20 * day), one, **{"user.email": "fay@example.com"}),
            _api_request("req_f2", fay, one, **{"user.email": "fay@example.com"}),
            _api_request("req_gone", _ago(40 * day), one, **{"user.email": "gil@example.com"}),
        ],
    )
    # Received then: the lists are by arrival.
    arrived(settings.db, "fay@example.com", fay)
    arrived(settings.db, "gil@example.com", _ago(40 * day))
    report = json.loads(_doctor("--json").stdout)
    assert [s["member"] for s in report["otel_senders"]] == ["dev@example.com"]
    assert report["otel_quiet"] == [
        {
            "agent": "claude-code",
            "member": "fay@example.com",
            "events": 2,
            "last_event": fay.isoformat(),
            "departed": False,
        }
    ]
    assert not any("fay@" in line for line in report["problems"] + report["warnings"])
    assert (
        f"otlp quiet    fay@example.com (claude-code): last received "
        f"{fay.isoformat()[:16].replace('T', ' ')} UTC, none in the last 7 days "
        "(their telemetry stopped, or they did not work)"
    ) in _doctor().stdout


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/logs/v1/logs"), ("POST", "/"), ("POST", "/v1/log"), ("GET", "/v1/logs")],
)
def test_a_misrouted_exporter_hears_which_endpoint_to_set(server: str, method: str, path: str) -> None:
    """An endpoint set with /v1/logs twice, or a per-signal one without it, gets the receiver's
    paths and how the endpoint variables differ, not a bare 404 or 405."""
    answer = httpx2.request(
        method, f"{server}{path}", content=b"", headers={"content-type": "application/x-protobuf"}
    )
    assert answer.status_code == 404
    assert f"no OTLP receiver at {method} {path}" in answer.text
    assert "POST to /v1/logs, /v1/metrics or /v1/traces" in answer.text
    assert "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT" in answer.text


# --- Calls just received are seen by the next answer's filters ------------------------------------
# The receiver stores calls and marks their quarter-hours for the rollup without rebuilding it; each
# answer rebuilds the rollup from its period's start. Every answer checks (and widens) its filters
# against the values the rollup holds, so the rebuild must come first: checked before it, a filter
# on a model only the new calls had "matched nothing in the ledger", and a model filter naming it
# without its date (claude-sonnet-4-5 for claude-sonnet-4-5-20250929) counted $0, as did a budget.

UNDATED = "claude-sonnet-4-5"  # how a person names the model the events logged as SONNET
CALL = Tokens(input=120_000, output=3_000)


def _nothing_matched(warnings: list[str]) -> list[str]:
    return [w for w in warnings if "matches nothing" in w]


def _received(base: str, when: datetime) -> Decimal:
    """One Claude Code call over OTLP at ``when``; returns its price."""
    _send_logs(base, [_api_request("req-new", when, CALL)])
    return from_nanos(_price(CALL, SONNET, "anthropic", when))


@pytest.mark.usefixtures("clock")
def test_a_model_filter_counts_calls_just_received(server: str, settings: Settings) -> None:
    cost = _received(server, _ago(10))
    settings = settings.model_copy(update={"cost_mode": "calculate"})
    today = spend.resolve(settings, "today", None, None, "UTC")
    with closing(connect(settings.db)) as conn:
        for model in (SONNET, UNDATED):
            result = spend.get_spend(
                conn, settings, today, ["model"], spend.Filters(models=[model]), take_alerts=False
            )
            assert result.total_usd == cost, model
            assert _nothing_matched(result.warnings) == []
        _send_logs(server, [_api_request("req-newer", _ago(5), CALL)])
        by_hour = hourly.cost_by_hour(conn, settings, today, spend.Filters(models=[UNDATED]))
        assert by_hour.total_usd == 2 * cost
        assert _nothing_matched(by_hour.warnings) == []
    _send_logs(server, [_api_request("req-newest", _ago(2), CALL)])
    # The server's dashboard, with its own cost mode (auto: Claude Code's figure, 0.0123 a call).
    for path in ("/api/spend", "/api/hourly"):
        got = httpx2.get(f"{server}{path}", params={"period": "today", "models": UNDATED}).json()
        assert Decimal(str(got["total_usd"])) == from_nanos(3 * 12_300_000), path
        assert _nothing_matched(got["warnings"]) == [], path


def _budget_spent(conn: Conn, settings: Settings) -> Decimal:
    return budgets.budget_status(conn, settings, take_alerts=False).budgets[0].spent_usd


def _glanced(conn: Conn, settings: Settings) -> Decimal:
    glanced = glance(conn, settings, datetime.now(UTC))
    assert glanced is not None
    return glanced[0].spent


@pytest.mark.usefixtures("clock")
@pytest.mark.parametrize("answer", [_budget_spent, _glanced], ids=["budget_status", "status line"])
def test_a_budget_on_the_model_counts_calls_just_received(
    server: str, settings: Settings, answer: object
) -> None:
    settings = settings.model_copy(update={"cost_mode": "calculate"})
    with closing(connect(settings.db)) as conn:
        set_budget(conn, "sonnet", Decimal(100), "day", BudgetScope(models=[UNDATED]))
        cost = _received(server, _ago(10))
        assert callable(answer)
        assert answer(conn, settings) == cost


@pytest.mark.usefixtures("clock")
def test_a_filter_on_a_model_only_older_unrebuilt_calls_have_is_not_called_unknown(
    server: str, settings: Settings
) -> None:
    # The received call is 40 days old; this month's question leaves its quarter-hour marked. Its
    # model is in the ledger: "matches nothing in the ledger" sent a person hunting for a typo.
    _received(server, datetime.now(UTC).replace(microsecond=0) - timedelta(days=40))
    today = spend.resolve(settings, "today", None, None, "UTC")
    with closing(connect(settings.db)) as conn:
        result = spend.get_spend(
            conn, settings, today, [], spend.Filters(models=[UNDATED]), take_alerts=False
        )
        assert result.total_usd == 0
        assert _nothing_matched(result.warnings) == []
        typo = spend.get_spend(
            conn, settings, today, [], spend.Filters(models=["claude-sonet-4-5"]), take_alerts=False
        )
        assert _nothing_matched(typo.warnings) != []  # a real typo is still told, with the model as a hint
        assert SONNET in _nothing_matched(typo.warnings)[0]


@pytest.mark.usefixtures("clock")
def test_a_budget_set_on_a_model_names_the_ids_just_received(server: str, settings: Settings) -> None:
    # Setting the budget reads no period: it said the model "matches nothing" and named none of the
    # ids it counts, until some answer rebuilt the rollup.
    _received(server, _ago(10))
    with closing(connect(settings.db)) as conn:
        made = set_budget(conn, "sonnet", Decimal(100), "day", BudgetScope(models=[UNDATED]))
        assert budgets.scope_warnings(conn, made) == []
        assert budgets.model_notes(conn, made) == [
            f"budget 'sonnet': model {UNDATED!r} also counts the calls recorded as the same model: {SONNET}"
        ]


def _otlp_sources(sources: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["source"]: s for s in sources if s["source"].startswith("otlp:")}


def test_answers_name_the_otlp_receiver_and_when_it_last_received(server: str, settings: Settings) -> None:
    """Someone who only sends their agents' OpenTelemetry saw spend in get_spend and on the dashboard
    with no source saying where it came from, or how fresh it was: each agent sending now has one,
    `otlp:<agent>`, saying when its last event was received (not when the call was: a batch may be
    late), never stale: agents send only while someone works."""
    p = spend.resolve(settings, "last_7_days", None, None, None)
    with closing(connect(settings.db)) as conn:
        before = spend.get_spend(conn, settings, p, [], take_alerts=False)
    assert not _otlp_sources([s.model_dump() for s in before.sources])

    sent_from = datetime.now(UTC).replace(microsecond=0)
    _send_logs(server, [_api_request(f"req_src{i}", _ago(40), Tokens(input=10, output=5)) for i in range(3)])
    ns = int(_ago(30).timestamp() * 1e9)
    codex = {
        "_ns": ns,
        "event.name": "codex.sse_event",
        "event.kind": "response.completed",
        "model": "gpt-4o-2024-08-06",
        "conversation.id": "conv-src",
        "input_token_count": 100,
        "output_token_count": 10,
    }
    response = httpx2.post(
        f"{server}/v1/logs", json=_otlp_json_logs([codex], {"service.name": "codex_cli_rs"})
    )
    assert response.status_code == 200, response.text
    sent_until = datetime.now(UTC)

    with closing(connect(settings.db)) as conn:
        answer = spend.get_spend(conn, settings, p, [], take_alerts=False)
    over_http = httpx2.get(f"{server}/api/spend", params={"period": "last_7_days"}).json()
    dashboard = httpx2.get(f"{server}/api/dashboard").json()
    for sources in (
        [s.model_dump() for s in answer.sources],
        over_http["sources"],
        dashboard["this_month"]["sources"],
    ):
        seen = _otlp_sources(sources)
        assert set(seen) == {"otlp:claude-code", "otlp:codex"}, sources
        claude, other = seen["otlp:claude-code"], seen["otlp:codex"]
        assert (claude["kind"], claude["status"], claude["data_sources"]) == (
            "telemetry",
            "ok",
            ["claude_code_otel"],
        )
        assert (other["kind"], other["status"], other["data_sources"]) == ("telemetry", "ok", ["otel"])
        received = datetime.fromisoformat(claude["last_success"])
        assert sent_from <= received <= sent_until  # when it came, not the call's time 40 minutes ago
        assert claude["last_refresh"] == (
            f"3 events received over OTLP since {received:%Y-%m-%d} from dev@example.com; "
            f"last event received at {received:%Y-%m-%d %H:%M} UTC"
        )
        assert other["last_refresh"].startswith("1 event received over OTLP since ")
    assert not [w for w in answer.warnings if "otlp:" in w]

    # An exporter's retry and a later batch move it on; the calls counted do not change.
    _send_logs(server, [_api_request("req_src0", _ago(40), Tokens(input=10, output=5))])
    with closing(connect(settings.db)) as conn:
        later = spend.get_spend(conn, settings, p, [], take_alerts=False)
    again = _otlp_sources([s.model_dump() for s in later.sources])["otlp:claude-code"]
    assert datetime.fromisoformat(again["last_success"]) >= received
    assert again["last_refresh"].startswith("4 events received over OTLP since ")
    assert later.total_usd == answer.total_usd


def test_the_reports_freshness_line_names_the_otlp_receiver(server: str, settings: Settings) -> None:
    """`cost-mcp report` said when each provider's bill was synced, and nothing of spend that came
    over OTLP (get_spend's `sources` names `otlp:<agent>`): a user whose spend all came that way saw
    no line saying how fresh it was. It now names the receiver and its last event, both ways."""
    from tests.test_cli import run

    _send_logs(server, [_api_request("req_fresh", _ago(20), Tokens(input=10, output=5))])
    with closing(connect(settings.db)) as conn:
        answer = spend.get_spend(conn, settings, spend.resolve(settings, "last_7_days", None, None, None), [])
    [source] = [s for s in answer.sources if s.source == "otlp:claude-code"]
    assert source.last_success is not None
    received = f"{source.last_success[:16].replace('T', ' ')} UTC"
    done = run("report", "--period", "last_7_days", env={"COLUMNS": "300"})
    assert done.returncode == 0, done.stderr
    [line] = [x for x in done.stdout.splitlines() if x.startswith("provider data as of:")]
    assert line == f"provider data as of: otlp:claude-code {received} (last event received)"
