"""The human CLI: serve (default), report, export, ingest, sync, estimate, savings, compare, doctor;
parsing and output."""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sqlite3
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO
from zoneinfo import ZoneInfo

from pydantic import Field
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cost_mcp import __version__
from cost_mcp.config import Settings, load_settings_leniently
from cost_mcp.errors import CostMcpError, InvalidInputError
from cost_mcp.models import SessionSaving, SpendResult
from cost_mcp.money import UNPRICED, format_cost, format_usd, plain_usd
from cost_mcp.output import csv_cell, safe_text

if TYPE_CHECKING:
    from cost_mcp.analytics.focus import FocusExport
    from cost_mcp.periods import Period

EXIT_USAGE = 2


def _provider_id(value: str) -> str:
    """A registered provider id for `sync --provider`. The registry (every fetcher) is imported only
    when the option is used, so the other commands (the status line above all) start without it."""
    from cost_mcp.sources import registry

    known = [p.id for p in registry.providers()]
    if value not in known:
        raise argparse.ArgumentTypeError(f"unknown provider {value!r} (choose from {', '.join(known)})")
    return value


def _s(value: object) -> str:
    """Outside text (names, provider messages) for a rich console: controls neutralised, and rich
    markup escaped so that "[red]" in a name is shown, not obeyed."""
    return escape(safe_text(value))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cost-mcp",
        description="Know, to the cent, what your AI use costs. With no command, serves MCP on stdio.",
    )
    parser.add_argument("--version", action="version", version=f"cost-mcp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    srv = sub.add_parser("serve", help="run the MCP server on stdio (the default), or over HTTP")
    srv.add_argument(
        "--http", action="store_true", help="serve MCP at /mcp, OTLP at /v1/* and the dashboard over HTTP"
    )
    srv.add_argument(
        "--host",
        default="127.0.0.1",
        help="default 127.0.0.1; another address needs tokens (`cost-mcp token create`)",
    )
    srv.add_argument("--port", type=int, default=4318, help="TCP port (default 4318, OTLP/HTTP's)")
    ocfg = sub.add_parser("otel-config", help="print settings that send agents' telemetry here")
    ocfg.add_argument("--server", default=None, help="this server's URL (default http://127.0.0.1:4318)")
    doctor = sub.add_parser("doctor", help="show the ledger, timezone, keys (masked) and log folders")
    doctor.add_argument("--json", action="store_true", help="machine-readable output")
    from cost_mcp import cli_team

    cli_team.add_parsers(sub)
    rep = sub.add_parser("report", help="what was spent in a period (default: this month)")
    _period_args(rep)
    rep.add_argument(
        "--group-by",
        nargs="+",
        default=None,
        metavar="DIM",
        help="provider, model, day, week, month, project, agent, session, member, source, basis",
    )
    rep.add_argument("--chart", action="store_true", help="a bar per day (always when grouping by day)")
    fmt = rep.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="the full result as JSON")
    fmt.add_argument("--csv", action="store_true", help="rows as CSV")
    exp = sub.add_parser("export", help="usage events and provider buckets of a period, as CSV or JSON")
    _period_args(exp)
    exp.add_argument(
        "--format",
        choices=("csv", "json", "focus"),
        default="csv",
        help="csv or json: every usage event and provider bucket; focus: FinOps FOCUS rows (CSV, or Parquet "
        "when --output ends in .parquet) that sum to the period's total",
    )
    exp.add_argument("--output", "-o", default="-", help="file to write (default: stdout)")
    bud = sub.add_parser("budget", help="set, list or delete budgets")
    bsub = bud.add_subparsers(dest="budget_command", metavar="ACTION", required=True)
    bset = bsub.add_parser("set", help="create or replace a budget")
    bset.add_argument("name")
    bset.add_argument("amount", help="US dollars, e.g. 150")
    bset.add_argument("--period", choices=("day", "week", "month"), default="month")
    for dim in ("provider", "model", "agent", "project", "source"):
        bset.add_argument(
            f"--{dim}", action="append", default=None, help=f"only count this {dim} (repeatable)"
        )
    bset.add_argument(
        "--include-subscriptions",
        action="store_true",
        help="count seat fees too (default: usage only, billed and estimated)",
    )
    bset.add_argument(
        "--threshold", action="append", default=None, help="alert at this fraction (repeatable)"
    )
    bset.add_argument("--hard", action="store_true", help="check_budget refuses calls that would exceed it")
    bset.add_argument(
        "--webhook",
        metavar="NAME|URL",
        help="POST each alert as JSON to this webhook: a name configured in COST_MCP_WEBHOOKS, or a URL "
        "with --confirm-webhook-url",
    )
    bset.add_argument(
        "--confirm-webhook-url",
        action="store_true",
        help="yes, POST this budget's alerts to the URL given in --webhook (not a configured name)",
    )
    for action in ("status", "list"):
        blist = bsub.add_parser(action, help="every budget in its current period: spent, left, projection")
        blist.add_argument("--json", action="store_true")
    bdel = bsub.add_parser("delete", help="delete a budget")
    bdel.add_argument("name")
    subs = sub.add_parser("subscription", help="register seat fees with no API (add, list, remove)")
    ssub = subs.add_subparsers(dest="subscription_command", metavar="ACTION", required=True)
    sadd = ssub.add_parser("add", help="add or replace a subscription")
    sadd.add_argument("name")
    sadd.add_argument("--vendor", required=True, help="who bills it: anthropic, openai, cursor...")
    sadd.add_argument("--amount", required=True, help="US dollars per period, e.g. 20")
    sadd.add_argument("--period", choices=("monthly", "yearly"), default="monthly")
    sadd.add_argument("--start", required=True, help="first day billed, YYYY-MM-DD")
    sadd.add_argument("--end", help="last day counted, YYYY-MM-DD")
    sadd.add_argument("--member", help="whose seat it is")
    slist = ssub.add_parser("list", help="every subscription")
    slist.add_argument("--json", action="store_true")
    srem = ssub.add_parser("remove", help="remove a subscription from every report")
    srem.add_argument("name")
    syn = sub.add_parser(
        "sync",
        help="fetch billed costs and usage from provider APIs now (`cost-mcp doctor` lists them)",
    )
    syn.add_argument(
        "--provider",
        action="append",
        type=_provider_id,
        metavar="PROVIDER",
        dest="providers",
        help="sync only this provider (repeatable; default: every configured one)",
    )
    syn.add_argument(
        "--days",
        type=int,
        default=None,
        help="fetch the last N UTC days again (default: what is not synced yet plus the last 3)",
    )
    syn.add_argument("--json", action="store_true", help="machine-readable output")
    imp = sub.add_parser("import", help="import a provider's billing file into the ledger")
    isub = imp.add_subparsers(dest="import_kind", metavar="KIND", required=True)
    gb = isub.add_parser(
        "google-billing",
        help="a Cloud Billing CSV export (Gemini API, Vertex AI rows): replaces Google's days in the file",
    )
    gb.add_argument("file", type=Path, metavar="FILE.csv")
    gb.add_argument("--currency", help="the amounts' currency when the file has no currency column")
    gb.add_argument("--json", action="store_true", help="machine-readable output")
    ing = sub.add_parser("ingest", help="read new Claude Code log lines into the ledger")
    ing.add_argument("paths", nargs="*", metavar="PATH", help="folders or .jsonl files (default: configured)")
    ing.add_argument("--full", action="store_true", help="read every file from the start again")
    ing.add_argument(
        "--forget",
        action="append",
        metavar="PATH",
        help="remove the calls read from files under PATH, e.g. a folder imported by mistake (repeatable)",
    )
    ing.add_argument("--json", action="store_true", help="machine-readable output")
    dash = sub.add_parser("dashboard", help="open the web dashboard (127.0.0.1, one-time link)")
    dash.add_argument("--no-browser", action="store_true", help="print the link instead of opening it")
    dash.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    est = sub.add_parser("estimate", help="price a hypothetical call and cheaper alternatives")
    est.add_argument("model")
    est.add_argument("--provider")
    est.add_argument("--input", type=int, default=0, help="uncached input tokens")
    est.add_argument("--output", type=int, default=0, help="output tokens")
    est.add_argument("--cache-read", type=int, default=0)
    est.add_argument("--cache-write", type=int, default=0, help="5-minute cache writes")
    est.add_argument("--cache-write-1h", type=int, default=0)
    est.add_argument("--requests", type=int, default=None, help="calls the tokens are spread over")
    est.add_argument("--speed", choices=["standard", "fast"], help="Anthropic fast mode")
    est.add_argument("--service-tier", choices=["standard", "batch", "priority", "flex"])
    est.add_argument("--inference-geo", choices=["global", "us"], help="Anthropic US-only inference")
    est.add_argument("--json", action="store_true", help="machine-readable output")
    sav = sub.add_parser(
        "savings", help="where recorded calls could have cost less: model mix, caching, batch"
    )
    _period_args(sav)
    _savings_group_by(sav)
    sav.add_argument("--json", action="store_true", help="the full result as JSON")
    cmp = sub.add_parser("compare", help="two periods side by side, the change split into its parts")
    cmp.add_argument(
        "--before", help="period name or YYYY-MM-DD..YYYY-MM-DD (default: the days before --after)"
    )
    cmp.add_argument("--after", help="period name or YYYY-MM-DD..YYYY-MM-DD (default: last_week)")
    cmp.add_argument("--timezone", help="IANA timezone (default: configured)")
    _savings_group_by(cmp)
    cmp.add_argument("--json", action="store_true", help="the full result as JSON")
    _views_args(sub)
    stl = sub.add_parser(
        "statusline", help="Claude Code's status line: session, today, block, budget, limits"
    )
    stl.add_argument("--fields", help="comma-separated: session,today,block,budget,limits (default: all)")
    _install_args(stl, "the status line")
    hook = sub.add_parser("hook", help="Claude Code hook: warn at a soft budget, block at a hard one")
    _install_args(hook, "the UserPromptSubmit and PreToolUse hooks")
    return parser


def _views_args(sub: Any) -> None:
    """The ccusage-style views: 5-hour blocks, one session, the forecast."""
    blk = sub.add_parser("blocks", help="Claude Code's 5-hour usage windows (ccusage blocks)")
    blk.add_argument("--active", action="store_true", help="only the active block, with its projection")
    blk.add_argument("--days", type=int, default=3, help="days back (default 3, at most 31)")
    blk.add_argument("--token-limit", help="tokens to compare the active block with, or 'max'")
    blk.add_argument("--json", action="store_true", help="the full result as JSON")
    ses = sub.add_parser("session", help="one Claude Code session: cost, tokens, models, burn rate")
    ses.add_argument("id", nargs="?", help="session id (default: the most recent)")
    ses.add_argument("--json", action="store_true", help="the full result as JSON")
    fc = sub.add_parser("forecast", help="burn rate, end-of-period projection and unusual days")
    _period_args(fc)
    fc.add_argument("--json", action="store_true", help="the full result as JSON")


def _savings_group_by(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--group-by",
        nargs="+",
        default=None,
        metavar="DIM",
        help="provider, model, agent, project, session, source",
    )


def _install_args(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--install", action="store_true", help=f"add {what} to Claude Code's settings")
    parser.add_argument("--project", action="store_true", help="in this project's .claude/settings.json")
    parser.add_argument("--yes", action="store_true", help="write without asking (the diff is still shown)")


def _period_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--period",
        help="today, yesterday, this_week, last_week, this_month, last_month, "
        "last_7_days, last_30_days, this_year",
    )
    parser.add_argument("--start", help="first day, YYYY-MM-DD")
    parser.add_argument("--end", help="last day, YYYY-MM-DD (inclusive)")
    parser.add_argument("--timezone", help="IANA timezone (default: configured)")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `cost-mcp` command."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    # httpx2 logs every request at INFO; our own sync log says what matters, once per source.
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    # stamina logs each scheduled retry (dozens when offline); the sync table says each source's
    # state once, and a failure's cause is in its row.
    logging.getLogger("stamina").setLevel(logging.ERROR)
    command = args.command or "serve"
    try:
        return _dispatch(command, args)
    except BrokenPipeError:
        # `cost-mcp export | head -1`: the reader has gone; say nothing more, and exit quietly.
        _quiet_stdout()
        return 0


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail on a closed pipe."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # stdout is not a real file (a test's capture): nothing will be flushed to a pipe


def _dispatch(command: str, args: argparse.Namespace) -> int:
    err = Console(stderr=True, soft_wrap=True)
    try:
        if command == "serve":
            if getattr(args, "http", False):
                return _serve_http(args)
            return _serve()
        if command == "otel-config":
            from cost_mcp.otel_config import DEFAULT_SERVER, snippet

            print(snippet(args.server or DEFAULT_SERVER))
            return 0
        if command == "doctor":
            return _doctor(args)
        from cost_mcp import cli_team

        if command in cli_team.COMMANDS:
            return cli_team.run(command, args, _settings())
        if command == "estimate":
            return _estimate(args)
        if command == "ingest":
            return _ingest(args)
        if command == "sync":
            return _sync(args)
        if command == "report":
            return _report(args)
        if command == "budget":
            return _budget(args)
        if command == "subscription":
            return _subscription(args)
        if command == "export":
            return _export(args)
        if command == "import":
            return _import(args)
        if command == "dashboard":
            return _dashboard(args)
        if command == "savings":
            return _savings(args)
        if command == "compare":
            return _compare(args)
        if command in _VIEWS:
            return _VIEWS[command](args)
        if command == "statusline":
            return _statusline(args)
        if command == "hook":
            return _hook(args)
    except CostMcpError as exc:
        err.print(f"[red]error:[/red] {_s(exc)}", highlight=False)
        return EXIT_USAGE
    except sqlite3.Error as exc:
        from cost_mcp.store.connection import explain

        err.print(f"[red]error:[/red] {_s(explain(load_settings_leniently()[0].db, exc))}", highlight=False)
        return EXIT_USAGE
    finally:
        # Alerts fired by this short-lived process are POSTed before it exits; any that fail stay
        # queued in the ledger for the next process to retry. Only a command that could fire one
        # has imported notify (and httpx2): the status line's hot path does not pay for it.
        notify = sys.modules.get("cost_mcp.notify")
        if notify is not None:
            notify.drain()
    raise AssertionError(f"unhandled command {command}")


def _serve() -> int:
    from cost_mcp.store import connect

    # Fail before the MCP handshake with a message a person can act on (hosts show stderr).
    settings = _settings()
    connect(settings.db).close()
    if sys.stdin.isatty():
        # A person typed `cost-mcp` in a terminal: without this it would wait silently for MCP messages.
        print(
            "cost-mcp is an MCP server and is waiting for a client on stdin (Ctrl-C to quit).\n"
            "To see your spend run `cost-mcp report`; to add it to Claude Code run\n"
            f"`claude mcp add cost-mcp -- {_command_path()}`.",
            file=sys.stderr,
        )
    from cost_mcp.server import run_stdio

    run_stdio()
    return 0


def _serve_http(args: argparse.Namespace) -> int:
    from cost_mcp.web.http import serve_http

    serve_http(_settings(), host=args.host, port=args.port, announce=lambda m: print(m, file=sys.stderr))
    return 0


def _settings() -> Settings:
    """Settings for a command; an unusable value is one warning line on stderr, and its default is used."""
    settings, problems = load_settings_leniently()
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    return settings


def _command_path() -> str:
    """The absolute path of this `cost-mcp` command: hosts start servers without the user's PATH."""
    script = Path(sys.executable).parent / "cost-mcp"
    return str(script) if script.exists() else "cost-mcp"


def _dashboard(args: argparse.Namespace) -> int:
    from cost_mcp.web.app import serve_local

    def announce(url: str) -> None:
        how = "Open" if args.no_browser else "Opening"
        # The link is the only key to the dashboard: stdout, for the person who ran the command.
        print(f"{how} the dashboard at {url}\n(the link works once; Ctrl-C stops it)", flush=True)

    serve_local(_settings(), open_browser=not args.no_browser, port=args.port, announce=announce)
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from cost_mcp.doctor import diagnose
    from cost_mcp.sources import registry

    settings, problems = load_settings_leniently()
    report = diagnose(settings, settings_problems=problems)
    status = 1 if report.problems else 0  # the same with --json: scripts test the exit code
    if args.json:
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
    out.print(keys)
    for p in report.providers:
        if p.base_url != defaults.get(p.provider):
            out.print(f"API origin    {p.provider}: {_s(p.base_url)}", highlight=False)
        if p.needs and p.masked:
            out.print(f"{p.provider:<13} also needs {', '.join(p.needs)}", highlight=False)
    for root in report.claude_log_roots:
        found = f"{root.jsonl_files} log file(s)" if root.projects_dir_found else "no projects/ folder"
        out.print(f"claude logs   {root.path}: {found}")
    for f in report.skipped_log_lines:
        reasons = ", ".join(f"{reason} {n:,}" for reason, n in f.lines.items())
        out.print(f"skipped lines {_s(f.path)}: {reasons}", highlight=False)
    for name, where in report.webhooks.items():
        out.print(f"webhook       {_s(name)}: {_s(where)}", highlight=False)
    for problem in report.problems:
        out.print(f"[yellow]problem:[/yellow] {_s(problem)}", highlight=False)
    for warning in report.warnings:
        out.print(f"[yellow]warning:[/yellow] {_s(warning)}", highlight=False)
    return status


@contextmanager
def _log_progress(wanted: bool = True) -> Iterator[Callable[[int, int, str], None] | None]:
    """A progress bar for reading logs on a terminal's stderr; None (nothing shown) otherwise."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    err = Console(stderr=True)
    if not (wanted and err.is_terminal):
        yield None
        return
    with Progress(
        TextColumn("reading logs"), BarColumn(), DownloadColumn(), TimeRemainingColumn(), console=err
    ) as bar:
        task = bar.add_task("ingest", total=None)

        def progress(done: int, total: int, _message: str) -> None:
            bar.update(task, completed=done, total=total)

        yield progress


def _ingest(args: argparse.Namespace) -> int:
    from cost_mcp.pricing import Pricer
    from cost_mcp.sources.claude_code import forget, ingest
    from cost_mcp.store import connect
    from cost_mcp.sync import fire_alerts

    settings = _settings()
    conn = connect(settings.db)
    try:
        if args.forget:
            if args.paths:
                raise InvalidInputError("give PATHs to read or --forget PATH, not both")
            result = forget(conn, settings, Pricer.from_file(settings.prices_file), args.forget)
        else:
            with _log_progress(not args.json) as progress:
                result = ingest(
                    conn,
                    settings,
                    Pricer.from_file(settings.prices_file),
                    paths=args.paths,
                    full=args.full,
                    progress=progress,
                )
        fire_alerts(conn, settings)
    finally:
        conn.close()
    if args.json:
        print(result.model_dump_json(indent=2))
        return 0
    out = Console()
    if result.forgotten is not None:
        gone = result.forgotten
        out.print(
            f"forgot {gone.events_removed:,} stored call copies and {gone.files_forgotten:,} files under "
            f"{', '.join(gone.paths)}; re-read {result.files_reread:,} other files "
            f"({result.events_added:,} calls restored)",
            highlight=False,
        )
        for warning in gone.warnings + result.errors:
            out.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
        return 0
    if not result.roots:
        roots = ", ".join(str(r) for r in settings.claude_roots())
        out.print(f"No Claude Code logs found in {roots}. Set CLAUDE_CONFIG_DIR if they live elsewhere.")
        return 0
    out.print(
        f"{result.files_seen} files ({result.files_new} new, {result.files_changed} grown, "
        f"{result.files_reread} re-read, {result.files_unchanged} unchanged), "
        f"{result.lines_read:,} lines, {result.bytes_read / 1e6:,.1f} MB in {result.seconds:.2f}s"
    )
    out.print(f"{result.events_added:,} new calls, {result.duplicates_collapsed:,} duplicate lines collapsed")
    skipped = {k: v for k, v in result.skipped.items() if v}
    if skipped:
        out.print("skipped: " + ", ".join(f"{k} {v:,}" for k, v in skipped.items()))
    skipped_files = {k: v for k, v in result.skipped_files.items() if v}
    if skipped_files:
        out.print("files skipped: " + ", ".join(f"{k} {v:,}" for k, v in skipped_files.items()))
    for model, count in result.unpriced_models.items():
        out.print(
            f"[yellow]no price for {_s(model)}[/yellow] ({count:,} calls): add it to {settings.prices_file}"
        )
    for error in result.errors:
        out.print(f"[red]error:[/red] {_s(error)}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from cost_mcp.sources import google
    from cost_mcp.store import connect

    conn = connect(_settings().db)
    try:
        result = google.import_csv(conn, args.file, args.currency)
    finally:
        conn.close()
    if args.json:
        print(json.dumps({**vars(result), "total_usd": plain_usd(result.total_usd)}, indent=2))
        return 0
    out = Console(soft_wrap=True)
    span = f"{result.first_day} to {result.last_day}" if result.first_day else "no day"
    out.print(
        f"google: {result.imported} row(s) of {result.rows} imported ({span}, "
        f"{format_usd(result.total_usd)}; currencies: {', '.join(result.currencies) or '-'}); "
        f"{result.other_services} row(s) of other services left out",
        highlight=False,
    )
    for reason, count in sorted(result.skipped.items()):
        out.print(f"[yellow]skipped:[/yellow] {count} row(s): {reason}", highlight=False)
    return 0


def _sync(args: argparse.Namespace) -> int:
    from cost_mcp import sync
    from cost_mcp.pricing import Pricer
    from cost_mcp.store import connect

    settings = _settings()
    conn = connect(settings.db)
    try:
        result = sync.sync_providers(
            conn, settings, Pricer.from_file(settings.prices_file), args.providers, args.days
        )
    finally:
        conn.close()
    failed = any(not s.ok for s in result.sources)
    if args.json:
        print(result.model_dump_json(indent=2))
        return 1 if failed else 0
    out = Console()
    table = Table("source", "result", "days", "rows", "billed", "time", box=None)
    for s in result.sources:
        span = f"{s.first_day} to {s.last_day}" if s.first_day else "-"
        table.add_row(
            _s(s.source),
            "ok" if s.ok else "[red]failed[/red]",
            f"{s.days} ({span})" if s.ok else "-",
            f"{s.buckets:,}" if s.ok else "-",
            format_usd(s.billed_usd) if s.billed_usd is not None else "-",
            f"{s.seconds:.1f}s",
        )
    out.print(table)
    for s in result.sources:
        if s.note:
            out.print(safe_text(f"{s.source}: {s.note}"), highlight=False, markup=False)
    for warning in result.warnings:
        out.print(f"[yellow]note:[/yellow] {_s(warning)}", highlight=False)
    return 1 if failed else 0


def _open() -> tuple[Settings, sqlite3.Connection]:
    """Settings and a fresh ledger with every new log line read in: a person waits for the whole
    answer (with a progress bar on a terminal) rather than get a partial one."""
    from cost_mcp import sync
    from cost_mcp.pricing import Pricer
    from cost_mcp.store import connect

    settings = _settings()
    conn = connect(settings.db)
    # The CLI reads every log line first and waits for another process's lock (the usual busy
    # timeout) rather than answer early.
    with _log_progress() as progress:
        _, warnings = sync.refresh_or_skip(
            conn,
            settings,
            Pricer.from_file(settings.prices_file),
            logs="all",
            progress=progress,
            lock_timeout_ms=None,
        )
    for warning in warnings:
        Console(stderr=True).print(f"[yellow]note:[/yellow] {_s(warning)}", highlight=False)
    return settings, conn


def _report(args: argparse.Namespace) -> int:
    from cost_mcp.analytics import spend
    from cost_mcp.catchup import envelope

    settings, conn = _open()
    try:
        p = spend.resolve(settings, args.period, args.start, args.end, args.timezone)
        group_by = args.group_by if args.group_by is not None else ["provider", "basis"]
        result = envelope(conn, spend.get_spend(conn, settings, p, group_by))
        # The daily chart when asked for, or when the rows are days anyway.
        chart = (args.chart or "day" in group_by) and not (args.json or args.csv)
        days = spend.get_spend(conn, settings, p, ["day"]) if chart else None
    finally:
        conn.close()
    if args.json:
        print(result.model_dump_json(indent=2))
        return 0
    if args.csv:
        writer = csv.writer(sys.stdout)
        dims = [d for d in result.group_by if d != "basis"]  # every row has its basis column
        writer.writerow([*dims, "basis", "cost_usd", "requests", "total_tokens", "unpriced_requests"])
        for row in result.rows:
            writer.writerow(
                [
                    *(csv_cell(row.group[d] or "") for d in dims),
                    row.basis,
                    UNPRICED if row.unpriced_requests and not row.cost_usd else plain_usd(row.cost_usd),
                    "" if row.requests is None else row.requests,
                    "" if row.tokens is None else row.tokens.total_tokens,
                    row.unpriced_requests,
                ]
            )
        return 0
    out = Console()
    period = result.period
    out.print(
        f"[bold]{period.name}[/bold] {period.first_day} to {period.last_day} ({period.timezone}): "
        f"[bold]{format_cost(result.total_usd, sum(r.unpriced_requests for r in result.rows))}[/bold]"
    )
    if result.rows:
        # Token columns as ccusage shows them; money and counts right-aligned; names fold at 80.
        table = _tokens_table(*[d for d in result.group_by if d != "basis"], "basis")
        table.add_column("requests", justify="right")
        for row in result.rows:
            table.add_row(
                *(_s(row.group[d] or "-") for d in result.group_by if d != "basis"),
                row.basis,
                *(_token_cells(row.tokens) if row.tokens is not None else ["-"] * 4),
                format_cost(row.cost_usd, row.unpriced_requests),
                "-" if row.requests is None else f"{row.requests:,}",
            )
        out.print(table)
    if days is not None and days.rows:
        _day_bars(out, days)
    if result.attribution:
        attributed = sum((a.cost_usd for a in result.attribution), Decimal(0))
        out.print(
            f"[dim]{format_usd(attributed)} of estimates not added (billed data or a subscription covers "
            "them); see --json attribution[][/dim]"
        )
    for warning in result.warnings:
        out.print(f"[yellow]note:[/yellow] {_s(warning)}", highlight=False)
    return 0


def _day_bars(out: Console, days: SpendResult) -> None:
    """One bar per day of the period up to today (days to come have no spend yet), zero days included."""
    per_day: dict[str, Decimal] = {}
    unpriced: dict[str, int] = {}
    for row in days.rows:
        key = row.group["day"] or ""
        per_day[key] = per_day.get(key, Decimal(0)) + row.cost_usd
        unpriced[key] = unpriced.get(key, 0) + row.unpriced_requests
    first = date.fromisoformat(days.period.first_day)
    today = datetime.now(ZoneInfo(days.period.timezone)).date()
    last = min(date.fromisoformat(days.period.last_day), today)
    peak = max(per_day.values(), default=Decimal(0))
    width = 40
    day = first
    while day <= last:
        key = day.isoformat()
        amount = per_day.get(key, Decimal(0))
        blocks = int(amount / peak * width) if peak > 0 else 0
        out.print(f"{key} {'█' * blocks:<{width}} {format_cost(amount, unpriced.get(key, 0))}")
        day += timedelta(days=1)


def _budget(args: argparse.Namespace) -> int:
    from cost_mcp.analytics import budgets
    from cost_mcp.catchup import envelope
    from cost_mcp.models import BudgetScope, checked
    from cost_mcp.money import parse_usd
    from cost_mcp.store import connect

    conn: sqlite3.Connection
    if args.budget_command in ("set", "delete"):
        # Changing a budget needs no fresh spend: no log reading, no provider sync.
        settings = _settings()
        conn = connect(settings.db)
    else:
        settings, conn = _open()
    out = Console()
    try:
        if args.budget_command == "set":
            try:
                amount = parse_usd(args.amount)
                thresholds = [parse_usd(t) for t in args.threshold] if args.threshold else None
            except ValueError as exc:
                raise InvalidInputError(f"{exc}; give amounts like 150 or 0.8") from None
            scope = checked(
                BudgetScope,
                {
                    "providers": args.provider or [],
                    "models": args.model or [],
                    "agents": args.agent or [],
                    "projects": args.project or [],
                    "sources": args.source or [],
                    "basis": ["billed", "estimated", "subscription"] if args.include_subscriptions else [],
                },
                "budget scope",
            )
            webhook, webhook_url = _webhook_choice(args.webhook, args.confirm_webhook_url)
            budget = budgets.set_budget(
                conn,
                args.name,
                amount,
                args.period,
                scope,
                thresholds,
                args.hard,
                webhook_url,
                webhook=webhook,
                settings=settings,
            )
            out.print(
                f"budget '{_s(budget.name)}': {format_usd(budget.amount_usd)} per {budget.period}"
                + (" (hard)" if budget.hard else "")
            )
            return 0
        if args.budget_command == "delete":
            budgets.delete_budget(conn, args.name)
            out.print(f"deleted budget '{_s(args.name)}'")
            return 0
        status = envelope(conn, budgets.budget_status(conn, settings))
    finally:
        conn.close()
    if args.json:
        print(status.model_dump_json(indent=2))
        return 0
    if not status.budgets:
        out.print("No budgets yet. Create one: cost-mcp budget set monthly 150 --period month")
        return 0
    table = Table("budget", "period", "limit", "spent", "left", "%", "projected", "status", box=None)
    for b in status.budgets:
        table.add_row(
            _s(b.budget.name) + (" (hard)" if b.budget.hard else ""),
            f"{b.budget.period} from {b.period_start[:10]}",
            format_usd(b.budget.amount_usd),
            format_cost(b.spent_usd, b.unpriced_requests),
            format_usd(b.remaining_usd),
            f"{b.percent}",
            format_usd(b.projected_usd),
            b.status,
        )
    out.print(table)
    for alert in status.alerts:
        out.print(f"[red]alert:[/red] {_s(alert)}", highlight=False)
    for warning in status.warnings:
        out.print(f"[yellow]note:[/yellow] {_s(warning)}", highlight=False)
    return 0


def _webhook_choice(value: str | None, confirmed: bool) -> tuple[str | None, str | None]:
    """(configured name, confirmed URL) from --webhook: a URL needs --confirm-webhook-url, so that
    a pasted command cannot quietly send alerts somewhere nobody chose."""
    if value is None:
        return None, None
    if "://" not in value:
        return value, None
    if not confirmed:
        raise InvalidInputError(
            "--webhook was given a URL: add --confirm-webhook-url to POST alerts there, or name a "
            "webhook configured in COST_MCP_WEBHOOKS (e.g. COST_MCP_WEBHOOKS="
            '\'{"ops": "https://hooks.example.com/x"}\' and --webhook ops)'
        )
    return None, value


def _subscription(args: argparse.Namespace) -> int:
    from cost_mcp.analytics import subscriptions
    from cost_mcp.money import parse_usd
    from cost_mcp.store import connect

    conn = connect(_settings().db)
    out = Console()
    try:
        if args.subscription_command == "add":
            try:
                amount = parse_usd(args.amount)
            except ValueError as exc:
                raise InvalidInputError(f"{exc}; give an amount like 20") from None
            s = subscriptions.set_subscription(
                conn, args.name, args.vendor, amount, args.period, args.start, args.end, args.member
            )
            out.print(f"subscription '{_s(s.name)}': {format_usd(s.amount_usd)} {s.period} from {s.start}")
            return 0
        if args.subscription_command == "remove":
            subscriptions.delete_subscription(conn, args.name)
            out.print(f"removed subscription '{_s(args.name)}'")
            return 0
        listing = subscriptions.list_subscriptions(conn)
    finally:
        conn.close()
    if args.json:
        print(listing.model_dump_json(indent=2))
        return 0
    if not listing.subscriptions:
        out.print(
            "No subscriptions. Add one: cost-mcp subscription add claude-max --vendor anthropic "
            "--amount 200 --start 2026-01-01"
        )
        return 0
    table = Table("name", "vendor", "amount", "period", "member", "from", "to", box=None)
    for s in listing.subscriptions:
        table.add_row(
            _s(s.name),
            _s(s.vendor),
            format_usd(s.amount_usd),
            s.period,
            _s(s.member or "-"),
            s.start,
            s.end or "-",
        )
    out.print(table)
    out.print(f"running now: {format_usd(listing.monthly_equivalent_usd)} per month")
    return 0


def _export(args: argparse.Namespace) -> int:
    from cost_mcp.analytics import spend
    from cost_mcp.analytics.export import FIELDS, export_records

    settings, conn = _open()
    try:
        p = spend.resolve(settings, args.period, args.start, args.end, args.timezone)
        if args.format == "focus" and args.output.lower().endswith(".parquet"):
            _write_focus_parquet(Path(args.output), conn, settings, p)
            return 0
        target = sys.stdout if args.output == "-" else open(args.output, "w", newline="", encoding="utf-8")  # noqa: SIM115
        try:
            records = export_records(conn, settings, p)
            if args.format == "focus":
                _write_focus(target, conn, settings, p)
            elif args.format == "csv":
                writer = csv.DictWriter(target, fieldnames=FIELDS)
                writer.writeheader()
                writer.writerows({k: csv_cell(v) for k, v in record.items()} for record in records)
            else:
                target.write("[\n")
                for i, record in enumerate(records):
                    target.write(("," if i else "") + json.dumps(_json_record(record)) + "\n")
                target.write("]\n")
        finally:
            if target is not sys.stdout:
                target.close()
    finally:
        conn.close()
    return 0


def _json_record(record: dict[str, str | int]) -> dict[str, object]:
    """An export record for JSON: money as a number (null when unpriced), as in MCP results."""
    from cost_mcp.money import json_usd

    cost = record["cost_usd"]
    value = None if cost == UNPRICED else json_usd(Decimal(str(cost)))
    return {**record, "cost_usd": value}


def _write_focus(target: TextIO, conn: sqlite3.Connection, settings: Settings, p: Period) -> None:
    from cost_mcp.analytics.focus import COLUMNS, focus_rows

    export = focus_rows(conn, settings, p)
    writer = csv.DictWriter(target, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(export.rows)
    _focus_warning(export)


def _write_focus_parquet(path: Path, conn: sqlite3.Connection, settings: Settings, p: Period) -> None:
    from cost_mcp.analytics.focus import focus_rows, write_parquet

    export = focus_rows(conn, settings, p)
    write_parquet(export, path)
    _focus_warning(export)


def _focus_warning(export: FocusExport) -> None:
    if export.unpriced_requests:
        print(
            f"warning: {export.unpriced_requests:,} call(s) have no known price: they are counted in "
            "x_UnpricedRequests and not in any cost column (add their prices to the price override file)",
            file=sys.stderr,
        )


def _estimate(args: argparse.Namespace) -> int:
    from cost_mcp.analytics.estimate import estimate_cost
    from cost_mcp.pricing import Pricer, Tokens

    if not any((args.input, args.output, args.cache_read, args.cache_write, args.cache_write_1h)):
        raise InvalidInputError(
            "give the call's token counts, e.g. cost-mcp estimate "
            f"{args.model} --input 120000 --output 4000 (also --cache-read, --cache-write, --cache-write-1h)"
        )
    settings = _settings()
    tokens = Tokens(
        input=args.input,
        output=args.output,
        cache_read=args.cache_read,
        cache_write_5m=args.cache_write,
        cache_write_1h=args.cache_write_1h,
    )
    result = estimate_cost(
        Pricer.from_file(settings.prices_file),
        tokens,
        args.model,
        args.provider,
        args.requests,
        speed=args.speed,
        service_tier=args.service_tier,
        inference_geo=args.inference_geo,
    )
    if args.json:
        print(result.model_dump_json(indent=2))
        return 0
    out = Console()
    out.print(
        f"{result.matched_model} ({result.provider}), {result.requests} call(s): "
        f"[bold]{format_usd(result.cost_usd, 6)}[/bold]"
    )
    for note in result.notes:
        out.print(f"  {_s(note)}")
    table = Table("cheaper model", "cost", "saving", box=None)
    for alt in result.cheaper:
        table.add_row(_s(alt.model), format_usd(alt.cost_usd, 6), f"{alt.saving_percent}%")
    if result.cheaper:
        out.print(table)
    return 0


def _savings(args: argparse.Namespace) -> int:
    from cost_mcp.analytics import savings, spend
    from cost_mcp.pricing import Pricer

    settings, conn = _open()
    try:
        p = spend.resolve(settings, args.period, args.start, args.end, args.timezone)
        pricer = Pricer.from_file(settings.prices_file)
        result = savings.savings_report(conn, settings, pricer, p, savings.check_dims(args.group_by))
    finally:
        conn.close()
    if args.json:
        print(result.model_dump_json(indent=2))
        return 0
    out = Console()
    period = result.period
    out.print(
        f"[bold]{period.name}[/bold] {period.first_day} to {period.last_day} ({period.timezone}): "
        f"{result.calls:,} calls, {format_usd(result.cost_usd)} at list price",
        highlight=False,
    )
    mix = result.model_mix
    out.print(
        f"\n[bold]model mix: {format_usd(mix.saving_usd)}[/bold] moving {mix.short_answer_calls:,} "
        f"short-answer calls of {mix.calls:,} to a cheaper model "
        f"({format_usd(mix.all_calls_saving_usd)} moving every call)",
        highlight=False,
    )
    table = Table(
        *mix.rows[0].group if mix.rows else (), "calls", "short", "cost", "target", "saving", box=None
    )
    for row in mix.rows:
        table.add_row(
            *row.group.values(),
            f"{row.calls:,}",
            f"{row.short_answer_calls:,}",
            format_usd(row.cost_usd),
            row.target or "-",
            format_usd(row.short_answer_saving_usd),
        )
    if mix.rows:
        out.print(table)
    _more(out, mix.more_rows, mix.more_rows_saving_usd)
    _sessions(out, mix.top_sessions)
    cache = result.caching
    out.print(
        f"\n[bold]caching: {format_usd(cache.saving_usd)}[/bold] (repeated prefixes "
        f"{format_usd(cache.prefix_saving_usd)}, 1-hour writes {format_usd(cache.unneeded_1h_saving_usd)})\n"
        f"  {cache.cache_share_percent}% of input read from cache; writes cost "
        f"{format_usd(cache.cache_write_premium_usd)} above plain input, reads saved "
        f"{format_usd(cache.cache_read_saved_usd)}",
        highlight=False,
    )
    table = Table(
        *cache.rows[0].group if cache.rows else (),
        "calls",
        "cached",
        "net",
        "prefix calls",
        "1h writes",
        "saving",
        box=None,
    )
    for c in cache.rows:
        table.add_row(
            *c.group.values(),
            f"{c.calls:,}",
            f"{c.cache_share_percent}%",
            format_usd(c.net_cache_saving_usd),
            f"{c.prefix_candidate_calls:,}",
            f"{c.unneeded_1h_writes:,}",
            format_usd(c.saving_usd),
        )
    if cache.rows:
        out.print(table)
    _more(out, cache.more_rows, cache.more_rows_saving_usd)
    _sessions(out, cache.top_sessions)
    batch = result.batch
    out.print(
        f"\n[bold]batch: {format_usd(batch.saving_usd)}[/bold] ({len(batch.rows) + batch.more_rows} of "
        f"{batch.agents_checked} agents look non-interactive)",
        highlight=False,
    )
    table = Table("agent", "why", "calls", "cost", "at batch rate", "saving", box=None)
    for b in batch.rows:
        table.add_row(
            b.agent,
            ", ".join(b.reasons),
            f"{b.calls:,}",
            format_usd(b.cost_usd),
            format_usd(b.batch_cost_usd),
            format_usd(b.saving_usd),
        )
    if batch.rows:
        out.print(table)
    _more(out, batch.more_rows, batch.more_rows_saving_usd)
    _sessions(out, batch.top_sessions)
    out.print()
    for note in result.notes:
        out.print(f"[dim]{note}[/dim]", highlight=False)
    for warning in result.warnings:
        out.print(f"[yellow]note:[/yellow] {warning}", highlight=False)
    return 0


def _more(out: Console, rows: int, saving: Decimal) -> None:
    if rows:
        out.print(f"  ... and {rows:,} more rows saving {format_usd(saving)} (see --json)", highlight=False)


def _sessions(out: Console, top: list[SessionSaving]) -> None:
    if top:
        out.print(
            "  top sessions: " + ", ".join(f"{s.session} ({format_usd(s.saving_usd)})" for s in top),
            highlight=False,
            markup=False,
        )


def _compare(args: argparse.Namespace) -> int:
    from cost_mcp.analytics import savings, spend
    from cost_mcp.periods import previous_period, resolve_spec
    from cost_mcp.pricing import Pricer

    settings, conn = _open()
    try:
        tz = spend.zone(args.timezone, settings)
        after = resolve_spec(args.after or "last_week", tz=tz, week_start=settings.week_start)
        before = (
            resolve_spec(args.before, tz=tz, week_start=settings.week_start)
            if args.before
            else previous_period(after)
        )
        pricer = Pricer.from_file(settings.prices_file)
        result = savings.compare_periods(
            conn, settings, pricer, before, after, savings.check_dims(args.group_by)
        )
    finally:
        conn.close()
    if args.json:
        print(result.model_dump_json(indent=2))
        return 0
    out = Console()
    table = Table("", "before", "after", box=None)
    b, a = result.before, result.after
    table.add_row(
        "period",
        f"{b.period.first_day} to {b.period.last_day}",
        f"{a.period.first_day} to {a.period.last_day}",
    )
    table.add_row("spend", format_usd(b.cost_usd), format_usd(a.cost_usd))
    table.add_row("calls", f"{b.calls:,}", f"{a.calls:,}")
    per_call = [
        format_usd(x.cost_per_call_usd, 6) if x.cost_per_call_usd is not None else "-" for x in (b, a)
    ]
    table.add_row("per call", *per_call)
    per_mtok = [
        format_usd(x.cost_per_million_tokens_usd) if x.cost_per_million_tokens_usd is not None else "-"
        for x in (b, a)
    ]
    table.add_row("per million tokens", *per_mtok)
    table.add_row("cache share", f"{b.cache_share_percent}%", f"{a.cache_share_percent}%")
    table.add_row(
        "top model",
        *(f"{x.models[0].model} ({x.models[0].cost_share_percent}%)" if x.models else "-" for x in (b, a)),
    )
    out.print(table)
    pct = f" ({result.change_percent:+}%)" if result.change_percent is not None else ""
    out.print(f"\n[bold]change: {format_usd(result.change_usd)}[/bold]{pct}", highlight=False)
    for part in result.parts:
        out.print(f"  {part.part:<16} {format_usd(part.usd):>12}  {part.meaning}", highlight=False)
    if result.rows:
        rows = Table(*result.group_by, "before", "after", "change", box=None)
        for r in result.rows:
            rows.add_row(
                *r.group.values(),
                format_usd(r.before_cost_usd),
                format_usd(r.after_cost_usd),
                format_usd(r.change_usd),
            )
        out.print(rows)
        if result.more_rows:
            out.print(f"  ... and {result.more_rows:,} more rows (see --json)")
    for warning in result.warnings:
        out.print(f"[yellow]note:[/yellow] {warning}", highlight=False)
    return 0


def _money(value: Decimal | None, places: int = 2) -> str:
    return UNPRICED if value is None else format_usd(value, places)


def _tokens_table(*first: str) -> Table:
    """A table whose money and counts are right-aligned, and which folds at 80 columns."""
    table = Table(box=None)
    for name in first:
        table.add_column(name, overflow="fold")  # a long model id wraps whole, never cut
    for name in ("input", "output", "cache read", "cache write", "cost"):
        table.add_column(name, justify="right")
    return table


def _token_cells(t: Any) -> list[str]:
    return [
        f"{t.input_tokens:,}",
        f"{t.output_tokens:,}",
        f"{t.cache_read_tokens:,}",
        f"{t.cache_write_5m_tokens + t.cache_write_1h_tokens:,}",
    ]


def _blocks(args: argparse.Namespace) -> int:
    from cost_mcp.analytics.claude_code import usage_blocks
    from cost_mcp.catchup import envelope
    from cost_mcp.models import checked

    limit: int | str | None = args.token_limit
    if limit is not None and limit != "max":
        limit = checked(int, limit, "--token-limit (a number of tokens, or max)")
    days = checked(Annotated[int, Field(ge=1, le=31)], args.days, "--days (1 to 31)")
    settings, conn = _open()
    try:
        result = envelope(conn, usage_blocks(conn, settings, days=days, token_limit=limit))  # type: ignore[arg-type]
    finally:
        conn.close()
    if args.json:
        print(result.model_dump_json(indent=2))
        return 0
    out = Console()
    shown = [result.active] if args.active else [b for b in result.blocks if not b.is_gap]
    shown = [b for b in shown if b is not None]
    if not shown:
        out.print("No active 5-hour block." if args.active else "No Claude Code usage in these days.")
    else:
        table = _tokens_table("block start", "")
        for b in shown:
            table.add_row(
                b.start[:16].replace("T", " "),
                "active" if b.is_active else "",
                *_token_cells(b.tokens),
                _money(b.cost_usd),
            )
        out.print(table)
    active = result.active
    if active is not None and active.projection is not None:
        rate = f"{format_usd(active.burn_rate.cost_per_hour_usd)}/h, " if active.burn_rate else ""
        out.print(
            f"active block: {rate}projected {active.projection.total_tokens:,} tokens, "
            f"{format_usd(active.projection.cost_usd)} by {active.end[11:16]} UTC",
            highlight=False,
        )
        if active.token_limit_status is not None:
            st = active.token_limit_status
            out.print(
                f"token limit {st.limit:,}: {st.percent_used}% projected ({st.status})", highlight=False
            )
    for warning in result.warnings:
        out.print(f"[yellow]note:[/yellow] {_s(warning)}", highlight=False)
    return 0


def _session(args: argparse.Namespace) -> int:
    from cost_mcp.analytics.claude_code import session_usage
    from cost_mcp.catchup import envelope

    settings, conn = _open()
    try:
        result = envelope(conn, session_usage(conn, settings, args.id, str(Path.cwd())))
    finally:
        conn.close()
    if args.json:
        print(result.model_dump_json(indent=2))
        return 0
    out = Console()
    out.print(
        f"session {_s(result.session_id)} ({_s(result.project)}): "
        f"[bold]{format_usd(result.cost_usd)}[/bold], "
        f"{result.requests:,} calls over {result.duration_minutes:.0f} min",
        highlight=False,
    )
    table = _tokens_table("model", "calls")
    for m in result.models:
        table.add_row(_s(m.model), f"{m.requests:,}", *_token_cells(m.tokens), _money(m.cost_usd))
    out.print(table)
    if result.burn_rate is not None:
        out.print(f"burn rate: {format_usd(result.burn_rate.cost_per_hour_usd)} per hour", highlight=False)
    for warning in result.warnings:
        out.print(f"[yellow]note:[/yellow] {_s(warning)}", highlight=False)
    return 0


def _forecast(args: argparse.Namespace) -> int:
    from cost_mcp.analytics import forecast, spend
    from cost_mcp.catchup import envelope

    settings, conn = _open()
    try:
        p = spend.resolve(settings, args.period, args.start, args.end, args.timezone)
        result = envelope(conn, forecast.spend_forecast(conn, settings, p))
    finally:
        conn.close()
    if args.json:
        print(result.model_dump_json(indent=2))
        return 0
    out = Console()
    period = result.period
    out.print(
        f"[bold]{period.name}[/bold] {period.first_day} to {period.last_day}: {format_usd(result.spent_usd)} "
        f"spent in {result.days_elapsed} of {result.days_in_period} days; "
        f"[bold]{format_usd(result.projected_usd)}[/bold] projected",
        highlight=False,
    )
    out.print(
        f"burn rate: {format_usd(result.burn_rate_period_usd_per_day)}/day over the period, "
        f"{format_usd(result.burn_rate_7d_usd_per_day)}/day over the last 7 days",
        highlight=False,
    )
    if result.anomalies:
        table = Table("unusual day", box=None)
        for name in ("cost", "baseline", "x"):
            table.add_column(name, justify="right")
        table.add_column("top models")
        for a in result.anomalies:
            ratio = f"{a.ratio:.1f}" if a.ratio is not None else "-"
            table.add_row(
                a.day, format_usd(a.cost_usd), format_usd(a.baseline_usd), ratio, _s(", ".join(a.top_models))
            )
        out.print(table)
    for alert in result.alerts:
        out.print(f"[red]alert:[/red] {_s(alert)}", highlight=False)
    for warning in result.warnings:
        out.print(f"[yellow]note:[/yellow] {_s(warning)}", highlight=False)
    return 0


_VIEWS: dict[str, Callable[[argparse.Namespace], int]] = {
    "blocks": _blocks,
    "session": _session,
    "forecast": _forecast,
}


def _statusline(args: argparse.Namespace) -> int:
    from cost_mcp import claude_settings

    if args.install:
        return _install(args, claude_settings.set_statusline(_our_command("statusline")))
    from cost_mcp.statusline import run

    try:
        line = run(sys.stdin.read(), fields=args.fields)
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None
    print(line)
    return 0


def _hook(args: argparse.Namespace) -> int:
    from cost_mcp import claude_settings

    if args.install:
        return _install(args, claude_settings.add_hooks(_our_command("hook")))
    from cost_mcp.hooks import run

    answer = run(sys.stdin.read())
    if answer.stdout:
        print(answer.stdout)
    return answer.exit_code


def _our_command(subcommand: str) -> str:
    """The shell command Claude Code should run: this cost-mcp by absolute path (its PATH may differ)."""
    import shlex

    return f"{shlex.quote(_command_path())} {subcommand}"


def _install(args: argparse.Namespace, change: Callable[[dict[str, Any]], None]) -> int:
    """Show the settings change as a diff, ask (unless --yes), then write it."""
    from cost_mcp.claude_settings import plan, settings_path

    path = settings_path("project" if args.project else "user", _settings().claude_roots(), Path.cwd())
    edit = plan(path, change)
    if not edit.changed:
        print(f"{path} already has it; nothing to change")
        return 0
    print(edit.diff(), end="")
    if not args.yes:
        try:
            answer = input(f"Write {path}? [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing written")
            return 1
    edit.write()
    print(f"wrote {path}")
    return 0
