"""``reprice --all``'s final rebuild, a week of quarter-hours per transaction, lets a waiting writer in
between two weeks.

It took the write lock again the moment it let go of it: a server's budget check, whose hold is a
write, polls for the lock (SQLite's busy handler, every 100 ms) and waited 9-12 s for it on a ledger
of 3M calls. Between two weeks that wrote, the lock now stays free long enough for one poll.
"""

from __future__ import annotations

from contextlib import closing
from datetime import UTC, datetime, timedelta

import pytest

from cost_mcp.config import Settings
from cost_mcp.store import rollup
from cost_mcp.store.connection import Conn, connect, lock_timeout, write_transaction


def test_a_writer_gets_the_lock_between_two_weeks_of_the_rebuild(
    conn: Conn, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    marked = [now - timedelta(days=days) for days in (0, 7, 14, 60)]  # three weeks in a row, one apart
    with write_transaction(conn):
        rollup.mark_dirty(conn, [int(at.timestamp() * 1000) for at in marked])
    let_in = rollup.let_writers_in
    writes: list[int] = []  # quarter-hours still marked when a writer got in

    with closing(connect(settings.db)) as server:

        def writer_waits_meanwhile(on: Conn) -> None:
            let_in(on)
            with lock_timeout(server, 1), write_transaction(server):  # refused if the lock were held
                writes.append(len(server.execute("SELECT qh FROM rollup_dirty").fetchall()))

        monkeypatch.setattr(rollup, "let_writers_in", writer_waits_meanwhile)
        assert rollup.refresh_by_weeks(conn) == len(marked)
    # After each week that wrote but the last: the newest week's, the next two, then nothing
    # marked until the oldest (a week without marks takes no lock, so no pause after it).
    assert writes == [3, 2, 1]
