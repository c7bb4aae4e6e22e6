"""Dashboard fixtures: a seeded ledger, the real app served by uvicorn on 127.0.0.1, headless Chromium."""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import pytest
import uvicorn

from cost_mcp.analytics import budgets
from cost_mcp.config import Settings
from cost_mcp.models import BudgetScope
from cost_mcp.pricing import Pricer, Tokens
from cost_mcp.sources.reported import record_call
from cost_mcp.store import Ledger, connect, write_transaction
from cost_mcp.store.buckets import Bucket, replace_range
from cost_mcp.store.connection import Conn
from cost_mcp.web.app import create_app, listening_socket

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "tmp" / "artifacts"
"""Screenshots of each view land here (gitignored), for a person to look at after a run."""


PER_USD = {"gpt-4o": 400_000, "claude-haiku-4-5": 1_000_000}
"""Input tokens that cost exactly one dollar: gpt-4o $2.50 and Claude Haiku 4.5 $1 per million."""


def call(
    conn: Conn,
    usd: int,
    *,
    provider: str = "openai",
    agent: str = "researcher",
    project: str = "web",
    ago: timedelta = timedelta(seconds=30),
) -> None:
    """Record a call costing exactly ``usd`` dollars, ``ago`` before now."""
    model = "gpt-4o" if provider == "openai" else "claude-haiku-4-5"
    now = datetime.now(UTC)
    record_call(
        conn,
        Pricer(),
        provider=provider,
        model=model,
        tokens=Tokens(input=usd * PER_USD[model]),
        agent=agent,
        project=project,
        session=f"{agent}-1",
        timestamp=now - ago,
        now=now,
    )


def seed(conn: Conn) -> None:
    """Spend on two providers, three agents, two projects, one unpriced call, and three budgets."""
    call(conn, 3, provider="openai", agent="researcher", project="web")
    call(conn, 6, provider="anthropic", agent="triage", project="api")
    call(conn, 1, provider="openai", agent="reviewer", project="api")
    record_call(
        conn,
        Pricer(),
        provider="openai",
        model="no-such-model-xyz",
        tokens=Tokens(input=5000, output=100),
        agent="reviewer",
        timestamp=datetime.now(UTC) - timedelta(seconds=20),
    )
    budgets.set_budget(conn, "daily-cap", Decimal(8), "day", BudgetScope())
    budgets.set_budget(conn, "triage-daily", Decimal(10), "day", BudgetScope(agents=["triage"]))
    budgets.set_budget(conn, "monthly", Decimal(100_000), "month", BudgetScope())


THIRDS = ("third-a", "third-b", "third-c")
"""Models billed $3.335 each today by :func:`bill_thirds`: $3.34 three times as shown, under $10.00."""


def bill_thirds(conn: Conn) -> None:
    """OpenAI's bill for today: $3.335 for each model of THIRDS, $10.005 in all, which rounds
    half-even to $10.00 while each row rounds to $3.34."""
    day = int(datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0).timestamp() * 1000)
    with write_transaction(conn):
        replace_range(
            conn,
            "openai",
            "cost",
            day,
            day + 86_400_000,
            [Bucket(day, day + 86_400_000, cost_nanos=3_335_000_000, model=m) for m in THIRDS],
        )


@dataclass
class Served:
    """A running dashboard: where it is, the one-time token, and the ledger behind it."""

    base: str
    token: str
    ledger: Ledger
    settings: Settings

    @property
    def url(self) -> str:
        return f"{self.base}/?token={self.token}"


@pytest.fixture
def seeded(settings: Settings, clock: None, ledger_made: None) -> Settings:
    conn = connect(settings.db)
    try:
        seed(conn)
    finally:
        conn.close()
    return settings


def serve(app: Any, *, lifespan: Literal["on", "off"] = "off") -> Iterator[str]:
    """Serve an ASGI app on a free 127.0.0.1 port in a thread; yields its base URL. ``lifespan``:
    run the app's start-up and shut-down (the team server's app has them)."""
    sock = listening_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan=lifespan))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def served(seeded: Settings) -> Iterator[Served]:
    """The dashboard app with a one-time token, as `cost-mcp dashboard` serves it."""
    ledger = Ledger(seeded.db)
    token = secrets.token_urlsafe(16)
    app = create_app(ledger, seeded, Pricer(), token=token, allowed_hosts=["127.0.0.1", "localhost"])
    try:
        for base in serve(app):
            yield Served(base, token, ledger, seeded)
    finally:
        ledger.close()


def chromium_or_skip() -> Path:
    """Debian's Chromium; tests skip without it only outside CI (CI installs it: .ci/run)."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing in CI: .ci/run installs the Debian chromium package")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); CI never skips this")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright (never `playwright install`); one per module,
    so Playwright's own event loop never outlives the module's tests."""
    executable = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
