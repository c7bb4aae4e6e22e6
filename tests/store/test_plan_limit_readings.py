"""Plan-limit readings written in a batch (a Codex scan's flush) keep the one-at-a-time rule."""

from __future__ import annotations

import random

from cost_mcp.store.connection import Conn, write_transaction
from cost_mcp.store.plan_limits import Reading, insert_readings

Stored = tuple[int, str, str, float, int | None, str]


def _expected(before: list[Stored], batch: list[tuple[str, Reading]]) -> list[Stored]:
    """The rule stated the slow way: a reading is added unless the latest row of its window (by
    time, then by insertion) says the same, or a row already holds its window, reset and percent."""
    rows = list(before)
    for agent, (window, used, resets, session, ts) in batch:
        same_window = [(r[0], i, r) for i, r in enumerate(rows) if (r[1], r[2]) == (agent, window)]
        if same_window:
            latest = max(same_window, key=lambda t: (t[0], t[1]))[2]
            if (latest[3], latest[4]) == (used, resets):
                continue
        if resets is not None and any(
            (r[1], r[2], r[4], r[3]) == (agent, window, resets, used) for r in rows
        ):
            continue  # UNIQUE (agent, window, resets_at_ms, used_percent); NULLs are distinct there
        rows.append((ts, agent, window, used, resets, session))
    return rows


def _stored(conn: Conn) -> list[Stored]:
    return [
        (int(ts), str(a), str(w), float(u), None if r is None else int(r), str(s))
        for ts, a, w, u, r, s in conn.execute(
            'SELECT ts_ms, agent, "window", used_percent, resets_at_ms, session_id FROM plan_limit_readings '
            "ORDER BY id"
        ).fetchall()
    ]


def test_a_batch_of_readings_adds_what_one_reading_at_a_time_would(conn: Conn) -> None:
    rng = random.Random(7)
    before: list[Stored] = [
        (5_000, "codex", "five_hour", 40.0, 9_000_000, "old"),
        (9_000, "codex", "five_hour", 10.0, 9_000_000, "old"),  # the window's latest: 10% at 9 s
        (1_000, "codex", "seven_day", 3.0, None, "old"),
    ]
    with write_transaction(conn):
        for ts, agent, window, used, resets, session in before:
            conn.execute(
                "INSERT INTO plan_limit_readings "
                '(ts_ms, agent, "window", used_percent, resets_at_ms, session_id) VALUES (?, ?, ?, ?, ?, ?)',
                (ts, agent, window, used, resets, session),
            )
    # Two sessions read one after the other: stamps out of order, the same percent said again,
    # a row that exists already (same reset and percent), no reset time, several windows.
    batch: list[tuple[str, Reading]] = [
        ("codex", ("five_hour", 10.0, 9_000_000, "a", 12_000)),  # the latest said again: nothing
        ("codex", ("five_hour", 40.0, 9_000_000, "a", 13_000)),  # that row exists: nothing
        ("codex", ("five_hour", 11.0, 9_000_000, "a", 14_000)),
        ("codex", ("five_hour", 12.0, 9_000_000, "b", 3_000)),  # stamped before the latest
        ("codex", ("five_hour", 11.0, 9_000_000, "b", 4_000)),  # says what the latest (14 s) says
        ("codex", ("seven_day", 3.0, None, "b", 500)),
        ("codex", ("seven_day", 4.0, None, "b", 2_000)),
    ]
    for _ in range(300):
        batch.append(
            (
                "codex",
                (
                    rng.choice(("five_hour", "seven_day", "60_minutes")),
                    float(rng.randrange(8, 14)),
                    rng.choice((None, 9_000_000, 9_060_000)),
                    rng.choice("abc"),
                    rng.randrange(0, 40_000, 500),  # ties too
                ),
            )
        )
    want = _expected(before, batch)
    with write_transaction(conn):
        added = insert_readings(conn, "codex", (reading for _, reading in batch))
    assert _stored(conn) == want
    assert added == len(want) - len(before)
    assert 30 < added < 300  # the batch both adds and skips readings
