#!/usr/bin/env python3
"""How long a running server's ``check_budget`` waits while ``cost-mcp reprice --all`` runs on its ledger.

    python bench/bench_reprice_stall.py --db LEDGER [--src SRC] [--every 0.2] [--agent triage]

Copies nothing: give a scratch copy of a large ledger (``build_scale_ledger.py``), it is repriced.
Starts the real stdio server on it (``python -m cost_mcp``, ``--src`` first on PYTHONPATH), answers one
``check_budget`` to warm it, then starts ``python -m cost_mcp reprice --all`` as a second process and
calls ``check_budget`` (``estimated_cost_usd`` 0.01, ``--agent``: a hard budget's scope makes the check
take the write lock for its hold) every ``--every`` seconds until the re-price exits. Prints the
answers' median, p95 and max in ms, how many took over 1 s, and the re-price's wall and the CPU of
the re-price and the server together.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


async def _run(db: Path, src: str | None, every: float, agent: str) -> int:
    from mcp import Client, StdioServerParameters

    home = tempfile.mkdtemp(prefix="reprice-stall-home-")
    env = {
        "HOME": home,
        "COST_MCP_DB": str(db),
        "COST_MCP_ENV_FILE": "/nonexistent",
        "COST_MCP_TIMEZONE": "UTC",
        "COST_MCP_WATCH_LOGS": "false",
        "PATH": os.environ.get("PATH", ""),
    }
    if src:
        env["PYTHONPATH"] = src
    params = StdioServerParameters(command=sys.executable, args=["-m", "cost_mcp"], env=env, cwd=home)
    args = {"estimated_cost_usd": 0.01, "agent": agent}
    waits: list[float] = []
    async with Client(params, read_timeout_seconds=600) as client:
        await client.call_tool("check_budget", args)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        reprice = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cost_mcp", "reprice", "--all", env=env, cwd=home, stdout=subprocess.DEVNULL
        )
        while reprice.returncode is None:
            start = time.perf_counter()
            result = await client.call_tool("check_budget", args)
            waits.append((time.perf_counter() - start) * 1000)
            if result.is_error:
                print(f"check_budget failed: {result.content}", file=sys.stderr)
                return 1
            await asyncio.sleep(every)
        await reprice.wait()
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    waits.sort()
    p95 = waits[int(0.95 * (len(waits) - 1))]
    print(
        f"src={src or '(venv)'} reprice exit={reprice.returncode} wall={wall:.1f} s "
        f"cpu(reprice+server)={cpu:.1f} s | "
        f"check_budget n={len(waits)} median={statistics.median(waits):.0f} ms p95={p95:.0f} ms "
        f"max={waits[-1]:.0f} ms over_1s={sum(w > 1000 for w in waits)} "
        f"top5={[round(w) for w in waits[-5:]]}"
    )
    return 0 if reprice.returncode == 0 else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", type=Path, required=True, help="a scratch copy of a large ledger (repriced)")
    ap.add_argument("--src", help="a cost-mcp src/ to measure (default: the venv's install)")
    ap.add_argument("--every", type=float, default=0.2, help="seconds between answers")
    ap.add_argument("--agent", default="triage", help="the agent checked (a hard budget's scope)")
    ns = ap.parse_args(argv)
    return asyncio.run(_run(ns.db, ns.src, ns.every, ns.agent))


if __name__ == "__main__":
    sys.exit(main())
