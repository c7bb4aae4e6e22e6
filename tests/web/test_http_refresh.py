"""Over HTTP a question refreshes the ledger only when this process's last whole refresh is older
than ``server.HTTP_REFRESH_EVERY_SECONDS`` (a team server's clients ask back to back); over stdio
every question still refreshes."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from cost_mcp import server, sync
from cost_mcp.config import Settings
from cost_mcp.models import IngestResult
from cost_mcp.pricing import Pricer
from cost_mcp.store import Ledger
from tests.sources.claude_logs import assistant

pytestmark = pytest.mark.anyio


def _log_call(home: Path, n: int) -> None:
    """One Claude Code call a minute ago, in a transcript of its own."""
    ts = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    path = home / "claude" / "projects" / "p" / f"s{n}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(assistant(f"msg_{n}", f"req_{n}", ts, output=1000)) + "\n")


async def _total(client: Client) -> Decimal:
    res = await client.call_tool("get_spend", {"period": "last_7_days"})
    assert not res.is_error, res.content
    content: Any = res.structured_content
    return Decimal(str(content["total_usd"]))


@asynccontextmanager
async def _http_client(settings: Settings) -> AsyncIterator[Client]:
    """An MCP client of the HTTP app (no tokens) on a ledger whose start-up read of the logs is
    over and found nothing: from then on only a refresh reads new lines."""
    from cost_mcp.web.http import create_http_app

    ledger = Ledger(settings.db)
    base = "http://127.0.0.1:4318"  # a loopback Host: the SDK refuses any other without tokens
    try:
        app = create_http_app(ledger, settings, Pricer(), require_auth=False)
        async with (
            app.router.lifespan_context(app),
            httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=base) as http,
            Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client,
        ):
            assert await _total(client) == 0
            assert await anyio.to_thread.run_sync(server._live[-1].reader.wait, 60)
            yield client
    finally:
        ledger.close()


async def test_over_http_a_question_refreshes_only_after_the_interval(
    home: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _http_client(settings) as client:
        _log_call(home, 1)
        monkeypatch.setattr(server, "HTTP_REFRESH_EVERY_SECONDS", 3600)
        assert await _total(client) == 0  # refreshed less than an hour ago: not read yet
        monkeypatch.setattr(server, "HTTP_REFRESH_EVERY_SECONDS", 0)
        first = await _total(client)
        assert first > 0  # the interval is over: read before answering
        _log_call(home, 2)
        assert await _total(client) > first


def _count_refreshes(
    monkeypatch: pytest.MonkeyPatch, asking: int, refreshed: Callable[[], sync.RecentRefresh]
) -> list[int]:
    """Count the refreshes from now on (one entry each). The first is held until the other
    ``asking - 1`` questions wait for it, or one starts its own (the second call); the cap only
    ends a broken run, nothing is asserted on time."""
    calls: list[int] = []
    calls_lock = threading.Lock()
    real = sync.refresh_or_skip

    def counted(*args: Any, **kwargs: Any) -> Any:
        with calls_lock:
            calls.append(1)
            first = len(calls) == 1
        if first:
            cap = time.monotonic() + 60
            while refreshed().waiting < asking - 1 and len(calls) == 1 and time.monotonic() < cap:
                time.sleep(0.01)
        return real(*args, **kwargs)

    monkeypatch.setattr(sync, "refresh_or_skip", counted)
    return calls


async def test_questions_arriving_during_a_refresh_wait_for_it(
    home: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    asking = 6

    async with _http_client(settings) as client:
        _log_call(home, 1)
        monkeypatch.setattr(server, "HTTP_REFRESH_EVERY_SECONDS", 3600)
        server._live[-1].refreshed.started = None  # the last refresh is too old: the next one reads
        calls = _count_refreshes(monkeypatch, asking, lambda: server._live[-1].refreshed)
        totals: list[Decimal] = []

        async def ask() -> None:
            totals.append(await _total(client))

        async with anyio.create_task_group() as tg:
            for _ in range(asking):
                tg.start_soon(ask)
        assert len(calls) == 1  # one refresh for all of them
        assert len(set(totals)) == 1 and totals[0] > 0  # each read the line logged before it asked
        assert server._live[-1].refreshed.waiting == 0


async def test_over_stdio_every_question_refreshes(
    home: Path, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "HTTP_REFRESH_EVERY_SECONDS", 3600)
    assert await _total(client) == 0
    assert await anyio.to_thread.run_sync(server._live[-1].reader.wait, 60)
    _log_call(home, 1)
    assert await _total(client) > 0


def _read(*, complete: bool) -> IngestResult:
    return sync._nothing_read().model_copy(update={"complete": complete})


def test_only_a_whole_refresh_counts() -> None:
    recent = sync.RecentRefresh()
    assert not recent.within(3600)  # never refreshed
    recent.note(_read(complete=True), [])
    assert recent.within(3600)
    assert not recent.within(0)
    recent.note(_read(complete=False), [])  # stopped at its time budget: the rest is still to read
    assert not recent.within(3600)
    recent.note(_read(complete=True), [])
    recent.note(None, [sync.BUSY_WARNING])  # another process held the ledger
    assert not recent.within(3600)


async def test_a_team_dashboards_questions_share_one_refresh(
    home: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A page asks six questions at once: on a team server (refresh_every) they wait for one refresh
    # of the logs and providers instead of each running its own; every answer still holds the line
    # logged before it asked.
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from cost_mcp.web.http import create_http_app

    asking = 6
    ledger = Ledger(settings.db)
    monkeypatch.setattr(server, "HTTP_REFRESH_EVERY_SECONDS", 3600)
    app = create_http_app(ledger, settings, Pricer(), require_auth=False)
    # The dashboard, mounted at / (without tokens, not wrapped in the admin check).
    (dashboard,) = [r.app for r in app.routes if isinstance(r, Mount) and isinstance(r.app, Starlette)]
    refreshed: sync.RecentRefresh = dashboard.state.refreshed

    _log_call(home, 1)
    calls = _count_refreshes(monkeypatch, asking, lambda: refreshed)
    totals: list[Decimal] = []
    try:
        base = "http://127.0.0.1:4318"
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=base) as http:

            async def ask() -> None:
                response = await http.get("/api/spend", params={"period": "last_7_days"})
                assert response.status_code == 200, response.text
                totals.append(Decimal(str(response.json()["total_usd"])))

            async with anyio.create_task_group() as tg:
                for _ in range(asking):
                    tg.start_soon(ask)
            assert len(calls) == 1  # one refresh for all of them
            assert len(set(totals)) == 1 and totals[0] > 0
            await ask()  # refreshed less than refresh_every ago: no new refresh
            assert len(calls) == 1 and refreshed.waiting == 0
    finally:
        ledger.close()
