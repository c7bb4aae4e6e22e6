"""Budget holds: what an allowed check_budget keeps of a hard budget until its call is recorded.

The caller holds the ledger's write lock (``write_transaction``) around a check that adds one and
around the record that releases one, so a check reads spend and holds that no other writer changes
before its own hold is in.
"""

from __future__ import annotations

from dataclasses import dataclass

from cost_mcp.store.connection import Conn


@dataclass(frozen=True)
class Hold:
    """One allowed call not recorded yet: who checked it, of what, and what it holds."""

    member: str
    agent: str
    provider: str
    model: str
    model_key: str
    project: str
    cost_nanos: int
    created_ms: int
    expires_ms: int


@dataclass(frozen=True)
class Release:
    """The hold a recorded call releases: the oldest of its member and agent, of its model (by
    model key) or of a check that named no model; with none of its agent, the oldest of its member's
    checks that named no agent (a record always names one, so such a hold was never released, and
    the call counted twice, spent and held, until the hold lapsed)."""

    member: str
    agent: str
    model_key: str
    now_ms: int


def add(conn: Conn, hold: Hold) -> None:
    """Store ``hold`` (inside the caller's write transaction)."""
    conn.execute(
        "INSERT INTO budget_holds (member, agent, provider, model, model_key, project, cost_nanos, "
        "created_ms, expires_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            hold.member,
            hold.agent,
            hold.provider,
            hold.model,
            hold.model_key,
            hold.project,
            hold.cost_nanos,
            hold.created_ms,
            hold.expires_ms,
        ),
    )


def live(conn: Conn, now_ms: int) -> list[Hold]:
    """The holds not expired at ``now_ms``, oldest first."""
    rows = conn.execute(
        "SELECT member, agent, provider, model, model_key, project, cost_nanos, created_ms, expires_ms "
        "FROM budget_holds WHERE expires_ms > ? ORDER BY created_ms, id",
        (now_ms,),
    ).fetchall()
    return [
        Hold(
            member=str(r[0]),
            agent=str(r[1]),
            provider=str(r[2]),
            model=str(r[3]),
            model_key=str(r[4]),
            project=str(r[5]),
            cost_nanos=int(r[6]),
            created_ms=int(r[7]),
            expires_ms=int(r[8]),
        )
        for r in rows
    ]


def drop_expired(conn: Conn, now_ms: int) -> None:
    """Delete the holds expired at ``now_ms`` (inside the caller's write transaction)."""
    conn.execute("DELETE FROM budget_holds WHERE expires_ms <= ?", (now_ms,))


def release(conn: Conn, which: Release) -> bool:
    """Delete the one hold ``which`` names, oldest first (inside the caller's write transaction);
    whether there was one."""
    row = conn.execute(
        "SELECT id FROM budget_holds WHERE member = ? AND agent IN (?, '') AND model_key IN ('', ?) "
        "AND expires_ms > ? ORDER BY CASE WHEN agent = '' THEN 1 ELSE 0 END, created_ms, id LIMIT 1",
        (which.member, which.agent, which.model_key, which.now_ms),
    ).fetchone()
    if row is None:
        return False
    conn.execute("DELETE FROM budget_holds WHERE id = ?", (row[0],))
    return True
