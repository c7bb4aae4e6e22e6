#!/usr/bin/env python3
"""A cold start on a large log history: how soon the first answer comes, and that it says it is partial.

    python bench/bench_first_answer.py [--lines 200000] [--target-mb 230] [--budget 5]

Spawns the real stdio server on a fresh ledger and the generated tree (``bench/data/claude-200k``, made
by ``gen_claude_logs.py``), calls ``get_spend`` at once and then every 0.5 s until it says
``complete: true``, and checks every answer: complete, or ``complete: false`` with ``reading`` and the
INCOMPLETE warning first; totals never go down. Then compares the complete total with
``cost-mcp report --json`` on another fresh ledger (the CLI waits for the whole read). Exits 1 on any
unlabelled partial answer or a total that differs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import benchlib


async def _answers(claude: Path, db: Path, budget: float) -> tuple[list[dict[str, Any]], float]:
    from mcp import Client, StdioServerParameters

    env = {
        "COST_MCP_DB": str(db),
        "CLAUDE_CONFIG_DIR": str(claude),
        "COST_MCP_ENV_FILE": "/nonexistent",
        "COST_MCP_PRICES_FILE": str(db.parent / "no-prices.toml"),
        "COST_MCP_TIMEZONE": "UTC",
        "COST_MCP_REFRESH_BUDGET_SECONDS": str(budget),
        "PATH": os.environ.get("PATH", ""),
    }
    params = StdioServerParameters(command=sys.executable, args=["-m", "cost_mcp"], env=env)
    answers: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    async with Client(params, read_timeout_seconds=600) as client:
        while True:
            result = await client.call_tool("get_spend", {"start": "2020-01-01", "end": "2035-12-31"})
            got = dict(result.structured_content or {})
            got["at_s"] = round(time.perf_counter() - t0, 2)
            answers.append(got)
            line = f"  {got['at_s']:>6.2f} s complete={got['complete']} total={got['total_usd']}"
            print(line, file=sys.stderr)
            if got["complete"]:
                return answers, time.perf_counter() - t0
            await asyncio.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--target-mb", type=float, default=230.0)
    ap.add_argument("--budget", type=float, default=5.0, help="COST_MCP_REFRESH_BUDGET_SECONDS")
    args = ap.parse_args(argv)
    spec = benchlib.TreeSpec(f"claude-{args.lines // 1000}k", args.lines, 1, args.target_mb, None)
    benchlib.ensure_tree(spec)  # cached in bench/data
    size = sum(p.stat().st_size for p in spec.path.rglob("*.jsonl"))
    with tempfile.TemporaryDirectory() as tmp:
        answers, seconds = asyncio.run(_answers(spec.path, Path(tmp) / "server.db", args.budget))
        env = {**os.environ, "COST_MCP_DB": str(Path(tmp) / "cli.db"), "CLAUDE_CONFIG_DIR": str(spec.path)}
        env |= {"COST_MCP_ENV_FILE": "/nonexistent", "COST_MCP_TIMEZONE": "UTC"}
        t0 = time.perf_counter()
        everything = ["--start", "2020-01-01", "--end", "2035-12-31"]
        cli = subprocess.run(
            [sys.executable, "-m", "cost_mcp", "report", "--json", *everything],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        cli_seconds = time.perf_counter() - t0
    cli_total = Decimal(str(json.loads(cli.stdout)["total_usd"]))
    problems = []
    previous = Decimal(0)
    for a in answers:
        total = Decimal(str(a["total_usd"]))
        if total < previous:
            problems.append(f"total went down at {a['at_s']} s")
        previous = total
        labelled = a["complete"] or (a["reading"] and a["warnings"][0].startswith("INCOMPLETE"))
        if not labelled:
            problems.append(f"unlabelled partial answer at {a['at_s']} s")
    final = Decimal(str(answers[-1]["total_usd"]))
    if final != cli_total:
        problems.append(f"complete total {final} != CLI total {cli_total}")
    summary = {
        "tree_bytes": size,
        "first_answer_s": answers[0]["at_s"],
        "first_answer_complete": answers[0]["complete"],
        "first_answer_total_usd": str(answers[0]["total_usd"]),
        "answers": len(answers),
        "complete_after_s": round(seconds, 2),
        "complete_total_usd": str(final),
        "cli_report_s": round(cli_seconds, 2),
        "cli_total_usd": str(cli_total),
        "problems": problems,
    }
    benchlib.OUT.mkdir(exist_ok=True)
    (benchlib.OUT / "first_answer.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
