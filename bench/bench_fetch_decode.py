"""Provider answers decoded into msgspec structs and turned into ledger buckets (issue 19).

Run:  python bench/bench_fetch_decode.py [--days 31] [--results 100] [--runs 5]

Builds one OpenAI completions usage page and one Anthropic cost report page of ``--days`` day buckets
with ``--results`` results each (far more combinations of model, project and key than most
organisations have), decoded exactly as ``get_json`` hands them over (numbers as Decimal). Reports,
per page, the CPU time of decoding alone and of decoding plus building the buckets (the OpenAI ones
priced with genai-prices): the best and median of ``--runs``, in this process's CPU time because the
machine is shared.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from cost_mcp.pricing import Pricer
from cost_mcp.sources import anthropic, openai

DAY = 86_400


def openai_page(days: int, results: int) -> dict[str, Any]:
    """A completions usage page as the client decodes it."""
    result = {
        "object": "organization.usage.completions.result",
        "input_tokens": 120_000,
        "output_tokens": 4_000,
        "input_cached_tokens": 80_000,
        "num_model_requests": 12,
        "model": "gpt-4o-2024-08-06",
    }
    data = [
        {
            "object": "bucket",
            "start_time": 1_793_491_200 + d * DAY,
            "end_time": 1_793_491_200 + (d + 1) * DAY,
            "results": [
                {**result, "project_id": f"proj_{i % 7}", "api_key_id": f"key_{i}"} for i in range(results)
            ],
        }
        for d in range(days)
    ]
    return exact({"object": "page", "data": data, "has_more": False, "next_page": None})


def anthropic_page(days: int, results: int) -> dict[str, Any]:
    """A cost report page (amounts in cents, as decimal strings) as the client decodes it."""
    data = [
        {
            "starting_at": f"{date(2026, 10, 1) + timedelta(days=d)}T00:00:00Z",
            "results": [
                {"currency": "USD", "amount": "123.4567", "workspace_id": f"wrk_{i}", "description": "Claude"}
                for i in range(results)
            ],
        }
        for d in range(days)
    ]
    return exact({"data": data, "has_more": False, "next_page": None})


def exact(payload: dict[str, Any]) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(json.dumps(payload), parse_float=Decimal)
    return decoded


def measure(work: Callable[[], object], runs: int) -> tuple[float, float]:
    """Best and median CPU seconds of ``runs`` calls."""
    times = []
    for _ in range(runs):
        start = time.process_time()
        work()
        times.append(time.process_time() - start)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=31)
    parser.add_argument("--results", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    pricer = Pricer()
    o_page, a_page = openai_page(args.days, args.results), anthropic_page(args.days, args.results)
    rows = args.days * args.results

    def o_decode() -> list[tuple[int, list[openai.Result]]]:
        return list(openai.day_buckets(o_page, "/v1/organization/usage/completions"))

    def o_buckets() -> object:
        return [openai.completions_bucket(r, d, pricer) for d, rs in o_decode() for r in rs]

    def a_decode() -> list[tuple[int, list[anthropic.CostResult]]]:
        return list(anthropic.day_buckets(a_page, anthropic.COST_PATH, anthropic.CostResult))

    def a_buckets() -> object:
        return [anthropic.cost_bucket(r, d) for d, rs in a_decode() for r in rs]

    o_buckets()  # warm the pricer's caches
    print(f"{rows:,} results a page, best / median of {args.runs} runs, CPU ms")
    for name, work in (
        ("OpenAI completions: decode", o_decode),
        ("OpenAI completions: decode + price + buckets", o_buckets),
        ("Anthropic cost report: decode", a_decode),
        ("Anthropic cost report: decode + buckets", a_buckets),
    ):
        best, median = measure(work, args.runs)
        print(f"{name:<48} {best * 1000:8.1f} {median * 1000:8.1f}   {best / rows * 1e6:6.1f} µs/result")


if __name__ == "__main__":
    main()
