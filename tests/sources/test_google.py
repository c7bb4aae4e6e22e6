"""Google (Gemini API, Vertex AI) from the Cloud Billing export in BigQuery: the service account's
signed JWT traded for a token on the shared client, jobs.query then getQueryResults pages, cost plus
credits converted with the export's own rate, the currency reported, never mixed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import anyio
import httpx2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cost_mcp import sync
from cost_mcp.config import Settings, load_settings
from cost_mcp.errors import InvalidInputError, ProviderAuthError, ProviderResponseError
from cost_mcp.pricing import Pricer
from cost_mcp.sources import google
from cost_mcp.sources.billing import Feed, Window
from cost_mcp.sources.http import provider_client
from cost_mcp.store import connect
from cost_mcp.store.connection import Conn
from tests.sources.fake_providers import (
    GOOGLE_PROJECT,
    GOOGLE_REFRESH,
    GOOGLE_TABLE,
    GOOGLE_TOKEN,
    GOOGLE_USER_CLIENT,
    FakeGoogle,
    GoogleRow,
    Router,
    json_response,
    ms,
)

WINDOW = Window(ms("2026-10-01"), ms("2026-10-04"))
GEMINI = "Gemini API"
SKU = "Generate content input token count Gemini 2.5 Pro"


@pytest.fixture(scope="module")
def keypair() -> tuple[str, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def rows() -> list[GoogleRow]:
    return [
        ("2026-10-01", "app-prod", GEMINI, SKU, "team=search", "USD", "1", "12.500000000", "-2.5"),
        (
            "2026-10-01",
            "app-prod",
            "Vertex AI",
            "Claude Sonnet 4.5 input",
            "",
            "USD",
            "1",
            "0.333333333",
            "0",
        ),
        ("2026-10-02", "app-dev", GEMINI, SKU, "", "USD", "1", "1.000000001", "0"),
        ("2026-09-30", "app-prod", GEMINI, SKU, "", "USD", "1", "99", "0"),  # outside: never asked for
    ]


@pytest.fixture
def configured(home: Path, monkeypatch: pytest.MonkeyPatch, keypair: tuple[str, bytes]) -> Settings:
    key_file = home / "config" / "sa.json"
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": GOOGLE_PROJECT,
                "private_key_id": "0123abcd",
                "private_key": keypair[0],
                "client_email": f"cost-reader@{GOOGLE_PROJECT}.iam.gserviceaccount.com",
                "token_uri": "https://oauth2.googleapis.com/token",
            }
        )
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    monkeypatch.setenv("COST_MCP_GOOGLE_BILLING_TABLE", GOOGLE_TABLE)
    monkeypatch.setenv("COST_MCP_GOOGLE_BASE_URL", "https://bigquery.example")
    monkeypatch.setenv("COST_MCP_GOOGLE_TOKEN_URL", "https://oauth.example")
    return load_settings()


def run(settings: Settings, fake: FakeGoogle, window: Window = WINDOW) -> Feed:
    async def go() -> Feed:
        transport = httpx2.MockTransport(fake.handle)
        async with provider_client(
            settings, "google", key_hint=google.KEY_HINT, transport=transport
        ) as client:
            [feed] = await google.fetch(client, Pricer(), window)
            return feed

    return anyio.run(go)


@pytest.mark.no_ledger
def test_signed_jwt_then_query_pages_give_cost_plus_credits_per_day_project_and_sku(
    configured: Settings, keypair: tuple[str, bytes]
) -> None:
    fake = FakeGoogle(keypair[1], rows(), page_size=2)
    feed = run(configured, fake)
    assert fake.tokens == 1
    [body] = fake.bodies
    assert f"FROM `{GOOGLE_TABLE}`" in body["query"] and body["useLegacySql"] is False
    params = {p["name"]: p["parameterValue"] for p in body["queryParameters"]}
    assert params["start"] == {"value": "2026-10-01 00:00:00+00"}
    assert params["end"] == {"value": "2026-10-04 00:00:00+00"}
    assert [v["value"] for v in params["services"]["arrayValues"]] == list(google.SERVICES)
    assert params["partner"] == {"value": "claude"}
    assert "OR STRPOS(LOWER(service.description), @partner) > 0" in body["query"]
    pages = [r for r in fake.requests if r.method == "GET"]
    assert [r.url.params.get("pageToken") for r in pages] == ["2"]  # 3 rows, 2 a page
    assert all(r.headers["authorization"] == f"Bearer {GOOGLE_TOKEN}" for r in fake.requests[1:])
    by = {(b.start_ms, b.project, b.line_item): b for b in feed.buckets}
    assert by[(ms("2026-10-01"), "app-prod", f"{GEMINI}: {SKU}")].cost_nanos == 10_000_000_000  # 12.5 - 2.5
    assert by[(ms("2026-10-01"), "app-prod", f"{GEMINI}: {SKU}")].workspace == "team=search"
    assert by[(ms("2026-10-01"), "app-prod", "Vertex AI: Claude Sonnet 4.5 input")].cost_nanos == 333_333_333
    assert by[(ms("2026-10-02"), "app-dev", f"{GEMINI}: {SKU}")].cost_nanos == 1_000_000_001
    assert (feed.start_ms, feed.end_ms, feed.note) == (WINDOW.start_ms, WINDOW.end_ms, "")


@pytest.mark.no_ledger
def test_an_incomplete_job_is_polled_until_done(configured: Settings, keypair: tuple[str, bytes]) -> None:
    fake = FakeGoogle(keypair[1], rows(), page_size=10, pending=2)
    feed = run(configured, fake)
    gets = [r for r in fake.requests if r.method == "GET"]
    assert len(gets) == 2 and all("pageToken" not in r.url.params for r in gets)
    assert gets[0].url.params["location"] == "US"
    assert sum(b.cost_nanos or 0 for b in feed.buckets) == 11_333_333_334


@pytest.mark.no_ledger
def test_other_currencies_are_converted_with_the_exports_own_rate_and_named(
    configured: Settings, keypair: tuple[str, bytes]
) -> None:
    fake = FakeGoogle(
        keypair[1],
        [
            ("2026-10-01", "eu-app", GEMINI, SKU, "", "EUR", "0.9", "9.00", "-0.9"),
            ("2026-10-02", "jp-app", GEMINI, SKU, "", "JPY", "150.25", "1502.5", "0"),
            ("2026-10-02", "us-app", GEMINI, SKU, "", "USD", "1", "1", "0"),
        ],
        page_size=10,
    )
    feed = run(configured, fake)
    by = {b.project: b.cost_nanos for b in feed.buckets}
    assert by == {"eu-app": 9_000_000_000, "jp-app": 10_000_000_000, "us-app": 1_000_000_000}  # (9 - .9) / .9
    assert feed.note == (
        "billed in EUR: EUR 8.10, $9.00 at the export's currency_conversion_rate; "
        "billed in JPY: JPY 1502.5, $10.00 at the export's currency_conversion_rate"
    )


@pytest.mark.no_ledger
def test_a_revoked_key_is_an_auth_error_naming_the_account_never_the_key(
    configured: Settings, keypair: tuple[str, bytes]
) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    wrong_pem = other.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    fake = FakeGoogle(wrong_pem, rows())
    with pytest.raises(ProviderAuthError) as err:
        run(configured, fake)
    message = str(err.value)
    assert "GOOGLE_APPLICATION_CREDENTIALS" in message and "cost-reader@" in message and "HTTP 400" in message
    assert "PRIVATE KEY" not in message
    assert fake.bodies == []


@pytest.mark.no_ledger
def test_a_key_file_that_is_not_a_service_account_is_refused(
    configured: Settings, monkeypatch: pytest.MonkeyPatch, home: Path, keypair: tuple[str, bytes]
) -> None:
    user = home / "config" / "adc.json"
    user.write_text(json.dumps({"type": "external_account", "audience": "//iam.googleapis.com/x"}))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(user))
    with pytest.raises(ProviderAuthError, match="'external_account' credentials; a service account key"):
        run(load_settings(), FakeGoogle(keypair[1], rows()))
    user.write_text(json.dumps({"type": "authorized_user", "client_email": "x", "private_key": "y"}))
    with pytest.raises(ProviderAuthError, match="incomplete authorized_user file"):
        run(load_settings(), FakeGoogle(keypair[1], rows()))


def _user_credentials(home: Path, monkeypatch: pytest.MonkeyPatch, refresh: str) -> Settings:
    # What `gcloud auth application-default login` writes (with the quota project it sets).
    adc = home / "config" / "application_default_credentials.json"
    adc.write_text(
        json.dumps(
            {
                "account": "",
                "client_id": GOOGLE_USER_CLIENT,
                "client_secret": "d-FL95Q19q7MQmFpd7hHD0Ty",
                "quota_project_id": GOOGLE_PROJECT,
                "refresh_token": refresh,
                "type": "authorized_user",
                "universe_domain": "googleapis.com",
            }
        )
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
    return load_settings()


@pytest.mark.no_ledger
def test_application_default_user_credentials_trade_their_refresh_token(
    configured: Settings, monkeypatch: pytest.MonkeyPatch, home: Path, keypair: tuple[str, bytes]
) -> None:
    settings = _user_credentials(home, monkeypatch, GOOGLE_REFRESH)
    fake = FakeGoogle(keypair[1], rows())
    feed = run(settings, fake)
    assert sum(b.cost_nanos or 0 for b in feed.buckets) == 11_333_333_334
    [token_request] = fake.calls("/token")
    form = dict(httpx2.QueryParams(token_request.content.decode()))
    assert (form["grant_type"], form["refresh_token"]) == ("refresh_token", GOOGLE_REFRESH)
    assert fake.calls(f"/bigquery/v2/projects/{GOOGLE_PROJECT}/queries")  # the quota project runs the job


@pytest.mark.no_ledger
def test_a_revoked_refresh_token_is_an_auth_error_that_says_how_to_renew_it(
    configured: Settings, monkeypatch: pytest.MonkeyPatch, home: Path, keypair: tuple[str, bytes]
) -> None:
    settings = _user_credentials(home, monkeypatch, "1//revoked")
    with pytest.raises(ProviderAuthError) as err:
        run(settings, FakeGoogle(keypair[1], rows()))
    message = str(err.value)
    assert "authorized user in GOOGLE_APPLICATION_CREDENTIALS" in message and "HTTP 400" in message
    assert "gcloud auth application-default login" in message
    assert "1//revoked" not in message and "d-FL95Q19q7MQmFpd7hHD0Ty" not in message


@pytest.mark.no_ledger
def test_429_is_retried_and_malformed_json_is_an_error(
    configured: Settings, keypair: tuple[str, bytes]
) -> None:
    path = f"/bigquery/v2/projects/{GOOGLE_PROJECT}/queries"
    fake = FakeGoogle(keypair[1], rows(), page_size=10)
    quota = {
        "error": {
            "code": 429,
            "message": "Quota exceeded: too many concurrent queries",
            "status": "RESOURCE_EXHAUSTED",
        }
    }
    fake.script(path, json_response(429, quota, {"retry-after": "1"}))
    assert sum(b.cost_nanos or 0 for b in run(configured, fake).buckets) == 11_333_333_334
    broken = FakeGoogle(keypair[1], rows())
    broken.script(path, httpx2.Response(200, content=b'{"jobComplete": true, "rows": [{"f": '))
    with pytest.raises(ProviderResponseError, match="malformed JSON"):
        run(configured, broken)


def _limit(reason: str, message: str) -> httpx2.Response:
    # BigQuery's quota and limit errors ("Troubleshoot quota and limit errors"): HTTP 403 with the
    # reason in error.errors[].
    return json_response(
        403,
        {
            "error": {
                "code": 403,
                "message": message,
                "errors": [{"domain": "usageLimits", "message": message, "reason": reason}],
                "status": "PERMISSION_DENIED",
            }
        },
    )


@pytest.mark.no_ledger
def test_a_403_rate_limit_or_quota_is_retried_like_a_429_not_an_auth_error(
    configured: Settings, keypair: tuple[str, bytes]
) -> None:
    path = f"/bigquery/v2/projects/{GOOGLE_PROJECT}/queries"
    fake = FakeGoogle(keypair[1], rows(), page_size=10)
    fake.script(
        path,
        _limit("rateLimitExceeded", "Exceeded rate limits: too many api requests per user per method"),
        _limit("quotaExceeded", "Quota exceeded: Your project exceeded quota for concurrent queries"),
    )
    assert sum(b.cost_nanos or 0 for b in run(configured, fake).buckets) == 11_333_333_334
    assert len(fake.calls(path)) == 3

    limited = FakeGoogle(keypair[1], rows())
    limited.script(path, *[_limit("rateLimitExceeded", "Exceeded rate limits")] * 5)
    with pytest.raises(ProviderResponseError) as err:
        run(configured, limited)
    assert not isinstance(err.value, ProviderAuthError)
    assert str(err.value) == (
        f"{path}: rate limited (HTTP 403 rateLimitExceeded): Exceeded rate limits; gave up after 5 attempts"
    )
    assert err.value.status == 403


@pytest.mark.no_ledger
def test_a_403_that_is_not_a_limit_is_still_an_auth_error_at_once(
    configured: Settings, keypair: tuple[str, bytes]
) -> None:
    path = f"/bigquery/v2/projects/{GOOGLE_PROJECT}/queries"
    fake = FakeGoogle(keypair[1], rows())
    fake.script(path, _limit("accessDenied", "Access Denied: User does not have bigquery.jobs.create"))
    with pytest.raises(ProviderAuthError, match="HTTP 403"):
        run(configured, fake)
    assert len(fake.calls(path)) == 1


@pytest.mark.no_ledger
def test_a_page_token_given_twice_stops_rather_than_loop(
    configured: Settings, keypair: tuple[str, bytes]
) -> None:
    fake = FakeGoogle(keypair[1], rows(), page_size=2)
    again = {
        "jobReference": {"projectId": GOOGLE_PROJECT, "jobId": "job_abc123"},
        "jobComplete": True,
        "schema": {"fields": [{"name": "day"}]},
        "rows": [],
        "pageToken": "2",
    }
    fake.script(f"/bigquery/v2/projects/{GOOGLE_PROJECT}/queries/job_abc123", json_response(200, again))
    with pytest.raises(ProviderResponseError, match=r"^BigQuery returned the pageToken \('2', 0\) twice"):
        run(configured, fake)


@pytest.mark.no_ledger
def test_an_unexpected_shape_is_an_error_not_an_empty_result(
    configured: Settings, keypair: tuple[str, bytes]
) -> None:
    fake = FakeGoogle(keypair[1], rows())
    fake.script(
        f"/bigquery/v2/projects/{GOOGLE_PROJECT}/queries",
        json_response(200, {"jobComplete": True, "rows": [{"f": [{"v": "2026-10-01"}]}]}),
    )
    with pytest.raises(ProviderResponseError, match="without a schema"):
        run(configured, fake)


@pytest.mark.no_ledger
def test_a_table_name_that_is_not_project_dataset_table_is_refused(
    configured: Settings, monkeypatch: pytest.MonkeyPatch, keypair: tuple[str, bytes]
) -> None:
    monkeypatch.setenv("COST_MCP_GOOGLE_BILLING_TABLE", "proj.dataset.t` WHERE 1=1 --")
    fake = FakeGoogle(keypair[1], rows())
    with pytest.raises(ProviderResponseError, match=r"is not project\.dataset\.table"):
        run(load_settings(), fake)
    assert fake.bodies == []


@pytest.fixture
def conn(configured: Settings, ledger_made: None) -> Iterator[Conn]:
    c = connect(configured.db)
    yield c
    c.close()


def test_sync_writes_google_days_with_its_reporting_lag(
    conn: Conn, configured: Settings, keypair: tuple[str, bytes]
) -> None:
    from cost_mcp.analytics.spend import get_spend, resolve

    router = Router(google=FakeGoogle(keypair[1], rows(), page_size=2))
    now = datetime(2026, 10, 3, 12, tzinfo=UTC)
    result = sync.sync_providers(
        conn, configured, Pricer(), ["google"], days=3, transport=router.transport(), now=now
    )
    [row] = result.sources
    assert row.ok and row.billed_usd == Decimal("11.333333334")
    spend = get_spend(
        conn, configured, resolve(configured, None, "2026-10-01", "2026-10-03", "UTC", now=now), ["provider"]
    )
    assert spend.total_usd == Decimal("11.333333334")
    [status] = [s for s in spend.sources if s.source == "google"]
    assert status.coverage is not None and status.coverage.reporting_lag == "24h"


# --- cost-mcp import google-billing FILE.csv -----------------------------------------------------------

EXPORT_CSV = """\
usage_start_time,project.id,service.description,sku.description,cost,credits,currency,currency_conversion_rate
2026-10-01 10:00:00 UTC,app-prod,Gemini API,Gemini 2.5 Pro input,12.50,-2.50,USD,1
2026-10-01 11:00:00 UTC,app-prod,Gemini API,Gemini 2.5 Pro input,1.25,0,USD,1
2026-10-02 09:00:00 UTC,eu-app,Vertex AI,Gemini 2.5 Flash output,9.00,-0.90,EUR,0.9
2026-10-02 09:00:00 UTC,app-prod,Compute Engine,N2 core,500,0,USD,1
2026-10-03 09:00:00 UTC,jp-app,Vertex AI,Gemini 2.5 Flash output,1500,0,JPY,
not a date,app-prod,Gemini API,Gemini 2.5 Pro input,1,0,USD,1
"""


def test_import_google_billing_csv_converts_counts_and_replaces(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cost_mcp import cli
    from cost_mcp.analytics.spend import get_spend, resolve

    path = home / "billing.csv"
    path.write_text(EXPORT_CSV, encoding="utf-8")
    assert cli.main(["import", "google-billing", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["rows"], out["imported"], out["other_services"]) == (6, 3, 1)
    assert out["skipped"] == {
        "JPY without currency_conversion_rate (cannot be converted)": 1,
        "unreadable date or amount": 1,
    }
    assert (out["first_day"], out["last_day"], out["total_usd"]) == ("2026-10-01", "2026-10-02", 20.25)
    assert isinstance(out["total_usd"], float)  # a JSON number, as in every --json (it was a string)
    assert out["currencies"] == ["EUR", "USD"]
    assert cli.main(["import", "google-billing", str(path), "--json"]) == 0  # again: replaces, never adds
    capsys.readouterr()
    settings = load_settings()
    conn = connect(settings.db)
    try:
        p = resolve(settings, None, "2026-10-01", "2026-10-03", "UTC")
        spend = get_spend(conn, settings, p, ["provider"])
    finally:
        conn.close()
    assert spend.total_usd == Decimal("20.25")  # 10 + 1.25 + (9 - 0.9) / 0.9


def test_claude_on_vertex_billed_under_a_service_of_its_own_is_in_googles_total(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Claude Code's Vertex calls are stored under google, so a day Google's export covers is their
    total: the export's Claude rows are read whether billed under Vertex AI or a service named for
    the model, and the call's own estimate only attributes (counted once, by the bill)."""
    from cost_mcp import cli
    from cost_mcp.analytics.spend import get_spend, resolve
    from cost_mcp.sources import claude_code
    from tests.sources.claude_logs import assistant, session_file, write

    path = home / "billing.csv"
    path.write_text(
        "usage_start_time,project.id,service.description,sku.description,cost,credits,currency\n"
        "2026-10-01 10:00:00 UTC,app-prod,Gemini API,Gemini 2.5 Pro input,1.00,0,USD\n"
        "2026-10-01 10:00:00 UTC,app-prod,Claude Sonnet 4.5,Claude Sonnet 4.5 Input Tokens,0.30,0,USD\n"
        "2026-10-01 10:00:00 UTC,app-prod,Compute Engine,N2 core,500,0,USD\n",
        encoding="utf-8",
    )
    assert cli.main(["import", "google-billing", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["imported"], out["other_services"], out["total_usd"]) == (2, 1, 1.3)
    write(
        session_file(home / "claude", "s1"),
        assistant(
            "m1",
            "r1",
            "2026-10-01T10:00:00.000Z",
            model="claude-sonnet-4-5@20250929",
            input=100_000,
            output=0,
        ),
    )
    settings = load_settings()
    conn = connect(settings.db)
    try:
        assert claude_code.ingest(conn, settings, Pricer()).events_added == 1
        p = resolve(settings, None, "2026-10-01", "2026-10-01", "UTC")
        spend = get_spend(conn, settings, p, ["provider"])
    finally:
        conn.close()
    assert spend.total_usd == Decimal("1.3")
    assert [(a.group["provider"], a.cost_usd) for a in spend.attribution] == [("google", Decimal("0.3"))]


@pytest.mark.no_ledger
def test_import_reads_the_console_header_currency_and_refuses_a_file_that_is_not_billing(home: Path) -> None:
    console = home / "console.csv"
    console.write_text(
        "Project ID,Service description,SKU description,Usage start date,Cost (USD)\n"
        "app,Gemini API,Gemini 2.5 Pro input,2026-10-01,3.10\n",
        encoding="utf-8",
    )
    buckets, result = google.parse_csv(console)
    assert [b.cost_nanos for b in buckets] == [3_100_000_000] and result.currencies == ["USD"]
    other = home / "other.csv"
    other.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(
        InvalidInputError, match="not a Cloud Billing export CSV: no day, service, cost column"
    ):
        google.parse_csv(other)


def test_an_export_resaved_as_utf16_is_read_and_bytes_that_are_not_text_are_refused(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A spreadsheet may save the export as UTF-16; a file that is neither is refused with what to
    do (it was a traceback), and the ledger keeps what it had."""
    from cost_mcp import cli

    resaved = home / "resaved.csv"
    resaved.write_text(EXPORT_CSV, encoding="utf-16")
    assert cli.main(["import", "google-billing", str(resaved), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total_usd"] == 20.25
    broken = home / "broken.csv"
    broken.write_bytes(EXPORT_CSV.encode() + b"2026-10-03T00:00:00Z,Gemini API,\xe9t\xe9,app,1.00,USD\n")
    assert cli.main(["import", "google-billing", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "is not UTF-8 text" in err and "export the CSV again" in err and "Traceback" not in err
    settings = load_settings()
    conn = connect(settings.db)
    try:
        from cost_mcp.analytics.spend import get_spend, resolve

        p = resolve(settings, None, "2026-10-01", "2026-10-03", "UTC")
        assert get_spend(conn, settings, p).total_usd == Decimal("20.25")  # the first import, whole
    finally:
        conn.close()


@pytest.mark.no_ledger
def test_without_the_variable_gclouds_application_default_file_is_used_once_the_table_is_set(
    configured: Settings, monkeypatch: pytest.MonkeyPatch, home: Path, keypair: tuple[str, bytes]
) -> None:
    # google-auth's order: GOOGLE_APPLICATION_CREDENTIALS, then the file gcloud writes in its folder.
    _user_credentials(home, monkeypatch, GOOGLE_REFRESH)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS")
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(home / "config"))
    settings = load_settings()
    assert settings.provider_missing("google") == []
    feed = run(settings, FakeGoogle(keypair[1], rows()))
    assert sum(b.cost_nanos or 0 for b in feed.buckets) == 11_333_333_334

    # The same file on a machine that never set up Google billing: Google stays unconfigured,
    # not half-configured (nothing to report as failing).
    monkeypatch.delenv("COST_MCP_GOOGLE_BILLING_TABLE")
    settings = load_settings()
    assert settings.provider_key("google") is None
    assert settings.provider_missing("google") == [
        "GOOGLE_APPLICATION_CREDENTIALS",
        "COST_MCP_GOOGLE_BILLING_TABLE",
    ]

    # No file there: unset as before.
    monkeypatch.setenv("COST_MCP_GOOGLE_BILLING_TABLE", GOOGLE_TABLE)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(home / "nowhere"))
    assert load_settings().provider_missing("google") == ["GOOGLE_APPLICATION_CREDENTIALS"]


def test_an_amount_past_the_ledgers_64_bits_is_refused_and_the_ledger_kept(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The QA case (h-qabill F1): a cost of $99,999,999,999,999 was a traceback (OverflowError from the
    ledger's insert); now the file is refused, saying which row, and the earlier import is kept."""
    from cost_mcp import cli
    from cost_mcp.analytics.spend import get_spend, resolve

    path = home / "billing.csv"
    path.write_text(EXPORT_CSV, encoding="utf-8")
    assert cli.main(["import", "google-billing", str(path)]) == 0
    huge = home / "huge.csv"
    huge.write_text(
        "Usage start date,Service description,SKU description,Cost (USD)\n"
        "2026-10-01,Vertex AI,Gemini,99999999999999\n"
        "2026-10-02,Vertex AI,Gemini,1.5\n",
        encoding="utf-8",
    )
    capsys.readouterr()
    assert cli.main(["import", "google-billing", str(huge)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"{huge} has $99,999,999,999,999.00 on 2026-10-01, more than the ledger holds" in err
    assert "Traceback" not in err
    settings = load_settings()
    conn = connect(settings.db)
    try:
        p = resolve(settings, None, "2026-10-01", "2026-10-03", "UTC")
        assert get_spend(conn, settings, p).total_usd == Decimal("20.25")
    finally:
        conn.close()
