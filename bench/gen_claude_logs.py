#!/usr/bin/env python3
"""Seeded, deterministic generator of a realistic Claude Code log tree with a known truth.

    python bench/gen_claude_logs.py OUT_DIR --lines 200000 --seed 1 [--target-mb 230] [--files N]

It first invents the truth (unique API calls with their final usage), then writes every call as JSONL
lines carrying the noise real logs have, and writes ``OUT_DIR/reference.json`` from the invented calls
(never by parsing the files). Every copy collapses to the truth under the dedup contract:

* an event is identified by ``(message.id, requestId)``, or by ``message.id`` alone without requestId;
* a copy with ``"isSidechain": true``, a different requestId and the same message.id is a replay;
* among the copies of one call the one with the most tokens wins; on ties the non-sidechain copy.

Copies of a call that tie on total tokens always carry identical usage and the same instant, so the
day a call lands on never depends on which tied copy an ingester keeps.

Noise: content blocks split over 2-3 lines with output growing; resumed sessions that copy earlier
lines verbatim except sessionId; /btw sidechain replays; ``progress`` lines nesting a subagent's
assistant entry; calls without requestId; ``<synthetic>`` zero-usage lines; Task tool results with a
``toolUseResult.usage`` (a user line: never counts); big tool_result padding following the real-world
file-size profile; summary/system/file-history-snapshot lines; malformed, truncated and invalid UTF-8
lines (pure noise); spaced JSON; null fields; ``+02:00`` timestamps; ``usage.speed`` standard/fast/an
unknown value; ``costUSD`` fields; lines without a ``cache_creation`` object.

Output is streamed file by file: only one session (and its subagents) is held in memory at a time.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

GENERATOR_VERSION = 1
DAY_MS = 86_400_000
WINDOW_START_MS = 1_767_571_200_000  # 2026-01-05T00:00:00Z
WINDOW_DAYS = 60
BYTES_PER_LINE_DEFAULT = 1150  # the real-world ratio: 230 MB per 200k lines
PAD = "@@PAD@@"  # placeholder in tool results, replaced by filler text when a file is written
MIN_LINES_PER_FILE = 3
MAX_PAD_CHARS = 6_000_000

# Per-file size profile of real Claude Code logs (ccusage's generate-large-fixture.nu): quantile, bytes.
SIZE_PROFILE: tuple[tuple[float, float], ...] = (
    (0.0, 1_500.0),
    (0.25, 40_000.0),
    (0.50, 105_000.0),
    (0.75, 234_000.0),
    (0.90, 654_000.0),
    (0.95, 1_500_000.0),
    (0.99, 5_400_000.0),
    (1.0, 12_000_000.0),
)

MODELS: tuple[tuple[str, float], ...] = (
    ("claude-sonnet-4-5-20250929", 0.42),
    ("claude-opus-4-6", 0.16),
    ("claude-haiku-4-5-20251001", 0.14),
    ("claude-opus-4-1-20250805", 0.10),
    ("claude-opus-4-5-20251101", 0.10),
    ("claude-sonnet-4-20250514", 0.08),
)
SUBAGENT_MODELS: tuple[tuple[str, float], ...] = (
    ("claude-haiku-4-5-20251001", 0.45),
    ("claude-sonnet-4-5-20250929", 0.40),
    ("claude-opus-4-6", 0.15),
)
VERSIONS = ("2.0.55", "2.0.76", "2.1.3", "2.1.14", "2.1.31", "1.0.98")
OLD_VERSION = "1.0.98"  # writes costUSD sometimes and no cache_creation object
BRANCHES = ("main", "main", "main", "dev", "feature/ledger", "fix/dedup")
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
WORDS = (
    "refactor the ingester so it streams files and keeps offsets; añade pruebas, por favor — merci !",
    "why does the daily total differ from the console? check the cache write 1h tokens",
    "run the tests and fix whatever fails",
    "add a --json flag to the report command",
    "explain this stack trace",
    "write a migration for the budgets table",
    "make the benchmark deterministic",
    "rename Foo to Bar across the repo (日本語のコメントも)",
)

_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_spaced = json.JSONEncoder().encode  # json.dumps defaults: ", " and ": " separators, ASCII escapes


# --- the truth -------------------------------------------------------------------------------------


@dataclass(slots=True)
class Usage:
    input: int
    cc5m: int
    cc1h: int
    cache_read: int
    output: int

    def total(self) -> int:
        return self.input + self.cc5m + self.cc1h + self.cache_read + self.output


@dataclass(slots=True)
class Call:
    msg_id: str
    req_id: str | None
    model: str
    ts_ms: int
    usage: Usage
    speed: str | None
    cache_obj: bool
    web_search: int
    sidechain: bool


KINDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "calls",
    "synthetic_calls",
    "web_search_requests",
)


@dataclass
class Truth:
    days: dict[str, dict[str, int]] = field(default_factory=dict)
    models: dict[str, dict[str, int]] = field(default_factory=dict)
    noise: Counter[str] = field(default_factory=Counter)

    @staticmethod
    def _bump(row: dict[str, int], call: Call) -> None:
        u = call.usage
        row["input_tokens"] += u.input
        row["output_tokens"] += u.output
        row["cache_read_tokens"] += u.cache_read
        row["cache_write_5m_tokens"] += u.cc5m
        row["cache_write_1h_tokens"] += u.cc1h
        row["calls"] += 1
        row["web_search_requests"] += call.web_search

    def add_call(self, call: Call) -> None:
        self._bump(self._day(call.ts_ms), call)
        self._bump(self.models.setdefault(call.model, dict.fromkeys(KINDS, 0)), call)

    def add_synthetic(self, ts_ms: int) -> None:
        self._day(ts_ms)["synthetic_calls"] += 1

    def _day(self, ts_ms: int) -> dict[str, int]:
        day = time.strftime("%Y-%m-%d", time.gmtime(ts_ms // 1000))
        return self.days.setdefault(day, dict.fromkeys(KINDS, 0))

    def totals(self) -> dict[str, int]:
        out = dict.fromkeys(KINDS, 0)
        for row in self.days.values():
            for k in KINDS:
                out[k] += row[k]
        return out


# --- helpers ---------------------------------------------------------------------------------------


def fmt_ts(ms: int, offset: bool = False) -> str:
    """ISO timestamp with milliseconds: ``...Z``, or the same instant written at ``+02:00``."""
    if offset:
        t = time.gmtime((ms + 7_200_000) // 1000)
        return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{ms % 1000:03d}+02:00"
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def weighted(rng: random.Random, table: tuple[tuple[str, float], ...]) -> str:
    x = rng.random() * sum(w for _, w in table)
    for name, w in table:
        x -= w
        if x < 0:
            return name
    return table[-1][0]


def profile_size(u: float) -> float:
    """Inverse CDF of the file-size profile, log-linear between quantiles."""
    for (q0, s0), (q1, s1) in pairwise(SIZE_PROFILE):
        if u <= q1:
            f = (u - q0) / (q1 - q0)
            return math.exp(math.log(s0) + f * (math.log(s1) - math.log(s0)))
    return SIZE_PROFILE[-1][1]


class Ids:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def _b58(self, n: int) -> str:
        return "".join(self.rng.choices(B58, k=n))

    def msg(self) -> str:
        return "msg_01" + self._b58(22)

    def req(self) -> str:
        return "req_011C" + self._b58(20)

    def toolu(self) -> str:
        return "toolu_01" + self._b58(22)

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def agent(self) -> str:
        return f"{self.rng.getrandbits(32):08x}"


class Filler:
    """JSON-safe filler text for tool results, sliced from a pool (ASCII only, so chars == bytes)."""

    def __init__(self, rng: random.Random) -> None:
        pieces: list[str] = []
        starts: list[int] = []
        pos = 0
        templates = (
            "    def f_{n}(self, x: int) -> int:\\n        return x * {n}  # keep it simple\\n",
            "{n:6d}\\tconst value_{n} = compute('{n}', options);\\n",
            "src/cost_mcp/module_{n}.py:{n}: E501 line too long ({n} > 110 characters)\\n",
            '{{\\"type\\":\\"assistant\\",\\"message\\":{{\\"id\\":\\"msg_x{n}\\",\\"usage\\":{{'
            '\\"input_tokens\\":{n},\\"output_tokens\\":{n}}}}}}}\\n',
            "PASSED tests/test_thing.py::test_case_{n} [ {n}%]\\n",
            "<div class='row'><span>{n}</span></div>\\n",
        )
        while pos < 1_500_000:
            t = rng.choice(templates).format(n=rng.randrange(1, 99_999))
            starts.append(pos)
            pieces.append(t)
            pos += len(t)
        self.pool = "".join(pieces)
        self.starts = starts
        self.rng = rng

    def text(self, n: int) -> str:
        if n <= 0:
            return ""
        out: list[str] = []
        left = n
        while left > 0:
            i = self.starts[self.rng.randrange(len(self.starts) - 1)]
            chunk = self.pool[i : i + min(left, len(self.pool) - i)]
            out.append(chunk)
            left -= len(chunk)
        s = "".join(out)
        # never end inside an escape sequence (an odd run of trailing backslashes)
        trailing = len(s) - len(s.rstrip("\\"))
        return s[:-1] if trailing % 2 else s


# --- file plan -------------------------------------------------------------------------------------


@dataclass
class FilePlan:
    size: int
    lines: int
    project: int = 0
    subagent: bool = False
    parent: int = -1
    children: list[int] = field(default_factory=list)


def plan_files(
    rng: random.Random, n_lines: int, target_bytes: int, n_files: int | None
) -> tuple[list[FilePlan], list[str]]:
    def sample(count: int) -> list[float]:
        sizes = [profile_size((i + rng.random()) / count) for i in range(count)]
        rng.shuffle(sizes)
        return sizes

    big_size = 0.0
    if n_files is None:
        if target_bytes >= 50_000_000:
            big_size = min(40e6, 0.10 * target_bytes)  # one file of tens of MB
        mean = sum(profile_size((i + 0.5) / 4000) for i in range(4000)) / 4000
        count = max(4, round((target_bytes - big_size) / mean) + (1 if big_size else 0))
    else:
        count = n_files
    sizes = sample(count)
    big = -1
    if big_size:
        big = max(range(count), key=lambda i: sizes[i])
        sizes[big] = 0.0
    scale = (target_bytes - big_size) / sum(sizes)
    sizes = [s * scale for s in sizes]
    if big >= 0:
        sizes[big] = big_size
    weights = [s**0.9 for s in sizes]
    wsum = sum(weights)
    lines = [max(MIN_LINES_PER_FILE, round(n_lines * w / wsum)) for w in weights]
    # fix rounding so the line total is exact, taking from / giving to the biggest files
    order = sorted(range(count), key=lambda i: -lines[i])
    diff = n_lines - sum(lines)
    k = 0
    while diff != 0:
        i = order[k % min(count, 50)]
        step = 1 if diff > 0 else -1
        if lines[i] + step >= MIN_LINES_PER_FILE:
            lines[i] += step
            diff -= step
        k += 1
    plans = [FilePlan(size=round(s), lines=n) for s, n in zip(sizes, lines, strict=True)]

    n_projects = max(2, min(40, count // 20))
    slugs = [f"-home-dev-src-{name}" for name in _project_names(rng, n_projects)]
    pweights = [1.0 / (p + 1) ** 0.8 for p in range(n_projects)]
    for p in plans:
        p.project = rng.choices(range(n_projects), weights=pweights)[0]
    if big >= 0:
        plans[big].project = 0
    by_project: dict[int, list[int]] = {}
    for i, p in enumerate(plans):
        by_project.setdefault(p.project, []).append(i)
    for idxs in by_project.values():
        mains = [i for i in idxs if i == big or rng.random() >= 0.35]
        if not mains:
            mains = [max(idxs, key=lambda i: plans[i].lines)]
        for i in idxs:
            if i in mains:
                continue
            parent = rng.choices(mains, weights=[plans[m].lines for m in mains])[0]
            plans[i].subagent = True
            plans[i].parent = parent
            plans[parent].children.append(i)
    return plans, slugs


def _project_names(rng: random.Random, n: int) -> list[str]:
    stems = ("app", "api", "web", "infra", "ml-pipeline", "cost-mcp", "docs", "cli", "site", "etl")
    names = [f"{rng.choice(stems)}-{i:02d}" for i in range(n)]
    names[0] = "cost-mcp"
    return names


# --- sessions --------------------------------------------------------------------------------------


Record = str | bytes  # one line without its newline; str may hold PAD placeholders


@dataclass
class Pending:
    """A subagent assistant entry to mirror as a ``progress`` line in the parent session."""

    ts_ms: int
    entry: dict[str, Any]
    agent_id: str
    prompt: str


class Session:
    """Builds the lines of one session file in memory (unpadded), then pads and streams them."""

    def __init__(
        self,
        gen: Generator,
        *,
        session_id: str,
        cwd: str,
        start_ms: int,
        target_lines: int,
        agent_id: str | None = None,
    ) -> None:
        self.g = gen
        self.rng = gen.rng
        self.sid = session_id
        self.cwd = cwd
        self.clock = start_ms
        self.target = target_lines
        self.agent_id = agent_id
        self.sidechain = agent_id is not None
        self.version = self.rng.choice(VERSIONS)
        self.branch = self.rng.choice(BRANCHES)
        self.prev_uuid: str | None = None
        self.records: list[Record] = []
        self.calls: list[Call] = []  # eligible for /btw replays
        self.n_calls = 0
        self.assistant_lines: list[str] = []  # serialized, for truncated copies
        self.mirror: list[Pending] = []  # this subagent's entries the parent will mirror
        self.pending: list[Pending] = []  # entries of subagents to mirror here (sorted by ts)

    # -- envelope and serialization --

    @property
    def room(self) -> int:
        return self.target - len(self.records)

    def _env(self) -> dict[str, Any]:
        cwd: str | None = self.cwd
        if self.rng.random() < 0.004:
            cwd = None
            self.g.truth.noise["cwd_null_lines"] += 1
        d: dict[str, Any] = {
            "parentUuid": self.prev_uuid,
            "isSidechain": self.sidechain,
            "userType": "external",
            "cwd": cwd,
            "sessionId": self.sid,
            "version": self.version,
            "gitBranch": self.branch,
        }
        if self.agent_id is not None:
            d["agentId"] = self.agent_id
        return d

    def _ts(self, ms: int) -> str:
        # +02:00 now and then, and more often late in the UTC day, where the local date is the next day
        late = ms % DAY_MS >= 22 * 3_600_000
        if self.rng.random() < (0.05 if late else 0.01):
            self.g.truth.noise["offset_timestamps"] += 1
            return fmt_ts(ms, offset=True)
        return fmt_ts(ms)

    def _emit(self, obj: dict[str, Any], *, spaced_ok: bool = True) -> str:
        if spaced_ok and self.rng.random() < 0.005:
            self.g.truth.noise["spaced_json_lines"] += 1
            line = _spaced(obj)
        else:
            line = _compact(obj)
        self.records.append(line)
        if "uuid" in obj:
            self.prev_uuid = obj["uuid"]
        return line

    def tick(self, lo_ms: int, hi_ms: int) -> int:
        self.clock += int(math.exp(self.rng.uniform(math.log(lo_ms), math.log(hi_ms))))
        return self.clock

    # -- lines --

    def user_prompt(self) -> None:
        self.tick(20_000, 1_200_000)
        d = self._env()
        text = self.rng.choice(WORDS)
        d.update(
            type="user",
            message={"role": "user", "content": text},
            uuid=self.g.ids.uuid(),
            timestamp=self._ts(self.clock),
        )
        if self.rng.random() < 0.2:
            d["thinkingMetadata"] = {"level": "high", "disabled": False, "triggers": []}
        self._emit(d)
        if self.rng.random() < 0.25 and self.room > 0:
            self.snapshot()

    def tool_result(self, tool_id: str, padded: bool = True) -> None:
        self.tick(200, 60_000)
        d = self._env()
        body = PAD if padded else "ok"
        d.update(
            type="user",
            message={
                "role": "user",
                "content": [
                    {"tool_use_id": tool_id, "type": "tool_result", "content": body, "is_error": False}
                ],
            },
            uuid=self.g.ids.uuid(),
            timestamp=self._ts(self.clock),
            toolUseResult={"stdout": body, "stderr": "", "interrupted": False, "isImage": False},
        )
        self._emit(d, spaced_ok=False)

    def task_result(self, tool_id: str, agent_id: str) -> None:
        """The Task tool's result: a user line whose toolUseResult carries a usage object (never counts)."""
        self.tick(1_000, 120_000)
        d = self._env()
        fake = {
            "input_tokens": self.rng.randrange(1, 50),
            "cache_creation_input_tokens": self.rng.randrange(0, 9000),
            "cache_read_input_tokens": self.rng.randrange(0, 90_000),
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": self.rng.randrange(1, 3000),
            "service_tier": "standard",
        }
        d.update(
            type="user",
            message={
                "role": "user",
                "content": [
                    {
                        "tool_use_id": tool_id,
                        "type": "tool_result",
                        "content": [{"type": "text", "text": PAD}],
                    }
                ],
            },
            uuid=self.g.ids.uuid(),
            timestamp=self._ts(self.clock),
            toolUseResult={
                "status": "completed",
                "prompt": "investigate the failing tests",
                "agentId": agent_id,
                "content": [{"type": "text", "text": PAD}],
                "totalDurationMs": self.rng.randrange(1000, 900_000),
                "totalTokens": sum(v for v in fake.values() if isinstance(v, int)),
                "totalToolUseCount": self.rng.randrange(1, 40),
                "usage": fake,
            },
        )
        self.g.truth.noise["task_results_with_usage"] += 1
        self._emit(d, spaced_ok=False)

    def system(self) -> None:
        self.tick(100, 5_000)
        d = self._env()
        d.update(
            type="system",
            subtype=self.rng.choice(("compact_boundary", "informational", "local_command")),
            content="Conversation compacted"
            if self.rng.random() < 0.5
            else "<local-command-stdout></local-command-stdout>",
            isMeta=False,
            timestamp=self._ts(self.clock),
            uuid=self.g.ids.uuid(),
            level="info",
        )
        self._emit(d)

    def snapshot(self) -> None:
        mid = self.g.ids.uuid()
        backups = {
            f"src/mod_{i}.py": {
                "backupFileName": f"{self.g.ids.agent()}@v{i}",
                "version": i,
                "backupTime": fmt_ts(self.clock),
            }
            for i in range(self.rng.randrange(0, 6))
        }
        d = {
            "type": "file-history-snapshot",
            "messageId": mid,
            "snapshot": {"messageId": mid, "trackedFileBackups": backups, "timestamp": fmt_ts(self.clock)},
            "isSnapshotUpdate": self.rng.random() < 0.3,
        }
        self._emit(d)

    def summary(self) -> None:
        d = {
            "type": "summary",
            "summary": "Refactor of the ingestion pipeline",
            "leafUuid": self.g.ids.uuid(),
        }
        self._emit(d)

    def synthetic(self) -> None:
        self.tick(500, 30_000)
        d = self._env()
        d.update(
            type="assistant",
            uuid=self.g.ids.uuid(),
            timestamp=self._ts(self.clock),
            message={
                "id": self.g.ids.uuid(),
                "container": None,
                "model": "<synthetic>",
                "role": "assistant",
                "stop_reason": "stop_sequence",
                "stop_sequence": "",
                "type": "message",
                "usage": {
                    "input_tokens": 0,
                    "output_tokens": 0,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                    "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
                    "service_tier": None,
                    "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0},
                },
                "content": [{"type": "text", "text": "API Error: 529 Overloaded. Please try again."}],
                "context_management": None,
            },
            error="unknown",
            isApiErrorMessage=True,
        )
        self.g.truth.add_synthetic(self.clock)
        self.g.truth.noise["synthetic_lines"] += 1
        self._emit(d)

    def malformed(self) -> None:
        r = self.rng.random()
        noise = self.g.truth.noise
        if self.assistant_lines and r < 0.5:
            src = self.rng.choice(self.assistant_lines)
            cut = self.rng.randrange(10, len(src) - 2)
            self.records.append(src[:cut])
            noise["truncated_lines"] += 1
        elif r < 0.6:
            self.records.append(b'{"type":"assistant","garbage":"\xff\xfe\xc3\x28 not utf-8"}')
            noise["invalid_utf8_lines"] += 1
        else:
            self.records.append(
                self.rng.choice(
                    (
                        "not json at all",
                        "<<<<<<< HEAD",
                        "null",
                        "[1,2,3]",
                        "{}",
                        '{"type":"assistant"}',
                        '{"type":"assistant","message":{"id":"msg_broken","usage":',
                        '{"type":"assistant","message":{"usage":{"input_tokens":"many","output_tokens":1}}}',
                        "\x00\x00\x00",
                    )
                )
            )
            noise["garbage_lines"] += 1

    # -- calls --

    def new_call(self, model: str) -> Call:
        """Invent one API call (its final usage); the caller sets its timestamp and registers it."""
        rng = self.rng
        g = self.g
        first = self.n_calls == 0
        self.n_calls += 1
        r = rng.random()
        inp = (
            rng.randrange(1, 11)
            if r < 0.7
            else rng.randrange(10, 51)
            if r < 0.97
            else rng.randrange(50, 6000)
        )
        cache_read = 0 if first and rng.random() < 0.7 else min(300_000, int(rng.lognormvariate(10.4, 0.9)))
        if rng.random() < 0.008:  # long-context requests: total input above 200k
            cache_read = rng.randrange(195_000, 300_000)
            g.truth.noise["over_200k_calls"] += 1
        cc = int(rng.lognormvariate(6.8, 1.6)) if rng.random() < 0.85 else 0
        if first:
            cc += rng.randrange(5_000, 25_000)
        cc = min(cc, 120_000)
        cache_obj = self.version != OLD_VERSION or rng.random() < 0.2
        cc1h = 0
        if cache_obj and cc and rng.random() < 0.15:
            cc1h = cc if rng.random() < 0.6 else rng.randrange(0, cc + 1)
        out = max(1, min(32_000, int(rng.lognormvariate(5.3, 1.3))))
        speed: str | None = None
        if self.version >= "2.1":
            speed = "standard"
            if model == "claude-opus-4-6" and rng.random() < 0.25:
                speed = "fast"
            elif rng.random() < 0.0004:
                speed = "turbo"
                g.truth.noise["unknown_speed_calls"] += 1
        web = rng.randrange(1, 4) if rng.random() < 0.01 else 0
        req: str | None = g.ids.req()
        if rng.random() < 0.015:
            req = None
            g.truth.noise["no_request_id_calls"] += 1
        call = Call(
            msg_id=g.ids.msg(),
            req_id=req,
            model=model,
            ts_ms=0,
            usage=Usage(inp, cc - cc1h, cc1h, cache_read, out),
            speed=speed,
            cache_obj=cache_obj,
            web_search=web,
            sidechain=self.sidechain,
        )
        return call

    def _usage_dict(self, call: Call, u: Usage) -> dict[str, Any]:
        d: dict[str, Any] = {
            "input_tokens": u.input,
            "cache_creation_input_tokens": u.cc5m + u.cc1h,
            "cache_read_input_tokens": u.cache_read,
        }
        if call.cache_obj:
            d["cache_creation"] = {"ephemeral_5m_input_tokens": u.cc5m, "ephemeral_1h_input_tokens": u.cc1h}
        d["output_tokens"] = u.output
        if call.web_search:
            d["server_tool_use"] = {"web_search_requests": call.web_search, "web_fetch_requests": 0}
        d["service_tier"] = None if self.rng.random() < 0.01 else "standard"
        if call.speed is not None:
            d["speed"] = call.speed
        return d

    def _assistant(
        self,
        call: Call,
        u: Usage,
        block: dict[str, Any],
        stop: str | None,
        ts_ms: int,
        *,
        req_id: str | None,
        sidechain: bool,
    ) -> tuple[dict[str, Any], str]:
        """One assistant line; returns (the line's dict, its serialization as recorded)."""
        d = self._env()
        d["isSidechain"] = sidechain
        msg: dict[str, Any] = {
            "id": call.msg_id,
            "type": "message",
            "role": "assistant",
            "model": call.model,
            "content": [block],
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": self._usage_dict(call, u),
        }
        if self.version >= "2.1" and self.rng.random() < 0.3:
            msg["context_management"] = None
        d["message"] = msg
        if req_id is not None:
            d["requestId"] = req_id
        d["type"] = "assistant"
        d["uuid"] = self.g.ids.uuid()
        d["timestamp"] = self._ts(ts_ms)
        if self.version == OLD_VERSION and self.rng.random() < 0.05:
            d["costUSD"] = round(u.total() * 3e-6 + u.output * 12e-6, 6)
            self.g.truth.noise["cost_usd_lines"] += 1
        elif self.rng.random() < 0.0005:
            d["costUSD"] = None
            self.g.truth.noise["cost_usd_null_lines"] += 1
        line = self._emit(d)
        self.assistant_lines.append(line)
        if len(self.assistant_lines) > 64:
            del self.assistant_lines[:32]
        return d, line

    def _block(self, kind: str, tool_id: str) -> dict[str, Any]:
        if kind == "thinking":
            return {
                "type": "thinking",
                "thinking": "Let me look at the file first.",
                "signature": "Eu8BCkYIBxgCKkB" * 4,
            }
        if kind == "text":
            return {"type": "text", "text": "I'll fix the dedup key and rerun the tests."}
        tool_input: dict[str, Any] = {"command": "pytest -q", "description": "Run tests"}
        if self.rng.random() < 0.002:
            tool_input = {"file_path": "/tmp/x.json", "content": {"id": None, "items": []}}
            self.g.truth.noise["nested_id_null_lines"] += 1
        return {"type": "tool_use", "id": tool_id, "name": "Bash", "input": tool_input}

    def call_turn(self, model: str) -> None:
        """One API call written as 1-3 content-block lines, then its tool result when there is room."""
        rng = self.rng
        k = min(self.room, rng.choices((1, 2, 3), weights=(0.5, 0.3, 0.2))[0])
        call = self.new_call(model)
        u = call.usage
        if u.output < k:  # partial lines need strictly smaller output
            k = 1
        self.tick(1_000, 40_000)
        gaps = [rng.randrange(30, 900) for _ in range(k - 1)]
        to_midnight = DAY_MS - self.clock % DAY_MS
        if k > 1 and to_midnight < 4 * 3_600_000 and rng.random() < 0.05:
            # straddle UTC midnight: partial lines on one day, the final (counted) line on the next
            self.clock += to_midnight - rng.randrange(1, gaps[0])
            self.g.truth.noise["calls_straddling_midnight"] += 1
        final_ts = self.clock + sum(gaps)
        call.ts_ms = final_ts
        self.g.truth.add_call(call)
        kinds = ("thinking", "text", "tool_use")[3 - k :]
        tool_id = self.g.ids.toolu()
        ts = self.clock
        outs = sorted(rng.sample(range(1, u.output), k - 1)) if k > 1 else []
        if k > 1:
            self.g.truth.noise["split_call_lines"] += k
        for i, kind in enumerate(kinds):
            last = i == k - 1
            usage_i = u if last else Usage(u.input, u.cc5m, u.cc1h, u.cache_read, outs[i])
            stop = ("tool_use" if kind == "tool_use" else "end_turn") if last else None
            entry, _ = self._assistant(
                call,
                usage_i,
                self._block(kind, tool_id),
                stop,
                ts,
                req_id=call.req_id,
                sidechain=self.sidechain,
            )
            if self.sidechain and rng.random() < 0.85:
                nested = {
                    "type": "assistant",
                    "timestamp": entry["timestamp"],
                    "requestId": call.req_id,
                    "uuid": entry["uuid"],
                    "message": entry["message"],
                }
                if call.req_id is None:
                    del nested["requestId"]
                self.mirror.append(Pending(ts, nested, self.agent_id or "", "explore the code"))
            if not last:
                ts += gaps[i]
        self.clock = final_ts
        if call.req_id is None:
            if rng.random() < 0.3 and self.room > 0:  # written twice: an exact duplicate line
                self.records.append(self.records[-1])
                self.g.truth.noise["no_request_id_duplicates"] += 1
        elif not self.sidechain:
            self.calls.append(call)
        if kinds[-1] == "tool_use" and self.room > 0:
            self.tool_result(tool_id)

    def replay(self) -> None:
        """A /btw sidechain replay: same message.id, new requestId, same or strictly smaller usage."""
        call = self.rng.choice(self.calls)
        u = call.usage
        if self.rng.random() < 0.5 and u.output > 1:
            u = Usage(u.input, u.cc5m, u.cc1h, u.cache_read, self.rng.randrange(1, u.output))
        self.tick(500, 30_000)
        to_midnight = DAY_MS - self.clock % DAY_MS
        if u is call.usage and call.ts_ms // DAY_MS == self.clock // DAY_MS and to_midnight < 6 * 3_600_000:
            # an identical replay written the next UTC day: the tie goes to the original, on its day
            self.clock += to_midnight + self.rng.randrange(1, 60_000)
            self.g.truth.noise["identical_replays_next_day"] += 1
        block = {"type": "text", "text": "(side question) the dedup key is (message.id, requestId)."}
        self._assistant(call, u, block, "end_turn", self.clock, req_id=self.g.ids.req(), sidechain=True)
        self.g.truth.noise["sidechain_replay_lines"] += 1

    def progress(self, p: Pending) -> None:
        outer_ts = p.ts_ms + self.rng.randrange(1, 400)
        if outer_ts // DAY_MS != p.ts_ms // DAY_MS:
            outer_ts = p.ts_ms
        self.clock = max(self.clock, outer_ts)
        d = self._env()
        d["isSidechain"] = False
        d.update(
            type="progress",
            data={
                "message": p.entry,
                "normalizedMessages": [],
                "type": "agent_progress",
                "prompt": p.prompt,
                "agentId": p.agent_id,
            },
            toolUseID="agent_msg_" + p.entry["uuid"][:8],
            parentToolUseID=self.g.ids.toolu(),
            uuid=self.g.ids.uuid(),
            timestamp=fmt_ts(outer_ts),
        )
        self.g.truth.noise["progress_lines"] += 1
        self._emit(d)

    # -- the body --

    def fill(self, models: tuple[tuple[str, float], ...]) -> None:
        """Generate lines until the file has exactly ``target`` lines."""
        rng = self.rng
        model = weighted(rng, models)
        pend = 0
        if self.room > 0 and rng.random() < 0.3 and not self.sidechain:
            self.summary()
        if self.room > 0:
            self.user_prompt()
        while self.room > 0:
            while pend < len(self.pending) and self.pending[pend].ts_ms <= self.clock and self.room > 0:
                self.progress(self.pending[pend])
                pend += 1
            if self.room <= 0:
                break
            r = rng.random()
            if r < 0.0004:
                self.malformed()
            elif r < 0.003:
                self.synthetic()
            elif r < 0.02:
                self.system()
            elif r < 0.04 and self.calls and not self.sidechain:
                self.replay()
            elif r < 0.045 and not self.sidechain:
                self.task_result(self.g.ids.toolu(), self.g.ids.agent())
            elif r < 0.10:
                self.user_prompt()
                if rng.random() < 0.1:
                    model = weighted(rng, models)
            else:
                self.call_turn(model)
        self.g.truth.noise["progress_dropped"] += len(self.pending) - pend

    # -- output --

    def write(self, path: Path, size_target: int, truncate_tail: bool = False) -> tuple[int, int]:
        """Pad tool results to reach ``size_target`` bytes and stream the file; returns (lines, bytes)."""
        rng = self.rng
        natural = 0
        slots: list[tuple[int, int]] = []  # (record index, placeholders in it)
        for i, rec in enumerate(self.records):
            if isinstance(rec, str):
                natural += len(rec.encode()) + 1
                if PAD in rec:
                    slots.append((i, rec.count(PAD)))
            else:
                natural += len(rec) + 1
        budget = size_target - natural
        pads: dict[int, int] = {}
        if budget > 0 and slots:
            weights = [rng.paretovariate(1.1) for _ in slots]
            wsum = sum(weights)
            for (i, count), w in zip(slots, weights, strict=True):
                pads[i] = min(MAX_PAD_CHARS, int(budget * w / wsum / count))
        path.parent.mkdir(parents=True, exist_ok=True)
        written = 0
        filler = self.g.filler
        if truncate_tail:  # a file being written: its last line is cut short, without a newline
            src = (
                self.assistant_lines[-1]
                if self.assistant_lines
                else '{"type":"user","message":{"role":"user"}}'
            )
            self.records.append(src[: len(src) // 2])
            self.g.truth.noise["truncated_tail_files"] += 1
        with path.open("wb", buffering=1 << 20) as f:
            last = len(self.records) - 1
            for i, rec in enumerate(self.records):
                if isinstance(rec, str):
                    text = rec
                    if i in pads or PAD in text:
                        text = text.replace(PAD, filler.text(pads.get(i, rng.randrange(20, 400))))
                    data = text.encode()
                else:
                    data = rec
                if not (truncate_tail and i == last):
                    data += b"\n"
                f.write(data)
                written += len(data)
                if i < 60 and self.g.keep_prefix:
                    self.g.prefix_out.append(data)
        return len(self.records), written


# --- the generator ---------------------------------------------------------------------------------


class Generator:
    def __init__(self, out: Path, n_lines: int, seed: int, target_bytes: int, n_files: int | None) -> None:
        self.out = out
        self.rng = random.Random(seed)
        self.ids = Ids(self.rng)
        self.filler = Filler(random.Random(seed + 1))
        self.truth = Truth()
        self.n_lines = n_lines
        self.target_bytes = target_bytes
        self.n_files = n_files
        self.keep_prefix = False
        self.prefix_out: list[bytes] = []
        self.lines = 0
        self.bytes = 0
        self.files = 0
        self.sizes: list[int] = []
        self.counts: Counter[str] = Counter()
        self._prefix_end = 0

    def _account(self, lines: int, size: int, kind: str) -> None:
        self.lines += lines
        self.bytes += size
        self.files += 1
        self.sizes.append(size)
        self.counts[kind] += 1

    def run(self) -> dict[str, Any]:
        rng = self.rng
        plans, slugs = plan_files(rng, self.n_lines, self.target_bytes, self.n_files)
        # estimated natural size per line (no padding); files asking for less are simply not padded
        projects: dict[int, list[int]] = {}
        for i, p in enumerate(plans):
            if not p.subagent:
                projects.setdefault(p.project, []).append(i)
        # two files end with a truncated line (one line of their budget), one file holds 3 snapshot lines
        truncate_tail = set(rng.sample(range(len(plans)), min(2, len(plans))))
        for i in truncate_tail:
            plans[i].lines -= 1
        max(plans, key=lambda p: p.lines).lines -= 3
        for proj in sorted(projects):
            slug = slugs[proj]
            cwd = "/home/dev/src/" + slug.removeprefix("-home-dev-src-")
            mains = projects[proj]
            starts = {i: self._start_ms(plans[i].lines) for i in mains}
            mains.sort(key=lambda i: starts[i])
            prev_prefix: list[bytes] = []
            prev_sid = ""
            for i in mains:
                plan = plans[i]
                sid = self.ids.uuid()
                parent = Session(self, session_id=sid, cwd=cwd, start_ms=starts[i], target_lines=plan.lines)
                if prev_prefix and rng.random() < 0.2 and plan.lines > 10:
                    # a resumed session: starts with earlier lines copied verbatim except sessionId
                    k = min(len(prev_prefix), rng.randrange(5, 61), plan.lines // 2)
                    old = prev_sid.encode()
                    for data in prev_prefix[:k]:
                        parent.records.append(data.rstrip(b"\n").replace(old, sid.encode()))
                    parent.clock = max(parent.clock, self._prefix_end)
                    self.truth.noise["resumed_sessions"] += 1
                    self.truth.noise["resumed_copied_lines"] += k
                start = parent.clock
                # subagents are built first so the parent can mirror them as progress lines
                subs: list[tuple[int, Session]] = []
                for c in plans[i].children:
                    agent = self.ids.agent()
                    # start early enough that the parent is still running when most of it is written
                    offset = rng.random() * max(1, plan.lines - plans[c].lines) * 8_000
                    sub = Session(
                        self,
                        session_id=sid,
                        cwd=cwd,
                        start_ms=start + int(offset),
                        target_lines=plans[c].lines,
                        agent_id=agent,
                    )
                    sub.version, sub.branch = parent.version, parent.branch
                    sub.fill(SUBAGENT_MODELS)
                    parent.pending.extend(sub.mirror)
                    subs.append((c, sub))
                parent.pending.sort(key=lambda p: p.ts_ms)
                parent.fill(MODELS)
                self.keep_prefix = True
                self.prefix_out = []
                lines, size = parent.write(
                    self.out / "projects" / slug / f"{sid}.jsonl", plan.size, i in truncate_tail
                )
                self.keep_prefix = False
                self._account(lines, size, "session_files")
                prev_prefix = [d for d in self.prefix_out if len(d) < 2_000_000][:60]
                self._prefix_end = parent.clock
                prev_sid = sid
                for c, sub in subs:
                    path = self.out / "projects" / slug / sid / "subagents" / f"agent-{sub.agent_id}.jsonl"
                    lines, size = sub.write(path, plans[c].size, c in truncate_tail)
                    self._account(lines, size, "subagent_files")
        # two oddities: an empty log, and a file-history-snapshot-only file (no usage at all)
        empty = self.out / "projects" / slugs[0] / f"{self.ids.uuid()}.jsonl"
        empty.write_bytes(b"")
        self._account(0, 0, "empty_files")
        snap = Session(
            self, session_id=self.ids.uuid(), cwd="/home/dev", start_ms=WINDOW_START_MS, target_lines=0
        )
        for _ in range(3):
            snap.snapshot()
        lines, size = snap.write(self.out / "projects" / slugs[-1] / f"{snap.sid}.jsonl", 0)
        self._account(lines, size, "snapshot_only_files")
        return self.reference()

    def _start_ms(self, lines: int) -> int:
        est = lines * 9_000
        span = max(DAY_MS, WINDOW_DAYS * DAY_MS - est)
        return WINDOW_START_MS + int(self.rng.random() * span)

    def reference(self) -> dict[str, Any]:
        sizes = sorted(self.sizes)

        def q(p: float) -> int:
            return sizes[min(len(sizes) - 1, int(p * len(sizes)))]

        return {
            "generator": {"version": GENERATOR_VERSION},
            "dedup_contract": [
                "event key = (message.id, requestId); message.id alone when requestId is absent",
                "an isSidechain:true copy with another requestId and the same message.id is a replay",
                "the copy with the most tokens wins; on ties the non-sidechain copy",
            ],
            "day_basis": "UTC day of the winning copy's timestamp",
            "calls_note": "calls excludes <synthetic> zero-usage lines; they are counted in synthetic_calls",
            "line_count": self.lines,
            "byte_count": self.bytes,
            "file_count": self.files,
            "files_by_kind": dict(sorted(self.counts.items())),
            "file_size_quantiles": {
                "p50": q(0.5),
                "p75": q(0.75),
                "p90": q(0.9),
                "p95": q(0.95),
                "p99": q(0.99),
                "max": sizes[-1],
            },
            "totals": self.truth.totals(),
            "days": dict(sorted(self.truth.days.items())),
            "models": dict(sorted(self.truth.models.items())),
            "noise": dict(sorted(self.truth.noise.items())),
        }


def generate(
    out: Path, n_lines: int, seed: int, target_mb: float | None, n_files: int | None
) -> dict[str, Any]:
    """Write the tree under ``out`` and return the reference (also written to out/reference.json)."""
    target = int(target_mb * 1_000_000) if target_mb else n_lines * BYTES_PER_LINE_DEFAULT
    out.mkdir(parents=True, exist_ok=True)
    if (out / "projects").exists() and any((out / "projects").iterdir()):
        raise SystemExit(f"{out}/projects already exists and is not empty; remove it first")
    gen = Generator(out, n_lines, seed, target, n_files)
    ref = gen.run()
    ref["generator"].update(seed=seed, lines=n_lines, target_bytes=target, files=n_files)
    tmp = out / "reference.json.tmp"
    tmp.write_text(json.dumps(ref, indent=1) + "\n", encoding="utf-8")
    tmp.replace(out / "reference.json")
    return ref


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("out", type=Path, help="output folder (gets projects/ and reference.json)")
    ap.add_argument("--lines", type=int, default=200_000, help="exact number of lines to write")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--target-mb", type=float, default=None, help="total size in MB (default: 1150 bytes/line)"
    )
    ap.add_argument(
        "--files", type=int, default=None, help="number of log files (default: from the size profile)"
    )
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    ref = generate(args.out, args.lines, args.seed, args.target_mb, args.files)
    dt = time.perf_counter() - t0
    tot = ref["totals"]
    print(
        f"wrote {ref['file_count']} files, {ref['line_count']} lines, {ref['byte_count'] / 1e6:.1f} MB "
        f"in {dt:.1f}s: {tot['calls']} calls over {len(ref['days'])} days -> {args.out / 'reference.json'}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
