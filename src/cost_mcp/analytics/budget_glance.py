"""Budgets at a glance for the status line and the hooks, without the full spend engine.

:func:`cost_mcp.analytics.budgets.states_of` counts a budget's spend with get_spend's whole machinery
(billed data winning over estimates per provider and day, seat fees, team members, the filter
vocabulary) and builds pydantic results: importing that costs more than the status line's whole time
budget. In the usual personal ledger none of it has anything to do: no provider billing data touches
the budgets' periods, Claude Code usage is API spend, and budgets are scoped by provider, model,
agent and project only. Then a budget's spend is exactly the sum of the costs of its calls in its
period, which the quarter-hour rollup gives in one query per budget. :func:`glance` answers in that
case and returns None in every other, for the caller to take the full path; tests check that it
equals ``states_of`` wherever it answers. The status and projection rules are shared with it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Literal

from cost_mcp.analytics.vocabulary import FILTER_DIMENSIONS, project_names, read
from cost_mcp.core_settings import HasCoreSettings
from cost_mcp.money import from_nanos
from cost_mcp.periods import Granularity, calendar_period
from cost_mcp.store import budgets as budget_store
from cost_mcp.store import rollup, status
from cost_mcp.store.rollup import QUARTER_HOUR_MS

if TYPE_CHECKING:
    from cost_mcp.store.connection import Conn

StatusName = Literal["ok", "warning", "forecast_exceeded", "exceeded"]
MIN_ELAPSED_MS = 3_600_000
"""Projections extrapolate from at least an hour of the period, so a budget's first minutes do not
project a few cents to thousands."""
DAY_MS = 86_400_000
_PERIODS: dict[str, Granularity] = {"day": "day", "week": "week", "month": "month"}

_SCOPE_COLUMNS = {k: FILTER_DIMENSIONS[k] for k in ("providers", "models", "agents", "projects")}
"""The scope keys the glance counts itself, and their rollup columns (named as their dimensions); a
scope naming anything else takes the full path."""


def counts_claude_code(scope: Mapping[str, object], cwd: str, sources: Sequence[str], provider: str) -> bool:
    """Whether a budget of ``scope`` (a BudgetScope as a dict) can count a Claude Code session in the
    folder ``cwd``, whose calls carry ``sources`` and are billed by ``provider``
    (``hooks.session_provider``): its agents, providers, sources and projects allow it (a project by
    its path, its folder or its slug). Models, members and teams are not judged: the session may use
    the model, and a laptop's calls carry no member. For the status line, which shows the budget
    that binds."""

    def allows(key: str, wanted: AbstractSet[str]) -> bool:
        values = scope.get(key)
        return not values or not isinstance(values, list) or any(v in wanted for v in values)

    return (
        allows("agents", {"claude-code"})
        and allows("providers", {provider})
        and allows("sources", set(sources))
        and (not cwd or allows("projects", project_names(cwd)))
    )


def projected_spend(
    spent: Decimal, seats: Decimal, ahead: Decimal, start_ms: int, end_ms: int, now_ms: int
) -> Decimal:
    """End-of-period spend: usage extrapolated from the time elapsed, seat fees exactly (``seats``
    counted so far, ``ahead`` still to come)."""
    elapsed = max(min(now_ms, end_ms) - start_ms, MIN_ELAPSED_MS)
    return ((spent - seats) * (end_ms - start_ms) / elapsed + seats + ahead).quantize(Decimal("0.000000001"))


def status_name(
    amount: Decimal, thresholds: Sequence[Decimal], spent: Decimal, projected: Decimal
) -> StatusName:
    """A budget's status from what it has spent and is projected to spend."""
    if spent >= amount:
        return "exceeded"
    if projected > amount:
        return "forecast_exceeded"
    if any(spent >= amount * t for t in thresholds if t < 1):
        return "warning"
    return "ok"


def percent_of(spent: Decimal, amount: Decimal) -> float:
    """Spent as a percentage of the amount, to one decimal, as budget results show it: rounded
    down, so that it reads 100% only once the limit is reached (``status_name``'s "exceeded" and
    the 100% alert are ``spent >= amount``), and 80% only once an 80% alert can have fired."""
    # Rounded half-even, $99.96 of $100 read "100.0%" beside "forecast exceeded" and "$0.04 left",
    # and the 80% alert said "$99.96 spent (100.0%)": the limit looked reached when it was not.
    return float((spent / amount * 100).quantize(Decimal("0.1"), rounding=ROUND_FLOOR))


@dataclass(frozen=True)
class Glance:
    """One budget in the period containing the moment asked about."""

    name: str
    amount: Decimal
    hard: bool
    thresholds: tuple[Decimal, ...]
    spent: Decimal
    start_ms: int
    end_ms: int
    unpriced: int = 0
    """Calls in scope and period with no known price: not in ``spent``."""
    scope: Mapping[str, object] = field(default_factory=dict)
    """The budget's scope as stored (a BudgetScope as a dict)."""

    @property
    def remaining(self) -> Decimal:
        """Amount minus spent (negative once over)."""
        return self.amount - self.spent

    @property
    def percent(self) -> float:
        """Spent as a percentage of the amount."""
        return percent_of(self.spent, self.amount)

    def status(self, now_ms: int) -> StatusName:
        """budget_status' status for this budget at ``now_ms`` (no seat fees: the scope counts none)."""
        zero = Decimal(0)
        projected = projected_spend(self.spent, zero, zero, self.start_ms, self.end_ms, now_ms)
        return status_name(self.amount, self.thresholds, self.spent, projected)


def glance(conn: Conn, settings: HasCoreSettings, now: datetime) -> list[Glance] | None:
    """Every budget at ``now`` from the rollup, or None when only the full path can be exact."""
    if settings.claude_code_billing == "subscription":
        return None  # Claude Code usage is then a subscription's value, not spend: the full rules apply
    rows = budget_store.all_budgets(conn)
    scoped: list[tuple[budget_store.BudgetRow, list[tuple[str, Sequence[str]]], dict[str, object]]] = []
    for row in rows:
        try:
            scope = json.loads(row.scope_json)
        except ValueError:
            return None
        if not isinstance(scope, dict) or any(v and k not in _SCOPE_COLUMNS for k, v in scope.items()):
            return None  # seat fees, sources, members or teams: the full path counts those
        filters: list[tuple[str, Sequence[str]]] = []
        for key, column in _SCOPE_COLUMNS.items():
            values = scope.get(key) or []
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                return None
            if values:
                filters.append((column, values))  # widened to the stored names below
        if row.period not in _PERIODS:
            return None
        scoped.append((row, filters, scope))
    if not scoped:
        return []
    periods = [
        calendar_period(_PERIODS[row.period], now, tz=settings.tz, week_start=settings.week_start)
        for row, _, _ in scoped
    ]
    # Billed data counts per UTC day, and local calls near a period's edge can sit on the UTC day
    # before or after it: a day's margin either side, as get_spend reads.
    lo = min(p.start_ms for p in periods) - DAY_MS
    hi = max(p.end_ms for p in periods) + DAY_MS
    if status.billing_data_between(conn, lo, hi):
        return None
    # From the budgets' periods on: what a re-price marked years ago waits for the question that
    # reads it. Before the scopes are widened to the stored names: a model only calls just received
    # had, named without its date, counted $0.
    names = read(conn, min(p.start_ms for p in periods))
    if names.refreshed == rollup.TOO_LARGE:
        return None  # some calls are left out of the rollup: the full path says so
    out: list[Glance] = []
    for (row, scope_filters, scope), p in zip(scoped, periods, strict=True):
        filters = [(column, names.expand(column, values)) for column, values in scope_filters]
        # Period bounds are local midnights, which fall on quarter-hours in every timezone.
        sums = rollup.sums_by_quarter_hour(
            conn, p.start_ms // QUARTER_HOUR_MS, -(-p.end_ms // QUARTER_HOUR_MS), settings.cost_mode, filters
        )
        out.append(
            Glance(
                name=row.name,
                amount=from_nanos(row.amount_nanos),
                hard=row.hard,
                thresholds=tuple(Decimal(t) for t in json.loads(row.thresholds_json)),
                spent=from_nanos(sum(cost for _, cost, _, _ in sums)),
                start_ms=p.start_ms,
                end_ms=p.end_ms,
                unpriced=sum(unpriced for _, _, unpriced, _ in sums),
                scope=scope,
            )
        )
    return out
