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
        from cost_mcp.statusline import run as run_statusline

        try:
            line = run_statusline(sys.stdin.read(), fields=argv[2] if len(argv) == 3 else None)
        except Exception as exc:  # the status line shows a short hint; the detail goes to stderr
            sys.stderr.write(f"cost-mcp statusline: {exc}\n")
            sys.stdout.write("cost-mcp: error (run `cost-mcp doctor`)\n")
            return 1
        sys.stdout.write(line + "\n")
        return 0
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `cost-mcp` command."""
    args = sys.argv[1:] if argv is None else list(argv)
    done = fast(args)
    if done is not None:
        return done
    from cost_mcp.cli import main as cli_main

    return cli_main(args)
