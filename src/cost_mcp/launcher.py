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
        return statusline(argv[2] if len(argv) == 3 else None)
    return None


def statusline(fields: str | None) -> int:
    """Print the status line for Claude Code's status JSON on stdin, with ``fields`` (None: every
    field); the exit code, 0 even when it fails (:func:`statusline_failed`). The fast path's and the
    full CLI's ``statusline`` both run this."""
    from cost_mcp.statusline import fields_from, run

    if fields is not None:
        try:
            fields_from(fields)
        except ValueError as exc:  # a bad argument, named where it shows
            return statusline_failed(exc, f"cost-mcp: {exc}")
    try:
        line = run(sys.stdin.read(), fields=fields)
    except Exception as exc:  # the status line shows a short hint; the detail goes to stderr
        return statusline_failed(exc)
    sys.stdout.write(line + "\n")
    return 0


STATUSLINE_FAILED = "cost-mcp: error (run `cost-mcp doctor`)"
"""The status line's own line when it cannot say what was spent: doctor says why."""


def statusline_failed(exc: Exception, shown: str = STATUSLINE_FAILED) -> int:
    """Show ``shown`` as the status line and ``exc`` explained on stderr; the exit code, 0.

    A status line that fails exits 0 (README's one exception to its exit codes): Claude Code blanks
    the whole status row when the command exits otherwise (anthropics/claude-code#76380, #95759),
    so a status line that exited 2 with its hint showed nothing, and a user never learnt to run
    doctor. The same for the fast path and the full CLI's ``statusline``."""
    import sqlite3

    said = str(exc)
    if isinstance(exc, sqlite3.Error):
        from cost_mcp.core_settings import load_core_settings
        from cost_mcp.store.connection import explain

        said = explain(load_core_settings().db, exc)
    sys.stderr.write(f"cost-mcp statusline: {said}\n")
    sys.stdout.write(shown + "\n")
    return 0


def _cold_ingest(args: Sequence[str]) -> None:
    """For an ingest that reads every file (``--full``, or a ledger file not made yet), fork the
    parse worker before the CLI's imports (:func:`cost_mcp.sources.claude_code.stand_by`): it
    loads the price data while this process starts. Not when no Claude Code folder exists (only
    other agents' logs to read: it would be ended unused). Any other ingest forks it, if the read
    is large, after the walk as before: the worker's start costs a small read more than it saves."""
    if any(a == "--help" or a.startswith("--forget") for a in args):
        return
    from pathlib import Path

    from cost_mcp.core_settings import load_core_settings

    try:
        settings = load_core_settings()
    except Exception:
        return  # the CLI reads the settings again and says what is wrong
    if "--full" not in args and (not isinstance(settings.db, Path) or settings.db.exists()):
        return
    paths = [a for a in args if not a.startswith("-")]
    # The folders Claude Code's reader walks (claude_code.ingest), without importing it yet.
    folders = [r if r.name == "projects" else r / "projects" for r in settings.claude_roots()]
    if not paths and not any(folder.is_dir() for folder in folders):
        # No Claude Code log to read (a Codex user's home, say): the worker loaded the price data
        # for nothing, ~0.08 s of CPU beside a start that has none to spare on a busy machine.
        return
    from cost_mcp.sources import claude_code

    claude_code.stand_by()
    if "--full" in args and not paths:
        # After Claude Code's read, `ingest --full` reads the other agents' folders (cli/data.py):
        # importing their readers (~0.03 s of CPU) was on the command's tail, after the last write,
        # where nothing runs beside it. Here it runs while the worker loads its price data, which
        # takes longer than this process's start (bench/README, issue 18, eighteenth round).
        from cost_mcp.sources import agents  # noqa: F401


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
