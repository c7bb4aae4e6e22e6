"""One incremental scanner for every coding agent's local logs (Codex CLI, Gemini CLI, ...).

An agent's module says where its files live and how one line (or one whole JSON document) becomes
usage events; this module does the rest, the same way for every agent, on the file scanner Claude
Code's reader uses too (``sources/logfiles.py``):

- offsets: each file's device, inode, size, mtime and the byte offset after its last complete line
  are kept in ``agent_files``, so a scan reads only appended bytes and leaves an unfinished last
  line for next time; an unchanged file costs one ``stat``;
- rewrite detection: a file that shrank, was replaced (new inode), or whose bytes just before the
  remembered offset changed is read again from the start, with its parser state reset;
- parser state: what a line means can depend on earlier lines (Codex's model comes from the last
  ``turn_context``); that state is a small JSON object saved with the offset, so reading resumes
  exactly where it stopped;
- skip counting: a line that is not JSON, is cut off, is too long or has unusable fields (a
  message of a whole-document file, a row of a database, likewise) is counted by reason and
  skipped, never fatal (an over-long line once, even when its end arrives in a later scan). The
  counts are kept per file in ``skipped_lines``, written with the file's offset, as Claude Code's
  are, so every later answer and ``cost-mcp doctor`` name them; a file read again from the start
  has its counts replaced. A file name that is not UTF-8 is counted as ``undecodable_name`` (in
  the scan's summary only: there is no name to keep);
- dedup: every event has a key that names the call, not where it was seen, so a replayed prefix
  or a forked session copied into another file counts once (``ON CONFLICT`` keeps the copy with
  the most tokens); a file whose parser names a span of copied calls (Codex's forks:
  :attr:`AgentLog.copied`), read from its start, deletes the rows of that span it no longer gives,
  which an earlier cost-mcp stored as calls;
- a large read (:data:`BESIDE_BYTES` of lines, a cold Codex home) is parsed in a forked worker
  while this process prices and writes each batch, by the mechanism Claude Code's reader uses
  too (``sources/beside.py``), when this process may fork; the ledger is the same.

Adding an agent is one module that builds an :class:`AgentLog` (:func:`database_log` for one kept
in the agent's own SQLite database) and one line in ``sources/agents/__init__.py``.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import gc
import hashlib
import json
import logging
import operator
import os
import pickle
import sqlite3
import stat
import time
from collections import Counter
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO, Literal, TypeVar

from cost_mcp import tokens
from cost_mcp.agent_folders import AgentFolderPaths
from cost_mcp.files import NotRegularFileError, open_regular_file
from cost_mcp.money import format_usd, from_nanos, to_nanos
from cost_mcp.periods import ms_to_datetime, to_ms
from cost_mcp.pricing import Price, Pricer, Tokens, claude_provider, provider_models
from cost_mcp.sources import beside, logfiles
from cost_mcp.sources.claude_code import MAX_CALL_COST, MAX_TS_MS, MIN_TS_MS
from cost_mcp.store import agent_files, rollup
from cost_mcp.store import skipped as skipped_lines
from cost_mcp.store.claude_logs import few_checkpoints
from cost_mcp.store.connection import Conn, sqlite_uri, without_nul, write_transaction
from cost_mcp.store.plan_limits import insert_readings
from cost_mcp.store.source_state import all_states, record_scan

logger = logging.getLogger(__name__)

SkipReason = Literal["malformed", "truncated", "too_long", "invalid_fields", "unknown_schema"]
SKIP_REASONS: tuple[SkipReason, ...] = (
    "malformed",
    "truncated",
    "too_long",
    "invalid_fields",
    "unknown_schema",
)
"""``unknown_schema``: an agent's database without a table or column its reader needs (another
version of the agent), counted once per read of it."""
MAX_LINE_BYTES = 64 * 1024 * 1024
"""A longer line is skipped as ``too_long`` without being held in memory."""
MAX_DOCUMENT_BYTES = 256 * 1024 * 1024
"""A whole-document file (legacy Gemini ``.json``) larger than this is skipped as ``too_long``."""
SKIPPING_KEY = "_skipping"
"""Kept in a file's saved parser state while its offset is inside an over-long line already counted."""
BATCH_EVENTS = 20_000


@dataclass(frozen=True, slots=True)
class AgentEvent:
    """One model call an agent logged, in the ledger's disjoint token kinds."""

    key: str
    """Names the call itself (not the file or line), so copies of it collapse."""
    ts_ms: int
    provider: str
    model: str
    session_id: str
    project: str
    tokens: Tokens
    replayed: bool = False
    """A copy of a call first logged elsewhere (a fork's copied history): the original wins."""
    reported_cost_nanos: int | None = None
    """The cost the agent itself logged for the call (Cline's ``cost``), used instead of our price
    in the ``auto`` cost mode as Claude Code's ``costUSD`` is; None when it logged none."""
    price_note: str = ""
    """How the reported cost was reached when the agent logged no tokens to check it by (Codebuff's
    credits, Crush's session cost): said in every answer that counts the call."""

    def rank(self) -> tuple[int, bool]:
        """Smaller is better: most tokens, then an original over a replayed copy."""
        return (-self.tokens.total, self.replayed)


@dataclass(frozen=True, slots=True)
class LimitReading:
    """A plan-limit reading an agent logged (Codex's ChatGPT-plan windows): percent used, reset."""

    window: str
    used_percent: float
    resets_at_ms: int | None
    session_id: str
    ts_ms: int


@dataclass
class FileContext:
    """What a parser knows about the file it reads: where it is and the state earlier lines left."""

    path: str
    root: str
    state: dict[str, object]
    shared: dict[str, object] = field(default_factory=dict)
    """The scan's, the same for each of its files and its rename pass: what a parser found once per
    scan (Gemini CLI's project files), never stored."""
    passed_over: Counter[str] = field(default_factory=Counter)
    """The scan's count of files it did not open (:data:`logfiles.FILE_SKIP_REASONS`): the walk's,
    and the side files :meth:`open_beside` refused."""

    @cached_property
    def _inside(self) -> str:
        return logfiles.boundary(self.root)

    def open_beside(self, path: Path | str) -> BinaryIO:
        """A file the agent keeps beside this one (a task's metadata, a message's parts), opened by
        the walk's rule (:func:`logfiles.open_beside`, inside the root walked): a link leading out
        of it, or a pipe, is counted in :attr:`passed_over` and raises OSError, never opened."""
        return logfiles.open_beside(path, self._inside, self.passed_over)


Parsed = Sequence[AgentEvent | LimitReading | SkipReason] | SkipReason | None
"""What a line (document, database) gave: its calls and readings, with a reason for each part of
it that could not be used (a whole-document file can hold good and bad messages); one reason when
none of it could; None when it holds no call."""
LineParser = Callable[[bytes, FileContext], Parsed]


@dataclass(frozen=True)
class AgentLog:
    """An agent's local log format: the whole of what a new agent must provide."""

    agent: str
    """The agent's name, stored as ``agent`` on each event (``codex``, ``gemini-cli``)."""
    label: str
    """The agent's name as people write it (``Codex``, ``Gemini CLI``), for warnings."""
    source: str
    """The ledger source id (``codex``, ``gemini_cli``)."""
    roots: Callable[[AgentFolderPaths], list[Path]]
    """Folders to walk, or single files (those that do not exist are ignored)."""
    line_suffixes: tuple[str, ...]
    parse_line: LineParser
    document_suffixes: tuple[str, ...] = ()
    parse_document: LineParser | None = None
    """For formats that rewrite one JSON document per session: the whole file, read when it changes."""
    database_suffixes: tuple[str, ...] = ()
    read_database: Callable[[str, FileContext], Parsed] | None = None
    """For SQLite stores: every row read again when the database (or its WAL) changed."""
    accept: Callable[[str], bool] | None = None
    """Which of the walked files to read (default: every file with a listed suffix)."""
    copied: Callable[[dict[str, object]], tuple[str, int, int] | None] | None = None
    """For formats whose files may hold a copy of calls logged elsewhere (Codex's forks): from the
    parser state after a read of a whole file, the file's session and the span (first and last ms)
    of that copy, where an earlier reader stored rows the current one does not yield. Rows of that
    session and span the read did not yield are deleted (:func:`agent_files.drop_copies`)."""
    finish: Callable[[FileContext], Parsed] | None = None
    """For line formats whose parser holds calls until a later line settles them (Codex's usage
    records wait for the end of their turn): what it still holds once the file has settled (no
    write for :data:`logfiles.SETTLED_NS`: the agent was killed mid-turn, no line will settle them
    now). It must take them out of ``ctx.state``, so they are given once."""
    holding: str = ""
    """A text the saved parser state (compact JSON) holds while :attr:`finish` has something to give:
    checked on each unchanged file without decoding its state."""
    inside: Callable[[AgentFolderPaths], Path] | None = None
    """For an agent whose roots are files found through links it does not own (Hermes's profiles,
    ``profiles/*/state.db``): the folder each must resolve inside to be read, as a link found by a
    walk must (else counted as ``link_outside``). Default: each root is its own boundary."""
    renamed_projects: Callable[[Path, dict[str, object], Counter[str]], dict[str, str]] | None = None
    """For a root, the scan's shared dict (:attr:`FileContext.shared`) and its count of files passed
    over (:attr:`FileContext.passed_over`): projects this agent's calls may be stored under that
    now have another name (stored name -> name the parser now gives); the stored calls are moved,
    once per change."""


def document_log(
    agent: str,
    label: str,
    source: str,
    roots: Callable[[AgentFolderPaths], list[Path]],
    parse_document: LineParser,
    accept: Callable[[str], bool] | None = None,
) -> AgentLog:
    """The :class:`AgentLog` of an agent that rewrites one JSON document per session or task (Amp,
    Cline and its forks, Codebuff, Factory Droid): no line format, each ``.json`` file read whole
    by ``parse_document`` when it changes; ``accept`` picks which of them are the agent's."""
    return _read_whole(
        agent, label, source, roots, accept, document_suffixes=(".json",), parse_document=parse_document
    )


def database_log(
    agent: str,
    label: str,
    source: str,
    roots: Callable[[AgentFolderPaths], list[Path]],
    read_database: Callable[[str, FileContext], Parsed],
    accept: str | Callable[[str], bool],
    *,
    document_suffixes: tuple[str, ...] = (),
    parse_document: LineParser | None = None,
    inside: Callable[[AgentFolderPaths], Path] | None = None,
) -> AgentLog:
    """The :class:`AgentLog` of an agent that keeps its usage in a SQLite database of its own
    (OpenCode, Goose, Hermes Agent, Crush): no line format, ``.db`` files read by
    ``read_database``. ``accept`` is the database's file name (the agent's other files beside it,
    logs, backups, config, are not read) or which walked files to read; an agent that also wrote
    one JSON document per message before its database passes that reader too; ``inside`` is
    :attr:`AgentLog.inside`."""
    if isinstance(accept, str):
        name = accept
        accept = lambda path: Path(path).name == name  # noqa: E731 - a one-line predicate
    return _read_whole(
        agent,
        label,
        source,
        roots,
        accept,
        document_suffixes=document_suffixes,
        parse_document=parse_document,
        database_suffixes=(".db",),
        read_database=read_database,
        inside=inside,
    )


def _read_whole(
    agent: str,
    label: str,
    source: str,
    roots: Callable[[AgentFolderPaths], list[Path]],
    accept: Callable[[str], bool] | None,
    *,
    document_suffixes: tuple[str, ...] = (),
    parse_document: LineParser | None = None,
    database_suffixes: tuple[str, ...] = (),
    read_database: Callable[[str, FileContext], Parsed] | None = None,
    inside: Callable[[AgentFolderPaths], Path] | None = None,
) -> AgentLog:
    """The :class:`AgentLog` of an agent with no line format, whose files (documents, databases)
    are each read whole when they change: :func:`document_log`'s and :func:`database_log`'s."""
    return AgentLog(
        agent=agent,
        label=label,
        source=source,
        roots=roots,
        line_suffixes=(),
        parse_line=lambda raw, ctx: None,
        document_suffixes=document_suffixes,
        parse_document=parse_document,
        database_suffixes=database_suffixes,
        read_database=read_database,
        accept=accept,
        inside=inside,
    )


@dataclass
class AgentScan:
    """What one scan of one agent did."""

    agent: str
    roots: list[str] = field(default_factory=list)
    files_seen: int = 0
    files_read: int = 0
    files_reread: int = 0
    lines_read: int = 0
    events_seen: int = 0
    events_added: int = 0
    copies_removed: int = 0
    """Rows an earlier reader stored for copies of calls (:attr:`AgentLog.copied`), deleted."""
    copies_removed_nanos: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    unpriced: Counter[str] = field(default_factory=Counter)
    uncosted: Counter[str] = field(default_factory=Counter)
    """Calls logged with neither tokens nor a cost, by model: unpriced, and no price file prices them."""
    errors: list[str] = field(default_factory=list)
    complete: bool = True
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class _Known:
    """A file's saved read state (a :class:`logfiles.Mark`) and its parser state."""

    device: int
    inode: int
    size: int
    mtime_ns: int
    offset: int
    head: str
    """The hex of :func:`logfiles.checkpoint` at ``offset``."""
    state: str

    @property
    def check(self) -> bytes | None:
        """The checkpoint as bytes (None for a value that is not one: read again from the start)."""
        try:
            return bytes.fromhex(self.head) if self.head else None
        except ValueError:
            return None

    @property
    def skipping(self) -> bool:
        """Whether ``offset`` lies inside an over-long line already counted."""
        return f'"{SKIPPING_KEY}":true' in self.state


_CALL = operator.attrgetter("key", "ts_ms", "provider", "model", "session_id", "project")
"""A call's fields the parse worker sends as they are (:meth:`_Batch.pack`)."""


@dataclass(slots=True)
class _Batch:
    """What a read gathered and has not written yet: the best copy of each call, plan-limit
    readings, and the file states they reach (with each file's skipped lines, the files read from
    their start, and the spans of copies to drop) — written in one transaction."""

    events: dict[str, AgentEvent] = field(default_factory=dict)
    readings: list[LimitReading] = field(default_factory=list)
    files: dict[str, tuple[object, ...]] = field(default_factory=dict)
    skipped: Counter[tuple[str, str]] = field(default_factory=Counter)
    restarted: set[str] = field(default_factory=set)
    copies: list[tuple[str, int, int, frozenset[str]]] = field(default_factory=list)

    def __bool__(self) -> bool:
        # Skipped lines, restarts and copies come only with a file's state.
        return bool(self.events or self.files or self.readings)

    def pack(self) -> bytes:
        """The batch as the parse worker sends it (:func:`_parse_beside`); :meth:`unpack` reads it."""
        # As plain tuples: a frozen dataclass pickles through a call per object, which took most
        # of the worker's cost of sending.
        return pickle.dumps(
            (
                "batch",
                (
                    [
                        (*_CALL(e), tokens.of_call(e.tokens), e.replayed, e.reported_cost_nanos, e.price_note)
                        for e in self.events.values()
                    ],
                    [
                        (r.window, r.used_percent, r.resets_at_ms, r.session_id, r.ts_ms)
                        for r in self.readings
                    ],
                    list(self.files.values()),
                    dict(self.skipped),
                    self.restarted,
                    self.copies,
                ),
            ),
            pickle.HIGHEST_PROTOCOL,
        )

    @classmethod
    def unpack(cls, body: Any) -> _Batch:
        """The batch :meth:`pack` sent (its body, after the message's kind)."""
        events, readings, files, skipped, restarted, copies = body
        return cls(
            {
                key: AgentEvent(key, ts, provider, model, session, project, Tokens(*counts), *rest)
                for key, ts, provider, model, session, project, counts, *rest in events
            },
            [LimitReading(*r) for r in readings],
            {row[0]: row for row in files},
            Counter(skipped),
            restarted,
            copies,
        )


class _Writer:
    """Gathers what the files give into a :class:`_Batch` and hands each full one to ``sink``:
    written by this process (:meth:`_Store.write`) or sent to it by the parse worker
    (:func:`_parse_beside`)."""

    def __init__(self, fmt: AgentLog, stats: AgentScan, sink: Callable[[_Batch], None], limit: int) -> None:
        self.fmt, self.stats, self.sink, self.limit = fmt, stats, sink, limit
        self.batch = _Batch()
        self.reading: list[LimitReading] = []
        """The readings of the file being read: put in the batch only with the offset it is read up to
        (:meth:`file`). A batch written in the middle of a file, then a crash, left its readings
        stored and its offset not: the next read gave them again, and a reading without a reset
        time (nothing in the ledger tells two apart) was stored again, or another after it that
        the first read had found said already."""
        self.yielded: set[str] = set()
        """The keys the file being read gave (for :attr:`AgentLog.copied`)."""

    def add(self, event: AgentEvent) -> None:
        if self.fmt.copied is not None:
            self.yielded.add(event.key)
        events = self.batch.events
        held = events.get(event.key)
        if held is None or event.rank() < held.rank():
            events[event.key] = event
        if len(events) >= self.limit:
            self.flush()

    def file(
        self,
        path: str,
        st: _Stamp,
        offset: int,
        state: dict[str, object],
        skipping: bool,
        skipped: Counter[str],
        restarted: bool,
    ) -> None:
        """A file read up to ``offset``; ``skipped`` counts the lines skipped in this read, which
        replace the file's earlier counts when it was ``restarted`` (read from its start)."""
        # Kept with the offset, written in the same transaction: a scan that stops before the file
        # is saved leaves both to the next, so no line is counted twice.
        batch = self.batch
        if restarted:
            batch.restarted.add(path)
            span = self.fmt.copied(state) if self.fmt.copied is not None else None
            if span is not None:
                # The whole file was read: a row of its copy's span it did not give is no call.
                batch.copies.append((*span, frozenset(without_nul(k) for k in self.yielded)))
        self.yielded = set()
        batch.readings += self.reading
        self.reading = []
        batch.skipped.update({(path, reason): n for reason, n in skipped.items()})
        check = logfiles.checkpoint_of(path, offset, st)
        saved = {**state, SKIPPING_KEY: True} if skipping else state
        batch.files[path] = (
            path,
            self.fmt.source,
            st.st_dev,
            st.st_ino,
            st.st_size,
            st.st_mtime_ns,
            offset,
            check.hex() if check is not None else "",
            json.dumps(saved, separators=(",", ":")),
            datetime.now(UTC).isoformat(),
        )

    def flush(self) -> None:
        """Hand the batch gathered so far to the sink, and start another."""
        if self.batch:
            self.sink(self.batch)
            self.batch = _Batch()


@dataclass(frozen=True, slots=True)
class _Store:
    """Writes an agent's batches into the ledger, pricing each call."""

    conn: Conn
    fmt: AgentLog
    pricer: Pricer
    stats: AgentScan

    def write(self, batch: _Batch) -> None:
        """Write the events and the offsets they were read up to, in one transaction."""
        conn, fmt, stats = self.conn, self.fmt, self.stats
        rows = [self._row(e) for e in batch.events.values()]
        now_ms = to_ms(datetime.now(UTC))
        with write_transaction(conn):
            changed = agent_files.upsert_events(conn, rows)
            if rows:
                rollup.mark_dirty(conn, [e.ts_ms for e in batch.events.values()])
            for session, first_ms, last_ms, keep in batch.copies:
                dropped = agent_files.drop_copies(
                    conn, fmt.source, without_nul(session), first_ms, last_ms, keep, now_ms
                )
                rollup.mark_dirty(conn, dropped.times)
                stats.copies_removed += dropped.calls
                stats.copies_removed_nanos += dropped.nanos
            insert_readings(
                conn,
                fmt.agent,
                (
                    (
                        without_nul(r.window),
                        r.used_percent,
                        r.resets_at_ms,
                        without_nul(r.session_id),
                        r.ts_ms,
                    )
                    for r in batch.readings
                ),
            )
            agent_files.save_files(conn, batch.files.values())
            skipped_lines.record(conn, batch.restarted, batch.skipped)
        stats.events_added += changed

    def _row(self, e: AgentEvent) -> tuple[object, ...]:
        t = e.tokens
        key, provider, model, session, project = e.key, e.provider, e.model, e.session_id, e.project
        if "\x00" in f"{key}{provider}{model}{session}{project}":
            # A NUL (JSON's \\u0000) from any agent's log: PostgreSQL cannot store one in text, and
            # the whole ingest failed ("the ledger cannot be used"), every other call with it.
            # Replaced the same way at every read (as Claude Code's reader, the push and OTLP do),
            # the call is still one call. Here, on the few strings of each call every reader
            # writes, not in each reader nor on each line's bytes.
            key, provider, model, session, project = (
                without_nul(x) for x in (key, provider, model, session, project)
            )
        priced = self.pricer.price(t, model, provider, ms_to_datetime(e.ts_ms)) if t.total else None
        if isinstance(priced, Price):
            cost, priced_model = priced.total_nanos, priced.model_id
        else:
            # A call logged with no tokens (Codebuff's credits, Crush's session cost) has nothing to
            # price: its model's rates would make it $0, never its cost. Only what the agent reported
            # counts, and without that the call is unpriced, and named so.
            cost, priced_model = None, None
            if e.reported_cost_nanos is None:
                (self.stats.unpriced if t.total else self.stats.uncosted)[model] += 1
        return (
            self.fmt.source,
            key,
            e.ts_ms,
            provider,
            model,
            session,
            project,
            self.fmt.agent,
            *tokens.of_call(t),
            t.total,
            cost,
            priced_model,
            "replay" if e.replayed else "local-log",
            e.reported_cost_nanos,
            e.price_note,
        )


def _rename_projects(
    conn: Conn,
    fmt: AgentLog,
    renamed: Callable[[Path, dict[str, object], Counter[str]], dict[str, str]],
    folders: Sequence[Path],
    shared: dict[str, object],
    passed_over: Counter[str],
) -> None:
    """Move stored calls to their project's current name; nothing is written when the renames are
    the ones already applied (the usual case: one read of ``meta``)."""
    names: dict[str, str] = {}
    for root in folders:
        if root.is_dir():
            names.update(
                {
                    without_nul(old): without_nul(new)
                    for old, new in renamed(root, shared, passed_over).items()
                }
            )
    if agent_files.projects_renamed(conn, fmt.source) == names:
        return
    with write_transaction(conn):
        rollup.mark_dirty(conn, agent_files.rename_projects(conn, fmt.source, names))


def _forget_unread(
    conn: Conn, known: Mapping[str, _Known], seen: Container[str], folders: Sequence[Path]
) -> None:
    """Drop the read state of the known files the walk of ``folders`` did not find that are read no
    more (:func:`logfiles.unread`: deleted, or links passed over): otherwise every scan reads the
    rows of every log the agent ever deleted."""
    gone, links = logfiles.unread(known, seen, folders)
    if gone or links:
        with write_transaction(conn):
            agent_files.forget_files(conn, gone, links)


def _known(conn: Conn, source: str) -> dict[str, _Known]:
    return {path: _Known(*row) for path, row in agent_files.known_files(conn, source).items()}


@dataclass(frozen=True, slots=True)
class _Stamp:
    """What tells a file changed: device, inode, size and mtime (a database's include its WAL)."""

    st_dev: int
    st_ino: int
    st_size: int
    st_mtime_ns: int

    @classmethod
    def of(cls, path: str, st: os.stat_result, database: bool) -> _Stamp:
        size, mtime = st.st_size, st.st_mtime_ns
        if database:
            # SQLite in WAL mode writes to <db>-wal and leaves the main file alone until a checkpoint.
            try:
                wal = os.stat(path + "-wal")
                size, mtime = size + wal.st_size, max(mtime, wal.st_mtime_ns)
            except OSError:
                pass
        return cls(st.st_dev, st.st_ino, size, mtime)


def _database_state(prev: _Known | None, stamp: _Stamp) -> dict[str, object]:
    """What a database's reader noted at its last read (a watermark), while it is the same file: a
    database is read whole each time, so this only spares it work, never decides what counts."""
    if prev is None or (prev.device, prev.inode) != (stamp.st_dev, stamp.st_ino):
        return {}
    try:
        state = json.loads(prev.state)
    except ValueError:
        return {}
    return state if isinstance(state, dict) else {}


def _start(
    prev: _Known | None, path: str, st: _Stamp, stats: AgentScan, *, lines: bool = False
) -> tuple[int, bool, dict[str, object]] | None:
    """Where to resume a file, whether that is inside a skipped line, and the parser state there;
    None when it is unchanged. ``lines``: a file of lines (its settled last line is read, see
    :func:`logfiles.resume`)."""
    kind, offset, skipping = logfiles.resume(path, prev, st, tails=lines)
    if kind == "unchanged":
        return None
    if kind == "reset":
        stats.files_reread += 1
    if prev is None or kind != "changed":
        return 0, False, {}
    state = json.loads(prev.state)
    if not isinstance(state, dict):
        return offset, skipping, {}
    state.pop(SKIPPING_KEY, None)
    return offset, skipping, state


def _held(
    fmt: AgentLog, prev: _Known | None, st: os.stat_result
) -> tuple[int, bool, dict[str, object]] | None:
    """An unchanged file of lines whose parser still holds calls (:attr:`AgentLog.finish`) and that
    has settled: its offset, whether that is inside a skipped line, and the parser state; else None."""
    if fmt.finish is None or prev is None or not fmt.holding or fmt.holding not in prev.state:
        return None
    if prev.offset != st.st_size or not logfiles.settled(st):  # read to its end, and left alone
        return None
    state = json.loads(prev.state)
    if not isinstance(state, dict):
        return None
    state.pop(SKIPPING_KEY, None)
    return prev.offset, prev.skipping, state


def scan(
    conn: Conn,
    fmt: AgentLog,
    settings: AgentFolderPaths,
    pricer: Pricer,
    *,
    roots: Sequence[Path] | None = None,
    deadline: float | None = None,
    full: bool = False,
) -> AgentScan:
    """Read what is new in one agent's log files into the ledger; see the module docstring.

    ``full`` reads every file from its start with a fresh parser state (``cost-mcp ingest
    --full``), as m028 and m038 have each file read again: every event's key names its call, so
    nothing counts twice."""
    started = time.perf_counter()
    stats = AgentScan(fmt.agent)
    folders = [p for p in (roots if roots is not None else fmt.roots(settings)) if p.is_dir() or p.is_file()]
    stats.roots = [str(p) for p in folders]
    if not folders:
        return stats  # the agent is not used on this machine (ingest_all notes one that was)
    with rollup.watch(conn) as changes:
        shared: dict[str, object] = {}
        if fmt.renamed_projects is not None:
            _rename_projects(conn, fmt, fmt.renamed_projects, folders, shared, stats.skipped)
        known = _known(conn, fmt.source)
        # The saved states still tell which files are gone since; a full read resumes from none of them.
        resume_from: Mapping[str, _Known] = {} if full else known
        store = _Store(conn, fmt, pricer, stats)
        writer = _Writer(fmt, stats, store.write, BATCH_EVENTS)
        listed, seen = _list(fmt, settings, folders, inside_of=roots is None, stats=stats)
        large = _large(fmt, listed, resume_from)
        forked = large and deadline is None and beside.may_fork()
        written: set[str] = set()
        with few_checkpoints(conn) if large else contextlib.nullcontext():
            if not (forked and _read_beside(fmt, listed, resume_from, shared, store, written)):
                if written:  # a worker that failed: the files its batches stored are read on from there
                    stored = _known(conn, fmt.source)
                    resume_from = {**resume_from, **{p: stored[p] for p in written if p in stored}}
                _read_files(fmt, listed, resume_from, shared, writer, deadline)
            writer.flush()
    _forget_unread(conn, known, seen, folders)
    if stats.events_added or stats.copies_removed:
        rollup.refresh_changed(conn, changes)
    stats.seconds = time.perf_counter() - started
    _record_state(conn, fmt, stats)
    return stats


_Listed = list[tuple[Path, str, os.stat_result]]
"""The files a scan reads, in the walk's order: the root walked, the path, the walk's stat."""


def _list(
    fmt: AgentLog, settings: AgentFolderPaths, folders: Sequence[Path], *, inside_of: bool, stats: AgentScan
) -> tuple[_Listed, set[str]]:
    """Walk the agent's folders: each file to read once (a root listed inside another gives it
    again), and the set of their paths; counted in ``stats.files_seen``."""
    suffixes = fmt.line_suffixes + fmt.document_suffixes + fmt.database_suffixes
    listed: _Listed = []
    seen: set[str] = set()
    inside = fmt.inside(settings) if fmt.inside is not None and inside_of else None
    for root in folders:
        walked = logfiles.walk(root, suffixes, stats.skipped, stats.errors, inside=inside, accept=fmt.accept)
        for path, st in walked:
            if path in seen or (fmt.accept is not None and not fmt.accept(path)):
                continue
            seen.add(path)
            stats.files_seen += 1
            listed.append((root, path, st))
    return listed, seen


def _read_files(
    fmt: AgentLog,
    listed: _Listed,
    resume_from: Mapping[str, _Known],
    shared: dict[str, object],
    writer: _Writer,
    deadline: float | None,
) -> None:
    """Read what is new in each listed file into ``writer`` (which writes it, or ships it to the
    process that does: :func:`_read_beside`)."""
    stats = writer.stats
    for root, path, st in listed:
        if deadline is not None and time.perf_counter() > deadline:
            stats.complete = False
            continue
        try:
            database = bool(fmt.database_suffixes) and path.endswith(fmt.database_suffixes)
            stamp = _Stamp.of(path, st, database)
            lines = not database and path.endswith(fmt.line_suffixes)
            start = _start(resume_from.get(path), path, stamp, stats, lines=lines)
            held = start is None
            if start is None:  # unchanged: read only when its parser holds calls it has settled
                start = _held(fmt, resume_from.get(path), st) if lines else None
                if start is None:
                    continue
            stats.files_read += 1
            writer.yielded = set()  # a file whose read failed gave nothing that counts here
            writer.reading = []  # nor any reading: it is read again from its stored offset
            ctx = FileContext(path, str(root), start[2], shared, stats.skipped)
            skipping = False
            skipped: Counter[str] = Counter()
            if database:
                assert fmt.read_database is not None
                ctx.state = _database_state(resume_from.get(path), stamp)
                stats.lines_read += 1
                read = functools.partial(fmt.read_database, path, ctx)
                _take(_guarded(read, ctx, skipped), writer, skipped)
                offset = stamp.st_size
            elif lines:
                final = st.st_size if logfiles.settled(st) else -1
                if held:
                    offset, skipping = start[0], start[1]
                else:
                    offset, skipping = _read_lines(
                        path, st, start[0], start[1], fmt, ctx, writer, skipped, final
                    )
                if fmt.finish is not None and offset == final:  # at the end of a settled file
                    _take(_guarded(functools.partial(fmt.finish, ctx), ctx, skipped), writer, skipped)
            else:
                offset = _read_document(path, st, fmt, ctx, writer, skipped)
            skipped.pop("reader_fault_logged", None)
            stats.skipped.update(skipped)
            # Documents and databases are read whole every time; lines from the start or on.
            writer.file(path, stamp, offset, ctx.state, skipping, skipped, not lines or start[0] == 0)
        except OSError as exc:
            stats.errors.append(f"{path}: {exc.strerror or exc}")


# --- parsing in a second process -----------------------------------------------------------------

BESIDE_BYTES = 32 * 1024 * 1024
"""Bytes of lines to read from which a scan parses in a forked worker while this process writes
(Claude Code's reader starts its own at the same size): a 150 MB Codex home's cold read, never a
refresh of a few appended lines, which the fork's start would cost more than it saves."""
SHIP_EVENTS = 2_000
"""Calls per batch the worker sends: small enough that the writer prices and writes one while the
next is parsed (at :data:`BATCH_EVENTS` a 150 MB home's 13,694 calls were one batch, written after
the whole parse), large enough that a batch's transaction and look-ups are few."""


def _large(fmt: AgentLog, listed: _Listed, resume_from: Mapping[str, _Known]) -> bool:
    """Whether this scan has lines enough to read as a large read: parsed beside the writer when
    this process may fork, and on SQLite with few WAL checkpoints (``claude_logs.few_checkpoints``,
    as Claude Code's large read does: the worker's batches are several commits where the read in
    turn made one, and the WAL need not be copied back after each)."""
    if not fmt.line_suffixes:
        return False
    total = 0
    for _, path, st in listed:
        if path.endswith(fmt.line_suffixes):
            prev = resume_from.get(path)
            total += st.st_size - (min(prev.offset, st.st_size) if prev is not None else 0)
    return total >= BESIDE_BYTES


def _read_beside(
    fmt: AgentLog,
    listed: _Listed,
    resume_from: Mapping[str, _Known],
    shared: dict[str, object],
    store: _Store,
    written: set[str],
) -> bool:
    """Parse in a forked worker (:func:`beside.fork_beside`, as Claude Code's reader) while this process
    prices and writes each batch as it arrives, in one transaction with the file states it reaches,
    as :func:`_read_files` in turn would; ``written`` gets the paths whose read state is stored.
    False if the worker failed before its end: what was written stays (exact and idempotent), and
    the caller reads the rest in turn, from the states stored."""
    worker, receive = beside.fork_beside(_parse_beside, fmt, listed, resume_from, shared)
    inbox, pumps = beside.pump_all([receive])
    stats = store.stats
    totals: AgentScan | None = None
    try:
        while totals is None:
            _, raw = inbox.get()
            if raw is None:
                break
            kind, body = pickle.loads(raw)
            if kind == "totals":
                totals = body
                break
            batch = _Batch.unpack(body)
            store.write(batch)
            written.update(batch.files)
    finally:
        beside.end_all([(worker, receive)], inbox, pumps, done=totals is not None)
    if totals is None:
        return False
    stats.files_read += totals.files_read
    stats.files_reread += totals.files_reread
    stats.lines_read += totals.lines_read
    stats.events_seen += totals.events_seen
    stats.skipped.update(totals.skipped)
    stats.errors.extend(totals.errors)
    stats.complete = stats.complete and totals.complete
    return True


def _parse_beside(
    send: Any,
    receive: Any,
    fmt: AgentLog,
    listed: _Listed,
    resume_from: Mapping[str, _Known],
    shared: dict[str, object],
) -> None:
    """The forked worker: read the listed files, sending batches, then what it counted."""
    beside.leave_interrupts_to_writer()
    # No cyclic collection in a process that lives for one read and makes no cycles worth it: each
    # pass walked the heap the fork copied, touching (so copying) its pages.
    gc.disable()
    # The fork copied the reading end too: closed here, so that if the writer dies the next send
    # fails (a broken pipe) instead of blocking forever on a pipe this process itself holds open.
    receive.close()
    stats = AgentScan(fmt.agent)  # counts of its own: the writer's (the walk's) are added to them there
    shipper = _Writer(fmt, stats, lambda batch: _ship(send, batch), SHIP_EVENTS)

    def run() -> None:
        _read_files(fmt, listed, resume_from, shared, shipper, None)
        shipper.flush()
        send.send_bytes(pickle.dumps(("totals", stats), pickle.HIGHEST_PROTOCOL))

    beside.ship_then_exit(send, run)


def _ship(send: Any, batch: _Batch) -> None:
    """In the worker: send a batch to the writer instead of writing it (:func:`_read_beside`)."""
    send.send_bytes(batch.pack())


NO_FOLDER_RENOTE = timedelta(hours=1)
"""How long an agent's unchanged "no folder" status goes unwritten: well under the two days after
which a status reads "not refreshed since" (``analytics.spend.STALE_AFTER``), so it never does."""


def note_no_folders(conn: Conn, settings: AgentFolderPaths, absent: Sequence[AgentLog]) -> None:
    """Record, of the agents none of whose folders exists, those read here before (a folder deleted
    or moved) as having none: such a status went on saying its last read, then "not refreshed
    since" in every answer. An agent never used here has nothing to say (it is not listed). Worded
    as Claude Code's status says it (:func:`logfiles.no_folder`); one query for them all. A status
    that already says so is left alone (re-noted after :data:`NO_FOLDER_RENOTE`): every refresh of
    every server would otherwise take the write lock to write it again."""
    if not absent:
        return
    states = {state.source: state for state in all_states(conn)}
    now = datetime.now(UTC)
    for fmt in absent:
        state = states.get(fmt.source)
        if state is None or not state.last_success:
            continue
        folders = fmt.roots(settings)
        detail = logfiles.no_folder(fmt.label, folders, "`cost-mcp doctor` lists the folders read")
        said = state.detail == detail and state.last_error is None
        if said and now - datetime.fromisoformat(state.last_success) < NO_FOLDER_RENOTE:
            continue
        record_scan(conn, fmt.source, error=None, detail=detail, wait=False)


def _take(parsed: Parsed, writer: _Writer, skipped: Counter[str]) -> None:
    """Hand what a parser gave to the writer, counting what it could not use in ``skipped``."""
    if parsed is None:
        return
    if isinstance(parsed, str):
        skipped[parsed] += 1
        return
    for item in parsed:
        if isinstance(item, str):
            skipped[item] += 1
        elif isinstance(item, LimitReading):
            if _storable_reading(item):
                writer.reading.append(item)
            else:
                skipped["invalid_fields"] += 1
        elif _storable(item):
            writer.stats.events_seen += 1
            writer.add(item)
        else:
            skipped["invalid_fields"] += 1


MAX_ROW_TOKENS = 1000 * tokens.MAX_CALL_TOKENS
"""The most of one kind a reader's event may count. Above a call's bound (``MAX_CALL_TOKENS``) because
an event of an agent that keeps only running totals (:func:`grown_rows`) holds a whole session's
output; far below what the ledger's 64-bit sums hold, so no row can overflow them."""
MAX_ROW_NANOS = to_nanos(1000 * MAX_CALL_COST)
"""The most a reader's event may say the agent reported it cost (a session's, for Crush), likewise."""


def _storable(event: AgentEvent) -> bool:
    """Whether a reader's event is one the ledger can hold: each count a whole number within
    :data:`MAX_ROW_TOKENS`, a reported cost within :data:`MAX_ROW_NANOS`, a time within the years
    Claude Code's reader takes. Checked here, once for every reader, because the rows are written
    after the readers' guard (:func:`_guarded`): a count of ``1e29`` in one Codex line raised
    OverflowError from the ledger's write and stopped the whole scan, and every answer with it."""
    if not (type(event.ts_ms) is int and MIN_TS_MS <= event.ts_ms < MAX_TS_MS):
        return False
    if not all(type(n) is int and 0 <= n <= MAX_ROW_TOKENS for n in tokens.of_call(event.tokens)):
        return False
    cost = event.reported_cost_nanos
    return cost is None or (type(cost) is int and 0 <= cost <= MAX_ROW_NANOS)


def _storable_reading(reading: LimitReading) -> bool:
    """Whether a plan-limit reading's times fit the ledger (see :func:`_storable`)."""
    reset = reading.resets_at_ms
    return MIN_TS_MS <= reading.ts_ms < MAX_TS_MS and (reset is None or MIN_TS_MS <= reset < MAX_TS_MS)


READER_FAULTS = (ArithmeticError, LookupError, TypeError, ValueError, AttributeError, RecursionError)
"""What a reader raises on a value it did not foresee (a reset time of ``1e306`` seconds raised
OverflowError): one line, document or database counted as ``invalid_fields``, never a scan stopped
and every answer with it. Not OSError (the file, handled per file) nor the ledger's errors."""


def _fault(ctx: FileContext, skipped: Counter[str]) -> None:
    """Count what a reader raised on as ``invalid_fields`` and log it, once per file: it is a
    reader's bug, to be found in the log with its traceback."""
    skipped["invalid_fields"] += 1
    if skipped["reader_fault_logged"] == 0:
        skipped["reader_fault_logged"] = 1
        logger.warning("%s: the reader failed on a value it did not expect; skipped", ctx.path, exc_info=True)


def _guarded(read: Callable[[], Parsed], ctx: FileContext, skipped: Counter[str]) -> Parsed:
    """``read()`` (a document's, a database's or a finish), or nothing when it raises one of
    :data:`READER_FAULTS` (counted)."""
    try:
        return read()
    except READER_FAULTS:
        _fault(ctx, skipped)
        return None


def _read_lines(
    path: str,
    st: os.stat_result,
    offset: int,
    skipping: bool,
    fmt: AgentLog,
    ctx: FileContext,
    writer: _Writer,
    skipped: Counter[str],
    final: int = -1,
) -> tuple[int, bool]:
    """Parse the complete lines from ``offset`` (and a last one without a newline at ``final``,
    see :class:`logfiles.LineReader`) of the file the walk listed with ``st``; returns the offset
    reached and whether it lies inside an over-long line."""
    # Never waits on a pipe put there since the walk, nor reads a file put in its place since.
    with open_regular_file(path, listed=st) as f:
        f.seek(offset)
        reader = logfiles.LineReader(f, offset, MAX_LINE_BYTES, skipping, final)
        first = offset == 0
        for raw in reader:
            writer.stats.lines_read += 1
            if raw is None:
                skipped["too_long"] += 1
                first = False
                continue
            line = raw.removeprefix(logfiles.BOM) if first else raw  # else a first line is not JSON
            first = False
            try:
                parsed = fmt.parse_line(line, ctx)
            except READER_FAULTS:  # inline: a try costs nothing per line until it raises
                _fault(ctx, skipped)
                continue
            _take(parsed, writer, skipped)
    return reader.consumed, reader.skipping


def _read_document(
    path: str, st: os.stat_result, fmt: AgentLog, ctx: FileContext, writer: _Writer, skipped: Counter[str]
) -> int:
    assert fmt.parse_document is not None
    if st.st_size > MAX_DOCUMENT_BYTES:
        skipped["too_long"] += 1
        return st.st_size
    # Never waits on a pipe put there since the walk, nor reads a file put in its place since.
    with open_regular_file(path, listed=st) as f:
        data = f.read(MAX_DOCUMENT_BYTES + 1)
    writer.stats.lines_read += 1
    # A document is re-read whole when it changes; the events' keys make that idempotent.
    ctx.state = {}
    parse = functools.partial(fmt.parse_document, data.removeprefix(logfiles.BOM), ctx)
    _take(_guarded(parse, ctx, skipped), writer, skipped)
    return len(data)


def _record_state(conn: Conn, fmt: AgentLog, stats: AgentScan) -> None:
    """Remember when this agent's logs were checked, for results to show freshness."""
    if stats.lines_read:
        detail = (
            f"read {stats.lines_read:,} line(s) from {stats.files_read} file(s): "
            f"{stats.events_added:,} new call(s)"
        )
    else:
        detail = f"no new lines ({stats.files_seen:,} file(s) checked)"
    bad = {reason: n for reason, n in stats.skipped.items() if n}
    # Files the walk passed over (a link out of the folder, a pipe) are not lines: said apart.
    for what, counts in (
        ("line(s) skipped", {r: n for r, n in bad.items() if r not in logfiles.FILE_SKIP_REASONS}),
        ("file(s) passed over", {r: n for r, n in bad.items() if r in logfiles.FILE_SKIP_REASONS}),
    ):
        if counts:
            listed = ", ".join(f"{reason} {n:,}" for reason, n in sorted(counts.items()))
            detail += f"; {sum(counts.values()):,} {what} ({listed})"
    if stats.copies_removed:
        # Said once: the next scan finds none. An earlier cost-mcp counted them a second time.
        usd = format_usd(from_nanos(stats.copies_removed_nanos))
        detail += (
            f"; removed {stats.copies_removed:,} call(s) ({usd}) {logfiles.COPIES_REMOVED}: "
            "copies of other sessions' calls (a fork's)"
        )
    if not stats.complete:
        detail += "; stopped at the time budget, the rest is read next time"
    record_scan(conn, fmt.source, error="; ".join(stats.errors[:5]) or None, detail=detail)


# --- helpers every parser uses ------------------------------------------------------------------


def epoch_ms(stamp: object) -> int | None:
    """Milliseconds since the epoch of an ISO 8601 stamp (UTC when it has no offset), or None."""
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return to_ms(when)


def epoch_number_ms(value: object) -> int | None:
    """Milliseconds since the epoch of a whole number of epoch seconds or milliseconds (SQLite's
    ``strftime('%s')``, or a ``Date.now()``), told apart by size; None when it is no such time."""
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    ms = value if value > 100_000_000_000 else value * 1000
    try:
        datetime.fromtimestamp(ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return ms if ms > 0 else None


def count(value: object) -> int | None:
    """A token count: a whole number >= 0 (None when absent); anything else raises ValueError."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"not a token count: {value!r}")
    return value


def sqlite_busy(exc: sqlite3.OperationalError) -> bool:
    """Whether SQLite refused for a lock another connection holds (SQLITE_BUSY or SQLITE_LOCKED):
    an agent writing its own database, read again by the next scan."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    return name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in str(exc)


def sqlite_empty(conn: sqlite3.Connection) -> bool:
    """Whether a database holds no table at all (an empty file is one): its agent made it and has
    not set it up yet. A skipped line for it would stay in every answer, though nothing is lost."""
    try:
        tables: int = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    except sqlite3.DatabaseError:
        return False  # locked, or not a database: the caller says which
    return tables == 0


_T = TypeVar("_T")


def read_agent_database(
    path: str, label: str, read: Callable[[sqlite3.Connection], _T]
) -> _T | SkipReason | None:
    """``read`` on an agent's own SQLite database, opened read-only (the agent may be writing it):
    one way for every agent that keeps its usage in one (OpenCode, Goose, Hermes Agent, Crush).

    A lock the agent holds is an error of this scan (``OSError`` EBUSY naming ``label``), so the
    scanner keeps the database unread and the next scan reads it: counted as a bad line and saved
    as read, its change would wait for the agent's next write, unsaid. A database with no table
    yet (the agent made it and has not set it up) is ``None``: nothing to miss. Anything else
    SQLite refuses (another schema, not a database) is ``"malformed"``: counted, never fatal.

    A database, or a journal beside it, that is not a regular file is an error of this scan naming
    it (``NotRegularFileError``), never opened: SQLite opens a rollback journal it finds to see
    whether it is hot, and a FIFO put there made that open wait for a writer, hanging every refresh.
    """
    _check_database_files(path)
    conn = sqlite3.connect(sqlite_uri(path), uri=True, timeout=1.0)
    try:
        return read(conn)
    except sqlite3.OperationalError as exc:
        if sqlite_busy(exc):
            raise OSError(
                errno.EBUSY, f"locked by another process ({label} writing); read again next time"
            ) from exc
        return None if sqlite_empty(conn) else "malformed"
    except sqlite3.DatabaseError:
        return "malformed"
    finally:
        conn.close()


SQLITE_SIDE_FILES = ("-journal", "-wal", "-shm")
"""The files SQLite opens beside a database (its real path, links resolved) when they exist."""


def _check_database_files(path: str) -> None:
    """NotRegularFileError unless ``path`` (links followed, as the walk judged it) is a regular file
    and each of SQLite's side files beside it is absent or a regular file (not a link either: SQLite
    would follow it wherever it leads). Checked just before opening; the walk checked the database."""
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise NotRegularFileError(errno.EINVAL, "not a regular file (a pipe, socket or device)", path)
    real = os.path.realpath(path)
    for suffix in SQLITE_SIDE_FILES:
        try:
            mode = os.lstat(real + suffix).st_mode
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(mode):
            side = real + suffix
            raise NotRegularFileError(
                errno.EINVAL,
                f"not read: {side} is not a regular file (a pipe, socket, device or link), and SQLite "
                "would open it",
                path,
            )


_CHANGED = "seen"
"""The state key of :func:`changed_rows`' marks (a file's state is kept between reads)."""


def changed_rows(
    ctx: FileContext, rows: Iterable[tuple[str, str, Callable[[], Sequence[AgentEvent] | SkipReason | None]]]
) -> list[AgentEvent | SkipReason]:
    """The events of the rows of an agent's database that changed since the last read, for agents
    that rewrite a row in place with each call (Goose's, Hermes's, Crush's sessions).

    Each row comes as its key, its mark (what it held as read: its running totals) and how to make
    its events. A row whose mark is the one last read is not made again: it only spares work, for
    with no mark (a first or full read) every row gives its events, which the ledger keeps once
    (the copy with more tokens wins). A row that gives a skip reason, or ``None`` (nothing to store
    yet), is not marked: read again next time, as the database's skipped lines are counted again.
    """
    found_seen = ctx.state.get(_CHANGED)
    seen: dict[str, object] = found_seen if isinstance(found_seen, dict) else {}
    now: dict[str, object] = {}
    found: list[AgentEvent | SkipReason] = []
    for key, mark, events in rows:
        if seen.get(key) == mark:
            now[key] = mark
            continue
        got = events()
        if isinstance(got, str):
            found.append(got)
        elif got is not None:
            now[key] = mark
            found.extend(got)
    ctx.state[_CHANGED] = now
    return found


GROWN_CHUNK = 32_000
"""Input-side tokens per stored row of an agent that keeps only running totals (Goose, Hermes
Agent): below every long-context threshold genai-prices lists, so each row is priced at base
rates, as the agent's calls (each within its model's context window) mostly are."""


def grown_chunks(total: int) -> list[int]:
    """The sizes of the rows a running total of one token kind is stored in: full rows of
    :data:`GROWN_CHUNK`, then the rest. As the total grows only the last row grows and new rows
    follow it, so a row once full is the same at every read (its key, ``<kind>:<n>``, names the
    same tokens) and the ledger, keeping the copy with more tokens, counts nothing twice."""
    return [min(GROWN_CHUNK, total - start) for start in range(0, total, GROWN_CHUNK)]


def grown_rows(key: str, totals: Tokens) -> list[tuple[str, Tokens]]:
    """The rows, and their keys, a session's running totals are stored in (Goose's, Hermes Agent's,
    Factory Droid's): one of its output (``<key>:out``), and its input, cache reads and cache
    writes each in :func:`grown_chunks` (``<key>:in:<n>``, ``<key>:cr:<n>``, ``<key>:cw:<n>``).
    Only the last row of each kind grows, so reading the totals again counts nothing twice."""
    rows: list[tuple[str, Tokens]] = [(f"{key}:out", Tokens(output=totals.output))] if totals.output else []
    for kind, name in (("in", "input"), ("cr", "cache_read"), ("cw", "cache_write_5m")):
        sizes = grown_chunks(getattr(totals, name))
        rows += [(f"{key}:{kind}:{n}", Tokens(**{name: size})) for n, size in enumerate(sizes)]
    return rows


def event_key(*parts: object) -> str:
    """A stable key from the facts that name one call."""
    return hashlib.sha1("|".join(map(str, parts)).encode(), usedforsecurity=False).hexdigest()


def file_stem(path: str) -> str:
    """A file's name without its extension (a session id when the log has no better one)."""
    return Path(path).stem


_MODEL_PROVIDERS = (
    ("claude", "anthropic"),
    ("gpt", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
    ("gemini", "google"),
)


def provider_of(model: str) -> str:
    """The provider of a model by its family, for agents that do not log one (Amp) or log only
    their own gateway (Copilot's ``github``); empty when the family is not known."""
    name = model.lower()
    return next((provider for prefix, provider in _MODEL_PROVIDERS if name.startswith(prefix)), "")


def gateway_pricing(vendors: Mapping[str, str], gateways: Mapping[str, str]) -> Callable[[str, str], str]:
    """The provider a reader stores a call of ``model`` under when its agent logged ``logged``, for
    agents that call many vendors, directly or through a gateway (Cline and its forks, Pi).

    ``vendors`` maps the agent's ids of known vendors to genai-prices' (Claude by
    :func:`claude_provider`, so Bedrock's and Vertex's ids are the clouds' that bill them);
    ``gateways`` maps ids that say where a call went through, not whose model it is, to the name a
    call through it keeps when the model does not tell its vendor (its ``vendor/`` prefix or its
    family). Any other id is kept as logged. A provider nothing names stays named, so the call is
    priced under it or labelled unpriced ("unknown provider"): never priced, nor counted against a
    bill, as another vendor's. Cached: a reader asks once per distinct (provider, model).
    """

    @functools.lru_cache(maxsize=4096)
    def provider(logged: str, model: str) -> str:
        if logged in vendors:
            mapped = vendors[logged]
            return claude_provider(model) if mapped == "anthropic" else mapped
        if logged not in gateways:
            return logged
        head, _, rest = model.partition("/")
        if rest:
            # A gateway's "vendor/model" id: the vendor when it is a pricing provider of its own.
            vendor = vendors.get(head, head)
            if provider_models(vendor):
                return vendor
            model = rest
        family = claude_provider(model) if "claude" in model.lower() else provider_of(model)
        return family or gateways[logged]

    return provider
