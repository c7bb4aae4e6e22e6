"""The settings that point Claude Code, Codex and Gemini CLI's OpenTelemetry at a cost-mcp server."""

from __future__ import annotations

import ipaddress
import json
from urllib.parse import urlsplit

DEFAULT_SERVER = "http://127.0.0.1:4318"
TOKEN_ENV = "COST_MCP_TEAM_TOKEN"
"""The variable the shell snippets read the bearer token from (a laptop's push reads it too)."""
PLACEHOLDER = "cmt_..."
"""Where a settings file that expands no variable needs the token itself."""
FLEET_TOKEN_COMMAND = "cost-mcp token create fleet --member you@example.com --role ingest"
"""The token for managed settings: on every laptop, readable by anyone there, so one that can only
send usage (each event under its own user.email), never an admin's."""


def server_problem(server: str) -> str | None:
    """What is wrong with ``server`` as the base URL agents export to, or None. The agents take
    whatever they are given and drop what they cannot send without a word, so settings for
    ``not-a-url`` or ``cost.example.com`` (no scheme) would lose every event."""
    try:
        parts = urlsplit(server)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        return (
            f"--server {server!r} is not a server's URL: give its scheme and host, e.g. "
            f"https://cost.example.com or {DEFAULT_SERVER}"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        # Not quoted: a password or a ?token= is a secret, kept out of every message.
        return (
            "--server carries a query, fragment, user name or password: give the server's address "
            f"alone, e.g. {parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''} (the "
            "token goes in a header, from --bearer)"
        )
    return None


def is_loopback(server: str) -> bool:
    """Whether ``server``'s host is this machine: a server there answers without a token until one
    exists, one anywhere else always needs one (``serve --http`` refuses other addresses without)."""
    host = urlsplit(server).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def same_server(a: str, b: str) -> bool:
    """Whether two base URLs reach the same server: scheme, host and port (the default port of
    the scheme when none is written), whatever their paths."""
    try:
        x, y = urlsplit(a), urlsplit(b)
        ports = [u.port or (443 if u.scheme == "https" else 80) for u in (x, y)]
    except ValueError:
        return False
    return (x.scheme, (x.hostname or "").lower(), ports[0]) == (
        y.scheme,
        (y.hostname or "").lower(),
        ports[1],
    )


def claude_code_env(server: str, token: str | None = None) -> dict[str, str]:
    """Claude Code's telemetry environment: events (the ledger's source) and metrics (cross-check),
    with ``token`` (or a reference to it) as the bearer when given."""
    env = {
        "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": server,
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "delta",
    }
    if token is not None:
        env["OTEL_EXPORTER_OTLP_HEADERS"] = f"Authorization=Bearer {token}"
    return env


def snippet(server: str, bearer: bool | None = None) -> str:
    """Shell exports, a managed-settings JSON block and the Codex and Gemini CLI settings for
    ``server``; with ``bearer`` (by default: when the server is not on this machine) each sends
    the token too, or the server refuses every export with 401 and the agents drop it unseen."""
    server = server.rstrip("/")
    bearer = not is_loopback(server) if bearer is None else bearer
    shell_token = f"${TOKEN_ENV}" if bearer else None
    exports = "\n".join(
        f'export {k}="{v}"' if " " in v else f"export {k}={v}"
        for k, v in claude_code_env(server, shell_token).items()
    )
    managed = json.dumps({"env": claude_code_env(server, PLACEHOLDER if bearer else None)}, indent=2)
    gemini = json.dumps(
        {
            "telemetry": {
                "enabled": True,
                "target": "local",
                "otlpEndpoint": server,
                "otlpProtocol": "http",
                "logPrompts": False,
            }
        },
        indent=2,
    )
    codex_headers = f', headers = {{ "Authorization" = "Bearer ${{{TOKEN_ENV}}}" }}' if bearer else ""
    header = f'\nexport OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer ${TOKEN_ENV}"' if bearer else ""
    gemini_token = " (and OpenTelemetry's own variable, in its shell)" if bearer else ""
    who = (
        f"# The token: each member's own in {TOKEN_ENV} (`cost-mcp token create NAME --member EMAIL`"
        " on\n# the server), so that their events count as theirs.\n\n"
        if bearer
        else ""
    )
    fleet = (
        f"# ({PLACEHOLDER}: one ingest token for every machine, made on the server with\n"
        f"#   {FLEET_TOKEN_COMMAND}\n"
        "# It keeps each event's own user.email and can read nothing. A member's token would make every\n"
        "# event that member's; an admin's could read and manage everything, from every laptop.)\n"
        if bearer
        else ""
    )
    return f"""{who}# Claude Code: in the shell that starts `claude`
{exports}

# Claude Code, fleet-wide: the "env" block of managed-settings.json (locks the endpoint for everyone)
{fleet}{managed}

# Codex: ~/.codex/config.toml
[otel]
log_user_prompt = false
exporter = {{ otlp-http = {{ endpoint = "{server}/v1/logs", protocol = "binary"{codex_headers} }} }}

# Gemini CLI: ~/.gemini/settings.json{gemini_token}{header}
{gemini}

# Any app instrumented with the OpenTelemetry GenAI conventions (pydantic-ai/logfire, OpenLLMetry...)
export OTEL_EXPORTER_OTLP_TRACES_ENDPOINT={server}/v1/traces
export OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/protobuf{header}
"""
