"""Commands that change what the ledger counts: budgets, subscriptions and reported calls."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import click
from rich.table import Column, Table

from cost_mcp.cli.app import (
    EXIT_OK,
    Console,
    NumberArgumentsCommand,
    answer,
    cli,
    json_option,
    ledger,
    note,
    period_options,
    resolve_period,
    say_removed,
    settings,
    show,
    text,
)
from cost_mcp.errors import InvalidInputError
from cost_mcp.money import bounded, format_cost, format_usd, shown_left

if TYPE_CHECKING:
    from cost_mcp.config import Settings
    from cost_mcp.models import (
        BudgetStatusResult,
        ForgetReportedResult,
        ReportedCall,
        SubscriptionList,
    )
    from cost_mcp.store.connection import Conn
    from cost_mcp.store.reported import Selection


@cli.group()
def budget() -> None:
    """Set, list or delete budgets."""


@budget.command("set", cls=NumberArgumentsCommand)
@click.argument("name")
@click.argument("amount")
@click.option("--period", type=click.Choice(["day", "week", "month"]), default="month", show_default=True)
@click.option("--provider", multiple=True, help="only count this provider (repeatable)")
@click.option("--model", multiple=True, help="only count this model (repeatable)")
@click.option("--agent", multiple=True, help="only count this agent (repeatable)")
@click.option("--project", multiple=True, help="only count this project (repeatable)")
@click.option("--source", multiple=True, help="only count this source (repeatable)")
@click.option(
    "--member",
    multiple=True,
    metavar="EMAIL|team:NAME",
    help="only count this member's usage, or a team's (`cost-mcp team set`) as team:NAME (repeatable)",
)
@click.option("--team", multiple=True, help="only count this team's members (repeatable)")
@click.option(
    "--include-subscriptions",
    is_flag=True,
    help="count seat fees too (default: usage only, billed and estimated)",
)
@click.option(
    "--threshold",
    multiple=True,
    metavar="FRACTION",
    help="alert at this fraction of AMOUNT, e.g. 0.9 (repeatable; default 0.5, 0.8 and 1)",
)
@click.option("--hard", is_flag=True, help="check_budget refuses calls that would exceed it")
@click.option(
    "--webhook",
    metavar="NAME|URL",
    help="POST each alert as JSON to this webhook: a name configured in COST_MCP_WEBHOOKS, or a URL "
    "with --confirm-webhook-url",
)
@click.option(
    "--confirm-webhook-url",
    is_flag=True,
    help="yes, POST this budget's alerts to the URL given in --webhook (not a configured name)",
)
def budget_set(
    name: str,
    amount: str,
    period: Literal["day", "week", "month"],
    provider: tuple[str, ...],
    model: tuple[str, ...],
    agent: tuple[str, ...],
    project: tuple[str, ...],
    source: tuple[str, ...],
    member: tuple[str, ...],
    team: tuple[str, ...],
    include_subscriptions: bool,
    threshold: tuple[str, ...],
    hard: bool,
    webhook: str | None,
    confirm_webhook_url: bool,
) -> int:
    """Create or replace a budget (AMOUNT in US dollars: 150 is $150)."""
    from cost_mcp.analytics import budgets
    from cost_mcp.models import BudgetScope, check_amount, checked
    from cost_mcp.money import parse_usd

    try:
        usd = check_amount(parse_usd(amount), "AMOUNT")
    except ValueError as exc:
        raise InvalidInputError(f"{exc}; give amounts like 150 or 0.8") from None
    try:
        thresholds = [parse_usd(t.strip()) for t in threshold] if threshold else None
    except ValueError as exc:
        # "80%" is how people say it; the flag takes the fraction, as set_budget's thresholds do.
        raise InvalidInputError(
            f"--threshold: {exc}; give a fraction of the amount, e.g. 0.8 for 80%"
        ) from None
    for level in thresholds or ():
        # set_budget's own check names its list argument: "e.g. [0.5, 0.8, 1]".
        if not level.is_finite() or not 0 < level <= budgets.MAX_THRESHOLD:
            raise InvalidInputError(
                f"--threshold {level}: give a fraction of the amount above 0 and at most "
                f"{budgets.MAX_THRESHOLD}, e.g. 0.8 for 80%"
            )
    members, teams = _members_and_teams(member, team)
    scope = checked(
        BudgetScope,
        {
            "providers": list(provider),
            "models": list(model),
            "agents": list(agent),
            "projects": list(project),
            "sources": list(source),
            "basis": ["billed", "estimated", "subscription"] if include_subscriptions else [],
            "members": members,
            "teams": teams,
        },
        "budget scope",
    )
    hook_name, kept_in = _webhook_choice(webhook, confirm_webhook_url, name)
    # Changing a budget needs no fresh spend: no log reading, no provider sync. Opened after a typed
    # URL was kept in the env file, so the settings read here have its name.
    with ledger(fresh=False) as (loaded, conn):
        before = budgets.find_budget(conn, name, loaded)
        made = budgets.set_budget(
            conn, name, usd, period, scope, thresholds, hard, webhook=hook_name, settings=loaded
        )
        replaced = budgets.replaced_note(before, made, cli=True)
        warnings = ([replaced] if replaced else []) + budgets.scope_warnings(conn, made)
        counted = budgets.model_notes(conn, made)
    out = Console()
    # What was set, whole: `--agent ci --include-subscriptions` printed only "$10.00 per month", so a
    # mistyped or forgotten option could not be seen.
    scope = made.scope
    counted_in = [
        (label, values)
        for label, values in (
            ("providers", scope.providers),
            ("models", scope.models),
            ("agents", scope.agents),
            ("projects", scope.projects),
            ("sources", scope.sources),
            ("members", scope.members),
            ("teams", scope.teams),
        )
        if values
    ]
    out.print(
        f"budget '{text(made.name)}': {format_usd(made.amount_usd)} per {made.period}"
        + (" (hard)" if made.hard else "")
        + "".join(f", {label} {text(', '.join(v))}" for label, v in counted_in)
        + (", seat fees counted" if "subscription" in scope.basis else "")
        + f"; alerts at {', '.join(f'{t * 100:.0f}%' for t in made.thresholds)}"  # as alerts say them
        + (f" to webhook {text(made.webhook)}" if made.webhook else "")
        + (f" ({text(made.webhook_url)})" if made.webhook_url else ""),
        highlight=False,
    )
    if kept_in is not None and made.webhook:
        note(
            out,
            f"the URL is kept in {kept_in} as COST_MCP_WEBHOOKS '{made.webhook}' (the ledger keeps the "
            f"name only: a webhook URL's path may be its secret); other budgets can use --webhook "
            f"{made.webhook}",
        )
    for line in counted:
        out.print(text(line), highlight=False)
    for warning in warnings:
        note(out, warning)
    return EXIT_OK


def _members_and_teams(member: tuple[str, ...], team: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """--member values (emails, or team:NAME as set_budget takes them) and --team names, apart."""
    from cost_mcp.analytics.budgets import members_and_teams

    emails, named = members_and_teams(member)
    teams = [t.strip() for t in team] + named
    if bad := [m for m in emails if "@" not in m]:
        raise InvalidInputError(
            f"--member takes an email address (or team:NAME), got {', '.join(bad)}; "
            "e.g. --member ana@example.com"
        )
    if empty := [t for t in teams if not t]:
        raise InvalidInputError(f"--team needs a team name, got {len(empty)} empty; e.g. --team platform")
    return sorted(set(emails)), sorted(set(teams))


@budget.command("delete")
@click.argument("name")
def budget_delete(name: str) -> int:
    """Delete a budget (its webhook's URL stays in COST_MCP_WEBHOOKS, for other budgets: said so)."""
    from cost_mcp.analytics import budgets
    from cost_mcp.store import budgets as budget_store

    with ledger(fresh=False) as (loaded, conn):
        row = budget_store.get(conn, name)
        budgets.delete_budget(conn, name)
        kept = _webhook_kept(loaded, conn, row.webhook) if row is not None else None
    out = Console()
    out.print(f"deleted budget '{text(name)}'")
    if kept is not None:
        note(out, kept)
    return EXIT_OK


def _webhook_kept(loaded: Settings, conn: Conn, webhook: str | None) -> str | None:
    """What a deleted budget leaves of its webhook, and how to remove it: the URL stays in
    COST_MCP_WEBHOOKS under its name by design (a name other budgets use, or can be given again), so
    a secret URL kept there by `budget set --confirm-webhook-url` outlived its budget unsaid. None
    when the name resolves to no URL (nothing stays). Plain text: :func:`note` makes it safe."""
    from cost_mcp.config import key_origin
    from cost_mcp.store import budgets as budget_store

    try:
        configured = webhook is not None and webhook in loaded.webhook_urls()
    except InvalidInputError:  # a malformed COST_MCP_WEBHOOKS: every command that sends says so
        configured = False
    if not configured:
        return None
    origin = key_origin("COST_MCP_WEBHOOKS")
    in_env = origin == "environment"
    where = "the environment" if in_env else origin
    kept = f"its webhook '{webhook}' stays in COST_MCP_WEBHOOKS ({where}) with its URL"
    if users := [r.name for r in budget_store.all_budgets(conn) if r.webhook == webhook]:
        if len(users) == 1:
            return f"{kept}: budget {users[0]} still sends to it"
        return f"{kept}: budgets {', '.join(users)} still send to it"
    line = "the environment's COST_MCP_WEBHOOKS" if in_env else f"the COST_MCP_WEBHOOKS line of {where}"
    return (
        f"{kept}, for a budget to use again with --webhook {webhook}; no other budget uses it: to "
        f"remove the URL, take '{webhook}' and its URL out of {line} (no command removes it)"
    )


@budget.command("status")
@json_option()
def budget_status(as_json: bool) -> int:
    """Every budget in its current period: spent, left, projection."""
    return _show_budgets(as_json)


@budget.command("list")
@json_option()
def budget_list(as_json: bool) -> int:
    """Every budget in its current period (the same as `budget status`)."""
    return _show_budgets(as_json)


def _show_budgets(as_json: bool) -> int:
    from cost_mcp.analytics import budgets

    def compute(settings: Settings, conn: Conn) -> BudgetStatusResult:
        from cost_mcp import notify

        # The refresh has just started POSTing the alerts due now (a retry of a failed delivery):
        # let those attempts finish first, so what is printed about them is what happened, not
        # "not delivered yet" for an alert delivered a moment later. Exiting drains them anyway.
        notify.drain()
        status = budgets.budget_status(conn, settings)
        # The tool's advice names set_budget(...), which a person at a shell cannot call; the table
        # says it their way (and --json carries it their way), not twice in two syntaxes.
        said = [] if not as_json else [f"no budgets yet: create one with `{CREATE_BUDGET}`"]
        warnings = [w for w in status.warnings if w != budgets.NO_BUDGETS_YET]
        if len(warnings) == len(status.warnings):
            return status
        return status.model_copy(update={"warnings": said + warnings})

    return answer(compute, as_json=as_json, render=_render_budgets)


CREATE_BUDGET = "cost-mcp budget set monthly 150 --period month"
"""The command `budget status` suggests when no budget is set."""


def _render_budgets(out: Console, status: BudgetStatusResult) -> None:
    if not status.budgets:
        out.print(f"No budgets yet. Create one: {CREATE_BUDGET}")
        return
    # Five amounts of up to ten characters and three words take 80 columns with one space between
    # columns, not two: with two, "$1,631.90" was folded into "$1,631.9" over a "0" and the first day
    # "2026-12-01" into "2026-12-0" over a "1". Amounts never fold; the name and status give way.
    period = Column("period", min_width=len("2026-12-01"))
    table = Table(
        "budget", period, "limit", "spent", "left", "%", "projected", "status", box=None, padding=(0, 1, 0, 0)
    )
    for b in status.budgets:
        table.add_row(
            text(b.budget.name) + (" (hard)" if b.budget.hard else ""),
            f"{b.budget.period} from {b.first_day}",  # the local day: period_start is UTC
            format_usd(b.budget.amount_usd),
            # A missing bill marks every figure, spent too: "$0.00" read as nothing spent, with
            # only the PARTIAL line under the table to say otherwise.
            bounded(format_cost(b.spent_usd, b.unpriced_requests), 0, complete=b.complete),
            # From the limit and spent as shown, so the three add up ($10.01, $5.00, $5.01). Calls
            # with no known price count nothing: what is left is then at most that, the percent at
            # least this (a budget of unpriced calls only read "left $5.00, 0.0%" as if unused).
            bounded(
                format_usd(shown_left(b.budget.amount_usd, b.spent_usd)),
                b.unpriced_requests,
                at_most=True,
                complete=b.complete,
            ),
            bounded(f"{b.percent}", b.unpriced_requests, complete=b.complete),
            bounded(format_cost(b.projected_usd, b.unpriced_requests), 0, complete=b.complete),
            b.status.replace("_", " "),  # folds between its words
        )
    show(out, table, optional=("projected", "%", "left"))
    # Why the marked rows are bounds: with log files unreadable the note spoke only of a bill. One
    # reason needs no names (the marks show whose); several say which budgets each is of.
    lacking: dict[str, list[str]] = {}
    for b in status.budgets:
        for why in b.lacking:
            lacking.setdefault(why, []).append(text(b.budget.name))
    if lacking:
        reasons = "; ".join(
            why if len(lacking) == 1 else f"{', '.join(names)}: {why}" for why, names in lacking.items()
        )
        out.print(f"[dim]≥ at least, ≤ at most: {reasons} (PARTIAL below)[/dim]", highlight=False)
    # Said because `cost-mcp forecast` projects the same month from another rate: a spike today
    # moved one figure ten times more than the other, with nothing saying why.
    out.print(
        "[dim]projected: each period's spend so far, carried to its end at its average per hour "
        "(`cost-mcp forecast` projects from the last 7 whole days instead)[/dim]"
    )
    # Which clock "from 2026-03-01" is read on: a traveller's March starts where COST_MCP_TIMEZONE is.
    zones = sorted({b.timezone for b in status.budgets if b.timezone})
    if zones:
        where = ", ".join(zones)
        out.print(f"[dim]periods: calendar days, weeks and months in {where}[/dim]", highlight=False)
    for alert in status.alerts:
        note(out, alert, "[red]alert:[/red]")


def _webhook_choice(value: str | None, confirmed: bool, budget: str) -> tuple[str | None, str | None]:
    """The configured webhook's name --webhook gives, and the env file a URL it gave was kept in
    (None for a name). A URL needs --confirm-webhook-url, so that a pasted command cannot quietly
    send alerts somewhere nobody chose; it goes to COST_MCP_WEBHOOKS under the budget's name, never
    into the ledger (a Slack or Discord webhook's path is its secret)."""
    from cost_mcp import notify
    from cost_mcp.config import default_env_file, keep_webhook_urls
    from cost_mcp.models import BudgetName, checked

    if value is None:
        return None, None
    if "://" not in value:
        return value, None
    if not confirmed:
        raise InvalidInputError(
            "--webhook was given a URL: add --confirm-webhook-url to POST alerts there (cost-mcp keeps "
            "it in the env file's COST_MCP_WEBHOOKS, named after the budget), or name a webhook "
            "configured in COST_MCP_WEBHOOKS (e.g. COST_MCP_WEBHOOKS="
            '\'{"ops": "https://hooks.example.com/x"}\' and --webhook ops)'
        )
    url = notify.check_url(value.strip())  # a metadata address is refused before it is kept anywhere
    # The budget's name is the URL's name in the env file: a name set_budget then refuses left the
    # secret kept there for a budget never made.
    checked(BudgetName, budget, "budget name")
    where = "the environment" if "COST_MCP_WEBHOOKS" in os.environ else str(default_env_file())
    return keep_webhook_urls({url: budget})[url], where


@cli.group()
def subscription() -> None:
    """Register seat fees with no API (add, list, remove)."""


@subscription.command("add")
@click.argument("name")
@click.option("--vendor", required=True, help="who bills it: anthropic, openai, cursor...")
@click.option("--amount", required=True, help="US dollars per period, e.g. 20")
@click.option("--period", type=click.Choice(["monthly", "yearly"]), default="monthly", show_default=True)
@click.option("--start", required=True, help="first day billed, YYYY-MM-DD")
@click.option("--end", help="last day counted, YYYY-MM-DD")
@click.option("--member", help="whose seat it is")
def subscription_add(
    name: str,
    vendor: str,
    amount: str,
    period: Literal["monthly", "yearly"],
    start: str,
    end: str | None,
    member: str | None,
) -> int:
    """Add or replace a subscription."""
    from cost_mcp.analytics import subscriptions
    from cost_mcp.cli.app import cli_period_arguments
    from cost_mcp.models import check_amount
    from cost_mcp.money import parse_usd

    try:
        usd = check_amount(parse_usd(amount), "--amount")
    except ValueError as exc:
        raise InvalidInputError(f"{exc}; give an amount like 20") from None
    with ledger(fresh=False) as (loaded, conn):
        s = subscriptions.set_subscription(
            conn,
            name,
            vendor,
            usd,
            period,
            start,
            end,
            member,
            names=cli_period_arguments(),
            today=datetime.now(loaded.tz).date(),
        )
    # Whole, as `subscription list` shows it: the vendor, the last day and the member were not said.
    Console(soft_wrap=True).print(
        f"subscription '{text(s.name)}': {text(s.vendor)}, {format_usd(s.amount_usd)} {s.period} "
        f"from {s.start}"
        + (f" to {s.end}" if s.end else "")
        + (f", {text(s.member)}'s seat" if s.member else ""),
        highlight=False,
    )
    for warning in s.warnings:
        note(Console(stderr=True, soft_wrap=True), warning)
    return EXIT_OK


@subscription.command("remove")
@click.argument("name")
def subscription_remove(name: str) -> int:
    """Remove a subscription from every report."""
    from cost_mcp.analytics import subscriptions
    from cost_mcp.cli.app import cli_period_arguments

    with ledger(fresh=False) as (loaded, conn):
        warnings = subscriptions.delete_subscription(
            conn, name, today=datetime.now(loaded.tz).date(), names=cli_period_arguments()
        )
    Console().print(f"removed subscription '{text(name)}'")
    for warning in warnings:
        note(Console(stderr=True, soft_wrap=True), warning)
    return EXIT_OK


@subscription.command("list")
@json_option()
def subscription_list(as_json: bool) -> int:
    """Every subscription."""
    from cost_mcp.analytics import subscriptions

    return answer(
        # Today in the configured timezone, as `add` and `remove` take it and reports count fees.
        lambda s, conn: subscriptions.list_subscriptions(conn, today=datetime.now(s.tz).date()),
        as_json=as_json,
        render=_render_subscriptions,
        fresh=False,
    )


def _render_subscriptions(out: Console, listing: SubscriptionList) -> None:
    if not listing.subscriptions:
        out.print(
            "No subscriptions. Add one: cost-mcp subscription add claude-max --vendor anthropic "
            "--amount 200 --start 2026-01-01"
        )
        return
    table = Table("name", "vendor", "amount", "period", "member", "from", "to", box=None)
    for s in listing.subscriptions:
        table.add_row(
            text(s.name),
            text(s.vendor),
            format_usd(s.amount_usd),
            s.period,
            text(s.member or "-"),
            s.start,
            s.end or "-",
        )
    show(out, table)
    out.print(f"running now: {format_usd(listing.monthly_equivalent_usd)} per month")


@cli.group()
def reported() -> None:
    """Calls agents reported with record_usage: list them, forget wrong ones (list, forget, unforget)."""


def _selection_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """What picks reported calls, the same for `reported list` and `reported forget`: what a list
    shows, a forget with the same options removes."""
    for option in reversed(
        (
            click.option("--agent", multiple=True, help="only this agent's calls (repeatable)"),
            click.option(
                "--member", multiple=True, help="only this member's calls, on a team server (repeatable)"
            ),
            click.option("--min-cost", metavar="USD", help="only calls that cost at least this, e.g. 100"),
            click.option(
                "--min-tokens", type=click.IntRange(min=0), help="only calls of at least this many tokens"
            ),
        )
    ):
        fn = option(fn)
    return period_options(fn)


def _selection(loaded: Settings, ids: Sequence[str], options: dict[str, Any], *, require: bool) -> Selection:
    """The calls the options pick. No period option means every time; ``require``: some condition
    must be given (a forget never picks every reported call by default)."""
    from cost_mcp.money import parse_usd, to_nanos
    from cost_mcp.store import team as team_store
    from cost_mcp.store.reported import Selection

    try:
        min_cost = to_nanos(parse_usd(options["min_cost"])) if options["min_cost"] is not None else None
    except ValueError as exc:
        raise InvalidInputError(f"--min-cost: {exc}; give an amount like 100 or 0.5") from None
    filters = ("period", "start", "end", "agent", "member", "min_cost", "min_tokens")
    given = [f for f in filters if options[f] not in (None, ())]
    if ids and given:
        raise InvalidInputError(
            f"give IDs or --{given[0].replace('_', '-')} and the other filters, not both: IDs name the "
            "calls exactly"
        )
    if require and not ids and not given:
        raise InvalidInputError(
            "say which calls to forget: IDs (`cost-mcp reported list` shows them), or filters such as "
            "--period today --agent test-bot"
        )
    start_ms = end_ms = None
    if any(options[f] is not None for f in ("period", "start", "end")):
        p = resolve_period(loaded, options)
        start_ms, end_ms = p.start_ms, p.end_ms
    return Selection(
        ids=list(dict.fromkeys(ids)),
        start_ms=start_ms,
        end_ms=end_ms,
        agents=list(options["agent"]),
        members=[team_store.member_name(m) for m in options["member"]],
        # No stored call holds more than a 64-bit count, so a floor above it picks what the largest
        # does (nothing, in practice); past it, SQLite refused the number: an OverflowError traceback.
        min_cost_nanos=None if min_cost is None else min(min_cost, _LARGEST_STORED),
        min_tokens=None if options["min_tokens"] is None else min(options["min_tokens"], _LARGEST_STORED),
    )


_LARGEST_STORED = 2**63 - 1
"""The ledger's largest integer (nano-dollars, tokens): SQLite's and PostgreSQL's BIGINT."""


@reported.command("list")
@_selection_options
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="newest calls shown")
@click.option(
    "--forgotten", is_flag=True, help="the calls forgotten instead (`reported unforget ID` lifts one)"
)
@json_option()
def reported_list(limit: int, forgotten: bool, as_json: bool, **options: Any) -> int:
    """The calls agents reported (record_usage), newest first: id, time, agent, model, tokens, cost.

    Every time by default; --period, --start and --end narrow it as in `report`. With --forgotten,
    the calls `reported forget` removed, which no report or push stores again until unforgotten.
    """
    from cost_mcp.analytics import reported as reported_calls

    loaded = settings()
    selection = _selection(loaded, (), options, require=False)
    empty = (
        "No forgotten calls match. `cost-mcp reported forget ID` forgets one."
        if forgotten
        else "No reported calls match. Agents report calls with the record_usage tool."
    )
    return answer(
        lambda _, conn: reported_calls.list_calls(conn, selection, limit, forgotten=forgotten),
        as_json=as_json,
        render=lambda out, result: _render_reported(out, result.calls, loaded, empty=empty),
        fresh=False,
    )


@reported.command("forget")
@click.argument("ids", nargs=-1, metavar="[ID ...]")
@_selection_options
@click.option("--dry-run", is_flag=True, help="show what would be forgotten, change nothing")
@click.option("--yes", is_flag=True, help="forget the calls the filters pick without asking")
@json_option()
def reported_forget(ids: tuple[str, ...], dry_run: bool, yes: bool, as_json: bool, **options: Any) -> int:
    """Remove reported calls from the ledger, its totals and its budgets.

    By ID (`cost-mcp reported list` shows them), or every call the filters pick (asked first, unless
    --yes). Only calls agents reported: a log file's calls go with `cost-mcp ingest --forget PATH`.
    No MCP tool does this: a model must not be able to erase its own spend.
    """
    from cost_mcp.analytics import reported as reported_calls

    loaded = settings()
    selection = _selection(loaded, ids, options, require=True)
    # Forgetting re-arms the thresholds spend no longer reaches: judged on a ledger missing the logs'
    # newest calls, one still reached would alert (and POST its webhook) a second time this period.
    with ledger(fresh=not dry_run) as (_, conn):
        if not ids and not dry_run and not yes:
            # Filters can pick more than was meant: show what they pick, then ask.
            preview = reported_calls.forget(conn, loaded, selection, dry_run=True)
            if preview.forgotten:
                _confirm_forget(preview, loaded)
        result = reported_calls.forget(conn, loaded, selection, dry_run=dry_run)
    if as_json:
        print(result.model_dump_json(indent=2))
        return EXIT_OK
    out = Console()
    summary = None
    if result.forgotten:
        _render_reported(out, result.forgotten, loaded)
        verb = "would forget" if result.dry_run else "forgot"
        summary = (
            f"{verb} {len(result.forgotten):,} reported call(s), "
            f"{format_cost(result.total_usd, result.unpriced_requests)}"
        )
    say_removed(
        out, summary, dry_run=result.dry_run, alerts_rearmed=result.alerts_rearmed, warnings=result.warnings
    )
    return EXIT_OK


@reported.command("unforget")
@click.argument("ids", nargs=-1, required=True, metavar="ID ...")
@json_option()
def reported_unforget(ids: tuple[str, ...], as_json: bool) -> int:
    """Undo a forget: the calls are stored and counted again the next time they are reported or pushed.

    A forgotten call's tombstone keeps its agent's retries and laptops' pushes from storing it again;
    this lifts it (`cost-mcp reported list --forgotten` shows the ids). The ledger does not hold the
    call meanwhile: its agent's next report of the id, or `cost-mcp push --full` on the laptop that
    holds it, brings it back. No MCP tool does this: restoring spend is the user's call.
    """
    from cost_mcp.analytics import reported as reported_calls

    loaded = settings()
    with ledger(fresh=False) as (_, conn):
        result = reported_calls.unforget(conn, ids)
    if as_json:
        print(result.model_dump_json(indent=2))
        return EXIT_OK
    out = Console()
    _render_reported(out, result.unforgotten, loaded)
    summary = (
        f"unforgot {len(result.unforgotten):,} reported call(s), "
        f"{format_cost(result.total_usd, result.unpriced_requests)}"
    )
    say_removed(out, summary, dry_run=False, warnings=result.warnings)
    return EXIT_OK


def _confirm_forget(preview: ForgetReportedResult, loaded: Settings) -> None:
    """Show what the filters pick and ask; without a terminal to ask on, say to add --yes."""
    if not sys.stdin.isatty():
        raise InvalidInputError(
            f"the filters pick {len(preview.forgotten):,} reported call(s) "
            f"({format_cost(preview.total_usd, preview.unpriced_requests)}): add --yes to forget them, "
            "or --dry-run to see them"
        )
    err = Console(stderr=True)
    _render_reported(err, preview.forgotten, loaded)
    click.confirm(
        f"Forget these {len(preview.forgotten):,} reported call(s) "
        f"({format_cost(preview.total_usd, preview.unpriced_requests)})?",
        abort=True,
        err=True,
    )


_COUNTED_FROM = {"claude_code": "Claude Code logs", "claude_code_otel": "Claude Code OTel"}


def _render_reported(
    out: Console,
    calls: Sequence[ReportedCall],
    loaded: Settings,
    *,
    empty: str = "No reported calls match. Agents report calls with the record_usage tool.",
) -> None:
    from cost_mcp.periods import wall_clock

    if not calls:
        out.print(empty)
        return
    team = any(c.member for c in calls)
    forgotten = any(c.forgotten_utc for c in calls)
    by = any(c.forgotten_by for c in calls)
    elsewhere = any(c.counted_from for c in calls)
    table = Table("id", "when", "agent", *(("member",) if team else ()), "provider", "model", "tokens",
                  "cost", *(("forgotten",) if forgotten else ()), *(("by",) if by else ()),
                  *(("counted from",) if elsewhere else ()), box=None)  # fmt: skip
    for c in calls:
        when = datetime.fromisoformat(c.time_utc).astimezone(loaded.tz)
        extra: list[str] = []
        if forgotten:
            at = c.forgotten_utc
            extra.append(wall_clock(datetime.fromisoformat(at).astimezone(loaded.tz)) if at else "-")
        if by:
            # '' is this ledger's own user (the CLI); a member's laptop's push names the member.
            extra.append(text(c.forgotten_by or "here"))
        if elsewhere:
            # A log or OTel copy of the same request id counts instead: the call counts once.
            extra.append(_COUNTED_FROM.get(c.counted_from or "", text(c.counted_from or "this report")))
        table.add_row(
            text(c.id),
            wall_clock(when),
            text(c.agent or "-"),
            *((text(c.member or "-"),) if team else ()),
            text(c.provider),
            text(c.model),
            f"{c.total_tokens:,}",
            format_cost(c.cost_usd),
            *extra,
        )
    show(out, table)
