"""Hermes Agent (NousResearch/hermes-agent): token totals in its SQLite ``state.db``.

Facts and sources are in ``docs/agent-formats.md``. Hermes keeps no row per call. After each call
of its main loop it adds the call's usage to the session's row (``sessions``: ``input_tokens``
uncached, ``cache_read_tokens``, ``cache_write_tokens``, ``output_tokens`` with the reasoning inside
it) and, in the same transaction, to a row of ``session_model_usage`` per model, provider and task
(``task`` ``''``, or ``voice_chat`` for a voice turn's route). Its auxiliary calls (vision, context
compression, titles, background review...) are added to ``session_model_usage`` alone, under their
task: the session's row never holds them. An older Hermes has no ``session_model_usage``; a gateway
may set the session's row to its agent's running totals (``absolute``), writing no such row.

Every call is counted once, as Hermes's own usage analytics count it: each ``session_model_usage``
row as it is, at its own model and provider, and what the session's row holds beyond its main-loop
rows (:data:`PRIMARY_TASKS`), per token kind, at the session's model: the calls of an older Hermes,
or of a gateway's running totals. An auxiliary row is never taken out of the session's row, which
does not hold it. A compression continuation whose row was set to its agent's running totals
repeats its parent's: those are taken out of it (:func:`_repeated`).

Each of those totals only grows, so it is stored as rows that only grow (as ``goose.py`` stores
Goose's): per token kind, rows of :data:`scanner.GROWN_CHUNK` tokens (``<kind>:<n>``, only the last
one grows) and one of output, all dated at the session's start; reading again, in part or whole
(``ingest --full``), counts nothing twice. The cost Hermes wrote for a total (billed, else its
estimate) is its rows' reported cost, shared over them by their tokens, exactly.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from cost_mcp.agent_folders import AgentFolderPaths
from cost_mcp.money import to_nanos
from cost_mcp.pricing import Tokens
from cost_mcp.sources.agents.pi import pricing_provider
from cost_mcp.sources.agents.scanner import (
    AgentEvent,
    FileContext,
    Parsed,
    SkipReason,
    changed_rows,
    count,
    database_log,
    event_key,
    grown_rows,
    read_agent_database,
    sqlite_empty,
)
from cost_mcp.sources.claude_code import MAX_CALL_COST

AGENT = "hermes"
SOURCE = "hermes"
DATABASE = "state.db"
KINDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
"""The token counters read; ``reasoning_tokens`` is a part of ``output_tokens``, never added."""
_SESSIONS = ("id", "model", "billing_provider", "started_at", *KINDS, "estimated_cost_usd", "actual_cost_usd")
"""The ``sessions`` columns read (ccusage's ``hermes`` adapter reads the same); ``cwd`` when there."""
_USAGE = ("session_id", "model", "billing_provider", "billing_base_url", "billing_mode", *KINDS)
_USAGE_COSTS = ("estimated_cost_usd", "actual_cost_usd")
PRIMARY_TASKS = frozenset({"", "voice_chat"})
"""The ``session_model_usage`` tasks whose calls the session's row holds too: ``update_token_counts``
writes both (its ``task``: ``''`` for the main loop, ``agent._turn_route_task`` for a voice turn's
route, ``voice_turn_route.TASK``); ``record_auxiliary_usage`` writes any other task, alone."""
PROVIDERS: dict[str, str] = {
    "openai-api": "openai",
    "gemini": "google",
    "xai-oauth": "xai",
    "kimi-coding-cn": "kimi-coding",
    "minimax-oauth": "minimax",
    "bedrock": "amazon-bedrock",
    "copilot": "github-copilot",
    "copilot-acp": "github-copilot",
    "nous": "",
    "custom": "",
    "kilocode": "",
    "opencode-zen": "opencode",
}
"""Hermes's provider ids (``hermes_cli/auth.py``, ``PROVIDER_REGISTRY``) that are not pi-ai's, as
the pi-ai id :func:`pi.pricing_provider` maps to genai-prices' (``''``: a gateway or an endpoint of
the user's, whose model's vendor prices it); the rest (``anthropic``, ``openai-codex``,
``openrouter``, ``zai``, ``kimi-coding``, ``minimax``...) are the same in both."""
SET_TOTALS_UNTIL = 1_775_174_400
"""2026-04-03T00:00Z: Hermes's gateway set its sessions' rows to its agent's running totals from
a8df7f99 (2026-03-26) to 20441cf2 (2026-04-02), which made every platform add per call; the call
count came later (5fb14316, 2026-04-22), so a gateway row of no count begun after that was added to."""
_LINEAGE = ("parent_session_id", "end_reason", "source", "model_config", "api_call_count")
"""The ``sessions`` columns that tell a compression continuation, read when there."""
_FORK_MARKERS = ("_branched_from", "_delegate_from", "_reset_from")
"""``model_config`` keys of a child that is not a continuation (``_non_continuation_child_sql``)."""
_I64_MAX = 2**63 - 1


def roots(settings: AgentFolderPaths) -> list[Path]:
    """Hermes's ``state.db`` and each profile's (``profiles/<name>/state.db``): single files, so
    the walk does not go through the rest of Hermes's home (its checkout, skills, logs)."""
    home = settings.hermes_root_path()
    try:
        profiles = sorted(
            p for p in (home / "profiles").glob(f"*/{DATABASE}") if not p.parent.name.startswith(".")
        )
    except OSError:
        profiles = []
    return _once([home / DATABASE, *profiles])


def _once(paths: Sequence[Path]) -> list[Path]:
    """``paths`` with each database once: a profile folder that is a link to another profile (or to
    the home) would give its database a second name, and every call in it a second, prefixed id.
    The database's own path is kept (a profile's name is its folder's), as a walk keeps a file
    found both by its path and through a link; a link leading out of the home is kept, for the
    scan to count as such."""
    own: dict[str, Path] = {}
    for path in sorted(paths, key=lambda p: p.parent.is_symlink()):  # stable: own paths first
        own.setdefault(os.path.realpath(path), path)
    kept = set(own.values())
    return [p for p in paths if p in kept]


def _provider(billing: object, model: str) -> str:
    """Our provider id for a call Hermes billed to ``billing`` (its provider id): the vendor
    genai-prices prices it as, else Hermes's own id, so an unknown provider is named, never guessed."""
    hermes_id = billing.strip().lower() if isinstance(billing, str) else ""
    return pricing_provider(PROVIDERS.get(hermes_id, hermes_id), model) or hermes_id


def _profile(path: str) -> str:
    """The prefix of a database's session ids and keys: a profile's own ids may repeat the default
    home's (each ``state.db`` is a store of its own), so a profile's are kept apart by its name."""
    db = Path(path)
    return f"{db.parent.name}/" if db.parent.parent.name == "profiles" else ""


def _started(value: object) -> int | None:
    """``started_at``: epoch seconds as Hermes writes them (``time.time()``, a REAL)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or not 0 < value < 1e11:
        return None
    return round(value * 1000)


def _amount(value: object) -> Decimal:
    """A cost Hermes wrote (REAL) as the decimal it printed, 0 for none or for no amount."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        return Decimal(0)
    return Decimal(repr(value))  # the REAL's shortest decimal text, not its binary expansion


@dataclass(frozen=True, slots=True)
class _Total:
    """One running total of a session: its tokens per kind and the cost Hermes gave it."""

    key: str
    model: str
    provider: str
    counts: tuple[int, int, int, int]
    estimated: Decimal
    actual: Decimal


def _counts(row: Mapping[str, object]) -> tuple[int, int, int, int]:
    """The four token counters of a row; ValueError when one is no count or absurd."""
    found = tuple(count(row[k]) or 0 for k in KINDS)
    if max(found) > _I64_MAX // 8:
        raise ValueError("absurd token count")
    return found[0], found[1], found[2], found[3]


def _usage_total(prefix: str, session: str, row: Mapping[str, object]) -> _Total | SkipReason:
    """A ``session_model_usage`` row, as Hermes keys it (model, route and task)."""
    try:
        counts = _counts(row)
    except ValueError:
        return "invalid_fields"
    names = [row[c] for c in ("model", "billing_provider", "billing_base_url", "billing_mode", "task")]
    if not all(isinstance(n, str) for n in names):
        return "invalid_fields"
    model = str(names[0]).strip() or "unknown"
    return _Total(
        key=f"{prefix}{session}:u:{event_key(*names)[:16]}",
        model=model,
        provider=_provider(names[1], model),
        counts=counts,
        estimated=_amount(row["estimated_cost_usd"]),
        actual=_amount(row["actual_cost_usd"]),
    )


def _repeated(
    session: Mapping[str, object], parent: Mapping[str, object] | None, rows: bool
) -> tuple[int, int, int, int] | None:
    """The parent's counters when ``session`` is a compression continuation whose row was set to an
    agent's running totals (``absolute``), else None. A gateway's cached agent keeps its totals
    through a compression (its session id changes, its counters do not) and sets them on the
    continuation's row, which then repeats the parent's: the same agent's totals at its last write.

    Set, not added, is told by what else the row has: main-loop usage rows (a Hermes writing one per
    call: what the row holds beyond them was set), or, for a gateway's session begun before
    :data:`SET_TOTALS_UNTIL`, no call count (a Hermes from before ``api_call_count``). A
    continuation added to per call holds its own calls only."""
    if parent is None or parent.get("end_reason") != "compression" or session.get("source") == "tool":
        return None
    calls, started = session.get("api_call_count"), session.get("started_at")
    if not rows and (
        session.get("source", "cli") == "cli"
        or (isinstance(calls, int) and calls > 0)
        or not (isinstance(started, int | float) and started < SET_TOTALS_UNTIL)
    ):
        return None
    try:
        config = json.loads(str(session.get("model_config") or "{}"))
    except ValueError:
        config = {}
    if isinstance(config, dict) and any(config.get(m) == parent.get("id") for m in _FORK_MARKERS):
        # A /branch, subagent or reset fork of this parent: an agent of its own. A marker naming
        # another session is inherited (a continuation copies its parent's ``model_config``).
        return None
    try:
        return _counts(parent)
    except ValueError:
        return None


def _totals(
    prefix: str,
    session: Mapping[str, object],
    usage: Sequence[Mapping[str, object]],
    parent: Mapping[str, object] | None = None,
) -> list[_Total] | SkipReason:
    """A session's running totals: each ``session_model_usage`` row, and the part of the session's
    own row that no main-loop row holds, less what it repeats of its parent's when it is a
    compression continuation (see the module docstring)."""
    sid = str(session["id"])
    try:
        counts = _counts(session)
    except ValueError:
        return "invalid_fields"
    found: list[_Total] = []
    primary = [0, 0, 0, 0]
    estimated, actual = _amount(session["estimated_cost_usd"]), _amount(session["actual_cost_usd"])
    for row in usage:
        total = _usage_total(prefix, sid, row)
        if isinstance(total, str):
            return total
        found.append(total)
        if row["task"] in PRIMARY_TASKS:
            primary = [a + b for a, b in zip(primary, total.counts, strict=True)]
            estimated, actual = estimated - total.estimated, actual - total.actual
    rest = tuple(max(a - b, 0) for a, b in zip(counts, primary, strict=True))
    repeated = _repeated(session, parent, any(r["task"] in PRIMARY_TASKS for r in usage))
    if (
        parent is not None
        and repeated is not None
        and any(repeated)
        and all(r >= p for r, p in zip(rest, repeated, strict=True))
    ):
        # All of the parent's totals are in this row's rest: the agent's totals since before the
        # compression. An agent made again after it (a restart) starts from 0; its rest, then
        # smaller than the parent's in some kind, is its own.
        rest = tuple(r - p for r, p in zip(rest, repeated, strict=True))
        estimated -= _amount(parent["estimated_cost_usd"])
        actual -= _amount(parent["actual_cost_usd"])
    if any(rest):
        model = session["model"]
        if not isinstance(model, str) or not model.strip():
            return "invalid_fields"  # tokens of no model: nothing to price them by
        found.append(
            _Total(
                key=f"{prefix}{sid}",
                model=model.strip(),
                provider=_provider(session["billing_provider"], model.strip()),
                counts=(rest[0], rest[1], rest[2], rest[3]),
                estimated=max(estimated, Decimal(0)),
                actual=max(actual, Decimal(0)),
            )
        )
    return found


def _shares(cost: Decimal, sizes: Sequence[int]) -> list[int | None]:
    """``cost`` in nano-USD shared out over rows of ``sizes`` tokens, adding up to it exactly (the
    rest of the rounding on the largest row); None for each when there is no plausible cost."""
    if not sizes or not 0 < cost <= MAX_CALL_COST * len(sizes):
        return [None] * len(sizes)
    nanos, whole = to_nanos(cost), sum(sizes)
    if nanos == 0:
        return [None] * len(sizes)  # under a nano-USD: a float's rest, not a cost
    shares = [nanos * size // whole for size in sizes]
    shares[max(range(len(sizes)), key=sizes.__getitem__)] += nanos - sum(shares)
    return list[int | None](shares)


def _events(started: int, sid: str, project: str, total: _Total) -> list[AgentEvent]:
    """A running total's stored rows (see the module docstring)."""
    inp, out, read, write = total.counts
    # Hermes keeps cache writes as one count, at Anthropic's 5-minute rate (``usage_pricing``:
    # cache_write_tokens at the model's cache_write price).
    parts = grown_rows(total.key, Tokens(input=inp, output=out, cache_read=read, cache_write_5m=write))
    # The billed cost when a provider reported one, else Hermes's estimate; 0 (a plan's included
    # calls, a model without rates) is no cost: the tokens are priced, or shown unpriced.
    cost = total.actual if total.actual > 0 else total.estimated
    shares = _shares(cost, [t.total for _, t in parts])
    return [
        AgentEvent(
            key=key,
            ts_ms=started,
            provider=total.provider,
            model=total.model,
            session_id=sid,
            project=project,
            tokens=tokens,
            reported_cost_nanos=share,
        )
        for (key, tokens), share in zip(parts, shares, strict=True)
    ]


def _session(
    prefix: str,
    row: Mapping[str, object],
    usage: Sequence[Mapping[str, object]],
    parent: Mapping[str, object] | None,
) -> list[AgentEvent] | SkipReason:
    """A session's stored rows."""
    sid, started = row["id"], _started(row["started_at"])
    if not isinstance(sid, str) or not sid:
        return "invalid_fields"
    totals = _totals(prefix, row, usage, parent)
    if isinstance(totals, str):
        return totals
    if not totals:
        return []
    if started is None:
        return "invalid_fields"
    cwd = row.get("cwd")
    project = cwd if isinstance(cwd, str) else ""
    return [e for t in totals for e in _events(started, prefix + sid, project, t)]


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {str(r[1]) for r in conn.execute(f"PRAGMA table_info({table})").fetchall()}


def _read(
    conn: sqlite3.Connection,
) -> tuple[list[dict[str, object]], list[dict[str, object]]] | SkipReason | None:
    """The sessions and ``session_model_usage`` rows of a database, or why they cannot be read."""
    # One snapshot of both tables: a call Hermes adds between two SELECTs would be in one only.
    conn.execute("BEGIN")
    columns = _columns(conn, "sessions")
    if not columns:
        return None if sqlite_empty(conn) else "unknown_schema"
    if not set(_SESSIONS) <= columns:
        return "unknown_schema"  # an older Hermes, without its cost columns: said, not guessed
    names = [*_SESSIONS, *(c for c in ("cwd", *_LINEAGE) if c in columns)]
    sessions = [
        dict(zip(names, v, strict=True)) for v in conn.execute(f"SELECT {', '.join(names)} FROM sessions")
    ]
    usage_columns = _columns(conn, "session_model_usage")
    if not usage_columns:
        return sessions, []  # a Hermes before per-model rows: the sessions' rows hold every call
    if not set(_USAGE) | set(_USAGE_COSTS) <= usage_columns:
        return "unknown_schema"
    # Rows from before Hermes added ``task`` (auxiliary calls came with it) are main-loop rows.
    task = "task" if "task" in usage_columns else "''"
    select = f"SELECT {', '.join(_USAGE + _USAGE_COSTS)}, {task} FROM session_model_usage"
    usage = [dict(zip((*_USAGE, *_USAGE_COSTS, "task"), v, strict=True)) for v in conn.execute(select)]
    return sessions, usage


def _by_session(usage: Iterable[dict[str, object]]) -> dict[object, list[dict[str, object]]]:
    found: dict[object, list[dict[str, object]]] = {}
    for row in usage:
        found.setdefault(row["session_id"], []).append(row)
    return found


def read_database(path: str, ctx: FileContext) -> Parsed:
    """The sessions of a Hermes ``state.db`` whose totals changed since the last read (all of them
    the first time), read-only: Hermes may be writing it."""
    got = read_agent_database(path, "Hermes Agent", _read)
    if got is None or isinstance(got, str):
        return got
    sessions, usage = got
    prefix, grouped = _profile(path), _by_session(usage)
    by_id = {row["id"]: row for row in sessions}

    def marked(
        row: dict[str, object],
    ) -> tuple[str, str, Callable[[], list[AgentEvent] | SkipReason]]:
        # A session's row, its usage rows and its parent's row as read (scanner.changed_rows).
        rows = sorted(grouped.pop(row["id"], []), key=repr)
        parent = by_id.get(row.get("parent_session_id"))
        mark = repr(
            (tuple(row.values()), [tuple(r.values()) for r in rows], parent and tuple(parent.values()))
        )
        return str(row["id"]), mark, lambda: _session(prefix, row, rows, parent)

    found = changed_rows(ctx, [marked(row) for row in sessions])
    # Usage of no session (Hermes creates the session's row first): no start to date it by.
    found.extend("invalid_fields" for _ in grouped)
    return found


LOG = database_log(
    AGENT,
    "Hermes Agent",
    SOURCE,
    roots,
    read_database,
    DATABASE,
    inside=lambda settings: settings.hermes_root_path(),
)
