"""get_spend on the same 1M-event ledger at 4 KiB and at 16 KiB pages, alternated query by query.

The fifteenth round (issue 18) made new ledgers use 16 KiB pages for the cold load's writer; this
checks what that does to the spend queries' reads. Both copies are VACUUMed from bench_spend.py's
cached ledger (build it first: ``python bench/bench_spend.py --no-server``), so they hold the same
rows and differ only in page size.

    python bench/page_size_reads.py [--rounds 6]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

import bench_spend as b
from cost_mcp.analytics import spend
from cost_mcp.config import load_settings
from cost_mcp.store import connect

SIZES = (4096, 16384)


def copies(folder: Path) -> dict[int, Path]:
    """The cached ledger VACUUMed into one file per page size."""
    source = b.LedgerSpec(seed=1).db
    with sqlite3.connect(source) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    made = {}
    for size in SIZES:
        target = folder / f"p{size}.db"
        shutil.copy(source, target)
        conn = sqlite3.connect(target, isolation_level=None)
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute(f"PRAGMA page_size = {size}")
        conn.execute("VACUUM")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.close()
        made[size] = target
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6, help="timed calls per query and page size")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="page-reads-"))
    ledgers: dict[int, tuple[Any, Any]] = {}
    for size, db in copies(folder).items():
        settings = load_settings(
            {"COST_MCP_DB": str(db), "CLAUDE_CONFIG_DIR": str(folder / "claude"), "COST_MCP_TIMEZONE": "UTC"},
            env_file=Path("/nonexistent"),
        )
        ledgers[size] = (settings, connect(settings.db))
    times: dict[int, dict[tuple[str, str, tuple[str, ...]], list[float]]] = {s: {} for s in SIZES}
    for tz in b.TIMEZONES:
        for period in b.PERIODS:
            for group_by in b.GROUPS:
                for turn in range(args.rounds):
                    for size in SIZES if turn % 2 == 0 else SIZES[::-1]:
                        settings, conn = ledgers[size]
                        p = spend.resolve(settings, period, None, None, tz, now=b.NOW)
                        spend.get_spend(conn, settings, p, group_by)  # warm, as a server's second question
                        start = time.perf_counter()
                        spend.get_spend(conn, settings, p, group_by)
                        key = (tz, period, tuple(group_by))
                        times[size].setdefault(key, []).append((time.perf_counter() - start) * 1000)
    for key in times[SIZES[0]]:
        print(key, " ".join(f"{median(times[s][key]):.1f}" for s in SIZES))
    for size in SIZES:
        medians = [median(v) for v in times[size].values()]
        slowest, total = max(medians), sum(medians)
        print(f"{size // 1024} KiB: slowest median {slowest:.1f} ms, sum of {len(medians)}: {total:.1f} ms")
    shutil.rmtree(folder)


if __name__ == "__main__":
    main()
