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

import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final, Generic, Literal, TypeGuard, TypeVar

from cost_mcp import tokens
from cost_mcp.analytics import coverage, gaps, rows, subscriptions, vocabulary
from cost_mcp.analytics.gaps import Gap
from cost_mcp.analytics.usage import log_notes, price_note_warnings, unpriced_warnings
from cost_mcp.config import Settings, source_provider
from cost_mcp.errors import InvalidInputError
from cost_mcp.models import (
    DIMENSIONS,
    AttributionRow,
    Basis,
    PeriodInfo,
    SourceCoverage,
    SourceStatus,
    SpendResult,
    SpendRow,
    TokenTotals,
    trusted,
)
from cost_mcp.money import format_cost, format_usd, from_nanos, known_cost
from cost_mcp.output import counted
from cost_mcp.periods import (
    TOOL_ARGUMENTS,
    Granularity,
    Period,
    PeriodArguments,
    bucket_days,
    bucket_start,
    calendar_period,
    iso_utc,
    local_date,
    local_midnight,
    offset_ms,
    parse_zone,
    resolve_period,
    to_ms,
    zone_notes,
)
from cost_mcp.sources import azure, registry
from cost_mcp.sources.billing import MAX_SYNC_DAYS
from cost_mcp.sources.logfiles import COPIES_REMOVED
from cost_mcp.store import alerts as alert_store
from cost_mcp.store import otel as otel_store
from cost_mcp.store import rollup, session_rows, source_state
from cost_mcp.store import spend as spend_store
from cost_mcp.store import team as team_store
from cost_mcp.store.buckets import ATTRIBUTION_ONLY, DAY_MS
from cost_mcp.store.connection import Conn
from cost_mcp.store.coverage import latest_covered_by_kind, local_cost
from cost_mcp.store.known import data_source, provider_data_sources
from cost_mcp.store.otel import OtlpSender
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
    filter_project: str | None = None
    """The project a ``projects`` filter matches: a provider bucket's own, never its workspace."""


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
    model_ids: set[str] = field(default_factory=set)
    """Grouped by model: the logged ids of the calls summed here (one model, many spellings)."""
    folded: int = 0
    """An "(other)" row's: how many groups it sums (0 for a group of its own)."""

    def add(self, s: _Slice) -> None:
        self.cost_nanos += s.cost_nanos
        self.unpriced += s.unpriced
        if s.requests is not None:
            self.requests = (self.requests or 0) + s.requests
        if s.tokens is not None:
            self.tokens = tokens.add(self.tokens, s.tokens)


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
    names: PeriodArguments = TOOL_ARGUMENTS,
) -> Period:
    """The period a spend question is about; ``names``: what the caller calls its arguments."""
    return resolve_period(
        period,
        start,
        end,
        tz=parse_zone(timezone, settings.tz),
        week_start=settings.week_start,
        now=now,
        names=names,
    )


def get_spend(
    conn: Conn,
    settings: Settings,
    p: Period,
    group_by: Sequence[str] = (),
    filters: Filters | None = None,
    *,
    take_alerts: bool = True,
    today: date | None = None,
    window: rows.Window | None = None,
    models_as_logged: bool = False,
    member: str | None = None,
    folded: list[dict[str, str | None]] | None = None,
) -> SpendResult:
    """Total and breakdown of spend in period ``p``.

    Rows carry one basis each and sum exactly to the total; attribution rows explain billed
    totals without being added to them. With ``take_alerts`` the result carries (and consumes)
    the budget alerts not shown yet. Subscription fees count up to ``today`` (default: today in
    the period's timezone): the days still to come are for projections (:func:`fees_ahead`).
    ``window`` bounds rows and attribution to one page (analytics/rows.py); None: every row.
    Grouped by model, a row holds one model whatever id each source logged it under
    (``vocabulary.model_key``), named by its id with the most spend; ``models_as_logged`` keeps one
    row per logged id instead, for exports that must name what each source said (and so keeps a
    project's calls stored under Claude Code's folder slug apart from its path, which a breakdown
    shows as one row: :func:`vocabulary.project_paths`). ``member``: the
    team member asking (their filters already name only them), whose warnings name nothing of others.
    ``folded``, when given, is filled with the groups the result's "(other)" rows sum (none when it
    shows every row): the dashboard's filters offer their names, which the result does not carry.

    This is the envelope: it reads the layers (:func:`read_layers`), leaves the arithmetic to the
    pure :func:`count`, and adds freshness, warnings and alerts.
    """
    dims = _check_dims(group_by)
    names = vocabulary.read(conn, p.start_ms)  # quarter-hours before the period wait for their question
    filters, unmatched = names.apply(filters or Filters(), member)
    local_only = _local_only(filters)
    # By session, local rows are grouped (and a page bounded) in SQL, page or not (issue 22): in
    # Python a year's thousands of sessions were one slice per (session, model, day), 2-3x slower.
    by_session = dims == ["session"] and not filters.basis
    layers = read_layers(conn, settings, p, dims, filters, today or _today(p), local=not by_session)
    slices = count(layers, settings, filters)
    if by_session:
        shown, attribution, local_facts = _session_rows(
            conn, settings, p, filters, layers.rules, slices, window
        )
        slices += local_facts
    else:
        shown, attribution = _group(slices, dims, settings, window, merge_models=not models_as_logged)
    # A row of unpriced calls only (cost null) adds nothing: the total is of what has a price.
    total = sum((r.cost_usd or Decimal(0) for r in shown.rows), Decimal(0))
    by_basis, unpriced_by_basis = split_by_basis(
        (r.basis, r.cost_usd or Decimal(0), r.unpriced_requests) for r in shown.rows
    )
    # read once: the warnings and the result show it
    statuses = source_statuses(conn, settings, members=filters.members)
    # A member's warnings say of each source what their sources[] says (catchup.envelope): whether
    # its last sync failed, never the provider's own words nor the server's log readers.
    told = statuses if member is None else member_sources(statuses)
    warnings = _warnings(slices, settings, conn, told, local_only, dims, p.end_ms) + _pricing_warnings(
        conn, p, filters, slices, settings.cost_mode
    )
    warnings += _outside_bill_notes(slices)
    warnings += _utc_day_notes(slices, p)
    warnings += _part_bucket_notes(slices, dims, p, settings)
    warnings += zone_notes(p.tz, p.start_ms)
    if not local_only:
        warnings += _not_usd_warnings(told, settings, p)
    if filters.models or filters.projects or filters.sources:
        # By session the local calls are rows, not slices: what the filter keeps of them is read
        # by day, as the warnings need it (they said nothing of a bill's day by session).
        filtered = (
            [*slices, *_local_by_day(conn, settings, p, filters, layers.rules)] if by_session else slices
        )
        if filters.models:
            warnings += _models_only_estimated(filtered)
        if filters.projects or filters.sources:
            warnings += _split_only_estimated(filtered, filters)
    warnings += stale_push_warnings(conn, p.end_ms, filters.members)
    warnings += copies_removed_notes(told)
    warnings += otel_gap_warnings(conn, p.start_ms, p.end_ms, filters.members)
    warnings += coverage.missing_bill_warnings(
        layers.rules, *_utc_day_range(p), usage_only=USAGE_ONLY_SOURCES
    )
    # read once: what each provider's bill was last synced through, for both kinds of gap below
    covered = {} if local_only else latest_covered_by_kind(conn)
    unreached = {} if local_only else _unreached(conn, covered, p, filters, settings)
    warnings += coverage.unreached_warnings(layers.rules, unreached)
    if not local_only:
        synced = [
            spec.id
            for spec in registry.providers()
            if settings.provider_key(spec.id) is not None
            and not settings.skips_sync(spec.id)
            and (not filters.providers or spec.id in filters.providers)
        ]
        warnings += coverage.unsynced_warnings(
            conn,
            covered,
            layers.rules,
            *_utc_day_range(p),
            synced,
            today=datetime.now(UTC).date().toordinal() - _EPOCH_ORDINAL,
            max_days=MAX_SYNC_DAYS,
        )
    warnings += unmatched
    if member is None and ("member" in dims or filters.members):
        warnings += departed_member_notes(conn, shown.rows, filters.members)
    # By session the priced local calls are rows, not slices (_session_rows): a Codex or Gemini CLI
    # user's sessions were listed under "no calls are recorded" in the same answer.
    empty = not slices and not shown.total_rows
    if empty and member is None and not any(getattr(filters, f.name) for f in fields(filters)):
        warnings += _recorded_elsewhere(conn, p)
    warnings += names.rebuild_warnings()
    if folded is not None:
        folded[:] = shown.folded
    next_cursor, paging_notes = rows.follow(window, shown, attribution)
    warnings += paging_notes
    return SpendResult(
        period=period_info(p),
        total_usd=total,
        unpriced_requests=sum(unpriced_by_basis.values()),
        by_basis=by_basis,
        unpriced_by_basis=unpriced_by_basis,
        group_by=list(dims),
        rows=shown.rows,
        attribution=attribution.rows,
        truncated=shown.truncated or attribution.truncated,
        total_rows=shown.total_rows,
        attribution_total_rows=attribution.total_rows,
        next_cursor=next_cursor,
        sources=coverage.attach(statuses, _kept_coverage(layers.rules, p, unreached, filters)),
        warnings=warnings,
        alerts=alert_store.take(conn) if take_alerts else [],
    )


def _kept_coverage(
    rules: dict[tuple[str, int], coverage.DayRule],
    p: Period,
    unreached: dict[str, tuple[coverage.Report, list[int]]],
    filters: Filters,
) -> dict[str, SourceCoverage]:
    """Each provider's coverage of ``p``, of the providers the filters keep: asked for Anthropic
    alone, the answer (and `cost-mcp report`'s and the dashboard's "partial:" lines drawn from it)
    told of OpenAI's bill for today being "billed so far", an amount the answer does not hold."""
    found = coverage.summaries(rules, *_utc_day_range(p), unreached)
    return {k: v for k, v in found.items() if not filters.providers or k in filters.providers}


def _recorded_elsewhere(conn: Conn, p: Period) -> list[str]:
    """Where the calls are when a period has none. A ccusage user's first `cost-mcp report` showed
    this month's $0.00, and nothing said the ledger held months of calls before it."""
    span = spend_store.counted_span(conn)
    if span is None:
        return []
    first, last = (local_date(ms, p.tz) for ms in span)
    return [
        f"no calls are recorded from {p.first_day.isoformat()} to {p.last_day.isoformat()}; the ledger "
        f"holds calls from {first.isoformat()} to {last.isoformat()}: ask for a period that covers "
        f"them, such as {first.isoformat()}..{last.isoformat()}"
    ]


def _unreached(
    conn: Conn, covered: dict[tuple[str, str], int], p: Period, filters: Filters, settings: Settings
) -> dict[str, tuple[coverage.Report, list[int]]]:
    """The days of ``p`` each provider's bill has not reached yet (:func:`coverage.unreached_days`),
    of the providers the filters keep.

    Those are the UTC days its bills sit on, and also, away from UTC, the UTC day before or after
    them that its local calls reach (a Los Angeles evening is the next UTC day) when the provider
    has calls there: they count as estimates in this answer as on any day the bill has not reached.
    """
    first, end = _utc_day_range(p)
    lo, hi = min(first, p.start_ms // DAY_MS), max(end, -(-p.end_ms // DAY_MS))
    skip = not_spend_sources(settings)
    found = coverage.unreached_days(conn, covered, lo, hi, usage_only=USAGE_ONLY_SOURCES)
    out: dict[str, tuple[coverage.Report, list[int]]] = {}
    for provider, (report, days) in found.items():
        if filters.providers and provider not in filters.providers:
            continue
        kept = [
            d
            for d in days
            if first <= d < end or local_cost(conn, provider, d, skip, settings.cost_mode) is not None
        ]
        if kept:
            out[provider] = (report, kept)
    return out


@dataclass
class Layers:
    """What spend is computed from: every layer's slices of a period and the rule of each synced
    provider-day (empty when the question is answered from local calls only)."""

    slices: list[_Slice]
    rules: dict[tuple[str, int], coverage.DayRule]


def _local_only(filters: Filters) -> bool:
    # Billed data cannot say which agent or session spent it: a question filtered that way is
    # answered from the calls recorded locally.
    return bool(filters.agents or filters.sessions)


def read_layers(
    conn: Conn,
    settings: Settings,
    p: Period,
    dims: Sequence[str],
    filters: Filters,
    today: date,
    *,
    local: bool = True,
) -> Layers:
    """The ledger reads get_spend needs for ``p`` (filters already expanded): local calls, provider
    buckets and seat fees up to ``today``, and the day rules of synced reports. ``local=False``
    leaves the local calls out (the session page reads them grouped in SQL)."""
    slices = _local_slices(conn, settings, p, dims, filters) if local else []
    if _local_only(filters):
        return Layers(slices, {})
    slices += _bucket_slices(conn, p, dims, filters)
    slices += _subscription_slices(conn, p, dims, filters, today)
    return Layers(slices, day_rules(conn, settings, p))


def day_rules(conn: Conn, settings: Settings, p: Period) -> dict[tuple[str, int], coverage.DayRule]:
    """The rule of each synced provider-day of ``p`` and the day either side of it (local calls
    near the period's edges can sit on the UTC day before or after it)."""
    lo, hi = p.utc_dates_ms(margin_days=1)
    return coverage.rules(
        conn, lo, hi, skip_sources=not_spend_sources(settings), cost_mode=settings.cost_mode
    )


def local_call_counts(conn: Conn, settings: Settings, provider: str, ts_ms: int) -> bool:
    """Whether a call recorded on this machine (record_usage's) by ``provider`` at ``ts_ms`` counts
    in totals and budgets by its estimate, as :func:`_apply_precedence` decides: not when a
    provider's report is its UTC day's total (the report counts it; the estimate only attributes),
    nor for a provider whose data only attribute."""
    if provider in ATTRIBUTION_ONLY:
        return False
    day = ts_ms // DAY_MS
    rule = coverage.rules(
        conn,
        day * DAY_MS,
        (day + 1) * DAY_MS,
        skip_sources=not_spend_sources(settings),
        cost_mode=settings.cost_mode,
    ).get((provider, day))
    return not _gives_way(rule, LOCAL_LAYER)


def not_spend_sources(settings: Settings) -> tuple[str, ...]:
    """The local sources whose calls are not spend (Claude Code covered by a subscription)."""
    return ("claude_code",) if settings.claude_code_billing == "subscription" else ()


def set_aside(
    rules: dict[tuple[str, int], coverage.DayRule],
    settings: Settings,
    *,
    kind: Literal["cost", "usage", "event"],
    provider: str,
    utc_day: int,
    source: str,
    outside_bill: bool = False,
) -> str | None:
    """Why one stored row (a call, or a provider bucket of ``kind``) only attributes and is not
    in the total, by the same precedence the totals apply; None: it counts. For exports, whose
    rows must add up to the total that get_spend gives."""
    layer = {"cost": BILLED_LAYER, "usage": USAGE_LAYER, "event": LOCAL_LAYER}[kind]
    probe = _Slice(
        layer=layer,
        basis="billed" if kind == "cost" else "estimated",
        local_day=date.fromordinal(_EPOCH_ORDINAL + utc_day),
        utc_day=utc_day,
        provider=provider,
        model="",
        source=source,
        dims={},
        cost_nanos=0,
        unpriced=0,
        requests=None,
        tokens=None,
        outside_bill=outside_bill,
    )
    _apply_precedence([probe], rules, settings)
    return probe.excluded


def count(layers: Layers, settings: Settings, filters: Filters) -> list[_Slice]:
    """The slices with what only attributes marked (precedence), kept to the filtered bases.

    Pure: it marks ``layers.slices`` in place and reads nothing."""
    _apply_precedence(layers.slices, layers.rules, settings)
    if filters.basis:
        return [s for s in layers.slices if s.basis in filters.basis]
    return layers.slices


def split_by_basis(parts: Iterable[tuple[str, Decimal, int]]) -> tuple[dict[str, Decimal], dict[str, int]]:
    """(basis, amount, unpriced calls) parts as amounts by basis and, beside them, the calls each
    leaves out (bases that have any): one way for get_spend's ``by_basis`` and a budget's
    ``spent_by_basis``, where a basis of unpriced calls only read "$0" with nothing beside it."""
    amounts: dict[str, Decimal] = defaultdict(Decimal)
    unpriced: dict[str, int] = defaultdict(int)
    for basis, amount, calls in parts:
        amounts[basis] += amount
        if calls:
            unpriced[basis] += calls
    return dict(amounts), dict(unpriced)


@dataclass(frozen=True)
class SpendTotal:
    """What :func:`spend_totals` gives per question: exactly get_spend's total, by basis, and the
    calls that could not be priced, by basis."""

    total_usd: Decimal
    by_basis: dict[str, Decimal]
    unpriced_by_basis: dict[str, int]
    set_aside_usd: Decimal = Decimal(0)
    """Estimates of calls in scope that count nothing because a provider's report is their day's
    total, on the days none of that report's rows match the filters (a bill by workspace matches
    no project; a bill is no local source)."""

    @property
    def unpriced_requests(self) -> int:
        """Calls with no known price, of every basis."""
        return sum(self.unpriced_by_basis.values())


def spend_totals(
    conn: Conn,
    settings: Settings,
    questions: Sequence[tuple[Period, Filters]],
    today: date,
    names: vocabulary.Names | None = None,
) -> list[SpendTotal]:
    """get_spend's totals for several (period, filters) questions from ONE read of the ledger.

    Budgets ask this for all their periods and scopes at once (record_usage with five budgets reads
    the ledger once, not ten times). Every period must be in one timezone; filters may name
    providers, models, projects, agents, members and sources (a budget scope's dimensions) and
    bases. A question about members (a team budget) reads its own layers, as get_spend does: the
    one read does not group by member. ``names``: the ledger's names read (the rollup refreshed)
    from the earliest period's start or before, by a caller that needed them first
    (check_budget); else read here.
    """
    if not questions:
        return []
    tz = questions[0][0].tz
    if any(p.tz != tz for p, _ in questions):
        raise ValueError("spend_totals needs every period in one timezone")
    if any(f.sessions for _, f in questions):
        raise ValueError("spend_totals filters by a budget scope's dimensions only")
    union = Period(
        start=min(p.start for p, _ in questions), end=max(p.end for p, _ in questions), name="union", tz=tz
    )
    if names is None:
        names = vocabulary.read(
            conn, union.start_ms
        )  # a budget's month: not what a re-price marked years ago
    expanded = [_expanded(names, f) for _, f in questions]
    # Slices carry provider, model, source and agent; projects only when some question filters by
    # them (grouping by project multiplies the rows read).
    dims = ("agent", "project") if any(f.projects for f in expanded if not f.members) else ("agent",)
    shared = [f for f in expanded if not f.members]
    layers = read_layers(conn, settings, union, dims, Filters(), today) if shared else Layers([], {})
    out: list[SpendTotal] = []
    for (p, _), f in zip(questions, expanded, strict=True):
        if f.members:
            kept = count(read_layers(conn, settings, p, (), f, today), settings, f)
            out.append(_total_of(kept))
            continue
        local_only = _local_only(f)
        within = _Within.of(p, today)
        mine = [
            _copy(s)
            for s in layers.slices
            if within.has(s) and _in_scope(s, f) and (not local_only or s.layer == LOCAL_LAYER)
        ]
        out.append(_total_of(count(Layers(mine, {} if local_only else layers.rules), settings, f)))
    return out


def _total_of(kept: Sequence[_Slice]) -> SpendTotal:
    """A question's :class:`SpendTotal` from its counted slices."""
    by_basis, unpriced_by_basis = split_by_basis(
        (s.basis, from_nanos(s.cost_nanos), s.unpriced) for s in kept if not s.excluded
    )
    # Only where no row of the report counts in scope: a bill row the scope keeps (a source
    # scope naming "<provider>-costs", a model the bill names) stands for those calls.
    aside = sum(_set_aside_unreplaced(kept).values())
    return SpendTotal(
        total_usd=sum(by_basis.values(), Decimal(0)),
        by_basis=by_basis,
        unpriced_by_basis=unpriced_by_basis,
        set_aside_usd=from_nanos(aside),
    )


def _expanded(names: vocabulary.Names, f: Filters) -> Filters:
    """``f`` as stored values (``Names.apply`` without its warnings, which budgets do not show)."""
    changes: dict[str, list[str]] = {}
    for attr, dimension in vocabulary.FILTER_DIMENSIONS.items():
        values: Sequence[str] | None = getattr(f, attr)
        if values:
            changes[attr] = names.expand(dimension, values)
    return replace(f, **changes)


def _copy(s: _Slice) -> _Slice:
    # Precedence marks slices in place and each question marks its own; a plain attribute copy is
    # several times cheaper than dataclasses.replace, which re-runs __init__.
    c = _Slice.__new__(_Slice)
    c.__dict__.update(s.__dict__)
    return c


@dataclass(frozen=True)
class _Within:
    """What get_spend's three readers take of a period (bounds computed once per question)."""

    first_day: date
    last_day: date
    fees_until: date
    first_utc_day: int
    end_utc_day: int

    @classmethod
    def of(cls, p: Period, today: date) -> _Within:
        first, last = p.utc_dates_ms()
        return cls(p.first_day, p.last_day, min(p.last_day, today), first // DAY_MS, last // DAY_MS)

    def has(self, s: _Slice) -> bool:
        if s.layer == LOCAL_LAYER:
            return self.first_day <= s.local_day <= self.last_day
        if s.layer == SUBSCRIPTION_LAYER:
            return self.first_day <= s.local_day <= self.fees_until
        return self.first_utc_day <= s.utc_day < self.end_utc_day


def _in_scope(s: _Slice, f: Filters) -> bool:
    """Whether ``s`` passes filters ``f`` exactly as the readers' SQL and checks would."""
    if s.layer == SUBSCRIPTION_LAYER:
        if f.models or f.projects:
            return False  # a seat fee belongs to no model or project
        return (not f.providers or s.provider in f.providers) and (
            not f.sources or "subscription" in f.sources
        )
    project = s.filter_project if s.layer != LOCAL_LAYER else s.dims.get("project")
    pairs: list[tuple[Sequence[str] | None, str | None]] = [
        (f.providers, s.provider),
        (f.models, s.model),
        (f.projects, project),
        (f.sources, s.source),
    ]
    if s.layer == LOCAL_LAYER:
        pairs.append((f.agents, s.dims.get("agent")))
    elif f.agents:
        return False
    return all(not allowed or (value is not None and value in allowed) for allowed, value in pairs)


def _check_dims(group_by: Sequence[str]) -> list[str]:
    dims: list[str] = []
    for d in group_by:
        if d not in DIMENSIONS:
            raise InvalidInputError(f"cannot group by {d!r}; use any of: {', '.join(DIMENSIONS)}")
        if d not in dims:
            dims.append(d)
    return dims


# --- reading the layers -------------------------------------------------------------------------


def _offsets(p: Period) -> tuple[list[tuple[int, int]], int]:
    """The UTC offset of ``p``'s timezone before each change inside the period, and after the last.

    The offset is piecewise constant between DST transitions; the transitions inside the period are
    found exactly (to the quarter-hour, which all real ones fall on).
    """
    changes: list[tuple[int, int]] = []
    offset = offset_ms(p.tz, p.start_ms)
    t = p.start_ms
    day = p.first_day
    while t < p.end_ms:
        day += timedelta(days=1)
        next_midnight = to_ms(datetime.combine(day, datetime.min.time(), tzinfo=p.tz))
        if offset_ms(p.tz, next_midnight) != offset:
            change = next(q for q in range(t, next_midnight + QH_MS, QH_MS) if offset_ms(p.tz, q) != offset)
            changes.append((change, offset))
            offset = offset_ms(p.tz, change)
        t = next_midnight
    return changes, offset


def _local_slices(
    conn: Conn, settings: Settings, p: Period, dims: Sequence[str], filters: Filters
) -> list[_Slice]:
    # What precedence and the warnings read; any other column only when grouped by (spend_totals
    # asks for agent), as each multiplies the rows read (agent: x1.6 on the 1M ledger, issue 22).
    fixed = ("provider", "model", "source")
    dim_cols = [rollup.DIMENSION_COLUMNS[d] for d in dims if d in rollup.DIMENSION_COLUMNS and d not in fixed]
    changes, last_offset = _offsets(p)
    slices: list[_Slice] = []
    for row in spend_store.local_sums(
        conn,
        # Period bounds are local midnights, which fall on quarter-hours in every timezone.
        lo_qh=p.start_ms // QH_MS,
        hi_qh=-(-p.end_ms // QH_MS),
        offsets=changes,
        last_offset=last_offset,
        group_columns=[*fixed, *dim_cols],
        cost_mode=settings.cost_mode,
        filters=filters.column_filters(),
    ):
        values = row.values
        slices.append(
            _Slice(
                layer=LOCAL_LAYER,
                basis="estimated",
                local_day=date.fromordinal(_EPOCH_ORDINAL + row.local_day),
                utc_day=row.utc_day,
                provider=str(values["provider"]),
                model=str(values["model"]),
                source=str(values["source"]),
                dims={d: values.get(rollup.DIMENSION_COLUMNS.get(d, "")) for d in dims},
                cost_nanos=row.cost_nanos,
                unpriced=row.unpriced,
                requests=row.requests,
                tokens=row.tokens,
            )
        )
    return slices


def _bucket_slices(conn: Conn, p: Period, dims: Sequence[str], filters: Filters) -> list[_Slice]:
    # Provider buckets are UTC days placed on their UTC date.
    first, last = p.utc_dates_ms()
    wanted = Filters(
        providers=filters.providers, models=filters.models, projects=filters.projects, members=filters.members
    )
    slices: list[_Slice] = []
    for b in spend_store.bucket_sums(conn, first, last, wanted.column_filters()):
        source = data_source(b.provider, b.kind)
        if filters.sources and source not in filters.sources:
            continue
        values: dict[str, str | None] = {
            "provider": b.provider,
            "model": b.model or None,
            "project": b.project or None,
            "member": b.member or None,
            "source": source,
            "agent": None,
            "session": None,
        }
        billed = b.kind == "cost"
        slices.append(
            _Slice(
                layer=BILLED_LAYER if billed else USAGE_LAYER,
                basis="billed" if billed else "estimated",
                local_day=date.fromordinal(_EPOCH_ORDINAL + b.start_ms // DAY_MS),
                utc_day=b.start_ms // DAY_MS,
                provider=b.provider,
                model=b.model,
                source=source,
                dims={d: values.get(d) for d in dims if d not in _TIME_DIMS and d != "basis"},
                cost_nanos=b.cost_nanos,
                unpriced=b.unpriced if not billed else 0,
                # Anthropic's usage report counts tokens, not requests: its 0 is "not counted", and
                # read as "no calls" beside a cost (a day bucket has at least one call).
                requests=None if billed or not b.requests else b.requests,
                tokens=None if billed else b.tokens,
                outside_bill=b.outside_bill,
                filter_project=None if b.project_is_workspace else b.project,
            )
        )
    return slices


def _today(p: Period) -> date:
    return datetime.now(p.tz).date()


def fees_ahead(conn: Conn, p: Period, filters: Filters, today: date) -> Decimal:
    """Subscription fees on the days of ``p`` after ``today``: what a projection adds to the spend
    so far, since get_spend counts a seat's fee only on days that have come."""
    if filters.basis and "subscription" not in filters.basis:
        return Decimal(0)
    future = _subscription_slices(conn, p, (), filters, p.last_day)
    return from_nanos(sum(s.cost_nanos for s in future if s.local_day > today))


def _subscription_slices(
    conn: Conn, p: Period, dims: Sequence[str], filters: Filters, until: date
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
    slices: list[_Slice], rules: dict[tuple[str, int], coverage.DayRule], settings: Settings
) -> None:
    """Mark the slices that only attribute, by the rule of each synced provider-day (see
    analytics/coverage.py: a report with no rows, or synced within its reporting lag, does not
    replace the layers below it)."""
    subscription = settings.claude_code_billing == "subscription"
    for s in slices:
        if s.provider in ATTRIBUTION_ONLY:
            # Per-member estimates of usage that the provider's own reports (and local logs)
            # already count: they say who spent, never how much more was spent.
            s.excluded = _attribution_only(s.provider)
            continue
        rule = rules.get((s.provider, s.utc_day))
        top = _top_layer(rule)
        # Only on a billed day is a tier the bill leaves out added on top of it.
        s.outside_bill = s.outside_bill and top == BILLED_LAYER
        if s.outside_bill:
            pass  # counted as estimated, beside the billed total
        elif _gives_way(rule, s.layer):
            s.excluded = rule.covered(s.provider)
        elif rule is not None and top < s.layer < SUBSCRIPTION_LAYER:
            s.excluded = rule.reason(s.provider, "cost" if s.layer == BILLED_LAYER else "usage")
        elif subscription and s.source in _SUBSCRIPTION_SOURCES:
            s.excluded = _SUBSCRIPTION_REASON


_LAYER_OF = {"cost": BILLED_LAYER, "usage": USAGE_LAYER, None: LOCAL_LAYER}
"""The layer of each report kind a day rule's ``top`` names; None: no report is the day's total."""


def _top_layer(rule: coverage.DayRule | None) -> int:
    """The layer whose data is a provider-day's total by its ``rule`` (the local one without)."""
    return LOCAL_LAYER if rule is None else _LAYER_OF[rule.top]


def _gives_way(rule: coverage.DayRule | None, layer: int) -> TypeGuard[coverage.DayRule]:
    """Whether data of ``layer`` on a provider-day of ``rule`` only attributes because a higher
    layer's report is that day's total (the report counts it): the one rule for the slices
    (:func:`_apply_precedence`) and a call just recorded (:func:`local_call_counts`)."""
    return rule is not None and layer < _top_layer(rule)


# The reasons local rows only attribute, shared with the session rows in SQL (_local_rules).
_SUBSCRIPTION_SOURCES = ("claude_code", "claude_code_otel")
_SUBSCRIPTION_REASON = "Claude Code is covered by a subscription: API-equivalent value, not spend"


def _attribution_only(provider: str) -> str:
    return f"{provider} estimates who used what; the same use is counted elsewhere"


def _utc_day_range(p: Period) -> tuple[int, int]:
    first, last = p.utc_dates_ms()
    return first // DAY_MS, last // DAY_MS


def _models_only_estimated(slices: Sequence[_Slice]) -> list[str]:
    """Under a model filter, a warning per provider and model whose estimates are all set aside
    because the provider's bill (or usage report) is those days' total, while that report has no
    row of the model: its total here is $0 though the estimates say it was used. The provider's
    day total is still right; only the per-model split is the report's, which may name the model
    otherwise or not at all."""
    aside: dict[tuple[str, str], int] = defaultdict(int)
    counted: set[tuple[str, str]] = set()
    names: dict[tuple[str, str], str] = {}
    for s in slices:
        key = (s.provider, vocabulary.model_key(s.model))
        if not s.excluded:
            counted.add(key)
        elif (
            s.layer == LOCAL_LAYER
            and s.provider not in ATTRIBUTION_ONLY
            and s.excluded != _SUBSCRIPTION_REASON
        ):
            aside[key] += s.cost_nanos
            names.setdefault(key, s.model)
    return [
        f"{names[key]}: {format_usd(from_nanos(nanos))} of its estimated use is on days {key[0]}'s "
        "own report is the total, and that report has no row of this model, so it counts $0 here "
        f"(listed under attribution); {key[0]}'s total for those days is right, only its split by "
        "model lacks it"
        for key, nanos in sorted(aside.items())
        if key not in counted and nanos
    ]


def _set_aside_unreplaced(slices: Iterable[_Slice]) -> dict[str, int]:
    """Per provider, the estimates of ``slices`` set aside because its report is their day's total
    (not a subscription's value, nor attribution-only data) on the UTC days where no row of that
    report is counted among ``slices``: what a filter the report's rows do not pass (a project,
    a local source, a model) leaves out of its answer, though the calls were spent."""
    reported = {
        (s.provider, s.utc_day) for s in slices if s.layer in (BILLED_LAYER, USAGE_LAYER) and not s.excluded
    }
    aside: dict[str, int] = defaultdict(int)
    for s in slices:
        if (
            s.layer == LOCAL_LAYER
            and s.excluded
            and s.excluded != _SUBSCRIPTION_REASON
            and s.provider not in ATTRIBUTION_ONLY
            and (s.provider, s.utc_day) not in reported
        ):
            aside[s.provider] += s.cost_nanos
    return aside


def _split_only_estimated(slices: Sequence[_Slice], filters: Filters) -> list[str]:
    """Under a project or source filter, a warning per provider whose estimates the filter keeps are
    set aside on days its own report is the total while that report has no row the filter keeps (a
    bill by workspace names no project; a bill is no local source): the filtered total lacks them,
    though the provider's total is right. The model filter's own warning is
    :func:`_models_only_estimated`."""
    what = " and ".join(w for w, on in (("project", filters.projects), ("source", filters.sources)) if on)
    return [
        f"{provider}: {format_usd(from_nanos(nanos))} of estimated use this {what} filter keeps is on days "
        f"{provider}'s own report is the total, which has no row the filter keeps, so it counts $0 here "
        f"(listed under attribution); {provider}'s total for those days is right, only its split by "
        f"{what} lacks it"
        for provider, nanos in sorted(_set_aside_unreplaced(slices).items())
        if nanos
    ]


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


def _utc_day_notes(slices: Sequence[_Slice], p: Period) -> list[str]:
    """In a timezone other than UTC, where provider reports are in the answer: that their days are
    UTC days, on their UTC date, while local calls sit on their local date.

    The QA case (h-qatime F2): in Los Angeles, a call made on the evening of Nov 1 was listed under
    Nov 1 as covered by a bill ("covers this day") that the answer showed under Nov 2, its UTC date,
    and nothing said why.
    """
    if not any(s.layer in (USAGE_LAYER, BILLED_LAYER) for s in slices):
        return []
    changes, offset = _offsets(p)  # after the cheap test: 60 ms over 20 years
    if not changes and offset == 0:
        return []
    first = p.first_day
    starts = datetime.combine(first, datetime.min.time(), tzinfo=UTC).astimezone(p.tz)
    when = "that day" if starts.date() == first else "the day before"
    return [
        f"provider reports (bills, usage reports) are per UTC day and sit on their UTC date; calls recorded "
        f"locally sit on their {p.tz.key} date: the report of {first.isoformat()} began at "
        f"{starts:%H:%M} {when} in {p.tz.key}, and a local call on the UTC day of a report that is the "
        "total only attributes"
    ]


def _part_bucket_notes(
    slices: Sequence[_Slice], dims: Sequence[str], p: Period, settings: Settings
) -> list[str]:
    """By week or month, the rows of a week or month the period holds only part of, with the days
    they hold: a week's row is named by its first day, and January by week began with a row
    "2026-12-28" holding only Jan 1-3, read beside whole weeks as a cheap one."""
    notes: list[str] = []
    for granularity in ("week", "month"):
        if granularity not in dims:
            continue
        edges = {
            b.first_day: b
            for b in (
                calendar_period(granularity, local_midnight(d, p.tz), tz=p.tz, week_start=settings.week_start)
                for d in (p.first_day, p.last_day)
            )
        }
        for bucket in edges.values():
            first, last = max(bucket.first_day, p.first_day), min(bucket.last_day, p.last_day)
            if (first, last) == (bucket.first_day, bucket.last_day):
                continue
            if not any(first <= s.local_day <= last for s in slices):
                continue  # no row to misread
            label = bucket.first_day.isoformat() if granularity == "week" else f"{bucket.first_day:%Y-%m}"
            span = first.isoformat() if first == last else f"{first.isoformat()} to {last.isoformat()}"
            notes.append(
                f"the {granularity} row {label} holds only {span}, the days of its {granularity} "
                f"({bucket.first_day.isoformat()} to {bucket.last_day.isoformat()}) inside the period"
            )
    return notes


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


_NONE_BEFORE = rows.NONE_BEFORE  # _Shown's field `rows` hides the module in its body


@dataclass
class _Shown(Generic[_R]):
    """One page of grouped rows, "(other)" rows included (see analytics/rows.py)."""

    rows: list[_R]
    total_rows: int
    truncated: bool
    next_offset: int | None
    folded: list[dict[str, str | None]] = field(default_factory=list)
    """The groups the "(other)" rows sum."""
    before: bytes = _NONE_BEFORE
    """The mark of the rows before this page, and through it (rows.Page's)."""
    through: bytes = b""


def _group(
    slices: Iterable[_Slice],
    dims: Sequence[str],
    settings: Settings,
    window: rows.Window | None = None,
    *,
    merge_models: bool = True,
) -> tuple[_Shown[SpendRow], _Shown[AttributionRow]]:
    counted: dict[tuple[object, ...], _Group] = {}
    attributed: dict[tuple[object, ...], _Group] = {}
    keys: dict[tuple[object, ...], dict[str, str | None]] = {}
    by_model = merge_models and "model" in dims
    models = vocabulary.ModelNames()
    by_project = merge_models and "project" in dims
    if by_project:
        # A session's lines with no usable cwd are stored under the folder's slug: shown as logged,
        # one folder was two rows, its path and "-home-dev-app".
        slices = list(slices)
        models.see_projects(s.dims.get("project") for s in slices)
    for s in slices:
        group = {d: _dim_value(s, d, settings) for d in dims}
        if by_project and (project := group["project"]):
            group["project"] = models.project(project)
        logged = group["model"] if by_model else None
        if by_model:
            # One row per model, whatever id each log spelt it with (vocabulary.model_key, the rule
            # model filters and budget scopes count by): three ids of Sonnet 4.5 were three rows.
            group["model"] = None if logged is None else models.add(logged, s.cost_nanos, s.requests or 0)
        key = (s.basis, s.excluded, *group.values())
        keys[key] = group
        target = attributed if s.excluded else counted
        g = target.get(key)
        if g is None:
            g = target[key] = _Group(basis=s.basis, reason=s.excluded)
        g.add(s)
        if logged is not None:
            g.model_ids.add(logged)
    if by_model:
        for group in keys.values():
            model = group["model"]
            group["model"] = None if model is None else models.name(model)
    time_dims = [d for d in dims if d in _TIME_DIMS]

    def order(item: tuple[tuple[object, ...], _Group]) -> tuple[object, ...]:
        key, g = item
        group = keys[key]
        return (*(group[d] or "" for d in time_dims), -g.cost_nanos, str(key))

    def size(item: tuple[tuple[object, ...], _Group]) -> int:
        return item[1].cost_nanos

    def name(item: tuple[tuple[object, ...], _Group]) -> object:
        return item[0]

    counted_page = rows.page(sorted(counted.items(), key=order), size, window, name)
    attributed_page = rows.page(sorted(attributed.items(), key=order), size, window, name)
    other: dict[str, str | None] = dict.fromkeys(dims, rows.OTHER)
    spend_rows = [_row(keys[k], g) for k, g in counted_page.shown]
    spend_rows += [_row(other, g) for g in _others(g for _, g in counted_page.rest)]
    attribution = [_attribution_row(keys[k], g, g.reason or "") for k, g in attributed_page.shown]
    attribution += [
        _attribution_row(other, g, "the attribution rows not shown, summed")
        for g in _others(g for _, g in attributed_page.rest)
    ]
    return (
        _Shown(
            spend_rows,
            counted_page.total_rows,
            counted_page.truncated,
            counted_page.next_offset,
            [keys[k] for k, _ in counted_page.rest],
            counted_page.before,
            counted_page.through,
        ),
        _Shown(
            attribution,
            attributed_page.total_rows,
            attributed_page.truncated,
            attributed_page.next_offset,
            before=attributed_page.before,
            through=attributed_page.through,
        ),
    )


def _others(groups: Iterable[_Group]) -> list[_Group]:
    """The rows not shown, summed into one row per basis (each row has one basis), so shown rows
    plus these sum exactly to the total, tokens and requests included."""
    by_basis: dict[str, _Group] = {}
    for g in groups:
        acc = by_basis.setdefault(g.basis, _Group(basis=g.basis))
        acc.folded += g.folded or 1  # a sum of groups already (the local sessions past a page) counts them
        acc.cost_nanos += g.cost_nanos
        acc.unpriced += g.unpriced
        if g.requests is not None:
            acc.requests = (acc.requests or 0) + g.requests
        if g.tokens is not None:
            acc.tokens = tokens.add(acc.tokens, g.tokens)
    return [by_basis[b] for b in sorted(by_basis)]


def _row(group: dict[str, str | None], g: _Sums) -> SpendRow:
    return trusted(SpendRow, _fields(group, g))


def _attribution_row(group: dict[str, str | None], g: _Sums, reason: str) -> AttributionRow:
    fields = _fields(group, g)
    fields["reason"] = reason
    return trusted(AttributionRow, fields)


def _fields(group: dict[str, str | None], g: _Sums) -> dict[str, Any]:
    """A row's fields, from sums grouped here or a local session's sums as the store gave them."""
    return _row_fields(group, g) if isinstance(g, _Group) else _session_fields(group, g)


def _row_fields(group: dict[str, str | None], g: _Group) -> dict[str, Any]:
    # Rows are not validated again (models.trusted): a breakdown by session has thousands, and
    # validation was most of their cost. Hence every value exactly of its field's type here: the
    # int() of a count is what validation did to a NUMERIC (Decimal), and the group is copied,
    # as validation copies a dict (the "other" rows share one).
    return {
        "group": dict(group),
        "basis": g.basis,
        "cost_usd": known_cost(from_nanos(int(g.cost_nanos)), g.requests, int(g.unpriced)),
        "requests": None if g.requests is None else int(g.requests),
        "tokens": trusted(TokenTotals, tokens.as_fields(g.tokens)) if g.tokens is not None else None,
        "unpriced_requests": int(g.unpriced),
        "model_ids": _merged(group, g.model_ids),
        "folded_rows": g.folded or None,
        "complete": True,  # what the answer lacks is weighed by its envelope (Lacking.rows)
    }


def _merged(group: dict[str, str | None], ids: set[str]) -> list[str] | None:
    """The ids a row's model counts, unless that is only the one it shows."""
    return sorted(ids) if ids and ids != {group.get("model")} else None


# --- freshness and warnings ---------------------------------------------------------------------


def source_statuses(
    conn: Conn,
    settings: Settings,
    now: datetime | None = None,
    members: Sequence[str] | None = None,
    *,
    data_sources: bool = True,
) -> list[SourceStatus]:
    """Freshness of every source that has ever run, plus configured providers that never have, on
    a team server when each laptop last pushed, and when the OTLP receiver last accepted events of
    each agent (only ``members``' laptops and events, with them).
    Without ``data_sources`` each provider's ``data_sources`` is left empty (a read of every bucket's
    provider and kind: ~10 ms on 200k buckets), for callers that only weigh freshness."""
    moment = now or datetime.now(UTC)
    statuses: list[SourceStatus] = []
    seen: set[str] = set()
    from cost_mcp.sources import agents as agent_logs  # Codex, Gemini CLI...: local logs like Claude Code's

    fed = provider_data_sources(conn) if data_sources else {}
    for state in source_state.all_states(conn):
        source, last_success, last_error, detail = (
            state.source,
            state.last_success,
            state.last_error,
            state.detail,
        )
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
    # Imported here, as analytics.budgets does: the team store is a team server's (~6 ms at start).

    for sender in team_store.push_senders(conn, members):
        last = datetime.fromtimestamp(sender.last_ms / 1000, UTC)
        heard = datetime.fromtimestamp(sender.last_heard_ms / 1000, UTC)
        statuses.append(
            SourceStatus(
                source=f"push:{sender.token_name}",
                kind="push",
                # Only a date for a laptop that never beat: one nobody used pushes nothing
                # (stale_push_warnings says so). One that beats is stale only once not heard from.
                status="stale" if moment - heard > STALE_AFTER else "ok",
                last_success=last.isoformat(),
                last_error=None,
                last_refresh=f"usage pushed by {sender.member}'s token {sender.token_name}"
                + (
                    f"; last heard from {heard:%Y-%m-%d %H:%M} UTC, with nothing to send"
                    if sender.heard_ms is not None and sender.heard_ms > sender.last_ms
                    else ""
                )
                # A rotated or departed member's token goes quiet for good: not a laptop behind.
                + (_REVOKED if sender.revoked else ""),
            )
        )
    statuses += otlp_statuses(otel_store.received_from(conn, members))
    return statuses


_REVOKED = " (revoked since: it pushes no more, what it pushed still counts)"
_DEPARTED = " (every token of theirs revoked since: what they sent still counts)"

OTLP_KIND = "telemetry"
"""The ``kind`` of the OTLP receiver's sources (``otlp:<agent>``): usage an agent's OpenTelemetry
exporter sends to ``serve --http`` as it works, beside ``logs`` read from disk and ``push``."""
_NAMED_MEMBERS = 3
"""Most members an OTLP source's line names; beyond, it says how many (a team's admin)."""


def otlp_statuses(senders: Sequence[OtlpSender]) -> list[SourceStatus]:
    """One source per agent whose events the OTLP receiver accepted (``otlp:claude-code``): when it
    last did, and how many since when from whom. Always ``ok``: OTel sends only while someone
    works, so a receiver nobody sent to since the weekend lacks nothing (``cost-mcp doctor`` names
    the senders that went quiet); the line says when the last event came instead."""
    by_agent: dict[str, list[OtlpSender]] = {}
    for sender in senders:  # most recent first: so are the agents
        by_agent.setdefault(sender.agent, []).append(sender)
    statuses = []
    for agent, theirs in by_agent.items():
        last = datetime.fromtimestamp(max(s.last_ms for s in theirs) / 1000, UTC)
        first = datetime.fromtimestamp(min(s.first_ms for s in theirs) / 1000, UTC)
        members = list(dict.fromkeys(s.member for s in theirs if s.member))
        # A removed member's line stays (their calls still count, as a revoked token's pushes do)
        # and says so: it read as a member still sending.
        departed = {s.member for s in theirs if s.member and s.departed}
        who = (
            ""
            if not members
            else f" from {', '.join(m + (_DEPARTED if m in departed else '') for m in members)}"
            if len(members) <= _NAMED_MEMBERS
            else f" from {len(members):,} members"
            + (f" ({len(departed):,} of them with every token revoked)" if departed else "")
        )
        events = sum(s.events for s in theirs)
        statuses.append(
            SourceStatus(
                source=f"otlp:{agent}",
                kind=OTLP_KIND,
                data_sources=sorted({s.source for s in theirs}),
                status="ok",
                last_success=last.isoformat(),
                last_error=None,
                last_refresh=f"{events:,} event{'' if events == 1 else 's'} received over OTLP since "
                f"{first:%Y-%m-%d}{who}; last event received at {last:%Y-%m-%d %H:%M} UTC",
            )
        )
    return statuses


def copies_removed_notes(statuses: Sequence[SourceStatus]) -> list[str]:
    """What the latest scan of an agent's logs removed as copies an earlier cost-mcp counted twice
    (a Codex fork's copy of its parent's calls, mended on upgrade), as its status says: said by the
    answers until the agent's next scan, which finds none."""
    return [
        f"{s.source} logs: {part}"
        for s in statuses
        if s.kind == "logs" and s.last_refresh and COPIES_REMOVED in s.last_refresh
        for part in s.last_refresh.split("; ")
        if COPIES_REMOVED in part
    ]


def stale_push_warnings(
    conn: Conn, end_ms: int, members: Sequence[str] | None = None, now: datetime | None = None
) -> list[str]:
    """On a team server, one warning per laptop (only ``members``', with them) not heard from for
    over two days (:func:`quiet_laptop_warnings`)."""
    return quiet_laptop_warnings(team_store.push_senders(conn, members), end_ms, now)


def departed_member_notes(
    conn: Conn, shown: Sequence[SpendRow], asked: Sequence[str] | None = None
) -> list[str]:
    """A note for each member of ``shown`` rows (or ``asked`` for) removed from the team (every
    token of theirs revoked): their row reads as a current member's otherwise. What they sent
    still counts; the team's spend while they were on it is what it was."""
    named = {str(r.group.get("member") or "") for r in shown} | {m.lower() for m in asked or ()}
    gone = named & team_store.departed_members(conn) if named - {""} else set()
    return [
        f"{m} has no live token (each one made for them is revoked: removed from the team): their "
        "usage until then still counts in this answer"
        for m in sorted(gone)
    ]


def quiet_laptop_warnings(
    senders: Sequence[team_store.PushSender], end_ms: int, now: datetime | None = None
) -> list[str]:
    """One warning per laptop of ``senders`` the server has not heard from (pushed or beat) for
    over two days, when the answer's period runs past that: whose laptop it is and that the total
    lacks what it used since, for an admin to chase, with when it was last heard from.

    A laptop that beats (its push loop says every few minutes that it runs with nothing to send)
    and was heard from lately is not named, however long since it pushed: its owner did not use
    it, and the total lacks nothing. One that beat before and went silent is off, or its cost-mcp
    is not running or cannot reach the server. A laptop that never beat (a release from before
    beats) pushes nothing when nobody used it, so its warning says that too: the server cannot
    tell the two apart.

    A revoked token is left out: it will never push again, and the laptop's usage since goes under
    the token that replaced it (its ``push:`` source says it was revoked)."""

    moment = now or datetime.now(UTC)
    warnings = []
    for sender in senders:
        last_ms = sender.last_heard_ms
        last = datetime.fromtimestamp(last_ms / 1000, UTC)
        if sender.revoked or moment - last <= STALE_AFTER or end_ms <= last_ms:
            continue
        who = f"{sender.member}'s laptop (token {sender.token_name})"
        since = f"since {last:%Y-%m-%d %H:%M} UTC ({(moment - last).days} days ago)"
        if sender.heard_ms is None:
            warnings.append(
                f"{who} has not pushed {since}: anything it used since then is not in this total "
                "(nothing, if nobody used it; else run `cost-mcp push` on it)"
            )
        else:
            warnings.append(
                f"{who} has not been heard from {since}: it is off, or cost-mcp on it is not running "
                "or cannot reach this server (running, it says so every few minutes, even with nothing "
                "to send; with no Claude Code open, only when `cost-mcp push` runs: scheduled, e.g. by "
                "cron with --quiet); anything it used since then is not in this total until it pushes"
            )
    return warnings


def _pricing_warnings(
    conn: Conn, p: Period, filters: Filters, slices: Sequence[_Slice], cost_mode: str
) -> list[str]:
    """Calls priced with an assumption, the output lower bound when Claude Code logs count, and
    the display mode's $0 when any agent's recorded calls count."""
    notes = price_note_warnings(conn, start_ms=p.start_ms, end_ms=p.end_ms, filters=filters.column_filters())
    # Only where the calls count in the result: a day billed by the provider does not rely on them.
    logged = [s for s in slices if s.layer == LOCAL_LAYER and not s.excluded and s.tokens]
    if logged:
        claude = [s for s in logged if s.source == "claude_code"]
        notes += log_notes(cost_mode, output=any(s.tokens and s.tokens[tokens.OUTPUT] for s in claude))
    return notes


def unread_logs(conn: Conn) -> list[tuple[str, str]]:
    """Each local-log source (Claude Code, Codex...) whose last read could not open some of its
    files or folders, with that error: what :func:`log_read_warnings` says, for the answers that
    weigh which of their parts those calls are missing from (a budget of another provider's)."""
    from cost_mcp.sources import agents as agent_logs  # Codex, Gemini CLI...: local logs like Claude Code's

    return source_state.errors_of(conn, ("claude_code", *agent_logs.SOURCES))


def logs_can_touch(
    source: str,
    settings: Settings,
    *,
    agents: Iterable[str | None] = (),
    providers: Iterable[str | None] = (),
    sources: Iterable[str | None] = (),
    bases: Iterable[str | None] = (),
    members: Iterable[str | None] = (),
) -> bool:
    """Whether calls of ``source``'s local logs (:func:`unread_logs`) may be in a part of an answer
    limited to these values of each dimension (empty: not limited by it), a budget's scope or a
    row's group: a part they cannot reach (a budget of OpenAI's bill, a row of billed spend, another
    agent's row) stays whole when those logs could not be read. Claude Code covered by a subscription
    is in no spend; the server's own logs' calls are under no member; an agent's calls may be of any
    provider (Claude Code's are Anthropic's)."""
    if source in not_spend_sources(settings):
        return False
    agent = _log_agent(source)
    limits: list[tuple[set[str | None], set[str | None] | None]] = [
        # Agents' names match exactly, as a budget's scope and a filter match them (budgets.applies).
        (set(agents), None if agent is None else {agent}),
        ({p.lower() if p else p for p in providers}, {"anthropic"} if source == "claude_code" else None),
        (set(sources), {source}),
        (set(bases), {"estimated"}),
        ({m for m in members if m is not None}, set()),
    ]
    return all(not limit or mine is None or bool(limit & mine) for limit, mine in limits)


@functools.cache
def _log_agent(source: str) -> str | None:
    """The agent a local-log source's calls are recorded under (``claude_code``: ``claude-code``);
    asked per row of an answer, so looked up once."""
    from cost_mcp.analytics.claude_code import agent_sources

    return next((agent for agent, its in agent_sources().items() if its == source), None)


def log_read_warnings(conn: Conn) -> list[str]:
    """One line per local-log source (Claude Code, Codex...) whose last read could not open some of
    its files or folders: their calls are missing from every answer, whichever tool gives it (the
    session asked about may be the unread one), so :func:`cost_mcp.catchup.envelope` adds these to
    each answer, once, as it does the skipped-lines notes (not to a team member's: the server's
    own logs' calls are in no member's answer)."""
    return [log_read_warning(source, error) for source, error in unread_logs(conn)]


def log_read_warning(source: str, error: str) -> str:
    """The PARTIAL line for ``source``'s logs the last read could not open (:func:`unread_logs`)."""
    # A log reader has no key to fix nor sync to skip: what is missing is the files it could not
    # open, until the user running cost-mcp may read them (doctor says the same).
    line = (
        f"PARTIAL: {source} logs: the last read could not open some files or folders ({error}); their "
        "calls are not in this answer until they can be read (where permission is denied: make them "
        "readable by the user running cost-mcp)"
    )
    return gaps.said(line, gaps.logs(source) if _is_log_source(source) else gaps.ANY)


def member_sources(statuses: Sequence[SourceStatus]) -> list[SourceStatus]:
    """``statuses`` as a team member's answer shows them: their own laptops' pushes (the caller
    scoped those already) and the providers' billed data, the organisation's bill, with whether its
    last sync failed but not the provider's words (an account, a key's name: the admins' to read in
    ``cost-mcp doctor``); not the server's own log readers, whose calls (under no member) are in no
    member's answer, so whose folders' state says nothing of the member's usage."""
    return [
        s.model_copy(update={"last_error": MEMBER_SYNC_ERROR}) if s.last_error else s
        for s in statuses
        if s.kind != "logs"
    ]


def missing_bill_partials(
    conn: Conn,
    settings: Settings,
    p: Period,
    providers: Sequence[str] | None,
    *,
    member: bool = False,
) -> list[str]:
    """The PARTIAL lines get_spend would give over ``p`` for the state of the providers' syncs (a bill
    never synced, a refresh failing since the period began to settle, a currency left out): for the
    answers that total spend without get_spend's envelope (budget_status), so they say what they
    lack too. ``providers``: those counted (None: every one); ``member``: a team member asks."""
    statuses = [
        s
        for s in source_statuses(conn, settings, data_sources=False)
        if s.kind not in ("logs", "push", OTLP_KIND) and (providers is None or s.source in providers)
    ]
    told = member_sources(statuses) if member else statuses
    lines = _warnings([], settings, conn, told, False, [], p.end_ms) + _not_usd_warnings(told, settings, p)
    return partial_lines(lines)


MEMBER_SYNC_ERROR = "the team server's last sync of it failed (`cost-mcp doctor` on the server says why)"
"""A provider's last error as a team member's answer says it."""


PARTIAL = "PARTIAL:"
"""How a warning begins that says what an answer lacks although every log line is read (a provider's
bill never synced, days of it never fetched, log files that could not be opened): such an answer
says ``complete: false`` (:func:`cost_mcp.catchup.label`)."""


def partial_lines(warnings: Iterable[str]) -> list[str]:
    """The warnings that say what an answer lacks (:data:`PARTIAL`): any makes its totals lower
    bounds, whatever shows them (money.bounded)."""
    return [w for w in warnings if w.startswith(PARTIAL)]


def _bill_gap(source: str) -> Gap:
    """What a PARTIAL line about ``source``'s sync lacks: its bill, when it is a provider's; else
    (no provider's bill, so no rows to tell it by) anything."""
    return gaps.bill(source) if source in {spec.id for spec in registry.providers()} else gaps.ANY


def _is_log_source(source: str) -> bool:
    """Whether ``source`` is a local-log source (Claude Code, Codex...), whose calls' rows are known."""
    from cost_mcp.sources import agents as agent_logs  # Codex, Gemini CLI...: local logs like Claude Code's

    return source in ("claude_code", *agent_logs.SOURCES)


def _touches(gap: Gap, group: Mapping[str, str | None], bases: Sequence[str], settings: Settings) -> bool:
    """Whether the calls or bill ``gap`` lacks may be in a part of ``group``'s values whose amounts
    are of ``bases`` (a row: its one basis; a model of the month: each basis it has)."""

    def only(dim: str) -> list[str | None]:
        return [group[dim]] if dim in group else []

    if gap.kind == "logs" and gap.source is not None:
        return logs_can_touch(
            gap.source,
            settings,
            agents=only("agent"),
            providers=only("provider"),
            sources=only("source"),
            bases=bases,
            members=only("member"),
        )
    if gap.kind == "bill" and gap.provider is not None:
        provider = group.get("provider")
        if provider is not None and provider != gap.provider:
            return False
        source = group.get("source")
        if source is not None and source_provider(source) not in (None, gap.provider):
            return False
        if bases and all(b == "subscription" for b in bases):
            return False  # seat fees are set by hand, not synced
        if gap.first is not None and gap.last is not None:
            span = _row_days(group)
            # A local day holds parts of the UTC days on either side of it.
            if span is not None and (span[1] + _ONE_DAY < gap.first or gap.last < span[0] - _ONE_DAY):
                return False
    return True


_ONE_DAY = timedelta(days=1)


def _row_days(group: Mapping[str, str | None]) -> tuple[date, date] | None:
    """The local days a row of a day, week or month holds (the whole bucket: the period may hold
    less), or None when its group has none."""
    for granularity in _BUCKETS:
        if label := group.get(granularity):
            return bucket_days(label, granularity)
    return None


_BUCKETS: tuple[Granularity, ...] = ("day", "week", "month")


_S = TypeVar("_S", bound=SpendResult)


@dataclass(frozen=True)
class Lacking:
    """What an answer lacks, part by part: the gaps its PARTIAL lines name (:func:`partial_lines`,
    as their builders said them: :mod:`cost_mcp.analytics.gaps`), and whether the logs are still
    being read, as the parts of it they may touch. Such a part's amount is a
    lower bound, which every view marks (money.bounded): "2026-12-03  $1.20" read as the day's whole
    while its Anthropic bill was missing. A part the gap cannot reach (another provider's, a bill
    beside unread logs, a day outside the missing ones) keeps its plain figure; a line that names
    no provider nor log source (a reprice half done) touches every part."""

    gaps: tuple[Gap, ...]
    settings: Settings

    @classmethod
    def of(cls, warnings: Iterable[str], settings: Settings, *, reading: bool = False) -> Lacking:
        """What ``warnings`` (an answer's, or its envelope's notes) say is lacking; ``reading``: the
        logs are still being read, so any log's calls may be."""
        lacking = [g for line in partial_lines(warnings) for g in gaps.of(line)]
        if reading:
            from cost_mcp.sources import agents as agent_logs  # local logs like Claude Code's

            lacking += [gaps.logs(s) for s in ("claude_code", *agent_logs.SOURCES)]
        return cls(tuple(lacking), settings)

    def __bool__(self) -> bool:
        return bool(self.gaps)

    def touches(self, group: Mapping[str, str | None], bases: Sequence[str]) -> bool:
        """Whether a part of ``group``'s values, of amounts of ``bases``, may lack something."""
        return any(_touches(g, group, bases, self.settings) for g in self.gaps)

    def rows(self, result: _S) -> _S:
        """``result`` with each row this may touch not ``complete``. Attribution rows, in no total,
        are left as they are."""
        if not self.gaps:
            return result

        def lacks(r: SpendRow) -> bool:
            # An "(other)" row sums groups it does not name.
            return bool(r.folded_rows) or self.touches(r.group, [r.basis])

        rows = [r.model_copy(update={"complete": False}) if lacks(r) else r for r in result.rows]
        return result.model_copy(update={"rows": rows})


NO_SOURCE = "no data source is connected yet"
"""How the warning for an empty ledger with nothing configured begins (an answer labelled as still
reading logs drops it: the logs being read are a source)."""


def _seat_and_api_value(slices: Sequence[_Slice], settings: Settings) -> list[str]:
    """A warning when an Anthropic seat is counted beside Claude Code's usage at API prices: a Pro or
    Max plan that covers Claude Code would then be counted twice, its fee and the usage it paid for.
    Only the user knows what the seat covers, so this asks rather than decides."""
    if settings.claude_code_billing == "subscription":
        return []
    if not any(s.basis == "subscription" and s.provider == "anthropic" and not s.excluded for s in slices):
        return []
    if not any(s.source in _SUBSCRIPTION_SOURCES and s.cost_nanos and not s.excluded for s in slices):
        return []
    return [
        "an Anthropic seat fee is counted beside Claude Code's usage at API prices; if the seat is a "
        "Pro or Max plan that covers Claude Code, set COST_MCP_CLAUDE_CODE_BILLING=subscription so that "
        "usage is shown as the plan's value, not counted again"
    ]


_CHATGPT_VENDORS = ("openai", "chatgpt")
"""The vendors a ChatGPT seat is registered under (set_subscription takes any name)."""


def _chatgpt_seat_and_codex(slices: Sequence[_Slice]) -> list[str]:
    """A warning when a ChatGPT (OpenAI) seat is counted beside Codex's usage at API prices: Codex
    signed in with a ChatGPT plan uses the plan, so its fee and the usage it paid for would both
    count. There is no setting to count Codex as a plan's value (Claude Code has one), so this says
    how to read the total rather than how to change it."""
    seat = any(
        s.basis == "subscription" and s.provider in _CHATGPT_VENDORS and not s.excluded for s in slices
    )
    if not seat or not any(s.source == "codex" and s.cost_nanos and not s.excluded for s in slices):
        return []
    return [
        "a ChatGPT (OpenAI) seat fee is counted beside Codex's usage at API prices; if Codex signs in with "
        "that ChatGPT plan, the plan paid for that usage and it is counted twice here (cost-mcp has no "
        "setting to count Codex as a plan's value, as COST_MCP_CLAUDE_CODE_BILLING does for Claude Code): "
        "take the codex rows (group_by=['source']) out of the total"
    ]


def _not_usd_warnings(statuses: Sequence[SourceStatus], settings: Settings, p: Period) -> list[str]:
    """A PARTIAL warning per provider whose latest sync left amounts billed in another currency out
    of the USD totals (Azure's note, sources/azure.py) on days of ``p``: shown only beside the
    source's freshness, such a gap read as a whole bill."""
    lo, hi = _utc_day_range(p)
    out: list[str] = []
    for status in statuses:
        if not settings.has_key_for(status.source) or settings.skips_sync(status.source):
            continue
        left_out = [
            f"{amount} ({first} to {last})"
            for amount, first, last in azure.not_usd_notes(status.last_refresh)
            if first.toordinal() - _EPOCH_ORDINAL < hi and last.toordinal() - _EPOCH_ORDINAL >= lo
        ]
        if left_out:
            line = (
                f"PARTIAL: {status.source}: its bill has {', '.join(left_out)} billed in another currency, "
                "left out of these US-dollar totals (cost-mcp does not convert without the bill's own "
                f"rate). Count it from the invoice, or set {azure.SCOPE_ENV} to a scope billed in USD"
            )
            out.append(gaps.said(line, _bill_gap(status.source)))
    return out


def _sync_advice(status: SourceStatus) -> str:
    """What to do about a provider whose sync failed, as a sentence to end a warning with (a
    leading space), or nothing: its key when the key is what failed (the auth errors say "needs
    <the key> in <VARIABLE>"), else asking again later (a rate limit, an outage, an answer that
    could not be read); a team member, who can do neither on the server, that an admin can."""
    if status.last_error == MEMBER_SYNC_ERROR:
        return " A team admin can fix it"
    if (status.last_error or "").startswith("needs "):
        return " Fix the key, or add it to COST_MCP_SYNC_SKIP to stop syncing it"
    if "COST_MCP_SYNC_SKIP" in (status.last_error or ""):
        # An error that will not pass by itself (Groq without the metrics plan, a bill in another
        # currency) says its own fix, COST_MCP_SYNC_SKIP included: "sync again later" beside it
        # would contradict it, and the same advice again only repeats it.
        return ""
    return " Sync again later (`cost-mcp sync`), or add it to COST_MCP_SYNC_SKIP to stop syncing it"


_ATTRIBUTION_ONLY_MISSING = (
    "totals do not depend on it (it only says who used Claude Code, use that Anthropic's reports and "
    "local logs already count); attribution by member lacks its split until it syncs"
)


def _what(status: SourceStatus) -> str:
    """What a provider's sync brings into a total: its bill, or (Groq) its usage, priced here."""
    return "usage" if status.source in USAGE_ONLY_SOURCES else "billed spend"


def _stale_in_period(status: SourceStatus, period_end_ms: int) -> bool:
    """Whether a provider whose last refresh failed lacks data of the period ending at
    ``period_end_ms``: the period reaches past its last successful sync less its reporting lag
    (days that were still settling then may have grown since). Attribution-only sources (Anthropic's
    Claude Code report) never change a total."""
    if status.last_success is None or status.kind in ("logs", "push") or status.source in ATTRIBUTION_ONLY:
        return False
    synced = datetime.fromisoformat(status.last_success)
    return period_end_ms > to_ms(synced - coverage.lag(status.source))


def _warnings(
    slices: Sequence[_Slice],
    settings: Settings,
    conn: Conn,
    statuses: Sequence[SourceStatus],
    local_only: bool,
    dims: Sequence[str],
    period_end_ms: int,
) -> list[str]:
    warnings: list[str] = []
    unpriced: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for s in slices:
        if s.unpriced and not s.excluded:
            unpriced[s.model][0] += s.unpriced
            # An unknown model's calls are all unpriced, except any whose log line reported a
            # costUSD; the tokens of a slice are then a slight overcount, which is fine for a hint.
            unpriced[s.model][1] += tokens.token_count(s.tokens) if s.tokens else 0
    warnings += unpriced_warnings(
        ((model, calls, n_tokens) for model, (calls, n_tokens) in unpriced.items()),
        settings.prices_file,
        "the total",
    )
    warnings += _seat_and_api_value(slices, settings)
    warnings += _chatgpt_seat_and_codex(slices)

    def lacks_bill(status: SourceStatus, line: str) -> None:
        warnings.append(gaps.said(line, _bill_gap(status.source)))

    for status in statuses:
        if not settings.has_key_for(status.source) or settings.skips_sync(status.source):
            continue  # no longer synced: its old errors and age are not news on every report
        if status.status == "error" and status.kind == "logs":
            continue  # every answer says it once, in its envelope (log_read_warnings)
        if status.status == "error" and status.last_success is None and status.source in ATTRIBUTION_ONLY:
            # Anthropic's Claude Code report only says who used what: no total lacks anything.
            warnings.append(
                f"{status.source}: never synced ({status.last_error}); {_ATTRIBUTION_ONLY_MISSING}."
                f"{_sync_advice(status)}"
            )
        elif status.status == "error" and status.last_success is None:
            # Never synced (a wrong key, a rate limit on the first sync): there is no earlier data
            # to show, and the total lacks this provider's bill; saying "earlier data" would hide that.
            lacks_bill(
                status,
                f"PARTIAL: {status.source}: never synced ({status.last_error}); its {_what(status)} is "
                f"not in this answer, only what local logs and record_usage estimate.{_sync_advice(status)}",
            )
        elif status.status == "error" and _stale_in_period(status, period_end_ms):
            # Its bill since the last sync that worked (and the days still settling then) is not
            # in the ledger: an answer reaching past that is a lower bound, never "complete".
            lacks_bill(
                status,
                f"PARTIAL: {status.source}: last refresh failed ({status.last_error}); showing data "
                f"synced at {status.last_success}: its {_what(status)} since is not in this answer, "
                f"only what local logs and record_usage estimate.{_sync_advice(status)}",
            )
        elif status.status == "error":
            warnings.append(
                f"{status.source}: last refresh failed ({status.last_error}); showing data synced at "
                f"{status.last_success}.{_sync_advice(status)}"
            )
        elif status.status == "never" and status.kind != "logs":
            # Configured, yet no sync has finished (the first one outran the refresh budget).
            lacks_bill(
                status,
                f"PARTIAL: {status.source}: not synced yet; its billed spend is not in this answer. "
                "Ask again shortly, or run `cost-mcp sync`",
            )
        elif status.status == "stale" and _stale_in_period(status, period_end_ms):
            # Not refreshed for days (its syncs outran the refresh budget, or were skipped while
            # another process wrote): its bill since is not in the ledger, as after a failure.
            lacks_bill(
                status,
                f"PARTIAL: {status.source}: not refreshed since {status.last_success}: its {_what(status)} "
                "since is not in this answer, only what local logs and record_usage estimate. Run "
                "`cost-mcp sync` (or sync_providers)",
            )
        elif status.status == "stale" and status.kind != "push":  # stale_push_warnings says whose
            warnings.append(f"{status.source}: not refreshed since {status.last_success}")
    if local_only:
        warnings.append(
            "filtered by agent or session: billed data cannot be split that way, so this is estimated usage"
        )
    # A provider's report, not seat fees: those have no agent or session either, but their row says
    # what it is, and "billed amounts ... see attribution" was false beside a seat and no bill.
    if any(d in ("agent", "session") for d in dims) and any(
        s.layer in (USAGE_LAYER, BILLED_LAYER) for s in slices
    ):
        warnings.append(
            "billed amounts have no agent or session (shown as null); see attribution for the estimated split"
        )
    has_data = spend_store.ledger_has_data(conn)
    configured = any(settings.provider_key(spec.id) is not None for spec in registry.providers())
    if not has_data and not configured:
        roots = settings.claude_roots()
        if settings.claude_config_dir and not any(r.is_dir() for r in roots):
            # Set, yet naming no folder: a typo, or a folder not made yet; "set it" would not help.
            where = (
                ", ".join(str(r) for r in roots)
                + " (CLAUDE_CONFIG_DIR), which does not exist: fix CLAUDE_CONFIG_DIR to the folder "
                "that holds Claude Code's projects/ (by default ~/.claude)"
            )
        else:
            where = ", ".join(str(r) for r in roots) + " (set CLAUDE_CONFIG_DIR if yours are elsewhere)"
        warnings.append(
            f"{NO_SOURCE}: Claude Code logs are read from "
            + where
            + "; for provider numbers set "
            + " or ".join(
                p.key_env if len(p.required_env) == 1 else " + ".join(p.required_env)
                for p in registry.providers()
            )
            + " (`cost-mcp doctor` shows what each needs); agents can report calls with record_usage"
        )
    return warnings


# --- sessions, grouped and bounded in SQL (issue 22) ----------------------------------------------


def _local_rules(
    rules: dict[tuple[str, int], coverage.DayRule], settings: Settings
) -> list[session_rows.Attributes]:
    """_apply_precedence's verdicts on local rows as conditions the session query can evaluate."""
    out = [session_rows.Attributes(_attribution_only(p), providers=(p,)) for p in sorted(ATTRIBUTION_ONLY)]
    layer_of = {"cost": BILLED_LAYER, "usage": USAGE_LAYER, None: LOCAL_LAYER}
    runs: list[tuple[str, str, int, int]] = []  # (provider, reason, first day, last day)
    for (provider, day), rule in sorted(rules.items()):
        top = layer_of[rule.top]
        if top == LOCAL_LAYER:
            continue
        reason = rule.covered(provider)
        # Consecutive days with one verdict are one condition: the CASE runs once per rollup row.
        if runs and runs[-1][:2] == (provider, reason) and runs[-1][3] == day - 1:
            runs[-1] = (provider, reason, runs[-1][2], day)
        else:
            runs.append((provider, reason, day, day))
    out += [
        session_rows.Attributes(
            reason, providers=(provider,), lo_qh=first * DAY_MS // QH_MS, hi_qh=(last + 1) * DAY_MS // QH_MS
        )
        for provider, reason, first, last in runs
    ]
    if settings.claude_code_billing == "subscription":
        out.append(session_rows.Attributes(_SUBSCRIPTION_REASON, sources=_SUBSCRIPTION_SOURCES))
    return out


def _session_rows(
    conn: Conn,
    settings: Settings,
    p: Period,
    filters: Filters,
    rules: dict[tuple[str, int], coverage.DayRule],
    other_slices: Sequence[_Slice],
    window: rows.Window | None,
) -> tuple[_Shown[SpendRow], _Shown[AttributionRow], list[_Slice]]:
    """One page of ``group_by=["session"]`` (every row when ``window`` is None): the local rows
    grouped and bounded by the SQL of store/session_rows.py, merged with the few rows of billed and
    subscription data (``other_slices``, no session). Also returns stand-in local slices carrying
    what the warnings read."""
    local_rules = _local_rules(rules, settings)
    fetch = window.offset + window.limit if window is not None else None
    args = {
        "lo_qh": p.start_ms // QH_MS,
        "hi_qh": -(-p.end_ms // QH_MS),
        "mode": settings.cost_mode,
        "filters": filters.column_filters(),
        "rules": local_rules,
    }
    found = session_rows.session_page(conn, top=fetch, **args)  # type: ignore[arg-type]
    counted_other, attributed_other = _group_all(other_slices)
    facts = [
        _fact(model, calls, tokens)
        for model, calls, tokens in session_rows.unpriced_by_model(conn, **args)  # type: ignore[arg-type]
    ]
    cc_out = sum(s.claude_code_output for s in found.counted)
    cc_out += found.counted_rest.claude_code_output if found.counted_rest else 0
    if cc_out:
        fact = _fact("", 0, 0)
        counts = tokens.zeros()
        counts[tokens.OUTPUT] = cc_out
        fact.source, fact.tokens = "claude_code", counts
        facts.append(fact)
    counted = _session_part(found.counted, found.counted_rest, found.counted_rows, counted_other, window)
    attributed = _session_part(
        found.attributed, found.attributed_rest, found.attributed_rows, attributed_other, window
    )
    other: dict[str, str | None] = {"session": rows.OTHER}
    shown = _Shown(
        [_row(g, grp) for g, grp in counted[0]] + [_row(other, g) for g in counted[1]],
        *counted[2:5],
        before=counted[5],
        through=counted[6],
    )
    reason_rest = "the attribution rows not shown, summed"
    attribution = _Shown(
        [_attribution_row(g, grp, grp.reason or "") for g, grp in attributed[0]]
        + [_attribution_row(other, g, reason_rest) for g in attributed[1]],
        *attributed[2:5],
        before=attributed[5],
        through=attributed[6],
    )
    return shown, attribution, facts


def _local_by_day(
    conn: Conn,
    settings: Settings,
    p: Period,
    filters: Filters,
    rules: dict[tuple[str, int], coverage.DayRule],
) -> list[_Slice]:
    """Stand-in local slices of ``group_by=["session"]``, whose local rows are grouped in SQL: one
    per provider, model and UTC day the filters keep, counted or set aside as the session rows
    are (:func:`_local_rules`), with their cost only: what the filter warnings read."""
    local_rules = _local_rules(rules, settings)
    reasons = [None, *(rule.reason for rule in local_rules)]
    found = session_rows.class_sums(
        conn,
        lo_qh=p.start_ms // QH_MS,
        hi_qh=-(-p.end_ms // QH_MS),
        mode=settings.cost_mode,
        filters=filters.column_filters(),
        rules=local_rules,
    )
    out: list[_Slice] = []
    for provider, model, day, cls, nanos in found:
        stand_in = _fact(model, 0, 0)
        stand_in.provider, stand_in.utc_day, stand_in.cost_nanos = provider, day, nanos
        stand_in.excluded = reasons[cls]
        out.append(stand_in)
    return out


def _fact(model: str, unpriced: int, tokens: int) -> _Slice:
    return _Slice(
        layer=LOCAL_LAYER,
        basis="estimated",
        local_day=date(1970, 1, 1),
        utc_day=0,
        provider="",
        model=model,
        source="",
        dims={},
        cost_nanos=0,
        unpriced=unpriced,
        requests=None,
        tokens=[tokens, 0, 0, 0, 0, 0],
    )


def _group_all(
    slices: Iterable[_Slice],
) -> tuple[list[tuple[dict[str, str | None], _Group]], list[tuple[dict[str, str | None], _Group]]]:
    """Billed and subscription slices by session (always None), counted and attributing apart."""
    counted: dict[tuple[object, ...], tuple[dict[str, str | None], _Group]] = {}
    attributed: dict[tuple[object, ...], tuple[dict[str, str | None], _Group]] = {}
    for s in slices:
        session = s.dims.get("session")
        key = (s.basis, s.excluded, session)
        part = attributed if s.excluded else counted
        if key not in part:
            part[key] = ({"session": session}, _Group(basis=s.basis, reason=s.excluded))
        part[key][1].add(s)
    return list(counted.values()), list(attributed.values())


def _session_part(
    local: Sequence[session_rows.SessionSums],
    local_rest: session_rows.SessionSums | None,
    local_rows: int,
    other: Sequence[tuple[dict[str, str | None], _Group]],
    window: rows.Window | None,
) -> tuple[list[tuple[dict[str, str | None], _Sums]], list[_Group], int, bool, int | None, bytes, bytes]:
    """Shown (group, sums), the "other" groups, total rows, truncated, next offset and the marks
    of the rows before and through the page: the page rows.page would choose from every row,
    chosen from the only rows that can be on it (the largest offset + limit local sessions and the
    few others), largest first. A local session's sums stay as the store gave them
    (:func:`_session_fields` makes its row's fields)."""
    # Ties keep the SQL's order (cost, then session id), so consecutive pages, each chosen from
    # its own candidates, never show a row twice or skip one.
    candidates: list[tuple[dict[str, str | None], _Sums]] = [({"session": s.session_id}, s) for s in local]
    candidates += other
    candidates.sort(key=lambda item: -item[1].cost_nanos)
    total = local_rows + len(other)
    if window is None:
        return candidates, [], total, False, None, rows.NONE_BEFORE, b""
    end = window.offset + window.limit
    shown = candidates[window.offset : end]
    rest = [_as_group(g) for _, g in candidates[: window.offset]] + [
        _as_group(g) for _, g in candidates[end:]
    ]
    if local_rest is not None:
        past = _as_group(local_rest)
        past.folded = max(1, local_rows - len(local))  # the local sessions not among the candidates
        rest.append(past)
    before = rows.marks(map(_session_key, candidates[: window.offset]))
    through = rows.marks(map(_session_key, candidates[:end]))
    return shown, _others(rest), total, bool(rest), end if end < total else None, before, through


def _session_key(candidate: tuple[dict[str, str | None], _Sums]) -> object:
    """What names a session row whatever its sums (for rows.marks)."""
    group, sums = candidate
    return (sums.basis if isinstance(sums, _Group) else "estimated", sums.reason, group["session"])


_Sums = _Group | session_rows.SessionSums
"""A session row's sums: grouped here (billed and subscription data) or by the store (local calls)."""


def _as_group(s: _Sums) -> _Group:
    if isinstance(s, _Group):
        return s
    return _Group(
        basis="estimated",
        cost_nanos=s.cost_nanos,
        unpriced=s.unpriced,
        requests=s.requests,
        tokens=list(s.tokens),
        reason=s.reason,
    )


def _session_fields(group: dict[str, str | None], s: session_rows.SessionSums) -> dict[str, Any]:
    # What _row_fields gives the group of these sums, built straight from them: a year has
    # thousands of sessions, and the group in between was a fifth of get_spend's CPU. The store's
    # sums are ints already; ``group`` is a fresh dict of this row's own.
    return {
        "group": group,
        "basis": "estimated",
        "cost_usd": known_cost(from_nanos(s.cost_nanos), s.requests, s.unpriced),
        "requests": s.requests,
        "tokens": trusted(TokenTotals, tokens.as_fields(s.tokens)),
        "unpriced_requests": s.unpriced,
        "model_ids": None,
        "folded_rows": None,
        "complete": True,
    }


_NOTE_FILTERS: Final = (
    ("providers", "provider"),
    ("models", "model"),
    ("projects", "project"),
    ("agents", "agent"),
    ("sessions", "session"),
    ("sources", "source"),
    ("basis", "basis"),
)
"""The filters a member's question may narrow their own usage by, as the team note names them."""


def team_total_note(
    conn: Conn, settings: Settings, p: Period, member: str, filters: Filters | None = None
) -> str:
    """What a member's scoped answer says about the whole team: its total for the same period (a
    member sees their own detail and the team's total, never another member's detail).

    The total is of everything, whatever ``filters`` the member's question has: narrowed by them it
    would be another member's detail (a session or agent filter naming theirs). With filters, the
    note says they apply to the member's own usage only: their $3 on one project beside the team's
    $120 read as what the whole team spent on that project."""
    team = get_spend(conn, settings, p, (), Filters(), take_alerts=False)
    given = [name for field, name in _NOTE_FILTERS if filters is not None and getattr(filters, field)]
    narrowed = (
        f"; not narrowed by your filters ({', '.join(given)}): they apply to your own usage" if given else ""
    )
    unpriced = sum(r.unpriced_requests for r in team.rows)
    # The team's total lacks what laptops gone quiet used since: said, never whose. The member's
    # own are named to them in their own warnings already, so only the others are counted here.
    others = [s for s in team_store.push_senders(conn) if s.member != member]
    quiet = len(quiet_laptop_warnings(others, p.end_ms))
    lacking = (
        f"; without what {counted(quiet, 'other laptop')} used since the server last heard "
        f"from {'them' if quiet != 1 else 'it'}, over two days ago"
        if quiet
        else ""
    )
    # Calls with no known price are not $0: "$12.30 + unpriced", as every total shows them.
    return (
        f"Scoped to your own usage ({member}); the whole team spent "
        f"{format_cost(team.total_usd, unpriced)} in this period (every member, every basis{lacking}"
        f"{narrowed})."
    )
