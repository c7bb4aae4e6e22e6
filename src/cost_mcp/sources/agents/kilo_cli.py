"""Kilo CLI (``kilo``, Kilo-Org/kilocode's ``packages/opencode``): a fork of OpenCode that writes
OpenCode's storage under its own name, ``kilo.db`` in its own data folder.

Facts and sources are in ``docs/agent-formats.md``. The messages, their ``step-finish`` parts, the
token kinds and the cost Kilo logs are OpenCode's, read by OpenCode's reader
(:func:`opencode.storage_log`) as agent ``kilo-cli``, a call through Kilo's gateway stored under its
model's vendor. The Kilo Code VS Code extension's own task files (``ui_messages.json``) are another
format, read as ``kilo-code`` (``cline.py``).
"""

from __future__ import annotations

from pathlib import Path

from cost_mcp.agent_folders import AgentFolderPaths
from cost_mcp.sources.agents import opencode
from cost_mcp.sources.agents.scanner import gateway_pricing

AGENT = "kilo-cli"
SOURCE = "kilo_cli"


def roots(settings: AgentFolderPaths) -> list[Path]:
    """Kilo's data folder (:meth:`AgentFolderPaths.kilo_data_path`)."""
    return [settings.kilo_data_path()]


GATEWAYS = {"kilo": "kilo"}
"""Kilo's own gateway (``DEFAULT_PROVIDER_NAME = "kilo"``, OpenRouter's ``vendor/model`` ids, e.g.
``anthropic/claude-sonnet-4``): a call through it is stored under its model's vendor, priced at that
vendor's rates when Kilo logged no cost; a model whose vendor no price list knows stays ``kilo``,
unpriced."""
pricing_provider = gateway_pricing({}, GATEWAYS)


LOG = opencode.storage_log(AGENT, "Kilo CLI", SOURCE, roots, "kilo", pricing_provider)
