"""The start of `cost-mcp ingest`: wall and CPU of the whole process on an unchanged tree, trees alternated.

    python bench/bench_start.py --src /tmp/new/src --src /tmp/base/src --runs 10
    python bench/bench_start.py --src /tmp/new/src --importtime     # where the start goes, by module
    python bench/bench_start.py --src /tmp/new/src --src /tmp/base/src --codex bench/data/codex-150mb

On an unchanged tree a `cost-mcp ingest --json` process does little besides starting: one stat per
file (bench_ingest.py's 5,000-file tree by default, ~60 ms inside the process) and its imports, so
the process's CPU time is what the start costs. Each ``--src`` (a compiled copy of a commit's
``src/``: this machine sets PYTHONDONTWRITEBYTECODE, so an uncompiled tree is compiled on every
run) gets its own ledger, read in once; then the trees take turns, run by run, so both see the same
load. CPU is user + system time of the child (``wait4``): on a shared machine it is the steadier
figure. ``python -c pass`` is measured in the same rounds as the floor. ``--importtime`` adds one
``python -X importtime`` run per tree and prints the modules the command imports under ``cost_mcp``'s
first-level imports, largest first (times inflated by the instrument; shares are what to read).
``--codex HOME``: a Codex user's start instead, ``CODEX_HOME`` at HOME, no Claude folder and an empty
``HOME`` (so no other agent's default folder is read), as ``bench_side_by_side.py --agent codex`` runs it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import MANY, ensure_tree, median, table


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user + system) and stderr of one process."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        err.seek(0)
        text = err.read().decode("utf-8", "replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd} failed: {text[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, text


def importtime(stderr: str, top: int) -> list[tuple[str, int, int]]:
    """(module, self us, cumulative us) of the imports in a ``-X importtime`` log, largest first."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line or "self [us]" in line:
            continue
        own, cumulative, name = line.removeprefix("import time:").split("|")
        rows.append((name.rstrip(), int(own), int(cumulative)))
    rows.sort(key=lambda r: -r[2])
    return rows[:top]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", action="append", required=True, help="a src/ folder to measure (repeatable)")
    ap.add_argument("--runs", type=int, default=10, help="runs per tree, alternated (default 10)")
    ap.add_argument("--tree", type=Path, default=None, help="a Claude folder (default: the 5,000-file tree)")
    ap.add_argument(
        "--codex", type=Path, default=None, help="a Codex home to read instead of a Claude folder"
    )
    ap.add_argument("--importtime", action="store_true", help="also one -X importtime run per tree")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args(argv)

    tree = args.codex or args.tree
    if tree is None:
        ensure_tree(MANY)
        tree = MANY.path
    work = Path(tempfile.mkdtemp(prefix="bench-start-"))
    where = {"CLAUDE_CONFIG_DIR": str(tree)}
    if args.codex is not None:
        (work / "home").mkdir()
        where = {
            "CLAUDE_CONFIG_DIR": str(work / "no-claude"),
            "CODEX_HOME": str(tree.resolve()),
            "HOME": str(work / "home"),
        }
    try:
        envs = {}
        for n, src in enumerate(args.src):
            env = {
                **os.environ,
                "PYTHONPATH": str(Path(src).resolve()),
                "COST_MCP_DB": str(work / f"ledger-{n}.db"),
                **where,
                "COST_MCP_ENV_FILE": "/nonexistent",
                "COST_MCP_TIMEZONE": "UTC",
            }
            run([sys.executable, "-m", "cost_mcp", "ingest", "--json"], env)  # read in once
            envs[src] = env
        cmd = [sys.executable, "-m", "cost_mcp", "ingest", "--json"]
        walls: dict[str, list[float]] = {src: [] for src in [*args.src, "python -c pass"]}
        cpus: dict[str, list[float]] = {src: [] for src in walls}
        load = os.getloadavg()[0]
        for _ in range(args.runs):
            for src, env in envs.items():
                wall, cpu, _ = run(cmd, env)
                walls[src].append(wall)
                cpus[src].append(cpu)
            wall, cpu, _ = run([sys.executable, "-c", "pass"], dict(os.environ))
            walls["python -c pass"].append(wall)
            cpus["python -c pass"].append(cpu)
        load_after = os.getloadavg()[0]
        print(f"`cost-mcp ingest --json` on {tree} (unchanged), {args.runs} alternated runs per tree")
        print(f"load average (1 min) {load:.2f} before, {load_after:.2f} after\n")
        rows = [
            (
                src,
                round(median(walls[src]) * 1000),
                round(min(walls[src]) * 1000),
                round(median(cpus[src]) * 1000),
                round(min(cpus[src]) * 1000),
            )
            for src in walls
        ]
        print(table(("tree", "wall ms median", "wall ms min", "CPU ms median", "CPU ms min"), rows))
        if args.importtime:
            for src, env in envs.items():
                _, _, stderr = run([sys.executable, "-X", "importtime", *cmd[1:]], env)
                print(f"\n-X importtime, {src}: largest cumulative imports")
                print(table(("module", "self us", "cumulative us"), importtime(stderr, args.top)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
