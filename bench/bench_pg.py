#!/usr/bin/env python3
"""The ledger on PostgreSQL against SQLite: get_spend over 1M events, cold ingest, 8 writers.

    python bench/bench_pg.py spend      # copy bench/data/spend-1m/cost.db into PostgreSQL, time get_spend
    python bench/bench_pg.py spend --only "this_year ['session']"   # those queries only
    python bench/bench_pg.py ingest     # cold ingest of bench/data/claude-200k on both backends
    python bench/bench_pg.py writers    # 8 processes x 250 record_usage calls on both backends

A throwaway cluster (tests/pg_cluster.py) is started for the run, with PostgreSQL's default
durability (fsync and synchronous_commit on), on a Unix socket, and removed at the end. get_spend
is timed in process, exactly as bench_spend.py does on SQLite (same periods, groupings, timezones,
fixed "now"), after one warm-up run each; figures are medians of ``--runs``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from tests.pg_cluster import Cluster  # noqa: E402

from bench_spend import GROUPS, NOW, PERIODS, TIMEZONES  # noqa: E402

DATA = ROOT / "bench" / "data"


KEY_COLUMNS = ("source", "provider", "model", "project", "agent", "member", "session_id")


def copy_ledger(sqlite_path: Path, url: str) -> dict[str, int]:
    """Copy every table of an SQLite ledger into the (migrated, empty) PostgreSQL ledger at ``url``."""
    import psycopg

    from cost_mcp.store import connect

    connect(url).close()
    src = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    counts: dict[str, int] = {}
    tables = [
        "usage_events",
        "usage_rollup",
        "provider_buckets",
        "provider_coverage",
        "source_state",
        "budgets",
        "subscriptions",
    ]
    with psycopg.connect(url) as dst:
        # The copy is a restore: no trigger needs to run on it.
        dst.execute("SET session_replication_role = replica")
        for table in tables:
            cols = [r[1] for r in src.execute(f"PRAGMA table_info({table})")]
            quoted = ", ".join(f'"{c}"' for c in cols)
            n = 0
            with dst.cursor().copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
                for row in src.execute(f"SELECT {quoted} FROM {table}"):
                    copy.write_row(row)
                    n += 1
            counts[table] = n
        # The hour and day levels of the rollup (issue 22) summed from the quarter-hours, as
        # migration m018 fills them.
        for level, size in (("usage_rollup_hour", 4), ("usage_rollup_day", 96)):
            cols = [
                str(r[0])
                for r in dst.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                    "ORDER BY ordinal_position",
                    (level,),
                )
            ]
            unit, rest = cols[0], cols[1:]
            keys = [c for c in rest if c in KEY_COLUMNS]
            sums = [c for c in rest if c not in KEY_COLUMNS]
            dst.execute(
                f"INSERT INTO {level} ({unit}, {', '.join(keys + sums)}) "
                f"SELECT qh / {size}, {', '.join(keys)}, {', '.join(f'SUM({c})' for c in sums)} "
                f"FROM usage_rollup GROUP BY qh / {size}, {', '.join(keys)}"
            )
        # Each level summed over sessions too (issue 14), as migration m022 fills them.
        for level in ("usage_rollup", "usage_rollup_hour", "usage_rollup_day"):
            twin = f"{level}_nosession"
            cols = [
                str(r[0])
                for r in dst.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                    "ORDER BY ordinal_position",
                    (twin,),
                )
            ]
            unit, rest = cols[0], cols[1:]
            keys = [c for c in rest if c in KEY_COLUMNS]
            sums = [c for c in rest if c not in KEY_COLUMNS]
            dst.execute(
                f"INSERT INTO {twin} ({unit}, {', '.join(keys + sums)}) "
                f"SELECT {unit}, {', '.join(keys)}, {', '.join(f'SUM({c})' for c in sums)} "
                f"FROM {level} GROUP BY {unit}, {', '.join(keys)}"
            )
        dst.execute(
            "SELECT setval(pg_get_serial_sequence('usage_events', 'id'), (SELECT MAX(id) FROM usage_events))"
        )
        dst.commit()
        dst.execute("ANALYZE")
    src.close()
    return counts


def spend_timings(db: str, runs: int, only: str = "") -> tuple[dict[str, float], dict[str, float]]:
    """Median wall ms of get_spend per (period, grouping, timezone), in process, as bench_spend
    does, and the median of this process's CPU ms over the same calls (what a loaded machine moves
    least); only the queries whose name contains ``only``."""
    from cost_mcp.analytics import spend
    from cost_mcp.config import load_settings
    from cost_mcp.store import connect

    settings = load_settings(
        {"COST_MCP_DB": db, "CLAUDE_CONFIG_DIR": "/nonexistent", "COST_MCP_TIMEZONE": "UTC"},
        env_file=Path("/nonexistent"),
    )
    conn = connect(settings.db)
    out: dict[str, float] = {}
    cpu: dict[str, float] = {}
    try:
        for tz in TIMEZONES:
            for period in PERIODS:
                for group_by in GROUPS:
                    key = f"{period} {list(group_by)} {tz}"
                    if only not in key:
                        continue
                    p = spend.resolve(settings, period, None, None, tz, now=NOW)
                    spend.get_spend(conn, settings, p, group_by)  # warm-up
                    times, cpus = [], []
                    for _ in range(runs):
                        c0, t0 = time.process_time(), time.perf_counter()
                        spend.get_spend(conn, settings, p, group_by)
                        times.append((time.perf_counter() - t0) * 1000)
                        cpus.append((time.process_time() - c0) * 1000)
                    out[key] = statistics.median(times)
                    cpu[key] = statistics.median(cpus)
    finally:
        conn.close()
    return out, cpu


def cmd_spend(args: argparse.Namespace, cluster: Cluster) -> None:
    src = DATA / "spend-1m" / "cost.db"
    if not src.is_file():
        sys.exit(f"{src} missing: ln -s /work/benchdata/spend-1m bench/data/spend-1m (or run bench_spend.py)")
    name = cluster.new_database()
    url = cluster.url(name)
    t0 = time.perf_counter()
    counts = copy_ledger(src, url)
    print(f"copied {counts} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "cost.db"
        copy.write_bytes(src.read_bytes())  # bench_spend's rule: never write the shared ledger
        lite, lite_cpu = spend_timings(str(copy), args.runs, args.only)
    pg, pg_cpu = spend_timings(url, args.runs, args.only)
    print("| query | SQLite ms | PostgreSQL ms | SQLite CPU ms | PostgreSQL client CPU ms |")
    print("|---|---:|---:|---:|---:|")
    for key in pg:
        print(f"| {key} | {lite[key]:.1f} | {pg[key]:.1f} | {lite_cpu[key]:.1f} | {pg_cpu[key]:.1f} |")
    print(f"max: SQLite {max(lite.values()):.1f} ms, PostgreSQL {max(pg.values()):.1f} ms")
    print(f"load average {os.getloadavg()[0]:.1f}")


def server_cpu(cluster: Cluster) -> float:
    """CPU seconds (user + system) used so far by every process of the cluster: the postmaster's
    children (each connection's backend, WAL writer, checkpointer...), alive ones only, so read it
    while the measured connection is still open. On a loaded machine this, not wall time, says what
    the database did."""
    postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == postmaster or int(entry.name) == postmaster:
            total += int(fields[11]) + int(fields[12])
    return total / tick


def _ingest(db: str, tree: Path, cluster: Cluster | None = None) -> tuple[float, int, float, float]:
    """Wall seconds, calls added, this process's CPU seconds and the PostgreSQL server's (0 on SQLite)."""
    from cost_mcp.config import load_settings
    from cost_mcp.pricing import Pricer
    from cost_mcp.sources.claude_code import ingest
    from cost_mcp.store import connect

    settings = load_settings(
        {"COST_MCP_DB": db, "CLAUDE_CONFIG_DIR": str(tree), "COST_MCP_TIMEZONE": "UTC"},
        env_file=Path("/nonexistent"),
    )
    conn = connect(settings.db)
    try:
        server0 = server_cpu(cluster) if cluster else 0.0
        cpu0, t0 = time.process_time(), time.perf_counter()
        result = ingest(conn, settings, Pricer(), full=True)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        server = server_cpu(cluster) - server0 if cluster else 0.0
        return wall, result.events_added, cpu, server
    finally:
        conn.close()


def cmd_ingest(args: argparse.Namespace, cluster: Cluster) -> None:
    tree = DATA / "claude-200k"
    if not tree.is_dir():
        sys.exit(f"{tree} missing: ln -s /work/benchdata/claude-200k bench/data/claude-200k")
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            lite_s, lite_n, lite_cpu, _ = _ingest(str(Path(tmp) / "cost.db"), tree)
        name = cluster.new_database()
        pg_s, pg_n, pg_cpu, server = _ingest(cluster.url(name), tree, cluster)
        cluster.drop_database(name)
        print(
            f"run {run}: SQLite {lite_s:.2f} s wall, {lite_cpu:.2f} s CPU ({lite_n} events); "
            f"PostgreSQL {pg_s:.2f} s wall, {pg_cpu + server:.2f} s CPU = {pg_cpu:.2f} client + "
            f"{server:.2f} server ({pg_n} events); load average {os.getloadavg()[0]:.1f}"
        )


def _writer(db: str, worker: int, calls: int) -> None:
    from datetime import UTC, datetime

    from cost_mcp.pricing import Pricer, Tokens
    from cost_mcp.sources.reported import record_call
    from cost_mcp.store import connect

    conn = connect(db)
    pricer = Pricer()
    when = datetime(2026, 11, 2, 10, tzinfo=UTC)
    for i in range(calls):
        record_call(
            conn,
            pricer,
            provider="anthropic",
            model="claude-sonnet-4-5",
            tokens=Tokens(input=1000, output=100),
            timestamp=when,
            request_id=f"w{worker}-{i}",
            agent=f"agent{worker}",
        )
    conn.close()


def _writers(db: str, n: int, calls: int) -> float:
    from cost_mcp.store import connect

    connect(db).close()  # migrated before the clock starts
    procs = [multiprocessing.Process(target=_writer, args=(db, w, calls)) for w in range(n)]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - t0
    conn = connect(db)
    rows = conn.execute("SELECT COUNT(*) FROM usage_events").fetchone()[0]
    conn.close()
    if rows != n * calls or any(p.exitcode for p in procs):
        sys.exit(f"writers lost calls: {rows} rows for {n * calls} calls")
    return elapsed


def cmd_writers(args: argparse.Namespace, cluster: Cluster) -> None:
    n, calls = 8, args.calls
    with tempfile.TemporaryDirectory() as tmp:
        lite = _writers(str(Path(tmp) / "cost.db"), n, calls)
    name = cluster.new_database()
    pg = _writers(cluster.url(name), n, calls)
    total = n * calls
    print(
        f"{n} writers x {calls} record_usage: SQLite {lite:.2f} s ({total / lite:.0f}/s), "
        f"PostgreSQL {pg:.2f} s ({total / pg:.0f}/s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=["spend", "ingest", "writers"])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--calls", type=int, default=250)
    parser.add_argument("--only", default="", help="spend: only the queries whose name contains this")
    args = parser.parse_args()
    os.environ.setdefault("COST_MCP_ENV_FILE", "/nonexistent")
    cluster = Cluster(durable=True)
    try:
        {"spend": cmd_spend, "ingest": cmd_ingest, "writers": cmd_writers}[args.what](args, cluster)
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
