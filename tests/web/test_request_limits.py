"""Every request's body on the team server is bounded in size and in time.

The team server's app (`create_http_app`, as `cost-mcp serve --http` serves it, with a token so that
bearer tokens are required) served by uvicorn on 127.0.0.1, the ledger on SQLite and on PostgreSQL
(the ``settings`` fixture), asked with raw sockets where a client must misbehave.
"""

from __future__ import annotations

import gzip
import json
import socket
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx2
import pytest

from cost_mcp.config import Settings
from cost_mcp.pricing import Pricer
from cost_mcp.store import Ledger, connect
from cost_mcp.store import team as team_store
from cost_mcp.web import app as web_app
from cost_mcp.web import http
from cost_mcp.web.http import create_http_app
from tests.web.conftest import serve

MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@dataclass
class Served:
    """The team server's base URL and a member's token."""

    base: str
    token: str


@pytest.fixture
def served(settings: Settings, ledger_made: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    """The team server with one member's token; a body is given a second to arrive (a minute in use)."""
    monkeypatch.setattr(web_app, "BODY_SECONDS", 1.0)
    conn = connect(settings.db)
    try:
        token = team_store.create_token(conn, "ana", "ana@example.com")
    finally:
        conn.close()
    ledger = Ledger(settings.db)
    try:
        for base in serve(create_http_app(ledger, settings, Pricer()), lifespan="on"):
            yield Served(base, token)
    finally:
        ledger.close()


def _tools_list(pad: int = 0) -> bytes:
    params = {"_meta": {"pad": "x" * pad}} if pad else {}
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": params}).encode()


def test_an_mcp_request_over_the_limit_is_refused_unread(served: Served) -> None:
    """The SDK refuses an MCP body over 4 MiB; the server now reads /mcp's body first (to bound its
    time, below), and must keep that limit: 413, declared or streamed without a length, and a
    caller without a token refused before anything is read."""
    auth = {**MCP_HEADERS, "Authorization": f"Bearer {served.token}"}
    small = httpx2.post(f"{served.base}/mcp", content=_tools_list(), headers=auth)
    assert small.status_code == 200 and "get_spend" in small.text, small.text
    big = _tools_list(http.MCP_MAX_BODY_BYTES)
    declared = httpx2.post(f"{served.base}/mcp", content=big, headers=auth)
    assert declared.status_code == 413, declared.text
    assert "request body over 4,194,304 bytes" in declared.json()["error"]["message"]

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    streamed = httpx2.post(f"{served.base}/mcp", content=chunks(), headers=auth)
    assert streamed.status_code == 413, streamed.text
    anonymous = httpx2.post(f"{served.base}/mcp", content=big, headers=MCP_HEADERS)
    assert anonymous.status_code == 401, anonymous.text


def test_a_gzip_mcp_body_is_inflated_for_a_member_and_a_bomb_refused_without_the_token_said(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    """With tokens required, /mcp inflates a member's gzip body (as `serve --http` without tokens
    does, tests/web/test_otel_receiver.py) and refuses a bomb at the 4 MiB limit; a caller without
    a token is refused before anything is read or inflated. No answer or log line repeats the token."""
    auth = {**MCP_HEADERS, "Authorization": f"Bearer {served.token}", "Content-Encoding": "gzip"}
    taken = httpx2.post(f"{served.base}/mcp", content=gzip.compress(_tools_list()), headers=auth)
    assert taken.status_code == 200 and "get_spend" in taken.text, taken.text
    bomb = gzip.compress(b" " * (64 << 20))
    refused = httpx2.post(f"{served.base}/mcp", content=bomb, headers=auth)
    assert refused.status_code == 413, refused.text
    assert "inflates to more than 4,194,304 bytes" in refused.json()["error"]["message"]
    brotli = httpx2.post(
        f"{served.base}/mcp", content=_tools_list(), headers={**auth, "Content-Encoding": "br"}
    )
    assert brotli.status_code == 415 and brotli.headers["Accept-Encoding"] == "identity, gzip, deflate"
    anonymous = httpx2.post(
        f"{served.base}/mcp", content=bomb, headers={**MCP_HEADERS, "Content-Encoding": "gzip"}
    )
    assert anonymous.status_code == 401, anonymous.text
    wrong = {**auth, "Authorization": f"Bearer {served.token}x"}
    revoked_like = httpx2.post(f"{served.base}/mcp", content=bomb, headers=wrong)
    assert revoked_like.status_code == 401, revoked_like.text
    for answer in (taken, refused, brotli, anonymous, revoked_like):
        assert served.token not in answer.text and served.token not in str(answer.headers)
    # The refusal of the wrong token was logged, without it (or the right one).
    assert "refused a request to '/mcp'" in caplog.text and served.token not in caplog.text


def test_a_push_reads_its_content_encoding_as_otlp_and_mcp_do(served: Served) -> None:
    """A laptop's push took gzip alone and refused deflate, which the OTLP receiver and /mcp take,
    with no word of what it would take: one reading of the header now (otel.compressed), and a
    refused coding is answered as theirs are, 415 with the codings taken."""
    auth = {"Authorization": f"Bearer {served.token}", "Content-Type": "application/json"}
    empty = json.dumps({"rows": []}).encode()
    deflated = httpx2.post(
        f"{served.base}/api/push",
        content=zlib.compress(empty),
        headers={**auth, "Content-Encoding": "deflate"},
    )
    assert deflated.status_code == 200, deflated.text
    brotli = httpx2.post(f"{served.base}/api/push", content=empty, headers={**auth, "Content-Encoding": "br"})
    assert brotli.status_code == 415 and brotli.headers["Accept-Encoding"] == "identity, gzip, deflate"
    assert brotli.json() == {
        "error": "push Content-Encoding 'br' is not supported: send the body as it is, "
        "or with Content-Encoding gzip or deflate"
    }
    # Bad JSON is refused as ever, with no Accept-Encoding (the coding was not the problem).
    bad = httpx2.post(f"{served.base}/api/push", content=b"{", headers=auth)
    assert bad.status_code == 400 and "Accept-Encoding" not in bad.headers


def _trickle(base: str, path: str, headers: dict[str, str]) -> bytes:
    """Send a POST's headers and the first byte of a 1,000-byte body, then nothing more; the
    server's answer (empty if none came within 10 s)."""
    address = urlsplit(base)
    lines = [f"POST {path} HTTP/1.1", f"Host: {address.netloc}", "Content-Length: 1000"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    with socket.create_connection((address.hostname or "127.0.0.1", address.port or 80)) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n{").encode())
        sock.settimeout(10)
        answer = b""
        started = time.monotonic()
        try:
            while time.monotonic() - started < 10 and b"\r\n\r\n" not in answer:
                got = sock.recv(4096)
                if not got:
                    break
                answer += got
        except TimeoutError:
            pass
        return answer


def test_a_body_that_never_finishes_arriving_is_given_up_on(served: Served) -> None:
    """QA: a client that sent a request's headers and then a byte now and then held the connection
    and its handler for as long as it liked, on POST /mcp (any token holder) and on the sign-in
    form (anyone: it is read before a token is checked), as on /api/push and /v1/logs. The body now
    has a bounded time to arrive (a minute; a second here): 408, and the sign-in form its 400."""
    bearer = {"Authorization": f"Bearer {served.token}"}
    mcp = _trickle(served.base, "/mcp", {**MCP_HEADERS, **bearer})
    assert mcp.startswith(b"HTTP/1.1 408"), mcp
    pushed = _trickle(served.base, "/api/push", {"Content-Type": "application/json", **bearer})
    assert pushed.startswith(b"HTTP/1.1 408"), pushed
    otlp = _trickle(served.base, "/v1/logs", {"Content-Type": "application/json", **bearer})
    assert otlp.startswith(b"HTTP/1.1 408"), otlp
    form = {"Content-Type": "application/x-www-form-urlencoded", "Origin": served.base}
    signin = _trickle(served.base, "/signin", form)
    assert signin.startswith(b"HTTP/1.1 400"), signin
