#!/usr/bin/env python3
"""How long `cost-mcp statusline` and `cost-mcp hook` take per call, beside `ccusage statusline`.

    python bench/bench_statusline.py              # 20 runs of each case (the default)
    python bench/bench_statusline.py --runs 50 --no-ccusage

Claude Code runs the status line after every assistant message and the hook before every prompt and
tool call, each as a fresh process. Every case spawns the real command (``python -m cost_mcp``, what
the ``cost-mcp`` script runs) with the status-line JSON on stdin, on a warm ledger of 1,000,000 events
(bench_spend.py's, built once and cached under ``bench/data/spend-1m/``) copied to a temp folder, plus
today's share of calls (11,111 events moved to today, so "today" and the active block have real rows),
the read states of 2,700 other transcripts (what a million calls come from) and this session's
transcript (200 calls):

- ``unchanged``: the transcript has no new line (one stat and an indexed lookup, no log reader);
- ``one new call``: one assistant line is appended before each run (what happens after a message:
  the new line is read and priced, which imports the pricer);
- ``hook``: UserPromptSubmit with two budgets set, one new call appended before each run;
- ``ccusage statusline`` (20.0.24, installed by bench_ccusage.py) on the 230 MB / 200k-line tree of
  bench_ingest.py, the same JSON on stdin: ccusage re-reads the logs on every call.

Also ``python -c pass`` (the interpreter's own start) as the floor. Median and p95 wall times;
raw numbers in ``bench/out/statusline.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchlib import BIG, ensure_tree, median, run_measured, save, table

BENCH = Path(__file__).resolve().parent
SESSION = "bench-statusline-session"
MODEL = "claude-sonnet-4-5-20250929"
OTHER_FILES = 2_700
"""Transcripts other than this session's that the ledger has read (~1M calls at 370 a file)."""


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def line(n: int, when: datetime) -> str:
    return json.dumps(
        {
            "type": "assistant",
            "sessionId": SESSION,
            "timestamp": when.isoformat().replace("+00:00", "Z"),
            "requestId": f"req_bench_{n}",
            "message": {
                "id": f"msg_bench_{n}",
                "model": MODEL,
                "usage": {
                    "input_tokens": 8,
                    "output_tokens": 700 + n % 300,
                    "cache_read_input_tokens": 40_000 + n * 10,
                    "cache_creation_input_tokens": 1200,
                },
            },
        }
    )


def prepare(work: Path, source_db: Path) -> tuple[Path, Path, dict[str, str]]:
    """A copy of the 1M-event ledger with today's share of calls, and a Claude folder with the session."""
    db = work / "cost.db"
    claude = work / "claude"
    shutil.copy(source_db, db)
    now = datetime.now(UTC)
    with closing(sqlite3.connect(db)) as conn:
        last = conn.execute("SELECT MAX(ts_ms) FROM usage_events").fetchone()[0]
        shift = int(now.timestamp() * 1000) - 3_600_000 - last
        conn.execute(
            """
            INSERT INTO usage_events (source, message_id, request_id, is_sidechain, counted, ts_ms, provider,
                model, session_id, project, agent, member, input_tokens, output_tokens, cache_read_tokens,
                cache_write_5m_tokens, cache_write_1h_tokens, web_search_requests, total_tokens, speed,
                cost_nanos, reported_cost_nanos, priced_model, origin)
            SELECT source, message_id || ':today', request_id, is_sidechain, counted, ts_ms + ?, provider,
                model, session_id, project, agent, member, input_tokens, output_tokens, cache_read_tokens,
                cache_write_5m_tokens, cache_write_1h_tokens, web_search_requests, total_tokens, speed,
                cost_nanos, reported_cost_nanos, priced_model, origin
            FROM usage_events WHERE counted = 1 ORDER BY ts_ms DESC LIMIT 11111
            """,
            (shift,),
        )
        conn.execute(
            "INSERT OR IGNORE INTO rollup_dirty "
            "SELECT DISTINCT ts_ms / 900000 FROM usage_events WHERE ts_ms > ?",
            (last,),
        )
        # The read states of the other transcripts a million calls come from (bench_ingest's
        # 200k-line tree is 553 files): a reader that loads every file's state pays for them.
        conn.executemany(
            'INSERT INTO scanned_files (path, device, inode, size, mtime_ns, "offset", scanned_at, '
            "check_hash, skipping, project, session_id) VALUES (?, 1, ?, 400000, 0, 400000, '', ?, 0, ?, ?)",
            (
                (
                    f"{claude}/projects/-home-dev-p{n % 40}/old-{n:05d}.jsonl",
                    n,
                    bytes(16),
                    f"p{n % 40}",
                    f"old-{n}",
                )
                for n in range(OTHER_FILES)
            ),
        )
        conn.commit()
    transcript = claude / "projects" / "-home-dev-app" / f"{SESSION}.jsonl"
    transcript.parent.mkdir(parents=True)
    start = now - timedelta(hours=2)
    transcript.write_text("".join(line(n, start + timedelta(seconds=30 * n)) + "\n" for n in range(200)))
    env = {
        "COST_MCP_DB": str(db),
        "CLAUDE_CONFIG_DIR": str(claude),
        "CODEX_HOME": str(work / "codex"),
        "GEMINI_DIR": str(work / "gemini"),
        "COST_MCP_ENV_FILE": str(work / "env"),
        "COST_MCP_PRICES_FILE": str(work / "prices.toml"),
        "COST_MCP_TIMEZONE": "UTC",
        "NO_COLOR": "1",
    }
    return db, transcript, env


def status_json(transcript: Path) -> str:
    reset = int(time.time()) + 7200
    return json.dumps(
        {
            "session_id": SESSION,
            "transcript_path": str(transcript),
            "cwd": "/home/dev/app",
            "model": {"id": MODEL, "display_name": "Sonnet 4.5"},
            "rate_limits": {
                "five_hour": {"used_percentage": 42, "resets_at": reset},
                "seven_day": {"used_percentage": 17, "resets_at": reset + 400_000},
            },
        }
    )


def add_budgets(db: Path, amount_nanos: int = 10**15) -> None:
    """Two hard budgets the hook checks: this project's day and everything's month, of
    ``amount_nanos`` each (the default leaves room: the hook answers from the rollup's glance; one
    nano is used up: it runs check_budget in full and blocks)."""
    for budget in ("app-day", "all-month"):
        period = "day" if budget == "app-day" else "month"
        scope = '{"projects": ["-home-dev-app"]}' if budget == "app-day" else "{}"
        with closing(sqlite3.connect(db)) as conn:
            conn.execute(
                "INSERT INTO budgets (name, amount_nanos, period, scope, thresholds, hard, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, '[\"0.8\"]', 1, '2026-01-01', '2026-01-01')",
                (budget, amount_nanos, period, scope),
            )
            conn.commit()


def hook_json(transcript: Path) -> str:
    """What Claude Code sends the UserPromptSubmit hook."""
    return json.dumps(
        {
            "session_id": SESSION,
            "transcript_path": str(transcript),
            "cwd": "/home/dev/app",
            "hook_event_name": "UserPromptSubmit",
            "prompt": "next",
        }
    )


def timed_runs(cmd: list[str], stdin: str, env: dict[str, str], runs: int, before: Any = None) -> list[float]:
    walls: list[float] = []
    stdin_file = Path(tempfile.mkstemp(suffix=".json")[1])
    stdin_file.write_text(stdin)
    for i in range(runs + 1):  # one warm-up
        if before is not None:
            before(i)
        m = run_measured(["sh", "-c", f'exec "$@" < "{stdin_file}"', "sh", *cmd], env=env)
        if m.returncode != 0:
            raise SystemExit(f"{cmd} failed ({m.returncode}): {m.stderr[-2000:]}")
        if i:
            walls.append(m.wall_s * 1000)
    stdin_file.unlink()
    return walls


PHASES = """
import json, sys, time
t0 = time.perf_counter()
from cost_mcp import statusline
from cost_mcp.store.connection import connect
try:
    from cost_mcp.core_settings import load_core_settings
except ImportError:  # a tree from before core_settings (to measure main side by side)
    from cost_mcp.config import load_settings_leniently
    load_core_settings = lambda: load_settings_leniently()[0]
t1 = time.perf_counter()
settings = load_core_settings()
reading = statusline.StatusInput.parse(sys.stdin.read())
conn = connect(settings.db)
t2 = time.perf_counter()
statusline.read_transcript(conn, settings, reading.transcript_path)
t3 = time.perf_counter()
statusline.record_rate_limits(conn, reading, statusline.datetime.now(statusline.UTC))
line = statusline.render(conn, settings, reading, colour=False)
t4 = time.perf_counter()
print(json.dumps({"imports": t1 - t0, "settings+connect": t2 - t1, "read transcript": t3 - t2,
                  "record+render": t4 - t3}))
"""


def phases(stdin: str, env: dict[str, str], runs: int, before: Any) -> dict[str, list[float]]:
    """Where one new-call status line spends its time, phase by phase, in fresh processes."""
    out: dict[str, list[float]] = {}
    stdin_file = Path(tempfile.mkstemp(suffix=".json")[1])
    stdin_file.write_text(stdin)
    for i in range(runs):
        before(i)
        m = run_measured(
            ["sh", "-c", f'exec "$@" < "{stdin_file}"', "sh", sys.executable, "-c", PHASES], env=env
        )
        for name, seconds in json.loads(m.stdout).items():
            out.setdefault(name, []).append(seconds * 1000)
    stdin_file.unlink()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--no-ccusage", action="store_true")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(BENCH))
    from bench_spend import LedgerSpec, ensure_ledger

    spec = LedgerSpec(seed=1)
    ensure_ledger(spec, rebuild=False)
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        _, transcript, env = prepare(work, spec.db)
        cost_mcp = [sys.executable, "-m", "cost_mcp"]
        stdin = status_json(transcript)
        results["python -c pass"] = timed_runs([sys.executable, "-c", "pass"], "", env, args.runs)
        pipe = f"echo '{stdin}' | \"$@\""
        first = run_measured(["sh", "-c", pipe, "sh", *cost_mcp, "statusline"], env=env)
        print(f"first call (reads the 200-call transcript): {first.wall_s * 1000:.0f} ms")
        print(f"  {first.stdout.strip()}")
        results["statusline, unchanged transcript"] = timed_runs(
            [*cost_mcp, "statusline"], stdin, env, args.runs
        )
        counter = [1000]

        def append(_: int) -> None:
            counter[0] += 1
            with transcript.open("a") as f:
                f.write(line(counter[0], datetime.now(UTC)) + "\n")

        results["statusline, one new call"] = timed_runs(
            [*cost_mcp, "statusline"], stdin, env, args.runs, append
        )
        for name, values in phases(stdin, env, args.runs, append).items():
            results[f"  one new call, phase: {name}"] = values
        add_budgets(work / "cost.db")
        hook_in = hook_json(transcript)
        results["hook UserPromptSubmit, one new call"] = timed_runs(
            [*cost_mcp, "hook"], hook_in, env, args.runs, append
        )
        if not args.no_ccusage:
            from bench_ccusage import LAUNCHER, install

            install()
            ensure_tree(BIG)
            tree_file = next((BIG.path).rglob("*.jsonl"))
            cc_in = json.dumps(
                {
                    "session_id": tree_file.stem,
                    "transcript_path": str(tree_file),
                    "cwd": "/home/dev/app",
                    "model": {"id": MODEL, "display_name": "Sonnet 4.5"},
                    "workspace": {"current_dir": "/home/dev/app", "project_dir": "/home/dev/app"},
                    "version": "2.1.0",
                    "cost": {"total_cost_usd": 1.0, "total_duration_ms": 1000},
                }
            )
            cc_env = {"CLAUDE_CONFIG_DIR": str(BIG.path), "NO_COLOR": "1"}
            runs = max(3, args.runs // 4)
            results["ccusage statusline (230 MB tree)"] = timed_runs(
                [str(LAUNCHER), "statusline", "--offline"], cc_in, cc_env, runs
            )
    rows = [[name, len(v), f"{median(v):.0f}", f"{p95(v):.0f}"] for name, v in results.items()]
    print(table(["case", "runs", "median ms", "p95 ms"], rows))
    save("statusline", {"runs": results, "load": os.getloadavg()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
