"""Who a team server takes an identity provider's JWT for, against a real ``cost-mcp serve --http``.

The member is the token's ``email`` claim; at many identity providers (Auth0 and Cognito sign-ups,
Entra ID's mutable ``email``) a user writes that address themselves, and the provider says whether
it checked it (``email_verified``). An unchecked address is anyone's to claim, an admin's included.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.testclient import TestClient

from cost_mcp.config import Settings
from cost_mcp.pricing import Pricer
from cost_mcp.store import Ledger, connect
from cost_mcp.web import auth
from cost_mcp.web.http import create_http_app
from tests.idp import AUDIENCE, ISSUER, Idp, SilentIdp
from tests.web.test_team import _env, _free_port, _made_server_ledger, _start, _stop, _tokens

ADMIN = "boss@example.com"


@pytest.fixture
def served(home: Path, sqlite_template: Path) -> Iterator[tuple[Idp, str, Path | str]]:
    """A team server process that takes the identity provider's JWTs (no tokens of its own)."""
    idp = Idp()
    server_db = _made_server_ledger(home, sqlite_template)
    port = _free_port()
    env = _env(
        home,
        server_db,
        COST_MCP_JWT_ISSUER=ISSUER,
        COST_MCP_JWT_AUDIENCE=AUDIENCE,
        COST_MCP_JWT_JWKS_URL=idp.jwks_url,
        COST_MCP_JWT_ADMINS=ADMIN,
    )
    proc = _start(env, port, home / "server.log")
    try:
        yield idp, f"http://127.0.0.1:{port}", server_db
    finally:
        _stop(proc)
        idp.close()


def _row(message_id: str) -> dict[str, object]:
    return {
        "source": "record_usage",
        "message_id": message_id,
        "ts_ms": int(time.time() * 1000) - 60_000,
        "provider": "anthropic",
        "model": "claude-sonnet-4-5",
        "input_tokens": 1000,
    }


def test_an_email_the_identity_provider_did_not_verify_is_no_one(
    served: tuple[Idp, str, Path | str],
) -> None:
    """A JWT whose provider says it did not verify the address (``email_verified`` false, as a JSON
    boolean or Cognito's string) opened the admin's dashboard when the address was the admin's, and
    pushed calls under another member's name: now refused (401) like a token of no one. A verified
    address, or a provider that does not say (access tokens often carry no ``email_verified``), is
    the member as before."""
    idp, base, server_db = served

    def budgets(bearer: str) -> int:
        answer = httpx2.get(
            f"{base}/api/budgets", headers={"Authorization": f"Bearer {bearer}", "Accept": "application/json"}
        )
        return answer.status_code

    def push(bearer: str, message_id: str) -> int:
        answer = httpx2.post(
            f"{base}/api/push",
            json={"rows": [_row(message_id)]},
            headers={"Authorization": f"Bearer {bearer}"},
        )
        return answer.status_code

    assert budgets(idp.token(ADMIN, email_verified=False)) == 401
    assert budgets(idp.token(ADMIN, email_verified="false")) == 401
    assert push(idp.token("ana@example.com", email_verified=False), "forged") == 401
    assert budgets(idp.token(ADMIN, email_verified=True)) == 200
    assert budgets(idp.token(ADMIN)) == 200
    assert push(idp.token("ana@example.com", email_verified="true"), "verified") == 200
    assert push(idp.token("bob@example.com"), "unsaid") == 200
    conn = connect(server_db)
    try:
        stored = conn.execute("SELECT message_id, member FROM usage_events ORDER BY message_id").fetchall()
    finally:
        conn.close()
    assert [tuple(r) for r in stored] == [("unsaid", "bob@example.com"), ("verified", "ana@example.com")]


def test_tokens_naming_unknown_keys_do_not_make_the_server_fetch_the_jwks_each_time(
    served: tuple[Idp, str, Path | str],
) -> None:
    """Anyone can send a JWT whose header names a key id the provider never published (no
    signature needed: the key is looked up first). With PyJWT before 2.14, which mcp allowed, each
    such token made the server fetch the JWKS again, under a 30 s timeout: a stream of them was a
    request to the identity provider per request (its rate limit then refusing the members' real
    sign-ins) and a worker thread each while it was slow. The unknown key is now refetched at most
    once per cooldown, and the provider's own tokens keep working."""
    idp, base, _ = served

    def budgets(bearer: str) -> int:
        answer = httpx2.get(
            f"{base}/api/budgets", headers={"Authorization": f"Bearer {bearer}", "Accept": "application/json"}
        )
        return answer.status_code

    assert budgets(idp.token(ADMIN)) == 200
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = {"iss": ISSUER, "aud": AUDIENCE, "email": ADMIN, "exp": int(time.time()) + 600}
    for n in range(20):
        forged = jwt.encode(claims, forger, algorithm="RS256", headers={"kid": f"unknown-{n}"})
        assert budgets(forged) == 401
    assert budgets(idp.token(ADMIN)) == 200
    assert len(idp.fetches) <= 2, f"the JWKS was fetched {len(idp.fetches)} times for 22 requests"


def test_while_the_identity_provider_does_not_answer_team_tokens_go_on_and_jwts_hear_so(
    home: Path, sqlite_template: Path
) -> None:
    """QA: while the identity provider hung, each JWT waited for PyJWT's 30 s timeout under its
    client's lock, one after another, each on one of the server's 40 threads: with 45 JWT requests
    in flight a team token's request waited as long (the threads all taken), and each JWT was then
    told it was "wrong, revoked or expired". Now the JWKS is asked once (a failed fetch is remembered
    for a few seconds), JWT checks have threads of their own, team tokens answer while the fetch
    still hangs, and each JWT is answered 503 saying the identity provider did not answer."""
    silent, idp = SilentIdp(), Idp()
    server_db = _made_server_ledger(home, sqlite_template)
    team_token = _tokens(server_db, [("ops", "ops@example.com", "admin")])["ops"]
    port = _free_port()
    env = _env(
        home,
        server_db,
        COST_MCP_JWT_ISSUER=ISSUER,
        COST_MCP_JWT_AUDIENCE=AUDIENCE,
        COST_MCP_JWT_JWKS_URL=silent.jwks_url,
    )
    proc = _start(env, port, home / "server.log")
    base = f"http://127.0.0.1:{port}"

    def budgets(bearer: str) -> httpx2.Response:
        return httpx2.get(
            f"{base}/api/budgets",
            headers={"Authorization": f"Bearer {bearer}", "Accept": "application/json"},
            timeout=60,
        )

    try:
        with ThreadPoolExecutor(50) as pool:
            jwts = [pool.submit(budgets, idp.token(f"m{n}@example.com")) for n in range(45)]
            for _ in range(200):
                if silent.accepted:
                    break
                time.sleep(0.05)
            assert len(silent.accepted) == 1, "the server never asked the identity provider"
            time.sleep(0.5)  # the JWT requests reach the server and wait on the provider
            team = [pool.submit(budgets, team_token) for _ in range(3)]
            # Asked while the provider still holds its connection open, unanswered.
            assert [f.result(timeout=20).status_code for f in team] == [200, 200, 200]
            silent.close()
            answers = [f.result() for f in jwts]
        for answer in answers:
            assert answer.status_code == 503, answer.text
            assert "identity provider did not answer" in answer.json()["error_description"]
            assert 0 < int(answer.headers["retry-after"]) <= 60, answer.headers
        assert len(silent.accepted) == 1, f"{len(silent.accepted)} fetches of the JWKS for 45 JWTs"
        # A member signing in with a JWT hears the same, and is not counted as a wrong token.
        page = httpx2.post(
            f"{base}/signin", data={"token": idp.token(ADMIN)}, headers={"Origin": base}, timeout=60
        )
        assert page.status_code == 503 and "identity provider did not answer" in page.text, page.text
        logged = (home / "server.log").read_text()
        assert "identity provider's keys (JWKS at 127.0.0.1:" in logged, logged
    finally:
        _stop(proc)
        silent.close()
        idp.close()


@pytest.fixture
def idp_app(
    settings: Settings, ledger_made: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Idp, TestClient]]:
    """The team server's app (in a TestClient) taking JWTs from an identity provider with two
    published keys, k1 and k2; the key set's lifespan and stale window shortened to seconds."""
    monkeypatch.setattr(auth, "JWKS_LIFESPAN_SECONDS", 1.0)
    monkeypatch.setattr(auth, "JWKS_STALE_SECONDS", 4.0)
    monkeypatch.setattr(auth, "IDP_RETRY_SECONDS", 0.2)
    idp = Idp(("k1", "k2"))
    jwts = {
        "jwt_issuer": ISSUER,
        "jwt_audience": AUDIENCE,
        "jwt_jwks_url": idp.jwks_url,
        "jwt_admins": ADMIN,
    }
    configured = settings.model_copy(update=jwts)
    ledger = Ledger(configured.db)
    try:
        with TestClient(create_http_app(ledger, configured, Pricer()), base_url="http://127.0.0.1") as http:
            yield idp, http
    finally:
        ledger.close()
        idp.close()


def _budgets(http: TestClient, bearer: str) -> int:
    answer = http.get(
        "/api/budgets", headers={"Authorization": f"Bearer {bearer}", "Accept": "application/json"}
    )
    return answer.status_code


def test_an_identity_provider_outage_is_ridden_out_with_its_last_keys_for_a_while(
    idp_app: tuple[Idp, TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    """QA: five minutes into an identity provider's outage (PyJWT's key set cache over), every JWT
    whose key had not been looked up yet in this process (a key the provider had just rotated to,
    a replica started since) was answered 503, though the provider's keys had been fetched minutes
    before. The last good key set now checks JWTs for a bounded while (an hour; seconds here), a key
    id it lacks still refused; past the window, 503 until the provider answers again."""
    idp, http = idp_app
    assert _budgets(http, idp.token(ADMIN, kid="k1")) == 200
    idp.down.set()
    time.sleep(1.2)  # the key set's lifespan is over: it is due to be fetched, and cannot be
    assert _budgets(http, idp.token(ADMIN, kid="k2")) == 200
    assert _budgets(http, idp.token(ADMIN, kid="k1")) == 200
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = {"iss": ISSUER, "aud": AUDIENCE, "email": ADMIN, "exp": int(time.time()) + 600}
    forged = jwt.encode(claims, forger, algorithm="RS256", headers={"kid": "k3"})
    assert _budgets(http, forged) == 401  # a key id the last good set lacks: refused, not let in
    assert "could not be fetched" in caplog.text and "JWTs are checked with its keys of" in caplog.text
    caplog.clear()
    time.sleep(0.3)
    assert len(idp.fetches) >= 2, "the provider was not asked again during the outage"
    time.sleep(3.0)  # past the stale window (4 s after the last good fetch)
    assert _budgets(http, idp.token(ADMIN, kid="k1")) == 503
    assert _budgets(http, idp.token(ADMIN, kid="k2")) == 503
    assert "JWTs that need them are refused (503)" in caplog.text, caplog.text
    idp.down.clear()
    time.sleep(0.3)  # the failed fetch's retry pause
    assert _budgets(http, idp.token(ADMIN, kid="k2")) == 200


@pytest.mark.parametrize(
    "garbage",
    [
        b"<html><body>Down for maintenance</body></html>",  # not JSON: was a 500
        b"\xff\xfe not text",  # not UTF-8 either
        b"[1, 2]",  # JSON, not an object: was a 401, "wrong token"
        b"{}",  # an object without keys
        b'{"keys": []}',
        b'{"keys": [{"kty": "none-such"}]}',  # no key PyJWT can use
        b'{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}',  # a key, but none with a kid to sign with
    ],
)
def test_an_identity_provider_answering_garbage_is_an_outage_not_a_wrong_token(
    idp_app: tuple[Idp, TestClient], caplog: pytest.LogCaptureFixture, garbage: bytes
) -> None:
    """QA (h-qasec5): a JWKS URL answering 200 with something that is no key set (a proxy's
    maintenance page, an empty set) told every valid JWT it was wrong (401), or failed the request
    (500) for a page that is not JSON: the provider is at fault, so 503 as for a provider that does
    not answer, the reason in the log; the keys once it answers well again. The last good key set
    still serves meanwhile (checked after)."""
    idp, http = idp_app
    idp.garbage = garbage
    answer = http.get(
        "/api/budgets",
        headers={"Authorization": f"Bearer {idp.token(ADMIN)}", "Accept": "application/json"},
    )
    assert answer.status_code == 503, answer.text
    assert "identity provider did not answer with its keys" in answer.text, answer.text
    assert "answered with no usable key set" in caplog.text or "could not be fetched" in caplog.text
    idp.garbage = None
    time.sleep(0.3)  # the failed fetch's retry pause
    assert _budgets(http, idp.token(ADMIN)) == 200
    # Garbage after a good answer: the good keys go on checking tokens while it lasts.
    idp.garbage = b"{}"
    time.sleep(1.2)  # the key set's lifespan is over: fetched again, and garbage
    assert _budgets(http, idp.token(ADMIN, kid="k2")) == 200
    assert "answered with no usable key set" in caplog.text, caplog.text


def test_a_key_the_identity_provider_removed_checks_no_more_tokens(
    idp_app: tuple[Idp, TestClient],
) -> None:
    """QA: a key looked up once was kept for good (PyJWT's per-key cache, which never expires): when
    the identity provider removed a key from its JWKS (rotated out after a leak), tokens signed
    with it went on opening the dashboard until the server restarted. A removed key is now refused
    once the key set is fetched again (its lifespan, 5 minutes; a second here)."""
    idp, http = idp_app
    assert _budgets(http, idp.token(ADMIN, kid="k2")) == 200
    idp.published.discard("k2")
    time.sleep(1.2)
    assert _budgets(http, idp.token(ADMIN, kid="k1")) == 200
    assert _budgets(http, idp.token(ADMIN, kid="k2")) == 401


def test_the_first_jwts_at_once_share_one_key_set_and_one_fetch(
    settings: Settings, ledger_made: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CI (ci57d): 45 JWTs sent at once to a server whose identity provider hung made it open two
    connections to the provider, not one. The first JWTs are checked on several threads at once and
    each found no JWKS client yet, so each made one of its own, with its own lock and key set cache:
    two (or four) fetches of the provider. Now the client is made once; the making is slowed here
    so that every thread is inside it together."""
    idp = Idp()
    made: list[str] = []
    real = auth._jwks_client

    def slow_client(url: str) -> object:
        made.append(url)
        time.sleep(0.2)
        return real(url)

    monkeypatch.setattr(auth, "_jwks_client", slow_client)
    configured = Settings(
        **{
            **settings.model_dump(),
            "jwt_issuer": ISSUER,
            "jwt_audience": AUDIENCE,
            "jwt_jwks_url": idp.jwks_url,
        }
    )
    verifier = auth.TeamTokenVerifier(Ledger(configured.db), configured)
    try:
        with ThreadPoolExecutor(auth.JWT_CHECKS_AT_ONCE) as pool:
            checked = list(pool.map(verifier._jwt, [idp.token(f"m{n}@example.com") for n in range(8)]))
        assert [c.client_id if c else None for c in checked] == [f"jwt:m{n}@example.com" for n in range(8)]
        assert made == [idp.jwks_url], f"{len(made)} JWKS clients for the first JWTs"
        assert len(idp.fetches) == 1, f"{len(idp.fetches)} fetches of the JWKS for 8 JWTs"
    finally:
        verifier.close()
        idp.close()
