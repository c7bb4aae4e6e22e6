#!/usr/bin/env python3
"""Warm requests of `cost-mcp dashboard` over a large Claude Code log tree, the log watcher on and off.

    python bench/bench_dashboard_warm.py [--src SRC] [--tree bench/data/claude-5000-files]

The local dashboard refreshes before every request; without the watcher (``COST_MCP_WATCH_LOGS=false``,
or not Linux) each refresh walks the whole tree. Each run starts the real command on a fresh ledger,
reads the tree (cold, not timed), then times 15 requests of ``/api/spend`` and ``/api/dashboard`` and
prints their medians. Runs alternate on, off, on, off. The requests are 0.1 s apart: back to back on
one keep-alive connection, each waited ~40 ms on TCP's delayed acknowledgement whatever the server did.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2

HERE = Path(__file__).resolve().parent
PATHS = ("/api/spend?period=this_month", "/api/dashboard?period=last_30_days")


def run(src: str, tree: Path, watch: str) -> dict[str, float]:
    home = tempfile.mkdtemp()
    env = {
        **os.environ,
        "PYTHONPATH": src,
        "HOME": home,
        "CLAUDE_CONFIG_DIR": str(tree),
        "COST_MCP_DB": f"{home}/cost.db",
        "COST_MCP_WATCH_LOGS": watch,
        "PYTHONUNBUFFERED": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "cost_mcp", "dashboard", "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=home,
    )
    try:
        assert proc.stdout is not None
        found = re.search(r"http://127\.0\.0\.1:\d+/\?token=[\w-]+", proc.stdout.readline())
        assert found, "no URL announced"
        base = found[0].split("/?")[0]
        medians: dict[str, float] = {}
        with httpx2.Client(timeout=600, follow_redirects=True) as web:
            web.get(found[0])
            for _ in range(3):
                web.get(base + PATHS[0])  # the cold read, then a settled tree
            time.sleep(1.5)
            for path in PATHS:
                took = []
                for _ in range(15):
                    time.sleep(0.1)
                    t = time.perf_counter()
                    r = web.get(base + path)
                    took.append((time.perf_counter() - t) * 1e3)
                    assert r.status_code == 200, r.text[:200]
                medians[path.split("?")[0]] = statistics.median(took)
        return medians
    finally:
        proc.terminate()
        proc.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", default=str(HERE.parent / "src"), help="the cost_mcp source to run")
    ap.add_argument("--tree", type=Path, default=HERE / "data" / "claude-5000-files")
    args = ap.parse_args()
    if not (args.tree / "projects").is_dir():
        ap.error(f"no Claude Code tree at {args.tree}: make it with gen_claude_logs.py (see README.md)")
    for watch in ("true", "false", "true", "false"):
        got = run(args.src, args.tree, watch)
        print(
            f"watcher {'on ' if watch == 'true' else 'off'}: "
            + ", ".join(f"{k} {v:.1f} ms" for k, v in got.items())
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
