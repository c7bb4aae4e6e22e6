"""A ledger in the middle of ``reprice --all``: calls re-priced, their quarter-hours marked, the
rollup not rebuilt yet. For the tests of which answers rebuild which marks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cost_mcp.analytics import agents
from cost_mcp.config import Settings
from cost_mcp.pricing import Pricer, Tokens
from cost_mcp.store import events, rollup
from cost_mcp.store.connection import Conn, write_transaction

SONNET = "claude-sonnet-4-5"
CALL = Tokens(input=100_000, output=1_000)
"""$0.315 at list price; :func:`repriced_ledger` re-prices it to $0.10."""


def marked(conn: Conn) -> list[int]:
    """The quarter-hours marked for the rollup to rebuild, in order."""
    rows = conn.execute("SELECT qh FROM rollup_dirty UNION SELECT qh FROM rollup_levels_dirty").fetchall()
    return sorted(int(qh) for (qh,) in rows)


def repriced_ledger(conn: Conn, settings: Settings, days_ago: int = 300) -> int:
    """A :data:`CALL` now and one ``days_ago`` days ago (record_usage takes a year back), both
    re-priced to $0.10 as one chunk of ``reprice --all`` writes them (their quarter-hours marked,
    the rollup still at $0.315); returns the old call's quarter-hour."""
    now = datetime.now(UTC)
    for request_id, at in (("today", None), ("long-ago", now - timedelta(days=days_ago))):
        agents.record_usage(
            conn, settings, Pricer(), provider="anthropic", model=SONNET, tokens=CALL, agent="w",
            request_id=request_id, timestamp=at, take_alerts=False,
        )  # fmt: skip
    with write_transaction(conn):
        calls = conn.execute("SELECT id, ts_ms FROM usage_events WHERE counted = 1").fetchall()
        events.set_prices(
            conn, [(int(i), 100_000_000, SONNET, "") for i, _ in calls], [int(t) for _, t in calls],
            only_unpriced=False,
        )  # fmt: skip
    old_qh = min(int(t) for _, t in calls) // rollup.QUARTER_HOUR_MS
    assert old_qh in marked(conn) and len(marked(conn)) == 2
    return old_qh
