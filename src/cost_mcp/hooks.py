"""Claude Code hooks that hold a session to its budgets (UserPromptSubmit and PreToolUse).

Claude Code runs the hook command with the event as JSON on stdin (``session_id``,
``transcript_path``, ``cwd``, ``hook_event_name``, ``prompt`` or ``tool_name``/``tool_input``) and
reads its answer from stdout as JSON with exit code 0 (hooks reference, code.claude.com/docs/en/hooks):

- UserPromptSubmit: ``{"decision": "block", "reason": ...}`` refuses the prompt (the reason is shown
  to the user); ``hookSpecificOutput.additionalContext`` adds text to Claude's context, and
  ``systemMessage`` shows a warning to the user.
- PreToolUse: ``hookSpecificOutput`` with ``permissionDecision: "deny"`` and
  ``permissionDecisionReason`` refuses the tool call and tells Claude why.

The budgets are check_budget's, for Claude Code's calls in this project: a hard budget with no room
left blocks, a soft one past its amount warns (on a prompt only: warning on every tool call would
drown the session). A hard budget with calls of no known price in its period cannot stop them
(they count nothing), so a prompt it lets through says so, as the status line does. Anything
unexpected (no ledger yet, bad input) lets the session go on: a hook that fails must never lock
someone out of their editor, so errors go to stderr with exit code 0.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, assert_never

from cost_mcp.store import source_state, status

if TYPE_CHECKING:
    from cost_mcp.config import Settings
    from cost_mcp.core_settings import CoreSettings
    from cost_mcp.store.connection import Conn, Unwritable

AGENT = "claude-code"
NEXT_CALL = Decimal("0.000000001")
"""What the next call is assumed to cost: anything at all, so a hard budget that is exactly used up
blocks (the hook cannot know the next call's size)."""


@dataclass(frozen=True)
class HookAnswer:
    """What the hook prints (empty: nothing to say) and its exit code."""

    stdout: str
    exit_code: int = 0


def session_provider(env: Mapping[str, str] = os.environ) -> str:
    """The provider that bills this Claude Code session's calls, by Claude Code's own switches,
    which the hook and the status line see (Claude Code runs them in its environment, its settings'
    ``env`` included): Bedrock's calls are stored under aws and Vertex's under google
    (``pricing.claude_provider``), so a budget on either provider holds the session to it."""

    def on(name: str) -> bool:
        # As Claude Code reads them: 1, true, yes or on, in any case.
        return env.get(name, "").strip().lower() in ("1", "true", "yes", "on")

    if on("CLAUDE_CODE_USE_BEDROCK"):
        return "aws"
    if on("CLAUDE_CODE_USE_VERTEX"):
        return "google"
    return "anthropic"


def decide(conn: Conn, settings: Settings, event: dict[str, Any]) -> HookAnswer:
    """The answer to one hook event, from the budgets that apply to this session's calls."""
    from cost_mcp.analytics.budgets import check_budget, list_budgets, set_aside_notes, states_of
    from cost_mcp.money import bounded, format_usd
    from cost_mcp.statusline import CLAUDE_CODE_SOURCES

    name = str(event.get("hook_event_name") or "")
    if name not in ("UserPromptSubmit", "PreToolUse"):
        return HookAnswer("")
    if not status.has_budgets(conn):
        return HookAnswer("")
    # The session's folder as its calls are stored: the path Claude Code gives (cwd), else the
    # transcript folder's slug; check_budget matches either to a budget naming path, folder or slug.
    transcript = str(event.get("transcript_path") or "")
    cwd = event.get("cwd")
    project = cwd if isinstance(cwd, str) and cwd else (Path(transcript).parent.name if transcript else None)
    # The session's calls are read from its log: a budget scoped to source claude_code holds them.
    # Its next call is most likely of the model its last one used: a budget on that model (under
    # any of its ids) holds it; before its first call no model budget can.
    session = str(event.get("session_id") or "")
    check = check_budget(
        conn,
        settings,
        NEXT_CALL,
        provider=session_provider(),
        model=status.session_model(conn, session) if session else None,
        agent=AGENT,
        project=project,
        source=CLAUDE_CODE_SOURCES[0],
        for_person=True,
    )
    if not check.allowed:
        reason = f"cost-mcp: {check.reason}"
        if name == "UserPromptSubmit":
            return HookAnswer(json.dumps({"decision": "block", "reason": reason}))
        return HookAnswer(
            json.dumps(
                {
                    "hookSpecificOutput": {
                        "hookEventName": "PreToolUse",
                        "permissionDecision": "deny",
                        "permissionDecisionReason": reason,
                    }
                }
            )
        )
    over = [c for c in check.budgets if not c.hard and c.remaining_before_usd <= 0]
    if over and name == "UserPromptSubmit":
        used = over[0]
        # Worded as the hard budget's refusal is (analytics/budgets.py), in cents as every amount a
        # person reads (it said "$30.0123 spent of $30.00" where the status line said "$30.01").
        spent, limit = format_usd(used.limit_usd - used.remaining_before_usd), format_usd(used.limit_usd)
        spent = bounded(spent, 0, complete=used.complete)  # a bill it counts missing: at least
        warning = (
            f"cost-mcp: soft budget '{used.name}' is used up ({spent} spent of {limit}); "
            "this session keeps going, but consider a cheaper model or stopping here"
        )
        return HookAnswer(
            json.dumps(
                {
                    "systemMessage": warning,
                    "hookSpecificOutput": {"hookEventName": "UserPromptSubmit", "additionalContext": warning},
                }
            )
        )
    hard = {c.name for c in check.budgets if c.hard}
    if name != "UserPromptSubmit" or not hard:
        return HookAnswer("")
    held = [b for b in list_budgets(conn) if b.name in hard]
    states = states_of(conn, settings, held, datetime.now(UTC))
    unpriced = [(st.budget.name, st.unpriced_requests) for st in states if st.unpriced_requests]
    # A project's calls on days a workspace bill is the total count nothing against its budget:
    # said here too, or the hook lets the session run past what the project really spent in silence.
    aside = [f"cost-mcp: {note}" for note in set_aside_notes(states)]
    return _notes(conn, event, unpriced_notes(unpriced, settings.prices_file) + aside)


def run(stdin: str) -> HookAnswer:
    """Everything one hook call does: read the session's new log lines, then decide.

    With no budget set (the common case) there is nothing to decide and nothing is read: the
    transcript's new lines are the status line's to read (it runs after every message), so this
    hook then costs one indexed look-up. With budgets that all have room and that the rollup counts
    exactly (:mod:`cost_mcp.analytics.budget_glance`), nothing heavy is imported: the answer is then
    to say nothing. The full settings and budget checks load only when a budget may block or warn,
    or its spend needs the full rules.
    """
    from cost_mcp.core_settings import load_core_settings
    from cost_mcp.statusline import read_transcript
    from cost_mcp.store.connection import connect, is_postgres

    try:
        event = json.loads(stdin) if stdin.strip() else {}
    except json.JSONDecodeError:
        event = {}
    if not isinstance(event, dict):
        event = {}
    core = load_core_settings()  # lenient: a typo in one setting must not break Claude Code's UI
    if not is_postgres(core.db) and not Path(core.db).exists():
        return HookAnswer("")  # no ledger, no budgets: nothing to decide, and nothing to create
    conn = connect(core.db)
    try:
        if not status.has_budgets(conn):
            return HookAnswer("")
        # Behind another process's write lock this waits a second at most, then decides from the
        # ledger as it stands: the answer says so (a $750 call passed a $1 hard budget in silence).
        why = read_transcript(conn, core, str(event.get("transcript_path") or ""))
        return with_unread_note(_decide_read(conn, core, event), why, event)
    finally:
        conn.close()


def _decide_read(conn: Conn, core: CoreSettings, event: dict[str, Any]) -> HookAnswer:
    """:func:`run`'s answer once the session's new lines are read (or could not be)."""
    from cost_mcp.analytics.budget_glance import counts_claude_code, glance
    from cost_mcp.statusline import CLAUDE_CODE_SOURCES

    glanced = glance(conn, core, datetime.now(UTC))
    # Every budget, applying to this call or not, has room after any call (hard) or some left
    # (soft): decide() would neither block nor warn.
    if glanced is not None and all(
        g.remaining - NEXT_CALL >= 0 if g.hard else g.remaining > 0 for g in glanced
    ):
        cwd = event.get("cwd")
        here, provider = (cwd if isinstance(cwd, str) else ""), session_provider()
        unpriced = [
            (g.name, g.unpriced)
            for g in glanced
            if g.hard and g.unpriced and counts_claude_code(g.scope, here, CLAUDE_CODE_SOURCES, provider)
        ]
        return _notes(conn, event, unpriced_notes(unpriced, core.prices_file))
    from cost_mcp.config import load_settings_leniently

    answer = decide(conn, load_settings_leniently()[0], event)
    return answer if answer.stdout else _notes(conn, event, [])


UNREAD_NEWEST = "cost-mcp: budgets checked without this session's newest calls"
"""How the hook's note begins when it decided without reading the session's new lines."""


def unread_newest_note(why: Unwritable) -> str:
    """The note for a decision made without the session's new lines, which the ledger could not
    take for ``why``."""
    from cost_mcp.store.connection import CANCELLED_BY, CANCELLED_FIX, Unwritable

    if why is Unwritable.BUSY:
        return (
            f"{UNREAD_NEWEST} (another cost-mcp process holds the ledger's write lock): a hard budget "
            "they used up cannot stop this one; the next prompt or tool call reads them"
        )
    if why is Unwritable.CANCELLED:
        # It said another process held the lock: no wait fixes this, the role's setting does
        # (store.connection words the same fix for a command that stops on it).
        return (
            f"{UNREAD_NEWEST} (the ledger's PostgreSQL server cancelled the write: {CANCELLED_BY}): a "
            f"hard budget they used up cannot stop this one. {CANCELLED_FIX}"
        )
    if why is Unwritable.DISK_FULL:
        return f"{UNREAD_NEWEST}: the ledger's disk is full; they are read once there is room"
    if why is Unwritable.READ_ONLY:
        return (
            f"{UNREAD_NEWEST}: the ledger cannot be written here (ledger read-only); `cost-mcp doctor` "
            "says why"
        )
    assert_never(why)


def with_unread_note(answer: HookAnswer, why: Unwritable | None, event: Mapping[str, Any]) -> HookAnswer:
    """``answer``, carrying :func:`unread_newest_note` when the session's new lines could not be
    read first and the call is let through (a refusal stands: more calls only spend more). On a
    tool call only while another process holds the lock, or the server cancelled the write (that
    too happens while a writer holds the lock past the role's statement_timeout, and passes): a
    read-only ledger or a full disk lasts, and said on every tool call it would drown the session
    (each prompt says it)."""
    from cost_mcp.store.connection import Unwritable

    passing = (Unwritable.BUSY, Unwritable.CANCELLED)
    if why is None or (event.get("hook_event_name") != "UserPromptSubmit" and why not in passing):
        return answer
    said: dict[str, Any] = json.loads(answer.stdout) if answer.stdout else {}
    if said.get("decision") == "block" or "permissionDecision" in said.get("hookSpecificOutput", {}):
        return answer
    note = unread_newest_note(why)
    said["systemMessage"] = f"{said['systemMessage']}\n{note}" if said.get("systemMessage") else note
    return HookAnswer(json.dumps(said), answer.exit_code)


UNREAD_NOTE = (
    "cost-mcp: budgets count only this session so far: the other Claude Code logs have not been read "
    "yet, so a budget they have used up cannot stop this session. Start the cost-mcp MCP server or run "
    "`cost-mcp report` once to read them"
)


def reading_note(progress: str) -> str:
    """The hook's note while another process reads the other logs for the first time (``progress``:
    how far it got): there is nothing to run, only to wait."""
    return (
        "cost-mcp: budgets count only this session so far: the other Claude Code logs are being read "
        f"now ({progress}), so until that read ends a budget they have used up cannot stop this session"
    )


UNREADABLE_NOTE = (
    "cost-mcp: some logs could not be read (`cost-mcp doctor` names them): budgets count none of their "
    "calls, so a budget they have used up cannot stop this session"
)


def unpriced_notes(unpriced: list[tuple[str, int]], prices_file: Path) -> list[str]:
    """One line per hard budget (name, calls) whose period holds calls with no known price: they
    count nothing against it, so the hook cannot stop them however many tokens they used."""
    return [
        f"cost-mcp: hard budget '{name}' cannot stop {calls} call(s) in its period with no known price: "
        f"they count nothing against it. Add the model's price to the price override file ({prices_file})"
        for name, calls in unpriced
    ]


def _notes(conn: Conn, event: Mapping[str, Any], notes: list[str]) -> HookAnswer:
    """Warnings shown to the user on a prompt it lets through (never on tool calls: on every one they
    would drown the session): ``notes``, and while no reader has checked every log (the hook reads
    only its session's transcript, as the status line does) that the budgets may be used up already
    by calls it cannot see, or while some logs could not be opened (answers say PARTIAL), that their
    calls count nothing. A warning, not a block: a first run must never lock anyone out."""
    from cost_mcp.statusline import LOG_SOURCES

    if event.get("hook_event_name") != "UserPromptSubmit":
        return HookAnswer("")
    marks = source_state.log_marks(conn, LOG_SOURCES)
    unread = [] if marks.read else [UNREAD_NOTE if marks.reading is None else reading_note(marks.reading)]
    notes = [*notes, *unread, *([UNREADABLE_NOTE] if marks.unreadable else [])]
    return HookAnswer(json.dumps({"systemMessage": "\n".join(notes)})) if notes else HookAnswer("")
