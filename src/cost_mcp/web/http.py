"""`cost-mcp serve --http`: MCP streamable HTTP, the OTLP/HTTP receiver and the dashboard in one app.

Routes: ``/mcp`` (the SDK's streamable HTTP app, stateless), ``/healthz``, ``POST /v1/logs``,
``/v1/metrics``, ``/v1/traces`` (OTLP/HTTP, protobuf or JSON, optionally gzip), ``POST /api/push``
(laptops' usage rows, :mod:`cost_mcp.push`) and the dashboard at ``/``. Once a token exists
(``cost-mcp token create``) or JWTs are configured, every one of them needs a bearer token
(:mod:`cost_mcp.web.auth`), or for the dashboard a browser's sign-in with one
(:mod:`cost_mcp.web.signin`); without, the server listens on loopback only, open as before.
"""

from __future__ import annotations

import contextlib
import gc
import ipaddress
import json
import logging
import math
import os
import re
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Literal

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cost_mcp import access, otel_config, push
from cost_mcp.access import Caller
from cost_mcp.analytics.alerts import ReceivedUsageAlerts
from cost_mcp.config import Settings
from cost_mcp.errors import DatabaseError, InvalidInputError, LedgerUpgradedError
from cost_mcp.files import network_file_system
from cost_mcp.pricing import Pricer
from cost_mcp.sources import otel
from cost_mcp.store import Ledger
from cost_mcp.store import team as team_store
from cost_mcp.store.connection import is_postgres
from cost_mcp.web.app import BodyRefused, SecurityHeaders, create_app, read_body
from cost_mcp.web.auth import (
    IDP_RETRY_SECONDS,
    IDP_UNANSWERED,
    TeamTokenVerifier,
    caller_of,
    identity_provider_unanswered,
    jwt_configured,
)
from cost_mcp.web.signin import DashboardSignIn

logger = logging.getLogger("cost_mcp.http")

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


def require_loopback(host: str) -> None:
    """Refuse a non-loopback address: without tokens anyone who can reach the port could read
    spend and write usage."""
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror as exc:
        raise InvalidInputError(f"cannot resolve --host {host!r}: {exc.strerror}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_loopback:
            raise InvalidInputError(
                f"--host {host} is not a loopback address: without bearer tokens the HTTP server only "
                "listens on 127.0.0.1, ::1 or localhost. Create one first (`cost-mcp token create NAME "
                "--member EMAIL --role admin`) or configure COST_MCP_JWT_ISSUER / _AUDIENCE / _JWKS_URL."
            )


OTLP_AT_ONCE = 2
"""OTLP requests decoded, priced and stored at once by one server process: each may parse up to
otel.MAX_RECORDS records, and forty of anyio's threads doing so at once took the server's memory;
two keep a core decoding while the other request is in the ledger (see :data:`PUSHES_AT_ONCE`)."""


def otlp_routes(ledger: Ledger, pricer: Pricer, alerts: ReceivedUsageAlerts | None = None) -> list[Route]:
    """The OTLP/HTTP receiver: ``POST /v1/logs``, ``/v1/metrics``, ``/v1/traces``; ``alerts`` is
    told of every request that stored usage events. At most :data:`OTLP_AT_ONCE` requests are
    decoded, priced and stored at a time, the others waiting as coroutines (as pushes do)."""
    at_once = anyio.CapacityLimiter(OTLP_AT_ONCE)

    def handler(signal: otel.Signal) -> Callable[[Request], Awaitable[Response]]:
        async def receive(request: Request) -> Response:
            ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
            encoding: Literal["protobuf", "json"]
            if ctype == PROTOBUF:
                encoding = "protobuf"
            elif ctype == JSON:
                encoding = "json"
            else:
                sent = f"not {ctype}" if ctype else "this request has no Content-Type"
                return PlainTextResponse(f"415: send OTLP as {PROTOBUF} or {JSON}; {sent}", status_code=415)
            try:
                body = await read_body(request, otel.MAX_BODY_BYTES)
            except BodyRefused as exc:
                return _status(exc.status, exc.why, encoding)
            try:
                gzipped = otel.compressed(content_encoding(request))
            except otel.UnsupportedCodingError as exc:
                return _status(415, str(exc), encoding, ACCEPTED_CODINGS)
            # Whose usage the events are: Caller.keeps_event_members says why it depends on the token.
            caller = current_caller_of(request)
            member = caller.member if caller is not None and not caller.keeps_event_members else None

            def work() -> otel.Outcome:
                message = otel.decode(signal, body, encoding=encoding, gzipped=gzipped)
                # Read and priced before taking the ledger: another request's write (SQLite,
                # without the GIL) goes on meanwhile, on the other core.
                # A server with senders it knows counts its own price, never a sender's figure.
                received = otel.read(pricer, signal, message, member=member, reported_costs=caller is None)
                with ledger.use() as conn:
                    return otel.write(conn, received)

            try:
                outcome = await anyio.to_thread.run_sync(work, limiter=at_once)
            except otel.TooLargeError as exc:
                return _status(413, str(exc), encoding)
            except otel.PayloadError as exc:
                return _status(400, str(exc), encoding)
            if outcome.error_message:
                logger.warning("OTLP %s: %s", signal, outcome.error_message)
            if outcome.added and alerts is not None:
                alerts.note()
            return Response(
                otel.response_body(signal, outcome, encoding=encoding),
                media_type=PROTOBUF if encoding == "protobuf" else JSON,
            )

        return receive

    async def misrouted(request: Request) -> Response:
        return PlainTextResponse(
            f"404: no OTLP receiver at {request.method} {request.url.path[:200]}: {MISROUTED_HINT}",
            status_code=404,
        )

    return [
        Route("/v1/logs", handler("logs"), methods=["POST"]),
        Route("/v1/metrics", handler("metrics"), methods=["POST"]),
        Route("/v1/traces", handler("traces"), methods=["POST"]),
        # An exporter pointed at the wrong path (a per-signal endpoint without /v1/logs, or the base
        # endpoint with it, which the SDK then appends again) hears what to set, not a bare 404/405.
        Route("/v1/{rest:path}", misrouted, methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]),
        Route("/", misrouted, methods=["POST"]),
    ]


MISROUTED_HINT = (
    "send OTLP/HTTP with POST to /v1/logs, /v1/metrics or /v1/traces. OTEL_EXPORTER_OTLP_ENDPOINT is "
    "this server's base URL (http://host:port, the exporter appends /v1/...); a per-signal "
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT (or ..._METRICS_ENDPOINT) is the whole URL, /v1/logs included"
)


def content_encoding(request: Request) -> str:
    """The request's Content-Encoding, every header of that name in order (two ``gzip`` headers are
    ``gzip, gzip``, a coding none of ours is, where reading the first alone inflated once)."""
    return ", ".join(request.headers.getlist("content-encoding"))


ACCEPTED_CODINGS = {"Accept-Encoding": ", ".join(("identity", *otel.CONTENT_CODINGS))}
"""Sent with a 415 for a request body's Content-Encoding: the codings that would have been taken
(RFC 9110, 15.5.16)."""


def _status(
    code: int, message: str, encoding: Literal["protobuf", "json"], headers: dict[str, str] | None = None
) -> Response:
    """OTLP's error body: a google.rpc.Status with the reason."""
    rpc_code = 3 if code in (400, 415) else 8  # INVALID_ARGUMENT / RESOURCE_EXHAUSTED
    if encoding == "json":
        return JSONResponse({"code": rpc_code, "message": message}, status_code=code, headers=headers)
    return Response(_status_proto(rpc_code, message), status_code=code, media_type=PROTOBUF, headers=headers)


def _status_proto(code: int, message: str) -> bytes:
    """google.rpc.Status {code = 1, message = 2} encoded by hand: its module is not a dependency."""
    text = message.encode()
    out = bytearray([0x08, code, 0x12])
    n = len(text)
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out + text)


MCP_MAX_BODY_BYTES = 4 * 1024 * 1024
"""Largest MCP request taken, as the SDK's own limit (its default): a tool call's arguments are a few
kilobytes."""


class BodyLimit:
    """Reads a POST's body before the app does (:func:`~cost_mcp.web.app.read_body`: 413 over
    ``limit`` bytes, 408 when slower than :data:`~cost_mcp.web.app.BODY_SECONDS`), then hands the
    app the body read. For the SDK's ``/mcp`` route, whose read had no time limit: a client sending
    a byte now and then held the request for as long as it liked. Behind the token check, so a
    caller without one is refused unread.

    A body sent gzip or deflate is inflated as the OTLP receiver's is (:func:`otel.compressed`,
    :func:`otel.inflate`), to at most ``limit`` bytes (413 beyond: a gzip bomb stops there), and
    handed on without its Content-Encoding; any other coding is 415 naming those taken. The SDK
    read a compressed body as JSON and answered a parse error that did not say why."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return

        async def refuse(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> None:
            # JSON-RPC's error object, as the SDK answers a body it cannot take.
            error = {"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}
            await JSONResponse(error, status_code=status, headers=headers)(scope, receive, send)

        request = Request(scope, receive)
        try:
            body = await read_body(request, self.limit)
            if otel.compressed(content_encoding(request)):
                # In a thread: a body of many tiny gzip members is many inflaters, not one.
                body = await anyio.to_thread.run_sync(otel.inflate, body, self.limit)
                gone = (b"content-encoding", b"content-length")
                kept = [(n, v) for n, v in scope["headers"] if n not in gone]
                scope = {**scope, "headers": [*kept, (b"content-length", str(len(body)).encode())]}
        except BodyRefused as exc:
            await refuse(exc.status, -32600, exc.why)  # "Invalid Request"
            return
        except otel.UnsupportedCodingError as exc:
            await refuse(415, -32600, str(exc), ACCEPTED_CODINGS)
            return
        except otel.TooLargeError as exc:
            await refuse(413, -32600, str(exc))
            return
        except otel.PayloadError as exc:
            await refuse(400, -32700, f"Parse error: {exc}")  # as the SDK says of a body not JSON
            return
        except ClientDisconnect:
            return
        handed = False

        async def replay() -> Message:
            nonlocal handed
            if not handed:
                handed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def create_http_app(
    ledger: Ledger,
    settings: Settings,
    pricer: Pricer,
    *,
    host: str = "127.0.0.1",
    port: int = 4318,
    require_auth: bool | None = None,
    push_limiter: push.RateLimiter | None = None,
) -> Starlette:
    """The whole HTTP server as one Starlette app (see the module docstring).

    ``require_auth`` (default: whether the ledger has a live token or JWTs are configured) puts a
    bearer token in front of ``/mcp``, ``/v1/*``, ``/api/push`` and the dashboard, and serves the
    OAuth protected-resource metadata MCP clients look for.
    """
    from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
    from mcp.server.auth.middleware.bearer_auth import BearerAuthBackend, RequireAuthMiddleware
    from mcp.server.auth.routes import build_resource_metadata_url, create_protected_resource_routes
    from pydantic import AnyHttpUrl
    from starlette.middleware.authentication import AuthenticationMiddleware

    from cost_mcp.server import HTTP_REFRESH_EVERY_SECONDS, mcp

    if require_auth is None:
        with ledger.use() as conn:
            require_auth = jwt_configured(settings) or team_store.has_live_tokens(conn)
    verifier = TeamTokenVerifier(ledger, settings) if require_auth else None
    mcp_app = mcp.streamable_http_app(streamable_http_path="/mcp", stateless_http=True, host=host)
    dashboard = create_app(
        ledger,
        settings,
        pricer,
        token=None,
        refresh_every=HTTP_REFRESH_EVERY_SECONDS,
        sign_out=require_auth,
    )
    public = (settings.public_url or f"http://{_url_host(host)}:{port}").rstrip("/")
    resource = AnyHttpUrl(f"{public}/mcp")
    metadata_url = build_resource_metadata_url(resource)

    refusals = RefusedTokenLog()

    def guarded(app: ASGIApp, *, admin: bool = False) -> ASGIApp:
        if not require_auth:
            return app
        if admin:
            app = AdminOnly(app, str(metadata_url))
        return TokenRefused(RequireAuthMiddleware(app, [], metadata_url), str(metadata_url), refusals)

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    # Usage received over OTLP or pushed fires budget alerts without waiting for a query.
    alerts = ReceivedUsageAlerts(ledger.use, settings)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # The MCP app's session manager (and the server's own lifespan) run inside it.
        try:
            async with mcp_app.router.lifespan_context(mcp_app):
                yield
        finally:
            await anyio.to_thread.run_sync(alerts.close)
            if verifier is not None:
                verifier.close()

    routes: list[BaseRoute] = [Route("/healthz", healthz)]
    if require_auth:
        routes += create_protected_resource_routes(
            resource_url=resource,
            authorization_servers=[AnyHttpUrl(settings.jwt_issuer or public)],
            scopes_supported=["member", "admin"],
            resource_name="cost-mcp",
        )
    own = [
        *otlp_routes(ledger, pricer, alerts),
        Route("/api/push", push_endpoint(ledger, pricer, push_limiter, alerts, settings), methods=["POST"]),
        Route("/api/push", push_check, methods=["GET"]),
    ]
    # The SDK app's own route (``/mcp``), so its path and transport security stay its own; its
    # body read under a limit, after the token check.
    sdk: list[BaseRoute] = []
    for route in mcp_app.routes:
        assert isinstance(route, Route)
        sdk.append(Route(route.path, BodyLimit(route.app, MCP_MAX_BODY_BYTES), methods=route.methods))
    for route in [*own, *sdk]:
        assert isinstance(route, Route)
        # Route.app is the ASGI form of the endpoint; a class instance stays ASGI when re-wrapped.
        routes.append(Route(route.path, guarded(route.app), methods=route.methods) if require_auth else route)
    # The dashboard shows everyone's spend: an admin's token in team mode, or a browser signed in
    # with one (its session cookie counts here only).
    if verifier is not None:
        signed_in = DashboardSignIn(
            guarded(dashboard, admin=True),
            verifier,
            settings,
            challenge=f'Bearer error="invalid_token", resource_metadata="{metadata_url}"',
        )
        routes.append(Mount("/", app=signed_in))
    else:
        routes.append(Mount("/", app=dashboard))
    middleware = [
        # Outermost: every response of the server, the sign-in's and the gates' refusals included
        # (the 503 of a ledger gone away too).
        Middleware(SecurityHeaders),
        Middleware(LedgerUnavailable),
        # A web page on another site cannot reach the dashboard or the receiver by rebinding its own
        # name to 127.0.0.1 (the MCP route has the SDK's own check too). With tokens required that
        # gains nothing, and a team server is reached under its public name.
        Middleware(
            TrustedHostMiddleware,
            allowed_hosts=["*"] if require_auth else sorted({"127.0.0.1", "localhost", host}),
        ),
    ]
    if verifier is not None:
        middleware += [
            Middleware(AuthenticationMiddleware, backend=BearerAuthBackend(verifier)),
            Middleware(AuthContextMiddleware),
        ]
    else:
        middleware.append(Middleware(TokensAppeared, ledger=ledger))
    return Starlette(routes=routes, lifespan=lifespan, middleware=middleware)


LEDGER_UNAVAILABLE = (
    "the team server cannot use its ledger just now (its database is restarting, unreachable or "
    "full): try again shortly; a push is sent again by itself"
)


LEDGER_UPGRADED = (
    "the team server runs an older cost-mcp than its ledger (a newer one, another replica or the "
    "admin's, upgraded it): a team admin must upgrade cost-mcp on this server and restart it; a push "
    "is sent again by itself"
)


class LedgerUnavailable:
    """503 with Retry-After for a request the ledger failed under (PostgreSQL restarted or gone, a
    full disk): it was a 500 "Internal Server Error" with a traceback in the log, which a laptop's
    `cost-mcp push` gave up on at once; told 503 it waits and sends the batch again. The caller is
    not told the ledger's own error (it names the database's host and user); the log says it, once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except DatabaseError as exc:
            if started:
                raise
            logger.warning("%s %s: %s", scope.get("method"), scope.get("path"), exc)
            # A replica left on the old release beside an upgraded one: "try again shortly" would
            # have laptops retry for ever while nobody is told that this server needs upgrading.
            said = LEDGER_UPGRADED if isinstance(exc, LedgerUpgradedError) else LEDGER_UNAVAILABLE
            answer = JSONResponse({"error": said}, status_code=503, headers={"Retry-After": "2"})
            await answer(scope, receive, send)


class TokensAppeared:
    """A server started without tokens stops answering once one exists, until restarted: it decides
    at start whether a bearer is needed, and an admin who has just made the first token must not be
    left with a server that still answers anyone without one. ``/healthz`` still answers. Whether a
    token exists is read at most every :attr:`EVERY` seconds."""

    EVERY = 2.0

    def __init__(self, app: ASGIApp, ledger: Ledger) -> None:
        self.app = app
        self.ledger = ledger
        self.checked = -self.EVERY
        self.appeared = False

    def _read(self) -> bool:
        with self.ledger.use() as conn:
            return team_store.has_live_tokens(conn)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == "/healthz":
            await self.app(scope, receive, send)
            return
        now = anyio.current_time()
        if not self.appeared and now - self.checked >= self.EVERY:
            self.checked = now
            self.appeared = await anyio.to_thread.run_sync(self._read)
        if self.appeared:
            refused = JSONResponse(
                {
                    "error": "bearer tokens exist now, and this server was started without any: "
                    "restart `cost-mcp serve --http` so that it requires them"
                },
                status_code=503,
            )
            await refused(scope, receive, send)
            return
        await self.app(scope, receive, send)


REFUSED_TOKEN = (
    "the bearer token was refused: it is wrong, revoked or expired; ask a team admin for a new one "
    "(cost-mcp token create NAME --member EMAIL on the server)"
)
"""Said to a request whose token the server does not take, and never the token itself."""


KNOWN_SCHEMES = {
    name.lower().encode(): name
    for name in ("Basic", "Digest", "Token", "ApiKey", "Negotiate", "NTLM", "DPoP", "OAuth", "JWT", "Key")
}
"""Authorization schemes an answer names, as spelled here: any other first word of the header is the
caller's text, which may be a secret pasted without Bearer (``cmk_abc123 x``), and is never repeated
(in the answer or the server's log)."""


def unusable_authorization(header: bytes) -> str | None:
    """What is wrong with an ``Authorization`` header that cannot carry a token the server takes,
    naming the fix, or None for a ``Bearer <token>`` one (the token then decides). Never quotes the
    header: a bare token, or one behind another scheme, is described, not repeated; a scheme is named
    only when it is one of :data:`KNOWN_SCHEMES`, in their spelling."""
    scheme, _, rest = header.strip().partition(b" ")
    rest = rest.strip()
    if scheme.lower() == b"bearer":
        if not rest:
            return (
                "the Authorization header says Bearer with no token after it (a variable such as "
                f"${otel_config.TOKEN_ENV} that is not set where the client runs?): send "
                "`Authorization: Bearer cmt_...` with the token an admin made (cost-mcp token create "
                "NAME --member EMAIL)"
            )
        if re.fullmatch(rb"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", rest):
            return (
                # Not quoted: "$" then letters is also what a secret pasted after a stray "$" looks
                # like, and this text goes back to the client, into the challenge and the log.
                "the bearer token is the unexpanded text of a variable ($NAME or ${NAME}) that the "
                "client did not replace with its value: put the token itself in the client's settings "
                "(`Authorization: Bearer cmt_...`), or set the variable where the client runs, in the "
                "client's own syntax"
            )
        return None
    known = KNOWN_SCHEMES.get(scheme.lower())
    if not rest or scheme.startswith(team_store.TOKEN_PREFIX.encode()):
        said = "holds the token without the word Bearer before it"
    elif known is not None:
        said = f"uses the {known} scheme"
    else:
        said = "is not in the form Bearer <token>"
    return (
        f"the Authorization header {said}: this server takes `Authorization: Bearer cmt_...` (the "
        "word Bearer, a space, then the token)"
    )


class RefusedTokenLog:
    """The server's log line for requests whose token it refused: at most one a minute per client
    address, path and reason, so a fleet's agents sending with a revoked or mistyped token (which drop
    what they cannot send without a word) show in the admin's log, and a client retrying every
    second does not fill it. Never the token: the reason is :func:`unusable_authorization`'s, or
    :data:`REFUSED_TOKEN`."""

    def __init__(self, every: float = 60.0, keep: int = 1024) -> None:
        self.every = every
        self.keep = keep
        self._last: dict[tuple[str, str, str], float] = {}

    def note(self, scope: Scope, why: str) -> None:
        """Log the refusal of ``scope``'s request, unless one like it was logged within a minute."""
        client = scope.get("client")
        address = str(client[0]) if client else "?"
        path = str(scope.get("path", ""))[:100]
        now = time.monotonic()
        key = (address, path, why)
        last = self._last.pop(key, None)
        if last is not None and now - last < self.every:
            self._last[key] = last
            return
        # Oldest first (each key moves to the end when logged again): those logged over a minute
        # ago go, then the oldest beyond ``keep``. Clearing the whole map at ``keep`` let a flood
        # of addresses put every client retrying a revoked token back in the log at once.
        for old in list(self._last):
            if now - self._last[old] < self.every and len(self._last) < self.keep:
                break
            del self._last[old]
        self._last[key] = now
        # %r: the path is the client's text (a newline in it would forge a line of the log).
        logger.warning("refused a request to %r from %s: %s", path, address, why)


class TokenRefused:
    """401 with what to do for a request that sent a token the server refused: the SDK's check said
    "Authentication required" to a member whose token was revoked, as to a request with none, and
    to one whose header lacked the word Bearer or the token (an unset variable). A request without
    an Authorization header, or with a token taken, goes on to the SDK's check. Each refusal is
    logged (:class:`RefusedTokenLog`, shared by every route). A JWT the server could not check, its
    identity provider not answering, is answered 503 (:data:`IDP_UNANSWERED`), not refused."""

    def __init__(self, app: ASGIApp, metadata_url: str, refusals: RefusedTokenLog | None = None) -> None:
        self.app = app
        self.metadata_url = metadata_url
        self.refusals = refusals or RefusedTokenLog()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        user = scope.get("user")
        header = next((v for n, v in scope.get("headers", []) if n == b"authorization"), None)
        if scope["type"] != "http" or header is None or getattr(user, "is_authenticated", False):
            await self.app(scope, receive, send)
            return
        if identity_provider_unanswered():
            # Not the caller's fault, and not a refusal to log: the verifier logged the provider's.
            retry = str(math.ceil(IDP_RETRY_SECONDS))
            unavailable = JSONResponse(
                {"error": "temporarily_unavailable", "error_description": IDP_UNANSWERED},
                status_code=503,
                headers={"Retry-After": retry},
            )
            await unavailable(scope, receive, send)
            return
        why = unusable_authorization(header) or REFUSED_TOKEN
        self.refusals.note(scope, why)
        # The description goes in the challenge too (RFC 6750 quotes it: no '"' or '\\' in ours).
        challenge = (
            f'Bearer error="invalid_token", error_description="{why}", '
            f'resource_metadata="{self.metadata_url}"'
        )
        refused = JSONResponse(
            {"error": "invalid_token", "error_description": why},
            status_code=401,
            headers={"WWW-Authenticate": challenge},
        )
        await refused(scope, receive, send)


class AdminOnly:
    """The dashboard's answer to a caller other than an admin, by bearer token or signed in alike
    (:func:`cost_mcp.access.dashboard_refusal`): 403 saying why and what to use instead, where the
    SDK's scope check would say only "Required scope: admin" (someone who copied the fleet's ingest
    token from managed settings learns it reads nothing). Behind the SDK's check for a caller."""

    def __init__(self, app: ASGIApp, metadata_url: str) -> None:
        self.app = app
        # As the SDK's own refusals say it (RFC 6750 and 9728): where clients learn who issues tokens.
        self.challenge = f'Bearer error="insufficient_scope", resource_metadata="{metadata_url}"'

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        caller = caller_in(scope)
        # Fail closed on an authenticated caller without claims (no verifier of ours makes one).
        refusal = "the dashboard needs an admin token" if caller is None else access.dashboard_refusal(caller)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        refused = JSONResponse(
            {"error": "insufficient_scope", "error_description": refusal},
            status_code=403,
            headers={"WWW-Authenticate": self.challenge},
        )
        await refused(scope, receive, send)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


PUSHES_AT_ONCE = 2
"""Pushes processed at once by one server process: two, so one decodes and prices while the other
is in the ledger (SQLite and zlib release the interpreter's lock). Also two on PostgreSQL, where
pushes hold the write lock together (store.team) and their statements run on the database's cores:
60 s, 20 pushers, clients thinking 500 ms, one worker, load 4.3-5.0: two at once 10.5-12.5k events/s
with get_spend p99 218-232 ms, three 10.7-12.6k with 271-333 ms: a third push takes a query's share
of the database's CPU and adds no events (bench/README.md, h-team3 and h-team4)."""


def push_endpoint(
    ledger: Ledger,
    pricer: Pricer,
    limiter: push.RateLimiter | None = None,
    alerts: ReceivedUsageAlerts | None = None,
    settings: Settings | None = None,
) -> Callable[[Request], Awaitable[Response]]:
    """``POST /api/push``: a laptop's usage rows, stored under the token's member (see cost_mcp.push);
    ``alerts`` is told of every push that stored or changed rows, and ``settings`` re-arm budget
    thresholds a push's forgets brought spend back under.

    At most :data:`PUSHES_AT_ONCE` pushes are decoded, priced and stored at a time; the others wait
    as coroutines, not threads. Twenty pushes on twenty threads, all Python, hold the interpreter's
    lock in turn every few milliseconds, so the event loop and a get_spend's thread waited behind
    all of them (get_spend p99 of seconds for a query of milliseconds); the ledger takes one
    writer at a time anyway (on PostgreSQL pushes share it, and the database's cores are the limit).
    """
    limiter = limiter or push.RateLimiter()
    at_once = anyio.CapacityLimiter(PUSHES_AT_ONCE)

    async def receive(request: Request) -> Response:
        caller = current_caller_of(request)
        refused = push.refusal(caller)
        if refused is not None or caller is None:
            status, why = refused or (401, "")
            return JSONResponse({"error": why}, status_code=status)
        wait = limiter.take(caller.token_name)
        if wait:
            # Whole seconds, as Retry-After has them: the text said "retry after 0.0 s" beside a
            # Retry-After of 1 when the bucket lacked a few milliseconds.
            retry = max(1, math.ceil(wait))
            return JSONResponse(
                {"error": f"too many pushes for token {caller.token_name}; retry after {retry} s"},
                status_code=429,
                headers={"Retry-After": str(retry)},
            )
        try:
            body = await read_body(request, push.MAX_BODY_BYTES)
        except BodyRefused as exc:
            return JSONResponse({"error": f"push {exc.why.removeprefix('request ')}"}, status_code=exc.status)

        earliest: list[int] = []  # the batch's earliest call, set by work()

        def work() -> push.PushAnswer:
            decoded = push.decode(
                bytes(body),
                request.headers.get("content-type", ""),
                content_encoding(request),
            )
            if decoded.beat:
                with ledger.use() as conn:
                    return push.beat(conn, caller)
            prices = push.price_rows(pricer, decoded.rows)
            earliest[:] = [min(r.ts_ms for r in decoded.rows)] if decoded.rows else []
            with ledger.use() as conn:
                return push.receive(
                    conn,
                    pricer,
                    caller,
                    decoded.rows,
                    prices,
                    decoded.rejected,
                    decoded.forgets,
                    settings,
                    decoded.implausible,
                    decoded.ahead,
                )

        try:
            answer = await anyio.to_thread.run_sync(work, limiter=at_once)
        except push.PushRejected as exc:
            headers = ACCEPTED_CODINGS if exc.coding else None
            return JSONResponse({"error": str(exc)}, status_code=exc.status, headers=headers)
        if (answer.accepted or answer.changed) and alerts is not None:
            # A laptop back after days away pushes calls of periods already over: their budgets too.
            alerts.note(earliest[0] if earliest else None)
        return JSONResponse(
            {
                "accepted": answer.accepted,
                "changed": answer.changed,
                "refused": answer.refused,
                "forgotten": answer.forgotten,
                "rejected": answer.rejected,
                "removed": answer.removed,
                "lifted": answer.lifted,
                "warnings": answer.warnings,
            }
        )

    return receive


async def push_check(request: Request) -> Response:
    """``GET /api/push``: whether a push with this token would be taken, answered as the push
    itself would refuse it (``cost-mcp doctor`` asks), storing nothing."""
    caller = current_caller_of(request)
    refused = push.refusal(caller)
    if refused is not None or caller is None:
        status, why = refused or (401, "")
        return JSONResponse({"error": why}, status_code=status)
    return JSONResponse({"may_push": True, "member": caller.member, "token_name": caller.token_name})


def current_caller_of(request: Request) -> Caller | None:
    """The caller a request authenticated as (None: no auth on this server)."""
    return caller_in(request.scope)


def caller_in(scope: Scope) -> Caller | None:
    """The caller an ASGI request's scope authenticated as (None: no auth on this server)."""
    token = getattr(scope.get("user"), "access_token", None)
    return None if token is None else caller_of(token)


def wildcard_note(settings: Settings, host: str, port: int, *, auth: bool) -> str | None:
    """What to set when a server with tokens listens on every address and has no public URL:
    clients learn where tokens come from through the metadata URL in each 401, which would
    otherwise name the wildcard address, reachable from nowhere."""
    if not auth or settings.public_url or host not in ("0.0.0.0", "::"):
        return None
    return (
        "note: set COST_MCP_PUBLIC_URL to the address clients use (e.g. https://cost.example.com): "
        f"until then 401 answers point them at http://{_url_host(host)}:{port}/.well-known/..."
    )


def refuse_a_shared_sqlite_ledger(settings: Settings) -> None:
    """A team server's SQLite ledger on a network share (NFS, SMB...): SQLite's WAL does not work
    there and its locks cannot be trusted, so the server, its workers and anything else opening the
    file from another machine can corrupt it. Said before anything opens it, with the two fixes."""
    if is_postgres(settings.db):
        return
    kind = network_file_system(Path(settings.db))
    if kind is not None:
        raise InvalidInputError(
            f"the ledger {settings.db} is on a network file system ({kind}): SQLite cannot share a "
            "file safely there (its write-ahead log needs one machine's memory, and the share's locks "
            "may not hold), so a server on it can corrupt the ledger. Set COST_MCP_DB to a path on a "
            "local disk of this host, or to a PostgreSQL URL for a team (README: A PostgreSQL ledger)"
        )


def serve_http(
    settings: Settings,
    *,
    host: str,
    port: int,
    workers: int = 1,
    announce: Callable[[str], None] = print,
) -> None:
    """Run the HTTP server until interrupted: with bearer tokens required when any exist (or JWTs are
    configured), else on loopback only (see :func:`require_loopback`).

    ``workers`` > 1 runs that many server processes on the one port (uvicorn's supervisor, which
    restarts one that dies): one Python process uses one core for its Python work whatever its
    threads, so pushes and queries on a 2-core host need two. They share the ledger as replicas do:
    on PostgreSQL each has its pool; on SQLite reads run side by side (WAL) and writes take turns on
    the file's write lock. Per-token push rate limits are per process.
    """
    import uvicorn

    from cost_mcp.web.app import _pricer, check_can_listen

    if workers < 1:
        raise InvalidInputError(f"--workers {workers}: give 1 or more")
    refuse_a_shared_sqlite_ledger(settings)
    # Opened (and migrated) here, before any worker starts: the workers then never race to migrate.
    ledger = Ledger(settings.db)
    try:
        with ledger.use() as conn:
            auth = jwt_configured(settings) or team_store.has_live_tokens(conn)
        if not auth:
            require_loopback(host)
        check_can_listen(host, port)  # before announcing a server that would not start
        mode = "bearer tokens required" if auth else "loopback only, no tokens"
        served = f"{workers} worker processes, " if workers > 1 else ""
        announce(
            f"cost-mcp HTTP server on http://{host}:{port}/ (MCP at /mcp, OTLP at /v1/*, {served}{mode})"
        )
        if note := wildcard_note(settings, host, port, auth=auth):
            announce(note)
        if workers > 1:
            ledger.close()
            # The workers are fresh interpreters (spawned): what they serve travels in the environment.
            os.environ[_WORKER_ENV] = json.dumps({"host": host, "port": port, "auth": auth})
            uvicorn.run(
                "cost_mcp.web.http:worker_app",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                log_level="warning",
                forwarded_allow_ips=settings.forwarded_allow_ips,
            )
            return
        app = create_http_app(ledger, settings, _pricer(settings), host=host, port=port, require_auth=auth)
        _freeze_startup_objects()
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", forwarded_allow_ips=settings.forwarded_allow_ips
        )
        uvicorn.Server(config).run()
    finally:
        ledger.close()


_WORKER_ENV = "COST_MCP_HTTP_WORKER"
"""Set by :func:`serve_http` for its worker processes: the address served and whether tokens are required."""


def worker_app() -> Starlette:
    """The app of one ``serve --http --workers N`` process (uvicorn calls this in each worker)."""
    from cost_mcp.config import load_settings_leniently
    from cost_mcp.log_records import command_logging, server_logging
    from cost_mcp.web.app import _pricer

    served = json.loads(os.environ[_WORKER_ENV])
    settings, problems = load_settings_leniently()
    # As `serve --http` logs in one process: without, the MCP SDK's handler wrote each record as
    # columns wrapped over two or three lines, which a grep or a log shipper takes apart.
    command_logging(replace=True)
    server_logging(settings)
    for problem in problems:
        logger.warning("%s", problem)
    # Lives as long as the worker process: the process ends with the server.
    ledger = Ledger(settings.db)
    app = create_http_app(
        ledger,
        settings,
        _pricer(settings),
        host=served["host"],
        port=int(served["port"]),
        require_auth=bool(served["auth"]),
    )
    _freeze_startup_objects()
    return app


def _freeze_startup_objects() -> None:
    """Move what start-up built (the MCP SDK's tools and schemas, pydantic models, price tables:
    ~140k objects that live as long as the process) out of the cycle collector's reach.

    Each full collection walks every tracked object; requests that allocate (an OTLP batch of 512
    events makes thousands of objects) trigger one every few seconds, ~90 ms each over the
    start-up heap, ~5% of a receiving server's CPU. Objects made after this are collected as ever.
    """
    gc.collect()
    gc.freeze()
