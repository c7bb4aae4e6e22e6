"""The result must not depend on file order or on how many scans it took (hypothesis)."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cost_mcp.config import load_settings
from cost_mcp.pricing import Pricer
from cost_mcp.sources.claude_code import ingest
from cost_mcp.store import connect
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


def _totals(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    return conn.execute(
        """SELECT strftime('%Y-%m-%d', ts_ms / 1000, 'unixepoch'), COUNT(*), SUM(output_tokens),
                  SUM(cache_read_tokens), SUM(cost_nanos)
           FROM usage_events WHERE counted = 1 GROUP BY 1 ORDER BY 1"""
    ).fetchall()


def _scan_tree(
    root: Path, files: dict[str, list[str]], order: list[str], chunks: int, seed: int
) -> list[Any]:
    """Write files in `order`, appending each in up to `chunks` pieces (cut anywhere, even mid-line),
    scanning after every piece; return the per-day totals."""
    projects = root / "projects"
    db = root / "cost.db"
    env = {"COST_MCP_DB": str(db), "CLAUDE_CONFIG_DIR": str(root), "COST_MCP_TIMEZONE": "UTC"}
    cfg = load_settings(env, env_file=root / "absent")
    conn = connect(db)
    rng = random.Random(seed)
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
                ingest(conn, cfg, pricer)
        ingest(conn, cfg, pricer)
        return _totals(conn)
    finally:
        conn.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=calls, seed=st.integers(0, 10_000), chunks=st.integers(1, 6))
def test_any_file_order_and_any_split_into_scans_gives_identical_totals(
    tmp_path_factory: Any, spec: list[tuple[Any, ...]], seed: int, chunks: int
) -> None:
    files = _files(spec)
    names = sorted(files)
    reference = _scan_tree(tmp_path_factory.mktemp("once"), files, names, 1, seed)
    shuffled = names[:]
    random.Random(seed).shuffle(shuffled)
    incremental = _scan_tree(tmp_path_factory.mktemp("split"), files, shuffled, chunks, seed)
    assert incremental == reference
    # and the truth: one row per call, whatever the noise
    assert sum(r[1] for r in reference) == len(spec)
    assert sum(r[2] for r in reference) == sum(c[2] for c in spec)
