"""Team pushes side by side (issue 14): on PostgreSQL they share the write lock (store.team claims
each batch's messages), so pushes of overlapping rows from several threads at once must leave the
ledger exactly as the same pushes one after another do: the same stored copies ("max tokens wins"),
the same counted copy per call, a rollup equal to its rebuild, and no deadlock left unretried."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from cost_mcp.config import Settings
from cost_mcp.sources.claude_code import recount
from cost_mcp.store import connect, rollup, write_transaction
from cost_mcp.store import team as team_store
from cost_mcp.store.connection import Conn, dialect
from cost_mcp.store.team import Priced, PushedRow

T0 = 1_790_000_000_000
"""A fixed instant (2026-09-21): the rows' times never depend on when the test runs."""


def _row(source: str, message: str, request: str, sidechain: int, ts: int, tokens: int) -> PushedRow:
    return PushedRow(
        source=source,
        message_id=message,
        request_id=request,
        is_sidechain=sidechain,
        ts_ms=ts,
        provider="anthropic",
        model="claude-sonnet-4-5-20250929",
        session_id=f"s{ts % 3}",
        project="proj",
        agent="claude-code",
        input_tokens=tokens,
        output_tokens=tokens // 2,
        cache_read_tokens=tokens * 3,
        cache_write_5m_tokens=0,
        cache_write_1h_tokens=0,
        web_search_requests=0,
        speed="",
        service_tier="",
        inference_geo="",
        reported_cost_nanos=None if tokens % 4 else tokens * 11,
    )


def _price(r: PushedRow) -> Priced:
    # Some calls unpriced: the rollup's unpriced counts must add up too.
    if r.input_tokens % 7 == 0:
        return Priced(None, None, "")
    return Priced(r.total_tokens * 3, r.model, "")


def _laptop(pusher: int, member: int, messages: int) -> list[PushedRow]:
    """What one laptop pushes: every message of its member, its own copies. Two laptops of one
    member push the same keys with different tokens and times (one of them wins), sidechain
    replays and copies without a request id of the same messages (one copy counts per call)."""
    out = []
    for i in range(messages):
        message, request = f"m{member}_{i}", f"r{member}_{i}"
        tokens = 100 + (i * 37 + pusher * 101) % 500
        ts = T0 + (i * 7 + pusher * 13) % 240 * 60_000
        out.append(_row("claude_code", message, request, 0, ts, tokens))
        if i % 3 == pusher % 3:
            out.append(_row("claude_code", message, request, 1, ts + 1000, tokens + pusher))
        if i % 5 == pusher % 5:
            out.append(_row("claude_code", message, "", 0, ts + 2000, tokens - 1))
    return out


def _otel(messages: int) -> list[PushedRow]:
    """OTel copies of member 0's calls: counted only while their log copy is not stored."""
    return [
        _row("claude_code_otel", f"o{i}", f"r0_{i}", 0, T0 + i * 60_000, 90) for i in range(0, messages, 4)
    ]


def _batches(rows: list[PushedRow], size: int, seed: int) -> list[list[PushedRow]]:
    shuffled = list(rows)
    random.Random(seed).shuffle(shuffled)
    batches = [shuffled[i : i + size] for i in range(0, len(shuffled), size)]
    # A batch holding one key twice is merged in rounds: one such batch per laptop.
    batches[0].append(batches[-1][0])
    return batches


def _push(conn: Conn, member: str, batch: Sequence[PushedRow]) -> int:
    return team_store.store_pushed(conn, member, "t", batch, [_price(r) for r in batch], recount).changed


def _pushers() -> list[tuple[str, list[list[PushedRow]]]]:
    """(member, batches) per laptop: two laptops each for two members, one pushing OTel rows."""
    out = [(f"dev{p // 2}@example.com", _batches(_laptop(p, p // 2, 60), 25, p)) for p in range(4)]
    out.append(("dev0@example.com", _batches(_otel(60), 5, 9)))
    return out


def _state(conn: Conn) -> tuple[list[tuple[object, ...]], ...]:
    rollup.refresh(conn)
    events = conn.execute(
        "SELECT source, message_id, request_id, is_sidechain, counted, ts_ms, session_id, member, "
        "total_tokens, cost_nanos, reported_cost_nanos FROM usage_events "
        "ORDER BY source, message_id, request_id, is_sidechain"
    ).fetchall()
    return (
        [tuple(r) for r in events],
        *([tuple(r) for r in sorted(conn.execute(f"SELECT * FROM {t}").fetchall())] for t in rollup.TABLES),
    )


def _rebuilt(conn: Conn) -> tuple[list[tuple[object, ...]], ...]:
    with write_transaction(conn):
        rollup.rebuild(
            conn, [int(r[0]) for r in conn.execute("SELECT DISTINCT ts_ms / 900000 FROM usage_events")]
        )
    return _state(conn)


def test_concurrent_pushes_equal_one_serial_push(settings: Settings, tmp_path: Path) -> None:
    pushers = _pushers()
    serial = connect(tmp_path / "serial.db")
    try:
        for member, batches in pushers:
            for batch in batches:
                _push(serial, member, batch)
        expected = _state(serial)
        assert _rebuilt(serial) == expected
    finally:
        serial.close()
    assert sum(int(str(r[4])) for r in expected[0]) < len(expected[0])  # copies were uncounted

    conns = [connect(settings.db) for _ in pushers]
    start = threading.Barrier(len(pushers))
    errors: list[BaseException] = []

    def run(conn: Conn, member: str, batches: list[list[PushedRow]]) -> None:
        try:
            start.wait()
            for batch in batches:
                _push(conn, member, batch)
        except BaseException as exc:  # reported below, with the others'
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=(conn, member, batches))
        for conn, (member, batches) in zip(conns, pushers, strict=True)
    ]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        got = _state(conns[0])
        assert got == expected
        assert _rebuilt(conns[0]) == expected
        # A claim is kept, one row per message of every push beside others (a batch with OTel
        # rows holds the lock alone and claims nothing), and its lock went with the push's commit.
        if dialect(conns[0]) == "postgresql":
            claims = conns[0].execute("SELECT source, message_id FROM push_claims FOR UPDATE NOWAIT")
            assert {(str(s), str(m)) for s, m in claims} == {
                (r.source, r.message_id)
                for _, batches in pushers
                for batch in batches
                if all(r.source != "claude_code_otel" for r in batch)
                for r in batch
            }
    finally:
        for conn in conns:
            conn.close()


@pytest.mark.postgresql_only  # one writer at a time on SQLite: nothing to deadlock
def test_a_push_picked_as_a_deadlocks_victim_is_retried(settings: Settings) -> None:
    conn = connect(settings.db)
    other = connect(settings.db)
    try:
        member = "dev0@example.com"
        _push(conn, member, [_row("claude_code", "m1", "r1", 0, T0, 100)])
        # The other session holds the rollup row the push will add to, then claims the push's
        # message: each waits for the other. Its own deadlock check comes later than the
        # push's, so the push is the one PostgreSQL rolls back.
        other.execute("SET deadlock_timeout = '20s'")
        other.execute("BEGIN")
        other.execute("UPDATE usage_rollup SET requests = requests WHERE member = ?", (member,))
        pid = int(conn.raw.info.backend_pid)  # type: ignore[attr-defined]
        answer: list[int] = []
        pushing = threading.Thread(
            target=lambda: answer.append(_push(conn, member, [_row("claude_code", "m2", "r2", 0, T0, 50)]))
        )
        pushing.start()
        for _ in range(500):
            waiting = other.raw.execute(  # type: ignore[attr-defined]
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)
            ).fetchone()
            if waiting and waiting[0] == "Lock":
                break
            time.sleep(0.01)
        other.execute("INSERT INTO push_claims (source, message_id) VALUES ('claude_code', 'm2')")
        # The push was rolled back, so this claim went through; let the retry have the message.
        other.execute("ROLLBACK")
        pushing.join(timeout=60)
        assert answer == [1]
        assert _state(conn) == _rebuilt(conn)
        assert conn.execute("SELECT SUM(requests) FROM usage_rollup").fetchone()[0] == 2
    finally:
        other.close()
        conn.close()


@pytest.mark.postgresql_only  # SQLite pushes take the lock alone and claim nothing
def test_kept_claims_are_emptied_by_a_push_alone_once_enough(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(team_store, "CLAIMS_KEPT", 3)
    monkeypatch.setattr(team_store, "_claims", team_store._ClaimCount())
    conn = connect(settings.db)
    try:

        def claims() -> set[str]:
            return {str(r[0]) for r in conn.execute("SELECT message_id FROM push_claims")}

        member = "dev0@example.com"
        _push(conn, member, [_row("claude_code", f"a{i}", f"r{i}", 0, T0 + i, 100) for i in range(2)])
        assert claims() == {"a0", "a1"}  # kept after the commit, unlocked (below)
        _push(
            conn,
            member,
            [_row("claude_code", "b0", "r0", 0, T0, 100), _row("claude_code", "a0", "r0", 0, T0, 9)],
        )
        assert claims() == {"a0", "a1", "b0"}  # a0 claimed again: its row was locked, not added
        # Three counted: the next push holds the lock alone, empties the claims and claims nothing.
        _push(conn, member, [_row("claude_code", "c0", "r0", 0, T0, 100)])
        assert claims() == set()
        _push(conn, member, [_row("claude_code", "d0", "r0", 0, T0, 100)])
        assert claims() == {"d0"}
        conn.execute("SELECT 1 FROM push_claims FOR UPDATE NOWAIT").fetchall()  # none left locked
        assert conn.execute("SELECT COUNT(*) FROM usage_events").fetchone()[0] == 5
        assert _state(conn) == _rebuilt(conn)
    finally:
        conn.close()
