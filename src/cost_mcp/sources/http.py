"""Talking to provider APIs: one client factory, one retry policy, one pagination helper.

Every fetcher goes through here, so these rules hold for all of them:

- A key travels only in a request header. It is never put in a URL, a log line, an exception
  message or the ledger: every string of a provider's answer (error text and data fields alike) is
  scrubbed of it in every form it travels in (raw, ``Bearer``, HTTP Basic base64, URL-encoded)
  before anyone sees it, and :func:`scrub_keys` does the same for whatever the sync layer stores.
  Error text is also scrubbed of a key spaced out, with invisible characters inside, percent-encoded
  character by character, or split so that part of it shows (:func:`_thorough_pattern`).
- 429 and 5xx answers and transport errors are retried with exponential backoff (stamina). A
  429's or 503's ``Retry-After`` is honoured up to :data:`MAX_RETRY_AFTER_SECONDS` and never waited
  for past the caller's deadline; one asking for longer fails at once (an earlier retry cannot
  pass). 401/403 are never retried: the same key cannot start working.
- Requests are GETs with query parameters, or POSTs with a JSON body (Cursor, Azure), under the same
  rules. A provider that trades its credential for a bearer token (Azure's OAuth client credentials)
  does so through its own client on the first request (:meth:`ProviderClient.post_form`); the token
  is then scrubbed like a key.
- A 429 may say when to come back in Azure's ``x-ms-ratelimit-…-retry-after`` headers as well as in
  ``Retry-After``: the longest of them is honoured.
- Pagination is one loop, :func:`follow_pages`, whatever the scheme (``next_page``/``has_more``
  cursors, offsets, page numbers, ``nextLink``s): it stops with an error on a position it has
  already seen or after :data:`MAX_PAGES` pages, so a misbehaving API cannot loop us forever.
- JSON numbers are decoded as :class:`~decimal.Decimal`, never float, so amounts stay exact.
- A provider that signs each request (AWS Signature Version 4) gives the client a signer
  (``Provider.sign``): every attempt is signed afresh, and the ``Authorization`` value it returns
  (which holds the signature) is scrubbed like the key. AWS's JSON-protocol errors come as HTTP 400
  with a ``__type``: the credential ones are auth errors, the throttling ones are retried.
- Redirects are not followed: httpx2 drops ``Authorization`` on a cross-origin redirect but would
  send ``x-api-key`` on to wherever the redirect points.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import math
import random
import re
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any
from urllib.parse import quote, quote_plus

import httpx2
import stamina

from cost_mcp import __version__
from cost_mcp.config import Settings, provider_spec
from cost_mcp.errors import ProviderAuthError, ProviderResponseError, SettingsError
from cost_mcp.output import counted
from cost_mcp.sources.paging import MAX_PAGES, Json, follow_pages
from cost_mcp.sources.provider import AuthHeaders, RequestSigner, TokenExchange

__all__ = ["MAX_PAGES", "AuthHeaders", "Json", "ProviderClient", "follow_pages", "provider_client"]

logger = logging.getLogger(__name__)

USER_AGENT = f"cost-mcp/{__version__} (+https://pypi.org/project/cost-mcp/)"
TIMEOUT = httpx2.Timeout(30.0, connect=10.0)
ATTEMPTS = 5
WAIT_INITIAL_SECONDS = 0.5
WAIT_MAX_SECONDS = 8.0
WAIT_JITTER_SECONDS = 0.5
MAX_RETRY_AFTER_SECONDS = 60.0
DEFAULT_DEADLINE_SECONDS = 120.0
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
"""The most of one answer read (after gzip): far above any real page (a month of OpenAI costs by
line item is well under 1 MB), low enough that a gateway gone wrong, a base URL pointed at a file
server, or a gzip bomb cannot fill memory (a 3 GB answer used to be read whole, on each source at once)."""
_DETAIL_CHARS = 200

Params = Sequence[tuple[str, str | int]]

# Anything shaped like a provider key (sk-admin-…, sk-ant-admin01-…, sk-proj-…, sk-or-v1-…, Groq's
# gsk_…, Cursor's key_… and crsr_…), in case an error body echoes a key other than the one we sent.
_KEY_LIKE = re.compile(r"\b(?:sk-|gsk_|crsr_|key_)[A-Za-z0-9_\-*.]{6,}")


class RetryableStatus(ProviderResponseError):
    """A 429 or 5xx answer: worth asking again, after ``retry_after`` seconds when the API said so."""

    def __init__(self, message: str, status: int, retry_after: float | None) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date; None if absent
    or unreadable. Fractions are accepted although the RFC only has whole seconds."""
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


def retry_wait(exc: BaseException, attempt: int, remaining: float) -> bool | float:
    """The retry policy: how long to wait before asking again after ``exc`` on attempt ``attempt``
    (1-based), or False to give up. ``remaining`` is the time left before the caller's deadline.

    Retried: 429 and 5xx answers, transport errors (connection refused, timeouts...). A 429's or
    503's Retry-After is honoured up to :data:`MAX_RETRY_AFTER_SECONDS`; otherwise the wait doubles from
    :data:`WAIT_INITIAL_SECONDS` with a little jitter. A wait that would end past the deadline is
    not started, nor one shorter than the Retry-After asked for (past the cap): the error is
    reported now instead of after a sleep that cannot help (`sync` waited 60 s on a 429 asking
    for an hour, then failed all the same).
    """
    if isinstance(exc, RetryableStatus):
        if exc.retry_after is not None:
            if exc.retry_after > MAX_RETRY_AFTER_SECONDS:
                return False
            wait = exc.retry_after
        else:
            wait = _backoff(attempt)
    elif isinstance(exc, httpx2.TransportError):
        wait = _backoff(attempt)
    else:
        return False
    if wait >= remaining:
        return False
    return wait


def _backoff(attempt: int) -> float:
    jitter = random.uniform(0, WAIT_JITTER_SECONDS)  # spreads retries out; nothing secret about it
    return min(WAIT_MAX_SECONDS, WAIT_INITIAL_SECONDS * float(2 ** max(attempt - 1, 0))) + jitter


class ProviderClient:
    """An HTTP client for one provider's API: its key in the headers, a deadline for everything.

    Use it as an async context manager; it closes its connections on exit.
    """

    def __init__(
        self,
        provider: str,
        client: httpx2.AsyncClient,
        *,
        key_env: str,
        key_hint: str,
        secret: str,
        deadline: float,
        secret_forms: Sequence[str] = (),
        token: TokenExchange | None = None,
        token_auth: AuthHeaders | None = None,
        values: Mapping[str, str] | None = None,
        sign: RequestSigner | None = None,
    ) -> None:
        self.provider = provider
        self._sign = sign
        self.key_env = key_env
        self.key_noun = provider_spec(provider).key_noun
        self._token = token
        self._token_auth = token_auth
        self._values = dict(values or {})
        self.key_hint = key_hint
        self.deadline = deadline
        self._client = client
        # The key and every form it is sent in (a Basic credential is base64 of "key:"), longest
        # first so that no part of a longer form is left behind by a shorter replacement.
        self._secrets = sorted({f for f in (secret, *secret_forms) if f}, key=len, reverse=True)
        self._pattern = _secrets_pattern(self._secrets)

    def __repr__(self) -> str:
        return f"<ProviderClient {self.provider} {self._client.base_url}>"

    async def __aenter__(self) -> ProviderClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._client.aclose()

    @property
    def base_url(self) -> str:
        """The API origin requests go to."""
        return str(self._client.base_url).rstrip("/")

    def remaining(self) -> float:
        """Seconds left before the deadline."""
        return self.deadline - time.monotonic()

    def scrub(self, text: str) -> str:
        """``text`` with the key, the header values built from it, and anything shaped like a key,
        replaced."""
        return _KEY_LIKE.sub("[redacted]", _redact(_thorough_pattern(tuple(self._secrets)), text))

    def setting(self, name: str) -> str:
        """One of the provider's configured variables (an id, a scope), or ProviderAuthError."""
        value = self._values.get(name)
        if not value:
            raise ProviderAuthError(f"needs {name} set{self.key_hint}")
        return value

    def value(self, name: str) -> str | None:
        """One of the provider's configured variables, or None when unset (an optional setting)."""
        return self._values.get(name) or None

    def use_signer(self, sign: RequestSigner) -> None:
        """Sign this client's requests with ``sign`` from now on: a signer holding what one sync
        resolved once (AWS profile credentials), in place of the registry's."""
        self._sign = sign

    def add_secret(self, secret: str) -> None:
        """Scrub ``secret`` (a token obtained at run time) from everything, like the key."""
        if secret and secret not in self._secrets:
            self._secrets = sorted({*self._secrets, secret}, key=len, reverse=True)
            self._pattern = _secrets_pattern(self._secrets)

    async def _authenticate(self) -> None:
        """Trade the credential for a bearer token once, before the first API request."""
        exchange, self._token = self._token, None
        if exchange is None or self._token_auth is None:
            return
        token = await exchange(self, self._values)
        self.add_secret(token)
        headers = dict(self._token_auth(token))
        for value in headers.values():
            self.add_secret(value)
        self._client.headers.update(headers)

    async def post_form(self, url: str, form: Mapping[str, str], *, secret: Sequence[str] = ()) -> Json:
        """POST a form body to ``url`` (absolute: a token endpoint lives on another origin) and decode
        the JSON object answered, under the usual retry policy. For token exchanges, before any API
        header is set; the values of the ``secret`` fields are scrubbed from everything after."""
        for name in secret:
            self.add_secret(form.get(name, ""))
        return await self._request("POST", url, form=form, authenticate=False)

    async def get_json(self, path: str, params: Params = ()) -> Json:
        """GET ``path`` and decode its JSON object, retrying under the policy of :func:`retry_wait`.

        Raises ProviderAuthError on 401/403, ProviderResponseError on any other unusable answer
        (including retries given up on), with a secret-free message naming the path; both carry
        the HTTP status when there was one.
        """
        return await self._request("GET", path, params=params)

    async def post_json(
        self,
        path: str,
        body: Mapping[str, object],
        params: Params = (),
        *,
        headers: Mapping[str, str] | None = None,
    ) -> Json:
        """POST ``body`` as JSON to ``path`` and decode the JSON object answered, under the same
        retry policy and errors as :meth:`get_json`. Only for APIs that read by POST (Cursor's
        admin API, Azure's cost query, AWS Cost Explorer): the body is a query, so asking again is
        as safe as a GET. ``path`` may be an absolute URL on the API's own origin (a ``nextLink``),
        never elsewhere. ``headers`` are the request's own (AWS's ``X-Amz-Target`` and its JSON
        content type), sent and signed with it."""
        return await self._request("POST", path, params=params, body=body, headers=headers)

    def same_origin(self, url: str) -> str:
        """``url`` if it is on the API's origin; ProviderResponseError otherwise (a paging link that
        points elsewhere would carry our token there)."""
        target, base = httpx2.URL(url), httpx2.URL(self.base_url)
        if (target.scheme, target.host, target.port) != (base.scheme, base.host, base.port):
            raise ProviderResponseError(
                f"a paging link points to {target.scheme}://{target.host}, not to {self.base_url}; "
                "stopped rather than send the token there"
            )
        return url

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Params = (),
        body: Mapping[str, object] | None = None,
        form: Mapping[str, str] | None = None,
        authenticate: bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> Json:
        if authenticate:
            await self._authenticate()
        attempts = 0

        def should_retry(exc: BaseException) -> bool | float:
            return retry_wait(exc, attempts, self.remaining())

        try:
            async for attempt in stamina.retry_context(
                on=should_retry, attempts=ATTEMPTS, timeout=None, wait_jitter=0
            ):
                with attempt:
                    attempts += 1
                    if self._sign is not None and form is None:
                        response = await self._signed(method, path, params, body, headers)
                    elif form is not None:
                        request = self._client.build_request(method, path, data=dict(form))
                        response = await self._send(path, request)
                    elif body is None:
                        request = self._client.build_request(method, path, params=list(params))
                        response = await self._send(path, request)
                    else:
                        # No params at all (not an empty list) keeps a paging link's own query.
                        request = self._client.build_request(
                            method, path, params=list(params) or None, json=dict(body), headers=headers
                        )
                        response = await self._send(path, request)
                    return self._decode(path, response)
        except RetryableStatus as exc:
            # The body's own words may say "try again in 1s" while Retry-After asks for an hour:
            # the header is what the provider enforces, so the user hears it.
            asked = (
                f" (it asked to wait {exc.retry_after:g} s: sync again after that)" if exc.retry_after else ""
            )
            raise ProviderResponseError(
                f"{exc}; gave up after {counted(attempts, 'attempt')}{asked}", status=exc.status
            ) from None
        except httpx2.TransportError as exc:
            detail = self.scrub(str(exc))[:_DETAIL_CHARS] or "no detail"
            raise ProviderResponseError(
                f"cannot reach {self.base_url} ({type(exc).__name__}: {detail}); "
                f"gave up after {counted(attempts, 'attempt')}"
            ) from None
        raise AssertionError("unreachable: stamina either returns or raises")  # pragma: no cover

    async def _signed(
        self,
        method: str,
        path: str,
        params: Params,
        body: Mapping[str, object] | None,
        headers: Mapping[str, str] | None,
    ) -> httpx2.Response:
        """Build the request, have the provider's signer sign exactly what will be sent, send it.
        The signature headers are new on every attempt (they carry the time), so each is scrubbed."""
        assert self._sign is not None
        request = self._client.build_request(
            method,
            path,
            params=list(params) or None,
            json=dict(body) if body is not None else None,
            headers=headers,
        )
        signed = self._sign(request, self._values)
        for name, value in signed.items():
            if name.lower() == "authorization":
                self.add_secret(value)
                # The bare signature too: an error that quotes it alone must not pass it on.
                self.add_secret(value.rpartition("Signature=")[2] if "Signature=" in value else "")
        request.headers.update(signed)
        return await self._send(path, request)

    async def _send(self, path: str, request: httpx2.Request) -> httpx2.Response:
        """Send ``request`` and read its answer, at most :data:`MAX_RESPONSE_BYTES` of it (counted
        after gzip, so a small bomb counts as what it unpacks to): ProviderResponseError beyond."""
        response = await self._client.send(request, stream=True)
        content = bytearray()
        try:
            async for chunk in response.aiter_bytes():
                content += chunk
                if len(content) > MAX_RESPONSE_BYTES:
                    raise ProviderResponseError(
                        f"{path} answered more than {MAX_RESPONSE_BYTES // 2**20} MB (HTTP "
                        f"{response.status_code}), far more than a page of billing data: stopped reading "
                        f"it. Check that {self.base_url} is the provider's API",
                        status=response.status_code,
                    )
        finally:
            await response.aclose()
        # As read whole: the body is unpacked already, so its packing headers no longer apply.
        unpacked = ("content-encoding", "content-length", "transfer-encoding")
        kept = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in unpacked]
        return httpx2.Response(response.status_code, headers=kept, content=bytes(content), request=request)

    async def paginate(
        self, path: str, params: Params = (), *, max_pages: int = MAX_PAGES
    ) -> AsyncIterator[Json]:
        """Every page of a ``page`` / ``next_page`` / ``has_more`` listing (OpenAI, Anthropic), in
        order, through :func:`follow_pages`.

        Raises ProviderResponseError when has_more comes without a cursor, when a cursor repeats
        (the API would send the same pages forever) or after ``max_pages`` pages.
        """

        async def get(cursor: str | None) -> Json:
            return await self.get_json(path, [*params, ("page", cursor)] if cursor is not None else params)

        def after(page: Json, _cursor: str | None) -> str | None:
            if page.get("has_more") is not True:
                return None
            cursor = page.get("next_page")
            if not isinstance(cursor, str) or not cursor:
                raise ProviderResponseError(f"{path} said has_more but gave no next_page cursor")
            return cursor

        async for page in follow_pages(
            get,
            after,
            None,
            what=path,
            position="next_page cursor",
            max_pages=max_pages,
            hint="sync fewer days at a time",
        ):
            yield page

    def _decode(self, path: str, response: httpx2.Response) -> Json:
        status = response.status_code
        reason = _rate_limit_reason(response) if status == 403 else None
        if reason is not None:
            # Google (BigQuery) answers its short- and longer-term limits with 403, not 429: asking
            # again after a backoff is what Google says to do; the key itself is fine.
            raise RetryableStatus(
                f"{path}: rate limited (HTTP 403 {reason}){self._detail(response)}",
                status,
                _retry_after(response),
            )
        aws = _aws_error_type(response) if status in (400, 403) else None
        if aws in AWS_THROTTLING_ERRORS:
            # AWS's JSON protocol answers its request limits with 400 and a __type, not 429.
            raise RetryableStatus(
                f"{path}: rate limited (HTTP {status} {aws}){self._detail(response)}", status, None
            )
        if status in (401, 403) or aws in AWS_CREDENTIAL_ERRORS:
            if aws:
                raise ProviderAuthError(
                    f"needs {self.key_noun} in {self.key_env}: {path} answered HTTP {status} {aws}"
                    f"{self._detail(response)}, so the credentials cannot read billing data{self.key_hint}",
                    status=status,
                )
            # A 403's reason can name what the key lacks (OpenAI: "Missing scopes: api.usage.read"),
            # which the advice alone cannot; a 401's only says the key is wrong, often quoting it.
            detail = self._detail(response).removeprefix(": ") if status == 403 else ""
            detail = f" ({detail})" if detail else ""
            raise ProviderAuthError(
                f"needs {self.key_noun} in {self.key_env}: {path} answered HTTP {status}{detail}, so the "
                f"key cannot read billing data{self.key_hint}",
                status=status,
            )
        if status == 429 or status >= 500:
            # RFC 9110: Retry-After may come with a 503 (and a 429); honour it on either.
            retry_after = _retry_after(response) if status in (429, 503) else None
            what = "rate limited (HTTP 429)" if status == 429 else f"HTTP {status}"
            raise RetryableStatus(f"{path}: {what}{self._detail(response)}", status, retry_after)
        if not 200 <= status < 300:
            raise ProviderResponseError(f"{path}: HTTP {status}{self._detail(response)}", status=status)
        try:
            body = json.loads(response.text, parse_float=Decimal)
        except ValueError as exc:
            raise ProviderResponseError(
                f"{path} returned malformed JSON ({type(exc).__name__} at character "
                f"{getattr(exc, 'pos', '?')})"
            ) from None
        except RecursionError:
            # Thousands of nested brackets: no billing answer is shaped so; an internal error and a
            # traceback said nothing of whose answer it was.
            raise ProviderResponseError(f"{path} returned malformed JSON (nested too deeply)") from None
        if not isinstance(body, dict):
            raise ProviderResponseError(f"{path} returned JSON that is not an object")
        # An API that echoes the key into a field (a currency, an amount, a label) must not get it
        # into buckets, errors or notes: every string of the answer is scrubbed before use.
        scrubbed: Json = self._scrub_json(body)
        return scrubbed

    def _scrub_json(self, value: Any) -> Any:
        # Only the key's own forms: data legitimately holds key-shaped ids (OpenAI's api_key_id
        # "key_…"), which the pattern that error text is scrubbed with would wrongly erase.
        if isinstance(value, str):
            return _redact(self._pattern, value)
        if isinstance(value, dict):
            return {self._scrub_json(k): self._scrub_json(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._scrub_json(v) for v in value]
        return value

    def _detail(self, response: httpx2.Response) -> str:
        """The provider's own error message, scrubbed: ``error.message`` (OpenAI, Anthropic,
        OpenRouter), else a top-level ``message`` beside a string ``error`` (Cursor), else the
        string ``error`` itself (Prometheus, as Groq's metrics API answers)."""
        try:
            body = json.loads(response.text)
        except (ValueError, RecursionError):
            return ""
        if not isinstance(body, dict):
            return ""
        error = body.get("error")
        if isinstance(error, dict):
            message = error.get("message")
        else:
            # AWS's JSON protocol spells it "message" or "Message" (service by service).
            message = body.get("message", body.get("Message"))
            if not isinstance(message, str) or not message.strip():
                message = error
        if not isinstance(message, str) or not message.strip():
            return ""
        return f": {self.scrub(message.strip())[:_DETAIL_CHARS]}"


AWS_CREDENTIAL_ERRORS = frozenset(
    {
        "AccessDeniedException",
        "ExpiredTokenException",
        "IncompleteSignature",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "MissingAuthenticationTokenException",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
    }
)
"""AWS JSON-protocol error types (``__type``) that mean the credentials or their permissions: asking
again cannot help (AWS's "Common Errors" of the API reference; Cost Explorer answers them with 400/403)."""
AWS_THROTTLING_ERRORS = frozenset(
    {"ThrottlingException", "LimitExceededException", "TooManyRequestsException", "RequestLimitExceeded"}
)
"""AWS error types that are a request limit (Cost Explorer's ``LimitExceededException``: "You made
too many calls in a short period of time. Try again later."): retried with backoff."""


def _aws_error_type(response: httpx2.Response) -> str | None:
    """The error type of an AWS JSON-protocol error body (``{"__type": "prefix#Name", ...}``, or the
    ``x-amzn-ErrorType`` header), without its namespace prefix; None for any other body."""
    kind = response.headers.get("x-amzn-errortype", "")
    if not kind:
        try:
            body = json.loads(response.text)
        except (ValueError, RecursionError):
            return None
        value = body.get("__type") if isinstance(body, dict) else None
        kind = value if isinstance(value, str) else ""
    name = kind.split(":")[0].rpartition("#")[2].strip()
    return name or None


RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"})
"""Google's ``errors[].reason`` values for a 403 that is a limit, not a refusal (BigQuery's
"Troubleshoot quota and limit errors": rateLimitExceeded is short-term, retry with exponential
backoff; quotaExceeded is longer-term)."""


def _rate_limit_reason(response: httpx2.Response) -> str | None:
    """The reason of a Google-style error body (``{"error": {"errors": [{"reason": …}]}}``, or the
    same object at the top level) when it is one of :data:`RATE_LIMIT_REASONS`; else None."""
    try:
        body = json.loads(response.text)
    except (ValueError, RecursionError):
        return None
    error = body.get("error") if isinstance(body, dict) else None
    holder = error if isinstance(error, dict) else body
    errors = holder.get("errors") if isinstance(holder, dict) else None
    for item in errors if isinstance(errors, list) else ():
        reason = item.get("reason") if isinstance(item, dict) else None
        if reason in RATE_LIMIT_REASONS:
            return str(reason)
    return None


def _retry_after(response: httpx2.Response) -> float | None:
    """The longest wait any of the answer's retry headers asks for: ``Retry-After``, and Azure Cost
    Management's ``x-ms-ratelimit-microsoft.costmanagement-{qpu,entity,tenant,client}-retry-after``."""
    waits = [
        parse_retry_after(value)
        for name, value in response.headers.items()
        if name.lower() == "retry-after"
        or (name.lower().startswith("x-ms-ratelimit-") and name.lower().endswith("-retry-after"))
    ]
    known = [w for w in waits if w is not None]
    return max(known) if known else None


def secret_forms(secret: str, header_values: Iterable[str] = ()) -> list[str]:
    """Every form a key travels or may be echoed in: raw, ``Bearer key``, HTTP Basic (base64 of
    ``key:``, which does not contain the key yet is as good as it), base64 of the bare key (plain
    and URL-safe, padding left off so an unpadded copy matches too), URL-encoded and hex (each
    matched in any case: see :func:`_secrets_pattern`), base64 of the key inside longer data (see
    :func:`_base64_inside`) and the key reversed. None for an
    empty key (a provider configured by its alternative, AWS's named profile): its forms would be
    ``Bearer `` and the base64 of ``:``, scrubbed from every error for nothing."""
    if not secret:
        return []
    basic = base64.b64encode(f"{secret}:".encode()).decode("ascii")
    bare = [
        encode(secret.encode()).decode("ascii").rstrip("=")
        for encode in (base64.b64encode, base64.urlsafe_b64encode)
    ]
    forms = [
        secret,
        f"Bearer {secret}",
        f"Basic {basic}",
        basic,
        *bare,
        *_base64_inside(secret.encode()),
        quote(secret, safe=""),
        quote_plus(secret),
        secret.encode().hex(),
        secret[::-1],
    ]
    for value in header_values:
        scheme, _, credential = value.partition(" ")
        if secret in value or scheme.lower() == "basic":
            forms += [value, credential]
    return [f for f in forms if f]


BASE64_INSIDE_CHARS = 16
"""The shortest base64 run of a key's bytes redacted when found inside longer base64: shorter ones
(a key of under a dozen bytes) could match unrelated data."""


def _base64_inside(secret: bytes) -> list[str]:
    """The base64 characters that spell ``secret`` whatever bytes come before and after it, at each
    of the three places it can start in a 3-byte group, plain and URL-safe.

    Base64 of ``user:key`` (a Basic credential with a user name), or of a JSON document holding the
    key, holds none of the key's own base64 forms when the key does not start on a 3-byte boundary:
    such an echo showed the key to anyone who decoded it. The groups that mix in a neighbour's bytes
    are left out; what remains is the key's alone."""
    forms = []
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + secret).decode("ascii")
        # Whole groups only: the first one holds the filler bytes when shifted, the last one (when
        # the key does not end a group) the bytes that follow it.
        inner = encoded[4 if shift else 0 : (shift + len(secret)) // 3 * 4]
        if len(inner) >= BASE64_INSIDE_CHARS:
            forms += [inner, inner.replace("+", "-").replace("/", "_")]
    return forms


def _secrets_pattern(secrets: Sequence[str]) -> re.Pattern[str] | None:
    """One pattern for ``secrets`` (longest first, so no part of a longer form is left behind by a
    shorter one), matched whatever the case: an API or proxy may echo a key upper-cased, and a
    hex dump in either case."""
    if not secrets:
        return None
    return re.compile("|".join(re.escape(s) for s in secrets), re.IGNORECASE)


_FILLER = "[\\s\\u00ad\\u180e\\u200b-\\u200f\\u202a-\\u202e\\u2060-\\u2064\\ufeff]*"
"""What may sit between a key's characters in an echo that still gives the key away: spaces, line
breaks, and invisible characters (zero-width spaces and joiners, direction marks, a soft hyphen)."""

FRAGMENT_CHARS = 16
"""The shortest run of a key's characters redacted on its own (a key split across two fields or
lines, or cut short by another redaction): long enough to be nothing but the key's."""


def _escaped(c: str) -> str:
    """A pattern for one ASCII character as it may be echoed: itself, percent-encoded (``%2D`` for
    ``-``, which ``quote`` leaves alone and a stricter encoder does not, in either case), as a JSON
    or JavaScript escape (``\\u002d``, ``\\x2d``; ``\\/`` for ``/`` as PHP writes it), as an HTML
    numeric character reference (``&#45;``, ``&#x2D;``, the ``;`` optional as browsers read it)."""
    code = ord(c)
    forms = [
        re.escape(c),
        f"%{code:02x}",
        f"\\\\u{code:04x}",
        f"\\\\x{code:02x}",
        # One alternative for both references: each one the pattern tries costs every position.
        f"&\\#(?:0*{code}|x0*{code:x});?",
    ]
    if not c.isalnum():
        forms.append("\\\\" + re.escape(c))
    return "(?:" + "|".join(forms) + ")"


def _fuzzy(secret: str) -> str:
    """A pattern for ``secret`` however it is echoed: each character as itself or encoded (see
    :func:`_escaped`), with :data:`_FILLER` between them."""
    return _FILLER.join(_escaped(c) if c.isascii() else re.escape(c) for c in secret)


def _fragments(secret: str) -> list[str]:
    """A pattern for each run of :data:`FRAGMENT_CHARS` of ``secret``'s characters, taking as much
    of the rest of it as follows: what is left of a key split in two or cut by another match."""
    found = []
    for start in range(len(secret) - FRAGMENT_CHARS + 1):
        rest = ""
        for c in reversed(secret[start + FRAGMENT_CHARS :]):
            rest = f"(?:{re.escape(c)}{rest})?"
        found.append(re.escape(secret[start : start + FRAGMENT_CHARS]) + rest)
    return found


@functools.lru_cache(maxsize=32)
def _thorough_pattern(secrets: tuple[str, ...]) -> re.Pattern[str] | None:
    """:func:`_secrets_pattern`, and beyond it each form of up to 128 characters spaced out, with
    invisible characters inside or percent-encoded character by character (:func:`_fuzzy`), and
    each run of :data:`FRAGMENT_CHARS` of a form of up to 64 (:func:`_fragments`). For text shown
    or stored (errors), where a provider or proxy may have echoed a key in any of those ways and
    the exact forms left most of it readable. Built on the first error (~0.2 s) and kept: the
    provider's data is scrubbed with the exact forms only, which are a hundred times faster."""
    if not secrets:
        return None
    plain = [s for s in secrets if not re.search(r"\s", s) and len(s) <= 128]
    whole = [_fuzzy(s) for s in plain] + [re.escape(s) for s in secrets if s not in plain]
    parts = [f for s in plain if FRAGMENT_CHARS < len(s) <= 64 for f in _fragments(s)]
    return re.compile("|".join([*whole, *parts]), re.IGNORECASE)


def _redact(pattern: re.Pattern[str] | None, text: str) -> str:
    return pattern.sub("[redacted]", text) if pattern is not None else text


def scrub_secrets(forms: Iterable[str], text: str) -> str:
    """``text`` without any of ``forms`` (a secret's :func:`secret_forms`), however echoed: in any
    letter case, spaced out, split, escaped (see :func:`_thorough_pattern`). For a secret that is
    not a provider key (the team token, a password in the team server's URL)."""
    return _redact(_thorough_pattern(tuple(sorted(set(forms), key=len, reverse=True))), text)


@functools.lru_cache(maxsize=32)
def _exact_pattern(secrets: tuple[str, ...]) -> re.Pattern[str] | None:
    """:func:`_secrets_pattern`, kept (a log record is scrubbed with it: see :func:`scrub_keys`)."""
    return _secrets_pattern(secrets)


def scrub_keys(settings: Settings, text: str, limit: int | None = None, *, thorough: bool = True) -> str:
    """``text`` with every configured provider key, in every form it is sent in, and anything
    shaped like a key, replaced; then cut to ``limit`` characters. For whatever is stored or shown
    that came from a provider (errors, notes), as a last line behind :meth:`ProviderClient.scrub`.

    ``thorough=False``: the forms as sent, in any letter case, not also disguised (spaced out,
    escaped, split: :func:`_thorough_pattern`, whose first build takes a few tenths of a second)."""
    from cost_mcp.sources import registry  # the registry imports the fetchers, which import us

    secrets: set[str] = set()
    for spec in registry.providers():
        # Set is enough (a key is a secret even while the provider's other settings are missing);
        # every secret setting the provider has, not only its key.
        for name in (spec.key_env, *(x.env for x in spec.settings if x.secret)):
            value = settings.provider_value(name)
            if value is not None:
                secrets.update(secret_forms(value))
    ordered = tuple(sorted(secrets, key=len, reverse=True))
    text = _redact(_thorough_pattern(ordered) if thorough else _exact_pattern(ordered), text)
    # Our own advice names the shape of the right key ("sk-admin-…"), which reads as key-like:
    # it is kept, and everything else shaped like a key is still replaced.
    hints = [spec.key_hint for spec in registry.providers() if spec.key_hint]
    parts = re.split("(" + "|".join(map(re.escape, hints)) + ")", text) if hints else [text]
    text = "".join(part if part in hints else _KEY_LIKE.sub("[redacted]", part) for part in parts)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def provider_client(
    settings: Settings,
    provider: str,
    auth: AuthHeaders | None = None,
    *,
    key_hint: str = "",
    transport: httpx2.AsyncBaseTransport | None = None,
    deadline: float | None = None,
) -> ProviderClient:
    """The one client factory: ``provider``'s base URL (``COST_MCP_<PROVIDER>_BASE_URL``), our user
    agent, timeouts, the credential in the headers ``auth`` (default: the registry's) builds from
    it, and a monotonic ``deadline``. A provider with a token exchange in the registry gets its
    bearer token on the first request instead (the key then only travels in the token request).

    ``transport`` replaces the network (tests pass an ``httpx2.MockTransport``). Raises
    ProviderAuthError naming every variable still missing when the provider is not configured.
    """
    spec = provider_spec(provider)
    key = settings.provider_key(provider)
    hint = f" ({key_hint})" if key_hint else ""
    if key is None:
        raise ProviderAuthError(f"{spec.needs(settings.provider_missing(provider))}{hint}")
    problem = settings.provider_base_url_problem(provider)
    if problem is not None:
        raise SettingsError(problem)
    secret = key.get_secret_value()
    build = auth if auth is not None else spec.auth
    # A token exchange's headers come from the token, set on the first request (see _authenticate);
    # a signing provider's are made per request (see ProviderClient._signed).
    auth_headers = {} if spec.token is not None or spec.sign is not None else dict(build(secret))
    forms = secret_forms(secret, auth_headers.values())
    # Every other secret setting (an AWS session token) is scrubbed by the client as well.
    for setting in spec.settings:
        value = settings.provider_value(setting.env) if setting.secret else None
        if value is not None:
            forms += secret_forms(value)
    client = httpx2.AsyncClient(
        base_url=settings.provider_base_url(provider),
        headers={"User-Agent": USER_AGENT, "Accept": "application/json", **auth_headers},
        timeout=TIMEOUT,
        transport=transport,
        follow_redirects=False,
    )
    values = {name: v for name in spec.env_names if (v := settings.provider_value(name)) is not None}
    if spec.token is not None:
        values[spec.token_url_env] = settings.provider_token_url(provider)
    return ProviderClient(
        provider,
        client,
        key_env=spec.key_env,
        key_hint=hint,
        secret=secret,
        secret_forms=forms,
        deadline=deadline if deadline is not None else time.monotonic() + DEFAULT_DEADLINE_SECONDS,
        token=spec.token,
        token_auth=build if spec.token is not None else None,
        values=values,
        sign=spec.sign,
    )
