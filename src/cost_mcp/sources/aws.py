"""Amazon Bedrock: what AWS Cost Explorer says was billed, per day and service.

Claude Code through Bedrock (``CLAUDE_CODE_USE_BEDROCK``) is stored under provider ``aws``
(:func:`cost_mcp.pricing.claude_provider`); a day this source covers makes those token estimates
attribution rather than a second count, as for every billed provider.

- API: Cost Explorer's ``GetCostAndUsage`` (AWS JSON 1.1 protocol): ``POST /`` on
  ``https://ce.us-east-1.amazonaws.com`` with ``X-Amz-Target: AWSInsightsIndexService.GetCostAndUsage``
  and ``Content-Type: application/x-amz-json-1.1``, signed with Signature Version 4 (service ``ce``,
  region ``us-east-1``). Shapes as in botocore's service model
  ``botocore/data/ce/2017-10-25/service-2.json`` (metadata ``targetPrefix: AWSInsightsIndexService``,
  ``jsonVersion: 1.1``, ``signingName: ce``; ``GetCostAndUsageRequest``: ``TimePeriod {Start, End}``
  with End exclusive, ``Granularity``, ``Metrics``, ``GroupBy`` (at most two), ``Filter``,
  ``NextPageToken``; ``GetCostAndUsageResponse``: ``ResultsByTime[] {TimePeriod, Total, Groups[]
  {Keys, Metrics {name: {Amount (a string), Unit}}}, Estimated}``, ``NextPageToken``).
- Services: grouped by ``SERVICE`` and kept client-side (:func:`is_bedrock`). Bedrock's own usage is
  the service "Amazon Bedrock"; Anthropic's (and other vendors') models on Bedrock are billed through
  AWS Marketplace under services named for the model, such as
  "Claude Sonnet 4.5 (Amazon Bedrock Edition)", which a filter on "Amazon Bedrock" alone misses.
  The service model says Dimensions filters accept only ``EQUALS`` match options, so there is no
  server-side "ends with"; listing today's model names would miss next month's. The Marketplace
  naming is not in AWS's API reference: it is what public Cost Explorer exports and tools show (a
  guess as far as the documentation goes). The service name is kept as the bucket's line item and,
  for a Marketplace model, its model (``Claude Sonnet 4.5``).
- Money: ``UnblendedCost`` ``Amount`` is a decimal string, read as Decimal and stored as nano-USD. Any
  ``Unit`` other than ``USD`` is refused (cost-mcp never converts without the bill's rate).
- Cost: every Cost Explorer request is charged (USD 0.01 each), so this source runs only when
  configured with its own variables (``COST_MCP_AWS_*``: ``AWS_*`` credentials and the default
  profile are never read; ``COST_MCP_AWS_PROFILE`` names a profile of ``~/.aws`` to sign with instead
  of keys, and the keys win when both are set), automatic refreshes ask at most every
  :data:`MIN_TTL_SECONDS`, and paging stops after :data:`MAX_PAGES` pages.
- Freshness: Cost Explorer refreshes its data at least once every 24 hours (:data:`REPORTING_LAG`), and
  marks a period whose costs may still change ``Estimated``: those days are named in the source's
  note (results show it beside the source's freshness).
- Signing: botocore's ``SigV4Auth`` (imported when a request is signed, so installs that never use
  this source need not have it; ``pip install 'cost-mcp[aws]'``) signs each request the shared client
  builds, through ``Provider.sign``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import msgspec

from cost_mcp import money
from cost_mcp.errors import ProviderAuthError, ProviderResponseError
from cost_mcp.periods import utc_day
from cost_mcp.pricing import Pricer
from cost_mcp.sources.billing import Feed, Window, day_ms, merge, not_usd
from cost_mcp.sources.paging import Json, follow_pages
from cost_mcp.sources.provider import Provider, Setting, SourceFetch
from cost_mcp.store.buckets import DAY_MS, Bucket

if TYPE_CHECKING:
    import botocore.credentials
    import httpx2

    from cost_mcp.sources.http import ProviderClient

PROVIDER = "aws"
ACCESS_KEY_ENV = "COST_MCP_AWS_ACCESS_KEY_ID"
SECRET_KEY_ENV = "COST_MCP_AWS_SECRET_ACCESS_KEY"
SESSION_TOKEN_ENV = "COST_MCP_AWS_SESSION_TOKEN"
PROFILE_ENV = "COST_MCP_AWS_PROFILE"
PROFILE_METHODS = (
    "assume-role",
    "assume-role-with-web-identity",
    "sso",
    "shared-credentials-file",
    "login",
    "custom-process",
    "config-file",
)
"""botocore's credential providers that read the named profile; the rest of its chain (``AWS_*``
variables, ``/etc/boto.cfg``, a container's or an EC2 instance's role) is dropped, so a profile without
credentials is an error rather than some other identity's charged requests."""
REGION = "us-east-1"
"""Cost Explorer's one endpoint is in us-east-1, whatever region the usage was in."""
SERVICE = "ce"
TARGET = "AWSInsightsIndexService.GetCostAndUsage"
CONTENT_TYPE = "application/x-amz-json-1.1"
METRIC = "UnblendedCost"
BEDROCK_SERVICE = "Amazon Bedrock"
MARKETPLACE_SUFFIX = " (Amazon Bedrock Edition)"
KEY_HINT = (
    "the secret access key of an IAM user or role allowed ce:GetCostAndUsage, with "
    "COST_MCP_AWS_ACCESS_KEY_ID (and COST_MCP_AWS_SESSION_TOKEN for temporary credentials); "
    "every Cost Explorer request costs USD 0.01"
)
MIN_TTL_SECONDS = 6 * 3600
"""Every request is charged and the data refreshes about daily: automatic syncs ask at most every 6 h."""
MAX_PAGES = 20
"""At most USD 0.20 of requests a sync; a year of daily Bedrock services is far fewer pages."""
REPORTING_LAG = timedelta(hours=24)


def is_bedrock(service: str) -> bool:
    """Whether a Cost Explorer ``SERVICE`` is Bedrock spend: "Amazon Bedrock" itself, or a model
    billed through AWS Marketplace as "<model> (Amazon Bedrock Edition)"."""
    return service == BEDROCK_SERVICE or service.endswith(MARKETPLACE_SUFFIX)


def _no_botocore() -> ProviderAuthError:
    return ProviderAuthError(
        "the aws source signs its requests with botocore, which is not installed: pip install 'cost-mcp[aws]'"
    )


def profile_credentials(profile: str) -> botocore.credentials.Credentials:
    """The credentials of the named profile in ``~/.aws/config`` and ``~/.aws/credentials`` (or the
    files ``AWS_CONFIG_FILE`` and ``AWS_SHARED_CREDENTIALS_FILE`` name), as botocore resolves them:
    keys, SSO, an assumed role, a credential process. Refreshable ones renew themselves when
    :meth:`~botocore.credentials.Credentials.get_frozen_credentials` is asked near their expiry.

    Only the profile's own providers are asked (:data:`PROFILE_METHODS`). ProviderAuthError naming
    the fix when the profile does not exist, has no credentials or they cannot be had (an expired
    SSO login); its messages never carry a secret (botocore's name files and profiles)."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError, ProfileNotFound
        from botocore.session import Session
    except ImportError:
        raise _no_botocore() from None
    try:
        session = Session(profile=profile)
        resolver = session.get_component("credential_provider")
        for provider in list(resolver.providers):
            if provider.METHOD not in PROFILE_METHODS:
                resolver.remove(provider.METHOD)
        credentials = session.get_credentials()
    except ProfileNotFound:
        raise ProviderAuthError(
            f"{PROFILE_ENV} names AWS profile {profile!r}, which is in neither ~/.aws/config nor "
            "~/.aws/credentials (nor the files AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE name): "
            f"fix the name (`aws configure list-profiles` lists them) or create it (`aws configure "
            f"--profile {profile}`, or `aws configure sso`)"
        ) from None
    except (BotoCoreError, ClientError) as exc:
        raise ProviderAuthError(
            f"AWS profile {profile!r} ({PROFILE_ENV}) gave no credentials: {exc} "
            f"(for SSO: `aws sso login --profile {profile}`)"
        ) from None
    if credentials is None:
        raise ProviderAuthError(
            f"AWS profile {profile!r} ({PROFILE_ENV}) has no credentials: give it keys, SSO or a "
            f"role (`aws configure --profile {profile}`), or set {ACCESS_KEY_ENV} and {SECRET_KEY_ENV}"
        )
    return credentials


def frozen(credentials: botocore.credentials.Credentials, profile: str) -> tuple[str, str, str | None]:
    """One consistent (access key, secret key, session token) of ``credentials`` for one request,
    refreshed first when near expiry; ProviderAuthError when the refresh fails."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        raise _no_botocore() from None
    try:
        now = credentials.get_frozen_credentials()
    except (BotoCoreError, ClientError) as exc:
        raise ProviderAuthError(
            f"AWS profile {profile!r} ({PROFILE_ENV}): its credentials could not be renewed: {exc} "
            f"(for SSO: `aws sso login --profile {profile}`)"
        ) from None
    if not now.access_key or not now.secret_key:
        raise ProviderAuthError(f"AWS profile {profile!r} ({PROFILE_ENV}) gave an empty access key")
    return now.access_key, now.secret_key, now.token or None


def sign(request: httpx2.Request, values: Mapping[str, str]) -> dict[str, str]:
    """SigV4 headers for ``request`` (service ``ce``, region us-east-1) from the configured keys, or
    else from the named profile (resolved afresh: :func:`fetch` installs a signer that resolves it
    once a sync and scrubs its secrets).

    Signs the host, the content type and every ``X-Amz-*`` header the request carries, and the body's
    hash. ProviderAuthError when botocore is not installed or neither keys nor a profile are set."""
    access_key = values.get(ACCESS_KEY_ENV, "")
    secret_key = values.get(SECRET_KEY_ENV, "")
    if access_key and secret_key:
        return sign_with(request, access_key, secret_key, values.get(SESSION_TOKEN_ENV) or None)
    profile = values.get(PROFILE_ENV, "")
    if profile:
        return sign_with(request, *frozen(profile_credentials(profile), profile))
    raise ProviderAuthError(f"needs {ACCESS_KEY_ENV} and {SECRET_KEY_ENV} set, or {PROFILE_ENV}")


def sign_with(request: httpx2.Request, access_key: str, secret_key: str, token: str | None) -> dict[str, str]:
    """SigV4 headers for ``request`` from these credentials (see :func:`sign`)."""
    try:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
    except ImportError:
        raise _no_botocore() from None
    signed_names = [
        n for n in request.headers if n.lower() == "content-type" or n.lower().startswith("x-amz-")
    ]
    aws_request = AWSRequest(
        method=request.method,
        url=str(request.url),
        data=request.content,
        headers={name: request.headers[name] for name in signed_names},
    )
    credentials = Credentials(access_key, secret_key, token)
    SigV4Auth(credentials, SERVICE, REGION).add_auth(aws_request)
    wanted = ("Authorization", "X-Amz-Date", "X-Amz-Security-Token")
    return {name: str(aws_request.headers[name]) for name in wanted if name in aws_request.headers}


def auth_headers(_secret: str) -> dict[str, str]:
    """No fixed headers: every request is signed by :func:`sign`."""
    return {}


def query_body(window: Window, token: str | None = None) -> dict[str, object]:
    """The GetCostAndUsage request for the window's UTC days (End is exclusive)."""
    body: dict[str, object] = {
        "TimePeriod": {"Start": utc_day(window.start_ms), "End": utc_day(window.end_ms)},
        "Granularity": "DAILY",
        "Metrics": [METRIC],
        "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}],
    }
    if token is not None:
        body["NextPageToken"] = token
    return body


class _Metric(msgspec.Struct, rename="pascal"):
    amount: str | None = None
    unit: str | None = None


class _Group(msgspec.Struct, rename="pascal"):
    keys: list[str] = []
    metrics: dict[str, _Metric] = {}


class _Period(msgspec.Struct, rename="pascal"):
    start: str
    end: str


class _Result(msgspec.Struct, rename="pascal"):
    time_period: _Period
    groups: list[_Group] = []
    estimated: bool = False


class CostAndUsage(msgspec.Struct, rename="pascal"):
    """A GetCostAndUsage answer (the fields we read), decoded once, not walked as a dict."""

    results_by_time: list[_Result] = []
    next_page_token: str | None = None


def decode(page: Json) -> CostAndUsage:
    """A page as :class:`CostAndUsage`, or ProviderResponseError naming what does not fit."""
    try:
        return msgspec.convert(page, type=CostAndUsage)
    except msgspec.ValidationError as exc:
        raise ProviderResponseError(f"unexpected Cost Explorer response: {exc}") from None


def _day(text: str) -> int:
    try:
        return day_ms(date.fromisoformat(text[:10]))
    except ValueError:
        raise ProviderResponseError(f"Cost Explorer TimePeriod {text[:20]!r} is not a date") from None


def model_of(service: str) -> str:
    """The model a Marketplace service is named for ("Claude Sonnet 4.5"); "" for Bedrock itself."""
    return service.removesuffix(MARKETPLACE_SUFFIX) if service.endswith(MARKETPLACE_SUFFIX) else ""


def to_buckets(pages: list[CostAndUsage], window: Window) -> tuple[list[Bucket], set[int], set[int]]:
    """Bedrock groups as cost buckets, the days the answers listed, and the days marked Estimated.

    ProviderResponseError on an amount that is not a decimal string or a unit other than USD."""
    buckets: list[Bucket] = []
    listed: set[int] = set()
    estimated: set[int] = set()
    for page in pages:
        for result in page.results_by_time:
            day = _day(result.time_period.start)
            if not window.start_ms <= day < window.end_ms:
                continue
            if day in listed:
                raise ProviderResponseError(
                    f"Cost Explorer listed {utc_day(day)} twice; stopped rather than count its bill twice"
                )
            listed.add(day)
            if result.estimated:
                estimated.add(day)
            for group in result.groups:
                service = group.keys[0] if group.keys else ""
                if not is_bedrock(service):
                    continue
                metric = group.metrics.get(METRIC)
                if metric is None:
                    raise ProviderResponseError(f"a Cost Explorer group has no {METRIC}")
                unit = (metric.unit or "").strip()
                if unit != "USD":
                    raise not_usd(f"Cost Explorer ({service}'s {METRIC})", unit or "no unit", PROVIDER)
                try:
                    amount = money.parse_amount(metric.amount)
                except ValueError as exc:
                    raise ProviderResponseError(f"Cost Explorer {METRIC} Amount: {exc}") from None
                if amount == Decimal(0):
                    continue
                buckets.append(
                    Bucket(
                        start_ms=day,
                        end_ms=day + DAY_MS,
                        cost_nanos=money.to_nanos(amount),
                        model=model_of(service),
                        line_item=service,
                    )
                )
    return buckets, listed, estimated


def _ranges(days: set[int]) -> str:
    """Days as ``2026-10-02..2026-10-03, 2026-10-05``."""
    out: list[str] = []
    ordered = sorted(days)
    start = prev = ordered[0]
    for day in [*ordered[1:], None]:
        if day is not None and day == prev + DAY_MS:
            prev = day
            continue
        out.append(utc_day(start) if start == prev else f"{utc_day(start)}..{utc_day(prev)}")
        if day is not None:
            start = prev = day
    return ", ".join(out)


async def pages(client: ProviderClient, window: Window) -> list[CostAndUsage]:
    """Every page of the window's query, following ``NextPageToken`` (same body), at most
    :data:`MAX_PAGES`: each page is a charged request."""
    headers = {"Content-Type": CONTENT_TYPE, "X-Amz-Target": TARGET}

    async def get(token: str | None) -> CostAndUsage:
        return decode(await client.post_json("/", query_body(window, token), headers=headers))

    def after(page: CostAndUsage, _token: str | None) -> str | None:
        return page.next_page_token or None

    found = follow_pages(
        get,
        after,
        None,
        what="Cost Explorer",
        position="NextPageToken",
        max_pages=MAX_PAGES,
        hint="each page is a charged request; sync fewer days at a time",
    )
    return [page async for page in found]


def use_profile(client: ProviderClient, profile: str) -> None:
    """Sign the client's requests with the named profile's credentials, resolved now (once a sync, so
    a fresh ``aws sso login`` counts from the next sync on) and frozen per request; the secret key and
    session token each request uses are scrubbed like configured keys."""
    credentials = profile_credentials(profile)

    def signer(request: httpx2.Request, _values: Mapping[str, str]) -> dict[str, str]:
        access_key, secret_key, token = frozen(credentials, profile)
        client.add_secret(secret_key)
        client.add_secret(token or "")
        return sign_with(request, access_key, secret_key, token)

    client.use_signer(signer)


async def fetch(client: ProviderClient, _pricer: Pricer, window: Window) -> list[Feed]:
    """Billed Bedrock cost per day and service over ``window``; the days Cost Explorer listed are
    covered, those it marked Estimated named in the note."""
    profile = client.value(PROFILE_ENV)
    if profile and not (client.value(ACCESS_KEY_ENV) and client.value(SECRET_KEY_ENV)):
        use_profile(client, profile)
    found = await pages(client, window)
    buckets, listed, estimated = to_buckets(found, window)
    note = f"Cost Explorer marks {_ranges(estimated)} estimated (may still change)" if estimated else ""
    # Cost Explorer lists every day of the period asked for, empty or not; the span it listed is what
    # it vouches for (a day it did not list keeps its estimates).
    start, end = (min(listed), max(listed) + DAY_MS) if listed else (window.start_ms, window.start_ms)
    return [Feed(PROVIDER, "cost", start, end, tuple(merge(buckets)), note=note)]


ENTRY = Provider(
    id=PROVIDER,
    name="Amazon Bedrock",
    key_env=SECRET_KEY_ENV,
    default_base_url=f"https://ce.{REGION}.amazonaws.com",
    auth=auth_headers,
    sign=sign,
    auth_kind="AWS Signature Version 4",
    credential="an AWS secret access key",
    key_hint=KEY_HINT,
    settings=(
        Setting(ACCESS_KEY_ENV, "the access key id of the IAM credentials allowed ce:GetCostAndUsage"),
        Setting(
            SESSION_TOKEN_ENV,
            "the session token of temporary credentials (STS); unset for an IAM user's keys",
            secret=True,
            required=False,
        ),
    ),
    alternative=Setting(
        PROFILE_ENV,
        "a named profile in ~/.aws (keys, SSO, an assumed role) whose credentials sign instead of the "
        "keys; the keys win when both are set",
        required=False,
    ),
    sources=(SourceFetch(PROVIDER, fetch),),
    basis="billed",
    fetches="Cost Explorer unblended cost per day and Bedrock service (Marketplace models by name)",
    min_ttl_seconds=MIN_TTL_SECONDS,
    rate_limit="USD 0.01 per request: opt-in, at most every 6 h, at most 20 pages a sync",
    reporting_lag=REPORTING_LAG,
)
