"""`cost-mcp doctor`: where everything is and what is wrong, without changing anything."""

from __future__ import annotations

import os
import re
import stat
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr

from cost_mcp import __version__, notify
from cost_mcp.config import Settings, default_env_file, key_origin, mask_secret
from cost_mcp.core_settings import default_db, merged_env
from cost_mcp.errors import CostMcpError, DatabaseError
from cost_mcp.files import NotRegularFileError, read_regular_file
from cost_mcp.models import (
    AgentFolder,
    AgentLogs,
    DoctorReport,
    KeyStatus,
    LogRoot,
    OtelSender,
    PricedWith,
    ReceivedPush,
    SilentToken,
    SkippedFile,
    TeamStatus,
)
from cost_mcp.periods import iso_second
from cost_mcp.pricing import GENAI_PRICES_VERSION, load_overrides
from cost_mcp.pricing_corrections import corrections_digest
from cost_mcp.push import check_token, pushable
from cost_mcp.sources import logfiles, registry
from cost_mcp.store import health
from cost_mcp.store import otel as otel_store
from cost_mcp.store import team as team_store
from cost_mcp.store.connection import folder_problem, is_postgres, shown, target_problem
from cost_mcp.store.health import check_file
from cost_mcp.store.meta import PriceDataUse
from cost_mcp.store.migrations import MIGRATIONS
from cost_mcp.store.source_state import SourceState

_SCAN_LIMIT = 100_000
LOW_CLEANUP_DAYS = 30
"""Claude Code's default ``cleanupPeriodDays``; a setting below it deletes transcripts sooner."""


OTEL_DAYS = 7
"""How far back doctor looks for calls received over OTLP: long enough to span a weekend."""
OTEL_QUIET_DAYS = 30
"""How far back doctor looks for OTLP senders that went quiet (none in the last OTEL_DAYS): they
dropped out of the list of senders, and that alone would say nothing."""


def diagnose(
    settings: Settings, environ: Mapping[str, str] | None = None, settings_problems: Sequence[str] = ()
) -> DoctorReport:
    """Inspect the configuration, ledger, price overrides and log folders; never writes anything.

    ``settings_problems`` are the unusable values `load_settings_leniently` replaced by defaults.
    """
    problems: list[str] = list(settings_problems)
    db_status, migrations = _database_status(settings.db)
    if not db_status.startswith("ok") and db_status != "not created yet (created on first use)":
        problems.append(db_status)
    try:
        overrides = load_overrides(settings.prices_file)
        prices_status = f"{len(overrides)} override(s)" if overrides else "no overrides"
    except CostMcpError as exc:
        prices_status = str(exc)
        problems.append(prices_status)
    # A folder reads as no file, and every answer's advice to add a model's price "to the price
    # override file (that folder)" misled. (os.path.isdir: False, not an error, where it cannot look.)
    if os.path.isdir(settings.prices_file):
        prices_status = "a folder, not a file: no overrides"
        problems.append(
            f"price override file {settings.prices_file} is a folder, so no price of yours is read: set "
            "COST_MCP_PRICES_FILE to a TOML file (e.g. a prices.toml in that folder)"
        )
    env_file = default_env_file()
    providers = [_key_status(settings, spec, environ, env_file) for spec in registry.providers()]
    problems += key_problems(settings)
    problems += [p for spec in registry.providers() if (p := settings.provider_base_url_problem(spec.id))]
    problems += env_file_problems(env_file)
    problems += statusline_problems(merged_env(environ, env_file).get("COST_MCP_STATUSLINE_FIELDS"))
    problems += sync_skip_problems(settings)
    problems += sync_problems(settings, health.failed_syncs(settings.db))
    reprice_started = health.reprice_all_unfinished(settings.db)
    if reprice_started is not None:
        problems.append(
            f"a `cost-mcp reprice --all` started at {reprice_started} has not finished (still running, or "
            "stopped): totals mix today's prices and the old ones. If it is not running, run "
            "`cost-mcp reprice --all` again"
        )
    roots = [_log_root(root) for root in settings.claude_roots()]
    read_errors = health.read_errors(settings.db)
    agent_roots = agent_log_roots(settings, read_errors)
    log_warnings: list[str] = []
    for logs, unreadable, read_error, fix in [
        (
            "Claude Code",
            [u for r in roots for u in r.unreadable],
            read_errors.get("claude_code"),
            f"{_MAKE_READABLE}, or set CLAUDE_CONFIG_DIR to the folders to read",
        ),
        *((a.agent, a.unreadable, a.read_error, _MAKE_READABLE) for a in agent_roots),
    ]:
        found, warned = log_access_findings(logs, unreadable, read_error, fix)
        problems += found
        log_warnings += warned
    log_warnings += copilot_export_warnings(settings, agent_roots)
    read_pushes = health.received_pushes(settings.db)
    received = read_pushes or []
    live_tokens = [t for t in health.tokens(settings.db) if t.revoked_at is None]
    ledger_warnings = []
    silent: list[team_store.TokenInfo] = []
    if read_pushes is None:
        behind = len(MIGRATIONS) - migrations
        if behind > 0 and any(t.role in ("member", "ingest") for t in live_tokens):
            # A team ledger this release has not upgraded (doctor never does): its pushes cannot be
            # read, and an empty list read as "no laptop ever pushed" (every token "never pushed").
            ledger_warnings.append(
                f"the ledger is {behind} migration(s) behind this cost-mcp, so the laptops' pushes cannot "
                "be listed (doctor changes nothing): start the team server with this version once "
                "(`cost-mcp serve --http`), which upgrades the ledger (README, Upgrading), then run doctor "
                "again"
            )
    else:
        # A member's token that never pushed: the team's totals lack that laptop entirely, and no
        # `push:` source or stale warning can say so (they start at a first push).
        pushed = {sender.token_name for sender in read_pushes}
        silent = sorted(
            (t for t in live_tokens if t.role == "member" and t.name not in pushed),
            key=lambda t: (t.created_at, t.name),
        )
    otel_since_ms = int((time.time() - OTEL_DAYS * 86_400) * 1000)
    quiet_since_ms = int((time.time() - OTEL_QUIET_DAYS * 86_400) * 1000)
    otel_from = health.otel_senders(settings.db, otel_since_ms)
    # OTel rows record the member, not the token: a token that never pushed may still be the one
    # its member's agent sends OTLP with, and that usage is in every total.
    otel_calls = Counter[str]()
    for sender in otel_from:
        otel_calls[sender.member] += sender.events
    # A team server's usage comes from its members' pushes: its own machine has no logs to read, also
    # before the first push (a server just set up: its tokens say what it is, and `never pushed`
    # lines what is missing). Nor is a machine whose only agent is another one missing anything.
    team_server = bool(received) or any(t.role in ("member", "ingest") for t in live_tokens)
    other_agents = any(a.unreadable or any(f.found for f in a.folders) for a in agent_roots)
    if not any(r.projects_dir_found or r.unreadable for r in roots) and not team_server and not other_agents:
        problems.append(
            "no coding agent's logs found: no Claude Code logs in "
            + ", ".join(r.path for r in roots)
            + " (set CLAUDE_CONFIG_DIR if they live elsewhere), nor any other agent's in the folders "
            "`cost-mcp doctor --json` lists under agent_log_roots"
        )
    webhooks: dict[str, str] = {}
    try:
        for name, url in settings.webhook_urls().items():
            webhooks[name] = notify.display_url(url)
            try:
                notify.check_url(url)
            except CostMcpError as exc:
                problems.append(f"webhook '{name}': {exc}")
    except CostMcpError as exc:
        problems.append(str(exc))
    team = team_status(settings)
    problems += team_problems(settings)
    if (team.token_accepted is False or team.token_can_push is False) and team.token_check:
        problems.append(team.token_check)
    return DoctorReport(
        version=__version__,
        database=shown(settings.db),
        database_status=db_status,
        schema_migrations=migrations,
        timezone=settings.timezone,
        week_start=settings.week_start,
        claude_code_billing=settings.claude_code_billing,
        env_file=f"{env_file} ({'found' if env_file.is_file() else 'absent'})",
        prices_file=f"{settings.prices_file} ({'found' if settings.prices_file.is_file() else 'absent'})",
        prices_status=prices_status,
        genai_prices_version=GENAI_PRICES_VERSION,
        providers=providers,
        claude_log_roots=roots,
        agent_log_roots=agent_roots,
        skipped_log_lines=[
            SkippedFile(path=p, source=source, lines=n) for p, source, n in health.skipped_files(settings.db)
        ],
        webhooks=webhooks,
        priced_with=[PricedWith(**asdict(h)) for h in health.price_data(settings.db)],
        team=team,
        received_pushes=[
            ReceivedPush(
                token_name=sender.token_name,
                member=sender.member,
                last_push=iso_second(sender.last_ms),
                revoked=sender.revoked,
                last_heard=None if sender.heard_ms is None else iso_second(sender.heard_ms),
            )
            for sender in received
        ],
        never_pushed=[
            SilentToken(
                token_name=t.name,
                member=t.member,
                created=datetime.fromisoformat(t.created_at).astimezone(UTC).isoformat(timespec="seconds"),
                otel_calls=otel_calls[t.member],
            )
            for t in silent
        ],
        otel_days=OTEL_DAYS,
        otel_senders=[_otel_sender(s) for s in otel_from],
        # Listed, not warned about: OTel sends only while someone works, so a quiet week may be a
        # holiday; an admin who expected their usage asks them (a per-answer warning would be noise).
        otel_quiet=[_otel_sender(s) for s in health.otel_senders(settings.db, quiet_since_ms, otel_since_ms)],
        problems=problems,
        warnings=cleanup_warnings(settings.claude_roots())
        + exposure_warnings(settings.db, env_file)
        + log_warnings
        + ledger_warnings
        + team_warnings(settings)
        + repricing_warnings(health.price_data_in_force(settings.db))
        + ([team.token_check] if team.token_accepted is None and team.token_check else [])
        + refused_push_warnings(team),
    )


def _otel_sender(sender: otel_store.Sender) -> OtelSender:
    """A member whose agent's calls arrive over OTLP, as the report lists them."""
    return OtelSender(
        agent=sender.agent,
        member=sender.member,
        events=sender.events,
        last_event=iso_second(sender.last_ms),
        departed=sender.departed,
    )


def exposure_warnings(db: Path | str, env_file: Path) -> list[str]:
    """A warning for the ledger, its folder and the env file where other users of the machine can
    read them: the ledger holds who spent what, and the env file may hold admin keys and webhook
    URLs (a Slack or Discord URL's path is its secret). cost-mcp creates new ones owner-only but never
    changes an existing one's mode unasked, so this is where an older or hand-made one is named, with
    the fix."""
    if os.name == "nt":  # Windows guards files with ACLs, not these mode bits
        return []
    paths: list[tuple[Path, str, str]] = []
    if not is_postgres(db):
        ledger = Path(db)
        # The folder only when it is cost-mcp's own: COST_MCP_DB may put the ledger in a folder shared
        # on purpose (a team's), where `chmod 700` would lock others out of their own files.
        if ledger.parent == default_db().parent:
            paths.append((ledger.parent, "the data folder", "700"))
        paths.append((ledger, "the ledger", "600"))
    paths.append((env_file, "the env file", "600"))
    warnings = []
    for path, what, mode in paths:
        try:
            bits = stat.S_IMODE(path.stat().st_mode)
        except OSError:
            continue  # absent or unreadable: said elsewhere, and nothing to expose
        # A file is read through its folder: the folder's own entry (the data folder) by its mode.
        if bits & (0o077 if path.is_dir() else _let_in(path.parent)):
            warnings.append(
                f"{what} {path} can be read by other users of this machine (mode {bits:o}), and it may "
                f"hold secrets (webhook URLs, keys): make it yours only with `chmod {mode} {path}`"
            )
    return warnings


def _let_in(folder: Path) -> int:
    """The group and other mode bits that reach a file in ``folder``: none for those the folder does
    not let search it (README's team steps `chmod 700` the env file's folder, then an editor writes
    the file with the umask's 0644, which no other user can open)."""
    try:
        searched = stat.S_IMODE(folder.stat().st_mode)
    except OSError:
        return 0o077  # cannot tell: the file's own mode decides
    return (0o070 if searched & 0o010 else 0) | (0o007 if searched & 0o001 else 0)


def refused_push_warnings(team: TeamStatus) -> list[str]:
    """The team server's last refusal of this machine's pushes, when the check of the token just now
    could not say (the server is unreachable): a refusal it could say is a problem already, and a
    token it takes now (a new one set) ends the refusal at the next push."""
    if team.push_refused is None or team.token_accepted is not None:
        return []
    return [
        f"the team server refused this machine's pushes since {team.push_refused_since}: {team.push_refused}"
    ]


def repricing_warnings(in_force: Sequence[PriceDataUse]) -> list[str]:
    """Advice to price the stored calls again when some were priced with another genai-prices
    version or another set of corrections than this release's (whose prices may be fixed since)."""
    running = (GENAI_PRICES_VERSION, corrections_digest())
    older = [u for u in in_force if (u.version, u.corrections) != running]
    if not older:
        return []
    used = ", ".join(
        dict.fromkeys(f"genai-prices {u.version}, corrections {u.corrections or 'unrecorded'}" for u in older)
    )
    return [
        f"some stored calls were priced with older price data ({used}; this release has genai-prices "
        f"{running[0]}, corrections {running[1]}): `cost-mcp reprice --all --dry-run` says what "
        "today's prices would change, `cost-mcp reprice --all` stores it"
    ]


_PLACEHOLDER = re.compile(
    r"^(your|my|<|\[|\{|x{3,}|changeme|change-me|placeholder|todo|replace|insert|example|dummy|test-?key)"
    r"|\.\.\.|…|x{6,}|_here$|-here$",
    re.IGNORECASE,
)
"""A value copied from a README or a template, not a key."""
_WRAPPED = re.compile(
    r"^(?:(['\"`])|(bearer\s|basic\s|token\s|x-api-key:\s*|authorization:\s*))", re.IGNORECASE
)
"""A key pasted with what surrounds it in a config file or a curl example: quotes the environment
kept (JSON, a systemd unit), or the header's scheme. The provider then refuses a good key."""
_BILLING_KEY_PREFIX = {"openai": "sk-admin-", "anthropic": "sk-ant-admin"}
"""The prefix of the only keys whose owner may read the organisation's costs."""


def _without_userinfo(url: str) -> str:
    """An API origin as shown: a user name or password, a query or a fragment in it may be a secret
    (doctor names the problem), so they are left out."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(an unreadable URL)"
    if not (parts.username or parts.password or parts.query or parts.fragment):
        return url
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=netloc, query="…" if parts.query else "", fragment=""))


def _key_status(
    settings: Settings, spec: registry.Provider, environ: Mapping[str, str] | None, env_file: Path
) -> KeyStatus:
    """One provider's row: its credential, or the alternative that configures it when the credential
    is unset (AWS's named profile, shown by name: a profile's name is no secret)."""
    key = settings.provider_value(spec.key_env)
    alternative = spec.alternative.env if spec.alternative is not None else ""
    env_var, shown = spec.key_env, mask_secret(SecretStr(key)) if key else None
    if key is None and alternative and (name := settings.provider_value(alternative)) is not None:
        env_var, shown = alternative, name
    return KeyStatus(
        provider=spec.id,
        env_var=env_var,
        configured=settings.provider_key(spec.id) is not None,
        masked=shown,
        origin=key_origin(env_var, environ, env_file),
        base_url=_without_userinfo(settings.provider_base_url(spec.id)),
        needs=[n for n in settings.provider_missing(spec.id) if n != spec.key_env],
    )


def key_problems(settings: Settings) -> list[str]:
    """Keys that cannot work: placeholders, and project or API keys where billing needs an admin key.

    Says which variable and why, never any part of the value."""
    problems: list[str] = []
    for spec in registry.providers():
        key = settings.provider_key(spec.id)
        value = key.get_secret_value().strip() if key is not None else ""
        if not value:  # unset, or configured by its alternative (AWS's named profile)
            continue
        if _PLACEHOLDER.search(value) or len(value) < 16:
            problems.append(f"{spec.key_env} looks like a placeholder, not a key: paste the real key")
            continue
        if (wrapped := _WRAPPED.match(value)) is not None:
            what = "a quote" if wrapped.group(1) else f"the auth scheme {wrapped.group(2).strip()!r}"
            problems.append(
                f"{spec.key_env} starts with {what}, so the provider receives something else than the "
                f"key: set the key alone ({spec.key_env}=<key>, no quotes inside the value, no scheme)"
            )
            continue
        prefix = _BILLING_KEY_PREFIX.get(spec.id)
        if prefix and not value.startswith(prefix):
            kind = "a project key (sk-proj-...)" if value.startswith("sk-proj-") else "not an admin key"
            problems.append(
                f"{spec.key_env} is {kind}: it cannot read billing. Create an admin key ({prefix}...) in "
                f"the {spec.id} console's organisation settings"
            )
    return problems


def env_file_problems(path: Path) -> list[str]:
    """Lines of the env file that set nothing (no ``=``): they are ignored, which hides a typo; and
    bytes that are not UTF-8, which are read as replacement characters."""
    try:
        raw = read_regular_file(path)
    except NotRegularFileError:
        return [
            f"{path} is not a regular file (a pipe, socket or device), so nothing in it is read: remove it"
        ]
    except FileNotFoundError:
        return []  # the env file is optional
    except OSError as exc:  # every command reads on without it, keys and settings left unset
        return [
            f"the env file {path} cannot be read ({exc.strerror or exc}), so nothing in it is set: make "
            "it readable by the user running cost-mcp, or set COST_MCP_ENV_FILE to another file"
        ]
    try:
        lines = raw.decode("utf-8").removeprefix("\ufeff").splitlines()  # offsets in the file's bytes
    except UnicodeDecodeError as exc:
        return [
            f"{path} is not UTF-8 text (byte {exc.start}): a value there is not what was written; "
            "save the file as UTF-8"
        ]
    return [
        f"{path} line {number}: no '=' so it sets nothing; write NAME=value"
        for number, raw in enumerate(lines, start=1)
        if (line := raw.strip()) and not line.startswith("#") and "=" not in line
    ]


def sync_problems(settings: Settings, failed: Sequence[SourceState]) -> list[str]:
    """Configured providers whose last sync failed: every answer lacks their bill since the last
    sync that worked (or all of it), and this is where the provider's own words are shown whole."""
    by_source = {s.source: s for s in failed}
    problems: list[str] = []
    for spec in registry.providers():
        if settings.provider_key(spec.id) is None:
            continue  # its old errors are not news once its key is gone
        for source in spec.sources:
            state = by_source.get(source.id)
            if state is None or settings.skips_sync(source.id):
                continue
            since = (
                f"its data is as of {state.last_success}"
                if state.last_success
                else "none of its data is in the ledger"
            )
            problems.append(
                f"{source.id}: the last sync failed at {state.last_attempt} ({state.last_error}); {since}. "
                f"`cost-mcp sync --provider {spec.id}` tries again"
            )
    return problems


def statusline_problems(fields: str | None) -> list[str]:
    """COST_MCP_STATUSLINE_FIELDS naming a field the line does not have: the status line then
    shows only "cost-mcp: error (run `cost-mcp doctor`)", so doctor must say why."""
    from cost_mcp.statusline import fields_from

    try:
        fields_from(fields)
    except ValueError as exc:
        return [
            f"COST_MCP_STATUSLINE_FIELDS: {exc}: Claude Code's status line shows an error until it is fixed"
        ]
    return []


def sync_skip_problems(settings: Settings) -> list[str]:
    """Names in COST_MCP_SYNC_SKIP that are no source's: they skip nothing."""
    from cost_mcp.config import source_provider

    names = [n.strip() for n in settings.sync_skip.split(",") if n.strip()]
    return [
        f"COST_MCP_SYNC_SKIP: {name!r} is no source's name, so it skips nothing (use a provider such as "
        f"'groq', or a source from sources[] such as 'anthropic-claude-code')"
        for name in names
        if source_provider(name.lower()) is None
    ]


def cleanup_warnings(claude_roots: list[Path]) -> list[str]:
    """A warning per Claude folder whose settings delete transcripts sooner than the default 30 days.

    Claude Code deletes session transcripts older than ``cleanupPeriodDays``; the ledger keeps every
    call it has read, but knows nothing from before cost-mcp first read the files.
    """
    import json

    warnings: list[str] = []
    for root in claude_roots:
        path = root / "settings.json"
        try:
            data = json.loads(read_regular_file(path))
        except (OSError, ValueError):
            continue
        days = data.get("cleanupPeriodDays") if isinstance(data, dict) else None
        if isinstance(days, int) and not isinstance(days, bool) and days < LOW_CLEANUP_DAYS:
            warnings.append(
                f"{path}: cleanupPeriodDays is {days}, so Claude Code deletes transcripts after "
                f"{days} day(s). "
                "The ledger keeps every call it has read, but only from when cost-mcp first read the files: "
                "run cost-mcp (any query, or `cost-mcp ingest`) at least that often, or raise the setting."
            )
    return warnings


def _database_status(target: Path | str) -> tuple[str, int]:
    problem = target_problem(target)
    if problem is not None:
        return problem, 0
    if is_postgres(target):
        return _postgres_status(str(target))
    path = Path(target)
    if not path.exists():
        parent = next((p for p in [path.parent, *path.parents] if p.exists()), None)
        if parent is not None and not os.access(parent, os.W_OK):
            return f"cannot be created: {parent} is not writable (set COST_MCP_DB)", 0
        return "not created yet (created on first use)", 0
    if path.is_dir():
        return folder_problem(path), 0
    if not os.access(path, os.R_OK):
        return f"{path} is not readable (check permissions or set COST_MCP_DB)", 0
    if os.access(path, os.W_OK) and not os.access(path.parent, os.W_OK):
        # SQLite keeps a ledger's recent writes in -wal and -shm files beside it: in a folder it may
        # not write, every command fails to write while the file itself looks writable, and opening
        # it to check it may fail too (which read as a damaged file to move aside).
        return (
            f"read-only: its folder {path.parent} is not writable, and SQLite writes its -wal and -shm "
            "files there: make the folder writable (check permissions), or set COST_MCP_DB"
        ), 0
    found = check_file(path)
    if found.foreign is not None:
        return found.foreign, 0
    if found.empty:
        return "ok (empty: no schema yet)", 0
    if found.error is not None:
        return (
            f"{path} is not a usable SQLite database ({found.error}); put back your backup copy of it "
            "(README, Backup and restore), or move it aside or set COST_MCP_DB"
        ), 0
    names = found.migrations
    known = {name for name, _ in MIGRATIONS}
    newer = [n for n in names if n not in known]
    if newer:
        return _newer(newer), len(names)
    pending = len(known) - len(set(names) & known)
    writable = os.access(path, os.W_OK)
    state = "ok" if writable else "read-only: cost-mcp needs to write it (check permissions)"
    size = path.stat().st_size
    return f"{state}, {size:,} bytes, {pending} migration(s) pending", len(names)


def _newer(unknown: Sequence[str]) -> str:
    # What the commands refusing it say to do (migrations.migrate), not only what is wrong.
    return (
        f"written by a newer cost-mcp (migrations {', '.join(unknown)}): upgrade cost-mcp, or set "
        "COST_MCP_DB to another ledger"
    )


def _postgres_status(target: str) -> tuple[str, int]:
    """A PostgreSQL ledger's state, read without migrating or writing."""
    from cost_mcp.store import postgres

    try:
        names = postgres.applied_names(target)
    except DatabaseError as exc:
        return str(exc), 0
    if names is None:
        return "ok (empty: no schema yet)", 0
    known = {name for name, _ in MIGRATIONS}
    newer = [n for n in names if n not in known]
    if newer:
        return _newer(newer), len(names)
    pending = len(known) - len(set(names) & known)
    return f"ok, PostgreSQL, {pending} migration(s) pending", len(names)


def team_status(settings: Settings) -> TeamStatus:
    """The team server settings (the token only as set or not), whether the server takes the token
    now and, when one is configured, where this ledger's pushes to it stand, read without writing."""
    server = (settings.team_server or "").rstrip("/")
    status = TeamStatus(
        server=notify.display_url(server) if server else None,
        token_set=settings.team_token is not None and bool(settings.team_token.get_secret_value()),
        hide_projects=settings.team_hide_projects is not None,
    )
    if not server:
        return status
    if status.token_set and settings.team_token is not None:
        # "token set" alone told a laptop whose token was revoked nothing: its pushes failed in the
        # background (logged only) while its doctor looked fine.
        secret = settings.team_token.get_secret_value()
        checked = check_token(server, secret)
        status.token_accepted, status.token_can_push = checked.accepted, checked.can_push
        status.token_check = checked.words
    backlog = health.forget_backlog(settings.db, team_store.server_key(server))
    if backlog is not None:
        # A server from before forgets travelled never takes them: the push's warning scrolls by,
        # and the calls stay counted on the server until this shows them waiting.
        status.pending_forgets, status.pending_unforgets = backlog.forgets, backlog.unforgets
        status.pending_removals = backlog.removals
        if backlog.since_ms is not None:
            status.forgets_pending_since = iso_second(backlog.since_ms)
    refused = health.push_refused(settings.db)
    if refused is not None and refused.server == team_store.server_key(server):
        status.push_refused = refused.said
        status.push_refused_since = iso_second(refused.at_ms)
    found = health.push_state(settings.db, team_store.server_key(server))
    if found is None:
        return status
    mark, pending = found
    if mark.pushed_ms is not None:
        status.last_push = iso_second(mark.pushed_ms)
    status.pushed_events = mark.sent
    status.pending_events = sum(n for source, n in pending.items() if pushable(source))
    return status


def team_problems(settings: Settings) -> list[str]:
    """A team server without a token, or a token without a server: pushes cannot run."""
    if settings.team_server and settings.team_token is None:
        return [
            "COST_MCP_TEAM_SERVER is set but COST_MCP_TEAM_TOKEN is not: usage cannot be pushed; ask an "
            "admin for a token (`cost-mcp token create NAME --member EMAIL`) and set COST_MCP_TEAM_TOKEN"
        ]
    if settings.team_token is not None and not settings.team_server:
        return ["COST_MCP_TEAM_TOKEN is set but COST_MCP_TEAM_SERVER is not: set the team server's URL"]
    return []


def team_warnings(settings: Settings) -> list[str]:
    """A team server reached over plain HTTP on another host sees the token in clear text."""
    server = settings.team_server or ""
    host = urlsplit(server).hostname or ""
    if server.startswith("http://") and host not in {"localhost", "127.0.0.1", "::1"}:
        return [
            f"the team server {notify.display_url(server)} is plain HTTP: the bearer token crosses "
            "the network in clear text; use https://"
        ]
    return []


def _log_root(root: Path) -> LogRoot:
    found, count, unreadable = _count_logs(root / "projects", (".jsonl",), directory_only=True)
    return LogRoot(path=str(root), projects_dir_found=found, jsonl_files=count, unreadable=unreadable)


def _count_logs(
    root: Path,
    suffixes: tuple[str, ...],
    accept: Callable[[str], bool] | None = None,
    *,
    directory_only: bool = False,
) -> tuple[bool, int, list[str]]:
    """Whether ``root`` exists, how many log files the readers would find below it (through the
    scanner they use, so doctor's count is the files a read takes: no undecodable names, no
    folders named like logs), up to ``_SCAN_LIMIT``, and the folders that could not be opened,
    each as ``"<folder> (<reason>)"``."""
    unreadable: list[str] = []
    try:
        exists = root.is_dir() or (not directory_only and root.is_file())
    except OSError as exc:  # a parent this user may not enter: is_dir() raises, not False
        return False, 0, [f"{exc.filename or root} ({exc.strerror or exc})"]
    count = 0
    if exists:
        errors: list[str] = []
        for path, _ in logfiles.walk(root, suffixes, errors=errors):
            if accept is None or accept(path):
                count += 1
            if count >= _SCAN_LIMIT:
                break
        # walk's "<folder>: <reason>", written as doctor names every folder
        split = (e.rpartition(": ") for e in errors)
        unreadable = [f"{folder} ({reason})" for folder, _, reason in split]
    return exists, count, unreadable


_MAKE_READABLE = "make them readable by the user running cost-mcp"


def log_access_findings(
    logs: str, unreadable: Sequence[str], read_error: str | None, fix: str = _MAKE_READABLE
) -> tuple[list[str], list[str]]:
    """A problem for the log folders doctor itself cannot open, else a warning for the files the
    last read could not open (``read_error``, from the ledger): doctor lists folders, it does not
    open every file. Either way those calls are missing from every total, which each answer says
    (PARTIAL) and the status line marks with "logs unreadable"."""
    if unreadable:
        return [
            f"{logs} logs: cannot open {'; '.join(unreadable)}: their calls are not counted until they "
            f"can be read ({fix})"
        ], []
    if read_error:
        return [], [
            f"{logs} logs: the last read could not open some files ({read_error}); their calls are not "
            f"counted until they can be read ({fix})"
        ]
    return [], []


MAX_SESSIONS_COUNTED = 10_000
"""Copilot sessions counted at most (a folder listing, not a read of each)."""


def copilot_export_warnings(settings: Settings, agent_roots: Sequence[AgentLogs]) -> list[str]:
    """Copilot CLI used without its OpenTelemetry export: its session logs are not read (they give
    no input or cache tokens per call, see README), so a user with sessions and no export found no
    Copilot spend and no word why. Said when no export file is found and sessions are."""
    copilot = [a for a in agent_roots if a.source == "copilot_cli"]
    if not copilot or any(a.unreadable or any(f.log_files for f in a.folders) for a in copilot):
        return []
    state = settings.copilot_dir() / "session-state"
    try:
        with os.scandir(state) as entries:
            # A folder per session (<id>/events.jsonl), or <id>.jsonl from older versions.
            sessions = sum(1 for _ in zip(range(MAX_SESSIONS_COUNTED), entries, strict=False))
    except OSError:
        return []
    if not sessions:
        return []
    folder = settings.copilot_otel_paths()[0]
    more = "+" if sessions == MAX_SESSIONS_COUNTED else ""
    return [
        f"GitHub Copilot CLI: {sessions:,}{more} session(s) in {state} but no OpenTelemetry export in "
        f"{folder}: their calls are not counted (Copilot's session logs give no input or cache tokens "
        "per call). Start Copilot with COPILOT_OTEL_ENABLED=true COPILOT_OTEL_EXPORTER_TYPE=file "
        f"COPILOT_OTEL_FILE_EXPORTER_PATH={folder}/copilot-$(date +%s).jsonl (README, coding agents)"
    ]


def agent_log_roots(settings: Settings, read_errors: Mapping[str, str]) -> list[AgentLogs]:
    """Every registered agent's log folders (whether each exists, how many log files it holds) and
    its last read's error, from ``read_errors`` (source -> error)."""
    from cost_mcp.sources import agents

    found: list[AgentLogs] = []
    for fmt in agents.AGENTS:
        suffixes = fmt.line_suffixes + fmt.document_suffixes + fmt.database_suffixes
        folders: list[AgentFolder] = []
        unreadable: list[str] = []
        for root in fmt.roots(settings):
            exists, count, closed = _count_logs(root, suffixes, fmt.accept)
            unreadable += closed
            folders.append(AgentFolder(path=str(root), found=exists, log_files=count))
        found.append(
            AgentLogs(
                agent=fmt.agent,
                source=fmt.source,
                folders=folders,
                read_error=read_errors.get(fmt.source),
                unreadable=unreadable,
            )
        )
    return found
