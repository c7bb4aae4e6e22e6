"""What one get_spend over MCP streamable HTTP costs a team server process (issue 14).

Fills a fresh ledger with ``--batches`` pushed batches of ``--batch`` calls (bench_team.py's rows,
through ``store_pushed``), starts ``cost-mcp serve --http`` (one process) with an admin's token,
then one MCP client in this process calls ``get_spend(period="last_7_days", group_by=["member"])``
``--calls`` times back to back. Reports the server's CPU time per answer (from ``/proc``: the
figure the machine's load moves least), the client's CPU per answer and the latency. With
``--py-spy FILE`` the server is sampled by py-spy meanwhile (collapsed stacks in FILE) and the
functions holding most samples are listed. ``--layers`` first measures the server's CPU per
request of cheaper requests on the same server, to split an answer's cost into layers: ``GET
/healthz`` (HTTP alone), an authenticated GET that the dashboard answers 404 (plus the token
check), and ``estimate_cost`` over MCP (plus the SDK's stateless request and a tool on a thread).

    python bench/profile_spend_http.py --calls 300 [--layers] [--py-spy /tmp/spend.txt]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_team import cpu_seconds, rows
from benchlib import http_server, save, server_env, table
from cost_mcp import push
from cost_mcp.pricing import Pricer
from cost_mcp.sources.claude_code import recount
from cost_mcp.store import connect
from cost_mcp.store import team as team_store


def fill(db: Path, batches: int, size: int, now_ms: int) -> None:
    """The ledger a team server has after ``batches`` pushes from 20 members."""
    pricer = Pricer()
    conn = connect(db)
    try:
        for n in range(batches):
            pusher = n % 20
            wire = rows(pusher, n // 20, size, now_ms)
            stored = [push._stored(r) for r in wire]
            member = f"dev{pusher}@example.com"
            prices = push.price_rows(pricer, wire)
            team_store.store_pushed(conn, member, f"p{pusher}", stored, prices, recount)
    finally:
        conn.close()


IDLE = ("Condition.wait", "EpollSelector.select", "Queue.get", "Event.wait")
"""Leaf frames of a thread waiting for work: py-spy samples them too."""


def top_frames(collapsed: Path, n: int = 40) -> tuple[int, list[tuple[str, int, float]]]:
    """Busy samples, and the functions on most busy stacks (inclusive, thread roots left out),
    from py-spy's collapsed output."""
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not count.isdigit() or frames[-1].startswith(IDLE):
            continue
        total += int(count)
        for frame in set(frames[1:]):
            inclusive[frame] += int(count)
    common = [(f, k, k / total) for f, k in inclusive.most_common() if k < 0.9 * total]
    return total, common[:n]


def measure_layers(base: str, admin: str, n: int, pid: int) -> dict[str, float]:
    """Server CPU ms per request of ``n`` requests of each cheaper kind, one after another."""
    auth = {"Authorization": f"Bearer {admin}"}
    estimate_args = {"model": "claude-sonnet-4-5", "input_tokens": 1000, "output_tokens": 100}

    async def healthz() -> None:
        async with httpx2.AsyncClient() as http:
            for _ in range(n):
                (await http.get(f"{base}/healthz")).raise_for_status()

    async def authenticated() -> None:
        async with httpx2.AsyncClient(headers=auth) as http:
            for _ in range(n):
                assert (await http.get(f"{base}/no-such-page")).status_code == 404

    async def estimate() -> None:
        from mcp import Client
        from mcp.client.streamable_http import streamable_http_client

        async with (
            httpx2.AsyncClient(headers=auth, timeout=120) as http,
            Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client,
        ):
            for _ in range(n):
                res = await client.call_tool("estimate_cost", estimate_args)
                assert not res.is_error, res.content

    out: dict[str, float] = {}
    for name, fn in (
        ("GET /healthz", healthz),
        ("GET with the admin's token (404)", authenticated),
        ("estimate_cost over MCP", estimate),
    ):
        before = cpu_seconds(pid)
        anyio.run(fn)
        out[name] = round((cpu_seconds(pid) - before) / n * 1000, 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--batches", type=int, default=200, help="pushed batches in the ledger first")
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--py-spy", dest="pyspy", type=Path, help="sample the server with py-spy into this file")
    ap.add_argument("--layers", action="store_true", help="first: server CPU of cheaper requests")
    args = ap.parse_args()
    now_ms = int(datetime.now(UTC).timestamp() * 1000) - 60_000
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "cost.db"
        fill(db, args.batches, args.batch, now_ms)
        conn = connect(db)
        admin = team_store.create_token(conn, "admin", "boss@example.com", "admin")
        conn.close()
        env = server_env(tmp, db, COST_MCP_TIMEZONE="UTC")
        spy = None
        with http_server(env) as server:
            proc, base = server.process, server.base
            try:
                latencies: list[float] = []

                async def ask(n: int) -> None:
                    from mcp import Client
                    from mcp.client.streamable_http import streamable_http_client

                    async with (
                        httpx2.AsyncClient(headers={"Authorization": f"Bearer {admin}"}, timeout=120) as http,
                        Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client,
                    ):
                        for _ in range(n):
                            t = time.perf_counter()
                            res = await client.call_tool(
                                "get_spend", {"period": "last_7_days", "group_by": ["member"]}
                            )
                            assert not res.is_error, res.content
                            latencies.append(time.perf_counter() - t)

                anyio.run(ask, 20)  # warm: imports, the pricer, the first refresh
                latencies.clear()
                layers = measure_layers(base, admin, args.calls, proc.pid) if args.layers else {}
                if args.pyspy:
                    pyspy = shutil.which("py-spy") or "py-spy"
                    record = ["record", "-p", str(proc.pid), "-o", str(args.pyspy), "-f", "raw", "-r", "500"]
                    record.append("-t")  # with the worker threads
                    spy = subprocess.Popen(
                        [pyspy, *record],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                    time.sleep(1)
                server_before, client_before = cpu_seconds(proc.pid), time.process_time()
                anyio.run(ask, args.calls)
                server_cpu = cpu_seconds(proc.pid) - server_before
                client_cpu = time.process_time() - client_before
            finally:
                if spy is not None:
                    spy.send_signal(2)
                    spy.wait(timeout=60)
    latencies.sort()
    for name, ms in layers.items():
        print(f"{name:40s} server CPU {ms:6.2f} ms per request")
    result: dict[str, Any] = {
        "layers_server_cpu_ms": layers,
        "calls": args.calls,
        "events": args.batches * args.batch,
        "server_cpu_ms_per_call": round(server_cpu / args.calls * 1000, 2),
        "client_cpu_ms_per_call": round(client_cpu / args.calls * 1000, 2),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000, 1),
        "load_average": os.getloadavg()[0],
    }
    print(
        table(
            ["calls", "events", "server CPU ms/call", "client CPU ms/call", "p50/p99 ms", "load"],
            [
                [
                    args.calls,
                    f"{result['events']:,}",
                    result["server_cpu_ms_per_call"],
                    result["client_cpu_ms_per_call"],
                    f"{result['p50_ms']}/{result['p99_ms']}",
                    f"{result['load_average']:.1f}",
                ]
            ],
        )
    )
    if args.pyspy and args.pyspy.exists():
        busy, frames = top_frames(args.pyspy)
        print(f"\nserver: {busy} busy samples; by function (inclusive):")
        for frame, k, share in frames:
            print(f"{share:6.1%} {k:7d}  {frame[:150]}")
    save("profile_spend_http", result)


if __name__ == "__main__":
    main()
