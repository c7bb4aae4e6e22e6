"""A laptop's push sends what is new or changed since the server last acknowledged it (issue 14).

Real Claude Code logs on disk, read by the real ingester into a real ledger (SQLite, then
PostgreSQL); the team server is a sender that decodes each body as the server does and keeps
what it got, so each test states exactly which rows a push sent.
"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from cost_mcp import push
from cost_mcp.config import Settings
from cost_mcp.pricing import Pricer
from cost_mcp.sources.claude_code import ingest
from cost_mcp.store import team as team_store
from cost_mcp.store import write_transaction
from cost_mcp.store.connection import Conn
from tests.sources.claude_logs import assistant, session_file, write

SERVER = "http://team.example"


class Server:
    """Counts what it is sent; ``fail_after`` batches, it stops answering."""

    def __init__(self) -> None:
        self.batches: list[list[push.WireRow]] = []
        self.fail_after: int | None = None

    def __call__(self, url: str, token: str, body: bytes) -> push.PushAnswer:
        assert url == SERVER and token == "cmt_test"
        if self.fail_after is not None and len(self.batches) >= self.fail_after:
            raise push.PushError("the team server is down")
        rows = push.decode(gzip.compress(gzip.decompress(body)), "application/json", "gzip").rows
        self.batches.append(rows)
        return push.PushAnswer(accepted=len(rows), changed=len(rows))

    def take(self) -> list[tuple[str, int]]:
        """(message id, output tokens) of every row sent since the last take, in order."""
        got = [(r.message_id, r.output_tokens) for batch in self.batches for r in batch]
        self.batches.clear()
        return got


@pytest.fixture
def laptop(settings: Settings) -> Settings:
    return settings.model_copy(update={"team_server": SERVER, "team_token": SecretStr("cmt_test")})


def _when(i: int) -> str:
    # Two days back: inside any period a test could ask about, whatever the time of day.
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2) + timedelta(seconds=i)
    return at.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _log(home: Path, session: str, calls: list[tuple[str, int]], *, append: bool = False) -> None:
    """Write (or append) assistant lines (message id, output tokens) to a session's log."""
    lines = [
        assistant(mid, f"req-{mid}", _when(i), session=session, output=out)
        for i, (mid, out) in enumerate(calls)
    ]
    write(session_file(home / "claude", session), *lines, append=append)


def _ingest(conn: Conn, settings: Settings) -> None:
    ingest(conn, settings, Pricer())


def test_nothing_new_sends_nothing_and_new_rows_go_once(home: Path, conn: Conn, laptop: Settings) -> None:
    server = Server()
    _log(home, "s1", [("m1", 10), ("m2", 20)])
    _ingest(conn, laptop)
    first = push.push(conn, laptop, send=server)
    assert sorted(server.take()) == [("m1", 10), ("m2", 20)]
    assert (first.sent, first.pending) == (2, 0)

    again = push.push(conn, laptop, send=server)
    assert server.take() == [] and (again.sent, again.batches, again.pending) == (0, 0, 0)

    _log(home, "s2", [("m3", 30)])
    _ingest(conn, laptop)
    assert push.push(conn, laptop, send=server).sent == 1
    assert server.take() == [("m3", 30)]
    mark = team_store.push_mark(conn, SERVER)
    assert mark.sent == 3 and mark.pushed_ms is not None


def test_an_old_row_that_grows_is_sent_again(home: Path, conn: Conn, laptop: Settings) -> None:
    server = Server()
    _log(home, "s1", [("m1", 10), ("m2", 20), ("m3", 30)])
    _ingest(conn, laptop)
    push.push(conn, laptop, send=server)
    server.take()
    # Claude Code rewrites a streamed message's last copy with the final output count: m1, the
    # oldest row, grows; the re-read replaces it in place (same id, below the push mark).
    _log(home, "s1", [("m1", 500)], append=True)
    _ingest(conn, laptop)
    stats = push.push(conn, laptop, send=server)
    assert server.take() == [("m1", 500)]
    assert (stats.sent, stats.pending) == (1, 0)
    assert push.push(conn, laptop, send=server).sent == 0


def test_counted_flipping_on_and_a_reported_cost_are_changes_a_reprice_is_not(
    home: Path, conn: Conn, laptop: Settings
) -> None:
    server = Server()
    _log(home, "s1", [("m1", 10), ("m2", 20)])
    _ingest(conn, laptop)
    with write_transaction(conn):
        conn.execute("UPDATE usage_events SET counted = 0 WHERE message_id = 'm1'")
    push.push(conn, laptop, send=server)
    assert server.take() == [("m2", 20)]  # an uncounted copy is not sent

    with write_transaction(conn):
        conn.execute("UPDATE usage_events SET counted = 1 WHERE message_id = 'm1'")
    assert push.push(conn, laptop, send=server).pending == 0
    assert server.take() == [("m1", 10)]

    # Our own price never leaves the laptop (the server prices every row itself): not a change.
    with write_transaction(conn):
        conn.execute("UPDATE usage_events SET cost_nanos = cost_nanos + 1")
    assert push.push(conn, laptop, send=server).sent == 0
    with write_transaction(conn):
        conn.execute("UPDATE usage_events SET reported_cost_nanos = 5 WHERE message_id = 'm2'")
    push.push(conn, laptop, send=server)
    assert server.take() == [("m2", 20)]


def test_rows_added_after_the_top_rows_were_deleted_are_sent(
    home: Path, conn: Conn, laptop: Settings
) -> None:
    # SQLite gives the next row the highest id in use plus one: after the top rows go, new rows
    # take ids at or below the push mark, and must still be sent.
    server = Server()
    _log(home, "s1", [("m1", 10), ("m2", 20)])
    _ingest(conn, laptop)
    push.push(conn, laptop, send=server)
    server.take()
    with write_transaction(conn):
        conn.execute("DELETE FROM usage_events WHERE message_id = 'm2'")
    with write_transaction(conn):
        conn.execute(
            "INSERT INTO usage_events (source, message_id, ts_ms, provider, model, output_tokens, "
            "total_tokens) VALUES ('record_usage', 'r1', ?, 'anthropic', 'claude-sonnet-4-5', 7, 7)",
            (int((datetime.now(UTC) - timedelta(days=2)).timestamp() * 1000),),
        )
    push.push(conn, laptop, send=server)
    assert server.take() == [("r1", 7)]


def test_an_interrupted_push_resumes_where_it_stopped(
    home: Path, conn: Conn, laptop: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(push, "BATCH_ROWS", 2)
    server = Server()
    _log(home, "s1", [(f"m{i}", 10 + i) for i in range(7)])
    _ingest(conn, laptop)
    server.fail_after = 2
    with pytest.raises(push.PushError) as failed:
        push.push(conn, laptop, send=server)
    # Said alone, "the team server is down" read as if nothing had gone.
    assert str(failed.value) == (
        "the team server is down; the 4 row(s) it took before stay there, and the next push sends the rest"
    )
    sent_first = server.take()
    assert len(sent_first) == 4
    server.fail_after = None
    stats = push.push(conn, laptop, send=server)
    rest = server.take()
    assert (stats.sent, stats.pending) == (3, 0)
    assert sorted(sent_first + rest) == sorted((f"m{i}", 10 + i) for i in range(7))


def test_acks_from_before_the_push_marks_are_honoured_once(home: Path, conn: Conn, laptop: Settings) -> None:
    server = Server()
    _log(home, "s1", [("m1", 10), ("m2", 20), ("m3", 30)])
    _ingest(conn, laptop)
    # A ledger that pushed with per-row acks (m017): m1 acked as it is, m2 acked before it grew.
    ids = dict(conn.execute("SELECT message_id, id FROM usage_events").fetchall())
    with write_transaction(conn):
        conn.executemany(
            "INSERT INTO pushed_events (server, event_id, total_tokens) VALUES (?, ?, ?)",
            [(SERVER, ids["m1"], 10 + 4), (SERVER, ids["m2"], 1), ("http://other", ids["m3"], 34)],
        )
    push.push(conn, laptop, send=server)
    assert sorted(server.take()) == [("m2", 20), ("m3", 30)]
    assert conn.execute("SELECT server FROM pushed_events").fetchall() == [("http://other",)]
    assert push.push(conn, laptop, send=server).sent == 0


def test_each_server_has_its_own_mark(home: Path, conn: Conn, laptop: Settings) -> None:
    server = Server()
    _log(home, "s1", [("m1", 10)])
    _ingest(conn, laptop)
    push.push(conn, laptop, send=server)
    assert server.take() == [("m1", 10)]

    other: list[bytes] = []

    def second(_url: str, _token: str, body: bytes) -> push.PushAnswer:
        other.append(body)
        return push.PushAnswer(accepted=1, changed=1)

    assert push.push(conn, laptop, server="http://second.example", send=second).sent == 1
    assert set(team_store.push_marks(conn)) == {SERVER, "http://second.example"}


def test_doctor_shows_the_team_settings_and_pending_events_never_the_token(
    home: Path,
    conn: Conn,
    laptop: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from cost_mcp.cli import main
    from cost_mcp.doctor import diagnose

    secret = "cmt_doctor-must-never-print-this"
    monkeypatch.setenv("COST_MCP_TEAM_SERVER", SERVER + "/")
    assert (
        diagnose(laptop.model_copy(update={"team_token": None}))
        .problems[-1]
        .startswith("COST_MCP_TEAM_SERVER is set but COST_MCP_TEAM_TOKEN is not")
    )
    monkeypatch.setenv("COST_MCP_TEAM_TOKEN", secret)
    server = Server()
    _log(home, "s1", [("m1", 10), ("m2", 20)])
    _ingest(conn, laptop)
    report = diagnose(laptop)
    assert report.team is not None
    assert (report.team.server, report.team.token_set) == ("http://team.example/…", True)
    assert (report.team.last_push, report.team.pending_events) == (None, 2)

    push.push(conn, laptop, send=server)
    _log(home, "s1", [("m1", 99)], append=True)  # grows after the push: pending again
    _ingest(conn, laptop)
    team = diagnose(laptop).team
    assert team is not None and team.last_push is not None
    assert (team.pushed_events, team.pending_events) == (2, 1)
    assert any("plain HTTP" in w for w in diagnose(laptop).warnings)

    main(["doctor", "--json"])
    as_json = capsys.readouterr().out
    assert '"pending_events": 1' in as_json
    main(["doctor"])
    text = capsys.readouterr().out
    assert "team server   http://team.example/…: token set, last push" in text
    assert "2 event(s) sent, 1 event(s) pending" in text
    assert secret not in as_json + text


def test_a_server_gone_mid_push_says_once_what_the_next_push_sends(
    home: Path, conn: Conn, laptop: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A team server restarted between two batches: the push said "Nothing was lost: ... the next
    push sends it; the 2,000 row(s) it took before stay there, and the next push sends the rest",
    the next push twice, as the check for the first sentence missed its capital letter."""
    import socket
    import time

    with socket.socket() as sock:  # a port nothing listens on once this is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setattr(time, "sleep", lambda _seconds: None)
    monkeypatch.setattr(push, "BATCH_ROWS", 2)
    server = Server()

    def send(url: str, token: str, body: bytes) -> push.PushAnswer:
        if server.batches:  # gone after the first batch
            return push.http_sender(f"http://127.0.0.1:{port}", token, body)
        return server(url, token, body)

    _log(home, "s1", [(f"m{i}", 10 + i) for i in range(5)])
    _ingest(conn, laptop)
    with pytest.raises(push.PushError) as failed:
        push.push(conn, laptop, send=send)
    message = str(failed.value)
    assert message.endswith(f"{push.UNSENT[1:]}; the 2 row(s) it took before stay there"), message
    assert message.count("the next push sends") == 1


def test_an_unreachable_server_says_why_and_never_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket
    import time

    with socket.socket() as sock:  # a port nothing listens on once this is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    waits: list[float] = []
    monkeypatch.setattr(time, "sleep", waits.append)  # the backoff between attempts
    token = "cmt_" + "s" * 43
    with pytest.raises(push.PushError) as raised:
        push.http_sender(f"http://127.0.0.1:{port}", token, b"{}")
    message = str(raised.value)
    assert "Connection refused" in message and f"gave up after {push.RETRIES} attempts" in message
    assert "is it running, and is the URL right? Nothing was lost: " in message
    assert message.endswith(push.UNSENT[1:])
    assert token not in message and len(waits) == push.RETRIES - 1


def test_a_project_stored_under_its_folder_slug_leaves_as_its_folder_name(
    home: Path, conn: Conn, laptop: Settings
) -> None:
    """A call whose log line had no cwd is stored under Claude Code's folder slug, which spells out
    the whole path: it is pushed under the folder's name, found from a call of the same project
    that had one; a slug with no such call leaves as an id of it, never as the path."""
    with_cwd = assistant("m1", "req-m1", _when(1), session="s1", output=5)
    with_cwd["cwd"] = "/home/dev/web-app"
    write(
        session_file(home / "claude", "s1", "-home-dev-web-app"),
        with_cwd,
        assistant("m2", "req-m2", _when(2), session="s1", output=5),
    )
    write(
        session_file(home / "claude", "s2", "-home-dev-secret-plans"),
        assistant("m3", "req-m3", _when(3), session="s2"),
    )
    _ingest(conn, laptop)
    stored = {str(r[0]) for r in conn.execute("SELECT DISTINCT project FROM usage_events")}
    assert stored == {"/home/dev/web-app", "-home-dev-web-app", "-home-dev-secret-plans"}
    server = Server()
    push.push(conn, laptop, send=server)
    sent = {r.message_id: r.project for batch in server.batches for r in batch}
    assert sent["m1"] == sent["m2"] == "web-app"
    assert sent["m3"].startswith("p-") and "secret" not in sent["m3"]


def test_one_rule_says_what_may_be_a_slug_windows_slugs_included(
    home: Path, conn: Conn, laptop: Settings
) -> None:
    """Two rules said which projects may be a folder slug (any name with a dash, looked up; one
    starting with a dash, sent as an id when not found): a Windows slug (``C--Users-...``) with no
    path known passed the first and not the second, and left the laptop whole, the user's name and
    the project's path in it. One rule now: it goes as an id, a known one as its folder's name, and
    a plain name with a dash (record_usage's ``my-app``) goes as it is."""
    from cost_mcp.pricing import Tokens
    from cost_mcp.sources.reported import record_call

    with_cwd = assistant("m1", "req-m1", _when(1), session="s1", output=5)
    with_cwd["cwd"] = "C:\\Users\\dev\\web-app"
    write(
        session_file(home / "claude", "s1", "C--Users-dev-web-app"),
        with_cwd,
        assistant("m2", "req-m2", _when(2), session="s1", output=5),
    )
    write(
        session_file(home / "claude", "s2", "C--Users-dev-secret-plans"),
        assistant("m3", "req-m3", _when(3), session="s2"),
    )
    _ingest(conn, laptop)
    record_call(
        conn,
        Pricer(),
        provider="anthropic",
        model="claude-sonnet-4-5",
        tokens=Tokens(input=10, output=5),
        agent="reviewer",
        project="my-app",
        timestamp=datetime.now(UTC) - timedelta(days=3),
    )
    stored = {str(r[0]) for r in conn.execute("SELECT DISTINCT project FROM usage_events")}
    assert {"C--Users-dev-secret-plans", "C--Users-dev-web-app", "my-app"} <= stored
    server = Server()
    push.push(conn, laptop, send=server)
    sent = {r.message_id: r.project for batch in server.batches for r in batch}
    assert sent["m1"] == sent["m2"] == "web-app"
    assert sent["m3"].startswith("p-") and "secret" not in sent["m3"] and "Users" not in sent["m3"]
    assert "my-app" in sent.values()


def test_a_slugs_folder_name_comes_from_a_path_still_waiting_for_the_rollup(
    home: Path, conn: Conn, laptop: Settings
) -> None:
    """The only call naming the folder's path was one the rollup had not rebuilt yet (an agent's
    record_usage marks its quarter-hour, and no answer read it since): the push looked the path up
    in the rollup alone, and sent the null-cwd call's slug as an id, its project lost to the team."""
    from cost_mcp.pricing import Tokens
    from cost_mcp.sources.reported import record_call
    from cost_mcp.store.known import known_values

    write(
        session_file(home / "claude", "s1", "-home-dev-web-app"),
        assistant("m1", "req-m1", _when(1), session="s1", output=5),
    )
    _ingest(conn, laptop)
    record_call(
        conn,
        Pricer(),
        provider="anthropic",
        model="claude-sonnet-4-5",
        tokens=Tokens(input=10, output=5),
        agent="reviewer",
        project="/home/dev/web-app",
        timestamp=datetime.now(UTC) - timedelta(days=3),
    )
    assert known_values(conn, "project") == {"-home-dev-web-app"}  # the path: only in marked quarter-hours
    server = Server()
    push.push(conn, laptop, send=server)
    sent = {r.message_id: r.project for batch in server.batches for r in batch}
    assert sent["m1"] == "web-app"
    assert "/home/dev/web-app" not in sent.values()


def test_a_server_that_takes_the_connection_but_never_answers_is_not_called_unreachable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socket
    import time

    import httpx2

    from cost_mcp.sources import http

    # The server's 30 s to answer, shortened: what is said, not how long it is waited for, is tested.
    monkeypatch.setattr(http, "TIMEOUT", httpx2.Timeout(0.3, connect=10.0))
    monkeypatch.setattr(time, "sleep", lambda _: None)  # the backoff between attempts
    token = "cmt_" + "s" * 43
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)  # the kernel takes the connections; nothing ever reads or answers them
        port = sock.getsockname()[1]
        with pytest.raises(push.PushError) as raised:
            push.http_sender(f"http://127.0.0.1:{port}", token, b"{}")
    message = str(raised.value)
    assert message.startswith(
        f"the team server http://127.0.0.1:{port}/… took the connection but did not answer the push "
        f"within 0.3 s (gave up after {push.RETRIES} attempts in "
    ), message
    assert "is it running" not in message and token not in message
    assert message.endswith(" (a batch the server stored after all counts once)")


def test_a_token_check_against_a_server_that_never_answers_does_not_call_it_unreachable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`cost-mcp doctor`'s token check, as the push above: a server that took the connection and
    never answered was "cannot reach the team server (ReadTimeout): is it running?". It waits
    CHECK_READ_SECONDS (10 s), not a push's 30: the check stores nothing and a working server
    answers it at once, so doctor stood silent for half a minute first."""
    import socket

    import httpx2

    from cost_mcp.sources import http

    assert (http.TIMEOUT.read or 0) > push.CHECK_READ_SECONDS
    # Shortened here, and the push's own timeout made long: the test tells which one the check used.
    monkeypatch.setattr(push, "CHECK_READ_SECONDS", 0.3)
    monkeypatch.setattr(http, "TIMEOUT", httpx2.Timeout(600.0, connect=10.0))
    token = "cmt_" + "s" * 43
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)  # the kernel takes the connection; nothing ever reads or answers it
        port = sock.getsockname()[1]
        checked = push.check_token(f"http://127.0.0.1:{port}", token)
    assert (checked.accepted, checked.can_push) == (None, None)
    assert checked.words == (
        f"the team server http://127.0.0.1:{port}/… took the connection but did not answer the token "
        "check within 0.3 s: it, or a proxy in front of it, is stuck or overloaded (the server's log "
        "says which)"
    )
    assert token not in checked.words
