"""Calls that agents report themselves (record_usage): priced, stored, idempotent on request id."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from cost_mcp import tokens as token_kinds
from cost_mcp.errors import InvalidInputError
from cost_mcp.periods import arrival_time, iso_utc, ms_to_datetime, to_ms
from cost_mcp.pricing import Price, Pricer, Tokens
from cost_mcp.store import holds
from cost_mcp.store.connection import Conn
from cost_mcp.store.usage import Recorded, ReportedCall, insert_reported

SOURCE = "record_usage"
MAX_PAST = timedelta(days=366)


def normalize_provider(provider: str) -> str:
    """Provider ids as genai-prices and the billing sources name them ('OpenAI' -> 'openai')."""
    return provider.strip().lower()


class Stored(NamedTuple):
    """What :func:`record_call` did with a call."""

    outcome: Recorded
    call_id: str
    price: Price | None
    """None when the call is unpriced."""
    ts_ms: int
    """The time it is stored at: its own, or its arrival for one dated after it (a clock ahead)."""
    ahead: str
    """What the answer says of a call dated after its arrival by more than clocks drift (stored at
    its arrival), else empty."""


def record_call(
    conn: Conn,
    pricer: Pricer,
    *,
    provider: str,
    model: str,
    tokens: Tokens,
    agent: str,
    session: str | None = None,
    project: str | None = None,
    member: str | None = None,
    request_id: str | None = None,
    timestamp: datetime | None = None,
    now: datetime | None = None,
    speed: str | None = None,
    service_tier: str | None = None,
    inference_geo: str | None = None,
    release: holds.Release | None = None,
) -> Stored:
    """Store one reported call.

    Recording the same ``request_id`` again changes nothing (``duplicate``), so an agent can retry
    safely; nor does recording a call the user forgot (``forgotten``: ``cost-mcp reported forget``
    left a tombstone). A call dated after ``now`` (the agent's clock ahead of this server's) is
    stored at ``now``, as a team push or an OTLP event is (:func:`periods.arrival_time`); one dated
    more than a day ahead, or more than a year back, is rejected as a mistake.
    """
    if not agent.strip():
        # " " passed the argument's minimum length and was stored as an agent no budget, filter or
        # breakdown row can name.
        raise InvalidInputError("agent is blank: name the agent making the call, e.g. 'researcher'")
    moment = now or datetime.now(UTC)
    when = timestamp or moment
    if when.tzinfo is None:
        raise InvalidInputError("timestamp needs a timezone, e.g. 2026-11-22T10:15:00Z")
    arrived = arrival_time(to_ms(when), to_ms(moment))
    if arrived is None:
        # Refused at ten minutes ahead, a laptop whose clock ran 20 minutes fast lost every call its
        # agent reported; a day is the window a push or an OTLP exporter has too.
        raise InvalidInputError(
            f"timestamp {when.isoformat()} is more than a day after this server's clock "
            f"({iso_utc(to_ms(moment))}): check the date, time and timezone of the machine that made "
            "the call, or omit timestamp for a call just made"
        )
    if when < moment - MAX_PAST:
        # Said with the way forward: the future's error has one ("omit it"), this one had none.
        earliest = (moment - MAX_PAST).isoformat(timespec="seconds")
        raise InvalidInputError(
            f"timestamp {when.isoformat()} is more than a year old (the earliest taken is {earliest}): "
            "give the call's own time as ISO 8601 with its offset, e.g. 2026-11-22T10:15:00Z, or omit it "
            "for a call just made"
        )
    # The bound every other source holds calls to: beyond it a count is no real call, and enough
    # such calls overflow the ledger's 64-bit sums, after which no question can be answered.
    for kind, count in zip(token_kinds.KINDS, token_kinds.of_call(tokens), strict=True):
        if count > token_kinds.MAX_CALL_TOKENS:
            raise InvalidInputError(
                f"{kind.label} count {count:,} is more than one call can use "
                f"({token_kinds.MAX_CALL_TOKENS:,}): report each call on its own"
            )
    texts = {
        "model": model,
        "agent": agent,
        "session": session,
        "project": project,
        "request_id": request_id,
        "speed": speed,
        "service_tier": service_tier,
        "inference_geo": inference_geo,
    }
    for name, text in texts.items():
        if text and "\x00" in text:
            # PostgreSQL cannot store one: the error said the team's ledger "cannot be used", and
            # named its address to whoever called.
            raise InvalidInputError(f"{name} holds a NUL character (\\u0000); send it without")
    if not model.isprintable():
        # A model id is a name that prices the call: "claude-sonnet-4-5\n; …" was priced as Sonnet
        # 4.5 by its first line and stored as a new model, a row no filter could name.
        raise InvalidInputError(
            f"model {model!r} holds control characters; give the model id as the provider names it, "
            "such as gpt-4o or claude-sonnet-4-5"
        )
    provider_id = normalize_provider(provider)
    if not provider_id.isprintable():
        # A provider is an id that prices and groups calls: an escape sequence there is no provider.
        raise InvalidInputError(
            f"provider {provider!r} holds control characters; give a provider id such as openai or anthropic"
        )
    call_id = request_id or f"rec_{uuid.uuid4().hex}"
    ts_ms, said = arrived
    priced = pricer.price(
        tokens,
        model,
        provider_id,
        ms_to_datetime(ts_ms),
        speed=speed,
        service_tier=service_tier,
        inference_geo=inference_geo,
    )
    price = priced if isinstance(priced, Price) else None
    outcome = insert_reported(
        conn,
        ReportedCall(
            source=SOURCE,
            message_id=call_id,
            ts_ms=ts_ms,
            provider=provider_id,
            model=model,
            session_id=session or "",
            project=project or "",
            agent=agent,
            member=member or "",
            tokens=token_kinds.of_call(tokens),
            cost_nanos=price.total_nanos if price else None,
            priced_model=price.model_id if price else None,
            speed=speed or "",
            service_tier=service_tier or "",
            inference_geo=inference_geo or "",
            price_note="; ".join(price.assumptions) if price else "",
        ),
        release,
    )
    # The rollup is not rebuilt here: its quarter-hour is marked, and the next answer rebuilds it
    # from its own period on before it checks its filters (vocabulary.read), as for calls received
    # over OTLP or pushed. The budgets record_usage answers with rebuild it from their periods on.
    ahead = (
        f"timestamp {when.isoformat()} is after this server's clock ({iso_utc(ts_ms)}): stored at the "
        "time the server received it, since no call happens later; check the date and time of the "
        "machine that made the call"
        if said
        else ""
    )
    return Stored(outcome, call_id, price, ts_ms, ahead)
