"""The provider registry: every billing or usage API we sync, described once.

Settings (:mod:`cost_mcp.config`), sync (:mod:`cost_mcp.sync`), `cost-mcp doctor`, the CLI's
``sync --provider`` choices, the ``sync_providers`` tool description and the README provider table
are all derived from :data:`PROVIDERS`. Adding a provider is one module (its fetcher) plus one
entry here; ``tests/sources/test_registry.py`` shows a provider defined in a test reaching all of
them with no other edit.
"""

from __future__ import annotations

from datetime import timedelta

from cost_mcp.sources import anthropic, aws, azure, cursor, google, groq, openai, openrouter
from cost_mcp.sources.provider import Provider, Setting, SourceFetch
from cost_mcp.store.buckets import CLAUDE_CODE_PROVIDER

__all__ = ["PROVIDERS", "Provider", "Setting", "SourceFetch", "get", "providers", "readme_table"]

PROVIDERS: tuple[Provider, ...] = (
    Provider(
        id="openai",
        name="OpenAI",
        key_env="OPENAI_ADMIN_KEY",
        default_base_url="https://api.openai.com",
        auth=openai.auth_headers,
        key_hint=openai.KEY_HINT,
        sources=(SourceFetch("openai", openai.fetch),),
        basis="billed",
        fetches="costs per day, project and line item; usage per model (estimates that attribute)",
        rate_limit="not documented; 429s retried after Retry-After",
        # Not documented; third-party clients see costs "lag a few hours" (reference/providers.md 1.7).
        reporting_lag=timedelta(hours=6),
    ),
    Provider(
        id="anthropic",
        name="Anthropic",
        key_env="ANTHROPIC_ADMIN_KEY",
        default_base_url="https://api.anthropic.com",
        auth=anthropic.auth_headers,
        key_hint=anthropic.KEY_HINT,
        sources=(
            SourceFetch("anthropic", anthropic.fetch),
            SourceFetch(CLAUDE_CODE_PROVIDER, anthropic.fetch_claude_code),
        ),
        basis="billed",
        fetches="cost report per day, workspace and model; usage report; Claude Code analytics",
        rate_limit="not documented; 429s retried after Retry-After",
        # Usage-cost API FAQ: "typically appears within 5 minutes of API request completion, though
        # delays may occasionally be longer": an hour of margin.
        reporting_lag=timedelta(hours=1),
    ),
    Provider(
        id="openrouter",
        name="OpenRouter",
        key_env="OPENROUTER_API_KEY",
        default_base_url="https://openrouter.ai",
        auth=openrouter.auth_headers,
        key_hint=openrouter.KEY_HINT,
        sources=(SourceFetch("openrouter", openrouter.fetch),),
        basis="billed",
        fetches="activity per day, model and upstream provider (management key); today from keys' usage",
        rate_limit="not documented; 429s retried after Retry-After",
        # /activity lists completed UTC days only; today comes from the keys' live usage_daily.
        reporting_lag=timedelta(0),
    ),
    Provider(
        id="groq",
        name="Groq",
        key_env="GROQ_API_KEY",
        default_base_url="https://api.groq.com",
        auth=groq.auth_headers,
        key_hint=groq.KEY_HINT,
        sources=(SourceFetch("groq", groq.fetch),),
        basis="estimated",
        fetches="token rates per model and project (Prometheus metrics, Enterprise), priced",
        rate_limit="not documented; at most 30 days a query",
        # Prometheus rates over 5-minute windows.
        reporting_lag=timedelta(minutes=15),
    ),
    Provider(
        id="cursor",
        name="Cursor",
        key_env="CURSOR_ADMIN_API_KEY",
        default_base_url="https://api.cursor.com",
        auth=cursor.auth_headers,
        auth_kind="HTTP Basic",
        key_hint=cursor.KEY_HINT,
        sources=(SourceFetch("cursor", cursor.fetch),),
        basis="billed",
        fetches="charged usage events per day, member and model; the cycle's team spend",
        min_ttl_seconds=cursor.MIN_TTL_SECONDS,
        rate_limit="60 / 20 requests a minute, paced",
        # Admin API: "Data is aggregated at the hourly level".
        reporting_lag=timedelta(hours=1),
    ),
    azure.ENTRY,
    google.ENTRY,
    aws.ENTRY,
)


def providers() -> tuple[Provider, ...]:
    """Every registered provider (read at call time, so tests can register one)."""
    return PROVIDERS


def get(provider: str) -> Provider:
    """The registry entry of a provider id in any case (``OpenAI`` is ``openai``), or ValueError
    naming the known ones."""
    wanted = provider.casefold()
    for spec in providers():
        if spec.id.casefold() == wanted:
            return spec
    known = ", ".join(s.id for s in providers())
    raise ValueError(f"unknown provider {provider!r}; known providers: {known}")


def provider_names(*, basis: str | None = None) -> str:
    """Display names joined for prose: "OpenAI, Anthropic and Groq"."""
    names = [p.name for p in providers() if basis is None or p.basis == basis]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _ttl(spec: Provider) -> str:
    if spec.min_ttl_seconds:
        return f"automatic sync at most every {spec.min_ttl_seconds // 60} min"
    return "automatic sync after the TTL"


def _lag(spec: Provider) -> str:
    minutes = int(spec.reporting_lag.total_seconds()) // 60
    if minutes == 0:
        return "none"
    return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"


def readme_table() -> str:
    """The README provider table (between ``<!-- providers -->`` markers; a test keeps it equal)."""
    lines = [
        "| provider | settings | auth | fetches | basis | refresh, limits | reporting lag |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in providers():
        settings = ", ".join(f"`{name}`" for name in p.required_env)
        if p.alternative is not None:
            settings += f"; or `{p.alternative.env}`"
        lines.append(
            f"| {p.name} (`{p.id}`) | {settings} | {p.auth_kind} | {p.fetches} | {p.basis} | "
            f"{_ttl(p)}; {p.rate_limit or 'not documented'} | {_lag(p)} |"
        )
    return "\n".join(lines)
