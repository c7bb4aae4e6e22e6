"""Claude Code's settings.json: where it is, and adding our status line and hooks to it, or taking
them out again.

Edits are shown as a unified diff before they are written, keep every other key as it was, and
are written atomically (temp file + rename) so a crash never leaves half a settings file. They go to
the file a symlink points to (a settings.json kept in a dotfiles repository stays linked), keep the
file's permissions, and refuse a file its owner made read-only.

The first change keeps the file as it was beside it (:data:`BACKUP_SUFFIX`). Undoing both changes
puts that copy back byte for byte (key order, indentation) and removes it, and undoing the status
line gives back the one ours replaced. A file that holds only what cost-mcp added is not kept (it
is not the user's), and once nothing is left in it, it goes, with the folder it leaves empty.
"""

from __future__ import annotations

import copy
import difflib
import json
import os
import shlex
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
BACKUP_SUFFIX = ".before-cost-mcp"
"""Suffix of the copy of a settings file as it was before cost-mcp first changed it."""


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
    raw: bytes | None = None
    """The file's bytes as read; None when there was no file."""
    restore: bytes | None = None
    """Bytes to write instead of ``after`` (the backup, when the change gives back what it holds)."""
    remove: bool = False
    """Delete the file instead (an undo that leaves nothing in a file cost-mcp created)."""
    ours: bool = False
    """The file as read holds only what cost-mcp added: no copy of it is kept before the change."""

    @property
    def changed(self) -> bool:
        """Whether writing would change anything."""
        return self.before != self.after

    @property
    def target(self) -> Path:
        """The file written: where ``path`` leads when it is a symlink, so the link stays."""
        return Path(os.path.realpath(self.path))

    @property
    def backup(self) -> Path:
        """Where the file as it was before cost-mcp's first change is kept."""
        return self.target.with_name(self.target.name + BACKUP_SUFFIX)

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

    def write(self) -> list[str]:
        """Make the change: replace the file atomically (or give back its backup, or delete it), keep
        a backup of it first when cost-mcp never changed it before; what was done beyond the change,
        for a person."""
        target, backup, done = self.target, self.backup, []
        if self.remove:
            target.unlink(missing_ok=True)
            backup.unlink(missing_ok=True)
            done = [f"removed {self.path}: it held nothing but what cost-mcp added"]
            # The folder an install made for the file (a project's .claude/): left empty, it goes too.
            folder = self.path.parent
            if not os.path.lexists(self.path):
                try:
                    folder.rmdir()
                except OSError:
                    pass  # not empty (or not ours to remove): it stays
                else:
                    done.append(f"removed {folder}: the folder held nothing else")
            return done
        if self.restore is not None:
            _replace(target, self.restore)
            backup.unlink()
            return [f"{self.path} is again as it was before cost-mcp changed it ({backup.name} removed)"]
        # `is not None`: a 0-byte file is the user's too, and an undo must give it back.
        if self.raw is not None and not self.ours and not backup.exists():
            _replace(backup, self.raw, like=target)
            done.append(f"kept the file as it was in {backup}")
        _replace(target, self.after.encode("utf-8"))
        return done


def _replace(path: Path, content: bytes, like: Path | None = None) -> None:
    """Write ``content`` to ``path`` atomically, with the permissions of ``like`` (default: of
    ``path`` itself when it exists; mkstemp's owner-only ones for a new file)."""
    try:
        mode: int | None = stat.S_IMODE(os.stat(like or path).st_mode)
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


def _read(path: Path) -> bytes | None:
    """The settings file's bytes, None when there is none."""
    try:
        # Not read_text: a pipe at the path would make `cost-mcp setup` wait for a writer forever.
        return read_regular_file(path)
    except FileNotFoundError:
        return None
    except NotRegularFileError:
        raise InvalidInputError(
            f"{path} is not a regular file (a pipe, socket or device): remove it, then run this again"
        ) from None


def _object(path: Path, raw: bytes | None) -> tuple[str, dict[str, Any]]:
    """The file's text (newlines as read_text reads them) and its JSON object ({} when empty)."""
    try:
        text = (raw or b"").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"{path} is not UTF-8 text ({exc}); fix it by hand, then run this again"
        ) from None
    # Newlines read as read_text reads them, so a CRLF file already set up is not rewritten.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"{path} is not valid JSON ({exc}); fix it by hand, then run this again"
        ) from None
    if not isinstance(data, dict):
        raise InvalidInputError(f"{path} does not hold a JSON object; fix it by hand, then run this again")
    return text, data


def plan(path: Path, change: Callable[[dict[str, Any]], None]) -> Edit:
    """Read a settings file (missing: empty), apply ``change`` to its object, and say what it becomes.

    Raises InvalidInputError when the file is not a JSON object, rather than overwrite it.
    """
    raw = _read(path)
    before, data = _object(path, raw)
    ours = _only_ours(data)
    change(data)
    return Edit(path, before, json.dumps(data, indent=2, ensure_ascii=False) + "\n", raw, ours=ours)


def plan_undo(path: Path, subcommand: str) -> Edit:
    """What taking cost-mcp's ``statusline`` or ``hook`` out of a settings file gives: every entry
    that runs any cost-mcp's ``subcommand`` removed; the status line ours replaced given back (from
    the backup); the backup's very bytes when nothing else changed since; no file when nothing is
    left in one cost-mcp created."""
    raw = _read(path)
    before, data = _object(path, raw)
    original = copy.deepcopy(data)
    edit = Edit(path, before, before, raw)
    backup_raw = _read(edit.backup)
    kept: dict[str, Any] | None = None
    if backup_raw is not None:
        try:
            _, kept = _object(edit.backup, backup_raw)
        except InvalidInputError:
            kept = None  # a backup edited into something else: give nothing back from it
    if subcommand == "statusline":
        line = data.get("statusLine")
        if isinstance(line, dict) and is_ours(line.get("command"), subcommand):
            earlier = (kept or {}).get("statusLine")
            if isinstance(earlier, dict) and not is_ours(earlier.get("command"), subcommand):
                data["statusLine"] = earlier
            else:
                del data["statusLine"]
    else:
        _drop_hooks(data, lambda command: is_ours(command, subcommand))
    after = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if data == original:
        return edit  # nothing of ours in it: leave the file as it is, formatting and all
    if kept is not None and backup_raw is not None and data == kept:
        return Edit(path, before, backup_raw.decode("utf-8"), raw, restore=backup_raw)
    # A copy holding only cost-mcp's own entries (kept by an earlier version when the second
    # install changed a file the first had created) is no file of the user's to give back.
    if not data and (backup_raw is None or (kept is not None and _only_ours(kept))):
        return Edit(path, before, "", raw, remove=True)
    return Edit(path, before, after, raw, ours=_only_ours(original))


def _only_ours(data: dict[str, Any]) -> bool:
    """Whether a settings object holds cost-mcp's status line or hooks and nothing else."""
    rest = copy.deepcopy(data)
    line = rest.get("statusLine")
    if isinstance(line, dict) and is_ours(line.get("command"), "statusline"):
        del rest["statusLine"]
    _drop_hooks(rest, lambda command: is_ours(command, "hook"))
    return bool(data) and not rest


def is_ours(command: object, subcommand: str) -> bool:
    """Whether a settings command runs cost-mcp's ``subcommand``, from this or any other install
    (``/any/venv/bin/cost-mcp hook``, ``cost-mcp hook``)."""
    if not isinstance(command, str):
        return False
    try:
        words = shlex.split(command)
    except ValueError:
        return False
    return len(words) == 2 and Path(words[0]).name == "cost-mcp" and words[1] == subcommand


def _drop_hooks(data: dict[str, Any], drop: Callable[[object], bool]) -> None:
    """Remove the hook commands ``drop`` picks, then the groups, events and ``hooks`` that held
    nothing else (ones already empty are the user's and stay)."""
    hooks = data.get("hooks")
    if not isinstance(hooks, dict):
        return
    emptied = False
    for event in list(hooks):
        groups = hooks[event]
        if not isinstance(groups, list):
            continue
        left: list[Any] = []
        dropped = False
        for group in groups:
            inner = group.get("hooks") if isinstance(group, dict) else None
            if isinstance(inner, list) and any(isinstance(h, dict) and drop(h.get("command")) for h in inner):
                dropped = True
                kept = [h for h in inner if not (isinstance(h, dict) and drop(h.get("command")))]
                if kept:
                    left.append({**group, "hooks": kept})
            else:
                left.append(group)
        if dropped:
            hooks[event] = left
            if not left:
                del hooks[event]
                emptied = True
    if emptied and not hooks:
        del data["hooks"]


def set_statusline(command: str) -> Callable[[dict[str, Any]], None]:
    """A change that makes ``command`` Claude Code's status line."""

    def change(data: dict[str, Any]) -> None:
        data["statusLine"] = {"type": "command", "command": command, "padding": 0}

    return change


def add_hooks(command: str) -> Callable[[dict[str, Any]], None]:
    """A change that runs ``command`` on UserPromptSubmit and PreToolUse, once each, keeping other hooks."""

    subcommand = shlex.split(command)[-1]

    def change(data: dict[str, Any]) -> None:
        hooks = data.setdefault("hooks", {})
        if not isinstance(hooks, dict):
            raise InvalidInputError("settings 'hooks' is not an object; fix it by hand, then run this again")
        # An install from another folder (a venv made anew, pipx after pip) replaces its entries: both
        # would run on every prompt, the old one failing once its folder is gone.
        _drop_hooks(data, lambda other: other != command and is_ours(other, subcommand))
        hooks = data.setdefault("hooks", {})
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
