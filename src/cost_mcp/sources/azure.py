"""Azure OpenAI: what the Cost Management Query API says was billed, per day, resource and meter.

- Auth: a service principal (``AZURE_TENANT_ID``, ``AZURE_CLIENT_ID``, ``AZURE_CLIENT_SECRET``) with
  the Cost Management Reader role on ``COST_MCP_AZURE_SCOPE`` trades its secret for a bearer token
  through the OAuth client-credentials flow (``POST {login}/{tenant}/oauth2/v2.0/token``, scope
  ``https://management.azure.com/.default``) on the shared client, which then scrubs the token like
  a key. ``COST_MCP_AZURE_TOKEN_URL`` moves the login origin (tests, sovereign clouds).
- Query: ``POST {scope}/providers/Microsoft.CostManagement/query?api-version=2025-03-01``, type
  ``ActualCost``, a ``Custom`` time period, ``Daily`` granularity, ``Cost`` summed, filtered to the
  services Azure OpenAI is billed under (:data:`SERVICE_NAMES`), grouped by ``ResourceId`` and
  ``Meter`` (the meter names the model and token kind, e.g. ``gpt-4o-0513 Input global Tokens``).
  The API allows at most two groupings (``QueryDataset.grouping``: "Query can have up to 2 group by
  clauses"; more is HTTP 400), so the deployment tag cannot be a third one; asking for it in a second
  query would double the calls against a throttle of a few queries a minute per scope.
- Rows are arrays mapped by ``properties.columns[].name`` (never by position: the column set
  depends on the agreement type, e.g. ``PreTaxCost`` instead of ``Cost``). ``UsageDate`` is a
  ``yyyymmdd`` number. Pages follow ``properties.nextLink`` (POSTing the same body), which must stay
  on the management origin: the token is not sent anywhere else.
- 429s carry ``x-ms-ratelimit-microsoft.costmanagement-{qpu,entity,tenant,client}-retry-after``
  headers beside ``Retry-After``; the shared retry policy honours the longest.

Money is in the billing currency (``Currency`` column). cost-mcp's totals are US dollars, and it
never converts money without the bill's own rate, so: rows billed in USD become cost buckets; rows in
any other currency are kept out of the ledger's USD amounts and summed per currency in the source's
note (for example ``billed in EUR, not in USD totals: EUR 41.20 over 3 day(s)``), which results
show beside the source's freshness. Days are marked synced only when USD rows came back, so a
EUR-only scope never reads as $0 billed. Cost Management refreshes its data about every four hours
and a day can take up to a day to settle: :data:`REPORTING_LAG`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import msgspec

from cost_mcp import money
from cost_mcp.errors import ProviderAuthError, ProviderResponseError
from cost_mcp.periods import utc_day
from cost_mcp.pricing import Pricer
from cost_mcp.sources.billing import Feed, Window, as_str, merge
from cost_mcp.sources.paging import Json, follow_pages
from cost_mcp.sources.provider import Provider, Setting, SourceFetch
from cost_mcp.store.buckets import DAY_MS, Bucket

if TYPE_CHECKING:
    from cost_mcp.sources.http import ProviderClient

PROVIDER = "azure"
TOKEN_URL_ENV = "COST_MCP_AZURE_TOKEN_URL"
SCOPE_ENV = "COST_MCP_AZURE_SCOPE"
API_VERSION = "2025-03-01"
KEY_HINT = (
    "a service principal's client secret (az ad sp create-for-rbac), with AZURE_TENANT_ID, "
    "AZURE_CLIENT_ID and COST_MCP_AZURE_SCOPE (e.g. /subscriptions/<id>), holding the Cost Management "
    "Reader role on that scope"
)
TOKEN_SCOPE = "https://management.azure.com/.default"
SERVICE_NAMES = ("Azure OpenAI", "Cognitive Services", "Foundry Models")
"""ServiceName values Azure OpenAI use is billed under (the name has changed over time)."""
CHUNK_DAYS = 180
"""Days one query asks for: well inside the API's one-year limit for a custom period."""
REPORTING_LAG = timedelta(hours=24)
MIN_TTL_SECONDS = 3600
"""Cost Management refreshes every four hours and throttles to a few queries a minute per scope:
automatic refreshes ask at most hourly."""
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,253}$")
_SCOPE = re.compile(r"^/(subscriptions|providers)/[A-Za-z0-9_./() -]+$")


def auth_headers(token: str) -> dict[str, str]:
    """The bearer token the client-credentials exchange returned."""
    return {"Authorization": f"Bearer {token}"}


async def exchange(client: ProviderClient, values: Mapping[str, str]) -> str:
    """Trade the service principal's secret for a management-API token (OAuth client credentials).

    Raises ProviderAuthError naming the variables when Entra ID refuses them (400 invalid_client /
    unauthorized_client / invalid_request and 401 all mean the credentials, not a passing failure).
    """
    tenant = values.get("AZURE_TENANT_ID", "")
    if not _TENANT.match(tenant):
        raise ProviderAuthError(
            "AZURE_TENANT_ID is not a tenant id or domain (a GUID, or name.onmicrosoft.com)"
        )
    origin = values.get(TOKEN_URL_ENV, "")
    form = {
        "grant_type": "client_credentials",
        "client_id": values.get("AZURE_CLIENT_ID", ""),
        "client_secret": values.get("AZURE_CLIENT_SECRET", ""),
        "scope": TOKEN_SCOPE,
    }
    try:
        body = await client.post_form(f"{origin}/{tenant}/oauth2/v2.0/token", form, secret=("client_secret",))
    except ProviderResponseError as exc:
        if exc.status in (400, 401, 403):
            raise ProviderAuthError(
                "Azure refused the service principal (AZURE_TENANT_ID, AZURE_CLIENT_ID, "
                f"AZURE_CLIENT_SECRET): HTTP {exc.status} from the token endpoint; check the three values "
                "and that the secret has not expired",
                status=exc.status,
            ) from None
        raise
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise ProviderResponseError("the Azure token endpoint answered without an access_token")
    return token


def scope_path(scope: str) -> str:
    """``COST_MCP_AZURE_SCOPE`` as a path: one leading slash, no trailing one, nothing that could
    leave the management API (``..``, a query, a fragment)."""
    path = "/" + scope.strip().strip("/")
    if ".." in path or not _SCOPE.match(path):
        raise ProviderResponseError(
            f"COST_MCP_AZURE_SCOPE {scope[:80]!r} is not a scope such as /subscriptions/<id>, "
            "/subscriptions/<id>/resourceGroups/<name> or /providers/Microsoft.Billing/billingAccounts/<id>"
        )
    return path


def query_body(start_ms: int, end_ms: int) -> dict[str, object]:
    """The Cost Management query for whole UTC days ``[start_ms, end_ms)``."""
    first = datetime.fromtimestamp(start_ms / 1000, UTC)
    last = datetime.fromtimestamp(end_ms / 1000, UTC) - timedelta(seconds=1)
    return {
        "type": "ActualCost",
        "timeframe": "Custom",
        "timePeriod": {
            "from": first.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "to": last.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "dataset": {
            "granularity": "Daily",
            "aggregation": {"totalCost": {"name": "Cost", "function": "Sum"}},
            "grouping": [
                {"type": "Dimension", "name": "ResourceId"},
                {"type": "Dimension", "name": "Meter"},
            ],
            "filter": {
                "dimensions": {"name": "ServiceName", "operator": "In", "values": list(SERVICE_NAMES)}
            },
        },
    }


def usage_day(value: object) -> int:
    """``UsageDate`` (``20261001``, or an ISO date-time in some API versions) as a UTC midnight in ms."""
    text = as_str(value).strip()
    try:
        day = (
            date(int(text[:4]), int(text[4:6]), int(text[6:8]))
            if text.isdigit()
            else date.fromisoformat(text[:10])
        )
    except ValueError:
        raise ProviderResponseError(f"Cost Management UsageDate {text[:20]!r} is not a date") from None
    return (day.toordinal() - date(1970, 1, 1).toordinal()) * DAY_MS


def resource_name(resource_id: str) -> str:
    """``resourceGroup/name`` of an Azure resource id (ids are case-insensitive: lowered)."""
    parts = [p for p in resource_id.lower().split("/") if p]
    group = parts[parts.index("resourcegroups") + 1] if "resourcegroups" in parts[:-1] else ""
    name = parts[-1] if parts else ""
    return f"{group}/{name}" if group else name


class _Column(msgspec.Struct):
    name: str
    type: str = "String"


class _Properties(msgspec.Struct, rename="camel"):
    columns: list[_Column]
    rows: list[list[Any]]
    next_link: str | None = None


class QueryResult(msgspec.Struct):
    """A Cost Management query answer (the fields we read), decoded once, not walked as a dict."""

    properties: _Properties


def decode(page: Json) -> QueryResult:
    """A page as a :class:`QueryResult`, or ProviderResponseError naming what does not fit."""
    try:
        return msgspec.convert(page, type=QueryResult)
    except msgspec.ValidationError as exc:
        raise ProviderResponseError(f"unexpected Cost Management response: {exc}") from None


def rows(page: Json) -> list[dict[str, object]]:
    """A page's rows as dicts keyed by column name (the column set varies with the agreement type)."""
    props = decode(page).properties
    names = [c.name for c in props.columns]
    out = []
    for values in props.rows:
        if len(values) != len(names):
            raise ProviderResponseError(
                f"a Cost Management row has {len(values)} values for {len(names)} columns"
            )
        out.append(dict(zip(names, values, strict=True)))
    return out


async def pages(client: ProviderClient, path: str, body: Mapping[str, object]) -> list[Json]:
    """Every page of one query, following ``properties.nextLink`` (on the same origin only)."""

    async def get(link: str | None) -> Json:
        if link is None:
            return await client.post_json(path, body, params=[("api-version", API_VERSION)])
        return await client.post_json(client.same_origin(link), body)

    def after(page: Json, _link: str | None) -> str | None:
        return decode(page).properties.next_link or None

    found = follow_pages(get, after, None, what="Cost Management", position="nextLink")
    return [page async for page in found]


def _amount(value: object) -> Decimal:
    try:
        return money.parse_amount(value)
    except ValueError as exc:
        raise ProviderResponseError(f"Cost Management Cost: {exc}") from None


def to_buckets(found: list[dict[str, object]], window: Window) -> tuple[list[Bucket], list[str]]:
    """USD rows as cost buckets; every other currency summed exactly, with its days, as note lines."""
    buckets: list[Bucket] = []
    totals: dict[str, Decimal] = defaultdict(Decimal)
    days: dict[str, set[int]] = defaultdict(set)
    for row in found:
        cost = row.get("Cost", row.get("PreTaxCost"))
        currency = as_str(row.get("Currency") or row.get("BillingCurrency")).strip().upper()
        if not currency:
            raise ProviderResponseError("a Cost Management row has no Currency column")
        day = usage_day(row.get("UsageDate"))
        if not window.start_ms <= day < window.end_ms:
            continue
        amount = _amount(cost)
        if currency != "USD":
            totals[currency] += amount
            days[currency].add(day)
            continue
        meter = as_str(row.get("Meter") or row.get("MeterSubCategory"))
        buckets.append(
            Bucket(
                start_ms=day,
                end_ms=day + DAY_MS,
                cost_nanos=money.to_nanos(amount),
                project=resource_name(as_str(row.get("ResourceId"))),
                line_item=meter,
            )
        )
    notes = [
        f"billed in {cur}, not in USD totals: {cur} {totals[cur]:f} over {len(days[cur])} day(s) "
        f"({utc_day(min(days[cur]))} to {utc_day(max(days[cur]))})"
        for cur in sorted(totals)
    ]
    return buckets, notes


NOT_USD_NOTE = re.compile(
    r"billed in (?P<currency>[A-Z]+), not in USD totals: (?P<amount>[A-Z]+ \S+) over \d+ day\(s\) "
    r"\((?P<first>\d{4}-\d\d-\d\d) to (?P<last>\d{4}-\d\d-\d\d)\)"
)
"""A note line of :func:`to_buckets` about amounts in another currency, read back by answers."""


def not_usd_notes(detail: str | None) -> list[tuple[str, date, date]]:
    """The amounts in another currency a sync's note names (as "EUR 40.5"), with their first and
    last day: left out of the USD totals, so an answer over those days must say it lacks them."""
    return [
        (m["amount"], date.fromisoformat(m["first"]), date.fromisoformat(m["last"]))
        for m in NOT_USD_NOTE.finditer(detail or "")
    ]


async def fetch(client: ProviderClient, _pricer: Pricer, window: Window) -> list[Feed]:
    """Billed Azure OpenAI cost per day, resource and meter over ``window`` (USD rows only; other
    currencies in the note, see the module docstring)."""
    path = f"{scope_path(client.setting(SCOPE_ENV))}/providers/Microsoft.CostManagement/query"
    found: list[dict[str, object]] = []
    step = CHUNK_DAYS * DAY_MS
    for start in range(window.start_ms, window.end_ms, step):
        for page in await pages(client, path, query_body(start, min(start + step, window.end_ms))):
            found += rows(page)
    buckets, notes = to_buckets(found, window)
    # A scope billed only in another currency must not read as "$0 billed": no day is marked synced.
    end = window.end_ms if buckets or not notes else window.start_ms
    start = window.start_ms
    return [Feed(PROVIDER, "cost", start, end, tuple(merge(buckets)), note="; ".join(notes))]


ENTRY = Provider(
    id=PROVIDER,
    name="Azure OpenAI",
    key_env="AZURE_CLIENT_SECRET",
    default_base_url="https://management.azure.com",
    default_token_url="https://login.microsoftonline.com",
    auth=auth_headers,
    token=exchange,
    auth_kind="OAuth client credentials",
    key_hint=KEY_HINT,
    settings=(
        Setting("AZURE_TENANT_ID", "the service principal's Entra ID tenant"),
        Setting("AZURE_CLIENT_ID", "the service principal's application (client) id"),
        Setting(SCOPE_ENV, "the Cost Management scope, e.g. /subscriptions/<id>"),
    ),
    sources=(SourceFetch(PROVIDER, fetch),),
    basis="billed",
    fetches="Cost Management actual cost per day, resource and meter (USD; other currencies noted)",
    min_ttl_seconds=MIN_TTL_SECONDS,
    rate_limit="a few queries a minute per scope; its 429 retry headers honoured",
    reporting_lag=REPORTING_LAG,
)
