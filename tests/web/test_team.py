"""Team mode end to end: tokens, auth on the HTTP server, laptops pushing, member-scoped views.

The end-to-end tests run `cost-mcp serve --http` in its own process and three simulated laptops,
each with its own SQLite ledger and Claude Code log tree, driven through the real CLI
(`cost-mcp ingest`, `cost-mcp push`). The server's ledger is the ``home`` fixture's, so every test
runs with the team ledger on SQLite and on PostgreSQL; the laptops keep SQLite files (the design).
"""

from __future__ import annotations

import base64
import gzip
import http.server
import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import httpx2
import msgspec
import pytest

from cost_mcp import access, push
from cost_mcp.analytics import spend
from cost_mcp.config import Settings, load_settings
from cost_mcp.errors import InvalidInputError
from cost_mcp.models import BudgetScope
from cost_mcp.money import format_usd
from cost_mcp.notify import display_url
from cost_mcp.periods import Period, days_period
from cost_mcp.pricing import Pricer, Tokens
from cost_mcp.sources import otel
from cost_mcp.sources.reported import record_call
from cost_mcp.store import connect, rollup, source_state, write_transaction
from cost_mcp.store import team as team_store
from cost_mcp.store.connection import is_postgres
from tests import servers
from tests.conftest import AGENT_FOLDERS, BACKENDS, copy_migrated, isolation
from tests.pg_cluster import Cluster
from tests.servers import ServerProcess
from tests.sources.claude_logs import assistant, permissions_hold, session_file, write
from tests.test_webhooks import Receiver, ops_webhook, receiver  # noqa: F401 (fixtures)
from tests.web.test_otel_receiver import CANARY, after_the_evaluation, alerts_of, arrived

# --- helpers ---------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _env(
    home: Path,
    db: Path | str,
    claude: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    **extra: str,
) -> dict[str, str]:
    """The environment of a process of the team (a laptop's command, the server): ``environ`` (this
    process's, which the ``home`` fixture isolated) with ledger ``db`` and every agent's folder
    under ``home``."""
    env = dict(os.environ if environ is None else environ)
    env.update(
        COST_MCP_DB=str(db),
        COST_MCP_ENV_FILE=str(home / "no-env"),
        COST_MCP_TIMEZONE="UTC",
        CLAUDE_CONFIG_DIR=str(claude or home / "no-claude"),
    )
    env.update({name: str(home / f"no-{folder}") for name, folder in AGENT_FOLDERS.items()})
    env.update(extra)
    return env


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``cost-mcp ARGS`` in a process of its own with ``env``: a laptop's or an admin's command,
    forked by tests/servers.py's zygote where it can be (a spawned one spent ~1 s of CPU starting)."""
    return servers.run(args, env, timeout=120)


def _window() -> Period:
    """The last 3 days in UTC: every call the tests make lies in it."""
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    utc = ZoneInfo("UTC")
    return Period(
        start=(end - timedelta(days=3)).astimezone(utc), end=end.astimezone(utc), name="test", tz=utc
    )


def _server_ledger(home: Path) -> Path | str:
    """The team server's ledger: the home fixture's PostgreSQL database, or a SQLite file of its own."""
    db = os.environ["COST_MCP_DB"]
    return db if is_postgres(db) else home / "server" / "cost.db"


def _ledger_bytes(db: Path | str) -> list[bytes]:
    """Everything a ledger holds, as bytes: the file and its WAL/journal beside it on SQLite, every
    table dumped with ``COPY ... TO STDOUT`` on PostgreSQL (so a secret in any column shows up)."""
    if not is_postgres(db):
        path = Path(db)
        return [p.read_bytes() for p in path.parent.iterdir() if p.is_file() and p.name.startswith(path.name)]
    import psycopg
    from psycopg import sql

    dumps: list[bytes] = []
    with psycopg.connect(str(db), autocommit=True) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename"
            )
        ]
        assert "api_tokens" in tables, tables
        for table in tables:
            out = bytearray()
            with conn.cursor().copy(sql.SQL("COPY {} TO STDOUT").format(sql.Identifier(table))) as copy:
                for chunk in copy:
                    out += bytes(chunk)
            dumps.append(bytes(out))
    return dumps


def _total(db: Path | str, *, members: list[str] | None = None) -> Decimal:
    conn = connect(db)
    try:
        settings = Settings(db=db, timezone="UTC")
        result = spend.get_spend(
            conn, settings, _window(), (), spend.Filters(members=members), take_alerts=False
        )
        return result.total_usd
    finally:
        conn.close()


@dataclass(frozen=True)
class Laptop:
    """A member's machine: its own ledger and Claude Code log tree."""

    member: str
    db: Path
    claude: Path
    logged_at: datetime | None = None
    """When :func:`_laptop` wrote its log's calls (the first; the others a second apart before it)."""

    def env(self, home: Path, **extra: str) -> dict[str, str]:
        return _env(home, self.db, self.claude, environ=None, **extra)


def _laptop(home: Path, name: str, member: str, calls: list[tuple[str, str, int, int]]) -> Laptop:
    """A laptop whose log holds ``calls``: (message id, request id, input tokens, output tokens)."""
    claude = home / name / "claude"
    # Half an hour ago, but on today's UTC date: run just after midnight, the rows fell on the day
    # before the calls a test then makes now, and a command the server names for their day
    # (forget-pushes --start/--end) rightly left those out (CI failed so at 00:09).
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    now = max(datetime.now(UTC) - timedelta(minutes=30), today + timedelta(seconds=len(calls)))
    lines = [
        assistant(mid, rid, _iso(now - timedelta(seconds=i)), session=f"{name}-s1", input=inp, output=out)
        for i, (mid, rid, inp, out) in enumerate(calls)
    ]
    write(session_file(claude, f"{name}-s1", project=f"-home-{name}-secret-project"), *lines)
    return Laptop(member, home / name / "cost.db", claude, now)


# --- tokens ----------------------------------------------------------------------------------------


def test_token_is_shown_once_and_only_its_hash_is_stored(settings: Settings) -> None:
    conn = connect(settings.db)
    token = team_store.create_token(conn, "ana-laptop", "Ana@Example.com", "member")
    assert token.startswith("cmt_") and len(token) > 40
    info = team_store.verify_token(conn, token)
    assert info is not None and (info.member, info.role, info.name) == (
        "ana@example.com",
        "member",
        "ana-laptop",
    )
    assert team_store.verify_token(conn, token + "x") is None
    assert team_store.verify_token(conn, "sk-not-ours") is None
    with pytest.raises(InvalidInputError, match="exists"):
        team_store.create_token(conn, "ana-laptop", "ana@example.com")
    with pytest.raises(InvalidInputError, match="email"):
        team_store.create_token(conn, "x", "not-an-email")
    team_store.revoke_token(conn, "ana-laptop")
    assert team_store.verify_token(conn, token) is None
    assert [t.revoked_at is not None for t in team_store.list_tokens(conn)] == [True]
    # Not "revoke it": it is. The name stays in the push history; another one is suggested.
    with pytest.raises(InvalidInputError, match=r"was revoked .* choose another name, e\.g\. ana-laptop-2"):
        team_store.create_token(conn, "ana-laptop", "ana@example.com")
    conn.close()
    dumps = _ledger_bytes(settings.db)
    assert any(team_store.hash_token(token).encode() in dump for dump in dumps)  # the dump sees the row
    assert all(token.encode() not in dump for dump in dumps)


def test_member_scope_and_admin_tools() -> None:
    ana = access.Caller("ana@example.com", "member", "ana-laptop")
    admin = access.Caller("boss@example.com", "admin", "boss")
    assert access.scope_arguments("get_spend", {"period": "today"}, ana)["members"] == ["ana@example.com"]
    assert access.scope_arguments("get_spend", {"members": ["ANA@example.com"]}, ana)["members"] == [
        "ana@example.com"
    ]
    with pytest.raises(access.AccessDeniedError, match="only their own"):
        access.scope_arguments("get_spend", {"members": ["bob@example.com"]}, ana)
    with pytest.raises(access.AccessDeniedError, match="admin token"):
        access.scope_arguments("set_budget", {}, ana)
    with pytest.raises(access.AccessDeniedError, match="admin token"):
        access.scope_arguments("session_usage", {}, ana)
    assert access.scope_arguments("get_spend", {"members": ["bob@example.com"]}, admin) == {
        "members": ["bob@example.com"]
    }
    assert access.scope_arguments("set_budget", {"name": "x"}, None) == {"name": "x"}


# --- push, in process (the wire format and the server's store, without HTTP) -----------------------


def _ingest(laptop: Laptop, home: Path) -> None:
    done = _cli(laptop.env(home), "ingest")
    assert done.returncode == 0, done.stderr


def _local_sender(server_db: Path | str, caller: access.Caller) -> Any:
    """Deliver pushes straight to a server ledger through the server's own decode and store."""
    pricer = Pricer()

    def send(_url: str, _token: str, body: bytes) -> push.PushAnswer:
        rows = push.decode(body, "application/json", "gzip").rows
        conn = connect(server_db)
        try:
            return push.receive(conn, pricer, caller, rows)
        finally:
            conn.close()

    return send


def test_push_is_idempotent_in_any_order_and_collapses_a_resumed_session(home: Path) -> None:
    # Ana resumed a session on a second machine: it logged msg_2 again with more tokens (the
    # complete copy) and made one more call. Server totals must equal one ledger holding both trees.
    first = _laptop(home, "one", "ana@example.com", [("msg_1", "req_1", 1000, 50), ("msg_2", "req_2", 10, 5)])
    second = _laptop(
        home, "two", "ana@example.com", [("msg_2", "req_2", 2000, 400), ("msg_3", "req_3", 7, 9)]
    )
    for laptop in (first, second):
        _ingest(laptop, home)
    both = _laptop(home, "both", "ana@example.com", [])
    for laptop in (first, second):
        for path in (laptop.claude / "projects").rglob("*.jsonl"):
            target = both.claude / "projects" / path.parent.name / f"{laptop.db.parent.name}-{path.name}"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    _ingest(both, home)
    expected = _total(both.db)
    assert expected > 0

    ana = access.Caller("ana@example.com", "member", "ana")
    # Second laptop first, then the first, then both again after losing their acks.
    # Server a is the home ledger (PostgreSQL in that run), server b a SQLite file.
    for name, server_db in (("a", _server_ledger(home)), ("b", home / "server-b.db")):
        order = (second, first) if name == "a" else (first, second)
        for laptop in order:
            settings = Settings(db=laptop.db, team_server=f"http://server-{name}", team_token="cmt_x")
            conn = connect(laptop.db)
            stats = push.push(conn, settings, send=_local_sender(server_db, ana))
            assert stats.sent > 0 and stats.pending == 0
            again = push.push(conn, settings, send=_local_sender(server_db, ana))
            assert again.sent == 0  # acknowledged: nothing to send
            conn.execute("DELETE FROM push_marks")  # marks lost: everything is sent again
            _refresh_rollup(server_db)
            assert push.push(conn, settings, send=_local_sender(server_db, ana)).changed == 0
            # Nothing changed, so nothing is left for the next query to rebuild.
            assert _dirty_quarter_hours(server_db) == 0
            conn.close()
        assert _total(server_db) == expected
        assert _total(server_db, members=["ana@example.com"]) == expected
        _assert_rollup_exact(server_db)


def _refresh_rollup(db: Path | str) -> None:

    conn = connect(db)
    try:
        assert rollup.refresh(conn) >= 0
    finally:
        conn.close()


def _dirty_quarter_hours(db: Path | str) -> int:
    conn = connect(db)
    try:
        return sum(int(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]) for t in rollup.MARKS)
    finally:
        conn.close()


COARSER = tuple(t for t in rollup.TABLES if t != "usage_rollup")


def _assert_rollup_exact(db: Path | str) -> None:
    """The rollup a server kept while taking pushes is the one a rebuild from its events gives."""

    conn = connect(db)
    try:
        rollup.refresh(conn)
        kept = sorted(conn.execute("SELECT * FROM usage_rollup").fetchall())
        kept_hours = [sorted(conn.execute(f"SELECT * FROM {t}").fetchall()) for t in COARSER]
        with write_transaction(conn):
            rollup.rebuild(
                conn, [int(r[0]) for r in conn.execute("SELECT DISTINCT ts_ms / 900000 FROM usage_events")]
            )
        assert kept and kept == sorted(conn.execute("SELECT * FROM usage_rollup").fetchall())
        assert all(kept_hours) and kept_hours == [
            sorted(conn.execute(f"SELECT * FROM {t}").fetchall()) for t in COARSER
        ]
    finally:
        conn.close()


def test_a_laptop_from_before_pushes_claude_on_bedrock_and_vertex_as_anthropic_s(home: Path) -> None:
    """A laptop whose ledger predates m030 sends its Claude Code calls on Bedrock and Vertex under
    provider anthropic: the server stores them under the cloud that bills them, or an Anthropic
    cost report covering their day would hide them. Other sources' rows keep what they say."""
    server_db = _server_ledger(home)
    if not is_postgres(server_db):
        connect(server_db).close()
    now = int(time.time() * 1000)
    rows = [
        ("claude_code", "m1", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
        ("claude_code_otel", "m2", "claude-sonnet-4-5@20250929"),
        ("claude_code", "m3", "claude-sonnet-4-5"),
        ("record_usage", "m4", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
    ]
    body = json.dumps(
        {
            "rows": [
                {
                    "source": source,
                    "message_id": mid,
                    "request_id": mid,
                    "ts_ms": now - 60_000,
                    "provider": "anthropic",
                    "model": model,
                    "input_tokens": 1_000,
                    "output_tokens": 1_000,
                }
                for source, mid, model in rows
            ]
        }
    ).encode()
    caller = access.Caller("ana@example.com", "member", "ana")
    conn = connect(server_db)
    try:
        answer = push.receive(conn, Pricer(), caller, push.decode(body, "application/json", "").rows)
        assert (answer.accepted, answer.changed) == (4, 4)
        stored = dict(conn.execute("SELECT message_id, provider FROM usage_events").fetchall())
        priced = conn.execute("SELECT COUNT(*) FROM usage_events WHERE cost_nanos IS NULL").fetchone()[0]
    finally:
        conn.close()
    assert stored == {"m1": "aws", "m2": "google", "m3": "anthropic", "m4": "anthropic"}
    assert priced == 0
    _assert_rollup_exact(server_db)


def test_push_rejects_bad_bodies_with_the_reason() -> None:
    good = {
        "source": "claude_code",
        "message_id": "m",
        "ts_ms": int(time.time() * 1000),
        "provider": "anthropic",
        "model": "claude-sonnet-4-5",
    }

    def body(rows: list[dict[str, Any]]) -> bytes:
        return json.dumps({"rows": rows}).encode()

    assert len(push.decode(body([good]), "application/json", "").rows) == 1
    assert len(push.decode(gzip.compress(body([good])), "application/json", "gzip").rows) == 1
    # Deflate too, as the OTLP receiver and /mcp take it: one reading of Content-Encoding for all.
    assert len(push.decode(zlib.compress(body([good])), "application/json", "Deflate").rows) == 1
    packed = msgspec.msgpack.encode({"rows": [good]})
    assert len(push.decode(packed, "application/msgpack", "").rows) == 1
    cases = [
        (body([{**good, "member": "bob@example.com"}]), "application/json", "", "member"),
        (body([{**good, "source": "anthropic-costs"}]), "application/json", "", "cannot be pushed"),
        (body([{**good, "input_tokens": -1}]), "application/json", "", "input_tokens"),
        (body([{**good, "project": "/home/ana/secret"}]), "application/json", "", "not a path"),
        (b"{not json", "application/json", "", "not valid"),
        (body([good]), "text/plain", "", "Content-Type"),
        (body([good]), "application/json", "br", "Content-Encoding 'br' is not supported"),
        (gzip.compress(gzip.compress(body([good]))), "application/json", "gzip, gzip", "'gzip, gzip'"),
        (body([good]), "application/json", "gzip", "not gzip"),
        # QA (h-qasec5): bytes after the gzip stream, or a stream cut short, were taken unsaid.
        (gzip.compress(body([good])) + b"junk", "application/json", "gzip", "what follows gzip member 1"),
        (gzip.compress(body([good]))[:-6], "application/json", "gzip", "truncated"),
        (body([good] * (push.MAX_ROWS + 1)), "application/json", "", "at most"),
    ]
    for raw, ctype, coding, reason in cases:
        with pytest.raises(push.PushRejected, match=reason):
            push.decode(raw, ctype, coding)


@pytest.mark.parametrize("ctype", ["application/json", "application/msgpack"])
def test_a_push_of_a_million_tiny_rows_is_refused_before_they_are_decoded(ctype: str) -> None:
    """QA (h-qasec): a member's 228 kB gzip push of 64 MB of the smallest rows (~970k) was decoded
    row by row, ~500 bytes each, before the 5,000-row limit refused it: the team server's memory grew
    by ~490 MB a push (two are decoded at once). It is counted first and refused with the same 413,
    the decode's memory about what unpacking the body takes; and a body nesting too deeply (which
    only that count reads) is a 400, not a server error."""
    import tracemalloc

    row = {"source": "x", "message_id": "m", "ts_ms": 1, "provider": "p", "model": "q"}
    encode = msgspec.json.encode if ctype == "application/json" else msgspec.msgpack.encode
    one = len(encode(row)) + 1
    body = gzip.compress(encode({"rows": [row] * ((push.MAX_DECODED_BYTES - 64) // one)}))
    assert len(body) < push.MAX_BODY_BYTES
    tracemalloc.start()
    try:
        with pytest.raises(
            push.PushRejected, match=r"^[\d,]{7,} rows in one push; send at most 5,000$"
        ) as refused:
            push.decode(body, ctype, "gzip")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert refused.value.status == 413
    # Unpacking alone peaks at twice the body (zlib grows its buffer): the rows must add little to it.
    assert peak < 3 * push.MAX_DECODED_BYTES, f"{peak / 2**20:.0f} MB to refuse the push"

    deep = 200_000
    nested = b'{"rows": [{"x": ' + b"[" * deep + b"]" * deep + b"}]}"
    raw = nested + b" " * otel.COUNT_FIRST_BYTES if ctype == "application/json" else None
    if raw is not None:
        with pytest.raises(push.PushRejected, match="nests too deeply") as refused:
            push.decode(raw, ctype, "")
        assert refused.value.status == 400


def test_push_leaves_out_only_the_rows_whose_time_is_not_a_calls() -> None:
    # A laptop's clock set a year ahead (or reset to 1970) stamps its log lines so: refusing the
    # whole batch for them refused it again at every push, and none of its usage ever arrived.
    now_ms = int(time.time() * 1000)
    good = {"source": "claude_code", "ts_ms": now_ms, "provider": "anthropic", "model": "claude-sonnet-4-5"}
    times = [now_ms, now_ms + 400 * 86_400_000, 5, 2**62]
    body = json.dumps({"rows": [{**good, "message_id": f"m{i}", "ts_ms": t} for i, t in enumerate(times)]})
    decoded = push.decode(body.encode(), "application/json", "")
    assert [r.message_id for r in decoded.rows] == ["m0"]
    assert decoded.rejected[0].startswith("row 1: ") and decoded.rejected[0][7:11].isdigit()
    assert decoded.rejected[1:] == ["row 2: 1970-01-01T00:00:00+00:00", f"row 3: ts_ms {2**62}"]


def test_hidden_projects_are_a_keyed_hash_and_paths_never_leave(home: Path) -> None:
    laptop = _laptop(home, "one", "ana@example.com", [("msg_1", "req_1", 10, 10)])
    _ingest(laptop, home)
    sent: list[bytes] = []

    def capture(_url: str, _token: str, body: bytes) -> push.PushAnswer:
        sent.append(gzip.decompress(body))
        return push.PushAnswer(accepted=1, changed=1)

    conn = connect(laptop.db)
    for hide in (None, "team-key"):
        conn.execute("DELETE FROM push_marks")
        settings = Settings(
            db=laptop.db, team_server="http://team", team_token="cmt_x", team_hide_projects=hide
        )
        push.push(conn, settings, send=capture)
    conn.close()
    plain, hidden = (json.loads(b)["rows"][0] for b in sent)
    assert "origin" not in plain and str(laptop.claude) not in sent[0].decode()
    # The log lines carry no cwd: stored under the folder's slug, which spells the path out.
    assert "/" not in plain["project"] and "-home-" not in plain["project"]
    assert hidden["project"].startswith("p-") and hidden["project"] != plain["project"]
    assert "secret" not in sent[1].decode()


# --- end to end: a real server process and three laptops ------------------------------------------


@dataclass
class Team:
    base: str
    server_db: Path | str
    tokens: dict[str, str]
    proc: ServerProcess
    stderr: Path


def _start(
    env: dict[str, str], port: int, stderr: Path, *extra: str, prefix: Sequence[str] = ()
) -> ServerProcess:
    """``cost-mcp serve --http`` on ``port``, started as ``prefix`` says, else forked by
    tests/servers.py's zygote where it can be (spawned where not); once it answers /healthz."""
    argv = ["serve", "--http", "--host", "127.0.0.1", "--port", str(port), *extra]
    proc: ServerProcess | None = None if prefix else servers.start(argv, env, stderr)
    if proc is None:
        with stderr.open("ab") as log:
            proc = subprocess.Popen(
                [*prefix, sys.executable, "-m", "cost_mcp", *argv],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {stderr.read_text()}")
        try:
            if httpx2.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx2.TransportError:
            pass
        # After a refusal and after an answer other than 200 alike: a starting server that answered
        # 503 used up the 300 tries in a moment, and the test failed as "did not start".
        time.sleep(0.1)
    raise AssertionError("server did not start")


def _stop(proc: ServerProcess) -> None:
    proc.terminate()
    proc.wait(timeout=10)


ADMIN_AND_ANA = (("admin", "admin@example.com", "admin"), ("ana", "ana@example.com", "member"))


def _tokens(server_db: Path | str, holders: Sequence[tuple[str, str, str]]) -> dict[str, str]:
    """A token for each (name, member, role) in the server's ledger, by name: made before the server
    starts (it reads at start whether tokens exist)."""
    conn = connect(server_db)  # `cost-mcp token create` itself: test_token_and_team_commands
    tokens = {name: team_store.create_token(conn, name, member, role) for name, member, role in holders}
    conn.close()
    return tokens


@contextmanager
def _served(
    home: Path,
    holders: Sequence[tuple[str, str, str]],
    server_db: Path | str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Iterator[Team]:
    """A team server process with a token for each (name, member, role) (:func:`_tokens`), on
    ``server_db`` (else :func:`_server_ledger`) with ``environ`` (else this process's) under it."""
    server_db = _server_ledger(home) if server_db is None else server_db
    tokens = _tokens(server_db, holders)
    port = _free_port()
    stderr = home / "server.log"
    env = _env(home, server_db, environ=environ, COST_MCP_PRICES_FILE=str(home / "prices.toml"))
    proc = _start(env, port, stderr)
    try:
        yield Team(f"http://127.0.0.1:{port}", server_db, tokens, proc, stderr)
    finally:
        _stop(proc)


TEAM = (
    ("admin", "boss@example.com", "admin"),
    *((name, f"{name}@example.com", "member") for name in ("ana", "bob", "cy")),
)
"""The ``team`` fixture's tokens: an admin's and three members'."""


def _made_server_ledger(home: Path, sqlite_template: Path) -> Path | str:
    """:func:`_server_ledger`, on SQLite a copy of the session's migrated ledger put there, as the
    ``ledger_made`` fixture does: for a server whose tokens (:func:`_tokens`) open it first."""
    server_db = _server_ledger(home)
    if not is_postgres(server_db):
        copy_migrated(sqlite_template, Path(server_db))
    return server_db


@pytest.fixture
def team(home: Path, sqlite_template: Path) -> Iterator[Team]:
    with _served(home, TEAM, _made_server_ledger(home, sqlite_template)) as served:
        yield served


@pytest.fixture(scope="module", params=BACKENDS)
def onlooked(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[Team]:
    """One team server per engine for this module's tests that only look at what it offers each
    token (tools, resources, prompts) and write nothing: they share it and its ledger, saving a
    server start each (some 3 s). The ``team`` fixture's tokens and an ingest token (``fleet``,
    ops@example.com). A test that writes anything, or reads what another test may have written,
    takes ``team`` (its own server and ledger)."""
    root = tmp_path_factory.mktemp("onlooked")
    values, unset = isolation(root)
    environ = {name: value for name, value in os.environ.items() if name not in unset} | values
    cluster: Cluster | None = None
    database = ""
    server_db: Path | str = root / "server" / "cost.db"
    if request.param == "postgresql":
        cluster = request.getfixturevalue("pg_cluster")
        database = cluster.new_database()
        server_db = cluster.url(database)
    else:
        copy_migrated(sqlite_template, Path(server_db))
    try:
        with _served(root, [*TEAM, ("fleet", "ops@example.com", "ingest")], server_db, environ) as served:
            yield served
    finally:
        if cluster is not None:
            cluster.drop_database(database)


async def _call(base: str, token: str | None, tool: str, args: dict[str, Any]) -> Any:
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client,
    ):
        return await client.call_tool(tool, args)


async def _tool_names(base: str, token: str) -> list[str]:
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http,
        Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client,
    ):
        return sorted(t.name for t in (await client.list_tools()).tools)


def test_a_members_filter_warnings_name_nothing_of_anyone_elses(team: Team, home: Path) -> None:
    """A member with no usage yet was told "member filter 'cy@example.com' matches nothing in the
    ledger (closest known: bob@example.com, ...)": a filter she never gave, and her colleagues'
    emails; a session or project filter's hint listed other members' sessions and projects."""
    for name in ("ana", "bob"):
        laptop = _laptop(home, name, f"{name}@example.com", [(f"msg_{name}", f"req_{name}", 100, 10)])
        done = _cli(laptop.env(home, COST_MCP_TEAM_TOKEN=team.tokens[name]), "push", "--server", team.base)
        assert done.returncode == 0, done.stderr

    def warnings(token: str, **args: Any) -> list[str]:
        answer = anyio.run(_call, team.base, token, "get_spend", {"period": "today", **args})
        assert not answer.is_error, answer.content
        return list(answer.structured_content["warnings"])

    cys = warnings(team.tokens["cy"])
    assert "no usage of yours (cy@example.com) is in the ledger yet" in cys, cys
    anas = warnings(team.tokens["ana"], sessions=["bob-s"], projects=["bob-secret"])
    admins = warnings(team.tokens["admin"], sessions=["bob-s"], projects=["bob-secret"])
    for said in (cys, anas):
        assert not [w for w in said if "bob@example.com" in w or "bob-s1" in w], said
    assert "session filter 'bob-s' matches nothing in the ledger (known: ana-s1)" in anas, anas

    def projects_named(said: list[str]) -> int:
        [hint] = [w for w in said if w.startswith("project filter")]
        return hint.count("p-")

    assert projects_named(anas) == 1
    # The admin's hints still name everyone's.
    assert any("closest known: bob-s1" in w for w in admins), admins
    assert projects_named(admins) == 2


def test_otel_metric_gaps_are_warned_only_in_answers_about_their_sessions(team: Team) -> None:
    """Every answer, a member's too, warned of every session on the server whose OTel metrics said
    more than its events ("Claude Code session bob-secret-project: ..."): a colleague's session
    name and usage. An answer scoped to members warns of their sessions only."""
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics import Counter, MeterProvider
    from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource

    from tests.web.test_otel_receiver import _ago, _api_request, _send_logs

    def metrics(token: str, session: str, tokens: int) -> None:
        exporter = OTLPMetricExporter(
            endpoint=f"{team.base}/v1/metrics",
            headers={"Authorization": f"Bearer {token}"},
            preferred_temporality={Counter: AggregationTemporality.DELTA},
        )
        reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
        meters = MeterProvider(
            resource=Resource.create({"service.name": "claude-code"}), metric_readers=[reader]
        )
        counter = meters.get_meter("com.anthropic.claude_code").create_counter("claude_code.token.usage")
        counter.add(tokens, {"session.id": session, "type": "input", "model": "claude-sonnet-4-5-20250929"})
        meters.shutdown()

    call = _api_request("req_ana", _ago(10), Tokens(input=100, output=10), **{"session.id": "ana-sess"})
    _send_logs(team.base, [call], token=team.tokens["ana"])
    metrics(team.tokens["ana"], "ana-sess", 5_000)
    metrics(team.tokens["bob"], "bob-secret-project", 7_000)  # its events never arrived

    def gaps(token: str, **args: Any) -> list[str]:
        answer = anyio.run(_call, team.base, token, "get_spend", {"period": "today", **args})
        assert not answer.is_error, answer.content
        return sorted(w.split(":")[0] for w in answer.structured_content["warnings"] if "OTel metrics" in w)

    both = ["Claude Code session ana-sess", "Claude Code session bob-secret-project"]
    assert gaps(team.tokens["admin"]) == both
    assert gaps(team.tokens["admin"], members=["ana@example.com"]) == both[:1]
    assert gaps(team.tokens["ana"]) == both[:1]
    assert gaps(team.tokens["cy"]) == []


def test_a_member_is_told_an_admin_prices_an_unknown_model(team: Team) -> None:
    """The advice to add a model to the price file names the server's path; a member cannot edit
    it there, so theirs says whose it is."""
    call = {
        "provider": "acme",
        "model": "house-model-3",
        "input_tokens": 1000,
        "output_tokens": 0,
        "agent": "bot",
    }
    assert not anyio.run(_call, team.base, team.tokens["ana"], "record_usage", call).is_error
    mine = anyio.run(_call, team.base, team.tokens["ana"], "get_spend", {"period": "today"})
    [said] = [w for w in mine.structured_content["warnings"] if "house-model-3" in w]
    assert "the team server's price override file (ask a team admin)" in said
    assert "prices.toml" not in said
    admins = anyio.run(_call, team.base, team.tokens["admin"], "get_spend", {"period": "today"})
    [theirs] = [w for w in admins.structured_content["warnings"] if "house-model-3" in w]
    assert "ask a team admin" not in theirs and "price override file (" in theirs


def test_a_member_is_not_shown_where_a_broken_price_file_lives(team: Team, home: Path) -> None:
    """A broken override file is every caller's problem (prices may be stale), but its path on
    the server is an admin's to know."""
    (home / "prices.toml").write_text("[[price]\nmodel = ", encoding="utf-8")
    mine = anyio.run(_call, team.base, team.tokens["ana"], "get_spend", {"period": "today"})
    [said] = [w for w in mine.structured_content["warnings"] if "not valid TOML" in w]
    assert str(home) not in json.dumps(mine.structured_content) and "on the team server" in said
    [empty] = [w for w in mine.structured_content["warnings"] if w.startswith("no data source")]
    assert "cost-mcp push" in empty and "CLAUDE_CONFIG_DIR" not in empty
    admins = anyio.run(_call, team.base, team.tokens["admin"], "get_spend", {"period": "today"})
    [theirs] = [w for w in admins.structured_content["warnings"] if "not valid TOML" in w]
    assert str(home / "prices.toml") in theirs


@pytest.mark.sqlite_only  # about log folders; root without the capabilities cannot reach PostgreSQL
def test_a_member_is_told_the_server_could_not_read_logs_but_not_where(home: Path) -> None:
    """A team server whose own Claude Code logs it could not open said so in every answer with the
    folder's path, to members too: its filesystem, which only an admin can fix, and calls no
    member's answer holds. A member's answer now says nothing of it; the admin keeps the path."""
    claude = home / "server-claude"
    write(session_file(claude, "s-read", "-srv-app"), assistant("m1", "r1", _iso(datetime.now(UTC))))
    hidden = write(
        session_file(claude, "s-hidden", "-srv-secret"), assistant("m2", "r2", _iso(datetime.now(UTC)))
    ).parent
    server_db = _server_ledger(home)
    tokens = _tokens(server_db, ADMIN_AND_ANA)
    port, base = _free_port(), ""
    hidden.chmod(0)
    try:
        proc = _start(_env(home, server_db, claude), port, home / "server.log", prefix=permissions_hold())
        try:
            base = f"http://127.0.0.1:{port}"
            mine = anyio.run(_call, base, tokens["ana"], "get_spend", {"period": "today"}).structured_content
            admins = anyio.run(_call, base, tokens["admin"], "get_spend", {"period": "today"})
        finally:
            _stop(proc)
    finally:
        hidden.chmod(0o755)
    assert str(claude) not in json.dumps(mine)
    # The server's own logs' calls are under no member, so in no member's answer: what it could not
    # read of them is not this answer's gap (it said PARTIAL and complete: false to every member).
    assert not [w for w in mine["warnings"] if "claude_code" in w] and mine["complete"] is True
    assert not [s for s in mine["sources"] if s["kind"] == "logs"]
    error = f"{hidden}: Permission denied"
    [theirs] = [w for w in admins.structured_content["warnings"] if w.startswith("PARTIAL: claude_code")]
    assert f"({error})" in theirs
    [admin_logs] = [s for s in admins.structured_content["sources"] if s["source"] == "claude_code"]
    assert admin_logs["last_error"] == error


def test_a_member_is_not_told_of_lines_the_server_skipped_in_its_own_logs(home: Path) -> None:
    """Every answer a member had, record_usage's too, said "1 Claude Code log line(s) in 1 file(s)
    were skipped ... `cost-mcp doctor` lists the files": the server's own logs, whose calls are in
    no member's answer and which only an admin can look at. An admin's answers still say it."""
    claude = home / "server-claude"
    log = write(session_file(claude, "s-srv", "-srv-app"), assistant("m1", "r1", _iso(datetime.now(UTC))))
    with log.open("a", encoding="utf-8") as f:
        f.write("{not json\n")
    server_db = _server_ledger(home)
    tokens = _tokens(server_db, ADMIN_AND_ANA)
    port = _free_port()
    proc = _start(_env(home, server_db, claude), port, home / "server.log")
    try:
        base = f"http://127.0.0.1:{port}"
        call = {
            "provider": "openai",
            "model": "gpt-4o",
            "input_tokens": 10,
            "output_tokens": 0,
            "agent": "bot",
        }
        recorded = anyio.run(_call, base, tokens["ana"], "record_usage", call)
        assert not recorded.is_error, recorded.content
        recorded = recorded.structured_content
        mine = anyio.run(_call, base, tokens["ana"], "get_spend", {"period": "today"}).structured_content
        admins = anyio.run(_call, base, tokens["admin"], "get_spend", {"period": "today"}).structured_content
    finally:
        _stop(proc)
    assert not [w for w in recorded["warnings"] + mine["warnings"] if "skipped" in w], (recorded, mine)
    assert [w for w in admins["warnings"] if "1 Claude Code log line in 1 file was skipped" in w]


def test_a_members_sources_are_their_pushes_and_the_providers_bill_without_its_error(
    team: Team, home: Path
) -> None:
    """A member's get_spend listed the server's own Claude Code log reader (its folders' state, which
    says nothing of the member's usage) and each provider's last error in the provider's words. Now
    it lists their own laptop's pushes and the providers' billed data, whether its sync failed but
    not why; an admin's answer keeps everything."""
    laptop = _laptop(home, "ana", "ana@example.com", [("msg_s", "req_s", 100, 10)])
    done = _cli(laptop.env(home, COST_MCP_TEAM_TOKEN=team.tokens["ana"]), "push", "--server", team.base)
    assert done.returncode == 0, done.stderr
    conn = connect(team.server_db)
    try:
        error = "401 Unauthorized: admin key 'ops-billing' of org-Secret123 was revoked"
        source_state.record_failure(conn, "openai", datetime.now(UTC).isoformat(), error)
    finally:
        conn.close()
    mine = _spend_by_member(team.base, team.tokens["ana"]).structured_content
    assert {(s["source"], s["kind"]) for s in mine["sources"]} == {
        ("push:ana", "push"),
        ("openai", "billing api"),
    }
    [bill] = [s for s in mine["sources"] if s["source"] == "openai"]
    assert bill["last_error"] == spend.MEMBER_SYNC_ERROR
    assert "Secret123" not in json.dumps(mine)
    admins = _spend_by_member(team.base, team.tokens["admin"]).structured_content
    assert any(s["kind"] == "logs" for s in admins["sources"]), admins["sources"]
    [theirs] = [s for s in admins["sources"] if s["source"] == "openai"]
    assert theirs["last_error"] == error


def test_a_members_answer_marks_only_the_rows_a_missing_bill_may_be_in(
    home: Path, sqlite_template: Path
) -> None:
    """OpenAI's key set on the team server and its bill not synced yet: a member's answer by provider
    marks the total a lower bound, and the rows OpenAI's bill may be in, but not their Claude Code
    calls' (Anthropic's) row. The server makes a member's warnings again where they name its price
    file; made again, a PARTIAL line lost the gaps it carries (analytics/gaps.py) and marked every
    row."""
    environ = {**os.environ, "OPENAI_ADMIN_KEY": "sk-admin-" + "a" * 40}
    with _served(home, TEAM, _made_server_ledger(home, sqlite_template), environ) as team:
        laptop = _laptop(home, "ana", "ana@example.com", [("msg_s", "req_s", 100, 10)])
        done = _cli(laptop.env(home, COST_MCP_TEAM_TOKEN=team.tokens["ana"]), "push", "--server", team.base)
        assert done.returncode == 0, done.stderr
        mine = _spend_by_member(team.base, team.tokens["ana"], group_by=["provider"]).structured_content
    assert [w for w in mine["warnings"] if w.startswith("PARTIAL: openai")], mine["warnings"]
    assert mine["complete"] is False
    assert {r["group"]["provider"]: r["complete"] for r in mine["rows"]} == {"anthropic": True}, mine["rows"]


def test_a_member_is_offered_only_the_tools_they_may_call(onlooked: Team) -> None:
    """tools/list follows the token: a member's model sees the five tools a member may call, not
    nineteen of which fourteen refuse; an admin sees every one."""
    assert anyio.run(_tool_names, onlooked.base, onlooked.tokens["ana"]) == sorted(access.MEMBER_TOOLS)
    every = anyio.run(_tool_names, onlooked.base, onlooked.tokens["admin"])
    assert set(access.MEMBER_TOOLS) < set(every) and "set_budget" in every and len(every) >= 19


async def _read_summary(base: str, token: str) -> str:
    """The ``cost://summary`` resource as ``token`` reads it, or the error the client gets instead."""
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared.exceptions import MCPError

    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http,
        Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client,
    ):
        try:
            read = await client.read_resource("cost://summary")
        except MCPError as exc:
            return f"refused: {exc}"
        return str(read.contents[0])


def _spend_by_member(base: str, token: str, **extra: Any) -> Any:
    window = _window()
    args = {
        "start": window.start.date().isoformat(),
        "end": (window.end - timedelta(days=1)).date().isoformat(),
    }
    return anyio.run(_call, base, token, "get_spend", {**args, "group_by": ["member"], "limit": 500, **extra})


def test_three_laptops_push_concurrently_and_twice(team: Team, home: Path) -> None:
    laptops = {
        "ana": _laptop(
            home, "ana", "ana@example.com", [(f"msg_a{i}", f"req_a{i}", 1000 + i, 10 * i) for i in range(40)]
        ),
        "bob": _laptop(
            home, "bob", "bob@example.com", [(f"msg_b{i}", f"req_b{i}", 3000 + i, 7 * i) for i in range(25)]
        ),
        "cy": _laptop(
            home, "cy", "cy@example.com", [(f"msg_c{i}", f"req_c{i}", 50 + i, 300 + i) for i in range(60)]
        ),
    }
    for laptop in laptops.values():
        _ingest(laptop, home)
    for round_ in range(2):
        commands = [
            servers.begin(
                ["push", "--server", team.base], laptop.env(home, COST_MCP_TEAM_TOKEN=team.tokens[name])
            )
            for name, laptop in laptops.items()
        ]
        for command in commands:
            done = command.result(120)
            assert done.returncode == 0, done.stderr
            assert "0 left" in done.stderr
        if round_ == 0:
            for laptop in laptops.values():  # marks lost: the second round sends everything again
                conn = sqlite3.connect(laptop.db)
                conn.execute("DELETE FROM push_marks")
                conn.commit()
                conn.close()

    # The admin's view over HTTP MCP: each member's total is their laptop's own, to the nano-dollar.
    result = _spend_by_member(team.base, team.tokens["admin"])
    assert not result.is_error, result.content
    by_member = {r["group"]["member"]: Decimal(str(r["cost_usd"])) for r in result.structured_content["rows"]}
    expected = {laptop.member: _total(laptop.db) for laptop in laptops.values()}
    assert by_member == expected
    assert Decimal(str(result.structured_content["total_usd"])) == sum(expected.values())

    # A member sees their own usage and the team's total, never another member's detail.
    mine = _spend_by_member(team.base, team.tokens["ana"])
    assert not mine.is_error, mine.content
    assert [r["group"]["member"] for r in mine.structured_content["rows"]] == ["ana@example.com"]
    assert any("whole team spent" in w for w in mine.structured_content["warnings"])
    refused = _spend_by_member(team.base, team.tokens["ana"], members=["bob@example.com"])
    assert refused.is_error and "only their own usage" in refused.content[0].text
    recorded = anyio.run(
        _call,
        team.base,
        team.tokens["ana"],
        "record_usage",
        {
            "provider": "openai",
            "model": "gpt-4o",
            "input_tokens": 400_000,
            "output_tokens": 0,
            "agent": "bot",
        },
    )
    assert not recorded.is_error, recorded.content
    server_conn = connect(team.server_db)
    assert server_conn.execute(
        "SELECT member FROM usage_events WHERE source = 'record_usage'"
    ).fetchall() == [("ana@example.com",)]
    server_conn.close()
    admin_only = anyio.run(_call, team.base, team.tokens["ana"], "model_breakdown", {})
    assert admin_only.is_error and "admin token" in admin_only.content[0].text

    # No token, a wrong token, a revoked token: 401 with where to find the resource metadata.
    for headers in ({}, {"Authorization": "Bearer cmt_wrong"}):
        answer = httpx2.post(f"{team.base}/mcp", json={}, headers=headers)
        assert answer.status_code == 401
        assert 'resource_metadata="' in answer.headers["www-authenticate"]
    meta = httpx2.get(f"{team.base}/.well-known/oauth-protected-resource/mcp").json()
    assert meta["resource"].endswith("/mcp")
    assert (
        httpx2.post(
            f"{team.base}/v1/logs", content=b"{}", headers={"Content-Type": "application/json"}
        ).status_code
        == 401
    )
    assert (
        httpx2.get(f"{team.base}/", headers={"Authorization": f"Bearer {team.tokens['ana']}"}).status_code
        == 403
    )
    done = _cli(_env(home, team.server_db), "token", "revoke", "bob")
    assert done.returncode == 0, done.stderr
    bob_log = next((laptops["bob"].claude / "projects").rglob("*.jsonl"))
    write(bob_log, assistant("msg_late", "req_late", _iso(datetime.now(UTC)), session="bob-s1"), append=True)
    _ingest(laptops["bob"], home)
    revoked = _cli(
        laptops["bob"].env(home, COST_MCP_TEAM_TOKEN=team.tokens["bob"]), "push", "--server", team.base
    )
    assert revoked.returncode != 0 and "refused the token" in revoked.stderr
    assert team.tokens["bob"] not in revoked.stderr + revoked.stdout
    assert (
        httpx2.post(
            f"{team.base}/mcp", json={}, headers={"Authorization": f"Bearer {team.tokens['bob']}"}
        ).status_code
        == 401
    )

    _assert_rollup_exact(team.server_db)

    # The canary: no token, in any form it travels in, is in the ledger, the server's log or a result.
    _stop(team.proc)
    haystacks = [team.stderr.read_bytes(), json.dumps(result.structured_content).encode()]
    haystacks += _ledger_bytes(team.server_db)
    haystacks += [laptop.db.read_bytes() for laptop in laptops.values()]
    for token in team.tokens.values():
        forms = {token, base64.b64encode(token.encode()).decode(), urllib.parse.quote(token, safe="")}
        forms.add(base64.b64encode(f"Bearer {token}".encode()).decode())
        for form in forms:
            for haystack in haystacks:
                assert form.encode() not in haystack


def test_a_member_filter_finds_the_member_whatever_the_case_of_the_email(team: Team) -> None:
    call = {"provider": "anthropic", "model": "claude-sonnet-4-5", "input_tokens": 1_000, "output_tokens": 0}
    call["agent"] = "bot"
    assert not anyio.run(_call, team.base, team.tokens["ana"], "record_usage", call).is_error
    exact = _spend_by_member(team.base, team.tokens["admin"], members=["ana@example.com"])
    typed = _spend_by_member(team.base, team.tokens["admin"], members=[" Ana@Example.COM"])
    assert not typed.is_error, typed.content
    assert typed.structured_content["total_usd"] == exact.structured_content["total_usd"] > 0
    assert not any("matches nothing" in w for w in typed.structured_content["warnings"])


def test_a_members_filter_hints_name_nothing_of_other_members(team: Team) -> None:
    """A filter that matched nothing was hinted from the whole ledger: a member's get_spend named
    other members ("closest known: bob@example.com"), their agents, sessions and projects; so did
    budget_status, through a team-wide budget's scope. A member's hints are their own values now."""
    bob = {"provider": "openai", "model": "gpt-4o", "input_tokens": 1_000, "output_tokens": 0}
    bob |= {"agent": "bob-secret-agent", "session": "bob-session-7f3a", "request_id": "bob-1"}
    assert not anyio.run(_call, team.base, team.tokens["bob"], "record_usage", bob).is_error
    mine = {"provider": "openai", "model": "gpt-4o", "input_tokens": 10, "output_tokens": 0}
    assert not anyio.run(
        _call, team.base, team.tokens["ana"], "record_usage", mine | {"agent": "ana-bot"}
    ).is_error
    admin = team.tokens["admin"]
    scope = {"name": "all", "amount_usd": 50, "period": "month", "agents": ["bob-secret"], "members": []}
    assert not anyio.run(_call, team.base, admin, "set_budget", scope).is_error
    asked = {"agents": ["bob-secret"], "sessions": ["bob-session"], "models": ["gpt-4"]}
    theirs = anyio.run(_call, team.base, team.tokens["cy"], "get_spend", {"period": "today", **asked})
    said = " ".join(theirs.structured_content["warnings"])
    assert "matches nothing in the ledger" in said
    for secret in ("bob@example.com", "bob-secret-agent", "bob-session-7f3a", "gpt-4o", "ana"):
        assert secret not in said, said
    anas = anyio.run(
        _call, team.base, team.tokens["ana"], "get_spend", {"period": "today", "agents": ["ana-b"]}
    )
    assert (
        "agent filter 'ana-b' matches nothing in the ledger (closest known: ana-bot)"
        in anas.structured_content["warnings"]
    )
    # A team-wide budget scoped by agents none of which is cy's is not cy's to see at all
    # (test_member_privacy); ana's agent in its scope shows it to her, naming only hers.
    status = anyio.run(_call, team.base, team.tokens["cy"], "budget_status", {})
    assert status.structured_content["budgets"] == []
    said = " ".join(status.structured_content["warnings"])
    assert "bob-secret" not in said and "bob@example.com" not in said
    both = scope | {"agents": ["bob-secret", "ana-bot"]}
    assert not anyio.run(_call, team.base, admin, "set_budget", both).is_error
    status = anyio.run(_call, team.base, team.tokens["ana"], "budget_status", {})
    assert [s["budget"]["scope"]["agents"] for s in status.structured_content["budgets"]] == [["ana-bot"]]
    assert "bob-secret" not in str(status.structured_content)
    # An admin is still helped by the whole ledger's names.
    status = anyio.run(_call, team.base, admin, "budget_status", {})
    assert "closest known: bob-secret-agent" in " ".join(status.structured_content["warnings"])


def test_a_members_resource_read_is_refused_with_the_reason(onlooked: Team) -> None:
    # The refusal reached the client as "Internal server error", and the server logged a traceback.
    assert "this_week: " in anyio.run(_read_summary, onlooked.base, onlooked.tokens["admin"])
    refused = anyio.run(_read_summary, onlooked.base, onlooked.tokens["ana"])
    assert refused == (
        "refused: resources show everyone's spend and need an admin token; ana@example.com: use get_spend"
    )
    assert b"Traceback" not in onlooked.stderr.read_bytes()


async def _resource_uris(base: str, token: str) -> list[str]:
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http,
        Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client,
    ):
        return sorted(str(r.uri) for r in (await client.list_resources()).resources)


def test_a_member_is_offered_no_resource_they_would_be_refused(onlooked: Team) -> None:
    # resources/list offered a member cost://summary and the dashboard app, and each read was refused.
    assert "cost://summary" in anyio.run(_resource_uris, onlooked.base, onlooked.tokens["admin"])
    assert anyio.run(_resource_uris, onlooked.base, onlooked.tokens["ana"]) == []


async def _prompts(base: str, token: str) -> tuple[list[str], str]:
    """The prompts ``token`` is offered, and what getting weekly_cost_review gives it (its text, or
    the error the client gets instead)."""
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared.exceptions import MCPError

    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http,
        Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client,
    ):
        offered = sorted(p.name for p in (await client.list_prompts()).prompts)
        try:
            got = await client.get_prompt("weekly_cost_review", {})
        except MCPError as exc:
            return offered, f"refused: {exc}"
        return offered, str(got.messages[0].content.text)  # type: ignore[union-attr]


def test_a_member_is_offered_no_prompt_that_calls_admin_tools(onlooked: Team) -> None:
    # A member's prompts/list offered weekly_cost_review, whose text sends the model to
    # model_breakdown, savings_report and compare_periods: three refusals in a row.
    offered, text = anyio.run(_prompts, onlooked.base, onlooked.tokens["admin"])
    assert offered == ["weekly_cost_review"] and "savings_report(" in text
    assert anyio.run(_prompts, onlooked.base, onlooked.tokens["ana"]) == (
        [],
        "refused: the weekly_cost_review prompt calls compare_periods, model_breakdown, savings_report, "
        "which need an admin token; ana@example.com: use get_spend for your own usage",
    )
    offered, refused = anyio.run(_prompts, onlooked.base, onlooked.tokens["fleet"])
    assert offered == [] and refused.startswith(
        "refused: the weekly_cost_review prompt calls tools: the token 'fleet' (ops@example.com) is an "
        "ingest token"
    )
    assert b"Traceback" not in onlooked.stderr.read_bytes()


def test_two_replicas_on_one_ledger_agree(team: Team, home: Path) -> None:
    port = _free_port()
    second = _start(_env(home, team.server_db), port, home / "replica.log")
    try:
        replica = f"http://127.0.0.1:{port}"
        laptops = [
            (
                name,
                _laptop(
                    home,
                    name,
                    f"{name}@example.com",
                    [(f"m_{name}{i}", f"r_{name}{i}", 500 * i, 20) for i in range(1, 30)],
                ),
            )
            for name in ("ana", "bob")
        ]
        for _, laptop in laptops:
            _ingest(laptop, home)
        # Both replicas take pushes at once; then each laptop pushes everything again to the other
        # replica (acks are kept per server URL), so both write the same events concurrently.
        for round_, bases in enumerate(((team.base, replica), (replica, team.base))):
            commands = [
                servers.begin(
                    ["push", "--server", base], laptop.env(home, COST_MCP_TEAM_TOKEN=team.tokens[name])
                )
                for (name, laptop), base in zip(laptops, bases, strict=True)
            ]
            for command in commands:
                done = command.result(120)
                assert done.returncode == 0, done.stderr
                # All 29 calls go each time; the second time the other replica already has them.
                new = 0 if round_ else 29
                assert f"pushed 29 usage rows in 1 batch(es), {new} new or grown" in done.stderr
                assert "0 left" in done.stderr
        answers = [_spend_by_member(base, team.tokens["admin"]) for base in (team.base, replica)]
        for answer in answers:
            assert not answer.is_error, answer.content
        assert answers[0].structured_content["rows"] == answers[1].structured_content["rows"]
        totals = [answer.structured_content["total_usd"] for answer in answers]
        assert totals[0] == totals[1]
        assert Decimal(str(totals[0])) == sum(_total(laptop.db) for _, laptop in laptops) > 0
        by_member = {
            r["group"]["member"]: Decimal(str(r["cost_usd"])) for r in answers[0].structured_content["rows"]
        }
        assert by_member == {laptop.member: _total(laptop.db) for _, laptop in laptops}
        _assert_rollup_exact(team.server_db)
    finally:
        _stop(second)


def test_worker_processes_share_the_port_and_the_ledger(home: Path, sqlite_template: Path) -> None:
    # The ``team`` fixture's tokens and ledger, without its server: this test serves them with its
    # own workers, and a server started to sit idle beside them cost a whole start (1-2 s of CPU).
    server_db = _made_server_ledger(home, sqlite_template)
    tokens = _tokens(server_db, TEAM)
    port = _free_port()
    served = _start(_env(home, server_db), port, home / "workers.log", "--workers", "2")
    try:
        base = f"http://127.0.0.1:{port}"
        # uvicorn's supervisor and its two workers, each a server process with its own ledger
        # (beside them multiprocessing may start its resource tracker, which serves nothing).
        children = Path(f"/proc/{served.pid}/task/{served.pid}/children").read_text().split()
        workers = [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
        assert len(workers) == 2
        laptops = [
            (
                name,
                _laptop(
                    home,
                    name,
                    f"{name}@example.com",
                    [(f"w_{name}{i}", f"rw_{name}{i}", 300 * i, 11) for i in range(1, 40)],
                ),
            )
            for name in ("ana", "bob", "cy")
        ]
        for _, laptop in laptops:
            _ingest(laptop, home)
        # Each laptop pushes twice at once with the others; whichever worker takes a push, each
        # call counts once.
        for _ in range(2):
            commands = [
                servers.begin(["push", "--server", base], laptop.env(home, COST_MCP_TEAM_TOKEN=tokens[name]))
                for name, laptop in laptops
            ]
            for command in commands:
                done = command.result(120)
                assert done.returncode == 0, done.stderr
            for _, laptop in laptops:
                conn = connect(laptop.db)
                conn.execute("DELETE FROM push_marks")  # sent again in the second round
                conn.close()
        # Several questions, so both workers answer some.
        for _ in range(4):
            answer = _spend_by_member(base, tokens["admin"])
            assert not answer.is_error, answer.content
            by_member = {
                r["group"]["member"]: Decimal(str(r["cost_usd"])) for r in answer.structured_content["rows"]
            }
            assert by_member == {laptop.member: _total(laptop.db) for _, laptop in laptops}
        _assert_rollup_exact(server_db)
    finally:
        _stop(served)


def test_worker_processes_log_one_line_per_record_as_one_process_does(team: Team, home: Path) -> None:
    """QA: `serve --http --workers 2` logged through the MCP SDK's handler: "[12/07/26 01:17:50] INFO
    dashboard sign-in from 127.0.0.1 with signin.py:183" and the token's name on the next line, so
    a grep for "cost_mcp.http" or a log shipper found nothing whole. The workers now write what
    the single process writes: "LEVEL logger: message", one line each."""
    log = home / "workers.log"
    port = _free_port()
    served = _start(_env(home, team.server_db), port, log, "--workers", "2")
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(2):  # either worker may take it
            signed = httpx2.post(
                f"{base}/signin", data={"token": team.tokens["admin"]}, headers={"Origin": base}
            )
            assert signed.status_code == 303, signed.text
    finally:
        _stop(served)
    lines = log.read_text().splitlines()
    signins = [line for line in lines if "dashboard sign-in" in line]
    assert len(signins) == 2, lines
    for line in signins:
        assert line.startswith("INFO cost_mcp.http: dashboard sign-in from 127.0.0.1 with token 'admin' ("), (
            line
        )
    serving = [
        line for line in lines if line.startswith("INFO cost_mcp: cost-mcp ") and " serving, ledger " in line
    ]
    assert len(serving) == 2, lines  # each worker says what it serves, on one line
    assert team.tokens["admin"] not in log.read_text()


def test_the_servers_log_has_no_line_per_mcp_request(team: Team) -> None:
    """QA: every MCP request to `serve --http` added "INFO mcp.server.streamable_http: Terminating
    session: None" to the server's log (the SDK's stateless transport): a team whose agents ask
    check_budget before each call filled the journal with it, around the lines that matter."""
    for tool in ("budget_status", "get_spend", "budget_status"):
        answer = anyio.run(_call, team.base, team.tokens["ana"], tool, {})
        assert not answer.is_error, answer.content
    # As an agent's client sends them when it does not wait for the stream's end (curl, say).
    listing = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    auth = {"Authorization": f"Bearer {team.tokens['ana']}", "Accept": "application/json, text/event-stream"}
    for _ in range(5):
        assert httpx2.post(f"{team.base}/mcp", json=listing, headers=auth).status_code == 200
    # Something the server does log at INFO, after the calls: the log was being written.
    refused = httpx2.post(
        f"{team.base}/signin", data={"token": "cmt_" + "x" * 43}, headers={"Origin": team.base}
    )
    assert refused.status_code == 401
    _stop(team.proc)
    log = team.stderr.read_text()
    assert "dashboard sign-in from 127.0.0.1: token not accepted" in log, log
    assert "Terminating session" not in log, log


def test_the_server_logs_requests_whose_token_it_refused(team: Team) -> None:
    """QA: a fleet's agents sending OTLP with a revoked or mistyped token got 401s and dropped the
    events without a word, and the server's log said nothing either: the admin learnt of it days
    later (`otlp quiet`). Each refusal is now logged with the client's address and the reason, at
    most once a minute per address, path and reason, and never the token."""
    conn = connect(team.server_db)
    try:
        team_store.revoke_token(conn, "cy")
    finally:
        conn.close()
    events: dict[str, list[Any]] = {"resourceLogs": []}
    for _ in range(3):  # an exporter retrying: one line
        sent = httpx2.post(
            f"{team.base}/v1/logs", json=events, headers={"Authorization": f"Bearer {team.tokens['cy']}"}
        )
        assert sent.status_code == 401
    bare = {"Authorization": team.tokens["ana"]}
    for _ in range(2):  # another reason on the same path: its own line, once
        assert httpx2.post(f"{team.base}/v1/logs", json=events, headers=bare).status_code == 401
    assert httpx2.post(f"{team.base}/api/push", json={"rows": []}, headers=bare).status_code == 401
    _stop(team.proc)
    log = team.stderr.read_text()
    refused = [line for line in log.splitlines() if "refused a request" in line]
    assert refused == [
        "WARNING cost_mcp.http: refused a request to '/v1/logs' from 127.0.0.1: the bearer token was "
        "refused: it is wrong, revoked or expired; ask a team admin for a new one (cost-mcp token create "
        "NAME --member EMAIL on the server)",
        "WARNING cost_mcp.http: refused a request to '/v1/logs' from 127.0.0.1: the Authorization header "
        "holds the token without the word Bearer before it: this server takes `Authorization: Bearer "
        "cmt_...` (the word Bearer, a space, then the token)",
        "WARNING cost_mcp.http: refused a request to '/api/push' from 127.0.0.1: the Authorization header "
        "holds the token without the word Bearer before it: this server takes `Authorization: Bearer "
        "cmt_...` (the word Bearer, a space, then the token)",
    ], log
    for token in (team.tokens["cy"], team.tokens["ana"]):
        assert token not in log and token.removeprefix("cmt_") not in log


def test_local_server_pushes_on_its_own(team: Team, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mcp import Client

    from cost_mcp.server import mcp

    laptop = Laptop("ana@example.com", home / "data" / "cost.db", home / "claude")
    write(
        session_file(laptop.claude, "own-s1"),
        *[
            assistant(f"msg_own{i}", f"req_own{i}", _iso(datetime.now(UTC) - timedelta(minutes=i)))
            for i in range(5)
        ],
    )
    monkeypatch.setenv("COST_MCP_DB", str(laptop.db))  # the laptop's own SQLite ledger, not the team's
    monkeypatch.setenv("COST_MCP_TEAM_SERVER", team.base)
    monkeypatch.setenv("COST_MCP_TEAM_TOKEN", team.tokens["ana"])

    async def serve_a_while() -> None:
        async with Client(mcp, raise_exceptions=True) as client:
            await client.call_tool("get_spend", {"period": "today"})
            for _ in range(600):  # the push runs in the background once the logs are read
                if _total(team.server_db, members=["ana@example.com"]) > 0:
                    return
                await anyio.sleep(0.1)

    anyio.run(serve_a_while)
    assert _total(team.server_db, members=["ana@example.com"]) == _total(laptop.db) > 0


def test_cli_push_reads_new_log_lines_first(team: Team, home: Path) -> None:
    # A first `cost-mcp push` (or one from cron) sent nothing of what was logged since the last
    # question: it pushed only the rows some earlier answer had happened to read.
    laptop = _laptop(
        home, "ana", "ana@example.com", [(f"msg_c{i}", f"req_c{i}", 100 + i, 10) for i in range(3)]
    )
    env = laptop.env(home, COST_MCP_TEAM_TOKEN=team.tokens["ana"])
    first = _cli(env, "push", "--server", team.base)
    assert first.returncode == 0, first.stderr
    assert "pushed 3 usage rows" in first.stderr
    assert _total(team.server_db, members=["ana@example.com"]) == _total(laptop.db) > 0

    log = next((laptop.claude / "projects").rglob("*.jsonl"))
    write(log, assistant("msg_c9", "req_c9", _iso(datetime.now(UTC)), session="ana-s1"), append=True)
    second = _cli(env, "push", "--server", team.base)
    assert second.returncode == 0, second.stderr
    assert "pushed 1 usage rows" in second.stderr
    assert _total(team.server_db, members=["ana@example.com"]) == _total(laptop.db)
    # Nothing new to send: the token is still checked, so a wrong one is an error now, not a
    # "pushed 0 usage rows" that looked fine until the next call.
    third = _cli(env, "push", "--server", team.base)
    assert third.returncode == 0 and "pushed 0 usage rows" in third.stderr, third.stderr
    wrong = _cli({**env, "COST_MCP_TEAM_TOKEN": "cmt_not-a-token"}, "push", "--server", team.base)
    assert wrong.returncode != 0 and "401" in wrong.stderr, wrong.stderr
    assert "cmt_not-a-token" not in wrong.stderr + wrong.stdout


def test_a_token_another_team_server_made_is_named_as_a_possible_cause(team: Team, home: Path) -> None:
    """A member with two teams' servers (or a server rebuilt on a new ledger) set a token the
    server did not make: push and doctor said "wrong or revoked; ask an admin", with no hint that
    the token may be another server's, nor whose admin to ask."""
    laptop = _laptop(home, "ana", "ana@example.com", [("msg_o", "req_o", 100, 10)])
    elsewhere = home / "other-server" / "cost.db"
    elsewhere.parent.mkdir()
    made = _cli(
        {**laptop.env(home), "COST_MCP_DB": str(elsewhere)},
        "token",
        "create",
        "ana",
        "--member",
        "ana@example.com",
    )
    other = made.stdout.strip()
    assert made.returncode == 0 and other.startswith("cmt_"), made.stderr
    env = laptop.env(home, COST_MCP_TEAM_SERVER=team.base, COST_MCP_TEAM_TOKEN=other)
    pushed = _cli(env, "push")
    said = " ".join(pushed.stderr.split())
    assert pushed.returncode == 2, said
    assert (
        "refused the token (401): it is wrong (mistyped, or made by another team server) or revoked" in said
    )
    assert "ask this server's admin for a new one (`cost-mcp token create` on it)" in said
    doctor = json.loads(_cli(env, "doctor", "--json").stdout)
    assert "(mistyped, or made by another team server)" in doctor["team"]["token_check"]
    assert other not in pushed.stdout + pushed.stderr + json.dumps(doctor)


def test_a_push_to_a_wrong_path_says_the_address_is_wrong(team: Team, home: Path) -> None:
    # A wrong path in COST_MCP_TEAM_SERVER reaches the dashboard's guard: the laptop said
    # "answered 403: insufficient_scope" (a member's token) or "answered 404: Not Found" (an
    # admin's), and nothing of the address.
    laptop = _laptop(home, "ana", "ana@example.com", [("msg_w", "req_w", 100, 10)])
    for token in (team.tokens["ana"], team.tokens["admin"]):
        pushed = _cli(laptop.env(home, COST_MCP_TEAM_TOKEN=token), "push", "--server", f"{team.base}/wrong")
        assert pushed.returncode != 0
        assert "no push endpoint is at that address, so its path is likely wrong" in pushed.stderr, (
            pushed.stderr
        )
        assert token not in pushed.stderr
    right = _cli(laptop.env(home, COST_MCP_TEAM_TOKEN=team.tokens["ana"]), "push", "--server", team.base)
    assert right.returncode == 0 and "pushed 1 usage rows" in right.stderr, right.stderr


def test_doctor_says_a_wrong_path_is_wrong_as_push_does(team: Team, home: Path) -> None:
    # doctor read the 404 (an admin's token) as "an older server" and the dashboard's 403 (a
    # member's) as "token cannot push", while push said the path was wrong.
    laptop = _laptop(home, "ana", "ana@example.com", [("msg_x", "req_x", 100, 10)])
    for name in ("ana", "admin"):
        token = team.tokens[name]
        env = laptop.env(home, COST_MCP_TEAM_SERVER=f"{team.base}/wrong", COST_MCP_TEAM_TOKEN=token)
        told = _cli(env, "doctor", "--json")
        report = json.loads(told.stdout)
        assert (report["team"]["token_accepted"], report["team"]["token_can_push"]) == (None, None)
        [warning] = [w for w in report["warnings"] if "team server" in w]
        assert "no push endpoint is at that address, so its path is likely wrong" in warning, warning
        assert warning == report["team"]["token_check"]
        assert not any("token" in p for p in report["problems"]), report["problems"]
        assert token not in told.stdout + told.stderr
        pushed = _cli(env, "push")
        assert pushed.returncode != 0 and warning.split(": no push endpoint")[1] in pushed.stderr


def _backup(db: Path | str, to: Path) -> None:
    """An online backup of a running server's ledger, as README says: SQLite's backup API, pg_dump."""
    if is_postgres(db):
        from tests.pg_cluster import _bin_dir

        bin_dir = _bin_dir()
        assert bin_dir is not None
        subprocess.run([str(bin_dir / "pg_dump"), "-Fc", "-f", str(to), str(db)], check=True, timeout=60)
        return
    with sqlite3.connect(db) as source, sqlite3.connect(to) as target:
        source.backup(target)
    source.close()
    target.close()


def _restore(db: Path | str, backup: Path) -> None:
    """Put a backup back over a stopped server's ledger."""
    if is_postgres(db):
        from tests.pg_cluster import _bin_dir

        bin_dir = _bin_dir()
        assert bin_dir is not None
        subprocess.run(
            [str(bin_dir / "pg_restore"), "--clean", "--if-exists", "-d", str(db), str(backup)],
            check=True,
            timeout=60,
        )
        return
    path = Path(db)
    for stale in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    path.write_bytes(backup.read_bytes())


def test_a_full_push_refills_a_server_restored_from_a_backup(team: Team, home: Path) -> None:
    # The server's ledger restored from last night's backup lacked every row pushed since, and
    # laptops never sent them again: their marks said the server had them ("pushed 0 usage rows").
    calls = [(f"msg_r{i}", f"req_r{i}", 100 + i, 10) for i in range(3)]
    laptop = _laptop(home, "ana", "ana@example.com", calls)
    env = laptop.env(home, COST_MCP_TEAM_TOKEN=team.tokens["ana"])
    assert _cli(env, "push", "--server", team.base).returncode == 0
    backup = home / "server-backup"
    _backup(team.server_db, backup)
    log = next((laptop.claude / "projects").rglob("*.jsonl"))
    for i in range(3, 6):  # pushed after the backup: what the restore loses
        line = assistant(f"msg_r{i}", f"req_r{i}", _iso(datetime.now(UTC)), session="ana-s1")
        write(log, line, append=True)
    after = _cli(env, "push", "--server", team.base)
    assert after.returncode == 0 and "pushed 3 usage rows" in after.stderr, after.stderr
    expected = _total(laptop.db)

    _stop(team.proc)
    _restore(team.server_db, backup)
    assert _total(team.server_db, members=["ana@example.com"]) < expected
    port = int(team.base.rsplit(":", 1)[1])
    restarted = _start(_env(home, team.server_db), port, team.stderr)
    try:
        again = _cli(env, "push", "--server", team.base)
        assert "pushed 0 usage rows" in again.stderr, again.stderr  # the marks still say it has them
        full = _cli(env, "push", "--full", "--server", team.base)
        assert full.returncode == 0, full.stderr
        assert "pushed 6 usage rows in 1 batch(es), 3 new or grown on the server; 0 left" in full.stderr
        assert _total(team.server_db, members=["ana@example.com"]) == expected
        # Once more changes nothing: the rows the server kept are not counted twice.
        twice = _cli(env, "push", "--full", "--server", team.base)
        assert "6 usage rows in 1 batch(es), 0 new or grown" in twice.stderr, twice.stderr
        assert _total(team.server_db, members=["ana@example.com"]) == expected
        _assert_rollup_exact(team.server_db)
    finally:
        _stop(restarted)


def test_a_laptops_doctor_says_the_server_refuses_its_revoked_token(team: Team, home: Path) -> None:
    # The admin rotated ana's token: her laptop's pushes failed in the background (logged only)
    # while `cost-mcp doctor` still said "token set", as if all were well.
    laptop = _laptop(home, "ana", "ana@example.com", [("msg_d1", "req_d1", 100, 10)])
    env = laptop.env(home, COST_MCP_TEAM_SERVER=team.base, COST_MCP_TEAM_TOKEN=team.tokens["ana"])
    fine = _cli(env, "doctor", "--json")
    assert fine.returncode == 0, fine.stdout + fine.stderr
    report = json.loads(fine.stdout)
    assert report["team"]["token_accepted"] is True
    assert not any("token" in p for p in report["problems"]), report["problems"]
    # The check stores nothing: the server would otherwise call a laptop with rows waiting fresh.
    server_doctor = json.loads(_cli(_env(home, team.server_db), "doctor", "--json").stdout)
    assert server_doctor["received_pushes"] == []

    revoked = _cli(_env(home, team.server_db), "token", "revoke", "ana")
    assert revoked.returncode == 0, revoked.stderr
    told = _cli(env, "doctor", "--json")
    report = json.loads(told.stdout)
    assert report["team"]["token_accepted"] is False
    assert any("refused the token (401)" in p and "cost-mcp token create" in p for p in report["problems"])
    table = _cli({**env, "COLUMNS": "200"}, "doctor")
    assert "token REFUSED" in table.stdout, table.stdout
    assert team.tokens["ana"] not in told.stdout + told.stderr + table.stdout + table.stderr


def test_cli_push_says_it_refused_rows_of_another_members_calls(team: Team, home: Path) -> None:
    # Ana's laptop holds a log line of bob's call (copied logs, or a crafted line with 900,000
    # input tokens): the server keeps bob's call as he pushed it, and ana's push says why.
    bob = _laptop(home, "bob", "bob@example.com", [("msg_b1", "req_b1", 1000, 900)])
    done = _cli(bob.env(home, COST_MCP_TEAM_TOKEN=team.tokens["bob"]), "push", "--server", team.base)
    assert done.returncode == 0, done.stderr
    bobs = _total(team.server_db, members=["bob@example.com"])
    assert bobs == _total(bob.db) > 0
    ana = _laptop(
        home, "ana", "ana@example.com", [("msg_b1", "req_b1", 900_000, 900), ("msg_a1", "req_a1", 10, 5)]
    )
    pushed = _cli(ana.env(home, COST_MCP_TEAM_TOKEN=team.tokens["ana"]), "push", "--server", team.base)
    assert pushed.returncode == 0, pushed.stderr
    assert (
        "pushed 2 usage rows in 1 batch(es), 1 new or grown on the server, 1 refused; 0 left" in pushed.stderr
    )
    assert "warning: 1 row has a message id another member already pushed" in pushed.stderr
    assert _total(team.server_db, members=["bob@example.com"]) == bobs
    assert 0 < _total(team.server_db, members=["ana@example.com"]) < bobs
    _assert_rollup_exact(team.server_db)
    # The server's log names the token that tried (never the token itself).
    log = team.stderr.read_text()
    assert "push from token ana (ana@example.com): 1 row(s) refused" in log
    assert team.tokens["ana"] not in log


def _reporting_laptop(home: Path, name: str, member: str, calls: list[tuple[str, int]]) -> Laptop:
    """A laptop whose agents reported ``calls`` (request id, gpt-4o input tokens) with record_usage:
    at $2.50 per million, 400,000 tokens is $1 and 4,000,000 is $10."""
    laptop = Laptop(member, home / name / "cost.db", home / name / "claude")
    laptop.db.parent.mkdir(parents=True, exist_ok=True)
    # Nine minutes ago, but today (as _laptop's): run in a month's first minutes, the calls were
    # last month's and the month budget a test then reads on the server rightly held $0 of them.
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    at = max(datetime.now(UTC) - timedelta(minutes=9), today)
    conn = connect(laptop.db)
    try:
        for request_id, tokens in calls:
            record_call(
                conn, Pricer(), provider="openai", model="gpt-4o", tokens=Tokens(input=tokens, output=0),
                agent="researcher", request_id=request_id, timestamp=at,
            )  # fmt: skip
    finally:
        conn.close()
    return laptop


def test_a_call_forgotten_on_the_server_stays_forgotten_whatever_laptops_send(team: Team, home: Path) -> None:
    """An admin forgot ana's mistaken $10 call on the server: it came back with her laptop's
    `push --full`, with a second laptop of hers that still held it, and with her agent's retry over
    /mcp. Now each is acknowledged and counted as forgotten, and totals and budgets stay at $1,
    until the admin unforgets it: then the next full push counts it again."""
    ana = "ana@example.com"
    laptop = _reporting_laptop(home, "ana", ana, [("req-real", 400_000), ("req-wrong", 4_000_000)])
    env = laptop.env(home, COST_MCP_TEAM_TOKEN=team.tokens["ana"])
    assert _cli(env, "push", "--server", team.base).returncode == 0
    admin = _env(home, team.server_db)
    assert _cli(admin, "budget", "set", "ana", "100", "--member", ana).returncode == 0
    assert _total(team.server_db, members=[ana]) == 11
    forgot = _cli(admin, "reported", "forget", "req-wrong")
    assert forgot.returncode == 0, forgot.stderr

    def spent() -> tuple[Decimal, Decimal]:
        status = anyio.run(_call, team.base, team.tokens["admin"], "budget_status", {"name": "ana"})
        budget = Decimal(str(status.structured_content["budgets"][0]["spent_usd"]))
        return _total(team.server_db, members=[ana]), budget

    assert spent() == (Decimal(1), Decimal(1))
    full = _cli(env, "push", "--full", "--server", team.base)
    assert full.returncode == 0, full.stderr
    assert (
        "pushed 2 usage rows in 1 batch(es), 0 new or grown on the server, 1 forgotten there; 0 left"
        in full.stderr
    ), full.stderr
    # QA: it named only `reported forget` (an admin may have used `team forget-pushes`) and no way
    # back: now both, and what lifts the forget.
    said = " ".join(full.stderr.split())
    assert (
        "warning: 1 row is a call an admin forgot on the team server (`cost-mcp reported forget` or "
        "`cost-mcp team forget-pushes` there): not stored, not counted, and not sent again; if they "
        "should count, ask the admin to lift the forget (`cost-mcp reported unforget ID` or `cost-mcp "
        "team unforget-pushes --member EMAIL`), then run `cost-mcp push --full`"
    ) in said, said
    # Acknowledged: the next push does not send it again.
    assert "pushed 0 usage rows" in _cli(env, "push", "--server", team.base).stderr
    other = _reporting_laptop(home, "ana-desk", ana, [("req-wrong", 4_000_000)])
    pushed = _cli(other.env(home, COST_MCP_TEAM_TOKEN=team.tokens["ana"]), "push", "--server", team.base)
    assert "pushed 1 usage rows in 1 batch(es), 0 new or grown on the server, 1 forgotten there" in (
        pushed.stderr
    ), pushed.stderr
    retry = {"provider": "openai", "model": "gpt-4o", "input_tokens": 4_000_000, "output_tokens": 0}
    again = anyio.run(
        _call, team.base, team.tokens["ana"], "record_usage",
        {**retry, "agent": "researcher", "request_id": "req-wrong"},
    )  # fmt: skip
    assert again.structured_content["forgotten"] is True and again.structured_content["recorded"] is False
    assert spent() == (Decimal(1), Decimal(1))
    _assert_rollup_exact(team.server_db)
    listed = _cli({**admin, "COLUMNS": "200"}, "reported", "list", "--forgotten", "--member", ana)
    assert listed.returncode == 0 and "req-wrong" in listed.stdout and "req-real" not in listed.stdout

    lifted = _cli(admin, "reported", "unforget", "req-wrong")
    assert lifted.returncode == 0, lifted.stderr
    restored = _cli(env, "push", "--full", "--server", team.base)
    assert "pushed 2 usage rows in 1 batch(es), 1 new or grown on the server; 0 left" in restored.stderr, (
        restored.stderr
    )
    assert spent() == (Decimal(11), Decimal(11))
    _assert_rollup_exact(team.server_db)


def _fired(db: Path | str, budget: str) -> list[str]:
    """The thresholds of ``budget`` fired this period, once the server's ledger is asked."""
    from cost_mcp.analytics.alerts import fire_alerts

    conn = connect(db)
    try:
        fire_alerts(conn, Settings(db=db, timezone="UTC"))
        rows = conn.execute("SELECT threshold FROM budget_alerts WHERE budget = ? ORDER BY 1", (budget,))
        return [str(r[0]) for r in rows]
    finally:
        conn.close()


def _forgotten_on(db: Path | str, member: str) -> list[str]:
    """The ids of a member's calls a ledger holds tombstones of."""
    conn = connect(db)
    try:
        rows = conn.execute("SELECT message_id FROM forgotten_calls WHERE member = ? ORDER BY 1", (member,))
        return [str(r[0]) for r in rows]
    finally:
        conn.close()


def test_a_call_forgotten_on_a_laptop_is_forgotten_on_the_team_server_too(team: Team, home: Path) -> None:
    """Ana forgets her mistaken $10 call on her laptop: her next push removes her copy on the server
    and leaves it forgotten there (her desk machine's `push --full` of it counts nothing), once;
    her forget of an id bob pushed first changes nothing of bob's. Her unforget travels too, and
    the desk machine's next full push counts the call again. Totals exact, rollup as rebuilt."""
    ana, bob = "ana@example.com", "bob@example.com"
    laptop = _reporting_laptop(
        home, "ana", ana, [("req-real", 400_000), ("req-wrong", 4_000_000), ("shared", 400_000)]
    )
    desk = _reporting_laptop(home, "ana-desk", ana, [("req-wrong", 4_000_000)])
    bobs = _reporting_laptop(home, "bob", bob, [("shared", 800_000)])
    env = laptop.env(home, COST_MCP_TEAM_TOKEN=team.tokens["ana"], COST_MCP_TEAM_SERVER=team.base)
    desk_env = desk.env(home, COST_MCP_TEAM_TOKEN=team.tokens["ana"], COST_MCP_TEAM_SERVER=team.base)
    bob_env = bobs.env(home, COST_MCP_TEAM_TOKEN=team.tokens["bob"], COST_MCP_TEAM_SERVER=team.base)

    def totals() -> tuple[Decimal, Decimal]:
        return _total(team.server_db, members=[ana]), _total(team.server_db, members=[bob])

    admin = _env(home, team.server_db)
    assert _cli(admin, "budget", "set", "ana", "20", "--member", ana, "--threshold", "0.5").returncode == 0
    for who in (bob_env, env, desk_env):
        assert _cli(who, "push").returncode == 0
    assert totals() == (Decimal(11), Decimal(2))
    assert _fired(team.server_db, "ana") == ["0.5"]  # fired by the $10 that was never spent

    forgot = _cli(env, "reported", "forget", "req-wrong", "shared")
    assert forgot.returncode == 0, forgot.stderr
    pushed = _cli(env, "push")
    assert pushed.returncode == 0, pushed.stderr
    assert "2 forget(s) sent (1 call(s) removed)" in pushed.stderr, pushed.stderr
    assert "1 forget(s) not applied: the call is another member's" in pushed.stderr
    assert totals() == (Decimal(1), Decimal(2))
    assert _forgotten_on(team.server_db, ana) == ["req-wrong"]
    assert _forgotten_on(team.server_db, bob) == []
    _assert_rollup_exact(team.server_db)
    assert _fired(team.server_db, "ana") == []  # alerts again when real spend crosses it
    assert "push from token ana (ana@example.com): 1 forget(s) of another member's calls refused" in (
        team.stderr.read_text()
    )
    # Sent once: the next push carries no forget.
    again = _cli(env, "push")
    assert again.returncode == 0 and "forget" not in again.stderr, again.stderr
    # The desk still holds the call: its full push is acked as forgotten, nothing counted.
    full = _cli(desk_env, "push", "--full")
    assert "0 new or grown on the server, 1 forgotten there" in full.stderr, full.stderr
    assert _total(team.server_db, members=[ana]) == 1
    listed = _cli({**admin, "COLUMNS": "200"}, "reported", "list", "--forgotten", "--member", ana)
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()[:2]
    assert header.split()[-2:] == ["forgotten", "by"] and "req-wrong" in row and row.rstrip().endswith(ana), (
        listed
    )
    shown = json.loads(_cli(admin, "reported", "list", "--forgotten", "--json").stdout)
    assert [(c["id"], c["forgotten_by"]) for c in shown["calls"]] == [("req-wrong", ana)]
    when = datetime.fromisoformat(shown["calls"][0]["forgotten_utc"])
    assert timedelta(0) <= datetime.now(UTC) - when < timedelta(minutes=5)

    lifted = _cli(env, "reported", "unforget", "req-wrong")
    assert lifted.returncode == 0, lifted.stderr
    pushed = _cli(env, "push")
    assert "1 forget(s) sent (0 call(s) removed, 1 unforgotten)" in pushed.stderr, pushed.stderr
    assert _forgotten_on(team.server_db, ana) == []
    assert _total(team.server_db, members=[ana]) == 1  # not held by the laptop any more
    back = _cli(desk_env, "push", "--full")
    assert "1 new or grown on the server" in back.stderr, back.stderr
    assert totals() == (Decimal(11), Decimal(2))
    _assert_rollup_exact(team.server_db)


def test_a_members_unforget_never_lifts_an_admins_forget(team: Team, home: Path) -> None:
    """The admin forgot ana's call on the server, and ana forgot it on her laptop too (as the README
    told her to): her laptop's unforget lifts her own tombstone only; the admin's stays, and her
    desk machine's full push counts nothing."""
    ana = "ana@example.com"
    laptop = _reporting_laptop(home, "ana", ana, [("req-real", 400_000), ("req-wrong", 4_000_000)])
    desk = _reporting_laptop(home, "ana-desk", ana, [("req-wrong", 4_000_000)])
    env = laptop.env(home, COST_MCP_TEAM_TOKEN=team.tokens["ana"], COST_MCP_TEAM_SERVER=team.base)
    desk_env = desk.env(home, COST_MCP_TEAM_TOKEN=team.tokens["ana"], COST_MCP_TEAM_SERVER=team.base)
    assert _cli(env, "push").returncode == 0
    assert _cli(_env(home, team.server_db), "reported", "forget", "req-wrong").returncode == 0
    assert _cli(env, "reported", "forget", "req-wrong").returncode == 0
    assert "1 forget(s) sent (0 call(s) removed)" in _cli(env, "push").stderr
    assert _cli(env, "reported", "unforget", "req-wrong").returncode == 0
    pushed = _cli(env, "push")
    assert "1 forget(s) sent (0 call(s) removed)" in pushed.stderr, pushed.stderr
    assert "1 unforget(s) not applied on the team server: the call was forgotten there by an admin" in (
        pushed.stderr
    )
    assert _forgotten_on(team.server_db, ana) == ["req-wrong"]
    shown = json.loads(_cli(_env(home, team.server_db), "reported", "list", "--forgotten", "--json").stdout)
    assert [(c["id"], c["forgotten_by"]) for c in shown["calls"]] == [("req-wrong", "")]
    assert "1 forgotten there" in _cli(desk_env, "push", "--full").stderr
    assert _total(team.server_db, members=[ana]) == 1
    _assert_rollup_exact(team.server_db)


def test_the_local_servers_own_push_carries_a_forget(team: Team, home: Path) -> None:
    """The pushes a laptop's MCP server makes on its own (PushLoop) carry its forgets as
    `cost-mcp push` does: the server forgets ana's call without her running a push."""
    from pydantic import SecretStr

    ana = "ana@example.com"
    laptop = _reporting_laptop(home, "ana", ana, [("req-real", 400_000), ("req-wrong", 4_000_000)])
    env = laptop.env(home, COST_MCP_TEAM_TOKEN=team.tokens["ana"], COST_MCP_TEAM_SERVER=team.base)
    assert _cli(env, "push").returncode == 0
    assert _cli(env, "reported", "forget", "req-wrong").returncode == 0
    own = Settings(
        db=laptop.db, timezone="UTC", team_server=team.base, team_token=SecretStr(team.tokens["ana"])
    )
    stats = push.PushLoop(own, lambda: connect(laptop.db), lambda _wait: True).once()
    assert stats is not None and (stats.forgets, stats.removed, stats.sent) == (1, 1, 0)
    assert _total(team.server_db, members=[ana]) == 1
    assert _forgotten_on(team.server_db, ana) == ["req-wrong"]
    _assert_rollup_exact(team.server_db)


def old_server_env(home: Path, commit: str) -> tuple[Path, dict[str, str]]:
    """The ledger and environment of a team server run from ``commit``'s source (``git archive``
    into ``home``), for a test of a laptop against a server of an older release; skips where the
    checkout has no git history. The server keeps a SQLite file of its own on either engine: the
    home fixture's database is of this version."""
    root = Path(__file__).resolve().parents[2]
    old = home / "old-cost-mcp"
    old.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(root), "archive", commit, "src"], capture_output=True, check=False
    )
    if archive.returncode != 0:
        pytest.skip(f"no git history to run the old server from: {archive.stderr.decode()[:200]}")
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive.stdout, check=True)
    server_db = home / "old-server" / "cost.db"
    server_db.parent.mkdir()
    env = _env(
        home, server_db, PYTHONPATH=os.pathsep.join([str(old / "src"), os.environ.get("PYTHONPATH", "")])
    )
    return server_db, env


BEFORE_FORGETS_TRAVELLED = "4435e5b"
"""The last commit whose team server did not take a laptop's forgets (and refused the field)."""


def test_a_server_from_before_forgets_still_takes_a_new_laptops_push(home: Path) -> None:
    """A laptop with a forget to send pushes to a team server of the version before forgets
    travelled (its own code, run in its own process): its rows arrive as before, a warning says the
    forget did not, and it stays pending; once the server is updated, the next push carries it."""
    server_db, old_env = old_server_env(home, BEFORE_FORGETS_TRAVELLED)
    made = _cli(old_env, "token", "create", "ana", "--member", "ana@example.com")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    ana = "ana@example.com"
    laptop = _reporting_laptop(home, "ana", ana, [("req-real", 400_000), ("req-wrong", 4_000_000)])
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = laptop.env(home, COST_MCP_TEAM_TOKEN=token, COST_MCP_TEAM_SERVER=base)
    proc = _start(old_env, port, home / "old-server.log")
    try:
        assert _cli(env, "push").returncode == 0
        assert _cli(env, "reported", "forget", "req-wrong").returncode == 0
        _record_on(laptop, "req-new", 800_000)
        pushed = _cli(env, "push")
        assert pushed.returncode == 0, pushed.stderr
        assert "pushed 1 usage rows in 1 batch(es), 1 new or grown on the server" in pushed.stderr
        assert "warning: the team server did not take this machine's forgets" in pushed.stderr
        assert "forget(s) sent" not in pushed.stderr
        assert _total(server_db, members=[ana]) == 13
        # The warning scrolls by; doctor shows the forget still waiting (it showed nothing).
        assert _waiting_forgets(env) == (1, 0, True)
        shown = _cli({**env, "COLUMNS": "200"}, "doctor").stdout
        waiting = "team forgets  1 forget(s), 0 unforget(s) not taken by the server yet, waiting since 20"
        assert waiting in shown, shown
        no_team = {k: v for k, v in env.items() if k != "COST_MCP_TEAM_SERVER"}
        assert json.loads(_cli(no_team, "doctor", "--json").stdout)["team"]["pending_forgets"] is None
        assert "team forgets" not in _cli({**no_team, "COLUMNS": "200"}, "doctor").stdout
    finally:
        _stop(proc)
    proc = _start(_env(home, server_db), port, home / "new-server.log")
    try:
        pushed = _cli(env, "push")
        assert "1 forget(s) sent (1 call(s) removed)" in pushed.stderr, pushed.stderr
        assert "warning" not in pushed.stderr
        assert _waiting_forgets(env) == (0, 0, False)
        assert "team forgets" not in _cli({**env, "COLUMNS": "200"}, "doctor").stdout
    finally:
        _stop(proc)
    assert _total(server_db, members=[ana]) == 3
    _assert_rollup_exact(server_db)


def test_a_current_server_refusing_one_forget_takes_the_others_and_is_not_asked_again(
    team: Team, home: Path
) -> None:
    """Ana forgets her mistaken $10 call and a call whose id the server will never take (over its
    300 characters): a current server's 400 for that one forget was read as "an old server" (update
    it, all forgets kept and sent again at every push, the $10 still counted there). Now the server's
    words are said, the other forget is applied, and the refused one is not sent again."""
    ana = "ana@example.com"
    laptop = _reporting_laptop(home, "ana", ana, [("req-real", 400_000), ("req-wrong", 4_000_000)])
    env = laptop.env(home, COST_MCP_TEAM_TOKEN=team.tokens["ana"], COST_MCP_TEAM_SERVER=team.base)
    assert _cli(env, "push").returncode == 0
    long_id = "req-" + "x" * 300
    _record_on(laptop, long_id, 800_000)
    assert _cli(env, "reported", "forget", long_id).returncode == 0  # forgotten before it was pushed
    assert _cli(env, "reported", "forget", "req-wrong").returncode == 0
    pushed = _cli(env, "push")
    assert pushed.returncode == 0, pushed.stderr
    assert "older than this version" not in pushed.stderr, pushed.stderr
    assert (
        "answered 400: forget 0: message_id and request_id are at most 300 characters); it would refuse "
        "it every time, so it is not sent again" in pushed.stderr
    ), pushed.stderr
    assert "1 forget(s) sent (1 call(s) removed)" in pushed.stderr, pushed.stderr
    assert _total(team.server_db, members=[ana]) == 1
    assert _forgotten_on(team.server_db, ana) == ["req-wrong"]
    again = _cli(env, "push")
    assert again.returncode == 0 and "forget" not in again.stderr, again.stderr
    _assert_rollup_exact(team.server_db)


def _waiting_forgets(env: dict[str, str]) -> tuple[int, int, bool]:
    """The forgets and unforgets `cost-mcp doctor --json` says wait for the team server, and
    whether it says since when (a time within the last hour)."""
    doctor = _cli(env, "doctor", "--json")
    team = json.loads(doctor.stdout)["team"]
    since = team["forgets_pending_since"]
    recent = since is not None and datetime.now(UTC) - datetime.fromisoformat(since) < timedelta(hours=1)
    return team["pending_forgets"], team["pending_unforgets"], recent


def test_a_laptop_whose_clock_is_a_day_ahead_has_its_calls_counted_today(team: Team, home: Path) -> None:
    """QA: a laptop whose clock ran 23 hours ahead pushed calls dated tomorrow, within the day a
    clock may be wrong by: stored so, admins' "today" and each day's total left them out while the
    month's total and its budgets counted them, and nothing said why. No call happens after it
    reaches the server: such a call is stored at its arrival, and the push says so."""
    claude = home / "ana" / "claude"
    ahead = datetime.now(UTC) + timedelta(hours=23)
    write(
        session_file(claude, "ana-s1"),
        assistant("msg_ahead", "req_ahead", _iso(ahead), session="ana-s1", input=1_000, output=100),
    )
    ana = Laptop("ana@example.com", home / "ana" / "cost.db", claude)
    sent_from = datetime.now(UTC).replace(microsecond=0)
    pushed = _cli(ana.env(home, COST_MCP_TEAM_TOKEN=team.tokens["ana"]), "push", "--server", team.base)
    assert pushed.returncode == 0, pushed.stderr
    assert "warning: 1 row was dated after the team server's clock (row 0: " in pushed.stderr, pushed.stderr
    assert "stored at the time the server received them" in pushed.stderr
    conn = connect(team.server_db)
    try:
        [(stored,)] = conn.execute("SELECT ts_ms FROM usage_events WHERE message_id = 'msg_ahead'").fetchall()
    finally:
        conn.close()
    assert sent_from <= datetime.fromtimestamp(int(stored) / 1000, UTC) <= datetime.now(UTC)
    today = anyio.run(_call, team.base, team.tokens["admin"], "get_spend", {"period": "today"})
    month = anyio.run(_call, team.base, team.tokens["admin"], "get_spend", {"period": "this_month"})
    assert today.structured_content["total_usd"] == month.structured_content["total_usd"] > 0
    log = team.stderr.read_text()
    assert "push from token ana (ana@example.com): 1 row(s) dated ahead of this server's clock" in log


def test_a_push_naming_another_member_or_org_is_refused_whole(team: Team) -> None:
    """A member's token may not put usage under anyone else: a push body naming another member or
    another organisation, for the batch or for a row, is refused whole (400) and stores nothing;
    the same row without the name is stored under the token's member, whatever it says."""
    now_ms = int(time.time() * 1000)
    row = {
        "source": "claude_code",
        "ts_ms": now_ms - 60_000,
        "provider": "anthropic",
        "model": "claude-sonnet-4-5",
        "input_tokens": 1_000,
        "agent": "bob@example.com",
        "session_id": "bob@example.com",
    }
    bodies = [
        {"rows": [{**row, "message_id": "msg_i1"}], "member": "bob@example.com"},
        {"rows": [{**row, "message_id": "msg_i2", "member": "bob@example.com"}]},
        {"rows": [{**row, "message_id": "msg_i3"}], "org": "other-org"},
        {"rows": [{**row, "message_id": "msg_i4", "user.email": "bob@example.com"}]},
    ]
    auth = {"Authorization": f"Bearer {team.tokens['ana']}"}
    for body in bodies:
        refused = httpx2.post(f"{team.base}/api/push", json=body, headers=auth)
        assert refused.status_code == 400 and "unknown field" in refused.json()["error"], refused.text
    assert _total(team.server_db) == 0
    _pushed(team, "ana", {**row, "message_id": "msg_i5"})
    assert _total(team.server_db, members=["bob@example.com"]) == 0
    assert _total(team.server_db, members=["ana@example.com"]) == _total(team.server_db) > 0


def _record_on(laptop: Laptop, request_id: str, tokens: int) -> None:
    conn = connect(laptop.db)
    try:
        record_call(
            conn, Pricer(), provider="openai", model="gpt-4o", tokens=Tokens(input=tokens, output=0),
            agent="researcher", request_id=request_id, timestamp=datetime.now(UTC) - timedelta(minutes=8),
        )  # fmt: skip
    finally:
        conn.close()


def test_a_laptop_with_one_line_from_the_future_still_pushes_the_rest(team: Team, home: Path) -> None:
    # One log line stamped a year ahead (the laptop's clock, a copied log) made every push of that
    # laptop a 400: its usage never reached the team, its budgets never counted it.
    claude = home / "ana" / "claude"
    now = datetime.now(UTC) - timedelta(minutes=30)
    write(
        session_file(claude, "ana-s1"),
        assistant("msg_future", "req_future", _iso(now + timedelta(days=400)), session="ana-s1", input=500),
        assistant("msg_now", "req_now", _iso(now), session="ana-s1", input=1_000, output=100),
    )
    ana = Laptop("ana@example.com", home / "ana" / "cost.db", claude)
    env = ana.env(home, COST_MCP_TEAM_TOKEN=team.tokens["ana"])
    pushed = _cli(env, "push", "--server", team.base)
    assert pushed.returncode == 0, pushed.stderr
    assert "pushed 2 usage rows in 1 batch(es), 1 new or grown on the server, 1 rejected; 0 left" in (
        pushed.stderr
    )
    assert "warning: 1 row was not stored: a call's time must lie between 2020 and tomorrow" in pushed.stderr
    assert "check this machine's date and time" in pushed.stderr
    assert _total(team.server_db, members=["ana@example.com"]) == _total(ana.db) > 0
    # The batch was acknowledged: the next push has nothing to send, rather than failing again.
    again = _cli(env, "push", "--server", team.base)
    assert again.returncode == 0, again.stderr
    assert "pushed 0 usage rows" in again.stderr
    log = team.stderr.read_text()
    assert "push from token ana (ana@example.com): 1 row(s) rejected" in log
    assert team.tokens["ana"] not in log


def test_a_laptop_whose_log_holds_a_nul_character_still_pushes(team: Team, home: Path) -> None:
    # A log line whose session id and folder held a NUL (a character JSON allows, escaped): a team
    # server on PostgreSQL, which cannot store one in text, answered every push of that laptop 500,
    # so none of its usage ever reached the team's totals.
    claude = home / "ana" / "claude"
    now = datetime.now(UTC) - timedelta(minutes=30)
    odd = assistant("msg_nul", "req_nul", _iso(now), session="ana-s1\x00", input=2_000, output=200)
    odd["cwd"] = "/home/ana/pro\x00ject"
    write(
        session_file(claude, "ana-s1"),
        odd,
        assistant("msg_plain", "req_plain", _iso(now), session="ana-s1", input=1_000, output=100),
    )
    ana = Laptop("ana@example.com", home / "ana" / "cost.db", claude)
    env = ana.env(home, COST_MCP_TEAM_TOKEN=team.tokens["ana"])
    pushed = _cli(env, "push", "--server", team.base)
    assert pushed.returncode == 0, pushed.stderr
    assert "pushed 2 usage rows in 1 batch(es), 2 new or grown on the server; 0 left" in pushed.stderr
    assert _total(team.server_db, members=["ana@example.com"]) == _total(ana.db) > 0
    # Sent again, the row is the same call: the character is replaced the same way every time.
    full = _cli(env, "push", "--server", team.base, "--full")
    assert full.returncode == 0, full.stderr
    assert "pushed 2 usage rows in 1 batch(es), 0 new or grown on the server; 0 left" in full.stderr
    assert _total(team.server_db, members=["ana@example.com"]) == _total(ana.db)


def test_a_row_with_more_web_searches_than_a_call_makes_is_left_out(team: Team, home: Path) -> None:
    # The push took up to 100 million web searches in a row ($1,000,000 at $10 per 1,000): one
    # member's push, from a crafted or broken log line, put a million dollars in the team's total,
    # and two batches of such rows overflowed the ledger's sums, so that every member's spend in
    # that quarter-hour left every answer.
    claude = home / "ana" / "claude"
    now = datetime.now(UTC) - timedelta(minutes=30)
    write(
        session_file(claude, "ana-s1"),
        assistant(
            "msg_flood", "req_flood", _iso(now), session="ana-s1", input=0, output=0, web_searches=1_000_000
        ),
        assistant(
            "msg_real", "req_real", _iso(now), session="ana-s1", input=1_000, output=100, web_searches=3
        ),
    )
    ana = Laptop("ana@example.com", home / "ana" / "cost.db", claude)
    env = ana.env(home, COST_MCP_TEAM_TOKEN=team.tokens["ana"])
    pushed = _cli(env, "push", "--server", team.base)
    assert pushed.returncode == 0, pushed.stderr
    assert "pushed 2 usage rows in 1 batch(es), 1 new or grown on the server, 1 rejected; 0 left" in (
        pushed.stderr
    )
    assert (
        "warning: 1 row was not stored: a call makes at most 10,000 web searches (row 0: 1,000,000 web "
        "searches); check the log lines they came from (`server_tool_use.web_search_requests`)"
    ) in pushed.stderr
    # The laptop's own total keeps its $10,000 of searches; the team's has the real call only,
    # its 3 searches included.
    real = Decimal("0.003") + Decimal("0.0015") + Decimal("0.03")
    assert _total(team.server_db, members=["ana@example.com"]) == real
    assert _total(ana.db) == real + Decimal(10_000)
    # Acknowledged: the next push does not send it again.
    again = _cli(env, "push", "--server", team.base)
    assert again.returncode == 0 and "pushed 0 usage rows" in again.stderr, again.stderr
    assert "push from token ana (ana@example.com): 1 row(s) rejected, more web searches" in (
        team.stderr.read_text()
    )


def test_answers_say_when_each_laptop_last_pushed(team: Team, home: Path) -> None:
    # A team's total silently lacked whatever a laptop had not pushed (offline for three days):
    # each laptop's last push is in the answer's sources, a member seeing only their own.
    for name in ("ana", "bob"):
        laptop = _laptop(home, name, f"{name}@example.com", [(f"msg_{name}", f"req_{name}", 100, 10)])
        done = _cli(laptop.env(home, COST_MCP_TEAM_TOKEN=team.tokens[name]), "push", "--server", team.base)
        assert done.returncode == 0, done.stderr

    def pushes(token: str) -> dict[str, Any]:
        answer = _spend_by_member(team.base, token)
        assert not answer.is_error, answer.content
        sources = answer.structured_content["sources"]
        return {s["source"]: s for s in sources if s["kind"] == "push"}

    seen = pushes(team.tokens["admin"])
    assert set(seen) == {"push:ana", "push:bob"}
    for name in ("ana", "bob"):
        assert seen[f"push:{name}"]["status"] == "ok"
        assert f"{name}@example.com" in seen[f"push:{name}"]["last_refresh"]
        pushed = datetime.fromisoformat(seen[f"push:{name}"]["last_success"])
        assert timedelta(0) <= datetime.now(UTC) - pushed < timedelta(minutes=5)
    assert set(pushes(team.tokens["ana"])) == {"push:ana"}

    # The server's doctor lists them too, and a server with no logs of its own is not a problem.
    doctor = _cli(_env(home, team.server_db), "doctor", "--json")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    report = json.loads(doctor.stdout)
    assert {(r["token_name"], r["member"]) for r in report["received_pushes"]} == {
        ("ana", "ana@example.com"),
        ("bob", "bob@example.com"),
    }
    assert not any("no Claude Code logs" in p for p in report["problems"])
    table = _cli(_env(home, team.server_db, COLUMNS="200"), "doctor")
    assert "pushes from   ana (ana@example.com): last " in table.stdout


def test_answers_say_when_the_otlp_receiver_last_heard_from_each_members_agent(team: Team) -> None:
    """What came over OTLP had no source in the answers: a member's telemetry-only usage said
    neither where it came from nor how fresh it was. A member sees the receiver's line for their
    own events only; an admin's names each member who sent."""
    from tests.web.test_otel_receiver import _ago, _api_request, _send_logs

    one = Tokens(input=10, output=5)
    _send_logs(
        team.base,
        [_api_request("req_ana1", _ago(20), one), _api_request("req_ana2", _ago(19), one)],
        token=team.tokens["ana"],
    )
    _send_logs(team.base, [_api_request("req_bob1", _ago(18), one)], token=team.tokens["bob"])

    def received(token: str) -> dict[str, Any]:
        answer = _spend_by_member(team.base, token)
        assert not answer.is_error, answer.content
        return {s["source"]: s for s in answer.structured_content["sources"] if s["kind"] == "telemetry"}

    [(source, ana)] = received(team.tokens["ana"]).items()
    assert source == "otlp:claude-code" and ana["status"] == "ok"
    assert ana["last_refresh"].startswith("2 events received over OTLP since ")
    assert "from ana@example.com;" in ana["last_refresh"] and "bob" not in ana["last_refresh"]
    assert received(team.tokens["cy"]) == {}  # sent nothing: no line, and nothing of the others'
    admins = received(team.tokens["admin"])["otlp:claude-code"]
    assert admins["last_refresh"].startswith("3 events received over OTLP since ")
    assert "bob@example.com" in admins["last_refresh"] and "ana@example.com" in admins["last_refresh"]
    assert datetime.fromisoformat(admins["last_success"]) >= datetime.fromisoformat(ana["last_success"])


def test_a_removed_members_otlp_line_says_they_were_removed_and_their_calls_still_count(team: Team) -> None:
    """QA: once a member was removed (every token of theirs revoked), their `otlp:<agent>` line
    still named them as any sender, where their `push:` line says the token was revoked and what
    it pushed still counts. Their OTLP calls still count the same way, and the line now says so."""
    from tests.web.test_otel_receiver import _ago, _api_request, _send_logs

    one = Tokens(input=10, output=5)
    _send_logs(team.base, [_api_request("req_ana1", _ago(20), one)], token=team.tokens["ana"])
    _send_logs(team.base, [_api_request("req_bob1", _ago(18), one)], token=team.tokens["bob"])
    before = _total(team.server_db)
    conn = connect(team.server_db)
    try:
        team_store.revoke_token(conn, "bob")
    finally:
        conn.close()
    answer = _spend_by_member(team.base, team.tokens["admin"])
    assert not answer.is_error, answer.content
    [line] = [s for s in answer.structured_content["sources"] if s["source"] == "otlp:claude-code"]
    assert (
        " from bob@example.com (every token of theirs revoked since: what they sent still counts), "
        "ana@example.com; " in line["last_refresh"]
    ), line
    assert line["last_refresh"].count("revoked") == 1
    rows = {r["group"]["member"]: r for r in answer.structured_content["rows"]}
    assert set(rows) == {"ana@example.com", "bob@example.com"}
    assert _total(team.server_db) == before > 0


def test_doctor_on_a_team_server_set_up_but_not_pushed_to_finds_no_problem(home: Path) -> None:
    """An admin following the README made the tokens and ran `cost-mcp doctor` on the server before
    any laptop pushed: "problem: no coding agent's logs found" (exit 1), though a team server has no
    logs of its own to read; only a first push made it go. What is missing is each `never pushed`."""
    server_db = _server_ledger(home)
    env = _env(home, server_db)
    holders = (("admin", "boss@example.com", "admin"), ("ana-laptop", "ana@example.com", "member"))
    for name, member, role in holders:
        made = _cli(env, "token", "create", name, "--member", member, "--role", role)
        assert made.returncode == 0, made.stderr
    doctor = _cli(env, "doctor", "--json")
    report = json.loads(doctor.stdout)
    assert (doctor.returncode, report["problems"]) == (0, []), doctor.stderr
    assert [t["token_name"] for t in report["never_pushed"]] == ["ana-laptop"]
    # A personal ledger with no logs and no tokens is still told where logs were looked for.
    assert _cli(_env(home, home / "personal.db"), "doctor").returncode == 1


def test_a_revoked_tokens_pushes_say_so(team: Team, home: Path) -> None:
    # After a rotation or a member leaving, the old token's pushes were listed (doctor, sources) as
    # a live laptop's that had gone quiet: nothing said it can push no more.
    for name in ("ana", "bob"):
        laptop = _laptop(home, name, f"{name}@example.com", [(f"msg_v{name}", f"req_v{name}", 100, 10)])
        done = _cli(laptop.env(home, COST_MCP_TEAM_TOKEN=team.tokens[name]), "push", "--server", team.base)
        assert done.returncode == 0, done.stderr
    total = _total(team.server_db)
    assert _cli(_env(home, team.server_db), "token", "revoke", "ana").returncode == 0

    answer = _spend_by_member(team.base, team.tokens["admin"])
    assert not answer.is_error, answer.content
    sources = answer.structured_content["sources"]
    said = {s["source"]: s["last_refresh"] for s in sources if s["kind"] == "push"}
    assert "revoked since" in said["push:ana"] and "revoked" not in said["push:bob"], said
    assert _total(team.server_db) == total  # what it pushed still counts
    doctor = json.loads(_cli(_env(home, team.server_db), "doctor", "--json").stdout)
    assert {(r["token_name"], r["revoked"]) for r in doctor["received_pushes"]} == {
        ("ana", True),
        ("bob", False),
    }
    table = _cli(_env(home, team.server_db, COLUMNS="200"), "doctor").stdout
    lines = {line.split()[2]: line for line in table.splitlines() if line.startswith("pushes from")}
    assert lines["ana"].endswith(", token revoked") and "revoked" not in lines["bob"], lines
    # Cy's laptop never pushed: no `push:` source, no stale warning, so nothing said its usage is in
    # no total. The admin's token is not a laptop's, and not listed.
    assert [(t["token_name"], t["member"]) for t in doctor["never_pushed"]] == [("cy", "cy@example.com")]
    silent = [line for line in table.splitlines() if line.startswith("never pushed")]
    assert silent == [f"never pushed  cy (cy@example.com): token made {doctor['never_pushed'][0]['created']}"]


def test_doctor_says_a_token_that_never_pushed_may_send_otlp(team: Team, home: Path) -> None:
    """Cy's agent sends OTLP only (no push): doctor called his token "never pushed", described as a
    laptop whose usage is in no total, while his OTel calls count in every total. OTel rows do not
    record the token, so the line says his member sent some and it may be this token's doing."""
    from tests.web.test_otel_receiver import _ago, _api_request, _send_logs

    when = _ago(20)
    calls = [_api_request(f"req_cy{i}", when, Tokens(input=100, output=10)) for i in range(2)]
    _send_logs(team.base, calls, token=team.tokens["cy"])
    assert _total(team.server_db, members=["cy@example.com"]) > 0
    doctor = json.loads(_cli(_env(home, team.server_db), "doctor", "--json").stdout)
    silent = {t["token_name"]: t for t in doctor["never_pushed"]}
    assert silent["cy"]["otel_calls"] == 2
    table = _cli(_env(home, team.server_db, COLUMNS="200"), "doctor").stdout
    lines = [line for line in table.splitlines() if line.startswith("never pushed  cy ")]
    assert lines == [
        f"never pushed  cy (cy@example.com): token made {silent['cy']['created']}"
        " (may send OTLP: 2 OTel call(s) received from this member, the latest in the last 7 days)"
    ]
    # A member's token with no OTel calls is said as before.
    assert all(t["otel_calls"] == 0 for name, t in silent.items() if name != "cy")


def test_doctor_marks_a_removed_members_quiet_otlp_sender_as_their_push_line_is(
    team: Team, home: Path
) -> None:
    """QA: after bob was removed (his token revoked), doctor's push line said "token revoked" while
    his OTLP line read "(their telemetry stopped, or they did not work)": an admin went asking a
    former member to mend telemetry. The line now says he was removed, and what he sent still counts."""
    from tests.web.test_otel_receiver import _ago, _api_request, _send_logs

    twelve_days = _ago(12 * 24 * 60)
    one = Tokens(input=10, output=5)
    _send_logs(team.base, [_api_request("req_bob_old", twelve_days, one)], token=team.tokens["bob"])
    _send_logs(team.base, [_api_request("req_cy_old", twelve_days, one)], token=team.tokens["cy"])
    for member in ("bob@example.com", "cy@example.com"):
        arrived(team.server_db, member, twelve_days)  # received then, as sent: nothing since
    conn = connect(team.server_db)
    try:
        team_store.revoke_token(conn, "bob")
    finally:
        conn.close()
    doctor = json.loads(_cli(_env(home, team.server_db), "doctor", "--json").stdout)
    quiet = {s["member"]: s["departed"] for s in doctor["otel_quiet"]}
    assert quiet == {"bob@example.com": True, "cy@example.com": False}
    table = _cli(_env(home, team.server_db, COLUMNS="200"), "doctor").stdout
    lines = {line.split()[2]: line for line in table.splitlines() if line.startswith("otlp quiet ")}
    assert lines["bob@example.com"].endswith(
        "none in the last 7 days (every token of theirs revoked: removed from the team, what they sent "
        "still counts)"
    ), lines
    assert lines["cy@example.com"].endswith("(their telemetry stopped, or they did not work)"), lines


def _make_absurd(db: Path | str, member: str) -> None:
    """Give ``member``'s pushed rows on the server costs whose sums pass 64 bits, as a few hundred
    pushes of rows at the push's limits would (two rows of one quarter-hour are enough here)."""
    conn = connect(db)
    try:
        with write_transaction(conn):
            times = [
                int(r[0]) for r in conn.execute("SELECT ts_ms FROM usage_events WHERE member = ?", (member,))
            ]
            conn.execute(
                "UPDATE usage_events SET cost_nanos = 5000000000000000000 WHERE member = ?", (member,)
            )
            rollup.mark_dirty(conn, times)
    finally:
        conn.close()


def test_an_admin_removes_what_a_members_token_pushed_and_it_stays_removed(team: Team, home: Path) -> None:
    """Bob's token pushed absurd rows (a leaked token, a broken laptop): their quarter-hours left
    every answer, with a warning whose remedies reach no pushed row and that named no one, and
    revoking the token kept them. Now the warning names bob and his token and the command, which
    removes exactly his pushed rows: totals and rollup exact, his budget re-armed, his next
    `push --full` brings nothing back, and `team unforget-pushes` lets it."""
    ana, bob = "ana@example.com", "bob@example.com"
    laptops = {
        name: _laptop(
            home,
            name,
            f"{name}@example.com",
            [(f"msg_{name}{i}", f"req_{name}{i}", 100_000, 50_000) for i in range(3)],
        )
        for name in ("ana", "bob")
    }
    envs = {n: lt.env(home, COST_MCP_TEAM_TOKEN=team.tokens[n]) for n, lt in laptops.items()}
    for env in envs.values():
        done = _cli(env, "push", "--server", team.base)
        assert done.returncode == 0, done.stderr
    anas, pushed = _total(team.server_db, members=[ana]), _total(team.server_db, members=[bob])
    assert anas > 0 and pushed > 0
    # Bob's agent also reports a call over /mcp with his token: his usage too, removed with the rest.
    call = {"provider": "openai", "model": "gpt-4o", "input_tokens": 400_000, "output_tokens": 0}
    reported = {**call, "agent": "bot", "request_id": "req-mcp"}
    assert not anyio.run(_call, team.base, team.tokens["bob"], "record_usage", reported).is_error
    bobs = _total(team.server_db, members=[bob])
    assert bobs == pushed + 1
    admin = _env(home, team.server_db)
    assert _cli(admin, "budget", "set", "bob", str(bobs / 2), "--member", bob).returncode == 0
    assert _fired(team.server_db, "bob")

    _make_absurd(team.server_db, bob)
    answer = _spend_by_member(team.base, team.tokens["admin"])
    [warning] = [w for w in answer.structured_content["warnings"] if "64-bit" in w]
    assert "pushed by bob@example.com (token bob)" in warning, warning
    command = warning.split("`cost-mcp team forget-pushes")[1].split("`")[0]
    day = laptops["bob"].logged_at
    assert day is not None
    assert command == f" --member bob@example.com --start {day.date()} --end {day.date()} --timezone UTC"

    dry = _cli(admin, "team", "forget-pushes", *command.split(), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would forget 4 row(s) of bob@example.com" in dry.stderr and "dry run" in dry.stderr, dry.stderr
    assert _forgotten_on(team.server_db, bob) == []
    gone = _cli(admin, "team", "forget-pushes", *command.split())
    assert gone.returncode == 0, gone.stderr
    assert "forgot 4 row(s) of bob@example.com" in gone.stderr, gone.stderr
    assert "budget 'bob': 50%, 80%, 100% will alert again" in gone.stderr, gone.stderr
    answer = _spend_by_member(team.base, team.tokens["admin"])
    assert not [w for w in answer.structured_content["warnings"] if "64-bit" in w]
    assert _total(team.server_db, members=[bob]) == 0
    assert _total(team.server_db, members=[ana]) == anas
    assert _fired(team.server_db, "bob") == []
    assert _forgotten_on(team.server_db, bob) == sorted([*(f"msg_bob{i}" for i in range(3)), "req-mcp"])
    retry = anyio.run(_call, team.base, team.tokens["bob"], "record_usage", reported)
    assert retry.structured_content["forgotten"] is True
    _assert_rollup_exact(team.server_db)

    full = _cli(envs["bob"], "push", "--full", "--server", team.base)
    assert "3 forgotten there" in full.stderr, full.stderr
    assert _total(team.server_db, members=[bob]) == 0

    lifted = _cli(admin, "team", "unforget-pushes", "--member", bob)
    assert lifted.returncode == 0 and "unforgot 4 row(s) of bob@example.com" in lifted.stderr, lifted.stderr
    assert "`cost-mcp push --full`" in lifted.stderr
    again = _cli(envs["bob"], "push", "--full", "--server", team.base)
    assert "3 new or grown on the server" in again.stderr, again.stderr
    # The agent's call counts again once it reports it again.
    assert _total(team.server_db, members=[bob]) == pushed
    assert not anyio.run(_call, team.base, team.tokens["bob"], "record_usage", reported).is_error
    assert _total(team.server_db, members=[bob]) == bobs
    assert _total(team.server_db, members=[ana]) == anas
    _assert_rollup_exact(team.server_db)


def _otlp(base: str, token: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    """POST events as OTLP/JSON with ``token``; the answer (its ``partialSuccess`` when any)."""
    from tests.web.test_otel_receiver import _otlp_json_logs

    when = datetime.now(UTC) - timedelta(minutes=5)
    records = [{"_ns": int(when.timestamp() * 1e9), **e} for e in events]
    answer = httpx2.post(
        f"{base}/v1/logs",
        json=_otlp_json_logs(records, {"service.name": "claude-code"}),
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_calls_forgotten_by_forget_pushes_stay_forgotten_when_otlp_sends_them_again(
    team: Team, home: Path
) -> None:
    """Ana's Claude Code sends over OTLP; the admin removes what she sent. Her exporter's retry of
    that batch (its answer lost to a timeout) stored the calls again and they counted again, though
    each call "stays forgotten" (pushes checked the tombstones, OTLP did not). A new call counts."""
    from tests.web.test_otel_receiver import _ago, _api_request, _price, _send_logs

    ana = "ana@example.com"
    when = _ago(20)
    old = [_api_request(f"req_old{i}", when, Tokens(input=1000 * (i + 1), output=100)) for i in range(2)]
    _send_logs(team.base, old, token=team.tokens["ana"])
    assert _total(team.server_db, members=[ana]) > 0
    gone = _cli(_env(home, team.server_db), "team", "forget-pushes", "--member", ana, "--yes")
    assert gone.returncode == 0 and f"forgot 2 row(s) of {ana}" in gone.stderr, gone.stderr
    assert _total(team.server_db, members=[ana]) == 0

    new = Tokens(input=50, output=5)
    _send_logs(team.base, [*old, _api_request("req_new", when, new)], token=team.tokens["ana"])
    sonnet = "claude-sonnet-4-5-20250929"
    assert _total(team.server_db, members=[ana]) == Decimal(_price(new, sonnet, "anthropic", when)) / 10**9
    again = _otlp(team.base, team.tokens["ana"], old[:1])
    assert again["partialSuccess"]["rejectedLogRecords"] == "1"
    assert "a team admin forgot" in again["partialSuccess"]["errorMessage"], again
    conn = connect(team.server_db)
    try:
        stored = {str(r[0]) for r in conn.execute("SELECT request_id FROM usage_events")}
    finally:
        conn.close()
    assert stored == {"req_new"}

    lifted = _cli(_env(home, team.server_db), "team", "unforget-pushes", "--member", ana)
    assert lifted.returncode == 0, lifted.stderr
    _send_logs(team.base, old, token=team.tokens["ana"])
    assert (
        _total(team.server_db, members=[ana])
        == Decimal(
            sum(_price(Tokens(input=1000 * (i + 1), output=100), sonnet, "anthropic", when) for i in range(2))
            + _price(new, sonnet, "anthropic", when)
        )
        / 10**9
    )


def test_a_call_forgotten_as_it_came_over_otlp_stays_forgotten_when_its_log_is_pushed(
    team: Team, home: Path
) -> None:
    """Ana's calls had reached the server over OTLP only; the admin removed them. Her laptop's
    first push then sent their log copies (other keys, the same request ids), which were stored and
    counted: the forgotten calls were back. They are forgotten there, as the OTel copies were."""
    from tests.web.test_otel_receiver import _api_request, _send_logs

    ana = "ana@example.com"
    laptop = _laptop(home, "ana", ana, [("msg_a1", "req_a1", 1000, 100), ("msg_a2", "req_a2", 10, 1)])
    when = datetime.now(UTC) - timedelta(minutes=30)
    _send_logs(
        team.base, [_api_request("req_a1", when, Tokens(input=1000, output=100))], token=team.tokens["ana"]
    )
    assert _total(team.server_db, members=[ana]) > 0
    gone = _cli(_env(home, team.server_db), "team", "forget-pushes", "--member", ana, "--yes")
    assert gone.returncode == 0 and f"forgot 1 row(s) of {ana}" in gone.stderr, gone.stderr

    done = _cli(laptop.env(home, COST_MCP_TEAM_TOKEN=team.tokens["ana"]), "push", "--server", team.base)
    assert done.returncode == 0, done.stderr
    assert "1 forgotten there" in done.stderr, done.stderr
    only_new = _total(team.server_db, members=[ana])
    assert only_new == Decimal(_total(laptop.db)) - _cost_of(laptop.db, "req_a1")
    assert only_new > 0


def test_an_otlp_event_of_a_call_whose_log_copy_was_forgotten_stays_out(team: Team, home: Path) -> None:
    """Ana's laptop pushed a call from its log; the admin removed her rows. Her Claude Code's OTLP
    event of that call arrived only afterwards (no OTel copy had, so no tombstone under its key): it
    was stored and counted, and the forgotten call was back. It is refused as forgotten; a new
    call goes in, and once the admin lifts the forget the event is stored again."""
    from tests.web.test_otel_receiver import _api_request

    ana = "ana@example.com"
    laptop = _laptop(home, "ana", ana, [("msg_a1", "req_a1", 1000, 100)])
    done = _cli(laptop.env(home, COST_MCP_TEAM_TOKEN=team.tokens["ana"]), "push", "--server", team.base)
    assert done.returncode == 0, done.stderr
    gone = _cli(_env(home, team.server_db), "team", "forget-pushes", "--member", ana, "--yes")
    assert gone.returncode == 0 and f"forgot 1 row(s) of {ana}" in gone.stderr, gone.stderr

    when = datetime.now(UTC) - timedelta(minutes=30)
    late = _api_request("req_a1", when, Tokens(input=1000, output=100))
    answer = _otlp(
        team.base, team.tokens["ana"], [late, _api_request("req_a2", when, Tokens(input=10, output=1))]
    )
    assert answer["partialSuccess"]["rejectedLogRecords"] == "1"
    assert "1 event names a call a team admin forgot" in answer["partialSuccess"]["errorMessage"], answer
    assert _request_ids(team.server_db) == {"req_a2"}
    assert _total(team.server_db, members=[ana]) == _cost_of(team.server_db, "req_a2")

    lifted = _cli(_env(home, team.server_db), "team", "unforget-pushes", "--member", ana)
    assert lifted.returncode == 0, lifted.stderr
    assert "partialSuccess" not in _otlp(team.base, team.tokens["ana"], [late])
    assert _request_ids(team.server_db) == {"req_a1", "req_a2"}


def _request_ids(db: Path | str) -> set[str]:
    conn = connect(db)
    try:
        return {str(r[0]) for r in conn.execute("SELECT request_id FROM usage_events")}
    finally:
        conn.close()


def _cost_of(db: Path | str, request_id: str) -> Decimal:
    conn = connect(db)
    try:
        row = conn.execute(
            "SELECT cost_nanos FROM usage_events WHERE request_id = ?", (request_id,)
        ).fetchone()
    finally:
        conn.close()
    return Decimal(int(row[0])) / 10**9


def test_an_otlp_event_for_a_call_another_members_log_holds_is_refused(team: Team, home: Path) -> None:
    """Bob pushed a call from his log; Ana's token sent an OTLP event with its request id. It was
    stored under Ana, uncounted beside Bob's copy, and once the admin removed Bob's rows it counted
    as Ana's spend. It is refused, as a push of a log row whose OTel copy is another member's is."""
    from tests.web.test_otel_receiver import _api_request

    ana, bob = "ana@example.com", "bob@example.com"
    laptop = _laptop(home, "bob", bob, [("msg_b1", "req_b1", 1000, 100)])
    done = _cli(laptop.env(home, COST_MCP_TEAM_TOKEN=team.tokens["bob"]), "push", "--server", team.base)
    assert done.returncode == 0, done.stderr
    bobs = _total(team.server_db, members=[bob])
    when = datetime.now(UTC) - timedelta(minutes=30)
    answer = _otlp(
        team.base, team.tokens["ana"], [_api_request("req_b1", when, Tokens(input=1000, output=100))]
    )
    assert answer["partialSuccess"]["rejectedLogRecords"] == "1"
    assert "another member already sent" in answer["partialSuccess"]["errorMessage"]
    assert _total(team.server_db, members=[bob]) == bobs
    # Her own calls still go in beside it.
    mine = _otlp(team.base, team.tokens["ana"], [_api_request("req_a1", when, Tokens(input=10, output=1))])
    assert "partialSuccess" not in mine
    anas = _total(team.server_db, members=[ana])
    assert anas > 0

    gone = _cli(_env(home, team.server_db), "team", "forget-pushes", "--member", bob, "--yes")
    assert gone.returncode == 0, gone.stderr
    assert _total(team.server_db, members=[bob]) == 0
    assert _total(team.server_db, members=[ana]) == anas


def test_forget_pushes_with_no_range_asks_first_and_says_how_to_undo(team: Team, home: Path) -> None:
    """`team forget-pushes --member ana` with no range removed everything Ana ever pushed without a
    word, though the server keeps no copy: only her laptop's `push --full` can bring it back. Run
    where nothing can ask, it now removes nothing and names what it would remove and --yes; with
    --yes it removes it and says how to undo it, and what an undo cannot bring back."""
    ana = "ana@example.com"
    laptop = _laptop(home, "ana", ana, [("msg_a", "req_a", 1_000_000, 10), ("msg_b", "req_b", 10, 1)])
    pushed = _cli(laptop.env(home, COST_MCP_TEAM_TOKEN=team.tokens["ana"]), "push", "--server", team.base)
    assert pushed.returncode == 0, pushed.stderr
    anas = _total(team.server_db, members=[ana])
    assert anas > 0
    admin = _env(home, team.server_db, COLUMNS="300")

    refused = _cli(admin, "team", "forget-pushes", "--member", ana)
    assert refused.returncode != 0
    said = " ".join(refused.stderr.split())
    assert f"this forgets everything {ana} ever pushed (2 row(s), {format_usd(anas)})" in said, said
    assert "Add --yes" in said and "push --full" in said, said
    assert _total(team.server_db, members=[ana]) == anas

    # A range (or --dry-run) picks what it says: no question.
    dry = _cli(admin, "team", "forget-pushes", "--member", ana, "--dry-run")
    assert dry.returncode == 0 and "would forget 2 row(s)" in dry.stderr, dry.stderr

    gone = _cli(admin, "team", "forget-pushes", "--member", ana, "--yes")
    assert gone.returncode == 0, gone.stderr
    said = " ".join(gone.stderr.split())
    assert f"forgot 2 row(s) of {ana}" in said, said
    assert f"to undo: this server keeps no copy: `cost-mcp team unforget-pushes --member {ana}`" in said, said
    assert _total(team.server_db, members=[ana]) == 0


def test_forget_pushes_touches_no_other_member_and_says_who_pushed(team: Team, home: Path) -> None:
    """A misspelt member removes nothing and names who has pushed; another member's rows stay."""
    laptop = _laptop(home, "ana", "ana@example.com", [("msg_a", "req_a", 100, 10)])
    assert (
        _cli(
            laptop.env(home, COST_MCP_TEAM_TOKEN=team.tokens["ana"]), "push", "--server", team.base
        ).returncode
        == 0
    )
    total = _total(team.server_db)
    done = _cli(
        _env(home, team.server_db, COLUMNS="200"), "team", "forget-pushes", "--member", "Bob@Example.com"
    )
    assert done.returncode == 0, done.stderr
    assert (
        "bob@example.com pushed nothing in that range: nothing to forget "
        "(members who have pushed: ana@example.com)" in done.stderr
    )
    assert _total(team.server_db) == total


def test_jwt_from_the_identity_provider(home: Path) -> None:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa
    from starlette.testclient import TestClient

    from cost_mcp.store import Ledger
    from cost_mcp.web.http import create_http_app
    from tests.idp import AUDIENCE, ISSUER, Idp

    idp = Idp()
    settings = Settings(
        db=home / "server.db",
        timezone="UTC",
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        jwt_jwks_url=idp.jwks_url,
        jwt_admins="boss@example.com",
    )
    token = idp.token

    row = {
        "source": "record_usage",
        "message_id": "m1",
        "ts_ms": int(time.time() * 1000) - 60_000,
        "provider": "anthropic",
        "model": "claude-sonnet-4-5",
        "input_tokens": 1000,
    }
    ledger = Ledger(settings.db)
    try:
        app = create_http_app(ledger, settings, Pricer())
        with TestClient(app, base_url="http://127.0.0.1") as http:

            def post(bearer: str) -> int:
                return http.post(
                    "/api/push", json={"rows": [row]}, headers={"Authorization": f"Bearer {bearer}"}
                ).status_code

            assert post(token("Ana@Example.com")) == 200
            assert post(token("ana@example.com", aud="someone-else")) == 401
            assert post(token("ana@example.com", exp=int(time.time()) - 10)) == 401
            assert post(token("ana@example.com", iss="https://evil.example.com/")) == 401
            other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            forged = jwt.encode(
                {"iss": ISSUER, "aud": AUDIENCE, "email": "boss@example.com", "exp": int(time.time()) + 60},
                other,
                algorithm="RS256",
                headers={"kid": "k1"},
            )
            assert post(forged) == 401
            assert (
                http.get("/", headers={"Authorization": f"Bearer {token('ana@example.com')}"}).status_code
                == 403
            )
            assert (
                http.get("/", headers={"Authorization": f"Bearer {token('boss@example.com')}"}).status_code
                == 200
            )
            # A browser signs in to the dashboard with the admin's JWT: the session ends when it does.
            signed = http.post(
                "/signin",
                data={"token": token("boss@example.com", exp=int(time.time()) + 300)},
                headers={"Origin": "http://127.0.0.1"},
                follow_redirects=False,
            )
            assert signed.status_code == 303, signed.text
            max_age = next(
                f for f in signed.headers["set-cookie"].split("; ") if f.lower().startswith("max-age")
            )
            assert 290 <= int(max_age.split("=")[1]) <= 300
            assert http.get("/api/budgets", headers={"Accept": "application/json"}).status_code == 200
            http.cookies.clear()
            refused = http.post(
                "/signin",
                data={"token": token("ana@example.com")},
                headers={"Origin": "http://127.0.0.1"},
                follow_redirects=False,
            )
            assert refused.status_code == 403 and "set-cookie" not in refused.headers
            assert http.get("/api/budgets", headers={"Accept": "application/json"}).status_code == 401
    finally:
        ledger.close()
        idp.close()
    conn = connect(settings.db)
    assert conn.execute("SELECT member FROM usage_events").fetchall() == [("ana@example.com",)]
    conn.close()


def test_budgets_per_member_and_per_team(settings: Settings, clock: None) -> None:
    from cost_mcp.analytics import budgets
    from cost_mcp.models import BudgetScope

    # A minute ago at noon (the clock fixture) is this month's: at 00:00:05 on the 1st it was last
    # month's, and every month budget read $0.
    now_ms = int(time.time() * 1000) - 60_000

    def row(mid: str, tokens: int) -> push.WireRow:
        return push.WireRow(
            source="record_usage",
            message_id=mid,
            ts_ms=now_ms,
            provider="anthropic",
            model="claude-sonnet-4-5",
            input_tokens=tokens,
        )

    conn = connect(settings.db)
    pricer = Pricer()
    members = {"ana@example.com": 1_000_000, "bob@example.com": 2_000_000, "cy@example.com": 4_000_000}
    for member, tokens in members.items():
        push.receive(conn, pricer, access.Caller(member, "member", member), [row(member, tokens)])
    team_store.set_team(conn, "core", ["ana@example.com", "BOB@example.com"])
    budgets.set_budget(conn, "ana", Decimal(100), "month", BudgetScope(members=["ana@example.com"]))
    budgets.set_budget(conn, "core", Decimal(100), "month", BudgetScope(teams=["core"]), hard=True)
    budgets.set_budget(conn, "all", Decimal(100), "month", BudgetScope())
    # A scope naming a member or team nobody knows (a typo) would count nothing, for good: said.
    assert [budgets.scope_warnings(conn, budgets.get_budget(conn, n)) for n in ("ana", "core")] == [[], []]
    typo = budgets.set_budget(
        conn, "typo", Decimal(1), "month", BudgetScope(members=["ana@exmaple.com"], teams=["cor"])
    )
    assert budgets.scope_warnings(conn, typo) == [
        "budget 'typo': member 'ana@exmaple.com' matches nothing: no token, team or usage names them "
        "(check the spelling; members: ana@example.com, bob@example.com, cy@example.com)",
        "budget 'typo': team 'cor' does not exist (teams: core); make it with "
        "`cost-mcp team set cor EMAIL...`",
    ]
    # A member's budget_status names no other member or team (test_a_members_filter_hints_...).
    assert budgets.scope_warnings(conn, typo, "ana@example.com") == [
        "budget 'typo': member 'ana@exmaple.com' matches nothing: no token, team or usage names them "
        "(a team admin can check the spelling)",
        "budget 'typo': team 'cor' does not exist; make it with `cost-mcp team set cor EMAIL...`",
    ]
    budgets.delete_budget(conn, "typo")
    _assert_rollup_exact(settings.db)
    each = {m: _total(settings.db, members=[m]) for m in members}
    assert all(v > 0 for v in each.values())

    status = budgets.budget_status(conn, settings, take_alerts=False)
    spent = {s.budget.name: s.spent_usd for s in status.budgets}
    assert spent == {
        "ana": each["ana@example.com"],
        "core": each["ana@example.com"] + each["bob@example.com"],
        "all": sum(each.values()),
    }
    # A member sees the budgets that count them; check_budget applies theirs.
    mine = budgets.budget_status(conn, settings, take_alerts=False, member="cy@example.com")
    assert [s.budget.name for s in mine.budgets] == ["all"]
    check = budgets.check_budget(conn, settings, Decimal(99), member="bob@example.com")
    assert not check.allowed and check.binding_budget == "core"
    assert budgets.check_budget(conn, settings, Decimal(99), member="cy@example.com").allowed
    # A member no budget counts is told an admin sets them: set_budget would refuse them.
    budgets.delete_budget(conn, "all")
    none = budgets.budget_status(conn, settings, take_alerts=False, member="cy@example.com")
    assert none.budgets == []
    assert none.warnings == ["no budget counts cy@example.com's spend yet: a team admin sets budgets"]
    for name in ("ana", "core"):
        budgets.delete_budget(conn, name)
    assert budgets.budget_status(conn, settings, take_alerts=False).warnings == [
        "no budgets yet: create one with set_budget(name, amount_usd, period)"
    ]
    conn.close()


def test_a_departed_members_budget_says_they_have_no_live_token(settings: Settings, clock: None) -> None:
    from cost_mcp.analytics import budgets
    from cost_mcp.analytics.breakdown import summary_text
    from cost_mcp.analytics.dashboard import build_dashboard, dashboard_text
    from cost_mcp.models import BudgetScope

    conn = connect(settings.db)
    # ana had a token (revoked when she left); bob rotated his (one revoked, one live); cy signs in
    # through the identity provider and never had one.
    team_store.create_token(conn, "ana-laptop", "ana@example.com")
    team_store.create_token(conn, "bob-old", "bob@example.com")
    team_store.create_token(conn, "bob-new", "bob@example.com")
    row = push.WireRow(
        source="record_usage",
        message_id="m-ana",
        ts_ms=int(time.time() * 1000) - 60_000,
        provider="anthropic",
        model="claude-sonnet-4-5",
        input_tokens=1_000_000,
    )
    push.receive(conn, Pricer(), access.Caller("ana@example.com", "member", "ana-laptop"), [row])
    for name in ("ana", "bob", "cy"):
        budgets.set_budget(conn, name, Decimal(100), "month", BudgetScope(members=[f"{name}@example.com"]))
    before = budgets.budget_status(conn, settings, take_alerts=False)
    assert not any("live token" in w for w in before.warnings), before.warnings

    team_store.revoke_token(conn, "ana-laptop")
    team_store.revoke_token(conn, "bob-old")
    note = (
        "budget 'ana': member 'ana@example.com' has no live token (each one made for them is revoked), "
        "so their laptop can push no more and this budget's spend will not grow from it; delete the "
        "budget if they have left, or give them a new token (`cost-mcp token create NAME --member EMAIL`)"
    )
    status = budgets.budget_status(conn, settings, take_alerts=False)
    assert [w for w in status.warnings if "live token" in w] == [note]
    # Her spend still counts: the budget reports it, now with the note beside it.
    assert {s.budget.name: s.spent_usd for s in status.budgets}["ana"] > 0
    assert budgets.scope_warnings(conn, budgets.get_budget(conn, "ana")) == [note]  # set_budget says it
    # Where else an admin sees budgets: the dashboard (page and text) and the summary resource.
    board = build_dashboard(conn, settings, "this_month")
    assert note in board.budgets.warnings
    assert f"note: {note}" in dashboard_text(board).splitlines()
    assert f"note: {note}" in summary_text(conn, settings).splitlines()
    # A new token: the note goes.
    team_store.create_token(conn, "ana-again", "ana@example.com")
    again = budgets.budget_status(conn, settings, take_alerts=False)
    assert not any("live token" in w for w in again.warnings), again.warnings
    conn.close()


def test_push_limits_over_http(settings: Settings) -> None:
    from starlette.testclient import TestClient

    from cost_mcp.store import Ledger
    from cost_mcp.web.http import create_http_app

    conn = connect(settings.db)
    token = team_store.create_token(conn, "ana", "ana@example.com")
    conn.close()
    ledger = Ledger(settings.db)
    try:
        # Five pushes, then none for a very long time: the sixth is refused whatever the machine's speed.
        app = create_http_app(ledger, settings, Pricer(), push_limiter=push.RateLimiter(rate=0.001, burst=5))
        auth = {"Authorization": f"Bearer {token}"}
        with TestClient(app, base_url="http://127.0.0.1") as http:
            assert http.post("/api/push", json={"rows": []}).status_code == 401
            big = http.post("/api/push", content=b"x" * (push.MAX_BODY_BYTES + 1), headers=auth)
            assert big.status_code == 413 and "bytes" in big.json()["error"]
            bad = http.post("/api/push", json={"rows": [{"source": "claude_code"}]}, headers=auth)
            assert bad.status_code == 400 and "push format" in bad.json()["error"]
            statuses = [http.post("/api/push", json={"rows": []}, headers=auth).status_code for _ in range(3)]
            assert statuses == [200, 200, 200]
            limited = http.post("/api/push", json={"rows": []}, headers=auth)
            assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        # QA: with the bucket a few milliseconds short, the answer said "retry after 0.0 s" beside
        # a Retry-After of 1 (here, half a second short: "0.5 s"): both now say the same whole seconds.
        app = create_http_app(ledger, settings, Pricer(), push_limiter=push.RateLimiter(rate=2, burst=1))
        with TestClient(app, base_url="http://127.0.0.1") as http:
            assert http.post("/api/push", json={"rows": []}, headers=auth).status_code == 200
            soon = http.post("/api/push", json={"rows": []}, headers=auth)
            assert (soon.status_code, soon.headers["retry-after"]) == (429, "1")
            assert soon.json()["error"] == "too many pushes for token ana; retry after 1 s"
    finally:
        ledger.close()


def test_rate_limiter_is_per_token() -> None:
    limiter = push.RateLimiter(rate=0.001, burst=2.0)
    assert limiter.take("a") == 0 and limiter.take("a") == 0
    assert limiter.take("b") == 0  # per token
    assert limiter.take("a") > 900  # about 1,000 s until the next token at one per 1,000 s


def test_otlp_with_a_members_token_is_that_members_usage(settings: Settings) -> None:
    from starlette.testclient import TestClient

    from cost_mcp.pricing import Tokens
    from cost_mcp.store import Ledger
    from cost_mcp.web.http import create_http_app
    from tests.web.test_otel_receiver import _api_request, _otlp_json_logs

    conn = connect(settings.db)
    ana = team_store.create_token(conn, "ana", "ana@example.com")
    collector = team_store.create_token(conn, "collector", "ops@example.com", "admin")
    conn.close()
    when = datetime.now(UTC) - timedelta(minutes=5)
    ledger = Ledger(settings.db)
    try:
        app = create_http_app(ledger, settings, Pricer())
        with TestClient(app, base_url="http://127.0.0.1") as http:
            for rid, token in (("req_ana", ana), ("req_org", collector)):
                record = {
                    "_ns": int(when.timestamp() * 1e9),
                    **_api_request(
                        rid, when, Tokens(input=10, output=5), **{"user.email": "bob@example.com"}
                    ),
                }
                answer = http.post(
                    "/v1/logs",
                    json=_otlp_json_logs([record], {"service.name": "claude-code"}),
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert answer.status_code == 200, answer.text
    finally:
        ledger.close()
    conn = connect(settings.db)
    stored = dict(conn.execute("SELECT request_id, member FROM usage_events").fetchall())
    conn.close()
    # Ana cannot put her usage on Bob; an organisation-wide collector keeps each event's own member.
    assert stored == {"req_ana": "ana@example.com", "req_org": "bob@example.com"}


# --- an ingest token: a fleet's managed settings, sending only ----------------------------------


def test_a_laptop_gone_quiet_is_named_by_its_member_in_the_warnings(team: Team, home: Path) -> None:
    # The warning read "push:ana: not refreshed since 2026-...T...792000+00:00": a token's name and
    # a raw timestamp, saying neither whose laptop it is nor what the total lacks.
    for name in ("ana", "bob", "cy"):
        laptop = _laptop(home, name, f"{name}@example.com", [(f"msg_q{name}", f"req_q{name}", 100, 10)])
        done = _cli(laptop.env(home, COST_MCP_TEAM_TOKEN=team.tokens[name]), "push", "--server", team.base)
        assert done.returncode == 0, done.stderr
    four_days_ago = datetime.now(UTC) - timedelta(days=4)
    conn = connect(team.server_db)
    with write_transaction(conn):
        conn.execute(
            "UPDATE push_senders SET last_ms = ? WHERE token_name IN ('ana', 'cy')",
            (int(four_days_ago.timestamp() * 1000),),
        )
    conn.close()
    # cy's token was revoked: it will push no more, and its laptop's usage goes under a new token.
    assert _cli(_env(home, team.server_db), "token", "revoke", "cy").returncode == 0

    def quiet(token: str, **extra: Any) -> list[str]:
        answer = _spend_by_member(team.base, token, **extra)
        assert not answer.is_error, answer.content
        warnings = answer.structured_content["warnings"]
        assert not [w for w in warnings if "not refreshed since" in w], warnings
        return [w for w in warnings if "has not pushed since" in w]

    expected = (
        f"ana@example.com's laptop (token ana) has not pushed since {four_days_ago:%Y-%m-%d %H:%M} UTC "
        "(4 days ago): anything it used since then is not in this total (nothing, if nobody used it; "
        "else run `cost-mcp push` on it)"
    )
    assert quiet(team.tokens["admin"]) == [expected]
    assert quiet(team.tokens["ana"]) == [expected]
    assert quiet(team.tokens["bob"]) == []
    # A period that ended before the last push lacks nothing of it.
    before = (four_days_ago - timedelta(days=3)).date().isoformat()
    assert quiet(team.tokens["admin"], start=before, end=before) == []


def test_a_team_budgets_status_names_the_laptop_gone_quiet_as_get_spend_does(team: Team, home: Path) -> None:
    """An admin asked budget_status (and `cost-mcp budget status`) for the platform team's month
    while Ana's laptop had not pushed for four days: "$x of $y spent" and no warning, though
    get_spend for the same month said the total lacked her laptop's days. It says so now, once
    whichever budgets count her, to a member only of their own laptop, and not once she pushes."""
    laptops = {}
    for name in ("ana", "bob", "cy"):
        laptops[name] = _laptop(
            home, name, f"{name}@example.com", [(f"msg_s{name}", f"req_s{name}", 100, 10)]
        )
        done = _cli(
            laptops[name].env(home, COST_MCP_TEAM_TOKEN=team.tokens[name]), "push", "--server", team.base
        )
        assert done.returncode == 0, done.stderr
    server = _env(home, team.server_db, COLUMNS="200")
    for args in (
        ("team", "set", "platform", "ana@example.com", "bob@example.com"),
        ("budget", "set", "platform", "100", "--team", "platform"),
        ("budget", "set", "everyone", "500"),
        ("budget", "set", "cy", "50", "--member", "cy@example.com"),
    ):
        made = _cli(server, *args)
        assert made.returncode == 0, made.stderr
    four_days_ago = datetime.now(UTC) - timedelta(days=4)
    conn = connect(team.server_db)
    with write_transaction(conn):
        conn.execute(
            "UPDATE push_senders SET last_ms = ? WHERE token_name = 'ana'",
            (int(four_days_ago.timestamp() * 1000),),
        )
    conn.close()

    def quiet(token: str, **args: Any) -> list[str]:
        answer = anyio.run(_call, team.base, token, "budget_status", args)
        assert not answer.is_error, answer.content
        return [w for w in answer.structured_content["warnings"] if "has not pushed since" in w]

    said = [
        w
        for w in _spend_by_member(team.base, team.tokens["admin"]).structured_content["warnings"]
        if "has not pushed" in w
    ]
    assert len(said) == 1 and "ana@example.com's laptop (token ana)" in said[0], said
    assert quiet(team.tokens["admin"]) == said
    assert quiet(team.tokens["admin"], name="platform") == said
    assert quiet(team.tokens["admin"], name="cy") == []  # her budget counts no quiet laptop
    assert quiet(team.tokens["ana"]) == said
    assert (
        quiet(team.tokens["bob"]) == []
    )  # the team's budget counts Ana, but her laptop is not his to hear of
    status = _cli(server, "budget", "status")
    assert status.returncode == 0, status.stderr
    assert "ana@example.com's laptop (token ana) has not pushed since" in " ".join(status.stdout.split())

    # Her laptop pushes again (nothing new to send): the warning goes.
    again = _cli(
        laptops["ana"].env(home, COST_MCP_TEAM_TOKEN=team.tokens["ana"]), "push", "--server", team.base
    )
    assert again.returncode == 0, again.stderr
    assert quiet(team.tokens["admin"]) == []


def test_changing_a_teams_members_says_what_it_did_to_the_teams_budgets(team: Team, home: Path) -> None:
    """An admin took Ana out of the platform team mid-month: its budget's spent for the month fell
    by her whole month (a team's budgets count its members as they are now, with no history of who
    was in it when), and `cost-mcp team set` said only "team platform: bob@example.com". It says
    what the change did to each of the team's budgets: spent before and now, and whose usage moved."""
    for name in ("ana", "bob"):
        laptop = _laptop(home, name, f"{name}@example.com", [(f"msg_t{name}", f"req_t{name}", 2000, 100)])
        done = _cli(laptop.env(home, COST_MCP_TEAM_TOKEN=team.tokens[name]), "push", "--server", team.base)
        assert done.returncode == 0, done.stderr
    server = _env(home, team.server_db)
    for args in (
        ("team", "set", "platform", "ana@example.com", "bob@example.com"),
        ("budget", "set", "platform", "100", "--team", "platform"),
        ("budget", "set", "everyone", "500"),
    ):
        made = _cli(server, *args)
        assert made.returncode == 0, made.stderr

    def spent() -> tuple[str, str]:
        status = _cli(server, "budget", "status", "--json")
        assert status.returncode == 0, status.stderr
        state = next(b for b in json.loads(status.stdout)["budgets"] if b["budget"]["name"] == "platform")
        return format_usd(Decimal(str(state["spent_usd"]))), state["first_day"]

    both, first_day = spent()
    out = _cli(server, "team", "set", "platform", "bob@example.com")
    assert out.returncode == 0, out.stderr
    bobs, _ = spent()
    assert bobs != both
    head = (
        f"note: budget 'platform' (month from {first_day}) counts team platform's members as they are "
        "now, for its whole period: "
    )
    notes = [line for line in out.stderr.splitlines() if line.startswith("note:")]
    assert notes == [
        f"{head}{both} spent before, {bobs} now (ana@example.com's usage since {first_day} no longer counts; "
        "alerts already sent stay sent)"
    ]
    back = _cli(server, "team", "set", "platform", "bob@example.com", "ana@example.com")
    notes = [line for line in back.stderr.splitlines() if line.startswith("note:")]
    assert notes == [
        f"{head}{bobs} spent before, {both} now (ana@example.com's usage since {first_day} counts now; "
        "alerts already sent stay sent)"
    ]
    # Nothing moved, nothing said (the team-wide budget never depended on the team).
    same = _cli(server, "team", "set", "platform", "ana@example.com", "bob@example.com")
    assert same.returncode == 0 and "note:" not in same.stderr, same.stderr


@pytest.mark.usefixtures("ops_webhook")  # before team: the server reads its webhooks at start
def test_a_push_of_a_day_already_over_alerts_for_that_days_team_budget_once(team: Team, home: Path) -> None:
    """Bob's laptop, offline since yesterday, pushed yesterday's calls today: they took the team's
    daily budget for yesterday past its limit, and no alert ever came (budgets were evaluated for
    today only, and budget_status shows today). That day's crossing alerts now, within seconds of
    the push, once, naming the day and that the usage came late; today's alerts are untouched."""
    server = _env(home, team.server_db)
    for args in (
        ("team", "set", "platform", "ana@example.com", "bob@example.com"),
        ("budget", "set", "platform", "1", "--team", "platform", "--period", "day"),
    ):
        made = _cli(server, *args)
        assert made.returncode == 0, made.stderr
    # The budget was set last week (one set today says nothing of the days before it).
    last_week = (datetime.now(UTC) - timedelta(days=7)).isoformat()
    conn = connect(team.server_db)
    with write_transaction(conn):
        conn.execute("UPDATE budgets SET created_at = ?, updated_at = ?", (last_week, last_week))
    conn.close()
    yesterday = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)
    claude = home / "bob" / "claude"
    # Over $1 of yesterday's calls (at the server's price), against $1 a day.
    write(
        session_file(claude, "bob-s1", project="-home-bob-p"),
        assistant("msg_late", "req_late", _iso(yesterday), session="bob-s1", input=150_000, output=80_000),
    )
    bob = Laptop("bob@example.com", home / "bob" / "cost.db", claude)
    pushed = _cli(bob.env(home, COST_MCP_TEAM_TOKEN=team.tokens["bob"]), "push", "--server", team.base)
    assert pushed.returncode == 0, pushed.stderr
    deadline = time.monotonic() + 60
    while not alerts_of(team.server_db, "platform") and time.monotonic() < deadline:
        time.sleep(0.2)
    fired = alerts_of(team.server_db, "platform")
    day_key = int(datetime.combine(yesterday.date(), datetime.min.time(), UTC).timestamp() * 1000)
    assert [(k, t) for k, t, _ in fired] == [(day_key, "0.5"), (day_key, "0.8"), (day_key, "1.0")], fired
    conn = connect(team.server_db)
    try:
        day = days_period(yesterday.date(), yesterday.date(), tz=ZoneInfo("UTC"))
        spent = spend.get_spend(conn, Settings(db=team.server_db, timezone="UTC"), day, (), take_alerts=False)
    finally:
        conn.close()
    assert spent.total_usd > 1
    assert fired[-1][2] == (
        f"budget 'platform' passed 100% of $1.00 per day in the day from {yesterday.date().isoformat()}, "
        f"with usage that arrived after it ended: {format_usd(spent.total_usd)} spent "
        f"({spent.total_usd * 100:.1f}%); covers 50% and 80% too, crossed at the same time"
    )
    # The same calls again (a full push), and a question that evaluates budgets: no second alert.
    again = _cli(
        bob.env(home, COST_MCP_TEAM_TOKEN=team.tokens["bob"]), "push", "--full", "--server", team.base
    )
    assert again.returncode == 0, again.stderr
    status = anyio.run(_call, team.base, team.tokens["admin"], "budget_status", {})
    assert not status.is_error, status.content
    assert status.structured_content["budgets"][0]["spent_usd"] == 0  # today's, as before
    canary = {
        "source": "claude_code",
        "message_id": "msg_canary",
        "request_id": "req_canary",
        "ts_ms": int(time.time() * 1000),
        "provider": "anthropic",
        "model": "claude-sonnet-4-5",
        "input_tokens": 100_000,
    }
    after_the_evaluation(
        team.server_db,
        load_settings(),
        BudgetScope(members=["cy@example.com"]),  # not in team platform
        lambda: _pushed(team, "cy", canary),
    )
    assert alerts_of(team.server_db, "platform") == fired
    assert [p["budget"] for p in Receiver.received] == [CANARY]


def _pushed(team: Team, who: str, *rows: dict[str, Any]) -> None:
    """POST ``rows`` to the team server's /api/push with ``who``'s token: every one must be taken."""
    answer = httpx2.post(
        f"{team.base}/api/push",
        json={"rows": list(rows)},
        headers={"Authorization": f"Bearer {team.tokens[who]}"},
    )
    assert answer.status_code == 200 and answer.json()["accepted"] == len(rows), answer.text


@pytest.fixture
def fleet(home: Path) -> Iterator[Team]:
    """A team server with an ingest token (``fleet``, ops answering for it), a member's and an
    admin's."""
    holders = [
        ("fleet", "ops@example.com", "ingest"),
        ("ana", "ana@example.com", "member"),
        ("admin", "boss@example.com", "admin"),
    ]
    with _served(home, holders) as served:
        yield served


def test_an_ingest_tokens_otlp_keeps_each_events_member(fleet: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    # One token in managed settings on every laptop: each event is its sender's, as with an
    # admin's collector; a member's token still makes every event that member's.
    from cost_mcp.pricing import Tokens
    from tests.web.test_otel_receiver import _api_request, _send_logs

    when = datetime.now(UTC) - timedelta(minutes=5)
    nameless = _api_request("req_nobody", when, Tokens(input=10, output=5))
    del nameless["user.email"], nameless["user.account_id"]
    batches = {
        "fleet": [
            _api_request("req_ana", when, Tokens(input=10, output=5), **{"user.email": "ana@example.com"}),
            _api_request("req_bob", when, Tokens(input=20, output=5), **{"user.email": "bob@example.com"}),
            nameless,
        ],
        "ana": [
            _api_request("req_by_ana", when, Tokens(input=30, output=5), **{"user.email": "bob@example.com"})
        ],
    }
    for name, events in batches.items():
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"Authorization=Bearer {fleet.tokens[name]}")
        _send_logs(fleet.base, events)
    conn = connect(fleet.server_db)
    stored = dict(conn.execute("SELECT request_id, member FROM usage_events").fetchall())
    conn.close()
    # An event naming nobody stays nobody's, as from an admin's collector: not the token's member.
    assert stored == {
        "req_ana": "ana@example.com",
        "req_bob": "bob@example.com",
        "req_nobody": "",
        "req_by_ana": "ana@example.com",
    }


def test_an_otel_events_email_is_the_member_whatever_its_case(
    fleet: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An identity provider's mixed-case email made a second member: ana's budgets, her team's and
    # her own view counted none of what arrived under "Ana@Example.COM".
    from cost_mcp.pricing import Tokens
    from tests.web.test_otel_receiver import _api_request, _send_logs

    when = datetime.now(UTC) - timedelta(minutes=5)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"Authorization=Bearer {fleet.tokens['fleet']}")
    _send_logs(
        fleet.base,
        [
            _api_request("req_upper", when, Tokens(input=10, output=5), **{"user.email": " Ana@Example.COM"}),
            _api_request("req_lower", when, Tokens(input=20, output=5), **{"user.email": "ana@example.com"}),
        ],
    )
    conn = connect(fleet.server_db)
    stored = dict(conn.execute("SELECT request_id, member FROM usage_events").fetchall())
    conn.close()
    assert stored == {"req_upper": "ana@example.com", "req_lower": "ana@example.com"}
    mine = _spend_by_member(fleet.base, fleet.tokens["ana"])
    assert not mine.is_error, mine.content
    assert [r["group"]["member"] for r in mine.structured_content["rows"]] == ["ana@example.com"]
    assert mine.structured_content["rows"][0]["requests"] == 2


def test_an_ingest_token_reads_nothing_and_cannot_push(fleet: Team) -> None:
    # Anyone on any laptop of the fleet can read the token in managed settings.
    token = fleet.tokens["fleet"]
    for tool, args in (("get_spend", {}), ("estimate_cost", {"model": "gpt-4o"}), ("set_budget", {})):
        refused = anyio.run(_call, fleet.base, token, tool, args)
        assert refused.is_error, refused.content
        text = refused.content[0].text
        assert f"{tool} needs a member's or an admin's token" in text
        assert "'fleet' (ops@example.com) is an ingest token" in text
        assert "only sends usage over OpenTelemetry" in text and "cost-mcp token create" in text
        assert token not in text

    resource = anyio.run(_read_summary, fleet.base, token)
    assert (
        "resources show everyone's spend: the token 'fleet' (ops@example.com) is an ingest token" in resource
    )
    assert "read them with an admin token" in resource

    auth = {"Authorization": f"Bearer {token}"}
    pushed = httpx2.post(f"{fleet.base}/api/push", json={"rows": []}, headers=auth)
    assert pushed.status_code == 403, pushed.text
    assert "pushing needs the member's own token" in pushed.json()["error"]
    assert "is an ingest token" in pushed.json()["error"]
    assert httpx2.post(
        f"{fleet.base}/api/push",
        json={"rows": []},
        headers={"Authorization": f"Bearer {fleet.tokens['ana']}"},
    ).json() == {
        "accepted": 0,
        "changed": 0,
        "refused": 0,
        "forgotten": 0,
        "rejected": 0,
        "removed": 0,
        "lifted": 0,
        "warnings": [],
    }

    for path in ("/", "/api/spend?period=today"):
        page = httpx2.get(f"{fleet.base}{path}", headers=auth)
        assert page.status_code == 403, page.text
        assert "insufficient_scope" in page.headers["www-authenticate"]
        said = page.json()["error_description"]
        assert "the dashboard shows everyone's spend" in said and "is an ingest token" in said
        assert "open it with an admin token" in said
    admin = {"Authorization": f"Bearer {fleet.tokens['admin']}"}
    assert httpx2.get(f"{fleet.base}/api/spend?period=today", headers=admin).status_code == 200
    assert token.encode() not in fleet.stderr.read_bytes()


def test_a_laptops_doctor_says_a_token_that_cannot_push_cannot_push(fleet: Team, home: Path) -> None:
    # The fleet's ingest token (copied from managed settings into COST_MCP_TEAM_TOKEN) makes an MCP
    # initialize, so doctor said "token accepted" while every push failed with 403.
    laptop = _laptop(home, "ana", "ana@example.com", [("msg_c1", "req_c1", 100, 10)])
    verdicts = {}
    for name in ("fleet", "ana", "admin"):
        env = laptop.env(home, COST_MCP_TEAM_SERVER=fleet.base, COST_MCP_TEAM_TOKEN=fleet.tokens[name])
        told = _cli(env, "doctor", "--json")
        report = json.loads(told.stdout)
        verdicts[name] = (report["team"]["token_accepted"], report["team"].get("token_can_push"))
        problems = [p for p in report["problems"] if "token" in p]
        table = _cli({**env, "COLUMNS": "300"}, "doctor").stdout
        assert fleet.tokens[name] not in told.stdout + told.stderr + table
        if name == "fleet":
            [problem] = problems
            assert problem.startswith(f"token cannot push: the team server {display_url(fleet.base)} said: ")
            assert "'fleet' (ops@example.com) is an ingest token" in problem
            assert "cost-mcp token create NAME --member EMAIL" in problem
            assert "token cannot push," in table and "REFUSED" not in table, table
        else:
            assert problems == [], problems
            assert "token accepted," in table, table
    assert verdicts == {"fleet": (True, False), "ana": (True, True), "admin": (True, True)}
    # Checking stored nothing: no token has pushed as far as the server knows.
    server_doctor = json.loads(_cli(_env(home, fleet.server_db), "doctor", "--json").stdout)
    assert server_doctor["received_pushes"] == []
    # What doctor promised holds: the ingest token's push is refused, a member's taken.
    pushed = _cli(laptop.env(home, COST_MCP_TEAM_TOKEN=fleet.tokens["fleet"]), "push", "--server", fleet.base)
    assert pushed.returncode != 0 and "403" in pushed.stderr, pushed.stderr
    pushed = _cli(laptop.env(home, COST_MCP_TEAM_TOKEN=fleet.tokens["ana"]), "push", "--server", fleet.base)
    assert pushed.returncode == 0, pushed.stderr


class _OlderServer(http.server.BaseHTTPRequestHandler):
    """A team server from before ``GET /api/push``: 405 to it, /mcp answered for one token."""

    def do_GET(self) -> None:
        self.send_response(405)
        self.end_headers()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        known = self.path == "/mcp" and self.headers.get("authorization") == "Bearer cmt_known"
        self.send_response(200 if known else 401)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


def test_doctor_asks_an_older_server_only_whether_it_takes_the_token() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _OlderServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        known = push.check_token(base, "cmt_known")
        assert (known.accepted, known.can_push) == (True, None)
        assert "too old to say whether it takes pushes" in known.words
        unknown = push.check_token(base, "cmt_other")
        assert (unknown.accepted, unknown.can_push) == (False, None)
        assert "refused the token (401)" in unknown.words
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_an_ingest_caller_may_call_no_tool() -> None:
    fleet = access.Caller("ops@example.com", "ingest", "fleet")
    assert fleet.sends_only and fleet.keeps_event_members and not fleet.is_admin
    for tool in [*sorted(access.MEMBER_TOOLS), "set_budget", "session_usage"]:
        with pytest.raises(access.AccessDeniedError, match="is an ingest token"):
            access.scope_arguments(tool, {}, fleet)
    member = access.Caller("ana@example.com", "member", "ana")
    assert not member.sends_only and not member.keeps_event_members


def test_ingest_token_from_the_cli(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    from cost_mcp.cli import main

    assert main(["token", "create", "fleet", "--member", "Ops@Example.com", "--role", "ingest"]) == 0
    made = capsys.readouterr()
    assert "token fleet for ops@example.com (ingest)" in made.err
    token = made.out.strip()
    assert main(["token", "list"]) == 0
    listed = capsys.readouterr().out
    assert "fleet\tops@example.com\tingest\tcreated " in listed and token not in listed
    conn = connect(settings.db)
    info = team_store.verify_token(conn, token)
    conn.close()
    assert info is not None and (info.name, info.role) == ("fleet", "ingest")
    assert main(["token", "create", "x", "--member", "ops@example.com", "--role", "owner"]) != 0
    assert "'member', 'admin', 'ingest'" in capsys.readouterr().err  # click's choices: store.team.ROLES


def test_token_and_team_commands(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    from cost_mcp.cli import main

    assert main(["token", "create", "ana-laptop", "--member", "ana@example.com"]) == 0
    made = capsys.readouterr()
    token = made.out.strip()
    assert token.startswith("cmt_")
    assert "a running `cost-mcp serve --http` stops answering until restarted" in made.err  # the first
    assert main(["token", "create", "bob-laptop", "--member", "bob@example.com"]) == 0
    assert "restart" not in capsys.readouterr().err
    assert main(["token", "list"]) == 0
    listed = capsys.readouterr().out
    assert "ana-laptop\tana@example.com\tmember" in listed and "live" in listed and token not in listed
    assert main(["token", "revoke", "ana-laptop"]) == 0
    assert capsys.readouterr().err == "token ana-laptop revoked\n"
    # QA: revoking it again said "token ana-laptop revoked" as if it had been live until then.
    assert main(["token", "revoke", "ana-laptop"]) == 0
    again = capsys.readouterr().err
    assert again.startswith("token ana-laptop was revoked already, on 20") and len(again) == len(
        "token ana-laptop was revoked already, on 2026-12-07T01:14:45\n"
    ), again
    assert main(["token", "revoke", "nobody"]) != 0
    assert "no token named 'nobody'" in capsys.readouterr().err
    assert main(["team", "set", "platform", "Ana@example.com", "bob@example.com", "ana@example.com"]) == 0
    assert capsys.readouterr().err == "team platform: ana@example.com, bob@example.com\n"  # it said nothing
    assert main(["team", "set", "gone", "cy@example.com"]) == 0 and main(["team", "set", "gone"]) == 0
    assert capsys.readouterr().err.endswith("team gone removed\n")
    assert main(["team", "list"]) == 0
    assert capsys.readouterr().out == "platform\tana@example.com, bob@example.com\n"
    # A misspelt address: the team's budgets would count nothing for it, and a budget's scope
    # takes a member a team names as known, so nothing said so, then or later.
    assert main(["team", "set", "ops", "bob@example.com", "carol@exmaple.com"]) == 0
    assert capsys.readouterr().err == (
        "team ops: bob@example.com, carol@exmaple.com\n"
        "warning: team ops: member 'carol@exmaple.com' has no token and no usage yet (check the "
        "spelling; members: ana@example.com, bob@example.com); until a call of theirs is recorded, the "
        "team's budgets count nothing for them\n"
    )
    assert main(["push"]) != 0
    assert "COST_MCP_TEAM_SERVER" in capsys.readouterr().err


def test_a_taken_token_name_says_how_to_rotate_the_token(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """Creating a token under a live token's name said "revoke it or choose another name"; an admin
    rotating ana's token revoked the old one and was then told its name is never reused."""
    from cost_mcp.cli import main

    assert main(["token", "create", "ana-laptop", "--member", "ana@example.com"]) == 0
    capsys.readouterr()
    assert main(["token", "create", "ana-laptop", "--member", "ana@example.com"]) == 2
    assert capsys.readouterr().err == (
        "error: a token named 'ana-laptop' exists, and a name is never reused, even once revoked: choose "
        "another, e.g. ana-laptop-2 (to replace the token: create the new one, then `cost-mcp token "
        "revoke ana-laptop`)\n"
    )
    assert main(["token", "revoke", "ana-laptop"]) == 0
    capsys.readouterr()
    assert main(["token", "create", "ana-laptop", "--member", "ana@example.com"]) == 2
    assert "choose another name, e.g. ana-laptop-2" in capsys.readouterr().err


def test_a_dry_run_for_a_member_who_pushed_nothing_says_so(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """`team forget-pushes --member carol@exmaple.com --dry-run` (a typo) printed nothing at all,
    exit 0, while the same command without --dry-run said there was nothing to forget."""
    from cost_mcp.cli import main

    for command in ("forget-pushes", "unforget-pushes"):
        assert main(["team", command, "--member", "carol@exmaple.com", "--dry-run"]) == 0
        dry = capsys.readouterr().err
        assert main(["team", command, "--member", "carol@exmaple.com"]) == 0
        real = capsys.readouterr().err
        assert dry == real and "carol@exmaple.com" in dry and "nothing to" in dry, (dry, real)


def test_token_and_team_names_hold_no_control_characters(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    # `token list` printed a name's escape sequence to the admin's terminal as it was.
    from cost_mcp.cli import main

    for args in (
        ["token", "create", "ana\x1b[2J", "--member", "ana@example.com"],
        ["token", "create", "ana", "--member", "ana@example.com\u202e"],
        ["team", "set", "co\nre", "ana@example.com"],
    ):
        assert main(args) != 0, args
        said = capsys.readouterr().err
        assert "may hold no control characters" in said and "\x1b" not in said and "\u202e" not in said
    assert main(["token", "list"]) == 0 and capsys.readouterr().out == ""
    assert main(["team", "list"]) == 0 and capsys.readouterr().out == ""


def test_budget_set_for_a_member_or_a_team_from_the_cli(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    from zoneinfo import ZoneInfo

    from cost_mcp.analytics import budgets
    from cost_mcp.cli import main

    # A fixed instant, passed as now= too: the month the budgets look at never depends on the date.
    at = datetime(2026, 6, 15, 12, tzinfo=UTC)
    now = at + timedelta(hours=1)
    conn = connect(settings.db)
    pricer = Pricer()
    for member, tokens in {"ana@example.com": 1_000_000, "bob@example.com": 3_000_000}.items():
        row = push.WireRow(
            source="record_usage",
            message_id=member,
            ts_ms=int(at.timestamp() * 1000),
            provider="anthropic",
            model="claude-sonnet-4-5",
            input_tokens=tokens,
        )
        push.receive(conn, pricer, access.Caller(member, "member", member), [row])
    june = Period(
        start=datetime(2026, 6, 1, tzinfo=UTC),
        end=datetime(2026, 7, 1, tzinfo=UTC),
        name="june",
        tz=ZoneInfo("UTC"),
    )
    each = {
        m: spend.get_spend(conn, settings, june, (), spend.Filters(members=[m]), take_alerts=False).total_usd
        for m in ("ana@example.com", "bob@example.com")
    }
    assert all(v > 0 for v in each.values())

    assert main(["team", "set", "core", "ana@example.com", "bob@example.com"]) == 0
    assert main(["budget", "set", "ana-cap", "100", "--member", "Ana@Example.com", "--hard"]) == 0
    assert "members ana@example.com" in capsys.readouterr().out
    assert main(["budget", "set", "core-cap", "100", "--team", "core"]) == 0
    assert main(["budget", "set", "core-too", "100", "--member", "team:core"]) == 0
    assert "teams core" in capsys.readouterr().out

    status = budgets.budget_status(conn, settings, take_alerts=False, now=now)
    spent = {s.budget.name: s.spent_usd for s in status.budgets}
    both = each["ana@example.com"] + each["bob@example.com"]
    assert spent == {"ana-cap": each["ana@example.com"], "core-cap": both, "core-too": both}
    bobs = budgets.budget_status(conn, settings, take_alerts=False, member="bob@example.com", now=now)
    assert [s.budget.name for s in bobs.budgets] == ["core-cap", "core-too"]
    assert not budgets.check_budget(conn, settings, Decimal(99), member="ana@example.com", now=now).allowed
    assert budgets.check_budget(conn, settings, Decimal(99), member="bob@example.com", now=now).allowed
    conn.close()

    assert main(["budget", "set", "bad", "5", "--member", "ana"]) != 0
    assert "--member takes an email address" in capsys.readouterr().err


def test_a_member_that_is_no_email_address_is_refused_by_token_create_and_team_set(
    settings: Settings, ledger_made: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from cost_mcp.cli import main

    for member in ("a b@x", "@x", "ana@", "ana"):
        assert main(["token", "create", "laptop", "--member", member]) == 2, member
        err = " ".join(capsys.readouterr().err.split())
        assert "--member must be an email address such as ana@example.com (one @, no spaces)" in err, err
        assert main(["team", "set", "core", "bob@example.com", member]) == 2, member
        err = " ".join(capsys.readouterr().err.split())
        assert "a team's member must be an email address such as ana@example.com" in err, err
    assert main(["token", "create", "laptop", "--member", " Ana@X "]) == 0
    assert "token laptop for ana@x (member)" in capsys.readouterr().err
    assert main(["team", "set", "core", "Bob@Example.com", "ana@x"]) == 0
    conn = connect(settings.db)
    try:
        assert [(t.name, t.member) for t in team_store.list_tokens(conn)] == [("laptop", "ana@x")]
        assert team_store.teams(conn) == {"core": ["ana@x", "bob@example.com"]}
    finally:
        conn.close()
    # A filter takes an account id as well (an OTel member without an email), and refuses the rest.
    assert main(["team", "pushes", "--member", "user_01abc"]) == 0
    assert "No pushes from user_01abc" in capsys.readouterr().err
    assert main(["team", "pushes", "--member", "a b@x"]) == 2
    assert "or an account id such as user_01abc" in capsys.readouterr().err
