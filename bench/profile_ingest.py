#!/usr/bin/env python3
"""Where a cold ingest's time goes, in CPU seconds per phase (cProfile with a CPU clock).

    python bench/profile_ingest.py                       # the 200k-line tree of bench_ingest.py
    python bench/profile_ingest.py --tree claude-800k --top 30

Runs ``claude_code.ingest(full=True)`` in this process on a fresh ledger and groups the profile
into phases by function: reading lines, JSON decoding, building copies, pricing and row tuples,
SQLite (upserts, dedup queries, recount, commits), the index build after a bulk load, the rollup.
The parse worker is off here (a profile follows one process): every phase runs in this one.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from pathlib import Path

from benchlib import DATA, table
from cost_mcp.config import load_settings
from cost_mcp.pricing import Pricer
from cost_mcp.sources import beside
from cost_mcp.sources.claude_code import ingest
from cost_mcp.store import connect

# (phase, function name as cProfile labels it); cumulative time of the first matching entry.
PHASES = (
    ("read lines (readline)", "<method 'readline' of '_io.BufferedReader' objects>"),
    ("msgspec decode", "<method 'decode' of 'msgspec.json.Decoder' objects>"),
    ("parse a line (decode + copy)", "_parse"),
    ("price + row tuples", "_row"),
    ("write batches (SQL, recount)", "_flush"),
    ("  of which UPSERT executemany", "<method 'executemany' of 'Conn' objects>"),
    ("build indexes after bulk load", "restore_indexes"),
    ("rollup refresh", "refresh"),
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--tree", default="claude-200k")
    ap.add_argument("--top", type=int, default=0, help="also print the N functions with most own time")
    args = ap.parse_args(argv)
    tree = DATA / args.tree
    work = Path(tempfile.mkdtemp(prefix="profile-ingest-"))
    env = {"COST_MCP_DB": str(work / "cost.db"), "CLAUDE_CONFIG_DIR": str(tree), "COST_MCP_TIMEZONE": "UTC"}
    settings = load_settings(env, env_file=Path("/nonexistent"))
    conn = connect(work / "cost.db")
    beside.PARSE_WORKER = False
    prof = cProfile.Profile(time.process_time)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    prof.enable()
    result = ingest(conn, settings, Pricer(), full=True)
    prof.disable()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    stats = pstats.Stats(prof)
    by_name: dict[str, float] = {}
    for (_, _, name), (_, _, _, cum, _) in stats.stats.items():  # type: ignore[attr-defined]
        by_name[name] = by_name.get(name, 0.0) + cum
    rows = [[phase, by_name.get(fn, 0.0), by_name.get(fn, 0.0) / cpu] for phase, fn in PHASES]
    print(
        f"{args.tree}: {result.lines_read:,} lines, {result.events_added:,} calls; "
        f"CPU {cpu:.2f} s (profiled), wall {wall:.2f} s"
    )
    print(table(["phase", "CPU s", "share"], [[p, s, f"{share:.0%}"] for p, s, share in rows]))
    if args.top:
        stats.sort_stats("tottime").print_stats(args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
