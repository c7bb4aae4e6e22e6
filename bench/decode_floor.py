"""The line decoder's floor: the log reader's msgspec decode against pysimdjson, on the same lines.

Issue 18 names pysimdjson as a faster decoder to try. This reads every line of a tree into memory
(so neither side pays the reads), then alternates, round by round: (1) the reader's own strict
decode of each line (``claude_code._decode_line``, the struct that declares only the fields it
uses), (2) pysimdjson's DOM parse of each line plus the fields a usage line needs (type, message
id, model, timestamp, request and session ids, sidechain flag, the usage counts). CPU seconds of
this process, per round. pysimdjson is not a dependency: ``pip install pysimdjson`` first, or the
script measures the msgspec side alone.

    python bench/decode_floor.py [--tree claude-200k] [--rounds 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import msgspec

from cost_mcp.sources import claude_code

DATA = Path(__file__).parent / "data"


def _lines(tree: Path) -> list[bytes]:
    lines: list[bytes] = []
    for path in sorted(tree.rglob("*.jsonl")):
        lines.extend(path.read_bytes().splitlines(keepends=True))
    return lines


def _msgspec(lines: list[bytes]) -> tuple[int, int]:
    decode = claude_code._decode_line
    usage = bad = 0
    for raw in lines:
        try:
            line = decode(raw)
        except msgspec.DecodeError:
            bad += 1
            continue
        usage += line.type == "assistant"
    return usage, bad


def _simdjson_line(parser: Any, simdjson: Any, raw: bytes) -> int:
    # In a function of its own: pysimdjson refuses to parse again while a proxy of the previous
    # document is alive, and returning drops them all.
    try:
        doc = parser.parse(raw)
    except ValueError:
        return -1
    if not isinstance(doc, simdjson.Object) or doc.get("type") != "assistant":
        return 0
    try:
        usage = doc.at_pointer("/message/usage")
        _ = (
            doc.at_pointer("/message/id"),
            doc.at_pointer("/message/model"),
            doc.get("timestamp"),
            doc.get("requestId"),
            doc.get("sessionId"),
            doc.get("isSidechain"),
            usage.get("input_tokens"),
            usage.get("output_tokens"),
            usage.get("cache_read_input_tokens"),
            usage.get("cache_creation_input_tokens"),
            usage.get("cache_creation"),
        )
    except (KeyError, ValueError):
        return 0
    return 1


def _simdjson(lines: list[bytes], simdjson: Any) -> tuple[int, int]:
    parser = simdjson.Parser()
    usage = bad = 0
    for raw in lines:
        found = _simdjson_line(parser, simdjson, raw)
        if found < 0:
            bad += 1
        else:
            usage += found
    return usage, bad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", default="claude-200k", help="a tree under bench/data")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    lines = _lines(DATA / args.tree)
    print(f"{len(lines):,} lines, {sum(map(len, lines)) / 1e6:.1f} MB")
    try:
        import simdjson  # type: ignore[import-not-found]
    except ImportError:
        simdjson = None
        print("pysimdjson not installed: msgspec only")
    for n in range(args.rounds):
        start = time.process_time()
        usage, bad = _msgspec(lines)
        took = time.process_time() - start
        line = f"round {n + 1}: msgspec {took:.3f} s ({usage:,} usage lines, {bad} bad)"
        if simdjson is not None:
            start = time.process_time()
            usage, bad = _simdjson(lines, simdjson)
            line += f"; pysimdjson {time.process_time() - start:.3f} s ({usage:,}, {bad} bad)"
        print(line)


if __name__ == "__main__":
    main()
