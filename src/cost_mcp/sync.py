"""Keeping the ledger fresh before a question is answered.

Queries call :func:`refresh` first, so nobody has to run a refresh tool by hand. Within
``settings.refresh_budget_seconds`` it reads new Claude Code log lines (incrementally, usually in
milliseconds) and, at the same time, syncs every configured provider whose last success is older
than ``settings.sync_ttl_seconds``, so repeated questions do not refetch. A log scan that runs out
of budget keeps what it read and the next query continues it.

A provider sync, per source (``openai``, ``anthropic``, ``anthropic-claude-code``, ``openrouter``,
``groq``, ``cursor``):

- fetches what is not covered yet plus the last :data:`REFETCH_DAYS` days again (late data; today's
  bucket keeps changing), :data:`INITIAL_DAYS` on a first sync;
- writes everything it fetched in ONE transaction, replacing the synced days (re-syncing never adds)
  and recording last success, covered range and what it brought in; or, if anything failed
  (an endpoint, a page in the middle, the time budget), writes nothing but the error, so the
  previous data stays exactly as it was and the error shows as a warning in results;
- runs in parallel with the other sources; never raises from :func:`refresh`.

The explicit :func:`sync_providers` (tool and CLI) ignores the TTL and has a longer time budget.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Literal, Protocol, TypeVar

import anyio
import anyio.to_thread

# Re-exported: alerts live in analytics/alerts.py; callers of sync.fire_alerts keep working.
from cost_mcp.analytics.alerts import fire_alerts
from cost_mcp.analytics.reprice import follow_price_file
from cost_mcp.config import Settings, provider_spec
from cost_mcp.errors import CostMcpError, InvalidInputError
from cost_mcp.logwatch import LogWatcher, Ticket
from cost_mcp.models import IngestResult, SourceSync, SyncResult
from cost_mcp.money import from_nanos
from cost_mcp.periods import utc_day
from cost_mcp.pricing import Pricer
from cost_mcp.sources import agents, claude_code, registry
from cost_mcp.sources.billing import MAX_SYNC_DAYS, REFETCH_DAYS, Feed, Window, check_storable, day_ms
from cost_mcp.sources.provider import FetchFn
from cost_mcp.store import source_state
from cost_mcp.store.buckets import DAY_MS, replace_range
from cost_mcp.store.connection import (
    CANCELLED_BY,
    CANCELLED_FIX,
    REFRESH_LOCK_TIMEOUT_MS,
    Conn,
    Unwritable,
    write_briefly,
    write_transaction,
)

if TYPE_CHECKING:
    # The HTTP client (httpx2, ~60 ms of imports) is imported by the fetch itself: a refresh with no
    # provider due, as a warm `cost-mcp report`'s, never loads it.
    import httpx2

logger = logging.getLogger(__name__)

__all__ = [
    "fire_alerts"
]  # re-exported: alerts live in analytics/alerts.py, callers still say sync.fire_alerts

T = TypeVar("T")

INITIAL_DAYS = 31
"""Days a first sync fetches (today included): this month, last_7_days and last_30_days."""
FAILURE_RETRY_SECONDS = 60
"""After a failed automatic sync, queries wait this long (or the TTL, if shorter) before retrying,
so a provider that is down does not slow every question down by the whole time budget."""
EXPLICIT_BUDGET_SECONDS = 120.0
ERROR_CHARS = 500
"""A provider's error is stored and shown scrubbed of keys and cut to this length."""


@dataclass(frozen=True)
class SourceSpec:
    """A source we sync: its state key, the provider whose settings it uses, and how to fetch it.

    ``min_ttl_seconds`` raises the TTL of automatic refreshes for an API that asks to be polled
    less often (Cursor: at most hourly); an explicit sync ignores both.
    """

    id: str
    provider: str
    fetch: FetchFn
    key_hint: str
    min_ttl_seconds: int = 0


def sources() -> tuple[SourceSpec, ...]:
    """Every source of every registered provider, in registry order."""
    return tuple(
        SourceSpec(s.id, p.id, s.fetch, p.key_hint, p.min_ttl_seconds)
        for p in registry.providers()
        for s in p.sources
    )


def syncable() -> tuple[str, ...]:
    """The ids of the providers `sync` can fetch (the registry's)."""
    return tuple(p.id for p in registry.providers())


@dataclass(frozen=True)
class Plan:
    """One source to fetch, over whole UTC days."""

    source: SourceSpec
    window: Window


@dataclass(frozen=True)
class Outcome:
    """What fetching one source gave: its feeds, or a secret-free error."""

    plan: Plan
    feeds: list[Feed] | None
    error: str | None
    seconds: float


@dataclass(frozen=True)
class _State:
    last_attempt: datetime | None
    last_success: datetime | None
    last_error: str | None
    covered_start_ms: int | None
    covered_end_ms: int | None


# --- what to fetch --------------------------------------------------------------------------------


def plan_sync(
    conn: Conn,
    settings: Settings,
    providers: Sequence[str] | None = None,
    days: int | None = None,
    *,
    now: datetime | None = None,
    use_ttl: bool = False,
) -> list[Plan]:
    """The sources to fetch and the days to fetch for each.

    ``providers`` None means every provider with a key configured; naming one without a key, or
    one we cannot sync, is an InvalidInputError saying what to set. ``days`` forces the last N
    days; otherwise a source fetches what is not covered yet plus the last REFETCH_DAYS days.
    With ``use_ttl`` (automatic refresh), sources synced within the TTL, or that failed moments
    ago, are left alone.
    """
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    if days is not None and not 1 <= days <= MAX_SYNC_DAYS:
        raise InvalidInputError(f"days must be between 1 and {MAX_SYNC_DAYS}, got {days}")
    wanted = _wanted(settings, providers, explicit=not use_ttl)
    if not wanted:
        return []  # no key configured: the usual warm query pays nothing for provider sync
    end = day_ms(moment.date()) + DAY_MS
    states = _states(conn)
    plans: list[Plan] = []
    for spec in sources():
        if spec.provider not in wanted:
            continue
        state = states.get(spec.id)
        if use_ttl and settings.skips_sync(spec.id):
            continue
        if use_ttl and not _due(state, moment, max(settings.sync_ttl_seconds, spec.min_ttl_seconds)):
            continue
        floor = end - INITIAL_DAYS * DAY_MS
        if days is not None:
            start = end - days * DAY_MS
        elif state is None or state.covered_end_ms is None:
            start = floor
        else:
            # A long pause leaves a gap rather than an automatic fetch of months; `days` fills it.
            start = max(min(state.covered_end_ms, end) - REFETCH_DAYS * DAY_MS, floor)
        plans.append(Plan(spec, Window(start, end)))
    return plans


WHERE_KEYS_GO = "(in the environment or the cost-mcp env file; `cost-mcp doctor` shows where)"
"""Where a missing key goes, said by every sync refused for want of one: `sync --provider openai`
said which variable, but not where to set it, as plain `sync` did."""


def _wanted(settings: Settings, providers: Sequence[str] | None, *, explicit: bool) -> list[str]:
    if providers is None:
        wanted = [
            p
            for p in syncable()
            if settings.provider_key(p) is not None and (explicit or not settings.skips_sync(p))
        ]
        if not wanted and explicit:
            keys = ", ".join(provider_spec(p).key_choice for p in syncable())
            raise InvalidInputError(
                f"no provider key is configured: set one or more of {keys} {WHERE_KEYS_GO}, then sync again"
            )
        return wanted
    wanted = []
    for name in providers:
        if name not in syncable():
            raise InvalidInputError(
                f"cannot sync {name!r}: billing sync exists for {', '.join(syncable())} only"
            )
        if settings.provider_key(name) is None:
            spec = provider_spec(name)
            raise InvalidInputError(
                f"{name}: {spec.needs(settings.provider_missing(name))} {WHERE_KEYS_GO}, then sync again"
            )
        if name not in wanted:
            wanted.append(name)
    return wanted


def _due(state: _State | None, moment: datetime, ttl_seconds: int) -> bool:
    if state is None:
        return True
    ttl = timedelta(seconds=ttl_seconds)
    if state.last_success is not None and moment - state.last_success < ttl:
        return False
    backoff = timedelta(seconds=min(ttl_seconds, FAILURE_RETRY_SECONDS))
    failed_recently = (
        state.last_error is not None
        and state.last_attempt is not None
        and moment - state.last_attempt < backoff
    )
    return not failed_recently


def _states(conn: Conn) -> dict[str, _State]:
    return {
        s.source: _State(
            _when(s.last_attempt), _when(s.last_success), s.last_error, s.covered_start_ms, s.covered_end_ms
        )
        for s in source_state.all_states(conn)
    }


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


# --- fetching -------------------------------------------------------------------------------------


async def fetch_sources(
    plans: Sequence[Plan],
    settings: Settings,
    pricer: Pricer,
    *,
    budget: float,
    transport: httpx2.AsyncBaseTransport | None = None,
    on_done: Callable[[Outcome], Awaitable[None]] | None = None,
    explicit: bool = False,
) -> list[Outcome]:
    """Fetch every planned source in parallel within ``budget`` seconds; never raises.

    ``explicit``: a sync asked for (tool, CLI), whose errors must not advise running it again.

    Touches no database: the caller records the outcomes (see :func:`record`), so the ledger need
    not be held while the network is slow. ``transport`` replaces the network in tests.
    """
    deadline = time.monotonic() + budget
    outcomes: dict[int, Outcome] = {}

    async def one(i: int, plan: Plan) -> None:
        outcome = await _fetch_one(plan, settings, pricer, budget, deadline, transport, explicit)
        outcomes[i] = outcome
        if on_done is not None:
            await on_done(outcome)

    async with anyio.create_task_group() as tg:
        for i, plan in enumerate(plans):
            tg.start_soon(one, i, plan)
    return [outcomes[i] for i in range(len(plans))]


async def _fetch_one(
    plan: Plan,
    settings: Settings,
    pricer: Pricer,
    budget: float,
    deadline: float,
    transport: httpx2.AsyncBaseTransport | None,
    explicit: bool,
) -> Outcome:
    from cost_mcp.sources.http import provider_client, scrub_keys

    started = time.monotonic()
    spec = plan.source
    feeds: list[Feed] | None = None
    error: str | None = None
    try:
        with anyio.fail_after(max(deadline - started, 0.0)):
            client = provider_client(
                settings,
                spec.provider,
                key_hint=spec.key_hint,
                transport=transport,
                deadline=deadline,
            )
            async with client:
                feeds = await spec.fetch(client, pricer, plan.window)
            for feed in feeds:
                check_storable(feed)
    except TimeoutError:
        # A question's short budget: the explicit sync has more time. The explicit sync itself:
        # telling the user to run what they just ran would not help; the provider is slow.
        advice = (
            "the provider answered too slowly or not at all; try again later, or fewer days at a time"
            if explicit
            else "run sync_providers (or `cost-mcp sync`) to fetch with more time"
        )
        error = f"did not finish within the {budget:g} s time budget, so nothing was written; {advice}"
    except CostMcpError as exc:
        error = scrub_keys(settings, str(exc), ERROR_CHARS)
    except Exception as exc:
        # A bug, not a provider problem: keep answering, and keep the traceback in the log, scrubbed:
        # the exception (or one in its __cause__/__context__ chain) may quote a provider's answer,
        # and the log is a file on disk (an MCP host keeps the server's stderr).
        trace = "".join(traceback.format_exception(exc))
        logger.error("syncing %s failed unexpectedly\n%s", spec.id, scrub_keys(settings, trace).rstrip())
        error = f"internal error ({type(exc).__name__}); see the server log"
    return Outcome(plan, feeds, error, time.monotonic() - started)


# --- recording ------------------------------------------------------------------------------------


def record(conn: Conn, outcomes: Sequence[Outcome], *, now: datetime | None = None) -> SyncResult:
    """Write each source's outcome in its own transaction and say what each brought in.

    Success: every feed replaces its covered days (marking them covered, even with no spend, which
    is what makes billed data the total for those days), and the source's state records the
    success, the covered range and a one-line summary. Today counts as covered when the provider
    listed it, synced at ``now``: get_spend treats a day synced within its provider's reporting lag
    (or listed with no rows) as partial (analytics/coverage.py), and the next sync replaces it.
    Failure: only the attempt and the error are recorded; the data is left as it was.
    """
    when = (now or datetime.now(UTC)).astimezone(UTC)
    moment = when.isoformat()
    rows: list[SourceSync] = []
    warnings: list[str] = []
    before = _states(conn)
    for outcome in outcomes:
        spec = outcome.plan.source
        if outcome.feeds is None or outcome.error is not None:
            error = outcome.error or "nothing was fetched"
            source_state.record_failure(conn, spec.id, moment, error)
            earlier = before.get(spec.id)
            kept = (
                "the data synced before is kept"
                if earlier is not None and earlier.last_success is not None
                else "none of its data is in the ledger yet"
            )
            warnings.append(f"{spec.id}: sync failed ({error}); {kept}")
            rows.append(_row(outcome, ok=False, error=error))
            continue
        feeds = [f for f in outcome.feeds if f.end_ms > f.start_ms]
        start = min((f.start_ms for f in feeds), default=None)
        end = max((f.end_ms for f in feeds), default=None)
        buckets = sum(len(f.buckets) for f in feeds)
        # Feeds may leave a day out between them (OpenRouter's activity lists yesterday only once
        # processed, its today feed is separate): count and name what was covered, not the span.
        listed = {d for f in feeds for d in range(f.start_ms // DAY_MS, f.end_ms // DAY_MS)}
        days = len(listed)
        span = range(start // DAY_MS, end // DAY_MS) if start is not None and end is not None else range(0)
        unlisted = [d for d in span if d not in listed]
        note = "; ".join(f.note for f in outcome.feeds if f.note) or None
        detail = f"synced {days} day(s): {buckets} bucket(s) in {outcome.seconds:.1f}s"
        if note:
            detail += f"; {note}"
        with write_transaction(conn):
            for feed in feeds:
                replace_range(
                    conn, feed.provider, feed.kind, feed.start_ms, feed.end_ms, feed.buckets, now=when
                )
            covered = _union(_states(conn).get(spec.id), start, end)
            source_state.record_success(conn, spec.id, moment, covered, detail)
        if not feeds:
            window = outcome.plan.window
            warnings.append(
                f"{spec.id}: the API listed no day between {utc_day(window.start_ms)} and "
                f"{utc_day(window.end_ms - DAY_MS)}, so no day is marked as synced"
            )
        warnings += _missing_bill_warning(spec.id, outcome.feeds)
        billed = [f for f in feeds if f.kind == "cost"]
        rows.append(
            _row(
                outcome,
                ok=True,
                days=days,
                buckets=buckets,
                first=start,
                last=end,
                billed=sum(f.cost_nanos for f in billed) if billed else None,
                note=note,
                unlisted=[utc_day(d * DAY_MS) for d in unlisted],
            )
        )
    return SyncResult(sources=rows, warnings=warnings)


def _missing_bill_warning(source: str, feeds: Sequence[Feed]) -> list[str]:
    """A billing report that listed no day while the usage report listed some: those days are
    estimated from usage, which results must say rather than switch quietly."""
    costs = [f for f in feeds if f.kind == "cost"]
    usage_days = max((f.days for f in feeds if f.kind == "usage"), default=0)
    if not costs or any(f.days for f in costs) or not usage_days:
        return []
    return [
        f"{source}: the billing report listed no day while the usage report listed {usage_days}; "
        "those days are estimated from usage (tokens x list price), not billed"
    ]


def _union(state: _State | None, start: int | None, end: int | None) -> tuple[int | None, int | None]:
    """The source's covered range after this sync: extended when the new days touch the old ones,
    else the new days alone (the latest contiguous stretch is what planning continues from)."""
    old_start = state.covered_start_ms if state else None
    old_end = state.covered_end_ms if state else None
    if start is None or end is None:
        return old_start, old_end
    if old_start is None or old_end is None or start > old_end or end < old_start:
        return start, end
    return min(start, old_start), max(end, old_end)


def _row(
    outcome: Outcome,
    *,
    ok: bool,
    error: str | None = None,
    days: int = 0,
    buckets: int = 0,
    first: int | None = None,
    last: int | None = None,
    billed: int | None = None,
    note: str | None = None,
    unlisted: Sequence[str] = (),
) -> SourceSync:
    spec = outcome.plan.source
    return SourceSync(
        source=spec.id,
        provider=spec.provider,
        ok=ok,
        days=days,
        buckets=buckets,
        first_day=utc_day(first) if first is not None and days else None,
        last_day=utc_day(last - DAY_MS) if last is not None and days else None,
        billed_usd=from_nanos(billed) if billed is not None else None,
        error=error,
        note=note,
        not_listed_yet=list(unlisted),
        seconds=round(outcome.seconds, 3),
    )


# --- entry points ---------------------------------------------------------------------------------


def run_async(fn: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine function to completion from synchronous code.

    Refresh runs on a worker thread with no event loop (the server's tools run blocking work
    through anyio.to_thread; the CLI has none), where anyio.run is allowed. Called from a thread
    that does run a loop, it uses a fresh thread rather than nest loops.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return anyio.run(fn)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(anyio.run, fn).result()


class SyncWatch(Protocol):
    """Hears an explicit sync's progress: the sources it fetches, then each one as it finishes."""

    def planned(self, sources: Sequence[str]) -> None:
        """The sources about to be fetched (in parallel)."""

    def fetched(self, source: str, error: str | None, seconds: float) -> None:
        """One source finished: ``error`` None when it succeeded (it is written after all finish)."""


def sync_providers(
    conn: Conn,
    settings: Settings,
    pricer: Pricer,
    providers: Sequence[str] | None = None,
    days: int | None = None,
    *,
    transport: httpx2.AsyncBaseTransport | None = None,
    now: datetime | None = None,
    budget: float = EXPLICIT_BUDGET_SECONDS,
    watch: SyncWatch | None = None,
) -> SyncResult:
    """Sync providers now, ignoring the TTL (the CLI's `cost-mcp sync`).

    Raises InvalidInputError when a named provider has no key or none is configured; failures of
    the providers themselves are rows of the result, not exceptions. ``watch`` hears which sources
    are fetched and as each one finishes (a progress display).
    """
    plans = plan_sync(conn, settings, providers, days, now=now)
    on_done: Callable[[Outcome], Awaitable[None]] | None = None
    if watch is not None:
        heard = watch
        heard.planned([p.source.id for p in plans])

        async def tell(outcome: Outcome) -> None:
            heard.fetched(outcome.plan.source.id, outcome.error, outcome.seconds)

        on_done = tell

    outcomes = run_async(
        partial(
            fetch_sources,
            plans,
            settings,
            pricer,
            budget=budget,
            transport=transport,
            on_done=on_done,
            explicit=True,
        )
    )
    result = record(conn, outcomes, now=now)
    fire_alerts(conn, settings)
    return result


def refresh(
    conn: Conn,
    settings: Settings,
    pricer: Pricer,
    *,
    transport: httpx2.AsyncBaseTransport | None = None,
    now: datetime | None = None,
    logs: Literal["budget", "all", "skip"] = "budget",
    progress: claude_code.ProgressCallback | None = None,
    watcher: LogWatcher | None = None,
) -> IngestResult:
    """Read new log lines and sync stale providers, together, within ``settings.refresh_budget_seconds``.

    ``logs``: read new lines within the budget, read ``all`` of them however long it takes (the
    CLI, with ``progress``), or ``skip`` them (a background reader is at it). ``watcher`` (a running
    server's) may vouch that nothing changed, and the walk of the logs is skipped (see
    :func:`read_local_logs`). Never raises for a provider: a failure is recorded and shows as a
    warning in results.
    """
    budget = settings.refresh_budget_seconds
    plans = plan_sync(conn, settings, now=now, use_ttl=True) if budget > 0 else []
    ingest: Callable[[], IngestResult] = (
        _nothing_read
        if logs == "skip"
        else partial(
            read_local_logs,
            conn,
            settings,
            pricer,
            None if logs == "all" else budget,
            progress=progress,
            watcher=watcher,
        )
    )
    if not plans:
        result = ingest()
    else:
        result, outcomes = run_async(
            partial(_ingest_and_fetch, ingest, plans, settings, pricer, budget, transport)
        )
        summary = record(conn, outcomes, now=now)
        for row in summary.sources:
            if row.ok:
                logger.info(
                    "synced %s: %d day(s), %d bucket(s) in %.1fs",
                    row.source,
                    row.days,
                    row.buckets,
                    row.seconds,
                )
            else:
                logger.warning("could not sync %s: %s", row.source, row.error)
    if result.events_added:
        logger.info("read %d new Claude Code call(s) in %.3fs", result.events_added, result.seconds)
    # Every refresh, not only one that brought data: a budget already over fires now.
    fire_alerts(conn, settings)
    return result


def _nothing_read() -> IngestResult:
    return IngestResult(
        roots=[],
        files_seen=0,
        files_new=0,
        files_changed=0,
        files_reread=0,
        files_unchanged=0,
        lines_read=0,
        bytes_read=0,
        usage_lines=0,
        events_added=0,
        duplicates_collapsed=0,
        skipped={},
        first_event=None,
        last_event=None,
        unpriced_models={},
        complete=True,
        errors=[],
        seconds=0.0,
    )


def refresh_local(
    conn: Conn,
    settings: Settings,
    pricer: Pricer,
    *,
    logs: Literal["budget", "all", "skip"] = "budget",
    progress: claude_code.ProgressCallback | None = None,
    watcher: LogWatcher | None = None,
) -> IngestResult:
    """Read new log lines without touching the network, and fire any budget threshold they push
    over: for agents' hot path (check_budget) and for a push. ``logs`` and ``watcher`` as
    :func:`refresh`'s: within ``settings.refresh_budget_seconds``, ``all`` of them, or none (a
    background reader is at it)."""
    if logs == "skip":
        return _nothing_read()
    budget = None if logs == "all" else settings.refresh_budget_seconds
    result = read_local_logs(conn, settings, pricer, budget, progress=progress, watcher=watcher)
    fire_alerts(conn, settings)
    return result


def read_local_logs(
    conn: Conn,
    settings: Settings,
    pricer: Pricer,
    budget: float | None,
    progress: claude_code.ProgressCallback | None = None,
    watcher: LogWatcher | None = None,
    left: claude_code.LeftCallback | None = None,
) -> IngestResult:
    """Claude Code's logs, then every other registered agent's, within ``budget`` seconds in all.

    The result describes Claude Code's scan; ``events_added`` also counts the other agents' new
    calls, so callers that fire alerts on new usage see them. With a ``watcher`` that saw no change
    since a complete pass began (``logwatch``), the walk is skipped: every change made before this
    call would have been seen, so that pass still stands, and the logs are recorded as checked now.
    ``left`` hears how much of Claude Code's logs is still to read as the read goes.
    """
    ticket = watcher.begin() if watcher is not None else None
    if ticket is not None and ticket.skip:
        return _vouched(conn, settings, ticket)
    started = time.perf_counter()
    result = IngestResult.of(
        claude_code.ingest(conn, settings, pricer, budget_seconds=budget, progress=progress, left=left)
    )
    time_left = None if budget is None else max(budget - (time.perf_counter() - started), 0.0)
    scans = agents.ingest_all(conn, settings, pricer, budget_seconds=time_left)
    added = sum(s.events_added for s in scans)
    complete = result.complete and all(s.complete for s in scans)
    if watcher is not None and ticket is not None:
        # An error (a file unreadable) is retried by the next question, as without the watcher.
        whole = complete and not result.errors and not any(s.errors for s in scans)
        watcher.done(ticket, whole=whole)
    if added or not complete:
        result = result.model_copy(update={"events_added": result.events_added + added, "complete": complete})
    return result


def _vouched(conn: Conn, settings: Settings, ticket: Ticket) -> IngestResult:
    """A refresh the watcher vouched for: nothing to read. Each source whose logs exist is recorded
    as checked now, which is true: every change made until now would have been seen, and none was;
    one with no folder is recorded as its scan records it (none appeared: that is a change)."""
    started = time.perf_counter()
    since = datetime.fromtimestamp(ticket.since, UTC).isoformat(timespec="seconds")
    detail = f"no new lines (the log folders are watched: no change since every file was checked at {since})"
    for source in ticket.sources:
        source_state.record_scan(conn, source, error=None, detail=detail, wait=False)
    if claude_code.SOURCE in ticket.absent:
        claude_code.note_no_folder(conn, settings)
    agents.note_no_folders(conn, settings, [fmt for fmt in agents.AGENTS if fmt.source in ticket.absent])
    return _nothing_read().model_copy(update={"seconds": time.perf_counter() - started})


READ_ONLY_WARNING = (
    "the ledger is read-only, so this answer is from what it already holds: new log lines were not "
    "read and providers not synced (make the ledger file and its folder writable to refresh)"
)
BUSY_WARNING = (
    "another process was writing the ledger, so this answer did not wait for new log lines or a "
    "provider sync; they are picked up by the next question"
)
CANCELLED_WARNING = (
    f"the ledger's PostgreSQL server cancelled this answer's refresh ({CANCELLED_BY}), so this answer "
    "is from what the ledger already holds: new log lines were not read and providers not synced. "
    f"{CANCELLED_FIX}"
)
"""Where :data:`BUSY_WARNING` was said of a statement the role's statement_timeout cut short: no
other process was to wait for, and the fix is the setting (as store.connection words it for a
command that stops on it)."""
DISK_FULL_WARNING = (
    "the ledger's disk (or its PostgreSQL server's) is full, so this answer is from what the ledger "
    "already holds: new log lines were not read and providers not synced; nothing was lost. Free "
    "some space there, or set COST_MCP_DB to a path on another disk, to refresh"
)
"""A full disk made the question fail where the status line showed the ledger as it stands."""
SKIPPED: dict[Unwritable, str] = {
    Unwritable.BUSY: BUSY_WARNING,
    Unwritable.CANCELLED: CANCELLED_WARNING,
    Unwritable.READ_ONLY: READ_ONLY_WARNING,
    Unwritable.DISK_FULL: DISK_FULL_WARNING,
}
"""An answer's warning for each reason the ledger could not take its refresh."""


def refresh_or_skip(
    conn: Conn,
    settings: Settings,
    pricer: Pricer,
    *,
    local: bool = False,
    logs: Literal["budget", "all", "skip"] = "budget",
    progress: claude_code.ProgressCallback | None = None,
    lock_timeout_ms: int | None = REFRESH_LOCK_TIMEOUT_MS,
    watcher: LogWatcher | None = None,
) -> tuple[IngestResult | None, list[str]]:
    """:func:`refresh` (or, with ``local``, :func:`refresh_local`) and what it read, unless it cannot
    write: then None and the warnings to put in the answer. A read-only ledger is not refreshed; a
    write lock another process holds for longer than ``lock_timeout_ms`` (None: the usual busy
    timeout) skips the refresh, so reads never wait behind a writer (WAL lets them read meanwhile);
    so does a full disk or a write the PostgreSQL server cancelled (:data:`SKIPPED` words each).
    ``logs``, ``progress`` and ``watcher`` are :func:`refresh`'s (``skip`` while a background reader
    is at it)."""
    if conn.read_only:
        pricer.follow_file(settings.prices_file)
        return None, [READ_ONLY_WARNING]

    def run() -> IngestResult:
        # Before reading: new lines of a model just added to the file are priced with it.
        repriced = follow_price_file(conn, pricer, settings.prices_file)
        if repriced is not None and repriced.priced:
            logger.info("the price override file changed: priced %d stored call(s)", repriced.priced)
        if local:
            return refresh_local(conn, settings, pricer, logs=logs, progress=progress, watcher=watcher)
        return refresh(conn, settings, pricer, logs=logs, progress=progress, watcher=watcher)

    read, why = write_briefly(conn, run, lock_timeout_ms)
    if why is None:
        return read, []
    logger.info("refresh skipped: the ledger could not take it (%s)", why.value)
    return None, [SKIPPED[why]]


@dataclass
class _Flight:
    """A refresh under way in this process; questions that arrive meanwhile wait for it."""

    started: float
    done: anyio.Event = field(default_factory=anyio.Event)
    skipped: list[str] = field(default_factory=list)
    ended: bool = False
    """False while it runs, and for good if it raised: then a waiter runs its own."""


@dataclass
class RecentRefresh:
    """When this process last started a whole refresh, and the one under way: a server answering
    many clients (a team server over HTTP) need not re-read its logs, re-plan its providers and
    re-write their notes for every one of them, nor run a refresh per question that arrives while
    one runs. Only a refresh that read everything counts; one stopped at its time budget, skipped
    for a busy or read-only ledger, or never run, makes the next question refresh again. The time
    kept is the refresh's start, not its end: what it read was there when it started."""

    started: float | None = None
    flight: _Flight | None = None
    waiting: int = 0
    """Questions waiting for the flight now (tests count them)."""

    def within(self, seconds: float) -> bool:
        """Whether a whole refresh started less than ``seconds`` ago."""
        return self._since(time.monotonic() - seconds)

    def _since(self, moment: float) -> bool:
        return self.started is not None and self.started > moment

    def note(self, read: IngestResult | None, skipped: Sequence[str], started: float | None = None) -> None:
        """Record what :func:`refresh_or_skip` just gave, begun at ``started`` (by default now)."""
        whole = read is not None and read.complete and not skipped
        self.started = (time.monotonic() if started is None else started) if whole else None

    async def once(
        self, seconds: float, refresh: Callable[[], Awaitable[tuple[IngestResult | None, list[str]]]]
    ) -> tuple[IngestResult | None, list[str]]:
        """Refresh unless a whole refresh started less than ``seconds`` before this call. A refresh
        already under way that started within that time is waited for and stands for this one (its
        warnings too), so one process runs one at a time: under load, each refresh competed for the
        interpreter's lock and the cores with the answers and pushes, and questions that arrived
        during one each started another. Only the caller that ran the refresh gets what it read
        (the rest is already in the ledger). Callers must share one event loop."""
        since = time.monotonic() - seconds
        while not self._since(since):
            flight = self.flight
            if flight is None:
                return await self._run(refresh)
            self.waiting += 1
            try:
                await flight.done.wait()
            finally:
                self.waiting -= 1
            if flight.ended and flight.started > since:
                return None, list(flight.skipped)
            # It raised, or began too long before this question: run one (or wait for the next).
        return None, []

    async def _run(
        self, refresh: Callable[[], Awaitable[tuple[IngestResult | None, list[str]]]]
    ) -> tuple[IngestResult | None, list[str]]:
        flight = self.flight = _Flight(time.monotonic())
        try:
            read, skipped = await refresh()
            self.note(read, skipped, flight.started)
            flight.skipped, flight.ended = list(skipped), True
            return read, skipped
        finally:
            self.flight = None
            flight.done.set()


async def _ingest_and_fetch(
    ingest: Callable[[], IngestResult],
    plans: Sequence[Plan],
    settings: Settings,
    pricer: Pricer,
    budget: float,
    transport: httpx2.AsyncBaseTransport | None,
) -> tuple[IngestResult, list[Outcome]]:
    # The log scan (disk) runs on a thread while the providers are fetched (network); only the scan
    # touches the connection until both are done, then the outcomes are recorded.
    outcomes: list[Outcome] = []

    async def fetch() -> None:
        outcomes.extend(await fetch_sources(plans, settings, pricer, budget=budget, transport=transport))

    error: Exception | None = None
    result: IngestResult | None = None
    async with anyio.create_task_group() as tg:
        tg.start_soon(fetch)
        try:
            result = await anyio.to_thread.run_sync(ingest)
        except Exception as exc:  # re-raised as itself below, not wrapped in an exception group
            error = exc
    if error is not None:
        raise error
    assert result is not None
    return result, outcomes
