"""The PostgreSQL backend's own parts: placeholders, exact sums, errors that say what to fix, secrets."""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from cost_mcp.config import load_settings
from cost_mcp.errors import DatabaseError
from cost_mcp.store import Ledger, connect, write_transaction
from cost_mcp.store.connection import Conn
from cost_mcp.store.connection import shown as scrub
from cost_mcp.store.migrations import MIGRATIONS, applied
from cost_mcp.store.postgres import PgConnection, translate
from tests.pg_cluster import Cluster


def test_placeholders_are_translated_outside_quotes_and_numbered_ones_reordered() -> None:
    sql, order = translate("SELECT ?, '?%', x % 2 FROM t INDEXED BY i WHERE a = ?1 AND b = ?")
    assert sql == "SELECT %s, '?%%', x %% 2 FROM t  WHERE a = %s AND b = %s"
    assert order == (0, 0, 1)  # ?1 is the first parameter again; the next ? is the second
    assert translate("SELECT ? + ?") == ("SELECT %s + %s", None)


def test_a_url_password_never_shows() -> None:
    assert scrub("postgresql://bob:s3cret@db:5432/cost") == "postgresql://bob:***@db:5432/cost"
    assert scrub("postgresql://db/cost?password=s3cret&sslmode=require") == (
        "postgresql://db/cost?password=***&sslmode=require"
    )
    assert scrub("/home/me/cost.db") == "/home/me/cost.db"


def test_settings_keep_a_url_as_a_url_and_a_path_as_a_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COST_MCP_ENV_FILE", "/nonexistent")
    monkeypatch.setenv("COST_MCP_DB", "postgresql://bob:s3cret@db/cost")
    settings = load_settings()
    assert settings.db == "postgresql://bob:s3cret@db/cost"
    assert "s3cret" not in repr(settings)
    monkeypatch.setenv("COST_MCP_DB", "/tmp/x/cost.db")
    assert load_settings().db == Path("/tmp/x/cost.db")


@pytest.fixture
def pg(pg_cluster: Cluster) -> str:
    return pg_cluster.url(pg_cluster.new_database())


def test_sums_come_back_as_exact_ints_and_flags_as_numbers(pg: str) -> None:
    conn = connect(pg)
    try:
        big = 5_000_000_000_000_000_000  # two of them overflow BIGINT: the sum is NUMERIC, exact
        total = conn.execute("SELECT SUM(x) FROM (VALUES (?::bigint), (?::bigint)) v(x)", (big, big))
        assert total.fetchone()[0] == 10_000_000_000_000_000_000
        average = conn.execute("SELECT AVG(x) FROM (VALUES (1), (2)) v(x)").fetchone()[0]
        assert average == Decimal("1.5")
        conn.execute("CREATE TEMP TABLE f (flag BIGINT)")
        conn.execute("INSERT INTO f VALUES (?)", (True,))
        assert conn.execute("SELECT flag FROM f").fetchone()[0] == 1
    finally:
        conn.close()


def test_a_blank_database_gets_the_baseline_then_nothing_twice(pg: str) -> None:
    conn = connect(pg)
    try:
        assert applied(conn) == [name for name, _ in MIGRATIONS]
        assert isinstance(conn, PgConnection)
    finally:
        conn.close()
    connect(pg).close()  # a second open migrates nothing and fails nothing


def test_processes_migrating_at_once_migrate_once(pg_cluster: Cluster) -> None:
    url = pg_cluster.url(f"blank_{threading.get_ident()}")
    pg_cluster.exec(f"CREATE DATABASE blank_{threading.get_ident()}")
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            connect(url).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    conn = connect(url)
    try:
        assert applied(conn) == [name for name, _ in MIGRATIONS]
    finally:
        conn.close()


def test_write_transaction_rolls_back_on_error(pg: str) -> None:
    conn = connect(pg)
    try:
        with pytest.raises(RuntimeError), write_transaction(conn):
            conn.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')")
            raise RuntimeError("boom")
        assert conn.execute("SELECT COUNT(*) FROM meta WHERE key = 'k'").fetchone()[0] == 0
        assert not conn.in_transaction
    finally:
        conn.close()


def test_a_missing_database_says_how_to_create_it(pg_cluster: Cluster) -> None:
    url = pg_cluster.url("no_such_db").replace("postgres@", "postgres:s3cret@")
    with pytest.raises(DatabaseError) as err:
        connect(url)
    assert "does not exist" in str(err.value) and "createdb" in str(err.value)
    assert "s3cret" not in str(err.value) and "***" in str(err.value)


def test_a_server_that_is_not_running_says_so(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError) as err:
        connect(f"postgresql://bob:s3cret@/cost?host={tmp_path}")
    assert "cannot reach the PostgreSQL server" in str(err.value)
    assert "s3cret" not in str(err.value)


def _session_order(target: str | Path) -> list[str]:
    conn = connect(target)
    try:
        with write_transaction(conn):
            for i, session in enumerate(("a", "B", "_", "é")):
                conn.execute(
                    "INSERT INTO usage_events (source, message_id, ts_ms, provider, model, session_id) "
                    "VALUES ('t', ?, 0, 'p', 'm', ?)",
                    (f"msg{i}", session),
                )
        return [str(r[0]) for r in conn.execute("SELECT session_id FROM usage_events ORDER BY session_id")]
    finally:
        conn.close()


def test_text_orders_bytewise_even_on_a_server_with_an_english_locale(
    pg_cluster: Cluster, tmp_path: Path
) -> None:
    # Upserts break ties on text (which copy of a call wins) and results are sorted by name: a
    # server whose database sorts by an English locale (a, B, _ in another order) must agree with
    # SQLite's bytewise order.
    try:
        pg_cluster.exec(
            "CREATE DATABASE icu_en TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'"
        )
    except Exception as exc:  # a server built without ICU cannot make such a database
        pytest.skip(f"no ICU collation on this PostgreSQL: {exc}")
    try:
        expected = sorted(["a", "B", "_", "é"], key=str.encode)
        assert _session_order(tmp_path / "cost.db") == expected
        assert _session_order(pg_cluster.url("icu_en")) == expected
    finally:
        pg_cluster.drop_database("icu_en")


def test_the_touched_messages_are_looked_up_id_by_id_on_the_unique_key(pg: str) -> None:
    # PostgreSQL reads a batch's message ids from a temp table as one array (= ANY(ARRAY(...)));
    # the look-ups must still be index probes, never a walk over every row of the source (which
    # grows with the ledger). The temp table itself is read whole: it is the batch.
    from cost_mcp.store import bulk, claude_logs

    conn = connect(pg)
    try:
        columns = claude_logs.COPY_COLUMNS.split(", ")
        rows = [
            ("claude_code", f"m{i}", f"r{i}", 0, i, "anthropic", "claude-sonnet-4-5", "s", "p", "claude-code",
             1, 1, 0, 0, 0, 0, 2, "", 1, None, None, "/a.jsonl", "", "", "", 1)
            for i in range(20_000)
        ]  # fmt: skip
        with write_transaction(conn):
            bulk.copy_in(conn, "usage_events", columns, rows)
        conn.execute("ANALYZE usage_events")
        # The look-up list lives as long as the transaction that filled it, as in a writer's batch.
        with write_transaction(conn):
            touched = claude_logs.touch(conn, "claude_code", ["m5", "m7", "nope"])
            assert sorted(claude_logs.touched_rows(conn, touched)) == [("m5", 5, 1), ("m7", 7, 1)]
            assert claude_logs.counted_of_touched(conn, touched) == 2
            plan = "\n".join(r[0] for r in conn.execute(f"EXPLAIN SELECT e.id {touched.where}", touched.args))
            assert "Index Scan using usage_events_source_message_id" in plan, plan
            assert "Seq Scan on usage_events" not in plan, plan
            ids = [row[1] for row in claude_logs.touched_copies(conn, touched)]
            claude_logs.set_counted(conn, [(0, ids[0]), (1, ids[1])])  # one set (unchanged), one not
            assert claude_logs.counted_of_touched(conn, touched) == 1
            claude_logs.set_counted(conn, [(0, i) for i in ids])
            assert claude_logs.counted_of_touched(conn, touched) == 0
        assert conn.execute("SELECT COUNT(*) FROM usage_events WHERE counted = 1").fetchone()[0] == 19_998
    finally:
        conn.close()


def test_connections_the_server_ended_while_idle_are_replaced_not_handed_out(
    pg: str, pg_cluster: Cluster
) -> None:
    """After PostgreSQL restarted (or an admin ended its backends), each pooled connection failed
    its next request once: a team server answered pushes 500 and tools an error until every one
    had failed. The server's goodbye is on the idle socket: such a connection is replaced first."""
    ledger = Ledger(pg)
    try:
        with ledger.use() as a, ledger.use() as b, ledger.use() as c:  # three in the pool
            pids = {int(x.execute("SELECT pg_backend_pid()").fetchone()[0]) for x in (a, b, c)}
        assert len(pids) == 3
        database = urlsplit(pg).path.lstrip("/")
        pg_cluster.exec(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the backends are gone once the server says so
            with psycopg.connect(pg_cluster.url("postgres"), autocommit=True) as admin:
                left = admin.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (database,)
                ).fetchone()
            if left is not None and left[0] == 0:
                break
            time.sleep(0.05)
        for _ in range(4):
            with ledger.use() as conn:
                pid = conn.execute("SELECT pg_backend_pid()").fetchone()
                assert pid is not None and int(pid[0]) not in pids
    finally:
        ledger.close()


def test_a_connection_ended_in_the_middle_of_a_request_says_what_happened(
    pg: str, pg_cluster: Cluster
) -> None:
    """PostgreSQL going away during a request (restarted, an admin ending backends): the rollback
    that follows failed too, and its "the connection is closed" replaced the error that says what
    happened, as a traceback (a team server's push answered 500)."""
    ledger = Ledger(pg)
    try:
        with pytest.raises(DatabaseError) as raised, ledger.use() as conn, write_transaction(conn):
            pid = int(conn.execute("SELECT pg_backend_pid()").fetchone()[0])
            pg_cluster.exec(f"SELECT pg_terminate_backend({pid})")
            conn.execute("SELECT 1")
        said = str(raised.value)
        assert said.startswith(f"the PostgreSQL server of the ledger {scrub(pg)} stopped answering")
        assert "terminating connection due to administrator command" in said  # what happened
        assert said.endswith("check that it is running and reachable, then try again")
        with ledger.use() as conn:  # the next request gets a live connection
            assert conn.execute("SELECT 1").fetchone()[0] == 1
    finally:
        ledger.close()


def test_a_deadlock_is_not_called_a_lock_held_for_60_s(pg: str) -> None:
    # Two writes that cross each other: PostgreSQL refuses one of them after its deadlock check
    # (a second), which the message called "locked by another process for longer than 60 s".
    import sqlite3

    from cost_mcp.store.connection import explain

    first, second = connect(pg), connect(pg)
    try:
        for conn in (first, second):
            conn.execute("INSERT INTO meta (key, value) VALUES (?, '0')", (f"k{id(conn)}",))
        keys = [f"k{id(first)}", f"k{id(second)}"]
        failures: list[sqlite3.Error] = []

        def write(conn: Conn, order: list[str], ready: threading.Barrier) -> None:
            try:
                conn.execute("BEGIN")
                conn.execute("UPDATE meta SET value = '1' WHERE key = ?", (order[0],))
                ready.wait(10)
                conn.execute("UPDATE meta SET value = '1' WHERE key = ?", (order[1],))
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                conn.rollback()
                failures.append(exc)

        ready = threading.Barrier(2)
        started = time.monotonic()
        threads = [
            threading.Thread(target=write, args=(first, keys, ready)),
            threading.Thread(target=write, args=(second, keys[::-1], ready)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert time.monotonic() - started < 10
        [failure] = failures
        message = explain(pg, failure)
        assert "60 s" not in message and "deadlock" in message
        assert "nothing of it was stored, so running it again is safe" in message
    finally:
        second.close()
        first.close()


@pytest.mark.postgresql_only
def test_a_database_server_that_stops_is_said_within_seconds_and_its_return_used_at_once(
    home: Path,
) -> None:
    """A running server whose PostgreSQL stopped waited the pool's 30 s on every request before it
    said anything. Now the pool, with nothing working, asks the server directly: down, that is said
    after a couple of seconds; back, the next request is served, not left to the pool's backoff."""
    cluster = Cluster()
    try:
        url = cluster.url(cluster.new_database())
        ledger = Ledger(url)
        try:
            with ledger.use() as conn:
                assert conn.execute("SELECT 1").fetchone()[0] == 1
            cluster.halt()
            for _ in range(2):  # the pooled connection's goodbye, then a pool with none
                started = time.monotonic()
                with pytest.raises(DatabaseError) as raised, ledger.use() as conn:
                    conn.execute("SELECT 1")
                assert time.monotonic() - started < 10
                assert "cannot reach the PostgreSQL server" in str(
                    raised.value
                ) or "stopped answering" in str(raised.value)
            assert "(waited 2 s)" in str(raised.value)
            cluster.resume()
            started = time.monotonic()
            with ledger.use() as conn:
                assert conn.execute("SELECT 1").fetchone()[0] == 1
            assert time.monotonic() - started < 5
        finally:
            ledger.close()
    finally:
        cluster.stop()


@pytest.mark.postgresql_only
def test_a_statement_the_servers_statement_timeout_cancelled_says_so(pg: str, pg_cluster: Cluster) -> None:
    """An admin's statement_timeout cut a statement short (SQLSTATE 57014), and the message said
    the ledger was "locked by another process for longer than 60 s": neither was true."""
    database = urlsplit(pg).path.lstrip("/")
    pg_cluster.exec(f"ALTER DATABASE {database} SET statement_timeout = '50ms'")
    ledger = Ledger(pg)  # sessions opened from now on take the setting, as after ALTER ROLE
    try:
        started = time.monotonic()
        with pytest.raises(DatabaseError) as raised, ledger.use() as conn:
            conn.execute("SELECT pg_sleep(5)")
        assert time.monotonic() - started < 4
        said = str(raised.value)
        assert "60 s" not in said and "locked" not in said
        assert said.startswith(f"the PostgreSQL server of the ledger {scrub(pg)} cancelled this statement")
        assert "canceling statement due to statement timeout" in said  # the server's words
        assert "nothing of it was stored" in said and "ALTER ROLE <role> SET statement_timeout" in said
    finally:
        ledger.close()
        pg_cluster.exec(f"ALTER DATABASE {database} RESET statement_timeout")


@pytest.mark.postgresql_only
def test_requests_that_find_the_pool_busy_wait_for_it_and_open_no_connection_of_their_own(
    pg: str, pg_cluster: Cluster
) -> None:
    """Two requests at once after the pool's idle connection was ended (a restart, an
    idle_session_timeout): both found none handed out and waited for the pool's reconnect; the one
    that did not get it went to the server directly after OUTAGE_WAIT_SECONDS, though the pool was
    working, only busy. A team server under a burst opened connections past its pool's size."""
    from cost_mcp.store.postgres import OUTAGE_WAIT_SECONDS, PgPool

    pool = PgPool(pg, 1000, max_size=1)
    try:
        with pool.connection() as conn:
            first = _backend_pid(conn)
        _end_backend(pg_cluster, first)
        start = threading.Barrier(2)
        pids: list[int] = []

        def request() -> None:
            start.wait(10)
            with pool.connection() as conn:
                pids.append(_backend_pid(conn))
                time.sleep(OUTAGE_WAIT_SECONDS + 1)  # longer than the other waits before going direct

        threads = [threading.Thread(target=request) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert len(pids) == 2 and first not in pids
        assert len(set(pids)) == 1  # the pool's one new connection, in turn
    finally:
        pool.close()


@pytest.mark.postgresql_only
def test_a_pool_busy_past_its_timeout_says_so_not_that_the_server_is_unreachable(pg: str) -> None:
    """Every pooled connection in use for the pool's whole wait: the server was reached, so the
    error says the connections stayed busy, not "cannot reach the PostgreSQL server ... Start it"."""
    from cost_mcp.store.postgres import PgPool

    pool = PgPool(pg, 1000, max_size=1)
    pool._pool.timeout = 0.5  # the pool's 30 s, shortened for the test
    try:
        with pool.connection() as held:
            assert _backend_pid(held) > 0
            with pytest.raises(DatabaseError) as raised, pool.connection():
                pass
        message = str(raised.value)
        assert "had no free connection for 0.5 s" in message and "1 stayed in use" in message
        assert "cannot reach" not in message and "Start the server" not in message
    finally:
        pool.close()


def _backend_pid(conn: Conn) -> int:
    row = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.postgresql_only
def test_connections_the_pool_replaced_are_not_kept_alive_by_it(
    pg: str, pg_cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    """Each pooled connection the server ended (a restart, idle_session_timeout) was closed and
    replaced, but its wrapper stayed in the pool's map with the closed connection in it: a team
    server kept every connection it ever replaced, psycopg_pool's hourly max_lifetime ones too."""
    import gc

    from cost_mcp.store.postgres import PgPool

    # psycopg_pool's "discarding closed connection" warning holds the connection in its record,
    # which the test's log capture keeps: not what a server does with it.
    caplog.set_level("ERROR", logger="psycopg.pool")

    def closed_connections() -> int:
        gc.collect()
        return sum(1 for o in gc.get_objects() if isinstance(o, psycopg.Connection) and o.closed)

    pool = PgPool(pg, 1000, max_size=1)
    try:
        before = closed_connections()
        for _ in range(3):
            with pool.connection() as conn:
                pid = _backend_pid(conn)
            _end_backend(pg_cluster, pid)
            with pool.connection() as conn:
                assert _backend_pid(conn) != pid
        assert closed_connections() - before == 0
    finally:
        pool.close()


def _end_backend(pg_cluster: Cluster, pid: int) -> None:
    """End the server process ``pid`` as an admin would, and wait until the server says it is gone."""
    pg_cluster.exec(f"SELECT pg_terminate_backend({pid})")
    with psycopg.connect(pg_cluster.url("postgres"), autocommit=True) as admin:
        while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
            time.sleep(0.05)
