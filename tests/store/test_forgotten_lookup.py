"""The look-up of forgotten calls by request id that every OTLP request makes once an admin has
forgotten anything (reverse of QA F7): a probe of the index m035 added, on both engines, never a
walk of the log copies' tombstones (a team server keeps one per call each forget removed)."""

from __future__ import annotations

from cost_mcp.store import write_transaction
from cost_mcp.store.connection import Conn, dialect
from cost_mcp.store.reported import BY_REQUEST_SQL, forgotten_request_ids


def test_request_ids_of_forgotten_log_copies_are_found_by_index(conn: Conn) -> None:
    with write_transaction(conn):
        conn.executemany(
            "INSERT INTO forgotten_calls (source, message_id, request_id, is_sidechain, ts_ms, forgotten_ms) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [("claude_code", f"msg_{i}", f"req_{i}", i % 2, i, 1) for i in range(5000)]
            + [("claude_code_otel", "req_otel", "req_otel", 0, 1, 1)],
        )
    conn.execute("ANALYZE forgotten_calls")
    with write_transaction(conn):
        found = forgotten_request_ids(conn, "claude_code", ["req_7", "req_4999", "req_otel", "req_none"])
    # Only the log copies' own: an OTel copy's tombstone is found under its key (forgotten_keys).
    assert found == {"req_7", "req_4999"}

    sql = BY_REQUEST_SQL.format("?, ?")
    args = ("claude_code", "req_7", "req_none")
    if dialect(conn) == "postgresql":
        plan = "\n".join(str(r[0]) for r in conn.execute("EXPLAIN " + sql, args))
        assert "forgotten_calls_request" in plan and "Seq Scan" not in plan, plan
    else:
        plan = " ".join(str(r[3]) for r in conn.execute("EXPLAIN QUERY PLAN " + sql, args))
        assert "INDEX forgotten_calls_request (source=? AND request_id=?)" in plan, plan
