"""Cline and its forks Roo Code and Kilo Code: each task's ``ui_messages.json``.

Facts and sources are in ``docs/agent-formats.md`` (cline/cline at 21cb8d25: ``apps/vscode/src/
core/storage/disk.ts``, ``shared/ExtensionMessage.ts``, ``shared/messages/metrics.ts``,
``core/context/context-tracking/``, and the classic ``src/core/task/{index,utils}.ts`` at
791d2389^; RooCodeInc/Roo-Code at cb836567: ``src/core/task/Task.ts``, ``src/shared/cost.ts``,
``packages/types/src/{message,history}.ts``, ``src/core/environment/getEnvironmentDetails.ts``).

The three extensions keep one folder per task, ``<VS Code user folder>/globalStorage/<extension
id>/tasks/<task id>/``, with ``ui_messages.json`` (the chat, a JSON array rewritten whole on every
change), ``api_conversation_history.json`` and, in Cline, ``task_metadata.json``. A model call is a
``say: "api_req_started"`` message whose ``text`` is itself JSON: ``{tokensIn, tokensOut,
cacheWrites, cacheReads, cost, cancelReason?, ...}``. The message is written as a placeholder before
the request and rewritten in place (same ``ts``) as tokens arrive, when the stream is cancelled or
fails, and when it is retried, so a call is named by its task and ``ts`` and its largest copy wins.

The model is not on the message in older versions: Cline's newer messages carry ``modelInfo``,
``task_metadata.json`` lists ``model_usage`` (each model switch, with its ``ts``), and Roo Code and
Kilo Code write ``<model>...</model>`` into the environment details of each request they send.

Cline 4.x (the SDK-based CLI and extension; cline/cline at 21cb8d25: ``sdk/packages/core/docs/
messages-contract-v1.md``, ``sdk/packages/agents/src/agent-runtime.ts``, ``sdk/packages/core/src/
services/{session-data,session-artifacts}.ts``, ``apps/vscode/src/sdk/{legacy-task-handling,
sdk-task-resume}.ts``, ``apps/cli/src/runtime/interactive/session-runtime.ts``) keeps each session
in ``${CLINE_DATA_DIR:-${CLINE_DIR:-~/.cline}/data}/sessions/<session id>/<session id>.messages.json``
(its subagents' as ``<agent id>.messages.json`` beside it): ``{version: 1, sessionId, messages:
[...]}``, rewritten whole. Each model call is one assistant message with a
stable ``id``, ``ts``, ``modelInfo: {id, provider}`` and ``metrics: {inputTokens, outputTokens,
cacheReadTokens, cacheWriteTokens, cost}``, the usage of that one call, ``inputTokens`` being the
whole prompt (cache reads and writes included). A fork copies the messages, ids and metrics alike,
into a new session, so a call is named by its message id. A legacy task resumed in 4.x keeps its id
and gets its old API history as the new session's first messages, the old task's *totals* stamped on
the last assistant one and a user message carrying ``LEGACY_RESUME_WARNING`` after them: those calls
are counted from the old task's folder, so messages up to that warning are not counted again.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Annotated, TypeVar

import msgspec

from cost_mcp.agent_folders import AgentFolderPaths
from cost_mcp.money import to_nanos
from cost_mcp.pricing import Tokens
from cost_mcp.sources import logfiles
from cost_mcp.sources.agents.scanner import (
    MAX_DOCUMENT_BYTES,
    AgentEvent,
    AgentLog,
    FileContext,
    LineParser,
    Parsed,
    SkipReason,
    document_log,
    gateway_pricing,
)
from cost_mcp.tokens import MAX_CALL_TOKENS

MAX_CALL_COST = Decimal(100_000)
"""A logged ``cost`` above this (USD, one call) is not real: skipped as invalid, as Claude Code's."""
MAX_ID_CHARS = 256
MAX_PROVIDER_CHARS = 64
"""A provider id is a short slug: a longer logged one is cut, not stored and grouped whole."""
MAX_TS_MS = 32_503_680_000_000  # 3000-01-01: later stamps are not real calls
UI_MESSAGES = "ui_messages.json"
SESSION_MESSAGES = ".messages.json"
"""How a Cline 4.x session's messages file ends (``<session or agent id>.messages.json``)."""
LEGACY_RESUME_WARNING = b"this is a legacy conversation, which means tool names may have changed"
"""Part of the user message Cline 4.x appends after a resumed legacy task's imported history."""

_T = TypeVar("_T")

Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_CALL_TOKENS)]


class _ModelInfo(msgspec.Struct):
    modelId: str | None = None
    providerId: str | None = None


class _Message(msgspec.Struct):
    """A ``ClineMessage``: only the fields a call needs (the rest is skipped unbuilt)."""

    ts: int | None = None
    type: str | None = None
    say: str | None = None
    text: str | None = None
    modelInfo: _ModelInfo | None = None


class _ReqInfo(msgspec.Struct):
    """``ClineApiReqInfo``, the JSON in an ``api_req_started`` message's ``text``."""

    tokensIn: Count | None = None
    tokensOut: Count | None = None
    cacheWrites: Count | None = None
    cacheReads: Count | None = None
    # Decimal from the number's own text: never a binary float on money.
    cost: Decimal | None = None


class _ModelUse(msgspec.Struct):
    ts: int | None = None
    model_id: str | None = None
    model_provider_id: str | None = None


class _Metadata(msgspec.Struct):
    model_usage: list[_ModelUse] | None = None


class _Block(msgspec.Struct):
    type: str | None = None
    text: str | None = None


class _ApiMessage(msgspec.Struct):
    role: str | None = None
    ts: int | None = None
    content: str | list[_Block] | None = None


class _HistoryItem(msgspec.Struct):
    workspace: str | None = None


@dataclass(frozen=True)
class Extension:
    """One Cline-family extension: its ledger names and its VS Code extension id."""

    agent: str
    label: str
    source: str
    extension_id: str
    """Its folder under ``globalStorage`` (VS Code lower-cases the publisher.name id)."""
    tokens_in_whole: bool
    """Whether ``tokensIn`` is the whole prompt, cache reads and writes included (Roo Code since
    its #8954, Oct 2025, and Kilo Code, its fork) rather than the uncached part (Cline)."""


CLINE = Extension("cline", "Cline", "cline", "saoudrizwan.claude-dev", tokens_in_whole=False)
ROO_CODE = Extension("roo-code", "Roo Code", "roo_code", "rooveterinaryinc.roo-cline", tokens_in_whole=True)
KILO_CODE = Extension("kilo-code", "Kilo Code", "kilo_code", "kilocode.kilo-code", tokens_in_whole=True)

PROVIDER_IDS: dict[str, str] = {
    "anthropic": "anthropic",
    "bedrock": "aws",
    "vertex": "google",
    "gemini": "google",
    "openai-native": "openai",
    "openai-codex": "openai",
    "openrouter": "openrouter",
    "deepseek": "deepseek",
    "mistral": "mistral",
    "groq": "groq",
    "together": "together",
    "fireworks": "fireworks",
    "cerebras": "cerebras",
    "xai": "x-ai",
    "moonshot": "moonshotai",
    "zai": "zai",
    "minimax": "minimax",
}
"""The extensions' ``apiProvider`` ids whose pricing provider is known, as genai-prices names it."""

GATEWAYS = {
    gateway: gateway
    for gateway in (
        "",
        "cline",
        "kilocode",
        "roo",
        "requesty",
        "litellm",
        "vercel-ai-gateway",
        "unbound",
        "glama",
    )
} | {"openai": "openai-compatible"}
"""Provider ids that say where a call went through, not whose model it is: the model id tells
(``anthropic/claude-sonnet-4.5`` on Cline's own gateway, or a model's family); else the call keeps
the gateway's name. ``openai`` is Cline's "OpenAI Compatible" (any base URL, a local server's too),
named so, never as OpenAI's; ``openai-native`` is OpenAI itself."""

_provider = gateway_pricing(PROVIDER_IDS, GATEWAYS)
"""Our provider id for a call through the extension's provider (:func:`scanner.gateway_pricing`)."""

SKIPPED_PROVIDERS = frozenset({"claude-code"})
"""Cline's "Claude Code" provider runs the ``claude`` CLI, which logs the same calls in Claude
Code's own transcripts: counted there, they would count twice here."""

_MODEL_TAG = re.compile(r"<model>([^<\n]{1,256})</model>")
_CWD = re.compile(r"# Current (?:Working|Workspace) Directory \(([^\n]{1,4096}?)\) Files")


def _roots(ext: Extension) -> Callable[[AgentFolderPaths], list[Path]]:
    def roots(settings: AgentFolderPaths) -> list[Path]:
        found = [user / "globalStorage" / ext.extension_id / "tasks" for user in settings.vscode_user_paths()]
        if ext is CLINE:
            # The Cline CLI (and Cline's standalone host) keeps the same task folders here, and
            # Cline 4.x (CLI and extension alike) its sessions.
            found.append(settings.cline_data_path() / "tasks")
            found.append(settings.cline_sessions_path())
        return found

    return roots


def accept(path: str) -> bool:
    """Only each task's chat (the other JSON files are read beside it when it changes) and each
    Cline 4.x session's messages (not its manifest, ``<id>.json``, nor its compaction state)."""
    name = Path(path).name
    return name == UI_MESSAGES or name.endswith(SESSION_MESSAGES)


@dataclass
class _Task:
    """What the files beside a task's ``ui_messages.json`` say, read once per document."""

    folder: Path
    ctx: FileContext
    """The chat's: its side files are opened as it opens them (:meth:`FileContext.open_beside`)."""
    uses: list[tuple[int, str, str]] = field(default_factory=list)
    """(ts, model, provider id), by ts: Cline's ``model_usage``, else Roo's ``<model>`` tags."""
    logged_after: bool = False
    """Whether each use is stamped just after the call it is for (a request in the API history is
    saved after its ``api_req_started``), not before (a ``model_usage`` entry, saved at a switch)."""
    project: str = ""
    read: bool = False

    def load(self) -> None:
        if self.read:
            return
        self.read = True
        self.uses = _model_usage(self.folder / "task_metadata.json", self.ctx)
        history = _api_history(self.folder / "api_conversation_history.json", self.ctx)
        if not self.uses:
            self.uses = [(ts, model, "") for ts, model, _ in history if model]
            self.logged_after = True
        workspace = _json(self.folder / "history_item.json", _HistoryItem, self.ctx)
        cwd = workspace.workspace if isinstance(workspace, _HistoryItem) else None
        if not cwd:
            cwd = next((c for _, _, c in history if c), None)
        self.project = cwd if cwd and len(cwd) <= 4096 and cwd.isprintable() else ""

    def model_at(self, ts: int) -> tuple[str, str]:
        """The model (and provider id) of the call made at ``ts``: the last switch at or before it
        (else the first); from the API history, the first request at or after it (else the last,
        a retry's: a retried request is not saved again)."""
        self.load()
        if not self.uses:
            return "", ""
        if self.logged_after:
            use = next((u for u in self.uses if u[0] >= ts), self.uses[-1])
            return use[1], use[2]
        current = self.uses[0]
        for use in self.uses:
            if use[0] > ts:
                break
            current = use
        return current[1], current[2]


def _json(path: Path, kind: type[_T], ctx: FileContext) -> _T | None:
    """A side file decoded as ``kind``, or None when it is missing, too big or not that shape, or
    refused by the walk's rule (a link out of the folder, a pipe: counted by ``ctx``)."""
    try:
        with ctx.open_beside(path) as f:
            if os.fstat(f.fileno()).st_size > MAX_DOCUMENT_BYTES:
                return None
            data = f.read(MAX_DOCUMENT_BYTES + 1)
    except OSError:
        return None
    try:
        return msgspec.json.decode(data.removeprefix(logfiles.BOM), type=kind)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        # Nesting deeper than msgspec decodes raised RecursionError past here, and the scanner's
        # guard then dropped the messages beside this file with it: a side file only adds detail.
        return None


def _model_usage(path: Path, ctx: FileContext) -> list[tuple[int, str, str]]:
    meta = _json(path, _Metadata, ctx)
    if meta is None or not meta.model_usage:
        return []
    uses = [
        (u.ts, u.model_id[:MAX_ID_CHARS], (u.model_provider_id or "").strip().lower())
        for u in meta.model_usage
        if isinstance(u.ts, int) and u.model_id
    ]
    return sorted(uses, key=lambda u: u[0])


def _api_history(path: Path, ctx: FileContext) -> list[tuple[int, str, str]]:
    """(ts, model, working folder) of each request whose environment details name them."""
    raw = _json(path, list[msgspec.Raw], ctx)
    found: list[tuple[int, str, str]] = []
    for item in raw or ():
        data = bytes(item)
        if b"<model>" not in data and b"Directory (" not in data:
            continue
        try:
            message = msgspec.json.decode(data, type=_ApiMessage)
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue
        if message.role != "user" or not isinstance(message.ts, int):
            continue
        blocks = message.content if isinstance(message.content, list) else [_Block(text=message.content)]
        model = cwd = ""
        for block in blocks:
            text = block.text or ""
            model = model or next(iter(_MODEL_TAG.findall(text)), "").strip()
            cwd = cwd or next(iter(_CWD.findall(text)), "").strip()
        if model or cwd:
            found.append((message.ts, model, cwd))
    # Only requests that name a model set it; a cwd alone still tells the project.
    return sorted(found, key=lambda f: f[0])


def _event(ext: Extension, message: _Message, task: _Task, task_id: str) -> AgentEvent | SkipReason | None:
    if message.type != "say" or message.say != "api_req_started" or not message.text:
        return None
    ts = message.ts
    if not isinstance(ts, int) or isinstance(ts, bool) or not 0 < ts < MAX_TS_MS:
        return "invalid_fields"
    try:
        info = msgspec.json.decode(message.text, type=_ReqInfo)
    except msgspec.ValidationError:
        return "invalid_fields"  # a negative, fractional or absurd count, a cost that is not a number
    except msgspec.DecodeError:
        return "malformed"
    tokens_in, out = info.tokensIn or 0, info.tokensOut or 0
    reads, writes = info.cacheReads or 0, info.cacheWrites or 0
    if not (tokens_in or out or reads or writes):
        return None  # the placeholder written before the request, or a request that failed at once
    cost = info.cost
    if cost is not None and not (cost.is_finite() and 0 <= cost <= MAX_CALL_COST):
        return "invalid_fields"
    if message.modelInfo is not None and message.modelInfo.modelId:
        model, provider_id = message.modelInfo.modelId, (message.modelInfo.providerId or "").strip().lower()
    else:
        model, provider_id = task.model_at(ts)
    if provider_id in SKIPPED_PROVIDERS:
        return None
    model, provider_id = model[:MAX_ID_CHARS], provider_id[:MAX_PROVIDER_CHARS]
    # Cline logs the uncached input (its "OpenAI Compatible" handler: the prompt, cache reads
    # included); Roo Code and Kilo Code the whole prompt. A count smaller than what it would
    # include is an older Roo Code's uncached Anthropic-protocol input.
    included = reads + writes if ext.tokens_in_whole else reads if provider_id == "openai" else 0
    uncached = tokens_in - included if included and tokens_in >= included else tokens_in
    task.load()
    return AgentEvent(
        key=f"{task_id}:{ts}",
        ts_ms=ts,
        provider=_provider(provider_id, model),
        model=model,
        session_id=task_id,
        project=task.project,
        tokens=Tokens(input=uncached, cache_read=reads, cache_write_5m=writes, output=out),
        # A zero or missing cost is what the extensions log when they do not know the price (a
        # local or custom model): our own price, or "unpriced", says more than $0.
        reported_cost_nanos=to_nanos(cost) if cost else None,
    )


class _Metrics(msgspec.Struct):
    inputTokens: Count | None = None
    outputTokens: Count | None = None
    cacheReadTokens: Count | None = None
    cacheWriteTokens: Count | None = None
    cost: Decimal | None = None


class _SessionModel(msgspec.Struct):
    id: str | None = None
    provider: str | None = None


class _SessionMessage(msgspec.Struct):
    """A stored message of a Cline 4.x session: only what a call needs."""

    id: str | None = None
    role: str | None = None
    ts: int | None = None
    modelInfo: _SessionModel | None = None
    metrics: _Metrics | None = None


class _Manifest(msgspec.Struct):
    """``<session id>.json`` beside the messages: where the session ran."""

    cwd: str | None = None
    workspace_root: str | None = None


def _session_project(folder: Path, ctx: FileContext) -> str:
    manifest = _json(folder / f"{folder.name}.json", _Manifest, ctx)
    cwd = (manifest.workspace_root or manifest.cwd) if isinstance(manifest, _Manifest) else None
    return cwd if cwd and len(cwd) <= 4096 and cwd.isprintable() else ""


def _session_event(
    message: _SessionMessage, where: str, session_id: str, project: str
) -> AgentEvent | SkipReason | None:
    metrics = message.metrics
    if metrics is None:
        return None  # an earlier message of a turn, or the user's
    ts = message.ts
    if not isinstance(ts, int) or isinstance(ts, bool) or not 0 < ts < MAX_TS_MS:
        return "invalid_fields"
    tokens_in, out = metrics.inputTokens or 0, metrics.outputTokens or 0
    reads, writes = metrics.cacheReadTokens or 0, metrics.cacheWriteTokens or 0
    if not (tokens_in or out or reads or writes):
        return None
    cost = metrics.cost
    if cost is not None and not (cost.is_finite() and 0 <= cost <= MAX_CALL_COST):
        return "invalid_fields"
    info = message.modelInfo
    model = ((info.id if info else None) or "")[:MAX_ID_CHARS]
    provider_id = ((info.provider if info else None) or "").strip().lower()
    if provider_id in SKIPPED_PROVIDERS:
        return None
    # "unknown" is what Cline stamps when it does not know the provider: the model tells.
    provider_id = "" if provider_id == "unknown" else provider_id[:MAX_PROVIDER_CHARS]
    # inputTokens is the whole prompt; an older count smaller than its cache parts is kept whole.
    included = reads + writes
    uncached = tokens_in - included if tokens_in >= included else tokens_in
    # A fork copies messages with their ids: the id names the call wherever it was copied.
    key = f"msg:{message.id[:MAX_ID_CHARS]}" if message.id else f"{where}:{ts}"
    return AgentEvent(
        key=key,
        ts_ms=ts,
        provider=_provider(provider_id, model),
        model=model,
        session_id=session_id,
        project=project,
        tokens=Tokens(input=uncached, cache_read=reads, cache_write_5m=writes, output=out),
        reported_cost_nanos=to_nanos(cost) if cost else None,
    )


class _SessionFile(msgspec.Struct):
    messages: list[msgspec.Raw] | None = None


def parse_session(raw: bytes, ctx: FileContext) -> Parsed:
    """One Cline 4.x ``*.messages.json``: each assistant message's metrics, keyed by message id."""
    try:
        doc = msgspec.json.decode(raw, type=_SessionFile)
    except msgspec.ValidationError:
        return "malformed"
    except msgspec.DecodeError as exc:
        return "truncated" if "truncated" in str(exc) else "malformed"
    items = [bytes(item) for item in doc.messages or ()]
    # Messages up to the legacy-resume warning are an old task's history, its totals on the last:
    # counted from that task's own folder.
    start = 0
    for index, data in enumerate(items):
        if LEGACY_RESUME_WARNING in data:
            start = index + 1
    folder = Path(ctx.path).parent
    session_id = folder.name[:MAX_ID_CHARS]
    where = f"{session_id}/{Path(ctx.path).name[: -len(SESSION_MESSAGES)]}"[:MAX_ID_CHARS]
    project: str | None = None
    found: list[AgentEvent | SkipReason] = []
    for data in items[start:]:
        if b'"metrics"' not in data:
            continue
        try:
            message = msgspec.json.decode(data, type=_SessionMessage)
        except msgspec.ValidationError:
            found.append("invalid_fields")
            continue
        if message.role != "assistant":
            continue
        if project is None:
            project = _session_project(folder, ctx)
        event = _session_event(message, where, session_id, project)
        if event is not None:
            found.append(event)
    return found


def _parser(ext: Extension) -> LineParser:
    def parse_document(raw: bytes, ctx: FileContext) -> Parsed:
        """One task's ``ui_messages.json``: every call in it, each keyed by task and ``ts``."""
        if ext is CLINE and ctx.path.endswith(SESSION_MESSAGES):
            return parse_session(raw, ctx)
        try:
            items = msgspec.json.decode(raw, type=list[msgspec.Raw])
        except msgspec.ValidationError:
            return "malformed"  # JSON, but not the array of messages
        except msgspec.DecodeError as exc:
            return "truncated" if "truncated" in str(exc) else "malformed"
        folder = Path(ctx.path).parent
        task_id = folder.name[:MAX_ID_CHARS]
        task = _Task(folder, ctx)
        found: list[AgentEvent | SkipReason] = []
        for item in items:
            data = bytes(item)
            if b"api_req_started" not in data:
                continue  # most messages are chat and tool output: not decoded at all
            try:
                message = msgspec.json.decode(data, type=_Message)
            except msgspec.ValidationError:
                found.append("invalid_fields")
                continue
            event = _event(ext, message, task, task_id)
            if event is not None:
                found.append(event)
        return found

    return parse_document


def _log(ext: Extension) -> AgentLog:
    return document_log(
        ext.agent, ext.label, ext.source, _roots(ext), _parser(ext), accept if ext is CLINE else _accept_tasks
    )


def _accept_tasks(path: str) -> bool:
    return Path(path).name == UI_MESSAGES


LOGS: tuple[AgentLog, ...] = (_log(CLINE), _log(ROO_CODE), _log(KILO_CODE))
"""One log per extension, so each is its own agent in the ledger (``cline``, ``roo-code``, ``kilo-code``)."""
