"""A ledger an earlier cost-mcp filled from Codex forks and OpenCode's v5 costs is mended on upgrade.

Before 32981bb a Codex fork's copy of its parent's history counted every parent call again (under
the fork's stamps: keys of its own), and before 786c3dd an OpenCode call whose ``output`` holds its
reasoning kept OpenCode's own cost, which counts that reasoning twice. Fixing the readers left those
rows in every ledger that had read such files. Migration m038 reads Codex's and OpenCode's files once
more from their start; that read drops the rows of a fork's copied span it no longer yields and
takes OpenCode's cost as it now reads it. Real files, a real ledger on each engine, the real
migration from the schema before it, and a laptop pushing to a team server's ledger.
"""

from __future__ import annotations

import gzip
import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from cost_mcp import access, doctor, push
from cost_mcp.config import Settings
from cost_mcp.money import format_usd, from_nanos
from cost_mcp.pricing import Pricer, Tokens
from cost_mcp.sources import agents
from cost_mcp.sources.agents import codex, scanner
from cost_mcp.sources.reported import record_call
from cost_mcp.store import agent_files, reported, rollup
from cost_mcp.store import team as team_store
from cost_mcp.store.connection import Conn, connect, write_transaction
from tests.sources.test_agents import codex_usage
from tests.sources.test_claude_code import assert_rollup_is_rebuilt_from_events
from tests.store.test_migrations import _ledger_before
from tests.web.test_team import _cli, _env, _free_port, _start, _stop, old_server_env

M038 = "m038_codex_opencode_read_again"
SERVER = "http://team.example"
ANA = access.Caller("ana@example.com", "member", "ana-laptop")


def _count(total: dict[str, int], last: dict[str, int]) -> dict[str, object]:
    return {"type": "token_count", "info": {"total_token_usage": total, "last_token_usage": last}}


def _lines(lines: list[tuple[str, str, Any]]) -> str:
    return "".join(json.dumps({"timestamp": ts, "type": t, "payload": p}) + "\n" for ts, t, p in lines)


def _meta(session: str, at: str, **more: object) -> dict[str, object]:
    return {"id": session, "timestamp": at, "cwd": "/w", "model_provider": "openai", **more}


FIRST, SECOND = codex_usage(8000, 0, 300, 100), codex_usage(9000, 8000, 400, 0)
AFTER_SECOND = {k: FIRST[k] + SECOND[k] for k in FIRST}


def _parent() -> list[tuple[str, str, Any]]:
    return [
        ("2026-11-20T12:00:00.000Z", "session_meta", _meta("p-1", "2026-11-20T12:00:00.000Z")),
        ("2026-11-20T12:00:01.000Z", "turn_context", {"model": "gpt-5-codex"}),
        ("2026-11-20T12:00:12.000Z", "event_msg", _count(FIRST, FIRST)),
        ("2026-11-20T12:01:30.000Z", "turn_context", {"model": "gpt-5-codex"}),
        ("2026-11-20T12:01:41.000Z", "event_msg", _count(AFTER_SECOND, SECOND)),
    ]


def _fork(session: str, minute: int, forked: str = "forked_from_id") -> list[tuple[str, str, Any]]:
    """``codex fork`` of p-1 at 12:<minute>: the parent's items written again, a millisecond apart
    (as in test_agents' fork test), then the user's next prompt and the fork's own call.
    ``forked``: the session_meta field naming the parent (another name: a field no reader knows)."""
    own = codex_usage(10000, 9000, 500, 0)
    after_own = {k: AFTER_SECOND[k] + own[k] for k in own}
    at = f"2026-11-20T12:{minute:02}:00.400Z"
    return [
        (at, "session_meta", _meta(session, at, **{forked: "p-1"})),
        (f"2026-11-20T12:{minute:02}:00.401Z", "session_meta", _meta("p-1", "2026-11-20T12:00:00.000Z")),
        (f"2026-11-20T12:{minute:02}:00.402Z", "turn_context", {"model": "gpt-5-codex"}),
        (f"2026-11-20T12:{minute:02}:00.403Z", "event_msg", _count(FIRST, FIRST)),
        (f"2026-11-20T12:{minute:02}:00.404Z", "turn_context", {"model": "gpt-5-codex"}),
        (f"2026-11-20T12:{minute:02}:00.406Z", "event_msg", _count(AFTER_SECOND, SECOND)),
        (f"2026-11-20T12:{minute + 2:02}:10.000Z", "turn_context", {"model": "gpt-5-codex"}),
        (f"2026-11-20T12:{minute + 2:02}:19.000Z", "event_msg", _count(after_own, own)),
    ]


SPAWNED = {"subagent": {"thread_spawn": {"parent_thread_id": "p-1", "depth": 1}}}
"""``session_meta.source`` of a sub-agent spawned with its parent's context (test_agents' fixture)."""


def _sub_agent(session: str, minute: int) -> list[tuple[str, str, Any]]:
    """A sub-agent of p-1 spawned at 12:<minute>: its parent's history written again across a second's
    edge (a reader before 32981bb dropped only the replay's first second), then its own call."""
    lines = _fork(session, minute)
    at = f"2026-11-20T12:{minute:02}:00.997Z"
    lines[0] = (at, "session_meta", _meta(session, at, source=SPAWNED))
    stamps = ("00.998", "00.999", "00.999", "01.000", "01.001")
    for i, stamp in enumerate(stamps, start=1):
        lines[i] = (f"2026-11-20T12:{minute:02}:{stamp}Z", *lines[i][1:])
    return lines


def _sessions(home: Path) -> Path:
    folder = home / "codex" / "sessions" / "2026" / "11" / "20"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _read_as_before_the_fix(conn: Conn, settings: Settings, home: Path, name: str, lines: str) -> None:
    """Store what a cost-mcp before 32981bb stored of the fork file ``name``: that reader did not
    know ``forked_from_id``, so it read a fork as this one reads the same lines under a field name
    it does not know (the copy's calls counted under the copy's stamps). Read through the scanner's
    own write path from a scratch folder, whose read state is then forgotten; the real file's read
    state (read to its end) is the one this reader saved."""
    scratch = home / "scratch-codex" / name
    scratch.parent.mkdir(parents=True, exist_ok=True)
    scratch.write_text(
        lines.replace('"forked_from_id"', '"forked_from_xx"').replace('"thread_spawn"', '"thread_spawx"')
    )
    scanner.scan(conn, codex.LOG, settings, Pricer(), roots=[scratch.parent])
    with write_transaction(conn):
        agent_files.forget_files(conn, [str(scratch)], [])
    scratch.unlink()


def _calls(conn: Conn, source: str) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT message_id, ts_ms, session_id, input_tokens, cache_read_tokens, output_tokens, cost_nanos, "
        "reported_cost_nanos FROM usage_events WHERE source = ? AND counted = 1 ORDER BY ts_ms, message_id",
        (source,),
    ).fetchall()


def _total(conn: Conn, source: str) -> tuple[int, int]:
    """(calls, nano-USD in the ``auto`` cost mode) counted for ``source``."""
    calls, nanos = conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(COALESCE(reported_cost_nanos, cost_nanos)), 0) FROM usage_events "
        "WHERE source = ? AND counted = 1",
        (source,),
    ).fetchone()
    return int(calls), int(nanos)


def _fresh(settings: Settings, tmp_path: Path, fmt: scanner.AgentLog) -> list[tuple[Any, ...]]:
    """The calls a new ledger reads from the same files today."""
    with closing(connect(tmp_path / "fresh" / "cost.db")) as fresh:
        scanner.scan(fresh, fmt, settings, Pricer())
        return _calls(fresh, fmt.source)


def _ingest(db: Path | str, settings: Settings) -> list[scanner.AgentScan]:
    with closing(connect(db)) as conn:
        return agents.ingest_all(conn, settings, Pricer())


@contextmanager
def _old_codex_ledger(settings: Settings, home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Conn]:
    """A ledger of the schema before m038 holding what the reader before 32981bb stored of p-1, its
    fork f-1 (still on disk) and its fork f-2 (deleted since): 2 + (2 copies + 1) + (2 copies + 1)."""
    folder = _sessions(home)
    (folder / "rollout-2026-11-20T12-00-00-p-1.jsonl").write_text(_lines(_parent()))
    kept, gone = _lines(_fork("f-1", 30)), _lines(_fork("f-2", 40))
    (folder / "rollout-2026-11-20T12-30-00-f-1.jsonl").write_text(kept)
    with _ledger_before(settings, monkeypatch, M038) as old:
        scanner.scan(old, codex.LOG, settings, Pricer())
        _read_as_before_the_fix(old, settings, home, "rollout-2026-11-20T12-30-00-f-1.jsonl", kept)
        _read_as_before_the_fix(old, settings, home, "rollout-2026-11-20T12-40-00-f-2.jsonl", gone)
        assert _total(old, codex.SOURCE)[0] == 8
        yield old


def test_a_ledger_that_counted_a_codex_forks_copy_is_mended_and_a_deleted_forks_rows_stay(
    settings: Settings, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copies go, the fork's own call and every parent call stay, nano-USD for nano-USD what a
    new ledger reads from the same files; f-2, whose file is gone, keeps its rows (nothing proves
    them copies now); the scan says once what it removed; the rollup equals the events."""
    with _old_codex_ledger(settings, home, monkeypatch) as old:
        before = _calls(old, codex.SOURCE)
        # Today's reader alone, with no upgrade, finds every file read and changes nothing.
        scanner.scan(old, codex.LOG, settings, Pricer())
        assert _calls(old, codex.SOURCE) == before
    fresh = _fresh(settings, tmp_path, codex.LOG)
    assert [r[2] for r in fresh] == ["p-1", "p-1", "f-1"]

    [scan] = [s for s in _ingest(settings.db, settings) if s.agent == codex.AGENT]  # migrates, reads

    with closing(connect(settings.db)) as conn:
        mended = _calls(conn, codex.SOURCE)
        f2 = [r for r in before if r[2] == "f-2"]
        assert len(f2) == 3
        assert mended == sorted([*fresh, *f2], key=lambda r: (r[1], r[0]))
        copies = [r for r in before if r[2] == "f-1" and r not in fresh]
        assert len(copies) == 2
        assert _total(conn, codex.SOURCE)[1] == sum(int(r[6]) for r in [*fresh, *f2])
        removed = sum(int(r[6]) for r in copies)
        assert (scan.copies_removed, scan.copies_removed_nanos) == (2, removed)
        [detail] = conn.execute("SELECT detail FROM source_state WHERE source = 'codex'").fetchone()
        assert "removed 2 call(s) ($" in detail and "an earlier version counted twice" in detail
        # Each removal waits for the next push to a team server, as no forget of the user's.
        logged = conn.execute("SELECT source, message_id FROM forget_log ORDER BY message_id").fetchall()
        assert logged == sorted((codex.SOURCE, r[0]) for r in copies)
        assert conn.execute("SELECT COUNT(*) FROM forgotten_calls").fetchone()[0] == 0
        assert_rollup_is_rebuilt_from_events(conn)

        # The next answer says it, with the amount; the one after the next scan no more.
        assert _removal_notes(conn, settings) == [
            f"codex logs: removed 2 call(s) ({format_usd(from_nanos(removed))}) an earlier version "
            "counted twice: copies of other sessions' calls (a fork's)"
        ]

    [again] = [s for s in _ingest(settings.db, settings) if s.agent == codex.AGENT]
    assert (again.files_read, again.copies_removed) == (0, 0)
    with closing(connect(settings.db)) as conn:
        assert _calls(conn, codex.SOURCE) == mended
        assert _removal_notes(conn, settings) == []


def _removal_notes(conn: Conn, settings: Settings) -> list[str]:
    """get_spend's warnings over the fixtures' day that speak of calls counted twice."""
    from cost_mcp.analytics.spend import get_spend
    from cost_mcp.periods import days_period

    day = date(2026, 11, 20)
    answer = get_spend(conn, settings, days_period(day, day, tz=settings.tz), ["agent"], take_alerts=False)
    return [w for w in answer.warnings if "counted twice" in w]


def test_a_ledger_that_counted_a_codex_sub_agents_copy_is_mended(
    settings: Settings, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sub-agent's replay of its parent's history is mended as a fork's is: its copies go, its own
    call and the parent's stay, nano-USD for nano-USD what a new ledger reads from the same files."""
    folder = _sessions(home)
    (folder / "rollout-2026-11-20T12-00-00-p-1.jsonl").write_text(_lines(_parent()))
    name = "rollout-2026-11-20T12-30-00-s-1.jsonl"
    spawned = _lines(_sub_agent("s-1", 30))
    (folder / name).write_text(spawned)
    with _ledger_before(settings, monkeypatch, M038) as old:
        scanner.scan(old, codex.LOG, settings, Pricer())
        _read_as_before_the_fix(old, settings, home, name, spawned)
        before = _calls(old, codex.SOURCE)
    fresh = _fresh(settings, tmp_path, codex.LOG)
    assert [r[2] for r in fresh] == ["p-1", "p-1", "s-1"]
    copies = [r for r in before if r not in fresh]
    assert [r[2] for r in copies] == ["s-1", "s-1"]

    [scan] = [s for s in _ingest(settings.db, settings) if s.agent == codex.AGENT]

    with closing(connect(settings.db)) as conn:
        assert _calls(conn, codex.SOURCE) == fresh
        assert (scan.copies_removed, scan.copies_removed_nanos) == (2, sum(int(r[6]) for r in copies))
        assert_rollup_is_rebuilt_from_events(conn)


def test_opencodes_cost_that_counted_reasoning_twice_is_replaced_on_upgrade(
    settings: Settings, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader before 786c3dd kept OpenCode's own cost of a v5 call ($0.0135 for a $0.0095 call)
    as its reported cost, which the ``auto`` mode counts; a stored row of the same tokens was never
    replaced. After the upgrade the call counts at its price from tokens, as a new ledger's does."""
    from cost_mcp.sources.agents import opencode

    base = {"sessionID": "ses_1", "role": "assistant", "modelID": "gpt-5", "providerID": "openai"}
    v5 = {"input": 2000, "output": 600, "reasoning": 400, "cache": {"read": 8000, "write": 0}, "total": 10600}
    v6 = {"input": 2000, "output": 200, "reasoning": 400, "cache": {"read": 8000, "write": 0}, "total": 10600}
    created = 1795680000000
    messages = [
        {**base, "id": "msg_v5", "time": {"created": created}, "tokens": v5, "cost": 0.0135},
        {**base, "id": "msg_v6", "time": {"created": created + 60_000}, "tokens": v6, "cost": 0.0095},
    ]
    db = home / "opencode" / "opencode.db"
    db.parent.mkdir(parents=True)
    with closing(sqlite3.connect(db)) as store:
        store.execute("CREATE TABLE message (id TEXT PRIMARY KEY, session_id TEXT NOT NULL, data TEXT)")
        store.executemany(
            "INSERT INTO message VALUES (?, ?, ?)", [(m["id"], "ses_1", json.dumps(m)) for m in messages]
        )
        store.commit()
    with _ledger_before(settings, monkeypatch, M038) as old:
        scanner.scan(old, opencode.LOG, settings, Pricer())
        with write_transaction(old):
            # What that reader stored for msg_v5: OpenCode's cost, 0.0135 USD, as reported cost.
            old.execute("UPDATE usage_events SET reported_cost_nanos = 13500000 WHERE message_id = 'msg_v5'")
        assert _total(old, opencode.SOURCE) == (2, 13_500_000 + 9_500_000)
        scanner.scan(old, opencode.LOG, settings, Pricer())  # the database unchanged: not read
        assert _total(old, opencode.SOURCE) == (2, 13_500_000 + 9_500_000)
    fresh = _fresh(settings, tmp_path, opencode.LOG)

    _ingest(settings.db, settings)

    with closing(connect(settings.db)) as conn:
        assert _calls(conn, opencode.SOURCE) == fresh
        assert _total(conn, opencode.SOURCE) == (2, 2 * 9_500_000)
        assert conn.execute("SELECT COUNT(*) FROM forget_log").fetchone()[0] == 0
        assert_rollup_is_rebuilt_from_events(conn)


def _server(server_db: Path | str) -> Callable[[str, str, bytes], push.PushAnswer]:
    """Pushes delivered to the team server's ledger through the server's own decode and store."""

    def send(url: str, token: str, body: bytes) -> push.PushAnswer:
        assert url == SERVER and token == "cmt_test"
        decoded = push.decode(gzip.compress(gzip.decompress(body)), "application/json", "gzip")
        with closing(connect(server_db)) as conn:
            return push.receive(conn, Pricer(), ANA, decoded.rows, forgets=decoded.forgets)

    return send


def test_a_team_servers_copies_of_a_forks_copied_calls_go_with_the_laptops_next_push(
    settings: Settings, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ana's laptop pushed what the old reader counted (the copies too); it upgrades and pushes
    again: the server's total for her drops to what her logs hold, a ``push --full`` does not bring
    the copies back, and the server's rollup equals its events. The server is the test's ledger
    (each engine); the laptop keeps a SQLite file, as laptops do."""
    laptop_db = tmp_path / "laptop" / "cost.db"
    laptop = settings.model_copy(
        update={"db": laptop_db, "team_server": SERVER, "team_token": SecretStr("cmt_test")}
    )
    server = settings
    send = _server(server.db)
    with _old_codex_ledger(laptop, home, monkeypatch):
        pass
    with closing(connect(laptop_db)) as conn:  # upgraded (m038 marks the files): pushes before a read
        assert push.push(conn, laptop, send=send).sent == 8

    def server_total() -> tuple[int, int]:
        with closing(connect(server.db)) as conn:
            return _total(conn, codex.SOURCE)

    assert server_total()[0] == 8
    fresh = _fresh(settings, tmp_path, codex.LOG)

    _ingest(laptop_db, laptop)  # the upgrade: m038, then the read that drops the copies
    with closing(connect(laptop_db)) as conn:
        stats = push.push(conn, laptop, send=send)
        assert (stats.forgets, stats.removed) == (2, 2)
        mended = _total(conn, codex.SOURCE)
    assert mended[0] == 6  # f-2's file is gone: its copies stay, on the laptop and the server
    assert server_total() == mended
    with closing(connect(laptop_db)) as conn:
        push.push(conn, laptop, send=send, full=True)
    assert server_total() == mended
    with closing(connect(server.db)) as conn:
        kept = {r[0] for r in conn.execute("SELECT message_id FROM usage_events WHERE session_id = 'f-1'")}
        assert kept == {r[0] for r in fresh if r[2] == "f-1"}
        assert conn.execute("SELECT COUNT(*) FROM forgotten_calls").fetchone()[0] == 0
        rollup.refresh(conn)  # as the server's next answer does: a push marks what it changed
        assert_rollup_is_rebuilt_from_events(conn)


def test_a_forks_copies_stay_where_the_call_they_copy_was_never_stored(
    settings: Settings, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fork whose parent's log this ledger never read (deleted before cost-mcp came) holds the
    only record of the parent's calls, under the fork's stamps: nothing proves those rows copies of
    a stored call, so the upgrade's read keeps them, where it would drop them beside the parent."""
    folder = _sessions(home)
    lines = _lines(_fork("f-1", 30))
    (folder / "rollout-2026-11-20T12-30-00-f-1.jsonl").write_text(lines)
    with _ledger_before(settings, monkeypatch, M038) as old:
        _read_as_before_the_fix(old, settings, home, "rollout-2026-11-20T12-30-00-f-1.jsonl", lines)
        scanner.scan(old, codex.LOG, settings, Pricer())  # today's reader: the file's read state
        before = _calls(old, codex.SOURCE)
        assert len(before) == 3

    [scan] = [s for s in _ingest(settings.db, settings) if s.agent == codex.AGENT]

    assert (scan.files_read, scan.copies_removed) == (1, 0)
    with closing(connect(settings.db)) as conn:
        assert _calls(conn, codex.SOURCE) == before
        assert conn.execute("SELECT COUNT(*) FROM forget_log").fetchone()[0] == 0


def test_a_push_takes_out_only_a_copy_of_a_call_the_server_holds_and_never_a_claude_code_call(
    settings: Settings, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A push's removal of a log row is a member's word that the row copies another call: the
    server takes it only for a reader that finds copies (Codex), and only where it holds the call
    copied. A removal of rows the server holds as a member's only record of their calls is refused
    (counted, rows kept); one of a Claude Code call is refused whole, naming what may be forgotten."""
    laptop_db = tmp_path / "laptop" / "cost.db"
    laptop = settings.model_copy(
        update={"db": laptop_db, "team_server": SERVER, "team_token": SecretStr("cmt_test")}
    )
    send = _server(settings.db)
    folder = _sessions(home)
    lines = _lines(_fork("f-1", 30))
    (folder / "rollout-2026-11-20T12-30-00-f-1.jsonl").write_text(lines)
    with closing(connect(laptop_db)) as conn:
        _read_as_before_the_fix(conn, laptop, home, "rollout-2026-11-20T12-30-00-f-1.jsonl", lines)
        assert push.push(conn, laptop, send=send).sent == 3
        # A laptop (altered, or wrong) says two of them were copies: the server holds no originals.
        copied = [r[0] for r in _calls(conn, codex.SOURCE)][:2]
        with write_transaction(conn):
            reported.log_removed(conn, [(codex.SOURCE, m, "", 0) for m in copied], 0)
        stats = push.push(conn, laptop, send=send)
    assert (stats.forgets, stats.removed, stats.refused) == (2, 0, 0)
    assert any("2 log call(s) your cost-mcp removed as copies" in w for w in stats.warnings)
    with closing(connect(settings.db)) as conn:
        assert _total(conn, codex.SOURCE)[0] == 3

    body = json.dumps({"rows": [], "forgets": [{"source": "claude_code", "message_id": "msg_1"}]})
    with pytest.raises(push.PushRejected, match="only calls of source 'record_usage' are forgotten"):
        push.decode(body.encode(), "application/json", "")


def test_cost_mcp_ingest_says_what_the_upgrade_removed(
    settings: Settings, home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Codex user (no Claude Code folder) runs `cost-mcp ingest` after upgrading: its line for
    Codex says how many calls and dollars the read removed as copies counted twice, as the answers
    do, rather than a total that dropped with nothing said."""
    import shutil

    from cost_mcp.cli import main

    with _old_codex_ledger(settings, home, monkeypatch):
        pass
    shutil.rmtree(home / "claude", ignore_errors=True)
    monkeypatch.setenv("COLUMNS", "300")
    assert main(["ingest"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^  removed 2 call\(s\) \(\$[0-9.]+\) an earlier version counted twice$", out, re.M), (
        out
    )
    assert main(["ingest"]) == 0
    assert "removed" not in capsys.readouterr().out


BEFORE_COPIES_TRAVELLED = "0b11cf0"
"""The last commit whose team server did not take a laptop's removals of log copies (it refused
each by name: only reported calls are forgotten)."""


@pytest.mark.sqlite_only  # the laptop and both servers keep SQLite files of their own
def test_a_server_from_before_removals_takes_the_rest_and_the_removals_wait_for_its_upgrade(
    settings: Settings, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ana's laptop is upgraded before the team server (admins upgrade last): its read removes two
    copies it had pushed, and she forgets a reported call. The server, of the version before such
    removals travelled (its own code, in its own process), refused the first removal by name; the
    laptop took each refusal as final, a request and a warning per removal, and the removals never
    reached the server, upgraded or not. Now her forget and her new call go, one warning says the
    server needs upgrading, the removals wait (not offered again in that push, nor lost), and the
    first push after the upgrade removes the copies there."""
    server_db, old_env = old_server_env(home, BEFORE_COPIES_TRAVELLED)
    made = _cli(old_env, "token", "create", "ana", "--member", ANA.member)
    assert made.returncode == 0, made.stderr
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    laptop_db = tmp_path / "laptop" / "cost.db"
    laptop = settings.model_copy(
        update={"db": laptop_db, "team_server": base, "team_token": SecretStr(made.stdout.strip())}
    )
    with _old_codex_ledger(laptop, home, monkeypatch):
        pass
    with closing(connect(laptop_db)) as conn:
        _report(conn, "req-wrong")

    def on_server() -> tuple[int, int]:
        """(Codex calls, reported calls) the server holds, read without upgrading its ledger."""
        with closing(sqlite3.connect(server_db)) as raw:
            codex_calls, reported_calls = raw.execute(
                "SELECT SUM(source = ?), SUM(source = ?) FROM usage_events", (codex.SOURCE, reported.SOURCE)
            ).fetchone()
        return int(codex_calls or 0), int(reported_calls or 0)

    proc = _start(old_env, port, home / "old-server.log")
    try:
        with closing(connect(laptop_db)) as conn:
            assert push.push(conn, laptop).sent == 9
        assert on_server() == (8, 1)
        _ingest(laptop_db, laptop)  # the upgrade's read: two copies removed
        with closing(connect(laptop_db)) as conn:
            assert [c.id for c in reported.delete(conn, ["req-wrong"], 0)] == ["req-wrong"]
            _report(conn, "req-new")
            stats = push.push(conn, laptop)
            again = push.push(conn, laptop)
            waiting = reported.forget_backlog(
                conn, team_store.push_mark(conn, team_store.server_key(base)).forget_seq
            )
        assert (stats.forgets, stats.removed, stats.sent) == (1, 1, 1)
        [warned] = stats.warnings
        assert "the team server did not take 2 removal(s) of log calls" in warned, warned
        assert "A team admin must upgrade cost-mcp on the server" in warned, warned
        assert (again.forgets, again.sent, again.warnings) == (0, 0, stats.warnings)
        # Her forget was taken; what waits is the reader's removals, not forgets of hers (doctor
        # counted them as "2 forget(s) not taken by the server yet").
        assert (waiting.forgets, waiting.unforgets, waiting.removals) == (0, 0, 2)
        shown = doctor.team_status(laptop)
        assert (shown.pending_forgets, shown.pending_unforgets, shown.pending_removals) == (0, 0, 2)
        assert on_server() == (8, 1)  # the forgotten call gone, the new one there, the copies still
    finally:
        _stop(proc)
    proc = _start(_env(home, server_db), port, home / "new-server.log")
    try:
        with closing(connect(laptop_db)) as conn:
            upgraded = push.push(conn, laptop)
            mended = _total(conn, codex.SOURCE)
            left = reported.forget_backlog(
                conn, team_store.push_mark(conn, team_store.server_key(base)).forget_seq
            )
            assert (left.forgets, left.removals, left.since_ms) == (0, 0, None)
    finally:
        _stop(proc)
    assert (upgraded.forgets, upgraded.removed, upgraded.warnings) == (2, 2, [])
    assert on_server()[0] == mended[0] == 6


def _report(conn: Conn, request_id: str) -> None:
    """An agent's report of a $1 gpt-4o call made a few minutes ago."""
    at = datetime.now(UTC) - timedelta(minutes=8)
    record_call(
        conn, Pricer(), provider="openai", model="gpt-4o", tokens=Tokens(input=400_000, output=0),
        agent="researcher", request_id=request_id, timestamp=at,
    )  # fmt: skip
