"""Where other coding agents keep their logs, read without pydantic.

``cost-mcp ingest`` on a machine with no Claude Code folder reads the other agents' folders, and is
timed against ccusage: it must not pay for pydantic-settings (~0.13 s) to learn ``CODEX_HOME``.
:class:`AgentFolderPaths` is the one definition of how each agent's folder is found; both
:class:`cost_mcp.config.Settings` (whose fields these are, with their descriptions) and
:class:`AgentFolders` (read by :func:`load_agent_folders` from the same variables) inherit it.
``tests/sources/test_agent_homes.py`` holds the two readers equal.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cost_mcp.core_settings import merged_env

AGENT_FOLDER_VARIABLES: dict[str, tuple[str, ...]] = {
    "codex_home": ("CODEX_HOME",),
    "gemini_dir": ("GEMINI_DIR",),
    "gemini_cli_home": ("GEMINI_CLI_HOME",),
    "opencode_data_dir": ("OPENCODE_DATA_DIR",),
    "amp_data_dir": ("AMP_DATA_DIR",),
    "qwen_runtime_dir": ("QWEN_RUNTIME_DIR",),
    "qwen_home": ("QWEN_HOME",),
    "goose_path_root": ("GOOSE_PATH_ROOT",),
    "hermes_home": ("HERMES_HOME",),
    "vscode_user_dirs": ("COST_MCP_VSCODE_USER_DIRS",),
    "cline_data_dir": ("CLINE_DATA_DIR",),
    "cline_dir": ("CLINE_DIR",),
    "cline_session_data_dir": ("CLINE_SESSION_DATA_DIR",),
    "copilot_home": ("COPILOT_HOME",),
    "copilot_otel_dir": ("COST_MCP_COPILOT_OTEL_DIR",),
    "copilot_otel_file": ("COPILOT_OTEL_FILE_EXPORTER_PATH",),
    "pi_coding_agent_dir": ("PI_CODING_AGENT_DIR",),
    "kimi_share_dir": ("KIMI_SHARE_DIR",),
    "codebuff_dirs": ("COST_MCP_CODEBUFF_DIRS", "CODEBUFF_DATA_DIR"),
    "crush_global_data": ("CRUSH_GLOBAL_DATA",),
    "droid_sessions_dirs": ("COST_MCP_DROID_SESSIONS_DIRS", "DROID_SESSIONS_DIR"),
    "kilo_data_dir": ("KILO_DATA_DIR",),
    "openclaw_state_dir": ("OPENCLAW_STATE_DIR", "CLAWDBOT_STATE_DIR"),
}
"""Each agent folder setting (a Settings field) and the variables it is read from, first wins."""


class AgentFolderPaths:
    """Each agent's folders from the raw settings: shared by Settings and :class:`AgentFolders`."""

    if TYPE_CHECKING:
        codex_home: str | None
        gemini_dir: str | None
        gemini_cli_home: str | None
        opencode_data_dir: str | None
        amp_data_dir: str | None
        qwen_runtime_dir: str | None
        qwen_home: str | None
        goose_path_root: str | None
        hermes_home: str | None
        vscode_user_dirs: str | None
        cline_data_dir: str | None
        cline_dir: str | None
        cline_session_data_dir: str | None
        copilot_home: str | None
        copilot_otel_dir: str | None
        copilot_otel_file: str | None
        pi_coding_agent_dir: str | None
        kimi_share_dir: str | None
        codebuff_dirs: str | None
        crush_global_data: str | None
        droid_sessions_dirs: str | None
        kilo_data_dir: str | None
        openclaw_state_dir: str | None

    def codex_home_dir(self) -> Path:
        """Codex CLI's home: CODEX_HOME, else ~/.codex."""
        return Path(self.codex_home).expanduser() if self.codex_home else Path.home() / ".codex"

    def gemini_dir_path(self) -> Path:
        """Gemini CLI's folder: GEMINI_DIR, else ``.gemini`` in the home Gemini CLI uses:
        GEMINI_CLI_HOME when set (its ``homedir()``, ``packages/core/src/utils/paths.ts``), else ~."""
        if self.gemini_dir:
            return Path(self.gemini_dir).expanduser()
        home = Path(self.gemini_cli_home).expanduser() if self.gemini_cli_home else Path.home()
        return home / ".gemini"

    def amp_data_path(self) -> Path:
        """Amp's data folder: AMP_DATA_DIR, else ~/.local/share/amp."""
        return (
            Path(self.amp_data_dir).expanduser()
            if self.amp_data_dir
            else Path.home() / ".local" / "share" / "amp"
        )

    def qwen_runtime_path(self) -> Path:
        """The folder Qwen Code keeps its sessions in: QWEN_RUNTIME_DIR, else its own folder
        (QWEN_HOME, else ~/.qwen), as ``Storage.getRuntimeBaseDir`` finds it."""
        for value in (self.qwen_runtime_dir, self.qwen_home):
            if value:
                return Path(value).expanduser()
        return Path.home() / ".qwen"

    def goose_sessions_path(self) -> Path:
        """Goose's sessions folder (``sessions.db``): ``data/sessions`` in GOOSE_PATH_ROOT when that
        is an absolute path (Goose ignores a relative one), else ``goose/sessions`` in the XDG data
        folder (XDG_DATA_HOME, else ~/.local/share) on Linux and macOS alike, ``Block/goose/data/
        sessions`` in %APPDATA% on Windows: Goose's ``Paths::data_dir`` (etcetera's
        ``choose_app_strategy``, XDG everywhere but Windows)."""
        # As Goose takes it: no ``~`` expanded, a relative path ignored (``validated_path_root``).
        root = Path(self.goose_path_root) if self.goose_path_root else None
        if root is not None and root.is_absolute():
            return root / "data" / "sessions"
        if sys.platform == "win32":
            appdata = os.environ.get("APPDATA")
            base = Path(appdata) if appdata else Path.home() / "AppData" / "Roaming"
            return base / "Block" / "goose" / "data" / "sessions"
        xdg = os.environ.get("XDG_DATA_HOME")
        return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "goose" / "sessions"

    def hermes_root_path(self) -> Path:
        """Hermes Agent's root home, whose ``state.db`` and ``profiles/<name>/state.db`` hold its
        sessions: HERMES_HOME, else ``~/.hermes`` (``hermes`` in %LOCALAPPDATA% on Windows) with
        HERMES_DATA_DIR_SUFFIX appended, as ``hermes_constants.get_hermes_home`` finds it. A
        HERMES_HOME naming one profile's home (``<root>/profiles/<name>``) gives its root, as
        ``get_default_hermes_root`` does, so every profile is read and none twice."""
        value = (self.hermes_home or "").strip()
        if value:
            home = Path(value)
            return home.parent.parent if home.parent.name == "profiles" else home
        suffix = os.environ.get("HERMES_DATA_DIR_SUFFIX", "")
        if sys.platform == "win32":
            local = os.environ.get("LOCALAPPDATA", "").strip()
            return (Path(local) if local else Path.home() / "AppData" / "Local") / ("hermes" + suffix)
        return Path.home() / (".hermes" + suffix)

    def copilot_dir(self) -> Path:
        """Copilot CLI's folder: COPILOT_HOME, which moves all of it, else ~/.copilot."""
        return Path(self.copilot_home).expanduser() if self.copilot_home else Path.home() / ".copilot"

    def copilot_otel_paths(self) -> list[Path]:
        """Copilot CLI's OTel exports: the folder (COST_MCP_COPILOT_OTEL_DIR, else otel in
        :meth:`copilot_dir`) and the exporter's own file (COPILOT_OTEL_FILE_EXPORTER_PATH) when set."""
        folder = (
            Path(self.copilot_otel_dir).expanduser() if self.copilot_otel_dir else self.copilot_dir() / "otel"
        )
        file = self.copilot_otel_file.strip() if self.copilot_otel_file else ""
        return [folder, Path(file).expanduser()] if file else [folder]

    def pi_agent_path(self) -> Path:
        """Pi's agent folder: PI_CODING_AGENT_DIR (``~`` expanded, as Pi's ``getAgentDir`` does),
        else ~/.pi/agent."""
        if self.pi_coding_agent_dir:
            return Path(self.pi_coding_agent_dir).expanduser()
        return Path.home() / ".pi" / "agent"

    def kimi_share_path(self) -> Path:
        """Kimi CLI's folder: KIMI_SHARE_DIR (as Kimi's ``get_share_dir``), else ~/.kimi."""
        return Path(self.kimi_share_dir).expanduser() if self.kimi_share_dir else Path.home() / ".kimi"

    def codebuff_paths(self) -> list[Path]:
        """Codebuff's folders: COST_MCP_CODEBUFF_DIRS (comma-separated), else ~/.config/manicode, as
        Codebuff's ``getConfigDir`` makes it (``-<environment>`` appended by a dev or staging build)."""
        if self.codebuff_dirs is not None:
            return [Path(p.strip()).expanduser() for p in self.codebuff_dirs.split(",") if p.strip()]
        return [Path.home() / ".config" / f"manicode{build}" for build in ("", "-dev", "-staging")]

    def droid_sessions_paths(self) -> list[Path]:
        """Factory Droid's session folders: COST_MCP_DROID_SESSIONS_DIRS (comma-separated), else
        ~/.factory/sessions, the folder Factory's SDK lists the CLI's sessions in
        (``getDefaultSessionsDir``; ``%USERPROFILE%\\.factory`` on Windows)."""
        if self.droid_sessions_dirs is not None:
            return [Path(p.strip()).expanduser() for p in self.droid_sessions_dirs.split(",") if p.strip()]
        return [Path.home() / ".factory" / "sessions"]

    def kilo_data_path(self) -> Path:
        """Kilo CLI's data folder: KILO_DATA_DIR, else ``kilo`` in XDG_DATA_HOME, else
        ~/.local/share/kilo: Kilo, an OpenCode fork, takes it from ``xdg-basedir`` on every OS as
        OpenCode does (:meth:`opencode_data_path`)."""
        if self.kilo_data_dir:
            return Path(self.kilo_data_dir).expanduser()
        xdg = os.environ.get("XDG_DATA_HOME")
        return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "kilo"

    def crush_data_path(self) -> Path:
        """Crush's global data folder: CRUSH_GLOBAL_DATA, else ``crush`` in XDG_DATA_HOME, else
        ~/.local/share/crush (``%LOCALAPPDATA%\\crush`` on Windows), as Crush's ``GlobalConfigData``
        finds it."""
        if self.crush_global_data:
            return Path(self.crush_global_data).expanduser()
        xdg = os.environ.get("XDG_DATA_HOME")
        if xdg:
            return Path(xdg) / "crush"
        if sys.platform == "win32":
            local = os.environ.get("LOCALAPPDATA")
            return (Path(local) if local else Path.home() / "AppData" / "Local") / "crush"
        return Path.home() / ".local" / "share" / "crush"

    def openclaw_state_path(self) -> Path:
        """OpenClaw's state folder, as its ``resolveStateDir`` finds it: OPENCLAW_STATE_DIR (or
        CLAWDBOT_STATE_DIR), else ``~/.openclaw`` when it exists, else the first of its legacy
        folders that does, else ``~/.openclaw``; ``~`` is OPENCLAW_HOME when set (its own ``~``
        being the user's home), as OpenClaw's ``resolveRequiredHomeDir`` reads it."""
        explicit = os.environ.get("OPENCLAW_HOME", "").strip()
        home = Path(explicit).expanduser() if explicit else Path.home()
        override = (self.openclaw_state_dir or "").strip()
        if override == "~" or override.startswith("~/"):
            return home / override[2:]
        if override:
            return Path(override).absolute()
        folders = [home / name for name in (".openclaw", ".clawdbot", ".moldbot", ".moltbot")]
        return next((f for f in folders if f.exists()), folders[0])

    def vscode_user_paths(self) -> list[Path]:
        """VS Code user folders (``.../User``): COST_MCP_VSCODE_USER_DIRS, else every editor's default
        one on this OS (see :func:`vscode_user_dirs`)."""
        if self.vscode_user_dirs is not None:
            return [Path(p.strip()).expanduser() for p in self.vscode_user_dirs.split(",") if p.strip()]
        return vscode_user_dirs()

    def cline_data_path(self) -> Path:
        """The Cline CLI's data folder: CLINE_DATA_DIR, else ``data`` in Cline's folder (CLINE_DIR,
        else ~/.cline), as Cline's ``resolveClineDataDir`` finds it."""
        if self.cline_data_dir:
            return Path(self.cline_data_dir).expanduser()
        cline_dir = Path(self.cline_dir).expanduser() if self.cline_dir else Path.home() / ".cline"
        return cline_dir / "data"

    def cline_sessions_path(self) -> Path:
        """Cline 4.x's session store: CLINE_SESSION_DATA_DIR, else the data folder's ``sessions``."""
        if self.cline_session_data_dir:
            return Path(self.cline_session_data_dir).expanduser()
        return self.cline_data_path() / "sessions"

    def opencode_data_path(self) -> Path:
        """OpenCode's data folder: OPENCODE_DATA_DIR, else ``opencode`` in XDG_DATA_HOME, else
        ~/.local/share/opencode. OpenCode takes its folder from ``xdg-basedir`` on every OS
        (``XDG_DATA_HOME`` when set, else ``~/.local/share``), so a user who sets it keeps
        OpenCode's database there."""
        if self.opencode_data_dir:
            return Path(self.opencode_data_dir).expanduser()
        xdg = os.environ.get("XDG_DATA_HOME")
        return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "opencode"


@dataclass(frozen=True)
class AgentFolders(AgentFolderPaths):
    """The agent folder settings alone: what reading other agents' logs needs from settings."""

    codex_home: str | None = None
    gemini_dir: str | None = None
    gemini_cli_home: str | None = None
    opencode_data_dir: str | None = None
    amp_data_dir: str | None = None
    qwen_runtime_dir: str | None = None
    qwen_home: str | None = None
    goose_path_root: str | None = None
    hermes_home: str | None = None
    vscode_user_dirs: str | None = None
    cline_data_dir: str | None = None
    cline_dir: str | None = None
    cline_session_data_dir: str | None = None
    copilot_home: str | None = None
    copilot_otel_dir: str | None = None
    copilot_otel_file: str | None = None
    pi_coding_agent_dir: str | None = None
    kimi_share_dir: str | None = None
    codebuff_dirs: str | None = None
    crush_global_data: str | None = None
    droid_sessions_dirs: str | None = None
    kilo_data_dir: str | None = None
    openclaw_state_dir: str | None = None


def load_agent_folders(
    environ: Mapping[str, str] | None = None, env_file: Path | None = None
) -> AgentFolders:
    """The agent folder settings from the environment, then the env file, as Settings reads them
    (the first of a setting's variables that is set, its text as given)."""
    env = merged_env(environ, env_file)
    values = {
        field: next((env[name] for name in names if name in env), None)
        for field, names in AGENT_FOLDER_VARIABLES.items()
    }
    return AgentFolders(**values)


VSCODE_EDITORS = ("Code", "Code - Insiders", "VSCodium", "Cursor", "Windsurf")
"""VS Code and the forks people run Cline-family extensions in, by their user-data folder name."""


def vscode_user_dirs() -> list[Path]:
    """Every editor's ``User`` folder where VS Code keeps it on this OS (``~/.config/<editor>/User``
    on Linux, ``~/Library/Application Support/<editor>/User`` on macOS, ``%APPDATA%/<editor>/User``
    on Windows), and VS Code Server's (Remote-SSH, WSL, Codespaces)."""
    home = Path.home()
    if sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    elif sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or home / "AppData" / "Roaming")
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    dirs = [base / editor / "User" for editor in VSCODE_EDITORS]
    dirs += [home / server / "data" / "User" for server in (".vscode-server", ".vscode-server-insiders")]
    return dirs
