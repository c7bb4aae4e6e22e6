"""Claude Code views: what a session cost, and the 5-hour usage blocks Claude's plans count by."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from cost_mcp import tokens as tokens_
from cost_mcp.analytics import rows as rows_
from cost_mcp.analytics.blocks import Block, build_blocks, cost_per_hour
from cost_mcp.analytics.usage import log_notes, price_note_warnings, token_totals, unpriced_warnings
from cost_mcp.analytics.vocabulary import project_slugs
from cost_mcp.config import Settings
from cost_mcp.errors import InvalidInputError, NotFoundError
from cost_mcp.models import (
    BlockProjection,
    BurnRate,
    ModelUsage,
    SessionUsage,
    TokenLimitStatus,
    TokenTotals,
    UsageBlock,
    UsageBlocks,
)
from cost_mcp.money import from_nanos, known_cost
from cost_mcp.periods import iso_utc, to_ms
from cost_mcp.sources.claude_code import SOURCE
from cost_mcp.store import otel as otel_store
from cost_mcp.store import sessions, source_state
from cost_mcp.store.connection import Conn
from cost_mcp.store.known import every_value

HOUR_MS = 3_600_000
MINUTE_MS = 60_000
WARNING_SHARE = Decimal("0.8")
CLAUDE_CODE = "claude-code"


def agent_sources() -> dict[str, str]:
    """Every agent whose local logs are read, and its ledger source."""
    from cost_mcp.sources import agents  # not at import: the status line's hot path needs only Claude Code

    return {CLAUDE_CODE: SOURCE, **{a.agent: a.source for a in agents.AGENTS}}


def agent_source(agent: str) -> str:
    """The ledger source of an agent's local logs; NotFoundError naming the known agents."""
    if agent == CLAUDE_CODE:
        return SOURCE
    known = agent_sources()
    try:
        return known[agent]
    except KeyError:
        # Cut: the name is whatever the caller sent, and an error must not echo a megabyte back.
        shown = agent if len(agent) <= 80 else agent[:79] + "…"
        raise NotFoundError(f"unknown agent {shown!r}; known agents: {', '.join(known)}") from None


MAX_IDS_NAMED = 5
"""Session ids an error names for a shortened one: enough to pick from, never the whole ledger."""


def _whole_ids(conn: Conn, given: str) -> str:
    """The sessions whose id starts with ``given``, as the start of an error's advice ('' for none):
    a session id shown shortened ('86100e80', as a person quotes the first part of a uuid) was
    answered only 'give no session id for the latest one', leaving the whole id to be found."""
    found = sorted(s for s in every_value(conn, "session") if s.startswith(given.strip()))
    if not given.strip() or not found:
        return ""
    named = ", ".join(repr(s) for s in found[:MAX_IDS_NAMED])
    more = f" and {len(found) - MAX_IDS_NAMED} more" if len(found) > MAX_IDS_NAMED else ""
    return f"sessions whose id starts so: {named}{more}; pass one whole, or "


def last_scan(conn: Conn) -> str:
    """When the logs were last scanned, or 'never'."""
    return source_state.last_success(conn, SOURCE) or "never"


def session_usage(
    conn: Conn,
    settings: Settings,
    session_id: str | None = None,
    cwd: str | None = None,
    agent: str | None = None,
) -> SessionUsage:
    """Cost, tokens, models and burn rate of one coding-agent session (Claude Code by default).

    A ``session_id`` is looked up among every agent's local logs (or only ``agent``'s). Without
    it: the most recently active session of ``agent`` (default Claude Code) in the project at
    ``cwd`` (where Claude Code starts MCP servers), else its most recent session of all; with no
    ``agent`` and no Claude Code usage at all, the same among every agent's sessions (a warning
    names whose it is). Raises NotFoundError when there is no such session, saying what exists.
    """
    if agent is not None:
        sources = _with_claude_otel((agent_source(agent),))
    else:
        sources = _with_claude_otel(tuple(agent_sources().values()) if session_id else (SOURCE,))
    elsewhere = fallback = False
    if session_id:
        chosen: str | None = session_id
    else:
        chosen, elsewhere = _current_session(conn, cwd, sources)
        if chosen is None and agent is None:
            # No Claude Code session at all: a machine where only Codex (or another agent) is used,
            # or that agent running this server, asks for its own latest session.
            sources = _with_claude_otel(tuple(agent_sources().values()))
            chosen, elsewhere = _current_session(conn, cwd, sources)
            fallback = chosen is not None
    if chosen is None:
        whose = agent if agent is not None else "coding-agent (Claude Code, Codex, Gemini CLI...)"
        raise NotFoundError(
            f"no {whose} usage has been recorded yet; `cost-mcp doctor` lists the folders the logs are "
            "read from and what was found there"
        )
    sources = _with_otel_only(conn, chosen, sources)
    found = sessions.session_totals(conn, sources, chosen, settings.cost_mode)
    if found is None:
        whose = f"{agent} session" if agent is not None else "session of any coding agent"
        # "session id", not the tool's `session_id`: `cost-mcp session ID` says this too.
        raise NotFoundError(
            f"no {whose} {chosen!r} in the ledger; {_whole_ids(conn, chosen)}give no session id for the "
            "latest one"
        )
    # Whose logs the session rests on: the notes about Claude Code's logs and billing apply to its
    # calls only (Codex and Gemini CLI log final output counts, and are never a Claude subscription).
    output_of = sessions.output_by_source(conn, sources, chosen)
    claude = SOURCE in output_of or otel_store.CLAUDE_SOURCE in output_of
    first, last, requests = found.first_ms, found.last_ms, found.requests
    tokens = token_totals(found.tokens)
    # A session of unpriced calls only costs an unknown amount (None), not $0.
    total = known_cost(from_nanos(found.cost_nanos), requests, found.unpriced)
    models = _models(conn, settings, chosen, sources)
    unpriced = [m for m in models if m.cost_usd is None]
    warnings = unpriced_warnings(
        ((m.model, m.requests, m.tokens.total_tokens) for m in unpriced), settings.prices_file, "cost_usd"
    )
    if fallback:
        agents_of = {source: name for name, source in agent_sources().items()}
        names = sorted({agents_of.get(source, source) for source in output_of if source in agents_of})
        warnings.append(
            f"no Claude Code usage is recorded: this is the most recent session of {', '.join(names)}; "
            "give a session id for another"
        )
    if elsewhere:
        # The server's folder had no session: say whose this is rather than pass it off as this
        # folder's (an MCP server started outside a project, or the CLI run from home).
        warnings.append(
            f"no session in {cwd}: this is the most recent one, in {found.project}; "
            "give a session id for another"
        )
    warnings += price_note_warnings(conn, equal={"source": SOURCE, "session_id": chosen})
    if output_of:
        warnings += log_notes(settings.cost_mode, output=bool(output_of.get(SOURCE)))
    subscription = claude and settings.claude_code_billing == "subscription"
    if subscription:
        warnings.append("Claude Code is billed by subscription here: cost_usd is the API-equivalent value.")
    return SessionUsage(
        session_id=chosen,
        project=found.project,
        first_activity=iso_utc(first),
        last_activity=iso_utc(last),
        duration_minutes=round((last - first) / MINUTE_MS, 2),
        requests=requests,
        tokens=tokens,
        cost_usd=total,
        # Every call without a price, also those of a model whose other calls have one.
        unpriced_requests=found.unpriced,
        cost_basis="api-equivalent" if subscription else "estimated",
        models=models,
        burn_rate=_burn_rate(total, tokens, last - first),
        warnings=warnings,
        logs_checked_at=last_scan(conn),
    )


def _with_claude_otel(sources: tuple[str, ...]) -> tuple[str, ...]:
    """``sources``, with Claude Code's OTel events when its logs are among them: they count with
    its log lines (a call seen both ways is counted once by the ledger itself, see store/otel.py)."""
    return (*sources, otel_store.CLAUDE_SOURCE) if SOURCE in sources else sources


def _with_otel_only(conn: Conn, session_id: str, sources: tuple[str, ...]) -> tuple[str, ...]:
    """``sources``, plus the receiver's generic OTel source when the session was seen only there
    (Codex, Gemini CLI): its calls carry no id shared with a log copy, so both would double count."""
    found = otel_store.session_sources(conn, session_id)
    if otel_store.GENERIC_SOURCE in found and not (found & set(sources)):
        return (*sources, otel_store.GENERIC_SOURCE)
    return sources


def _current_session(conn: Conn, cwd: str | None, sources: tuple[str, ...]) -> tuple[str | None, bool]:
    """The latest session in the project at ``cwd``, else the latest of all, and whether it came
    from elsewhere than ``cwd`` (when a ``cwd`` was given)."""
    if cwd:
        found = sessions.latest_session(conn, sources, (cwd, *project_slugs(cwd)))
        if found:
            return found, False
    return sessions.latest_session(conn, sources), bool(cwd)


def _models(conn: Conn, settings: Settings, session_id: str, sources: tuple[str, ...]) -> list[ModelUsage]:
    return [
        ModelUsage(
            model=m.model,
            requests=m.requests,
            tokens=token_totals(m.tokens),
            cost_usd=None if m.cost_nanos is None else from_nanos(m.cost_nanos),
        )
        for m in sessions.session_models(conn, sources, session_id, settings.cost_mode)
    ]


def _burn_rate(cost: Decimal | None, tokens: TokenTotals, span_ms: int) -> BurnRate | None:
    """How fast ``cost`` and ``tokens`` accrued over ``span_ms``; the dollar rate is None when the
    cost is (no call priced), while the token rates still hold."""
    if span_ms <= 0:
        return None
    minutes = span_ms / MINUTE_MS
    return BurnRate(
        cost_per_hour_usd=None if cost is None else cost_per_hour(cost, span_ms),
        tokens_per_minute=round(tokens.total_tokens / minutes, 1),
        input_output_tokens_per_minute=round((tokens.input_tokens + tokens.output_tokens) / minutes, 1),
    )


# --- 5-hour blocks -------------------------------------------------------------------------------


def usage_blocks(
    conn: Conn,
    settings: Settings,
    *,
    days: int = 3,
    token_limit: int | Literal["max"] | None = None,
    session_hours: int = 5,
    now: datetime | None = None,
    agent: str = CLAUDE_CODE,
    window: rows_.Window | None = None,
    only_active: bool = False,
) -> UsageBlocks:
    """5-hour usage windows over the last ``days`` days, as ccusage builds them.

    A block starts at the hour of its first call and lasts ``session_hours``; a call more than that
    after the block start, or after the previous call, starts a new block (with a gap block
    between when activity paused). The active block gets a burn rate and a projection; with a
    ``token_limit`` (or "max": the largest completed block of the last :data:`MAX_LIMIT_DAYS` days,
    however few ``days`` are shown) it also gets a limit status. ``agent``
    picks whose local logs (Claude Code by default; Codex's plans also count 5-hour windows).
    ``window`` bounds the blocks listed to one page, newest first (analytics/rows.py); the active
    block is always given in ``active``. ``only_active`` lists the active block alone, and its
    warnings are of it alone (`cost-mcp blocks --active` named unpriced models of blocks it hid).
    """
    source = agent_source(agent)
    now_ms = to_ms(now or datetime.now(UTC))
    length = session_hours * HOUR_MS
    since = now_ms - days * 24 * HOUR_MS - length
    # "max" is the user's heaviest window: taken over the days shown, `blocks --active --token-limit
    # max` made a 1,000-token block of yesterday the limit and called a usual morning 1,578% of it.
    history = max(days, MAX_LIMIT_DAYS) if token_limit == "max" else days
    # Claude Code calls seen only over OTel fall in its windows too (log copies win, counted once).
    sources = (source, otel_store.CLAUDE_SOURCE) if source == SOURCE else (source,)
    older = sessions.calls_since(conn, sources, now_ms - history * 24 * HOUR_MS - length, settings.cost_mode)
    rows = [c for c in older if c.ts_ms >= since] if history > days else older
    blocks = build_blocks(((c.ts_ms, c.tokens, c.cost_nanos, c.model) for c in rows), length)
    if history > days:
        history_blocks = build_blocks(((c.ts_ms, c.tokens, c.cost_nanos, c.model) for c in older), length)
    else:
        history_blocks = blocks
    limit = _resolve_limit(history_blocks, token_limit, now_ms)
    result = [_block_model(b, now_ms, limit) for b in blocks]
    cutoff = now_ms - days * 24 * HOUR_MS
    kept = [
        (b, raw)
        for b, raw in zip(result, blocks, strict=True)
        if raw.end_ms > cutoff and (b.is_active or not only_active)
    ]
    shown = [b for b, _ in kept]
    active = next((b for b in shown if b.is_active), None)
    unpriced = sum((Counter(raw.unpriced) for _, raw in kept), Counter[str]())
    whose = "this block's cost" if only_active else "these blocks' costs"
    warnings = unpriced_warnings(
        ((model, n, None) for model, n in unpriced.items()), settings.prices_file, whose
    )
    most = max((len(raw.models) for _, raw in kept), default=0)
    if most > MAX_BLOCK_MODELS:
        warnings.append(
            f"a block used {most:,} models: each block lists its first {MAX_BLOCK_MODELS} by name "
            "(model_breakdown has them all)"
        )
    if not rows:
        warnings.append(f"no {agent} usage in this window" + _usage_elsewhere(conn, source, since))
    else:
        # The output lower bound for Claude Code's own logs only: other agents log final counts
        output = any(c.source == SOURCE and c.tokens[tokens_.OUTPUT] for c in rows)
        warnings += log_notes(settings.cost_mode, output=output)
    listed = rows_.page(shown, lambda b: b.start, window, lambda b: b.start)
    next_cursor, paging_notes = rows_.follow(window, listed)
    return UsageBlocks(
        blocks=listed.shown,
        active=active,
        token_limit=limit,
        warnings=warnings + paging_notes,
        truncated=listed.truncated,
        total_rows=listed.total_rows,
        next_cursor=next_cursor,
    )


def _usage_elsewhere(conn: Conn, source: str, since_ms: int) -> str:
    """What to add to "no <agent> usage in this window" when other agents have calls in it. A Codex
    user's `cost-mcp blocks` said only "No usage in these days" over an active Codex block: the
    default agent is Claude Code, and nothing named the one whose usage was there."""
    names = {s: name for name, s in agent_sources().items() if s != source}
    found = [names[s] for s in sessions.sources_since(conn, tuple(names), since_ms)]
    if not found:
        return ""
    first = found[0]
    return (
        f", but {', '.join(found)} {'has' if len(found) == 1 else 'have'} some: ask for agent "
        f"{first!r} (`cost-mcp blocks --agent {first}`)"
    )


MAX_BLOCK_MODELS = 50
"""Models a block lists: a log may name a new model on every call, and 100,000 of them made one
answer megabytes long."""

MAX_LIMIT_DAYS = 31
"""Days back a token limit of "max" looks for the largest completed block, whatever ``days`` shows
(the most ``days`` may be)."""


def _resolve_limit(blocks: list[Block], token_limit: int | Literal["max"] | None, now_ms: int) -> int | None:
    if token_limit != "max":
        if token_limit is not None and (isinstance(token_limit, bool) or token_limit < 1):
            raise InvalidInputError(
                f"token_limit {token_limit!r} is not a number of tokens: give one above 0, or 'max' "
                "for the largest completed block"
            )
        return token_limit
    completed = [token_totals(b.sums).total_tokens for b in blocks if not b.is_gap and b.end_ms <= now_ms]
    return max(completed) if completed else None


def _block_model(b: Block, now_ms: int, limit: int | None) -> UsageBlock:
    tokens = token_totals(b.sums)
    # A block of unpriced calls only costs an unknown amount (None), not $0; a gap block costs $0.
    cost = known_cost(from_nanos(b.cost_nanos), b.requests, sum(b.unpriced.values()))
    active = b.is_active(now_ms)
    rate = None if b.is_gap else _burn_rate(cost, tokens, b.last_ms - b.first_ms)
    projection = None
    status = None
    # With no measurable rate (one call so far, or all at one instant) nothing can be projected,
    # but the block is still held to the limit on what it has used: a first call that is already
    # over the limit must say so rather than show no status at all.
    projected_tokens = tokens.total_tokens
    if active and rate is not None:
        remaining = round((b.end_ms - now_ms) / MINUTE_MS)
        projected_tokens = tokens.total_tokens + round(rate.tokens_per_minute * remaining)
        per_hour = rate.cost_per_hour_usd
        # Nothing priced so far: where the money ends up is as unknown as where it stands.
        projected_cost = None if cost is None or per_hour is None else cost + per_hour * remaining / 60
        projection = BlockProjection(
            total_tokens=projected_tokens,
            cost_usd=None if projected_cost is None else projected_cost.quantize(Decimal("0.000000001")),
            remaining_minutes=remaining,
        )
    if active and limit:
        share = Decimal(projected_tokens) / limit
        status = TokenLimitStatus(
            limit=limit,
            projected_tokens=projected_tokens,
            percent_used=float(round(Decimal(tokens.total_tokens) / limit * 100, 1)),
            status="exceeds" if share > 1 else "warning" if share > WARNING_SHARE else "ok",
        )
    return UsageBlock(
        start=iso_utc(b.start_ms),
        end=iso_utc(b.end_ms),
        actual_end=None if b.is_gap else iso_utc(b.last_ms),
        is_active=active,
        is_gap=b.is_gap,
        requests=b.requests,
        tokens=tokens,
        cost_usd=cost,
        unpriced_requests=sum(b.unpriced.values()),
        models=sorted(b.models)[:MAX_BLOCK_MODELS],
        burn_rate=rate,
        projection=projection,
        token_limit_status=status,
    )
