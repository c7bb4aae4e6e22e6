"""Reading Claude Code logs in the background, and saying so in every answer until it is done.

A first start on a large log history (or a big backlog after a pause) takes longer than a question
may wait. So the server starts a :class:`LogReader` at start-up: it reads the logs on its own
thread and its own connection, in chunks of :data:`CHUNK_SECONDS`, until nothing is left, and keeps
going between calls. Queries answer from what is in the ledger meanwhile, and :func:`label` marks
their result ``complete: false`` with how much is read and left and a warning to repeat. A query
that finds a new backlog itself (its own refresh stopped at the time budget) hands the rest to the
reader (:meth:`LogReader.continue_after`).

What unread bytes could still add (:func:`worst_case_usd`) is bounded, so that a hard budget is
never said to allow a call that the unread part of the logs may already have paid for:

- every counted usage line is at least :data:`MIN_USAGE_LINE_BYTES` long (the shortest line the
  parser accepts as a priced call: type, timestamp, model and one token count, one character each);
- one line can cost at most every token kind at the parser's cap (``tokens.MAX_CALL_TOKENS``, beyond which
  a line is skipped as invalid) times the most expensive rate of any Anthropic model or price
  override, at its highest tier, times :data:`CORRECTION_FACTOR` for rules genai-prices does not
  price itself (fast mode, US-only inference); or its own ``costUSD``, which the parser caps at
  ``MAX_CALL_COST`` (``COST_MCP_COST_MODE`` auto and display trust it), whichever is more;
- so ``bytes_left // MIN_USAGE_LINE_BYTES`` lines cost at most that many times the line maximum.
A replaced copy of a call (more tokens) adds at most its own line's cost, so the bound holds. Other
agents' logs (Codex, Gemini CLI...) are read by the same reader but not bounded here: only Claude
Code's unread bytes are measured. The bound is deliberately loose: in practice any unread line means
"wait for the read" to a hard budget, which is the point.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel

from cost_mcp import tokens
from cost_mcp.analytics import gaps
from cost_mcp.analytics.budgets import Unread
from cost_mcp.analytics.spend import (
    NO_SOURCE,
    PARTIAL,
    Lacking,
    log_read_warnings,
    member_sources,
    partial_lines,
)
from cost_mcp.config import Settings
from cost_mcp.errors import LedgerNewerError, NotFoundError
from cost_mcp.models import Answer, IngestResult, LogReading, SpendResult
from cost_mcp.pricing import Pricer
from cost_mcp.sources import claude_code
from cost_mcp.store import meta
from cost_mcp.store import skipped as skipped_lines
from cost_mcp.store import team as team_store
from cost_mcp.store.connection import Conn

if TYPE_CHECKING:
    from genai_prices.types import ModelPrice, TieredPrices

logger = logging.getLogger(__name__)

A = TypeVar("A", bound=Answer)

CHUNK_SECONDS = 2.0
"""How long the reader reads before it checks whether to stop: bounds how late a shutdown is."""
MIN_USAGE_LINE_BYTES = len(
    b'{"type":"assistant","timestamp":"x","message":{"model":"x","usage":{"input_tokens":1}}}\n'
)
"""The shortest line that can add a priced call (every key is required; values one character)."""
CORRECTION_FACTOR = Decimal(6) * Decimal("1.1")
"""Fast mode (6x) and US-only inference (1.1x) on top of any listed rate."""


@dataclass(frozen=True)
class ReadProgress:
    """A snapshot of the log reading: done, or how much is read and left."""

    complete: bool
    bytes_read: int = 0
    bytes_left: int | None = None
    files_left: int | None = None
    started_at: str = ""

    def _where(self) -> str:
        """How far the reading is, for a person: read so far, and left."""
        if self.bytes_left is None:
            left = "how much is left is being measured"
        else:
            left = f"{_mb(self.bytes_left)} in {self.files_left or 0:,} file(s) left"
        return f"{_mb(self.bytes_read)} read, {left}"

    def warning(self) -> str:
        """The one line a model should repeat while the answer is partial."""
        return (
            f"INCOMPLETE: Claude Code logs are still being read ({self._where()}); "
            "these numbers cover only what is read so far and will grow. Ask again shortly for the "
            "full answer."
        )

    def not_found(self, exc: NotFoundError) -> NotFoundError:
        """``exc`` as it should reach a person: while logs are still being read, what is missing
        may only be unread yet, so the error says so and to ask again, rather than pointing to a
        setup problem (``cost-mcp doctor``) or a wrong session id."""
        if self.complete:
            return exc
        return NotFoundError(
            f"INCOMPLETE: Claude Code logs are still being read ({self._where()}), "
            f"so this may not be read yet: ask again shortly. So far: {exc}"
        )


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def label(result: A, progress: ReadProgress, notes: Sequence[str] = ()) -> A:
    """``result`` with the envelope set: complete, or incomplete with the reading and a warning
    first; ``notes`` (what the ledger knows it lacks) go after the result's own warnings."""
    own: list[str] = getattr(result, "warnings", [])
    warnings = [*own, *(n for n in notes if n not in own)]
    if progress.complete:
        # Read to the end, yet a PARTIAL warning says what the numbers lack (a provider's bill never
        # synced, days of it never fetched, log files that could not be opened): not complete
        # either, and that warning first, as the reading's is.
        partial = partial_lines(warnings)
        warnings = [*partial, *(w for w in warnings if w not in partial)]
        result = _parts_lacking(result, partial_lines(notes))
        return result.model_copy(update={"complete": not partial, "reading": None, "warnings": warnings})
    reading = LogReading(
        bytes_read=progress.bytes_read,
        bytes_left=progress.bytes_left,
        files_left=progress.files_left,
        started_at=progress.started_at,
    )
    # Logs being read are a source: "no data source is connected yet" would contradict the reading.
    warnings = [progress.warning(), *(w for w in warnings if not w.startswith(NO_SOURCE))]
    return result.model_copy(update={"complete": False, "reading": reading, "warnings": warnings})


def _parts_lacking(result: A, lacking: Sequence[str]) -> A:
    """``result`` with each part it is built of (a dashboard's cards, totals, breakdowns, hours and
    forecast) not complete and saying ``lacking``: what the ledger as a whole lacks (log files the
    last read could not open, a reprice half done) every part lacks too. The parts are weighed on
    their own PARTIAL lines only (a provider's missing bill is in some parts, not in the hours), so
    with a log folder unreadable the page marked no total of its own as a lower bound."""
    if not lacking:
        return result

    def weighed(part: BaseModel) -> BaseModel:
        update: dict[str, object] = {"complete": False}
        said = getattr(part, "warnings", None)
        if isinstance(said, list):
            update["warnings"] = [*said, *(w for w in lacking if w not in said)]
        return part.model_copy(update=update)

    def has_complete(value: object) -> bool:
        return isinstance(value, BaseModel) and "complete" in type(value).model_fields

    update: dict[str, object] = {}
    for name, value in result:
        if has_complete(value):
            update[name] = weighed(value)
        elif isinstance(value, dict) and value and all(has_complete(v) for v in value.values()):
            update[name] = {key: weighed(v) for key, v in value.items()}
    return result.model_copy(update=update) if update else result


@dataclass
class Backlog:
    """What refreshes with a time budget have left unread, in a process with no background reader
    (the dashboard app): its answers say so, with how much the refreshes read since the backlog
    was found and how much is left, until one reads to the end. Not thread-safe: a race between
    two refreshes only mislabels one answer's figures of the reading."""

    read: int = 0
    left: IngestResult | None = None

    def note(self, result: IngestResult | None) -> None:
        """Record a refresh's read (None: it did not run, which tells nothing)."""
        if result is None:
            return
        if result.complete:
            self.read, self.left = 0, None
        else:
            self.read += result.bytes_read
            self.left = result

    def progress(self) -> ReadProgress | None:
        """The reading as :func:`envelope` takes it; None when nothing is known to be left."""
        if self.left is None:
            return None
        return ReadProgress(False, self.read, self.left.bytes_pending, self.left.files_pending)


R = TypeVar("R")


def with_warnings(result: R, warnings: Sequence[str]) -> R:
    """``result`` with ``warnings`` (why the ledger was not refreshed first) added to its own."""
    own = getattr(result, "warnings", None)
    if warnings and isinstance(own, list):
        own.extend(w for w in warnings if w not in own)
    return result


def envelope(
    conn: Conn, settings: Settings, result: A, progress: ReadProgress | None = None, *, paths: bool = True
) -> A:
    """The one way a query result leaves (server and CLI alike): labelled with the reading's
    progress (None: everything was read), the log files or folders the last read could not open and
    the log lines the ledger knows it skipped. Said here, not by each tool, so that every answer over
    the logs says them (session_usage's session may be the unread one) and says them once, however
    many spend queries it is built from (the dashboard, a forecast).

    Without ``paths`` (a team member's answer) neither the server's unopened log folders, the lines
    its log readers skipped, nor their state are said
    (:func:`cost_mcp.analytics.spend.member_sources`): the calls those folders hold are the server
    machine's own, under no member, so in no member's answer."""
    # The skipped lines are the server's own log files' too: "3 lines in 1 file were skipped" is not
    # a member's gap, and no member can do anything about it.
    notes = [*log_read_warnings(conn), *skipped_lines.warnings(conn, log_labels())] if paths else []
    notes += reprice_warnings(conn)
    notes += refused_push_warnings(conn, settings.team_server)
    sources = getattr(result, "sources", None)
    if not paths and isinstance(sources, list):
        result = result.model_copy(update={"sources": member_sources(sources)})
    labelled = label(result, progress or ReadProgress(complete=True), notes)
    return _rows_weighed(labelled, settings, reading=labelled.reading is not None)


def _rows_weighed(result: A, settings: Settings, *, reading: bool) -> A:
    """``result`` with each row of spend its gaps may be in not complete (spend.Lacking), as its
    total is: its own rows, or a dashboard's parts' (each weighed on its own PARTIAL lines, as its
    complete is), whose rows said complete true under a part that was not."""
    if isinstance(result, SpendResult):
        return Lacking.of(result.warnings, settings, reading=reading).rows(result)
    update: dict[str, object] = {}
    for name, value in result:
        if isinstance(value, SpendResult):
            update[name] = _rows_weighed(value, settings, reading=reading)
        elif isinstance(value, dict) and value and all(isinstance(v, SpendResult) for v in value.values()):
            update[name] = {key: _rows_weighed(v, settings, reading=reading) for key, v in value.items()}
    return result.model_copy(update=update) if update else result


def refused_push_warnings(conn: Conn, team_server: str | None) -> list[str]:
    """On a laptop whose team server refused its latest push (its token revoked, its member removed:
    ``push.noting_refusals``), what that means and the fix, in every answer until a push is taken:
    the local server's pushes fail in the background, its log alone said so, and its user took the
    team's totals to have their spend. Only while that server is ``team_server`` (the configured
    COST_MCP_TEAM_SERVER), as doctor says it: a user who left team mode, or moved to another server,
    pushes to it no more, and was still warned of a team they had left."""
    refused = team_store.push_refused(conn)
    if refused is None or not team_server or refused.server != team_store.server_key(team_server):
        return []
    since = datetime.fromtimestamp(refused.at_ms / 1000, UTC)
    return [
        f"this machine's pushes to its team server are refused since {since:%Y-%m-%d %H:%M} UTC, so the "
        "team's totals and budgets lack its usage since (it waits here, and the first push taken "
        f"sends it): {refused.said}"
    ]


def reprice_warnings(conn: Conn) -> list[str]:
    """The PARTIAL warning while a ``cost-mcp reprice --all`` has not finished: it commits a chunk of
    calls at a time, so a run killed half-way left totals mixing new and old prices, said nowhere."""
    started = meta.reprice_all_unfinished(conn)
    if started is None:
        return []
    line = (
        f"{PARTIAL} a `cost-mcp reprice --all` started at {started} has not finished (it is still "
        "running, or was stopped): some stored calls have today's prices and the others their old "
        "ones, so totals mix both. If it is not running, run `cost-mcp reprice --all` again"
    )
    return [gaps.said(line, gaps.ANY)]  # any stored call's price: every row


@functools.cache
def log_labels() -> dict[str, str]:
    """Each local-log source as people write it (``codex``: "Codex"), for the skipped-lines notes."""
    from cost_mcp.sources import agents  # not at import: the agent parsers are needed only here

    return {claude_code.SOURCE: "Claude Code", **agents.LABELS}


class LogReader:
    """Reads the configured Claude Code logs into the ledger on a thread of its own, until done.

    Thread-safe. ``open_conn`` opens a connection of the reader's own (the server's shared one stays
    free for queries; SQLite's WAL lets them read while the reader writes).
    """

    def __init__(
        self,
        settings: Settings,
        pricer: Pricer,
        open_conn: Callable[[], Conn],
        *,
        chunk_seconds: float = CHUNK_SECONDS,
    ) -> None:
        self._settings = settings
        self._pricer = pricer
        self._open_conn = open_conn
        self._chunk_seconds = chunk_seconds
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._read = 0
        self._left: int | None = None
        self._files_left: int | None = None
        self._started_at = ""
        self._started = 0.0

    @property
    def running(self) -> bool:
        """Whether a reading is under way."""
        return not self._idle.is_set()

    def start(self, *, read: int = 0, left: int | None = None, files_left: int | None = None) -> None:
        """Start reading unless already reading; ``read`` seeds what is already read of this backlog
        (by a query's own refresh), ``left`` what is known to be waiting."""
        with self._lock:
            if self.running or self._stop.is_set():
                return
            self._read, self._left, self._files_left = read, left, files_left
            self._started_at = datetime.now(UTC).isoformat()
            self._started = time.monotonic()
            self._idle.clear()
            self._thread = threading.Thread(target=self._run, name="cost-mcp-log-reader", daemon=True)
            self._thread.start()

    def continue_after(self, result: IngestResult) -> None:
        """Keep reading in the background what a query's own refresh left unread; what it read
        counts as read (its calls are in the answer)."""
        if not result.complete:
            self.start(read=result.bytes_read, left=result.bytes_pending, files_left=result.files_pending)

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the reading to finish; True when nothing is being read."""
        return self._idle.wait(max(timeout, 0.0))

    def settle(self, budget: float) -> bool:
        """Wait for the reading to finish, but only until ``budget`` seconds after it started: the
        first questions give a small backlog time to be read, later ones answer at once (labelled)."""
        return self.wait(self._started + budget - time.monotonic())

    def stop(self, timeout: float | None = None) -> None:
        """Stop after the current chunk (what it read is kept) and wait for the thread."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def progress(self) -> ReadProgress:
        """Where the reading stands now: "read" grows as each batch goes to the ledger (never less
        than the ledger counts), "left" shrinks as each batch is committed (never less than is left)."""
        with self._lock:
            if not self.running:
                return ReadProgress(complete=True)
            return ReadProgress(False, self._read, self._left, self._files_left, self._started_at)

    def _reading(self, before: int) -> claude_code.ProgressCallback:
        """What a chunk reports as it goes, added to what was read ``before`` it: its batches reach
        the ledger mid-chunk, and answers meanwhile must not say less was read than they count."""

        def seen(done: int, _total: int, _text: str) -> None:
            with self._lock:
                self._read = max(self._read, before + done)

        return seen

    def _leaving(self, left: int, files: int) -> None:
        """What a chunk reports is left as its batches commit (and as soon as its files are listed,
        so that a first chunk need not end before an answer can say how much is left)."""
        with self._lock:
            self._left, self._files_left = left, files

    def _run(self) -> None:
        from cost_mcp import sync
        from cost_mcp.analytics.alerts import fire_alerts

        conn: Conn | None = None
        try:
            conn = self._open_conn()
            started = time.perf_counter()
            while not self._stop.is_set():
                before, left_before = self._read, self._left
                result = sync.read_local_logs(
                    conn,
                    self._settings,
                    self._pricer,
                    self._chunk_seconds,
                    progress=self._reading(before),
                    left=self._leaving,
                )
                with self._lock:
                    if left_before is not None:
                        chunk = max(left_before - result.bytes_pending, 0)
                    else:
                        chunk = result.bytes_read
                    # Never less than the chunk's own reports said: the figure only grows.
                    self._read = max(self._read, before + chunk)
                    self._left, self._files_left = result.bytes_pending, result.files_pending
                if result.events_added:
                    fire_alerts(conn, self._settings)
                if result.complete:
                    logger.info(
                        "read the Claude Code log backlog (%.1f MB) in %.1fs",
                        self._read / 1e6,
                        time.perf_counter() - started,
                    )
                    break
        except LedgerNewerError as exc:
            # Every answer says it too (a ledger a newer release migrated): one line, no traceback.
            logger.error("reading Claude Code logs in the background stopped: %s", exc)
        except Exception:
            # The reader must never take the server down; queries then read logs themselves.
            logger.exception("reading Claude Code logs in the background failed")
        finally:
            if conn is not None:
                conn.close()
            self._idle.set()


# --- what unread bytes could still cost ------------------------------------------------------------


def unread(progress: ReadProgress, pricer: Pricer) -> Unread:
    """What a reading in progress leaves unaccounted for."""
    worst = worst_case_usd(progress.bytes_left, pricer)
    if progress.bytes_left is None:
        note = "Claude Code logs are still being read and how much is left is not measured yet"
    else:
        note = (
            f"Claude Code logs are still being read ({_mb(progress.bytes_left)} left, which could "
            f"hold up to ${worst:,.2f} of usage)"
        )
    return Unread(worst, note)


def worst_case_usd(bytes_left: int | None, pricer: Pricer) -> Decimal | None:
    """The most that ``bytes_left`` unread log bytes could add to spend; None when unknown (unbounded)."""
    if bytes_left is None:
        return None
    return (bytes_left // MIN_USAGE_LINE_BYTES) * max_line_usd(pricer)


def max_line_usd(pricer: Pricer) -> Decimal:
    """The most one usage line can cost: every token kind at the parser's cap, at the dearest rate."""
    rates = [_max_line(mp) for mp in _anthropic_prices()]
    rates += [_max_override(o.rates.rates, o.rates.per_request) for o in pricer.overrides]
    return max(max(rates, default=Decimal(0)) * CORRECTION_FACTOR, claude_code.MAX_CALL_COST)


@functools.cache
def _anthropic_prices() -> tuple[ModelPrice, ...]:
    # Here, not at the top: genai-prices (~10 ms of imports) is read only for the largest line's
    # cost, which an answer from an already-read ledger (a warm `cost-mcp report`) never asks for.
    from genai_prices import data_snapshot
    from genai_prices.types import ModelPrice

    tables: list[ModelPrice] = []
    for provider in data_snapshot.get_snapshot().providers:
        if provider.id != claude_code.PROVIDER:
            continue
        for model in provider.models:
            prices = model.prices
            if isinstance(prices, ModelPrice):
                tables.append(prices)
            else:
                tables.extend(c.prices for c in prices)
    return tuple(tables)


def _top(rate: Decimal | TieredPrices | None) -> Decimal:
    if rate is None:
        return Decimal(0)
    if isinstance(rate, Decimal):
        return rate
    return max([rate.base, *(t.price for t in rate.tiers)])


def _max_line(mp: ModelPrice) -> Decimal:
    cap = Decimal(tokens.MAX_CALL_TOKENS)
    inp = _top(mp.input_mtok)
    write = max(_top(mp.cache_write_mtok), _top(mp.cache_write_5m_mtok), _top(mp.cache_write_1h_mtok), inp)
    per_mtok = inp + max(_top(mp.cache_read_mtok), inp) + 2 * write + _top(mp.output_mtok)
    per_k = _top(mp.web_searches_kcount)
    return cap * per_mtok / 1_000_000 + cap * per_k / 1_000 + _top(mp.requests_kcount) / 1_000


def _max_override(rates: tuple[tuple[int, tuple[tuple[int, int], ...]], ...], per_request: int) -> Decimal:
    # Compiled override rates are integer pico-USD per token (per request for web search).
    top = [max([base, *(r for _, r in tiers)]) for base, tiers in rates]
    return Decimal(tokens.MAX_CALL_TOKENS * sum(top) + per_request) / 10**12
