"""spend_forecast: burn rates, projection, anomalies with their causes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from cost_mcp.analytics.forecast import spend_forecast
from cost_mcp.config import Settings
from cost_mcp.money import format_usd, from_nanos
from cost_mcp.periods import resolve_period
from cost_mcp.pricing import Pricer, Tokens
from cost_mcp.sources.reported import record_call
from cost_mcp.store.connection import Conn

SET_ON = date(2026, 12, 1)
"""The day a subscription is set or removed on here (the configured timezone's, as callers pass it)."""

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def spend(conn: Conn, day: datetime, usd: int, agent: str = "steady", model: str = "gpt-4o") -> None:
    # gpt-4o input is a flat $2.50 per million tokens
    record_call(
        conn,
        Pricer(),
        provider="openai",
        model=model,
        tokens=Tokens(input=usd * 400_000),
        agent=agent,
        timestamp=day,
        now=NOW,
    )


def test_burn_rates_projection_and_an_anomalous_day(conn: Conn, settings: Settings) -> None:
    for back in range(1, 40):  # $2 a day for 39 days
        spend(conn, NOW - timedelta(days=back), 2)
    spend(conn, datetime(2026, 11, 12, 15, tzinfo=UTC), 10, agent="runaway")  # Nov 12: $12
    p = resolve_period("this_month", tz=settings.tz, now=NOW)
    result = spend_forecast(conn, settings, p, now=NOW)
    assert result.days_elapsed == 20
    assert result.days_in_period == 30
    # Nov 1..19 at $2 plus $10 extra (today has nothing yet)
    assert result.spent_usd == Decimal(48)
    assert result.burn_rate_period_usd_per_day == Decimal("2.4")
    assert result.burn_rate_7d_usd_per_day == Decimal(2)
    assert result.projected_usd == Decimal(68)  # 48 + 10 days x $2
    [anomaly] = result.anomalies
    assert anomaly.day == "2026-11-12"
    assert anomaly.cost_usd == Decimal(12)
    assert anomaly.baseline_usd == Decimal(2)
    assert anomaly.ratio == 6.0
    assert anomaly.top_agents[0].startswith("runaway")


def test_too_little_history_finds_no_anomaly_and_says_so(conn: Conn, settings: Settings) -> None:
    spend(conn, NOW - timedelta(days=2), 1)
    spend(conn, NOW - timedelta(days=1), 50)
    p = resolve_period("this_month", tz=settings.tz, now=NOW)
    result = spend_forecast(conn, settings, p, now=NOW)
    assert result.anomalies == []
    assert any("history" in w for w in result.warnings)


def test_seat_fees_count_to_today_and_the_projection_adds_the_rest(conn: Conn, settings: Settings) -> None:
    from cost_mcp.analytics import subscriptions

    # A $300 seat from Nov 1 ($10 a day) beside $2 a day of API calls; seen on Nov 20.
    subscriptions.set_subscription(
        conn, "max", "anthropic", Decimal(300), "monthly", "2026-11-01", today=SET_ON
    )
    for back in range(1, 20):
        spend(conn, NOW - timedelta(days=back), 2)
    p = resolve_period("this_month", tz=settings.tz, now=NOW)
    f = spend_forecast(conn, settings, p, now=NOW)
    assert f.spent_usd == Decimal(238)  # 20 seat days ($200) and 19 days of calls ($38)
    assert f.burn_rate_7d_usd_per_day == Decimal(2)  # usage only: seat fees are not extrapolated
    assert f.projected_usd == Decimal(358)  # + $2 x 10 days left + the seat's last 10 days ($100)


def test_a_period_that_ended_still_gives_this_weeks_rate(conn: Conn, settings: Settings) -> None:
    spend(conn, datetime(2026, 9, 10, 12, tzinfo=UTC), 5)  # in September
    for back in range(1, 8):  # $3 a day over the 7 days before today
        spend(conn, NOW - timedelta(days=back), 3)
    p = resolve_period(start="2026-09-01", end="2026-09-30", tz=settings.tz, now=NOW)
    f = spend_forecast(conn, settings, p, now=NOW)
    assert f.spent_usd == Decimal(5)
    assert f.days_elapsed == f.days_in_period == 30
    assert f.burn_rate_period_usd_per_day == Decimal("0.166666667")  # $5 over 30 days, to the nano-dollar
    assert f.burn_rate_7d_usd_per_day == Decimal(3)  # was $0: those days lay outside September's read
    assert f.projected_usd == Decimal(5)  # no day left to extrapolate


def test_calls_with_no_price_are_said_not_shown_as_nothing(conn: Conn, settings: Settings) -> None:
    # spent_usd read $0.00 for a month of calls no price was known for, and nothing said so.
    spend(conn, NOW - timedelta(days=2), 1, model="no-such-model-x")
    p = resolve_period("this_month", tz=settings.tz, now=NOW)
    result = spend_forecast(conn, settings, p, now=NOW)
    assert result.spent_usd == 0
    assert any("no-such-model-x: 1 call(s)" in w and "no known price" in w for w in result.warnings)


def test_an_unusual_days_top_models_and_agents_name_seat_fees_as_such(conn: Conn, settings: Settings) -> None:
    """A seat fee has no model or agent: among an unusual day's top models it is
    "(seat fees)" as in model_breakdown, not "(unknown)", which read as spend the ledger could not place."""
    from cost_mcp.analytics import subscriptions

    subscriptions.set_subscription(
        conn, "max", "anthropic", Decimal(600), "yearly", "2026-01-01", today=SET_ON
    )
    for back in range(1, 40):
        spend(conn, NOW - timedelta(days=back), 2)
    spend(conn, datetime(2026, 11, 12, 15, tzinfo=UTC), 10, agent="runaway")
    p = resolve_period("this_month", tz=settings.tz, now=NOW)
    [anomaly] = spend_forecast(conn, settings, p, now=NOW).anomalies
    assert anomaly.day == "2026-11-12"
    assert anomaly.top_models[0] == "gpt-4o ($12.00)"
    assert anomaly.top_models[1] == "(seat fees) ($1.64)"  # $600 / 365
    assert anomaly.top_agents[0] == "runaway ($10.00)"
    assert "(seat fees) ($1.64)" in anomaly.top_agents
    assert not any("(unknown)" in t for t in (*anomaly.top_models, *anomaly.top_agents))


def test_an_unusual_days_tiny_top_model_is_not_shown_as_free(conn: Conn, settings: Settings) -> None:
    """The QA case (h-qacents): a model that cost a fraction of a cent on an unusual day was listed
    as "gpt-4o-mini (0.00 USD)", as if free, in a format no other view uses; it now reads as
    format_usd shows every amount, to its first digit other than 0."""
    for back in range(1, 40):
        spend(conn, NOW - timedelta(days=back), 2)
    unusual = datetime(2026, 11, 12, 15, tzinfo=UTC)
    spend(conn, unusual, 10, agent="runaway")
    price = record_call(
        conn,
        Pricer(),
        provider="openai",
        model="gpt-4o-mini",
        tokens=Tokens(input=20_000),
        agent="steady",
        timestamp=unusual,
        now=NOW,
    )[2]
    assert price is not None
    cost = from_nanos(price.total_nanos)  # as the ledger holds it
    assert 0 < cost < Decimal("0.005")  # to the cent, $0.00
    p = resolve_period("this_month", tz=settings.tz, now=NOW)
    [anomaly] = spend_forecast(conn, settings, p, now=NOW).anomalies
    assert anomaly.top_models[1].startswith("gpt-4o-mini (")
    assert not anomaly.top_models[1].endswith(("0.00 USD)", "$0.00)"))  # never as if it cost nothing
    assert anomaly.top_models == ["gpt-4o ($12.00)", f"gpt-4o-mini ({format_usd(cost)})"]
