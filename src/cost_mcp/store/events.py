"""Reading counted usage events back one call at a time, for analyses that need each call's tokens."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cost_mcp.periods import ms_to_datetime
from cost_mcp.pricing import Tokens
from cost_mcp.store import rollup
from cost_mcp.store.connection import Conn
from cost_mcp.store.usage import TOKEN_COLUMNS_SQL


@dataclass(frozen=True, slots=True)
class Call:
    """One counted model call as the ledger holds it."""

    ts_ms: int
    at: datetime
    """The same instant as an aware UTC datetime, built once: a call is priced several times."""
    source: str
    provider: str
    model: str
    priced_model: str
    session: str
    project: str
    agent: str
    speed: str
    tokens: Tokens
    cost_nanos: int | None
    """Tokens x list price as priced on ingest (None: no known price)."""


def calls_between(conn: Conn, start_ms: int, end_ms: int) -> Iterator[Call]:
    """Every counted call in ``[start_ms, end_ms)``, oldest first."""
    for row in conn.execute(
        f"""
        SELECT ts_ms, source, provider, model, COALESCE(priced_model, ''), session_id, project, agent,
               speed, cost_nanos, {TOKEN_COLUMNS_SQL}
        FROM usage_events WHERE counted = 1 AND ts_ms >= ? AND ts_ms < ? ORDER BY ts_ms, id
        """,
        (start_ms, end_ms),
    ):
        ts, source, provider, model, priced, session, project, agent, speed, cost = row[:10]
        yield Call(
            ts_ms=int(ts),
            at=ms_to_datetime(int(ts)),
            source=str(source),
            provider=str(provider),
            model=str(model),
            priced_model=str(priced),
            session=str(session),
            project=str(project),
            agent=str(agent),
            speed=str(speed),
            tokens=Tokens(*(int(n) for n in row[10:])),  # the columns in KINDS order
            cost_nanos=None if cost is None else int(cost),
        )


@dataclass(frozen=True, slots=True)
class ReportedCosts:
    """The counted calls of a span whose log line reported its own cost (old Claude Code's
    ``costUSD``): how many, that cost, and what list price made of the priced ones."""

    calls: int
    reported_nanos: int
    list_nanos: int


def reported_costs_between(conn: Conn, start_ms: int, end_ms: int) -> ReportedCosts:
    """:class:`ReportedCosts` of the counted calls in ``[start_ms, end_ms)``."""
    row = conn.execute(
        """
        SELECT COUNT(*), SUM(reported_cost_nanos), SUM(cost_nanos) FROM usage_events
        WHERE counted = 1 AND ts_ms >= ? AND ts_ms < ? AND reported_cost_nanos IS NOT NULL
        """,
        (start_ms, end_ms),
    ).fetchone()
    return ReportedCosts(int(row[0]), int(row[1] or 0), int(row[2] or 0))


def count_between(conn: Conn, start_ms: int, end_ms: int) -> int:
    """How many counted calls lie in ``[start_ms, end_ms)`` (an index range count)."""
    row = conn.execute(
        "SELECT COUNT(*) FROM usage_events WHERE counted = 1 AND ts_ms >= ? AND ts_ms < ?", (start_ms, end_ms)
    ).fetchone()
    return int(row[0])


@dataclass(frozen=True)
class StoredCost:
    """What the ledger priced one recorded call at (``cost_nanos`` None: no known price)."""

    cost_nanos: int | None
    priced_model: str | None
    provider: str
    model: str
    tokens: Tokens
    member: str


def cost_of_call(conn: Conn, source: str, message_id: str) -> StoredCost | None:
    """The stored price of the call ``message_id`` of ``source``, if it is recorded, with what it
    was recorded as (provider, model, tokens, member): a retry can be told from another call."""
    row = conn.execute(
        f"SELECT cost_nanos, priced_model, provider, model, member, {TOKEN_COLUMNS_SQL} "
        "FROM usage_events WHERE source = ? AND message_id = ?",
        (source, message_id),
    ).fetchone()
    if row is None:
        return None
    return StoredCost(
        int(row[0]) if row[0] is not None else None,
        row[1],
        str(row[2]),
        str(row[3]),
        Tokens(*(int(n) for n in row[5:])),
        str(row[4]),
    )


@dataclass(frozen=True, slots=True)
class UnpricedCall:
    """A counted call stored with no known price: what pricing it again needs."""

    id: int
    ts_ms: int
    provider: str
    model: str
    speed: str
    service_tier: str
    inference_geo: str
    tokens: Tokens


_CALL_COLUMNS = f"id, ts_ms, provider, model, speed, service_tier, inference_geo, {TOKEN_COLUMNS_SQL}"


def _call(row: Sequence[Any]) -> UnpricedCall:
    return UnpricedCall(
        id=int(row[0]),
        ts_ms=int(row[1]),
        provider=str(row[2]),
        model=str(row[3]),
        speed=str(row[4]),
        service_tier=str(row[5]),
        inference_geo=str(row[6]),
        tokens=Tokens(*(int(n) for n in row[7:])),
    )


def unpriced_calls(conn: Conn) -> list[UnpricedCall]:
    """Every counted call with no known price that has tokens to price (a scan: for a re-price, not
    for a question). A call stored with none (an agent that logs only its own cost: Codebuff's
    credits, Crush's session cost) has nothing a price could apply to: its model's rates would make
    it $0, never its cost."""
    return [
        _call(row)
        for row in conn.execute(
            f"SELECT {_CALL_COLUMNS} FROM usage_events WHERE counted = 1 AND cost_nanos IS NULL "
            "AND total_tokens > 0 ORDER BY id"
        )
    ]


def set_prices(
    conn: Conn,
    priced: Sequence[tuple[int, int, str, str]],
    ts_ms: Iterable[int],
    *,
    only_unpriced: bool = True,
) -> None:
    """Store ``(id, cost nanos, priced model, price note)`` as the calls' prices, and mark their
    quarter-hours (``ts_ms``) for the rollup's next refresh. Inside the caller's transaction. With
    ``only_unpriced`` a call that has a price meanwhile keeps it; without, a stored price is replaced
    (``reprice --all``). The agent's own reported cost (``reported_cost_nanos``) is never touched."""
    where = " AND cost_nanos IS NULL" if only_unpriced else ""
    conn.executemany(
        f"UPDATE usage_events SET cost_nanos = ?, priced_model = ?, price_note = ? WHERE id = ?{where}",
        [(nanos, model, note, call_id) for call_id, nanos, model, note in priced],
    )
    rollup.mark_dirty(conn, ts_ms)


@dataclass(frozen=True, slots=True)
class PricedCall:
    """A counted call stored with a price: what pricing it again needs, and its stored price."""

    call: UnpricedCall
    cost_nanos: int
    priced_model: str
    price_note: str
    reported_cost: bool
    """Whether an agent reported its own cost for it, which spend counts instead of the price."""


_PRICED_COLUMNS = (
    "cost_nanos, COALESCE(priced_model, ''), price_note, "
    f"CASE WHEN reported_cost_nanos IS NULL THEN 0 ELSE 1 END, {_CALL_COLUMNS}"
)
"""What :func:`_priced` reads of a row: its stored price, then the call."""


def _priced(row: Sequence[Any]) -> PricedCall:
    return PricedCall(_call(row[4:]), int(row[0]), str(row[1]), str(row[2]), bool(row[3]))


def priced_calls_by_id(conn: Conn, ids: Sequence[int]) -> list[PricedCall]:
    """The calls of ``ids`` still counted and stored with a price, as :func:`priced_calls_after`
    reads them: ``reprice --all`` prices a chunk outside the write lock, then checks under it that
    the calls it writes are still what it priced. ``+counted``: with a bare ``counted = 1`` and a
    thousand ids SQLite read every counted call through the (counted, ts_ms) index, 0.9 s a chunk
    on a ledger of 3M calls, under the write lock."""
    found: list[PricedCall] = []
    for start in range(0, len(ids), 1_000):  # a bounded statement, whatever the chunk
        part = ids[start : start + 1_000]
        found += [
            _priced(row)
            for row in conn.execute(
                f"SELECT {_PRICED_COLUMNS} FROM usage_events "
                f"WHERE id IN ({', '.join('?' for _ in part)}) AND +counted = 1 AND cost_nanos IS NOT NULL",
                list(part),
            )
        ]
    return found


def priced_calls_after(conn: Conn, after_id: int, limit: int) -> list[PricedCall]:
    """The next ``limit`` counted calls stored with a price, by id after ``after_id``: a ledger of
    millions of calls is read a chunk at a time (the id is the key, so each chunk is one seek).

    ``+counted``: with a bare ``counted = 1`` SQLite (no statistics) read every counted call through
    the (counted, ts_ms) index and sorted them by id for each chunk, 0.9 s a chunk of 5,000 on a
    ledger of 3M calls: ``reprice --all`` was quadratic (over 20 min) and held the write lock that
    long per chunk."""
    return [
        _priced(row)
        for row in conn.execute(
            f"SELECT {_PRICED_COLUMNS} FROM usage_events "
            "WHERE +counted = 1 AND cost_nanos IS NOT NULL AND id > ? ORDER BY id LIMIT ?",
            (after_id, limit),
        )
    ]
