"""A laptop's push to a team server that takes the connection and never answers (a proxy holding
it, a server under a debugger, a suspended VM) no longer holds up the laptop's MCP server as it
stops, nor a person at a terminal without a word.

Real processes throughout: a stdio server told to stop by its stdin closing, `cost-mcp push`, a
real team server (`cost-mcp serve --http`) behind a real TCP proxy that withholds its answer, and
plain listening sockets that take connections and never answer.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import httpx2
import pytest
from pydantic import SecretStr

from cost_mcp import push
from cost_mcp.config import Settings
from cost_mcp.notify import display_url
from cost_mcp.store import connect
from cost_mcp.store import team as team_store
from tests.sources.claude_logs import assistant, session_file, write
from tests.test_server import raw_initialize, server_env, stdio_server
from tests.web.test_team import ADMIN_AND_ANA, _cli, _env, _laptop, _served, _total

TOKEN = "cmt_" + "s" * 43


@contextmanager
def _silent_server() -> Iterator[tuple[socket.socket, str]]:
    """A socket that takes connections (the kernel accepts them) and never answers; its URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


@contextmanager
def held_push(home: Path) -> Iterator[tuple[subprocess.Popen[str], socket.socket]]:
    """A laptop's stdio server (`cost-mcp serve`, past its MCP handshake) pushing to a team server
    that takes the connection of its first request and never answers: the server and that
    connection. The server is killed on the way out if the test did not stop it, its pipes closed."""
    with _silent_server() as (sock, url):
        env = {**os.environ, **server_env(home), "COST_MCP_TEAM_SERVER": url, "COST_MCP_TEAM_TOKEN": TOKEN}
        proc = stdio_server(env)
        try:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(json.dumps(raw_initialize()) + "\n")
            proc.stdin.flush()
            assert json.loads(proc.stdout.readline())["id"] == 1
            sock.settimeout(60)
            held, _ = sock.accept()
            with held:
                held.settimeout(60)
                yield proc, held
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()


def _one_call(claude: Path) -> None:
    """A Claude Code log holding one call an hour ago: something for a push to send."""
    when = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 3600))
    write(session_file(claude, "s1"), assistant("m1", "req-m1", when, session="s1", output=10))


def test_a_laptops_server_exits_at_once_while_its_push_hangs(home: Path) -> None:
    """Claude Code closes the server's stdin to stop it while the server's push waits on a team
    server that took the batch and never answers: the server waited out the push's 30 s read
    timeout before exiting (29 s measured). It exits now, the push abandoned (sent again by the
    next push: test_an_abandoned_push_is_sent_again_and_counted_once)."""
    _one_call(home / "claude")
    # The push is in flight once its request arrives: taken, and never answered.
    with held_push(home) as (proc, held):
        assert proc.stdin is not None
        assert held.recv(65536).startswith(b"POST /api/push ")
        proc.stdin.close()
        # Far below the old 30 s: the stop waits 2 s for the push thread, then leaves it.
        code = proc.wait(timeout=15)
    assert code == 0


class _HoldingProxy:
    """A TCP proxy to ``upstream`` that, while ``hold`` is set, passes the request on but keeps
    the answer: the team server stores the batch and the laptop never hears that it did."""

    def __init__(self, upstream: str) -> None:
        self.upstream = ("127.0.0.1", int(upstream.rsplit(":", 1)[1]))
        self.hold = True
        self.withheld = threading.Event()
        """Set once an answer was withheld: the server has stored the batch."""
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return  # closed
            server = socket.create_connection(self.upstream)
            self._open += [client, server]
            hold = self.hold
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, hold), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, withhold: bool) -> None:
        try:
            while data := src.recv(65536):
                if withhold:
                    self.withheld.set()
                else:
                    dst.sendall(data)
        except OSError:
            return

    def close(self) -> None:
        self.sock.close()
        for s in self._open:
            # Shut down first: a close alone leaves a recv blocked in another thread waiting.
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


def test_an_abandoned_push_is_sent_again_and_counted_once(home: Path) -> None:
    """The laptop's server stops while the team server has stored a batch whose answer a proxy
    withholds: the stop does not wait for it, the laptop's mark stays where it was (the batch was
    never acknowledged), and the next push sends the batch again, which the server counts once."""
    ana = "ana@example.com"
    calls = [(f"m{i}", f"req-{i}", 1000 * (i + 1), 100) for i in range(3)]
    laptop = _laptop(home, "ana", ana, calls)
    with _served(home, ADMIN_AND_ANA) as team:
        assert _cli(laptop.env(home), "ingest").returncode == 0
        proxy = _HoldingProxy(team.base)
        try:
            own = Settings(
                db=laptop.db, timezone="UTC", team_server=proxy.url, team_token=SecretStr(team.tokens["ana"])
            )
            loop = push.PushLoop(own, lambda: connect(laptop.db), lambda _wait: True)
            loop.start()
            assert proxy.withheld.wait(60), "the push never reached the team server"
            stored = _total(team.server_db, members=[ana])
            assert stored > 0
            loop.stop()
            # Returned while the batch is still unanswered: the thread is left to it.
            assert loop._thread is not None and loop._thread.is_alive()
            with closing(connect(laptop.db)) as conn:
                key = team_store.server_key(proxy.url)
                assert sum(team_store.pending_by_source(conn, key).values()) == len(calls)
            proxy.hold = False
            stats = push.PushLoop(own, lambda: connect(laptop.db), lambda _wait: True).once()
            assert stats is not None
            assert (stats.sent, stats.changed, stats.pending) == (len(calls), 0, 0)
            assert _total(team.server_db, members=[ana]) == stored
            with closing(connect(team.server_db)) as server:
                assert server.execute("SELECT COUNT(*) FROM usage_events").fetchone() == (len(calls),)
        finally:
            proxy.close()


class _Busy(http.server.BaseHTTPRequestHandler):
    """A team server that answers every push 503, come back in 5 s."""

    requests = 0

    def do_POST(self) -> None:
        type(self).requests += 1
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(503)
        self.send_header("Retry-After", "5")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_stop_ends_the_wait_before_a_retry(home: Path) -> None:
    """Stopped while waiting out a busy server's Retry-After, the push sends nothing more: it
    slept on and tried again, keeping the server from exiting."""
    _one_call(home / "claude")
    assert _cli(_env(home, os.environ["COST_MCP_DB"], home / "claude"), "ingest").returncode == 0
    _Busy.requests = 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Busy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        own = Settings(
            db=os.environ["COST_MCP_DB"],
            timezone="UTC",
            team_server=f"http://127.0.0.1:{server.server_address[1]}",
            team_token=SecretStr(TOKEN),
        )
        loop = push.PushLoop(own, lambda: connect(own.db), lambda _wait: True)
        loop.start()
        for _ in range(600):
            if _Busy.requests:
                break
            time.sleep(0.1)
        assert _Busy.requests == 1
        loop.stop()
        assert loop._thread is not None
        loop._thread.join(60)
        assert not loop._thread.is_alive()
        assert _Busy.requests == 1
    finally:
        server.shutdown()
        server.server_close()


def test_a_person_pushing_to_a_silent_server_is_told_it_is_waited_for(home: Path) -> None:
    """`cost-mcp push` stood silent for the whole 30 s the team server has to answer; after 5 s
    of silence it now says whom it waits for, how long, and that Ctrl-C is safe."""
    _one_call(home / "claude")
    with _silent_server() as (sock, url):
        env = _env(home, os.environ["COST_MCP_DB"], home / "claude")
        env.update(COST_MCP_TEAM_SERVER=url, COST_MCP_TEAM_TOKEN=TOKEN)
        proc = subprocess.Popen(
            [sys.executable, "-m", "cost_mcp", "push"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            assert proc.stderr is not None
            first = proc.stderr.readline()
            # Said: the test stops listening, so the push ends at once instead of after 30 s.
            sock.close()
            rest = proc.stderr.read()
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stderr is not None:
                proc.stderr.close()
    shown = display_url(url)
    assert first == (
        f"note: the team server {shown} has not answered the push for 5 s; waiting up to "
        "30 s for it (Ctrl-C stops the push and loses nothing: the next push sends what the server "
        "did not acknowledge)\n"
    ), first + rest
    assert TOKEN not in first + rest


def test_the_note_is_said_once_per_attempt_and_never_for_a_prompt_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The note's timer is per attempt and cancelled by the answer: a server that answers at once
    (here: refuses the token) says nothing but its answer."""

    class Refuses(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    monkeypatch.setattr(push, "WAIT_NOTICE_SECONDS", 0.05)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refuses)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    said: list[str] = []
    try:
        with pytest.raises(push.PushError, match="refused the token"):
            push.http_sender(
                f"http://127.0.0.1:{server.server_address[1]}", TOKEN, b"{}", waiting=said.append
            )
        time.sleep(0.2)  # past the note's time: a timer left running would have said it by now
    finally:
        server.shutdown()
        server.server_close()
    assert said == []
    # Against a silent server the note comes once per attempt (the read timeout shortened).
    from cost_mcp.sources import http as sources_http

    monkeypatch.setattr(sources_http, "TIMEOUT", httpx2.Timeout(0.3, connect=10.0))
    monkeypatch.setattr(time, "sleep", lambda _: None)  # the backoff between attempts
    with _silent_server() as (_sock, url), pytest.raises(push.PushError, match="did not answer"):
        push.http_sender(url, TOKEN, b"{}", waiting=said.append)
    assert len(said) == push.RETRIES and all("has not answered the push for 0.05 s" in s for s in said)
