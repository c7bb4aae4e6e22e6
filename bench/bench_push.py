"""A laptop's side of `cost-mcp push` on a large ledger (issue 14): the first push of everything, then
the push the local server makes every minute when nothing is new, then a push after ``--changed``
old rows grew (a log line re-read with more tokens) and as many new rows were added.

Copies ``--ledger`` (default: the shared 1M-event ledger, bench/data/spend-1m/cost.db) to a temporary
folder and pushes it to a sender that only counts what it gets, so the figures are the laptop's work:
finding unacknowledged rows, encoding, gzip, recording acks.

    python bench/bench_push.py --ledger bench/data/spend-1m/cost.db
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import save, table
from cost_mcp import push
from cost_mcp.config import Settings
from cost_mcp.store import connect, write_transaction
from cost_mcp.store.connection import Conn


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ledger", type=Path, default=Path("bench/data/spend-1m/cost.db"))
    ap.add_argument("--changed", type=int, default=1000, help="old rows to grow, and new rows to add")
    args = ap.parse_args()
    sent = {"bytes": 0, "rows": 0}

    def sender(_url: str, _token: str, body: bytes) -> push.PushAnswer:
        sent["bytes"] += len(body)
        rows = len(push.decode(body, "application/json", "gzip")) if count_rows else 0
        sent["rows"] += rows
        return push.PushAnswer(accepted=rows, changed=0)

    def timed(conn: Conn, settings: Settings) -> tuple[push.PushStats, float, float, int]:
        """(stats, wall s, CPU s, gzip bytes) of one push."""
        sent["bytes"] = 0
        wall, cpu = time.perf_counter(), time.process_time()
        stats = push.push(conn, settings, send=sender)
        return stats, time.perf_counter() - wall, time.process_time() - cpu, sent["bytes"]

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "cost.db"
        shutil.copy(args.ledger, db)
        settings = Settings(db=db, team_server="http://team.invalid", team_token="cmt_bench")
        conn = connect(db)
        count_rows = False  # the first push's figure is the laptop's work, not the decoding here
        first, first_s, first_cpu, first_bytes = timed(conn, settings)
        again, again_s, again_cpu, _ = timed(conn, settings)
        _change(conn, args.changed)
        count_rows = True
        after, after_s, after_cpu, after_bytes = timed(conn, settings)
        conn.close()
    result = {
        "batches": first.batches,
        "first_push_s": round(first_s, 2),
        "first_push_cpu_s": round(first_cpu, 2),
        "gzip_mb": round(first_bytes / 1e6, 1),
        "nothing_new_ms": round(again_s * 1000, 2),
        "nothing_new_cpu_ms": round(again_cpu * 1000, 2),
        "nothing_new_batches": again.batches,
        "changed": args.changed,
        "after_changes_rows_sent": after.sent,
        "after_changes_ms": round(after_s * 1000, 1),
        "after_changes_cpu_ms": round(after_cpu * 1000, 1),
        "after_changes_gzip_kb": round(after_bytes / 1e3, 1),
    }
    print(
        table(
            ["push", "batches", "rows sent", "wall", "CPU", "gzip"],
            [
                [
                    "first (everything)",
                    first.batches,
                    "all",
                    f"{first_s:.2f} s",
                    f"{first_cpu:.2f} s",
                    f"{first_bytes / 1e6:.1f} MB",
                ],
                [
                    "nothing new",
                    again.batches,
                    again.sent,
                    f"{again_s * 1000:.2f} ms",
                    f"{again_cpu * 1000:.2f} ms",
                    "-",
                ],
                [
                    f"{args.changed} grown + {args.changed} new",
                    after.batches,
                    after.sent,
                    f"{after_s * 1000:.1f} ms",
                    f"{after_cpu * 1000:.1f} ms",
                    f"{after_bytes / 1e3:.1f} kB",
                ],
            ],
        )
    )
    save("push", result)


def _change(conn: Conn, n: int) -> None:
    """Grow ``n`` old counted rows spread over the ledger, and add ``n`` new ones, as an ingest would."""
    if n <= 0:
        return
    top = conn.execute("SELECT MAX(id) FROM usage_events").fetchone()[0]
    step = max(1, top // (3 * n))  # about 40% of rows are counted log rows: enough candidates
    with write_transaction(conn):
        conn.execute(
            "UPDATE usage_events SET output_tokens = output_tokens + 1, total_tokens = total_tokens + 1 "
            "WHERE id IN (SELECT id FROM usage_events WHERE counted = 1 AND source = 'claude_code' "
            f"AND id % {step} = 0 LIMIT ?)",
            (n,),
        )
        conn.execute(
            "INSERT INTO usage_events "
            "(source, message_id, ts_ms, provider, model, output_tokens, total_tokens) "
            "SELECT 'record_usage', 'bench-' || id, ts_ms, provider, model, 1, 1 FROM usage_events "
            "WHERE id > ? ORDER BY id LIMIT ?",
            (top - n, n),
        )


if __name__ == "__main__":
    main()
