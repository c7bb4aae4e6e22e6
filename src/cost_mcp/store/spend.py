"""The reads behind get_spend: usage summed from the rollup, provider buckets, price notes.

Callers give plain values (quarter-hour bounds, UTC-offset changes, filter values per column);
this module builds the SQL, so no statement is assembled outside ``store/``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cost_mcp import tokens
from cost_mcp.store import rollup
from cost_mcp.store.buckets import DAY_MS, OUTSIDE_BILL
from cost_mcp.store.connection import Conn

QH_MS = rollup.QUARTER_HOUR_MS

LOCAL_COLUMNS = frozenset(rollup.DIMENSION_COLUMNS.values())
"""Columns of the rollup that sums may be grouped and filtered by."""
BUCKET_COLUMNS = frozenset({"provider", "model", "project", "member", "source"})
"""Columns of provider buckets filters may name (``source`` is derived, so it never matches SQL)."""

CostMode = str


@dataclass(frozen=True)
class LocalSum:
    """Calls recorded locally, summed per (local day, UTC day, grouped columns)."""

    local_day: int
    """Days since 1970-01-01 in the period's timezone."""
    utc_day: int
    values: dict[str, str | None]
    """The grouped columns' values, by column name."""
    cost_nanos: int
    unpriced: int
    tokens: list[int]
    """Counts in :data:`cost_mcp.tokens.KINDS` order."""
    requests: int


@dataclass(frozen=True)
class BucketSum:
    """Provider buckets of one kind summed per (UTC day, provider, model, project, member)."""

    kind: str
    start_ms: int
    provider: str
    model: str
    project: str
    """The bucket's project, or its workspace when it has none."""
    project_is_workspace: bool
    member: str
    cost_nanos: int
    unpriced: int
    requests: int
    tokens: list[int]
    outside_bill: bool
    """Usage in a tier the provider's bill leaves out (OUTSIDE_BILL)."""


def _where(
    filters: Sequence[tuple[str, Sequence[str]]], available: frozenset[str]
) -> tuple[str, list[object]]:
    clauses: list[str] = []
    args: list[object] = []
    for column, values in filters:
        if column not in available:
            clauses.append("1 = 0")  # a filter this data cannot satisfy keeps nothing
            continue
        clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
        args.extend(values)
    return "".join(f" AND {c}" for c in clauses), args


def _local_day_sql(column: str, offsets: Sequence[tuple[int, int]], last_offset: int) -> str:
    """The local day number of an epoch-ms expression, given the UTC offset before each change
    (``(change_ms, offset_ms)``, ascending) and the offset after the last one."""
    cases = " ".join(f"WHEN {column} < {int(change)} THEN {int(offset)}" for change, offset in offsets)
    expr = f"CASE {cases} ELSE {int(last_offset)} END" if cases else str(int(last_offset))
    return f"(({column}) + {expr}) / {DAY_MS}"


def _local_day_cuts(
    lo_qh: int, hi_qh: int, offsets: Sequence[tuple[int, int]], last_offset: int
) -> list[int]:
    """The quarter-hours in ``[lo_qh, hi_qh)`` where :func:`_local_day_sql` of ``qh * QH_MS`` may
    change value: each offset change, and each local midnight between changes (for a timezone 30 or
    45 minutes off UTC these fall inside UTC hours, which ``rollup.read_sql`` then reads by quarters).
    Derived from the same offsets as the SQL, so the two agree whatever the timezone does."""
    cuts: list[int] = []
    start = lo_qh * QH_MS
    segments = [*offsets, (hi_qh * QH_MS, last_offset)]
    for change, offset in segments:
        end = min(change, hi_qh * QH_MS)
        # The CASE takes a quarter-hour's offset at its start: a change or midnight at instant t
        # first shows in the quarter-hour starting at or after t.
        cuts.append(-(-start // QH_MS))
        midnight = start + (-(start + offset)) % DAY_MS
        while midnight < end:
            cuts.append(-(-midnight // QH_MS))
            midnight += DAY_MS
        start = max(start, end)
    return cuts


def local_sums(
    conn: Conn,
    *,
    lo_qh: int,
    hi_qh: int,
    offsets: Sequence[tuple[int, int]],
    last_offset: int,
    group_columns: Sequence[str],
    cost_mode: CostMode,
    filters: Sequence[tuple[str, Sequence[str]]] = (),
) -> list[LocalSum]:
    """Local calls in quarter-hours ``[lo_qh, hi_qh)`` summed per local day, UTC day and
    ``group_columns`` (rollup columns); ``cost_mode`` picks the cost under the configured mode."""
    if any(c not in LOCAL_COLUMNS for c in group_columns) or cost_mode not in (
        "auto",
        "calculate",
        "display",
    ):
        raise ValueError(f"cannot sum local calls by {group_columns} in mode {cost_mode!r}")
    time_col = f"qh * {QH_MS}"
    unpriced_sum = f"SUM({cost_mode}_unpriced)" if cost_mode != "display" else "0"
    sums = ", ".join(f"SUM({c})" for c in tokens.COLUMNS)
    where, args = _where(filters, LOCAL_COLUMNS)
    cols = ", ".join(group_columns)
    local_day = _local_day_sql(time_col, offsets, last_offset)
    utc_day = f"({time_col}) / {DAY_MS}"
    # GROUP BY positions: portable, and strict (every selected column that is not summed).
    positions = ", ".join(str(i) for i in range(1, 3 + len(group_columns)))
    # Summed over sessions unless the question is about them: far fewer rows (see store/rollup.py).
    sessions = "session_id" in group_columns or any(c == "session_id" for c, _ in filters)
    cuts = _local_day_cuts(lo_qh, hi_qh, offsets, last_offset)
    sql = f"""
        SELECT {local_day}, {utc_day}, {cols}, SUM({cost_mode}_nanos), {unpriced_sum}, {sums},
               SUM(requests)
        FROM {rollup.read_sql(lo_qh, hi_qh, cuts, sessions=sessions)}
        WHERE 1 = 1{where}
        GROUP BY {positions}
    """
    n, k = len(group_columns), len(tokens.COLUMNS)
    out: list[LocalSum] = []
    for row in conn.execute(sql, args):
        out.append(
            LocalSum(
                local_day=int(row[0]),
                utc_day=int(row[1]),
                values=dict(zip(group_columns, row[2 : 2 + n], strict=True)),
                cost_nanos=int(row[2 + n] or 0),
                unpriced=int(row[3 + n] or 0),
                tokens=[int(v or 0) for v in row[4 + n : 4 + n + k]],
                requests=int(row[4 + n + k] or 0),
            )
        )
    return out


def outside_bill_sql() -> tuple[str, list[object]]:
    """A provider-bucket column: 1 for usage in a tier the provider's bill leaves out (its args)."""
    cases = " OR ".join(
        f"(provider = ? AND service_tier IN ({', '.join('?' * len(tiers))}))"
        for tiers in OUTSIDE_BILL.values()
    )
    args: list[object] = []
    for provider, tiers in OUTSIDE_BILL.items():
        args += [provider, *sorted(tiers)]
    return f"CASE WHEN kind = 'usage' AND ({cases or '1 = 0'}) THEN 1 ELSE 0 END", args


def bucket_sums(
    conn: Conn,
    first_ms: int,
    end_ms: int,
    filters: Sequence[tuple[str, Sequence[str]]] = (),
) -> list[BucketSum]:
    """Provider buckets starting in ``[first_ms, end_ms)`` summed per kind, UTC day, provider,
    model, project (else workspace) and member. ``filters`` name provider-bucket columns."""
    outside, outside_args = outside_bill_sql()
    where, args = _where(filters, BUCKET_COLUMNS - {"source"})
    project = "CASE WHEN project != '' THEN project ELSE workspace END"
    from_project = "CASE WHEN project != '' THEN 1 ELSE 0 END"
    sums = ", ".join(f"COALESCE(SUM({c}), 0)" for c in tokens.COLUMNS)
    rows = conn.execute(
        f"""
        SELECT kind, start_ms, provider, model, {project}, {from_project}, member,
               COALESCE(SUM(cost_nanos), 0), SUM(CASE WHEN cost_nanos IS NULL THEN 1 ELSE 0 END),
               COALESCE(SUM(requests), 0), {sums}, {outside}
        FROM provider_buckets
        WHERE start_ms >= ? AND start_ms < ?{where}
        GROUP BY 1, 2, 3, 4, 5, 6, 7, {11 + len(tokens.COLUMNS)}
        """,
        (*outside_args, first_ms, end_ms, *args),
    ).fetchall()
    k = len(tokens.COLUMNS)
    return [
        BucketSum(
            kind=str(r[0]),
            start_ms=int(r[1]),
            provider=str(r[2]),
            model=str(r[3]),
            project=str(r[4] or ""),
            project_is_workspace=not r[5],
            member=str(r[6] or ""),
            cost_nanos=int(r[7]),
            unpriced=int(r[8] or 0),
            requests=int(r[9]),
            tokens=[int(v) for v in r[10 : 10 + k]],
            outside_bill=bool(r[10 + k]),
        )
        for r in rows
    ]


def price_notes(
    conn: Conn,
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
    filters: Sequence[tuple[str, Sequence[str]]] = (),
    equal: Mapping[str, str] | None = None,
) -> list[tuple[str, int]]:
    """(pricing assumption, counted calls) for the counted calls with a price note, by note.

    ``filters`` are (usage_events column, values) pairs; ``equal`` columns that must equal a value.
    Noted rows are rare and indexed apart, so this never scans the ordinary ones.
    """
    clauses: list[str] = []
    args: list[object] = []
    if start_ms is not None:
        clauses.append("ts_ms >= ?")
        args.append(start_ms)
    if end_ms is not None:
        clauses.append("ts_ms < ?")
        args.append(end_ms)
    for column, value in (equal or {}).items():
        if column not in LOCAL_COLUMNS:
            raise ValueError(f"not a usage column: {column}")
        clauses.append(f"{column} = ?")
        args.append(value)
    where, more = _where(filters, LOCAL_COLUMNS)
    # "+counted": without it SQLite picks the (counted, ts_ms) index and reads every call of the
    # period (2 s over 1M calls) instead of the few noted ones through the partial index (0.1 ms).
    sql = (
        "SELECT price_note, COUNT(*) FROM usage_events WHERE price_note != '' AND +counted = 1"
        + "".join(f" AND {c}" for c in clauses)
        + where
        + " GROUP BY price_note ORDER BY price_note"
    )
    return [(str(note), int(n)) for note, n in conn.execute(sql, (*args, *more)).fetchall()]


def ledger_has_data(conn: Conn) -> bool:
    """Whether any call or provider bucket is recorded at all."""
    return (
        conn.execute("SELECT 1 FROM usage_events LIMIT 1").fetchone() is not None
        or conn.execute("SELECT 1 FROM provider_buckets LIMIT 1").fetchone() is not None
    )


def counted_span(conn: Conn) -> tuple[int, int] | None:
    """The times (ms) of the first and the last counted call, or None when there is none."""
    row = conn.execute("SELECT MIN(ts_ms), MAX(ts_ms) FROM usage_events WHERE counted = 1").fetchone()
    return None if row is None or row[0] is None else (int(row[0]), int(row[1]))
