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
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Annotated, TypeVar

import msgspec

from cost_mcp.config import Settings
from cost_mcp.money import to_nanos
from cost_mcp.pricing import Tokens, claude_provider, provider_models
from cost_mcp.sources.agents.scanner import (
    MAX_DOCUMENT_BYTES,
    AgentEvent,
    AgentLog,
    FileContext,
    LineParser,
    Parsed,
    SkipReason,
    provider_of,
)
from cost_mcp.tokens import MAX_CALL_TOKENS

MAX_CALL_COST = Decimal(100_000)
"""A logged ``cost`` above this (USD, one call) is not real: skipped as invalid, as Claude Code's."""
MAX_ID_CHARS = 256
MAX_PROVIDER_CHARS = 64
"""A provider id is a short slug: a longer logged one is cut, not stored and grouped whole."""
MAX_TS_MS = 32_503_680_000_000  # 3000-01-01: later stamps are not real calls
UI_MESSAGES = "ui_messages.json"

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

GATEWAYS = frozenset(
    {"", "cline", "kilocode", "roo", "requesty", "litellm", "vercel-ai-gateway", "openai", "unbound", "glama"}
)
"""Provider ids that say where a call went through, not whose model it is: the model id tells
(``anthropic/claude-sonnet-4.5`` on Cline's own gateway, or a model's family). ``openai`` is Cline's
"OpenAI Compatible" (any base URL), ``openai-native`` is OpenAI itself."""

SKIPPED_PROVIDERS = frozenset({"claude-code"})
"""Cline's "Claude Code" provider runs the ``claude`` CLI, which logs the same calls in Claude
Code's own transcripts: counted there, they would count twice here."""

_MODEL_TAG = re.compile(r"<model>([^<\n]{1,256})</model>")
_CWD = re.compile(r"# Current (?:Working|Workspace) Directory \(([^\n]{1,4096}?)\) Files")


def _roots(ext: Extension) -> Callable[[Settings], list[Path]]:
    def roots(settings: Settings) -> list[Path]:
        found = [user / "globalStorage" / ext.extension_id / "tasks" for user in settings.vscode_user_paths()]
        if ext is CLINE:
            # The Cline CLI (and Cline's standalone host) keeps the same task folders here.
            found.append(settings.cline_data_path() / "tasks")
        return found

    return roots


def accept(path: str) -> bool:
    """Only each task's chat: the other JSON files are read beside it when it changes."""
    return Path(path).name == UI_MESSAGES


@dataclass
class _Task:
    """What the files beside a task's ``ui_messages.json`` say, read once per document."""

    folder: Path
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
        self.uses = _model_usage(self.folder / "task_metadata.json")
        history = _api_history(self.folder / "api_conversation_history.json")
        if not self.uses:
            self.uses = [(ts, model, "") for ts, model, _ in history if model]
            self.logged_after = True
        workspace = _json(self.folder / "history_item.json", _HistoryItem)
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


def _json(path: Path, kind: type[_T]) -> _T | None:
    """A side file decoded as ``kind``, or None when it is missing, too big or not that shape."""
    try:
        if path.stat().st_size > MAX_DOCUMENT_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    try:
        return msgspec.json.decode(data, type=kind)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def _model_usage(path: Path) -> list[tuple[int, str, str]]:
    meta = _json(path, _Metadata)
    if meta is None or not meta.model_usage:
        return []
    uses = [
        (u.ts, u.model_id[:MAX_ID_CHARS], (u.model_provider_id or "").strip().lower())
        for u in meta.model_usage
        if isinstance(u.ts, int) and u.model_id
    ]
    return sorted(uses, key=lambda u: u[0])


def _api_history(path: Path) -> list[tuple[int, str, str]]:
    """(ts, model, working folder) of each request whose environment details name them."""
    raw = _json(path, list[msgspec.Raw])
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


@functools.lru_cache(maxsize=4096)
def _provider(provider_id: str, model: str) -> str:
    """Our provider id for a call of ``model`` made through the extension's ``provider_id``: the
    mapped id, else (a gateway, or no provider logged) the model's own vendor, else the raw id so
    that an unknown provider is named, and priced as unknown, never guessed."""
    if provider_id in PROVIDER_IDS:
        mapped = PROVIDER_IDS[provider_id]
        return claude_provider(model) if mapped == "anthropic" else mapped
    if provider_id not in GATEWAYS:
        return provider_id
    head, _, rest = model.partition("/")
    if rest:
        # A gateway's "vendor/model" id: the vendor when it is a pricing provider of its own.
        vendor = PROVIDER_IDS.get(head, head)
        return vendor if provider_models(vendor) else provider_of(rest)
    if "claude" in model.lower():
        return claude_provider(model)
    return provider_of(model)


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


def _parser(ext: Extension) -> LineParser:
    def parse_document(raw: bytes, ctx: FileContext) -> Parsed:
        """One task's ``ui_messages.json``: every call in it, each keyed by task and ``ts``."""
        try:
            items = msgspec.json.decode(raw, type=list[msgspec.Raw])
        except msgspec.ValidationError:
            return "malformed"  # JSON, but not the array of messages
        except msgspec.DecodeError as exc:
            return "truncated" if "truncated" in str(exc) else "malformed"
        folder = Path(ctx.path).parent
        task_id = folder.name[:MAX_ID_CHARS]
        task = _Task(folder)
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
    return AgentLog(
        agent=ext.agent,
        label=ext.label,
        source=ext.source,
        roots=_roots(ext),
        line_suffixes=(),
        parse_line=lambda raw, ctx: None,
        document_suffixes=(".json",),
        parse_document=_parser(ext),
        accept=accept,
    )


LOGS: tuple[AgentLog, ...] = (_log(CLINE), _log(ROO_CODE), _log(KILO_CODE))
"""One log per extension, so each is its own agent in the ledger (``cline``, ``roo-code``, ``kilo-code``)."""
