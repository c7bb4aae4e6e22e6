from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest

from cost_mcp.config import Settings
from cost_mcp.errors import DatabaseError
from cost_mcp.store import MIGRATIONS, connect, migrate, rollup, write_transaction
from cost_mcp.store import otel as otel_store
from cost_mcp.store import team as team_store
from cost_mcp.store import usage as usage_store
from cost_mcp.store.bulk import index_names
from cost_mcp.store.connection import Conn, connect_sqlite, is_postgres
from cost_mcp.store.otel import OtlpSender


def test_blank_database_gets_every_migration_once(tmp_path: Path) -> None:
    conn = connect(tmp_path / "a" / "cost.db")
    names = [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY rowid")]
    assert names == [name for name, _ in MIGRATIONS]
    assert migrate(conn) == []  # a second run applies nothing
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 10_000
    conn.close()


def test_older_schema_is_brought_up_to_date(tmp_path: Path) -> None:
    path = tmp_path / "cost.db"
    old = connect_sqlite(path, migrate_schema=False)
    old.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    first_name, first = MIGRATIONS[0]
    first(old)
    old.execute("INSERT INTO _migrations VALUES (?, '2026-01-01')", (first_name,))
    old.close()
    conn = connect(path)
    names = [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY rowid")]
    assert names == [name for name, _ in MIGRATIONS]


def test_push_senders_start_from_the_pushes_already_received(tmp_path: Path) -> None:
    path = tmp_path / "cost.db"
    old = connect_sqlite(path, migrate_schema=False)
    old.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for name, fn in MIGRATIONS[: [n for n, _ in MIGRATIONS].index("m024_push_senders")]:
        fn(old)
        old.execute("INSERT INTO _migrations VALUES (?, '2026-01-01')", (name,))
    old.executemany(
        "INSERT INTO team_pushes (token_name, member, received_ms, events, changed) VALUES (?, ?, ?, ?, ?)",
        [
            ("ana-laptop", "ana@x", 1_000, 5, 5),
            ("ana-laptop", "ana@x", 3_000, 2, 2),
            ("bob", "bob@x", 2_000, 1, 1),
        ],
    )
    old.close()
    conn = connect(path)
    from cost_mcp.store import team

    assert [(s.token_name, s.member, s.last_ms) for s in team.push_senders(conn)] == [
        ("ana-laptop", "ana@x", 3_000),
        ("bob", "bob@x", 2_000),
    ]
    assert [s.token_name for s in team.push_senders(conn, ["bob@x"])] == ["bob"]
    assert team.push_senders(conn, []) == []
    conn.close()


def test_newer_schema_is_refused_with_advice(tmp_path: Path) -> None:
    path = tmp_path / "cost.db"
    connect(path).close()
    raw = sqlite3.connect(path)
    raw.execute("INSERT INTO _migrations VALUES ('m999_from_the_future', '2030-01-01')")
    raw.commit()
    raw.close()
    with pytest.raises(DatabaseError, match="newer cost-mcp"):
        connect(path)


def test_corrupt_file_gives_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "cost.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(DatabaseError, match="not a valid SQLite database") as info:
        connect(path)
    assert "COST_MCP_DB" in str(info.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_unwritable_folder_gives_a_clear_message(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(DatabaseError, match="COST_MCP_DB"):
            connect(locked / "sub" / "cost.db")
    finally:
        locked.chmod(0o700)


def test_path_under_a_file_gives_a_clear_message(tmp_path: Path) -> None:
    # Works as root too: a regular file cannot be a folder.
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DatabaseError, match="COST_MCP_DB"):
        connect(blocker / "cost.db")


def test_write_transaction_rolls_back_on_error(tmp_path: Path) -> None:
    conn = connect(tmp_path / "cost.db")
    conn.execute("CREATE TABLE t (x INTEGER)")
    with pytest.raises(RuntimeError), write_transaction(conn):
        conn.execute("INSERT INTO t VALUES (1)")
        raise RuntimeError("boom")
    assert conn.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 0


def test_a_ledger_another_process_creates_while_it_is_checked_is_not_refused(tmp_path: Path) -> None:
    # Eight servers starting on one new file: one creates the ledger while another checks that the
    # file is empty or ours. The creator's first migration commits between the checker's look at
    # the tables (only an empty _migrations: being created) and its look inside _migrations.
    from cost_mcp.store import connection

    path = tmp_path / "cost.db"
    creator = sqlite3.connect(path, isolation_level=None)
    checker = sqlite3.connect(path, isolation_level=None, factory=connection.LedgerConnection)
    try:
        creator.execute("PRAGMA journal_mode = WAL")
        creator.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        committed: list[str] = []

        def commit_between(statement: str) -> None:
            if statement.strip() == "SELECT 1 FROM _migrations" and not committed:
                committed.append(statement)
                creator.execute("BEGIN IMMEDIATE")
                creator.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
                creator.execute(
                    "INSERT INTO _migrations VALUES (?, 'now')", (connection.OUR_FIRST_MIGRATION,)
                )
                creator.execute("COMMIT")

        checker.set_trace_callback(commit_between)
        connection._refuse_foreign(checker, str(path))  # raised "another application's database"
        assert committed  # the creator did commit in between
        checker.set_trace_callback(None)
        connection._refuse_foreign(checker, str(path))  # and the created ledger is ours
    finally:
        checker.close()
        creator.close()


def _noted_nowhere(conn: Conn, events: object) -> None:
    """The OTLP receiver's note of its senders as releases before m041 made it: none."""


def _none_received(conn: Conn, members: Sequence[str] | None = None) -> list[OtlpSender]:
    """The OTLP senders the answers of releases before m041 read: none."""
    return []


def _blank_postgres(url: str) -> None:
    """Empty a PostgreSQL ledger of every table, function and record of migrations: a blank database."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as raw:
        raw.execute("DROP SCHEMA public CASCADE")
        raw.execute("CREATE SCHEMA public")


@contextmanager
def _ledger_before(settings: Settings, monkeypatch: pytest.MonkeyPatch, migration: str) -> Iterator[Conn]:
    """The test's ledger as a release before ``migration`` made it: blank, then migrated up to the
    one before, open until the block ends (the next ``connect`` then runs the rest)."""
    from cost_mcp.store import migrations

    if is_postgres(settings.db):
        _blank_postgres(str(settings.db))  # the test's database is a copy of a migrated template
    names = [n for n, _ in MIGRATIONS]
    with monkeypatch.context() as before:
        before.setattr(migrations, "MIGRATIONS", MIGRATIONS[: names.index(migration)])
        if names.index(migration) <= names.index("m036_rollup_levels_follow_older_writers"):
            before.setattr(rollup, "MARKS", ("rollup_dirty",))  # what those releases read and emptied
        if names.index(migration) <= names.index("m039_push_beats"):
            before.setattr(team_store, "HEARD", "NULL")  # no beats before: answers read none
        if names.index(migration) <= names.index("m041_otlp_senders"):
            # The receiver kept no senders, and answers read none.
            before.setattr(otel_store, "_note_senders", _noted_nowhere)
            before.setattr(otel_store, "received_from", _none_received)
        old = connect(settings.db)
        try:
            yield old
        finally:
            old.close()


def test_tokens_made_before_the_ingest_role_survive_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite cannot alter a CHECK: m025 rebuilds api_tokens there, and must keep every token's hash
    # (a lost or changed one locks every laptop out until it gets a new token).
    from cost_mcp.store import migrations, team

    with _ledger_before(settings, monkeypatch, "m025_ingest_tokens") as old:
        ana = team.create_token(old, "ana-laptop", "ana@example.com")
        boss = team.create_token(old, "boss", "boss@example.com", "admin")
        team.create_token(old, "gone", "cy@example.com")
        team.revoke_token(old, "gone")
        with pytest.raises(sqlite3.IntegrityError, match=r"(?i)check constraint"):
            team.create_token(old, "fleet", "ops@example.com", "ingest")
    conn = connect(settings.db)
    try:
        assert "m025_ingest_tokens" in migrations.applied(conn)
        for token, expected in ((ana, ("ana-laptop", "member")), (boss, ("boss", "admin"))):
            info = team.verify_token(conn, token)
            assert info is not None and (info.name, info.role) == expected
        assert [(t.name, t.revoked_at is not None) for t in team.list_tokens(conn)] == [
            ("ana-laptop", False),
            ("boss", False),
            ("gone", True),
        ]
        fleet = team.verify_token(conn, team.create_token(conn, "fleet", "ops@example.com", "ingest"))
        assert fleet is not None and fleet.role == "ingest"
        # The database itself refuses a role it does not know, whatever code writes the row.
        with pytest.raises(sqlite3.IntegrityError, match=r"(?i)check constraint"), write_transaction(conn):
            conn.execute(
                "INSERT INTO api_tokens (name, token_hash, member, role, created_at) "
                "VALUES ('x', 'h', 'x@example.com', 'owner', 'now')"
            )
        with pytest.raises(sqlite3.IntegrityError), write_transaction(conn):
            conn.execute(  # token_hash is still UNIQUE
                "INSERT INTO api_tokens (name, token_hash, member, role, created_at) "
                "VALUES ('y', ?, 'y@example.com', 'member', 'now')",
                (team.hash_token(ana),),
            )
    finally:
        conn.close()


def test_agents_slug_projects_become_their_paths(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """m026: Codex and OpenCode calls stored under a folder slug take the stored path of that slug,
    when exactly one path has it; the rollup (which grouped answers read) follows."""
    from cost_mcp import tokens
    from cost_mcp.analytics.spend import get_spend, resolve
    from cost_mcp.store import agent_files

    counts = [0] * len(tokens.COLUMNS)
    counts[0] = 1_000_000  # input tokens

    def row(source: str, key: str, project: str) -> tuple[object, ...]:
        return (source, key, 1_763_629_200_000, "openai", "gpt-5", "s", project, source, *counts, 1_000_000,
                1_250_000_000, "gpt-5", "local-log")  # fmt: skip

    with _ledger_before(settings, monkeypatch, "m026_agent_projects_as_paths") as old:
        with write_transaction(old):
            agent_files.upsert_events(
                old,
                [
                    row("claude_code", "c1", "/home/ana/shop"),
                    row("codex", "x1", "-home-ana-shop"),
                    row("opencode", "o1", "-home-ana-shop"),
                    # Two stored paths share this slug: which one it was cannot be told.
                    row("claude_code", "c2", "/home/ana/my-app"),
                    row("claude_code", "c3", "/home/ana/my.app"),
                    row("codex", "x2", "-home-ana-my-app"),
                    row("codex", "x3", "-home-bob-api"),  # no stored path: stays
                ],
            )
        get_spend(old, settings, resolve(settings, None, "2025-11-01", "2025-11-30", "UTC"), ["project"])
    conn = connect(settings.db)
    try:
        stored = dict(conn.execute("SELECT message_id, project FROM usage_events").fetchall())
        assert stored == {
            "c1": "/home/ana/shop",
            "x1": "/home/ana/shop",
            "o1": "/home/ana/shop",
            "c2": "/home/ana/my-app",
            "c3": "/home/ana/my.app",
            "x2": "-home-ana-my-app",
            "x3": "-home-bob-api",
        }
        p = resolve(settings, None, "2025-11-01", "2025-11-30", "UTC")
        by_project = {r.group["project"]: r.requests for r in get_spend(conn, settings, p, ["project"]).rows}
        assert by_project["/home/ana/shop"] == 3 and "-home-ana-shop" not in by_project
    finally:
        conn.close()


def test_push_marks_named_by_a_url_with_secrets_lose_them(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """m027: marks stored under a URL with a password or ?token= are renamed by the URL without
    them; two that come to share a name keep the lower of each mark (more is sent again, once)."""
    from cost_mcp.store import team

    with (
        _ledger_before(settings, monkeypatch, "m027_push_marks_without_secrets") as old,
        write_transaction(old),
    ):
        old.executemany(
            "INSERT INTO push_marks (server, last_id, last_seq, pushed_ms, sent) VALUES (?, ?, ?, ?, ?)",
            [
                ("https://ana:s3cret-pw@Team.example.com/costs?token=t0ken-x", 40, 7, 2_000, 40),
                ("https://team.example.com/costs", 55, 3, 1_000, 12),
                ("http://other:4318", 9, 0, None, 9),
            ],
        )
        old.execute(
            "INSERT INTO pushed_events (server, event_id, total_tokens) VALUES "
            "('https://ana:s3cret-pw@team.example.com/costs', 1, 10)"
        )
    conn = connect(settings.db)
    try:
        marks = team.push_marks(conn)
        assert {k: (m.last_id, m.last_seq, m.pushed_ms, m.sent) for k, m in marks.items()} == {
            "https://team.example.com/costs": (40, 3, 2_000, 52),
            "http://other:4318": (9, 0, None, 9),
        }
        acks = conn.execute("SELECT server, event_id FROM pushed_events").fetchall()
        assert acks == [("https://team.example.com/costs", 1)]
    finally:
        conn.close()


def test_claude_code_calls_on_bedrock_and_vertex_move_to_the_cloud_that_bills_them(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """m030: Claude Code's calls (log and OTel copies) stored under anthropic with Bedrock's or
    Vertex's model ids move to aws and google, their prices kept; the rollup that answers read
    follows. Other sources' rows and Anthropic's own ids stay."""
    from cost_mcp import tokens
    from cost_mcp.analytics.spend import get_spend, resolve
    from cost_mcp.store import agent_files

    counts = [0] * len(tokens.COLUMNS)
    counts[0] = 1_000_000  # input tokens
    bedrock = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"

    def row(source: str, key: str, model: str, cost: int) -> tuple[object, ...]:
        return (source, key, 1_763_629_200_000, "anthropic", model, "s", "/p", source, *counts, 1_000_000,
                cost, model, "local-log")  # fmt: skip

    p = resolve(settings, None, "2025-11-01", "2025-11-30", "UTC")
    with _ledger_before(settings, monkeypatch, "m030_claude_code_cloud_providers") as old:
        with write_transaction(old):
            agent_files.upsert_events(
                old,
                [
                    row("claude_code", "b1", bedrock, 3_300_000_000),
                    row(
                        "claude_code_otel", "b2", "eu.anthropic.claude-haiku-4-5-20251001-v1:0", 1_100_000_000
                    ),
                    row("claude_code", "v1", "claude-sonnet-4-5@20250929", 3_000_000_000),
                    row("claude_code", "a1", "claude-sonnet-4-5-20250929", 3_000_000_000),
                    row("opencode", "o1", bedrock, 3_300_000_000),  # not Claude Code's: stays
                ],
            )
            rollup.mark_dirty(old, [1_763_629_200_000])
        before = {r.group["provider"]: r.cost_usd for r in get_spend(old, settings, p, ["provider"]).rows}
        assert before == {"anthropic": Decimal("13.7")}
    conn = connect(settings.db)
    try:
        stored = dict(conn.execute("SELECT message_id, provider FROM usage_events").fetchall())
        assert stored == {"b1": "aws", "b2": "aws", "v1": "google", "a1": "anthropic", "o1": "anthropic"}
        by_provider = {
            r.group["provider"]: r.cost_usd for r in get_spend(conn, settings, p, ["provider"]).rows
        }
        assert by_provider == {"aws": Decimal("4.4"), "google": Decimal("3"), "anthropic": Decimal("6.3")}
        kept = sorted(conn.execute("SELECT * FROM usage_rollup").fetchall())
        with write_transaction(conn):
            rollup.rebuild(conn, [1_763_629_200_000 // rollup.QUARTER_HOUR_MS])
        assert kept == sorted(conn.execute("SELECT * FROM usage_rollup").fetchall())
    finally:
        conn.close()


def test_a_laptops_forgets_from_before_they_travelled_go_with_its_next_push(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """m033: a call forgotten on a laptop before forgets travelled is carried by its next push, so
    the team server forgets it too; a push after that carries it no more."""
    from pydantic import SecretStr

    from cost_mcp import push

    with _ledger_before(settings, monkeypatch, "m033_forgets_travel") as old, write_transaction(old):
        old.execute(
            "INSERT INTO forgotten_calls (source, message_id, ts_ms, member, forgotten_ms) "
            "VALUES ('record_usage', 'req-wrong', 1, '', 2)"
        )
    sent: list[list[tuple[tuple[str, str, str, int], bool]]] = []

    def server(_url: str, _token: str, body: bytes) -> push.PushAnswer:
        import gzip

        decoded = push.decode(gzip.decompress(body), "application/json", "")
        sent.append([(f.key, f.unforget) for f in decoded.forgets])
        return push.PushAnswer(accepted=len(decoded.rows), changed=0)

    laptop = settings.model_copy(
        update={"team_server": "https://team.example.com", "team_token": SecretStr("cmt_test")}
    )
    conn = connect(settings.db)
    try:
        push.push(conn, laptop, send=server)
        push.push(conn, laptop, send=server)
    finally:
        conn.close()
    assert sent == [[(("record_usage", "req-wrong", "", 0), False)]]


def test_calls_a_server_from_before_the_upgrade_rolls_up_are_counted(settings: Settings) -> None:
    """A server of a release before m018 (2c4c2e9, Dec 2), still running while the new CLI migrates
    the ledger, records a $3 call: it marks its quarter-hour dirty, then its refresh rebuilds only
    ``usage_rollup`` from the events and empties ``rollup_dirty``, as that release's rollup.py did.
    Every level an answer reads must count the call, not only the quarter-hours."""
    from cost_mcp.analytics.spend import get_spend, resolve
    from cost_mcp.store.usage import insert_reported
    from tests.store.reported_calls import reported_call

    ts = 1_793_000_000_000  # 2026-10-26 09:33 UTC
    conn = connect(settings.db)  # today's schema: the CLI of the new release migrated it
    try:
        assert insert_reported(conn, reported_call("old-server-call", ts, cost_nanos=3_000_000_000))
        qh = ts // rollup.QUARTER_HOUR_MS
        assert [int(r[0]) for r in conn.execute("SELECT qh FROM rollup_dirty")] == [qh]
        _refresh_as_before_m018(conn)
        month = resolve(settings, None, "2026-10-01", "2026-10-31", "UTC")
        whole = get_spend(conn, settings, month, [])  # whole days: the day level
        assert (whole.total_usd, whole.complete) == (Decimal(3), True)
        by_day = get_spend(conn, settings, month, ["day"])
        days = [(r.group["day"], r.cost_usd, r.requests) for r in by_day.rows]
        assert days == [("2026-10-26", Decimal(3), 1)]
        # Rebuilt once: the next question finds nothing left to do.
        assert rollup.refresh(conn) == 0
    finally:
        conn.close()


def _refresh_as_before_m018(conn: Conn) -> None:
    """What a release before m018 (2c4c2e9, Dec 2) did to refresh: the dirty quarter-hours rebuilt
    in ``usage_rollup`` alone, with that release's SQL, and ``rollup_dirty`` emptied."""
    sums = ", ".join(rollup.ROLLUP_SUMS)
    with write_transaction(conn):
        for (qh,) in conn.execute("SELECT qh FROM rollup_dirty").fetchall():
            conn.execute("DELETE FROM usage_rollup WHERE qh BETWEEN ? AND ?", (qh, qh))
            conn.execute(
                f"""
                INSERT INTO usage_rollup ({", ".join(rollup.ROLLUP_KEY)}, {sums})
                SELECT ts_ms / 900000, source, provider, model, project, agent, member, session_id,
                       COUNT(*), SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens),
                       SUM(cache_write_5m_tokens), SUM(cache_write_1h_tokens), SUM(web_search_requests),
                       COALESCE(SUM(cost_nanos), 0), SUM(CASE WHEN cost_nanos IS NULL THEN 1 ELSE 0 END),
                       COALESCE(SUM(COALESCE(reported_cost_nanos, cost_nanos)), 0),
                       SUM(CASE WHEN COALESCE(reported_cost_nanos, cost_nanos) IS NULL THEN 1 ELSE 0 END),
                       COALESCE(SUM(reported_cost_nanos), 0)
                FROM usage_events
                WHERE counted = 1 AND ts_ms >= ? AND ts_ms < ?
                GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
                """,
                (qh * rollup.QUARTER_HOUR_MS, (qh + 1) * rollup.QUARTER_HOUR_MS),
            )
        conn.execute("DELETE FROM rollup_dirty")


def test_calls_an_older_server_wrote_before_the_fix_are_found_by_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ledger upgraded before m036 existed, then written by a server from before m018: its call is
    in the quarter-hours only. m036 finds the hour, day and quarter-hour whose levels count other
    calls (that one, no other) and the next answer counts it."""
    from cost_mcp.analytics.spend import get_spend, resolve
    from cost_mcp.store.usage import insert_reported
    from tests.store.reported_calls import reported_call

    healthy, damaged = 1_792_900_000_000, 1_793_000_000_000  # 2026-10-25 05:46, 2026-10-26 09:33 UTC
    with _ledger_before(settings, monkeypatch, "m036_rollup_levels_follow_older_writers") as old:
        assert insert_reported(old, reported_call("counted", healthy, cost_nanos=1_000_000_000))
        assert rollup.refresh(old) == 1  # a release that keeps every level
        assert insert_reported(old, reported_call("old-server-call", damaged, cost_nanos=3_000_000_000))
        _refresh_as_before_m018(old)
    conn = connect(settings.db)
    try:
        qh = damaged // rollup.QUARTER_HOUR_MS
        marked = {int(r[0]) for r in conn.execute("SELECT qh FROM rollup_levels_dirty")}
        assert marked == {qh, qh // 4 * 4, qh // 96 * 96}
        month = resolve(settings, None, "2026-10-01", "2026-10-31", "UTC")
        by_day = get_spend(conn, settings, month, ["day"])
        days = [(r.group["day"], r.cost_usd, r.requests) for r in by_day.rows]
        assert sorted(days) == [("2026-10-25", Decimal(1), 1), ("2026-10-26", Decimal(3), 1)]
        assert get_spend(conn, settings, month, []).total_usd == Decimal(4)
        assert rollup.refresh(conn) == 0
    finally:
        conn.close()


def test_doctor_on_a_team_ledger_not_yet_upgraded_says_to_start_the_server(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a team ledger a newer release had not upgraded yet (no beats column), doctor listed no
    pushes and every member's token as never pushed, and said nothing of why; it now says the
    ledger is behind and that a start of the team server upgrades it, and lists no token as silent."""
    from cost_mcp.doctor import diagnose

    with _ledger_before(settings, monkeypatch, "m039_push_beats") as old:
        team_store.create_token(old, "ana-laptop", "ana@example.com")
        with write_transaction(old):
            old.execute(
                "INSERT INTO push_senders (token_name, member, last_ms) "
                "VALUES ('ana-laptop', 'ana@example.com', 1)"
            )
    report = diagnose(settings)
    assert report.received_pushes == [] and report.never_pushed == []
    behind = len(MIGRATIONS) - [n for n, _ in MIGRATIONS].index("m039_push_beats")  # m039 and those after
    assert (
        f"the ledger is {behind} migration(s) behind this cost-mcp, so the laptops' pushes cannot be listed "
        "(doctor changes nothing): start the team server with this version once (`cost-mcp serve --http`), "
        "which upgrades the ledger (README, Upgrading), then run doctor again"
    ) in report.warnings
    migrate_now = connect(settings.db)  # any process of this release upgrades it; doctor then lists the push
    migrate_now.close()
    after = diagnose(settings)
    assert [p.token_name for p in after.received_pushes] == ["ana-laptop"]
    assert not [w for w in after.warnings if "behind this cost-mcp" in w]


def test_a_projects_latest_session_is_found_on_a_ledger_from_before_its_index(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """m040 indexes the counted calls by project and time on a ledger that already holds calls:
    `cost-mcp session` in a folder finds that project's latest session through it."""
    from cost_mcp.store import sessions
    from cost_mcp.store.usage import insert_reported
    from tests.store.reported_calls import reported_call

    with _ledger_before(settings, monkeypatch, "m040_project_calls_by_time") as old:
        for i, project in enumerate(["/home/me/a", "/home/me/b", "/home/me/a"]):
            call = reported_call(
                f"c{i}", 1_792_900_000_000 + i, source="claude_code", session_id=f"s{i}", project=project
            )
            assert insert_reported(old, call) == "recorded"
    conn = connect(settings.db)
    try:
        assert sessions.latest_session(conn, ["claude_code"], ("/home/me/b",)) == "s1"
        assert sessions.latest_session(conn, ["claude_code"], ("/home/me/a", "/home/me/c")) == "s2"
        assert sessions.latest_session(conn, ["claude_code"], ("/home/me/c",)) is None
        assert "usage_events_project_ts" in index_names(conn)
    finally:
        conn.close()


def test_otlp_senders_start_from_the_calls_received_over_otlp_already_held(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """m041: a ledger that already holds OTel calls names their senders in the answers' sources at
    once (their latest call standing for when they were received), not only after the next event;
    a log copy or a laptop's push of the same kind of call is no OTLP sender."""
    with _ledger_before(settings, monkeypatch, "m041_otlp_senders") as old, write_transaction(old):
        old.executemany(
            "INSERT INTO usage_events (source, message_id, ts_ms, provider, model, agent, member, origin) "
            "VALUES (?, ?, ?, 'anthropic', 'claude-sonnet-4-5', ?, ?, ?)",
            [
                ("claude_code_otel", "r1", 1_000, "claude-code", "ana@x", "otel"),
                ("claude_code_otel", "r2", 3_000, "claude-code", "ana@x", "otel"),
                ("otel", "r3", 2_000, "codex", "", "otel"),
                ("claude_code", "l1", 4_000, "claude-code", "ana@x", "/home/ana/.claude/projects/a.jsonl"),
                ("claude_code_otel", "p1", 5_000, "claude-code", "bob@x", usage_store.PUSH_ORIGIN),
            ],
        )
    conn = connect(settings.db)
    try:
        ana = OtlpSender("claude_code_otel", "claude-code", "ana@x", 1_000, 3_000, 2)
        assert otel_store.received_from(conn) == [ana, OtlpSender("otel", "codex", "", 2_000, 2_000, 1)]
        assert otel_store.received_from(conn, ["ana@x", "bob@x"]) == [ana]
        assert otel_store.received_from(conn, []) == []
    finally:
        conn.close()


def test_agent_calls_held_both_ways_before_count_once_after_the_upgrade(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """m042: a release before it counted a Codex or Gemini CLI call read from its log and received
    over OTLP twice. After the upgrade the log copy alone counts, the rollup rebuilt to match; the OTel copy
    of a session with no log copy, or whose log copy is another member's, still counts."""
    from tests.sources.test_claude_code import assert_rollup_is_rebuilt_from_events

    columns = "source, message_id, ts_ms, provider, model, session_id, agent, member, origin, cost_nanos"
    with _ledger_before(settings, monkeypatch, "m042_agent_calls_once") as old:
        calls = [
            ("codex", "k1", 1_000_000, "openrouter", "openai/gpt-5", "s-both", "codex", "", "/r.jsonl", 7),
            ("otel", "o1", 1_000_500, "openai", "openai/gpt-5", "s-both", "codex", "ana@x", "otel", 7),
            ("otel", "o2", 2_000_000, "openai", "gpt-5", "s-otel", "codex", "", "otel", 5),
            ("codex", "k3", 3_000_000, "openai", "gpt-5", "s-bob", "codex", "bob@x", "push", 3),
            ("otel", "o3", 3_000_100, "openai", "gpt-5", "s-bob", "codex", "ana@x", "otel", 3),
            ("gemini_cli", "g1", 4_000_000, "google", "gemini-2.5-pro", "s-gem", "gemini-cli", "", "/c", 2),
            ("otel", "o4", 4_000_100, "google", "gemini-2.5-pro", "s-gem", "gemini-cli", "", "otel", 2),
            ("otel", "o5", 4_000_200, "google", "gemini-2.5-pro", "s-both", "gemini-cli", "", "otel", 2),
        ]
        with write_transaction(old):
            old.executemany(f"INSERT INTO usage_events ({columns}) VALUES ({', '.join('?' * 10)})", calls)
            rollup.mark_dirty(old, [c[2] for c in calls])
        rollup.refresh(old)  # as that release left it: every copy counted
    conn = connect(settings.db)
    try:
        counted = conn.execute("SELECT message_id FROM usage_events WHERE counted = 1 ORDER BY 1")
        # o5: a Gemini CLI session with the id of a Codex one is not that session.
        assert [str(r[0]) for r in counted] == ["g1", "k1", "k3", "o2", "o3", "o5"]
        rollup.refresh(conn)
        assert_rollup_is_rebuilt_from_events(conn)
    finally:
        conn.close()


def test_otel_metric_points_take_the_member_whose_session_they_count(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """m043: the metric points a ledger already holds take the member of their session's events,
    so a member is warned of their own session's gap whoever asks; a session of no events or of two
    members' events names no one, and is warned of as before (to a member only with events of
    theirs in it)."""
    with _ledger_before(settings, monkeypatch, "m043_otel_metric_members") as old, write_transaction(old):
        old.executemany(
            "INSERT INTO usage_events (source, message_id, ts_ms, provider, model, session_id, member, "
            "total_tokens, origin) VALUES (?, ?, ?, 'anthropic', 'claude-sonnet-4-5', ?, ?, 10, 'otel')",
            [
                ("claude_code_otel", "r1", 1_000, "s-ana", "ana@x"),
                ("claude_code_otel", "r2", 2_000, "s-ana", "ana@x"),
                ("claude_code_otel", "r3", 3_000, "s-both", "ana@x"),
                ("claude_code_otel", "r4", 4_000, "s-both", "bob@x"),
                ("claude_code_otel", "r5", 5_000, "s-nobody", ""),
            ],
        )
        old.executemany(
            "INSERT INTO otel_metric_points (stream, point, metric, session_id, time_ms, tokens) "
            "VALUES (?, 1, 'claude_code.token.usage', ?, 1500, 500)",
            [(f"st-{s}", s) for s in ("s-ana", "s-both", "s-nobody", "s-no-events")],
        )
    conn = connect(settings.db)
    try:
        rows = conn.execute(
            "SELECT session_id, member FROM otel_metric_points ORDER BY session_id"
        ).fetchall()
        assert [tuple(r) for r in rows] == [
            ("s-ana", "ana@x"),
            ("s-both", ""),
            ("s-no-events", ""),
            ("s-nobody", ""),
        ]
        sessions = {"ana@x": ["s-ana", "s-both"], "bob@x": ["s-both"], "cy@x": []}
        for member, expected in sessions.items():
            told = otel_store.gap_warnings(conn, 0, 10_000, [member])
            assert [w.split()[3].rstrip(":") for w in told] == expected, member
        assert len(otel_store.gap_warnings(conn, 0, 10_000)) == 4
    finally:
        conn.close()


def test_doctor_lists_otlp_senders_by_call_time_on_a_ledger_from_before_their_record(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Doctor lists OTLP senders by arrival (m041's record); on a ledger not upgraded that far, which
    it reads as it is, by the calls' times as before, not as if nobody had sent anything."""
    import time

    from cost_mcp.doctor import diagnose

    now = int(time.time() * 1000)
    with _ledger_before(settings, monkeypatch, "m041_otlp_senders") as old, write_transaction(old):
        old.executemany(
            "INSERT INTO usage_events (source, message_id, ts_ms, provider, model, agent, member, origin) "
            "VALUES ('claude_code_otel', ?, ?, 'anthropic', 'claude-sonnet-4-5', 'claude-code', ?, 'otel')",
            [("r1", now - 3_600_000, "ana@x"), ("r2", now - 12 * 86_400_000, "bob@x")],
        )
    report = diagnose(settings)
    assert [(s.member, s.events) for s in report.otel_senders] == [("ana@x", 1)]
    assert [(s.member, s.events) for s in report.otel_quiet] == [("bob@x", 1)]


_SLACK = "https://hooks.slack.com/services/T0/B0/S3CRET-PATH"
_OLD = "https://old.example.com/hooks/0LD-S3CRET"


def _budgets_with_urls(old: Conn) -> None:
    """As `budget set --webhook URL --confirm-webhook-url` left them before m044: the URL in the
    budget's row and in its alerts' destinations (an older URL in one fired before it changed)."""
    budget = (
        "INSERT INTO budgets (name, amount_nanos, period, scope, thresholds, hard, webhook_url, created_at, "
        "updated_at, webhook) VALUES (?, 2000000000, 'day', '{}', '[\"1\"]', 0, ?, 'x', 'x', ?)"
    )
    alert = (
        "INSERT INTO budget_alerts (budget, period_start_ms, threshold, fired_at, spent_nanos, message, "
        "destination, payload, delivery) VALUES (?, ?, '1', 'x', 1, 'm', ?, '{}', ?)"
    )
    with write_transaction(old):
        old.execute(budget, ("daily", _SLACK, None))
        old.execute(budget, ("ops-too", "https://ops.example.com/x", None))
        old.execute(budget, ("named", None, "ops"))
        old.execute(alert, ("daily", 1, f"url:{_SLACK}", "pending"))
        old.execute(alert, ("daily", 0, f"url:{_OLD}", "delivered"))
        old.execute(alert, ("named", 0, "name:ops", "delivered"))


def test_webhook_urls_the_ledger_held_move_to_the_env_file(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """m044 (QA h-qasec5): a webhook URL typed at the CLI was kept in the ledger, where a Slack or
    Discord URL's secret path is anyone's who reads the database. The upgrade moves each to the env
    file's COST_MCP_WEBHOOKS (named after its budget; one already there keeps its name), the rows
    keep the name, and the pending alert is still delivered to it; the column is gone."""
    from cost_mcp import notify
    from cost_mcp.config import load_settings
    from cost_mcp.store import budgets, migrations

    env_file = tmp_path / "env"
    env_file.write_text('COST_MCP_TIMEZONE=UTC\nCOST_MCP_WEBHOOKS=\'{"ops": "https://ops.example.com/x"}\'\n')
    monkeypatch.setenv("COST_MCP_ENV_FILE", str(env_file))
    monkeypatch.delenv("COST_MCP_WEBHOOKS", raising=False)
    with _ledger_before(settings, monkeypatch, "m044_webhook_urls_out_of_ledger") as old:
        _budgets_with_urls(old)
    conn = connect(settings.db)
    try:
        assert "m044_webhook_urls_out_of_ledger" in migrations.applied(conn)
        kept = load_settings().webhook_urls()
        assert kept == {"ops": "https://ops.example.com/x", "daily": _SLACK, "daily-2": _OLD}
        assert [(b.name, b.webhook) for b in budgets.all_budgets(conn)] == [
            ("daily", "daily"),
            ("named", "ops"),
            ("ops-too", "ops"),
        ]
        rows = conn.execute("SELECT budget, destination FROM budget_alerts ORDER BY budget, period_start_ms")
        assert rows.fetchall() == [("daily", "name:daily-2"), ("daily", "name:daily"), ("named", "name:ops")]
        everything = repr(
            [conn.execute(f"SELECT * FROM {t}").fetchall() for t in ("budgets", "budget_alerts")]
        )
        assert "S3CRET" not in everything
        (destination,) = conn.execute(
            "SELECT destination FROM budget_alerts WHERE delivery = 'pending'"
        ).fetchone()
        assert notify.Destination.decode(destination).resolve(load_settings()) == _SLACK
        assert (
            env_file.read_text().startswith("COST_MCP_TIMEZONE=UTC\n")
            and env_file.stat().st_mode & 0o777 == 0o600
        )
    finally:
        conn.close()


def test_webhook_urls_the_env_file_cannot_take_stop_the_upgrade_with_the_fix(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """m044: where the URL cannot go to the env file (COST_MCP_WEBHOOKS set in the environment, which
    hides the file's), the upgrade stops and says how to proceed, naming no URL, and changes nothing:
    the budget keeps its alerts. Once the setting is moved to the file, the upgrade goes through."""
    from cost_mcp.config import load_settings
    from cost_mcp.errors import SettingsError
    from cost_mcp.store import migrations

    env_file = tmp_path / "env"
    monkeypatch.setenv("COST_MCP_ENV_FILE", str(env_file))
    monkeypatch.setenv("COST_MCP_WEBHOOKS", '{"ops": "https://ops.example.com/x"}')
    with _ledger_before(settings, monkeypatch, "m044_webhook_urls_out_of_ledger") as old:
        _budgets_with_urls(old)
    with pytest.raises(SettingsError) as refused:
        connect(settings.db).close()
    told = str(refused.value)
    assert "'daily'" in told and "set in the environment, which hides the env file's" in told, told
    assert f"Move COST_MCP_WEBHOOKS from the environment into {env_file}" in told, told
    assert "S3CRET" not in told and "hooks.slack.com" not in told
    assert not env_file.exists()
    same = connect(settings.db, migrate_schema=False)
    try:
        assert "m044_webhook_urls_out_of_ledger" not in migrations.applied_read_only(same)
        row = same.execute("SELECT webhook_url FROM budgets WHERE name = 'daily'").fetchone()
        assert tuple(row) == (_SLACK,)
    finally:
        same.close()
    env_file.write_text('COST_MCP_WEBHOOKS=\'{"ops": "https://ops.example.com/x"}\'\n')
    monkeypatch.delenv("COST_MCP_WEBHOOKS")
    connect(settings.db).close()
    assert load_settings().webhook_urls()["daily"] == _SLACK
