"""Codebuff (CodebuffAI/codebuff): each chat's ``chat-messages.json`` under
``~/.config/manicode/projects/<project folder's name>/chats/<chat id>/``.

Facts and sources are in ``docs/agent-formats.md``. The file is one JSON array of the CLI's
``ChatMessage`` objects (``{id, variant, content, blocks, timestamp, credits?, metadata?}``),
rewritten whole after each turn (and cut to its last 100 messages). Codebuff's backend calls the
models, so its client never sees a token count or a model: what it keeps of a turn's spend is
``credits`` on the turn's AI message (``variant: 'ai'``, id ``ai-<epoch ms>-<random>``), the
``finish`` event's ``totalCost``, every credit the turn used, its subagents' included.

A credit is sold at $0.01 (``CREDIT_PRICING.CENTS_PER_CREDIT``, the rate ``getUserCostPerCredit``
returns for every user): a turn counts as its credits at that price, as its reported cost, with a
price note that says so in every answer (free or granted credits are counted at the same price).
The calls carry no tokens and the model ``codebuff``: nothing is priced from tokens, so the
``calculate`` cost mode shows them unpriced. A message counts once by its id, in whichever chat
file it is found (a resumed chat's copy of it, too), and stays counted once Codebuff drops it from
the file.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import msgspec

from cost_mcp.agent_folders import AgentFolderPaths
from cost_mcp.money import to_nanos
from cost_mcp.pricing import Tokens
from cost_mcp.sources.agents.scanner import (
    AgentEvent,
    FileContext,
    Parsed,
    SkipReason,
    document_log,
    epoch_ms,
)
from cost_mcp.sources.claude_code import MAX_CALL_COST

AGENT = "codebuff"
SOURCE = "codebuff"
CHAT_FILE = "chat-messages.json"
MODEL = "codebuff"
"""Codebuff names no model to its client (its backend picks them): every turn is stored as this."""
USD_PER_CREDIT = Decimal("0.01")
"""Codebuff's credit price: ``CREDIT_PRICING.CENTS_PER_CREDIT = 1`` ("1 credit = 1 cent = $0.01")."""
PRICE_NOTE = "Codebuff logs credits, not tokens: each credit counted at Codebuff's $0.01"
MAX_CREDITS = MAX_CALL_COST / USD_PER_CREDIT
_DECODER = msgspec.json.Decoder(float_hook=Decimal)
"""Credits with a fraction as Decimal from their own text: they are money, never a binary float."""
_AI_ID = re.compile(r"ai-(\d{12,14})(?:-|$)")
"""The CLI's AI message id, ``ai-${Date.now()}-<hex>``: the turn's start in epoch milliseconds."""
_CHAT_ID = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})-(\d{2}(?:\.\d+)?)Z")
"""A chat's folder name: ``new Date().toISOString()`` with ':' made '-' (``2026-01-02T03-04-05.000Z``)."""
_NOT_A_TURN = frozenset({"user"})


def roots(settings: AgentFolderPaths) -> list[Path]:
    """``projects`` in each of Codebuff's folders (:meth:`AgentFolderPaths.codebuff_paths`)."""
    return [folder / "projects" for folder in settings.codebuff_paths()]


def accept(path: str) -> bool:
    """The chats' message files alone (``run-state.json`` beside each is large and holds no spend)."""
    return Path(path).name == CHAT_FILE


def _turn_ms(message: dict[str, object], chat_id: str) -> int | None:
    """When the turn started: the epoch ms in its id; else its ``timestamp`` when that is a date
    (the CLI writes a time of day there, no date); else its chat's start, the chat folder's name."""
    message_id = message.get("id")
    found = _AI_ID.match(message_id) if isinstance(message_id, str) else None
    if found:
        return int(found.group(1))
    stamp = message.get("timestamp")
    if isinstance(stamp, str) and len(stamp) >= len("2026-01-01T00:00"):
        ms = epoch_ms(stamp.replace("Z", "+00:00"))
        if ms is not None:
            return ms
    chat = _CHAT_ID.fullmatch(chat_id)
    return (
        epoch_ms(f"{chat.group(1)}T{chat.group(2)}:{chat.group(3)}:{chat.group(4)}+00:00") if chat else None
    )


def _event(message: object, chat_id: str, project: str) -> AgentEvent | SkipReason | None:
    if not isinstance(message, dict) or message.get("variant") in _NOT_A_TURN:
        return None
    credits = message.get("credits")
    if credits is None:
        return None  # a turn not finished (or failed): Codebuff sets its credits when it completes
    if isinstance(credits, int) and not isinstance(credits, bool):
        credits = Decimal(credits)
    if not isinstance(credits, Decimal) or not credits.is_finite() or not 0 <= credits <= MAX_CREDITS:
        return "invalid_fields"
    if not credits:
        return None  # nothing spent (a free turn): no tokens to count either
    message_id, ts_ms = message.get("id"), _turn_ms(message, chat_id)
    if not isinstance(message_id, str) or not message_id or ts_ms is None:
        return "invalid_fields"
    return AgentEvent(
        key=message_id,
        ts_ms=ts_ms,
        provider=AGENT,
        model=MODEL,
        session_id=chat_id,
        project=project,
        tokens=Tokens(),
        reported_cost_nanos=to_nanos(credits * USD_PER_CREDIT),
        price_note=PRICE_NOTE,
    )


def parse_document(raw: bytes, ctx: FileContext) -> Parsed:
    """Every finished turn of one chat file; a bad message is counted and skipped, not the chat."""
    try:
        messages = _DECODER.decode(raw)
    except msgspec.DecodeError as exc:
        return "truncated" if "truncated" in str(exc) else "malformed"
    if not isinstance(messages, list):
        return "invalid_fields"
    chat = Path(ctx.path).parent
    # Codebuff keeps a project under its folder's name alone (``path.basename`` of the project root).
    chat_id, project = chat.name, chat.parent.parent.name
    found: list[AgentEvent | SkipReason] = []
    for message in messages:
        event = _event(message, chat_id, project)
        if event is not None:
            found.append(event)
    return found


LOG = document_log(AGENT, "Codebuff", SOURCE, roots, parse_document, accept)
