"""The OTLP decoding and the cross-path dedup rule, in process on a real ledger file.

The receiver's end-to-end tests (a server process fed by the OpenTelemetry SDK) are in
tests/web/test_otel_receiver.py; these cover what is awkward to reach through it: forgetting the log
copy of a call, Claude Code's own spans, OTLP/JSON hex ids.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue

from cost_mcp import tokens
from cost_mcp.config import Settings
from cost_mcp.money import to_nanos
from cost_mcp.pricing import Price, Pricer, Tokens
from cost_mcp.sources import claude_code, otel
from cost_mcp.sources.claude_code import MAX_CALL_COST
from cost_mcp.store import connect
from cost_mcp.store.otel import EventRow
from cost_mcp.tokens import MAX_CALL_TOKENS
from tests.sources.claude_logs import assistant, session_file, write
from tests.sources.otlp_bombs import empty_records, exponential_points, field

SONNET = "claude-sonnet-4-5-20250929"


def _kv(key: str, value: str | int) -> KeyValue:
    v = AnyValue(int_value=value) if isinstance(value, int) else AnyValue(string_value=value)
    return KeyValue(key=key, value=v)


def _event(request_id: str, when: datetime, output: int, model: str = SONNET) -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.append(_kv("service.name", "claude-code"))
    r = rl.scope_logs.add().log_records.add()
    r.body.string_value = "claude_code.api_request"
    r.attributes.extend(
        [
            _kv("event.name", "api_request"),
            _kv("event.timestamp", when.isoformat()),
            _kv("session.id", "s1"),
            _kv("model", model),
            _kv("input_tokens", 4),
            _kv("output_tokens", output),
            _kv("request_id", request_id),
        ]
    )
    return req


def _counted(conn: object) -> list[tuple[str, str]]:
    return sorted(
        conn.execute(  # type: ignore[attr-defined]
            "SELECT source, request_id FROM usage_events WHERE counted = 1"
        ).fetchall()
    )


def test_forgetting_the_log_copy_lets_the_otel_copy_count(settings: Settings, home: Path) -> None:
    when = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    log = write(
        session_file(home / "claude", "s1"),
        assistant("msg_1", "req_1", when.isoformat().replace("+00:00", "Z"), output=100),
    )
    conn = connect(settings.db)
    try:
        claude_code.ingest(conn, settings, Pricer())
        outcome = otel.receive(conn, Pricer(), "logs", _event("req_1", when, 100))
        assert (outcome.accepted, outcome.added) == (1, 1)
        assert _counted(conn) == [("claude_code", "req_1")]
        claude_code.forget(conn, settings, Pricer(), [str(log)])
        assert _counted(conn) == [("claude_code_otel", "req_1")]
        # And back: the log is read again, its copy counts, the OTel copy steps aside.
        claude_code.ingest(conn, settings, Pricer())
        assert _counted(conn) == [("claude_code", "req_1")]
    finally:
        conn.close()


def test_claude_code_on_bedrock_and_vertex_over_otel_is_the_cloud_s_and_its_log_copy_still_wins(
    settings: Settings, home: Path
) -> None:
    """An api_request event naming a Bedrock or Vertex model id is stored under aws or google, as
    the log reader stores the same call: the provider is not part of the key, so the log copy of a
    call still counts and its OTel copy steps aside."""
    bedrock = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    when = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    write(
        session_file(home / "claude", "s1"),
        assistant("msg_1", "req_1", when.isoformat().replace("+00:00", "Z"), model=bedrock, output=100),
    )
    conn = connect(settings.db)
    try:
        claude_code.ingest(conn, settings, Pricer())
        for request_id, model in (
            ("req_1", bedrock),
            ("req_2", bedrock),
            ("req_3", "claude-opus-4-5@20251101"),
        ):
            assert otel.receive(conn, Pricer(), "logs", _event(request_id, when, 100, model)).added == 1
        stored = conn.execute(
            "SELECT source, request_id, provider, counted, cost_nanos IS NOT NULL FROM usage_events"
        ).fetchall()
    finally:
        conn.close()
    assert sorted(stored) == [
        ("claude_code", "req_1", "aws", 1, True),
        ("claude_code_otel", "req_1", "aws", 0, True),
        ("claude_code_otel", "req_2", "aws", 1, True),
        ("claude_code_otel", "req_3", "google", 1, True),
    ]


def test_claude_code_spans_and_agent_spans_are_not_counted(settings: Settings) -> None:
    body = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "claude-code"}}]
                },
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "name": "llm_request",
                                "endTimeUnixNano": str(int(datetime.now(UTC).timestamp() * 1e9)),
                                "attributes": [
                                    {"key": "gen_ai.request.model", "value": {"stringValue": SONNET}},
                                    {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "10"}},
                                ],
                            }
                        ]
                    }
                ],
            }
        ]
    }
    request = otel.decode("traces", json.dumps(body).encode(), encoding="json", gzipped=False)
    conn = connect(settings.db)
    try:
        outcome = otel.receive(conn, Pricer(), "traces", request)
    finally:
        conn.close()
    assert (outcome.accepted, outcome.ignored, outcome.rejected) == (0, 1, 0)


@pytest.mark.parametrize(
    ("attrs", "reason"),
    [
        ({"event.timestamp": "yesterday-ish"}, "not ISO 8601"),
        ({"output_tokens": "12.5"}, "not a whole number"),
        ({"cost_usd": "-1"}, "negative"),
        # int64's largest: six of them summed over a few calls overflow SQLite's integer sums.
        ({"output_tokens": 2**63 - 1}, "more than one call can count"),
        ({"cache_read_tokens": str(MAX_CALL_TOKENS + 1)}, "more than one call can count"),
    ],
)
def test_unreadable_records_are_rejected_with_a_reason(
    settings: Settings, attrs: dict[str, str | int], reason: str
) -> None:
    request = _event("req_x", datetime.now(UTC), 5)
    record = request.resource_logs[0].scope_logs[0].log_records[0]
    for key, value in attrs.items():
        kept = [kv for kv in record.attributes if kv.key != key]
        del record.attributes[:]
        record.attributes.extend([*kept, _kv(key, value)])
    conn = connect(settings.db)
    try:
        outcome = otel.receive(conn, Pricer(), "logs", request)
        assert conn.execute("SELECT COUNT(*) FROM usage_events").fetchone()[0] == 0
    finally:
        conn.close()
    assert outcome.rejected == 1
    assert reason in outcome.error_message


def test_an_absurd_count_rejects_its_record_only(settings: Settings) -> None:
    """A record counting more tokens than any call can is rejected with OTLP's partial success; the
    rest of the request is stored, and a count at the cap is still a call."""
    request = _event("req_ok", datetime.now(UTC), MAX_CALL_TOKENS)
    bad = _event("req_bad", datetime.now(UTC), 2**62)
    request.resource_logs.extend(bad.resource_logs)
    conn = connect(settings.db)
    try:
        outcome = otel.receive(conn, Pricer(), "logs", request)
        stored = conn.execute("SELECT request_id, output_tokens FROM usage_events").fetchall()
    finally:
        conn.close()
    assert (outcome.accepted, outcome.rejected) == (1, 1)
    assert [tuple(r) for r in stored] == [("req_ok", MAX_CALL_TOKENS)]
    assert "output_tokens is 4,611,686,018,427,387,904" in outcome.error_message


def test_attribute_values_of_every_kind_are_read_as_sent() -> None:
    """The receiver's fast attribute read (a string first) gives every scalar kind its own value,
    an empty string stays an empty string, and arrays, maps and bytes read as None."""
    kvs = [
        KeyValue(key="s", value=AnyValue(string_value="text")),
        KeyValue(key="empty", value=AnyValue(string_value="")),
        KeyValue(key="i", value=AnyValue(int_value=-7)),
        KeyValue(key="zero", value=AnyValue(int_value=0)),
        KeyValue(key="d", value=AnyValue(double_value=0.25)),
        KeyValue(key="b", value=AnyValue(bool_value=False)),
        KeyValue(key="bytes", value=AnyValue(bytes_value=b"x")),
        KeyValue(key="list", value=AnyValue(array_value=ArrayValue(values=[AnyValue(string_value="a")]))),
        KeyValue(key="unset", value=AnyValue()),
    ]
    got = otel.attributes(kvs)
    assert got == {
        "s": "text",
        "empty": "",
        "i": -7,
        "zero": 0,
        "d": 0.25,
        "b": False,
        "bytes": None,
        "list": None,
        "unset": None,
    }
    assert type(got["b"]) is bool and type(got["zero"]) is int


# A fixed instant: nothing here depends on today's date or the time of day.
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
REPORTED = EventRow._fields.index("reported_cost_nanos")


def _with(request: ExportLogsServiceRequest, **attrs: AnyValue) -> ExportLogsServiceRequest:
    """The request with these attributes of its one record replaced (added when absent)."""
    record = request.resource_logs[0].scope_logs[0].log_records[0]
    kept = [kv for kv in record.attributes if kv.key not in attrs]
    del record.attributes[:]
    record.attributes.extend([*kept, *(KeyValue(key=k, value=v) for k, v in attrs.items())])
    return request


def _reported(request: ExportLogsServiceRequest) -> int | str | None:
    """The stored reported cost of the request's one event, or why it was rejected."""
    received = otel.read(Pricer(), "logs", request, now=NOW)
    if received.outcome.rejected:
        return received.outcome.error_message
    return received.events[0][REPORTED]


def _decimal_reference(value: Decimal) -> int | str | None:
    if not (value.is_finite() and 0 <= value <= MAX_CALL_COST):
        return "1 record(s) rejected: api_request: cost_usd is negative, not finite or absurd"
    return to_nanos(value)


@given(
    whole=st.integers(min_value=0, max_value=10**16),
    decimals=st.text(alphabet="0123456789", max_size=12),
    negative=st.booleans(),
)
def test_a_cost_string_reads_as_decimal_reads_it(whole: int, decimals: str, negative: bool) -> None:
    """The integer reading of a plain "0.0123" gives Decimal's nano-dollars, rounding and limits
    included (more than nine decimals, a sign or a huge amount go through Decimal itself)."""
    text = ("-" if negative else "") + str(whole) + ("." + decimals if decimals else "")
    request = _with(_event("req_c", NOW - timedelta(hours=1), 5), cost_usd=AnyValue(string_value=text))
    assert _reported(request) == _decimal_reference(Decimal(text))


@given(
    cost=st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(min_value=-(2**63), max_value=2**63 - 1),  # an int_value is an int64
    ),
    micros=st.one_of(st.none(), st.integers(min_value=-(2**63), max_value=2**63 - 1)),
)
def test_a_cost_of_any_kind_reads_as_decimal_reads_it(cost: float | int, micros: int | None) -> None:
    """Doubles and ints as cost_usd, and cost_usd_micros (preferred when present), read exactly as
    Decimal(str(value)) reads them."""
    value = AnyValue(double_value=cost) if isinstance(cost, float) else AnyValue(int_value=cost)
    attrs = {"cost_usd": value}
    if micros is not None:
        attrs["cost_usd_micros"] = AnyValue(int_value=micros)
    request = _with(_event("req_c", NOW - timedelta(hours=1), 5), **attrs)
    expected = Decimal(micros) / 1_000_000 if micros is not None else Decimal(str(cost))
    assert _reported(request) == _decimal_reference(expected)


def test_api_request_attributes_in_their_other_forms() -> None:
    """What the inline reading of an api_request falls back to: the model and request id under
    their GenAI names, the session and member on the resource, token counts as strings or
    doubles, an unknown speed dropped."""
    request = _event("ignored", NOW - timedelta(hours=1), 5)
    record = request.resource_logs[0].scope_logs[0].log_records[0]
    del record.attributes[:]
    record.attributes.extend(
        [
            _kv("event.name", "api_request"),
            _kv("event.timestamp", (NOW - timedelta(hours=1)).isoformat()),
            _kv("gen_ai.request.model", SONNET),
            _kv("gen_ai.response.id", "req_genai"),
            _kv("input_tokens", "12"),
            KeyValue(key="output_tokens", value=AnyValue(double_value=7.0)),
            _kv("cache_read_tokens", 3),
            _kv("speed", "warp"),
        ]
    )
    request.resource_logs[0].resource.attributes.extend(
        [_kv("session.id", "s-resource"), _kv("user.account_id", "user_01abc")]
    )
    received = otel.read(Pricer(), "logs", request, now=NOW)
    assert received.outcome.rejected == 0
    row = EventRow(*received.events[0])
    assert (row.key, row.request_id, row.model, row.session_id, row.member) == (
        "req_genai",
        "req_genai",
        SONNET,
        "s-resource",
        "user_01abc",
    )
    assert (row.input_tokens, row.output_tokens, row.cache_read_tokens, row.speed) == (12, 7, 3, "")
    assert row.ts_ms == int((NOW - timedelta(hours=1)).timestamp() * 1000)


def _gemini(session: str, when: datetime, prompt: int) -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.append(_kv("service.name", "gemini-cli"))
    r = rl.scope_logs.add().log_records.add()
    r.time_unix_nano = int(when.timestamp() * 1e9)
    r.attributes.extend(
        [
            _kv("event.name", "gemini_cli.api_response"),
            _kv("event.timestamp", when.isoformat()),
            _kv("session.id", session),
            _kv("model", "gemini-2.5-pro"),
            _kv("input_token_count", prompt),
            _kv("output_token_count", 20),
        ]
    )
    return req


def test_sessions_seen_only_over_otel_are_session_views(settings: Settings, home: Path) -> None:
    """session_usage and usage_blocks find a Claude Code session that only arrived over OTel,
    next to one read from the logs whose calls also arrived over OTel (counted once), and a Gemini
    CLI session seen only over OTel."""
    from cost_mcp.analytics.claude_code import session_usage, usage_blocks

    when = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)
    write(
        session_file(home / "claude", "s-log"),
        assistant("msg_1", "req_1", when.isoformat().replace("+00:00", "Z"), session="s-log", output=100),
    )
    conn = connect(settings.db)
    try:
        claude_code.ingest(conn, settings, Pricer())
        logged = session_usage(conn, settings, "s-log")
        both = _event("req_1", when, 100)
        both.resource_logs[0].scope_logs[0].log_records[0].attributes[2].value.string_value = "s-log"
        otel.receive(conn, Pricer(), "logs", both)
        assert session_usage(conn, settings, "s-log").cost_usd == logged.cost_usd  # once, not twice
        # A later session known only from its OTel events (session id "s1" in _event).
        otel.receive(conn, Pricer(), "logs", _event("req_2", when + timedelta(minutes=30), 400))
        otel.receive(conn, Pricer(), "logs", _event("req_3", when + timedelta(minutes=40), 600))
        only = session_usage(conn, settings, "s1")
        assert only.requests == 2 and only.tokens.output_tokens == 1_000
        assert only.cost_usd is not None and only.cost_usd > 0
        assert session_usage(conn, settings).session_id == "s1"  # the most recent Claude Code session
        blocks = usage_blocks(conn, settings, days=1)
        assert sum(b.requests for b in blocks.blocks) == 3
        # Gemini CLI over OTel only: found by id, with or without naming the agent.
        otel.receive(conn, Pricer(), "logs", _gemini("g-1", when, 1_000))
        gemini = session_usage(conn, settings, "g-1", agent="gemini-cli")
        assert (gemini.requests, gemini.tokens.input_tokens) == (1, 1_000)
        assert session_usage(conn, settings, "g-1").cost_usd == gemini.cost_usd
    finally:
        conn.close()


def test_codex_and_gemini_as_their_source_emits_them(settings: Settings) -> None:
    """Shapes from the agents' own code (docs/agent-formats.md): Codex sends input and output counts
    as strings and a failed completion without counts; Codex and Gemini CLI also export spans with
    gen_ai.usage.* and Gemini a gen_ai.client.inference.operation.details event for the same calls.
    Each call counts once, and nothing is rejected."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    when = (datetime.now(UTC) - timedelta(minutes=10)).replace(microsecond=0)
    logs = ExportLogsServiceRequest()
    codex = logs.resource_logs.add()
    codex.resource.attributes.append(_kv("service.name", "codex_cli_rs"))
    records = codex.scope_logs.add().log_records
    codex_events: list[tuple[str, list[tuple[str, str | int]]]] = [
        (
            "response.completed",
            [
                ("input_token_count", "1200"),
                ("output_token_count", "300"),
                ("cached_token_count", 1000),
                ("reasoning_token_count", 200),
                ("tool_token_count", "1500"),
            ],
        ),
        ("response.completed", []),  # see_event_completed_failed
        ("response.output_item.done", []),
    ]
    for kind, counts in codex_events:
        r = records.add()
        r.attributes.extend(
            [
                _kv("event.name", "codex.sse_event"),
                _kv("event.kind", kind),
                _kv("event.timestamp", when.isoformat()),
                _kv("conversation.id", "conv-9"),
                _kv("model", "gpt-5"),
                _kv("slug", "gpt-5"),
                *[_kv(k, v) for k, v in counts],
            ]
        )
    gemini = logs.resource_logs.add()
    gemini.resource.attributes.append(_kv("service.name", "gemini-cli"))
    g = gemini.scope_logs.add().log_records
    gemini_events: list[tuple[str, list[tuple[str, str | int]]]] = [
        (
            "gemini_cli.api_response",
            [
                ("model", "gemini-2.5-pro"),
                ("input_token_count", 2000),
                ("output_token_count", 100),
                ("cached_content_token_count", 500),
                ("thoughts_token_count", 40),
                ("tool_token_count", 0),
                ("total_token_count", 2140),
                ("prompt_id", "p1"),
            ],
        ),
        (
            "gen_ai.client.inference.operation.details",
            [
                ("gen_ai.request.model", "gemini-2.5-pro"),
                ("gen_ai.usage.input_tokens", 2000),
                ("gen_ai.usage.output_tokens", 100),
            ],
        ),
    ]
    for name, attrs in gemini_events:
        r = g.add()
        r.attributes.extend(
            [
                _kv("event.name", name),
                _kv("event.timestamp", when.isoformat()),
                _kv("session.id", "gem-1"),
                *[_kv(k, v) for k, v in attrs],
            ]
        )
    spans = ExportTraceServiceRequest()
    span_shapes: list[tuple[str, list[tuple[str, str | int]]]] = [
        (
            "codex_cli_rs",
            [
                ("gen_ai.usage.input_tokens", 1200),
                ("gen_ai.usage.cache_read.input_tokens", 1000),
                ("gen_ai.usage.output_tokens", 300),
                ("codex.usage.total_tokens", 1500),
            ],
        ),
        (
            "gemini-cli",
            [
                ("gen_ai.operation.name", "llm_call"),
                ("gen_ai.agent.name", "gemini-cli"),
                ("gen_ai.request.model", "gemini-2.5-pro"),
                ("gen_ai.usage.input_tokens", 2000),
                ("gen_ai.usage.output_tokens", 100),
            ],
        ),
    ]
    for service, attrs in span_shapes:
        rs = spans.resource_spans.add()
        rs.resource.attributes.append(_kv("service.name", service))
        span = rs.scope_spans.add().spans.add()
        span.trace_id, span.span_id = bytes(range(16)), bytes(range(8))
        span.name = "handle_responses" if service.startswith("codex") else "llm_call"
        span.end_time_unix_nano = int(when.timestamp() * 1e9)
        span.attributes.extend(_kv(k, v) for k, v in attrs)
    conn = connect(settings.db)
    try:
        got = otel.receive(conn, Pricer(), "logs", logs)
        assert (got.accepted, got.rejected, got.ignored) == (2, 0, 3)
        got = otel.receive(conn, Pricer(), "traces", spans)
        assert (got.accepted, got.rejected, got.ignored) == (0, 0, 2)
        rows = conn.execute(
            "SELECT agent, session_id, model, input_tokens, cache_read_tokens, output_tokens "
            "FROM usage_events WHERE counted = 1 ORDER BY agent"
        ).fetchall()
        assert rows == [
            ("codex", "conv-9", "gpt-5", 200, 1000, 300),  # reasoning is inside output, total not read
            ("gemini-cli", "gem-1", "gemini-2.5-pro", 1500, 500, 140),  # thoughts billed as output
        ]
    finally:
        conn.close()


def test_every_call_read_has_one_count_per_kind_in_kinds_order() -> None:
    """The receiver hands each call to pricing and to its row as counts in tokens.KINDS order, one
    per kind (a kind left out would be priced as nothing, or shift the kinds after it)."""
    claude = _with(
        _event("req_k", NOW - timedelta(hours=1), 7),
        cache_read_tokens=AnyValue(int_value=3),
        cache_creation_tokens=AnyValue(int_value=2),
    )
    gemini = _gemini("s-g", NOW - timedelta(hours=1), 40)
    calls = [
        call
        for request in (claude, gemini)
        for call in otel._logs(request, otel._window(NOW), otel.Outcome("logs"))
    ]
    assert len(calls) == 2
    assert all(len(call.counts) == len(tokens.KINDS) for call in calls)
    by_kind = dict(zip(tokens.NAMES, calls[0].counts, strict=True))
    assert by_kind == {
        "input": 4,
        "output": 7,
        "cache_read": 3,
        "cache_write_5m": 2,
        "cache_write_1h": 0,
        "web_search_requests": 0,
    }
    assert Tokens(*calls[1].counts) == Tokens(input=40, output=20)  # through the generic path


# --- one call both ways: the counted log copy keeps the best of both copies ----------------------

ANA = "ana@example.com"


def _event_of(request_id: str, when: datetime, output: int, **more: str | int) -> ExportLogsServiceRequest:
    """:func:`_event` with more attributes (``user.email``, ``cost_usd``...)."""
    req = _event(request_id, when, output)
    record = req.resource_logs[0].scope_logs[0].log_records[0]
    record.attributes.extend(_kv(k, v) for k, v in more.items())
    return req


def _both_ways(
    settings: Settings, home: Path, order: str, *, log_output: int, otel_output: int, cost: str = "0.5"
) -> tuple[list[tuple[str, str, str, int]], dict[str, Decimal | None]]:
    """One call read from a log and received over OTLP (from ana, reporting ``cost``) in ``order``:
    the counted rows (source, request id, member, total tokens) and the spend by member."""
    from cost_mcp.analytics.spend import get_spend, resolve

    when = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    write(
        session_file(home / "claude", "s1"),
        assistant("msg_1", "req_1", when.isoformat().replace("+00:00", "Z"), output=log_output),
    )
    event = _event_of("req_1", when, otel_output, **{"user.email": ANA, "cost_usd": cost})
    conn = connect(settings.db)
    try:
        if order == "log first":
            claude_code.ingest(conn, settings, Pricer())
        otel.receive(conn, Pricer(), "logs", event)
        if order == "otel first":
            claude_code.ingest(conn, settings, Pricer())
        counted = [
            (str(s), str(r), str(m), int(t))
            for s, r, m, t in conn.execute(
                "SELECT source, request_id, member, total_tokens FROM usage_events WHERE counted = 1"
            )
        ]
        day = when.date()
        period = resolve(settings, None, str(day - timedelta(days=1)), str(day + timedelta(days=1)), None)
        result = get_spend(conn, settings, period, ["member"])
        by_member = {str(r.group["member"]): r.cost_usd for r in result.rows}
        return counted, by_member
    finally:
        conn.close()


@pytest.mark.parametrize("order", ["log first", "otel first"])
def test_a_call_seen_both_ways_keeps_the_otel_member_and_reported_cost(
    settings: Settings, home: Path, order: str
) -> None:
    """The log copy counts (it has the cache-write split), but it knew no member: the call stays
    ana's, whose event named her, and in ``auto`` it costs what Claude Code reported, as it did
    while only the OTel copy was there, whichever copy came first."""
    counted, by_member = _both_ways(settings, home, order, log_output=100, otel_output=100)
    assert counted == [("claude_code", "req_1", ANA, 104)]
    assert by_member == {ANA: Decimal("0.5")}


@pytest.mark.parametrize("order", ["log first", "otel first"])
def test_the_copy_with_more_tokens_sets_the_counted_tokens_and_their_cost(
    settings: Settings, home: Path, order: str
) -> None:
    """ "Max tokens wins" between the two copies: the OTel copy's larger counts (say a log line
    written before the stream ended), with the cost Claude Code reported for them."""
    counted, by_member = _both_ways(settings, home, order, log_output=100, otel_output=300)
    assert counted == [("claude_code", "req_1", ANA, 304)]
    assert by_member == {ANA: Decimal("0.5")}


@pytest.mark.parametrize("order", ["log first", "otel first"])
def test_a_log_copy_with_more_tokens_keeps_them_at_our_price(
    settings: Settings, home: Path, order: str
) -> None:
    """The reported figure is for fewer tokens than the log copy counts: our price of them counts."""
    counted, by_member = _both_ways(settings, home, order, log_output=300, otel_output=100)
    assert counted == [("claude_code", "req_1", ANA, 304)]
    ours = Pricer().price(Tokens(input=4, output=300), SONNET)
    assert isinstance(ours, Price)
    assert by_member == {ANA: Decimal(ours.total_nanos) / 10**9}  # $0.004512, not the reported $0.50


@pytest.mark.parametrize("log_row_first", [True, False])
def test_a_push_holding_both_copies_of_a_call_counts_the_larger_once(
    settings: Settings, log_row_first: bool
) -> None:
    """Within one pushed batch (a laptop whose OTel copy counted before its log copy came): the log
    copy counts, with the OTel copy's larger counts and the server's price of them."""
    from cost_mcp import push
    from cost_mcp.access import Caller
    from cost_mcp.analytics.spend import get_spend, resolve

    when = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    ts_ms = int(when.timestamp() * 1000)
    log_row = push.WireRow(
        source="claude_code",
        message_id="msg_1",
        request_id="req_1",
        ts_ms=ts_ms,
        provider="anthropic",
        model=SONNET,
        input_tokens=4,
        output_tokens=100,
    )
    # The OTel copy as a laptop pushes it: keyed by its request id.
    otel_row = msgspec.structs.replace(
        log_row, source="claude_code_otel", message_id="req_1", output_tokens=300
    )
    rows = [log_row, otel_row] if log_row_first else [otel_row, log_row]
    conn = connect(settings.db)
    try:
        push.receive(conn, Pricer(), Caller(ANA, "member", "ana-laptop"), rows)
        counted = conn.execute(
            "SELECT source, member, total_tokens FROM usage_events WHERE counted = 1"
        ).fetchall()
        assert [tuple(r) for r in counted] == [("claude_code", ANA, 304)]
        day = when.date()
        period = resolve(settings, None, str(day - timedelta(days=1)), str(day + timedelta(days=1)), None)
        result = get_spend(conn, settings, period, ["member"])
        ours = Pricer().price(Tokens(input=4, output=300), SONNET)
        assert isinstance(ours, Price)
        assert {str(r.group["member"]): r.cost_usd for r in result.rows} == {
            ANA: Decimal(ours.total_nanos) / 10**9
        }
        # Bob's pushed call, then ana's OTel event of it: it stays bob's, and hers does not grow it.
        bob = msgspec.structs.replace(log_row, message_id="msg_2", request_id="req_2")
        push.receive(conn, Pricer(), Caller("bob@example.com", "member", "bob-laptop"), [bob])
        otel.receive(conn, Pricer(), "logs", _event_of("req_2", when, 300, **{"user.email": ANA}))
        counted = conn.execute(
            "SELECT source, member, total_tokens FROM usage_events WHERE counted = 1 AND request_id = 'req_2'"
        ).fetchall()
        assert [tuple(r) for r in counted] == [("claude_code", "bob@example.com", 104)]
    finally:
        conn.close()


def test_calls_stored_both_ways_before_are_given_their_member_on_upgrade(
    settings: Settings, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ledger whose log copies were stored without the OTel copy's member and cost (m031)."""
    from cost_mcp.store import MIGRATIONS, migrations, rollup
    from cost_mcp.store import otel as store_otel
    from cost_mcp.store import reported as reported_store
    from cost_mcp.store.connection import is_postgres
    from tests.store.test_migrations import _blank_postgres, _noted_nowhere

    when = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    write(
        session_file(home / "claude", "s1"),
        assistant("msg_1", "req_1", when.isoformat().replace("+00:00", "Z"), output=100),
    )
    names = [n for n, _ in MIGRATIONS]
    if is_postgres(settings.db):
        _blank_postgres(str(settings.db))  # the test's database is a copy of a migrated template
    with monkeypatch.context() as before:
        before.setattr(
            migrations,
            "MIGRATIONS",
            MIGRATIONS[: names.index("m031_log_copies_take_the_best_of_their_otel_copies")],
        )
        # That version kept no tombstones (m032): the receiver of this one looks them up.
        before.setattr(reported_store, "forgotten_keys", lambda conn, keys: set())
        before.setattr(reported_store, "forgotten_request_ids", lambda conn, source, ids: set())
        # Nor m036's second mark table: its refresh knew only rollup_dirty.
        before.setattr(rollup, "MARKS", ("rollup_dirty",))
        # Nor m041's senders.
        before.setattr(store_otel, "_note_senders", _noted_nowhere)
        old = connect(settings.db)
        try:
            claude_code.ingest(old, settings, Pricer())
            event = _event_of("req_1", when, 100, **{"user.email": ANA, "cost_usd": "0.5"})
            otel.receive(old, Pricer(), "logs", event)
            # What that version left: the log copy as the log line had it.
            old.execute(
                "UPDATE usage_events SET member = '', reported_cost_nanos = NULL WHERE source = 'claude_code'"
            )
            old.commit()
        finally:
            old.close()
    conn = connect(settings.db)
    try:
        counted = conn.execute(
            "SELECT source, member, reported_cost_nanos FROM usage_events WHERE counted = 1"
        ).fetchall()
    finally:
        conn.close()
    assert [tuple(r) for r in counted] == [("claude_code", ANA, 500_000_000)]


def _refused_before_parsing(signal: otel.Signal, raw: bytes, encoding: otel.Encoding, refusal: str) -> None:
    """``raw`` gzipped, within the body and unpacked limits, is refused with ``refusal`` by a decode
    that takes about what unpacking it takes: twice the body (zlib grows its buffer), counting
    adds little; parsing it first took hundreds of MB."""
    import gzip
    import tracemalloc

    body = gzip.compress(raw)
    assert len(body) < otel.MAX_BODY_BYTES and len(raw) <= otel.MAX_DECODED_BYTES
    tracemalloc.start()
    try:
        with pytest.raises(otel.TooLargeError, match=f"^over [\\d,]+ {refusal} in one request; send"):
            otel.decode(signal, body, encoding=encoding, gzipped=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 3 * len(raw) + 2**20, f"{peak / 2**20:.0f} MB to refuse {len(raw) / 2**20:.0f} MB"


@pytest.mark.parametrize(
    ("signal", "encoding", "raw", "refusal"),
    [
        # 16M empty log records in 32 MB: parsed first, ~130 bytes each (2 GB) and ~50 s of CPU.
        (
            "logs",
            "protobuf",
            empty_records(otel.MAX_DECODED_BYTES // 2 - 8),
            "log records",
        ),
        ("traces", "protobuf", empty_records(600_000), "spans"),
        # One record of 1.2M empty attributes: the records are few, the messages are not.
        ("logs", "protobuf", field(1, field(2, field(2, b"\x32\x00" * 1_200_000))), "messages"),
        (
            "logs",
            "json",
            b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[' + b"{}," * 1_000_000 + b"{}]}]}]}",
            "JSON objects",
        ),
        # json.loads builds every array and value before the schema is read: 3M `[]` took ~400 MB.
        ("logs", "json", b'{"resourceLogs":[' + b"[]," * 1_200_000 + b"[]]}", "arrays"),
        ("logs", "json", b'{"resourceLogs":[' + b'"",' * 1_200_000 + b'""]}', "JSON values"),
    ],
)
def test_a_body_of_millions_of_tiny_records_is_refused_before_it_is_parsed(
    signal: otel.Signal, encoding: otel.Encoding, raw: bytes, refusal: str
) -> None:
    _refused_before_parsing(signal, raw, encoding, f".*{refusal}.*")


def test_a_protobuf_group_cannot_hide_records_from_the_count() -> None:
    # Groups parse as unknown fields; a walk that stopped at one would let the records after it through.
    body = b"\x0b\x0c" + empty_records(600_000)
    with pytest.raises(otel.PayloadError, match="wire type 3"):
        otel.decode("logs", body, encoding="protobuf", gzipped=False)


@pytest.mark.parametrize(
    ("signal", "raw"),
    [
        # 32M bucket counts of 0 packed in one field: a byte each sent, 8 parsed (~480 MB from 30 kB).
        ("metrics", exponential_points(field(2, b"\x00" * (otel.MAX_DECODED_BYTES - 64)))),
        # The same sent unpacked, each with its tag: 2 bytes each sent, 8 parsed.
        ("metrics", exponential_points(b"\x10\x00" * (otel.MAX_DECODED_BYTES // 2 - 16))),
        # A resource's entity reference of 16M empty id keys: 2 bytes each sent, a 16-byte view parsed.
        ("logs", field(1, field(1, field(3, b"\x1a\x00" * (otel.MAX_DECODED_BYTES // 2 - 16))))),
    ],
)
def test_a_body_of_millions_of_repeated_numbers_is_refused_before_it_is_parsed(
    signal: otel.Signal, raw: bytes
) -> None:
    _refused_before_parsing(signal, raw, "protobuf", "repeated numbers .*")
