"""A user's own files and Claude Code's status-line input, odd or hostile: never waited on, never
breaking the line Claude Code shows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _cli(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``cost-mcp ARGS`` in a process of its own: one that hangs fails the test instead of the run."""
    return subprocess.run(
        [sys.executable, "-m", "cost_mcp", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "300", **env},
        timeout=60,
        check=False,
    )


def test_a_pipe_at_the_prices_file_path_is_named_not_waited_on(home: Path, tmp_path: Path) -> None:
    pipe = tmp_path / "prices.toml"
    os.mkfifo(pipe)
    ran = _cli("report", env={"COST_MCP_PRICES_FILE": str(pipe)})
    assert ran.returncode == 2, ran.stderr
    assert f"price override file {pipe} is not a regular file" in ran.stderr
    # The status line, which Claude Code runs on every prompt, still shows.
    line = _cli("statusline", env={"COST_MCP_PRICES_FILE": str(pipe)}, stdin="{}")
    assert line.returncode == 0 and "today" in line.stdout, line.stderr


def test_a_pipe_at_the_env_file_or_claude_settings_path_is_not_waited_on(home: Path, tmp_path: Path) -> None:
    pipe = tmp_path / "env"
    os.mkfifo(pipe)
    os.mkfifo(home / "claude" / "settings.json")
    ran = _cli("doctor", env={"COST_MCP_ENV_FILE": str(pipe)})
    assert f"{pipe} is not a regular file" in " ".join(ran.stdout.split()), ran.stdout + ran.stderr
    assert _cli("report", env={"COST_MCP_ENV_FILE": str(pipe)}).returncode == 0
