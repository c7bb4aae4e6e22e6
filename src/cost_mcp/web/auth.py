"""Bearer tokens on the HTTP server: our own tokens (``cost-mcp token create``) and, optionally,
JWTs from the company's identity provider.

Built on the mcp SDK's auth pieces, so the MCP route behaves as the MCP authorization spec says:
:class:`TeamTokenVerifier` is an SDK ``TokenVerifier``; the SDK's ``BearerAuthBackend`` reads the
header, its ``RequireAuthMiddleware`` answers 401 with ``WWW-Authenticate: Bearer ...
resource_metadata="..."``, and its protected-resource routes serve
``/.well-known/oauth-protected-resource/mcp``. The caller (member, role) travels in the access
token's claims; ``server.py`` turns it into an :class:`~cost_mcp.access.Caller`.

The verifier also keeps the dashboard's browser sessions (:mod:`cost_mcp.web.signin`) in the ledger,
looked up on every request as a token is.

A token is never logged: a refusal logs the token's name when it has one, else nothing about it.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken

from cost_mcp.access import Caller
from cost_mcp.config import Settings
from cost_mcp.store import Ledger
from cost_mcp.store import team as team_store

logger = logging.getLogger("cost_mcp.http")

SESSION_SECONDS = 12 * 3600
"""How long a dashboard sign-in lasts (a working day), unless its token is revoked or expires first."""

JWT_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "EdDSA"]
"""Asymmetric only: a shared-secret (HS*) JWT could be minted by anyone who can read the config."""

JWKS_TIMEOUT_SECONDS = 5.0
"""How long a fetch of the identity provider's keys (JWKS) may take. PyJWT's default, 30 s, was spent
under its client's lock: while the provider hung, every JWT request queued behind it, 30 s each."""

IDP_RETRY_SECONDS = 10.0
"""After a fetch of the JWKS failed, how long JWTs needing one are refused at once (503) before the
provider is asked again: a fetch per request would hold a thread each for the timeout."""

JWKS_LIFESPAN_SECONDS = 300.0
"""How long the identity provider's key set is used before it is fetched again (PyJWT's default): a
key the provider removes (rotated out, or leaked) is refused after this at the latest."""

JWKS_STALE_SECONDS = 3600.0
"""While the identity provider does not answer, how long after its last good answer that key set is
still used to check JWTs (keys it names only: an unknown key id is refused as ever). Past it, JWTs
are answered 503 until the provider answers again."""

JWT_CHECKS_AT_ONCE = 4
"""JWT checks on threads at once. Their own limit, so JWTs waiting on the identity provider never
hold the threads that team tokens, sessions and queries run on (anyio's 40 by default)."""


IDP_UNANSWERED = (
    "the identity provider did not answer with its keys, so this server could not check the JWT "
    f"(it is not said to be wrong): retry in {IDP_RETRY_SECONDS:.0f} s; a team token (cost-mcp token create) "
    "does not depend on the identity provider"
)
"""Said (503) to a request whose JWT could not be checked: the provider's keys could not be fetched."""


class IdentityProviderUnanswered(Exception):
    """The identity provider's keys could not be fetched (no answer in time, an error, or an answer
    that is no usable key set), so a JWT could not be checked."""


_unanswered: ContextVar[bool] = ContextVar("cost_mcp_idp_unanswered", default=False)


def identity_provider_unanswered() -> bool:
    """Whether this request's bearer token was a JWT that could not be checked because the identity
    provider did not answer (set by :meth:`TeamTokenVerifier.verify_token` in the request's task):
    the request is answered 503, not told its token is wrong."""
    return _unanswered.get()


class TeamTokenVerifier:
    """Checks a bearer value: one of our ``cmt_`` tokens (its hash looked up in the ledger on every
    request, so a revocation holds at once across replicas), else a JWT when an issuer is set.
    :meth:`close` closes its connection."""

    def __init__(self, ledger: Ledger, settings: Settings) -> None:
        # A connection of its own: checking a token must not queue behind a push or a query holding
        # the server's main connection (WAL lets it read beside them).
        self.ledger = Ledger(ledger.path)
        self.settings = settings
        self._jwks: Any = None
        self._jwks_made = threading.Lock()
        self._jwt_threads = anyio.CapacityLimiter(JWT_CHECKS_AT_ONCE)
        self.admins = {a.strip().lower() for a in settings.jwt_admins.split(",") if a.strip()}

    def close(self) -> None:
        """Close the verifier's own ledger connection."""
        self.ledger.close()

    @property
    def jwt_enabled(self) -> bool:
        """Whether identity-provider JWTs are accepted."""
        return jwt_configured(self.settings)

    async def verify_token(self, token: str) -> AccessToken | None:
        """An access token carrying the caller, or None (the SDK then answers 401)."""
        # HTTP allows more than one space after "Bearer"; the SDK keeps all but the first.
        token = token.strip()
        _unanswered.set(False)
        if token.startswith(team_store.TOKEN_PREFIX):
            return await anyio.to_thread.run_sync(self._ours, token)
        if self.jwt_enabled:
            try:
                return await anyio.to_thread.run_sync(self._jwt, token, limiter=self._jwt_threads)
            except IdentityProviderUnanswered:
                _unanswered.set(True)
        return None

    def _ours(self, token: str) -> AccessToken | None:
        with self.ledger.use() as conn:
            info = team_store.verify_token(conn, token)
        if info is None:
            return None
        return AccessToken(
            token=token,
            client_id=info.name,
            scopes=[info.role],
            claims={"member": info.member, "role": info.role},
        )

    async def open_session(self, token: str, access: AccessToken) -> tuple[str, int]:
        """Open a dashboard session for ``token``, which :meth:`verify_token` accepted as ``access``.

        Returns the session's random id (the cookie's value: never the token, and the ledger keeps
        only its hash) and the seconds it lasts: :data:`SESSION_SECONDS`, or until a JWT expires if
        sooner. The ledger keeps our token's hash beside it, so revoking the token ends it.
        """
        session_id = secrets.token_urlsafe(32)
        now_ms = int(time.time() * 1000)
        ends = now_ms + SESSION_SECONDS * 1000
        if access.expires_at is not None:
            ends = min(ends, access.expires_at * 1000)
        claims = access.claims or {}
        who = team_store.DashboardSession(access.client_id, str(claims["member"]), str(claims["role"]), ends)
        ours = token if token.startswith(team_store.TOKEN_PREFIX) else None

        def store() -> None:
            with self.ledger.use() as conn:
                team_store.open_dashboard_session(conn, session_id, ours, who, now_ms)

        await anyio.to_thread.run_sync(store)
        return session_id, (ends - now_ms) // 1000

    async def session(self, session_id: str) -> AccessToken | None:
        """The caller a dashboard session stands for, as :meth:`verify_token` gives a token's, or
        None (unknown, ended, or its token revoked: looked up on every request, as a token is)."""

        def read() -> team_store.DashboardSession | None:
            with self.ledger.use() as conn:
                return team_store.dashboard_session(conn, session_id, int(time.time() * 1000))

        found = await anyio.to_thread.run_sync(read)
        if found is None:
            return None
        role = found.role
        if found.jwt:
            # As a JWT is each time it is presented: who is an admin is the server's setting now.
            role = "admin" if found.member in self.admins else "member"
        return AccessToken(
            token="",  # the session is not a bearer token, and the token it was opened with is not kept
            client_id=found.token_name,
            scopes=[role],
            expires_at=found.expires_ms // 1000,
            claims={"member": found.member, "role": role},
        )

    async def close_session(self, session_id: str) -> None:
        """End a dashboard session (signing out)."""

        def close() -> None:
            with self.ledger.use() as conn:
                team_store.close_dashboard_session(conn, session_id)

        await anyio.to_thread.run_sync(close)

    def _jwks_of(self) -> Any:
        # Made under a lock: the first JWTs, checked on several threads at once, each made a client
        # of their own (each with its own lock and cache), so a hung provider was asked twice.
        with self._jwks_made:
            if self._jwks is None:
                self._jwks = _jwks_client(str(self.settings.jwt_jwks_url))
            return self._jwks

    def _jwt(self, token: str) -> AccessToken | None:
        import jwt

        s = self.settings
        try:
            key = self._jwks_of().get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=JWT_ALGORITHMS,
                audience=s.jwt_audience,
                issuer=s.jwt_issuer,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWKClientConnectionError as exc:
            logger.info("JWT not checked: the identity provider's keys could not be fetched")
            raise IdentityProviderUnanswered from exc
        except jwt.PyJWTError as exc:
            # The reason (expired, wrong audience...) helps an operator; the token itself never appears.
            logger.info("JWT refused: %s", type(exc).__name__)
            return None
        member = claims.get(s.jwt_member_claim)
        if not isinstance(member, str) or "@" not in member:
            logger.info("JWT refused: no %r claim with an email address", s.jwt_member_claim)
            return None
        if s.jwt_member_claim == "email" and unverified_email(claims):
            # Where users write their own address (Auth0 and Cognito sign-ups, Entra ID's mutable
            # email), one the provider says it did not check is anyone's to claim, an admin's too.
            # A provider that does not say (access tokens often carry no such claim) is believed.
            logger.info("JWT refused: its issuer did not verify the email address (email_verified)")
            return None
        member = member.strip().lower()
        role = "admin" if member in self.admins else "member"
        return AccessToken(
            token=token,
            client_id=f"jwt:{member}",
            scopes=[role],
            expires_at=int(claims["exp"]),
            subject=str(claims.get("sub") or member),
            claims={"member": member, "role": role},
        )


def _jwks_client(url: str) -> Any:
    """PyJWT's JWKS client for ``url``, its fetches bounded by :data:`JWKS_TIMEOUT_SECONDS` and, after
    one failed, refused at once for :data:`IDP_RETRY_SECONDS`. The key set is kept for
    :data:`JWKS_LIFESPAN_SECONDS`, and a token naming a key id the JWKS lacks refetches it at most
    once per cooldown (PyJWT >= 2.14, pyproject.toml): anyone can send such a token. While the
    provider does not answer, its last good key set serves for :data:`JWKS_STALE_SECONDS`."""
    import jwt
    from jwt import PyJWKSet

    parts = urlsplit(url)  # host and port only: a URL's user:password@ is no one's to read in a log
    host = f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)

    class Client(jwt.PyJWKClient):
        retry_at = 0.0
        last_good: PyJWKSet | None = None
        """The key set of the provider's last answer, kept past PyJWT's cache for an outage."""
        good_at = 0.0
        """When the provider last answered (monotonic seconds)."""

        def get_jwk_set(self, refresh: bool = False) -> PyJWKSet:
            # When the key set's lifespan ended during an outage, every JWT was answered 503 though
            # the keys had been fetched minutes before: the last good set now serves for a bounded
            # while. It is the provider's own set, so a key id it lacks is refused as before.
            try:
                keys: PyJWKSet = super().get_jwk_set(refresh)
            except jwt.PyJWKClientConnectionError:
                # fetch_data's warning says which of the two it is.
                if self.last_good is None or time.monotonic() - self.good_at > JWKS_STALE_SECONDS:
                    raise
                return self.last_good
            self.last_good = keys
            return keys

        def fetch_data(self) -> Any:
            # Called under the client's lock only when a fetch is due (its caches hold otherwise),
            # so a token whose key is cached is checked while the provider is down.
            if time.monotonic() < self.retry_at:
                raise jwt.PyJWKClientConnectionError("the identity provider did not answer just now")
            try:
                data = super().fetch_data()
                # A 200 that is no key set (a maintenance page, {}, keys none of which can sign) is
                # the provider's fault as much as no answer: 503, not a token called wrong (401),
                # or a 500 for an answer that is not JSON. PyJWT cached a set without signing keys.
                self._get_signing_keys_from_jwk_set(PyJWKSet.from_dict(self._as_jwk_set_payload(data)))
            except (jwt.PyJWKClientError, jwt.PyJWKSetError, ValueError, OSError) as exc:
                # OSError: a connection reset while reading the answer, which urllib lets through
                # unwrapped and PyJWT does not catch (it was a 500 for the request). ValueError: an
                # answer that is not JSON (or not UTF-8), which PyJWT lets through as well.
                if not isinstance(exc, jwt.PyJWKClientConnectionError | OSError):
                    # Out of PyJWT's cache too: the last good set serves, within its stale window.
                    if self.jwk_set_cache is not None:
                        self.jwk_set_cache.put(None)
                    exc = jwt.PyJWKClientError(
                        f"it answered with no usable key set ({type(exc).__name__}: {exc})"
                    )
                now = time.monotonic()
                self.retry_at = now + IDP_RETRY_SECONDS
                meanwhile = (
                    f"JWTs are checked with its keys of {now - self.good_at:.0f} s ago (for up to "
                    f"{JWKS_STALE_SECONDS:.0f} s after them)"
                    if self.last_good is not None and now - self.good_at <= JWKS_STALE_SECONDS
                    else "JWTs that need them are refused (503)"
                )
                # The reason (timed out, refused, HTTP 5xx) is urllib's, naming no token.
                logger.warning(
                    "the identity provider's keys (JWKS at %s) could not be fetched: %s; %s; it is "
                    "asked again in %.0f s",
                    host,
                    exc.__cause__ or exc,
                    meanwhile,
                    IDP_RETRY_SECONDS,
                )
                raise jwt.PyJWKClientConnectionError("the identity provider did not answer") from exc
            self.good_at = time.monotonic()
            return data

    # No per-key cache (cache_keys): PyJWT's never expires, so a key the provider had removed
    # (rotated out after a leak) checked tokens until the server restarted; nor did it bound the
    # use of a key set while the provider was down. The key set's own cache is enough.
    return Client(url, lifespan=JWKS_LIFESPAN_SECONDS, timeout=JWKS_TIMEOUT_SECONDS)


def unverified_email(claims: Mapping[str, Any]) -> bool:
    """Whether a JWT's issuer says it did not verify its ``email``: ``email_verified`` false, as the
    JSON boolean OpenID Connect specifies or the string some issuers send (Cognito's "false")."""
    said = claims.get("email_verified")
    return said is False or (isinstance(said, str) and said.strip().lower() == "false")


def jwt_configured(settings: Settings) -> bool:
    """Whether identity-provider JWTs are configured (issuer, audience and JWKS URL all set)."""
    return bool(settings.jwt_issuer and settings.jwt_jwks_url and settings.jwt_audience)


def current_caller() -> Caller | None:
    """The caller of the request being served, or None outside an authenticated HTTP request (stdio,
    or loopback HTTP with no tokens): the personal server, which sees everything."""
    token = get_access_token()
    return None if token is None else caller_of(token)


def caller_of(token: AccessToken) -> Caller | None:
    """The caller an access token from :class:`TeamTokenVerifier` carries (None without claims)."""
    if not token.claims:
        return None
    return Caller(
        member=str(token.claims["member"]), role=str(token.claims["role"]), token_name=token.client_id
    )
