#!/usr/bin/env python3
"""Measure the dashboard's first render on the 1M-event ledger of bench_spend.py, in headless Chromium.

    python bench/bench_dashboard.py                   # build (or reuse) bench/data/spend-1m/, then measure
    python bench/bench_dashboard.py --runs 7
    python bench/bench_dashboard.py --demo-screenshot docs/dashboard.png   # README's picture, then stop

Two figures, each the median of ``--runs`` after one warm-up:
- in process: ``dashboard.build_dashboard`` (every get_spend, budget_status, spend_forecast and
  cost_by_hour the page shows) for ``this_month`` and ``last_30_days`` at the ledger's "now"
  (2026-11-20T22:30Z, as bench_spend.py), Europe/Paris;
- in Chromium: the dashboard served by uvicorn on 127.0.0.1 (the app `cost-mcp dashboard` runs, with its
  one-time token and the log refresh before answering) on a copy of the ledger with two budgets;
  navigation start to the page drawn (``body[data-ready]``), for the last 30 days of data
  (``start=2026-10-22&end=2026-11-20``: the server's clock is the real one, after the data ends).
Raw numbers go to ``bench/out/dashboard.json``.

``--demo-screenshot`` instead fills a fresh ledger with a month of seeded demo spend ending now (the 1M
ledger ends in the past, so its today / this week cards would be empty) and saves the top of the page.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench_spend import NOW, LedgerSpec, ensure_ledger
from benchlib import median, save
from cost_mcp.store.connection import Conn

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TARGET_MS = 1000.0
QUERY = "start=2026-10-22&end=2026-11-20&timezone=Europe/Paris"


def in_process(db: Path, claude_dir: Path, runs: int) -> dict[str, dict[str, list[float]]]:
    from cost_mcp.analytics.dashboard import BREAKDOWN_DIMS, build_dashboard
    from cost_mcp.config import load_settings
    from cost_mcp.store import connect

    settings = load_settings(
        {"COST_MCP_DB": str(db), "CLAUDE_CONFIG_DIR": str(claude_dir), "COST_MCP_TIMEZONE": "Europe/Paris"},
        env_file=Path("/nonexistent"),
    )
    conn = connect(settings.db)
    out: dict[str, dict[str, list[float]]] = {}
    try:
        for period in ("this_month", "last_30_days"):
            for label, parts in (("first drawing", ("model",)), ("every breakdown", BREAKDOWN_DIMS)):
                build_dashboard(conn, settings, period, now=NOW, breakdowns=parts)
                wall, cpu = [], []
                for _ in range(runs):
                    t0, c0 = time.perf_counter(), time.process_time()
                    build_dashboard(conn, settings, period, now=NOW, breakdowns=parts)
                    wall.append((time.perf_counter() - t0) * 1000)
                    cpu.append((time.process_time() - c0) * 1000)
                out[f"{period}, {label}"] = {"wall_ms": wall, "cpu_ms": cpu}
    finally:
        conn.close()
    return out


def in_browser(db: Path, claude_dir: Path, runs: int) -> dict[str, Any]:
    import uvicorn
    from playwright.sync_api import sync_playwright

    from cost_mcp.analytics import budgets
    from cost_mcp.config import load_settings
    from cost_mcp.models import BudgetScope
    from cost_mcp.pricing import Pricer
    from cost_mcp.store import Ledger, connect
    from cost_mcp.web.app import create_app, listening_socket

    settings = load_settings(
        {"COST_MCP_DB": str(db), "CLAUDE_CONFIG_DIR": str(claude_dir), "COST_MCP_TIMEZONE": "Europe/Paris"},
        env_file=Path("/nonexistent"),
    )
    conn = connect(db)
    try:
        budgets.set_budget(conn, "team-monthly", Decimal(15_000), "month", BudgetScope())
        budgets.set_budget(conn, "agents-daily", Decimal(400), "day", BudgetScope(agents=["eval-runner"]))
    finally:
        conn.close()
    ledger = Ledger(db)
    token = secrets.token_urlsafe(16)
    app = create_app(ledger, settings, Pricer(), token=token, allowed_hosts=["127.0.0.1"])
    sock = listening_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    result: dict[str, Any] = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1200, "height": 900})
            page = context.new_page()
            sizes: dict[str, int] = {}
            page.on(
                "response",
                lambda r: sizes.__setitem__(r.url.split("?")[0], len(r.body())) if r.status == 200 else None,
            )
            page.goto(f"{base}/?token={token}&{QUERY}")  # exchanges the token: the warm-up
            page.wait_for_selector("body[data-ready]")
            page.wait_for_selector("body[data-complete]", state="attached")
            wall, in_page, complete = [], [], []
            for _ in range(runs):
                t0 = time.perf_counter()
                page.goto(f"{base}/?{QUERY}")
                page.wait_for_selector("body[data-ready]")
                wall.append((time.perf_counter() - t0) * 1000)
                in_page.append(float(page.evaluate("performance.now()")))
                page.wait_for_selector("body[data-complete]", state="attached")
                complete.append(float(page.evaluate("performance.now()")))
            result = {
                "wall_ms": wall,
                "since_navigation_start_ms": in_page,
                "all_breakdowns_ms": complete,
                "bytes": sizes,
                "total": page.locator("#period-total").inner_text(),
            }
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        ledger.close()
    return result


def demo_screenshot(path: Path) -> None:
    """README's picture: a month of seeded spend ending now, billed days, two budgets."""
    import random
    import uuid
    from datetime import UTC, datetime, timedelta

    from cost_mcp.analytics import budgets
    from cost_mcp.config import load_settings
    from cost_mcp.models import BudgetScope
    from cost_mcp.pricing import Pricer, Tokens
    from cost_mcp.sources.reported import record_call
    from cost_mcp.store import Ledger, buckets, connect, write_transaction
    from cost_mcp.web.app import create_app

    rng = random.Random(7)
    work = Path(tempfile.mkdtemp(prefix="demo-dashboard-"))
    try:
        (work / "claude").mkdir()
        settings = load_settings(
            {
                "COST_MCP_DB": str(work / "cost.db"),
                "CLAUDE_CONFIG_DIR": str(work / "claude"),
                "COST_MCP_TIMEZONE": "UTC",
            },
            env_file=Path("/nonexistent"),
        )
        conn: Conn = connect(settings.db)
        now = datetime.now(UTC).replace(microsecond=0)
        pricer = Pricer()
        agents = [
            ("researcher", "anthropic", "claude-sonnet-4-5", "search"),
            ("code-reviewer", "anthropic", "claude-haiku-4-5", "checkout-api"),
            ("support-bot", "openai", "gpt-5-mini", "support"),
            ("triage", "openai", "gpt-4.1", "support"),
            ("doc-writer", "openai", "gpt-5", "docs-site"),
        ]
        for day in range(30, -1, -1):
            for _ in range(rng.randint(20, 45) if day % 7 not in (5, 6) else 6):
                agent, provider, model, project = rng.choice(agents)
                when = now - timedelta(days=day, hours=rng.gauss(6, 3) % 12, minutes=rng.randint(0, 59))
                if when > now:
                    continue
                record_call(
                    conn,
                    pricer,
                    provider=provider,
                    model=model,
                    tokens=Tokens(
                        input=rng.randint(2_000, 60_000),
                        output=rng.randint(200, 6_000),
                        cache_read=rng.randint(0, 200_000),
                    ),
                    agent=agent,
                    project=project,
                    session=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    timestamp=when,
                    now=now,
                )
        # Anthropic's billed cost for the days before yesterday, a little above the local estimate.
        day_ms = 86_400_000
        today_ms = int(now.timestamp() * 1000) // day_ms * day_ms
        with write_transaction(conn):
            for d in range(2, 31):
                start = today_ms - d * day_ms
                cost = int(rng.uniform(8, 16) * 1e9)
                buckets.replace_range(
                    conn,
                    "anthropic",
                    "cost",
                    start,
                    start + day_ms,
                    [buckets.Bucket(start, start + day_ms, cost_nanos=cost, model="claude-sonnet-4-5")],
                )
            conn.execute(
                "INSERT OR REPLACE INTO source_state (source, last_attempt, last_success) VALUES (?, ?, ?)",
                ("anthropic", now.isoformat(), now.isoformat()),
            )
        budgets.set_budget(conn, "team-monthly", Decimal(600), "month", BudgetScope())
        budgets.set_budget(conn, "agents-daily", Decimal(20), "day", BudgetScope(agents=["researcher"]))
        conn.close()
        ledger = Ledger(settings.db)
        app = create_app(ledger, settings, pricer, token=None)
        from playwright.sync_api import sync_playwright

        for base in _serve_in_thread(app):
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1200, "height": 1180})
                page.goto(f"{base}/?period=last_30_days")
                page.wait_for_selector("body[data-ready]")
                path.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(path))
                browser.close()
        ledger.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _serve_in_thread(app: Any) -> Any:
    import uvicorn

    from cost_mcp.web.app import listening_socket

    sock = listening_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--rebuild", action="store_true", help="rebuild the cached ledger")
    ap.add_argument(
        "--demo-screenshot", type=Path, default=None, help="save README's picture here, then stop"
    )
    args = ap.parse_args(argv)
    if args.demo_screenshot is not None:
        demo_screenshot(args.demo_screenshot)
        return 0
    spec = LedgerSpec(1)
    ensure_ledger(spec, args.rebuild)
    work = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    try:
        claude_dir = work / "claude"
        claude_dir.mkdir()
        copy = work / "cost.db"
        shutil.copyfile(spec.db, copy)
        load_before = os.getloadavg()
        built = in_process(copy, claude_dir, args.runs)
        browser = in_browser(copy, claude_dir, args.runs)
        load_after = os.getloadavg()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for name, t in built.items():
        print(
            f"build_dashboard({name}) in process: median {median(t['wall_ms']):.0f} ms wall "
            f"({min(t['wall_ms']):.0f}-{max(t['wall_ms']):.0f}), {median(t['cpu_ms']):.0f} ms CPU"
        )
    first = median(browser["since_navigation_start_ms"])
    print(
        "first render in Chromium (navigation start -> drawn), last 30 days of 1M events: "
        f"median {first:.0f} ms "
        f"(wall {median(browser['wall_ms']):.0f} ms) -> target < {TARGET_MS:.0f} ms: "
        f"{'PASS' if first < TARGET_MS else 'FAIL'}"
    )
    print(
        "every breakdown in (the four not on show fetched after the first drawing): "
        f"median {median(browser['all_breakdowns_ms']):.0f} ms"
    )
    page_bytes = sum(v for k, v in browser["bytes"].items() if "/api/" not in k)
    data_bytes = sum(v for k, v in browser["bytes"].items() if "/api/" in k)
    print(
        f"page weight {page_bytes / 1000:.1f} kB (+ {data_bytes / 1000:.1f} kB of JSON); "
        f"period total {browser['total']}"
    )
    print(
        f"load average before: {', '.join(f'{v:.2f}' for v in load_before)}; after: "
        f"{', '.join(f'{v:.2f}' for v in load_after)}"
    )
    path = save("dashboard", {"in_process_ms": built, "browser": browser, "load": [load_before, load_after]})
    print(f"raw numbers: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
