"""Spend read by whole UTC days and hours (``usage_rollup_day``, ``usage_rollup_hour``) with
quarter-hours only at the edges (issue 22) answers exactly what the raw events answer, in timezones
whose midnights fall inside UTC hours (Kolkata +5:30, Kathmandu +5:45), across DST changes (Paris,
Adelaide), by every grouping."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cost_mcp.analytics import rows
from cost_mcp.analytics.spend import get_spend, resolve
from cost_mcp.config import Settings
from cost_mcp.money import from_nanos
from cost_mcp.pricing import Pricer
from cost_mcp.sources.claude_code import ingest
from cost_mcp.store import rollup, write_transaction
from cost_mcp.store.buckets import DAY_MS, Bucket, replace_range
from cost_mcp.store.connection import Conn
from tests.sources.claude_logs import SONNET, assistant, session_file, write

HAIKU = "claude-haiku-4-5-20251001"
STEP = timedelta(minutes=13)  # not a divisor of an hour: calls land in every quarter of the hours
# Two stretches of days: Adelaide's summer time starts at 16:30Z on Oct 3; Paris's ends at 01:00Z
# on Oct 25. Every call is weeks before any date the tests run on.
STRETCHES = (
    (datetime(2026, 10, 2, 12, tzinfo=UTC), datetime(2026, 10, 5, 12, tzinfo=UTC)),
    (datetime(2026, 10, 23, 12, tzinfo=UTC), datetime(2026, 10, 27, 12, tzinfo=UTC)),
)
PERIODS = (("2026-10-03", "2026-10-04"), ("2026-10-24", "2026-10-26"), ("2026-10-01", "2026-10-31"))
ZONES = ("UTC", "Europe/Paris", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Adelaide")


@pytest.fixture
def ledger(home: Path, conn: Conn, settings: Settings) -> Conn:
    """Calls every 13 minutes over both stretches, on two models and five sessions."""
    lines: dict[str, list[dict[str, object]]] = defaultdict(list)
    i = 0
    for start, end in STRETCHES:
        t = start
        while t < end:
            session = f"s{i % 5}"
            ts = t.strftime("%Y-%m-%dT%H:%M:%S.000Z")
            model = SONNET if i % 3 else HAIKU
            lines[session].append(
                assistant(
                    f"m{i}", f"r{i}", ts, session=session, model=model, input=100 + i, output=7 + i % 50
                )
            )
            t += STEP
            i += 1
    for session, session_lines in lines.items():
        write(session_file(home / "claude", session), *session_lines)
    ingest(conn, settings, Pricer())
    return conn


def _raw(
    conn: Conn, tz: str, first: str, last: str, keys: tuple[str, ...]
) -> dict[tuple[str, ...], tuple[Decimal, int]]:
    """(cost, calls) of the counted events whose local date is in [first, last], by ``keys``,
    computed event by event in Python: the answer the rollup must give."""
    zone = ZoneInfo(tz)
    lo, hi = date.fromisoformat(first), date.fromisoformat(last)
    out: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0, 0])
    for ts_ms, model, session, cost, reported in conn.execute(
        "SELECT ts_ms, model, session_id, cost_nanos, reported_cost_nanos FROM usage_events WHERE counted = 1"
    ):
        day = datetime.fromtimestamp(int(ts_ms) / 1000, zone).date()
        if not lo <= day <= hi:
            continue
        values = {"day": day.isoformat(), "model": str(model), "session": str(session)}
        key = tuple(values[k] for k in keys)
        out[key][0] += int(reported if reported is not None else cost)  # the default cost mode, auto
        out[key][1] += 1
    return {k: (from_nanos(n), c) for k, (n, c) in out.items()}


@pytest.mark.parametrize("tz", ZONES)
def test_hours_and_quarters_give_the_raw_events_answer(ledger: Conn, settings: Settings, tz: str) -> None:
    assert settings.cost_mode == "auto"
    for first, last in PERIODS:
        p = resolve(settings, None, first, last, tz)
        for keys in ((), ("day",), ("model", "day"), ("session",)):
            result = get_spend(ledger, settings, p, list(keys), take_alerts=False, window=rows.Window())
            expected = _raw(ledger, tz, first, last, keys)
            got = {tuple(str(r.group[k]) for k in keys): (r.cost_usd, r.requests) for r in result.rows}
            assert got == expected, (tz, first, keys)
            assert result.total_usd == sum((c for c, _ in expected.values()), Decimal(0))


def test_a_midnight_inside_a_utc_hour_splits_that_hour(home: Path, conn: Conn, settings: Settings) -> None:
    # Kolkata's midnight is 18:30Z: calls ten minutes either side are on different local days,
    # though they share one UTC hour (and one row of usage_rollup_hour).
    write(
        session_file(home / "claude", "s1"),
        assistant("a", "r1", "2026-10-03T18:20:00.000Z", input=1_000, output=0),
        assistant("b", "r2", "2026-10-03T18:40:00.000Z", input=2_000, output=0),
    )
    ingest(conn, settings, Pricer())
    assert conn.execute("SELECT COUNT(*) FROM usage_rollup_hour").fetchone()[0] == 1
    p = resolve(settings, None, "2026-10-03", "2026-10-04", "Asia/Kolkata")
    result = get_spend(conn, settings, p, ["day"], take_alerts=False)
    assert {r.group["day"]: r.requests for r in result.rows} == {"2026-10-03": 1, "2026-10-04": 1}
    # A period starting at that midnight takes only the second call.
    p = resolve(settings, None, "2026-10-04", "2026-10-04", "Asia/Kolkata")
    assert get_spend(conn, settings, p, [], take_alerts=False).rows[0].requests == 1


def test_billed_days_and_sessions_read_the_same_by_hours_as_by_quarters(
    ledger: Conn, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Anthropic's bill for Oct 24 (UTC) makes that day's local rows attribution only: the session
    # query's conditions then cut the period at UTC midnights.
    oct24 = int(datetime(2026, 10, 24, tzinfo=UTC).timestamp()) * 1000
    with write_transaction(ledger):
        replace_range(
            ledger,
            "anthropic",
            "cost",
            oct24,
            oct24 + DAY_MS,
            [Bucket(oct24, oct24 + DAY_MS, cost_nanos=1_234_567_891, model=SONNET)],
        )
    answers: dict[str, list[object]] = {}
    real = rollup.read_sql
    reads: tuple[tuple[str, Callable[..., str]], ...] = (
        ("hours", real),
        ("quarters", lambda lo, hi, cuts=(), sessions=True: real(lo, hi, range(lo, hi), sessions=sessions)),
        # The rows summed over sessions (issue 14) answer what the per-session rows answer.
        ("per session", lambda lo, hi, cuts=(), sessions=True: real(lo, hi, cuts)),
    )
    for how, read in reads:
        monkeypatch.setattr(rollup, "read_sql", read)
        answers[how] = [
            get_spend(
                ledger, settings, resolve(settings, None, first, last, tz), keys, take_alerts=False, window=w
            ).model_dump(exclude={"sources"})
            for tz in ("Europe/Paris", "Asia/Kolkata")
            for first, last in PERIODS
            for keys in ([], ["provider", "day"], ["session"], ["week", "model"])
            for w in (rows.Window(), rows.Window(limit=2))
        ]
    assert answers["hours"] == answers["quarters"] == answers["per session"]
    assert any(a["attribution"] for a in answers["hours"])  # type: ignore[index]


def test_the_hourly_rows_are_the_quarter_hours_summed(home: Path, ledger: Conn, settings: Settings) -> None:
    assert_hours_exact(ledger)
    # A new call in an hour that has calls already: its quarter-hour and its hour are rebuilt.
    write(
        session_file(home / "claude", "s9"),
        assistant("late", "r-late", "2026-10-04T05:44:00.000Z", input=5, output=5),
    )
    ingest(ledger, settings, Pricer())
    assert_hours_exact(ledger)


def assert_hours_exact(conn: Conn) -> None:
    """``usage_rollup_hour`` equals ``usage_rollup`` summed per hour, row for row."""
    rollup.refresh(conn)
    key = ", ".join(rollup.ROLLUP_KEY[1:])
    sums = ", ".join(f"SUM({c})" for c in rollup.ROLLUP_SUMS)
    positions = ", ".join(str(i) for i in range(1, len(rollup.ROLLUP_KEY) + 1))
    summed = conn.execute(f"SELECT qh / 4, {key}, {sums} FROM usage_rollup GROUP BY {positions}").fetchall()
    hours = conn.execute(
        f"SELECT h, {key}, {', '.join(rollup.ROLLUP_SUMS)} FROM usage_rollup_hour"
    ).fetchall()
    assert summed and sorted(map(_plain, hours)) == sorted(map(_plain, summed))
    assert_sessions_summed(conn)


def assert_sessions_summed(conn: Conn) -> None:
    """Each rollup level's twin without sessions equals the level summed over sessions, row for row."""
    key = ", ".join(rollup.ROLLUP_KEY[1:-1])
    sums = ", ".join(f"SUM({c})" for c in rollup.ROLLUP_SUMS)
    positions = ", ".join(str(i) for i in range(1, len(rollup.ROLLUP_KEY)))
    for table, unit, _ in rollup.LEVELS:
        summed = conn.execute(f"SELECT {unit}, {key}, {sums} FROM {table} GROUP BY {positions}").fetchall()
        twin = conn.execute(
            f"SELECT {unit}, {key}, {', '.join(rollup.ROLLUP_SUMS)} FROM {table}_nosession"
        ).fetchall()
        assert summed and sorted(map(_plain, twin)) == sorted(map(_plain, summed)), table


def _plain(row: tuple[object, ...]) -> tuple[object, ...]:
    # PostgreSQL's SUM of BIGINT is NUMERIC (a Decimal): compare as integers.
    return tuple(v if isinstance(v, str) else int(v) for v in row)  # type: ignore[call-overload]


def test_the_cover_tiles_the_range_and_no_coarse_unit_holds_a_cut() -> None:
    import random

    rng = random.Random(22)
    sizes = {table: size for table, _, size in rollup.LEVELS}
    for _ in range(300):
        lo = rng.randrange(0, 2_000)
        hi = lo + rng.randrange(0, 1_500)
        cuts = sorted(rng.sample(range(lo, hi + 1), k=min(rng.randrange(0, 12), hi - lo + 1)))
        ranges: dict[str, list[tuple[int, int]]] = {}
        rollup._cover(lo, hi, cuts, 0, ranges)
        covered: list[int] = []
        for table, unit_ranges in ranges.items():
            size = sizes[table]
            assert all(b < a for (_, b), (a, _) in pairwise(unit_ranges))  # ascending, never touching
            for a, b in unit_ranges:
                for unit in range(a, b):
                    qhs = range(unit * size, (unit + 1) * size)
                    assert not any(qhs.start < c < qhs.stop for c in cuts), (table, unit, cuts)
                    covered += qhs
        assert sorted(covered) == list(range(lo, hi))
    # A quarter of whole UTC days with no cut reads the daily rows only.
    assert "usage_rollup_day" in rollup.read_sql(96 * 10, 96 * 100) and "usage_rollup_hour" not in (
        rollup.read_sql(96 * 10, 96 * 100)
    )


def test_the_unit_conditions_keep_exactly_their_ranges() -> None:
    import sqlite3

    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (u INTEGER PRIMARY KEY)")
    db.executemany("INSERT INTO t VALUES (?)", [(u,) for u in range(5_000)])
    one_range = [(10, 20)]
    few_units = [(10, 20), (30, 31), (4_000, 4_010)]  # listed one by one
    few_gaps = [(0, 1_500), (1_501, 3_000), (3_002, 4_999)]  # a range less its gaps
    many_gaps = [(i, i + 3) for i in range(0, 4_800, 4)]  # 1,200 ranges: more than an OR may hold
    many_units = [(i, i + 1) for i in range(0, 4_800, 4)]
    for ranges in (one_range, few_units, few_gaps, many_gaps, many_units):
        where = rollup._units_sql("u", ranges)
        got = [u for (u,) in db.execute(f"SELECT u FROM t WHERE {where} ORDER BY u")]
        assert got == [u for a, b in ranges for u in range(a, b)], where[:60]
