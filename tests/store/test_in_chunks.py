"""One look-up over more ids than one statement takes: run in chunks, on both engines, with every
row found once and in the order of the chunks."""

from __future__ import annotations

from cost_mcp.store import reported, write_transaction
from cost_mcp.store.connection import Conn, in_chunks
from cost_mcp.store.usage import insert_reported
from tests.store.reported_calls import reported_call

KEYS = [f"k{i:04d}" for i in range(1001)]


def _fill(conn: Conn) -> None:
    with write_transaction(conn):
        conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", [(k, f"v{k}") for k in KEYS])


def test_ids_past_a_chunk_are_looked_up_in_several_statements(conn: Conn) -> None:
    _fill(conn)
    wanted = [*KEYS, "absent"]
    chunks = list(
        in_chunks(
            conn,
            "SELECT key FROM meta WHERE key > ? AND key IN ({}) AND key != ? ORDER BY key",
            wanted,
            before=("k0000",),
            after=("k1000",),
        )
    )
    # 500 ids per statement: the first finds 499 (k0000 excluded), the third none (k1000 excluded, absent).
    assert [len(rows) for rows in chunks] == [499, 500, 0]
    assert [str(r[0]) for rows in chunks for r in rows] == KEYS[1:1000]


def test_a_row_value_mark_counts_each_of_its_placeholders(conn: Conn) -> None:
    _fill(conn)
    pairs = [(k, f"v{k}") if i % 2 == 0 else (k, "other") for i, k in enumerate(KEYS)]
    chunks = list(
        in_chunks(
            conn,
            "SELECT key, value FROM meta WHERE (key, value) IN (VALUES {}) ORDER BY key",
            pairs,
            mark="(?, ?)",
            max_marks=600,
        )
    )
    # 300 pairs (600 placeholders) per statement: 1,001 pairs take four; half of them match.
    assert [len(rows) for rows in chunks] == [150, 150, 150, 51]
    assert [(str(k), str(v)) for rows in chunks for k, v in rows] == pairs[::2]


def test_no_ids_run_no_statement(conn: Conn) -> None:
    # A statement would fail: PostgreSQL has no empty IN (), and this one is not even SQL.
    assert list(in_chunks(conn, "not a statement ({})", [])) == []


TS = 1_767_225_600_000  # 2026-01-01 UTC


def _report(conn: Conn, source: str, message_id: str, ts_ms: int, agent: str, cost: int) -> None:
    call = reported_call(message_id, ts_ms, source=source, agent=agent, cost_nanos=cost)
    assert insert_reported(conn, call) == "recorded"


def test_reported_calls_past_a_chunk_are_listed_forgotten_and_lifted_whole(conn: Conn) -> None:
    """1,100 reported calls, two per millisecond, half of them the agent a's, one id also read from
    a log: each look-up by id crosses two chunk boundaries and answers as one statement would."""
    ids = [f"m{i:04d}" for i in range(1100)]
    for i, message_id in enumerate(ids):
        _report(conn, reported.SOURCE, message_id, TS + i // 2, "ab"[i % 2], i)
    for message_id in ("m0007", "m0600"):
        _report(conn, "claude_code", message_id, TS, "", 0)

    newest_first = sorted(range(1100), key=lambda i: (-(i // 2), ids[i]))
    calls, count = reported.select(conn, reported.Selection(ids=[*ids, "absent"], agents=["a"]), limit=10)
    assert count == 550
    assert [(c.id, c.ts_ms, c.agent, c.cost_nanos) for c in calls] == [
        (ids[i], TS + i // 2, "a", i) for i in newest_first if i % 2 == 0
    ][:10]
    assert reported.other_sources(conn, [*ids, "absent"]) == {
        "m0007": ["claude_code"],
        "m0600": ["claude_code"],
    }

    gone = reported.delete(conn, ids[:1050], now_ms=TS + 5000)
    assert [c.id for c in gone] == [ids[i] for i in newest_first if i < 1050]
    assert reported.select(conn, reported.Selection(ids=ids))[1] == 50
    forgotten, count = reported.select(conn, reported.Selection(ids=ids), forgotten=True)
    assert count == 1050 and [c.id for c in forgotten] == [c.id for c in gone]
    assert {c.forgotten_ms for c in forgotten} == {TS + 5000}
    keys = [(reported.SOURCE, m, "", 0) for m in ids] + [("claude_code", "m0007", "", 0)]
    with write_transaction(conn):
        assert reported.forgotten_keys(conn, keys) == set(keys[:1050])

    lifted = reported.unforget(conn, [*ids, "absent"], now_ms=TS + 6000)
    assert [(c.id, c.ts_ms, c.cost_nanos) for c in lifted] == [(c.id, c.ts_ms, c.cost_nanos) for c in gone]
    assert reported.select(conn, reported.Selection(ids=ids), forgotten=True) == ([], 0)
