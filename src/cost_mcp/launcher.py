"""The `cost-mcp` command's entry point: a fast path for what Claude Code runs on every message.

``cost-mcp statusline`` and ``cost-mcp hook`` run after every assistant message or before every
tool call, so they must not pay for importing the whole CLI (rich, every model, argparse's full
tree). This module recognises their plain forms and runs them directly; everything else (and
``--help``, ``--install``) goes to :func:`cost_mcp.cli.main`, which also knows both commands.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def fast(argv: Sequence[str]) -> int | None:
    """Run a plain ``statusline [--fields X]`` or ``hook`` call; None when the full CLI is needed."""
    if list(argv) == ["hook"]:
        from cost_mcp.hooks import run as run_hook

        try:
            answer = run_hook(sys.stdin.read())
        except Exception as exc:  # a broken hook must never lock anyone out of their session
            sys.stderr.write(f"cost-mcp hook: {exc}\n")
            return 0
        if answer.stdout:
            sys.stdout.write(answer.stdout + "\n")
        return answer.exit_code
    if argv[:1] == ["statusline"] and (len(argv) == 1 or (len(argv) == 3 and argv[1] == "--fields")):
        from cost_mcp.statusline import fields_from
        from cost_mcp.statusline import run as run_statusline

        if len(argv) == 3:
            try:
                fields_from(argv[2])
            except ValueError as exc:  # a bad argument (exit 2, as README says), named where it shows
                sys.stderr.write(f"cost-mcp statusline: {exc}\n")
                sys.stdout.write(f"cost-mcp: {exc}\n")
                return 2
        try:
            line = run_statusline(sys.stdin.read(), fields=argv[2] if len(argv) == 3 else None)
        except Exception as exc:  # the status line shows a short hint; the detail goes to stderr
            code, said = _statusline_failure(exc)
            sys.stderr.write(f"cost-mcp statusline: {said}\n")
            sys.stdout.write("cost-mcp: error (run `cost-mcp doctor`)\n")
            return code
        sys.stdout.write(line + "\n")
        return 0
    return None


def _statusline_failure(exc: Exception) -> tuple[int, str]:
    """The exit code and stderr detail of a status line that failed with ``exc``, as the full CLI
    gives them (README's exit codes): 2 for a ledger that cannot be used, a bad setting or bad
    input, each explained; 1 for anything else (a bug). This path exited 1 for all of them, where
    ``cost-mcp statusline`` through the full CLI exited 2 for the same ledger."""
    import sqlite3

    from cost_mcp.errors import CostMcpError

    if isinstance(exc, CostMcpError | ValueError):  # ValueError: a bad COST_MCP_STATUSLINE_FIELDS
        return 2, str(exc)
    if isinstance(exc, sqlite3.Error):
        from cost_mcp.core_settings import load_core_settings
        from cost_mcp.store.connection import explain

        return 2, explain(load_core_settings().db, exc)
    return 1, str(exc)


def _cold_ingest(args: Sequence[str]) -> None:
    """For an ingest that reads every file (``--full``, or a ledger file not made yet), fork the
    parse worker before the CLI's imports (:func:`cost_mcp.sources.claude_code.stand_by`): it
    loads the price data while this process starts. Any other ingest forks it, if the read is
    large, after the walk as before: the worker's start costs a small read more than it saves."""
    if any(a == "--help" or a.startswith("--forget") for a in args):
        return
    if "--full" not in args:
        from pathlib import Path

        from cost_mcp.core_settings import load_core_settings

        try:
            db = load_core_settings().db
        except Exception:
            return  # the CLI reads the settings again and says what is wrong
        if not isinstance(db, Path) or db.exists():
            return
    from cost_mcp.sources import claude_code

    claude_code.stand_by()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `cost-mcp` command."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        done = fast(args)
        if done is not None:
            return done
        if args[:1] == ["ingest"]:
            _cold_ingest(args[1:])
        from cost_mcp.cli import main as cli_main

        return cli_main(args)
    except KeyboardInterrupt:
        # Ctrl-C in the first fraction of a second, while the CLI is still being imported (before
        # it handles one itself): it was a traceback of the import machinery. As the CLI says it.
        sys.stderr.write("aborted\n")
        return 130
