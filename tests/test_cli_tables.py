"""A large token table costs the CLI little per row, and prints exactly what rich prints of its cells.

`cost-mcp report --group-by session` over a year of 2,792 sessions took 7.5 s, nearly all of it
rich measuring each cell (parsing it for markup each time) four or five times; the table now
measures a plain cell by its width and parses each cell once. Speed is measured in bench/; these
tests hold the output to rich's own, cell for cell, colours included."""

from __future__ import annotations

import io

import pytest
from rich import box
from rich.table import Table

from cost_mcp.cli.app import Console, _cell_width, column_widths, show
from cost_mcp.cli.spend import TOKEN_COLUMNS_LEFT_OUT, _print_tokens_table, _readable_keys, _tokens_table

CELLS = [
    "",
    "-",
    "1,234,567",
    "3.21M",
    "$12,285.26",
    "1caa0c48-3402-42a6-b4aa-4a203f1fb241",
    "search-index-12",
    "[dim]marked up[/dim]",
    "[not markup",
    "12:30 :smile: x",
    "日本語のプロジェクト",
    "e\u0301",
    "zero\u200bwidth",
    "tab\there",
    "two\nlines",
    "bell\x07and\rreturn",
]


@pytest.mark.parametrize("width", [1, 6, 40, 80, 200])
def test_a_cells_width_is_what_rich_measures(width: int) -> None:
    out = Console(width=width, file=io.StringIO())
    limit = out.options.max_width
    assert [_cell_width(out, c, limit) for c in CELLS] == [out.measure(c).maximum for c in CELLS]
    texts = [out.render_str(c) for c in CELLS]
    assert [_cell_width(out, t, limit) for t in texts] == [out.measure(t).maximum for t in texts]


def _table(out: Console, *, plain: bool = False) -> Table:
    """The token table of a report by session; ``plain``: a plain rich table of the same columns,
    which keeps its cells as the strings added."""
    table = _tokens_table(out, "session", "basis", then=("requests",))
    if plain:
        columns = table.columns
        table = Table(box=None)
        for column in columns:
            table.add_column(
                column.header, justify=column.justify, no_wrap=column.no_wrap, overflow=column.overflow
            )
    for i, key in enumerate(CELLS[1:] * 20):
        counts = [f"{i * 7919:,}", f"{i}.5k", "0", "[bold]12[/bold]"]
        table.add_row(key, "estimated", *counts, f"${i * 7:,}.50", str(i))
    return table


@pytest.mark.parametrize("width", [40, 60, 80, 120, 200])
def test_a_token_table_prints_what_rich_prints_of_its_strings(width: int) -> None:
    def console() -> Console:
        return Console(width=width, file=io.StringIO(), force_terminal=True, color_system="truecolor")

    got, want = console(), console()
    _print_tokens_table(got, _table(got))
    table = _table(
        want, plain=True
    )  # rich's own way with the same cells: each a string it parses when it needs
    assert all(isinstance(cell, str) for column in table.columns for cell in column.cells)
    _readable_keys(want, table)
    show(want, table, optional=TOKEN_COLUMNS_LEFT_OUT)
    printed, expected = (c.file.getvalue() for c in (got, want))  # type: ignore[attr-defined]
    assert printed.startswith(expected) and "\x1b[" in expected
    # Its rounded counts ("3.5k") said so, as before, below the width that shows them whole.
    assert ("token counts rounded" in printed[len(expected) :]) == (width < 120)


@pytest.mark.parametrize("width", [30, 40, 60, 80, 120])
def test_the_column_widths_are_those_rich_prints(width: int) -> None:
    """column_widths asks rich for its layout through public API only; the widths are read back from
    the table rich prints (box.ASCII: ``|`` between columns, their padding included), squeezed or
    not: at 30 columns some are squeezed to nothing, padding and all."""
    out = Console(width=width, file=io.StringIO())
    table = _tokens_table(out, "session", "basis", then=("requests",))
    table.box = box.ASCII
    for i, key in enumerate(CELLS[1:] * 3):
        table.add_row(key, "subscription", f"{i * 7919:,}", "1,234,567", "0", "12", f"${i * 7:,}.50", str(i))
    table.columns[0].width = 12  # a fixed width, kept where there is room
    widths = column_widths(out, table)
    out.print(table)
    header = out.file.getvalue().splitlines()[1]  # type: ignore[attr-defined]
    assert [max(len(cell) - 2, 0) for cell in header.strip("|").split("|")] == widths
    assert (widths[0] == 12) == (width == 120)


@pytest.mark.parametrize("pad_edge", [True, False])
def test_a_table_without_its_first_column_pads_its_new_first_one_as_a_first(pad_edge: bool) -> None:
    """Leaving out a column makes a new table of the others: a first column left out, the next one
    is padded as the first (no left padding without ``pad_edge``), exactly as a table made without it."""
    rows = [("long-optional-column-value", "claude-opus-4-1", "$1,234.56")] * 3

    def printed(headers: tuple[str, ...], optional: tuple[str, ...]) -> list[str]:
        file = io.StringIO()
        out = Console(width=24, file=file)
        table = Table(box=None, pad_edge=pad_edge)
        for header in headers:
            table.add_column(header)
        for row in rows:
            table.add_row(*row[-len(headers) :])
        show(out, table, optional=optional)
        return file.getvalue().splitlines()

    narrowed, alone = printed(("note", "model", "cost"), ("note",)), printed(("model", "cost"), ())
    assert narrowed[: len(alone)] == alone
    assert " ".join("".join(narrowed[len(alone) :]).split()).startswith("not shown, to fit 24 columns: note")
    assert alone[0].startswith(" model" if pad_edge else "model")
