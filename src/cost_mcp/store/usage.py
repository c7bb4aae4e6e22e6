"""SQL fragments every read of usage events shares: a row's cost under a cost mode, token sums.

Every query that sums usage goes through :func:`cost_sql` and :data:`TOKEN_SUMS_SQL`, so all views
count the same rows (``counted = 1``) the same way and can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cost_mcp import tokens
from cost_mcp.store import holds, meta, reported, rollup
from cost_mcp.store.connection import Conn, marks, write_transaction

PUSH_ORIGIN = "push"
"""The ``origin`` of pushed rows: a laptop's origin is a file path, which never leaves it. Here, not
in ``store.team`` beside the pushes, because the log reader's upsert names it too, and the status
line and hook, which load that reader, should not pay for importing the team's store."""

TOKEN_SUMS_SQL = ", ".join(f"COALESCE(SUM({c}), 0)" for c in tokens.COLUMNS)
"""One column of token sums per kind, in :data:`cost_mcp.tokens.KINDS` order."""

TOKEN_COLUMNS_SQL = ", ".join(tokens.COLUMNS)
"""The token columns, in :data:`cost_mcp.tokens.KINDS` order, for column lists of inserts and selects."""

TOKEN_MARKS_SQL = marks(tokens.COLUMNS)
"""One placeholder per token column."""

TOKENS_FROM_EXCLUDED_SQL = ", ".join(f"{c} = excluded.{c}" for c in tokens.COLUMNS)
"""An upsert's SET list taking every token count from the row that was proposed."""


TOKEN_COUNT_SQL = " + ".join(k.column for k in tokens.KINDS if k.is_token)
"""One row's tokens of every kind that is a token: what its ``total_tokens`` stores."""


def tokens_added_sql(table: str) -> str:
    """An upsert's SET list adding the proposed row's token counts to ``table``'s stored ones."""
    return ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in tokens.COLUMNS)


def cost_sql(mode: str) -> str:
    """SQL for one row's cost in nano-USD under a cost mode; NULL means unpriced.

    ``auto`` uses the cost a log line reported (old Claude Code wrote ``costUSD``) when there is
    one, else the computed price; ``calculate`` always prices tokens; ``display`` shows only
    reported costs.
    """
    if mode == "calculate":
        return "cost_nanos"
    if mode == "display":
        return "COALESCE(reported_cost_nanos, 0)"
    return "COALESCE(reported_cost_nanos, cost_nanos)"


@dataclass(frozen=True)
class ReportedCall:
    """One call an agent reported (record_usage), priced or not (``cost_nanos`` None)."""

    source: str
    message_id: str
    ts_ms: int
    provider: str
    model: str
    session_id: str
    project: str
    agent: str
    member: str
    tokens: tuple[int, ...]
    """Counts in :data:`cost_mcp.tokens.KINDS` order."""
    cost_nanos: int | None
    priced_model: str | None
    speed: str
    service_tier: str
    inference_geo: str
    price_note: str


Recorded = Literal["recorded", "duplicate", "forgotten", "logged"]
"""What storing a reported call did: added it, found it stored already, found it forgotten by
the user (``cost-mcp reported forget``), so not stored and not counted, or found its id held as
the request id of a log or OTel copy (``logged``: counted from there, not stored)."""


def insert_reported(conn: Conn, call: ReportedCall, release: holds.Release | None = None) -> Recorded:
    """Store ``call`` in one transaction unless its (source, message_id) is stored already or was
    forgotten (its tombstone is read under the same write lock as the forget wrote it:
    :func:`cost_mcp.store.reported.delete`); when it was added the rollup is marked for refresh, and
    the budget hold ``release`` names is released in the same transaction (a check that saw the hold
    gone sees the call's spend)."""
    columns, values = TOKEN_COLUMNS_SQL, TOKEN_MARKS_SQL
    with write_transaction(conn):
        if reported.is_forgotten(conn, call.source, call.message_id):
            return "forgotten"
        if reported.logged_copy(conn, call.message_id) is not None:
            # Counted already from its log or OTel copy (which wins: it has the cache tokens and
            # the member whose log it is), read under the lock every writer of those copies holds.
            # Its spend is in the ledger, so the check's hold for it goes as a recorded call's does.
            if release is not None:
                holds.release(conn, release)
            return "logged"
        inserted = conn.execute(
            f"""
            INSERT INTO usage_events (
                source, message_id, request_id, is_sidechain, counted, ts_ms, provider, model, session_id,
                project, agent, member, {columns}, total_tokens,
                cost_nanos, priced_model, origin, speed, service_tier, inference_geo, price_note
            ) VALUES (?, ?, '', 0, 1, ?, ?, ?, ?, ?, ?, ?, {values}, ?, ?, ?, 'record_usage', ?, ?, ?, ?)
            ON CONFLICT DO NOTHING
            """,
            (
                call.source,
                call.message_id,
                call.ts_ms,
                call.provider,
                call.model,
                call.session_id,
                call.project,
                call.agent,
                call.member,
                *call.tokens,
                tokens.token_count(call.tokens),
                call.cost_nanos,
                call.priced_model,
                call.speed,
                call.service_tier,
                call.inference_geo,
                call.price_note,
            ),
        ).rowcount
        if inserted:
            rollup.mark_dirty(conn, [call.ts_ms])
            meta.note_pricing(conn)
            if release is not None:
                holds.release(conn, release)
    return "recorded" if inserted else "duplicate"
