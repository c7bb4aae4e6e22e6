"""Cost by hour of the day: when in the day the money goes.

Only calls recorded one by one (agents' logs, OpenTelemetry events, ``record_usage``) have a time of
day; billed amounts from provider APIs are per UTC day. So this is always the estimated cost of those
calls, by local hour, priced as every total prices them (with the cost mode, Claude Code's own figure
where its event reports one), and says so.
"""

from __future__ import annotations

from datetime import datetime

from cost_mcp.analytics import vocabulary
from cost_mcp.analytics.spend import Filters, period_info
from cost_mcp.analytics.usage import unpriced_warnings
from cost_mcp.config import Settings
from cost_mcp.models import HourCost, HourlyCost
from cost_mcp.money import from_nanos, known_cost
from cost_mcp.periods import Period
from cost_mcp.store import rollup, session_rows
from cost_mcp.store.connection import Conn

QH_MS = rollup.QUARTER_HOUR_MS
LOCAL_SOURCES = ("claude_code", "record_usage", "claude_code_otel", "otel")


def cost_by_hour(conn: Conn, settings: Settings, p: Period, filters: Filters | None = None) -> HourlyCost:
    """Estimated cost of the locally recorded calls in ``p``, by local hour of the day in ``p.tz``.

    Every quarter-hour lies within one local hour in every timezone (offsets are multiples of 15
    minutes), so summing quarter-hours per local hour is exact.
    """
    # As get_spend takes them: a project by its folder name or slug, a member's email in any case.
    # Unexpanded, "webapp" matched no stored path and the chart read $0 beside the project's spend.
    # The period's quarter-hours rebuilt first (older marks wait for their question): the filters
    # are checked against the rollup, which calls just received reach only then.
    names = vocabulary.read(conn, p.start_ms)
    filters, unmatched = names.apply(filters or Filters())
    cost = [0] * 24
    unpriced = [0] * 24
    requests = [0] * 24
    warnings = [
        "hour of day is known only for calls recorded one by one (agents' logs, OpenTelemetry events, "
        "record_usage), estimated as the totals estimate them; billed amounts are per day and are not "
        "in this chart",
        *unmatched,
        # As get_spend says it: the chart read the sums as they stood, quietly short of the newest calls.
        *names.rebuild_warnings(),
    ]
    wants_estimated = not filters.basis or "estimated" in filters.basis
    wants_local = not filters.sources or any(s in LOCAL_SOURCES for s in filters.sources)
    if wants_estimated and wants_local:
        # Period bounds are local midnights, which fall on quarter-hours in every timezone.
        first, end = p.start_ms // QH_MS, -(-p.end_ms // QH_MS)
        for qh, nanos, unp, req in rollup.sums_by_quarter_hour(
            conn, first, end, settings.cost_mode, filters.column_filters()
        ):
            hour = datetime.fromtimestamp(qh * QH_MS // 1000, p.tz).hour
            cost[hour] += nanos
            unpriced[hour] += unp
            requests[hour] += req
    if any(unpriced):
        # Each model by name with its own fix (get_spend's wording): a reported call recorded under
        # the wrong provider is forgotten and reported again, where a price of one's own was wrong.
        found = session_rows.unpriced_by_model(
            conn, lo_qh=first, hi_qh=end, mode=settings.cost_mode, filters=filters.column_filters(), rules=()
        )
        warnings += unpriced_warnings(found, settings.prices_file, "these amounts")
    if settings.claude_code_billing == "subscription":
        warnings.append(
            "Claude Code is covered by a subscription: its calls here are API-equivalent value, not spend"
        )
    return HourlyCost(
        period=period_info(p),
        basis="estimated",
        total_usd=from_nanos(sum(cost)),
        hours=[
            HourCost(
                hour=h,
                # An hour of unpriced calls only is unknown (null), not $0; an hour without calls is $0.
                cost_usd=known_cost(from_nanos(cost[h]), requests[h], unpriced[h]),
                requests=requests[h],
                unpriced_requests=unpriced[h],
            )
            for h in range(24)
        ],
        warnings=warnings,
    )
