"""5-hour usage blocks laid out as ccusage lays them out, importing nothing beyond the standard library
(and the token kinds).

The one layout of the rule: the status line reads the active block on its hot path (no pydantic)
from call times alone; ``usage_blocks`` in :mod:`cost_mcp.analytics.claude_code` lays out the
same blocks from full calls for its result models.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from cost_mcp import tokens

HOUR_MS = 3_600_000
Call = tuple[int, Sequence[int], int | None, str]
"""(ts_ms, counts in :data:`cost_mcp.tokens.KINDS` order (empty: none known), cost nanos (None: no
known price), model)."""


@dataclass
class Block:
    """One 5-hour window of calls (or the gap between two), with its sums."""

    start_ms: int
    end_ms: int
    is_gap: bool = False
    first_ms: int = 0
    last_ms: int = 0
    requests: int = 0
    sums: list[int] = field(default_factory=tokens.zeros)
    """Counts in :data:`cost_mcp.tokens.KINDS` order."""
    cost_nanos: int = 0
    """Of the calls with a known price."""
    models: set[str] = field(default_factory=set)
    unpriced: dict[str, int] = field(default_factory=dict)
    """Calls with no known price (not in ``cost_nanos``), by model."""

    def is_active(self, now_ms: int) -> bool:
        """Whether calls made now still fall in this block (one that starts later does not: a call
        stamped years ahead by a wrong clock made a block of 2099 active beside today's)."""
        return (
            not self.is_gap
            and self.start_ms <= now_ms < self.end_ms
            and now_ms - self.last_ms < (self.end_ms - self.start_ms)
        )


def cost_per_hour(cost: Decimal, span_ms: int) -> Decimal:
    """A burn rate: ``cost`` spent over ``span_ms`` (> 0) as USD per hour, exact to 1e-9."""
    return (cost * HOUR_MS / span_ms).quantize(Decimal("0.000000001"))


def build_blocks(rows: Iterable[Call], length: int) -> list[Block]:
    """Blocks from calls in time order: ``(ts_ms, token counts, cost nanos, model)`` each.

    A block starts at the hour of its first call and lasts ``length`` ms; a call more than that
    after the block start, or after the previous call, starts a new block (with a gap block
    between when activity paused).
    """
    blocks: list[Block] = []
    current: Block | None = None
    for ts, counts, cost, model in rows:
        if current is None or ts - current.start_ms > length or ts - current.last_ms > length:
            if current is not None and ts - current.last_ms > length:
                blocks.append(Block(current.last_ms + length, ts, is_gap=True))
            start = ts - ts % HOUR_MS
            current = Block(start, start + length, first_ms=ts)
            blocks.append(current)
        current.last_ms = ts
        current.requests += 1
        if counts:
            current.sums = tokens.add(current.sums, counts)
        if cost is None:
            current.unpriced[model] = current.unpriced.get(model, 0) + 1
        else:
            current.cost_nanos += cost
        current.models.add(model)
    return blocks


def last_block(
    first_call_after: Callable[[int], int | None],
    last_call_from: Callable[[int], int | None],
    since_ms: int,
    length: int,
) -> Block | None:
    """The last block :func:`build_blocks` lays out from the calls at or after ``since_ms``, found
    by seeking instead of reading every call: its span only (no sums, requests or models).

    ``first_call_after(t)`` is the time of the earliest call later than ``t``,
    ``last_call_from(t)`` that of the latest call at or after ``t`` (None: none). A block holds
    every call up to ``length`` after its start, so the next block starts at the first call past
    that: a few seeks per day, however many calls the day had.
    """
    first = first_call_after(since_ms - 1)
    if first is None:
        return None
    while True:
        start = first - first % HOUR_MS
        following = first_call_after(start + length)
        if following is None:
            latest = last_call_from(first)
            return Block(start, start + length, first_ms=first, last_ms=first if latest is None else latest)
        first = following
