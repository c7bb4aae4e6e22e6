"""Fake provider APIs: OpenAI and Anthropic admin APIs (documented envelopes, paginated, from per-day
results), and OpenRouter, Groq's Prometheus metrics and Cursor's admin API (see their classes).

A fake serves ``reports[path][YYYY-MM-DD] = [results...]`` for whatever range a request asks for
(every day of the range gets a bucket, empty or not, as the real APIs do), ``page_size`` buckets a
page, with ``next_page`` cursors. ``script(path, ...)`` queues responses (429s, 500s, garbage)
served before the normal ones. It checks the auth headers exactly and answers 401 with the
documented error body otherwise.

Use it as ``httpx2.MockTransport(fake.handle)`` or behind :class:`LocalServer`, a real HTTP server
on 127.0.0.1 for tests that cannot inject a transport (the MCP server, the CLI).
"""

from __future__ import annotations

import base64
import hmac
import http.server
import json
import re
import sys
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers"
OPENAI_KEY = "sk-admin-TESTKEY-openai-0123456789"
ANTHROPIC_KEY = "sk-ant-admin01-TESTKEY-anthropic-0123456789"
OPENROUTER_KEY = "sk-or-v1-TESTKEY-openrouter-0123456789"
GROQ_KEY = "gsk_TESTKEY_groq_0123456789"
CURSOR_KEY = "key_TESTKEY_cursor_0123456789"
AZURE_SECRET = "azsecret~TESTKEY-azure-0123456789"
AZURE_TENANT = "00000000-0000-0000-0000-0000000000aa"
AZURE_CLIENT = "00000000-0000-0000-0000-00000000c11e"
AZURE_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.TESTTOKEN-azure.c2lnbmF0dXJl"
AZURE_SCOPE = "/subscriptions/00000000-0000-0000-0000-000000000001"
GOOGLE_TOKEN = "ya29.TESTTOKEN-google-0123456789"
GOOGLE_PROJECT = "billing-reader-proj"
GOOGLE_TABLE = "finance-proj.billing.gcp_billing_export_v1_012345_6789AB_CDEF01"
# AWS's own example credentials (its SigV4 documentation), never real ones.
AWS_ACCESS_KEY = "AKIDEXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
AWS_SESSION_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLE-session-token-0123456789"
DEFAULT_WORKSPACE = "0df9e665-d932-5740-b2c7-b52af166bc11"

Scripted = httpx2.Response | Callable[[httpx2.Request], httpx2.Response]


def fixture(name: str) -> Any:
    """A recorded-shape payload from tests/fixtures/providers/."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def json_response(status: int, body: object, headers: dict[str, str] | None = None) -> httpx2.Response:
    return httpx2.Response(
        status,
        content=json.dumps(body).encode(),
        headers={"content-type": "application/json", **(headers or {})},
    )


class FakeApi:
    """Common machinery; subclasses know their provider's auth, range parameters and envelope."""

    key: str

    def __init__(self, reports: dict[str, dict[str, list[Any]]] | None = None, page_size: int = 2) -> None:
        self.reports: dict[str, dict[str, list[Any]]] = defaultdict(dict, reports or {})
        self.page_size = page_size
        self.requests: list[httpx2.Request] = []
        self.scripts: dict[str, list[Scripted]] = defaultdict(list)
        self.listed_until: dict[str, date] = {}
        """Per path, the last day the report lists (later days have no bucket yet)."""
        self.lock = threading.Lock()

    def script(self, path: str, *responses: Scripted) -> None:
        """Serve these for the next requests to ``path``, before any normal answer."""
        self.scripts[path].extend(responses)

    def calls(self, path: str) -> list[httpx2.Request]:
        return [r for r in self.requests if r.url.path == path]

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        with self.lock:
            self.requests.append(request)
            queued = self.scripts.get(request.url.path)
            scripted = queued.pop(0) if queued else None
        if not self.authorised(request):
            return self.unauthorised()
        if scripted is not None:
            return scripted(request) if callable(scripted) else scripted
        return self.answer(request)

    def authorised(self, request: httpx2.Request) -> bool:
        raise NotImplementedError

    def unauthorised(self) -> httpx2.Response:
        raise NotImplementedError

    def answer(self, request: httpx2.Request) -> httpx2.Response:
        raise NotImplementedError

    def page(self, request: httpx2.Request, items: list[Any]) -> tuple[list[Any], bool, str | None]:
        offset = int(request.url.params.get("page", "page_0").removeprefix("page_"))
        chunk = items[offset : offset + self.page_size]
        more = offset + self.page_size < len(items)
        return chunk, more, f"page_{offset + self.page_size}" if more else None

    def days(self, path: str, first: date, end: date) -> list[date]:
        """The days a report lists for [first, end): all of them, or up to ``listed_until``."""
        until = self.listed_until.get(path)
        return [
            first + timedelta(days=i)
            for i in range((end - first).days)
            if until is None or first + timedelta(days=i) <= until
        ]


class FakeOpenAI(FakeApi):
    """/v1/organization/costs and /v1/organization/usage/* (Unix-second ranges, end exclusive)."""

    key = OPENAI_KEY

    def authorised(self, request: httpx2.Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.key}"

    def unauthorised(self) -> httpx2.Response:
        return json_response(401, fixture("openai_error_401.json"))

    def answer(self, request: httpx2.Request) -> httpx2.Response:
        params = request.url.params
        start = datetime.fromtimestamp(int(params["start_time"]), UTC).date()
        end = datetime.fromtimestamp(int(params["end_time"]), UTC).date()
        data = self.reports.get(request.url.path, {})
        buckets = [
            {
                "object": "bucket",
                "start_time": int(datetime.combine(d, datetime.min.time(), UTC).timestamp()),
                "end_time": int(
                    datetime.combine(d + timedelta(days=1), datetime.min.time(), UTC).timestamp()
                ),
                "results": data.get(d.isoformat(), []),
            }
            for d in self.days(request.url.path, start, end)
        ]
        chunk, more, cursor = self.page(request, buckets)
        return json_response(200, {"object": "page", "data": chunk, "has_more": more, "next_page": cursor})


class FakeAnthropic(FakeApi):
    """/v1/organizations/cost_report, usage_report/messages (RFC 3339 ranges) and
    usage_report/claude_code (one day per request, records paginated)."""

    key = ANTHROPIC_KEY

    def authorised(self, request: httpx2.Request) -> bool:
        return (
            request.headers.get("x-api-key") == self.key
            and request.headers.get("anthropic-version") == "2023-06-01"
        )

    def unauthorised(self) -> httpx2.Response:
        return json_response(401, fixture("anthropic_error_401.json"))

    def answer(self, request: httpx2.Request) -> httpx2.Response:
        params = request.url.params
        data = self.reports.get(request.url.path, {})
        if request.url.path.endswith("/claude_code"):
            records, more, cursor = self.page(request, data.get(params["starting_at"], []))
            return json_response(200, {"data": records, "has_more": more, "next_page": cursor})
        start = datetime.fromisoformat(params["starting_at"]).date()
        end = datetime.fromisoformat(params["ending_at"]).date()
        buckets = [
            {
                "starting_at": f"{d.isoformat()}T00:00:00Z",
                "ending_at": f"{(d + timedelta(days=1)).isoformat()}T00:00:00Z",
                "results": data.get(d.isoformat(), []),
            }
            for d in self.days(request.url.path, start, end)
        ]
        chunk, more, cursor = self.page(request, buckets)
        return json_response(200, {"data": chunk, "has_more": more, "next_page": cursor})


def ms(day: str, hour: int = 0) -> int:
    """Epoch ms of a UTC day (YYYY-MM-DD) at ``hour``."""
    return int(datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC).timestamp()) * 1000


class FakeOpenRouter(FakeApi):
    """/api/v1/key, /keys (offset pages), /activity (the last 30 completed days) and /credits.

    ``management=False`` makes the key an inference key: the management endpoints answer 403 with
    the documented message, and /key says so. ``today`` is the day /activity treats as today (it
    never lists it); ``activity`` holds rows with their ``date``.
    """

    key = OPENROUTER_KEY

    def __init__(
        self,
        today: date,
        activity: list[dict[str, Any]] | None = None,
        keys: list[dict[str, Any]] | None = None,
        management: bool = True,
        key_data: dict[str, Any] | None = None,
        credits: dict[str, Any] | None = None,
        keys_page_size: int = 2,
        workspaces: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__()
        self.workspaces = (
            workspaces if workspaces is not None else [{"id": DEFAULT_WORKSPACE, "name": "Default"}]
        )
        """Listed by /workspaces; a key without ``workspace_id`` is in the default workspace."""
        self.today = today
        self.activity = activity or []
        self.keys = keys if keys is not None else []
        self.management = management
        documented = fixture("openrouter_key_documented.json")["data"]
        flags = {"is_management_key": management, "is_provisioning_key": management}
        self.key_data = {**documented, **flags, **(key_data or {})}
        self.credits = credits or fixture("openrouter_credits_documented.json")["data"]
        self.keys_page_size = keys_page_size

    def authorised(self, request: httpx2.Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.key}"

    def unauthorised(self) -> httpx2.Response:
        return json_response(401, fixture("openrouter_error_401.json"))

    def answer(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        if path == "/api/v1/key":
            return json_response(200, {"data": self.key_data})
        if not self.management:
            return json_response(403, fixture("openrouter_error_403_management.json"))
        if path == "/api/v1/keys":
            # Documented: without workspace_id, the default workspace's keys only.
            workspace = request.url.params.get("workspace_id", DEFAULT_WORKSPACE)
            keys = [k for k in self.keys if k.get("workspace_id", DEFAULT_WORKSPACE) == workspace]
            offset = int(request.url.params.get("offset", "0"))
            return json_response(200, {"data": keys[offset : offset + self.keys_page_size]})
        if path == "/api/v1/workspaces":
            offset = int(request.url.params.get("offset", "0"))
            limit = int(request.url.params.get("limit", "50"))
            page = self.workspaces[offset : offset + min(limit, 1)]  # one a page: pagination is exercised
            return json_response(200, {"data": page, "total_count": len(self.workspaces)})
        if path == "/api/v1/credits":
            return json_response(200, {"data": self.credits})
        if path == "/api/v1/activity":
            first = self.today - timedelta(days=30)
            rows = [r for r in self.activity if first <= date.fromisoformat(r["date"]) < self.today]
            return json_response(200, {"data": rows})
        return json_response(404, {"error": {"code": 404, "message": "Not Found"}})


class FakeGroq(FakeApi):
    """Groq's Prometheus query_range: ``rates[metric][(model, project)][YYYY-MM-DD]`` is a constant
    per-second rate (a string) over that day's 5-minute windows; ``samples`` overrides single
    samples by their timestamp (seconds). ``entitled=False`` answers 403, as for an organisation
    without the metrics API."""

    key = GROQ_KEY

    def __init__(self, entitled: bool = True) -> None:
        super().__init__()
        self.entitled = entitled
        self.rates: dict[str, dict[tuple[str, str], dict[str, str]]] = defaultdict(dict)
        self.samples: dict[str, dict[tuple[str, str], dict[int, str]]] = defaultdict(dict)

    def authorised(self, request: httpx2.Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.key}"

    def unauthorised(self) -> httpx2.Response:
        return json_response(401, {"error": {"message": "Invalid API Key", "type": "invalid_request_error"}})

    def answer(self, request: httpx2.Request) -> httpx2.Response:
        if not self.entitled:
            return json_response(403, {"error": {"message": "Forbidden", "type": "permission_error"}})
        params = request.url.params
        found = re.fullmatch(r"sum by \(model, project_id\) \((\S+)\)", params["query"])
        if found is None:
            return json_response(400, fixture("groq_error_bad_data.json"))
        metric = found.group(1)
        start, end = int(params["start"]), int(params["end"])
        step = int(params["step"].removesuffix("s"))
        result = []
        for series in sorted(set(self.rates[metric]) | set(self.samples[metric])):
            values = []
            for t in range(start, end + 1, step):
                day = datetime.fromtimestamp(t - step, UTC).date().isoformat()
                value = self.samples[metric].get(series, {}).get(t)
                if value is None:
                    value = self.rates[metric].get(series, {}).get(day)
                if value is not None:
                    values.append([t, value])
            if values:
                model, project = series
                result.append({"metric": {"model": model, "project_id": project}, "values": values})
        return json_response(200, {"status": "success", "data": {"resultType": "matrix", "result": result}})


class FakeCursor(FakeApi):
    """POST /teams/filtered-usage-events (inclusive epoch-ms ranges of at most 30 days, page and
    pageSize in the body) and POST /teams/spend, with Basic auth (key as user name, no password)."""

    key = CURSOR_KEY

    def __init__(
        self,
        events: list[dict[str, Any]] | None = None,
        spend: list[dict[str, Any]] | None = None,
        cycle_start: int = 1708992000000,
        page_size: int = 2,
    ) -> None:
        super().__init__(page_size=page_size)
        self.events = events or []
        self.spend = (
            spend if spend is not None else fixture("cursor_spend_documented.json")["teamMemberSpend"]
        )
        self.cycle_start = cycle_start

    def authorised(self, request: httpx2.Request) -> bool:
        expected = base64.b64encode(f"{self.key}:".encode()).decode()
        return request.headers.get("authorization") == f"Basic {expected}"

    def unauthorised(self) -> httpx2.Response:
        return json_response(401, {"error": "Unauthorized", "message": "Invalid API key"})

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.calls(path)]

    def answer(self, request: httpx2.Request) -> httpx2.Response:
        if request.method != "POST":
            return json_response(404, fixture("cursor_error_404.json"))
        body = json.loads(request.content or b"{}")
        page = int(body.get("page", 1))
        if request.url.path == "/teams/spend":
            size = self.page_size
            pages = max(1, -(-len(self.spend) // size))
            chunk = self.spend[(page - 1) * size : page * size]
            return json_response(
                200,
                {
                    "teamMemberSpend": chunk,
                    "subscriptionCycleStart": self.cycle_start,
                    "totalMembers": len(self.spend),
                    "totalPages": pages,
                },
            )
        if request.url.path != "/teams/filtered-usage-events":
            return json_response(404, fixture("cursor_error_404.json"))
        start, end = int(body["startDate"]), int(body["endDate"])
        if end - start >= 30 * 86_400_000:
            return json_response(400, {"error": "Bad Request", "message": "Date range cannot exceed 30 days"})
        size = min(int(body.get("pageSize", 100)), self.page_size)
        found = [e for e in self.events if start <= int(e["timestamp"]) <= end]
        pages = max(1, -(-len(found) // size))
        return json_response(
            200,
            {
                "totalUsageEventsCount": len(found),
                "pagination": {
                    "numPages": pages,
                    "currentPage": page,
                    "pageSize": size,
                    "hasNextPage": page < pages,
                    "hasPreviousPage": page > 1,
                },
                "usageEvents": found[(page - 1) * size : page * size],
                "period": {"startDate": start, "endDate": end},
            },
        )


class FakeAzure(FakeApi):
    """Entra ID's token endpoint (client credentials) and Cost Management's query API.

    The query answer is the documented envelope (tests/fixtures/providers/azure_query_documented.json,
    from azure-rest-api-specs' 2025-03-01 examples) with the columns our query groups by; ``rows``
    are ``(yyyy-mm-dd, resource id, meter, cost, currency)``, served for the days the body's
    timePeriod asks for, ``page_size`` a page, further pages behind ``properties.nextLink``
    (``$skiptoken``), POSTed with the same body. ``columns`` reorders the columns (rows are mapped
    by name). ``tokens`` counts the token requests.
    """

    key = AZURE_SECRET
    QUERY = f"{AZURE_SCOPE}/providers/Microsoft.CostManagement/query"
    TOKEN = f"/{AZURE_TENANT}/oauth2/v2.0/token"

    def __init__(
        self,
        rows: list[tuple[str, str, str, Any, str]] | None = None,
        page_size: int = 2,
        columns: tuple[str, ...] = ("Cost", "UsageDate", "ResourceId", "Meter", "Currency"),
    ) -> None:
        super().__init__(page_size=page_size)
        self.rows = rows or []
        self.columns = columns
        self.tokens = 0

    def authorised(self, request: httpx2.Request) -> bool:
        if request.url.path == self.TOKEN:
            return True  # the form is checked in answer(), as Entra ID does
        return request.headers.get("authorization") == f"Bearer {AZURE_TOKEN}"

    def unauthorised(self) -> httpx2.Response:
        return json_response(
            401,
            {"error": {"code": "InvalidAuthenticationToken", "message": "The access token is invalid."}},
        )

    def answer(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.path == self.TOKEN:
            self.tokens += 1
            form = dict(httpx2.QueryParams(request.content.decode()))
            if (
                form.get("grant_type") != "client_credentials"
                or form.get("client_id") != AZURE_CLIENT
                or form.get("client_secret") != AZURE_SECRET
                or form.get("scope") != "https://management.azure.com/.default"
            ):
                return json_response(401, fixture("azure_token_error_401.json"))
            return json_response(
                200,
                {
                    "token_type": "Bearer",
                    "expires_in": 3599,
                    "ext_expires_in": 3599,
                    "access_token": AZURE_TOKEN,
                },
            )
        if request.url.path != self.QUERY or request.method != "POST":
            return json_response(404, {"error": {"code": "NotFound", "message": "no such scope"}})
        body = json.loads(request.content)
        period = body["timePeriod"]
        first = date.fromisoformat(period["from"][:10])
        last = date.fromisoformat(period["to"][:10])
        wanted = [r for r in self.rows if first <= date.fromisoformat(r[0]) <= last]
        skip = int(request.url.params.get("$skiptoken", "0"))
        chunk = wanted[skip : skip + self.page_size]
        more = skip + self.page_size < len(wanted)
        origin = f"{request.url.scheme}://{request.url.netloc.decode()}"
        envelope = fixture("azure_query_documented.json")
        del envelope["_source"]
        by_name = {"Cost": "Number", "UsageDate": "Number", "ResourceId": "String", "Meter": "String"}
        envelope["properties"]["columns"] = [
            {"name": c, "type": by_name.get(c, "String")} for c in self.columns
        ]
        envelope["properties"]["rows"] = [
            [
                {
                    "Cost": cost,
                    "UsageDate": int(day.replace("-", "")),
                    "ResourceId": resource,
                    "Meter": meter,
                    "Currency": currency,
                }[c]
                for c in self.columns
            ]
            for day, resource, meter, cost, currency in chunk
        ]
        envelope["properties"]["nextLink"] = (
            f"{origin}{self.QUERY}?api-version=2025-03-01&$skiptoken={skip + self.page_size}"
            if more
            else None
        )
        return httpx2.Response(
            200,
            content=json.dumps(envelope).encode(),
            headers={"content-type": "application/json"},
        )


GoogleRow = tuple[str, str, str, str, str, str, str, str, str]
"""(day, project id, service, sku, labels, currency, currency_conversion_rate, cost, credits)."""
GOOGLE_COLUMNS = ("day", "project", "service", "sku", "labels", "currency", "rate", "cost", "credits")


GOOGLE_USER_CLIENT = "764086051850-6qr4p6gpi6hn506pt8ejuq83di341hur.apps.googleusercontent.com"
GOOGLE_REFRESH = "1//0g-refresh-token-of-a-user"


class FakeGoogle(FakeApi):
    """Google's OAuth token endpoint (jwt-bearer grant, the JWT's RS256 signature checked against the
    service account's public key) and BigQuery's jobs.query / jobs.getQueryResults.

    ``rows`` are the query's result rows (what BigQuery would compute from the export), served for
    the days between the @start and @end parameters, ``page_size`` a page behind ``pageToken``.
    ``pending`` makes the job incomplete for that many answers first (jobComplete false, no rows),
    as a slow query is. REST shapes: cloud.google.com/bigquery/docs/reference/rest/v2/jobs/query.
    """

    key = GOOGLE_TOKEN

    def __init__(
        self, public_pem: bytes, rows: list[GoogleRow] | None = None, page_size: int = 2, pending: int = 0
    ):
        super().__init__(page_size=page_size)
        self.public_pem = public_pem
        self.rows = rows or []
        self.pending = pending
        self.tokens = 0
        self.bodies: list[dict[str, Any]] = []

    def authorised(self, request: httpx2.Request) -> bool:
        if request.url.path == "/token":
            return True
        return request.headers.get("authorization") == f"Bearer {GOOGLE_TOKEN}"

    def unauthorised(self) -> httpx2.Response:
        return json_response(
            401,
            {
                "error": {
                    "code": 401,
                    "message": "Request had invalid authentication credentials.",
                    "status": "UNAUTHENTICATED",
                }
            },
        )

    def answer(self, request: httpx2.Request) -> httpx2.Response:
        from google.auth import exceptions, jwt

        path = request.url.path
        if path == "/token":
            self.tokens += 1
            form = dict(httpx2.QueryParams(request.content.decode()))
            if form.get("grant_type") == "refresh_token":
                # Application-default user credentials (RFC 6749 section 6).
                if (form.get("client_id"), form.get("refresh_token")) != (GOOGLE_USER_CLIENT, GOOGLE_REFRESH):
                    return json_response(400, {"error": "invalid_grant", "error_description": "Bad Request"})
                return json_response(
                    200, {"access_token": GOOGLE_TOKEN, "expires_in": 3599, "token_type": "Bearer"}
                )
            try:
                claims = jwt.decode(  # type: ignore[no-untyped-call]
                    form.get("assertion", ""),
                    certs=self.public_pem,
                    audience="https://oauth2.googleapis.com/token",
                )
            except (exceptions.GoogleAuthError, ValueError):
                return json_response(
                    400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
                )
            if (
                form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer"
                or "bigquery" not in claims["scope"]
            ):
                return json_response(400, {"error": "invalid_scope"})
            return json_response(
                200, {"access_token": GOOGLE_TOKEN, "expires_in": 3599, "token_type": "Bearer"}
            )
        job = {"projectId": GOOGLE_PROJECT, "jobId": "job_abc123", "location": "US"}
        if request.method == "POST" and path == f"/bigquery/v2/projects/{GOOGLE_PROJECT}/queries":
            self.bodies.append(json.loads(request.content))
            offset = 0
        elif request.method == "GET" and path == f"/bigquery/v2/projects/{GOOGLE_PROJECT}/queries/job_abc123":
            offset = int(request.url.params.get("pageToken", "0"))
        else:
            return json_response(
                404, {"error": {"code": 404, "message": f"Not found: {path}", "status": "NOT_FOUND"}}
            )
        if self.pending:
            self.pending -= 1
            return json_response(
                200, {"kind": "bigquery#queryResponse", "jobReference": job, "jobComplete": False}
            )
        params = {p["name"]: p["parameterValue"].get("value") for p in self.bodies[-1]["queryParameters"]}
        first, end = date.fromisoformat(params["start"][:10]), date.fromisoformat(params["end"][:10])
        wanted = [r for r in self.rows if first <= date.fromisoformat(r[0]) < end]
        chunk = wanted[offset : offset + self.page_size]
        body: dict[str, Any] = {
            "kind": "bigquery#queryResponse",
            "schema": {"fields": [{"name": n, "type": "STRING", "mode": "NULLABLE"} for n in GOOGLE_COLUMNS]},
            "jobReference": job,
            "totalRows": str(len(wanted)),
            "rows": [{"f": [{"v": v} for v in r]} for r in chunk],
            "totalBytesProcessed": "1024",
            "jobComplete": True,
            "cacheHit": False,
        }
        if offset + self.page_size < len(wanted):
            body["pageToken"] = str(offset + self.page_size)
        return json_response(200, body)


AwsRow = tuple[str, str, Any, str]
"""(day, SERVICE, UnblendedCost Amount, Unit)."""
_SIGV4 = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<akid>[^/]+)/(?P<date>\d{8})/us-east-1/ce/aws4_request, "
    r"SignedHeaders=(?P<names>[a-z0-9;-]+), Signature=(?P<sig>[0-9a-f]{64})"
)


def sigv4_valid(request: httpx2.Request, access_key: str, secret: str, token: str | None = None) -> bool:
    """Whether ``request`` carries a well-formed SigV4 ``Authorization`` for Cost Explorer that botocore,
    recomputing it from the headers it names, the body and ``X-Amz-Date``, agrees with."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    match = _SIGV4.fullmatch(request.headers.get("authorization", ""))
    amz_date = request.headers.get("x-amz-date", "")
    if match is None or match["akid"] != access_key or not amz_date.startswith(match["date"]):
        return False
    names = match["names"].split(";")
    if not {"host", "x-amz-date", "x-amz-target", "content-type"} <= set(names):
        return False
    if token is not None and (
        "x-amz-security-token" not in names or request.headers.get("x-amz-security-token") != token
    ):
        return False
    signed = AWSRequest(
        method=request.method,
        url=str(request.url),
        data=request.content,
        headers={name: request.headers[name] for name in names},
    )
    signed.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(access_key, secret, token), "ce", "us-east-1")
    expected = signer.signature(signer.string_to_sign(signed, signer.canonical_request(signed)), signed)
    return hmac.compare_digest(expected, match["sig"])


def aws_error(status: int, kind: str, message: str) -> httpx2.Response:
    """An AWS JSON 1.1 error: ``__type`` (namespace#Name) and ``message``, as Cost Explorer answers."""
    return httpx2.Response(
        status,
        content=json.dumps(
            {"__type": f"com.amazonaws.awsinsightsindexservice#{kind}", "message": message}
        ).encode(),
        headers={"content-type": "application/x-amz-json-1.1", "x-amzn-requestid": "0f3b7c1e-example"},
    )


class FakeAws(FakeApi):
    """AWS Cost Explorer's ``GetCostAndUsage`` (``POST /``, ``X-Amz-Target``), as botocore's service model
    ``ce/2017-10-25`` shapes it: ``ResultsByTime`` one per day of the TimePeriod asked for (End exclusive),
    its ``Groups`` keyed by SERVICE with ``UnblendedCost {Amount: string, Unit}``, ``Total`` empty when
    grouped, ``Estimated`` for days from ``estimated_from`` on, ``page_size`` days a page behind
    ``NextPageToken``. Every request's SigV4 signature is recomputed (403 InvalidSignatureException
    otherwise: with ``access_key`` and ``secret``, and ``token`` when given); ``listed_from`` hides
    earlier days (a period Cost Explorer has no data for)."""

    key = AWS_SECRET
    TARGET = "AWSInsightsIndexService.GetCostAndUsage"

    def __init__(
        self,
        rows: list[AwsRow] | None = None,
        page_size: int = 31,
        estimated_from: date | None = None,
        listed_from: date | None = None,
        token: str | None = None,
        access_key: str = AWS_ACCESS_KEY,
        secret: str = AWS_SECRET,
    ) -> None:
        super().__init__(page_size=page_size)
        self.access_key, self.secret = access_key, secret
        self.rows = rows or []
        self.estimated_from = estimated_from
        self.listed_from = listed_from
        self.token = token
        self.bodies: list[dict[str, Any]] = []

    def authorised(self, request: httpx2.Request) -> bool:
        return sigv4_valid(request, self.access_key, self.secret, self.token)

    def unauthorised(self) -> httpx2.Response:
        return aws_error(
            403,
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided.",
        )

    def answer(self, request: httpx2.Request) -> httpx2.Response:
        if (
            request.method != "POST"
            or request.url.path != "/"
            or request.headers.get("x-amz-target") != self.TARGET
            or request.headers.get("content-type") != "application/x-amz-json-1.1"
        ):
            return aws_error(400, "UnknownOperationException", "")
        body = json.loads(request.content)
        self.bodies.append(body)
        first = date.fromisoformat(body["TimePeriod"]["Start"])
        end = date.fromisoformat(body["TimePeriod"]["End"])
        days = [
            first + timedelta(days=i)
            for i in range((end - first).days)
            if self.listed_from is None or first + timedelta(days=i) >= self.listed_from
        ]
        offset = int(body.get("NextPageToken") or 0)
        chunk = days[offset : offset + self.page_size]
        results = [
            {
                "TimePeriod": {"Start": day.isoformat(), "End": (day + timedelta(days=1)).isoformat()},
                "Total": {},
                "Groups": [
                    {"Keys": [service], "Metrics": {"UnblendedCost": {"Amount": amount, "Unit": unit}}}
                    for on, service, amount, unit in self.rows
                    if on == day.isoformat()
                ],
                "Estimated": self.estimated_from is not None and day >= self.estimated_from,
            }
            for day in chunk
        ]
        answer: dict[str, Any] = {
            "GroupDefinitions": [{"Type": "DIMENSION", "Key": "SERVICE"}],
            "ResultsByTime": results,
            "DimensionValueAttributes": [],
        }
        if offset + self.page_size < len(days):
            answer["NextPageToken"] = str(offset + self.page_size)
        return httpx2.Response(
            200, content=json.dumps(answer).encode(), headers={"content-type": "application/x-amz-json-1.1"}
        )


class Router:
    """One handler for every fake, routed by path, so one transport or server can serve them all."""

    def __init__(
        self,
        openai: FakeOpenAI | None = None,
        anthropic: FakeAnthropic | None = None,
        openrouter: FakeOpenRouter | None = None,
        groq: FakeGroq | None = None,
        cursor: FakeCursor | None = None,
        azure: FakeAzure | None = None,
        google: FakeGoogle | None = None,
        aws: FakeAws | None = None,
    ) -> None:
        self.openai = openai or FakeOpenAI()
        self.anthropic = anthropic or FakeAnthropic()
        self.openrouter = openrouter or FakeOpenRouter(datetime.now(UTC).date())
        self.groq = groq or FakeGroq()
        self.cursor = cursor or FakeCursor()
        self.azure = azure or FakeAzure()
        self.google = google
        self.aws = aws

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        fake: FakeApi
        if self.aws is not None and "x-amz-target" in request.headers:
            fake = self.aws
        elif path.startswith("/v1/organizations/"):
            fake = self.anthropic
        elif path.startswith("/api/v1/"):
            fake = self.openrouter
        elif path.startswith("/v1/metrics/prometheus/"):
            fake = self.groq
        elif path.startswith("/teams/"):
            fake = self.cursor
        elif "/oauth2/" in path or "Microsoft.CostManagement" in path:
            fake = self.azure
        elif self.google is not None and (path == "/token" or path.startswith("/bigquery/")):
            fake = self.google
        else:
            fake = self.openai
        return fake.handle(request)

    def transport(self) -> httpx2.MockTransport:
        return httpx2.MockTransport(self.handle)


class _Handler(http.server.BaseHTTPRequestHandler):
    router: Router

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("content-length") or 0)
        request = httpx2.Request(
            method,
            f"http://{self.headers.get('host', 'localhost')}{self.path}",
            headers=dict(self.headers.items()),
            content=self.rfile.read(length) if length else b"",
        )
        response = self.server.router.handle(request)  # type: ignore[attr-defined]
        body = response.read()
        self.send_response(response.status_code)
        for name, value in response.headers.items():
            if name.lower() not in ("content-length", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output clean


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (a cancelled sibling request) leaves a broken pipe: not a failure.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextmanager
def local_server(router: Router) -> Iterator[str]:
    """Serve ``router`` on 127.0.0.1 (a free port) in a thread; yields the base URL."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.router = router  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
