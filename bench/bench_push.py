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
    sent_bytes = 0

    def sender(_url: str, _token: str, body: bytes) -> push.PushAnswer:
        nonlocal sent_bytes
        sent_bytes += len(body)
        return push.PushAnswer(accepted=0, changed=0)

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "cost.db"
        shutil.copy(args.ledger, db)
        settings = Settings(db=db, team_server="http://team.invalid", team_token="cmt_bench")
        conn = connect(db)
        t = time.perf_counter()
        first = push.push(conn, settings, send=sender)
        first_s = time.perf_counter() - t
        t = time.perf_counter()
        again = push.push(conn, settings, send=sender)
        again_s = time.perf_counter() - t
        _change(conn, args.changed)
        sent_bytes = 0
        t = time.perf_counter()
        after = push.push(conn, settings, send=sender)
        after_s = time.perf_counter() - t
        conn.close()
    result = {
        "rows": first.sent if first.sent else first.batches * push.BATCH_ROWS,
        "batches": first.batches,
        "first_push_s": round(first_s, 2),
        "gzip_mb": round(sent_bytes / 1e6, 1),
        "nothing_new_s": round(again_s, 3),
        "nothing_new_batches": again.batches,
        "changed": args.changed,
        "after_changes_s": round(after_s, 3),
        "after_changes_batches": after.batches,
        "after_changes_gzip_kb": round(sent_bytes / 1e3, 1),
    }
    print(
        table(
            [
                "batches",
                "first push s",
                "gzip MB",
                "push with nothing new s",
                f"push after {args.changed} + {args.changed} s",
            ],
            [[first.batches, f"{first_s:.2f}", result["gzip_mb"], f"{again_s:.3f}", f"{after_s:.3f}"]],
        )
    )
    save("push", result)


def _change(conn: Conn, n: int) -> None:
    """Grow ``n`` old counted rows spread over the ledger, and add ``n`` new ones, as an ingest would."""
    if n <= 0:
        return
    top = conn.execute("SELECT MAX(id) FROM usage_events").fetchone()[0]
    step = max(1, top // n)
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
