#!/usr/bin/env python3
"""Cold ingest side by side with ccusage: alternating pairs on the same tree, the ratio in one run.

    python bench/bench_side_by_side.py                    # 1x tree (200k lines / 230 MB), 5 pairs
    python bench/bench_side_by_side.py --tree claude-800k # a tree generated with 4x the lines
    python bench/bench_side_by_side.py --src /tmp/base/src --pairs 5
    python bench/bench_side_by_side.py --src /tmp/new/src --src /tmp/base/src   # both, same rounds

The machine is shared and noisy, so each pair runs cost-mcp (``ingest --full --json`` on a fresh
ledger) and then ccusage 20.0.24 (``claude daily --json --offline --timezone UTC``, the npm
launcher) back to back, with the page cache warm. Reported: each side's median wall and CPU time
(user + system of the process and its children, from ``wait4``), the median of the per-pair
ratios, and peak RSS. Every cost-mcp ledger is checked against the tree's ``reference.json``
(every day x every token kind): a run that is not exact fails the benchmark. With several ``--src``
each round runs every one of them, each followed by ccusage, so two versions are compared in the
same minutes of a shared machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_ccusage import LAUNCHER, install
from bench_ingest import CostMcp, ingest_env, ledger_days
from benchlib import DATA, median, save, table, warm_page_cache
from check_tree import compare


@dataclass(frozen=True)
class Run:
    wall_s: float
    cpu_s: float
    rss_mib: float


def run(cmd: list[str], env: dict[str, str]) -> Run:
    """Wall, CPU (process + children) and peak RSS of one command; raises on failure."""
    full_env = {**os.environ, **env}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=full_env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            raise SystemExit(f"{cmd[0]} failed: {err.read().decode(errors='replace')[-500:]}")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def exact(db: Path, ref: dict[str, Any]) -> bool:
    """Whether the ledger's counted rows equal the reference, every day and kind."""
    return not compare(ledger_days(db), ref["days"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument(
        "--tree",
        default="claude-200k",
        help="a tree under bench/data (default claude-200k), or a path: bench/data is shared and read-only",
    )
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument(
        "--src", type=Path, action="append", help="measure this src/ folder instead of the venv (repeatable)"
    )
    ap.add_argument("--tmp", type=Path, default=None)
    args = ap.parse_args(argv)
    tree = DATA / args.tree
    ref = json.loads((tree / "reference.json").read_text(encoding="utf-8"))
    install()
    srcs: list[Path | None] = [s.resolve() for s in args.src] if args.src else [None]
    warm_page_cache(tree)
    work = Path(tempfile.mkdtemp(prefix="bench-sbs-", dir=args.tmp))
    all_exact = True
    pairs: dict[Path | None, tuple[list[Run], list[Run]]] = {src: ([], []) for src in srcs}
    try:
        for i in range(args.pairs):
            for src in srcs:
                ours, theirs = pairs[src]
                cm = CostMcp(src)
                db = work / f"r{i}" / "cost.db"
                db.parent.mkdir(parents=True)
                ours.append(run(cm.cmd("ingest", "--full", "--json"), ingest_env(cm, tree, db)))
                ok = exact(db, ref)
                all_exact &= ok
                shutil.rmtree(db.parent)
                theirs.append(
                    run(
                        [str(LAUNCHER), "claude", "daily", "--json", "--offline", "--timezone", "UTC"],
                        {"CLAUDE_CONFIG_DIR": str(tree)},
                    )
                )
                print(
                    f"pair {i + 1} ({src or 'venv'}): cost-mcp {ours[-1].wall_s:.2f} s "
                    f"({'exact' if ok else 'NOT EXACT'}), ccusage {theirs[-1].wall_s:.2f} s, "
                    f"ratio {ours[-1].wall_s / theirs[-1].wall_s:.2f}",
                    file=sys.stderr,
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"tree {args.tree}: {ref['byte_count'] / 1e6:,.0f} MB, {args.pairs} alternating pairs")
    for src, (ours, theirs) in pairs.items():
        report(tree.name, src, ours, theirs, all_exact)
    return 0 if all_exact else 1


def report(tree: str, src: Path | None, ours: list[Run], theirs: list[Run], all_exact: bool) -> None:
    """Print and save one version's figures against the ccusage runs of the same rounds."""
    wall_ratio = median([a.wall_s / b.wall_s for a, b in zip(ours, theirs, strict=True)])
    cpu_ratio = median([a.cpu_s / b.cpu_s for a, b in zip(ours, theirs, strict=True)])
    rows = [
        [
            "cost-mcp",
            median([r.wall_s for r in ours]),
            median([r.cpu_s for r in ours]),
            max(r.rss_mib for r in ours),
        ],
        [
            "ccusage",
            median([r.wall_s for r in theirs]),
            median([r.cpu_s for r in theirs]),
            max(r.rss_mib for r in theirs),
        ],
    ]
    print(f"code: {src or 'venv'}")
    print(table(["tool", "median wall s", "median CPU s", "peak RSS MiB"], rows))
    print(f"ratio (median of per-pair ratios): wall {wall_ratio:.2f}, CPU {cpu_ratio:.2f}")
    print("exact (every day x kind vs reference):", "yes, every run" if all_exact else "NO")
    save(
        f"side_by_side_{tree}",
        {
            "tree": tree,
            "src": str(src) if src else None,
            "ours": [r.__dict__ for r in ours],
            "ccusage": [r.__dict__ for r in theirs],
            "wall_ratio": wall_ratio,
            "cpu_ratio": cpu_ratio,
            "exact": all_exact,
        },
    )


if __name__ == "__main__":
    raise SystemExit(main())
