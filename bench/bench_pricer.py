"""Pricer calls per second on the shapes log ingest prices (the hot path of a cold ingest).

Run:  python bench/bench_pricer.py [--calls 200000] [--runs 5]

Each call prices one logged request as ``sources/claude_code._row`` does: a model from a small mix,
its own timestamp, and the usage fields Claude Code writes (``speed`` and ``service_tier`` as
"standard", a fast-mode share, a US-only share). Reports the best and median of ``--runs``, per
second of this process's CPU time: the machine is shared, and wall time would measure the others.
"""

from __future__ import annotations

import argparse
import inspect
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from cost_mcp.pricing import Pricer, Tokens

MODELS = (
    "claude-sonnet-4-5-20250929",
    "claude-opus-4-6",
    "claude-haiku-4-5-20251001",
    "claude-sonnet-4-20250514",
)


def workload(n: int) -> list[tuple[Tokens, str, datetime, dict[str, str]]]:
    """``n`` calls: 90% standard, 5% fast mode on Opus 4.6, 5% US-only inference."""
    rng = random.Random(7)
    start = datetime(2026, 2, 1, tzinfo=UTC)
    calls = []
    for _ in range(n):
        model = rng.choice(MODELS)
        tokens = Tokens(
            input=rng.randint(1, 50),
            output=rng.randint(1, 4000),
            cache_read=rng.randint(0, 250_000),
            cache_write_5m=rng.randint(0, 20_000),
        )
        mods = {"speed": "standard", "service_tier": "standard"}
        roll = rng.random()
        if roll < 0.05 and model == "claude-opus-4-6":
            mods["speed"] = "fast"
        elif roll > 0.95:
            mods["inference_geo"] = "us"
        calls.append((tokens, model, start + timedelta(seconds=rng.randint(0, 40 * 86400)), mods))
    return calls


def main() -> None:
    """Measure and print calls per second."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    accepted = set(inspect.signature(Pricer.price).parameters)
    calls = [
        (t, m, at, {k: v for k, v in mods.items() if k in accepted})
        for t, m, at, mods in workload(args.calls)
    ]
    rates = []
    for _ in range(args.runs):
        pricer = Pricer()
        began = time.process_time()
        for tokens, model, at, mods in calls:
            pricer.price(tokens, model, "anthropic", at, **mods)
        rates.append(len(calls) / (time.process_time() - began))
    best, median = max(rates), statistics.median(rates)
    print(f"{len(calls):,} calls x {args.runs} runs: best {best:,.0f}, median {median:,.0f} per CPU second")


if __name__ == "__main__":
    main()
