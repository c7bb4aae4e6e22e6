"""Commands that run or set up cost-mcp: serve, dashboard, otel-config, doctor, estimate, and Claude
Code's status line and hook."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from cost_mcp.cli.app import (
    EXIT_FAILED,
    EXIT_OK,
    Console,
    cli,
    command_path,
    json_option,
    note,
    settings,
    show,
    temporary_environment,
    text,
)
from cost_mcp.errors import InvalidInputError, LedgerNewerError
from cost_mcp.log_records import server_logging
from cost_mcp.money import format_usd
from cost_mcp.output import counted

_DEPARTED = "(every token of theirs revoked: removed from the team, what they sent still counts)"
"""Doctor's mark on an OTLP sender whose member was removed, as ``revoked`` marks a push line."""


def serve_stdio() -> int:
    """The MCP server on stdio (what `cost-mcp` alone runs)."""
    from cost_mcp.store import connect

    # Fail before the MCP handshake with a message a person can act on (hosts show stderr).
    loaded = settings()
    server_logging(loaded)
    # Except for a ledger a newer release migrated (the user pinned an older one back): Claude Code
    # showed only "failed", and the fix (upgrade) was in its MCP log. The server starts, and every
    # tool answers what every command says of that ledger.
    with contextlib.suppress(LedgerNewerError):
        connect(loaded.db).close()
    if sys.stdin.isatty():
        # A person typed `cost-mcp` in a terminal: without this it would wait silently for MCP messages.
        cache = temporary_environment()
        # From uvx or `pipx run`, this command's own path goes with their cache: name the runner instead.
        add = (
            f"`claude mcp add cost-mcp -- uvx cost-mcp` (or `-- pipx run cost-mcp`): this cost-mcp's own\n"
            f"path, in {cache}, goes when that cache is cleaned."
            if cache is not None
            else f"`claude mcp add cost-mcp -- {command_path()}`."
        )
        print(
            "cost-mcp is an MCP server and is waiting for a client on stdin (Ctrl-C to quit).\n"
            f"To see your spend run `cost-mcp report`; to add it to Claude Code run\n{add}",
            file=sys.stderr,
        )
    from cost_mcp.server import run_stdio

    run_stdio()
    return EXIT_OK


@cli.command()
@click.option("--http", is_flag=True, help="serve MCP at /mcp, OTLP at /v1/* and the dashboard over HTTP")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="another address needs tokens (`cost-mcp token create`)",
)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=4318, show_default=True, help="TCP port (OTLP/HTTP's)"
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="HTTP server processes on the port (one per core)",
)
def serve(http: bool, host: str, port: int, workers: int) -> int:
    """Run the MCP server on stdio (the default), or over HTTP."""
    if not http:
        return serve_stdio()
    from cost_mcp.web.http import serve_http

    loaded = settings()
    server_logging(loaded)
    serve_http(loaded, host=host, port=port, workers=workers, announce=lambda m: print(m, file=sys.stderr))
    return EXIT_OK


@cli.command("otel-config")
@click.option("--server", default=None, help="this server's URL (default http://127.0.0.1:4318)")
@click.option(
    "--bearer/--no-bearer",
    default=None,
    help="send a bearer token (default: when the server is not on this machine)",
)
def otel_config(server: str | None, bearer: bool | None) -> int:
    """Print settings that send agents' telemetry here."""
    from cost_mcp.otel_config import (
        DEFAULT_SERVER,
        TOKEN_ENV,
        is_loopback,
        same_server,
        server_problem,
        snippet,
    )

    server = server or DEFAULT_SERVER
    problem = server_problem(server)
    if problem is not None:
        raise InvalidInputError(problem)
    team = settings().team_server
    if bearer is None and is_loopback(server) and team and same_server(server, team):
        # The team server this laptop pushes to, through a tunnel on this machine: it needs each
        # member's token like any team server; settings without one were refused (401) unseen.
        bearer = True
    if bearer is None and is_loopback(server) and _server_needs_token():
        # This machine's server refuses every export without a token once one exists (401), and
        # the agents drop what they could not send without a word: settings without one lose it all.
        print(
            "warning: this ledger has tokens, so the server refuses (401) telemetry without one and the"
            " agents drop it silently; add --bearer (each member's token in"
            f" {TOKEN_ENV}, from `cost-mcp token create NAME --member EMAIL`), or --no-bearer",
            file=sys.stderr,
        )
    if (bearer if bearer is not None else not is_loopback(server)) and not os.environ.get(TOKEN_ENV):
        # The exports read the token from the shell: one kept only in the env file (where the README
        # puts a laptop's) expands to "Bearer ", refused with 401, and the agents drop it unseen.
        from cost_mcp.config import default_env_file, read_env_file

        env_file = default_env_file()
        filed = (
            f" (it is in {env_file}, which only cost-mcp reads)"
            if read_env_file(env_file).get(TOKEN_ENV)
            else ""
        )
        print(
            f"warning: the settings below read the token from ${TOKEN_ENV}, which this shell does not "
            f"set{filed}: export it in the shell that starts the agent, or the server refuses (401) "
            "every event and the agent drops them silently",
            file=sys.stderr,
        )
    print(snippet(server, bearer))
    return EXIT_OK


def _server_needs_token() -> bool:
    """Whether this machine's ledger makes its HTTP server require a bearer (live tokens or
    identity-provider JWTs); a missing or unreadable ledger is a laptop's: no."""
    from cost_mcp.errors import CostMcpError
    from cost_mcp.store import connect, team
    from cost_mcp.store.connection import is_postgres
    from cost_mcp.web.auth import jwt_configured

    loaded = settings()
    if jwt_configured(loaded):
        return True
    if not is_postgres(loaded.db) and not Path(loaded.db).exists():
        return False  # otel-config does not create a ledger
    try:
        conn = connect(loaded.db)
    except CostMcpError:
        return False  # printing the settings needs no ledger; doctor says what is wrong with it
    try:
        return team.has_live_tokens(conn)
    finally:
        conn.close()


@cli.command()
@click.option("--no-browser", is_flag=True, help="print the link instead of opening it")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=0, help="port on 127.0.0.1 (default: a free one)"
)
def dashboard(no_browser: bool, port: int) -> int:
    """Open the web dashboard (127.0.0.1, one-time link)."""
    from cost_mcp.store.connection import set_lock_wait_teller
    from cost_mcp.web.app import serve_local

    set_lock_wait_teller(None)  # a server: its pages say when they did not wait (see server_logging)

    def announce(url: str) -> None:
        how = "Open" if no_browser else "Opening"
        # The link is the only key to the dashboard: stdout, for the person who ran the command.
        print(f"{how} the dashboard at {url}\n(the link works once; Ctrl-C stops it)", flush=True)

    serve_local(settings(), open_browser=not no_browser, port=port, announce=announce)
    return EXIT_OK


@cli.command()
@json_option()
def doctor(as_json: bool) -> int:
    """Show the ledger, timezone, keys (masked) and log folders."""
    from cost_mcp.config import load_settings_leniently
    from cost_mcp.doctor import diagnose
    from cost_mcp.sources import registry

    loaded, problems = load_settings_leniently()
    report = diagnose(loaded, settings_problems=problems)
    status = EXIT_FAILED if report.problems else EXIT_OK  # the same with --json: scripts test the code
    if as_json:
        print(report.model_dump_json(indent=2))
        return status
    out = Console()
    out.print(f"cost-mcp {report.version} (genai-prices {report.genai_prices_version})")
    out.print(f"ledger        {report.database}\n              {report.database_status}")
    out.print(f"timezone      {report.timezone}, weeks start on {report.week_start}")
    out.print(f"claude code   billed as {report.claude_code_billing}")
    out.print(f"env file      {report.env_file}")
    out.print(f"prices file   {report.prices_file}: {report.prices_status}")
    # Four short columns fit 80; an API origin is shown only where it is not the provider's own.
    keys = Table("provider", "key variable", "key", "from", box=None)
    defaults = {spec.id: spec.default_base_url for spec in registry.providers()}
    for p in report.providers:
        keys.add_row(p.provider, p.env_var, p.masked or "-", p.origin)
    show(out, keys)
    for p in report.providers:
        if p.base_url != defaults.get(p.provider):
            out.print(f"API origin    {p.provider}: {text(p.base_url)}", highlight=False)
        if p.needs and p.masked:
            out.print(f"{p.provider:<13} also needs {', '.join(p.needs)}", highlight=False)
    for root in report.claude_log_roots:
        found = f"{root.jsonl_files} log file(s)" if root.projects_dir_found else "no projects/ folder"
        if root.unreadable:  # doctor's problems name them
            found = f"{root.jsonl_files} log file(s), {len(root.unreadable)} folder(s) it cannot open"
        out.print(f"claude logs   {text(root.path)}: {found}", highlight=False)
    # Only the folders that hold something: a laptop with Claude Code alone showed 30 lines of
    # "absent" (nine editors' folders for each of Cline's family) above what doctor found.
    looked: list[str] = []
    shown = False
    for agent in report.agent_log_roots:
        for folder in agent.folders:
            closed = [u for u in agent.unreadable if u.startswith((f"{folder.path} ", f"{folder.path}/"))]
            if not folder.found and not closed:
                looked.append(agent.agent)
                continue
            found = f"{folder.log_files:,} log file(s)" if folder.found else "cannot be opened"
            if closed and folder.found:  # doctor's problems name them
                found = f"{found}, {len(closed)} folder(s) it cannot open"
            out.print(f"agent logs    {agent.agent} {text(folder.path)}: {found}", highlight=False)
            shown = True
    if looked:
        names = ", ".join(dict.fromkeys(looked))
        other = "other " if shown else ""
        out.print(
            f"agent logs    none in {len(looked)} {other}folder(s) of {names} (`cost-mcp doctor --json` "
            "lists them)",
            highlight=False,
        )
    for f in report.skipped_log_lines:
        reasons = ", ".join(f"{reason} {n:,}" for reason, n in f.lines.items())
        out.print(f"skipped lines {text(f.path)} ({f.source}): {reasons}", highlight=False)
    for used in report.priced_with:
        published = f", data of {used.data_date}" if used.data_date else ""
        fixes = f", corrections {used.corrections}" if used.corrections else ""
        out.print(f"priced with   genai-prices {used.version}{published}{fixes} since {used.first_used}")
    for name, where in report.webhooks.items():
        out.print(f"webhook       {text(name)}: {text(where)}", highlight=False)
    if report.team is not None and (report.team.server or report.team.token_set):
        t = report.team
        pushed = f"last push {t.last_push}" if t.last_push else "never pushed"
        pending = "pending unknown" if t.pending_events is None else f"{t.pending_events:,} event(s) pending"
        token = "set" if t.token_set else "not set"
        if t.token_can_push is False:
            token = "cannot push"  # accepted, but every push refused: doctor's problems say why
        elif t.token_accepted is not None:
            token = "accepted" if t.token_accepted else "REFUSED"
        out.print(
            f"team server   {text(t.server or '(not set)')}: token {token}, "
            f"{pushed}, {t.pushed_events:,} event(s) sent, {pending}"
            + (", project names hashed" if t.hide_projects else ""),
            highlight=False,
        )
        if t.forgets_pending_since:
            removals = f", {t.pending_removals:,} removal(s) of log calls" if t.pending_removals else ""
            out.print(
                f"team forgets  {t.pending_forgets or 0:,} forget(s), {t.pending_unforgets or 0:,} "
                f"unforget(s){removals} not taken by the server yet, waiting since {t.forgets_pending_since}"
            )
    shown_pushes = 10
    for sender in report.received_pushes[:shown_pushes]:
        out.print(
            f"pushes from   {text(sender.token_name)} ({text(sender.member)}): last {sender.last_push}"
            + (f", heard from {sender.last_heard}" if sender.last_heard else "")
            + (", token revoked" if sender.revoked else ""),
            highlight=False,
        )
    if len(report.received_pushes) > shown_pushes:
        out.print(
            f"pushes from   ... and {len(report.received_pushes) - shown_pushes:,} more tokens (see --json)"
        )
    for silent in report.never_pushed[:shown_pushes]:
        otel = ""
        if silent.otel_calls:
            otel = (
                f" (may send OTLP: {silent.otel_calls:,} OTel call(s) received from this member,"
                f" the latest in the last {report.otel_days} days)"
            )
        out.print(
            f"never pushed  {text(silent.token_name)} ({text(silent.member)}): token made {silent.created}"
            + otel,
            highlight=False,
        )
    if len(report.never_pushed) > shown_pushes:
        out.print(
            f"never pushed  ... and {len(report.never_pushed) - shown_pushes:,} more tokens (see --json)"
        )
    if report.otel_senders:
        # A table: an agent, an email and a time on one line would not fit 80 columns.
        senders = Table("otlp from", "member", "calls received", "last received (UTC)", box=None)
        for s in report.otel_senders[:shown_pushes]:
            last = s.last_event.replace("T", " ")[:16]
            member = text(s.member or "-") + (f" {_DEPARTED}" if s.departed else "")
            senders.add_row(text(s.agent), member, f"{s.events:,}", last)
        show(out, senders)
        if len(report.otel_senders) > shown_pushes:
            out.print(f"otlp from     ... and {len(report.otel_senders) - shown_pushes:,} more (see --json)")
    else:
        out.print(
            f"otlp          no calls received in the last {report.otel_days} days "
            "(`cost-mcp otel-config` prints the settings that send them to `cost-mcp serve --http`)"
        )
    for s in report.otel_quiet[:shown_pushes]:
        # A removed member's silence is no telemetry to mend, as their push line's "token revoked" says.
        why = _DEPARTED if s.departed else "(their telemetry stopped, or they did not work)"
        out.print(
            f"otlp quiet    {text(s.member or '-')} ({text(s.agent)}): last received "
            f"{s.last_event.replace('T', ' ')[:16]} UTC, none in the last {report.otel_days} days {why}",
            highlight=False,
        )
    if len(report.otel_quiet) > shown_pushes:
        out.print(f"otlp quiet    ... and {len(report.otel_quiet) - shown_pushes:,} more (see --json)")
    for problem in report.problems:
        note(out, problem, "[yellow]problem:[/yellow]")
    for warning in report.warnings:
        note(out, warning, "[yellow]warning:[/yellow]")
    return status


_TOKENS = click.IntRange(min=0)
"""A token count: a negative one is refused by click, naming the option."""


@cli.command()
@click.argument("model")
@click.option("--provider", help="who serves the model (default: found from the model's name)")
@click.option("--input", "input_", type=_TOKENS, default=0, help="uncached input tokens")
@click.option("--output", type=_TOKENS, default=0, help="output tokens")
@click.option("--cache-read", type=_TOKENS, default=0, help="tokens read from the cache")
@click.option("--cache-write", type=_TOKENS, default=0, help="5-minute cache writes")
@click.option("--cache-write-1h", "cache_write_1h", type=_TOKENS, default=0, help="1-hour cache writes")
# The tool's own bounds (models.Requests): 0 divided the tokens by zero, a negative count by -3.
@click.option(
    "--requests",
    type=click.IntRange(1, 1_000_000_000),
    default=None,
    help="calls the tokens are spread over (default: the fewest that fit the context window)",
)
@click.option("--speed", type=click.Choice(["standard", "fast"]), help="Anthropic fast mode")
@click.option(
    "--service-tier",
    type=click.Choice(["standard", "batch", "priority", "flex"]),
    help="batch, priority or flex rates where the provider has them",
)
@click.option("--inference-geo", type=click.Choice(["global", "us"]), help="Anthropic US-only inference")
@json_option()
def estimate(
    model: str,
    provider: str | None,
    input_: int,
    output: int,
    cache_read: int,
    cache_write: int,
    cache_write_1h: int,
    requests: int | None,
    speed: str | None,
    service_tier: str | None,
    inference_geo: str | None,
    as_json: bool,
) -> int:
    """Price a hypothetical call and cheaper alternatives."""
    from cost_mcp.analytics.estimate import estimate_cost
    from cost_mcp.pricing import Pricer, Tokens

    if not any((input_, output, cache_read, cache_write, cache_write_1h)):
        raise InvalidInputError(
            "give the call's token counts, e.g. cost-mcp estimate "
            f"{model} --input 120000 --output 4000 (also --cache-read, --cache-write, --cache-write-1h)"
        )
    loaded = settings()
    tokens = Tokens(
        input=input_,
        output=output,
        cache_read=cache_read,
        cache_write_5m=cache_write,
        cache_write_1h=cache_write_1h,
    )
    result = estimate_cost(
        Pricer.from_file(loaded.prices_file),
        tokens,
        model,
        provider,
        requests,
        speed=speed,
        service_tier=service_tier,
        inference_geo=inference_geo,
    )
    if as_json:
        print(result.model_dump_json(indent=2))
        return EXIT_OK
    out = Console()
    out.print(
        f"{result.matched_model} ({result.provider}), {counted(result.requests, 'call')}: "
        f"[bold]{format_usd(result.cost_usd, 6)}[/bold]"
    )
    for line in result.notes:
        out.print(f"  {text(line)}")
    table = Table("cheaper model", "cost", "saving", box=None)
    for alt in result.cheaper:
        table.add_row(text(alt.model), format_usd(alt.cost_usd, 6), f"{alt.saving_percent}%")
    if result.cheaper:
        show(out, table)
    return EXIT_OK


def _install_options(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def add(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn = click.option("--yes", is_flag=True, help="write without asking (the diff is still shown)")(fn)
        fn = click.option("--project", is_flag=True, help="in this project's .claude/settings.json")(fn)
        fn = click.option(
            "--uninstall", is_flag=True, help=f"take {what} out of Claude Code's settings again"
        )(fn)
        return click.option("--install", is_flag=True, help=f"add {what} to Claude Code's settings")(fn)

    return add


@cli.command()
@click.option("--fields", help="comma-separated: session,today,block,budget,limits (default: all)")
@_install_options("the status line")
def statusline(fields: str | None, install: bool, uninstall: bool, project: bool, yes: bool) -> int:
    """Claude Code's status line: spend, block, budget, limits.

    Reads Claude Code's status JSON on stdin; --install adds it to Claude Code's settings,
    --uninstall takes it out.
    """
    from cost_mcp import claude_settings

    if install and fields is not None:
        from cost_mcp.core_settings import default_env_file

        # The installed command takes no options (an uninstall or a later install finds it by its
        # exact words): the fields asked for were dropped, and the line showed every field.
        raise InvalidInputError(
            f"--fields is not written into Claude Code's settings: put COST_MCP_STATUSLINE_FIELDS={fields} "
            f"in {default_env_file()} (the status line reads it there), then run `cost-mcp statusline "
            "--install` without --fields"
        )
    if install or uninstall:
        return _install(
            project,
            yes,
            "statusline",
            claude_settings.set_statusline(_our_command("statusline")),
            uninstall=uninstall,
            install=install,
        )
    from cost_mcp.launcher import statusline as show_statusline

    return show_statusline(fields)


@cli.command()
@_install_options("the UserPromptSubmit and PreToolUse hooks")
def hook(install: bool, uninstall: bool, project: bool, yes: bool) -> int:
    """Claude Code hook: warn at soft budgets, block at hard ones.

    Reads the hook's JSON on stdin (Claude Code runs it before each prompt and tool call) and
    answers on stdout; --install adds it to Claude Code's settings, --uninstall takes it out.
    """
    from cost_mcp import claude_settings

    if install or uninstall:
        return _install(
            project,
            yes,
            "hook",
            claude_settings.add_hooks(_our_command("hook")),
            uninstall=uninstall,
            install=install,
        )
    from cost_mcp.hooks import run

    result = run(sys.stdin.read())
    if result.stdout:
        print(result.stdout)
    return result.exit_code


def _our_command(subcommand: str) -> str:
    """The shell command Claude Code should run: this cost-mcp by absolute path (its PATH may differ)."""
    import shlex

    return f"{shlex.quote(command_path())} {subcommand}"


def _install(
    project: bool,
    yes: bool,
    subcommand: str,
    change: Callable[[dict[str, Any]], None],
    *,
    install: bool,
    uninstall: bool,
) -> int:
    """Show the settings change (adding ``subcommand``, or with ``uninstall`` taking it out) as a
    diff, ask (unless --yes), then write it."""
    from cost_mcp.claude_settings import plan, plan_undo, settings_path

    if install and uninstall:
        raise InvalidInputError("give --install or --uninstall, not both")
    what = "status line" if subcommand == "statusline" else "hook"
    cache = temporary_environment() if install else None
    if cache is not None:
        # The settings would name a command that vanishes with the cache: Claude Code's status line
        # goes blank and every hook run fails, with nothing telling the user why.
        raise InvalidInputError(
            f"nothing written: this cost-mcp runs from a temporary environment in {cache} (made by uvx "
            f"or `pipx run`), which is deleted when that cache is cleaned, and Claude Code could no "
            f"longer run the {what}; install cost-mcp to stay (`uv tool install cost-mcp` or "
            f"`pipx install cost-mcp`), then run `cost-mcp {subcommand} --install` again"
        )
    path = settings_path("project" if project else "user", settings().claude_roots(), Path.cwd())
    edit = plan_undo(path, subcommand) if uninstall else plan(path, change)
    if not edit.changed and not edit.remove:
        print(
            f"{path} has no cost-mcp {subcommand}; nothing to change"
            if uninstall
            else f"{path} already has it; nothing to change"
        )
        return EXIT_OK
    print(edit.diff(), end="")
    if install and not project and not path.parent.is_dir():
        # A Codex or Gemini CLI user who ran this got a ~/.claude made for a file nothing else reads.
        print(
            f"note: there is no Claude Code folder at {path.parent}: only Claude Code reads {path.name} "
            f"(Codex, Gemini CLI and the other agents never run this {what}); writing it creates the folder"
        )
    if edit.read_only():
        print(
            f"nothing written: {edit.target} is read-only; make it writable (chmod u+w {edit.target}) "
            "and run this again, or make the change above by hand",
            file=sys.stderr,
        )
        return EXIT_FAILED
    if not yes:
        try:
            reply = input(f"{'Remove' if edit.remove else 'Write'} {path}? [y/N] ")
        except EOFError:
            # No terminal to answer on (a script, a provisioning tool): "nothing written" alone
            # left the user guessing why and what would write it.
            verb = "remove" if edit.remove else "write"
            print(f"\nnothing written: no answer to the question (no terminal?); add --yes to {verb} it")
            return EXIT_FAILED
        if reply.strip().lower() not in ("y", "yes"):
            print("nothing written")
            return EXIT_FAILED
    done = edit.write()
    if not edit.remove:
        print(f"wrote {path}")
    for line in done:
        print(line)
    if uninstall:
        return EXIT_OK
    from cost_mcp.core_settings import default_env_file, shell_only_settings

    missing = shell_only_settings()
    if missing:
        print(
            f"note: {', '.join(missing)} set in this shell but not in {default_env_file()}: Claude Code "
            "runs this command with its own environment, so it would read another ledger or zone; put "
            "the same NAME=value lines in that file (every cost-mcp command reads it)"
        )
    return EXIT_OK
