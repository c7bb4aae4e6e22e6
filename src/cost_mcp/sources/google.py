"""Google (Gemini API and Vertex AI): billed cost from the Cloud Billing export in BigQuery.

Google has no per-key spend API; the Cloud Billing export to BigQuery is the only programmatic source
of its costs. The user enables the export on the billing account; cost-mcp queries the export table
(``COST_MCP_GOOGLE_BILLING_TABLE=project.dataset.table``, the standard
``gcp_billing_export_v1_<ACCOUNT>`` or the detailed ``gcp_billing_export_resource_v1_<ACCOUNT>``).

- Auth: a service account's JSON key (``GOOGLE_APPLICATION_CREDENTIALS``, a path) with BigQuery Job
  User on its project and Data Viewer on the dataset. cost-mcp signs a JWT with its private key
  (google-auth's signer) and trades it for a bearer token at the key's ``token_uri`` (RFC 7523
  ``jwt-bearer`` grant) through the shared HTTP client, which then scrubs the token like a key;
  ``COST_MCP_GOOGLE_TOKEN_URL`` moves the token origin (tests). The key file never leaves this process.
  ``GOOGLE_APPLICATION_CREDENTIALS`` may instead name the application-default user credentials that
  ``gcloud auth application-default login`` writes (``type: authorized_user``): their refresh token
  is traded for the bearer token (RFC 6749 section 6), and the job runs in their quota project.
  The well-known default path is not searched: the variable names the file, as for a key.
- Query: BigQuery REST ``jobs.query`` (``POST /bigquery/v2/projects/{project}/queries``) in the
  service account's project, standard SQL with named parameters for the range, then
  ``jobs.getQueryResults`` (``GET …/queries/{jobId}``) with ``pageToken`` until the job is complete
  and every page is read (:func:`query_rows`).
- Rows: per UTC day of ``usage_start_time``, project, service, SKU and label set (labels as
  ``k=v`` pairs), ``cost`` plus ``credits`` (credits are negative), summed as NUMERIC (exact to 1e-9
  in BigQuery, returned as strings), in the export's ``currency``. Each row carries the export's own
  ``currency_conversion_rate`` (local currency units per US dollar), so ``(cost + credits) / rate``
  is the row's USD amount: converted with the bill's rate, never a rate of ours. The source's note
  names every non-USD currency and its local total, so nothing is mixed silently.
- Granularity is per project, not per API key (Gemini keys belong to projects). Services:
  :data:`SERVICES` and any named for Claude (:func:`reads_service`). The export lags: rows land
  throughout the day and a day can keep changing for about a day, so :data:`REPORTING_LAG` (24 h)
  marks recent days partial in ``sources[]``.
"""

from __future__ import annotations

import csv
import io
import os
import re
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import msgspec

from cost_mcp import money
from cost_mcp.errors import InvalidInputError, ProviderAuthError, ProviderResponseError
from cost_mcp.files import NotRegularFileError, open_regular_file, read_regular_file
from cost_mcp.pricing import Pricer
from cost_mcp.sources.billing import Feed, Window, merge, too_large
from cost_mcp.sources.paging import follow_pages
from cost_mcp.sources.provider import Provider, Setting, SourceFetch
from cost_mcp.store.buckets import DAY_MS, Bucket, replace_range
from cost_mcp.store.connection import Conn, write_transaction

if TYPE_CHECKING:
    from cost_mcp.sources.http import ProviderClient

PROVIDER = "google"
CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"
TABLE_ENV = "COST_MCP_GOOGLE_BILLING_TABLE"
TOKEN_URL_ENV = "COST_MCP_GOOGLE_TOKEN_URL"
KEY_HINT = (
    "the path of a service account JSON key (or of the file gcloud auth application-default login "
    "writes) whose account can run BigQuery jobs and read the Cloud Billing export dataset, with "
    "COST_MCP_GOOGLE_BILLING_TABLE=project.dataset.table"
)
OAUTH_SCOPE = "https://www.googleapis.com/auth/bigquery.readonly"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SERVICES = ("Gemini API", "Generative Language API", "Vertex AI")
"""``service.description`` values of the Gemini API (it has had both names) and Vertex AI."""
PARTNER_SERVICE = "claude"
"""Also read: any service whose description holds this (any case). Claude Code on Vertex AI is
stored under provider google (``pricing.claude_provider``), so a day this export covers is its
total; Claude on Vertex is Anthropic's partner model, priced per billing account outside Vertex AI's
public SKU catalog, and an export that bills it under a service of its own (named for the model)
would otherwise leave it out of that total. Where it is billed under Vertex AI, this adds nothing."""


def reads_service(description: str) -> bool:
    """Whether rows of this ``service.description`` are Google's AI spend that this source reads."""
    return description in SERVICES or PARTNER_SERVICE in description.lower()


PAGE_ROWS = 10_000
WAIT_MS = 10_000
"""How long one jobs.query / getQueryResults call may wait for the job on Google's side."""
REPORTING_LAG = timedelta(hours=24)
_TABLE = re.compile(r"^[A-Za-z0-9_-]+(:[A-Za-z0-9_-]+)?\.[A-Za-z0-9_]+\.[A-Za-z0-9_$-]+$")

SQL = """
SELECT
  FORMAT_DATE('%F', DATE(usage_start_time)) AS day,
  IFNULL(project.id, '') AS project,
  service.description AS service,
  sku.description AS sku,
  IFNULL((SELECT STRING_AGG(CONCAT(l.key, '=', l.value), ',' ORDER BY l.key, l.value)
          FROM UNNEST(labels) AS l), '') AS labels,
  currency,
  CAST(currency_conversion_rate AS STRING) AS rate,
  CAST(SUM(CAST(cost AS NUMERIC)) AS STRING) AS cost,
  CAST(SUM(IFNULL((SELECT SUM(CAST(c.amount AS NUMERIC)) FROM UNNEST(credits) AS c), 0)) AS STRING)
    AS credits
FROM `{table}`
WHERE usage_start_time >= @start AND usage_start_time < @end
  AND (service.description IN UNNEST(@services) OR STRPOS(LOWER(service.description), @partner) > 0)
GROUP BY day, project, service, sku, labels, currency, rate
"""


# --- typed responses (msgspec): BigQuery's REST shapes, not walked as dicts --------------------------


class _Cell(msgspec.Struct):
    v: str | None = None


class _Row(msgspec.Struct):
    f: list[_Cell]


class _Field(msgspec.Struct):
    name: str
    type: str = "STRING"


class _Schema(msgspec.Struct):
    fields: list[_Field] = []


class _JobRef(msgspec.Struct, rename="camel"):
    project_id: str
    job_id: str
    location: str | None = None


class QueryResponse(msgspec.Struct, rename="camel"):
    """``jobs.query`` and ``jobs.getQueryResults`` answers (the fields we read)."""

    job_complete: bool = False
    job_reference: _JobRef | None = None
    schema: _Schema | None = None
    rows: list[_Row] = []
    page_token: str | None = None


TOKEN_URI = "https://oauth2.googleapis.com/token"
USER_CREDENTIALS = "authorized_user"
"""What ``gcloud auth application-default login`` writes: a user's refresh token and the OAuth
client it was issued to."""


class _Credentials(msgspec.Struct):
    """A credentials file: a service account key (``type`` service_account: an email and a private
    key) or application-default user credentials (``type`` authorized_user: a refresh token)."""

    type: str
    client_email: str = ""
    private_key: str = ""
    token_uri: str = TOKEN_URI
    project_id: str | None = None
    private_key_id: str | None = None
    client_id: str = ""
    client_secret: str = ""
    refresh_token: str = ""
    quota_project_id: str | None = None

    @property
    def who(self) -> str:
        """The account, as errors name it (never a secret)."""
        return self.client_email if self.type == "service_account" else "application-default user credentials"


def default_credentials(env: Mapping[str, str]) -> str | None:
    """Where google-auth looks when ``GOOGLE_APPLICATION_CREDENTIALS`` is unset: the file
    ``gcloud auth application-default login`` writes, under ``CLOUDSDK_CONFIG`` or gcloud's
    config folder (``~/.config/gcloud``; ``%APPDATA%\\gcloud`` on Windows). None when there is none.
    A Cloud VM's metadata server is not asked: the server reaches only the APIs configured."""
    folder = env.get("CLOUDSDK_CONFIG", "").strip()
    if not folder:
        if os.name == "nt" and env.get("APPDATA"):
            folder = str(Path(env["APPDATA"]) / "gcloud")
        else:
            folder = str(Path(env.get("HOME") or Path.home()) / ".config" / "gcloud")
    path = Path(folder) / "application_default_credentials.json"
    return str(path) if path.is_file() else None


def auth_headers(token: str) -> dict[str, str]:
    """The bearer token the JWT exchange returned."""
    return {"Authorization": f"Bearer {token}"}


def service_account(path: str) -> _Credentials:
    """The credentials file: a service account key, or the application-default user credentials
    ``gcloud auth application-default login`` writes; ProviderAuthError saying what is wrong with
    it otherwise (never its content)."""
    try:
        # A pipe or device at the path is refused, not waited on (a sync would hang on it).
        raw = read_regular_file(Path(path).expanduser())
    except NotRegularFileError:
        raise ProviderAuthError(
            f"{CREDENTIALS_ENV} names a pipe, socket or device, not a file: point it at the JSON key file"
        ) from None
    except OSError as exc:
        raise ProviderAuthError(
            f"{CREDENTIALS_ENV} names a file that cannot be read ({type(exc).__name__})"
        ) from None
    try:
        account = msgspec.json.decode(raw, type=_Credentials)
    except msgspec.DecodeError:
        raise ProviderAuthError(
            f"{CREDENTIALS_ENV} is not a service account JSON key (type, client_email, private_key)"
        ) from None
    if account.type == "service_account" and account.client_email and account.private_key:
        return account
    if account.type == USER_CREDENTIALS and account.client_id and account.refresh_token:
        return account
    if account.type in ("service_account", USER_CREDENTIALS):
        raise ProviderAuthError(
            f"{CREDENTIALS_ENV} is an incomplete {account.type} file (a service account key needs "
            "client_email and private_key; user credentials need client_id and refresh_token)"
        )
    raise ProviderAuthError(
        f"{CREDENTIALS_ENV} holds {account.type!r} credentials; a service account key is needed "
        "(IAM → Service accounts → Keys → Add key → JSON), or the file "
        "`gcloud auth application-default login` writes"
    )


def signed_assertion(account: _Credentials, audience: str, now: float | None = None) -> str:
    """An RS256 JWT for the jwt-bearer grant, signed with the account's private key (google-auth)."""
    from google.auth import crypt, jwt  # imported only by those who sync Google

    issued = int(now if now is not None else time.time())
    try:
        signer = crypt.RSASigner.from_string(  # type: ignore[no-untyped-call]
            account.private_key, account.private_key_id
        )
    except ValueError:
        raise ProviderAuthError(f"{CREDENTIALS_ENV}: the private_key cannot be read") from None
    payload = {
        "iss": account.client_email,
        "scope": OAUTH_SCOPE,
        "aud": audience,
        "iat": issued,
        "exp": issued + 3600,
    }
    token: bytes = jwt.encode(signer, payload)  # type: ignore[no-untyped-call]
    return token.decode("ascii")


async def exchange(client: ProviderClient, values: Mapping[str, str]) -> str:
    """An access token from the credentials' token endpoint (or COST_MCP_GOOGLE_TOKEN_URL): a signed
    JWT traded for it (service account), or the refresh token (application-default user
    credentials, RFC 6749 section 6)."""
    account = service_account(values.get(CREDENTIALS_ENV, ""))
    origin = values.get(TOKEN_URL_ENV)
    token_url = f"{origin}/token" if origin else account.token_uri
    if account.type == USER_CREDENTIALS:
        form = {
            "grant_type": "refresh_token",
            "client_id": account.client_id,
            "client_secret": account.client_secret,
            "refresh_token": account.refresh_token,
        }
        secret: tuple[str, ...] = ("client_secret", "refresh_token")
        refused = (
            "the refresh token may be revoked or expired: run gcloud auth application-default login again"
        )
    else:
        client.add_secret(account.private_key)
        form = {"grant_type": JWT_GRANT, "assertion": signed_assertion(account, account.token_uri)}
        secret = ("assertion",)
        refused = "the key may be deleted or disabled"
    try:
        body = await client.post_form(token_url, form, secret=secret)
    except ProviderResponseError as exc:
        if exc.status in (400, 401, 403):
            raise ProviderAuthError(
                f"Google refused the {account.type.replace('_', ' ')} in {CREDENTIALS_ENV} ({account.who}): "
                f"HTTP {exc.status} from the token endpoint; {refused}",
                status=exc.status,
            ) from None
        raise
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise ProviderResponseError("the Google token endpoint answered without an access_token")
    return token


def table_name(table: str) -> str:
    """``COST_MCP_GOOGLE_BILLING_TABLE`` checked (it is put in SQL, quoted)."""
    text = table.strip().strip("`")
    if not _TABLE.match(text):
        raise ProviderResponseError(
            f"{TABLE_ENV} {table[:80]!r} is not project.dataset.table "
            "(e.g. my-project.billing.gcp_billing_export_v1_012345_6789AB_CDEF01)"
        )
    return text


def query_body(table: str, start_ms: int, end_ms: int) -> dict[str, object]:
    """The jobs.query request for whole UTC days ``[start_ms, end_ms)``."""

    def ts(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S+00")

    return {
        "query": SQL.format(table=table),
        "useLegacySql": False,
        "parameterMode": "NAMED",
        "maxResults": PAGE_ROWS,
        "timeoutMs": WAIT_MS,
        "queryParameters": [
            {
                "name": "start",
                "parameterType": {"type": "TIMESTAMP"},
                "parameterValue": {"value": ts(start_ms)},
            },
            {"name": "end", "parameterType": {"type": "TIMESTAMP"}, "parameterValue": {"value": ts(end_ms)}},
            {
                "name": "services",
                "parameterType": {"type": "ARRAY", "arrayType": {"type": "STRING"}},
                "parameterValue": {"arrayValues": [{"value": s} for s in SERVICES]},
            },
            {
                "name": "partner",
                "parameterType": {"type": "STRING"},
                "parameterValue": {"value": PARTNER_SERVICE},
            },
        ],
    }


def _decode(body: Mapping[str, object]) -> QueryResponse:
    try:
        return msgspec.convert(body, type=QueryResponse, strict=False)
    except msgspec.ValidationError as exc:
        raise ProviderResponseError(f"unexpected BigQuery response: {exc}") from None


_Where = tuple[str | None, int]
"""Where the next BigQuery page is: the pageToken to ask for (None: the first page, or the job's
answer while it runs) and how many times an unfinished job was polled, so no position repeats."""


async def query_rows(
    client: ProviderClient, project: str, body: Mapping[str, object]
) -> list[dict[str, str]]:
    """Every row of a query, as ``{column: value}``: jobs.query, then getQueryResults until the job
    is complete and no pageToken is left (through :func:`follow_pages`)."""
    job: list[_JobRef | None] = []

    async def get(where: _Where) -> QueryResponse:
        token = where[0]
        if not job:
            page = _decode(await client.post_json(f"/bigquery/v2/projects/{project}/queries", body))
            job.append(page.job_reference)
            return page
        ref = job[0]
        if ref is None:
            raise ProviderResponseError("BigQuery answered without a jobReference")
        params: list[tuple[str, str | int]] = [("maxResults", PAGE_ROWS), ("timeoutMs", WAIT_MS)]
        if ref.location:
            params.append(("location", ref.location))
        if token:
            params.append(("pageToken", token))
        path = f"/bigquery/v2/projects/{ref.project_id}/queries/{ref.job_id}"
        return _decode(await client.get_json(path, params))

    def after(page: QueryResponse, where: _Where) -> _Where | None:
        if not page.job_complete:
            return where[0], where[1] + 1  # not done yet: ask again for the same page
        return (page.page_token, where[1]) if page.page_token else None

    names: list[str] | None = None
    out: list[dict[str, str]] = []
    first: _Where = (None, 0)
    async for page in follow_pages(get, after, first, what="BigQuery", position="pageToken"):
        if not page.job_complete:
            continue
        if page.schema is not None:
            names = [f.name for f in page.schema.fields]
        if names is None:
            raise ProviderResponseError("BigQuery answered rows without a schema")
        for row in page.rows:
            if len(row.f) != len(names):
                raise ProviderResponseError("a BigQuery row does not match its schema")
            out.append({n: c.v or "" for n, c in zip(names, row.f, strict=True)})
    return out


def to_buckets(rows: list[dict[str, str]], window: Window) -> tuple[list[Bucket], list[str]]:
    """Rows as USD cost buckets, converted with each row's own rate; note lines for other currencies."""
    buckets: list[Bucket] = []
    local: dict[str, Decimal] = defaultdict(Decimal)
    usd: dict[str, int] = defaultdict(int)
    for row in rows:
        try:
            day = date.fromisoformat(row["day"])
            currency = row["currency"].strip().upper()
            amount = money.parse_usd(row["cost"]) + money.parse_usd(row["credits"] or "0")
            rate = money.parse_usd(row["rate"] or "1")
            nanos = money.amount_nanos(amount, per_usd=rate)
        except (KeyError, ValueError) as exc:
            raise ProviderResponseError(f"unusable Cloud Billing export row ({exc})") from None
        start = (day.toordinal() - date(1970, 1, 1).toordinal()) * DAY_MS
        if not window.start_ms <= start < window.end_ms:
            continue
        if currency != "USD":
            local[currency] += amount
            usd[currency] += nanos
        buckets.append(
            Bucket(
                start_ms=start,
                end_ms=start + DAY_MS,
                cost_nanos=nanos,
                project=row.get("project", ""),
                workspace=row.get("labels", ""),
                line_item=f"{row.get('service', '')}: {row.get('sku', '')}",
            )
        )
    notes = [
        f"billed in {cur}: {cur} {local[cur]:f}, {money.format_usd(money.from_nanos(usd[cur]))} at the "
        "export's currency_conversion_rate"
        for cur in sorted(local)
    ]
    return buckets, notes


async def fetch(client: ProviderClient, _pricer: Pricer, window: Window) -> list[Feed]:
    """Billed Gemini API and Vertex AI cost per day, project, SKU and label set over ``window``.

    Every day of the window is covered: the query answers for the whole range (days without use have
    no rows); the reporting lag marks the recent ones partial.
    """
    table = table_name(client.setting(TABLE_ENV))
    account = service_account(client.setting(CREDENTIALS_ENV))
    # The job runs in the account's project; user credentials have at most a quota project.
    project = account.project_id or account.quota_project_id or table.split(".", 1)[0].split(":")[-1]
    rows = await query_rows(client, project, query_body(table, window.start_ms, window.end_ms))
    buckets, notes = to_buckets(rows, window)
    return [
        Feed(PROVIDER, "cost", window.start_ms, window.end_ms, tuple(merge(buckets)), note="; ".join(notes))
    ]


ENTRY = Provider(
    id=PROVIDER,
    name="Google (Gemini API, Vertex AI)",
    key_env=CREDENTIALS_ENV,
    default_base_url="https://bigquery.googleapis.com",
    default_token_url="",
    auth=auth_headers,
    token=exchange,
    auth_kind="service account (signed JWT) or gcloud user credentials (refresh token)",
    credential="a service account JSON key file, or application-default user credentials",
    key_hint=KEY_HINT,
    settings=(Setting(TABLE_ENV, "the Cloud Billing export table, project.dataset.table"),),
    sources=(SourceFetch(PROVIDER, fetch),),
    basis="billed",
    fetches="Cloud Billing export (BigQuery): cost + credits per day, project, SKU and labels, in USD "
    "at the export's own rate",
    min_ttl_seconds=3600,
    rate_limit="BigQuery job quotas; each sync is one query job",
    reporting_lag=REPORTING_LAG,
    default_key=default_credentials,
)


# --- a Cloud Billing CSV file, for people with no BigQuery export ---------------------------------

_CSV_COLUMNS: dict[str, tuple[str, ...]] = {
    "day": ("usage_start_time", "usage start date", "usage start time", "usage_start_date"),
    "project": ("project.id", "project id", "project_id"),
    "service": ("service.description", "service description", "service_description", "service"),
    "sku": ("sku.description", "sku description", "sku_description", "sku"),
    "cost": ("cost", "unrounded cost", "cost ($)", "unrounded cost ($)"),
    "credits": ("credits", "credits.amount", "credit amount"),
    "currency": ("currency", "billing currency"),
    "rate": ("currency_conversion_rate", "currency conversion rate"),
}


@dataclass
class CsvImport:
    """What importing a Cloud Billing CSV did: rows read, kept, left out (other services), skipped
    (unreadable, counted by reason), the days replaced and their total in USD."""

    path: str
    rows: int = 0
    imported: int = 0
    other_services: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    first_day: str | None = None
    last_day: str | None = None
    total_usd: Decimal = Decimal(0)
    currencies: list[str] = field(default_factory=list)


def _csv_columns(header: list[str]) -> dict[str, int]:
    index: dict[str, int] = {}
    lowered = [h.strip().lower() for h in header]
    for name, aliases in _CSV_COLUMNS.items():
        for i, h in enumerate(lowered):
            # "Cost (EUR)" / "Unrounded Cost ($)" name the amount column with its currency.
            base = re.sub(r"\s*\([^)]*\)$", "", h) if name == "cost" else h
            if h in aliases or base in aliases:
                index.setdefault(name, i)
    missing = [n for n in ("day", "service", "cost") if n not in index]
    if missing:
        raise InvalidInputError(
            f"not a Cloud Billing export CSV: no {', '.join(missing)} column (expected e.g. "
            "usage_start_time, service.description, sku.description, project.id, cost, credits, currency, "
            "currency_conversion_rate, as the BigQuery export has them, or the console's column names)"
        )
    return index


def _header_currency(header: list[str], index: dict[str, int]) -> str | None:
    match = re.search(r"\(([A-Za-z]{3})\)$", header[index["cost"]].strip())
    return match.group(1).upper() if match else None


def parse_csv(path: Path, currency: str | None = None) -> tuple[list[Bucket], CsvImport]:
    """The Gemini API and Vertex AI rows of a Cloud Billing CSV as USD cost buckets (streamed).

    Each row's currency comes from its ``currency`` column, else the cost header (``Cost (EUR)``),
    else ``currency``; a non-USD row needs its ``currency_conversion_rate``. A row that cannot be
    read is skipped and counted by reason, never guessed.
    """
    try:
        # Not path.open: a named pipe (e.g. a process substitution) would wait for a writer forever.
        binary = open_regular_file(path)
    except NotRegularFileError:
        raise InvalidInputError(
            f"{path} is not a regular file (a pipe, socket or device): save the Cloud Billing "
            "export to a file first, then import that file"
        ) from None
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        start = binary.read(2)
        binary.seek(0)
    except OSError as exc:
        binary.close()
        raise InvalidInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    # A spreadsheet re-saving the export may write UTF-16 (with its byte-order mark).
    encoding = "utf-16" if start in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    handle = io.TextIOWrapper(binary, encoding=encoding, newline="")
    try:
        with handle:
            return _read_csv(path, handle, currency)
    except UnicodeDecodeError as exc:
        # Nothing is stored until the whole file is read, so the ledger is untouched.
        raise InvalidInputError(
            f"{path} is not UTF-8 text (byte {exc.start} of a line cannot be read): export the CSV "
            "again from Cloud Billing (the console's CSV and BigQuery's export are UTF-8)"
        ) from None


def _read_csv(path: Path, handle: TextIO, currency: str | None) -> tuple[list[Bucket], CsvImport]:
    """:func:`parse_csv` on an open file."""
    result = CsvImport(path=str(path))
    buckets: list[Bucket] = []
    seen_currencies: set[str] = set()
    reader = csv.reader(handle)
    header = next(reader, None)
    if header is None:
        raise InvalidInputError(f"{path} is empty")
    index = _csv_columns(header)
    default_currency = (currency or _header_currency(header, index) or "").upper() or None

    def cell(row: list[str], name: str) -> str:
        i = index.get(name)
        return row[i].strip() if i is not None and i < len(row) else ""

    for row in reader:
        if not any(c.strip() for c in row):
            continue
        result.rows += 1
        if not reads_service(cell(row, "service")):
            result.other_services += 1
            continue
        reason = None
        try:
            day = date.fromisoformat(cell(row, "day")[:10])
            cur = (cell(row, "currency") or default_currency or "").upper()
            if not cur:
                reason = "no currency (add a currency column or pass --currency)"
            elif cur != "USD" and not cell(row, "rate"):
                reason = f"{cur} without currency_conversion_rate (cannot be converted)"
            else:
                amount = money.parse_usd(cell(row, "cost").replace(",", "")) + money.parse_usd(
                    cell(row, "credits").replace(",", "") or "0"
                )
                rate = money.parse_usd(cell(row, "rate") or "1")
                nanos = money.amount_nanos(amount, per_usd=rate)
        except ValueError:
            reason = "unreadable date or amount"
        if reason is not None:
            result.skipped[reason] = result.skipped.get(reason, 0) + 1
            continue
        start = (day.toordinal() - date(1970, 1, 1).toordinal()) * DAY_MS
        seen_currencies.add(cur)
        buckets.append(
            Bucket(
                start_ms=start,
                end_ms=start + DAY_MS,
                cost_nanos=nanos,
                project=cell(row, "project"),
                line_item=f"{cell(row, 'service')}: {cell(row, 'sku')}",
            )
        )
    result.imported = len(buckets)
    result.currencies = sorted(seen_currencies)
    found = too_large(buckets)
    if found is not None:
        raise InvalidInputError(
            f"{path} has {found}, more than the ledger holds (64-bit: $9.2 billion): not a real bill, "
            "so nothing was imported; check the cost column"
        )
    return list(merge(buckets)), result


def import_csv(conn: Conn, path: Path, currency: str | None = None) -> CsvImport:
    """Import a Cloud Billing CSV: its Gemini API / Vertex AI days replace what the ledger had for
    Google on those days (as a sync would), in one transaction; a re-import never adds."""
    buckets, result = parse_csv(path, currency)
    if not buckets:
        return result
    start = min(b.start_ms for b in buckets)
    end = max(b.end_ms for b in buckets)
    with write_transaction(conn):
        replace_range(conn, PROVIDER, "cost", start, end, buckets)
    result.first_day = datetime.fromtimestamp(start / 1000, UTC).date().isoformat()
    result.last_day = datetime.fromtimestamp((end - DAY_MS) / 1000, UTC).date().isoformat()
    result.total_usd = money.from_nanos(sum(b.cost_nanos or 0 for b in buckets))
    return result
