"""session_usage and usage_blocks over a real ledger filled from real log files."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from cost_mcp.analytics.claude_code import session_usage, usage_blocks
from cost_mcp.analytics.vocabulary import project_slugs
from cost_mcp.config import Settings, load_settings
from cost_mcp.errors import NotFoundError
from cost_mcp.pricing import Pricer
from cost_mcp.sources.claude_code import ingest
from cost_mcp.store.connection import Conn
from tests.sources.claude_logs import assistant, session_file, write


def _fill(home: Path, conn: Conn, settings: Settings) -> None:
    claude = home / "claude"
    # Project app: session s1 from 09:00 to 10:30, two models.
    write(
        session_file(claude, "s1", "-home-dev-app"),
        assistant("m1", "r1", "2026-11-02T09:00:00.000Z", session="s1", input=1_000, output=1_000),
        assistant(
            "m2",
            "r2",
            "2026-11-02T10:30:00.000Z",
            session="s1",
            input=1_000,
            output=1_000,
            model="claude-haiku-4-5-20251001",
        ),
    )
    # Project other: session s2, later than s1.
    write(
        session_file(claude, "s2", "-home-dev-other"),
        assistant("m3", "r3", "2026-11-02T16:10:00.000Z", session="s2", input=2_000, output=0),
        assistant("m4", "r4", "2026-11-03T01:00:00.000Z", session="s2", input=0, output=2_000),
    )
    ingest(conn, settings, Pricer())


def test_session_defaults_to_the_project_of_the_working_directory(
    home: Path, conn: Conn, settings: Settings
) -> None:
    _fill(home, conn, settings)
    assert project_slugs("/home/dev/app") == ("-home-dev-app", "-home-dev-app")
    assert project_slugs("/home/dev/my_app.v2") == ("-home-dev-my-app-v2", "-home-dev-my_app-v2")
    s = session_usage(conn, settings, cwd="/home/dev/app")
    assert s.session_id == "s1"
    assert s.requests == 2
    assert s.duration_minutes == 90
    # sonnet 1k in/1k out = 0.003 + 0.015; haiku 1k/1k = 0.001 + 0.005
    assert s.cost_usd == Decimal("0.024")
    assert [m.model for m in s.models] == ["claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001"]
    assert s.burn_rate is not None
    assert s.burn_rate.cost_per_hour_usd == Decimal("0.016")


def test_session_falls_back_to_the_most_recent_one(home: Path, conn: Conn, settings: Settings) -> None:
    """...and says so: it is not the folder's session."""
    _fill(home, conn, settings)
    fallback = session_usage(conn, settings, cwd="/somewhere/else")
    assert fallback.session_id == "s2"
    assert (
        f"no session in /somewhere/else: this is the most recent one, in {fallback.project}"
        in (fallback.warnings[0])
    )
    here = session_usage(conn, settings, cwd="/home/dev/app")
    assert not [w for w in here.warnings if w.startswith("no session in")]


def test_unknown_session_says_how_to_fix(home: Path, conn: Conn, settings: Settings) -> None:
    _fill(home, conn, settings)
    with pytest.raises(NotFoundError, match="give no session id for the latest one"):
        session_usage(conn, settings, session_id="nope")


def test_no_usage_at_all_says_where_to_look(conn: Conn, settings: Settings) -> None:
    with pytest.raises(NotFoundError, match="doctor"):
        session_usage(conn, settings)


def test_subscription_billing_labels_the_cost(
    home: Path, conn: Conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COST_MCP_CLAUDE_CODE_BILLING", "subscription")
    sub = load_settings()
    _fill(home, conn, sub)
    s = session_usage(conn, sub, session_id="s1")
    assert s.cost_basis == "api-equivalent"
    assert any("subscription" in w for w in s.warnings)


def test_blocks_split_on_five_hours_with_a_gap(home: Path, conn: Conn, settings: Settings) -> None:
    _fill(home, conn, settings)
    now = datetime(2026, 11, 3, 2, 0, tzinfo=UTC)
    result = usage_blocks(conn, settings, days=3, now=now)
    spans = [(b.start, b.end, b.is_gap, b.requests) for b in result.blocks]
    assert spans == [
        ("2026-11-02T09:00:00.000Z", "2026-11-02T14:00:00.000Z", False, 2),
        ("2026-11-02T15:30:00.000Z", "2026-11-02T16:10:00.000Z", True, 0),
        ("2026-11-02T16:00:00.000Z", "2026-11-02T21:00:00.000Z", False, 1),
        ("2026-11-02T21:10:00.000Z", "2026-11-03T01:00:00.000Z", True, 0),
        ("2026-11-03T01:00:00.000Z", "2026-11-03T06:00:00.000Z", False, 1),
    ]
    assert result.active is not None
    assert result.active.start == "2026-11-03T01:00:00.000Z"


def test_active_block_projection_and_token_limit(home: Path, conn: Conn, settings: Settings) -> None:
    claude = home / "claude"
    write(
        session_file(claude, "s9"),
        assistant("a1", "q1", "2026-11-04T10:00:00.000Z", session="s9", input=0, output=60_000),
        assistant("a2", "q2", "2026-11-04T11:00:00.000Z", session="s9", input=0, output=60_000),
    )
    ingest(conn, settings, Pricer())
    now = datetime(2026, 11, 4, 11, 0, tzinfo=UTC)
    result = usage_blocks(conn, settings, days=1, token_limit=150_000, now=now)
    active = result.active
    assert active is not None
    assert active.burn_rate is not None
    assert active.burn_rate.tokens_per_minute == 2_000  # 120k tokens over 60 minutes
    assert active.projection is not None
    assert active.projection.remaining_minutes == 240
    assert active.projection.total_tokens == 120_000 + 2_000 * 240
    assert active.token_limit_status is not None
    assert active.token_limit_status.status == "exceeds"


def test_a_first_call_over_the_token_limit_is_held_to_it_without_a_rate(
    home: Path, conn: Conn, settings: Settings
) -> None:
    """One call so far: no burn rate and no projection can be measured, but the block has already
    used more than the limit, so it says so (it used to show no status at all)."""
    write(
        session_file(home / "claude", "s8"),
        assistant("b1", "q1", "2026-11-04T10:00:00.000Z", session="s8", input=0, output=30_000),
    )
    ingest(conn, settings, Pricer())
    now = datetime(2026, 11, 4, 10, 30, tzinfo=UTC)
    active = usage_blocks(conn, settings, days=1, token_limit=20_000, now=now).active
    assert active is not None and active.burn_rate is None and active.projection is None
    assert active.token_limit_status is not None
    assert active.token_limit_status.status == "exceeds"
    assert active.token_limit_status.projected_tokens == 30_000
    assert active.token_limit_status.percent_used == 150.0
    under = usage_blocks(conn, settings, days=1, token_limit=100_000, now=now).active
    assert under is not None and under.token_limit_status is not None
    assert under.token_limit_status.status == "ok"


def test_day_session_and_block_views_agree(home: Path, conn: Conn, settings: Settings) -> None:
    _fill(home, conn, settings)
    per_day = conn.execute(
        "SELECT SUM(cost_nanos), SUM(input_tokens + output_tokens) FROM usage_events WHERE counted = 1 "
        "GROUP BY ts_ms / 86400000"
    ).fetchall()
    day_cost = sum(Decimal(r[0]) for r in per_day) / 10**9
    sessions = [session_usage(conn, settings, session_id=s) for s in ("s1", "s2")]
    blocks = usage_blocks(conn, settings, days=30, now=datetime(2026, 11, 5, tzinfo=UTC)).blocks
    assert sum(s.cost_usd or Decimal(0) for s in sessions) == day_cost
    assert sum(b.cost_usd or Decimal(0) for b in blocks) == day_cost
    assert sum(b.tokens.total_tokens for b in blocks) == sum(s.tokens.total_tokens for s in sessions)


def test_calls_with_no_known_price_are_counted_apart_never_as_zero(
    home: Path, conn: Conn, settings: Settings
) -> None:
    """A block and a session with calls of an unknown model: the cost is that of the priced calls,
    the unpriced ones are counted beside it and named in the warnings, with the fix."""
    write(
        session_file(home / "claude", "s7"),
        assistant("p1", "q1", "2026-11-04T10:00:00.000Z", session="s7", input=100_000, output=0),
        assistant("u1", "q2", "2026-11-04T10:10:00.000Z", session="s7", model="mystery-9", input=5, output=0),
        assistant("u2", "q3", "2026-11-04T10:20:00.000Z", session="s7", model="mystery-9", input=5, output=0),
    )
    ingest(conn, settings, Pricer())
    result = usage_blocks(conn, settings, days=1, now=datetime(2026, 11, 4, 11, 0, tzinfo=UTC))
    [block] = result.blocks
    assert (block.requests, block.cost_usd, block.unpriced_requests) == (3, Decimal("0.3"), 2)
    assert result.active == block
    [note] = [w for w in result.warnings if "mystery-9" in w]
    assert "2 call(s) have no known price" in note and str(settings.prices_file) in note
    session = session_usage(conn, settings, "s7")
    assert (session.cost_usd, session.unpriced_requests) == (Decimal("0.3"), 2)
    [note] = [w for w in session.warnings if "mystery-9" in w]
    assert "2 call(s) (10 tokens) have no known price and are not in cost_usd" in note
    assert str(settings.prices_file) in note
