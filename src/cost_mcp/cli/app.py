"""The root `cost-mcp` command group, its entry point and what every command shares: settings, the
ledger, one way to answer (JSON or a table plus notes), error handling and exit codes."""

from __future__ import annotations

import copy as _copy
import functools
import importlib
import io
import re
import sqlite3
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
import rich.console
from rich.cells import cell_len
from rich.console import ConsoleOptions, RenderableType, RenderResult
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Column, Table
from rich.text import Text

from cost_mcp import __version__
from cost_mcp.errors import CostMcpError
from cost_mcp.log_records import command_logging
from cost_mcp.output import safe_text
from cost_mcp.store.connection import Conn, telling_lock_waits

if TYPE_CHECKING:
    from pydantic import BaseModel

    from cost_mcp.config import Settings
    from cost_mcp.core_settings import HasCoreSettings
    from cost_mcp.periods import Period, PeriodArguments


class Console(rich.console.Console):
    """Every command's console: rich's, except that a reader that has gone (`cost-mcp report | head
    -1`) ends the command as a closed pipe does anywhere else here, quietly with exit 0
    (:meth:`_Root.invoke`). rich's own handling exits 1, which the exit codes reserve for
    "something checked is not right": a script with ``set -o pipefail`` took `report | head` for a
    failure."""

    def on_broken_pipe(self) -> None:
        """Raise the closed pipe instead of exiting 1; the command's caller ends it quietly."""
        import errno
        import os

        raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))


# config (pydantic-settings) and models are imported by the commands that use them: `cost-mcp
# ingest` reads its settings without pydantic and prints a plain result, and the two imports were
# ~0.3 s of CPU of its ~0.6 s on an unchanged tree.

EXIT_OK = 0
EXIT_FAILED = 1
"""Something the command checked is not right (doctor's problems, a failed sync, a declined write)."""
EXIT_USAGE = 2
"""The command could not do what was asked: bad arguments or input, an unusable ledger."""

EXIT_INTERRUPTED = 130
"""Ctrl-C, as a shell reports a command it interrupted."""

R = TypeVar("R", bound="BaseModel")


def text(value: object) -> str:
    """Outside text (names, provider messages) for a rich console: controls neutralised, and rich
    markup escaped so that "[red]" in a name is shown, not obeyed."""
    return escape(safe_text(value))


NUMBER_COLUMNS = frozenset(
    {
        "calls",
        "short",
        "cost",
        "saving",
        "net",
        "prefix calls",
        "1h writes",
        "at batch rate",
        "limit",
        "spent",
        "left",
        "%",
        "projected",
        "amount",
        "days",
        "rows",
        "billed",
        "time",
    }
)
"""Column headers whose cells are money, counts or durations: right-aligned, so digits line up."""


def whole(table: Table) -> Table:
    """``table`` with every cell folding onto a second line where it does not fit, never cut: rich's
    default ends a cut cell with an ellipsis, which on an 80-column terminal showed "$12,285…" for
    $12,285.26 and "3,205,6…" for a token count. Number columns (:data:`NUMBER_COLUMNS`) are
    right-aligned and never wrapped, the text columns give way: at 60 columns "$2,498.44" read
    "$2,498" over ".44", and a header "savin" over "g"."""
    for column in table.columns:
        column.overflow = "fold"
        if str(column.header) in NUMBER_COLUMNS:
            column.justify = "right"
            column.no_wrap = True
    return table


TEXT_FLOOR = 6
"""The width a text column (a name, a date) is counted at, at least, when deciding whether a table
fits its terminal: narrower, a name folds into a column of syllables, or vanishes."""


def _column_needed(out: Console, column: Column, limit: int) -> int:
    """How wide ``column`` must be: its fixed width, if it has one; else to stay whole if it is
    no-wrap, else to keep :data:`TEXT_FLOOR` (or its widest cell, when narrower); 2 is a column's
    padding. ``limit``: ``out.options.max_width``."""
    if column.width is not None:
        # Fixed (a report's keys, kept a date wide): counted at TEXT_FLOOR, four keys at 80 columns
        # left the token counts no room, and rich folded them a digit a line, "requests" to nothing.
        return column.width + 2
    widest = max((_cell_width(out, cell, limit) for cell in (column.header, *column.cells)), default=1)
    return (widest if column.no_wrap else min(widest, TEXT_FLOOR)) + 2


_MARKED = re.compile(r"[\[:]")
"""What rich reads in a printable string before measuring it: markup (``[dim]``), an emoji code
(``:smile:``)."""


def _cell_width(out: Console, cell: RenderableType, limit: int) -> int:
    """``out.measure(cell).maximum``, where ``limit`` is ``out.options.max_width``. A one-line
    printable string with nothing rich reads in it (:data:`_MARKED`: nearly every cell, a figure,
    a name, a date) is its width in cells, as rich measures it, without rich's parse of it and the
    options it makes per cell: a table of 8,000 sessions spent seconds there, each time it was
    measured. Control characters (which rich strips) and line breaks take rich's way."""
    if isinstance(cell, str) and cell.isprintable() and not _MARKED.search(cell):
        return max(min(cell_len(cell), limit), 0)
    if isinstance(cell, Text):
        return max(min(max((cell_len(line) for line in cell.plain.splitlines()), default=0), limit), 0)
    return out.measure(cell).maximum


def show(
    out: Console, table: Table, *, optional: Sequence[str] = (), highlight: bool | None = None
) -> list[str]:
    """Print ``table`` made :func:`whole`, on a terminal too narrow for it with the ``optional``
    columns (headers, least useful first) left out, as many as it takes, and a line saying so.

    rich squeezes what does not fit: at 60 columns a cost read "$1,532" over ".37", at 40 "$2,500.0"
    for $2,500.00 (cut) and a budget's name vanished. When even without the optional columns the
    numbers cannot stay whole, every column folds: a number over two lines is still right, a cut
    one is wrong. Returns the headers left out, for notes about what the table shows."""
    whole(table)
    # Each column's need, measured once: leaving one out changes no other's.
    limit = out.options.max_width
    needed = {id(column): _column_needed(out, column, limit) for column in table.columns}
    kept = list(table.columns)
    left_out: list[str] = []
    for header in optional:
        if sum(needed[id(c)] for c in kept) <= out.width:
            break
        without = [c for c in kept if str(c.header) != header]
        if len(without) < len(kept):
            kept = without
            left_out.append(header.replace("\n", " "))
    if left_out:
        table = _with_only(table, kept)
    if sum(needed[id(c)] for c in kept) > out.width:
        for column in table.columns:
            column.no_wrap = False
    out.print(table, highlight=highlight)
    if left_out:
        out.print(
            f"[dim]not shown, to fit {out.width} columns: {', '.join(left_out)} (--json, or a wider "
            "terminal, shows them)[/dim]"
        )
    return [header for header in optional if header.replace("\n", " ") in left_out]


def _with_only(table: Table, columns: Sequence[Column]) -> Table:
    """A copy of ``table`` with only ``columns`` (some of its own), their cells and its rows' styles.

    Made anew through ``add_column``/``add_row``: rich pads a table's first and last column by an
    index it keeps private, which taking columns out of ``table.columns`` would leave stale."""
    copy = _copy.copy(table)  # the table's own settings (box, padding, styles...) as they are
    copy.columns = []
    copy.rows = []
    for column in columns:
        copy.add_column(
            column.header,
            column.footer,
            header_style=column.header_style,
            highlight=column.highlight,
            footer_style=column.footer_style,
            style=column.style,
            justify=column.justify,
            vertical=column.vertical,
            overflow=column.overflow,
            width=column.width,
            min_width=column.min_width,
            max_width=column.max_width,
            ratio=column.ratio,
            no_wrap=column.no_wrap,
        )
    for row, cells in zip(table.rows, zip(*(c.cells for c in columns), strict=True), strict=True):
        Table.add_row(copy, *cells, style=row.style, end_section=row.end_section)
    return copy


def column_widths(out: Console, table: Table) -> list[int]:
    """The width rich gives each column's cells (its padding not counted) when it prints ``table``
    on ``out``, as it stands.

    rich keeps its layout to itself; a stand-in table with the same settings and one header cell a
    column, measured as the whole column measures, is printed where nothing is shown, and each
    stand-in notes the width it is given."""
    stand_in = _copy.copy(table)
    stand_in.columns = []
    stand_in.rows = []
    stand_in.show_header, stand_in.show_footer = True, False
    stand_in.title = stand_in.caption = None  # take no part in the columns' widths
    probes = []
    for column in table.columns:
        cells = (column.header, *column.cells) if table.show_header else tuple(column.cells)
        if table.show_footer:
            cells = (*cells, column.footer)
        measured = [Measurement.get(out, out.options, cell) for cell in cells]
        probe = _WidthProbe(
            Measurement(
                max((m.minimum for m in measured), default=1),
                max((m.maximum for m in measured), default=out.options.max_width),  # as rich: no cells
            )
        )
        probes.append(probe)
        stand_in.add_column(
            probe,
            width=column.width,
            min_width=column.min_width,
            max_width=column.max_width,
            ratio=column.ratio,
            no_wrap=column.no_wrap,
        )
    for _ in out.render(stand_in, out.options):
        pass
    return [probe.given for probe in probes]


class _WidthProbe:
    """A cell measured as ``measurement`` says, which prints nothing and keeps the width it is given."""

    def __init__(self, measurement: Measurement) -> None:
        self.measurement = measurement
        self.given = 0

    def __rich_measure__(self, console: rich.console.Console, options: ConsoleOptions) -> Measurement:
        return self.measurement

    def __rich_console__(self, console: rich.console.Console, options: ConsoleOptions) -> RenderResult:
        self.given = options.max_width
        return iter(())


def note(out: Console, message: object, label: str = "[yellow]note:[/yellow]") -> None:
    """One labelled line of outside text (a warning, an alert) on ``out``."""
    out.print(f"{label} {text(message)}", highlight=False)


def say_removed(
    out: Console,
    summary: str | None,
    *,
    dry_run: bool,
    alerts_rearmed: Sequence[str] = (),
    warnings: Sequence[str] = (),
) -> None:
    """How a forget or unforget ends: its one-line summary (``None`` when it picked nothing), then
    the alerts it re-armed and its warnings, in the same words wherever calls are removed."""
    if summary is not None:
        out.print(summary + (" (dry run: nothing changed)" if dry_run else ""), highlight=False)
    for line in alerts_rearmed:
        note(out, line)
    for warning in warnings:
        note(out, warning)


class GreedyCommand(click.Command):
    """A command whose ``greedy`` options take every value up to the next option, as in
    ``--group-by provider model`` (click options take a fixed number of values), or a list with
    commas, ``--group-by provider,model``, as the MCP tool's list reads."""

    greedy: tuple[str, ...] = ("--group-by",)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        expanded: list[str] = []
        empty: list[str] = []  # greedy options given no value: put last, where click says so
        taking: str | None = None
        took = False
        for arg in [*args, "--"]:  # the sentinel ends the last option's values
            if taking is not None and not arg.startswith("-"):
                for value in filter(None, (v.strip() for v in arg.split(","))):
                    expanded += [taking, value]
                took = True
                continue
            if taking is not None and not took:
                empty.append(taking)
            name, eq, value = arg.partition("=")
            taking, took = (name, bool(eq)) if name in self.greedy else (None, False)
            if taking is None:
                expanded.append(arg)
            elif eq:  # --group-by=model day
                for one in filter(None, (v.strip() for v in value.split(","))):
                    expanded += [name, one]
        return super().parse_args(ctx, [*expanded[:-1], *empty])


_NEGATIVE_NUMBER = re.compile(r"-\.?\d")


class NumberArgumentsCommand(click.Command):
    """A command whose positional arguments may be negative numbers, as in ``budget set x -5``.

    click reads any argument starting with "-" as an option, so a negative AMOUNT was refused with
    "No such option '-5'" before the command could say what an amount must be. Here, when one
    positional looks like a negative number, every positional is moved after a ``--`` (in order),
    so it reaches the command's own validation. Options, their values and unknown options (a typo
    click suggests the right name for) are left as they were.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not any(_NEGATIVE_NUMBER.match(a) for a in args):
            return super().parse_args(ctx, args)
        taking_values = {
            name
            for p in self.get_params(ctx)
            if isinstance(p, click.Option) and not p.is_flag and not p.count
            for name in p.opts
        }
        options: list[str] = []
        positionals: list[str] = []
        rest = iter(args)
        for arg in rest:
            if arg == "--":
                positionals += rest
                break
            if _NEGATIVE_NUMBER.match(arg) or not arg.startswith("-") or arg == "-":
                positionals.append(arg)
                continue
            options.append(arg)
            if arg in taking_values:  # "--period day": its value, even one like "-5", stays with it
                options += [v for v in (next(rest, None),) if v is not None]
        return super().parse_args(ctx, [*options, "--", *positionals])


def period_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--period / --start / --end / --timezone, as every period-taking command spells them; a
    period that cannot be is refused before the command reads any log (a typo in --period on a
    terminal showed the log-reading progress bar, minutes on a first run, then the error)."""

    command = fn

    @functools.wraps(command)  # with it, the click parameters declared below it so far
    def checked_first(*args: Any, **options: Any) -> Any:
        if any(options.get(name) for name in ("period", "start", "end", "timezone")):
            from cost_mcp.config import load_settings_leniently

            loaded, _ = load_settings_leniently()  # the command says what is unusable, once
            resolve_period(loaded, options)
        return command(*args, **options)

    fn = checked_first
    for option in reversed(
        (
            click.option(
                "--period",
                help="today, yesterday, this_week, last_week, this_month, last_month, last_7_days, "
                "last_30_days, this_year; or a month YYYY-MM, a day YYYY-MM-DD, or "
                "YYYY-MM-DD..YYYY-MM-DD",
            ),
            click.option("--start", help="first day, YYYY-MM-DD"),
            click.option("--end", help="last day, YYYY-MM-DD (inclusive)"),
            click.option("--timezone", help="IANA timezone (default: configured)"),
        )
    ):
        fn = option(fn)
    return fn


def json_option(help: str = "machine-readable output") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--json, which every command that answers takes."""
    return click.option("--json", "as_json", is_flag=True, help=help)


def excel_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--excel: CSV that Excel on Windows reads as UTF-8 (see :func:`excel_stdout`)."""
    return click.option(
        "--excel",
        is_flag=True,
        help="start the CSV with a UTF-8 byte-order mark, so Excel shows non-ASCII names right",
    )(fn)


def excel_stdout() -> None:
    """Begin stdout's CSV as Excel needs it: UTF-8 whatever the locale, after a byte-order mark.

    Excel on Windows reads a CSV without the mark in the ANSI code page ("Café" shows as "CafÃ©").
    The mark is asked for, never the default: Python's csv module (on a file opened as utf-8), cut
    and awk read it as part of the first column's name, so pipes and scripts get plain UTF-8."""
    if isinstance(sys.stdout, io.TextIOWrapper):
        # newline="": the csv module ends rows with \r\n itself, which Windows' text mode turned
        # into \r\r\n, a blank row in Excel after each (csv's docs: open files with newline="").
        sys.stdout.reconfigure(encoding="utf-8", newline="")
    sys.stdout.write("\ufeff")


def group_by_option(help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--group-by DIM [DIM ...] (the command must be a :class:`GreedyCommand`)."""
    return click.option("--group-by", "group_by", multiple=True, metavar="DIM ...", help=help)


def cli_period_arguments() -> PeriodArguments:
    """The period options as a person types them, for the errors about them: the analytics named
    the tools' arguments ("Got `end` without `start`") to someone who typed --end."""
    from cost_mcp.periods import PeriodArguments

    return PeriodArguments(period="--period", start="--start", end="--end")


def resolve_period(settings: Settings, options: dict[str, Any]) -> Period:
    """The period of --period / --start / --end / --timezone."""
    from cost_mcp.analytics import spend

    return spend.resolve(
        settings,
        options["period"],
        options["start"],
        options["end"],
        options["timezone"],
        names=cli_period_arguments(),
    )


COMMAND_MODULES = {
    "ingest": "data",
    "sync": "data",
    "import": "data",
    "reprice": "data",
    "budget": "ledger",
    "subscription": "ledger",
    "reported": "ledger",
    "serve": "setup",
    "otel-config": "setup",
    "dashboard": "setup",
    "doctor": "setup",
    "estimate": "setup",
    "statusline": "setup",
    "hook": "setup",
    "report": "spend",
    "export": "spend",
    "blocks": "spend",
    "session": "spend",
    "forecast": "spend",
    "savings": "spend",
    "compare": "spend",
    "push": "team",
    "team": "team",
    "token": "team",
}
"""Each command's module under ``cost_mcp.cli``, imported when the command is used: importing
them all cost a cold ``cost-mcp ingest`` the other commands' imports before its first line
(click's lazy-group pattern; ``tests/test_cli_click.py`` checks this map against the modules)."""


def load_all() -> None:
    """Import every command module (for what walks ``cli.commands``: help, docs checks)."""
    for module in sorted(set(COMMAND_MODULES.values())):
        importlib.import_module(f"cost_mcp.cli.{module}")


class _Root(click.Group):
    """The root group: commands loaded on use (:data:`COMMAND_MODULES`), and a closed stdout ends
    the command quietly (click would exit 1 on it)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMAND_MODULES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMAND_MODULES.get(cmd_name)
        if module is not None and cmd_name not in self.commands:
            importlib.import_module(f"cost_mcp.cli.{module}")  # its decorators register it here
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        # click suggests among the commands loaded so far, which here is none: `cost-mcp reprot`
        # said only "No such command", where `budget sett` says "Did you mean 'set'?".
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            import difflib

            close = difflib.get_close_matches(name, self.list_commands(ctx))
            named = [repr(c) for c in close]
            hint = f" Did you mean {', '.join(named[:-1])} or {named[-1]}?" if len(named) > 1 else ""
            hint = hint or (f" Did you mean {named[0]}?" if named else "")
            raise click.UsageError(f"No such command {name!r}.{hint}", ctx)
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            # `cost-mcp export | head -1`: the reader has gone; say nothing more, and exit quietly.
            _quiet_stdout()
            return EXIT_OK


@click.group(
    cls=_Root,
    name="cost-mcp",
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    help="Know, to the cent, what your AI use costs. With no command, serves MCP on stdio.",
    # Scripts branch on these; they were only in the README.
    epilog=f"Exit codes, the same with --json: {EXIT_OK} done; {EXIT_FAILED} something checked is not "
    "right (doctor found a problem, a sync source failed, an --install was declined); "
    f"{EXIT_USAGE} a bad argument, bad input or an unusable ledger (stderr says what to fix); "
    f"{EXIT_INTERRUPTED} interrupted.",
)
@click.version_option(__version__, prog_name="cost-mcp", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context) -> int:
    """The root group: no command means `serve` (what an MCP host runs)."""
    if ctx.invoked_subcommand is not None:
        return EXIT_OK
    from cost_mcp.cli.setup import serve_stdio

    return serve_stdio()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `cost-mcp` command; returns the exit code."""
    command_logging()
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return _run(args)
    except BrokenPipeError:  # an error message to a closed pipe
        _quiet_stdout()
        return EXIT_OK


LOCK_WAIT_THEN = "if it is still writing then, this command stops with an error saying so"
LOCK_WAIT_THEN_ANSWER = (
    "if it is still writing then, the answer comes from the ledger as it stands, with a note saying "
    "the newest log lines are not in it"
)


def tell_lock_wait(then: str) -> Callable[[float], None]:
    """What a command says on stderr (never stdout: `--json` stays parseable) once it has waited
    a moment for another process's write lock: otherwise a person saw up to a minute of silence.
    Said once per command, however many writes wait."""
    told = False

    def tell(seconds: float) -> None:
        nonlocal told
        if told:
            return
        told = True
        most = "" if seconds == float("inf") else f" up to {seconds:.0f} s more"
        note(
            Console(stderr=True, soft_wrap=True),
            f"waiting{most} for another process that is writing the ledger (a cost-mcp ingest, "
            f"server or sync reading logs); {then}",
        )

    return tell


def _run(args: list[str]) -> int:
    err = Console(stderr=True, soft_wrap=True)
    try:
        with telling_lock_waits(tell_lock_wait(LOCK_WAIT_THEN)):
            code = cli.main(args=args, prog_name="cost-mcp", standalone_mode=False)
        return code if isinstance(code, int) else EXIT_OK
    except click.ClickException as exc:
        show_click_error(exc, err)
        return exc.exit_code
    except click.Abort:  # Ctrl-C (or end of input at a prompt): no traceback, the shell's code
        err.print("aborted")
        return EXIT_INTERRUPTED
    except CostMcpError as exc:
        err.print(f"[red]error:[/red] {text(exc)}", highlight=False)
        return EXIT_USAGE
    except sqlite3.Error as exc:
        from cost_mcp.core_settings import load_core_settings
        from cost_mcp.store.connection import explain

        err.print(f"[red]error:[/red] {text(explain(load_core_settings().db, exc))}", highlight=False)
        return EXIT_USAGE
    except OSError as exc:
        if not full_disk(exc):
            raise
        # The output sent to a file on a full disk (`> out.json`): it was a traceback, and what
        # reached the file is cut short.
        err.print(
            f"[red]error:[/red] the output could not be written: the disk is full ({exc.strerror}); "
            "what was written is incomplete. Free some space there, or send the output to another disk",
            highlight=False,
        )
        _quiet_stdout()
        return EXIT_USAGE
    finally:
        # Alerts fired by this short-lived process are POSTed before it exits; any that fail stay
        # queued in the ledger for the next process to retry. Only a command that could fire one
        # has imported notify (and httpx2): the status line's hot path does not pay for it.
        notify = sys.modules.get("cost_mcp.notify")
        if notify is not None:
            notify.drain()


def show_click_error(exc: click.ClickException, err: Console) -> None:
    """A usage error (an unknown option, a missing argument) as click shows it, its usage line and
    help hint first, but its message as every other error: "error: ...", not click's "Error: ...",
    so that one grep or one glance finds any of them."""
    if type(exc).show not in (click.ClickException.show, click.UsageError.show):
        exc.show()  # one that shows something else (a group given nothing prints its help)
        return
    ctx = exc.ctx if isinstance(exc, click.UsageError) else None
    if ctx is not None:
        hint = ""
        if ctx.command.get_help_option(ctx) is not None:
            longest = max(ctx.command.get_help_option_names(ctx), key=len)
            hint = f"Try '{ctx.command_path} {longest}' for help.\n"
        click.echo(f"{ctx.get_usage()}\n{hint}", err=True, color=ctx.color)
    err.print(f"[red]error:[/red] {text(exc.format_message())}", highlight=False)


def full_disk(exc: OSError) -> bool:
    """Whether ``exc`` is a write refused for want of space (a full disk, or the user's quota)."""
    import errno

    return exc.errno in (errno.ENOSPC, errno.EDQUOT)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail on a closed pipe."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # stdout is not a real file (a test's capture): nothing will be flushed to a pipe


def settings() -> Settings:
    """Settings for a command; an unusable value is one warning line on stderr, and its default is used."""
    from cost_mcp.config import load_settings_leniently

    loaded, problems = load_settings_leniently()
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    return loaded


def core_settings() -> HasCoreSettings:
    """The core settings (:mod:`cost_mcp.core_settings`), for a command that needs no others, read
    without pydantic; when one of them is unusable, the full Settings are read instead, so the
    warning is the one :func:`settings` gives."""
    from cost_mcp.core_settings import load_core_settings

    core = load_core_settings()
    return settings() if core.unusable else core


def command_path() -> str:
    """The absolute path of this `cost-mcp` command: hosts start servers without the user's PATH."""
    script = Path(sys.executable).parent / "cost-mcp"
    return str(script) if script.exists() else "cost-mcp"


def temporary_environment() -> Path | None:
    """The cache this cost-mcp's environment was made in, or None for an installed one.

    `uvx cost-mcp` and `pipx run cost-mcp` make their environment inside their cache (uv's
    ``archive-v0/<id>``, pipx's ``<hash>``), a folder marked with a CACHEDIR.TAG (the Cache Directory
    Tagging spec), and delete it when the cache is cleaned or (pipx) left unused for 14 days: a path
    into it, written into Claude Code's settings, stops working then. An installed environment (``uv
    tool install``, ``pipx install``, a venv) may carry the tag itself, but is not inside a tagged folder.
    """
    prefix = Path(sys.prefix).resolve()
    return next((folder for folder in prefix.parents if (folder / "CACHEDIR.TAG").is_file()), None)


@contextmanager
def log_progress(wanted: bool = True) -> Iterator[Callable[[int, int, str], None] | None]:
    """A progress bar for reading logs on a terminal's stderr; None (nothing shown) otherwise."""
    err = Console(stderr=True)
    if not (wanted and err.is_terminal):
        yield None  # and rich.progress (~0.05 s of imports) is not loaded
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    # Redrawn on each report (the reader reports at most 4 times a second), not by rich's refresh
    # thread: a large first read forks a parse worker only from a single-threaded process.
    with Progress(
        TextColumn("reading logs"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err,
        auto_refresh=False,
    ) as bar:
        task = bar.add_task("ingest", total=None)

        def progress(done: int, total: int, _message: str) -> None:
            bar.update(task, completed=done, total=total, refresh=True)

        yield progress


@contextmanager
def ledger(
    fresh: bool = True, skipped: list[str] | None = None, *, local: bool = False
) -> Iterator[tuple[Settings, Conn]]:
    """Settings and the ledger, closed on exit. ``fresh``: every new log line is read in first (with a
    progress bar on a terminal), since a person waits for the whole answer rather than get a partial
    one, and stale providers are synced unless ``local`` (a push sends only log usage); commands
    that only change the ledger (budget set/delete) skip it. Why a refresh could not run (a
    read-only or busy ledger) goes into ``skipped``, for the answer to carry (a script reading
    ``--json`` must see it too), or without it to stderr."""
    from cost_mcp.store import connect

    loaded = settings()
    conn = connect(loaded.db)
    try:
        if fresh:
            from cost_mcp import sync
            from cost_mcp.pricing import Pricer

            # The CLI reads every log line first and waits for another process's lock (the usual
            # busy timeout) rather than answer early.
            with log_progress() as progress, telling_lock_waits(tell_lock_wait(LOCK_WAIT_THEN_ANSWER)):
                _, warnings = sync.refresh_or_skip(
                    conn,
                    loaded,
                    Pricer.from_file(loaded.prices_file),
                    local=local,
                    logs="all",
                    progress=progress,
                    lock_timeout_ms=None,
                )
            if skipped is not None:
                skipped.extend(warnings)
            else:
                err = Console(stderr=True)
                for warning in warnings:
                    note(err, warning)
        yield loaded, conn
    finally:
        conn.close()


@contextmanager
def core_ledger() -> Iterator[tuple[HasCoreSettings, Conn]]:
    """The core settings (:func:`core_settings`) and the ledger, closed on exit: for a command that
    needs no other setting and reads no logs first (ingest)."""
    from cost_mcp.store import connect

    loaded = core_settings()
    conn = connect(loaded.db)
    try:
        yield loaded, conn
    finally:
        conn.close()


def answer(
    compute: Callable[[Settings, Conn], R],
    *,
    as_json: bool,
    render: Callable[[Console, R], None],
    fresh: bool = True,
) -> int:
    """The shape of every query command: open the ledger (fresh), compute, then print the result as
    JSON or through ``render`` followed by its warnings. A query result is labelled as the MCP tools'
    are (:func:`cost_mcp.catchup.envelope`)."""
    from cost_mcp.catchup import with_warnings
    from cost_mcp.models import Answer

    skipped: list[str] = []
    with ledger(fresh, skipped) as (loaded, conn):
        result = with_warnings(compute(loaded, conn), skipped)
        if not isinstance(getattr(result, "warnings", None), list):
            err = Console(stderr=True)
            for warning in skipped:  # a result with no warnings of its own to carry them
                note(err, warning)
        if isinstance(result, Answer):
            from cost_mcp.catchup import envelope

            result = envelope(conn, loaded, result)
    if as_json:
        print(result.model_dump_json(indent=2))
        return EXIT_OK
    out = Console()
    render(out, result)
    for warning in getattr(result, "warnings", []):
        note(out, warning)
    return EXIT_OK
