#!/usr/bin/env python3
"""CPU of the log reader's writer (``claude_code._write``: the SQL of each batch) over one cold ingest.

    python bench/writer_cpu.py --label branch
    PYTHONPATH=/tmp/base/src python bench/writer_cpu.py --label main   # another commit's src/

In this process, parse worker off, no profiler: the writer's share alone, which wall-clock figures on
a shared 2-core machine hide in their noise. Alternate versions under the bench lock and compare.
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
from cost_mcp.sources import claude_code
from cost_mcp.store import connect


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
    claude_code.PARSE_WORKER = False
    spent = 0.0
    write = claude_code._write

    def timed(*a: Any, **k: Any) -> None:
        nonlocal spent
        start = time.process_time()
        try:
            write(*a, **k)
        finally:
            spent += time.process_time() - start

    claude_code._write = timed  # type: ignore[assignment]
    cpu0 = time.process_time()
    result = claude_code.ingest(conn, settings, Pricer(), full=True)
    cpu = time.process_time() - cpu0
    conn.close()
    print(
        f"{args.label}: writer CPU {spent:.3f} s, whole ingest CPU {cpu:.3f} s, {result.events_added:,} calls"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
