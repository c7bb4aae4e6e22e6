"""The cost of one usage-event row in SQL, under the configured cost mode."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cost_mcp.core_settings import CostMode


def cost_sql(mode: CostMode) -> str:
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
