"""A laptop whose team server refuses its pushes (its token revoked, its member removed) says so in
its own answers until a push is taken again: a real server process on both engines, the laptop's
own SQLite ledger, its push loop and its CLI as separate processes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
from pydantic import SecretStr

from cost_mcp import push
from cost_mcp.config import Settings
from cost_mcp.store import connect
from cost_mcp.store import team as team_store
from tests.sources.claude_logs import assistant, session_file, write
from tests.web.test_team import TEAM, Laptop, _cli, _iso, _laptop, _made_server_ledger, _served, _total

REFUSED = "this machine's pushes to its team server are refused since "
FIX = "ask this server's admin for a new one (`cost-mcp token create` on it) and set COST_MCP_TEAM_TOKEN"


def _refused(warnings: list[str]) -> list[str]:
    return [w for w in warnings if w.startswith(REFUSED)]


def _report(laptop: Laptop, home: Path, token: str, base: str) -> list[str]:
    """The warnings of the laptop's `cost-mcp report --json`."""
    env = laptop.env(home, COST_MCP_TEAM_SERVER=base, COST_MCP_TEAM_TOKEN=token)
    done = _cli(env, "report", "--period", "today", "--json")
    assert done.returncode == 0, done.stderr
    warnings: list[str] = json.loads(done.stdout)["warnings"]
    return warnings


def _mcp_warnings(laptop: Laptop, base: str | None, token: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The warnings of the laptop's own MCP server's get_spend (its push loop left out: the test
    drives it); ``base`` None: team mode off (no team server set)."""
    from mcp import Client

    from cost_mcp.server import mcp

    monkeypatch.setenv("COST_MCP_DB", str(laptop.db))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(laptop.claude))
    if base is None:
        monkeypatch.delenv("COST_MCP_TEAM_SERVER", raising=False)
        monkeypatch.delenv("COST_MCP_TEAM_TOKEN", raising=False)
    else:
        monkeypatch.setenv("COST_MCP_TEAM_SERVER", base)
        monkeypatch.setenv("COST_MCP_TEAM_TOKEN", token)
    monkeypatch.setattr(push.PushLoop, "start", lambda _self: None)

    async def ask() -> Any:
        async with Client(mcp, raise_exceptions=True) as client:
            return await client.call_tool("get_spend", {"period": "today"})

    answer = anyio.run(ask)
    assert not answer.is_error, answer.content
    warnings: list[str] = answer.structured_content["warnings"]
    return warnings


def test_a_laptop_whose_pushes_are_refused_says_so_until_one_is_taken(
    home: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QA: Ana's token was revoked (she was removed, or it was rotated without her laptop told).
    Her laptop's server kept pushing every minute, refused (401), logged it and went on answering
    from its own ledger: nothing in get_spend, `cost-mcp report` or doctor said the team no longer
    saw her spend. Each answer now says so, and the fix, until a push is taken again."""
    with _served(home, TEAM, _made_server_ledger(home, sqlite_template)) as team:
        laptop = _laptop(home, "ana", "ana@example.com", [("msg_r1", "req_r1", 100, 10)])
        token = team.tokens["ana"]
        own = Settings(db=laptop.db, timezone="UTC", team_server=team.base, team_token=SecretStr(token))
        loop = push.PushLoop(own, lambda: connect(laptop.db), lambda _wait: True)
        loop.beat_every = 0.0
        done = _cli(laptop.env(home, COST_MCP_TEAM_TOKEN=token), "push", "--server", team.base)
        assert done.returncode == 0, done.stderr
        assert _refused(_report(laptop, home, token, team.base)) == []

        conn = connect(team.server_db)
        try:
            team_store.revoke_token(conn, "ana")
        finally:
            conn.close()
        # Idle: its loop's beat is refused first.
        stats = loop.once()
        assert stats is not None and stats.pending == 0
        [said] = _refused(_report(laptop, home, token, team.base))
        assert FIX in said and "(401)" in said and token not in said
        assert "the team's totals and budgets lack its usage since" in said

        # Used again: the push of the new call is refused too; the warning keeps when it began.
        write(
            session_file(laptop.claude, "ana-s2", project="-home-ana-secret-project"),
            assistant("msg_r2", "req_r2", _iso(datetime.now(UTC)), session="ana-s2"),
        )
        refused = _cli(laptop.env(home, COST_MCP_TEAM_TOKEN=token), "push", "--server", team.base)
        assert refused.returncode != 0 and "(401)" in refused.stderr, refused.stderr
        assert loop.once() is None
        assert _refused(_report(laptop, home, token, team.base)) == [said]
        assert _refused(_mcp_warnings(laptop, team.base, token, monkeypatch)) == [said]

        # doctor: the check of the token says it is refused; the refusal kept says since when.
        env = laptop.env(home, COST_MCP_TEAM_SERVER=team.base, COST_MCP_TEAM_TOKEN=token)
        doctor = json.loads(_cli(env, "doctor", "--json").stdout)
        assert doctor["team"]["push_refused"] in said and doctor["team"]["push_refused_since"]
        assert any(FIX in p for p in doctor["problems"]), doctor["problems"]

        # A new token: the next push is taken, sends what waited, and the warning goes.
        conn = connect(team.server_db)
        try:
            fresh = team_store.create_token(conn, "ana-2", "ana@example.com")
        finally:
            conn.close()
        again = _cli(laptop.env(home, COST_MCP_TEAM_TOKEN=fresh), "push", "--server", team.base)
        assert again.returncode == 0, again.stderr
        assert _refused(_report(laptop, home, fresh, team.base)) == []
        assert _total(team.server_db, members=["ana@example.com"]) == _total(laptop.db) > 0
        env = laptop.env(home, COST_MCP_TEAM_SERVER=team.base, COST_MCP_TEAM_TOKEN=fresh)
        assert json.loads(_cli(env, "doctor", "--json").stdout)["team"]["push_refused"] is None

        # Refused again, then the server down: doctor cannot ask it, and says what it said last.
        conn = connect(team.server_db)
        try:
            team_store.revoke_token(conn, "ana-2")
        finally:
            conn.close()
        assert _cli(env, "push").returncode != 0
        team.proc.terminate()
        team.proc.wait(timeout=10)
        doctor = json.loads(_cli(env, "doctor", "--json").stdout)
        assert doctor["team"]["token_accepted"] is None
        [warned] = [
            w for w in doctor["warnings"] if w.startswith("the team server refused this machine's pushes")
        ]
        assert FIX in warned and fresh not in warned


def test_a_laptop_that_left_team_mode_is_not_warned_of_its_old_teams_refusal(
    home: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QA: Ana was removed from the team, her pushes were refused, and she unset COST_MCP_TEAM_SERVER
    (or moved to another team's server): every answer kept warning that her pushes to "its team
    server" were refused, of a team she had left, with no push ever to end it. The refusal is said
    only while its server is the one configured."""
    with _served(home, TEAM, _made_server_ledger(home, sqlite_template)) as team:
        laptop = _laptop(home, "ana", "ana@example.com", [("msg_l1", "req_l1", 100, 10)])
        token = team.tokens["ana"]
        conn = connect(team.server_db)
        try:
            team_store.revoke_token(conn, "ana")
        finally:
            conn.close()
        refused = _cli(laptop.env(home, COST_MCP_TEAM_TOKEN=token), "push", "--server", team.base)
        assert refused.returncode != 0 and "(401)" in refused.stderr, refused.stderr
        [said] = _refused(_report(laptop, home, token, team.base))

        # Team mode off: no team server set, in `cost-mcp report` and in the MCP server's answers.
        alone = _cli(laptop.env(home), "report", "--period", "today", "--json")
        assert alone.returncode == 0, alone.stderr
        assert _refused(json.loads(alone.stdout)["warnings"]) == []
        assert _refused(_mcp_warnings(laptop, None, "", monkeypatch)) == []
        # Another team's server: the old one's refusal is not this one's.
        assert _refused(_report(laptop, home, token, "http://127.0.0.1:9/other-team")) == []
        # Back on the server that refused: it still refuses, and is said again, since when it began.
        assert _refused(_report(laptop, home, token, team.base)) == [said]
