"""The one definition of the token kinds a usage row holds.

Every column list, SQL sum and token field is derived from :data:`KINDS`, in this order: adding a
kind (reasoning tokens, audio tokens, web-fetch requests) is one entry here, a migration adding its
column to ``usage_events``, ``provider_buckets`` and the six rollup tables (``usage_rollup``,
``usage_rollup_hour``, ``usage_rollup_day`` and their ``_nosession`` twins), and a field of
:class:`cost_mcp.models.TokenTotals` (tests/test_tokens.py fails until all three exist).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress

MAX_CALL_TOKENS = 100_000_000
"""Most of one kind a single call can count, for every source that reads calls (logs, pushes,
OpenTelemetry): 100x the largest context window. A larger count is not a real call, and admitting
it could overflow SQLite's 64-bit sums for every query after it."""


@dataclass(frozen=True)
class TokenKind:
    """One kind of usage a call is counted in.

    ``column`` is the ledger column (usage events, rollup and provider buckets alike), ``field``
    the result models' field and ``call_field`` the field of one priced call
    (:class:`cost_mcp.pricing.Tokens`); ``is_token`` says whether it adds to ``total_tokens`` (web
    searches are requests, not tokens).
    """

    column: str
    field: str
    call_field: str
    label: str
    is_token: bool = True


KINDS: tuple[TokenKind, ...] = (
    TokenKind("input_tokens", "input_tokens", "input", "uncached input"),
    TokenKind("output_tokens", "output_tokens", "output", "output"),
    TokenKind("cache_read_tokens", "cache_read_tokens", "cache_read", "cache read"),
    TokenKind("cache_write_5m_tokens", "cache_write_5m_tokens", "cache_write_5m", "cache write (5 minutes)"),
    TokenKind("cache_write_1h_tokens", "cache_write_1h_tokens", "cache_write_1h", "cache write (1 hour)"),
    TokenKind(
        "web_search_requests",
        "web_search_requests",
        "web_search_requests",
        "web search requests",
        is_token=False,
    ),
)
"""Every kind, in the order of :data:`COLUMNS` and of every sequence of token counts."""

COLUMNS: tuple[str, ...] = tuple(k.column for k in KINDS)
"""The ledger's token columns, in :data:`KINDS` order."""

OUTPUT = COLUMNS.index("output_tokens")
"""Where output tokens sit in a sequence of counts (Claude Code logs under-report them)."""


def zeros() -> list[int]:
    """A count of nothing for every kind."""
    return [0] * len(KINDS)


def add(a: Sequence[int] | None, b: Sequence[int]) -> list[int]:
    """Kind-by-kind sum of two sequences of counts (``a`` None counts as zeros)."""
    return [x + y for x, y in zip(a if a is not None else zeros(), b, strict=True)]


_FIELDS = tuple(k.field for k in KINDS)
_IS_TOKEN = tuple(k.is_token for k in KINDS)


def as_fields(values: Sequence[int]) -> dict[str, int]:
    """Counts in :data:`KINDS` order as the result models' fields, with ``total_tokens``."""
    counts = [int(v or 0) for v in values]
    # Precomputed names and compress(): a year's breakdown by session builds thousands of these.
    fields = dict(zip(_FIELDS, counts, strict=True))
    fields["total_tokens"] = sum(compress(counts, _IS_TOKEN))
    return fields


def token_count(values: Sequence[int]) -> int:
    """Tokens of every kind that is a token (what ``total_tokens`` says)."""
    return sum(int(v or 0) for k, v in zip(KINDS, values, strict=True) if k.is_token)


def of_call(call: object) -> tuple[int, ...]:
    """One call's counts (a :class:`cost_mcp.pricing.Tokens`) in :data:`KINDS` order."""
    return tuple(int(getattr(call, k.call_field)) for k in KINDS)
