"""The log reader's parse of every line into copies, alone: ``claude_code._parse`` over a tree's
lines held in memory (no reads, no batching, no pricing), CPU seconds, best of ``--runs``.

A step changed by a few operations per copy moves ``profile_worker.py``'s "copies from decoded
lines" by less than that row's spread (a difference of two best-of passes over the files); this
times the step itself. Run it against another commit with ``PYTHONPATH=<copy>/src``.

    python bench/parse_in_memory.py [--tree claude-200k] [--runs 9] [--label main]
"""

from __future__ import annotations

import argparse
import os
import time

from benchlib import DATA
from cost_mcp.sources import claude_code
from profile_worker import lines_of, work_of


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tree", default="claude-200k")
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--label", default="working tree")
    args = ap.parse_args()
    lines = [(bytes(raw), where) for raw, where in lines_of(work_of(DATA / args.tree))]
    parse = claude_code._parse
    best = float("inf")
    for _ in range(args.runs):
        t = time.process_time()
        for raw, where in lines:
            parse(raw, where)
        best = min(best, time.process_time() - t)
    load = os.getloadavg()[0]
    print(
        f"{args.label}: _parse over {len(lines):,} lines in memory {best:.3f} s CPU "
        f"(best of {args.runs}), load {load:.2f}"
    )


if __name__ == "__main__":
    main()
