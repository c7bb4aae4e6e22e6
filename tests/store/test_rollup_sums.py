"""`rollup.group_sums` (what the log reader and team pushes add to the rollup without a rebuild)
gives exactly what the rebuild sums in SQL, for every mix of priced, unpriced and logged costs."""

from __future__ import annotations

import pytest

from cost_mcp import tokens
from cost_mcp.store import rollup
from cost_mcp.store.connection import Conn, write_transaction
from cost_mcp.store.usage import insert_reported
from tests.store.reported_calls import reported_call

TS = 1_793_000_000_000  # one quarter-hour holds every call below

CASES = {
    "priced, nothing logged": ([100, 200, 300], [None, None, None]),
    "one unpriced, nothing logged": ([100, None, 300], [None, None, None]),
    "a logged cost beside priced ones": ([100, 200, 300], [None, 5_000, None]),
    "a logged cost on an unpriced call": ([None, 200, None], [7_000, None, None]),
    "every cost logged": ([100, 200, 300], [1, 2, 3]),
    "a single unpriced call": ([None], [None]),
}


@pytest.mark.parametrize(("costs", "logged"), list(CASES.values()), ids=list(CASES))
def test_group_sums_equal_the_rebuilds(conn: Conn, costs: list[int | None], logged: list[int | None]) -> None:
    counts = [tuple(10 * (i + 1) + k for k in range(len(tokens.COLUMNS))) for i in range(len(costs))]
    for i, (cost, count) in enumerate(zip(costs, counts, strict=True)):
        assert insert_reported(conn, reported_call(f"m{i}", TS + i, tokens=count, cost_nanos=cost))
    with write_transaction(conn):
        for i, reported in enumerate(logged):
            conn.execute(
                "UPDATE usage_events SET reported_cost_nanos = ? WHERE message_id = ?", (reported, f"m{i}")
            )
        rollup.rebuild(conn, {TS // rollup.QUARTER_HOUR_MS})
    sums = ", ".join(rollup.ROLLUP_SUMS)
    stored = conn.execute(f"SELECT {sums} FROM usage_rollup").fetchall()
    assert [[int(v) for v in row] for row in stored] == [
        rollup.group_sums(list(zip(*counts, strict=True)), costs, logged)
    ]
