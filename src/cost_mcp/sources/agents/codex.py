"""Codex CLI: rollout JSONL files under ``${CODEX_HOME:-~/.codex}/sessions`` and ``archived_sessions``.

Facts and sources are in ``docs/agent-formats.md``. Each ``event_msg`` of type ``token_count``
carries ``info.last_token_usage`` (this turn) and ``info.total_token_usage`` (the session's running
total); the model comes from the latest ``turn_context``, the provider and folder from
``session_meta``. OpenAI counts cached input inside ``input_tokens`` and reasoning inside
``output_tokens``, so the ledger gets ``input - cached`` uncached input, ``cached`` cache reads and
``output_tokens`` output (reasoning is billed as output and already in it).

Not double counted:
- a ``token_count`` repeated with an unchanged running total (Codex re-sends it, e.g. when only the
  rate limits changed) adds nothing;
- a forked or resumed session copies earlier lines verbatim into a new file: each turn's key is its
  timestamp, model and token counts, so the copy collapses onto the original (a copy is stamped
  before its file's session began, and the original's session keeps the turn);
- a sub-agent file (``session_meta.source`` names ``thread_spawn``) starts with its parent's history
  replayed under the sub-agent's creation time: token counts stamped in that second are the
  parent's and only move the running total.

``payload.rate_limits`` (``primary``: the 5-hour window, ``secondary``: the weekly one, each with
``used_percent``, ``window_minutes`` and ``resets_in_seconds`` or ``resets_at``) becomes plan-limit
readings, as Claude Code's status line gives for Claude plans.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from cost_mcp.config import Settings
from cost_mcp.pricing import Tokens
from cost_mcp.sources.agents.scanner import (
    AgentEvent,
    AgentLog,
    FileContext,
    LimitReading,
    Parsed,
    count,
    epoch_ms,
    event_key,
    file_stem,
)

AGENT = "codex"
SOURCE = "codex"
UNKNOWN_MODEL = "unknown"
_FIELDS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens", "total_tokens")


def roots(settings: Settings) -> list[Path]:
    """``sessions`` and ``archived_sessions`` of the Codex home (``CODEX_HOME`` or ``~/.codex``)."""
    home = settings.codex_home_dir()
    return [home / "sessions", home / "archived_sessions"]


def _usage(value: object) -> tuple[int, ...] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("usage is not an object")
    return tuple(count(value.get(name)) or 0 for name in _FIELDS)


_WINDOWS = {300: "five_hour", 10080: "seven_day"}


def _limits(value: object, ts_ms: int, state: dict[str, object]) -> list[AgentEvent | LimitReading]:
    """The plan windows of a ``rate_limits`` object (``primary``/``secondary``), as readings."""
    if not isinstance(value, dict):
        return []
    readings: list[AgentEvent | LimitReading] = []
    for key in ("primary", "secondary"):
        window = value.get(key)
        if not isinstance(window, dict):
            continue
        used, minutes = window.get("used_percent"), window.get("window_minutes")
        if not isinstance(used, int | float) or isinstance(used, bool):
            continue
        resets_at, resets_in = window.get("resets_at"), window.get("resets_in_seconds")
        if isinstance(resets_at, int | float):
            resets_ms: int | None = int(resets_at * 1000)
        elif isinstance(resets_in, int | float):
            # To the nearest minute: the same reset seen a second later is the same window.
            resets_ms = (ts_ms + int(resets_in * 1000) + 30_000) // 60_000 * 60_000
        else:
            resets_ms = None
        name = _WINDOWS.get(minutes, f"{minutes}_minutes") if isinstance(minutes, int) else key
        readings.append(LimitReading(name, float(used), resets_ms, str(state.get("session") or ""), ts_ms))
    return readings


def parse_line(raw: bytes, ctx: FileContext) -> Parsed:
    """Usage from one rollout line; session and model lines update the file's state."""
    try:
        line = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        return "truncated" if "truncated" in str(exc) else "malformed"
    if not isinstance(line, dict):
        return "malformed"
    kind, payload, stamp = line.get("type"), line.get("payload"), line.get("timestamp")
    if not isinstance(payload, dict):
        return None
    state = ctx.state
    if kind == "session_meta":
        # A sub-agent's file also carries its parent's session_meta: the first one is the file's.
        if "session" not in state:
            state["session"] = str(payload.get("id") or file_stem(ctx.path))
            # The folder as Claude Code's calls store it (their cwd), so one folder is one project.
            state["project"] = str(payload.get("cwd") or "")
            state["provider"] = str(payload.get("model_provider") or "openai").strip().lower()
            state["started_ms"] = epoch_ms(payload.get("timestamp")) or epoch_ms(stamp) or 0
            if "thread_spawn" in msgspec.json.encode(payload.get("source")).decode():
                state["replay_second"] = str(stamp or "")[:19]
        return None
    if kind == "turn_context":
        model = payload.get("model")
        if isinstance(model, str) and model:
            state["model"] = model
        return None
    if kind != "event_msg" or payload.get("type") != "token_count":
        return None
    ts_ms = epoch_ms(stamp)
    limits = _limits(payload.get("rate_limits"), ts_ms, state) if ts_ms is not None else []
    info = payload.get("info")
    if info is None:
        return limits or None  # a rate-limits-only update
    if not isinstance(info, dict) or ts_ms is None:
        return "invalid_fields"
    try:
        total = _usage(info.get("total_token_usage"))
        last = _usage(info.get("last_token_usage"))
    except ValueError:
        return "invalid_fields"
    previous = state.get("total")
    if total is not None:
        if isinstance(previous, list) and tuple(previous) == total:
            return limits or None  # the same running total again: no new usage
        state["total"] = list(total)
    replay = state.get("replay_second")
    if replay is not None:
        if str(stamp)[:19] == replay:
            return None  # the parent's history (and its limits), replayed into a sub-agent's file
        del state["replay_second"]
    if last is None:
        if total is None:
            return "invalid_fields"
        base = tuple(previous) if isinstance(previous, list) else (0,) * len(_FIELDS)
        last = tuple(max(t - int(b), 0) for t, b in zip(total, base, strict=True))
    inp, cached, out, reasoning, all_tokens = last
    if not (inp or cached or out or reasoning):
        return limits or None
    cached = min(cached, inp)
    model = str(state.get("model") or UNKNOWN_MODEL)
    return [
        *limits,
        AgentEvent(
            key=event_key(stamp, model, inp, cached, out, reasoning, all_tokens),
            ts_ms=ts_ms,
            provider=str(state.get("provider") or "openai"),
            model=model,
            session_id=str(state.get("session") or file_stem(ctx.path)),
            project=str(state.get("project") or ""),
            tokens=Tokens(input=inp - cached, cache_read=cached, output=out),
            # A fork copies its parent's turns, stamped before the fork itself began.
            replayed=ts_ms < int(str(state.get("started_ms") or 0)),
        ),
    ]


LOG = AgentLog(
    agent=AGENT, label="Codex", source=SOURCE, roots=roots, line_suffixes=(".jsonl",), parse_line=parse_line
)
