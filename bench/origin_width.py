#!/usr/bin/env python3
"""What a cold PostgreSQL load of bench/data/claude-200k costs per row, for one source tree.

    PYTHONPATH=<copy>/src python bench/origin_width.py --runs 3

Per load (a fresh database each, as ``bench_pg.py ingest`` makes them): wall, this process's CPU,
the cluster's CPU (``bench_pg.server_cpu``), the WAL written (``pg_current_wal_lsn()`` before and
after), ``usage_events``' size with its indexes, and the mean width of a row and of its ``origin``
(``pg_column_size``); then the same load into a fresh SQLite file: wall, this process's CPU and the
file's size (with its WAL). Run it alternately on two copies of the source (issue 13's "origin is a
quarter of each row" lever: one copy as it is, one whose ``FileIdentity.origin`` is a short per-file
id) to see what a narrower row saves before changing the schema.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from tests.pg_cluster import Cluster  # noqa: E402

from bench_pg import DATA, _ingest  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    import psycopg

    tree = DATA / "claude-200k"
    cluster = Cluster(durable=True)
    rows = []
    try:
        for _ in range(args.runs):
            name = cluster.new_database()
            with psycopg.connect(cluster.url(name), autocommit=True) as admin:
                lsn0 = admin.execute("SELECT pg_current_wal_lsn()").fetchone()[0]  # type: ignore[index]
                wall, events, client, server = _ingest(cluster.url(name), tree, cluster)
                wal, size, width, origin = admin.execute(
                    "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s), "
                    "pg_total_relation_size('usage_events'), avg(pg_column_size(u.*)), "
                    "avg(pg_column_size(u.origin)) FROM usage_events u",
                    (lsn0,),
                ).fetchone()  # type: ignore[misc]
            cluster.drop_database(name)
            with tempfile.TemporaryDirectory() as tmp:
                lite = Path(tmp) / "cost.db"
                lite_wall, _, lite_cpu, _ = _ingest(str(lite), tree)
                lite_mb = sum(f.stat().st_size for f in Path(tmp).iterdir()) / 1e6
            rows.append((client, server, float(wal) / 1e6, size / 1e6, lite_cpu, lite_mb))
            print(
                f"{events} events: {wall:.2f} s wall, client {client:.2f} + server {server:.2f} s CPU, "
                f"WAL {float(wal) / 1e6:.1f} MB, usage_events {size / 1e6:.1f} MB, row {float(width):.0f} B "
                f"(origin {float(origin):.0f} B); SQLite {lite_wall:.2f} s wall, {lite_cpu:.2f} s CPU, "
                f"{lite_mb:.1f} MB; load average {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    finally:
        cluster.stop()
    med = [statistics.median(r[i] for r in rows) for i in range(6)]
    print(
        f"median: PostgreSQL client {med[0]:.2f} + server {med[1]:.2f} s CPU, WAL {med[2]:.1f} MB, "
        f"usage_events {med[3]:.1f} MB; SQLite {med[4]:.2f} s CPU, {med[5]:.1f} MB"
    )


if __name__ == "__main__":
    main()
