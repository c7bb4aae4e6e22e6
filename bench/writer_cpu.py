#!/usr/bin/env python3
"""CPU of the log reader's writer (``claude_code._write``: the SQL of each batch), of the row
building before it (``claude_code._rows``: pricing, the batch's decisions, the rollup's sums) and of
the tail after it (index build and rollup refresh) over one cold ingest.

    python bench/writer_cpu.py --label branch
    PYTHONPATH=/tmp/base/src python bench/writer_cpu.py --label main   # another commit's src/

In this process, parse worker off, no profiler: the writer's share alone, which wall-clock figures on
a shared 2-core machine hide in their noise. On the CLI's path ``_rows`` runs in the parse worker
beside the writer, and the tail runs alone after both. Alternate versions under the bench lock and
compare.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import DATA
from cost_mcp.config import load_settings
from cost_mcp.pricing import Pricer
from cost_mcp.sources import beside, claude_code
from cost_mcp.store import bulk, connect, rollup


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--tree", default="claude-200k")
    ap.add_argument("--label", default="working tree")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="writer-cpu-"))
    env = {
        "COST_MCP_DB": str(work / "cost.db"),
        "CLAUDE_CONFIG_DIR": str(DATA / args.tree),
        "COST_MCP_TIMEZONE": "UTC",
    }
    settings = load_settings(env, env_file=Path("/nonexistent"))
    conn = connect(work / "cost.db")
    beside.PARSE_WORKER = False
    spent: dict[str, float] = {"writer": 0.0, "rows": 0.0, "tail": 0.0}

    def timed(owner: Any, name: str, part: str) -> None:
        inner = getattr(owner, name)

        def run(*a: Any, **k: Any) -> Any:
            start = time.process_time()
            try:
                return inner(*a, **k)
            finally:
                spent[part] += time.process_time() - start

        setattr(owner, name, run)

    timed(claude_code, "_write", "writer")
    timed(claude_code, "_rows", "rows")
    timed(bulk, "restore_indexes", "tail")  # claude_code calls it through the module
    timed(rollup, "refresh", "tail")
    cpu0 = time.process_time()
    result = claude_code.ingest(conn, settings, Pricer(), full=True)
    cpu = time.process_time() - cpu0
    conn.close()
    print(
        f"{args.label}: writer CPU {spent['writer']:.3f} s, rows {spent['rows']:.3f} s, "
        f"tail {spent['tail']:.3f} s, whole ingest CPU {cpu:.3f} s, {result.events_added:,} calls"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
