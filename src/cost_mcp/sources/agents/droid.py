"""Factory Droid (``droid``): each session's running token totals in ``<session>.settings.json``.

Facts and sources are in ``docs/agent-formats.md``; Droid itself is closed source, so they rest on
Factory's own TypeScript SDK (its mirror of Droid's session settings schema) and ccusage's
``droid`` adapter. Droid logs no call: ``~/.factory/sessions/<folder of the work folder>/`` holds
per session a transcript (``<id>.jsonl``) and a settings document (``<id>.settings.json``) that
Droid rewrites whole as the session goes, with ``tokenUsage``: ``{inputTokens, outputTokens,
cacheCreationTokens, cacheReadTokens, thinkingTokens}``, the session's own totals (its
``inclusiveTokenUsage`` adds its sub-agents' sessions, which have files of their own: not read).

A session is stored as rows that only grow (:func:`scanner.grown_rows`, as Goose's and Hermes's
totals are), so reading its file again, in part or whole, counts nothing twice, and one copy of a
session in two folders (an archive, a session moved into its project's folder) counts once: the
keys are the session's id. Every row is dated when the session locked its provider
(``providerLockTimestamp``: its first call), else at the first time its transcript gives; never at
the file's time, which moves at each rewrite and would move a stored row out of the day it was
counted in. Which kinds Droid's counts hold is not known from its code: ``inputTokens`` is taken
as apart from the cache counts and ``thinkingTokens`` as apart from ``outputTokens`` (billed as
output), as ccusage takes them: the most the session can have cost, said in every answer
(:data:`PRICE_NOTE`).
"""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

from cost_mcp.agent_folders import AgentFolderPaths
from cost_mcp.pricing import Tokens
from cost_mcp.sources.agents.scanner import (
    AgentEvent,
    FileContext,
    Parsed,
    count,
    document_log,
    epoch_ms,
    gateway_pricing,
    grown_rows,
    provider_of,
)

AGENT = "droid"
SOURCE = "droid"
SETTINGS_SUFFIX = ".settings.json"
TRANSCRIPT_HEAD_BYTES = 64 * 1024
"""How much of a session's transcript is read for its folder and first time (its opening lines)."""
USAGE_KEYS = ("inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens", "thinkingTokens")
"""``tokenUsage``'s counts (Droid's ``TokenUsageSchema``), in the order the reader takes them."""
MAX_SESSION_TOKENS = 10**12
"""A count larger than this (a trillion tokens of one kind) is no session's: the file is corrupt."""
PRICE_NOTE = (
    "Factory Droid logs session totals, not calls: input taken as apart from cache, thinking as "
    "apart from output (the most they can have cost)"
)
"""Said in every answer that counts a Droid session (see the module docstring)."""

PROVIDERS: dict[str, str] = {
    "anthropic": "anthropic",
    "openai": "openai",
    "google": "google",
    "xai": "x-ai",
    "bedrock-converse": "aws",
}
"""Droid's ``ModelProvider`` ids (its ``providerLock``) of vendors, as genai-prices names them."""
GATEWAYS: dict[str, str] = {
    "factory": "factory",
    "generic-chat-completion-api": "generic-chat-completion-api",
}
"""``ModelProvider`` ids that name no vendor (Factory's own routing, any OpenAI-compatible
endpoint a custom model names): the model's family tells whose it is, else the id stays named
and the session is unpriced, never priced as another vendor's."""
pricing_provider = gateway_pricing(PROVIDERS, GATEWAYS)

_DECODER = msgspec.json.Decoder()
_TIMESTAMP = re.compile(rb'"timestamp"\s*:\s*"([^"\\]{1,64})"')
"""A message's time in the transcript: a key, never text in a message (a quote in a JSON string is
escaped), so found in the transcript's bytes without decoding a line that may be megabytes long."""
_MODEL_LINE = re.compile(rb"Model:[ \t]*([^\"\\\[\r\n]{1,200})")
"""The model Droid names in the reminder its transcript opens with ("Model: Claude Opus 4.5 Thinking
[Anthropic]"): read, as ccusage reads it, only for a session whose settings name none. It ends at
its bracketed notes, or at the JSON string's quote or escaped newline."""
_BRACKETS = re.compile(r"\[[^\]]*\]")
_CUSTOM_INDEX = re.compile(r"-\d+$")
_DASHES = re.compile(r"[\s-]+")


def roots(settings: AgentFolderPaths) -> list[Path]:
    """Droid's session folders (:meth:`AgentFolderPaths.droid_sessions_paths`)."""
    return settings.droid_sessions_paths()


def accept(path: str) -> bool:
    """A session's settings document (its transcript is read beside it, when needed)."""
    return Path(path).name.endswith(SETTINGS_SUFFIX)


def model_name(raw: str) -> str:
    """Droid's model as priced: its id (``claude-sonnet-4-5-20250929``), or a custom model's name
    without ``custom:``, its bracketed notes (``[Anthropic]``, ``[1m]``) and its index in the
    user's list (``custom:Claude-Opus-4.5-[Anthropic]-0`` -> ``claude-opus-4.5``)."""
    name = raw.strip()
    custom = name.startswith("custom:")
    name = _BRACKETS.sub("", name.removeprefix("custom:")).strip().strip("-")
    if custom:
        name = _CUSTOM_INDEX.sub("", name).strip("-")
    return _DASHES.sub("-", name).lower()


def _transcript(ctx: FileContext, session: str) -> tuple[str, int | None, str]:
    """The work folder (its ``session_start`` line's ``cwd``), the first message's time and the
    model it names (:data:`_MODEL_LINE`, as Droid writes it) of the session's transcript, from its
    opening bytes; ``("", None, "")`` for what it does not say."""
    try:
        with ctx.open_beside(Path(ctx.path).with_name(f"{session}.jsonl")) as f:
            head = f.read(TRANSCRIPT_HEAD_BYTES)
    except OSError:
        return "", None, ""  # no transcript (yet), or one the walk's rule refuses
    cwd = ""
    first = head.split(b"\n", 1)[0]
    if b'"session_start"' in first:
        try:
            start = _DECODER.decode(first)
        except (msgspec.DecodeError, RecursionError):
            # Nested deeper than msgspec decodes: raised past here, it cost the session's calls.
            start = None
        found = start.get("cwd") if isinstance(start, dict) else None
        cwd = found if isinstance(found, str) else ""
    stamp = _TIMESTAMP.search(head)
    named = _MODEL_LINE.search(head)
    return (
        cwd,
        epoch_ms(stamp.group(1).decode("ascii", "replace")) if stamp else None,
        named.group(1).decode("utf-8", "replace").strip() if named else "",
    )


def parse_document(raw: bytes, ctx: FileContext) -> Parsed:
    """One session's settings document: its totals as rows that only grow (none before its first
    call); a document that is not JSON, or whose totals or model are unusable, is counted."""
    try:
        settings = _DECODER.decode(raw)
    except msgspec.DecodeError as exc:
        return "truncated" if "truncated" in str(exc) else "malformed"
    except RecursionError:
        return "malformed"
    if not isinstance(settings, dict):
        return "invalid_fields"
    usage = settings.get("tokenUsage")
    if usage is None:
        return None  # a session that has made no call yet
    if not isinstance(usage, dict):
        return "invalid_fields"
    try:
        inp, out, write, read, thinking = (count(usage.get(k)) or 0 for k in USAGE_KEYS)
    except ValueError:
        return "invalid_fields"
    if max(inp, out, write, read, thinking) > MAX_SESSION_TOKENS:
        return "invalid_fields"
    if not (inp or out or write or read or thinking):
        return None
    session = Path(ctx.path).name.removesuffix(SETTINGS_SUFFIX)
    found_model, lock = settings.get("model"), settings.get("providerLock")
    if not session or (found_model is not None and not isinstance(found_model, str)):
        return "invalid_fields"
    cwd, first, named = _transcript(ctx, session)
    # Settings that name no model (an empty or absent ``model``) left the session unpriced, where
    # its transcript names it.
    model = model_name(found_model if found_model and found_model.strip() else named)
    logged = lock.strip().lower() if isinstance(lock, str) else ""
    provider = pricing_provider(logged, model) if logged else provider_of(model)
    started = epoch_ms(settings.get("providerLockTimestamp")) or first
    if started is None or started <= 0:
        return "invalid_fields"  # no time to date it by that stays put: counted, said, not guessed
    totals = Tokens(input=inp, output=out + thinking, cache_read=read, cache_write_5m=write)
    return [
        AgentEvent(
            key=key,
            ts_ms=started,
            provider=provider,
            model=model,
            session_id=session,
            project=cwd,
            tokens=tokens,
            price_note=PRICE_NOTE,
        )
        for key, tokens in grown_rows(session, totals)
    ]


LOG = document_log(AGENT, "Factory Droid", SOURCE, roots, parse_document, accept)
