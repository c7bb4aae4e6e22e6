"""Ledger problems a person can act on, through the CLI and the real server: another
application's database, a damaged file, a full disk, another process's lock, a read-only ledger."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from cost_mcp import sync
from cost_mcp.store import rollup
from cost_mcp.store.connection import LOCK_NOTICE_MS, is_postgres
from tests.sources.claude_logs import assistant, session_file, write

pytestmark = pytest.mark.anyio


def cli(
    *args: str, env: dict[str, str] | None = None, prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "cost_mcp", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "300", **(env or {})},
        timeout=180,
        check=False,
    )


def spend_line(claude: Path, request: str) -> None:
    """A Claude Code call of $3.000012 (Sonnet 4.5: 200k output tokens at $15/MTok, 4 input) today."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    write(session_file(claude, request), assistant(f"msg_{request}", f"req_{request}", now, output=200_000))


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return " ".join(done.stderr.split())


@pytest.mark.sqlite_only  # about the SQLite file itself
def test_another_applications_database_is_refused_not_migrated(home: Path) -> None:
    db = home / "data" / "cost.db"
    db.parent.mkdir(parents=True)
    other = sqlite3.connect(db)
    other.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
    other.execute("INSERT INTO users (email) VALUES ('a@example.com')")
    other.commit()
    other.close()
    before = db.read_bytes()
    for command in (["report"], ["budget", "list"], ["serve"]):
        text = one_line_error(cli(*command))
        assert f"{db} is not a cost-mcp ledger" in text and "users" in text and "COST_MCP_DB" in text
    assert db.read_bytes() == before
    assert not db.with_name("cost.db-wal").exists() or db.with_name("cost.db-wal").stat().st_size == 0


def _corrupt_tables(db: Path) -> None:
    """Overwrite the first page of every cost-mcp table but the migrations table with garbage."""
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    roots = [
        r[0]
        for r in conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE tbl_name != '_migrations' AND rootpage > 1"
        )
    ]
    conn.close()
    with db.open("r+b") as f:
        for root in roots:
            f.seek((root - 1) * page)
            f.write(b"\xde\xad\xbe\xef" * (page // 4))


@pytest.mark.sqlite_only  # about the SQLite file itself
async def test_a_damaged_ledger_says_which_file_and_how_to_rebuild(home: Path) -> None:
    spend_line(home / "claude", "a")
    assert cli("ingest").returncode == 0
    db = home / "data" / "cost.db"
    _corrupt_tables(db)
    text = one_line_error(cli("report"))
    assert f"the ledger {db} is damaged" in text
    assert "budget list --json" in text and "cost-mcp ingest" in text and "cost-mcp sync" in text
    from cost_mcp.server import mcp

    async with Client(mcp, raise_exceptions=True) as client:
        result = await client.call_tool("get_spend", {})
    assert result.is_error is True
    message = result.content[0].text  # type: ignore[union-attr]
    assert f"the ledger {db} is damaged" in message and "rebuild it" in message
    assert "Put back your backup copy of it (README, Backup and restore)" in message


@pytest.mark.sqlite_only  # about the SQLite file itself
async def test_a_full_disk_is_a_tool_error_saying_so(client: Client, home: Path) -> None:
    from cost_mcp import server

    await client.call_tool("get_spend", {})
    with server._live[-1].ledger.use() as conn:  # the disk fills up: no page can be added
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
    for i in range(120):  # more than a 16 KiB page of rows (connection.PAGE_SIZE) holds
        spend_line(home / "claude", f"r{i}")
    result = await client.call_tool("ingest_claude_code_logs", {})
    assert result.is_error is True
    message = result.content[0].text  # type: ignore[union-attr]
    assert "is full" in message and "Free some space" in message and "Traceback" not in message


@pytest.mark.sqlite_only  # about the SQLite file itself
async def test_reads_do_not_wait_behind_another_process_holding_the_lock(
    clock: None, client: Client, home: Path
) -> None:
    await client.call_tool("set_budget", {"name": "d", "amount_usd": 100, "period": "day"})
    spend_line(home / "claude", "a")
    holder = sqlite3.connect(home / "data" / "cost.db", isolation_level=None)
    # another process in the middle of an ingest: a batch committed (its quarter-hour, this one,
    # marked for the rollup), the next one holding the write lock for longer than any busy timeout.
    # (A quarter-hour before the period asked about is left for the question that reads it.)
    now_qh = int(datetime.now(UTC).timestamp() * 1000) // rollup.QUARTER_HOUR_MS
    holder.execute("INSERT INTO rollup_dirty VALUES (?)", (now_qh,))
    holder.execute("BEGIN IMMEDIATE")
    try:
        spend = (await client.call_tool("get_spend", {})).structured_content
        check = (await client.call_tool("check_budget", {"estimated_cost_usd": 1})).structured_content
        status = (await client.call_tool("budget_status", {})).structured_content
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    for result in (spend, check, status):
        assert result is not None
        assert any("another process was writing the ledger" in w for w in result["warnings"])
    assert spend is not None and any("newest calls are not in this answer" in w for w in spend["warnings"])
    assert spend is not None and spend["total_usd"] == 0  # answered from what was there
    after = (await client.call_tool("get_spend", {})).structured_content
    assert (
        after is not None
        and after["total_usd"] == 3.000012
        and not any("another process" in w for w in after["warnings"])
    )


@pytest.fixture
def shared_home() -> Iterator[Path]:
    """A folder another user can read (pytest's own tmp folders are private to their owner)."""
    path = Path(tempfile.mkdtemp(prefix="cost-mcp-ro-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        for p in (path, *path.rglob("*")):
            if p.is_dir():
                p.chmod(0o755)
            else:
                p.chmod(0o644)
        shutil.rmtree(path)


def _make_read_only(root: Path) -> None:
    for p in (root, *root.rglob("*")):
        p.chmod(0o555 if p.is_dir() else 0o444)


def _read_only_for_root(root: Path) -> tuple[str, ...]:
    """A command prefix under which ``root`` cannot be written, even by root.

    Root ignores file permissions, and running as another user fails wherever the checkout or its
    venv is not readable by that user (a CI clone under a 0700 temp folder): so, as root, the command
    runs in a private mount namespace where ``root`` is a read-only bind mount.
    """
    if os.geteuid() != 0:
        return ()
    if shutil.which("unshare") is None:
        pytest.skip("root ignores file permissions and util-linux's unshare is missing")
    script = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" "$0" && exec "$@"'
    return ("unshare", "--mount", "--propagation", "private", "sh", "-c", script, str(root))


@pytest.mark.sqlite_only  # about the SQLite file itself
async def test_a_read_only_ledger_answers_with_a_warning(clock: None, shared_home: Path, home: Path) -> None:
    env = {
        "COST_MCP_DB": str(shared_home / "data" / "cost.db"),
        "CLAUDE_CONFIG_DIR": str(shared_home / "claude"),
        "HOME": str(shared_home),
        "COST_MCP_PRICES_FILE": str(shared_home / "prices.toml"),
        "COST_MCP_ENV_FILE": str(shared_home / "env"),
    }
    spend_line(shared_home / "claude", "a")
    assert cli("ingest", env=env).returncode == 0
    spend_line(shared_home / "claude", "b")  # new usage the read-only ledger cannot take in
    _make_read_only(shared_home)
    reader = _read_only_for_root(shared_home)
    report = cli("report", "--json", env=env, prefix=reader)
    assert report.returncode == 0, report.stderr
    answer = json.loads(report.stdout)
    assert answer["total_usd"] == 3.000012
    assert any("the ledger is read-only" in w for w in answer["warnings"])  # in the JSON a script reads
    table = cli("report", "--csv", env=env, prefix=reader)
    assert table.returncode == 0, table.stderr
    assert "the ledger is read-only" in " ".join(table.stderr.split())  # a CSV cannot carry it
    budgets = cli("budget", "list", "--json", env=env, prefix=reader)
    assert budgets.returncode == 0, budgets.stderr
    assert any("the ledger is read-only" in w for w in json.loads(budgets.stdout)["warnings"])
    budget = cli("budget", "set", "d", "5", env=env, prefix=reader)
    text = one_line_error(budget)
    assert "cannot write the ledger" in text and "writable" in text
    # the real server on stdio, as the same reader
    command = [*reader, sys.executable, "-m", "cost_mcp"]
    params = StdioServerParameters(command=command[0], args=command[1:], env={**os.environ, **env})
    async with Client(params) as client:
        spend = await client.call_tool("get_spend", {})
        refused = await client.call_tool("set_budget", {"name": "d", "amount_usd": 5, "period": "day"})
    assert spend.structured_content is not None
    assert spend.structured_content["total_usd"] == 3.000012
    assert any("the ledger is read-only" in w for w in spend.structured_content["warnings"])
    assert refused.is_error is True
    assert "cannot write the ledger" in refused.content[0].text  # type: ignore[union-attr]


def slow_first_read(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Make the next refresh hold the ledger's write lock for 1.5 s (longer than a refresh waits for
    it) before reading, as a first read of a long history does; the list empties once it ran."""
    import time

    from cost_mcp import sync
    from cost_mcp.store.connection import write_transaction

    original = sync.read_local_logs
    pending = [True]

    def read_slowly(conn: Any, *args: Any, **kwargs: Any) -> Any:
        if pending and pending.pop():
            with write_transaction(conn):
                time.sleep(1.5)
        return original(conn, *args, **kwargs)

    monkeypatch.setattr(sync, "read_local_logs", read_slowly)
    return pending


async def test_questions_asked_at_once_do_not_call_each_other_another_process(
    clock: None, client: Client, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A model's parallel tool calls on a pooled PostgreSQL ledger ran their refreshes side by side
    # on separate connections: one that held the write lock for over a second made the others give
    # up, each saying another process was writing.
    import anyio

    from cost_mcp import server

    await client.call_tool("get_spend", {})
    assert await anyio.to_thread.run_sync(server._live[-1].reader.wait, 60)  # start-up read over
    spend_line(home / "claude", "a")
    pending = slow_first_read(monkeypatch)
    answers: list[dict[str, Any]] = []

    async def ask() -> None:
        result = (await client.call_tool("get_spend", {})).structured_content
        assert result is not None
        answers.append(result)

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(ask)
    assert not pending  # the slow read ran
    assert [a["total_usd"] for a in answers] == [3.000012] * 3
    for answer in answers:
        assert not any("another process" in w for w in answer["warnings"]), answer["warnings"]


async def test_a_dashboards_requests_at_once_do_not_call_each_other_another_process(
    clock: None, home: Path, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `cost-mcp dashboard` (every request refreshes): a page's requests side by side, as above.
    import anyio
    import httpx2

    from cost_mcp.pricing import Pricer
    from cost_mcp.store import Ledger
    from cost_mcp.web.app import create_app

    spend_line(home / "claude", "a")
    ledger = Ledger(settings.db)
    app = create_app(ledger, settings, Pricer(), token=None, allowed_hosts=["127.0.0.1"])
    pending = slow_first_read(monkeypatch)
    answers: list[dict[str, Any]] = []
    try:
        base = "http://127.0.0.1:8765"
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=base) as http:

            async def ask() -> None:
                response = await http.get("/api/spend")
                assert response.status_code == 200, response.text
                answers.append(response.json())

            async with anyio.create_task_group() as tg:
                for _ in range(3):
                    tg.start_soon(ask)
    finally:
        ledger.close()
    assert not pending
    assert [a["total_usd"] for a in answers] == [3.000012] * 3
    for answer in answers:
        assert not any("another process" in w for w in answer["warnings"]), answer["warnings"]


def _report_behind_the_lock(home: Path, conn: Any, end: str) -> tuple[str, str]:
    """`report --period today --json` run while ``conn`` holds the write lock: what it said on
    stderr once it said it waits (or after 20 s), and its stdout once ``end`` (ROLLBACK or COMMIT)
    let it go on; it must exit 0."""
    err = home / "stderr"
    with err.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cost_mcp", "report", "--period", "today", "--json"],
            stdout=subprocess.PIPE,
            stderr=sink,
            text=True,
            env={**os.environ, "COLUMNS": "300"},
        )
    try:
        deadline = time.monotonic() + 20
        while "waiting" not in err.read_text() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        told = " ".join(err.read_text().split())
    finally:
        conn.execute(end)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.read_text()
    return told, out


def test_a_command_waiting_for_another_writer_says_so_on_stderr_at_once(
    clock: None, home: Path, conn: Any
) -> None:
    # Another process (an ingest, a server's first read) holds the write lock: SQLite's file lock,
    # or PostgreSQL's advisory lock. The command waits for it, as before, but says so after a
    # moment instead of a minute of silence, on stderr, so that --json stays parseable.
    spend_line(home / "claude", "a")
    conn.execute("BEGIN IMMEDIATE")
    told, out = _report_behind_the_lock(home, conn, "ROLLBACK")
    assert told == (
        "note: waiting up to 58 s more for another process that is writing the ledger (a cost-mcp "
        "ingest, server or sync reading logs); if it is still writing then, the answer comes from the "
        "ledger as it stands, with a note saying the newest log lines are not in it"
    )
    answer = json.loads(out)  # nothing but the answer on stdout
    assert answer["total_usd"] == 3.000012  # read after the wait, the new line included
    assert not any("another process" in w for w in answer["warnings"])


def test_a_command_whose_migration_waits_for_another_writer_says_so_on_stderr(
    clock: None, home: Path, conn: Any
) -> None:
    # An upgrade's migration takes the write lock too: behind another process writing the ledger,
    # the command says it waits, as any other write does, instead of a minute of silence.
    from cost_mcp.store.migrations import MIGRATIONS

    spend_line(home / "claude", "a")
    last = MIGRATIONS[-1][0]
    conn.execute("DELETE FROM _migrations WHERE name = ?", (last,))  # pending for the command
    conn.execute("BEGIN IMMEDIATE")
    # Put back under the lock: once the command has the lock, it finds the migration applied.
    conn.execute(
        "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (last, "2026-12-05T00:00:00+00:00")
    )
    told, out = _report_behind_the_lock(home, conn, "COMMIT")
    assert told.startswith("note: waiting up to ")
    assert told.endswith(
        "s more for another process that is writing the ledger (a cost-mcp ingest, server or sync "
        "reading logs); if it is still writing then, this command stops with an error saying so"
    )
    assert json.loads(out)["total_usd"] == 3.000012  # nothing but the answer on stdout


@pytest.mark.postgresql_only  # PostgreSQL's migration lock; SQLite migrates under its write lock
def test_a_command_behind_another_process_migrating_postgresql_says_so_on_stderr(
    clock: None, home: Path, conn: Any
) -> None:
    # Another process upgrading the shared database holds the migration lock for as long as its
    # migrations run: a command started meanwhile waited in silence (the write lock's wait said so).
    from cost_mcp.store.postgres import MIGRATE_LOCK

    spend_line(home / "claude", "a")
    conn.execute(f"SELECT pg_advisory_lock({MIGRATE_LOCK})")
    told, out = _report_behind_the_lock(home, conn, f"SELECT pg_advisory_unlock({MIGRATE_LOCK})")
    assert told.startswith("note: waiting up to ")
    assert "for another process that is writing the ledger" in told
    assert json.loads(out)["total_usd"] == 3.000012  # nothing but the answer on stdout


def test_the_stdio_server_migrating_behind_another_writer_keeps_stdout_for_mcp(
    clock: None, home: Path, conn: Any
) -> None:
    # The same wait in the stdio server before its handshake: stdout is the MCP channel, and a
    # server tells no one (its answers say when they did not wait), so nothing is written at all.
    from cost_mcp.store.migrations import MIGRATIONS

    last = MIGRATIONS[-1][0]
    conn.execute("DELETE FROM _migrations WHERE name = ?", (last,))
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (last, "2026-12-05T00:00:00+00:00")
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "cost_mcp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _waits_for_the_lock(proc)
        time.sleep(LOCK_NOTICE_MS / 1000 + 1)  # past the moment a command would say it waits
    finally:
        conn.execute("COMMIT")
    out, err = proc.communicate("", timeout=120)
    assert (proc.returncode, out) == (0, ""), err
    assert "waiting" not in err


def _waits_for_the_lock(proc: subprocess.Popen[str]) -> None:
    """Return once ``proc`` waits for the ledger's write lock (another connection holds it): on
    PostgreSQL its wait for the advisory lock shows; on SQLite, where a wait is not seen from
    outside, once it has the ledger file open, which it does just before. A fixed 3 s counted from
    the process's start instead, which on a loaded machine was over before it reached the lock."""
    db = os.environ["COST_MCP_DB"]
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if is_postgres(db):
            import psycopg

            with psycopg.connect(db, autocommit=True) as watcher:
                waiting = watcher.execute(
                    "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
                ).fetchone()
            if waiting is not None and waiting[0] > 0:
                return
        else:
            with contextlib.suppress(OSError):  # a descriptor closed while listed
                if any(
                    os.path.realpath(fd) == os.path.realpath(db)
                    for fd in Path(f"/proc/{proc.pid}/fd").iterdir()
                ):
                    return
        time.sleep(0.05)
    raise AssertionError(f"the server never waited for the lock (exit status {proc.poll()})")


def _calls_today(claude: Path, count: int) -> None:
    """``count`` Claude Code calls of today in one log: an export of them is some 100 KB."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    write(session_file(claude, "many"), *(assistant(f"msg_{i}", f"req_{i}", now) for i in range(count)))


@pytest.mark.sqlite_only  # about the output's disk, not the ledger
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_an_export_to_a_full_disk_says_so_and_leaves_no_cut_short_file(
    clock: None, home: Path, fmt: str
) -> None:
    # It was a traceback, and the first megabyte of the export stayed behind, looking like all of it.
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("a small disk to fill is mounted in a private mount namespace, as root")
    _calls_today(home / "claude", 400)
    disk = home / "small-disk"
    disk.mkdir()
    mount = 'mount -t tmpfs -o size=32k tmpfs "$0" && "$@"; code=$?; ls -A "$0"; exit $code'
    prefix = ("unshare", "--mount", "--propagation", "private", "sh", "-c", mount, str(disk))
    out = disk / f"spend.{fmt}"
    done = cli("export", "--period", "today", "--format", fmt, "--output", str(out), prefix=prefix)
    assert one_line_error(done).startswith(
        f"error: cannot write {out}: the disk is full (No space left on device); the incomplete file "
        "was removed. Free some space there, or give --output a file on another disk"
    )
    assert done.stdout == ""  # `ls -A` of the small disk once the command ended: nothing left on it


@pytest.mark.sqlite_only  # about the output's disk, not the ledger
@pytest.mark.parametrize("args", [("export", "--period", "today"), ("report", "--json")])
def test_output_sent_to_a_full_disk_is_one_line_saying_so(home: Path, args: tuple[str, ...]) -> None:
    _calls_today(home / "claude", 3)
    with open("/dev/full", "w", encoding="utf-8") as full:  # a disk with no space left, for writes
        done = subprocess.run(
            [sys.executable, "-m", "cost_mcp", *args],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "COLUMNS": "300"},
            timeout=180,
            check=False,
        )
    assert one_line_error(done).startswith(
        "error: the output could not be written: the disk is full (No space left on device); what was "
        "written is incomplete. Free some space there, or send the output to another disk"
    )


@pytest.mark.sqlite_only  # about the SQLite file itself
def test_doctor_names_a_read_only_folder_around_a_writable_ledger(shared_home: Path) -> None:
    # SQLite writes -wal and -shm files beside the ledger: in a folder it may not write, every
    # command failed to write ("attempt to write a readonly database") while doctor said "ok".
    folder = shared_home / "data"
    env = {
        "COST_MCP_DB": str(folder / "cost.db"),
        "CLAUDE_CONFIG_DIR": str(shared_home / "claude"),
        "HOME": str(shared_home),
        "COST_MCP_PRICES_FILE": str(shared_home / "prices.toml"),
        "COST_MCP_ENV_FILE": str(shared_home / "env"),
    }
    spend_line(shared_home / "claude", "a")
    assert cli("ingest", env=env).returncode == 0  # the last writer's close removed its -wal
    if os.geteuid() == 0:  # root ignores permissions: the folder is a read-only mount, the file not
        if shutil.which("unshare") is None:
            pytest.skip("root ignores file permissions and util-linux's unshare is missing")
        os.link(folder / "cost.db", shared_home / "ledger")  # the file, reachable past the mount
        script = (
            'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" "$0" && '
            'mount --bind "$1" "$0/cost.db" && shift && exec "$@"'
        )
        prefix: tuple[str, ...] = (
            "unshare", "--mount", "--propagation", "private", "sh", "-c", script, str(folder),
            str(shared_home / "ledger"),
        )  # fmt: skip
    else:
        folder.chmod(0o555)
        prefix = ()
    ingest = cli("ingest", env=env, prefix=prefix)
    assert "cannot write the ledger" in one_line_error(ingest)
    doctor = cli("doctor", env=env, prefix=prefix)
    assert doctor.returncode == 1
    assert (
        f"problem: read-only: its folder {folder} is not writable, and SQLite writes its -wal and -shm "
        "files there: make the folder writable (check permissions), or set COST_MCP_DB"
    ) in " ".join(doctor.stdout.split())


@pytest.mark.sqlite_only  # about the SQLite file itself
def test_a_folder_at_the_ledgers_path_is_named_as_one(home: Path) -> None:
    # SQLite's "unable to open database file" read "make the file and its folder writable
    # (chmod u+w)", and doctor's "not a usable SQLite database (disk I/O error)": no chmod helps.
    db = home / "data" / "cost.db"
    db.mkdir(parents=True)
    fix = (
        f"the ledger {db} is a folder, not a file: set COST_MCP_DB to a file's path (such as "
        f"{db / 'cost.db'}), or move the folder away; cost-mcp creates the file"
    )
    assert one_line_error(cli("report")) == f"error: {fix}"
    doctor = cli("doctor")
    assert doctor.returncode == 1 and f"problem: {fix}" in " ".join(doctor.stdout.split())


@pytest.mark.sqlite_only  # about the SQLite file itself
def test_a_file_that_is_no_ledger_points_to_the_backup_and_what_only_it_held(home: Path) -> None:
    # "Move it aside (it is only a cache of logs and provider data, except budgets and subscriptions)":
    # a team server's ledger alone holds its tokens and the members' pushes, a laptop's the calls
    # agents reported. The README's backup is what gets them back.
    db = home / "data" / "cost.db"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"not a database, some other file at its path\n" * 100)
    text = one_line_error(cli("report"))
    assert text == (
        f"error: the ledger {db} is not a valid SQLite database (file is not a database). Put back your "
        "backup copy of it (README, Backup and restore), or move it aside (or set COST_MCP_DB to another "
        "path) to start afresh: logs and provider bills are read again, but not what only the ledger held: "
        "budgets, subscriptions, calls agents reported with record_usage or sent over OTLP, and on a team "
        "server its tokens and members' pushes (each laptop's `cost-mcp push --full` sends its own again)"
    )
    doctor = cli("doctor")
    assert doctor.returncode == 1
    assert (
        f"problem: {db} is not a usable SQLite database (file is not a database); put back your backup "
        "copy of it (README, Backup and restore), or move it aside or set COST_MCP_DB"
    ) in " ".join(doctor.stdout.split())


@pytest.mark.sqlite_only  # about the SQLite file itself
def test_the_status_line_on_a_read_only_ledger_shows_it_as_it_stands(shared_home: Path) -> None:
    # Every question answers from a read-only ledger with a warning; the status line showed
    # "cost-mcp: error (run `cost-mcp doctor`)" once its transcript had a new line to store.
    env = {
        "COST_MCP_DB": str(shared_home / "data" / "cost.db"),
        "CLAUDE_CONFIG_DIR": str(shared_home / "claude"),
        "HOME": str(shared_home),
        "COST_MCP_PRICES_FILE": str(shared_home / "prices.toml"),
        "COST_MCP_ENV_FILE": str(shared_home / "env"),
        "COST_MCP_STATUSLINE_FIELDS": "session",
        "NO_COLOR": "1",
    }
    spend_line(shared_home / "claude", "a")
    assert cli("ingest", env=env).returncode == 0
    transcript = session_file(shared_home / "claude", "a")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    write(transcript, assistant("msg_b", "req_b", now, output=200_000), append=True)  # cannot be stored
    _make_read_only(shared_home)
    done = subprocess.run(
        [*_read_only_for_root(shared_home), sys.executable, "-m", "cost_mcp", "statusline"],
        input=json.dumps({"session_id": "s1", "transcript_path": str(transcript)}),
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "≥$3.00 session (ledger read-only)\n", "")


def _on_a_full_disk(
    home: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``cost-mcp ARGS`` on the ledger copied to a small disk that is then filled up, the ledger held
    open by another process meanwhile (a running server keeps its -wal and -shm files there)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("a small disk to fill is mounted in a private mount namespace, as root")
    disk = home / "small-disk"
    disk.mkdir()
    holder = (
        "import sqlite3, sys, time; "
        "sqlite3.connect(sys.argv[1]).execute('SELECT 1 FROM meta'); time.sleep(60)"
    )
    script = (
        'mount -t tmpfs -o size=4m tmpfs "$0" && cp "$1" "$0/cost.db" || exit 9; '
        '"$2" -c "$3" "$0/cost.db" >/dev/null 2>&1 & held=$!; sleep 2; '
        'cat /dev/zero > "$0/filler" 2>/dev/null; shift 3; "$@"; code=$?; kill $held; exit $code'
    )
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, str(disk),
         str(home / "data" / "cost.db"), sys.executable, holder, sys.executable, "-m", "cost_mcp", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "COST_MCP_DB": str(disk / "cost.db"), **(env or {})},
        timeout=60,
        check=False,
    )  # fmt: skip


@pytest.mark.sqlite_only  # about the SQLite file itself
def test_the_status_line_on_a_full_disk_shows_the_ledger_as_it_stands(home: Path) -> None:
    # It showed "cost-mcp: error (run `cost-mcp doctor`)" once its transcript had a line to store.
    spend_line(home / "claude", "a")
    assert cli("ingest").returncode == 0
    transcript = session_file(home / "claude", "a")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    write(transcript, assistant("msg_b", "req_b", now, output=200_000), append=True)
    done = _on_a_full_disk(
        home,
        "statusline",
        stdin=json.dumps({"session_id": "s1", "transcript_path": str(transcript)}),
        env={"COST_MCP_STATUSLINE_FIELDS": "session", "NO_COLOR": "1"},
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "≥$3.00 session (ledger's disk full)\n", "")


def _report_on_a_full_disk(home: Path) -> dict[str, Any]:
    """`cost-mcp report --json` on a full disk (:func:`_on_a_full_disk`), with a call logged since
    the last read (to be read first), as the status line's test does it."""
    spend_line(home / "claude", "b")  # a new call, to be read when the question is asked
    done = _on_a_full_disk(home, "report", "--json")
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


@pytest.mark.sqlite_only  # about the SQLite file itself
def test_an_answer_on_a_full_disk_comes_from_the_ledger_as_it_stands_saying_so(home: Path) -> None:
    """The status line showed the ledger as it stands on a full disk; a question stopped with
    "error: the disk holding the ledger ... is full" once a log had a new line to store, though
    every figure it needed was there. It answers now, saying what it could not read and the fix."""
    spend_line(home / "claude", "a")
    assert cli("ingest").returncode == 0
    answer = _report_on_a_full_disk(home)
    assert answer["total_usd"] == 3.000012  # the call that was in the ledger, not the new one
    assert sync.DISK_FULL_WARNING in answer["warnings"], answer["warnings"]


@pytest.mark.sqlite_only  # about the SQLite file itself
def test_an_answer_on_a_full_disk_with_sums_left_to_redo_answers_from_them_as_they_stand(home: Path) -> None:
    """Another process's batch committed, its quarter-hour not summed again yet, when the disk
    filled up: the refresh was skipped, then rebuilding the sums stopped the question with "error:
    the disk holding the ledger ... is full", where another process's write lock (or a read-only
    ledger) answered from the sums as they stand, saying so."""
    spend_line(home / "claude", "a")
    assert cli("ingest").returncode == 0
    with contextlib.closing(sqlite3.connect(home / "data" / "cost.db")) as db, db:
        db.execute("INSERT INTO rollup_dirty SELECT DISTINCT ts_ms / 900000 FROM usage_events")
    answer = _report_on_a_full_disk(home)
    assert answer["total_usd"] == 3.000012
    assert rollup.STALE_WARNING in answer["warnings"], answer["warnings"]


def test_a_bad_argument_and_an_unusable_ledger_both_say_error_as_every_error_line_does(home: Path) -> None:
    # A bad argument was click's "Error: No such option ..." where everything else says "error: ...".
    usage = cli("report", "--bogus")
    assert usage.returncode == 2 and "Traceback" not in usage.stderr
    assert usage.stderr.splitlines() == [
        "Usage: cost-mcp report [OPTIONS]",
        "Try 'cost-mcp report --help' for help.",
        "",
        "error: No such option '--bogus'.",
    ]
    db = os.environ["COST_MCP_DB"]
    if db.startswith("postgresql://"):
        ghost = db.replace("postgres@", "ghost@", 1)  # a role the server does not know
        said = one_line_error(cli("report", env={"COST_MCP_DB": ghost}))
        assert said.startswith(f"error: cannot open the PostgreSQL ledger ({ghost}): "), said
        assert said.endswith('FATAL: role "ghost" does not exist'), said
    else:
        Path(db).parent.mkdir(parents=True)
        Path(db).write_bytes(b"not a database\n" * 100)
        said = one_line_error(cli("report"))
        assert said.startswith(f"error: the ledger {db} is not a valid SQLite database"), said


@pytest.mark.sqlite_only  # about the SQLite file itself
def test_an_answer_on_a_full_disk_with_an_alert_to_show_answers_and_shows_it_later(home: Path) -> None:
    """A budget alert fired before the disk filled up: the question that was to show it stopped
    with "error: the disk holding the ledger ... is full" (marking the alert shown is a write),
    though the answer needed none. It answers now, and the alert rides in the next answer that can
    mark it, as it does behind another process's write lock."""
    spend_line(home / "claude", "a")
    assert cli("budget", "set", "tiny", "1").returncode == 0
    assert cli("ingest").returncode == 0
    pending = "SELECT count(*) FROM budget_alerts WHERE shown_at IS NULL"
    with contextlib.closing(sqlite3.connect(home / "data" / "cost.db")) as db:
        assert db.execute(pending).fetchone()[0] > 0  # fired, not shown yet
    answer = _report_on_a_full_disk(home)
    assert answer["total_usd"] == 3.000012
    assert answer["alerts"] == []
    shown = json.loads(cli("report", "--json").stdout)  # the ledger off the full disk
    assert any("tiny" in alert for alert in shown["alerts"]), shown["alerts"]
