"""Pricing again the stored calls that had no known price, once their price is known.

A call of a model with no price is stored unpriced (never at $0) and every answer says so, with the
advice to add the model to the price override file. :func:`reprice_unpriced` gives its prices to the
calls already stored, from any source (logs, ``record_usage``, OpenTelemetry, pushes), which
re-reading the logs (``ingest --full``) could not do for calls that came from no log. Every refresh
runs :func:`follow_price_file`, so an edit of the file prices them without a command or a restart.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from cost_mcp.money import from_nanos
from cost_mcp.periods import ms_to_datetime
from cost_mcp.pricing import Price, Pricer
from cost_mcp.store import events, meta, rollup
from cost_mcp.store.connection import Conn, write_transaction


@dataclass(frozen=True)
class RepriceResult:
    """What a re-price did: calls now priced, what they add, and the calls still without a price."""

    priced: int
    added_usd: Decimal
    still_unpriced: dict[str, int]
    """Model: calls."""


def reprice_unpriced(conn: Conn, pricer: Pricer) -> RepriceResult:
    """Price every counted call stored with no known price that ``pricer`` now prices (its override
    file, or a newer genai-prices), as it would have been priced when made; one transaction."""
    priced: list[tuple[int, int, str, str]] = []
    moments: list[int] = []
    still: dict[str, int] = defaultdict(int)
    for call in events.unpriced_calls(conn):
        price = pricer.price(
            call.tokens,
            call.model,
            call.provider or None,
            ms_to_datetime(call.ts_ms),
            speed=call.speed or None,
            service_tier=call.service_tier or None,
            inference_geo=call.inference_geo or None,
        )
        if isinstance(price, Price):
            priced.append((call.id, price.total_nanos, price.model_id, "; ".join(price.assumptions)))
            moments.append(call.ts_ms)
        else:
            still[call.model or "(model not reported)"] += 1
    if priced:
        with write_transaction(conn):
            events.set_prices(conn, priced, moments)
            meta.note_pricing(conn)
        rollup.refresh(conn)
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
