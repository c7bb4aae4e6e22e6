"""get_spend over many years in timezones whose midnights fall inside UTC hours.

    python bench/bench_long_range.py --src /tmp/new/src --src /tmp/base/src --runs 3

A model asked for "everything since 2010" (the longest range taken is about 20 years) in St John's
(-3:30) or Kolkata (+5:30): every local midnight is a cut inside a UTC hour, so the rollup read
(``rollup.read_sql``) covers 7,300 split hours. The answer's work is on an empty ledger, so what is
measured is the query's planning in Python, not the rows. Each ``--src`` runs in its own process,
on its own empty SQLite ledger, the zones in turn; printed: median seconds of one ``get_spend``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ZONES = ("UTC", "Europe/Paris", "Asia/Kolkata", "America/St_Johns", "Asia/Kathmandu", "Australia/Lord_Howe")

CHILD = """
import json, os, statistics, sys, time
from cost_mcp.analytics import rows
from cost_mcp.analytics.spend import get_spend, resolve
from cost_mcp.config import load_settings
from cost_mcp.store import connect
s = load_settings()
conn = connect(s.db)
out = {}
for zone in sys.argv[3:]:
    p = resolve(s, None, sys.argv[1], sys.argv[2], zone)
    times = []
    for _ in range(int(os.environ["RUNS"])):
        t = time.perf_counter()
        get_spend(conn, s, p, ["day"], take_alerts=False, window=rows.Window())
        times.append(time.perf_counter() - t)
    out[zone] = statistics.median(times)
print(json.dumps(out))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, action="append", required=True, help="a src/ folder (repeatable)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--start", default="2010-01-01")
    ap.add_argument("--end", default="2029-12-31")
    args = ap.parse_args()
    results = {}
    for src in args.src:
        with tempfile.TemporaryDirectory() as tmp:
            env = {
                **os.environ,
                "PYTHONPATH": str(src),
                "RUNS": str(args.runs),
                "COST_MCP_DB": f"{tmp}/cost.db",
                "COST_MCP_CONFIG_DIR": tmp,
                "CLAUDE_CONFIG_DIR": f"{tmp}/claude",
            }
            done = subprocess.run(
                [sys.executable, "-c", CHILD, args.start, args.end, *ZONES],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            results[str(src)] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"get_spend by day, {args.start} to {args.end}, empty ledger, median of {args.runs} (s)")
    print("zone".ljust(22) + "".join(str(s)[-30:].rjust(32) for s in results))
    for zone in ZONES:
        print(zone.ljust(22) + "".join(f"{results[str(s)][zone]:32.3f}" for s in args.src))


if __name__ == "__main__":
    main()
