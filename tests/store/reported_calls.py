"""Calls agents reported (``record_usage``), built for tests that store them straight into a ledger."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from cost_mcp import tokens
from cost_mcp.store.usage import ReportedCall

_CALL = ReportedCall(
    source="record_usage",
    message_id="",
    ts_ms=0,
    provider="openai",
    model="gpt-x",
    session_id="s",
    project="p",
    agent="a",
    member="",
    tokens=(1,) + (0,) * (len(tokens.COLUMNS) - 1),
    cost_nanos=None,
    priced_model=None,
    speed="",
    service_tier="",
    inference_geo="",
    price_note="",
)


def reported_call(message_id: str, ts_ms: int, **fields: Any) -> ReportedCall:
    """A reported call of one input token on openai's gpt-x, unpriced, by agent a in session s of
    project p, under no member; ``fields`` set any other field."""
    return replace(_CALL, message_id=message_id, ts_ms=ts_ms, **fields)
