"""An admin opens the team server's dashboard in a browser: a sign-in form, a session cookie, sign-out.

Through the real HTTP app (`create_http_app`, as `cost-mcp serve --http` serves it) with starlette's
TestClient, the ledger on SQLite and on PostgreSQL (the ``settings`` fixture), and once in headless
Chromium against the app served by uvicorn.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest
import time_machine
from starlette.testclient import TestClient

from cost_mcp.config import Settings
from cost_mcp.pricing import Pricer
from cost_mcp.store import Ledger, connect
from cost_mcp.store import team as team_store
from cost_mcp.web import auth, signin
from cost_mcp.web.http import create_http_app
from tests.web.conftest import serve
from tests.web.test_team import (
    ADMIN_AND_ANA,
    _env,
    _free_port,
    _ledger_bytes,
    _server_ledger,
    _start,
    _stop,
)
from tests.web.test_team import _tokens as _server_tokens

ORIGIN = {"Origin": "http://127.0.0.1"}
PAGE = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
JSON = {"Accept": "application/json"}


@dataclass
class Team:
    """A team server's app in a TestClient, and its tokens by name (admin, ana: member, fleet: ingest)."""

    http: TestClient
    tokens: dict[str, str]
    settings: Settings


def _tokens(settings: Settings) -> dict[str, str]:
    conn = connect(settings.db)
    try:
        holders = [("admin", "boss@example.com", "admin"), ("ana", "ana@example.com", "member")]
        holders.append(("fleet", "ops@example.com", "ingest"))
        return {name: team_store.create_token(conn, name, member, role) for name, member, role in holders}
    finally:
        conn.close()


@pytest.fixture
def team(settings: Settings, ledger_made: None) -> Iterator[Team]:
    tokens = _tokens(settings)
    ledger = Ledger(settings.db)
    try:
        with TestClient(create_http_app(ledger, settings, Pricer()), base_url="http://127.0.0.1") as http:
            yield Team(http, tokens, settings)
    finally:
        ledger.close()


def _sign_in(http: TestClient, token: str, *, origin: dict[str, str] = ORIGIN, **form: str) -> Any:
    return http.post("/signin", data={"token": token, **form}, headers=origin, follow_redirects=False)


def _session_cookie(answer: Any) -> str:
    header = answer.headers["set-cookie"]
    assert header.startswith(f"{signin.SESSION_COOKIE}=")
    return str(header.split(";")[0].split("=", 1)[1])


def test_an_admin_signs_in_and_the_cookie_opens_the_dashboard(team: Team) -> None:
    http, admin = team.http, team.tokens["admin"]
    # A browser opening the page without credentials gets the form, as a page (200: a 401 was
    # logged as a failed load in every fresh visitor's console); the page's JSON stays 401 JSON.
    page = http.get("/", headers=PAGE)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "www-authenticate" not in page.headers
    assert '<form method="post" action="signin"' in page.text and 'name="token"' in page.text
    assert "form-action 'self'" in page.headers["content-security-policy"]
    assert "<script" not in page.text and "http" not in page.text.split("<body>")[1]
    api = http.get("/api/spend?period=today", headers=JSON)
    assert api.status_code == 401 and api.json()["error"] == "invalid_token"
    # A token in the address (what QA tried) is not used, and never shown back.
    in_url = http.get(f"/?period=today&token={admin}", headers=PAGE)
    assert in_url.status_code == 200 and admin not in in_url.text
    assert (
        html.escape(signin.TOKEN_IN_URL) in in_url.text and 'name="next" value="period=today"' in in_url.text
    )

    signed = _sign_in(http, admin, next=f"period=today&token={admin}")
    assert signed.status_code == 303, signed.text
    assert signed.headers["location"] == "./?period=today"
    flags = [f.strip().lower() for f in signed.headers["set-cookie"].split(";")[1:]]
    assert {"httponly", "samesite=strict", "path=/", f"max-age={auth.SESSION_SECONDS}"} <= set(flags)
    assert "secure" not in flags  # plain http: a Secure cookie would never come back
    session = _session_cookie(signed)
    assert len(session) >= 40 and admin not in str(signed.headers) and session not in admin

    http.cookies.set(signin.SESSION_COOKIE, session)
    answer = http.get("/api/spend?period=today", headers=JSON)
    assert answer.status_code == 200 and "total_usd" in answer.json()
    shown = http.get("/", headers=PAGE)
    assert shown.status_code == 200 and 'id="signout"' in shown.text
    assert "form-action 'self'" in shown.headers["content-security-policy"]

    # The cookie is the dashboard's only: MCP, OTLP and pushes still need the bearer token.
    assert http.post("/mcp", json={}).status_code == 401
    assert http.post("/api/push", json={"rows": []}).status_code == 401
    assert (
        http.post("/v1/logs", content=b"{}", headers={"Content-Type": "application/json"}).status_code == 401
    )
    bearer = {"Authorization": f"Bearer {admin}"}
    assert http.post("/api/push", json={"rows": []}, headers=bearer).status_code == 200

    # The ledger keeps neither the token nor the session id, only their hashes.
    dumps = _ledger_bytes(team.settings.db)
    assert any(team_store.hash_token(session).encode() in d for d in dumps)
    assert all(admin.encode() not in d and session.encode() not in d for d in dumps)

    # Signing out ends the session in the ledger, not only in this browser.
    out = http.post("/signout", headers=ORIGIN, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "./"
    assert "max-age=0" in out.headers["set-cookie"].lower()
    http.cookies.set(signin.SESSION_COOKIE, session)
    assert http.get("/api/spend?period=today", headers=JSON).status_code == 401
    assert html.escape(signin.ENDED) in http.get("/", headers=PAGE).text


def test_a_wrong_token_a_member_and_an_ingest_token_are_refused(team: Team) -> None:
    http = team.http
    for wrong in ("cmt_wrong", team.tokens["admin"] + "x", "eyJhbGciOiJSUzI1NiJ9.e30.x"):
        refused = _sign_in(http, wrong)
        assert refused.status_code == 401 and "set-cookie" not in refused.headers
        assert html.escape(signin.NOT_ACCEPTED) in refused.text and wrong not in refused.text
    # The member and the fleet's ingest token get what a bearer token gets: the same reason.
    for name, said in (("ana", "needs an admin token; ana@example.com"), ("fleet", "is an ingest token")):
        token = team.tokens[name]
        refused = _sign_in(http, token)
        assert refused.status_code == 403 and "set-cookie" not in refused.headers, refused.text
        assert said in refused.text and token not in refused.text
        bearer = http.get("/api/spend", headers={"Authorization": f"Bearer {token}"})
        assert bearer.status_code == 403 and said in bearer.json()["error_description"]
    assert http.get("/api/spend", headers=JSON).status_code == 401


def test_every_answer_of_the_team_server_carries_the_pages_security_headers(team: Team) -> None:
    """The signed-in dashboard's code under /static/*, the sign-in's rate limit and refusals, a 404
    and the receiver's answers lacked nosniff and the rest of the page's headers."""
    http = team.http
    answers = {"sign-in form": http.get("/", headers=PAGE), "anonymous static": http.get("/static/app.js")}
    cookie = _session_cookie(_sign_in(http, team.tokens["admin"]))
    http.cookies.set(signin.SESSION_COOKIE, cookie)
    answers["page"] = http.get("/", headers=PAGE)
    answers["static"] = http.get("/static/app.js")
    answers["missing"] = http.get("/static/nothing.js")
    answers["health"] = http.get("/healthz")
    http.cookies.clear()
    for i in range(11):
        answers["limited"] = _sign_in(http, f"cmt_guess{i}")
    assert [r.status_code for r in answers.values()] == [200, 401, 200, 200, 404, 200, 429]
    lacking = [
        what
        for what, r in answers.items()
        if r.headers.get("x-content-type-options") != "nosniff"
        or "frame-ancestors 'none'" not in r.headers.get("content-security-policy", "")
        or r.headers.get("cache-control") != "no-store"
        or r.headers.get("referrer-policy") not in ("no-referrer", "same-origin")
    ]
    assert lacking == []


def test_failed_sign_ins_are_limited_per_address(team: Team) -> None:
    http = team.http
    statuses = [_sign_in(http, f"cmt_guess{i}").status_code for i in range(10)]
    assert statuses == [401] * 10
    # Even the right token waits: the limit is on the address, not on what it sends.
    limited = _sign_in(http, team.tokens["admin"])
    assert limited.status_code == 429 and "too many tokens" in limited.text
    assert 1 <= int(limited.headers["retry-after"]) <= 60 and "set-cookie" not in limited.headers


def test_forwarded_allow_ips_in_the_env_file_decides_whose_address_counts(home: Path) -> None:
    """FORWARDED_ALLOW_IPS in the env file was ignored (uvicorn reads only the process environment),
    though the README says every setting may live there: behind a proxy on another machine, every
    browser then shared the proxy's address, and ten wrong tokens from one locked out every admin.

    Here the file names a proxy elsewhere (192.0.2.99), so loopback is no proxy any more and its
    ``X-Forwarded-For`` is not believed: the second browser waits too. Read from the file or not is
    what differs: left unset, loopback is trusted and the second browser would be answered (401)."""
    server_db = _server_ledger(home)
    _server_tokens(server_db, ADMIN_AND_ANA)
    env_file = home / "server.env"
    env_file.write_text("FORWARDED_ALLOW_IPS=192.0.2.99\n")
    port = _free_port()
    proc = _start(_env(home, server_db, COST_MCP_ENV_FILE=str(env_file)), port, home / "server.log")
    try:
        base = f"http://127.0.0.1:{port}"

        def sign_in(browser: str) -> int:
            headers = {"Origin": base, "X-Forwarded-For": browser}
            return httpx2.post(f"{base}/signin", data={"token": "cmt_guess"}, headers=headers).status_code

        assert [sign_in("198.51.100.1") for _ in range(10)] == [401] * 10
        assert sign_in("198.51.100.2") == 429
    finally:
        _stop(proc)


def test_a_revoked_tokens_session_stops_at_once(team: Team) -> None:
    http = team.http
    session = _session_cookie(_sign_in(http, team.tokens["admin"]))
    http.cookies.set(signin.SESSION_COOKIE, session)
    assert http.get("/api/budgets", headers=JSON).status_code == 200
    conn = connect(team.settings.db)  # `cost-mcp token revoke admin`, as another process
    try:
        team_store.revoke_token(conn, "admin")
    finally:
        conn.close()
    assert http.get("/api/budgets", headers=JSON).status_code == 401
    page = http.get("/", headers=PAGE)
    assert page.status_code == 200 and html.escape(signin.ENDED) in page.text
    assert "max-age=0" in page.headers["set-cookie"].lower()  # the browser forgets it too


def test_a_session_ends_after_its_time(team: Team) -> None:
    # The clock stands still until moved: a one-second session on the running clock had to outlast
    # the sign-in and the first question (a machine stalled that long failed the test), and a
    # sleep waited it out; the session's real length is what is checked now, to the second.
    with time_machine.travel(datetime.now(UTC), tick=False) as traveller:
        signed = _sign_in(team.http, team.tokens["admin"])
        assert f"max-age={auth.SESSION_SECONDS}" in signed.headers["set-cookie"].lower()
        team.http.cookies.set(signin.SESSION_COOKIE, _session_cookie(signed))
        assert team.http.get("/api/budgets", headers=JSON).status_code == 200
        traveller.shift(auth.SESSION_SECONDS - 1)
        assert team.http.get("/api/budgets", headers=JSON).status_code == 200
        traveller.shift(1)
        assert team.http.get("/api/budgets", headers=JSON).status_code == 401


def test_sign_in_and_out_from_another_site_are_refused(team: Team) -> None:
    http, admin = team.http, team.tokens["admin"]
    for origin in ({"Origin": "https://evil.example.com"}, {"Origin": "null"}, {}):
        refused = _sign_in(http, admin, origin=origin)
        assert refused.status_code == 403 and "set-cookie" not in refused.headers
        assert "own page" in refused.text and admin not in refused.text
    session = _session_cookie(_sign_in(http, admin))
    http.cookies.set(signin.SESSION_COOKIE, session)
    out = http.post("/signout", headers={"Origin": "https://evil.example.com"}, follow_redirects=False)
    assert out.status_code == 403
    assert http.get("/api/budgets", headers=JSON).status_code == 200


def test_a_refused_origin_is_not_repeated_and_no_site_is_let_read(team: Team) -> None:
    """QA: a sign-in or sign-out posted from another site answered 403 "(the browser said it came
    from <its Origin>)": the request's own header reflected into the answer, markup and all. Now the
    answer says only that it came from elsewhere. And no answer lets another site's script read it:
    no Access-Control-Allow-Origin for any Origin, on any route, preflight or not."""
    http, admin = team.http, team.tokens["admin"]
    hostile = "https://evil.example.com/<script>alert(1)</script>"
    for path, form in (("/signin", {"token": admin}), ("/signout", {})):
        refused = http.post(path, data=form, headers={"Origin": hostile}, follow_redirects=False)
        assert refused.status_code == 403 and "own page" in refused.text, refused.text
        assert "evil.example.com" not in refused.text and "<script>" not in refused.text, refused.text
        assert "another site" in refused.text, refused.text
    assert "nowhere" in _sign_in(http, admin, origin={}).text
    bearer = {"Authorization": f"Bearer {admin}"}
    for origin in ("https://evil.example.com", "null", "http://127.0.0.1"):
        for method, path in (("GET", "/api/budgets"), ("POST", "/mcp"), ("POST", "/api/push"), ("GET", "/")):
            asked = http.request(method, path, headers={**bearer, **JSON, "Origin": origin})
            preflight = http.options(
                path, headers={"Origin": origin, "Access-Control-Request-Method": method}
            )
            for answer in (asked, preflight):
                granted = [h for h in answer.headers if h.lower().startswith("access-control-allow")]
                assert granted == [], (method, path, origin, answer.headers)


def test_the_cookie_is_secure_behind_https(home: Any, settings: Settings) -> None:
    # Behind a TLS proxy that rewrites Host, the public URL says where browsers are.
    public = settings.model_copy(update={"public_url": "https://cost.example.com"})
    tokens = _tokens(public)
    ledger = Ledger(public.db)
    try:
        with TestClient(create_http_app(ledger, public, Pricer()), base_url="http://127.0.0.1") as http:
            signed = _sign_in(http, tokens["admin"], origin={"Origin": "https://cost.example.com"})
            assert signed.status_code == 303, signed.text
            assert "secure" in [f.strip().lower() for f in signed.headers["set-cookie"].split(";")]
    finally:
        ledger.close()


def test_signed_in_in_a_real_browser(browser: Any, seeded: Settings, artifacts: Path) -> None:
    tokens = _tokens(seeded)
    ledger = Ledger(seeded.db)
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    requests: list[str] = []
    try:
        for base in serve(create_http_app(ledger, seeded, Pricer()), lifespan="on"):
            pg = context.new_page()
            pg.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
            pg.on("pageerror", lambda e: errors.append(str(e)))
            pg.on("request", lambda r: requests.append(r.url))
            pg.goto(f"{base}/?period=today")
            field = pg.locator('input[name="token"]')
            field.wait_for()
            # A fresh visitor's console is clean: the sign-in page came as a 401, which Chrome
            # logged as "Failed to load resource" before anyone had typed anything.
            assert errors == []
            # The dashboard's look, inline and allowed by the page's policy: the accent-coloured button.
            colour = pg.eval_on_selector("#signin button", "e => getComputedStyle(e).backgroundColor")
            assert colour not in ("rgba(0, 0, 0, 0)", "rgb(239, 239, 239)"), colour
            field.fill("cmt_not-a-token")
            pg.click("#signin button")
            pg.wait_for_selector("text=that token was not accepted")
            pg.screenshot(path=artifacts / "signin.png")
            # Chrome logs the refused token's 401 as a failed load; nothing else (a style the
            # page's policy refused would be logged too).
            unauthorized = "Failed to load resource: the server responded with a status of 401 (Unauthorized)"
            assert errors == [unauthorized]
            pg.locator('input[name="token"]').fill(tokens["admin"])
            pg.click("#signin button")
            pg.wait_for_selector("body[data-ready]")
            assert pg.locator("#total-today").inner_text().startswith("$")
            assert pg.locator('select[name="period"]').input_value() == "today"  # the address kept
            assert errors == [unauthorized]
            assert all(tokens["admin"] not in u for u in requests)
            assert tokens["admin"] not in pg.content()
            assert [c["name"] for c in context.cookies()] == [signin.SESSION_COOKIE]
            assert context.cookies()[0]["httpOnly"] and context.cookies()[0]["sameSite"] == "Strict"

            pg.wait_for_selector("body[data-complete]", state="attached")  # no request in flight
            pg.screenshot(path=artifacts / "signed-in.png")
            assert errors == [unauthorized]
            pg.click("#signout button")
            pg.locator('input[name="token"]').wait_for()
            pg.goto(f"{base}/")
            pg.locator('input[name="token"]').wait_for()
            assert context.cookies() == []
            assert errors == [unauthorized]  # signed out, and back: the form again, nothing logged
    finally:
        context.close()
        ledger.close()


def test_failed_sign_ins_forget_quiet_addresses_and_keep_counting(monkeypatch: pytest.MonkeyPatch) -> None:
    """An address whose failures have all aged out is forgotten (it was kept as an empty list, and
    the clean-up past 10,000 addresses then failed on it, so no failure was counted any more)."""
    from types import SimpleNamespace

    from cost_mcp.web.signin import FailedSignIns

    # The limiter's own clock, moved by hand. On the real one its 0.05 s window had to hold from the
    # first failure below to the wait, across the clean-up of 10,001 addresses: under coverage on a
    # loaded machine it did not always (wait() was 0.0 in 1 to 3 runs of 40).
    now = [1_000.0]
    monkeypatch.setattr(signin, "time", SimpleNamespace(monotonic=lambda: now[0], time=time.time))
    failures = FailedSignIns(limit=2, window=60)
    failures.failed("198.51.100.1")
    now[0] += 61
    assert failures.wait("198.51.100.1") == 0.0
    for i in range(10_001):
        failures.failed(f"2001:db8::{i:x}")
    now[0] += 61
    failures.failed("203.0.113.9")  # the clean-up runs here
    failures.failed("203.0.113.9")
    assert failures.wait("203.0.113.9") == 60  # still counted, still limited: the first one's window
