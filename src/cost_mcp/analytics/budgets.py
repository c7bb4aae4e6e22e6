"""Budgets: calendar-aligned limits, their state, pre-flight checks, and alerts that fire once.

A budget's period is the calendar day, week or month containing "now" in the configured timezone
and week start. What it has spent is exactly what get_spend reports for that period and scope, so
a budget and a report can never disagree.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from cost_mcp import notify
from cost_mcp.analytics import vocabulary
from cost_mcp.analytics.alerts import settle_deliveries
from cost_mcp.analytics.budget_glance import percent_of, projected_spend, status_name
from cost_mcp.analytics.spend import (
    Filters,
    SpendTotal,
    fees_ahead,
    log_read_warning,
    logs_can_touch,
    missing_bill_partials,
    quiet_laptop_warnings,
    spend_totals,
    unread_logs,
)
from cost_mcp.config import Settings, source_provider
from cost_mcp.errors import InvalidInputError, NotFoundError
from cost_mcp.models import (
    Budget,
    BudgetCheck,
    BudgetName,
    BudgetPeriod,
    BudgetScope,
    BudgetState,
    BudgetStatusName,
    BudgetStatusResult,
    CheckResult,
    check_amount,
    checked,
)
from cost_mcp.money import bounded, format_usd, from_nanos, to_nanos
from cost_mcp.output import counted
from cost_mcp.periods import Period, calendar_period, iso_utc, local_date, ms_to_datetime, to_ms, wall_clock
from cost_mcp.pricing import CLAUDE_PROVIDERS
from cost_mcp.store import alerts as alert_store
from cost_mcp.store import budgets as budget_store
from cost_mcp.store import deliveries, rollup
from cost_mcp.store import holds as hold_store
from cost_mcp.store import team as team_store
from cost_mcp.store.connection import Conn
from cost_mcp.store.known import every_value

DEFAULT_THRESHOLDS = (Decimal("0.5"), Decimal("0.8"), Decimal("1.0"))
MAX_THRESHOLD = Decimal(10)
"""The highest alert threshold, as a fraction of a budget's amount: 10 times it."""


@dataclass(frozen=True)
class Unread:
    """Log bytes not read yet, for a budget check: the most they could add, and what to say
    (catchup.unread makes one from a reading in progress)."""

    worst_usd: Decimal | None
    """None when how much is left is not known yet: then there is no bound."""
    note: str


# --- storing budgets ----------------------------------------------------------------------------


def members_and_teams(values: Sequence[str]) -> tuple[list[str], list[str]]:
    """A budget's member values (emails, or ``team:NAME``) as its scope keeps them: members as the
    ledger stores them (:func:`team_store.member_name`: an email trimmed and lower-cased, an OTel
    account id as sent), team names trimmed, each once, in the order given. ``" Ana@Example.COM"``
    pasted into set_budget was kept as " ana@example.com": a member no call names, so Ana's own
    budget_status showed no budget, and her spend none; an account id lower-cased was the same."""
    cleaned = [v.strip() for v in values]
    teams = [v.removeprefix("team:").strip() for v in cleaned if v.startswith("team:")]
    emails = [team_store.member_name(v) for v in cleaned if not v.startswith("team:")]
    return list(dict.fromkeys(emails)), list(dict.fromkeys(teams))


def set_budget(
    conn: Conn,
    name: str,
    amount_usd: Decimal,
    period: BudgetPeriod,
    scope: BudgetScope,
    thresholds: Sequence[Decimal] | None = None,
    hard: bool = False,
    *,
    webhook: str | None = None,
    settings: Settings | None = None,
) -> Budget:
    """Create or replace a budget. Raises InvalidInputError for a name, scope, amount, threshold or
    webhook that cannot work. Replacing keeps the alerts already fired this period, except those a
    new amount or scope puts out of reach again (with ``settings``): each alerts when crossed anew.

    ``webhook`` names a webhook configured in ``settings`` (COST_MCP_WEBHOOKS; a URL a person typed
    at the CLI is kept there first): the ledger keeps the name, never a URL, whose path may be its
    secret. A link-local or cloud-metadata destination is refused.
    """
    name = checked(BudgetName, name, "budget name")
    scope = checked(BudgetScope, scope.model_dump(), "budget scope")
    check_amount(amount_usd)
    levels = sorted(set(thresholds if thresholds is not None else DEFAULT_THRESHOLDS))
    if not levels or any(not t.is_finite() or t <= 0 or t > MAX_THRESHOLD for t in levels):
        raise InvalidInputError(
            f"thresholds are fractions of the amount above 0 and at most {MAX_THRESHOLD}, e.g. [0.5, 0.8, 1]"
        )
    if webhook is not None:
        if settings is None:
            raise InvalidInputError("a webhook name needs the settings that configure it")
        notify.configured(settings, webhook)
    row = budget_store.BudgetRow(
        name=name,
        amount_nanos=to_nanos(amount_usd),
        period=period,
        scope_json=scope.model_dump_json(),
        thresholds_json=json.dumps([str(t) for t in levels]),
        hard=hard,
        webhook=webhook,
    )
    before = budget_store.get(conn, name)
    budget_store.upsert(conn, row, datetime.now(UTC).isoformat())
    made = get_budget(conn, name, settings)
    # A threshold fired under the old amount or scope says nothing about the new one: raised from $50
    # to $200, "passed 100%" of $50 must not silence the alert at $200 for the rest of the period.
    was = (before.amount_nanos, before.scope_json) if before is not None else None
    if settings is not None and was not in (None, (row.amount_nanos, row.scope_json)):
        rearm_unreached(conn, settings, [made], datetime.now(UTC))
    return made


def find_budget(conn: Conn, name: str, settings: Settings | None = None) -> Budget | None:
    """One budget, or None when there is none of that name (see :func:`get_budget`)."""
    row = budget_store.get(conn, name)
    return from_row(row, settings) if row is not None else None


_SCOPE_FLAGS = (
    ("providers", "--provider"),
    ("models", "--model"),
    ("agents", "--agent"),
    ("projects", "--project"),
    ("sources", "--source"),
    ("members", "--member"),
    ("teams", "--team"),
)


def set_command(budget: Budget, amount: str = "AMOUNT") -> str:
    """The ``cost-mcp budget set`` command that sets ``budget`` again, at ``amount``, with all it has:
    what a person runs to raise it without losing its period, scope, hardness or webhook (the
    command replaces a budget whole). A webhook given as a URL is shown as ``URL``: it may hold a
    token."""
    parts = ["cost-mcp", "budget", "set", shlex.quote(budget.name), amount, "--period", budget.period]
    for attr, flag in _SCOPE_FLAGS:
        for value in getattr(budget.scope, attr):
            parts += [flag, shlex.quote(value)]
    every_basis = ["billed", "estimated", "subscription"]  # what --include-subscriptions sets
    if sorted(budget.scope.basis) == every_basis:
        parts.append("--include-subscriptions")
    if budget.thresholds != list(DEFAULT_THRESHOLDS):
        for t in budget.thresholds:
            parts += ["--threshold", f"{t.normalize():f}"]
    if budget.hard:
        parts.append("--hard")
    if budget.webhook:
        parts += ["--webhook", shlex.quote(budget.webhook)]
    told = " ".join(parts)
    if budget.scope.basis and sorted(budget.scope.basis) != every_basis:
        told += f" (the CLI cannot give its basis {', '.join(budget.scope.basis)}: the set_budget tool can)"
    return told


def replaced_note(before: Budget | None, made: Budget, *, cli: bool) -> str | None:
    """What setting ``made`` over ``before`` changed besides the amount, and how to keep it; None
    when nothing else changed (or there was no budget before).

    set_budget replaces a budget whole, and people raise one by its name and amount: ``budget set
    daily-hard 5`` turned a hard day budget with a webhook into a soft month one with none, which
    the hook no longer enforced, and said only "$5.00 per month". ``cli``: the advice is the command
    that keeps them, else the set_budget arguments to give again.
    """
    if before is None:
        return None
    changes: list[tuple[str, str]] = []  # (what changed, the set_budget argument that keeps it)
    if before.period != made.period:
        changes.append((f"period {before.period} -> {made.period}", f'period="{before.period}"'))
    if before.hard != made.hard:
        changes.append(
            (
                "hard -> soft: check_budget and the Claude Code hook no longer refuse calls over it",
                "hard=true",
            )
            if before.hard
            else ("soft -> hard", "hard=false")
        )
    was_hook, now_hook = _webhook_of(before), _webhook_of(made)
    if was_hook != now_hook:
        keep = f'webhook="{before.webhook}"' if before.webhook else "no webhook"
        gone = f": alerts go to {_named(was_hook)} no more" if was_hook else ""
        changes.append((f"webhook {_named(was_hook)} -> {_named(now_hook)}{gone}", keep))
    if before.scope != made.scope:
        changes.append(
            (f"scope {_scope_text(before.scope)} -> {_scope_text(made.scope)}", _scope_args(before.scope))
        )
    if before.thresholds != made.thresholds:
        listed = ", ".join(f"{t.normalize():f}" for t in before.thresholds)
        changes.append(
            (
                f"thresholds {_percents(before.thresholds)} -> {_percents(made.thresholds)}",
                f"thresholds=[{listed}]",
            )
        )
    if not changes:
        return None
    keep = (
        f"to keep the rest as it was: {set_command(before, f'{made.amount_usd.normalize():f}')}"
        if cli
        else f"set_budget replaces a budget whole: give {', '.join(k for _, k in changes)} again to keep "
        "what it had"
    )
    return f"budget '{made.name}' replaced, not only its amount: {'; '.join(c for c, _ in changes)}; {keep}"


def _webhook_of(budget: Budget) -> str | None:
    """Where a budget's alerts go: the configured webhook's name, or None."""
    return budget.webhook


def _named(webhook: str | None) -> str:
    return "none" if webhook is None else webhook if webhook == "a URL" else f"'{webhook}'"


def _scope_text(scope: BudgetScope) -> str:
    parts = [f"{attr}={','.join(values)}" for attr, values in scope.model_dump().items() if values]
    return " ".join(parts) if parts else "all usage"


def _scope_args(scope: BudgetScope) -> str:
    """``scope`` as set_budget's arguments (its teams among ``members`` as team:NAME)."""
    values = scope.model_dump()
    values["members"] = [*values.pop("members"), *(f"team:{t}" for t in values.pop("teams"))]
    args = [f"{attr}={json.dumps(v)}" for attr, v in values.items() if v]
    return ", ".join(args) if args else "no scope"


def _percents(thresholds: Sequence[Decimal]) -> str:
    return ", ".join(f"{(t * 100).normalize():f}%" for t in thresholds)


def rearm_unreached(
    conn: Conn, settings: Settings, chosen: Sequence[Budget], now: datetime
) -> list[tuple[Budget, list[str], Decimal]]:
    """Forget the thresholds of each of ``chosen`` fired in its period containing ``now`` that its
    spend no longer reaches, so each fires again when crossed; per budget that had any, the
    thresholds forgotten and where spend stands.

    What has fired is read before spend is summed, and each record is forgotten only if it is still
    the firing read: a threshold another process fires meanwhile fired on spend this sum may not
    hold yet, and re-arming it would let the same crossing alert twice.
    """
    starts = [alert_keys(budget_period(b, settings, now)) for b in chosen]
    fired = [alert_store.fired(conn, b.name, start) for b, start in zip(chosen, starts, strict=True)]
    done: list[tuple[Budget, list[str], Decimal]] = []
    states = states_of(conn, settings, chosen, now)
    for budget, start, firings, state in zip(chosen, starts, fired, states, strict=True):
        below = {t: at for t, at in firings.items() if state.spent_usd < budget.amount_usd * Decimal(t)}
        if alert_store.rearm(conn, budget.name, start, below):
            done.append((budget, sorted(below, key=Decimal), state.spent_usd))
    return done


def delete_budget(conn: Conn, name: str) -> None:
    """Remove a budget and its alert history; NotFoundError lists the budgets that exist.

    Any name is accepted, so that one stored before names had limits can still be removed."""
    if not budget_store.delete(conn, name):
        raise NotFoundError(_unknown(conn, name))


def _unknown(conn: Conn, name: str) -> str:
    names = budget_store.names(conn)
    known = f"budgets: {', '.join(names)}" if names else "no budgets exist yet; create one with set_budget"
    return f"no budget named {name[:80]!r} ({known})"


def from_row(row: budget_store.BudgetRow, settings: Settings | None = None) -> Budget:
    """A stored budget as results show it (a configured webhook's URL resolved with ``settings``)."""
    url = None
    if row.webhook and settings is not None:
        try:
            url = settings.webhook_urls().get(row.webhook)
        except InvalidInputError:
            url = None
    return Budget(
        name=row.name,
        amount_usd=from_nanos(row.amount_nanos),
        period=row.period,
        # Not validated: a scope stored before values had length limits must not break every read.
        scope=BudgetScope.model_construct(**json.loads(row.scope_json)),
        thresholds=[Decimal(t) for t in json.loads(row.thresholds_json)],
        hard=row.hard,
        webhook=row.webhook,
        webhook_url=notify.display_url(url) if url else None,
    )


def destination(row: budget_store.BudgetRow) -> notify.Destination | None:
    """Where a stored budget's alerts go, if anywhere."""
    return notify.Destination(row.webhook) if row.webhook else None


def get_budget(conn: Conn, name: str, settings: Settings | None = None) -> Budget:
    """One budget, or NotFoundError naming the ones that exist."""
    budget = find_budget(conn, name, settings)
    if budget is None:
        raise NotFoundError(_unknown(conn, name))
    return budget


def list_budgets(conn: Conn, settings: Settings | None = None) -> list[Budget]:
    """Every budget, by name."""
    return [from_row(r, settings) for r in budget_store.all_budgets(conn)]


# --- state ----------------------------------------------------------------------------------------


USAGE_BASIS = ("billed", "estimated")
"""What a budget counts unless its scope names a basis: usage, not seat fees."""


def _filters(scope: BudgetScope, conn: Conn | None = None) -> Filters:
    """What get_spend counts for a budget; without ``conn``, the teams a scope names are not expanded."""
    return Filters(
        providers=scope.providers or None,
        models=scope.models or None,
        agents=scope.agents or None,
        projects=scope.projects or None,
        sources=scope.sources or None,
        members=scope_members(conn, scope) or None,
        basis=scope.basis or USAGE_BASIS,
    )


def scope_members(conn: Conn | None, scope: BudgetScope) -> list[str]:
    """The members a budget counts: those it names plus every member of the teams it names (none:
    every member). A team with no members left counts nobody rather than everybody."""
    members = set(getattr(scope, "members", None) or [])
    named_teams = getattr(scope, "teams", None) or []
    if named_teams and conn is not None:
        known = team_store.teams(conn)
        for t in named_teams:
            members.update(known.get(t) or ["(no members in team " + t + ")"])
    return sorted(members)


def budget_period(budget: Budget, settings: Settings, now: datetime) -> Period:
    """The calendar day, week or month of ``budget`` that contains ``now``."""
    return calendar_period(budget.period, now, tz=settings.tz, week_start=settings.week_start)


def earliest_start(budgets: Iterable[Budget], settings: Settings, now: datetime) -> int:
    """The earliest start (UTC ms) of ``budgets``' periods containing ``now``: a budget check
    reads no spend before it (``rollup.refresh``'s ``since_ms``)."""
    return min((budget_period(b, settings, now).start_ms for b in budgets), default=to_ms(now))


def alert_keys(p: Period) -> tuple[int, int]:
    """The ``period_start_ms`` keys of a budget period's alerts: the new alerts' key, then the one
    alerts fired before were recorded under.

    The key is the period's first local date read as a UTC midnight, the same in every timezone:
    keyed by the instant it began where it was evaluated, March in Los Angeles and March in Paris
    were two periods, so a developer flying from one to the other mid-month, or team members in
    several zones sharing a ledger, got each alert once per zone. Ledgers from before hold that
    instant (of the configured zone), still read so the current period's alerts do not fire again.
    """
    return p.utc_dates_ms()[0], p.start_ms


def spent_in(
    conn: Conn, settings: Settings, budget: Budget, p: Period, now: datetime | None = None
) -> Decimal:
    """What counts against ``budget`` in period ``p`` as of ``now`` (exactly get_spend's total for its
    scope: seat fees, when the scope counts them, up to today)."""
    today = local_date(to_ms(now), p.tz) if now is not None else datetime.now(p.tz).date()
    return spend_totals(conn, settings, [(p, _filters(budget.scope, conn))], today)[0].total_usd


def state_of(conn: Conn, settings: Settings, budget: Budget, now: datetime) -> BudgetState:
    """A budget in the period containing ``now``: spent, remaining, projection, status, fired."""
    return states_of(conn, settings, [budget], now)[0]


def states_of(
    conn: Conn,
    settings: Settings,
    budgets: Sequence[Budget],
    now: datetime,
    names: vocabulary.Names | None = None,
) -> list[BudgetState]:
    """Each budget in the period containing ``now``, from one read of the ledger for them all.

    The projection extrapolates usage from the time elapsed, and adds seat fees (when the scope
    counts them) exactly: those still to come are known, not a rate. ``names``: the ledger's names,
    read already from the budgets' periods on (:func:`vocabulary.read`), else read here.
    """
    if not budgets:
        return []
    periods = [budget_period(b, settings, now) for b in budgets]
    today = local_date(to_ms(now), settings.tz)
    totals = spend_totals(
        conn,
        settings,
        [(p, _filters(b.scope, conn)) for b, p in zip(budgets, periods, strict=True)],
        today,
        names,
    )
    return [_state(conn, b, p, now, t) for b, p, t in zip(budgets, periods, totals, strict=True)]


def _state(conn: Conn, budget: Budget, p: Period, now: datetime, result: SpendTotal) -> BudgetState:
    spent = result.total_usd
    seats = result.by_basis.get("subscription", Decimal(0))
    ahead = fees_ahead(conn, p, _filters(budget.scope, conn), local_date(to_ms(now), p.tz))
    projected = projected_spend(spent, seats, ahead, p.start_ms, p.end_ms, to_ms(now))
    fired = [Decimal(t) for t in alert_store.fired(conn, budget.name, alert_keys(p))]
    return BudgetState(
        budget=budget,
        period_start=iso_utc(p.start_ms),
        period_end=iso_utc(p.end_ms),
        first_day=p.first_day.isoformat(),
        # Named because a view may show its other figures in another timezone (the dashboard's
        # ?timezone=): a daily budget's day is then not the page's "today".
        timezone=str(p.tz.key),
        spent_usd=spent,
        spent_by_basis=dict(result.by_basis),
        unpriced_by_basis=dict(result.unpriced_by_basis),
        remaining_usd=budget.amount_usd - spent,
        percent=percent_of(spent, budget.amount_usd),
        projected_usd=max(projected, spent),
        status=_status(budget, spent, projected),
        fired_thresholds=sorted(fired),
        unpriced_requests=result.unpriced_requests,
        estimates_set_aside_usd=result.set_aside_usd,
    )


def _status(budget: Budget, spent: Decimal, projected: Decimal) -> BudgetStatusName:
    return status_name(budget.amount_usd, budget.thresholds, spent, projected)


NO_BUDGETS_YET = "no budgets yet: create one with set_budget(name, amount_usd, period)"
"""budget_status's warning with no budget set, worded for an assistant (the CLI words its own)."""


def budget_status(
    conn: Conn,
    settings: Settings,
    name: str | None = None,
    now: datetime | None = None,
    *,
    take_alerts: bool = True,
    member: str | None = None,
) -> BudgetStatusResult:
    """Every budget (or the named one) in its current period, with alerts not shown yet (consumed
    unless ``take_alerts`` is false). With ``member`` (a team member asking), only the budgets that
    count that member (:func:`visible_to`), as they may see them (:func:`seen_by`)."""
    moment = now or datetime.now(UTC)
    if member is None:
        budgets = [get_budget(conn, name, settings)] if name else list_budgets(conn, settings)
    else:
        shown = [b for b in list_budgets(conn, settings) if visible_to(conn, b, member)]
        budgets = [b for b in shown if b.name == name] if name else shown
        if name and not budgets:
            # The same answer for a budget that does not exist and one that is not theirs: the
            # names of the others (often a member's or a project's) are not a member's to list.
            counted = ", ".join(b.name for b in shown) if shown else "none yet: a team admin sets budgets"
            raise NotFoundError(
                f"no budget named {name[:80]!r} counts your spend (budgets that do: {counted})"
            )
    if budgets:
        warnings: list[str] = []
    elif member is not None:
        # A member cannot call set_budget: saying so would send the model to a refusal.
        warnings = [f"no budget counts {member}'s spend yet: a team admin sets budgets"]
    else:
        warnings = [NO_BUDGETS_YET]
    for b in budgets:
        warnings += scope_warnings(conn, b if member is None else seen_by(conn, b, member), member)
    mine = {f"budget '{b.name}' " for b in budgets}
    # The refresh before this answer may have just started POSTing a due retry: let it finish, so
    # what is said of a delivery is what happened, not "not delivered yet" for one being delivered.
    settle_deliveries(conn)
    warnings += [w for w in deliveries.problems(conn, name) if member is None or w.startswith(tuple(mine))]
    warnings += _quiet_laptops(conn, settings, budgets, moment, member)
    states, missing = with_missing_bills(
        conn, settings, states_of(conn, settings, budgets, moment), moment, member
    )
    warnings[:0] = missing
    warnings += _left_out(conn) if budgets else []  # as states_of's refresh of the rollup left it
    if member is not None:
        # Spent from the whole scope (a team budget's room is the team's), shown as theirs.
        states = [s.model_copy(update={"budget": seen_by(conn, s.budget, member)}) for s in states]
    return BudgetStatusResult(
        budgets=states,
        warnings=warnings + unpriced_notes(states, settings) + set_aside_notes(states),
        alerts=alert_store.take(conn) if take_alerts else [],
    )


def visible_to(conn: Conn, budget: Budget, member: str) -> bool:
    """Whether a team ``member`` may see ``budget``: one that counts them (naming them or a team of
    theirs), or a team-wide one; a team-wide one scoped by agent or project only when one of them is
    the member's own (another member's project, and that member's spend on it, are not theirs)."""
    members = scope_members(conn, budget.scope)
    if members:
        return member in members
    private = _private(budget.scope).values()
    return all(not values or _own(conn, dim, values, member) for dim, values in private)


def seen_by(conn: Conn, budget: Budget, member: str) -> Budget:
    """``budget`` as a team ``member`` sees it: its scope naming no other member, no team they are
    not in, and (a team-wide budget) none of the agents or projects that are not theirs."""
    scope = budget.scope
    teams = team_store.teams(conn)
    update: dict[str, list[str]] = {
        "members": [m for m in scope.members if m.lower() == member],
        "teams": [t for t in scope.teams if member in {m.lower() for m in teams.get(t, [])}],
    }
    if not scope_members(conn, scope):
        update |= {attr: _own(conn, dim, values, member) for attr, (dim, values) in _private(scope).items()}
    return budget.model_copy(update={"scope": scope.model_copy(update=update)})


def _private(scope: BudgetScope) -> dict[str, tuple[str, list[str]]]:
    """The scope's values named after someone's own usage (agents, projects), by field, with the
    dimension each filters."""
    return {"agents": ("agent", list(scope.agents)), "projects": ("project", list(scope.projects))}


def _own(conn: Conn, dimension: str, values: Sequence[str], member: str) -> list[str]:
    """Those of ``values`` that name the ``member``'s own usage."""
    return [v for v in values if not vocabulary.unmatched(conn, dimension, [v], member)]


BILL_MISSING = "a provider's bill the budget counts is missing"
"""What a budget's spent lacks (BudgetState.lacking) when a bill it counts never synced."""


def logs_unread(source: str) -> str:
    """What a budget's spent lacks (BudgetState.lacking) when ``source``'s log files it counts could
    not be opened by the last read."""
    return f"{source} log files the budget counts could not be opened"


def with_missing_bills(
    conn: Conn, settings: Settings, states: Sequence[BudgetState], now: datetime, member: str | None = None
) -> tuple[list[BudgetState], list[str]]:
    """The budgets' ``states``, each not ``complete`` when a provider's bill it counts is missing or
    log files of calls it counts could not be opened (:func:`spend.logs_can_touch`), saying which
    in its ``lacking``, and the PARTIAL lines saying which (:func:`spend.missing_bill_partials`,
    :func:`spend.log_read_warning`): every view of a budget marks its figures so (money.bounded),
    where a $0.00 read as nothing spent. A team ``member``'s budgets count none of the server's own
    logs, so only bills."""
    budgets = [s.budget for s in states]
    # The lines depend only on the period and the providers asked of (_bills_question): budgets that
    # ask the same (each month's unscoped budgets, and all of them together) share one answer, where
    # each budget read every provider's sync state again.
    answers: dict[_BillsQuestion, list[str]] = {}

    def missing_of(some: Sequence[Budget]) -> list[str]:
        question = _bills_question(some, settings, now)
        if question is None:
            return []
        if question not in answers:
            p, providers = question
            answers[question] = missing_bill_partials(
                conn, settings, p, None if providers is None else list(providers), member=member is not None
            )
        return answers[question]

    missing = missing_of(budgets)
    unread = [] if member is not None else unread_logs(conn)
    if not missing and not unread:
        return list(states), []
    lacks: dict[str, list[str]] = {b.name: [] for b in budgets}
    if missing:
        # Per budget, asked only when some bill is missing.
        for b in budgets:
            if missing_of([b]):
                lacks[b.name].append(BILL_MISSING)
    said: dict[str, None] = dict.fromkeys(missing)
    for source, error in unread:
        for b in budgets:
            scope = b.scope
            if logs_can_touch(
                source,
                settings,
                agents=scope.agents,
                providers=scope.providers,
                sources=scope.sources,
                bases=scope.basis,
                # A budget of members or teams counts their pushed calls: none of this machine's logs.
                members=[*scope.members, *scope.teams],
            ):
                lacks[b.name].append(logs_unread(source))
                said[log_read_warning(source, error)] = None
    return [
        s.model_copy(update={"complete": False, "lacking": lacks[s.budget.name]})
        if lacks[s.budget.name]
        else s
        for s in states
    ], list(said)


_BillsQuestion = tuple[Period, tuple[str, ...] | None]
"""What :func:`missing_bill_partials` is asked for some budgets: over which period, of which
providers (None: every one)."""


def _bills_question(budgets: Sequence[Budget], settings: Settings, now: datetime) -> _BillsQuestion | None:
    """What the budgets' spent may lack of the providers they count, as the question
    :func:`missing_bill_partials` answers (the bills they would count that failed to sync): the
    latest of their periods and the providers they name; None when they count no provider's bill
    (budgets of agents count local calls only)."""
    counted = [b for b in budgets if not b.scope.agents]
    if not counted:
        return None
    providers: set[str] = set()
    every = False
    for b in counted:
        named = set(b.scope.providers)
        if b.scope.sources:
            # Scoped to data sources: the providers whose data they are (none for local logs),
            # within the providers the scope names too.
            of_sources = {p for p in map(source_provider, b.scope.sources) if p is not None}
            named = named & of_sources if named else of_sources
        elif not named:
            every = True
        providers.update(named)
    if not every and not providers:
        return None
    latest = max((budget_period(b, settings, now) for b in counted), key=lambda p: p.end_ms)
    return latest, None if every else tuple(sorted(providers))


def _quiet_laptops(
    conn: Conn, settings: Settings, budgets: Sequence[Budget], now: datetime, member: str | None
) -> list[str]:
    """On a team server, the laptops gone quiet whose usage the budgets count
    (:func:`quiet_laptop_warnings`, the same lines get_spend gives), each once: a team budget's spent
    lacked a laptop's last days with nothing said, where get_spend for the same month said it. A
    ``member`` asking hears only of their own laptops. A budget of provider reports alone
    (``sources`` all a provider's) counts no laptop's push. The laptops are read once for all the
    budgets, each budget taking those of the members it counts."""
    found: dict[str, None] = {}
    senders: list[team_store.PushSender] | None = None
    for b in budgets:
        if b.scope.sources and all(source_provider(s) is not None for s in b.scope.sources):
            continue
        if senders is None:
            senders = team_store.push_senders(conn, [member] if member is not None else None)
        counted = {m.lower() for m in scope_members(conn, b.scope)}
        # A member hears of their own laptops only (read so above); an admin of the budget's members'.
        mine = senders if member is not None or not counted else [s for s in senders if s.member in counted]
        p = budget_period(b, settings, now)
        found.update(dict.fromkeys(quiet_laptop_warnings(mine, p.end_ms, now)))
    return list(found)


def scope_warnings(conn: Conn, budget: Budget, member: str | None = None) -> list[str]:
    """A warning for each scope value that matches nothing recorded: it may be a typo, and then the
    budget counts nothing (said when it is set, and in every status). For a team ``member`` asking,
    the hints name only their own values and no other member or team (:func:`vocabulary.unmatched`)."""
    found = [
        w
        for attr in ("providers", "models", "agents", "projects", "sources")
        for w in vocabulary.unmatched(
            conn, vocabulary.FILTER_DIMENSIONS[attr], getattr(budget.scope, attr), member
        )
    ]
    scope = budget.scope
    if scope.members or scope.teams:
        teams = team_store.teams(conn)
        known = known_members(conn) | {m.lower() for ms in teams.values() for m in ms}
        check = (
            f"check the spelling; {vocabulary.listing(known, 'members', 'no members yet')}"
            if member is None
            else "a team admin can check the spelling"
        )
        found += [
            f"member {m!r} matches nothing: no token, team or usage names them ({check})"
            for m in scope.members
            if m.lower() not in known
        ]
        named = f" ({vocabulary.listing(teams, 'teams', 'no teams yet')})" if member is None else ""
        found += [
            f"team {t!r} does not exist{named}; make it with `cost-mcp team set {t} EMAIL...`"
            for t in scope.teams
            if t not in teams
        ]
    found += departed_notes(conn, budget)
    return [f"budget '{budget.name}': {w}" for w in found]


def known_members(conn: Conn, *, revoked: bool = False) -> set[str]:
    """The members (lower case) a live token (with ``revoked``, any token) was made for or usage is
    recorded under; a budget's scope also knows those a team names (:func:`scope_warnings`)."""

    known = {t.member.lower() for t in team_store.list_tokens(conn) if revoked or t.revoked_at is None}
    return known | {m.lower() for m in every_value(conn, "member")}


def team_warnings(conn: Conn, team: str, members: Sequence[str]) -> list[str]:
    """A warning for each of a team's ``members`` no token or usage names: a misspelt address in a
    team counts nothing in the team's budgets, and nothing said so later, since a budget's scope
    takes a member a team names as known (``team set ops carol@exmaple.com`` was silent)."""
    known = known_members(conn, revoked=True)  # a revoked token still spelt the address
    return [
        f"team {team}: member {m!r} has no token and no usage yet (check the spelling; "
        f"{vocabulary.listing(known, 'members', 'no members yet')}); until a call of theirs is recorded, "
        "the team's budgets count nothing for them"
        for m in members
        if m.lower() not in known
    ]


def team_budget_states(conn: Conn, settings: Settings, team: str, now: datetime) -> list[BudgetState]:
    """The budgets that name ``team``, in their current periods, counting its members as stored now:
    taken before and after ``team set`` for :func:`team_change_notes`."""
    named = [b for b in list_budgets(conn, settings) if team in b.scope.teams]
    return states_of(conn, settings, named, now)


def team_change_notes(
    team: str,
    before: Sequence[BudgetState],
    after: Sequence[BudgetState],
    left: Sequence[str],
    joined: Sequence[str],
) -> list[str]:
    """What a change of ``team``'s members did to its budgets' current periods, one line per budget
    whose spent moved. A team's budgets count its members as they are now, for the whole period (no
    history of who was in it when is kept): removing a member mid-month took their whole month out
    of the team's budget, and adding one brought theirs in, with nothing said to the admin who did it."""
    was = {s.budget.name: s for s in before}
    notes = []
    for state in after:
        old = was.get(state.budget.name)
        if old is None or old.spent_usd == state.spent_usd:
            continue
        since = f"since {state.first_day}"
        moved = [f"{', '.join(left)}'s usage {since} no longer counts"] if left else []
        moved += [f"{', '.join(joined)}'s usage {since} counts now"] if joined else []
        notes.append(
            f"budget '{state.budget.name}' ({state.budget.period} from {state.first_day}) counts team "
            f"{team}'s members as they are now, for its whole period: {format_usd(old.spent_usd)} spent "
            f"before, {format_usd(state.spent_usd)} now ({'; '.join(moved)}; alerts already sent stay sent)"
        )
    return notes


def model_notes(conn: Conn, budget: Budget) -> list[str]:
    """For each model the scope names, the other ids the ledger has recorded it under, which the
    budget counts too (dated, dotted or provider-prefixed: :func:`vocabulary.model_key`), so that
    whoever sets it sees what it holds: calls just received or reported too, the rollup not rebuilt yet."""
    known = every_value(conn, "model")
    notes: list[str] = []
    for m in budget.scope.models:
        others = [k for k in vocabulary.same_models([m], known) if k != m]
        if others:
            notes.append(
                f"budget '{budget.name}': model {m!r} also counts the calls recorded as "
                f"{vocabulary.listing(others, 'the same model')}"
            )
    return notes


def departed_notes(conn: Conn, budget: Budget) -> list[str]:
    """A note for each member the budget names whose tokens are all revoked (a member who left, or
    whose token was rotated without a new one): the budget still reports them, but their laptop's
    pushes are refused, so nothing new from it will count. A member never given a token (signing
    in through the identity provider, or sending through a fleet's ingest token) is not noted."""
    if not budget.scope.members:
        return []

    revoked = team_store.departed_members(conn)
    return [
        f"member {m!r} has no live token (each one made for them is revoked), so their laptop can "
        "push no more and this budget's spend will not grow from it; delete the budget if they "
        "have left, or give them a new token (`cost-mcp token create NAME --member EMAIL`)"
        for m in budget.scope.members
        if m.lower() in revoked
    ]


def set_aside_notes(states: Sequence[BudgetState]) -> list[str]:
    """A warning for each budget scoped by project, model or source whose calls' estimates count
    nothing on days a provider's bill is the total: the bill's rows rarely name a project or model
    (Anthropic's are per workspace) and are never a local source (``record_usage``, ``codex``), so
    without this its spent reads as if those calls were free."""
    return [
        f"budget '{st.budget.name}': {format_usd(st.estimates_set_aside_usd)} of calls in its scope "
        "(estimated) are on days a provider's bill is the total, and count nothing against it (only "
        f"the bill's rows that name its {_split_by(st.budget.scope)} count"
        + (", so it cannot stop those calls" if st.budget.hard else "")
        + "); get_spend with the same filters lists them under attribution"
        for st in states
        if st.estimates_set_aside_usd > 0 and _split_by(st.budget.scope)
    ]


def _split_by(scope: BudgetScope) -> str:
    """What of a budget's scope a provider's bill may not name: "projects or models", "sources"...;
    '' when the scope names none of them (the bill then counts every call it stands for)."""
    named = [
        w
        for w, on in (("projects", scope.projects), ("models", scope.models), ("sources", scope.sources))
        if on
    ]
    return ", ".join(named[:-1]) + " or " + named[-1] if len(named) > 1 else "".join(named)


def unpriced_notes(states: Sequence[BudgetState], settings: Settings) -> list[str]:
    """A warning for each budget with calls in its scope and period that have no known price: they
    count nothing against it, so a hard budget cannot stop them (the price override file can, or
    the right provider: get_spend names it for a model recorded under one that does not price it)."""
    return [
        f"budget '{st.budget.name}': {st.unpriced_requests} call(s) in its period have no known price and "
        "count nothing against it"
        + (", so it cannot stop them" if st.budget.hard else "")
        + f"; add the model's price to the price override file ({settings.prices_file}): they are "
        "priced with it from the next answer on. A model recorded under a provider that does not price "
        "it needs the right provider instead: get_spend for the budget's period and filters names it"
        for st in states
        if st.unpriced_requests
    ]


# --- pre-flight checks ----------------------------------------------------------------------------


def applies(
    scope: BudgetScope,
    *,
    provider: str | None,
    model: str | None,
    agent: str | None,
    project: str | None,
    source: str,
    member: str | None = None,
    members: Sequence[str] = (),
    project_names: AbstractSet[str] = frozenset(),
) -> bool:
    """Whether a call with these attributes counts against a budget of this scope.

    A scope that names agents (or projects...) only matches calls that say theirs: an agent that
    does not give its name cannot be held to an agent budget, so check_budget asks for it.
    A scope's model matches a call of the same model under another id (``claude-sonnet-4-5`` a
    call logged as ``claude-sonnet-4-5-20250929``: :func:`vocabulary.model_key`).
    ``members`` is the scope's members with its teams expanded (:func:`scope_members`); a
    ``member`` is the caller's, from their token. ``project_names``: every name the call's project
    goes by (:func:`vocabulary.project_aliases`), so that a scope naming its path, folder or slug
    matches whichever the call gave.
    """
    pairs = (
        (scope.providers, provider),
        # The call's model as the scope spells it when they are one model (a dated or renamed id),
        # as get_spend's model filter counts its calls once recorded (vocabulary.model_key).
        (scope.models, _as_scoped(scope.models, model)),
        (scope.agents, agent),
        (scope.sources, source),
        (members, member),
    )
    counts_usage = not scope.basis or any(b in USAGE_BASIS for b in scope.basis)  # a call is usage
    names = project_names or ({project} if project is not None else set())
    return (
        counts_usage
        and all(not allowed or (value is not None and value in allowed) for allowed, value in pairs)
        and (not scope.projects or any(p in names for p in scope.projects))
    )


def _as_scoped(models: Sequence[str], model: str | None) -> str | None:
    """``model`` as one of ``models`` names it when they are the same model, else as it is."""
    if model is None or not models:
        return model
    return models[0] if vocabulary.same_models(models, [model]) else model


def check_budget(
    conn: Conn,
    settings: Settings,
    cost: Decimal,
    *,
    provider: str | None = None,
    model: str | None = None,
    agent: str | None = None,
    project: str | None = None,
    now: datetime | None = None,
    unread: Unread | None = None,
    member: str | None = None,
    source: str = "record_usage",
    for_person: bool = False,
) -> CheckResult:
    """May a call of ``cost`` go ahead under every budget whose scope matches it?

    ``for_person``: the refusal is read by the person who sets the budgets (the Claude Code hook),
    not an agent, so it says how to raise the budget and when its period starts again, and what was
    spent and held in cents, as every figure a person reads is (an agent gets four places).

    ``source``: where the call will be recorded from (an agent's record_usage; the hook's calls are
    read from Claude Code's logs), so that a budget scoped by source holds the calls it counts.

    ``allowed`` is false when a hard budget would go over its amount; soft budgets only warn. While
    Claude Code logs are still being read (``unread``), a hard budget that could count them also
    refuses unless what is read plus the most the unread bytes could add still leaves room.
    """
    moment = now or datetime.now(UTC)
    checks: list[BudgetCheck] = []
    every = list_budgets(conn)
    # The rollup rebuilt from the budgets' periods on before the call's project is matched to the
    # stored paths: a slug whose path only calls not rebuilt yet gave (received over OTLP, pushed,
    # reported) missed the budget naming its folder, and a hard budget let the call through.
    # The same names serve the budgets' spend, with no second refresh.
    ledger = vocabulary.read(conn, earliest_start(every, settings, moment))
    names = ledger.project_aliases(project) if project else frozenset[str]()
    matching = [
        b
        for b in every
        if applies(
            b.scope,
            provider=provider,
            model=model,
            agent=agent,
            project=project,
            source=source,
            member=member,
            members=scope_members(conn, b.scope),
            project_names=names,
        )
    ]
    # A bill missing or logs unread: what is left is at most, as budget_status says (the refusal and
    # the hook's message read "$0.50 left" as sure).
    states, lacking = with_missing_bills(
        conn, settings, states_of(conn, settings, matching, moment, ledger), moment, member
    )
    live = hold_store.live(conn, to_ms(moment)) if settings.budget_hold_seconds > 0 else []
    held_by: dict[str, int] = {}
    for budget, state in zip(matching, states, strict=True):
        # Soft budgets count holds too: one budget's room reads the same whichever kind it is.
        mine = _held(conn, budget, live)
        held = sum((from_nanos(h.cost_nanos) for h in mine), Decimal(0))
        held_by[budget.name] = len(mine)
        before = state.remaining_usd - held
        after = before - cost
        checks.append(
            BudgetCheck(
                name=budget.name,
                hard=budget.hard,
                limit_usd=budget.amount_usd,
                remaining_before_usd=before,
                remaining_after_usd=after,
                would_exceed=after < 0,
                held_usd=held,
                complete=state.complete,
            )
        )
    checks.sort(key=lambda c: (c.remaining_after_usd, c.name))
    refused = [c for c in checks if c.hard and c.would_exceed]
    unsure = _unsure(conn, settings, checks, unread) if not refused else []
    binding = refused[0] if refused else unsure[0] if unsure else (checks[0] if checks else None)
    advice = AGENT_ADVICE
    if for_person and refused and binding is not None:
        chosen = next(b for b in matching if b.name == binding.name)
        advice = person_advice(chosen, budget_period(chosen, settings, moment))
    totals = 2 if for_person else 4  # places of what was spent and held
    reason = _reason(cost, binding, refused, checks, advice, totals)
    if refused and binding is not None and binding.held_usd > 0:
        count = held_by[binding.name]
        reason += (
            f"; {format_usd(binding.held_usd, totals)} of its {format_usd(binding.limit_usd)} is held by "
            f"{counted(count, 'allowed call')} not recorded yet, released when recorded or after "
            f"{settings.budget_hold_seconds} s"
        )
    if unsure and unread is not None:
        reason = (
            f"refused for now: {unread.note}, and hard budget '{unsure[0].name}' has "
            f"{format_usd(max(unsure[0].remaining_after_usd, Decimal(0)), 4)} left after this call, "
            "which the unread usage may already have spent; ask again when the logs are read"
        )
    return CheckResult(
        allowed=not refused and not unsure,
        reason=reason,
        estimated_cost_usd=cost,
        binding_budget=binding.name if binding else None,
        budgets=checks,
        warnings=lacking
        + (_left_out(conn) if matching else [])  # as states_of's refresh of the rollup left it
        + unpriced_notes(states, settings)
        + set_aside_notes(states),
    )


def check_seen_by(conn: Conn, result: CheckResult, member: str) -> CheckResult:
    """``result`` as a team ``member`` may read it. The budgets budget_status does not show them
    (:func:`visible_to`: team-wide, scoped by another member's project or agent) still decided it, a
    hard one refusing their call, but are not named, nor is their limit or room: the room is the
    others' spend, and the name often names them or their project."""
    applied = {c.name for c in result.budgets}
    hidden = {b.name for b in list_budgets(conn) if b.name in applied and not visible_to(conn, b, member)}
    if not hidden:
        return result
    cost = result.estimated_cost_usd
    shown = [c for c in result.budgets if c.name not in hidden]
    binding = result.binding_budget
    reason = result.reason
    if binding in hidden and not result.allowed:
        binding = None
        reason = (
            f"refused: a team-wide hard budget that budget_status does not show you has no room for this "
            f"call (~{format_usd(cost, 4)}), or may not once the usage being read is counted; {AGENT_ADVICE}"
        )
    elif result.allowed:
        binding = shown[0].name if shown else None
        reason = (
            _reason(cost, shown[0], [], shown)
            if shown
            else f"allowed: within every budget that applies to this call (~{format_usd(cost, 4)})"
        )
    named = tuple(f"budget '{name}'" for name in hidden)
    return result.model_copy(
        update={
            "binding_budget": binding,
            "reason": reason,
            "budgets": shown,
            "warnings": [w for w in result.warnings if not w.startswith(named)],
        }
    )


def _held(conn: Conn, budget: Budget, live: Sequence[hold_store.Hold]) -> list[hold_store.Hold]:
    """The live holds of calls that will count against ``budget`` once recorded."""
    members = scope_members(conn, budget.scope) if live else []
    return [
        h
        for h in live
        if applies(
            budget.scope,
            provider=h.provider or None,
            model=h.model or None,
            agent=h.agent or None,
            project=h.project or None,
            source="record_usage",
            member=h.member or None,
            members=members,
            project_names=vocabulary.project_aliases(conn, h.project) if h.project else frozenset(),
        )
    ]


def _left_out(conn: Conn) -> list[str]:
    """The warning that some calls are not counted, when a quarter-hour's sums pass 64 bits (see
    rollup.refresh); budgets count from the rollup, but their results carry no spend warnings.
    Read from what the refresh before the budgets' spend (:func:`states_of`) recorded: a second
    refresh here rebuilt, under the write lock again, whatever a writer marked in between."""
    return [team_store.too_large_warning(conn)] if rollup.left_out(conn) else []


def _unsure(
    conn: Conn, settings: Settings, checks: list[BudgetCheck], unread: Unread | None
) -> list[BudgetCheck]:
    """Hard budgets that unread Claude Code usage could push over, worst case first."""
    if unread is None or settings.claude_code_billing == "subscription":
        return []  # nothing unread, or Claude Code usage is a subscription's value and not spend
    scopes = {b.name: b.scope for b in list_budgets(conn)}
    return [
        c
        for c in checks
        if c.hard
        and _may_count_logs(scopes[c.name])
        and (unread.worst_usd is None or c.remaining_after_usd < unread.worst_usd)
    ]


def _may_count_logs(scope: BudgetScope) -> bool:
    """Whether Claude Code log usage could count against a budget of this scope (any model and
    project: unread lines can be of any, and so of any provider Claude runs on)."""
    return (
        (not scope.providers or any(p in scope.providers for p in CLAUDE_PROVIDERS))
        and (not scope.agents or "claude-code" in scope.agents)
        and (not scope.sources or "claude_code" in scope.sources)
        and (not scope.basis or "estimated" in scope.basis)
    )


AGENT_ADVICE = "use a cheaper model, wait for the next period, or ask for a bigger budget"
"""What an agent refused by a hard budget can do."""


def person_advice(budget: Budget, period: Period) -> str:
    """What the person who sets ``budget`` can do when it refuses their own session (the Claude
    Code hook): "ask for a bigger budget" told someone who is the one to raise it nothing they could
    run, nor when the budget starts again. The time is the wall clock's at the period's end, read
    back from the instant: a midnight the clock skips (Havana, Santiago) read "00:00", never shown."""
    return (
        f"to go on, raise it: {set_command(budget)} (AMOUNT in US dollars, above "
        f"{format_usd(budget.amount_usd)}), or wait for its next {budget.period}, from "
        f"{wall_clock(ms_to_datetime(period.end_ms).astimezone(period.tz))} ({period.tz.key})"
    )


def _reason(
    cost: Decimal,
    binding: BudgetCheck | None,
    refused: list[BudgetCheck],
    checks: list[BudgetCheck],
    advice: str = AGENT_ADVICE,
    totals: int = 4,
) -> str:
    """Why a call is allowed or refused; ``totals``: the places of what was spent and held."""
    if binding is None:
        return f"allowed: no budget applies to this call (~{format_usd(cost, 4)})"
    left = format_usd(max(binding.remaining_before_usd, Decimal(0)), 4)
    if refused:
        limit = format_usd(binding.limit_usd)
        if binding.remaining_before_usd <= 0:
            # Spent already: "has $0.0000 left ... needs ~$0.0000" (a prompt's estimate) said nothing.
            # Held is not spent: "$3.0510 spent of $3.00" where $1.55 was spent and $1.50 held
            # contradicted every report and the status line.
            spent = format_usd(binding.limit_usd - binding.remaining_before_usd - binding.held_usd, totals)
            spent = bounded(spent, 0, complete=binding.complete)  # a bill missing: at least that
            state = (
                f"has no room left ({spent} spent and {format_usd(binding.held_usd, totals)} held of {limit})"
                if binding.held_usd > 0
                else f"is used up ({spent} spent of {limit})"
            )
        else:
            left, need = _apart(max(binding.remaining_before_usd, Decimal(0)), cost)
            left = bounded(left, 0, at_most=True, complete=binding.complete)
            state = f"has {left} left of {limit} and this call needs ~{need}"
        return f"refused: hard budget '{binding.name}' {state}; {advice}"
    over = [c.name for c in checks if c.would_exceed]
    if over:
        return (
            f"allowed, but soft budget '{over[0]}' goes over its {format_usd(binding.limit_usd)} with this "
            f"call (~{format_usd(cost, 4)})"
        )
    left = bounded(format_usd(binding.remaining_after_usd, 4), 0, at_most=True, complete=binding.complete)
    return f"allowed: {left} left on '{binding.name}' after this call"


def _apart(left: Decimal, need: Decimal) -> tuple[str, str]:
    """``left`` and ``need`` (more than ``left``) shown with as many places as it takes to tell them
    apart: a refusal that read "has $0.9953 left ... needs ~$0.9953" looked like a contradiction."""
    places = 4
    while format_usd(left, places) == format_usd(need, places) and places < 9:
        places += 1
    return format_usd(left, places), format_usd(need, places)
