"""Fake OpenAI and Anthropic admin APIs: the documented envelopes, paginated, from per-day results.

A fake serves ``reports[path][YYYY-MM-DD] = [results...]`` for whatever range a request asks for
(every day of the range gets a bucket, empty or not, as the real APIs do), ``page_size`` buckets a
page, with ``next_page`` cursors. ``script(path, ...)`` queues responses (429s, 500s, garbage)
served before the normal ones. It checks the auth headers exactly and answers 401 with the
documented error body otherwise.

Use it as ``httpx2.MockTransport(fake.handle)`` or behind :class:`LocalServer`, a real HTTP server
on 127.0.0.1 for tests that cannot inject a transport (the MCP server, the CLI).
"""

from __future__ import annotations

import http.server
import json
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


class Router:
    """One handler for both fakes, routed by path, so one transport or server can serve both."""

    def __init__(self, openai: FakeOpenAI, anthropic: FakeAnthropic) -> None:
        self.openai = openai
        self.anthropic = anthropic

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        fake: FakeApi = self.anthropic if request.url.path.startswith("/v1/organizations/") else self.openai
        return fake.handle(request)

    def transport(self) -> httpx2.MockTransport:
        return httpx2.MockTransport(self.handle)


class _Handler(http.server.BaseHTTPRequestHandler):
    router: Router

    def do_GET(self) -> None:
        request = httpx2.Request(
            "GET",
            f"http://{self.headers.get('host', 'localhost')}{self.path}",
            headers=dict(self.headers.items()),
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
