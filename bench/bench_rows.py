#!/usr/bin/env python3
"""Measure what a large breakdown costs over MCP (issue 22): get_spend for every grouping over the
90 days of the 1M-event ledger, through the in-memory client and a stdio subprocess.

    python bench/bench_rows.py                          # the working tree (bounded rows)
    python bench/bench_rows.py --src /tmp/cost-mcp-main/src   # another commit's src/ (e.g. before)
    python bench/bench_rows.py --calls 10 --no-stdio
    python bench/bench_rows.py --timezone Asia/Kolkata   # local days that are not whole UTC hours

The ledger is bench_spend.py's (built once under bench/data/spend-1m/, reused). Per grouping: the
median and p95 of ``--calls`` timed calls after one warm-up, on one open session, the median CPU time
of this process (in-process and in-memory: client and server alike; not the stdio server's), and the
sizes of the text and structured content of the answer and its row count. The period is the ledger's 90 days
(2026-08-23..2026-11-20, in UTC unless ``--timezone``), given as dates because the server resolves
names against the real clock. Raw numbers go to bench/out/rows.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_spend import (
    FIRST_DAY,
    GROUPS,
    NOW,
    TARGET_MS,
    LedgerSpec,
    ensure_ledger,
    p95,
    server_command,
    server_env,
)
from benchlib import median, save, table

ALL_DAYS = {"start": FIRST_DAY.isoformat(), "end": NOW.date().isoformat(), "timezone": "UTC"}


def _sizes(result: Any) -> dict[str, Any]:
    structured = result.structured_content or {}
    return {
        "text_bytes": sum(len(getattr(part, "text", "").encode()) for part in result.content),
        "structured_bytes": len(json.dumps(structured, separators=(",", ":")).encode()),
        "rows": len(structured.get("rows", [])),
        "total_rows": structured.get("total_rows"),
    }


async def measure(client: Any, calls: int, label: str) -> dict[str, dict[str, Any]]:
    """Every grouping on one open session."""
    out: dict[str, dict[str, Any]] = {}
    for group in GROUPS:
        args = {**ALL_DAYS, "group_by": list(group)}
        result = await client.call_tool("get_spend", args)  # warm-up
        if result.is_error:
            raise RuntimeError(f"tool error: {result.content}")
        times, cpu = [], []
        for _ in range(calls):
            t0, c0 = time.perf_counter(), time.process_time()
            result = await client.call_tool("get_spend", args)
            times.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
        name = ", ".join(group) or "(total)"
        out[name] = {
            "median_ms": median(times),
            "p95_ms": p95(times),
            "cpu_ms": median(cpu),
            "ms": times,
            **_sizes(result),
        }
        print(f"  {label}: group_by [{name}] {median(times):.1f} ms", file=sys.stderr)
    return out


def in_process(db: Path, claude_dir: Path, calls: int) -> dict[str, dict[str, Any]]:
    """The query alone, as the tool runs it (``spend.get_spend``, bounded where the code bounds),
    without MCP: what the calls above add to it is the protocol's share."""
    from cost_mcp.analytics import spend
    from cost_mcp.config import load_settings
    from cost_mcp.store import connect

    settings = load_settings(server_env(db, claude_dir, None), env_file=Path("/nonexistent"))
    try:
        from cost_mcp.analytics import rows

        window: Any = rows.Window()
    except ImportError:  # a commit before bounded rows
        window = None
    p = spend.resolve(settings, None, ALL_DAYS["start"], ALL_DAYS["end"], ALL_DAYS["timezone"])
    out: dict[str, dict[str, Any]] = {}
    conn = connect(settings.db)
    try:
        for group in GROUPS:
            kwargs = {"window": window} if window is not None else {}
            times, cpu = [], []
            for _ in range(calls + 1):
                t0, c0 = time.perf_counter(), time.process_time()
                result = spend.get_spend(conn, settings, p, list(group), take_alerts=False, **kwargs)
                times.append((time.perf_counter() - t0) * 1000)
                cpu.append((time.process_time() - c0) * 1000)
            name = ", ".join(group) or "(total)"
            out[name] = {
                "median_ms": median(times[1:]),
                "p95_ms": p95(times[1:]),
                "cpu_ms": median(cpu[1:]),
                "ms": times[1:],
                "text_bytes": 0,
                "structured_bytes": len(result.model_dump_json()),
                "rows": len(result.rows),
                "total_rows": getattr(result, "total_rows", None),
            }
            print(f"  in-process: group_by [{name}] {median(times[1:]):.1f} ms", file=sys.stderr)
    finally:
        conn.close()
    return out


async def in_memory(db: Path, claude_dir: Path, calls: int) -> dict[str, dict[str, Any]]:
    """The SDK's in-memory client on the server object, in this process."""
    from mcp import Client

    os.environ.update(server_env(db, claude_dir, None))
    from cost_mcp.server import mcp

    async with Client(mcp) as c:
        return await measure(c, calls, "in-memory")


async def stdio(db: Path, claude_dir: Path, src: Path | None, calls: int) -> dict[str, dict[str, Any]]:
    """``cost-mcp`` spawned over stdio, as Claude Code runs it."""
    from mcp import Client, StdioServerParameters

    cmd = server_command(src)
    params = StdioServerParameters(command=cmd[0], args=cmd[1:], env=server_env(db, claude_dir, src))
    async with Client(params) as c:
        return await measure(c, calls, "stdio")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--calls", type=int, default=10, help="timed calls per grouping (default 10)")
    ap.add_argument("--no-stdio", action="store_true", help="in-memory client only")
    ap.add_argument("--no-memory", action="store_true", help="stdio subprocess only")
    ap.add_argument("--src", type=Path, default=None, help="measure cost-mcp from this src/ folder")
    ap.add_argument(
        "--timezone",
        default="UTC",
        help="the period's timezone (default UTC; Europe/Paris and Asia/Kolkata read the rollup by hours)",
    )
    args = ap.parse_args(argv)
    ALL_DAYS["timezone"] = args.timezone
    src: Path | None = args.src.resolve() if args.src else None
    if src is not None:
        sys.path.insert(0, str(src))
    spec = LedgerSpec(1)
    ensure_ledger(spec, False)
    work = Path(tempfile.mkdtemp(prefix="bench-rows-"))
    results: dict[str, dict[str, dict[str, Any]]] = {}
    load_before = os.getloadavg()
    try:
        claude_dir = work / "claude"
        claude_dir.mkdir()
        copy = work / "cost.db"  # the server records its (empty) log scans; the cached ledger stays as built
        shutil.copyfile(spec.db, copy)
        results["in-process query (no MCP)"] = in_process(copy, claude_dir, args.calls)
        if not args.no_memory:
            results["in-memory client"] = asyncio.run(in_memory(copy, claude_dir, args.calls))
        if not args.no_stdio:
            results["stdio subprocess"] = asyncio.run(stdio(copy, claude_dir, src, args.calls))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()
    rows = [
        [
            how,
            group,
            f"{r['median_ms']:.1f}",
            f"{r['p95_ms']:.1f}",
            f"{r['cpu_ms']:.1f}" if "cpu_ms" in r else "-",
            f"{r['rows']} of {r['total_rows'] if r['total_rows'] is not None else r['rows']}",
            f"{r['text_bytes']:,}",
            f"{r['structured_bytes']:,}",
            "PASS" if r["median_ms"] < TARGET_MS else "FAIL",
        ]
        for how, groups in results.items()
        for group, r in groups.items()
    ]
    headers = ["via", "group_by", "median ms", "p95 ms", "CPU ms", "rows", "text B", "structured B"]
    headers.append("< 100 ms")
    print(table(headers, rows))
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}")
    meta = {"src": str(src or "installed"), "timezone": args.timezone, "load": [load_before, load_after]}
    path = save("rows", {**meta, **results})
    print(f"raw numbers: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
