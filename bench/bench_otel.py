"""Events per second one `cost-mcp serve --http` process accepts over OTLP/HTTP (issue 15).

Starts the server on a free loopback port with a fresh ledger, then POSTs protobuf
ExportLogsServiceRequest batches of Claude Code ``api_request`` events (512 per batch by default,
each with its own request id, so every event is priced and written) from ``--clients`` threads.
Reports events/s over the whole run (server decode + price + one transaction per batch) and checks
the ledger afterwards holds exactly the events sent.

    python bench/bench_otel.py --batches 200 --batch-size 512 --clients 2
    python bench/bench_otel.py --phases     # CPU per event of each step, in process
    python bench/bench_otel.py --token admin   # with a bearer token checked on every request
"""

from __future__ import annotations

import argparse
import inspect
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import http_server, median, save, server_env, table

PROTOBUF = {"Content-Type": "application/x-protobuf"}
MODELS = ("claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001", "claude-opus-4-1-20250805")


def _kv(key: str, value: str | int) -> KeyValue:
    v = AnyValue(int_value=value) if isinstance(value, int) else AnyValue(string_value=value)
    return KeyValue(key=key, value=v)


def batch(n: int, size: int, now: datetime) -> bytes:
    """One protobuf export request of ``size`` distinct api_request events."""
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.extend([_kv("service.name", "claude-code"), _kv("team.id", "platform")])
    records = rl.scope_logs.add().log_records
    for i in range(size):
        k = n * size + i
        when = now - timedelta(seconds=k % 86_400)
        r = records.add()
        r.time_unix_nano = int(when.timestamp() * 1e9)
        r.body.string_value = "claude_code.api_request"
        r.attributes.extend(
            [
                _kv("event.name", "api_request"),
                _kv("event.timestamp", when.isoformat()),
                _kv("session.id", f"sess-{k // 50}"),
                _kv("prompt.id", f"prompt-{k // 5}"),
                _kv("user.email", f"dev{k % 7}@example.com"),
                _kv("model", MODELS[k % len(MODELS)]),
                _kv("input_tokens", 10 + k % 900),
                _kv("output_tokens", 50 + k % 2000),
                _kv("cache_read_tokens", k % 30_000),
                _kv("cache_creation_tokens", k % 4000),
                _kv("cost_usd", "0.0123"),
                _kv("request_id", f"req_bench_{k:09d}"),
                _kv("speed", "normal"),
                _kv("query_source", "repl_main_thread"),
            ]
        )
    return req.SerializeToString()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux): what the server spent, whatever the load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def phases(bodies: list[bytes], runs: int = 7) -> None:
    """Microseconds of process CPU per event, in this process, for each step of the receiver (the
    best of ``runs``, so other processes on the machine disturb it least): reading the attributes,
    turning records into calls (attributes included), pricing, and the whole of decode + receive
    into a fresh ledger (writing included)."""
    from cost_mcp.pricing import Pricer
    from cost_mcp.sources import otel
    from cost_mcp.store import connect

    messages = [otel.decode("logs", b, encoding="protobuf", gzipped=False) for b in bodies]
    records = [r for m in messages for rl in m.resource_logs for sl in rl.scope_logs for r in sl.log_records]  # type: ignore[attr-defined]
    pricer = Pricer()
    best: dict[str, float] = {}
    for _ in range(runs):
        t = time.process_time()
        for r in records:
            otel.attributes(r.attributes)
        took = {"attributes": time.process_time() - t}
        outcome = otel.Outcome("logs")
        t = time.process_time()
        # Before 2026-12-03's fourth pass _logs took the request's instant, now its window.
        window = getattr(otel, "_window", lambda now: now)(datetime.now(UTC))
        calls = [c for m in messages for c in otel._logs(m, window, outcome)]  # type: ignore[arg-type]
        took["records to calls"] = time.process_time() - t
        t = time.process_time()
        # Before 2026-12-06 _price also took the request's outcome (to note unpriced models no one read).
        takes_outcome = "outcome" in inspect.signature(otel._price).parameters
        otel._price(calls, pricer, *([outcome] if takes_outcome else []))
        took["pricing"] = time.process_time() - t
        with tempfile.TemporaryDirectory() as tmp:
            conn = connect(Path(tmp) / "cost.db")
            t = time.process_time()
            for body in bodies:
                message = otel.decode("logs", body, encoding="protobuf", gzipped=False)
                otel.receive(conn, pricer, "logs", message)
            took["decode + receive + write"] = time.process_time() - t
            conn.close()
        for k, v in took.items():
            best[k] = min(best.get(k, v), v)
    print(table(["step", "µs per event"], [[k, f"{v / len(records) * 1e6:.1f}"] for k, v in best.items()]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--clients", type=int, default=2, help="concurrent senders")
    ap.add_argument("--phases", action="store_true", help="only the in-process step times (20 batches)")
    ap.add_argument(
        "--token",
        choices=["admin", "member"],
        help="create a token of this role first: the server then checks it on every request (team mode)",
    )
    args = ap.parse_args()

    now = datetime.now(UTC) - timedelta(minutes=5)
    if args.phases:
        phases([batch(n, args.batch_size, now) for n in range(min(args.batches, 20))])
        return
    bodies = [batch(n, args.batch_size, now) for n in range(args.batches)]
    with tempfile.TemporaryDirectory() as tmp:
        env = server_env(tmp, f"{tmp}/cost.db")
        headers = dict(PROTOBUF)
        if args.token:
            create = ["token", "create", "bench", "--member", "bench@example.com", "--role", args.token]
            created = subprocess.run(
                [sys.executable, "-m", "cost_mcp", *create],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            headers["Authorization"] = "Bearer " + created.stdout.split()[0]
        with http_server(env) as server:
            latencies: list[float] = []
            lock = threading.Lock()
            queue = list(enumerate(bodies))

            def sender() -> None:
                with httpx2.Client(timeout=120) as client:
                    while True:
                        with lock:
                            if not queue:
                                return
                            _, body = queue.pop()
                        t = time.perf_counter()
                        r = client.post(f"{server.base}/v1/logs", content=body, headers=headers)
                        r.raise_for_status()
                        with lock:
                            latencies.append(time.perf_counter() - t)

            cpu_before = cpu_seconds(server.process.pid)
            start = time.perf_counter()
            threads = [threading.Thread(target=sender) for _ in range(args.clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - start
            cpu = cpu_seconds(server.process.pid) - cpu_before
        conn = sqlite3.connect(f"{tmp}/cost.db")
        stored = conn.execute("SELECT COUNT(*) FROM usage_events WHERE counted = 1").fetchone()[0]
        conn.close()
    sent = args.batches * args.batch_size
    assert stored == sent, f"ledger holds {stored} events, {sent} were sent"
    rate = sent / wall
    result = {
        "events": sent,
        "batch_size": args.batch_size,
        "clients": args.clients,
        "token": args.token or "none",
        "seconds": round(wall, 3),
        "events_per_s": round(rate),
        "batch_ms_median": round(median(latencies) * 1000, 1),
        "server_cpu_seconds": round(cpu, 3),
        "events_per_server_cpu_s": round(sent / cpu),
        "load_average": os.getloadavg()[0],
    }
    print(
        table(
            [
                "events",
                "batch",
                "clients",
                "token",
                "seconds",
                "events/s",
                "median batch ms",
                "events/server CPU s",
                "load",
            ],
            [
                [
                    sent,
                    args.batch_size,
                    args.clients,
                    args.token or "none",
                    f"{wall:.2f}",
                    f"{rate:,.0f}",
                    result["batch_ms_median"],
                    f"{sent / cpu:,.0f}",
                    f"{os.getloadavg()[0]:.1f}",
                ]
            ],
        )
    )
    save("otel", result)


if __name__ == "__main__":
    main()
