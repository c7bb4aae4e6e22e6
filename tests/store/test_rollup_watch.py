"""A log read's ``rollup.watch`` notes the quarter-hours its own connection writes, and only those.

The open watches were a module-wide dict keyed by ``id(conn)``, shared by every thread; they now
live on the connection. Two readers on two connections (two threads of a server, or a server and a
CLI command in one process) each rebuild from their own first call, not from the other's.
"""

from __future__ import annotations

import threading
from contextlib import closing

from cost_mcp.config import Settings
from cost_mcp.store import rollup
from cost_mcp.store.connection import Conn, connect, write_transaction

QH = rollup.QUARTER_HOUR_MS
EARLY, LATE = 1_000 * QH, 2_000 * QH  # two instants a quarter-hour start apart


def _mark(conn: Conn, ts_ms: int) -> None:
    with write_transaction(conn):
        rollup.mark_dirty(conn, [ts_ms])


def test_two_connections_watching_at_once_note_their_own_writes(conn: Conn, settings: Settings) -> None:
    with closing(connect(settings.db)) as other:
        with rollup.watch(conn) as mine, rollup.watch(other) as theirs:
            _mark(other, EARLY)
            _mark(conn, LATE)
            with rollup.watch(conn) as inner:  # a read inside a read: both note what follows
                _mark(conn, LATE + QH)
        assert (mine.first_qh, theirs.first_qh, inner.first_qh) == (LATE // QH, EARLY // QH, LATE // QH + 1)
        # Closed, they note nothing more: a later write of either is no block's.
        with rollup.watch(other) as after:
            _mark(conn, EARLY)
        assert after.first_qh is None and mine.first_qh == LATE // QH
        assert not conn.rollup_watches and not other.rollup_watches


def test_two_threads_watching_their_connections_at_once(conn: Conn, settings: Settings) -> None:
    """Each thread opens its watch, both write while both are open, then each reads what it noted."""
    both_open = threading.Barrier(2, timeout=60)
    both_written = threading.Barrier(2, timeout=60)
    noted: dict[int, int | None] = {}
    failures: list[BaseException] = []

    def read(ts_ms: int) -> None:
        try:
            with closing(connect(settings.db)) as own, rollup.watch(own) as changes:
                both_open.wait()
                _mark(own, ts_ms)
                both_written.wait()
                noted[ts_ms] = changes.first_qh
        except BaseException as exc:  # reported by the test, not lost in the thread
            failures.append(exc)
            both_open.abort()
            both_written.abort()

    threads = [threading.Thread(target=read, args=(ts,)) for ts in (EARLY, LATE)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    assert noted == {EARLY: EARLY // QH, LATE: LATE // QH}
