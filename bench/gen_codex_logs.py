#!/usr/bin/env python3
"""Seeded, deterministic generator of a heavy user's Codex CLI home with a known truth.

    python bench/gen_codex_logs.py OUT_DIR --seed 1 --target-mb 150

Writes ``OUT_DIR/sessions/YYYY/MM/DD/rollout-<time>-<thread id>.jsonl`` and
``OUT_DIR/archived_sessions/`` (``OUT_DIR`` is a ``CODEX_HOME``) the way Codex's rollout recorder
writes them, and ``OUT_DIR/reference.json``: the true per-UTC-day totals of every token kind, summed
from the calls the generator invented (never by parsing the files). Shapes, with their sources in
``docs/agent-formats.md`` (Codex CLI) and ``src/cost_mcp/sources/agents/codex.py``:

* every line is ``{"timestamp","type","payload"}``, compact, stamped when written (ms, UTC ``Z``);
* ``session_meta`` first; per turn a user ``response_item``, a ``turn_context`` with the model (some
  turns switch models), ``task_started``, per model call a ``reasoning`` item with
  ``encrypted_content``, a ``function_call`` and its ``function_call_output`` (the bulk of a real
  file), the call's ``event_msg`` ``token_count`` (``info.total_token_usage`` running,
  ``info.last_token_usage`` the call, ``rate_limits``), then ``agent_message`` and ``task_complete``;
* ``token_count`` sent again with the running total unchanged (Codex re-sends it when only the rate
  limits changed), and ``info: null`` rate-limits-only ones; ``compacted`` when the context fills;
* newer versions' ``token_usage_record`` next to each ``token_count`` (same counts, one call), and now
  and then a record alone: a background call (the local-compaction classifier), a call of its own;
* resumed sessions: later turns appended to the same file hours or days later, the running total going on;
* forks (``session_meta.forked_from_id``) and ``thread_spawn`` sub-agents: a new file whose own
  ``session_meta`` is followed by the parent's lines written again, stamped at the fork, a burst of
  lines 0-2 ms apart (records are never copied), then a pause and the file's own turns. The copied
  ``token_count`` lines are the parent's calls and are not counted again;
* archived sessions moved to ``archived_sessions/``, some compressed to ``.jsonl.zst`` as Codex does
  with archives left alone for 7 days.

Truth per call: uncached input = ``input_tokens - cached_input_tokens``, cache read =
``cached_input_tokens``, output = ``output_tokens`` (reasoning is inside it), on the UTC day of the
call's line.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from check_tree import KINDS  # the per-day truth's kinds, as the checker reads them

GENERATOR_VERSION = 2
DAY_MS = 86_400_000
WINDOW_START_MS = 1_791_158_400_000  # 2026-10-05T00:00:00Z
WINDOW_DAYS = 60
MODELS: tuple[tuple[str, float], ...] = (
    ("gpt-5-codex", 0.34),
    ("gpt-5.1-codex-max", 0.22),
    ("gpt-5", 0.16),
    ("gpt-5.2", 0.14),
    ("gpt-5.1-codex-mini", 0.08),
    ("gpt-5-mini", 0.06),
)
OLD_VERSIONS = ("0.46.0", "0.58.0", "0.63.0")
NEW_VERSIONS = ("0.130.0", "0.134.0")  # write token_usage_record lines
PROJECTS = ("shop", "ledger", "infra", "docs-site", "mobile", "ml-pipeline", "cli", "billing")
CONTEXT_WINDOW = 272_000
COMPACT_AT = 230_000
WORDS = [
    "def",
    "class",
    "return",
    "import",
    "self",
    "value",
    "error",
    "config",
    "path",
    "file",
    "test",
    "assert",
    "raise",
    "async",
    "await",
    "const",
    "let",
    "function",
    "yield",
    "None",
    "True",
    "False",
    "lambda",
    "struct",
    "impl",
    "match",
    "result",
    "option",
    "string",
]


def fmt_ts(ms: int) -> str:
    """A rollout stamp: UTC, milliseconds, ``Z`` (as Codex's recorder writes it)."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def weighted(rng: random.Random, table: tuple[tuple[str, float], ...]) -> str:
    r = rng.random() * sum(w for _, w in table)
    for name, w in table:
        r -= w
        if r <= 0:
            return name
    return table[-1][0]


@dataclass
class Truth:
    days: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    models: Counter[str] = field(default_factory=Counter)
    noise: Counter[str] = field(default_factory=Counter)

    def call(self, ts_ms: int, model: str, usage: dict[str, int]) -> None:
        day = fmt_ts(ts_ms)[:10]
        d = self.days[day]
        d["input_tokens"] += usage["input_tokens"] - usage["cached_input_tokens"]
        d["cache_read_tokens"] += usage["cached_input_tokens"]
        d["output_tokens"] += usage["output_tokens"]
        d["calls"] += 1
        self.models[model] += 1

    def totals(self) -> dict[str, int]:
        out: Counter[str] = Counter()
        for d in self.days.values():
            out.update(d)
        return {k: out[k] for k in KINDS}


@dataclass
class Session:
    """One rollout file being written: its lines (kept for forks), clock and running total."""

    thread_id: str
    path: Path
    start_ms: int
    lines: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    total: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            (
                "input_tokens",
                "cached_input_tokens",
                "output_tokens",
                "reasoning_output_tokens",
                "total_tokens",
            ),
            0,
        )
    )
    last: dict[str, int] | None = None
    context: int = 0
    model: str = "gpt-5-codex"
    turns: int = 0
    cwd: str = ""


class Generator:
    def __init__(self, out: Path, seed: int, target: int) -> None:
        self.out = out
        self.rng = random.Random(seed)
        self.target = target
        self.truth = Truth()
        self.bytes = 0
        self.line_count = 0
        self.files: Counter[str] = Counter()
        self.sizes: list[int] = []
        # Filler the tool outputs are cut from: code-like text, with the escapes JSON needs.
        words = [self.rng.choice(WORDS) for _ in range(400_000)]
        self.filler = " ".join(w + ("\n" if i % 11 == 10 else "") for i, w in enumerate(words))
        self.cipher = base64.b64encode(self.rng.randbytes(3_000_000)).decode()

    # --- lines ---------------------------------------------------------------------------------

    def _text(self, n: int) -> str:
        at = self.rng.randrange(0, len(self.filler) - n - 1)
        return self.filler[at : at + n]

    def _emit(self, s: Session, ts_ms: int, kind: str, payload: dict[str, Any]) -> None:
        s.lines.append((ts_ms, kind, payload))

    def _limits(self, ts_ms: int) -> dict[str, Any]:
        """The account's plan windows at ``ts_ms``: whole percents rising through each window (5 hours,
        7 days, on a fixed grid), the seconds left to its reset, as Codex's server reports them."""
        out: dict[str, Any] = {}
        for name, minutes, peak in (("primary", 300, 90), ("secondary", 10080, 70)):
            span = minutes * 60_000
            start = ts_ms - ts_ms % span
            weight = (start // span * 2_654_435_761) % 100 / 100  # some windows busier than others
            used = float(int((ts_ms - start) / span * peak * (0.3 + weight)))
            out[name] = {
                "used_percent": used,
                "window_minutes": minutes,
                "resets_in_seconds": (start + span - ts_ms) // 1000,
            }
        return out

    def _token_count(self, s: Session, ts_ms: int, last: dict[str, int] | None) -> None:
        info = (
            None
            if last is None
            else {
                "total_token_usage": dict(s.total),
                "last_token_usage": dict(last),
                "model_context_window": CONTEXT_WINDOW,
            }
        )
        self._emit(
            s, ts_ms, "event_msg", {"type": "token_count", "info": info, "rate_limits": self._limits(ts_ms)}
        )

    # --- a session's turns ---------------------------------------------------------------------

    def _turns(self, s: Session, t: int, n_turns: int, new_version: bool) -> int:
        """Write ``n_turns`` turns from ``t`` (ms); the time after the last."""
        rng = self.rng
        for _ in range(n_turns):
            s.turns += 1
            turn_id = str(uuid.UUID(int=rng.getrandbits(128)))
            prompt = self._text(rng.randrange(40, 600))
            self._emit(
                s,
                t,
                "response_item",
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": prompt}]},
            )
            if rng.random() < 0.08:
                s.model = weighted(rng, MODELS)
                self.truth.noise["model_switches"] += 1
            self._emit(
                s,
                t + 3,
                "turn_context",
                {
                    "cwd": s.cwd,
                    "approval_policy": "on-request",
                    "sandbox_policy": {"mode": "workspace-write", "network_access": False},
                    "model": s.model,
                    "effort": rng.choice(("low", "medium", "high")),
                    "summary": "auto",
                },
            )
            self._emit(
                s, t + 5, "event_msg", {"type": "task_started", "model_context_window": CONTEXT_WINDOW}
            )
            self._emit(s, t + 6, "event_msg", {"type": "user_message", "message": prompt, "images": []})
            t += 40
            new_tokens = len(prompt) // 4 + 30
            for _ in range(rng.randrange(1, 10)):
                # Each response's rate-limit headers come before its stream: Codex sends a
                # token_count then, with the running total unchanged (info null before any usage).
                self._token_count(s, t + 300, s.last)
                self.truth.noise["resent_total" if s.last else "rate_limit_only"] += 1
                t += rng.randrange(2_000, 40_000)
                if s.context > COMPACT_AT:
                    self._emit(s, t, "compacted", {"message": self._text(rng.randrange(2_000, 8_000))})
                    s.context = rng.randrange(12_000, 30_000)
                    self.truth.noise["compactions"] += 1
                    t += 500
                if s.context == 0:
                    s.context = rng.randrange(6_000, 14_000)
                inp = s.context + new_tokens
                cached = 0 if rng.random() < 0.04 else (s.context // 128) * 128
                out = int(rng.lognormvariate(5.8, 0.9)) + 20
                reasoning = int(out * rng.uniform(0, 0.8))
                last = {
                    "input_tokens": inp,
                    "cached_input_tokens": cached,
                    "output_tokens": out,
                    "reasoning_output_tokens": reasoning,
                    "total_tokens": inp + out,
                }
                enc = rng.randrange(600, 6_000)
                at = rng.randrange(0, len(self.cipher) - enc)
                self._emit(
                    s,
                    t,
                    "response_item",
                    {
                        "type": "reasoning",
                        "summary": [{"type": "summary_text", "text": self._text(rng.randrange(50, 400))}],
                        "content": None,
                        "encrypted_content": "gAAAAA" + self.cipher[at : at + enc],
                    },
                )
                call_id = f"call_{rng.getrandbits(96):024x}"
                self._emit(
                    s,
                    t + 1,
                    "response_item",
                    {
                        "type": "function_call",
                        "name": "shell",
                        "arguments": json.dumps(
                            {"command": ["bash", "-lc", self._text(rng.randrange(20, 300))]}
                        ),
                        "call_id": call_id,
                    },
                )
                for k, n in last.items():
                    s.total[k] += n

                response = f"resp_{rng.getrandbits(128):032x}"
                if new_version:
                    record = {
                        "thread_id": s.thread_id,
                        "turn_id": turn_id,
                        "session_id": s.thread_id,
                        "root_turn_id": turn_id,
                        "response_id": response,
                        "usage": dict(last),
                    }
                    self._emit(s, t + 2, "token_usage_record", record)
                self._token_count(s, t + 3, last)
                s.last = last
                self.truth.call(t + 3, s.model, last)
                if new_version and rng.random() < 0.04:
                    # A background call (the local-compaction classifier): a record, no token_count.
                    bg = {
                        "input_tokens": rng.randrange(2_000, 9_000),
                        "cached_input_tokens": 0,
                        "output_tokens": rng.randrange(5, 60),
                        "reasoning_output_tokens": 0,
                        "total_tokens": 0,
                    }
                    bg["total_tokens"] = bg["input_tokens"] + bg["output_tokens"]
                    rec = {
                        "thread_id": s.thread_id,
                        "turn_id": turn_id,
                        "session_id": s.thread_id,
                        "root_turn_id": turn_id,
                        "response_id": f"resp_{rng.getrandbits(128):032x}",
                        "usage": bg,
                    }
                    self._emit(s, t + 4, "token_usage_record", rec)
                    self.truth.call(t + 4, s.model, bg)
                    self.truth.noise["background_records"] += 1
                tool_out = int(min(rng.lognormvariate(7.2, 1.3), 60_000))
                t += rng.randrange(200, 8_000)
                self._emit(
                    s,
                    t,
                    "response_item",
                    {
                        "type": "function_call_output",
                        "call_id": call_id,
                        "output": json.dumps(
                            {
                                "output": self._text(tool_out),
                                "metadata": {"exit_code": 0, "duration_seconds": 0.4},
                            }
                        ),
                    },
                )
                s.context = inp + out
                new_tokens = tool_out // 4 + 20
            t += rng.randrange(1_000, 20_000)
            answer = self._text(rng.randrange(100, 1_500))
            self._emit(
                s,
                t,
                "response_item",
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": answer}],
                },
            )
            self._emit(s, t + 1, "event_msg", {"type": "agent_message", "message": answer})
            self._emit(s, t + 2, "event_msg", {"type": "task_complete", "last_agent_message": answer[:200]})
            t += rng.randrange(20_000, 900_000)  # the user reads, thinks, types
        return t

    def _meta(self, s: Session, ts_ms: int, cwd: str, version: str, extra: dict[str, Any]) -> None:
        payload = {
            "id": s.thread_id,
            "timestamp": fmt_ts(ts_ms),
            "cwd": cwd,
            "originator": "codex_cli_rs",
            "cli_version": version,
            "instructions": None,
            "source": "cli",
            "model_provider": "openai",
            "git": {"commit_hash": f"{self.rng.getrandbits(28):07x}", "branch": "main"},
        }
        payload.update(extra)
        self._emit(s, ts_ms, "session_meta", payload)

    def _new(self, start_ms: int) -> Session:
        thread = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        day = fmt_ts(start_ms)
        name = f"rollout-{day[:10]}T{day[11:13]}-{day[14:16]}-{day[17:19]}-{thread}.jsonl"
        path = self.out / "sessions" / day[:4] / day[5:7] / day[8:10] / name
        return Session(thread, path, start_ms)

    def _copy(self, child: Session, parent_lines: list[tuple[int, str, dict[str, Any]]], at_ms: int) -> int:
        """The parent's items written again into ``child`` at ``at_ms``: a burst, each line 0-2 ms
        after the one before (records are never copied); the stamp after the burst."""
        t = at_ms
        for _, kind, payload in parent_lines:
            if kind == "token_usage_record":
                continue
            t += self.rng.randrange(0, 3)
            self._emit(child, t, kind, payload)
            if kind == "event_msg" and payload.get("type") == "token_count" and payload.get("info"):
                self.truth.noise["copied_token_counts"] += 1
        return t

    def _write(self, s: Session, archive: str | None) -> None:
        body = "".join(
            json.dumps({"timestamp": fmt_ts(ts), "type": kind, "payload": payload}, separators=(",", ":"))
            + "\n"
            for ts, kind, payload in s.lines
        ).encode()
        self.line_count += len(s.lines)
        path = s.path
        if archive is not None:
            path = self.out / "archived_sessions" / s.path.name
        path.parent.mkdir(parents=True, exist_ok=True)
        if archive == "zst":
            from backports import zstd  # a cost-mcp dependency before Python 3.14

            path = path.with_name(path.name + ".zst")
            path.write_bytes(zstd.compress(body, level=3))
        else:
            path.write_bytes(body)
        self.bytes += len(body)
        self.sizes.append(len(body))
        self.files[archive or "sessions"] += 1

    # --- the tree ------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        rng = self.rng
        end_ms = WINDOW_START_MS + WINDOW_DAYS * DAY_MS
        while self.bytes < self.target:
            start = WINDOW_START_MS + int(rng.random() * (WINDOW_DAYS - 3) * DAY_MS)
            new_version = rng.random() < 0.35
            version = rng.choice(NEW_VERSIONS if new_version else OLD_VERSIONS)
            cwd = f"/home/dev/{rng.choice(PROJECTS)}"
            s = self._new(start)
            s.cwd = cwd
            s.model = weighted(rng, MODELS)
            self._meta(s, start, cwd, version, {})
            n_turns = max(1, min(int(rng.lognormvariate(2.2, 0.8)), 120))
            t = self._turns(s, start + 150, n_turns, new_version)
            if rng.random() < 0.15:  # `codex resume`: the same file, appended hours or days later
                t += rng.randrange(3_600_000, 3 * DAY_MS)
                self.truth.noise["resumed_sessions"] += 1
                t = self._turns(s, t, max(1, int(rng.lognormvariate(1.5, 0.7))), new_version)
            children: list[Session] = []
            if rng.random() < 0.12:  # `codex fork` / `/fork`: a new thread starting with this history
                at = t + rng.randrange(60_000, DAY_MS)
                f = self._new(at)
                f.cwd = cwd
                f.model = s.model
                f.total = dict(s.total)
                f.last = s.last
                f.context = s.context
                f.turns = s.turns
                self._meta(f, at, cwd, version, {"forked_from_id": s.thread_id})
                burst_end = self._copy(f, s.lines, at)
                self._turns(
                    f,
                    burst_end + rng.randrange(4_000, 120_000),
                    max(1, int(rng.lognormvariate(1.6, 0.7))),
                    new_version,
                )
                children.append(f)
                self.truth.noise["forks"] += 1
            if rng.random() < 0.10 and len(s.lines) > 20:  # a sub-agent spawned with the parent's context
                cut = rng.randrange(len(s.lines) // 2, len(s.lines))
                at = s.lines[cut][0] + 50
                a = self._new(at)
                a.cwd = cwd
                a.model = rng.choice(("gpt-5.1-codex-mini", "gpt-5-codex"))
                prefix = s.lines[:cut]
                # The running total goes on from the last one in the copied history.
                counted = [p["info"] for _, k, p in prefix if k == "event_msg" and p.get("info")]
                if counted:
                    a.total = dict(counted[-1]["total_token_usage"])
                    a.last = dict(counted[-1]["last_token_usage"])
                spawn = {"subagent": {"thread_spawn": {"parent_thread_id": s.thread_id, "depth": 1}}}
                self._meta(a, at, cwd, version, {"source": spawn})
                burst_end = self._copy(a, prefix, at)
                self._turns(a, burst_end + rng.randrange(1_500, 9_000), 1, new_version)
                children.append(a)
                self.truth.noise["subagents"] += 1
            for f in (s, *children):
                last_ms = f.lines[-1][0]
                archive = None
                if last_ms < end_ms - 7 * DAY_MS and rng.random() < 0.2:
                    archive = "zst" if rng.random() < 0.5 else "plain"
                self._write(f, archive)
            del s, children
        return self.reference()

    def reference(self) -> dict[str, Any]:
        sizes = sorted(self.sizes)
        days = {d: {k: c[k] for k in KINDS} for d, c in sorted(self.truth.days.items())}
        return {
            "generator": {"version": GENERATOR_VERSION},
            "day_basis": "UTC day of the call's line",
            "kinds": "input = input_tokens - cached_input_tokens; cache read = cached_input_tokens; "
            "output = output_tokens (reasoning inside)",
            "line_count": self.line_count,
            "byte_count": self.bytes,
            "file_count": len(self.sizes),
            "files_by_kind": dict(sorted(self.files.items())),
            "file_size_quantiles": {
                "p50": sizes[len(sizes) // 2],
                "p90": sizes[int(len(sizes) * 0.9)],
                "max": sizes[-1],
            },
            "totals": self.truth.totals(),
            "days": days,
            "models": dict(sorted(self.truth.models.items())),
            "noise": dict(sorted(self.truth.noise.items())),
        }


def generate(out: Path, seed: int, target_mb: float) -> dict[str, Any]:
    """Write the tree under ``out`` and return the reference (also written to out/reference.json)."""
    target = int(target_mb * 1_000_000)
    if (out / "sessions").exists():
        raise SystemExit(f"{out}/sessions already exists; remove it first")
    out.mkdir(parents=True, exist_ok=True)
    ref = Generator(out, seed, target).run()
    ref["generator"].update(seed=seed, target_bytes=target)
    tmp = out / "reference.json.tmp"
    tmp.write_text(json.dumps(ref, indent=1) + "\n", encoding="utf-8")
    tmp.replace(out / "reference.json")
    return ref


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("out", type=Path, help="output folder: a CODEX_HOME (gets sessions/, archived_sessions/)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--target-mb", type=float, default=150.0, help="uncompressed size of the rollouts, MB")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    ref = generate(args.out, args.seed, args.target_mb)
    tot = ref["totals"]
    print(
        f"wrote {ref['file_count']} files, {ref['line_count']} lines, {ref['byte_count'] / 1e6:.1f} MB "
        f"in {time.perf_counter() - t0:.1f}s: {tot['calls']} calls over {len(ref['days'])} days",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
