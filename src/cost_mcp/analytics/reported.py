"""The user's way to see and remove calls agents reported (``record_usage``): a test call, a token
count off by orders of magnitude, the same call reported twice under two ids.

Deliberately not an MCP tool: a model able to erase spend could hide its own cost from the budget
it is checked against, so only the person at the CLI (or the admin of a team server, on the server's
ledger) forgets reported calls. Log-read calls and provider bills are not touched: they have their
own ways (``ingest --forget PATH``; a provider's next sync replaces its days).

After a forget the rollup is rebuilt for the quarter-hours the calls sat in (exactly, from the
events left), and each budget threshold of the current period that spend no longer reaches is
re-armed (:func:`cost_mcp.analytics.alerts.rearm_alerts`): it fired on spend that was never real,
so it fires again when real spend crosses it; thresholds still reached stay fired.

A forgotten call stays forgotten: its tombstone keeps the agent's retry of the same request id and
any laptop's push of it (``push --full`` too) from storing it again, until the user lifts it with
:func:`unforget` (``cost-mcp reported unforget ID``), also CLI-only: restoring spend is as much the
user's call as erasing it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from cost_mcp.analytics.alerts import rearm_alerts
from cost_mcp.config import Settings
from cost_mcp.errors import InvalidInputError
from cost_mcp.models import ForgetReportedResult, ReportedCall, ReportedCalls, UnforgetReportedResult
from cost_mcp.money import from_nanos
from cost_mcp.periods import iso_utc
from cost_mcp.store import reported as reported_store
from cost_mcp.store import rollup
from cost_mcp.store import team as team_store
from cost_mcp.store.connection import OVERFLOW_FIX, Conn, is_overflow
from cost_mcp.store.reported import Selection, StoredCall

LIST_FIX = "`cost-mcp reported list` shows the ids of reported calls"
FORGOTTEN_FIX = "`cost-mcp reported list --forgotten` shows the ids of forgotten calls"


def list_calls(
    conn: Conn, selection: Selection, limit: int | None, *, forgotten: bool = False
) -> ReportedCalls:
    """The reported calls ``selection`` picks, newest first, at most ``limit`` of them; with
    ``forgotten``, the calls forgotten that it picks (by the same conditions)."""
    calls, matching = reported_store.select(conn, selection, limit, forgotten=forgotten)
    total, unpriced = _sums(calls)
    warnings = []
    if matching > len(calls):
        warnings.append(
            f"showing the newest {len(calls):,} of {matching:,} matching calls: narrow with --period, "
            "--agent, --member, --min-cost or --min-tokens, or raise --limit"
        )
    return ReportedCalls(
        calls=[_shown(c, _counted_from(conn, c)) for c in calls],
        matching=matching,
        total_usd=total,
        unpriced_requests=unpriced,
        warnings=warnings,
    )


def forget(
    conn: Conn,
    settings: Settings,
    selection: Selection,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
) -> ForgetReportedResult:
    """Remove the reported calls ``selection`` picks (with ``dry_run``, only say which).

    By id, every id must be a stored reported call, or nothing is removed and the error says which
    are not and why (another source's call, or no call at all). The rollup is rebuilt for their
    quarter-hours, and budget thresholds no longer reached are re-armed (see the module docstring).
    """
    picked = reported_store.select(conn, selection)[0]
    if selection.ids:
        _check_ids(conn, selection.ids, {c.id for c in picked})
    warnings: list[str] = []
    if not picked:
        warnings.append(f"no reported call matches: nothing to forget ({LIST_FIX})")
    uncounted = [c for c in picked if not c.counted]
    if uncounted:
        # Their log or OTel copy counts the call: the total above is the reports', not what leaves spend.
        warnings.append(
            f"{len(uncounted):,} of these reported call(s) did not count in spend: Claude Code's logs or "
            "OpenTelemetry hold the same request id and count the call; forgetting them changes no total"
        )
    if dry_run or not picked:
        return _result(picked, dry_run=dry_run, rearmed=[], warnings=warnings)
    moment = now or datetime.now(UTC)
    gone = reported_store.delete(conn, [c.id for c in picked], int(moment.timestamp() * 1000))
    rearmed = _settle(conn, settings, moment, warnings, min((c.ts_ms for c in gone), default=None))
    return _result(gone, dry_run=False, rearmed=rearmed, warnings=warnings)


def _settle(
    conn: Conn, settings: Settings, moment: datetime, warnings: list[str], since_ms: int | None
) -> list[str]:
    """After calls were removed (committed): the rollup rebuilt for their quarter-hours (those from
    ``since_ms``, the first removed call's time, on; None: all) and budget thresholds spend no longer
    reaches re-armed; returns the re-arm lines, adds to ``warnings``. Quarter-hours marked before
    ``since_ms`` (a re-price's, over years) are no change of this command's: they wait for the
    question that reads them."""
    refreshed = rollup.refresh(conn, since_ms)
    if refreshed == rollup.TOO_LARGE:
        warnings.append(team_store.too_large_warning(conn))  # other absurd calls are left: say so
    elif refreshed < 0:
        # Deleted and marked dirty all the same: the next answer that can write rebuilds them.
        warnings.append(rollup.STALE_WARNING)
    try:
        return rearm_alerts(conn, settings, moment)
    except sqlite3.OperationalError as exc:
        if not is_overflow(exc):
            raise
        # The calls are gone (committed); budgets cannot be summed until the rest of a flood is.
        warnings.append(f"budget alerts were not re-checked: the ledger still holds {OVERFLOW_FIX}")
        return []


def unforget(conn: Conn, ids: Sequence[str], now: datetime | None = None) -> UnforgetReportedResult:
    """Lift the tombstones of the forgotten calls ``ids``: each is stored and counted again the next
    time its agent reports it or a laptop pushes it (the ledger does not hold it meanwhile).

    Every id must be a forgotten call, or nothing is lifted and the error says which are not."""
    wanted = list(dict.fromkeys(ids))
    found = {c.id for c in reported_store.select(conn, Selection(ids=wanted), forgotten=True)[0]}
    missing = [i for i in wanted if i not in found]
    if missing:
        raise InvalidInputError(
            f"nothing unforgotten: {', '.join(repr(i) for i in missing)} "
            f"{'is no forgotten call' if len(missing) == 1 else 'are no forgotten calls'}. {FORGOTTEN_FIX}"
        )
    moment = now or datetime.now(UTC)
    lifted = reported_store.unforget(conn, wanted, int(moment.timestamp() * 1000))
    total, unpriced = _sums(lifted)
    return UnforgetReportedResult(
        unforgotten=[_shown(c) for c in lifted],
        total_usd=total,
        unpriced_requests=unpriced,
        warnings=[
            "not counted until stored again: the next time its agent reports the id, or a laptop pushes "
            "it (`cost-mcp push --full` on the laptop that holds it)"
        ]
        if lifted
        else [],
    )


def _result(
    calls: Sequence[StoredCall], *, dry_run: bool, rearmed: list[str], warnings: list[str]
) -> ForgetReportedResult:
    total, unpriced = _sums(calls)
    return ForgetReportedResult(
        dry_run=dry_run,
        forgotten=[_shown(c) for c in calls],
        total_usd=total,
        unpriced_requests=unpriced,
        alerts_rearmed=rearmed,
        warnings=warnings,
    )


def _check_ids(conn: Conn, ids: Sequence[str], found: set[str]) -> None:
    missing = [i for i in dict.fromkeys(ids) if i not in found]
    if not missing:
        return
    elsewhere = reported_store.other_sources(conn, missing)
    gone: dict[str, list[str]] = {}
    for c in reported_store.select(conn, Selection(ids=missing), forgotten=True)[0]:
        # On a team server the tombstone may be a member's, left by their laptop's push: an admin
        # told only "forgotten already" could not tell it from their own forget.
        who = f"by {c.forgotten_by} (their laptop's push)" if c.forgotten_by else "here"
        when = "" if c.forgotten_ms is None else f" at {iso_utc(c.forgotten_ms)}"
        gone.setdefault(c.id, [])
        if f"{who}{when}" not in gone[c.id]:
            gone[c.id].append(f"{who}{when}")
    reasons = [
        f"{i!r} is a call read from {', '.join(elsewhere[i])}, not reported with record_usage (a log "
        "file's calls are removed with `cost-mcp ingest --forget PATH`)"
        if i in elsewhere
        else f"{i!r} was forgotten already, {' and '.join(gone[i])} (`cost-mcp reported unforget {i}` "
        "undoes that)"
        if i in gone
        else f"{i!r} is no reported call"
        for i in missing
    ]
    raise InvalidInputError(f"nothing forgotten: {'; '.join(reasons)}. {LIST_FIX}")


def _sums(calls: Sequence[StoredCall]) -> tuple[Decimal, int]:
    priced = [c.cost_nanos for c in calls if c.cost_nanos is not None]
    return from_nanos(sum(priced)), len(calls) - len(priced)


def _counted_from(conn: Conn, c: StoredCall) -> str | None:
    """The source whose copy counts instead of this reported call (None: this one counts)."""
    if c.counted:
        return None
    copy = reported_store.logged_copy(conn, c.id)
    return copy.source if copy else "another source"


def _shown(c: StoredCall, counted_from: str | None = None) -> ReportedCall:
    return ReportedCall(
        id=c.id,
        time_utc=iso_utc(c.ts_ms),
        agent=c.agent,
        member=c.member,
        provider=c.provider,
        model=c.model,
        project=c.project,
        session=c.session_id,
        total_tokens=c.total_tokens,
        cost_usd=None if c.cost_nanos is None else from_nanos(c.cost_nanos),
        forgotten_utc=None if c.forgotten_ms is None else iso_utc(c.forgotten_ms),
        forgotten_by=None if c.forgotten_ms is None else c.forgotten_by,
        counted_from=counted_from,
    )


@dataclass(frozen=True)
class PushesForgotten:
    """What `cost-mcp team forget-pushes` removed (or, with --dry-run, would remove), or what
    `cost-mcp team unforget-pushes` lifted: per source, the rows and their cost."""

    member: str
    sums: list[team_store.PushedSum]
    dry_run: bool
    alerts_rearmed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        """Rows in all."""
        return sum(s.rows for s in self.sums)

    @property
    def total_usd(self) -> Decimal:
        """Their priced rows' cost."""
        return from_nanos(sum(s.cost_nanos for s in self.sums))

    @property
    def unpriced(self) -> int:
        """Rows without a price."""
        return sum(s.unpriced for s in self.sums)


def forget_pushes(
    conn: Conn,
    settings: Settings,
    member: str,
    start_ms: int | None,
    end_ms: int | None,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
) -> PushesForgotten:
    """Remove what ``member``'s tokens pushed with a time in the range, on a team server (with
    ``dry_run``, only say what): tombstoned so their next push does not bring it back, the rollup
    rebuilt exactly for its quarter-hours, and budget thresholds spend no longer reaches re-armed,
    as :func:`forget` does for reported calls. The admin's remedy for a member's absurd or unwanted
    pushes (a leaked token, a broken laptop), which revoking the token does not remove."""
    from cost_mcp.sources.claude_code import recount  # the log reader's own per-message recount

    who = team_store.checked_member(member, "--member")
    if dry_run:
        # A misspelt member printed nothing at all: the warning the real run gives, said first.
        sums = team_store.pushed_by(conn, who, start_ms, end_ms)
        return PushesForgotten(who, sums, dry_run=True, warnings=[] if sums else [_nothing_pushed(conn, who)])
    moment = now or datetime.now(UTC)
    sums = team_store.forget_pushed(conn, who, start_ms, end_ms, int(moment.timestamp() * 1000), recount)
    warnings: list[str] = []
    if not sums:
        return PushesForgotten(who, sums, dry_run=False, warnings=[_nothing_pushed(conn, who)])
    rearmed = _settle(conn, settings, moment, warnings, start_ms)
    return PushesForgotten(who, sums, dry_run=False, alerts_rearmed=rearmed, warnings=warnings)


def unforget_pushes(
    conn: Conn, member: str, start_ms: int | None, end_ms: int | None, *, dry_run: bool = False
) -> PushesForgotten:
    """Undo :func:`forget_pushes`: lift the admin's tombstones of ``member``'s calls with a time in
    the range, so that the member's next ``push --full`` stores and counts them again (the server
    does not keep the rows meanwhile)."""
    who = team_store.checked_member(member, "--member")
    nothing = [f"no forgotten call of {who} in that range: nothing to unforget"]
    if dry_run:
        sums = team_store.forgotten_pushes(conn, who, start_ms, end_ms)
        return PushesForgotten(who, sums, dry_run=True, warnings=[] if sums else nothing)
    sums = team_store.unforget_pushed(conn, who, start_ms, end_ms)
    warnings = (
        [
            f"not counted until pushed again: `cost-mcp push --full` on {who}'s machine(s) sends them "
            "(with a live token of theirs)"
        ]
        if sums
        else nothing
    )
    return PushesForgotten(who, sums, dry_run=False, warnings=warnings)


def _nothing_pushed(conn: Conn, member: str) -> str:
    return f"{member} pushed nothing in that range: nothing to forget ({pushed_members(conn)})"


def pushed_members(conn: Conn) -> str:
    """Who has pushed to this ledger, for an admin whose ``--member`` matched no push (a misspelt
    address, or a name where the address goes)."""
    known = sorted({s.member for s in team_store.push_senders(conn)})
    return f"members who have pushed: {', '.join(known)}" if known else "no member has pushed to this ledger"
