"""The one definition of the token kinds a usage row holds.

Every column list, SQL sum, token field, sequence of counts and price is derived from :data:`KINDS`,
in this order: adding a kind (reasoning tokens, audio tokens, web-fetch requests) is one entry here
(with the genai-prices price it is charged at), a migration adding its column to ``usage_events``,
``provider_buckets`` and the six rollup tables (``usage_rollup``, ``usage_rollup_hour``,
``usage_rollup_day`` and their ``_nosession`` twins), a field of :class:`cost_mcp.models.TokenTotals`,
:class:`cost_mcp.models.CostByKind` and :class:`cost_mcp.pricing.Tokens`, and the parsers that read
it (tests/test_tokens.py fails until all of them exist).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import compress
from operator import attrgetter
from typing import Any

MAX_CALL_TOKENS = 100_000_000
"""Most of one kind a single call can count, for every source that reads calls (logs, pushes,
OpenTelemetry): 100x the largest context window. A larger count is not a real call, and admitting
it could overflow SQLite's 64-bit sums for every query after it."""


@dataclass(frozen=True)
class TokenKind:
    """One kind of usage a call is counted in.

    ``column`` is the ledger column (usage events, rollup and provider buckets alike), ``field``
    the result models' field, ``call_field`` the field of one priced call
    (:class:`cost_mcp.pricing.Tokens`) and the kind's name in a price's split
    (``Price.by_kind``), ``cost_field`` the field of that split in results
    (:class:`cost_mcp.models.CostByKind`). ``is_token`` says whether it adds to ``total_tokens``
    (web searches are requests, not tokens).

    ``prices`` names the genai-prices price attributes (``ModelPrice`` fields, price override keys)
    the kind is charged at: its own first, then the ones it falls back to when a table has no price
    of its own for it, as genai-prices decomposes usage (a 1-hour cache write at the cache-write
    rate, then at the input rate). A ``_mtok`` price is per million, a ``_kcount`` per thousand.
    """

    column: str
    field: str
    call_field: str
    label: str
    cost_field: str
    prices: tuple[str, ...]
    is_token: bool = True

    @property
    def is_input(self) -> bool:
        """Part of a call's total input, which long-context tiers look at: a kind charged at the input
        rate when it has no price of its own is input (genai-prices counts cache reads and writes in
        its ``input_tokens``)."""
        return "input_mtok" in self.prices


KINDS: tuple[TokenKind, ...] = (
    TokenKind("input_tokens", "input_tokens", "input", "uncached input", "input_usd", ("input_mtok",)),
    TokenKind("output_tokens", "output_tokens", "output", "output", "output_usd", ("output_mtok",)),
    TokenKind(
        "cache_read_tokens",
        "cache_read_tokens",
        "cache_read",
        "cache read",
        "cache_read_usd",
        ("cache_read_mtok", "input_mtok"),
    ),
    TokenKind(
        "cache_write_5m_tokens",
        "cache_write_5m_tokens",
        "cache_write_5m",
        "cache write (5 minutes)",
        "cache_write_5m_usd",
        ("cache_write_5m_mtok", "cache_write_mtok", "input_mtok"),
    ),
    TokenKind(
        "cache_write_1h_tokens",
        "cache_write_1h_tokens",
        "cache_write_1h",
        "cache write (1 hour)",
        "cache_write_1h_usd",
        ("cache_write_1h_mtok", "cache_write_mtok", "input_mtok"),
    ),
    TokenKind(
        "web_search_requests",
        "web_search_requests",
        "web_search_requests",
        "web search requests",
        "web_search_usd",
        ("web_searches_kcount",),
        is_token=False,
    ),
)
"""Every kind, in the order of :data:`COLUMNS` and of every sequence of token counts (:data:`Counts`)."""

NAMES: tuple[str, ...] = tuple(k.call_field for k in KINDS)
"""The kinds' names (a priced call's fields, the keys of a price's split), in :data:`KINDS` order."""

Counts = tuple[int, ...]
"""One call's counts, one per kind in :data:`KINDS` order: how every source hands a call to pricing
and to the ledger's rows (no reordering on the way)."""

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


of_call: Callable[[Any], Counts] = attrgetter(*NAMES)
"""One call's counts (a :class:`cost_mcp.pricing.Tokens`, or anything with its fields) in
:data:`KINDS` order."""


def _summer(positions: Iterable[int]) -> Callable[[Sequence[int]], int]:
    # The sum written out and compiled once from KINDS: the parsers and the pricer call these once
    # per call, and sum(itemgetter(...)(counts)) cost twice as much as the written-out sum (~70 ns).
    terms = " + ".join(f"c[{i}]" for i in positions) or "0"
    summer: Callable[[Sequence[int]], int] = eval(f"lambda c: {terms}")
    return summer


token_total = _summer(i for i, k in enumerate(KINDS) if k.is_token)
"""All tokens of one call's :data:`Counts` (what its ``total_tokens`` stores)."""
input_total = _summer(i for i, k in enumerate(KINDS) if k.is_input)
"""All input of one call's :data:`Counts`: uncached, cache reads and writes (what long-context
tiers look at)."""
