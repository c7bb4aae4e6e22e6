"""Other coding agents' logs (Codex CLI, Gemini CLI) read from real-shaped files on disk."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import random
import shutil
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from mcp import Client

from cost_mcp.analytics.claude_code import session_usage, usage_blocks
from cost_mcp.analytics.usage import OUTPUT_LOWER_BOUND
from cost_mcp.config import Settings
from cost_mcp.errors import NotFoundError
from cost_mcp.money import from_nanos
from cost_mcp.periods import to_ms
from cost_mcp.pricing import Price, Pricer, Tokens
from cost_mcp.sources import agents, logfiles
from cost_mcp.sources.agents import codex, gemini_cli
from cost_mcp.sources.agents.scanner import FileContext
from cost_mcp.store.connection import connect, is_postgres, write_transaction
from tests.sources.claude_logs import SONNET, assistant, permissions_hold, session_file, write

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "agents"
CODEX_SESSION = "0199a1b2-7c3d-7e40-9a51-2f3c4d5e6f70"
CODEX_FORK = "0199a1c4-0000-7000-8000-000000000001"
GEMINI_SESSION = "5f2e1a3b-6c7d-4e8f-9a0b-1c2d3e4f5a6b"
GEMINI_LEGACY = "aaaa1111-2222-4333-8444-555566667777"

# What the fixtures hold, call by call, in the ledger's disjoint kinds (see tests/fixtures/agents).
CODEX_CALLS = [
    (
        "2026-11-20T09:00:20.500Z",
        "gpt-5-codex",
        CODEX_SESSION,
        Tokens(input=4000, cache_read=8000, output=500),
    ),
    (
        "2026-11-20T09:02:10.000Z",
        "gpt-5-codex",
        CODEX_SESSION,
        Tokens(input=3000, cache_read=12000, output=800),
    ),
    (
        "2026-11-20T09:31:40.000Z",
        "gpt-5.1-codex",
        CODEX_FORK,
        Tokens(input=3000, cache_read=10000, output=400),
    ),
]
GEMINI_CALLS = [
    (
        "2026-11-20T10:00:05.000Z",
        "gemini-2.5-pro",
        GEMINI_SESSION,
        Tokens(input=3000, cache_read=6000, output=650),
    ),
    (
        "2026-11-20T10:01:30.000Z",
        "gemini-2.5-pro",
        GEMINI_SESSION,
        Tokens(input=2050, cache_read=9000, output=400),
    ),
    ("2026-11-19T08:00:09.000Z", "gemini-2.5-flash", GEMINI_LEGACY, Tokens(input=5000, output=200)),
    (
        "2026-11-21T12:00:00.000Z",
        "gemini-2.5-flash",
        GEMINI_LEGACY,
        Tokens(input=2000, cache_read=5000, output=150),
    ),
]


def _at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp).astimezone(UTC)


def expected_cost(calls: list[tuple[str, str, str, Tokens]], provider: str) -> Decimal:
    """The sum of each call priced on its own through pricing.py."""
    total = Decimal(0)
    for stamp, model, _, tokens in calls:
        price = Pricer().price(tokens, model, provider, _at(stamp))
        assert isinstance(price, Price)
        total += from_nanos(price.total_nanos)
    return total


def install(home: Path) -> None:
    """Put the real-shaped fixtures where CODEX_HOME and GEMINI_DIR (set by conftest) point."""
    shutil.copytree(FIXTURES / "codex", home / "codex")
    shutil.copytree(FIXTURES / "gemini_cli", home / "gemini")


def rows(settings: Settings, source: str) -> list[tuple[object, ...]]:
    conn = connect(settings.db)
    try:
        return conn.execute(
            """
            SELECT ts_ms, model, session_id, input_tokens, cache_read_tokens, output_tokens, agent, provider
            FROM usage_events WHERE source = ? AND counted = 1 ORDER BY ts_ms
            """,
            (source,),
        ).fetchall()
    finally:
        conn.close()


def as_rows(calls: list[tuple[str, str, str, Tokens]], agent: str, provider: str) -> list[tuple[object, ...]]:
    return sorted(
        (to_ms(_at(ts)), model, session, t.input, t.cache_read, t.output, agent, provider)
        for ts, model, session, t in calls
    )


def test_fixtures_give_each_call_once_with_tokens_mapped(home: Path, settings: Settings) -> None:
    install(home)
    conn = connect(settings.db)
    codex_scan, gemini_scan, *_ = agents.ingest_all(conn, settings, Pricer())
    conn.close()
    assert rows(settings, codex.SOURCE) == as_rows(CODEX_CALLS, "codex", "openai")
    assert rows(settings, gemini_cli.SOURCE) == as_rows(GEMINI_CALLS, "gemini-cli", "google")
    # The cut-off Codex line and the Gemini line that is not JSON are counted and skipped.
    assert dict(codex_scan.skipped) == {"truncated": 1}
    assert dict(gemini_scan.skipped) == {"malformed": 1}
    assert codex_scan.events_added == 3 and gemini_scan.events_added == 4


def test_codex_rate_limits_become_plan_limit_readings(home: Path, settings: Settings) -> None:
    from cost_mcp.analytics.plan_limits import plan_limits

    install(home)
    conn = connect(settings.db)
    agents.ingest_all(conn, settings, Pricer())
    agents.ingest_all(conn, settings, Pricer())  # nothing new: no reading twice
    limits = plan_limits(conn, days=3650, now=_at("2026-11-20T10:00:00Z"))
    conn.close()
    windows = {(w.agent, w.window): w for w in limits.windows}
    five = windows[("codex", "five_hour")]
    # 11% at 09:00:01, 12% and 13% at 09:00:20: one reading per change, all for the reset at 11:30.
    assert [r.used_percent for r in five.readings] == [11.0, 12.0, 13.0]
    assert {r.resets_at for r in five.readings} == {"2026-11-20T11:30:00.000Z"}
    assert [r.used_percent for r in windows[("codex", "seven_day")].readings] == [3.0]


def test_rescan_reads_nothing_and_appends_are_read_from_the_offset(home: Path, settings: Settings) -> None:
    install(home)
    conn = connect(settings.db)
    agents.ingest_all(conn, settings, Pricer())
    again = agents.ingest_all(conn, settings, Pricer())
    assert [s.lines_read for s in again] == [0] * len(agents.AGENTS)
    # A new turn appended to the forked session: its model comes from a turn_context read in an
    # earlier scan (the parser state saved with the offset), and only the new line is read.
    fork = next((home / "codex").rglob(f"*{CODEX_FORK}.jsonl"))
    turn = _token_count("2026-11-20T09:40:00.000Z")
    with fork.open("a") as f:
        f.write(json.dumps(turn) + "\n" + '{"timestamp": "2026-11-20T09:41:00Z", "type": "event_')
    codex_scan = agents.scan(conn, codex.LOG, settings, Pricer())
    conn.close()
    assert codex_scan.lines_read == 1 and codex_scan.events_added == 1
    last = rows(settings, codex.SOURCE)[-1]
    assert last[1:6] == ("gpt-5.1-codex", CODEX_FORK, 2000, 8000, 300)


def test_a_codex_last_line_left_without_its_newline_is_read_once_the_file_is_left_alone(
    home: Path, settings: Settings
) -> None:
    """The shared scanner's rule for a last line a crash left unfinished (sources/logfiles.py)."""
    install(home)
    conn = connect(settings.db)
    try:
        agents.ingest_all(conn, settings, Pricer())
        fork = next((home / "codex").rglob(f"*{CODEX_FORK}.jsonl"))
        with fork.open("a") as f:
            f.write(json.dumps(_token_count("2026-11-20T09:40:00.000Z")))  # no newline: Codex was killed
        assert agents.scan(conn, codex.LOG, settings, Pricer()).events_added == 0  # may be mid-write
        old = fork.stat().st_mtime - 600
        os.utime(fork, (old, old))
        left = agents.scan(conn, codex.LOG, settings, Pricer())
        assert (left.lines_read, left.events_added, sum(left.skipped.values())) == (1, 1, 0)
        assert agents.scan(conn, codex.LOG, settings, Pricer()).lines_read == 0  # read once
    finally:
        conn.close()


def test_a_codex_line_cut_by_a_kill_loses_no_call_of_the_resumed_session(
    home: Path, settings: Settings
) -> None:
    """Codex killed while writing a line leaves it without its end; ``codex resume`` (or the writer's
    own retry after a failed write, openai/codex ``rollout/src/recorder.rs``: the unwritten item is
    kept and written whole again) appends the next line straight after the cut bytes, since the
    rollout is opened for append and each line is written as ``json + "\\n"``. The file then holds
    one line that is the cut one and the next one run together: the next one was a malformed line,
    its call lost, when read within five minutes of the kill (before the cut line settled)."""
    folder = home / "codex" / "sessions" / "2026" / "12" / "02"
    folder.mkdir(parents=True)
    sid = "019ae000-0000-7000-8000-0000000c0ffe"
    first = codex_usage(10000, 8000, 300, 100)
    second = codex_usage(4000, 1000, 200, 0)
    both = {k: first[k] + second[k] for k in first}
    head = _codex_lines(
        [
            (
                "2026-12-02T10:00:00.000Z",
                "session_meta",
                {"id": sid, "cwd": "/w", "model_provider": "openai"},
            ),
            ("2026-12-02T10:00:01.000Z", "turn_context", {"model": "gpt-5.1-codex"}),
            (
                "2026-12-02T10:00:05.000Z",
                "event_msg",
                {"type": "token_count", "info": {"total_token_usage": first, "last_token_usage": first}},
            ),
        ]
    )
    cut = '{"timestamp":"2026-12-02T10:00:09.000Z","type":"response_item","payload":{"type":"message","con'
    resumed = [
        ("2026-12-02T10:03:00.000Z", "turn_context", {"model": "gpt-5.2-codex"}),
        (
            "2026-12-02T10:03:07.000Z",
            "event_msg",
            {"type": "token_count", "info": {"total_token_usage": both, "last_token_usage": second}},
        ),
    ]
    rollout = folder / f"rollout-2026-12-02T10-00-00-{sid}.jsonl"
    rollout.write_text(head + cut)
    conn = connect(settings.db)
    try:
        assert agents.scan(conn, codex.LOG, settings, Pricer()).events_added == 1
        with rollout.open("a") as f:  # resumed a minute later, as Codex writes: compact JSON lines
            f.write(
                "".join(
                    json.dumps({"timestamp": t, "type": k, "payload": p}, separators=(",", ":")) + "\n"
                    for t, k, p in resumed
                )
            )
        scan = agents.scan(conn, codex.LOG, settings, Pricer())
    finally:
        conn.close()
    assert dict(scan.skipped) == {"truncated": 1}  # the cut line is still named as lost
    assert [r[1:7] for r in _codex_calls(settings)] == [
        ("gpt-5.1-codex", sid, 2000, 8000, 0, 300),
        ("gpt-5.2-codex", sid, 3000, 1000, 0, 200),
    ]


def test_codex_model_items_and_odd_usage_counts_are_read_as_before(home: Path, settings: Settings) -> None:
    """A rollout's ``response_item`` lines (most of its bytes) are read only for their kind, and
    usage objects of whole numbers take a short path: a model item that is not JSON or not an
    object is still a named skip, and a count that is missing, a bool, a fraction or negative is
    read as it was (missing: 0; the others: ``invalid_fields``). Shapes as the cut-line test's."""
    folder = home / "codex" / "sessions" / "2026" / "12" / "03"
    folder.mkdir(parents=True)
    sid = "019ae000-0000-7000-8000-0000000d00d5"
    good = codex_usage(9000, 6000, 400, 100)
    no_cached = {k: v for k, v in codex_usage(5000, 0, 100, 0).items() if k != "cached_input_tokens"}
    total = {k: good[k] + codex_usage(5000, 0, 100, 0)[k] for k in good}

    def count_line(
        ts: str, last: Mapping[str, object], running: Mapping[str, object]
    ) -> tuple[str, str, Any]:
        return (
            ts,
            "event_msg",
            {"type": "token_count", "info": {"total_token_usage": running, "last_token_usage": last}},
        )

    body = _codex_lines(
        [
            (
                "2026-12-03T10:00:00.000Z",
                "session_meta",
                {"id": sid, "cwd": "/w", "model_provider": "openai"},
            ),
            ("2026-12-03T10:00:01.000Z", "turn_context", {"model": "gpt-5.1-codex"}),
            (
                "2026-12-03T10:00:02.000Z",
                "response_item",
                {"type": "reasoning", "encrypted_content": "gA" * 50_000},
            ),
            ("2026-12-03T10:00:03.000Z", "response_item", "not an object"),
            count_line("2026-12-03T10:00:05.000Z", good, good),
            count_line("2026-12-03T10:00:06.000Z", no_cached, total),
            count_line(
                "2026-12-03T10:00:07.000Z", {**good, "output_tokens": True}, {**total, "total_tokens": 1}
            ),
            count_line(
                "2026-12-03T10:00:08.000Z", {**good, "output_tokens": 1.5}, {**total, "total_tokens": 2}
            ),
            count_line(
                "2026-12-03T10:00:09.000Z", {**good, "input_tokens": -1}, {**total, "total_tokens": 3}
            ),
        ]
    )
    body += '["response_item"]\n'  # JSON, not an object
    body += '{"timestamp":"2026-12-03T10:00:10.000Z","type":"response_item","payload":{"a":1}\n'  # cut
    (folder / f"rollout-2026-12-03T10-00-00-{sid}.jsonl").write_text(body)
    conn = connect(settings.db)
    try:
        scan = agents.scan(conn, codex.LOG, settings, Pricer())
    finally:
        conn.close()
    assert dict(scan.skipped) == {"invalid_fields": 3, "malformed": 1, "truncated": 1}
    assert [r[1:7] for r in _codex_calls(settings)] == [
        ("gpt-5.1-codex", sid, 3000, 6000, 0, 400),
        ("gpt-5.1-codex", sid, 5000, 0, 0, 100),
    ]


def _odd_usage(rng: random.Random) -> object:
    """A ``TokenUsage`` as Codex writes it, or one of the shapes a broken or foreign writer might."""
    usage: dict[str, object] = dict(codex_usage(*(rng.randrange(0, 20_000) for _ in range(4))))
    if rng.random() < 0.3:
        usage["cache_write_input_tokens"] = rng.randrange(0, 500)
    if rng.random() < 0.1:
        field = rng.choice([*usage, "cache_write_input_tokens"])
        odd: object = rng.choice([None, -1, True, 5.0, "7", [1], "absent"])
        if odd == "absent":
            usage.pop(field, None)
        else:
            usage[field] = odd
    return rng.choice([usage] * 30 + [None, [1, 2], "x"])


def _odd_rate_limits(rng: random.Random) -> object:
    def window() -> object:
        found: dict[str, object] = {
            "used_percent": rng.choice([11.0, 12.0, 12, 13.5] * 8 + [True, "12", None]),
            "window_minutes": rng.choice([300, 10080, 60] * 8 + ["300", True, None]),
        }
        reset = rng.choice(["resets_at", "resets_in_seconds", "neither", "both"])
        if reset in ("resets_at", "both"):
            found["resets_at"] = rng.choice([1_795_000_000, 1_795_000_000.5] * 8 + [True, "soon"])
        if reset in ("resets_in_seconds", "both"):
            found["resets_in_seconds"] = rng.choice([8265, 8251, 8240.5] * 8 + [None, "x"])
        for name in list(found):
            if rng.random() < 0.02:
                del found[name]
        return found

    shapes = [{"primary": window(), "secondary": window()}] * 30
    return rng.choice(
        [*shapes, {"primary": window()}, {"primary": None, "secondary": "x"}, None, [], "absent"]
    )


def test_codex_token_counts_read_typed_give_what_the_generic_read_gives() -> None:
    """A ``token_count`` line written compactly, as Codex writes it, is decoded into typed structs
    (``codex._TokenCountLine``); any other spelling takes the generic read, key by key. Over random
    lines with odd counts, odd windows, odd stamps, in plain and forked sessions, the two reads of
    the same line give the same calls, readings and skips and leave the same file state."""
    rng = random.Random(11)
    typed_lines = 0
    for session in range(40):
        compact = FileContext(path=f"/c/rollout-{session}.jsonl", root="/c", state={})
        spaced = FileContext(path=f"/c/rollout-{session}.jsonl", root="/c", state={})
        at = datetime(2026, 12, 3, 10, tzinfo=UTC)
        meta: dict[str, object] = {"id": f"s-{session}", "timestamp": at.isoformat(), "cwd": "/w"}
        if session % 3 == 0:
            meta["forked_from_id"] = "parent"  # its first lines are a copy until the first pause
        lines: list[dict[str, object]] = [
            {"timestamp": at.isoformat(), "type": "session_meta", "payload": meta},
            {"timestamp": at.isoformat(), "type": "turn_context", "payload": {"model": "gpt-5.1-codex"}},
        ]
        for _ in range(60):
            at += timedelta(milliseconds=rng.choice([2, 400, 3_000, 60_000]))
            payload: dict[str, object] = {"type": "token_count"}
            info = rng.choice(["usage"] * 12 + ["null", "null", "absent", "list"])
            if info == "usage":
                payload["info"] = {
                    name: _odd_usage(rng)
                    for name in ("total_token_usage", "last_token_usage")
                    if rng.random() < 0.9
                }
            elif info != "absent":
                payload["info"] = None if info == "null" else [1]
            limits = _odd_rate_limits(rng)
            if limits != "absent":
                payload["rate_limits"] = limits
            stamp: object = rng.choice([at.isoformat().replace("+00:00", "Z")] * 12 + [None, 7, "soon"])
            lines.append({"timestamp": stamp, "type": "event_msg", "payload": payload})
        for line in lines:
            tight = json.dumps(line, separators=(",", ":")).encode()
            loose = json.dumps(line).encode()  # '"type": "token_count"': never the typed read
            try:
                codex._TOKEN_COUNT.decode(tight)
                # Where the parser looks for the kind, so this line takes the typed read.
                typed_lines += tight.find(codex._TOKEN_COUNT_KIND, 0, codex._KIND_WITHIN) >= 0
            except msgspec.DecodeError:
                pass
            assert codex.parse_line(tight, compact) == codex.parse_line(loose, spaced), tight
            assert compact.state == spaced.state
    assert typed_lines > 1000  # most lines took the typed read (2,400 token_count lines in all)


def test_codex_plan_readings_said_again_across_sessions_and_scans_are_stored_once(
    home: Path, settings: Settings
) -> None:
    """Each ``token_count`` repeats the account's windows, so most of a scan's readings say again
    what one before said. Those with a reset time are no longer made twice in a scan; the rows
    are the ones each reading stored in turn gives: a window's percent and reset once (a return
    to an earlier percent adds nothing), a reading without a reset time whenever it differs from
    the window's latest."""
    folder = home / "codex" / "sessions" / "2026" / "12" / "04"
    folder.mkdir(parents=True)

    def session(sid: str, start: str, resets_in: int, steps: list[tuple[float, float]]) -> str:
        at = datetime.fromisoformat(start)
        lines: list[tuple[str, str, Any]] = [
            (start, "session_meta", {"id": sid, "timestamp": start, "cwd": "/w"}),
            (start, "turn_context", {"model": "gpt-5.1-codex"}),
        ]
        for n, (five, week) in enumerate(steps):
            at += timedelta(seconds=20)
            limits = {
                # The same reset each time, seconds apart: rounded to one minute.
                "primary": {
                    "used_percent": five,
                    "window_minutes": 300,
                    "resets_in_seconds": resets_in - 20 * n,
                },
                "secondary": {"used_percent": week, "window_minutes": 10080},  # no reset time
            }
            lines.append(
                (at.isoformat(), "event_msg", {"type": "token_count", "info": None, "rate_limits": limits})
            )
        return "".join(
            json.dumps({"timestamp": t, "type": k, "payload": p}, separators=(",", ":")) + "\n"
            for t, k, p in lines
        )

    (folder / "rollout-2026-12-04T10-00-00-a.jsonl").write_text(
        session("a", "2026-12-04T10:00:00+00:00", 9000, [(11, 3), (11, 3), (12, 4), (11, 3)])
    )
    conn = connect(settings.db)
    try:
        first = agents.scan(conn, codex.LOG, settings, Pricer())
        # Ten minutes later, another session sees the same 5-hour window (the same reset).
        (folder / "rollout-2026-12-04T10-10-00-b.jsonl").write_text(
            session("b", "2026-12-04T10:10:00+00:00", 9000 - 600, [(12, 3), (13, 5)])
        )
        second = agents.scan(conn, codex.LOG, settings, Pricer())
        again = agents.scan(conn, codex.LOG, settings, Pricer())
        stored = conn.execute(
            'SELECT "window", used_percent, resets_at_ms, session_id FROM plan_limit_readings '
            "ORDER BY ts_ms, id"
        ).fetchall()
    finally:
        conn.close()
    assert (first.lines_read, second.lines_read, again.lines_read) == (6, 4, 0)
    reset = to_ms(datetime(2026, 12, 4, 12, 30, tzinfo=UTC))  # 10:00:20 + 9,000 s, to the minute
    assert [tuple(r) for r in stored] == [
        ("five_hour", 11.0, reset, "a"),
        ("seven_day", 3.0, None, "a"),
        ("five_hour", 12.0, reset, "a"),
        ("seven_day", 4.0, None, "a"),
        ("seven_day", 3.0, None, "a"),  # back from 4%: no reset time, so a row again
        ("five_hour", 13.0, reset, "b"),  # b's 12% was a's already, in the scan before
        ("seven_day", 5.0, None, "b"),  # b's 3% was the window's latest
    ]


def test_codex_reading_with_a_reset_time_out_of_range_is_skipped_not_a_stopped_scan(
    home: Path, settings: Settings
) -> None:
    """A window whose reset time is no instant (``1e306`` seconds, infinite after a bad write)
    raised OverflowError out of the scan: no Codex call after it was read and every answer
    failed. Such a reading keeps no reset time; the calls around it count."""
    folder = home / "codex" / "sessions" / "2026" / "12" / "04"
    folder.mkdir(parents=True)
    head = (
        '{"timestamp":"2026-12-04T10:00:00Z","type":"session_meta","payload":{"id":"s",'
        '"timestamp":"2026-12-04T10:00:00Z","cwd":"/w"}}\n'
        '{"timestamp":"2026-12-04T10:00:00Z","type":"turn_context","payload":{"model":"gpt-5.1-codex"}}\n'
    )
    turns = []
    for n, odd in enumerate(["1e306", "1e400", "-1e400", "1e20", "-5"], start=1):
        turns.append(
            f'{{"timestamp":"2026-12-04T10:0{n}:00Z","type":"event_msg","payload":{{"type":"token_count",'
            f'"info":{{"total_token_usage":{{"input_tokens":{100 * n},"output_tokens":{10 * n}}},'
            '"last_token_usage":{"input_tokens":100,"output_tokens":10}},'
            f'"rate_limits":{{"primary":{{"used_percent":{n},"window_minutes":300,"resets_at":{odd}}}}}}}}}\n'
        )
    (folder / "rollout-2026-12-04T10-00-00-s.jsonl").write_text(head + "".join(turns))
    conn = connect(settings.db)
    try:
        agents.scan(conn, codex.LOG, settings, Pricer())
        calls = conn.execute("SELECT COUNT(*), SUM(input_tokens) FROM usage_events").fetchone()
        resets = conn.execute("SELECT used_percent, resets_at_ms FROM plan_limit_readings").fetchall()
        skipped = conn.execute("SELECT reason, SUM(lines) FROM skipped_lines GROUP BY reason").fetchall()
    finally:
        conn.close()
    # 1e400 is no number a JSON parser holds: those two lines are counted as bad, as any is.
    assert [tuple(r) for r in skipped] == [("malformed", 2)]
    assert tuple(calls) == (3, 300)
    # Only a reset time that is an instant after 1970 is kept; the readings still count.
    assert sorted(tuple(r) for r in resets) == [(1.0, None), (4.0, None), (5.0, None)]


def test_a_count_no_ledger_column_holds_costs_its_line_not_the_scan(home: Path, settings: Settings) -> None:
    """A Codex usage record whose output count is ``10**29`` (found by tests/reliability/
    test_agent_fuzz.py) passed the reader as a whole number >= 0, and its row's write raised
    OverflowError (SQLite; PostgreSQL: bigint out of range) out of the scan, after the readers'
    guard: no call of any Codex file was stored and every answer failed. Such a call is counted as
    ``invalid_fields`` by the scanner, for every reader; the calls around it count."""
    folder = home / "codex" / "sessions" / "2026" / "12" / "04"
    folder.mkdir(parents=True)
    head = (
        '{"timestamp":"2026-12-04T10:00:00Z","type":"session_meta","payload":{"id":"s",'
        '"timestamp":"2026-12-04T10:00:00Z","cwd":"/w"}}\n'
        '{"timestamp":"2026-12-04T10:00:00Z","type":"turn_context","payload":{"model":"gpt-5.1-codex"}}\n'
    )
    turns = []
    for n, out in enumerate(["10", str(10**29), str(10**12), "30"], start=1):
        turns.append(
            f'{{"timestamp":"2026-12-04T10:0{n}:00Z","type":"event_msg","payload":{{"type":"token_count",'
            f'"info":{{"total_token_usage":{{"input_tokens":{100 * n},"output_tokens":1}},'
            f'"last_token_usage":{{"input_tokens":100,"output_tokens":{out}}}}}}}}}\n'
        )
    (folder / "rollout-2026-12-04T10-00-00-s.jsonl").write_text(head + "".join(turns))
    conn = connect(settings.db)
    try:
        done = agents.scan(conn, codex.LOG, settings, Pricer())
        calls = conn.execute("SELECT COUNT(*), SUM(output_tokens) FROM usage_events").fetchone()
    finally:
        conn.close()
    assert tuple(calls) == (2, 40)
    assert dict(done.skipped) == {"invalid_fields": 2}


def test_a_reader_that_raises_on_a_line_costs_that_line_not_the_scan(
    home: Path, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """A value no reader foresaw (the OverflowError above) went out of the scan: that agent's
    later lines and files were not read and every answer failed. Whatever a reader raises on a
    line now costs that line, counted as ``invalid_fields`` and logged once per file with its
    traceback; the rest of the file and the other files are read."""
    folder = home / "codex" / "sessions" / "2026" / "12" / "04"
    folder.mkdir(parents=True)
    for sid in ("a", "b"):
        lines: list[tuple[str, str, Any]] = [
            ("2026-12-04T10:00:00+00:00", "session_meta", {"id": sid, "timestamp": "2026-12-04T10:00:00Z"}),
            ("2026-12-04T10:00:00+00:00", "turn_context", {"model": "gpt-5.1-codex"}),
        ]
        for n in (1, 2, 3):
            info = {
                "total_token_usage": {"input_tokens": 100 * n, "output_tokens": 10 * n},
                "last_token_usage": {"input_tokens": 100, "output_tokens": 10},
            }
            lines.append((f"2026-12-04T10:0{n}:00+00:00", "event_msg", {"type": "token_count", "info": info}))
        (folder / f"rollout-2026-12-04T10-00-00-{sid}.jsonl").write_text(_codex_lines(lines))

    def flawed(raw: bytes, ctx: FileContext) -> Any:
        # The reader's bug stands in for one no test has found yet: it fails on two lines of a.
        if ctx.path.endswith("-a.jsonl") and (b"T10:02:00" in raw or b"T10:03:00" in raw):
            raise OverflowError("cannot convert float infinity to integer")
        return codex.parse_line(raw, ctx)

    log = dataclasses.replace(codex.LOG, parse_line=flawed)
    conn = connect(settings.db)
    try:
        with caplog.at_level("WARNING", logger="cost_mcp.sources.agents.scanner"):
            scan = agents.scan(conn, log, settings, Pricer())
        calls = conn.execute(
            "SELECT session_id, COUNT(*) FROM usage_events GROUP BY session_id ORDER BY session_id"
        ).fetchall()
    finally:
        conn.close()
    assert scan.skipped["invalid_fields"] == 2
    assert "reader_fault_logged" not in scan.skipped
    assert scan.lines_read == 10  # every line of both files: a's last one after its two faults too
    # a's first call waits for its turn's end (Codex's rule), which the faulty lines were.
    assert [tuple(r) for r in calls] == [("b", 3)]
    faults = [r for r in caplog.records if "did not expect" in r.getMessage()]
    # Its traceback goes with it: as exc_info, or already formatted (exc_text) once a command in this
    # process installed the record factory that scrubs keys from tracebacks (log_records).
    assert len(faults) == 1 and "OverflowError: cannot convert" in logging.Formatter().format(faults[0])


def _token_count(ts: str) -> dict[str, object]:
    """A Codex ``token_count`` event: a turn of 10,000 input (8,000 cached) and 300 output tokens."""
    return {
        "timestamp": ts,
        "type": "event_msg",
        "payload": {
            "type": "token_count",
            "info": {
                "total_token_usage": codex_usage(50000, 38000, 2000, 700),
                "last_token_usage": codex_usage(10000, 8000, 300, 100),
            },
        },
    }


def codex_usage(inp: int, cached: int, out: int, reasoning: int) -> dict[str, int]:
    """A Codex ``TokenUsage`` (``codex-rs/protocol/src/protocol.rs``) as a rollout's ``token_count``
    writes it: cached input inside ``input_tokens``, reasoning inside ``output_tokens``."""
    return {
        "input_tokens": inp,
        "cached_input_tokens": cached,
        "output_tokens": out,
        "reasoning_output_tokens": reasoning,
        "total_tokens": inp + out,
    }


def test_a_rewritten_file_is_read_again_without_double_counting(home: Path, settings: Settings) -> None:
    install(home)
    conn = connect(settings.db)
    agents.ingest_all(conn, settings, Pricer())
    # Gemini rewrites a session file through a temp file and a rename when it resumes one.
    chat = next((home / "gemini").rglob("session-2026-11-20T10-00-*.jsonl"))
    text = chat.read_text()
    chat.unlink()
    chat.write_text(text.replace("this line is not JSON\n", ""))
    scan = agents.scan(conn, gemini_cli.LOG, settings, Pricer())
    conn.close()
    assert scan.files_reread == 1 and scan.events_added == 0
    assert rows(settings, gemini_cli.SOURCE) == as_rows(GEMINI_CALLS, "gemini-cli", "google")


def test_subagent_file_skips_its_replayed_parent_history(home: Path, settings: Settings) -> None:
    folder = home / "codex" / "sessions" / "2026" / "11" / "20"
    folder.mkdir(parents=True)
    spawn = "2026-11-20T11:00:00.000Z"

    def count(stamp: str, info: dict[str, object]) -> dict[str, object]:
        return {"timestamp": stamp, "type": "event_msg", "payload": {"type": "token_count", "info": info}}

    meta = {"timestamp": spawn, "cwd": "/w"}
    lines = [
        {
            "timestamp": spawn,
            "type": "session_meta",
            "payload": {
                "id": "sub-1",
                **meta,
                "source": {"subagent": {"thread_spawn": {"parent_thread_id": "p-1"}}},
            },
        },
        {"timestamp": spawn, "type": "session_meta", "payload": {"id": "p-1", **meta}},
        {"timestamp": spawn, "type": "turn_context", "payload": {"model": "gpt-5"}},
        count(
            spawn,
            {
                "total_token_usage": codex_usage(1000, 0, 100, 0),
                "last_token_usage": codex_usage(1000, 0, 100, 0),
            },
        ),
        count("2026-11-20T11:00:30.000Z", {"total_token_usage": codex_usage(1600, 500, 150, 0)}),
    ]
    (folder / "rollout-sub.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    conn = connect(settings.db)
    agents.ingest_all(conn, settings, Pricer())
    conn.close()
    # Only the sub-agent's own turn, as the difference of running totals (no last_token_usage).
    assert [r[2:6] for r in rows(settings, codex.SOURCE)] == [("sub-1", 100, 500, 50)]


def test_a_subagents_replayed_parent_history_running_into_the_next_second_counts_once(
    home: Path, settings: Settings
) -> None:
    """Codex stamps each rollout line as it writes it (openai/codex ``codex-rs/rollout/src/
    recorder.rs`` at 05eb6e5e, ``JsonlWriter::write_rollout_item``: ``OffsetDateTime::now_utc()`` per
    line), so a sub-agent's replayed parent history is a burst of lines a few milliseconds apart
    that can cross a second. The parent's calls it repeats (new stamps, so new keys) counted again
    once the burst crossed into the next second; now the whole burst is the replay."""
    folder = home / "codex" / "sessions" / "2026" / "11" / "20"
    folder.mkdir(parents=True)
    first, second, own = (
        codex_usage(1000, 0, 100, 0),
        codex_usage(2000, 1000, 200, 0),
        codex_usage(3000, 2000, 50, 0),
    )
    after_first = {k: first[k] + second[k] for k in first}
    after_own = {k: after_first[k] + own[k] for k in first}

    def count(total: dict[str, int], last: dict[str, int]) -> dict[str, object]:
        return {"type": "token_count", "info": {"total_token_usage": total, "last_token_usage": last}}

    parent_meta = {"id": "p-1", "timestamp": "2026-11-20T11:00:00.000Z", "cwd": "/w"}
    parent = [
        ("2026-11-20T11:00:00.000Z", "session_meta", parent_meta),
        ("2026-11-20T11:00:00.100Z", "turn_context", {"model": "gpt-5"}),
        ("2026-11-20T11:00:10.000Z", "event_msg", count(first, first)),
        ("2026-11-20T11:00:20.000Z", "event_msg", count(after_first, second)),
    ]
    (folder / "rollout-2026-11-20T11-00-00-p-1.jsonl").write_text(_codex_lines(parent))
    spawn = "2026-11-20T11:00:30.996Z"
    source = {"subagent": {"thread_spawn": {"parent_thread_id": "p-1", "depth": 1}}}
    sub = [
        (spawn, "session_meta", {"id": "sub-1", "timestamp": spawn, "cwd": "/w", "source": source}),
        ("2026-11-20T11:00:30.997Z", "session_meta", parent_meta),
        ("2026-11-20T11:00:30.998Z", "turn_context", {"model": "gpt-5"}),
        ("2026-11-20T11:00:30.999Z", "event_msg", count(first, first)),
        ("2026-11-20T11:00:31.001Z", "event_msg", count(after_first, second)),  # the next second
        ("2026-11-20T11:00:31.003Z", "turn_context", {"model": "gpt-5"}),  # the sub-agent's own turn
        ("2026-11-20T11:00:36.000Z", "event_msg", count(after_own, own)),
    ]
    (folder / "rollout-2026-11-20T11-00-30-sub-1.jsonl").write_text(_codex_lines(sub))
    conn = connect(settings.db)
    agents.ingest_all(conn, settings, Pricer())
    conn.close()
    assert [r[2:6] for r in rows(settings, codex.SOURCE)] == [
        ("p-1", 1000, 0, 100),
        ("p-1", 1000, 1000, 200),
        ("sub-1", 1000, 2000, 50),
    ]


def test_a_codex_fork_counts_the_parents_calls_it_copies_once(home: Path, settings: Settings) -> None:
    """``codex fork`` (and ``/fork``) starts a new rollout with the parent's items written again
    (openai/codex ``record_initial_history``, ``InitialHistory::Forked``: "persist all rollout items
    as-is"), each line stamped as it is written (``codex-rs/rollout/src/recorder.rs`` at 05eb6e5e,
    ``JsonlWriter::write_rollout_item``), so the copies carry the fork's time, not the calls'. Each
    of the parent's calls counted once more per fork; now the copied burst only moves the running
    total, and the fork's own call counts."""
    folder = home / "codex" / "sessions" / "2026" / "11" / "20"
    folder.mkdir(parents=True)
    first, second, own = (
        codex_usage(8000, 0, 300, 100),
        codex_usage(9000, 8000, 400, 0),
        codex_usage(10000, 9000, 500, 0),
    )
    after_second = {k: first[k] + second[k] for k in first}
    after_own = {k: after_second[k] + own[k] for k in first}

    def count(total: dict[str, int], last: dict[str, int]) -> dict[str, object]:
        return {"type": "token_count", "info": {"total_token_usage": total, "last_token_usage": last}}

    parent_meta = {
        "id": "p-2",
        "timestamp": "2026-11-20T12:00:00.000Z",
        "cwd": "/w",
        "model_provider": "openai",
    }
    parent = [
        ("2026-11-20T12:00:00.000Z", "session_meta", parent_meta),
        ("2026-11-20T12:00:01.000Z", "turn_context", {"model": "gpt-5-codex"}),
        ("2026-11-20T12:00:12.000Z", "event_msg", count(first, first)),
        ("2026-11-20T12:01:30.000Z", "turn_context", {"model": "gpt-5-codex"}),
        ("2026-11-20T12:01:41.000Z", "event_msg", count(after_second, second)),
    ]
    (folder / "rollout-2026-11-20T12-00-00-p-2.jsonl").write_text(_codex_lines(parent))
    at = "2026-11-20T12:30:00.400Z"
    fork_meta = {
        "id": "f-2",
        "forked_from_id": "p-2",
        "timestamp": at,
        "cwd": "/w",
        "model_provider": "openai",
    }
    fork = [
        (at, "session_meta", fork_meta),
        ("2026-11-20T12:30:00.401Z", "session_meta", parent_meta),
        ("2026-11-20T12:30:00.402Z", "turn_context", {"model": "gpt-5-codex"}),
        ("2026-11-20T12:30:00.403Z", "event_msg", count(first, first)),
        ("2026-11-20T12:30:00.404Z", "turn_context", {"model": "gpt-5-codex"}),
        ("2026-11-20T12:30:00.406Z", "event_msg", count(after_second, second)),
        ("2026-11-20T12:32:10.000Z", "turn_context", {"model": "gpt-5-codex"}),  # the user's next prompt
        ("2026-11-20T12:32:19.000Z", "event_msg", count(after_own, own)),
    ]
    (folder / "rollout-2026-11-20T12-30-00-f-2.jsonl").write_text(_codex_lines(fork))
    conn = connect(settings.db)
    agents.ingest_all(conn, settings, Pricer())
    conn.close()
    assert [r[2:6] for r in rows(settings, codex.SOURCE)] == [
        ("p-2", 8000, 0, 300),
        ("p-2", 1000, 8000, 400),
        ("f-2", 1000, 9000, 500),
    ]


def _codex_lines(lines: list[tuple[str, str, Any]]) -> str:
    return "".join(
        json.dumps({"timestamp": ts, "type": t, "payload": payload}) + "\n" for ts, t, payload in lines
    )


def _codex_calls(settings: Settings) -> list[tuple[object, ...]]:
    conn = connect(settings.db)
    try:
        return conn.execute(
            """
            SELECT ts_ms, model, session_id, input_tokens, cache_read_tokens, cache_write_5m_tokens,
                   output_tokens
            FROM usage_events WHERE source = 'codex' AND counted = 1 ORDER BY ts_ms
            """
        ).fetchall()
    finally:
        conn.close()


def test_codex_usage_records_add_background_calls_and_count_each_response_once(
    home: Path, settings: Settings
) -> None:
    """Newer Codex writes a ``token_usage_record`` per response beside its ``token_count`` (before or
    after it), and only the record for a call it makes in the background; a fork copies the
    ``token_count`` lines and never the records (openai/codex ``codex-rs/history``)."""
    folder = home / "codex" / "sessions" / "2026" / "12" / "01"
    folder.mkdir(parents=True)
    sid, fork = "019ae000-0000-7000-8000-00000000abcd", "019ae000-0000-7000-8000-00000000f0f0"
    a, b, bg = (
        codex_usage(20000, 8000, 900, 400),
        codex_usage(30000, 20000, 1200, 600),
        codex_usage(25000, 24000, 300, 0),
    )
    b["cache_write_input_tokens"] = 2000

    def total(*usages: dict[str, int]) -> dict[str, int]:
        return {k: sum(u[k] for u in usages) for k in a}

    def record(ts: str, response: str, usage: dict[str, int]) -> tuple[str, str, Any]:
        ids = {"thread_id": sid, "turn_id": "t1", "session_id": sid, "root_turn_id": "t1"}
        return (ts, "token_usage_record", {**ids, "response_id": response, "usage": usage})

    def count(ts: str, last: dict[str, int], *done: dict[str, int]) -> tuple[str, str, Any]:
        info = {"total_token_usage": total(*done), "last_token_usage": last, "model_context_window": 258400}
        return (ts, "event_msg", {"type": "token_count", "info": info, "rate_limits": None})

    meta = {"id": sid, "timestamp": "2026-12-01T09:00:00.000Z", "cwd": "/w", "model_provider": "openai"}
    head: list[tuple[str, str, Any]] = [
        ("2026-12-01T09:00:00.000Z", "session_meta", meta),
        ("2026-12-01T09:00:01.000Z", "turn_context", {"turn_id": "t1", "model": "gpt-5.5"}),
        record("2026-12-01T09:00:10.000Z", "resp_a", a),  # the record first...
    ]
    rest: list[tuple[str, str, Any]] = [
        count("2026-12-01T09:00:10.005Z", a, a),  # ...then its token_count
        count("2026-12-01T09:01:10.000Z", b, a, b),  # a token_count first...
        record("2026-12-01T09:01:10.004Z", "resp_b", b),  # ...then its record
        record("2026-12-01T09:02:00.000Z", "classifier-response", bg),  # a background call: a record only
        ("2026-12-01T09:02:01.000Z", "event_msg", {"type": "task_complete", "turn_id": "t1"}),
        ("2026-12-01T09:03:00.000Z", "turn_context", {"turn_id": "t2", "model": "gpt-5.3-codex"}),
    ]
    rollout = folder / f"rollout-2026-12-01T09-00-00-{sid}.jsonl"
    rollout.write_text(_codex_lines(head))
    conn = connect(settings.db)
    agents.ingest_all(conn, settings, Pricer())  # stops on a record whose token_count is not written yet
    with rollout.open("a") as f:
        f.write(_codex_lines(rest))
    fork_meta = {**meta, "id": fork, "forked_from_id": sid, "timestamp": "2026-12-01T10:00:00.000Z"}
    copied = [line for line in head + rest if line[1] != "token_usage_record"]
    (folder / f"rollout-2026-12-01T10-00-00-{fork}.jsonl").write_text(
        _codex_lines([("2026-12-01T10:00:00.000Z", "session_meta", fork_meta), *copied])
    )
    agents.ingest_all(conn, settings, Pricer())
    agents.ingest_all(conn, settings, Pricer())
    conn.close()
    assert _codex_calls(settings) == [
        (to_ms(_at("2026-12-01T09:00:10.005Z")), "gpt-5.5", sid, 12000, 8000, 0, 900),
        (to_ms(_at("2026-12-01T09:01:10.000Z")), "gpt-5.5", sid, 8000, 20000, 2000, 1200),
        (to_ms(_at("2026-12-01T09:02:00.000Z")), "gpt-5.5", sid, 1000, 24000, 0, 300),
    ]


def test_a_codex_turn_the_server_rerouted_counts_as_the_model_that_answered(
    home: Path, settings: Settings
) -> None:
    """When the server answers with another model than the turn asked for (an account flagged for
    high-risk cyber activity: gpt-5.3-codex asked, gpt-5.2 served), Codex sends an ``EventMsg``
    ``ModelReroute {from_model, to_model, reason}`` (``codex-rs/protocol/src/protocol.rs``, tagged
    ``"type": "model_reroute"``, reason ``high_risk_cyber_activity``) once per turn, on the response's
    ``ResponseEvent::ServerModel``, so before its ``token_count`` (``codex-rs/core/src/session/mod.rs``
    ``maybe_warn_on_server_model_mismatch`` and ``server_model_warning_emitted_for_turn``). The
    rollout policy at openai/codex 851c9d5e (``codex-rs/rollout/src/policy.rs``) drops it; the later
    one with ``ThreadHistoryMode`` that the code search finds keeps it "in both history modes" (its
    commit is not pinned here: the repository could not be fetched whole). Where it is written, the
    turn's calls were priced as the model asked for; they are the served model's, and the next turn
    asks again. Where it is not, nothing changes."""
    folder = home / "codex" / "sessions" / "2026" / "12" / "02"
    folder.mkdir(parents=True)
    sid = "019ae100-0000-7000-8000-00000000c0de"
    a, b, c = (
        codex_usage(20000, 8000, 900, 400),
        codex_usage(30000, 20000, 1200, 600),
        codex_usage(9000, 0, 300, 0),
    )

    def count(ts: str, last: dict[str, int], total: dict[str, int]) -> tuple[str, str, Any]:
        info = {"total_token_usage": total, "last_token_usage": last, "model_context_window": 258400}
        return (ts, "event_msg", {"type": "token_count", "info": info, "rate_limits": None})

    def plus(*usages: dict[str, int]) -> dict[str, int]:
        return {k: sum(u[k] for u in usages) for k in a}

    meta = {"id": sid, "timestamp": "2026-12-02T09:00:00.000Z", "cwd": "/w", "model_provider": "openai"}
    reroute = {
        "type": "model_reroute",
        "from_model": "gpt-5.3-codex",
        "to_model": "gpt-5.2",
        "reason": "high_risk_cyber_activity",
    }
    lines: list[tuple[str, str, Any]] = [
        ("2026-12-02T09:00:00.000Z", "session_meta", meta),
        ("2026-12-02T09:00:01.000Z", "turn_context", {"turn_id": "t1", "model": "gpt-5.3-codex"}),
        ("2026-12-02T09:00:01.001Z", "event_msg", {"type": "task_started", "turn_id": "t1"}),
        ("2026-12-02T09:00:03.000Z", "event_msg", reroute),
        count("2026-12-02T09:00:10.000Z", a, a),
        count("2026-12-02T09:00:40.000Z", b, plus(a, b)),  # the same turn: still rerouted
        ("2026-12-02T09:00:41.000Z", "event_msg", {"type": "task_complete", "turn_id": "t1"}),
        ("2026-12-02T09:05:00.000Z", "turn_context", {"turn_id": "t2", "model": "gpt-5.3-codex"}),
        ("2026-12-02T09:05:00.001Z", "event_msg", {"type": "task_started", "turn_id": "t2"}),
        count("2026-12-02T09:05:20.000Z", c, plus(a, b, c)),  # answered by the model asked for
        ("2026-12-02T09:05:21.000Z", "event_msg", {"type": "task_complete", "turn_id": "t2"}),
    ]
    (folder / f"rollout-2026-12-02T09-00-00-{sid}.jsonl").write_text(_codex_lines(lines))
    conn = connect(settings.db)
    agents.ingest_all(conn, settings, Pricer())
    conn.close()
    assert [(row[0], row[1]) for row in _codex_calls(settings)] == [
        (to_ms(_at("2026-12-02T09:00:10.000Z")), "gpt-5.2"),
        (to_ms(_at("2026-12-02T09:00:40.000Z")), "gpt-5.2"),
        (to_ms(_at("2026-12-02T09:05:20.000Z")), "gpt-5.3-codex"),
    ]


def _thread_settings(model: str, provider: str) -> dict[str, object]:
    """An ``event_msg`` ``thread_settings_applied`` as the rollout holds it: the thread's settings
    snapshot (``ThreadSettingsSnapshot``, openai/codex ``codex-rs/protocol/src/protocol.rs``)."""
    return {
        "type": "thread_settings_applied",
        "thread_settings": {
            "model": model,
            "model_provider_id": provider,
            "approval_policy": "on-request",
            "approvals_reviewer": "user",
            "permission_profile": {"type": "workspace-write"},
            "cwd": "/w",
            "reasoning_effort": "medium",
            "collaboration_mode": {"mode": "default", "settings": {"model": model}},
        },
    }


def test_a_codex_session_switched_to_another_provider_prices_each_turn_by_the_provider_in_force(
    home: Path, settings: Settings
) -> None:
    """``session_meta.model_provider`` is written once, when the session starts; a thread whose
    provider is switched afterwards records its new settings in an ``event_msg``
    ``thread_settings_applied`` (``thread_settings.model_provider_id``), from which Codex's own
    thread index takes the provider (``codex-rs/state/src/extract.rs`` at 683d8408). Every call was
    filed under the first provider, so a local model's calls after a switch to Ollama were priced
    as OpenAI's (or its OpenAI calls as Ollama's, the other way). Each call now carries the provider
    in force when it was made; a snapshot repeating the provider (Codex writes one on each settings
    change) changes nothing, and a second read of the file adds nothing."""
    folder = home / "codex" / "sessions" / "2026" / "12" / "03"
    folder.mkdir(parents=True)
    sid = "019ae200-0000-7000-8000-0000000051a7"
    a, b, c = (
        codex_usage(20000, 8000, 900, 400),
        codex_usage(12000, 0, 700, 0),
        codex_usage(30000, 20000, 1200, 600),
    )

    def count(ts: str, last: dict[str, int], *done: dict[str, int]) -> tuple[str, str, Any]:
        total = {k: sum(u[k] for u in done) for k in a}
        info = {"total_token_usage": total, "last_token_usage": last, "model_context_window": 258400}
        return (ts, "event_msg", {"type": "token_count", "info": info, "rate_limits": None})

    meta = {"id": sid, "timestamp": "2026-12-03T09:00:00.000Z", "cwd": "/w", "model_provider": "openai"}
    lines: list[tuple[str, str, Any]] = [
        ("2026-12-03T09:00:00.000Z", "session_meta", meta),
        ("2026-12-03T09:00:00.500Z", "event_msg", _thread_settings("gpt-5.5", "openai")),
        ("2026-12-03T09:00:01.000Z", "turn_context", {"turn_id": "t1", "model": "gpt-5.5"}),
        ("2026-12-03T09:00:01.001Z", "event_msg", {"type": "task_started", "turn_id": "t1"}),
        count("2026-12-03T09:00:10.000Z", a, a),
        ("2026-12-03T09:00:11.000Z", "event_msg", {"type": "task_complete", "turn_id": "t1"}),
        ("2026-12-03T09:01:00.000Z", "event_msg", _thread_settings("gpt-oss:20b", "Ollama")),
        ("2026-12-03T09:01:05.000Z", "turn_context", {"turn_id": "t2", "model": "gpt-oss:20b"}),
        ("2026-12-03T09:01:05.001Z", "event_msg", {"type": "task_started", "turn_id": "t2"}),
        count("2026-12-03T09:01:30.000Z", b, a, b),
        ("2026-12-03T09:01:31.000Z", "event_msg", {"type": "task_complete", "turn_id": "t2"}),
    ]
    back: list[tuple[str, str, Any]] = [
        ("2026-12-03T09:02:00.000Z", "event_msg", _thread_settings("gpt-5.5", "openai")),
        ("2026-12-03T09:02:05.000Z", "turn_context", {"turn_id": "t3", "model": "gpt-5.5"}),
        ("2026-12-03T09:02:05.001Z", "event_msg", {"type": "task_started", "turn_id": "t3"}),
        count("2026-12-03T09:02:40.000Z", c, a, b, c),
        ("2026-12-03T09:02:41.000Z", "event_msg", {"type": "task_complete", "turn_id": "t3"}),
    ]
    rollout = folder / f"rollout-2026-12-03T09-00-00-{sid}.jsonl"
    rollout.write_text(_codex_lines(lines))
    conn = connect(settings.db)
    agents.ingest_all(conn, settings, Pricer())
    with rollout.open("a") as f:  # the switch back, read on the next scan: the provider was kept
        f.write(_codex_lines(back))
    agents.ingest_all(conn, settings, Pricer())
    agents.ingest_all(conn, settings, Pricer())
    conn.close()
    found = rows(settings, codex.SOURCE)
    assert [(r[0], r[1], r[3], r[4], r[5], r[7]) for r in found] == [
        (to_ms(_at("2026-12-03T09:00:10.000Z")), "gpt-5.5", 12000, 8000, 900, "openai"),
        (to_ms(_at("2026-12-03T09:01:30.000Z")), "gpt-oss:20b", 12000, 0, 700, "ollama"),
        (to_ms(_at("2026-12-03T09:02:40.000Z")), "gpt-5.5", 10000, 20000, 1200, "openai"),
    ]


def test_a_codex_background_call_of_a_killed_turn_counts_once_the_file_settles(
    home: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A usage record with no ``token_count`` (a call Codex makes in the background) waits for the
    end of its turn; Codex killed mid-turn writes no end, so it waited for good, the call never
    counted. Once the file has been left alone five minutes it counts, once (whether the scan that
    finds it settled reads new lines or none), and a resumed session's next turn does not count it
    again."""
    folder = home / "codex" / "sessions" / "2026" / "12" / "03"
    folder.mkdir(parents=True)
    fg, bg = codex_usage(20000, 8000, 900, 400), codex_usage(25000, 24000, 300, 0)

    def rollout(sid: str, hour: int) -> Path:
        ids = {"thread_id": sid, "turn_id": "t1", "session_id": sid, "root_turn_id": "t1"}
        info = {"total_token_usage": fg, "last_token_usage": fg}
        at = f"2026-12-03T{hour:02}:00"
        path = folder / f"rollout-2026-12-03T{hour:02}-00-00-{sid}.jsonl"
        path.write_text(
            _codex_lines(
                [
                    (f"{at}:00.000Z", "session_meta", {"id": sid, "cwd": "/w", "model_provider": "openai"}),
                    (f"{at}:01.000Z", "turn_context", {"turn_id": "t1", "model": "gpt-5.5"}),
                    (f"{at}:10.000Z", "token_usage_record", {**ids, "response_id": "r1", "usage": fg}),
                    (f"{at}:10.005Z", "event_msg", {"type": "token_count", "info": info}),
                    (f"{at}:20.000Z", "token_usage_record", {**ids, "response_id": f"bg-{sid}", "usage": bg}),
                ]
            )
        )
        return path

    killed = rollout("019ae000-0000-7000-8000-00000000dead", 9)
    conn = connect(settings.db)
    try:
        agents.ingest_all(conn, settings, Pricer())
        assert len(_codex_calls(settings)) == 1  # the turn may still be running
        monkeypatch.setattr(logfiles, "SETTLED_NS", 0)  # five minutes later, nothing more written
        rollout("019ae000-0000-7000-8000-0000000dead2", 10)  # and one no scan saw running
        settled = agents.scan(conn, codex.LOG, settings, Pricer())
        assert (settled.events_added, dict(settled.skipped)) == (3, {})
        assert agents.scan(conn, codex.LOG, settings, Pricer()).files_read == 0  # given once
        with killed.open("a") as f:  # codex resume: the next turn
            f.write(_codex_lines([("2026-12-03T11:00:00.000Z", "turn_context", {"model": "gpt-5.5"})]))
        agents.scan(conn, codex.LOG, settings, Pricer())
    finally:
        conn.close()
    assert [(r[0], r[3:]) for r in _codex_calls(settings)] == [
        (to_ms(_at(f"2026-12-03T{hour}:00:{second}Z")), tokens)
        for hour in ("09", "10")
        for second, tokens in (("10.005", (12000, 8000, 0, 900)), ("20.000", (1000, 24000, 0, 300)))
    ]


def _zstd(path: Path, text: str) -> None:
    """``text`` as Codex's compression worker leaves it: ``<rollout>.jsonl.zst``, no plain file."""
    from backports import zstd

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(zstd.compress(text.encode()))


def test_codex_archives_compressed_by_codex_are_read_once(home: Path, settings: Settings) -> None:
    """Codex compresses archived rollouts untouched for 7 days to ``.jsonl.zst`` and deletes the plain
    file (openai/codex ``codex-rs/rollout/src/compression.rs``): a ledger started after that (a new
    machine, a new install) must still find those calls, and one seen plain before counts once."""
    fixture = FIXTURES / "codex" / "sessions" / "2026" / "11" / "20"
    parent, fork = sorted(fixture.glob("*.jsonl"), key=lambda f: CODEX_FORK in f.name)
    archived = home / "codex" / "archived_sessions" / "2026" / "11" / "20"
    _zstd(archived / f"{parent.name}.zst", parent.read_text())
    conn = connect(settings.db)
    agents.ingest_all(conn, settings, Pricer())
    (home / "codex" / "sessions" / "2026" / "11" / "20").mkdir(parents=True)
    shutil.copy(fork, home / "codex" / "sessions" / "2026" / "11" / "20" / fork.name)
    _zstd(archived / f"{fork.name}.zst", fork.read_text())  # archived after it was read plain
    agents.ingest_all(conn, settings, Pricer())
    agents.ingest_all(conn, settings, Pricer())
    conn.close()
    assert rows(settings, codex.SOURCE) == as_rows(CODEX_CALLS, "codex", "openai")


@pytest.mark.anyio
async def test_a_compressed_codex_archive_that_cannot_be_read_is_named(home: Path, client: Client) -> None:
    """An archive that does not decompress (cut short, or not zstd at all) is a skipped file every
    answer names, instead of a total that looks complete."""
    archived = home / "codex" / "archived_sessions" / "2026" / "11" / "20"
    archived.mkdir(parents=True)
    (archived / "rollout-2026-11-20T09-00-00-0199a1b2.jsonl.zst").write_bytes(
        b"\x28\xb5\x2f\xfd" + b"\0" * 64
    )
    result = await client.call_tool("get_spend", {"period": "this_month", "group_by": ["agent"]})
    warnings = result.structured_content["warnings"] if result.structured_content else []
    [warning] = [w for w in warnings if "Codex" in w]
    assert warning.startswith("1 Codex log line in 1 file was skipped and is not counted (malformed 1)")


def test_a_gemini_response_recorded_without_its_model_counts_as_the_sessions_model(
    home: Path, settings: Settings
) -> None:
    """A response with no text, thought or tool call is recorded by ``recordSyntheticMessage``: its
    tokens, no model (gemini-cli ``geminiChat.ts`` at 5411f113). Its prompt was billed all the same."""
    chats = home / "gemini" / "tmp" / "app" / "chats"
    chats.mkdir(parents=True)
    sid = "0f0f0f0f-1111-4222-8333-444455556666"
    records: list[dict[str, object]] = [
        {"sessionId": sid, "projectHash": "ab" * 32, "startTime": "2026-11-20T10:00:00.000Z", "kind": "main"},
        {"id": "u-1", "timestamp": "2026-11-20T10:00:01.000Z", "type": "user", "content": [{"text": "go"}]},
        {
            "id": "g-1",
            "timestamp": "2026-11-20T10:00:05.000Z",
            "type": "gemini",
            "content": "On it.",
            "thoughts": [],
            "tokens": {"input": 9000, "output": 400, "cached": 6000, "thoughts": 0, "tool": 0, "total": 9400},
            "model": "gemini-2.5-pro",
        },
        {
            "id": "g-2",
            "timestamp": "2026-11-20T10:00:20.000Z",
            "type": "gemini",
            "content": [],
            "tokens": {"input": 12000, "output": 0, "cached": 9000, "thoughts": 0, "tool": 0, "total": 12000},
        },
    ]
    (chats / "session-2026-11-20T10-00-0f0f0f0f.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in records)
    )
    conn = connect(settings.db)
    _, gemini_scan, *_ = agents.ingest_all(conn, settings, Pricer())
    conn.close()
    assert [r[1:6] for r in rows(settings, gemini_cli.SOURCE)] == [
        ("gemini-2.5-pro", sid, 3000, 6000, 400),
        ("gemini-2.5-pro", sid, 3000, 9000, 0),
    ]
    assert not gemini_scan.skipped


def test_events_outlive_their_files(home: Path, settings: Settings) -> None:
    """Claude Code deletes old transcripts; what the ledger read stays."""
    install(home)
    claude = session_file(home / "claude", "s-old")
    write(claude, assistant("m1", "r1", "2026-11-20T08:00:00.000Z", session="s-old"))
    conn = connect(settings.db)
    from cost_mcp.sync import read_local_logs

    read_local_logs(conn, settings, Pricer(), None)
    before = conn.execute("SELECT COUNT(*), SUM(cost_nanos) FROM usage_events WHERE counted = 1").fetchone()
    shutil.rmtree(home / "codex")
    shutil.rmtree(home / "gemini")
    claude.unlink()
    read_local_logs(conn, settings, Pricer(), None)
    after = conn.execute("SELECT COUNT(*), SUM(cost_nanos) FROM usage_events WHERE counted = 1").fetchone()
    conn.close()
    assert before == after and before[0] == 1 + len(CODEX_CALLS) + len(GEMINI_CALLS)


@pytest.mark.anyio
async def test_get_spend_by_agent_gives_each_agents_exact_total(home: Path, client: Client) -> None:
    install(home)
    claude_tokens = Tokens(input=10, cache_read=2000, output=300)
    write(
        session_file(home / "claude", "cc-1"),
        assistant(
            "msg_1",
            "req_1",
            "2026-11-20T08:00:00.000Z",
            session="cc-1",
            input=10,
            cache_read=2000,
            output=300,
        ),
    )
    result = await client.call_tool(
        "get_spend", {"start": "2026-11-01", "end": "2026-11-30", "group_by": ["agent"]}
    )
    assert result.structured_content is not None
    by_agent = {r["group"]["agent"]: Decimal(str(r["cost_usd"])) for r in result.structured_content["rows"]}
    kinds = {s["source"]: s["kind"] for s in result.structured_content["sources"]}
    assert kinds["codex"] == kinds["gemini_cli"] == kinds["claude_code"] == "logs"
    claude_price = Pricer().price(claude_tokens, SONNET, "anthropic", _at("2026-11-20T08:00:00Z"))
    assert isinstance(claude_price, Price)
    assert by_agent == {
        "claude-code": from_nanos(claude_price.total_nanos),
        "codex": expected_cost(CODEX_CALLS, "openai"),
        "gemini-cli": expected_cost(GEMINI_CALLS, "google"),
    }


@pytest.mark.anyio
async def test_a_log_call_under_a_provider_that_does_not_price_its_model_is_priced_as_the_warning_says(
    home: Path, client: Client, settings: Settings
) -> None:
    """Codex through a proxy of its own (``model_provider: "my-proxy"``) logs gpt-5 calls no price is
    known for under that provider. The warning told only a reported call's fix (forget it, report it
    again), which a call read from a log cannot take; it now also names the price override file,
    and a price there with no provider prices the logged call from the next answer on."""
    folder = home / "codex" / "sessions" / "2026" / "11" / "20"
    folder.mkdir(parents=True)
    meta = {"id": "px-1", "timestamp": "2026-11-20T09:00:00.000Z", "cwd": "/w", "model_provider": "my-proxy"}
    usage = codex_usage(4000, 0, 500, 0)
    lines = [
        ("2026-11-20T09:00:00.000Z", "session_meta", meta),
        ("2026-11-20T09:00:01.000Z", "turn_context", {"model": "gpt-5"}),
        ("2026-11-20T09:00:09.000Z", "event_msg", _token_count_of(usage)),
    ]
    (folder / "rollout-2026-11-20T09-00-00-px-1.jsonl").write_text(_codex_lines(lines))
    period = {"start": "2026-11-20", "end": "2026-11-20"}

    first = await client.call_tool("get_spend", period)
    assert first.structured_content is not None
    [said] = [w for w in first.structured_content["warnings"] if w.startswith("gpt-5: 1 call(s)")]
    assert "it is priced under provider 'openai'" in said
    fix = "read from an agent's logs (which name the provider themselves), add the model's price to the"
    assert f"{fix} price override file ({settings.prices_file})" in said

    settings.prices_file.parent.mkdir(parents=True, exist_ok=True)
    settings.prices_file.write_text('[[price]]\nmodel = "gpt-5"\ninput_mtok = "2"\noutput_mtok = "10"\n')
    priced = await client.call_tool("get_spend", period)
    assert priced.structured_content is not None
    assert Decimal(str(priced.structured_content["total_usd"])) == Decimal("0.013")  # 4000 x $2 + 500 x $10
    assert not any(w.startswith("gpt-5:") for w in priced.structured_content["warnings"])


def _token_count_of(usage: dict[str, int]) -> dict[str, object]:
    return {"type": "token_count", "info": {"total_token_usage": usage, "last_token_usage": usage}}


@pytest.mark.anyio
async def test_get_spend_by_session_of_another_agent_alone_lists_its_sessions_as_recorded(
    home: Path, client: Client
) -> None:
    """A machine with Codex's logs and no Claude Code: grouped by session, the answer listed the
    Codex sessions and their cost, and in the same breath said "no calls are recorded from ... to
    ...; the ledger holds calls from ...", as if the period were empty. A period that is empty still
    says where the calls are."""
    shutil.copytree(FIXTURES / "codex", home / "codex")
    november = {"start": "2026-11-01", "end": "2026-11-30", "group_by": ["session"]}
    result = await client.call_tool("get_spend", november)
    assert result.structured_content is not None
    found = result.structured_content
    by_session: dict[str, Decimal] = {}
    for r in found["rows"]:
        by_session[r["group"]["session"]] = Decimal(str(r["cost_usd"]))
    assert by_session.keys() == {CODEX_SESSION, CODEX_FORK}
    assert (
        sum(by_session.values()) == Decimal(str(found["total_usd"])) == expected_cost(CODEX_CALLS, "openai")
    )
    assert not [w for w in found["warnings"] if "no calls are recorded" in w]
    october = await client.call_tool("get_spend", {**november, "start": "2026-10-01", "end": "2026-10-31"})
    assert october.structured_content is not None
    assert october.structured_content["rows"] == []
    assert (
        "no calls are recorded from 2026-10-01 to 2026-10-31; the ledger holds calls from 2026-11-20 to "
        "2026-11-20: ask for a period that covers them, such as 2026-11-20..2026-11-20"
    ) in october.structured_content["warnings"]


@pytest.mark.anyio
async def test_one_folder_is_one_project_across_agents(home: Path, client: Client) -> None:
    """Codex and OpenCode name the folder by its path, as Claude Code's lines do (cwd): grouped by
    project, /home/ana/shop is one row holding every agent's calls, found by its folder name."""
    install(home)
    shutil.copytree(FIXTURES / "opencode" / "storage", home / "opencode" / "storage")
    line = assistant("msg_1", "req_1", "2026-11-20T08:00:00.000Z", session="cc-1", input=10, output=300)
    write(session_file(home / "claude", "cc-1", project="-home-ana-shop"), {**line, "cwd": "/home/ana/shop"})
    result = await client.call_tool(
        "get_spend",
        {"start": "2025-11-01", "end": "2026-11-30", "group_by": ["project", "agent"], "projects": ["shop"]},
    )
    assert result.structured_content is not None
    groups = sorted((r["group"]["project"], r["group"]["agent"]) for r in result.structured_content["rows"])
    assert groups == [
        ("/home/ana/shop", "claude-code"),
        ("/home/ana/shop", "codex"),
        ("/home/ana/shop", "opencode"),
    ]


def test_blocks_of_claude_code_name_the_agents_whose_usage_is_in_the_window(
    home: Path, settings: Settings
) -> None:
    """A Codex user's `cost-mcp blocks` (and usage_blocks, Claude Code's by default) said "No usage
    in these days" and "no claude-code usage in this window" over an active Codex block, and nothing
    named the agent whose calls were there; now it does, and how to ask for them."""
    shutil.copytree(FIXTURES / "codex", home / "codex")
    conn = connect(settings.db)
    try:
        agents.ingest_all(conn, settings, Pricer())
        now = _at("2026-11-20T10:00:00Z")
        claude = usage_blocks(conn, settings, days=1, now=now)
        codex_blocks = usage_blocks(conn, settings, agent="codex", days=1, now=now)
        later = usage_blocks(conn, settings, days=1, now=_at("2026-11-25T10:00:00Z"))
    finally:
        conn.close()
    assert claude.blocks == [] and claude.active is None
    assert codex_blocks.active is not None and codex_blocks.active.requests == len(CODEX_CALLS)
    assert (
        "no claude-code usage in this window, but codex has some: ask for agent 'codex' "
        "(`cost-mcp blocks --agent codex`)"
    ) in claude.warnings
    # Days later no agent has usage in the window: nothing is named.
    assert "no claude-code usage in this window" in later.warnings


def test_cli_session_and_blocks_take_an_agent(
    home: Path, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """`cost-mcp session --agent codex` and `blocks --agent codex`, as the MCP tools take agent."""
    from cost_mcp.cli import main

    install(home)
    assert main(["session", "--agent", "codex", "--json"]) == 0
    latest = json.loads(capsys.readouterr().out)
    assert (latest["session_id"], latest["requests"]) == (CODEX_FORK, 1)
    assert main(["session", CODEX_SESSION, "--agent", "codex", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["requests"] == 2
    import time_machine

    with time_machine.travel(_at("2026-11-20T12:00:00Z"), tick=True):  # the fixtures' day
        assert main(["blocks", "--agent", "codex", "--days", "1", "--json"]) == 0
    blocks = [b for b in json.loads(capsys.readouterr().out)["blocks"] if not b["is_gap"]]
    assert sum(b["requests"] for b in blocks) == len(CODEX_CALLS)
    assert sum(Decimal(str(b["cost_usd"])) for b in blocks) == expected_cost(CODEX_CALLS, "openai")


@pytest.mark.anyio
async def test_session_usage_and_blocks_for_other_agents(
    home: Path, client: Client, settings: Settings
) -> None:
    install(home)
    result = await client.call_tool("session_usage", {"session_id": GEMINI_SESSION})
    assert result.structured_content is not None
    assert result.structured_content["requests"] == 2
    assert Decimal(str(result.structured_content["cost_usd"])) == expected_cost(GEMINI_CALLS[:2], "google")
    conn = connect(settings.db)
    try:
        latest = session_usage(conn, settings, agent="codex")
        blocks = usage_blocks(conn, settings, agent="codex", days=1, now=_at("2026-11-20T10:00:00Z"))
    finally:
        conn.close()
    assert latest.session_id == CODEX_FORK and latest.requests == 1
    assert blocks.active is not None and blocks.active.requests == len(CODEX_CALLS)
    assert blocks.active.cost_usd == expected_cost(CODEX_CALLS, "openai")
    # Codex and Gemini CLI log final output counts: the note on Claude Code's partial ones is not theirs.
    assert OUTPUT_LOWER_BOUND not in result.structured_content["warnings"]
    assert OUTPUT_LOWER_BOUND not in latest.warnings and OUTPUT_LOWER_BOUND not in blocks.warnings


def test_claude_codes_notes_go_with_its_own_sessions_only(home: Path, settings: Settings) -> None:
    """The partial-output note and the subscription note are about Claude Code's logs and billing:
    they come with its sessions and blocks, never with another agent's."""
    install(home)
    write(
        session_file(home / "claude", "cc-1"),
        assistant("m1", "r1", "2026-11-20T09:00:00.000Z", session="cc-1"),
    )
    conn = connect(settings.db)
    from cost_mcp.sync import read_local_logs

    read_local_logs(conn, settings, Pricer(), None)
    subscribed = settings.model_copy(update={"claude_code_billing": "subscription"})
    try:
        claude = session_usage(conn, subscribed, "cc-1")
        gemini = session_usage(conn, subscribed, GEMINI_SESSION)
        now = _at("2026-11-20T10:00:00Z")
        claude_blocks = usage_blocks(conn, settings, days=1, now=now)
        codex_blocks = usage_blocks(conn, settings, agent="codex", days=1, now=now)
    finally:
        conn.close()
    subscription = "Claude Code is billed by subscription here: cost_usd is the API-equivalent value."
    assert OUTPUT_LOWER_BOUND in claude.warnings and subscription in claude.warnings
    assert claude.cost_basis == "api-equivalent"
    assert OUTPUT_LOWER_BOUND not in gemini.warnings and subscription not in gemini.warnings
    assert gemini.cost_basis == "estimated"
    assert OUTPUT_LOWER_BOUND in claude_blocks.warnings and OUTPUT_LOWER_BOUND not in codex_blocks.warnings


def test_the_latest_session_is_another_agents_when_claude_code_has_none(
    home: Path, settings: Settings
) -> None:
    """A machine where only Codex is used: the session command (no id) gives Codex's latest session
    and says whose it is; with no usage at all, the error says where to look, for CLI and tool alike."""
    conn = connect(settings.db)
    try:
        with pytest.raises(NotFoundError) as nothing:
            session_usage(conn, settings, cwd=str(home))
        install(home)
        agents.ingest_all(conn, settings, Pricer())
        latest = session_usage(conn, settings, cwd=str(home))
        with pytest.raises(NotFoundError) as no_claude:
            session_usage(conn, settings, agent="claude-code")
    finally:
        conn.close()
    message = str(nothing.value)
    assert "`cost-mcp doctor`" in message and "ingest_claude_code_logs" not in message
    assert message.startswith("no coding-agent (Claude Code, Codex, Gemini CLI...) usage has been recorded")
    assert str(no_claude.value).startswith("no claude-code usage has been recorded yet")
    # Gemini's legacy session has the latest call of all (Nov 21).
    assert latest.session_id == GEMINI_LEGACY and latest.requests == 2
    assert latest.warnings[0] == (
        "no Claude Code usage is recorded: this is the most recent session of gemini-cli; "
        "give a session id for another"
    )


def _opencode_db(path: Path, lines: list[str]) -> None:
    import sqlite3

    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")  # as OpenCode opens it: new rows land in the -wal file
    conn.execute(
        "CREATE TABLE message (id TEXT PRIMARY KEY, session_id TEXT NOT NULL, time_created INTEGER, "
        "data TEXT)"
    )
    for text in lines:
        m = json.loads(text)
        conn.execute(
            "INSERT INTO message VALUES (?, ?, ?, ?)", (m["id"], m["sessionID"], m["time"]["created"], text)
        )
    conn.commit()
    conn.close()


def test_opencode_database_and_legacy_files_count_each_message_once(home: Path, settings: Settings) -> None:
    from cost_mcp.sources.agents import opencode

    shutil.copytree(FIXTURES / "opencode" / "storage", home / "opencode" / "storage")
    lines = (FIXTURES / "opencode" / "messages.jsonl").read_text().splitlines()
    _opencode_db(home / "opencode" / "opencode.db", lines[:2])
    conn = connect(settings.db)
    first = agents.scan(conn, opencode.LOG, settings, Pricer())
    # A new row: the database (its WAL) changed, so it is read again; old rows add nothing.
    import sqlite3

    db = sqlite3.connect(home / "opencode" / "opencode.db")
    for text in lines[2:]:
        m = json.loads(text)
        db.execute(
            "INSERT INTO message VALUES (?, ?, ?, ?)", (m["id"], m["sessionID"], m["time"]["created"], text)
        )
    db.commit()
    second = agents.scan(conn, opencode.LOG, settings, Pricer())
    third = agents.scan(conn, opencode.LOG, settings, Pricer())
    db.close()
    conn.close()
    assert (first.events_added, second.events_added, third.files_read) == (2, 1, 0)
    got = rows(settings, opencode.SOURCE)
    assert [r[1:6] for r in got] == [
        # Anthropic: input is already uncached; the cache write is a 5-minute write (checked below).
        ("claude-sonnet-4-5", "ses_5a1b2c3d4e", 12, 18000, 450),
        # Google reports thoughts apart from the answer: both are billed as output.
        ("gemini-2.5-pro", "ses_5a1b2c3d4e", 3000, 1000, 350),
        # OpenAI's output already holds its reasoning (total = input + cache + output says so).
        ("gpt-5", "ses_77", 2000, 8000, 600),
    ]
    assert [r[6:] for r in got] == [("opencode", "anthropic"), ("opencode", "google"), ("opencode", "openai")]
    conn = connect(settings.db)
    writes = conn.execute(
        "SELECT cache_write_5m_tokens FROM usage_events WHERE source = 'opencode'"
    ).fetchall()
    conn.close()
    assert sorted(w for (w,) in writes) == [0, 0, 1500]


@pytest.mark.parametrize("mode", ["auto", "calculate"])
def test_opencodes_own_cost_counts_in_the_auto_mode(
    home: Path, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenCode's logged ``cost`` is the call's reported cost, as Claude Code's ``costUSD``: ``auto``
    counts it, ``calculate`` prices the tokens. A cost of 0 (a model OpenCode has no rates for) or one
    that is not an amount is no reported cost: priced by us, or unpriced, never $0."""
    from cost_mcp.analytics.spend import get_spend
    from cost_mcp.config import load_settings
    from cost_mcp.periods import days_period
    from cost_mcp.sources.agents import opencode

    monkeypatch.setenv("COST_MCP_COST_MODE", mode)
    settings = load_settings()
    lines = (FIXTURES / "opencode" / "messages.jsonl").read_text().splitlines()
    free = json.loads(lines[0]) | {"id": "msg_05", "cost": 0}
    local = json.loads(lines[0]) | {
        "id": "msg_06",
        "cost": 0,
        "modelID": "qwen3-coder:30b",
        "providerID": "ollama",
    }
    absurd = json.loads(lines[0]) | {"id": "msg_07", "cost": 1e300}
    _opencode_db(home / "opencode" / "opencode.db", [*lines, *(json.dumps(m) for m in (free, local, absurd))])
    conn = connect(settings.db)
    try:
        agents.scan(conn, opencode.LOG, settings, Pricer())
        stored = dict(
            conn.execute(
                "SELECT message_id, reported_cost_nanos FROM usage_events WHERE source = 'opencode'"
            ).fetchall()
        )
        priced = dict(
            conn.execute(
                "SELECT message_id, cost_nanos FROM usage_events WHERE source = 'opencode'"
            ).fetchall()
        )
        day = datetime.fromtimestamp(1763715600, UTC).date()
        result = get_spend(
            conn, settings, days_period(day, day, tz=settings.tz), ["agent"], take_alerts=False
        )
    finally:
        conn.close()
    # 0.0123 and 0.006 USD read from the numbers' own text: exact nano-USD, no float on the way.
    # msg_03's reasoning is inside its output, which OpenCode's cost counts twice: not taken.
    assert stored == {
        "msg_01": 12_300_000,
        "msg_02": 6_000_000,
        "msg_03": None,
        "msg_05": None,
        "msg_06": None,
        "msg_07": None,
    }
    assert priced["msg_06"] is None and all(priced[m] for m in stored if m != "msg_06")
    counted = {m: (stored[m] if mode == "auto" and stored[m] is not None else priced[m]) for m in stored}
    [row] = result.rows
    assert row.group == {"agent": "opencode"}
    assert row.cost_usd == sum(from_nanos(n) for n in counted.values() if n is not None)
    assert row.unpriced_requests == 1


def test_an_opencode_message_of_several_steps_counts_every_steps_tokens(
    home: Path, settings: Settings
) -> None:
    """OpenCode adds each step's cost to its message but keeps only the last step's ``tokens``
    (``processor.ts``, ``step-finish``); each step's tokens are in its ``step-finish`` part. A
    message logged at $0 (a subscription login) is priced by its tokens: all of its steps'."""
    import sqlite3

    from cost_mcp.sources.agents import opencode

    def tokens(inp: int, out: int, read: int, write: int) -> dict[str, object]:
        return {"input": inp, "output": out, "reasoning": 0, "cache": {"read": read, "write": write}}

    first, last = tokens(5000, 300, 0, 20000), tokens(200, 800, 20000, 500)
    message = {
        "id": "msg_steps",
        "sessionID": "ses_steps",
        "role": "assistant",
        "time": {"created": 1763715600000, "completed": 1763715660000},
        "modelID": "claude-sonnet-4-5",
        "providerID": "anthropic",
        "path": {"cwd": "/w", "root": "/w"},
        "cost": 0,
        "tokens": last,
    }
    _opencode_db(home / "opencode" / "opencode.db", [json.dumps(message)])
    db = sqlite3.connect(home / "opencode" / "opencode.db")
    db.execute(
        "CREATE TABLE part (id TEXT PRIMARY KEY, message_id TEXT NOT NULL, session_id TEXT NOT NULL, "
        "time_created INTEGER, data TEXT)"
    )
    parts: list[dict[str, Any]] = [
        {"id": "prt_1", "type": "step-start", "snapshot": "a"},
        {
            "id": "prt_2",
            "type": "step-finish",
            "reason": "tool-calls",
            "snapshot": "b",
            "tokens": first,
            "cost": 0,
        },
        {"id": "prt_3", "type": "text", "text": "a step-finish of text is no step"},
        {"id": "prt_4", "type": "step-finish", "reason": "stop", "snapshot": "c", "tokens": last, "cost": 0},
    ]
    for part in parts:
        data = {**part, "messageID": "msg_steps", "sessionID": "ses_steps"}
        db.execute(
            "INSERT INTO part VALUES (?, ?, ?, ?, ?)",
            (part["id"], "msg_steps", "ses_steps", 0, json.dumps(data)),
        )
    db.commit()
    db.close()
    conn = connect(settings.db)
    agents.scan(conn, opencode.LOG, settings, Pricer())
    stored = conn.execute(
        """
        SELECT input_tokens, cache_read_tokens, cache_write_5m_tokens, output_tokens, cost_nanos
        FROM usage_events WHERE source = 'opencode'
        """
    ).fetchall()
    conn.close()
    summed = Tokens(input=5200, cache_read=20000, cache_write_5m=20500, output=1100)
    price = Pricer().price(summed, "claude-sonnet-4-5", "anthropic", datetime.fromtimestamp(1763715600, UTC))
    assert isinstance(price, Price)
    assert stored == [(5200, 20000, 20500, 1100, price.total_nanos)]


def test_opencode_steps_are_read_again_only_for_messages_updated_since_the_last_read(
    home: Path, settings: Settings
) -> None:
    """The part table holds every tool output: after the first read, only the parts of messages
    updated since (``message.time_updated``, as OpenCode's schema keeps it) are read again, and the
    summed copy of an older message stays as stored."""
    import sqlite3

    from cost_mcp.sources.agents import opencode

    path = home / "opencode" / "opencode.db"
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute(
        "CREATE TABLE message (id TEXT PRIMARY KEY, session_id TEXT NOT NULL, time_created INTEGER, "
        "time_updated INTEGER, data TEXT)"
    )
    db.execute(
        "CREATE TABLE part (id TEXT PRIMARY KEY, message_id TEXT NOT NULL, session_id TEXT NOT NULL, "
        "time_created INTEGER, time_updated INTEGER, data TEXT)"
    )

    def add(message_id: str, at_ms: int, steps: list[tuple[int, int]]) -> None:
        step_tokens = [
            {"input": i, "output": o, "reasoning": 0, "cache": {"read": 0, "write": 0}} for i, o in steps
        ]
        message = {
            "id": message_id,
            "sessionID": "ses_1",
            "role": "assistant",
            "time": {"created": at_ms},
            "modelID": "gpt-5",
            "providerID": "openai",
            "cost": 0,
            "tokens": step_tokens[-1],
        }
        db.execute(
            "INSERT INTO message VALUES (?, 'ses_1', ?, ?, ?)",
            (message_id, at_ms, at_ms, json.dumps(message)),
        )
        for n, tokens in enumerate(step_tokens):
            part = {"type": "step-finish", "reason": "tool-calls", "tokens": tokens, "cost": 0}
            db.execute(
                "INSERT INTO part VALUES (?, ?, 'ses_1', ?, ?, ?)",
                (f"prt_{message_id}_{n}", message_id, at_ms, at_ms, json.dumps(part)),
            )
        db.commit()

    day = 1763715600000
    add("msg_old", day, [(1000, 100), (2000, 200)])
    add("msg_mid", day + 3 * 3_600_000, [(10, 1)])  # the newest at the first read
    conn = connect(settings.db)
    agents.scan(conn, opencode.LOG, settings, Pricer())
    # A step of the old message changed without the message being updated: not read again.
    db.execute(
        "UPDATE part SET data = replace(data, '\"input\": 1000', '\"input\": 900000') "
        "WHERE id = 'prt_msg_old_0'"
    )
    add("msg_new", day + 5 * 3_600_000, [(3000, 300), (4000, 400), (500, 50)])
    agents.scan(conn, opencode.LOG, settings, Pricer())
    stored = conn.execute(
        "SELECT message_id, input_tokens, output_tokens FROM usage_events "
        "WHERE source = 'opencode' ORDER BY ts_ms"
    ).fetchall()
    conn.close()
    db.close()
    assert stored == [("msg_old", 3000, 300), ("msg_mid", 10, 1), ("msg_new", 7500, 750)]


def test_a_legacy_opencode_message_of_several_steps_counts_every_steps_tokens(
    home: Path, settings: Settings
) -> None:
    """OpenCode's older JSON storage: a message file keeps only its last step's tokens, each step's
    are in a ``storage/part/<message>/<part>.json`` file of type ``step-finish``. They are summed
    when the message's file changes (OpenCode rewrites it at each step), not at every scan."""
    from cost_mcp.sources.agents import opencode

    storage = home / "opencode" / "storage"
    message_file = storage / "message" / "ses_legacy" / "msg_legacy.json"
    parts = storage / "part" / "msg_legacy"
    message_file.parent.mkdir(parents=True)
    parts.mkdir(parents=True)

    def tokens(inp: int, out: int, read: int, write: int) -> dict[str, object]:
        return {"input": inp, "output": out, "reasoning": 0, "cache": {"read": read, "write": write}}

    def write_message(last: dict[str, object], at_ns: int) -> None:
        message = {
            "id": "msg_legacy",
            "sessionID": "ses_legacy",
            "role": "assistant",
            "time": {"created": 1763715600000},
            "modelID": "claude-sonnet-4-5",
            "providerID": "anthropic",
            "path": {"cwd": "/w", "root": "/w"},
            "cost": 0,
            "tokens": last,
        }
        message_file.write_text(json.dumps(message))
        os.utime(message_file, ns=(at_ns, at_ns))

    def write_part(part_id: str, part: dict[str, object]) -> None:
        data = {"id": part_id, **part, "messageID": "msg_legacy", "sessionID": "ses_legacy"}
        (parts / f"{part_id}.json").write_text(json.dumps(data))

    first, second, third = (
        tokens(5000, 300, 0, 20000),
        tokens(200, 800, 20000, 500),
        tokens(100, 50, 20500, 0),
    )
    write_part("prt_1", {"type": "step-start", "snapshot": "a"})
    write_part("prt_2", {"type": "step-finish", "reason": "tool-calls", "snapshot": "b", "tokens": first})
    write_part("prt_3", {"type": "text", "text": "a step-finish of text is no step"})
    write_part("prt_4", {"type": "tool", "state": {"output": "step-finish " * 20_000}})
    write_part("prt_5", {"type": "step-finish", "reason": "stop", "snapshot": "c", "tokens": second})
    write_message(second, 1_763_715_660_000_000_000)

    def stored() -> list[tuple[int, ...]]:
        conn = connect(settings.db)
        try:
            agents.scan(conn, opencode.LOG, settings, Pricer())
            found: list[tuple[int, ...]] = conn.execute(
                """
                SELECT input_tokens, cache_read_tokens, cache_write_5m_tokens, output_tokens
                FROM usage_events WHERE source = 'opencode'
                """
            ).fetchall()
        finally:
            conn.close()
        return found

    assert stored() == [(5200, 20000, 20500, 1100)]
    # A part file changed, its message file not: not read again (the scan stats the message only).
    write_part("prt_2", {"type": "step-finish", "reason": "tool-calls", "tokens": tokens(900000, 0, 0, 0)})
    assert stored() == [(5200, 20000, 20500, 1100)]
    # OpenCode's next step: its part, then the message rewritten with that step's tokens.
    write_part("prt_2", {"type": "step-finish", "reason": "tool-calls", "snapshot": "b", "tokens": first})
    write_part("prt_6", {"type": "step-finish", "reason": "stop", "snapshot": "d", "tokens": third})
    write_message(third, 1_763_715_720_000_000_000)
    assert stored() == [(5300, 40500, 20500, 1150)]


def test_a_database_that_is_not_opencodes_is_counted_and_skipped(home: Path, settings: Settings) -> None:
    from cost_mcp.sources.agents import opencode

    (home / "opencode").mkdir()
    (home / "opencode" / "opencode.db").write_bytes(b"not a database at all" * 100)
    conn = connect(settings.db)
    scan = agents.scan(conn, opencode.LOG, settings, Pricer())
    conn.close()
    assert dict(scan.skipped) == {"malformed": 1} and scan.events_added == 0


def test_an_opencode_database_locked_by_its_writer_is_read_by_the_next_scan(
    home: Path, settings: Settings
) -> None:
    """OpenCode holding its database locked (a rollback-journal write) while a scan comes: the scan
    says so as an error and keeps the database unread, so once the lock is gone the next scan reads
    the message written before it, with no bad line counted. Saved as read, the message would wait
    for OpenCode's next write, and the answers meanwhile would lack it without a word."""
    import sqlite3

    from cost_mcp.sources.agents import opencode

    lines = (FIXTURES / "opencode" / "messages.jsonl").read_text().splitlines()
    path = home / "opencode" / "opencode.db"
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = DELETE")  # readers wait on a writer's lock, unlike WAL
    db.execute("CREATE TABLE message (id TEXT PRIMARY KEY, session_id TEXT NOT NULL, data TEXT)")
    first, second = (json.loads(text) for text in lines[:2])
    db.execute("INSERT INTO message VALUES (?, ?, ?)", (first["id"], first["sessionID"], lines[0]))
    conn = connect(settings.db)
    assert agents.scan(conn, opencode.LOG, settings, Pricer()).events_added == 1
    db.execute("INSERT INTO message VALUES (?, ?, ?)", (second["id"], second["sessionID"], lines[1]))
    db.execute("BEGIN EXCLUSIVE")  # OpenCode's next write under way
    db.execute("UPDATE message SET session_id = session_id WHERE id = 'none'")
    locked = agents.scan(conn, opencode.LOG, settings, Pricer())
    db.execute("ROLLBACK")  # the lock goes, the file stays as it was during the locked scan
    db.close()
    after = agents.scan(conn, opencode.LOG, settings, Pricer())
    conn.close()
    assert (locked.events_added, dict(locked.skipped)) == (0, {})
    assert [e.split(": ", 1) for e in locked.errors] == [
        [str(path), "locked by another process (OpenCode writing); read again next time"]
    ]
    assert (after.events_added, dict(after.skipped), after.errors) == (1, {}, [])
    assert [r[1] for r in rows(settings, opencode.SOURCE)] == ["claude-sonnet-4-5", "gemini-2.5-pro"]


def test_an_empty_opencode_database_is_no_skipped_line(home: Path, settings: Settings) -> None:
    """The QA case: an ``opencode-*.db`` of 0 bytes (or with no table yet) beside OpenCode's
    database. It holds no message, so no answer may say a line of it was skipped (before: "1
    OpenCode log line(s) ... skipped (malformed 1)" in every answer); a database of another schema
    still is."""
    import sqlite3

    from cost_mcp.sources.agents import opencode

    folder = home / "opencode"
    _opencode_db(
        folder / "opencode.db", (FIXTURES / "opencode" / "messages.jsonl").read_text().splitlines()[:1]
    )
    (folder / "opencode-empty.db").write_bytes(b"")
    sqlite3.connect(folder / "opencode-new.db").execute("PRAGMA user_version = 1").connection.close()
    other = sqlite3.connect(folder / "opencode-other.db")
    other.execute("CREATE TABLE notes (id TEXT)")
    other.close()
    conn = connect(settings.db)
    scan = agents.scan(conn, opencode.LOG, settings, Pricer())
    conn.close()
    assert (scan.files_read, scan.events_added, dict(scan.skipped), scan.errors) == (
        4,
        1,
        {"malformed": 1},
        [],
    )
    assert {path: reasons for path, (_, reasons) in _skipped_files(settings).items()} == {
        str(folder / "opencode-other.db"): {"malformed": 1}
    }


def test_amp_thread_rewritten_as_it_grows_counts_each_message_once(home: Path, settings: Settings) -> None:
    from cost_mcp.sources.agents import amp

    shutil.copytree(FIXTURES / "amp", home / "amp")
    thread = next((home / "amp" / "threads").glob("T-*.json"))
    conn = connect(settings.db)
    first = agents.scan(conn, amp.LOG, settings, Pricer())
    # Amp rewrites the whole thread file with each message: old messages must not count again.
    data = json.loads(thread.read_text())
    data["messages"].append(
        {
            "role": "assistant",
            "messageId": 5,
            "usage": {
                "model": "claude-sonnet-4-5-20250929",
                "timestamp": "2025-11-21T10:01:00.000Z",
                "inputTokens": 3,
                "outputTokens": 40,
                "cacheCreationInputTokens": 0,
                "cacheReadInputTokens": 19500,
            },
        }
    )
    thread.write_text(json.dumps(data))
    second = agents.scan(conn, amp.LOG, settings, Pricer())
    conn.close()
    assert (first.events_added, second.events_added) == (2, 1)
    assert dict(first.skipped) == {"invalid_fields": 1}  # the message with no timestamp
    got = rows(settings, amp.SOURCE)
    assert [(r[3], r[4], r[5], r[7]) for r in got] == [
        (6, 15000, 310, "anthropic"),
        (4, 19200, 95, "anthropic"),
        (3, 19500, 40, "anthropic"),
    ]
    conn = connect(settings.db)
    writes = [
        w
        for (w,) in conn.execute(
            "SELECT cache_write_5m_tokens FROM usage_events WHERE source = 'amp' ORDER BY ts_ms"
        )
    ]
    conn.close()
    assert writes == [4200, 350, 0]


def test_amp_legacy_usage_ledger_counts_each_call_once_with_its_cache_split(
    home: Path, settings: Settings
) -> None:
    """Older Amp threads keep usage in ``usageLedger.events`` and the cache split on the messages
    (ccusage's adapter/amp): a thread with both is read from its ledger alone, a message's cache
    tokens go to one call, an event with only a total or a bad count is skipped."""
    from cost_mcp.sources.agents import amp

    shutil.copytree(FIXTURES / "amp_legacy", home / "amp")
    thread = next((home / "amp" / "threads").glob("T-*.json"))
    conn = connect(settings.db)
    first = agents.scan(conn, amp.LOG, settings, Pricer())
    again = agents.scan(conn, amp.LOG, settings, Pricer())  # unchanged: nothing read
    data = json.loads(thread.read_text())
    data["usageLedger"]["events"].append(
        {
            "id": "b6a1c2d3-0006-4e5f-8a9b-0c1d2e3f4a5b",
            "timestamp": "2025-05-15T08:05:00.000Z",
            "model": "claude-sonnet-4-20250514",
            "tokens": {"input": 5, "output": 70, "total": 75},
        }
    )
    thread.write_text(json.dumps(data))  # Amp rewrites the thread: old events must not count again
    grown = agents.scan(conn, amp.LOG, settings, Pricer())
    got = conn.execute(
        "SELECT model, input_tokens, output_tokens, cache_write_5m_tokens, cache_read_tokens, session_id, "
        "provider FROM usage_events WHERE source = 'amp' ORDER BY ts_ms"
    ).fetchall()
    total = conn.execute("SELECT SUM(cost_nanos) FROM usage_events WHERE source = 'amp'").fetchone()[0]
    conn.close()
    assert (first.events_added, again.events_added, grown.events_added) == (3, 0, 1)
    # The event with only a total and the one with a negative count are calls left out: counted.
    assert dict(first.skipped) == dict(grown.skipped) == {"invalid_fields": 2}
    sonnet, haiku, session = "claude-sonnet-4-20250514", "claude-3-5-haiku-20241022", thread.stem
    expected = [
        (sonnet, 12, 480, 9800, 0),
        (sonnet, 8, 150, 600, 9800),
        (haiku, 900, 20, 0, 0),  # the same message's second event: its cache split is not repeated
        (sonnet, 5, 70, 0, 0),
    ]
    assert got == [(*e, session, "anthropic") for e in expected]
    stamps = ["2025-05-15T08:00:21Z", "2025-05-15T08:02:05Z", "2025-05-15T08:02:09Z", "2025-05-15T08:05:00Z"]
    calls = [
        (stamp, model, session, Tokens(input=i, output=o, cache_write_5m=w, cache_read=r))
        for stamp, (model, i, o, w, r) in zip(stamps, expected, strict=True)
    ]
    assert from_nanos(total) == expected_cost(calls, "anthropic")


COPILOT_CONVERSATION = "0b7c3d2e-5f6a-4b8c-9d0e-1f2a3b4c5d6e"
COPILOT_CALLS = [
    (
        "2026-11-25T09:46:44.250Z",
        "claude-sonnet-4.5",
        COPILOT_CONVERSATION,
        Tokens(input=500, cache_read=18000, cache_write_5m=2500, output=450),
    ),
    (
        "2026-11-25T09:46:49.250Z",
        "claude-sonnet-4.5",
        COPILOT_CONVERSATION,
        Tokens(input=3100, cache_read=20500, output=820),
    ),
    (
        "2026-11-25T10:46:43.250Z",
        "gpt-5-mini",
        COPILOT_CONVERSATION,
        Tokens(input=3000, cache_read=6000, output=1300),
    ),
]


def test_copilot_otel_export_gives_each_chat_call_once(
    home: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Copilot CLI's OTel file export (tests/fixtures/agents/copilot): chat spans are the calls; the
    turn's invoke_agent span, the inference log record and a span copied into the resumed session's
    file add nothing; a line cut off by a crash is counted and skipped."""
    from cost_mcp.sources.agents import copilot

    shutil.copytree(FIXTURES / "copilot" / "otel", home / "copilot-otel")
    conn = connect(settings.db)
    first = agents.scan(conn, copilot.LOG, settings, Pricer())
    got = [(r[1], r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows(settings, copilot.SOURCE)]
    assert (first.files_read, first.events_added, dict(first.skipped)) == (2, 3, {"truncated": 1})
    assert got == [
        (
            model,
            session,
            t.input,
            t.cache_read,
            t.output,
            "copilot-cli",
            "anthropic" if "claude" in model else "openai",
        )
        for _, model, session, t in COPILOT_CALLS
    ]
    writes = [w for (w,) in conn.execute("SELECT cache_write_5m_tokens FROM usage_events ORDER BY ts_ms")]
    assert writes == [2500, 0, 0]
    # COPILOT_OTEL_FILE_EXPORTER_PATH outside the folder: that file alone is read, and appends to it
    # are read from where the last scan stopped.
    elsewhere = home / "exports" / "live.jsonl"
    elsewhere.parent.mkdir()
    (elsewhere.parent / "unrelated.jsonl").write_text('{"attributes": {}}\n')
    line = (FIXTURES / "copilot" / "otel" / "copilot-otel-20261125-072600.jsonl").read_text().splitlines()[1]
    later = line.replace("b000000000000003", "b000000000000009").replace(
        "9c1e2f3a4b5c6d7e8f9012a3b4c5d6e7", "9c1e2f3a4b5c6d7e8f9012a3b4c5d6ff"
    )
    elsewhere.write_text(later + "\n")
    monkeypatch.setenv("COPILOT_OTEL_FILE_EXPORTER_PATH", str(elsewhere))
    from cost_mcp.config import load_settings

    live = load_settings()
    second = agents.scan(conn, copilot.LOG, live, Pricer())
    with elsewhere.open("a") as f:
        f.write(line + "\n")  # the same span as the folder's: counts once
    third = agents.scan(conn, copilot.LOG, live, Pricer())
    assert (second.files_seen, second.files_read, second.events_added) == (3, 1, 1)
    assert (third.files_read, third.lines_read, third.events_added) == (1, 1, 0)
    by_agent = dict(
        conn.execute(
            "SELECT agent, SUM(cost_nanos) FROM usage_events WHERE counted = 1 AND source = ? GROUP BY agent",
            (copilot.SOURCE,),
        ).fetchall()
    )
    conn.close()
    calls = [*COPILOT_CALLS, COPILOT_CALLS[2]]
    expected = sum(
        (expected_cost([c], "anthropic" if "claude" in c[1] else "openai") for c in calls), Decimal(0)
    )
    assert {agent: from_nanos(nanos) for agent, nanos in by_agent.items()} == {"copilot-cli": expected}


def test_a_copilot_chat_span_naming_no_model_is_counted_unpriced_never_skipped(
    home: Path, settings: Settings
) -> None:
    """A chat span in Copilot CLI's file export with token counts and no model (an exporter that
    leaves gen_ai.request.model out): it was skipped as a bad line, so its call was in no total. It
    is stored unpriced under no model, as the OTLP receiver stores one: not $0, not in the total, and
    get_spend names it "(model not reported)" with the fix."""
    from cost_mcp.analytics import spend
    from cost_mcp.sources.agents import copilot

    folder = home / "copilot-otel"
    shutil.copytree(FIXTURES / "copilot" / "otel", folder)
    export = folder / "copilot-otel-20261125-072600.jsonl"
    lines = export.read_text().splitlines()
    span = json.loads(lines[1])
    for key in ("gen_ai.request.model", "gen_ai.response.model"):
        del span["attributes"][key]
    export.write_text("\n".join([lines[0], json.dumps(span), *lines[2:]]) + "\n")
    conn = connect(settings.db)
    try:
        scan = agents.scan(conn, copilot.LOG, settings, Pricer())
        assert (scan.events_added, dict(scan.skipped)) == (3, {"truncated": 1})
        stored = conn.execute(
            "SELECT model, input_tokens, output_tokens, cost_nanos FROM usage_events "
            "WHERE source = ? AND counted = 1 ORDER BY ts_ms",
            (copilot.SOURCE,),
        ).fetchall()
        a = span["attributes"]
        fresh = a["gen_ai.usage.input_tokens"] - a.get("gen_ai.usage.cache_read.input_tokens", 0)
        assert [tuple(r) for r in stored if not r[0]] == [("", fresh, a["gen_ai.usage.output_tokens"], None)]
        p = spend.resolve(settings, "2026-11-25", None, None, None)
        result = spend.get_spend(conn, settings, p, ["model"], spend.Filters(), take_alerts=False)
    finally:
        conn.close()
    priced = [r[3] for r in stored if r[0]]
    assert result.total_usd == from_nanos(sum(int(n) for n in priced))
    [unknown] = [r for r in result.rows if not r.group["model"]]
    assert (unknown.cost_usd, unknown.requests, unknown.unpriced_requests) == (None, 1, 1)
    [warned] = [w for w in result.warnings if "no known price" in w]
    assert warned.startswith("(model not reported): 1 call(s)"), warned
    assert "named no model" in warned, warned


def test_agent_logs_share_claude_codes_file_rules(
    home: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One scanner (sources/logfiles.py): an over-long line counted once even when its end comes a
    scan later, a rewrite in place caught past the file's first bytes, an undecodable name counted."""
    from cost_mcp.sources.agents import scanner

    install(home)
    conn = connect(settings.db)
    agents.ingest_all(conn, settings, Pricer())
    monkeypatch.setattr(scanner, "MAX_LINE_BYTES", 1000)
    fork = next((home / "codex").rglob(f"*{CODEX_FORK}.jsonl"))
    with fork.open("a") as f:
        f.write('{"timestamp": "2026-11-20T09:45:00.000Z", "type": "event_msg", "payload": "' + "x" * 1500)
    first = agents.scan(conn, codex.LOG, settings, Pricer())
    assert dict(first.skipped) == {"too_long": 1} and first.events_added == 0
    turn = _token_count("2026-11-20T09:46:00.000Z")
    with fork.open("a") as f:
        f.write("y" * 1500 + '"}\n' + json.dumps(turn) + "\n")
    second = agents.scan(conn, codex.LOG, settings, Pricer())
    assert dict(second.skipped) == {} and second.events_added == 1  # the long line is not counted again
    # Rewritten in place, same inode and size, a few bytes before the offset: read again from the start.
    data = fork.read_bytes()
    at = data.rindex(b'"output_tokens": 300')
    with fork.open("r+b") as f:
        f.seek(at)
        f.write(b'"output_tokens": 301')
    assert at > 1024  # past the first bytes, which alone told a rewrite before
    third = agents.scan(conn, codex.LOG, settings, Pricer())
    assert third.files_reread == 1 and third.lines_read == data.count(b"\n")
    # A name that is not UTF-8 cannot be stored or shown: counted and left alone.
    folder = next((home / "gemini").rglob("session-*.jsonl")).parent
    (Path(os.fsdecode(os.fsencode(folder) + b"/session-\xff.jsonl"))).write_text("{}\n")
    gemini = agents.scan(conn, gemini_cli.LOG, settings, Pricer())
    conn.close()
    assert gemini.skipped["undecodable_name"] == 1


# --- Lines that cannot be read: counted per file, kept, and named in every answer -------------------

QA_SESSION = "0199f000-0000-7000-8000-000000000001"


def _codex_turn(stamp: object, last: tuple[int, int], total: tuple[int, int]) -> dict[str, object]:
    """A Codex ``token_count``: this turn's (input, output) and the session's running total."""
    return {
        "timestamp": stamp,
        "type": "event_msg",
        "payload": {
            "type": "token_count",
            "info": {
                "last_token_usage": codex_usage(last[0], 0, last[1], 0),
                "total_token_usage": codex_usage(total[0], 0, total[1], 0),
            },
        },
    }


def _codex_with_bad_lines(home: Path) -> Path:
    """Three turns of 10k in / 1k out: one line that is not JSON, and one turn whose timestamp is a
    number (Codex writes ISO 8601 strings: it cannot be placed in time, so it is skipped)."""
    path = (
        home / "codex" / "sessions" / "2026" / "11" / "20" / f"rollout-2026-11-20T10-00-00-{QA_SESSION}.jsonl"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    lines: list[object] = [
        {
            "timestamp": "2026-11-20T10:00:00.000Z",
            "type": "session_meta",
            "payload": {"id": QA_SESSION, "cwd": "/home/dev/webapp", "timestamp": "2026-11-20T10:00:00.000Z"},
        },
        {"timestamp": "2026-11-20T10:00:01.000Z", "type": "turn_context", "payload": {"model": "gpt-5"}},
        _codex_turn("2026-11-20T10:01:00.000Z", (10000, 1000), (10000, 1000)),
        "{not json",
        _codex_turn(1795_000_000_000, (10000, 1000), (20000, 2000)),
        _codex_turn("2026-11-20T10:03:00.000Z", (10000, 1000), (30000, 3000)),
    ]
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def _codex_day(home: Path, day: str, session: str) -> Path:
    """A Codex rollout in its day folder: one gpt-5 turn of 10,000 input and 1,000 output tokens."""
    folder = home / "codex" / "sessions" / "2026" / "11" / day
    folder.mkdir(parents=True)
    lines = [
        {"timestamp": f"2026-11-{day}T10:00:00.000Z", "type": "session_meta", "payload": {"id": session}},
        {"timestamp": f"2026-11-{day}T10:00:01.000Z", "type": "turn_context", "payload": {"model": "gpt-5"}},
        _codex_turn(f"2026-11-{day}T10:01:00.000Z", (10000, 1000), (10000, 1000)),
    ]
    (folder / f"rollout-2026-11-{day}T10-00-00-{session}.jsonl").write_text(
        "".join(json.dumps(line) + "\n" for line in lines)
    )
    return folder


@pytest.mark.sqlite_only  # about log folders; root without the capabilities cannot reach PostgreSQL
@pytest.mark.parametrize("source", ["codex", "claude_code"])
def test_a_log_folder_that_cannot_be_listed_is_named_in_the_answer(home: Path, source: str) -> None:
    """The QA case: a Codex day folder (or a Claude Code project folder) this user may not list.
    Its calls cannot be in the total, and the answer must say which folder and why, as for a file
    it cannot open; listed again, the folder's calls count and the error is gone. Before, the
    answer said nothing: status ok."""
    import subprocess
    import sys

    if source == "codex":
        _codex_day(home, "20", "s-read")
        hidden = _codex_day(home, "21", "s-hidden")
    else:
        read = assistant("m1", "r1", "2026-11-20T10:00:00.000Z", "s-read")
        write(session_file(home / "claude", "s-read"), read)
        hidden = write(
            session_file(home / "claude", "s-hidden", "-home-dev-other"),
            assistant("m2", "r2", "2026-11-21T10:00:00.000Z", "s-hidden"),
        ).parent
    hidden.chmod(0)
    args = ("report", "--start", "2026-11-01", "--end", "2026-11-30", "--group-by", "session", "--json")

    def report() -> Any:
        done = subprocess.run(
            [*permissions_hold(), sys.executable, "-m", "cost_mcp", *args],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    try:
        partial = report()
    finally:
        hidden.chmod(0o755)
    whole = report()
    assert [r["group"]["session"] for r in partial["rows"]] == ["s-read"]
    [state] = [s for s in partial["sources"] if s["source"] == source]
    assert (state["status"], state["last_error"]) == ("error", f"{hidden}: Permission denied")
    # Said as what it is, a log it could not read (not a key to fix, nor a sync to skip).
    assert [w for w in partial["warnings"] if "Permission denied" in w] == [
        f"PARTIAL: {source} logs: the last read could not open some files or folders ({hidden}: Permission "
        "denied); their calls are not in this answer until they can be read (where permission is denied: "
        "make them readable by the user running cost-mcp)"
    ]
    assert sorted(r["group"]["session"] for r in whole["rows"]) == ["s-hidden", "s-read"]
    assert whole["total_usd"] == 2 * partial["total_usd"]
    assert not any("Permission denied" in w for w in whole["warnings"])


# Every answer a tool gives over the logs, with arguments that reach the logs' calls (November 2026).
ANSWERING_TOOLS: list[tuple[str, dict[str, Any]]] = [
    ("get_spend", {"start": "2026-11-01", "end": "2026-11-30", "group_by": ["session"]}),
    ("model_breakdown", {"start": "2026-11-01", "end": "2026-11-30"}),
    ("spend_forecast", {}),
    ("budget_status", {}),
    ("check_budget", {"estimated_cost_usd": 1}),
    ("savings_report", {"start": "2026-11-01", "end": "2026-11-30"}),
    ("compare_periods", {"before": "2026-10", "after": "2026-11"}),
    ("show_dashboard", {"start": "2026-11-01", "end": "2026-11-30"}),
    (
        "record_usage",
        {"provider": "openai", "model": "gpt-5", "input_tokens": 1, "output_tokens": 1, "agent": "qa"},
    ),
]


@pytest.mark.anyio
@pytest.mark.sqlite_only  # about log folders; root without the capabilities cannot reach PostgreSQL
@pytest.mark.parametrize("source", ["codex", "claude_code"])
async def test_every_answer_says_once_that_a_log_folder_could_not_be_read(home: Path, source: str) -> None:
    """The QA case (F10): a Codex day folder (or a Claude Code project folder) this user may not list,
    asked of the real server over stdio. The session asked about may be the unread one, so
    session_usage and usage_blocks must say so as get_spend does; and every other answer once,
    however many spend queries it is built from (the dashboard, a forecast, a comparison). Before,
    session_usage and usage_blocks said nothing."""
    import sys

    from mcp import StdioServerParameters

    if source == "codex":
        _codex_day(home, "20", "s-read")
        hidden = _codex_day(home, "21", "s-hidden")
        agent = "codex"
    else:
        write(
            session_file(home / "claude", "s-read"),
            assistant("m1", "r1", "2026-11-20T10:00:00.000Z", "s-read"),
        )
        hidden = write(
            session_file(home / "claude", "s-hidden", "-home-dev-other"),
            assistant("m2", "r2", "2026-11-21T10:00:00.000Z", "s-hidden"),
        ).parent
        agent = "claude-code"
    error = f"{hidden}: Permission denied"
    calls = [
        *ANSWERING_TOOLS,
        ("session_usage", {"agent": agent}),
        ("session_usage", {"agent": agent, "session_id": "s-read"}),
        ("usage_blocks", {"agent": agent, "days": 31}),
    ]
    command = [*permissions_hold(), sys.executable, "-m", "cost_mcp"]
    params = StdioServerParameters(command=command[0], args=command[1:], env=dict(os.environ))
    said: list[tuple[str, list[str]]] = []
    hidden.chmod(0)
    try:
        async with Client(params) as client:
            for name, arguments in calls:
                result = await client.call_tool(name, arguments)
                assert result.structured_content is not None, (name, result.content)
                said.append((name, [w for w in result.structured_content["warnings"] if error in w]))
            summary = await client.read_resource("cost://summary")
    finally:
        hidden.chmod(0o755)
    warning = (
        f"PARTIAL: {source} logs: the last read could not open some files or folders ({error}); their "
        "calls are not in this answer until they can be read (where permission is denied: make them "
        "readable by the user running cost-mcp)"
    )
    assert said == [(name, [warning]) for name, _ in calls]
    [text] = [getattr(c, "text", "") for c in summary.contents]
    assert text.count(error) == 1


def test_display_mode_says_that_other_agents_calls_count_nothing(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The QA case: COST_MCP_COST_MODE=display and only Codex's logs. Its calls log no cost, so they
    count $0 in that mode: get_spend, session_usage and usage_blocks must say so, as they do for
    Claude Code's calls (before, the rows said $0 without a word). No output lower bound: that is
    Claude Code's logs' alone."""
    from cost_mcp.analytics.spend import get_spend, resolve
    from cost_mcp.analytics.usage import DISPLAY_MODE_ZERO
    from cost_mcp.config import load_settings

    _codex_day(home, "20", "s-codex")
    monkeypatch.setenv("COST_MCP_COST_MODE", "display")
    settings = load_settings()
    conn = connect(settings.db)
    agents.ingest_all(conn, settings, Pricer())
    result = get_spend(conn, settings, resolve(settings, None, "2026-11-01", "2026-11-30", None), ["agent"])
    session = session_usage(conn, settings, session_id="s-codex", agent="codex")
    noon = datetime(2026, 11, 20, 12, tzinfo=UTC)
    blocks = usage_blocks(conn, settings, days=2, now=noon, agent="codex")
    conn.close()
    assert [(r.group, r.cost_usd, r.requests) for r in result.rows] == [({"agent": "codex"}, Decimal(0), 1)]
    for warnings in (result.warnings, session.warnings, blocks.warnings):
        assert DISPLAY_MODE_ZERO in warnings
        assert OUTPUT_LOWER_BOUND not in warnings


def test_a_byte_order_mark_loses_no_call(home: Path, settings: Settings) -> None:
    """The QA case: an Amp thread and a Codex rollout saved with a UTF-8 BOM (a Windows editor, a
    PowerShell redirect). The thread's calls count (before: the whole document was one malformed
    line, every call lost) and the rollout's first line, its session_meta, still names the session
    (before: skipped, so its call had the file name as session and no provider)."""
    from cost_mcp.sources.agents import amp

    shutil.copytree(FIXTURES / "amp", home / "amp")
    thread = next((home / "amp" / "threads").glob("T-*.json"))
    thread.write_bytes(b"\xef\xbb\xbf" + thread.read_bytes())
    rollout = next(_codex_day(home, "20", "s-bom").glob("*.jsonl"))
    rollout.write_bytes(b"\xef\xbb\xbf" + rollout.read_bytes())
    conn = connect(settings.db)
    threads = agents.scan(conn, amp.LOG, settings, Pricer())
    rollouts = agents.scan(conn, codex.LOG, settings, Pricer())
    conn.close()
    assert (threads.events_added, dict(threads.skipped)) == (2, {"invalid_fields": 1})  # as without it
    assert (rollouts.events_added, dict(rollouts.skipped)) == (1, {})
    assert [(r[1], r[2], r[7]) for r in rows(settings, codex.SOURCE)] == [("gpt-5", "s-bom", "openai")]


def _gemini_with_bad_messages(home: Path) -> tuple[Path, Path]:
    """A JSONL chat with a message whose timestamp is an epoch number (Gemini CLI writes ISO strings),
    and a legacy whole-session document with one good and one unusable message."""
    chats = home / "gemini" / "tmp" / "9f8e7d6c" / "chats"
    chats.mkdir(parents=True)
    tokens = {"input": 1000, "output": 100, "cached": 0, "thoughts": 0, "tool": 0, "total": 1100}
    jsonl = chats / "session-2026-11-20T15-00-5f000002.jsonl"
    records = [
        {"sessionId": "g-1", "projectHash": "9f8e7d6c", "startTime": "2026-11-20T15:00:00Z"},
        {
            "id": "h-1",
            "timestamp": 1795_000_000_000,
            "type": "gemini",
            "model": "gemini-2.5-flash",
            "tokens": tokens,
        },
        {
            "id": "h-2",
            "timestamp": "2026-11-20T15:01:00Z",
            "type": "gemini",
            "model": "gemini-2.5-flash",
            "tokens": tokens,
        },
    ]
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in records))
    legacy = chats / "session-2026-11-19T08-00-bbbb2222.json"
    flash = {"type": "gemini", "model": "gemini-2.5-flash"}
    messages = [
        {"id": "l-1", "timestamp": "2026-11-19T08:00:09Z", **flash, "tokens": tokens},
        {"id": "l-2", "timestamp": "2026-11-19T08:01:00Z", **flash, "tokens": {**tokens, "output": -3}},
    ]
    legacy.write_text(json.dumps({"sessionId": "g-2", "messages": messages}))
    return jsonl, legacy


def _skipped_files(settings: Settings) -> dict[str, tuple[str, dict[str, int]]]:
    from cost_mcp.store import skipped

    conn = connect(settings.db)
    try:
        return {path: (source, reasons) for path, source, reasons in skipped.by_file(conn)}
    finally:
        conn.close()


def _notes(settings: Settings) -> list[str]:
    from cost_mcp.catchup import log_labels
    from cost_mcp.store import skipped

    conn = connect(settings.db)
    try:
        return skipped.warnings(conn, log_labels())
    finally:
        conn.close()


def test_other_agents_skipped_lines_are_kept_per_file_as_claude_codes_are(
    home: Path, settings: Settings
) -> None:
    """A bad line of Codex, Gemini CLI (lines and whole documents) or OpenCode (database rows) is
    counted by reason in the ledger, per file, once; a file read again from its start has its counts
    replaced; and answers name each agent's count as they name Claude Code's."""
    codex_file = _codex_with_bad_lines(home)
    gemini_file, legacy = _gemini_with_bad_messages(home)
    lines = (FIXTURES / "opencode" / "messages.jsonl").read_text().splitlines()
    database = home / "opencode" / "opencode.db"
    _opencode_db(database, lines[:1])
    import sqlite3

    db = sqlite3.connect(database)
    db.execute("INSERT INTO message VALUES ('msg_bad', 'ses_9', 1763715600000, '{\"role\": ')")
    db.commit()
    db.close()
    claude_file = session_file(home / "claude", "cc-1")
    write(claude_file, assistant("m1", "r1", "2026-11-20T08:00:00.000Z"))
    with claude_file.open("a") as f:
        f.write("{not json\n")
    from cost_mcp.sync import read_local_logs

    conn = connect(settings.db)
    read_local_logs(conn, settings, Pricer(), None)
    read_local_logs(conn, settings, Pricer(), None)  # nothing new: counts kept, not added again
    conn.close()
    # The two good Codex turns are there; the third call is the one the notes say is missing.
    assert [r[3:6] for r in rows(settings, codex.SOURCE)] == [(10000, 0, 1000), (10000, 0, 1000)]
    assert _skipped_files(settings) == {
        str(codex_file): ("codex", {"invalid_fields": 1, "malformed": 1}),
        str(gemini_file): ("gemini_cli", {"invalid_fields": 1}),
        str(legacy): ("gemini_cli", {"invalid_fields": 1}),
        str(database): ("opencode", {"malformed": 1}),
        str(claude_file): ("claude_code", {"malformed": 1}),
    }
    one, said = "was skipped and is not counted", "were skipped and are not counted"
    tail = "`cost-mcp doctor` lists the files"
    assert _notes(settings) == [
        f"1 Claude Code log line in 1 file {one} (malformed 1); {tail}",
        f"2 Codex log lines in 1 file {said} (invalid_fields 1, malformed 1); {tail}",
        f"2 Gemini CLI log lines in 2 files {said} (invalid_fields 2); {tail}",
        f"1 OpenCode log line in 1 file {one} (malformed 1); {tail}",
    ]
    # Appended: the new bad line adds to the file's counts. Rewritten (Gemini resumes a session
    # through a temp file and a rename, and rewrites a legacy document whole): counts replaced.
    with codex_file.open("a") as f:
        f.write("[1, 2]\n")
    text = gemini_file.read_text()
    gemini_file.unlink()
    gemini_file.write_text(text.replace('"timestamp": 1795000000000', '"timestamp": "2026-11-20T15:00:30Z"'))
    document = json.loads(legacy.read_text())
    document["messages"].append({**document["messages"][1], "id": "l-3"})
    legacy.write_text(json.dumps(document))
    conn = connect(settings.db)
    scans = agents.ingest_all(conn, settings, Pricer())
    conn.close()
    assert scans[0].events_added == 0 and scans[1].events_added == 1  # the Gemini call now placed in time
    files = _skipped_files(settings)
    assert files[str(codex_file)] == ("codex", {"invalid_fields": 1, "malformed": 2})
    assert str(gemini_file) not in files
    assert files[str(legacy)] == ("gemini_cli", {"invalid_fields": 2})


@pytest.mark.anyio
async def test_an_answer_names_the_codex_call_it_could_not_read(home: Path, client: Client) -> None:
    """The QA case: a Codex rollout whose second call has a numeric timestamp, and a line that is not
    JSON. get_spend gives the two calls it has and says two lines of Codex's logs were left out."""
    _codex_with_bad_lines(home)
    result = await client.call_tool("get_spend", {"start": "2026-11-01", "end": "2026-11-30"})
    assert result.structured_content is not None
    assert [r["requests"] for r in result.structured_content["rows"]] == [2]
    assert [w for w in result.structured_content["warnings"] if "skipped" in w] == [
        "2 Codex log lines in 1 file were skipped and are not counted (invalid_fields 1, malformed 1); "
        "`cost-mcp doctor` lists the files"
    ]


def test_doctor_lists_every_agents_folders_skips_and_read_errors(
    home: Path, settings: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A machine with only Codex: doctor shows each agent's folders (found or absent), the Codex
    lines it skipped and its last read error, and no Claude Code logs is then no problem."""
    from cost_mcp.cli import main
    from cost_mcp.store.source_state import record_scan

    shutil.rmtree(home / "claude" / "projects")
    codex_file = _codex_with_bad_lines(home)
    conn = connect(settings.db)
    agents.ingest_all(conn, settings, Pricer())
    conn.close()
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert not any("logs found" in p for p in report["problems"])
    roots = {a["agent"]: a for a in report["agent_log_roots"]}
    assert set(roots) == {a.agent for a in agents.AGENTS}
    assert roots["codex"]["folders"] == [
        {"path": str(home / "codex" / "sessions"), "found": True, "log_files": 1},
        {"path": str(home / "codex" / "archived_sessions"), "found": False, "log_files": 0},
    ]
    assert roots["gemini-cli"]["folders"] == [
        {"path": str(home / "gemini" / "tmp"), "found": False, "log_files": 0}
    ]
    assert report["skipped_log_lines"] == [
        {"path": str(codex_file), "source": "codex", "lines": {"invalid_fields": 1, "malformed": 1}}
    ]
    # A file the last read could not open is named, as a warning (the rest was read).
    conn = connect(settings.db)
    record_scan(conn, codex.SOURCE, error=f"{codex_file}: Permission denied", detail="read 0 line(s)")
    conn.close()
    monkeypatch.setenv("COLUMNS", "400")  # whole paths on one line each
    assert main(["doctor"]) == 0
    text = capsys.readouterr().out.splitlines()
    assert f"agent logs    codex {home / 'codex' / 'sessions'}: 1 log file(s)" in text
    # Folders with nothing in them are one line, not one each (--json lists them, as above).
    assert not any(line.endswith(": absent") for line in text)
    others = len([f for a in agents.AGENTS for f in roots[a.agent]["folders"] if not f["found"]])
    assert f"agent logs    none in {others} other folder(s) of " in "\n".join(text)
    assert f"skipped lines {codex_file} (codex): invalid_fields 1, malformed 1" in text
    assert (
        f"warning: codex logs: the last read could not open some files ({codex_file}: Permission denied); "
        in ("\n".join(text))
    )
    # No agent's logs at all: that is a problem, naming where they were looked for.
    shutil.rmtree(home / "codex")
    assert main(["doctor", "--json"]) == 1
    problems = json.loads(capsys.readouterr().out)["problems"]
    assert [p for p in problems if "logs found" in p] == [
        f"no coding agent's logs found: no Claude Code logs in {home / 'claude'} (set CLAUDE_CONFIG_DIR if "
        "they live elsewhere), nor any other agent's in the folders `cost-mcp doctor --json` lists under "
        "agent_log_roots"
    ]


def test_a_ledger_that_read_bad_lines_before_counts_them_once_upgraded(
    home: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files read by a version that did not keep agents' skipped lines are read once more from their
    start (m026): their bad lines are then named, and no call counts twice."""
    from cost_mcp.store import MIGRATIONS, migrations, rollup, source_state
    from tests.store.test_migrations import _blank_postgres

    codex_file = _codex_with_bad_lines(home)
    names = [n for n, _ in MIGRATIONS]
    if is_postgres(settings.db):
        _blank_postgres(str(settings.db))  # the test's database is a copy of a migrated template
    with monkeypatch.context() as before:
        before.setattr(
            migrations, "MIGRATIONS", MIGRATIONS[: names.index("m028_agent_files_read_again_for_skips")]
        )
        # That version's refresh knew only rollup_dirty (m036's second mark table came later).
        before.setattr(rollup, "MARKS", ("rollup_dirty",))
        old = connect(settings.db)
        try:
            agents.ingest_all(old, settings, Pricer())
            old.execute("DELETE FROM skipped_lines")  # what that version left: the offsets, no counts
            old.commit()
        finally:
            old.close()
    assert _skipped_files(settings) == {}
    conn = connect(settings.db)
    try:
        scans = agents.ingest_all(conn, settings, Pricer())
        states = {s.source: s.detail for s in source_state.all_states(conn)}
    finally:
        conn.close()
    assert scans[0].lines_read == 6 and scans[0].events_added == 0
    # The scan's own note (sources[].last_refresh) says what it skipped too.
    assert (
        states["codex"]
        == "read 6 line(s) from 1 file(s): 0 new call(s); 2 line(s) skipped (invalid_fields 1, malformed 1)"
    )
    assert _skipped_files(settings) == {str(codex_file): ("codex", {"invalid_fields": 1, "malformed": 1})}
    assert [r[3:6] for r in rows(settings, codex.SOURCE)] == [(10000, 0, 1000), (10000, 0, 1000)]


def _stored(settings: Settings, source: str) -> list[tuple[object, ...]]:
    conn = connect(settings.db)
    try:
        return conn.execute(
            "SELECT model, session_id, project, input_tokens FROM usage_events WHERE source = ? "
            "ORDER BY ts_ms",
            (source,),
        ).fetchall()
    finally:
        conn.close()


def test_a_nul_character_in_any_agents_log_is_stored_as_a_replacement_character(
    home: Path, settings: Settings
) -> None:
    """A NUL (JSON's \\u0000) in a session id, model or folder: on PostgreSQL, which cannot store one
    in text, the whole ingest failed ("the ledger ... cannot be used"), every other call with it.
    One agent per format: lines (Codex), a whole document (Amp), a database (OpenCode)."""
    from cost_mcp.sources.agents import amp, opencode

    path = _codex_with_bad_lines(home)
    text = path.read_text().replace(QA_SESSION, "odd\\u0000id").replace('"gpt-5"', '"gpt-5\\u0000x"')
    path.write_text(text.replace("/home/dev/webapp", "/home/dev/web\\u0000app"))
    shutil.copytree(FIXTURES / "amp", home / "amp")
    thread = next((home / "amp" / "threads").glob("T-*.json"))
    thread.write_text(thread.read_text().replace("T-7f3e", "T-\\u00007f3e", 1))
    lines = (FIXTURES / "opencode" / "messages.jsonl").read_text().splitlines()[:1]
    _opencode_db(
        home / "opencode" / "opencode.db",
        [lines[0].replace("/home/ana/shop", "/home/ana/sh\\u0000op").replace("ses_5a", "ses_\\u00005a")],
    )
    conn = connect(settings.db)
    scans = [agents.scan(conn, log, settings, Pricer()) for log in (codex.LOG, amp.LOG, opencode.LOG)]
    with write_transaction(conn):
        conn.execute("DELETE FROM agent_files")  # forgotten offsets: every file is read from its start
    again = [agents.scan(conn, log, settings, Pricer()) for log in (codex.LOG, amp.LOG, opencode.LOG)]
    conn.close()
    assert [s.events_added for s in scans] == [2, 2, 1]
    # Read again from the start, each is the same call, not a second one.
    assert [s.events_added for s in again] == [0, 0, 0]
    assert (
        _stored(settings, codex.SOURCE)
        == [("gpt-5\ufffdx", "odd\ufffdid", "/home/dev/web\ufffdapp", 10000)] * 2
    )
    assert {r[1] for r in _stored(settings, amp.SOURCE)} == {"T-\ufffd7f3e2d1c-0b9a-4c8d-9e7f-6a5b4c3d2e1f"}
    assert _stored(settings, opencode.SOURCE) == [
        ("claude-sonnet-4-5", "ses_\ufffd5a1b2c3d4e", "/home/ana/sh\ufffdop", 12)
    ]


def test_a_link_out_of_an_agents_folder_is_passed_over_and_said_apart_from_lines(
    home: Path, settings: Settings
) -> None:
    """Every agent's folder is walked by the one walker: a ``.jsonl`` link to a file outside Codex's
    folder was read as a session (each of its lines a malformed one, kept per file as skipped), and
    a pipe there was passed over unsaid. Both are counted now, never opened, and the scan's note
    tells them from skipped lines."""
    from cost_mcp.store import source_state

    install(home)
    conn = connect(settings.db)
    try:
        agents.scan(conn, codex.LOG, settings, Pricer())  # the fixtures, read once
    finally:
        conn.close()
    private = home / "elsewhere" / "notes.jsonl"
    private.parent.mkdir()
    private.write_text("not a session, someone's private notes\n")
    sessions = next((home / "codex").rglob("*.jsonl")).parent
    (sessions / "rollout-linked.jsonl").symlink_to(private)
    os.mkfifo(sessions / "rollout-pipe.jsonl")
    conn = connect(settings.db)
    try:
        scan = agents.scan(conn, codex.LOG, settings, Pricer())
        detail = {s.source: s.detail for s in source_state.all_states(conn)}[codex.SOURCE]
    finally:
        conn.close()
    assert dict(scan.skipped) == {"link_outside": 1, "not_a_file": 1}
    assert rows(settings, codex.SOURCE) == as_rows(CODEX_CALLS, "codex", "openai")
    assert detail == "no new lines (2 file(s) checked); 2 file(s) passed over (link_outside 1, not_a_file 1)"


def test_an_agents_log_replaced_by_a_link_leading_out_after_the_walk_is_not_read(
    home: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Codex session swapped for a link to a file outside its folder between the walk's look and
    the read was read wherever the link led (here: someone's notes, each line a malformed one kept
    against the session). Now the file opened must be the one the walk saw; the other is named as
    an error of this scan, and the next walk passes the link over."""
    install(home)
    swapped = Path(sorted(str(p) for p in (home / "codex").rglob("*.jsonl"))[0])
    private = home / "elsewhere" / "notes.jsonl"
    private.parent.mkdir()
    private.write_text("not a session, someone's private notes\n")
    walk = logfiles.walk

    def racing_walk(*args: Any, **kwargs: Any) -> Any:
        for path, st in walk(*args, **kwargs):
            if path == str(swapped):  # seen as a regular file, then replaced before it is opened
                swapped.unlink()
                swapped.symlink_to(private)
            yield path, st

    monkeypatch.setattr(logfiles, "walk", racing_walk)
    conn = connect(settings.db)
    try:
        scan = agents.scan(conn, codex.LOG, settings, Pricer())
        monkeypatch.setattr(logfiles, "walk", walk)
        again = agents.scan(conn, codex.LOG, settings, Pricer())
    finally:
        conn.close()
    assert "malformed" not in scan.skipped  # the notes were not read as a session
    assert scan.errors == [f"{swapped}: replaced since its folder was listed (read at the next scan)"]
    assert (again.errors, dict(again.skipped)) == ([], {"link_outside": 1})


def test_legacy_opencode_parts_leading_out_of_its_folder_are_passed_over_and_counted(
    home: Path, settings: Settings
) -> None:
    """A message's ``storage/part/<message>/`` folder, or one part file in it, that is a link out
    of OpenCode's folder was read wherever it led: another ``step-finish`` file's tokens were added
    to the message's. Both are now left alone, as the walk leaves a log link leading out, and
    counted among the files passed over; the messages keep their own tokens."""
    from cost_mcp.sources.agents import opencode

    storage = home / "opencode" / "storage"
    outside = home / "elsewhere"
    outside.mkdir()
    big = {"input": 900000, "output": 0, "reasoning": 0, "cache": {"read": 0, "write": 0}}
    (outside / "prt_x.json").write_text(json.dumps({"id": "prt_x", "type": "step-finish", "tokens": big}))
    for message_id, linked_folder in (("msg_a", True), ("msg_b", False)):
        message_file = storage / "message" / "ses_l" / f"{message_id}.json"
        message_file.parent.mkdir(parents=True, exist_ok=True)
        own = {"input": 10, "output": 1, "reasoning": 0, "cache": {"read": 0, "write": 0}}
        message = {
            "id": message_id,
            "sessionID": "ses_l",
            "role": "assistant",
            "time": {"created": 1763715600000},
            "modelID": "claude-sonnet-4-5",
            "providerID": "anthropic",
            "path": {"cwd": "/w", "root": "/w"},
            "tokens": own,
        }
        message_file.write_text(json.dumps(message))
        parts = storage / "part" / message_id
        if linked_folder:
            parts.parent.mkdir(parents=True, exist_ok=True)
            parts.symlink_to(outside, target_is_directory=True)
        else:
            parts.mkdir(parents=True)
            (parts / "prt_x.json").symlink_to(outside / "prt_x.json")
    conn = connect(settings.db)
    try:
        scan = agents.scan(conn, opencode.LOG, settings, Pricer())
        stored = conn.execute(
            "SELECT message_id, input_tokens FROM usage_events WHERE source = 'opencode' ORDER BY 1"
        ).fetchall()
    finally:
        conn.close()
    assert scan.events_added == 2 and scan.errors == []
    assert [tuple(r) for r in stored] == [("msg_a", 10), ("msg_b", 10)]
    assert dict(scan.skipped) == {"link_outside": 2}


def _known_paths(settings: Settings) -> dict[str, set[str]]:
    """The files each agent keeps a read state for, by source."""
    conn = connect(settings.db)
    try:
        found: dict[str, set[str]] = {}
        for path, source in conn.execute("SELECT path, source FROM agent_files").fetchall():
            found.setdefault(str(source), set()).add(str(path))
        return found
    finally:
        conn.close()


def _all_totals(settings: Settings) -> tuple[int, int]:
    conn = connect(settings.db)
    try:
        n, cost = conn.execute(
            "SELECT COUNT(*), SUM(cost_nanos) FROM usage_events WHERE counted = 1"
        ).fetchone()
        return int(n), int(cost or 0)
    finally:
        conn.close()


def test_the_read_state_of_other_agents_deleted_logs_goes_and_their_calls_stay(
    home: Path, settings: Settings
) -> None:
    """Agents delete their logs (a Codex rollout, a Gemini chat, OpenCode's database or its message
    files): each file's read state stayed for good, and every scan read all of it again. A deleted
    file's row now goes (its calls stay); one with skipped lines keeps it, so answers still say
    whose lines are missing; and a file that comes back at its path counts nothing twice."""
    from cost_mcp.sources.agents import opencode

    install(home)
    bad = _codex_with_bad_lines(home)
    shutil.copytree(FIXTURES / "opencode" / "storage", home / "opencode" / "storage")
    lines = (FIXTURES / "opencode" / "messages.jsonl").read_text().splitlines()
    database = home / "opencode" / "opencode.db"
    _opencode_db(database, lines[:2])
    conn = connect(settings.db)
    agents.ingest_all(conn, settings, Pricer())
    conn.close()
    before, known = _all_totals(settings), _known_paths(settings)
    notes = _notes(settings)
    rollout = next((home / "codex").rglob(f"*{CODEX_FORK}.jsonl"))  # no skipped line
    chat = next((home / "gemini").rglob("session-*-aaaa1111.jsonl"))  # no skipped line
    message = next(p for p in (home / "opencode" / "storage" / "message").rglob("*.json"))
    deleted = {rollout, chat, message, database, bad}
    assert all(
        str(p) in known[s] for p, s in [(rollout, "codex"), (chat, "gemini_cli"), (message, "opencode")]
    )
    kept = rollout.read_bytes()
    for path in deleted:
        path.unlink()
    conn = connect(settings.db)
    agents.ingest_all(conn, settings, Pricer())
    conn.close()
    now = _known_paths(settings)
    assert now == {
        source: {p for p in paths if p not in {str(d) for d in deleted - {bad}}}
        for source, paths in known.items()
    }
    assert str(bad) in now["codex"]  # its skipped lines are still said to be Codex's
    assert _notes(settings) == notes
    assert _all_totals(settings) == before  # the ledger keeps the calls of deleted logs

    rollout.write_bytes(kept)  # back at the same path (a backup restored): counted once
    turn = _token_count("2026-11-20T09:40:00.000Z")
    with rollout.open("a") as f:
        f.write(json.dumps(turn) + "\n")
    conn = connect(settings.db)
    again = agents.scan(conn, codex.LOG, settings, Pricer())
    assert agents.scan(conn, opencode.LOG, settings, Pricer()).events_added == 0
    conn.close()
    assert again.events_added == 1 and _all_totals(settings)[0] == before[0] + 1
    assert str(rollout) in _known_paths(settings)["codex"]


def test_another_agents_log_reached_through_a_link_too_is_read_and_named_once(
    home: Path, settings: Settings
) -> None:
    """A Codex rollout also reached through a symlink inside the Codex folder was read by both
    paths: its bad lines said "4 lines in 2 files" and doctor named both. Now it is read once, by
    its own path (one walk rule for every agent, sources/logfiles.walk)."""
    rollout = _codex_with_bad_lines(home)
    alias = home / "codex" / "sessions" / "2026" / "11" / "21" / rollout.name
    alias.parent.mkdir(parents=True)
    alias.symlink_to(rollout)
    conn = connect(settings.db)
    scan = agents.scan(conn, codex.LOG, settings, Pricer())
    conn.close()
    assert (scan.files_read, scan.events_added, sum(scan.skipped.values())) == (1, 2, 2)
    assert list(_skipped_files(settings)) == [str(rollout)]
    assert next(n for n in _notes(settings) if "Codex" in n).startswith("2 Codex log lines in 1 file")


def test_a_log_folder_that_does_not_exist_is_said_so_in_the_source_list(
    home: Path, settings: Settings
) -> None:
    """A Codex-only user's source list said Claude Code was fine, "no new lines (0 file(s)
    checked)", as if its logs had been read; a Codex folder deleted since its last read kept that
    read's note and was "not refreshed since" in every answer two days later. Both now say there
    is no folder, in one wording, and neither is an error (an agent a user does not use)."""
    import time_machine

    from cost_mcp.analytics.spend import source_statuses
    from cost_mcp.sources import claude_code

    shutil.rmtree(home / "claude")
    install(home)

    def statuses() -> dict[str, tuple[str, str | None]]:
        conn = connect(settings.db)
        try:
            claude_code.ingest(conn, settings, Pricer())
            agents.ingest_all(conn, settings, Pricer())
            listed = source_statuses(conn, settings)
        finally:
            conn.close()
        return {s.source: (s.status, s.last_refresh) for s in listed}

    first = statuses()
    claude = (
        "ok",
        f"no Claude Code folder at {home / 'claude' / 'projects'}: nothing to read "
        "(set CLAUDE_CONFIG_DIR if Claude Code's logs are elsewhere)",
    )
    assert first["claude_code"] == claude
    assert first["codex"][0] == "ok" and str(first["codex"][1]).startswith("read ")
    assert "amp" not in first  # an agent never used here is not listed at all

    shutil.rmtree(home / "codex")
    with time_machine.travel(datetime.now(UTC) + timedelta(days=3)):
        later = statuses()
    folders = ", ".join(str(p) for p in codex.LOG.roots(settings))
    assert later["codex"] == (
        "ok",
        f"no Codex folder at {folders}: nothing to read (`cost-mcp doctor` lists the folders read)",
    )
    assert later["claude_code"] == claude


def test_a_missing_log_folder_already_said_is_not_written_again_on_every_refresh(
    home: Path, settings: Settings
) -> None:
    """Every refresh wrote each vanished agent folder's "no folder" status again (the write lock
    taken on every question of every server); it is now written once, again only well before the
    status could read "not refreshed since", and it still says there is no folder."""
    import time_machine

    from cost_mcp.analytics.spend import source_statuses

    install(home)

    def refresh() -> tuple[object, ...]:
        conn = connect(settings.db)
        try:
            agents.ingest_all(conn, settings, Pricer())
            row = conn.execute(
                "SELECT last_attempt, last_success, detail FROM source_state WHERE source = 'codex'"
            ).fetchone()
            listed = {s.source: (s.status, s.last_refresh) for s in source_statuses(conn, settings)}
        finally:
            conn.close()
        return (*row, listed["codex"])

    refresh()
    shutil.rmtree(home / "codex")
    folders = ", ".join(str(p) for p in codex.LOG.roots(settings))
    said = ("ok", f"no Codex folder at {folders}: nothing to read (`cost-mcp doctor` lists the folders read)")
    noted = refresh()
    assert noted[3] == said
    assert refresh() == noted  # the same status, not written again (its times unchanged)
    with time_machine.travel(datetime.now(UTC) + timedelta(days=3)):
        later = refresh()
    assert later[3] == said  # re-noted, so never "not refreshed since"
    assert later[0] != noted[0]


def test_doctor_says_copilot_sessions_without_the_otel_export_are_not_counted(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Copilot CLI's session logs are not read (no input or cache tokens per call): a user with
    sessions and no export found no Copilot spend and no word why. Doctor now says how to turn the
    export on; an export found, or COPILOT_HOME's own otel folder holding one, ends the warning."""
    from cost_mcp.cli import main
    from cost_mcp.config import load_settings
    from cost_mcp.sources.agents import copilot

    state = home / "copilot" / "session-state"
    (state / "3f2a").mkdir(parents=True)
    (state / "3f2a" / "events.jsonl").write_text('{"type": "session.start"}\n', encoding="utf-8")
    (state / "legacy-1.jsonl").write_text('{"type": "session.start"}\n', encoding="utf-8")
    assert main(["doctor", "--json"]) == 0
    said = [w for w in json.loads(capsys.readouterr().out)["warnings"] if "Copilot" in w]
    export = home / "copilot-otel"
    assert said == [
        f"GitHub Copilot CLI: 2 session(s) in {state} but no OpenTelemetry export in {export}: their calls "
        "are not counted (Copilot's session logs give no input or cache tokens per call). Start Copilot with "
        "COPILOT_OTEL_ENABLED=true COPILOT_OTEL_EXPORTER_TYPE=file "
        f"COPILOT_OTEL_FILE_EXPORTER_PATH={export}/copilot-$(date +%s).jsonl (README, coding agents)"
    ]
    # Without COST_MCP_COPILOT_OTEL_DIR the export is looked for in COPILOT_HOME, where Copilot keeps
    # everything else: a file there is read, and the warning goes.
    monkeypatch.delenv("COST_MCP_COPILOT_OTEL_DIR")
    assert load_settings().copilot_otel_paths() == [home / "copilot" / "otel"]
    shutil.copytree(FIXTURES / "copilot" / "otel", home / "copilot" / "otel")
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert not [w for w in report["warnings"] if "Copilot" in w]
    [agent] = [a for a in report["agent_log_roots"] if a["source"] == copilot.SOURCE]
    assert agent["folders"] == [{"path": str(home / "copilot" / "otel"), "found": True, "log_files": 2}]
