"""Team mode in the ledger: bearer tokens (hashes only), teams, pushed usage rows and their acks.

Server side: :func:`create_token` / :func:`verify_token` / :func:`revoke_token`, dashboard
sign-in sessions (:func:`open_dashboard_session`, :func:`dashboard_session`), team membership,
and :func:`store_pushed` which writes a laptop's usage rows under the token's member with the local
ledger's dedup key and "max tokens wins" rule. Laptop side: :func:`unpushed` lists the counted usage
events a team server has not acknowledged (or acknowledged with fewer tokens), :func:`record_acks`
records what it acknowledged.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any, cast
from urllib.parse import urlsplit

from cost_mcp import tokens
from cost_mcp.errors import InvalidInputError, NotFoundError
from cost_mcp.store import bulk, otel, reported, rollup, session_copies, stages
from cost_mcp.store.connection import Conn, dialect, in_chunks, is_conflict, marks, write_transaction
from cost_mcp.store.usage import PUSH_ORIGIN, TOKENS_FROM_EXCLUDED_SQL

TOKEN_PREFIX = "cmt_"
"""Recognisable in a leaked-secret scan, and distinct from every provider's key prefix."""
ROLES = ("member", "admin", "ingest")
"""What a token may do (cost_mcp.access): a member's own usage, everything (admin), or only send
OpenTelemetry usage for a fleet (ingest). The ledger's CHECK on ``api_tokens.role`` allows these."""


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as listed: never the token itself, which the ledger does not have."""

    name: str
    member: str
    role: str
    created_at: str
    revoked_at: str | None


def hash_token(token: str) -> str:
    """The stored form of a token: hex SHA-256 (a 256-bit random token needs no slow hash)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _printable(what: str, value: str) -> None:
    """Refuse a control character (an escape sequence, a newline, a bidi override) in a name that
    `token list`, `team list`, doctor, answers' sources and the server log print as it is."""
    if not value.isprintable():
        raise InvalidInputError(
            f"{what} may hold no control characters, got {value.encode('unicode_escape').decode()!r}"
        )


def create_token(conn: Conn, name: str, member: str, role: str = "member") -> str:
    """Create a token for ``member`` and return it; only its hash is stored, so this is the one
    time anybody sees it. InvalidInputError for a bad name, member or role, or a name in use."""
    name, member = name.strip(), checked_member(member, "--member", email=True)
    if not name or len(name) > 100:
        raise InvalidInputError("a token needs a name of 1 to 100 characters, e.g. ana-laptop")
    if role not in ROLES:
        raise InvalidInputError(f"--role must be one of {', '.join(ROLES)}, got {role!r}")
    _printable("a token's name", name)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = datetime.now(UTC).isoformat()
    with write_transaction(conn):
        cursor = conn.execute(
            "INSERT INTO api_tokens (name, token_hash, member, role, created_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (name) DO NOTHING",
            (name, hash_token(token), member, role, now),
        )
        if cursor.rowcount == 0:
            row = conn.execute("SELECT revoked_at FROM api_tokens WHERE name = ?", (name,)).fetchone()
            if row is not None and row[0] is not None:
                # Its name stays in the history of pushes and answers' sources, so it is not reused.
                raise InvalidInputError(
                    f"a token named {name!r} was revoked and its name is kept in the push history; "
                    f"choose another name, e.g. {name}-2"
                )
            # Revoking would not free the name (above): rotating is a new name, then the old revoked.
            raise InvalidInputError(
                f"a token named {name!r} exists, and a name is never reused, even once revoked: choose "
                f"another, e.g. {name}-2 (to replace the token: create the new one, then `cost-mcp token "
                f"revoke {name}`)"
            )
    return token


def list_tokens(conn: Conn) -> list[TokenInfo]:
    """Every token, revoked ones included (they say when), by name."""
    return [
        TokenInfo(str(n), str(m), str(r), str(c), None if v is None else str(v))
        for n, m, r, c, v in conn.execute(
            "SELECT name, member, role, created_at, revoked_at FROM api_tokens ORDER BY name"
        )
    ]


def departed_members(conn: Conn) -> set[str]:
    """The members every token made for whom is revoked: removed from the team (or rotated without
    a new token). A member never given a token (signing in through an identity provider, or sending
    through a fleet's ingest token) is not one."""
    tokens = list_tokens(conn)
    live = {t.member.lower() for t in tokens if t.revoked_at is None}
    return {t.member.lower() for t in tokens if t.revoked_at is not None} - live


def revoke_token(conn: Conn, name: str) -> str | None:
    """Revoke a token at once (every server process checks the ledger on each request). Returns
    None, or when it was revoked before for a token revoked already (nothing changes)."""
    with write_transaction(conn):
        cursor = conn.execute(
            "UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
            (datetime.now(UTC).isoformat(), name),
        )
        if cursor.rowcount == 0:
            known = conn.execute("SELECT revoked_at FROM api_tokens WHERE name = ?", (name,)).fetchone()
            if known is None:
                raise NotFoundError(f"no token named {name!r}; `cost-mcp token list` shows them")
            return str(known[0])
    return None


def verify_token(conn: Conn, token: str) -> TokenInfo | None:
    """The live token this bearer value is, or None (unknown, revoked, or not one of ours)."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = conn.execute(
        "SELECT name, member, role, created_at FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL",
        (hash_token(token),),
    ).fetchone()
    return None if row is None else TokenInfo(str(row[0]), str(row[1]), str(row[2]), str(row[3]), None)


def has_live_tokens(conn: Conn) -> bool:
    """Whether any token can be used: the HTTP server then requires one on every request."""
    return conn.execute("SELECT 1 FROM api_tokens WHERE revoked_at IS NULL LIMIT 1").fetchone() is not None


# --- dashboard sessions (a browser signed in with a token: cost_mcp.web.signin) -------------------


@dataclass(frozen=True, slots=True)
class DashboardSession:
    """Who a live dashboard session is: the token it was opened with (its name, member and role),
    when it ends (Unix ms), and whether that token was an identity provider's JWT."""

    token_name: str
    member: str
    role: str
    expires_ms: int
    jwt: bool = False


def open_dashboard_session(
    conn: Conn, session_id: str, token: str | None, who: DashboardSession, now_ms: int
) -> None:
    """Store a session: the SHA-256 of its id (the cookie's value), and of ``token`` when it is one
    of ours (None: an identity provider's JWT, which ends by ``who.expires_ms`` alone). Sessions that
    have ended are deleted on the way."""
    with write_transaction(conn):
        _drop_ended_sessions(conn, now_ms)
        conn.execute(
            "INSERT INTO dashboard_sessions "
            "(session_hash, token_hash, token_name, member, role, created_ms, expires_ms) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                hash_token(session_id),
                "" if token is None else hash_token(token),
                who.token_name,
                who.member,
                who.role,
                now_ms,
                who.expires_ms,
            ),
        )


def dashboard_session(conn: Conn, session_id: str, now_ms: int) -> DashboardSession | None:
    """The live session with this id, or None: unknown, ended, or opened with a token since revoked
    (checked here, on every request, as a bearer token is)."""
    row = conn.execute(
        "SELECT s.token_name, s.member, s.role, s.expires_ms, s.token_hash = '' FROM dashboard_sessions s "
        "WHERE s.session_hash = ? AND s.expires_ms > ? AND (s.token_hash = '' OR EXISTS ("
        "SELECT 1 FROM api_tokens t WHERE t.token_hash = s.token_hash AND t.revoked_at IS NULL))",
        (hash_token(session_id), now_ms),
    ).fetchone()
    if row is None:
        return None
    return DashboardSession(str(row[0]), str(row[1]), str(row[2]), int(row[3]), jwt=bool(row[4]))


def close_dashboard_session(conn: Conn, session_id: str) -> None:
    """Delete a session (signing out); nothing when there is none."""
    with write_transaction(conn):
        conn.execute("DELETE FROM dashboard_sessions WHERE session_hash = ?", (hash_token(session_id),))


def _drop_ended_sessions(conn: Conn, now_ms: int) -> None:
    conn.execute(
        "DELETE FROM dashboard_sessions WHERE expires_ms <= ? OR (token_hash <> '' AND NOT EXISTS ("
        "SELECT 1 FROM api_tokens t WHERE t.token_hash = dashboard_sessions.token_hash "
        "AND t.revoked_at IS NULL))",
        (now_ms,),
    )


# --- teams ---------------------------------------------------------------------------------------


def set_team(conn: Conn, team: str, members: Sequence[str]) -> None:
    """Make ``team`` exactly these members (an empty list removes the team)."""
    team = team.strip()
    if not team:
        raise InvalidInputError("a team needs a name, e.g. platform")
    cleaned = sorted({checked_member(m, "a team's member", email=True) for m in members if m.strip()})
    _printable("a team's name", team)
    with write_transaction(conn):
        conn.execute("DELETE FROM team_members WHERE team = ?", (team,))
        conn.executemany(
            "INSERT INTO team_members (team, member) VALUES (?, ?)", [(team, m) for m in cleaned]
        )


def teams(conn: Conn) -> dict[str, list[str]]:
    """Every team and its members, by name."""
    out: dict[str, list[str]] = {}
    for team, member in conn.execute("SELECT team, member FROM team_members ORDER BY team, member"):
        out.setdefault(str(team), []).append(str(member))
    return out


def team_of(conn: Conn, team: str) -> list[str]:
    """The members of one team; NotFoundError when there is no such team."""
    found = teams(conn).get(team)
    if not found:
        raise NotFoundError(f"no team named {team!r}; create it with `cost-mcp team set {team} EMAIL...`")
    return found


# --- pushed usage (server side) ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PushedRow:
    """One usage event as a laptop sends it: normalised fields only, priced by the server."""

    source: str
    message_id: str
    request_id: str
    is_sidechain: int
    ts_ms: int
    provider: str
    model: str
    session_id: str
    project: str
    agent: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_5m_tokens: int
    cache_write_1h_tokens: int
    web_search_requests: int
    speed: str
    service_tier: str
    inference_geo: str
    reported_cost_nanos: int | None

    @property
    def total_tokens(self) -> int:
        """All tokens, the "max tokens wins" measure."""
        return tokens.token_count([getattr(self, column) for column in tokens.COLUMNS])


_counts_of = attrgetter(*tokens.COLUMNS)
"""A row's token counts (PushedRow's fields are named by column) in :data:`cost_mcp.tokens.KINDS`
order, as one C-level call: this runs for every pushed row."""

_PUSH_COLUMNS = (
    "source",
    "message_id",
    "request_id",
    "is_sidechain",
    "counted",
    "ts_ms",
    "provider",
    "model",
    "session_id",
    "project",
    "agent",
    "member",
    *tokens.COLUMNS,
    "total_tokens",
    "speed",
    "service_tier",
    "inference_geo",
    "cost_nanos",
    "reported_cost_nanos",
    "priced_model",
    "price_note",
    "origin",
)
_PUSH_KEY = ("source", "message_id", "request_id", "is_sidechain")
_PUSH_STAGES = (("usage_events", _PUSH_COLUMNS), ("usage_rollup", rollup.STAGED_COLUMNS))
"""What a push stages on PostgreSQL: its rows, and its new calls' rollup groups (rollup.add)."""
_PUSH_ON_CONFLICT = f"""
ON CONFLICT (source, message_id, request_id, is_sidechain) DO UPDATE SET
    ts_ms = excluded.ts_ms, provider = excluded.provider, model = excluded.model,
    session_id = excluded.session_id, project = excluded.project, agent = excluded.agent,
    {TOKENS_FROM_EXCLUDED_SQL}, total_tokens = excluded.total_tokens,
    speed = excluded.speed, service_tier = excluded.service_tier, inference_geo = excluded.inference_geo,
    cost_nanos = excluded.cost_nanos, reported_cost_nanos = excluded.reported_cost_nanos,
    priced_model = excluded.priced_model, price_note = excluded.price_note
WHERE usage_events.member = excluded.member
  AND (excluded.total_tokens > usage_events.total_tokens
   OR (excluded.total_tokens = usage_events.total_tokens
       AND (excluded.ts_ms < usage_events.ts_ms
            OR (excluded.ts_ms = usage_events.ts_ms AND excluded.session_id < usage_events.session_id)
            OR (excluded.ts_ms = usage_events.ts_ms AND excluded.session_id = usage_events.session_id
                AND excluded.project <> usage_events.project))))
"""
# The tie-break makes the winner independent of arrival order: same rows in any order, same ledger.
# Its last arm is the one exception, a copy that differs from the stored one in its project alone:
# a laptop sends a call again only when it changed there, so that copy is the call's project as the
# member's ledger now names it (Gemini CLI's calls move from a tmp folder's name to the project's
# path, agents.scanner._rename_projects); without it the server kept the old name for good.
# ``member`` is never updated, and a row is only ever replaced by its own member's copy: a call
# belongs to whoever first pushed it. The rows that would meet another member's are refused before
# this (:func:`conflicts`), so the member test here is a backstop and changes no outcome.

_OTEL_SOURCE = otel.CLAUDE_SOURCE
_LOG_SOURCE = otel.LOG_SOURCE


@dataclass(frozen=True, slots=True)
class Priced:
    """What the server's pricer made of a pushed row."""

    cost_nanos: int | None
    priced_model: str | None
    note: str


def store_pushed(
    conn: Conn,
    member: str,
    token_name: str,
    rows: Sequence[PushedRow],
    prices: Sequence[Priced],
    recount: Callable[[Conn, set[str]], None],
    forgets: Sequence[reported.ForgetChange] = (),
) -> Merged:
    """Write one push batch in one transaction under ``member``; returns the rows inserted or grown
    and the rows refused.

    ``forgets`` are the laptop's forgets and unforgets of its reported calls, applied first in the
    same transaction to the member's own calls only (:func:`reported.apply_pushed`): a row of the
    batch then meets the tombstones as they stand after them.

    A row is refused, and changes nothing, when a copy of its call is stored under another member
    (:func:`conflicts`): calls are keyed across members, and a member's token must neither grow
    another member's call ("max tokens wins") nor stop it counting (the recount of copies, the OTel
    copy's rule). The call stays the first pusher's; the laptop is told how many rows were refused.

    Claude Code log rows are recounted per message exactly as the laptop's own ingest does, so
    copies of one call pushed by two machines (a resumed session) or twice count once; an OTel copy
    of a call whose log copy is here stays uncounted (the ``m016_otel`` rule). ``recount`` is the
    log reader's own per-message recount, run inside this transaction.

    Every row counts at the server's price (``prices``): the cost a laptop reports with a row (an
    old log line's ``costUSD``) is not stored, so no cost mode can count a member's own figure for
    their calls (``auto`` prefers a reported cost). A row the server cannot price stays unpriced.

    On PostgreSQL a batch without OTel rows holds the write lock in shared mode beside other such
    pushes (see :func:`_merge_pg`); one that holds OTel rows takes it alone, as the OTLP receiver
    does, since the rule between the two copies of a call matches them by request id, not message.
    A deadlock between pushes (rows of the rollup they both add to) is retried.
    """
    # Forgets delete rows and write tombstones, which pushes beside them read: alone, as a CLI
    # forget is (store.reported.delete).
    shared = dialect(conn) == "postgresql" and not forgets and all(r.source != _OTEL_SOURCE for r in rows)
    # The claims' rows stay (see _CLAIM): now and then a push takes the lock alone and empties them.
    prune = shared and _claims.due()
    for attempt in range(_CONFLICT_TRIES):
        # Before the transaction: kept staging tables must be made outside one (store.stages).
        stages.prepare(conn, _PUSH_STAGES)
        try:
            changed = _store(
                conn,
                member,
                token_name,
                rows,
                prices,
                recount,
                forgets,
                shared=shared and not prune,
                prune=prune,
            )
        except sqlite3.OperationalError as exc:
            if not is_conflict(exc) or attempt == _CONFLICT_TRIES - 1:
                raise
        else:
            if prune:
                _claims.emptied()
            elif shared:
                _claims.add(len({(r.source, r.message_id) for r in rows}))
            return changed
    raise AssertionError("unreachable")


@dataclass(frozen=True, slots=True)
class Merged:
    """What a push batch did to the ledger."""

    changed: int
    """Rows inserted, or stored rows replaced by a copy with more tokens."""
    refused: int
    """Rows not stored: a copy of their call is another member's (:func:`conflicts`)."""
    forgotten: int = 0
    """Rows not stored: their call was forgotten here (``cost-mcp reported forget`` left a
    tombstone for its key, ``store.reported``), so a laptop that still holds it does not bring it back."""
    forgets: reported.Applied | None = None
    """What the batch's forgets and unforgets did (None: it carried none)."""
    held_by: tuple[str, ...] = ()
    """The members whose copies refused rows (:func:`_holders`), for the admin's log."""


def conflicts(row: PushedRow, request_id: str, is_sidechain: int) -> bool:
    """Whether a stored row of ``row``'s source and message id, with this request id and sidechain
    flag, is a copy of ``row``'s call: a row another member holds so refuses ``row``.

    The same key is; so, for Claude Code log rows, is any copy the per-message recount
    (``sources.claude_code.recount``) weighs against it: the same request id, a sidechain replay
    on either side, or a copy without a request id. Two non-sidechain copies with distinct request
    ids are distinct calls (a proxy reusing message ids), which the recount leaves both counted:
    each member keeps theirs. :data:`_CONFLICT_SQL` is this rule for PostgreSQL's merge."""
    if request_id == row.request_id and (is_sidechain == row.is_sidechain or row.source == _LOG_SOURCE):
        return True
    return row.source == _LOG_SOURCE and not (
        request_id and row.request_id and not is_sidechain and not row.is_sidechain
    )


_CONFLICT_SQL = f"""
    (s.request_id = r.request_id AND (s.is_sidechain = r.is_sidechain OR r.source = '{_LOG_SOURCE}'))
    OR (r.source = '{_LOG_SOURCE}' AND NOT (
        s.request_id != '' AND r.request_id != '' AND s.is_sidechain = 0 AND r.is_sidechain = 0))
"""
""":func:`conflicts` between a staged row ``r`` and a stored row ``s`` of its source and message."""


class _ClaimCount:
    """The messages this process's pushes have claimed since it last emptied ``push_claims``.

    A claim leaves its row (one per message pushed, ~100 bytes with its key), so the table would
    grow as the ledger does. Once :data:`CLAIMS_KEPT` are counted, the next push takes the write
    lock alone, which no other push then holds (each holds it shared until its commit), so it can
    TRUNCATE the table (a new empty file, no dead rows) and push unclaimed. Per process: replicas
    each count their own, so the table holds at most about CLAIMS_KEPT per server process."""

    def __init__(self) -> None:
        self.claimed = 0
        self.lock = threading.Lock()

    def due(self) -> bool:
        with self.lock:
            return self.claimed >= CLAIMS_KEPT

    def add(self, n: int) -> None:
        with self.lock:
            self.claimed += n

    def emptied(self) -> None:
        with self.lock:
            self.claimed = 0


CLAIMS_KEPT = 1_000_000
"""Claims a server process lets ``push_claims`` keep before a push empties it (~100 MB)."""
_claims = _ClaimCount()


_CONFLICT_TRIES = 5
"""Attempts of a push PostgreSQL rolled back whole for crossing another (:func:`is_conflict`)."""


def _store(
    conn: Conn,
    member: str,
    token_name: str,
    rows: Sequence[PushedRow],
    prices: Sequence[Priced],
    recount: Callable[[Conn, set[str]], None],
    forgets: Sequence[reported.ForgetChange],
    *,
    shared: bool,
    prune: bool = False,
) -> Merged:
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    with write_transaction(conn, shared=shared):
        if prune:
            conn.execute("TRUNCATE push_claims")
        applied = reported.apply_pushed(conn, member, forgets, now_ms) if forgets else None
        counted = _counted(conn, rows)
        values: list[Sequence[Any]] = [
            (
                row.source,
                row.message_id,
                row.request_id,
                row.is_sidechain,
                is_counted,
                row.ts_ms,
                row.provider,
                row.model,
                row.session_id,
                row.project,
                row.agent,
                member,
                *_counts_of(row),
                row.total_tokens,
                row.speed,
                row.service_tier,
                row.inference_geo,
                price.cost_nanos,
                None,  # the member's own figure is not stored: see store_pushed
                price.priced_model,
                price.note,
                PUSH_ORIGIN,
            )
            for row, price, is_counted in zip(rows, prices, counted, strict=True)
        ]
        if dialect(conn) == "postgresql":
            changed, stored, refused, forgotten = _merge_pg(conn, rows, values, claim=shared)
        else:
            # One prepared statement per row, no round trips (the look-up first: it must see the
            # rows as they were before the batch).
            stored = _stored(conn, rows)
            refused = _refused(conn, member, rows, stored)
            forgotten = _forgotten(conn, rows)
            if refused or forgotten:
                values = [
                    v
                    for v, r in zip(values, rows, strict=True)
                    if _key(r) not in refused and _key(r) not in forgotten
                ]
            changed = bulk.insert_rows(
                conn, "usage_events", _PUSH_COLUMNS, values, on_conflict=_PUSH_ON_CONFLICT, key=_PUSH_KEY
            )
        refused_rows = forgotten_rows = 0
        held_by = _holders(conn, member, refused) if refused else ()
        if refused or forgotten:
            # Refused and forgotten rows changed nothing: what follows settles the rows that went in.
            kept = [i for i, r in enumerate(rows) if _key(r) not in refused and _key(r) not in forgotten]
            forgotten_rows = sum(1 for r in rows if _key(r) in forgotten)
            refused_rows = len(rows) - len(kept) - forgotten_rows
            rows = [rows[i] for i in kept]
            prices = [prices[i] for i in kept]
            counted = [counted[i] for i in kept]
        old_ts, seen, stored_keys, left = _existing(rows, stored)
        # A batch that inserted and grew nothing (a re-sent one) left every stored copy as it was,
        # so the counted copies and the rollup stand: marking its quarter-hours dirty made the next
        # query rebuild them from every event in them, under the write lock, behind which all
        # pushes then waited (seconds on a server taking 10k calls a second).
        if changed:
            _count_and_roll_up(conn, member, rows, prices, counted, old_ts, seen, stored_keys, recount, left)
        conn.execute(
            _RECORD_PUSH,
            (
                token_name,
                member,
                now_ms,
                len(rows) + refused_rows + forgotten_rows,
                changed,
                refused_rows,
                forgotten_rows,
            ),
        )
        if _prunes.due():
            conn.execute(
                _PRUNE_PUSHES.format(lock=" FOR UPDATE SKIP LOCKED" if dialect(conn) == "postgresql" else ""),
                (now_ms - PUSH_HISTORY_DAYS * _DAY_MS, PRUNED_PER_PUSH),
            )
        # Last, so that two pushes of one token never wait on this row while holding others.
        conn.execute(_RECORD_SENDER, (token_name, member, now_ms))
    return Merged(changed, refused_rows, forgotten_rows, applied, held_by)


HOLDERS_ASKED = 200
"""Refused keys whose holders are looked up: a sample names them, a batch of 5,000 need not."""


def _holders(conn: Conn, member: str, refused: AbstractSet[Key]) -> tuple[str, ...]:
    """The other members holding the calls of ``refused`` (a sample of them): the admin's log names
    them, so that a laptop refused because the fleet's OpenTelemetry reports its member under
    another address (Claude Code's account email, or its account id without one) reads as that,
    not as a copied folder."""
    keys = sorted(refused)[:HOLDERS_ASKED]
    found: set[str] = set()
    for source in sorted({k[0] for k in keys}):
        ids = sorted({k[1] for k in keys if k[0] == source})
        for rows in in_chunks(
            conn,
            "SELECT DISTINCT member FROM usage_events "
            "WHERE source = ? AND message_id IN ({}) AND member != ?",
            ids,
            before=(source,),
            after=(member,),
        ):
            found.update(str(r[0]) for r in rows)
    requests = sorted({k[2] for k in keys if k[0] == _LOG_SOURCE and k[2]})
    for rows in in_chunks(
        conn,
        f"SELECT DISTINCT member FROM usage_events WHERE source = '{_OTEL_SOURCE}' "
        "AND request_id IN ({}) AND member != ?",
        requests,
        after=(member,),
    ):
        found.update(str(r[0]) for r in rows)
    return tuple(sorted(found))


@dataclass(frozen=True, slots=True)
class PushSender:
    """A token that has pushed usage: whose, and when it last did."""

    token_name: str
    member: str
    last_ms: int
    revoked: bool = False
    """Whether its token was revoked since (it pushes no more; what it pushed still counts)."""
    heard_ms: int | None = None
    """When its push loop last beat (:func:`record_beat`: running, nothing to send); None for a
    laptop that never beat, a release from before beats, whose silence says nothing."""

    @property
    def last_heard_ms(self) -> int:
        """When the server last knew it held all this laptop had: its last push or beat."""
        return max(self.last_ms, self.heard_ms or 0)


HEARD = "s.heard_ms"
"""What :func:`push_senders` reads as a sender's last beat (m039's column; a test of a ledger from
before it reads NULL, as the releases before it had nothing to read)."""


def push_senders(conn: Conn, members: Sequence[str] | None = None) -> list[PushSender]:
    """Every token that has pushed (only ``members``' with them), most recent first, each saying
    whether it was revoked since (a JWT's sender has no token row: never revoked) and when it last
    beat."""
    sql = (
        f"SELECT s.token_name, s.member, s.last_ms, t.revoked_at IS NOT NULL, {HEARD} FROM push_senders s "
        "LEFT JOIN api_tokens t ON t.name = s.token_name"
    )
    params: list[str] = []
    if members is not None:
        sql += f" WHERE s.member IN ({marks(members)})" if members else " WHERE false"
        params = list(members)
    rows = conn.execute(sql + " ORDER BY s.last_ms DESC, s.token_name", params).fetchall()
    return [
        PushSender(str(t), str(m), int(ms), bool(r), None if h is None else int(h)) for t, m, ms, r, h in rows
    ]


def record_beat(conn: Conn, token_name: str, member: str, now_ms: int | None = None) -> None:
    """A laptop's beat (its push loop runs and has nothing to send): its sender's ``heard_ms``
    moves on; nothing goes in the push history (``team_pushes``), which a beat every few minutes
    from each laptop would bury, and ``last_ms`` stays its last push. A token's first word being
    a beat records it as an empty push did: heard from, and pushed nothing since then."""
    at = int(datetime.now(UTC).timestamp() * 1000) if now_ms is None else now_ms
    # Shared, as a push's write: a beat never waits for another laptop's push, nor it for a beat.
    with write_transaction(conn, shared=True):
        conn.execute(_RECORD_BEAT, (token_name, member, at, at))


PUSH_HISTORY_DAYS = 30
"""How long a team server keeps its record of each push it took (``team_pushes``, which
``cost-mcp team pushes`` shows): a month of "who sent how many rows when", for "why is Bob's usage
missing?"; older rows go as pushes come in."""
PRUNE_EVERY_SECONDS = 60.0
"""How often a server process deletes the push history's aged rows, in the push that comes first
after it is due: a delete in every push added a sixth to a small push's time on SQLite."""
PRUNED_PER_PUSH = 10_000
"""Most rows of the push history one prune deletes: far more than a minute's pushes add, so the
history keeps to its days, and never a long delete inside a push."""
_DAY_MS = 86_400_000


class _PruneClock:
    """When this process's next prune of the push history is due (each process and replica keeps
    its own: a prune another one made leaves nothing for it to find, cheaply)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next = 0.0

    def due(self) -> bool:
        """Whether the calling push prunes (then the next one is due in PRUNE_EVERY_SECONDS)."""
        now = time.monotonic()
        with self._lock:
            if now < self._next:
                return False
            self._next = now + PRUNE_EVERY_SECONDS
            return True


_prunes = _PruneClock()

_RECORD_PUSH = (
    "INSERT INTO team_pushes (token_name, member, received_ms, events, changed, refused, forgotten) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_PRUNE_PUSHES = (
    "DELETE FROM team_pushes WHERE id IN (SELECT id FROM team_pushes WHERE received_ms < ? "
    "ORDER BY received_ms LIMIT ?{lock})"
)
"""The push history's rows past its days, oldest first, through index team_pushes_received (m037).
On PostgreSQL the rows another push is deleting are skipped (SKIP LOCKED): two pushes never wait on
each other for them."""


@dataclass(frozen=True, slots=True)
class PushRecord:
    """One push a team server took: whose token, when, and what became of its rows."""

    token_name: str
    member: str
    received_ms: int
    rows: int
    """Rows of the push the server took (not those it rejected: an impossible time or count of web
    searches)."""
    changed: int
    """Of them, calls new to the server or grown."""
    refused: int
    """Of them, not stored: their call is another member's."""
    forgotten: int
    """Of them, not stored: an admin forgot their call on the server."""


def push_history(conn: Conn, member: str | None = None, limit: int = 100) -> list[PushRecord]:
    """The pushes this server took in the last :data:`PUSH_HISTORY_DAYS` days (only ``member``'s
    with one), the latest ``limit`` of them, most recent first."""
    since = int(datetime.now(UTC).timestamp() * 1000) - PUSH_HISTORY_DAYS * _DAY_MS
    sql = (
        "SELECT token_name, member, received_ms, events, changed, refused, forgotten FROM team_pushes "
        "WHERE received_ms >= ?"
    )
    params: list[object] = [since]
    if member is not None:
        sql += " AND member = ?"
        params.append(member_name(member))
    rows = conn.execute(sql + " ORDER BY received_ms DESC, id DESC LIMIT ?", [*params, limit]).fetchall()
    return [
        PushRecord(str(t), str(m), int(at), int(n), int(c), int(r), int(f)) for t, m, at, n, c, r, f in rows
    ]


_RECORD_SENDER = (
    "INSERT INTO push_senders (token_name, member, last_ms) VALUES (?, ?, ?) "
    "ON CONFLICT (token_name, member) DO UPDATE SET last_ms = excluded.last_ms "
    "WHERE excluded.last_ms > push_senders.last_ms"
)
_RECORD_BEAT = (
    "INSERT INTO push_senders (token_name, member, last_ms, heard_ms) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (token_name, member) DO UPDATE SET heard_ms = excluded.heard_ms "
    "WHERE push_senders.heard_ms IS NULL OR excluded.heard_ms > push_senders.heard_ms"
)
_CLAIM = (
    "INSERT INTO push_claims (source, message_id) SELECT DISTINCT source, message_id FROM {stage} "
    "ORDER BY 1, 2 ON CONFLICT (source, message_id) DO UPDATE SET source = excluded.source WHERE false"
)
"""A push's claim on its batch's messages (see :func:`_merge_pg`): a row per message, inserted
when new and otherwise locked, never updated (``ON CONFLICT DO UPDATE`` locks the row it meets
whether or not its ``WHERE`` lets it update it); the locks go with the push's commit."""


def _count_and_roll_up(
    conn: Conn,
    member: str,
    rows: Sequence[PushedRow],
    prices: Sequence[Priced],
    counted: Sequence[int],
    old_ts: list[int],
    seen: set[str],
    stored_keys: set[Key],
    recount: Callable[[Conn, set[str]], None],
    left: Sequence[tuple[str, str]],
) -> None:
    """After a batch's upsert changed rows: the counted copies, then the rollup. ``left``: the
    (agent, session) pairs the batch's stored log copies were filed under before it."""
    otel.uncount_otel_copies(conn, [r.request_id for r in rows if r.source == _LOG_SOURCE])
    # A Codex or Gemini CLI session counts from its log copy, whichever copy a push brought.
    agents = session_copies.AGENTS
    sessions = [*left, *((agents[r.source], r.session_id) for r in rows if r.source in agents)]
    sessions += [(r.agent, r.session_id) for r in rows if r.source == session_copies.OTEL_SOURCE]
    session_copies.settle(conn, sessions)
    # Only a message with several rows can need another winner: one this batch brings several
    # copies of, or one already stored (a second machine, a resent copy).
    per_message = Counter(r.message_id for r in rows if r.source == _LOG_SOURCE)
    recount_ids = {m for m, n in per_message.items() if n > 1} | seen
    if recount_ids:
        recount(conn, recount_ids)
    # Calls new to the ledger go straight into the rollup; anything that replaced or may have
    # uncounted a stored row has its quarter-hours rebuilt from the events.
    keys = Counter(_key(r) for r in rows)
    fresh: dict[tuple[object, ...], list[tuple[PushedRow, Priced]]] = {}
    dirty = list(old_ts)
    for row, price, is_counted in zip(rows, prices, counted, strict=True):
        if _key(row) in stored_keys or keys[_key(row)] > 1 or row.message_id in recount_ids:
            dirty.append(row.ts_ms)
        elif is_counted:
            fresh.setdefault(_rollup_key(row, member), []).append((row, price))
    rollup.mark_dirty(conn, dirty)
    rollup.add(conn, {key: _summed(calls) for key, calls in fresh.items()})


def _counted(conn: Conn, rows: Sequence[PushedRow]) -> list[int]:
    """Each row's ``counted``: 1, except for an OTel copy of a call whose log copy is stored (the
    ``m016_otel`` rule), and for a reported call (``record_usage``) whose id a log or OTel copy
    holds as its request id, stored or in this batch: the call counts once, from that copy."""
    counted = [1] * len(rows)
    reported_ids = [r.message_id for r in rows if r.source == reported.SOURCE]
    if reported_ids:
        logged = reported.logged_request_ids(conn, reported_ids)
        logged |= {r.request_id for r in rows if r.source in reported.LOGGED_SOURCES and r.request_id}
        counted = [int(not (r.source == reported.SOURCE and r.message_id in logged)) for r in rows]
    wanted = sorted({r.request_id for r in rows if r.source == _OTEL_SOURCE and r.request_id})
    if not wanted:
        return counted
    if dialect(conn) == "postgresql":
        # One look-up for the batch: a statement per OTel row is a round trip each on a server.
        logged = {
            str(r[0])
            for r in conn.execute(
                # The source spelled out: the partial index usage_events_cc_request is for it.
                f"SELECT DISTINCT request_id FROM usage_events WHERE source = '{_LOG_SOURCE}' "
                "AND request_id = ANY(?)",
                (wanted,),
            )
        }
    else:
        logged = {
            request_id
            for request_id in wanted
            if conn.execute(
                "SELECT 1 FROM usage_events WHERE source = ? AND request_id = ? LIMIT 1",
                (_LOG_SOURCE, request_id),
            ).fetchone()
        }
    return [
        int(c and not (r.source == _OTEL_SOURCE and r.request_id in logged))
        for r, c in zip(rows, counted, strict=True)
    ]


Key = tuple[str, str, str, int]


def _key(r: PushedRow) -> Key:
    return (r.source, r.message_id, r.request_id, r.is_sidechain)


def _otel_key(r: PushedRow) -> Key:
    """The key the OTel copy of a log row's call has (its request id): forgotten, it forgets the call."""
    return (_OTEL_SOURCE, r.request_id, r.request_id, 0)


def _forgotten(conn: Conn, rows: Sequence[PushedRow]) -> set[Key]:
    """SQLite: the keys of the batch's rows whose call was forgotten, under their own key or, for a
    log row, as its OTel copy (the admin removed a call that had arrived over OTLP only)."""
    logged = [r for r in rows if r.source == _LOG_SOURCE and r.request_id]
    found = reported.forgotten_keys(conn, [_key(r) for r in rows] + [_otel_key(r) for r in logged])
    return {_key(r) for r in rows if _key(r) in found} | {_key(r) for r in logged if _otel_key(r) in found}


Stored = dict[tuple[str, str], list[tuple[int, str, int, str, str]]]
"""The rows stored before a batch for its (source, message id)s: (ts_ms, request id, sidechain,
member, session id)."""


def _stored(conn: Conn, rows: Sequence[PushedRow]) -> Stored:
    """SQLite: the rows already stored for the batch's (source, message id)s."""
    by_source: dict[str, set[str]] = {}
    for r in rows:
        by_source.setdefault(r.source, set()).add(r.message_id)
    stored: Stored = {}
    # One statement per chunk of messages, not one per row: the per-statement cost was most of a
    # push's store time (36 µs of 46 per event in bench/profile_push.py).
    for source, ids in by_source.items():
        for found in in_chunks(
            conn,
            "SELECT message_id, ts_ms, request_id, is_sidechain, member, session_id FROM usage_events "
            "WHERE source = ? AND message_id IN ({})",
            sorted(ids),
            before=(source,),
        ):
            for message_id, ts, request_id, sidechain, owner, session in found:
                stored.setdefault((source, str(message_id)), []).append(
                    (int(ts), str(request_id), int(sidechain), str(owner), str(session))
                )
    return stored


def _refused(conn: Conn, member: str, rows: Sequence[PushedRow], stored: Stored) -> set[Key]:
    """SQLite: the keys of the batch's rows another member's stored copy refuses
    (:func:`conflicts`), and of its log rows whose request id another member's OTel copy holds
    (writing them would uncount that copy: :func:`otel.uncount_otel_copies`)."""
    refused = {
        _key(r)
        for r in rows
        for _ts, request_id, sidechain, owner, _session in stored.get((r.source, r.message_id), ())
        if owner != member and conflicts(r, request_id, sidechain)
    }
    wanted = sorted({r.request_id for r in rows if r.source == _LOG_SOURCE and r.request_id})
    # A ledger that holds no OTel copy (most) needs no look-up by request id.
    probe = f"SELECT 1 FROM usage_events WHERE source = '{_OTEL_SOURCE}' LIMIT 1"
    if not wanted or conn.execute(probe).fetchone() is None:
        return refused
    others = {
        str(r[0])
        for found in in_chunks(
            conn,
            # The source spelled out: the partial index usage_events_otel_request is for it.
            f"SELECT request_id FROM usage_events WHERE source = '{_OTEL_SOURCE}' "
            "AND request_id IN ({}) AND member != ?",
            wanted,
            after=(member,),
        )
        for r in found
    }
    return refused | {_key(r) for r in rows if r.source == _LOG_SOURCE and r.request_id in others}


_MERGE_PG = f"""
WITH stored AS (
    SELECT e.* FROM (SELECT DISTINCT source, message_id FROM {{rows}}) AS c
    CROSS JOIN LATERAL (
        SELECT source, message_id, ts_ms, request_id, is_sidechain, member, session_id FROM usage_events u
        WHERE u.source = c.source AND u.message_id = c.message_id OFFSET 0
    ) AS e
), otel_copies AS MATERIALIZED (
    SELECT e.* FROM (
        SELECT DISTINCT request_id FROM {{rows}}
        WHERE source = '{_LOG_SOURCE}' AND request_id != ''
          AND EXISTS (SELECT 1 FROM usage_events WHERE source = '{_OTEL_SOURCE}')
    ) AS q
    CROSS JOIN LATERAL (
        SELECT request_id, member FROM usage_events o
        WHERE o.source = '{_OTEL_SOURCE}' AND o.request_id = q.request_id OFFSET 0
    ) AS e
), refused AS (
    SELECT r.n, r.source, r.message_id, r.request_id, r.is_sidechain FROM {{rows}} r
    WHERE EXISTS (
        SELECT 1 FROM stored s
        WHERE s.source = r.source AND s.message_id = r.message_id AND s.member != r.member
          AND ({_CONFLICT_SQL}))
    UNION
    SELECT r.n, r.source, r.message_id, r.request_id, r.is_sidechain FROM {{rows}} r
    WHERE r.source = '{_LOG_SOURCE}' AND EXISTS (
        SELECT 1 FROM otel_copies o WHERE o.request_id = r.request_id AND o.member != r.member)
), forgotten AS (
    SELECT r.n, r.source, r.message_id, r.request_id, r.is_sidechain FROM {{rows}} r
    WHERE EXISTS (SELECT 1 FROM forgotten_calls) AND (EXISTS (
        SELECT 1 FROM forgotten_calls f
        WHERE f.source = r.source AND f.message_id = r.message_id AND f.request_id = r.request_id
          AND f.is_sidechain = r.is_sidechain) OR (r.source = '{_LOG_SOURCE}' AND r.request_id != ''
        AND EXISTS (
        SELECT 1 FROM forgotten_calls f
        WHERE f.source = '{_OTEL_SOURCE}' AND f.message_id = r.request_id AND f.request_id = r.request_id
          AND f.is_sidechain = 0)))
), merged AS (
    INSERT INTO usage_events ({", ".join(_PUSH_COLUMNS)})
    SELECT {", ".join(_PUSH_COLUMNS)} FROM {{rows}}
    WHERE n NOT IN (SELECT n FROM refused) AND n NOT IN (SELECT n FROM forgotten) ORDER BY n
    {_PUSH_ON_CONFLICT}
    RETURNING 1
)
SELECT 0, NULL, NULL, NULL, NULL, NULL, NULL, (SELECT COUNT(*) FROM merged), NULL
UNION ALL
SELECT 1, source, message_id, ts_ms, request_id, is_sidechain, member, NULL, session_id
FROM stored WHERE {{first}}
UNION ALL
SELECT 2, source, message_id, NULL, request_id, is_sidechain, NULL, NULL, NULL FROM refused
UNION ALL
SELECT 3, source, message_id, NULL, request_id, is_sidechain, NULL, NULL, NULL FROM forgotten
"""
# Every part of one statement reads the snapshot from before it, so ``stored`` sees the rows as
# they were before the merge. The look-up probes the unique key once per (source, message id) of
# the batch: ``OFFSET 0`` keeps the lateral subquery from being flattened into a join, which the
# planner may run as a hash join over every row of the ledger. It was ``source = ANY(...) AND
# message_id = ANY(...)``: on a ledger autovacuum had not analyzed yet (a team server's first
# minutes, 7,000 new rows a second), PostgreSQL guessed few rows per source and read every row of
# the source through a bitmap, filtering the message ids: 15k blocks per push at 400k rows, a
# push's time growing with the ledger (issue 14, h-team4).
# ``forgotten`` is the batch's rows whose key has a tombstone (``store.reported``), or, for a log
# row, whose OTel copy's key has one (a call that had arrived over OTLP only, forgotten): a
# semi-join on its primary key, behind an uncorrelated EXISTS evaluated once, so a ledger where
# nothing was ever forgotten (most) probes nothing per row.
# ``refused`` is :func:`conflicts` against the stored rows of other members (and, for a log row,
# another member's OTel copy of its request id, which its insert would uncount): read from the same
# look-up, so the member check adds no probe of the ledger but the OTel copies' index, and that only
# on a ledger holding OTel copies (the uncorrelated EXISTS is evaluated once). Every round looks its
# messages up, since a later round's rows are refused as the first round's were (one member pushes
# a batch, so its own rows never refuse it); only the first round's ``stored`` is reported
# (``{first}``): "before the batch".
# ``otel_copies`` is MATERIALIZED and each reason for a refusal is its own semi-join (the UNION):
# referenced once, the CTE was inlined into a per-row EXISTS, ORed with the stored-copy one so
# not turned into a join, and so ran once per staged row: each run read and sorted the whole batch
# and probed the OTel index for each of its request ids, 2,000 x 2,000 probes, ~3.5 s a batch on
# any ledger holding one OTel copy (a laptop's 12,000 new log lines took 20.9 s to push, QA F7).
# The batch's messages are read from its staged rows, not sent as two text arrays: the driver
# quotes every array element in Python (client-side binding), a tenth of a loaded team server's
# Python time when the claim, its release and this look-up each sent both (issue 14, h-team5).


def _merge_pg(
    conn: Conn, rows: Sequence[PushedRow], values: list[Sequence[Any]], *, claim: bool
) -> tuple[int, Stored, set[Key], set[Key]]:
    """PostgreSQL: the batch staged (COPY) and merged under the push's rule, with the look-up of
    what was stored before it and the refusal of rows whose call is another member's
    (:func:`conflicts`) in the merge's statement: one round trip fewer per batch (a batch holding a
    key twice takes a round per copy: :func:`bulk.rounds`). Returns the rows changed, the rows
    stored before the batch, the keys refused and the keys of forgotten calls (``forgotten_calls``,
    joined in the same statement: an anti-join, no look-up of its own per batch).

    The rows go in by COPY, not as array parameters of one statement: the driver quotes every
    array element in Python (client-side binding), which doubled a push's client CPU.

    ``claim``: the push holds the write lock in shared mode beside other pushes, and first claims
    its batch's messages (``push_claims``, migration ``m023_push_claims``), between staging them
    and looking anything up. Beside other pushes, what a push decides from the rows it reads would
    otherwise miss a copy another push has written and not committed: the stored-row look-up that
    tells a call new to the ledger (added to the rollup) from one that replaced a stored copy (its
    quarter-hours rebuilt), and the per-message recount, where two copies of one message with
    different keys (a sidechain replay, another request id), pushed at once, would both stay
    counted. A claim waits for any push holding one of the same messages to commit, so this push's
    statements, which each read the ledger as of their start, see that push's rows; the claims are
    taken in key order, so two pushes never wait for each other. Every row of the batch's messages
    then belongs to this push until it commits: the merge's own upsert never meets another's row,
    and what two pushes still share, the rollup rows of one member's quarter-hour (two laptops of
    one member), is added to by ``ON CONFLICT DO UPDATE``, which waits for and adds to the other's
    sum. The first round holds every message of the batch (a later one only further copies).
    The OTel copies the refusal looks at are stable too: a batch holding OTel rows, like the OTLP
    receiver, takes the write lock alone.
    """
    changed = 0
    stored: Stored = {}
    refused: set[Key] = set()
    forgotten: set[Key] = set()
    key = [_PUSH_COLUMNS.index(c) for c in _PUSH_KEY]
    for i, part in enumerate(bulk.rounds(values, key)):
        # Binary: the values are the decoded wire row's ints and strs and the server's prices,
        # each its column's type, and text formatting was ~7% of a loaded server's Python.
        stage = stages.staged(conn, "usage_events", _PUSH_COLUMNS, part, binary=True)
        if claim and i == 0:
            conn.execute(_CLAIM.replace("{stage}", stage))
        # Only the first round's look-up is "before the batch".
        merge = _MERGE_PG.replace("{first}", "true" if i == 0 else "false").replace("{rows}", stage)
        for kind, source, message_id, ts, request_id, sidechain, owner, count, session in conn.execute(merge):
            if kind == 0:
                changed += int(count)
            elif kind == 1:
                stored.setdefault((str(source), str(message_id)), []).append(
                    (int(ts), str(request_id), int(sidechain), str(owner), str(session))
                )
            elif kind == 2:
                refused.add((str(source), str(message_id), str(request_id), int(sidechain)))
            else:
                forgotten.add((str(source), str(message_id), str(request_id), int(sidechain)))
    return changed, stored, refused, forgotten


def _existing(
    rows: Sequence[PushedRow], stored: Stored
) -> tuple[list[int], set[str], set[Key], list[tuple[str, str]]]:
    """The stored times of rows a batch may move or uncount (their quarter-hours are rebuilt too), the
    Claude Code messages that already have a row (to recount), the keys already stored, and the
    (agent, session) pairs of the stored Codex and Gemini CLI log copies the batch's rows replace
    under another session id (a copy that wins the key files the call under its own): the session
    it leaves may hold no log copy after the batch, and is settled with the batch's."""
    times: list[int] = []
    seen: set[str] = set()
    keys: set[Key] = set()
    left: list[tuple[str, str]] = []
    agents = session_copies.AGENTS
    for r in rows:
        for ts, request_id, sidechain, _owner, session in stored.get((r.source, r.message_id), ()):
            if r.source == _LOG_SOURCE:
                seen.add(r.message_id)
                # The recount may uncount any stored copy of the message (a sidechain replay with
                # more tokens wins over its original): its quarter-hour is rebuilt too, or the
                # rollup kept counting it there while the events did not.
                times.append(ts)
            if request_id == r.request_id and sidechain == r.is_sidechain:
                keys.add(_key(r))
                if ts != r.ts_ms:
                    times.append(ts)
                if r.source in agents and session != r.session_id:
                    left.append((agents[r.source], session))
    return times, seen, keys, left


_TOMBSTONE_CHUNK = 500
"""Tombstones per ``executemany`` of :func:`forget_pushed` (its look-ups chunk with ``in_chunks``)."""


def _rollup_key(r: PushedRow, member: str) -> tuple[object, ...]:
    """A pushed call's rollup group (:data:`rollup.ROLLUP_KEY`); the member is the token's."""
    return (
        r.ts_ms // rollup.QUARTER_HOUR_MS,
        r.source,
        r.provider,
        r.model,
        r.project,
        r.agent,
        member,
        r.session_id,
    )


def _summed(calls: Sequence[tuple[PushedRow, Priced]]) -> list[int]:
    """One group of new counted calls summed as :func:`rollup.rebuild` would (:func:`rollup.group_sums`)."""
    counts = [_counts_of(r) for r, _ in calls]
    # No reported cost: a pushed row is stored without one (store_pushed).
    return rollup.group_sums(
        list(zip(*counts, strict=True)), [p.cost_nanos for _, p in calls], [None] * len(calls)
    )


# --- what a laptop has pushed -------------------------------------------------------------------

_PUSHED_SELECT = f"""
SELECT e.id, e.change_seq, e.source, e.message_id, e.request_id, e.is_sidechain, e.ts_ms, e.provider,
       e.model, e.session_id, e.project, e.agent, {", ".join(f"e.{c}" for c in tokens.COLUMNS)}, e.speed,
       e.service_tier, e.inference_geo, e.reported_cost_nanos
FROM usage_events e
"""
_AFTER_COUNTS = 12 + len(tokens.COLUMNS)
"""Where :data:`_PUSHED_SELECT`'s columns after the token counts start."""
_NEW = _PUSHED_SELECT + "WHERE e.id > ? AND e.id <= ? AND +e.counted = 1 ORDER BY e.id"
# The acks of the per-row scheme m018 replaced: a row they acknowledged at its current token count
# is not sent again by the first push after the upgrade.
_NEW_UNACKED = (
    _PUSHED_SELECT + "LEFT JOIN pushed_events p ON p.server = ? AND p.event_id = e.id "
    "WHERE e.id > ? AND e.id <= ? AND +e.counted = 1 "
    "AND (p.event_id IS NULL OR p.total_tokens < e.total_tokens) ORDER BY e.id"
)
_CHANGED = _PUSHED_SELECT.replace(
    "FROM usage_events e", "FROM usage_events e INDEXED BY usage_events_change_seq"
) + ("WHERE e.change_seq > ? AND e.change_seq <= ? AND e.id <= ? AND +e.counted = 1 ORDER BY e.change_seq")
# Windows of ids (or change numbers) rather than "id > ? ... LIMIT ?", which let the planner sort
# every counted row of the ledger for each batch. ``+counted`` keeps SQLite (which has no statistics
# on a ledger) off the (counted, ts_ms) index: nearly every row is counted, so that index walks the
# whole ledger where the id range or the change index reads only the rows asked for (a push with
# nothing new took 3 s on 1M events that way, 2 ms without).


@dataclass(frozen=True, slots=True)
class PushMark:
    """How far a team server has acknowledged this ledger (see migration ``m020_push_marks``)."""

    last_id: int
    """Every usage event with an id up to this was sent (or was not counted when it was passed)."""
    last_seq: int
    """Every change numbered up to this was sent."""
    pushed_ms: int | None
    """When the server last acknowledged a batch; None if it never did."""
    sent: int
    """Rows the server acknowledged, all pushes together."""
    forget_seq: int = 0
    """Every forget and unforget numbered up to this was sent (``forget_log``, m033)."""


def server_key(url: str) -> str:
    """How this ledger names a team server it pushes to: its URL without a user:password@, query or
    fragment (which may hold secrets, and do not change which server it is), host in lower case."""
    parts = urlsplit(url.rstrip("/"))
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # not a port: the push itself says what is wrong with the URL
        port = ""
    return f"{parts.scheme.lower()}://{host}{port}{parts.path.rstrip('/')}"


def push_mark(conn: Conn, server: str) -> PushMark:
    """Where pushes to ``server`` stand (zeros for a server never pushed to)."""
    row = conn.execute(
        "SELECT last_id, last_seq, pushed_ms, sent, forget_seq FROM push_marks WHERE server = ?", (server,)
    ).fetchone()
    if row is None:
        return PushMark(0, 0, None, 0)
    return PushMark(
        int(row[0]), int(row[1]), None if row[2] is None else int(row[2]), int(row[3]), int(row[4])
    )


def push_marks(conn: Conn) -> dict[str, PushMark]:
    """Every team server this ledger has pushed to, by URL."""
    return {
        str(r[0]): PushMark(int(r[1]), int(r[2]), None if r[3] is None else int(r[3]), int(r[4]))
        for r in conn.execute("SELECT server, last_id, last_seq, pushed_ms, sent FROM push_marks")
    }


def push_tops(conn: Conn) -> tuple[int, int]:
    """The highest usage event id and change number now: where a push stops."""
    top_id = conn.execute("SELECT COALESCE(MAX(id), 0) FROM usage_events").fetchone()
    top_seq = conn.execute(
        "SELECT COALESCE(MAX(change_seq), 0) FROM usage_events WHERE change_seq IS NOT NULL"
    ).fetchone()
    return int(top_id[0]), int(top_seq[0])


def has_old_acks(conn: Conn, server: str) -> bool:
    """Whether per-row acks from before ``m020_push_marks`` remain for ``server``."""
    found = conn.execute("SELECT 1 FROM pushed_events WHERE server = ? LIMIT 1", (server,)).fetchone()
    return found is not None


def new_events(conn: Conn, after_id: int, upto_id: int, *, unacked_by: str | None = None) -> list[PushedRow]:
    """The counted events with ``after_id < id <= upto_id``, by id; with ``unacked_by``, only those
    that server's old per-row acks do not cover."""
    if unacked_by is None:
        return [_pushed(r) for r in conn.execute(_NEW, (after_id, upto_id))]
    return [_pushed(r) for r in conn.execute(_NEW_UNACKED, (unacked_by, after_id, upto_id))]


def changed_events(conn: Conn, after_seq: int, upto_seq: int, upto_id: int) -> list[PushedRow]:
    """The counted events with ``id <= upto_id`` changed with a number in (after_seq, upto_seq]."""
    return [_pushed(r) for r in conn.execute(_CHANGED, (after_seq, upto_seq, upto_id))]


def _pushed(r: Any) -> PushedRow:
    # Positional, in PushedRow's field order (its token counts follow ``agent`` in KINDS order,
    # tests/test_tokens.py checks): keyword construction costs half as much again per row.
    a = _AFTER_COUNTS
    return PushedRow(  # type: ignore[call-arg]  # the starred counts fill as many fields as KINDS
        str(r[2]),
        str(r[3]),
        str(r[4]),
        int(r[5]),
        int(r[6]),
        str(r[7]),
        str(r[8]),
        str(r[9]),
        str(r[10]),
        str(r[11]),
        *cast(Any, map(int, r[12:a])),
        str(r[a]),
        str(r[a + 1]),
        str(r[a + 2]),
        None if r[a + 3] is None else int(r[a + 3]),
    )


def save_push_mark(
    conn: Conn,
    server: str,
    last_id: int,
    last_seq: int,
    sent: int,
    pushed_ms: int | None,
    forget_seq: int | None = None,
) -> None:
    """Record that ``server`` has everything up to these marks, ``sent`` more rows of it just now
    (``forget_seq`` None: its forgets mark stays)."""
    with write_transaction(conn):
        conn.execute(
            "INSERT INTO push_marks (server, last_id, last_seq, pushed_ms, sent, forget_seq) "
            "VALUES (?, ?, ?, ?, ?, COALESCE(?, 0)) "
            "ON CONFLICT (server) DO UPDATE SET last_id = excluded.last_id, last_seq = excluded.last_seq, "
            "pushed_ms = COALESCE(excluded.pushed_ms, push_marks.pushed_ms), "
            "sent = push_marks.sent + excluded.sent, "
            "forget_seq = CASE WHEN ? IS NULL THEN push_marks.forget_seq ELSE excluded.forget_seq END",
            (server, last_id, last_seq, pushed_ms, sent, forget_seq, forget_seq),
        )


PUSH_REFUSED_KEY = "push_refused"
"""``meta``'s key for the team server's last refusal of this ledger's push (:class:`PushRefusal`)."""


@dataclass(frozen=True)
class PushRefusal:
    """The team server's refusal of this laptop's latest push or beat (its token revoked, its
    member removed, a token that cannot push), kept until a push or beat is taken again."""

    server: str
    """The server's :func:`server_key`."""
    at_ms: int
    """When it refused the first push since the last one it took."""
    status: int
    """Its HTTP status (401, 403)."""
    said: str
    """What the push said of it, naming the fix (never the token)."""


def note_push_refused(conn: Conn, refusal: PushRefusal) -> None:
    """Record that the team server refused this ledger's push; a refusal of the same server and
    status kept already keeps its time (since when its pushes are refused)."""
    with write_transaction(conn):
        held = push_refused(conn)
        if held is not None and (held.server, held.status) == (refusal.server, refusal.status):
            refusal = PushRefusal(refusal.server, held.at_ms, refusal.status, refusal.said)
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (PUSH_REFUSED_KEY, json.dumps(asdict(refusal))),
        )


def clear_push_refused(conn: Conn) -> None:
    """A push or beat was taken: a refusal recorded before is over (nothing is written when none is)."""
    if push_refused(conn) is not None:
        with write_transaction(conn):
            conn.execute("DELETE FROM meta WHERE key = ?", (PUSH_REFUSED_KEY,))


def push_refused(conn: Conn) -> PushRefusal | None:
    """The team server's refusal of this ledger's pushes, while no push or beat since was taken."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (PUSH_REFUSED_KEY,)).fetchone()
    if row is None:
        return None
    held = json.loads(str(row[0]))
    return PushRefusal(str(held["server"]), int(held["at_ms"]), int(held["status"]), str(held["said"]))


def drop_old_acks(conn: Conn, server: str) -> None:
    """Forget ``server``'s per-row acks once a push has walked past all of them."""
    with write_transaction(conn):
        conn.execute("DELETE FROM pushed_events WHERE server = ?", (server,))


def pending_by_source(conn: Conn, server: str) -> Counter[str]:
    """Counted events ``server`` has not been sent since they were added or changed, by source
    (the caller knows which sources are pushed at all)."""
    mark = push_mark(conn, server)
    # NOT INDEXED: the id range, not the unique index SQLite would walk whole to group by source.
    plain = "NOT INDEXED " if dialect(conn) == "sqlite" else ""
    out: Counter[str] = Counter()
    queries = [
        (
            f"SELECT e.source, COUNT(*) FROM usage_events e {plain}"
            "LEFT JOIN pushed_events p ON p.server = ? AND p.event_id = e.id "
            "WHERE e.id > ? AND +e.counted = 1 "
            "AND (p.event_id IS NULL OR p.total_tokens < e.total_tokens) GROUP BY e.source",
            (server, mark.last_id),
        ),
        (
            "SELECT source, COUNT(*) FROM usage_events INDEXED BY usage_events_change_seq "
            "WHERE change_seq > ? AND id <= ? AND +counted = 1 GROUP BY source",
            (mark.last_seq, mark.last_id),
        ),
    ]
    for sql, args in queries:
        for source, n in conn.execute(sql, args):
            out[str(source)] += int(n)
    return out


# --- an admin's removal of what a member pushed (server side) -----------------------------------


@dataclass(frozen=True, slots=True)
class PushedSum:
    """What a member sent to a team server comes to, per source: what a removal takes (or would)."""

    source: str
    rows: int
    cost_nanos: int
    """The priced rows' cost (a Python int: the rows a removal exists for can overflow SQL's sums)."""
    unpriced: int
    first_ms: int
    last_ms: int


SENT_ORIGINS = (PUSH_ORIGIN, "otel", "record_usage")
"""How a member's usage reaches a team server under their name: their laptops' pushes, OTLP and
record_usage over /mcp with their token (the server's own log reads carry their file's path)."""
_PUSHED_WHERE = "member = ? AND origin IN (?, ?, ?) AND ts_ms >= ? AND ts_ms < ?"
_FORGOTTEN_WHERE = "member = ? AND forgotten_by = '' AND ts_ms >= ? AND ts_ms < ?"
_TOMBSTONE_COLUMNS = (
    "source, message_id, request_id, is_sidechain, ts_ms, agent, member, provider, model, project, "
    "session_id, total_tokens, cost_nanos"
)
_NO_END = 2**62
"""An open end of the range (no ``--end``): later than any call."""


def _summed_by_source(rows: Sequence[Sequence[Any]]) -> list[PushedSum]:
    """(source, ts_ms, cost_nanos) rows summed per source in Python ints."""
    sums: dict[str, list[int]] = {}
    for source, ts, cost in rows:
        s = sums.setdefault(str(source), [0, 0, 0, int(ts), int(ts)])
        s[0] += 1
        if cost is None:
            s[2] += 1
        else:
            s[1] += int(cost)
        s[3], s[4] = min(s[3], int(ts)), max(s[4], int(ts))
    return [PushedSum(k, *v) for k, v in sorted(sums.items())]


def pushed_by(conn: Conn, member: str, start_ms: int | None, end_ms: int | None) -> list[PushedSum]:
    """The rows ``member``'s tokens sent (:data:`SENT_ORIGINS`) with a time in the range, per source."""
    rows = conn.execute(
        f"SELECT source, ts_ms, cost_nanos FROM usage_events WHERE {_PUSHED_WHERE}",
        (member, *SENT_ORIGINS, start_ms or 0, _NO_END if end_ms is None else end_ms),
    ).fetchall()
    return _summed_by_source(rows)


def forget_pushed(
    conn: Conn,
    member: str,
    start_ms: int | None,
    end_ms: int | None,
    now_ms: int,
    recount: Callable[[Conn, set[str]], None],
) -> list[PushedSum]:
    """Remove every row ``member``'s tokens sent with a time in the range, in one transaction, and
    leave a tombstone per call (``forgotten_calls``, the admin's: ``forgotten_by`` ''), so the
    member's next push, ``push --full`` included, does not store them again; their quarter-hours
    are marked for the rollup to rebuild from the events left. Returns what was removed.

    Only what reached the server under the member's name (:data:`SENT_ORIGINS`): the server's own
    log reads and provider bills are not the member's. Claude Code log copies of the removed
    messages left under other keys are recounted with the log reader's own ``recount``, so the
    copy that now wins counts. Nothing goes to ``forget_log``: the calls are not this ledger's
    user's, and are not pushed on."""
    args = (member, *SENT_ORIGINS, start_ms or 0, _NO_END if end_ms is None else end_ms)
    with write_transaction(conn):
        rows = conn.execute(
            f"DELETE FROM usage_events WHERE {_PUSHED_WHERE} RETURNING {_TOMBSTONE_COLUMNS}", args
        ).fetchall()
        if not rows:
            return []
        for i in range(0, len(rows), _TOMBSTONE_CHUNK):
            conn.executemany(
                f"INSERT INTO forgotten_calls ({_TOMBSTONE_COLUMNS}, forgotten_ms, forgotten_by) "
                f"VALUES ({', '.join('?' * 13)}, ?, '') "
                "ON CONFLICT (source, message_id, request_id, is_sidechain) DO NOTHING",
                [(*r, now_ms) for r in rows[i : i + _TOMBSTONE_CHUNK]],
            )
        recount(conn, {str(r[1]) for r in rows if r[0] == _LOG_SOURCE})
        # A Codex or Gemini CLI session whose log copies went here counts from its OTel copies left
        # (Claude Code's are recounted per request id by m016's delete trigger).
        session_copies.settle_rows(conn, [(r[0], r[5], r[10]) for r in rows])
        if reported.any_reported(conn):
            # Another's report of a call whose log or OTel copy went here counts again, as after
            # `ingest --forget`: the call must not vanish with the copy that counted it.
            gone = [str(r[2]) for r in rows if r[0] in reported.LOGGED_SOURCES and r[2]]
            if gone:
                reported.recount_reported_copies(conn, gone)
        rollup.mark_dirty(conn, [int(r[4]) for r in rows])
    return _summed_by_source([(r[0], r[4], r[12]) for r in rows])


def forgotten_pushes(conn: Conn, member: str, start_ms: int | None, end_ms: int | None) -> list[PushedSum]:
    """The admin's tombstones of ``member``'s calls with a time in the range, per source: what
    :func:`unforget_pushed` would lift."""
    rows = conn.execute(
        f"SELECT source, ts_ms, cost_nanos FROM forgotten_calls WHERE {_FORGOTTEN_WHERE}",
        (member, start_ms or 0, _NO_END if end_ms is None else end_ms),
    ).fetchall()
    return _summed_by_source(rows)


def unforget_pushed(conn: Conn, member: str, start_ms: int | None, end_ms: int | None) -> list[PushedSum]:
    """Lift the admin's tombstones of ``member``'s calls with a time in the range (those
    :func:`forget_pushed` left, and an admin's ``reported forget`` of the member's calls): the
    member's next push of them (``push --full``) stores and counts them again. Returns what was lifted."""
    with write_transaction(conn):
        rows = conn.execute(
            f"DELETE FROM forgotten_calls WHERE {_FORGOTTEN_WHERE} RETURNING source, ts_ms, cost_nanos",
            (member, start_ms or 0, _NO_END if end_ms is None else end_ms),
        ).fetchall()
    return _summed_by_source(rows)


def pushers_in(conn: Conn, quarter_hours: Sequence[int]) -> list[tuple[str, list[str]]]:
    """The members whose sent rows lie in these quarter-hours (those the rollup left out), the
    one with the costliest row first, each with the tokens they have pushed with."""
    found: dict[str, int] = {}
    for qh in sorted(set(quarter_hours)):
        lo = qh * rollup.QUARTER_HOUR_MS
        for member, top in conn.execute(
            "SELECT member, MAX(COALESCE(cost_nanos, 0)) FROM usage_events WHERE origin IN (?, ?, ?) "
            "AND member != '' AND ts_ms >= ? AND ts_ms < ? GROUP BY member",
            (*SENT_ORIGINS, lo, lo + rollup.QUARTER_HOUR_MS),
        ):
            found[str(member)] = max(found.get(str(member), 0), int(top or 0))
    tokens_of: dict[str, list[str]] = {}
    for sender in push_senders(conn, list(found)):
        tokens_of.setdefault(sender.member, []).append(sender.token_name)
    order = sorted(found, key=lambda m: (-found[m], m))
    return [(m, sorted(tokens_of.get(m, []))) for m in order]


def too_large_warning(conn: Conn) -> str:
    """:data:`rollup.TOO_LARGE_WARNING`, and on a ledger where members' pushed rows lie in the
    quarter-hours left out, whose they are and the command that removes them: the warning's own
    remedies reach no pushed row (a team server holds no log file of theirs, and moving its ledger
    aside loses every member's usage)."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (rollup.TOO_LARGE_KEY,)).fetchone()
    left_out = [int(q) for q in json.loads(row[0])] if row is not None else []
    pushers = pushers_in(conn, left_out) if left_out else []
    if not pushers:
        return rollup.TOO_LARGE_WARNING
    named = "; ".join(f"{m} (token {', '.join(t)})" if t else m for m, t in pushers[:_NAMED]) + (
        f" and {len(pushers) - _NAMED} more" if len(pushers) > _NAMED else ""
    )
    first, last = min(left_out), max(left_out)
    start, end = (
        datetime.fromtimestamp(q * rollup.QUARTER_HOUR_MS // 1000, UTC).date() for q in (first, last)
    )
    command = (
        f"cost-mcp team forget-pushes --member {pushers[0][0]} --start {start} --end {end} --timezone UTC"
    )
    return (
        f"{rollup.TOO_LARGE_WARNING}. On this team server the calls left out were pushed by {named}: "
        f"`{command}` removes what that member sent of those days (add --dry-run to see it first; "
        "`cost-mcp token revoke NAME` stops the token pushing more)"
    )


_NAMED = 3
"""Members a warning names before it says how many more."""


# --- renaming a member (an email that changed) ---------------------------------------------------


def member_name(value: str) -> str:
    """A member as the ledger stores it: an email trimmed and lower-cased (tokens, JWTs, teams and
    OTLP events all store it so), an account id without @ (an OTel event's, without an email) as
    it is, trimmed: the provider's opaque id, whose case the receiver keeps (``sources.otel``), so
    lower-cased it would name no stored call. Compares stored values; a name that comes in from a
    person or a request goes through :func:`checked_member`."""
    value = value.strip()
    return value.lower() if "@" in value else value


_EMAIL = re.compile(r"[^\s@]+@[^\s@]+")
"""A plausible email: one @ with something before and after it, no spaces. No more: an address
inside a company (``ana@x``) is as good as any, and mail servers, not this, decide what delivers."""
_ACCOUNT_ID = re.compile(r"[^\s@]+")
"""A plausible account id (Claude Code's ``user.account_id``, e.g. ``user_01abc``): no @, no spaces."""
_MEMBER_LENGTH = 320
"""The longest email address there is (64 before the @, 255 after)."""


def checked_member(value: str, what: str, *, email: bool = False) -> str:
    """``value`` as :func:`member_name` stores it, once it is a plausible email address (or, without
    ``email``, an account id): every member name that comes in goes through here, so that ``a b@x``
    or ``@x`` is refused saying what a member's name looks like, not stored as a member nobody is.
    ``what`` names where it came from (``--member``, "the new name") in the error."""
    name = member_name(value)
    _printable(what, name)
    looks = "an email address such as ana@example.com (one @, no spaces)"
    if not email:
        looks += ", or an account id such as user_01abc (no @, no spaces)"
    pattern = _EMAIL if email or "@" in name else _ACCOUNT_ID
    if len(name) > _MEMBER_LENGTH or not pattern.fullmatch(name):
        raise InvalidInputError(f"{what} must be {looks}, got {value!r}")
    return name


_MEMBER_ROWS = (
    ("calls", "usage_events", "member = ?"),
    ("tokens", "api_tokens", "member = ?"),
    ("teams", "team_members", "member = ?"),
    ("subscriptions", "subscriptions", "member = ?"),
    ("push senders", "push_senders", "member = ?"),
    ("push history", "team_pushes", "member = ?"),
    ("otlp senders", "otlp_senders", "member = ?"),
    ("otel metric points", "otel_metric_points", "member = ?"),
    ("forgotten calls", "forgotten_calls", "(member = ? OR forgotten_by = ?)"),
    ("dashboard sessions", "dashboard_sessions", "member = ?"),
    ("budget holds", "budget_holds", "member = ?"),
)
"""Each kind of row that names a member: (kind, table, the condition on the member). Provider
buckets are not among them: their member is what the provider's bill names, written again by its
next sync under that name (renamed here, the bill's rows would then count twice)."""
_PASSING = frozenset({"dashboard sessions", "budget holds"})
"""Kinds that only live a while (a browser signed in, a budget check's hold): they move with the
member, but holding them does not make a member "have data" (NEW signed in to look at $0)."""

_SUMMED_SENDERS = (
    # One row per (token, member) and (source, agent, member): where OLD and NEW both have one
    # (merged), OLD's is folded into NEW's, as each push and OTLP request moves them on.
    "INSERT INTO push_senders (token_name, member, last_ms, heard_ms) "
    "SELECT token_name, ?, last_ms, heard_ms FROM push_senders WHERE member = ? "
    "ON CONFLICT (token_name, member) DO UPDATE SET "
    "last_ms = CASE WHEN excluded.last_ms > push_senders.last_ms THEN excluded.last_ms "
    "ELSE push_senders.last_ms END, "
    "heard_ms = CASE WHEN push_senders.heard_ms IS NULL OR excluded.heard_ms > push_senders.heard_ms "
    "THEN excluded.heard_ms ELSE push_senders.heard_ms END",
    "INSERT INTO otlp_senders (source, agent, member, first_ms, last_ms, events) "
    "SELECT source, agent, ?, first_ms, last_ms, events FROM otlp_senders WHERE member = ? "
    "ON CONFLICT (source, agent, member) DO UPDATE SET "
    "first_ms = CASE WHEN excluded.first_ms < otlp_senders.first_ms THEN excluded.first_ms "
    "ELSE otlp_senders.first_ms END, "
    "last_ms = CASE WHEN excluded.last_ms > otlp_senders.last_ms THEN excluded.last_ms "
    "ELSE otlp_senders.last_ms END, "
    "events = otlp_senders.events + excluded.events",
    "INSERT INTO team_members (team, member) SELECT team, ? FROM team_members WHERE member = ? "
    "ON CONFLICT (team, member) DO NOTHING",
)
_SUMMED = ("push_senders", "otlp_senders", "team_members")
"""The tables :data:`_SUMMED_SENDERS` fold into NEW's rows (then OLD's are deleted): keyed by member."""
_MOVED = (
    *(
        f"UPDATE {table} SET member = ? WHERE member = ?"
        for _, table, _ in _MEMBER_ROWS
        if table not in _SUMMED
    ),
    "UPDATE forgotten_calls SET forgotten_by = ? WHERE forgotten_by = ?",
)
"""Every other row naming the member, moved as it is."""


@dataclass(frozen=True, slots=True)
class Renamed:
    """What :func:`rename_member` moved (with ``dry_run``: would move) from ``old`` to ``new``, as
    rows per kind (:data:`_MEMBER_ROWS`, and ``budgets``: those whose scope names the member), and
    what ``new`` held before (only with ``merge``: else it held nothing)."""

    old: str
    new: str
    moved: dict[str, int]
    held: dict[str, int]
    dry_run: bool
    quarter_hours: int = 0
    """The quarter-hours of the calls moved, marked for the rollup to rebuild: the caller rebuilds
    them (``rollup.refresh_by_weeks``), else the next answer's refresh does."""


def _member_counts(conn: Conn, member: str) -> dict[str, int]:
    """Rows of each kind naming ``member`` (kinds with none left out)."""
    counts: dict[str, int] = {}
    for kind, table, where in _MEMBER_ROWS:
        n = int(
            conn.execute(
                f"SELECT COUNT(*) FROM {table} WHERE {where}", (member,) * where.count("?")
            ).fetchone()[0]
        )
        if n:
            counts[kind] = n
    if budgets := len(_budget_scopes(conn, member)):
        counts["budgets"] = budgets
    return counts


def _budget_scopes(conn: Conn, member: str) -> dict[str, dict[str, Any]]:
    """The scopes (parsed) of the budgets whose members name ``member``, by budget name."""
    found: dict[str, dict[str, Any]] = {}
    for name, text in conn.execute("SELECT name, scope FROM budgets ORDER BY name"):
        scope = json.loads(str(text))
        if any(member_name(str(m)) == member for m in scope.get("members") or ()):
            found[str(name)] = scope
    return found


def rename_member(conn: Conn, old: str, new: str, *, merge: bool = False, dry_run: bool = False) -> Renamed:
    """Move every row that names member ``old`` to ``new`` in one write transaction, for a member
    whose email changed: their calls (pushed, OTLP, record_usage), tokens (which go on working and
    now act as ``new``), teams, budgets scoped to them, subscriptions, push history and senders,
    OTLP senders, OTel metric points, forgotten calls, dashboard sessions and budget holds.

    The calls' quarter-hours are marked for the rollup to rebuild from the events (the rollup is
    keyed by member): exact at the next refresh, which every answer runs first (a member of years
    marks every quarter-hour of them: the caller rebuilds them a week per transaction, as after
    ``reprice --all``, so that pushes get the write lock between weeks). Members compare as
    the server stores them (:func:`member_name`: an email lower-cased).

    InvalidInputError for ``old`` not a plausible email or account id, ``new`` not a plausible email
    (:func:`checked_member`), ``old`` the same as ``new``, or ``new`` holding rows
    already without ``merge``: merging two members' history cannot be undone (a typo naming another
    person would hand them all of it), so it is asked for. With ``merge`` the two histories become
    one: the senders' rows fold together, and the Codex and Gemini CLI sessions moved are settled
    again (a session's OTel copies stop counting where a log copy of the same member now holds it,
    ``store.session_copies``). NotFoundError when no row names ``old``.
    """
    old = checked_member(old, "the member to rename")
    new = checked_member(new, "the new name", email=True)
    if old == new:
        raise InvalidInputError(f"{old} is already named so (emails compare lower-cased): nothing to rename")
    if dry_run:
        moved, held = _checked(conn, old, new, merge)
        return Renamed(old, new, moved, held, dry_run=True)
    with write_transaction(conn):
        moved, held = _checked(conn, old, new, merge)
        quarter_hours = _rename(conn, old, new)
    return Renamed(old, new, moved, held, dry_run=False, quarter_hours=quarter_hours)


def _checked(conn: Conn, old: str, new: str, merge: bool) -> tuple[dict[str, int], dict[str, int]]:
    """What ``old`` and ``new`` hold, per kind, once :func:`rename_member` may go on with them."""
    moved, held = _member_counts(conn, old), _member_counts(conn, new)
    if not set(moved) - _PASSING:
        raise NotFoundError(
            f"no call, token, team or budget names {old!r}; `cost-mcp team list` and "
            "`cost-mcp token list` show the members (their emails, as stored)"
        )
    if set(held) - _PASSING and not merge:
        has = ", ".join(f"{n:,} {k}" for k, n in sorted(held.items()) if k not in _PASSING)
        raise InvalidInputError(
            f"{new} already has {has}: add --merge to make {old}'s history and {new}'s one member's "
            "(it cannot be undone), or name another address"
        )
    return moved, held


def _rename(conn: Conn, old: str, new: str) -> int:
    """:func:`rename_member`'s writes, inside its transaction; returns how many quarter-hours it
    marked for the rollup."""
    qhs = [
        int(r[0])
        for r in conn.execute("SELECT DISTINCT ts_ms / 900000 FROM usage_events WHERE member = ?", (old,))
    ]
    rollup.mark_dirty(conn, [qh * rollup.QUARTER_HOUR_MS for qh in qhs])
    sessions = [
        (str(a), str(s))
        for a, s in conn.execute(
            f"SELECT DISTINCT agent, session_id FROM usage_events WHERE member = ? "
            f"AND agent IN ({marks(session_copies.LOG_SOURCES)}) AND session_id != ''",
            (old, *session_copies.LOG_SOURCES),
        )
    ]
    for sql in _SUMMED_SENDERS:
        conn.execute(sql, (new, old))
    for table in _SUMMED:
        conn.execute(f"DELETE FROM {table} WHERE member = ?", (old,))
    for sql in _MOVED:
        conn.execute(sql, (new, old))
    for name, scope in _budget_scopes(conn, old).items():
        members = [new if member_name(str(m)) == old else str(m) for m in scope["members"]]
        scope["members"] = list(dict.fromkeys(members))
        conn.execute(
            "UPDATE budgets SET scope = ? WHERE name = ?", (json.dumps(scope, separators=(",", ":")), name)
        )
    # Only a merge can change which copy of a session counts (before it, no session of OLD's had a
    # copy of NEW's), and settling is idempotent: the sessions moved are settled either way.
    session_copies.settle(conn, sessions)
    return len(qhs)
