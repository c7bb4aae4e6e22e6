"""The dashboard app over real HTTP (uvicorn on 127.0.0.1): the token gate, the JSON endpoints
returning the tools' own results, mounting behind another app, the page's weight, the CLI."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from cost_mcp.analytics import budgets, dashboard, forecast, hourly, spend
from cost_mcp.config import Settings
from cost_mcp.models import Breakdown, BudgetStatusResult, Dashboard, Forecast, HourlyCost, SpendResult
from cost_mcp.pricing import Pricer
from cost_mcp.store import Ledger, connect
from cost_mcp.web.app import STATIC, create_app
from cost_mcp.web.page import page_html
from tests.web.conftest import THIRDS, Served, bill_thirds, serve

PAGE_BUDGET = 500_000


def session(served: Served) -> httpx2.Client:
    """A client holding the session cookie the one-time token was exchanged for."""
    client = httpx2.Client(base_url=served.base, timeout=30, follow_redirects=True)
    r = client.get(f"/?token={served.token}")
    assert r.status_code == 200 and r.history and r.history[0].status_code == 303
    return client


@pytest.fixture
def client(served: Served) -> Iterator[httpx2.Client]:
    c = session(served)
    try:
        yield c
    finally:
        c.close()


def test_nothing_answers_without_the_token(served: Served) -> None:
    with httpx2.Client(base_url=served.base, timeout=30) as anon:
        for path in ("/", "/api/dashboard", "/api/spend", "/static/app.js"):
            r = anon.get(path)
            assert r.status_code == 401, path
            assert "cost-mcp dashboard" in r.text
        assert anon.get("/?token=wrong").status_code == 401
    with httpx2.Client(base_url=served.base, timeout=30, cookies={"cost_mcp_x": "forged"}) as forged:
        assert forged.get("/").status_code == 401


def test_the_token_works_once_and_leaves_the_address_bar(served: Served) -> None:
    with httpx2.Client(base_url=served.base, timeout=30, follow_redirects=False) as c:
        first = c.get(f"/?token={served.token}&period=today")
        assert first.status_code == 303
        assert first.headers["location"] == "/?period=today"
        cookie = first.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert c.get("/").status_code == 200  # the cookie now
    with httpx2.Client(base_url=served.base, timeout=30) as other:
        again = other.get(f"/?token={served.token}")
        assert again.status_code == 401 and "works once" in again.text


def test_a_rebound_host_name_is_refused(client: httpx2.Client) -> None:
    assert client.get("/api/budgets", headers={"Host": "evil.example"}).status_code == 400


def test_page_forbids_anything_from_elsewhere(client: httpx2.Client) -> None:
    r = client.get("/")
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp and "script-src 'self'" in csp
    assert not re.search(r"(src|href)=\"(https?:)?//", r.text)
    for name in ("app.js", "app.css"):
        asset = client.get(f"/static/{name}")
        assert asset.status_code == 200
        assert "http://" not in asset.text.replace("http://www.w3.org/2000/svg", "")
        assert "https://" not in asset.text


def _has_the_pages_security_headers(r: httpx2.Response) -> bool:
    return (
        r.headers.get("x-content-type-options") == "nosniff"
        and "frame-ancestors 'none'" in r.headers.get("content-security-policy", "")
        and r.headers.get("referrer-policy") in ("no-referrer", "same-origin")
        and r.headers.get("cache-control") == "no-store"
    )


def test_every_response_carries_the_pages_security_headers(client: httpx2.Client, served: Served) -> None:
    """The page and /api/* had nosniff, a CSP with frame-ancestors 'none', no-referrer and no-store;
    the dashboard's own code under /static/*, a 404, a refused host and the gate's refusals had none
    of them (a browser could sniff a static file's type, a page elsewhere frame a refusal)."""
    answers = {
        path: client.get(path)
        for path in (
            "/",
            "/api/budgets",
            "/static/app.js",
            "/static/app.css",
            "/static/nothing.js",
            "/nowhere",
        )
    }
    answers["rebound host"] = client.get("/", headers={"Host": "evil.example"})
    with httpx2.Client(base_url=served.base, timeout=30) as anon:
        answers["no session"] = anon.get("/static/app.js")
    assert [r.status_code for r in answers.values()] == [200, 200, 200, 200, 404, 404, 400, 401]
    assert [what for what, r in answers.items() if not _has_the_pages_security_headers(r)] == []


def test_endpoints_return_the_tools_results(client: httpx2.Client, served: Served) -> None:
    settings = served.settings
    conn = connect(settings.db)
    try:
        p = spend.resolve(settings, "this_month", None, None, None)
        want = spend.get_spend(conn, settings, p, ["provider"], spend.Filters(agents=["triage"]))
        got = SpendResult.model_validate_json(
            client.get(
                "/api/spend", params={"period": "this_month", "group_by": "provider", "agents": "triage"}
            ).text
        )
        assert got.total_usd == want.total_usd > 0
        assert [(r.group, r.cost_usd) for r in got.rows] == [(r.group, r.cost_usd) for r in want.rows]
        status = BudgetStatusResult.model_validate_json(client.get("/api/budgets").text)
        assert [b.spent_usd for b in status.budgets] == [
            b.spent_usd for b in budgets.budget_status(conn, settings, take_alerts=False).budgets
        ]
        fc = Forecast.model_validate_json(client.get("/api/forecast").text)
        assert fc.spent_usd == forecast.spend_forecast(conn, settings, p, take_alerts=False).spent_usd
        hours = HourlyCost.model_validate_json(client.get("/api/hourly").text)
        assert hours.total_usd == hourly.cost_by_hour(conn, settings, p).total_usd
        d = Dashboard.model_validate_json(client.get("/api/dashboard").text)
        assert d.this_month.total_usd == spend.get_spend(conn, settings, p).total_usd
        assert d.daily_by_provider.total_usd == d.this_month.total_usd
        assert {s.budget.name: s.status for s in d.budgets.budgets}["daily-cap"] == "exceeded"
        assert d.breakdowns["agent"].total_usd == d.this_month.total_usd
        filtered = Dashboard.model_validate_json(
            client.get("/api/dashboard", params={"providers": "anthropic"}).text
        )
        assert filtered.filters == {"providers": ["anthropic"]}
        assert filtered.this_month.total_usd == (
            spend.get_spend(conn, settings, p, (), spend.Filters(providers=["anthropic"])).total_usd
        )
        assert filtered.this_month.total_usd < d.this_month.total_usd
    finally:
        conn.close()


def test_the_dashboard_does_not_eat_the_conversations_alerts(client: httpx2.Client, served: Served) -> None:
    from cost_mcp import sync

    conn = connect(served.settings.db)
    try:
        sync.fire_alerts(conn, served.settings)
        assert client.get("/api/dashboard").status_code == 200
        assert client.get("/api/budgets").status_code == 200
        from cost_mcp.analytics.alerts import take_alerts

        assert any("daily-cap" in a for a in take_alerts(conn))
    finally:
        conn.close()


def test_the_page_can_ask_for_one_breakdown_then_the_others(client: httpx2.Client, served: Served) -> None:
    d = Dashboard.model_validate_json(client.get("/api/dashboard", params={"breakdowns": "agent"}).text)
    assert list(d.breakdowns) == ["agent"]
    settings = served.settings
    conn = connect(settings.db)
    try:
        p = spend.resolve(settings, None, None, None, None)
        for dim in dashboard.BREAKDOWN_DIMS:
            got = Breakdown.model_validate_json(
                client.get("/api/breakdown", params={"dim": dim, "providers": "openai"}).text
            )
            want = spend.get_spend(conn, settings, p, [dim], spend.Filters(providers=["openai"]))
            assert got.rows == want.rows and got.total_usd == want.total_usd
    finally:
        conn.close()
    r = client.get("/api/dashboard", params={"breakdowns": "colour"})
    assert r.status_code == 400 and "no breakdown by 'colour'" in r.json()["error"]


def test_a_breakdown_whose_rounded_rows_miss_its_total_carries_the_note(
    client: httpx2.Client, served: Served
) -> None:
    # $3.335 three times: the rows show $3.34 each, $10.02 in all, under a total of $10.00.
    with served.ledger.use() as c:
        bill_thirds(c)
    picked = {"models": list(THIRDS)}
    d = Dashboard.model_validate_json(
        client.get("/api/dashboard", params={**picked, "breakdowns": "model"}).text
    )
    one = Breakdown.model_validate_json(client.get("/api/breakdown", params={**picked, "dim": "model"}).text)
    for b in (d.breakdowns["model"], one):
        assert [r.cost_usd for r in b.rows] == [Decimal("3.335")] * 3 and b.total_usd == Decimal("10.005")
        assert b.rounding_note is not None
        assert "add up to $10.02" in b.rounding_note and "$10.00 is their exact sum" in b.rounding_note
    # Rows that add up as shown (the seeded $3, $6 and $1 by agent) carry none.
    whole = Dashboard.model_validate_json(client.get("/api/dashboard", params={"breakdowns": "agent"}).text)
    assert whole.breakdowns["agent"].total_usd > 0 and whole.breakdowns["agent"].rounding_note is None


def test_a_bad_argument_is_a_clear_400(client: httpx2.Client) -> None:
    r = client.get("/api/dashboard", params={"period": "fortnight"})
    assert r.status_code == 400
    assert "period" in r.json()["error"]
    r = client.get("/api/spend", params={"group_by": "colour"})
    assert r.status_code == 400 and "cannot group by 'colour'" in r.json()["error"]
    # A misspelt parameter was ignored, and the default period answered as if asked.
    r = client.get("/api/spend", params={"perod": "today"})
    assert r.status_code == 400
    assert r.json()["error"].startswith("unknown parameter(s) 'perod'; this endpoint takes period, start")
    r = client.get("/api/budgets", params={"name": "daily-cap"})
    assert r.status_code == 400
    assert r.json()["error"] == "unknown parameter(s) 'name'; this endpoint takes none"
    assert client.get("/api/hourly", params={"period": "today", "providers": "openai"}).status_code == 200


def test_mounted_behind_another_app_without_a_token(seeded: Settings) -> None:
    """How the team HTTP server will use it: mounted under a path, behind its own auth."""
    ledger = Ledger(seeded.db)
    try:
        outer = Starlette(routes=[Mount("/dashboard", create_app(ledger, seeded, Pricer(), token=None))])
        for base in serve(outer):
            with httpx2.Client(base_url=base, timeout=30, follow_redirects=True) as c:
                page = c.get("/dashboard/")
                assert page.status_code == 200 and 'href="static/app.css"' in page.text
                assert c.get("/dashboard/static/app.js").status_code == 200
                d = Dashboard.model_validate_json(c.get("/dashboard/api/dashboard").text)
                # The server runs on the real clock, the seeding on the clock fixture's: its budgets
            # (which no hour moves) show it serves the seeded ledger.
            assert {"daily-cap", "triage-daily", "monthly"} <= {s.budget.name for s in d.budgets.budgets}
    finally:
        ledger.close()


def test_page_weight_is_under_500_kb_and_the_app_is_self_contained() -> None:
    web = len(page_html("web").encode()) + sum((STATIC / n).stat().st_size for n in ("app.js", "app.css"))
    app = page_html("app")
    assert web < PAGE_BUDGET and len(app.encode()) < PAGE_BUDGET
    assert 'data-mode="app"' in app and "<script src" not in app and '<link rel="stylesheet"' not in app
    assert "ui/initialize" in app


def test_dashboard_text_has_the_same_facts(seeded: Settings) -> None:
    conn = connect(seeded.db)
    try:
        d = dashboard.build_dashboard(conn, seeded, now=datetime.now(UTC))
    finally:
        conn.close()
    text = dashboard.dashboard_text(d)
    from cost_mcp.money import format_usd

    # The seeded unpriced call is said beside each amount it is not in.
    assert f"this month: {format_usd(d.this_month.total_usd)} + unpriced" in text
    assert "budget daily-cap" in text and "exceeded" in text
    # Each projection says its rule, each budget its days (the configured timezone's).
    cap = next(st for st in d.budgets.budgets if st.budget.name == "daily-cap")
    assert f"budget {cap.budget.name} (from {cap.first_day}, UTC): " in text
    # Its unpriced call counts nothing against it: the percent is a lower bound, as the CLI marks it.
    assert cap.unpriced_requests == 1 and f"per day (≥{cap.percent}%), projected" in text
    assert f"{format_usd(d.forecast.projected_usd)} + unpriced at the last 7 whole days' rate" in text
    assert f"{format_usd(cap.projected_usd)} + unpriced at its average per hour so far" in text
    assert "no-such-model-xyz unpriced" in text  # never "$0.00"


def test_dashboard_text_says_unpriced_where_every_call_lacks_a_price(seeded: Settings) -> None:
    # A host without MCP Apps got "today: $0.00" and "spent $0.00 ... projected $0.00" for a day of
    # calls to a model with no known price, where the page and `cost-mcp report` say "unpriced".
    with contextlib.closing(connect(seeded.db)) as conn:
        d = dashboard.build_dashboard(
            conn, seeded, period="today", filters=spend.Filters(models=["no-such-model-xyz"])
        )
    text = dashboard.dashboard_text(d)
    assert d.today.total_usd == 0 and sum(r.unpriced_requests for r in d.today.rows) == 1
    assert "today: unpriced (estimated unpriced)" in text.splitlines()


def test_cli_prints_a_one_time_url_and_serves_it(seeded: Settings, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cost_mcp", "dashboard", "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/\?token=([\w-]+)", line)
        assert match, line
        with httpx2.Client(timeout=30, follow_redirects=True) as c:
            assert c.get(f"http://127.0.0.1:{match[1]}/api/dashboard").status_code == 401
            assert c.get(match[0]).status_code == 200
            d = Dashboard.model_validate_json(c.get(f"http://127.0.0.1:{match[1]}/api/dashboard").text)
            # The server runs on the real clock, the seeding on the clock fixture's: its budgets
            # (which no hour moves) show it serves the seeded ledger.
            assert {"daily-cap", "triage-daily", "monthly"} <= {s.budget.name for s in d.budgets.budgets}
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_cli_opens_the_browser_on_the_one_time_url(seeded: Settings, tmp_path: Path) -> None:
    opened = tmp_path / "opened.txt"
    # webbrowser honours $BROWSER: a "browser" that writes down the URL it was asked to open.
    env = {**os.environ, "BROWSER": f"/bin/sh -c 'echo \"$0\" > {opened}' %s", "DISPLAY": ""}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cost_mcp", "dashboard"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("Opening the dashboard at http://127.0.0.1:")
        url = line.split()[-1]
        # The browser is started in the background once the server listens: wait for it (30 s at most).
        for _ in range(300):
            if opened.exists() and opened.read_text().strip():
                break
            assert proc.poll() is None, "cost-mcp dashboard exited"
            time.sleep(0.1)
        assert opened.read_text().strip() == url
        with httpx2.Client(timeout=30, follow_redirects=True) as c:
            assert c.get(url).status_code == 200
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
