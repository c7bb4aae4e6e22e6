"""The scan's per-batch queries look rows up by key, never scan the ledger.

A scan that finds one new line must cost the line, not the ledger: on a million events, a query
that walks every row of the source takes seconds (the status line runs a scan after every
message). SQLite's plan is checked rather than a time: every query the scan runs against
``usage_events`` is planned with EXPLAIN QUERY PLAN and must not walk the table or an index of it
by source or ``counted`` alone.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cost_mcp.config import Settings
from cost_mcp.pricing import Pricer
from cost_mcp.sources.claude_code import ingest
from cost_mcp.store.connection import connect_sqlite as connect
from tests.sources.claude_logs import assistant, session_file, write

# SQLite's own statement trace and query plans.
pytestmark = pytest.mark.sqlite_only

T = "2026-11-02T09:00:00.000Z"


def test_an_incremental_scan_looks_up_only_the_messages_it_read(home: Path, settings: Settings) -> None:
    conn = connect(settings.db)
    try:
        path = session_file(home / "claude", "s1")
        write(path, *(assistant(f"msg_{n}", f"req_{n}", T, output=10) for n in range(50)))
        ingest(conn, settings, Pricer())
        statements: list[str] = []
        conn.set_trace_callback(statements.append)
        # a better copy of a known call, a copy under a new request id, and a new call:
        # the upsert, the look-up of existing rows, the recount and the count of new calls all run
        write(
            path,
            assistant("msg_1", "req_1", T, output=20),
            assistant("msg_2", "req_other", T, output=5),
            assistant("msg_new", "req_new", T, output=5),
            append=True,
        )
        result = ingest(conn, settings, Pricer())
        conn.set_trace_callback(None)
    finally:
        conn.close()
    assert result.events_added == 2  # msg_new, and msg_2 under a second request id is its own call
    plans: dict[str, list[str]] = {}
    check = sqlite3.connect(settings.db)
    for sql in statements:
        if sql.lstrip().upper().startswith("SELECT") and "usage_events" in sql and "json_each" in sql:
            plans[sql] = [row[3] for row in check.execute("EXPLAIN QUERY PLAN " + sql)]
    check.close()
    assert len(plans) >= 3, plans  # existing rows, recount, count of new calls
    for sql, plan in plans.items():
        on_events = [step for step in plan if step.startswith(("SCAN e", "SEARCH e"))]
        assert on_events, (sql, plan)
        assert all("message_id=?" in step for step in on_events), (sql, plan)
