"""Amp: one JSON document per thread, ``threads/T-<uuid>.json`` under Amp's data folder.

Facts and sources are in ``docs/agent-formats.md``. The current schema puts each assistant
message's usage on the message: ``messages[].usage = {model, timestamp, inputTokens, outputTokens,
cacheCreationInputTokens, cacheReadInputTokens, totalTokens, credits}``, in Anthropic's disjoint
kinds (input excludes cache reads and writes). A thread file is rewritten as the thread grows, so it
is read whole when it changes; a message counts once by (thread, messageId). The older
``usageLedger.events`` schema is not read (its events carry no cache split of their own).
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from cost_mcp.config import Settings
from cost_mcp.pricing import Tokens
from cost_mcp.sources.agents.scanner import AgentEvent, AgentLog, FileContext, Parsed, count, epoch_ms

AGENT = "amp"
SOURCE = "amp"
_PROVIDERS = (
    ("claude", "anthropic"),
    ("gpt", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("gemini", "google"),
)


def roots(settings: Settings) -> list[Path]:
    """``<AMP_DATA_DIR or ~/.local/share/amp>/threads``."""
    return [settings.amp_data_path() / "threads"]


def provider_of(model: str) -> str:
    """Amp does not log the provider: the model family says it."""
    name = model.lower()
    return next((provider for prefix, provider in _PROVIDERS if name.startswith(prefix)), "")


def parse_document(raw: bytes, ctx: FileContext) -> Parsed:
    """Every assistant message's usage in one thread file; a bad message is skipped, not the thread."""
    try:
        thread = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        return "truncated" if "truncated" in str(exc) else "malformed"
    if not isinstance(thread, dict) or not isinstance(thread.get("messages"), list):
        return "invalid_fields"
    thread_id = str(thread.get("id") or Path(ctx.path).stem)
    events: list[AgentEvent] = []
    for index, message in enumerate(thread["messages"]):
        if not isinstance(message, dict) or message.get("role") != "assistant":
            continue
        usage = message.get("usage")
        if not isinstance(usage, dict):
            continue
        model = usage.get("model") or message.get("model")
        ts_ms = epoch_ms(usage.get("timestamp") or message.get("timestamp"))
        if not isinstance(model, str) or not model or ts_ms is None:
            continue
        try:
            inp, out, write, read = (
                count(usage.get(k)) or 0
                for k in ("inputTokens", "outputTokens", "cacheCreationInputTokens", "cacheReadInputTokens")
            )
        except ValueError:
            continue
        if not (inp or out or write or read):
            continue
        message_id = message.get("messageId")
        events.append(
            AgentEvent(
                key=f"{thread_id}:{message_id if message_id is not None else index}",
                ts_ms=ts_ms,
                provider=provider_of(model),
                model=model,
                session_id=thread_id,
                project="",
                tokens=Tokens(input=inp, output=out, cache_read=read, cache_write_5m=write),
            )
        )
    return events


LOG = AgentLog(
    agent=AGENT,
    source=SOURCE,
    roots=roots,
    line_suffixes=(),
    parse_line=lambda raw, ctx: None,
    document_suffixes=(".json",),
    parse_document=parse_document,
)
