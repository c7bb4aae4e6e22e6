"""A warm `cost-mcp report` against `ccusage daily`: whole processes on a small, already-read tree,
alternated run by run, the ratio in one run.

    python bench/bench_report_warm.py --src /tmp/new/src --src /tmp/base/src --runs 10
    python bench/bench_report_warm.py --src /tmp/new/src --runs 1 --importtime   # where it goes

A person types `cost-mcp report --group-by day` (ccusage's ``daily``, README's ccusage map) on logs
already read: nothing new to ingest, so the process is its start, one stat per log file and a few
queries. The tree is small (600 generated lines in 8 files), so what is measured is that start.
Each ``--src`` (a compiled copy of a commit's ``src/``: this machine sets PYTHONDONTWRITEBYTECODE,
so an uncompiled tree is compiled on every run) gets its own ledger and home, read in once; then
every round runs each tree's table and ``--json`` and ccusage 20.0.24's (``claude daily
--offline``, with and without ``--json``, from ``bench/.node``: ``bench_ccusage.py`` installs it),
so all see the same load. The trees' outputs are compared byte for byte (a speed-up must not change
what is printed). CPU is user + system time of the child (``wait4``). The floors are measured in the
same rounds: ``python -c pass``, the imports nothing can do without (sqlite3, msgspec), and those
plus the libraries the command is built on (click, rich, pydantic-settings and with it pydantic).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_ccusage import LAUNCHER
from bench_start import importtime
from benchlib import TreeSpec, ensure_tree, median, table

SMALL = TreeSpec("claude-600-lines", 600, 7, None, 6)
FLOOR = "import sqlite3, msgspec, decimal, zoneinfo"
LIBRARIES = "import sqlite3, msgspec, decimal, zoneinfo, click, rich.console, rich.table, pydantic_settings"
"""The libraries the command is built on, imported and nothing else: what is left to cut is above it."""
VARYING = re.compile(rb'("last_success": "[^"]*"|checked in [0-9.]+s)')
"""What differs between two runs of the same tree: when the log source last refreshed, and how long."""


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, bytes, str]:
    """Wall seconds, CPU seconds (user + system), stdout and stderr of one process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read().decode("utf-8", "replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd} failed: {stderr[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, stdout, stderr


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", action="append", required=True, help="a src/ folder to measure (repeatable)")
    ap.add_argument("--runs", type=int, default=10, help="rounds, each running everything once (default 10)")
    ap.add_argument("--importtime", action="store_true", help="also one -X importtime run per tree")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args(argv)

    ref = ensure_tree(SMALL)
    tree = SMALL.path
    days = sorted(ref["days"])
    period = f"{days[0]}..{days[-1]}"
    ours = {
        "table": ["report", "--group-by", "day", "--period", period],
        "json": ["report", "--group-by", "day", "--period", period, "--json"],
    }
    theirs = {"table": ["claude", "daily", "--offline"], "json": ["claude", "daily", "--offline", "--json"]}
    work = Path(tempfile.mkdtemp(prefix="bench-report-warm-"))
    try:
        envs = {}
        for n, src in enumerate(args.src):
            home = work / f"home-{n}"
            home.mkdir()
            env = {
                **os.environ,
                "PYTHONPATH": str(Path(src).resolve()),
                "HOME": str(home),  # no other agent's logs, no real config
                "XDG_CONFIG_HOME": str(home / ".config"),
                "XDG_DATA_HOME": str(home / ".local" / "share"),
                "COST_MCP_DB": str(home / "ledger.db"),
                "CLAUDE_CONFIG_DIR": str(tree),
                "COST_MCP_ENV_FILE": "/nonexistent",
                "COST_MCP_TIMEZONE": "UTC",
                "COLUMNS": "100",
            }
            run([sys.executable, "-m", "cost_mcp", "ingest", "--json"], env)  # read in once
            envs[src] = env
        cc_env = {
            **os.environ,
            "CLAUDE_CONFIG_DIR": str(tree),
            "TZ": "UTC",
            "NO_COLOR": "1",
            "COLUMNS": "100",
        }
        floors = {
            "python -c pass": [sys.executable, "-c", "pass"],
            FLOOR: [sys.executable, "-c", FLOOR],
            "+ click, rich, pydantic-settings": [sys.executable, "-c", LIBRARIES],
        }
        walls: dict[str, list[float]] = {}
        cpus: dict[str, list[float]] = {}
        outputs: dict[tuple[str, str], set[bytes]] = {}

        def record(name: str, wall: float, cpu: float) -> None:
            walls.setdefault(name, []).append(wall)
            cpus.setdefault(name, []).append(cpu)

        load = os.getloadavg()[0]
        for _ in range(args.runs):
            for kind, cmd in ours.items():
                for src, env in envs.items():
                    wall, cpu, out, _ = run([sys.executable, "-m", "cost_mcp", *cmd], env)
                    record(f"{kind}: {src}", wall, cpu)
                    outputs.setdefault((kind, "ours"), set()).add(VARYING.sub(b"", out))
                wall, cpu, _, _ = run([str(LAUNCHER), *theirs[kind]], cc_env)
                record(f"{kind}: ccusage {' '.join(theirs[kind])}", wall, cpu)
            for name, cmd in floors.items():
                wall, cpu, _, _ = run(cmd, dict(os.environ))
                record(name, wall, cpu)
        load_after = os.getloadavg()[0]
        print(f"`cost-mcp {' '.join(ours['table'])}` (and --json) on {tree} (read in once),")
        print(f"{args.runs} rounds, each tree then ccusage in each round")
        print(f"load average (1 min) {load:.2f} before, {load_after:.2f} after\n")
        rows = []
        for name, times in walls.items():
            kind = name.split(":")[0]
            peer = next((n for n in walls if n.startswith(f"{kind}: ccusage")), None)
            ratio = "" if peer is None else f"{median(times) / median(walls[peer]):.2f}"
            cpu_ratio = "" if peer is None else f"{median(cpus[name]) / median(cpus[peer]):.2f}"
            rows.append(
                (
                    name,
                    round(median(times) * 1000),
                    round(min(times) * 1000),
                    round(median(cpus[name]) * 1000),
                    round(min(cpus[name]) * 1000),
                    ratio,
                    cpu_ratio,
                )
            )
        head = (
            "process",
            "wall ms median",
            "wall ms min",
            "CPU ms median",
            "CPU ms min",
            "/ ccusage wall",
            "CPU",
        )
        print(table(head, rows))
        same = all(len(outs) == 1 for outs in outputs.values())
        print(f"\nthe trees' outputs {'are the same, byte for byte' if same else 'DIFFER'}")
        if args.importtime:
            for src, env in envs.items():
                _, _, _, stderr = run(
                    [sys.executable, "-X", "importtime", "-m", "cost_mcp", *ours["table"]], env
                )
                print(f"\n-X importtime, {src}: largest cumulative imports")
                print(table(("module", "self us", "cumulative us"), importtime(stderr, args.top)))
        if not same:
            for (kind, _), outs in outputs.items():
                if len(outs) > 1:
                    print(
                        f"{kind}: {len(outs)} different outputs (less what varies run by run)",
                        file=sys.stderr,
                    )
                    print(
                        json.dumps([o.decode("utf-8", "replace")[:400] for o in outs], indent=1),
                        file=sys.stderr,
                    )
            return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
