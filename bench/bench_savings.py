#!/usr/bin/env python3
"""Benchmark savings_report and compare_periods over a week of recorded calls.

    python bench/bench_savings.py                    # 100,000 calls a week, 3 timed runs each
    python bench/bench_savings.py --calls 20000 --runs 5

A seeded ledger is written to a temporary folder: ``--calls`` counted usage events spread over one
week (and as many the week before, for compare_periods) across 3 providers, 7 models, 12 agents,
8 projects and sessions of 20-200 calls, with cache reads, 5-minute and 1-hour writes and night-time
agents mixed in. Both analyses read and reprice every call, so their time grows with the number of
calls in the period (not with the ledger). Wall and CPU time are both reported: on a shared machine
CPU time is the steadier figure. Raw numbers go to ``bench/out/savings.json``.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchlib import median, save, table
from cost_mcp.store.connection import Conn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

MODELS = [
    ("anthropic", "claude-opus-4-1"),
    ("anthropic", "claude-sonnet-4-5"),
    ("anthropic", "claude-haiku-4-5"),
    ("openai", "gpt-5"),
    ("openai", "gpt-5-mini"),
    ("google", "gemini-2.5-pro"),
    ("google", "gemini-2.5-flash"),
]
WEEK2 = datetime(2026, 11, 16, tzinfo=UTC)


def build(conn: Conn, calls: int, seed: int) -> None:
    from cost_mcp.pricing import Pricer, Tokens

    pricer = Pricer()
    rng = random.Random(seed)
    rows = []
    for week_start in (WEEK2 - timedelta(days=7), WEEK2):
        made = 0
        while made < calls:
            agent = f"agent{rng.randrange(12)}"
            provider, model = MODELS[rng.randrange(len(MODELS))]
            night = agent in ("agent0", "agent1")
            day = week_start + timedelta(days=rng.randrange(7))
            t = day + timedelta(
                hours=rng.randrange(0, 5) if night else rng.randrange(8, 19), minutes=rng.randrange(60)
            )
            session = "" if agent == "agent2" else f"s{rng.randrange(10**9)}"
            project = f"project{rng.randrange(8)}"
            for _ in range(min(rng.randint(20, 200), calls - made)):
                t += timedelta(seconds=rng.randint(5, 400))
                tokens = Tokens(
                    input=rng.choice((rng.randint(50, 5_000), rng.randint(10_000, 80_000))),
                    output=rng.randint(20, 4_000),
                    cache_read=rng.choice((0, rng.randint(1_000, 120_000))),
                    cache_write_5m=rng.choice((0, 0, rng.randint(500, 20_000))),
                    cache_write_1h=rng.choice((0, 0, 0, rng.randint(500, 20_000))),
                )
                ts_ms = int(t.timestamp() * 1000)
                priced = pricer.price(tokens, model, provider, t)
                cost = getattr(priced, "total_nanos", None)
                rows.append(
                    (
                        f"m{len(rows)}",
                        ts_ms,
                        provider,
                        model,
                        session,
                        project,
                        agent,
                        tokens.input,
                        tokens.output,
                        tokens.cache_read,
                        tokens.cache_write_5m,
                        tokens.cache_write_1h,
                        tokens.total,
                        cost,
                    )
                )
                made += 1
    with conn:
        conn.executemany(
            """
            INSERT INTO usage_events (source, message_id, ts_ms, provider, model, session_id, project, agent,
                input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens,
                total_tokens, cost_nanos)
            VALUES ('record_usage', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            rows,
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=100_000, help="calls per week")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=21)
    args = parser.parse_args()

    from cost_mcp.analytics import savings
    from cost_mcp.config import load_settings
    from cost_mcp.periods import days_period
    from cost_mcp.pricing import Pricer
    from cost_mcp.store import connect

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            {"COST_MCP_DB": f"{tmp}/cost.db", "COST_MCP_TIMEZONE": "UTC"}, Path(tmp) / "env"
        )
        conn = connect(settings.db)
        started = time.perf_counter()
        build(conn, args.calls, args.seed)
        built = time.perf_counter() - started
        tz = settings.tz
        after = days_period(WEEK2.date(), (WEEK2 + timedelta(days=6)).date(), tz=tz)
        before = days_period((WEEK2 - timedelta(days=7)).date(), (WEEK2 - timedelta(days=1)).date(), tz=tz)
        timings: dict[str, list[float]] = {"savings_report": [], "compare_periods": []}
        cpu: dict[str, list[float]] = {"savings_report": [], "compare_periods": []}
        for _ in range(args.runs):
            t0, c0 = time.perf_counter(), time.process_time()
            report = savings.savings_report(conn, settings, Pricer(), after)
            timings["savings_report"].append(time.perf_counter() - t0)
            cpu["savings_report"].append(time.process_time() - c0)
            t0, c0 = time.perf_counter(), time.process_time()
            savings.compare_periods(conn, settings, Pricer(), before, after)
            timings["compare_periods"].append(time.perf_counter() - t0)
            cpu["compare_periods"].append(time.process_time() - c0)
        conn.close()
    print(
        f"{args.calls:,} calls a week (two weeks built in {built:.1f} s); {report.calls:,} priced in the week"
    )
    print(
        table(
            ["query", "wall median s", "wall min s", "CPU median s", "runs"],
            [
                [name, f"{median(v):.2f}", f"{min(v):.2f}", f"{median(cpu[name]):.2f}", len(v)]
                for name, v in timings.items()
            ],
        )
    )
    save("savings", {"calls": args.calls, "runs": args.runs, "seconds": timings, "cpu_seconds": cpu})


if __name__ == "__main__":
    main()
