"""Seat fees registered by hand (Claude Max, ChatGPT Plus, Cursor Pro...), counted day by day.

A fee is spread over the days of its billing period (from the start date, month by month or year
by year) in whole nano-dollars, the remainder going to the first days, so that every full billing
period sums to the fee exactly. A subscription that ends mid-period counts up to its end date.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from cost_mcp.errors import InvalidInputError, NotFoundError
from cost_mcp.models import (
    BudgetName,
    OptionalMember,
    Subscription,
    SubscriptionList,
    SubscriptionPeriod,
    SubscriptionSet,
    VendorName,
    check_amount,
    checked,
)
from cost_mcp.money import format_usd, from_nanos, to_nanos
from cost_mcp.periods import TOOL_ARGUMENTS, PeriodArguments, parse_date
from cost_mcp.store import subscriptions as store
from cost_mcp.store.connection import Conn


def _add_months(d: date, months: int) -> date:
    """The same day ``months`` later, clamped to the month's end (Jan 31 + 1 month = Feb 28/29)."""
    index = d.year * 12 + d.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    last = (date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(d.day, last))


def billing_periods(start: date, period: SubscriptionPeriod) -> Iterator[tuple[date, date]]:
    """Consecutive billing periods [first, next_first) from ``start``; each one anchored on the
    start date itself, so a subscription from Jan 31 bills Feb 28, Mar 31, Apr 30..."""
    step = 1 if period == "monthly" else 12
    k = 0
    while True:
        yield _add_months(start, k * step), _add_months(start, (k + 1) * step)
        k += 1


def daily_nanos(sub: Subscription, first: date, last: date) -> Iterator[tuple[date, int]]:
    """Each day of ``[first, last]`` that the subscription covers, with its share of the fee."""
    start = date.fromisoformat(sub.start)
    end = date.fromisoformat(sub.end) if sub.end else None
    fee = to_nanos(sub.amount_usd)
    for lo, hi in billing_periods(start, sub.period):
        if lo > last or (end is not None and lo > end):
            return
        if hi <= first:
            continue
        days = (hi - lo).days
        base, extra = divmod(fee, days)
        for i in range(days):
            d = lo + timedelta(days=i)
            if first <= d <= last and (end is None or d <= end):
                yield d, base + (1 if i < extra else 0)


def set_subscription(
    conn: Conn,
    name: str,
    vendor: str,
    amount_usd: Decimal,
    period: SubscriptionPeriod,
    start: str,
    end: str | None = None,
    member: str | None = None,
    *,
    today: date,
    names: PeriodArguments = TOOL_ARGUMENTS,
) -> SubscriptionSet:
    """Create or replace a subscription; InvalidInputError for a name, vendor, member, amount or
    dates that cannot be (the same limits as the MCP tool's parameters, for the CLI too), naming
    the dates as ``names`` does (the tool's `start`, the CLI's --start). Replacing one whose fees up
    to ``today`` (the configured timezone's day, as reports count fees) come out different warns
    with the amount: past reports, a month already reconciled, change with it."""
    name = checked(BudgetName, name, "subscription name")
    vendor = checked(VendorName, vendor, "vendor")
    member = checked(OptionalMember, member, "member")
    check_amount(amount_usd)
    first = parse_date(start, names.start)
    last = parse_date(end, names.end) if end else None
    if last is not None and last < first:
        raise InvalidInputError(
            f"{names.end} {last} is before {names.start} {first}; {names.end} is the last day counted"
        )
    row = store.SubscriptionRow(
        name=name,
        vendor=vendor.strip().lower(),
        amount_nanos=to_nanos(amount_usd),
        period=period,
        member=member or "",
        start_date=first.isoformat(),
        end_date=last.isoformat() if last else None,
    )
    before = store.get(conn, name)
    store.upsert(conn, row, datetime.now(UTC).isoformat())
    after = get_subscription(conn, name)
    warnings = [] if before is None else _past_change(_subscription(before), after, today, names)
    return SubscriptionSet(**after.model_dump(), warnings=warnings)


def _past_change(old: Subscription, new: Subscription, today: date, names: PeriodArguments) -> list[str]:
    """What replacing ``old`` by ``new`` changes in the fees counted up to ``today``, as a warning."""
    first = min(date.fromisoformat(old.start), date.fromisoformat(new.start))
    if first > today:
        return []
    was = sum(nanos for _, nanos in daily_nanos(old, first, today))
    now = sum(nanos for _, nanos in daily_nanos(new, first, today))
    if was == now:
        return []
    change = from_nanos(now - was)
    sign = "+" if change > 0 else ""
    return [
        f"subscription '{new.name}' replaced: its fees from {first} to {today} change by {sign}"
        f"{format_usd(change)} ({format_usd(from_nanos(was))} -> {format_usd(from_nanos(now))}) in every "
        f"report of those days, past months too; to change a plan from a day on and keep what was "
        f"counted before, give the old one an {names.end} (the day before) and add the new plan under "
        "another name"
    ]


def _subscription(row: store.SubscriptionRow) -> Subscription:
    return Subscription(
        name=row.name,
        vendor=row.vendor,
        amount_usd=from_nanos(row.amount_nanos),
        period=row.period,
        member=row.member or None,
        start=row.start_date,
        end=row.end_date,
    )


def get_subscription(conn: Conn, name: str) -> Subscription:
    """One subscription, or NotFoundError naming those that exist."""
    row = store.get(conn, name)
    if row is None:
        names = store.names(conn)
        known = ", ".join(names) if names else "none yet"
        raise NotFoundError(f"no subscription named {name[:80]!r} (subscriptions: {known})")
    return _subscription(row)


def delete_subscription(
    conn: Conn, name: str, *, today: date, names: PeriodArguments = TOOL_ARGUMENTS
) -> list[str]:
    """Remove a subscription from every past and future report; a warning saying what its fees had
    counted up to ``today`` (the configured timezone's day, as reports count fees), which every
    report of those days loses, and how to stop one from a day on instead (``names`` spells the
    end date's argument)."""
    sub = get_subscription(conn, name)
    counted = sum(nanos for _, nanos in daily_nanos(sub, date.fromisoformat(sub.start), today))
    store.delete(conn, name)
    if not counted:
        return []
    # A cancelled plan removed instead of ended takes its months already reconciled with it.
    return [
        f"the {format_usd(from_nanos(counted))} its fees had counted up to {today} left every report, "
        f"past months too; to stop a subscription from a day on and keep what it counted, set it again "
        f"with {names.end} (its last day)"
    ]


def all_subscriptions(conn: Conn) -> list[Subscription]:
    """Every subscription, by name."""
    return [_subscription(r) for r in store.all_subscriptions(conn)]


def list_subscriptions(conn: Conn, *, today: date) -> SubscriptionList:
    """Every subscription, and what the running ones cost per month on ``today`` (the configured
    timezone's day)."""
    day = today
    subs = all_subscriptions(conn)
    running = [
        s for s in subs if date.fromisoformat(s.start) <= day and (s.end is None or s.end >= day.isoformat())
    ]
    monthly = sum((s.amount_usd if s.period == "monthly" else s.amount_usd / 12 for s in running), Decimal(0))
    return SubscriptionList(
        subscriptions=subs, monthly_equivalent_usd=monthly.quantize(Decimal("0.000000001"))
    )
