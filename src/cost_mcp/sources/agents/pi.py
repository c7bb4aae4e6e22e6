"""Pi (badlogic/pi-mono's coding agent): one JSONL file per session under
``${PI_CODING_AGENT_DIR:-~/.pi/agent}/sessions/--<cwd>--/<timestamp>_<session id>.jsonl``.

Facts and sources are in ``docs/agent-formats.md``. A session file starts with its header
(``{"type": "session", "version", "id", "timestamp", "cwd", "parentSession?"}``), then one entry per
line; each model call is an entry ``{"type": "message", "id", "parentId", "timestamp", "message"}``
whose ``message`` is pi-ai's ``AssistantMessage``: ``{role: "assistant", api, provider, model,
usage: {input, output, cacheRead, cacheWrite, totalTokens, cost: {input, output, cacheRead,
cacheWrite, total}}, stopReason, timestamp (ms)}``. pi-ai normalises ``input`` to the uncached input
(OpenAI's and Gemini CLI's cached tokens are taken out of it) and puts reasoning inside ``output``, so
the kinds are the ledger's, with two exceptions its own code shows:

- its Google (``api: "google-generative-ai"``) and Vertex (``"google-vertex"``) providers log
  ``promptTokenCount`` as ``input``, which holds the cached tokens logged again as ``cacheRead``
  (``totalTokens`` is then ``input + output``). Such a call's cache reads are taken out of its input,
  and the cost Pi logged for it, which counts them twice, is not kept;
- ``usage.cost.total`` is Pi's own price of the call (its model registry's rates, a service tier's
  multiplier applied), kept as the reported cost, read from the number's text (never a float). 0 is
  what Pi logs for a model it has no rates for: no reported cost, priced by us or unpriced.

Files are appended to, and rewritten whole only to migrate an older session (v1 entries get new
ids). A fork (``--fork``, ``/fork`` and ``/tree``'s branch into a new file) copies earlier entries
verbatim into a new session file. A call's key is therefore what the call itself logged (its start
time, provider, model and counts), never the file, session or entry id, so copies count once, under
the session that made the call (a copy is stamped before its file's session began).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import msgspec

from cost_mcp.agent_folders import AgentFolderPaths
from cost_mcp.money import to_nanos
from cost_mcp.pricing import Tokens
from cost_mcp.sources.agents.scanner import (
    AgentEvent,
    AgentLog,
    FileContext,
    Parsed,
    count,
    epoch_ms,
    event_key,
    file_stem,
    gateway_pricing,
)
from cost_mcp.sources.claude_code import MAX_CALL_COST
from cost_mcp.tokens import MAX_CALL_TOKENS

AGENT = "pi"
SOURCE = "pi"
MAX_TS_MS = 32_503_680_000_000  # 3000-01-01: later stamps are not real calls
MAX_ID_CHARS = 256
DECODER = msgspec.json.Decoder(float_hook=Decimal)
"""Numbers with a fraction as Decimal from their own text: ``cost.total`` is money, never a float."""
_PROMPT_INCLUSIVE_APIS = frozenset({"google-generative-ai", "google-vertex"})
"""pi-ai APIs that log Gemini's ``promptTokenCount`` (cached tokens inside) as ``input``."""

PROVIDER_IDS: dict[str, str] = {
    "anthropic": "anthropic",
    "amazon-bedrock": "aws",
    "google": "google",
    "google-vertex": "google",
    "google-gemini-cli": "google",
    "openai": "openai",
    "openai-codex": "openai",
    "azure-openai-responses": "azure",
    "github-copilot": "github-copilot",
    "xai": "x-ai",
    "groq": "groq",
    "cerebras": "cerebras",
    "openrouter": "openrouter",
    "zai": "zai",
    "mistral": "mistral",
    "minimax": "minimax",
    "minimax-cn": "minimax",
    "kimi-coding": "moonshotai",
}
"""pi-ai's ``KnownProvider`` ids whose pricing provider is known, as genai-prices names it."""

GATEWAYS = {
    gateway: gateway
    for gateway in ("", "vercel-ai-gateway", "opencode", "opencode-go", "huggingface", "google-antigravity")
}
"""pi-ai providers that serve other vendors' models: the model id tells whose model it is
(``anthropic/claude-sonnet-4.5``, or its family); else the provider stays named, priced as unknown."""

pricing_provider = gateway_pricing(PROVIDER_IDS, GATEWAYS)
"""Our provider id for a call Pi logged under a provider (:func:`scanner.gateway_pricing`)."""


def roots(settings: AgentFolderPaths) -> list[Path]:
    """``<PI_CODING_AGENT_DIR or ~/.pi/agent>/sessions``."""
    return [settings.pi_agent_path() / "sessions"]


def _reported(cost: object) -> int | None:
    """Pi's price of the call in nano-USD; None for 0 (no rates known) or a value that is no amount
    (the call's tokens still count, priced by us)."""
    total = cost.get("total") if isinstance(cost, dict) else None
    if isinstance(total, int) and not isinstance(total, bool):
        total = Decimal(total)
    if not isinstance(total, Decimal) or not total.is_finite() or not 0 < total <= MAX_CALL_COST:
        return None
    return to_nanos(total)


def take_header(entry: dict[str, object], state: dict[str, object]) -> None:
    """A session header (``{"type": "session", "id", "timestamp", "cwd"}``): the first one in a file
    sets its session, its folder (the project) and when it began."""
    if "session" in state:
        return
    session, cwd = entry.get("id"), entry.get("cwd")
    state["session"] = session[:MAX_ID_CHARS] if isinstance(session, str) and session else ""
    # The folder as Claude Code's calls store it (their cwd), so one folder is one project.
    state["project"] = cwd if isinstance(cwd, str) else ""
    state["started_ms"] = epoch_ms(entry.get("timestamp")) or 0


def parse_line(raw: bytes, ctx: FileContext) -> Parsed:
    """One session entry: the header sets the file's session and folder; an assistant message with
    usage is one call."""
    header = raw.startswith(b'{"type":"session"')
    if not header and b'"usage"' not in raw:
        return None  # user messages, tool results, labels, compactions: no call
    try:
        entry = DECODER.decode(raw)
    except msgspec.DecodeError as exc:
        return "truncated" if "truncated" in str(exc) else "malformed"
    if not isinstance(entry, dict):
        return "malformed"
    state = ctx.state
    if entry.get("type") == "session":
        take_header(entry, state)
        return None
    message = entry.get("message")
    if entry.get("type") != "message" or not isinstance(message, dict) or message.get("role") != "assistant":
        return None
    return assistant_call(
        message,
        entry.get("timestamp"),
        agent=AGENT,
        session=str(state.get("session") or _session_of(ctx.path)),
        project=str(state.get("project") or ""),
        started_ms=int(str(state.get("started_ms") or 0)),
        pricing=pricing_provider,
    )


def assistant_call(
    message: dict[str, object],
    entry_stamp: object,
    *,
    agent: str,
    session: str,
    project: str,
    started_ms: int,
    pricing: Callable[[str, str], str],
    fallback: tuple[object, object] = (None, None),
) -> Parsed:
    """One pi-ai ``AssistantMessage`` (Pi's, or an agent built on Pi's session files: OpenClaw) as
    the call it logged: its usage in the ledger's kinds, its own cost kept as reported, stamped by
    its ``timestamp`` (ms) or else its entry's ``entry_stamp`` (ISO). ``fallback``: the model and
    provider a message without its own is under (OpenClaw's last ``model_change``). A call stamped
    before its file's session began (``started_ms``) is a fork's copy of it."""
    usage = message.get("usage")
    if usage is None:
        return None
    model = message.get("model") or fallback[0]
    provider = message.get("provider")
    if provider is None:
        provider = fallback[1]
    ts = message.get("timestamp")
    ts_ms = ts if isinstance(ts, int) and not isinstance(ts, bool) else epoch_ms(entry_stamp)
    if (
        not isinstance(usage, dict)
        or not isinstance(model, str)
        or not model
        or not isinstance(provider, str)
        or ts_ms is None
        or not 0 < ts_ms < MAX_TS_MS
    ):
        return "invalid_fields"
    try:
        inp, out, read, write, total = (
            count(usage.get(k)) for k in ("input", "output", "cacheRead", "cacheWrite", "totalTokens")
        )
    except ValueError:
        return "invalid_fields"
    if any(n is not None and n > MAX_CALL_TOKENS for n in (inp, out, read, write)):
        return "invalid_fields"
    if inp is None and out is None and read is None and write is None:
        # Only a total: its split is unknown, so it cannot be priced; counted as skipped, so answers
        # say a call is missing rather than guess its price.
        return "invalid_fields" if total else None
    inp, out, read, write = inp or 0, out or 0, read or 0, write or 0
    if not (inp or out or read or write):
        return None  # a call that failed before any usage came back
    reported = _reported(usage.get("cost"))
    api = message.get("api")
    if api in _PROMPT_INCLUSIVE_APIS and read and inp >= read and (total is None or total < inp + out + read):
        # Gemini's promptTokenCount holds the cached tokens: the uncached input is the rest, and
        # Pi's cost, which priced them at the input rate too, is not the call's.
        inp, reported = inp - read, None
    model, provider = model[:MAX_ID_CHARS], provider.strip().lower()[:MAX_ID_CHARS]
    return [
        AgentEvent(
            key=event_key(agent, ts_ms, provider, model, inp, out, read, write),
            ts_ms=ts_ms,
            provider=pricing(provider, model),
            model=model,
            session_id=session,
            project=project,
            tokens=Tokens(input=inp, output=out, cache_read=read, cache_write_5m=write),
            # A fork copies its parent's calls, made before the fork's own session began.
            replayed=ts_ms < started_ms,
            reported_cost_nanos=reported,
        )
    ]


def _session_of(path: str) -> str:
    """The session id in a file's name (``<timestamp>_<id>.jsonl``), for a file without its header."""
    stem = file_stem(path)
    return stem.partition("_")[2] or stem


LOG = AgentLog(
    agent=AGENT,
    label="Pi",
    source=SOURCE,
    roots=roots,
    line_suffixes=(".jsonl",),
    parse_line=parse_line,
)
