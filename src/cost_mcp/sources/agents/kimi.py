"""Kimi CLI (MoonshotAI/kimi-cli): each session's ``wire.jsonl`` under
``${KIMI_SHARE_DIR:-~/.kimi}/sessions/<md5 of the work folder>/<session id>/``, and each subagent's
under the session's ``subagents/<agent id>/``.

Facts and sources are in ``docs/agent-formats.md``. Every line after the ``{"type": "metadata",
"protocol_version"}`` header is ``{"timestamp": <epoch seconds, float>, "message": {"type",
"payload"}}``; after each model call (a "step") Kimi appends a ``StatusUpdate`` whose payload holds
``token_usage: {input_other, output, input_cache_read, input_cache_creation}`` (kosong's
``TokenUsage``: ``input_other`` excludes the cache reads and writes, ``output`` is all the output)
and ``message_id`` (the provider's id of the response). A subagent's calls are in its own file
(the parent's ``SubagentEvent`` wrappers of them are not read, so each counts once).

The wire names no model. The model is the one Kimi's ``config.toml`` now names as
``default_model`` (its ``models.<name>.model``, priced under its provider's ``type``): a session
run with another model (``--model``, ``/model``) is priced as that one, and with no readable
config the calls are stored under no model, unpriced and named so. Kimi's Gemini provider logs the
whole prompt (cached tokens inside) as ``input_other``: for a ``gemini``/``google_genai``/``vertexai``
provider the cache reads are taken out of it.

A fork (``/fork``) writes the parent's lines up to a turn verbatim into a new session's file, so a
call's key is its own stamp, response id and counts, never the file or session: copies count once,
under the parent's session (the fork's ``state.json`` has ``wire_mtime``, the time it was written,
and the copies are stamped before it).
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

import msgspec

from cost_mcp.agent_folders import AgentFolderPaths
from cost_mcp.files import open_regular_file
from cost_mcp.pricing import Tokens
from cost_mcp.sources.agents.scanner import (
    AgentEvent,
    AgentLog,
    FileContext,
    Parsed,
    count,
    event_key,
    provider_of,
)
from cost_mcp.tokens import MAX_CALL_TOKENS

AGENT = "kimi-cli"
SOURCE = "kimi_cli"
WIRE = "wire.jsonl"
MAX_TS_MS = 32_503_680_000_000  # 3000-01-01: later stamps are not real calls
MAX_CONFIG_BYTES = 4 * 1024 * 1024
PROVIDER_TYPES: dict[str, str] = {
    "kimi": "moonshotai",
    "anthropic": "anthropic",
    "google_genai": "google",
    "gemini": "google",
    "vertexai": "google",
}
"""Kimi's provider ``type``s whose pricing provider is known; OpenAI-compatible ones
(``openai_legacy``, ``openai_responses``: any base URL) are priced by the model's family."""
_PROMPT_INCLUSIVE = frozenset({"google_genai", "gemini", "vertexai"})
_SHARED_KEY = "kimi"


def roots(settings: AgentFolderPaths) -> list[Path]:
    """``<KIMI_SHARE_DIR or ~/.kimi>/sessions``."""
    return [settings.kimi_share_path() / "sessions"]


def accept(path: str) -> bool:
    """Only the wire files (``context.jsonl`` repeats the conversation, with no usage)."""
    return Path(path).name == WIRE


def _share_dir(ctx: FileContext) -> Path:
    return Path(ctx.root).parent


def _read_small(path: Path) -> bytes | None:
    """A small file of Kimi's, or None: never waits on a pipe put in its place."""
    try:
        with open_regular_file(path) as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except OSError:
        return None
    return data if len(data) <= MAX_CONFIG_BYTES else None


def _forked_ms(ctx: FileContext) -> int:
    """When a forked session's file was written (``state.json``'s ``wire_mtime``, which only
    ``fork_session`` sets now, at the fork), in ms; 0 when none is known. The fork's copies of its
    parent's calls are stamped before it."""
    try:
        with ctx.open_beside(Path(ctx.path).parent / "state.json") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
        state = json.loads(raw) if len(raw) <= MAX_CONFIG_BYTES else None
    except (OSError, ValueError, RecursionError):
        return 0
    since = state.get("wire_mtime") if isinstance(state, dict) else None
    if not isinstance(since, int | float) or isinstance(since, bool) or not 0 < since * 1000 < MAX_TS_MS:
        return 0
    return int(since * 1000)


def configured_model(share: Path) -> tuple[str, str]:
    """The model Kimi's ``config.toml`` names as its default and its provider's ``type`` (empty when
    the config cannot tell). Only those fields are read: the file also holds API keys."""
    raw = _read_small(share / "config.toml")
    if raw is None:
        return "", ""
    try:
        config = tomllib.loads(raw.decode())
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return "", ""
    name = config.get("default_model")
    models = config.get("models")
    entry = models.get(name) if isinstance(models, dict) and isinstance(name, str) else None
    if not isinstance(entry, dict) or not isinstance(entry.get("model"), str):
        return "", ""
    providers = config.get("providers")
    provider = providers.get(entry.get("provider")) if isinstance(providers, dict) else None
    kind = provider.get("type") if isinstance(provider, dict) else None
    return entry["model"].strip(), kind if isinstance(kind, str) else ""


def work_dirs(share: Path) -> dict[str, str]:
    """Session folder name -> the work folder it is for, from Kimi's ``kimi.json`` (``WorkDirMeta``:
    the folder is the MD5 of the path, prefixed with the KAOS name when that is not ``local``)."""
    raw = _read_small(share / "kimi.json")
    try:
        meta = json.loads(raw) if raw is not None else None
    except (ValueError, RecursionError):
        # Nested deeper than json decodes: raised past here, on every line of every session (each
        # line asks for the setting), it cost every Kimi call. These side files only add detail.
        return {}
    dirs = meta.get("work_dirs") if isinstance(meta, dict) else None
    found: dict[str, str] = {}
    for wd in dirs if isinstance(dirs, list) else []:
        if isinstance(wd, dict) and isinstance(wd.get("path"), str):
            try:
                digest = hashlib.md5(wd["path"].encode(), usedforsecurity=False).hexdigest()
            except UnicodeEncodeError:
                # A lone surrogate (``"\\ud800"``, or such bytes json reads through): no folder Kimi
                # made. Raised past here, on every line of every session, it cost every Kimi call.
                continue
            kaos = wd.get("kaos", "local")
            found[digest if kaos == "local" else f"{kaos}_{digest}"] = wd["path"]
    return found


@dataclass(frozen=True, slots=True)
class _Setting:
    model: str
    kind: str
    dirs: dict[str, str]


def _setting(ctx: FileContext) -> _Setting:
    """The configured model, provider type and work folders, read once per scan."""
    held = ctx.shared.get(_SHARED_KEY)
    if not isinstance(held, _Setting):
        share = _share_dir(ctx)
        held = _Setting(*configured_model(share), work_dirs(share))
        ctx.shared[_SHARED_KEY] = held
    return held


def _where(ctx: FileContext) -> tuple[str, str]:
    """The session id and the work-folder key of a wire file (a subagent's is its session's)."""
    try:
        parts = Path(ctx.path).relative_to(ctx.root).parts
    except ValueError:
        parts = ()
    # <work dir>/<session>/wire.jsonl, or <work dir>/<session>/subagents/<agent>/wire.jsonl
    return (parts[1] if len(parts) >= 3 else Path(ctx.path).parent.name), parts[0] if parts else ""


def provider_for(kind: str, model: str) -> str:
    """Our provider id for a model served through a Kimi provider of ``type`` ``kind``."""
    return (
        PROVIDER_TYPES.get(kind) or provider_of(model) or ("moonshotai" if model.startswith("kimi") else "")
    )


def parse_line(raw: bytes, ctx: FileContext) -> Parsed:
    """One wire record: a ``StatusUpdate`` with ``token_usage`` is one call."""
    if b'"token_usage"' not in raw:
        return None
    try:
        record = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        return "truncated" if "truncated" in str(exc) else "malformed"
    if not isinstance(record, dict):
        return "malformed"
    message = record.get("message")
    if not isinstance(message, dict) or message.get("type") != "StatusUpdate":
        return None  # a subagent's update wrapped in the parent's wire: counted from its own file
    payload = message.get("payload")
    usage = payload.get("token_usage") if isinstance(payload, dict) else None
    if usage is None:
        return None
    stamp = record.get("timestamp")
    if not isinstance(usage, dict) or not isinstance(stamp, int | float) or isinstance(stamp, bool):
        return "invalid_fields"
    if not 0 < stamp * 1000 < MAX_TS_MS:
        return "invalid_fields"
    ts_ms = int(stamp * 1000)
    try:
        other, out, read, write = (
            count(usage.get(k)) or 0
            for k in ("input_other", "output", "input_cache_read", "input_cache_creation")
        )
    except ValueError:
        return "invalid_fields"
    if max(other, out, read, write) > MAX_CALL_TOKENS:
        return "invalid_fields"
    if not (other or out or read or write):
        return None
    setting = _setting(ctx)
    model, kind, dirs = setting.model, setting.kind, setting.dirs
    uncached = other - read if kind in _PROMPT_INCLUSIVE and other >= read else other
    assert isinstance(payload, dict)
    response = payload.get("message_id")
    session, folder = _where(ctx)
    if "forked_ms" not in ctx.state:  # once per file, kept with its offset
        ctx.state["forked_ms"] = _forked_ms(ctx)
    return [
        AgentEvent(
            # The stamp as logged (its repr), the response id and the counts: a fork's copy of the
            # line gives the same key.
            key=event_key(
                AGENT, repr(stamp), response if isinstance(response, str) else "", other, out, read, write
            ),
            ts_ms=ts_ms,
            provider=provider_for(kind, model),
            model=model,
            session_id=session,
            project=dirs.get(folder, ""),
            tokens=Tokens(input=uncached, output=out, cache_read=read, cache_write_5m=write),
            # A fork's copy of its parent's call: the parent's session keeps the call.
            replayed=ts_ms < int(str(ctx.state.get("forked_ms") or 0)),
        )
    ]


LOG = AgentLog(
    agent=AGENT,
    label="Kimi CLI",
    source=SOURCE,
    roots=roots,
    line_suffixes=(".jsonl",),
    parse_line=parse_line,
    accept=accept,
)
