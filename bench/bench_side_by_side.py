#!/usr/bin/env python3
"""Cold ingest side by side with ccusage: alternating pairs on the same tree, the ratio in one run.

    python bench/bench_side_by_side.py                    # 1x tree (200k lines / 230 MB), 5 pairs
    python bench/bench_side_by_side.py --tree claude-800k # a tree generated with 4x the lines
    python bench/bench_side_by_side.py --src /tmp/base/src --pairs 5
    python bench/bench_side_by_side.py --src /tmp/new/src --src /tmp/base/src   # both, same rounds
    python bench/bench_side_by_side.py --agent codex      # a 150 MB Codex home against `ccusage codex daily`

The machine is shared and noisy, so each pair runs cost-mcp (``ingest --full --json`` on a fresh
ledger) and then ccusage 20.0.24 (``claude daily --json --offline --timezone UTC``, the npm
launcher) back to back, with the page cache warm. Reported: each side's median wall and CPU time
(user + system of the process and its children, from ``wait4``), the median of the per-pair
ratios, and peak RSS. Every cost-mcp ledger is checked against the tree's ``reference.json``
(every day x every token kind): a run that is not exact fails the benchmark. With several ``--src``
each round runs every one of them, each followed by ccusage, so two versions are compared in the
same minutes of a shared machine's load.

With ``--agent codex`` the tree is a generated ``CODEX_HOME`` (``gen_codex_logs.py``, made on first
use), ccusage runs ``codex daily --json --offline --timezone UTC``, both tools get an empty ``HOME``
(so neither reads this machine's own agent folders), the ledger's ``codex`` rows are checked against
the reference, and ccusage's own per-day totals are compared with it too (one more run, its JSON kept).
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
from benchlib import CODEX, DATA, ensure_codex_tree, median, save, table, warm_page_cache
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


def exact(db: Path, ref: dict[str, Any], source: str = "claude_code") -> bool:
    """Whether the ledger's counted rows of ``source`` equal the reference, every day and kind."""
    return not compare(ledger_days(db, source), ref["days"])


@dataclass(frozen=True)
class Agent:
    """What differs between agents: the tree, ccusage's command and environment, the ledger source."""

    source: str
    ccusage: tuple[str, ...]

    def ccusage_env(self, tree: Path, home: Path) -> dict[str, str]:
        if self.source == "codex":
            return {"CODEX_HOME": str(tree), "HOME": str(home)}
        return {"CLAUDE_CONFIG_DIR": str(tree)}

    def ingest_env(self, cm: CostMcp, tree: Path, db: Path, home: Path) -> dict[str, str]:
        env = ingest_env(cm, tree, db)
        if self.source == "codex":
            env.update(CODEX_HOME=str(tree), HOME=str(home), CLAUDE_CONFIG_DIR=str(home / ".claude"))
        return env


AGENTS = {
    "claude": Agent("claude_code", ("claude", "daily", "--json", "--offline", "--timezone", "UTC")),
    "codex": Agent("codex", ("codex", "daily", "--json", "--offline", "--timezone", "UTC")),
}
# ccusage's daily JSON field for each reference kind (its input is uncached input for both agents).
CC_FIELDS = {
    "input_tokens": ("inputTokens",),
    "output_tokens": ("outputTokens",),
    "cache_read_tokens": ("cacheReadTokens",),
    "cache_write_5m_tokens": ("cacheCreationTokens",),
}


def ccusage_against(ref: dict[str, Any], daily: list[dict[str, Any]]) -> dict[str, Any]:
    """ccusage's per-kind totals and their difference from the reference, and the days that differ."""
    kinds = dict.fromkeys(CC_FIELDS, 0)
    truth = {k: sum(int(d.get(k, 0)) for d in ref["days"].values()) for k in CC_FIELDS}
    days_off = 0
    for row in daily:
        want = ref["days"].get(row["date"], {})
        off = False
        for k, fields in CC_FIELDS.items():
            got = sum(int(row.get(f, 0)) for f in fields)
            kinds[k] += got
            off |= got != int(want.get(k, 0))
        days_off += off
    days_off += len(set(ref["days"]) - {row["date"] for row in daily})
    return {
        "kinds": {
            k: {
                "truth": truth[k],
                "ccusage": kinds[k],
                "diff_pct": 100 * (kinds[k] - truth[k]) / truth[k] if truth[k] else 0.0,
            }
            for k in CC_FIELDS
        },
        "days_differing": days_off,
        "days": len(ref["days"]),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--agent", choices=sorted(AGENTS), default="claude")
    ap.add_argument(
        "--tree",
        default=None,
        help="a tree under bench/data (default claude-200k, or codex-150mb made on first use), or a path",
    )
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument(
        "--src", type=Path, action="append", help="measure this src/ folder instead of the venv (repeatable)"
    )
    ap.add_argument("--tmp", type=Path, default=None)
    args = ap.parse_args(argv)
    agent = AGENTS[args.agent]
    if args.agent == "codex" and args.tree is None:
        ensure_codex_tree(CODEX)
    tree = DATA / (args.tree or (CODEX.name if args.agent == "codex" else "claude-200k"))
    ref = json.loads((tree / "reference.json").read_text(encoding="utf-8"))
    install()
    srcs: list[Path | None] = [s.resolve() for s in args.src] if args.src else [None]
    warm_page_cache(tree)
    work = Path(tempfile.mkdtemp(prefix="bench-sbs-", dir=args.tmp))
    home = work / "home"  # empty: no agent folder of this machine's is read
    home.mkdir()
    against: dict[str, Any] | None = None
    all_exact = True
    pairs: dict[Path | None, tuple[list[Run], list[Run]]] = {src: ([], []) for src in srcs}
    try:
        for i in range(args.pairs):
            for src in srcs:
                ours, theirs = pairs[src]
                cm = CostMcp(src)
                db = work / f"r{i}" / "cost.db"
                db.parent.mkdir(parents=True)
                ours.append(run(cm.cmd("ingest", "--full", "--json"), agent.ingest_env(cm, tree, db, home)))
                ok = exact(db, ref, agent.source)
                all_exact &= ok
                shutil.rmtree(db.parent)
                theirs.append(run([str(LAUNCHER), *agent.ccusage], agent.ccusage_env(tree, home)))
                print(
                    f"pair {i + 1} ({src or 'venv'}): cost-mcp {ours[-1].wall_s:.2f} s "
                    f"({'exact' if ok else 'NOT EXACT'}), ccusage {theirs[-1].wall_s:.2f} s, "
                    f"ratio {ours[-1].wall_s / theirs[-1].wall_s:.2f}",
                    file=sys.stderr,
                )
        if args.agent == "codex":
            out = subprocess.run(
                [str(LAUNCHER), *agent.ccusage],
                env={**os.environ, **agent.ccusage_env(tree, home)},
                capture_output=True,
                check=True,
            )
            against = ccusage_against(ref, json.loads(out.stdout)["daily"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"tree {tree.name}: {ref['byte_count'] / 1e6:,.0f} MB, {args.pairs} alternating pairs")
    for src, (ours, theirs) in pairs.items():
        report(tree.name, src, ours, theirs, all_exact, against)
    if against is not None:
        rows = [[k, v["truth"], v["ccusage"], f"{v['diff_pct']:+.3f}%"] for k, v in against["kinds"].items()]
        print(table(["kind", "truth (reference.json)", "ccusage", "ccusage off by"], rows))
        print(f"days where ccusage differs from the truth: {against['days_differing']} of {against['days']}")
    return 0 if all_exact else 1


def report(
    tree: str,
    src: Path | None,
    ours: list[Run],
    theirs: list[Run],
    all_exact: bool,
    against: dict[str, Any] | None = None,
) -> None:
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
            "ccusage_against_reference": against,
        },
    )


if __name__ == "__main__":
    raise SystemExit(main())
