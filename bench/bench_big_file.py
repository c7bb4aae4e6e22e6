"""One huge Claude Code session file: ingest time and peak memory (memory must follow the longest
line, not the file). Writes the file under bench/data/ (gitignored).

    python bench/bench_big_file.py --gb 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
USER = {
    "type": "user",
    "sessionId": "big",
    "timestamp": "2026-11-02T09:00:00.000Z",
    "message": {"role": "user", "content": [{"type": "tool_result", "content": "x" * 4_000}]},
}


def assistant(i: int) -> dict[str, object]:
    return {
        "type": "assistant",
        "sessionId": "big",
        "requestId": f"req_{i}",
        "timestamp": f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:00:00.000Z",
        "message": {
            "id": f"msg_{i}",
            "model": "claude-sonnet-4-5-20250929",
            "usage": {"input_tokens": 4, "cache_read_input_tokens": 20_000, "output_tokens": 1 + i % 500},
        },
    }


def write_file(path: Path, target_bytes: int) -> tuple[int, int]:
    path.parent.mkdir(parents=True, exist_ok=True)
    user = json.dumps(USER, separators=(",", ":")) + "\n"
    calls = 0
    size = 0
    with path.open("w") as out:
        while size < target_bytes:
            line = user + json.dumps(assistant(calls), separators=(",", ":")) + "\n"
            out.write(line)
            size += len(line)
            calls += 1
    return calls, size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gb", type=float, default=1.0)
    args = parser.parse_args()
    root = HERE / "data" / f"big-file-{args.gb:g}gb"
    path = root / "projects" / "-big" / "big.jsonl"
    if not path.exists():
        calls, size = write_file(path, int(args.gb * 1e9))
        (root / "calls").write_text(str(calls))
    calls = int((root / "calls").read_text())
    size = path.stat().st_size
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "CLAUDE_CONFIG_DIR": str(root),
            "COST_MCP_DB": f"{tmp}/cost.db",
            "COST_MCP_ENV_FILE": "/nonexistent",
        }
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "cost_mcp", "ingest", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert proc.stdout is not None
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        result = json.loads(out)
    print(f"file: {size / 1e9:.2f} GB, {calls:,} calls, one session")
    print(
        f"cold ingest: {wall:.1f} s, peak RSS {usage.ru_maxrss / 1024:.0f} MiB, "
        f"exit {os.waitstatus_to_exitcode(status)}"
    )
    print(
        f"events added: {result['events_added']:,} (expected {calls:,}), lines read {result['lines_read']:,}"
    )
    return 0 if result["events_added"] == calls else 1


if __name__ == "__main__":
    raise SystemExit(main())
