"""A laptop's push loop beats when it has nothing to send, so that a team server tells an idle
laptop (its owner used no agent for days) from one that is off with usage unpushed. Every answer
named both as maybe missing usage, a warning admins learnt to ignore. A real server process, real
laptop ledgers and push loops, on both engines."""

from __future__ import annotations

import gzip
import logging
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx2
import msgspec
import pytest
from pydantic import SecretStr

from cost_mcp import push
from cost_mcp.config import Settings
from cost_mcp.store import connect, write_transaction
from tests.web.test_push_stops import held_push
from tests.web.test_team import (
    ADMIN_AND_ANA,
    Laptop,
    _call,
    _cli,
    _env,
    _free_port,
    _laptop,
    _served,
    _spend_by_member,
    _start,
    _stop,
    old_server_env,
)

BEFORE_BEATS = "34562496de365b3ce297d59a4eb7ff13cdd23022"
"""The last commit whose server does not know beats."""


def _pushed(laptop: Laptop, home: Path, base: str, token: str) -> push.PushLoop:
    """``laptop``'s calls pushed (`cost-mcp push`), and its MCP server's push loop, beating at each
    round it has nothing to send (as it would after :data:`push.BEAT_SECONDS`)."""
    done = _cli(laptop.env(home, COST_MCP_TEAM_TOKEN=token), "push", "--server", base)
    assert done.returncode == 0, done.stderr
    own = Settings(db=laptop.db, timezone="UTC", team_server=base, team_token=SecretStr(token))
    loop = push.PushLoop(own, lambda: connect(laptop.db), lambda _wait: True)
    loop.beat_every = 0.0
    return loop


def _set(db: Path | str, column: str, when: datetime, tokens: tuple[str, ...]) -> None:
    """The server's record of ``tokens``' last push or beat moved back to ``when`` (days passing)."""
    with closing(connect(db)) as conn, write_transaction(conn):
        conn.execute(
            f"UPDATE push_senders SET {column} = ? WHERE token_name IN ({', '.join('?' * len(tokens))})",
            (int(when.timestamp() * 1000), *tokens),
        )


def _quiet(warnings: list[str]) -> list[str]:
    return [w for w in warnings if "'s laptop (token " in w]


def test_an_idle_laptop_that_beats_is_not_named_but_one_gone_silent_is(home: Path) -> None:
    holders = [("admin", "boss@example.com", "admin")]
    holders += [(name, f"{name}@example.com", "member") for name in ("ana", "bob", "cy")]
    with _served(home, holders) as team:
        loops: dict[str, push.PushLoop] = {}
        for name in ("ana", "bob", "cy"):
            laptop = _laptop(home, name, f"{name}@example.com", [(f"msg_{name}", f"req_{name}", 100, 10)])
            loops[name] = _pushed(laptop, home, team.base, team.tokens[name])
        budget = _cli(_env(home, team.server_db), "budget", "set", "everyone", "500")
        assert budget.returncode == 0, budget.stderr
        # Nobody used a laptop since four days ago: none pushed since.
        four_days_ago = datetime.now(UTC) - timedelta(days=4)
        _set(team.server_db, "last_ms", four_days_ago, ("ana", "bob", "cy"))
        # Ana's and Bob's run a release that beats; Cy's one from before beats.
        for name in ("ana", "bob"):
            stats = loops[name].once()
            assert stats is not None and (stats.batches, stats.pending) == (0, 0)
        cy = (
            f"cy@example.com's laptop (token cy) has not pushed since {four_days_ago:%Y-%m-%d %H:%M} UTC "
            "(4 days ago): anything it used since then is not in this total (nothing, if nobody used it; "
            "else run `cost-mcp push` on it)"
        )
        # Idle, not off: only the laptop that cannot say so is named, as before.
        assert _quiet(_spend_by_member(team.base, team.tokens["admin"]).structured_content["warnings"]) == [
            cy
        ]

        # Bob's laptop was switched off three days ago: its beats stopped then.
        three_days_ago = datetime.now(UTC) - timedelta(days=3)
        _set(team.server_db, "heard_ms", three_days_ago, ("bob",))

        bob = (
            f"bob@example.com's laptop (token bob) has not been heard from since "
            f"{three_days_ago:%Y-%m-%d %H:%M} UTC (3 days ago): it is off, or cost-mcp on it is not "
            "running or cannot reach this server (running, it says so every few minutes, even with "
            "nothing to send; with no Claude Code open, only when `cost-mcp push` runs: scheduled, e.g. "
            "by cron with --quiet); anything it used since then is not in this total until it pushes"
        )
        answer = _spend_by_member(team.base, team.tokens["admin"])
        assert not answer.is_error, answer.content
        assert _quiet(answer.structured_content["warnings"]) == [bob, cy]
        sources = {s["source"]: s for s in answer.structured_content["sources"] if s["kind"] == "push"}
        assert sources["push:ana"]["status"] == "ok"
        assert "last heard from" in sources["push:ana"]["last_refresh"]
        assert sources["push:bob"]["status"] == "stale" and sources["push:cy"]["status"] == "stale"

        def budget_quiet(token: str) -> list[str]:
            status = anyio.run(_call, team.base, token, "budget_status", {})
            assert not status.is_error, status.content
            return _quiet(status.structured_content["warnings"])

        assert budget_quiet(team.tokens["admin"]) == [bob, cy]
        assert budget_quiet(team.tokens["ana"]) == []
        assert budget_quiet(team.tokens["bob"]) == [bob]

        def team_note(token: str) -> str:
            """QA (h-qateam4): a member's answer gave the team's total with no word that it lacked
            what quiet laptops used, where an admin's named each."""
            warnings = _spend_by_member(team.base, token).structured_content["warnings"]
            [note] = [w for w in warnings if w.startswith("Scoped to your own usage")]
            return str(note.split(" in this period ")[1])

        assert team_note(team.tokens["ana"]) == (
            "(every member, every basis; without what 2 other laptops used since the server last heard "
            "from them, over two days ago)."
        )
        assert team_note(team.tokens["bob"]) == (
            "(every member, every basis; without what 1 other laptop used since the server last heard "
            "from it, over two days ago)."
        )
        shown = _cli(_env(home, team.server_db, COLUMNS="200"), "budget", "status")
        assert shown.returncode == 0, shown.stderr
        assert "bob@example.com's laptop (token bob) has not been heard from" in " ".join(
            shown.stdout.split()
        )
        assert "ana@example.com's laptop" not in shown.stdout

        # Bob's laptop is back and beats: it is not named any more.
        assert loops["bob"].once() is not None
        assert _quiet(_spend_by_member(team.base, team.tokens["admin"]).structured_content["warnings"]) == [
            cy
        ]


def test_beats_are_not_pushes_in_the_history_and_carry_no_usage(home: Path) -> None:
    ana = "ana@example.com"
    with _served(home, ADMIN_AND_ANA) as team:
        laptop = _laptop(home, "ana", ana, [("msg_a", "req_a", 100, 10)])
        loop = _pushed(laptop, home, team.base, team.tokens["ana"])
        server = _env(home, team.server_db)
        before = _cli(server, "team", "pushes")
        assert len(before.stdout.splitlines()) == 1, before.stderr
        for _ in range(5):
            assert loop.once() is not None
        after = _cli(server, "team", "pushes")
        # A beat every few minutes from each laptop would bury the pushes: its last one is said apart.
        assert after.stdout == before.stdout
        assert "ana (ana@example.com): nothing to send, last heard from 20" in after.stderr, after.stderr
        doctor = _cli(server, "doctor", "--json")
        (sender,) = msgspec.json.decode(doctor.stdout)["received_pushes"]
        assert sender["last_heard"] is not None and sender["last_heard"] >= sender["last_push"]

        # A beat is only "nothing to send": one carrying a row is refused, and stores nothing.
        row = {"source": "claude_code", "message_id": "m-beat", "ts_ms": 1_800_000_000_000,
               "provider": "anthropic", "model": "claude-sonnet-4-5", "input_tokens": 5}  # fmt: skip
        refused = httpx2.post(
            f"{team.base}/api/push",
            content=gzip.compress(msgspec.json.encode({"rows": [row], "beat": True})),
            headers={
                "Authorization": f"Bearer {team.tokens['ana']}",
                "Content-Type": "application/json",
                "Content-Encoding": "gzip",
            },
            timeout=30,
        )
        assert refused.status_code == 400 and "a beat carries no rows" in refused.text, refused.text
        with closing(connect(team.server_db)) as conn:
            assert conn.execute(
                "SELECT COUNT(*) FROM usage_events WHERE message_id = 'm-beat'"
            ).fetchone() == (0,)


def test_a_hand_push_with_nothing_new_beats_and_is_no_push_in_the_history(home: Path) -> None:
    """`cost-mcp push` run by hand with nothing new sent an empty push: `team pushes` listed each
    one, and the laptop's last push moved on though nothing came. It now beats (the token is still
    checked), says the server was told the laptop is idle, and only "last heard from" moves."""
    ana = "ana@example.com"
    with _served(home, ADMIN_AND_ANA) as team:
        laptop = _laptop(home, "ana", ana, [("msg_h", "req_h", 100, 10)])
        env = laptop.env(home, COST_MCP_TEAM_TOKEN=team.tokens["ana"])
        first = _cli(env, "push", "--server", team.base)
        assert first.returncode == 0 and "pushed 1 usage rows in 1 batch(es)" in first.stderr, first.stderr
        server = _env(home, team.server_db)
        before = _cli(server, "team", "pushes")
        assert len(before.stdout.splitlines()) == 1, before.stderr

        def sender() -> tuple[int, int | None]:
            with closing(connect(team.server_db)) as conn:
                row = conn.execute(
                    "SELECT last_ms, heard_ms FROM push_senders WHERE token_name = 'ana'"
                ).fetchone()
            assert row is not None
            return int(row[0]), None if row[1] is None else int(row[1])

        pushed_ms, _ = sender()
        for _ in range(2):
            again = _cli(env, "push", "--server", team.base)
            assert again.returncode == 0, again.stderr
            assert again.stderr.splitlines() == [
                "pushed 0 usage rows: nothing new, so the team server was told this laptop is running and "
                "idle (not a push in its history); 0 left"
            ]
        after = _cli(server, "team", "pushes")
        assert after.stdout == before.stdout
        assert "ana (ana@example.com): nothing to send, last heard from 20" in after.stderr, after.stderr
        last_ms, heard_ms = sender()
        assert last_ms == pushed_ms and heard_ms is not None and heard_ms >= pushed_ms
        wrong = _cli({**env, "COST_MCP_TEAM_TOKEN": "cmt_not-a-token"}, "push", "--server", team.base)
        assert wrong.returncode != 0 and "401" in wrong.stderr, wrong.stderr


def test_a_scheduled_quiet_push_says_nothing_unless_something_is_wrong(home: Path) -> None:
    """A laptop where no Claude Code stays open (Codex alone) pushes only when `cost-mcp push` runs,
    so its user schedules it; cron mails whatever a run prints, and every run printed a line.
    `push --quiet` pushes and beats as before and prints nothing; a refused token still says why."""
    ana = "ana@example.com"
    with _served(home, ADMIN_AND_ANA) as team:
        laptop = _laptop(home, "ana", ana, [("msg_q", "req_q", 100, 10)])
        env = laptop.env(home, COST_MCP_TEAM_TOKEN=team.tokens["ana"])
        for _ in range(2):  # the call, then a beat
            quiet = _cli(env, "push", "--server", team.base, "--quiet")
            assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
        with closing(connect(team.server_db)) as conn:
            assert conn.execute(
                "SELECT COUNT(*) FROM usage_events WHERE message_id = 'msg_q'"
            ).fetchone() == (1,)
            heard = conn.execute("SELECT heard_ms FROM push_senders WHERE token_name = 'ana'").fetchone()
            assert heard is not None and heard[0] is not None
        wrong = _cli(
            {**env, "COST_MCP_TEAM_TOKEN": "cmt_not-a-token"}, "push", "--server", team.base, "--quiet"
        )
        assert wrong.returncode != 0 and "401" in wrong.stderr, wrong.stderr


def test_a_laptop_stops_beating_a_server_from_before_beats(
    home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A server from before beats refuses the field (400): the laptop's pushes go on, it stops
    beating that server, and the server is as it was (no history row per beat)."""
    server_db, old_env = old_server_env(home, BEFORE_BEATS)
    made = _cli(old_env, "token", "create", "ana", "--member", "ana@example.com")
    assert made.returncode == 0, made.stderr
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start(old_env, port, home / "old-server.log")
    try:
        laptop = _laptop(home, "ana", "ana@example.com", [("msg_o", "req_o", 100, 10)])
        loop = _pushed(laptop, home, base, made.stdout.strip())
        with caplog.at_level(logging.INFO, logger="cost_mcp.push"):
            for _ in range(3):
                stats: Any = loop.once()
                assert stats is not None and stats.batches == 0
        said = [r.getMessage() for r in caplog.records if "from before beats" in r.getMessage()]
        assert len(said) == 1, caplog.text  # asked once, then not again
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
        with closing(connect(server_db)) as conn:
            assert conn.execute("SELECT COUNT(*) FROM team_pushes").fetchone() == (1,)
        # A hand push with nothing new checks the token with an empty push there, as it always did.
        by_hand = _cli(laptop.env(home, COST_MCP_TEAM_TOKEN=made.stdout.strip()), "push", "--server", base)
        assert by_hand.returncode == 0, by_hand.stderr
        assert "pushed 0 usage rows in 0 batch(es)" in by_hand.stderr, by_hand.stderr
    finally:
        _stop(proc)
    with closing(connect(server_db)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM team_pushes").fetchone() == (2,)


def test_a_laptops_server_exits_at_once_while_its_beat_hangs(home: Path) -> None:
    """A laptop with nothing to push beats; Claude Code stops its server while the team server
    took the beat and never answers: the server exits within seconds, as during a push."""
    # No logs: nothing to push, so the one request is the beat, taken and never answered.
    with held_push(home) as (proc, held):
        assert proc.stdin is not None
        request = held.recv(65536)
        while b"\r\n\r\n" not in request:
            request += held.recv(65536)
        head, body = request.split(b"\r\n\r\n", 1)
        length = int(next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:"))[15:])
        while len(body) < length:
            body += held.recv(65536)
        assert head.startswith(b"POST /api/push ")
        assert msgspec.json.decode(gzip.decompress(body)) == {"rows": [], "beat": True}
        proc.stdin.close()
        # Stop waits 2 s for the push thread, then leaves it: far below the 30 s read timeout.
        code = proc.wait(timeout=15)
    assert code == 0
