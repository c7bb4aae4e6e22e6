"""Spend by session, grouped and bounded in SQL (issue 22).

A quarter of a busy ledger holds thousands of sessions; a tool shows the largest few and one
"other" row. Grouping the rollup by session in SQL and keeping only the top rows there (with the
rest summed in the same statement) is what keeps ``get_spend(group_by=["session"])`` fast: Python
then sees a page of rows, not one object per (session, day, model).

Local rows that only *attribute* (their provider-day is billed, Claude Code under a subscription…)
are told apart in the same pass by :class:`Attributes` conditions, evaluated in order, so the SQL
needs no knowledge of why: the caller (analytics/spend.py) derives them from its precedence rules.

Portable SQL: ``?`` placeholders, window functions (SQLite >= 3.25, PostgreSQL), GROUP BY by position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from cost_mcp import tokens
from cost_mcp.store import rollup
from cost_mcp.store.connection import Conn
from cost_mcp.store.usage import TOKEN_COUNT_SQL

CostMode = Literal["calculate", "auto", "display"]

FILTER_COLUMNS = frozenset({"provider", "model", "project", "agent", "member", "source", "session_id"})
"""Rollup columns a caller may filter on."""


@dataclass(frozen=True, slots=True)
class Attributes:
    """Local rows matching this only attribute (``reason`` says why): rows of ``providers`` (any when
    empty) from ``sources`` (any when empty), in quarter-hours ``[lo_qh, hi_qh)`` (any when None)."""

    reason: str
    providers: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    lo_qh: int | None = None
    hi_qh: int | None = None


@dataclass(frozen=True, slots=True)
class SessionSums:
    """One session's sums in one class (``reason`` None: counted), or the rows not shown summed
    (``session_id`` None)."""

    session_id: str | None
    reason: str | None
    cost_nanos: int
    unpriced: int
    tokens: tuple[int, ...]
    """One count per kind, in :data:`cost_mcp.tokens.KINDS` order."""
    requests: int
    claude_code_output: int
    """Output tokens of these rows read from Claude Code's logs (for the lower-bound note)."""


@dataclass(frozen=True, slots=True)
class SessionPage:
    """The ``top`` largest sessions of each part (counted, attributing), the rest of each summed,
    and how many session rows each part has."""

    counted: list[SessionSums]
    counted_rest: SessionSums | None
    counted_rows: int
    attributed: list[SessionSums]
    attributed_rest: SessionSums | None
    attributed_rows: int


def _source(lo_qh: int, hi_qh: int, rules: Sequence[Attributes]) -> str:
    """The rollup rows of ``[lo_qh, hi_qh)``, by hours except where a rule's bound cuts one."""
    cuts = [q for rule in rules for q in (rule.lo_qh, rule.hi_qh) if q is not None]
    return rollup.read_sql(lo_qh, hi_qh, cuts)


def _filter_sql(filters: Sequence[tuple[str, Sequence[str]]]) -> tuple[str, list[object]]:
    """``AND col IN (...)`` for each filter on a rollup column, and its parameters."""
    unknown = [col for col, _ in filters if col not in FILTER_COLUMNS]
    if unknown:
        raise ValueError(f"not a rollup column: {unknown}")
    where = "".join(f" AND {col} IN ({', '.join('?' * len(vals))})" for col, vals in filters)
    return where, [v for _, vals in filters for v in vals]


def _case(rules: Sequence[Attributes]) -> tuple[str, list[object]]:
    """A CASE giving each row the 1-based index of the first rule it matches, 0 when none."""
    whens: list[str] = []
    args: list[object] = []
    for i, rule in enumerate(rules, start=1):
        conds: list[str] = []
        if rule.providers:
            conds.append(f"provider IN ({', '.join('?' * len(rule.providers))})")
            args += rule.providers
        if rule.sources:
            conds.append(f"source IN ({', '.join('?' * len(rule.sources))})")
            args += rule.sources
        if rule.lo_qh is not None:
            conds.append("qh >= ?")
            args.append(rule.lo_qh)
        if rule.hi_qh is not None:
            conds.append("qh < ?")
            args.append(rule.hi_qh)
        whens.append(f"WHEN {' AND '.join(conds) or '1 = 1'} THEN {i}")
    if not whens:
        return "0", []
    return f"CASE {' '.join(whens)} ELSE 0 END", args


# One output column per kind, t0, t1, ... in tokens.KINDS order; the rows read back by position.
_N_KINDS = len(tokens.KINDS)
# One session's sums are summed exactly (NUMERIC on PostgreSQL) and handed back as BIGINT: NUMERIC
# travels as text and is parsed again per value, a third of the read of a year's 2,800 session
# rows. A session past 9.2e18 (nano-USD: $9.2 billion) is an error, never a wrong number.
_TOKEN_SUMS = ", ".join(f"CAST(SUM({c}) AS BIGINT) AS t{i}" for i, c in enumerate(tokens.COLUMNS))
_SUMS = (
    "CAST(SUM({cost}) AS BIGINT) AS cost, CAST(SUM({unpriced}) AS BIGINT) AS unpriced, "
    + _TOKEN_SUMS
    + ", CAST(SUM(requests) AS BIGINT) AS reqs, "
    "CAST(SUM(CASE WHEN source = 'claude_code' THEN output_tokens ELSE 0 END) AS BIGINT) AS cc_out"
)
_OUT_COLUMNS = ("cost", "unpriced", *(f"t{i}" for i in range(_N_KINDS)), "reqs", "cc_out")
_OUT = ", ".join(_OUT_COLUMNS)
_REST = ", ".join(f"SUM({c})" for c in _OUT_COLUMNS)


def session_page(
    conn: Conn,
    *,
    lo_qh: int,
    hi_qh: int,
    mode: CostMode,
    filters: Sequence[tuple[str, Sequence[str]]],
    rules: Sequence[Attributes],
    top: int | None,
) -> SessionPage:
    """Spend of every session in quarter-hours ``[lo_qh, hi_qh)`` of the rollup, split into counted
    rows and rows that only attribute (``rules``), the ``top`` largest of each (by cost, then
    session id) with the rest summed; every row, none summed, when ``top`` is None. ``filters``
    are (rollup column, allowed values) pairs."""
    grouped, args = _grouped(lo_qh, hi_qh, mode, filters, rules)
    if top is None:
        return _every_session(conn, grouped, args, rules)
    part = "CASE WHEN cls = 0 THEN 0 ELSE 1 END"
    sql = f"""
        WITH g AS ({grouped}), r AS (
            SELECT session_id, cls, {_OUT},
                   ROW_NUMBER() OVER (PARTITION BY {part} ORDER BY cost DESC, session_id, cls) AS rn,
                   COUNT(*) OVER (PARTITION BY {part}) AS n
            FROM g
        )
        SELECT session_id, cls, {_OUT}, n FROM r WHERE rn <= ?
        UNION ALL
        SELECT NULL, MIN({part}) - 1, {_REST}, MIN(n) FROM r WHERE rn > ? GROUP BY {part}
    """
    counted: list[SessionSums] = []
    attributed: list[SessionSums] = []
    rests: dict[int, SessionSums] = {}
    rows_in: dict[int, int] = {0: 0, 1: 0}
    for row in conn.execute(sql, (*args, top, top)):
        session, cls = row[0], int(row[1])
        cost, unpriced, *counts, reqs, cc_out = (int(v or 0) for v in row[2 : 6 + _N_KINDS])
        n = int(row[6 + _N_KINDS])
        if session is None:
            # cls -1: the counted rest, 0: the attributing rest (see MIN(part) - 1 above).
            key = cls + 1
            rests[key] = SessionSums(None, None, cost, unpriced, tuple(counts), reqs, cc_out)
            continue
        reason = rules[cls - 1].reason if cls else None
        sums_row = SessionSums(str(session), reason, cost, unpriced, tuple(counts), reqs, cc_out)
        (counted if cls == 0 else attributed).append(sums_row)
        rows_in[0 if cls == 0 else 1] = n
    return SessionPage(
        counted=counted,
        counted_rest=rests.get(0),
        counted_rows=rows_in[0],
        attributed=attributed,
        attributed_rest=rests.get(1),
        attributed_rows=rows_in[1],
    )


def _grouped(
    lo_qh: int,
    hi_qh: int,
    mode: CostMode,
    filters: Sequence[tuple[str, Sequence[str]]],
    rules: Sequence[Attributes],
) -> tuple[str, list[object]]:
    """The SELECT of one row per (session, class) with its sums, and its parameters."""
    where, where_args = _filter_sql(filters)
    case, case_args = _case(rules)
    sums = _SUMS.format(cost=f"{mode}_nanos", unpriced=f"{mode}_unpriced" if mode != "display" else "0")
    sql = f"""
            SELECT session_id, {case} AS cls, {sums}
            FROM {_source(lo_qh, hi_qh, rules)}
            WHERE 1 = 1{where}
            GROUP BY 1, 2"""
    return sql, [*case_args, *where_args]


def _every_session(
    conn: Conn, grouped: str, args: Sequence[object], rules: Sequence[Attributes]
) -> SessionPage:
    """Every session row, in the bounded page's order (cost descending, then session id, then
    class). Ordered here rather than numbered by window functions: with nothing to cut, those cost
    PostgreSQL a third of the statement's time on a year of sessions (C collation and Python
    compare strings alike, by code point)."""
    found: list[tuple[int, str, int, SessionSums]] = []
    reasons = [None, *(rule.reason for rule in rules)]
    end = 4 + _N_KINDS
    # Every value is a sum of a NOT NULL column over at least one row, handed back as an integer
    # by both engines: read as it comes (no int() per value: 30,000 of them for a year).
    for row in conn.execute(grouped, args).fetchall():
        session, cls, cost = row[0], row[1], row[2]
        sums = SessionSums(session, reasons[cls], cost, row[3], row[4:end], row[end], row[end + 1])
        found.append((-cost, session, cls, sums))
    found.sort(key=lambda f: f[:3])
    counted = [f[3] for f in found if f[2] == 0]
    attributed = [f[3] for f in found if f[2] != 0]
    return SessionPage(
        counted=counted,
        counted_rest=None,
        counted_rows=len(counted),
        attributed=attributed,
        attributed_rest=None,
        attributed_rows=len(attributed),
    )


def unpriced_by_model(
    conn: Conn,
    *,
    lo_qh: int,
    hi_qh: int,
    mode: CostMode,
    filters: Sequence[tuple[str, Sequence[str]]],
    rules: Sequence[Attributes],
) -> list[tuple[str, int, int]]:
    """(model, unpriced calls, their tokens) of the counted rows with unpriced calls: the rows the
    spend warnings name (few; most rows are priced and skipped by the WHERE)."""
    if mode == "display":
        return []
    where, where_args = _filter_sql(filters)
    case, case_args = _case(rules)
    rows = conn.execute(
        f"""
        SELECT model, {case} AS cls, SUM({mode}_unpriced), SUM({TOKEN_COUNT_SQL})
        FROM {_source(lo_qh, hi_qh, rules)}
        WHERE {mode}_unpriced > 0{where}
        GROUP BY 1, 2
        """,
        (*case_args, *where_args),
    ).fetchall()
    return [(str(m), int(u), int(t)) for m, cls, u, t in rows if int(cls) == 0]


def class_sums(
    conn: Conn,
    *,
    lo_qh: int,
    hi_qh: int,
    mode: CostMode,
    filters: Sequence[tuple[str, Sequence[str]]],
    rules: Sequence[Attributes],
) -> list[tuple[str, str, int, int, int]]:
    """(provider, model, UTC day number, class, cost nano-USD) of the local rows, class as in
    :func:`session_page` (0: counted, else the 1-based index of the rule they match): what a filter
    keeps of the estimates a provider's report set aside, for the warnings that say so. One row per
    provider, model and day, not per session."""
    where, where_args = _filter_sql(filters)
    case, case_args = _case(rules)
    rows = conn.execute(
        f"""
        SELECT provider, model, qh / {rollup.QH_PER_DAY} AS day, {case} AS cls,
               CAST(SUM({mode}_nanos) AS BIGINT)
        FROM {_source(lo_qh, hi_qh, rules)}
        WHERE 1 = 1{where}
        GROUP BY 1, 2, 3, 4
        """,
        (*case_args, *where_args),
    ).fetchall()
    return [(str(p), str(m), int(d), int(c), int(n or 0)) for p, m, d, c, n in rows]
