#!/usr/bin/env python3
"""Measure the dashboard's first render on the 1M-event ledger of bench_spend.py, in headless Chromium.

    python bench/bench_dashboard.py                   # build (or reuse) bench/data/spend-1m/, then measure
    python bench/bench_dashboard.py --runs 7 --screenshot docs/dashboard.png

Two figures, each the median of ``--runs`` after one warm-up:
- in process: ``dashboard.build_dashboard`` (every get_spend, budget_status, spend_forecast and
  cost_by_hour the page shows) for ``this_month`` and ``last_30_days`` at the ledger's "now"
  (2026-11-20T22:30Z, as bench_spend.py), Europe/Paris;
- in Chromium: the dashboard served by uvicorn on 127.0.0.1 (the app `cost-mcp dashboard` runs, with its
  one-time token and the log refresh before answering) on a copy of the ledger with two budgets;
  navigation start to the page drawn (``body[data-ready]``), for the last 30 days of data
  (``start=2026-10-22&end=2026-11-20``: the server's clock is the real one, after the data ends).
Raw numbers go to ``bench/out/dashboard.json``.
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


def in_process(db: Path, claude_dir: Path, runs: int) -> dict[str, list[float]]:
    from cost_mcp.analytics.dashboard import build_dashboard
    from cost_mcp.config import load_settings
    from cost_mcp.store import connect

    settings = load_settings(
        {"COST_MCP_DB": str(db), "CLAUDE_CONFIG_DIR": str(claude_dir), "COST_MCP_TIMEZONE": "Europe/Paris"},
        env_file=Path("/nonexistent"),
    )
    conn = connect(settings.db)
    out: dict[str, list[float]] = {}
    try:
        for period in ("this_month", "last_30_days"):
            build_dashboard(conn, settings, period, now=NOW)
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                build_dashboard(conn, settings, period, now=NOW)
                times.append((time.perf_counter() - t0) * 1000)
            out[period] = times
    finally:
        conn.close()
    return out


def in_browser(db: Path, claude_dir: Path, runs: int, screenshot: Path | None) -> dict[str, Any]:
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
            page.on("response", lambda r: sizes.__setitem__(r.url.split("?")[0], len(r.body())))
            page.goto(f"{base}/?token={token}&{QUERY}")  # exchanges the token: the warm-up
            page.wait_for_selector("body[data-ready]")
            wall, in_page = [], []
            for _ in range(runs):
                t0 = time.perf_counter()
                page.goto(f"{base}/?{QUERY}")
                page.wait_for_selector("body[data-ready]")
                wall.append((time.perf_counter() - t0) * 1000)
                in_page.append(float(page.evaluate("performance.now()")))
            result = {
                "wall_ms": wall,
                "since_navigation_start_ms": in_page,
                "bytes": sizes,
                "total": page.locator("#period-total").inner_text(),
            }
            if screenshot is not None:
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                page.click('#tabs button[data-dim="agent"]')
                page.screenshot(path=str(screenshot), full_page=False)
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        ledger.close()
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--screenshot", type=Path, default=None, help="save the page (agent tab) here")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the cached ledger")
    args = ap.parse_args(argv)
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
        browser = in_browser(copy, claude_dir, args.runs, args.screenshot)
        load_after = os.getloadavg()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for period, times in built.items():
        print(
            f"build_dashboard({period}) in process: median {median(times):.0f} ms "
            f"({min(times):.0f}-{max(times):.0f})"
        )
    first = median(browser["since_navigation_start_ms"])
    print(
        "first render in Chromium (navigation start -> drawn), last 30 days of 1M events: "
        f"median {first:.0f} ms "
        f"(wall {median(browser['wall_ms']):.0f} ms) -> target < {TARGET_MS:.0f} ms: "
        f"{'PASS' if first < TARGET_MS else 'FAIL'}"
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
