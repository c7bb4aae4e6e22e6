#!/usr/bin/env python3
"""What evaluating budgets on every query costs: ``evaluate_alerts`` over the 1M-event ledger.

    python bench/bench_budget_alerts.py              # build (or reuse) bench/data/spend-1m/, then measure
    python bench/bench_budget_alerts.py --runs 20

Every query's refresh now evaluates every budget (so one already over its limit fires without new
usage): one read of the ledger for every budget's current period and scope (``spend_totals``). Measured on a
copy of bench_spend's ledger at its fixed "now" (the last day of its data) with 0, 1, 5 and 20 month
budgets (two in three scoped to an agent or a model), all far below their limit so nothing fires (the
steady state), median and p95 of ``--runs`` calls after one warm-up. That is the cost after the
ledger changed; ``fire_alerts`` (what every refresh calls) skips it when nothing changed since the
connection last evaluated, which is measured too. Raw numbers go to ``bench/out/budget_alerts.json``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

from bench_spend import NOW, LedgerSpec, ensure_ledger, p95, timed
from benchlib import median, save, table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    spec = LedgerSpec(seed=args.seed)
    ensure_ledger(spec, rebuild=False)

    from cost_mcp.analytics import alerts, budgets
    from cost_mcp.config import load_settings
    from cost_mcp.models import BudgetScope
    from cost_mcp.store import connect

    rows = []
    raw: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as work:
        db = Path(work) / "cost.db"
        shutil.copy(spec.db, db)
        settings = load_settings(
            {"COST_MCP_DB": str(db), "CLAUDE_CONFIG_DIR": work, "COST_MCP_TIMEZONE": "UTC"},
            env_file=Path("/nonexistent"),
        )
        conn = connect(db)
        made = 0
        for count in (0, 1, 5, 20):
            while made < count:
                scope = [BudgetScope(), BudgetScope(agents=["support-bot"]), BudgetScope(models=["gpt-5"])][
                    made % 3
                ]
                budgets.set_budget(conn, f"b{made}", Decimal(10**8), "month", scope)
                made += 1
            times, fired = timed(lambda: alerts.evaluate_alerts(conn, settings, now=NOW), args.runs)
            assert fired == [], "the budgets are far below their limits"
            warm, _ = timed(lambda: alerts.fire_alerts(conn, settings), args.runs)
            raw[str(count)] = times
            raw[f"{count} warm"] = warm
            rows.append((count, f"{median(times):.1f}", f"{p95(times):.1f}", f"{median(warm):.2f}"))
        conn.close()
    print(
        table(
            ["budgets", "evaluate_alerts median ms", "p95 ms", "fire_alerts, nothing changed, median ms"],
            rows,
        )
    )
    save("budget_alerts", {"runs": args.runs, "ms": raw})
    return 0


if __name__ == "__main__":
    sys.exit(main())
