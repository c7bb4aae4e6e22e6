"""Gemini CLI: chat recordings under ``~/.gemini/tmp/<project>/chats/``.

Facts and sources are in ``docs/agent-formats.md``. Current versions append JSONL: a metadata
line (``sessionId``, ``projectHash``, ``startTime``...), then one line per message record, a record
being written again under the same ``id`` when it changes (a ``gemini`` message gets its
``tokens`` after the response), and ``{"$set": {...}}`` metadata updates. Older versions rewrote one
JSON document per session (``session-*.json`` with a ``messages`` array); resuming one converts it
to ``.jsonl`` with the same message ids.

``tokens`` mirrors the API's usageMetadata: ``input`` (promptTokenCount, cached included),
``cached`` (cachedContentTokenCount), ``output`` (candidatesTokenCount, thoughts excluded),
``thoughts`` (thoughtsTokenCount, billed as output), ``tool`` (toolUsePromptTokenCount, billed as
input) and ``total``. The ledger gets ``input - cached + tool`` uncached input, ``cached`` cache
reads and ``output + thoughts`` output. A message counts once by its id, however many files and
lines repeat it.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from cost_mcp.config import Settings
from cost_mcp.pricing import Tokens
from cost_mcp.sources.agents.scanner import (
    AgentEvent,
    AgentLog,
    FileContext,
    Parsed,
    SkipReason,
    count,
    epoch_ms,
    event_key,
    file_stem,
)

AGENT = "gemini-cli"
SOURCE = "gemini_cli"
PROVIDER = "google"


def roots(settings: Settings) -> list[Path]:
    """``<GEMINI_DIR or ~/.gemini>/tmp``."""
    return [settings.gemini_dir_path() / "tmp"]


def _project(ctx: FileContext) -> str:
    parts = Path(ctx.path).relative_to(ctx.root).parts
    return parts[0] if len(parts) > 1 else ""


def _decode(raw: bytes) -> object:
    try:
        decoded: object = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        return "truncated" if "truncated" in str(exc) else "malformed"
    return decoded


def _event(message: dict[str, object], ctx: FileContext, session: str) -> AgentEvent | SkipReason | None:
    tokens = message.get("tokens")
    if tokens is None:
        return None  # recorded before its response finished: the later copy has the tokens
    ts_ms = epoch_ms(message.get("timestamp"))
    model = message.get("model")
    if not isinstance(tokens, dict) or ts_ms is None or not isinstance(model, str) or not model:
        return "invalid_fields"
    try:
        inp, cached, out, thoughts, tool = (
            count(tokens.get(k)) or 0 for k in ("input", "cached", "output", "thoughts", "tool")
        )
    except ValueError:
        return "invalid_fields"
    if not (inp or out or thoughts or tool):
        return None
    cached = min(cached, inp)
    message_id = message.get("id")
    key = (
        str(message_id) if isinstance(message_id, str) and message_id else event_key(session, ts_ms, inp, out)
    )
    return AgentEvent(
        key=key,
        ts_ms=ts_ms,
        provider=PROVIDER,
        model=model,
        session_id=session,
        project=_project(ctx),
        tokens=Tokens(input=inp - cached + tool, cache_read=cached, output=out + thoughts),
    )


def parse_line(raw: bytes, ctx: FileContext) -> Parsed:
    """Usage from one JSONL record; the metadata line sets the file's session."""
    line = _decode(raw)
    if isinstance(line, str):
        return line  # type: ignore[return-value]
    if not isinstance(line, dict):
        return "malformed"
    update = line.get("$set")
    meta = update if isinstance(update, dict) else line if "type" not in line else {}
    if isinstance(meta.get("sessionId"), str):
        ctx.state["session"] = meta["sessionId"]
        return None
    if line.get("type") != "gemini":
        return None
    found = _event(line, ctx, str(ctx.state.get("session") or file_stem(ctx.path)))
    if found is None or isinstance(found, str):
        return found
    return [found]


def parse_document(raw: bytes, ctx: FileContext) -> Parsed:
    """Usage from a legacy whole-session ``.json`` file; one bad message is skipped, not the file."""
    doc = _decode(raw)
    if isinstance(doc, str):
        return doc  # type: ignore[return-value]
    if not isinstance(doc, dict) or not isinstance(doc.get("messages"), list):
        return None  # another JSON file under tmp/ (settings, logs.json...): not a chat
    session = str(doc.get("sessionId") or file_stem(ctx.path))
    found: list[AgentEvent | SkipReason] = []
    for message in doc["messages"]:
        if isinstance(message, dict) and message.get("type") == "gemini":
            event = _event(message, ctx, session)
            if event is not None:
                found.append(event)  # a reason when the message is unusable: counted as skipped
    return found


LOG = AgentLog(
    agent=AGENT,
    label="Gemini CLI",
    source=SOURCE,
    roots=roots,
    line_suffixes=(".jsonl",),
    parse_line=parse_line,
    document_suffixes=(".json",),
    parse_document=parse_document,
)
