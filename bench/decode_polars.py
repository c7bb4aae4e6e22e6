"""Polars as the line decoder: the log reader's msgspec decode against ``pl.read_ndjson``, same run.

Issue 18's parse worker spends ~1.1 s CPU on the 1x tree. This holds every file of a tree in
memory as blocks of whole lines (8 MiB by default: the memory bound stays the largest line, not
the largest file), then alternates, round by round: (1) the reader's own decode of every line
(``claude_code._decode_line``, as ``decode_floor.py``); (2) polars reading each block with an
explicit schema of only the fields the reader's msgspec structs declare (top level and a progress
line's ``data.message``), filtering to the lines with a usage object, flattening the fields, and
(3) turning the result into Python tuples (``DataFrame.rows()``), which the writer consumes.
Process CPU (``time.process_time``) and wall, per round, once with POLARS_MAX_THREADS=1 and once
with =2 (each in a child process: polars reads the variable at import). Then: what polars does
with a malformed line, mixed types, a ``toolUseResult.usage``, a float count and a bad line's
search by bisection; polars' import time and installed size; and, with ``--adbc``, the usage rows
ingested into SQLite by adbc-driver-sqlite against ``executemany`` of the same tuples.

None of polars, pyarrow, adbc-driver-sqlite is a dependency: run it from a venv of its own.

    python3 -m venv /tmp/polars-venv
    /tmp/polars-venv/bin/pip install polars adbc-driver-sqlite pyarrow msgspec
    PYTHONPATH=src flock /tmp/bench.lock /tmp/polars-venv/bin/python bench/decode_polars.py --adbc
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec

from cost_mcp.sources import claude_code

DATA = Path(__file__).parent / "data"
BLOCK = 8 * 1024 * 1024


def _schema(pl: Any) -> Any:
    """Every field the reader's ``_Line`` struct declares, nested as in the log."""
    cache = pl.Struct({"ephemeral_5m_input_tokens": pl.Int64, "ephemeral_1h_input_tokens": pl.Int64})
    counts = {
        "input_tokens": pl.Int64,
        "output_tokens": pl.Int64,
        "cache_creation_input_tokens": pl.Int64,
        "cache_read_input_tokens": pl.Int64,
        "cache_creation": cache,
    }
    iteration = pl.Struct({"type": pl.String, "model": pl.String, **counts})
    usage = pl.Struct(
        {
            **counts,
            "server_tool_use": pl.Struct({"web_search_requests": pl.Int64}),
            "speed": pl.String,
            "service_tier": pl.String,
            "inference_geo": pl.String,
            "iterations": pl.List(iteration),
        }
    )
    line = {
        "type": pl.String,
        "timestamp": pl.String,
        "sessionId": pl.String,
        "requestId": pl.String,
        "cwd": pl.String,  # an object or number arrives as its JSON text
        "isSidechain": pl.Boolean,
        "costUSD": pl.String,  # through a float: not exact (a Decimal column refuses a float)
        "message": pl.Struct({"id": pl.String, "model": pl.String, "usage": usage}),
    }
    return pl.Schema({**line, "data": pl.Struct({"message": pl.Struct(line)})})


def _fields(pl: Any, e: Any, session: Any) -> list[Any]:
    """One column per field the worker reads, ``e(name)`` giving an entry's field."""
    message = e("message").struct
    usage = message.field("usage").struct
    cache = usage.field("cache_creation").struct
    return [
        message.field("id"),
        e("requestId"),
        e("isSidechain"),
        e("timestamp"),
        message.field("model"),
        session.alias("session"),
        e("cwd"),
        usage.field("input_tokens"),
        usage.field("output_tokens"),
        usage.field("cache_read_input_tokens"),
        usage.field("cache_creation_input_tokens"),
        cache.field("ephemeral_5m_input_tokens"),
        cache.field("ephemeral_1h_input_tokens"),
        usage.field("server_tool_use").struct.field("web_search_requests"),
        usage.field("speed"),
        usage.field("service_tier"),
        usage.field("inference_geo"),
        e("costUSD"),
        usage.field("iterations").list.len().alias("iterations"),
    ]


def _flat(pl: Any, df: Any) -> Any:
    """The usage lines of a block, one column per field the worker reads: an assistant line's own,
    then a progress line's inner entry (the outer line's session id first)."""
    inner = pl.col("data").struct.field("message")
    # Fields first (a struct's field is a view), then the filter on flat columns: filtering the
    # nested columns themselves cost ~4x more.
    top = df.select(
        *_fields(pl, pl.col, pl.col("sessionId")),
        keep=(pl.col("type") == "assistant") & pl.col("message").struct.field("usage").is_not_null(),
    )
    nested = df.select(
        *_fields(pl, inner.struct.field, pl.coalesce("sessionId", inner.struct.field("sessionId"))),
        keep=(pl.col("type") == "progress")
        & inner.struct.field("message").struct.field("usage").is_not_null(),
    )
    return pl.concat([top.filter("keep"), nested.filter("keep")]).drop("keep")


def _blocks(tree: Path, size: int) -> list[bytes]:
    """Each file's bytes cut into blocks of whole lines of about ``size`` bytes."""
    blocks: list[bytes] = []
    for path in sorted(tree.rglob("*.jsonl")):
        with path.open("rb") as f:
            rest = b""
            while chunk := f.read(size):
                chunk = rest + chunk
                cut = chunk.rfind(b"\n") + 1
                if cut == 0:  # no newline yet: a line longer than the block
                    rest = chunk
                    continue
                blocks.append(chunk[:cut])
                rest = chunk[cut:]
            if rest:
                blocks.append(rest)
    return blocks


def _packed(blocks: list[bytes], size: int) -> list[bytes]:
    """The same lines packed across files into blocks of about ``size`` bytes: each polars call
    costs ~0.25 ms a step whatever its rows, and a file is ~0.4 MB, so per-file blocks pay that
    ~550 times (a reader would tell each row's file by the block's line counts per file)."""
    packed: list[bytes] = []
    run: list[bytes] = []
    held = 0
    for block in blocks:
        if held + len(block) > size and run:
            packed.append(b"".join(run))
            run, held = [], 0
        run.append(block)
        held += len(block)
    if run:
        packed.append(b"".join(run))
    return packed


def _msgspec(blocks: list[bytes]) -> tuple[int, int]:
    decode = claude_code._decode_line
    usage = bad = 0
    for block in blocks:
        for raw in block.splitlines(keepends=True):
            try:
                line = decode(raw)
            except msgspec.DecodeError:
                bad += 1
                continue
            usage += line.type == "assistant"
    return usage, bad


def _decodable(block: bytes) -> list[bytes]:
    decode = claude_code._decode_line
    kept = []
    for raw in block.splitlines(keepends=True):
        try:
            decode(raw)
        except msgspec.DecodeError:
            continue
        kept.append(raw)
    return kept


def _bisect(pl: Any, schema: Any, block: bytes) -> tuple[list[Any], int]:
    """The frames of a block's readable lines, and how many lines it had to skip: a block that
    polars refuses is halved (at a line end) until each refused piece is one line."""
    try:
        return [pl.read_ndjson(block, schema=schema)], 0
    except Exception:
        if block.count(b"\n") <= 1:
            return [], 1
    middle = block.rfind(b"\n", 0, len(block) // 2) + 1 or block.find(b"\n") + 1
    left, skipped_left = _bisect(pl, schema, block[:middle])
    right, skipped_right = _bisect(pl, schema, block[middle:])
    return left + right, skipped_left + skipped_right


def _polars(pl: Any, schema: Any, blocks: list[bytes]) -> tuple[float, float, float, float, int, int]:
    """(CPU of the reads, refused ones included, of the msgspec decode of a refused block's lines
    (the fallback a worker would take: bisection costs more, see below), of the filter and
    flattening, of the tuples, usage rows, blocks refused)."""
    read = fallback = flat = tuples = 0.0
    rows = refused = 0
    for block in blocks:
        start = time.process_time()
        try:
            df = pl.read_ndjson(block, schema=schema)
        except Exception:  # polars names no line: the whole block is refused
            read += time.process_time() - start
            refused += 1
            start = time.process_time()
            rows += _msgspec([block])[0]
            fallback += time.process_time() - start
            continue
        middle = time.process_time()
        df = _flat(pl, df)
        end = time.process_time()
        rows += len(df.rows())
        read += middle - start
        flat += end - middle
        tuples += time.process_time() - end
    return read, fallback, flat, tuples, rows, refused


def _timed(fn: Any, *args: Any) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args)
    return time.process_time() - cpu, time.perf_counter() - wall, out


def _rounds(tree: Path, rounds: int, size: int) -> None:
    start = time.perf_counter()
    import polars as pl

    took = time.perf_counter() - start
    print(f"POLARS_MAX_THREADS={os.environ['POLARS_MAX_THREADS']}: import polars {took:.3f} s")
    schema = _schema(pl)
    blocks = _blocks(tree, size)
    packed = _packed(blocks, size)
    # polars' floor: the same lines less those msgspec refuses (the tree's 24 hostile ones), packed.
    clean = _packed([b"".join(_decodable(b)) for b in blocks], size)
    lines = sum(b.count(b"\n") for b in blocks)
    print(f"{lines:,} lines, {sum(map(len, blocks)) / 1e6:.1f} MB, blocks of <= {size >> 20} MiB")
    for n in range(rounds):
        cpu, wall, (usage, bad) = _timed(_msgspec, blocks)
        line = f"round {n + 1}: msgspec {cpu:.3f} s CPU / {wall:.3f} s wall ({usage:,} assistant, {bad} bad)"
        print(line, flush=True)
        for name, these in (("per file", blocks), ("packed", packed), ("packed, bad lines left out", clean)):
            cpu, wall, (read, fallback, flat, tuples, rows, refused) = _timed(_polars, pl, schema, these)
            print(
                f"  polars, {len(these)} blocks {name}: {cpu:.3f} s CPU / {wall:.3f} s wall (read {read:.3f}"
                f" + filter {flat:.3f} + rows() {tuples:.3f} + msgspec for {refused} refused blocks"
                f" {fallback:.3f}; {rows:,} rows)",
                flush=True,
            )
    # One bad line in one block: the cost of finding it by bisection against the block's read.
    block = next(b for b in packed if len(_bisect(pl, schema, b)[0]) == 1)  # one polars reads whole
    lines_of = block.splitlines(keepends=True)
    bad = (
        b"".join(lines_of[: len(lines_of) // 2])
        + b'{"type":"assistant",\n'
        + b"".join(lines_of[len(lines_of) // 2 :])
    )
    cpu_ok, _, _ = _timed(lambda: pl.read_ndjson(block, schema=schema))
    cpu_bad, _, (frames, skipped) = _timed(_bisect, pl, schema, bad)
    print(
        f"one bad line in a {len(block) >> 20} MiB block of {len(lines_of):,} lines: read {cpu_ok:.3f} s;"
        f" refused, found by bisection in {cpu_bad:.3f} s ({len(frames)} reads kept, {skipped} line skipped)"
    )


def _behaviour() -> None:
    import polars as pl

    schema = _schema(pl)
    cases = {
        "malformed line": b'{"type":"user"}\n{"type":"assistant",\n{"type":"user"}\n',
        "truncated last line": b'{"type":"user"}\n{"type":"assistant","message":{"id"',
        "content a string then an array": b'{"type":"user","message":{"content":"hi"}}\n'
        b'{"type":"user","message":{"content":[{"type":"text","text":"hi"}]}}\n',
        "toolUseResult.usage": b'{"type":"user","toolUseResult":{"usage":{"input_tokens":9}},'
        b'"message":{"content":"x"}}\n',
        "cwd an object": b'{"type":"assistant","cwd":{"a":1},"message":{"usage":{"input_tokens":1}}}\n',
        "count a float": b'{"type":"assistant","message":{"usage":{"input_tokens":1.5}}}\n',
        "count negative": b'{"type":"assistant","message":{"usage":{"input_tokens":-5}}}\n',
        "count > 2**63": b'{"type":"assistant","message":{"usage":{"input_tokens":1' + b"0" * 22 + b"}}}\n",
        "message a string": b'{"type":"assistant","message":"hello"}\n',
        "costUSD of 19 digits": b'{"type":"assistant","costUSD":0.1234567890123456789,'
        b'"message":{"usage":{}}}\n',
        "BOM before the first line": b'\xef\xbb\xbf{"type":"user"}\n',
    }
    for name, block in cases.items():
        for ignore in (False, True):
            try:
                df = _flat(pl, pl.read_ndjson(block, schema=schema, ignore_errors=ignore))
                out = f"{len(df)} usage rows {df.rows()[:1]}"
            except Exception as exc:  # what polars raises is the finding
                out = f"refused: {type(exc).__name__}: {str(exc).splitlines()[0][:90]}"
            print(f"  {name:32s} ignore_errors={ignore!s:5s} {out}")


def _import_and_size() -> None:
    times = []
    for _ in range(5):
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                "import time; t = time.perf_counter(); import polars; print(time.perf_counter() - t)",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        times.append(float(out.stdout))
    print(f"import polars, fresh process x5: {', '.join(f'{t:.3f}' for t in times)} s")
    for name in (
        "polars",
        "polars-runtime-32",
        "pyarrow",
        "adbc-driver-sqlite",
        "adbc-driver-manager",
        "msgspec",
    ):
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        size = sum(Path(str(dist.locate_file(f))).stat().st_size for f in dist.files or ())
        print(f"  {name} {dist.version}: {size / 1e6:.1f} MB installed")


def _adbc(tree: Path, size: int) -> None:
    import adbc_driver_sqlite.dbapi as adbc
    import polars as pl
    import pyarrow as pa

    schema = _schema(pl)
    blocks = _packed(_blocks(tree, size), size)
    frames = [_flat(pl, f) for b in blocks for f in _bisect(pl, schema, b)[0]]
    key = ["id", "requestId", "isSidechain"]
    df = pl.concat(frames).unique(key, keep="first").with_columns(pl.col("isSidechain").cast(pl.Int64))
    arrow = df.to_arrow()
    rows = df.rows()
    columns = ", ".join(df.columns)
    ddl = f"CREATE TABLE u ({columns}, UNIQUE (id, requestId, isSidechain))"
    for n in range(3):
        work = Path(tempfile.mkdtemp(prefix="decode-polars-"))
        conn = sqlite3.connect(work / "a.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(ddl)
        cpu, wall = time.process_time(), time.perf_counter()
        conn.execute("BEGIN")
        conn.executemany(f"INSERT INTO u VALUES ({', '.join('?' * len(df.columns))})", rows)
        conn.execute("COMMIT")
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        line = f"round {n + 1}: executemany {cpu:.3f} s CPU / {wall:.3f} s"
        conn.close()
        conn = sqlite3.connect(work / "b.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(ddl)
        conn.close()
        # The writer holds Python tuples: Arrow columns built from them are part of adbc's price.
        cpu = time.process_time()
        built = pa.Table.from_arrays([pa.array(c) for c in zip(*rows, strict=True)], names=df.columns)
        line += f"; Arrow from the tuples {time.process_time() - cpu:.3f} s CPU"
        assert built.num_rows == arrow.num_rows
        with adbc.connect(str(work / "b.db")) as ac, ac.cursor() as cur:
            cpu, wall = time.process_time(), time.perf_counter()
            cur.adbc_ingest("u", arrow, mode="append")
            ac.commit()
            line += (
                f"; adbc_ingest {time.process_time() - cpu:.3f} s CPU / {time.perf_counter() - wall:.3f} s"
            )
        print(f"{line} ({len(rows):,} rows)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", default="claude-200k", help="a tree under bench/data")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--block-mib", type=int, default=BLOCK >> 20)
    parser.add_argument("--adbc", action="store_true", help="also time adbc_ingest against executemany")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    tree, size = DATA / args.tree, args.block_mib << 20
    if args.child:
        _rounds(tree, args.rounds, size)
        return
    print(f"load {Path('/proc/loadavg').read_text().strip()}")
    for threads in ("1", "2"):
        child = [sys.executable, __file__, "--child", "--tree", args.tree, "--rounds", str(args.rounds)]
        subprocess.run(
            [*child, "--block-mib", str(args.block_mib)],
            env={**os.environ, "POLARS_MAX_THREADS": threads},
            check=True,
        )
    print("what polars does with (ignore_errors off / on):")
    _behaviour()
    _import_and_size()
    if args.adbc:
        _adbc(tree, size)
    print(f"load {Path('/proc/loadavg').read_text().strip()}")


if __name__ == "__main__":
    main()
