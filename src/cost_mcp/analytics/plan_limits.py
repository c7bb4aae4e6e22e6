"""Plan limits over time: how fast a member approaches Claude's 5-hour and 7-day limits.

Claude Code gives Pro/Max users ``rate_limits`` (percent used and reset time per window) in the
status-line input; ``cost-mcp statusline`` records each change here, as the Codex log reader does
with the ``rate_limits`` of Codex's ``token_count`` events (ChatGPT plans). Nothing else keeps this
history, and a percentage is all a plan exposes (no dollars, no tokens).
"""

from __future__ import annotations

from datetime import UTC, datetime

from cost_mcp.analytics import rows
from cost_mcp.models import PlanLimitReading, PlanLimits, PlanLimitWindow
from cost_mcp.periods import iso_utc, to_ms
from cost_mcp.store.connection import Conn, write_transaction
from cost_mcp.store.plan_limits import insert_reading, readings_since

HOUR_MS = 3_600_000


def record_reading(
    conn: Conn,
    agent: str,
    window: str,
    used_percent: float,
    resets_at_ms: int | None,
    session_id: str,
    now: datetime,
) -> int:
    """Store one reading unless the window's latest one says the same; returns rows added (0 or 1)."""
    with write_transaction(conn):
        return insert_reading(conn, agent, window, used_percent, resets_at_ms, session_id, to_ms(now))


def plan_limits(
    conn: Conn,
    *,
    days: int = 7,
    now: datetime | None = None,
    window: rows.Window | None = None,
) -> PlanLimits:
    """Each window's readings over the last ``days`` days, with its current pace.

    ``window`` bounds the readings listed per window to one page, newest first (analytics/rows.py);
    the pace is always computed from all of them. Percentages do not add up, so the readings left
    out are counted, not summed into an "other" reading.

    Per window: the latest reading, its reset time, the rate in percentage points per hour since the
    window's current period began (readings with the same reset time), and when it would reach
    100% at that rate (None when not rising or already past the reset). A window whose reset time
    has passed since its latest reading has started again: that reading is no longer its use, so
    it gets no projection and a warning says so.
    """
    moment = now or datetime.now(UTC)
    now_ms = to_ms(moment)
    since = now_ms - days * 24 * HOUR_MS
    windows: dict[tuple[str, str], list[tuple[int, float, int | None]]] = {}
    for agent, kind, ts, used, resets in readings_since(conn, since):
        windows.setdefault((agent, kind), []).append((ts, used, resets))
    result: list[PlanLimitWindow] = []
    pages: list[rows.Page[tuple[int, float, int | None]]] = []
    notes: list[str] = []
    for (agent, name), readings in windows.items():
        ts, used, resets = readings[-1]
        current = [r for r in readings if r[2] == resets]
        first_ts, first_used, _ = current[0]
        hours = (ts - first_ts) / HOUR_MS
        rate = round((used - first_used) / hours, 2) if hours > 0 else None
        full_at = None
        if resets is not None and resets <= now_ms:
            # Read two days ago, "13%, 100% at 09:14" was shown as where the plan stands, with a
            # projection already in the past, though the window had reset (to 0%) since.
            notes.append(
                f"{agent} {name}: its latest reading ({used:g}% at {iso_utc(ts)}) is from before the window "
                f"reset at {iso_utc(resets)}; nothing was read since, so its use now is not known "
                "(it started again from 0%)"
            )
        elif rate and rate > 0 and used < 100:
            full_ms = ts + int((100 - used) / rate * HOUR_MS)
            if resets is None or full_ms < resets:
                full_at = iso_utc(full_ms)
        shown = rows.page(readings, lambda r: r[0], window, lambda r: r[0])
        pages.append(shown)
        result.append(
            PlanLimitWindow(
                agent=agent,
                window=name,
                used_percent=used,
                read_at=iso_utc(ts),
                resets_at=iso_utc(resets) if resets is not None else None,
                percent_per_hour=rate,
                reaches_100_at=full_at,
                readings=[
                    PlanLimitReading(
                        at=iso_utc(t), used_percent=u, resets_at=iso_utc(r) if r is not None else None
                    )
                    for t, u, r in shown.shown
                ],
            )
        )
    warnings = (
        []
        if result
        else [
            "no plan-limit readings yet: they come from Claude Code's status line for Pro/Max users; "
            "install it with `cost-mcp statusline --install`"
        ]
    )
    next_cursor, paging_notes = rows.follow(window, *pages)
    return PlanLimits(
        windows=result,
        warnings=warnings + notes + paging_notes,
        truncated=any(p.truncated for p in pages),
        total_rows=sum(p.total_rows for p in pages),
        next_cursor=next_cursor,
    )
