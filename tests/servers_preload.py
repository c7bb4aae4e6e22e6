"""What tests/servers.py's zygote imports, once, for every server it forks: imported there only.

In the order a ``cost-mcp serve --http`` process takes: the command's logging first
(:func:`cost_mcp.cli.app.main` sets it up before anything else), then the server's code. The other
way round, the MCP SDK's server (``cost_mcp.server``'s import makes it) installs its own
logging handler first, and every server forked would log in another format than a spawned one.
Importing opens nothing: no connection, thread or event loop is shared by the servers forked.
"""

from __future__ import annotations

import importlib

from cost_mcp.log_records import command_logging

command_logging()
for _name in (
    "pytest",  # a forked child's multiprocessing start-up imports the run's __main__ (pytest's)
    "cost_mcp.launcher",
    "cost_mcp.cli",
    "cost_mcp.cli.setup",
    "cost_mcp.server",
    "cost_mcp.web.http",
    "cost_mcp.store.postgres",
    "uvicorn",
    "tests.servers",
):
    importlib.import_module(_name)
