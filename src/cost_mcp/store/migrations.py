"""Append-only schema migrations: small named functions, applied in order, each in a transaction.

Never edit or reorder a migration that has shipped; add a new one. The ``_migrations`` table records
what ran, so several processes starting at once apply each migration exactly once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from cost_mcp.errors import LedgerNewerError, LedgerUpgradedError
from cost_mcp.store.connection import Conn, dialect, take_lock, write_transaction

Migration = Callable[[Conn], None]
MIGRATIONS: list[tuple[str, Migration]] = []


def migration(fn: Migration) -> Migration:
    """Register ``fn`` as the next migration, named after the function."""
    MIGRATIONS.append((fn.__name__, fn))
    return fn


def applied(conn: Conn) -> list[str]:
    """Names of the migrations already applied, in order."""
    if dialect(conn) == "postgresql":
        # An explicit order column: PostgreSQL has no rowid.
        conn.execute(
            "CREATE TABLE IF NOT EXISTS _migrations (seq BIGINT GENERATED ALWAYS AS IDENTITY, "
            "name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
    else:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
    return applied_read_only(conn)


def applied_read_only(conn: Conn) -> list[str]:
    """Names of the migrations applied, without creating anything (for a read-only ledger)."""
    # SQLite ledgers shipped with (name, applied_at) only: their insertion order is the rowid.
    order = "seq" if dialect(conn) == "postgresql" else "rowid"
    return [row[0] for row in conn.execute(f"SELECT name FROM _migrations ORDER BY {order}")]


def upgraded_since(conn: Conn) -> list[str]:
    """The migrations applied to the ledger that this code does not know (a newer cost-mcp's, run
    after this process migrated it), in order; [] as long as the ledger is of this code's schema.

    One count of a table of a few dozen rows at every use of the ledger; the names are read only
    when the count has grown past what this code knows."""
    (count,) = conn.execute("SELECT count(*) FROM _migrations").fetchone()
    if count <= len(MIGRATIONS):
        return []
    known = {name for name, _ in MIGRATIONS}
    return [name for name in applied_read_only(conn) if name not in known]


def upgraded_error(unknown: list[str]) -> LedgerUpgradedError:
    """What a running server (or other long-lived process) says once a newer cost-mcp has migrated
    its ledger: its code would read and write a schema it does not know, so it stops and names the
    restart, which runs the installed (newer) release."""
    return LedgerUpgradedError(
        f"a newer cost-mcp upgraded the ledger while this server was running (migrations it does not "
        f"know: {', '.join(unknown)}), so it no longer reads or writes it: restart it to run the new "
        "release (in Claude Code: /mcp, select cost-mcp, Reconnect; a team server or dashboard: "
        "upgrade cost-mcp there and restart it). Nothing was written since the upgrade"
    )


def migrate(conn: Conn) -> list[str]:
    """Apply pending migrations; returns the names applied now."""
    if dialect(conn) == "postgresql":
        from cost_mcp.store.postgres import MIGRATE_LOCK

        # Processes starting at once: one migrates, the others wait and then find nothing to do.
        # A command behind another process's long migration says it waits, as for the write lock.
        take_lock(conn, f"SELECT pg_advisory_lock({int(MIGRATE_LOCK)})")
        try:
            return _migrate(conn)
        finally:
            conn.execute("SELECT pg_advisory_unlock(?)", (MIGRATE_LOCK,))
    return _migrate(conn)


def _migrate(conn: Conn) -> list[str]:
    known = {name for name, _ in MIGRATIONS}
    done = applied(conn)
    if not done and dialect(conn) == "postgresql":
        done = _postgres_baseline(conn)
    unknown = [name for name in done if name not in known]
    if unknown:
        raise LedgerNewerError(
            f"the ledger was written by a newer cost-mcp (unknown migrations: {', '.join(unknown)}); "
            "upgrade cost-mcp, then restart any cost-mcp server still running the old one (in Claude "
            "Code: /mcp, select cost-mcp, Reconnect), or point COST_MCP_DB elsewhere."
        )
    ran: list[str] = []
    for name, fn in MIGRATIONS:
        if name in done:
            continue
        # write_transaction, as every write: a CLI waiting behind another writer says so.
        with write_transaction(conn):
            # Another process may have applied it while we waited for the lock.
            if conn.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone() is None:
                fn(conn)
                conn.execute(
                    "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                    (name, datetime.now(UTC).isoformat()),
                )
                ran.append(name)
    return ran


def _postgres_baseline(conn: Conn) -> list[str]:
    """Create a blank PostgreSQL ledger's schema as of BASELINE_UPTO in one transaction, recording
    the migrations it stands for; returns their names."""
    from cost_mcp.store.pg_schema import BASELINE, BASELINE_UPTO
    from cost_mcp.store.postgres import PgConnection

    assert isinstance(conn, PgConnection)
    names = [name for name, _ in MIGRATIONS]
    names = names[: names.index(BASELINE_UPTO) + 1]
    now = datetime.now(UTC).isoformat()
    with write_transaction(conn):
        conn.raw.execute(BASELINE)  # no parameters: the DDL's dollar quotes stay untranslated
        conn.executemany(
            "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", [(n, now) for n in names]
        )
    return names


# --- migrations, oldest first ------------------------------------------------------------------


@migration
def m001_meta(conn: Conn) -> None:
    """Key/value facts about the ledger itself (e.g. the price data version events were priced with)."""
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


@migration
def m002_usage_events(conn: Conn) -> None:
    """One row per distinct copy of a model call; ``counted`` marks the copy that counts.

    A call can be logged several times (streamed content blocks, resumed sessions, sidechain
    replays, progress mirrors). Each (source, message_id, request_id, is_sidechain) keeps only its
    best copy; among the rows of one message the ingester sets ``counted`` on exactly one per call,
    so every view sums ``WHERE counted = 1`` and they all agree.
    """
    conn.execute(
        """
        CREATE TABLE usage_events (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            message_id TEXT NOT NULL,
            request_id TEXT NOT NULL DEFAULT '',
            is_sidechain INTEGER NOT NULL DEFAULT 0,
            counted INTEGER NOT NULL DEFAULT 1,
            ts_ms INTEGER NOT NULL,
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            session_id TEXT NOT NULL DEFAULT '',
            project TEXT NOT NULL DEFAULT '',
            agent TEXT NOT NULL DEFAULT '',
            member TEXT NOT NULL DEFAULT '',
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cache_read_tokens INTEGER NOT NULL DEFAULT 0,
            cache_write_5m_tokens INTEGER NOT NULL DEFAULT 0,
            cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0,
            web_search_requests INTEGER NOT NULL DEFAULT 0,
            total_tokens INTEGER NOT NULL DEFAULT 0,
            speed TEXT NOT NULL DEFAULT '',
            cost_nanos INTEGER,
            reported_cost_nanos INTEGER,
            priced_model TEXT,
            origin TEXT NOT NULL DEFAULT '',
            UNIQUE (source, message_id, request_id, is_sidechain)
        )
        """
    )
    conn.execute("CREATE INDEX usage_events_counted_ts ON usage_events (counted, ts_ms)")
    conn.execute("CREATE INDEX usage_events_session ON usage_events (session_id, ts_ms)")


@migration
def m003_scanned_files(conn: Conn) -> None:
    """Where each log file was read up to, so a scan reads only appended bytes."""
    conn.execute(
        """
        CREATE TABLE scanned_files (
            path TEXT PRIMARY KEY,
            device INTEGER NOT NULL,
            inode INTEGER NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            offset INTEGER NOT NULL,
            scanned_at TEXT NOT NULL
        )
        """
    )


@migration
def m004_source_state(conn: Conn) -> None:
    """Per data source: when it last succeeded, what it covers, and its last error."""
    conn.execute(
        """
        CREATE TABLE source_state (
            source TEXT PRIMARY KEY,
            last_attempt TEXT,
            last_success TEXT,
            last_error TEXT,
            covered_start_ms INTEGER,
            covered_end_ms INTEGER,
            detail TEXT NOT NULL DEFAULT '{}'
        )
        """
    )


@migration
def m005_usage_rollup(conn: Conn) -> None:
    """Counted usage summed per UTC quarter-hour and dimension, so spend queries never scan events.

    Quarter-hours tile every timezone's days (some offsets are :30 or :45), so any local day, week
    or month is an exact union of them. Costs are summed once per cost mode.
    """
    conn.execute(
        """
        CREATE TABLE usage_rollup (
            qh INTEGER NOT NULL,
            source TEXT NOT NULL,
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            project TEXT NOT NULL,
            agent TEXT NOT NULL,
            member TEXT NOT NULL,
            requests INTEGER NOT NULL,
            input_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL,
            cache_read_tokens INTEGER NOT NULL,
            cache_write_5m_tokens INTEGER NOT NULL,
            cache_write_1h_tokens INTEGER NOT NULL,
            web_search_requests INTEGER NOT NULL,
            calculate_nanos INTEGER NOT NULL,
            calculate_unpriced INTEGER NOT NULL,
            auto_nanos INTEGER NOT NULL,
            auto_unpriced INTEGER NOT NULL,
            display_nanos INTEGER NOT NULL,
            PRIMARY KEY (qh, source, provider, model, project, agent, member)
        ) WITHOUT ROWID
        """
    )
    # Quarter-hours whose events changed since their rollup rows were built. Marked in the same
    # transaction as the change, so a crash can delay a rebuild but never lose one.
    conn.execute("CREATE TABLE rollup_dirty (qh INTEGER PRIMARY KEY)")


@migration
def m006_provider_buckets(conn: Conn) -> None:
    """What provider billing and usage APIs report, and which provider-days have been synced.

    A unique key over (provider, kind, bucket, dimensions) makes re-syncing a day replace it. The
    coverage table says which provider-days a sync has covered, even where it found no spend: for
    such a day the provider's numbers are the truth and local estimates only attribute.
    """
    conn.execute(
        """
        CREATE TABLE provider_buckets (
            id INTEGER PRIMARY KEY,
            provider TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('cost', 'usage')),
            start_ms INTEGER NOT NULL,
            end_ms INTEGER NOT NULL,
            model TEXT NOT NULL DEFAULT '',
            project TEXT NOT NULL DEFAULT '',
            workspace TEXT NOT NULL DEFAULT '',
            api_key TEXT NOT NULL DEFAULT '',
            line_item TEXT NOT NULL DEFAULT '',
            service_tier TEXT NOT NULL DEFAULT '',
            member TEXT NOT NULL DEFAULT '',
            cost_nanos INTEGER,
            requests INTEGER NOT NULL DEFAULT 0,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cache_read_tokens INTEGER NOT NULL DEFAULT 0,
            cache_write_5m_tokens INTEGER NOT NULL DEFAULT 0,
            cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0,
            web_search_requests INTEGER NOT NULL DEFAULT 0,
            fetched_at TEXT NOT NULL,
            UNIQUE (provider, kind, start_ms, end_ms, model, project, workspace, api_key, line_item,
                    service_tier, member)
        )
        """
    )
    conn.execute("CREATE INDEX provider_buckets_start ON provider_buckets (start_ms)")
    conn.execute(
        """
        CREATE TABLE provider_coverage (
            provider TEXT NOT NULL,
            kind TEXT NOT NULL,
            start_ms INTEGER NOT NULL,
            end_ms INTEGER NOT NULL,
            synced_at TEXT NOT NULL,
            PRIMARY KEY (provider, kind, start_ms)
        ) WITHOUT ROWID
        """
    )


@migration
def m007_budgets(conn: Conn) -> None:
    """Budgets, and the thresholds that have fired (once per budget, period and threshold).

    Amounts are nano-USD; thresholds are decimal strings ("0.8"), never floats. An alert is shown
    once in a query result (``shown_at``), across every server process sharing the ledger.
    """
    conn.execute(
        """
        CREATE TABLE budgets (
            name TEXT PRIMARY KEY,
            amount_nanos INTEGER NOT NULL CHECK (amount_nanos > 0),
            period TEXT NOT NULL CHECK (period IN ('day', 'week', 'month')),
            scope TEXT NOT NULL DEFAULT '{}',
            thresholds TEXT NOT NULL,
            hard INTEGER NOT NULL DEFAULT 0,
            webhook_url TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """
    )
    conn.execute(
        """
        CREATE TABLE budget_alerts (
            budget TEXT NOT NULL,
            period_start_ms INTEGER NOT NULL,
            threshold TEXT NOT NULL,
            fired_at TEXT NOT NULL,
            spent_nanos INTEGER NOT NULL,
            message TEXT NOT NULL,
            shown_at TEXT,
            PRIMARY KEY (budget, period_start_ms, threshold)
        ) WITHOUT ROWID
        """
    )


@migration
def m008_subscriptions(conn: Conn) -> None:
    """Fixed fees registered by hand (seats with no API), counted with basis ``subscription``."""
    conn.execute(
        """
        CREATE TABLE subscriptions (
            name TEXT PRIMARY KEY,
            vendor TEXT NOT NULL,
            amount_nanos INTEGER NOT NULL CHECK (amount_nanos > 0),
            period TEXT NOT NULL CHECK (period IN ('monthly', 'yearly')),
            member TEXT NOT NULL DEFAULT '',
            start_date TEXT NOT NULL,
            end_date TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """
    )


@migration
def m009_rollup_by_session(conn: Conn) -> None:
    """Sessions in the rollup key, so per-session questions never scan events.

    Each session has one project, agent and member, so this adds about 10% rows (measured on 1M
    events) and takes grouping by session over 30 days from 0.7 s to the rollup's milliseconds.
    The rollup is derived data: it is rebuilt from the events on the next refresh.
    """
    conn.execute("DROP TABLE usage_rollup")
    conn.execute(
        """
        CREATE TABLE usage_rollup (
            qh INTEGER NOT NULL,
            source TEXT NOT NULL,
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            project TEXT NOT NULL,
            agent TEXT NOT NULL,
            member TEXT NOT NULL,
            session_id TEXT NOT NULL,
            requests INTEGER NOT NULL,
            input_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL,
            cache_read_tokens INTEGER NOT NULL,
            cache_write_5m_tokens INTEGER NOT NULL,
            cache_write_1h_tokens INTEGER NOT NULL,
            web_search_requests INTEGER NOT NULL,
            calculate_nanos INTEGER NOT NULL,
            calculate_unpriced INTEGER NOT NULL,
            auto_nanos INTEGER NOT NULL,
            auto_unpriced INTEGER NOT NULL,
            display_nanos INTEGER NOT NULL,
            PRIMARY KEY (qh, source, provider, model, project, agent, member, session_id)
        ) WITHOUT ROWID
        """
    )
    conn.execute("INSERT OR IGNORE INTO rollup_dirty SELECT DISTINCT ts_ms / 900000 FROM usage_events")


@migration
def m010_scanned_file_checks(conn: Conn) -> None:
    """What a scan needs to trust a remembered offset, and to re-read one file on its own.

    ``check_hash`` hashes the bytes just before ``offset``: when they differ, the file was rewritten
    in place and is read again from the start. ``skipping`` says ``offset`` lies inside a line
    longer than the line cap, already counted as skipped. ``project`` and ``session_id`` are the
    identity the file was read with, so forgetting another path can re-read it exactly.
    """
    for column in (
        "check_hash BLOB",
        "skipping INTEGER NOT NULL DEFAULT 0",
        "project TEXT",
        "session_id TEXT",
    ):
        conn.execute(f"ALTER TABLE scanned_files ADD COLUMN {column}")


@migration
def m011_agent_files(conn: Conn) -> None:
    """Where each of another coding agent's log files was read up to, and its parser's state there.

    ``head`` is a hash of the file's first bytes (up to the offset), to tell an append from a
    rewrite; ``state`` is what earlier lines told the parser (session, model, running total).
    """
    conn.execute(
        """
        CREATE TABLE agent_files (
            path TEXT PRIMARY KEY,
            source TEXT NOT NULL,
            device INTEGER NOT NULL,
            inode INTEGER NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            offset INTEGER NOT NULL,
            head TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT '{}',
            scanned_at TEXT NOT NULL
        )
        """
    )
    conn.execute("CREATE INDEX agent_files_source ON agent_files (source)")


@migration
def m012_plan_limit_readings(conn: Conn) -> None:
    """Plan-limit readings (Claude Pro/Max ``rate_limits`` from the status line): one row per change.

    ``used_percent`` is the plan's own figure (not money); a reading is stored only when it differs
    from the same window's previous one, so a status line run every few seconds adds few rows.
    """
    conn.execute(
        """
        CREATE TABLE plan_limit_readings (
            id INTEGER PRIMARY KEY,
            ts_ms INTEGER NOT NULL,
            agent TEXT NOT NULL,
            window TEXT NOT NULL,
            used_percent REAL NOT NULL,
            resets_at_ms INTEGER,
            session_id TEXT NOT NULL DEFAULT '',
            UNIQUE (agent, window, resets_at_ms, used_percent)
        )
        """
    )
    conn.execute("CREATE INDEX plan_limit_readings_ts ON plan_limit_readings (ts_ms)")


@migration
def m013_usage_price_modifiers(conn: Conn) -> None:
    """What a call's price depended on beside its tokens, and what pricing it had to assume.

    ``service_tier`` and ``inference_geo`` join ``speed`` as the provider reported them (raw, so an
    unknown value can be re-priced once it is known). ``price_note`` says what was assumed (an
    unknown speed priced at standard rates...); it is empty for almost every row, and the partial
    index lets results count the noted rows without scanning the others.

    Every Claude Code log is read once more after this migration (a one-time cold ingest).
    """
    conn.execute("ALTER TABLE usage_events ADD COLUMN service_tier TEXT NOT NULL DEFAULT ''")
    conn.execute("ALTER TABLE usage_events ADD COLUMN inference_geo TEXT NOT NULL DEFAULT ''")
    conn.execute("ALTER TABLE usage_events ADD COLUMN price_note TEXT NOT NULL DEFAULT ''")
    conn.execute("CREATE INDEX usage_events_price_note ON usage_events (ts_ms) WHERE price_note != ''")
    # Calls already stored were priced without these fields (fast mode at standard rates, Sonnet 4
    # long context at base rates, iterations not counted): read every log once more, so the next
    # scan re-prices them. Keeping the rows keeps files' identities; size -1 marks them changed.
    conn.execute("UPDATE scanned_files SET offset = 0, size = -1")


@migration
def m014_skipped_lines(conn: Conn) -> None:
    """Log lines skipped, per file and reason, so any later result and `doctor` can say what was
    skipped and why (not only the ingest that read them). Written with the file's read offset, in
    the same transaction; a file read again from the start has its counts replaced."""
    conn.execute(
        """
        CREATE TABLE skipped_lines (
            path TEXT NOT NULL,
            reason TEXT NOT NULL,
            lines INTEGER NOT NULL,
            PRIMARY KEY (path, reason)
        ) WITHOUT ROWID
        """
    )


@migration
def m015_webhook_delivery(conn: Conn) -> None:
    """Budgets name a configured webhook (``webhook``) instead of carrying a URL a model chose, and
    each fired alert with a destination is a delivery to make: retried with backoff until it is
    delivered, or given up on with its error kept for ``budget_status`` to show."""
    conn.execute("ALTER TABLE budgets ADD COLUMN webhook TEXT")
    for column in (
        "destination TEXT",
        "payload TEXT",
        "delivery TEXT",
        "attempts INTEGER NOT NULL DEFAULT 0",
        "next_attempt_ms INTEGER",
        "delivery_error TEXT",
    ):
        conn.execute(f"ALTER TABLE budget_alerts ADD COLUMN {column}")


@migration
def m016_otel(conn: Conn) -> None:
    """What the OpenTelemetry receiver needs: dimensions, cross-path dedup, metric cross-checks.

    ``dimensions`` holds the attributes an OTLP event carries beyond the ledger's columns (team.id,
    cost_center, prompt.id, query_source, agent.name...) as a JSON object. A Claude Code call seen
    both in the JSONL logs (source ``claude_code``) and over OTel (``claude_code_otel``) shares the
    API request id: the triggers keep the OTel copy uncounted while any log copy of that request id
    exists, so the two paths count it once in either arrival order, and it counts again if the log
    copy is forgotten. ``otel_metric_points`` keeps metric data points, only to flag gaps.
    """
    conn.execute("ALTER TABLE usage_events ADD COLUMN dimensions TEXT NOT NULL DEFAULT ''")
    # Partial on the source alone, so that the planner can use them for ``source = '...' AND
    # request_id = ?`` (it cannot prove a bound request id is not ''): without them every log line
    # read would scan the table.
    conn.execute(
        "CREATE INDEX usage_events_cc_request ON usage_events (request_id) WHERE source = 'claude_code'"
    )
    conn.execute(
        "CREATE INDEX usage_events_otel_request ON usage_events (request_id) "
        "WHERE source = 'claude_code_otel'"
    )
    # The WHEN clauses look first, so a log line with no OTel copy (nearly all) costs one index probe.
    conn.execute(
        """
        CREATE TRIGGER usage_events_log_copy_added AFTER INSERT ON usage_events
        WHEN NEW.source = 'claude_code' AND NEW.request_id != '' AND EXISTS (
            SELECT 1 FROM usage_events INDEXED BY usage_events_otel_request
            WHERE source = 'claude_code_otel' AND request_id = NEW.request_id AND counted = 1)
        BEGIN
            INSERT OR IGNORE INTO rollup_dirty
                SELECT ts_ms / 900000 FROM usage_events INDEXED BY usage_events_otel_request
                WHERE source = 'claude_code_otel' AND request_id = NEW.request_id AND counted = 1;
            UPDATE usage_events SET counted = 0
                WHERE source = 'claude_code_otel' AND request_id = NEW.request_id AND counted = 1;
        END
        """
    )
    conn.execute(
        """
        CREATE TRIGGER usage_events_log_copy_removed AFTER DELETE ON usage_events
        WHEN OLD.source = 'claude_code' AND OLD.request_id != '' AND EXISTS (
            SELECT 1 FROM usage_events INDEXED BY usage_events_otel_request
            WHERE source = 'claude_code_otel' AND request_id = OLD.request_id AND counted = 0)
          AND NOT EXISTS (
            SELECT 1 FROM usage_events INDEXED BY usage_events_cc_request
            WHERE source = 'claude_code' AND request_id = OLD.request_id)
        BEGIN
            INSERT OR IGNORE INTO rollup_dirty
                SELECT ts_ms / 900000 FROM usage_events INDEXED BY usage_events_otel_request
                WHERE source = 'claude_code_otel' AND request_id = OLD.request_id AND counted = 0;
            UPDATE usage_events SET counted = 1
                WHERE source = 'claude_code_otel' AND request_id = OLD.request_id AND counted = 0;
        END
        """
    )
    conn.execute(
        """
        CREATE TABLE otel_metric_points (
            stream TEXT NOT NULL,
            point INTEGER NOT NULL,
            metric TEXT NOT NULL,
            session_id TEXT NOT NULL DEFAULT '',
            time_ms INTEGER NOT NULL,
            tokens INTEGER NOT NULL DEFAULT 0,
            cost_nanos INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (stream, point)
        )
        """
    )
    conn.execute("CREATE INDEX otel_metric_points_session ON otel_metric_points (session_id)")


@migration
def m017_team(conn: Conn) -> None:
    """Team mode (issue 14): bearer tokens, teams, pushes received, and what a laptop has pushed.

    ``api_tokens`` keeps only the SHA-256 of each token (the token itself is printed once); the
    member and role belong to the token, never to what a client sends. ``team_members`` groups
    members into named teams for team budgets. ``team_pushes`` records each push batch a server
    accepted (who, when, how many). ``pushed_events`` is the laptop's side: which of its usage
    events a team server acknowledged, with the token count it acknowledged, so an event that later
    grew (max tokens wins) is sent again.
    """
    conn.execute(
        """
        CREATE TABLE api_tokens (
            name TEXT PRIMARY KEY,
            token_hash TEXT NOT NULL UNIQUE,
            member TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('member', 'admin')),
            created_at TEXT NOT NULL,
            revoked_at TEXT
        )
        """
    )
    conn.execute(
        """
        CREATE TABLE team_members (
            team TEXT NOT NULL,
            member TEXT NOT NULL,
            PRIMARY KEY (team, member)
        )
        """
    )
    # SQLite's INTEGER PRIMARY KEY numbers itself; PostgreSQL needs an identity column for that.
    key = "BIGINT GENERATED BY DEFAULT AS IDENTITY" if dialect(conn) == "postgresql" else "INTEGER"
    conn.execute(
        f"""
        CREATE TABLE team_pushes (
            id {key} PRIMARY KEY,
            token_name TEXT NOT NULL,
            member TEXT NOT NULL,
            received_ms BIGINT NOT NULL,
            events INTEGER NOT NULL,
            changed INTEGER NOT NULL
        )
        """
    )
    conn.execute(
        """
        CREATE TABLE pushed_events (
            server TEXT NOT NULL,
            event_id BIGINT NOT NULL,
            total_tokens BIGINT NOT NULL,
            PRIMARY KEY (server, event_id)
        )
        """
    )


@migration
def m018_rollup_by_hour_and_day(conn: Conn) -> None:
    """The rollup summed per UTC hour and per UTC day as well (issue 22), so a spend question over
    a quarter reads 2.5 to 5 times fewer rows: whole days and hours from here, quarter-hours only
    where a unit holds a class edge (store/rollup.py ``read_sql``). Kept by the same refresh as the
    quarter-hours, and filled here from them (quarter-hours still dirty rebuild theirs on the next
    refresh). Columns are spelled out, as the rollup had them then: a later kind of token adds its own.
    """
    pg = dialect(conn) == "postgresql"
    text = 'TEXT COLLATE "C"' if pg else "TEXT"
    number = "BIGINT" if pg else "INTEGER"
    keys = ("source", "provider", "model", "project", "agent", "member", "session_id")
    sums = (
        "requests",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_5m_tokens",
        "cache_write_1h_tokens",
        "web_search_requests",
        "calculate_nanos",
        "calculate_unpriced",
        "auto_nanos",
        "auto_unpriced",
        "display_nanos",
    )
    for table, unit, size in (("usage_rollup_hour", "h", 4), ("usage_rollup_day", "d", 96)):
        columns = [f"{unit} {number} NOT NULL"]
        columns += [f"{c} {text} NOT NULL" for c in keys]
        columns += [f"{c} {number} NOT NULL" for c in sums]
        columns.append(f"PRIMARY KEY ({unit}, {', '.join(keys)})")
        conn.execute(f"CREATE TABLE {table} ({', '.join(columns)}){'' if pg else ' WITHOUT ROWID'}")
        conn.execute(
            f"INSERT INTO {table} ({unit}, {', '.join(keys + sums)}) "
            f"SELECT qh / {size}, {', '.join(keys)}, {', '.join(f'SUM({c})' for c in sums)} "
            f"FROM usage_rollup GROUP BY {', '.join(str(i) for i in range(1, len(keys) + 2))}"
        )


@migration
def m019_price_plans(conn: Conn) -> None:
    """Price plans the pricer looked up in genai-prices, saved for short-lived processes (issue 17).

    The status line runs after every message and prices the new call: from these rows (one per
    model, lookup and price period) instead of loading genai-prices, which costs more than its whole
    time budget. ``data_key`` is :func:`cost_mcp.pricing.plan_data_key`: rows saved under another
    genai-prices release or pricer code are never used. ``plan`` is the pricer's own JSON.
    """
    conn.execute(
        """
        CREATE TABLE price_plans (
            data_key TEXT NOT NULL,
            model TEXT NOT NULL,
            provider TEXT NOT NULL,
            variant TEXT NOT NULL,
            first_day BIGINT NOT NULL,
            end_day BIGINT NOT NULL,
            plan TEXT NOT NULL,
            PRIMARY KEY (data_key, model, provider, variant, first_day)
        )
        """
    )


# What a team server is sent of a usage event (push.WireRow's columns) and whether it counts: a
# change to any of them is a change to push. ``total_tokens`` covers a token kind added later.
_PUSHED_COLUMNS = (
    "source", "message_id", "request_id", "is_sidechain", "counted", "ts_ms", "provider", "model",
    "session_id", "project", "agent", "input_tokens", "output_tokens", "cache_read_tokens",
    "cache_write_5m_tokens", "cache_write_1h_tokens", "web_search_requests", "total_tokens", "speed",
    "service_tier", "inference_geo", "reported_cost_nanos",
)  # fmt: skip


@migration
def m020_push_marks(conn: Conn) -> None:
    """A push sends only what is new or changed since the last one (issue 14).

    ``push_marks`` keeps, per team server, the highest usage event id it acknowledged (every row
    inserted since is above it) and the highest ``change_seq`` (every row changed since is above
    that): a push with nothing new reads two numbers, a push after N changes reads N rows.
    ``change_seq`` is set from a ledger-wide increasing number whenever an update changes a pushed
    column or ``counted`` (a log line re-read with more tokens, a duplicate found, the OTel rule),
    whatever code path runs the update, so a row below the id mark that changes is sent again.
    Writers are serialised on both engines (SQLite's write lock, PostgreSQL's advisory write lock in
    ``write_transaction``), so ids and change numbers commit in order: a mark never passes a row that
    commits later.
    SQLite reuses the highest id after it is deleted, so deleting the top rows lowers the id marks
    to the new top; PostgreSQL's identity never goes back. ``pushed_events``, the per-row acks this
    replaces, is read once by the first push to a server it names (rows it acked are not re-sent)
    and then emptied for that server.
    """
    conn.execute("ALTER TABLE usage_events ADD COLUMN change_seq BIGINT")
    conn.execute(
        "CREATE INDEX usage_events_change_seq ON usage_events (change_seq) WHERE change_seq IS NOT NULL"
    )
    conn.execute(
        """
        CREATE TABLE push_marks (
            server TEXT PRIMARY KEY,
            last_id BIGINT NOT NULL DEFAULT 0,
            last_seq BIGINT NOT NULL DEFAULT 0,
            pushed_ms BIGINT,
            sent BIGINT NOT NULL DEFAULT 0
        )
        """
    )
    if dialect(conn) == "postgresql":
        from cost_mcp.store.postgres import PgConnection

        assert isinstance(conn, PgConnection)
        changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in _PUSHED_COLUMNS)
        # No ``?`` or ``%`` in here: it goes to the server as written (dollar quotes untranslated).
        conn.raw.execute(
            f"""
            CREATE SEQUENCE usage_events_change_numbers;
            CREATE FUNCTION usage_events_changed() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                NEW.change_seq := nextval('usage_events_change_numbers');
                RETURN NEW;
            END $$;
            CREATE TRIGGER usage_events_changed BEFORE UPDATE OF {", ".join(_PUSHED_COLUMNS)}
                ON usage_events FOR EACH ROW WHEN ({changed})
                EXECUTE FUNCTION usage_events_changed();
            """
        )
        return
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in _PUSHED_COLUMNS)
    conn.execute(
        f"""
        CREATE TRIGGER usage_events_changed AFTER UPDATE OF {", ".join(_PUSHED_COLUMNS)} ON usage_events
        WHEN {changed}
        BEGIN
            UPDATE usage_events SET change_seq = (
                SELECT COALESCE(MAX(change_seq), 0) + 1 FROM usage_events WHERE change_seq IS NOT NULL)
            WHERE id = NEW.id;
        END
        """
    )
    conn.execute(
        """
        CREATE TRIGGER usage_events_top_deleted AFTER DELETE ON usage_events
        WHEN OLD.id > (SELECT COALESCE(MAX(id), 0) FROM usage_events)
        BEGIN
            UPDATE push_marks SET last_id = (SELECT COALESCE(MAX(id), 0) FROM usage_events)
            WHERE last_id > (SELECT COALESCE(MAX(id), 0) FROM usage_events);
        END
        """
    )


@migration
def m021_log_copy_rule_per_batch(conn: Conn) -> None:
    """m016's insert trigger gives way to one statement per batch of log copies (issue 15).

    ``usage_events_log_copy_added`` uncounted the OTel copy of a call when its log copy arrived,
    but SQLite runs a row trigger's program for every inserted row whatever its ``WHEN`` says: the
    OTLP receiver paid ~4 µs per event (a quarter of its insert) for a rule about log rows. The
    writers of log copies now apply it once per batch (``store.otel.uncount_otel_copies``); the
    rows already stored were kept by the trigger, so nothing is recounted here. The delete trigger
    (a forgotten log copy makes its OTel copy count again) stays: deletes are rare.
    """
    if dialect(conn) == "postgresql":
        conn.execute("DROP TRIGGER IF EXISTS usage_events_log_copy_added ON usage_events")
        conn.execute("DROP FUNCTION IF EXISTS usage_events_log_copy_added()")
        return
    conn.execute("DROP TRIGGER IF EXISTS usage_events_log_copy_added")


@migration
def m022_rollup_without_sessions(conn: Conn) -> None:
    """Each rollup level summed over sessions as well (issue 14): a team server's members push
    thousands of sessions an hour, and get_spend by member read one rollup row per session (75,000
    for 500,000 pushed calls, 170 ms of CPU per question); these tables hold one per member, model
    and project. Filled here from the levels; kept by store/rollup.py with them. Columns spelled out
    as the rollup has them now: a later kind of token adds its own.
    """
    pg = dialect(conn) == "postgresql"
    text = 'TEXT COLLATE "C"' if pg else "TEXT"
    number = "BIGINT" if pg else "INTEGER"
    keys = ("source", "provider", "model", "project", "agent", "member")
    sums = (
        "requests",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_5m_tokens",
        "cache_write_1h_tokens",
        "web_search_requests",
        "calculate_nanos",
        "calculate_unpriced",
        "auto_nanos",
        "auto_unpriced",
        "display_nanos",
    )
    for level, unit in (("usage_rollup", "qh"), ("usage_rollup_hour", "h"), ("usage_rollup_day", "d")):
        table = f"{level}_nosession"
        columns = [f"{unit} {number} NOT NULL"]
        columns += [f"{c} {text} NOT NULL" for c in keys]
        columns += [f"{c} {number} NOT NULL" for c in sums]
        columns.append(f"PRIMARY KEY ({unit}, {', '.join(keys)})")
        conn.execute(f"CREATE TABLE {table} ({', '.join(columns)}){'' if pg else ' WITHOUT ROWID'}")
        conn.execute(
            f"INSERT INTO {table} ({unit}, {', '.join(keys + sums)}) "
            f"SELECT {unit}, {', '.join(keys)}, {', '.join(f'SUM({c})' for c in sums)} "
            f"FROM {level} GROUP BY {', '.join(str(i) for i in range(1, len(keys) + 2))}"
        )


@migration
def m023_push_claims(conn: Conn) -> None:
    """PostgreSQL: the messages a push is merging (issue 14), so pushes can hold the ledger's write
    lock in shared mode and still decide each message's counted copy and rollup with every copy in
    view. A push inserts a row per (source, message id) of its batch before it looks anything up,
    in key order, and deletes them before it commits: a second push of one of those messages waits
    on the first's row in the primary key until then. Rows live for one transaction, so the table
    is unlogged (a crash can lose nothing that outlives it) and holds only the pushes in flight; an
    advisory lock per message would fill PostgreSQL's shared lock table (500 per push, 5,000 for
    the largest batch). SQLite has one writer at a time and needs none. (Since h-team5 a push
    leaves its rows and locks those it finds instead, and a push alone empties the table now
    and then: store.team's ``_CLAIM`` and ``_ClaimCount``. The table is the same.)
    """
    if dialect(conn) != "postgresql":
        return
    conn.execute(
        'CREATE UNLOGGED TABLE push_claims (source TEXT COLLATE "C" NOT NULL, '
        'message_id TEXT COLLATE "C" NOT NULL, PRIMARY KEY (source, message_id))'
    )


@migration
def m024_push_senders(conn: Conn) -> None:
    """When each token (a member's laptop) last pushed, so that a team's answers say how fresh each
    laptop's usage is: a total that lacks the last three days of a laptop that stopped pushing must
    say so. One row per token and member, moved forward by every push; ``team_pushes`` (a row per
    batch, millions a year for a team) would need a scan per answer to tell."""
    conn.execute(
        """
        CREATE TABLE push_senders (
            token_name TEXT NOT NULL,
            member TEXT NOT NULL,
            last_ms BIGINT NOT NULL,
            PRIMARY KEY (token_name, member)
        )
        """
    )
    conn.execute(
        "INSERT INTO push_senders (token_name, member, last_ms) "
        "SELECT token_name, member, MAX(received_ms) FROM team_pushes GROUP BY token_name, member"
    )


@migration
def m025_ingest_tokens(conn: Conn) -> None:
    """Tokens of a third role, ``ingest``: they only send OpenTelemetry usage, each event under its
    own user.email (cost_mcp.access), so that a fleet's managed settings need not carry an admin's
    token. The CHECK on ``api_tokens.role`` allows it; every token and its hash is kept.

    SQLite cannot change a CHECK in place: the table is built anew with it, filled from the old one
    and put in its place (nothing refers to it). PostgreSQL replaces the constraint m017 made,
    named as PostgreSQL names a column's CHECK.
    """
    roles = "CHECK (role IN ('member', 'admin', 'ingest'))"
    if dialect(conn) == "postgresql":
        conn.execute("ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check")
        conn.execute(f"ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check {roles}")
        return
    conn.execute(
        f"""
        CREATE TABLE api_tokens_new (
            name TEXT PRIMARY KEY,
            token_hash TEXT NOT NULL UNIQUE,
            member TEXT NOT NULL,
            role TEXT NOT NULL {roles},
            created_at TEXT NOT NULL,
            revoked_at TEXT
        )
        """
    )
    conn.execute(
        "INSERT INTO api_tokens_new (name, token_hash, member, role, created_at, revoked_at) "
        "SELECT name, token_hash, member, role, created_at, revoked_at FROM api_tokens"
    )
    conn.execute("DROP TABLE api_tokens")
    conn.execute("ALTER TABLE api_tokens_new RENAME TO api_tokens")


@migration
def m026_agent_projects_as_paths(conn: Conn) -> None:
    """Codex and OpenCode calls name their project by its path, as Claude Code's do (their cwd):
    they were stored under Claude Code's folder slug of it (``-home-dev-webapp``), so one folder
    showed as two projects and a budget on ``webapp`` missed their spend. A stored slug becomes the
    path when exactly one stored path has that slug; the others stay (filters still find them by
    slug), since a slug cannot be turned back into its path. Their quarter-hours are refreshed.
    """
    paths = [
        str(r[0]) for r in conn.execute("SELECT DISTINCT project FROM usage_events WHERE project LIKE '%/%'")
    ]
    by_slug: dict[str, list[str]] = {}
    for path in paths:
        by_slug.setdefault(re.sub(r"[^A-Za-z0-9]", "-", path), []).append(path)
    slugs = [
        str(r[0])
        for r in conn.execute(
            "SELECT DISTINCT project FROM usage_events WHERE source IN ('codex', 'opencode') "
            "AND project LIKE '-%' AND project NOT LIKE '%/%'"
        )
    ]
    for slug in slugs:
        found = by_slug.get(slug, [])
        if len(found) != 1:
            continue
        where = "source IN ('codex', 'opencode') AND project = ?"
        conn.execute(
            f"INSERT INTO rollup_dirty (qh) SELECT DISTINCT ts_ms / 900000 FROM usage_events WHERE {where} "
            "ON CONFLICT DO NOTHING",
            (slug,),
        )
        conn.execute(f"UPDATE usage_events SET project = ? WHERE {where}", (found[0], slug))


@migration
def m027_push_marks_without_secrets(conn: Conn) -> None:
    """A laptop's push marks named the team server by its whole URL, so a ``user:password@`` or a
    ``?token=`` in COST_MCP_TEAM_SERVER was written into the ledger. They are now named by the URL
    without user, password, query or fragment (``store.team.server_key``, spelled out here as it is
    now). Marks that come to share a name keep the lower of each mark: rows past it are sent again,
    which the server counts once.
    """
    from urllib.parse import urlsplit

    def key(url: str) -> str:
        parts = urlsplit(url.rstrip("/"))
        host = (parts.hostname or "").lower()
        if ":" in host:
            host = f"[{host}]"
        try:
            port = f":{parts.port}" if parts.port else ""
        except ValueError:
            port = ""
        return f"{parts.scheme.lower()}://{host}{port}{parts.path.rstrip('/')}"

    marks: dict[str, tuple[int, int, int | None, int]] = {}
    for server, last_id, last_seq, pushed_ms, sent in conn.execute(
        "SELECT server, last_id, last_seq, pushed_ms, sent FROM push_marks"
    ).fetchall():
        k = key(str(server))
        if k in marks:
            i, q, at, n = marks[k]
            both = [t for t in (at, pushed_ms) if t is not None]
            marks[k] = (min(i, last_id), min(q, last_seq), max(both) if both else None, n + sent)
        else:
            marks[k] = (last_id, last_seq, pushed_ms, sent)
    conn.execute("DELETE FROM push_marks")
    conn.executemany(
        "INSERT INTO push_marks (server, last_id, last_seq, pushed_ms, sent) VALUES (?, ?, ?, ?, ?)",
        [(k, *v) for k, v in marks.items()],
    )
    for (server,) in conn.execute("SELECT DISTINCT server FROM pushed_events").fetchall():
        if key(str(server)) != server:
            conn.execute(
                "INSERT INTO pushed_events (server, event_id, total_tokens) "
                "SELECT ?, event_id, total_tokens FROM pushed_events WHERE server = ? "
                "ON CONFLICT (server, event_id) DO NOTHING",
                (key(str(server)), server),
            )
            conn.execute("DELETE FROM pushed_events WHERE server = ?", (server,))


@migration
def m028_agent_files_read_again_for_skips(conn: Conn) -> None:
    """Every other agent's log file (Codex, Gemini CLI...) is read once more from its start: their
    skipped lines were counted but not kept, so a ledger that had read a bad line never said so.
    They are now kept in ``skipped_lines`` as Claude Code's are, and only a read from the start
    can count those already passed. A size no file has makes each one "changed", read from offset
    0 with a fresh parser state; every event's key names its call, so nothing counts twice.
    """
    conn.execute("""UPDATE agent_files SET size = -1, "offset" = 0, head = '', state = '{}'""")


@migration
def m029_dashboard_sessions(conn: Conn) -> None:
    """Sign-ins to a team server's dashboard from a browser (cost_mcp.web.signin): a session whose
    random id is in the browser's cookie and only its SHA-256 here, with the token it was opened
    with by hash (``api_tokens.token_hash``; empty for an identity provider's JWT), so that revoking
    the token ends its sessions at once, on every replica, and with the time it ends. Kept in the
    ledger rather than in one process: a server's worker processes and replicas share it.
    """
    conn.execute(
        """
        CREATE TABLE dashboard_sessions (
            session_hash TEXT PRIMARY KEY,
            token_hash TEXT NOT NULL,
            token_name TEXT NOT NULL,
            member TEXT NOT NULL,
            role TEXT NOT NULL,
            created_ms BIGINT NOT NULL,
            expires_ms BIGINT NOT NULL
        )
        """
    )
    conn.execute("CREATE INDEX dashboard_sessions_expires ON dashboard_sessions (expires_ms)")


@migration
def m030_claude_code_cloud_providers(conn: Conn) -> None:
    """Claude Code's calls through Amazon Bedrock and Google Vertex AI (its logs and OTel events
    name Bedrock's or Vertex's model ids) were stored under provider ``anthropic``, so a day an
    Anthropic cost report covers took that report as the whole of their provider's spend and left
    them out, though neither cloud's usage is on Anthropic's bill. They move to the provider that
    bills them (:func:`cost_mcp.pricing.claude_provider`: ``aws``, ``google``), and their
    quarter-hours are rebuilt, since the rollup is keyed by provider. Their stored prices stay.
    """
    from cost_mcp.pricing import claude_provider

    where = "source IN ('claude_code', 'claude_code_otel') AND provider = 'anthropic'"
    models = [str(r[0]) for r in conn.execute(f"SELECT DISTINCT model FROM usage_events WHERE {where}")]
    by_provider: dict[str, list[str]] = {}
    for model in models:
        provider = claude_provider(model)
        if provider != "anthropic":
            by_provider.setdefault(provider, []).append(model)
    for provider, moved in sorted(by_provider.items()):
        marks = ", ".join("?" * len(moved))
        conn.execute(
            f"INSERT INTO rollup_dirty (qh) SELECT DISTINCT ts_ms / 900000 FROM usage_events "
            f"WHERE {where} AND model IN ({marks}) ON CONFLICT DO NOTHING",
            moved,
        )
        conn.execute(
            f"UPDATE usage_events SET provider = ? WHERE {where} AND model IN ({marks})", (provider, *moved)
        )


@migration
def m031_log_copies_take_the_best_of_their_otel_copies(conn: Conn) -> None:
    """Calls stored both from a Claude Code log and over OTLP before the counted log copy took the
    best of its OTel copy (``store.otel.best_of_both``): they are given it now, so a call a log line
    brought in without a member becomes the member's its OTel event named, and ``auto`` counts the
    cost Claude Code reported for it, as calls stored from now on do."""
    from cost_mcp.store import otel  # store.otel imports the store's modules: not at load

    ids = [
        str(r[0])
        for r in conn.execute(
            "SELECT DISTINCT request_id FROM usage_events "
            "WHERE source = 'claude_code_otel' AND counted = 0 AND request_id != ''"
        )
    ]
    if ids:
        otel.best_of_both(conn, ids)


@migration
def m032_forgotten_calls(conn: Conn) -> None:
    """A tombstone per reported call the user forgot (``cost-mcp reported forget``), keyed as
    ``usage_events``' unique key names the call, so that no writer stores it again: not the agent
    reporting the same request id once more, not a laptop's ``push --full``, not a laptop that
    still holds it pushing after the admin forgot it on the server. Written in the forget's
    transaction, deleted by ``reported unforget``. It keeps what ``reported list`` shows of the call,
    so ``reported list --forgotten`` can show what was forgotten (``forgotten_ms``: when).
    """
    text = 'TEXT COLLATE "C"' if dialect(conn) == "postgresql" else "TEXT"
    conn.execute(
        f"""
        CREATE TABLE forgotten_calls (
            source {text} NOT NULL,
            message_id {text} NOT NULL,
            request_id {text} NOT NULL DEFAULT '',
            is_sidechain BIGINT NOT NULL DEFAULT 0,
            ts_ms BIGINT NOT NULL,
            agent {text} NOT NULL DEFAULT '',
            member {text} NOT NULL DEFAULT '',
            provider {text} NOT NULL DEFAULT '',
            model {text} NOT NULL DEFAULT '',
            project {text} NOT NULL DEFAULT '',
            session_id {text} NOT NULL DEFAULT '',
            total_tokens BIGINT NOT NULL DEFAULT 0,
            cost_nanos BIGINT,
            forgotten_ms BIGINT NOT NULL,
            PRIMARY KEY (source, message_id, request_id, is_sidechain)
        )
        """
    )


@migration
def m033_forgets_travel(conn: Conn) -> None:
    """A laptop's forgets and unforgets travel to its team server with its next push.

    ``forget_log`` numbers each forget and unforget of a reported call on this ledger, in the
    transaction that made it (writers are serialised, so the numbers commit in order), and
    ``push_marks.forget_seq`` is how far a team server acknowledged them: each is sent once, as a
    row is, and ``push --full`` sends them all again. The tombstones already left are numbered
    first, so what a laptop forgot before this version reaches the server too.
    ``forgotten_calls.forgotten_by`` is who forgot the call: '' for the ledger's own user (the CLI,
    a server's admin), else the member whose push carried the forget, the one member whose push may
    lift it again: a member never lifts an admin's forget, nor another member's.
    """
    key = "BIGINT GENERATED BY DEFAULT AS IDENTITY" if dialect(conn) == "postgresql" else "INTEGER"
    text = 'TEXT COLLATE "C"' if dialect(conn) == "postgresql" else "TEXT"
    conn.execute(
        f"""
        CREATE TABLE forget_log (
            seq {key} PRIMARY KEY,
            source {text} NOT NULL,
            message_id {text} NOT NULL,
            request_id {text} NOT NULL DEFAULT '',
            is_sidechain BIGINT NOT NULL DEFAULT 0,
            unforget BIGINT NOT NULL DEFAULT 0,
            at_ms BIGINT NOT NULL
        )
        """
    )
    conn.execute(
        "INSERT INTO forget_log (source, message_id, request_id, is_sidechain, unforget, at_ms) "
        "SELECT source, message_id, request_id, is_sidechain, 0, forgotten_ms FROM forgotten_calls "
        "ORDER BY forgotten_ms, source, message_id, request_id, is_sidechain"
    )
    conn.execute("ALTER TABLE push_marks ADD COLUMN forget_seq BIGINT NOT NULL DEFAULT 0")
    conn.execute(f"ALTER TABLE forgotten_calls ADD COLUMN forgotten_by {text} NOT NULL DEFAULT ''")


@migration
def m034_budget_holds(conn: Conn) -> None:
    """What a check_budget that allowed a call under a hard budget holds of that budget until the
    call is recorded (or ``expires_ms``): workers checking at the same moment each saw the same room
    and a fleet passed its hard budget by a call per worker. Never spend: only budget checks count
    them. ``model_key`` is the call's model as :func:`cost_mcp.analytics.vocabulary.model_key`
    names it ('' when the check gave none), so that record_usage releases the hold of its model."""
    key = "BIGINT GENERATED BY DEFAULT AS IDENTITY" if dialect(conn) == "postgresql" else "INTEGER"
    text = 'TEXT COLLATE "C"' if dialect(conn) == "postgresql" else "TEXT"
    conn.execute(
        f"""
        CREATE TABLE budget_holds (
            id {key} PRIMARY KEY,
            member {text} NOT NULL DEFAULT '',
            agent {text} NOT NULL DEFAULT '',
            provider {text} NOT NULL DEFAULT '',
            model {text} NOT NULL DEFAULT '',
            model_key {text} NOT NULL DEFAULT '',
            project {text} NOT NULL DEFAULT '',
            cost_nanos BIGINT NOT NULL,
            created_ms BIGINT NOT NULL,
            expires_ms BIGINT NOT NULL
        )
        """
    )
    conn.execute("CREATE INDEX budget_holds_expiry ON budget_holds (expires_ms)")


@migration
def m035_forgotten_calls_request(conn: Conn) -> None:
    """Forgotten calls by request id: an OTLP event whose call's log copy an admin forgot (it had
    not arrived over OTLP yet: no tombstone under its own key) must not be stored, and each OTLP
    request looks its request ids up here; the primary key leads with the message id."""
    conn.execute("CREATE INDEX forgotten_calls_request ON forgotten_calls (source, request_id)")


@migration
def m036_rollup_levels_follow_older_writers(conn: Conn) -> None:
    """Quarter-hours taken out of ``rollup_dirty`` are kept in ``rollup_levels_dirty`` until a
    refresh of this release rebuilds every level of them.

    A release from before m018 and m022 rebuilds only ``usage_rollup`` and then empties
    ``rollup_dirty``; the hour and day levels and the twins without sessions, which answers read,
    never learn of its calls. Such a release goes on writing after the upgrade when it is a server
    that was running then (Claude Code keeps its MCP server for the whole session, while the status
    line and hook start the new version, which migrates): every call it recorded or read from the
    logs afterwards was missing from every total, with nothing said, and re-reading the logs could
    not bring them back (it had marked the files read). A trigger works whatever code deletes:
    store/rollup.py empties both tables in the same transaction, so only another release leaves any.
    Calls such a server wrote before this migration are found here: every hour, day and quarter-hour
    whose rows in a level or twin count other calls than its quarter-hours is marked for a rebuild.
    """
    _create_rollup_levels_dirty(conn)
    # Calls only, never sums of money or tokens: those can pass 64 bits on a ledger of absurd calls
    # (store/rollup.py TOO_LARGE), where every level holds them left out alike.
    for table, unit, size in (
        ("usage_rollup_nosession", "qh", 1),
        ("usage_rollup_hour", "h", 4),
        ("usage_rollup_hour_nosession", "h", 4),
        ("usage_rollup_day", "d", 96),
        ("usage_rollup_day_nosession", "d", 96),
    ):
        conn.execute(
            f"""
            INSERT INTO rollup_levels_dirty (qh)
            SELECT u * {size} FROM (
                SELECT qh / {size} AS u, SUM(requests) AS n FROM usage_rollup GROUP BY qh / {size}
                UNION ALL
                SELECT {unit}, -SUM(requests) FROM {table} GROUP BY {unit}
            ) AS counts
            WHERE true  -- SQLite reads ON CONFLICT after a bare SELECT ... FROM as a join's ON
            GROUP BY u HAVING SUM(n) <> 0
            ON CONFLICT DO NOTHING
            """
        )


@migration
def m037_push_history(conn: Conn) -> None:
    """``team_pushes`` becomes the push history an admin reads (``cost-mcp team pushes``), kept 30
    days (``store.team.PUSH_HISTORY_DAYS``): pushes delete the rows that aged out (a server process
    at most once a minute), found through the index made here. Nothing read it since m024, and it
    grew by a row per batch a team server took, for ever (2.5 million rows a year for a team of 20
    pushing every minute). Each row also says how many of the push's rows were refused (another
    member's call) and forgotten (an admin's forget): why a member's usage is missing. Rows older
    than the 30 days go now."""
    cutoff = int(datetime.now(UTC).timestamp() * 1000) - 30 * 86_400_000
    conn.execute("DELETE FROM team_pushes WHERE received_ms < ?", (cutoff,))
    conn.execute("ALTER TABLE team_pushes ADD COLUMN refused BIGINT NOT NULL DEFAULT 0")
    conn.execute("ALTER TABLE team_pushes ADD COLUMN forgotten BIGINT NOT NULL DEFAULT 0")
    conn.execute("CREATE INDEX team_pushes_received ON team_pushes (received_ms)")


@migration
def m038_codex_opencode_read_again(conn: Conn) -> None:
    """Codex's and OpenCode's logs are read once more from their start, which mends what an earlier
    reader stored of them. A Codex fork's (or sub-agent's) copy of its parent's history counted
    every parent call a second time, under keys of its own: a read of the whole file finds the copy's
    span and deletes the rows of that session and span the read no longer yields
    (``AgentLog.copied``, ``store.agent_files.drop_copies``). An OpenCode call whose own ``cost``
    priced its reasoning twice kept that cost, as a stored copy of the same tokens is kept: the same
    copy read again with another reported cost now takes the read's (``agent_files._ON_CONFLICT``).
    A file deleted since keeps its rows: nothing can be read again. As m028, a size no file has
    makes each one "changed", read from offset 0 with a fresh parser state."""
    conn.execute(
        """UPDATE agent_files SET size = -1, "offset" = 0, head = '', state = '{}' """
        "WHERE source IN ('codex', 'opencode')"
    )


@migration
def m039_push_beats(conn: Conn) -> None:
    """When each laptop's push loop last told the team server it runs with nothing to send (a
    beat, ``cost_mcp.push.BEAT_SECONDS``): a laptop whose owner did not use their agents for two
    days pushed nothing, so every team total named it as maybe lacking its usage, a warning that
    was false and taught admins to ignore the one for a laptop that is off with usage unsent.

    ``heard_ms`` stays NULL for a sender that never beat (a release from before beats), which is
    told as before; one that beats is named only once it has not been heard from. A column of
    ``push_senders`` (one row per token), not ``team_pushes`` rows: a beat every few minutes from
    each laptop would bury the push history, and the answers read one row per laptop."""
    conn.execute("ALTER TABLE push_senders ADD COLUMN heard_ms BIGINT")


@migration
def m040_project_calls_by_time(conn: Conn) -> None:
    """An index of the counted calls by project and time: `cost-mcp session` and the session_usage
    tool, run in a folder with no session (a new project, the server's own folder), find that
    project's latest call by walking it back, where no index had ``project`` and they read every
    counted call newest first looking for one (4.4 s on a ledger of 3M calls, for no answer).
    Partial on ``counted = 1``: what every reader of it asks, and a smaller index."""
    conn.execute("CREATE INDEX usage_events_project_ts ON usage_events (project, ts_ms) WHERE counted = 1")


@migration
def m041_otlp_senders(conn: Conn) -> None:
    """When each agent and member last had events accepted over OTLP, and how many: every answer's
    ``sources`` lists the receiver (``otlp:<agent>``), where a user who only sent Claude Code's
    OpenTelemetry saw spend with nothing saying where it came from or how fresh it was. One row per
    (source, agent, member), moved forward by each OTLP request in its transaction, as
    ``push_senders`` is by pushes: counting the OTel rows per answer read every one of the period.

    Filled from the OTel rows already held, their latest call standing for when it was received
    (the receiver takes a call within seconds of it; the count, every row the receiver kept)."""
    text = 'TEXT COLLATE "C"' if dialect(conn) == "postgresql" else "TEXT"
    conn.execute(
        f"""
        CREATE TABLE otlp_senders (
            source {text} NOT NULL,
            agent {text} NOT NULL,
            member {text} NOT NULL,
            first_ms BIGINT NOT NULL,
            last_ms BIGINT NOT NULL,
            events BIGINT NOT NULL,
            PRIMARY KEY (source, agent, member)
        )
        """
    )
    conn.execute(
        "INSERT INTO otlp_senders (source, agent, member, first_ms, last_ms, events) "
        "SELECT source, agent, member, MIN(ts_ms), MAX(ts_ms), COUNT(*) FROM usage_events "
        "WHERE origin = 'otel' GROUP BY source, agent, member"
    )


@migration
def m042_agent_calls_once(conn: Conn) -> None:
    """A Codex or Gemini CLI session read from its log and also received over OTLP counts from its
    log alone (``store.session_copies``): until now every such call counted twice (a Codex OTel copy
    under ``openai`` even for a session through OpenRouter). The OTel copies of sessions a log copy
    already holds (of no member, or of the copy's own) stop counting here, and their quarter-hours
    are marked for the rollup to rebuild. Spelled out, not ``session_copies.settle``: a migration
    keeps doing what it did when it was written."""
    for agent, source in (("codex", "codex"), ("gemini-cli", "gemini_cli")):
        held = f"""
            source = 'otel' AND agent = '{agent}' AND counted = 1 AND session_id != '' AND EXISTS (
                SELECT 1 FROM usage_events AS l
                WHERE l.session_id = usage_events.session_id AND l.source = '{source}'
                  AND l.member IN ('', usage_events.member))
        """
        conn.execute(
            "INSERT INTO rollup_dirty (qh) SELECT DISTINCT ts_ms / 900000 FROM usage_events "
            f"WHERE {held} ON CONFLICT DO NOTHING"
        )
        conn.execute(f"UPDATE usage_events SET counted = 0 WHERE {held}")


@migration
def m043_otel_metric_members(conn: Conn) -> None:
    """Whose each OTel metric data point is: the member of the token that sent it (or the point's
    ``user.email`` without one), as for events. A member whose Claude Code sent metrics and not
    (all) its events never saw the "metrics report more than the events received" warning an admin
    saw: the points named no member, so a member's answer looked for their sessions among the events,
    where a session whose events were all lost is not.

    Filled for the points already held where their session's events name one member (the sender
    of that session); a point whose session has no events, or events of several members, keeps ''
    and is shown to a member as before (only when events of theirs hold its session). Neither
    ``otlp_senders`` (m041, per agent and member, no session) nor the stream (a hash of the point's
    attributes) can say more."""
    text = 'TEXT COLLATE "C"' if dialect(conn) == "postgresql" else "TEXT"
    conn.execute(f"ALTER TABLE otel_metric_points ADD COLUMN member {text} NOT NULL DEFAULT ''")
    conn.execute(
        """
        UPDATE otel_metric_points SET member = s.member
        FROM (
            SELECT session_id, MIN(member) AS member FROM usage_events
            WHERE member != '' AND session_id IN (
                SELECT session_id FROM otel_metric_points WHERE session_id != '')
            GROUP BY session_id HAVING COUNT(DISTINCT member) = 1
        ) AS s
        WHERE otel_metric_points.session_id = s.session_id
        """
    )
    conn.execute("CREATE INDEX otel_metric_points_member ON otel_metric_points (member, session_id)")


@migration
def m044_webhook_urls_out_of_ledger(conn: Conn) -> None:
    """Webhook URLs leave the ledger: `budget set --webhook URL --confirm-webhook-url` stored the URL
    in ``budgets.webhook_url`` and in each fired alert's ``destination``, and a Slack or Discord
    webhook's path is its secret, readable by anyone who reads the database (a backup, a team's
    PostgreSQL). Each URL moves to COST_MCP_WEBHOOKS in the env file of the process that upgrades
    (under the budget's name: where provider keys are kept), and the rows keep that name.

    When the URL cannot be kept there (COST_MCP_WEBHOOKS set in the environment without it, the env
    file not writable), the upgrade stops with the fix and changes nothing: a budget must not lose
    its alerts quietly. ``budgets.webhook_url`` is dropped, so nothing writes a URL there again."""
    budgets = conn.execute(
        "SELECT name, webhook_url FROM budgets WHERE webhook_url IS NOT NULL AND webhook_url <> '' "
        "ORDER BY name"
    ).fetchall()
    fired = conn.execute(
        "SELECT DISTINCT budget, destination FROM budget_alerts WHERE destination LIKE 'url:%' "
        "ORDER BY budget, destination"
    ).fetchall()
    wanted: dict[str, str] = {}
    for budget, url in [(str(b), str(u)) for b, u in budgets] + [(str(b), str(d)[4:]) for b, d in fired]:
        wanted.setdefault(url.strip(), budget)
    names: dict[str, str] = {}
    if wanted:
        # Imported only then: a new ledger (the status line's first run makes one) has no URLs, and
        # the status line must not load the settings' module.
        from cost_mcp.config import keep_webhook_urls

        names = keep_webhook_urls(wanted)
    for budget, url in budgets:
        conn.execute(
            "UPDATE budgets SET webhook = ?, webhook_url = NULL WHERE name = ?",
            (names[str(url).strip()], budget),
        )
    for _, destination in fired:
        conn.execute(
            "UPDATE budget_alerts SET destination = ? WHERE destination = ?",
            (f"name:{names[str(destination)[4:].strip()]}", destination),
        )
    conn.execute("ALTER TABLE budgets DROP COLUMN webhook_url")


def _create_rollup_levels_dirty(conn: Conn) -> None:
    """m036's table and its trigger on rollup_dirty."""
    if dialect(conn) == "postgresql":
        from cost_mcp.store.postgres import PgConnection

        assert isinstance(conn, PgConnection)
        # One statement-level trigger: a refresh takes thousands of quarter-hours out at once.
        conn.raw.execute(
            """
            CREATE TABLE rollup_levels_dirty (qh BIGINT PRIMARY KEY);
            CREATE FUNCTION rollup_dirty_taken() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO rollup_levels_dirty (qh) SELECT qh FROM taken ON CONFLICT DO NOTHING;
                RETURN NULL;
            END $$;
            CREATE TRIGGER rollup_dirty_taken AFTER DELETE ON rollup_dirty
                REFERENCING OLD TABLE AS taken FOR EACH STATEMENT
                EXECUTE FUNCTION rollup_dirty_taken();
            """
        )
        return
    conn.execute("CREATE TABLE rollup_levels_dirty (qh INTEGER PRIMARY KEY)")
    conn.execute(
        """
        CREATE TRIGGER rollup_dirty_taken AFTER DELETE ON rollup_dirty
        BEGIN
            INSERT OR IGNORE INTO rollup_levels_dirty (qh) VALUES (OLD.qh);
        END
        """
    )
