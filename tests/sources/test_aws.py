"""Amazon Bedrock through AWS Cost Explorer: SigV4 signing on the shared client (recomputed by the fake
with botocore), the documented GetCostAndUsage shapes, NextPageToken paging, AWS's JSON-protocol errors,
Estimated days, exact amounts, opt-in credentials, and secrets kept out of every error."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from cost_mcp import sync
from cost_mcp.config import Settings, load_settings
from cost_mcp.errors import InvalidInputError, ProviderAuthError, ProviderResponseError
from cost_mcp.pricing import Pricer
from cost_mcp.sources import aws, registry
from cost_mcp.sources.billing import Feed, Window
from cost_mcp.sources.http import provider_client
from cost_mcp.store.connection import Conn
from tests.sources.fake_providers import (
    AWS_ACCESS_KEY,
    AWS_SECRET,
    AWS_SESSION_TOKEN,
    FakeAws,
    Router,
    aws_error,
    ms,
    sigv4_valid,
)

WINDOW = Window(ms("2026-10-01"), ms("2026-10-04"))
SONNET = "Claude Sonnet 4.5 (Amazon Bedrock Edition)"


def rows() -> list[tuple[str, str, Any, str]]:
    return [
        ("2026-10-01", "Amazon Bedrock", "0.0000000025", "USD"),  # 2.5 nano-USD: half-even to 2
        ("2026-10-01", SONNET, "12.3456789015", "USD"),  # ...901.5 nano-USD: half-even to 902
        ("2026-10-01", "Amazon Elastic Compute Cloud - Compute", "500", "USD"),  # not Bedrock: left out
        ("2026-10-02", SONNET, "0.1", "USD"),
        ("2026-10-02", "Claude 3.5 Haiku (Amazon Bedrock Edition)", "2.000000001", "USD"),
        ("2026-10-03", SONNET, "0", "USD"),
    ]


@pytest.fixture
def configured(home: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("COST_MCP_AWS_ACCESS_KEY_ID", AWS_ACCESS_KEY)
    monkeypatch.setenv("COST_MCP_AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    monkeypatch.setenv("COST_MCP_AWS_BASE_URL", "https://ce.example")
    return load_settings()


def run(settings: Settings, fake: FakeAws | httpx2.MockTransport, window: Window = WINDOW) -> Feed:
    async def go() -> Feed:
        transport = fake if isinstance(fake, httpx2.MockTransport) else httpx2.MockTransport(fake.handle)
        async with provider_client(settings, "aws", key_hint=aws.KEY_HINT, transport=transport) as client:
            [feed] = await aws.fetch(client, Pricer(), window)
            return feed

    return anyio.run(go)


@pytest.mark.no_ledger
def test_signed_paged_query_gives_exact_buckets_per_day_and_bedrock_service(configured: Settings) -> None:
    fake = FakeAws(rows(), page_size=2)
    feed = run(configured, fake)
    # Three days, two a page: the NextPageToken was sent back with the same query.
    assert len(fake.requests) == 2 and len(fake.bodies) == 2  # every request passed the signature check
    first, second = fake.bodies
    assert first == {
        "TimePeriod": {"Start": "2026-10-01", "End": "2026-10-04"},
        "Granularity": "DAILY",
        "Metrics": ["UnblendedCost"],
        "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}],
    }
    assert second == {**first, "NextPageToken": "2"}
    for request in fake.requests:
        assert request.url.path == "/" and request.method == "POST"
        assert request.headers["x-amz-target"] == "AWSInsightsIndexService.GetCostAndUsage"
        assert request.headers["content-type"] == "application/x-amz-json-1.1"
        assert request.headers["authorization"].startswith(
            f"AWS4-HMAC-SHA256 Credential={AWS_ACCESS_KEY}/{request.headers['x-amz-date'][:8]}"
            "/us-east-1/ce/aws4_request, SignedHeaders="
        )
        assert AWS_SECRET not in str(request.url) + request.content.decode() + str(request.headers)
    by = {(b.start_ms, b.line_item): b for b in feed.buckets}
    assert by[(ms("2026-10-01"), "Amazon Bedrock")].cost_nanos == 2
    assert by[(ms("2026-10-01"), SONNET)].cost_nanos == 12_345_678_902
    assert by[(ms("2026-10-01"), SONNET)].model == "Claude Sonnet 4.5"
    assert by[(ms("2026-10-02"), SONNET)].cost_nanos == 100_000_000
    assert by[(ms("2026-10-02"), "Claude 3.5 Haiku (Amazon Bedrock Edition)")].cost_nanos == 2_000_000_001
    assert not any("Compute" in b.line_item for b in feed.buckets)
    assert (feed.start_ms, feed.end_ms, feed.note) == (WINDOW.start_ms, WINDOW.end_ms, "")


@pytest.mark.no_ledger
def test_the_fake_refuses_a_signature_that_does_not_match(configured: Settings) -> None:
    request = httpx2.Request("POST", "https://ce.example/", content=b"{}")
    assert not sigv4_valid(request, AWS_ACCESS_KEY, AWS_SECRET)  # no signature at all
    fake = FakeAws(rows())
    run(configured, fake)
    signed = fake.requests[0]
    assert sigv4_valid(signed, AWS_ACCESS_KEY, AWS_SECRET)
    tampered = httpx2.Request("POST", signed.url, headers=signed.headers, content=signed.content + b" ")
    assert not sigv4_valid(tampered, AWS_ACCESS_KEY, AWS_SECRET)
    assert not sigv4_valid(signed, AWS_ACCESS_KEY, "another-secret-access-key-000000000000")


@pytest.mark.no_ledger
def test_a_wrong_secret_is_an_auth_error_that_never_shows_it(
    configured: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COST_MCP_AWS_SECRET_ACCESS_KEY", "wrongSECRETvalue/0123456789abcdefghijklmn")
    fake = FakeAws(rows())
    with pytest.raises(ProviderAuthError) as err:
        run(load_settings(), fake)
    text = str(err.value)
    assert "HTTP 403 InvalidSignatureException" in text and "COST_MCP_AWS_SECRET_ACCESS_KEY" in text
    assert "wrongSECRET" not in text
    assert len(fake.requests) == 1  # a refused credential is not asked again


@pytest.mark.no_ledger
def test_temporary_credentials_sign_the_session_token_and_it_is_scrubbed(
    configured: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COST_MCP_AWS_SESSION_TOKEN", AWS_SESSION_TOKEN)
    fake = FakeAws(rows(), token=AWS_SESSION_TOKEN)
    run(load_settings(), fake)
    assert fake.requests[0].headers["x-amz-security-token"] == AWS_SESSION_TOKEN
    echo = f"token {AWS_SESSION_TOKEN} key {AWS_SECRET}"
    fake.script("/", aws_error(400, "ValidationException", echo))
    with pytest.raises(ProviderResponseError) as err:
        run(load_settings(), fake)
    assert AWS_SESSION_TOKEN not in str(err.value) and AWS_SECRET not in str(err.value)
    assert "[redacted]" in str(err.value)


@pytest.mark.no_ledger
def test_the_signature_is_scrubbed_from_provider_error_text(configured: Settings) -> None:
    fake = FakeAws(rows())

    def echo(request: httpx2.Request) -> httpx2.Response:
        authorization = request.headers["authorization"]
        signature = authorization.rpartition("Signature=")[2]
        return aws_error(400, "ValidationException", f"you sent {authorization} / sig {signature}")

    fake.script("/", echo)
    with pytest.raises(ProviderResponseError) as err:
        run(configured, fake)
    text = str(err.value)
    assert "HTTP 400" in text and "[redacted]" in text
    assert "Signature=" not in text
    signature = fake.requests[0].headers["authorization"].rpartition("Signature=")[2]
    assert signature not in text


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "ExpiredTokenException"),
        (400, "AccessDeniedException"),
        (403, "UnrecognizedClientException"),
    ],
)
@pytest.mark.no_ledger
def test_credential_errors_are_auth_errors_and_not_retried(
    configured: Settings, status: int, kind: str
) -> None:
    fake = FakeAws(rows())
    fake.script("/", aws_error(status, kind, "The security token included in the request is expired"))
    with pytest.raises(ProviderAuthError) as err:
        run(configured, fake)
    assert f"HTTP {status} {kind}" in str(err.value)
    assert "ce:GetCostAndUsage" in str(err.value)  # the hint says what the credentials need
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    "throttled",
    [
        aws_error(400, "ThrottlingException", "Rate exceeded"),
        aws_error(400, "LimitExceededException", "You made too many calls in a short period of time."),
        aws_error(429, "TooManyRequestsException", "Too many requests"),
        aws_error(503, "ServiceUnavailableException", "Service unavailable"),
        httpx2.Response(500, content=b"<html>Internal Server Error</html>"),
    ],
)
@pytest.mark.no_ledger
def test_throttling_and_server_errors_are_retried_and_each_attempt_signed(
    configured: Settings, throttled: httpx2.Response
) -> None:
    fake = FakeAws(rows())
    fake.script("/", throttled)
    feed = run(configured, fake)
    assert len(fake.requests) == 2
    dates = [r.headers["authorization"] for r in fake.requests]
    assert all(a.startswith("AWS4-HMAC-SHA256") for a in dates)
    assert sum(b.cost_nanos or 0 for b in feed.buckets) == 14_445_678_905


@pytest.mark.no_ledger
def test_throttled_to_the_end_is_an_error_with_awss_message(configured: Settings) -> None:
    fake = FakeAws(rows())
    fake.script("/", *[aws_error(400, "ThrottlingException", "Rate exceeded")] * 5)
    with pytest.raises(
        ProviderResponseError, match=r"rate limited \(HTTP 400 ThrottlingException\): Rate exceeded"
    ):
        run(configured, fake)


@pytest.mark.no_ledger
def test_a_timeout_is_an_error_after_the_retries(configured: Settings) -> None:
    calls: list[httpx2.Request] = []

    def hang(request: httpx2.Request) -> httpx2.Response:
        calls.append(request)
        raise httpx2.ReadTimeout("timed out", request=request)

    with pytest.raises(ProviderResponseError, match=r"cannot reach https://ce\.example \(ReadTimeout"):
        run(configured, httpx2.MockTransport(hang))
    assert len(calls) == 5


@pytest.mark.no_ledger
def test_malformed_json_is_an_error_not_an_empty_day(configured: Settings) -> None:
    fake = FakeAws(rows())
    fake.script("/", httpx2.Response(200, content=b'{"ResultsByTime": [{"TimePeriod": {"Start": "2026'))
    with pytest.raises(ProviderResponseError, match="malformed JSON"):
        run(configured, fake)


@pytest.mark.no_ledger
def test_an_answer_of_another_shape_is_an_error(configured: Settings) -> None:
    fake = FakeAws(rows())
    fake.script("/", httpx2.Response(200, content=json.dumps({"ResultsByTime": "none"}).encode()))
    with pytest.raises(ProviderResponseError, match="unexpected Cost Explorer response"):
        run(configured, fake)


@pytest.mark.no_ledger
def test_a_float_amount_is_refused(configured: Settings) -> None:
    page = {
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": "2026-10-01", "End": "2026-10-02"},
                "Groups": [{"Keys": [SONNET], "Metrics": {"UnblendedCost": {"Amount": 1.5, "Unit": "USD"}}}],
            }
        ]
    }
    fake = FakeAws(rows())
    fake.script("/", httpx2.Response(200, content=json.dumps(page).encode()))
    with pytest.raises(ProviderResponseError, match="unexpected Cost Explorer response"):
        run(configured, fake)


@pytest.mark.no_ledger
def test_a_unit_other_than_usd_is_refused(configured: Settings) -> None:
    fake = FakeAws([("2026-10-01", SONNET, "10.5", "EUR")])
    with pytest.raises(ProviderResponseError, match=r"in 'EUR', not USD"):
        run(configured, fake)


@pytest.mark.no_ledger
def test_estimated_days_are_named_in_the_note_and_still_covered(configured: Settings) -> None:
    fake = FakeAws(rows(), estimated_from=date(2026, 10, 2))
    feed = run(configured, fake)
    assert feed.note == "Cost Explorer marks 2026-10-02..2026-10-03 estimated (may still change)"
    assert (feed.start_ms, feed.end_ms) == (WINDOW.start_ms, WINDOW.end_ms)


@pytest.mark.no_ledger
def test_days_cost_explorer_does_not_list_are_not_covered(configured: Settings) -> None:
    fake = FakeAws(rows(), listed_from=date(2026, 10, 2))
    feed = run(configured, fake)
    assert (feed.start_ms, feed.end_ms) == (ms("2026-10-02"), WINDOW.end_ms)
    assert {b.start_ms for b in feed.buckets} == {ms("2026-10-02")}


@pytest.mark.no_ledger
def test_paging_stops_at_the_cap_since_every_page_is_charged(configured: Settings) -> None:
    fake = FakeAws(rows())
    counter = iter(range(1, 1000))

    def more(_request: httpx2.Request) -> httpx2.Response:
        body = {"ResultsByTime": [], "NextPageToken": f"t{next(counter)}"}
        return httpx2.Response(200, content=json.dumps(body).encode())

    fake.script("/", *[more] * 50)
    with pytest.raises(ProviderResponseError, match=r"still had more after 20 pages; stopped \(each page"):
        run(configured, fake)
    assert len(fake.requests) == aws.MAX_PAGES == 20


@pytest.mark.no_ledger
def test_only_its_own_variables_configure_it_never_aws_defaults(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each request costs money: ``AWS_*`` variables and ``~/.aws`` must not switch the source on."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AWS_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    monkeypatch.setenv("AWS_PROFILE", "default")
    monkeypatch.setenv("HOME", str(home))
    (home / ".aws").mkdir()
    (home / ".aws" / "credentials").write_text(
        f"[default]\naws_access_key_id = {AWS_ACCESS_KEY}\naws_secret_access_key = {AWS_SECRET}\n"
    )
    settings = load_settings()
    assert settings.provider_key("aws") is None
    assert settings.provider_missing("aws") == [
        "COST_MCP_AWS_SECRET_ACCESS_KEY",
        "COST_MCP_AWS_ACCESS_KEY_ID",
    ]
    monkeypatch.setenv("COST_MCP_AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    assert load_settings().provider_missing("aws") == ["COST_MCP_AWS_ACCESS_KEY_ID"]
    with pytest.raises(ProviderAuthError, match="needs COST_MCP_AWS_ACCESS_KEY_ID set"):
        provider_client(load_settings(), "aws")


def test_automatic_syncs_ask_at_most_every_six_hours() -> None:
    spec = registry.get("aws")
    assert spec.min_ttl_seconds >= 6 * 3600
    [row] = [line for line in registry.readme_table().splitlines() if "(`aws`)" in line]
    assert "at most every 360 min; USD 0.01 per request" in row


def test_without_botocore_the_error_says_how_to_install_it(
    configured: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "botocore.auth", None)
    fake = FakeAws(rows())
    with pytest.raises(ProviderAuthError, match=r"pip install 'cost-mcp\[aws\]'"):
        run(configured, fake)
    assert fake.requests == []


def test_sync_writes_the_days_and_keeps_the_estimated_note(conn: Conn, configured: Settings) -> None:
    router = Router(aws=FakeAws(rows(), page_size=2, estimated_from=date(2026, 10, 3)))
    now = datetime(2026, 10, 3, 12, tzinfo=UTC)
    result = sync.sync_providers(
        conn, configured, Pricer(), ["aws"], days=3, transport=router.transport(), now=now
    )
    [row] = result.sources
    assert row.ok and row.source == "aws", row
    assert row.billed_usd is not None and str(row.billed_usd) == "14.445678905"
    assert (row.first_day, row.last_day) == ("2026-10-01", "2026-10-03")
    assert row.note == "Cost Explorer marks 2026-10-03 estimated (may still change)"


@pytest.mark.usefixtures("home")
def test_doctor_shows_the_provider_and_what_it_still_needs_never_the_secret() -> None:
    from tests.test_cli import run as cli

    half = cli("doctor", "--json", env={"COST_MCP_AWS_SECRET_ACCESS_KEY": AWS_SECRET})
    report = json.loads(half.stdout)
    [entry] = [p for p in report["providers"] if p["provider"] == "aws"]
    assert entry["configured"] is False and entry["needs"] == ["COST_MCP_AWS_ACCESS_KEY_ID"]
    proc = cli(
        "doctor",
        "--json",
        env={
            "COST_MCP_AWS_SECRET_ACCESS_KEY": AWS_SECRET,
            "COST_MCP_AWS_ACCESS_KEY_ID": AWS_ACCESS_KEY,
            "COST_MCP_AWS_SESSION_TOKEN": AWS_SESSION_TOKEN,
        },
    )
    assert AWS_SECRET not in proc.stdout + proc.stderr and AWS_SESSION_TOKEN not in proc.stdout + proc.stderr
    [entry] = [p for p in json.loads(proc.stdout)["providers"] if p["provider"] == "aws"]
    assert entry["configured"] is True and entry["needs"] == []
    assert entry["base_url"] == "https://ce.us-east-1.amazonaws.com"
    text = cli(
        "doctor", env={"COST_MCP_AWS_SECRET_ACCESS_KEY": AWS_SECRET, "COST_MCP_AWS_ACCESS_KEY_ID": "x"}
    )
    assert "aws" in text.stdout and AWS_SECRET not in text.stdout


# --- a named profile (COST_MCP_AWS_PROFILE) in place of keys ------------------------------------------

# The profile's own keys, unlike AWS_ACCESS_KEY / AWS_SECRET (which sit in AWS_* and the default
# profile): a signature the fake accepts with these came from the named profile and nowhere else.
PROFILE_KEY = "AKIAPROFILEEXAMPLE01"
PROFILE_SECRET = "pr0fileSECRETexample/0123456789abcdefghijk"
PROFILE_TOKEN = "IQoJprofile-session-token-EXAMPLE-0123456789abcdef"


@pytest.fixture
def aws_files(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A real ~/.aws in a temporary HOME: a default profile and AWS_* variables with other keys (which
    must never be used), and the named profile ``bedrock-billing`` with temporary credentials."""
    folder = home / ".aws"
    folder.mkdir()
    (folder / "config").write_text(
        "[default]\nregion = eu-west-1\n\n[profile bedrock-billing]\nregion = eu-central-1\n"
    )
    (folder / "credentials").write_text(
        f"[default]\naws_access_key_id = {AWS_ACCESS_KEY}\naws_secret_access_key = {AWS_SECRET}\n\n"
        f"[bedrock-billing]\naws_access_key_id = {PROFILE_KEY}\n"
        f"aws_secret_access_key = {PROFILE_SECRET}\naws_session_token = {PROFILE_TOKEN}\n"
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(folder / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(folder / "credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AWS_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    monkeypatch.setenv("AWS_PROFILE", "default")
    monkeypatch.setenv("COST_MCP_AWS_BASE_URL", "https://ce.example")
    return folder


def profile_fake() -> FakeAws:
    return FakeAws(rows(), page_size=2, access_key=PROFILE_KEY, secret=PROFILE_SECRET, token=PROFILE_TOKEN)


@pytest.mark.no_ledger
def test_a_named_profile_signs_with_its_own_credentials(
    aws_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COST_MCP_AWS_PROFILE", "bedrock-billing")
    settings = load_settings()
    assert settings.provider_missing("aws") == [] and settings.provider_key("aws") is not None
    fake = profile_fake()
    feed = run(settings, fake)
    # Both pages passed the fake's signature check with the profile's keys and session token.
    assert len(fake.bodies) == 2 and sum(b.cost_nanos or 0 for b in feed.buckets) == 14_445_678_905
    for request in fake.requests:
        assert sigv4_valid(request, PROFILE_KEY, PROFILE_SECRET, PROFILE_TOKEN)
        assert request.headers["x-amz-security-token"] == PROFILE_TOKEN
        assert not sigv4_valid(request, AWS_ACCESS_KEY, AWS_SECRET, PROFILE_TOKEN)


@pytest.mark.no_ledger
def test_a_profiles_secrets_and_signature_are_scrubbed(
    aws_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COST_MCP_AWS_PROFILE", "bedrock-billing")
    fake = profile_fake()

    def echo(request: httpx2.Request) -> httpx2.Response:
        authorization = request.headers["authorization"]
        signature = authorization.rpartition("Signature=")[2]
        text = f"no Bearer auth; token {PROFILE_TOKEN} key {PROFILE_SECRET} sent {authorization}"
        text += f" sig {signature}"
        return aws_error(400, "ValidationException", text)

    fake.script("/", echo)
    with pytest.raises(ProviderResponseError) as err:
        run(load_settings(), fake)
    text = str(err.value)
    signature = fake.requests[0].headers["authorization"].rpartition("Signature=")[2]
    assert "HTTP 400" in text and "[redacted]" in text
    # A profile leaves the key empty: nothing of an empty key's forms ("Bearer ") is scrubbed.
    assert "no Bearer auth;" in text
    for secret in (PROFILE_TOKEN, PROFILE_SECRET, signature, "Signature="):
        assert secret not in text


@pytest.mark.no_ledger
def test_an_unknown_profile_is_an_error_naming_the_fix(
    aws_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COST_MCP_AWS_PROFILE", "no-such-profile")
    fake = profile_fake()
    with pytest.raises(ProviderAuthError) as err:
        run(load_settings(), fake)
    text = str(err.value)
    assert "COST_MCP_AWS_PROFILE" in text and "'no-such-profile'" in text
    assert "aws configure --profile no-such-profile" in text and "aws configure list-profiles" in text
    assert fake.requests == []  # nothing charged, and no fallback to AWS_* or the default profile


@pytest.mark.no_ledger
def test_a_profile_without_credentials_is_an_error_not_another_identity(
    aws_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (aws_files / "config").open("a") as config:
        config.write("\n[profile empty]\nregion = us-east-1\n")
    monkeypatch.setenv("COST_MCP_AWS_PROFILE", "empty")
    fake = FakeAws(rows())  # would accept AWS_* / the default profile's keys
    with pytest.raises(
        ProviderAuthError, match=r"AWS profile 'empty' \(COST_MCP_AWS_PROFILE\) has no credentials"
    ):
        run(load_settings(), fake)
    assert fake.requests == []


@pytest.mark.no_ledger
def test_keys_win_over_a_profile_when_both_are_set(aws_files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COST_MCP_AWS_PROFILE", "no-such-profile")  # never read: the keys are set
    monkeypatch.setenv("COST_MCP_AWS_ACCESS_KEY_ID", AWS_ACCESS_KEY)
    monkeypatch.setenv("COST_MCP_AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    fake = FakeAws(rows())
    run(load_settings(), fake)
    assert len(fake.bodies) == 1 and "x-amz-security-token" not in fake.requests[0].headers
    # Said where a user looks: the README's Bedrock paragraph and settings table, and the setting.
    readme = " ".join((Path(__file__).parents[2] / "README.md").read_text().split())
    assert readme.count("the keys win when both are set") >= 2
    spec = registry.get("aws")
    assert spec.alternative is not None and "the keys win when both are set" in spec.alternative.description


def test_neither_keys_nor_profile_is_not_configured_and_says_both_ways(
    conn: Conn, aws_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings()
    assert settings.provider_key("aws") is None
    with pytest.raises(ProviderAuthError, match=r"set, or COST_MCP_AWS_PROFILE"):
        provider_client(settings, "aws")
    said = rf"^aws: needs .* set, or COST_MCP_AWS_PROFILE {re.escape(sync.WHERE_KEYS_GO)}, then sync again$"
    with pytest.raises(InvalidInputError, match=said):
        sync.sync_providers(conn, settings, Pricer(), ["aws"], days=3)
    # The profile alone configures it, for `sync --provider aws` and for a sync of every provider.
    monkeypatch.setenv("COST_MCP_AWS_PROFILE", "bedrock-billing")
    router = Router(aws=profile_fake())
    now = datetime(2026, 10, 3, 12, tzinfo=UTC)
    for providers in (["aws"], None):
        result = sync.sync_providers(
            conn, load_settings(), Pricer(), providers, days=3, transport=router.transport(), now=now
        )
        [row] = result.sources
        assert row.ok and row.source == "aws" and str(row.billed_usd) == "14.445678905", row


@pytest.mark.usefixtures("aws_files")
def test_doctor_shows_a_profile_by_name_as_configured() -> None:
    from tests.test_cli import run as cli

    proc = cli("doctor", "--json", env={"COST_MCP_AWS_PROFILE": "bedrock-billing"})
    [entry] = [p for p in json.loads(proc.stdout)["providers"] if p["provider"] == "aws"]
    assert entry["configured"] is True and entry["needs"] == []
    assert (entry["env_var"], entry["masked"], entry["origin"]) == (
        "COST_MCP_AWS_PROFILE",
        "bedrock-billing",
        "environment",
    )
    assert PROFILE_SECRET not in proc.stdout + proc.stderr
    text = cli("doctor", env={"COST_MCP_AWS_PROFILE": "bedrock-billing"}).stdout
    assert "COST_MCP_AWS_PROFILE" in text and "bedrock-billing" in text


@pytest.mark.no_ledger
def test_each_sync_reads_the_profile_afresh(aws_files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """New credentials in the profile (a fresh ``aws sso login``, rotated keys) count from the next sync."""
    monkeypatch.setenv("COST_MCP_AWS_PROFILE", "bedrock-billing")
    run(load_settings(), profile_fake())
    rotated = "r0tatedSECRETexample/0123456789abcdefghijkl"
    (aws_files / "credentials").write_text(
        f"[bedrock-billing]\naws_access_key_id = {PROFILE_KEY}\naws_secret_access_key = {rotated}\n"
    )
    fake = FakeAws(rows(), access_key=PROFILE_KEY, secret=rotated)
    run(load_settings(), fake)
    assert len(fake.bodies) == 1 and "x-amz-security-token" not in fake.requests[0].headers
