"""What a team member's answers say of other members: nothing (their budgets, calls and alerts).

Each test runs the real `cost-mcp serve --http` (the ``team`` fixture of test_team: an admin and
members ana, bob and cy, each with their own token) on SQLite and on PostgreSQL, and asks over MCP
with a member's token as their agent would.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from cost_mcp.store import connect
from cost_mcp.store import team as team_store
from tests.web.test_team import Team, _call, _made_server_ledger, _served


@pytest.fixture
def team(home: Path, sqlite_template: Path) -> Iterator[Team]:
    members = [(name, f"{name}@example.com", "member") for name in ("ana", "bob", "cy")]
    holders = [("admin", "boss@example.com", "admin"), *members]
    with _served(home, holders, _made_server_ledger(home, sqlite_template)) as served:
        yield served


def _ask(team: Team, who: str, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    answer = anyio.run(_call, team.base, team.tokens[who], tool, args)
    assert not answer.is_error, answer.content
    return dict(answer.structured_content)


def _refusal(team: Team, who: str, tool: str, args: dict[str, Any]) -> str:
    answer = anyio.run(_call, team.base, team.tokens[who], tool, args)
    assert answer.is_error, answer.structured_content
    return str(answer.content[0].text)


def _gpt4o(agent: str, request_id: str, usd: int = 3) -> dict[str, Any]:
    """A record_usage call on gpt-4o ($2.50 per million input tokens) costing ``usd`` dollars."""
    return {
        "provider": "openai",
        "model": "gpt-4o",
        "input_tokens": usd * 400_000,
        "output_tokens": 0,
        "agent": agent,
        "request_id": request_id,
    }


def test_a_members_record_usage_takes_no_alert_of_anyones_budget(team: Team) -> None:
    """QA: cy's record_usage answer carried "budget 'bob-cap' passed 100% of $1.00 per month: $3.00
    spent", fired by bob's usage, and marked it shown, so the admin never saw it. A member's answers
    carry no alerts (as get_spend and budget_status already did not); they wait for an admin."""
    cap = {"name": "bob-cap", "amount_usd": 1, "period": "month", "members": ["bob@example.com"]}
    _ask(team, "admin", "set_budget", cap)
    assert _ask(team, "bob", "record_usage", _gpt4o("bob-bot", "req-bob-1"))["alerts"] == []
    assert _ask(team, "cy", "record_usage", _gpt4o("cy-bot", "req-cy-1", usd=1))["alerts"] == []
    shown = _ask(team, "admin", "budget_status", {})["alerts"]
    assert shown == [
        "budget 'bob-cap' passed 100% of $1.00 per month: $3.00 spent (300.0%); covers 50% and 80% too, "
        "crossed at the same time"
    ]


def test_a_members_budget_status_shows_the_budgets_that_count_them_and_no_one_elses(team: Team) -> None:
    """QA: ana's budget_status(name="zzz") answered "no budget named 'zzz' (budgets: ana-month,
    bob-secret-proj, ...)"; budget_status() showed a team-wide budget scoped by bob's project with
    his spend on it ("project filter 'bobsecret' matches nothing"), and a shared budget's scope
    named bob. A member sees the budgets that count them (naming them or a team of theirs, or
    team-wide; scoped by agent or project only when one is their own), their scopes naming no one
    else and nothing of anyone else's; an unknown and a hidden name are answered alike."""
    _ask(team, "bob", "record_usage", _gpt4o("bob-bot", "b1") | {"project": "bob-acquisition"})
    _ask(team, "ana", "record_usage", _gpt4o("ana-bot", "a1", usd=1) | {"project": "ana-web"})
    conn = connect(team.server_db)
    try:
        team_store.set_team(conn, "platform", ["ana@example.com", "bob@example.com"])
    finally:
        conn.close()
    scopes: dict[str, dict[str, Any]] = {
        "bob-acq": {"projects": ["bob-acquisition"]},
        "bob-only": {"members": ["bob@example.com"]},
        "cy-bots": {"agents": ["cy-bot"]},
        "everyone": {},
        "pair": {"members": ["ana@example.com", "bob@example.com"]},
        "platform": {"members": ["team:platform", "cy@example.com"], "hard": True},
        "web": {"projects": ["ana-web", "bob-acquisition"]},
    }
    for name, scope in scopes.items():
        _ask(team, "admin", "set_budget", {"name": name, "amount_usd": 100, "period": "month", **scope})

    status = _ask(team, "ana", "budget_status", {})
    seen = {s["budget"]["name"]: s["budget"]["scope"] for s in status["budgets"]}
    assert sorted(seen) == ["everyone", "pair", "platform", "web"]
    assert (seen["pair"]["members"], seen["platform"]["members"]) == (["ana@example.com"], [])
    assert (seen["platform"]["teams"], seen["web"]["projects"]) == (["platform"], ["ana-web"])
    # A team budget's room is the team's: its spend is everyone's in its scope.
    spent = {s["budget"]["name"]: s["spent_usd"] for s in status["budgets"]}
    assert spent == {"everyone": 4, "pair": 4, "platform": 4, "web": 4}
    said = str(status)
    for secret in ("bob", "acquisition", "cy"):
        assert secret not in said, said

    hidden = _refusal(team, "ana", "budget_status", {"name": "bob-acq"})
    unknown = _refusal(team, "ana", "budget_status", {"name": "bob-acz"})
    assert hidden.replace("bob-acq", "X") == unknown.replace("bob-acz", "X")
    assert hidden.endswith(
        "no budget named 'bob-acq' counts your spend (budgets that do: everyone, pair, platform, web)"
    ), hidden
    # Bob's own views are whole: his project's budget, and his team's scope as set.
    bobs = {s["budget"]["name"] for s in _ask(team, "bob", "budget_status", {})["budgets"]}
    assert bobs == {"bob-acq", "bob-only", "everyone", "pair", "platform", "web"}


def test_a_members_check_budget_names_no_hard_budget_hidden_from_them(team: Team) -> None:
    """QA (h-qasec): ana's check_budget without a project warned "hard budget 'bob-acq' is scoped by
    project, which this check did not give": the name budget_status answers as unknown to her, and
    what it is scoped by. A member is warned by name of the hard budgets budget_status shows them
    (scoped by a project of their own); of a team-wide one scoped by others' projects or agents only
    that one exists, since their next call may be in its scope."""
    _ask(team, "bob", "record_usage", _gpt4o("bob-bot", "b1") | {"project": "bob-acquisition"})
    _ask(team, "ana", "record_usage", _gpt4o("ana-bot", "a1", usd=1) | {"project": "ana-web"})
    for name, scope in {
        "bob-acq": {"projects": ["bob-acquisition"]},
        "bob-bots": {"agents": ["bob-bot"]},
        "ana-web": {"projects": ["ana-web"]},
    }.items():
        _ask(
            team,
            "admin",
            "set_budget",
            {"name": name, "amount_usd": 100, "period": "month", "hard": True, **scope},
        )

    checked = _ask(team, "ana", "check_budget", {"estimated_cost_usd": 0.01})
    said = str(checked)
    for secret in ("bob", "acq"):
        assert secret not in said, said
    # Still told that a hard budget may hold her call (its project or agent may yet be hers).
    assert checked["warnings"] == [
        "hard budget 'ana-web' is scoped by project, which this check did not give, so it was not "
        "checked: pass project as record_usage will report the call",
        "a team-wide hard budget is scoped by project, which this check did not give, so it was not "
        "checked: pass project as record_usage will report the call",
        "a team-wide hard budget is scoped by agent, which this check did not give, so it was not "
        "checked: pass agent as record_usage will report the call",
    ]
    # Bob is still told of his own.
    bobs = " ".join(_ask(team, "bob", "check_budget", {"estimated_cost_usd": 0.01})["warnings"])
    assert "'bob-acq' is scoped by project" in bobs and "'bob-bots' is scoped by agent" in bobs, bobs
    # An admin is told of every one by name (h-qateam4: an admin's token has an email too, and was
    # told of these as "a team-wide hard budget", as if the admin were a member without them).
    admins = " ".join(_ask(team, "admin", "check_budget", {"estimated_cost_usd": 0.01})["warnings"])
    assert "'bob-acq' is scoped by project" in admins and "'bob-bots' is scoped by agent" in admins, admins


def test_a_members_check_budget_in_anothers_project_shows_nothing_of_its_budget(team: Team) -> None:
    """QA (h-qateam4): ana's check_budget(project="bob-acquisition") listed budget 'bob-acq', which
    budget_status answers as unknown to her, with its limit and room (so bob's spend on his project),
    and a check spelt "Bob-Acquisition" was told "budget 'bob-acq' counts project 'bob-acquisition'".
    The budget still decides her call (a hard one refuses it), unnamed and without its figures."""
    _ask(team, "bob", "record_usage", _gpt4o("bob-bot", "b1") | {"project": "bob-acquisition"})
    _ask(team, "ana", "record_usage", _gpt4o("ana-bot", "a1", usd=1) | {"project": "ana-web"})
    hard = {"name": "bob-acq", "amount_usd": 70, "period": "month", "hard": True}
    _ask(team, "admin", "set_budget", hard | {"projects": ["bob-acquisition"]})
    _ask(team, "admin", "set_budget", {"name": "everyone", "amount_usd": 1000, "period": "month"})

    def secrets_in(answer: dict[str, Any]) -> list[str]:
        said = str({k: v for k, v in answer.items() if k != "hold_expires_at"})  # a time: any digits
        return [s for s in ("'bob-acq'", "bob-acquisition", "70", "66", "67") if s in said]

    allowed = _ask(team, "ana", "check_budget", {"estimated_cost_usd": 1, "project": "bob-acquisition"})
    assert (allowed["allowed"], allowed["binding_budget"]) == (True, "everyone")
    assert [b["name"] for b in allowed["budgets"]] == ["everyone"]
    assert allowed["reason"] == "allowed: $995.0000 left on 'everyone' after this call"
    assert secrets_in(allowed) == []

    # Bob spent $3 of its $70 and ana's check holds $1: $68 more is over, refused without a word of it.
    refused = _ask(team, "ana", "check_budget", {"estimated_cost_usd": 68, "project": "bob-acquisition"})
    assert (refused["allowed"], refused["binding_budget"]) == (False, None)
    assert refused["reason"] == (
        "refused: a team-wide hard budget that budget_status does not show you has no room for this call "
        "(~$68.0000), or may not once the usage being read is counted; use a cheaper model, wait for the "
        "next period, or ask for a bigger budget"
    )
    assert [b["name"] for b in refused["budgets"]] == ["everyone"]
    assert secrets_in(refused) == []

    misspelt = _ask(team, "ana", "check_budget", {"estimated_cost_usd": 1, "project": "Bob-Acquisition"})
    assert secrets_in(misspelt) == [], misspelt

    # Bob's own check is whole: his project's budget by name, with its room.
    bobs = _ask(team, "bob", "check_budget", {"estimated_cost_usd": 68, "project": "bob-acquisition"})
    assert (bobs["allowed"], bobs["binding_budget"]) == (False, "bob-acq")
    assert bobs["reason"].startswith("refused: hard budget 'bob-acq' has $66.0000 left of $70.00"), bobs


def test_a_revoked_or_wrong_token_is_told_what_to_do(team: Team) -> None:
    """QA: after the admin revoked cy's token, her agent's calls to /mcp got 401 "Authentication
    required", as a request with no token does; `cost-mcp push` said "wrong or revoked; ask an admin
    for a new one", /mcp said nothing of the sort. A token sent and refused is now told so."""
    conn = connect(team.server_db)
    try:
        team_store.revoke_token(conn, "cy")
    finally:
        conn.close()
    hello = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    for token in (team.tokens["cy"], "cmt_" + "x" * 43):
        answer = httpx2.post(f"{team.base}/mcp", json=hello, headers={"Authorization": f"Bearer {token}"})
        assert (answer.status_code, answer.json()["error"]) == (401, "invalid_token")
        said = answer.json()["error_description"]
        assert "wrong, revoked or expired; ask a team admin for a new one" in said
        assert "cost-mcp token create" in said and token not in said + answer.headers["www-authenticate"]
        assert "resource_metadata=" in answer.headers["www-authenticate"]
    # No token at all: the SDK's own answer, which MCP clients take as "sign in".
    none = httpx2.post(f"{team.base}/mcp", json=hello)
    assert (none.status_code, none.json()["error_description"]) == (401, "Authentication required")
    assert _ask(team, "ana", "budget_status", {})["budgets"] == []  # a live token still goes through


def test_an_authorization_header_not_in_bearer_form_is_told_the_form(team: Team) -> None:
    """QA: an MCP client configured with `"Authorization": "cmt_..."` (no Bearer), with `Token` or
    `Basic`, or with `Bearer ${COST_MCP_TEAM_TOKEN}` where that variable was unset (the header
    then says "Bearer" alone) got 401 "Authentication required", as a request with no header does,
    from /mcp, /v1/*, /api/push and the dashboard's API alike: nothing said what to change. A
    literal "$COST_MCP_TEAM_TOKEN" was "wrong, revoked or expired", and "Bearer  cmt_..." (two
    spaces, which HTTP allows) refused a live token. Each now says what the header must be."""
    token = team.tokens["ana"]
    said_of = {
        token: "holds the token without the word Bearer before it",
        f"Token {token}": "uses the Token scheme",
        "Basic " + base64.b64encode(f"ana:{token}".encode()).decode(): "uses the Basic scheme",
        "Bearer": "says Bearer with no token after it",  # "Bearer " as it arrives (trimmed)
        "Bearer $COST_MCP_TEAM_TOKEN": "the unexpanded text of a variable ($NAME or ${NAME})",
        "Bearer ${COST_MCP_TEAM_TOKEN}": "the unexpanded text of a variable ($NAME or ${NAME})",
    }
    hello = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    mcp = {"Accept": "application/json, text/event-stream"}
    for header, said in said_of.items():
        for method, path in (
            ("POST", "/mcp"),
            ("POST", "/v1/logs"),
            ("GET", "/api/push"),
            ("GET", "/api/spend"),
        ):
            answer = httpx2.request(
                method, f"{team.base}{path}", json=hello, headers={**mcp, "Authorization": header}
            )
            assert (answer.status_code, answer.json()["error"]) == (401, "invalid_token"), (path, answer.text)
            description = answer.json()["error_description"]
            assert said in description and "Bearer cmt_..." in description, (path, description)
            challenge = answer.headers["www-authenticate"]
            assert said in challenge and "resource_metadata=" in challenge, challenge
            assert token not in answer.text + challenge
            assert token.removeprefix("cmt_") not in answer.text + challenge
    tools = httpx2.post(f"{team.base}/mcp", json=hello, headers={**mcp, "Authorization": f"Bearer  {token}"})
    assert tools.status_code == 200 and "get_spend" in tools.text, tools.text


def test_an_authorization_header_s_own_words_are_never_repeated(team: Team) -> None:
    """QA: the first word of an ``Authorization`` header not in Bearer form was repeated as "uses the
    <word> scheme", in the 401 and in the server's log. A user who pasted a key without Bearer and
    with a second word (``cmk_abc123 x``, ``sk-live-9f8e secret``) had it sent back and written to
    the log. Only a scheme from the server's own list is named now, in its spelling."""
    secrets_sent = ("cmk_abc123", "sk-live-9f8e", "hunter2", "sk_live_9f8e7d6c")
    headers = {
        # A secret pasted after a stray "$" reads as a variable the client did not expand: it was
        # quoted back as "the bearer token is the text $sk_live_9f8e7d6c", and logged so.
        "Bearer $sk_live_9f8e7d6c": "the unexpanded text of a variable",
        "Bearer ${sk_live_9f8e7d6c}": "the unexpanded text of a variable",
        "cmk_abc123 x": "is not in the form Bearer <token>",
        "sk-live-9f8e secret": "is not in the form Bearer <token>",
        "hunter2 hunter2": "is not in the form Bearer <token>",
        "TOKEN abc": "uses the Token scheme",  # a known one, in the server's spelling
    }
    for header, said in headers.items():
        answer = httpx2.get(
            f"{team.base}/api/budgets", headers={"Authorization": header, "Accept": "application/json"}
        )
        assert answer.status_code == 401, answer.text
        described = answer.json()["error_description"]
        assert said in described and "Bearer cmt_..." in described, described
        shown = answer.text + answer.headers["www-authenticate"]
        for secret in secrets_sent:
            assert secret not in shown, (header, shown)
    logged = team.stderr.read_text()
    assert "is not in the form Bearer <token>" in logged, logged
    for secret in secrets_sent:
        assert secret not in logged, logged
