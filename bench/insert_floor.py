#!/usr/bin/env python3
"""What a cold load's INSERT of usage rows costs, and which part of the row or schema costs it.

    python bench/insert_floor.py --runs 5
    PYTHONPATH=/tmp/base/src python bench/insert_floor.py   # another commit's src/

Collects the fresh rows of one cold ingest of the tree (in this process, parse worker off), then
replays them into fresh ledgers in the bulk-load state (secondary indexes dropped as a first load
drops them), one transaction per batch as the writer does, under variants: as they are; with an
integer file id in place of the ``origin`` path; without ``usage_events_cc_request`` (and the
delete trigger that names it); both; and a floor without the unique key either (not an option:
dedup needs it). Reports CPU of the inserts and of the commits, min and median over the runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchlib import DATA
from cost_mcp.config import load_settings
from cost_mcp.pricing import Pricer
from cost_mcp.sources import beside, claude_code
from cost_mcp.store import bulk, claude_logs, connect

COLUMNS = claude_logs.COPY_COLUMNS.split(", ")
ORIGIN = COLUMNS.index("origin")


def collect(tree: Path) -> list[list[Sequence[Any]]]:
    """The rows each batch of a cold ingest inserted without conflict handling."""
    batches: list[list[Sequence[Any]]] = []
    copy_in = bulk.copy_in

    def keep(conn: Any, table: str, columns: Sequence[str], rows: Any) -> None:
        rows = list(rows)
        if table == "usage_events" and rows:
            batches.append(rows)
        copy_in(conn, table, columns, rows)

    claude_logs.bulk.copy_in = keep  # type: ignore[attr-defined]
    work = Path(tempfile.mkdtemp(prefix="insert-floor-"))
    env = {"COST_MCP_DB": str(work / "c.db"), "CLAUDE_CONFIG_DIR": str(tree), "COST_MCP_TIMEZONE": "UTC"}
    conn = connect(work / "c.db")
    beside.PARSE_WORKER = False
    try:
        claude_code.ingest(conn, load_settings(env, env_file=Path("/nonexistent")), Pricer(), full=True)
    finally:
        claude_logs.bulk.copy_in = copy_in  # type: ignore[attr-defined]
        conn.close()
    return batches


def replay(
    batches: list[list[Sequence[Any]]],
    *,
    file_id: bool,
    cc_request: bool,
    unique: bool,
    in_key_order: bool = False,
) -> tuple[float, float, int]:
    """(insert CPU, commit CPU, bytes of the database and its WAL) of one replay."""
    work = Path(tempfile.mkdtemp(prefix="insert-floor-"))
    conn = connect(work / "c.db")
    bulk.drop_secondary_indexes(conn)
    table = "usage_events"
    if not cc_request or not unique:
        conn.execute("DROP TRIGGER IF EXISTS usage_events_log_copy_removed")
        conn.execute("DROP INDEX IF EXISTS usage_events_cc_request")
    if not unique:
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'usage_events'").fetchone()[0]
        body = sql[: sql.rindex(",", 0, sql.index("UNIQUE"))] + ")"
        conn.execute(body.replace("usage_events", "usage_events_floor", 1))
        table = "usage_events_floor"
    if file_id:
        ids: dict[str, int] = {}
        batches = [
            [(*r[:ORIGIN], ids.setdefault(r[ORIGIN], len(ids) + 1), *r[ORIGIN + 1 :]) for r in b]
            for b in batches
        ]
    if in_key_order:  # each batch as the PostgreSQL writer sorts it, by message id (the sort is not timed)
        batches = [sorted(b, key=claude_logs._message_of) for b in batches]
    inserting, committing = insert_batches(conn, table, batches)
    size = sum(os.path.getsize(p) for p in work.iterdir() if p.name.startswith("c.db"))
    conn.close()
    return inserting, committing, size


def insert_batches(conn: Any, table: str, batches: list[list[Sequence[Any]]]) -> tuple[float, float]:
    """(insert CPU, commit CPU) of inserting each batch into ``table`` in a transaction of its own,
    as the writer does, checkpointing as rarely as a first load does (the block's end writes
    nothing: the files' size after it is the load's)."""
    insert = f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    inserting = committing = 0.0
    with claude_logs.few_checkpoints(conn):
        for rows in batches:
            conn.execute("BEGIN IMMEDIATE")
            start = time.process_time()
            conn.executemany(insert, rows)
            middle = time.process_time()
            conn.execute("COMMIT")
            inserting += middle - start
            committing += time.process_time() - middle
    return inserting, committing


VARIANTS = {
    "as now": {"file_id": False, "cc_request": True, "unique": True},
    "integer file id instead of origin": {"file_id": True, "cc_request": True, "unique": True},
    "without usage_events_cc_request": {"file_id": False, "cc_request": False, "unique": True},
    "each batch in the unique key's order": {
        "file_id": False,
        "cc_request": False,
        "unique": True,
        "in_key_order": True,
    },
    "both": {"file_id": True, "cc_request": False, "unique": True},
    "floor: no unique key either": {"file_id": False, "cc_request": False, "unique": False},
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--tree", default="claude-200k")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", action="append", help="run only these variants (repeatable)")
    args = ap.parse_args(argv)
    variants = {k: v for k, v in VARIANTS.items() if not args.only or k in args.only}
    batches = collect(DATA / args.tree)
    print(f"{sum(len(b) for b in batches):,} rows in {len(batches)} batches")
    results: dict[str, list[tuple[float, float, int]]] = {name: [] for name in variants}
    for _ in range(args.runs):  # variants alternated, so a busy moment is shared
        for name, variant in variants.items():
            results[name].append(replay(batches, **variant))
    for name, runs in results.items():
        ins, com = sorted(r[0] for r in runs), sorted(r[1] for r in runs)
        print(
            f"{name:36s} insert {ins[0]:.3f} / {statistics.median(ins):.3f} s   "
            f"commits {com[0]:.3f} / {statistics.median(com):.3f} s   files {runs[-1][2] / 1e6:.1f} MB"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
