#!/usr/bin/env python3
"""When each step of a cold `cost-mcp ingest --full --json` process happens, from its launch.

    python bench/start_timeline.py --src /tmp/new/src --src /tmp/base/src --runs 5

The serial start of a cold load (interpreter, imports, the ledger's creation and migrations, the
walk, the parse worker's fork and its first batch) is not in ``profile_worker.py``'s timeline, which
calls ``ingest`` in a process already started and connected. Here each run is the real command on a
fresh ledger, in a child that wraps a few functions to note the time (``time.perf_counter``: the
system's monotonic clock, shared by the processes) before the CLI runs as usual: Python up (this
bootstrap's first line), the ledger connected (migrations included), ``ingest`` called, the worker
forked, the order sent to the worker forked early and the moment that worker had loaded
genai-prices' data (noted by the worker itself), the first batch's write begun (the first batch
arrived), the last write ended, ``ingest`` returned, and the process gone; and the parent's CPU up
to the ``ingest`` call and from its return to the command's end. Each ``--src`` (a compiled copy
of a commit's ``src/``) takes turns with the others, run by run. The wrapping imports
``sources.claude_code`` and ``store`` first, which the command imports anyway (the order moves, not
the total).
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
from pathlib import Path

from benchlib import DATA, median, table

BOOT = r"""
import time
T = {"python up": time.perf_counter()}
import json, os, sys
import multiprocessing.process
from cost_mcp import store
from cost_mcp.sources import claude_code as cc

def note(owner, name, before=None, after=None, first=False):
    inner = getattr(owner, name)
    def run(*a, **k):
        if os.getpid() == PID and before and not (first and before in T):
            T[before] = time.perf_counter()
        try:
            return inner(*a, **k)
        finally:
            if os.getpid() == PID and after:
                T[after] = time.perf_counter()
    setattr(owner, name, run)

PID = os.getpid()
note(store, "connect", None, "ledger connected (migrated)", True)
note(cc, "ingest", "ingest called", "ingest returned")
note(cc, "_write", "first batch's write begins", "last write ends", True)
note(multiprocessing.process.BaseProcess, "start", "worker forked", None, True)
note(cc, "_take_standby", "order sent to the early worker", None, True)
from cost_mcp import pricing
_load = pricing.load_price_data
def load_in_worker():
    try:
        return _load()
    finally:
        with open(os.environ["START_TIMELINE_OUT"] + ".worker", "w") as f:
            json.dump({"worker's price data loaded": time.perf_counter()}, f)
pricing.load_price_data = load_in_worker
_ingest = cc.ingest
def ingest_cpu(*a, **k):
    T["parent CPU at the ingest call"] = time.process_time()
    try:
        return _ingest(*a, **k)
    finally:
        T["parent CPU at ingest's return"] = time.process_time()
cc.ingest = ingest_cpu
from cost_mcp.launcher import main
try:
    code = main(["ingest", "--full", "--json"])
finally:
    T["parent CPU at the command's end"] = time.process_time()
    with open(os.environ["START_TIMELINE_OUT"], "w") as f:
        json.dump(T, f)
sys.exit(code)
"""

STEPS = [
    "python up",
    "ledger connected (migrated)",
    "ingest called",
    "worker forked",
    "order sent to the early worker",
    "worker's price data loaded",
    "first batch's write begins",
    "last write ends",
    "ingest returned",
    "process gone",
]


def one(src: Path | None, tree: Path, tmp: Path) -> dict[str, float]:
    db = tmp / "cost.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    out = tmp / "times.json"
    env = {
        **os.environ,
        "COST_MCP_DB": str(db),
        "CLAUDE_CONFIG_DIR": str(tree),
        "COST_MCP_ENV_FILE": "/nonexistent",
        "COST_MCP_TIMEZONE": "UTC",
        "START_TIMELINE_OUT": str(out),
    }
    if src is not None:
        env["PYTHONPATH"] = str(src)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", BOOT], env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    gone = time.perf_counter()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"run failed ({src})")
    times = json.loads(out.read_text())
    worker = Path(f"{out}.worker")
    if worker.exists():  # written by the early worker when it has loaded genai-prices' data
        times.update(json.loads(worker.read_text()))
        worker.unlink()
    cpu_at_call = times.pop("parent CPU at the ingest call")
    cpu_at_return = times.pop("parent CPU at ingest's return")
    cpu_at_end = times.pop("parent CPU at the command's end")
    rel = {k: v - t0 for k, v in times.items()}
    rel["process gone"] = gone - t0
    rel["CPU (process and worker)"] = usage.ru_utime + usage.ru_stime
    rel["parent CPU until the ingest call"] = cpu_at_call
    rel["parent CPU from ingest's return to the command's end"] = cpu_at_end - cpu_at_return
    return rel


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--tree", default="claude-200k")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--src", type=Path, action="append", help="a compiled src/ (repeatable); default: venv")
    args = ap.parse_args(argv)
    srcs: list[Path | None] = list(args.src) if args.src else [None]
    tmp = Path(tempfile.mkdtemp(prefix="start-timeline-"))
    got: dict[int, list[dict[str, float]]] = {i: [] for i in range(len(srcs))}
    print(f"load before {os.getloadavg()[0]:.2f}")
    try:
        for _ in range(args.runs):
            for i, src in enumerate(srcs):
                got[i].append(one(src, DATA / args.tree, tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"load after {os.getloadavg()[0]:.2f}")
    names = [
        *STEPS,
        "parent CPU until the ingest call",
        "parent CPU from ingest's return to the command's end",
        "CPU (process and worker)",
    ]
    rows = []
    for name in names:
        row: list[object] = [name]
        for i in range(len(srcs)):
            values = [r[name] for r in got[i] if name in r]
            row.append(f"{median(values):.3f} ({min(values):.3f}-{max(values):.3f})" if values else "-")
        rows.append(row)
    heads = ["seconds from launch, median (range)"] + [str(s or "venv") for s in srcs]
    print(table(heads, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
