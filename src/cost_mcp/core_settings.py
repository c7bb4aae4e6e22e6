"""The few settings every process needs, read without pydantic: the ledger path, the timezone.

``cost-mcp statusline`` and ``cost-mcp hook`` run as a fresh process after every message in Claude
Code, and ``cost-mcp ingest`` is the first thing a user times against ccusage, so none of them can
pay for importing pydantic and pydantic-settings (most of a cold start).
:class:`cost_mcp.config.Settings` stays the one full definition of settings; this module holds the
pieces it shares with the hot path (the env file, the defaults, the timezone check, the Claude
folders) and :func:`load_core_settings`, which reads the same variables the same way for the few
fields the hot path needs. ``tests/test_statusline_hooks.py`` checks that both agree on the same
environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cost_mcp.files import NotRegularFileError, read_regular_file

if TYPE_CHECKING:
    from cost_mcp.config import Settings

APP_NAME = "cost-mcp"

WeekStart = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
CostMode = Literal["auto", "calculate", "display"]
ClaudeCodeBilling = Literal["api", "subscription"]
_COST_MODES: dict[str, CostMode] = {"auto": "auto", "calculate": "calculate", "display": "display"}
_WEEK_STARTS: dict[str, WeekStart] = {
    d: d for d in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
}
_BILLINGS: dict[str, ClaudeCodeBilling] = {"api": "api", "subscription": "subscription"}

MAX_LINE_BYTES = 64 * 1024 * 1024
"""COST_MCP_MAX_LINE_BYTES's default: the longest Claude Code log line read."""
MIN_LINE_BYTES = 1024
"""The smallest COST_MCP_MAX_LINE_BYTES accepted."""


# platformdirs is imported where a default is wanted: on the status line's hot path it is most of
# what importing this module costs, and a configured path does not need it.


def default_db() -> Path:
    """Where the ledger lives when COST_MCP_DB is not set."""
    import platformdirs

    return platformdirs.user_data_path(APP_NAME, appauthor=False) / "cost.db"


def default_prices_file() -> Path:
    """Where user price overrides live when COST_MCP_PRICES_FILE is not set."""
    import platformdirs

    return platformdirs.user_config_path(APP_NAME, appauthor=False) / "prices.toml"


def default_env_file() -> Path:
    """The optional env file read after the environment (the environment wins)."""
    override = os.environ.get("COST_MCP_ENV_FILE")
    if override:
        return Path(override)
    import platformdirs

    return platformdirs.user_config_path(APP_NAME, appauthor=False) / "env"


def system_timezone() -> str:
    """The machine's IANA timezone name, falling back to UTC when it cannot be told."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz:
        # TZ may name a zone file, as the C library reads it (":/usr/share/zoneinfo/Asia/Tokyo"):
        # that is the zone of its path, not a reason to fall back to the machine's.
        name = _zone_of_file(tz) if tz.startswith("/") else tz
        if name and is_zone(name):
            return name
    etc_timezone = Path("/etc/timezone")
    if etc_timezone.is_file():
        name = etc_timezone.read_text(encoding="utf-8").strip()
        if is_zone(name):
            return name
    localtime = Path("/etc/localtime")
    if localtime.is_symlink():
        name = _zone_of_file(str(localtime.resolve()))
        if name and is_zone(name):
            return name
    return "UTC"


def _zone_of_file(path: str) -> str | None:
    """The IANA name of a zoneinfo file's path (``.../zoneinfo/Europe/Paris``), if it is one."""
    marker = "zoneinfo/"
    return path.split(marker, 1)[1] if marker in path else None


def is_zone(name: str) -> bool:
    """Whether ``name`` is an IANA timezone this machine knows."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def claude_roots(claude_config_dir: str | None) -> list[Path]:
    """Configured Claude Code folders: CLAUDE_CONFIG_DIR entries, else the two default places."""
    if claude_config_dir and claude_config_dir.strip():
        return [Path(p.strip()).expanduser() for p in claude_config_dir.split(",") if p.strip()]
    xdg = os.environ.get("XDG_CONFIG_HOME")
    config_home = Path(xdg) if xdg else Path.home() / ".config"
    return [config_home / "claude", Path.home() / ".claude"]


# The whitespace pydantic strips around a number (Rust's char::is_whitespace): str.strip() would
# also take \x1c-\x1f, which pydantic refuses.
_NUMBER_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
_INTEGER = re.compile(r"[+-]?[0-9](?:_?[0-9])*(?:\.0+)?")


def integer_at_least(text: str, minimum: int) -> int | None:
    """``text`` as pydantic reads an int field bounded below (``"4_096.0"`` is 4096), or None
    when it would refuse it."""
    number = text.strip(_NUMBER_SPACE)
    if not _INTEGER.fullmatch(number):
        return None
    value = int(number.partition(".")[0])
    return value if value >= minimum else None


def read_env_file(path: Path) -> dict[str, str]:
    """`NAME=value` lines of an env file; missing file means no values. Read as python-dotenv and
    shells read them: a quoted value is what is between its quotes, and an unquoted value ends
    where a ``#`` after whitespace starts a comment."""
    try:
        data = read_regular_file(path)
    except (FileNotFoundError, IsADirectoryError, PermissionError, NotRegularFileError):
        return {}  # doctor names an env file it cannot read
    # Bytes that are not UTF-8 must not stop every command (doctor names the file as a problem);
    # the lines that are text still set their values.
    text = data.decode("utf-8-sig", errors="replace")
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.removeprefix("export ").partition("=")
        values[name.strip()] = _env_value(value.strip())
    return values


def set_env_value(path: Path, name: str, value: str) -> None:
    """Set ``name`` to ``value`` in the env file at ``path`` (created, with its folder, if missing):
    the line that set it replaced in place (any later repeats dropped), every other line kept as
    it was. Written whole to a file beside it, then renamed over it, so a crash leaves the old file
    or the new one; owner-only (0600), as a file of secrets must be. ``value`` must hold no ``'``
    nor line break (it is written single-quoted, read back as :func:`read_env_file` reads it)."""
    if "'" in value or "\n" in value or "\r" in value:
        raise ValueError("an env file value written here holds no quote nor line break")
    target = path.resolve() if path.is_symlink() else path
    try:
        lines = read_regular_file(target).decode("utf-8-sig", errors="replace").splitlines()
    except FileNotFoundError:
        lines = []
    line = f"{name}='{value}'"
    kept: list[str] = []
    placed = False
    for raw in lines:
        key = raw.strip().removeprefix("export ").partition("=")[0].strip()
        if "=" in raw and not raw.strip().startswith("#") and key == name:
            if not placed:
                kept.append(line)
                placed = True
            continue
        kept.append(raw)
    if not placed:
        kept.append(line)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fresh = target.with_name(f".{target.name}.{os.getpid()}.new")
    fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write("\n".join(kept) + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.chmod(fresh, 0o600)
        os.replace(fresh, target)
    except BaseException:
        fresh.unlink(missing_ok=True)
        raise


_INLINE_COMMENT = re.compile(r"\s#")


def _env_value(value: str) -> str:
    # `KEY='sk-…'  # admin key` must not send the quotes and the comment as the key: the provider
    # answers 401 and the error points at the key's type, never at the file.
    if value[:1] in ("'", '"'):
        end = value.find(value[0], 1)
        rest = value[end + 1 :].strip() if end > 0 else ""
        if end > 0 and (not rest or rest.startswith("#")):
            return value[1:end]
        # A quote inside a quoted value: the outer pair is the quoting, as before.
        return value[1:-1] if len(value) >= 2 and value[-1] == value[0] else value
    return _INLINE_COMMENT.split(value, maxsplit=1)[0].rstrip()


SHARED_SETTINGS = (
    "COST_MCP_DB",
    "COST_MCP_TIMEZONE",
    "COST_MCP_WEEK_START",
    "COST_MCP_COST_MODE",
    "COST_MCP_PRICES_FILE",
    "COST_MCP_CLAUDE_CODE_BILLING",
)
"""Settings the status line and hooks must share with the server to read the same ledger the same way."""


def shell_only_settings(environ: Mapping[str, str] | None = None, env_file: Path | None = None) -> list[str]:
    """:data:`SHARED_SETTINGS` set in this environment that the env file does not repeat.

    Claude Code runs the status line and hooks with its own environment (not the shell's that ran
    ``--install``, nor the ``-e`` values given to the MCP server), so only the env file, which every
    entry point reads, reaches them for sure.
    """
    env = os.environ if environ is None else environ
    filed = read_env_file(env_file if env_file is not None else default_env_file())
    return [
        name
        for name in SHARED_SETTINGS
        if name in env and not is_blank_setting(name, env[name]) and filed.get(name) != env[name]
    ]


SECRET_SETTINGS = frozenset({"COST_MCP_WEBHOOKS", "COST_MCP_TEAM_TOKEN", "COST_MCP_TEAM_HIDE_PROJECTS"})
"""Our settings that are secrets (``SecretStr`` in Settings): a blank one keeps its own meaning."""


def is_blank_setting(name: str, value: str) -> bool:
    """Whether ``value`` leaves one of our settings unset: blank (``NAME=``, as ``claude mcp add -e
    NAME=`` or an env file's bare ``NAME=`` line give), for a ``COST_MCP_`` setting that is no
    secret. Read as a value it was a warning on every command (no timezone is named '') or worse,
    silently wrong (a ledger or price file at '.', no VS Code folder at all)."""
    return name.startswith("COST_MCP_") and name not in SECRET_SETTINGS and not value.strip()


def merged_env(environ: Mapping[str, str] | None = None, env_file: Path | None = None) -> dict[str, str]:
    """The environment, then the env file for every name the environment leaves unset; a blank
    setting (:func:`is_blank_setting`) is unset in both."""
    env = {
        name: value
        for name, value in (os.environ if environ is None else environ).items()
        if not is_blank_setting(name, value)
    }
    path = env_file if env_file is not None else default_env_file()
    for name, value in read_env_file(path).items():
        if not is_blank_setting(name, value):
            env.setdefault(name, value)
    return env


class HasCoreSettings(Protocol):
    """What hot-path code reads from settings: met by :class:`CoreSettings` and by ``Settings``."""

    @property
    def db(self) -> Path | str: ...
    @property
    def cost_mode(self) -> CostMode: ...
    @property
    def prices_file(self) -> Path: ...
    @property
    def tz(self) -> ZoneInfo: ...
    @property
    def week_start(self) -> WeekStart: ...
    @property
    def claude_code_billing(self) -> ClaudeCodeBilling: ...
    @property
    def max_line_bytes(self) -> int: ...
    def claude_roots(self) -> list[Path]: ...
    def full(self) -> Settings:
        """Every setting, for the rarer work that needs more than these (budgets, webhooks)."""
        ...


@dataclass(frozen=True)
class CoreSettings:
    """What the status line, the hooks and ``ingest`` need on every call; the same values Settings has."""

    # Not in the repr, as Settings' is not: a URL's password was in any message or log quoting it.
    db: Path | str = field(repr=False)
    """An SQLite file's path, or a postgresql:// URL (kept as text: a Path would mangle it)."""
    timezone: str
    cost_mode: CostMode
    prices_file: Path
    week_start: WeekStart = "monday"
    claude_code_billing: ClaudeCodeBilling = "api"
    claude_config_dir: str | None = None
    max_line_bytes: int = MAX_LINE_BYTES
    unusable: tuple[str, ...] = ()
    """Variables whose value was unusable, so their default is used (Settings says why)."""
    statusline_fields: str | None = None
    """COST_MCP_STATUSLINE_FIELDS, from the environment or the env file (the status line's own
    setting: Claude Code starts it with its environment, so the env file is where it is set)."""
    environ: Mapping[str, str] | None = field(default=None, repr=False, compare=False)
    """What these were read from (None: the process's environment), so :meth:`full` reads the same."""
    env_file: Path | None = field(default=None, repr=False, compare=False)

    @property
    def tz(self) -> ZoneInfo:
        """The configured timezone as a tzinfo."""
        return ZoneInfo(self.timezone)

    def claude_roots(self) -> list[Path]:
        """Configured Claude Code folders, as :meth:`Settings.claude_roots` gives them."""
        return claude_roots(self.claude_config_dir)

    def full(self) -> Settings:
        """Settings (pydantic) from the same environment and env file, read leniently."""
        from cost_mcp.config import load_settings_leniently

        return load_settings_leniently(self.environ, self.env_file)[0]


POSTGRES_PREFIXES = ("postgresql://", "postgres://")
"""The URL schemes libpq reads (lower case only, as libpq compares them)."""
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
# libpq's keyword form ("host=db dbname=cost user=me password=..."): a file name never starts so.
_CONNINFO = re.compile(
    r"\s*(?:host|hostaddr|port|dbname|user|password|passfile|service|sslmode|options|connect_timeout"
    r"|application_name|target_session_attrs)\s*="
)


def connection_kind(value: str) -> Literal["postgresql", "url", "keywords"] | None:
    """What kind of non-path a COST_MCP_DB value is: a PostgreSQL URL, another ``scheme://`` URL, a
    libpq keyword string (``host=... password=...``); None for a file's path."""
    if value.startswith(POSTGRES_PREFIXES):
        return "postgresql"
    if _URL.match(value):
        return "url"
    if _CONNINFO.match(value):
        return "keywords"
    return None


def ledger_target(value: str) -> Path | str:
    """COST_MCP_DB as the ledger's target: anything that is not a file's path (a ``postgresql://``
    URL, another URL, a libpq keyword string) stays text, so that none of them ever becomes a file
    named after it (password included); the store opens the first and refuses the others."""
    if connection_kind(value) is not None:
        return value
    return Path(value)


def load_core_settings(
    environ: Mapping[str, str] | None = None, env_file: Path | None = None
) -> CoreSettings:
    """CoreSettings from the same variables as Settings; an unusable value gives its default, as
    ``load_settings_leniently`` does (a typo must not break Claude Code's status line)."""
    env = merged_env(environ, env_file)
    db = env.get("COST_MCP_DB")
    prices = env.get("COST_MCP_PRICES_FILE")
    zone = env.get("COST_MCP_TIMEZONE")
    cost_mode = _COST_MODES.get(env.get("COST_MCP_COST_MODE", "auto"))
    week_start = _WEEK_STARTS.get(env.get("COST_MCP_WEEK_START", "monday").strip().lower())
    billing = _BILLINGS.get(env.get("COST_MCP_CLAUDE_CODE_BILLING", "api"))
    line_bytes = env.get("COST_MCP_MAX_LINE_BYTES")
    max_line_bytes = MAX_LINE_BYTES if line_bytes is None else integer_at_least(line_bytes, MIN_LINE_BYTES)
    unusable = {
        "COST_MCP_TIMEZONE": zone is not None and not is_zone(zone),
        "COST_MCP_COST_MODE": cost_mode is None,
        "COST_MCP_WEEK_START": week_start is None,
        "COST_MCP_CLAUDE_CODE_BILLING": billing is None,
        "COST_MCP_MAX_LINE_BYTES": max_line_bytes is None,
    }
    return CoreSettings(
        db=ledger_target(db) if db is not None else default_db(),
        timezone=zone if zone is not None and is_zone(zone) else system_timezone(),
        cost_mode=cost_mode or "auto",
        prices_file=Path(prices) if prices is not None else default_prices_file(),
        week_start=week_start or "monday",
        claude_code_billing=billing or "api",
        claude_config_dir=env.get("CLAUDE_CONFIG_DIR"),
        max_line_bytes=max_line_bytes or MAX_LINE_BYTES,
        unusable=tuple(name for name, bad in unusable.items() if bad),
        statusline_fields=env.get("COST_MCP_STATUSLINE_FIELDS"),
        environ=environ,
        env_file=env_file,
    )
