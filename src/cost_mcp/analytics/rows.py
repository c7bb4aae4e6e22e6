"""Bounded lists of rows: what an assistant can read, and how to ask for the rest.

A breakdown by session over a busy quarter has thousands of rows; an assistant cannot use them all
(they fill its context window). So a tool answers with one *page*: the ``limit`` largest rows from
``offset`` on (largest first; :data:`DEFAULT_LIMIT` unless asked), and the caller folds every row
not on the page into an "other" row, so the rows still sum exactly to the total. ``next_cursor``
asks for the next page. The CLI passes no window and gets every row, through the same functions.

This module only chooses the rows; each result type says how its "other" row sums (its ``merge``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from cost_mcp.errors import InvalidInputError

T = TypeVar("T")

DEFAULT_LIMIT = 25
"""Rows a tool returns unless asked for more: enough to see what matters, small enough to read."""
MAX_LIMIT = 500
"""The most rows one answer may carry (about 250 KB of JSON for a spend breakdown)."""
OTHER = "(other)"
"""The group value of the row that carries the rows not shown."""
_PREFIX = "rows:"


@dataclass(frozen=True)
class Window:
    """Which rows to show: ``limit`` rows from ``offset`` in largest-first order."""

    limit: int = DEFAULT_LIMIT
    offset: int = 0

    @classmethod
    def of(cls, limit: int | None = None, cursor: str | None = None) -> Window:
        """The window a tool call asks for; InvalidInputError names the fix for a bad value."""
        size = DEFAULT_LIMIT if limit is None else limit
        if not 1 <= size <= MAX_LIMIT:
            raise InvalidInputError(f"limit must be between 1 and {MAX_LIMIT}, not {size}")
        return cls(limit=size, offset=decode_cursor(cursor) if cursor else 0)


@dataclass(frozen=True)
class Page(Generic[T]):
    """The rows shown, the rows left out (for the "other" row), and where the next page starts."""

    shown: list[T]
    rest: list[T]
    total_rows: int
    next_offset: int | None

    @property
    def truncated(self) -> bool:
        """True when some rows are not shown."""
        return bool(self.rest)

    @property
    def next_cursor(self) -> str | None:
        """The cursor of the next page, or None on the last one."""
        return encode_cursor(self.next_offset) if self.next_offset is not None else None


def page(items: Sequence[T], size: Callable[[T], object], window: Window | None) -> Page[T]:
    """One page of ``items``: the window's rows by ``size``, largest first (ties keep the input
    order), shown in the input order; the others in ``rest``. ``window`` None shows every row.

    Showing the page in the input order keeps time-ordered results (grouped by day, week or month)
    chronological, and largest-first results largest first.
    """
    if window is None or (window.offset == 0 and len(items) <= window.limit):
        return Page(list(items), [], len(items), None)
    # sorted() is stable: equal sizes keep their input order, so pages never overlap or skip a row.
    ranked = sorted(range(len(items)), key=lambda i: size(items[i]), reverse=True)  # type: ignore[arg-type,return-value]
    end = window.offset + window.limit
    chosen = set(ranked[window.offset : end])
    shown = [item for i, item in enumerate(items) if i in chosen]
    rest = [item for i, item in enumerate(items) if i not in chosen]
    return Page(shown, rest, len(items), end if end < len(items) else None)


def encode_cursor(offset: int) -> str:
    """An opaque cursor for the page starting at ``offset``."""
    return base64.urlsafe_b64encode(f"{_PREFIX}{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The offset a cursor stands for; InvalidInputError when it is not one this server gave."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if text.startswith(_PREFIX) and (offset := int(text[len(_PREFIX) :])) >= 0:
            return offset
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise InvalidInputError(
        f"cursor {cursor[:40]!r} is not one this server gave: pass next_cursor from the previous result "
        "unchanged, with the same other arguments, or omit it for the first rows"
    )
