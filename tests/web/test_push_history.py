"""A team server's push history: a row per push it took, kept 30 days, shown by `cost-mcp team
pushes`. It was written for every batch, read by nothing and never deleted (millions of rows a year
for a team). A real server process, real laptops pushing through the real CLI, on both engines."""

from __future__ import annotations

import time
from contextlib import closing
from pathlib import Path

import pytest

from cost_mcp import push
from cost_mcp.access import Caller
from cost_mcp.config import Settings
from cost_mcp.pricing import Pricer
from cost_mcp.store import connect, write_transaction
from cost_mcp.store import team as team_store
from cost_mcp.store.connection import Conn
from tests.store.test_migrations import _ledger_before
from tests.web.test_team import _cli, _env, _laptop, _served

DAY_MS = 86_400_000
_INSERT = "INSERT INTO team_pushes (token_name, member, received_ms, events, changed) VALUES (?, ?, ?, ?, ?)"


def _aged(db: Path | str, count: int, days: int) -> None:
    """``count`` pushes received ``days`` ago, from a token long gone."""
    at = int(time.time() * 1000) - days * DAY_MS
    with closing(connect(db)) as conn, write_transaction(conn):
        conn.executemany(
            _INSERT,
            [("old-laptop", "old@example.com", at - i, 1, 1) for i in range(count)],
        )


def _count(db: Path | str, where: str = "true") -> int:
    with closing(connect(db)) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM team_pushes WHERE {where}").fetchone()[0])


def test_an_admin_sees_who_pushed_what_and_old_pushes_go(home: Path) -> None:
    ana, bob = "ana@example.com", "bob@example.com"
    calls = [(f"m{i}", f"req-{i}", 1000, 100) for i in range(3)]
    holders = [("admin", "boss@example.com", "admin"), ("ana", ana, "member"), ("bob", bob, "member")]
    with _served(home, holders) as team:
        server = _env(home, team.server_db)
        # Pushes a day past the history's days, which the next push deletes, and a day inside it.
        _aged(team.server_db, 5, team_store.PUSH_HISTORY_DAYS + 1)
        _aged(team.server_db, 2, team_store.PUSH_HISTORY_DAYS - 1)
        empty = _cli(server, "team", "pushes", "--member", ana)
        assert (empty.returncode, empty.stdout) == (0, ""), empty.stderr
        assert f"No pushes from {ana} in the last 30 days" in empty.stderr

        # Bob's laptop holds ana's calls (a copied folder): his rows are refused, ana's were first.
        for name, member in (("ana", ana), ("bob", bob)):
            laptop = _laptop(home, name, member, calls)
            env = laptop.env(home, COST_MCP_TEAM_TOKEN=team.tokens[name], COST_MCP_TEAM_SERVER=team.base)
            pushed = _cli(env, "push")
            assert pushed.returncode == 0, pushed.stderr
        cutoff = int(time.time() * 1000) - team_store.PUSH_HISTORY_DAYS * DAY_MS
        assert _count(team.server_db, f"received_ms < {cutoff}") == 0
        assert _count(team.server_db, "token_name = 'old-laptop'") == 2

        shown = _cli(server, "team", "pushes")
        assert shown.returncode == 0, shown.stderr
        lines = [line.split("\t") for line in shown.stdout.splitlines()]
        assert [line[1:] for line in lines] == [
            ["bob", bob, "3 row(s)", "0 new or grown", "3 refused", "0 forgotten"],
            ["ana", ana, "3 row(s)", "3 new or grown", "0 refused", "0 forgotten"],
            *[["old-laptop", "old@example.com", "1 row(s)", "1 new or grown", "0 refused", "0 forgotten"]]
            * 2,
        ]
        assert all(line[0].endswith("Z") for line in lines)
        only_bob = _cli(server, "team", "pushes", "--member", "Bob@Example.com", "--limit", "1")
        assert [line.split("\t")[1] for line in only_bob.stdout.splitlines()] == ["bob"]
        # QA: `--member bob` (a name, where the address goes) said "No pushes from bob in the last
        # 30 days": read as "bob's laptop is not pushing". It now says whose pushes there are.
        named = _cli(server, "team", "pushes", "--member", "bob")
        assert (named.returncode, named.stdout) == (0, ""), named.stderr
        assert (
            "No pushes from bob in the last 30 days (members who have pushed: ana@example.com, "
            "bob@example.com). A laptop pushes once"
        ) in " ".join(named.stderr.split()), named.stderr


def test_the_upgrade_keeps_the_last_30_days_of_pushes(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = int(time.time() * 1000)
    with _ledger_before(settings, monkeypatch, "m037_push_history") as old, write_transaction(old):
        old.executemany(
            _INSERT,
            [
                ("ana", "ana@example.com", now - 400 * DAY_MS, 5, 5),
                ("ana", "ana@example.com", now - 31 * DAY_MS, 4, 4),
                ("ana", "ana@example.com", now - 29 * DAY_MS, 3, 2),
                ("bob", "bob@example.com", now - DAY_MS, 2, 0),
            ],
        )
    with closing(connect(settings.db)) as conn:
        history = team_store.push_history(conn)
    assert [(p.token_name, p.rows, p.changed, p.refused, p.forgotten) for p in history] == [
        ("bob", 2, 0, 0, 0),
        ("ana", 3, 2, 0, 0),
    ]
    assert _count(settings.db) == 2


def test_a_prune_is_bounded_and_at_most_once_a_minute_per_process(
    settings: Settings, conn: Conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The delete rides in a push's transaction: at most PRUNED_PER_PUSH rows (a server idle for
    weeks does not make one push slow), and once per PRUNE_EVERY_SECONDS in a process (not a
    statement more in every push)."""
    _aged(settings.db, 5, team_store.PUSH_HISTORY_DAYS + 1)
    monkeypatch.setattr(team_store, "PRUNED_PER_PUSH", 3)
    monkeypatch.setattr(team_store, "PRUNE_EVERY_SECONDS", 3600.0)
    monkeypatch.setattr(team_store, "_prunes", team_store._PruneClock())
    caller = Caller("ana@example.com", "member", "ana")
    now = int(time.time() * 1000)

    def one_push(i: int) -> None:
        row = push.WireRow(
            source="claude_code",
            message_id=f"msg-{i}",
            ts_ms=now,
            provider="anthropic",
            model="claude-sonnet-4-5",
        )
        push.receive(conn, Pricer(), caller, [row])

    one_push(1)
    assert _count(settings.db, "token_name = 'old-laptop'") == 2  # the oldest 3 went
    one_push(2)
    assert _count(settings.db, "token_name = 'old-laptop'") == 2  # not due again within the hour
    monkeypatch.setattr(team_store, "_prunes", team_store._PruneClock())  # another process, or an hour on
    one_push(3)
    assert _count(settings.db, "token_name = 'old-laptop'") == 0
    assert _count(settings.db, "token_name = 'ana'") == 3
