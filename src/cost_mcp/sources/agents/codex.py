"""Codex CLI: rollout JSONL files under ``${CODEX_HOME:-~/.codex}/sessions`` and ``archived_sessions``.

Facts and sources are in ``docs/agent-formats.md``. Each ``event_msg`` of type ``token_count``
carries ``info.last_token_usage`` (this turn) and ``info.total_token_usage`` (the session's running
total); the model comes from the latest ``turn_context``, the provider and folder from
``session_meta``. OpenAI counts cached input inside ``input_tokens`` and reasoning inside
``output_tokens``, so the ledger gets ``input - cached`` uncached input, ``cached`` cache reads and
``output_tokens`` output (reasoning is billed as output and already in it).

Newer Codex versions also write one ``token_usage_record`` line per model response (``payload``:
``thread_id``, ``turn_id``, ``session_id``, ``root_turn_id``, ``response_id``, ``usage``), next to the
``token_count`` of that response, before or after it; calls Codex makes in the background (its
local-compaction classifier) have only the record. A record and a ``token_count`` with the same
counts, in the same turn, are one call, counted once under the ``token_count``'s key (the one a fork's
copied history repeats: forks copy ``token_count`` lines, never records); a record left unpaired
when its turn ends (the next ``turn_context``, a turn's start, end or abort), or once the file has
settled with its turn still open (Codex killed mid-turn: :func:`finish`), is a call of its own,
keyed by its response id. ``cache_write_input_tokens`` (inside ``input_tokens``, as cached input is)
are cache writes.

Not double counted:
- a ``token_count`` repeated with an unchanged running total (Codex re-sends it, e.g. when only the
  rate limits changed) adds nothing;
- a fork (``session_meta.forked_from_id``) and a sub-agent spawned with its parent's context
  (``session_meta.source`` names ``thread_spawn``) start with the parent's history written again
  (``record_initial_history``, ``InitialHistory::Forked``: "persist all rollout items as-is"). The
  writer stamps each line as it writes it (``rollout/src/recorder.rs``,
  ``JsonlWriter::write_rollout_item``), so the copy is one burst of lines from the first
  ``session_meta`` on, each within :data:`_REPLAY_GAP_MS` of the one before, stamped at the fork,
  not at the calls. Token counts in that burst are the parent's and only move the running total;
  the burst ends at the first pause (the user's next prompt, the sub-agent's first model call);
- a copy of earlier lines kept verbatim in another file (their own stamps): each turn's key is its
  timestamp, model and token counts, so the copy collapses onto the original (a copy is stamped
  before its file's session began, and the original's session keeps the turn).

A line Codex was writing when it was killed ends without its newline; the next line it writes
(on ``codex resume``, which reopens the file for append) follows on the same line. The line from
the first later line start that decodes is read, and the cut part counted as ``truncated``.

A turn the server answered with another model than the one asked for (an account flagged for
high-risk cyber activity is served ``gpt-5.2``) carries an ``event_msg`` ``model_reroute``
(``from_model``, ``to_model``), written once per turn before that response's ``token_count``
(``Session::maybe_warn_on_server_model_mismatch``; persisted in rollouts by newer versions,
``rollout/src/policy.rs``): the turn's calls from there on are ``to_model``'s, until the next
turn. Their keys keep the turn's own model, so a call an earlier cost-mcp stored is not added twice.

An ``event_msg`` ``thread_settings_applied`` (``thread_settings``: the thread's ``model``,
``model_provider_id``, ``cwd``, approval and sandbox settings, ``ThreadSettingsSnapshot`` in
``codex-rs/protocol/src/protocol.rs``) is written when the thread's settings change and as a
checkpoint (a fork ends its copy with one). Codex's own thread index reads the provider from it over
``session_meta``'s (``codex-rs/state/src/extract.rs`` at 683d8408); one naming another provider than
the one in force moves the calls after it to that provider. Without one, or with one repeating the
provider, the calls are priced under ``session_meta``'s as before.

``payload.rate_limits`` (``primary``: the 5-hour window, ``secondary``: the weekly one, each with
``used_percent``, ``window_minutes`` and ``resets_in_seconds`` or ``resets_at``) becomes plan-limit
readings, as Claude Code's status line gives for Claude plans.

Codex compresses archived rollouts it has not touched for 7 days into ``.jsonl.zst`` and deletes the
plain file (``codex-rs/rollout/src/compression.rs``). Such a file is read whole, once (Python 3.14's
``compression.zstd``, or its ``backports.zstd`` before); one that does not decompress is a ``malformed``
skip, so answers say what they miss.
"""

from __future__ import annotations

import math
import operator
import sys
from pathlib import Path
from typing import Annotated

import msgspec

from cost_mcp.agent_folders import AgentFolderPaths
from cost_mcp.pricing import Tokens
from cost_mcp.sources.agents.scanner import (
    MAX_DOCUMENT_BYTES,
    AgentEvent,
    AgentLog,
    FileContext,
    LimitReading,
    Parsed,
    SkipReason,
    count,
    epoch_ms,
    event_key,
    file_stem,
)

AGENT = "codex"
SOURCE = "codex"
UNKNOWN_MODEL = "unknown"
_FIELDS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens", "total_tokens")
_WRITES = "cache_write_input_tokens"
_TURN_EDGES = frozenset({"task_started", "turn_started", "task_complete", "turn_complete", "turn_aborted"})
"""``event_msg`` kinds that start or end a turn: a usage record unpaired there had no ``token_count``."""
_TURN_STARTS = frozenset({"task_started", "turn_started"})
"""``event_msg`` kinds that start a turn: a reroute (``model_reroute``) of the turn before ends there."""
_MAX_PENDING = 64
_REPLAY_GAP_MS = 1_000
"""The longest pause between two lines of a parent's history copied into a fork or a sub-agent: the
writer puts them down back to back (milliseconds apart), while the file's own first ``token_count``
comes after a prompt and a model call on that whole history."""
COMPRESSED = ".jsonl.zst"


def roots(settings: AgentFolderPaths) -> list[Path]:
    """``sessions`` and ``archived_sessions`` of the Codex home (``CODEX_HOME`` or ``~/.codex``)."""
    home = settings.codex_home_dir()
    return [home / "sessions", home / "archived_sessions"]


_GET_FIELDS = operator.itemgetter(*_FIELDS)


def _usage(value: object) -> tuple[int, ...] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("usage is not an object")
    try:
        found = _GET_FIELDS(value)
    except KeyError:
        found = None
    # Every field a whole number >= 0, as Codex writes them (``type is int``: not a bool): the
    # common case, without a call per field; anything else is checked field by field.
    if found is not None and all(type(n) is int for n in found) and min(found) >= 0:
        return tuple(found)
    return tuple(count(value.get(name)) or 0 for name in _FIELDS)


def _writes(value: object) -> int:
    """The cache writes of a usage object (0 when Codex did not log them)."""
    return (count(value.get(_WRITES)) or 0) if isinstance(value, dict) else 0


def _call(
    state: dict[str, object], ctx: FileContext, key: str, ts_ms: int, counts: tuple[int, ...], writes: int
) -> AgentEvent:
    """One call in the ledger's disjoint kinds: OpenAI counts cached input and cache writes inside
    ``input_tokens``, and reasoning inside ``output_tokens``."""
    inp, cached, out = counts[0], counts[1], counts[2]
    cached = min(cached, inp)
    writes = min(writes, inp - cached)
    return AgentEvent(
        key=key,
        ts_ms=ts_ms,
        provider=str(state.get("provider") or "openai"),
        # The model that answered: the turn's own, unless the server rerouted the turn to another.
        model=str(state.get("served") or state.get("model") or UNKNOWN_MODEL),
        session_id=str(state.get("session") or file_stem(ctx.path)),
        project=str(state.get("project") or ""),
        tokens=Tokens(input=inp - cached - writes, cache_read=cached, cache_write_5m=writes, output=out),
        # A fork copies its parent's turns, stamped before the fork itself began.
        replayed=ts_ms < int(str(state.get("started_ms") or 0)),
    )


def _pending(state: dict[str, object], name: str) -> list[list[object]]:
    found = state.get(name)
    return found if isinstance(found, list) else []


def _flush(state: dict[str, object], ctx: FileContext) -> list[AgentEvent | LimitReading]:
    """The turn's usage records no ``token_count`` matched: calls of their own (background calls)."""
    state.pop("counted", None)
    records = _pending(state, "records")
    state.pop("records", None)
    return [_record_call(state, ctx, record) for record in records]


def _record_call(state: dict[str, object], ctx: FileContext, record: list[object]) -> AgentEvent:
    stamp, ts_ms, response, usage = record
    counts = tuple(int(str(n)) for n in usage) if isinstance(usage, list) else (0,) * (len(_FIELDS) + 1)
    model = str(state.get("model") or UNKNOWN_MODEL)
    key = event_key("response", response) if response else event_key(stamp, model, *counts[: len(_FIELDS)])
    return _call(state, ctx, key, int(str(ts_ms)), counts[: len(_FIELDS)], counts[-1])


def _usage_record(payload: dict[str, object], stamp: object, ctx: FileContext) -> Parsed:
    """A ``token_usage_record``: held until its turn shows whether a ``token_count`` counts it."""
    ts_ms = epoch_ms(stamp)
    usage = payload.get("usage")
    try:
        counts = _usage(usage)
        writes = _writes(usage)
    except ValueError:
        return "invalid_fields"
    if ts_ms is None or counts is None:
        return "invalid_fields"
    if not any(counts[:4]):
        return None
    state = ctx.state
    signature: list[object] = [*counts, writes]
    counted = _pending(state, "counted")
    if signature in counted:
        counted.remove(signature)  # its token_count came first and counted it
        return None
    response = payload.get("response_id")
    records = _pending(state, "records")
    records.append([str(stamp), ts_ms, response if isinstance(response, str) else "", signature])
    state["records"] = records
    if len(records) > _MAX_PENDING:  # a turn that never ends: keep the state small
        oldest = records.pop(0)
        return [_record_call(state, ctx, oldest)]
    return None


_WINDOWS = {300: "five_hour", 10080: "seven_day"}


def _limits(value: object, ts_ms: int, ctx: FileContext) -> list[AgentEvent | LimitReading]:
    """The plan windows of a ``rate_limits`` object (``primary``/``secondary``), as readings."""
    readings: list[AgentEvent | LimitReading] = []
    if isinstance(value, _RateLimits):
        for key, typed in (("primary", value.primary), ("secondary", value.secondary)):
            if typed is not None:
                minutes = typed.window_minutes
                name = _WINDOWS.get(minutes, f"{minutes}_minutes") if minutes is not None else key
                resets_at, resets_in = typed.resets_at, typed.resets_in_seconds
                _reading(readings, name, typed.used_percent, resets_at, resets_in, ts_ms, ctx)
        return readings
    if not isinstance(value, dict):
        return readings
    for key in ("primary", "secondary"):
        window = value.get(key)
        if not isinstance(window, dict):
            continue
        used, minutes = window.get("used_percent"), window.get("window_minutes")
        if not isinstance(used, int | float) or isinstance(used, bool):
            continue
        resets_at, resets_in = window.get("resets_at"), window.get("resets_in_seconds")
        if not isinstance(resets_at, int | float):
            resets_at = None
        if not isinstance(resets_in, int | float):
            resets_in = None
        name = _WINDOWS.get(minutes, f"{minutes}_minutes") if isinstance(minutes, int) else key
        _reading(readings, name, used, resets_at, resets_in, ts_ms, ctx)
    return readings


_SEEN_READINGS = "codex_readings"
"""The scan's key (:attr:`FileContext.shared`) of the readings with a reset time it has yielded."""


_MAX_MS = 253_402_300_800_000
"""9999-12-31T24:00Z in epoch ms: the last instant a date can hold."""


def _instant_ms(ms: float) -> int | None:
    """``ms`` as whole epoch milliseconds when it is an instant after 1970 a date can hold, else
    None: a reset time written wrong (``1e306`` seconds, infinite) keeps none, where ``int()``
    raised OverflowError out of the scan and no Codex call after it was read."""
    return int(ms) if math.isfinite(ms) and 0 < ms < _MAX_MS else None


def _reading(
    into: list[AgentEvent | LimitReading],
    name: str,
    used: float,
    resets_at: float | None,
    resets_in: float | None,
    ts_ms: int,
    ctx: FileContext,
) -> None:
    """One window's reading, unless the scan already gave the same one: each token_count repeats
    the account's windows, which move by whole percents, so most readings say again what an earlier
    one said. A reading with a reset time the scan gave before adds no row (the ledger keeps one
    per window, percent and reset: ``store.plan_limits.insert_readings``), so it is not built."""
    resets_ms: int | None = None
    if resets_at is not None:
        resets_ms = _instant_ms(resets_at * 1000)
    elif resets_in is not None:
        # To the nearest minute: the same reset seen a second later is the same window.
        resets_ms = _instant_ms((ts_ms + resets_in * 1000 + 30_000) // 60_000 * 60_000)
    percent = float(used)
    if resets_ms is not None:
        seen = ctx.shared.get(_SEEN_READINGS)
        if not isinstance(seen, set):
            seen = ctx.shared[_SEEN_READINGS] = set()
        said = (name, percent, resets_ms)
        if said in seen:
            return
        seen.add(said)
    into.append(LimitReading(name, percent, resets_ms, str(ctx.state.get("session") or ""), ts_ms))


_LINE_START = b'{"timestamp":'
"""How every rollout line begins (``RolloutLineRef`` serialises its timestamp first, compact)."""
_MAX_RESTARTS = 8


def _after_cut(raw: bytes) -> bytes | None:
    """The whole line run on after a cut one, when ``raw`` is a line Codex left unfinished (killed
    mid-write) followed by the next line it wrote: the rollout is reopened for append on resume,
    and the writer retries a failed item whole (``rollout/src/recorder.rs``), so the next line
    starts right after the cut bytes. None when no later line start decodes to an object."""
    at = 0
    for _ in range(_MAX_RESTARTS):
        at = raw.find(_LINE_START, at + 1)
        if at < 0:
            return None
        try:
            if isinstance(msgspec.json.decode(raw[at:]), dict):
                return raw[at:]
        except msgspec.DecodeError:
            continue
    return None


def _follow_replay(state: dict[str, object], stamp: object) -> None:
    """Move a fork's or sub-agent's copy of its parent's history on to this line, or end it at the
    first pause (or a line with no time): from there on the lines are the file's own."""
    at, last = epoch_ms(stamp), state.get("replay_ms")
    if at is not None and isinstance(last, int) and 0 <= at - last <= _REPLAY_GAP_MS:
        state["replay_ms"] = at
        copied = state.get("copied")
        if isinstance(copied, list) and len(copied) == 2:
            copied[1] = at
    else:
        del state["replay_ms"]


_Count = Annotated[int, msgspec.Meta(ge=0)]


class _Usage(msgspec.Struct):
    """A ``TokenUsage`` whose counts are all whole numbers >= 0 (a missing one is 0), as
    :func:`_usage` and :func:`_writes` read it; anything else fails and the line is read generically."""

    input_tokens: _Count = 0
    cached_input_tokens: _Count = 0
    output_tokens: _Count = 0
    reasoning_output_tokens: _Count = 0
    total_tokens: _Count = 0
    cache_write_input_tokens: _Count = 0


class _Window(msgspec.Struct):
    """A plan window of ``rate_limits`` that :func:`_limits` turns into a reading."""

    used_percent: int | float
    window_minutes: int | None = None
    resets_at: int | float | None = None
    resets_in_seconds: int | float | None = None


class _RateLimits(msgspec.Struct):
    primary: _Window | None = None
    secondary: _Window | None = None


class _Info(msgspec.Struct):
    total_token_usage: _Usage | None = None
    last_token_usage: _Usage | None = None


class _TokenCount(msgspec.Struct):
    type: str
    info: _Info | None = None
    rate_limits: _RateLimits | None = None


class _TokenCountLine(msgspec.Struct):
    """A ``token_count`` line of the usual shapes: a third of a rollout's lines, each a call or a
    reading, decoded straight into what they give instead of into dicts read key by key."""

    type: str
    payload: _TokenCount
    timestamp: object = None


_TOKEN_COUNT = msgspec.json.Decoder(_TokenCountLine)
_TOKEN_COUNT_KIND = b'"type":"token_count"'
_KIND_WITHIN = 160
"""Where a compact ``token_count`` line names its kind (about byte 70, after the stamp and
``"type":"event_msg","payload":{``): looked for there only, not through a model item's whole
length; a line spelled otherwise takes the generic read, which gives the same."""


def _counts(usage: _Usage | None) -> tuple[int, ...] | None:
    if usage is None:
        return None
    return (
        usage.input_tokens,
        usage.cached_input_tokens,
        usage.output_tokens,
        usage.reasoning_output_tokens,
        usage.total_tokens,
    )


def _typed_token_count(line: _TokenCountLine, ctx: FileContext) -> Parsed:
    """What :func:`parse_line` gives for this line read generically, from its typed decode."""
    stamp, payload = line.timestamp, line.payload
    if "replay_ms" in ctx.state:
        _follow_replay(ctx.state, stamp)
    ts_ms = epoch_ms(stamp)
    info = payload.info
    if info is None:  # a rate-limits-only update
        return (_limits(payload.rate_limits, ts_ms, ctx) if ts_ms is not None else None) or None
    if ts_ms is None:
        return "invalid_fields"
    last = info.last_token_usage
    writes = last.cache_write_input_tokens if last is not None else 0
    return _token_count(
        ctx, stamp, ts_ms, payload.rate_limits, _counts(info.total_token_usage), _counts(last), writes
    )


class _Head(msgspec.Struct):
    """A rollout line's item kind, decoded without building its payload."""

    type: object = None


_HEAD = msgspec.json.Decoder(_Head)


def parse_line(raw: bytes, ctx: FileContext) -> Parsed:
    """Usage from one rollout line; session and model lines update the file's state."""
    if raw.find(_TOKEN_COUNT_KIND, 0, _KIND_WITHIN) >= 0:
        try:
            typed = _TOKEN_COUNT.decode(raw)
        except msgspec.DecodeError:  # another shape, or not JSON: the generic read says which
            typed = None
        if typed is not None and typed.type == "event_msg" and typed.payload.type == "token_count":
            return _typed_token_count(typed, ctx)
    if "replay_ms" not in ctx.state:
        # A model's item (messages, reasoning, tool calls and their output) holds no usage and
        # changes no state, and is most of a rollout's bytes: checked to be JSON, never built.
        # Outside a fork's copy only: there every line's stamp moves the copy on.
        try:
            if _HEAD.decode(raw).type == "response_item":
                return None
        except msgspec.DecodeError:  # not JSON, or not an object: the full read says which
            pass
    try:
        line = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        rest = _after_cut(raw)
        if rest is not None:
            parsed = parse_line(rest, ctx)
            return ["truncated", *([parsed] if isinstance(parsed, str) else parsed or [])]
        return "truncated" if "truncated" in str(exc) else "malformed"
    if not isinstance(line, dict):
        return "malformed"
    kind, payload, stamp = line.get("type"), line.get("payload"), line.get("timestamp")
    if not isinstance(payload, dict):
        return None
    state = ctx.state
    if "replay_ms" in state:
        _follow_replay(state, stamp)
    if kind == "session_meta":
        # A sub-agent's file also carries its parent's session_meta: the first one is the file's.
        if "session" not in state:
            state["session"] = str(payload.get("id") or file_stem(ctx.path))
            # The folder as Claude Code's calls store it (their cwd), so one folder is one project.
            state["project"] = str(payload.get("cwd") or "")
            state["provider"] = str(payload.get("model_provider") or "openai").strip().lower()
            state["started_ms"] = epoch_ms(payload.get("timestamp")) or epoch_ms(stamp) or 0
            forked = payload.get("forked_from_id")
            if forked or "thread_spawn" in msgspec.json.encode(payload.get("source")).decode():
                state["replay_ms"] = epoch_ms(stamp) or 0
                # Kept for good: what an earlier cost-mcp counted of the copy lies in this span.
                state["copied"] = [state["replay_ms"], state["replay_ms"]]
        return None
    if kind == "token_usage_record":
        return _usage_record(payload, stamp, ctx)
    if kind == "turn_context":
        flushed = _flush(state, ctx)  # before the model changes: the records are the last turn's
        state.pop("served", None)  # a new turn asks for its own model again
        model = payload.get("model")
        if isinstance(model, str) and model:
            state["model"] = model
        return flushed or None
    if kind == "compacted" or (kind == "event_msg" and payload.get("type") in _TURN_EDGES):
        flushed = _flush(state, ctx)
        if kind == "event_msg" and payload.get("type") in _TURN_STARTS:
            state.pop("served", None)
        return flushed or None
    if kind == "event_msg" and payload.get("type") == "thread_settings_applied":
        # The thread's settings as they now stand, provider included: Codex's own thread index
        # takes the provider from here over session_meta's (codex-rs/state/src/extract.rs at
        # 683d8408), and a session switched to another provider records the switch only here.
        settings = payload.get("thread_settings")
        named = settings.get("model_provider_id") if isinstance(settings, dict) else None
        provider = named.strip().lower() if isinstance(named, str) else ""
        if not provider or provider == state.get("provider"):
            return None  # the usual case: the provider session_meta named, said again
        # A switch waits for an idle thread, so what is still held is the old provider's.
        flushed = _flush(state, ctx)
        state["provider"] = provider
        return flushed or None
    if kind == "event_msg" and payload.get("type") == "model_reroute":
        # The server answered this turn with another model than the turn asked for (Codex warns
        # once per turn, before that response's token_count): its calls are that model's.
        served = payload.get("to_model")
        if isinstance(served, str) and served:
            state["served"] = served
        return None
    if kind != "event_msg" or payload.get("type") != "token_count":
        return None
    ts_ms = epoch_ms(stamp)
    rate = payload.get("rate_limits")
    info = payload.get("info")
    if info is None:  # a rate-limits-only update
        return (_limits(rate, ts_ms, ctx) if ts_ms is not None else None) or None
    if not isinstance(info, dict) or ts_ms is None:
        return "invalid_fields"
    try:
        total = _usage(info.get("total_token_usage"))
        last = _usage(info.get("last_token_usage"))
        writes = _writes(info.get("last_token_usage"))
    except ValueError:
        return "invalid_fields"
    return _token_count(ctx, stamp, ts_ms, rate, total, last, writes)


def _token_count(
    ctx: FileContext,
    stamp: object,
    ts_ms: int,
    rate: object,
    total: tuple[int, ...] | None,
    last: tuple[int, ...] | None,
    writes: int,
) -> Parsed:
    """A ``token_count`` with usage: its call, unless the running total did not move or the line
    is a fork's copy. The readings of ``rate`` are made only where the line gives them, since a
    reading made is one the scan counts as given (:func:`_reading`)."""
    state = ctx.state
    previous = state.get("total")
    if total is not None:
        if isinstance(previous, list) and tuple(previous) == total:
            return _limits(rate, ts_ms, ctx) or None  # the same running total again: no new usage
        state["total"] = list(total)
    if "replay_ms" in state:
        return None  # the parent's history (and its limits), copied into a fork or a sub-agent
    replay = state.get("replay_second")  # kept by an earlier cost-mcp for a file read part-way
    if replay is not None:
        if str(stamp)[:19] == replay:
            return None
        del state["replay_second"]
    if last is None:
        if total is None:
            return "invalid_fields"
        base = tuple(previous) if isinstance(previous, list) else (0,) * len(_FIELDS)
        last = tuple(max(t - int(b), 0) for t, b in zip(total, base, strict=True))
    inp, cached, out, reasoning, all_tokens = last
    if not (inp or cached or out or reasoning):
        return _limits(rate, ts_ms, ctx) or None
    signature: list[object] = [*last, writes]
    records = _pending(state, "records")
    paired = next((r for r in records if r[3] == signature), None)
    if paired is not None:
        records.remove(paired)  # its usage record came first: the same call, counted here
    else:
        counted = _pending(state, "counted")
        state["counted"] = [*counted[-_MAX_PENDING:], signature]
    model = str(state.get("model") or UNKNOWN_MODEL)
    key = event_key(stamp, model, inp, min(cached, inp), out, reasoning, all_tokens)
    return [*_limits(rate, ts_ms, ctx), _call(state, ctx, key, ts_ms, last, writes)]


def decompress(raw: bytes, limit: int) -> bytes:
    """A zstd file's content, cut at ``limit + 1`` bytes (more than ``limit`` means too long).
    Raises ValueError on data that is not zstd."""
    if sys.version_info >= (3, 14):
        from compression import zstd
    else:
        from backports import zstd
    out = bytearray()
    try:
        while raw and len(out) <= limit:  # frame after frame, as `zstd -d` reads a file
            frame = zstd.ZstdDecompressor()
            out += frame.decompress(raw, max_length=limit + 1 - len(out))
            if len(out) > limit:
                break
            if not frame.eof:  # cut short: a file Codex was still writing, or a broken copy
                raise ValueError("the zstd data ends before its frame does")
            raw = frame.unused_data
    except zstd.ZstdError as exc:
        raise ValueError(str(exc)) from exc
    return bytes(out)


def parse_compressed(raw: bytes, ctx: FileContext) -> Parsed:
    """A rollout Codex compressed once it was cold: its lines, as a finished file."""
    try:
        data = decompress(raw, MAX_DOCUMENT_BYTES)
    except ValueError:
        return "malformed"
    if len(data) > MAX_DOCUMENT_BYTES:
        return "too_long"
    found: list[AgentEvent | LimitReading | SkipReason] = []
    for line in data.split(b"\n"):
        if line.strip():
            parsed = parse_line(line, ctx)
            if isinstance(parsed, str):
                found.append(parsed)
            elif parsed:
                found.extend(parsed)
    found.extend(_flush(ctx.state, ctx))  # the file is finished: its last turn has ended
    return found


def copied(state: dict[str, object]) -> tuple[str, int, int] | None:
    """The session and the first and last instants (ms) of a fork's or sub-agent's copy of its
    parent's history (:func:`_follow_replay`), from a read of the whole file; None for a file with
    no copy. The parser yields no call there, but an earlier cost-mcp did (a fork's whole copy, a
    sub-agent's replay past its first second): the scanner drops those rows (``AgentLog.copied``)."""
    span, session = state.get("copied"), state.get("session")
    if not isinstance(span, list) or len(span) != 2 or not isinstance(session, str):
        return None
    lo, hi = span
    return (session, lo, hi) if isinstance(lo, int) and isinstance(hi, int) else None


def finish(ctx: FileContext) -> Parsed:
    """A settled rollout's usage records still waiting for the end of their turn: Codex was killed
    mid-turn, so no line will end it; each is a call of its own, as at a turn's end."""
    return _flush(ctx.state, ctx) or None


LOG = AgentLog(
    agent=AGENT,
    label="Codex",
    source=SOURCE,
    roots=roots,
    line_suffixes=(".jsonl",),
    parse_line=parse_line,
    finish=finish,
    holding='"records":[[',
    copied=copied,
    document_suffixes=(COMPRESSED,),
    parse_document=parse_compressed,
)
