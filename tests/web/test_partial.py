"""The dashboard's answers are complete or say what they lack, as the MCP tools' are: a refresh
that stopped at its time budget (a first look at a long log history), a refresh skipped because
another process held the ledger, log lines skipped as bad. Before, the app dropped all three and
showed a partial total as if it were the whole."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
import pytest

from cost_mcp import sync
from cost_mcp.analytics import budgets, spend
from cost_mcp.analytics.coverage import partial_report_lines
from cost_mcp.config import Settings, load_settings
from cost_mcp.models import BudgetScope, Dashboard, SpendResult
from cost_mcp.pricing import Pricer
from cost_mcp.store import Ledger, connect, write_transaction
from cost_mcp.web.app import create_app
from tests.sources.claude_logs import (
    a_call_and_a_project_to_hide,
    assistant,
    read_without,
    session_file,
    write,
)
from tests.sources.fake_providers import FakeOpenAI, Router
from tests.test_complete import _big_tree
from tests.web.conftest import Served, serve

INCOMPLETE = "INCOMPLETE: Claude Code logs are still being read"


@contextmanager
def dashboard(settings: Settings, refresh_every: float | None = None) -> Iterator[httpx2.Client]:
    """The dashboard app mounted without a token (as the team server mounts it), over real HTTP."""
    ledger = Ledger(settings.db)
    app = create_app(ledger, settings, Pricer(), token=None, refresh_every=refresh_every)
    try:
        for base in serve(app):
            with httpx2.Client(base_url=base, timeout=60) as client:
                yield client
    finally:
        ledger.close()


def spend_now(client: httpx2.Client) -> SpendResult:
    r = client.get("/api/spend", params={"period": "last_7_days"})
    assert r.status_code == 200, r.text
    return SpendResult.model_validate_json(r.text)


@pytest.mark.parametrize("refresh_every", [None, 60.0], ids=["every-request", "shared-refresh"])
def test_a_long_history_is_labelled_partial_until_it_is_read(
    home: Path, monkeypatch: pytest.MonkeyPatch, clock: None, refresh_every: float | None
) -> None:
    # No time at all to read logs before answering: each question's refresh reads a little.
    monkeypatch.setenv("COST_MCP_REFRESH_BUDGET_SECONDS", "0")
    truth = _big_tree(home / "claude", datetime.now(UTC) - timedelta(minutes=1))
    bad = home / "claude" / "projects" / "-home-dev-app" / "s0.jsonl"
    with bad.open("a") as out:
        out.write('{"type": "assistant", "message": {"usage": \n')  # cut off mid-line, then a newline
    with dashboard(load_settings(), refresh_every) as client:
        first = spend_now(client)
        assert first.complete is False and first.reading is not None
        assert first.reading.bytes_left is not None and first.reading.bytes_left > 0
        assert first.warnings[0].startswith(INCOMPLETE)
        assert first.total_usd < truth
        assert 0 < first.reading.bytes_read < first.reading.bytes_left
        page = Dashboard.model_validate_json(client.get("/api/dashboard").text)
        partial = [page] if not page.complete else []
        answers = [first]
        for _ in range(2_000):
            answers.append(spend_now(client))
            if answers[-1].complete:
                break
        final = answers[-1]
        assert final.complete is True and final.reading is None, "the reading never ended"
        assert final.total_usd == truth
        assert not any(w.startswith(INCOMPLETE) for w in final.warnings)
        assert any(
            "1 Claude Code log line in 1 file was skipped and is not counted" in w for w in final.warnings
        )
        # Every partial answer said so, the reading grew (counted from the first), and so did the totals.
        assert all(a.warnings[0].startswith(INCOMPLETE) for a in answers[:-1])
        read = [a.reading.bytes_read for a in answers[:-1] if a.reading is not None]
        assert len(read) == len(answers) - 1 and read == sorted(read) and read[-1] > read[0]
        assert [a.total_usd for a in answers] == sorted(a.total_usd for a in answers)
        for d in partial:
            assert d.warnings[0].startswith(INCOMPLETE) and d.reading is not None


def test_an_answer_that_could_not_refresh_says_why(home: Path, settings: Settings, clock: None) -> None:
    _big_tree(home / "claude", datetime.now(UTC) - timedelta(minutes=1))
    with dashboard(settings) as client:
        other = connect(settings.db)
        try:
            with write_transaction(other):  # another process writing the ledger for a while
                spent = spend_now(client)
                page = Dashboard.model_validate_json(client.get("/api/dashboard").text)
        finally:
            other.close()
        assert sync.BUSY_WARNING in spent.warnings and sync.BUSY_WARNING in page.warnings
        assert spent.total_usd == 0  # nothing read yet: and it says why
        assert sync.BUSY_WARNING not in spend_now(client).warnings


def test_the_page_says_its_figures_are_partial(
    home: Path, monkeypatch: pytest.MonkeyPatch, clock: None, browser: Any
) -> None:
    monkeypatch.setenv("COST_MCP_REFRESH_BUDGET_SECONDS", "0")
    _big_tree(home / "claude", datetime.now(UTC) - timedelta(minutes=1))
    settings = load_settings()
    ledger = Ledger(settings.db)
    context = browser.new_context()
    try:
        for base in serve(create_app(ledger, settings, Pricer(), token=None)):
            pg = context.new_page()
            pg.goto(base)
            pg.wait_for_selector("body[data-ready]")
            status = pg.locator("#status")
            assert status.inner_text().startswith(INCOMPLETE)
            assert "error" in (status.get_attribute("class") or "")
            # Each card too: they showed the amount read so far and nothing else (no source was in
            # error, the only thing a card looked at).
            for card in ("today", "week", "month"):
                said = pg.locator(f"#card-{card}").inner_text()
                assert "partial INCOMPLETE: Claude Code logs are still being read" in said, said
            with httpx2.Client(base_url=base, timeout=60) as client:
                # each question's refresh reads at least one more file
                assert any(spend_now(client).complete for _ in range(2_000)), "the reading never ended"
            pg.reload()
            pg.wait_for_selector("body[data-ready]")
            assert status.inner_text().startswith("Figures of")
            assert "error" not in (status.get_attribute("class") or "")
            assert "partial" not in pg.locator("#cards").inner_text()
    finally:
        context.close()
        ledger.close()


def test_a_missing_bill_makes_the_dashboard_partial(
    home: Path, monkeypatch: pytest.MonkeyPatch, clock: None
) -> None:
    """The QA case (h-cover F7): with OpenAI's bill never synced (its API offline), every part of
    /api/dashboard said "PARTIAL: openai: never synced ..." in its own warnings, yet the dashboard
    said complete: true (only its top-level warnings were weighed) and the page showed no partial
    status. Now the parts' PARTIAL lines lead the dashboard's own warnings, once each."""
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-" + "a" * 40)
    monkeypatch.setenv("COST_MCP_OPENAI_BASE_URL", "http://127.0.0.1:9")
    with dashboard(load_settings()) as client:
        page = Dashboard.model_validate_json(client.get("/api/dashboard").text)
    assert any(w.startswith("PARTIAL: openai: never synced") for w in page.this_month.warnings)
    assert page.complete is False
    assert page.warnings[0].startswith("PARTIAL: openai: never synced")
    assert len([w for w in page.warnings if w.startswith("PARTIAL: openai")]) == 1


def test_the_dashboards_rows_say_whether_a_missing_bill_may_be_in_them(
    home: Path, monkeypatch: pytest.MonkeyPatch, clock: None
) -> None:
    """Rows of spend carry complete (h-label2), set by each answer's envelope: the dashboard's parts
    are not answers of their own, so with Anthropic's bill never synced their rows said complete
    true under parts that said false. Each part's rows are now weighed on its own PARTIAL lines:
    with Anthropic's bill missing its rows are not complete (and the dashboard tool's text, which
    read "today: ≥$0.0045 (estimated $0.0045)", marks them); with OpenAI's, the Anthropic row by
    day and provider is."""
    from cost_mcp.analytics.dashboard import dashboard_text

    now = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    write(session_file(home / "claude", "s1"), assistant("m1", "r1", now, input=1000, output=100))

    def rows(provider: str) -> dict[str, list[bool]]:
        monkeypatch.setenv(
            f"{provider.upper()}_ADMIN_KEY",
            ("sk-ant-admin01-" if provider == "anthropic" else "sk-admin-") + "a" * 40,
        )
        monkeypatch.setenv(f"COST_MCP_{provider.upper()}_BASE_URL", "http://127.0.0.1:9")
        try:
            with dashboard(load_settings()) as client:
                page = Dashboard.model_validate_json(client.get("/api/dashboard").text)
        finally:
            monkeypatch.delenv(f"{provider.upper()}_ADMIN_KEY")
        assert page.complete is False and page.daily_by_provider.complete is False
        said[provider] = dashboard_text(page).splitlines()
        return {
            "daily": [r.complete for r in page.daily_by_provider.rows],
            **{dim: [r.complete for r in b.rows] for dim, b in page.breakdowns.items()},
        }

    said: dict[str, list[str]] = {}
    anthropic = rows("anthropic")
    assert anthropic["daily"] == [False] and all(v and not any(v) for v in anthropic.values()), anthropic
    # The dashboard tool's text, of the same answer: its parts and rows at least too.
    text = said["anthropic"]
    assert text[0].endswith(": ≥$0.0045 (estimated ≥$0.0045)"), text
    top = next(line for line in text if line.startswith("top models: "))
    assert top.endswith(" ≥$0.0045 estimated"), text
    # By day and provider the Anthropic row cannot hold OpenAI's bill; a row of a model, agent or
    # project names no provider, so it may (conservatively marked).
    openai = rows("openai")
    assert openai["daily"] == [True] and openai["model"] == [False], openai


def test_a_bill_synced_before_its_day_ended_is_labelled_so_far_on_the_page(
    browser: Any, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The QA case (h-qadash): OpenAI's bill for today, synced this morning, is counted as it stood
    ($5.00 of calls this machine logged at $4.00): the cards read "billed $5.00" as final as last
    week's bill, while `cost-mcp report` says "partial: openai: <today> billed so far (...); may
    still grow". Each card with such a day, the daily chart and the notes now say it in the CLI's words."""
    today = datetime.now(UTC).date().isoformat()
    costs = {today: [{"object": "organization.costs.result", "amount": {"value": "5.00", "currency": "usd"}}]}
    router = Router(openai=FakeOpenAI({"/v1/organization/costs": costs}))
    monkeypatch.setenv("OPENAI_ADMIN_KEY", router.openai.key)
    with served.ledger.use() as c:
        synced = sync.sync_providers(
            c, load_settings(), Pricer(), ["openai"], transport=router.transport(), days=2
        )
        assert all(s.ok for s in synced.sources), synced
        p = spend.resolve(served.settings, "this_month", None, None, None)
        month = spend.get_spend(c, served.settings, p, take_alerts=False)
        only = spend.Filters(providers=["anthropic"])
        anthropic = spend.get_spend(c, served.settings, p, filters=only, take_alerts=False)
    [line] = partial_report_lines(month.sources)  # the CLI's line under its table
    # Asked for Anthropic alone, OpenAI's bill (in no figure of the answer) is not said to grow.
    assert partial_report_lines(anthropic.sources) == []
    assert line.startswith(f"openai: {today} billed so far (synced before the day ended")
    assert month.by_basis["billed"] == 5
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    try:
        pg = context.new_page()
        pg.goto(served.url)
        pg.wait_for_selector("body[data-ready]")
        for card in ("today", "week", "month"):
            said = pg.locator(f"#card-{card}").inner_text()
            assert "billed $5.00" in said and f"partial {line}" in said, said
        assert f"partial {line}" in pg.locator("#daily").inner_text()
        assert f"partial: {line}" in pg.locator("#notes").inner_text()
        # Filtered to Anthropic, OpenAI's bill is in no figure: nothing is said of it.
        pg.goto(f"{served.base}/?providers=anthropic")
        pg.wait_for_selector("body[data-ready]")
        assert "billed so far" not in pg.locator("#main").inner_text()
    finally:
        context.close()


def test_a_budget_whose_bill_is_missing_marks_its_gauge_as_a_bound(
    home: Path, monkeypatch: pytest.MonkeyPatch, clock: None, browser: Any
) -> None:
    """With OpenAI's bill never synced (its API offline), an OpenAI budget's gauge read "on track ·
    $0.00 spent (0%), $100.00 left" as if nothing were spent, where `cost-mcp budget status` marks
    its row (≥$0.00, ≤$100.00, ≥0.0). The gauge now says the same, and why; a budget that counts no
    missing bill keeps its plain figures."""
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-" + "a" * 40)
    monkeypatch.setenv("COST_MCP_OPENAI_BASE_URL", "http://127.0.0.1:9")
    settings = load_settings()
    ledger = Ledger(settings.db)
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    try:
        with ledger.use() as c:
            budgets.set_budget(c, "openai", Decimal(100), "month", BudgetScope(providers=["openai"]))
            budgets.set_budget(c, "local", Decimal(100), "month", BudgetScope(agents=["claude-code"]))
        for base in serve(create_app(ledger, settings, Pricer(), token=None)):
            pg = context.new_page()
            pg.goto(base)
            pg.wait_for_selector("body[data-ready]")
            gauge = pg.locator('.gauge[data-budget="openai"]')
            said = " ".join(gauge.inner_text().split())
            assert "≥$0.00 spent (≥0%), ≤$100.00 left" in said, said
            assert "partial a provider's bill the budget counts is missing" in said, said
            assert "today included: ≥$0.00" in said, said
            label = gauge.locator("svg").get_attribute("aria-label")
            assert label.startswith("openai: at least 0% of $100.00 spent, projected at least $0.00"), label
            assert label.endswith("a provider's bill the budget counts is missing"), label
            local = " ".join(pg.locator('.gauge[data-budget="local"]').inner_text().split())
            assert "$0.00 spent (0%), $100.00 left" in local and "≥" not in local and "≤" not in local, local
            assert "bill the budget counts is missing" not in local
            assert "PARTIAL: openai: never synced" in pg.locator("#notes").inner_text()
    finally:
        context.close()
        ledger.close()


def test_a_missing_bill_marks_the_pages_totals_as_lower_bounds(
    home: Path, monkeypatch: pytest.MonkeyPatch, clock: None, browser: Any
) -> None:
    """With OpenAI's bill never synced, the page said PARTIAL at the top, yet its cards, the period's
    total, the breakdown's and the forecast read "$0.0045" as the whole, as `cost-mcp report` did
    before h-tidy9; each now reads "≥$0.0045" (money.bounded's mark, as the gauges have), and the
    dashboard tool's text says so too. The hours (calls recorded one by one, no bill in them) stay
    plain, as does every total once nothing is missing."""
    from cost_mcp.analytics.dashboard import build_dashboard, dashboard_text
    from tests.sources.claude_logs import assistant, session_file, write

    now = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    write(session_file(home / "claude", "s1"), assistant("m1", "r1", now, input=1000, output=100))
    totals = ("#total-today", "#total-week", "#total-month", "#period-total", "#breakdown-total")
    figures = ("#forecast-spent", "#forecast-projected")
    context = browser.new_context(viewport={"width": 1200, "height": 900})

    def shown(missing: bool) -> dict[str, str]:
        settings = load_settings()
        ledger = Ledger(settings.db)
        try:
            for base in serve(create_app(ledger, settings, Pricer(), token=None)):
                pg = context.new_page()
                pg.goto(base)
                pg.wait_for_selector("body[data-ready]")
                pg.wait_for_selector("#breakdown-total")
                said = {
                    where: pg.locator(where).inner_text() for where in (*totals, *figures, "#hourly-total")
                }
                assert ("PARTIAL: openai: never synced" in pg.locator("#status").inner_text()) is missing
                pg.close()
            with ledger.use() as c:
                text = dashboard_text(build_dashboard(c, settings))
            said["text"] = "\n".join(text.splitlines()[:3])
        finally:
            ledger.close()
        return said

    try:
        plain = shown(missing=False)
        assert all(plain[where] == "$0.0045" for where in totals), plain
        assert "≥" not in plain["text"], plain
        monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-" + "a" * 40)
        monkeypatch.setenv("COST_MCP_OPENAI_BASE_URL", "http://127.0.0.1:9")
        marked = shown(missing=True)
    finally:
        context.close()
    assert all(marked[where] == "≥$0.0045" for where in totals), marked
    assert all(marked[where] == "≥" + plain[where] for where in figures), marked
    assert marked["#hourly-total"] == plain["#hourly-total"] == "$0.0045", marked
    assert [line.split(" (")[0] for line in marked["text"].splitlines()] == [
        "today: ≥$0.0045",
        "this week: ≥$0.0045",
        "this month: ≥$0.0045",
    ], marked


@pytest.mark.sqlite_only  # about log folders; root without the capabilities cannot reach PostgreSQL
def test_logs_that_could_not_be_opened_mark_the_pages_totals_and_hours_as_lower_bounds(
    home: Path, clock: None, browser: Any
) -> None:
    """With a project folder the last read could not open, the page said "PARTIAL: claude_code logs:
    the last read could not open some files or folders" at the top, yet its cards, the period's and
    the breakdown's totals, the forecast and the hours' total read "$0.0045" as the whole (the hours
    were marked only while logs were still being read), though that folder's calls are missing
    from each (a card's "partial claude_code error" beside it), and so did the dashboard tool's
    text. Each now reads "≥$0.0045", until the folder is read; with only a bill missing the hours
    stay plain (the test above: billed amounts are not in them)."""
    from cost_mcp import catchup
    from cost_mcp.analytics.dashboard import build_dashboard, dashboard_text

    hidden = a_call_and_a_project_to_hide(home / "claude")
    totals = (
        "#total-today",
        "#total-week",
        "#total-month",
        "#period-total",
        "#breakdown-total",
        "#hourly-total",
    )
    context = browser.new_context(viewport={"width": 1200, "height": 900})

    def shown() -> dict[str, str]:
        settings = load_settings()
        ledger = Ledger(settings.db)
        try:
            # No refresh of its own: this process (root) would read the folder and close the gap.
            for base in serve(create_app(ledger, settings, Pricer(), token=None, refresh=False)):
                pg = context.new_page()
                pg.goto(base)
                pg.wait_for_selector("body[data-ready]")
                pg.wait_for_selector("#breakdown-total")
                said = {
                    where: pg.locator(where).inner_text() for where in (*totals, "#status", "#card-today")
                }
                said["#forecast-spent"] = pg.locator("#forecast-spent").inner_text()
                pg.close()
            with ledger.use() as c:
                text = dashboard_text(catchup.envelope(c, settings, build_dashboard(c, settings)))
            said["text"] = "\n".join(line.split(" (")[0] for line in text.splitlines()[:3])
        finally:
            ledger.close()
        return said

    read_without(hidden)
    try:
        marked = shown()
        # The folder can be read now: the next read counts its calls.
        subprocess.run([sys.executable, "-m", "cost_mcp", "report"], check=True, capture_output=True)
        plain = shown()
    finally:
        context.close()
    assert "PARTIAL: claude_code logs: the last read could not open" in marked["#status"], marked
    assert all(marked[where] == "≥$0.0045" for where in totals), marked
    assert marked["#forecast-spent"] == "≥$0.0045", marked
    assert "partial claude_code error" in marked["#card-today"], (
        marked
    )  # the card said so, yet read "$0.0045"
    assert marked["text"] == "today: ≥$0.0045\nthis week: ≥$0.0045\nthis month: ≥$0.0045", marked
    assert all(plain[where] == "$0.0090" for where in totals), plain
    assert "≥" not in plain["text"] and "PARTIAL" not in plain["#status"] + plain["#card-today"], plain


@pytest.mark.sqlite_only  # about log folders; root without the capabilities cannot reach PostgreSQL
def test_logs_that_could_not_be_opened_mark_the_gauges_of_budgets_they_count(
    home: Path, clock: None, browser: Any
) -> None:
    """With a project folder the last read could not open, the page said PARTIAL at the top and
    marked its totals (409f8af), yet the gauge of a budget of every call read "on track · $0.0045
    spent (0%), $100.00 left" as sure (a budget's complete weighed bills only). A gauge whose budget
    counts those logs' calls now says at least and why; one of OpenAI's bill, which they cannot
    touch, stays plain."""
    hidden = a_call_and_a_project_to_hide(home / "claude")
    settings = load_settings()
    ledger = Ledger(settings.db)
    with ledger.use() as c:
        budgets.set_budget(c, "all", Decimal(100), "month", BudgetScope())
        budgets.set_budget(c, "openai", Decimal(100), "month", BudgetScope(providers=["openai"]))
    read_without(hidden)
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    try:
        # No refresh of its own: this process (root) would read the folder and close the gap.
        for base in serve(create_app(ledger, settings, Pricer(), token=None, refresh=False)):
            pg = context.new_page()
            pg.goto(base)
            pg.wait_for_selector("body[data-ready]")
            gauge = pg.locator('.gauge[data-budget="all"]')
            said = " ".join(gauge.inner_text().split())
            assert "≥$0.0045 spent (≥0%), ≤$100.00 left" in said, said
            assert (
                "partial claude_code log files the budget counts could not be opened (see the notes)" in said
            )
            label = gauge.locator("svg").get_attribute("aria-label")
            assert label.endswith("; claude_code log files the budget counts could not be opened"), label
            other = " ".join(pg.locator('.gauge[data-budget="openai"]').inner_text().split())
            assert (
                "$0.00 spent (0%), $100.00 left" in other and "≥" not in other and "partial" not in other
            ), other
            # The day's row in the table of numbers, as `report`'s rows: at least.
            day = pg.locator("#daily table tbody tr").first.text_content() or ""
            assert "estimated≥$0.0045" in day.replace(" ", ""), day
    finally:
        context.close()
        ledger.close()
