"""Issue 18, h-wasm: the parse worker's per-line work in WebAssembly, checked and measured.

A bench prototype, not product code. ``bench/wasm/parse.c`` (built here with the ``ziglang`` wheel
into /tmp/h-wasm, never committed) scans a whole file's bytes in the module's linear memory and
returns a fixed record per line that matters: a usage line's fields as spans, ids of interned
strings and integers, "no usage", "synthetic", or "fallback" for any line whose outcome it cannot be
sure of (the driver then parses that line with ``claude_code._parse``, as the worker does). This
driver turns the records into the same ``Copy`` structs (or skip reasons) ``_parse`` gives.

Neither ``wasmtime`` nor ``ziglang`` is a dependency: install them into a separate venv and put
its site-packages after ``src`` (the project's own msgspec is the same version):

    python3 -m venv /tmp/wasm-venv && /tmp/wasm-venv/bin/pip install /tmp/wheels/*.whl msgspec
    export PYTHONPATH=src:bench:/tmp/wasm-venv/lib/python3.11/site-packages
    python bench/wasm_parse.py --check
    flock /tmp/bench.lock python bench/wasm_parse.py --rounds 5 [--build simd|scalar|native]
    python bench/wasm_parse.py --start
    flock /tmp/bench.lock python bench/wasm_parse.py --timeline 6

``--check``: every line of the tree through both paths, per file, in order; plus hand-made hostile
lines. ``--rounds``: CPU of the current parse's phases (read + split, + strict decode, + copies)
alternated round by round with the module's (read, + copy-in and scan, + records to copies).
``--start``: import, compile and instantiate in fresh processes. ``--timeline``: the CLI's cold
ingest (``start_timeline.py``) as it is, alternated with the same with :func:`read_file` standing
in for ``claude_code._read_file`` (through a ``sitecustomize`` in /tmp/h-wasm/boot).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import struct
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from cost_mcp.sources import claude_code as cc
from cost_mcp.sources import logfiles
from cost_mcp.sources.logfiles import LineReader

HERE = Path(__file__).parent
SOURCE = HERE / "wasm" / "parse.c"
BUILT = Path("/tmp/h-wasm/parse.wasm")
TREE = HERE / "data" / "claude-200k"
if not TREE.exists():  # a worktree without generated data reads main's
    TREE = Path("/work/main/bench/data/claude-200k")

REC = 24
K_USAGE, K_FALLBACK, K_NO_USAGE, K_SYNTHETIC = 1, 2, 3, 4
CAP = 8192  # records per call
PAGE = 65536


def build(kind: str = "simd") -> Path:
    """The module, compiled from parse.c into /tmp when missing or older than its source.

    ``simd``: WebAssembly with SIMD128 (the string scan 16 bytes at a time); ``scalar``: without;
    ``native``: the same C as an x86-64 shared library (for comparison: not a path, it needs a
    compiler or a wheel per platform).
    """
    built = BUILT.with_name({"simd": "parse.wasm", "scalar": "parse-scalar.wasm", "native": "parse.so"}[kind])
    if built.exists() and built.stat().st_mtime >= SOURCE.stat().st_mtime:
        return built
    built.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "ziglang", "cc", "-O3"]
    if kind == "native":
        cmd += ["-shared", "-fPIC"]
    else:
        cmd += ["--target=wasm32-freestanding", "-nostdlib", "-Wl,--no-entry", "-Wl,--strip-all"]
        cmd += [f"-Wl,--export={name}" for name in ("scan", "consumed", "strings", "spans", "__heap_base")]
        cmd += ["-msimd128"] if kind == "simd" else []
    subprocess.run([*cmd, str(SOURCE), "-o", str(built)], check=True)
    return built


class Scanner:
    """One instance of the module; ``records`` scans a file's bytes."""

    def __init__(self, wasm: Path) -> None:
        import wasmtime  # type: ignore[import-not-found]

        self.store = wasmtime.Store(wasmtime.Engine())
        module = wasmtime.Module(self.store.engine, wasm.read_bytes())
        instance = wasmtime.Instance(self.store, module, [])
        exports = instance.exports(self.store)
        self.memory = exports["memory"]
        self.scan = exports["scan"]
        self.consumed = exports["consumed"]
        self.strings = exports["strings"]
        self.spans = exports["spans"]
        self.heap = exports["__heap_base"].value(self.store)

    def _room(self, size: int) -> int:
        have = self.memory.data_len(self.store)
        if have < size:
            self.memory.grow(self.store, (size - have + PAGE - 1) // PAGE)
        # Asked again after every grow: the memory may have moved.
        return ctypes.addressof(self.memory.data_ptr(self.store).contents)

    def records(self, data: bytes, start: int, tail: bool) -> tuple[bytes, list[tuple[int, int]]]:
        """The packed records of ``data``'s lines from ``start``, and the interned strings' spans (id 1 on).

        ``self.reached``: the offset after the last line taken.
        """
        src = (self.heap + 7) & ~7
        out = (src + len(data) + 48) & ~7
        base = self._room(out + CAP * REC * 8)
        ctypes.memmove(base + src, data, len(data))
        ctypes.memset(base + src + len(data), 0x0A, 32)  # the sentinel newline (and padding)
        chunks = []
        fresh = 1
        while True:
            n = self.scan(self.store, src, len(data), start, int(tail), out, CAP, fresh)
            fresh = 0
            chunks.append(ctypes.string_at(base + out, n * REC * 8))
            start = self.consumed(self.store)
            if n < CAP:
                break
        self.reached = start
        count = self.strings(self.store)
        packed = ctypes.string_at(base + self.spans(self.store) + 8, (count - 1) * 8)
        return b"".join(chunks), list(struct.iter_unpack("<ii", packed))


class NativeScanner(Scanner):
    """The same scan as a native shared library through ctypes, for comparison."""

    def __init__(self, lib: Path) -> None:
        self.lib = ctypes.CDLL(str(lib))
        self.lib.scan.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
        self.lib.scan.argtypes += [ctypes.c_int, ctypes.c_int]
        self.lib.spans.restype = ctypes.c_long
        self.buffer = ctypes.create_string_buffer(0)

    def records(self, data: bytes, start: int, tail: bool) -> tuple[bytes, list[tuple[int, int]]]:
        out = (len(data) + 48) & ~7
        if len(self.buffer) < out + CAP * REC * 8:
            self.buffer = ctypes.create_string_buffer(out + CAP * REC * 8)
        base = ctypes.addressof(self.buffer)
        ctypes.memmove(base, data, len(data))
        ctypes.memset(base + len(data), 0x0A, 32)
        chunks = []
        fresh = 1
        while True:
            n = self.lib.scan(base, len(data), start, int(tail), base + out, CAP, fresh)
            fresh = 0
            chunks.append(ctypes.string_at(base + out, n * REC * 8))
            start = self.lib.consumed()
            if n < CAP:
                break
        self.reached = start
        packed = ctypes.string_at(self.lib.spans() + 8, (self.lib.strings() - 1) * 8)
        return b"".join(chunks), list(struct.iter_unpack("<ii", packed))


_UNPACK = struct.Struct(f"<{REC}q").iter_unpack


def results(data: bytes, packed: bytes, strings: list[tuple[int, int]], where: cc.FileIdentity) -> list[Any]:
    """The file's lines as ``_parse`` gives them, None left out: Copy structs and skip reasons, in order."""
    got: list[Any] = []
    append = got.append
    # Each interned string decoded once, in the three forms its fields take; id 0 is "absent or
    # empty": no speed, the file's session (its path's), the folder slug.
    plain = [""]
    cut = [where.session_id[: cc.MAX_ID_CHARS]]
    folder = [where.project]
    for s, e in strings:
        text = data[s:e].decode()
        plain.append(text)
        cut.append(text[: cc.MAX_ID_CHARS])
        folder.append(cc._project(text, where.project))
    origin = where.origin
    copy_type = cc.Copy
    for (
        kind, ls, le, ids, ide, rqs, rqe, side, ts, model, session, cwd,
        c0, c1, c2, c3, c4, c5, total, speed, tier, geo, cos, coe,
    ) in _UNPACK(packed):  # fmt: skip
        if kind == K_USAGE:
            reported = None
            if cos >= 0:
                reported = Decimal(data[cos:coe].decode())
                if not reported <= cc.MAX_CALL_COST:  # an absurd cost: invalid_fields, as _parse says
                    append(cc._parse(data[ls:le], where))
                    continue
            append(
                copy_type(
                    data[ids:ide].decode(),
                    data[rqs:rqe].decode(),
                    side == 1,
                    ts,
                    cut[model],
                    cut[session],
                    folder[cwd],
                    (c0, c1, c2, c3, c4, c5),
                    total,
                    plain[speed],
                    reported,
                    origin,
                    plain[tier],
                    plain[geo],
                )
            )
        elif kind == K_FALLBACK:
            raw = data[ls:le]
            try:
                result = cc._parse(raw, where)
            except RecursionError:
                result = cc.parse_line(raw, where)
            if result is not None:
                append(result)
        elif kind == K_NO_USAGE:
            append("no_usage")
        else:
            append("synthetic")
    return got


def work() -> list[tuple[str, os.stat_result, cc.FileIdentity]]:
    """The tree's files in scan order, as the worker gets them."""
    stats = cc.ScanStats()
    found: dict[str, tuple[os.stat_result, cc.Target]] = {}
    for target in cc.default_targets([TREE]):
        for path, st in cc._walk(target.path, stats.skipped_files):
            found.setdefault(path, (st, target))
    return [(p, found[p][0], cc.identify(Path(p), found[p][1].projects_dir)) for p in sorted(found)]


def lines(path: str, st: os.stat_result) -> Any:
    """A file's lines as ``_read_file`` reads them (its byte-order mark off the first)."""
    final = st.st_size if logfiles.settled(st) else -1
    with open(path, "rb", buffering=cc.READ_BUFFER) as f:
        first = True
        for got in LineReader(f, 0, cc.DEFAULT_MAX_LINE_BYTES, False, final):
            if got is None:
                raise SystemExit(f"{path}: a line over the cap: not covered by this prototype")
            yield got[len(logfiles.BOM) :] if first and got.startswith(logfiles.BOM) else got
            first = False


def reference(path: str, st: os.stat_result, where: cc.FileIdentity) -> list[Any]:
    got = []
    for raw in lines(path, st):
        try:
            result = cc._parse(raw, where)
        except RecursionError:
            result = cc.parse_line(raw, where)
        if result is not None:
            got.append(result)
    return got


def through_module(scanner: Scanner, path: str, st: os.stat_result, where: cc.FileIdentity) -> list[Any]:
    with open(path, "rb") as f:
        data = f.read()
    start = len(logfiles.BOM) if data.startswith(logfiles.BOM) else 0
    packed, strings = scanner.records(data, start, logfiles.settled(st))
    return results(data, packed, strings, where)


def exact(result: Any) -> Any:
    """A result with its reported cost as text: Decimal("0.10") == Decimal("0.1"), and the text is kept."""
    if isinstance(result, cc.Copy):
        fields = [str(v) if isinstance(v, Decimal) else v for v in cc.msgspec.structs.astuple(result)]
        return tuple(fields)
    return result


STAMP = b'"timestamp":"2026-01-02T03:04:05.678Z"'
MESSAGE = b'"id":"m1","model":"claude-x"'


def line(
    fields: bytes = b"",
    usage: bytes = b'{"input_tokens":10,"output_tokens":5}',
    message: bytes = MESSAGE,
    stamp: bytes = STAMP,
    kind: bytes = b'"type":"assistant"',
) -> bytes:
    """An assistant line with ``fields`` before its stamp."""
    return b"{" + kind + b"," + fields + stamp + b',"message":{' + message + b',"usage":' + usage + b"}}\n"


def stamped(text: bytes) -> bytes:
    return b'"timestamp":"' + text + b'"'


def hostile_lines() -> list[tuple[str, bytes]]:
    """Lines each of which must give ``_parse``'s answer, whichever way the module sends it."""
    deep = b"[" * 2000 + b"]" * 2000
    return [
        ("negative zero cost", line(b'"costUSD":-0,')),
        ("exponent cost", line(b'"costUSD":1e-3,')),
        ("long decimal cost", line(b'"costUSD":0.1234567890123456789,')),
        ("absurd cost", line(b'"costUSD":100001,')),
        ("huge exponent elsewhere", line(b'"x":1e400,')),
        ("lone surrogate", line(b'"x":"\\ud800",')),
        ("escaped key", line(kind=b'"t\\u0079pe":"assistant"')),
        ("duplicate type", line(b'"type":"assistant",', kind=b'"type":"user"')),
        ("Feb 30", line(stamp=stamped(b"2026-02-30T03:04:05.678Z"))),
        ("Feb 29 leap", line(stamp=stamped(b"2028-02-29T23:59:59.999Z"))),
        ("offset stamp", line(stamp=stamped(b"2026-01-02T03:04:05.678+02:00"))),
        ("offset before 1970", line(stamp=stamped(b"1970-01-01T01:00:00.000+02:00"))),
        ("offset past 2999", line(stamp=stamped(b"2999-12-31T23:00:00.000-02:00"))),
        ("offset 24:00", line(stamp=stamped(b"2026-01-02T03:04:05.678+24:00"))),
        ("negative offset", line(stamp=stamped(b"2026-01-02T03:04:05.678-05:30"))),
        ("year 3000", line(stamp=stamped(b"3000-01-01T00:00:00.000Z"))),
        ("year 1969", line(stamp=stamped(b"1969-12-31T23:59:59.999Z"))),
        ("no timestamp", line(stamp=b'"x":1')),
        ("bad utf-8", line(b'"x":"\xc3\x28",')),
        ("utf-8 cwd", line(b'"cwd":"/home/j\xc3\xb8rn",')),
        ("unprintable cwd", line(b'"cwd":"/a\\tb",')),
        ("cwd object", line(b'"cwd":{"a":1},')),
        ("sidechain string", line(b'"isSidechain":"yes",')),
        ("user with bad usage", line(usage=b'{"input_tokens":-1}', kind=b'"type":"user"')),
        ("empty model", line(message=b'"id":"m","model":""')),
        ("no message id", line(message=b'"model":"c"')),
        ("long model", line(message=b'"id":"m","model":"' + b"m" * 300 + b'"')),
        ("synthetic, bad stamp", line(message=b'"id":"m","model":"<synthetic>"', stamp=stamped(b"x"))),
        ("count 1.0", line(usage=b'{"input_tokens":1.0}')),
        ("count 1e2", line(usage=b'{"input_tokens":1e2}')),
        ("count at cap", line(usage=b'{"input_tokens":100000000}')),
        ("count over cap", line(usage=b'{"input_tokens":100000001}')),
        (
            "split and total",
            line(
                usage=b'{"cache_creation_input_tokens":7,"cache_creation":{"ephemeral_5m_input_tokens":null,'
                b'"ephemeral_1h_input_tokens":3},"server_tool_use":{"web_search_requests":2}}'
            ),
        ),
        ("split all null", line(usage=b'{"cache_creation_input_tokens":7,"cache_creation":{}}')),
        ("iterations", line(usage=b'{"iterations":[{"type":"compaction","input_tokens":3}]}')),
        ("deep", line(b'"x":' + deep + b",")),
        ("crlf", line()[:-1] + b"\r\n"),
        ("tail without newline", line()[:-1]),
        (
            "progress, inner user",
            b'{"type":"progress",' + STAMP + b',"data":{"message":{"type":"user","message":{"usage":{}}}}}\n',
        ),
        (
            "progress, inner typeless",
            b'{"type":"progress",' + STAMP + b',"costUSD":0.5,"sessionId":"o","data":{"message":'
            b'{"requestId":"r","message":{"id":"m","model":"c","usage":{"output_tokens":4}}}}}\n',
        ),
        ("progress, data string", b'{"type":"progress","data":"x"}\n'),
        ("progress, data null", b'{"type":"progress","data":null}\n'),
        ("array line", b"[1,2]\n"),
        ("blank line", b"\n"),
    ]


def check(scanner: Scanner) -> int:
    """Both paths on every file of the tree and on the hostile lines; the number of differences."""
    where = cc.FileIdentity(Path("/p/projects/-slug/s.jsonl"), "/slug", "s")
    bad = 0
    kinds_named = ["", "usage", "fallback", "no_usage", "synthetic"]
    for why, raw in hostile_lines():
        want = exact(cc.parse_line(raw, where))
        packed, strings = scanner.records(raw, 0, True)
        got = [exact(r) for r in results(raw, packed, strings, where)]
        kinds = [r[0] for r in _UNPACK(packed)]
        if got != ([want] if want is not None else []):
            bad += 1
            print(f"DIFF {why}: module {got} against _parse {want}")
        else:
            print(f"ok {why}: {kinds_named[kinds[0]] if kinds else 'none'}")
    files = lines_total = usage = fallback = 0
    reasons: dict[str, int] = {}
    for path, st, where in work():
        files += 1
        want = [exact(r) for r in reference(path, st, where)]
        with open(path, "rb") as f:
            data = f.read()
        start = len(logfiles.BOM) if data.startswith(logfiles.BOM) else 0
        packed, strings = scanner.records(data, start, logfiles.settled(st))
        got = [exact(r) for r in results(data, packed, strings, where)]
        lines_total += data.count(b"\n")
        for r in _UNPACK(packed):
            fallback += r[0] == K_FALLBACK
        for r in got:
            if isinstance(r, tuple):
                usage += 1
            else:
                reasons[r] = reasons.get(r, 0) + 1
        if got != want:
            bad += 1
            print(f"DIFF {path}: {len(got)} results against {len(want)}")
            print("  only module:", [r for r in got if r not in want][:3])
            print("  only _parse:", [r for r in want if r not in got][:3])
    print(
        f"{files} files, {lines_total:,} lines: {usage:,} copies, skip reasons {reasons}, "
        f"{fallback} lines left to _parse; files differing: {bad}"
    )
    return bad


def measure(scanner: Scanner, rounds: int) -> None:
    """CPU of the current parse's phases and the module's, alternated round by round."""
    files = work()
    decode = cc._decode_line
    parse = cc._parse
    best: dict[str, list[float]] = {}

    def keep(name: str, took: float) -> None:
        best.setdefault(name, []).append(took)

    for _ in range(rounds):
        t = time.process_time()
        for path, st, _where in files:
            for _raw in lines(path, st):
                pass
        keep("current: read + split lines", time.process_time() - t)
        t = time.process_time()
        for path, st, _where in files:
            for raw in lines(path, st):
                try:  # noqa: SIM105 (a context manager per line costs more than the decode)
                    decode(raw)
                except cc.msgspec.DecodeError:
                    pass
        keep("current: + strict decode", time.process_time() - t)
        t = time.process_time()
        n_current = 0
        for path, st, where in files:
            for raw in lines(path, st):
                n_current += type(parse(raw, where)) is cc.Copy
        keep("current: + copies (_parse)", time.process_time() - t)
        t = time.process_time()
        for path, _st, _where in files:
            with open(path, "rb") as f:
                f.read()
        keep("module: read files whole", time.process_time() - t)
        t = time.process_time()
        scan_only = 0.0
        for path, st, _where in files:
            with open(path, "rb") as f:
                data = f.read()
            s = time.process_time()
            scanner.records(data, 3 if data.startswith(logfiles.BOM) else 0, logfiles.settled(st))
            scan_only += time.process_time() - s
        keep("module: + copy in, scan, records out", time.process_time() - t)
        keep("module: copy in, scan, records out alone", scan_only)
        t = time.process_time()
        n_module = 0
        for path, st, where in files:
            with open(path, "rb") as f:
                data = f.read()
            start = 3 if data.startswith(logfiles.BOM) else 0
            packed, strings = scanner.records(data, start, logfiles.settled(st))
            for r in results(data, packed, strings, where):
                n_module += type(r) is cc.Copy
        keep("module: + copies from records", time.process_time() - t)
        assert n_module == n_current, (n_module, n_current)
    print(f"{len(files)} files, {n_current:,} copies, {rounds} rounds, CPU s (min / median / max):")
    for name, took in best.items():
        took.sort()
        print(f"  {name:44} {took[0]:.3f} / {took[len(took) // 2]:.3f} / {took[-1]:.3f}")


def start_costs() -> None:
    """Import, compile and instantiate, each in a fresh process (best of 5)."""
    code = (
        "import time,sys;t=time.perf_counter();c=time.process_time();import wasmtime;"
        "i=time.perf_counter()-t;ic=time.process_time()-c;"
        "t=time.perf_counter();e=wasmtime.Engine();s=wasmtime.Store(e);"
        f"m=wasmtime.Module(e,open('{BUILT}','rb').read());k=time.perf_counter()-t;"
        "t=time.perf_counter();wasmtime.Instance(s,m,[]);n=time.perf_counter()-t;"
        "b=m.serialize();t=time.perf_counter();m2=wasmtime.Module.deserialize(e,b);d=time.perf_counter()-t;"
        "print(i,ic,k,n,d)"
    )
    runs = []
    for _ in range(5):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        runs.append([float(x) for x in out.split()])
    names = ["import wasmtime (wall)", "import wasmtime (CPU)", "compile module", "instantiate"]
    names.append("deserialize a compiled module")
    for i, name in enumerate(names):
        print(f"  {name:32} {min(r[i] for r in runs) * 1000:.1f} ms (best of 5)")


_SCANNER: Scanner | None = None
_READ_FILE = cc._read_file
WHOLE_FILE_MAX = 64 * 1024 * 1024


def read_file(
    path: str,
    st: os.stat_result,
    where: cc.FileIdentity,
    offset: int,
    batch: Any,
    stats: cc.ScanStats,
    skipping: bool = False,
    max_line_bytes: int = cc.DEFAULT_MAX_LINE_BYTES,
) -> Any:
    """``claude_code._read_file`` through the module for a cold read of a whole file, else the original.

    A bench stand-in (``--timeline``): the file read whole (the product would read blocks of whole
    lines: ``scan`` stops before an unfinished line), one file state at the end of the file.
    """
    global _SCANNER  # noqa: PLW0603 (one instance per process, made in the worker after the fork)
    if offset or skipping or st.st_size > WHOLE_FILE_MAX:
        yield from _READ_FILE(path, st, where, offset, batch, stats, skipping, max_line_bytes)
        return
    if _SCANNER is None:  # in the parse worker, after the fork
        _SCANNER = Scanner(build())
    batch.restarted.add(path)
    with open(path, "rb") as f:
        data = f.read()
        start = len(logfiles.BOM) if data.startswith(logfiles.BOM) else 0
        packed, strings = _SCANNER.records(data, start, logfiles.settled(st) and len(data) == st.st_size)
        consumed = _SCANNER.reached
        copies = batch.copies
        held_copy = copies.get
        usage_lines = 0
        first = last = None
        for result in results(data, packed, strings, where):
            if type(result) is cc.Copy:
                usage_lines += 1
                ts = result.ts_ms
                if first is None or ts < first:
                    first = ts
                if last is None or ts > last:
                    last = ts
                if result.extra:
                    batch.add(result)
                else:
                    key = (result.message_id, result.request_id, result.is_sidechain)
                    held = held_copy(key)
                    if (
                        held is None
                        or result.total > held.total
                        or (result.total == held.total and result.rank() < held.rank())
                    ):
                        copies[key] = result
            else:
                stats.skipped[result] += 1
                batch.skipped[(path, result)] += 1
        stats.usage_lines += usage_lines
        stats.lines_read += data.count(b"\n", 0, consumed) + (consumed > 0 and data[consumed - 1] != 0x0A)
        stats.bytes_read += consumed
        if first is not None and last is not None:
            stats.first_ts_ms = first if stats.first_ts_ms is None else min(stats.first_ts_ms, first)
            stats.last_ts_ms = last if stats.last_ts_ms is None else max(stats.last_ts_ms, last)
        yield cc._FileState(
            path,
            st.st_dev,
            st.st_ino,
            st.st_size,
            st.st_mtime_ns,
            consumed,
            logfiles.checkpoint(f.fileno(), consumed),
            False,
            where.project,
            where.session_id,
        )


def patch() -> None:
    """The log reader's ``_read_file`` replaced by :func:`read_file` (for ``--timeline``'s children)."""
    cc._read_file = read_file


BOOT = Path("/tmp/h-wasm/boot")


def timeline(runs: int) -> None:
    """``start_timeline.py``: the CLI's cold ingest as it is, alternated with the same through the module."""
    BOOT.mkdir(parents=True, exist_ok=True)
    (BOOT / "sitecustomize.py").write_text("import wasm_parse\nwasm_parse.patch()\n")
    src = str(HERE.parent / "src")
    site = next(p for p in sys.path if p.endswith("site-packages") and "wasm-venv" in p)
    import start_timeline  # type: ignore[import-not-found]

    start_timeline.DATA = TREE.parent
    patched = f"{src}:{BOOT}:{HERE}:{site}"
    start_timeline.main(["--tree", TREE.name, "--runs", str(runs), "--src", src, "--src", patched])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--rounds", type=int, default=0)
    parser.add_argument("--start", action="store_true")
    parser.add_argument("--timeline", type=int, default=0, help="runs of start_timeline.py, each way")
    parser.add_argument("--build", choices=("simd", "scalar", "native"), default="simd")
    args = parser.parse_args()
    scanner = NativeScanner(build("native")) if args.build == "native" else Scanner(build(args.build))
    if args.check and check(scanner):
        raise SystemExit(1)
    if args.rounds:
        measure(scanner, args.rounds)
    if args.start:
        start_costs()
    if args.timeline:
        timeline(args.timeline)


if __name__ == "__main__":
    main()
