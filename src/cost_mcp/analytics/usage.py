"""Reading usage events back: the cost of a row under the configured mode, and token totals.

Every query that sums usage goes through :func:`cost_sql` and :data:`TOKEN_SUMS_SQL`, so all views
count the same rows (``counted = 1``) the same way and can never disagree.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from decimal import Decimal

from cost_mcp.models import TokenTotals
from cost_mcp.money import from_nanos
from cost_mcp.store.costs import cost_sql

__all__ = ["OUTPUT_LOWER_BOUND", "TOKEN_SUMS_SQL", "cost_sql", "price_note_warnings", "token_totals", "usd"]

TOKEN_SUMS_SQL = (
    "COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0), COALESCE(SUM(cache_read_tokens), 0), "
    "COALESCE(SUM(cache_write_5m_tokens), 0), COALESCE(SUM(cache_write_1h_tokens), 0), "
    "COALESCE(SUM(web_search_requests), 0)"
)
"""Six columns of token sums, in the order :func:`token_totals` reads them."""


def token_totals(values: Sequence[int]) -> TokenTotals:
    """A TokenTotals from the six sums of TOKEN_SUMS_SQL."""
    i, o, cr, w5, w1, ws = (int(v) for v in values)
    return TokenTotals(
        input_tokens=i,
        output_tokens=o,
        cache_read_tokens=cr,
        cache_write_5m_tokens=w5,
        cache_write_1h_tokens=w1,
        web_search_requests=ws,
        total_tokens=i + o + cr + w5 + w1,
    )


def usd(nanos: int | None) -> Decimal:
    """A nano-USD sum from SQL (NULL for an empty sum) as exact USD."""
    return from_nanos(int(nanos or 0))


OUTPUT_LOWER_BOUND = (
    "Claude Code logs often keep a streamed, partial output token count (anthropics/claude-code#22671): "
    "output tokens and their cost from these logs are a lower bound"
)


def price_note_warnings(conn: sqlite3.Connection, where: str = "", args: Sequence[object] = ()) -> list[str]:
    """One warning per distinct pricing assumption among the counted calls matching ``where``.

    ``where`` is extra SQL starting with `` AND`` over usage_events columns. Noted rows are rare
    and indexed apart, so this never scans the ordinary ones.
    """
    # "+counted": without it SQLite picks the (counted, ts_ms) index and reads every call of the
    # period (2 s over 1M calls) instead of the few noted ones through the partial index (0.1 ms).
    rows = conn.execute(
        "SELECT price_note, COUNT(*) FROM usage_events "
        f"WHERE price_note != '' AND +counted = 1{where} GROUP BY price_note ORDER BY price_note",
        tuple(args),
    ).fetchall()
    return [f"{int(n)} call(s) priced with an assumption: {note}" for note, n in rows]
