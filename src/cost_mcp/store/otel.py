"""Ledger writes and reads for the OpenTelemetry receiver: usage events and metric data points."""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from operator import itemgetter
from typing import Final, NamedTuple

from cost_mcp import tokens
from cost_mcp.store import meta, reported, rollup, session_copies
from cost_mcp.store.connection import Conn, dialect, in_chunks, marks, write_transaction
from cost_mcp.store.usage import TOKEN_COLUMNS_SQL

CLAUDE_SOURCE = "claude_code_otel"
"""Claude Code's own api_request events; a log copy of the same request id (source claude_code) wins."""
GENERIC_SOURCE: Final = session_copies.OTEL_SOURCE
"""Everything else that arrives over OTLP: Codex, Gemini CLI, GenAI spans."""
LOG_SOURCE = "claude_code"


class EventRow(NamedTuple):
    """One model call as the receiver stores it, in the order of :data:`_INSERT`'s parameters.

    The receiver builds each row as a plain :data:`Row` in this order, not as an EventRow:
    sqlite3 binds an exact tuple's items directly but a tuple subclass's one by one through the
    sequence protocol (~1.3 µs more per row of 20), and a NamedTuple costs ~0.3 µs more to build.
    """

    source: str
    key: str
    request_id: str
    ts_ms: int
    provider: str
    model: str
    session_id: str
    agent: str
    member: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_5m_tokens: int
    cache_write_1h_tokens: int
    total_tokens: int
    """All tokens, as the other sources count them (input + output + cache reads and writes)."""
    speed: str
    cost_nanos: int | None
    reported_cost_nanos: int | None
    priced_model: str | None
    dimensions: str


# EventRow's fields in order: source, key, request_id, ts_ms, provider, model, session_id, agent,
# member; the five token counts and total_tokens; speed, cost_nanos, reported_cost_nanos,
# priced_model, dimensions.
Row = tuple[
    str, str, str, int, str, str, str, str, str,
    int, int, int, int, int, int,
    str, int | None, int | None, str | None, str,
]  # fmt: skip
"""An :class:`EventRow` as a plain tuple: what :func:`write` takes, a batch to one ``executemany``."""
_TS_MS: Final = 3
"""EventRow's ``ts_ms``, as a literal index so the type checker knows the item's type."""


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One metric data point: a delta (``point`` = its time) or a cumulative value (``point`` = its
    start time, replaced by later values of the same series)."""

    stream: str
    point: int
    metric: str
    session_id: str
    time_ms: int
    tokens: int
    cost_nanos: int
    member: str = ""
    """The sender's token's member, else the point's ``user.email``; '' when neither names one."""


ROW_KINDS = tuple(c for c in tokens.COLUMNS if c in EventRow._fields)
"""The kinds an OTLP event carries, in :data:`cost_mcp.tokens.KINDS` order; the others are stored
as 0 (no exporter reports web searches). EventRow holds them right after ``member``."""

# Built once: the receiver runs this for every event. Parameters follow EventRow's fields.
_INSERT = f"""
INSERT INTO usage_events (
    source, message_id, request_id, is_sidechain, counted, ts_ms, provider, model, session_id, project,
    agent, member, {TOKEN_COLUMNS_SQL}, total_tokens, speed, cost_nanos, reported_cost_nanos,
    priced_model, origin, dimensions
) VALUES (
    ?, ?, ?, 0,
    CASE WHEN ?1 = 'claude_code_otel' AND ?3 != '' AND EXISTS (
        SELECT 1 FROM usage_events INDEXED BY usage_events_cc_request
        WHERE source = 'claude_code' AND request_id = ?3) THEN 0 ELSE 1 END,
    ?, ?, ?, ?, '', ?, ?, {", ".join("?" if c in ROW_KINDS else "0" for c in tokens.COLUMNS)},
    ?, ?, ?, ?, ?, 'otel', ?
)
ON CONFLICT DO NOTHING
"""
_CC_REQUEST: Final = "usage_events_cc_request"
_INSERT_WHILE_LOADING: Final = _INSERT.replace(f" INDEXED BY {_CC_REQUEST}", "")
""":data:`_INSERT` while a first load of the logs (store.bulk) has dropped its index, in the same
server or another process between two of the load's batches. The planner then walks the unique
key's ``claude_code`` prefix per event: slow on a large load, but only until the load ends. Named
otherwise, since without stats the planner prefers that covering prefix to the index."""


class Written(NamedTuple):
    """What :func:`write` did with one request's events."""

    added: int
    refused: int
    """Events not added because another member's row holds their key (never changed by them), or
    another member's log copy holds their request id."""
    forgotten: int = 0
    """Events not added because their call was forgotten (a tombstone in ``forgotten_calls``)."""


def write(conn: Conn, events: Sequence[Row], points: Sequence[MetricPoint]) -> Written:
    """Store one OTLP request's events and metric points in one transaction.

    An event already stored (same source and key: an exporter's retry) is left as it was; one whose
    key another member's row holds is left out too, and counted as refused: calls are keyed across
    members, and the call stays the member's who sent it first. So is a Claude Code event whose
    request id another member's log copy holds (the mirror of a push refusing a log row whose OTel
    copy is another member's). An event whose call was forgotten (``team forget-pushes``: a
    tombstone), under its own key or, for a Claude Code event, as its log copy, is not stored again,
    as a push of it is not.

    Each sender (source, agent, member) of the events kept is noted as heard from now, for the
    answers' ``sources`` (:func:`received_from`).
    """
    with write_transaction(conn):
        # Before the insert, under the write lock: what the insert must not store at all.
        forgotten = reported.forgotten_keys(conn, [(e[0], e[1], e[2], 0) for e in events])
        # The call's log copy forgotten before any OTel copy arrived: no tombstone under this key.
        log_forgotten = reported.forgotten_request_ids(
            conn, LOG_SOURCE, [e[2] for e in events if e[0] == CLAUDE_SOURCE and e[2]]
        )
        kept = [
            e
            for e in events
            if (e[0], e[1], e[2], 0) not in forgotten
            and not (e[0] == CLAUDE_SOURCE and e[2] in log_forgotten)
        ]
        n_forgotten = len(events) - len(kept)
        held = _logged_by_others(conn, kept)
        if held:
            kept = [e for e in kept if (e[2], e[_MEMBER]) not in held]
        withheld = len(events) - len(kept)
        events = kept
        # The largest row id before: rows this insert adds come after it (SQLite numbers a row one
        # past the largest; PostgreSQL's identity only grows), for _settle_from_otel to read them.
        last_id = int(conn.execute(_LAST_ID).fetchone()[0])
        before = conn.total_changes
        try:
            conn.executemany(_INSERT, events)
        except sqlite3.OperationalError as exc:  # failed to prepare: nothing was written
            if _CC_REQUEST not in str(exc):
                raise
            conn.executemany(_INSERT_WHILE_LOADING, events)
        added = conn.total_changes - before
        # Only a request with events not added (a retry, or a key held already) looks them up.
        refused = _held_by_others(conn, events) if added < len(events) else 0
        refused += withheld - n_forgotten
        if added:
            _settle_from_otel(conn, last_id)
            # A Codex or Gemini CLI session whose log copy is stored counts from it.
            session_copies.settle(conn, [(e[7], e[6]) for e in events if e[0] == GENERIC_SOURCE])
            if reported.any_reported(conn):
                # The call counts once: a reported call of its request id stops counting.
                reported.uncount_reported_copies(conn, [e[2] for e in events if e[0] == CLAUDE_SOURCE])
        if events:
            rollup.mark_dirty(conn, [e[_TS_MS] for e in events])
            meta.note_pricing(conn)
            _note_senders(conn, events)
        if points:  # an events request has none: no statement for them (an older ledger lacks member)
            conn.executemany(
                """
                INSERT INTO otel_metric_points (
                    stream, point, metric, session_id, time_ms, tokens, cost_nanos, member
                ) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (stream, point) DO UPDATE SET
                    time_ms = excluded.time_ms, tokens = excluded.tokens, cost_nanos = excluded.cost_nanos,
                    member = excluded.member
                WHERE excluded.time_ms > otel_metric_points.time_ms
                  AND otel_metric_points.member IN ('', excluded.member)
                """,
                # A series is another member's only if its attributes are the same as theirs: it stays
                # theirs, as a call's key does (a member cannot change what another's points say).
                [
                    (p.stream, p.point, p.metric, p.session_id, p.time_ms, p.tokens, p.cost_nanos, p.member)
                    for p in points
                ],
            )
    return Written(added, refused, n_forgotten)


_MEMBER: Final = 8
"""EventRow's ``member``."""
_SENDER = itemgetter(0, 7, _MEMBER)
"""EventRow's ``source``, ``agent`` and ``member``: who sent it, as :func:`received_from` tells them."""
_NOTE_SENDER: Final = """
INSERT INTO otlp_senders (source, agent, member, first_ms, last_ms, events) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (source, agent, member) DO UPDATE SET
    last_ms = CASE WHEN excluded.last_ms > otlp_senders.last_ms
                   THEN excluded.last_ms ELSE otlp_senders.last_ms END,
    events = otlp_senders.events + excluded.events
"""


def _note_senders(conn: Conn, events: Sequence[Row]) -> None:
    """Each sender of ``events`` heard from now, with their count: one row per sender, what every
    answer reads (a request holds one or a few)."""
    at = int(time.time() * 1000)
    conn.executemany(
        _NOTE_SENDER,
        [
            (source, agent, member, at, at, n)
            for (source, agent, member), n in Counter(map(_SENDER, events)).items()
        ],
    )


_PAIRS_PER_LOOK_UP = 400


def _held_by_others(conn: Conn, events: Sequence[Row]) -> int:
    """How many of ``events`` have a key (source, message id) stored under another member."""
    wanted = {(e[0], e[1]): e[_MEMBER] for e in events}
    owners: dict[tuple[str, str], str] = {}
    for rows in in_chunks(
        conn,
        "SELECT source, message_id, member FROM usage_events WHERE (source, message_id) IN (VALUES {})",
        sorted(wanted),
        mark="(?, ?)",
        max_marks=2 * _PAIRS_PER_LOOK_UP,
    ):
        owners.update(((str(src), str(key)), str(member)) for src, key, member in rows)
    return sum(1 for e in events if owners.get((e[0], e[1]), e[_MEMBER]) != e[_MEMBER])


def _logged_by_others(conn: Conn, events: Sequence[Row]) -> set[tuple[str, str]]:
    """The (request id, member) pairs of these Claude Code events whose request id a log copy of
    another known member holds: that call is theirs (a log copy with no member, read on this
    machine, takes the event's: :func:`best_of_both`). Stored uncounted under the sender, such an
    event would start counting for them once that member's copy is removed."""
    wanted = sorted({e[2] for e in events if e[0] == CLAUDE_SOURCE and e[2]})
    if not wanted:
        return set()
    owners: dict[str, set[str]] = {}
    for rows in in_chunks(
        conn,
        # The source spelled out: the partial index usage_events_cc_request is for it.
        f"SELECT request_id, member FROM usage_events WHERE source = '{LOG_SOURCE}' "
        "AND request_id IN ({}) AND member != ''",
        wanted,
        max_marks=_PAIRS_PER_LOOK_UP,
    ):
        for request_id, member in rows:
            owners.setdefault(str(request_id), set()).add(str(member))
    return {
        (e[2], e[_MEMBER])
        for e in events
        if e[0] == CLAUDE_SOURCE and owners.get(e[2], {e[_MEMBER]}) - {e[_MEMBER]}
    }


def uncount_otel_copies(conn: Conn, log_request_ids: Iterable[str]) -> None:
    """The cross-path rule for log copies (source ``claude_code``) just written with these request
    ids: their OTel copies stop counting, and so do the calls agents reported under these ids
    (``record_usage``: :func:`reported.uncount_reported_copies`); the quarter-hours those held are
    rebuilt.

    Every writer of log copies calls this once per batch, inside its transaction; the other
    arrival order (an OTel copy after its log copy) is settled by :data:`_INSERT` as it goes in.
    Until m021 a row trigger did this, and SQLite ran its program for every inserted row of any
    source, ~4 µs of an OTel event's ~15 µs insert, to act on log rows only.
    """
    # A ledger that holds no OTel copy (most) has none to uncount: one probe, where the statements
    # below look every id up twice (PostgreSQL: 0.1 s of a 20,000-copy batch; SQLite: 0.05 s of a
    # cold load of 75k). Writers hold the write lock, so none can arrive before the commit. Probed
    # before the ids are gathered: their set and sort alone were 0.03 s of a cold load's writer.
    probe = f"SELECT 1 FROM usage_events WHERE source = '{CLAUDE_SOURCE}' LIMIT 1"
    otel_copies = conn.execute(probe).fetchone() is not None
    # Likewise the reported calls (record_usage) a log copy holds the request id of stop counting.
    reported_calls = reported.any_reported(conn)
    if not (otel_copies or reported_calls):
        return
    ids = sorted({r for r in log_request_ids if r})
    if not ids:
        return
    if reported_calls:
        reported.uncount_reported_copies(conn, ids)
    if not otel_copies:
        return
    args: tuple[object, ...]
    if dialect(conn) == "postgresql":
        table, match, args = "usage_events", "request_id = ANY(?)", (ids,)
    else:
        # One parameter for the whole batch, each id one probe of the OTel copies' index (named:
        # the planner would otherwise walk every counted row through usage_events_counted_ts).
        table = "usage_events INDEXED BY usage_events_otel_request"
        match, args = "request_id IN (SELECT value FROM json_each(?))", (json.dumps(ids),)
    counted_copies = f"source = '{CLAUDE_SOURCE}' AND counted = 1 AND {match}"
    if dialect(conn) == "postgresql":
        # One statement, the ids sent once: the rows it uncounts name their quarter-hours.
        conn.execute(
            f"WITH uncounted AS (UPDATE {table} SET counted = 0 WHERE {counted_copies} RETURNING ts_ms) "
            f"INSERT INTO rollup_dirty (qh) SELECT DISTINCT ts_ms / {rollup.QUARTER_HOUR_MS} "
            "FROM uncounted ORDER BY 1 ON CONFLICT DO NOTHING",
            args,
        )
    else:
        conn.execute(
            f"INSERT INTO rollup_dirty (qh) SELECT DISTINCT ts_ms / {rollup.QUARTER_HOUR_MS} "
            f"FROM {table} WHERE {counted_copies} ON CONFLICT DO NOTHING",
            args,
        )
        conn.execute(f"UPDATE {table} SET counted = 0 WHERE {counted_copies}", args)
    # After the uncount: the OTel copies with a log copy are the uncounted ones.
    best_of_both(conn, ids)


_TAKES_OTEL_TOKENS = "o.total_tokens > l.total_tokens"
_BEST_OF_BOTH = f"""
UPDATE usage_events AS l{{log_index}} SET
    member = CASE WHEN l.member = '' THEN o.member ELSE l.member END,
    {", ".join(f"{c} = CASE WHEN {_TAKES_OTEL_TOKENS} THEN o.{c} ELSE l.{c} END" for c in tokens.COLUMNS)},
    total_tokens = CASE WHEN {_TAKES_OTEL_TOKENS} THEN o.total_tokens ELSE l.total_tokens END,
    cost_nanos = CASE WHEN {_TAKES_OTEL_TOKENS} THEN o.cost_nanos ELSE l.cost_nanos END,
    priced_model = CASE WHEN {_TAKES_OTEL_TOKENS} THEN o.priced_model ELSE l.priced_model END,
    price_note = CASE WHEN {_TAKES_OTEL_TOKENS} THEN o.price_note ELSE l.price_note END,
    reported_cost_nanos = CASE
        WHEN {_TAKES_OTEL_TOKENS} THEN o.reported_cost_nanos
        WHEN o.total_tokens = l.total_tokens THEN COALESCE(l.reported_cost_nanos, o.reported_cost_nanos)
        ELSE l.reported_cost_nanos END
FROM usage_events AS o{{otel_index}}
WHERE o.source = '{CLAUDE_SOURCE}' AND {{match}} AND o.request_id != '' AND o.counted = 0
  AND l.source = '{LOG_SOURCE}' AND l.request_id = o.request_id AND l.member IN ('', o.member)
  AND ((l.member = '' AND o.member != '') OR {_TAKES_OTEL_TOKENS}
       OR (o.total_tokens = l.total_tokens AND l.reported_cost_nanos IS NULL
           AND o.reported_cost_nanos IS NOT NULL))
RETURNING {{returning}}
"""
"""The log copies of a call (request id) that its OTel copy has something better for, given it.
An OTel copy with a log copy is uncounted (:data:`_INSERT`, :func:`uncount_otel_copies`), so only
those are looked for a log copy: the receiver's new events, nearly all counted, are passed over."""
_LOG_INDEX: Final = " INDEXED BY usage_events_cc_request"


def best_of_both(conn: Conn, request_ids: Sequence[str]) -> None:
    """Give the log copies (source ``claude_code``) of these request ids the best of their OTel copy.

    The log copy of a call is the one that counts (it has the 5-minute/1-hour cache-write split),
    but the OTel copy may know more, and the call must not lose it for arriving both ways:

    - the member: a log copy read on this machine has none (''), the OTel event names one
      (``user.email``, or the member's token). A log copy of a known member takes nothing from
      another member's OTel copy (as a push may neither grow nor take another member's call), and
      a known member is never replaced;
    - the tokens, "max tokens wins" as between any two copies: when the OTel copy has more, the log
      copy takes its counts with its price (``cost_nanos``, ``priced_model``, ``price_note``);
    - the cost Claude Code reported (``cost_usd``), so ``auto`` counts the same as before the log copy
      came: kept when the counted tokens are the ones it was reported for (equal totals, or the OTel
      copy's taken), and the log copy reports none of its own (an old ``costUSD``). A log copy with
      more tokens keeps its own cost, as that figure is for fewer.

    Idempotent (a copy already given what its OTel copy has is not written again), and the same in
    either arrival order: the log writers run it per batch (:func:`uncount_otel_copies`), the OTLP
    receiver after its inserts (:func:`write`). The quarter-hours of the rows it changes are marked
    for the rollup to rebuild.
    """
    ids = sorted({r for r in request_ids if r})
    if not ids:
        return
    if dialect(conn) == "postgresql":
        sql = _BEST_OF_BOTH.format(
            log_index="", otel_index="", match="o.request_id = ANY(?)", returning="l.ts_ms"
        )
        changed = conn.execute(sql, (ids,)).fetchall()
    else:
        # Named indexes: each id one probe of the OTel copies' index and of the log copies' one,
        # where the planner would otherwise walk the unique key's claude_code prefix.
        sql = _BEST_OF_BOTH.format(
            log_index=_LOG_INDEX,
            otel_index=" INDEXED BY usage_events_otel_request",
            match="o.request_id IN (SELECT value FROM json_each(?))",
            returning="ts_ms",  # SQLite's RETURNING names the updated table's columns unqualified
        )
        args = (json.dumps(ids),)
        try:
            changed = conn.execute(sql, args).fetchall()
        except sqlite3.OperationalError as exc:  # failed to prepare: nothing was written
            if _CC_REQUEST not in str(exc):
                raise
            # A first load (store.bulk) has dropped the log copies' index for now.
            changed = conn.execute(sql.replace(_LOG_INDEX, ""), args).fetchall()
    if changed:
        rollup.mark_dirty(conn, [int(r[0]) for r in changed])


_LAST_ID: Final = "SELECT COALESCE(MAX(id), 0) FROM usage_events"
_ADDED_WITH_LOG_COPY: Final = (
    "SELECT request_id FROM usage_events{not_indexed} WHERE id > ? "
    f"AND source = '{CLAUDE_SOURCE}' AND counted = 0 AND request_id != ''"
)
"""The OTel copies an insert after row id ``?`` added uncounted: those whose log copy was there.
SQLite's NOT INDEXED keeps it to the row id range: it would otherwise walk every uncounted row by
``usage_events_counted_ts``, or every OTel copy by the unique key."""


def _settle_from_otel(conn: Conn, last_id: int) -> None:
    """:func:`best_of_both` for the OTel copies just added after row ``last_id`` that met their log
    copy. Read back by row id, a range of just the rows added: passing every event's request id
    to best_of_both probed the OTel copies' index for each (+1 µs of a ~8 µs write per event on a
    ledger holding log copies), where nearly every event of a request meets no log copy."""
    sql = _ADDED_WITH_LOG_COPY.format(not_indexed="" if dialect(conn) == "postgresql" else " NOT INDEXED")
    ids = [str(r[0]) for r in conn.execute(sql, (last_id,))]
    if ids:
        best_of_both(conn, ids)


@dataclass(frozen=True, slots=True)
class SessionGap:
    """A session whose metrics report more than its events did."""

    session_id: str
    metric_tokens: int
    event_tokens: int
    metric_cost_nanos: int
    event_cost_nanos: int


def gaps(
    conn: Conn, lo_ms: int, hi_ms: int, cost_slack_nanos: int, members: Sequence[str] = ()
) -> list[SessionGap]:
    """Sessions with metric points in [lo_ms, hi_ms) whose metric token or cost totals exceed what
    the counted events of that session (from the logs or over OTel) add up to.

    Costs are compared with ``cost_slack_nanos`` of slack: Claude Code sends them as floats.
    ``members``: only their points (m043), and the points that name no member (held from before
    m043, or sent with neither a token nor a ``user.email``) of sessions with events of theirs.
    """
    whose = (
        f"AND (member IN ({marks(members)}) OR (member = '' AND session_id IN ("
        f"SELECT session_id FROM usage_events WHERE member IN ({marks(members)}))))"
        if members
        else ""
    )
    rows = conn.execute(
        f"""
        WITH m AS (
            SELECT session_id, SUM(tokens) AS tokens, SUM(cost_nanos) AS cost
            FROM otel_metric_points
            WHERE session_id != '' AND session_id IN (
                SELECT session_id FROM otel_metric_points WHERE time_ms >= ? AND time_ms < ?)
              {whose}
            GROUP BY session_id
        )
        SELECT m.session_id, m.tokens, m.cost,
               (SELECT COALESCE(SUM(total_tokens), 0) FROM usage_events e
                WHERE e.session_id = m.session_id AND e.counted = 1
                  AND e.source IN ('claude_code', 'claude_code_otel')),
               (SELECT COALESCE(SUM(reported_cost_nanos), 0) FROM usage_events e
                WHERE e.session_id = m.session_id AND e.source = 'claude_code_otel')
        FROM m ORDER BY m.session_id
        """,
        (lo_ms, hi_ms, *members, *members),
    ).fetchall()
    return [
        SessionGap(str(s), int(mt), int(et), int(mc), int(ec))
        for s, mt, mc, et, ec in rows
        if mt > et or (mc > ec + cost_slack_nanos and ec > 0)
    ]


def gap_warnings(conn: Conn, lo_ms: int, hi_ms: int, members: Sequence[str] | None = None) -> list[str]:
    """Warnings for sessions whose OTel metrics report more than their events did (never added);
    with ``members`` (an answer filtered to them, a team member's own), only their sessions: a
    member's answer names no one else's session."""
    warnings: list[str] = []
    for g in gaps(conn, lo_ms, hi_ms, cost_slack_nanos=10_000_000, members=members or ()):
        if g.metric_tokens > g.event_tokens:
            what = f"{g.metric_tokens - g.event_tokens:,} more tokens"
        else:
            what = f"${Decimal(g.metric_cost_nanos - g.event_cost_nanos) / 10**9:.2f} more cost"
        warnings.append(
            f"Claude Code session {g.session_id}: its OTel metrics report {what} than the usage events "
            "received (events were lost or not exported); totals count only the events"
        )
    return warnings


def session_sources(conn: Conn, session_id: str) -> set[str]:
    """The sources holding counted calls of ``session_id`` (the session index answers it)."""
    rows = conn.execute(
        "SELECT DISTINCT source FROM usage_events WHERE session_id = ? AND counted = 1", (session_id,)
    ).fetchall()
    return {str(r[0]) for r in rows}


@dataclass(frozen=True, slots=True)
class Sender:
    """Whose usage events arrived over OTLP: an agent and member, how many calls, when the last
    arrived (:func:`senders`)."""

    agent: str
    member: str
    events: int
    last_ms: int
    departed: bool = False
    """Whether every token made for the member is revoked (see :attr:`OtlpSender.departed`)."""


def _departed(member: str) -> str:
    """SQL: whether every token made for the member in column ``member`` is revoked (a member removed
    from the team), as budgets.departed_notes tells it: tokens made for them, none of them live."""
    return (
        f"EXISTS (SELECT 1 FROM api_tokens t WHERE t.member = LOWER({member})) "
        f"AND NOT EXISTS (SELECT 1 FROM api_tokens t WHERE t.member = LOWER({member}) "
        "AND t.revoked_at IS NULL)"
    )


def senders(conn: Conn, since_ms: int, until_ms: int | None = None) -> list[Sender]:
    """Each agent and member the OTLP receiver last accepted events from at ``since_ms`` or after
    (with ``until_ms``: before it, telemetry that stopped, or nobody working; only the person can
    say which), most recently heard from first: by arrival (m041), so a laptop that sent last week's
    calls today is heard from today. ``events`` and ``last_ms`` are the sender's as
    :func:`received_from` reads them, summed over the sources (Claude Code's and the others)."""
    until = "" if until_ms is None else " AND MAX(s.last_ms) < ?"
    rows = conn.execute(
        f"SELECT s.agent, s.member, SUM(s.events), MAX(s.last_ms), {_departed('s.member')} "
        f"FROM otlp_senders s GROUP BY s.agent, s.member HAVING MAX(s.last_ms) >= ?{until} "
        "ORDER BY 4 DESC, 1, 2",
        (since_ms,) if until_ms is None else (since_ms, until_ms),
    ).fetchall()
    return [Sender(str(a), str(m), int(n), int(last), bool(d)) for a, m, n, last, d in rows]


def senders_by_call_time(conn: Conn, since_ms: int, until_ms: int | None = None) -> list[Sender]:
    """:func:`senders` on a ledger from before m041, which kept no arrivals: by the calls' times
    (those also read from a log included: it is what was sent), their count and latest call since
    ``since_ms``. Rows a laptop pushed have another origin: they are its pushes, not this receiver's."""
    until = "" if until_ms is None else " HAVING MAX(u.ts_ms) < ?"
    rows = conn.execute(
        # counted IN (0, 1): a range of usage_events_counted_ts for each, not a walk of the table.
        f"SELECT u.agent, u.member, COUNT(*), MAX(u.ts_ms), {_departed('u.member')} FROM usage_events u "
        f"WHERE u.counted IN (0, 1) AND u.ts_ms >= ? AND u.origin = 'otel' "
        f"GROUP BY u.agent, u.member{until} ORDER BY 4 DESC, 1, 2",
        (since_ms,) if until_ms is None else (since_ms, until_ms),
    ).fetchall()
    return [Sender(str(a), str(m), int(n), int(last), bool(d)) for a, m, n, last, d in rows]


@dataclass(frozen=True, slots=True)
class OtlpSender:
    """What the OTLP receiver accepted from one sender (a data source, an agent, a member), for
    as long as the ledger has received anything from them."""

    source: str
    agent: str
    member: str
    first_ms: int
    """When the receiver first accepted an event of theirs (for events held before m041: the
    earliest call's time)."""
    last_ms: int
    """When it last did (before m041: the latest call's time)."""
    events: int
    """Events accepted, an exporter's retry of a batch counted again."""
    departed: bool = False
    """Whether every token made for the member is revoked (a member removed from the team): what
    they sent still counts, as a revoked token's pushes do. A member no token was made for (one
    sending through a fleet's ingest token or an identity provider's) is not departed."""


def received_from(conn: Conn, members: Sequence[str] | None = None) -> list[OtlpSender]:
    """Every sender the OTLP receiver accepted events from (only ``members``' with them), heard
    from most recently first: a read of one row per sender (m041), cheap enough for every answer."""
    sql = (
        f"SELECT s.source, s.agent, s.member, s.first_ms, s.last_ms, s.events, {_departed('s.member')} "
        "FROM otlp_senders s"
    )
    params: list[str] = []
    if members is not None:
        sql += f" WHERE s.member IN ({marks(members)})" if members else " WHERE false"
        params = list(members)
    rows = conn.execute(sql + " ORDER BY s.last_ms DESC, s.agent, s.member, s.source", params).fetchall()
    return [
        OtlpSender(str(s), str(a), str(m), int(f), int(la), int(n), bool(d)) for s, a, m, f, la, n, d in rows
    ]
