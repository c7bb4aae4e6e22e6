#!/usr/bin/env python3
"""`cost-mcp statusline` of this tree and another, alternated call by call on one prepared ledger.

    git archive main src | tar -x -C /tmp/main-tree
    python bench/bench_statusline_alternate.py --against /tmp/main-tree/src --rounds 8

On a shared machine whose load moves, alternating the two trees run by run is the fair comparison:
both see the same load. Each call's CPU time (user + system of the child) is printed beside its wall
time: on a busy machine it is the closer estimate of the wall time on an idle one. Uses
bench_statusline.py's ledger (1M events plus today's share and this session's 200-call transcript),
one copy per tree (a tree may add a migration the other does not know). Per round and tree: the
transcript unchanged, then one new line, then (``--hook``) the UserPromptSubmit hook with two hard
budgets after one more new line (``--used-up``: both budgets used up, the refusal's path).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def timed(cmd: list[str], stdin: str, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU milliseconds of one run of ``cmd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(cmd, input=stdin, env=env, capture_output=True, text=True, check=True)
    wall = (time.perf_counter() - started) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    return wall, used


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--against", required=True, help="the other tree's src/ folder")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--hook", action="store_true", help="also the hook with two budgets set")
    parser.add_argument(
        "--used-up",
        action="store_true",
        help="with --hook: the budgets used up, so the hook runs check_budget in full and blocks",
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(BENCH))
    from bench_spend import LedgerSpec, ensure_ledger
    from bench_statusline import add_budgets, hook_json, line, prepare, status_json

    spec = LedgerSpec(seed=1)
    ensure_ledger(spec, rebuild=False)
    trees = {"this tree": None, "other tree": args.against}
    results: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        ledgers = {}
        for name in trees:
            work = Path(tmp) / name.replace(" ", "-")
            work.mkdir()
            db, transcript, env = prepare(work, spec.db)
            if args.hook:
                add_budgets(db, 1 if args.used_up else 10**15)
            ledgers[name] = (transcript, env)
        counter = [5000]

        def run(name: str, append: bool, command: str = "statusline") -> tuple[float, float]:
            transcript, env = ledgers[name]
            full = {**os.environ, **env}
            src = trees[name]
            if src:
                full["PYTHONPATH"] = src
            if append:
                counter[0] += 1
                with transcript.open("a") as f:
                    f.write(line(counter[0], datetime.now(UTC)) + "\n")
            stdin = status_json(transcript) if command == "statusline" else hook_json(transcript)
            return timed([sys.executable, "-m", "cost_mcp", command], stdin, full)

        for name in trees:  # the first call reads the whole transcript and refreshes the rollup
            run(name, False)
        for _ in range(args.rounds):
            for name in trees:
                cases = [
                    ("python -c pass", timed([sys.executable, "-c", "pass"], "", dict(os.environ))),
                    (f"{name}, unchanged transcript", run(name, False)),
                    (f"{name}, one new call", run(name, True)),
                ]
                if args.hook:
                    cases.append((f"{name}, hook, new call", run(name, True, "hook")))
                for case, (wall, used) in cases:
                    results.setdefault(case, []).append(wall)
                    cpu.setdefault(case, []).append(used)
    print(f"{'case':34s} {'median ms':>9s} {'min ms':>7s} {'max ms':>7s} {'CPU median ms':>13s}")
    for name, values in results.items():
        print(
            f"{name:34s} {statistics.median(values):9.0f} {min(values):7.0f} {max(values):7.0f} "
            f"{statistics.median(cpu[name]):13.0f}"
        )
    print(json.dumps({"load": os.getloadavg()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
