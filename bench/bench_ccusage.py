#!/usr/bin/env python3
"""Run ccusage (the peer) on the same generated tree: time, peak RSS, and its token totals vs the truth.

    python bench/bench_ccusage.py                 # 200k lines / 230 MB tree (generated if missing)
    python bench/bench_ccusage.py --files 5000    # the 5,000-small-files tree

ccusage is installed pinned (``ccusage@20.0.24``, whose linux-x64 native binary is published) into
``bench/.node/`` (gitignored). Each command runs with ``CLAUDE_CONFIG_DIR=<tree>``, ``--offline`` and
``--timezone UTC``, after the page cache is warmed. Peak RSS is from ``wait4`` on the npm launcher
(``node``), which covers the native binary it spawns.

ccusage's totals differ from the truth, and the script says by how much and why: it re-applies
ccusage's documented line filters and dedup rules (``bench/../shared/reference/claude-code-logs.md``
§1.4-1.5) to the same files and shows that this model predicts ccusage's numbers, cause by cause.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from benchlib import (
    BENCH,
    BIG,
    MANY,
    OUT,
    TreeSpec,
    ensure_tree,
    median,
    run_measured,
    save,
    table,
    warm_page_cache,
)

CCUSAGE_VERSION = "20.0.24"
NODE_DIR = BENCH / ".node"
LAUNCHER = NODE_DIR / "node_modules" / ".bin" / "ccusage"
NATIVE = NODE_DIR / "node_modules" / "@ccusage" / "ccusage-linux-x64" / "bin" / "ccusage"
CC_KINDS = ("inputTokens", "outputTokens", "cacheReadTokens", "cacheCreationTokens")
REF_OF = {
    "inputTokens": ("input_tokens",),
    "outputTokens": ("output_tokens",),
    "cacheReadTokens": ("cache_read_tokens",),
    "cacheCreationTokens": ("cache_write_5m_tokens", "cache_write_1h_tokens"),
}

# --- install ------------------------------------------------------------------------------------


def install() -> None:
    if LAUNCHER.exists():
        out = subprocess.run([str(LAUNCHER), "--version"], capture_output=True, text=True, check=False)
        if CCUSAGE_VERSION in out.stdout:
            return
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    (NODE_DIR / "package.json").write_text(
        json.dumps({"private": True, "dependencies": {"ccusage": CCUSAGE_VERSION}}, indent=1) + "\n"
    )
    print(f"installing ccusage@{CCUSAGE_VERSION} into {NODE_DIR} ...", file=sys.stderr)
    subprocess.run(
        [
            "npm",
            "install",
            "--no-audit",
            "--no-fund",
            "--prefix",
            str(NODE_DIR),
            f"ccusage@{CCUSAGE_VERSION}",
        ],
        check=True,
    )


# --- a model of ccusage 20.0.24 (what it keeps, how it dedups) ----------------------------------

NULL_FIELDS = re.compile(
    rb'"(?:id|cwd|model|speed|costUSD|version|sessionId|requestId|isApiErrorMessage|'
    rb'cache_read_input_tokens|cache_creation_input_tokens)":null'
)


@dataclass(slots=True)
class CcCopy:
    msg: str
    req: str | None
    session: str
    ts_raw: str
    ts_ms: int
    sidechain: bool
    tokens: tuple[int, int, int, int, int]  # input, output, cache_read, 5m, 1h
    speed: str | None
    progress: bool
    spaced: bool  # no literal "usage":{ in the line
    null_field: bool
    bad_speed: bool

    @property
    def total(self) -> int:
        return sum(self.tokens)


def _n(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def _cc_copy(entry: dict[str, Any], raw: bytes, progress: bool, session: Any) -> CcCopy | None:
    msg = entry.get("message")
    if (
        not isinstance(msg, dict)
        or not isinstance(msg.get("usage"), dict)
        or not isinstance(msg.get("id"), str)
    ):
        return None
    u = msg["usage"]
    ts = entry.get("timestamp")
    if not isinstance(ts, str):
        return None
    cc = u.get("cache_creation")
    c5, c1 = (
        (_n(cc.get("ephemeral_5m_input_tokens")), _n(cc.get("ephemeral_1h_input_tokens")))
        if isinstance(cc, dict)
        else (_n(u.get("cache_creation_input_tokens")), 0)
    )
    speed = u.get("speed")
    req = entry.get("requestId")
    return CcCopy(
        msg=msg["id"],
        req=req if isinstance(req, str) else None,
        session=session if isinstance(session, str) else "",
        ts_raw=ts,
        ts_ms=round(datetime.fromisoformat(ts).timestamp() * 1000),
        sidechain=entry.get("isSidechain") is True,
        tokens=(
            _n(u.get("input_tokens")),
            _n(u.get("output_tokens")),
            _n(u.get("cache_read_input_tokens")),
            c5,
            c1,
        ),
        speed=speed if isinstance(speed, str) else None,
        progress=progress,
        spaced=b'"usage":{' not in raw,
        null_field=NULL_FIELDS.search(raw) is not None,
        bad_speed=speed is not None and speed not in ("standard", "fast"),
    )


def read_copies(root: Path) -> list[CcCopy]:
    """Every usage copy (assistant lines and progress-nested ones), in ccusage's path order."""
    paths = sorted(str(p) for p in (root / "projects").rglob("*.jsonl"))
    out: list[CcCopy] = []
    for path in paths:
        with open(path, "rb") as f:
            for raw in f:
                try:
                    obj = json.loads(raw)
                except ValueError:
                    continue
                if not isinstance(obj, dict):
                    continue
                c: CcCopy | None = None
                if obj.get("type") == "assistant":
                    c = _cc_copy(obj, raw, False, obj.get("sessionId"))
                elif obj.get("type") == "progress" and isinstance(obj.get("data"), dict):
                    nested = obj["data"].get("message")
                    if isinstance(nested, dict) and nested.get("type") == "assistant":
                        c = _cc_copy(nested, raw, True, obj.get("sessionId"))
                if c is not None:
                    out.append(c)
    return out


Keep = Callable[[CcCopy], bool]


def dedup_contract(copies: list[CcCopy], keep: Keep) -> list[CcCopy]:
    """Our contract: (msg, req) or msg alone; sidechain replays join; most tokens, then non-sidechain."""
    groups: dict[str, list[CcCopy]] = {}
    for c in copies:
        if keep(c):
            groups.setdefault(c.msg, []).append(c)
    out: list[CcCopy] = []
    for group in groups.values():
        calls: dict[str, list[CcCopy]] = {
            r: [] for r in sorted({c.req or "" for c in group if not c.sidechain})
        }
        calls = calls or {"": []}
        first = next(iter(calls))
        for c in group:
            calls[(c.req or "") if (c.req or "") in calls else first].append(c)
        out += [max(m, key=lambda c: (c.total, not c.sidechain)) for m in calls.values()]
    return out


@dataclass(frozen=True)
class Rules:
    """One variant of ccusage's streaming dedup; ``DAILY`` and ``MONTHLY`` are what 20.0.24 does."""

    progress: bool  # read assistant entries nested in progress lines
    by_msg: bool  # a sidechain copy also matches an earlier entry by message.id alone
    no_req_key: str  # key without requestId: "msg", "msg+session" or "msg+session+ts"
    sidechain_first: bool  # the non-sidechain copy wins before the token count is looked at


DAILY = Rules(progress=True, by_msg=True, no_req_key="msg+session+ts", sidechain_first=True)
MONTHLY = Rules(progress=False, by_msg=False, no_req_key="msg+session", sidechain_first=True)


def dedup_ccusage(copies: list[CcCopy], keep: Keep, rules: Rules) -> list[CcCopy]:
    """ccusage 20.0.24 as observed (each rule checked against its output on micro-fixtures).

    ``claude daily``: progress-nested copies are read; the no-requestId key is (msg, sessionId,
    timestamp); a sidechain copy also matches an earlier entry by message.id alone.
    ``claude monthly``/``session``: progress lines are not read; the no-requestId key is
    (msg, sessionId); there is NO lookup by message.id, so /btw replays count twice.
    Winner: the non-sidechain copy, then the most tokens, then the copy with ``speed``, then the first.
    """
    entries: list[CcCopy] = []
    exact: dict[tuple[str, ...], int] = {}
    by_msg: dict[str, int] = {}

    def rank(c: CcCopy) -> tuple[bool, int, bool]:
        if rules.sidechain_first:
            return (not c.sidechain, c.total, c.speed is not None)
        return (False, c.total, not c.sidechain)

    for c in copies:
        if not keep(c) or (c.progress and not rules.progress):
            continue
        key: tuple[str, ...]
        if c.req is not None:
            key = (c.msg, c.req)
        elif rules.no_req_key == "msg":
            key = (c.msg,)
        elif rules.no_req_key == "msg+session":
            key = (c.msg, c.session)
        else:
            key = (c.msg, c.session, c.ts_raw)
        idx = exact.get(key)
        if idx is None and rules.by_msg:
            j = by_msg.get(c.msg)
            if j is not None and (c.sidechain or entries[j].sidechain):
                idx = j
        if idx is None:
            exact[key] = len(entries)
            by_msg.setdefault(c.msg, len(entries))
            entries.append(c)
            continue
        exact[key] = idx
        if rank(c) > rank(entries[idx]):
            entries[idx] = c
    return entries


def sums(entries: list[CcCopy]) -> dict[str, int]:
    out = dict.fromkeys(CC_KINDS, 0)
    for e in entries:
        i, o, r, c5, c1 = e.tokens
        out["inputTokens"] += i
        out["outputTokens"] += o
        out["cacheReadTokens"] += r
        out["cacheCreationTokens"] += c5 + c1
    return out


def ccusage_kept(c: CcCopy) -> bool:
    return not (c.spaced or c.null_field or c.bad_speed)


def explain(root: Path) -> dict[str, dict[str, int]]:
    """Totals under successive assumptions, from the truth to each ccusage report, one rule at a time."""
    copies = read_copies(root)
    ours = Rules(progress=True, by_msg=True, no_req_key="msg", sidechain_first=False)
    # steps below change one rule at a time: daily branches off after the shared winner rule
    steps: dict[str, dict[str, int]] = {}
    steps["our contract (= truth)"] = sums(dedup_contract(copies, lambda c: True))
    steps["drops spaced-JSON lines"] = sums(dedup_contract(copies, lambda c: not c.spaced))
    steps["+ drops lines with a listed null"] = sums(
        dedup_contract(copies, lambda c: not (c.spaced or c.null_field))
    )
    steps["+ drops unknown speed"] = sums(dedup_contract(copies, ccusage_kept))
    steps["  (same, as ccusage's streaming dedup)"] = sums(dedup_ccusage(copies, ccusage_kept, ours))
    variants = (
        ("+ non-sidechain copy first, then tokens", Rules(True, True, "msg", True)),
        ("daily: + no-requestId key (msg, session, ts)", DAILY),
        ("monthly: progress lines not read", Rules(False, True, "msg", True)),
        ("monthly: + no-requestId key (msg, session)", Rules(False, True, "msg+session", True)),
        ("monthly: + /btw replays not matched", MONTHLY),
    )
    for name, rules in variants:
        steps[name] = sums(dedup_ccusage(copies, ccusage_kept, rules))
    return steps


# --- runs ---------------------------------------------------------------------------------------


def ccusage_run(binary: Path, report: str, tree: Path) -> tuple[Any, dict[str, Any]]:
    env = {"CLAUDE_CONFIG_DIR": str(tree), "TZ": "UTC", "NO_COLOR": "1", "CCUSAGE_OFFLINE": "1"}
    m = run_measured([str(binary), "claude", report, "--json", "--offline", "--timezone", "UTC"], env)
    if m.returncode != 0:
        raise SystemExit(f"ccusage claude {report} failed (exit {m.returncode}): {m.stderr[-2000:]}")
    return m, json.loads(m.stdout)


def ref_sums(rows: list[dict[str, Any]]) -> dict[str, int]:
    return {k: sum(int(r[f]) for r in rows for f in REF_OF[k]) for k in CC_KINDS}


def pct(a: int, b: int) -> str:
    return f"{(a - b) / b * 100:+.3f}%" if b else "n/a"


def bench(spec: TreeSpec, args: argparse.Namespace) -> int:
    install()
    ref = ensure_tree(spec, args.regen)
    warm_page_cache(spec.path)
    lines, mb = ref["line_count"], ref["byte_count"] / 1e6
    runs: dict[str, list[Any]] = {}
    outputs: dict[str, dict[str, Any]] = {}
    for label, binary, report in (
        ("claude daily (npm launcher)", LAUNCHER, "daily"),
        ("claude monthly (npm launcher)", LAUNCHER, "monthly"),
        ("claude daily (native binary)", NATIVE, "daily"),
    ):
        ms = []
        for _ in range(args.repeat):
            m, out = ccusage_run(binary, report, spec.path)
            ms.append(m)
            outputs[report] = out
        runs[label] = ms
    print(f"\nccusage {CCUSAGE_VERSION} on {spec.path.name}: {ref['file_count']:,} files, ", end="")
    print(f"{lines:,} lines, {mb:.1f} MB\n")
    rows = []
    for label, ms in runs.items():
        walls = [m.wall_s for m in ms]
        rows.append(
            [
                f"{label}, best of {len(ms)}",
                min(walls),
                median(walls),
                f"{max(m.rss_mib for m in ms):.0f}",
                f"{lines / min(walls):,.0f}",
            ]
        )
    print(table(["run", "best wall s", "median wall s", "peak RSS MiB", "lines/s"], rows))

    truth = ref_sums(list(ref["days"].values()))
    daily = {k: int(outputs["daily"]["totals"][k]) for k in CC_KINDS}
    monthly = {k: int(outputs["monthly"]["totals"][k]) for k in CC_KINDS}
    ours: dict[str, int] | None = None
    ingest_json = OUT / f"ingest-{spec.name}.json"
    if ingest_json.exists():  # the last bench_ingest.py run, if it was on this very tree
        last_ingest = json.loads(ingest_json.read_text())
        if (
            last_ingest.get("reference_totals") == ref["totals"]
            and last_ingest.get("bytes") == ref["byte_count"]
        ):
            ours = ref_sums([last_ingest["ledger_totals"]])
    headers = ["tokens", "truth (reference.json)", "ccusage daily", "diff", "ccusage monthly", "diff"]
    trows: list[list[object]] = []
    for k in CC_KINDS:
        row: list[object] = [
            k,
            truth[k],
            daily[k],
            pct(daily[k], truth[k]),
            monthly[k],
            pct(monthly[k], truth[k]),
        ]
        if ours is not None:
            row += [ours[k], pct(ours[k], truth[k])]
        trows.append(row)
    tot = [sum(x[k] for k in CC_KINDS) for x in (truth, daily, monthly)]
    last: list[object] = ["total", tot[0], tot[1], pct(tot[1], tot[0]), tot[2], pct(tot[2], tot[0])]
    if ours is not None:
        headers += ["cost-mcp ledger", "diff"]
        o = sum(ours.values())
        last += [o, pct(o, tot[0])]
    trows.append(last)
    print()
    print(table(headers, trows))

    # per-day differences of ccusage daily vs the truth
    cc_days = {r["date"]: r for r in outputs["daily"]["daily"]}
    day_diffs = []
    for day in sorted(set(cc_days) | set(ref["days"])):
        t = ref_sums([ref["days"][day]]) if day in ref["days"] else dict.fromkeys(CC_KINDS, 0)
        c = {k: int(cc_days.get(day, {}).get(k, 0)) for k in CC_KINDS}
        if t != c:
            day_diffs.append([day, *(f"{c[k] - t[k]:+,}" for k in CC_KINDS)])
    print(f"\nccusage daily differs from the truth on {len(day_diffs)} of {len(ref['days'])} days", end="")
    print(" (first 10):" if day_diffs else ".")
    if day_diffs:
        print(table(["day", *CC_KINDS], day_diffs[:10]))

    steps: dict[str, dict[str, int]] = {}
    if not args.no_explain:
        t0 = time.perf_counter()
        steps = explain(spec.path)
        dt = time.perf_counter() - t0
        print(f"\nwhy (a model of ccusage's filters and dedup applied to the same files, {dt:.1f}s):")
        srows = [[name, *(v[k] for k in CC_KINDS), pct(sum(v.values()), tot[0])] for name, v in steps.items()]
        srows.append(["actual ccusage monthly", *(monthly[k] for k in CC_KINDS), pct(tot[2], tot[0])])
        srows.append(["actual ccusage daily", *(daily[k] for k in CC_KINDS), pct(tot[1], tot[0])])
        print(table(["assumption", *CC_KINDS, "total vs truth"], srows))
        for report, actual, last_step in (
            ("monthly", monthly, "monthly: + /btw replays not matched"),
            ("daily", daily, "daily: + no-requestId key (msg, session, ts)"),
        ):
            model = steps[last_step]
            print(f"model of ccusage {report} {'EQUALS' if model == actual else 'DIFFERS FROM'} its output")
    save(
        f"ccusage-{spec.name}",
        {
            "ccusage": CCUSAGE_VERSION,
            "tree": spec.name,
            "lines": lines,
            "bytes": ref["byte_count"],
            "runs": {
                k: [{"wall_s": m.wall_s, "peak_rss_mib": m.rss_mib} for m in v] for k, v in runs.items()
            },
            "truth": truth,
            "daily_totals": daily,
            "monthly_totals": monthly,
            "cost_mcp_totals": ours,
            "daily_days_differing": len(day_diffs),
            "explain": steps,
            "daily_total_cost_usd": outputs["daily"]["totals"].get("totalCost"),
            "monthly_total_cost_usd": outputs["monthly"]["totals"].get("totalCost"),
        },
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--files", type=int, default=None, help="use the tree of 5,000 small files")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--regen", action="store_true")
    ap.add_argument("--no-explain", action="store_true", help="skip the cause-by-cause model")
    args = ap.parse_args(argv)
    spec = MANY if args.files else BIG
    return bench(spec, args)


if __name__ == "__main__":
    sys.exit(main())
