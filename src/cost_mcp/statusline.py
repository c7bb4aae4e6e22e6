"""Claude Code's status line: one line of what this session, today and the plan limits stand at.

Claude Code runs the status-line command after every assistant message with a JSON object on
stdin (``session_id``, ``transcript_path``, ``rate_limits``...; see
``../shared/reference/otel-and-statusline.md``) and shows the first line of its stdout. So this
module is on a hot path: it imports only what a given run needs (no pydantic: settings come from
:mod:`cost_mcp.core_settings`; the log reader and the pricer only when the transcript has new lines;
budgets only when some are set), reads only this session's transcript (never the whole log tree) and
answers from the ledger's indexes (:mod:`cost_mcp.store.status`). ``tests/test_statusline_hooks.py``
checks in a fresh process that the heavy modules stay out.

The session's cost is the ledger's (exact, every call priced at its own date), not Claude Code's
client-side estimate. Each ``rate_limits`` reading is recorded (see :mod:`cost_mcp.analytics.plan_limits`).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from cost_mcp.analytics.blocks import HOUR_MS, cost_per_hour, last_block
from cost_mcp.core_settings import CostMode, HasCoreSettings, load_core_settings
from cost_mcp.files import within
from cost_mcp.money import bounded, format_cost, format_usd, from_nanos
from cost_mcp.periods import local_midnight, to_ms, wall_clock
from cost_mcp.sources import logfiles
from cost_mcp.store import rollup, source_state, status
from cost_mcp.store.connection import (
    Conn,
    Unwritable,
    connect,
    write_briefly,
    write_transaction,
)
from cost_mcp.store.plan_limits import insert_reading
from cost_mcp.store.rollup import QUARTER_HOUR_MS

FIELDS: tuple[str, ...] = ("session", "today", "block", "budget", "limits")
"""What the line can show, in order; COST_MCP_STATUSLINE_FIELDS or --fields picks a subset."""
SEPARATOR = " · "

_RESET = "\033[0m"
_COLOURS = {"ok": "\033[32m", "warning": "\033[33m", "exceeded": "\033[31m", "dim": "\033[2m"}


@dataclass(frozen=True)
class StatusInput:
    """The parts of Claude Code's status-line JSON this line uses."""

    session_id: str
    transcript_path: str
    cwd: str
    rate_limits: Mapping[str, Any]

    @classmethod
    def parse(cls, text: str) -> StatusInput:
        """Read the JSON Claude Code sends; a missing or odd field is treated as absent."""
        try:
            data = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        found = data.get("workspace")
        workspace: dict[str, Any] = found if isinstance(found, dict) else {}
        limits = data.get("rate_limits")
        return cls(
            session_id=str(data.get("session_id") or ""),
            transcript_path=str(data.get("transcript_path") or ""),
            cwd=str(data.get("cwd") or workspace.get("current_dir") or ""),
            rate_limits=limits if isinstance(limits, dict) else {},
        )


CLAUDE_CODE_SOURCES = ("claude_code", "claude_code_otel")
"""Claude Code's calls in the ledger, as usage_blocks counts them: its logs and calls seen only over
OTel (``sources.claude_code.SOURCE`` and ``store.otel.CLAUDE_SOURCE``, spelled out here because
the unchanged call needs nothing else from either module; a test checks they agree)."""
LOG_SOURCES = (
    "claude_code", "codex", "gemini_cli", "opencode", "amp", "copilot_cli", "cline", "roo_code", "kilo_code",
    "qwen_code", "goose", "pi", "kimi_cli", "hermes", "codebuff", "crush",
    "droid", "kilo_cli", "openclaw",
)  # fmt: skip
"""Every log reader's source, Claude Code's first (``sources.agents.SOURCES`` after it, spelled out
as CLAUDE_CODE_SOURCES is: importing the agents' parsers would slow every call; a test checks)."""
UNREADABLE = "⚠ logs unreadable"
"""Shown after the figures when a log reader's last read could not open some files or folders
(answers say PARTIAL): today, the block and budgets lack their calls. `cost-mcp doctor` names them."""
BUSY = "(ledger busy)"
"""Shown after the session's figure when another process held the ledger's write lock (a long
ingest, a reprice, a migration) past :data:`REFRESH_LOCK_TIMEOUT_MS`: the transcript's new lines
wait for the next call, so every figure is a lower bound until then."""
READ_ONLY = "(ledger read-only)"
"""As :data:`BUSY`, when this process cannot write the ledger (its file or folder): answers say so too."""
DISK_FULL = "(ledger's disk full)"
"""As :data:`BUSY`, when the ledger's disk is full: the new lines are read once there is room."""
CANCELLED = "(ledger: server cancelled write)"
"""As :data:`BUSY`, when the ledger's PostgreSQL server cancelled the write (the role's
statement_timeout, or an admin): it said "(ledger busy)", though no process held the lock for long
and waiting fixes nothing. Answers and the hook's note name the fix (the role's statement_timeout)."""
BEHIND: dict[Unwritable, str] = {
    Unwritable.BUSY: BUSY,
    Unwritable.CANCELLED: CANCELLED,
    Unwritable.READ_ONLY: READ_ONLY,
    Unwritable.DISK_FULL: DISK_FULL,
}
"""How the line words each reason the ledger could not take its write."""
BILLED = " (est.; bill synced)"
"""After today's figure when a provider's bill synced for today touches it: the figure is this
machine's estimates, where report and get_spend count the bill instead for that provider's day
(the larger of the two while the day is partial) and set the estimates aside."""
BLOCK_HOURS = 5


def session_transcripts(transcript: Path) -> list[Path]:
    """A session's transcript and its subagents' (``<session>/subagents/*.jsonl``: Claude Code's Task
    agents log there, under the session's id). Without them the session's cost left out every
    subagent call since the last full read, unmarked, and a hard budget let subagents run on.

    Found as a full read finds them (:func:`logfiles.walk`): a symlink leading out of the
    ``projects/`` folder, a pipe or a device there is not a subagent's log, and is never opened."""
    folder = transcript.parent / transcript.stem / "subagents"
    subagents = sorted(logfiles.walk(folder, (".jsonl",), inside=transcript.parent.parent))
    return [transcript, *(Path(path) for path, _ in subagents)]


def read_transcript(conn: Conn, settings: HasCoreSettings, transcript: str) -> Unwritable | None:
    """Bring this session's transcript and its subagents' into the ledger, reading only new lines.

    An unchanged file costs one stat and one indexed lookup; only when one grew are the log reader
    and the pricer imported. The pricer answers from the plans saved in the ledger, so genai-prices
    loads only for a model (or price period) no status line has priced yet; what it looks up then
    is saved for the next call.

    None when done; else why the new lines could not be stored (:class:`Unwritable`; the line
    words it from :data:`BEHIND`): they are left for the next call. Behind
    another process's write lock this waits :data:`REFRESH_LOCK_TIMEOUT_MS`, as a question's
    refresh does (``sync.refresh_or_skip``): waiting the full busy timeout froze Claude Code's status
    line (and every prompt and tool call, through the hook) for a minute, then showed an error, as a
    read-only ledger or a full disk did at once.
    """
    _, why = write_briefly(conn, lambda: _read_transcript(conn, settings, transcript))
    return why


def _read_transcript(conn: Conn, settings: HasCoreSettings, transcript: str) -> None:
    # Only inside a configured Claude folder, as a model's ingest path (files.within): Claude Code
    # keeps every transcript there, and a path elsewhere (/etc/passwd, a JSONL file anywhere, a link
    # leading out) was opened and its lines stored as Claude Code calls. A path holding a NUL byte
    # is no path (it stopped the line with an error).
    if not transcript or "\x00" in transcript or not within(transcript, settings.claude_roots()):
        return
    changed: list[Path] = []
    for path in session_transcripts(Path(transcript)):
        try:
            st = path.stat()
        except OSError:
            continue
        if status.scanned_stamp(conn, str(path)) != (st.st_size, st.st_mtime_ns):
            changed.append(path)
    if not changed:
        return
    from cost_mcp.pricing import Pricer, plan_data_key
    from cost_mcp.sources.claude_code import Target, scan
    from cost_mcp.store import price_plans

    key = plan_data_key()
    pricer = Pricer.from_file(settings.prices_file, price_plans.load(conn, key))
    # Not recorded as a check of the logs: the rest of the tree is still unread by this.
    projects = Path(transcript).parent.parent  # what a full read keys the files against
    scan(conn, [Target(path, projects) for path in changed], pricer, record=False)
    if pricer.fresh:
        with write_transaction(conn):
            price_plans.save(conn, key, pricer.fresh)


def record_rate_limits(conn: Conn, reading: StatusInput, now: datetime) -> int:
    """Store each window's reading when it changed; returns how many rows were added. When the
    ledger cannot take them (see :func:`read_transcript`) they are not stored: the next call's are."""
    added, _ = write_briefly(conn, lambda: _record_rate_limits(conn, reading, now))
    return added or 0


def _record_rate_limits(conn: Conn, reading: StatusInput, now: datetime) -> int:
    added = 0
    for window in ("five_hour", "seven_day"):
        value = reading.rate_limits.get(window)
        if not isinstance(value, dict):
            continue
        used, resets = _used(value.get("used_percentage")), _resets_at(value.get("resets_at"))
        if used is not None:
            resets_ms = int(resets * 1000) if resets is not None else None
            with write_transaction(conn):
                added += insert_reading(
                    conn, "claude-code", window, float(used), resets_ms, reading.session_id, to_ms(now)
                )
    return added


_LAST_RESET = datetime(9999, 1, 1, tzinfo=UTC).timestamp()


def _number(value: object) -> float | None:
    """A finite JSON number as a float; None for anything else (a bool, a string, NaN, infinity)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value) if abs(value) < 1e308 else math.inf
    return number if math.isfinite(number) else None


def _used(value: object) -> float | None:
    """A window's used percentage; None for anything but a number of 0 or more: no share of a
    limit is used below nothing, so "-5" is no reading to show or to store."""
    number = _number(value)
    return number if number is not None and number >= 0 else None


def _resets_at(value: object) -> float | None:
    """A window's reset time in epoch seconds; None when absent or no usable time (before 1970 or
    after the year 9999, which no clock can show and no ledger column holds): the rest of the
    line must still show."""
    number = _number(value)
    return number if number is not None and 0 <= number < _LAST_RESET else None


def _nanos(value: int, unpriced: int = 0) -> str:
    """Exact nano-dollars as every amount a person reads (:func:`format_cost`): "$2,074.75", a
    session of $0.004 "$0.0040" (not "$0.00" as if nothing were spent), and calls without a known
    price named ("$1.20 + unpriced", "unpriced"), never shown as $0."""
    return format_cost(from_nanos(value), unpriced)


def _paint(text: str, tone: str, colour: bool) -> str:
    return f"{_COLOURS[tone]}{text}{_RESET}" if colour else text


def render(
    conn: Conn,
    settings: HasCoreSettings,
    reading: StatusInput,
    *,
    fields: Sequence[str] = FIELDS,
    colour: bool = True,
    now: datetime | None = None,
    behind: Unwritable | None = None,
) -> str:
    """The status line for one status-line input, from the ledger as it stands; ``behind``: why the
    transcript's new lines could not be stored (:func:`read_transcript`), so every figure is a lower
    bound, said after the session's."""
    moment = now or datetime.now(UTC)
    mode = settings.cost_mode
    # Until a log reader (the MCP server, any CLI report) has checked every log once, the ledger
    # holds only the transcripts status lines read: today and the block are at least what is shown.
    # So too while some logs could not be opened; one query tells both.
    marks = source_state.log_marks(conn, LOG_SOURCES)
    read, unreadable = marks.read, marks.unreadable
    partial = not read or unreadable or behind is not None
    # Logs never read (or this transcript not stored) may hold any budget's calls; an unreadable
    # folder only those of the budgets its calls can count, weighed in _budget as budget_status does.
    unsettled = not read or behind is not None
    unread = "" if read else " (other logs unread)" if marks.reading is None else " (other logs being read)"
    parts: list[str] = []
    for name in fields:
        if name == "session" and reading.session_id:
            calls, nanos, unpriced = status.session_cost(conn, reading.session_id, mode)
            session = bounded(
                _nanos(nanos, unpriced) if calls else "$0.00", 0, complete=behind is None, bare_unpriced=True
            )
            parts.append(f"{session} session" + ("" if behind is None else f" {BEHIND[behind]}"))
        elif name == "today":
            # The day's first instant as get_spend takes it: the local time's replace(hour=0) kept
            # its fold, so in Havana's second 00:xx hour "today" began at the second midnight.
            start = local_midnight(moment.astimezone(settings.tz).date(), settings.tz)
            today = bounded(
                _nanos(*_today(conn, to_ms(start), to_ms(moment), mode)),
                0,
                complete=not partial,
                bare_unpriced=True,
            )
            # The line sums this machine's estimates; where a provider's synced bill touches the
            # day, report and get_spend count the bill for it and set those estimates aside.
            billed = (
                BILLED
                if status.billing_data_between(conn, to_ms(start), to_ms(moment) + 1, rows_only=True)
                else ""
            )
            parts.append(f"{today} today{billed}{unread}")
        elif name == "block":
            # The block counts Claude Code's calls alone: another agent's unreadable folder holds
            # none of them, so only Claude Code's own bound it.
            whole = read and behind is None and not marks.unreadable_sources & set(CLAUDE_CODE_SOURCES)
            parts.extend(
                f"block {bounded(block, 0, complete=whole, bare_unpriced=True)}"
                for block in _block(conn, settings, moment)
            )
        elif name == "budget":
            parts.extend(_budget(conn, settings, moment, colour, reading.cwd, unsettled, unreadable))
        elif name == "limits":
            parts.extend(_limits(reading, settings, moment, colour))
    # The session's own figure is whole (this line read its transcript); the others are not.
    if unreadable and any(f in fields for f in ("today", "block", "budget")):
        parts.append(_paint(UNREADABLE, "warning", colour))
    return SEPARATOR.join(parts)


def _block(conn: Conn, settings: HasCoreSettings, now: datetime) -> list[str]:
    """The active 5-hour block as ``usage_blocks(days=1)`` finds it, without its result models.

    Blocks are laid out from the calls' times alone, by seeking from one block's end to the next
    block's first call (:func:`cost_mcp.analytics.blocks.last_block`); the active block is the
    last one, so its cost is one indexed sum over the calls from its first on.
    """
    now_ms = to_ms(now)
    length = BLOCK_HOURS * HOUR_MS

    def first_call_after(after: int) -> int | None:
        # Calls up to now only: one stamped years ahead (a wrong clock) was the last block, active
        # for 635,417 hours more, in place of the block of the calls just made.
        found = status.first_call_after(conn, CLAUDE_CODE_SOURCES, after)
        return found if found is not None and found <= now_ms else None

    active = last_block(
        first_call_after,
        lambda since: status.last_call(conn, CLAUDE_CODE_SOURCES, since, now_ms),
        now_ms - 24 * HOUR_MS - length,
        length,
    )
    if active is None or not active.is_active(now_ms):
        return []
    nanos, unpriced = status.source_cost_until(
        conn, CLAUDE_CODE_SOURCES, active.first_ms, now_ms, settings.cost_mode
    )
    left = max((active.end_ms - now_ms) // 60_000, 0)
    span = active.last_ms - active.first_ms
    rate = f", {format_usd(cost_per_hour(from_nanos(nanos), span))}/h" if span > 0 and not unpriced else ""
    return [f"{_nanos(nanos, unpriced)} ({left // 60}h{left % 60:02d}m left{rate})"]


def _today(conn: Conn, start_ms: int, now_ms: int, mode: CostMode) -> tuple[int, int]:
    """(nano-USD, unpriced calls) of every counted call from ``start_ms`` (a local midnight) to now.

    From the quarter-hour rollup, as get_spend sums (a few rows instead of every call of the day),
    when the midnight falls on a quarter-hour and the rollup is current; else from the calls.
    """
    if start_ms % QUARTER_HOUR_MS == 0 and rollup.refresh(conn, start_ms) >= 0:
        rows = rollup.sums_by_quarter_hour(
            conn, start_ms // QUARTER_HOUR_MS, now_ms // QUARTER_HOUR_MS + 1, mode
        )
        return sum(cost for _, cost, _, _ in rows), sum(unpriced for _, _, unpriced, _ in rows)
    return status.cost_between(conn, start_ms, now_ms + 1, mode)


def _budget(
    conn: Conn,
    settings: HasCoreSettings,
    now: datetime,
    colour: bool,
    cwd: str,
    partial: bool = False,
    unreadable: bool = False,
) -> list[str]:
    """The tightest budget that counts this session; its percent a lower bound ("≥0%") when
    ``partial`` (the period's other calls may be in logs not read yet, as today's are), or when it
    lacks what budget_status says it lacks (:func:`budgets.with_missing_bills`): a provider's bill
    it counts that is missing, or calls it counts in log folders that could not be opened
    (``unreadable``: some could not)."""
    if not status.has_budgets(conn):
        return []
    from cost_mcp.analytics.budget_glance import counts_claude_code, glance
    from cost_mcp.hooks import session_provider

    provider = session_provider()

    # (share spent, percent, name, status, amount, unpriced calls, estimates set aside, whole) of
    # each budget that can count this session
    # (a Codex-only budget is not this line's): from the rollup when that is exact, else from the
    # full budget path (billed data, seat fees, teams), which imports pydantic and the models.
    # A folder that could not be opened, or a provider ever synced (its bill may be missing), takes
    # the full path too: it weighs which budgets the gap can touch. Every budget was marked "≥" for
    # another agent's unreadable folder, and none for a bill that never synced.
    gaps = unreadable or source_state.others_known(conn, LOG_SOURCES)
    glanced = None if gaps else glance(conn, settings, now)
    if glanced is not None:
        states = [
            (
                g.spent / g.amount,
                g.percent,
                g.name,
                g.status(to_ms(now)),
                g.amount,
                g.unpriced,
                Decimal(0),
                True,
            )
            for g in glanced
            if counts_claude_code(g.scope, cwd, CLAUDE_CODE_SOURCES, provider)
        ]
    else:
        from cost_mcp.analytics.budgets import list_budgets, state_of, with_missing_bills
        from cost_mcp.config import Settings, load_settings_leniently

        full = settings if isinstance(settings, Settings) else load_settings_leniently()[0]
        every = list_budgets(conn)
        budgets = [
            b for b in every if counts_claude_code(b.scope.model_dump(), cwd, CLAUDE_CODE_SOURCES, provider)
        ]
        weighed, _ = with_missing_bills(conn, full, [state_of(conn, full, b, now) for b in budgets], now)
        # A budget scoped by project, model or source counts nothing of its calls' estimates on days
        # a provider's bill is the total (a bill by workspace names no project): set_aside_notes.
        states = [
            (
                s.spent_usd / s.budget.amount_usd,
                s.percent,
                s.budget.name,
                s.status,
                s.budget.amount_usd,
                s.unpriced_requests,
                s.estimates_set_aside_usd
                if s.budget.scope.projects or s.budget.scope.models or s.budget.scope.sources
                else Decimal(0),
                s.complete,
            )
            for s in weighed
        ]
    if not states:
        return []
    # The tightest by its exact share, not its shown percent: $0.075 of $100 and of $1,000 both
    # read 0.0% (rounded down), and the $100 budget is the one nearer its limit.
    _, percent, name, state, amount, unpriced, aside, whole = max(states, key=lambda s: (s[0], s[2]))
    tone = {"ok": "ok", "warning": "warning", "forecast_exceeded": "warning"}.get(state, "exceeded")
    # Calls with no known price count nothing against the budget: "0%" alone would read as none.
    # Whole percents rounded down, as percent_of rounds tenths: "{:.0f}" showed 99.6% as "100%".
    spent = bounded(f"{math.floor(percent)}%", 0, complete=whole and not partial)
    shown = f"{name} {spent} of {format_usd(amount)}" + (" + unpriced calls" if unpriced else "")
    if aside > 0:  # those calls cost this much and count nothing against it: "3%" alone hid them
        shown += f" + {format_usd(aside)} set aside"
    return [_paint(shown, tone, colour)]


def _limits(reading: StatusInput, settings: HasCoreSettings, now: datetime, colour: bool) -> list[str]:
    out: list[str] = []
    for window, label in (("five_hour", "5h"), ("seven_day", "7d")):
        value = reading.rate_limits.get(window)
        used = _used(value.get("used_percentage")) if isinstance(value, dict) else None
        if not isinstance(value, dict) or used is None:
            continue
        tone = "ok" if used < 50 else "warning" if used < 80 else "exceeded"
        # "7d 82%" beside "$1.20 today" read as a change over seven days (and "7d -5%" as a fall, or
        # an error): it is the share of the plan's 7-day limit used, so the line says so. Rounded
        # down, as the budget's percent is: 99.6% used is not the limit reached.
        text = f"{label} limit {math.floor(used)}% used"
        resets = _resets_at(value.get("resets_at"))
        if resets is not None:
            at = datetime.fromtimestamp(resets, UTC).astimezone(settings.tz)
            # In the hour a clock is set back, "01:30" is two moments an hour apart: the zone says which.
            form = "%H:%M" if at - now.astimezone(settings.tz) < _DAY else "%a %H:%M"
            text += f" (resets {wall_clock(at, form)})"
        out.append(_paint(text, tone, colour))
    return out


_DAY = timedelta(days=1)


def fields_from(spec: str | None) -> list[str]:
    """The fields named in a comma-separated spec (all when empty); ValueError for an unknown one."""
    if not spec:
        return list(FIELDS)
    chosen = [f.strip() for f in spec.split(",") if f.strip()]
    unknown = [f for f in chosen if f not in FIELDS]
    if unknown:
        raise ValueError(
            f"unknown status-line field(s) {', '.join(unknown)}; choose from {', '.join(FIELDS)}"
        )
    return chosen


def run(stdin: str, *, fields: str | None = None, now: datetime | None = None) -> str:
    """Everything one status-line call does: read the transcript, record limits, render."""
    settings = load_core_settings()  # lenient: a typo in one setting must not break Claude Code's UI
    chosen = fields_from(fields if fields is not None else settings.statusline_fields)
    reading = StatusInput.parse(stdin)
    moment = now or datetime.now(UTC)
    conn = connect(settings.db)
    try:
        behind = Unwritable.READ_ONLY if conn.read_only else None
        if behind is None:
            behind = read_transcript(conn, settings, reading.transcript_path)
        if behind is None:  # else a second write would only fail (or wait) again
            record_rate_limits(conn, reading, moment)
        return render(
            conn,
            settings,
            reading,
            fields=chosen,
            colour=not os.environ.get("NO_COLOR"),
            now=moment,
            behind=behind,
        )
    finally:
        conn.close()
