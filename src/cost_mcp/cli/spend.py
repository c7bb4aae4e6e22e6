"""Commands that answer "what did it cost?": report (with --breakdown), export, the ccusage-style
views (blocks, session, forecast), savings and compare."""

from __future__ import annotations

import contextlib
import csv
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO
from zoneinfo import ZoneInfo

import click
from pydantic import Field
from rich.console import RenderableType
from rich.style import StyleType
from rich.table import Column, Table
from rich.text import Text

from cost_mcp.cli.app import (
    EXIT_OK,
    Console,
    GreedyCommand,
    answer,
    cli,
    column_widths,
    excel_option,
    excel_stdout,
    full_disk,
    group_by_option,
    json_option,
    ledger,
    note,
    period_options,
    resolve_period,
    show,
    text,
    whole,
)
from cost_mcp.errors import InvalidInputError
from cost_mcp.money import UNPRICED, bounded, format_cost, format_usd, plain_usd, rounding_note
from cost_mcp.output import counted, csv_cell
from cost_mcp.periods import parse_zone
from cost_mcp.store.buckets import ATTRIBUTION_ONLY
from cost_mcp.store.connection import Conn

if TYPE_CHECKING:
    from cost_mcp.analytics.focus import FocusExport
    from cost_mcp.analytics.spend import Lacking
    from cost_mcp.config import Settings
    from cost_mcp.models import (
        Comparison,
        Forecast,
        SavingsReport,
        SessionSaving,
        SessionUsage,
        SpendResult,
        SpendRow,
        UsageBlocks,
    )
    from cost_mcp.periods import Period

BREAKDOWN_DIMS = ("model", "provider", "project", "agent", "session")
"""What `report --breakdown` can split each row by (ccusage's --breakdown is by model)."""


def _money(value: Decimal | None, places: int = 2) -> str:
    return UNPRICED if value is None else format_usd(value, places)


FULL_COUNTS_WIDTH = 120
"""Terminals at least this wide get token counts in full; narrower ones (80 columns, a pipe) get
them rounded (:func:`_count`), so that a row stays on one line and no number is cut."""


ROOMY_WIDTH = 80
"""From this width on, a token table's key columns are kept readable (:func:`_readable_keys`);
narrower, columns are left out until its numbers fit whole (:data:`TOKEN_COLUMNS_LEFT_OUT`)."""

TOKEN_COLUMNS_LEFT_OUT = ("cache\nwrite", "cache\nread", "input", "output", "requests")
"""A token table's columns, in the order they are left out where the table does not fit (the
cost and the names stay): at 60 columns the cost had to fold mid-amount ("$1,532" over ".37")."""


class _ParsedTable(Table):
    """A table that parses each string cell once, as it is added, the way rich parses it to print it
    (markup, emoji, the column's highlighting): given the strings, rich parsed each again every time
    it measured the table, three or four times for a token table, and a table of thousands of
    sessions (report --group-by session) took seconds. The same :class:`~rich.text.Text` prints the
    same bytes."""

    def __init__(self, out: Console, **options: Any) -> None:
        super().__init__(**options)
        self._out = out

    def add_row(
        self, *renderables: RenderableType | None, style: StyleType | None = None, end_section: bool = False
    ) -> None:
        """rich's ``add_row``, each string first made the :class:`~rich.text.Text` rich makes of it."""
        parsed = [
            self._out.render_str(cell, highlight=column.highlight) if isinstance(cell, str) else cell
            for cell, column in zip(renderables, self.columns, strict=False)
        ]
        super().add_row(*parsed, *renderables[len(parsed) :], style=style, end_section=end_section)


def _tokens_table(out: Console, *first: str, then: tuple[str, ...] = ()) -> Table:
    """A table of ``first`` columns, the token counts and the cost, then the ``then`` count
    columns; money and counts right-aligned and never wrapped, the names fold."""
    table = _ParsedTable(out, box=None)
    for name in first:
        # A basis is one of three short words: kept whole ("subscriptio" / "n" read badly).
        table.add_column(name, no_wrap=name == "basis")
    # The two-word headers take two lines of their own rather than widen their columns.
    for name in ("input", "output", "cache\nread", "cache\nwrite", "cost", *then):
        table.add_column(name, justify="right", no_wrap=True)
    return whole(table)


def _compact(out: Console) -> bool:
    return out.width < FULL_COUNTS_WIDTH


KEY_WIDTH = 10
"""The narrowest a token table's key column (provider, day, model...) is squeezed to, or its longest
value's width when less: a date whole. Below it, the numbers give way instead."""


def _readable_keys(out: Console, table: Table) -> None:
    """Keep the key columns (those before ``input``, but ``basis``) at least :data:`KEY_WIDTH` wide.

    From :data:`ROOMY_WIDTH` on the numbers are never wrapped, so with two keys at 80 columns the
    keys were all that could give way: ``ope/nai``, ``202/6-1/2-0/1``. Where a key would be
    narrower than that, it gets that width fixed and the token counts may fold instead (the cost and
    the basis stay whole)."""
    headers = [str(c.header) for c in table.columns]
    # Narrower than that, every cell may fold already: there is no room to keep anything whole.
    if "input" not in headers or out.width < ROOMY_WIDTH:
        return
    keys = [c for c in table.columns[: headers.index("input")] if str(c.header) != "basis"]
    wanted = {
        id(c): min(
            KEY_WIDTH,
            max((len(line) for cell in (c.header, *c.cells) for line in str(cell).split("\n")), default=1),
        )
        for c in keys
    }
    # rich's own layout, to see whether it squeezes a key below what it needs.
    planned = dict(zip((id(c) for c in table.columns), column_widths(out, table), strict=True))
    if all(planned[id(c)] >= wanted[id(c)] for c in keys):
        return
    for column in table.columns:
        if id(column) in wanted:
            column.width = max(wanted[id(column)], planned[id(column)])
        elif str(column.header) not in ("basis", "cost"):  # a cost folded mid-number misreads
            column.no_wrap = False


def _print_tokens_table(out: Console, table: Table) -> None:
    _readable_keys(out, table)
    left_out = show(out, table, optional=TOKEN_COLUMNS_LEFT_OUT)
    # Said only when a count shown was rounded: a narrow table of small counts shows them whole,
    # and one whose rounded columns were all left out shows none ("token counts rounded" under a
    # table of names and costs only).
    rounded = any(
        isinstance(cell, str | Text) and str(cell)[-1:] in ("k", "M", "B") and str(cell)[:1].isdigit()
        for column in table.columns
        if str(column.header) not in left_out
        for cell in column.cells
    )
    if _compact(out) and rounded:
        out.print(
            f"[dim]token counts rounded to fit {out.width} columns (k thousand, M million, B billion); "
            f"--json, or a terminal of {FULL_COUNTS_WIDTH} columns, gives them whole[/dim]"
        )


def _count(n: int, compact: bool) -> str:
    """A token count with thousands separators, or rounded to three significant digits (``3.21M``)
    when ``compact`` and it has more than four."""
    if not compact or n < 10_000:
        return f"{n:,}"
    size, unit = next((s, u) for s, u in ((10**9, "B"), (10**6, "M"), (10**3, "k")) if n >= s)
    value = n / size  # display only: a count, not money
    shown = f"{value:.{2 if value < 10 else 1 if value < 100 else 0}f}"
    if float(shown) >= 1000 and unit != "B":  # 999,999 rounds up to the next unit
        return _count(size * 1000, compact)
    return f"{shown}{unit}"


def _token_cells(t: Any, compact: bool) -> list[str]:
    if t is None:
        return ["-"] * 4
    return [
        _count(t.input_tokens, compact),
        _count(t.output_tokens, compact),
        _count(t.cache_read_tokens, compact),
        _count(t.cache_write_5m_tokens + t.cache_write_1h_tokens, compact),
    ]


# --- report ---------------------------------------------------------------------------------------


@cli.command(cls=GreedyCommand)
@period_options
@group_by_option("provider, model, day, week, month, project, agent, session, member, source, basis")
@click.option(
    "--breakdown",
    is_flag=False,
    flag_value="model",
    default=None,
    type=click.Choice(BREAKDOWN_DIMS),
    help="sub-rows under each row, by model (the default), provider, project, agent or session",
)
@click.option("--chart", is_flag=True, help="a bar per day (always when grouping by day)")
@click.option("--agent", multiple=True, help="only this agent's spend: codex, claude-code... (repeatable)")
@click.option("--provider", multiple=True, help="only this provider's spend (repeatable)")
@click.option("--model", multiple=True, help="only this model's spend (repeatable)")
@click.option("--project", multiple=True, help="only this project's spend (repeatable)")
@json_option("the full result as JSON")
@click.option("--csv", "as_csv", is_flag=True, help="rows as CSV")
@excel_option
def report(
    group_by: tuple[str, ...],
    breakdown: str | None,
    chart: bool,
    agent: tuple[str, ...],
    provider: tuple[str, ...],
    model: tuple[str, ...],
    project: tuple[str, ...],
    as_json: bool,
    as_csv: bool,
    excel: bool,
    **period: Any,
) -> int:
    """What was spent in a period (default: this month).

    With --breakdown, --json and --csv give the finer rows (grouped by --group-by and the breakdown).
    --agent, --provider, --model and --project keep only that spend (ccusage's `codex daily` is
    `report --agent codex --group-by day`), as get_spend's filters do.
    """
    from cost_mcp.analytics import spend
    from cost_mcp.analytics.coverage import partial_report_lines
    from cost_mcp.catchup import envelope, with_warnings

    if as_json and as_csv:
        raise click.UsageError("give --json or --csv, not both")
    if excel and not as_csv:
        raise click.UsageError("--excel is for CSV: give --csv --excel")
    dims = list(group_by) or ["provider", "basis"]
    fine = [*dims, breakdown] if breakdown and breakdown not in dims else dims
    kept = spend.Filters(
        providers=list(provider) or None,
        models=list(model) or None,
        projects=list(project) or None,
        agents=list(agent) or None,
    )
    skipped: list[str] = []
    with ledger(skipped=skipped) as (loaded, conn):
        p = resolve_period(loaded, period)
        result = envelope(conn, loaded, with_warnings(spend.get_spend(conn, loaded, p, dims, kept), skipped))
        # The sub-rows come from the same function, grouped one dimension finer; its alerts were
        # taken by the first call.
        parts = None
        if breakdown and fine != dims:
            fine_spend = spend.get_spend(conn, loaded, p, fine, kept, take_alerts=False)
            parts = envelope(conn, loaded, with_warnings(fine_spend, skipped))
        # The daily chart when asked for, or when the rows are days anyway.
        bars = (chart or "day" in dims) and not (as_json or as_csv)
        days = spend.get_spend(conn, loaded, p, ["day"], kept, take_alerts=False) if bars else None
    if as_json:
        shown = result if parts is None else parts.model_copy(update={"alerts": result.alerts})
        print(shown.model_dump_json(indent=2))
        return EXIT_OK
    if as_csv:
        if excel:
            excel_stdout()
        _report_csv(parts or result)
        err = Console(stderr=True)  # a CSV has no place for them, and a script must still see them
        for warning in (parts or result).warnings:
            note(err, warning)
        for line in partial_report_lines(result.sources):
            note(err, line, "partial:")
        return EXIT_OK
    out = Console()
    _render_report(out, result, parts, breakdown)
    if days is not None and days.rows:
        _day_bars(out, days, spend.Lacking.of(result.warnings, loaded, reading=result.reading is not None))
    _attribution_lines(out, result)
    if fresh := freshness(result):
        out.print(fresh, style="dim", markup=False, highlight=False)
    for line in partial_report_lines(result.sources):
        note(out, line, "[yellow]partial:[/yellow]")
    for alert in result.alerts:
        note(out, alert, "[red]alert:[/red]")
    for warning in result.warnings:
        note(out, warning)
    return EXIT_OK


def _attribution_lines(out: Console, result: SpendResult) -> None:
    """What was set aside, by why: estimates under a bill or a subscription, and billing synced
    too soon to be the total (partial: a usage report or larger local estimates count instead)."""
    # A row of unpriced calls only (cost None) adds nothing to what was set aside.
    billed = [a.cost_usd or Decimal(0) for a in result.attribution if a.basis == "billed"]
    others = [a.cost_usd or Decimal(0) for a in result.attribution if a.basis != "billed"]
    if others:
        out.print(
            f"[dim]{format_usd(sum(others, Decimal(0)))} of estimates not added (billed data or a "
            "subscription covers them); see --json attribution[][/dim]"
        )
    if billed:
        out.print(
            f"[dim]{format_usd(sum(billed, Decimal(0)))} of billing not added yet (synced within the "
            "provider's reporting lag, so possibly partial: the usage report or larger local estimates "
            "are the total for those days); see --json attribution[][/dim]"
        )


def freshness(result: SpendResult) -> str | None:
    """How fresh each provider's report is (JSON's ``sources[]``): billed rows look alike whether
    synced a minute or a week ago. None without providers. A failed refresh is said by its warning.
    The OTLP receiver's sources (``otlp:<agent>``) are named with when their last event came, as
    get_spend's ``sources`` names them: spend sent over OpenTelemetry had no line saying how fresh."""
    from cost_mcp.analytics.spend import OTLP_KIND

    synced = [
        f"{s.source} {s.last_success[:16].replace('T', ' ')} UTC"
        + (" (last event received)" if s.kind == OTLP_KIND else "")
        for s in result.sources
        if s.last_success
        and (
            (s.kind in ("billing api", "usage api") and s.source not in ATTRIBUTION_ONLY)
            or s.kind == OTLP_KIND
        )
    ]
    return f"provider data as of: {', '.join(synced)}" if synced else None


def _report_csv(result: SpendResult) -> None:
    writer = csv.writer(sys.stdout)
    dims = [d for d in result.group_by if d != "basis"]  # every row has its basis column
    # By model, a row sums every id its model was logged under (the table's "(+N)"): the ids go in
    # a last column, so that scripts reading the earlier columns by position read them as before.
    ids = "model" in dims
    header = [*dims, "basis", "cost_usd", "requests", "total_tokens", "unpriced_requests"]
    # Last, so that scripts reading the earlier columns by position read them as before: false when
    # the answer's gap (a bill missing, logs unread) may be in the row, whose cost_usd is then at
    # least (the table's "≥"; a number column cannot carry the mark).
    writer.writerow([*header, *(["model_ids"] if ids else []), "complete"])
    for row in result.rows:
        cells = [
            *(csv_cell(row.group[d] or "") for d in dims),
            row.basis,
            UNPRICED if row.unpriced_requests and not row.cost_usd else plain_usd(row.cost_usd),
            "" if row.requests is None else row.requests,
            "" if row.tokens is None else row.tokens.total_tokens,
            row.unpriced_requests,
        ]
        if ids:
            # Empty when the row is the one id shown, as model_ids is null in --json.
            cells.append(csv_cell(" ".join(row.model_ids or [])))
        writer.writerow([*cells, "true" if row.complete else "false"])


def _render_report(
    out: Console, result: SpendResult, parts: SpendResult | None, breakdown: str | None
) -> None:
    period = result.period
    # A provider's missing bill marks the total as a lower bound, as `budget status` marks its rows:
    # "$0.00" read as nothing spent, with only the PARTIAL note below to say otherwise.
    total = bounded(format_cost(result.total_usd, result.unpriced_requests), 0, complete=result.complete)
    out.print(
        f"[bold]{period.name}[/bold] {period.first_day} to {period.last_day} ({period.timezone}): "
        f"[bold]{total}[/bold]"
    )
    if not result.rows:
        return
    dims = [d for d in result.group_by if d != "basis"]
    under = _sub_rows(result, parts) if parts is not None and breakdown else {}
    # Token columns as ccusage shows them; money and counts right-aligned; names fold at 80.
    table = _tokens_table(out, *dims, "basis", then=("requests",))
    compact = _compact(out)
    merged: dict[str, set[str]] = {}
    split_gap = False
    for row in result.rows:
        keys = (_key_cell(row.group, row.model_ids, d, merged, row.basis) for d in dims)
        table.add_row(*keys, row.basis, *_row_cells(row, compact))
        subs = under.get(_key(row, result.group_by), [])
        split_gap = split_gap or (
            bool(subs) and rounding_note((s.cost_usd for s in subs), row.cost_usd) is not None
        )
        for sub in subs:
            label = f"└─{_key_cell(sub.group, sub.model_ids, breakdown or '', merged, sub.basis)}"
            # The sub-row's name sits in the first column, indented under its row.
            cells = [label, *[""] * len(dims)] if dims else [label]
            table.add_row(*cells[: len(dims) + 1], *_row_cells(sub, compact), style="dim")
    _print_tokens_table(out, table)
    _merged_note(out, merged)
    _rounding_line(out, (r.cost_usd for r in result.rows), result.total_usd)
    if split_gap:  # the same under a row: its sub-rows, each rounded, may miss it by a cent
        out.print(
            "[dim]some sub-rows, each rounded on its own, add up to a cent or so more or less than "
            "the row above them, which is their exact sum (--json gives every amount exactly)[/dim]",
            highlight=False,
        )


def _key_cell(
    group: Mapping[str, str | None],
    model_ids: list[str] | None,
    dim: str,
    merged: dict[str, set[str]],
    basis: str = "",
) -> str:
    """A row's ``dim`` value for the table; a model row that sums other ids too says how many with
    a short dim mark, and ``merged`` collects them for :func:`_merged_note`. Seat fees, which have
    no model, agent, project or session, are named as every answer names them
    (:func:`vocabulary.group_name`): a sub-row shows no basis column, so a bare "-" left a reader
    to guess what the amount was, and a row's "-" beside the sub-row's name was one thing twice."""
    from cost_mcp.analytics.vocabulary import group_name  # here: every command imports this module

    value = group.get(dim)
    shown = text(group_name(value, basis, "-"))
    if dim != "model" or value is None or not model_ids:
        return shown
    others = set(model_ids) - {value}
    if not others:
        return shown
    merged.setdefault(value, set()).update(others)
    # "(+2 ids)" folded between its words in an 80-column model column: one word, explained below.
    return f"{shown} [dim](+{len(others)})[/dim]"


def _rounding_line(
    out: Console, amounts: Iterable[Decimal | None], total: Decimal | None, what: str = "rows"
) -> None:
    """Under a table of amounts each rounded to the cent, the dim line :func:`money.rounding_note`
    gives when, as shown, they miss their total: $3.335 three times showed $3.34 three times under
    "$10.00" with nothing saying why."""
    if gap := rounding_note(amounts, total, what):
        out.print(f"[dim]{gap}[/dim]", highlight=False)


def _merged_note(out: Console, merged: dict[str, set[str]]) -> None:
    """Under a table: the other ids each merged model row sums."""
    for name, ids in sorted(merged.items()):
        # The ids a merged row sums were only in --json: a reader of "claude-sonnet-4.5" could not
        # tell that Claude Code's claude-sonnet-4-5-20250929 was in it. A line of its own, which
        # folds on a narrow terminal, rather than a wider name column.
        also = text(", ".join(sorted(ids)))
        out.print(
            f"[dim]{text(name)} (+{len(ids)}): also sums {also}, the same model as other logs spell it[/dim]"
        )


def _row_cells(row: SpendRow, compact: bool) -> list[str]:
    return [
        *_token_cells(row.tokens, compact),
        # A row the answer's gap may be in (its provider's bill missing, its agent's logs unread) is
        # at least, as the total above it: "2026-12-03 $0.0045" read as that day's whole.
        bounded(format_cost(row.cost_usd, row.unpriced_requests), 0, complete=row.complete),
        "-" if row.requests is None else f"{row.requests:,}",
    ]


def _key(row: SpendRow, dims: list[str]) -> tuple[str | None, ...]:
    return (*(row.group.get(d) for d in dims if d != "basis"), row.basis)


def _sub_rows(result: SpendResult, parts: SpendResult) -> dict[tuple[str | None, ...], list[SpendRow]]:
    """The finer rows under the row they split, costliest first."""
    under: dict[tuple[str | None, ...], list[SpendRow]] = {}
    for sub in parts.rows:
        under.setdefault(_key(sub, result.group_by), []).append(sub)
    for rows in under.values():
        # An unknown cost (None) is not the smallest known one: it goes last.
        rows.sort(key=lambda r: (r.cost_usd is not None, r.cost_usd or Decimal(0)), reverse=True)
    return under


def _day_bars(out: Console, days: SpendResult, lacking: Lacking) -> None:
    """One bar per day of the period up to today (days to come have no spend yet), zero days included;
    a day ``lacking`` may touch (a bill missing over it, logs unread) is at least its amount."""
    per_day: dict[str, Decimal] = {}
    unpriced: dict[str, int] = {}
    for row in days.rows:
        key = row.group["day"] or ""
        per_day[key] = per_day.get(key, Decimal(0)) + (row.cost_usd or Decimal(0))
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
        # "2026-12-01 $0.00" read as nothing spent that day while its Anthropic bill was missing.
        complete = not lacking.touches({"day": key}, ["billed", "estimated"])
        shown = bounded(format_cost(amount, unpriced.get(key, 0)), 0, complete=complete)
        out.print(f"{key} {'█' * blocks:<{width}} {shown}")
        day += timedelta(days=1)


# --- export ---------------------------------------------------------------------------------------


@cli.command()
@period_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json", "focus"]),
    default="csv",
    show_default=True,
    help="csv or json: every usage event, provider bucket and seat-fee day (those not of basis attribution "
    "sum to the period's total); focus: FinOps FOCUS rows (CSV, or Parquet when --output ends in .parquet) "
    "that sum to the period's total",
)
@click.option("--output", "-o", default="-", help="file to write (default: stdout)")
@excel_option
def export(fmt: str, output: str, excel: bool, **period: Any) -> int:
    """Every usage event, provider bucket and seat-fee day of a period.

    As CSV (the default), JSON, or FinOps FOCUS rows.
    """
    from cost_mcp.analytics.export import FIELDS, export_records

    if excel and (fmt == "json" or output.lower().endswith(".parquet")):
        raise click.UsageError("--excel is for CSV: give --format csv or focus, and an --output not .parquet")
    with ledger() as (loaded, conn):
        p = resolve_period(loaded, period)
        if fmt == "focus" and output.lower().endswith(".parquet"):
            try:
                _write_focus_parquet(Path(output), conn, loaded, p)
            except OSError as exc:
                raise _unwritable(output, exc, written=True) from None
            _export_notes(conn, loaded, p)
            return EXIT_OK
        try:
            # utf-8-sig writes the byte-order mark Excel needs before the first row (excel_stdout).
            encoding = "utf-8-sig" if excel else "utf-8"
            target = sys.stdout if output == "-" else open(output, "w", newline="", encoding=encoding)  # noqa: SIM115
        except OSError as exc:
            raise _unwritable(output, exc) from None
        try:
            if excel and target is sys.stdout:
                excel_stdout()
            records = export_records(conn, loaded, p)
            if fmt == "focus":
                _write_focus(target, conn, loaded, p)
            elif fmt == "csv":
                writer = csv.DictWriter(target, fieldnames=FIELDS)
                writer.writeheader()
                writer.writerows({k: csv_cell(v) for k, v in record.items()} for record in records)
            else:
                target.write("[\n")
                for i, record in enumerate(records):
                    target.write(("," if i else "") + json.dumps(_json_record(record)) + "\n")
                target.write("]\n")
            if target is not sys.stdout:
                target.close()  # its last bytes are written here: a full disk fails here too
        except OSError as exc:
            if target is sys.stdout:
                raise  # cli.app says it, as for any command's output
            with contextlib.suppress(OSError):  # closing flushes the bytes the disk refused again
                target.close()
            raise _unwritable(output, exc, written=True) from None
        finally:
            if target is not sys.stdout:
                target.close()
        _export_notes(conn, loaded, p)
    return EXIT_OK


def _export_notes(conn: Conn, settings: Settings, p: Period) -> None:
    """What the exported rows lack, on stderr as `report --csv` says it (a file has no place for it,
    and a month-end reconciliation must see it): a provider's bill never synced or failing, days
    its bill has not reached yet, amounts in another currency, logs not read, unpriced calls."""
    from cost_mcp.analytics import spend
    from cost_mcp.analytics.coverage import partial_report_lines
    from cost_mcp.catchup import envelope

    result = envelope(conn, settings, spend.get_spend(conn, settings, p, take_alerts=False))
    err = Console(stderr=True)
    for warning in result.warnings:
        note(err, warning)
    for line in partial_report_lines(result.sources):
        note(err, line, "partial:")


def _unwritable(output: str, exc: OSError, *, written: bool = False) -> InvalidInputError:
    """The one-line error for an --output that cannot be written (a missing folder, a folder, no
    permission, a full disk), instead of the traceback it was. ``written``: the file was begun, so
    what it holds is removed (a truncated export read as a whole one would be a wrong total)."""
    reason = exc.strerror or str(exc)
    removed = ""
    if written and Path(output).is_file():  # never a device or pipe given as --output
        Path(output).unlink(missing_ok=True)
        removed = "; the incomplete file was removed"
    if full_disk(exc):
        return InvalidInputError(
            f"cannot write {output}: the disk is full ({reason}){removed}. Free some space there, or "
            "give --output a file on another disk"
        )
    return InvalidInputError(
        f"cannot write {output} ({reason}){removed}: give --output a file in a folder that exists and "
        "that you may write to"
    )


def _json_record(record: dict[str, str | int]) -> dict[str, object]:
    """An export record for JSON: money as a number (null when unpriced), as in MCP results."""
    from cost_mcp.money import json_usd

    cost = record["cost_usd"]
    value = None if cost == UNPRICED else json_usd(Decimal(str(cost)))
    return {**record, "cost_usd": value}


def _write_focus(target: TextIO, conn: Conn, settings: Settings, p: Period) -> None:
    from cost_mcp.analytics.focus import COLUMNS, focus_rows

    result = focus_rows(conn, settings, p)
    writer = csv.DictWriter(target, fieldnames=COLUMNS)
    writer.writeheader()
    # As every CSV: finance opens this one in a spreadsheet, where a provider's project named
    # `=cmd|...` would run as a formula. Only such names differ from the Parquet (no spreadsheet
    # reads that as formulas); numbers, credits included, stay numbers, and the validator accepts it.
    writer.writerows({k: csv_cell(v) for k, v in row.items()} for row in result.rows)
    _focus_warning(result)


def _write_focus_parquet(path: Path, conn: Conn, settings: Settings, p: Period) -> None:
    from cost_mcp.analytics.focus import focus_rows, write_parquet

    result = focus_rows(conn, settings, p)
    write_parquet(result, path)
    _focus_warning(result)


def _focus_warning(result: FocusExport) -> None:
    if result.unpriced_requests:
        print(
            f"warning: {result.unpriced_requests:,} call(s) have no known price: they are counted in "
            "x_UnpricedRequests and not in any cost column (add their prices to the price override file)",
            file=sys.stderr,
        )


# --- the ccusage-style views ------------------------------------------------------------------------

BLOCKS_MAX_DAYS = 366
"""A year of 5-hour blocks (ccusage has no bound). The usage_blocks tool keeps 31: its rows fill an
assistant's context, where a terminal table does not."""


@cli.command()
@click.option("--active", is_flag=True, help="only the active block, with its projection")
@click.option("--days", default="3", help=f"days back (default 3, at most {BLOCKS_MAX_DAYS})")
@click.option("--token-limit", help="tokens to compare the active block with, or 'max'")
@click.option("--agent", help="whose usage: claude-code (default), codex, gemini-cli...")
@json_option("the full result as JSON")
def blocks(active: bool, days: str, token_limit: str | None, agent: str | None, as_json: bool) -> int:
    """A coding agent's 5-hour usage windows (ccusage blocks); Claude Code's by default."""
    from cost_mcp.analytics.claude_code import CLAUDE_CODE, usage_blocks
    from cost_mcp.models import checked

    limit: int | str | None = token_limit
    if limit is not None and limit != "max":
        limit = checked(int, limit, "--token-limit (a number of tokens, or max)")
    back = checked(Annotated[int, Field(ge=1, le=BLOCKS_MAX_DAYS)], days, f"--days (1 to {BLOCKS_MAX_DAYS})")
    zone: list[ZoneInfo] = []  # the configured zone, for the table: blocks themselves are UTC

    def query(s: Settings, conn: Conn) -> UsageBlocks:
        zone.append(s.tz)
        return usage_blocks(
            conn,
            s,
            days=back,
            token_limit=limit,  # type: ignore[arg-type]
            agent=agent or CLAUDE_CODE,
            only_active=active,
        )

    return answer(
        query,
        as_json=as_json,
        render=lambda out, result: _render_blocks(out, result, active, zone[0] if zone else ZoneInfo("UTC")),
    )


def _local(iso: str, tz: ZoneInfo) -> datetime:
    """A result's UTC timestamp (``...Z``) in the configured zone."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(tz)


def _render_blocks(out: Console, result: UsageBlocks, only_active: bool, tz: ZoneInfo) -> None:
    from cost_mcp.periods import wall_clock

    shown = [result.active] if only_active else [b for b in result.blocks if not b.is_gap]
    listed = [b for b in shown if b is not None]
    if not listed:
        out.print("No active 5-hour block." if only_active else "No usage in these days.")
    else:
        table = _tokens_table(out, f"block start ({tz.key})", "")
        compact = _compact(out)
        for b in listed:
            table.add_row(
                wall_clock(_local(b.start, tz)),
                "active" if b.is_active else "",
                *_token_cells(b.tokens, compact),
                format_cost(b.cost_usd, b.unpriced_requests),
            )
        _print_tokens_table(out, table)
    active = result.active
    if active is not None and active.projection is not None:
        # Calls with no known price are in the tokens but not the money: a dollar rate would be of
        # the priced calls only, so it is left out (as the status line does) and the cost says so.
        unpriced = active.unpriced_requests
        per_hour = active.burn_rate.cost_per_hour_usd if active.burn_rate else None
        rate = f"{format_usd(per_hour)}/h, " if per_hour is not None and not unpriced else ""
        # A partial answer's projection is of what is read so far: at least (money.bounded).
        cost = bounded(format_cost(active.projection.cost_usd, unpriced), 0, complete=result.complete)
        out.print(
            f"active block: {rate}projected {active.projection.total_tokens:,} tokens, "
            f"{cost} by {wall_clock(_local(active.end, tz), '%H:%M')} {tz.key}",
            highlight=False,
        )
    if active is not None and active.token_limit_status is not None:
        # Printed with or without a projection: a block of one call has no rate yet, and may
        # already be over the limit.
        st = active.token_limit_status
        out.print(
            f"token limit {st.limit:,}: {st.percent_used}% used, {st.projected_tokens:,} tokens "
            f"projected ({st.status})",
            highlight=False,
        )


@cli.command()
@click.argument("session_id", metavar="[ID]", required=False)
@click.option("--agent", help="whose sessions: claude-code (default), codex, gemini-cli...")
@json_option("the full result as JSON")
def session(session_id: str | None, agent: str | None, as_json: bool) -> int:
    """One coding-agent session: cost, tokens, models, burn rate.

    ID defaults to the most recent session (Claude Code's, or --agent's) of this folder, else
    anywhere; with no Claude Code usage, the most recent session of any agent.
    """
    from cost_mcp.analytics.claude_code import session_usage

    return answer(
        lambda s, conn: session_usage(conn, s, session_id, str(Path.cwd()), agent),
        as_json=as_json,
        render=_render_session,
    )


def _span(minutes: float) -> str:
    """A session's length as a person says it: "45 min", "2h05m", "3d 4h" (a month-long session
    read "over 49500 min")."""
    whole_minutes = round(minutes)
    if whole_minutes < 60:
        return f"{whole_minutes} min"
    hours, rest = divmod(whole_minutes, 60)
    if hours < 24:
        return f"{hours}h{rest:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def _render_session(out: Console, result: SessionUsage) -> None:
    # Its logs partly read (or some unreadable): the total so far is a lower bound (money.bounded).
    total = bounded(format_cost(result.cost_usd, result.unpriced_requests), 0, complete=result.complete)
    out.print(
        f"session {text(result.session_id)} ({text(result.project)}): "
        f"[bold]{total}[/bold], "
        f"{counted(result.requests, 'call')} over {_span(result.duration_minutes)}",
        highlight=False,
    )
    table = _tokens_table(out, "model", "calls")
    compact = _compact(out)
    for m in result.models:
        cells = _token_cells(m.tokens, compact)
        table.add_row(text(m.model), f"{m.requests:,}", *cells, _money(m.cost_usd))
    _print_tokens_table(out, table)
    _rounding_line(out, (m.cost_usd for m in result.models), result.cost_usd)
    if result.burn_rate is not None:
        # Of the priced calls only: said so (or "unpriced" when none is), never a bare $0.00.
        rate = format_cost(result.burn_rate.cost_per_hour_usd, result.unpriced_requests)
        out.print(f"burn rate: {rate} per hour", highlight=False)


@cli.command()
@period_options
@json_option("the full result as JSON")
def forecast(as_json: bool, **period: Any) -> int:
    """Burn rate, end-of-period projection and unusual days."""
    from cost_mcp.analytics import forecast as forecasts

    return answer(
        lambda s, conn: forecasts.spend_forecast(conn, s, resolve_period(s, period)),
        as_json=as_json,
        render=_render_forecast,
    )


def _render_forecast(out: Console, result: Forecast) -> None:
    period = result.period
    # A month of a model with no known price read "$0.00 spent ... $0.00 projected": such calls
    # are in none of these amounts, which then read "unpriced" (or "$x + unpriced"), never $0.
    unpriced = result.unpriced_requests
    # A provider's bill missing (or logs still being read): both are at least, as report's total says
    # (money.bounded); "$0.00 spent ... $0.00 projected" read as nothing spent, the note below the only sign.
    spent, projected = (
        bounded(format_cost(x, unpriced), 0, complete=result.complete)
        for x in (result.spent_usd, result.projected_usd)
    )
    out.print(
        f"[bold]{period.name}[/bold] {period.first_day} to {period.last_day}: "
        f"{spent} spent in {result.days_elapsed} of "
        f"{counted(result.days_in_period, 'day')}; "
        # Named: a budget's projection extrapolates the period so far, this one the last 7 days.
        f"[bold]{projected}[/bold] projected at the last 7 days' rate",
        highlight=False,
    )
    # Rates of the amounts above: at least, as they are, when the answer lacks something.
    period_rate = bounded(
        format_cost(result.burn_rate_period_usd_per_day, unpriced), 0, complete=result.complete
    )
    week_rate = bounded(format_usd(result.burn_rate_7d_usd_per_day), 0, complete=result.complete)
    out.print(
        f"burn rate: {period_rate}/day over the period, {week_rate}/day over the 7 days before today",
        highlight=False,
    )
    if unpriced:
        note(out, f"{unpriced:,} call(s) of the period have no known price and are in none of these amounts")
    if result.anomalies:
        table = Table("unusual day", box=None)
        for name in ("cost", "baseline", "x"):
            table.add_column(name, justify="right")
        table.add_column("top models")
        for a in result.anomalies:
            ratio = f"{a.ratio:.1f}" if a.ratio is not None else "-"
            table.add_row(
                a.day,
                format_usd(a.cost_usd),
                format_usd(a.baseline_usd),
                ratio,
                text(", ".join(a.top_models)),
            )
        show(out, table)
    for alert in result.alerts:
        note(out, alert, "[red]alert:[/red]")


# --- savings and compare ------------------------------------------------------------------------------

_SAVINGS_DIMS = "provider, model, agent, project, session, source"


@cli.command(cls=GreedyCommand)
@period_options
@group_by_option(_SAVINGS_DIMS)
@json_option("the full result as JSON")
def savings(group_by: tuple[str, ...], as_json: bool, **period: Any) -> int:
    """Where recorded calls could have cost less.

    Three findings: a cheaper model mix, caching, and the batch rate.
    """
    from cost_mcp.analytics import savings as saving
    from cost_mcp.pricing import Pricer

    def compute(s: Settings, conn: Conn) -> SavingsReport:
        p = resolve_period(s, period)
        pricer = Pricer.from_file(s.prices_file)
        return saving.savings_report(conn, s, pricer, p, saving.check_dims(list(group_by) or None))

    return answer(compute, as_json=as_json, render=_render_savings)


def _render_savings(out: Console, result: SavingsReport) -> None:
    period = result.period
    out.print(
        f"[bold]{period.name}[/bold] {period.first_day} to {period.last_day} ({period.timezone}): "
        f"{counted(result.calls, 'call')}, "
        f"{bounded(format_usd(result.cost_usd), 0, complete=result.complete)} "
        "at list price",
        highlight=False,
    )
    mix = result.model_mix
    out.print(
        f"\n[bold]model mix: {format_usd(mix.saving_usd)}[/bold] moving {mix.short_answer_calls:,} "
        f"short-answer calls of {mix.calls:,} to a cheaper model "
        f"({format_usd(mix.all_calls_saving_usd)} moving every call)",
        highlight=False,
    )
    dims = _varying(out, [row.group for row in mix.rows])
    table = Table(*dims, "calls", "short", "cost", "target", "saving", box=None)
    for row in mix.rows:
        table.add_row(
            *(row.group[d] for d in dims),
            f"{row.calls:,}",
            f"{row.short_answer_calls:,}",
            format_usd(row.cost_usd),
            row.target or "-",
            format_usd(row.short_answer_saving_usd),
        )
    if mix.rows:
        show(out, table)
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
    dims = _varying(out, [c.group for c in cache.rows])
    table = Table(
        *dims,
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
            *(c.group[d] for d in dims),
            f"{c.calls:,}",
            f"{c.cache_share_percent}%",
            format_usd(c.net_cache_saving_usd),
            f"{c.prefix_candidate_calls:,}",
            f"{c.unneeded_1h_writes:,}",
            format_usd(c.saving_usd),
        )
    if cache.rows:
        show(out, table)
    _more(out, cache.more_rows, cache.more_rows_saving_usd)
    _sessions(out, cache.top_sessions)
    batch = result.batch
    out.print(
        f"\n[bold]batch: {format_usd(batch.saving_usd)}[/bold] ({len(batch.rows) + batch.more_rows} of "
        f"{counted(batch.agents_checked, 'agent')} look non-interactive)",
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
        show(out, table)
    _more(out, batch.more_rows, batch.more_rows_saving_usd)
    _sessions(out, batch.top_sessions)
    out.print()
    for line in result.notes:
        out.print(f"[dim]{text(line)}[/dim]", highlight=False)


def _varying(out: Console, groups: Sequence[Mapping[str, str | None]]) -> list[str]:
    """The group dimensions that differ between the rows shown, as the table's columns; one every
    row shares (one agent, one project) is said once above the table instead of in each row, which
    left an 80-column terminal too little room for the names that differ."""
    if len(groups) < 2:
        return list(groups[0]) if groups else []
    first = groups[0]
    shared = [d for d in first if all(g[d] == first[d] for g in groups)]
    if shared:
        said = ", ".join(f"{d} {first[d] or '-'}" for d in shared)
        out.print(f"  every row shown: {said}", highlight=False, markup=False)
    return [d for d in first if d not in shared]


def _more(out: Console, rows: int, saving: Decimal) -> None:
    if rows:
        out.print(
            f"  ... and {counted(rows, 'more row')} saving {format_usd(saving)} (see --json)", highlight=False
        )


def _sessions(out: Console, top: list[SessionSaving]) -> None:
    if top:
        out.print(
            "  top sessions: " + ", ".join(f"{s.session} ({format_usd(s.saving_usd)})" for s in top),
            highlight=False,
            markup=False,
        )


@cli.command(cls=GreedyCommand)
@click.option(
    "--before", help="period name, month YYYY-MM or YYYY-MM-DD..YYYY-MM-DD (default: the days before --after)"
)
@click.option("--after", help="period name, month YYYY-MM or YYYY-MM-DD..YYYY-MM-DD (default: last_week)")
@click.option("--timezone", help="IANA timezone (default: configured)")
@group_by_option(_SAVINGS_DIMS)
@json_option("the full result as JSON")
def compare(
    before: str | None, after: str | None, timezone: str | None, group_by: tuple[str, ...], as_json: bool
) -> int:
    """Two periods side by side, the change split into its parts."""
    from cost_mcp.analytics import savings as saving
    from cost_mcp.periods import periods_to_compare
    from cost_mcp.pricing import Pricer

    def compute(s: Settings, conn: Conn) -> Comparison:
        tz = parse_zone(timezone, s.tz)
        earlier, later, notes = periods_to_compare(before, after, tz=tz, week_start=s.week_start)
        pricer = Pricer.from_file(s.prices_file)
        return saving.compare_periods(
            conn, s, pricer, earlier, later, saving.check_dims(list(group_by) or None, "a comparison"), notes
        )

    return answer(compute, as_json=as_json, render=_render_compare)


def _render_compare(out: Console, result: Comparison) -> None:
    table = Table("", "before", "after", box=None)
    b, a = result.before, result.after
    table.add_row(
        "period",
        f"{b.period.first_day} to {b.period.last_day}",
        f"{a.period.first_day} to {a.period.last_day}",
    )
    # A side whose calls all lack a price read "$0.00" and "0" calls: unknown, not nothing spent.
    table.add_row(
        "calls at list price",
        *(bounded(format_cost(x.cost_usd, x.unpriced_calls), 0, complete=result.complete) for x in (b, a)),
    )
    table.add_row(
        "calls",
        *(f"{x.calls:,}" + (f" + {x.unpriced_calls:,} unpriced" if x.unpriced_calls else "") for x in (b, a)),
    )
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
    show(out, table)
    pct = f" ({result.change_percent:+}%)" if result.change_percent is not None else ""
    left_out = b.unpriced_calls + a.unpriced_calls
    if left_out:
        pct += f" of priced calls; {counted(left_out, 'unpriced call')} left out"
    out.print(f"\n[bold]change: {format_usd(result.change_usd)}[/bold]{pct}", highlight=False)
    # A table, so that a meaning too long for the line folds under itself, not under the part.
    parts = Table(
        "part", Column("usd", justify="right", no_wrap=True), "meaning", box=None, show_header=False
    )
    for part in result.parts:
        parts.add_row(part.part, format_usd(part.usd), part.meaning)
    show(out, parts, highlight=False)
    _rounding_line(out, (part.usd for part in result.parts), result.change_usd, "the parts")
    if result.rows:
        money = [Column(name, justify="right") for name in ("before", "after", "change")]
        rows = Table(*result.group_by, *money, box=None)
        merged: dict[str, set[str]] = {}
        for r in result.rows:
            # A side of unpriced calls only, and the change against it, are "unpriced", never $0.00.
            rows.add_row(
                *(_key_cell(r.group, r.model_ids, d, merged) for d in result.group_by),
                format_cost(r.before_cost_usd, r.before_unpriced_calls),
                format_cost(r.after_cost_usd, r.after_unpriced_calls),
                format_cost(r.change_usd),
            )
        show(out, rows)
        _merged_note(out, merged)
        if result.more_rows:
            out.print(f"  ... and {counted(result.more_rows, 'more row')} (see --json)")
    # before $0.015 and after $0.045 read $0.02 and $0.04 beside a change of $0.03, with no word.
    pairs: list[tuple[Decimal | None, Decimal | None, Decimal | None]] = [
        (b.cost_usd, a.cost_usd, result.change_usd)
    ]
    pairs += [(r.before_cost_usd, r.after_cost_usd, r.change_usd) for r in result.rows]
    if any(x is not None and y is not None and rounding_note([y, -x], change) for x, y, change in pairs):
        out.print(
            "[dim]before and after are each rounded on their own, so a change may differ by a cent from "
            "their difference as shown; it is the exact difference, rounded once (--json gives every "
            "amount exactly)[/dim]",
            highlight=False,
        )
    # Beside `report`, whose total is the bill, a month of $1.2M billed read "spend $0.01" here.
    note(out, _COMPARE_SCOPE)


_COMPARE_SCOPE = (
    "these are the calls recorded in the ledger (agents' logs, record_usage) at list price: provider "
    "bills and seat fees are not split per call and are left out, so they are not the periods' spend "
    "(`cost-mcp report` gives that)"
)
