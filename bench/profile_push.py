"""Where a team server's push goes (issue 14): the phases of ``POST /api/push`` in one process.

Builds a fresh ledger, then sends ``--batches`` batches of ``--batch`` distinct Claude Code rows (the
rows of bench_team.py) through the server's own code, timing each phase in CPU seconds (the figure
the machine's load moves least): decode (gunzip + msgspec + checks), pricing, and the store
(``store_pushed``: the existing-key probes, the upsert, the rollup), with cProfile's split of the
store. Then times ``get_spend(group_by=["member"])`` on the result, alone: what a query costs when it
does not wait behind pushes. ``--pg`` runs it on a throwaway PostgreSQL cluster (tests/pg_cluster.py,
fsync on) and also gives the store's wall time, most of which is then the server's; with
``--statements`` also the wall time of each kind of statement per batch (a statement's first words;
the timing wrapper's own cost is in the store's figures, so compare those without it).

    python bench/profile_push.py --batches 200 --batch 500 [--pg [--statements]]
"""

from __future__ import annotations

import argparse
import cProfile
import gzip
import io
import pstats
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_team import rows
from benchlib import save, table
from cost_mcp import push
from cost_mcp.access import Caller
from cost_mcp.analytics import spend
from cost_mcp.config import Settings
from cost_mcp.pricing import Pricer
from cost_mcp.sources.claude_code import recount
from cost_mcp.store import connect
from cost_mcp.store import team as team_store


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, default=200)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--pushers", type=int, default=20, help="members the batches are spread over")
    ap.add_argument("--pg", action="store_true", help="the ledger in a throwaway PostgreSQL cluster")
    ap.add_argument(
        "--statements", action="store_true", help="with --pg: wall time per kind of statement per batch"
    )
    args = ap.parse_args()
    if not args.pg:
        run(args, None)
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.pg_cluster import Cluster

    cluster = Cluster(durable=True)
    try:
        run(args, cluster.url(cluster.new_database()))
    finally:
        cluster.stop()


def run(args: argparse.Namespace, pg_url: str | None) -> None:
    """One profile on a fresh ledger: an SQLite file, else the PostgreSQL database given."""
    now_ms = int(datetime.now(UTC).timestamp() * 1000) - 60_000
    pricer = Pricer()
    spent = {"decode": 0.0, "price": 0.0, "store": 0.0}
    store_wall = 0.0
    profile = cProfile.Profile()
    statements: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        db: Path | str = pg_url or Path(tmp) / "cost.db"
        conn = connect(db)
        if args.statements and pg_url:
            timed(conn, statements)
        for n in range(args.batches):
            pusher = n % args.pushers
            caller = Caller(f"dev{pusher}@example.com", "member", f"p{pusher}")
            batch = rows(pusher, n // args.pushers, args.batch, now_ms)
            body = gzip.compress(msgspec.json.encode(push.WireBatch(rows=batch)), compresslevel=5)
            t = time.process_time()
            decoded = push.decode(body, "application/json", "gzip")
            spent["decode"] += time.process_time() - t
            t = time.process_time()
            prices = push.price_rows(pricer, decoded)
            spent["price"] += time.process_time() - t
            stored = [push._stored(r) for r in decoded]
            t, w = time.process_time(), time.perf_counter()
            profile.enable()
            team_store.store_pushed(conn, caller.member, caller.token_name, stored, prices, recount)
            profile.disable()
            spent["store"] += time.process_time() - t
            store_wall += time.perf_counter() - w
        events = args.batches * args.batch
        settings = Settings(db=db, timezone="UTC")
        period = spend.resolve(settings, "last_7_days", None, None, None)
        times = []
        for _ in range(20):
            t = time.process_time()
            spend.get_spend(conn, settings, period, ["member"], spend.Filters(), take_alerts=False)
            times.append(time.process_time() - t)
        conn.close()
    per_event_us = {k: v / events * 1e6 for k, v in spent.items()}
    kind = "postgresql" if pg_url else "sqlite"
    total = sum(spent.values())
    print(
        table(
            ["phase", "CPU s", "µs per event", "share"],
            [[k, f"{v:.2f}", f"{per_event_us[k]:.1f}", f"{v / total:.0%}"] for k, v in spent.items()]
            + [["all", f"{total:.2f}", f"{total / events * 1e6:.1f}", "100%"]],
        )
    )
    print(f"\n{events:,} events: {events / total:,.0f} events per CPU second without HTTP")
    print(f"store wall: {store_wall:.2f} s, {store_wall / events * 1e6:.1f} µs per event (ledger: {kind})")
    times.sort()
    p50, top = times[10] * 1000, times[-1] * 1000
    print(f"get_spend(group_by=member) alone on them: p50 {p50:.1f} ms, max {top:.1f} ms CPU")
    if statements:
        print(f"\nstatements per batch ({args.batches} batches), wall ms:")
        rows_ = sorted(statements.items(), key=lambda kv: -sum(kv[1]))
        print(
            table(
                ["statement", "per batch", "ms each", "ms per batch"],
                [
                    [k, f"{len(v) / n:.2f}", f"{sum(v) / len(v):.2f}", f"{sum(v) / n:.2f}"]
                    for k, v in rows_
                    for n in [args.batches]
                ],
            )
        )
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(12)
    print("\nstore_pushed, by own time:\n" + "\n".join(out.getvalue().splitlines()[6:22]))
    save(
        "profile_push",
        {
            "events": events,
            **{f"{k}_us_per_event": round(v, 1) for k, v in per_event_us.items()},
            "events_per_cpu_s": round(events / total),
            "ledger": kind,
            "store_wall_us_per_event": round(store_wall / events * 1e6, 1),
            "get_spend_p50_ms": round(times[10] * 1000, 1),
        },
    )


def timed(conn: Any, into: dict[str, list[float]]) -> None:
    """Wrap a PgConnection's execute, copy_rows and commit to note each call's wall time under the
    statement's first words (a data-modifying CTE under its first table)."""
    import re

    execute, copy_rows = conn.execute, conn.copy_rows

    def kind(sql: str) -> str:
        words = re.sub(r"\s+", " ", sql).strip()
        if words.upper().startswith("WITH"):
            first = re.search(r"\b(INSERT INTO|UPDATE|DELETE FROM) (\w+)", words, re.I)
            return f"WITH ... {first.group(1)} {first.group(2)}" if first else words[:40]
        return " ".join(words.split(" ")[:3])[:40]

    def note(name: str, t: float) -> None:
        into.setdefault(name, []).append((time.perf_counter() - t) * 1000)

    def timed_execute(sql: str, parameters: Any = (), /) -> Any:
        t = time.perf_counter()
        try:
            return execute(sql, parameters)
        finally:
            note(kind(sql), t)

    def timed_copy(table_: str, columns: Any, rows_: Any, **kw: Any) -> int:
        t = time.perf_counter()
        try:
            return int(copy_rows(table_, columns, rows_, **kw))
        finally:
            note(f"COPY {table_}", t)

    conn.execute, conn.copy_rows = timed_execute, timed_copy


if __name__ == "__main__":
    main()
