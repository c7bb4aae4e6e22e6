"""Where spend is heading: burn rates, the end-of-period projection, and days that stood out."""

from __future__ import annotations

import statistics
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from cost_mcp.analytics import alerts
from cost_mcp.analytics.spend import Filters, fees_ahead, get_spend, period_info
from cost_mcp.analytics.vocabulary import group_name
from cost_mcp.config import Settings
from cost_mcp.models import Anomaly, Forecast
from cost_mcp.money import format_usd
from cost_mcp.periods import Period, days_period, local_date, to_ms
from cost_mcp.store.connection import Conn

BASELINE_DAYS = 14
MIN_HISTORY_DAYS = 7
ANOMALY_RATIO = Decimal(2)
MIN_ANOMALY_USD = Decimal(1)
"""Days below a dollar are never anomalies: doubling 3 cents is noise, not news."""


def _daily(
    conn: Conn, settings: Settings, p: Period, today: date
) -> tuple[dict[date, Decimal], dict[date, Decimal]]:
    """Spend per day, and the same without seat fees (which are known ahead, not extrapolated)."""
    result = get_spend(conn, settings, p, ["day", "basis"], take_alerts=False, today=today)
    totals: dict[date, Decimal] = {}
    usage: dict[date, Decimal] = {}
    for row in result.rows:
        day = date.fromisoformat(row.group["day"] or "")
        totals[day] = totals.get(day, Decimal(0)) + (row.cost_usd or Decimal(0))
        if row.basis != "subscription":
            usage[day] = usage.get(day, Decimal(0)) + (row.cost_usd or Decimal(0))
    return totals, usage


def _top(conn: Conn, settings: Settings, day: date, dim: str) -> list[str]:
    p = days_period(day, day, tz=settings.tz)
    rows = get_spend(conn, settings, p, [dim], take_alerts=False).rows
    by_value: dict[str, Decimal] = {}
    for r in rows:
        # A seat fee has no model or agent: name it, never "(unknown)" (spend that could not be placed).
        key = group_name(r.group[dim], r.basis)
        by_value[key] = by_value.get(key, Decimal(0)) + (r.cost_usd or Decimal(0))
    ranked = sorted(by_value.items(), key=lambda kv: -kv[1])[:3]
    # As every amount a person reads (format_usd): "{:.2f} USD" showed a model's $0.004 on that day
    # as "(0.00 USD)", as if it cost nothing, in a format no other view uses.
    return [f"{name} ({format_usd(amount)})" for name, amount in ranked if amount > 0]


def spend_forecast(
    conn: Conn,
    settings: Settings,
    p: Period,
    now: datetime | None = None,
    *,
    take_alerts: bool = True,
) -> Forecast:
    """Burn rate over the period so far and the trailing 7 days, the end-of-period projection, and
    anomalous days against the median of the 14 days before each (with at least 7 of history).
    With ``take_alerts`` the result carries (and consumes) the budget alerts not shown yet."""
    moment = now or datetime.now(UTC)
    today = local_date(to_ms(moment), p.tz)
    history_start = p.first_day - timedelta(days=BASELINE_DAYS + 7)
    last = min(p.last_day, today)
    daily, usage = _daily(
        conn, settings, days_period(history_start, max(last, history_start), tz=p.tz), today
    )
    spent = sum((v for d, v in daily.items() if p.first_day <= d <= last), Decimal(0))
    days_elapsed = max((last - p.first_day).days + 1, 0) if today >= p.first_day else 0
    days_total = (p.last_day - p.first_day).days + 1
    # The 7 whole days before today: inside the days read above for a period under way, but not
    # for one that ended earlier (its trailing rate read as $0 whatever was spent this week).
    week = days_period(today - timedelta(days=7), today - timedelta(days=1), tz=p.tz)
    if week.first_day < history_start or week.last_day > last:
        usage = usage | _daily(conn, settings, week, today)[1]
    trailing = sum((usage.get(today - timedelta(days=i), Decimal(0)) for i in range(1, 8)), Decimal(0)) / 7
    period_rate = spent / days_elapsed if days_elapsed else Decimal(0)
    remaining_days = max(days_total - days_elapsed, 0)
    anomalies: list[Anomaly] = []
    day = p.first_day
    while day <= last:
        history = [
            daily[d] for d in (day - timedelta(days=i) for i in range(1, BASELINE_DAYS + 1)) if d in daily
        ]
        amount = daily.get(day, Decimal(0))
        if len(history) >= MIN_HISTORY_DAYS and amount >= MIN_ANOMALY_USD:
            baseline = Decimal(statistics.median(history))
            if amount > baseline * ANOMALY_RATIO:
                anomalies.append(
                    Anomaly(
                        day=day.isoformat(),
                        cost_usd=amount,
                        baseline_usd=baseline,
                        ratio=float(round(amount / baseline, 1)) if baseline else None,
                        top_models=_top(conn, settings, day, "model"),
                        top_agents=_top(conn, settings, day, "agent"),
                    )
                )
        day += timedelta(days=1)
    q = Decimal("0.000000001")
    # What the period's own total says it lacks (calls with no price, a provider's failed sync, a
    # day its bill has not reached), which the figures above inherit: spent_usd read "$0.00" for a
    # month of unpriced calls, with nothing to say so.
    whole = get_spend(conn, settings, p, [], take_alerts=False, today=today)
    warnings = whole.warnings
    if len(daily) < MIN_HISTORY_DAYS:
        warnings.append(f"only {len(daily)} day(s) of history: anomalies need at least {MIN_HISTORY_DAYS}")
    return Forecast(
        period=period_info(p),
        spent_usd=spent,
        days_elapsed=days_elapsed,
        days_in_period=days_total,
        burn_rate_period_usd_per_day=period_rate.quantize(q),
        burn_rate_7d_usd_per_day=trailing.quantize(q),
        # Usage goes on at the trailing rate; seat fees still to come are known exactly.
        projected_usd=(spent + trailing * remaining_days + fees_ahead(conn, p, Filters(), today)).quantize(q),
        # Counted, so that a view can show an amount of unpriced calls only as unknown, never $0.
        unpriced_requests=sum(r.unpriced_requests for r in whole.rows),
        anomalies=anomalies,
        warnings=warnings,
        alerts=alerts.take_alerts(conn) if take_alerts else [],
    )
