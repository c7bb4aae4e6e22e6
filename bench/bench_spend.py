#!/usr/bin/env python3
"""Benchmark spend queries over a ledger of 1,000,000 usage events, in-process and through the MCP server.

    python bench/bench_spend.py                  # build (or reuse) bench/data/spend-1m/, then measure
    python bench/bench_spend.py --runs 20 --server-starts 5 --server-calls 20   # the defaults
    python bench/bench_spend.py --src /tmp/cost-mcp-head/src      # measure one commit's src/ instead
    python bench/bench_spend.py --no-server      # in-process only
    python bench/bench_spend.py --no-trees       # server with an empty Claude folder only

The ledger is seeded and deterministic (``--seed``), built once and cached under ``bench/data/spend-1m/``:
1,000,000 counted usage events over 90 days ending 2026-11-20 (4 providers, 10 models, 20 projects of
which 1-3 are active on any day, 8 agents, sessions of 100-800 calls in working hours), a few thousand
uncounted sidechain copies, and Anthropic billed cost buckets for the last 30 complete UTC days. Events
are inserted with SQL and the rollup is then built the way the ingester does it:
``rollup.mark_dirty`` in the insert transaction, then ``rollup.refresh``.

In-process: ``spend.get_spend`` (periods resolved against a fixed ``now`` inside the data) and
``breakdown.model_breakdown``, one warm-up then ``--runs`` timed runs each; median and p95. Through MCP:
``cost-mcp`` spawned over stdio with the SDK client on a copy of the ledger, spawn -> first get_spend
result, and per-call latency on an open session; with an empty Claude folder, then with each generated
log tree of the ingestion benchmark already ingested (the refresh before each query finds nothing new).
Raw numbers go to ``bench/out/spend.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from benchlib import DATA, median, run_measured, save, table

if TYPE_CHECKING:
    # Not imported at run time: ``--src`` (here and in bench_rows.py) must choose which cost_mcp
    # loads, and an import at module level would load the installed one first.
    from cost_mcp.store.connection import Conn

GENERATOR_VERSION = 2
EVENTS = 1_000_000
DAYS = 90
END_DAY = date(2026, 11, 20)
FIRST_DAY = END_DAY - timedelta(days=DAYS - 1)
NOW = datetime(2026, 11, 20, 22, 30, tzinfo=UTC)
"""What "now" is for the periods (23:30 in Paris, so the same day there); no event is later."""
NOW_MS = int(NOW.timestamp() * 1000)
BILLED_DAYS = 30
"""Anthropic cost buckets cover the 30 UTC days before END_DAY (as a daily Admin API sync would)."""
TEAM_TZ = ZoneInfo("Europe/Paris")
DAY_MS = 86_400_000
TARGET_MS = 100.0

PERIODS = ("last_30_days", "this_month", "this_year", "last_7_days")
GROUPS: tuple[tuple[str, ...], ...] = (
    (),
    ("provider",),
    ("day",),
    ("model", "day"),
    ("agent",),
    ("session",),
)
TIMEZONES = ("UTC", "Europe/Paris")

# --- the ledger's shape -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    provider: str
    name: str
    profile: Literal["agentic", "small", "chat", "cached_chat"]
    # list prices in nano-USD per token (= USD per million tokens x 1,000): input, output, cache read,
    # cache write 5m, cache write 1h
    prices: tuple[int, int, int, int, int]


MODELS = {
    m.name: m
    for m in (
        ModelSpec("anthropic", "claude-sonnet-4-5-20250929", "agentic", (3000, 15000, 300, 3750, 6000)),
        ModelSpec("anthropic", "claude-opus-4-1-20250805", "agentic", (15000, 75000, 1500, 18750, 30000)),
        ModelSpec("anthropic", "claude-haiku-4-5-20251001", "small", (1000, 5000, 100, 1250, 2000)),
        ModelSpec("openai", "gpt-5", "cached_chat", (1250, 10000, 125, 0, 0)),
        ModelSpec("openai", "gpt-5-mini", "cached_chat", (250, 2000, 25, 0, 0)),
        ModelSpec("openai", "gpt-4.1", "cached_chat", (2000, 8000, 500, 0, 0)),
        ModelSpec("openrouter", "google/gemini-2.5-pro", "chat", (1250, 10000, 310, 0, 0)),
        ModelSpec("openrouter", "deepseek/deepseek-chat-v3.1", "chat", (270, 1100, 70, 0, 0)),
        ModelSpec("groq", "llama-3.3-70b-versatile", "chat", (590, 790, 0, 0, 0)),
        ModelSpec("groq", "openai/gpt-oss-120b", "chat", (150, 750, 0, 0, 0)),
    )
}
SONNET, OPUS, HAIKU = "claude-sonnet-4-5-20250929", "claude-opus-4-1-20250805", "claude-haiku-4-5-20251001"


@dataclass(frozen=True)
class AgentSpec:
    name: str
    source: Literal["claude_code", "record_usage"]
    weight: float  # share of sessions
    models: tuple[tuple[str, float], ...]  # the session's main model is drawn from these
    calls: tuple[int, int]  # calls per session
    gap_s: float  # mean seconds between calls
    hours: Literal["work", "night", "any"]
    members: tuple[str, ...] = ("",)


DEVS = ("alice", "bruno", "chloe", "david", "emma")
AGENTS = (
    AgentSpec(
        "claude-code", "claude_code", 0.40, ((SONNET, 0.8), (OPUS, 0.2)), (150, 600), 14.0, "work", DEVS
    ),
    AgentSpec(
        "code-reviewer", "record_usage", 0.12, ((SONNET, 0.6), ("gpt-5", 0.4)), (100, 400), 8.0, "work"
    ),
    AgentSpec(
        "support-bot", "record_usage", 0.12, (("gpt-5-mini", 0.7), ("gpt-4.1", 0.3)), (200, 500), 30.0, "any"
    ),
    AgentSpec(
        "triage",
        "record_usage",
        0.10,
        (("llama-3.3-70b-versatile", 0.6), ("openai/gpt-oss-120b", 0.4)),
        (200, 700),
        5.0,
        "work",
    ),
    AgentSpec(
        "doc-writer",
        "record_usage",
        0.07,
        (("google/gemini-2.5-pro", 0.5), ("deepseek/deepseek-chat-v3.1", 0.5)),
        (100, 300),
        20.0,
        "work",
    ),
    AgentSpec(
        "data-pipeline",
        "record_usage",
        0.08,
        (("gpt-5-mini", 0.5), ("openai/gpt-oss-120b", 0.5)),
        (300, 800),
        2.0,
        "night",
    ),
    AgentSpec(
        "researcher",
        "record_usage",
        0.06,
        (("google/gemini-2.5-pro", 0.5), (OPUS, 0.5)),
        (100, 300),
        25.0,
        "work",
    ),
    AgentSpec("eval-runner", "record_usage", 0.05, tuple((m, 1.0) for m in MODELS), (300, 800), 1.0, "any"),
)
PROJECTS = (
    "checkout-api", "billing-service", "mobile-app", "search-index", "data-warehouse", "auth-gateway",
    "docs-site", "ml-ranking", "support-portal", "infra-terraform", "analytics-dashboard", "notifications",
    "onboarding-flow", "pricing-engine", "fraud-detection", "catalog-sync", "admin-console", "etl-jobs",
    "design-system", "recommendations",
)  # fmt: skip


@dataclass(frozen=True)
class LedgerSpec:
    seed: int
    events: int = EVENTS

    @property
    def folder(self) -> Path:
        suffix = "" if (self.seed, self.events) == (1, EVENTS) else f"-{self.events}-s{self.seed}"
        return DATA / f"spend-1m{suffix}"

    @property
    def db(self) -> Path:
        return self.folder / "cost.db"

    def key(self) -> dict[str, object]:
        return {
            "generator_version": GENERATOR_VERSION,
            "seed": self.seed,
            "events": self.events,
            "first_day": FIRST_DAY.isoformat(),
            "end_day": END_DAY.isoformat(),
        }


def project_windows(rng: random.Random) -> list[tuple[int, int, str]]:
    """(first day index, last day index, name): a new project every 4-5 days, each active 6-12 days,
    so 1 to 3 are active on every day."""
    windows = []
    for i, name in enumerate(PROJECTS):
        start = int(i * 4.5)
        windows.append((start, start + rng.randint(6, 12) - 1, name))
    return windows


@dataclass
class Session:
    start_ms: int
    agent: AgentSpec
    model: str
    project: str
    member: str
    session_id: str
    calls: int
    long_cache: bool  # writes the 1-hour cache instead of the 5-minute one


def plan_sessions(rng: random.Random, events: int) -> list[Session]:
    """Sessions until their calls add up to ``events``, sorted by start (the ledger fills in time order)."""
    windows = project_windows(rng)
    day_weights = []
    for d in range(DAYS):
        day = FIRST_DAY + timedelta(days=d)
        weekday = 1.0 if day.weekday() < 5 else 0.2
        day_weights.append(weekday * (0.7 + 0.6 * d / (DAYS - 1)))  # usage grows over the quarter
    agent_weights = [a.weight for a in AGENTS]
    sessions: list[Session] = []
    total = 0
    while total < events:
        agent = rng.choices(AGENTS, agent_weights)[0]
        d = rng.choices(range(DAYS), day_weights)[0]
        day = FIRST_DAY + timedelta(days=d)
        if agent.hours == "work":  # Paris office: a morning and an afternoon peak
            hour = rng.gauss(10.5, 1.3) if rng.random() < 0.45 else rng.gauss(15.5, 1.8)
            local = datetime.combine(day, dtime(0), tzinfo=TEAM_TZ) + timedelta(hours=min(max(hour, 7), 21.5))
            start = local.astimezone(UTC)
        elif agent.hours == "night":
            start = datetime.combine(day, dtime(1), tzinfo=UTC) + timedelta(hours=rng.uniform(0, 4))
        else:
            start = datetime.combine(day, dtime(0), tzinfo=UTC) + timedelta(hours=rng.uniform(0, 24))
        active = [name for first, last, name in windows if first <= d <= last]
        calls = min(rng.randint(*agent.calls), events - total)
        names, weights = zip(*agent.models, strict=True)
        # a session that could run past "now" starts earlier (3x its mean length: never reached)
        latest = NOW_MS - int(calls * (3 * agent.gap_s + 0.8) * 1000)
        sessions.append(
            Session(
                start_ms=min(int(start.timestamp() * 1000) + rng.randrange(1000), latest),
                agent=agent,
                model=rng.choices(names, weights)[0],
                project=rng.choice(active),
                member=rng.choice(agent.members),
                session_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                calls=calls,
                long_cache=rng.random() < 0.1,
            )
        )
        total += calls
    sessions.sort(key=lambda s: s.start_ms)
    return sessions


Row = tuple[object, ...]
Tokens5 = tuple[int, int, int, int, int]
INSERT = """
INSERT INTO usage_events (
    source, message_id, request_id, is_sidechain, counted, ts_ms, provider, model, session_id, project,
    agent, member, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens,
    cache_write_1h_tokens, web_search_requests, total_tokens, speed, cost_nanos, reported_cost_nanos,
    priced_model, origin
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


def tokens_for(rng: random.Random, m: ModelSpec, s: Session, i: int) -> Tokens5:
    """input, output, cache read, cache write 5m, cache write 1h of one call."""
    out = min(int(rng.lognormvariate(5.6, 1.0)), 32_000) + 1
    if m.profile == "agentic":  # Claude-Code-like: a cached context that grows, compacted near 160k
        context = 14_000 + (i * 350) % 150_000 + rng.randrange(2_000)
        write = int(rng.lognormvariate(7.2, 1.0))
        return (rng.randint(1, 40), out, context, 0 if s.long_cache else write, write if s.long_cache else 0)
    if m.profile == "small":
        return (rng.randint(300, 4_000), min(out, 600), 0, 0, 0)
    prompt = int(rng.lognormvariate(7.6, 0.9)) + 20
    if m.profile == "cached_chat" and prompt > 1024 and rng.random() < 0.6:
        cached = int(prompt * rng.uniform(0.3, 0.9))
        return (prompt - cached, out, cached, 0, 0)
    return (prompt, out, 0, 0, 0)


def session_rows(
    rng: random.Random, s: Session, on_call: Callable[[Session, int, ModelSpec, Tokens5], None]
) -> Iterator[Row]:
    """The counted calls of a session (each also passed to ``on_call``), and now and then an
    uncounted sidechain copy of one."""
    ts = s.start_ms
    cc = s.agent.source == "claude_code"
    origin = f"/home/{s.member}/.claude/projects/-home-{s.member}-src-{s.project}/{s.session_id}.jsonl"
    for i in range(s.calls):
        ts = min(ts + int(rng.expovariate(1 / s.agent.gap_s) * 1000) + 800, NOW_MS - 1)
        model = HAIKU if cc and rng.random() < 0.12 else s.model  # Claude Code's small-task model
        if s.agent.name == "eval-runner":
            model = rng.choice(list(MODELS))
        m = MODELS[model]
        t = tokens_for(rng, m, s, i)
        web = rng.randint(1, 3) if s.agent.name == "researcher" and rng.random() < 0.2 else 0
        cost = sum(n * p for n, p in zip(t, m.prices, strict=True)) + web * 10_000_000
        if cc:
            msg = f"msg_01{rng.getrandbits(120):030x}"
            req = f"req_011C{rng.getrandbits(100):025x}"
        else:
            msg, req = f"{s.agent.name}-{rng.getrandbits(96):024x}", ""
        common = (m.provider, model, s.session_id, s.project, s.agent.name, s.member, *t, web, sum(t))
        tail = ("", cost, None, model, origin if cc else "")
        on_call(s, ts, m, t)
        yield (s.agent.source, msg, req, 0, 1, ts, *common, *tail)
        if cc and rng.random() < 0.01:  # a /btw replay: same message, another request id, not counted
            replay = f"req_011C{rng.getrandbits(100):025x}"
            yield (s.agent.source, msg, replay, 1, 0, min(ts + 2_000, NOW_MS - 1), *common, *tail)


def build_ledger(spec: LedgerSpec) -> dict[str, Any]:
    """Write the ledger to a temp file and move it into place; returns facts about it."""
    from cost_mcp.store import buckets, connect, rollup, write_transaction

    rng = random.Random(spec.seed)
    spec.folder.mkdir(parents=True, exist_ok=True)
    tmp = spec.folder / "building.db"
    for p in spec.folder.glob("building.db*"):
        p.unlink()
    t0 = time.perf_counter()
    sessions = plan_sessions(rng, spec.events)
    conn = connect(tmp)
    # local estimate of Anthropic's cost per (UTC day, model, workspace, token kind), for the billed rows
    anthropic: dict[tuple[int, str, str, int], int] = defaultdict(int)
    rows = 0
    all_ts: list[int] = []

    def on_call(s: Session, ts: int, m: ModelSpec, t: Tokens5) -> None:
        all_ts.append(ts)
        if m.provider == "anthropic":
            workspace = "claude-code" if s.agent.source == "claude_code" else "Default"
            for k in range(5):
                anthropic[ts // DAY_MS, m.name, workspace, k] += t[k] * m.prices[k]

    with write_transaction(conn):
        batch: list[Row] = []
        for s in sessions:
            batch.extend(session_rows(rng, s, on_call))
            if len(batch) >= 50_000:
                conn.executemany(INSERT, batch)
                rows += len(batch)
                batch.clear()
        conn.executemany(INSERT, batch)
        rows += len(batch)
        rollup.mark_dirty(conn, all_ts)
    t_insert = time.perf_counter() - t0
    rebuilt = rollup.refresh(conn)
    t_rollup = time.perf_counter() - t0 - t_insert
    # Anthropic's cost report for the last 30 complete UTC days: a bit more than the local estimate
    # (calls made outside this ledger), split per model, workspace and token kind like the Admin API.
    end_ms = (END_DAY.toordinal() - date(1970, 1, 1).toordinal()) * DAY_MS
    start_ms = end_ms - BILLED_DAYS * DAY_MS
    kinds = (
        "uncached_input_tokens",
        "output_tokens",
        "cache_read_input_tokens",
        "cache_creation_5m",
        "cache_creation_1h",
    )
    rows_billed = []
    for (day, model, workspace, k), nanos in sorted(anthropic.items()):
        if start_ms // DAY_MS <= day < end_ms // DAY_MS and nanos:
            rows_billed.append(
                buckets.Bucket(
                    start_ms=day * DAY_MS,
                    end_ms=(day + 1) * DAY_MS,
                    cost_nanos=int(nanos * rng.uniform(1.02, 1.12)) // 10_000 * 10_000,  # to 1/1000 cent
                    model=model,
                    workspace=workspace,
                    line_item=kinds[k],
                )
            )
    with write_transaction(conn):
        buckets.replace_range(conn, "anthropic", "cost", start_ms, end_ms, rows_billed)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    facts = {
        **spec.key(),
        "rows": rows,
        "counted": len(all_ts),
        "sessions": len(sessions),
        "rollup_rows": conn.execute("SELECT COUNT(*) FROM usage_rollup").fetchone()[0],
        "dirty_quarter_hours_rebuilt": rebuilt,
        "billed_bucket_rows": len(rows_billed),
        "insert_s": round(t_insert, 2),
        "rollup_refresh_s": round(t_rollup, 2),
    }
    conn.close()
    for p in spec.folder.glob("cost.db*"):
        p.unlink()
    tmp.rename(spec.db)
    facts["db_bytes"] = spec.db.stat().st_size
    (spec.folder / "ledger.json").write_text(json.dumps(facts, indent=1) + "\n", encoding="utf-8")
    return facts


def ensure_ledger(spec: LedgerSpec, rebuild: bool) -> dict[str, Any]:
    """The cached ledger's facts, building it first when it is missing, made differently, or has
    migrations the cost-mcp being measured does not know (it was built by a newer one)."""
    from cost_mcp.store import MIGRATIONS

    info = spec.folder / "ledger.json"
    if spec.db.exists() and info.exists() and not rebuild:
        facts: dict[str, Any] = json.loads(info.read_text(encoding="utf-8"))
        with closing(sqlite3.connect(f"file:{spec.db}?mode=ro", uri=True)) as conn:
            applied = {str(n) for (n,) in conn.execute("SELECT name FROM _migrations")}
        unknown = applied - {name for name, _ in MIGRATIONS}
        if all(facts.get(k) == v for k, v in spec.key().items()) and not unknown:
            return facts
        if unknown:
            print(f"rebuilding: the ledger has migrations unknown here ({sorted(unknown)})", file=sys.stderr)
    t0 = time.perf_counter()
    facts = build_ledger(spec)
    print(f"built {spec.db} in {time.perf_counter() - t0:.1f}s: {json.dumps(facts)}", file=sys.stderr)
    return facts


def describe(db: Path) -> dict[str, Any]:
    """What the ledger holds, for the report (and a check that its shape is as intended)."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        q = conn.execute
        per_day = [
            int(n)
            for (n,) in q(
                "SELECT COUNT(DISTINCT project) FROM usage_events WHERE counted = 1 GROUP BY ts_ms / 86400000"
            )
        ]
        return {
            "counted_events": q("SELECT COUNT(*) FROM usage_events WHERE counted = 1").fetchone()[0],
            "uncounted_rows": q("SELECT COUNT(*) FROM usage_events WHERE counted = 0").fetchone()[0],
            "first_event": q("SELECT datetime(MIN(ts_ms)/1000, 'unixepoch') FROM usage_events").fetchone()[0],
            "last_event": q("SELECT datetime(MAX(ts_ms)/1000, 'unixepoch') FROM usage_events").fetchone()[0],
            "providers": q("SELECT COUNT(DISTINCT provider) FROM usage_events").fetchone()[0],
            "models": q("SELECT COUNT(DISTINCT model) FROM usage_events").fetchone()[0],
            "projects": q("SELECT COUNT(DISTINCT project) FROM usage_events").fetchone()[0],
            "projects_per_day_min_max": [min(per_day), max(per_day)],
            "agents": q("SELECT COUNT(DISTINCT agent) FROM usage_events").fetchone()[0],
            "sessions": q("SELECT COUNT(DISTINCT session_id) FROM usage_events").fetchone()[0],
            "rollup_rows": q("SELECT COUNT(*) FROM usage_rollup").fetchone()[0],
            "billed_days": q(
                "SELECT COUNT(*) FROM provider_coverage WHERE provider = 'anthropic' AND kind = 'cost'"
            ).fetchone()[0],
            "estimated_usd_all": q(
                "SELECT SUM(cost_nanos) / 1e9 FROM usage_events WHERE counted = 1"
            ).fetchone()[0],
            "billed_usd_all": q("SELECT SUM(cost_nanos) / 1e9 FROM provider_buckets").fetchone()[0],
            "db_mb": round(db.stat().st_size / 1e6, 1),
        }


# --- in-process measurements ------------------------------------------------------------------------


@dataclass
class Timing:
    name: str
    period: str
    timezone: str
    group_by: list[str]
    reads: str  # "rollup" or "events"
    runs_ms: list[float]
    json_ms: float
    rows: int
    attribution_rows: int
    total_usd: str

    @property
    def median_ms(self) -> float:
        return median(self.runs_ms)

    @property
    def p95_ms(self) -> float:
        return p95(self.runs_ms)


def p95(values: Sequence[float]) -> float:
    """The nearest-rank 95th percentile (the 19th of 20)."""
    ordered = sorted(values)
    return ordered[max(math.ceil(0.95 * len(ordered)) - 1, 0)]


def timed(fn: Callable[[], Any], runs: int, warmup: int = 1) -> tuple[list[float], Any]:
    result = None
    for _ in range(warmup):
        result = fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return times, result


def json_ms(result: Any) -> float:
    """Median time to serialise a result the way the server returns it (pydantic to JSON)."""
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        result.model_dump_json()
        times.append((time.perf_counter() - t0) * 1000)
    return median(times)


def in_process(db: Path, claude_dir: Path, runs: int) -> tuple[list[Timing], dict[str, Any]]:
    from cost_mcp.analytics import breakdown, spend
    from cost_mcp.config import load_settings
    from cost_mcp.store import connect

    settings = load_settings(
        {"COST_MCP_DB": str(db), "CLAUDE_CONFIG_DIR": str(claude_dir), "COST_MCP_TIMEZONE": "UTC"},
        env_file=Path("/nonexistent"),
    )
    conn = connect(settings.db)
    timings: list[Timing] = []
    try:
        for tz in TIMEZONES:
            for period in PERIODS:
                for group_by in GROUPS:
                    p = spend.resolve(settings, period, None, None, tz, now=NOW)

                    def query(p: Any = p, group_by: Sequence[str] = group_by) -> Any:
                        return spend.get_spend(conn, settings, p, group_by)

                    times, result = timed(query, runs)
                    timings.append(
                        Timing(
                            "get_spend",
                            period,
                            tz,
                            list(group_by),
                            "rollup",  # every query reads the rollup since sessions joined its key
                            times,
                            json_ms(result),
                            len(result.rows),
                            len(result.attribution),
                            str(result.total_usd),
                        )
                    )
                    print(
                        f"  get_spend {period} {list(group_by)} {tz}: {median(times):.1f} ms", file=sys.stderr
                    )
            p30 = spend.resolve(settings, "last_30_days", None, None, tz, now=NOW)

            def models(p: Any = p30) -> Any:
                return breakdown.model_breakdown(conn, settings, p, top_n=10)

            times, mb = timed(models, runs)
            timings.append(
                Timing(
                    "model_breakdown",
                    "last_30_days",
                    tz,
                    ["provider", "model"],
                    "rollup",
                    times,
                    json_ms(mb),
                    len(mb.models),
                    0,
                    str(mb.total_usd),
                )
            )
        check = consistency(conn, settings)
    finally:
        conn.close()
    return timings, check


def consistency(conn: Conn, settings: Any) -> dict[str, Any]:
    """get_spend's this_year total (UTC) against the same rule computed directly from the tables:
    every counted event, except Anthropic's on billed UTC days, whose billed buckets count instead."""
    from cost_mcp.analytics import spend

    p = spend.resolve(settings, "this_year", None, None, "UTC", now=NOW)
    got = spend.get_spend(conn, settings, p).total_usd
    (estimated,) = conn.execute(
        """
        SELECT SUM(cost_nanos) FROM usage_events e WHERE counted = 1 AND NOT EXISTS (
            SELECT 1 FROM provider_coverage c WHERE c.provider = e.provider AND c.kind = 'cost'
            AND c.start_ms = e.ts_ms / 86400000 * 86400000)
        """
    ).fetchone()
    (billed,) = conn.execute("SELECT SUM(cost_nanos) FROM provider_buckets WHERE kind = 'cost'").fetchone()
    from cost_mcp.money import from_nanos

    want = from_nanos(int(estimated) + int(billed))
    return {"get_spend_this_year_usd": str(got), "direct_sql_usd": str(want), "equal": got == want}


def refresh_ms(db: Path, claude_dir: Path, runs: int) -> list[float]:
    """The log refresh the server runs before every query (``sync.refresh``), on an empty Claude folder."""
    from cost_mcp import sync
    from cost_mcp.config import load_settings
    from cost_mcp.pricing import Pricer
    from cost_mcp.store import connect

    settings = load_settings(
        {"COST_MCP_DB": str(db), "CLAUDE_CONFIG_DIR": str(claude_dir)}, env_file=Path("/nonexistent")
    )
    conn = connect(settings.db)
    try:
        pricer = Pricer()
        times, _ = timed(lambda: sync.refresh(conn, settings, pricer), runs)
    finally:
        conn.close()
    return times


# --- through the MCP server ------------------------------------------------------------------------


def server_command(src: Path | None) -> list[str]:
    exe = Path(sys.executable).with_name("cost-mcp")
    if exe.exists() and src is None:
        return [str(exe)]
    return [sys.executable, "-m", "cost_mcp"]


def server_env(db: Path, claude_dir: Path, src: Path | None) -> dict[str, str]:
    return {
        "COST_MCP_DB": str(db),
        "CLAUDE_CONFIG_DIR": str(claude_dir),
        "COST_MCP_ENV_FILE": "/nonexistent",
        "COST_MCP_PRICES_FILE": str(db.parent / "no-prices.toml"),
        "COST_MCP_TIMEZONE": "UTC",
        **({"PYTHONPATH": str(src)} if src is not None else {}),
    }


@dataclass(frozen=True)
class Setup:
    """What the server's log refresh finds before each query."""

    label: str
    claude_dir: Path
    all_tools: bool  # time every call below, or only the first get_spend


LAST_30 = {"start": (NOW.date() - timedelta(days=29)).isoformat(), "end": NOW.date().isoformat()}
# explicit dates: the server resolves presets against the real clock
CALLS: dict[str, tuple[str, dict[str, Any]]] = {
    "get_spend last 30 days, total (UTC)": ("get_spend", {**LAST_30, "timezone": "UTC"}),
    "get_spend last 30 days, model x day (Europe/Paris)": (
        "get_spend",
        {**LAST_30, "timezone": "Europe/Paris", "group_by": ["model", "day"]},
    ),
    "model_breakdown last 30 days, top 10 (UTC)": ("model_breakdown", {**LAST_30, "top_n": 10}),
}
FIRST_CALL = "get_spend last 30 days, total (UTC)"


async def through_server(db: Path, setup: Setup, src: Path | None, starts: int, calls: int) -> dict[str, Any]:
    """Spawn -> first answer ``starts`` times, then per-call latency on one open session."""
    from mcp import Client, StdioServerParameters

    cmd = server_command(src)
    params = StdioServerParameters(command=cmd[0], args=cmd[1:], env=server_env(db, setup.claude_dir, src))

    def check(result: Any) -> Any:
        if result.is_error:
            raise RuntimeError(f"tool error: {result.content}")
        return result

    first_name, first_args = CALLS[FIRST_CALL]
    start_runs: list[dict[str, float]] = []
    for _ in range(starts):
        t0 = time.perf_counter()
        async with Client(params) as c:
            ready = time.perf_counter()
            check(await c.call_tool(first_name, first_args))
            answered = time.perf_counter()
        start_runs.append(
            {
                "spawn_to_initialized_ms": (ready - t0) * 1000,
                "spawn_to_first_answer_ms": (answered - t0) * 1000,
                "first_call_ms": (answered - ready) * 1000,
            }
        )
        print(
            f"  {setup.label}: server start -> first answer {(answered - t0) * 1000:.0f} ms", file=sys.stderr
        )
    call_runs: dict[str, list[float]] = {}
    answers: dict[str, dict[str, float]] = {}
    wanted = CALLS if setup.all_tools else {FIRST_CALL: CALLS[FIRST_CALL]}
    async with Client(params) as c:
        if setup.all_tools:
            floor = []
            for _ in range(calls + 1):
                t0 = time.perf_counter()
                await c.list_prompts(cache_mode="bypass")
                floor.append((time.perf_counter() - t0) * 1000)
            call_runs["list_prompts (a round trip with no tool and no ledger)"] = floor[1:]
        for label, (name, arguments) in wanted.items():
            result = check(await c.call_tool(name, arguments))  # warm-up
            times = []
            for _ in range(calls):
                t0 = time.perf_counter()
                result = await c.call_tool(name, arguments)
                times.append((time.perf_counter() - t0) * 1000)
                check(result)
            call_runs[label] = times
            # Part of each call above: the SDK client checks structured content against the tool's
            # output schema (jsonschema, pure Python). Timed again on its own here.
            validate = []
            for _ in range(5):
                t0 = time.perf_counter()
                await c.session.validate_tool_result(name, result)
                validate.append((time.perf_counter() - t0) * 1000)
            answers[label] = {
                "client_schema_validation_ms": median(validate),
                "text_content_bytes": sum(len(getattr(part, "text", "")) for part in result.content),
                "structured_content_bytes": len(json.dumps(result.structured_content)),
            }
            print(f"  {setup.label}: {label} {median(times):.1f} ms", file=sys.stderr)
    return {
        "claude_dir": str(setup.claude_dir),
        "command": cmd,
        "starts": start_runs,
        "calls_ms": call_runs,
        "answers": answers,
    }


def server_setups(work: Path, db: Path, src: Path | None, trees: bool) -> list[Setup]:
    """An empty Claude folder, and (``trees``) the two generated log trees, each ingested into the
    server's ledger first so the refresh before each query finds nothing new: a warm query."""
    from benchlib import BIG, MANY, ensure_tree

    empty = work / "claude"
    empty.mkdir(exist_ok=True)
    setups = [Setup("empty Claude folder", empty, all_tools=True)]
    if not trees:
        return setups
    cmd = [*server_command(src), "ingest", "--json"]
    for spec in (BIG, MANY):
        ref = ensure_tree(spec)
        label = f"{spec.name} tree ({ref['file_count']:,} files, {ref['line_count']:,} lines), nothing new"
        m = run_measured(cmd, server_env(db, spec.path, src))
        if m.returncode != 0:
            raise RuntimeError(f"ingest of {spec.path} failed: {m.stderr[-2000:]}")
        print(f"  ingested {spec.path.name} into the server's ledger in {m.wall_s:.1f}s", file=sys.stderr)
        setups.append(Setup(label, spec.path, all_tools=False))
    return setups


# --- report ----------------------------------------------------------------------------------------


def report(timings: list[Timing], server: dict[str, Any], facts: dict[str, Any]) -> None:
    print(
        f"\nledger: {facts['counted_events']:,} counted events "
        f"(+{facts['uncounted_rows']:,} uncounted copies), "
        f"{facts['first_event']} .. {facts['last_event']} UTC, {facts['rollup_rows']:,} rollup rows, "
        f"{facts['db_mb']} MB; now = {NOW.isoformat()} ({os.cpu_count()} CPUs)\n"
        f"{facts['providers']} providers, {facts['models']} models, {facts['projects']} projects "
        f"({facts['projects_per_day_min_max'][0]}-{facts['projects_per_day_min_max'][1]} active per day), "
        f"{facts['agents']} agents, {facts['sessions']:,} sessions; Anthropic billed on "
        f"{facts['billed_days']} days\n"
    )
    rows: list[list[object]] = []
    for t in timings:
        verdict = "" if t.reads == "events" else ("PASS" if t.median_ms < TARGET_MS else "FAIL")
        rows.append(
            [
                t.name,
                t.period,
                ",".join(t.group_by) or "-",
                t.timezone,
                t.reads,
                f"{t.median_ms:.1f}",
                f"{t.p95_ms:.1f}",
                f"{t.json_ms:.1f}",
                t.rows,
                t.attribution_rows,
                verdict,
            ]
        )
    print(
        table(
            [
                "query",
                "period",
                "group_by",
                "tz",
                "reads",
                "median ms",
                "p95 ms",
                "JSON ms",
                "rows",
                "attrib",
                "<100ms",
            ],
            rows,
        )
    )
    rollup_ts = [t for t in timings if t.reads == "rollup"]
    worst = max(rollup_ts, key=lambda t: t.median_ms)
    print(
        f"\nrollup queries: worst median {worst.median_ms:.1f} ms ({worst.name} {worst.period} "
        f"{worst.group_by} {worst.timezone}) -> target < {TARGET_MS:.0f} ms: "
        f"{'PASS' if worst.median_ms < TARGET_MS else 'FAIL'}"
    )
    events_ts = [t for t in timings if t.reads == "events"]
    if events_ts:
        slow = max(events_ts, key=lambda t: t.median_ms)
        print(
            f"group_by session (reads usage_events, not the rollup): worst median {slow.median_ms:.0f} ms "
            f"({slow.period} {slow.timezone})"
        )
    for label, series in (server or {}).items():
        report_server(label, series)


def report_server(label: str, server: dict[str, Any]) -> None:
    starts = server["starts"]
    first = [s["spawn_to_first_answer_ms"] for s in starts]
    print(f"\nthrough the MCP server (stdio), {label}:", " ".join(server["command"]))
    series: dict[str, list[float]] = {
        f"spawn -> initialized (median of {len(starts)})": [s["spawn_to_initialized_ms"] for s in starts],
        f"spawn -> first get_spend answer (median of {len(starts)})": first,
        **{f"{name} (median of {len(v)})": v for name, v in server["calls_ms"].items()},
    }
    srows: list[list[object]] = [
        [name, f"{median(v):.1f}", f"{min(v):.1f}", f"{max(v):.1f}"] for name, v in series.items()
    ]
    print(table(["measure", "median ms", "min ms", "max ms"], srows))
    print()
    print(
        table(
            ["answer", "text content bytes", "structured bytes", "client schema check ms"],
            [
                [
                    name,
                    int(a["text_content_bytes"]),
                    int(a["structured_content_bytes"]),
                    f"{a['client_schema_validation_ms']:.1f}",
                ]
                for name, a in server["answers"].items()
            ],
        )
    )
    print(
        f"server start to first answer: {median(first):.0f} ms -> target < 1000 ms: "
        f"{'PASS' if median(first) < 1000 else 'FAIL'}"
    )
    warm = median(server["calls_ms"][FIRST_CALL])
    print(
        f"warm query (get_spend, nothing new in the logs): {warm:.1f} ms -> target < 50 ms: "
        f"{'PASS' if warm < 50 else 'FAIL'}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--events", type=int, default=EVENTS, help="counted events (default 1,000,000)")
    ap.add_argument("--runs", type=int, default=20, help="timed runs per in-process query (default 20)")
    ap.add_argument("--server-starts", type=int, default=5, help="server spawns timed (default 5)")
    ap.add_argument("--server-calls", type=int, default=20, help="timed calls per tool on one session")
    ap.add_argument("--no-server", action="store_true", help="skip the MCP server measurements")
    ap.add_argument(
        "--no-trees",
        action="store_true",
        help="through the server, use only an empty Claude folder (not also the two generated log trees)",
    )
    ap.add_argument("--rebuild", action="store_true", help="rebuild the cached ledger")
    ap.add_argument(
        "--src",
        type=Path,
        default=None,
        help="use cost-mcp from this src/ folder (e.g. a `git archive` of a commit), not the installed one",
    )
    args = ap.parse_args(argv)
    src: Path | None = args.src.resolve() if args.src else None
    if src is not None:
        sys.path.insert(0, str(src))
    import cost_mcp

    spec = LedgerSpec(args.seed, args.events)
    built = ensure_ledger(spec, args.rebuild)
    load_before = os.getloadavg()
    facts = describe(spec.db)
    work = Path(tempfile.mkdtemp(prefix="bench-spend-"))
    try:
        claude_dir = work / "claude"  # empty: the log refresh before each query finds nothing
        claude_dir.mkdir()
        print(f"cost-mcp {cost_mcp.__version__} from {Path(cost_mcp.__file__).parent}", file=sys.stderr)
        timings, check = in_process(spec.db, claude_dir, args.runs)
        # the log refresh records its (empty) scan in the ledger: it and the server get a copy, so the
        # cached ledger stays as built
        copy = work / "cost.db"
        shutil.copyfile(spec.db, copy)
        refresh = refresh_ms(copy, claude_dir, args.runs)
        server: dict[str, Any] = {}
        if not args.no_server:
            for setup in server_setups(work, copy, src, trees=not args.no_trees):
                server[setup.label] = asyncio.run(
                    through_server(copy, setup, src, args.server_starts, args.server_calls)
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()
    report(timings, server, facts)
    print(
        f"load average (1, 5, 15 min) before: {', '.join(f'{v:.2f}' for v in load_before)}; after: "
        f"{', '.join(f'{v:.2f}' for v in load_after)} (this script alone keeps one of the cores busy)"
    )
    print(
        f"log refresh before each server query (empty Claude folder, in-process): median "
        f"{median(refresh):.2f} ms, p95 {p95(refresh):.2f} ms"
    )
    print(
        f"consistency: get_spend this_year = {check['get_spend_this_year_usd']} USD, the same rule in plain "
        f"SQL = {check['direct_sql_usd']} USD -> {'EQUAL' if check['equal'] else 'DIFFERENT'}"
    )
    path = save(
        "spend",
        {
            "cost_mcp_src": str(src or "installed"),
            "now": NOW.isoformat(),
            "cpus": os.cpu_count(),
            "load_average_before_after": [load_before, load_after],
            "ledger": {**built, **facts},
            "in_process": [{**asdict(t), "median_ms": t.median_ms, "p95_ms": t.p95_ms} for t in timings],
            "log_refresh_ms": refresh,
            "server": server,
            "consistency": check,
        },
    )
    print(f"\nraw numbers: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
