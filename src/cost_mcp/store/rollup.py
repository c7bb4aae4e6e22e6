"""Keeping ``usage_rollup`` equal to the counted usage events, quarter-hour by quarter-hour, and
``usage_rollup_hour`` equal to ``usage_rollup`` summed per UTC hour.

Whoever changes usage events marks the quarter-hours of the rows it touches, before the change
(their old times) and after (their new times), with :func:`mark_dirty` inside the same
transaction. :func:`refresh` rebuilds the dirty quarter-hours from the events; it runs at the end
of an ingest and before every spend query. Rebuilding from events is idempotent, so the rollup can
never drift from them, even when a recount moves which copy of a call counts, and a large ingest
rebuilds each quarter-hour once instead of once per batch.

The hourly level (issue 22) holds about 2.5 times fewer rows (1M events over 90 days: 11,022 against
28,015), and is what spend queries read for every hour that lies whole inside one class of their
rows (one local day, one billed day): :func:`read_sql` takes quarter-hours only at the edges, such as
the local midnights of a timezone 30 or 45 minutes off UTC, so answers stay exact.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import cast

from cost_mcp.store.connection import Conn

QUARTER_HOUR_MS = 900_000
QH_PER_HOUR = 4


def mark_dirty(conn: Conn, ts_ms: Iterable[int]) -> None:
    """Mark the quarter-hours of these instants."""
    conn.executemany(
        "INSERT INTO rollup_dirty (qh) VALUES (?) ON CONFLICT DO NOTHING",
        ((qh,) for qh in {t // QUARTER_HOUR_MS for t in ts_ms}),
    )


STALE_WARNING = (
    "the newest calls are not in this answer yet: another process was writing the ledger (or it is "
    "read-only), and answering did not wait for it; ask again in a moment"
)


def refresh(conn: Conn) -> int:
    """Rebuild every dirty quarter-hour in one transaction; returns how many were rebuilt, or -1
    when it could not (a read-only ledger, or another process holding the write lock for longer
    than a query waits): the answer then comes from the rollup as it is, with STALE_WARNING."""
    if conn.execute("SELECT 1 FROM rollup_dirty LIMIT 1").fetchone() is None:
        return 0
    from cost_mcp.store.connection import REFRESH_LOCK_TIMEOUT_MS, is_busy, lock_timeout, write_transaction

    if getattr(conn, "read_only", False):
        return -1
    try:
        with lock_timeout(conn, REFRESH_LOCK_TIMEOUT_MS), write_transaction(conn):
            qhs = [int(r[0]) for r in conn.execute("SELECT qh FROM rollup_dirty")]
            rebuild(conn, qhs)
            conn.execute("DELETE FROM rollup_dirty")
    except sqlite3.OperationalError as exc:
        if is_busy(exc) or "readonly" in str(exc):
            return -1
        raise
    return len(qhs)


def _ranges(qhs: Iterable[int]) -> Iterator[tuple[int, int]]:
    """Sorted quarter-hours merged into inclusive runs."""
    run: list[int] = []
    for qh in sorted(set(qhs)):
        if run and qh == run[1] + 1:
            run[1] = qh
        else:
            if run:
                yield run[0], run[1]
            run = [qh, qh]
    if run:
        yield run[0], run[1]


def rebuild(conn: Conn, qhs: Iterable[int]) -> None:
    """Recompute the rollup rows of the given quarter-hours from the counted events, and the hourly
    rows of their hours from the quarter-hours."""
    qhs = list(qhs)
    _rebuild_quarter_hours(conn, qhs)
    sums = ", ".join(f"SUM({c})" for c in ROLLUP_SUMS)
    for first, last in _ranges(qh // QH_PER_HOUR for qh in qhs):
        conn.execute("DELETE FROM usage_rollup_hour WHERE h BETWEEN ? AND ?", (first, last))
        conn.execute(
            f"""
            INSERT INTO usage_rollup_hour ({", ".join(HOUR_KEY + ROLLUP_SUMS)})
            SELECT qh / {QH_PER_HOUR}, {", ".join(ROLLUP_KEY[1:])}, {sums}
            FROM usage_rollup
            WHERE qh >= ? AND qh < ?
            GROUP BY {", ".join(str(i) for i in range(1, len(ROLLUP_KEY) + 1))}
            """,
            (first * QH_PER_HOUR, (last + 1) * QH_PER_HOUR),
        )


def _rebuild_quarter_hours(conn: Conn, qhs: Iterable[int]) -> None:
    for first, last in _ranges(qhs):
        lo, hi = first * QUARTER_HOUR_MS, (last + 1) * QUARTER_HOUR_MS
        conn.execute("DELETE FROM usage_rollup WHERE qh BETWEEN ? AND ?", (first, last))
        conn.execute(
            f"""
            INSERT INTO usage_rollup
            SELECT ts_ms / {QUARTER_HOUR_MS}, source, provider, model, project, agent, member, session_id,
                   COUNT(*), SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens),
                   SUM(cache_write_5m_tokens), SUM(cache_write_1h_tokens), SUM(web_search_requests),
                   COALESCE(SUM(cost_nanos), 0), SUM(CASE WHEN cost_nanos IS NULL THEN 1 ELSE 0 END),
                   COALESCE(SUM(COALESCE(reported_cost_nanos, cost_nanos)), 0),
                   SUM(CASE WHEN COALESCE(reported_cost_nanos, cost_nanos) IS NULL THEN 1 ELSE 0 END),
                   COALESCE(SUM(reported_cost_nanos), 0)
            FROM usage_events
            WHERE counted = 1 AND ts_ms >= ? AND ts_ms < ?
            GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
            """,
            (lo, hi),
        )


def sums_by_quarter_hour(
    conn: Conn,
    first_qh: int,
    end_qh: int,
    cost_mode: str,
    column_filters: Sequence[tuple[str, Sequence[str]]] = (),
) -> list[tuple[int, int, int, int]]:
    """(quarter-hour, cost nano-USD, unpriced calls, calls) of the rollup in ``[first_qh, end_qh)``,
    keeping only rows whose ``column`` is one of its values for every (column, values) filter."""
    if cost_mode not in ("auto", "calculate", "display"):
        raise ValueError(f"unknown cost mode {cost_mode!r}")
    if any(column not in _FILTER_COLUMNS for column, _ in column_filters):
        raise ValueError("filter on a column the rollup does not have")
    where = "".join(f" AND {column} IN ({', '.join('?' * len(values))})" for column, values in column_filters)
    args = [v for _, values in column_filters for v in values]
    unpriced = f"SUM({cost_mode}_unpriced)" if cost_mode != "display" else "0"
    rows = conn.execute(
        f"""
        SELECT qh, SUM({cost_mode}_nanos), {unpriced}, SUM(requests)
        FROM usage_rollup
        WHERE qh >= ? AND qh < ?{where}
        GROUP BY qh
        """,
        (first_qh, end_qh, *args),
    )
    return [(int(qh), int(cost or 0), int(unp or 0), int(req or 0)) for qh, cost, unp, req in rows]


_FILTER_COLUMNS = frozenset({"source", "provider", "model", "project", "agent", "member", "session_id"})


ROLLUP_KEY = ("qh", "source", "provider", "model", "project", "agent", "member", "session_id")
HOUR_KEY = ("h", *ROLLUP_KEY[1:])
ROLLUP_SUMS = (
    "requests",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "web_search_requests",
    "calculate_nanos",
    "calculate_unpriced",
    "auto_nanos",
    "auto_unpriced",
    "display_nanos",
)


def add(conn: Conn, groups: dict[tuple[object, ...], list[int]]) -> None:
    """Add newly inserted counted events to the rollup directly, keyed as :data:`ROLLUP_KEY` with sums
    in :data:`ROLLUP_SUMS` order, instead of marking their quarter-hours dirty: a team server taking
    pushes would otherwise rebuild its busiest quarter-hour from every event in it before each query.
    Only for rows that are new and counted; anything that changes or uncounts a stored row marks
    dirty, and a dirty quarter-hour's rebuild replaces whatever was added here."""
    hours: dict[tuple[object, ...], list[int]] = {}
    for key, sums in groups.items():
        hour_key = (cast(int, key[0]) // QH_PER_HOUR, *key[1:])
        if hour_key in hours:
            hours[hour_key] = [a + b for a, b in zip(hours[hour_key], sums, strict=True)]
        else:
            hours[hour_key] = list(sums)
    for table, key_columns, rows in (
        ("usage_rollup", ROLLUP_KEY, groups),
        ("usage_rollup_hour", HOUR_KEY, hours),
    ):
        sets = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in ROLLUP_SUMS)
        conn.executemany(
            f"INSERT INTO {table} ({', '.join(key_columns + ROLLUP_SUMS)}) "
            f"VALUES ({', '.join('?' for _ in key_columns + ROLLUP_SUMS)}) "
            f"ON CONFLICT ({', '.join(key_columns)}) DO UPDATE SET {sets}",
            [(*key, *sums) for key, sums in rows.items()],
        )


def read_sql(lo_qh: int, hi_qh: int, cuts: Iterable[int] = ()) -> str:
    """A FROM item (a subquery aliased ``r``) with every column of ``usage_rollup`` for the
    quarter-hours ``[lo_qh, hi_qh)``, read from the hourly rows wherever that is exact.

    A whole hour inside the range comes from ``usage_rollup_hour`` as one row per group whose ``qh``
    is the hour's first quarter-hour; the range's ragged ends and every hour holding a ``cut`` come
    from the quarter-hours. A cut is the first quarter-hour of a new class of rows for the caller (a
    local midnight, a timezone's offset change, a rule's bound): an expression on ``qh`` that is
    constant between cuts then gives the same answer over this as over ``usage_rollup`` alone. Only
    integers are inlined, so the text is safe without placeholders.
    """
    first_h = -(-int(lo_qh) // QH_PER_HOUR)
    end_h = int(hi_qh) // QH_PER_HOUR
    columns = ", ".join(ROLLUP_KEY[1:] + ROLLUP_SUMS)
    if first_h >= end_h:
        where = f"qh >= {int(lo_qh)} AND qh < {int(hi_qh)}"
        return f"(SELECT qh, {columns} FROM usage_rollup WHERE {where}) AS r"
    split = sorted({int(c) // QH_PER_HOUR for c in cuts if int(c) % QH_PER_HOUR})
    split = [h for h in split if first_h <= h < end_h]
    pieces = [(int(lo_qh), first_h * QH_PER_HOUR)]
    pieces += [(h * QH_PER_HOUR, (h + 1) * QH_PER_HOUR) for h in split]
    pieces.append((end_h * QH_PER_HOUR, int(hi_qh)))
    merged: list[list[int]] = []
    for lo, hi in pieces:
        if lo >= hi:
            continue
        if merged and merged[-1][1] == lo:
            merged[-1][1] = hi
        else:
            merged.append([lo, hi])
    not_split = f" AND h NOT IN ({', '.join(str(h) for h in split)})" if split else ""
    parts = [
        f"SELECT h * {QH_PER_HOUR} AS qh, {columns} FROM usage_rollup_hour "
        f"WHERE h >= {first_h} AND h < {end_h}{not_split}"
    ]
    if merged:
        ranges = " OR ".join(f"(qh >= {lo} AND qh < {hi})" for lo, hi in merged)
        parts.append(f"SELECT qh, {columns} FROM usage_rollup WHERE {ranges}")
    return f"({' UNION ALL '.join(parts)}) AS r"
