"""Builders for Claude Code log lines, so each test states its case in a few readable lines."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "claude_code"
SONNET = "claude-sonnet-4-5-20250929"


def usage(
    input: int = 4,
    output: int = 100,
    cache_read: int = 0,
    write_5m: int = 0,
    write_1h: int = 0,
    web_searches: int | None = None,
) -> dict[str, Any]:
    """A usage object as Claude Code writes it."""
    u: dict[str, Any] = {
        "input_tokens": input,
        "cache_creation_input_tokens": write_5m + write_1h,
        "cache_read_input_tokens": cache_read,
        "cache_creation": {"ephemeral_5m_input_tokens": write_5m, "ephemeral_1h_input_tokens": write_1h},
        "output_tokens": output,
        "service_tier": "standard",
    }
    if web_searches is not None:
        u["server_tool_use"] = {"web_search_requests": web_searches}
    return u


def assistant(
    message_id: str,
    request_id: str | None,
    ts: str,
    session: str = "s1",
    model: str = SONNET,
    sidechain: bool = False,
    **tokens: Any,
) -> dict[str, Any]:
    """An assistant line carrying usage."""
    line: dict[str, Any] = {
        "parentUuid": None,
        "isSidechain": sidechain,
        "type": "assistant",
        "sessionId": session,
        "timestamp": ts,
        "message": {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": "ok"}],
            "usage": usage(**tokens),
        },
    }
    if request_id is not None:
        line["requestId"] = request_id
    return line


def progress(inner: dict[str, Any], session: str = "s1") -> dict[str, Any]:
    """A parent-session line that mirrors a subagent's assistant line."""
    return {
        "type": "progress",
        "sessionId": session,
        "timestamp": inner["timestamp"],
        "data": {"type": "agent_progress", "message": inner},
    }


def user(ts: str, session: str = "s1", size: int = 200) -> dict[str, Any]:
    """A user line with a tool result, no usage."""
    return {
        "type": "user",
        "sessionId": session,
        "timestamp": ts,
        "message": {"role": "user", "content": [{"type": "tool_result", "content": "x" * size}]},
    }


def encode(line: dict[str, Any]) -> str:
    """Compact JSON, as Claude Code writes it."""
    return json.dumps(line, separators=(",", ":"))


def write(path: Path, *lines: dict[str, Any], append: bool = False) -> Path:
    """Write lines as JSONL (one per line, each ending in a newline)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a" if append else "w", encoding="utf-8") as f:
        for line in lines:
            f.write(encode(line) + "\n")
    return path


def session_file(claude: Path, session: str, project: str = "-home-dev-app") -> Path:
    """Where Claude Code keeps a session's log."""
    return claude / "projects" / project / f"{session}.jsonl"


def a_call_and_a_project_to_hide(claude: Path) -> Path:
    """Two sessions of one call each, a minute ago, the second in a project of its own: the folder
    returned, for a test to make unreadable (``chmod(0)``) as a log the last read could not open."""
    from datetime import UTC, datetime, timedelta

    now = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    write(session_file(claude, "s1"), assistant("m1", "r1", now, input=1000, output=100))
    hidden = session_file(claude, "s2", "-home-dev-secret")
    return write(hidden, assistant("m2", "r2", now, input=1000, output=100)).parent


def read_without(hidden: Path) -> None:
    """A reader checks every log (`cost-mcp report`, as a process for which folders' modes hold)
    while ``hidden`` cannot be opened: the ledger then says the last read could not open it, which
    this process (root, in CI) would not find. ``hidden`` is readable again after."""
    hidden.chmod(0)
    try:
        command = [*permissions_hold(), sys.executable, "-m", "cost_mcp", "report"]
        subprocess.run(command, check=True, capture_output=True)
    finally:
        hidden.chmod(0o755)


def copy_fixture(name: str, claude: Path, project: str = "-home-dev-app") -> Path:
    """Put a static fixture file into a Claude folder as a session log."""
    dest = claude / "projects" / project / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURES / name, dest)
    return dest


def permissions_hold() -> tuple[str, ...]:
    """A command prefix under which file permissions hold: root, without the two capabilities that
    let it read any folder, is refused a folder of mode 000 as any user is."""
    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv") is None:
        pytest.skip("root ignores file permissions and util-linux's setpriv is missing")
    return ("setpriv", "--bounding-set=-dac_override,-dac_read_search")
