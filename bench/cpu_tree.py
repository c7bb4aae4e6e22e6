#!/usr/bin/env python3
"""CPU of a cold `cost-mcp ingest --full --json` and of every process it starts, orphans included.

    python bench/cpu_tree.py --src /tmp/new/src --src /tmp/base/src --runs 4

``bench_side_by_side.py`` takes CPU from ``wait4`` on the command: the process and the children it
waited for. A process forked by a child (a grandchild) that outlives its parent is reparented and
reaped elsewhere, so its CPU is in no figure there (the nineteenth round's second parse worker,
forked by the first). Here this process makes itself a child subreaper (Linux ``prctl``), so such
orphans are reparented to it; it reaps them after the command ends and reads
``RUSAGE_CHILDREN`` once per run in a fresh child of its own, so each run's figure is that run's
tree alone. Each ``--src`` takes turns with the others, run by run; a fresh ledger each run.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import DATA, median, table

PR_SET_CHILD_SUBREAPER = 36


def one_run(src: Path, tree: Path, db: Path) -> tuple[float, float, int]:
    """Wall and CPU of one cold ingest and every process under it, and how many orphans came back."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # a fresh process, so that RUSAGE_CHILDREN counts this run only
        os.close(read)
        ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        env = {
            **os.environ,
            "PYTHONPATH": str(src),
            "COST_MCP_DB": str(db),
            "CLAUDE_CONFIG_DIR": str(tree),
            "COST_MCP_ENV_FILE": "/nonexistent",
            "COST_MCP_TIMEZONE": "UTC",
        }
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "cost_mcp", "ingest", "--full", "--json"],
            env=env,
            stdout=subprocess.DEVNULL,
            check=True,
        )
        wall = time.perf_counter() - started
        orphans = 0
        while True:
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                break
            orphans += 1
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        os.write(write, f"{wall} {usage.ru_utime + usage.ru_stime} {orphans}".encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        wall_s, cpu_s, orphans = f.read().split()
    os.waitpid(pid, 0)
    return float(wall_s), float(cpu_s), int(orphans)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--src", type=Path, action="append", required=True, help="a src/ folder (repeatable)")
    ap.add_argument("--tree", default="claude-200k")
    ap.add_argument("--runs", type=int, default=4)
    args = ap.parse_args(argv)
    tree = DATA / args.tree
    work = Path(tempfile.mkdtemp(prefix="bench-cpu-tree-"))
    runs: dict[Path, list[tuple[float, float, int]]] = {src: [] for src in args.src}
    try:
        for i in range(args.runs):
            for src in args.src:
                db = work / f"r{i}" / "cost.db"
                db.parent.mkdir(parents=True)
                runs[src].append(one_run(src.resolve(), tree, db))
                shutil.rmtree(db.parent)
                wall, cpu, orphans = runs[src][-1]
                print(
                    f"run {i + 1} ({src}): wall {wall:.3f} s, CPU {cpu:.3f} s, orphans {orphans}",
                    file=sys.stderr,
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = [
        [
            str(src),
            median([r[0] for r in got]),
            median([r[1] for r in got]),
            f"{min(r[1] for r in got):.3f}-{max(r[1] for r in got):.3f}",
            max(r[2] for r in got),
        ]
        for src, got in runs.items()
    ]
    print(table(["src", "median wall s", "median CPU s (all processes)", "CPU range", "orphans"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
