"""How long a PostgreSQL push holds the ledger's write lock, against the work PostgreSQL does inside it
(issue 14): ``--threads`` pushers in one process, each on its own connection, calling
``store_pushed`` with batches decoded and priced beforehand (as the server does before the ledger).

Per push it notes: the wait for the lock (the ``BEGIN`` that takes it), the time from holding it to
the commit's return, and within that the wall time of the statements themselves (round trips: what
PostgreSQL does plus a local socket's latency); what is left of the held time is Python on the
pushing thread, which competes for the interpreter's lock with every other thread. ``--src`` runs
another tree's code (a ``git archive`` of a commit) for comparison.

    python bench/profile_push_lock.py --threads 20 --batches 15 [--src /tmp/base/src]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=20, help="concurrent pushers, one connection each")
    ap.add_argument("--batches", type=int, default=15, help="batches per pusher")
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--src", help="import cost_mcp from this src directory instead")
    args = ap.parse_args()
    if args.src:
        sys.path.insert(0, str(Path(args.src).resolve()))
    sys.path.insert(1, str(_HERE))
    sys.path.insert(2, str(_HERE.parent))
    from tests.pg_cluster import Cluster

    cluster = Cluster(durable=True)
    try:
        run(args, cluster.url(cluster.new_database()))
    finally:
        cluster.stop()


class Timed:
    """Notes, per transaction of one connection: lock wait, held wall, statements' wall."""

    def __init__(self, conn: Any) -> None:
        self.waits: list[float] = []
        self.helds: list[float] = []
        self.inside: list[float] = []
        self._since = 0.0
        self._stmts = 0.0
        execute, copy_rows = conn.execute, conn.copy_rows

        def timed_execute(sql: str, parameters: Any = (), /) -> Any:
            t = time.perf_counter()
            try:
                return execute(sql, parameters)
            finally:
                now = time.perf_counter()
                head = sql.lstrip()[:6].upper()
                if head.startswith("BEGIN"):
                    self.waits.append(now - t)
                    self._since, self._stmts = now, 0.0
                elif head.startswith("COMMIT"):
                    self._stmts += now - t
                    self.helds.append(now - self._since)
                    self.inside.append(self._stmts)
                else:
                    self._stmts += now - t

        def timed_copy(table_: str, columns: Any, rows_: Any, **kw: Any) -> int:
            t = time.perf_counter()
            try:
                return int(copy_rows(table_, columns, rows_, **kw))
            finally:
                self._stmts += time.perf_counter() - t

        conn.execute, conn.copy_rows = timed_execute, timed_copy


def run(args: argparse.Namespace, url: str) -> None:
    from bench_team import rows
    from benchlib import table
    from cost_mcp import push
    from cost_mcp.pricing import Pricer
    from cost_mcp.sources.claude_code import recount
    from cost_mcp.store import connect
    from cost_mcp.store import team as team_store

    print(f"cost_mcp from {Path(push.__file__).resolve().parent}")
    now_ms = int(datetime.now(UTC).timestamp() * 1000) - 60_000
    pricer = Pricer()
    work: list[list[tuple[list[Any], list[Any]]]] = []
    for pusher in range(args.threads):
        mine = []
        for n in range(args.batches):
            wire = rows(pusher, n, args.batch, now_ms)
            mine.append(([push._stored(r) for r in wire], push.price_rows(pricer, wire)))
        work.append(mine)
    connect(url).close()  # migrated once, before the clock
    conns = [connect(url, migrate_schema=False) for _ in range(args.threads)]
    timers = [Timed(c) for c in conns]
    start = threading.Barrier(args.threads + 1)

    def pusher(i: int) -> None:
        start.wait()
        for stored, prices in work[i]:
            team_store.store_pushed(conns[i], f"dev{i}@example.com", f"p{i}", stored, prices, recount)

    threads = [threading.Thread(target=pusher, args=(i,)) for i in range(args.threads)]
    for t in threads:
        t.start()
    start.wait()
    t0, c0 = time.perf_counter(), time.process_time()
    for t in threads:
        t.join()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    total = conns[0].execute("SELECT COUNT(*), SUM(requests) FROM usage_rollup").fetchone()
    for c in conns:
        c.close()
    events = args.threads * args.batches * args.batch
    waits = sorted(w for t in timers for w in t.waits)
    helds = sorted(h for t in timers for h in t.helds)
    inside = sorted(s for t in timers for s in t.inside)
    python = sorted(h - s for t in timers for h, s in zip(t.helds, t.inside, strict=True))

    def ms(values: list[float], q: float) -> str:
        return f"{values[min(len(values) - 1, int(q * len(values)))] * 1000:.1f}"

    print(
        table(
            ["per push, ms", "p50", "p90", "mean"],
            [
                [name, ms(v, 0.5), ms(v, 0.9), f"{sum(v) / len(v) * 1000:.1f}"]
                for name, v in (
                    ("wait for the lock", waits),
                    ("held (lock to commit)", helds),
                    ("  statements inside", inside),
                    ("  Python inside", python),
                )
            ],
        )
    )
    print(
        f"\n{args.threads} pushers x {args.batches} batches of {args.batch}: {events:,} events "
        f"in {wall:.2f} s "
        f"= {events / wall:,.0f} events/s; client CPU {cpu:.2f} s; lock held {sum(helds):.2f} s in all "
        f"({sum(helds) / wall:.2f} of the wall); rollup {total[1]:,} requests"
    )


if __name__ == "__main__":
    main()
