"""What the registry knows about a provider source: the types of :mod:`cost_mcp.sources.registry`.

A :class:`Provider` says everything the rest of the package needs to know about a billing or usage
API, so that settings, sync, doctor, the CLI, tool descriptions and the README table are derived
from it rather than edited by hand: its settings (the credential first), how it authenticates,
which sources it fetches, how often it may be asked, the basis of what it brings and its README row.

This module holds types only (no provider module imports it at run time except for these), so a
provider module can describe itself without import cycles.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import httpx2

    from cost_mcp.pricing import Pricer
    from cost_mcp.sources.billing import Feed, Window
    from cost_mcp.sources.http import ProviderClient

AuthHeaders = Callable[[str], Mapping[str, str]]
"""Builds the request headers from the credential (a key, or the token an exchange returned)."""
TokenExchange = Callable[["ProviderClient", Mapping[str, str]], Awaitable[str]]
"""Trades the provider's settings (by variable name) for a short-lived bearer token, through the
provider's own client (so it has the same retry policy, deadline and scrubbing)."""
RequestSigner = Callable[["httpx2.Request", Mapping[str, str]], Mapping[str, str]]
"""Signs one outgoing request from the provider's settings (by variable name): returns the headers to
add (AWS Signature Version 4: ``Authorization``, ``X-Amz-Date``, a session token). Called on every
attempt, so a retry is signed afresh; the client scrubs the ``Authorization`` value it returns."""
FetchFn = Callable[["ProviderClient", "Pricer", "Window"], Awaitable[list["Feed"]]]
Basis = Literal["billed", "estimated"]
AuthKind = Literal[
    "key header",
    "HTTP Basic",
    "OAuth client credentials",
    "service account (signed JWT)",
    "service account (signed JWT) or gcloud user credentials (refresh token)",
    "AWS Signature Version 4",
]


@dataclass(frozen=True)
class Setting:
    """One variable a provider reads, beside its credential and base URL."""

    env: str
    description: str
    secret: bool = False
    required: bool = True


@dataclass(frozen=True)
class SourceFetch:
    """One source a provider syncs: the key its sync state is kept under, and its fetcher."""

    id: str
    fetch: FetchFn


@dataclass(frozen=True)
class Provider:
    """A billing or usage API we sync.

    ``key_env`` is the credential (a key, or a client secret for a token exchange), always secret;
    ``settings`` are the other variables it needs (ids, a scope, a table); every provider also has
    ``COST_MCP_<ID>_BASE_URL`` (``default_base_url``), and a token exchange has
    ``COST_MCP_<ID>_TOKEN_URL`` (``default_token_url``) so tests and gateways can point elsewhere.
    With ``token``, the headers ``auth`` builds come from the token it returns, not from the key.
    """

    id: str
    name: str
    key_env: str
    default_base_url: str
    auth: AuthHeaders
    key_hint: str
    sources: tuple[SourceFetch, ...]
    basis: Basis
    fetches: str
    """README: what it brings in, in a few words."""
    auth_kind: AuthKind = "key header"
    settings: tuple[Setting, ...] = ()
    token: TokenExchange | None = None
    default_token_url: str = ""
    credential: str = ""
    """How messages name the credential when "a key" would mislead (a key file, a client secret)."""
    min_ttl_seconds: int = 0
    """Raises the TTL of automatic refreshes for an API that asks to be polled less often."""
    rate_limit: str = ""
    """README: the documented limits and how we keep to them."""
    reporting_lag: timedelta = timedelta(hours=6)
    """How long after a UTC day ends its reports are complete (see analytics/coverage.py)."""
    sign: RequestSigner | None = None
    """Signs each request instead of sending fixed headers (AWS SigV4); ``auth`` is then unused."""
    default_key: Callable[[Mapping[str, str]], str | None] | None = None
    """Where the credential is found when ``key_env`` is unset, given the environment (Google's
    application-default credentials file); used only once the provider's other settings are set."""
    alternative: Setting | None = None
    """A setting that configures the provider on its own, in place of the credential and the other
    required settings (AWS's named profile); the credential wins when both are set."""

    @property
    def key_noun(self) -> str:
        """How messages name the credential: "an admin key" where the provider has admin keys apart."""
        if self.credential:
            return self.credential
        if self.token is not None:
            return "a client secret"
        return "an admin key" if "ADMIN" in self.key_env else "a key"

    def needs(self, missing: list[str]) -> str:
        """What an unconfigured provider needs, for errors: its credential, or the variables
        ``missing`` (as :meth:`cost_mcp.config.Settings.provider_missing` lists them), and the
        alternative that would do instead (AWS's named profile)."""
        if missing == [self.key_env] or not missing:
            text = f"needs {self.key_noun} in {self.key_env}"
        else:
            text = f"needs {', '.join(missing)} set"
        return f"{text}, or {self.alternative.env}" if self.alternative is not None else text

    @property
    def key_choice(self) -> str:
        """What configures this provider, for a list of what to set: every required variable, and
        the alternative that would do instead (``A + B (or COST_MCP_AWS_PROFILE)``)."""
        text = " + ".join(self.required_env)
        return f"{text} (or {self.alternative.env})" if self.alternative is not None else text

    @property
    def base_url_env(self) -> str:
        """The variable that overrides the API origin."""
        return f"COST_MCP_{self.id.upper()}_BASE_URL"

    @property
    def token_url_env(self) -> str:
        """The variable that overrides the token endpoint's origin (token exchanges only)."""
        return f"COST_MCP_{self.id.upper()}_TOKEN_URL"

    @property
    def required_env(self) -> tuple[str, ...]:
        """Every variable that must be set before this provider can be synced, credential first."""
        return (self.key_env, *(s.env for s in self.settings if s.required))

    @property
    def env_names(self) -> tuple[str, ...]:
        """Every variable this provider reads."""
        urls = (self.base_url_env, self.token_url_env) if self.token else (self.base_url_env,)
        alternative = (self.alternative.env,) if self.alternative else ()
        return (self.key_env, *(s.env for s in self.settings), *alternative, *urls)
