"""Bounded lists of rows: what an assistant can read, and how to ask for the rest.

A breakdown by session over a busy quarter has thousands of rows; an assistant cannot use them all
(they fill its context window). So a tool answers with one *page*: the ``limit`` largest rows from
``offset`` on (largest first; :data:`DEFAULT_LIMIT` unless asked), and the caller folds every row
not on the page into an "other" row, so the rows still sum exactly to the total. ``next_cursor``
asks for the next page. The CLI passes no window and gets every row, through the same functions.

A cursor says which question it pages (a digest of the tool and the arguments that choose the
rows) and which rows the pages before it showed (a digest of their keys), so a cursor from another
question, or past the last row, is refused, and a page cut from rows that changed since says so
(:meth:`Window.follow`).

This module only chooses the rows; each result type says how its "other" row sums (its ``merge``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from cost_mcp.errors import InvalidInputError
from cost_mcp.output import counted

T = TypeVar("T")

DEFAULT_LIMIT = 25
"""Rows a tool returns unless asked for more: enough to see what matters, small enough to read."""
MAX_LIMIT = 500
"""The most rows one answer may carry (about 250 KB of JSON for a spend breakdown)."""
OTHER = "(other)"
"""The group value of the row that carries the rows not shown."""
_LEGACY_PREFIX = "rows:"
"""What a cursor of a server before cursors named their question held: ``rows:<offset>``."""
_QUESTION_BYTES = 6
_MARK_BYTES = 4
_OFFSET_BYTES = 4
# A cursor is question digest + mark + offset: 14 bytes, 19 characters of base64.
_CURSOR_BYTES = _QUESTION_BYTES + _MARK_BYTES + _OFFSET_BYTES

CHANGED_WARNING = (
    "rows changed since the page that gave this cursor (new or changed usage moved the ranking): a "
    "row may be repeated or missed across pages; ask again without cursor for a consistent first page"
)
LEGACY_WARNING = (
    "this cursor came from an earlier version of this server and cannot be checked against this "
    "question or its data: a row may be repeated or missed; ask again without cursor to be sure"
)


def question_digest(*parts: object) -> bytes:
    """The digest of a question: the tool and the arguments that choose its rows, in a fixed order
    (not ``limit`` nor ``cursor``: a page may be larger or smaller than the one before)."""
    return hashlib.blake2b(repr(parts).encode(), digest_size=_QUESTION_BYTES).digest()


def _mark(keys: Iterable[object]) -> bytes:
    """The digest of a set of rows, by key: equal when the same rows came before a page, in any order."""
    return hashlib.blake2b("\0".join(sorted(map(str, keys))).encode(), digest_size=_MARK_BYTES).digest()


NONE_BEFORE = _mark(())
"""The mark of the first page: no row came before it."""


class Cut(Protocol):
    """What :meth:`Window.follow` reads of one list paged by the window (a :class:`Page` is one)."""

    @property
    def total_rows(self) -> int: ...
    @property
    def next_offset(self) -> int | None: ...
    @property
    def before(self) -> bytes: ...
    @property
    def through(self) -> bytes: ...


@dataclass(frozen=True)
class Window:
    """Which rows to show: ``limit`` rows from ``offset`` in largest-first order, for the question
    digested in ``question``; ``seen`` is the mark of the rows the cursor's earlier pages showed
    (None on a first page or for an old cursor, ``legacy``)."""

    limit: int = DEFAULT_LIMIT
    offset: int = 0
    question: bytes = field(default_factory=question_digest)
    seen: bytes | None = None
    legacy: bool = False

    @classmethod
    def of(cls, limit: int | None = None, cursor: str | None = None, asked: bytes | None = None) -> Window:
        """The window a tool call asks for (``asked``: its :func:`question_digest`); InvalidInputError names
        the fix for a bad value, or for a cursor given for another question."""
        size = DEFAULT_LIMIT if limit is None else limit
        if not 1 <= size <= MAX_LIMIT:
            raise InvalidInputError(f"limit must be between 1 and {MAX_LIMIT}, not {size}")
        asked = question_digest() if asked is None else asked
        if not cursor:
            return cls(limit=size, question=asked)
        given, seen, offset = decode_cursor(cursor)
        if given is None:
            return cls(limit=size, offset=offset, question=asked, legacy=True)
        if given != asked:
            raise InvalidInputError(
                f"cursor {cursor[:40]!r} was given for a different question: ask again without cursor, "
                "or with the same arguments as the call that returned it"
            )
        return cls(limit=size, offset=offset, question=asked, seen=seen)

    def follow(self, *cuts: Cut) -> tuple[str | None, list[str]]:
        """The next page's cursor (None on the last page) and the warnings of this page, for the
        lists one answer pages with this window (spend pages its rows and attribution together).

        Raises InvalidInputError when the cursor points past the last row of every list. Rows that
        changed since the cursor was given are answered with a warning, not refused: the user
        still wants the rest, and the rule is exact (the same rows came before this page, or a row
        may repeat or be missed), so a session whose cost grew but kept its place says nothing.
        """
        if self.offset and all(self.offset >= c.total_rows for c in cuts):
            rows = max((c.total_rows for c in cuts), default=0)
            raise InvalidInputError(
                f"cursor points past the last row (there are {counted(rows, 'row')} now): ask again without "
                "cursor for the first rows"
            )
        warnings = []
        if self.legacy:
            warnings.append(LEGACY_WARNING)
        elif self.seen is not None and self.seen != _combine(c.before for c in cuts):
            warnings.append(CHANGED_WARNING)
        ends = [c.next_offset for c in cuts if c.next_offset is not None]
        if not ends:
            return None, warnings
        return encode_cursor(self.question, _combine(c.through for c in cuts), max(ends)), warnings


def follow(window: Window | None, *cuts: Cut) -> tuple[str | None, list[str]]:
    """:meth:`Window.follow`, or no cursor and no warning when every row is shown (no window)."""
    return window.follow(*cuts) if window is not None else (None, [])


def _combine(marks: Iterable[bytes]) -> bytes:
    return hashlib.blake2b(b"".join(marks), digest_size=_MARK_BYTES).digest()


@dataclass(frozen=True)
class Page(Generic[T]):
    """The rows shown, the rows left out (for the "other" row), where the next page starts, and the
    marks of the rows before this page (``before``) and through it (``through``, for the next;
    empty when every row is shown without a window)."""

    shown: list[T]
    rest: list[T]
    total_rows: int
    next_offset: int | None
    before: bytes = NONE_BEFORE
    through: bytes = b""

    @property
    def truncated(self) -> bool:
        """True when some rows are not shown."""
        return bool(self.rest)


def page(
    items: Sequence[T],
    size: Callable[[T], object],
    window: Window | None,
    key: Callable[[T], object] = lambda item: item,
) -> Page[T]:
    """One page of ``items``: the window's rows by ``size``, largest first (ties keep the input
    order), shown in the input order; the others in ``rest``. ``window`` None shows every row.
    ``key`` names a row whatever its figures (a session's id, not its cost), for the marks that
    tell whether the rows before a page are still the ones the earlier pages showed.

    Showing the page in the input order keeps time-ordered results (grouped by day, week or month)
    chronological, and largest-first results largest first.
    """
    if window is None:
        return Page(list(items), [], len(items), None)
    if window.offset == 0 and len(items) <= window.limit:
        return Page(list(items), [], len(items), None, through=marks(map(key, items)))
    end = window.offset + window.limit
    ranked, shown, rest = _split(items, size, window.offset, end)
    return Page(
        shown,
        rest,
        len(items),
        end if end < len(items) else None,
        before=marks(key(items[i]) for i in ranked[: window.offset]),
        # Through the page even on the last one: the other list of the same answer (spend's
        # attribution) may go on, and its next page reads this list's rows before it too.
        through=marks(key(items[i]) for i in ranked[:end]),
    )


def top(items: Sequence[T], size: Callable[[T], object], limit: int) -> Page[T]:
    """The ``limit`` largest of ``items`` by ``size`` (ties keep the input order), shown in the
    input order, the others in ``rest``: for a list an answer shows once and no cursor pages
    (savings' findings), so without :func:`page`'s marks, a digest of every row it would discard."""
    if len(items) <= limit:
        return Page(list(items), [], len(items), None)
    _, shown, rest = _split(items, size, 0, limit)
    return Page(shown, rest, len(items), limit)


def _split(
    items: Sequence[T], size: Callable[[T], object], start: int, end: int
) -> tuple[list[int], list[T], list[T]]:
    """The indexes of ``items`` largest first by ``size``, and the items ranked ``start`` to ``end``
    (shown) and the others (rest), each in the input order."""
    # sorted() is stable: equal sizes keep their input order, so pages never overlap or skip a row.
    ranked = sorted(range(len(items)), key=lambda i: size(items[i]), reverse=True)  # type: ignore[arg-type,return-value]
    chosen = set(ranked[start:end])
    shown = [item for i, item in enumerate(items) if i in chosen]
    rest = [item for i, item in enumerate(items) if i not in chosen]
    return ranked, shown, rest


def marks(keys: Iterable[object]) -> bytes:
    """The mark of the rows (by key) that come before a page; for a list not paged by :func:`page`."""
    return _mark(keys)


def encode_cursor(asked: bytes, through: bytes, offset: int) -> str:
    """An opaque cursor for the page of question ``asked`` starting at ``offset``, after the rows
    marked ``through``."""
    raw = asked + through + offset.to_bytes(_OFFSET_BYTES, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[bytes | None, bytes | None, int]:
    """The question digest, mark and offset a cursor stands for (question and mark None for a
    ``rows:<n>`` cursor of an earlier server); InvalidInputError when it is not one this server gave."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        if raw.startswith(_LEGACY_PREFIX.encode()):
            if (offset := int(raw[len(_LEGACY_PREFIX) :].decode())) >= 0:
                return None, None, offset
        elif len(raw) == _CURSOR_BYTES:
            marked = raw[_QUESTION_BYTES : _QUESTION_BYTES + _MARK_BYTES]
            return raw[:_QUESTION_BYTES], marked, int.from_bytes(raw[-_OFFSET_BYTES:], "big")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise InvalidInputError(
        f"cursor {cursor[:40]!r} is not one this server gave: pass next_cursor from the previous result "
        "unchanged, with the same other arguments, or omit it for the first rows"
    )
