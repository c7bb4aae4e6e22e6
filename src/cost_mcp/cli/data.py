"""Commands that bring data in: ingest (Claude Code logs), sync (provider APIs), import (billing files)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.table import Column, Table

from cost_mcp.cli.app import (
    EXIT_FAILED,
    EXIT_OK,
    Console,
    GreedyCommand,
    cli,
    core_ledger,
    json_option,
    ledger,
    log_progress,
    note,
    show,
    text,
)
from cost_mcp.errors import InvalidInputError
from cost_mcp.money import format_usd, from_nanos, json_usd, plain_usd
from cost_mcp.output import counted, safe_text
from cost_mcp.sources.logfiles import COPIES_REMOVED

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from cost_mcp.models import SyncResult
    from cost_mcp.sources.agents import AgentScan


@cli.command()
@click.argument("paths", nargs=-1, metavar="[PATH ...]")
@click.option(
    "--full", is_flag=True, help="read every file from the start again, every coding agent's (no PATH)"
)
@click.option(
    "--forget",
    multiple=True,
    metavar="PATH",
    help="remove the calls read from files under PATH, e.g. a folder imported by mistake (repeatable)",
)
@json_option()
def ingest(paths: tuple[str, ...], full: bool, forget: tuple[str, ...], as_json: bool) -> int:
    """Read new Claude Code log lines into the ledger.

    PATHs are folders or .jsonl files (default: the configured Claude folders). Other agents' logs
    (Codex, Gemini CLI, OpenCode...) are read from their own folders by every report command, and
    by this one when there are no Claude folders or with --full (every agent's files from the start).
    """
    from cost_mcp.analytics.alerts import fire_alerts
    from cost_mcp.pricing import Pricer
    from cost_mcp.sources import claude_code

    if forget and paths:
        raise InvalidInputError("give PATHs to read or --forget PATH, not both")
    with core_ledger() as (settings, conn):
        pricer = Pricer.from_file(settings.prices_file)
        if forget:
            result = claude_code.forget(conn, settings, pricer, list(forget))
        else:
            with log_progress(not as_json) as progress:
                result = claude_code.ingest(
                    conn, settings, pricer, paths=list(paths) or None, full=full, progress=progress
                )
        scans: list[AgentScan] = []
        if not (forget or paths) and (full or not result.roots):
            # A Codex, Gemini CLI or OpenCode user's ingest said only "No Claude Code logs found" and
            # read nothing of theirs; told to run `ingest --full` after a fix, it read only Claude
            # Code's again. Their folders are read here, without pydantic-settings (~0.13 s of a
            # Codex user's ingest, timed against ccusage): test_cli_ingest.
            from cost_mcp.agent_folders import load_agent_folders
            from cost_mcp.sources import agents

            folders = load_agent_folders()
            scans = [s for s in agents.ingest_all(conn, folders, pricer, full=full) if s.roots]
        fire_alerts(conn, settings)
    if as_json:
        # What IngestResult.model_dump_json(indent=2) prints, without importing pydantic for it.
        print(json.dumps(dataclasses.asdict(result), indent=2, ensure_ascii=False))
        return EXIT_OK
    out = Console()
    if result.forgotten is not None:
        gone = result.forgotten
        out.print(
            f"forgot {counted(gone.events_removed, 'stored call copy', 'stored call copies')} and "
            f"{counted(gone.files_forgotten, 'file')} under "
            f"{', '.join(gone.paths)}; re-read {counted(result.files_reread, 'other file')} "
            f"({counted(result.events_added, 'call')} restored)",
            highlight=False,
        )
        for warning in gone.warnings + result.errors:
            note(out, warning, "[yellow]warning:[/yellow]")
        return EXIT_OK
    if not result.roots:
        roots = ", ".join(str(r) for r in settings.claude_roots())
        out.print(f"No Claude Code logs found in {roots}. Set CLAUDE_CONFIG_DIR if they live elsewhere.")
        if not scans:
            out.print("No other coding agent's logs found either (`cost-mcp doctor` lists the folders read).")
        _print_agent_scans(out, scans, settings.prices_file)
        return EXIT_OK
    out.print(
        f"{counted(result.files_seen, 'file')} ({result.files_new} new, {result.files_changed} grown, "
        f"{result.files_reread} re-read, {result.files_unchanged} unchanged), "
        f"{counted(result.lines_read, 'line')}, {result.bytes_read / 1e6:,.1f} MB in {result.seconds:.2f}s"
    )
    out.print(
        f"{counted(result.events_added, 'new call')}, "
        f"{counted(result.duplicates_collapsed, 'duplicate line')} collapsed"
    )
    if paths and result.lines_read and not result.usage_lines:
        # Another agent's folder (or anything else) read as Claude Code logs finds nothing: say so.
        note(
            out,
            f"none of the {counted(result.lines_read, 'line')} read is a Claude Code call: is "
            f"{', '.join(paths)} a "
            "Claude Code log folder? Other agents' logs (Codex, Gemini CLI, OpenCode...) are read from "
            "their own folders by every report command, e.g. `cost-mcp report --group-by agent`",
            "[yellow]warning:[/yellow]",
        )
    if paths and not result.files_seen:
        # `cost-mcp ingest ~/.config/claude` (no projects/ there) or a typo'd folder that exists said
        # "0 files ... 0 new calls", as if those logs had been read and held nothing new.
        note(
            out,
            f"no Claude Code log (.jsonl file) under {', '.join(paths)}: {claude_code.WHAT_TO_INGEST}",
            "[yellow]warning:[/yellow]",
        )
    skipped = {k: v for k, v in result.skipped.items() if v}
    if skipped:
        out.print("skipped: " + ", ".join(f"{k} {v:,}" for k, v in skipped.items()))
    skipped_files = {k: v for k, v in result.skipped_files.items() if v}
    if skipped_files:
        out.print("files skipped: " + ", ".join(f"{k} {v:,}" for k, v in skipped_files.items()))
    for model, count in result.unpriced_models.items():
        out.print(
            f"[yellow]no price for {text(model)}[/yellow] ({counted(count, 'call')}): "
            f"add it to {settings.prices_file}"
        )
    for error in result.errors:
        note(out, error, "[red]error:[/red]")
    _print_agent_scans(out, scans, settings.prices_file)
    return EXIT_OK


def _print_agent_scans(out: Console, scans: Sequence[AgentScan], prices_file: Path) -> None:
    """What ``ingest`` read of each other agent whose folders exist, as it says of Claude Code's."""
    from cost_mcp.analytics.vocabulary import NOT_REPORTED  # here: every command imports this module

    for scan in scans:
        out.print(
            f"{text(scan.agent)}: {counted(scan.files_seen, 'file')} ({scan.files_read:,} read), "
            f"{counted(scan.events_added, 'new call')} in {scan.seconds:.2f}s",
            highlight=False,
        )
        if scan.copies_removed:
            usd = format_usd(from_nanos(scan.copies_removed_nanos))
            out.print(f"  removed {scan.copies_removed:,} call(s) ({usd}) {COPIES_REMOVED}", highlight=False)
        skipped = {k: v for k, v in scan.skipped.items() if v}
        if skipped:
            out.print("  skipped: " + ", ".join(f"{text(k)} {v:,}" for k, v in sorted(skipped.items())))
        for model, count in scan.unpriced.items():
            if not model:
                # Calls logged with no model (Kimi CLI without a config, a Copilot span naming none):
                # no price can be added for them, so the prices file is no fix.
                out.print(
                    f"  [yellow]{counted(count, 'call')} name no model[/yellow]: "
                    f"unpriced, shown as {NOT_REPORTED}"
                )
                continue
            out.print(
                f"  [yellow]no price for {text(model)}[/yellow] ({counted(count, 'call')}): "
                f"add it to {prices_file}"
            )
        for model, count in scan.uncosted.items():
            out.print(
                f"  [yellow]{counted(count, 'call')} of {text(model) or NOT_REPORTED} logged neither "
                f"tokens nor a cost[/yellow]: unpriced, shown as {NOT_REPORTED}"
            )
        for error in scan.errors:
            note(out, error, "[red]error:[/red]")


def _provider_ids(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> list[str]:
    """Registered provider ids for `sync --provider`. The registry (every fetcher) is imported only
    when the option is used, so the other commands start without it."""
    if not values:
        return []
    from cost_mcp.sources import registry

    ids = []
    for value in values:
        try:
            ids.append(registry.get(value).id)  # any case: OPENAI is openai
        except ValueError:
            known = ", ".join(p.id for p in registry.providers())
            raise click.BadParameter(f"unknown provider {value!r} (choose from {known})") from None
    return ids


class _ProvidersCommand(GreedyCommand):
    # `sync --provider openai anthropic`, as the README's synopsis reads: sync takes no argument
    # that the names could be mistaken for.
    greedy = ("--provider",)


@cli.command(cls=_ProvidersCommand)
@click.option(
    "--provider",
    "providers",
    multiple=True,
    metavar="PROVIDER",
    callback=_provider_ids,
    help="sync only these providers (--provider openai anthropic, or repeated; default: every "
    "configured one)",
)
@click.option(
    "--days",
    type=int,
    default=None,
    help="fetch the last N UTC days again (default: what is not synced yet plus the last 3)",
)
@json_option()
def sync(providers: list[str], days: int | None, as_json: bool) -> int:
    """Fetch billed costs and usage from provider APIs now.

    `cost-mcp doctor` lists the providers and their keys.
    """
    from cost_mcp import sync as syncing
    from cost_mcp.pricing import Pricer
    from cost_mcp.sources.billing import MAX_SYNC_DAYS

    if days is not None and not 1 <= days <= MAX_SYNC_DAYS:  # sync_providers' check names its `days`
        raise InvalidInputError(f"--days must be between 1 and {MAX_SYNC_DAYS}, got {days}")
    with ledger(fresh=False) as (settings, conn), _sync_progress(not as_json) as watch:
        result = syncing.sync_providers(
            conn, settings, Pricer.from_file(settings.prices_file), providers or None, days, watch=watch
        )
    status = EXIT_FAILED if any(not s.ok for s in result.sources) else EXIT_OK
    if as_json:
        print(result.model_dump_json(indent=2))
        return status
    _render_sync(Console(), result)
    return status


def _render_sync(out: Console, result: SyncResult) -> None:
    """One line per source with its state, then notes (a failure's cause is among the warnings)."""
    # A source's name is typed back (--provider, a filter): it never folds mid-word, as rich folded
    # "anthropic-claude-code" over "ode" at 80 columns; the days' free text gives way instead. One
    # space between columns, not two: then a whole row of three sources fits 80 columns.
    table = Table(
        Column("source", no_wrap=True),
        Column("result", no_wrap=True),
        "days",
        "rows",
        "billed",
        "time",
        box=None,
        padding=(0, 1, 0, 0),
    )
    for s in result.sources:
        span = f"{s.first_day} to {s.last_day}" if s.first_day else "-"
        if s.not_listed_yet:
            span += f"; {', '.join(s.not_listed_yet)} not listed yet"
        table.add_row(
            text(s.source),
            "ok" if s.ok else "[red]failed[/red]",
            f"{s.days} ({span})" if s.ok else "-",
            f"{s.buckets:,}" if s.ok else "-",
            format_usd(s.billed_usd) if s.billed_usd is not None else "-",
            f"{s.seconds:.1f}s",
        )
    show(out, table)
    for s in result.sources:
        if s.note:
            out.print(safe_text(f"{s.source}: {s.note}"), highlight=False, markup=False)
    for warning in result.warnings:
        note(out, warning)


class _SyncDisplay:
    """A live line per source on a terminal's stderr: fetching (with a spinner), then ok or failed."""

    def __init__(self, bar: Progress) -> None:
        self._bar = bar
        self._tasks: dict[str, TaskID] = {}

    def planned(self, sources: Sequence[str]) -> None:
        for source in sources:
            self._tasks[source] = self._bar.add_task(text(source), total=1, state="fetching")

    def fetched(self, source: str, error: str | None, seconds: float) -> None:
        state = "[red]failed[/red]" if error else "[green]ok[/green]"
        self._bar.update(self._tasks[source], completed=1, state=f"{state} in {seconds:.1f}s")


@contextmanager
def _sync_progress(wanted: bool) -> Iterator[_SyncDisplay | None]:
    """The sync's live display on a terminal's stderr; None (the table says it all) otherwise."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    err = Console(stderr=True)
    if not (wanted and err.is_terminal):
        yield None
        return
    columns = (
        SpinnerColumn(finished_text="•"),
        TextColumn("{task.description:<24}"),
        TextColumn("{task.fields[state]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        yield _SyncDisplay(bar)


@cli.command()
@click.option(
    "--all",
    "every",
    is_flag=True,
    help="price every stored call again with today's prices (after a release fixes a price)",
)
@click.option("--dry-run", is_flag=True, help="with --all: say what would change, change nothing")
@json_option()
def reprice(every: bool, dry_run: bool, as_json: bool) -> int:
    """Price stored calls that had no known price, with today's prices and the override file.

    With --all, every stored call is priced again as it would be priced now, and its new price
    stored where it differs (an agent's own reported cost is kept).
    """
    from cost_mcp.analytics.reprice import reprice_unpriced
    from cost_mcp.pricing import Pricer

    if dry_run and not every:
        raise InvalidInputError("--dry-run goes with --all: `cost-mcp reprice --all --dry-run`")
    if every:
        return _reprice_all(dry_run, as_json)
    with ledger(fresh=False) as (loaded, conn):
        result = reprice_unpriced(conn, Pricer.from_file(loaded.prices_file), loaded)
    if as_json:
        print(json.dumps({**vars(result), "added_usd": json_usd(result.added_usd)}, indent=2))
        return EXIT_OK
    out = Console(soft_wrap=True)
    out.print(
        f"priced {result.priced:,} call(s) that had no known price ({format_usd(result.added_usd)})",
        highlight=False,
    )
    for model, calls in result.still_unpriced.items():
        out.print(
            f"[yellow]still no price:[/yellow] {text(model)}: {calls:,} call(s); add it to the price "
            f"override file ({loaded.prices_file})",
            highlight=False,
        )
    return EXIT_OK


def _reprice_all(dry_run: bool, as_json: bool) -> int:
    from cost_mcp.analytics.reprice import reprice_all
    from cost_mcp.pricing import Pricer

    with ledger(fresh=False) as (loaded, conn):
        result = reprice_all(conn, Pricer.from_file(loaded.prices_file), loaded, dry_run=dry_run)
    if as_json:
        shown = {
            **vars(result),
            "difference_usd": json_usd(result.difference_usd),
            "models": [
                {**vars(m), "before_usd": json_usd(m.before_usd), "after_usd": json_usd(m.after_usd)}
                for m in result.models
            ],
        }
        print(json.dumps(shown, indent=2))
        return EXIT_OK
    out = Console(soft_wrap=True)
    verb = "would change" if dry_run else "changed"
    out.print(
        f"{result.checked:,} priced call(s) checked; today's prices {verb} {result.changed:,} "
        f"({'+' if result.difference_usd > 0 else ''}{plain_usd(result.difference_usd)} USD)",
        highlight=False,
    )
    for m in result.models:
        out.print(
            f"  {text(m.model)}: {m.calls:,} call(s), "
            f"{plain_usd(m.before_usd)} -> {plain_usd(m.after_usd)} USD",
            highlight=False,
        )
    if result.reported_cost_calls:
        out.print(
            f"{result.reported_cost_calls:,} of them carry their agent's own reported cost, which spend "
            "counts instead: those move no budget",
            highlight=False,
        )
    for model, calls in result.kept.items():
        out.print(
            f"[yellow]kept:[/yellow] {text(model)}: {calls:,} call(s) today's prices cannot price keep "
            "their stored price",
            highlight=False,
        )
    for line in result.alerts_rearmed:
        note(out, line)
    for warning in result.warnings:
        note(out, warning, "[yellow]warning:[/yellow]")
    if dry_run and result.changed:
        out.print("nothing was changed: `cost-mcp reprice --all` stores these prices", highlight=False)
    return EXIT_OK


@cli.group("import")
def import_() -> None:
    """Import a provider's billing file into the ledger."""


@import_.command("google-billing")
@click.argument("file", type=click.Path(path_type=Path), metavar="FILE.csv")
@click.option("--currency", help="the amounts' currency when the file has no currency column")
@json_option()
def google_billing(file: Path, currency: str | None, as_json: bool) -> int:
    """A Cloud Billing CSV export (Gemini API, Vertex AI rows): replaces Google's days in the file."""
    from cost_mcp.sources import google

    with ledger(fresh=False) as (_, conn):
        result = google.import_csv(conn, file, currency)
    if as_json:
        print(json.dumps({**vars(result), "total_usd": json_usd(result.total_usd)}, indent=2))
        return EXIT_OK
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
    return EXIT_OK
