"""Hostile input never crashes anything: every rejection is a reason or a clear tool error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client

from cost_mcp.sources.claude_code import SKIP_REASONS, Copy, FileIdentity, parse_line

WHERE = FileIdentity(Path("/x/projects/p/s.jsonl"), "p", "s")

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False), st.text(max_size=30)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "model",
                    "usage",
                    "input_tokens",
                    "output_tokens",
                    "cache_creation",
                    "ephemeral_1h_input_tokens",
                    "message",
                    "data",
                    "speed",
                    "x",
                ]
            ),
            inner,
            max_size=5,
        )
    ),
    max_leaves=20,
)
entries = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["assistant", "progress", "user", "summary"]) | st.text(max_size=8),
        "timestamp": st.sampled_from(["2026-11-02T09:00:00Z", "2026-11-02T09:00:00+02:00", "yesterday", ""])
        | scalars,
        "sessionId": scalars,
        "requestId": scalars,
        "isSidechain": scalars,
        "costUSD": scalars,
        "message": json_values,
        "data": json_values,
    },
)


def _check(result: object) -> None:
    assert result is None or result in SKIP_REASONS or isinstance(result, Copy)
    if isinstance(result, Copy):
        t = result.tokens
        assert min(t.input, t.output, t.cache_read, t.cache_write_5m, t.cache_write_1h) >= 0


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    _check(parse_line(raw + b"\n", WHERE))


@settings(max_examples=400, deadline=None)
@given(entries)
def test_log_shaped_json_never_raises(entry: dict[str, Any]) -> None:
    try:
        raw = json.dumps(entry).encode()
    except ValueError:
        return
    _check(parse_line(raw + b"\n", WHERE))


get_spend_args = st.fixed_dictionaries(
    {},
    optional={
        "period": st.text(max_size=20) | st.sampled_from(["today", "this_week", "last_month"]),
        "start": st.text(max_size=12) | st.dates().map(str),
        "end": st.text(max_size=12) | st.dates().map(str),
        "timezone": st.text(max_size=20) | st.sampled_from(["UTC", "Asia/Kolkata", "Mars/Base"]),
        "group_by": st.lists(st.text(max_size=10) | st.sampled_from(["day", "session", "basis"]), max_size=5),
        "providers": st.lists(st.text(max_size=10), max_size=3),
        "agents": st.lists(st.text(max_size=10), max_size=3),
    },
)


def _not_a_crash(tool: str, result: Any) -> None:
    if result.is_error:
        text = result.content[0].text
        # A crash reaches the model as just this line; anything anticipated says more.
        assert text != f"Error executing tool {tool}", f"{tool} crashed"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(args=get_spend_args)
def test_get_spend_arguments_never_crash(home: Path, args: dict[str, Any]) -> None:
    from cost_mcp.server import mcp

    async def call() -> None:
        async with Client(mcp) as client:
            _not_a_crash("get_spend", await client.call_tool("get_spend", args))

    anyio.run(call)


budget_args = st.fixed_dictionaries(
    {
        "name": st.text(max_size=70),
        "amount_usd": st.one_of(st.integers(-5, 10**12), st.floats(allow_nan=True), st.text(max_size=10)),
        "period": st.sampled_from(["day", "week", "month", "year", ""]),
    },
    optional={
        "thresholds": st.lists(st.one_of(st.floats(allow_nan=True), st.integers(-3, 30)), max_size=4),
        "webhook_url": st.text(max_size=30),
        "agents": st.lists(st.text(max_size=10), max_size=3),
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(args=budget_args)
def test_set_budget_arguments_never_crash(home: Path, args: dict[str, Any]) -> None:
    from cost_mcp.server import mcp

    async def call() -> None:
        async with Client(mcp) as client:
            _not_a_crash("set_budget", await client.call_tool("set_budget", args))
            _not_a_crash("check_budget", await client.call_tool("check_budget", {"estimated_cost_usd": 1}))

    anyio.run(call)


record_args = st.fixed_dictionaries(
    {
        "provider": st.text(max_size=12) | st.sampled_from(["openai", "anthropic"]),
        "model": st.text(max_size=30) | st.sampled_from(["gpt-4o", "claude-sonnet-4-5"]),
        "input_tokens": st.integers(-10, 10**11),
        "output_tokens": st.integers(-10, 10**11),
        "agent": st.text(max_size=20),
    },
    optional={
        "timestamp": st.text(max_size=30) | st.datetimes().map(lambda d: d.isoformat()),
        "request_id": st.text(max_size=20),
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(args=record_args)
def test_record_usage_arguments_never_crash(home: Path, args: dict[str, Any]) -> None:
    from cost_mcp.server import mcp

    async def call() -> None:
        async with Client(mcp) as client:
            _not_a_crash("record_usage", await client.call_tool("record_usage", args))

    anyio.run(call)
