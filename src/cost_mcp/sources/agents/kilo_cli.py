"""Kilo CLI (``kilo``, Kilo-Org/kilocode's ``packages/opencode``): a fork of OpenCode that writes
OpenCode's storage under its own name, ``kilo.db`` in its own data folder.

Facts and sources are in ``docs/agent-formats.md``. The messages, their ``step-finish`` parts, the
token kinds and the cost Kilo logs are OpenCode's, read by OpenCode's reader
(:func:`opencode.storage_log`) as agent ``kilo-cli``: the Kilo Code VS Code extension's own task
files (``ui_messages.json``) are another format, read as ``kilo-code`` (``cline.py``).
"""

from __future__ import annotations

from pathlib import Path

from cost_mcp.config import Settings
from cost_mcp.sources.agents import opencode

AGENT = "kilo-cli"
SOURCE = "kilo_cli"


def roots(settings: Settings) -> list[Path]:
    """Kilo's data folder (:meth:`Settings.kilo_data_path`)."""
    return [settings.kilo_data_path()]


LOG = opencode.storage_log(AGENT, "Kilo CLI", SOURCE, roots, "kilo")
