"""PostgreSQL's plan for a push's look-up of the stored copies of its messages (issue 14, h-team4).

A team server's ledger grows by thousands of rows a second and autovacuum analyzes it at most
once a minute, so the look-up must probe the unique key once per (source, message id) whatever the
statistics say. Asked as ``source = ANY(...) AND message_id = ANY(...)``, an unanalyzed ledger
got a bitmap over every row of the source, filtering the message ids: a push's time grew with the
ledger (7.4k events/s in a 60 s bench run against 10k in a 30 s one)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from cost_mcp.config import Settings
from cost_mcp.store import connect, stages, write_transaction
from cost_mcp.store import team as team_store


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


@pytest.mark.postgresql_only
def test_the_stored_look_up_probes_the_unique_key_on_an_unanalyzed_ledger(settings: Settings) -> None:
    conn = connect(settings.db)
    try:
        # A ledger of one source, as a team server's first minutes leave it: never analyzed.
        conn.execute(
            "INSERT INTO usage_events (source, message_id, request_id, ts_ms, provider, model) "
            "SELECT 'claude_code', 'msg_' || g, 'req_' || g, g, 'anthropic', 'm' "
            "FROM generate_series(1, 50000) AS g"
        )
        assert conn.execute(
            "SELECT last_analyze IS NULL AND last_autoanalyze IS NULL FROM pg_stat_user_tables "
            "WHERE relname = 'usage_events'"
        ).fetchone() == (True,)
        # A batch of 500 of its messages, staged as a push stages them; the look-up reads the
        # batch's messages from there.
        texts = {"source", "message_id", "request_id", "provider", "model", "member"}
        batch = [
            tuple(
                ("claude_code" if c == "source" else f"msg_{i}" if c == "message_id" else f"x{i}")
                if c in texts
                else 0
                for c in team_store._PUSH_COLUMNS
            )
            for i in range(100, 600)
        ]
        stages.prepare(conn, team_store._PUSH_STAGES)
        with write_transaction(conn):
            stage = stages.staged(conn, "usage_events", team_store._PUSH_COLUMNS, batch)
            merge = team_store._MERGE_PG.replace("{first}", "true").replace("{rows}", stage)
            (raw,) = conn.execute("EXPLAIN (FORMAT JSON) " + merge).fetchone()
        plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
        reads = [
            n
            for n in _nodes(plan)
            if n.get("Relation Name") == "usage_events" and n["Node Type"] != "ModifyTable"
        ]
        assert reads, plan
        for node in reads:
            assert node["Node Type"] in ("Index Scan", "Index Only Scan"), node
        by_key = [n for n in reads if n["Index Name"] != "usage_events_otel_request"]
        assert by_key, plan
        for node in by_key:
            assert node["Index Name"] == "usage_events_source_message_id_request_id_is_sidechain_key"
            assert "message_id" in node["Index Cond"], node
        # The member check's look-up of other members' OTel copies: the partial index of OTel rows
        # (whether any exists, once; then per request id), never a walk over the log rows.
        by_request = [n for n in reads if n["Index Name"] == "usage_events_otel_request"]
        assert len(by_request) == 2 and any("request_id" in n.get("Index Cond", "") for n in by_request)
    finally:
        conn.close()


@pytest.mark.postgresql_only
def test_the_otel_copies_check_reads_the_batch_once_not_once_per_row(settings: Settings) -> None:
    """A ledger holding any OTel copy (a team whose members also export OpenTelemetry) turns on the
    merge's check for another member's OTel copy of each log row's request id. Inlined into the
    per-row check, that look-up read and sorted the whole staged batch and probed the OTel index for
    each of its request ids once per row of the batch: 2,000 x 2,000 probes, ~3.5 s a batch, so one
    laptop's 12,000 new log lines took 20.9 s to push (QA F7). Run for real (EXPLAIN ANALYZE): each
    read of the staged batch is one pass (or none), and the OTel index is probed about once per
    request id."""
    conn = connect(settings.db)
    n = 300
    try:
        with write_transaction(conn):
            # Another member's OTel copy of one of the batch's calls: that log row is refused.
            conn.execute(
                "INSERT INTO usage_events (source, message_id, request_id, ts_ms, provider, model, member) "
                "VALUES ('claude_code_otel', 'req_7', 'req_7', 1, 'anthropic', 'm', 'ana@example.com')"
            )
        batch = [_log_row(i) for i in range(n)]
        stages.prepare(conn, team_store._PUSH_STAGES)
        with write_transaction(conn):
            stage = stages.staged(conn, "usage_events", team_store._PUSH_COLUMNS, batch)
            merge = team_store._MERGE_PG.replace("{first}", "true").replace("{rows}", stage)
            (raw,) = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + merge).fetchone()
        plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
        nodes = list(_nodes(plan))
        batch_reads = [node for node in nodes if node.get("Relation Name") == stage]
        assert batch_reads, plan
        assert all(node["Actual Loops"] <= 1 for node in batch_reads), [
            (node["Node Type"], node["Actual Loops"]) for node in batch_reads
        ]
        otel_probes = sum(
            node["Actual Loops"] for node in nodes if node.get("Index Name") == "usage_events_otel_request"
        )
        assert 0 < otel_probes <= n + 1, otel_probes  # one per request id, and whether any OTel copy exists
        # The check still refuses the row whose call another member holds as an OTel copy.
        refused = [node["Actual Rows"] for node in nodes if node.get("Subplan Name") == "CTE refused"]
        assert refused == [1], refused
    finally:
        conn.close()


def _log_row(i: int) -> tuple[object, ...]:
    """A push's staged values (:data:`team_store._PUSH_COLUMNS`) of bob's log copy of call ``i``."""
    given: dict[str, object] = {
        "source": "claude_code",
        "message_id": f"msg_{i}",
        "request_id": f"req_{i}",
        "ts_ms": i,
        "provider": "anthropic",
        "model": "m",
        "member": "bob@example.com",
    }
    return tuple(given.get(c, "" if c in _TEXTS else 0) for c in team_store._PUSH_COLUMNS)


_TEXTS = {
    "session_id",
    "project",
    "agent",
    "speed",
    "service_tier",
    "inference_geo",
    "priced_model",
    "price_note",
    "origin",
}
