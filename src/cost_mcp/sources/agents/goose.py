"""Goose (block/goose): token totals per session in its SQLite database ``sessions/sessions.db``.

Facts and sources are in ``docs/agent-formats.md``. Goose logs no call: after each model call it
adds the call's ``input_tokens``, ``output_tokens`` and ``total_tokens`` to its session row's
``accumulated_*`` columns, in place (``update_session_metrics``), and keeps the model and provider
of the session (``model_config_json``, ``provider_name``). Its ``input_tokens`` already hold the
cache reads and writes (Anthropic's are summed into it) and the totals keep no split of them, so
all input is priced at the model's plain input rate: the most the calls can have cost. What
``total_tokens`` holds beyond input and output (Gemini's thoughts, which it reports apart) is
billed as output.

A session is stored as rows that only grow, so reading it again, in part or whole (``ingest
--full``), counts nothing twice: one row of its output (``<id>:out``), and its input in rows of
:data:`scanner.GROWN_CHUNK` tokens (``<id>:in:<n>``; only the last one grows). A single row of a whole
session's input would cross a model's long-context threshold (Claude's and Gemini's 200k) and be
priced at that tier, as no call of it was. Every row is dated at the session's start
(``created_at``): Goose keeps no time per call, and a row that moved in time would leave the day
it left counted.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import msgspec

from cost_mcp.agent_folders import AgentFolderPaths
from cost_mcp.pricing import Tokens
from cost_mcp.sources.agents.scanner import (
    AgentEvent,
    FileContext,
    Parsed,
    SkipReason,
    changed_rows,
    count,
    database_log,
    epoch_ms,
    epoch_number_ms,
    grown_rows,
    provider_of,
    read_agent_database,
    sqlite_empty,
)

AGENT = "goose"
SOURCE = "goose"
DATABASE = "sessions.db"
_COLUMNS = (
    "id",
    "created_at",
    "updated_at",
    "working_dir",
    "provider_name",
    "model_config_json",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "accumulated_input_tokens",
    "accumulated_output_tokens",
    "accumulated_total_tokens",
)
"""Every column read: Goose's ``sessions`` table from its schema version 6 (the model and provider)."""
_I32_MAX = 2**31 - 1
_DECODER = msgspec.json.Decoder()


def roots(settings: AgentFolderPaths) -> list[Path]:
    """Goose's sessions folder (:meth:`AgentFolderPaths.goose_sessions_path`)."""
    return [settings.goose_sessions_path()]


def _ms(value: object) -> int | None:
    """Goose's ``created_at``: SQLite's ``CURRENT_TIMESTAMP`` text (UTC, no zone), an RFC 3339
    stamp (sqlx's, for an imported session), or epoch seconds or milliseconds."""
    if isinstance(value, int) and not isinstance(value, bool):
        return epoch_number_ms(value)
    if isinstance(value, str):
        return epoch_ms(value.strip())
    return None


def _model(config: object) -> str | None:
    """``model_name`` of the session's ``model_config_json`` (Goose's ``ModelConfig``)."""
    if not isinstance(config, str | bytes):
        return None
    try:
        found = _DECODER.decode(config)
    except msgspec.DecodeError:
        return None
    name = found.get("model_name") if isinstance(found, dict) else None
    return name.strip() if isinstance(name, str) and name.strip() else None


def _events(row: Mapping[str, object]) -> list[AgentEvent] | SkipReason | None:
    """A session row's stored rows (see the module docstring), None when it used no token."""
    try:
        # The session's totals; a session Goose never totalled (imported from its legacy files
        # with the last call's counts only) has those (as ccusage reads it).
        inp, out, total = (
            count(row[f"accumulated_{kind}_tokens"]) or count(row[f"{kind}_tokens"]) or 0
            for kind in ("input", "output", "total")
        )
    except ValueError:
        return "invalid_fields"
    if max(inp, out, total) > _I32_MAX:
        return "invalid_fields"  # Goose keeps its counts as i32: a larger one is not Goose's
    if not (inp or out or total):
        return None
    session, created, model = row["id"], _ms(row["created_at"]), _model(row["model_config_json"])
    if not isinstance(session, str) or not session or created is None or model is None:
        return "invalid_fields"
    provider_name = row["provider_name"]
    provider = str(provider_name).strip().lower() if provider_name else provider_of(model)
    project = row["working_dir"] if isinstance(row["working_dir"], str) else ""
    extra = max(total - inp - out, 0)

    def event(key: str, tokens: Tokens) -> AgentEvent:
        return AgentEvent(
            key=key,
            ts_ms=created,
            provider=provider,
            model=model,
            session_id=session,
            project=project,
            tokens=tokens,
        )

    return [event(key, tokens) for key, tokens in grown_rows(session, Tokens(input=inp, output=out + extra))]


def _rows(conn: sqlite3.Connection) -> list[tuple[object, ...]] | SkipReason | None:
    """Every session's row, or why there are none to read."""
    columns = {r[1] for r in conn.execute("PRAGMA table_info(sessions)").fetchall()}
    if not columns:
        return None if sqlite_empty(conn) else "unknown_schema"
    if not set(_COLUMNS) <= columns:
        # An older Goose (before its schema 6 there was no model to price by): said, not guessed.
        return "unknown_schema"
    return conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM sessions").fetchall()


def read_database(path: str, ctx: FileContext) -> Parsed:
    """The sessions of Goose's database whose sums changed since the last read (all of them the
    first time), read-only: Goose may be writing it."""
    rows = read_agent_database(path, "Goose", _rows)
    if rows is None or isinstance(rows, str):
        return rows
    return changed_rows(ctx, map(_marked, rows))


def _marked(values: Sequence[object]) -> tuple[str, str, Callable[[], list[AgentEvent] | SkipReason]]:
    """A session's key, its sums as read (Goose rewrites one row per call; the others, unchanged,
    are not written again: thousands of sessions, each several rows) and its events
    (:func:`scanner.changed_rows`)."""
    row = dict(zip(_COLUMNS, values, strict=True))
    mark = f"{row['accumulated_input_tokens']}/{row['accumulated_output_tokens']}/"
    mark += f"{row['accumulated_total_tokens']}/{row['input_tokens']}/{row['output_tokens']}"
    return str(row["id"]), mark, lambda: _events(row) or []


LOG = database_log(AGENT, "Goose", SOURCE, roots, read_database, DATABASE)
"""Goose's database alone: its backups and legacy ``.jsonl`` sessions are not read."""
