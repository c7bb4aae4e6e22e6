"""A large read of an agent's lines parses in a forked worker while this process writes (the
mechanism Claude Code's reader uses): the same ledger and the same scan summary as a read in turn,
on both engines, and the same after later incremental reads of the files it left."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from cost_mcp.config import Settings, load_settings
from cost_mcp.pricing import Pricer
from cost_mcp.sources.agents import codex, scanner
from cost_mcp.store.connection import connect
from tests.sources.test_claude_code_worker import CORES, single_threaded  # noqa: F401 - autouse

pytestmark = pytest.mark.skipif(
    CORES < 2 or "fork" not in multiprocessing.get_all_start_methods(), reason="needs fork and two cores"
)

MODELS = ("gpt-5-codex", "gpt-5.1-codex", "gpt-5.5")


def _line(ts: str, kind: str, payload: Any) -> str:
    return json.dumps({"timestamp": ts, "type": kind, "payload": payload}, separators=(",", ":")) + "\n"


def _usage(rng: random.Random) -> dict[str, int]:
    inp = rng.randrange(1000, 50_000)
    out = rng.randrange(10, 3000)
    return {
        "input_tokens": inp,
        "cached_input_tokens": rng.randrange(0, inp),
        "output_tokens": out,
        "reasoning_output_tokens": rng.randrange(0, out),
        "total_tokens": inp + out,
    }


def _session(
    rng: random.Random, sid: str, day: int, calls: int, parent: list[str] | None = None
) -> list[str]:
    """A rollout's lines: meta, turns with token counts (their plan windows), usage records (some
    alone: background calls), a malformed line now and then; a fork starts with ``parent``'s lines."""
    start = f"2026-11-{day:02d}T08:00:00.000Z"
    meta = {"id": sid, "timestamp": start, "cwd": f"/w/p{day % 3}", "model_provider": "openai"}
    if parent is not None:
        meta["forked_from_id"] = "parent"
    lines = [_line(start, "session_meta", meta)]
    if parent is not None:
        lines += parent  # written again at the fork, as Codex does
    total = dict.fromkeys(_usage(rng), 0)
    for n in range(calls):
        ts = f"2026-11-{day:02d}T{9 + n // 60:02d}:{n % 60:02d}:{rng.randrange(60):02d}.{n % 1000:03d}Z"
        if n % 9 == 0:
            lines.append(_line(ts, "turn_context", {"turn_id": f"t{n}", "model": rng.choice(MODELS)}))
        last = _usage(rng)
        total = {k: total[k] + last[k] for k in total}
        limits = {
            "primary": {"used_percent": float(n // 7), "window_minutes": 300, "resets_in_seconds": 9000 - n},
            "secondary": {"used_percent": float(day), "window_minutes": 10080},
        }
        info = {"total_token_usage": total, "last_token_usage": last}
        lines.append(_line(ts, "event_msg", {"type": "token_count", "info": info, "rate_limits": limits}))
        if n % 5 == 0:
            ids = {"thread_id": sid, "turn_id": f"t{n}", "session_id": sid}
            lines.append(
                _line(ts, "token_usage_record", {**ids, "response_id": f"bg-{sid}-{n}", "usage": _usage(rng)})
            )
        if n % 13 == 0:
            lines.append('{"timestamp":"' + ts + '","type":"event_msg","payload":{\n')  # cut off
        lines.append(_line(ts, "response_item", {"type": "message", "content": "x" * rng.randrange(200)}))
    return lines


def _home(root: Path, seed: int = 7) -> Path:
    """A Codex home of a few dozen sessions, with forks of some of them."""
    rng = random.Random(seed)
    sessions = root / "codex" / "sessions" / "2026" / "11"
    for s in range(24):
        day = 1 + s % 20
        lines = _session(rng, f"s-{s}", day, rng.randrange(5, 60))
        folder = sessions / f"{day:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"rollout-2026-11-{day:02d}T08-00-00-s-{s}.jsonl").write_text("".join(lines))
        if s % 6 == 1:
            fork = _session(rng, f"f-{s}", day, rng.randrange(3, 20), parent=lines[1:])
            (folder / f"rollout-2026-11-{day:02d}T10-00-00-f-{s}.jsonl").write_text("".join(fork))
    return root


Ledger = dict[str, list[tuple[Any, ...]]]


def _scan(db: str, root: Path, worker: bool) -> tuple[dict[str, Any], Ledger]:
    """One scan of the Codex home into ``db`` (the worker on or off): its summary and the ledger."""
    env = {"COST_MCP_DB": db, "CODEX_HOME": str(root / "codex"), "COST_MCP_TIMEZONE": "UTC"}
    settings = load_settings(env, env_file=root / "absent")
    conn = connect(db)
    try:
        with (
            mock.patch.object(scanner, "BESIDE_BYTES", 0 if worker else 1 << 62),
            mock.patch.object(scanner, "SHIP_EVENTS", 17),  # many batches through the pipe
            mock.patch.object(scanner, "_read_beside", wraps=scanner._read_beside) as beside,
        ):
            stats = scanner.scan(conn, codex.LOG, settings, Pricer())
        assert beside.call_count == int(worker)
        tables = {
            "usage_events": conn.execute(
                "SELECT source, message_id, request_id, counted, ts_ms, provider, model, session_id, "
                "project, agent, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, "
                "total_tokens, cost_nanos, priced_model, origin FROM usage_events ORDER BY message_id"
            ).fetchall(),
            "plan_limit_readings": conn.execute(
                'SELECT ts_ms, agent, "window", used_percent, resets_at_ms, session_id '
                "FROM plan_limit_readings ORDER BY id"
            ).fetchall(),
            "agent_files": conn.execute(
                'SELECT path, size, "offset", head, state FROM agent_files ORDER BY path'
            ).fetchall(),
            "skipped_lines": conn.execute(
                "SELECT path, reason, lines FROM skipped_lines ORDER BY path, reason"
            ).fetchall(),
            # Sorted on every column: rows of one day and model differ only by session further on.
            "usage_rollup": sorted(conn.execute("SELECT * FROM usage_rollup").fetchall(), key=repr),
        }
    finally:
        conn.close()
    # Not dataclasses.asdict: it rebuilds a Counter from its items, counting the pairs.
    summary = {f.name: getattr(stats, f.name) for f in dataclasses.fields(stats) if f.name != "seconds"}
    return summary, {name: [tuple(row) for row in rows] for name, rows in tables.items()}


def _append(root: Path) -> None:
    """More of two sessions: new calls, a line cut and run on, a last line without its newline."""
    rng = random.Random(11)
    files = sorted((root / "codex" / "sessions").rglob("*.jsonl"))
    for path in files[:2]:
        more = _session(rng, path.stem.split("-")[-1] + "-more", 25, 12)[1:]
        with path.open("a") as f:
            f.write("".join(more) + '{"timestamp":"2026-11-25T20:00:00.000Z","type":"event')


@pytest.fixture
def worker_ledger(settings: Settings) -> str:
    """The ledger the worker's reads go into: the ``home`` fixture's, on each engine in turn."""
    return str(settings.db)


def test_a_large_codex_read_parsed_beside_writes_what_a_read_in_turn_writes(
    home: Path, worker_ledger: str
) -> None:
    root = _home(home / "logs")
    alone = _scan(str(home / "alone.db"), root, worker=False)
    beside = _scan(worker_ledger, root, worker=True)
    assert beside == alone
    summary = alone[0]
    assert summary["events_added"] > 500 and summary["skipped"]["truncated"] > 10
    assert summary["files_read"] == summary["files_seen"] == 28 and summary["complete"]
    # Read on from where each left off: the lines appended since, the cut one recovered.
    _append(root)
    assert _scan(worker_ledger, root, worker=True) == _scan(str(home / "alone.db"), root, worker=False)
    assert _scan(worker_ledger, root, worker=False) == _scan(str(home / "alone.db"), root, worker=False)


def _dies_after(batches: int) -> Callable[[Any, scanner._Batch], None]:
    shipped = scanner._ship
    sent = [0]

    def ship(send: Any, batch: scanner._Batch) -> None:
        if sent[0] == batches:
            os._exit(3)  # the worker is killed mid-read: the writer has some batches, never its totals
        sent[0] += 1
        shipped(send, batch)

    return ship


@pytest.mark.parametrize("batches", [0, 5])
def test_a_worker_that_dies_leaves_the_read_to_this_process(
    home: Path, worker_ledger: str, batches: int
) -> None:
    root = _home(home / "logs")
    alone = _scan(str(home / "alone.db"), root, worker=False)
    with mock.patch.object(scanner, "_ship", _dies_after(batches)):
        beside = _scan(worker_ledger, root, worker=True)
    # Files read to their end in the batches it wrote are not read again.
    assert beside[0]["events_added"] == alone[0]["events_added"]
    assert (beside[0]["files_read"] < alone[0]["files_read"]) == (batches > 0)
    _append(root)  # and the ledger reads on as one read in turn does
    after = _scan(worker_ledger, root, worker=False)[1]
    assert after == _scan(str(home / "alone.db"), root, worker=False)[1]
    # Row for row: a file the worker was reading when it died is read again from its start (its
    # state was not stored yet), and its plan readings are stored only with that state.
    assert beside[1] == alone[1]


def _unreset_home(root: Path) -> Path:
    """Two Codex sessions whose plan windows carry no reset time and go up and down, as an account
    shared with other sessions moves them: nothing in a stored reading tells it from a later one
    saying the same, so a reading given twice is a second row."""
    rng = random.Random(5)
    folder = root / "codex" / "sessions" / "2026" / "11" / "03"
    folder.mkdir(parents=True)
    for s, calls in (("u-1", 70), ("u-2", 30)):
        start = f"2026-11-03T0{len(s)}:00:00.000Z"
        lines = [
            _line(
                start, "session_meta", {"id": s, "timestamp": start, "cwd": "/w", "model_provider": "openai"}
            )
        ]
        lines.append(_line(start, "turn_context", {"turn_id": "t0", "model": "gpt-5-codex"}))
        total = dict.fromkeys(_usage(rng), 0)
        for n in range(calls):
            ts = f"2026-11-03T{8 + 2 * int(s[-1]) + n // 60:02d}:{n % 60:02d}:00.000Z"
            last = _usage(rng)
            total = {k: total[k] + last[k] for k in total}
            limits = {
                "primary": {"used_percent": float(n // 3 % 4), "window_minutes": 300},
                "secondary": {"used_percent": float(n // 10 % 3), "window_minutes": 10080},
            }
            info = {"total_token_usage": total, "last_token_usage": last}
            lines.append(_line(ts, "event_msg", {"type": "token_count", "info": info, "rate_limits": limits}))
        (folder / f"rollout-2026-11-03T0{len(s)}-00-00-{s}.jsonl").write_text("".join(lines))
    return root


class Killed(BaseException):
    """The process reading in turn dies (as SIGKILL would), between two of its writes: nothing of
    the scan catches it (also tests/reliability/test_agent_resume.py's)."""


def killed_after(batches: int) -> Callable[[scanner._Writer], None]:
    """A :meth:`scanner._Writer.flush` that raises :class:`Killed` instead of its ``batches + 1``-th write."""
    written = scanner._Writer.flush
    done = [0]

    def flush(self: scanner._Writer) -> None:
        if done[0] == batches:
            raise Killed
        done[0] += 1
        written(self)

    return flush


@pytest.mark.parametrize("worker", [False, True], ids=["in-turn", "worker"])
def test_a_read_that_dies_mid_file_stores_each_plan_reading_once(
    home: Path, worker_ledger: str, worker: bool
) -> None:
    """A read that died after writing some batches of a file (its calls, its plan readings) and
    before that file's offset was stored is read again from the stored offset: the calls are the
    same rows again, but the readings without a reset time were stored a second time (and one the
    first read had found said already by its window's latest, stored after all). The ledger after
    the resumed read is now the ledger of a read that never died, row for row."""
    root = _unreset_home(home / "logs")
    alone = _scan(str(home / "alone.db"), root, worker=False)[1]
    assert len(alone["plan_limit_readings"]) > 20 and len(alone["usage_events"]) == 100
    with mock.patch.object(scanner, "BATCH_EVENTS", 11):  # a batch written every 11 calls in turn
        if worker:
            with mock.patch.object(scanner, "_ship", _dies_after(2)):
                resumed = _scan(worker_ledger, root, worker=True)[1]  # the rest read in turn
        else:
            with mock.patch.object(scanner._Writer, "flush", killed_after(2)), pytest.raises(Killed):
                _scan(worker_ledger, root, worker=False)
            resumed = _scan(worker_ledger, root, worker=False)[1]
    assert resumed == alone
