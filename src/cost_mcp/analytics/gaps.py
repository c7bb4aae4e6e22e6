"""What an answer lacks, as data: the gaps a PARTIAL warning names (a provider's bill over some days,
a local-log source's calls), handed over by the code that writes the warning, with its text.

Which rows and parts of an answer are marked as lower bounds (spend.Lacking) is decided from these,
never from the warning's words: read back from the prose, a reworded warning silently stopped
marking the rows it should. Answers carry their warnings as text (the models' ``warnings``, which is
what reaches a person), so the gaps travel in the line itself: :func:`said` makes it a
:class:`Partial`, a ``str`` that holds them, which the results' fields keep as given
(:data:`cost_mcp.models.Line`). Nothing is kept beside the answer: two answers with the same line
over different gaps are each weighed on their own, whichever thread or tenant asked. A PARTIAL line
that is not a Partial (a line made elsewhere, or made again from one's text: an f-string, ``strip``,
JSON read back) may touch any row: never fewer marks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from cost_mcp.models import Said


@dataclass(frozen=True)
class Gap:
    """One thing an answer lacks, as far as it says which rows: ``bill``, a ``provider``'s bill
    (over UTC days ``first``..``last``, else the whole period); ``logs``, a local-log ``source``'s
    calls (its agent is the source's); ``any``, anything at all."""

    kind: Literal["bill", "logs", "any"] = "any"
    provider: str | None = None
    source: str | None = None
    first: date | None = None
    last: date | None = None


ANY = Gap()
"""A gap that may be in any row (a reprice half done: every stored call's price)."""


def bill(provider: str, first: date | None = None, last: date | None = None) -> Gap:
    """``provider``'s bill missing, over UTC days ``first``..``last`` (None: the whole period)."""
    return Gap("bill", provider=provider, first=first, last=last)


def logs(source: str) -> Gap:
    """The calls of ``source``'s local logs (``claude_code``, ``codex``...) missing."""
    return Gap("logs", source=source)


class Partial(Said):
    """A PARTIAL line as :func:`said` makes it: its text, and the ``gaps`` it names. Any ``str``
    operation on it (``+``, ``strip``, ``format``) gives a plain ``str``, which :func:`of` reads as
    :data:`ANY`; comparing and hashing are its text's."""

    __slots__ = ("gaps",)
    gaps: tuple[Gap, ...]

    def __new__(cls, line: str, gaps: tuple[Gap, ...]) -> Partial:
        made = super().__new__(cls, line)
        made.gaps = gaps
        return made

    def __reduce__(self) -> tuple[type[Partial], tuple[str, tuple[Gap, ...]]]:
        # copy, deepcopy and pickle make it again with its gaps (str's own way: the text alone).
        return (Partial, (str(self), self.gaps))


def said(line: str, *gaps: Gap) -> Partial:
    """``line`` (a PARTIAL warning) carrying the ``gaps`` it names, for :func:`of` (none: :data:`ANY`)."""
    return Partial(line, gaps or (ANY,))


def of(line: str) -> tuple[Gap, ...]:
    """The gaps the builder of PARTIAL ``line`` said it names (:func:`said`); :data:`ANY` for a line
    it did not make, or one made again as a plain ``str``."""
    return line.gaps if isinstance(line, Partial) else (ANY,)
