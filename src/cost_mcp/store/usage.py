"""SQL fragments every read of usage events shares: a row's cost under a cost mode, token sums.

Every query that sums usage goes through :func:`cost_sql` and :data:`TOKEN_SUMS_SQL`, so all views
count the same rows (``counted = 1``) the same way and can never disagree.
"""

from __future__ import annotations

from cost_mcp import tokens

TOKEN_SUMS_SQL = ", ".join(f"COALESCE(SUM({c}), 0)" for c in tokens.COLUMNS)
"""One column of token sums per kind, in :data:`cost_mcp.tokens.KINDS` order."""


def cost_sql(mode: str) -> str:
    """SQL for one row's cost in nano-USD under a cost mode; NULL means unpriced.

    ``auto`` uses the cost a log line reported (old Claude Code wrote ``costUSD``) when there is
    one, else the computed price; ``calculate`` always prices tokens; ``display`` shows only
    reported costs.
    """
    if mode == "calculate":
        return "cost_nanos"
    if mode == "display":
        return "COALESCE(reported_cost_nanos, 0)"
    return "COALESCE(reported_cost_nanos, cost_nanos)"
