"""GitHub Copilot CLI: its OpenTelemetry file export, one JSON record per line.

Facts and sources are in ``docs/agent-formats.md``. With ``COPILOT_OTEL_ENABLED=true`` and
``COPILOT_OTEL_EXPORTER_TYPE=file``, Copilot appends every finished span, log record and metric
batch to ``COPILOT_OTEL_FILE_EXPORTER_PATH`` (ccusage documents keeping these files under
``~/.copilot/otel/``). Spans follow the OTel GenAI conventions: one ``chat`` span per model call
(``gen_ai.operation.name = "chat"``, name ``chat <model>``) under an ``invoke_agent`` span per turn.

Only ``chat`` spans are read: they are the calls. The turn's ``invoke_agent`` span sums its calls, and
the inference and agent-turn log records repeat them, so reading those too would count a call two
or three times. A span's key is its trace and span id, so a file copied or read again counts once.

Tokens follow the GenAI conventions: ``gen_ai.usage.input_tokens`` includes the cache reads and
cache writes reported beside it, and ``gen_ai.usage.output_tokens`` includes reasoning tokens (as
the OpenAI-shaped usage Copilot's API returns does). The ledger gets ``input - cache_read -
cache_write`` uncached input, the cache reads and writes apart, and ``output_tokens`` as output.

Copilot's own session logs (``~/.copilot/session-state/<session>/events.jsonl``) are not read: they
give a call its model and output tokens only, and input and cache tokens only as one process's total
per model, written on a clean exit (``session.shutdown``), so the export is the one per-call source.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from cost_mcp.agent_folders import AgentFolderPaths
from cost_mcp.pricing import Tokens
from cost_mcp.sources.agents.scanner import AgentEvent, AgentLog, FileContext, Parsed, count, provider_of

AGENT = "copilot-cli"
SOURCE = "copilot_cli"
_SESSION_ATTRS = ("gen_ai.conversation.id", "copilot_chat.session_id", "session.id")
_GATEWAYS = ("", "github", "copilot")
"""Provider names that say where the call went through, not whose model priced it."""
_PROVIDER_IDS = {"azure.ai.openai": "azure", "gcp.gemini": "google", "gcp.vertex_ai": "google"}
"""GenAI-convention provider names whose pricing id differs."""


def roots(settings: AgentFolderPaths) -> list[Path]:
    """``~/.copilot/otel`` (or COST_MCP_COPILOT_OTEL_DIR) and COPILOT_OTEL_FILE_EXPORTER_PATH."""
    return settings.copilot_otel_paths()


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _ms(value: object) -> int | None:
    """An OTel JS ``HrTime`` (``[seconds, nanoseconds]``) as epoch milliseconds."""
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
    ):
        return int(value[0]) * 1000 + int(value[1]) // 1_000_000
    return None


def parse_line(raw: bytes, ctx: FileContext) -> Parsed:
    """One exported record: a ``chat`` span becomes one call; every other record is passed over."""
    if b'"attributes"' not in raw:
        return None  # metric batches and records without attributes carry no call
    try:
        record = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        return "truncated" if "truncated" in str(exc) else "malformed"
    if not isinstance(record, dict) or not isinstance(record.get("attributes"), dict):
        return None
    attrs: dict[str, object] = record["attributes"]
    name = _text(record.get("name"))
    is_span = record.get("type") == "span" or bool(_text(record.get("spanId")))
    if not is_span or not (attrs.get("gen_ai.operation.name") == "chat" or name.startswith("chat ")):
        return None
    trace, span = _text(record.get("traceId")), _text(record.get("spanId"))
    ts_ms = _ms(record.get("endTime")) or _ms(record.get("startTime"))
    model = _text(attrs.get("gen_ai.response.model")) or _text(attrs.get("gen_ai.request.model"))
    # A chat span naming no model is still a call (as the OTLP receiver takes one): stored unpriced
    # under no model, which every answer names "(model not reported)" and leaves out of its amounts.
    if not trace or not span or ts_ms is None:
        return "invalid_fields"
    try:
        inp, out, read = (
            count(attrs.get(k)) or 0
            for k in (
                "gen_ai.usage.input_tokens",
                "gen_ai.usage.output_tokens",
                "gen_ai.usage.cache_read.input_tokens",
            )
        )
        write = (
            count(attrs.get("gen_ai.usage.cache_creation.input_tokens"))
            or count(attrs.get("gen_ai.usage.cache_write.input_tokens"))
            or 0
        )
    except ValueError:
        return "invalid_fields"
    if not (inp or out or read or write):
        return None  # a call that failed before any usage came back
    reported = _text(attrs.get("gen_ai.provider.name")).lower()
    provider = provider_of(model) if reported in _GATEWAYS else _PROVIDER_IDS.get(reported, reported)
    session = next((s for s in (_text(attrs.get(k)) for k in _SESSION_ATTRS) if s), trace)
    return [
        AgentEvent(
            key=f"{trace}:{span}",
            ts_ms=ts_ms,
            provider=provider,
            model=model,
            session_id=session,
            project="",
            # Cache reads and writes are inside input_tokens (GenAI conventions): take them out once.
            tokens=Tokens(
                input=max(inp - read - write, 0), output=out, cache_read=read, cache_write_5m=write
            ),
        )
    ]


LOG = AgentLog(
    agent=AGENT,
    label="Copilot CLI",
    source=SOURCE,
    roots=roots,
    line_suffixes=(".jsonl",),
    parse_line=parse_line,
)
