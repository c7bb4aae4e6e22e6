#!/usr/bin/env python3
"""What a ledger's page size costs a cold load's writer and a small write (issue 18, fifteenth round).

    python bench/page_size.py --runs 3
    PYTHONPATH=/tmp/base/src python bench/page_size.py   # another commit's src/

Load: collects the fresh rows of one cold ingest of the tree (``insert_floor.collect``: in this
process, parse worker off), then replays them into fresh ledgers created with each page size, in the
bulk-load state (secondary indexes and ``usage_events_cc_request`` dropped, as a first load drops
them), one transaction per batch as the writer does, then builds the dropped indexes in one
transaction as the load's end does. Small writes: ``--otel-batches`` OTLP batches of
``--otel-events`` Claude Code events received one transaction each (``sources.otel.receive``) into
a fresh ledger of each page size. Page sizes alternated run by run; CPU of this process, min /
median over the runs.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchlib import DATA
from cost_mcp.store import bulk, connect
from insert_floor import collect, insert_batches


def ledger(folder: Path, page_size: int) -> Any:
    """A new ledger whose file was made with ``page_size`` before ``connect`` migrates it."""
    raw = sqlite3.connect(folder / "c.db")
    raw.execute(f"PRAGMA page_size = {page_size}")
    raw.execute("VACUUM")  # writes the empty file's header with that size
    raw.close()
    conn = connect(folder / "c.db")
    assert conn.execute("PRAGMA page_size").fetchone()[0] == page_size
    return conn


def load(batches: list[list[Sequence[Any]]], page_size: int) -> tuple[float, float, float]:
    """(insert CPU, commit CPU, index builds CPU with their commit) of one replay."""
    folder = Path(tempfile.mkdtemp(prefix="page-size-"))
    conn = ledger(folder, page_size)
    bulk.drop_secondary_indexes(conn)
    conn.execute("DROP TRIGGER IF EXISTS usage_events_log_copy_removed")
    conn.execute("DROP INDEX IF EXISTS usage_events_cc_request")
    inserting, committing = insert_batches(conn, "usage_events", batches)
    start = time.process_time()
    conn.execute("BEGIN IMMEDIATE")
    for _, sql in sorted(bulk._pending(conn).items()):
        conn.execute(sql)
    conn.execute("COMMIT")
    building = time.process_time() - start
    conn.close()
    shutil.rmtree(folder)
    return inserting, committing, building


def small_writes(bodies: list[bytes], page_size: int) -> float:
    """CPU of receiving each OTLP body in its own transaction."""
    from cost_mcp.pricing import Pricer
    from cost_mcp.sources import otel

    pricer = Pricer()
    folder = Path(tempfile.mkdtemp(prefix="page-size-"))
    conn = ledger(folder, page_size)
    start = time.process_time()
    for body in bodies:
        otel.receive(conn, pricer, "logs", otel.decode("logs", body, encoding="protobuf", gzipped=False))
    took = time.process_time() - start
    conn.close()
    shutil.rmtree(folder)
    return took


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--tree", default="claude-200k")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sizes", type=int, nargs="+", default=[4096, 8192, 16384])
    ap.add_argument("--otel-batches", type=int, default=1000)
    ap.add_argument("--otel-events", type=int, default=4)
    args = ap.parse_args(argv)
    import bench_otel

    batches = collect(DATA / args.tree)
    now = datetime.now(UTC) - timedelta(minutes=5)
    bodies = [bench_otel.batch(n, args.otel_events, now) for n in range(args.otel_batches)]
    print(f"{sum(len(b) for b in batches):,} rows in {len(batches)} batches; {len(bodies)} OTLP batches")
    loads: dict[int, list[tuple[float, float, float]]] = {size: [] for size in args.sizes}
    writes: dict[int, list[float]] = {size: [] for size in args.sizes}
    for _ in range(args.runs):
        for size in args.sizes:
            loads[size].append(load(batches, size))
            writes[size].append(small_writes(bodies, size))

    def spread(values: Sequence[float]) -> str:
        return f"{min(values):.3f} / {statistics.median(values):.3f}"

    for size in args.sizes:
        inserting, committing, building = zip(*loads[size], strict=True)
        per_batch = [w / len(bodies) * 1e3 for w in writes[size]]
        print(
            f"{size:6d} B pages: insert {spread(inserting)} s, commits {spread(committing)} s, "
            f"index builds {spread(building)} s; a small write {spread(per_batch)} ms"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
