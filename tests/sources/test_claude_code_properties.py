"""The result must not depend on file order or on how many scans it took (hypothesis)."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cost_mcp.config import load_settings
from cost_mcp.pricing import Pricer
from cost_mcp.sources import claude_code
from cost_mcp.sources.claude_code import ingest
from cost_mcp.store import connect
from cost_mcp.store.connection import Conn
from tests.sources.claude_logs import assistant, encode, progress, user

# One call: (message, request, day, output tokens, cache reads, with a sidechain replay?, a
# progress mirror?, a split into growing blocks?, a copy in a resumed session?, no request id?)
calls = st.lists(
    st.tuples(
        st.integers(0, 9),
        st.integers(1, 28),
        st.integers(1, 5_000),
        st.integers(0, 300_000),
        st.booleans(),
        st.booleans(),
        st.booleans(),
        st.booleans(),
        st.booleans(),
    ),
    min_size=1,
    max_size=12,
    unique_by=lambda c: c[0],
)


def _files(spec: list[tuple[Any, ...]]) -> dict[str, list[str]]:
    files: dict[str, list[str]] = {
        "a/s1.jsonl": [],
        "a/s2.jsonl": [],
        "a/s1/subagents/agent-x.jsonl": [],
        "b/s3.jsonl": [],
    }
    for n, day, out, cache, replay, mirror, split, resumed, no_rid in spec:
        ts = f"2026-10-{day:02d}T12:00:00.000Z"
        rid = None if no_rid else f"req_{n}"
        final = assistant(f"msg_{n}", rid, ts, session="s1", output=out, cache_read=cache)
        target = "a/s1/subagents/agent-x.jsonl" if mirror else "a/s1.jsonl"
        if mirror:
            final["isSidechain"] = True
        if split:
            files[target].append(
                encode(assistant(f"msg_{n}", rid, ts, session="s1", output=1, cache_read=cache))
            )
        files[target].append(encode(final))
        files[target].append(encode(user(ts)))
        if mirror:
            files["a/s1.jsonl"].append(encode(progress(final)))
        if replay and rid is not None:
            side = assistant(
                f"msg_{n}", f"req_side_{n}", ts, session="s3", sidechain=True, output=out, cache_read=cache
            )
            files["b/s3.jsonl"].append(encode(side))
        if resumed:
            files["a/s2.jsonl"].append(encode(dict(final, sessionId="s2")))
    return files


def _totals(conn: Conn) -> list[tuple[Any, ...]]:
    return conn.execute(
        """SELECT ts_ms / 86400000, COUNT(*), SUM(output_tokens),
                  SUM(cache_read_tokens), SUM(cost_nanos)
           FROM usage_events WHERE counted = 1 GROUP BY 1 ORDER BY 1"""
    ).fetchall()


def _scan_tree(
    root: Path, files: dict[str, list[str]], order: list[str], chunks: int, seed: int
) -> tuple[list[Any], int]:
    """Write files in `order`, appending each in up to `chunks` pieces (cut anywhere, even mid-line),
    scanning after every piece; return the per-day totals and the sum of the scans' events_added."""
    projects = root / "projects"
    db = root / "cost.db"
    env = {"COST_MCP_DB": str(db), "CLAUDE_CONFIG_DIR": str(root), "COST_MCP_TIMEZONE": "UTC"}
    cfg = load_settings(env, env_file=root / "absent")
    conn = connect(db)
    rng = random.Random(seed)
    added = 0
    try:
        pricer = Pricer()
        for name in order:
            data = "".join(line + "\n" for line in files[name]).encode()
            path = projects / name
            path.parent.mkdir(parents=True, exist_ok=True)
            cuts = sorted(rng.sample(range(len(data) + 1), min(chunks - 1, len(data) + 1))) if data else []
            start = 0
            for cut in [*cuts, len(data)]:
                with path.open("ab") as f:
                    f.write(data[start:cut])
                start = cut
                added += ingest(conn, cfg, pricer).events_added
        added += ingest(conn, cfg, pricer).events_added
        return _totals(conn), added
    finally:
        conn.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=calls, seed=st.integers(0, 10_000), chunks=st.integers(1, 6))
def test_any_file_order_and_any_split_into_scans_gives_identical_totals(
    tmp_path_factory: Any, spec: list[tuple[Any, ...]], seed: int, chunks: int
) -> None:
    files = _files(spec)
    names = sorted(files)
    reference, added_once = _scan_tree(tmp_path_factory.mktemp("once"), files, names, 1, seed)
    shuffled = names[:]
    random.Random(seed).shuffle(shuffled)
    incremental, added_split = _scan_tree(tmp_path_factory.mktemp("split"), files, shuffled, chunks, seed)
    assert incremental == reference
    # events_added, counted per batch, adds up to the calls however the scans were cut
    assert added_once == added_split == len(spec)
    # and the truth: one row per call, whatever the noise
    assert sum(r[1] for r in reference) == len(spec)
    assert sum(r[2] for r in reference) == sum(c[2] for c in spec)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=calls, seed=st.integers(0, 10_000), chunks=st.integers(1, 4))
def test_a_bulk_first_load_then_incremental_scans_gives_identical_totals(
    tmp_path_factory: Any, spec: list[tuple[Any, ...]], seed: int, chunks: int
) -> None:
    files = _files(spec)
    names = sorted(files)
    reference, _ = _scan_tree(tmp_path_factory.mktemp("once"), files, names, 1, seed)
    root = tmp_path_factory.mktemp("bulk")
    shuffled = names[:]
    random.Random(seed).shuffle(shuffled)
    first, rest = shuffled[: len(shuffled) // 2 + 1], shuffled[len(shuffled) // 2 + 1 :]
    for name in first:
        path = root / "projects" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(line + "\n" for line in files[name]))
    env = {"COST_MCP_DB": str(root / "cost.db"), "CLAUDE_CONFIG_DIR": str(root), "COST_MCP_TIMEZONE": "UTC"}
    conn = connect(root / "cost.db")
    try:
        with mock.patch.object(claude_code, "BULK_LOAD_BYTES", 0):
            added = ingest(conn, load_settings(env, env_file=root / "absent"), Pricer()).events_added
        indexes = conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index'").fetchone()[0]
        fresh = connect(":memory:")
        assert (
            indexes == fresh.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index'").fetchone()[0]
        )
        fresh.close()
    finally:
        conn.close()
    # then the rest arrives in pieces, read incrementally on top of the bulk-loaded ledger
    after, more = _scan_tree(root, files, rest, chunks, seed)
    assert after == reference
    assert added + more == len(spec)


# One stored copy of a message: (request id or none, sidechain?, total tokens, ts, session, origin),
# drawn from few values so that ties and shared request ids are common.
copies_of_a_message = st.lists(
    st.tuples(
        st.sampled_from(["", "req_a", "req_b", "req_c"]),
        st.booleans(),
        st.integers(0, 1),
        st.integers(0, 1),
        st.sampled_from(["s1", "s2"]),
        st.sampled_from(["a.jsonl", "b.jsonl"]),
    ),
    min_size=1,
    max_size=6,
    unique_by=lambda c: (c[0], c[1]),  # a batch holds one copy per (message, request, sidechain)
)


@given(st.lists(copies_of_a_message, min_size=1, max_size=4))
@settings(max_examples=300, deadline=None)
def test_a_batchs_counted_rows_are_the_ones_a_recount_of_the_table_chooses(
    messages: list[list[tuple[str, bool, int, int, str, str]]],
) -> None:
    # The batch decides on _row's tuples (with a path of its own for two rows); the recount from
    # the table with _winners: the two must agree on every group, ties included.
    width = claude_code._COUNTED + 1
    rows: list[tuple[Any, ...]] = []
    expected: list[int] = []
    for m, group in enumerate(messages):
        stored = []
        for request, sidechain, total, ts, session, origin in group:
            row: list[Any] = [None] * width
            row[claude_code._MESSAGE] = f"msg_{m}"
            row[claude_code._REQUEST] = request
            row[claude_code._SIDECHAIN] = int(sidechain)
            row[claude_code._TOTAL] = total
            row[claude_code._TS] = ts
            row[claude_code._SESSION] = session
            row[claude_code._ORIGIN] = origin
            row[claude_code._COUNTED] = 1
            stored.append(claude_code._Row(len(rows), request, sidechain, total, ts, session, origin))
            rows.append(tuple(row))
        expected.extend(counted for counted, _ in sorted(claude_code._winners(stored), key=lambda w: w[1]))
    per_message = Counter(row[claude_code._MESSAGE] for row in rows)
    uncounted = claude_code._uncount_in_batch(rows, per_message)
    assert [row[claude_code._COUNTED] for row in rows] == expected
    assert uncounted == expected.count(0)
