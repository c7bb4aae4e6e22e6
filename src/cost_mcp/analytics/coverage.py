"""Which report is the total of a provider-day: the bill wins only where the bill is there.

A provider's billing report (kind ``cost``) or usage report (kind ``usage``) that was synced for a
UTC day replaces the lower layers (usage data, then calls recorded locally) for that day, but only
when it can be trusted to be whole:

- **no rows**: a report that listed the day with no results (Anthropic's cost_report and OpenAI's
  costs list every day, empty ones included) says nothing was billed *yet*; it never hides local
  estimates. A day without spend then totals what the layers below it say (often nothing). Synced
  within its reporting lag, such a day is labelled ``reporting_lag`` in ``sources[].coverage``: the
  report has not reached it yet.
- **reporting lag**: a day synced before it ended plus the provider's reporting lag (the registry's
  ``reporting_lag``, sources/registry.py) may be missing late rows (today always is). Below a
  partial billing report, a usage report of the day counts instead. The partial report that would
  count and the calls recorded locally are then both lower bounds of the day's spend (the report
  so far counts every API call org-wide, the local calls only this machine's tools): the larger is
  the total (the report on a tie) and the other only attributes, so adding a local call never
  lowers a total the provider has already reported.

Anthropic's Priority Tier is not in its cost report (usage-cost API FAQ: "Priority Tier costs use a
different billing model and are not included in the cost endpoint"): usage rows in those tiers are
counted as estimated on top of a billed day (:data:`~cost_mcp.store.buckets.OUTSIDE_BILL`).

Every result's ``sources[]`` says, per provider, how many days each report was the total and which
days were left to estimates, and why (:class:`~cost_mcp.models.SourceCoverage`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from cost_mcp.analytics import gaps
from cost_mcp.models import CoverageDay, SourceCoverage, SourceStatus
from cost_mcp.money import format_usd, from_nanos
from cost_mcp.sources.billing import REFETCH_DAYS
from cost_mcp.store import source_state
from cost_mcp.store.buckets import ATTRIBUTION_ONLY, DAY_MS
from cost_mcp.store.connection import Conn
from cost_mcp.store.coverage import covered_days, local_cost

Report = Literal["cost", "usage"]
State = Literal["empty", "lagging", "settled"]

DEFAULT_LAG = timedelta(hours=6)
"""The reporting lag of a provider the registry does not know."""


_REPORT_NAME = {"cost": "billing", "usage": "usage"}
_ORDER: tuple[Report, ...] = ("cost", "usage")
_COVERAGE_REPORT: dict[Report, Literal["billing", "usage"]] = {"cost": "billing", "usage": "usage"}


def lag(provider: str) -> timedelta:
    """The reporting lag of ``provider``: the registry's, else :data:`DEFAULT_LAG`."""
    from cost_mcp.sources import registry

    try:
        return registry.get(provider).reporting_lag
    except ValueError:
        return DEFAULT_LAG


@dataclass
class DayRule:
    """What covers one provider's UTC day: each synced report's state, and which one is the total
    (``top``; None: the calls recorded locally)."""

    reports: dict[Report, State] = field(default_factory=dict)
    top: Report | None = None
    local: bool | None = None
    """Whether calls recorded locally exist for the day (None: not looked up, not needed)."""
    amounts: dict[Report, int] = field(default_factory=dict)
    """Each synced report's known amount for the day, nano-USD."""
    compared: tuple[Report, int, int] | None = None
    """A partial report weighed against the local estimates: (report, its nanos, local nanos)."""
    early: set[Report] = field(default_factory=set)
    """The reports synced before the day ended plus the reporting lag: without rows, such a report
    has not reached the day yet (Azure's and Google's exports list only days with cost), rather
    than saying nothing was billed."""

    def reason(self, provider: str, report: Report) -> str:
        """Why rows of ``report`` for this day only attribute: synced within the reporting lag while
        a layer below it counts (a report without rows has nothing to attribute)."""
        if self.top == "usage":
            total = "the provider's usage report is the total"
        elif self.compared is not None:
            _, report_nanos, local_nanos = self.compared
            total = (
                f"local estimates ({_usd(local_nanos)}) are larger than the "
                f"{_usd(report_nanos)} reported so far, so they are the total"
            )
        else:
            total = "local estimates are the total"
        return (
            f"{provider} {_REPORT_NAME[report]} data for this day was synced within its "
            f"{_hours(lag(provider))} reporting lag and may be partial; {total}"
        )

    def covered(self, provider: str) -> str:
        """Why the rows of a layer below ``top`` (not None) only attribute."""
        assert self.top is not None
        what = _REPORT_NAME[self.top]
        if self.compared is None or self.compared[0] != self.top:
            # "The UTC day": local calls sit on their local date, the report's day is a UTC one.
            return f"{provider} {what} data covers the UTC day and is the total"
        _, report_nanos, local_nanos = self.compared
        return (
            f"{provider} {what} data for the UTC day was synced within its {_hours(lag(provider))} reporting "
            f"lag and may be partial, but its {_usd(report_nanos)} so far is at least the local "
            f"estimates' {_usd(local_nanos)}, so it is the total"
        )


def rules(
    conn: Conn,
    lo_ms: int,
    hi_ms: int,
    *,
    skip_sources: Sequence[str] = (),
    cost_mode: str = "auto",
) -> dict[tuple[str, int], DayRule]:
    """The rule of every synced provider-day in ``[lo_ms, hi_ms)`` (UTC day starts), keyed by
    (provider, UTC day number). ``skip_sources`` are local sources that are not spend (Claude Code
    covered by a subscription), so they do not count as local data below a partial report;
    ``cost_mode`` prices the local calls a partial report is weighed against, as the totals do."""
    found: dict[tuple[str, int], DayRule] = defaultdict(DayRule)
    for cov in covered_days(conn, lo_ms, hi_ms):
        provider, kind, start_ms, end_ms = cov.provider, cov.kind, cov.start_ms, cov.end_ms
        if provider in ATTRIBUTION_ONLY or kind not in _ORDER:
            continue
        synced = datetime.fromisoformat(cov.synced_at)
        ended = datetime.fromtimestamp(int(end_ms) / 1000, UTC)
        early = synced < ended + lag(str(provider))
        state: State = "empty"
        if cov.has_rows:
            state = "lagging" if early else "settled"
        rule = found[(str(provider), int(start_ms) // DAY_MS)]
        rule.reports[kind] = state
        if early:
            rule.early.add(kind)
        rule.amounts[kind] = cov.cost_nanos
    for (provider, day), rule in found.items():
        for i, report in enumerate(_ORDER):
            state_ = rule.reports.get(report)
            if state_ is None or state_ == "empty":
                continue
            if state_ == "settled":
                rule.top = report
                break
            if any(rule.reports.get(r) in ("lagging", "settled") for r in _ORDER[i + 1 :]):
                continue  # a report below it counts (or is weighed against the local calls)
            local_nanos = local_cost(conn, provider, day, skip_sources, cost_mode)
            rule.local = local_nanos is not None
            if local_nanos is None:
                rule.top = report  # partial, but nothing else says anything about the day
                break
            # Both are lower bounds of the day's spend: the larger is the total.
            rule.compared = (report, rule.amounts.get(report, 0), local_nanos)
            if rule.amounts.get(report, 0) >= local_nanos:
                rule.top = report
            break
        if rule.top is None and rule.local is None and "empty" in rule.reports.values():
            rule.local = local_cost(conn, provider, day, skip_sources, cost_mode) is not None
    return found


def summaries(
    found: dict[tuple[str, int], DayRule],
    first_day: int,
    end_day: int,
    unreached: dict[str, tuple[Report, list[int]]] | None = None,
) -> dict[str, SourceCoverage]:
    """Per provider, over UTC days ``[first_day, end_day)``: the days each report was the total
    and the days a synced report gave way to estimates (or counted while partial), with the rule.
    ``unreached`` (:func:`unreached_days`): per provider, its bill and the days it does not list
    yet, each labelled ``reporting_lag`` (the bill has not reached it), never left out."""
    out: dict[str, SourceCoverage] = {}
    for (provider, day), rule in sorted(found.items()):
        if not first_day <= day < end_day:
            continue
        cov = out.setdefault(provider, SourceCoverage(reporting_lag=_hours(lag(provider))))
        if rule.top == "cost":
            cov.billed_days += 1
        elif rule.top == "usage":
            cov.usage_days += 1
        if rule.reports.get("cost") == "empty":
            cov.empty_billed_days += 1
        when = _iso(day)
        top_rank = _ORDER.index(rule.top) if rule.top else len(_ORDER)
        for rank, report in enumerate(_ORDER):
            state = rule.reports.get(report)
            if rank > top_rank or state is None or state == "settled":
                continue
            total: Literal["usage report", "local estimates", "partial report"]
            if rank == top_rank:
                total = "partial report"  # lagging, yet nothing else covers the day or it is larger
            elif state == "empty" and rule.top is None and not rule.local:
                continue  # an empty report over nothing: nothing to replace
            else:
                total = "usage report" if rule.top == "usage" else "local estimates"
            weighed = rule.compared if rule.compared and rule.compared[0] == report else None
            cov.estimated_days.append(
                CoverageDay(
                    day=when,
                    report=_COVERAGE_REPORT[report],
                    rule="reporting_lag" if state == "lagging" or report in rule.early else "no_rows",
                    total_from=total,
                    report_usd=from_nanos(weighed[1]) if weighed else None,
                    local_usd=from_nanos(weighed[2]) if weighed else None,
                )
            )
    for provider, (report, days) in (unreached or {}).items():
        cov = out.setdefault(provider, SourceCoverage(reporting_lag=_hours(lag(provider))))
        for day in days:
            top = found[(provider, day)].top if (provider, day) in found else None
            cov.estimated_days.append(
                CoverageDay(
                    day=_iso(day),
                    report=_COVERAGE_REPORT[report],
                    rule="reporting_lag",
                    total_from="usage report" if top == "usage" and report == "cost" else "local estimates",
                )
            )
    return out


def missing_bill_warnings(
    found: dict[tuple[str, int], DayRule], first_day: int, end_day: int, *, usage_only: frozenset[str]
) -> list[str]:
    """A warning per provider whose billing report has not listed days its usage report settled
    (synced past the reporting lag, with rows): those days are estimates, not billed, and say so.
    ``usage_only`` providers have no billing report to miss."""
    missing: dict[str, list[int]] = defaultdict(list)
    for (provider, day), rule in sorted(found.items()):
        if provider in usage_only or not first_day <= day < end_day:
            continue
        if "cost" not in rule.reports and rule.reports.get("usage") == "settled":
            missing[provider].append(day)
    return [
        f"{provider}: the billing report has not listed {len(days)} day(s) its usage report has "
        f"({_iso(days[0])} to {_iso(days[-1])}); they are estimated from usage, not billed. "
        "Sync again later, or check the admin key can read costs"
        for provider, days in sorted(missing.items())
    ]


def unreached_days(
    conn: Conn,
    covered: Mapping[tuple[str, str], int],
    first_day: int,
    end_day: int,
    *,
    usage_only: frozenset[str],
) -> dict[str, tuple[Report, list[int]]]:
    """Per provider, its bill (the billing report; the usage report of ``usage_only`` providers)
    and the period's UTC days ``[first_day, end_day)`` the bill does not list yet although the
    provider's latest successful sync asked for them: the days after the last one the bill lists,
    through the day of that sync (every sync asks through its own day).

    The reports that list every day of the range asked, empty ones included (OpenAI's costs,
    Anthropic's cost_report, AWS Cost Explorer), leave a day out only when the provider's billing
    has not reached it: "no spend" would be listed with no rows. The exports that list only days
    with cost (Azure, Google, Cursor, Groq) are marked synced for the whole range asked, so they
    have no such days; their empty days synced within the reporting lag are labelled by
    :func:`summaries` from the day rules instead. Without this, a bill lagging past its last listed
    day left those days to local estimates (or nothing) with no note at all.

    ``covered`` is :func:`cost_mcp.store.coverage.latest_covered_by_kind`'s map, read once per answer
    for this and :func:`unsynced_warnings`."""
    synced_on = {
        s.source: datetime.fromisoformat(s.last_success).astimezone(UTC).date().toordinal() - _EPOCH
        for s in source_state.all_states(conn)
        if s.last_success is not None
    }
    out: dict[str, tuple[Report, list[int]]] = {}
    for (provider, kind), last_ms in sorted(covered.items()):
        bill: Report = "usage" if provider in usage_only else "cost"
        if provider in ATTRIBUTION_ONLY or kind != bill or provider not in synced_on:
            continue
        days = list(range(max(first_day, last_ms // DAY_MS + 1), min(end_day, synced_on[provider] + 1)))
        if days:
            out[provider] = (bill, days)
    return out


def unreached_warnings(
    found: dict[tuple[str, int], DayRule], unreached: dict[str, tuple[Report, list[int]]]
) -> list[str]:
    """A warning per provider whose bill does not list days its latest sync asked for
    (:func:`unreached_days`), but for the days :func:`missing_bill_warnings` already names (a
    settled usage report stands in for the bill)."""
    out: list[str] = []
    for provider, (report, all_days) in sorted(unreached.items()):
        days = [
            d
            for d in all_days
            if not (
                report == "cost"
                and (provider, d) in found
                and found[(provider, d)].reports.get("usage") == "settled"
            )
        ]
        if not days:
            continue
        below = (
            "its usage report, local logs and record_usage"
            if report == "cost"
            else "local logs and record_usage"
        )
        out.append(
            f"{provider}: its {_REPORT_NAME[report]} report does not list {_days(days)} yet, though its "
            f"last sync asked for them (the provider has not billed them yet), so spend on them is "
            f"only what {below} estimate, not billed, until a later sync brings them"
        )
    return out


def unsynced_warnings(
    conn: Conn,
    covered: Mapping[tuple[str, str], int],
    found: dict[tuple[str, int], DayRule],
    first_day: int,
    end_day: int,
    providers: Iterable[str],
    *,
    today: int,
    max_days: int,
) -> list[str]:
    """A warning per provider of ``providers`` (configured, synced at least once) whose reports were
    never synced for some of the period's UTC days ``[first_day, end_day)`` before its latest synced
    day: days before its first sync (which fetches 31), or a gap a long pause left. Its spend on them
    is only what local calls estimate, so the answer must say so rather than show a year as its last
    month. Days after the latest synced one are left out: a report that has not listed them yet is
    its reporting lag, and a failing sync warns itself; so are the days just before it that the
    latest sync asked for again, which get a note instead. ``today`` (a UTC day number) and
    ``max_days`` (the most one sync fetches) make the advice's ``--days``."""
    # Here, not at the top: openrouter imports the HTTP client (httpx2, ~60 ms), and spend imports
    # this module for every answer, a warm `cost-mcp report` without any provider included.
    from cost_mcp.sources import openrouter

    latest: dict[str, int] = {}
    for (provider, _kind), start in covered.items():
        latest[provider] = max(latest.get(provider, 0), start // DAY_MS)
    states = source_state.all_states(conn)
    asked_from = {s.source: s.covered_start_ms // DAY_MS for s in states if s.covered_start_ms is not None}
    # An OpenRouter inference key syncs today only: no backfill can fetch the other days.
    no_history = {s.source for s in states if s.detail and openrouter.INFERENCE_KEY_NOTE in s.detail}
    # Providers first synced together miss the same days: one line names them all.
    alike: dict[tuple[int, int, int], list[str]] = defaultdict(list)
    out: list[str] = []
    for provider in providers:
        last = latest.get(provider)
        if last is None:
            continue  # never synced: a warning of its own says so
        missing = [d for d in range(first_day, min(end_day, last)) if (provider, d) not in found]
        if missing and provider in no_history:
            line = (
                f"PARTIAL: {provider}: {_days(missing)} of this period are not in its data, so spend on "
                f"them is only what local logs and record_usage estimate: {openrouter.INFERENCE_KEY_NOTE}. "
                f"A management key ({openrouter.MANAGEMENT_KEYS_URL}) in OPENROUTER_API_KEY syncs the "
                "account's daily history"
            )
            out.append(gaps.said(line, gaps.bill(provider, _date(missing[0]), _date(missing[-1]))))
            continue
        # The sync that reached ``last`` asked again for the days just before it: one it left out
        # is a day the report does not list yet (OpenRouter's activity lists yesterday only once
        # processed), which no backfill can fetch; like a day after ``last``, its reporting lag.
        asked = asked_from.get(provider)
        unlisted = [d for d in missing if d > last - REFETCH_DAYS and asked is not None and d >= asked]
        missing = [d for d in missing if d not in unlisted]
        if unlisted:
            out.append(
                f"{provider}: its report does not list {_days(unlisted)} yet (a provider lists a day "
                "once it has processed it), so spend on it is only what local logs and record_usage "
                "estimate until a later sync brings it"
            )
        if missing:
            alike[(len(missing), missing[0], missing[-1])].append(provider)
    for (count, first, last_missing), names in alike.items():
        days = min(today - first + 1, max_days)
        line = (
            f"PARTIAL: {', '.join(names)}: {count} day(s) of this period ({_iso(first)} to "
            f"{_iso(last_missing)}) were never synced from the provider's API, so spend on them is only "
            "what local logs and record_usage estimate; "
            f"`cost-mcp sync --provider {' '.join(names)} --days {days}` (or sync_providers with "
            f"days={days}) fetches them, as far back as the provider keeps them"
        )
        out.append(gaps.said(line, *(gaps.bill(n, _date(first), _date(last_missing)) for n in names)))
    return out


_EPOCH = date(1970, 1, 1).toordinal()


def _days(days: Sequence[int]) -> str:
    return _iso(days[0]) if len(days) == 1 else f"{len(days)} days ({_iso(days[0])} to {_iso(days[-1])})"


def _iso(day: int) -> str:
    return _date(day).isoformat()


def _date(day: int) -> date:
    return date.fromordinal(_EPOCH + day)


def partial_report_lines(sources: Sequence[SourceStatus]) -> list[str]:
    """One line per provider whose total on some days is a report that may still grow (synced
    before the day ended plus the provider's reporting lag, and nothing else covering the day or
    at least the local estimates), from an answer's ``sources``: the amounts read as billed like
    any other, so `cost-mcp report` lists these under "partial:" and the dashboard beside its figures."""
    lines = []
    for source in sources:
        cover = source.coverage
        if cover is None:
            continue
        lag = "" if cover.reporting_lag.startswith("0") else f" plus its {cover.reporting_lag} reporting lag"
        partial = [d for d in cover.estimated_days if d.total_from == "partial report"]
        for report, what in (("billing", "billed so far"), ("usage", "usage so far (usage report)")):
            days = sorted({d.day for d in partial if d.report == report})
            if days:
                shown = ", ".join(days) if len(days) <= 3 else f"{days[0]} to {days[-1]} ({len(days)} days)"
                ended = f"synced before the day ended{lag}"
                lines.append(f"{source.source}: {shown} {what} ({ended}); may still grow")
    return lines


def attach(statuses: list[SourceStatus], coverage: dict[str, SourceCoverage]) -> list[SourceStatus]:
    """The source statuses with each provider's coverage of the period."""
    return [
        s.model_copy(update={"coverage": coverage[s.source]}) if s.source in coverage else s for s in statuses
    ]


def _usd(nanos: int) -> str:
    return format_usd(from_nanos(nanos))


def _hours(delta: timedelta) -> str:
    minutes = int(delta.total_seconds()) // 60
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}min"
