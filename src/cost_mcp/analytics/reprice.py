"""Pricing again the stored calls that had no known price, once their price is known.

A call of a model with no price is stored unpriced (never at $0) and every answer says so, with the
advice to add the model to the price override file. :func:`reprice_unpriced` gives its prices to the
calls already stored, from any source (logs, ``record_usage``, OpenTelemetry, pushes), which
re-reading the logs (``ingest --full``) could not do for calls that came from no log. Every refresh
runs :func:`follow_price_file`, so an edit of the file prices them without a command or a restart.

:func:`reprice_all` (``cost-mcp reprice --all``) prices every stored call again with today's prices:
a release that adds or fixes a correction, or a newer genai-prices, otherwise leaves the calls
stored before it at the price they were stored with.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from cost_mcp.analytics.vocabulary import model_label
from cost_mcp.money import from_nanos
from cost_mcp.periods import ms_to_datetime
from cost_mcp.pricing import Price, Pricer, Unpriced
from cost_mcp.store import events, meta, rollup
from cost_mcp.store import team as team_store
from cost_mcp.store.connection import Conn, write_transaction

if TYPE_CHECKING:
    from cost_mcp.core_settings import HasCoreSettings


@dataclass(frozen=True)
class RepriceResult:
    """What a re-price did: calls now priced, what they add, and the calls still without a price."""

    priced: int
    added_usd: Decimal
    still_unpriced: dict[str, int]
    """Model: calls."""


def _price(pricer: Pricer, call: events.UnpricedCall) -> Price | Unpriced:
    """A stored call priced as it would be if stored now, at its own time (as on ingest)."""
    return pricer.price(
        call.tokens,
        call.model,
        call.provider or None,
        ms_to_datetime(call.ts_ms),
        speed=call.speed or None,
        service_tier=call.service_tier or None,
        inference_geo=call.inference_geo or None,
    )


def reprice_unpriced(conn: Conn, pricer: Pricer, settings: HasCoreSettings | None = None) -> RepriceResult:
    """Price every counted call stored with no known price that ``pricer`` now prices (its override
    file, or a newer genai-prices), as it would have been priced when made; one transaction.

    With ``settings`` (``cost-mcp reprice``), budget alerts are then evaluated once, as after any
    write that adds spend: a threshold the newly priced calls cross alerts now, not at the next
    unrelated write. Without (a refresh's :func:`follow_price_file`), the refresh evaluates them."""
    priced: list[tuple[int, int, str, str]] = []
    moments: list[int] = []
    still: dict[str, int] = defaultdict(int)
    # Read under the write lock: a copy of a call stored meanwhile with more tokens (the status line
    # reading a growing transcript, by a pricer without this price) was given the price of the
    # tokens read before it, for good (a price is only ever set on an unpriced call).
    with write_transaction(conn):
        for call in events.unpriced_calls(conn):
            price = _price(pricer, call)
            if isinstance(price, Price):
                priced.append((call.id, price.total_nanos, price.model_id, "; ".join(price.assumptions)))
                moments.append(call.ts_ms)
            else:
                still[model_label(call.model)] += 1
        if priced:
            events.set_prices(conn, priced, moments)
            meta.note_pricing(conn)
    if priced:
        # From the earliest call it priced on: marks of a running ``reprice --all`` before it stay
        # for the question that reads them, not rebuilt here under the write lock.
        rollup.refresh(conn, min(moments))
        if settings is not None:
            from cost_mcp.analytics.alerts import fire_alerts

            fire_alerts(conn, settings)
    return RepriceResult(
        priced=len(priced),
        added_usd=from_nanos(sum(nanos for _, nanos, _, _ in priced)),
        still_unpriced=dict(sorted(still.items())),
    )


def follow_price_file(conn: Conn, pricer: Pricer, path: Path) -> RepriceResult | None:
    """Take the override file's prices if it changed (:meth:`Pricer.follow_file`), and, once per
    content of the file per ledger, price the stored calls it now prices; None when there was
    nothing to do. A broken file changes nothing (``pricer.file_problem`` says why).

    The ledger keeps which content was applied, so a server started before the edit, a CLI run
    after it, or a ledger upgraded from before this existed each price those calls once.
    """
    pricer.follow_file(path)
    digest = pricer.overrides_digest
    if pricer.file_problem is not None or meta.overrides_applied(conn, unless=digest) == digest:
        return None
    result = reprice_unpriced(conn, pricer)
    with write_transaction(conn):
        meta.set_overrides_applied(conn, digest)
    return result


def _differs(found: events.PricedCall, price: Price) -> bool:
    """Whether ``price`` is not what the call stores: its cost, or (the same cost) its priced model
    or note, which are written too."""
    note = "; ".join(price.assumptions)
    return (price.total_nanos, price.model_id, note) != (
        found.cost_nanos,
        found.priced_model,
        found.price_note,
    )


def _still(
    conn: Conn, pricer: Pricer, pending: list[tuple[events.PricedCall, Price]]
) -> list[tuple[events.PricedCall, Price]]:
    """Under the write lock: the calls priced outside it as they are now. One changed meanwhile (a
    growing transcript read again, with its own new price) is priced again as it stands; one gone or
    no longer counted is left alone."""
    now = {c.call.id: c for c in events.priced_calls_by_id(conn, [found.call.id for found, _ in pending])}
    out: list[tuple[events.PricedCall, Price]] = []
    for found, price in pending:
        current = now.get(found.call.id)
        if current == found:
            out.append((found, price))
        elif current is not None:
            again = _price(pricer, current.call)
            if isinstance(again, Price) and _differs(current, again):
                out.append((current, again))
    return out


REPRICE_CHUNK = 5_000
"""Calls read, priced and written at a time by :func:`reprice_all`: memory stays bounded on a ledger
of millions of calls, and other writers wait for one chunk's write at most, not the whole run."""


@dataclass(frozen=True)
class ModelRepriced:
    """One model's calls whose price changes: their stored prices before and after, summed."""

    model: str
    calls: int
    before_usd: Decimal
    after_usd: Decimal


@dataclass(frozen=True)
class RepriceAllResult:
    """What pricing every stored call again changes (or changed, unless ``dry_run``)."""

    dry_run: bool
    checked: int
    """Counted calls stored with a price, all looked at."""
    changed: int
    """Of them, calls whose price is not what today's prices give."""
    models: list[ModelRepriced]
    """The changed calls per model (the model the call reported), most changed first."""
    difference_usd: Decimal
    """After minus before, over the changed calls (exact)."""
    reported_cost_calls: int
    """Changed calls that carry their agent's own reported cost, which spend counts instead of the
    price (unless the cost mode is ``calculate``): their change moves no budget."""
    kept: dict[str, int] = field(default_factory=dict)
    """Model: calls today's prices cannot price (a model left the override file...), which keep
    their stored price."""
    alerts_rearmed: list[str] = field(default_factory=list)
    """Per budget, the thresholds of its current period that spend fell back under: each alerts
    again when crossed (:func:`cost_mcp.analytics.alerts.rearm_alerts`)."""
    warnings: list[str] = field(default_factory=list)


def reprice_all(
    conn: Conn,
    pricer: Pricer,
    settings: HasCoreSettings,
    *,
    dry_run: bool = False,
    chunk: int = REPRICE_CHUNK,
) -> RepriceAllResult:
    """Price every counted call stored with a price again, exactly as it would be priced if stored
    now at its time (the same :meth:`Pricer.price` as on ingest), and store the new price where it
    differs (with ``dry_run``, only say what would change). The agent's own reported cost, provider
    billing and subscriptions are not touched; calls with no price are :func:`reprice_unpriced`'s.

    A transaction per chunk of calls; the rollup is then rebuilt for the quarter-hours touched, the
    thresholds that spend fell back under are re-armed (lower prices: they fired on spend the
    ledger no longer holds), and budget alerts are evaluated once, as after any write that changes
    spend."""
    before: dict[str, int] = defaultdict(int)
    after: dict[str, int] = defaultdict(int)
    calls: dict[str, int] = defaultdict(int)
    kept: dict[str, int] = defaultdict(int)
    checked = reported = 0
    last_id = 0
    if not dry_run:
        # Committed before the first chunk: a run killed half-way leaves mixed prices, and every
        # answer says so until a run ends (meta.note_repriced_all clears it).
        with write_transaction(conn):
            meta.note_reprice_all_started(conn)
    while True:
        # Read and priced outside the write lock, which is taken only to write: a reprice that held
        # it for each whole chunk took it again the moment it let go, and a server's budget check
        # waited for it up to 12 s on a ledger of 3M calls (SQLite's waiting is no queue).
        stored = events.priced_calls_after(conn, last_id, chunk)
        if not stored:
            break
        pending: list[tuple[events.PricedCall, Price]] = []
        for found in stored:
            price = _price(pricer, found.call)
            if not isinstance(price, Price):
                kept[model_label(found.call.model)] += 1
            elif _differs(found, price):
                pending.append((found, price))
        if pending and not dry_run:
            with write_transaction(conn):
                pending = _still(conn, pricer, pending)
                changes = [
                    (found.call.id, price.total_nanos, price.model_id, "; ".join(price.assumptions))
                    for found, price in pending
                ]
                if changes:
                    events.set_prices(
                        conn, changes, [found.call.ts_ms for found, _ in pending], only_unpriced=False
                    )
                    meta.note_pricing(conn)
        for found, price in pending:
            if price.total_nanos != found.cost_nanos:
                model = model_label(found.call.model)
                calls[model] += 1
                before[model] += found.cost_nanos
                after[model] += price.total_nanos
                reported += found.reported_cost
        checked += len(stored)
        last_id = stored[-1].call.id
    warnings: list[str] = []
    rearmed: list[str] = []
    if not dry_run:
        with write_transaction(conn):
            meta.note_pricing(conn)
            meta.note_repriced_all(conn)
        refreshed = rollup.refresh_by_weeks(conn)  # a server's checks get the lock between weeks
        if refreshed == rollup.TOO_LARGE:
            warnings.append(team_store.too_large_warning(conn))
        elif refreshed < 0:
            warnings.append(
                rollup.STALE_WARNING
            )  # stored and marked: the next answer that can write rebuilds
        if calls:
            from cost_mcp.analytics.alerts import fire_alerts, rearm_alerts

            rearmed = rearm_alerts(conn, settings)
            fire_alerts(conn, settings)
    models = [
        ModelRepriced(m, calls[m], from_nanos(before[m]), from_nanos(after[m]))
        for m in sorted(calls, key=lambda m: (-abs(after[m] - before[m]), m))
    ]
    return RepriceAllResult(
        dry_run=dry_run,
        checked=checked,
        changed=sum(calls.values()),
        models=models,
        difference_usd=from_nanos(sum(after.values()) - sum(before.values())),
        reported_cost_calls=reported,
        kept=dict(sorted(kept.items())),
        alerts_rearmed=rearmed,
        warnings=warnings,
    )
