"""Crush (charmbracelet/crush): each project's ``crush.db`` in its data folder (``.crush`` in the
project, by default), the folders found through the list of projects Crush keeps in its global
data folder (``projects.json``).

Facts and sources are in ``docs/agent-formats.md``. Crush keeps no usage per call. A session's
``cost`` (USD, a REAL) is the sum Crush adds after each call (``updateSessionUsage``: its model's
catwalk rates, or the cost OpenRouter reported; 0 for a flat-rate model or usage it only estimated),
and a sub-agent's session's cost is added to its parent's when it finishes
(``updateParentSessionCost``). Its ``prompt_tokens`` and ``completion_tokens`` are not sums: each
call overwrites them with that call's prompt and output (they show how full the context is), so no
token count is read. What is read is each top-level session's cost, as Crush's own ``crush stats``
reads it (``parent_session_id IS NULL``): one call per session, the cost Crush wrote as its
reported cost, with a note saying so, under the model most of its assistant messages name.

A session is rewritten in place as it grows, so it is stored as one row keyed by its id, whose
cost the next read replaces: read again, in part or whole (``ingest --full``), it counts once. It is
dated at the session's start (``created_at``): Crush keeps no time per call, and a row that moved
in time would leave the day it left counted. A session whose cost is 0 though it has answers is
stored unpriced, never as $0: Crush logged nothing to price it by.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path

import msgspec

from cost_mcp.agent_folders import AgentFolderPaths
from cost_mcp.files import open_regular_file
from cost_mcp.money import to_nanos
from cost_mcp.pricing import Tokens
from cost_mcp.sources import logfiles
from cost_mcp.sources.agents.scanner import (
    AgentEvent,
    FileContext,
    Parsed,
    SkipReason,
    changed_rows,
    database_log,
    epoch_number_ms,
    provider_of,
    read_agent_database,
    sqlite_empty,
)
from cost_mcp.sources.claude_code import MAX_CALL_COST

AGENT = "crush"
SOURCE = "crush"
DATABASE = "crush.db"
PROJECTS = "projects.json"
MAX_PROJECTS_BYTES = 16 * 1024 * 1024
PRICE_NOTE = "Crush logs each session's cost, not its calls' tokens: its own cost counted"
MAX_SESSION_COST = MAX_CALL_COST * 1000
"""A session is many calls: its cost may pass one call's bound, not this."""
_COLUMNS = ("id", "parent_session_id", "cost", "created_at")
"""Every column of ``sessions`` read (Crush's from its first schema, 2025-04-24, on)."""
_DECODER = msgspec.json.Decoder()


def _listed(settings: AgentFolderPaths) -> list[Path]:
    """The data folders ``projects.json`` lists (Crush's ``projects.Register`` adds each project's
    at its start), each once; none when the file is missing or unreadable."""
    path = settings.crush_data_path() / PROJECTS
    try:
        with open_regular_file(path) as f:
            found = _DECODER.decode(f.read(MAX_PROJECTS_BYTES + 1))
    except (OSError, msgspec.DecodeError):
        return []
    projects = found.get("projects") if isinstance(found, dict) else None
    folders: dict[Path, None] = {}
    for project in projects if isinstance(projects, list) else ():
        data_dir = project.get("data_dir") if isinstance(project, dict) else None
        if isinstance(data_dir, str) and data_dir.strip() and Path(data_dir).is_absolute():
            folders[Path(data_dir)] = None
    return list(folders)


def roots(settings: AgentFolderPaths) -> list[Path]:
    """Crush's global data folder (:meth:`AgentFolderPaths.crush_data_path`: its server's own workspace
    keeps its ``.crush`` there) and the database of every project's data folder its
    ``projects.json`` lists: a project's database is in the project, and Crush keeps no other record
    of where; a folder not listed (a Crush older than its project list) is not read.

    A listed folder gives its ``crush.db`` alone, never a walk of it: the list is whatever data
    folder each project's config named (a project's ``crush.json`` sets ``data_directory``), and
    one naming ``/`` or a home folder had every ``crush.db`` on the machine read, other users'
    included, the whole disk walked to find them. A ``crush.db`` that is a link leading out of its
    folder is passed over, as the walk passes over such a link."""
    listed = (folder / DATABASE for folder in _listed(settings))
    inside = [db for db in listed if logfiles.resolved_inside(db, logfiles.boundary(db.parent))]
    return [settings.crush_data_path(), *inside]


def _project(data_dir: str) -> str:
    """The project a data folder belongs to: the folder holding ``.crush`` (Crush uses the nearest
    ``.crush`` above where it runs); a data folder set elsewhere names itself."""
    folder = Path(data_dir)
    return str(folder.parent) if folder.name == ".crush" else str(folder)


def _cost(value: object) -> Decimal | None:
    """Crush's REAL ``cost`` as the Decimal of SQLite's own text of it (its 15 significant digits),
    never a binary float; None when it is no amount a session can be."""
    if not isinstance(value, str):
        return None
    try:
        cost = Decimal(value)
    except InvalidOperation:
        return None
    return cost if cost.is_finite() and 0 <= cost <= MAX_SESSION_COST else None


def _model(conn: sqlite3.Connection, session: str, with_provider: bool) -> tuple[str, str] | None:
    """The (model, provider) most of the session's assistant messages name (the first of them on a
    tie), or None when it has no answer. ``with_provider``: the database has Crush's ``provider``
    column (its schema of 2025-06-27 on); an older one's answers give the model's family instead."""
    provider = "provider" if with_provider else "NULL"
    rows = conn.execute(
        f"SELECT model, {provider} FROM messages WHERE session_id = ? AND role = 'assistant' "
        "ORDER BY created_at, rowid",
        (session,),
    ).fetchall()
    if not rows:
        return None
    named = Counter((str(m or ""), str(p or "")) for m, p in rows)
    (model, found), _ = named.most_common(1)[0]
    return model, found.strip().lower() or provider_of(model)


def _event(
    conn: sqlite3.Connection, row: dict[str, object], project: str, with_provider: bool
) -> AgentEvent | SkipReason | None:
    """A top-level session's row (see the module docstring), None when it has no answer."""
    session, cost, created = row["id"], _cost(row["cost"]), epoch_number_ms(row["created_at"])
    if not isinstance(session, str) or not session or cost is None or created is None:
        return "invalid_fields"
    named = _model(conn, session, with_provider)
    if named is None:
        # No answer yet (a new session): nothing was spent. A cost with no answer is no real session.
        return "invalid_fields" if cost else None
    model, provider = named
    return AgentEvent(
        key=session,
        ts_ms=created,
        provider=provider,
        model=model,
        session_id=session,
        project=project,
        tokens=Tokens(),
        # 0 is what Crush writes for a flat-rate model, an estimated usage, or a model without
        # rates: unknown, so unpriced and named, never $0.
        reported_cost_nanos=to_nanos(cost) if cost else None,
        price_note=PRICE_NOTE,
    )


_Got = list[AgentEvent] | SkipReason | None


def _as_rows(got: AgentEvent | SkipReason | None) -> _Got:
    """A session's event as :func:`scanner.changed_rows` takes it (None: no answer yet, read again)."""
    return [got] if isinstance(got, AgentEvent) else got


def read_database(path: str, ctx: FileContext) -> Parsed:
    """The top-level sessions of a Crush database whose cost changed since the last read (all of
    them the first time), read-only: Crush may be writing it."""

    def read(conn: sqlite3.Connection) -> Parsed:
        columns = {r[1] for r in conn.execute("PRAGMA table_info(sessions)").fetchall()}
        if not columns:
            return None if sqlite_empty(conn) else "unknown_schema"
        answers = {r[1] for r in conn.execute("PRAGMA table_info(messages)").fetchall()}
        if not set(_COLUMNS) <= columns or not {"session_id", "role", "model", "created_at"} <= answers:
            return "unknown_schema"  # another Crush's schema: said, not guessed
        rows = conn.execute(
            "SELECT id, parent_session_id, CAST(cost AS TEXT), created_at FROM sessions "
            "WHERE parent_session_id IS NULL"
        ).fetchall()
        project = _project(str(Path(path).parent))

        def marked(
            values: Sequence[object],
        ) -> tuple[str, str, Callable[[], list[AgentEvent] | SkipReason | None]]:
            # A session's cost as read: Crush rewrites a session's row after each call; the others,
            # unchanged, are not read again (scanner.changed_rows).
            row = dict(zip(_COLUMNS, values, strict=True))
            mark = f"{row['cost']}/{row['created_at']}"
            return str(row["id"]), mark, lambda: _as_rows(_event(conn, row, project, "provider" in answers))

        return changed_rows(ctx, map(marked, rows))

    return read_agent_database(path, "Crush", read)


LOG = database_log(AGENT, "Crush", SOURCE, roots, read_database, DATABASE)
"""A data folder's database alone: its logs and config are not read."""
