"""A team server whose ledger fails under a request (PostgreSQL restarted or stopped, a full disk)
answers 503 with Retry-After, which a laptop's push waits on and sends again, and says why in its
log: it answered 500 "Internal Server Error" with a traceback, and `cost-mcp push` gave up at once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from cost_mcp.config import Settings
from cost_mcp.pricing import Pricer
from cost_mcp.store import Ledger, connect
from cost_mcp.store import team as team_store


@pytest.fixture
def team_server(settings: Settings, ledger_made: None) -> Iterator[tuple[TestClient, Ledger, str]]:
    from cost_mcp.web.http import create_http_app

    conn = connect(settings.db)
    token = team_store.create_token(conn, "ana", "ana@example.com")
    conn.close()
    ledger = Ledger(settings.db)
    try:
        with TestClient(create_http_app(ledger, settings, Pricer()), base_url="http://127.0.0.1") as http:
            yield http, ledger, token
    finally:
        ledger.close()


def _rows(count: int) -> list[dict[str, object]]:
    now = int(time.time() * 1000)
    return [
        {
            "source": "claude_code",
            "message_id": f"msg_{i}",
            "request_id": f"req_{i}",
            "ts_ms": now - i,
            "provider": "anthropic",
            "model": "claude-sonnet-4-5",
            "session_id": "s1",
            "project": "web",
            "agent": "claude-code",
            "input_tokens": 1000,
            "output_tokens": 900,
        }
        for i in range(count)
    ]


@pytest.mark.sqlite_only  # the full disk of an SQLite ledger; PostgreSQL's outage in store/test_postgres
def test_a_push_the_ledger_cannot_take_is_503_to_retry_not_a_500(
    team_server: tuple[TestClient, Ledger, str], home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    http, ledger, token = team_server
    with ledger.use() as conn:  # the disk fills up: no page can be added
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
    answer = http.post("/api/push", json={"rows": _rows(300)}, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "2"
    assert answer.json() == {
        "error": "the team server cannot use its ledger just now (its database is restarting, unreachable "
        "or full): try again shortly; a push is sent again by itself"
    }
    logged = [r for r in caplog.records if r.name == "cost_mcp.http"]
    assert [r.levelname for r in logged] == ["WARNING"]
    assert logged[0].getMessage().startswith("POST /api/push: the disk holding the ledger ")
    assert logged[0].exc_info is None  # one line, no traceback
    with ledger.use() as conn:
        conn.execute(f"PRAGMA max_page_count = {2**31}")
    again = http.post("/api/push", json={"rows": _rows(300)}, headers={"Authorization": f"Bearer {token}"})
    assert again.status_code == 200 and again.json()["accepted"] == 300  # the retry is taken whole


@pytest.mark.postgresql_only  # a PostgreSQL server of its own, stopped under the team server
def test_a_push_to_a_team_server_whose_database_is_down_gives_up_within_seconds(home: Path) -> None:
    """The team server waited its pool's 30 s per request and the laptop tried five times: `cost-mcp
    push` hung 2.5 minutes, then quoted the server's "a push is sent again by itself". Now the
    server answers 503 within seconds, the push stops retrying after push.RETRY_SECONDS, and says
    what happened, what the server's admin should check, and that nothing was lost."""
    from cost_mcp import push
    from tests.pg_cluster import Cluster
    from tests.web.test_team import _cli, _env, _free_port, _laptop, _start, _stop, _tokens

    cluster = Cluster()
    try:
        db = cluster.url(cluster.new_database())
        tokens = _tokens(db, [("ana", "ana@example.com", "member")])
        port = _free_port()
        server = _start(_env(home, db), port, home / "server.log")
        try:
            laptop = _laptop(home, "ana", "ana@example.com", [("msg_1", "req_1", 100, 10)])
            cluster.halt()
            started = time.monotonic()
            done = _cli(
                laptop.env(home, COST_MCP_TEAM_TOKEN=tokens["ana"]),
                "push",
                "--server",
                f"http://127.0.0.1:{port}",
            )
            took = time.monotonic() - started
        finally:
            _stop(server)
    finally:
        cluster.stop()
    assert done.returncode != 0
    assert took < 30, took  # push.RETRY_SECONDS and the server's 2 s wait per try, with room
    said = done.stderr.strip()
    assert said.startswith(
        f"error: the team server http://127.0.0.1:{port}/… cannot use its database just now"
    )
    assert "gave up after" in said and "PostgreSQL is running and reachable" in said
    assert said.endswith(push.UNSENT) and "\n" not in said
    logged = (home / "server.log").read_text()
    assert "cannot reach the PostgreSQL server for the ledger" in logged and "(waited 2 s)" in logged
