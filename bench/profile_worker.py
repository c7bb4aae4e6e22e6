#!/usr/bin/env python3
"""Where the parse worker's CPU goes on a cold ingest, phase by phase, and what the writer does meanwhile.

    python bench/profile_worker.py                        # the 1x tree, both parts
    PYTHONPATH=/tmp/base/src python bench/profile_worker.py --label main
    python bench/profile_worker.py --tree claude-800k --skip-phases

No profiler (cProfile doubles the parse's time and moves the shares): CPU clocks only.

Phases: the worker's steps run one after the other in this process over the same files, each pass
doing one more step than the one before (read and split lines; then decode each with the strict
struct; then the whole parse into copies; then the batches as the worker makes them), and over the
batches that yields: pricing, the rest of the row tuples, the batch's counted decisions, the rollup's
sums, the MessagePack encode and (the writer's side) the decode. A phase is its pass's CPU less the
pass before, or its own step's CPU.

Timeline: one ``claude_code.ingest(full=True)`` on the CLI's path (parse worker forked) with each
step timed: the worker's CPU split into parse (reading, decoding, copies, batching), ``_rows`` and
encode + send; the writer's waits for the next batch, its ``_write`` CPU, the message decodes; and
when the worker finished against when the writer's last write and the tail (index builds, rollup
refresh) ended. With ``--statements``, the writer's ``_write`` split by step (each step's own CPU,
the writer thread's clock, less the steps inside it): the look-ups, the insert, the recount, the
rollup's sums, the file states, the commit.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing.connection
import os
import resource
import shutil
import tempfile
import time
from collections import Counter
from operator import itemgetter
from pathlib import Path
from typing import Any

import msgspec

from benchlib import DATA, table
from cost_mcp.config import load_settings
from cost_mcp.pricing import Pricer
from cost_mcp.sources import beside
from cost_mcp.sources import claude_code as cc
from cost_mcp.sources.logfiles import LineReader
from cost_mcp.store import bulk, connect, rollup


def work_of(tree: Path) -> cc._Work:
    """The files a cold scan of ``tree`` reads, in its order (as ``claude_code.scan`` lists them)."""
    stats = cc.ScanStats()
    found: dict[str, tuple[os.stat_result, cc.Target]] = {}
    for target in cc.default_targets([tree]):
        for path, st in cc._walk(target.path, stats.skipped_files):
            found.setdefault(path, (st, target))
    return [
        (path, found[path][0], cc.identify(Path(path), found[path][1].projects_dir), 0, False)
        for path in sorted(found)
    ]


def lines_of(work: cc._Work) -> Any:
    for path, _, where, _, _ in work:
        with open(path, "rb", buffering=cc.READ_BUFFER) as f:
            for raw in LineReader(f, 0, cc.DEFAULT_MAX_LINE_BYTES):
                if raw is not None:
                    yield raw, where


def batch_keys(copies: list[cc.Copy]) -> list[tuple[str, str, bool]]:
    """The batch's keys (not timed: the batch holds them already)."""
    return [(c.message_id, c.request_id, c.is_sidechain) for c in copies]


def cpu() -> float:
    return time.process_time()


def phases(work: cc._Work, runs: int) -> list[list[Any]]:
    """Each phase's CPU (best of ``runs``), as table rows."""
    best: dict[str, float] = {}

    def keep(name: str, seconds: float) -> None:
        best[name] = min(best.get(name, seconds), seconds)

    total_bytes = sum(st.st_size for _, st, _, _, _ in work)
    decode = cc._decode_line
    parse = cc._parse
    batches: list[tuple[list[cc.Copy], cc._Batch]] = []
    pricer = Pricer()
    # The pricing library's import and first rates, once, outside every measured phase.
    warm = cc._Prices(pricer)
    for run in range(runs):
        t = cpu()
        n = 0
        for _ in lines_of(work):
            n += 1
        keep("read + split lines", cpu() - t)
        t = cpu()
        for raw, _ in lines_of(work):
            # try/except, not contextlib.suppress: a context manager per line cost 0.06-0.1 s,
            # which the decode's row showed and the copies' row then lacked.
            try:  # noqa: SIM105 (see above)
                decode(raw)
            except msgspec.DecodeError:
                pass
        keep("read + split + decode (strict struct)", cpu() - t)
        t = cpu()
        for raw, where in lines_of(work):
            parse(raw, where)
        keep("read + split + parse (decode + copy)", cpu() - t)
        held: list[tuple[list[cc.Copy], cc._Batch]] = []

        def sink(batch: cc._Batch, held: list[tuple[list[cc.Copy], cc._Batch]] = held) -> None:
            copy = cc._Batch()
            copy.files.update(batch.files)
            copy.skipped.update(batch.skipped)
            copy.restarted.update(batch.restarted)
            held.append((list(batch.copies.values()), copy))

        t = cpu()
        cc._read_batches(
            work,
            cc.ScanStats(),
            None,
            None,
            total_bytes,
            cc.DEFAULT_MAX_LINE_BYTES,
            sink,
            cc.FIRST_BATCH_COPIES,
        )
        keep("read + parse + batches (the worker's reading)", cpu() - t)
        batches = held
        if run == 0:
            t = cpu()
            for copies, _ in batches:
                for c in copies:
                    warm.cost(c)
            keep("rates resolved (first sight of each model and day)", cpu() - t)
        prices = warm
        stats = cc.ScanStats()
        t = cpu()
        for copies, _ in batches:
            for c in copies:
                prices.cost(c)
        keep("pricing (cached rates)", cpu() - t)
        t = cpu()
        made = [[cc._row(c, prices, stats) for c in copies] for copies, _ in batches]
        keep("rows: pricing + row tuples", cpu() - t)
        keys = [batch_keys(copies) for copies, _ in batches]
        t = cpu()
        decided = []
        for batch_key, rows in zip(keys, made, strict=True):
            if hasattr(cc, "_uncount_in_batch"):  # this branch: flags in place, in _row's tuples
                per_message = Counter(map(itemgetter(0), batch_key))
                fresh = len(rows) - cc._uncount_in_batch(rows, per_message)
                decided.append((rows, per_message, fresh))
            else:  # main at 1d193a2: a flag list, then every tuple made again with its flag
                per_message = Counter(row[cc._MESSAGE] for row in rows)
                flags = cc._counted_in_batch(rows, per_message)
                decided.append(([(*r, f) for r, f in zip(rows, flags, strict=True)], per_message, sum(flags)))
        keep("rows: counted decisions in the batch", cpu() - t)
        t = cpu()
        sums = [cc._sums(rows) for rows, _, _ in decided]
        keep("rows: rollup sums (_sums)", cpu() - t)
        encode = msgspec.msgpack.Encoder().encode
        t = cpu()
        blobs = [
            encode(
                cc._Shipment(
                    rows=cc._Rows(rows, list(per_message), fresh, s),
                    files=[f.row() for f in batch.files.values()],
                    skipped=[(p, r, k) for (p, r), k in batch.skipped.items()],
                    restarted=list(batch.restarted),
                )
            )
            for (rows, per_message, fresh), s, (_, batch) in zip(decided, sums, batches, strict=True)
        ]
        keep("encode (MessagePack)", cpu() - t)
        dec = msgspec.msgpack.Decoder(cc._Shipment).decode
        t = cpu()
        for blob in blobs:
            dec(blob)
        keep("writer: decode (MessagePack)", cpu() - t)
        if run == 0:
            print(
                f"{n:,} lines, {len(batches)} batches of {[len(c) for c, _ in batches]} copies, "
                f"{sum(len(b) for b in blobs) / 1e6:.1f} MB shipped"
            )
    read = best["read + split lines"]
    dec_ = best["read + split + decode (strict struct)"]
    parse_ = best["read + split + parse (decode + copy)"]
    batch_ = best["read + parse + batches (the worker's reading)"]
    rows_ = best["rows: pricing + row tuples"]
    price = best["pricing (cached rates)"]
    out = [
        ["read + split lines (LineReader)", read],
        ["decode every line (msgspec, strict struct)", dec_ - read],
        ["copies from decoded lines (_parse beyond decode)", parse_ - dec_],
        ["batching (dedup into the batch, file states, checkpoints)", batch_ - parse_],
        ["pricing (_Prices.cost, rates cached)", price],
        ["row tuples beyond pricing (_row)", rows_ - price],
        ["counted decisions in the batch", best["rows: counted decisions in the batch"]],
        ["rollup sums (_sums)", best["rows: rollup sums (_sums)"]],
        ["encode (MessagePack)", best["encode (MessagePack)"]],
    ]
    worker = sum(r[1] for r in out)
    out.append(["worker total (sum of the above)", worker])
    first_sight = best["rates resolved (first sight of each model and day)"]
    out.append(["(once per process) rates resolved at first sight", first_sight])
    out.append(["(writer) decode (MessagePack)", best["writer: decode (MessagePack)"]])
    return [
        [name, s, "" if "total" in name or name.startswith("(") else f"{s / worker:.0%}"] for name, s in out
    ]


class Steps:
    """Each wrapped step's own CPU on the calling thread (less the wrapped steps it calls), summed."""

    def __init__(self) -> None:
        self.own: dict[str, float] = {}
        self.calls: Counter[str] = Counter()
        self.stack: list[float] = []  # per open step: CPU its wrapped callees took

    def wrap(self, owner: Any, attr: str, name: str) -> None:
        inner = getattr(owner, attr)

        def run(*a: Any, **k: Any) -> Any:
            if os.getpid() != self.pid:
                return inner(*a, **k)
            self.stack.append(0.0)
            c0 = time.thread_time()
            try:
                return inner(*a, **k)
            finally:
                spent = time.thread_time() - c0
                nested = self.stack.pop()
                self.own[name] = self.own.get(name, 0.0) + spent - nested
                self.calls[name] += 1
                if self.stack:
                    self.stack[-1] += spent

        setattr(owner, attr, run)

    def wrap_transaction(self) -> None:
        """BEGIN and COMMIT of the writer's transactions (claude_code's own import of it)."""
        inner = cc.write_transaction
        steps = self

        @contextlib.contextmanager
        def timed(conn: Any, **k: Any) -> Any:
            c0 = time.thread_time()
            manager = inner(conn, **k)
            manager.__enter__()
            steps.own["BEGIN IMMEDIATE"] = steps.own.get("BEGIN IMMEDIATE", 0.0) + time.thread_time() - c0
            try:
                yield conn
            except BaseException as exc:
                if not manager.__exit__(type(exc), exc, exc.__traceback__):
                    raise
            else:
                c0 = time.thread_time()
                manager.__exit__(None, None, None)
                steps.own["COMMIT"] = steps.own.get("COMMIT", 0.0) + time.thread_time() - c0
                steps.calls["COMMIT"] += 1

        cc.write_transaction = timed  # type: ignore[assignment]

    def install(self) -> None:
        from cost_mcp.store import claude_logs, meta, otel
        from cost_mcp.store import skipped as skipped_lines

        self.pid = os.getpid()
        self.wrap_transaction()
        self.wrap(claude_logs, "touch", "look-up list (ids to JSON / COPY)")
        self.wrap(claude_logs, "touched_rows", "look-up: the batch's stored rows")
        self.wrap(claude_logs, "upsert_copies", "upsert_copies (beyond the steps below)")
        self.wrap(bulk, "copy_in", "insert: new messages' rows")
        self.wrap(bulk, "insert_rows", "insert: rows of held messages (ON CONFLICT)")
        self.wrap(meta, "note_pricing", "meta.note_pricing")
        self.wrap(otel, "uncount_otel_copies", "otel.uncount_otel_copies")
        self.wrap(cc, "recount", "recount (beyond its look-up and update)")
        self.wrap(claude_logs, "touched_copies", "recount: look-up of stored copies")
        self.wrap(claude_logs, "set_counted", "recount: UPDATE counted")
        self.wrap(cc, "_counted_among", "counted after (look-up)")
        self.wrap(rollup, "add", "rollup.add (the batch's sums)")
        self.wrap(rollup, "mark_dirty", "rollup.mark_dirty")
        self.wrap(cc, "_save_files", "file states (scanned_files)")
        self.wrap(skipped_lines, "record", "skipped lines")


def timeline(tree: Path, statements: bool = False) -> None:
    """One cold ingest on the CLI's path, its steps timed in both processes."""
    tmp = Path(tempfile.mkdtemp(prefix="profile-worker-"))
    env = {"COST_MCP_DB": str(tmp / "cost.db"), "CLAUDE_CONFIG_DIR": str(tree), "COST_MCP_TIMEZONE": "UTC"}
    settings = load_settings(env, env_file=Path("/nonexistent"))
    conn = connect(tmp / "cost.db")
    child_log = tmp / "worker.json"
    parent: dict[str, Any] = {"waits": [], "writes": [], "arrivals": []}
    worker: dict[str, Any] = {"rows": 0.0, "send_cpu": 0.0, "send_wall": 0.0, "ships": []}

    def wrap(owner: Any, name: str, around: Any) -> None:
        inner = getattr(owner, name)
        setattr(owner, name, lambda *a, **k: around(inner, *a, **k))

    def timed_write(inner: Any, c: Any, prepared: Any, *a: Any) -> Any:
        # The writer thread's clock: the process's would add the pump thread's receiving.
        w0, c0 = time.perf_counter(), time.thread_time()
        try:
            return inner(c, prepared, *a)
        finally:
            parent["writes"].append((w0, time.perf_counter(), time.thread_time() - c0, len(prepared.rows)))

    def timed_pump(inner: Any, receive: Any) -> Any:
        parent["fork"] = time.perf_counter()
        inbox, thread = inner(receive)
        get = inbox.get

        def timed_get(*a: Any, **k: Any) -> Any:
            w0 = time.perf_counter()
            got = get(*a, **k)
            parent["waits"].append(time.perf_counter() - w0)
            parent["arrivals"].append(time.perf_counter())
            return got

        inbox.get = timed_get  # type: ignore[method-assign]
        return inbox, thread

    def timed_rows(inner: Any, *a: Any) -> Any:  # in the worker (forked: it inherits the patch)
        c0 = cpu()
        try:
            return inner(*a)
        finally:
            worker["rows"] += cpu() - c0

    send_bytes = multiprocessing.connection.Connection.send_bytes
    encoder = msgspec.msgpack.Encoder

    class TimedEncoder:  # the worker makes its encoder after the fork: it gets this one
        def __init__(self) -> None:
            self.inner = encoder()

        def encode(self, obj: Any) -> bytes:
            c0 = cpu()
            try:
                return self.inner.encode(obj)
            finally:
                worker["send_cpu"] += cpu() - c0

    def timed_send(self: Any, buf: Any, *a: Any) -> Any:  # the worker is the only sender
        w0, c0 = time.perf_counter(), cpu()
        try:
            return send_bytes(self, buf, *a)
        finally:
            worker["send_cpu"] += cpu() - c0
            worker["send_wall"] += time.perf_counter() - w0
            worker["ships"].append((time.perf_counter(), len(buf)))

    def timed_batches(inner: Any, *a: Any, **k: Any) -> Any:
        if os.getpid() == main_pid:
            return inner(*a, **k)
        start, c0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
        try:
            return inner(*a, **k)
        finally:
            c1 = resource.getrusage(resource.RUSAGE_SELF)
            worker["cpu_reading_on"] = c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime
            worker["start"], worker["end"] = start, time.perf_counter()
            child_log.write_text(json.dumps(worker))

    tail: dict[str, float] = {}

    def timed_tail(name: str) -> Any:
        def around(inner: Any, *a: Any) -> Any:
            w0, c0 = time.perf_counter(), cpu()
            try:
                return inner(*a)
            finally:
                tail[name + " wall"] = tail.get(name + " wall", 0.0) + time.perf_counter() - w0
                tail[name + " CPU"] = tail.get(name + " CPU", 0.0) + cpu() - c0
                tail[name + " end"] = time.perf_counter()

        return around

    main_pid = os.getpid()
    steps = Steps()
    if statements:
        steps.install()
    wrap(cc, "_write", timed_write)
    wrap(beside, "pump", timed_pump)
    wrap(cc, "_rows", timed_rows)
    wrap(cc, "_read_batches", timed_batches)
    multiprocessing.connection.Connection.send_bytes = timed_send  # type: ignore[method-assign]
    msgspec.msgpack.Encoder = TimedEncoder  # type: ignore[misc,assignment]
    wrap(bulk, "restore_indexes", timed_tail("index builds"))
    wrap(rollup, "refresh", timed_tail("rollup refresh"))
    Pricer()
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0, c0 = time.perf_counter(), cpu()
    result = cc.ingest(conn, settings, Pricer(), full=True)
    wall, parent_cpu = time.perf_counter() - t0, cpu() - c0
    children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    conn.close()
    w = json.loads(child_log.read_text())
    shutil.rmtree(tmp, ignore_errors=True)
    worker_cpu = children1.ru_utime + children1.ru_stime - children0.ru_utime - children0.ru_stime
    writes = parent["writes"]
    last_batch_ship = w["ships"][-1][0]  # the totals go after _read_batches returns
    write_cpu = sum(x[2] for x in writes)
    parse_cpu = w["cpu_reading_on"] - w["rows"] - w["send_cpu"]

    def tail_of(name: str) -> list[Any]:
        return [
            f"  {name} CPU / wall",
            tail.get(f"{name} CPU", 0.0),
            f"{tail.get(f'{name} wall', 0.0):.3f} wall",
        ]

    waits = sum(parent["waits"])
    print(f"{result.events_added:,} calls, {len(writes)} batches of {[x[3] for x in writes]} rows")
    rows = [
        ["whole ingest (wall)", wall, ""],
        ["fork of the worker (from the call)", parent["fork"] - t0, ""],
        ["worker CPU (rusage)", worker_cpu, ""],
        ["  of which _rows (pricing, rows, decisions, sums)", w["rows"], f"{w['rows'] / worker_cpu:.0%}"],
        ["  of which encode + send (CPU)", w["send_cpu"], f"{w['send_cpu'] / worker_cpu:.0%}"],
        ["  of which parse (reading, decoding, copies, batching)", parse_cpu, ""],
        ["  send blocked or waiting (wall in send - CPU)", w["send_wall"] - w["send_cpu"], ""],
        ["worker's reading, wall (start to totals)", w["end"] - w["start"], ""],
        ["writer CPU (whole parent)", parent_cpu, ""],
        ["  _write CPU", write_cpu, ""],
        ["  waits for the next message (wall)", waits, ""],
        tail_of("index builds"),
        tail_of("rollup refresh"),
        [
            "last batch shipped -> its write ends (wall)",
            writes[-1][1] - last_batch_ship,
            f"{writes[-1][3]:,}",
        ],
        ["worker done reading -> last write ends", writes[-1][1] - w["end"], ""],
        ["last write ends -> ingest returns (tail)", t0 + wall - writes[-1][1], ""],
    ]
    print(table(["step", "seconds", ""], rows))
    print(
        "writes (start, end relative to the fork; CPU; rows): "
        + ", ".join(f"{a - parent['fork']:.2f}-{b - parent['fork']:.2f} {c:.2f} {n}" for a, b, c, n in writes)
    )
    ships = ", ".join(f"{t - parent['fork']:.2f}" for t, _ in w["ships"])
    print(f"worker ships (relative to the fork): {ships}")
    if statements:
        named = sum(steps.own.values())
        print(
            table(
                ["_write step (writer thread CPU, own)", "CPU s", "calls"],
                [[n, t, steps.calls[n]] for n, t in sorted(steps.own.items(), key=lambda x: -x[1])]
                + [["_write beyond the steps (Python)", write_cpu - named, ""]],
            )
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--tree", default="claude-200k")
    ap.add_argument("--label", default="working tree")
    ap.add_argument("--runs", type=int, default=3, help="passes of each phase (the best is kept)")
    ap.add_argument("--skip-phases", action="store_true")
    ap.add_argument("--skip-timeline", action="store_true")
    ap.add_argument("--statements", action="store_true", help="split the writer's _write CPU by step")
    ap.add_argument("--batch", type=int, default=0, help="set claude_code.BATCH_COPIES (an experiment)")
    ap.add_argument("--first", type=int, default=0, help="set claude_code.FIRST_BATCH_COPIES (an experiment)")
    args = ap.parse_args(argv)
    if args.batch:
        cc.BATCH_COPIES = args.batch
    if args.first:
        cc.FIRST_BATCH_COPIES = args.first
    tree = DATA / args.tree
    print(f"{args.label}: {cc.__file__}, load {os.getloadavg()[0]:.2f}")
    if not args.skip_phases:
        print(table(["worker phase (CPU, best of runs)", "CPU s", "share"], phases(work_of(tree), args.runs)))
    if not args.skip_timeline:
        timeline(tree, args.statements)
    print(f"load after {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
