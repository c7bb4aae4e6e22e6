#!/usr/bin/env python3
"""How long ``cost-mcp team rename-member`` holds the write lock, and how long its rollup rebuild takes.

    python bench/bench_rename_member.py [--calls 1000000] [--members 20] [--db /tmp/rename-bench/cost.db]

Builds a scratch SQLite ledger (deleted first) of ``--calls`` pushed calls spread evenly over a year,
the members taking turns (so each one's calls lie in every quarter-hour: the worst case for the
rollup), rolls it up, then renames two members in turn as the command does: the one write
transaction (``store.team.rename_member``: every pushing laptop waits for it) and the rebuild of the
quarter-hours it marked (``rollup.refresh_by_weeks``: pushes go on between weeks). Prints each phase.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from cost_mcp.store import connect, rollup, write_transaction
from cost_mcp.store import team as team_store

_YEAR_MS = 365 * 86_400_000
_START_MS = 1_760_000_000_000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=20)
    parser.add_argument("--db", type=Path, default=Path("/tmp/rename-bench/cost.db"))
    args = parser.parse_args()
    args.db.parent.mkdir(parents=True, exist_ok=True)
    for old in args.db.parent.glob(args.db.name + "*"):
        old.unlink()
    conn = connect(args.db)
    n, step = args.calls, _YEAR_MS // args.calls
    with write_transaction(conn):
        conn.execute(
            f"""
            WITH RECURSIVE i(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM i WHERE x < {n - 1})
            INSERT INTO usage_events (source, message_id, ts_ms, provider, model, session_id, project,
                                      agent, member, input_tokens, output_tokens, total_tokens,
                                      cost_nanos, origin)
            SELECT 'claude_code', 'm' || x, {_START_MS} + x * {step}, 'anthropic', 'claude-opus-4-1',
                   's' || (x / 50), 'p' || (x % 7), 'claude-code',
                   'u' || (x % {args.members}) || '@old.example',
                   1000, 100, 1100, 20000000, 'push'
            FROM i
            """
        )
        conn.execute(
            "INSERT INTO rollup_dirty (qh) SELECT DISTINCT ts_ms / 900000 FROM usage_events "
            "WHERE true ON CONFLICT DO NOTHING"
        )
    rollup.refresh(conn)
    for who in ("u1", "u2"):
        team_store.create_token(conn, f"{who}-laptop", f"{who}@old.example")
        started = time.perf_counter()
        done = team_store.rename_member(conn, f"{who}@old.example", f"{who}@new.example")
        moved = time.perf_counter()
        rollup.refresh_by_weeks(conn)
        rebuilt = time.perf_counter()
        print(
            f"{who}: {done.moved['calls']:,} calls of {n:,}: write transaction {moved - started:.2f} s, "
            f"rollup of {done.quarter_hours:,} quarter-hours rebuilt by weeks in {rebuilt - moved:.2f} s"
        )
    conn.close()


if __name__ == "__main__":
    main()
