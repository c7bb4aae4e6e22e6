"""The settings that point Claude Code, Codex and Gemini CLI's OpenTelemetry at a cost-mcp server."""

from __future__ import annotations

import json

DEFAULT_SERVER = "http://127.0.0.1:4318"


def claude_code_env(server: str) -> dict[str, str]:
    """Claude Code's telemetry environment: events (the ledger's source) and metrics (cross-check)."""
    return {
        "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": server,
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "delta",
    }


def snippet(server: str) -> str:
    """Shell exports, a managed-settings JSON block and the Codex and Gemini CLI settings for ``server``."""
    server = server.rstrip("/")
    env = claude_code_env(server)
    exports = "\n".join(f"export {k}={v}" for k, v in env.items())
    managed = json.dumps({"env": env}, indent=2)
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
    return f"""# Claude Code: in the shell that starts `claude`
{exports}

# Claude Code, fleet-wide: the "env" block of managed-settings.json (locks the endpoint for everyone)
{managed}

# Codex: ~/.codex/config.toml
[otel]
log_user_prompt = false
exporter = {{ otlp-http = {{ endpoint = "{server}/v1/logs", protocol = "binary" }} }}

# Gemini CLI: ~/.gemini/settings.json
{gemini}

# Any app instrumented with the OpenTelemetry GenAI conventions (pydantic-ai/logfire, OpenLLMetry...)
export OTEL_EXPORTER_OTLP_TRACES_ENDPOINT={server}/v1/traces
export OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/protobuf
"""
