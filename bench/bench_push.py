"""A laptop's side of `cost-mcp push` on a large ledger (issue 14): the first push of everything, then
the push the local server makes every minute when nothing is new, then a push after ``--changed``
old rows grew (a log line re-read with more tokens) and as many new rows were added.

Copies ``--ledger`` (default: the shared 1M-event ledger, bench/data/spend-1m/cost.db) to a temporary
folder and pushes it to a sender that only counts what it gets, so the figures are the laptop's work:
finding unacknowledged rows, encoding, gzip, recording acks.

    python bench/bench_push.py --ledger bench/data/spend-1m/cost.db

``--team-server sqlite|postgresql`` measures the whole path instead (QA F7): a laptop folder with
``--rows`` new Claude Code log lines in one session, and ``cost-mcp push`` run against a real
``cost-mcp serve --http`` on a fresh ledger (PostgreSQL: a throwaway cluster, tests/pg_cluster.py,
fsync off as in the tests). Gives the push's wall time and the laptop's CPU; ``--otel-copy`` first
has another member send one OpenTelemetry event to the server, as a team whose members also export
OTel has (it turns on the merge's check for another member's OTel copy of each pushed call).

    python bench/bench_push.py --team-server postgresql --rows 12000 [--otel-copy]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import http_server, save, server_env, table
from cost_mcp import push
from cost_mcp.config import Settings
from cost_mcp.store import connect, write_transaction
from cost_mcp.store import team as team_store
from cost_mcp.store.connection import Conn


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ledger", type=Path, default=Path("bench/data/spend-1m/cost.db"))
    ap.add_argument("--changed", type=int, default=1000, help="old rows to grow, and new rows to add")
    ap.add_argument(
        "--team-server",
        choices=["sqlite", "postgresql"],
        help="push --rows new log lines with `cost-mcp push` to a real `serve --http` on this ledger",
    )
    ap.add_argument("--rows", type=int, default=12_000, help="with --team-server: new log lines to push")
    ap.add_argument(
        "--otel-copy", action="store_true", help="with --team-server: the server holds one OTel copy first"
    )
    args = ap.parse_args()
    if args.team_server:
        team_push(args.team_server, args.rows, args.otel_copy)
        return
    sent = {"bytes": 0, "rows": 0}

    def sender(_url: str, _token: str, body: bytes) -> push.PushAnswer:
        sent["bytes"] += len(body)
        rows = len(push.decode(body, "application/json", "gzip").rows) if count_rows else 0
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


def team_push(engine: str, n: int, otel_copy: bool) -> None:
    """One laptop's ``cost-mcp push`` of ``n`` new log lines to a real team server (QA F7)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.sources.claude_logs import assistant, session_file, write

    cluster = None
    if engine == "postgresql":
        from tests.pg_cluster import Cluster

        cluster = Cluster()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            db: Path | str = cluster.url(cluster.new_database()) if cluster else Path(tmp) / "server.db"
            conn = connect(db)
            token = team_store.create_token(conn, "bob-laptop", "bob@example.com")
            fay = team_store.create_token(conn, "fay-otel", "fay@example.com")
            conn.close()
            with http_server(server_env(tmp, db, COST_MCP_TIMEZONE="UTC")) as server:
                base = server.base
                if otel_copy:
                    _send_otel_event(base, fay)
                laptop = Path(tmp) / "laptop"
                lines = [
                    assistant(
                        f"msg_big{i}",
                        f"req_big{i}",
                        f"2026-11-20T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}.000Z",
                        session="s-big",
                        model="claude-haiku-4-5-20251001",
                        input=1000,
                        output=100,
                    )
                    for i in range(n)
                ]
                write(session_file(laptop / "claude", "s-big"), *lines)
                (laptop / "env").touch()
                env = dict(
                    os.environ,
                    HOME=str(laptop),
                    COST_MCP_DB=str(laptop / "cost.db"),
                    COST_MCP_ENV_FILE=str(laptop / "env"),
                    COST_MCP_PRICES_FILE=str(laptop / "prices.toml"),
                    COST_MCP_TIMEZONE="UTC",
                    CLAUDE_CONFIG_DIR=str(laptop / "claude"),
                    COST_MCP_TEAM_SERVER=base,
                    COST_MCP_TEAM_TOKEN=token,
                )
                before = os.times()
                wall = time.perf_counter()
                done = subprocess.run(
                    [sys.executable, "-m", "cost_mcp", "push"],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                wall = time.perf_counter() - wall
                after = os.times()
                if done.returncode:
                    raise SystemExit(f"push failed: {done.stderr}")
    finally:
        if cluster is not None:
            cluster.stop()
    cpu = (after.children_user + after.children_system) - (before.children_user + before.children_system)
    print(
        table(
            ["server ledger", "OTel copy", "rows", "push wall", "laptop CPU", "push said"],
            [
                [
                    engine,
                    "yes" if otel_copy else "no",
                    f"{n:,}",
                    f"{wall:.2f} s",
                    f"{cpu:.2f} s",
                    done.stderr.strip(),
                ]
            ],
        )
    )
    save(
        f"push-team-{engine}{'-otel' if otel_copy else ''}",
        {"rows": n, "otel_copy": otel_copy, "wall_s": round(wall, 2), "laptop_cpu_s": round(cpu, 2)},
    )


def _send_otel_event(base: str, token: str) -> None:
    """One Claude Code ``api_request`` event over OTLP/HTTP JSON, as another member's exporter sends it."""
    import httpx2

    attrs = {
        "event.name": "api_request",
        "event.timestamp": "2026-11-20T09:00:00.000Z",
        "session.id": "s-fay",
        "model": "claude-sonnet-4-5-20250929",
        "input_tokens": 100,
        "output_tokens": 10,
        "request_id": "req_fay1",
    }
    body = {
        "resourceLogs": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "claude-code"}}]
                },
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": "1763629200000000000",
                                "attributes": [
                                    {
                                        "key": k,
                                        "value": {"intValue": str(v)}
                                        if isinstance(v, int)
                                        else {"stringValue": v},
                                    }
                                    for k, v in attrs.items()
                                ],
                            }
                        ]
                    }
                ],
            }
        ]
    }
    answer = httpx2.post(
        f"{base}/v1/logs", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    answer.raise_for_status()


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
