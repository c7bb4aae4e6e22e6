"""Team mode in the ledger: bearer tokens (hashes only), teams, pushed usage rows and their acks.

Server side: :func:`create_token` / :func:`verify_token` / :func:`revoke_token`, team membership,
and :func:`store_pushed` which writes a laptop's usage rows under the token's member with the local
ledger's dedup key and "max tokens wins" rule. Laptop side: :func:`unpushed` lists the counted usage
events a team server has not acknowledged (or acknowledged with fewer tokens), :func:`record_acks`
records what it acknowledged.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cost_mcp import tokens
from cost_mcp.errors import InvalidInputError, NotFoundError
from cost_mcp.store import rollup
from cost_mcp.store.connection import Conn, write_transaction

TOKEN_PREFIX = "cmt_"
"""Recognisable in a leaked-secret scan, and distinct from every provider's key prefix."""
ROLES = ("member", "admin")
PUSH_ORIGIN = "push"
"""The ``origin`` of pushed rows: a laptop's origin is a file path, which never leaves it."""


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


def create_token(conn: Conn, name: str, member: str, role: str = "member") -> str:
    """Create a token for ``member`` and return it; only its hash is stored, so this is the one
    time anybody sees it. InvalidInputError for a bad name, member or role, or a name in use."""
    name, member = name.strip(), member.strip().lower()
    if not name or len(name) > 100:
        raise InvalidInputError("a token needs a name of 1 to 100 characters, e.g. ana-laptop")
    if "@" not in member or len(member) > 320:
        raise InvalidInputError(f"--member must be the member's email address, got {member!r}")
    if role not in ROLES:
        raise InvalidInputError(f"--role must be member or admin, got {role!r}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = datetime.now(UTC).isoformat()
    with write_transaction(conn):
        cursor = conn.execute(
            "INSERT INTO api_tokens (name, token_hash, member, role, created_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (name) DO NOTHING",
            (name, hash_token(token), member, role, now),
        )
        if cursor.rowcount == 0:
            raise InvalidInputError(f"a token named {name!r} exists; revoke it or choose another name")
    return token


def list_tokens(conn: Conn) -> list[TokenInfo]:
    """Every token, revoked ones included (they say when), by name."""
    return [
        TokenInfo(str(n), str(m), str(r), str(c), None if v is None else str(v))
        for n, m, r, c, v in conn.execute(
            "SELECT name, member, role, created_at, revoked_at FROM api_tokens ORDER BY name"
        )
    ]


def revoke_token(conn: Conn, name: str) -> None:
    """Revoke a token at once (every server process checks the ledger on each request)."""
    with write_transaction(conn):
        cursor = conn.execute(
            "UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
            (datetime.now(UTC).isoformat(), name),
        )
        if cursor.rowcount == 0:
            known = conn.execute("SELECT revoked_at FROM api_tokens WHERE name = ?", (name,)).fetchone()
            if known is None:
                raise NotFoundError(f"no token named {name!r}; `cost-mcp token list` shows them")


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


# --- teams ---------------------------------------------------------------------------------------


def set_team(conn: Conn, team: str, members: Sequence[str]) -> None:
    """Make ``team`` exactly these members (an empty list removes the team)."""
    team = team.strip()
    if not team:
        raise InvalidInputError("a team needs a name, e.g. platform")
    cleaned = sorted({m.strip().lower() for m in members if m.strip()})
    if bad := [m for m in cleaned if "@" not in m]:
        raise InvalidInputError(f"team members are email addresses: {', '.join(bad)}")
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


_PUSH_UPSERT = """
INSERT INTO usage_events (
    source, message_id, request_id, is_sidechain, counted, ts_ms, provider, model, session_id, project,
    agent, member, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens,
    cache_write_1h_tokens, web_search_requests, total_tokens, speed, service_tier, inference_geo,
    cost_nanos, reported_cost_nanos, priced_model, price_note, origin
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (source, message_id, request_id, is_sidechain) DO UPDATE SET
    ts_ms = excluded.ts_ms, provider = excluded.provider, model = excluded.model,
    session_id = excluded.session_id, project = excluded.project, agent = excluded.agent,
    input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens,
    cache_read_tokens = excluded.cache_read_tokens, cache_write_5m_tokens = excluded.cache_write_5m_tokens,
    cache_write_1h_tokens = excluded.cache_write_1h_tokens,
    web_search_requests = excluded.web_search_requests, total_tokens = excluded.total_tokens,
    speed = excluded.speed, service_tier = excluded.service_tier, inference_geo = excluded.inference_geo,
    cost_nanos = excluded.cost_nanos, reported_cost_nanos = excluded.reported_cost_nanos,
    priced_model = excluded.priced_model, price_note = excluded.price_note
WHERE excluded.total_tokens > usage_events.total_tokens
   OR (excluded.total_tokens = usage_events.total_tokens
       AND (excluded.ts_ms < usage_events.ts_ms
            OR (excluded.ts_ms = usage_events.ts_ms AND excluded.session_id < usage_events.session_id)))
"""
# The tie-break makes the winner independent of arrival order: same rows in any order, same ledger.
# ``member`` is never updated: a call belongs to whoever first pushed it, and nobody can move another
# member's call to themselves by pushing its key again.

_OTEL_SOURCE = "claude_code_otel"
_LOG_SOURCE = "claude_code"


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
) -> int:
    """Write one push batch in one transaction under ``member``; returns rows inserted or grown.

    Claude Code log rows are recounted per message exactly as the laptop's own ingest does, so
    copies of one call pushed by two machines (a resumed session) or twice count once; an OTel copy
    of a call whose log copy is here stays uncounted (the ``m016_otel`` rule). ``recount`` is the
    log reader's own per-message recount, run inside this transaction.
    """
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    with write_transaction(conn):
        old_ts, seen, stored_keys = _existing(conn, rows)
        counted = [_counted(conn, row) for row in rows]
        before = conn.total_changes
        conn.executemany(
            _PUSH_UPSERT,
            [
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
                    row.input_tokens,
                    row.output_tokens,
                    row.cache_read_tokens,
                    row.cache_write_5m_tokens,
                    row.cache_write_1h_tokens,
                    row.web_search_requests,
                    row.total_tokens,
                    row.speed,
                    row.service_tier,
                    row.inference_geo,
                    price.cost_nanos,
                    row.reported_cost_nanos,
                    price.priced_model,
                    price.note,
                    PUSH_ORIGIN,
                )
                for row, price, is_counted in zip(rows, prices, counted, strict=True)
            ],
        )
        changed = conn.total_changes - before
        # Only a message with several rows can need another winner: one this batch brings several
        # copies of, or one already stored (a second machine, a resent copy).
        per_message = Counter(r.message_id for r in rows if r.source == _LOG_SOURCE)
        recount_ids = {m for m, n in per_message.items() if n > 1} | seen
        if recount_ids:
            recount(conn, recount_ids)
        # Calls new to the ledger go straight into the rollup; anything that replaced or may have
        # uncounted a stored row has its quarter-hours rebuilt from the events.
        keys = Counter(_key(r) for r in rows)
        fresh: dict[tuple[object, ...], list[int]] = {}
        dirty = list(old_ts)
        for row, price, is_counted in zip(rows, prices, counted, strict=True):
            if _key(row) in stored_keys or keys[_key(row)] > 1 or row.message_id in recount_ids:
                dirty.append(row.ts_ms)
            elif is_counted:
                _add_fresh(fresh, row, price, member)
        rollup.mark_dirty(conn, dirty)
        rollup.add(conn, fresh)
        conn.execute(
            "INSERT INTO team_pushes (token_name, member, received_ms, events, changed) "
            "VALUES (?, ?, ?, ?, ?)",
            (token_name, member, now_ms, len(rows), changed),
        )
    return changed


def _counted(conn: Conn, row: PushedRow) -> int:
    """1, except for an OTel copy of a call whose log copy is stored (the ``m016_otel`` rule)."""
    if row.source != _OTEL_SOURCE or not row.request_id:
        return 1
    found = conn.execute(
        "SELECT 1 FROM usage_events WHERE source = ? AND request_id = ? LIMIT 1",
        (_LOG_SOURCE, row.request_id),
    ).fetchone()
    return int(found is None)


Key = tuple[str, str, str, int]


def _key(r: PushedRow) -> Key:
    return (r.source, r.message_id, r.request_id, r.is_sidechain)


def _existing(conn: Conn, rows: Iterable[PushedRow]) -> tuple[list[int], set[str], set[Key]]:
    """The stored times of rows a batch may move (their old quarter-hours are rebuilt too), the
    Claude Code messages that already have a row (to recount), and the keys already stored."""
    times: list[int] = []
    seen: set[str] = set()
    keys: set[Key] = set()
    for r in rows:
        for ts, request_id, sidechain in conn.execute(
            "SELECT ts_ms, request_id, is_sidechain FROM usage_events WHERE source = ? AND message_id = ?",
            (r.source, r.message_id),
        ):
            if r.source == _LOG_SOURCE:
                seen.add(r.message_id)
            if request_id == r.request_id and sidechain == r.is_sidechain:
                keys.add(_key(r))
                if int(ts) != r.ts_ms:
                    times.append(int(ts))
    return times, seen, keys


def _add_fresh(fresh: dict[tuple[object, ...], list[int]], r: PushedRow, price: Priced, member: str) -> None:
    """Sum a new counted call into its rollup group, as :func:`rollup.rebuild` would."""
    reported = r.reported_cost_nanos
    auto = reported if reported is not None else price.cost_nanos
    sums = (
        1,
        r.input_tokens,
        r.output_tokens,
        r.cache_read_tokens,
        r.cache_write_5m_tokens,
        r.cache_write_1h_tokens,
        r.web_search_requests,
        price.cost_nanos or 0,
        int(price.cost_nanos is None),
        auto or 0,
        int(auto is None),
        reported or 0,
    )
    key = (
        r.ts_ms // rollup.QUARTER_HOUR_MS,
        r.source,
        r.provider,
        r.model,
        r.project,
        r.agent,
        member,
        r.session_id,
    )
    held = fresh.get(key)
    fresh[key] = list(sums) if held is None else [a + b for a, b in zip(held, sums, strict=True)]


# --- what a laptop has pushed -------------------------------------------------------------------

_UNPUSHED = """
SELECT e.id, e.source, e.message_id, e.request_id, e.is_sidechain, e.ts_ms, e.provider, e.model,
       e.session_id, e.project, e.agent, e.input_tokens, e.output_tokens, e.cache_read_tokens,
       e.cache_write_5m_tokens, e.cache_write_1h_tokens, e.web_search_requests, e.speed,
       e.service_tier, e.inference_geo, e.reported_cost_nanos, e.total_tokens
FROM usage_events e
LEFT JOIN pushed_events p ON p.server = ? AND p.event_id = e.id
WHERE e.id > ? AND e.id <= ? AND e.counted = 1 AND (p.event_id IS NULL OR p.total_tokens < e.total_tokens)
  AND e.source IN ({sources})
ORDER BY e.id
"""
# A window of ids rather than "id > ? ... LIMIT ?", which let the planner sort every counted row of
# the ledger for each batch (a first push of 1M events did not finish in 8 minutes).


def unpushed(
    conn: Conn, server: str, after_id: int, upto_id: int, sources: Sequence[str]
) -> list[tuple[int, int, PushedRow]]:
    """The counted events of ``sources`` with ``after_id < id <= upto_id`` the server has not
    acknowledged at their current token count: ``(event id, total tokens, row)``, by id."""
    if not sources:
        return []
    sql = _UNPUSHED.format(sources=", ".join("?" for _ in sources))
    out: list[tuple[int, int, PushedRow]] = []
    for r in conn.execute(sql, (server, after_id, upto_id, *sources)):
        out.append(
            (
                int(r[0]),
                int(r[21]),
                PushedRow(
                    source=str(r[1]),
                    message_id=str(r[2]),
                    request_id=str(r[3]),
                    is_sidechain=int(r[4]),
                    ts_ms=int(r[5]),
                    provider=str(r[6]),
                    model=str(r[7]),
                    session_id=str(r[8]),
                    project=str(r[9]),
                    agent=str(r[10]),
                    input_tokens=int(r[11]),
                    output_tokens=int(r[12]),
                    cache_read_tokens=int(r[13]),
                    cache_write_5m_tokens=int(r[14]),
                    cache_write_1h_tokens=int(r[15]),
                    web_search_requests=int(r[16]),
                    speed=str(r[17]),
                    service_tier=str(r[18]),
                    inference_geo=str(r[19]),
                    reported_cost_nanos=None if r[20] is None else int(r[20]),
                ),
            )
        )
    return out


def max_event_id(conn: Conn) -> int:
    """The highest usage event id (the end of a push's scan)."""
    row = conn.execute("SELECT COALESCE(MAX(id), 0) FROM usage_events").fetchone()
    return int(row[0])


def event_sources(conn: Conn) -> list[str]:
    """Every source that has usage events."""
    return [str(r[0]) for r in conn.execute("SELECT DISTINCT source FROM usage_events ORDER BY source")]


def record_acks(conn: Conn, server: str, acked: Sequence[tuple[int, int]]) -> None:
    """Remember that ``server`` acknowledged these ``(event id, total tokens)``."""
    with write_transaction(conn):
        conn.executemany(
            "INSERT INTO pushed_events (server, event_id, total_tokens) VALUES (?, ?, ?) "
            "ON CONFLICT (server, event_id) DO UPDATE SET total_tokens = excluded.total_tokens",
            [(server, event_id, tokens) for event_id, tokens in acked],
        )


def pending_count(conn: Conn, server: str, sources: Sequence[str]) -> int:
    """How many counted events of ``sources`` ``server`` has not acknowledged at their current
    token count."""
    if not sources:
        return 0
    row = conn.execute(
        "SELECT COUNT(*) FROM usage_events e LEFT JOIN pushed_events p ON p.server = ? AND p.event_id = e.id "
        "WHERE e.counted = 1 AND (p.event_id IS NULL OR p.total_tokens < e.total_tokens) "
        f"AND e.source IN ({', '.join('?' for _ in sources)})",
        (server, *sources),
    ).fetchone()
    return int(row[0])
