"""Claude Code's settings.json: where it is, and adding our status line and hooks to it.

Edits are shown as a unified diff before they are written, keep every other key as it was, and
are written atomically (temp file + rename) so a crash never leaves half a settings file. They go to
the file a symlink points to (a settings.json kept in a dotfiles repository stays linked), keep the
file's permissions, and refuse a file its owner made read-only.
"""

from __future__ import annotations

import difflib
import json
import os
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cost_mcp.errors import InvalidInputError
from cost_mcp.files import NotRegularFileError, read_regular_file

Scope = Literal["user", "project"]
HOOK_EVENTS: tuple[str, ...] = ("UserPromptSubmit", "PreToolUse")


def settings_path(scope: Scope, claude_roots: list[Path], cwd: Path) -> Path:
    """``<first Claude folder>/settings.json`` for the user, ``<cwd>/.claude/settings.json`` for a project.

    The user's folder is the first configured Claude folder that exists (``CLAUDE_CONFIG_DIR`` or
    ``~/.claude``), else the last default (``~/.claude``), which Claude Code creates.
    """
    if scope == "project":
        return cwd / ".claude" / "settings.json"
    existing = [root for root in claude_roots if root.is_dir()]
    return (existing[0] if existing else claude_roots[-1]) / "settings.json"


@dataclass(frozen=True)
class Edit:
    """A planned change to one settings file."""

    path: Path
    before: str
    after: str

    @property
    def changed(self) -> bool:
        """Whether writing would change anything."""
        return self.before != self.after

    @property
    def target(self) -> Path:
        """The file written: where ``path`` leads when it is a symlink, so the link stays."""
        return Path(os.path.realpath(self.path))

    def read_only(self) -> bool:
        """Whether the file exists with no write permission for its owner: made so on purpose, and
        a rename would replace it anyway, so it is not written."""
        try:
            return not os.stat(self.target).st_mode & stat.S_IWUSR
        except FileNotFoundError:
            return False

    def diff(self) -> str:
        """The change as a unified diff."""
        return "".join(
            difflib.unified_diff(
                self.before.splitlines(keepends=True),
                self.after.splitlines(keepends=True),
                fromfile=str(self.path),
                tofile=str(self.path),
            )
        )

    def write(self) -> None:
        """Replace the file atomically with the new content."""
        _replace(self.target, self.after.encode("utf-8"))


def _replace(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` atomically, keeping its permissions when it exists (a new file
    gets mkstemp's owner-only ones)."""
    try:
        mode: int | None = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = None
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".settings-", suffix=".json")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def plan(path: Path, change: Callable[[dict[str, Any]], None]) -> Edit:
    """Read a settings file (missing: empty), apply ``change`` to its object, and say what it becomes.

    Raises InvalidInputError when the file is not a JSON object, rather than overwrite it.
    """
    try:
        # Not read_text: a pipe at the path would make `cost-mcp setup` wait for a writer forever.
        raw = read_regular_file(path)
    except FileNotFoundError:
        raw = b""
    except NotRegularFileError:
        raise InvalidInputError(
            f"{path} is not a regular file (a pipe, socket or device): remove it, then run this again"
        ) from None
    # Newlines read as read_text reads them, so a CRLF file already set up is not rewritten.
    before = raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    try:
        data = json.loads(before) if before.strip() else {}
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"{path} is not valid JSON ({exc}); fix it by hand, then run this again"
        ) from None
    if not isinstance(data, dict):
        raise InvalidInputError(f"{path} does not hold a JSON object; fix it by hand, then run this again")
    change(data)
    return Edit(path, before, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def set_statusline(command: str) -> Callable[[dict[str, Any]], None]:
    """A change that makes ``command`` Claude Code's status line."""

    def change(data: dict[str, Any]) -> None:
        data["statusLine"] = {"type": "command", "command": command, "padding": 0}

    return change


def add_hooks(command: str) -> Callable[[dict[str, Any]], None]:
    """A change that runs ``command`` on UserPromptSubmit and PreToolUse, once each, keeping other hooks."""

    def change(data: dict[str, Any]) -> None:
        hooks = data.setdefault("hooks", {})
        if not isinstance(hooks, dict):
            raise InvalidInputError("settings 'hooks' is not an object; fix it by hand, then run this again")
        for event in HOOK_EVENTS:
            groups = hooks.setdefault(event, [])
            if not isinstance(groups, list):
                raise InvalidInputError(
                    f"settings hooks.{event} is not a list; fix it by hand, then run this again"
                )
            present = any(
                isinstance(g, dict)
                and any(isinstance(h, dict) and h.get("command") == command for h in g.get("hooks", []))
                for g in groups
            )
            if not present:
                entry: dict[str, Any] = {"hooks": [{"type": "command", "command": command, "timeout": 10}]}
                if event == "PreToolUse":
                    entry = {"matcher": "*", **entry}
                groups.append(entry)

    return change
