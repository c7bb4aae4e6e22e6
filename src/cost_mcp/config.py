"""Settings: where the ledger lives, the timezone, provider keys and API origins.

Our own settings use the ``COST_MCP_`` prefix; provider keys use the names people already have
(``OPENAI_ADMIN_KEY``...). Besides the environment, the same names are read from an optional env file
(``~/.config/cost-mcp/env`` by default, or ``COST_MCP_ENV_FILE``) so keys need not live in a host's
MCP config. Keys are ``SecretStr``: they are never logged, stored, or put in a result or error.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import AliasChoices, Field, PrivateAttr, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cost_mcp.agent_folders import AgentFolderPaths
from cost_mcp.core_settings import APP_NAME as APP_NAME  # noqa: PLC0414
from cost_mcp.core_settings import (
    MAX_LINE_BYTES,
    MIN_LINE_BYTES,
    claude_roots,
    default_db,
    default_prices_file,
    is_zone,
    ledger_target,
    merged_env,
    set_env_value,
)
from cost_mcp.core_settings import ClaudeCodeBilling as ClaudeCodeBilling  # noqa: PLC0414
from cost_mcp.core_settings import CostMode as CostMode  # noqa: PLC0414
from cost_mcp.core_settings import WeekStart as WeekStart  # noqa: PLC0414
from cost_mcp.core_settings import default_env_file as default_env_file  # noqa: PLC0414
from cost_mcp.core_settings import read_env_file as read_env_file  # noqa: PLC0414
from cost_mcp.core_settings import system_timezone as system_timezone  # noqa: PLC0414
from cost_mcp.errors import InvalidInputError, SettingsError

if TYPE_CHECKING:
    from cost_mcp.sources.provider import Provider


def source_provider(source: str) -> str | None:
    """The provider a synced source or data source belongs to (``anthropic-claude-code`` and
    ``anthropic-costs``: anthropic), or None for a source that is no provider's (``claude_code``)."""
    from cost_mcp.sources import registry  # the registry imports the fetchers, which import us

    head = source.split("-", 1)[0]
    return head if any(spec.id == head for spec in registry.providers()) else None


class Settings(BaseSettings, AgentFolderPaths):
    """Everything configurable, read from the environment and the optional env file (the agents'
    folders found as :class:`AgentFolderPaths` says)."""

    model_config = SettingsConfigDict(
        env_prefix="COST_MCP_",
        extra="ignore",
        populate_by_name=True,
        frozen=True,
    )

    db: Path | str = Field(
        default_factory=default_db,
        description="The ledger (COST_MCP_DB): an SQLite file's path, or a postgresql:// URL.",
        # A postgresql:// URL may carry its password: in no repr and no dump (model_dump fed logs
        # and results, password included). Copy settings with model_copy(update=...), which keeps it.
        repr=False,
        exclude=True,
    )
    timezone: str = Field(default_factory=system_timezone, description="IANA timezone for days and weeks.")
    week_start: WeekStart = "monday"
    claude_code_billing: ClaudeCodeBilling = "api"
    cost_mode: CostMode = "auto"
    prices_file: Path = Field(
        default_factory=default_prices_file,
        description="User price overrides, used before genai-prices.",
    )
    claude_config_dir: str | None = Field(
        default=None,
        validation_alias=AliasChoices("CLAUDE_CONFIG_DIR"),
        description="Comma-separated Claude Code config folders (CLAUDE_CONFIG_DIR).",
    )
    codex_home: str | None = Field(
        default=None,
        validation_alias=AliasChoices("CODEX_HOME"),
        description="Codex CLI's home folder (CODEX_HOME, as Codex reads it); default ~/.codex.",
    )
    gemini_dir: str | None = Field(
        default=None,
        validation_alias=AliasChoices("GEMINI_DIR"),
        description="Gemini CLI's folder (GEMINI_DIR); default .gemini in GEMINI_CLI_HOME, else ~/.gemini.",
    )
    gemini_cli_home: str | None = Field(
        default=None,
        validation_alias=AliasChoices("GEMINI_CLI_HOME"),
        description="The home folder Gemini CLI keeps its .gemini folder in (GEMINI_CLI_HOME, as Gemini CLI "
        "reads it); default the user's home.",
    )
    opencode_data_dir: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OPENCODE_DATA_DIR"),
        description="OpenCode's data folder (OPENCODE_DATA_DIR); default ~/.local/share/opencode.",
    )
    amp_data_dir: str | None = Field(
        default=None,
        validation_alias=AliasChoices("AMP_DATA_DIR"),
        description="Amp's data folder (AMP_DATA_DIR); default ~/.local/share/amp.",
    )
    qwen_runtime_dir: str | None = Field(
        default=None,
        validation_alias=AliasChoices("QWEN_RUNTIME_DIR"),
        description="The folder Qwen Code keeps its sessions in (QWEN_RUNTIME_DIR, as Qwen Code reads it); "
        "default QWEN_HOME, else ~/.qwen.",
    )
    qwen_home: str | None = Field(
        default=None,
        validation_alias=AliasChoices("QWEN_HOME"),
        description="Qwen Code's own folder (QWEN_HOME, as Qwen Code reads it); default ~/.qwen.",
    )
    goose_path_root: str | None = Field(
        default=None,
        validation_alias=AliasChoices("GOOSE_PATH_ROOT"),
        description="Goose's root folder (GOOSE_PATH_ROOT, as Goose reads it: its data is in data/ there); "
        "default ~/.local/share/goose.",
    )
    hermes_home: str | None = Field(
        default=None,
        validation_alias=AliasChoices("HERMES_HOME"),
        description="Hermes Agent's home folder (HERMES_HOME, as Hermes reads it), whose state.db and "
        "profiles' state.db are read; default ~/.hermes (%LOCALAPPDATA%\\hermes on Windows).",
    )
    vscode_user_dirs: str | None = Field(
        default=None,
        description="Comma-separated VS Code user folders (the ones holding globalStorage/) whose Cline, "
        "Roo Code and Kilo Code task history is read (COST_MCP_VSCODE_USER_DIRS); default: those of VS "
        "Code, Insiders, VSCodium, Cursor, Windsurf and VS Code Server that exist.",
    )
    cline_data_dir: str | None = Field(
        default=None,
        validation_alias=AliasChoices("CLINE_DATA_DIR"),
        description="The Cline CLI's data folder (CLINE_DATA_DIR, as Cline reads it); default data in "
        "CLINE_DIR, else ~/.cline/data.",
    )
    cline_dir: str | None = Field(
        default=None,
        validation_alias=AliasChoices("CLINE_DIR"),
        description="Cline's own folder (CLINE_DIR, as Cline reads it, set by `cline --config-dir`); "
        "default ~/.cline.",
    )
    cline_session_data_dir: str | None = Field(
        default=None,
        validation_alias=AliasChoices("CLINE_SESSION_DATA_DIR"),
        description="Cline 4.x's session folder (CLINE_SESSION_DATA_DIR, as Cline reads it); "
        "default the data folder's sessions/.",
    )
    copilot_home: str | None = Field(
        default=None,
        validation_alias=AliasChoices("COPILOT_HOME"),
        description="GitHub Copilot CLI's own folder (COPILOT_HOME, as Copilot reads it); default "
        "~/.copilot.",
    )
    copilot_otel_dir: str | None = Field(
        default=None,
        description="Where GitHub Copilot CLI's OpenTelemetry JSONL files are kept "
        "(COST_MCP_COPILOT_OTEL_DIR); default otel in Copilot's folder (COPILOT_HOME, else ~/.copilot).",
    )
    copilot_otel_file: str | None = Field(
        default=None,
        validation_alias=AliasChoices("COPILOT_OTEL_FILE_EXPORTER_PATH"),
        description="The file Copilot CLI's OTel file exporter writes (COPILOT_OTEL_FILE_EXPORTER_PATH).",
    )
    pi_coding_agent_dir: str | None = Field(
        default=None,
        validation_alias=AliasChoices("PI_CODING_AGENT_DIR"),
        description="Pi's agent folder (PI_CODING_AGENT_DIR, as Pi reads it), whose sessions/ is read; "
        "default ~/.pi/agent.",
    )
    kimi_share_dir: str | None = Field(
        default=None,
        validation_alias=AliasChoices("KIMI_SHARE_DIR"),
        description="Kimi CLI's folder (KIMI_SHARE_DIR, as Kimi reads it), whose sessions/ is read; "
        "default ~/.kimi.",
    )
    codebuff_dirs: str | None = Field(
        default=None,
        validation_alias=AliasChoices("COST_MCP_CODEBUFF_DIRS", "CODEBUFF_DATA_DIR"),
        description="Comma-separated Codebuff folders, whose projects/ is read (COST_MCP_CODEBUFF_DIRS, "
        "or ccusage's CODEBUFF_DATA_DIR; Codebuff itself reads no variable for it); default "
        "~/.config/manicode and its -dev and -staging builds' folders.",
    )
    crush_global_data: str | None = Field(
        default=None,
        validation_alias=AliasChoices("CRUSH_GLOBAL_DATA"),
        description="Crush's global data folder (CRUSH_GLOBAL_DATA, as Crush reads it), whose "
        "projects.json lists the projects' databases; default crush in XDG_DATA_HOME, else "
        "~/.local/share/crush (%LOCALAPPDATA%\\crush on Windows).",
    )
    droid_sessions_dirs: str | None = Field(
        default=None,
        validation_alias=AliasChoices("COST_MCP_DROID_SESSIONS_DIRS", "DROID_SESSIONS_DIR"),
        description="Comma-separated Factory Droid session folders (COST_MCP_DROID_SESSIONS_DIRS, or "
        "ccusage's DROID_SESSIONS_DIR; Droid itself reads no variable for it); default "
        "~/.factory/sessions.",
    )
    kilo_data_dir: str | None = Field(
        default=None,
        validation_alias=AliasChoices("KILO_DATA_DIR"),
        description="Kilo CLI's data folder (ccusage's KILO_DATA_DIR; Kilo itself follows XDG_DATA_HOME); "
        "default kilo in XDG_DATA_HOME, else ~/.local/share/kilo.",
    )
    openclaw_state_dir: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OPENCLAW_STATE_DIR", "CLAWDBOT_STATE_DIR"),
        description="OpenClaw's state folder (OPENCLAW_STATE_DIR, or CLAWDBOT_STATE_DIR, as OpenClaw "
        "reads them), whose agents/*/sessions is read; default ~/.openclaw, else the first of "
        "~/.clawdbot, ~/.moldbot, ~/.moltbot that exists (~ being OPENCLAW_HOME when set).",
    )
    sync_ttl_seconds: int = Field(default=900, ge=0)
    sync_skip: str = Field(
        default="",
        description="Comma-separated providers to leave out of automatic sync (COST_MCP_SYNC_SKIP), e.g. "
        "'groq' when GROQ_API_KEY is an inference key without the metrics API.",
    )
    refresh_budget_seconds: float = Field(default=5.0, ge=0)
    budget_hold_seconds: int = Field(
        default=300,
        ge=0,
        description="How long a check_budget allowed under a hard budget holds the call's cost while "
        "the call is not recorded (COST_MCP_BUDGET_HOLD_SECONDS); 0: checks hold nothing.",
    )
    watch_logs: bool = Field(
        default=True,
        description="A running server watches the log folders (Linux inotify) and skips re-checking every "
        "file while nothing changed (COST_MCP_WATCH_LOGS); false: every question re-checks them all.",
    )
    webhooks: SecretStr = Field(
        default=SecretStr(""),
        description="Named budget webhook destinations (COST_MCP_WEBHOOKS), a JSON object such as "
        '\'{"ops": "https://hooks.example.com/T0/B0/x"}\'. Budgets pick one by name; nothing else is '
        "ever posted to. Secret: webhook URLs often carry their token in the path.",
    )
    max_line_bytes: int = Field(
        default=MAX_LINE_BYTES,
        ge=MIN_LINE_BYTES,
        description="Longest Claude Code log line read (COST_MCP_MAX_LINE_BYTES); longer ones are skipped.",
    )
    substitutes: str = Field(
        default="",
        description="Models you accept in place of others, for savings_report (COST_MCP_SUBSTITUTES): "
        "comma-separated MODEL=SUBSTITUTE[|SUBSTITUTE...], MODEL may be * for any, e.g. "
        "'claude-opus-4-1=claude-sonnet-4-5|claude-haiku-4-5,gpt-5=gpt-5-mini'.",
    )

    # Team mode (issue 14): where a laptop pushes, and how the team server checks identity providers'
    # tokens. The push token is a secret like a provider key.
    team_server: str | None = Field(
        default=None, description="Team server URL a laptop pushes usage to (COST_MCP_TEAM_SERVER)."
    )
    team_token: SecretStr | None = Field(default=None, description="Bearer token for the team server.")
    team_hide_projects: SecretStr | None = Field(
        default=None,
        description="When set, pushed project names are replaced by a keyed hash (HMAC-SHA-256 with this "
        "value as key; share it across the team so one project hashes alike).",
    )
    public_url: str | None = Field(
        default=None, description="This server's public origin, for OAuth metadata (COST_MCP_PUBLIC_URL)."
    )
    # uvicorn's own variable, read here too so that the env file sets it as it sets everything else
    # (uvicorn reads only the process environment: in the env file it was silently ignored).
    forwarded_allow_ips: str | None = Field(
        default=None,
        validation_alias=AliasChoices("FORWARDED_ALLOW_IPS"),
        description="Proxies whose X-Forwarded-For is trusted (FORWARDED_ALLOW_IPS); default loopback.",
    )
    jwt_issuer: str | None = Field(
        default=None, description="Accept JWTs from this issuer (COST_MCP_JWT_ISSUER)."
    )
    jwt_audience: str | None = Field(default=None, description="The audience JWTs must carry.")
    jwt_jwks_url: str | None = Field(default=None, description="Where the issuer publishes its signing keys.")
    jwt_member_claim: str = Field(default="email", description="The JWT claim naming the member.")
    jwt_admins: str = Field(
        default="", description="Comma-separated members who are admins when signed in by JWT."
    )

    # The variables registered providers read (keys, ids, base URLs...; sources/registry.py), by
    # name, from the environment and the env file. Private: never in a repr, a dump or a result. Read
    # by name at use, so loading settings does not import the registry (and every fetcher).
    _env: dict[str, str] = PrivateAttr(default_factory=dict)

    @field_validator("db")
    @classmethod
    def _db_path_or_url(cls, value: Path | str) -> Path | str:
        """A ``postgresql://`` URL stays a string; anything else is an SQLite file's path."""
        return ledger_target(value) if isinstance(value, str) else value

    @field_validator("timezone")
    @classmethod
    def _valid_timezone(cls, value: str) -> str:
        if not is_zone(value):
            raise ValueError(f"unknown IANA timezone {value!r}; use a name such as 'Europe/Paris' or 'UTC'")
        return value

    @field_validator("substitutes")
    @classmethod
    def _valid_substitutes(cls, value: str) -> str:
        parse_substitutes(value)
        return value

    @field_validator("team_server")
    @classmethod
    def _team_server_url(cls, value: str | None) -> str | None:
        if value and (problem := url_problem(value)):
            raise ValueError(problem)
        return value

    @field_validator("week_start", mode="before")
    @classmethod
    def _lower_week_start(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def tz(self) -> ZoneInfo:
        """The configured timezone as a tzinfo."""
        return ZoneInfo(self.timezone)

    def provider_value(self, name: str) -> str | None:
        """A provider variable's value (by its variable name), or None when unset or empty.

        An unset credential may have a default place (Google's application-default credentials
        file), taken only once the provider's other required settings are there: a file a person
        keeps for other tools must not make a provider they never set up look half-configured."""
        text = self._env.get(name, "").strip()
        if text:
            return text
        from cost_mcp.sources import registry  # the registry imports the fetchers, which import us

        spec = _with_default_key(registry.providers()).get(name)
        if spec is not None and spec.default_key is not None:
            others = [s.env for s in spec.settings if s.required]
            if all(self._env.get(env, "").strip() for env in others):
                return spec.default_key(self._env)
        return None

    def provider_missing(self, provider: str) -> list[str]:
        """The variables a provider still needs before it can be synced (empty: configured): none
        once its alternative (AWS's named profile) is set in place of them."""
        spec = provider_spec(provider)
        missing = [name for name in spec.required_env if self.provider_value(name) is None]
        if missing and spec.alternative is not None and self.provider_value(spec.alternative.env):
            return []
        return missing

    def provider_key(self, provider: str) -> SecretStr | None:
        """The configured credential of a provider, or None, also when another variable it needs
        (an id, a scope) is missing: None means "cannot be synced as configured". Empty when the
        provider is configured by its alternative instead (AWS's named profile)."""
        spec = provider_spec(provider)
        if self.provider_missing(provider):
            return None
        return SecretStr(self.provider_value(spec.key_env) or "")

    def skips_sync(self, source: str) -> bool:
        """Whether automatic sync leaves this source out (an explicit sync still runs it).

        Any source name results show counts: a provider (``anthropic``, which covers every source
        it has), or one of its sources (``anthropic-claude-code``, ``openai-costs``)."""
        skipped = {p.strip().lower() for p in self.sync_skip.split(",") if p.strip()}
        return source in skipped or source_provider(source) in skipped

    def has_key_for(self, source: str) -> bool:
        """Whether the provider a synced source belongs to has a key now (True for other sources,
        such as log readers, which need none)."""
        provider = source_provider(source)
        return provider is None or self.provider_key(provider) is not None

    def provider_base_url(self, provider: str) -> str:
        """The API origin for a provider, without a trailing slash."""
        spec = provider_spec(provider)
        return (self.provider_value(spec.base_url_env) or spec.default_base_url).rstrip("/")

    def provider_base_url_problem(self, provider: str) -> str | None:
        """Why a provider's configured API origin cannot be used as it is, or None.

        A user name or password in it: httpx sends them as HTTP Basic in place of the key, and the
        URL is quoted in errors, which are shown and stored. The URL itself is never quoted here."""
        spec = provider_spec(provider)
        try:
            parts = urlsplit(self.provider_base_url(provider))
        except ValueError:
            return f"{spec.base_url_env} is not a URL: give the API origin, e.g. {spec.default_base_url}"
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            # `localhost:8080` or `127.0.0.1:8080`: every request failed as unreachable, retried
            # five times over ~9 s, with httpx's "missing an 'http://' or 'https://' protocol".
            return (
                f"{spec.base_url_env} is not an http:// or https:// origin: write it with its scheme, "
                f"e.g. {spec.default_base_url} (http:// for a gateway on this machine)"
            )
        if parts.username or parts.password:
            return (
                f"{spec.base_url_env} carries a user name or password, which would be sent in place "
                f"of the key and shown in errors: give the API origin only, e.g. {spec.default_base_url}"
            )
        if parts.query or parts.fragment:
            # A ?api_key=... would be quoted in errors and doctor, and the paths requested are
            # appended after it, so no request would reach the API anyway.
            return (
                f"{spec.base_url_env} carries a query or fragment (?... or #...), which may hold a "
                f"secret and breaks every request: give the API origin only, e.g. {spec.default_base_url}"
            )
        return None

    def provider_token_url(self, provider: str) -> str:
        """The token endpoint's origin for a provider that exchanges its credential for a token."""
        spec = provider_spec(provider)
        return (self.provider_value(spec.token_url_env) or spec.default_token_url).rstrip("/")

    def webhook_urls(self) -> dict[str, str]:
        """The configured webhook destinations by name; InvalidInputError when the setting is malformed.

        Parsed when used rather than at start-up, so a typo here breaks only alerts, not every answer.
        """
        return parse_webhooks(self.webhooks.get_secret_value())

    def claude_roots(self) -> list[Path]:
        """Configured Claude Code folders: CLAUDE_CONFIG_DIR entries, else the two default places."""
        return claude_roots(self.claude_config_dir)

    def full(self) -> Settings:
        """Itself: what :class:`cost_mcp.core_settings.CoreSettings` loads when it is not enough."""
        return self


def parse_substitutes(text: str) -> list[tuple[str, str]]:
    """COST_MCP_SUBSTITUTES (``MODEL=SUB|SUB,MODEL2=SUB``) as (model, substitute) pairs, models
    lower-cased; ``*`` stands for any model. Raises ValueError naming the entry and the form."""
    pairs: list[tuple[str, str]] = []
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        model, sep, subs = entry.partition("=")
        names = [s.strip() for s in subs.split("|") if s.strip()]
        if not sep or not model.strip() or not names:
            raise ValueError(
                f"entry {entry!r} is not MODEL=SUBSTITUTE[|SUBSTITUTE...]; e.g. "
                "'claude-opus-4-1=claude-sonnet-4-5|claude-haiku-4-5,gpt-5=gpt-5-mini'"
            )
        pairs += [(model.strip().lower(), name) for name in names]
    return pairs


_DEFAULT_KEYS: list[tuple[tuple[Provider, ...], dict[str, Provider]]] = []
"""The last registry :func:`_with_default_key` indexed, and its index."""


def _with_default_key(specs: tuple[Provider, ...]) -> dict[str, Provider]:
    """The providers whose credential has a default place, by the credential's variable name.

    Indexed once per registry (tests register providers of their own): every answer asks every
    provider whether it is configured, each asking for its variables, and a walk of the whole
    registry per variable was about a tenth of a team server's samples answering get_spend (the
    first provider in registry order wins a variable, as the walk did)."""
    if not _DEFAULT_KEYS or _DEFAULT_KEYS[0][0] is not specs:
        _DEFAULT_KEYS[:] = [(specs, {s.key_env: s for s in reversed(specs) if s.default_key is not None})]
    return _DEFAULT_KEYS[0][1]


def provider_spec(provider: str) -> Provider:
    """The registry entry of a provider id, or ValueError naming the known ones."""
    from cost_mcp.sources import registry  # the registry imports the fetchers, which import us

    return registry.get(provider)


def provider_env_names() -> list[str]:
    """Every variable some registered provider reads."""
    from cost_mcp.sources import registry

    return [name for spec in registry.providers() for name in spec.env_names]


USING_DEFAULT = "; its default is used until it is fixed"


def parse_webhooks(text: str) -> dict[str, str]:
    """A COST_MCP_WEBHOOKS value as name -> URL; InvalidInputError when it is not a JSON object of
    strings (its message quotes none of the value: the URLs are secrets)."""
    if not text.strip():
        return {}
    example = 'e.g. COST_MCP_WEBHOOKS=\'{"ops": "https://hooks.example.com/x"}\''
    try:
        value = json.loads(text)
    except ValueError:
        raise InvalidInputError(
            f"COST_MCP_WEBHOOKS is not a JSON object of name -> URL ({example})"
        ) from None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidInputError(f"COST_MCP_WEBHOOKS must map names to URL strings ({example})")
    return {k.strip(): v.strip() for k, v in value.items()}


def keep_webhook_urls(
    wanted: Mapping[str, str], environ: Mapping[str, str] | None = None, env_file: Path | None = None
) -> dict[str, str]:
    """The name each URL of ``wanted`` (URL -> the name it would like) goes by in COST_MCP_WEBHOOKS,
    added to the env file's under that name (or the name with -2, -3... when taken) if no name
    holds it yet. The ledger then keeps the name only: a Slack or Discord webhook's path is its
    secret, and secrets live where the provider keys do, never in the database.

    SettingsError, naming the fix and no URL, when it cannot be kept: COST_MCP_WEBHOOKS set in the
    environment (which hides the env file's) without it, a malformed value, an env file not writable.
    """
    env = os.environ if environ is None else environ
    path = env_file if env_file is not None else default_env_file()
    urls = {url.strip(): name for url, name in wanted.items()}
    if "COST_MCP_WEBHOOKS" in env:
        try:
            held = {url: name for name, url in parse_webhooks(env["COST_MCP_WEBHOOKS"]).items()}
        except InvalidInputError as exc:
            raise SettingsError(f"{exc}; mend it in the environment") from None
        if missing := sorted(name for url, name in urls.items() if url not in held):
            raise SettingsError(
                f"the webhook URL of {', '.join(repr(n) for n in missing)} cannot be kept in the env file "
                f"{path}: COST_MCP_WEBHOOKS is set in the environment, which hides the env file's. Move "
                f"COST_MCP_WEBHOOKS from the environment into {path} (cost-mcp adds to it there), or add "
                "each URL to it under a name yourself and give that name to --webhook"
            )
        return {url: held[url] for url in urls}
    try:
        configured = parse_webhooks(read_env_file(path).get("COST_MCP_WEBHOOKS", ""))
    except InvalidInputError as exc:
        raise SettingsError(f"{exc}; mend it in {path}") from None
    held = {url: name for name, url in configured.items()}
    added = False
    for url, name in sorted(urls.items(), key=lambda pair: pair[1]):
        if url in held:
            continue
        free, number = name, 2
        while free in configured:
            free, number = f"{name}-{number}", number + 1
        configured[free], held[url], added = url, free, True
    if added:
        # \u0027 for a quote: the value is written single-quoted, and reads back as the same JSON.
        text = json.dumps(configured, ensure_ascii=True).replace("'", "\\u0027")
        try:
            set_env_value(path, "COST_MCP_WEBHOOKS", text)
        except OSError as exc:
            raise SettingsError(
                f"the webhook URL of {', '.join(sorted(repr(urls[u]) for u in urls))} cannot be kept in the "
                f"env file {path} ({exc.strerror or type(exc).__name__}): make it writable by you, then "
                "run the command again"
            ) from None
    return {url: held[url] for url in urls}


def load_settings(environ: Mapping[str, str] | None = None, env_file: Path | None = None) -> Settings:
    """Settings from the environment, then the env file for anything the environment leaves unset.

    Raises SettingsError, one line per unusable value naming the variable and the fix.
    """
    settings, problems = load_settings_leniently(environ, env_file)
    if problems:
        raise SettingsError("; ".join(p.removesuffix(USING_DEFAULT) for p in problems))
    return settings


def load_settings_leniently(
    environ: Mapping[str, str] | None = None, env_file: Path | None = None
) -> tuple[Settings, list[str]]:
    """Settings with every unusable value replaced by its default, and one line for each such value.

    For the server and `doctor`: a typo in one setting must not stop them (a host would only show
    "failed to connect"); the lines ride along in results until the setting is fixed.
    """
    env = merged_env(environ, env_file)
    data = _settings_input(env)
    try:
        return _with_env(Settings.model_validate(data), env), []
    except ValidationError as exc:
        bad: dict[str, str] = {}
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            bad.setdefault(field, str(error["msg"]).removeprefix("Value error, "))
    problems = [_problem(field, data.get(field), why) for field, why in bad.items()]
    # Explicit defaults: pydantic-settings would otherwise read the same bad value from os.environ.
    defaults = {
        f: Settings.model_fields[f].get_default(call_default_factory=True)
        for f in bad
        if f in Settings.model_fields
    }
    return _with_env(Settings.model_validate({**data, **defaults}), env), problems


class StartedSettings:
    """The settings a long-running server read when it started, and whether the env file has changed
    since: the server keeps its settings for its life (its ledger, log folders and watches are built
    from them), so an env file mended while it runs (a timezone typo, a provider key added) changed
    nothing, while its answers still said the default was used "until it is fixed". A question
    compares the file's ``stat`` (one call); only a changed file is read again."""

    def __init__(self, env_file: Path | None = None) -> None:
        self.env_file = env_file if env_file is not None else default_env_file()
        self._stamp = _stamp(self.env_file)
        self.settings, self.problems = load_settings_leniently(env_file=self.env_file)
        self._checked: tuple[tuple[int, int, int] | None, str | None] = (self._stamp, None)

    def notice(self) -> str | None:
        """What to tell a person when the env file now holds other settings than those in use
        (restart to use them), else None."""
        stamp = _stamp(self.env_file)
        seen, said = self._checked
        if stamp == seen:
            return said
        settings, problems = load_settings_leniently(env_file=self.env_file)
        said = None
        if settings != self.settings or problems != self.problems:
            said = (
                f"the env file {self.env_file} changed since this server started, and a running server "
                "keeps the settings it started with: restart it to use the new ones (the one Claude Code "
                "starts: /mcp, then reconnect cost-mcp; a team server: restart `cost-mcp serve`)"
            )
        self._checked = (stamp, said)  # one tuple: a question on another thread sees both or neither
        return said


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _with_env(settings: Settings, env: Mapping[str, str]) -> Settings:
    settings._env.update({name: value for name, value in env.items() if value and name.isupper()})
    return settings


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be split into a URL at all (an unclosed ``[`` of an IPv6 host, a port that
    is not a number), or None. Every later step (doctor's check, a push, the server's own pushes)
    raised from urlsplit or httpx on it: a traceback."""
    try:
        urlsplit(url.strip()).port  # noqa: B018 - the port is parsed when read
    except ValueError as exc:
        return f"not a URL ({exc}): write it as https://host[:port][/path]"
    return None


def _problem(field: str, value: str | None, why: str) -> str:
    names = _env_names(field)
    shown = "(hidden)" if field.endswith("_key") else repr(value)
    return f"setting {names[0]}={shown} is not usable ({why}){USING_DEFAULT}"


def _settings_input(env: Mapping[str, str]) -> dict[str, Any]:
    # Settings is given an explicit mapping (not os.environ) so that tests and the env file share
    # one path; names are matched the way pydantic-settings would match them from the environment.
    # A field the mapping leaves unset is given its default explicitly: pydantic-settings would
    # otherwise read os.environ, where a blank value that merged_env leaves out is still there.
    data: dict[str, Any] = {}
    for name, info in Settings.model_fields.items():
        for env_name in _env_names(name):
            if env_name in env:
                data[name] = env[env_name]
                break
        else:
            data[name] = info.get_default(call_default_factory=True)
    return data


def _env_names(field: str) -> list[str]:
    """The variable names a settings field is read from, in order of preference."""
    alias = Settings.model_fields[field].validation_alias if field in Settings.model_fields else None
    if isinstance(alias, AliasChoices):
        return [n for n in alias.choices if isinstance(n, str)]
    return [f"COST_MCP_{field.upper()}"]


def key_origin(env_name: str, environ: Mapping[str, str] | None = None, env_file: Path | None = None) -> str:
    """Where a setting's value comes from: 'environment', the env file's path, or 'not set'."""
    env = os.environ if environ is None else environ
    if env.get(env_name):
        return "environment"
    path = env_file if env_file is not None else default_env_file()
    if read_env_file(path).get(env_name):
        return str(path)
    return "not set"


def mask_secret(secret: SecretStr) -> str:
    """A recognisable but useless form of a key: its first 3 and last 4 characters."""
    value = secret.get_secret_value()
    if len(value) <= 12:
        return "*" * len(value)
    return f"{value[:3]}…{value[-4:]} ({len(value)} chars)"
