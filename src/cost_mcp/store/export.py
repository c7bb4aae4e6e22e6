"""Reading every counted usage event and provider bucket of a range back, row by row, for export."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from cost_mcp import tokens
from cost_mcp.store.connection import Conn
from cost_mcp.store.spend import outside_bill_sql
from cost_mcp.store.usage import cost_sql

_TOKENS = ", ".join(tokens.COLUMNS)


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One counted call, its cost under the configured cost mode (None: unpriced)."""

    ts_ms: int
    source: str
    provider: str
    model: str
    project: str
    agent: str
    session_id: str
    member: str
    tokens: tuple[int, ...]
    """Counts in :data:`cost_mcp.tokens.KINDS` order."""
    cost_nanos: int | None
    message_id: str
    request_id: str | None


@dataclass(frozen=True, slots=True)
class BucketRecord:
    """One stored provider bucket."""

    id: int
    kind: str
    start_ms: int
    end_ms: int
    provider: str
    model: str
    project: str
    workspace: str
    member: str
    tokens: tuple[int, ...]
    """Counts in :data:`cost_mcp.tokens.KINDS` order."""
    requests: int
    cost_nanos: int | None
    line_item: str
    api_key: str
    outside_bill: bool
    """Usage in a tier the provider's bill leaves out (counted beside a billed day)."""


def events(conn: Conn, start_ms: int, end_ms: int, cost_mode: str) -> Iterator[EventRecord]:
    """Counted calls in ``[start_ms, end_ms)``, oldest first."""
    k = len(tokens.COLUMNS)
    for row in conn.execute(
        f"""
        SELECT ts_ms, source, provider, model, project, agent, session_id, member, {_TOKENS},
               {cost_sql(cost_mode)}, message_id, request_id
        FROM usage_events WHERE counted = 1 AND ts_ms >= ? AND ts_ms < ? ORDER BY ts_ms
        """,
        (start_ms, end_ms),
    ):
        yield EventRecord(
            ts_ms=int(row[0]),
            source=row[1],
            provider=row[2],
            model=row[3],
            project=row[4],
            agent=row[5],
            session_id=row[6],
            member=row[7],
            tokens=tuple(int(v or 0) for v in row[8 : 8 + k]),
            cost_nanos=int(row[8 + k]) if row[8 + k] is not None else None,
            message_id=str(row[9 + k]),
            request_id=row[10 + k],
        )


def buckets(conn: Conn, first_ms: int, end_ms: int) -> Iterator[BucketRecord]:
    """Provider buckets starting in ``[first_ms, end_ms)``, by start then id."""
    k = len(tokens.COLUMNS)
    outside, outside_args = outside_bill_sql()
    for row in conn.execute(
        f"""
        SELECT id, kind, start_ms, end_ms, provider, model, project, workspace, member, {_TOKENS},
               requests, cost_nanos, line_item, api_key, {outside}
        FROM provider_buckets WHERE start_ms >= ? AND start_ms < ? ORDER BY start_ms, id
        """,
        (*outside_args, first_ms, end_ms),
    ):
        yield BucketRecord(
            id=int(row[0]),
            kind=str(row[1]),
            start_ms=int(row[2]),
            end_ms=int(row[3]),
            provider=str(row[4]),
            model=row[5],
            project=row[6],
            workspace=row[7],
            member=row[8],
            tokens=tuple(int(v or 0) for v in row[9 : 9 + k]),
            requests=int(row[9 + k] or 0),
            cost_nanos=int(row[10 + k]) if row[10 + k] is not None else None,
            line_item=row[11 + k],
            api_key=row[12 + k],
            outside_bill=bool(row[13 + k]),
        )
