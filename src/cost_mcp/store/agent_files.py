"""The SQL of the coding agents' shared log scanner (``sources/agents/scanner.py``): their usage
events, and how far each of their files has been read (``agent_files``). Portable SQL only."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from cost_mcp import tokens
from cost_mcp.store import bulk, meta, reported, session_copies, skipped
from cost_mcp.store.connection import IN_CHUNK, Conn, marks
from cost_mcp.store.usage import TOKENS_FROM_EXCLUDED_SQL

_COLUMNS = (
    "source", "message_id", "request_id", "is_sidechain", "counted", "ts_ms", "provider", "model",
    "session_id", "project", "agent", *tokens.COLUMNS, "total_tokens", "cost_nanos", "priced_model",
    "origin", "reported_cost_nanos", "price_note",
)  # fmt: skip
_KEY = ("source", "message_id", "request_id", "is_sidechain")
_ROW_LEN = len(_COLUMNS) - 3
"""A full row's length: the columns less the three this module fills (request id, sidechain, counted)."""
_TAIL_DEFAULTS = (None, "")
"""The last columns a shorter row leaves out: no reported cost, no price note."""
_ON_CONFLICT = f"""
ON CONFLICT (source, message_id, request_id, is_sidechain) DO UPDATE SET
    ts_ms = excluded.ts_ms, provider = excluded.provider, model = excluded.model,
    session_id = excluded.session_id, project = excluded.project, origin = excluded.origin,
    {TOKENS_FROM_EXCLUDED_SQL}, total_tokens = excluded.total_tokens,
    cost_nanos = excluded.cost_nanos, priced_model = excluded.priced_model,
    reported_cost_nanos = excluded.reported_cost_nanos, price_note = excluded.price_note
WHERE excluded.total_tokens > usage_events.total_tokens
   OR (excluded.total_tokens = usage_events.total_tokens
       AND usage_events.origin = 'replay' AND excluded.origin != 'replay')
   OR (excluded.total_tokens = usage_events.total_tokens AND excluded.origin = usage_events.origin
       AND excluded.session_id = usage_events.session_id
       AND (excluded.reported_cost_nanos <> usage_events.reported_cost_nanos
            OR (excluded.reported_cost_nanos IS NULL) <> (usage_events.reported_cost_nanos IS NULL)))
"""
# The last case: the same copy read again, whose own cost the reader now reads otherwise (OpenCode's
# cost that counted reasoning twice, read by an earlier cost-mcp): the stored row takes the read.


def upsert_events(conn: Conn, rows: Sequence[Sequence[object]]) -> int:
    """Store agent events, each keeping its best copy; returns how many rows were added or upgraded.

    A row is (source, key, ts_ms, provider, model, session id, project, agent, the token counts in
    :data:`cost_mcp.tokens.KINDS` order, total tokens, cost nanos, priced model, origin, and
    optionally the reported cost nanos and a price note): the copy with the most tokens wins, then
    an original over a replay. Written as one batch (COPY and one
    merge on PostgreSQL, see store.bulk).
    """
    if not rows:
        return 0
    meta.note_pricing(conn)
    # Read before the upsert: a copy that replaces a stored one files it under its own session, and
    # the session it leaves may hold no log copy after it (settled below with the ones written).
    left = session_copies.stored_sessions(conn, [(str(r[0]), str(r[1])) for r in rows])
    # Counts inserts and upgrades alike (a changed row either way); an upgrade is rare (Gemini
    # re-appends a message once its tokens are known) and still "new usage".
    changed = bulk.insert_rows(
        conn,
        "usage_events",
        _COLUMNS,
        # A row without the reported cost (most agents log none) has None, and no price note.
        [
            (r[0], r[1], "", 0, 1, *r[2:], *_TAIL_DEFAULTS[len(_TAIL_DEFAULTS) + len(r) - _ROW_LEN :])
            for r in rows
        ],
        on_conflict=_ON_CONFLICT,
        key=_KEY,
    )
    # A session read from its log counts from it: its OTel copies (Codex's, Gemini CLI's) step aside;
    # one a call moved out of may count from them again.
    agents = session_copies.AGENTS
    session_copies.settle(conn, [*left, *((agents[str(r[0])], str(r[5])) for r in rows if r[0] in agents)])
    return min(changed, len(rows))


@dataclass(frozen=True, slots=True)
class Dropped:
    """Rows :func:`drop_copies` deleted: how many, and their cost in the ``auto`` mode."""

    calls: int = 0
    nanos: int = 0
    times: tuple[int, ...] = ()
    """Their instants (their quarter-hours are rebuilt)."""


def drop_copies(
    conn: Conn, source: str, session: str, first_ms: int, last_ms: int, keep: Collection[str], now_ms: int
) -> Dropped:
    """Delete the rows this ledger's own reader stored under ``source`` and ``session`` with a time
    in ``[first_ms, last_ms]`` whose key is not in ``keep``: the span of a log file's copy of other
    calls, which a read of the whole file (yielding ``keep``) no longer counts; what an earlier
    reader stored there was a copy, where the call it copies is stored in another session
    (:func:`cost_mcp.store.reported.copies`). Each removal is numbered in ``forget_log`` for the next push to
    carry to a team server (:func:`cost_mcp.store.reported.log_removed`: not a forget of the
    user's, no tombstone), and the per-row push acks go with the rows. Inside the caller's write
    transaction; the caller marks the times dirty."""
    unread = [
        r
        for r in conn.execute(
            "SELECT id, session_id, ts_ms, model, total_tokens, message_id, "
            "COALESCE(reported_cost_nanos, cost_nanos) FROM usage_events "
            "WHERE source = ? AND session_id = ? AND ts_ms >= ? AND ts_ms <= ? AND request_id = '' "
            "AND is_sidechain = 0 AND member = '' AND origin IN ('local-log', 'replay')",
            (source, session, first_ms, last_ms),
        ).fetchall()
        if str(r[5]) not in keep
    ]
    # Only a copy whose original is stored goes: a fork of a session whose own log was never read
    # holds the only record of those calls, however stamped.
    copied = reported.copies(conn, source, "", unread)
    rows = [(r[0], r[5], r[2], r[6]) for r in unread if r[0] in copied]
    if not rows:
        return Dropped()
    ids = [int(r[0]) for r in rows]
    for at in range(0, len(ids), IN_CHUNK):
        chunk = ids[at : at + IN_CHUNK]
        conn.execute(f"DELETE FROM usage_events WHERE id IN ({marks(chunk)})", chunk)
        conn.execute(f"DELETE FROM pushed_events WHERE event_id IN ({marks(chunk)})", chunk)
    reported.log_removed(conn, [(source, str(r[1]), "", 0) for r in rows], now_ms)
    # The session may hold no log copy now: its OTel copies count again.
    session_copies.settle_rows(conn, [(source, "", session)])
    return Dropped(len(rows), sum(int(r[3] or 0) for r in rows), tuple(int(r[2]) for r in rows))


RENAMED_KEY = "projects_renamed:"
"""``meta`` key (+ source) of the project renames last applied to a source's calls, as JSON."""


def projects_renamed(conn: Conn, source: str) -> dict[str, str]:
    """The renames :func:`rename_projects` last applied to ``source`` (empty when none)."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (RENAMED_KEY + source,)).fetchone()
    try:
        found = json.loads(str(row[0])) if row is not None else {}
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def rename_projects(conn: Conn, source: str, names: Mapping[str, str]) -> list[int]:
    """File ``source``'s calls stored under each old project name under its new one, and remember
    ``names`` as applied; returns the moved calls' instants (their rollup quarter-hours change).
    Inside the caller's write transaction."""
    moved: list[int] = []
    for old, new in names.items():
        moved += [
            int(t)
            for (t,) in conn.execute(
                "SELECT ts_ms FROM usage_events WHERE source = ? AND project = ?", (source, old)
            )
        ]
        conn.execute(
            "UPDATE usage_events SET project = ? WHERE source = ? AND project = ?", (new, source, old)
        )
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (RENAMED_KEY + source, json.dumps(dict(names), sort_keys=True)),
    )
    return moved


def save_files(conn: Conn, files: Iterable[Sequence[object]]) -> None:
    """Remember how far each file was read: (path, source, device, inode, size, mtime_ns, offset,
    checkpoint (hex of sources/logfiles.checkpoint, in the ``head`` column), parser state JSON,
    scanned_at)."""
    conn.executemany(
        """
        INSERT INTO agent_files (path, source, device, inode, size, mtime_ns, "offset", head, state,
                                 scanned_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (path) DO UPDATE SET
            source = excluded.source, device = excluded.device, inode = excluded.inode,
            size = excluded.size, mtime_ns = excluded.mtime_ns, "offset" = excluded."offset",
            head = excluded.head, state = excluded.state, scanned_at = excluded.scanned_at
        """,
        files,
    )


def known_files(conn: Conn, source: str) -> dict[str, tuple[int, int, int, int, int, str, str]]:
    """Per path of ``source``: (device, inode, size, mtime_ns, offset, checkpoint hex, parser state JSON)."""
    return {
        str(p): (int(d), int(i), int(s), int(m), int(o), str(h), str(st))
        for p, d, i, s, m, o, h, st in conn.execute(
            'SELECT path, device, inode, size, mtime_ns, "offset", head, state '
            "FROM agent_files WHERE source = ?",
            (source,),
        )
    }


def forget_files(conn: Conn, gone: Sequence[str], links: Sequence[str]) -> None:
    """Forget the read state of files deleted (``gone``) and of links no longer read (``links``),
    with the links' skipped-line counts. A deleted file that had lines skipped keeps its row: its
    skipped lines (the ledger still lacks them) are said under its agent's name, which this row
    gives them (see store/skipped.py). Inside the caller's write transaction."""
    conn.executemany(
        "DELETE FROM agent_files WHERE path = ? AND NOT EXISTS "
        "(SELECT 1 FROM skipped_lines s WHERE s.path = agent_files.path)",
        ((p,) for p in gone),
    )
    skipped.forget(conn, links)
    conn.executemany("DELETE FROM agent_files WHERE path = ?", ((p,) for p in links))
