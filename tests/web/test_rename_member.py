"""`cost-mcp team rename-member OLD NEW`: a member whose email changed keeps their history.

A team server's member is an email; when it changes, their pushes, OTel events, budgets and tokens
stayed under the old one and the new one started from zero. Each test seeds the server through the
real HTTP app (``/api/push``, ``/v1/logs``) with member tokens, on both ledgers, renames with the
real CLI in a process of its own, and reads every view again: get_spend by member, the budget scoped
to the member, the rollup against a rebuild from the events, and a push with the member's token.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cost_mcp.analytics import budgets, spend
from cost_mcp.config import Settings
from cost_mcp.models import BudgetScope
from cost_mcp.pricing import Tokens
from cost_mcp.store import connect
from cost_mcp.store import team as team_store
from tests import servers
from tests.web import test_push_owner as push_owner
from tests.web.test_otel_receiver import _api_request
from tests.web.test_push_owner import _ms, _row
from tests.web.test_team import _assert_rollup_exact, _dirty_quarter_hours, _refresh_rollup, _window

OLD, NEW, BOB = "alice@old.example", "alice@new.example", "bob@example.com"


class Server(push_owner.Server):
    """test_push_owner's in-process team server, here with member tokens for alice (as OLD) and
    bob, and one Claude Code api_request event sent over OTLP at a time."""

    def otlp_call(self, token: str, request_id: str, minutes_ago: int) -> None:
        when = datetime.now(UTC) - timedelta(minutes=minutes_ago)
        record = {
            "_ns": int(when.timestamp() * 1e9),
            **_api_request(request_id, when, Tokens(input=500, output=40)),
        }
        self.otlp(token, [record])


@pytest.fixture
def server(settings: Settings, clock: None, ledger_made: None) -> Iterator[Server]:
    conn = connect(settings.db)
    tokens = {
        "alice": team_store.create_token(conn, "alice-laptop", OLD),
        "bob": team_store.create_token(conn, "bob-laptop", BOB),
    }
    budgets.set_budget(conn, "alice", Decimal(10), "month", BudgetScope(members=[OLD]))
    team_store.set_team(conn, "platform", [OLD, BOB])
    conn.close()
    yield from push_owner.serving(Server, settings, tokens)


def _seed(server: Server) -> None:
    """Alice's pushed calls and an OTel event, bob's pushed call."""
    server.push(
        "alice", [_row("msg_a1", "req_a1", _ms(30)), _row("msg_a2", "req_a2", _ms(25), output_tokens=50)]
    )
    server.otlp_call("alice", "req_a3", 20)
    server.push("bob", [_row("msg_b1", "req_b1", _ms(15), input_tokens=3000, session_id="s2")])
    _refresh_rollup(server.settings.db)  # as the first answer does: what a refusal must leave alone


def _rename(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return servers.run(["team", "rename-member", *args], {**os.environ, **env}, timeout=120)


def _by_member(settings: Settings) -> dict[str, Decimal]:
    conn = connect(settings.db)
    try:
        result = spend.get_spend(conn, settings, _window(), ("member",), take_alerts=False)
    finally:
        conn.close()
    return {str(r.group["member"]): r.cost_usd for r in result.rows if r.cost_usd}


def _budget_spent(settings: Settings, name: str) -> Decimal:
    conn = connect(settings.db)
    try:
        states = budgets.budget_status(conn, settings, take_alerts=False).budgets
    finally:
        conn.close()
    return next(s.spent_usd for s in states if s.budget.name == name)


_TABLES = (
    "usage_events",
    "usage_rollup",
    "usage_rollup_day_nosession",
    "rollup_dirty",
    "api_tokens",
    "team_members",
    "budgets",
    "subscriptions",
    "push_senders",
    "team_pushes",
    "otlp_senders",
    "otel_metric_points",
    "forgotten_calls",
    "dashboard_sessions",
)


def _everything(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table that names a member (and the rollup), to compare before and after."""
    conn = connect(settings.db)
    try:
        return {t: sorted(tuple(r) for r in conn.execute(f"SELECT * FROM {t}").fetchall()) for t in _TABLES}
    finally:
        conn.close()


def _naming(settings: Settings, member: str) -> dict[str, int]:
    """Rows naming ``member``, per table (those with none left out)."""
    conn = connect(settings.db)
    try:
        counts = {
            t: int(conn.execute(f"SELECT COUNT(*) FROM {t} WHERE member = ?", (member,)).fetchone()[0])
            for t in _TABLES
            if t not in ("budgets", "rollup_dirty")
        }
        scopes = [str(r[0]) for r in conn.execute("SELECT scope FROM budgets")]
    finally:
        conn.close()
    counts["budgets"] = sum(member in s for s in scopes)
    return {t: n for t, n in counts.items() if n}


def test_a_renamed_member_keeps_their_history_and_their_token_pushes_as_the_new_name(server: Server) -> None:
    _seed(server)
    # Her browser, signed in to the dashboard with her token.
    now_ms = int(time.time() * 1000)
    conn = connect(server.settings.db)
    try:
        who = team_store.DashboardSession("alice-laptop", OLD, "member", now_ms + 3_600_000)
        team_store.open_dashboard_session(conn, "browser-1", server.tokens["alice"], who, now_ms)
    finally:
        conn.close()
    before = _by_member(server.settings)
    assert set(before) == {OLD, BOB} and before[OLD] > 0
    assert _budget_spent(server.settings, "alice") == before[OLD]
    held = _naming(server.settings, OLD)
    assert {
        "usage_events",
        "api_tokens",
        "team_members",
        "budgets",
        "push_senders",
        "otlp_senders",
        "dashboard_sessions",
    } <= set(held)
    everything = _everything(server.settings)

    dry = _rename(OLD, NEW, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"would move {OLD} to {NEW}: 1 budget, 3 calls," in dry.stderr
    kinds = dry.stderr.splitlines()[0].split(": ", 1)[1].split(", ")
    assert "1 token" in kinds and "1 otlp sender" in kinds, kinds  # counted, never "1 tokens"
    assert _everything(server.settings) == everything

    # As typed by a person: the server compares emails lower-cased, and so does the rename.
    done = _rename(" Alice@Old.Example", "ALICE@new.example")
    assert done.returncode == 0, done.stderr
    assert f"moved {OLD} to {NEW}: 1 budget, 3 calls," in done.stderr
    # Her OTel events came with her own token; a fleet's ingest token would name her as Claude Code does.
    assert f"rename-member {OLD} {NEW} --merge` moves what arrived meanwhile" in done.stderr
    assert "note:" not in dry.stderr
    # The CLI rebuilt the rollup of her calls' quarter-hour (11:30, by the clock) before it ended.
    assert "rebuilding the rollup of their 1 quarter-hour," in done.stderr
    assert _dirty_quarter_hours(server.settings.db) == 0

    assert _by_member(server.settings) == {NEW: before[OLD], BOB: before[BOB]}
    assert _naming(server.settings, OLD) == {}
    assert _naming(server.settings, NEW) == held
    assert _budget_spent(server.settings, "alice") == before[OLD]
    conn = connect(server.settings.db)
    try:
        assert team_store.teams(conn) == {"platform": sorted([BOB, NEW])}
        assert {t.name: t.member for t in team_store.list_tokens(conn)} == {
            "alice-laptop": NEW,
            "bob-laptop": BOB,
        }
        signed_in = team_store.dashboard_session(conn, "browser-1", now_ms)
        assert signed_in is not None and signed_in.member == NEW
    finally:
        conn.close()
    _assert_rollup_exact(server.settings.db)

    # Her token goes on working, as the new name: a push and an OTel event land under it.
    assert server.push("alice", [_row("msg_a4", "req_a4", _ms(5))])["changed"] == 1
    server.otlp_call("alice", "req_a5", 4)
    after = _by_member(server.settings)
    assert set(after) == {NEW, BOB} and after[NEW] > before[OLD] and after[BOB] == before[BOB]
    assert _naming(server.settings, OLD) == {}
    _assert_rollup_exact(server.settings.db)


def test_a_rename_that_cannot_be_done_changes_nothing(server: Server) -> None:
    _seed(server)
    everything = _everything(server.settings)

    onto_bob = _rename(OLD, BOB)
    assert onto_bob.returncode == 2
    assert f"{BOB} already has" in onto_bob.stderr and "--merge" in onto_bob.stderr
    same = _rename(OLD, OLD.upper())
    assert same.returncode == 2 and "already named so" in same.stderr
    nobody = _rename("nobody@old.example", NEW)
    assert nobody.returncode == 2
    assert "cost-mcp team list" in nobody.stderr and "cost-mcp token list" in nobody.stderr
    not_an_email = _rename(OLD, "alice")
    assert not_an_email.returncode == 2 and "email address" in not_an_email.stderr
    assert _everything(server.settings) == everything


def test_merging_two_members_sums_their_spend_and_keeps_both_tokens(server: Server) -> None:
    _seed(server)
    server.otlp_call("bob", "req_b2", 10)  # both send OTel events: their receiver's senders fold into one
    before = _by_member(server.settings)

    merged = _rename(OLD, BOB, "--merge")
    assert merged.returncode == 0, merged.stderr
    assert f"{BOB} had already:" in merged.stderr

    assert _by_member(server.settings) == {BOB: before[OLD] + before[BOB]}
    assert _budget_spent(server.settings, "alice") == before[OLD] + before[BOB]
    assert _naming(server.settings, OLD) == {}
    conn = connect(server.settings.db)
    try:
        assert team_store.teams(conn) == {"platform": [BOB]}
        senders = {(s.token_name, s.member) for s in team_store.push_senders(conn)}
        assert senders == {("alice-laptop", BOB), ("bob-laptop", BOB)}
        otlp = conn.execute("SELECT source, agent, member, events FROM otlp_senders").fetchall()
        assert [tuple(r) for r in otlp] == [("claude_code_otel", "claude-code", BOB, 2)]
    finally:
        conn.close()
    _assert_rollup_exact(server.settings.db)
    assert server.push("alice", [_row("msg_a4", "req_a4", _ms(5))])["changed"] == 1
    assert set(_by_member(server.settings)) == {BOB}


def _counted(settings: Settings) -> dict[tuple[str, str], tuple[str, int]]:
    conn = connect(settings.db)
    try:
        rows = conn.execute("SELECT source, message_id, member, counted FROM usage_events").fetchall()
    finally:
        conn.close()
    return {(str(s), str(m)): (str(w), int(c)) for s, m, w, c in rows}


def test_a_merge_counts_a_codex_session_once_when_both_names_held_a_copy(server: Server) -> None:
    # Alice's Codex session reached the server twice: its OTel copy under her old address, its log
    # copy from her laptop under the new one. Two members' copies both count (a member's log copy
    # never takes another's call out of their spend); merged into one member, the log copy alone does.
    conn = connect(server.settings.db)
    try:
        server.tokens["new"] = team_store.create_token(conn, "alice-new-laptop", NEW)
    finally:
        conn.close()
    codex = {"provider": "openai", "model": "gpt-5", "agent": "codex", "session_id": "cx1", "project": "web"}
    server.push("alice", [_row("otel-1", "", _ms(30), source="otel", **codex)])
    server.push("new", [_row("codex-1", "", _ms(30), source="codex", **codex)])
    assert _counted(server.settings) == {("otel", "otel-1"): (OLD, 1), ("codex", "codex-1"): (NEW, 1)}
    both = _by_member(server.settings)
    assert both[OLD] == both[NEW] > 0

    merged = _rename(OLD, NEW, "--merge")
    assert merged.returncode == 0, merged.stderr
    assert _counted(server.settings) == {("otel", "otel-1"): (NEW, 0), ("codex", "codex-1"): (NEW, 1)}
    assert _by_member(server.settings) == {NEW: both[NEW]}
    _assert_rollup_exact(server.settings.db)


def test_a_name_that_is_no_email_nor_account_id_is_refused_saying_what_one_looks_like(server: Server) -> None:
    _seed(server)
    everything = _everything(server.settings)
    for old, new in ((OLD, "a b@x"), (OLD, "@x"), (OLD, "alice@"), ("a b@old.example", NEW), ("al ice", NEW)):
        refused = _rename(old, new)
        assert refused.returncode == 2, (old, new, refused.stderr)
        # The fix, said: what a member's name looks like (an account id only where one is taken).
        assert "an email address such as ana@example.com (one @, no spaces)" in refused.stderr, refused.stderr
        assert ("account id such as user_01abc" in refused.stderr) == (new == NEW), refused.stderr
    assert _everything(server.settings) == everything


def test_a_member_named_by_an_account_id_is_renamed_with_its_case_kept(server: Server) -> None:
    # A fleet's ingest token sends an event with no email: its member is Claude Code's account id,
    # an opaque id the receiver stores as sent (lower-cased it would be another id, or none).
    conn = connect(server.settings.db)
    try:
        server.tokens["fleet"] = team_store.create_token(conn, "fleet", "ops@example.com", "ingest")
    finally:
        conn.close()
    when = datetime.now(UTC) - timedelta(minutes=10)
    event = {"_ns": int(when.timestamp() * 1e9), **_api_request("req_f1", when, Tokens(input=500, output=40))}
    del event["user.email"]
    event["user.account_id"] = "User_01AbC"
    server.otlp("fleet", [event])
    assert set(_by_member(server.settings)) == {"User_01AbC"}

    assert _rename("user_01abc", NEW).returncode == 2  # another id: nothing names it
    done = _rename(" User_01AbC ", NEW)
    assert done.returncode == 0, done.stderr
    assert f"moved User_01AbC to {NEW}: 1 call," in done.stderr
    assert set(_by_member(server.settings)) == {NEW}


def test_what_the_rename_leaves_naming_the_old_member_is_said_with_how_to_change_it(
    server: Server, settings: Settings
) -> None:
    # Alice became Alicia: her admin rights by JWT and the budget named after her keep the old name.
    _seed(server)
    renamed = "alicia@new.example"
    env_file = Path(os.environ["COST_MCP_ENV_FILE"])
    env_file.parent.mkdir(parents=True, exist_ok=True)
    env_file.write_text("COST_MCP_JWT_ADMINS=boss@example.com, Alice@Old.Example\n", encoding="utf-8")
    conn = connect(settings.db)
    try:
        for name in ("malice", "alice-cap"):  # "malice" is not named after her
            budgets.set_budget(conn, name, Decimal(5), "month", BudgetScope(providers=["anthropic"]))
    finally:
        conn.close()

    dry = _rename(OLD, renamed, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    told = " ".join(dry.stderr.split())
    jwt = f"note: COST_MCP_JWT_ADMINS would still name {OLD}: replace {OLD} with {renamed} there ({env_file})"
    assert jwt in told
    assert f"note: budget alice would still name {OLD}: a budget keeps its name" in told
    assert "`cost-mcp budget delete alice-cap`" in told and "malice" not in told

    done = _rename(OLD, renamed, "--json")
    assert done.returncode == 0, done.stderr
    told = " ".join(done.stderr.split())
    assert f"note: COST_MCP_JWT_ADMINS still names {OLD}: replace {OLD} with {renamed} there" in told
    assert "then restart `cost-mcp serve --http`" in told
    said = json.loads(done.stdout)
    assert (said["old"], said["new"], said["dry_run"]) == (OLD, renamed, False)
    assert said["moved"]["calls"] == 3 and said["moved"]["budgets"] == 1
    left = [(x["kind"], x["name"]) for x in said["still_naming_old"]]
    assert left == [("setting", "COST_MCP_JWT_ADMINS"), ("budget", "alice"), ("budget", "alice-cap")]
    assert all(x["fix"] for x in said["still_naming_old"])
    # Said, not done: the env file is the admin's, as it was.
    assert env_file.read_text(encoding="utf-8") == "COST_MCP_JWT_ADMINS=boss@example.com, Alice@Old.Example\n"

    # Set in the environment, it is said to be there; a rename that keeps the name before the @
    # names no budget.
    back = _rename(renamed, "alicia@old.example", COST_MCP_JWT_ADMINS=renamed.upper())
    assert back.returncode == 0, back.stderr
    told = " ".join(back.stderr.split())
    assert "(the environment the team server starts with)" in told
    assert "note: budget" not in told
