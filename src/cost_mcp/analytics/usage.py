"""Reading usage events back: token totals, exact USD, and the warnings every view shares.

The SQL (a row's cost under the configured mode, the token sums) lives in ``store/usage.py``;
:func:`cost_sql` and :data:`TOKEN_SUMS_SQL` are re-exported for the readers still moving there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path

from cost_mcp import tokens
from cost_mcp.analytics.vocabulary import NOT_REPORTED
from cost_mcp.models import TokenTotals
from cost_mcp.money import from_nanos
from cost_mcp.output import counted
from cost_mcp.pricing import providers_pricing
from cost_mcp.store.connection import Conn
from cost_mcp.store.spend import price_notes
from cost_mcp.store.usage import TOKEN_SUMS_SQL, cost_sql

__all__ = [
    "DISPLAY_MODE_ZERO",
    "OUTPUT_LOWER_BOUND",
    "TOKEN_SUMS_SQL",
    "cost_sql",
    "log_notes",
    "price_note_warnings",
    "token_totals",
    "unpriced_warning",
    "unpriced_warnings",
    "usd",
]


def token_totals(values: Sequence[int]) -> TokenTotals:
    """A TokenTotals from counts in :data:`cost_mcp.tokens.KINDS` order."""
    return TokenTotals(**tokens.as_fields(values))


def usd(nanos: int | None) -> Decimal:
    """A nano-USD sum from SQL (NULL for an empty sum) as exact USD."""
    return from_nanos(int(nanos or 0))


OUTPUT_LOWER_BOUND = (
    "Claude Code logs often keep a streamed, partial output token count (anthropics/claude-code#22671): "
    "output tokens and their cost from these logs are a lower bound"
)


DISPLAY_MODE_ZERO = (
    "COST_MCP_COST_MODE=display counts only the cost a log states (Claude Code's costUSD, which "
    "current Claude Code versions do not write; the cost OpenCode and Cline log): calls without one "
    "count $0 here. Unset it (auto) to price them from their tokens"
)


def log_notes(cost_mode: str, *, output: bool) -> list[str]:
    """What every result resting on recorded calls (any agent's logs) must say: in ``display`` mode
    calls with no logged cost count nothing; and ``output``, when Claude Code's calls in it have
    output tokens, that their output is a lower bound (other agents log final counts)."""
    notes = [OUTPUT_LOWER_BOUND] if output else []
    return [*notes, DISPLAY_MODE_ZERO] if cost_mode == "display" else notes


def unpriced_warning(
    model: str | None, calls: int, prices_file: Path, left_out_of: str, n_tokens: int | None = None
) -> str:
    """The one wording of "these calls have no known price": which model, how many calls (and
    tokens, where known), what amount they are missing from, and the fix: the provider that prices
    the model when one does (the calls were recorded under another), else the price override file;
    for calls that named no model, the agent that sent them; for calls with no tokens at all, that
    no price applies."""
    counted = f"{calls} call(s)" + (f" ({n_tokens:,} tokens)" if n_tokens is not None else "")
    name = _shortened(model) or NOT_REPORTED
    said = f"{name}: {counted} have no known price and are not in {left_out_of}; "
    if n_tokens == 0:
        # Crush writes $0 for a session of a flat-rate model, or of usage it only estimated, and no
        # tokens at all: no price can apply, and a price of one's own for the model would change nothing.
        return (
            f"{said}the agent that logged them gave neither tokens nor a cost (as Crush does for a "
            "flat-rate model or usage it only estimated), so no price applies"
        )
    # Otherwise only a lookup failure leaves a call unpriced, so a model some provider prices was
    # recorded under another ('openai' for a Claude model): a price of one's own for it would be the
    # wrong fix. The same lookup the unknown-model error uses names who prices it.
    if not model:
        return (
            f"{said}the agent that recorded them named no model (an OpenTelemetry span without "
            "gen_ai.request.model, say), so no price applies: have it send the model it called"
        )
    elsewhere = providers_pricing(model)
    if not elsewhere:
        return (
            f"{said}add the model to the price override file ({prices_file}): the calls already stored "
            "are priced with it from the next answer on"
        )
    right = elsewhere[0]
    # `cost-mcp reprice` prices a call under the provider it was stored with, so only a new report
    # moves a reported call: forget it, then report it again. A call read from an agent's log (or
    # telemetry) keeps the provider its log names and cannot be reported again: a price for the model
    # in the override file, which may leave the provider out, is what prices it.
    return (
        f"{said}it is priced under provider {right!r}, not the one they were recorded under. If "
        f"{right!r} served calls you reported with record_usage, report them with provider={right!r}: "
        "`cost-mcp reported list` shows their ids and `cost-mcp reported forget ID` removes the wrong "
        "ones, to report again (`cost-mcp reprice` keeps a call's provider). For calls their provider "
        "did serve, or read from an agent's logs (which name the provider themselves), add the model's "
        f"price to the price override file ({prices_file})"
    )


MAX_UNPRICED_NAMED = 10
"""Unpriced models a result names one by one; the rest are one line. A ledger can hold any number
of models no price is known for (a log or an agent may name a new one on every call): one warning
each made a single answer tens of megabytes."""
MAX_NAME_CHARS = 200
"""Longest model name a warning repeats whole (record_usage accepts 200 characters)."""


def _shortened(name: str | None) -> str | None:
    return name[:MAX_NAME_CHARS] + "…" if name and len(name) > MAX_NAME_CHARS else name


def unpriced_warnings(
    found: Iterable[tuple[str | None, int, int | None]], prices_file: Path, left_out_of: str
) -> list[str]:
    """:func:`unpriced_warning` for each (model, calls, tokens or None) in ``found``, bounded: the
    :data:`MAX_UNPRICED_NAMED` models with the most calls, by name, then one line counting the
    other models and their calls."""
    ranked = sorted(found, key=lambda f: (-f[1], f[0] or ""))
    named = sorted(ranked[:MAX_UNPRICED_NAMED], key=lambda f: f[0] or "")
    warnings = [unpriced_warning(m, calls, prices_file, left_out_of, n) for m, calls, n in named]
    rest = ranked[MAX_UNPRICED_NAMED:]
    if rest:
        warnings.append(
            f"{len(rest):,} more model(s) with no known price: {sum(c for _, c, _ in rest):,} call(s) "
            f"not in {left_out_of}; group by model to list them"
        )
    return warnings


def price_note_warnings(
    conn: Conn,
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
    filters: Sequence[tuple[str, Sequence[str]]] = (),
    equal: Mapping[str, str] | None = None,
) -> list[str]:
    """One warning per distinct pricing assumption among the counted calls in ``[start_ms, end_ms)``
    matching ``filters`` ((column, values) pairs) and ``equal`` (column: value)."""
    notes = price_notes(conn, start_ms=start_ms, end_ms=end_ms, filters=filters, equal=equal)
    return [f"{counted(n, 'call')} priced with an assumption: {note}" for note, n in notes]
