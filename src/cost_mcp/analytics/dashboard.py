"""What the dashboard shows: the results of the tools' own analytics functions, put side by side.

Nothing is computed here: every figure is a ``get_spend``, ``budget_status``, ``spend_forecast`` or
``cost_by_hour`` result, so the web page, the MCP App and the tools can never disagree. The only
change is that long breakdowns keep their largest rows and sum the others in "(other)" rows, as the
tools do (analytics/rows.py). The dashboard is a view: it never consumes budget alerts, which belong
to the next tool answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypeVar

from cost_mcp.analytics import rows
from cost_mcp.analytics.budgets import budget_status
from cost_mcp.analytics.coverage import partial_report_lines
from cost_mcp.analytics.forecast import spend_forecast
from cost_mcp.analytics.hourly import cost_by_hour
from cost_mcp.analytics.spend import NO_SOURCE, Filters, get_spend, partial_lines, resolve
from cost_mcp.analytics.vocabulary import group_name
from cost_mcp.config import Settings
from cost_mcp.errors import InvalidInputError
from cost_mcp.models import Answer, Breakdown, Dashboard, SpendResult, SpendRow
from cost_mcp.money import bounded, format_cost, format_usd, rounding_note, shown_left
from cost_mcp.periods import Period, resolve_period
from cost_mcp.store.connection import Conn

BREAKDOWN_DIMS = ("model", "agent", "project", "member", "session")
MAX_ROWS = 15
"""Rows kept per breakdown: enough to see what matters, small enough for a chart and a table."""


def build_dashboard(
    conn: Conn,
    settings: Settings,
    period: str | None = None,
    start: str | None = None,
    end: str | None = None,
    timezone: str | None = None,
    filters: Filters | None = None,
    now: datetime | None = None,
    breakdowns: Sequence[str] = BREAKDOWN_DIMS,
) -> Dashboard:
    """The dashboard of a period (default this_month), filtered like get_spend.

    Filters apply to the totals, the daily chart, the breakdowns and the hours; budgets have their
    own scope and the forecast covers all spend, as the tools do. ``breakdowns`` names the ones to
    include (the web page asks for the tab on show first, the others with :func:`breakdown`).
    """
    unknown = [d for d in breakdowns if d not in BREAKDOWN_DIMS]
    if unknown:
        raise InvalidInputError(f"no breakdown by {unknown[0]!r}; use any of: {', '.join(BREAKDOWN_DIMS)}")
    filters = filters or Filters()
    moment = now or datetime.now(UTC)
    p = resolve(settings, period, start, end, timezone, now=moment)

    daily = get_spend(conn, settings, p, ["day", "provider"], filters, take_alerts=False)

    def spend(name: str) -> SpendResult:
        q = resolve_period(name, tz=p.tz, week_start=settings.week_start, now=moment)
        if (q.start_ms, q.end_ms) == (p.start_ms, p.end_ms):
            return daily  # the same question: its total and by_basis are the card's
        return get_spend(conn, settings, q, [], filters, take_alerts=False)

    parts = {dim: breakdown(conn, settings, p, dim, filters) for dim in breakdowns}
    today, this_week, this_month = spend("today"), spend("this_week"), spend("this_month")
    budgets = budget_status(conn, settings, now=moment, take_alerts=False)
    ahead = spend_forecast(conn, settings, p, now=moment, take_alerts=False)
    # What any part lacks (a provider's bill never synced...) is what the dashboard lacks: its
    # complete is weighed on its own warnings only (catchup.label), so they carry each such line once.
    said = [
        *(w for a in (today, this_week, this_month, daily, *parts.values()) for w in a.warnings),
        *budgets.warnings,
        *ahead.warnings,
    ]
    partial = dict.fromkeys(partial_lines(said))
    hours = cost_by_hour(conn, settings, p, filters)
    # Each part says whether it lacks something, as an answer of its own does (catchup.label): the
    # page and the text mark its totals as lower bounds then (money.bounded), where a card read
    # "$0.45" under a PARTIAL status.
    today, this_week, this_month, daily = (_weighed(a) for a in (today, this_week, this_month, daily))
    ahead = _weighed(ahead)
    parts = {dim: _weighed(b) for dim, b in parts.items()}
    return Dashboard(
        generated_at=moment.isoformat(timespec="seconds"),
        period=p.name,
        filters={f.name: list(values) for f in fields(filters) if (values := getattr(filters, f.name))},
        today=today,
        this_week=this_week,
        this_month=this_month,
        daily_by_provider=daily,
        breakdowns=parts,
        hourly=hours,
        budgets=budgets,
        forecast=ahead,
        warnings=list(partial),
        # Said by the server, as under `cost-mcp report`'s table: the page only shows these lines
        # and figures, never a second rounding rule of its own in JS floats.
        daily_rounding_note=rounding_note(
            (r.cost_usd for r in daily.rows), daily.total_usd, "The rows", exactly=None
        ),
        hourly_rounding_note=rounding_note(
            (h.cost_usd for h in hours.hours), hours.total_usd, "The hours", exactly=None
        ),
        budgets_left_usd={
            st.budget.name: shown_left(st.budget.amount_usd, st.spent_usd) for st in budgets.budgets
        },
        nothing_connected=next((w for w in this_month.warnings if w.startswith(NO_SOURCE)), None),
        # Today's bill synced at 10:00 read "billed $1.50" on the cards, as final as last week's,
        # where `cost-mcp report` says "partial: openai: ... billed so far; may still grow".
        partial_reports={
            name: lines
            for name, r in (
                ("today", today),
                ("this_week", this_week),
                ("this_month", this_month),
                ("period", daily),
            )
            if (lines := partial_report_lines(r.sources))
        },
    )


_A = TypeVar("_A", bound=Answer)


def _weighed(answer: _A) -> _A:
    """``answer`` not complete when a warning of its own says what it lacks (:func:`partial_lines`)."""
    if not partial_lines(getattr(answer, "warnings", [])):
        return answer
    return answer.model_copy(update={"complete": False})


def breakdown(
    conn: Conn, settings: Settings, p: Period, dim: str, filters: Filters | None = None
) -> Breakdown:
    """get_spend of ``p`` grouped by ``dim``, with its MAX_ROWS largest rows and "(other)" rows, and
    the names those fold: the filters offer every name, or a 40-person team's admin could not pick
    a member outside the 15 who spent most. Sessions have no filter to offer (and can be thousands)."""
    groups: list[dict[str, str | None]] = []
    result = get_spend(
        conn, settings, p, [dim], filters, take_alerts=False, window=rows.Window(MAX_ROWS), folded=groups
    )
    names = set() if dim == "session" else {g[dim] for g in groups}
    names -= {None, rows.OTHER, *(r.group.get(dim) for r in result.rows)}
    folded = sorted((n for n in names if n is not None), key=lambda n: (n.casefold(), n))
    # $3.335 three times showed $3.34 three times under "$10.00" with nothing saying why; the page
    # shows this line rather than a second rounding rule of its own in JS.
    gap = rounding_note((r.cost_usd for r in result.rows), result.total_usd, "The rows", exactly=None)
    return Breakdown(**dict(result), folded_names=folded, rounding_note=gap)


def dashboard_text(d: Dashboard) -> str:
    """The same facts as plain text, for hosts that cannot show the dashboard."""
    lines: list[str] = []
    # Calls with no known price are said beside each amount, as the page does: a day of a new model
    # read "today: $0.00" (format_cost: "unpriced" alone, "$1.23 + unpriced" beside priced calls).
    for label, r in (("today", d.today), ("this week", d.this_week), ("this month", d.this_month)):
        unpriced = sum(row.unpriced_requests for row in r.rows)
        # A basis whose rows the answer's gap may be in is at least, as `report`'s rows are.
        parts = ", ".join(
            f"{k} "
            + bounded(
                format_cost(v, r.unpriced_by_basis.get(k, 0)),
                0,
                complete=all(row.complete for row in r.rows if row.basis == k),
            )
            for k, v in r.by_basis.items()
        )
        # Lacking a bill, or logs still being read: at least (money.bounded), as the page marks it.
        total = bounded(format_cost(r.total_usd, unpriced), 0, complete=r.complete and d.reading is None)
        lines.append(f"{label}: {total}" + (f" ({parts})" if parts else ""))
    # A bill synced before its day was over is counted as it stood: said, as `cost-mcp report` does.
    lines += [f"partial: {line}" for line in dict.fromkeys(x for v in d.partial_reports.values() for x in v)]
    f = d.forecast
    spent, projected = (
        bounded(format_cost(x, f.unpriced_requests), 0, complete=f.complete and d.reading is None)
        for x in (f.spent_usd, f.projected_usd)
    )
    burn = bounded(format_usd(f.burn_rate_7d_usd_per_day), 0, complete=f.complete and d.reading is None)
    lines.append(
        f"{f.period.name} ({f.period.first_day} to {f.period.last_day}): spent "
        f"{spent}, burn {burn}/day "
        f"(7-day), projected {projected} "
        "at the last 7 whole days' rate"
    )
    # Each projection names its rule, and each budget its days and timezone, as the page does: the two
    # projections of one month differ, and a budget's day is the configured timezone's, not the view's.
    for st in d.budgets.budgets:
        lines.append(
            f"budget {st.budget.name} (from {st.first_day}, {st.timezone}): "
            f"{bounded(format_cost(st.spent_usd, st.unpriced_requests), 0, complete=st.complete)} of "
            f"{format_usd(st.budget.amount_usd)} per {st.budget.period} "
            # At least: its calls of no known price count nothing (`cost-mcp budget status`'s "≥").
            f"({bounded(f'{st.percent}%', st.unpriced_requests, complete=st.complete)}), projected "
            f"{bounded(format_cost(st.projected_usd, st.unpriced_requests), 0, complete=st.complete)} at its "
            "average per hour so far, "
            f"{st.status}"
        )
    for dim in ("model", "agent", "project"):
        rows = d.breakdowns[dim].rows[:5] if dim in d.breakdowns else []
        if rows:
            top = ", ".join(
                f"{group_name(r.group[dim], r.basis)} {bounded(_amount(r), 0, complete=r.complete)} {r.basis}"
                for r in rows
            )
            lines.append(f"top {dim}s: {top}")
    # An hour whose cost is unknown (null) is not a peak: only known amounts are compared.
    peak = max(d.hourly.hours, key=lambda h: h.cost_usd or Decimal(0))
    if peak.cost_usd:
        lines.append(
            f"costliest hour of day (local calls, estimated): {peak.hour:02d}:00 {format_usd(peak.cost_usd)}"
        )
    for a in f.anomalies:
        lines.append(f"anomaly {a.day}: {format_usd(a.cost_usd)} vs baseline {format_usd(a.baseline_usd)}")
    for s in d.this_month.sources:
        when = s.last_success or "never"
        lines.append(
            f"source {s.source} ({s.kind}): {s.status}, last success {when}"
            + (f", error: {s.last_error}" if s.last_error else "")
        )
    # The budgets' own notes (a scope matching nothing, a member with no live token), as the page
    # shows them; not "no budgets yet", which the page does not list among budgets either.
    budget_notes = d.budgets.warnings if d.budgets.budgets else []
    warnings = dict.fromkeys(
        [*d.warnings, *d.this_month.warnings, *d.daily_by_provider.warnings, *budget_notes]
    )
    lines += [f"note: {w}" for w in warnings]
    return "\n".join(lines)


def _amount(row: SpendRow) -> str:
    # An amount made only of calls with no known price is unknown, never $0.
    if row.cost_usd is None or (row.unpriced_requests and not row.cost_usd):
        return "unpriced"
    extra = f" + {row.unpriced_requests} unpriced" if row.unpriced_requests else ""
    return format_usd(row.cost_usd) + extra
