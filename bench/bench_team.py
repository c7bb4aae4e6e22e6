"""The team server under load (issue 14): concurrent laptops pushing and MCP clients asking.

Starts `cost-mcp serve --http` on a free loopback port with a fresh ledger and bearer tokens (one per
pusher, one admin), then for ``--seconds``: ``--pushers`` threads POST gzip JSON batches of
``--batch`` distinct usage rows to /api/push (every 10th batch is sent twice, which must add
nothing), while ``--clients`` threads call get_spend(group_by=["member"]) over MCP streamable HTTP
with the admin's token. Reports events/s accepted, p50/p99 of push and get_spend latency, and checks
afterwards that the admin's total equals the rows sent, each priced by the same pricer, to the
nano-dollar.

The clients ask back to back by default (``--think-ms 0``): the most a client can ask, not what an
agent or a person does. ``--think-ms N`` makes each wait N ms after an answer before asking again.
Every process's CPU time is reported as a share of the machine's cores: the server's, the pushers'
(this process: building rows, JSON, gzip, HTTP), the clients' (the SDK's MCP client) and, with
``--pg``, PostgreSQL's (where a push's statements run), since on one small machine the bench's own
processes take cores the server would otherwise have.

    python bench/bench_team.py --seconds 60 --pushers 20 --clients 10 --batch 500 [--workers 2] [--pg]
        [--think-ms 500]
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import itertools
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import httpx2
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import OUT, http_server, save, server_env, table
from cost_mcp.periods import ms_to_datetime
from cost_mcp.pricing import Price, Pricer, Tokens
from cost_mcp.push import WireBatch, WireRow
from cost_mcp.store import connect
from cost_mcp.store import team as team_store

MODELS = ("claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001", "claude-opus-4-1-20250805")


def rows(pusher: int, n: int, size: int, now_ms: int) -> list[WireRow]:
    """Batch ``n`` of one pusher: ``size`` distinct calls in the last hour."""
    out = []
    for i in range(size):
        k = n * size + i
        out.append(
            WireRow(
                source="claude_code",
                message_id=f"msg_{pusher}_{k}",
                request_id=f"req_{pusher}_{k}",
                ts_ms=now_ms - (k * 997) % 3_600_000,
                provider="anthropic",
                model=MODELS[k % len(MODELS)],
                session_id=f"s{pusher}-{k // 100}",
                project=f"proj{k % 5}",
                agent="claude-code",
                input_tokens=10 + k % 900,
                output_tokens=50 + k % 2000,
                cache_read_tokens=k % 30_000,
                cache_write_5m_tokens=k % 4000,
            )
        )
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a process and its children (Linux; the workers of
    ``--workers N``): what the server spent, whatever the load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return own + sum(cpu_seconds(int(child)) for child in children)


def postgres_cpu_seconds(data: Path) -> float:
    """CPU time so far of a PostgreSQL cluster's processes (the postmaster's children: backends,
    autovacuum, the WAL writer, the checkpointer), which the server's figure does not include.
    A backend that exited meanwhile took its time with it, so over a run this is a floor."""
    postmaster = int((data / "postmaster.pid").read_text().split()[0])
    children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
    total = 0.0
    for pid in [postmaster, *map(int, children)]:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def asker(base: str, admin: str, seconds: float, think: float, ready: Any, results: Any) -> None:
    """One MCP client (a process): get_spend by member in a loop for ``seconds``, waiting ``think``
    seconds after each answer; puts (latencies, CPU seconds of the loop, error or "") on ``results``."""
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    latencies: list[float] = []
    error = ""
    cpu = 0.0

    async def loop() -> None:
        nonlocal error, cpu
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {admin}"}, timeout=120) as http,
            Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client,
        ):
            # One answer before the clock starts: a worker's first answer imports the query
            # modules and reads the logs once, ~1 s here; ten of them in a run of 600 answers
            # (clients that think) were its whole p99.
            res = await client.call_tool("get_spend", {"period": "last_7_days", "group_by": ["member"]})
            if res.is_error:
                error = f"get_spend: {res.content}"
                ready.wait(timeout=300)
                return
            ready.wait(timeout=300)
            deadline = time.perf_counter() + seconds
            cpu_start = time.process_time()
            try:
                while time.perf_counter() < deadline:
                    t = time.perf_counter()
                    res = await client.call_tool(
                        "get_spend", {"period": "last_7_days", "group_by": ["member"]}
                    )
                    if res.is_error:
                        error = f"get_spend: {res.content}"
                        return
                    latencies.append(time.perf_counter() - t)
                    if think:
                        await anyio.sleep(think)
            finally:
                cpu = time.process_time() - cpu_start

    try:
        anyio.run(loop)
    finally:
        results.put((latencies, cpu, error))


_PG_SAMPLE = """
SELECT
  (SELECT checkpoints_timed FROM pg_stat_bgwriter),
  (SELECT checkpoints_req FROM pg_stat_bgwriter),
  (SELECT buffers_checkpoint FROM pg_stat_bgwriter),
  (SELECT buffers_backend FROM pg_stat_bgwriter),
  (SELECT wal_records FROM pg_stat_wal),
  (SELECT wal_fpi FROM pg_stat_wal),
  (SELECT wal_bytes FROM pg_stat_wal),
  (SELECT blks_read FROM pg_stat_database WHERE datname = current_database()),
  (SELECT blks_hit FROM pg_stat_database WHERE datname = current_database()),
  (SELECT coalesce(string_agg(relname || ':' || autovacuum_count || '/' || autoanalyze_count, ' '
                              ORDER BY relname), '')
     FROM pg_stat_user_tables WHERE autovacuum_count + autoanalyze_count > 0)
"""

_PG_TABLES = """
SELECT s.relname, s.n_live_tup, s.n_dead_tup, s.autovacuum_count, s.autoanalyze_count,
       s.seq_scan, s.seq_tup_read, s.idx_scan,
       io.heap_blks_read, io.heap_blks_hit, io.idx_blks_read, io.idx_blks_hit,
       pg_total_relation_size(s.relid) / 1048576
  FROM pg_stat_user_tables s JOIN pg_statio_user_tables io USING (relid)
 WHERE s.n_live_tup + s.n_dead_tup + s.n_tup_ins > 0 ORDER BY pg_total_relation_size(s.relid) DESC
"""


_PG_STATEMENTS = """
SELECT calls, round(total_exec_time), round(mean_exec_time::numeric, 2), shared_blks_hit, shared_blks_read,
       left(regexp_replace(query, '\\s+', ' ', 'g'), 110)
  FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
 ORDER BY total_exec_time DESC LIMIT 12
"""


def pg_sampler(
    url: str, stop: threading.Event, every: float, out: list[tuple[float, tuple[Any, ...]]]
) -> None:
    """PostgreSQL's own counters every ``every`` seconds until ``stop``, on a connection of its own:
    checkpoints, WAL, the database's block reads against hits, and the tables autovacuum visited."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_settings WHERE name = 'pg_stat_statements.max'").fetchone():
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            conn.execute("SELECT pg_stat_statements_reset()")
        t0 = time.perf_counter()
        while True:
            # pg_stat_wal and pg_stat_database are cached per transaction; autocommit reads afresh.
            out.append((time.perf_counter() - t0, tuple(conn.execute(_PG_SAMPLE).fetchone() or ())))
            if stop.wait(every):
                out.append((time.perf_counter() - t0, tuple(conn.execute(_PG_SAMPLE).fetchone() or ())))
                return


def pg_report(
    url: str, samples: list[tuple[float, tuple[Any, ...]]], stamps: list[tuple[float, int]]
) -> None:
    """Per interval of the sampler: events/s accepted beside what PostgreSQL did meanwhile; then its
    tables (rows live and dead, autovacuum/analyze runs, blocks read against found in shared buffers)."""
    import psycopg

    rows_ = []
    for (t_a, a), (t_b, b) in itertools.pairwise(samples):
        span = t_b - t_a
        events = sum(n for t, n in stamps if t_a <= t < t_b)
        reads, hits = b[7] - a[7], b[8] - a[8]
        records = b[4] - a[4]
        rows_.append(
            [
                f"{t_a:.0f}-{t_b:.0f}",
                f"{events / span:,.0f}",
                f"{b[0] - a[0]}/{b[1] - a[1]}",
                b[2] - a[2],
                b[3] - a[3],
                f"{float(b[6] - a[6]) / 1048576 / span:.1f}",
                f"{(b[5] - a[5]) / records:.2f}" if records else "-",
                f"{reads / span:,.0f}",
                f"{hits / (hits + reads):.4f}" if hits + reads else "-",
                b[9] if b[9] != a[9] else "",
            ]
        )
    print(
        table(
            [
                "s",
                "events/s",
                "ckpt timed/req",
                "bufs ckpt",
                "bufs backend",
                "WAL MB/s",
                "FPI/record",
                "blk reads/s",
                "hit ratio",
                "autovacuum/analyze runs so far (if changed)",
            ],
            rows_,
        )
    )
    with psycopg.connect(url, autocommit=True) as conn:
        tables = conn.execute(_PG_TABLES).fetchall()
    print(
        table(
            [
                "table",
                "live",
                "dead",
                "autovac",
                "autoanalyze",
                "seq scans",
                "rows seq read",
                "idx scans",
                "heap read",
                "heap hit",
                "idx read",
                "idx hit",
                "MB",
            ],
            [list(r) for r in tables],
        )
    )
    # With --pg-setting shared_preload_libraries=pg_stat_statements: where the server's time went.
    with psycopg.connect(url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'").fetchone():
            top = conn.execute(_PG_STATEMENTS).fetchall()
            print(table(["calls", "total ms", "mean ms", "blks hit", "blks read", "statement"], top))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--pushers", type=int, default=20)
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--workers", type=int, default=1, help="server processes (serve --http --workers)")
    ap.add_argument(
        "--think-ms",
        type=float,
        default=0,
        help="each MCP client waits this long after an answer before asking again (0: back to back)",
    )
    ap.add_argument(
        "--pg",
        action="store_true",
        help="the ledger in a throwaway PostgreSQL cluster (tests/pg_cluster.py, fsync on), not SQLite",
    )
    ap.add_argument(
        "--pg-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a server setting for the --pg cluster, repeatable (default: the cluster's own, 128MB "
        "shared buffers, max_wal_size 1GB)",
    )
    ap.add_argument("--every", type=float, default=10, help="seconds per span of the per-span events/s")
    ap.add_argument(
        "--pg-stats",
        action="store_true",
        help="with --pg: PostgreSQL's checkpoints, WAL, block reads and autovacuum runs per span, "
        "and its tables afterwards (one more connection, sampling every --every seconds)",
    )
    args = ap.parse_args()
    cluster = None
    if args.pg:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from tests.pg_cluster import Cluster

        # Checkpoints are logged whatever else is set: a line each, nothing the pushes wait on.
        cluster = Cluster(durable=True, settings=["log_checkpoints=on", *args.pg_setting])
    try:
        if cluster is None:
            run(args, None, None)
        else:
            run(args, cluster.url(cluster.new_database()), cluster.data)
        if cluster is not None:
            log = (cluster.dir / "log").read_text(errors="replace")
            # The server's whole log (auto_explain's plans, if loaded with --pg-setting) outlives it.
            OUT.mkdir(parents=True, exist_ok=True)
            (OUT / "team-postgresql.log").write_text(log, encoding="utf-8")
            for line in log.splitlines():
                if "checkpoint" in line:
                    print(line)
    finally:
        if cluster is not None:
            cluster.stop()


def run(args: argparse.Namespace, pg_url: str | None, pg_data: Path | None) -> None:
    """One run of the benchmark on a fresh ledger: an SQLite file, else the PostgreSQL database given
    (``pg_data``: its cluster's data directory, for the cluster's CPU)."""

    with tempfile.TemporaryDirectory() as tmp:
        db: Path | str = pg_url or Path(tmp) / "cost.db"
        conn = connect(db)
        tokens = [team_store.create_token(conn, f"p{i}", f"dev{i}@example.com") for i in range(args.pushers)]
        admin = team_store.create_token(conn, "admin", "boss@example.com", "admin")
        conn.close()
        env = server_env(tmp, db, COST_MCP_TIMEZONE="UTC")
        with http_server(env, "--workers", str(args.workers)) as server:
            proc, base = server.process, server.base
            now_ms = int(datetime.now(UTC).timestamp() * 1000) - 60_000
            sent: dict[tuple[int, int], list[WireRow]] = {}
            push_lat: list[float] = []
            spend_lat: list[float] = []
            accepted = 0
            stamps: list[tuple[float, int]] = []  # (seconds since the start, events) per accepted push
            pg_samples: list[tuple[float, tuple[Any, ...]]] = []
            sampler_stop = threading.Event()
            lock = threading.Lock()
            errors: list[str] = []

            def pusher(i: int) -> None:
                nonlocal accepted
                headers = {
                    "Authorization": f"Bearer {tokens[i]}",
                    "Content-Type": "application/json",
                    "Content-Encoding": "gzip",
                }
                with httpx2.Client(timeout=120) as client:
                    n = 0
                    while time.perf_counter() < deadline:
                        batch = rows(i, n, args.batch, now_ms)
                        body = gzip.compress(msgspec.json.encode(WireBatch(rows=batch)), compresslevel=5)
                        for _ in range(2 if n % 10 == 9 else 1):
                            t = time.perf_counter()
                            r = client.post(f"{base}/api/push", content=body, headers=headers)
                            if r.status_code == 429:
                                time.sleep(float(r.headers.get("retry-after", "1")))
                                continue
                            if r.status_code != 200:
                                with lock:
                                    errors.append(f"push {r.status_code}: {r.text[:200]}")
                                return
                            with lock:
                                push_lat.append(time.perf_counter() - t)
                                stamps.append((time.perf_counter() - start, len(batch)))
                                accepted += len(batch)
                                sent[(i, n)] = batch
                        n += 1

            # Each MCP client is a process of its own, as it is on a real team (their own machines):
            # in this process, their latency would include waiting for the pushers' threads here.
            spawn = multiprocessing.get_context("spawn")
            results: Any = spawn.Queue()
            ready: Any = spawn.Barrier(args.clients + 1) if args.clients else None
            askers = [
                spawn.Process(
                    target=asker, args=(base, admin, args.seconds, args.think_ms / 1000, ready, results)
                )
                for _ in range(args.clients)
            ]
            for a in askers:
                a.start()
            if ready is not None:
                ready.wait(timeout=300)  # every client has imported the SDK; the clock starts now
            deadline = time.perf_counter() + args.seconds
            cpu_before = cpu_seconds(proc.pid)
            pg_cpu_before = postgres_cpu_seconds(pg_data) if pg_data else 0.0
            pushers_cpu_before = time.process_time()
            start = time.perf_counter()
            sampler = None
            if pg_url and args.pg_stats:
                sampler = threading.Thread(
                    target=pg_sampler, args=(pg_url, sampler_stop, args.every, pg_samples), daemon=True
                )
                sampler.start()
            threads = [threading.Thread(target=pusher, args=(i,)) for i in range(args.pushers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            sampler_stop.set()
            if sampler is not None:
                sampler.join()
            # This process ran nothing but the pushers' threads meanwhile (the clients are processes).
            pushers_cpu = time.process_time() - pushers_cpu_before
            clients_cpu = 0.0
            for _ in askers:
                latencies, asker_cpu, error = results.get()
                spend_lat.extend(latencies)
                clients_cpu += asker_cpu
                if error:
                    errors.append(error)
            for a in askers:
                a.join()
            wall = time.perf_counter() - start
            cpu = cpu_seconds(proc.pid) - cpu_before
            pg_cpu = postgres_cpu_seconds(pg_data) - pg_cpu_before if pg_data else 0.0

            async def final() -> Any:
                from mcp import Client
                from mcp.client.streamable_http import streamable_http_client

                async with (
                    httpx2.AsyncClient(headers={"Authorization": f"Bearer {admin}"}, timeout=300) as http,
                    Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client,
                ):
                    res = await client.call_tool("get_spend", {"period": "last_7_days"})
                    return res.structured_content

            answer = anyio.run(final)
    assert not errors, errors[:3]
    # Events/s in each --every seconds of the run: whether a run slows as the ledger grows.
    spans = [
        sum(n for t, n in stamps if k * args.every <= t < (k + 1) * args.every) / args.every
        for k in range(int(wall // args.every))
    ]
    print(f"events/s per {args.every:g} s: " + " ".join(f"{v:,.0f}" for v in spans))
    if pg_url and pg_samples:
        pg_report(pg_url, pg_samples, stamps)
    pricer = Pricer()
    expected = Decimal(0)
    distinct = 0
    for batch in sent.values():
        for r in batch:
            distinct += 1
            tokens_ = Tokens(
                input=r.input_tokens,
                output=r.output_tokens,
                cache_read=r.cache_read_tokens,
                cache_write_5m=r.cache_write_5m_tokens,
            )
            priced = pricer.price(tokens_, r.model, r.provider, ms_to_datetime(r.ts_ms))
            assert isinstance(priced, Price)
            expected += Decimal(priced.total_nanos) / 10**9
    total = Decimal(str(answer["total_usd"]))
    assert total == expected, f"server total {total} != rows sent {expected}"
    result = {
        "seconds": round(wall, 1),
        "pushers": args.pushers,
        "clients": args.clients,
        "batch": args.batch,
        "workers": args.workers,
        "think_ms": args.think_ms,
        "ledger": "postgresql" if pg_url else "sqlite",
        "events_accepted": accepted,
        "distinct_events": distinct,
        "events_per_s": round(accepted / wall),
        "events_per_s_by_span": [round(v) for v in spans],
        "pg_settings": args.pg_setting,
        "push_p50_ms": round(pct(push_lat, 0.5) * 1000, 1),
        "push_p99_ms": round(pct(push_lat, 0.99) * 1000, 1),
        "get_spend_calls": len(spend_lat),
        "get_spend_per_s": round(len(spend_lat) / wall, 1),
        "get_spend_p50_ms": round(pct(spend_lat, 0.5) * 1000, 1),
        "get_spend_p99_ms": round(pct(spend_lat, 0.99) * 1000, 1),
        "server_cpu_seconds": round(cpu, 1),
        "events_per_server_cpu_s": round(accepted / cpu),
        # Cores each part used on average over the run (CPU seconds / wall seconds).
        "cores_server": round(cpu / wall, 2),
        "cores_pushers": round(pushers_cpu / wall, 2),
        "cores_clients": round(clients_cpu / wall, 2),
        # PostgreSQL's processes (its backends do the pushes' statements and the queries).
        "cores_postgres": round(pg_cpu / wall, 2),
        "client_cpu_ms_per_answer": round(clients_cpu / len(spend_lat) * 1000, 2) if spend_lat else None,
        "total_exact": True,
        "load_average": os.getloadavg()[0],
    }
    print(
        table(
            [
                "ledger",
                "workers",
                "think ms",
                "events/s",
                "per CPU s",
                "accepted",
                "push p50/p99 ms",
                "spend n",
                "spend/s",
                "spend p50/p99 ms",
                "cores srv/push/cli/pg",
                "load",
            ],
            [
                [
                    result["ledger"],
                    args.workers,
                    f"{args.think_ms:g}",
                    f"{result['events_per_s']:,}",
                    f"{result['events_per_server_cpu_s']:,}",
                    f"{accepted:,}",
                    f"{result['push_p50_ms']}/{result['push_p99_ms']}",
                    len(spend_lat),
                    result["get_spend_per_s"],
                    f"{result['get_spend_p50_ms']}/{result['get_spend_p99_ms']}",
                    f"{result['cores_server']}/{result['cores_pushers']}/{result['cores_clients']}"
                    f"/{result['cores_postgres']}",
                    f"{result['load_average']:.1f}",
                ]
            ],
        )
    )
    save("team", result)


if __name__ == "__main__":
    main()
