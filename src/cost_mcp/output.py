"""Text that came from outside (log lines, provider answers, names a model chose) made safe to show.

A model, project or agent name is whatever a log line or a tool call said; printed raw it could
move the cursor, rewrite the screen, set the window title or hide text (ANSI escape sequences),
and written raw to a CSV a spreadsheet opens it could run a formula.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
"""C0 and C1 controls (ESC, CSI, BEL, CR...), line separators and bidirectional overrides."""
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_text(value: object) -> str:
    """``value`` as text with every control character shown as a visible escape (``\\x1b``)."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(value))


def csv_cell(value: object) -> object:
    """A CSV cell a spreadsheet shows as text: one starting with = + - @ tab or CR (a formula) gets
    a leading apostrophe, as OWASP advises. Numbers, negative ones included, are left as numbers.
    Control characters are shown as escapes, as in the tables (:func:`safe_text`): CSV printed on a
    terminal (``report --csv``, ``export``) must not move its cursor or clear it either."""
    if not isinstance(value, str):
        return value
    text = safe_text(value)
    if not text.startswith(_FORMULA_START) or _NUMBER.fullmatch(text):
        return text
    return "'" + text


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``count`` and ``noun``, plural unless the count is one: "1 call", "2,410 calls" (``plural``
    for a noun not made plural by an s: "1 copy", "3 copies"). Every count the CLI or a tool prints
    goes through here: "1 calls" and "1 call(s)" read as a program that did not look."""
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"
