"""The dashboard as a small Starlette app: one page, its static files, and JSON endpoints.

Every endpoint answers with the pydantic result the matching MCP tool returns, computed by the same
analytics function after the same refresh (new log lines, stale providers). The app knows nothing
of MCP.

Two ways to run it:
- locally, by ``cost-mcp dashboard`` (:func:`serve_local`): bound to 127.0.0.1 on a free port, with a
  one-time token in the URL that is exchanged for a session cookie; anything else is 401;
- mounted by another ASGI app (the team HTTP server) behind its own authentication:
  ``create_app(..., token=None)``; the page uses relative URLs, so any mount path works.
"""

from __future__ import annotations

import functools
import logging
import secrets
import socket
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import anyio
import anyio.to_thread
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders, QueryParams
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cost_mcp import catchup, sync
from cost_mcp.analytics import budgets, dashboard, forecast, hourly, spend
from cost_mcp.config import Settings
from cost_mcp.errors import CostMcpError, InvalidInputError
from cost_mcp.logwatch import LogWatcher, log_roots
from cost_mcp.models import Answer, build_all
from cost_mcp.periods import Period
from cost_mcp.pricing import Pricer
from cost_mcp.store import Ledger
from cost_mcp.store.connection import Conn
from cost_mcp.web.page import page_html

if TYPE_CHECKING:
    import uvicorn

    from cost_mcp.models import IngestResult

logger = logging.getLogger("cost_mcp.web")

STATIC = Path(str(files("cost_mcp.web") / "static"))
FILTER_PARAMS = ("providers", "models", "projects", "agents", "sessions", "members", "sources", "basis")
BODY_SECONDS = 60.0
"""How long a request's body may take to arrive (the team server's /mcp and sign-in): a client
sending a byte now and then held its connection, and what it had sent, for as long as it liked."""
SECURITY_HEADERS = {
    # Everything the page needs comes from this server; nothing may leave the machine.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
SIGNED_IN_PAGE_HEADERS = {
    **SECURITY_HEADERS,
    # A team server's page has a sign-out form, posted to this server, which checks the Origin the
    # browser sends: "no-referrer" would make that Origin "null" (cost_mcp.web.signin).
    "Content-Security-Policy": SECURITY_HEADERS["Content-Security-Policy"].replace(
        "form-action 'none'", "form-action 'self'"
    ),
    "Referrer-Policy": "same-origin",
}


class SecurityHeaders:
    """ASGI middleware: every response carries :data:`SECURITY_HEADERS`, each unless the response
    sets its own (a page's policy, a route's cache rule). The routes' own headers missed the rest:
    the dashboard's ``/static/*`` code, a 404, a refused host, a gate's or a rate limit's refusal."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers.append(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyRefused(Exception):
    """A request body not taken (:func:`read_body`): ``status`` 413 (too large) or 408 (too slow)."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status
        self.why = why


async def read_body(request: Request, limit: int) -> bytes:
    """A request's whole body, or :class:`BodyRefused` for one over ``limit`` bytes (declared or sent)
    or not all arrived within :data:`BODY_SECONDS`."""
    too_large = BodyRefused(413, f"request body over {limit:,} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    with anyio.move_on_after(BODY_SECONDS) as waited:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise too_large
    if waited.cancelled_caught:
        raise BodyRefused(408, f"request body not received within {BODY_SECONDS:g} s")
    return bytes(body)


def set_session_cookie(
    response: Response, name: str, session: str, *, secure: bool = False, max_age: int | None = None
) -> None:
    """Put a dashboard session's id in an HttpOnly, SameSite=Strict cookie (``secure``: sent over
    https only): the page's script cannot read it and no other site's page or link sends it."""
    response.set_cookie(
        name, session, max_age=max_age, path="/", secure=secure, httponly=True, samesite="strict"
    )


@dataclass
class Context:
    """What the endpoints share: the ledger, settings and prices of the serving process."""

    ledger: Ledger
    settings: Settings
    pricer: Pricer
    refresh: bool = True


def _filters(q: QueryParams) -> spend.Filters:
    values = {name: [v for v in q.getlist(name) if v] or None for name in FILTER_PARAMS}
    return spend.Filters(**values)


PERIOD_PARAMS = ("period", "start", "end", "timezone")


def _period(q: QueryParams) -> dict[str, str | None]:
    return {name: q.get(name) or None for name in PERIOD_PARAMS}


def _check_params(q: QueryParams, takes: tuple[str, ...]) -> None:
    """Refuse a parameter the endpoint does not take, as the tools refuse an unknown argument: a
    misspelt one (``perod=today``) was ignored and the default answered, which looked right."""
    unknown = sorted({k for k in q if k not in takes and k != "token"})
    if unknown:
        raise InvalidInputError(
            f"unknown parameter(s) {', '.join(map(repr, unknown))}; this endpoint takes "
            f"{', '.join(takes) if takes else 'none'}"
        )


def create_app(
    ledger: Ledger,
    settings: Settings,
    pricer: Pricer,
    *,
    token: str | None,
    allowed_hosts: list[str] | None = None,
    refresh: bool = True,
    refresh_every: float | None = None,
    sign_out: bool = False,
    watcher: LogWatcher | None = None,
) -> Starlette:
    """The dashboard app. With ``token``, every request needs it once in the URL (``?token=``), then
    the session cookie it was exchanged for; with None the app trusts whatever mounts it to
    authenticate. ``refresh`` reads new log lines and syncs stale providers before answering, as the
    tools do: before every request, or with ``refresh_every`` (a team server's, as its MCP tools
    over HTTP) only when this app's last whole refresh started longer ago than that many seconds,
    a request arriving during one waiting for it (``sync.RecentRefresh``): a page asks six
    questions at once, and many people may be looking. ``sign_out``: the page has a sign-out
    button (a team server's, opened by signing in: cost_mcp.web.signin). ``watcher``: the refresh
    skips the walk of a log tree it vouches for unchanged (``cost_mcp.logwatch``), as the tools'."""
    ctx = Context(ledger, settings, pricer, refresh)
    recent = sync.RecentRefresh()
    # A first look at a long log history stops at the refresh's time budget: every answer says
    # what is still unread, as the tools' do, until a refresh reads to the end. Kept for the app
    # rather than per answer, so that the questions a shared refresh stands for
    # (``refresh_every``) are labelled too.
    backlog = catchup.Backlog()

    def refresh_ledger() -> tuple[IngestResult | None, list[str]]:
        with ctx.ledger.use() as conn:
            # as the tools do: never wait behind another process's lock, read a read-only ledger
            read, skipped = sync.refresh_or_skip(conn, ctx.settings, ctx.pricer, watcher=watcher)
        backlog.note(read)
        return read, skipped

    async def answer(request: Request, fn: Callable[[Conn], BaseModel], takes: tuple[str, ...]) -> Response:
        skipped: list[str] = []
        try:
            _check_params(request.query_params, takes)
        except CostMcpError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400, headers=SECURITY_HEADERS)

        def work() -> BaseModel:
            with ctx.ledger.use() as conn:
                result = catchup.with_warnings(fn(conn), skipped)
                if isinstance(result, Answer):
                    # complete, or saying what it lacks: unread log lines, lines skipped as bad
                    return catchup.envelope(conn, ctx.settings, result, backlog.progress())
                return result

        try:
            if ctx.refresh:
                # Waited for on the event loop, not on a worker thread holding a connection. Without
                # ``refresh_every`` every request still refreshes, one at a time: a page's requests
                # side by side on a PostgreSQL pool made each other skip for "another process".
                _, skipped = await recent.once(
                    refresh_every or 0.0, functools.partial(anyio.to_thread.run_sync, refresh_ledger)
                )
            result = await anyio.to_thread.run_sync(work)
        except CostMcpError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400, headers=SECURITY_HEADERS)
        return Response(result.model_dump_json(), media_type="application/json", headers=SECURITY_HEADERS)

    def period_of(request: Request) -> Period:
        p = _period(request.query_params)
        return spend.resolve(settings, p["period"], p["start"], p["end"], p["timezone"])

    async def index(_request: Request) -> Response:
        if sign_out:
            return HTMLResponse(page_html("web", sign_out=True), headers=SIGNED_IN_PAGE_HEADERS)
        return HTMLResponse(page_html("web"), headers=SECURITY_HEADERS)

    async def api_dashboard(request: Request) -> Response:
        q, p = request.query_params, _period(request.query_params)
        parts = [d for v in q.getlist("breakdowns") for d in v.split(",") if d] or dashboard.BREAKDOWN_DIMS
        return await answer(
            request,
            lambda conn: dashboard.build_dashboard(
                conn,
                settings,
                p["period"],
                p["start"],
                p["end"],
                p["timezone"],
                _filters(q),
                breakdowns=parts,
            ),
            (*PERIOD_PARAMS, *FILTER_PARAMS, "breakdowns"),
        )

    async def api_breakdown(request: Request) -> Response:
        q = request.query_params
        return await answer(
            request,
            lambda conn: dashboard.breakdown(
                conn, settings, period_of(request), q.get("dim", "model"), _filters(q)
            ),
            (*PERIOD_PARAMS, *FILTER_PARAMS, "dim"),
        )

    async def api_spend(request: Request) -> Response:
        q = request.query_params
        group_by = [d for v in q.getlist("group_by") for d in v.split(",") if d]
        return await answer(
            request,
            lambda conn: spend.get_spend(
                conn, settings, period_of(request), group_by, _filters(q), take_alerts=False
            ),
            (*PERIOD_PARAMS, *FILTER_PARAMS, "group_by"),
        )

    async def api_budgets(request: Request) -> Response:
        return await answer(
            request, lambda conn: budgets.budget_status(conn, settings, take_alerts=False), ()
        )

    async def api_forecast(request: Request) -> Response:
        return await answer(
            request,
            lambda conn: forecast.spend_forecast(conn, settings, period_of(request), take_alerts=False),
            PERIOD_PARAMS,
        )

    async def api_hourly(request: Request) -> Response:
        q = request.query_params
        return await answer(
            request,
            lambda conn: hourly.cost_by_hour(conn, settings, period_of(request), _filters(q)),
            (*PERIOD_PARAMS, *FILTER_PARAMS),
        )

    # Outermost: the refusals of the middleware below carry the headers too.
    middleware: list[Middleware] = [Middleware(SecurityHeaders)]
    if allowed_hosts:
        # A page on another site cannot reach this server by rebinding its own name to 127.0.0.1.
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts))
    if token is not None:
        middleware.append(Middleware(TokenGate, token=token))
    app = Starlette(
        routes=[
            Route("/", index),
            Route("/api/dashboard", api_dashboard),
            Route("/api/breakdown", api_breakdown),
            Route("/api/spend", api_spend),
            Route("/api/budgets", api_budgets),
            Route("/api/forecast", api_forecast),
            Route("/api/hourly", api_hourly),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        middleware=middleware,
    )
    app.state.refreshed = recent  # what the team server's refreshes are doing (tests look)
    return app


@dataclass
class _Sessions:
    token: str
    cookie: str = field(default_factory=lambda: f"cost_mcp_{secrets.token_hex(4)}")
    used: bool = False
    sessions: set[str] = field(default_factory=set)


class TokenGate:
    """ASGI middleware: a one-time URL token, exchanged for an HttpOnly session cookie.

    The token works once (a link left in the browser history or a log opens nothing later); the
    redirect drops it from the address bar. Anything without a valid session is 401.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.state = _Sessions(token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        given = request.query_params.get("token")
        if given is not None:
            response = self._exchange(request, given)
        elif self._valid(request.cookies.get(self.state.cookie)):
            await self.app(scope, receive, send)
            return
        else:
            response = PlainTextResponse(
                "401: open the dashboard with the URL `cost-mcp dashboard` printed (it carries a one-time "
                "token), or run it again for a new one",
                status_code=401,
                headers=SECURITY_HEADERS,
            )
        await response(scope, receive, send)

    def _valid(self, session: str | None) -> bool:
        return session is not None and any(secrets.compare_digest(session, s) for s in self.state.sessions)

    def _exchange(self, request: Request, given: str) -> Response:
        if self.state.used or not secrets.compare_digest(given, self.state.token):
            return PlainTextResponse(
                "401: this dashboard link is not valid (each link works once); run `cost-mcp dashboard` "
                "again for a new one",
                status_code=401,
                headers=SECURITY_HEADERS,
            )
        self.state.used = True
        session = secrets.token_urlsafe(32)
        self.state.sessions.add(session)
        rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
        target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
        response = RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)
        set_session_cookie(response, self.state.cookie, session)
        return response


def listening_socket(port: int = 0, host: str = "127.0.0.1") -> socket.socket:
    """A listening TCP socket on ``host``: on ``port``, or a free one when it is 0. A port another
    program holds is an InvalidInputError saying so (it was an OSError traceback)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise _cannot_listen(host, port, exc) from None
    return sock


def check_can_listen(host: str, port: int) -> None:
    """Bind ``host``:``port`` and let it go at once, or InvalidInputError saying why not: the HTTP
    server binds later, inside uvicorn, whose failure was an "ERROR: [Errno 98]" log line after the
    server had announced itself, and exit code 3."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (OSError, UnicodeError) as exc:
        raise InvalidInputError(f"--host {host!r} is no address of this machine ({exc})") from None
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            raise _cannot_listen(host, port, exc) from None


def _cannot_listen(host: str, port: int, exc: OSError) -> InvalidInputError:
    return InvalidInputError(
        f"cannot listen on {host}:{port} ({exc.strerror or exc}): another program (another cost-mcp "
        "server or dashboard?) may hold that port; choose another --port"
    )


def serve_local(
    settings: Settings,
    *,
    open_browser: bool = True,
    port: int = 0,
    announce: Callable[[str], None] = print,
) -> None:
    """Serve the dashboard on 127.0.0.1 until interrupted: announce the one-time URL, open it."""
    import uvicorn

    build_all()  # before its worker threads answer a page's questions at once (see build_all)

    token = secrets.token_urlsafe(32)
    sock = listening_socket(port)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/?token={token}"
    ledger = Ledger(settings.db)
    # Every request refreshes here: a page asks six questions, each a walk of the log folders
    # without the watcher (~60 ms for 5,000 files).
    watcher = LogWatcher(functools.partial(log_roots, settings), enabled=settings.watch_logs)
    watcher.start()
    try:
        app = create_app(
            ledger,
            settings,
            _pricer(settings),
            token=token,
            allowed_hosts=["127.0.0.1", "localhost"],
            watcher=watcher,
        )
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        announce(url)
        anyio.run(_serve, server, sock, url if open_browser else None)
    finally:
        watcher.stop()
        sock.close()
        ledger.close()


def _pricer(settings: Settings) -> Pricer:
    try:
        return Pricer.from_file(settings.prices_file)
    except CostMcpError as exc:
        # A broken override file must not keep the dashboard from showing; the tools report it.
        logger.error("%s", exc)
        pricer = Pricer()
        pricer.file_problem = str(exc)
        return pricer


async def _serve(server: uvicorn.Server, sock: socket.socket, open_url: str | None) -> None:
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve, [sock])
        if open_url is not None:
            # The socket already listens, so the browser's first request waits in its backlog
            # rather than meeting a refused connection.
            await anyio.to_thread.run_sync(webbrowser.open, open_url)
