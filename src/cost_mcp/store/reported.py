"""Calls agents reported (``record_usage`` rows): listed and forgotten by the user, never by a model.

Only rows of the ``record_usage`` source: a log-read call is forgotten with its file (``ingest
--forget``), a provider's bill by its next sync. A forget deletes the rows and marks their
quarter-hours dirty in the same transaction, as every other writer of usage events does
(:mod:`cost_mcp.store.rollup`), so the next refresh rebuilds exactly those from the events left.

In that transaction it also leaves a tombstone per call (``forgotten_calls``, migration
``m032_forgotten_calls``), keyed as ``usage_events``' unique key names it, which every writer that
could store the call again consults (``store.usage.insert_reported``, ``store.team``'s pushes): a
forgotten call stays forgotten until the user lifts its tombstone (:func:`unforget`).

Each forget and unforget is also numbered in ``forget_log`` (migration ``m033_forgets_travel``), so
that a laptop's next push carries it to the team server (:func:`forget_changes`), which applies it
to the pushing member's own calls only (:func:`apply_pushed`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from cost_mcp.store import rollup, session_copies
from cost_mcp.store.connection import IN_CHUNK, Conn, in_chunks, marks, write_transaction

SOURCE = "record_usage"
"""The source of agents' reports (``sources.reported.SOURCE``; store does not import sources)."""


@dataclass(frozen=True)
class Selection:
    """Which reported calls: by id, or by time range and dimensions (every given condition holds)."""

    ids: Sequence[str] = ()
    start_ms: int | None = None
    end_ms: int | None = None
    agents: Sequence[str] = ()
    members: Sequence[str] = ()
    min_cost_nanos: int | None = None
    min_tokens: int | None = None


@dataclass(frozen=True)
class StoredCall:
    """One stored reported call, as the user sees it."""

    id: str
    ts_ms: int
    agent: str
    member: str
    provider: str
    model: str
    project: str
    session_id: str
    total_tokens: int
    cost_nanos: int | None
    forgotten_ms: int | None = None
    """When it was forgotten (only a forgotten call's, as ``select(forgotten=True)`` reads it)."""
    forgotten_by: str = ""
    """Who forgot it: '' for this ledger's user, else the member whose push carried the forget."""
    counted: bool = True
    """False: a log or OTel copy holding its id as request id counts instead (see
    :func:`uncount_reported_copies`)."""


_EARLIEST_MS = -(2**63)
"""A lower bound below every stored time (BIGINT's least)."""
_COLUMNS = "message_id, ts_ms, agent, member, provider, model, project, session_id, total_tokens, cost_nanos"
_EVENTS = "usage_events"
_TOMBSTONES = "forgotten_calls"


def _where(selection: Selection) -> tuple[str, list[object]]:
    clauses, args = ["source = ?"], list[object]([SOURCE])
    if selection.start_ms is not None:
        clauses.append("ts_ms >= ?")
        args.append(selection.start_ms)
    if selection.end_ms is not None:
        clauses.append("ts_ms < ?")
        args.append(selection.end_ms)
    for column, values in (
        ("message_id", selection.ids),
        ("agent", selection.agents),
        ("member", selection.members),
    ):
        if values:
            clauses.append(f"{column} IN ({marks(values)})")
            args += values
    if selection.min_cost_nanos is not None:
        # An unpriced call has no cost to compare: it is left out, as it is left out of spend.
        clauses.append("cost_nanos >= ?")
        args.append(selection.min_cost_nanos)
    if selection.min_tokens is not None:
        clauses.append("total_tokens >= ?")
        args.append(selection.min_tokens)
    return " AND ".join(clauses), args


def _call(row: Sequence[object], *, with_counted: bool = False) -> StoredCall:
    m, ts, agent, member, provider, model, project, session, total, cost, *forgotten = row
    counted = True
    if with_counted:
        counted, forgotten = bool(forgotten[0]), []
    return StoredCall(
        str(m),
        int(str(ts)),
        str(agent),
        str(member),
        str(provider),
        str(model),
        str(project),
        str(session),
        int(str(total)),
        None if cost is None else int(str(cost)),
        int(str(forgotten[0])) if forgotten else None,
        str(forgotten[1]) if forgotten else "",
        counted,
    )


def select(
    conn: Conn, selection: Selection, limit: int | None = None, *, forgotten: bool = False
) -> tuple[list[StoredCall], int]:
    """The selected calls, newest first (at most ``limit``), and how many there are in all; with
    ``forgotten``, the calls forgotten (their tombstones), picked by the same conditions."""
    table = _TOMBSTONES if forgotten else _EVENTS
    columns = f"{_COLUMNS}, forgotten_ms, forgotten_by" if forgotten else f"{_COLUMNS}, counted"
    with_counted = not forgotten
    if len(selection.ids) > IN_CHUNK:
        # Many ids: one statement per chunk, merged here (the count is then the rows found).
        where, args = _where(replace(selection, ids=()))
        found = [
            _call(r, with_counted=with_counted)
            for rows in in_chunks(
                conn,
                f"SELECT {columns} FROM {table} WHERE {where} AND message_id IN ({{}}) "
                "ORDER BY ts_ms DESC, message_id",
                selection.ids,
                before=args,
            )
            for r in rows
        ]
        return _newest(found, limit), len(found)
    where, args = _where(selection)
    if forgotten or selection.ids:  # ids: probed through the unique key
        counting, parts = (where, args), [(where, args)]
    else:
        # Through the (counted, ts_ms) index, from the period's start or the earliest time, and the
        # newest rows by walking it back per value of ``counted`` (stopping at ``limit``): without
        # statistics SQLite took the unique key for ``source = ?`` and read every reported call ever
        # stored in key order, whatever the period (29 s for the newest 50 of a ledger with 2M
        # reported calls).
        since = _EARLIEST_MS if selection.start_ms is None else selection.start_ms
        counting = (f"counted IN (0, 1) AND ts_ms >= ? AND {where}", [since, *args])
        parts = [(f"counted = ? AND ts_ms >= ? AND {where}", [c, since, *args]) for c in (1, 0)]
    count = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {counting[0]}", counting[1]).fetchone()
    bound = "" if limit is None else f" LIMIT {int(limit)}"
    found = [
        _call(r, with_counted=with_counted)
        for part, part_args in parts
        for r in conn.execute(
            f"SELECT {columns} FROM {table} WHERE {part} ORDER BY ts_ms DESC, message_id{bound}", part_args
        ).fetchall()
    ]
    if len(parts) > 1:  # merged: the newest of them all (one statement's rows are in order already)
        found = _newest(found, limit)
    return found, int(count[0]) if count else 0


def _newest(found: list[StoredCall], limit: int | None) -> list[StoredCall]:
    """The calls several statements found, newest first, at most ``limit``."""
    found.sort(key=lambda c: (-c.ts_ms, c.id))
    return found if limit is None else found[:limit]


def other_sources(conn: Conn, ids: Sequence[str]) -> dict[str, list[str]]:
    """For each of ``ids`` stored under another source than ``record_usage`` (a log-read call, an
    OpenTelemetry event), those sources: what an unknown id's error names."""
    out: dict[str, list[str]] = {}
    for rows in in_chunks(
        conn,
        "SELECT DISTINCT message_id, source FROM usage_events WHERE source != ? "
        "AND message_id IN ({}) ORDER BY 1, 2",
        ids,
        before=(SOURCE,),
    ):
        for message_id, source in rows:
            out.setdefault(str(message_id), []).append(str(source))
    return out


def delete(conn: Conn, ids: Sequence[str], now_ms: int) -> list[StoredCall]:
    """Delete the reported calls of ``ids`` in one transaction, leave a tombstone for each (forgotten
    at ``now_ms``) and mark their quarter-hours dirty; returns the rows deleted (an id stored
    meanwhile under no ``record_usage`` row is skipped).

    Rows of other sources with the same message id are untouched: the source is in every key.
    Per-row push acks of a laptop from before push marks (``pushed_events``) go with them, so that a
    later row given the same id on SQLite is not taken as acknowledged.

    The tombstones are written under the write lock with the delete, and every writer that could
    store the call again checks them under that lock too (a push holds it shared, which this
    exclusive hold waits for and excludes): a push either committed before this delete, which then
    removes what it stored, or reads the tombstone and stores nothing. No moment lets a call back."""
    gone: list[StoredCall] = []
    with write_transaction(conn):
        for rows in in_chunks(
            conn,
            f"DELETE FROM usage_events WHERE source = ? AND message_id IN ({{}}) "
            f"RETURNING id, request_id, is_sidechain, {_COLUMNS}",
            ids,
            before=(SOURCE,),
        ):
            if not rows:
                continue
            row_ids = [int(r[0]) for r in rows]
            conn.execute(f"DELETE FROM pushed_events WHERE event_id IN ({marks(row_ids)})", row_ids)
            conn.executemany(
                f"INSERT INTO {_TOMBSTONES} (source, request_id, is_sidechain, {_COLUMNS}, forgotten_ms) "
                f"VALUES (?, ?, ?, {', '.join('?' * 10)}, ?) "
                "ON CONFLICT (source, message_id, request_id, is_sidechain) DO NOTHING",
                [(SOURCE, *r[1:], now_ms) for r in rows],
            )
            _log(
                conn, [(SOURCE, str(r[3]), str(r[1]), int(r[2])) for r in rows], unforget=False, now_ms=now_ms
            )
            gone += [_call(r[3:]) for r in rows]
        rollup.mark_dirty(conn, [c.ts_ms for c in gone])
    gone.sort(key=lambda c: (-c.ts_ms, c.id))
    return gone


def is_forgotten(
    conn: Conn, source: str, message_id: str, request_id: str = "", is_sidechain: int = 0
) -> bool:
    """Whether the call of this key (``usage_events``' unique key) was forgotten: it is not stored
    again. Read it inside the writer's transaction, under the write lock (see :func:`delete`)."""
    row = conn.execute(
        f"SELECT 1 FROM {_TOMBSTONES} WHERE source = ? AND message_id = ? AND request_id = ? "
        "AND is_sidechain = ?",
        (source, message_id, request_id, is_sidechain),
    ).fetchone()
    return row is not None


def forgotten_member(conn: Conn, source: str, message_id: str) -> str | None:
    """Whose call the forgotten call of ``message_id`` was (the member it was stored under, '' on a
    personal ledger); None when no call of that id was forgotten."""
    row = conn.execute(
        f"SELECT member FROM {_TOMBSTONES} WHERE source = ? AND message_id = ? LIMIT 1", (source, message_id)
    ).fetchone()
    return None if row is None else str(row[0])


Key = tuple[str, str, str, int]
"""``usage_events``' unique key: (source, message id, request id, sidechain flag)."""


def forgotten_keys(conn: Conn, keys: Sequence[Key]) -> set[Key]:
    """Which of ``keys`` name forgotten calls: one statement per chunk of message ids (SQLite's
    pushes; PostgreSQL's merge joins the tombstones in its own statement). Inside the writer's
    transaction, under the write lock."""
    if not keys or conn.execute(f"SELECT 1 FROM {_TOMBSTONES} LIMIT 1").fetchone() is None:
        return set()  # no tombstone at all, the usual case: no look-up per batch
    wanted = set(keys)
    by_source: dict[str, set[str]] = {}
    for source, message_id, _, _ in wanted:
        by_source.setdefault(source, set()).add(message_id)
    found: set[Key] = set()
    for source, message_ids in by_source.items():
        for rows in in_chunks(
            conn,
            f"SELECT message_id, request_id, is_sidechain FROM {_TOMBSTONES} "
            "WHERE source = ? AND message_id IN ({})",
            sorted(message_ids),
            before=(source,),
        ):
            for message_id, request_id, sidechain in rows:
                key = (source, str(message_id), str(request_id), int(sidechain))
                if key in wanted:
                    found.add(key)
    return found


BY_REQUEST_SQL = f"SELECT DISTINCT request_id FROM {_TOMBSTONES} WHERE source = ? AND request_id IN ({{}})"
""":func:`forgotten_request_ids`' look-up, ``{}`` the request ids' marks: a probe of the index
``forgotten_calls_request`` (m035) per request id, never a walk of the source's tombstones."""


def forgotten_request_ids(conn: Conn, source: str, request_ids: Sequence[str]) -> set[str]:
    """Which of ``request_ids`` a forgotten call of ``source`` holds (index
    ``forgotten_calls_request``): an OTel event of a call whose log copy was forgotten. Inside the
    writer's transaction, under the write lock."""
    if not request_ids or conn.execute(f"SELECT 1 FROM {_TOMBSTONES} LIMIT 1").fetchone() is None:
        return set()  # no tombstone at all, the usual case: no look-up per batch
    return {
        str(r[0])
        for rows in in_chunks(conn, BY_REQUEST_SQL, sorted(set(request_ids)), before=(source,))
        for r in rows
    }


def unforget(conn: Conn, ids: Sequence[str], now_ms: int) -> list[StoredCall]:
    """Lift the tombstones of the forgotten reported calls ``ids`` in one transaction; returns the
    calls they named. The calls are not stored again here (a tombstone keeps what ``reported list``
    shows, not the whole row): their agent's next report of the id, or a laptop's next push of it,
    stores and counts them as it would any call."""
    lifted: list[StoredCall] = []
    with write_transaction(conn):
        for rows in in_chunks(
            conn,
            f"DELETE FROM {_TOMBSTONES} WHERE source = ? "
            f"AND message_id IN ({{}}) RETURNING request_id, is_sidechain, {_COLUMNS}",
            ids,
            before=(SOURCE,),
        ):
            _log(
                conn, [(SOURCE, str(r[2]), str(r[0]), int(r[1])) for r in rows], unforget=True, now_ms=now_ms
            )
            lifted += [_call(r[2:]) for r in rows]
    lifted.sort(key=lambda c: (-c.ts_ms, c.id))
    return lifted


def log_removed(conn: Conn, keys: Sequence[Key], now_ms: int) -> None:
    """Number the removal of these log-read rows a reader no longer makes (a copy an earlier
    cost-mcp counted: :func:`cost_mcp.store.agent_files.drop_copies`) for the pushes to come, in
    the caller's transaction: a team server that received them removes them too. No tombstone is
    left: this ledger's reader never stores them again, and they are not the user's forgets."""
    _log(conn, keys, unforget=False, now_ms=now_ms)


def _log(conn: Conn, keys: Sequence[Key], *, unforget: bool, now_ms: int) -> None:
    """Number these forgets (or unforgets) for the pushes to come, in the caller's transaction."""
    conn.executemany(
        "INSERT INTO forget_log (source, message_id, request_id, is_sidechain, unforget, at_ms) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(*k, int(unforget), now_ms) for k in keys],
    )


@dataclass(frozen=True)
class ForgetChange:
    """A forget (or, with ``unforget``, its undoing) of one call, as a push carries it."""

    key: Key
    unforget: bool


def forget_changes(conn: Conn, after_seq: int, limit: int) -> tuple[list[ForgetChange], int]:
    """The forgets and unforgets numbered after ``after_seq`` (at most ``limit`` of them, oldest
    first), each call's latest only, and the number of the last one read (``after_seq`` if none)."""
    rows = conn.execute(
        "SELECT seq, source, message_id, request_id, is_sidechain, unforget FROM forget_log "
        "WHERE seq > ? ORDER BY seq LIMIT ?",
        (after_seq, limit),
    ).fetchall()
    latest: dict[Key, bool] = {}
    for _seq, source, message_id, request_id, sidechain, undo in rows:
        key = (str(source), str(message_id), str(request_id), int(sidechain))
        latest.pop(key, None)  # re-inserted: the dict keeps the calls in the order of their latest change
        latest[key] = bool(undo)
    return [ForgetChange(k, u) for k, u in latest.items()], int(rows[-1][0]) if rows else after_seq


def requeue_removals(conn: Conn, after_seq: int, upto: int) -> int:
    """Number again, after every other change, the removals of log copies (:func:`log_removed`; a
    user's forgets stay where they are) numbered in ``(after_seq, upto]``, keeping when each was
    made; how many. A team server from before such removals refused them: the push's forgets mark
    then passes ``upto`` (the user's forgets there were taken) and these wait for a later push.
    Inserted before the old numbers are deleted, so a new number is above every number used."""
    with write_transaction(conn):
        moved = conn.execute(
            "INSERT INTO forget_log (source, message_id, request_id, is_sidechain, unforget, at_ms) "
            "SELECT source, message_id, request_id, is_sidechain, unforget, at_ms FROM forget_log "
            "WHERE seq > ? AND seq <= ? AND source != ? ORDER BY seq",
            (after_seq, upto, SOURCE),
        ).rowcount
        conn.execute(
            "DELETE FROM forget_log WHERE seq > ? AND seq <= ? AND source != ?", (after_seq, upto, SOURCE)
        )
    return int(moved)


def top_forget_seq(conn: Conn) -> int:
    """The number of the newest forget or unforget (0 when there is none)."""
    row = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM forget_log").fetchone()
    return int(row[0]) if row else 0


@dataclass(frozen=True)
class ForgetBacklog:
    """The forgets and unforgets a team server has not acknowledged yet (see :func:`forget_backlog`)."""

    forgets: int
    unforgets: int
    since_ms: int | None
    """When the oldest of them was made (None: nothing waits)."""
    removals: int = 0
    """Removals of log copies (:func:`log_removed`): this machine's reader dropped them, not its user."""


def forget_backlog(conn: Conn, after_seq: int) -> ForgetBacklog:
    """What the next push would carry of the forgets and unforgets numbered after ``after_seq``:
    each call's latest change, as :func:`forget_changes` sends them, and when the oldest was made."""
    # A removal of a log copy is no forget of the user's: counted apart, so doctor does not tell a
    # user whose team server is too old to take them that they forgot calls they never touched.
    counts = {"forget": 0, "unforget": 0, "removal": 0}
    for reported_call, undo, n in conn.execute(
        "SELECT f.source = ?, f.unforget, COUNT(*) FROM forget_log f JOIN ("
        "SELECT MAX(seq) AS seq FROM forget_log WHERE seq > ? "
        "GROUP BY source, message_id, request_id, is_sidechain"
        ") latest ON latest.seq = f.seq GROUP BY f.source = ?, f.unforget",
        (SOURCE, after_seq, SOURCE),
    ).fetchall():
        counts["removal" if not reported_call else "unforget" if undo else "forget"] += int(n)
    row = conn.execute("SELECT MIN(at_ms) FROM forget_log WHERE seq > ?", (after_seq,)).fetchone()
    since = None if row is None or row[0] is None else int(row[0])
    return ForgetBacklog(counts["forget"], counts["unforget"], since, counts["removal"])


@dataclass
class Applied:
    """What a push's forgets did on the team server (see :func:`apply_pushed`)."""

    removed: list[int]
    """The times of the member's calls removed (their quarter-hours are rebuilt)."""
    lifted: int = 0
    """Tombstones lifted by the member's unforgets."""
    refused: int = 0
    """Forgets of calls another member holds: nothing done."""
    kept: int = 0
    """Unforgets of tombstones the member did not leave (an admin's forget, another member's call)."""
    originals: int = 0
    """Log rows the laptop removed as copies, kept: the server holds no call they copy."""


def apply_pushed(conn: Conn, member: str, changes: Sequence[ForgetChange], now_ms: int) -> Applied:
    """Apply a member's pushed forgets and unforgets in the push's transaction (write lock held
    alone, as :func:`delete` holds it): a forget removes the member's own copy of the call and
    leaves a tombstone naming the member as who forgot it; an unforget lifts only a tombstone the
    member's own forget left. Another member's call, or an admin's tombstone, is never touched.
    A forget of a call the server does not hold leaves no tombstone: the server cannot tell whose
    call it is, and a tombstone would stop another member's push of the same id.
    Nothing is written to ``forget_log``: what a push brought is not pushed on."""
    applied = Applied([])
    key_sql = "source = ? AND message_id = ? AND request_id = ? AND is_sidechain = ?"
    dropped: dict[str, list[Key]] = {}
    for change in changes:
        if change.key[0] != SOURCE:
            if not change.unforget:  # push.decode refuses an unforget of a log's row; a backstop
                dropped.setdefault(change.key[0], []).append(change.key)
            continue
        if change.unforget:
            cursor = conn.execute(
                f"DELETE FROM {_TOMBSTONES} WHERE {key_sql} AND member = ? AND forgotten_by = ?",
                (*change.key, member, member),
            )
            if cursor.rowcount:
                applied.lifted += 1
            elif conn.execute(f"SELECT 1 FROM {_TOMBSTONES} WHERE {key_sql}", change.key).fetchone():
                applied.kept += 1
            continue
        rows = conn.execute(
            f"DELETE FROM usage_events WHERE {key_sql} AND member = ? "
            f"RETURNING request_id, is_sidechain, {_COLUMNS}",
            (*change.key, member),
        ).fetchall()
        if not rows:
            if conn.execute(f"SELECT 1 FROM usage_events WHERE {key_sql}", change.key).fetchone():
                applied.refused += 1
            continue
        conn.executemany(
            f"INSERT INTO {_TOMBSTONES} (source, request_id, is_sidechain, {_COLUMNS}, forgotten_ms, "
            f"forgotten_by) VALUES (?, ?, ?, {', '.join('?' * 10)}, ?, ?) "
            "ON CONFLICT (source, message_id, request_id, is_sidechain) DO NOTHING",
            [(SOURCE, *r, now_ms, member) for r in rows],
        )
        applied.removed += [int(str(r[3])) for r in rows]
    for source, keys in dropped.items():
        _drop_pushed(conn, member, source, keys, applied)
    rollup.mark_dirty(conn, applied.removed)
    return applied


def _drop_pushed(conn: Conn, member: str, source: str, keys: Sequence[Key], applied: Applied) -> None:
    """Log-read rows of ``source`` the member's laptop removed as copies its reader counted twice
    (:func:`log_removed`): the member's own copy goes, with no tombstone (the laptop no longer holds
    it, so no push brings it back, and the member never forgot a call); another member's stays, and
    so does a row that copies no call the member has stored (:func:`copies`): a push can take out
    a double count, never a member's only record of a call. The push's removals are judged
    together, as the laptop's reader judged them (:func:`cost_mcp.store.agent_files.drop_copies`):
    one look-up per chunk of message ids, one :func:`copies` pass, one delete per chunk."""
    wanted = set(keys)
    own: list[Sequence[object]] = []
    others: set[Key] = set()
    for rows in in_chunks(
        conn,
        "SELECT message_id, request_id, is_sidechain, member, id, session_id, ts_ms, model, total_tokens "
        "FROM usage_events WHERE source = ? AND message_id IN ({})",
        sorted({k[1] for k in wanted}),
        before=(source,),
    ):
        for r in rows:
            key = (source, str(r[0]), str(r[1]), int(r[2]))
            if key not in wanted:
                continue
            if str(r[3]) == member:
                own.append(r[4:])
            else:
                others.add(key)
    applied.refused += len(others)
    copied = copies(conn, source, member, own)
    applied.originals += len(own) - len(copied)
    sessions: set[str] = set()
    for rows in in_chunks(
        conn,
        "DELETE FROM usage_events WHERE id IN ({}) RETURNING ts_ms, session_id",
        [r[0] for r in own if r[0] in copied],
    ):
        applied.removed += [int(r[0]) for r in rows]
        sessions.update(str(r[1]) for r in rows)
    # A session left with no log copy of the member's counts from their OTel copies again.
    session_copies.settle_rows(conn, [(source, "", s) for s in sorted(sessions)])


def copies(conn: Conn, source: str, member: str, rows: Sequence[Sequence[object]]) -> set[object]:
    """The ids of ``rows`` (id, session, ms, model, total tokens: a reader's rows of ``source``
    and ``member`` it no longer yields) that copy a call stored in another session at or before
    them, with the same model and tokens: a fork's copy of its parent's calls has its original in
    the parent's session. A row with no such original is the only record of its call (its
    parent's log was never read) and is kept. One pass over the source's rows of those shapes."""
    if not rows:
        return set()
    totals = sorted({int(str(r[4])) for r in rows})
    first: dict[tuple[str, int], list[tuple[str, int]]] = {}
    for found in in_chunks(
        conn,
        "SELECT model, total_tokens, session_id, MIN(ts_ms) FROM usage_events "
        "WHERE source = ? AND member = ? AND total_tokens IN ({}) GROUP BY model, total_tokens, session_id",
        totals,
        before=(source, member),
    ):
        for model, total, session, ts in found:
            first.setdefault((str(model), int(total)), []).append((str(session), int(ts)))
    return {
        r[0]
        for r in rows
        if any(
            session != str(r[1]) and ts <= int(str(r[2]))
            for session, ts in first.get((str(r[3]), int(str(r[4]))), ())
        )
    }


LOGGED_SOURCES: tuple[str, ...] = ("claude_code", "claude_code_otel")
"""The sources whose copies of a call carry its provider request id (Claude Code's logs, read here
or pushed, and its OTel events), each indexed by it (``usage_events_cc_request``,
``usage_events_otel_request``). Such a copy is the call's own record, with its cache tokens and the
member whose log it is: a reported call of the same request id does not count beside it."""


@dataclass(frozen=True)
class LoggedCopy:
    """A copy of a call from another source than ``record_usage`` holding a reported call's id."""

    source: str
    member: str


def logged_copy(conn: Conn, request_id: str) -> LoggedCopy | None:
    """The copy of another source (:data:`LOGGED_SOURCES`, in that order) holding ``request_id``
    as its provider request id, or None: the call ``record_usage`` would count a second time. One
    probe of each source's request-id index (the source spelled out for its partial index)."""
    if not request_id:
        return None
    for source in LOGGED_SOURCES:
        row = conn.execute(
            f"SELECT member FROM usage_events WHERE source = '{source}' AND request_id = ? "
            "ORDER BY member LIMIT 1",
            (request_id,),
        ).fetchone()
        if row is not None:
            return LoggedCopy(source, str(row[0]))
    return None


def logged_request_ids(conn: Conn, request_ids: Sequence[str]) -> set[str]:
    """Which of ``request_ids`` a copy of :data:`LOGGED_SOURCES` holds (a push's reported rows)."""
    found: set[str] = set()
    for source in LOGGED_SOURCES:
        for rows in in_chunks(
            conn,
            f"SELECT DISTINCT request_id FROM usage_events WHERE source = '{source}' "
            "AND request_id IN ({})",
            sorted({r for r in request_ids if r}),
        ):
            found.update(str(r[0]) for r in rows)
    return found


_ANY_REPORTED = f"SELECT 1 FROM usage_events WHERE source = '{SOURCE}' LIMIT 1"


def any_reported(conn: Conn) -> bool:
    """Whether the ledger holds any reported call: one probe of the unique key's ``record_usage``
    prefix, so that a writer of log copies on a ledger holding none (most) pays nothing more."""
    return conn.execute(_ANY_REPORTED).fetchone() is not None


def uncount_reported_copies(conn: Conn, request_ids: Sequence[str]) -> None:
    """The reported calls (``record_usage`` rows) whose id is one of these request ids, just written
    by a copy of :data:`LOGGED_SOURCES`, stop counting, and their quarter-hours are rebuilt: the call
    counts once, from its log or OTel copy. Inside the writer's transaction, under the write lock;
    the caller asks :func:`any_reported` first (the log writer's hot path gathers no ids without)."""
    ids = sorted({r for r in request_ids if r})
    for rows in in_chunks(
        conn,
        # ``+counted``: SQLite (no statistics) would otherwise walk every counted row of the ledger
        # by usage_events_counted_ts, where the unique key's (source, message id) is one probe each.
        f"UPDATE usage_events SET counted = 0 WHERE source = '{SOURCE}' AND +counted = 1 "
        "AND message_id IN ({}) RETURNING ts_ms",
        ids,
    ):
        if rows:
            rollup.mark_dirty(conn, [int(r[0]) for r in rows])


def recount_reported_copies(conn: Conn, request_ids: Sequence[str]) -> None:
    """The reported calls of these request ids count again where no copy of
    :data:`LOGGED_SOURCES` holds their id any more (its log file forgotten): the call counted from
    that copy must not vanish with it, as an OTel copy counts again when its log copy goes. Their
    quarter-hours are rebuilt. Inside the deleting writer's transaction, after the delete."""
    ids = sorted({r for r in request_ids if r})
    for rows in in_chunks(
        conn,
        f"UPDATE usage_events AS r SET counted = 1 WHERE source = '{SOURCE}' AND +counted = 0 "
        "AND message_id IN ({}) "
        + "".join(
            f"AND NOT EXISTS (SELECT 1 FROM usage_events WHERE source = '{logged}' "
            "AND request_id = r.message_id) "
            for logged in LOGGED_SOURCES
        )
        + "RETURNING ts_ms",
        ids,
    ):
        if rows:
            rollup.mark_dirty(conn, [int(row[0]) for row in rows])
