"""Look-ups that read a handful of calls must not read the ledger (h-qascale): on a ledger of three
years of one heavy user (3M calls, no statistics, as every SQLite ledger is), `cost-mcp session`
spent 16 s summing one session's output per source and `reported list` 17-29 s finding the newest
50 reported calls, because SQLite took the unique key (source first) and read every call of the
source. On SQLite each statement's plan is checked (EXPLAIN QUERY PLAN, no timing); on both engines
the answers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from cost_mcp.store import events, reported, sessions, write_transaction
from cost_mcp.store.connection import Conn, LedgerConnection, dialect
from cost_mcp.store.usage import insert_reported
from tests.store.reported_calls import reported_call

TS = 1_767_225_600_000  # 2026-01-01 UTC
UNIQUE_KEY = "sqlite_autoindex_usage_events_1"


@contextmanager
def statements(conn: Conn) -> Iterator[list[str]]:
    """The SQL statements run on ``conn`` meanwhile, with their values (SQLite only; none on
    PostgreSQL, whose planner has statistics and is not checked here)."""
    seen: list[str] = []
    if dialect(conn) == "postgresql":
        yield seen
        return
    assert isinstance(conn, LedgerConnection)
    conn.set_trace_callback(seen.append)
    try:
        yield seen
    finally:
        conn.set_trace_callback(None)


def plans(conn: Conn, seen: list[str], keep: Callable[[str], bool]) -> list[str]:
    """The query plan of each statement ``keep`` picks, as one line each."""
    return [
        " ".join(str(r[3]) for r in conn.execute("EXPLAIN QUERY PLAN " + sql)) for sql in seen if keep(sql)
    ]


def _report(
    conn: Conn, message_id: str, ts_ms: int, session_id: str = "s", source: str = reported.SOURCE
) -> None:
    call = reported_call(message_id, ts_ms, source=source, session_id=session_id, cost_nanos=1)
    assert insert_reported(conn, call) == "recorded"


def test_a_sessions_output_per_source_reads_the_session_only(conn: Conn) -> None:
    for i in range(40):
        _report(conn, f"other-{i}", TS + i, session_id=f"s{i % 4}")
    _report(conn, "mine-1", TS + 100, session_id="mine")
    _report(conn, "mine-2", TS + 101, session_id="mine", source="claude_code")

    with statements(conn) as seen:
        found = sessions.output_by_source(conn, ["claude_code", "claude_code_otel"], "mine")
    assert found == {"claude_code": 0}
    assert sessions.output_by_source(conn, [reported.SOURCE, "claude_code"], "mine") == {
        reported.SOURCE: 0,
        "claude_code": 0,
    }
    for plan in plans(conn, seen, lambda sql: "usage_events" in sql):
        assert "INDEX usage_events_session (session_id=?)" in plan, plan


def test_the_newest_reported_calls_are_found_by_time_not_by_reading_them_all(conn: Conn) -> None:
    # 30 reported calls, two per millisecond; three of them uncounted (a log copy counts instead),
    # among the newest: the list shows them too, in time order.
    ids = [f"m{i:02d}" for i in range(30)]
    for i, message_id in enumerate(ids):
        _report(conn, message_id, TS + i // 2)
    _report(conn, "log-copy", TS + 5, source="claude_code")
    uncounted = {"m29", "m26", "m03"}
    with write_transaction(conn):
        conn.executemany(
            "UPDATE usage_events SET counted = 0 WHERE source = ? AND message_id = ?",
            [(reported.SOURCE, m) for m in uncounted],
        )
    newest_first = sorted(range(30), key=lambda i: (-(i // 2), ids[i]))

    with statements(conn) as seen:
        calls, count = reported.select(conn, reported.Selection(), limit=5)
        in_january, count_january = reported.select(
            conn, reported.Selection(start_ms=TS + 3, end_ms=TS + 14), limit=4
        )
    assert count == 30
    assert [(c.id, c.counted) for c in calls] == [(ids[i], ids[i] not in uncounted) for i in newest_first[:5]]
    assert count_january == 22
    assert [c.id for c in in_january] == [ids[i] for i in newest_first if 6 <= i < 28][:4]
    whole, _ = reported.select(conn, reported.Selection())
    assert [c.id for c in whole] == [ids[i] for i in newest_first]
    for plan in plans(conn, seen, lambda sql: "usage_events" in sql):
        assert UNIQUE_KEY not in plan and "INDEX usage_events_counted_ts" in plan, plan


def test_reprice_all_reads_each_chunk_by_id_not_every_counted_call(conn: Conn) -> None:
    # Ten priced reported calls, one uncounted and one unpriced: each chunk of two is the next two
    # counted, priced calls by id, found by seeking the id (reprice --all was quadratic: every chunk
    # read all counted calls through the (counted, ts_ms) index and sorted them by id).
    for i in range(10):
        _report(conn, f"c{i}", TS + 10 - i)  # newer ids, older times: the order is the id's
    with write_transaction(conn):
        conn.execute("UPDATE usage_events SET counted = 0 WHERE message_id = 'c3'")
        conn.execute("UPDATE usage_events SET cost_nanos = NULL WHERE message_id = 'c6'")
    ids = [int(r[0]) for r in conn.execute("SELECT id FROM usage_events ORDER BY id")]

    chunks: list[list[int]] = []
    after = 0
    with statements(conn) as seen:
        while found := events.priced_calls_after(conn, after, 2):
            chunks.append([f.call.id for f in found])
            after = found[-1].call.id
    wanted = [i for n, i in enumerate(ids) if n not in (3, 6)]
    assert chunks == [wanted[n : n + 2] for n in range(0, 8, 2)]
    for plan in plans(conn, seen, lambda sql: "usage_events" in sql):
        assert "USING INTEGER PRIMARY KEY (rowid>?)" in plan and "TEMP B-TREE" not in plan, plan


def test_the_latest_session_of_a_project_reads_that_projects_calls_only(conn: Conn) -> None:
    # `cost-mcp session` in a folder: the newest counted call of its project (by path or slug) from
    # the sources asked; a folder with no calls read every counted call newest first (4.4 s at 3M).
    for i in range(40):
        _report(conn, f"other-{i}", TS + 100 + i, session_id=f"s{i % 4}", source="claude_code")
    mine = {"/home/me/mine": [("old", 1), ("reported", 3)], "-home-me-mine": [("new", 2), ("dropped", 50)]}
    for project, calls in mine.items():
        for session_id, at in calls:
            source = reported.SOURCE if session_id == "reported" else "claude_code"
            call = reported_call(session_id, TS + at, source=source, session_id=session_id, project=project)
            assert insert_reported(conn, call) == "recorded"
    with write_transaction(conn):  # another copy of that call counts: this one is not the latest
        conn.execute("UPDATE usage_events SET counted = 0 WHERE message_id = 'dropped'")

    with statements(conn) as seen:
        latest = sessions.latest_session(conn, ["claude_code"], ("/home/me/mine", "-home-me-mine"))
        nowhere = sessions.latest_session(conn, ["claude_code"], ("/home/me/new-project",))
    assert (latest, nowhere) == ("new", None)
    assert sessions.latest_session(conn, [reported.SOURCE, "claude_code"], ("/home/me/mine",)) == "reported"
    for plan in plans(conn, seen, lambda sql: "usage_events" in sql):
        assert "INDEX usage_events_project_ts (project=?)" in plan, plan
