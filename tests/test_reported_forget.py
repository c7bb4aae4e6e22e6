"""`cost-mcp reported list` and `reported forget`: the user removes calls agents reported by mistake.

Calls are recorded through the real server (a stdio subprocess, or the in-memory client), forgotten
through the real CLI, on a real SQLite file and a real PostgreSQL database (the ``home`` fixture),
and checked with the tools agents ask: get_spend and budget_status, exact to the nano-dollar.
"""

from __future__ import annotations

import os
import sys
from contextlib import closing
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from pydantic import SecretStr

from cost_mcp import access, push
from cost_mcp.cli import main
from cost_mcp.config import Settings
from cost_mcp.pricing import Pricer
from cost_mcp.store import connect, rollup
from cost_mcp.store.connection import Conn
from tests.sources.claude_logs import assistant, session_file, write
from tests.sources.test_claude_code import assert_rollup_is_rebuilt_from_events, rollup_tables
from tests.test_hostile_input import store_absurd_calls
from tests.test_push_marks import SERVER, Server
from tests.test_server import server_env

# gpt-4o at $2.50 per million input tokens: 400,000 is $1, 4,000,000 (a mistaken count) is $10.
CALL = {"provider": "openai", "model": "gpt-4o", "output_tokens": 0}
ONE_DOLLAR = {**CALL, "input_tokens": 400_000, "agent": "researcher"}
TEN_DOLLARS = {**CALL, "input_tokens": 4_000_000, "agent": "researcher"}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def flat(text: str) -> str:
    """Output with its line folds undone (tables and notes wrap at 80 columns)."""
    return " ".join(text.split())


def _log_call(home: Path, message_id: str) -> None:
    """A Claude Code log line (a log-derived call) a minute ago."""
    ts = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    write(session_file(home / "claude", "s1"), assistant(message_id, "req_log", ts, input=1000, output=100))


def _ledger_rows(conn: Conn) -> list[tuple[Any, ...]]:
    return sorted(tuple(r) for r in conn.execute("SELECT * FROM usage_events"))


async def _spend_and_budget(c: Client) -> tuple[Decimal, Decimal]:
    spend = await c.call_tool("get_spend", {"period": "this_month"})
    status = await c.call_tool("budget_status", {"name": "monthly"})
    assert spend.structured_content is not None and status.structured_content is not None
    return (
        Decimal(str(spend.structured_content["total_usd"])),
        Decimal(str(status.structured_content["budgets"][0]["spent_usd"])),
    )


@pytest.mark.anyio
@pytest.mark.usefixtures("clock")
async def test_a_mistaken_call_recorded_over_stdio_is_forgotten_from_every_total(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An agent reports a $10 call that never happened (and a real $1 one) over a real stdio
    server; the user forgets it by id: get_spend and budget_status drop by exactly $10, the rollup is
    what a rebuild from the events gives, the log-read call that shares its id stays, and the
    budget's 50% alert, fired only by the mistake, fires again when real spend crosses it."""
    _log_call(home, "msg_shared")
    assert run(capsys, "budget", "set", "monthly", "20", "--threshold", "0.5")[0] == 0
    params = StdioServerParameters(command=sys.executable, args=["-m", "cost_mcp"], env=server_env(home))
    async with Client(params) as c:
        real = await c.call_tool("record_usage", {**ONE_DOLLAR, "request_id": "req-real"})
        wrong = await c.call_tool("record_usage", {**TEN_DOLLARS, "request_id": "msg_shared"})
        assert real.structured_content is not None and wrong.structured_content is not None
        assert wrong.structured_content["cost_usd"] == 10
        assert any("passed 50%" in a for a in wrong.structured_content["alerts"])
        spend_before, budget_before = await _spend_and_budget(c)
    logged = spend_before - Decimal(11)
    assert logged > 0 and budget_before == spend_before

    code, out, _ = run(capsys, "reported", "list")
    assert code == 0
    assert [w for w in out.split() if w in ("msg_shared", "req-real")] == ["msg_shared", "req-real"]
    assert "4,000,000" in out and "$10.00" in out

    code, out, err = run(capsys, "reported", "forget", "msg_shared")
    assert (code, err) == (0, "")
    assert "forgot 1 reported call(s), $10.00" in flat(out)
    assert "budget 'monthly': 50% will alert again when crossed" in flat(out)

    async with Client(params) as c:
        spend_after, budget_after = await _spend_and_budget(c)
        assert (spend_after, budget_after) == (spend_before - 10, budget_before - 10)
        # The log-read copy of msg_shared still counts, and the alert fires on the next real crossing.
        again = await c.call_tool("record_usage", {**TEN_DOLLARS, "request_id": "req-real-2"})
        assert again.structured_content is not None
        assert any("passed 50%" in a for a in again.structured_content["alerts"])
    with closing(connect(os.environ["COST_MCP_DB"])) as conn:
        sources = conn.execute("SELECT source FROM usage_events WHERE message_id = 'msg_shared'").fetchall()
        assert [s[0] for s in sources] == ["claude_code"]
        assert_rollup_is_rebuilt_from_events(conn)


@pytest.mark.anyio
@pytest.mark.usefixtures("clock")
async def test_forget_judges_the_thresholds_it_rearms_on_every_log_read(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """50% of a $20 budget fired at $11 (a $10 mistake and a real $1). Before the user forgets the
    mistake, a Claude Code session spent $10.50 in logs no process has read yet: spend after the
    forget is $11.50, still past 50%, so the alert must stay fired, not POST "passed 50%" again."""
    assert run(capsys, "budget", "set", "monthly", "20", "--threshold", "0.5")[0] == 0
    params = StdioServerParameters(command=sys.executable, args=["-m", "cost_mcp"], env=server_env(home))
    async with Client(params) as c:
        await _record(c, "req-real", ONE_DOLLAR)
        wrong = await c.call_tool("record_usage", {**TEN_DOLLARS, "request_id": "req-wrong"})
        assert wrong.structured_content is not None
        assert any("passed 50%" in a for a in wrong.structured_content["alerts"])
    ts = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    write(session_file(home / "claude", "s2"), assistant("m-big", "r-big", ts, session="s2", output=700_000))

    code, out, err = run(capsys, "reported", "forget", "req-wrong")
    assert (code, err) == (0, "")
    assert "forgot 1 reported call(s), $10.00" in flat(out) and "will alert again" not in flat(out)
    async with Client(params) as c:
        status = await c.call_tool("budget_status", {"name": "monthly"})
        assert status.structured_content is not None
        assert status.structured_content["alerts"] == []
        [budget] = status.structured_content["budgets"]
        assert budget["fired_thresholds"] == ["0.5"] and budget["spent_usd"] > 11


async def _record(client: Client, request_id: str, call: dict[str, Any]) -> None:
    result = await client.call_tool("record_usage", {**call, "request_id": request_id})
    assert result.is_error is False


@pytest.mark.anyio
@pytest.mark.usefixtures("clock")
async def test_dry_run_and_a_wrong_id_change_nothing_and_say_what_to_do(
    home: Path, conn: Conn, client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    _log_call(home, "msg_logged")
    assert run(capsys, "ingest")[0] == 0
    await _record(client, "req-a", ONE_DOLLAR)
    await _record(client, "req-b", TEN_DOLLARS)
    before = _ledger_rows(conn), rollup_tables(conn)

    code, out, _ = run(capsys, "reported", "forget", "req-b", "req-a", "--dry-run")
    assert code == 0
    assert "would forget 2 reported call(s), $11.00 (dry run: nothing changed)" in flat(out)
    assert (_ledger_rows(conn), rollup_tables(conn)) == before

    # One unknown id among known ones: nothing is forgotten, and the error says how to find ids.
    code, _, err = run(capsys, "reported", "forget", "req-a", "req-typo")
    assert code == 2
    assert "nothing forgotten: 'req-typo' is no reported call" in flat(err)
    assert "`cost-mcp reported list` shows the ids" in flat(err)
    # A log-read call's id: not this command's, and the error names the one that is.
    code, _, err = run(capsys, "reported", "forget", "msg_logged")
    assert code == 2
    assert "'msg_logged' is a call read from claude_code" in flat(err)
    assert "cost-mcp ingest --forget PATH" in flat(err)
    assert (_ledger_rows(conn), rollup_tables(conn)) == before


@pytest.mark.anyio
@pytest.mark.usefixtures("clock")
async def test_filters_pick_what_list_shows_and_forget_asks_before_removing_them(
    conn: Conn, client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    """A QA run reported calls under its own agent name (with an escape sequence in it): list shows
    them escaped, and forget with the same filters removes exactly them, after --yes."""
    qa = {**ONE_DOLLAR, "agent": "qa\x1b[2Jbot"}
    for i in range(3):
        await _record(client, f"qa-{i}", qa)
    await _record(client, "keep", ONE_DOLLAR)

    code, out, _ = run(capsys, "reported", "list", "--agent", "qa\x1b[2Jbot", "--period", "today")
    assert code == 0 and "\x1b" not in out
    assert out.count("qa\\x1b[2Jbot") == 3 and "keep" not in out
    code, out, _ = run(capsys, "reported", "list", "--limit", "1", "--json")
    assert code == 0 and '"matching": 4' in out and "showing the newest 1 of 4" in out

    # Filters without --yes and no terminal to ask on: refused, nothing removed.
    code, _, err = run(capsys, "reported", "forget", "--agent", "qa\x1b[2Jbot")
    assert code == 2 and "pick 3 reported call(s) ($3.00): add --yes" in flat(err)
    assert conn.execute("SELECT COUNT(*) FROM usage_events").fetchone()[0] == 4
    code, _, err = run(capsys, "reported", "forget", "keep", "--agent", "bot")
    assert code == 2 and "give IDs or --agent" in err
    code, _, err = run(capsys, "reported", "forget")
    assert code == 2 and "say which calls to forget" in err

    code, out, _ = run(capsys, "reported", "forget", "--agent", "qa\x1b[2Jbot", "--yes", "--json")
    assert code == 0
    assert '"dry_run": false' in out and out.count('"id": "qa-') == 3 and '"total_usd": 3.0' in out
    left = [r[0] for r in conn.execute("SELECT message_id FROM usage_events")]
    assert left == ["keep"]
    spend = await client.call_tool("get_spend", {"period": "today"})
    assert spend.structured_content is not None and spend.structured_content["total_usd"] == 1
    assert_rollup_is_rebuilt_from_events(conn)


@pytest.mark.anyio
async def test_a_floor_past_any_stored_amount_picks_nothing_rather_than_a_traceback(
    client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--min-cost 1e400` or `--min-tokens` past 64 bits: SQLite refused the number (an
    OverflowError traceback); no call holds that much, so nothing is picked."""
    await _record(client, "big", ONE_DOLLAR)
    for floor in (["--min-cost", "1e400"], ["--min-tokens", "99999999999999999999"]):
        code, out, err = run(capsys, "reported", "list", *floor)
        assert (code, err) == (0, "") and "No reported calls match" in out
        code, out, err = run(capsys, "reported", "forget", *floor, "--dry-run")
        assert code == 0 and "Traceback" not in err and "no reported call matches" in flat(out + err)
    code, out, _ = run(capsys, "reported", "list", "--min-cost", "1")
    assert code == 0 and "big" in out


def test_a_team_admin_forgets_a_members_pushed_call_on_the_server(
    settings: Settings, conn: Conn, capsys: pytest.CaptureFixture[str]
) -> None:
    """On a team server, members' reported calls arrive by push under their member: the admin lists
    them by member and forgets one by id on the server's ledger; the member's spend drops exactly."""
    from cost_mcp.analytics import spend
    from cost_mcp.analytics.spend import Filters

    now_ms = int(datetime.now(UTC).timestamp() * 1000) - 60_000

    def row(mid: str, tokens: int) -> push.WireRow:
        return push.WireRow(
            source="record_usage", message_id=mid, ts_ms=now_ms, provider="openai", model="gpt-4o",
            input_tokens=tokens, agent="researcher",
        )  # fmt: skip

    for member, rows in {
        "ana@example.com": [row("ana-real", 400_000), row("ana-wrong", 40_000_000)],
        "bob@example.com": [row("bob-real", 400_000)],
    }.items():
        push.receive(conn, Pricer(), access.Caller(member, "member", member), rows)

    def ana_spend() -> Decimal:
        p = spend.resolve(settings, "last_7_days", None, None, None)
        answer = spend.get_spend(conn, settings, p, (), Filters(members=["ana@example.com"]))
        return answer.total_usd

    assert ana_spend() == 101
    code, out, _ = run(capsys, "reported", "list", "--member", "ANA@example.com")
    assert code == 0 and "member" in out and "ana-wrong" in out and "bob-real" not in out
    code, out, _ = run(capsys, "reported", "forget", "ana-wrong")
    assert code == 0 and "forgot 1 reported call(s), $100.00" in flat(out)
    assert ana_spend() == 1
    assert {r[0] for r in conn.execute("SELECT message_id FROM usage_events")} == {"ana-real", "bob-real"}
    assert_rollup_is_rebuilt_from_events(conn)


def test_an_admins_forget_of_a_call_a_member_forgot_says_who_forgot_it_and_when(
    conn: Conn, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ana's laptop pushed her $100 mistake, then its forget: the admin, forgetting it on the server
    too, was told "'ana-wrong' was forgotten already", as if by their own hand. Now the error says
    ana forgot it, by her laptop's push, and when."""
    from cost_mcp.store.reported import ForgetChange

    ana = access.Caller("ana@example.com", "member", "ana@example.com")
    now_ms = int(datetime.now(UTC).timestamp() * 1000) - 60_000
    wrong = push.WireRow(source="record_usage", message_id="ana-wrong", ts_ms=now_ms, provider="openai",
                         model="gpt-4o", input_tokens=40_000_000, agent="researcher")  # fmt: skip
    push.receive(conn, Pricer(), ana, [wrong])
    before = datetime.now(UTC).replace(microsecond=0)
    push.receive(conn, Pricer(), ana, [], forgets=[ForgetChange(("record_usage", "ana-wrong", "", 0), False)])
    code, _, err = run(capsys, "reported", "forget", "ana-wrong")
    assert code == 2
    said = flat(err)
    assert "'ana-wrong' was forgotten already, by ana@example.com (their laptop's push) at " in said, said
    when = datetime.fromisoformat(said.split("(their laptop's push) at ")[1].split()[0])
    assert before <= when <= datetime.now(UTC)
    assert "(`cost-mcp reported unforget ana-wrong` undoes that)" in said


@pytest.mark.anyio
@pytest.mark.usefixtures("clock")
async def test_a_call_forgotten_after_it_was_pushed_is_not_pushed_again(
    conn: Conn, settings: Settings, client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    """A laptop forgets a call it pushed already: its next push, and a full one, do not send it
    (the server's copy stays until an admin forgets it there)."""
    laptop = settings.model_copy(update={"team_server": SERVER, "team_token": SecretStr("cmt_test")})
    server = Server()
    for i in range(3):
        await _record(client, f"req-{i}", ONE_DOLLAR)
    push.push(conn, laptop, send=server)
    assert sorted(m for m, _ in server.take()) == ["req-0", "req-1", "req-2"]
    # The newest row (the top id, which SQLite would hand out again) and an older one.
    assert run(capsys, "reported", "forget", "req-2", "req-0")[0] == 0
    await _record(client, "req-3", ONE_DOLLAR)
    push.push(conn, laptop, send=server)
    assert [m for m, _ in server.take()] == ["req-3"]
    push.push(conn, laptop, send=server, full=True)
    assert sorted(m for m, _ in server.take()) == ["req-1", "req-3"]


@pytest.mark.anyio
async def test_a_ledger_of_billions_from_a_record_usage_flood_is_mended_without_dropping_it(
    conn: Conn, settings: Settings, client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    """QA's flood put ~$12 billion into one quarter-hour: its calls were left out of every answer
    with a warning, and dropping the ledger was the only fix. Now the user finds and forgets them,
    and every answer is whole and exact again."""
    store_absurd_calls(settings, [datetime.now(UTC) - timedelta(minutes=30)] * 3)
    await _record(client, "real", ONE_DOLLAR)
    spend = await client.call_tool("get_spend", {"period": "last_7_days"})
    assert spend.structured_content is not None
    assert rollup.TOO_LARGE_WARNING in spend.structured_content["warnings"]
    assert "`cost-mcp reported forget`" in rollup.TOO_LARGE_WARNING

    code, out, _ = run(capsys, "reported", "list", "--min-cost", "1000000")
    assert code == 0 and out.count("absurd") == 3 and "real" not in out
    code, out, _ = run(capsys, "reported", "forget", "--min-cost", "1000000", "--yes")
    assert code == 0 and "forgot 3 reported call(s), $12,000,000,000.00" in flat(out)
    spend = await client.call_tool("get_spend", {"period": "last_7_days"})
    assert spend.structured_content is not None
    assert spend.structured_content["total_usd"] == 1
    assert rollup.TOO_LARGE_WARNING not in spend.structured_content["warnings"]
    assert_rollup_is_rebuilt_from_events(conn)


@pytest.mark.anyio
@pytest.mark.usefixtures("clock")
async def test_a_forgotten_call_reported_again_stays_forgotten_until_unforgotten(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The agent's retry of a call the user forgot (the same request id, over a real stdio server)
    is not recorded: its result says so, and get_spend and budget_status stay as the forget left
    them. `reported list --forgotten` shows it; once unforgotten, the next report counts it again."""
    assert run(capsys, "budget", "set", "monthly", "100")[0] == 0
    params = StdioServerParameters(command=sys.executable, args=["-m", "cost_mcp"], env=server_env(home))
    async with Client(params) as c:
        await _record(c, "req-real", ONE_DOLLAR)
        await _record(c, "req-wrong", TEN_DOLLARS)
    assert run(capsys, "reported", "forget", "req-wrong")[0] == 0

    async with Client(params) as c:
        before = await _spend_and_budget(c)
        again = await c.call_tool("record_usage", {**TEN_DOLLARS, "request_id": "req-wrong"})
        assert again.is_error is False and again.structured_content is not None
        assert again.structured_content["recorded"] is False
        assert again.structured_content["forgotten"] is True
        assert any(
            "'req-wrong' was forgotten by the user" in w and "not counted" in w
            for w in again.structured_content["warnings"]
        )
        assert again.structured_content["budgets"][0]["remaining_after_usd"] == 100 - before[1]
        assert await _spend_and_budget(c) == before
    assert before[0] == before[1] == 1
    with closing(connect(os.environ["COST_MCP_DB"])) as conn:
        assert [r[0] for r in conn.execute("SELECT message_id FROM usage_events")] == ["req-real"]
        assert_rollup_is_rebuilt_from_events(conn)

    code, out, _ = run(capsys, "reported", "list", "--forgotten")
    assert code == 0 and "req-wrong" in out and "req-real" not in out and "$10.00" in out
    code, out, _ = run(capsys, "reported", "list")
    assert code == 0 and "req-wrong" not in out
    # Forgetting it again changes nothing, and the error says how to undo the first forget.
    code, _, err = run(capsys, "reported", "forget", "req-wrong")
    assert code == 2
    assert "'req-wrong' was forgotten already, here at 20" in flat(err)
    assert "(`cost-mcp reported unforget req-wrong` undoes that)" in flat(err)

    code, _, err = run(capsys, "reported", "unforget", "req-wrong", "req-typo")
    assert code == 2 and "nothing unforgotten: 'req-typo' is no forgotten call" in flat(err)
    code, out, _ = run(capsys, "reported", "unforget", "req-wrong")
    assert code == 0 and "unforgot 1 reported call(s), $10.00" in flat(out)
    assert "the next time its agent reports the id" in flat(out)
    code, out, _ = run(capsys, "reported", "list", "--forgotten", "--json")
    assert code == 0 and '"matching": 0' in out
    async with Client(params) as c:
        third = await c.call_tool("record_usage", {**TEN_DOLLARS, "request_id": "req-wrong"})
        assert third.structured_content is not None
        assert (third.structured_content["recorded"], third.structured_content["forgotten"]) == (True, False)
        assert await _spend_and_budget(c) == (before[0] + 10, before[1] + 10)


def test_a_laptop_pushing_while_the_admin_forgets_never_brings_the_call_back(
    settings: Settings, conn: Conn
) -> None:
    """A laptop keeps pushing a mistaken $10 call (push --full in a loop, on its own connection)
    while the admin forgets it on the server: whichever takes the write lock first, the call ends
    forgotten, every push after the forget is acked as forgotten, and the total is the real $1."""
    import threading

    from cost_mcp.analytics import reported as reported_calls
    from cost_mcp.analytics import spend
    from cost_mcp.store.reported import Selection

    now_ms = int(datetime.now(UTC).timestamp() * 1000) - 60_000
    caller = access.Caller("ana@example.com", "member", "ana")

    def row(mid: str, tokens: int) -> push.WireRow:
        return push.WireRow(
            source="record_usage", message_id=mid, ts_ms=now_ms, provider="openai", model="gpt-4o",
            input_tokens=tokens, agent="researcher",
        )  # fmt: skip

    batch = [row("real", 400_000), row("wrong", 4_000_000)]
    push.receive(conn, Pricer(), caller, batch)
    pushed, forgot = threading.Event(), threading.Event()
    after: list[push.PushAnswer] = []

    def laptop() -> None:
        with closing(connect(settings.db)) as own:
            while len(after) < 3:
                done = forgot.is_set()  # read before the push: this push starts after the forget
                answer = push.receive(own, Pricer(), caller, batch)
                pushed.set()
                if done:
                    after.append(answer)

    pushing = threading.Thread(target=laptop)
    pushing.start()
    assert pushed.wait(60)
    with closing(connect(settings.db)) as admin:
        assert [c.id for c in reported_calls.forget(admin, settings, Selection(ids=["wrong"])).forgotten] == [
            "wrong"
        ]
    forgot.set()
    pushing.join(120)
    assert not pushing.is_alive()
    assert [r[0] for r in conn.execute("SELECT message_id FROM usage_events")] == ["real"]
    assert [(a.accepted, a.changed, a.forgotten) for a in after] == [(2, 0, 1)] * 3
    p = spend.resolve(settings, "last_7_days", None, None, None)
    assert spend.get_spend(conn, settings, p, (), spend.Filters()).total_usd == 1
    assert_rollup_is_rebuilt_from_events(conn)


def test_the_forgets_waiting_for_the_team_server_are_each_calls_latest_and_dated(conn: Conn) -> None:
    """What `cost-mcp doctor` shows waiting: a call forgotten then unforgotten waits as one unforget
    (what the next push sends), dated by the oldest change not acknowledged; nothing once acked."""
    from cost_mcp.pricing import Tokens
    from cost_mcp.sources.reported import record_call
    from cost_mcp.store import reported as reported_store
    from cost_mcp.store import team as team_store

    for request_id in ("req-a", "req-b", "req-c"):
        record_call(conn, Pricer(), provider="openai", model="gpt-4o", tokens=Tokens(input=10), agent="x",
                    request_id=request_id)  # fmt: skip
    assert reported_store.forget_backlog(conn, 0) == reported_store.ForgetBacklog(0, 0, None)
    reported_store.delete(conn, ["req-a", "req-b"], 1_000)
    reported_store.unforget(conn, ["req-a"], 2_000)
    reported_store.delete(conn, ["req-c"], 3_000)
    assert reported_store.forget_backlog(conn, 0) == reported_store.ForgetBacklog(2, 1, 1_000)
    key = team_store.server_key(SERVER)
    seq = reported_store.top_forget_seq(conn)
    team_store.save_push_mark(conn, key, 0, 0, 0, None, seq - 1)  # all but req-c's forget acked
    assert reported_store.forget_backlog(conn, team_store.push_mark(conn, key).forget_seq) == (
        reported_store.ForgetBacklog(1, 0, 3_000)
    )
    assert reported_store.forget_backlog(conn, seq) == reported_store.ForgetBacklog(0, 0, None)
