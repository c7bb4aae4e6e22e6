"""get_spend and model_breakdown over a real ledger: basis rules, grouping, timezones, filters."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from mcp import Client

from cost_mcp.analytics import subscriptions
from cost_mcp.analytics.breakdown import model_breakdown, summary_text
from cost_mcp.analytics.claude_code import session_usage, usage_blocks
from cost_mcp.analytics.spend import Filters, get_spend, resolve
from cost_mcp.analytics.usage import DISPLAY_MODE_ZERO
from cost_mcp.config import Settings, load_settings
from cost_mcp.errors import InvalidInputError
from cost_mcp.periods import resolve_period
from cost_mcp.pricing import Pricer
from cost_mcp.sources.claude_code import ingest
from cost_mcp.store import write_transaction
from cost_mcp.store.buckets import DAY_MS, Bucket, replace_range
from cost_mcp.store.connection import Conn
from tests.sources.claude_logs import assistant, session_file, write

NOV2 = int(datetime(2026, 11, 2, tzinfo=UTC).timestamp()) * 1000


def logs(home: Path, *lines: dict[str, object], session: str = "s1") -> None:
    write(session_file(home / "claude", session), *lines)


def billed(conn: Conn, provider: str, day_ms: int, *buckets: Bucket, kind: str = "cost") -> None:
    with write_transaction(conn):
        replace_range(conn, provider, kind, day_ms, day_ms + DAY_MS, list(buckets))  # type: ignore[arg-type]


def spend(conn: Conn, settings: Settings, group_by: list[str] | None = None, **kwargs: object) -> object:
    p = resolve(settings, None, "2026-11-01", "2026-11-05", kwargs.pop("tz", None))  # type: ignore[arg-type]
    return get_spend(conn, settings, p, group_by or [], Filters(**kwargs))  # type: ignore[arg-type]


def test_billed_and_estimated_on_one_provider_day_count_once(
    home: Path, conn: Conn, settings: Settings
) -> None:
    # 1k in + 1k out on Sonnet 4.5 = $0.018 estimated on Nov 2 and on Nov 3; Anthropic billed $0.05 on Nov 2.
    logs(
        home,
        assistant("m1", "r1", "2026-11-02T09:00:00.000Z", input=1_000, output=1_000),
        assistant("m2", "r2", "2026-11-03T09:00:00.000Z", input=1_000, output=1_000),
    )
    ingest(conn, settings, Pricer())
    billed(
        conn, "anthropic", NOV2, Bucket(NOV2, NOV2 + DAY_MS, cost_nanos=50_000_000, model="claude-sonnet-4-5")
    )
    result = spend(conn, settings, ["day", "agent"])
    assert result.total_usd == Decimal("0.068")  # type: ignore[attr-defined]
    assert result.by_basis == {"billed": Decimal("0.05"), "estimated": Decimal("0.018")}  # type: ignore[attr-defined]
    rows = {(r.group["day"], r.basis): r for r in result.rows}  # type: ignore[attr-defined]
    assert rows[("2026-11-02", "billed")].group["agent"] is None
    assert ("2026-11-02", "estimated") not in rows
    # attribution still says which agent the billed day came from
    [attr] = result.attribution  # type: ignore[attr-defined]
    assert attr.group == {"day": "2026-11-02", "agent": "claude-code"}
    assert attr.cost_usd == Decimal("0.018")
    assert "billing data covers the UTC day" in attr.reason


def test_a_billed_day_with_no_rows_does_not_hide_local_spend(
    home: Path, conn: Conn, settings: Settings
) -> None:
    logs(home, assistant("m1", "r1", "2026-11-02T09:00:00.000Z", input=1_000, output=1_000))
    ingest(conn, settings, Pricer())
    billed(conn, "anthropic", NOV2)  # synced, no cost row: nothing billed *yet*
    result = spend(conn, settings)
    assert result.total_usd == Decimal("0.018")  # type: ignore[attr-defined]
    assert not result.attribution  # type: ignore[attr-defined]


def test_other_providers_days_are_not_covered(home: Path, conn: Conn, settings: Settings) -> None:
    logs(home, assistant("m1", "r1", "2026-11-02T09:00:00.000Z", input=1_000, output=1_000))
    ingest(conn, settings, Pricer())
    billed(conn, "openai", NOV2, Bucket(NOV2, NOV2 + DAY_MS, cost_nanos=7_000_000_000))
    result = spend(conn, settings, ["provider"])
    assert result.total_usd == Decimal("7.018")  # type: ignore[attr-defined]
    assert not result.attribution  # type: ignore[attr-defined]


def test_provider_usage_data_beats_local_estimates_but_not_billing(
    home: Path, conn: Conn, settings: Settings
) -> None:
    logs(home, assistant("m1", "r1", "2026-11-02T09:00:00.000Z", input=1_000, output=1_000))
    ingest(conn, settings, Pricer())
    billed(
        conn,
        "anthropic",
        NOV2,
        Bucket(NOV2, NOV2 + DAY_MS, cost_nanos=30_000_000, input_tokens=10_000, requests=3),
        kind="usage",
    )
    assert spend(conn, settings).total_usd == Decimal("0.03")  # type: ignore[attr-defined]
    billed(conn, "anthropic", NOV2, Bucket(NOV2, NOV2 + DAY_MS, cost_nanos=40_000_000))
    result = spend(conn, settings, ["source"])
    assert result.total_usd == Decimal("0.04")  # type: ignore[attr-defined]
    assert {a.group["source"] for a in result.attribution} == {  # type: ignore[attr-defined]
        "claude_code",
        "anthropic-usage",
    }


def test_resyncing_a_day_replaces_it(home: Path, conn: Conn, settings: Settings) -> None:
    billed(conn, "openai", NOV2, Bucket(NOV2, NOV2 + DAY_MS, cost_nanos=1_000_000_000))
    billed(conn, "openai", NOV2, Bucket(NOV2, NOV2 + DAY_MS, cost_nanos=2_500_000_000))
    assert spend(conn, settings).total_usd == Decimal("2.5")  # type: ignore[attr-defined]


def test_filtering_by_agent_answers_from_local_usage(home: Path, conn: Conn, settings: Settings) -> None:
    logs(home, assistant("m1", "r1", "2026-11-02T09:00:00.000Z", input=1_000, output=1_000))
    ingest(conn, settings, Pricer())
    billed(conn, "anthropic", NOV2, Bucket(NOV2, NOV2 + DAY_MS, cost_nanos=50_000_000))
    result = spend(conn, settings, agents=["claude-code"])
    assert result.total_usd == Decimal("0.018")  # type: ignore[attr-defined]
    assert any("estimated usage" in w for w in result.warnings)  # type: ignore[attr-defined]


def test_seat_fees_by_agent_are_not_said_to_be_billed_amounts(
    home: Path, conn: Conn, settings: Settings
) -> None:
    """A solo user with a Claude Max seat and no provider key, grouping by agent or session, was
    told "billed amounts have no agent or session (shown as null); see attribution for the
    estimated split": nothing was billed and nothing was in attribution. A bill still says so."""
    logs(home, assistant("m1", "r1", "2026-11-02T09:00:00.000Z", input=1_000, output=1_000))
    ingest(conn, settings, Pricer())
    subscriptions.set_subscription(
        conn, "max", "anthropic", Decimal(30), "monthly", "2026-11-01", today=date(2026, 11, 5)
    )
    billed_note = "billed amounts have no agent or session"
    for dim in ("agent", "session"):
        result = spend(conn, settings, [dim])
        assert {r.basis for r in result.rows} == {"subscription", "estimated"}  # type: ignore[attr-defined]
        assert not any(billed_note in w for w in result.warnings), result.warnings  # type: ignore[attr-defined]
    billed(conn, "openai", NOV2, Bucket(NOV2, NOV2 + DAY_MS, cost_nanos=1_000_000_000))
    result = spend(conn, settings, ["agent"])
    assert any(billed_note in w for w in result.warnings)  # type: ignore[attr-defined]


def test_rollup_agrees_with_the_events(home: Path, conn: Conn, settings: Settings) -> None:
    for i in range(40):
        logs(
            home,
            assistant(
                f"m{i}",
                f"r{i}",
                f"2026-11-0{1 + i % 5}T{i % 24:02d}:{i % 60:02d}:00.000Z",
                input=100 * i,
                output=7 * i,
                cache_read=1_000 * i,
            ),
            session=f"s{i % 3}",
        )
    ingest(conn, settings, Pricer())
    by_day = spend(conn, settings, ["day"])
    by_session = spend(conn, settings, ["day", "session"])
    day_totals: dict[str, Decimal] = {}
    for r in by_session.rows:  # type: ignore[attr-defined]
        day_totals[r.group["day"]] = day_totals.get(r.group["day"], Decimal(0)) + r.cost_usd
    assert day_totals == {r.group["day"]: r.cost_usd for r in by_day.rows}  # type: ignore[attr-defined]
    # and both equal the events summed directly, session by session
    raw = conn.execute(
        "SELECT ts_ms / 86400000, session_id, SUM(cost_nanos), COUNT(*) "
        "FROM usage_events WHERE counted = 1 GROUP BY 1, 2"
    ).fetchall()
    epoch = date(1970, 1, 1)
    assert {(str(epoch + timedelta(days=d)), s_, Decimal(n) / 10**9, c) for d, s_, n, c in raw} == {
        (r.group["day"], r.group["session"], r.cost_usd, r.requests)
        for r in by_session.rows  # type: ignore[attr-defined]
    }


def test_rows_sum_to_the_total_exactly(home: Path, conn: Conn, settings: Settings) -> None:
    for i in range(25):
        logs(
            home,
            assistant(f"m{i}", f"r{i}", f"2026-11-0{1 + i % 4}T10:00:00.000Z", input=333 * i, output=71),
            session=f"s{i % 4}",
        )
    ingest(conn, settings, Pricer())
    billed(conn, "openai", NOV2, Bucket(NOV2, NOV2 + DAY_MS, cost_nanos=123_456_789, model="gpt-5"))
    for group_by in ([], ["provider"], ["day", "model"], ["session"], ["basis", "week"], ["month", "source"]):
        result = spend(conn, settings, group_by)
        assert sum(r.cost_usd for r in result.rows) == result.total_usd  # type: ignore[attr-defined]


def test_days_follow_the_requested_timezone(home: Path, conn: Conn, settings: Settings) -> None:
    # 23:30 UTC on Nov 2 is already Nov 3 in Paris (UTC+1 in November).
    logs(home, assistant("m1", "r1", "2026-11-02T23:30:00.000Z", input=1_000, output=0))
    ingest(conn, settings, Pricer())
    utc = spend(conn, settings, ["day"], tz="UTC")
    paris = spend(conn, settings, ["day"], tz="Europe/Paris")
    assert [r.group["day"] for r in utc.rows] == ["2026-11-02"]  # type: ignore[attr-defined]
    assert [r.group["day"] for r in paris.rows] == ["2026-11-03"]  # type: ignore[attr-defined]
    # A zone name in the wrong case or with spaces around it (as a model may write it) is that zone.
    for spelt in ("europe/paris", " Europe/Paris "):
        loose = spend(conn, settings, ["day"], tz=spelt)
        assert loose.period.timezone == "Europe/Paris"  # type: ignore[attr-defined]
        assert [r.group["day"] for r in loose.rows] == ["2026-11-03"]  # type: ignore[attr-defined]


def test_dst_change_day_holds_25_hours_of_usage(home: Path, conn: Conn, settings: Settings) -> None:
    # Europe/Paris 2026-10-25 is 25 hours long: 22:00Z on Oct 24 to 23:00Z on Oct 25.
    logs(
        home,
        assistant("a", "r1", "2026-10-24T22:00:00.000Z", input=1_000, output=0),
        assistant("b", "r2", "2026-10-25T22:59:00.000Z", input=1_000, output=0),
        assistant("c", "r3", "2026-10-25T23:00:00.000Z", input=1_000, output=0),
    )
    ingest(conn, settings, Pricer())
    p = resolve(settings, None, "2026-10-24", "2026-10-26", "Europe/Paris")
    result = get_spend(conn, settings, p, ["day"])
    assert {r.group["day"]: r.requests for r in result.rows} == {"2026-10-25": 2, "2026-10-26": 1}


def test_cost_modes(home: Path, conn: Conn, monkeypatch: pytest.MonkeyPatch) -> None:
    line = assistant("m1", "r1", "2026-11-02T09:00:00.000Z", input=100_000, output=0)
    line["costUSD"] = 0.5
    logs(home, line, assistant("m2", "r2", "2026-11-02T10:00:00.000Z", input=100_000, output=0))
    totals = {}
    said = {}
    for mode in ("auto", "calculate", "display"):
        monkeypatch.setenv("COST_MCP_COST_MODE", mode)
        s = load_settings()
        ingest(conn, s, Pricer())
        result = spend(conn, s)
        totals[mode] = result.total_usd  # type: ignore[attr-defined]
        said[mode] = DISPLAY_MODE_ZERO in result.warnings  # type: ignore[attr-defined]
        # The session and block views say it too (m2 logged no cost, so it counts $0 there).
        session = session_usage(conn, s, session_id="s1")
        blocks = usage_blocks(conn, s, days=2, now=datetime(2026, 11, 2, 11, tzinfo=UTC))
        assert (DISPLAY_MODE_ZERO in session.warnings, DISPLAY_MODE_ZERO in blocks.warnings) == (
            mode == "display",
        ) * 2
    assert totals == {"auto": Decimal("0.8"), "calculate": Decimal("0.6"), "display": Decimal("0.5")}
    # display counts m2 as $0: said, never silently.
    assert said == {"auto": False, "calculate": False, "display": True}


def test_subscription_billing_moves_claude_code_to_attribution(
    home: Path, conn: Conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COST_MCP_CLAUDE_CODE_BILLING", "subscription")
    s = load_settings()
    logs(home, assistant("m1", "r1", "2026-11-02T09:00:00.000Z", input=1_000, output=1_000))
    ingest(conn, s, Pricer())
    result = spend(conn, s)
    assert result.total_usd == 0  # type: ignore[attr-defined]
    assert "subscription" in result.attribution[0].reason  # type: ignore[attr-defined]


def test_unpriced_models_are_warned_about_not_zeroed(home: Path, conn: Conn, settings: Settings) -> None:
    logs(home, assistant("m1", "r1", "2026-11-02T09:00:00.000Z", model="claude-nova-9"))
    ingest(conn, settings, Pricer())
    result = spend(conn, settings, ["model"])
    assert result.rows[0].unpriced_requests == 1  # type: ignore[attr-defined]
    assert any("claude-nova-9" in w and "no known price" in w for w in result.warnings)  # type: ignore[attr-defined]


def test_a_basis_of_unpriced_calls_only_says_so_beside_its_amount(
    home: Path, conn: Conn, settings: Settings
) -> None:
    # Billed $0.05 on Nov 2; the only estimated call (Nov 3) is of a model with no known price.
    logs(home, assistant("m1", "r1", "2026-11-03T09:00:00.000Z", model="claude-nova-9"))
    ingest(conn, settings, Pricer())
    billed(
        conn, "anthropic", NOV2, Bucket(NOV2, NOV2 + DAY_MS, cost_nanos=50_000_000, model="claude-sonnet-4-5")
    )
    result = spend(conn, settings, ["provider"])
    # by_basis alone read "estimated: $0" as if nothing was spent; its calls are counted beside it.
    assert result.by_basis == {"billed": Decimal("0.05"), "estimated": Decimal(0)}  # type: ignore[attr-defined]
    assert result.unpriced_by_basis == {"estimated": 1}  # type: ignore[attr-defined]
    assert result.unpriced_requests == 1  # type: ignore[attr-defined]


def test_model_breakdowns_folded_row_cannot_be_taken_for_a_model_named_other(
    home: Path, conn: Conn, settings: Settings
) -> None:
    # model_breakdown folded into "other", get_spend into "(other)": a model logged as "other" (a
    # gateway's alias, a local model) and the fold read as two rows of one model.
    logs(
        home,
        assistant("m1", "r1", "2026-11-02T09:00:00.000Z", input=1_000, output=1_000),
        assistant("m2", "r2", "2026-11-02T10:00:00.000Z", model="other"),
        assistant("m3", "r3", "2026-11-02T11:00:00.000Z", model="zzz-local-model"),
    )
    ingest(conn, settings, Pricer())
    p = resolve(settings, None, "2026-11-01", "2026-11-05", None)
    result = model_breakdown(conn, settings, p, top_n=2)
    assert [(m.model, m.folded_models) for m in result.models] == [
        ("claude-sonnet-4-5-20250929", None),
        ("other", None),
        ("(other)", 1),
    ]
    by_model = spend(conn, settings, ["model"])
    assert {r.group["model"] for r in by_model.rows} == {  # type: ignore[attr-defined]
        "claude-sonnet-4-5-20250929",
        "other",
        "zzz-local-model",
    }


def test_nothing_configured_says_how_to_start(conn: Conn, settings: Settings) -> None:
    result = spend(conn, settings)
    assert result.total_usd == 0  # type: ignore[attr-defined]
    assert any("ANTHROPIC_ADMIN_KEY" in w and "CLAUDE_CONFIG_DIR" in w for w in result.warnings)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("group_by", "tz", "message"),
    [(["colour"], None, "cannot group by 'colour'"), ([], "Mars/Base", "unknown timezone")],
)
def test_bad_arguments_name_the_fix(
    conn: Conn, settings: Settings, group_by: list[str], tz: str | None, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        spend(conn, settings, group_by, tz=tz)


@pytest.mark.parametrize(
    ("tz", "note"),
    [
        (
            "EST",
            "timezone EST is UTC-05:00 all year, with no daylight saving time: name a place, such as "
            "'America/New_York', for its local days",
        ),
        (
            "Etc/GMT+5",
            "timezone Etc/GMT+5 is UTC-05:00 all year (POSIX signs are the reverse of ISO 8601's): name a "
            "place, such as 'America/New_York', for its local days",
        ),
    ],
)
def test_a_zone_without_the_clock_changes_its_name_suggests_says_so(
    conn: Conn, settings: Settings, tz: str, note: str
) -> None:
    """The QA case (h-qatime F3): a New Yorker typing EST in July got every day an hour off (EST
    never changes to daylight time), and Etc/GMT+5 read as UTC+5 is UTC-5, in silence."""
    assert note in spend(conn, settings, tz=tz).warnings  # type: ignore[attr-defined]
    for place in ("America/New_York", "Asia/Kolkata", "UTC"):
        assert not [w for w in spend(conn, settings, tz=place).warnings if "timezone" in w]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("tz", "hint"),
    [
        ("kolkata", "did you mean 'Asia/Kolkata'?"),
        ("+05:30", "a fixed offset such as '+05:30' is not a place"),
    ],
)
def test_an_unknown_timezone_that_names_a_city_or_an_offset_is_told_the_zone(
    conn: Conn, settings: Settings, tz: str, hint: str
) -> None:
    with pytest.raises(InvalidInputError) as refused:
        spend(conn, settings, tz=tz)
    assert hint in str(refused.value)


def test_model_breakdown_shares_trend_and_other(home: Path, conn: Conn, settings: Settings) -> None:
    # previous period (Oct 27-31): sonnet $0.018; this period: sonnet $0.036, haiku $0.006, opus
    logs(
        home,
        assistant("p1", "q1", "2026-10-28T09:00:00.000Z", input=1_000, output=1_000),
        assistant("m1", "r1", "2026-11-02T09:00:00.000Z", input=1_000, output=1_000),
        assistant("m2", "r2", "2026-11-03T09:00:00.000Z", input=1_000, output=1_000),
        assistant(
            "m3",
            "r3",
            "2026-11-03T10:00:00.000Z",
            input=1_000,
            output=1_000,
            model="claude-haiku-4-5-20251001",
        ),
        assistant(
            "m4", "r4", "2026-11-03T11:00:00.000Z", input=100, output=100, model="claude-opus-4-1-20250805"
        ),
    )
    ingest(conn, settings, Pricer())
    p = resolve(settings, None, "2026-11-01", "2026-11-05", None)
    result = model_breakdown(conn, settings, p, top_n=2)
    assert result.previous_period.first_day == "2026-10-27"
    names = [m.model for m in result.models]
    # opus 100/100 = $0.009 outranks haiku 1k/1k = $0.006, which is folded into "(other)"
    assert names == ["claude-sonnet-4-5-20250929", "claude-opus-4-1-20250805", "(other)"]
    sonnet = result.models[0]
    assert sonnet.requests == 2
    assert sonnet.cost_usd == Decimal("0.036")
    assert sonnet.previous_cost_usd == Decimal("0.018")
    assert sonnet.trend_percent == 100.0
    assert sonnet.cost_per_request_usd == Decimal("0.018")
    assert sum(m.cost_usd or Decimal(0) for m in result.models) == result.total_usd
    assert round(sum(m.share_percent for m in result.models)) == 100


def test_a_month_in_progress_trends_against_as_many_days(home: Path, conn: Conn, settings: Settings) -> None:
    """On November 3, this month's 3 days are compared with October 29-31, not with 30 whole days
    of October (where a steady spend read as -90%)."""
    logs(
        home,
        *(
            assistant(f"o{day}", f"q{day}", f"2026-10-{day:02d}T09:00:00.000Z", input=1_000, output=1_000)
            for day in range(2, 32)
        ),
        *(
            assistant(f"n{day}", f"r{day}", f"2026-11-{day:02d}T09:00:00.000Z", input=1_000, output=1_000)
            for day in range(1, 4)
        ),
    )
    ingest(conn, settings, Pricer())
    now = datetime(2026, 11, 3, 12, tzinfo=UTC)
    p = resolve_period("this_month", tz=settings.tz, now=now)
    result = model_breakdown(conn, settings, p, now=now)
    assert (result.previous_period.first_day, result.previous_period.last_day) == ("2026-10-29", "2026-10-31")
    [sonnet] = result.models
    assert (sonnet.cost_usd, sonnet.previous_cost_usd, sonnet.trend_percent) == (
        Decimal("0.054"),
        Decimal("0.054"),
        0.0,
    )
    assert result.previous_total_usd == Decimal("0.054")
    assert any("this_month is in progress: its 3 days so far" in w for w in result.warnings)
    # Once the month is over, the whole previous 30 days again, with no note.
    over = model_breakdown(conn, settings, p, now=datetime(2026, 12, 1, 12, tzinfo=UTC))
    assert over.previous_period.first_day == "2026-10-02"
    assert over.previous_total_usd == Decimal("0.54")
    assert not any("in progress" in w for w in over.warnings)


def test_summary_reads_at_a_glance(home: Path, conn: Conn, settings: Settings) -> None:
    logs(home, assistant("m1", "r1", "2026-11-02T09:00:00.000Z", input=1_000, output=1_000))
    ingest(conn, settings, Pricer())
    text = summary_text(conn, settings, now=datetime(2026, 11, 2, 12, tzinfo=UTC))
    assert "today: 2026-11-02: $0.02" in text
    assert "claude-sonnet-4-5-20250929" in text


def test_summary_shows_calls_with_no_price_as_unpriced(home: Path, conn: Conn, settings: Settings) -> None:
    logs(home, assistant("m1", "r1", "2026-11-02T09:00:00.000Z", model="no-such-model-x"))
    ingest(conn, settings, Pricer())
    text = summary_text(conn, settings, now=datetime(2026, 11, 2, 12, tzinfo=UTC))
    assert "today: 2026-11-02: unpriced (estimated unpriced)" in text
    assert "no-such-model-x: 1 call(s)" in text


def test_a_members_note_shows_the_teams_unpriced_calls(home: Path, conn: Conn, settings: Settings) -> None:
    from cost_mcp.analytics.spend import team_total_note
    from cost_mcp.periods import days_period

    logs(
        home,
        assistant("m1", "r1", "2026-11-02T09:00:00.000Z", input=1_000, output=1_000),
        assistant("m2", "r2", "2026-11-02T09:05:00.000Z", model="no-such-model-x"),
    )
    ingest(conn, settings, Pricer())
    p = days_period(date(2026, 11, 2), date(2026, 11, 2), tz=settings.tz)
    note = team_total_note(conn, settings, p, "ana@example.com")
    assert "the whole team spent $0.02 + unpriced in this period" in note


def test_sources_say_what_the_last_refresh_brought_in(home: Path, conn: Conn, settings: Settings) -> None:
    logs(home, assistant("m1", "r1", "2026-11-02T09:00:00.000Z"))
    ingest(conn, settings, Pricer())
    [logs_status] = spend(conn, settings).sources  # type: ignore[attr-defined]
    assert logs_status.last_refresh.startswith("read 1 new line(s) from 1 file(s): 1 new call(s)")
    ingest(conn, settings, Pricer())
    [logs_status] = spend(conn, settings).sources  # type: ignore[attr-defined]
    assert logs_status.last_refresh.startswith("no new lines (1 file(s) checked")


def test_summary_shows_budgets_when_there_are_some(home: Path, conn: Conn, settings: Settings) -> None:
    from cost_mcp.analytics.budgets import set_budget
    from cost_mcp.models import BudgetScope

    logs(home, assistant("m1", "r1", "2026-11-02T09:00:00.000Z", input=1_000, output=1_000))
    ingest(conn, settings, Pricer())
    assert "budgets:" not in summary_text(conn, settings, now=datetime(2026, 11, 2, 12, tzinfo=UTC))
    set_budget(conn, "monthly", Decimal(1), "month", BudgetScope())
    text = summary_text(conn, settings, now=datetime(2026, 11, 2, 12, tzinfo=UTC))
    assert "monthly: $0.02 of $1.00 per month (1.8%)" in text


@pytest.mark.anyio
async def test_a_week_row_the_period_holds_part_of_says_which_days(
    home: Path, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """January 2027 by week in Kiritimati: the first row is named 2026-12-28, the Monday of its week,
    and held only Jan 1-3, read beside whole weeks as a cheap week with nothing to say so. The rows
    still tile the month (each call in one row, the rows summing to the total); the partial one now
    says which of its days it holds."""
    tz = ZoneInfo("Pacific/Kiritimati")
    # A call at 10:00 local on every day from Dec 29 to Feb 2: the oracle counts by zoneinfo's date.
    stamps = [datetime(2026, 12, 29, 10, tzinfo=tz) + timedelta(days=i) for i in range(36)]
    logs(
        home,
        *(
            assistant(f"m{i}", f"r{i}", t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"), output=100)
            for i, t in enumerate(stamps)
        ),
    )
    args = {"start": "2027-01-01", "end": "2027-01-31", "timezone": tz.key, "group_by": ["week"]}
    result = (await client.call_tool("get_spend", args)).structured_content
    assert result is not None
    january = [t for t in stamps if t.date().month == 1 and t.date().year == 2027]
    weeks: dict[str, int] = {}
    for t in january:
        monday = t.date() - timedelta(days=t.date().weekday())
        weeks[monday.isoformat()] = weeks.get(monday.isoformat(), 0) + 1
    assert {r["group"]["week"]: r["requests"] for r in result["rows"]} == weeks
    assert sum(Decimal(str(r["cost_usd"])) for r in result["rows"]) == Decimal(str(result["total_usd"]))
    notes = [w for w in result["warnings"] if w.startswith("the week row")]
    assert notes == [
        "the week row 2026-12-28 holds only 2027-01-01 to 2027-01-03, the days of its week "
        "(2026-12-28 to 2027-01-03) inside the period"
    ]  # Jan 25-31 is a whole week: nothing said of it
    # By month over whole months, nothing is said.
    args = {"start": "2027-01-01", "end": "2027-01-31", "timezone": tz.key, "group_by": ["month"]}
    whole = (await client.call_tool("get_spend", args)).structured_content
    assert whole is not None and not [w for w in whole["warnings"] if w.startswith("the month row")]


def test_summary_marks_a_budget_whose_bill_is_missing(
    home: Path, conn: Conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With OpenAI's key set and its bill never synced, the summary's budget line read "openai:
    $0.00 of $100.00 per month (0.0%), ok" as if nothing were spent, where `cost-mcp budget status`
    marks the row (budgets.with_missing_bills, the check budget_status and check_budget make); a
    budget of Claude Code's calls, which lacks nothing, keeps its plain figures."""
    from cost_mcp.analytics.budgets import set_budget
    from cost_mcp.models import BudgetScope

    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-" + "a" * 40)
    settings = load_settings()
    logs(home, assistant("m1", "r1", "2026-11-02T09:00:00.000Z", input=1_000, output=1_000))
    ingest(conn, settings, Pricer())
    set_budget(conn, "openai", Decimal(100), "month", BudgetScope(providers=["openai"]))
    set_budget(conn, "local", Decimal(1), "month", BudgetScope(agents=["claude-code"]))
    text = summary_text(conn, settings, now=datetime(2026, 11, 2, 12, tzinfo=UTC)).splitlines()
    assert "  openai: ≥$0.00 of $100.00 per month (≥0.0%), ok" in text, text
    assert "  local: $0.02 of $1.00 per month (1.8%), ok" in text, text
    partial = [line for line in text if line.startswith("note: PARTIAL: openai")]
    assert len(partial) == 1, text
