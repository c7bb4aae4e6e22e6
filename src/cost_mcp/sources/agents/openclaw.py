"""OpenClaw (formerly Clawdbot, Moltbot): one JSONL transcript per session under
``<state dir>/agents/<agent id>/sessions/<session id>.jsonl``, the state dir being
``$OPENCLAW_STATE_DIR`` (or ``$CLAWDBOT_STATE_DIR``), else ``~/.openclaw``, else the first of the
legacy ``~/.clawdbot``, ``~/.moldbot``, ``~/.moltbot`` that exists (``~`` being ``$OPENCLAW_HOME``
when set).

Facts and sources are in ``docs/agent-formats.md``. OpenClaw runs its agents on Pi's session
manager, so a transcript is a Pi session file (:mod:`pi`): a ``session`` header, then entries, a
model call being an assistant ``message`` whose ``message`` is pi-ai's ``AssistantMessage`` (its
usage in the ledger's kinds, its ``cost.total`` OpenClaw's own price, kept as reported). OpenClaw
adds calls the conversation does not show, each in its own entry, counted as OpenClaw's own usage
report (``src/infra/session-cost-usage.ts``) counts them:

- a ``compaction`` or ``branch_summary`` entry's ``usageAccounting`` (``{provider, model, api?,
  usage}``): the summary's model calls;
- a ``custom`` entry ``openclaw:compaction-usage``, or ``openclaw:model-call-usage`` without
  ``data.usageBudgetBridge``, whose ``data.message`` is the call;
- not a ``openclaw:model-call-usage`` entry with ``data.usageBudgetBridge: true``: a second record,
  for OpenClaw's usage budget, of a call already logged as a message or inside a compaction's
  total (OpenClaw's report drops it when it finds that owner; see the docs for the rare bridge
  without one).

Besides the live transcript, OpenClaw keeps copies that its own report counts: a reset or
deleted session renamed ``<id>.jsonl.reset.<stamp>`` / ``.deleted.<stamp>``, and a compaction's
checkpoint ``<id>.checkpoint.<uuid>.jsonl`` (the transcript before it was compacted). A call's key
is what the call itself logged (start, provider, model, counts), never the file, so every copy
counts once. Trajectory logs (``.trajectory.jsonl``) and backups (``.bak.<stamp>``) hold no calls
of their own and are not read.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import msgspec

from cost_mcp.agent_folders import AgentFolderPaths
from cost_mcp.sources.agents import pi
from cost_mcp.sources.agents.scanner import AgentLog, FileContext, Parsed, gateway_pricing

AGENT = "openclaw"
SOURCE = "openclaw"
COMPACTION_USAGE = "openclaw:compaction-usage"
MODEL_CALL_USAGE = "openclaw:model-call-usage"
_ARCHIVE = re.compile(r"\.jsonl\.(?:reset|deleted)\.\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}(?:\.\d{3})?Z$")
"""A reset or deleted transcript (OpenClaw's ``hasArchiveSuffix``: the stamp as it formats it)."""
_CHECKPOINT = re.compile(
    r"\.checkpoint\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.jsonl$", re.I
)

CLI_BACKENDS = frozenset({"claude-cli", "codex-cli"})
"""OpenClaw's bundled CLI backends (its text-only fallback runs Claude Code's or Codex's own CLI):
a turn answered through one is a call those CLIs log themselves, where cost-mcp reads it (as
``claude-code`` or ``codex``); stored here as well, it would count twice."""
_MARKS = (b'{"type":"session"', b'"usage', b'-usage"', b'"model_change"', b'"model-snapshot"')
"""What a line that matters holds: anything else is not decoded."""

pricing_provider = gateway_pricing({**pi.PROVIDER_IDS, "moonshot": "moonshotai"}, pi.GATEWAYS)
"""Our provider id for a call OpenClaw logged under a provider: pi-ai's ids as Pi's reader maps
them, and OpenClaw's own Moonshot plugin (``moonshot``); any other stays named."""


def state_dir(settings: AgentFolderPaths) -> Path:
    """OpenClaw's state folder as its ``resolveStateDir`` finds it."""
    return settings.openclaw_state_path()


def roots(settings: AgentFolderPaths) -> list[Path]:
    """``<state dir>/agents``: every agent's ``sessions`` folder below it."""
    return [state_dir(settings) / "agents"]


def accept(path: str) -> bool:
    """A transcript OpenClaw's report counts (its ``isUsageCountedSessionTranscriptFileName``), in an
    agent's ``sessions`` folder: the live one, a reset or deleted one, a compaction's checkpoint."""
    parent, name = os.path.split(path)
    if os.path.basename(parent) != "sessions":
        return False
    if name.endswith(".jsonl"):
        return not name.endswith(".trajectory.jsonl")
    return _ARCHIVE.search(name) is not None


def session_of(path: str) -> str:
    """The session id in a transcript's name (for a file without its header): what comes before
    ``.checkpoint.<uuid>.jsonl`` or ``.jsonl``."""
    name = os.path.basename(path)
    found = _CHECKPOINT.search(name)
    stem = name[: found.start()] if found else name.partition(".jsonl")[0]
    return stem[: pi.MAX_ID_CHARS] or name


def _hidden_call(entry: dict[str, object]) -> object:
    """The call a usage-accounting entry holds (None for any other entry, or a bridge record)."""
    kind = entry.get("type")
    if kind in ("compaction", "branch_summary"):
        accounting = entry.get("usageAccounting")
        if not isinstance(accounting, dict):
            return None
        fields = ("api", "provider", "model", "usage")
        return {"role": "assistant", **{k: accounting[k] for k in fields if k in accounting}}
    if kind != "custom" or entry.get("customType") not in (COMPACTION_USAGE, MODEL_CALL_USAGE):
        return None
    data = entry.get("data")
    if not isinstance(data, dict):
        return "invalid_fields"
    if entry.get("customType") == MODEL_CALL_USAGE and data.get("usageBudgetBridge") is True:
        return None  # the budget's copy of a call logged elsewhere in the transcript
    return data.get("message")


def _model_change(entry: dict[str, object], state: dict[str, object]) -> None:
    """``model_change`` (``{provider, modelId}``) or a ``model-snapshot`` custom entry (in its
    ``data``): the model and provider of later messages that name none."""
    source = entry.get("data") if entry.get("type") == "custom" else entry
    if not isinstance(source, dict):
        return
    model = source.get("modelId") or source.get("model")
    if isinstance(model, str) and model:
        state["model"] = model[: pi.MAX_ID_CHARS]
    provider = source.get("provider")
    if isinstance(provider, str) and provider:
        state["provider"] = provider[: pi.MAX_ID_CHARS]


def parse_line(raw: bytes, ctx: FileContext) -> Parsed:
    """One transcript entry: the header sets the session; a model change, the model of messages
    that name none; an assistant message with usage, or a usage-accounting entry, is one call."""
    # ``"usage``: a message's usage, a compaction's usageAccounting; ``-usage"``: the custom types.
    if not any(mark in raw for mark in _MARKS):
        return None  # user messages, tool results, labels: no call
    try:
        entry = pi.DECODER.decode(raw)
    except msgspec.DecodeError as exc:
        return "truncated" if "truncated" in str(exc) else "malformed"
    if not isinstance(entry, dict):
        return "malformed"
    state, kind = ctx.state, entry.get("type")
    if kind == "session":
        pi.take_header(entry, state)
        return None
    if kind == "model_change" or (kind == "custom" and entry.get("customType") == "model-snapshot"):
        _model_change(entry, state)
        return None
    if kind == "message":
        message = entry.get("message")
        if not isinstance(message, dict) or message.get("role") != "assistant":
            return None
    else:
        message = _hidden_call(entry)
        if message is None:
            return None
        if not isinstance(message, dict):
            return "invalid_fields"
    provider = message.get("provider") or state.get("provider")
    if isinstance(provider, str) and provider.strip().lower() in CLI_BACKENDS:
        return None  # the CLI's own logs hold the call, and are read as its agent's
    return pi.assistant_call(
        message,
        entry.get("timestamp"),
        agent=AGENT,
        session=str(state.get("session") or session_of(ctx.path)),
        project=str(state.get("project") or ""),
        started_ms=int(str(state.get("started_ms") or 0)),
        pricing=pricing_provider,
        fallback=(state.get("model"), state.get("provider")),
    )


LOG = AgentLog(
    agent=AGENT,
    label="OpenClaw",
    source=SOURCE,
    roots=roots,
    # A reset or deleted transcript's name ends in its archive stamp (``...Z``); ``accept`` decides.
    line_suffixes=(".jsonl", "Z"),
    parse_line=parse_line,
    accept=accept,
)
