"""The one client factory, retry policy and pagination helper, against httpx2.MockTransport."""

from __future__ import annotations

import base64
import gzip
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime

import anyio
import httpx2
import pytest
import stamina

from cost_mcp.config import Settings, load_settings
from cost_mcp.errors import ProviderAuthError, ProviderResponseError
from cost_mcp.sources.http import (
    MAX_RESPONSE_BYTES,
    MAX_RETRY_AFTER_SECONDS,
    USER_AGENT,
    ProviderClient,
    RetryableStatus,
    follow_pages,
    parse_retry_after,
    provider_client,
    retry_wait,
    scrub_keys,
)
from tests.sources.fake_providers import OPENAI_KEY, fixture, json_response

PATH = "/v1/organization/costs"
OK = {"object": "page", "data": [], "has_more": False, "next_page": None}

Handler = Callable[[httpx2.Request], httpx2.Response]


@pytest.fixture
def configured(home: object, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", OPENAI_KEY)
    monkeypatch.setenv("COST_MCP_OPENAI_BASE_URL", "https://gateway.test/openai/")
    return load_settings()


class Script:
    """Answers requests with the given responses in order; records what was asked."""

    def __init__(self, *responses: httpx2.Response | Exception) -> None:
        self.responses = list(responses)
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        answer = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def client(settings: Settings, handler: Handler, budget: float = 30.0) -> ProviderClient:
    return provider_client(
        settings,
        "openai",
        bearer,
        key_hint="an organization Admin key, sk-admin-…",
        transport=httpx2.MockTransport(handler),
        deadline=time.monotonic() + budget,
    )


def get(settings: Settings, handler: Handler, budget: float = 30.0) -> dict[str, object]:
    async def go() -> dict[str, object]:
        async with client(settings, handler, budget) as c:
            return await c.get_json(PATH, [("start_time", 1)])

    return anyio.run(go)


def pages(settings: Settings, handler: Handler, max_pages: int = 50) -> list[dict[str, object]]:
    async def go() -> list[dict[str, object]]:
        async with client(settings, handler) as c:
            return [p async for p in c.paginate(PATH, [("limit", 2)], max_pages=max_pages)]

    return anyio.run(go)


# --- the retry policy ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("2", 2.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("0.25", 0.25),
        ("-3", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_seconds(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds


def test_retry_after_http_date() -> None:
    now = datetime(2026, 11, 3, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Tue, 03 Nov 2026 12:00:30 GMT", now) == 30.0


def test_policy_honours_retry_after_capped_and_within_the_deadline() -> None:
    limited = RetryableStatus("429", 429, retry_after=2.0)
    assert retry_wait(limited, attempt=1, remaining=30.0) == 2.0
    at_cap = RetryableStatus("429", 429, retry_after=MAX_RETRY_AFTER_SECONDS)
    assert retry_wait(at_cap, attempt=1, remaining=300.0) == MAX_RETRY_AFTER_SECONDS
    # asking for longer than the cap: a retry sooner than asked cannot pass, so none is made
    very_limited = RetryableStatus("429", 429, retry_after=600.0)
    assert retry_wait(very_limited, attempt=1, remaining=3_600.0) is False
    # a wait that would outlast the time budget is not started
    assert retry_wait(limited, attempt=1, remaining=1.5) is False


def test_policy_backs_off_on_5xx_and_transport_errors_and_never_retries_auth() -> None:
    first = retry_wait(RetryableStatus("500", 500, None), attempt=1, remaining=30.0)
    third = retry_wait(httpx2.ConnectError("refused"), attempt=3, remaining=30.0)
    assert isinstance(first, float) and 0.5 <= first <= 1.0
    assert isinstance(third, float) and 2.0 <= third <= 2.5
    assert retry_wait(ProviderAuthError("no"), attempt=1, remaining=30.0) is False
    assert retry_wait(ProviderResponseError("bad json"), attempt=1, remaining=30.0) is False


# --- one request ----------------------------------------------------------------------------------


@pytest.mark.no_ledger
def test_client_sends_the_key_only_in_headers_to_the_configured_base_url(configured: Settings) -> None:
    script = Script(json_response(200, OK))
    assert get(configured, script) == OK
    [request] = script.requests
    assert str(request.url).startswith("https://gateway.test/openai/v1/organization/costs?")
    assert request.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert request.headers["user-agent"] == USER_AGENT
    assert OPENAI_KEY not in str(request.url)


@pytest.mark.no_ledger
def test_numbers_decode_as_exact_decimals(configured: Settings) -> None:
    from decimal import Decimal

    body = get(configured, Script(json_response(200, {"amount": 0.1, "n": 3})))
    assert body == {"amount": Decimal("0.1"), "n": 3}
    assert isinstance(body["amount"], Decimal)


@pytest.mark.no_ledger
def test_429_with_retry_after_then_success(configured: Settings) -> None:
    script = Script(
        json_response(429, fixture("openai_error_429.json"), {"retry-after": "1"}), json_response(200, OK)
    )
    assert get(configured, script) == OK
    assert len(script.requests) == 2


@pytest.fixture
def real_waits() -> Iterator[list[float]]:
    """Retries really sleep; yields the waits stamina scheduled."""
    waits: list[float] = []
    stamina.instrumentation.set_on_retry_hooks([lambda details: waits.append(details.wait_for)])
    with stamina.set_testing(False):
        yield waits
    stamina.instrumentation.set_on_retry_hooks(None)


@pytest.mark.no_ledger
def test_retry_after_is_actually_waited_for(configured: Settings, real_waits: list[float]) -> None:
    script = Script(
        json_response(429, fixture("openai_error_429.json"), {"retry-after": "0.3"}), json_response(200, OK)
    )
    started = time.monotonic()
    assert get(configured, script) == OK
    assert time.monotonic() - started >= 0.3
    assert real_waits == [pytest.approx(0.3, abs=0.01)]


@pytest.mark.no_ledger
def test_503_retry_after_is_honoured_by_the_same_policy(
    configured: Settings, real_waits: list[float]
) -> None:
    script = Script(
        json_response(503, fixture("openai_error_500.json"), {"retry-after": "0.2"}), json_response(200, OK)
    )
    assert get(configured, script) == OK
    assert real_waits == [pytest.approx(0.2, abs=0.01)]  # the header's wait, not the 0.5 s+ backoff


def test_retry_after_longer_than_the_cap_fails_at_once_with_a_large_budget(
    configured: Settings, real_waits: list[float]
) -> None:
    """`cost-mcp sync` waited 60 s (the cap) on a 429 asking for 3600 s, then failed all the same."""
    script = Script(json_response(429, fixture("openai_error_429.json"), {"retry-after": "3600"}))
    started = time.monotonic()
    asked = r"gave up after 1 attempt \(it asked to wait 3600 s: sync again after that\)$"
    with pytest.raises(ProviderResponseError, match=r"rate limited \(HTTP 429\).*" + asked):
        get(configured, script, budget=7_200.0)
    assert time.monotonic() - started < 1.0 and real_waits == [] and len(script.requests) == 1


@pytest.mark.no_ledger
def test_retry_after_longer_than_the_budget_fails_at_once(
    configured: Settings, real_waits: list[float]
) -> None:
    script = Script(json_response(429, fixture("openai_error_429.json"), {"retry-after": "30"}))
    started = time.monotonic()
    # The body says "try again in 1s"; the header's 30 s is what the provider enforces: named.
    asked = r"gave up after 1 attempt \(it asked to wait 30 s: sync again after that\)$"
    with pytest.raises(ProviderResponseError, match=r"rate limited \(HTTP 429\).*" + asked):
        get(configured, script, budget=5.0)
    assert time.monotonic() - started < 1.0
    assert real_waits == []


@pytest.mark.no_ledger
def test_500_then_success(configured: Settings) -> None:
    script = Script(json_response(500, fixture("openai_error_500.json")), json_response(200, OK))
    assert get(configured, script) == OK
    assert len(script.requests) == 2


@pytest.mark.no_ledger
def test_persistent_5xx_gives_up_with_the_provider_message(configured: Settings) -> None:
    script = Script(json_response(503, fixture("openai_error_500.json")))
    with pytest.raises(ProviderResponseError) as caught:
        get(configured, script)
    assert str(caught.value) == (
        "/v1/organization/costs: HTTP 503: The server had an error while processing your request. "
        "Sorry about that!; gave up after 5 attempts"
    )
    assert len(script.requests) == 5


@pytest.mark.no_ledger
def test_transport_errors_are_retried_then_reported(configured: Settings) -> None:
    flaky = Script(httpx2.ConnectError("connection refused"), json_response(200, OK))
    assert get(configured, flaky) == OK
    down = Script(httpx2.ConnectError("connection refused"))
    with pytest.raises(
        ProviderResponseError, match=r"cannot reach https://gateway.test/openai \(ConnectError"
    ):
        get(configured, down)
    assert len(down.requests) == 5


@pytest.mark.parametrize("status", [401, 403])
@pytest.mark.no_ledger
def test_auth_failures_are_not_retried_and_name_the_variable(configured: Settings, status: int) -> None:
    script = Script(json_response(status, fixture("openai_error_401.json")))
    with pytest.raises(ProviderAuthError) as caught:
        get(configured, script)
    message = str(caught.value)
    assert message.startswith("needs an admin key in OPENAI_ADMIN_KEY: /v1/organization/costs answered")
    assert f"HTTP {status}" in message and "sk-admin" in message  # the hint names the key type
    assert len(script.requests) == 1


@pytest.mark.no_ledger
def test_malformed_json_is_an_error_not_a_retry(configured: Settings) -> None:
    script = Script(
        httpx2.Response(
            200, content=b'{"object": "page", "data": [', headers={"content-type": "application/json"}
        )
    )
    with pytest.raises(
        ProviderResponseError, match=r"returned malformed JSON \(JSONDecodeError at character 28\)"
    ):
        get(configured, script)
    assert len(script.requests) == 1


class Endless(httpx2.AsyncByteStream):
    """A body of 1 MiB chunks, three times the cap: counts how many were asked for."""

    def __init__(self) -> None:
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunk = b"[" + b" " * (2**20 - 1)
        for _ in range(3 * MAX_RESPONSE_BYTES // 2**20):
            self.sent += 1
            yield chunk


@pytest.mark.no_ledger
def test_a_huge_answer_is_refused_without_reading_it_all(configured: Settings) -> None:
    """A base URL pointed at something that answers gigabytes (each source at once) filled 17 GB of
    memory before the sync's time budget stopped it: reading stops at the cap, saying where."""
    body = Endless()
    script = Script(httpx2.Response(200, headers={"content-type": "application/json"}, stream=body))
    with pytest.raises(ProviderResponseError) as caught:
        get(configured, script)
    assert str(caught.value) == (
        "/v1/organization/costs answered more than 64 MB (HTTP 200), far more than a page of billing "
        "data: stopped reading it. Check that https://gateway.test/openai is the provider's API"
    )
    assert body.sent <= MAX_RESPONSE_BYTES // 2**20 + 1
    assert len(script.requests) == 1


@pytest.mark.no_ledger
def test_a_gzip_bomb_is_refused_by_what_it_unpacks_to(configured: Settings) -> None:
    bomb = gzip.compress(b" " * (MAX_RESPONSE_BYTES + 1), compresslevel=1)
    assert len(bomb) < 2**20
    headers = {"content-type": "application/json", "content-encoding": "gzip"}
    with pytest.raises(ProviderResponseError, match="answered more than 64 MB"):
        get(configured, Script(httpx2.Response(200, headers=headers, content=bomb)))


@pytest.mark.no_ledger
def test_a_gzipped_answer_under_the_cap_is_read(configured: Settings) -> None:
    packed = gzip.compress(json.dumps(OK).encode())
    headers = {"content-type": "application/json", "content-encoding": "gzip"}
    assert get(configured, Script(httpx2.Response(200, headers=headers, content=packed))) == OK


@pytest.mark.parametrize("status", [200, 400])
@pytest.mark.no_ledger
def test_json_nested_too_deeply_is_malformed_not_an_internal_error(configured: Settings, status: int) -> None:
    deep = b'{"data":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    script = Script(httpx2.Response(status, headers={"content-type": "application/json"}, content=deep))
    expected = r"returned malformed JSON \(nested too deeply\)$" if status == 200 else "HTTP 400$"
    with pytest.raises(ProviderResponseError, match=expected):
        get(configured, script)


@pytest.mark.no_ledger
def test_json_that_is_not_an_object_is_an_error(configured: Settings) -> None:
    with pytest.raises(ProviderResponseError, match="not an object"):
        get(configured, Script(json_response(200, [1, 2])))


@pytest.mark.no_ledger
def test_provider_error_text_is_scrubbed_of_keys(configured: Settings) -> None:
    echo = {"error": {"message": f"Invalid project for key {OPENAI_KEY} (also sk-proj-abcdefgh12345678)"}}
    with pytest.raises(ProviderResponseError) as caught:
        get(configured, Script(json_response(400, echo)))
    assert (
        str(caught.value)
        == "/v1/organization/costs: HTTP 400: Invalid project for key [redacted] (also [redacted])"
    )


@pytest.mark.no_ledger
def test_no_key_configured_names_the_variable(home: object) -> None:
    with pytest.raises(ProviderAuthError, match=r"^needs an admin key in OPENAI_ADMIN_KEY"):
        provider_client(load_settings(), "openai", bearer)


@pytest.mark.no_ledger
def test_redirects_are_not_followed(configured: Settings) -> None:
    script = Script(httpx2.Response(302, headers={"location": "https://elsewhere.test/"}))
    with pytest.raises(ProviderResponseError, match="HTTP 302"):
        get(configured, script)
    assert len(script.requests) == 1


# --- pagination -----------------------------------------------------------------------------------


def _page(n: int, cursor: str | None) -> httpx2.Response:
    return json_response(
        200, {"object": "page", "data": [{"n": n}], "has_more": cursor is not None, "next_page": cursor}
    )


@pytest.mark.no_ledger
def test_several_pages_follow_next_page(configured: Settings) -> None:
    script = Script(_page(1, "c1"), _page(2, "c2"), _page(3, None))
    got = pages(configured, script)
    assert [p["data"] for p in got] == [[{"n": 1}], [{"n": 2}], [{"n": 3}]]
    assert [r.url.params.get("page") for r in script.requests] == [None, "c1", "c2"]
    assert all(r.url.params["limit"] == "2" for r in script.requests)


@pytest.mark.no_ledger
def test_a_repeated_next_page_stops_with_an_error(configured: Settings) -> None:
    # The spec's own completions example says has_more with a fixed cursor: replayed, it loops.
    example = json_response(200, fixture("openai_completions_spec_example.json"))
    script = Script(example)
    with pytest.raises(
        ProviderResponseError, match=r"returned the next_page cursor 'page_AAAAAGdGxdEiJdKO.*twice"
    ):
        pages(configured, script)
    assert len(script.requests) == 2


@pytest.mark.no_ledger
def test_has_more_without_a_cursor_is_an_error(configured: Settings) -> None:
    with pytest.raises(ProviderResponseError, match="has_more but gave no next_page"):
        pages(configured, Script(_page(1, "")))


@pytest.mark.no_ledger
def test_a_runaway_page_count_stops(configured: Settings) -> None:
    counter = iter(range(1000))

    def endless(request: httpx2.Request) -> httpx2.Response:
        n = next(counter)
        return _page(n, f"c{n}")

    with pytest.raises(ProviderResponseError, match="still had more after 5 pages"):
        pages(configured, endless, max_pages=5)


def _follow(
    answers: dict[int, list[str]], after: Callable[[list[str], int], int | None], max_pages: int = 200
) -> tuple[list[list[str]], list[int]]:
    """follow_pages over ``answers`` (position -> page): the pages read and the positions asked."""
    asked: list[int] = []

    async def get(where: int) -> list[str]:
        asked.append(where)
        return answers.get(where, [])

    async def go() -> list[list[str]]:
        return [page async for page in follow_pages(get, after, 0, what="/list", max_pages=max_pages)]

    return anyio.run(go), asked


def test_follow_pages_by_offset_until_an_empty_page() -> None:
    answers = {0: ["a", "b"], 2: ["c", "d"], 4: ["e"], 5: []}
    got, asked = _follow(answers, lambda page, offset: offset + len(page) if page else None)
    assert got == [["a", "b"], ["c", "d"], ["e"], []]
    assert asked == [0, 2, 4, 5]


def test_follow_pages_by_page_number_stops_on_the_last() -> None:
    got, asked = _follow({0: ["a"], 1: ["b"], 2: ["c"]}, lambda _page, n: n + 1 if n < 2 else None)
    assert (got, asked) == ([["a"], ["b"], ["c"]], [0, 1, 2])


def test_follow_pages_refuses_a_position_it_has_read_and_a_runaway_listing() -> None:
    # An offset the API does not advance (an empty page that still says "more") would loop.
    with pytest.raises(ProviderResponseError, match=r"^/list returned the page 2 twice; stopped rather"):
        _follow({0: ["a", "b"], 2: []}, lambda page, offset: offset + len(page))
    with pytest.raises(ProviderResponseError, match=r"^/list still had more after 3 pages; stopped$"):
        _follow({}, lambda _page, n: n + 1, max_pages=3)


# --- what the newer sources need: POST bodies, statuses, other error shapes, Basic auth ----------


@pytest.mark.no_ledger
def test_post_sends_a_json_body_under_the_same_rules(configured: Settings) -> None:
    script = Script(
        json_response(429, {"error": "Too Many Requests"}, {"retry-after": "0"}), json_response(200, OK)
    )

    async def go() -> dict[str, object]:
        async with client(configured, script) as c:
            return await c.post_json("/teams/filtered-usage-events", {"startDate": 1, "page": 2})

    assert anyio.run(go) == OK
    assert len(script.requests) == 2  # the 429 was retried
    request = script.requests[-1]
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {"startDate": 1, "page": 2}
    assert request.url.params == httpx2.QueryParams()


@pytest.mark.parametrize(
    ("status", "error"), [(401, ProviderAuthError), (403, ProviderAuthError), (404, ProviderResponseError)]
)
@pytest.mark.no_ledger
def test_errors_carry_the_http_status(configured: Settings, status: int, error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        get(configured, Script(json_response(status, {})))
    assert getattr(caught.value, "status", None) == status


@pytest.mark.no_ledger
def test_gave_up_errors_carry_the_last_status(configured: Settings) -> None:
    with pytest.raises(ProviderResponseError) as caught:
        get(configured, Script(json_response(502, {})))
    assert caught.value.status == 502


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        # Cursor: a string error with a message beside it
        ({"error": "Not Found", "message": "Resource not found"}, ": Resource not found"),
        # Prometheus (Groq's metrics API): the error is a string
        ({"status": "error", "errorType": "bad_data", "error": "parse error"}, ": parse error"),
        # OpenRouter: error.message with an integer code
        ({"error": {"code": 400, "message": "Bad date"}, "user_id": None}, ": Bad date"),
        ({"error": None}, ""),
        ([1], ""),
    ],
)
@pytest.mark.no_ledger
def test_error_text_from_each_providers_shape(configured: Settings, body: object, detail: str) -> None:
    with pytest.raises(ProviderResponseError) as caught:
        get(configured, Script(json_response(400, body)))
    assert str(caught.value) == f"/v1/organization/costs: HTTP 400{detail}"


@pytest.mark.no_ledger
def test_a_basic_credential_is_scrubbed_in_every_form(home: object, monkeypatch: pytest.MonkeyPatch) -> None:
    key = "crsr_0123456789abcdef0123"  # Cursor-style: the header carries base64("key:")
    monkeypatch.setenv("CURSOR_ADMIN_API_KEY", key)
    encoded = base64.b64encode(f"{key}:".encode()).decode()

    def basic(secret: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"{secret}:".encode()).decode()}

    echo = {
        "error": "Unauthorized",
        "message": f"header was Basic {encoded}; key {key}; other gsk_abcdef123456",
    }
    script = Script(json_response(400, echo))

    async def go() -> None:
        async with provider_client(
            load_settings(), "cursor", basic, transport=httpx2.MockTransport(script)
        ) as c:
            await c.post_json("/teams/spend", {})

    with pytest.raises(ProviderResponseError) as caught:
        anyio.run(go)
    message = str(caught.value)
    assert encoded not in message and key not in message and "gsk_" not in message
    assert message == "/teams/spend: HTTP 400: header was [redacted]; key [redacted]; other [redacted]"
    assert script.requests[0].headers["authorization"] == f"Basic {encoded}"


def test_non_secret_auth_headers_are_not_scrubbed(home: object, monkeypatch: pytest.MonkeyPatch) -> None:
    # Anthropic sends its API version beside the key; a date in an error must survive.
    from cost_mcp.sources import anthropic

    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", "sk-ant-admin01-x-0123456789")
    c = provider_client(load_settings(), "anthropic", anthropic.auth_headers)
    assert c.scrub("version 2023-06-01 is fine") == "version 2023-06-01 is fine"
    anyio.run(c.__aexit__, None, None, None)


@pytest.mark.parametrize(
    ("disguise", "shown"),
    [
        (lambda k: k.replace("-", "%2D"), "<[redacted]>"),
        (lambda k: "".join(f"%{ord(c):02X}" for c in k), "<[redacted]>"),
        (lambda k: f"{k[:10]}\u200b{k[10:]}", "<[redacted]>"),
        (lambda k: f"{k[:20]}\u202e{k[20:]}", "<[redacted]>"),
        (" ".join, "<[redacted]>"),
        (lambda k: f"{k[:12]}\n{k[12:]}", "<[redacted]>"),
        (lambda k: f"{k[:12]}> and <{k[12:]}", "<[redacted]> and <[redacted]>"),
        (lambda k: "".join(f"\\u{ord(c):04x}" for c in k), "<[redacted]>"),
        (lambda k: "".join(f"\\x{ord(c):02x}" for c in k), "<[redacted]>"),
        (lambda k: k.replace("-", "\\-"), "<[redacted]>"),
        (lambda k: k[::-1], "<[redacted]>"),
        (lambda k: f"&#{ord(k[0])};{k[1:]}", "<[redacted]>"),
        (lambda k: "".join(f"&#{ord(c)};" for c in k), "<[redacted]>"),
        (lambda k: "".join(f"&#x{ord(c):X};" for c in k), "<[redacted]>"),
        (lambda k: "".join(f"&#X{ord(c):04x}" for c in k), "<[redacted]>"),
    ],
    ids=[
        "dashes-encoded",
        "all-encoded",
        "zero-width",
        "rtl-override",
        "spaced",
        "two-lines",
        "split",
        "json-unicode-escapes",
        "hex-escapes",
        "backslash-escaped",
        "reversed",
        "html-entity-first",
        "html-decimal-entities",
        "html-hex-entities",
        "html-hex-entities-no-semicolon",
    ],
)
@pytest.mark.no_ledger
def test_a_key_echoed_in_disguise_is_scrubbed_from_errors(
    configured: Settings, disguise: Callable[[str], str], shown: str
) -> None:
    """A proxy or API that echoed the key percent-encoded character by character, with an invisible
    character inside, spaced out or split in two left all or most of it readable in the sync's error
    (and in the ledger's sync state, and every answer's warnings)."""
    echo = {"error": {"message": f"bad credential <{disguise(OPENAI_KEY)}>"}}
    with pytest.raises(ProviderResponseError) as caught:
        get(configured, Script(json_response(400, echo)))
    assert str(caught.value) == f"/v1/organization/costs: HTTP 400: bad credential {shown}"


@pytest.mark.no_ledger
def test_scrub_keys_catches_a_disguised_key_as_the_client_does(configured: Settings) -> None:
    spaced = " ".join(OPENAI_KEY)
    assert (
        scrub_keys(configured, f"proxy said: {spaced}; {OPENAI_KEY[8:]}")
        == "proxy said: [redacted]; [redacted]"
    )


@pytest.mark.parametrize("shift", [0, 1, 2])
@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode], ids=["base64", "urlsafe"])
@pytest.mark.no_ledger
def test_a_key_inside_base64_data_is_scrubbed_wherever_it_starts(
    configured: Settings, shift: int, encode: Callable[[bytes], bytes]
) -> None:
    """Base64 of ``user:key`` or of a JSON document holding the key spells the key with other
    letters depending on where in a 3-byte group it starts: only the aligned copy was caught, so a
    Basic credential with a user name, echoed back, gave the key to anyone who decoded it."""
    before = b"user:"[: 3 + shift]  # 3, 4 or 5 bytes before the key: each alignment
    echoed = encode(before + OPENAI_KEY.encode() + b'"}').decode()
    with pytest.raises(ProviderResponseError) as caught:
        get(configured, Script(json_response(400, {"error": {"message": f"bad credential {echoed}"}})))
    shown = str(caught.value)
    assert "[redacted]" in shown
    # What spells the key alone (its bytes at this alignment, whole groups only) is gone, to the
    # last dozen characters.
    alone = encode(b"\0" * ((3 + shift) % 3) + OPENAI_KEY.encode()).decode()[4:-4]
    assert not [alone[i : i + 12] for i in range(len(alone) - 11) if alone[i : i + 12] in shown]
