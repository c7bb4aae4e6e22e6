"""Signing in to a team server's dashboard from a browser, which sends no ``Authorization`` header.

:class:`DashboardSignIn` stands in front of the dashboard (and nothing else: ``/mcp``, ``/v1/*`` and
``/api/push`` never read the cookie). A browser asking for a page without credentials gets a sign-in
form; the admin pastes a token, which is POSTed (form body, never the URL) to ``signin`` and checked
by the bearer path's own verifier (our ``cmt_`` tokens and the identity provider's JWTs). If the
dashboard would let that token in (:func:`cost_mcp.access.dashboard_refusal`, the bearer path's one
decision), the browser gets a session: a random id in an HttpOnly, SameSite=Strict cookie (Secure
over https), kept in the ledger by hash with the token's hash and an end (12 hours, or the JWT's
expiry), so that every worker and replica knows it and revoking the token ends it at the next
request. ``signout`` deletes it. The token itself is kept nowhere: not in the ledger, the cookie, a
URL, a page or a log line.

Cross-site requests: the cookie is SameSite=Strict, so no other site's page or link sends it, and
both POSTs are refused unless the browser's ``Origin`` is this server's own (its ``Host``, or
``COST_MCP_PUBLIC_URL``): another site's page cannot sign a browser in or out. Failed sign-ins are
limited per client address (:class:`FailedSignIns`).
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from urllib.parse import parse_qsl, urlencode, urlsplit

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from starlette.authentication import AuthCredentials
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from cost_mcp import access
from cost_mcp.config import Settings
from cost_mcp.web.app import SECURITY_HEADERS, BodyRefused, read_body, set_session_cookie
from cost_mcp.web.auth import IDP_UNANSWERED, TeamTokenVerifier, caller_of, identity_provider_unanswered
from cost_mcp.web.page import sign_in_html, sign_in_style

logger = logging.getLogger("cost_mcp.http")

SESSION_COOKIE = "cost_mcp_team_session"
"""One name for every process of a server, since its workers and replicas share the sessions."""
SIGN_IN = "/signin"
SIGN_OUT = "/signout"
MAX_FORM_BYTES = 64 * 1024
"""A token, even an identity provider's JWT with many claims, is a few kilobytes."""

NOT_ACCEPTED = "that token was not accepted"
ENDED = (
    "your sign-in has ended (after 12 hours, on signing out, or because its token was revoked): "
    "paste the token again"
)
TOKEN_IN_URL = (
    "a token in the address is not used (addresses stay in logs and the browser's history): "
    "paste it here instead"
)


class FailedSignIns:
    """Failed sign-ins per client address: after ``limit`` in ``window`` seconds, more tries are
    refused until the oldest is that old. Per server process, as the push limits are: a brake on
    guessing, not an account lockout (a 256-bit token cannot be guessed anyway)."""

    def __init__(self, limit: int = 10, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._failed: dict[str, deque[float]] = {}

    def wait(self, client: str) -> float:
        """0 when ``client`` may try now, else the seconds until it may."""
        recent = self._recent(client, time.monotonic())
        if recent is None or len(recent) < self.limit:
            return 0.0
        return max(0.0, recent[0] + self.window - time.monotonic())

    def failed(self, client: str) -> None:
        """Count a failed sign-in from ``client``."""
        now = time.monotonic()
        if len(self._failed) > 10_000:  # many addresses: forget those with no failure in the window
            for key in [k for k, q in self._failed.items() if not q or q[-1] <= now - self.window]:
                del self._failed[key]
        recent = self._recent(client, now)
        if recent is None:
            recent = self._failed[client] = deque()
        recent.append(now)

    def _recent(self, client: str, now: float) -> deque[float] | None:
        recent = self._failed.get(client)
        while recent and recent[0] <= now - self.window:
            recent.popleft()
        if recent is not None and not recent:
            del self._failed[client]  # an address with no failure left in the window is forgotten
            return None
        return recent


class DashboardSignIn:
    """ASGI middleware in front of a team server's guarded dashboard: serves ``signin`` and
    ``signout``, lets a request with a live session cookie through as its token's caller (the guard
    behind then decides as for a bearer token), and answers a browser's page request without
    credentials with the sign-in form (200). JSON and every other request without credentials go on
    to the guard, which answers 401 as before."""

    def __init__(
        self,
        app: ASGIApp,
        verifier: TeamTokenVerifier,
        settings: Settings,
        *,
        challenge: str,
        failures: FailedSignIns | None = None,
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.public = urlsplit(settings.public_url or "")
        self.challenge = challenge
        self.failures = failures or FailedSignIns()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        path = _route_path(scope)
        if path == SIGN_IN:
            response = await self._sign_in(request)
        elif path == SIGN_OUT:
            response = await self._sign_out(request)
        else:
            if isinstance(scope.get("user"), AuthenticatedUser):  # a bearer token: it decides
                await self.app(scope, receive, send)
                return
            cookie = request.cookies.get(SESSION_COOKIE)
            signed_in = await self.verifier.session(cookie) if cookie else None
            if signed_in is not None:
                user = AuthenticatedUser(signed_in)
                await self.app({**scope, "user": user, "auth": AuthCredentials(user.scopes)}, receive, send)
                return
            if not _wants_page(request, path):
                await self.app(scope, receive, send)
                return
            given = [k for k, _ in parse_qsl(request.url.query, keep_blank_values=True) if k == "token"]
            message = ENDED if cookie else TOKEN_IN_URL if given else None
            # 200: the form is what a browser without a session is meant to get, not a refusal. As
            # a 401, Chrome logged "Failed to load resource ... 401 (Unauthorized)" in the console of
            # every fresh visitor; a token the form refuses is still a 401 (and JSON stays 401).
            response = self._page(request, path, 200, message, _kept_query(request.url.query))
            if cookie:
                self._clear_cookie(request, response)
        await response(scope, receive, send)

    async def _sign_in(self, request: Request) -> Response:
        if request.method != "POST":
            # A bookmarked sign-in address: the dashboard, which asks for a token if it needs one.
            return RedirectResponse("./", status_code=303, headers=SECURITY_HEADERS)
        if refused := self._cross_site(request):
            return refused
        client = request.client.host if request.client else ""
        wait = self.failures.wait(client)
        if wait:
            return self._page(
                request,
                SIGN_IN,
                429,
                f"too many tokens not accepted from your address: try again in {math.ceil(wait)} s (an "
                "address a proxy shares: its admin sets FORWARDED_ALLOW_IPS, see README)",
                headers={"Retry-After": str(math.ceil(wait))},
            )
        form = await _form(request)
        if form is None:
            return self._page(request, SIGN_IN, 400, "send the token with this form")
        token, query = form.get("token", "").strip(), _kept_query(form.get("next", ""))
        checked = await self.verifier.verify_token(token) if token else None
        if checked is None and identity_provider_unanswered():
            # Not a wrong token: counting it would lock a team out of signing in while the provider is down.
            return self._page(request, SIGN_IN, 503, IDP_UNANSWERED, query)
        caller = caller_of(checked) if checked is not None else None
        if checked is None or caller is None or (checked.expires_at or math.inf) < time.time():
            self.failures.failed(client)
            logger.info("dashboard sign-in from %s: token not accepted", client)
            return self._page(request, SIGN_IN, 401, NOT_ACCEPTED, query)
        if why := access.dashboard_refusal(caller):
            return self._page(request, SIGN_IN, 403, why, query)
        session, seconds = await self.verifier.open_session(token, checked)
        logger.info("dashboard sign-in from %s with token %r (%s)", client, caller.token_name, caller.member)
        response = RedirectResponse(
            f"./?{query}" if query else "./", status_code=303, headers=SECURITY_HEADERS
        )
        set_session_cookie(response, SESSION_COOKIE, session, secure=self._secure(request), max_age=seconds)
        return response

    async def _sign_out(self, request: Request) -> Response:
        if request.method != "POST":
            return PlainTextResponse(
                "405: sign out with the dashboard's Sign out button (a POST)",
                status_code=405,
                headers={**SECURITY_HEADERS, "Allow": "POST"},
            )
        if refused := self._cross_site(request):
            return refused
        if cookie := request.cookies.get(SESSION_COOKIE):
            await self.verifier.close_session(cookie)
        response = RedirectResponse("./", status_code=303, headers=SECURITY_HEADERS)
        self._clear_cookie(request, response)
        return response

    def _cross_site(self, request: Request) -> Response | None:
        """A 403 unless the POST came from a page of this server (the browser's ``Origin``)."""
        origin = request.headers.get("origin", "")
        netloc = urlsplit(origin).netloc.lower() if origin not in ("", "null") else ""
        own = {request.headers.get("host", "").lower()}
        if self.public.netloc:
            own.add(self.public.netloc.lower())
        if netloc and netloc in own:
            return None
        # The Origin is the client's text, never repeated (a page reflecting what a request carries
        # is what cross-site scripts probe for): only whether one came.
        came = "another site, or an address this server does not know as its own" if origin else "nowhere"
        return PlainTextResponse(
            f"403: {request.url.path.rsplit('/', 1)[-1]} is accepted only from this server's own page "
            f"(the browser said it came from {came}); behind a proxy that changes the Host "
            "header, set COST_MCP_PUBLIC_URL to the address browsers use",
            status_code=403,
            headers=SECURITY_HEADERS,
        )

    def _secure(self, request: Request) -> bool:
        """Whether browsers reach this server over https (directly, through a proxy uvicorn trusts,
        or as COST_MCP_PUBLIC_URL says): the cookie is then never sent over plain http."""
        return request.url.scheme == "https" or self.public.scheme == "https"

    def _clear_cookie(self, request: Request, response: Response) -> None:
        response.delete_cookie(
            SESSION_COOKIE, path="/", secure=self._secure(request), httponly=True, samesite="strict"
        )

    def _page(
        self,
        request: Request,
        path: str,
        status: int,
        message: str | None,
        query: str = "",
        headers: dict[str, str] | None = None,
    ) -> Response:
        # Relative to the page's own address, as the dashboard's URLs are: any mount path works.
        action = "../" * (path.count("/") - 1) + SIGN_IN.lstrip("/")
        _, style = sign_in_style()
        policy = (
            f"default-src 'none'; style-src {style}; img-src data:; form-action 'self'; "
            "base-uri 'none'; frame-ancestors 'none'"
        )
        extra = {"WWW-Authenticate": self.challenge} if status == 401 else {}
        return HTMLResponse(
            sign_in_html(action=action, message=message, query=query),
            status_code=status,
            headers={
                **SECURITY_HEADERS,
                "Content-Security-Policy": policy,
                # "no-referrer" would make the form's Origin "null", which the POST refuses.
                "Referrer-Policy": "same-origin",
                **extra,
                **(headers or {}),
            },
        )


def _route_path(scope: Scope) -> str:
    """The path below the app's mount point (as starlette's routing sees it)."""
    path = str(scope["path"])
    root = str(scope.get("root_path", ""))
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path


def _wants_page(request: Request, path: str) -> bool:
    """Whether a request is a browser opening a page (the sign-in form then), not the page's script
    asking for JSON or a file (401 as before)."""
    if request.method not in ("GET", "HEAD") or path.startswith(("/api/", "/static/")):
        return False
    return "text/html" in request.headers.get("accept", "")


def _kept_query(query: str) -> str:
    """The dashboard's period and filters from a query string, to return to after signing in:
    re-encoded (so nothing but a query can come of it) and without any ``token``."""
    return urlencode([(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "token"])


async def _form(request: Request) -> dict[str, str] | None:
    """The sign-in form's fields, or None when the body is not a small urlencoded form."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        return None
    try:
        # Read before any token is checked, so by anyone: a bounded time, as a bounded size.
        body = await read_body(request, MAX_FORM_BYTES)
    except BodyRefused:
        return None
    try:
        return dict(parse_qsl(body.decode(), keep_blank_values=True))
    except UnicodeDecodeError:
        return None
