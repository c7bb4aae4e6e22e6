"""Claude Code's status line: one line of what this session, today and the plan limits stand at.

Claude Code runs the status-line command after every assistant message with a JSON object on
stdin (``session_id``, ``transcript_path``, ``rate_limits``...; see
``../shared/reference/otel-and-statusline.md``) and shows the first line of its stdout. So this
module is on a hot path: it imports only what a given run needs (the pricer only when the
transcript has new lines), reads only this session's transcript (never the whole log tree) and
answers from the ledger's indexes.

The session's cost is the ledger's (exact, every call priced at its own date), not Claude Code's
client-side estimate. Each ``rate_limits`` reading is recorded (see :mod:`cost_mcp.analytics.plan_limits`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from cost_mcp.config import Settings
from cost_mcp.store.connection import Conn

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


def read_transcript(conn: Conn, settings: Settings, transcript: str) -> None:
    """Bring this one transcript into the ledger, reading only its new lines.

    An unchanged file costs one stat and one indexed lookup; only when it grew are the log reader
    and the pricer imported.
    """
    if not transcript:
        return
    path = Path(transcript)
    try:
        st = path.stat()
    except OSError:
        return
    row = conn.execute("SELECT size, mtime_ns FROM scanned_files WHERE path = ?", (str(path),)).fetchone()
    if row is not None and (row[0], row[1]) == (st.st_size, st.st_mtime_ns):
        return
    from cost_mcp.pricing import Pricer
    from cost_mcp.sources.claude_code import Target, scan

    scan(conn, [Target(path, path.parent.parent)], Pricer.from_file(settings.prices_file))


def record_rate_limits(conn: Conn, reading: StatusInput, now: datetime) -> int:
    """Store each window's reading when it changed; returns how many rows were added."""
    from cost_mcp.analytics.plan_limits import record_reading

    added = 0
    for window in ("five_hour", "seven_day"):
        value = reading.rate_limits.get(window)
        if not isinstance(value, dict):
            continue
        used, resets = value.get("used_percentage"), value.get("resets_at")
        if isinstance(used, int | float) and not isinstance(used, bool):
            resets_ms = int(resets * 1000) if isinstance(resets, int | float) else None
            added += record_reading(
                conn, "claude-code", window, float(used), resets_ms, reading.session_id, now
            )
    return added


def _money(value: Decimal) -> str:
    return f"${value.quantize(Decimal('0.01'))}"


def _paint(text: str, tone: str, colour: bool) -> str:
    return f"{_COLOURS[tone]}{text}{_RESET}" if colour else text


def render(
    conn: Conn,
    settings: Settings,
    reading: StatusInput,
    *,
    fields: Sequence[str] = FIELDS,
    colour: bool = True,
    now: datetime | None = None,
) -> str:
    """The status line for one status-line input, from the ledger as it stands."""
    from cost_mcp.analytics.usage import cost_sql
    from cost_mcp.money import from_nanos
    from cost_mcp.periods import to_ms

    moment = now or datetime.now(UTC)
    cost = cost_sql(settings.cost_mode)
    parts: list[str] = []
    for name in fields:
        if name == "session" and reading.session_id:
            row = conn.execute(
                f"SELECT COUNT(*), SUM({cost}) FROM usage_events WHERE session_id = ? AND counted = 1",
                (reading.session_id,),
            ).fetchone()
            parts.append(f"{_money(from_nanos(row[1] or 0))} session" if row[0] else "$0.00 session")
        elif name == "today":
            local = moment.astimezone(settings.tz)
            start = local.replace(hour=0, minute=0, second=0, microsecond=0)
            row = conn.execute(
                f"SELECT SUM({cost}) FROM usage_events WHERE counted = 1 AND ts_ms >= ? AND ts_ms < ?",
                (to_ms(start), to_ms(moment) + 1),
            ).fetchone()
            parts.append(f"{_money(from_nanos(row[0] or 0))} today")
        elif name == "block":
            parts.extend(_block(conn, settings, moment))
        elif name == "budget":
            parts.extend(_budget(conn, settings, moment, colour))
        elif name == "limits":
            parts.extend(_limits(reading, settings, moment, colour))
    return SEPARATOR.join(parts)


def _block(conn: Conn, settings: Settings, now: datetime) -> list[str]:
    from cost_mcp.analytics.claude_code import usage_blocks

    active = usage_blocks(conn, settings, days=1, now=now).active
    if active is None:
        return []
    end = datetime.fromisoformat(active.end.replace("Z", "+00:00"))
    left = max(int((end - now).total_seconds() // 60), 0)
    rate = f", {_money(active.burn_rate.cost_per_hour_usd)}/h" if active.burn_rate else ""
    return [f"block {_money(active.cost_usd)} ({left // 60}h{left % 60:02d}m left{rate})"]


def _budget(conn: Conn, settings: Settings, now: datetime, colour: bool) -> list[str]:
    if conn.execute("SELECT 1 FROM budgets LIMIT 1").fetchone() is None:
        return []
    from cost_mcp.analytics.budgets import list_budgets, state_of

    states = [state_of(conn, settings, b, now) for b in list_budgets(conn)]
    tightest = max(states, key=lambda s: (s.percent, s.budget.name))
    tone = {"ok": "ok", "warning": "warning", "forecast_exceeded": "warning"}.get(tightest.status, "exceeded")
    text = f"{tightest.budget.name} {tightest.percent:.0f}% of {_money(tightest.budget.amount_usd)}"
    return [_paint(text, tone, colour)]


def _limits(reading: StatusInput, settings: Settings, now: datetime, colour: bool) -> list[str]:
    out: list[str] = []
    for window, label in (("five_hour", "5h"), ("seven_day", "7d")):
        value = reading.rate_limits.get(window)
        if not isinstance(value, dict) or not isinstance(value.get("used_percentage"), int | float):
            continue
        used = float(value["used_percentage"])
        tone = "ok" if used < 50 else "warning" if used < 80 else "exceeded"
        text = f"{label} {used:.0f}%"
        resets = value.get("resets_at")
        if isinstance(resets, int | float):
            at = datetime.fromtimestamp(resets, UTC).astimezone(settings.tz)
            text += (
                f" (resets {at:%H:%M})"
                if at - now.astimezone(settings.tz) < _DAY
                else f" (resets {at:%a %H:%M})"
            )
        out.append(_paint(text, tone, colour))
    return out


_DAY = datetime(2000, 1, 2) - datetime(2000, 1, 1)


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
    from cost_mcp.config import load_settings_leniently
    from cost_mcp.store.connection import connect

    settings, _ = load_settings_leniently()  # a typo in one setting must not break Claude Code's UI
    chosen = fields_from(fields if fields is not None else os.environ.get("COST_MCP_STATUSLINE_FIELDS"))
    reading = StatusInput.parse(stdin)
    moment = now or datetime.now(UTC)
    conn = connect(settings.db)
    try:
        read_transcript(conn, settings, reading.transcript_path)
        record_rate_limits(conn, reading, moment)
        return render(
            conn, settings, reading, fields=chosen, colour=not os.environ.get("NO_COLOR"), now=moment
        )
    finally:
        conn.close()
