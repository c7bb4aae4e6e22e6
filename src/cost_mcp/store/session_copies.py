"""Codex's and Gemini CLI's calls seen both ways: read from their logs and received over OTLP.

Their OTel events carry no id their logs share (Codex's ``codex.sse_event``, Gemini CLI's
``gemini_cli.api_response``), so a call cannot be matched one by one as Claude Code's are (by
request id, ``store.otel``). What names the same calls is the session: the event's
``conversation.id`` is the Codex rollout's session id, its ``session.id`` the Gemini chat's
``sessionId``. A session whose log copy is stored counts from it (the log knows more: Codex's
provider, an OpenRouter session's ``openrouter`` where the event says nothing of it); its OTel
copies then only attribute. A session with no log copy counts from its OTel copies. The same rule
``session_usage`` reads sessions by (docs/agent-formats.md).

The rule is applied wherever a session's copies change: when rows are written (the log readers,
the team push, the receiver), and when log copies are deleted or filed under another session (a
``team forget-pushes``, a reader's or a push's removal of copies counted twice, a re-read that
moves a call to another session). A session whose last log copy went counts from its OTel copies
again: the total neither drops silently nor counts a call twice. :func:`settle_rows` takes the
rows a change touched as they name themselves (source, agent, session); :func:`stored_sessions`
reads, before a write, the sessions the write may take log copies away from.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

from cost_mcp.store import rollup
from cost_mcp.store.connection import IN_CHUNK, Conn, in_chunks, marks

OTEL_SOURCE: Final = "otel"
"""The receiver's source for calls other than Claude Code's; ``store.otel.GENERIC_SOURCE`` is this one."""
LOG_SOURCES: Final = {"codex": "codex", "gemini-cli": "gemini_cli"}
"""The agent the receiver names each one's calls under, and the source of its log reader
(``sources.agents.codex.SOURCE``, ``gemini_cli.SOURCE``; store does not import sources)."""
AGENTS: Final = {source: agent for agent, source in LOG_SOURCES.items()}
"""Each log source's agent, as the receiver names it."""

_SETTLE: Final = f"""
UPDATE usage_events SET counted = 1 - counted
WHERE session_id IN ({{}}) AND source = '{OTEL_SOURCE}' AND agent = ? AND counted IN (0, 1)
  AND counted = CASE WHEN EXISTS (
      SELECT 1 FROM usage_events AS l
      WHERE l.session_id = usage_events.session_id AND l.source = ?
        AND l.member IN ('', usage_events.member)) THEN 1 ELSE 0 END
RETURNING ts_ms
"""
"""Flip the OTel copies of these sessions whose counted state the rule disagrees with. A log copy
of a known member settles only that member's copies, as for Claude Code (``store.otel``): a push
naming another member's session cannot take that member's calls out of their spend."""


_ANY_OTEL: Final = f"SELECT 1 FROM usage_events WHERE source = '{OTEL_SOURCE}' LIMIT 1"
"""Whether the ledger holds any OTel copy of these agents' calls, received or pushed (one probe of
the unique key's prefix)."""


def settle(conn: Conn, sessions: Iterable[tuple[str, str]]) -> None:
    """Apply the rule to the OTel copies of these (agent, session) pairs (agents other than those
    of :data:`LOG_SOURCES` are passed over): uncounted where the session has a log copy, counted
    where it has none. Idempotent and the same in either arrival order: every writer of these
    agents' log rows calls it with the sessions it wrote, the OTLP receiver and the team push with
    the sessions of the OTel copies they stored.
    Inside the caller's write transaction; the quarter-hours of the rows it flips are marked for the
    rollup to rebuild."""
    by_agent: dict[str, set[str]] = {}
    for agent, session in sessions:
        if agent in LOG_SOURCES and session:
            by_agent.setdefault(agent, set()).add(session)
    # A ledger that holds no OTel copy (most) has none to settle: one probe, where the update walks
    # every row of each session (a cold load of a Codex home writes thousands).
    if not by_agent or conn.execute(_ANY_OTEL).fetchone() is None:
        return
    changed: list[int] = []
    for agent, wanted in sorted(by_agent.items()):
        ids = sorted(wanted)
        for at in range(0, len(ids), IN_CHUNK):
            chunk = ids[at : at + IN_CHUNK]
            sql = _SETTLE.format(marks(chunk))
            changed += [int(r[0]) for r in conn.execute(sql, (*chunk, agent, LOG_SOURCES[agent])).fetchall()]
    if changed:
        rollup.mark_dirty(conn, changed)


def settle_rows(conn: Conn, rows: Iterable[Sequence[object]]) -> None:
    """:func:`settle` the sessions of rows written, deleted or moved, each given as (source, agent,
    session id): a log copy (a source of :data:`AGENTS`) names its session under its source's agent,
    an OTel copy (:data:`OTEL_SOURCE`) under its own agent; other rows are passed over. Inside the
    caller's write transaction, after the change (a deleted row's session is settled by what is
    left of it)."""
    sessions: list[tuple[str, str]] = []
    for source, agent, session in rows:
        if source in AGENTS:
            sessions.append((AGENTS[str(source)], str(session)))
        elif source == OTEL_SOURCE:
            sessions.append((str(agent), str(session)))
    settle(conn, sessions)


_STORED: Final = "SELECT DISTINCT session_id FROM usage_events WHERE source = ? AND message_id IN ({})"


def stored_sessions(conn: Conn, keys: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The (agent, session) pairs the stored log copies of these (source, message id) keys are
    filed under, read before an upsert that may file them under another session (a copy that
    replaces the stored one brings its own session id): the caller settles these with the sessions
    it wrote, so a session left with no log copy counts from its OTel copies again. Only the sources
    of :data:`AGENTS` are looked up, and none while the ledger holds no OTel copy (one probe)."""
    by_source: dict[str, set[str]] = {}
    for source, message_id in keys:
        if source in AGENTS:
            by_source.setdefault(source, set()).add(message_id)
    if not by_source or conn.execute(_ANY_OTEL).fetchone() is None:
        return []
    found: list[tuple[str, str]] = []
    for source, ids in sorted(by_source.items()):
        for rows in in_chunks(conn, _STORED, sorted(ids), before=(source,)):
            found += [(AGENTS[source], str(r[0])) for r in rows]
    return found
