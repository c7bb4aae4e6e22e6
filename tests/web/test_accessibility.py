"""The dashboard for a person without a mouse or a large screen, in headless Chromium: axe-core (the
engine of Lighthouse's accessibility audit) on each state of the page, the order and focus ring of
the keyboard's stops, a 320 px window (WCAG's reflow width, a 1280 px screen at 400% zoom) and the
dark scheme. Each state is one page, changed in place, as a person would."""

from __future__ import annotations

import secrets
from itertools import pairwise
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe

from cost_mcp.config import Settings
from cost_mcp.pricing import Pricer, Tokens
from cost_mcp.sources.reported import record_call
from cost_mcp.store import Ledger
from cost_mcp.web.app import create_app
from cost_mcp.web.http import create_http_app
from tests.web.conftest import Served, bill_thirds, serve
from tests.web.test_browser import opened, rendered_again
from tests.web.test_mcp_app import HOST, _call, over_mcp
from tests.web.test_signin import _tokens

SERIOUS = ("serious", "critical")


def serious_violations(target: Any) -> list[str]:
    """What axe-core finds serious or critical on a page or frame as it stands: each rule with the
    elements that break it (an empty list for none)."""
    found = Axe().run(target).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in found
        if v["impact"] in SERIOUS
    ]


def narrowed(pg: Any, width: int) -> None:
    """The window made ``width`` px wide, and the charts drawn again at its width (the page redraws
    them 150 ms after the last resize)."""
    pg.set_viewport_size({"width": width, "height": 900})
    pg.wait_for_function(
        "w => Number(document.querySelector('#daily svg').getAttribute('viewBox').split(' ')[2]) <= w",
        arg=max(width - 30, 240),
    )


def accessible_names(pg: Any, role: str) -> list[str]:
    """The names Chromium gives a screen reader for the page's elements of ``role`` (Chromium's own
    role names: a ``<summary>`` is a DisclosureTriangle), in page order."""
    nodes = pg.context.new_cdp_session(pg).send("Accessibility.getFullAXTree")["nodes"]
    return [n["name"]["value"] for n in nodes if n.get("role", {}).get("value") == role and not n["ignored"]]


FOCUSED = """() => { const a = document.activeElement;
  if (a === document.body) return ['body', false];
  return [a.id || a.getAttribute('name') || a.closest('[id]').id + ' ' + a.tagName.toLowerCase(),
          a.matches(':focus-visible') && getComputedStyle(a).outlineStyle !== 'none'] }"""


def tab_stops(pg: Any) -> list[tuple[str, bool]]:
    """Each stop Tab reaches from the top of the page, once round: what it is, and whether it shows
    a focus ring."""
    pg.evaluate("document.activeElement.blur()")
    stops: list[tuple[str, bool]] = []
    for _ in range(60):
        pg.keyboard.press("Tab")
        name, ring = pg.evaluate(FOCUSED)
        if name == "body" or (stops and name == stops[0][0]):
            break
        stops.append((name, ring))
    return stops


def test_the_dashboard_answers_the_keyboard_and_axe_finds_nothing_serious(
    browser: Any, served: Served
) -> None:
    with opened(browser, served.url) as pg:
        pg.wait_for_selector("body[data-complete]", state="attached")
        # Every control in reading order, Tab alone (the arrows move between the radios and the
        # tabs, one stop each), each with a visible ring; none holds the focus.
        stops = tab_stops(pg)
        assert [name for name, _ in stops] == [
            "skip",
            *("period", "providers", "models", "projects", "agents", "members", "basis", "stack"),
            *("daily summary", "tab-model", "breakdown summary", "hourly summary"),
        ]
        assert all(ring for _, ring in stops), stops
        # Each table of numbers' toggle names its chart: a list of the page's controls read
        # "Numbers (2 rows)", "Numbers (3 rows)", "Numbers (24 hours)".
        assert accessible_names(pg, "DisclosureTriangle") == [
            "Numbers (2 rows) of daily spend",
            "Numbers (3 rows) of spend by model",
            "Numbers (24 hours) of cost by hour of day",
        ]
        pg.locator("#breakdown summary").focus()
        pg.keyboard.press("Enter")  # a table of numbers opens and closes from the keyboard
        assert pg.locator("#breakdown details").get_attribute("open") is None
        pg.keyboard.press(" ")
        assert pg.locator("#breakdown details").get_attribute("open") == ""
        # One h1, and no heading level skipped on the way down (a screen reader's outline of the page).
        levels = pg.evaluate(
            "[...document.querySelectorAll('h1, h2, h3, h4')].map(e => Number(e.tagName[1]))"
        )
        assert levels.count(1) == 1 and levels[0] == 1
        assert all(b <= a + 1 for a, b in pairwise(levels)), levels
        for summary in ("#daily summary", "#hourly summary"):
            pg.locator(summary).click()
        assert serious_violations(pg) == []
        pg.emulate_media(color_scheme="dark")
        assert pg.evaluate("getComputedStyle(document.body).color") == "rgb(236, 236, 236)"  # its own palette
        assert serious_violations(pg) == []
        pg.emulate_media(color_scheme="light")
        # In high contrast (forced colours) each legend swatch keeps its series' colour: the theme
        # painted them all its background colour, and the stacked bars had no key.
        pg.emulate_media(forced_colors="active")
        key = pg.evaluate(
            """() => [...document.querySelectorAll('#daily .legend .sw')].map(sw => [
              getComputedStyle(sw).backgroundColor,
              getComputedStyle(document.querySelector('#daily svg rect.' + sw.classList[1])).fill])"""
        )
        assert len(key) == 2 and all(swatch == bar for swatch, bar in key), key
        assert serious_violations(pg) == []
        pg.emulate_media(forced_colors="none")

        narrowed(pg, 640)  # a 1280 px screen at 200% zoom
        assert pg.evaluate("document.documentElement.scrollWidth") == 640
        # 320 px: the page never scrolls sideways; a table wider than that scrolls in its own box,
        # which the keyboard reaches and scrolls (only a mouse or a finger could before).
        narrowed(pg, 320)
        assert pg.evaluate("document.documentElement.scrollWidth") == 320
        assert serious_violations(pg) == []
        pg.locator("#hourly summary").focus()
        for _ in range(8):
            pg.keyboard.press("Tab")
            if pg.evaluate("document.activeElement.closest('#sources') !== null"):
                break
        assert pg.evaluate(FOCUSED) == ["sources div", True]
        box = pg.locator("#sources .scroll")
        assert pg.evaluate("b => b.scrollWidth > b.clientWidth && b.scrollLeft === 0", box.element_handle())
        assert box.get_attribute("aria-label") == "Where the numbers come from (scrolls sideways)"
        pg.keyboard.press("ArrowRight")
        pg.wait_for_function("b => b.scrollLeft > 0", arg=box.element_handle())
        # Wide again, nothing scrolls: no idle stop is left behind.
        narrowed(pg, 1200)
        pg.wait_for_function("() => !document.querySelector('.scroll[tabindex]')")

        assert pg.errors == []

        # A failed load says so in the live status line, and the page stays as sound.
        pg.route("**/api/**", lambda route: route.abort())
        pg.select_option('select[name="period"]', "today")
        status = pg.locator("#status.error")
        status.wait_for()
        assert status.get_attribute("role") == "status" and status.get_attribute("aria-live") == "polite"
        assert serious_violations(pg) == []


BARS = """() => [...document.querySelectorAll('#breakdown svg rect')].map(r => {
  const label = r.nextElementSibling, title = label.querySelector('title');
  return [r.previousElementSibling.getAttribute('data-name'), label.firstChild.nodeValue,
          title ? title.textContent : null]; })"""


def test_each_breakdown_bar_names_its_basis_in_words_on_a_phone(browser: Any, served: Served) -> None:
    # Below 600 px the amount beside a bar stood alone: billed, estimated or subscription was the
    # bar's colour only, which a reader who cannot tell the colours apart could not read (WCAG 1.4.1).
    with served.ledger.use() as c:
        bill_thirds(c)  # billed rows beside the seeded estimated ones
    with opened(browser, served.url, width=400) as pg:
        pg.wait_for_selector("body[data-complete]", state="attached")
        table = [
            (tr.locator("td").nth(0).inner_text(), tr.locator("td").nth(1).inner_text())
            for tr in pg.locator("#breakdown tbody tr").all()
        ]
        bars = pg.evaluate(BARS)
        assert [name for name, _, _ in bars] == [name for name, _ in table]
        assert len({basis for _, basis in table}) >= 2
        words: dict[str, set[str]] = {}
        for (name, shown, title), (_, basis) in zip(bars, table, strict=True):
            word = shown.rsplit(" ", 1)[-1]
            # The word beside the bar is its basis, cut short; its title says it in full.
            assert basis.startswith(word.rstrip(".")), (name, shown, basis)
            assert title is not None and basis in title, (name, title, basis)
            words.setdefault(basis, set()).add(word)
        assert all(len(w) == 1 for w in words.values()), words
        assert len({w for ws in words.values() for w in ws}) == len(words), words  # one word per basis
        # On a wide screen the bars read as before: the basis in full, with any unpriced calls.
        pg.set_viewport_size({"width": 1200, "height": 900})
        pg.wait_for_function("() => document.querySelector('#breakdown svg').viewBox.baseVal.width >= 600")
        assert all(
            title is None and basis in shown
            for (_, shown, title), (_, basis) in zip(pg.evaluate(BARS), table, strict=True)
        )
        assert pg.errors == []


# Each text of the breakdown's chart (a bar's name in full, where a phone may cut it) and whether it
# lies whole within the chart.
SHOWN = """() => { const svg = document.querySelector('#breakdown svg'), box = svg.getBoundingClientRect();
  return [...svg.querySelectorAll('text')].map(t => { const r = t.getBoundingClientRect();
    return [t.getAttribute('data-name') || t.firstChild.nodeValue,
            r.left >= box.left - 0.5 && r.right <= box.right + 0.5
            && r.top >= box.top - 0.5 && r.bottom <= box.bottom + 0.5]; }); }"""


@pytest.mark.parametrize("width", [320, 600])
def test_a_bars_unpriced_calls_are_shown_in_words_on_a_phone(
    browser: Any, served: Served, width: int
) -> None:
    # Below 600 px a bar's amount stood alone, "$1.00 est.": its "+ 1 unpriced" was only in the
    # amount's title, which a phone never shows and most screen readers do not read.
    with opened(browser, served.url, width=width) as pg:
        pg.wait_for_selector("body[data-complete]", state="attached")
        pg.locator("#tab-agent").click()
        pg.wait_for_selector("#breakdown >> text=By agent")
        # The seeded reviewer made a $1 call and one to a model with no known price.
        cells = pg.locator("#breakdown tbody tr", has_text="reviewer").locator("td").all_inner_texts()
        assert cells[2].endswith("1 unpriced"), cells
        texts = pg.evaluate(SHOWN)
        names = [text for text, _ in texts]
        at = names.index("reviewer")
        assert names[at + 1 : at + 3] == ["$1.00 est.", "+ 1 unpriced"], names
        assert all(inside for _, inside in texts), texts  # each whole within the chart
        # A bar of unpriced calls only says how many, as the wide bar does.
        pg.locator("#tab-model").click()
        pg.wait_for_selector("#breakdown >> text=By model")
        names = [text for text, _ in pg.evaluate(SHOWN)]
        assert names[names.index("no-such-model-xyz") + 1] == "1 unpriced est.", names
        assert pg.errors == []


def arrowed(pg: Any, select: str, to: str) -> None:
    """``select`` focused and its value moved to ``to`` with the arrow keys, as a keyboard user
    passes through a closed select (each press a change on Linux and Windows)."""
    box = pg.locator(f'select[name="{select}"]')
    values = box.evaluate("s => [...s.options].map(o => o.value)")
    steps = values.index(to) - values.index(box.input_value())
    box.focus()
    for _ in range(abs(steps)):
        pg.keyboard.press("ArrowDown" if steps > 0 else "ArrowUp")
    assert box.input_value() == to


def dashboard_loads(pg: Any, since: int) -> list[str]:
    """The dashboard's loads of figures asked for after the page's ``since``-th request."""
    return [u for u in pg.requests[since:] if "/api/dashboard?" in u]


def test_arrowing_through_a_select_loads_once_and_is_one_step_back(browser: Any, served: Served) -> None:
    # Each arrow press on a closed select was a change: going from "today" to "last month" loaded the
    # figures five times, said "Loading…" five times and left five steps for Back to go through.
    with opened(browser, served.url + "&period=today") as pg:
        pg.wait_for_selector("body[data-complete]", state="attached")
        steps, asked = pg.evaluate("history.length"), len(pg.requests)
        arrowed(pg, "period", "last_month")
        pg.wait_for_selector('body[data-complete*="period=last_month"]', state="attached")
        loads = dashboard_loads(pg, asked)
        assert len(loads) == 1 and "period=last_month" in loads[0], loads
        assert pg.evaluate("history.length") == steps + 1
        # The filters too; and Enter, or leaving the select, applies the choice there and then.
        steps, asked = pg.evaluate("history.length"), len(pg.requests)
        arrowed(pg, "basis", "subscription")
        pg.keyboard.press("Enter")
        pg.wait_for_selector('body[data-complete*="basis=subscription"]', state="attached")
        loads = dashboard_loads(pg, asked)
        assert len(loads) == 1 and "basis=subscription" in loads[0], loads
        assert pg.evaluate("history.length") == steps + 1
        # Back goes to the figures before each choice, one step each.
        rendered_again(pg, pg.go_back)
        assert pg.locator('select[name="basis"]').input_value() == ""
        assert pg.locator('select[name="period"]').input_value() == "last_month"
        rendered_again(pg, pg.go_back)
        assert pg.locator('select[name="period"]').input_value() == "today"
        assert pg.errors == []


def test_the_minutes_refresh_in_a_keyboard_users_pause_is_their_choice(browser: Any, served: Served) -> None:
    # The refresh, due while a keyboard user paused on a new period, would load it quietly, with no
    # step for Back; the choice applied after the pause then found the address already its own.
    with opened(browser, served.url + "&period=today", fake_clock=True) as pg:
        pg.wait_for_selector("body[data-complete]", state="attached")
        pg.clock.pause_at(pg.evaluate("Date.now()"))
        # Found to the half second: the minute's refresh takes the figures down as it starts.
        while pg.evaluate("document.body.hasAttribute('data-complete')"):
            pg.clock.run_for(500)
        pg.wait_for_selector("body[data-complete]", state="attached")
        pg.clock.run_for(59_500)  # the next refresh is due within the half second to come
        steps, asked = pg.evaluate("history.length"), len(pg.requests)
        arrowed(pg, "period", "this_week")
        pg.clock.run_for(5_000)
        pg.wait_for_selector('body[data-complete*="period=this_week"]', state="attached")
        assert pg.evaluate("history.length") == steps + 1
        loads = dashboard_loads(pg, asked)  # the refresh and the choice, one load
        assert len(loads) == 1 and "period=this_week" in loads[0], loads
        assert pg.errors == []


def test_the_minutes_refresh_keeps_a_scrolled_tables_place_and_focus(browser: Any, served: Served) -> None:
    # At 320 px a person scrolling the sources' table from the keyboard lost it every minute: the
    # refresh drew the table again, scrolled back to its first column, and the focus fell to the top.
    with opened(browser, served.url, width=320, fake_clock=True) as pg:
        box = pg.locator("#sources .scroll")
        box.focus()
        # The arrow scrolls smoothly: its place is the one where the scrolling ends.
        box.evaluate(
            "b => b.addEventListener('scrollend', () => { window.left = b.scrollLeft; }, {once: true})"
        )
        pg.keyboard.press("ArrowRight")
        left = pg.wait_for_function("() => window.left").json_value()
        assert left > 0
        rendered_again(pg, lambda: pg.clock.run_for(61_000))
        assert pg.evaluate("document.activeElement.matches('#sources .scroll')")
        assert pg.evaluate("document.activeElement.scrollLeft") == left
        assert pg.errors == []


def test_an_empty_ledgers_dashboard_says_its_tables_are_empty(browser: Any, settings: Settings) -> None:
    # A table of headers over no cell at all (the breakdown's numbers, open, on a new ledger) read
    # to a screen reader as a table that failed to load.
    ledger = Ledger(settings.db)
    token = secrets.token_urlsafe(16)
    app = create_app(ledger, settings, Pricer(), token=token, allowed_hosts=["127.0.0.1"])
    try:
        for base in serve(app):
            with opened(browser, f"{base}/?token={token}") as pg:
                pg.wait_for_selector("body[data-complete]", state="attached")
                assert pg.locator("#breakdown tbody").inner_text() == "Nothing in this period."
                pg.locator("#daily summary").click()
                assert pg.locator("#daily tbody td").get_attribute("colspan") == "5"
                assert serious_violations(pg) == []
                assert pg.errors == []
    finally:
        ledger.close()


def test_a_brand_new_users_dashboard_says_what_to_connect_first_and_draws_no_empty_box(
    browser: Any, settings: Settings
) -> None:
    """The QA case (h-qadash): a first look, nothing set up, read $0.00 on every card over two
    empty boxes with only day and hour labels under them (the daily and hourly charts), as if
    drawing had failed; what to connect was the last of the notes at the foot of the page."""
    ledger = Ledger(settings.db)
    token = secrets.token_urlsafe(16)
    app = create_app(ledger, settings, Pricer(), token=token, allowed_hosts=["127.0.0.1"])
    try:
        for base in serve(app):
            with opened(browser, f"{base}/?token={token}", width=390) as pg:
                pg.wait_for_selector("body[data-complete]", state="attached")
                first = pg.locator("#first-run")
                assert first.is_visible()
                said = first.text_content() or ""
                assert said.startswith("no data source is connected yet: Claude Code logs are read from")
                assert said in pg.locator("#notes").inner_text()  # the server's words, not the page's
                # Above the figures: the first thing read after the filters.
                assert first.bounding_box()["y"] < pg.locator("#cards").bounding_box()["y"]
                for chart, said in (
                    ("#daily", "Nothing in this period."),
                    ("#hourly", "No call recorded one by one in this period."),
                ):
                    assert pg.locator(f"{chart} svg").count() == 0, chart
                    assert pg.locator(f"{chart}-empty").inner_text() == said
                assert serious_violations(pg) == []
                assert pg.errors == []
                # A call recorded: the notice goes, the charts are drawn.
                with ledger.use() as c:
                    record_call(
                        c, Pricer(), provider="openai", model="gpt-4o", tokens=Tokens(input=1000), agent="a"
                    )
                pg.reload()
                pg.wait_for_selector("body[data-complete]", state="attached")
                assert first.is_hidden()
                assert pg.locator("#daily svg").count() == 1 and pg.locator("#hourly svg").count() == 1
                assert pg.errors == []
    finally:
        ledger.close()


def test_the_team_pages_signed_out_and_in_on_a_narrow_screen(browser: Any, seeded: Settings) -> None:
    # At 320 px the sign-out button, placed over the header's corner, covered the label of the
    # filter at the end of the first row ("Provider" here) and the top of its select.
    tokens = _tokens(seeded)
    ledger = Ledger(seeded.db)
    context = browser.new_context(viewport={"width": 320, "height": 900})
    try:
        for base in serve(create_http_app(ledger, seeded, Pricer()), lifespan="on"):
            pg = context.new_page()
            pg.goto(f"{base}/")
            field = pg.locator('input[name="token"]')
            field.fill("cmt_not-a-token")
            pg.keyboard.press("Enter")
            pg.get_by_role("alert").wait_for()
            for scheme in ("light", "dark"):
                pg.emulate_media(color_scheme=scheme)
                assert serious_violations(pg) == [], scheme
            pg.emulate_media(color_scheme="light")
            assert pg.evaluate("document.documentElement.scrollWidth") == 320
            field.fill(tokens["admin"])
            pg.keyboard.press("Enter")
            pg.wait_for_selector("body[data-complete]", state="attached")
            assert pg.evaluate("document.documentElement.scrollWidth") == 320
            # The team's totals leave out the seeded call with no known price and say so in words.
            for where in ("#period-unpriced", "#breakdown-unpriced", "#hourly-unpriced"):
                assert pg.locator(where).inner_text().strip() == "+ 1 unpriced call not in the total"
            covered = pg.evaluate(
                """() => { const b = document.querySelector('#signout').getBoundingClientRect();
                return [...document.querySelectorAll('#controls label, #controls select')].filter(e => {
                  const r = e.getBoundingClientRect();
                  return r.left < b.right && b.left < r.right && r.top < b.bottom && b.top < r.bottom;
                }).map(e => (e.tagName === 'LABEL' ? e.firstChild.textContent : e.name).trim()) }"""
            )
            assert covered == []
            # Tab reaches the sign-out button first after the skip link, as it reads: beside the
            # title, before the filters.
            pg.evaluate("document.activeElement.blur()")
            pg.keyboard.press("Tab")
            assert pg.evaluate("document.activeElement.id") == "skip"
            pg.keyboard.press("Tab")
            assert pg.evaluate("document.activeElement.textContent") == "Sign out"
            pg.keyboard.press("Tab")
            assert pg.evaluate("document.activeElement.name") == "period"
            assert serious_violations(pg) == []
    finally:
        context.close()
        ledger.close()


SEEN = """e => { const r = e.getBoundingClientRect();
  return r.width > 20 && r.height > 10 && r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight; }"""


def skipped_to_the_figures(pg: Any) -> None:
    """The first Tab from the top reaches the skip link, shown while it has the focus; Enter moves
    the focus to the figures (main), and the next Tab to the first control among them."""
    link = pg.locator("#skip")
    assert not pg.evaluate(SEEN, link.element_handle())  # out of sight until it is needed
    pg.evaluate("document.activeElement.blur()")
    pg.keyboard.press("Tab")
    assert pg.evaluate("document.activeElement.id") == "skip"
    assert link.inner_text() == "Skip to figures" and pg.evaluate(SEEN, link.element_handle())
    assert pg.evaluate(FOCUSED)[1]  # with its focus ring
    steps, at = pg.evaluate("history.length"), pg.url
    pg.keyboard.press("Enter")
    assert pg.evaluate("document.activeElement.tagName") == "MAIN"
    assert pg.evaluate("document.activeElement.getBoundingClientRect().top") < 10  # scrolled to it
    assert not pg.evaluate(SEEN, link.element_handle())
    assert (pg.evaluate("history.length"), pg.url) == (steps, at)  # no step for Back, no reload
    pg.keyboard.press("Tab")
    assert pg.evaluate(FOCUSED) == ["stack", True]


def test_a_keyboard_user_skips_the_header_and_filters_to_the_figures(browser: Any, served: Served) -> None:
    # The figures came after seven filters (and Sign out on a team's page): a keyboard user
    # tabbed through all of them on every visit, at every width.
    with opened(browser, served.url, width=1280) as pg:
        for width in (1280, 320):
            pg.set_viewport_size({"width": width, "height": 900})
            pg.reload()  # Tab starts from the top again
            pg.wait_for_selector("body[data-complete]", state="attached")
            skipped_to_the_figures(pg)
            assert serious_violations(pg) == []
        assert pg.errors == []


def test_a_screen_reader_names_each_budget_by_its_heading(browser: Any, served: Served) -> None:
    # The totals' cards were named by their headings, the budgets' gauges not: a screen reader's
    # list of the page's articles read "article" three times after the three totals.
    with opened(browser, served.url) as pg:
        pg.wait_for_selector("body[data-complete]", state="attached")
        headings = pg.locator("#budgets article h3").all_inner_texts()
        assert len(headings) == 3
        assert accessible_names(pg, "article")[3:] == headings
        assert pg.errors == []


def test_a_team_admin_skips_the_header_and_filters_to_the_figures(browser: Any, seeded: Settings) -> None:
    tokens = _tokens(seeded)
    ledger = Ledger(seeded.db)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        for base in serve(create_http_app(ledger, seeded, Pricer()), lifespan="on"):
            pg = context.new_page()
            pg.goto(f"{base}/")
            pg.locator('input[name="token"]').fill(tokens["admin"])
            pg.keyboard.press("Enter")
            pg.wait_for_selector("body[data-complete]", state="attached")
            for width in (1280, 320):
                pg.set_viewport_size({"width": width, "height": 900})
                pg.reload()
                pg.wait_for_selector("body[data-complete]", state="attached")
                skipped_to_the_figures(pg)
                assert serious_violations(pg) == []
    finally:
        context.close()
        ledger.close()


def test_the_mcp_app_in_its_host_has_nothing_serious(browser: Any, seeded: Settings) -> None:
    got = over_mcp()
    context = browser.new_context(viewport={"width": 1150, "height": 900})
    try:
        page = context.new_page()
        page.expose_function("callTool", _call)
        page.set_content(HOST)
        page.evaluate("r => { window.toolResult = r; }", got["result"])
        page.evaluate("html => { document.getElementById('view').srcdoc = html; }", got["html"])
        page.frame_locator("#view").locator("body[data-ready]").wait_for()
        view = next(f for f in page.frames if f is not page.main_frame)
        assert serious_violations(view) == []
    finally:
        context.close()
