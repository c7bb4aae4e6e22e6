"""Team-mode commands (issue 14): ``token create|list|revoke``, ``team set|list|pushes|
forget-pushes|unforget-pushes|rename-member`` and ``push``."""

from __future__ import annotations

import json
import re
import shlex
import sys
from typing import TYPE_CHECKING, Any

import click

from cost_mcp.cli.app import (
    EXIT_OK,
    Console,
    cli,
    json_option,
    ledger,
    period_options,
    resolve_period,
    say_removed,
    settings,
)
from cost_mcp.errors import InvalidInputError
from cost_mcp.money import format_cost, from_nanos
from cost_mcp.output import counted
from cost_mcp.periods import iso_utc
from cost_mcp.store.team import ROLES

if TYPE_CHECKING:
    from cost_mcp.analytics.reported import PushesForgotten
    from cost_mcp.config import Settings
    from cost_mcp.store.connection import Conn


@cli.group()
def token() -> None:
    """Bearer tokens for the team server (create, list, revoke)."""


@token.command("create")
@click.argument("name")
@click.option(
    "--member", required=True, help="the member's email address (an ingest token: who answers for it)"
)
@click.option(
    "--role",
    type=click.Choice(ROLES),
    default="member",
    show_default=True,
    help="member: their own usage; admin: everything; ingest: only sends OpenTelemetry usage (a fleet's)",
)
def token_create(name: str, member: str, role: str) -> int:
    """Create a token and print it once (the ledger keeps only its hash)."""
    from cost_mcp.store import connect
    from cost_mcp.store import team as team_store

    conn = connect(settings().db)
    try:
        first = not team_store.has_live_tokens(conn)
        secret = team_store.create_token(conn, name, member, role)
    finally:
        conn.close()
    said = team_store.member_name(member)  # as stored: create_token took it so
    print(f"token {name} for {said} ({role}); shown once, keep it secret:", file=sys.stderr)
    if first:
        # The server decides at start whether it needs tokens (and may listen beyond loopback).
        print(
            "the first token: a running `cost-mcp serve --http` stops answering until restarted, "
            "then requires tokens",
            file=sys.stderr,
        )
    print(secret)
    return EXIT_OK


@token.command("list")
def token_list() -> int:
    """Every token: name, member, role, created, revoked (never the token)."""
    from cost_mcp.store import connect
    from cost_mcp.store import team as team_store

    conn = connect(settings().db)
    try:
        tokens = team_store.list_tokens(conn)
        for t in tokens:
            state = f"revoked {t.revoked_at[:19]}" if t.revoked_at else "live"
            print(f"{t.name}\t{t.member}\t{t.role}\tcreated {t.created_at[:19]}\t{state}")
    finally:
        conn.close()
    if not tokens:  # stdout stays empty for a script; a person saw nothing at all
        print("No tokens yet. Create one: cost-mcp token create NAME --member EMAIL", file=sys.stderr)
    return EXIT_OK


@token.command("revoke")
@click.argument("name")
def token_revoke(name: str) -> int:
    """Revoke a token at once."""
    from cost_mcp.store import connect
    from cost_mcp.store import team as team_store

    conn = connect(settings().db)
    try:
        before = team_store.revoke_token(conn, name)
    finally:
        conn.close()
    # "token ana-laptop revoked" again, for one revoked weeks ago, read as if it had been live
    # until now (the admin looking for which token a leak used).
    said = f"token {name} was revoked already, on {before[:19]}" if before else f"token {name} revoked"
    print(said, file=sys.stderr)
    return EXIT_OK


@cli.group()
def team() -> None:
    """Named groups of members, for team budgets."""


@team.command("set")
@click.argument("name")
@click.argument("members", nargs=-1, metavar="EMAIL...")
def team_set(name: str, members: tuple[str, ...]) -> int:
    """Make a team exactly these members (none: remove it)."""
    from datetime import UTC, datetime

    from cost_mcp.analytics import budgets
    from cost_mcp.store import connect
    from cost_mcp.store import team as team_store

    loaded = settings()
    moment = datetime.now(UTC)
    conn = connect(loaded.db)
    try:
        was = team_store.teams(conn).get(name.strip(), [])
        before = budgets.team_budget_states(conn, loaded, name.strip(), moment)
        team_store.set_team(conn, name, members)
        now = team_store.teams(conn).get(name.strip())
        warnings = budgets.team_warnings(conn, name.strip(), now or [])
        after = budgets.team_budget_states(conn, loaded, name.strip(), moment)
        left = [m for m in was if m not in (now or [])]
        joined = [m for m in now or [] if m not in was]
        notes = budgets.team_change_notes(name.strip(), before, after, left, joined)
    finally:
        conn.close()
    # Said back as stored (lower-cased, each once), as `token create` and `budget set` confirm theirs.
    said = f"team {name.strip()}: {', '.join(now)}" if now else f"team {name.strip()} removed"
    print(said, file=sys.stderr)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return EXIT_OK


@team.command("list")
def team_list() -> int:
    """Every team and its members."""
    from cost_mcp.store import connect
    from cost_mcp.store import team as team_store

    conn = connect(settings().db)
    try:
        teams = team_store.teams(conn)
        for name, members in teams.items():
            print(f"{name}\t{', '.join(members)}")
    finally:
        conn.close()
    if not teams:  # stdout stays empty for a script; a person saw nothing at all
        print("No teams yet. Create one: cost-mcp team set NAME EMAIL ...", file=sys.stderr)
    return EXIT_OK


@team.command("pushes")
@click.option("--member", default=None, help="only this member's pushes (their email address)")
@click.option(
    "--limit",
    type=click.IntRange(1, 100_000),
    default=50,
    show_default=True,
    help="how many of the latest pushes to show",
)
def team_pushes(member: str | None, limit: int) -> int:
    """The pushes this team server took, latest first: when, token, member, rows, and of them how
    many were new or grown, refused (another member's call) and forgotten (an admin's forget).

    Kept 30 days. For "why is a member's usage missing?": no push at all (the laptop's server is
    not running, or its token is wrong), or rows refused or forgotten. A laptop that has said since
    its last push that it runs with nothing to send (a beat) is named after the list, with when.
    """
    from cost_mcp.analytics.reported import pushed_members
    from cost_mcp.store import connect
    from cost_mcp.store import team as team_store

    if member is not None:
        member = team_store.checked_member(member, "--member")
    conn = connect(settings().db)
    try:
        pushes = team_store.push_history(conn, member, limit)
        senders = team_store.push_senders(conn, None if member is None else [member])
        # `--member bob` (not bob@example.com) or a misspelt address read as "Bob's laptop has not
        # pushed in 30 days": whose pushes there are, as forget-pushes says.
        others = f" ({pushed_members(conn)})" if member and not pushes and not senders else ""
    finally:
        conn.close()
    for p in pushes:
        print(
            f"{iso_utc(p.received_ms)}\t{p.token_name}\t{p.member}\t{p.rows:,} row(s)\t{p.changed:,} new or "
            f"grown\t{p.refused:,} refused\t{p.forgotten:,} forgotten"
        )
    # Beats are not pushes (one every few minutes per laptop would bury them): the last one of each
    # laptop heard from since its last push, on stderr, so that an idle laptop does not read as gone.
    for s in senders:
        if s.heard_ms is not None and s.heard_ms > s.last_ms:
            print(
                f"{s.token_name} ({s.member}): nothing to send, last heard from {iso_utc(s.heard_ms)}",
                file=sys.stderr,
            )
    if not pushes:  # stdout stays empty for a script; a person saw nothing at all
        whose = f" from {member}" if member else ""
        print(
            f"No pushes{whose} in the last {team_store.PUSH_HISTORY_DAYS} days{others}. A laptop pushes once "
            "COST_MCP_TEAM_SERVER and COST_MCP_TEAM_TOKEN are set there (`cost-mcp doctor` on it says "
            "whether its token is taken)",
            file=sys.stderr,
        )
    return EXIT_OK


@team.command("rename-member")
@click.argument("old", metavar="OLD_EMAIL")
@click.argument("new", metavar="NEW_EMAIL")
@click.option(
    "--merge", is_flag=True, help="NEW_EMAIL has usage or tokens already: make both histories one member's"
)
@click.option("--dry-run", is_flag=True, help="say what would move, per kind of row; change nothing")
@json_option("what moved, and what still names OLD_EMAIL, as JSON on stdout")
def team_rename_member(old: str, new: str, merge: bool, dry_run: bool, as_json: bool) -> int:
    """Move everything a member's old email names to their new one: calls pushed or sent over OTLP,
    tokens (they go on working, as the new email), teams, budgets scoped to them, subscriptions,
    push history. In one transaction: all moves, or none.

    A NEW_EMAIL that already has usage, tokens, teams or budgets is refused unless --merge: merging
    two people's history cannot be undone. Emails compare lower-cased, as the server stores them.

    What it does not change is said after: COST_MCP_JWT_ADMINS naming the old address (a setting:
    no command edits the env file's lines of others), budgets named after the member (a budget's
    name is its key), each with how to change it.
    """
    from cost_mcp.store import connect, rollup
    from cost_mcp.store import team as team_store

    loaded = settings()
    conn = connect(loaded.db)
    try:
        done = team_store.rename_member(conn, old, new, merge=merge, dry_run=dry_run)
        verb = "would move" if dry_run else "moved"
        print(f"{verb} {done.old} to {done.new}: {_rows(done.moved)}", file=sys.stderr)
        if done.held:
            held = _rows(done.held)
            print(
                f"{done.new} had already: {held} (merged{' with --merge' if dry_run else ''})",
                file=sys.stderr,
            )
        if done.quarter_hours:
            # Said first: on a ledger of a million calls over a year this took a minute, silent.
            print(
                f"rebuilding the rollup of their {counted(done.quarter_hours, 'quarter-hour')}, a week at a "
                "time (pushes go on between weeks; interrupted, the next answer finishes it)",
                file=sys.stderr,
                flush=True,
            )
            rollup.refresh_by_weeks(conn)
        left = _still_naming(loaded, conn, done.old, done.new)
    finally:
        conn.close()
    if "otlp senders" in done.moved and not dry_run:
        # Its own token's events carry NEW now; a fleet's ingest token and a JWT name the member as
        # the sender says, which only the member's sign-in (Claude Code, the identity provider) changes.
        print(
            f"note: OTLP events sent with an ingest token (named by Claude Code's user.email) and usage "
            f"under a JWT whose email is still {done.old} arrive under {done.old} again; `cost-mcp team "
            f"rename-member {done.old} {done.new} --merge` moves what arrived meanwhile",
            file=sys.stderr,
        )
    still = "would still name" if dry_run else "still names"
    for item in left:
        print(f"note: {item['what']} {still} {done.old}: {item['fix']}", file=sys.stderr)
    if as_json:
        said = {
            "old": done.old,
            "new": done.new,
            "dry_run": done.dry_run,
            "moved": done.moved,
            "held": done.held,
            "quarter_hours": done.quarter_hours,
            "still_naming_old": left,
        }
        print(json.dumps(said, indent=2, ensure_ascii=False))
    return EXIT_OK


def _still_naming(loaded: Settings, conn: Conn, old: str, new: str) -> list[dict[str, str]]:
    """What names member ``old`` that :func:`team_store.rename_member` leaves as it is, each with
    how to change it: the COST_MCP_JWT_ADMINS entry (a setting, never edited here: it may be the
    environment's, and an admin's rights are the admin's to move), and budgets whose name holds the
    member's name (not their scope, which moved): a budget is known by its name, so it is set again
    under another. ``kind``, ``name``, ``what`` (said) and ``fix``, for the text and for --json."""
    from cost_mcp.config import key_origin
    from cost_mcp.store import budgets as budget_store
    from cost_mcp.store import team as team_store

    left: list[dict[str, str]] = []
    admins = [a for a in loaded.jwt_admins.split(",") if a.strip()]
    if any(team_store.member_name(a) == old for a in admins):
        origin = key_origin("COST_MCP_JWT_ADMINS")
        said = {"environment": "the environment the team server starts with", "not set": "its settings"}
        where = said.get(origin, origin)
        left.append(
            {
                "kind": "setting",
                "name": "COST_MCP_JWT_ADMINS",
                "what": "COST_MCP_JWT_ADMINS",
                "fix": f"replace {old} with {new} there ({where}), then restart `cost-mcp serve --http`, "
                f"which reads it at start; until both, a JWT naming {new} signs in as a member, not an admin",
            }
        )
    # Budget names hold no @ (letters, digits, space, _ . : / -): one is named after the member by the
    # address's part before the @ (an account id whole), as a word ("alice-cap", not "malice"), and
    # says nothing wrong when the new address keeps that part.
    before, after = (_word(member.split("@", 1)[0]) for member in (old, new))
    for name in budget_store.names(conn):
        if before.search(name) and not after.search(name):
            left.append(
                {
                    "kind": "budget",
                    "name": name,
                    "what": f"budget {shlex.quote(name)}",
                    "fix": "a budget keeps its name: set it again under a new one with the same amount "
                    f"and scope (`cost-mcp budget list` shows them), then `cost-mcp budget delete "
                    f"{shlex.quote(name)}`",
                }
            )
    return left


def _word(text: str) -> re.Pattern[str]:
    """``text`` as a whole word of a name, in any case."""
    return re.compile(rf"(?<![a-z0-9]){re.escape(text)}(?![a-z0-9])", re.IGNORECASE)


def _rows(counts: dict[str, int]) -> str:
    """Rows per kind, as ``rename_member`` counts them (each kind a plural noun): "1 budget, 3 calls"."""
    said = []
    for kind, n in sorted(counts.items()):
        many = "push history rows" if kind == "push history" else kind
        said.append(counted(n, many.removesuffix("s"), many))
    return ", ".join(said)


def _pushes_range(options: dict[str, Any]) -> tuple[int | None, int | None]:
    """The times --period / --start / --end pick (none: every time)."""
    if all(options[f] is None for f in ("period", "start", "end")):
        return None, None
    p = resolve_period(settings(), options)
    return p.start_ms, p.end_ms


def _say_sources(out: Console, result: PushesForgotten) -> None:
    for s in result.sums:
        out.print(
            f"  {s.source}\t{s.rows:,} row(s)\t{format_cost(from_nanos(s.cost_nanos), s.unpriced)}\t"
            f"{iso_utc(s.first_ms)} .. {iso_utc(s.last_ms)}",
            highlight=False,
        )


def _say_pushes(result: PushesForgotten, verb: str) -> None:
    out = Console(stderr=True)
    _say_sources(out, result)
    summary = None
    if result.sums:
        summary = (
            f"{verb} {result.rows:,} row(s) of {result.member}, "
            f"{format_cost(result.total_usd, result.unpriced)}"
        )
    say_removed(
        out, summary, dry_run=result.dry_run, alerts_rearmed=result.alerts_rearmed, warnings=result.warnings
    )


@team.command("forget-pushes")
@click.option(
    "--member", required=True, help="the member whose usage sent to this server goes (their email address)"
)
@period_options
@click.option("--dry-run", is_flag=True, help="show what would be removed, change nothing")
@click.option("--yes", is_flag=True, help="with no range, forget everything the member pushed without asking")
def team_forget_pushes(member: str, dry_run: bool, yes: bool, **options: Any) -> int:
    """Remove what a member's tokens sent (every time, or --period / --start / --end).

    Their laptops' pushes, OTLP and record_usage over HTTP: for a leaked token or a broken laptop,
    `token revoke` stops it sending and this removes what it sent. The calls stay forgotten: the
    member's next push, `push --full` too, does not bring them back until `team unforget-pushes`.
    The server's own logs and provider bills are untouched. Budget alerts spend no longer reaches
    fire again when it does. With no range, everything the member ever sent goes: asked first
    (on a terminal), unless --yes.
    """
    from cost_mcp.analytics import reported as reported_calls

    start_ms, end_ms = _pushes_range(options)
    with ledger(fresh=False) as (loaded, conn):
        if start_ms is None and not dry_run and not yes:
            preview = reported_calls.forget_pushes(conn, loaded, member, None, None, dry_run=True)
            if preview.sums:
                _confirm_forget_all(preview)
        result = reported_calls.forget_pushes(conn, loaded, member, start_ms, end_ms, dry_run=dry_run)
    _say_pushes(result, "would forget" if dry_run else "forgot")
    if result.sums and not dry_run:
        Console(stderr=True).print(
            _UNDO.format(member=shlex.quote(result.member), range=_range_args(options)), highlight=False
        )
    return EXIT_OK


# The server deletes the rows: only a copy elsewhere can bring them back. A laptop's ledger holds
# what it pushed; nothing holds what came only over OTLP or record_usage (their senders do not
# send old calls again), so an admin who expected an undo lost that spend for good.
_NOT_KEPT = (
    "this server keeps no copy: `cost-mcp team unforget-pushes --member {member}{range}` lets them "
    "back, and only the member's own `cost-mcp push --full` sends them again, from machines that still "
    "hold them (calls that came only over OTLP or record_usage are held nowhere else)"
)
_UNDO = "to undo: " + _NOT_KEPT


def _range_args(options: dict[str, Any]) -> str:
    """The range options as given, to repeat in the undo command."""
    names = ("period", "start", "end", "timezone")
    return "".join(f" --{name} {shlex.quote(options[name])}" for name in names if options[name])


def _confirm_forget_all(preview: PushesForgotten) -> None:
    """No range: everything the member ever pushed. Show it and ask; without a terminal to ask on,
    say what it is and to add --yes."""
    what = f"{preview.rows:,} row(s), {format_cost(preview.total_usd, preview.unpriced)}"
    kept = _NOT_KEPT.format(member=shlex.quote(preview.member), range="")
    if not sys.stdin.isatty():
        raise InvalidInputError(
            f"no --period/--start/--end: this forgets everything {preview.member} ever pushed ({what}); "
            f"{kept}. Add --yes to forget it all, --dry-run to see it per source, or give a range"
        )
    _say_sources(Console(stderr=True), preview)
    click.confirm(
        f"Forget everything {preview.member} ever pushed ({what})? {kept[0].upper()}{kept[1:]}.",
        abort=True,
        err=True,
    )


@team.command("unforget-pushes")
@click.option("--member", required=True, help="the member whose forgotten pushes may come back")
@period_options
@click.option("--dry-run", is_flag=True, help="show what would be lifted, change nothing")
def team_unforget_pushes(member: str, dry_run: bool, **options: Any) -> int:
    """Undo `team forget-pushes`: the member's next `push --full` stores and counts those calls again.

    Lifts every forget an admin made of the member's calls in the range (`reported forget` ones too).
    """
    from cost_mcp.analytics import reported as reported_calls

    start_ms, end_ms = _pushes_range(options)
    with ledger(fresh=False) as (_, conn):
        result = reported_calls.unforget_pushes(conn, member, start_ms, end_ms, dry_run=dry_run)
    _say_pushes(result, "would unforget" if dry_run else "unforgot")
    return EXIT_OK


@cli.command()
@click.option("--server", default=None, help="team server URL (default COST_MCP_TEAM_SERVER)")
@click.option("--token", "bearer", default=None, help="bearer token (default COST_MCP_TEAM_TOKEN)")
@click.option(
    "--full",
    is_flag=True,
    help="send every row again, not only those added since the server's last acknowledgement "
    "(after the team server's ledger was restored from a backup)",
)
@click.option(
    "--quiet",
    is_flag=True,
    help="say nothing when all went well, only warnings and errors (for cron: it mails any output)",
)
def push(server: str | None, bearer: str | None, full: bool, quiet: bool) -> int:
    """Send the team server the usage it lacks (reads new log lines first)."""
    import functools

    from cost_mcp import push as push_api

    def waiting(words: str) -> None:
        # A server that took the batch and stays silent: said, rather than the terminal standing
        # still for the whole read timeout (a working server may take that long behind its lock).
        if not quiet:
            print(f"note: {words}", file=sys.stderr, flush=True)

    # Without the read, a first push (or one from cron) sent nothing of the usage logged since
    # the last question: only what some earlier answer had happened to read.
    with ledger(local=True) as (loaded, conn):
        stats = push_api.push(
            conn,
            loaded,
            server=server,
            token=bearer,
            confirm=True,
            full=full,
            send=functools.partial(push_api.http_sender, waiting=waiting),
        )
    refused = f", {stats.refused:,} refused" if stats.refused else ""
    refused += f", {stats.forgotten:,} forgotten there" if stats.forgotten else ""
    refused += f", {stats.rejected:,} rejected" if stats.rejected else ""
    if stats.forgets:
        refused += f", {stats.forgets:,} forget(s) sent ({stats.removed:,} call(s) removed"
        refused += f", {stats.lifted:,} unforgotten)" if stats.lifted else ")"
    if quiet:
        pass  # cron mails whatever a run prints: only the warnings below, and errors, are news
    elif stats.beat:
        print(
            "pushed 0 usage rows: nothing new, so the team server was told this laptop is running and "
            f"idle (not a push in its history); {stats.pending:,} left",
            file=sys.stderr,
        )
    else:
        print(
            f"pushed {stats.sent:,} usage rows in {stats.batches} batch(es), {stats.changed:,} new or grown "
            f"on the server{refused}; {stats.pending:,} left",
            file=sys.stderr,
        )
    for warning in stats.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return EXIT_OK
