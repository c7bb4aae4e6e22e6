"""Which price data priced the ledger's rows, kept in ``meta`` so that re-pricing is possible.

Every write of rows priced on this machine (Claude Code logs, agent logs, ``record_usage``, OTLP
events) calls :func:`note_price_data` in its transaction. ``meta`` then holds, under
:data:`PRICE_DATA_KEY`, the list of genai-prices versions (and the date of their price data,
when it has one) in the order they were first used: rows stored after an entry's ``first_used``
and before the next entry's were priced with it, so an upgrade that corrects a price says which
rows to price again (``cost-mcp reprice --all`` prices every stored call with today's prices).
Each entry also names the set of price corrections in use (``corrections``).
"""

from __future__ import annotations

import contextlib
import json
import weakref
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from cost_mcp.store.connection import Conn

PRICE_DATA_KEY = "price_data"


@dataclass(frozen=True)
class PriceDataUse:
    """One version of the price data, and when this ledger first stored a row it priced."""

    version: str
    """The genai-prices package version."""
    data_date: str | None
    """When its price data was published, if it says (fetched data does; bundled data does not)."""
    first_used: str
    """ISO 8601 UTC instant of the first write priced with it."""
    corrections: str | None = None
    """:func:`cost_mcp.pricing_corrections.corrections_digest` of the corrections priced with it
    (None: recorded by a release that did not say)."""


# What each open connection already found recorded, so that a write batch costs no extra
# statement after the first: (version, data_date, corrections). A write rolled back after recording is
# recorded again by the next connection.
_noted: weakref.WeakKeyDictionary[object, tuple[str, str | None, str | None]] = weakref.WeakKeyDictionary()


def note_price_data(
    conn: Conn,
    version: str,
    data_date: str | None,
    now: datetime | None = None,
    *,
    corrections: str | None = None,
) -> None:
    """Record, inside the caller's write transaction, that rows are being priced with ``version``
    (and the corrections set ``corrections``); a new entry is appended only when it differs from
    the latest one recorded."""
    current = (version, data_date, corrections)
    try:
        if _noted.get(conn) == current:
            return
    except TypeError:  # a connection type that cannot be weakly referenced: no cache
        pass
    history = price_data_history(conn)
    if not history or (history[-1].version, history[-1].data_date, history[-1].corrections) != current:
        at = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
        history.append(PriceDataUse(version, data_date, at, corrections))
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (PRICE_DATA_KEY, json.dumps([asdict(h) for h in history])),
        )
    with contextlib.suppress(TypeError):
        _noted[conn] = current


def note_pricing(conn: Conn) -> None:
    """:func:`note_price_data` with the price data in use now (the write paths' one call)."""
    from cost_mcp.pricing import genai_prices_loaded, price_data
    from cost_mcp.pricing_corrections import corrections_digest

    if not genai_prices_loaded():
        # Every price came from plans saved in this ledger (the status line), and the process that
        # saved them loaded genai-prices and recorded its version here then: nothing new to note,
        # and finding the version would cost the status line more than its whole time budget.
        return
    note_price_data(conn, *price_data(), corrections=corrections_digest())


def price_data_history(conn: Conn) -> list[PriceDataUse]:
    """Every price data version that priced rows of this ledger, oldest first (none recorded: [])."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (PRICE_DATA_KEY,)).fetchone()
    if row is None:
        return []
    try:
        return [
            PriceDataUse(str(h["version"]), h.get("data_date"), str(h["first_used"]), h.get("corrections"))
            for h in json.loads(row[0])
        ]
    except (ValueError, TypeError, KeyError):
        return []  # written by hand or damaged: the next priced write starts the list again


REPRICED_ALL_KEY = "price_data_repriced_all"
"""When ``cost-mcp reprice --all`` last priced every stored call again (ISO 8601 UTC): the entries of
the history before the one then in force priced no row the ledger still holds at their price."""


REPRICE_ALL_STARTED_KEY = "reprice_all_started"
"""When a ``cost-mcp reprice --all`` that has not finished started (ISO 8601 UTC). It commits a
chunk of calls at a time, so until it ends (or after it was killed) some stored calls carry the new
prices and the others their old ones: answers say so (:func:`reprice_all_unfinished`)."""


def note_reprice_all_started(conn: Conn, now: datetime | None = None) -> None:
    """Record, inside the caller's write transaction, that a ``reprice --all`` starts now."""
    at = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (REPRICE_ALL_STARTED_KEY, at),
    )


def reprice_all_unfinished(conn: Conn) -> str | None:
    """When the ``reprice --all`` still running, or stopped before its end, started; None if none."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (REPRICE_ALL_STARTED_KEY,)).fetchone()
    return None if row is None else str(row[0])


def note_repriced_all(conn: Conn, now: datetime | None = None) -> None:
    """Record, inside the caller's write transaction (which also called :func:`note_pricing`), that
    every stored call was priced again with the price data in use now (and so that no ``reprice
    --all`` is left unfinished)."""
    at = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (REPRICED_ALL_KEY, at),
    )
    conn.execute("DELETE FROM meta WHERE key = ?", (REPRICE_ALL_STARTED_KEY,))


def price_data_in_force(conn: Conn) -> list[PriceDataUse]:
    """The entries of :func:`price_data_history` whose prices stored calls may still carry: all of
    them, or, after a ``reprice --all``, the one in use then and every later one."""
    history = price_data_history(conn)
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (REPRICED_ALL_KEY,)).fetchone()
    if row is None or not history:
        return history
    # Same format as first_used (UTC, seconds), so the strings order as the instants do.
    started = [i for i, h in enumerate(history) if h.first_used <= str(row[0])]
    return history[started[-1] :] if started else history


OVERRIDES_KEY = "price_overrides_applied"


# The digest each open connection last read or wrote: every refresh asks (check_budget's too), and
# once this connection has seen a content applied, only the file's next change can change that.
_applied: weakref.WeakKeyDictionary[object, str] = weakref.WeakKeyDictionary()


def overrides_applied(conn: Conn, unless: str | None = None) -> str:
    """The digest of the price override file whose prices the stored unpriced calls were last
    offered (see :func:`cost_mcp.analytics.reprice.follow_price_file`); "" when never. ``unless``:
    a digest this connection already found applied is returned without reading the ledger."""
    try:
        if unless is not None and _applied.get(conn) == unless:
            return unless
    except TypeError:  # a connection type that cannot be weakly referenced: no cache
        pass
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (OVERRIDES_KEY,)).fetchone()
    found = str(row[0]) if row is not None else ""
    with contextlib.suppress(TypeError):
        _applied[conn] = found
    return found


def set_overrides_applied(conn: Conn, digest: str) -> None:
    """Record :func:`overrides_applied`, inside the caller's write transaction."""
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (OVERRIDES_KEY, digest),
    )
    with contextlib.suppress(TypeError):
        _applied[conn] = digest
