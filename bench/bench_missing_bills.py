#!/usr/bin/env python3
"""What saying which budgets lack a provider's bill costs: ``budgets.with_missing_bills``.

    PYTHONPATH=src python bench/bench_missing_bills.py --runs 20

Every budget_status, budget check and status line asks it. On a fresh ledger with OpenAI's and
Anthropic's keys set and neither synced (so each budget that counts them lacks a bill, the case
where it asks per budget), with 1, 5 and 20 budgets (a month's over every provider, a month's of
OpenAI, a day's of OpenAI, a month's of Anthropic, a month's of an agent, in turn): median and p95
of ``--runs`` calls after one warm-up. Run it against another tree's ``src`` (``PYTHONPATH``) for a
baseline, in alternating pairs. Raw numbers go to ``bench/out/missing_bills.json``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from bench_spend import p95, timed
from benchlib import median, save, table

NOW = datetime(2026, 11, 18, 15, tzinfo=UTC)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args(argv)

    from cost_mcp.analytics import budgets
    from cost_mcp.config import load_settings
    from cost_mcp.models import BudgetScope
    from cost_mcp.store import connect

    kinds = [
        ("month", BudgetScope()),
        ("month", BudgetScope(providers=["openai"])),
        ("day", BudgetScope(providers=["openai"])),
        ("month", BudgetScope(providers=["anthropic"])),
        ("month", BudgetScope(agents=["bot"])),
    ]
    rows = []
    raw: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as work:
        settings = load_settings(
            {
                "COST_MCP_DB": str(Path(work) / "cost.db"),
                "CLAUDE_CONFIG_DIR": work,
                "COST_MCP_TIMEZONE": "UTC",
                "OPENAI_ADMIN_KEY": "sk-admin-" + "a" * 40,
                "ANTHROPIC_ADMIN_KEY": "sk-ant-admin01-" + "a" * 40,
            },
            env_file=Path("/nonexistent"),
        )
        conn = connect(settings.db)
        made = 0
        for count in (1, 5, 20):
            while made < count:
                period, scope = kinds[made % len(kinds)]
                budgets.set_budget(conn, f"b{made}", Decimal(100), period, scope)  # type: ignore[arg-type]
                made += 1
            every = budgets.list_budgets(conn, settings)
            states = budgets.states_of(conn, settings, every, NOW)

            def ask(states: list[budgets.BudgetState] = states) -> object:
                return budgets.with_missing_bills(conn, settings, states, NOW)

            times, (_weighed, lines) = timed(ask, args.runs)
            assert lines, "a bill is missing: the budgets that count it are asked about"
            raw[str(count)] = times
            rows.append((count, f"{median(times):.1f}", f"{p95(times):.1f}"))
        conn.close()
    print(table(["budgets", "with_missing_bills median ms", "p95 ms"], rows))
    save("missing_bills", {"runs": args.runs, "ms": raw})
    return 0


if __name__ == "__main__":
    sys.exit(main())
