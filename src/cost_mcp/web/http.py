"""`cost-mcp serve --http`: MCP streamable HTTP, the OTLP/HTTP receiver and the dashboard in one app.

Routes: ``/mcp`` (the SDK's streamable HTTP app, stateless), ``/healthz``, ``POST /v1/logs``,
``/v1/metrics``, ``/v1/traces`` (OTLP/HTTP, protobuf or JSON, optionally gzip) and the dashboard at
``/``. There are no bearer tokens yet (issue 14), so it refuses to listen on anything but loopback.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Literal

import anyio.to_thread
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route

from cost_mcp.config import Settings
from cost_mcp.errors import InvalidInputError
from cost_mcp.pricing import Pricer
from cost_mcp.sources import otel
from cost_mcp.store import Ledger
from cost_mcp.web.app import create_app

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
                f"--host {host} is not a loopback address: without bearer tokens (not available yet) "
                "the HTTP server only listens on 127.0.0.1, ::1 or localhost. Put a reverse proxy with "
                "authentication in front of it to reach it from other machines."
            )


def otlp_routes(ledger: Ledger, pricer: Pricer) -> list[Route]:
    """The OTLP/HTTP receiver: ``POST /v1/logs``, ``/v1/metrics``, ``/v1/traces``."""

    def handler(signal: otel.Signal) -> Callable[[Request], Awaitable[Response]]:
        async def receive(request: Request) -> Response:
            ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
            encoding: Literal["protobuf", "json"]
            if ctype == PROTOBUF:
                encoding = "protobuf"
            elif ctype == JSON:
                encoding = "json"
            else:
                return PlainTextResponse(
                    f"415: send OTLP as {PROTOBUF} or {JSON}, not {ctype or 'no Content-Type'}",
                    status_code=415,
                )
            declared = request.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > otel.MAX_BODY_BYTES:
                return _status(413, f"request body over {otel.MAX_BODY_BYTES:,} bytes", encoding)
            body = bytearray()
            async for chunk in request.stream():
                body += chunk
                if len(body) > otel.MAX_BODY_BYTES:
                    return _status(413, f"request body over {otel.MAX_BODY_BYTES:,} bytes", encoding)
            coding = request.headers.get("content-encoding", "identity").strip().lower()
            if coding not in ("identity", "gzip", "deflate"):
                return _status(400, f"Content-Encoding {coding!r} is not supported: use gzip", encoding)
            gzipped = coding != "identity"

            def work() -> otel.Outcome:
                message = otel.decode(signal, bytes(body), encoding=encoding, gzipped=gzipped)
                with ledger.use() as conn:
                    return otel.receive(conn, pricer, signal, message)

            try:
                outcome = await anyio.to_thread.run_sync(work)
            except otel.TooLargeError as exc:
                return _status(413, str(exc), encoding)
            except otel.PayloadError as exc:
                return _status(400, str(exc), encoding)
            if outcome.rejected:
                logger.warning("OTLP %s: %s", signal, outcome.error_message)
            return Response(
                otel.response_body(signal, outcome, encoding=encoding),
                media_type=PROTOBUF if encoding == "protobuf" else JSON,
            )

        return receive

    return [
        Route("/v1/logs", handler("logs"), methods=["POST"]),
        Route("/v1/metrics", handler("metrics"), methods=["POST"]),
        Route("/v1/traces", handler("traces"), methods=["POST"]),
    ]


def _status(code: int, message: str, encoding: Literal["protobuf", "json"]) -> Response:
    """OTLP's error body: a google.rpc.Status with the reason."""
    rpc_code = 3 if code == 400 else 8  # INVALID_ARGUMENT / RESOURCE_EXHAUSTED
    if encoding == "json":
        return JSONResponse({"code": rpc_code, "message": message}, status_code=code)
    return Response(_status_proto(rpc_code, message), status_code=code, media_type=PROTOBUF)


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


def create_http_app(
    ledger: Ledger, settings: Settings, pricer: Pricer, *, host: str = "127.0.0.1"
) -> Starlette:
    """The whole HTTP server as one Starlette app (see the module docstring)."""
    from cost_mcp.server import mcp

    mcp_app = mcp.streamable_http_app(streamable_http_path="/mcp", stateless_http=True, host=host)
    dashboard = create_app(ledger, settings, pricer, token=None)

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # The MCP app's session manager (and the server's own lifespan) run inside it.
        async with mcp_app.router.lifespan_context(mcp_app):
            yield

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            *otlp_routes(ledger, pricer),
            # The SDK app's own route (``/mcp``), so its path and transport security stay its own.
            *mcp_app.routes,
            Mount("/", app=dashboard),
        ],
        lifespan=lifespan,
        # A web page on another site cannot reach the dashboard or the receiver by rebinding its own
        # name to 127.0.0.1 (the MCP route has the SDK's own check too).
        middleware=[
            Middleware(TrustedHostMiddleware, allowed_hosts=sorted({"127.0.0.1", "localhost", host}))
        ],
    )


def serve_http(settings: Settings, *, host: str, port: int, announce: Callable[[str], None] = print) -> None:
    """Run the HTTP server until interrupted (loopback only, see :func:`require_loopback`)."""
    import uvicorn

    from cost_mcp.web.app import _pricer

    require_loopback(host)
    ledger = Ledger(settings.db)
    try:
        app = create_http_app(ledger, settings, _pricer(settings), host=host)
        config = uvicorn.Config(app, host=host, port=port, log_level="warning")
        server = uvicorn.Server(config)
        announce(f"cost-mcp HTTP server on http://{host}:{port}/ (MCP at /mcp, OTLP at /v1/*)")
        server.run()
    finally:
        ledger.close()
