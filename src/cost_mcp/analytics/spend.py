"""What was spent: totals and breakdowns over every source, each dollar counted once.

Three layers can describe the same provider-day: billed amounts from a cost API, token counts from
a provider's usage API (priced here), and calls recorded locally (Claude Code logs, record_usage).
For each provider and UTC day, the highest layer that has been synced is the total; the layers
under it only *attribute* (which agent, session or project), and are returned apart, never added.
A synced report with no rows for the day, or synced within its reporting lag, does not replace what
is below it (see analytics/coverage.py).
Provider APIs report UTC days, so their amounts sit on their UTC date; local calls sit on their
local date in the requested timezone.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Generic, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cost_mcp.analytics import alerts, coverage, rows, subscriptions, vocabulary
from cost_mcp.analytics.usage import OUTPUT_LOWER_BOUND, price_note_warnings, token_totals
from cost_mcp.config import Settings
from cost_mcp.errors import InvalidInputError
from cost_mcp.models import (
    DIMENSIONS,
    AttributionRow,
    Basis,
    PeriodInfo,
    SourceStatus,
    SpendResult,
    SpendRow,
)
from cost_mcp.money import format_usd, from_nanos
from cost_mcp.periods import Period, bucket_start, iso_utc, resolve_period, to_ms
from cost_mcp.sources import registry
from cost_mcp.store import rollup
from cost_mcp.store.buckets import ATTRIBUTION_ONLY, DAY_MS, OUTSIDE_BILL
from cost_mcp.store.known import data_source, provider_data_sources
from cost_mcp.store.otel import gap_warnings as otel_gap_warnings

QH_MS = rollup.QUARTER_HOUR_MS
LOCAL_LAYER, USAGE_LAYER, BILLED_LAYER, SUBSCRIPTION_LAYER = 0, 1, 2, 3
"""Precedence per provider-day: a layer that has been synced makes the ones below it attribution.
Subscriptions are fees of their own and never superseded."""
_TIME_DIMS = ("day", "week", "month")
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
STALE_AFTER = timedelta(days=2)
_R = TypeVar("_R")
USAGE_ONLY_SOURCES = frozenset(p.id for p in registry.PROVIDERS if p.basis == "estimated")
"""Synced sources that report usage, never money (Groq's metrics, priced here): the registry's."""


@dataclass(frozen=True)
class Filters:
    """Values to keep, per dimension (None: keep all)."""

    providers: Sequence[str] | None = None
    models: Sequence[str] | None = None
    projects: Sequence[str] | None = None
    agents: Sequence[str] | None = None
    sessions: Sequence[str] | None = None
    members: Sequence[str] | None = None
    sources: Sequence[str] | None = None
    basis: Sequence[str] | None = None

    def column_filters(self) -> list[tuple[str, Sequence[str]]]:
        """(column, values) pairs for the filters that map to a column of usage data."""
        pairs = [
            ("provider", self.providers),
            ("model", self.models),
            ("project", self.projects),
            ("agent", self.agents),
            ("session_id", self.sessions),
            ("member", self.members),
            ("source", self.sources),
        ]
        return [(col, values) for col, values in pairs if values]


@dataclass
class _Slice:
    """Usage or spend of one (local day, UTC day, provider, model, dimensions) from one layer."""

    layer: int
    basis: Basis
    local_day: date
    utc_day: int
    provider: str
    model: str
    source: str
    dims: dict[str, str | None]
    cost_nanos: int
    unpriced: int
    requests: int | None
    tokens: list[int] | None
    excluded: str | None = None
    outside_bill: bool = False
    """Usage in a tier the provider's bill leaves out (Anthropic Priority Tier); after precedence,
    only where it is counted on top of a billed day."""


@dataclass
class _Group:
    basis: Basis
    cost_nanos: int = 0
    unpriced: int = 0
    requests: int | None = None
    tokens: list[int] | None = None
    reason: str | None = None
    order: tuple[str, ...] = ()
    extra: dict[str, int] = field(default_factory=dict)

    def add(self, s: _Slice) -> None:
        self.cost_nanos += s.cost_nanos
        self.unpriced += s.unpriced
        if s.requests is not None:
            self.requests = (self.requests or 0) + s.requests
        if s.tokens is not None:
            self.tokens = [a + b for a, b in zip(self.tokens or [0] * 6, s.tokens, strict=True)]


def zone(name: str | None, settings: Settings) -> ZoneInfo:
    """The requested timezone, or the configured one; InvalidInputError names a fix for a bad name."""
    if not name:
        return settings.tz
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInputError(
            f"unknown timezone {name!r}; use an IANA name such as 'Europe/Paris', 'America/New_York' or 'UTC'"
        ) from None


def period_info(p: Period) -> PeriodInfo:
    """How a result names its period."""
    return PeriodInfo(
        name=p.name,
        first_day=p.first_day.isoformat(),
        last_day=p.last_day.isoformat(),
        timezone=str(p.tz.key),
        start_utc=iso_utc(p.start_ms),
        end_utc=iso_utc(p.end_ms),
    )


def resolve(
    settings: Settings,
    period: str | None,
    start: str | None,
    end: str | None,
    timezone: str | None,
    now: datetime | None = None,
) -> Period:
    """The period a spend question is about."""
    return resolve_period(
        period, start, end, tz=zone(timezone, settings), week_start=settings.week_start, now=now
    )


def get_spend(
    conn: sqlite3.Connection,
    settings: Settings,
    p: Period,
    group_by: Sequence[str] = (),
    filters: Filters | None = None,
    *,
    take_alerts: bool = True,
    today: date | None = None,
    window: rows.Window | None = None,
) -> SpendResult:
    """Total and breakdown of spend in period ``p``.

    Rows carry one basis each and sum exactly to the total; attribution rows explain billed
    totals without being added to them. With ``take_alerts`` the result carries (and consumes)
    the budget alerts not shown yet. Subscription fees count up to ``today`` (default: today in
    the period's timezone): the days still to come are for projections (:func:`fees_ahead`).
    ``window`` bounds rows and attribution to one page (analytics/rows.py); None: every row.
    """
    filters = filters or Filters()
    filters, unmatched = vocabulary.apply(conn, filters)
    dims = _check_dims(group_by)
    stale = rollup.refresh(conn) < 0
    slices = _local_slices(conn, settings, p, dims, filters)
    # Billed data cannot say which agent or session spent it: a question filtered that way is
    # answered from the calls recorded locally.
    local_only = bool(filters.agents or filters.sessions)
    if not local_only:
        slices += _bucket_slices(conn, p, dims, filters)
        slices += _subscription_slices(conn, p, dims, filters, today or _today(p))
    rules = _apply_precedence(conn, slices, p, settings, local_only)
    if filters.basis:
        slices = [s for s in slices if s.basis in filters.basis]
    shown, attribution = _group(slices, dims, settings, window)
    total = sum((r.cost_usd for r in shown.rows), Decimal(0))
    by_basis: dict[str, Decimal] = defaultdict(Decimal)
    for r in shown.rows:
        by_basis[r.basis] += r.cost_usd
    warnings = _warnings(slices, settings, conn, local_only, dims) + _pricing_warnings(
        conn, p, filters, slices
    )
    warnings += _outside_bill_notes(slices)
    warnings += otel_gap_warnings(conn, p.start_ms, p.end_ms)
    warnings += coverage.missing_bill_warnings(rules, *_utc_day_range(p), usage_only=USAGE_ONLY_SOURCES)
    warnings += unmatched
    if stale:
        warnings.append(rollup.STALE_WARNING)
    return SpendResult(
        period=period_info(p),
        total_usd=total,
        by_basis=dict(by_basis),
        group_by=list(dims),
        rows=shown.rows,
        attribution=attribution.rows,
        truncated=shown.truncated or attribution.truncated,
        total_rows=shown.total_rows,
        attribution_total_rows=attribution.total_rows,
        next_cursor=rows.encode_cursor(n) if (n := shown.next_offset or attribution.next_offset) else None,
        sources=coverage.attach(
            source_statuses(conn, settings), coverage.summaries(rules, *_utc_day_range(p))
        ),
        warnings=warnings,
        alerts=alerts.take_alerts(conn) if take_alerts else [],
    )


def _check_dims(group_by: Sequence[str]) -> list[str]:
    dims: list[str] = []
    for d in group_by:
        if d not in DIMENSIONS:
            raise InvalidInputError(f"cannot group by {d!r}; use any of: {', '.join(DIMENSIONS)}")
        if d not in dims:
            dims.append(d)
    return dims


# --- reading the layers -------------------------------------------------------------------------


def _local_day_sql(column: str, p: Period) -> str:
    """SQL giving the local day number (days since 1970-01-01 local) of an epoch-ms expression.

    The UTC offset is piecewise constant between DST transitions; the transitions inside the
    period are found exactly (to the quarter-hour, which all real ones fall on).
    """
    cases: list[str] = []
    offset = _offset_ms(p.tz, p.start_ms)
    t = p.start_ms
    day = p.first_day
    while t < p.end_ms:
        day += timedelta(days=1)
        next_midnight = to_ms(datetime.combine(day, datetime.min.time(), tzinfo=p.tz))
        if _offset_ms(p.tz, next_midnight) != offset:
            change = next(q for q in range(t, next_midnight + QH_MS, QH_MS) if _offset_ms(p.tz, q) != offset)
            cases.append(f"WHEN {column} < {change} THEN {offset}")
            offset = _offset_ms(p.tz, change)
        t = next_midnight
    expr = f"CASE {' '.join(cases)} ELSE {offset} END" if cases else str(offset)
    return f"(({column}) + {expr}) / {DAY_MS}"


def _offset_ms(tz: ZoneInfo, ts_ms: int) -> int:
    moment = datetime.fromtimestamp(ts_ms // 1000, tz)
    delta = moment.utcoffset()
    return int(delta.total_seconds()) * 1000 if delta is not None else 0


def _where(filters: Filters, available: set[str]) -> tuple[str, list[object]]:
    clauses: list[str] = []
    args: list[object] = []
    for column, values in filters.column_filters():
        if column not in available:
            clauses.append("0")  # a filter this data cannot satisfy keeps nothing
            continue
        clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
        args.extend(values)
    return "".join(f" AND {c}" for c in clauses), args


_LOCAL_DIM_COLUMNS = {
    "provider": "provider",
    "model": "model",
    "project": "project",
    "agent": "agent",
    "member": "member",
    "source": "source",
    "session": "session_id",
}


def _local_slices(
    conn: sqlite3.Connection, settings: Settings, p: Period, dims: Sequence[str], filters: Filters
) -> list[_Slice]:
    fixed = ("provider", "model", "source", "agent")
    dim_cols = [_LOCAL_DIM_COLUMNS[d] for d in dims if d in _LOCAL_DIM_COLUMNS and d not in fixed]
    mode = settings.cost_mode
    time_col = f"qh * {QH_MS}"
    cost_sum = f"SUM({mode}_nanos)"
    unpriced_sum = f"SUM({mode}_unpriced)" if mode != "display" else "0"
    tokens = (
        "SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_5m_tokens), "
        "SUM(cache_write_1h_tokens), SUM(web_search_requests), SUM(requests)"
    )
    # Period bounds are local midnights, which fall on quarter-hours in every timezone.
    lo, hi = p.start_ms // QH_MS, -(-p.end_ms // QH_MS)
    available = set(_LOCAL_DIM_COLUMNS.values())
    where, args = _where(filters, available)
    group_cols = [*fixed, *dim_cols]
    sql = f"""
        SELECT {_local_day_sql(time_col, p)} AS local_day, ({time_col}) / {DAY_MS} AS utc_day,
               {", ".join(group_cols)}, {cost_sum}, {unpriced_sum}, {tokens}
        FROM usage_rollup
        WHERE qh >= ? AND qh < ?{where}
        GROUP BY local_day, utc_day, {", ".join(group_cols)}
    """
    slices: list[_Slice] = []
    n = len(group_cols)
    for row in conn.execute(sql, (lo, hi, *args)):
        local_day = date.fromordinal(_EPOCH_ORDINAL + int(row[0]))
        values = dict(zip(group_cols, row[2 : 2 + n], strict=True))
        cost_nanos, unpriced = int(row[2 + n] or 0), int(row[3 + n] or 0)
        sums = [int(v or 0) for v in row[4 + n : 10 + n]]
        requests = int(row[10 + n] or 0)
        slice_dims = {d: values.get(_LOCAL_DIM_COLUMNS.get(d, "")) for d in dims}
        slices.append(
            _Slice(
                layer=LOCAL_LAYER,
                basis="estimated",
                local_day=local_day,
                utc_day=int(row[1]),
                provider=str(values["provider"]),
                model=str(values["model"]),
                source=str(values["source"]),
                dims=slice_dims,
                cost_nanos=cost_nanos,
                unpriced=unpriced,
                requests=requests,
                tokens=sums,
            )
        )
    return slices


def _bucket_slices(
    conn: sqlite3.Connection, p: Period, dims: Sequence[str], filters: Filters
) -> list[_Slice]:
    # Provider buckets are UTC days placed on their UTC date.
    first, last = p.utc_dates_ms()
    available = {"provider", "model", "project", "member", "source"}
    where, args = _where(
        Filters(
            providers=filters.providers,
            models=filters.models,
            projects=filters.projects,
            members=filters.members,
        ),
        available,
    )
    outside, outside_args = _outside_bill_sql()
    rows = conn.execute(
        f"""
        SELECT kind, start_ms, provider, model, CASE WHEN project != '' THEN project ELSE workspace END,
               member, COALESCE(SUM(cost_nanos), 0), SUM(cost_nanos IS NULL), SUM(requests),
               SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_5m_tokens),
               SUM(cache_write_1h_tokens), SUM(web_search_requests), {outside}
        FROM provider_buckets
        WHERE start_ms >= ? AND start_ms < ?{where}
        GROUP BY 1, 2, 3, 4, 5, 6, 16
        """,
        (*outside_args, first, last, *args),
    ).fetchall()
    slices: list[_Slice] = []
    for kind, start_ms, provider, model, project, member, cost, unpriced, requests, *sums, out in rows:
        source = data_source(str(provider), str(kind))
        if filters.sources and source not in filters.sources:
            continue
        values: dict[str, str | None] = {
            "provider": provider,
            "model": model or None,
            "project": project or None,
            "member": member or None,
            "source": source,
            "agent": None,
            "session": None,
        }
        billed = kind == "cost"
        slices.append(
            _Slice(
                layer=BILLED_LAYER if billed else USAGE_LAYER,
                basis="billed" if billed else "estimated",
                local_day=date.fromordinal(_EPOCH_ORDINAL + int(start_ms) // DAY_MS),
                utc_day=int(start_ms) // DAY_MS,
                provider=str(provider),
                model=str(model),
                source=source,
                dims={d: values.get(d) for d in dims if d not in _TIME_DIMS and d != "basis"},
                cost_nanos=int(cost),
                unpriced=int(unpriced) if not billed else 0,
                requests=None if billed else int(requests),
                tokens=None if billed else [int(v) for v in sums],
                outside_bill=bool(out),
            )
        )
    return slices


def _outside_bill_sql() -> tuple[str, list[object]]:
    """A 0/1 column: a usage row in a tier its provider's bill leaves out (OUTSIDE_BILL)."""
    cases = " OR ".join(
        f"(provider = ? AND service_tier IN ({', '.join('?' * len(tiers))}))"
        for tiers in OUTSIDE_BILL.values()
    )
    args: list[object] = []
    for provider, tiers in OUTSIDE_BILL.items():
        args += [provider, *sorted(tiers)]
    return f"(kind = 'usage' AND ({cases or '0'}))", args


def _today(p: Period) -> date:
    return datetime.now(p.tz).date()


def fees_ahead(conn: sqlite3.Connection, p: Period, filters: Filters, today: date) -> Decimal:
    """Subscription fees on the days of ``p`` after ``today``: what a projection adds to the spend
    so far, since get_spend counts a seat's fee only on days that have come."""
    if filters.basis and "subscription" not in filters.basis:
        return Decimal(0)
    future = _subscription_slices(conn, p, (), filters, p.last_day)
    return from_nanos(sum(s.cost_nanos for s in future if s.local_day > today))


def _subscription_slices(
    conn: sqlite3.Connection, p: Period, dims: Sequence[str], filters: Filters, until: date
) -> list[_Slice]:
    """A seat's daily share of its fee on each day of ``p`` up to ``until``."""
    if filters.models or filters.projects:
        return []  # a seat fee belongs to no model or project
    slices: list[_Slice] = []
    for sub in subscriptions.all_subscriptions(conn):
        if filters.providers and sub.vendor not in filters.providers:
            continue
        if filters.members and (sub.member or "") not in filters.members:
            continue
        if filters.sources and "subscription" not in filters.sources:
            continue
        values: dict[str, str | None] = {
            "provider": sub.vendor,
            "member": sub.member,
            "source": "subscription",
            "model": None,
            "project": None,
            "agent": None,
            "session": None,
        }
        for day, nanos in subscriptions.daily_nanos(sub, p.first_day, min(p.last_day, until)):
            slices.append(
                _Slice(
                    layer=SUBSCRIPTION_LAYER,
                    basis="subscription",
                    local_day=day,
                    utc_day=day.toordinal() - _EPOCH_ORDINAL,
                    provider=sub.vendor,
                    model="",
                    source="subscription",
                    dims={d: values.get(d) for d in dims if d not in _TIME_DIMS and d != "basis"},
                    cost_nanos=nanos,
                    unpriced=0,
                    requests=None,
                    tokens=None,
                )
            )
    return slices


def _apply_precedence(
    conn: sqlite3.Connection, slices: list[_Slice], p: Period, settings: Settings, local_only: bool
) -> dict[tuple[str, int], coverage.DayRule]:
    """Mark the slices that only attribute; returns the rule of each synced provider-day (see
    analytics/coverage.py: a report with no rows, or synced within its reporting lag, does not
    replace the layers below it)."""
    subscription = settings.claude_code_billing == "subscription"
    rules: dict[tuple[str, int], coverage.DayRule] = {}
    if not local_only:
        # Local calls near the period's edges can sit on the UTC day before or after it.
        lo, hi = p.utc_dates_ms(margin_days=1)
        rules = coverage.rules(conn, lo, hi, skip_sources=("claude_code",) if subscription else ())
    layer_of = {"cost": BILLED_LAYER, "usage": USAGE_LAYER, None: LOCAL_LAYER}
    for s in slices:
        if s.provider in ATTRIBUTION_ONLY:
            # Per-member estimates of usage that the provider's own reports (and local logs)
            # already count: they say who spent, never how much more was spent.
            s.excluded = f"{s.provider} estimates who used what; the same use is counted elsewhere"
            continue
        rule = rules.get((s.provider, s.utc_day))
        top = layer_of[rule.top] if rule is not None else LOCAL_LAYER
        # Only on a billed day is a tier the bill leaves out added on top of it.
        s.outside_bill = s.outside_bill and top == BILLED_LAYER
        if s.outside_bill:
            pass  # counted as estimated, beside the billed total
        elif s.layer < top:
            s.excluded = (
                f"{s.provider} billing data covers this day and is the total"
                if top == BILLED_LAYER
                else f"{s.provider} usage data covers this day and is the total"
            )
        elif rule is not None and top < s.layer < SUBSCRIPTION_LAYER:
            s.excluded = rule.reason(s.provider, "cost" if s.layer == BILLED_LAYER else "usage")
        elif subscription and s.source in ("claude_code", "claude_code_otel"):
            s.excluded = "Claude Code is covered by a subscription: API-equivalent value, not spend"
    return rules


def _utc_day_range(p: Period) -> tuple[int, int]:
    first, last = p.utc_dates_ms()
    return first // DAY_MS, last // DAY_MS


def _outside_bill_notes(slices: Sequence[_Slice]) -> list[str]:
    counted: dict[str, int] = defaultdict(int)
    for s in slices:
        if s.outside_bill and not s.excluded and s.layer == USAGE_LAYER:
            counted[s.provider] += s.cost_nanos
    return [
        f"{provider}: Priority Tier usage is not in the provider's cost report, so "
        f"{format_usd(from_nanos(nanos))} of it (usage report, priced at standard rates) is counted "
        "as estimated on top of the billed total"
        for provider, nanos in sorted(counted.items())
    ]


# --- grouping -----------------------------------------------------------------------------------


def _dim_value(s: _Slice, d: str, settings: Settings) -> str | None:
    if d == "day":
        return s.local_day.isoformat()
    if d == "week":
        return bucket_start(s.local_day, "week", settings.week_start).isoformat()
    if d == "month":
        return s.local_day.strftime("%Y-%m")
    if d == "basis":
        return s.basis
    return s.dims.get(d)


@dataclass
class _Shown(Generic[_R]):
    """One page of grouped rows, "(other)" rows included (see analytics/rows.py)."""

    rows: list[_R]
    total_rows: int
    truncated: bool
    next_offset: int | None


def _group(
    slices: Iterable[_Slice], dims: Sequence[str], settings: Settings, window: rows.Window | None = None
) -> tuple[_Shown[SpendRow], _Shown[AttributionRow]]:
    counted: dict[tuple[object, ...], _Group] = {}
    attributed: dict[tuple[object, ...], _Group] = {}
    keys: dict[tuple[object, ...], dict[str, str | None]] = {}
    for s in slices:
        group = {d: _dim_value(s, d, settings) for d in dims}
        key = (s.basis, s.excluded, *group.values())
        keys[key] = group
        target = attributed if s.excluded else counted
        g = target.get(key)
        if g is None:
            g = target[key] = _Group(basis=s.basis, reason=s.excluded)
        g.add(s)
    time_dims = [d for d in dims if d in _TIME_DIMS]

    def order(item: tuple[tuple[object, ...], _Group]) -> tuple[object, ...]:
        key, g = item
        group = keys[key]
        return (*(group[d] or "" for d in time_dims), -g.cost_nanos, str(key))

    def size(item: tuple[tuple[object, ...], _Group]) -> int:
        return item[1].cost_nanos

    counted_page = rows.page(sorted(counted.items(), key=order), size, window)
    attributed_page = rows.page(sorted(attributed.items(), key=order), size, window)
    other: dict[str, str | None] = dict.fromkeys(dims, rows.OTHER)
    spend_rows = [_row(keys[k], g) for k, g in counted_page.shown]
    spend_rows += [_row(other, g) for g in _others(g for _, g in counted_page.rest)]
    attribution = [
        AttributionRow(**_row(keys[k], g).model_dump(), reason=g.reason or "")
        for k, g in attributed_page.shown
    ]
    attribution += [
        AttributionRow(**_row(other, g).model_dump(), reason="the attribution rows not shown, summed")
        for g in _others(g for _, g in attributed_page.rest)
    ]
    return (
        _Shown(spend_rows, counted_page.total_rows, counted_page.truncated, counted_page.next_offset),
        _Shown(
            attribution, attributed_page.total_rows, attributed_page.truncated, attributed_page.next_offset
        ),
    )


def _others(groups: Iterable[_Group]) -> list[_Group]:
    """The rows not shown, summed into one row per basis (each row has one basis), so shown rows
    plus these sum exactly to the total, tokens and requests included."""
    by_basis: dict[str, _Group] = {}
    for g in groups:
        acc = by_basis.setdefault(g.basis, _Group(basis=g.basis))
        acc.cost_nanos += g.cost_nanos
        acc.unpriced += g.unpriced
        if g.requests is not None:
            acc.requests = (acc.requests or 0) + g.requests
        if g.tokens is not None:
            acc.tokens = [a + b for a, b in zip(acc.tokens or [0] * 6, g.tokens, strict=True)]
    return [by_basis[b] for b in sorted(by_basis)]


def _row(group: dict[str, str | None], g: _Group) -> SpendRow:
    return SpendRow(
        group=group,
        basis=g.basis,
        cost_usd=from_nanos(g.cost_nanos),
        requests=g.requests,
        tokens=token_totals(g.tokens) if g.tokens is not None else None,
        unpriced_requests=g.unpriced,
    )


# --- freshness and warnings ---------------------------------------------------------------------


def source_statuses(
    conn: sqlite3.Connection, settings: Settings, now: datetime | None = None
) -> list[SourceStatus]:
    """Freshness of every source that has ever run, plus configured providers that never have."""
    moment = now or datetime.now(UTC)
    statuses: list[SourceStatus] = []
    seen: set[str] = set()
    from cost_mcp.sources import agents as agent_logs  # Codex, Gemini CLI...: local logs like Claude Code's

    fed = provider_data_sources(conn)
    for source, last_success, last_error, detail in conn.execute(
        "SELECT source, last_success, last_error, detail FROM source_state ORDER BY source"
    ):
        seen.add(str(source))
        status: Literal["ok", "stale", "error", "never"] = "ok"
        # A source whose key was removed is not failing: it is no longer synced.
        if last_error and settings.has_key_for(str(source)):
            status = "error"
        elif not last_success:
            status = "never"
        elif moment - datetime.fromisoformat(str(last_success)) > STALE_AFTER:
            status = "stale"
        logs = source == "claude_code" or source in agent_logs.SOURCES
        statuses.append(
            SourceStatus(
                source=str(source),
                kind="logs"
                if logs
                else "usage api"
                if source in ATTRIBUTION_ONLY or source in USAGE_ONLY_SOURCES
                else "billing api",
                data_sources=[str(source)] if logs else fed.get(str(source), []),
                status=status,
                last_success=last_success,
                last_error=last_error,
                last_refresh=detail if detail and detail != "{}" else None,
            )
        )
    for spec in registry.providers():
        if settings.provider_key(spec.id) is not None and spec.id not in seen:
            statuses.append(
                SourceStatus(
                    source=spec.id,
                    kind="usage api" if spec.id in USAGE_ONLY_SOURCES else "billing api",
                    status="never",
                    last_success=None,
                    last_error=None,
                )
            )
    return statuses


def _pricing_warnings(
    conn: sqlite3.Connection, p: Period, filters: Filters, slices: Sequence[_Slice]
) -> list[str]:
    """Calls priced with an assumption, and the output lower bound when Claude Code logs count."""
    where, args = _where(filters, set(_LOCAL_DIM_COLUMNS.values()))
    notes = price_note_warnings(conn, f" AND ts_ms >= ? AND ts_ms < ?{where}", [p.start_ms, p.end_ms, *args])
    # Only where the logs count in the result: a day billed by the provider does not rely on them.
    if any(s.source == "claude_code" and not s.excluded and s.tokens and s.tokens[1] for s in slices):
        notes.append(OUTPUT_LOWER_BOUND)
    return notes


def _warnings(
    slices: Sequence[_Slice],
    settings: Settings,
    conn: sqlite3.Connection,
    local_only: bool,
    dims: Sequence[str],
) -> list[str]:
    warnings: list[str] = []
    unpriced: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for s in slices:
        if s.unpriced and not s.excluded:
            unpriced[s.model][0] += s.unpriced
            # An unknown model's calls are all unpriced, except any whose log line reported a
            # costUSD; the tokens of a slice are then a slight overcount, which is fine for a hint.
            unpriced[s.model][1] += sum(s.tokens[:5]) if s.tokens else 0
    for model, (calls, tokens) in sorted(unpriced.items()):
        warnings.append(
            f"{model or '(model not reported)'}: {calls} call(s) ({tokens:,} tokens) have no known price "
            "and are not in the total; "
            f"add the model to the price override file ({settings.prices_file})"
        )
    for status in source_statuses(conn, settings):
        if not settings.has_key_for(status.source) or settings.skips_sync(status.source):
            continue  # no longer synced: its old errors and age are not news on every report
        if status.status == "error":
            warnings.append(
                f"{status.source}: last refresh failed ({status.last_error}); showing earlier data. "
                "If it cannot work with your key, add it to COST_MCP_SYNC_SKIP to stop syncing it"
            )
        elif status.status == "stale":
            warnings.append(f"{status.source}: not refreshed since {status.last_success}")
    if local_only:
        warnings.append(
            "filtered by agent or session: billed data cannot be split that way, so this is estimated usage"
        )
    if any(d in ("agent", "session") for d in dims) and any(s.layer != LOCAL_LAYER for s in slices):
        warnings.append(
            "billed amounts have no agent or session (shown as null); see attribution for the estimated split"
        )
    has_data = conn.execute("SELECT 1 FROM usage_events LIMIT 1").fetchone() is not None or (
        conn.execute("SELECT 1 FROM provider_buckets LIMIT 1").fetchone() is not None
    )
    configured = any(settings.provider_key(spec.id) for spec in registry.providers())
    if not has_data and not configured:
        warnings.append(
            "no data source is connected yet: Claude Code logs are read from "
            + ", ".join(str(r) for r in settings.claude_roots())
            + " (set CLAUDE_CONFIG_DIR if yours are elsewhere); for provider numbers set "
            + " or ".join(
                p.key_env if len(p.required_env) == 1 else " + ".join(p.required_env)
                for p in registry.providers()
            )
            + " (`cost-mcp doctor` shows what each needs); agents can report calls with record_usage"
        )
    return warnings


def team_total_note(conn: sqlite3.Connection, settings: Settings, p: Period, member: str) -> str:
    """What a member's scoped answer says about the whole team: its total for the same period (a
    member sees their own detail and the team's total, never another member's detail)."""
    team = get_spend(conn, settings, p, (), Filters(), take_alerts=False)
    return (
        f"Scoped to your own usage ({member}); the whole team spent {format_usd(team.total_usd)} "
        f"in this period (every member, every basis)."
    )
