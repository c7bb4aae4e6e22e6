#!/usr/bin/env python3
"""Independent check of a generated tree: parse the JSONL with the dedup contract, compare to reference.json.

    python bench/check_tree.py bench/data/claude-200k

This is a plain, slow-but-obvious implementation of the contract the ingester implements, used to
validate the generator (the reference is computed from the invented calls, never from the files):

* an event is identified by (message.id, requestId); by message.id alone when requestId is absent;
* an ``isSidechain: true`` copy with a different requestId and the same message.id is a replay;
* among copies of one call the one with the most tokens wins; on ties the non-sidechain copy;
* assistant entries nested in ``progress`` lines (``data.message``) are copies like any other.

Exit status 0 when every day and kind matches exactly, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

KINDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "calls",
)


@dataclass(slots=True)
class Copy:
    req: str | None
    sidechain: bool
    ts_ms: int
    tokens: tuple[int, int, int, int, int]  # input, output, cache_read, 5m, 1h
    model: str

    @property
    def total(self) -> int:
        return sum(self.tokens)


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def _copy(entry: dict[str, Any], sidechain: bool) -> tuple[str, Copy] | None:
    msg = entry.get("message")
    if not isinstance(msg, dict):
        return None
    usage = msg.get("usage")
    mid = msg.get("id")
    ts = entry.get("timestamp")
    if not isinstance(usage, dict) or not isinstance(mid, str) or not isinstance(ts, str):
        return None
    cc = usage.get("cache_creation")
    if isinstance(cc, dict):
        c5, c1 = _int(cc.get("ephemeral_5m_input_tokens")), _int(cc.get("ephemeral_1h_input_tokens"))
    else:
        c5, c1 = _int(usage.get("cache_creation_input_tokens")), 0
    ts_ms = round(datetime.fromisoformat(ts).timestamp() * 1000)
    req = entry.get("requestId")
    tokens = (
        _int(usage.get("input_tokens")),
        _int(usage.get("output_tokens")),
        _int(usage.get("cache_read_input_tokens")),
        c5,
        c1,
    )
    return mid, Copy(req if isinstance(req, str) else None, sidechain, ts_ms, tokens, str(msg.get("model")))


def parse_tree(root: Path) -> tuple[dict[str, list[Copy]], int, int]:
    """All usage copies by message.id, plus the number of lines read and of lines skipped as malformed."""
    copies: dict[str, list[Copy]] = {}
    lines = bad = 0
    for path in sorted((root / "projects").rglob("*.jsonl")):
        with path.open("rb") as f:
            for raw in f:
                lines += 1
                try:
                    obj = json.loads(raw)
                except ValueError:
                    bad += 1
                    continue
                if not isinstance(obj, dict):
                    continue
                found: tuple[str, Copy] | None = None
                if obj.get("type") == "assistant":
                    found = _copy(obj, obj.get("isSidechain") is True)
                elif obj.get("type") == "progress":
                    data = obj.get("data")
                    nested = data.get("message") if isinstance(data, dict) else None
                    if isinstance(nested, dict) and nested.get("type") == "assistant":
                        found = _copy(nested, nested.get("isSidechain") is True)
                if found is not None:
                    copies.setdefault(found[0], []).append(found[1])
    return copies, lines, bad


def collapse(copies: dict[str, list[Copy]]) -> list[Copy]:
    """One winning copy per call."""
    winners: list[Copy] = []
    for group in copies.values():
        # non-sidechain requestIds define distinct calls; sidechain copies with another requestId replay one
        reqs = sorted({c.req or "" for c in group if not c.sidechain})
        calls: dict[str, list[Copy]] = {r: [] for r in reqs} or {"": []}
        first = next(iter(calls))
        for c in group:
            calls[(c.req or "") if (c.req or "") in calls else first].append(c)
        for members in calls.values():
            winners.append(max(members, key=lambda c: (c.total, not c.sidechain)))
    return winners


def per_day(winners: list[Copy]) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    days: dict[str, dict[str, int]] = {}
    synthetic: dict[str, int] = {}
    for w in winners:
        day = time.strftime("%Y-%m-%d", time.gmtime(w.ts_ms // 1000))
        if w.model == "<synthetic>":
            synthetic[day] = synthetic.get(day, 0) + 1
            continue
        row = days.setdefault(day, dict.fromkeys(KINDS, 0))
        i, o, r, c5, c1 = w.tokens
        row["input_tokens"] += i
        row["output_tokens"] += o
        row["cache_read_tokens"] += r
        row["cache_write_5m_tokens"] += c5
        row["cache_write_1h_tokens"] += c1
        row["calls"] += 1
    return days, synthetic


def compare(
    got: dict[str, dict[str, int]], ref_days: dict[str, dict[str, Any]], kinds: tuple[str, ...] = KINDS
) -> list[str]:
    """Human-readable differences, empty when every day and kind matches exactly."""
    out: list[str] = []
    for day in sorted(set(got) | set(ref_days)):
        g = got.get(day, {})
        r = ref_days.get(day, {})
        for k in kinds:
            gv, rv = int(g.get(k, 0)), int(r.get(k, 0))
            if gv != rv:
                out.append(f"{day} {k}: got {gv:,} expected {rv:,} (diff {gv - rv:+,})")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Check a generated tree against its reference.json.")
    ap.add_argument("tree", type=Path)
    args = ap.parse_args(argv)
    ref = json.loads((args.tree / "reference.json").read_text(encoding="utf-8"))
    t0 = time.perf_counter()
    copies, lines, bad = parse_tree(args.tree)
    days, synthetic = per_day(collapse(copies))
    dt = time.perf_counter() - t0
    diffs = compare(days, ref["days"])
    ref_syn = {d: r["synthetic_calls"] for d, r in ref["days"].items() if r["synthetic_calls"]}
    if synthetic != ref_syn:
        diffs.append(
            f"synthetic calls differ: got {sum(synthetic.values())} expected {sum(ref_syn.values())}"
        )
    if lines != ref["line_count"]:
        diffs.append(f"line count: read {lines} expected {ref['line_count']}")
    n_calls = sum(r["calls"] for r in days.values())
    print(f"self-check: {lines:,} lines ({bad} malformed) -> {n_calls:,} calls in {dt:.1f}s")
    for d in diffs[:50]:
        print("  MISMATCH", d)
    print("self-check:", "EXACT MATCH" if not diffs else f"{len(diffs)} differences")
    return 0 if not diffs else 1


if __name__ == "__main__":
    sys.exit(main())
