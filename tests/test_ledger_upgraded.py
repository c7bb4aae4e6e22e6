"""A server left running on the release before an upgrade, while the new release migrates the ledger
under it (Claude Code keeps its stdio server for the whole session across a `pip install -U`; a team
server's replica not yet upgraded beside one that is). It went on answering and recording with code
that does not know the new schema, saying nothing; it now stops using the ledger and names the
restart that runs the new release."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from starlette.testclient import TestClient

from cost_mcp.config import Settings
from cost_mcp.pricing import Pricer
from cost_mcp.store import Ledger, connect
from cost_mcp.store import team as team_store
from cost_mcp.store.connection import Conn, write_transaction
from tests.test_server import server_env
from tests.web.test_push_from_a_newer_laptop import pushed_call

FUTURE = "m999_from_a_newer_release"


def _upgrade_behind(conn: Conn) -> None:
    """What a newer release's migration leaves in the ledger, written by another process's connection."""
    with write_transaction(conn):
        conn.execute(
            "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
            (FUTURE, datetime.now(UTC).isoformat()),
        )


def _calls(conn: Conn) -> int:
    return int(conn.execute("SELECT count(*) FROM usage_events").fetchone()[0])


CALL = {
    "provider": "openai",
    "model": "gpt-4o",
    "agent": "researcher",
    "input_tokens": 1000,
    "output_tokens": 1000,
}


@pytest.mark.anyio
async def test_a_server_whose_ledger_a_newer_release_migrated_says_to_restart_it(
    client: Client, conn: Conn
) -> None:
    before = await client.call_tool("record_usage", {**CALL, "request_id": "before"})
    assert before.is_error is False, before.content
    _upgrade_behind(conn)

    spend = await client.call_tool("get_spend", {})
    assert spend.is_error is True
    said = spend.content[0].text  # type: ignore[union-attr]
    assert FUTURE in said and "restart it" in said and "/mcp" in said, said
    recorded = await client.call_tool("record_usage", {**CALL, "request_id": "after"})
    assert recorded.is_error is True
    assert recorded.content[0].text.split(": ", 1)[1] == said.split(": ", 1)[1]  # type: ignore[union-attr]
    assert _calls(conn) == 1  # the call before the upgrade, nothing written with the old code after it


@pytest.fixture
def replica(settings: Settings, ledger_made: None) -> Iterator[tuple[TestClient, str]]:
    """A team server's replica, started before another one upgraded their shared ledger."""
    from cost_mcp.web.http import create_http_app

    with contextlib.closing(connect(settings.db)) as conn:
        token = team_store.create_token(conn, "ana", "ana@example.com")
    ledger = Ledger(settings.db)
    try:
        with TestClient(create_http_app(ledger, settings, Pricer()), base_url="http://127.0.0.1") as http:
            yield http, token
    finally:
        ledger.close()


def test_a_replica_left_on_the_old_release_asks_its_admin_to_upgrade_it(
    replica: tuple[TestClient, str], conn: Conn
) -> None:
    http, token = replica
    row = pushed_call()
    _upgrade_behind(conn)
    answer = http.post("/api/push", json={"rows": [row]}, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 503
    said = answer.json()["error"]
    assert (
        "older cost-mcp than its ledger" in said and "upgrade cost-mcp on this server and restart it" in said
    )
    assert _calls(conn) == 0  # retried by the laptop once the replica runs the new release


@pytest.mark.anyio
async def test_a_server_of_an_older_release_than_its_ledger_starts_and_answers_why_not(
    home: Path, conn: Conn
) -> None:
    """A user who pinned back an older release after the new one migrated the ledger: its stdio
    server exited at start, Claude Code showed only "failed" and the reason sat in the MCP log. It
    now starts, and every tool answers what every command says, naming the fix."""
    _upgrade_behind(conn)
    params = StdioServerParameters(command=sys.executable, args=["-m", "cost_mcp"], env=server_env(home))
    async with Client(params) as c:
        spend = await c.call_tool("get_spend", {})
        recorded = await c.call_tool("record_usage", {**CALL, "request_id": "pinned-back"})
    for answer in (spend, recorded):
        assert answer.is_error is True
        said = answer.content[0].text  # type: ignore[union-attr]
        assert (
            f"the ledger was written by a newer cost-mcp (unknown migrations: {FUTURE}); upgrade cost-mcp"
            in said
        )
        # Upgrading the package does not change this running process: it must be restarted too.
        assert "then restart any cost-mcp server still running the old one" in said
    assert _calls(conn) == 0
