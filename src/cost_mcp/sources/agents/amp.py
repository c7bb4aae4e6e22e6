"""Amp: one JSON document per thread, ``threads/T-<uuid>.json`` under Amp's data folder.

Facts and sources are in ``docs/agent-formats.md``. The current schema puts each assistant
message's usage on the message: ``messages[].usage = {model, timestamp, inputTokens, outputTokens,
cacheCreationInputTokens, cacheReadInputTokens, totalTokens, credits}``, in Anthropic's disjoint
kinds (input excludes cache reads and writes). A thread file is rewritten as the thread grows, so it
is read whole when it changes; a message counts once by (thread, messageId).

Older threads carry their usage in ``usageLedger.events[]`` instead (``{id, timestamp, model,
tokens: {input, output, total}, credits, toMessageId}``), with the cache split only on the message
the event points to (``messages[].usage`` of the message whose ``messageId`` is ``toMessageId``).
A thread with a ledger is read from its ledger alone (as ccusage does), so a message that also
carries usage is not counted twice; a message's cache tokens go to its first ledger event only.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from cost_mcp.agent_folders import AgentFolderPaths
from cost_mcp.pricing import Tokens
from cost_mcp.sources.agents.scanner import (
    AgentEvent,
    FileContext,
    Parsed,
    SkipReason,
    count,
    document_log,
    epoch_ms,
    provider_of,
)

AGENT = "amp"
SOURCE = "amp"


def roots(settings: AgentFolderPaths) -> list[Path]:
    """``<AMP_DATA_DIR or ~/.local/share/amp>/threads``."""
    return [settings.amp_data_path() / "threads"]


def parse_document(raw: bytes, ctx: FileContext) -> Parsed:
    """Every assistant message's usage in one thread file; a bad message is skipped, not the thread."""
    try:
        thread = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        return "truncated" if "truncated" in str(exc) else "malformed"
    if not isinstance(thread, dict) or not isinstance(thread.get("messages"), list):
        return "invalid_fields"
    thread_id = str(thread.get("id") or Path(ctx.path).stem)
    ledger = thread.get("usageLedger")
    if isinstance(ledger, dict) and isinstance(ledger.get("events"), list) and ledger["events"]:
        return _ledger_events(ledger["events"], thread["messages"], thread_id)
    events: list[AgentEvent | SkipReason] = []
    for index, message in enumerate(thread["messages"]):
        if not isinstance(message, dict) or message.get("role") != "assistant":
            continue
        usage = message.get("usage")
        if not isinstance(usage, dict):
            continue
        model = usage.get("model") or message.get("model")
        ts_ms = epoch_ms(usage.get("timestamp") or message.get("timestamp"))
        if not isinstance(model, str) or not model or ts_ms is None:
            events.append("invalid_fields")  # a call whose usage cannot be placed: counted, skipped
            continue
        try:
            inp, out, write, read = (
                count(usage.get(k)) or 0
                for k in ("inputTokens", "outputTokens", "cacheCreationInputTokens", "cacheReadInputTokens")
            )
        except ValueError:
            events.append("invalid_fields")
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


def _ledger_events(
    ledger: list[object], messages: list[object], thread_id: str
) -> list[AgentEvent | SkipReason]:
    """The older schema: one event per ledger entry, its cache split from the message it names."""
    cache: dict[int | str, tuple[int, int]] = {}
    for message in messages:
        if (
            isinstance(message, dict)
            and message.get("role") == "assistant"
            and isinstance(message.get("messageId"), int | str)
        ):
            usage = message.get("usage")
            try:
                split = (
                    (
                        count(usage.get("cacheCreationInputTokens")) or 0,
                        count(usage.get("cacheReadInputTokens")) or 0,
                    )
                    if isinstance(usage, dict)
                    else (0, 0)
                )
            except ValueError:
                split = (0, 0)
            cache[message["messageId"]] = split
    events: list[AgentEvent | SkipReason] = []
    for index, event in enumerate(ledger):
        if not isinstance(event, dict) or not isinstance(event.get("tokens"), dict):
            events.append("invalid_fields")
            continue
        model = event.get("model")
        ts_ms = epoch_ms(event.get("timestamp"))
        if not isinstance(model, str) or not model or ts_ms is None:
            events.append("invalid_fields")
            continue
        try:
            inp, out = (count(event["tokens"].get(k)) for k in ("input", "output"))
        except ValueError:
            events.append("invalid_fields")
            continue
        if inp is None and out is None:
            # Only a total: its split into input and output is unknown, so it cannot be priced;
            # counted as skipped, so answers say a call is missing rather than guess its price.
            if event["tokens"].get("total"):
                events.append("invalid_fields")
            continue
        # A message's cache tokens belong to one call: the first ledger event that points at it.
        target = event.get("toMessageId")
        write, read = cache.pop(target, (0, 0)) if isinstance(target, int | str) else (0, 0)
        if not (inp or out or write or read):
            continue
        event_id = event.get("id")
        events.append(
            AgentEvent(
                key=f"{thread_id}:ledger:{event_id if event_id is not None else index}",
                ts_ms=ts_ms,
                provider=provider_of(model),
                model=model,
                session_id=thread_id,
                project="",
                tokens=Tokens(input=inp or 0, output=out or 0, cache_read=read, cache_write_5m=write),
            )
        )
    return events


LOG = document_log(AGENT, "Amp", SOURCE, roots, parse_document)
