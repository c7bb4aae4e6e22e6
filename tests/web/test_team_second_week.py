"""A team's server in its second week, through a real server process on both engines: what members
see of their own OTel metrics, what a member's note says of the team, and what `doctor` lists."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import Counter, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from cost_mcp import push
from cost_mcp.money import format_usd
from cost_mcp.pricing import Tokens
from cost_mcp.store import connect
from tests import servers
from tests.sources.claude_logs import assistant, session_file, write
from tests.web.test_otel_receiver import HAIKU, SONNET, _ago, _api_request, _send_logs, arrived
from tests.web.test_team import (
    TEAM,
    Laptop,
    Team,
    _call,
    _cli,
    _env,
    _free_port,
    _iso,
    _laptop,
    _made_server_ledger,
    _served,
    _spend_by_member,
    _start,
    _stop,
    _tokens,
    _total,
)


@pytest.fixture
def team(home: Path, sqlite_template: Path) -> Iterator[Team]:
    """test_team's: a server of its own with an admin's and three members' tokens."""
    with _served(home, TEAM, _made_server_ledger(home, sqlite_template)) as served:
        yield served


def _metrics(team: Team, token: str, session: str, tokens: int) -> None:
    """Claude Code's token counter for ``session``, sent once with ``token`` by the OTel SDK."""
    exporter = OTLPMetricExporter(
        endpoint=f"{team.base}/v1/metrics",
        headers={"Authorization": f"Bearer {token}"},
        preferred_temporality={Counter: AggregationTemporality.DELTA},
    )
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    meters = MeterProvider(resource=Resource.create({"service.name": "claude-code"}), metric_readers=[reader])
    counter = meters.get_meter("com.anthropic.claude_code").create_counter("claude_code.token.usage")
    counter.add(tokens, {"session.id": session, "type": "input", "model": SONNET})
    meters.shutdown()


def _warnings(team: Team, token: str, **args: Any) -> list[str]:
    answer = anyio.run(_call, team.base, token, "get_spend", {"period": "last_7_days", **args})
    assert not answer.is_error, answer.content
    return list(answer.structured_content["warnings"])


def _gaps(team: Team, token: str, **args: Any) -> list[str]:
    return sorted(w.split(":")[0] for w in _warnings(team, token, **args) if "OTel metrics" in w)


def test_a_member_whose_events_never_arrived_is_told_what_their_metrics_say(team: Team) -> None:
    """Bob's Claude Code sent its metrics but none of its events (a logs exporter not set): the
    admin was warned that session's metrics report more than the events received, Bob himself was
    not, though the usage missing from his answer is his. A session whose events arrived only in
    part was likewise his to be told of. Now the points record the token's member."""
    _metrics(team, team.tokens["bob"], "bob-metrics-only", 7_000)
    call = _api_request("req_bob", _ago(10), Tokens(input=100, output=10), **{"session.id": "bob-some"})
    _send_logs(team.base, [call], token=team.tokens["bob"])
    _metrics(team, team.tokens["bob"], "bob-some", 5_000)
    bobs = ["Claude Code session bob-metrics-only", "Claude Code session bob-some"]
    assert _gaps(team, team.tokens["admin"]) == bobs
    assert _gaps(team, team.tokens["bob"]) == bobs
    assert _gaps(team, team.tokens["admin"], members=["bob@example.com"]) == bobs
    # Nobody else is told of Bob's sessions, nor is an admin's answer about someone else.
    assert _gaps(team, team.tokens["ana"]) == []
    assert _gaps(team, team.tokens["admin"], members=["ana@example.com"]) == []


def test_a_members_note_of_the_team_total_says_their_filters_are_not_applied_to_it(team: Team) -> None:
    """Ana asked for her spend on Haiku: her answer was her Haiku calls, and its note "the whole
    team spent $X in this period (every member, every basis)" was of every model, with nothing
    saying so: read beside her figure, it was the team's Haiku spend. The team's total stays whole
    (narrowed by a session or agent filter it would be a colleague's detail), and the note says the
    filters are hers only."""
    one = Tokens(input=200_000, output=20_000)
    _send_logs(
        team.base,
        [_api_request("req_a1", _ago(10), one), _api_request("req_a2", _ago(9), one, model=HAIKU)],
        token=team.tokens["ana"],
    )
    _send_logs(team.base, [_api_request("req_b1", _ago(8), one)], token=team.tokens["bob"])
    admins = anyio.run(_call, team.base, team.tokens["admin"], "get_spend", {"period": "last_7_days"})
    total = Decimal(str(admins.structured_content["total_usd"]))
    assert total > 0
    whole = format_usd(total)
    [note] = [w for w in _warnings(team, team.tokens["ana"], models=[HAIKU]) if "whole team" in w]
    assert f"the whole team spent {whole} in this period" in note, note
    assert "not narrowed by your filters (model): they apply to your own usage" in note, note
    [both] = [
        w
        for w in _warnings(team, team.tokens["ana"], models=[HAIKU], projects=["x"], basis=["estimated"])
        if "whole team" in w
    ]
    assert "not narrowed by your filters (model, project, basis)" in both, both
    [plain] = [w for w in _warnings(team, team.tokens["ana"]) if "whole team" in w]
    assert plain == (
        f"Scoped to your own usage (ana@example.com); the whole team spent {whole} in this period "
        "(every member, every basis)."
    )


def test_doctor_hears_a_laptop_that_sent_last_weeks_calls_today(team: Team, home: Path) -> None:
    """Cy's laptop was off for a week; back today, its Claude Code sent the calls it had queued,
    all dated eight to ten days ago. Doctor listed who sent OTLP by the calls' times: Cy read as
    "otlp quiet ... none in the last 7 days (their telemetry stopped ...)" the moment his telemetry
    arrived. The lists are by arrival now (the receiver's record of its senders, m041)."""
    day = 24 * 60
    one = Tokens(input=10, output=5)
    old = [_api_request(f"req_cy{i}", _ago((8 + i) * day), one) for i in range(3)]
    _send_logs(team.base, old, token=team.tokens["cy"])
    doctor = json.loads(_cli(_env(home, team.server_db), "doctor", "--json").stdout)
    assert [(s["member"], s["events"]) for s in doctor["otel_senders"]] == [("cy@example.com", 3)]
    assert datetime.fromisoformat(doctor["otel_senders"][0]["last_event"]) > _ago(2)
    assert doctor["otel_quiet"] == []
    silent = {t["token_name"]: t["otel_calls"] for t in doctor["never_pushed"]}
    assert silent["cy"] == 3
    # A week on with nothing more received, he is quiet, by the same record.
    arrived(team.server_db, "cy@example.com", _ago(9 * day))
    later = json.loads(_cli(_env(home, team.server_db), "doctor", "--json").stdout)
    assert later["otel_senders"] == []
    assert [(s["member"], s["events"]) for s in later["otel_quiet"]] == [("cy@example.com", 3)]


def test_a_removed_members_usage_stays_in_the_admins_totals_and_says_they_were_removed(
    team: Team, home: Path
) -> None:
    """Bob left and his token was revoked: what he pushed still counts (the team's spend that
    month is what it was), but the admin's answer by member showed his row like any other's, with
    nothing saying he is gone; only the `push:bob` source, among the others, said "revoked". The
    answer now says so beside his row. A member whose token was rotated (a new one live) is not
    removed, and is not said to be."""
    laptops = {
        name: _laptop(
            home,
            name,
            f"{name}@example.com",
            [(f"msg_{name}{i}", f"req_{name}{i}", 900 + i, 40) for i in range(5)],
        )
        for name in ("ana", "bob")
    }
    for name, laptop in laptops.items():
        done = _cli(laptop.env(home, COST_MCP_TEAM_TOKEN=team.tokens[name]), "push", "--server", team.base)
        assert done.returncode == 0, done.stderr
    admin = _env(home, team.server_db)
    for revoked in ("bob", "ana"):
        assert _cli(admin, "token", "revoke", revoked).returncode == 0
    assert _cli(admin, "token", "create", "ana-2", "--member", "Ana@Example.com").returncode == 0
    answer = _spend_by_member(team.base, team.tokens["admin"])
    assert not answer.is_error, answer.content
    rows = {r["group"]["member"]: Decimal(str(r["cost_usd"])) for r in answer.structured_content["rows"]}
    expected = {laptop.member: _total(laptop.db) for laptop in laptops.values()}
    assert rows == expected
    assert Decimal(str(answer.structured_content["total_usd"])) == sum(expected.values())
    removed = [w for w in answer.structured_content["warnings"] if "removed from the team" in w]
    assert removed == [
        "bob@example.com has no live token (each one made for them is revoked: removed from the team): "
        "their usage until then still counts in this answer"
    ]
    # Asked about him alone, the same; an answer that shows no member of his says nothing of him.
    alone = _spend_by_member(team.base, team.tokens["admin"], members=["bob@example.com"])
    assert [w for w in alone.structured_content["warnings"] if "removed from the team" in w] == removed
    total = anyio.run(_call, team.base, team.tokens["admin"], "get_spend", {"period": "last_7_days"})
    assert not [w for w in total.structured_content["warnings"] if "removed from the team" in w]


def test_a_reinstalled_laptop_pushing_its_whole_history_again_counts_it_once(team: Team, home: Path) -> None:
    """Ana's laptop was re-installed: a new ledger (no marks of what it pushed), a new token made for
    her with her email typed otherwise, the same Claude Code logs and one call more. Its first push
    sends her whole history again: every call counts once, none is refused as another member's, and
    the old token, revoked, is no laptop gone quiet."""
    calls = [(f"msg_a{i}", f"req_a{i}", 700 + i, 30) for i in range(12)]
    first = _laptop(home, "ana", "ana@example.com", calls)
    done = _cli(first.env(home, COST_MCP_TEAM_TOKEN=team.tokens["ana"]), "push", "--server", team.base)
    assert done.returncode == 0, done.stderr
    admin = _env(home, team.server_db)
    made = _cli(admin, "token", "create", "ana-2", "--member", " Ana@Example.COM")
    assert made.returncode == 0, made.stderr
    assert _cli(admin, "token", "revoke", "ana").returncode == 0
    again = _laptop(home, "ana", "ana@example.com", [*calls, ("msg_new", "req_new", 5_000, 100)])
    reinstalled = Laptop(again.member, home / "ana-reinstalled" / "cost.db", again.claude, again.logged_at)
    done = _cli(reinstalled.env(home, COST_MCP_TEAM_TOKEN=made.stdout.strip()), "push", "--server", team.base)
    assert done.returncode == 0, done.stderr
    assert "pushed 13 usage rows in 1 batch(es), 1 new or grown on the server; 0 left" in done.stderr
    assert _total(team.server_db, members=["ana@example.com"]) == _total(reinstalled.db) > _total(first.db)
    pushes = _cli(admin, "team", "pushes").stdout.splitlines()
    assert [line.split("\t")[1:] for line in pushes] == [
        ["ana-2", "ana@example.com", "13 row(s)", "1 new or grown", "0 refused", "0 forgotten"],
        ["ana", "ana@example.com", "12 row(s)", "12 new or grown", "0 refused", "0 forgotten"],
    ]
    # Ana's token was rotated, not removed: nothing says she left.
    answer = _spend_by_member(team.base, team.tokens["admin"])
    assert not [w for w in answer.structured_content["warnings"] if "removed from the team" in w]


def test_a_server_killed_mid_push_and_started_again_counts_every_call_once(
    home: Path, sqlite_template: Path
) -> None:
    """The team server was killed (an upgrade, the host restarting) while a laptop pushed a large
    history in batches: the batches it had stored stay, the one in flight is sent again once it is
    back, and every call counts once."""
    db = _made_server_ledger(home, sqlite_template)
    tokens = _tokens(db, TEAM)
    port = _free_port()
    env = _env(home, db, COST_MCP_PRICES_FILE=str(home / "prices.toml"))
    log = home / "server.log"
    proc = _start(env, port, log)
    base = f"http://127.0.0.1:{port}"
    n = 4 * push.BATCH_ROWS + 500
    laptop = _laptop(
        home, "ana", "ana@example.com", [(f"msg_{i}", f"req_{i}", 100 + i, 10) for i in range(n)]
    )
    try:
        assert _cli(laptop.env(home), "ingest").returncode == 0
        pushing = servers.begin(
            ["push", "--server", base], laptop.env(home, COST_MCP_TEAM_TOKEN=tokens["ana"])
        )
        while _stored_pushes(db) == 0:
            time.sleep(0.02)
        proc.kill()
        proc.wait(timeout=10)
        stored = _stored_pushes(db)
        assert 0 < stored < 5, stored  # killed mid-push: some batches stored, not all
        proc = _start(env, port, log)
        done = pushing.result(300)  # it waited for the server, and went on once it was back
        assert done.returncode == 0, done.stderr
        assert f"pushed {n:,} usage rows in 5 batch(es)" in done.stderr and "; 0 left" in done.stderr
        assert _total(db, members=["ana@example.com"]) == _total(laptop.db) > 0
        with closing(connect(db)) as conn:
            assert conn.execute("SELECT COUNT(*) FROM usage_events").fetchone() == (n,)
    finally:
        _stop(proc)


def _stored_pushes(db: Path | str) -> int:
    """The batches a team server's ledger has stored (its push history)."""
    with closing(connect(db)) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM team_pushes").fetchone()[0])


def test_a_members_monthly_budget_follows_the_teams_timezone_across_the_month_boundary(
    home: Path, sqlite_template: Path
) -> None:
    """A team in Auckland (UTC+13 in summer): the month starts there at 11:00 UTC the day before.
    Ana's laptop keeps UTC; a call of hers a minute before that instant is last month's, one a minute
    after is this month's, in her budget for the admin and for her, and in her own answer for this
    month. The budget was set with her email pasted with a space before it: kept so, it was a member
    no call names, and Ana was told "no budget counts ana@example.com's spend yet"."""
    zone = ZoneInfo("Pacific/Auckland")
    now = datetime.now(zone)
    boundary = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if now - boundary < timedelta(minutes=5):  # the month's first minutes: the call after is not made yet
        boundary = (boundary - timedelta(days=1)).replace(day=1)
    at = [boundary - timedelta(minutes=1), boundary + timedelta(minutes=1)]
    db = _made_server_ledger(home, sqlite_template)
    tokens = _tokens(db, TEAM)
    port = _free_port()
    env = _env(home, db, COST_MCP_TIMEZONE="Pacific/Auckland", COST_MCP_PRICES_FILE=str(home / "prices.toml"))
    proc = _start(env, port, home / "server.log")
    base = f"http://127.0.0.1:{port}"
    try:
        claude = home / "ana" / "claude"
        lines = [
            assistant(
                f"msg_{i}", f"req_{i}", _iso(t.astimezone(UTC)), session="s1", input=100_000, output=10_000
            )
            for i, t in enumerate(at)
        ]
        write(session_file(claude, "s1", project="-home-ana-p"), *lines)
        laptop = Laptop("ana@example.com", home / "ana" / "cost.db", claude)
        budget = {"name": "ana-month", "amount_usd": 100, "period": "month", "members": [" Ana@Example.COM"]}
        made = anyio.run(_call, base, tokens["admin"], "set_budget", budget)
        assert not made.is_error, made.content
        # Kept as her tokens keep her: " ana@example.com" was no member, and her budget not hers.
        assert made.structured_content["scope"]["members"] == ["ana@example.com"]
        assert made.structured_content["warnings"] == []
        done = _cli(laptop.env(home, COST_MCP_TEAM_TOKEN=tokens["ana"]), "push", "--server", base)
        assert done.returncode == 0, done.stderr
        days = {"start": at[0].date().isoformat(), "end": at[1].date().isoformat(), "group_by": ["day"]}
        both = anyio.run(_call, base, tokens["admin"], "get_spend", days).structured_content
        costs = {r["group"]["day"]: Decimal(str(r["cost_usd"])) for r in both["rows"]}
        one_call = costs[at[1].date().isoformat()]
        assert costs == {at[0].date().isoformat(): one_call, at[1].date().isoformat(): one_call}
        assert one_call > 0
        for token in (tokens["admin"], tokens["ana"]):
            status = anyio.run(_call, base, token, "budget_status", {})
            assert not status.is_error, status.content
            [state] = status.structured_content["budgets"]
            assert (state["first_day"], state["timezone"]) == (
                boundary.date().isoformat(),
                "Pacific/Auckland",
            )
            assert Decimal(str(state["spent_usd"])) == one_call
        mine = anyio.run(
            _call, base, tokens["ana"], "get_spend", {"period": "this_month", "group_by": ["day"]}
        )
        assert [r["group"]["day"] for r in mine.structured_content["rows"]] == [boundary.date().isoformat()]
        assert Decimal(str(mine.structured_content["total_usd"])) == one_call
    finally:
        _stop(proc)
