"""Secrets in COST_MCP_DB and in the team server's URL never shown: not in what a command prints, not
in a log line, not in a file's name, in no encoding (as written, percent-encoded, decoded, base64).

A PostgreSQL password that is not percent-encoded (``p@ss``) is refused with what to do, before
psycopg sees it (libpq and Python split ``user:p@ss@host`` at different ``@``: the error named the
host ``ss@127.0.0.1``); a libpq keyword string or another scheme's URL is refused, not taken for a
file's path (which made a file named after it); a push names its server only as doctor does.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from cost_mcp import push
from cost_mcp.config import load_settings, provider_env_names
from cost_mcp.notify import display_url
from cost_mcp.store import connect
from tests.conftest import AGENT_FOLDERS
from tests.pg_cluster import Cluster
from tests.sources.claude_logs import assistant, session_file, write
from tests.test_cli import Ran, process, run

CANARY = "CANARY-9f3e"


def forms(secret: str) -> list[str]:
    """Every text ``secret`` may leak as: itself, percent-encoded, base64 (alone, and as HTTP Basic
    of ``user:secret``), and the canary inside it (what a split at the wrong ``@`` still shows)."""
    basic = [base64.b64encode(f"{user}:{secret}".encode()).decode() for user in ("", "postgres", "u")]
    return [
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        base64.b64encode(secret.encode()).decode(),
        *basic,
        CANARY,
    ]


def assert_nowhere(secret: str, *texts: str) -> None:
    for text in texts:
        for form in forms(secret):
            assert form not in text, (form, text)


def names_under(root: Path) -> list[str]:
    return [str(p.relative_to(root)) for p in root.rglob("*")]


@pytest.fixture
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated environment whose working folder is ``tmp_path / "cwd"`` (where a value taken
    for a relative path would become a file); COST_MCP_DB is the test's to set."""
    for name in provider_env_names():
        monkeypatch.delenv(name, raising=False)
    for name in [n for n in os.environ if n.upper().startswith("COST_MCP_TEAM_")]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COST_MCP_ENV_FILE", str(tmp_path / "config" / "env"))
    monkeypatch.setenv("COST_MCP_PRICES_FILE", str(tmp_path / "config" / "prices.toml"))
    monkeypatch.setenv("COST_MCP_TIMEZONE", "UTC")
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude"))
    for name in (*AGENT_FOLDERS, "CLINE_SESSION_DATA_DIR"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.delenv("COPILOT_OTEL_FILE_EXPORTER_PATH", raising=False)
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    return tmp_path


ENCODE = "percent-encode special characters in the password, e.g. @ as %40"


def _unreadable(cluster: Cluster, db: str) -> list[tuple[str, str, str]]:
    """(COST_MCP_DB, its password, what the refusal must say): values cost-mcp cannot open safely."""
    socket_dir = cluster.dir
    at = f"p@ss{CANARY}"
    return [
        # The QA report's URL (a TCP host that is not there), and the same on the real server.
        (f"postgresql://cost_mcp:{at}@127.0.0.1:5432/cost", at, ENCODE),
        (f"postgresql://postgres:{at}@/{db}?host={socket_dir}", at, ENCODE),
        (f"postgres://postgres:{at}@/{db}?host={socket_dir}", at, ENCODE),
        (f"postgresql://postgres:pa/ss{CANARY}@/{db}?host={socket_dir}", f"pa/ss{CANARY}", ENCODE),
        (f"postgresql://postgres:pa?ss{CANARY}@/{db}?host={socket_dir}", f"pa?ss{CANARY}", ENCODE),
        (f"postgresql://postgres:pa%zz{CANARY}@/{db}?host={socket_dir}", f"pa%zz{CANARY}", ENCODE),
        (f"postgresql:///{db}?host={socket_dir}&password=p@ss{CANARY}", f"p@ss{CANARY}", ENCODE),
        (f"postgresql://postgres:pw{CANARY}@[::1:5432/{db}", f"pw{CANARY}", "IPv6"),
        (
            f"host={socket_dir} dbname={db} user=postgres password=secret{CANARY}",
            f"secret{CANARY}",
            "write it as a URL, postgresql://",
        ),
        (f"mysql://root:secret{CANARY}@db/cost", f"secret{CANARY}", "is a mysql:// URL"),
        (f"POSTGRESQL://postgres:secret{CANARY}@/{db}?host={socket_dir}", f"secret{CANARY}", "lower case"),
    ]


def test_a_value_that_cannot_be_opened_safely_is_refused_and_never_shown(
    place: Path, pg_cluster: Cluster, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    db = pg_cluster.new_database()
    try:
        for value, password, says in _unreadable(pg_cluster, db):
            monkeypatch.setenv("COST_MCP_DB", value)
            caplog.clear()
            ran: list[Ran] = [run("report"), run("doctor"), run("doctor", "--json"), run("ingest")]
            report, _, doctor_json, ingest = ran
            assert report.returncode != 0 and ingest.returncode != 0, (value, report)
            assert says in report.stderr.replace("\n", " "), (value, report.stderr)
            assert says in json.loads(doctor_json.stdout)["database_status"], (value, doctor_json.stdout)
            logs = "\n".join(r.getMessage() for r in caplog.records)
            assert_nowhere(password, *(r.stdout + r.stderr for r in ran), logs)
            assert_nowhere(password, *names_under(place))
            assert names_under(place / "cwd") == [], value  # no file named after the value

        # Encoded as the refusal says, a password of any characters opens the ledger and never
        # shows (the cluster trusts its socket: any password opens it).
        password = f"p@ss/w?rd#{CANARY}% :[]"
        url = f"postgresql://postgres:{quote(password, safe='')}@/{db}?host={pg_cluster.dir}"
        monkeypatch.setenv("COST_MCP_DB", url)
        report, doctor = run("report"), run("doctor", "--json")
        assert report.returncode == 0, report.stderr
        shown = json.loads(doctor.stdout)
        assert shown["database"] == f"postgresql://postgres:***@/{db}?host={pg_cluster.dir}"
        assert shown["database_status"].startswith("ok"), shown["database_status"]
        missing = run("report", env={"COST_MCP_DB": url.replace(f"/{db}?", "/no_such_db?")})
        assert missing.returncode != 0 and "does not exist" in missing.stderr
        assert_nowhere(password, *(r.stdout + r.stderr for r in (report, doctor, missing)))
    finally:
        pg_cluster.drop_database(db)


# --- the team server's URL ----------------------------------------------------------------------

TOKEN = f"cmt_bearer-{CANARY}"
URL_PASSWORD = f"urlpw-{CANARY}"
URL_TOKEN = f"qtok-{CANARY}"


class _Answer(BaseHTTPRequestHandler):
    """A team server that answers every push with ``status`` and a body echoing the request."""

    status = 500

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = f"no: {self.path} {self.headers.get('Authorization')}".encode()
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # the test's output stays quiet
        pass


@pytest.fixture
def answering() -> Iterator[tuple[ThreadingHTTPServer, type[_Answer]]]:
    handler = type("Answer", (_Answer,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, handler
    server.shutdown()
    server.server_close()
    thread.join()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("status", [401, 500, 0])
def test_push_names_the_server_as_doctor_does_and_never_its_secrets(
    home: Path,
    status: int,
    answering: tuple[ThreadingHTTPServer, type[_Answer]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr(push, "RETRIES", 1)  # a refused connection fails at once, not after 7 s
    server, handler = answering
    handler.status = status
    port = server.server_address[1] if status else _closed_port()  # 0: nobody listens
    # A user:password@ or a ?query is refused before anything is sent (see below): the path is kept.
    url = f"http://127.0.0.1:{port}/team"
    monkeypatch.setenv("COST_MCP_TEAM_SERVER", url)
    monkeypatch.setenv("COST_MCP_TEAM_TOKEN", TOKEN)
    masked = display_url(url)
    assert masked == f"http://127.0.0.1:{port}/…"
    # One call in the log: the push has something to send (the CLI reads it in first).
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    write(session_file(home / "claude", "s1"), assistant("msg_1", "req_1", now))

    cli = run("push")
    assert cli.returncode != 0
    assert masked in cli.stderr.replace("\n", ""), cli.stderr
    doctor = json.loads(run("doctor", "--json").stdout)
    assert doctor["team"]["server"] == masked  # the one way the server is shown

    loop = push.PushLoop(load_settings(), lambda: connect(load_settings().db), lambda _: True)
    assert loop.once() is None
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "push to the team server failed" in logged and masked in logged

    for secret in (TOKEN, URL_PASSWORD, URL_TOKEN):
        assert_nowhere(secret, cli.stdout + cli.stderr, logged)
    assert_nowhere(URL_PASSWORD, json.dumps(doctor))


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("cost.example.com:4318", "has no https:// (or http://) in front: write it as "
         "https://cost.example.com:4318 (http:// only"),
        (f"member:{URL_PASSWORD}@Cost.example.com/team/", "write it as https://cost.example.com/team (http"),
        ("ftp://cost.example.com", "must start with https://"),
        ("https://cost.example.com/mcp", "ends in /mcp, one of its endpoints: give the server's own address, "
         "e.g. https://cost.example.com,"),
        ("http://127.0.0.1:9/team/v1/", "ends in /v1, one of its endpoints: give the server's own address, "
         "e.g. http://127.0.0.1:9/team,"),
        (f"https://member:{URL_PASSWORD}@cost.example.com", "carries a user name or password, which would be "
         "sent in place of the token"),
        (f"https://cost.example.com/team/?token={URL_TOKEN}", "carries a query or fragment (?... or #...), "
         "which cannot be part of the server's address: give it alone, e.g. https://cost.example.com/team,"),
        ("https://cost.example.com/#top", "carries a query or fragment"),
    ],
)  # fmt: skip
def test_a_team_server_url_that_cannot_be_right_is_refused_at_once(
    url: str, said: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pasting the /mcp URL gave "403 Required scope: admin", a URL with no scheme five retries:
    both are settings mistakes, said at once with the fix. QA: the URL with no scheme was then shown
    as "cost.example.com://?/…" (its host read as a scheme); it is now written out as it should be."""
    slept: list[float] = []
    monkeypatch.setattr("time.sleep", slept.append)
    with pytest.raises(push.PushError, match=re.escape(said)) as refused:
        push.http_sender(url, TOKEN, b"")
    assert slept == []
    assert_nowhere(URL_PASSWORD, str(refused.value))
    assert_nowhere(URL_TOKEN, str(refused.value))


def test_a_team_server_url_without_its_scheme_is_named_as_written(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QA: COST_MCP_TEAM_SERVER=cost.example.com:4318 (https:// left out) made `cost-mcp doctor`
    show the team server as "cost.example.com://?/…" and `cost-mcp push` say "the team server URL
    ://?/… must start with https://": the host was read as a scheme. Both now name the host as
    written, and push says the URL to write."""
    monkeypatch.setenv("COST_MCP_TEAM_SERVER", f"member:{URL_PASSWORD}@cost.example.com:4318")
    monkeypatch.setenv("COST_MCP_TEAM_TOKEN", TOKEN)
    doctor = json.loads(run("doctor", "--json").stdout)
    assert doctor["team"]["server"] == "cost.example.com:4318/…"
    pushed = run("push")
    assert pushed.returncode != 0
    said = " ".join(pushed.stderr.split())
    assert "has no https:// (or http://) in front: write it as https://cost.example.com:4318 (" in said, said
    for secret in (TOKEN, URL_PASSWORD):
        assert_nowhere(secret, pushed.stdout + pushed.stderr, json.dumps(doctor))


def test_a_refusal_is_shown_whole(answering: tuple[ThreadingHTTPServer, type[_Answer]]) -> None:
    """The server's JSON error names the fix at its end; it was cut at 300 bytes of the body."""
    server, handler = answering
    reason = "pushing needs the member's own token: " + "x" * 300 + " the member's own token"

    def refuse(self: _Answer) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"error": reason}).encode()
        self.send_response(403)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    handler.do_POST = refuse  # type: ignore[method-assign]
    with pytest.raises(push.PushError) as refused:
        push.http_sender(f"http://127.0.0.1:{server.server_address[1]}", TOKEN, b"")
    assert str(refused.value).endswith(f"answered 403: {reason}")


@pytest.fixture
def another_web_server(tmp_path: Path) -> Iterator[str]:
    """Python's own `http.server` in a process of its own: another program than cost-mcp on a port."""
    port = _closed_port()
    served = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        served.terminate()
        served.wait(timeout=10)


def test_a_push_to_another_web_server_says_so_without_its_page(home: Path, another_web_server: str) -> None:
    """A laptop's COST_MCP_TEAM_SERVER named a port another web server answers on: `cost-mcp push`
    printed "answered 501: <!DOCTYPE HTML>\\n<html lang=...", 300 bytes of the other server's
    error page and no word of what to fix. It now says no push endpoint is there, and what the
    setting must name."""
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    write(session_file(home / "claude", "s1"), assistant("msg_1", "req_1", now))
    pushed = process("push", "--server", another_web_server, "--token", TOKEN)
    said = " ".join(pushed.stderr.split())
    assert pushed.returncode == 2, said
    assert "answered 501 (an HTML page: Error response, not cost-mcp's answer): no push endpoint" in said
    assert "another program than `cost-mcp serve --http` answers on that port" in said
    assert "<" not in said and "Traceback" not in said
    assert_nowhere(TOKEN, pushed.stdout + pushed.stderr)


def test_push_marks_keep_no_secret_of_the_servers_url(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A laptop's push marks named the server by its whole URL: a password or ?token= in it went
    into the ledger. They are kept under the URL without them, and doctor still finds them."""
    from cost_mcp.pricing import Pricer
    from cost_mcp.sources.claude_code import ingest
    from cost_mcp.store import team

    url = f"https://member:{URL_PASSWORD}@Team.Example.com:8443/costs/?token={URL_TOKEN}"
    monkeypatch.setenv("COST_MCP_TEAM_SERVER", url)
    monkeypatch.setenv("COST_MCP_TEAM_TOKEN", TOKEN)
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    write(session_file(home / "claude", "s1"), assistant("msg_1", "req_1", now))
    settings = load_settings()
    conn = connect(settings.db)
    try:
        ingest(conn, settings, Pricer())
        sent: list[str] = []

        def send(to: str, _token: str, _body: bytes) -> push.PushAnswer:
            sent.append(to)
            return push.PushAnswer(accepted=1, changed=1)

        stats = push.push(conn, settings, send=send)
        assert stats.pending == 0  # counted against the mark under its key, not the URL as written
        assert sent == [url.rstrip("/")]  # the request itself goes where the URL says
        assert list(team.push_marks(conn)) == ["https://team.example.com:8443/costs"]
        stored = json.dumps(conn.execute("SELECT * FROM push_marks").fetchall())
    finally:
        conn.close()
    for secret in (URL_PASSWORD, URL_TOKEN, TOKEN):
        assert_nowhere(secret, stored)
    doctor = json.loads(run("doctor", "--json").stdout)
    assert doctor["team"]["pushed_events"] == 1


def _sync_and_doctor(openai_origin: str) -> tuple[Ran, Ran, Ran]:
    """`sync --provider openai`, `doctor` and `doctor --json` with OpenAI's API at ``openai_origin``."""
    env = {"OPENAI_ADMIN_KEY": "sk-admin-0123456789abcdefghij", "COST_MCP_OPENAI_BASE_URL": openai_origin}
    return (
        run("sync", "--provider", "openai", env=env),
        run("doctor", env=env),
        run("doctor", "--json", env=env),
    )


def test_a_provider_origin_with_a_password_is_refused_and_never_shown(
    home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A gateway's credentials written into the origin: httpx would send them as HTTP Basic in place
    # of the key, and "cannot reach <url>" quoted them into sync's output and the ledger.
    caplog.set_level(logging.DEBUG)
    secret = f"gw{CANARY}pw"
    synced, doctor, doctor_json = _sync_and_doctor(f"http://gateway:{secret}@127.0.0.1:9")
    assert synced.returncode == 1
    said = "COST_MCP_OPENAI_BASE_URL carries a user name or password"
    assert said in " ".join(synced.stdout.split())
    assert said in " ".join(doctor.stdout.split())
    assert "API origin    openai: http://127.0.0.1:9" in doctor.stdout
    with closing(connect(load_settings().db)) as conn:
        stored = " ".join(str(row) for row in conn.execute("SELECT * FROM source_state"))
    assert said in stored
    texts = [synced.stdout, synced.stderr, doctor.stdout, doctor.stderr, doctor_json.stdout, stored]
    assert_nowhere(secret, *texts, caplog.text)


def test_a_provider_origin_with_a_query_is_refused_and_never_shown(
    home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """h-qaprov F9: COST_MCP_OPENAI_BASE_URL=http://host/?api_key=SECRET was taken (README: an origin
    only) and doctor printed it whole; the paths a sync requests went after the query."""
    caplog.set_level(logging.DEBUG)
    secret = f"q{CANARY}key"
    synced, doctor, doctor_json = _sync_and_doctor(f"http://127.0.0.1:9/?api_key={secret}")
    assert synced.returncode == 1 and doctor.returncode == 1
    said = "COST_MCP_OPENAI_BASE_URL carries a query or fragment"
    assert said in " ".join(synced.stdout.split())
    assert said in " ".join(doctor.stdout.split())
    assert "API origin    openai: http://127.0.0.1:9/?…" in doctor.stdout
    with closing(connect(load_settings().db)) as conn:
        stored = " ".join(str(row) for row in conn.execute("SELECT * FROM source_state"))
    texts = [synced.stdout, synced.stderr, doctor.stdout, doctor.stderr, doctor_json.stdout, stored]
    assert_nowhere(secret, *texts, caplog.text)


@pytest.mark.parametrize("origin", ["127.0.0.1:9", "localhost:9", "ftp://127.0.0.1:9", "http:///v1"])
def test_a_provider_origin_without_http_is_refused_at_once(home: Path, origin: str) -> None:
    """A user pointing a provider at a gateway wrote `COST_MCP_OPENAI_BASE_URL=localhost:9`: sync
    tried it five times over ~9 s and said it could not reach it ("UnsupportedProtocol: Request URL
    is missing an 'http://' or 'https://' protocol"). Now sync and doctor name the fix at once."""
    synced, doctor, _ = _sync_and_doctor(origin)
    said = "COST_MCP_OPENAI_BASE_URL is not an http:// or https:// origin: write it with its scheme"
    assert synced.returncode == 1 and doctor.returncode == 1
    assert said in " ".join(synced.stdout.split())
    assert said in " ".join(doctor.stdout.split())
    assert "attempts" not in synced.stdout and "Traceback" not in synced.stderr


@pytest.mark.parametrize(
    "disguise",
    [str.upper, " ".join, lambda t: "".join(f"%{ord(c):02x}" for c in t), lambda t: f"{t[:14]}\n{t[14:]}"],
    ids=["upper-cased", "spaced", "percent-encoded", "two-lines"],
)
def test_a_team_server_echoing_the_token_in_disguise_never_shows_it(
    answering: tuple[ThreadingHTTPServer, type[_Answer]], disguise: Callable[[str], str]
) -> None:
    """A push's error quotes the team server's refusal: the token was taken out only as sent, so a
    server or proxy that echoed it upper-cased, spaced out or percent-encoded showed it in the
    error, in `cost-mcp push` and in the local server's log."""
    server, handler = answering
    url = f"http://127.0.0.1:{server.server_address[1]}"

    def refuse(self: _Answer) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"error": f"token {disguise(TOKEN)} may not push"}).encode()
        self.send_response(403)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    handler.do_POST = refuse  # type: ignore[method-assign]
    handler.do_GET = refuse  # type: ignore[attr-defined]
    with pytest.raises(push.PushError) as refused:
        push.http_sender(url, TOKEN, b"")
    checked = push.check_token(url, TOKEN)
    for shown in (str(refused.value), checked.words):
        assert "[redacted]" in shown, shown
        assert CANARY.lower() not in shown.lower().replace(" ", "").replace("\n", ""), shown
