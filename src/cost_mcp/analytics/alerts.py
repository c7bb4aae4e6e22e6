"""Budget alerts, in one place: evaluate thresholds, record each once, hand each out once, deliver.

Everything that changes what budgets have spent calls :func:`fire_alerts` afterwards (queries'
refresh, ingest, sync, record_usage, reprice; a server's received usage through
:class:`ReceivedUsageAlerts`); every answer carries :func:`take_alerts`. A command of the user's
that lowers spend (``reported forget``, ``reprice --all``) calls :func:`rearm_alerts` first. Both
``sync`` and the agent checks (``analytics/agents.py``) use this module, so neither imports the other.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from cost_mcp.money import format_usd, to_nanos
from cost_mcp.store import alerts as alert_store
from cost_mcp.store import budgets as budget_store
from cost_mcp.store import deliveries
from cost_mcp.store.connection import Conn

if TYPE_CHECKING:
    from cost_mcp.config import Settings
    from cost_mcp.core_settings import HasCoreSettings
    from cost_mcp.models import Budget, BudgetState
    from cost_mcp.notify import Destination

# ``analytics.budgets`` (the spend computation) and ``notify`` (the webhook client) are imported,
# and the full settings loaded, where a budget or a due delivery needs them: `cost-mcp ingest`
# calls fire_alerts on every run with the core settings (no pydantic), and on a ledger without
# budgets those imports were ~0.1 s of the command's 0.45 s start.

logger = logging.getLogger(__name__)

take_alerts = alert_store.take
"""Alerts not shown yet, marked shown: each rides in exactly one query result (store/alerts.py)."""


def evaluate_alerts(
    conn: Conn,
    settings: HasCoreSettings,
    now: datetime | None = None,
    *,
    states: Sequence[BudgetState] | None = None,
    since_ms: int | None = None,
    current: bool = True,
) -> list[tuple[Budget, str, dict[str, object]]]:
    """Fire every threshold crossed in the current period that has not fired yet.

    Each (budget, period, threshold) fires once, whichever process sees it first (the primary key
    decides). ``states`` are every budget's current states when the caller has them already (one
    spend computation for both); otherwise they are computed here, from one read of the ledger.
    ``since_ms``: the earliest call among usage just received (a server's pushes): the periods
    before the current one that it reaches back into are evaluated too (:func:`_late_alerts`);
    ``current=False`` evaluates only those (the current periods were evaluated since the last change).
    Returns the newly fired alerts with their webhook payloads, for delivery.
    """
    moment = now or datetime.now(UTC)
    rows = budget_store.all_budgets(conn)
    if not rows:
        return []
    from cost_mcp.analytics import budgets

    full = settings.full()
    if not current:
        states = []
    elif states is None:
        states = budgets.states_of(conn, full, [budgets.from_row(r) for r in rows], moment)
    by_name = {s.budget.name: s for s in states}
    fired: list[tuple[Budget, str, dict[str, object]]] = []
    for row in rows:
        state = by_name.get(row.name)
        if state is None:
            continue  # created after the caller computed its states: the next evaluation has it
        budget = state.budget
        target = budgets.destination(row)
        crossed = [t for t in budget.thresholds if state.spent_usd >= budget.amount_usd * t]
        new = [t for t in crossed if t not in state.fired_thresholds]
        if not new:
            continue
        keys = budgets.alert_keys(budgets.budget_period(budget, full, moment))
        make = functools.partial(_crossing_alerts, budget, state, keys[0], target, moment)
        for a in alert_store.record_crossing(conn, budget.name, keys, [str(t) for t in new], make):
            if not a.covered:
                fired.append((budget, a.message, json.loads(a.payload)))
    if since_ms is not None:
        fired += _late_alerts(conn, full, rows, moment, since_ms)
    return fired


LATE_ALERT_DAYS = 35
"""How far back usage that arrives late still alerts for the budget periods it falls in: a month's
budget, and a laptop back from a few weeks away; older usage is history, not news."""


def _late_alerts(
    conn: Conn, settings: Settings, rows: Sequence[budget_store.BudgetRow], moment: datetime, since_ms: int
) -> list[tuple[Budget, str, dict[str, object]]]:
    """Fire the thresholds that usage received late crossed in periods already over.

    A laptop offline over a weekend pushes Friday's calls on Monday: a daily (or, across the month's
    end, a monthly) team budget they took over its limit was evaluated only for the current period,
    so that crossing never alerted, and budget_status, which shows the current period, never said
    it either. Each period from the one holding ``since_ms`` (at most :data:`LATE_ALERT_DAYS` back)
    to the current one is evaluated as of its last instant, once the budget as it stands was set
    before the period ended (a budget set or changed later says nothing of periods before it). Its
    alerts are keyed by that period, so each still fires once, and say which period and that the
    usage arrived after it ended.
    """
    from cost_mcp.analytics import budgets

    changed = budget_store.changed_at(conn)
    floor = int(moment.timestamp() * 1000) - LATE_ALERT_DAYS * 86_400_000
    fired: list[tuple[Budget, str, dict[str, object]]] = []
    for row in rows:
        budget = budgets.from_row(row)
        current = budgets.budget_period(budget, settings, moment)
        set_ms = int(datetime.fromisoformat(changed.get(row.name, moment.isoformat())).timestamp() * 1000)
        at = max(since_ms, floor)
        while at < current.start_ms:
            p = budgets.budget_period(budget, settings, datetime.fromtimestamp(at / 1000, UTC))
            if p.start_ms >= current.start_ms:  # a clock change's odd instant: never the current one
                break
            at = p.end_ms
            if p.end_ms <= set_ms:
                continue
            last = datetime.fromtimestamp((p.end_ms - 1) / 1000, UTC)
            state = budgets.state_of(conn, settings, budget, last)
            new = [
                t
                for t in budget.thresholds
                if state.spent_usd >= budget.amount_usd * t and t not in state.fired_thresholds
            ]
            if not new:
                continue
            keys = budgets.alert_keys(p)
            target = budgets.destination(row)
            make = functools.partial(_crossing_alerts, budget, state, keys[0], target, moment, late=True)
            for a in alert_store.record_crossing(conn, budget.name, keys, [str(t) for t in new], make):
                if not a.covered:
                    fired.append((budget, a.message, json.loads(a.payload)))
    return fired


def _crossing_alerts(
    budget: Budget,
    state: BudgetState,
    period_start_ms: int,
    target: Destination | None,
    moment: datetime,
    thresholds: list[str],
    *,
    late: bool = False,
) -> list[alert_store.NewAlert]:
    """The alerts of ``thresholds`` crossed at once: one for the highest, shown and delivered,
    which names the lower ones it covers; the lower ones recorded as fired, covered by it.

    A budget set (or raised) when spend was already past 50%, 80% and 100% sent three alerts and
    three webhooks with the same figures; one saying "100%, covering 50% and 80%" tells the same.
    """
    *lower, top = sorted(Decimal(t) for t in thresholds)
    covers = [str(t) for t in lower]
    rows: list[alert_store.NewAlert] = []
    # A period already over when the usage that crossed it arrived: which one, and that it is late.
    when = (
        f" in the {budget.period} from {state.first_day}, with usage that arrived after it ended"
        if late
        else ""
    )
    for t in sorted(Decimal(t) for t in thresholds):
        passed = (
            f"budget '{budget.name}' passed {_percent(t)} of {format_usd(budget.amount_usd)} per "
            f"{budget.period}{when}: {format_usd(state.spent_usd)} spent ({state.percent}%)"
        )
        if t != top:
            message = f"{passed}; in the {_percent(top)} alert"
        elif lower:
            message = f"{passed}; covers {_and(lower)} too, crossed at the same time"
        else:
            message = passed
        payload: dict[str, object] = {
            "budget": budget.name,
            "threshold": str(t),
            "covers": covers if t == top else [],
            "period": budget.period,
            "period_start": state.period_start,
            "period_end": state.period_end,
            "limit_usd": str(budget.amount_usd),
            "spent_usd": str(state.spent_usd),
            "percent": state.percent,
            "status": state.status,
            "message": message,
        }
        rows.append(
            alert_store.NewAlert(
                budget=budget.name,
                period_start_ms=period_start_ms,
                threshold=str(t),
                fired_at=moment.isoformat(),
                spent_nanos=to_nanos(state.spent_usd),
                message=message,
                destination=target.encode() if target else None,
                payload=json.dumps(payload),
                covered=t != top,
            )
        )
    return rows


def _percent(threshold: Decimal) -> str:
    return f"{threshold * 100:.0f}%"


def _and(thresholds: list[Decimal]) -> str:
    words = [_percent(t) for t in thresholds]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def rearm_alerts(conn: Conn, settings: HasCoreSettings, now: datetime | None = None) -> list[str]:
    """Forget the fired thresholds of each budget's current period that its spend no longer reaches,
    after a command of the user's lowered spend; one line per budget saying which (and where spend
    stands now).

    Such a threshold fired on spend that the ledger now says was never made (a call forgotten, a
    price corrected down), so it alerts again when real spend crosses it, rather than stay silent
    for the rest of the period. A threshold still reached stays fired (no second alert for the same
    crossing), and past periods' alerts stay as the record of what was sent. Spend that falls on its
    own (a provider's bill replacing estimates) re-arms nothing, nor does ``ingest --forget`` (its
    files are often read again): either would alert again for the same spend.
    """
    moment = now or datetime.now(UTC)
    rows = budget_store.all_budgets(conn)
    if not rows:
        return []
    from cost_mcp.analytics import budgets

    every = [budgets.from_row(r) for r in rows]
    return [
        f"budget '{budget.name}': {', '.join(f'{Decimal(t) * 100:.0f}%' for t in below)} will alert again "
        f"when crossed ({format_usd(spent)} of {format_usd(budget.amount_usd)} spent now)"
        for budget, below, spent in budgets.rearm_unreached(conn, settings.full(), every, moment)
    ]


def fire_alerts(
    conn: Conn,
    settings: HasCoreSettings,
    *,
    states: Sequence[BudgetState] | None = None,
    now: datetime | None = None,
    since_ms: int | None = None,
) -> threading.Thread | None:
    """Fire budget thresholds crossed and not fired yet, and POST the alerts due to a webhook.

    Called whenever budgets are read (every query's refresh, ingest, sync), so a budget already
    over its limit fires without waiting for new usage. ``states``: every budget's state as of
    ``now``, when the caller computed them already. Delivery runs on a background thread, returned so tests
    can wait for it (None when none was started); the CLI waits for it at exit. ``since_ms``: the
    earliest call of usage just received, whose past periods are evaluated too (:func:`evaluate_alerts`).
    """
    # Evaluating is a spend computation: skip it when nothing in the ledger changed since this
    # connection last did it (no write of ours, none committed by another process), which is most
    # queries. Budgets, usage and billed data all change the ledger; so does a new day's alert.
    key = (*alert_store.ledger_version(conn), _half_hour())
    fresh = states is not None or conn.alerts_checked != key
    # Usage received for past periods is evaluated whatever this connection saw: a query may have
    # evaluated the current periods since it arrived, and no query evaluates past ones.
    if fresh or since_ms is not None:
        fired = evaluate_alerts(conn, settings, now, states=states, since_ms=since_ms, current=fresh)
        for _, message, _ in fired:
            logger.warning("%s", message)
        conn.alerts_checked = (*alert_store.ledger_version(conn), _half_hour())
    if not deliveries.any_due(conn, int(time.time() * 1000)):
        return None
    from cost_mcp import notify

    return notify.start(settings.full())


def resume_deliveries(conn: Conn, settings: HasCoreSettings) -> threading.Thread | None:
    """Deliver the alerts left pending in the ledger (by this server before a restart, or by a CLI
    run whose POST failed), each when its retry is due, on a background thread.

    Deliveries otherwise start where budgets are evaluated, and only when one is due at that moment,
    so a server restarted with a retry to make later made it only once a question or new usage came.
    """
    if deliveries.seconds_to_next(conn, int(time.time() * 1000)) is None:
        return None
    from cost_mcp import notify

    return notify.start(settings.full())


def settle_deliveries(conn: Conn) -> None:
    """Wait briefly for the alert deliveries this process is making now (:func:`notify.settle`)."""
    from cost_mcp import notify

    notify.settle(conn)


def _half_hour() -> int:
    # Periods turn over on a whole or half hour (timezone offsets), so a verdict is kept for half an
    # hour at most.
    return int(time.time() // 1800)


RECEIVED_ALERT_DELAY_SECONDS = 5.0
"""How long a server waits after storing received usage before evaluating budgets: the requests of a
burst (every laptop's exporter, a push's batches) share one evaluation, so a server under a steady
stream spends at most one budget evaluation (a spend query, holding the ledger) per 5 s on them, and
an alert still leaves within seconds of the call that crossed its threshold."""


class ReceivedUsageAlerts:
    """Budgets evaluated soon after a server stores usage it received (OTLP events, pushes).

    Queries, ingest and sync evaluate budgets as they go; usage that arrives over HTTP would
    otherwise wait for someone to ask a question, so a webhook alert came late, or never on a server
    nobody queries. :meth:`note` after each write that stored usage; one background thread evaluates
    budgets :data:`RECEIVED_ALERT_DELAY_SECONDS` later, once for all writes noted meanwhile.
    """

    def __init__(
        self,
        use: Callable[[], AbstractContextManager[Conn]],
        settings: HasCoreSettings,
        delay: float = RECEIVED_ALERT_DELAY_SECONDS,
    ) -> None:
        """``use``: a ledger connection for the duration of a block (``Ledger.use``)."""
        self._use = use
        self._settings = settings
        self._delay = delay
        self._due = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._since_ms: int | None = None

    def note(self, earliest_ms: int | None = None) -> None:
        """Usage was just stored: evaluate budgets within the delay. ``earliest_ms``: its earliest
        call, when it may be late (a push): the budget periods over since then are evaluated too."""
        with self._lock:
            if earliest_ms is not None:
                self._since_ms = earliest_ms if self._since_ms is None else min(self._since_ms, earliest_ms)
        self._due.set()
        with self._lock:
            if self._stop.is_set() or (self._thread is not None and self._thread.is_alive()):
                return
            self._thread = threading.Thread(target=self._run, name="cost-mcp-received-alerts", daemon=True)
            self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Stop evaluating (an evaluation in progress ends first, up to ``timeout`` seconds)."""
        with self._lock:
            self._stop.set()
            self._due.set()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._due.wait()
            if self._stop.wait(self._delay):
                return
            self._due.clear()  # writes noted from here on get the next evaluation
            with self._lock:
                since, self._since_ms = self._since_ms, None
            try:
                with self._use() as conn:
                    fire_alerts(conn, self._settings, since_ms=since)
            except Exception:
                # The receiver must keep running; the next write, or any query, evaluates again.
                logger.exception("evaluating budgets after received usage failed")
