"""DuckDB as the line parser: its C++ JSON reader against the log reader's msgspec decode, same run.

Issue 18's parse worker spends ~1.05-1.15 s of CPU on the 1x tree (decode ~0.3, the copies, ``_rows``
~0.35). DuckDB's JSON reader is built into the PyPI wheel (no extension download) and parses with
several threads. Each variant runs in a child process of its own, round by round alternated, so its
CPU (``time.process_time``: every thread of the process), wall and peak RSS are its own:

- ``msgspec-decode``: the reader's own strict decode of every line (``claude_code._decode_line``),
  lines already in memory, as ``decode_floor.py``;
- ``msgspec-rows``: read every file, split its lines, decode each, and build one tuple of the fields
  the worker reads for every usage line (an assistant line's own, a progress line's inner entry):
  the Python path's equivalent of what DuckDB hands over;
- ``schema-N``: ``read_json`` with an explicit ``columns=`` schema of only the fields ``_Line``
  declares (``ignore_errors``), the usage lines selected and flattened to the same fields, with N
  threads; ``-count`` variants fold the rows into one hash in SQL (the parse without the transfer),
  the others ``fetchall()`` them into Python tuples (the transfer included);
- ``objects-N``: ``read_ndjson_objects`` (each line's text), a byte test for ``"usage"``, then one
  ``json_extract_string`` with the list of paths per line;
- ``transform-N``: ``read_ndjson_objects``, the same byte test, then one ``json_transform`` of
  only those lines into the schema's struct, flattened as ``schema-N``'s;
- ``floor-N-count``: ``read_ndjson_objects`` alone, every line split and validated, nothing read
  from it: DuckDB's floor on these files.

duckdb is not a dependency: run it from a venv of its own.

    python3 -m venv /tmp/duckdb-venv && /tmp/duckdb-venv/bin/pip install duckdb msgspec
    PYTHONPATH=src flock /tmp/bench.lock /tmp/duckdb-venv/bin/python bench/decode_duckdb.py --rounds 3
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"

_COUNTS: dict[str, Any] = {
    "input_tokens": "BIGINT",
    "output_tokens": "BIGINT",
    "cache_creation_input_tokens": "BIGINT",
    "cache_read_input_tokens": "BIGINT",
    "cache_creation": {"ephemeral_5m_input_tokens": "BIGINT", "ephemeral_1h_input_tokens": "BIGINT"},
}
_ENTRY: dict[str, Any] = {
    "type": "VARCHAR",
    "timestamp": "VARCHAR",
    "sessionId": "VARCHAR",
    "requestId": "VARCHAR",
    "cwd": "JSON",  # any JSON, as msgspec's ``object``
    "isSidechain": "BOOLEAN",
    "costUSD": "JSON",  # the number's own text: a DECIMAL or DOUBLE column would round it
    "message": {
        "id": "VARCHAR",
        "model": "VARCHAR",
        "usage": {
            **_COUNTS,
            "server_tool_use": {"web_search_requests": "BIGINT"},
            "speed": "VARCHAR",
            "service_tier": "VARCHAR",
            "inference_geo": "VARCHAR",
            "iterations": [{"type": "VARCHAR", "model": "VARCHAR", **_COUNTS}],
        },
    },
}
SHAPE: dict[str, Any] = {**_ENTRY, "data": {"message": _ENTRY}}
"""Every field ``_Line`` declares, nested as in the log: a progress line's entry under ``data``."""


def _sql_type(shape: Any) -> str:
    """``shape`` as a DuckDB type (``json_transform`` takes the shape itself, as JSON)."""
    if isinstance(shape, dict):
        return "STRUCT({})".format(", ".join(f'"{k}" {_sql_type(v)}' for k, v in shape.items()))
    if isinstance(shape, list):
        return f"{_sql_type(shape[0])}[]"
    return str(shape)


def _fields(e: str) -> str:
    """The fields the worker reads from an entry ``e`` (a column or a nested struct)."""
    u = f"{e}.message.usage"
    return ", ".join(
        (
            f"{e}.message.id",
            f"{e}.requestId",
            f"{e}.isSidechain",
            f"{e}.timestamp",
            f"{e}.message.model",
            f"{e}.cwd",
            f"{u}.input_tokens",
            f"{u}.output_tokens",
            f"{u}.cache_read_input_tokens",
            f"{u}.cache_creation_input_tokens",
            f"{u}.cache_creation.ephemeral_5m_input_tokens",
            f"{u}.cache_creation.ephemeral_1h_input_tokens",
            f"{u}.server_tool_use.web_search_requests",
            f"{u}.speed",
            f"{u}.service_tier",
            f"{u}.inference_geo",
            f"{e}.costUSD",
            f"len({u}.iterations)",
        )
    )


def _schema_query(files: list[str]) -> str:
    columns = "{" + ", ".join(f"'{k}': '{_sql_type(v)}'" for k, v in SHAPE.items()) + "}"
    source = (
        f"read_json({files!r}, format='newline_delimited', records='true', columns={columns}, "
        "ignore_errors=true, filename=true, maximum_object_size=67108864)"
    )
    return (
        f"WITH src AS (SELECT * FROM {source}) "
        f"SELECT filename, sessionId, {_fields('src')} FROM src "
        "WHERE type = 'assistant' AND message.usage IS NOT NULL "
        "UNION ALL "
        f"SELECT filename, coalesce(sessionId, data.message.sessionId), {_fields('data.message')} FROM src "
        "WHERE type = 'progress' AND data.message.message.usage IS NOT NULL"
    )


_PATHS = [
    "$.type",
    "$.message.id",
    "$.requestId",
    "$.isSidechain",
    "$.timestamp",
    "$.message.model",
    "$.sessionId",
    "$.cwd",
    "$.message.usage.input_tokens",
    "$.message.usage.output_tokens",
    "$.message.usage.cache_read_input_tokens",
    "$.message.usage.cache_creation_input_tokens",
    "$.message.usage.cache_creation.ephemeral_5m_input_tokens",
    "$.message.usage.cache_creation.ephemeral_1h_input_tokens",
    "$.message.usage.server_tool_use.web_search_requests",
    "$.message.usage.speed",
    "$.message.usage.service_tier",
    "$.message.usage.inference_geo",
    "$.costUSD",
    "$.data.message.message.usage.input_tokens",
]


def _objects_query(files: list[str]) -> str:
    # A progress line is kept by its inner usage (the last path), but only top-level fields are
    # extracted: the inner entry's would double the list. So this variant understates the work
    # the reader does for progress lines, a bound in DuckDB's favour.
    source = (
        f"read_ndjson_objects({files!r}, ignore_errors=true, filename=true, maximum_object_size=67108864)"
    )
    return (
        f"WITH src AS (SELECT filename, json FROM {source} WHERE contains(json, '\"usage\"')), "
        f"x AS (SELECT filename, json_extract_string(json, {_PATHS!r}) AS f FROM src) "
        "SELECT filename, f FROM x "
        "WHERE f[1] IN ('assistant', 'progress') AND (f[9] IS NOT NULL OR f[20] IS NOT NULL)"
    )


def _transform_query(files: list[str]) -> str:
    # The usage lines found by a byte test on each line's text, then one ``json_transform`` of
    # only those lines into the schema's struct (the other ~37% of lines are split, not parsed).
    shape = json.dumps(SHAPE)
    source = (
        f"read_ndjson_objects({files!r}, ignore_errors=true, filename=true, maximum_object_size=67108864)"
    )
    return (
        f"WITH t AS (SELECT filename, json_transform(json, '{shape}') AS src FROM {source} "
        "WHERE contains(json, '\"usage\"')) "
        f"SELECT filename, src.sessionId, {_fields('src')} FROM t "
        "WHERE src.type = 'assistant' AND src.message.usage IS NOT NULL "
        "UNION ALL "
        "SELECT filename, coalesce(src.sessionId, src.data.message.sessionId), "
        f"{_fields('src.data.message')} FROM t "
        "WHERE src.type = 'progress' AND src.data.message.message.usage IS NOT NULL"
    )


def _floor_query(files: list[str]) -> str:
    """DuckDB's reader alone: every line found and validated as JSON, nothing extracted."""
    return (
        f"SELECT json FROM read_ndjson_objects({files!r}, ignore_errors=true, maximum_object_size=67108864)"
    )


def _files(tree: Path) -> list[str]:
    return [str(p) for p in sorted(tree.rglob("*.jsonl"))]


def _run_duckdb(files: list[str], kind: str, threads: int, fetch: bool) -> dict[str, Any]:
    start, wall = time.process_time(), time.perf_counter()
    import duckdb

    imported = time.process_time() - start, time.perf_counter() - wall
    con = duckdb.connect(config={"threads": threads, "autoinstall_known_extensions": False})
    query = {
        "schema": _schema_query,
        "objects": _objects_query,
        "transform": _transform_query,
        "floor": _floor_query,
    }[kind](files)
    start, wall = time.process_time(), time.perf_counter()
    if fetch:
        rows = con.sql(query).fetchall()
        n = len(rows)
    else:
        ((n, _h),) = con.sql(f"SELECT count(*), sum(hash(q)) FROM ({query}) q").fetchall()
    return {
        "cpu": time.process_time() - start,
        "wall": time.perf_counter() - wall,
        "rows": n,
        "import_cpu": imported[0],
        "import_wall": imported[1],
    }


def _run_msgspec(files: list[str], rows: bool) -> dict[str, Any]:
    import msgspec

    from cost_mcp.sources import claude_code

    decode = claude_code._decode_line
    progress = claude_code._decode_progress
    null = claude_code._NULL
    if not rows:
        lines: list[bytes] = []
        for name in files:
            lines.extend(Path(name).read_bytes().splitlines(keepends=True))
    start, wall = time.process_time(), time.perf_counter()
    n = bad = 0
    if not rows:
        for raw in lines:
            try:
                line = decode(raw)
            except msgspec.DecodeError:
                bad += 1
                continue
            n += line.type == "assistant"
    else:
        out: list[tuple[Any, ...]] = []
        for name in files:
            for raw in Path(name).read_bytes().splitlines(keepends=True):
                try:
                    line = decode(raw)
                except msgspec.DecodeError:
                    bad += 1
                    continue
                entry = line
                if line.type == "progress" and line.data != null:
                    try:
                        inner = progress(line.data).message
                    except msgspec.DecodeError:
                        continue
                    if inner is None:
                        continue
                    entry = inner
                elif line.type != "assistant":
                    continue
                m = entry.message
                if m is None or (u := m.usage) is None:
                    continue
                c = u.cache_creation
                s = u.server_tool_use
                out.append(
                    (
                        name,
                        line.sessionId or entry.sessionId,
                        m.id,
                        entry.requestId or line.requestId,
                        entry.isSidechain or line.isSidechain,
                        entry.timestamp or line.timestamp,
                        m.model,
                        line.cwd or entry.cwd,
                        u.input_tokens,
                        u.output_tokens,
                        u.cache_read_input_tokens,
                        u.cache_creation_input_tokens,
                        c and c.ephemeral_5m_input_tokens,
                        c and c.ephemeral_1h_input_tokens,
                        s and s.web_search_requests,
                        u.speed,
                        u.service_tier,
                        u.inference_geo,
                        entry.costUSD,
                        len(u.iterations or ()),
                    )
                )
        n = len(out)
    return {"cpu": time.process_time() - start, "wall": time.perf_counter() - wall, "rows": n, "bad": bad}


VARIANTS = [
    "msgspec-decode",
    "msgspec-rows",
    "schema-1-count",
    "schema-1",
    "schema-2-count",
    "schema-2",
    "transform-1-count",
    "transform-1",
    "transform-2",
    "objects-1-count",
    "objects-1",
    "objects-2",
    "floor-1-count",
    "floor-2-count",
]


def _child(variant: str, tree: Path) -> None:
    files = _files(tree)
    if variant.startswith("msgspec"):
        result = _run_msgspec(files, rows=variant == "msgspec-rows")
    else:
        kind, threads, *count = variant.split("-")
        result = _run_duckdb(files, kind, int(threads), fetch=not count)
    result["rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", default=str(DATA / "claude-200k"), help="a Claude Code tree")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    tree = Path(args.tree)
    if args.child:
        _child(args.child, tree)
        return
    files = _files(tree)
    size = sum(Path(f).stat().st_size for f in files)
    print(f"{len(files)} files, {size / 1e6:.1f} MB")
    for n in range(args.rounds):
        for variant in args.variants.split(","):
            done = subprocess.run(
                [sys.executable, __file__, "--tree", str(tree), "--child", variant],
                capture_output=True,
                text=True,
                check=True,
            )
            r = json.loads(done.stdout.splitlines()[-1])
            extra = (
                f", import {r['import_cpu']:.3f} s CPU / {r['import_wall']:.3f} s"
                if "import_cpu" in r
                else ""
            )
            print(
                f"round {n + 1} {variant:17s} CPU {r['cpu']:.3f} s, wall {r['wall']:.3f} s, "
                f"{r['rows']:,} rows, peak RSS {r['rss_mib']:.0f} MiB{extra}",
                flush=True,
            )


if __name__ == "__main__":
    main()
