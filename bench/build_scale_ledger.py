#!/usr/bin/env python3
"""Build a ledger of years of one heavy user with bench_spend.py's generator (h-qascale).

    python bench/build_scale_ledger.py --events 3000000 --days 1095 --out /work/benchdata

The same sessions, agents, models and token shapes as ``bench_spend.py``'s 1M-event quarter, spread
over ``--days`` days ending 2026-11-20 with 250 projects (a new one every 4-5 days), so any number of
calls has live projects on every day. The ledger goes to ``OUT/spend-1m-EVENTS-sSEED/cost.db``,
outside the repository (3M calls: 1.4 GB, 8,189 sessions, 82k rollup rows, ~3.5 min on 2 cores).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_spend


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=3_000_000)
    parser.add_argument("--days", type=int, default=1095)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("/work/benchdata"))
    args = parser.parse_args(argv)
    bench_spend.DATA = args.out
    bench_spend.DAYS = args.days
    bench_spend.FIRST_DAY = bench_spend.END_DAY - timedelta(days=args.days - 1)
    bench_spend.PROJECTS = tuple(f"{p}-{i}" for i in range(13) for p in bench_spend.PROJECTS)[:250]
    t0 = time.perf_counter()
    facts = bench_spend.build_ledger(bench_spend.LedgerSpec(seed=args.seed, events=args.events))
    print(f"{bench_spend.LedgerSpec(args.seed, args.events).db} in {time.perf_counter() - t0:.0f} s: {facts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
