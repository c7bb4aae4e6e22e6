"""The dashboard in headless Chromium: no console errors, nothing fetched from elsewhere, totals equal to
get_spend's, budget crossings on the gauges, filters that change the numbers; a screenshot of each view."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from cost_mcp.analytics import budgets, dashboard, forecast, hourly, spend, subscriptions
from cost_mcp.analytics.vocabulary import SEAT_FEES
from cost_mcp.models import BudgetScope
from cost_mcp.money import format_usd
from cost_mcp.pricing import Pricer, Tokens
from cost_mcp.sources.reported import record_call
from cost_mcp.store import connect, write_transaction
from cost_mcp.store.buckets import Bucket, replace_range
from tests.web.conftest import THIRDS, Served, bill_thirds, call

VIEWS = ("model", "agent", "project", "member", "session")


@contextmanager
def opened(
    browser: Any, url: str, *, width: int = 1200, fake_clock: bool = False, timezone_id: str | None = None
) -> Iterator[Any]:
    """A page opened at ``url``, recording console errors and every request. ``fake_clock``: the
    page's timers run only when the test moves its clock on (``pg.clock.run_for``); ``timezone_id``:
    the browser's own timezone (else the machine's).

    ``pg.wait_for_function`` is given a function ("() => ..."), never a bare expression: Playwright
    evaluates a bare expression again with ``eval`` on each poll after the first, which the page's
    Content-Security-Policy (no 'unsafe-eval') refuses, so a wait not met at once failed with an
    EvalError (a function is evaluated once and then called)."""
    context = browser.new_context(viewport={"width": width, "height": 900}, timezone_id=timezone_id)
    pg = context.new_page()
    pg.errors = []
    pg.requests = []
    pg.on(
        "console", lambda m: pg.errors.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else 0
    )
    pg.on("pageerror", lambda e: pg.errors.append(f"pageerror: {e}"))
    pg.on("request", lambda r: pg.requests.append(r.url))
    if fake_clock:
        pg.clock.install()
    pg.goto(url)
    pg.wait_for_selector("body[data-ready]")
    try:
        yield pg
    finally:
        context.close()


@pytest.fixture
def page(browser: Any, served: Served) -> Iterator[Any]:
    """A page logged in with the one-time link."""
    with opened(browser, served.url) as pg:
        yield pg


def shown(pg: Any, selector: str) -> tuple[Decimal, str]:
    """The exact amount an element carries, and the text it shows."""
    el = pg.locator(selector)
    return Decimal(el.get_attribute("data-usd")), el.inner_text()


def reload(pg: Any) -> None:
    pg.reload()
    pg.wait_for_selector("body[data-ready]")


def rendered_again(pg: Any, change: Any) -> None:
    """Make a change on the page and wait until the dashboard has been drawn again."""
    before = pg.locator("body").get_attribute("data-renders")
    change()
    pg.wait_for_function("b => document.body.dataset.renders !== b", arg=before)


def test_loads_cleanly_and_asks_nothing_of_any_other_host(page: Any, served: Served) -> None:
    # the breakdowns not on show follow the first drawing, one request each
    page.wait_for_selector("body[data-complete]", state="attached")
    assert any("/api/dashboard?period=this_month&breakdowns=model" in u for u in page.requests)
    assert sum("/api/breakdown?" in u for u in page.requests) == 4
    assert page.errors == []
    origin = urlsplit(served.base).netloc
    elsewhere = [u for u in page.requests if not u.startswith("data:") and urlsplit(u).netloc != origin]
    assert elsewhere == []


def test_totals_shown_equal_get_spend(page: Any, served: Served) -> None:
    settings = served.settings
    conn = connect(settings.db)
    try:
        for card, period in (("today", "today"), ("week", "this_week"), ("month", "this_month")):
            p = spend.resolve(settings, period, None, None, None)
            want = spend.get_spend(conn, settings, p).total_usd
            amount, text = shown(page, f"#total-{card}")
            assert (amount, text) == (want, format_usd(want))
            assert want > 0
        # the unpriced call is marked, never counted as $0
        assert "unpriced" in page.locator("#card-month").inner_text()
        month = spend.get_spend(conn, settings, spend.resolve(settings, "this_month", None, None, None))
        assert shown(page, "#period-total")[0] == month.total_usd
        table = page.locator("#breakdown table").inner_text()
        assert "no-such-model-xyz" in table and "unpriced" in table
        # Its cost is unknown (null), not $0: the cell carries no amount, and nothing broke on it.
        cell = page.locator("#breakdown tr", has_text="no-such-model-xyz").locator("td > span > span")
        assert cell.first.inner_text() == "unpriced"
        assert cell.first.get_attribute("data-usd") is None
        # Its bar says so once: it read "unpriced estimated + 1 unpriced".
        bar = page.locator("#breakdown svg > text", has_text="unpriced")
        assert bar.all_text_contents() == ["1 unpriced estimated call"]
        assert page.errors == []
    finally:
        conn.close()


def test_a_total_of_unpriced_calls_only_reads_unpriced_not_zero(browser: Any, served: Served) -> None:
    # Filtered to the model with no known price, every total read "$0.00" in large type (the
    # Today card, its "estimated $0.00", the period's, the breakdown's, the hours'), where
    # `cost-mcp report` writes "unpriced": its cost is unknown, not nothing.
    with opened(browser, f"{served.url}&models=no-such-model-xyz") as pg:
        pg.wait_for_selector("body[data-complete]", state="attached")
        with served.ledger.use() as c:
            p = spend.resolve(served.settings, "today", None, None, None)
            got = spend.get_spend(c, served.settings, p, (), spend.Filters(models=["no-such-model-xyz"]))
        assert got.total_usd == 0 and sum(r.unpriced_requests for r in got.rows) == 1
        for total in ("#total-today", "#total-month", "#period-total", "#breakdown-total", "#hourly-total"):
            assert pg.locator(total).inner_text() == "unpriced", total
        assert "estimated unpriced" in pg.locator("#card-today").inner_text()
        assert "$0.00" not in pg.locator("#cards").inner_text()
        assert pg.errors == []


def test_an_hour_of_unpriced_calls_only_is_unpriced_not_zero(
    page: Any, served: Served, hour_of_day: int
) -> None:
    """The hour-of-day table and chart show an hour whose calls all lack a price as unpriced, with
    no amount (null, not $0); the hour of the priced calls keeps its dollars."""
    settings = served.settings
    # The seeded calls were made just before the clock's hour; this one hours earlier, alone.
    seeded_at = datetime.now(UTC).replace(hour=hour_of_day, minute=0, second=0) - timedelta(seconds=30)
    when = seeded_at - timedelta(hours=3)
    with served.ledger.use() as c:
        record_call(
            c,
            Pricer(),
            provider="openai",
            model="no-such-model-xyz",
            tokens=Tokens(input=10, output=10),
            agent="reviewer",
            timestamp=when,
        )
    reload(page)
    hour = f"{when.astimezone(settings.tz).hour:02d}:00"
    row = page.locator("#hourly tr", has_text=hour)
    cell = row.locator("td > span > span").first
    assert cell.text_content() == "unpriced"  # the numbers table is folded: its text, not the shown
    assert cell.get_attribute("data-usd") is None
    assert page.locator("#hourly rect title", has_text=f"{hour} unpriced").count() == 1
    # The hour of the priced calls (and the unpriced one seeded beside them) keeps its amount.
    seeded = f"{seeded_at.astimezone(settings.tz).hour:02d}:00"
    priced = page.locator("#hourly tr", has_text=seeded).locator("td > span > span").first
    assert (priced.text_content() or "").startswith("$") and Decimal(priced.get_attribute("data-usd")) > 0
    assert page.errors == []


def gauge_colour(pg: Any, name: str) -> str:
    return str(pg.eval_on_selector(f'[data-budget="{name}"] .fill', "e => getComputedStyle(e).fill"))


def test_the_notes_of_the_hours_name_their_chart(browser: Any, served: Served) -> None:
    """The QA case (h-qadash): the notes read "acme: 1 call(s) ... not in the total" and, a few
    lines on, "acme: 2 call(s) ... not in these amounts" (the hours count calls on days a bill
    covers, the totals the bill), with nothing saying which amounts: each hourly note names its chart."""
    with served.ledger.use() as c:
        record_call(
            c,
            Pricer(),
            provider="anthropic",  # no bill: counted by the totals and the hours alike
            model="no-such-model-xyz",
            tokens=Tokens(input=10, output=1),
            agent="triage",
            timestamp=datetime.now(UTC) - timedelta(seconds=15),
        )
        p = spend.resolve(served.settings, "this_month", None, None, None)
        hours = hourly.cost_by_hour(c, served.settings, p)
    mine = [w for w in hours.warnings if "no known price" in w]
    assert mine and all("not in these amounts" in w for w in mine)
    with opened(browser, served.url) as pg:
        notes = pg.locator("#notes li").all_inner_texts()
        for w in mine:
            assert f"Cost by hour of day: {w}" in notes
        assert not [n for n in notes if "these amounts" in n and not n.startswith("Cost by hour of day: ")]
        assert not any(n.startswith("hour of day is known") for n in notes)
        assert pg.errors == []


@pytest.mark.parametrize("hour_of_day", [21])
def test_a_budget_crossing_shows_on_the_gauge(page: Any, served: Served) -> None:
    # At 21:00 UTC (the clock fixture): a daily budget's forecast extrapolates from the hours gone,
    # so $6 spent is "heading over $10" at 02:00 and only "threshold passed" after 14:24.
    # Seeded today: $10 in all ($6 of it by triage). daily-cap ($8) is over; triage-daily ($10)
    # has passed its 50% threshold; monthly ($100,000) is fine.
    gauge = page.locator('[data-budget="triage-daily"]')
    assert page.locator('[data-budget="daily-cap"]').get_attribute("data-status") == "exceeded"
    # daily-cap counts every call, the unpriced one too: shown beside the amount, not as nothing.
    cap = page.locator('[data-budget="daily-cap"]').inner_text()
    assert "$10.00 + 1 unpriced spent" in cap and "+ unpriced calls" in cap
    assert "unpriced" not in gauge.inner_text()
    assert page.locator('[data-budget="monthly"]').get_attribute("data-status") in ("ok", "forecast_exceeded")
    assert gauge.get_attribute("data-status") == "warning"
    assert "threshold passed" in gauge.inner_text()
    before = gauge_colour(page, "triage-daily")
    conn = served.ledger
    with conn.use() as c:
        call(c, 5, provider="anthropic", agent="triage", project="api")  # $11 of $10
    reload(page)
    assert gauge.get_attribute("data-status") == "exceeded"
    assert "over budget" in gauge.inner_text()
    after = gauge_colour(page, "triage-daily")
    assert after != before and after == gauge_colour(page, "daily-cap")
    assert "$11.00 spent" in gauge.inner_text()
    assert "(110%), $1.00 over" in gauge.inner_text()  # not "-$1.00 left"


@pytest.mark.parametrize("hour_of_day", [21])
def test_a_gauge_with_unpriced_calls_says_its_percent_and_left_are_bounds(page: Any, served: Served) -> None:
    """The QA case (h-qadash): a budget counting calls of no known price showed "$4.00 left" and
    "(20%)" as sure figures, while `cost-mcp budget status` shows "≤$4.00" and "≥20.0": those calls
    count nothing against it, so what is left is at most that, the percent and how far over at least."""
    with served.ledger.use() as c:
        # The reviewer spent $1 today and made the one call of no known price.
        budgets.set_budget(c, "reviewer-daily", Decimal(5), "day", BudgetScope(agents=["reviewer"]))
        status = {
            st.budget.name: st for st in budgets.budget_status(c, served.settings, take_alerts=False).budgets
        }
    assert status["reviewer-daily"].unpriced_requests == 1 and status["reviewer-daily"].percent == 20
    assert status["daily-cap"].unpriced_requests == 1 and status["daily-cap"].spent_usd == 10
    assert status["triage-daily"].unpriced_requests == 0
    reload(page)
    reviewer = page.locator('[data-budget="reviewer-daily"]')
    assert "spent (≥20%), ≤$4.00 left" in reviewer.inner_text()
    assert (
        reviewer.locator("svg")
        .get_attribute("aria-label")
        .startswith("reviewer-daily: at least 20% of $5.00")
    )
    # $10 and an unpriced call of $8: at least $2.00 over. Its spent is a lower bound too, said as
    # `cost-mcp budget status` says it: it read "$10.00 1 unpriced spent", an amount that looked whole.
    cap = page.locator('[data-budget="daily-cap"]').inner_text()
    assert "$10.00 + 1 unpriced spent (≥125%), ≥$2.00 over" in cap, cap
    # No call of unknown cost: the figures are exact and read so.
    assert "spent (60%), $4.00 left" in page.locator('[data-budget="triage-daily"]').inner_text()
    assert page.errors == []


def test_filters_change_the_numbers(page: Any, served: Served) -> None:
    settings = served.settings
    p = spend.resolve(settings, "this_month", None, None, None)
    conn = connect(settings.db)
    try:
        everything = spend.get_spend(conn, settings, p).total_usd
        anthropic = spend.get_spend(conn, settings, p, (), spend.Filters(providers=["anthropic"])).total_usd
        web = spend.get_spend(
            conn, settings, p, (), spend.Filters(providers=["anthropic"], projects=["web"])
        ).total_usd
    finally:
        conn.close()
    assert shown(page, "#period-total")[0] == everything
    rendered_again(page, lambda: page.select_option('select[name="providers"]', "anthropic"))
    assert shown(page, "#period-total")[0] == anthropic != everything
    assert shown(page, "#total-month")[0] == anthropic
    assert page.locator('select[name="providers"]').input_value() == "anthropic"
    # drilling down: with anthropic chosen, only the projects it spent on are offered
    assert web == 0
    assert page.locator('select[name="projects"] option[value="web"]').count() == 0
    rendered_again(page, lambda: page.select_option('select[name="agents"]', "triage"))
    assert shown(page, "#breakdown-total")[0] == anthropic  # triage is all of anthropic's spend
    rendered_again(page, lambda: page.select_option('select[name="period"]', "today"))
    assert "total today" in page.locator("#daily p").first.inner_text().lower()
    assert page.errors == []


def test_screenshots_of_each_view(page: Any, artifacts: Path) -> None:
    page.screenshot(path=str(artifacts / "dashboard-light.png"), full_page=True)
    for dim in VIEWS:
        page.click(f'#tabs button[data-dim="{dim}"]')
        page.wait_for_function(
            "d => document.querySelector('#breakdown').textContent.includes('By ' + d)", arg=dim
        )
        assert page.locator(f'#tabs button[data-dim="{dim}"]').get_attribute("aria-selected") == "true"
        assert f"By {dim}" in page.locator("#breakdown").inner_text()
        page.locator("#breakdown").screenshot(path=str(artifacts / f"breakdown-{dim}.png"))
    page.check('input[name="stack"][value="basis"]')
    assert "estimated" in page.locator("#daily .legend").inner_text()
    page.locator("#daily").screenshot(path=str(artifacts / "daily-by-basis.png"))
    page.emulate_media(color_scheme="dark")
    dark_bg = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
    page.screenshot(path=str(artifacts / "dashboard-dark.png"), full_page=True)
    page.emulate_media(color_scheme="light")
    light_bg = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
    assert dark_bg != light_bg
    for name in ("dashboard-light", "dashboard-dark", "daily-by-basis", *(f"breakdown-{d}" for d in VIEWS)):
        assert (artifacts / f"{name}.png").stat().st_size > 1000
    assert page.errors == []


def test_a_timezone_from_the_address_stays_through_period_switches_and_refreshes(
    browser: Any, served: Served
) -> None:
    # At 12:00 UTC (the clock fixture) it is already tomorrow on Kiritimati (UTC+14). A period
    # switch, and the minute's refresh, asked without the timezone: "Today" silently became the
    # configured UTC day.
    zone = "Pacific/Kiritimati"
    kiritimati = spend.resolve(served.settings, "today", None, None, zone)
    utc = spend.resolve(served.settings, "today", None, None, None)
    assert kiritimati.first_day != utc.first_day
    with opened(browser, f"{served.url}&period=today&timezone={zone}", fake_clock=True) as pg:
        title = pg.locator("#card-today h3")
        assert str(kiritimati.first_day) in title.inner_text()
        rendered_again(pg, lambda: pg.select_option('select[name="period"]', "this_week"))
        assert str(kiritimati.first_day) in title.inner_text()
        assert f"days in {zone}" in pg.locator("#status").inner_text()
        pg.requests.clear()
        rendered_again(pg, lambda: pg.clock.run_for(61_000))  # the page's minute refresh
        asked = [u for u in pg.requests if "/api/dashboard?" in u]
        assert asked and all("timezone=Pacific%2FKiritimati" in u for u in asked)
        assert "period=this_week" in asked[-1]
        assert str(kiritimati.first_day) in title.inner_text()
        assert pg.errors == []


@pytest.mark.parametrize("width", [1200, 420, 390])
def test_a_long_name_never_widens_the_page_past_the_window(browser: Any, served: Served, width: int) -> None:
    # A model id of 200 characters with no space (record_usage takes it) made the breakdown table,
    # and its unpriced-model note, 1,835 px wide: the whole page scrolled sideways. At 390 px (a
    # phone) the five breakdown tabs in one row did too, by 15 px.
    long = "x" * 200
    with served.ledger.use() as c:
        record_call(
            c, Pricer(), provider="openai", model=long, tokens=Tokens(input=10, output=1), agent=long[:120]
        )
    with opened(browser, served.url, width=width) as pg:
        pg.wait_for_selector("body[data-complete]", state="attached")
        for dim in ("model", "agent"):
            pg.click(f'#tabs button[data-dim="{dim}"]')
            pg.wait_for_function(
                "t => document.querySelector('#breakdown').textContent.includes(t)", arg=long[:120]
            )
            assert pg.evaluate("document.documentElement.scrollWidth") <= width
        assert long in pg.locator("#notes").inner_text()
        assert pg.errors == []


def test_a_failed_refresh_says_how_old_the_figures_on_show_are(browser: Any, served: Served) -> None:
    # The minute's refresh failing (the server stopped) replaced "Figures of <time>" with "Could
    # not load: Failed to fetch", the old figures still on show and nothing saying from when (nor
    # why: "Failed to fetch" was the browser's word for a server that did not answer).
    with opened(browser, served.url, fake_clock=True) as pg:
        generated = pg.locator("body").get_attribute("data-ready")
        shown_at = pg.evaluate(
            "g => new Date(g).toLocaleString(undefined, {timeZoneName: 'short'})", generated
        )
        total = pg.locator("#total-month").inner_text()
        pg.route("**/api/**", lambda route: route.abort())
        pg.clock.run_for(61_000)  # the page's minute refresh
        status = pg.locator("#status.error")
        status.wait_for()
        assert status.inner_text().startswith("Could not load: the server did not answer")
        assert f"the figures shown are from {shown_at}" in status.inner_text()
        assert status.get_attribute("aria-live") == "polite"  # news, even from the minute's refresh
        assert pg.locator("#total-month").inner_text() == total


def test_a_late_failure_of_an_earlier_choice_is_not_said_over_the_latest(
    browser: Any, served: Served
) -> None:
    # Last week chosen, then today before last week's answer came: today's figures were drawn, then
    # last week's request failed and "Could not load" replaced today's status, as if today's
    # figures were the old ones.
    with opened(browser, served.url) as pg:
        pg.wait_for_selector("body[data-complete]", state="attached")
        # Counts each fetch that failed, before the page's own handlers see it: what follows it in
        # the page is promise callbacks only, all run before the next check below.
        pg.evaluate(
            """() => { window.failedFetches = 0; const f = window.fetch;
            window.fetch = (...a) => f(...a).catch(e => { window.failedFetches++; throw e; }); }"""
        )
        held: list[Any] = []
        pg.route(
            "**/api/dashboard?**",
            lambda route: (
                held.append(route) if "period=last_week" in route.request.url else route.continue_()
            ),
        )
        pg.select_option('select[name="period"]', "last_week")
        pg.wait_for_function("() => document.getElementById('status').textContent.startsWith('Loading')")
        rendered_again(pg, lambda: pg.select_option('select[name="period"]', "today"))
        pg.wait_for_selector("body[data-complete]", state="attached")
        status = pg.locator("#status").inner_text()
        assert status.startswith("Figures of "), status
        assert len(held) == 1
        held[0].abort()
        pg.wait_for_function("() => window.failedFetches === 1")
        assert pg.locator("#status").inner_text() == status
        assert pg.locator("#status.error").count() == 0
        assert "period=today" in pg.url


def test_times_name_the_browsers_timezone_beside_the_figures_days(browser: Any, served: Served) -> None:
    # A browser in Kiritimati (UTC+14) read "Figures of 12/6/2026, 10:41:13 AM · days in UTC"
    # beside "Today (2026-12-05)": a time of the browser's zone, shown as if of the figures'.
    with opened(browser, served.url, timezone_id="Pacific/Kiritimati") as pg:
        status = pg.locator("#status").inner_text()
        assert status.startswith("Figures of ") and "GMT+14 · days in " in status
        assert "GMT+14" in pg.locator("#card-today").inner_text()  # "as of: claude_code <time>"
        assert pg.errors == []


@pytest.mark.parametrize(
    ("query", "filters"),
    [
        ("sessions=triage-1", spend.Filters(sessions=["triage-1"])),
        ("agents=triage&agents=researcher", spend.Filters(agents=["triage", "researcher"])),
    ],
    ids=["no-select", "two-values"],
)
def test_filters_only_a_link_can_hold_stay_through_the_minutes_refresh(
    browser: Any, served: Served, query: str, filters: spend.Filters
) -> None:
    # A shared link with a session filter (no select shows one) or two agents (a select shows
    # one): the first drawing had them, the minute's refresh, built from the selects, dropped them,
    # and the figures became the unfiltered ones ($6.00, then $10.00) with nothing saying so.
    with served.ledger.use() as c:
        p = spend.resolve(served.settings, "today", None, None, None)
        want = spend.get_spend(c, served.settings, p, (), filters).total_usd
    with opened(browser, f"{served.url}&period=today&{query}", fake_clock=True) as pg:
        assert shown(pg, "#total-today")[0] == want
        assert want not in (Decimal(0), Decimal(10))
        rendered_again(pg, lambda: pg.clock.run_for(61_000))
        assert shown(pg, "#total-today")[0] == want
        assert query in pg.url
        name = query.split("=", maxsplit=1)[0]
        assert f"filtered by {name} " in pg.locator("#status").inner_text()
        # A choice in the select takes over from the link's two values.
        if name == "agents":
            rendered_again(pg, lambda: pg.select_option('select[name="agents"]', "researcher"))
            assert shown(pg, "#total-today")[0] == Decimal(3)
            assert "filtered by" not in pg.locator("#status").inner_text()
        assert pg.errors == []


def test_the_minutes_refresh_is_not_read_out_a_choice_is(browser: Any, served: Served) -> None:
    # The status line is a live region: every minute a screen reader read out "Loading…" and then
    # "Figures of <the new time>", whatever its user was reading.
    with opened(browser, served.url, fake_clock=True) as pg:
        status = pg.locator("#status")
        assert status.get_attribute("aria-live") == "polite"
        pg.evaluate(
            """() => { const el = document.getElementById('status'); window.said = [];
            new MutationObserver(() => window.said.push(el.textContent))
              .observe(el, {childList: true, characterData: true, subtree: true}); }"""
        )
        rendered_again(pg, lambda: pg.clock.run_for(61_000))
        assert status.get_attribute("aria-live") == "off"
        assert "Loading…" not in pg.evaluate("window.said")
        rendered_again(pg, lambda: pg.select_option('select[name="period"]', "last_week"))
        assert status.get_attribute("aria-live") == "polite"
        assert "Loading…" in pg.evaluate("window.said")
        assert pg.errors == []


def test_the_address_follows_the_chosen_period_and_filters(page: Any, served: Served) -> None:
    # The choice lived only in the selects: a reload, or the address copied to share, showed this
    # month and every provider again.
    rendered_again(page, lambda: page.select_option('select[name="providers"]', "anthropic"))
    rendered_again(page, lambda: page.select_option('select[name="period"]', "last_week"))
    assert "period=last_week" in page.url and "providers=anthropic" in page.url
    reload(page)
    assert page.locator('select[name="period"]').input_value() == "last_week"
    assert page.locator('select[name="providers"]').input_value() == "anthropic"
    assert "Total last week" in page.locator("#daily p").first.inner_text()
    assert page.errors == []


def test_the_minutes_refresh_keeps_the_tables_open_and_the_focus_where_they_were(
    browser: Any, served: Served
) -> None:
    # Every minute the refresh drew the sections again as first drawn: the table of numbers a
    # person had opened (a chart's text alternative) closed, the one they had closed opened, and
    # the keyboard's focus on its toggle fell back to the top of the page.
    with opened(browser, served.url, fake_clock=True) as pg:
        pg.wait_for_selector("body[data-complete]", state="attached")
        pg.locator("#hourly summary").click()
        pg.locator("#breakdown summary").click()
        pg.locator("#daily summary").focus()
        pg.keyboard.press("Enter")
        state = "() => [...document.querySelectorAll('details')].map(d => d.parentElement.id + ' ' + d.open)"
        before = pg.evaluate(state)
        assert before == ["daily true", "breakdown false", "hourly true"]
        rendered_again(pg, lambda: pg.clock.run_for(61_000))
        assert pg.evaluate(state) == before
        assert pg.evaluate("document.activeElement === document.querySelector('#daily summary')")
        assert pg.errors == []


def test_back_and_forward_step_through_the_choices(page: Any, served: Served) -> None:
    # Each choice replaced the address: Back left the dashboard instead of showing the figures
    # before the last choice.
    providers = page.locator('select[name="providers"]')
    every = shown(page, "#period-total")[0]
    rendered_again(page, lambda: page.select_option('select[name="providers"]', "anthropic"))
    anthropic = shown(page, "#period-total")[0]
    rendered_again(page, lambda: page.select_option('select[name="period"]', "last_week"))
    assert anthropic != every
    rendered_again(page, page.go_back)
    assert "period=this_month" in page.url and "providers=anthropic" in page.url
    assert page.locator('select[name="period"]').input_value() == "this_month"
    assert (providers.input_value(), shown(page, "#period-total")[0]) == ("anthropic", anthropic)
    rendered_again(page, page.go_back)
    assert "providers" not in page.url
    assert (providers.input_value(), shown(page, "#period-total")[0]) == ("", every)
    rendered_again(page, page.go_forward)
    assert (providers.input_value(), shown(page, "#period-total")[0]) == ("anthropic", anthropic)
    assert page.errors == []


def test_a_cut_breakdown_says_how_many_rows_other_folds(browser: Any, served: Served) -> None:
    # 40 sessions: the page shows the largest and "(other)", and said nothing of the 25 others.
    with served.ledger.use() as c:
        for i in range(40):
            record_call(
                c,
                Pricer(),
                provider="openai",
                model="gpt-4o",
                tokens=Tokens(input=1000),
                agent="bulk",
                session=f"bulk-{i:02d}",
            )
    with opened(browser, served.url) as pg:
        pg.wait_for_selector("body[data-complete]", state="attached")
        pg.click('#tabs button[data-dim="session"]')
        pg.wait_for_function("() => document.querySelector('#breakdown').textContent.includes('By session')")
        with served.ledger.use() as c:
            p = spend.resolve(served.settings, "this_month", None, None, None)
            want = dashboard.breakdown(c, served.settings, p, "session", spend.Filters())
        assert want.truncated
        folded = [r for r in want.rows if r.group["session"] == "(other)"]
        shown = len(want.rows) - len(folded)
        assert pg.locator("#breakdown-cut").inner_text() == (
            f" · the {shown} largest of {want.total_rows} rows; the other {want.total_rows - shown} are "
            "summed in (other)"
        )
        pg.click('#tabs button[data-dim="model"]')
        assert pg.locator("#breakdown-cut").count() == 0  # three models: nothing cut
        assert pg.errors == []


def test_the_row_a_cut_breakdown_folds_is_no_filter_to_choose(browser: Any, served: Served) -> None:
    # 20 agents: the Agent filter offered the 15 largest and "(other)", which, chosen, filtered
    # for an agent named "(other)": every figure on the page read $0.00.
    with served.ledger.use() as c:
        for i in range(20):
            record_call(
                c,
                Pricer(),
                provider="openai",
                model="gpt-4o",
                tokens=Tokens(input=1000),
                agent=f"bulk-{i:02d}",
            )
    with opened(browser, served.url) as pg:
        pg.wait_for_selector("body[data-complete]", state="attached")
        with served.ledger.use() as c:
            p = spend.resolve(served.settings, "this_month", None, None, None)
            want = dashboard.breakdown(c, served.settings, p, "agent", spend.Filters())
        assert want.truncated
        offered = pg.locator('select[name="agents"] option').all_inner_texts()
        largest = [r.group["agent"] for r in want.rows if r.group["agent"] != "(other)"]
        assert "(other)" not in offered and len(want.folded_names) >= 5
        assert offered == ["all", *largest, *want.folded_names]
        assert pg.errors == []


def test_an_admin_can_filter_to_the_member_who_spent_least(browser: Any, served: Served) -> None:
    """A 40-person team: the Member filter offered the 15 who spent most, so an admin could not see
    what the other 25 spent. Every member is offered (the largest first, then the rest A to Z), and
    choosing the one who spent least shows exactly their spend."""
    members = [f"m{i:02d}@example.com" for i in range(40)]
    with served.ledger.use() as c:
        for i, member in enumerate(members):
            record_call(
                c,
                Pricer(),
                provider="openai",
                model="gpt-4o",
                tokens=Tokens(input=1000 * (i + 1)),
                agent="team",
                member=member,
            )
    least = members[0]
    with opened(browser, served.url) as pg:
        pg.wait_for_selector("body[data-complete]", state="attached")
        offered = pg.locator('select[name="members"] option').all_inner_texts()
        assert set(members) <= set(offered) and "(other)" not in offered
        assert offered.index(members[-1]) < offered.index(members[1]) < offered.index(members[2])
        rendered_again(pg, lambda: pg.select_option('select[name="members"]', least))
        with served.ledger.use() as c:
            p = spend.resolve(served.settings, "this_month", None, None, None)
            want = spend.get_spend(c, served.settings, p, (), spend.Filters(members=[least])).total_usd
        assert want > 0
        assert shown(pg, "#period-total")[0] == want
        assert pg.locator('select[name="members"]').input_value() == least
        assert pg.errors == []


def test_a_fraction_of_a_cent_spent_never_reads_zero(browser: Any, served: Served) -> None:
    # One gpt-4o input token is $0.0000025: the page (and the CLI) said "$0.0000", nothing spent.
    with served.ledger.use() as c:
        record_call(c, Pricer(), provider="openai", model="gpt-4o", tokens=Tokens(input=1), agent="tiny")
    with opened(browser, f"{served.url}&agents=tiny") as pg:
        with served.ledger.use() as c:
            p = spend.resolve(served.settings, "today", None, None, None)
            want = spend.get_spend(c, served.settings, p, (), spend.Filters(agents=["tiny"])).total_usd
        assert want == Decimal("0.0000025")
        assert shown(pg, "#total-today") == (want, "$0.000002") == (want, format_usd(want))
        assert pg.errors == []


def test_seat_fees_are_named_so_in_every_breakdown(browser: Any, served: Served) -> None:
    # A seat fee's row read "(not reported)" under Model, Agent, Project and Session, as if spend
    # had lost its name, where model_breakdown, the forecast and the dashboard's text say so.
    first = datetime.now(UTC).date().replace(day=1)
    with served.ledger.use() as c:
        subscriptions.set_subscription(
            c, "seat", "anthropic", Decimal(31), "monthly", first.isoformat(), today=datetime.now(UTC).date()
        )
    with opened(browser, served.url) as pg:
        for dim in ("model", "agent", "project", "session"):
            pg.click(f'#tabs button[data-dim="{dim}"]')
            pg.wait_for_function(
                "d => document.querySelector('#breakdown').textContent.includes('By ' + d)", arg=dim
            )
            row = pg.locator("#breakdown tr", has_text="subscription")
            assert row.locator("td").first.text_content() == SEAT_FEES, dim
            assert SEAT_FEES in pg.locator("#breakdown svg > text.name").all_text_contents(), dim
        assert pg.errors == []


def test_the_breakdown_tabs_answer_arrow_keys(page: Any) -> None:
    # A role=tablist that only Tab and Enter reached: arrows did nothing.
    page.wait_for_selector("body[data-complete]", state="attached")
    page.focus('#tabs button[data-dim="model"]')
    for key, dim in (
        ("ArrowRight", "agent"),
        ("End", "session"),
        ("ArrowRight", "model"),
        ("ArrowLeft", "session"),
    ):
        page.keyboard.press(key)
        assert page.evaluate("document.activeElement.dataset.dim") == dim
        assert page.locator(f'#tabs button[data-dim="{dim}"]').get_attribute("aria-selected") == "true"
        assert f"By {dim}" in page.locator("#breakdown").inner_text()
    # The panel is named by the chosen tab, and Tab goes from it into the panel: the four others
    # were four more stops on the way (the arrows reach them).
    panel = page.get_by_role("tabpanel")
    assert panel.get_attribute("aria-labelledby") == "tab-session"
    assert page.get_by_role("tabpanel", name="Session").count() == 1
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.dataset.dim") is None
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.dim") == "session"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('#breakdown') !== null")
    assert page.errors == []


def test_each_projection_names_its_rate(page: Any, served: Served) -> None:
    # The forecast panel ("Projected by <last day>": the last 7 whole days' rate) and the monthly
    # gauge ("projected at the current rate": the period's average so far, today included) showed two
    # different figures for the same month side by side, neither saying which rate made it.
    settings = served.settings
    conn = connect(settings.db)
    try:
        p = spend.resolve(settings, "this_month", None, None, None)
        want = forecast.spend_forecast(conn, settings, p, take_alerts=False).projected_usd
    finally:
        conn.close()
    panel = page.locator("#forecast").inner_text()
    assert f"Projected by {p.last_day} at the last 7 whole days' rate" in panel
    assert shown(page, "#forecast-projected") == (want, format_usd(want))
    gauge = page.locator('[data-budget="monthly"]').inner_text()
    # (its amount moves with the clock, by the hour elapsed: the rule is what is checked here)
    assert "projected at this period's average per hour so far, today included: $" in gauge
    assert "current rate" not in gauge
    assert page.errors == []


def test_each_budget_gauge_names_the_days_it_counts_and_their_timezone(browser: Any, served: Served) -> None:
    # At 12:00 UTC (the clock fixture) it is already tomorrow on Kiritimati (UTC+14). With the page in
    # Kiritimati, "Today" showed that day while the daily budget counted the configured (UTC) day,
    # the gauge saying neither which day nor in which timezone.
    settings = served.settings
    zone = "Pacific/Kiritimati"
    kiritimati = spend.resolve(settings, "today", None, None, zone)
    day = spend.resolve(settings, "today", None, None, None)
    month = spend.resolve(settings, "this_month", None, None, None)
    assert kiritimati.first_day != day.first_day and settings.tz.key == "UTC"
    with opened(browser, f"{served.url}&period=today&timezone={zone}") as pg:
        assert str(kiritimati.first_day) in pg.locator("#card-today h3").inner_text()
        daily = pg.locator('[data-budget="daily-cap"] .budget-days').inner_text()
        assert daily == (
            f"counts {day.first_day} (days in UTC, the configured timezone; the figures above are in {zone})"
        )
        monthly = pg.locator('[data-budget="monthly"] .budget-days').inner_text()
        assert monthly.startswith(f"counts {month.first_day} to {month.last_day} (days in UTC")
        # In the page's own timezone the days alone are named: no timezone note to read past.
        pg.goto(f"{served.base}/?period=today")
        pg.wait_for_selector("body[data-ready]")
        assert pg.locator('[data-budget="daily-cap"] .budget-days').inner_text() == f"counts {day.first_day}"
        monthly = pg.locator('[data-budget="monthly"] .budget-days').inner_text()
        assert monthly == f"counts {month.first_day} to {month.last_day}"
        assert pg.errors == []


def _chart_labels(pg: Any) -> list[dict[str, Any]]:
    """Every label of the daily, breakdown and hourly charts: its text, rendered height and how
    far it reaches past its chart's right edge (px)."""
    labels: list[dict[str, Any]] = pg.evaluate(
        """() => Array.from(document.querySelectorAll('.chart svg text'))
          .filter(t => ['daily', 'breakdown', 'hourly'].includes(t.closest('.chart').id))
          .map(t => { const r = t.getBoundingClientRect(), box = t.ownerSVGElement.getBoundingClientRect();
                      return {chart: t.closest('.chart').id, text: t.textContent, height: r.height,
                              past: r.right - box.right}; })"""
    )
    return labels


@pytest.mark.parametrize("width", [420, 1200])
def test_chart_labels_are_legible_on_a_narrow_screen(browser: Any, served: Served, width: int) -> None:
    # The charts were drawn 900 units wide and scaled to the box: at 420 px their 11 px labels were
    # ~5 px tall. Drawn at the box's width, each label is as tall as on a wide screen, and none
    # runs past its chart; turning the phone draws them again at the new width.
    with opened(browser, served.url, width=width) as pg:
        pg.wait_for_selector("body[data-complete]", state="attached")
        labels = _chart_labels(pg)
        assert {label["chart"] for label in labels} == {"daily", "breakdown", "hourly"}
        small = [label for label in labels if label["height"] < 11]
        assert small == [], small[:3]
        assert [label for label in labels if label["past"] > 0.5] == []
        if width == 420:
            pg.set_viewport_size({"width": 800, "height": 900})
            pg.wait_for_function("() => document.querySelector('#daily svg').viewBox.baseVal.width > 700")
            assert [label for label in _chart_labels(pg) if label["height"] < 11] == []
        assert pg.errors == []


def test_amounts_read_as_the_cli_writes_them_however_large_or_small(browser: Any, served: Served) -> None:
    # The page rounded the double's own digits (toFixed(9)), off in the ninth place above $8M: a
    # bill of $8,733,834.655 read $8,733,834.65 there and $8,733,834.66 in `cost-mcp report`
    # (half-even on the exact amount). One of $0.000000001 threw a RangeError, and the page
    # stopped drawing at the first figure holding it.
    day = int(datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0).timestamp() * 1000)
    bills = {"big-bill": 8_733_834_655_000_000, "one-nano": 1, "two-nano": 5}
    with served.ledger.use() as c, write_transaction(c):
        replace_range(
            c,
            "openai",
            "cost",
            day,
            day + 86_400_000,
            [Bucket(day, day + 86_400_000, cost_nanos=n, model=m) for m, n in bills.items()],
        )
    with opened(browser, served.url) as pg:
        pg.wait_for_selector("body[data-complete]", state="attached")
        for model, nanos in bills.items():
            row = pg.locator("#breakdown tbody tr", has_text=model)
            assert row.locator("td").nth(2).inner_text() == format_usd(Decimal(nanos) / 10**9)
        with served.ledger.use() as c:
            p = spend.resolve(served.settings, "today", None, None, None)
            want = spend.get_spend(c, served.settings, p).total_usd
        # Its JSON number holds 16 significant digits, a double 15 to 17: the text is exact to the cent.
        assert pg.locator("#total-today").inner_text() == format_usd(want)
        assert pg.errors == []


def test_rows_rounded_apart_from_their_total_say_so_under_the_table(browser: Any, served: Served) -> None:
    # Three models billed $3.335 each showed $3.34 three times under a total of $10.00 (10.005,
    # half-even) with nothing saying why; `cost-mcp report` says it under its table.
    with served.ledger.use() as c:
        bill_thirds(c)
    models = "".join(f"&models={m}" for m in THIRDS)
    with opened(browser, served.url + models) as pg:
        pg.wait_for_selector("body[data-complete]", state="attached")
        cells = [
            pg.locator("#breakdown tbody tr", has_text=m).locator("td").nth(2).inner_text() for m in THIRDS
        ]
        assert cells == ["$3.34"] * 3
        assert shown(pg, "#breakdown-total") == (Decimal("10.005"), "$10.00")
        note = pg.locator("#breakdown-rounding").inner_text()
        assert "add up to $10.02" in note and "$10.00 is their exact sum" in note
        with served.ledger.use() as c:
            p = spend.resolve(served.settings, None, None, None, None)
            want = dashboard.breakdown(c, served.settings, p, "model", spend.Filters(models=THIRDS))
        assert note == want.rounding_note
        # A breakdown whose rows add up as shown says nothing: by agent, the bills are one row.
        pg.locator("#tab-agent").click()
        pg.wait_for_selector("#breakdown >> text=By agent")
        assert shown(pg, "#breakdown-total") == (Decimal("10.005"), "$10.00")
        assert pg.locator("#breakdown-rounding").count() == 0
        assert pg.errors == []


def test_daily_and_hourly_rows_rounded_apart_from_their_total_say_so(browser: Any, served: Served) -> None:
    # $3.335 a day on three days, each at its own hour: the daily and the hourly tables showed
    # $3.34 three times under a total of $10.00 (10.005, half-even) with nothing said, where the
    # breakdown and `cost-mcp report` say why.
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    with served.ledger.use() as c:
        for n in range(3):
            record_call(
                c,
                Pricer(),
                provider="openai",
                model="gpt-4o",
                tokens=Tokens(input=1_334_000),  # $3.335 at $2.50 per million
                agent="thirds",
                timestamp=today - timedelta(days=n, hours=n + 1),
            )
    first, last = (today - timedelta(days=2)).date().isoformat(), today.date().isoformat()
    with opened(browser, f"{served.url}&agents=thirds&start={first}&end={last}") as pg:
        pg.wait_for_selector("body[data-complete]", state="attached")
        assert shown(pg, "#period-total") == (Decimal("10.005"), "$10.00")
        assert shown(pg, "#hourly-total") == (Decimal("10.005"), "$10.00")
        daily = pg.locator("#daily tbody tr").all_text_contents()
        assert len(daily) == 3 and all("$3.34" in row for row in daily)
        hours = [row for row in pg.locator("#hourly tbody tr").all_text_contents() if "$3.34" in row]
        assert len(hours) == 3
        with served.ledger.use() as c:
            want = dashboard.build_dashboard(
                c, served.settings, start=first, end=last, filters=spend.Filters(agents=["thirds"])
            )
        for where, note in (
            ("#daily-rounding", want.daily_rounding_note),
            ("#hourly-rounding", want.hourly_rounding_note),
        ):
            assert note is not None and "add up to $10.02" in note and "$10.00 is their exact sum" in note
            assert pg.locator(where).inner_text() == note
        # One day, one hour: the rows add up as shown, and nothing is said.
        pg.goto(f"{served.base}/?agents=thirds&start={last}&end={last}")
        pg.wait_for_selector("body[data-complete]", state="attached")
        assert shown(pg, "#period-total") == (Decimal("3.335"), "$3.34")
        assert pg.locator("#daily-rounding").count() == 0 and pg.locator("#hourly-rounding").count() == 0
        assert pg.errors == []


def test_dates_from_the_address_are_named_by_their_days(browser: Any, served: Served) -> None:
    """The QA case (h-qadash): a link to a month or to chosen dates (?period=2026-11, ?start=&end=,
    the forms periods.py takes) read "Total custom: $3.00" and "Spent in custom" under a select
    showing "Chosen dates": no day of the period was named anywhere on the page."""
    today = datetime.now(UTC).date()
    month = f"{today.year}-{today.month:02d}"
    with served.ledger.use() as c:
        p = spend.resolve(served.settings, month, None, None, None)
        want = spend.get_spend(c, served.settings, p, take_alerts=False).total_usd
    span = f"{p.first_day.isoformat()} to {p.last_day.isoformat()}"
    with opened(browser, f"{served.url}&period={month}") as pg:
        assert pg.locator('select[name="period"]').input_value() == "custom"
        assert pg.locator("#daily p").first.inner_text().startswith(f"Total {span}: {format_usd(want)}")
        assert pg.locator("#forecast").inner_text().startswith(f"Spent in {span}\n")
        assert "custom" not in pg.locator("#main").inner_text()
        day = today.isoformat()
        pg.goto(f"{served.base}/?start={day}&end={day}")
        pg.wait_for_selector("body[data-ready]")
        assert pg.locator("#daily p").first.inner_text().startswith(f"Total {day}: $")
        # A rolling period says which days it holds: today included, as periods.py has it.
        week = spend.resolve(served.settings, "last_7_days", None, None, None)
        pg.goto(f"{served.base}/?period=last_7_days")
        pg.wait_for_selector("body[data-ready]")
        assert week.last_day == today
        said = f"last 7 days ({week.first_day.isoformat()} to {today.isoformat()})"
        assert pg.locator("#daily p").first.inner_text().startswith(f"Total {said}: $")
        assert pg.locator("#forecast").inner_text().startswith(f"Spent in {said}\n")
        assert pg.errors == []


def test_a_budgets_spent_and_left_add_up_to_its_limit_as_shown(browser: Any, served: Served) -> None:
    # $5.005 spent of $10.01 read "$5.00 spent, $5.00 left" (each rounded half-even on its own),
    # a cent short of the limit; `cost-mcp budget status` shows $5.01 left (money.shown_left).
    with served.ledger.use() as c:
        record_call(
            c,
            Pricer(),
            provider="openai",
            model="gpt-4o",
            tokens=Tokens(input=2_002_000),  # $5.005 at $2.50 per million
            agent="halves",
            timestamp=datetime.now(UTC) - timedelta(seconds=10),
        )
        budgets.set_budget(c, "halves", Decimal("10.01"), "day", BudgetScope(agents=["halves"]))
    with opened(browser, served.url) as pg:
        gauge = pg.locator('.gauge[data-budget="halves"]')
        text = gauge.inner_text()
        assert "$10.01 per day" in text and "$5.00 spent" in text and "$5.01 left" in text
        assert shown(pg, '.gauge[data-budget="halves"] .left') == (Decimal("5.01"), "$5.01 left")
        with served.ledger.use() as c:
            st = next(
                b
                for b in budgets.budget_status(c, served.settings, take_alerts=False).budgets
                if b.budget.name == "halves"
            )
        assert st.remaining_usd == Decimal("5.005")  # the exact amount stays in the result
        assert pg.errors == []


def test_a_reload_back_or_a_copied_link_keeps_the_breakdown_and_stacking_on_show(
    browser: Any, served: Served
) -> None:
    # The address kept the period and the filters only: a reload (or the link copied) came back
    # "by model", stacked by provider, whatever tab and stacking the person had been reading.
    selected = '#tabs button[aria-selected="true"]'
    stack = 'input[name="stack"]:checked'
    with opened(browser, f"{served.url}&view=agent&stack=basis") as pg:
        pg.wait_for_selector("body[data-complete]", state="attached")
        assert pg.locator(selected).get_attribute("data-dim") == "agent"
        assert pg.locator("#breakdown > p").first.inner_text().startswith("By agent")
        assert pg.locator(stack).get_attribute("value") == "basis"
        assert pg.locator("#daily .legend").inner_text().split() == ["estimated"]
        # The page's own parameters never reach the API, which refuses what it does not take.
        asked = [u for u in pg.requests if "/api/" in u]
        assert asked and not any("view=" in u or "stack=" in u for u in asked)
        pg.locator("#tab-project").click()
        pg.locator('input[name="stack"][value="provider"]').check()
        assert "view=project" in pg.url and "stack=" not in pg.url
        reload(pg)
        pg.wait_for_selector("body[data-complete]", state="attached")
        assert pg.locator(selected).get_attribute("data-dim") == "project"
        assert pg.locator("#breakdown > p").first.inner_text().startswith("By project")
        assert pg.locator(stack).get_attribute("value") == "provider"
        # A choice is a step in the history with the view it was made in; Back shows that view.
        rendered_again(pg, lambda: pg.select_option('select[name="providers"]', "anthropic"))
        pg.locator("#tab-session").click()
        assert "view=session" in pg.url and "providers=anthropic" in pg.url
        rendered_again(pg, pg.go_back)
        assert "providers" not in pg.url
        assert pg.locator(selected).get_attribute("data-dim") == "project"
        pg.wait_for_selector("#breakdown >> text=By project")
        assert pg.errors == []


def test_a_long_or_wide_name_is_cut_between_characters_within_its_column(
    browser: Any, served: Served
) -> None:
    # A bar's name was cut at a count of UTF-16 units guessed from an average width: forty emoji
    # lost half of the eighteenth, shown as "\ufffd", and wide letters ran over the bars.
    names = ("\U0001f984" * 40, "W" * 60, "\u05e2\u05d1\u05e8\u05d9\u05ea-" * 12)
    with served.ledger.use() as c:
        for name in names:
            call(c, 1, project=name)
    with opened(browser, served.url) as pg:
        pg.wait_for_selector("body[data-complete]", state="attached")
        pg.locator("#tab-project").click()
        pg.wait_for_selector("#breakdown >> text=By project")
        # Each name is followed by its bar, whose title starts with the name in full (set apart
        # between FSI and PDI, as every name in a line of text is).
        labels = pg.evaluate(
            """() => [...document.querySelectorAll('#breakdown > svg > text[x="4"]')].map(t => {
                const bar = t.nextElementSibling.getBBox(), box = t.getBBox();
                const title = t.nextElementSibling.querySelector('title').textContent.split(': ')[0];
                const full = title.replace(/^\u2068|\u2069$/g, '');
                return {name: full, text: t.textContent,
                        lone: !t.textContent.isWellFormed(),  // half of a surrogate pair
                        over: box.x + box.width - bar.x};
            })"""
        )
        cut = [x for x in labels if x["name"] in names]
        assert len(cut) == 3
        for x in cut:
            assert x["text"].endswith("…") and x["name"].startswith(x["text"][:-1]), x
            assert not x["lone"], x
            assert x["over"] <= 0, x  # the name ends before its bar begins
        # A short name is shown whole.
        assert any(x["text"] == x["name"] == "api" for x in labels)
        assert pg.errors == []


def test_filtered_the_page_says_the_budgets_and_forecast_are_not(browser: Any, served: Served) -> None:
    # Filtered to one provider, every section showed its spend but the forecast and the budgets,
    # which stayed everyone's (as the tools define them) with nothing on the page saying so.
    with opened(browser, f"{served.url}&providers=anthropic") as pg:
        pg.wait_for_selector("body[data-complete]", state="attached")
        with served.ledger.use() as c:
            p = spend.resolve(served.settings, None, None, None, None)
            whole = forecast.spend_forecast(c, served.settings, p, take_alerts=False).spent_usd
            mine = spend.get_spend(
                c, served.settings, p, (), spend.Filters(providers=["anthropic"])
            ).total_usd
        assert shown(pg, "#forecast-spent")[0] == whole != mine == shown(pg, "#period-total")[0]
        note = pg.locator("#budgets-unfiltered")
        assert note.is_visible()
        assert note.inner_text() == (
            # The name set apart (FSI ... PDI): a right-to-left one does not reorder the words after it.
            "Not filtered by providers \u2068anthropic\u2069: the forecast counts all spend, and each "
            "budget what its own scope counts."
        )
        # Unfiltered, there is nothing to say.
        rendered_again(pg, lambda: pg.select_option('select[name="providers"]', ""))
        assert not note.is_visible()
        assert pg.errors == []


def test_filtered_the_page_says_the_unusual_days_are_not(browser: Any, served: Served) -> None:
    """The QA case (h-qadash): an admin filtering to a member who spent nothing read $0.00 in every
    section, then the team's unusual days ($6.14 on the 3rd, 3x its baseline) listed under them,
    as if that member's: they are the forecast's, never filtered, and only the budgets' section said so."""
    day = (datetime.now(UTC) - timedelta(days=3)).replace(hour=12, minute=0, second=0, microsecond=0)
    with served.ledger.use() as c:
        for n in range(14):  # two weeks at $1 a day, then a $9 day: unusual
            call(
                c,
                9 if n == 0 else 1,
                provider="anthropic",
                agent="steady",
                ago=datetime.now(UTC) - day + timedelta(days=n),
            )
        p = spend.resolve(served.settings, "last_7_days", None, None, None)
        unusual = forecast.spend_forecast(c, served.settings, p, take_alerts=False).anomalies
    assert day.date().isoformat() in [a.day for a in unusual]
    with opened(browser, f"{served.url}&period=last_7_days&members=nobody@example.com") as pg:
        pg.wait_for_selector("body[data-complete]", state="attached")
        assert shown(pg, "#period-total")[0] == 0
        assert day.date().isoformat() in pg.locator("#anomalies table").inner_text()
        assert pg.locator("#anomalies-unfiltered").inner_text() == (
            "Not filtered by members \u2068nobody@example.com\u2069: unusual days are of all spend, as the "
            "forecast counts it."
        )
        rendered_again(pg, lambda: pg.select_option('select[name="members"]', ""))
        assert pg.locator("#anomalies-unfiltered").count() == 0
        assert pg.errors == []


def test_a_right_to_left_name_in_a_line_of_text_keeps_to_itself(browser: Any, served: Served) -> None:
    # A project named with a right-to-left override ("\u202emoc.live" reads "evil.com") turned
    # round the rest of the status line and of a budget's scope line after it; each name is now
    # set apart (FSI ... PDI), as the tables' cells already set each one apart.
    rtl = "\u202emoc.live"
    with served.ledger.use() as c:
        call(c, 2, project=rtl)
        budgets.set_budget(c, "rtl", Decimal(50), "month", BudgetScope(projects=[rtl, "web"]))
    with opened(browser, f"{served.url}&projects=web&projects={rtl}") as pg:
        pg.wait_for_selector("body[data-complete]", state="attached")
        status = pg.locator("#status").inner_text()
        assert f"filtered by projects \u2068web\u2069, \u2068{rtl}\u2069 · refreshes every minute" in status
        scope = pg.locator('[data-budget="rtl"]').inner_text()
        assert f"counts projects: \u2068{rtl}\u2069, \u2068web\u2069" in scope
        # A bar's tooltip too: the name, then its amount, not the amount turned round after it.
        pg.click('#tabs button[data-dim="project"]')
        pg.wait_for_function("() => document.querySelector('#breakdown').textContent.includes('By project')")
        bar = pg.locator("#breakdown rect title", has_text=rtl).text_content() or ""
        assert bar.startswith(f"\u2068{rtl}\u2069: $"), bar
        assert pg.errors == []


def test_the_forecast_shows_calls_with_no_known_price_never_as_zero(browser: Any, served: Served) -> None:
    # A period whose calls all lacked a price read "$0.00" spent, "$0.00" a day and "$0.00"
    # projected in the forecast panel, where every other total reads "unpriced"; calls with no
    # price beside priced ones were said only among the notes at the foot of the page.
    day = (datetime.now(UTC) - timedelta(days=3)).replace(hour=12, minute=0, second=0, microsecond=0)
    with served.ledger.use() as c:
        for _ in range(2):
            record_call(
                c,
                Pricer(),
                provider="openai",
                model="no-such-model-xyz",
                tokens=Tokens(input=900),
                agent="new-model",
                timestamp=day,
            )
    first = day.date().isoformat()
    with opened(browser, f"{served.url}&start={first}&end={first}") as pg:
        pg.wait_for_selector("body[data-complete]", state="attached")
        assert pg.locator("#forecast-spent").inner_text() == "unpriced"
        with served.ledger.use() as c:
            p = spend.resolve(served.settings, None, first, first, None)
            ahead = forecast.spend_forecast(c, served.settings, p, take_alerts=False)
            got = spend.get_spend(c, served.settings, p, ())
        assert ahead.spent_usd == ahead.projected_usd == got.total_usd == 0
        assert ahead.unpriced_requests == sum(r.unpriced_requests for r in got.rows) == 2
        assert pg.locator("#forecast-projected").inner_text() == "unpriced"
        assert pg.locator("#forecast-unpriced").inner_text().split("\n")[-1] == "2 unpriced"
        assert "$0.00" not in pg.locator("#forecast").inner_text().split("/")[0]  # the period's rate
        # Beside priced calls (the seeded month), the amounts stay and the calls are named.
        pg.goto(f"{served.base}/")
        pg.wait_for_selector("body[data-complete]", state="attached")
        with served.ledger.use() as c:
            month = spend.get_spend(
                c, served.settings, spend.resolve(served.settings, None, None, None, None)
            )
        assert shown(pg, "#forecast-spent") == (month.total_usd, format_usd(month.total_usd))
        n = sum(r.unpriced_requests for r in month.rows)  # the seeded call, and these two in this month
        assert pg.locator("#forecast-unpriced").inner_text().split("\n")[-1] == f"{n} unpriced"
        assert pg.errors == []


def test_a_row_beside_unpriced_calls_marks_its_amount_a_lower_bound(page: Any, served: Served) -> None:
    """A table row holding priced calls and one of no known price read "$1.00 1 unpriced", an
    amount that looked whole, where the gauges read "$10.00 + 1 unpriced" and `cost-mcp report`
    "$1.00 + unpriced" (money.format_cost). The reviewer's $1.00 call and the unpriced one: one row."""
    with served.ledger.use() as c:
        p = spend.resolve(served.settings, "this_month", None, None, None)
        [reviewer] = spend.get_spend(
            c, served.settings, p, ["agent"], spend.Filters(agents=["reviewer"])
        ).rows
    assert (reviewer.cost_usd, reviewer.unpriced_requests) == (Decimal(1), 1)
    page.locator("#tab-agent").click()
    page.wait_for_selector("#breakdown >> text=By agent")
    row = page.locator("#breakdown tr", has_text="reviewer").locator("td").all_text_contents()
    assert row[2] == "$1.00 + 1 unpriced", row
    # The daily table's row of today's OpenAI estimates too: $3 and $1 priced, and the same call.
    daily = [page.locator("#daily tbody tr").nth(i).locator("td").all_text_contents() for i in range(2)]
    openai = next(r for r in daily if r[1] == "openai")
    assert openai[3] == "$4.00 + 1 unpriced", daily
    assert page.errors == []


@pytest.mark.parametrize("width", [1280, 320])
def test_every_total_that_leaves_out_unpriced_calls_says_so_in_words(
    browser: Any, served: Served, width: int
) -> None:
    # The daily, breakdown and hourly totals read "$10.00" alone over a month holding a call with
    # no known price, where the cards say "1 unpriced not in the total" and `cost-mcp report`
    # writes "$10.00 + unpriced": a quiet partial total.
    with served.ledger.use() as c:
        p = spend.resolve(served.settings, "this_month", None, None, None)
        month = spend.get_spend(c, served.settings, p)
    unpriced = sum(r.unpriced_requests for r in month.rows)
    assert unpriced == 1 and month.total_usd > 0
    said = f"+ {unpriced} unpriced call not in the total"
    with opened(browser, served.url, width=width) as pg:
        pg.wait_for_selector("body[data-complete]", state="attached")
        for where in ("#period-unpriced", "#breakdown-unpriced", "#hourly-unpriced"):
            assert pg.locator(where).inner_text().strip() == said, where
            assert pg.locator(where).is_visible(), where
        total = pg.locator("#daily p").first.inner_text()
        span = f"{p.first_day.isoformat()} to {p.last_day.isoformat()}"
        assert total.startswith(f"Total this month ({span}): {format_usd(month.total_usd)} {said}"), total
        # Every tab's total: the one call is in each breakdown. Its table's first column is headed
        # as the tab is named (it read "model" beside "Basis" and "Cost").
        for dim in VIEWS:
            pg.locator(f"#tab-{dim}").click()
            pg.wait_for_selector(f"#breakdown >> text=By {dim}")
            assert pg.locator("#breakdown-unpriced").inner_text().strip() == said, dim
            head = pg.locator("#breakdown thead th").all_text_contents()
            assert head == [pg.locator(f"#tab-{dim}").inner_text(), "Basis", "Cost", "Calls", "Tokens"]
        # Filtered to the priced calls only, no total leaves anything out, and none says so.
        pg.goto(f"{served.base}/?models=gpt-4o")
        pg.wait_for_selector("body[data-complete]", state="attached")
        assert pg.locator(".left-out").count() == 0
        assert pg.errors == []


def test_a_range_longer_than_400_days_draws_every_day_on_the_chart(browser: Any, served: Served) -> None:
    """The daily chart drew the first 400 days of a period only: over 700 days, a call of today was
    in the table and the total but on no bar. A range that long is drawn 7 days a bar, as the chart
    says, and each bar names its days; a range of 400 days or less keeps a bar a day."""
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    old = today - timedelta(days=350)  # record_usage takes a year back
    with served.ledger.use() as c:
        for when in (old, today):
            record_call(
                c, Pricer(), provider="openai", model="gpt-4o", tokens=Tokens(input=400_000),
                agent="longrange", timestamp=when,
            )  # fmt: skip
    first = (today - timedelta(days=699)).date()
    with opened(browser, f"{served.url}&agents=longrange&start={first}&end={today.date()}") as pg:
        pg.wait_for_selector("body[data-complete]", state="attached")
        assert len(pg.locator("#daily tbody tr").all_text_contents()) == 2
        titles = pg.locator("#daily svg rect title").all_text_contents()
        spans = [t.split(" openai: ")[0].split(" to ") for t in titles]
        assert all(len(span) == 2 for span in spans), titles
        # Each bar's days, as the page names them: one holds the old call's day, one today's.
        for day in (old.date().isoformat(), today.date().isoformat()):
            assert [t for t, (lo, hi) in zip(titles, spans, strict=True) if lo <= day <= hi], (day, titles)
        assert all(t.endswith(": $1.00") for t in titles), titles
        assert pg.locator("#daily-bars").inner_text() == (
            f"Each bar is 7 days of the 700 (the first from {first}); the table below lists every day."
        )
        assert pg.locator("#daily svg").get_attribute("aria-label").startswith("Spend per 7 days by provider")
        # 400 days: a bar a day, as before, and nothing to say of it.
        start = (today - timedelta(days=399)).date()
        pg.goto(f"{served.base}/?agents=longrange&start={start}&end={today.date()}")
        pg.wait_for_selector("body[data-complete]", state="attached")
        assert pg.locator("#daily svg rect title").all_text_contents() == [
            f"{d.date()} openai: $1.00" for d in (old, today)
        ]
        assert pg.locator("#daily-bars").count() == 0
        assert pg.errors == []
