"""What agents call: check a budget before a call, record the call after it."""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import fields
from datetime import UTC, datetime
from decimal import Decimal

from cost_mcp.analytics import alerts, budgets, vocabulary
from cost_mcp.analytics.budgets import Unread
from cost_mcp.analytics.spend import local_call_counts
from cost_mcp.config import Settings
from cost_mcp.errors import InvalidInputError, UnknownModelError
from cost_mcp.models import Budget, BudgetCheck, CheckResult, RecordResult
from cost_mcp.money import format_usd, from_nanos, to_nanos
from cost_mcp.periods import iso_utc, ms_to_datetime, to_ms
from cost_mcp.pricing import Price, Pricer, Tokens, Unpriced, providers_pricing
from cost_mcp.sources.reported import SOURCE, normalize_provider, record_call
from cost_mcp.store import holds as hold_store
from cost_mcp.store import reported as reported_store
from cost_mcp.store import rollup
from cost_mcp.store.connection import Conn, write_transaction
from cost_mcp.store.events import StoredCost, cost_of_call


def check(
    conn: Conn,
    settings: Settings,
    pricer: Pricer,
    *,
    estimated_cost_usd: Decimal | None,
    model: str | None,
    provider: str | None,
    tokens: Tokens | None,
    agent: str | None,
    project: str | None,
    unread: Unread | None = None,
    member: str | None = None,
    member_view: bool = False,
) -> CheckResult:
    """check_budget: the call's cost (given, or priced from model and tokens) against the budgets.

    ``unread`` describes log bytes not read yet (see :func:`budgets.check_budget`). ``member_view``:
    ``member`` is a team member asking (not an admin), who is told only of the budgets
    budget_status shows them (:func:`budgets.check_seen_by`).
    Raises UnknownModelError when only a model is given and it has no price: the agent should
    then pass estimated_cost_usd itself.
    """
    provider_id = normalize_provider(provider) if provider else None
    cost = estimated_cost_usd
    disagree = None
    if cost is not None and model is not None and tokens is not None and tokens.total:
        disagree = _disagreement(cost, pricer.price(tokens, model, provider_id, datetime.now(UTC)), model)
    if cost is None:
        # A model with no token count at all priced the call at $0 and let it through every budget.
        if model is None or tokens is None or not tokens.total:
            raise InvalidInputError(
                "give estimated_cost_usd, or model with the token counts you expect (input_tokens, "
                "output_tokens, cache_read_tokens; one left out counts as 0), to price the call"
            )
        priced = pricer.price(tokens, model, provider_id, datetime.now(UTC))
        if not isinstance(priced, Price):
            # An agent about to make the call knows roughly what it costs: that still checks budgets.
            raise UnknownModelError(
                model,
                provider_id,
                priced.suggestions,
                "Or pass estimated_cost_usd, your own estimate of the call's cost, instead of the tokens.",
                elsewhere=providers_pricing(model, provider_id),
            )
        cost = priced.total
        provider_id = provider_id or priced.provider_id

    def decide() -> CheckResult:
        return budgets.check_budget(
            conn,
            settings,
            cost,
            provider=provider_id,
            model=model,
            agent=agent,
            project=project,
            unread=unread,
            member=member,
            now=now,
        )

    now = datetime.now(UTC)
    hold_for = settings.budget_hold_seconds
    if hold_for <= 0 or cost <= 0 or conn.read_only or not _any_hard(conn):
        result = decide()
    else:
        # Spend, holds and this check's own hold read and written under one write lock: workers that
        # checked at the same moment all saw the same room, and a fleet passed a hard budget.
        # Only from the budgets' periods on: what a re-price marks over years of history is
        # rebuilt by the questions that read it, not under this check's lock.
        since = budgets.earliest_start(budgets.list_budgets(conn), settings, now)
        rollup.refresh(conn, since)  # the slow part outside the lock; what is recorded meanwhile, inside
        now_ms = to_ms(now)
        with write_transaction(conn):
            hold_store.drop_expired(conn, now_ms)
            rollup.refresh_locked(conn, since)
            result = decide()
            if result.allowed and any(c.hard for c in result.budgets):
                expires_ms = now_ms + hold_for * 1000
                hold_store.add(
                    conn,
                    hold_store.Hold(
                        member=member or "",
                        agent=agent or "",
                        provider=provider_id or "",
                        model=model or "",
                        model_key=vocabulary.model_key(model) if model else "",
                        project=project or "",
                        cost_nanos=to_nanos(cost),
                        created_ms=now_ms,
                        expires_ms=expires_ms,
                    ),
                )
                result.held_usd = cost
                result.hold_expires_at = iso_utc(expires_ms)
    given = {"agent": agent, "project": project, "model": model, "provider": provider_id}
    applied = {c.name for c in result.budgets}
    viewer = member if member_view else None
    if viewer is not None:
        result = budgets.check_seen_by(conn, result, viewer)
    result.warnings.extend(_unnamed_scopes(conn, applied, given, member, viewer))
    result.warnings += _misspelt_scopes(
        conn,
        [b for b in budgets.list_budgets(conn) if viewer is None or budgets.visible_to(conn, b, viewer)],
        applied,
        provider=provider_id,
        model=model,
        agent=agent,
        project=project,
        source=SOURCE,
        member=member,
    )
    if disagree is not None:
        result.warnings.append(disagree)
    return result


DISAGREE_FACTOR = 2
"""How far apart a given estimate and the tokens' list price may be before a check says so."""


def _disagreement(estimate: Decimal, priced: Price | Unpriced, model: str) -> str | None:
    """A warning when a check given both ``estimated_cost_usd`` and token counts got two costs far
    apart: the estimate is what the budgets were checked with, and an agent whose estimate is well
    under the list price may be let through a hard budget its call then passes."""
    if not isinstance(priced, Price):
        return None  # no list price to compare with: the estimate is all there is
    listed = priced.total
    if listed <= estimate * DISAGREE_FACTOR and estimate <= listed * DISAGREE_FACTOR:
        return None
    side = "under half" if estimate < listed else "over twice"
    # Cents hide what a small call costs ($0.045 would read $0.04): four places under a dollar.
    places = 2 if min(estimate, listed) >= 1 else 4
    return (
        f"checked with estimated_cost_usd {format_usd(estimate, places)}, {side} what the given "
        f"tokens cost on {model} at list price ({format_usd(listed, places)}); leave "
        "estimated_cost_usd out to check with the token price"
    )


def _any_hard(conn: Conn) -> bool:
    return any(b.hard for b in budgets.list_budgets(conn))


def _unnamed_scopes(
    conn: Conn, applied: set[str], given: dict[str, str | None], member: str | None, viewer: str | None
) -> list[str]:
    """Hard budgets a check passed by only because it left out what they are scoped by: an agent
    that forgot `agent` was told "no budget applies" while a hard budget held its agent.

    A team ``member`` is told only of budgets that could count them; one asking (``viewer``, not an
    admin) by name only of those budget_status shows them (:func:`budgets.visible_to`): a team-wide
    one scoped by agents or projects none of which is theirs yet goes unnamed, since its name (often
    a member's or a project's) is not theirs to learn, though their agent may still be one it holds."""
    notes: list[str] = []
    for budget in budgets.list_budgets(conn):
        if not budget.hard or budget.name in applied:
            continue
        counted = budgets.scope_members(conn, budget.scope)
        if member is not None and counted and member not in counted:
            continue  # another member's budget: a member is told only of budgets counting them
        scopes = {
            "agent": budget.scope.agents,
            "project": budget.scope.projects,
            "model": budget.scope.models,
            "provider": budget.scope.providers,
        }
        missing = [name for name, values in scopes.items() if values and given[name] is None]
        if missing:
            named = " and ".join(missing)
            hidden = viewer is not None and not budgets.visible_to(conn, budget, viewer)
            which = "a team-wide hard budget" if hidden else f"hard budget '{budget.name}'"
            note = (
                f"{which} is scoped by {named}, which this check did not give, so it was not checked: "
                f"pass {named} as record_usage will report the call"
            )
            if note not in notes:
                notes.append(note)
    return notes


def _misspelt_scopes(
    conn: Conn,
    every: Sequence[Budget],
    counted: AbstractSet[str],
    *,
    provider: str | None,
    model: str | None,
    agent: str | None,
    project: str | None,
    source: str,
    member: str | None = None,
) -> list[str]:
    """A warning per budget (not in ``counted``) that this call would count against had its agent or
    project been spelt as the budget's scope spells it: scopes match exactly, so an agent reporting
    itself as 'Researcher' or 'researcher ' passed a hard budget on 'researcher' without a word."""
    warnings: list[str] = []
    for budget in every:
        if budget.name in counted:
            continue
        for dim, given, named in (
            ("agent", agent, budget.scope.agents),
            ("project", project, budget.scope.projects),
        ):
            close = next((n for n in named if given and n != given and _folded(n) == _folded(given)), None)
            if close is None:
                continue
            spelt = {"agent": agent, "project": project, dim: close}
            if budgets.applies(
                budget.scope,
                provider=provider,
                model=model,
                agent=spelt["agent"],
                project=spelt["project"],
                source=source,
                member=member,
                members=budgets.scope_members(conn, budget.scope),
            ):
                warnings.append(
                    f"budget {budget.name!r} counts {dim} {close!r}, not {given!r} (names match exactly), "
                    f"so not this call: if this is that {dim}, give {dim}={close!r}"
                )
    return warnings


def _folded(name: str) -> str:
    """A name without case or surrounding and repeated spaces, to find a near miss by."""
    return " ".join(name.split()).casefold()


def record_usage(
    conn: Conn,
    settings: Settings,
    pricer: Pricer,
    *,
    provider: str,
    model: str,
    tokens: Tokens,
    agent: str,
    session: str | None = None,
    project: str | None = None,
    request_id: str | None = None,
    timestamp: datetime | None = None,
    speed: str | None = None,
    service_tier: str | None = None,
    inference_geo: str | None = None,
    member: str | None = None,
    take_alerts: bool = True,
) -> RecordResult:
    """record_usage: store the call, then say where the budgets it counts against stand. ``member``
    is the caller's (a team member's token), never an argument a model chose. ``take_alerts``:
    whether the answer carries (and marks shown) the budget alerts not shown yet, every budget's;
    not for a team member, whose answer must not name other members' budgets or spend."""
    now = datetime.now(UTC)
    outcome, call_id, price, ts_ms, ahead = record_call(
        conn,
        pricer,
        provider=provider,
        model=model,
        tokens=tokens,
        agent=agent,
        session=session,
        project=project,
        request_id=request_id,
        timestamp=timestamp,
        speed=speed,
        service_tier=service_tier,
        inference_geo=inference_geo,
        member=member,
        now=now,
        # Released whatever the setting: holds made before it turned to 0 go with their calls.
        release=hold_store.Release(member or "", agent, vocabulary.model_key(model), to_ms(now)),
    )
    warnings: list[str] = [f"priced with an assumption: {a}" for a in price.assumptions] if price else []
    if ahead and outcome == "recorded":
        warnings.append(ahead)
    cost: Decimal | None = price.total if price else None
    priced_model = price.model_id if price else None
    recorded = outcome == "recorded"
    stored = cost_of_call(conn, SOURCE, call_id) if outcome == "duplicate" else None
    owner = stored.member if stored else None
    if outcome == "forgotten":
        owner = reported_store.forgotten_member(conn, SOURCE, call_id)
    logged = reported_store.logged_copy(conn, call_id) if outcome == "logged" else None
    if logged is not None and member is not None:
        # A team member: another member's log copy is another member's call. On a personal ledger
        # every copy is the user's, whatever member an OTel event named.
        owner = logged.member
    # Another member's call holds the id (stored, or forgotten by them or an admin): nothing of it
    # is this member's to learn, not even whether it was forgotten, so every such case says the same.
    theirs = owner is not None and owner != (member or "")
    if request_id == "":
        # Taken as no id, as it always was; said, because a retry sending "" again counts again.
        warnings.append(
            f"request_id was empty: recorded under a new id, {call_id!r}; a retry with an empty id "
            "counts the call again: pass the provider's request id, or this id"
        )
    if theirs:
        cost, priced_model = None, None
        warnings.append(
            f"request id {call_id!r} cannot be recorded by you: this call was not recorded nor counted in "
            "your spend or budgets; report it under the request id its provider gave it, or leave "
            "request_id out to have a new id"
        )
    elif outcome == "forgotten":
        # The user removed this call (`cost-mcp reported forget`): a retry must not bring it back.
        warnings.append(
            f"request {call_id!r} was forgotten by the user (`cost-mcp reported forget`): not recorded, "
            "not counted in spend or budgets; do not report it again under another id"
        )
    elif outcome == "logged":
        where = _LOGGED_FROM.get(logged.source if logged else "", "another source")
        warnings.append(
            f"request {call_id!r} is already counted from {where}, which holds the same request id: "
            "nothing was added (the call counts once)"
        )
    elif not recorded:
        cost = from_nanos(stored.cost_nanos) if stored and stored.cost_nanos is not None else None
        priced_model = stored.priced_model if stored else None
        warnings.append(f"request {call_id!r} was already recorded; nothing was added")
        if stored and _differs(stored, provider, model, tokens):
            # A retry resends the same call; other counts under the same id are another call (or
            # the final counts of one that failed midway), and they would be lost without a word.
            warnings.append(
                f"this report of {call_id!r} differs from the one recorded first "
                f"({_described(stored.provider, stored.model, stored.tokens)} kept; this one: "
                f"{_described(normalize_provider(provider), model, tokens)}): the first is what counts. "
                "Give each distinct call its own request_id; to replace the first, run "
                f"`cost-mcp reported forget {call_id}` and report it under a new id"
            )
    provider_id = normalize_provider(provider)
    if cost is None and outcome not in ("forgotten", "logged") and not theirs:
        warnings.append(
            f"no known price for {model!r} ({provider_id}): kept unpriced, not counted in "
            f"spend; add it to the price override file ({settings.prices_file})"
        )
        # A misspelt provider ('opnai') leaves a well-known model unpriced, and out of that
        # provider's budgets: name the provider that prices it, and how to undo this call.
        elsewhere = pricer.price(tokens, model, None, ms_to_datetime(ts_ms))
        if isinstance(elsewhere, Price) and elsewhere.provider_id != provider_id:
            warnings.append(
                f"{model!r} has a known price under provider {elsewhere.provider_id!r}: if that is who "
                f"served it, report it with provider={elsewhere.provider_id!r}; this call stays unpriced "
                f"under {provider_id!r} until `cost-mcp reported forget {call_id}` removes it"
            )
        elif not isinstance(elsewhere, Price):
            # A misspelt model ('claude-sonet-4-5') is as unpriced as a real unknown one: name the
            # provider's models it is close to, as `cost-mcp estimate` does, and how to undo this call.
            here = pricer.price(tokens, model, provider_id, ms_to_datetime(ts_ms))
            if isinstance(here, Unpriced) and here.suggestions:
                close = ", ".join(repr(m) for m in here.suggestions)
                warnings.append(
                    f"no model {model!r} is known; did you mean {close}? If so, report the call again "
                    f"with that model under a new request id; this one stays unpriced until "
                    f"`cost-mcp reported forget {call_id}` removes it"
                )
    # One spend computation serves both the alerts and the budgets this call counts against.
    every = budgets.list_budgets(conn)
    current = budgets.states_of(conn, settings, every, now)
    alerts.fire_alerts(conn, settings, states=current, now=now)
    states: list[BudgetCheck] = []
    names = vocabulary.project_aliases(conn, project) if project else frozenset[str]()
    counted: bool | None = None  # whether the call took its cost from its budgets: read once, if asked
    for budget, state in zip(every, current, strict=True):
        if budgets.applies(
            budget.scope,
            provider=provider_id,
            model=model,
            agent=agent,
            project=project,
            source=SOURCE,
            member=member,
            members=budgets.scope_members(conn, budget.scope),
            project_names=names,
        ):
            # A back-dated call counts in the period it was made in: not a day budget's today.
            period = budgets.budget_period(budget, settings, now)
            in_period = period.start_ms <= ts_ms < period.end_ms
            if counted is None and in_period:
                # Nothing on a day a provider's bill is the total (the bill counts it, not the
                # estimate): remaining_before_usd read the call's cost more than check_budget did.
                counted = (
                    recorded and cost is not None and local_call_counts(conn, settings, provider_id, ts_ms)
                )
            added = cost if counted and cost is not None and in_period else Decimal(0)
            states.append(
                BudgetCheck(
                    name=budget.name,
                    hard=budget.hard,
                    limit_usd=budget.amount_usd,
                    remaining_before_usd=state.remaining_usd + added,
                    remaining_after_usd=state.remaining_usd,
                    would_exceed=state.remaining_usd < 0,
                )
            )

    warnings += _misspelt_scopes(
        conn,
        every,
        {c.name for c in states},
        provider=provider_id,
        model=model,
        agent=agent,
        project=project,
        source=SOURCE,
        member=member,
    )
    return RecordResult(
        recorded=recorded,
        forgotten=outcome == "forgotten" and not theirs,
        id=call_id,
        cost_usd=cost,
        priced_model=priced_model,
        budgets=states,
        warnings=warnings,
        alerts=alerts.take_alerts(conn) if take_alerts else [],
    )


_LOGGED_FROM = {
    "claude_code": "Claude Code's logs",
    "claude_code_otel": "Claude Code's OpenTelemetry events",
}
"""How record_usage names the source of a call's counted copy (``reported.LOGGED_SOURCES``)."""


def _differs(stored: StoredCost, provider: str, model: str, tokens: Tokens) -> bool:
    """Whether a report under an id already recorded describes another call than the stored one."""
    return (stored.provider, stored.model, stored.tokens) != (normalize_provider(provider), model, tokens)


def _described(provider: str, model: str, tokens: Tokens) -> str:
    """A call's provider, model and non-zero token counts, as a warning names them."""
    named = ((f.name, getattr(tokens, f.name)) for f in fields(tokens))
    counts = ", ".join(f"{name} {n:,}" for name, n in named if n)
    return f"{provider}/{model}, {counts or 'no tokens'}"
