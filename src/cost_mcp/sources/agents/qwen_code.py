"""Qwen Code: chat recordings under ``<runtime dir>/projects/<project id>/chats/<session id>.jsonl``.

Facts and sources are in ``docs/agent-formats.md``. Qwen Code (a Gemini CLI fork) appends one JSON
record per line (``ChatRecordingService.appendRecord``) and never rewrites a line: ``user``,
``assistant``, ``tool_result`` and ``system`` records, each with its own ``uuid``, the session's
``sessionId``, an ISO ``timestamp`` and the ``cwd`` Qwen Code ran in. An ``assistant`` record of a
model call holds the call's ``model`` and its ``usageMetadata``: the Gemini API's own counts
(``promptTokenCount``, ``candidatesTokenCount``, ``cachedContentTokenCount``,
``thoughtsTokenCount``, ``toolUsePromptTokenCount``, ``totalTokenCount``) whichever API served it.
Early versions wrote Gemini CLI's short names (``input``, ``output``, ``cached``, ``thoughts``,
``tool``, ``total``) for the same counts; both are read.

Reasoning: Qwen Code's OpenAI-compatible converter (its usual path: Qwen OAuth, DashScope, OpenAI,
OpenRouter...) writes ``candidatesTokenCount`` = ``completion_tokens``, which already includes
``thoughtsTokenCount`` = ``reasoning_tokens``; the Gemini API counts thoughts apart. The record's
``totalTokenCount`` says which: thoughts count once, inside the candidates unless the total adds
them on top (:func:`_thoughts_apart`). The token kinds are Gemini CLI's otherwise
(:func:`gemini_cli.ledger_tokens`).

A call counts once by its ``uuid``: ``/branch`` copies a session's records into a new session
file with their uuids and a ``forkedFrom`` (such a copy is a replay: the original's session wins).
The project is the record's ``cwd`` (a path, as every other agent's calls name it), else the
project folder's name.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from cost_mcp.agent_folders import AgentFolderPaths
from cost_mcp.sources.agents.gemini_cli import ledger_tokens
from cost_mcp.sources.agents.scanner import (
    AgentEvent,
    AgentLog,
    FileContext,
    Parsed,
    count,
    epoch_ms,
    file_stem,
    provider_of,
)

AGENT = "qwen-code"
SOURCE = "qwen_code"
UNKNOWN_MODEL = "unknown"
CHATS = "chats"

_NAMES = (
    # (prompt, cached, candidates, thoughts, tool, total): the API's names, then the early short ones.
    (
        "promptTokenCount",
        "cachedContentTokenCount",
        "candidatesTokenCount",
        "thoughtsTokenCount",
        "toolUsePromptTokenCount",
        "totalTokenCount",
    ),
    ("input", "cached", "output", "thoughts", "tool", "total"),
)


def roots(settings: AgentFolderPaths) -> list[Path]:
    """``<QWEN_RUNTIME_DIR, else QWEN_HOME, else ~/.qwen>/projects``."""
    return [settings.qwen_runtime_path() / "projects"]


def accept(path: str) -> bool:
    """Chat recordings only: ``<project>/chats/**/*.jsonl`` (other JSONL files of Qwen Code's project
    folders are not chats)."""
    return CHATS in Path(path).parts[:-1]


def provider(model: str) -> str:
    """Who serves the model, from its family (the record does not say): ``qwen*`` is Alibaba Cloud's
    (Model Studio / DashScope, Qwen OAuth), the others as :func:`scanner.provider_of` knows them."""
    return provider_of(model) or ("alibaba" if model.lower().startswith("qwen") else "")


def _thoughts_apart(prompt: int, candidates: int, thoughts: int, tool: int, total: int | None) -> bool:
    """Whether the thoughts are outside the candidates (the Gemini API's counts): only when the
    record's total adds them on top; an OpenAI-style total (prompt + completion) or none at all is
    Qwen Code's usual OpenAI-compatible path, where the completion includes the reasoning."""
    return bool(thoughts) and total is not None and total == prompt + candidates + thoughts + tool


def _project(record: dict[str, object], ctx: FileContext) -> str:
    cwd = record.get("cwd")
    if isinstance(cwd, str) and cwd.strip():
        return cwd
    parts = Path(ctx.path).relative_to(ctx.root).parts
    return parts[0] if len(parts) > 1 else ""


def parse_line(raw: bytes, ctx: FileContext) -> Parsed:
    """The model call an ``assistant`` record with ``usageMetadata`` holds; other records hold none."""
    try:
        record = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        return "truncated" if "truncated" in str(exc) else "malformed"
    if not isinstance(record, dict):
        return "malformed"
    if record.get("type") != "assistant" or record.get("usageMetadata") is None:
        return None  # an assistant turn recorded without usage (aborted) is no billed call we know of
    usage = record["usageMetadata"]
    ts_ms = epoch_ms(record.get("timestamp"))
    uuid = record.get("uuid")
    model = record.get("model", UNKNOWN_MODEL)
    if not isinstance(usage, dict) or ts_ms is None or not isinstance(uuid, str) or not uuid:
        return "invalid_fields"
    if not isinstance(model, str):
        return "invalid_fields"
    names = next((n for n in _NAMES if any(k in usage for k in n)), _NAMES[0])
    try:
        prompt, cached, candidates, thoughts, tool = (count(usage.get(k)) or 0 for k in names[:5])
        total = count(usage.get(names[5])) or None
        tokens = ledger_tokens(
            prompt,
            cached,
            candidates,
            thoughts,
            tool,
            thoughts_in_candidates=not _thoughts_apart(prompt, candidates, thoughts, tool, total),
        )
    except ValueError:
        return "invalid_fields"
    if tokens is None:
        return None
    session = record.get("sessionId")
    model = model or UNKNOWN_MODEL
    return [
        AgentEvent(
            key=uuid,
            ts_ms=ts_ms,
            provider=provider(model),
            model=model,
            session_id=session if isinstance(session, str) and session else file_stem(ctx.path),
            project=_project(record, ctx),
            tokens=tokens,
            replayed=isinstance(record.get("forkedFrom"), dict),
        )
    ]


LOG = AgentLog(
    agent=AGENT,
    label="Qwen Code",
    source=SOURCE,
    roots=roots,
    line_suffixes=(".jsonl",),
    parse_line=parse_line,
    accept=accept,
)
