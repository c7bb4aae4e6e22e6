"""What an answer lacks, as data: the gaps a PARTIAL warning names (a provider's bill over some days,
a local-log source's calls), handed over by the code that writes the warning, beside its text.

Which rows and parts of an answer are marked as lower bounds (spend.Lacking) is decided from these,
never from the warning's words: read back from the prose, a reworded warning silently stopped
marking the rows it should. Answers carry their warnings as text (the models' ``warnings: list[str]``,
which is what reaches a person), so the gaps are kept here, keyed by the exact line the builder
wrote; a PARTIAL line none wrote here (a reprice half done, a line made elsewhere) may touch any
row: never fewer marks.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date
from typing import Literal


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


_KEPT = 4096
"""How many lines' gaps are kept: a long-running server writes new lines as days and errors change;
a line forgotten is read as :data:`ANY` (more marks, never fewer)."""

_said: OrderedDict[str, tuple[Gap, ...]] = OrderedDict()
_lock = threading.Lock()  # the server answers from worker threads


def said(line: str, *gaps: Gap) -> str:
    """``line`` (a PARTIAL warning), with the ``gaps`` it names kept for :func:`of`."""
    with _lock:
        _said[line] = gaps or (ANY,)
        _said.move_to_end(line)
        while len(_said) > _KEPT:
            _said.popitem(last=False)
    return line


def of(line: str) -> tuple[Gap, ...]:
    """The gaps the builder of PARTIAL ``line`` said it names; :data:`ANY` for a line none said."""
    with _lock:
        return _said.get(line, (ANY,))
