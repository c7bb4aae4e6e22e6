"""What the OTLP receiver's size limits cost a `cost-mcp serve --http` process: bombs and real batches.

Starts a fresh server (a temp SQLite ledger, a free loopback port) for each body, POSTs it once to
`/v1/logs` or `/v1/metrics`, and reports the answer's status, the wall time of the request, the server
process's CPU for it and its peak RSS (``VmHWM``) over its RSS before (both from ``/proc``):

- bombs: a ~7 kB gzip of 4M empty log records; the 32 MB-unpacked one (16M records); a ~30 kB gzip of
  32M packed zero bucket counts in an exponential histogram point, and the same unpacked (tag + 0);
- real batches, encoded by the OpenTelemetry SDK (``encode_logs`` of opentelemetry-exporter-otlp-proto-
  common, what the SDK's OTLP exporter sends): 512 Claude Code ``api_request`` events (the SDK's batch),
  a ~1.1 MiB and a ~5 MiB batch (over the 1 MiB above which records are counted first), gzipped like
  the exporters do; the time is the request's, decode + price + store.

``--src`` (repeatable) measures each copied ``src/`` in turn, alternated over ``--rounds``; ``--in-process``
adds the CPU of ``decode`` alone (best of 7) for each body, where the count-first walk is visible.

    python bench/bench_otlp_limits.py --src /tmp/otlp-new/src --src /tmp/otlp-base/src --rounds 2
    python bench/bench_otlp_limits.py --in-process --src /tmp/otlp-new/src --src /tmp/otlp-base/src
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # tests.sources.otlp_bombs
from tests.sources.otlp_bombs import empty_records, exponential_points, field

from bench_otel import cpu_seconds
from benchlib import http_server, save, server_env, table

MODELS = ("claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001", "claude-opus-4-1-20250805")
DECODED = 32 * 1024 * 1024


def sdk_batch(size: int, seed: int = 0) -> bytes:
    """``size`` distinct Claude Code api_request events encoded by the OpenTelemetry SDK's encoder."""
    from opentelemetry._logs import LogRecord
    from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
    from opentelemetry.sdk._logs import ReadableLogRecord
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    resource = Resource.create({"service.name": "claude-code", "team.id": "platform"})
    scope = InstrumentationScope("com.anthropic.claude_code.events", "2.0.0")
    now = datetime.now(UTC) - timedelta(minutes=5)
    out = []
    for i in range(size):
        k = seed * 1_000_000 + i
        when = now - timedelta(seconds=i % 86_400)
        nanos = int(when.timestamp() * 1e9)
        attributes = {
            "event.name": "api_request",
            "event.timestamp": when.isoformat(),
            "session.id": f"sess-{k // 50}",
            "prompt.id": f"prompt-{k // 5}",
            "user.email": f"dev{k % 7}@example.com",
            "organization.id": "0f0f0f0f-1111-2222-3333-444444444444",
            "terminal.type": "vscode",
            "model": MODELS[k % len(MODELS)],
            "input_tokens": 10 + k % 900,
            "output_tokens": 50 + k % 2000,
            "cache_read_tokens": k % 30_000,
            "cache_creation_tokens": k % 4000,
            "cost_usd": 0.0123,
            "duration_ms": 1234,
            "request_id": f"req_bench_{k:012d}",
            "speed": "normal",
            "query_source": "repl_main_thread",
        }
        record = LogRecord(
            timestamp=nanos,
            observed_timestamp=nanos,
            body="claude_code.api_request",
            attributes=attributes,
            event_name="claude_code.api_request",
        )
        out.append(ReadableLogRecord(log_record=record, resource=resource, instrumentation_scope=scope))
    return bytes(encode_logs(out).SerializeToString())


BODIES: dict[str, tuple[str, Callable[[], bytes]]] = {
    "bomb: 4M empty log records": ("logs", lambda: empty_records(4_000_000)),
    "bomb: 16M empty log records (32 MB)": ("logs", lambda: empty_records(DECODED // 2 - 8)),
    "bomb: 32M packed bucket counts": (
        "metrics",
        lambda: exponential_points(field(2, b"\x00" * (DECODED - 64))),
    ),
    "bomb: 16M unpacked bucket counts": (
        "metrics",
        lambda: exponential_points(b"\x10\x00" * (DECODED // 2 - 16)),
    ),
    "SDK batch of 512": ("logs", lambda: sdk_batch(512, 1)),
    "SDK batch of 1,900 (~1.1 MiB)": ("logs", lambda: sdk_batch(1_900, 2)),
    "SDK batch of 8,700 (~5 MiB)": ("logs", lambda: sdk_batch(8_700, 3)),
}


def vm_kib(pid: int, field: str) -> int:
    """A ``/proc/PID/status`` size in KiB (``VmRSS``, ``VmHWM``: the peak resident set so far)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def one(src: str | None, signal: str, raw: bytes) -> dict[str, object]:
    """POST ``raw`` gzipped to a fresh server running ``src`` (the venv's when None)."""
    body = gzip.compress(raw)
    with tempfile.TemporaryDirectory() as tmp:
        env = server_env(tmp, f"{tmp}/cost.db")
        if src:
            env["PYTHONPATH"] = src
        with http_server(env) as server:
            proc, base = server.process, server.base
            time.sleep(0.5)  # start-up's own work (the price table, the watcher) out of the figure
            rss_before, cpu_before = vm_kib(proc.pid, "VmRSS"), cpu_seconds(proc.pid)
            headers = {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}
            start = time.perf_counter()
            answer = httpx2.post(f"{base}/v1/{signal}", content=body, headers=headers, timeout=300)
            wall = time.perf_counter() - start
            cpu = cpu_seconds(proc.pid) - cpu_before
            peak = vm_kib(proc.pid, "VmHWM")
    return {
        "sent": len(body),
        "unpacked": len(raw),
        "status": answer.status_code,
        "wall_ms": wall * 1000,
        "cpu_ms": cpu * 1000,
        "rss_before_mib": rss_before / 1024,
        "peak_over_mib": (peak - rss_before) / 1024,
        "answer": answer.text[:160] if answer.status_code != 200 else "",
    }


IN_PROCESS = """
import gzip, json, sys, time
from cost_mcp.sources import otel
best = {}
for name, signal, raw in json.loads(sys.stdin.read()):
    body = gzip.compress(bytes.fromhex(raw))  # as the exporters send it: 5 MiB is over 4 MiB sent
    times = []
    for _ in range(7):
        t = time.process_time()
        try:
            otel.decode(signal, body, encoding="protobuf", gzipped=True)
        except otel.TooLargeError:
            raise SystemExit(name + " refused")
        times.append(time.process_time() - t)
    best[name] = min(times) * 1000
print(json.dumps(best))
"""


def in_process(src: str | None, bodies: dict[str, tuple[str, bytes]]) -> dict[str, float]:
    """CPU ms of ``decode`` alone (gunzip included) for each real batch, best of 7, in a fresh process."""
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src
    payload = json.dumps([[n, s, b.hex()] for n, (s, b) in bodies.items()])
    out = subprocess.run(
        [sys.executable, "-c", IN_PROCESS], input=payload, env=env, capture_output=True, text=True, check=True
    )
    result: dict[str, float] = json.loads(out.stdout)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", action="append", default=[], help="a copied src/ to measure (repeatable)")
    ap.add_argument("--rounds", type=int, default=1, help="times each body is sent to each --src")
    ap.add_argument("--only", help="only the bodies whose name holds this")
    ap.add_argument("--in-process", action="store_true", help="decode's CPU alone, real batches only")
    args = ap.parse_args()
    srcs: list[str | None] = list(args.src) or [None]
    chosen = {n: b for n, b in BODIES.items() if not args.only or args.only in n}
    built = {name: (signal, make()) for name, (signal, make) in chosen.items()}
    rows: list[list[object]] = []
    runs: list[dict[str, object]] = []
    if args.in_process:
        real = {n: b for n, b in built.items() if not n.startswith("bomb")}
        for r in range(args.rounds):
            for src in srcs:
                best = in_process(src, real)
                for name, ms in best.items():
                    runs.append({"round": r, "src": src, "body": name, "decode_cpu_ms": ms})
                    rows.append([src or "venv", name, len(real[name][1]), f"{ms:.1f}"])
        print(table(["src", "body", "unpacked bytes", "decode CPU ms (best of 7)"], rows))
    else:
        for r in range(args.rounds):
            for name, (signal, raw) in built.items():
                for src in srcs:
                    m = one(src, signal, raw)
                    runs.append({"round": r, "src": src, "body": name, **m})
                    rows.append(
                        [
                            src or "venv",
                            name,
                            m["sent"],
                            m["unpacked"],
                            m["status"],
                            f"{m['wall_ms']:.0f}",
                            f"{m['cpu_ms']:.0f}",
                            f"{m['peak_over_mib']:.0f}",
                        ]
                    )
                    print(f"{name} ({src or 'venv'}): {m['status']} {m['answer']}", file=sys.stderr)
        headers = ["src", "body", "sent", "unpacked", "status", "wall ms", "server CPU ms", "peak RSS +MiB"]
        print(table(headers, rows))
    load = os.getloadavg()[0]
    print(f"load {load:.1f}")
    save("otlp_limits", {"when": datetime.now(UTC).isoformat(), "load": load, "runs": runs})


if __name__ == "__main__":
    main()
