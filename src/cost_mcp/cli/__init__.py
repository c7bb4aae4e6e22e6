"""The human CLI (click): serve (default), report, export, ingest, sync, budget, estimate, savings,
compare, doctor and the rest. One module per group of commands; each command parses, calls the same
analytics functions as the MCP tools, and formats.

``main(argv) -> int`` is the entry point (``cost_mcp.launcher`` calls it after its fast path). A
command's module is imported when the command is used (``app.COMMAND_MODULES``).
"""

from cost_mcp.cli.app import EXIT_FAILED, EXIT_OK, EXIT_USAGE, cli, load_all, main

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "cli", "load_all", "main"]
