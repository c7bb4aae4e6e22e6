#!/usr/bin/env python3
"""Benchmark `cost-mcp ingest` on a generated Claude Code log tree and check the ledger exactly.

    python bench/bench_ingest.py                      # 200k lines / 230 MB: cold, warm, exact check
    python bench/bench_ingest.py --files 5000         # 5,000 small files: warm (stat-only) re-check
    python bench/bench_ingest.py --self-check-only    # validate the generator (no ingester needed)

Cold = a fresh ledger (`ingest --full`), with the page cache warmed first so every tool measured here
reads from memory. Warm = `ingest` again with nothing changed. Peak RSS comes from ``wait4`` on the
`cost-mcp` process. The ledger's per-day totals (``usage_events``, ``counted = 1``) must equal the
generator's reference.json exactly; the script exits 1 on any difference and lists each one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchlib import BIG, MANY, TreeSpec, ensure_tree, median, run_measured, save, table, warm_page_cache
from check_tree import collapse, compare, parse_tree, per_day

DAY_SQL = """
SELECT strftime('%Y-%m-%d', ts_ms/1000, 'unixepoch') AS day, SUM(input_tokens), SUM(output_tokens),
       SUM(cache_read_tokens), SUM(cache_write_5m_tokens), SUM(cache_write_1h_tokens), COUNT(*)
FROM usage_events WHERE source=? AND counted=1 GROUP BY day
"""
KINDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "calls",
)


@dataclass(frozen=True)
class CostMcp:
    """How to run cost-mcp: the installed (editable) package, or a given ``src/`` folder (``--src``)."""

    src: Path | None = None

    def cmd(self, *args: str) -> list[str]:
        exe = Path(sys.executable).with_name("cost-mcp")
        if exe.exists() and self.src is None:
            return [str(exe), *args]
        return [sys.executable, "-m", "cost_mcp", *args]

    def env(self) -> dict[str, str]:
        return {"PYTHONPATH": str(self.src)} if self.src is not None else {}


def ingest_env(cm: CostMcp, tree: Path, db: Path) -> dict[str, str]:
    return {
        **cm.env(),
        "COST_MCP_DB": str(db),
        "CLAUDE_CONFIG_DIR": str(tree),
        "COST_MCP_ENV_FILE": "/nonexistent",
        "COST_MCP_TIMEZONE": "UTC",
    }


def ledger_days(db: Path, source: str = "claude_code") -> dict[str, dict[str, int]]:
    """The ledger's counted rows of one source, per UTC day and token kind."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute(DAY_SQL, (source,)).fetchall()
    return {r[0]: dict(zip(KINDS, (int(v or 0) for v in r[1:]), strict=True)) for r in rows}


def ledger_extras(db: Path) -> dict[str, Any]:
    """Facts about the ledger that help explain a mismatch."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        q = conn.execute
        return {
            "rows": q("SELECT COUNT(*) FROM usage_events WHERE source='claude_code'").fetchone()[0],
            "counted": q(
                "SELECT COUNT(*) FROM usage_events WHERE source='claude_code' AND counted=1"
            ).fetchone()[0],
            "counted_synthetic": q(
                "SELECT COUNT(*) FROM usage_events "
                "WHERE source='claude_code' AND counted=1 AND model='<synthetic>'"
            ).fetchone()[0],
            "db_bytes": db.stat().st_size + sum(p.stat().st_size for p in db.parent.glob(db.name + "-*")),
        }


def parse_json(stdout: str) -> dict[str, Any]:
    try:
        obj = json.loads(stdout)
    except ValueError:
        return {}
    return obj if isinstance(obj, dict) else {}


def self_check(spec: TreeSpec, ref: dict[str, Any]) -> bool:
    copies, lines, bad = parse_tree(spec.path)
    days, _ = per_day(collapse(copies))
    diffs = compare(days, ref["days"])
    print(
        f"self-check of {spec.path.name}: {lines:,} lines, {bad} malformed:",
        "EXACT" if not diffs else diffs[:20],
    )
    return not diffs


def bench(spec: TreeSpec, args: argparse.Namespace) -> int:
    cm = CostMcp(args.src.resolve() if args.src else None)
    ref = ensure_tree(spec, args.regen)
    if args.self_check or args.self_check_only:
        ok = self_check(spec, ref)
        if args.self_check_only:
            return 0 if ok else 1
        if not ok:
            return 1
    help_run = run_measured(cm.cmd("ingest", "--help"), cm.env())
    if help_run.returncode != 0:
        print("`cost-mcp ingest` is not available yet:", help_run.stderr.strip()[-300:], file=sys.stderr)
        return 2
    warm_page_cache(spec.path)
    mb = ref["byte_count"] / 1e6
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-", dir=args.tmp))
    try:
        colds = []
        for i in range(args.cold):
            db = work / f"cold{i}" / "cost.db"
            db.parent.mkdir(parents=True)
            m = run_measured(cm.cmd("ingest", "--full", "--json"), ingest_env(cm, spec.path, db))
            if m.returncode != 0:
                print(f"cold ingest failed (exit {m.returncode}):\n{m.stderr[-3000:]}", file=sys.stderr)
                return 1
            colds.append((m, db))
        cold, db = min(colds, key=lambda x: x[0].wall_s)
        cold_json = parse_json(cold.stdout)
        warms = [
            run_measured(cm.cmd("ingest", "--json"), ingest_env(cm, spec.path, db)) for _ in range(args.warm)
        ]
        warm_json = [parse_json(w.stdout) for w in warms]
        # what any `cost-mcp` invocation costs before it does anything: interpreter start and CLI imports
        starts = [run_measured(cm.cmd("--version"), cm.env()) for _ in range(args.warm)]
        got = ledger_days(db)
        extras = ledger_extras(db)
    finally:
        if args.keep:
            print(f"ledgers kept under {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    diffs = compare(got, ref["days"])
    ref_tot = ref["totals"]
    got_tot = {k: sum(r[k] for r in got.values()) for k in KINDS}
    lines = ref["line_count"]
    cold_walls = [m.wall_s for m, _ in colds]
    warm_walls = [w.wall_s for w in warms]
    warm_secs = [float(j.get("seconds", float("nan"))) for j in warm_json]
    print(f"\ncost-mcp from {cm.src or 'the installed package'}")
    print(
        f"{spec.path.name}: {ref['file_count']:,} files, {lines:,} lines, {mb:.1f} MB, "
        f"{ref_tot['calls']:,} calls over {len(ref['days'])} days (2 cores: {os.cpu_count()} CPUs seen)\n"
    )
    rows: list[list[object]] = [
        [
            f"cold ingest --full (best of {len(colds)})",
            min(cold_walls),
            median(cold_walls),
            f"{cold.rss_mib:.0f}",
            f"{lines / min(cold_walls):,.0f}",
            f"{mb / min(cold_walls):.1f}",
            cold_json.get("seconds", "?"),
        ],
        [
            f"warm re-check (median of {len(warms)})",
            min(warm_walls),
            median(warm_walls),
            f"{max(w.rss_mib for w in warms):.0f}",
            "",
            "",
            f"{median(warm_secs):.4f}",
        ],
        [
            f"process start: `cost-mcp --version` (median of {len(starts)})",
            min(m.wall_s for m in starts),
            median([m.wall_s for m in starts]),
            f"{max(m.rss_mib for m in starts):.0f}",
            "",
            "",
            "",
        ],
    ]
    print(
        table(
            ["run", "best wall s", "median wall s", "peak RSS MiB", "lines/s", "MB/s", "ingest `seconds`"],
            rows,
        )
    )
    print("\ncold ingest JSON:", json.dumps({k: v for k, v in cold_json.items() if k != "roots"}))
    print("warm ingest JSON:", json.dumps({k: v for k, v in warm_json[-1].items() if k != "roots"}))
    print("ledger:", json.dumps(extras))
    if spec.files:
        ok = median(warm_secs) < 0.2
        print(
            f"warm re-check of {spec.files:,} files: `seconds` median {median(warm_secs) * 1000:.0f} ms, "
            f"process wall median {median(warm_walls) * 1000:.0f} ms "
            f"-> target < 200 ms: {'PASS' if ok else 'FAIL'}"
        )
    print()
    print(
        table(
            ["kind", "reference", "ledger", "diff"],
            [[k, ref_tot[k], got_tot[k], f"{got_tot[k] - ref_tot[k]:+,}"] for k in KINDS],
        )
    )
    verdict = (
        "EXACT MATCH (every day, every kind)"
        if not diffs
        else f"MISMATCH: {len(diffs)} day/kind cells differ"
    )
    print("\nverdict:", verdict)
    for d in diffs[:60]:
        print("  ", d)
    if len(diffs) > 60:
        print(f"   ... and {len(diffs) - 60} more")
    save(
        f"ingest-{spec.name}",
        {
            "tree": spec.name,
            "cost_mcp_src": str(cm.src or "installed"),
            "files": ref["file_count"],
            "lines": lines,
            "bytes": ref["byte_count"],
            "cold_wall_s": cold_walls,
            "cold_peak_rss_mib": [m.rss_mib for m, _ in colds],
            "cold_json": cold_json,
            "warm_wall_s": warm_walls,
            "warm_peak_rss_mib": [w.rss_mib for w in warms],
            "warm_seconds": warm_secs,
            "process_start_wall_s": [m.wall_s for m in starts],
            "ledger": extras,
            "reference_totals": ref_tot,
            "ledger_totals": got_tot,
            "exact": not diffs,
            "diffs": diffs,
        },
    )
    return 0 if not diffs else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--files", type=int, default=None, help="use a tree of this many small files (e.g. 5000)")
    ap.add_argument(
        "--lines", type=int, default=None, help="lines in the tree (default 200000, or 50000 with --files)"
    )
    ap.add_argument("--target-mb", type=float, default=None)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--cold", type=int, default=3, help="cold runs, each on a fresh ledger (default 3)")
    ap.add_argument("--warm", type=int, default=5, help="warm re-checks (default 5)")
    ap.add_argument("--regen", action="store_true", help="regenerate the tree even if it exists")
    ap.add_argument("--self-check", action="store_true", help="also check the tree with bench/check_tree.py")
    ap.add_argument("--self-check-only", action="store_true", help="only validate the generated tree")
    ap.add_argument("--keep", action="store_true", help="keep the ledgers (printed path) for inspection")
    ap.add_argument("--tmp", type=Path, default=None, help="folder for the ledgers (default: system temp)")
    ap.add_argument(
        "--src",
        type=Path,
        default=None,
        help="run cost-mcp from this src/ folder (e.g. a `git archive` of a commit), not the installed one",
    )
    args = ap.parse_args(argv)
    base = MANY if args.files else BIG
    spec = TreeSpec(
        name=base.name,
        lines=args.lines or base.lines,
        seed=args.seed if args.seed is not None else base.seed,
        target_mb=args.target_mb if args.target_mb is not None else base.target_mb,
        files=args.files or base.files,
    )
    if (spec.lines, spec.seed, spec.target_mb, spec.files) != (
        base.lines,
        base.seed,
        base.target_mb,
        base.files,
    ):
        spec = TreeSpec(
            f"claude-{spec.lines}l-{spec.files or 'auto'}f-s{spec.seed}",
            spec.lines,
            spec.seed,
            spec.target_mb,
            spec.files,
        )
    return bench(spec, args)


if __name__ == "__main__":
    sys.exit(main())
