"""Other coding agents' logs, in their own writers' shapes, priced to the nano-dollar by hand.

Each test writes the files an agent writes (the source each shape was taken from is named in the
test's docstring), reads them as ``cost-mcp`` does, and checks the ledger's total against a sum
worked out here from genai-prices' published rates (per million tokens), not through ``pricing.py``:
a wrong token split (cached input counted twice, reasoning dropped) or a wrong price mapping shows
as a different number. :func:`_rate` checks each rate used against genai-prices' own data first.
"""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path

from genai_prices import data as genai_data
from genai_prices.types import TieredPrices

from cost_mcp.config import Settings
from cost_mcp.pricing import Pricer
from cost_mcp.sources import agents
from cost_mcp.store.connection import connect
from tests.sources.test_agents import codex_usage

NANOS_PER_USD = 10**9
TOKENS_PER_MTOK = 10**6


def _rate(provider: str, model: str, kind: str, usd_per_mtok: str) -> Decimal:
    """Nano-USD per token of ``kind`` for ``model``, from the rate written in the test, after
    checking it is genai-prices' base rate (below any long-context tier) for that model."""
    found = next(m for p in genai_data.providers if p.id == provider for m in p.models if m.id == model)
    prices = found.prices
    assert not isinstance(prices, list), f"{model}: prices that change over time are not handled here"
    listed = getattr(prices, kind)
    base = listed.base if isinstance(listed, TieredPrices) else listed
    assert base == Decimal(usd_per_mtok), f"genai-prices lists {model} {kind} at {base}, not {usd_per_mtok}"
    return Decimal(usd_per_mtok) * NANOS_PER_USD / TOKENS_PER_MTOK


def _nanos(**counts_and_rates: tuple[int, Decimal]) -> int:
    """The cost of one call: each kind's tokens times its rate, summed exactly."""
    total = sum((Decimal(n) * rate for n, rate in counts_and_rates.values()), Decimal(0))
    assert total == total.to_integral_value(), "the test's counts should give whole nano-dollars"
    return int(total)


def _ledger_nanos(settings: Settings, source: str) -> tuple[int, int]:
    """(calls, summed cost in nano-USD) the ledger counts for ``source``."""
    conn = connect(settings.db)
    try:
        calls, nanos = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(cost_nanos), 0) FROM usage_events"
            " WHERE source = ? AND counted = 1",
            (source,),
        ).fetchone()
    finally:
        conn.close()
    return int(calls), int(nanos)


def _ingest(settings: Settings) -> None:
    conn = connect(settings.db)
    try:
        agents.ingest_all(conn, settings, Pricer())
    finally:
        conn.close()


def _jsonl(path: Path, records: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Compact separators, as serde_json and JSON.stringify write them.
    path.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))


def test_codex_rollout_and_its_fork_cost_what_openai_bills(home: Path, settings: Settings) -> None:
    """Codex rollout lines as ``codex-rs/rollout/src/recorder.rs`` writes them (``{"timestamp",
    "type", "payload"}``), ``token_count`` as ``codex-rs/protocol/src/protocol.rs`` defines it
    (``TokenCountEvent { info: TokenUsageInfo { total_token_usage, last_token_usage,
    model_context_window }, rate_limits }``; ``TokenUsage``: cached input inside ``input_tokens``,
    reasoning inside ``output_tokens``). A ``token_count`` re-sent with the same running total (a
    rate-limit refresh) and a fork add nothing: the fork's file starts with the parent's items
    written again (``record_initial_history``, ``InitialHistory::Forked``), each line stamped as it
    is written, so at the fork's time."""
    sid, fork = "0199b000-0000-7000-8000-00000000000a", "0199b000-0000-7000-8000-00000000000b"
    first, second = codex_usage(12000, 8000, 500, 200), codex_usage(15000, 12000, 800, 300)
    running = {k: first[k] + second[k] for k in first}

    def meta(session: str, at: str, **more: str) -> dict[str, object]:
        payload = {"id": session, "timestamp": at, "cwd": "/home/ana/shop", "originator": "codex_cli_rs"}
        return {
            "timestamp": at,
            "type": "session_meta",
            "payload": {**payload, "model_provider": "openai", **more},
        }

    turn: dict[str, object] = {
        "timestamp": "2026-11-20T09:00:00.210Z",
        "type": "turn_context",
        "payload": {"cwd": "/home/ana/shop", "approval_policy": "on-request", "model": "gpt-5-codex"},
    }

    def count(at: str, total: dict[str, int], last: dict[str, int]) -> dict[str, object]:
        info = {"total_token_usage": total, "last_token_usage": last, "model_context_window": 272000}
        return {"timestamp": at, "type": "event_msg", "payload": {"type": "token_count", "info": info}}

    history: list[dict[str, object]] = [
        turn,
        count("2026-11-20T09:00:20.500Z", first, first),
        count("2026-11-20T09:00:21.000Z", first, first),  # the same running total again
        count("2026-11-20T09:02:10.000Z", running, second),
    ]
    day = home / "codex" / "sessions" / "2026" / "11" / "20"
    _jsonl(
        day / f"rollout-2026-11-20T09-00-00-{sid}.jsonl", [meta(sid, "2026-11-20T09:00:00.000Z"), *history]
    )
    # The fork's copy: the same items, stamped a millisecond apart from the fork on.
    copied = [
        {**line, "timestamp": f"2026-11-20T09:30:00.{n:03}Z"}
        for n, line in enumerate([meta(sid, "2026-11-20T09:00:00.000Z"), *history], start=1)
    ]
    _jsonl(
        day / f"rollout-2026-11-20T09-30-00-{fork}.jsonl",
        [meta(fork, "2026-11-20T09:30:00.000Z", forked_from_id=sid), *copied],
    )
    _ingest(settings)

    inp, cache, out = (
        _rate("openai", "gpt-5", k, r)
        for k, r in [("input_mtok", "1.25"), ("cache_read_mtok", "0.125"), ("output_mtok", "10")]
    )
    expected = _nanos(i=(12000 - 8000, inp), c=(8000, cache), o=(500, out)) + _nanos(
        i=(15000 - 12000, inp), c=(12000, cache), o=(800, out)
    )
    assert expected == 24_250_000  # $0.02425: 4k uncached + 8k cached + 500 out, then 3k + 12k + 800
    assert _ledger_nanos(settings, "codex") == (2, expected)


def test_gemini_cli_chat_and_its_subagent_cost_what_google_bills(home: Path, settings: Settings) -> None:
    """Gemini CLI chat records as ``packages/core/src/services/chatRecordingService.ts`` writes them
    (google-gemini/gemini-cli at 5411f113): a metadata line, then each message appended, a ``gemini``
    message again under its ``id`` once ``recordMessageTokens`` gives it ``tokens`` (``input`` =
    promptTokenCount, cached included; ``thoughts`` and ``tool`` apart); a sub-agent's chat in
    ``chats/<parent session id>/<session id>.jsonl``."""
    chats = home / "gemini" / "tmp" / "shop" / "chats"
    sid, sub = "5f2e1a3b-0000-4000-8000-00000000000a", "5f2e1a3b-0000-4000-8000-00000000000b"

    def meta(session: str, kind: str) -> dict[str, object]:
        return {
            "sessionId": session,
            "projectHash": "ab" * 32,
            "startTime": "2026-11-20T10:00:00.000Z",
            "kind": kind,
        }

    pro_tokens = {"input": 10000, "output": 600, "cached": 4000, "thoughts": 300, "tool": 200, "total": 11100}
    pending: dict[str, object] = {
        "id": "g-1",
        "timestamp": "2026-11-20T10:00:05.000Z",
        "type": "gemini",
        "content": "Done.",
        "tokens": None,
        "model": "gemini-2.5-pro",
    }
    _jsonl(
        chats / "session-2026-11-20T10-00-5f2e1a3b.jsonl",
        [
            meta(sid, "main"),
            {
                "id": "u-1",
                "timestamp": "2026-11-20T10:00:01.000Z",
                "type": "user",
                "content": [{"text": "fix it"}],
            },
            pending,
            {**pending, "tokens": pro_tokens},
            {"$set": {"lastUpdated": "2026-11-20T10:00:06.000Z"}},
        ],
    )
    flash_tokens = {"input": 2000, "output": 100, "cached": 0, "thoughts": 50, "tool": 0, "total": 2150}
    _jsonl(
        chats / sid / f"{sub}.jsonl",
        [
            meta(sub, "subagent"),
            {
                "id": "s-1",
                "timestamp": "2026-11-20T10:00:03.000Z",
                "type": "gemini",
                "content": "Found it.",
                "tokens": flash_tokens,
                "model": "gemini-2.5-flash",
            },
        ],
    )
    _ingest(settings)

    pro = {
        k: _rate("google", "gemini-2.5-pro", k, r)
        for k, r in [("input_mtok", "1.25"), ("cache_read_mtok", "0.125"), ("output_mtok", "10")]
    }
    flash = {
        k: _rate("google", "gemini-2.5-flash", k, r)
        for k, r in [("input_mtok", "0.3"), ("output_mtok", "2.5")]
    }
    expected = _nanos(
        i=(10000 - 4000 + 200, pro["input_mtok"]),
        c=(4000, pro["cache_read_mtok"]),
        o=(600 + 300, pro["output_mtok"]),
    ) + _nanos(i=(2000, flash["input_mtok"]), o=(100 + 50, flash["output_mtok"]))
    assert expected == 18_225_000
    assert _ledger_nanos(settings, "gemini_cli") == (2, expected)


def test_opencode_messages_cost_what_their_providers_bill(home: Path, settings: Settings) -> None:
    """OpenCode assistant messages as ``packages/opencode/src/session/message-v2.ts`` (``Assistant``)
    and ``Session.getUsage`` store them in ``opencode.db``'s ``message`` table: ``tokens.input``
    uncached, cache reads apart, ``reasoning`` inside ``output`` for OpenAI (``total`` = input +
    cache + output) and apart for Google (``total`` adds it). ``cost`` 0 (no rates in OpenCode's
    table) is no price: the call is priced from its tokens."""
    db = home / "opencode" / "opencode.db"
    db.parent.mkdir(parents=True)
    messages = [
        {
            "id": "msg_a1",
            "sessionID": "ses_1",
            "role": "assistant",
            "time": {"created": 1795680000000},
            "modelID": "gpt-5",
            "providerID": "openai",
            "path": {"cwd": "/p", "root": "/p"},
            "cost": 0,
            "tokens": {
                "input": 2000,
                "output": 600,
                "reasoning": 200,
                "cache": {"read": 8000, "write": 0},
                "total": 10600,
            },
        },
        {
            "id": "msg_a2",
            "sessionID": "ses_1",
            "role": "assistant",
            "time": {"created": 1795680060000},
            "modelID": "gemini-2.5-flash",
            "providerID": "google",
            "path": {"cwd": "/p", "root": "/p"},
            "cost": 0,
            "tokens": {
                "input": 1000,
                "output": 100,
                "reasoning": 50,
                "cache": {"read": 0, "write": 0},
                "total": 1150,
            },
        },
    ]
    conn = sqlite3.connect(db)
    conn.execute(
        "CREATE TABLE message (id TEXT PRIMARY KEY, session_id TEXT NOT NULL, time_created INTEGER,"
        " data TEXT)"
    )
    conn.executemany(
        "INSERT INTO message VALUES (?, ?, ?, ?)",
        [(m["id"], m["sessionID"], 0, json.dumps(m)) for m in messages],
    )
    conn.commit()
    conn.close()
    _ingest(settings)

    gpt = {
        k: _rate("openai", "gpt-5", k, r)
        for k, r in [("input_mtok", "1.25"), ("cache_read_mtok", "0.125"), ("output_mtok", "10")]
    }
    flash = {
        k: _rate("google", "gemini-2.5-flash", k, r)
        for k, r in [("input_mtok", "0.3"), ("output_mtok", "2.5")]
    }
    expected = _nanos(
        i=(2000, gpt["input_mtok"]), c=(8000, gpt["cache_read_mtok"]), o=(600, gpt["output_mtok"])
    ) + _nanos(i=(1000, flash["input_mtok"]), o=(100 + 50, flash["output_mtok"]))
    assert expected == 10_175_000
    assert _ledger_nanos(settings, "opencode") == (2, expected)


def test_amp_thread_costs_what_anthropic_bills(home: Path, settings: Settings) -> None:
    """An Amp thread file (``threads/T-<uuid>.json``, rewritten whole) with the usage Amp puts on
    each assistant message, in Anthropic's disjoint kinds (the shape ccusage's
    ``adapter/amp/parser.rs`` reads at 5816e640): cache writes are priced as 5-minute writes."""
    thread = {
        "v": 12,
        "id": "T-0c1d2e3f-0000-4c6d-8e7f-9a0b1c2d3e4f",
        "created": 1795680000000,
        "messages": [
            {"role": "user", "messageId": 0, "content": [{"type": "text", "text": "hi"}]},
            {
                "role": "assistant",
                "messageId": 1,
                "content": [{"type": "text", "text": "hello"}],
                "usage": {
                    "model": "claude-sonnet-4-5-20250929",
                    "timestamp": "2026-11-20T10:00:00.000Z",
                    "inputTokens": 6,
                    "outputTokens": 310,
                    "cacheCreationInputTokens": 4200,
                    "cacheReadInputTokens": 15000,
                    "totalTokens": 19516,
                },
            },
        ],
    }
    path = home / "amp" / "threads" / f"{thread['id']}.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(thread))
    _ingest(settings)

    r = {
        k: _rate("anthropic", "claude-sonnet-4-5", k, v)
        for k, v in [
            ("input_mtok", "3"),
            ("output_mtok", "15"),
            ("cache_read_mtok", "0.3"),
            ("cache_write_mtok", "3.75"),
        ]
    }
    expected = _nanos(
        i=(6, r["input_mtok"]),
        o=(310, r["output_mtok"]),
        c=(15000, r["cache_read_mtok"]),
        w=(4200, r["cache_write_mtok"]),
    )
    assert expected == 24_918_000
    assert _ledger_nanos(settings, "amp") == (1, expected)


def _opencode_db(home: Path, messages: list[dict[str, object]]) -> None:
    """OpenCode's ``opencode.db`` with ``messages`` in its ``message`` table (id, session, JSON)."""
    db = home / "opencode" / "opencode.db"
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE message (id TEXT PRIMARY KEY, session_id TEXT NOT NULL, data TEXT)")
    conn.executemany(
        "INSERT INTO message VALUES (?, ?, ?)", [(m["id"], m["sessionID"], json.dumps(m)) for m in messages]
    )
    conn.commit()
    conn.close()


def _opencode_cost(inp: int, out: int, reasoning: int, read: int, rates: dict[str, Decimal]) -> str:
    """OpenCode's ``cost`` of a call as ``Session.getUsage`` works it out (uncached input, output,
    cache reads, and reasoning again at the output rate), in USD, as the JSON number it writes."""
    terms = (
        inp * rates["input_mtok"] + (out + reasoning) * rates["output_mtok"] + read * rates["cache_read_mtok"]
    )
    return str(terms / NANOS_PER_USD)


def test_opencodes_own_cost_is_not_counted_where_it_counts_reasoning_twice(
    home: Path, settings: Settings
) -> None:
    """OpenCode's ``Session.getUsage`` (anomalyco/opencode ``packages/opencode/src/session/index.ts``)
    prices ``tokens.reasoning`` at the output rate on top of ``tokens.output``. With AI SDK v5 usage
    (``LanguageModelV2Usage``) an OpenAI-style ``outputTokens`` holds the reasoning, stored as is, so
    that ``cost`` counts the reasoning twice; the AI SDK v6 version stores ``output = outputTokens -
    reasoningTokens`` and its ``cost`` is right. The ``auto`` cost mode (the default) counted
    OpenCode's cost for both: $0.0135 for a call that costs $0.0095."""
    from datetime import UTC, datetime

    from cost_mcp.analytics.spend import get_spend
    from cost_mcp.money import from_nanos
    from cost_mcp.periods import days_period

    gpt = {
        k: _rate("openai", "gpt-5", k, r)
        for k, r in [("input_mtok", "1.25"), ("cache_read_mtok", "0.125"), ("output_mtok", "10")]
    }
    created = 1795680000000
    base = {"sessionID": "ses_1", "role": "assistant", "modelID": "gpt-5", "providerID": "openai"}
    # One call: 10,000 prompt tokens (8,000 cached) and 600 out, 400 of them reasoning.
    v5 = {"input": 2000, "output": 600, "reasoning": 400, "cache": {"read": 8000, "write": 0}, "total": 10600}
    v6 = {"input": 2000, "output": 200, "reasoning": 400, "cache": {"read": 8000, "write": 0}, "total": 10600}
    messages = [
        {**base, "id": "msg_v5", "time": {"created": created}, "tokens": v5, "cost": 0},
        {**base, "id": "msg_v6", "time": {"created": created + 60_000}, "tokens": v6, "cost": 0},
    ]
    messages[0]["cost"] = json.loads(_opencode_cost(2000, 600, 400, 8000, gpt))
    messages[1]["cost"] = json.loads(_opencode_cost(2000, 200, 400, 8000, gpt))
    assert (messages[0]["cost"], messages[1]["cost"]) == (0.0135, 0.0095)
    _opencode_db(home, messages)
    _ingest(settings)

    call = _nanos(i=(2000, gpt["input_mtok"]), c=(8000, gpt["cache_read_mtok"]), o=(600, gpt["output_mtok"]))
    assert call == 9_500_000
    ledger = connect(settings.db)
    try:
        reported = dict(
            ledger.execute(
                "SELECT message_id, reported_cost_nanos FROM usage_events WHERE source = 'opencode'"
            )
        )
        day = datetime.fromtimestamp(created / 1000, UTC).date()
        spend = get_spend(
            ledger, settings, days_period(day, day, tz=settings.tz), ["agent"], take_alerts=False
        )
    finally:
        ledger.close()
    assert settings.cost_mode == "auto"
    assert reported == {"msg_v5": None, "msg_v6": call}
    [row] = spend.rows
    assert (row.cost_usd, row.unpriced_requests) == (from_nanos(2 * call), 0)


def _opencode_v6_tokens(
    prompt: int, cache_read: int, cache_write: int, completion: int, reasoning: int
) -> dict[str, object]:
    """``tokens`` as OpenCode on AI SDK v6 stores a call the provider reported as ``prompt`` input
    tokens (cache reads and writes among them) and ``completion`` output tokens (``reasoning``
    among them). AI SDK v6's ``asLanguageModelUsage`` gives every provider's ``inputTokens`` with
    the cache inside and ``outputTokens`` with the reasoning inside, and ``totalTokens`` = input +
    output (undefined only when the provider reported neither); OpenCode's ``Session.getUsage``
    (anomalyco/opencode ``packages/opencode/src/session/index.ts``) stores ``input = inputTokens -
    cache``, ``output = outputTokens - reasoningTokens`` and ``total = totalTokens``."""
    return {
        "total": prompt + completion,
        "input": prompt - cache_read - cache_write,
        "output": completion - reasoning,
        "reasoning": reasoning,
        "cache": {"read": cache_read, "write": cache_write},
    }


def test_opencode_v6_messages_count_reasoning_once_for_every_provider_family(
    home: Path, settings: Settings
) -> None:
    """On AI SDK v6 OpenCode stores ``output`` without the reasoning for every provider family
    (OpenAI, Anthropic, Google, OpenAI-compatible such as Groq), and ``total`` whenever the provider
    reported any input or output: ``total`` = input + cache + output + reasoning says the reasoning
    is apart, and each call costs its provider's bill, reasoning at the output rate, counted once.
    A message without ``total`` is not a v6 one with tokens: those are read as before (apart for
    Google only), as the other OpenCode tests show."""
    gpt = {
        k: _rate("openai", "gpt-5", k, r)
        for k, r in [("input_mtok", "1.25"), ("cache_read_mtok", "0.125"), ("output_mtok", "10")]
    }
    claude = {
        k: _rate("anthropic", "claude-sonnet-4-5", k, r)
        for k, r in [
            ("input_mtok", "3"),
            ("output_mtok", "15"),
            ("cache_read_mtok", "0.3"),
            ("cache_write_mtok", "3.75"),
        ]
    }
    flash = {
        k: _rate("google", "gemini-2.5-flash", k, r)
        for k, r in [("input_mtok", "0.3"), ("output_mtok", "2.5")]
    }
    oss = {
        k: _rate("groq", "openai/gpt-oss-120b", k, r)
        for k, r in [("input_mtok", "0.15"), ("cache_read_mtok", "0.075"), ("output_mtok", "0.6")]
    }
    calls = [
        # provider, model, (prompt, cache read, cache write, completion, reasoning)
        ("openai", "gpt-5", (10000, 8000, 0, 600, 400)),
        # Anthropic breaks no reasoning out: its output_tokens hold the thinking, reasoning is 0.
        ("anthropic", "claude-sonnet-4-5", (19206, 15000, 4200, 310, 0)),
        ("google", "gemini-2.5-flash", (1000, 0, 0, 150, 50)),
        ("groq", "openai/gpt-oss-120b", (3000, 1000, 0, 900, 700)),
    ]
    messages = [
        {
            "id": f"msg_v6_{i}",
            "sessionID": "ses_v6",
            "role": "assistant",
            "time": {"created": 1795680000000 + i * 60_000},
            "modelID": model,
            "providerID": provider,
            "path": {"cwd": "/p", "root": "/p"},
            "cost": 0,
            "tokens": _opencode_v6_tokens(*counts),
        }
        for i, (provider, model, counts) in enumerate(calls)
    ]
    _opencode_db(home, messages)
    _ingest(settings)

    expected = (
        _nanos(
            i=(2000, gpt["input_mtok"]), c=(8000, gpt["cache_read_mtok"]), o=(200 + 400, gpt["output_mtok"])
        )
        + _nanos(
            i=(6, claude["input_mtok"]),
            c=(15000, claude["cache_read_mtok"]),
            w=(4200, claude["cache_write_mtok"]),
            o=(310, claude["output_mtok"]),
        )
        + _nanos(i=(1000, flash["input_mtok"]), o=(100 + 50, flash["output_mtok"]))
        + _nanos(
            i=(2000, oss["input_mtok"]), c=(1000, oss["cache_read_mtok"]), o=(200 + 700, oss["output_mtok"])
        )
    )
    assert expected == 36_008_000
    assert _ledger_nanos(settings, "opencode") == (4, expected)
