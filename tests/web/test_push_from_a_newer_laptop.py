"""A laptop on a newer release than its team server (admins upgrade last) sends a field this server
does not know, such as a new kind of tokens: the server refuses the batch, storing nothing (storing
the row without the field would lose its money without a word), and its answer now says that the
server is the one to upgrade, where it said only that the body did not match the push format."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from cost_mcp.config import Settings
from cost_mcp.pricing import Pricer
from cost_mcp.store import Ledger, connect
from cost_mcp.store import team as team_store


@pytest.fixture
def team_server(settings: Settings, ledger_made: None) -> Iterator[tuple[TestClient, str, Ledger]]:
    from cost_mcp.web.http import create_http_app

    with contextlib.closing(connect(settings.db)) as conn:
        token = team_store.create_token(conn, "ana", "ana@example.com")
    ledger = Ledger(settings.db)
    try:
        with TestClient(create_http_app(ledger, settings, Pricer()), base_url="http://127.0.0.1") as http:
            yield http, token, ledger
    finally:
        ledger.close()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rows": [{"cache_write_30m_tokens": 5_000}]}, "cache_write_30m_tokens"),
        ({"rows": [], "notes": ["from a newer laptop"]}, "notes"),
    ],
)
def test_a_field_of_a_newer_release_is_refused_naming_the_server_as_the_one_to_upgrade(
    team_server: tuple[TestClient, str, Ledger], body: dict[str, list[object]], field: str
) -> None:
    http, token, ledger = team_server
    call = pushed_call()
    rows = [{**call, **extra} for extra in body["rows"]]  # type: ignore[dict-item]
    answer = http.post("/api/push", json={**body, "rows": rows}, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 400
    said = answer.json()["error"]
    assert f"unknown field `{field}`" in said, said
    assert "a newer cost-mcp than this team server" in said and "upgrade cost-mcp on the server" in said
    with ledger.use() as conn:
        assert conn.execute("SELECT count(*) FROM usage_events").fetchone()[0] == 0


def pushed_call() -> dict[str, object]:
    """One Claude Code call as a laptop pushes it (the wire row's fields), made a moment ago."""
    return {
        "source": "claude_code",
        "message_id": "msg_1",
        "request_id": "req_1",
        "ts_ms": int(time.time() * 1000),
        "provider": "anthropic",
        "model": "claude-sonnet-4-5",
        "input_tokens": 1000,
        "output_tokens": 900,
    }
