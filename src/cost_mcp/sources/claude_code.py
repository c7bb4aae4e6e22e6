"""Claude Code's JSONL session logs, read incrementally into the ledger.

Files live under ``<root>/projects/<project-slug>/``: ``<session>.jsonl`` for a session and
``<session>/subagents/agent-*.jsonl`` for its subagents. Files are found, resumed and split into
lines by the scanner every agent's logs share (``sources/logfiles.py``): for each file the ledger
remembers device, inode, size, mtime and the byte offset after the last complete line, so a scan
reads only appended bytes, leaves a last line without its newline for next time, and re-reads a
file from the start only when it shrank, was replaced or was rewritten before the offset. Lines
are streamed one at a time: memory is bounded by the longest line, never by a file. A large read
parses in a forked worker while this process writes (:func:`_read_beside`).

One API call can appear on several lines: one line per streamed content block (with output_tokens
growing), copies in resumed sessions, sidechain replays under a new requestId, and ``progress``
lines mirroring a subagent's messages. Each (message id, request id, sidechain) keeps its best copy
(most tokens), and :func:`_winners` marks exactly one row per call as counted, choosing from the
set of stored copies alone, so neither file order nor the number of scans changes a total (for a
message new to the ledger the batch holds that whole set and decides it before writing; otherwise
:func:`recount` reads it back). The SQL lives in ``store/claude_logs.py``.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Container, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast

import msgspec

from cost_mcp.errors import InvalidInputError
from cost_mcp.files import open_regular_file, within
from cost_mcp.money import to_nanos
from cost_mcp.periods import iso_utc, ms_to_datetime, to_ms
from cost_mcp.pricing import CallRates, Price, Pricer, Tokens, Unpriced, claude_provider
from cost_mcp.sources import beside, logfiles
from cost_mcp.sources.logfiles import LineReader, utf8
from cost_mcp.store import bulk, claude_logs, rollup
from cost_mcp.store import skipped as skipped_lines
from cost_mcp.store.connection import Conn, dialect, without_nul, write_transaction
from cost_mcp.store.source_state import last_success, log_marks, note_reading, record_scan
from cost_mcp.tokens import COLUMNS, MAX_CALL_TOKENS, Counts, token_total

if TYPE_CHECKING:
    # Not at run time: the status line reads new transcript lines through this module and must not
    # pay for pydantic-settings (see statusline.py).
    from cost_mcp.core_settings import HasCoreSettings

SOURCE = "claude_code"
PROVIDER = "anthropic"
"""The provider of a call logged with Anthropic's own model id; Bedrock's and Vertex's ids are the
clouds' that bill them (:func:`cost_mcp.pricing.claude_provider`, asked once per model string)."""
AGENT = "claude-code"
SYNTHETIC_MODEL = "<synthetic>"
BATCH_COPIES = 20_000
"""Copies held in memory before they are written: bounds memory on a huge cold ingest."""

FIRST_BATCH_COPIES = 5_000
"""Copies in the parse worker's first batch: the writer idles until it arrives (~0.3 s of parsing at
BATCH_COPIES on the 1x tree). Only the first is smaller: the writer bounds the rest of the read, and
its CPU per copy grew by a third with batches of 5k (more commits, more messages split across
batches and recounted). Tapered at the end, on SQLite with one worker (:func:`_tapered`); not on
PostgreSQL, where 8 batches instead of 5 likely cost a load's server 0.2-0.3 s (bench/README,
issue 18, ninth round)."""

TAPER_COPIES = 2_500
"""The smallest batch of a tapered read (:func:`_tapered`) but its last. Measured on the 1x tree
(twentieth round): the writer's work after the worker's last batch 0.21 -> 0.05 s, with 8 batches
instead of 5."""

DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024
"""Longest line read (COST_MCP_MAX_LINE_BYTES): far above any real line, low enough to bound memory."""

BULK_LOAD_BYTES = 32 * 1024 * 1024
"""A first read of at least this many bytes into an empty ledger loads without secondary indexes."""

READ_BUFFER = 256 * 1024
"""Read buffer of a log file (one file is open at a time)."""

YIELD_EVERY_LINES = 4096
"""How often a file reader hands back its offset, which is when a full batch may be written."""

MAX_PROJECT_CHARS = 1024
"""A ``cwd`` longer than a real path is not used as the project name (the folder slug is)."""
MAX_ID_CHARS = 256
"""Longest model name or session id kept from a log line or an OTel event (``sources.otel``): a
line can say anything, and a megabyte-long name was stored, grouped and shown whole."""

SkipReason = Literal["malformed", "truncated", "no_usage", "invalid_fields", "synthetic", "too_long"]
SKIP_REASONS: tuple[SkipReason, ...] = (
    "malformed",
    "truncated",
    "no_usage",
    "invalid_fields",
    "synthetic",
    "too_long",
)
FILE_SKIP_REASONS = logfiles.FILE_SKIP_REASONS


MAX_CALL_COST = Decimal(100_000)
"""A logged ``costUSD`` above this (USD, one call) is not real; same reason as
:data:`cost_mcp.tokens.MAX_CALL_TOKENS`."""

# Timestamps outside these years are not real calls; later ones overflow date arithmetic.
MIN_TS_MS = 0
MAX_TS_MS = 32_503_680_000_000  # 3000-01-01T00:00:00Z
ProgressCallback = Callable[[int, int, str], None]
LeftCallback = Callable[[int, int], None]
"""Hears the bytes and files of a scan's work not in the ledger yet: once the work is known, then
after each batch commits (see :class:`_Left`)."""

# --- the line format, as msgspec structs -------------------------------------------------------
# Only the fields we use are declared: msgspec skips everything else (content blocks, tool
# results) without building Python objects. Raw fields defer decoding until the line type says
# they matter, so a line type we ignore can never fail on their shape.

_NULL = msgspec.Raw(b"null")


Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_CALL_TOKENS)]
"""A token count: negative or absurd values fail the decode, so they are skipped as invalid fields."""


class _CacheCreation(msgspec.Struct):
    ephemeral_5m_input_tokens: Count | None = None
    ephemeral_1h_input_tokens: Count | None = None


class _ServerToolUse(msgspec.Struct):
    web_search_requests: Count | None = None


class _Iteration(msgspec.Struct):
    """One entry of ``usage.iterations`` (Anthropic API): a sampling step with its own usage."""

    type: str | None = None
    model: str | None = None
    input_tokens: Count | None = None
    output_tokens: Count | None = None
    cache_creation_input_tokens: Count | None = None
    cache_read_input_tokens: Count | None = None
    cache_creation: _CacheCreation | None = None


class _Usage(msgspec.Struct):
    input_tokens: Count | None = None
    output_tokens: Count | None = None
    cache_creation_input_tokens: Count | None = None
    cache_read_input_tokens: Count | None = None
    cache_creation: _CacheCreation | None = None
    server_tool_use: _ServerToolUse | None = None
    speed: str | None = None
    service_tier: str | None = None
    inference_geo: str | None = None
    iterations: list[_Iteration] | None = None


class _Message(msgspec.Struct):
    id: str | None = None
    model: str | None = None
    usage: _Usage | None = None


class _Line(msgspec.Struct):
    type: str | None = None
    timestamp: str | None = None
    sessionId: str | None = None  # the log's own field names
    requestId: str | None = None
    cwd: object = None  # any JSON: a line is never invalid for its cwd, only its name is not used
    isSidechain: bool | None = None
    costUSD: Decimal | None = None
    message: _Message | None = None
    data: msgspec.Raw = _NULL


class _LooseLine(msgspec.Struct):
    """Just enough to tell whether a line that failed the strict decode even matters."""

    type: object = None


class _ProgressData(msgspec.Struct):
    message: _Line | None = None


_decode_line = msgspec.json.Decoder(_Line).decode
_decode_loose = msgspec.json.Decoder(_LooseLine).decode
_decode_progress = msgspec.json.Decoder(_ProgressData).decode


class _InvalidLineError(Exception):
    """A line that parses but whose fields are unusable."""


# --- what a line yields ----------------------------------------------------------------------


class Copy(msgspec.Struct, frozen=True, gc=False):
    """One logged copy of a model call.

    A msgspec struct with its token counts as a plain tuple, not a dataclass holding a ``Tokens``:
    a cold ingest builds one per usage line, and a frozen dataclass' ``__init__`` (one
    ``object.__setattr__`` per field) cost more than decoding the line.
    """

    message_id: str
    request_id: str
    is_sidechain: bool
    ts_ms: int
    model: str
    session_id: str
    project: str
    counts: Counts
    total: int
    """All tokens (input + output + cache read + cache write): given by the caller
    (:func:`cost_mcp.tokens.token_total`), not computed in a ``__post_init__``, which would be one
    more Python call per usage line."""
    speed: str
    reported_cost: Decimal | None
    origin: str
    service_tier: str = ""
    inference_geo: str = ""
    note: str = ""
    """What the log left unclear about this call's price (e.g. an iteration type we do not know)."""
    extra: tuple[Copy, ...] = ()
    """Separately billed iterations of the same request (advisor, compaction), as their own calls."""

    @property
    def tokens(self) -> Tokens:
        """The counts as a :class:`Tokens`."""
        return Tokens(*self.counts)

    def rank(self) -> tuple[int, int, str, str]:
        """Smaller is better: most tokens, then earliest, then a stable order on where it was seen."""
        return (-self.total, self.ts_ms, self.session_id, self.origin)


@dataclass(frozen=True, slots=True)
class FileIdentity:
    """Where a log file lives and what we know of its path."""

    path: Path
    project: str
    session_id: str
    origin: str = field(init=False, compare=False)
    """``str(path)``, made once per file rather than once per copy."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "origin", str(self.path))


def parse_line(raw: bytes, where: FileIdentity) -> Copy | SkipReason | None:
    """A usage copy from one JSONL line, a skip reason, or None for a line that carries no usage.

    Lines of other types (user prompts, tool results, summaries, snapshots) return None.
    """
    try:
        return _parse(raw, where)
    except RecursionError:
        pass
    # Nested deeper than the decoder's recursion limit: a tool argument a model chose can do that,
    # on a line that still carries a real call's usage. Every field read here sits a few levels
    # deep, so the line is read again with its deep containers replaced by null: the same result a
    # decoder without a limit would give, whatever the stack depth of the thread reading it.
    flat = _flatten(raw)
    if flat is None:
        return "malformed"
    try:
        return _parse(flat, where)
    except RecursionError:  # not expected after flattening; still never an outage
        return "malformed"


_JSON_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')
KEEP_DEPTH = 64
"""Containers nested deeper than this are dropped when a line is too deep for the decoder."""


def _flatten(raw: bytes) -> bytes | None:
    """``raw`` with every JSON container nested deeper than KEEP_DEPTH replaced by ``null``, or
    None when its brackets do not balance.

    Iterative, and strings are skipped whole (brackets inside them do not count). Anything else
    wrong with the line is left for the decoder to report.
    """
    out: list[bytes] = []
    depth = 0
    kept_until = 0
    for match in _JSON_TOKEN.finditer(raw):
        token = match.group()
        if token[0] == 0x22:  # a string
            continue
        if token in (b"[", b"{"):
            depth += 1
            if depth == KEEP_DEPTH + 1:
                out.append(raw[kept_until : match.start()])
        else:
            if depth == KEEP_DEPTH + 1:
                out.append(b"null")
                kept_until = match.end()
            depth -= 1
            if depth < 0:
                return None
    if depth:
        return None
    out.append(raw[kept_until:])
    return b"".join(out)


def _parse(raw: bytes, where: FileIdentity) -> Copy | SkipReason | None:
    # Decoded with its newline (JSON whitespace after the value): copying every line to strip it
    # cost ~0.1 s of a cold ingest. Only a line that fails is looked at without it.
    try:
        line = _decode_line(raw)
    except msgspec.ValidationError:  # a subclass of DecodeError, so it is caught first
        # One strict pass is fastest for the common case; a line of a type we ignore may use
        # these field names differently, and must not count as invalid.
        try:
            loose = _decode_loose(raw)
        except msgspec.DecodeError:
            return "malformed"  # not JSON after all, or JSON that is not a log entry (an array...)
        return "invalid_fields" if loose.type in ("assistant", "progress") else None
    except msgspec.DecodeError as exc:
        text = raw.rstrip(b"\r\n")
        if len(text) < len(raw):
            # Read again without its newline: a line cut inside a string would otherwise read as
            # malformed (a raw newline in a string), not as truncated.
            return _parse(text, where)
        return "truncated" if "truncated" in str(exc) else "malformed"
    if line.type == "assistant":
        return _copy_from(line, line, where)
    if line.type == "progress" and line.data != _NULL:
        try:
            data = _decode_progress(line.data)
        except msgspec.ValidationError:
            return "invalid_fields"
        inner = data.message
        if inner is None or inner.type not in (None, "assistant") or inner.message is None:
            return None
        return _copy_from(inner, line, where)
    return None


def _copy_from(entry: _Line, outer: _Line, where: FileIdentity) -> Copy | SkipReason:
    message = entry.message
    if message is None:
        return "no_usage"
    usage = message.usage
    if usage is None:
        return "no_usage"
    model = message.model or ""
    if model == SYNTHETIC_MODEL:
        return "synthetic"
    try:
        counts = _counts(usage)
        ts_ms = _epoch_ms(entry.timestamp or outer.timestamp)
    except _InvalidLineError:
        return "invalid_fields"
    if not model:
        return "invalid_fields"
    if len(model) > MAX_ID_CHARS:
        model = model[:MAX_ID_CHARS]
    reported = entry.costUSD if entry.costUSD is not None else outer.costUSD
    if reported is not None and not (reported.is_finite() and 0 <= reported <= MAX_CALL_COST):
        return "invalid_fields"  # NaN, infinite, negative or absurd: it would corrupt every total
    request_id = entry.requestId or outer.requestId or ""
    message_id = message.id or ""
    if not message_id:
        # Without an id a copy cannot be matched to others; identical lines still collapse.
        tokens = Tokens(*counts)
        message_id = "line:" + hashlib.sha1(raw_key(entry, tokens, ts_ms), usedforsecurity=False).hexdigest()
    cwd = outer.cwd or entry.cwd
    session = (outer.sessionId or entry.sessionId or where.session_id)[:MAX_ID_CHARS]
    # A session logs the same few folders on every line: a known usable one is taken as is.
    project = cwd if type(cwd) is str and _USABLE_CWD.get(cwd) else _project(cwd, where.project)
    speed, tier, geo = usage.speed or "", usage.service_tier or "", usage.inference_geo or ""
    if "\x00" in f"{message_id}{request_id}{model}{session}{project}{speed}{tier}{geo}":
        # A NUL (JSON's \\u0000): PostgreSQL cannot store one in text, and the whole ingest
        # failed ("the ledger cannot be used"), every other line with it. Replaced the same way
        # at every read, the line is still one call. Checked here, on the few strings kept, not
        # on the line's bytes: a search of every usage line cost a fifth of the parse.
        message_id, request_id, model, session, project, speed, tier, geo = (
            without_nul(t) for t in (message_id, request_id, model, session, project, speed, tier, geo)
        )
    copy = Copy(
        message_id,
        request_id,
        bool(entry.isSidechain or outer.isSidechain),
        ts_ms,
        model,
        session,
        project,
        counts,
        token_total(counts),
        speed,
        reported,
        where.origin,
        tier,
        geo,
    )
    return _with_iterations(copy, usage.iterations) if usage.iterations else copy


_IN_TOP_LEVEL = frozenset({"message", "fallback_message", ""})
"""Iteration types the top-level usage already counts (the model's own sampling steps; an entry
without a type is read as one, as in early logs of the field)."""
_BILLED_APART = frozenset({"advisor_message", "compaction"})


def _with_iterations(copy: Copy, iterations: list[_Iteration]) -> Copy:
    """Add the iterations billed apart from the top-level usage as calls of their own.

    Anthropic's usage docs: top-level usage leaves out compaction iterations (billed at the
    request's model) and advisor iterations (billed at the advisor's own ``model``), so each is
    counted and priced as a call, keyed under the parent message so copies still collapse.
    """
    extra: list[Copy] = []
    seen: Counter[str] = Counter()
    unknown: set[str] = set()
    for it in iterations:
        kind = it.type or ""
        if kind in _IN_TOP_LEVEL:
            continue
        if kind not in _BILLED_APART:
            unknown.add(kind)
            continue
        seen[kind] += 1
        counts = _counts(it)
        extra.append(
            msgspec.structs.replace(
                copy,
                message_id=f"{copy.message_id}#{kind}{seen[kind]}",
                # The NUL rule of the line's own strings (see _copy_from), on the advisor's model too.
                model=without_nul(it.model) if it.model else copy.model,
                counts=counts,
                total=token_total(counts),
                # The advisor is a separate inference: the executor's speed is not the advisor's.
                speed="" if kind == "advisor_message" else copy.speed,
                reported_cost=None,
            )
        )
    note = f"usage.iterations of unknown type {', '.join(sorted(unknown))} not priced" if unknown else ""
    return msgspec.structs.replace(copy, extra=tuple(extra), note=note)


def _project(cwd: object, slug: str) -> str:
    """The folder the session ran in, as a path (the log's ``cwd``), else the folder slug."""
    if isinstance(cwd, str):
        # A session logs the same few folders on every line: each is checked once.
        usable = _USABLE_CWD.get(cwd)
        if usable is None:
            usable = bool(cwd) and len(cwd) <= MAX_PROJECT_CHARS and cwd.isprintable()
            if len(_USABLE_CWD) < 4096:
                _USABLE_CWD[cwd] = usable
        if usable:
            return cwd
    return slug


_USABLE_CWD: dict[str, bool] = {}
_BOM = logfiles.BOM


def raw_key(entry: _Line, tokens: Tokens, ts_ms: int) -> bytes:
    """Identity of an id-less copy: what it says, not where it sits in a file."""
    return f"{entry.requestId}|{entry.sessionId}|{ts_ms}|{tokens}".encode()


def _counts(usage: _Usage | _Iteration) -> Counts:
    """The call's counts, one per kind in :data:`cost_mcp.tokens.KINDS` order."""
    cache = usage.cache_creation
    if cache is not None and (
        cache.ephemeral_5m_input_tokens is not None or cache.ephemeral_1h_input_tokens is not None
    ):
        # The split, when present, is the truth; the total is only used when there is no split.
        write_5m = cache.ephemeral_5m_input_tokens or 0
        write_1h = cache.ephemeral_1h_input_tokens or 0
    else:
        write_5m = usage.cache_creation_input_tokens or 0
        write_1h = 0
    tool_use = usage.server_tool_use if isinstance(usage, _Usage) else None
    web = tool_use.web_search_requests if tool_use else None
    return (
        usage.input_tokens or 0,
        usage.output_tokens or 0,
        usage.cache_read_input_tokens or 0,
        write_5m,
        write_1h,
        web or 0,
    )


_ZULU_MS = re.compile(r"(\d{4}-\d\d-\d\d)T([01]\d|2[0-3]):([0-5]\d):([0-5]\d)\.(\d{3})Z", re.ASCII)
"""Claude Code's own stamp shape, read without building a datetime (see :func:`_epoch_ms`)."""
_DAY_MS: dict[str, int] = {}
"""``YYYY-MM-DD`` of stamps of that shape seen before, to the day's start (every such day lies wholly
inside [MIN_TS_MS, MAX_TS_MS): :func:`_epoch_ms_general` refuses the others)."""
_HOUR_MS: dict[str, int] = {}
"""``YYYY-MM-DDTHH`` of those stamps to the hour's start (24 keys a day seen)."""
_MINUTE_SECOND_MS: dict[str, int] = {}
"""``:MM:SS`` of those stamps to milliseconds into the hour (at most 3,600 keys)."""
_MILLI_MS: dict[str, int] = {}
"""``.mmmZ`` of those stamps to milliseconds (at most 1,000 keys)."""


def _epoch_ms(stamp: str | None) -> int:
    if not stamp:
        raise _InvalidLineError
    if len(stamp) == 24:
        # Three look-ups in small caches instead of a regex match: each part was cut from a stamp
        # that matched _ZULU_MS whole, at the places its groups end, so their join matches it too.
        # (Three, not four with the minute and second apart: 0.01 s less on 126k stamps.)
        hour = _HOUR_MS.get(stamp[:13])
        if hour is not None:
            minute_second = _MINUTE_SECOND_MS.get(stamp[13:19])
            if minute_second is not None:
                milli = _MILLI_MS.get(stamp[19:])
                if milli is not None:
                    return hour + minute_second + milli
    zulu = _ZULU_MS.fullmatch(stamp)
    if zulu is None:
        return _epoch_ms_general(stamp)
    # Claude Code's shape, in integer arithmetic: the day's start (parsed once, so an impossible
    # date such as 02-30 still fails) plus the time of day.
    day_text, hh, mm, ss, ms = zulu.groups()
    day = _DAY_MS.get(day_text)
    if day is None:
        day = _epoch_ms_general(day_text + "T00:00:00Z")
        if len(_DAY_MS) < 100_000:
            _DAY_MS[day_text] = day
    hour = day + int(hh) * 3_600_000
    minute_second = int(mm) * 60_000 + int(ss) * 1000
    milli = int(ms)
    ts = hour + minute_second + milli
    if not MIN_TS_MS <= ts < MAX_TS_MS:
        raise _InvalidLineError
    if len(_HOUR_MS) < 100_000:
        _HOUR_MS[stamp[:13]] = hour
    _MINUTE_SECOND_MS[stamp[13:19]] = minute_second
    _MILLI_MS[stamp[19:]] = milli
    return ts


def _epoch_ms_general(stamp: str) -> int:
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        raise _InvalidLineError from None
    if when.tzinfo is None:
        # Claude Code writes UTC with a Z; a stamp without an offset is read as UTC too.
        when = when.replace(tzinfo=UTC)
    try:
        ms = to_ms(when)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-14:00 is past datetime's range in UTC
        raise _InvalidLineError from None
    if not MIN_TS_MS <= ms < MAX_TS_MS:
        raise _InvalidLineError
    return ms


# --- finding files ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """Something to scan: a folder (walked for ``*.jsonl``) or one file, and the ``projects/``
    folder its paths are read against for project and session."""

    path: Path
    projects_dir: Path


def default_targets(configured: Sequence[Path]) -> list[Target]:
    """The ``projects/`` folders of the configured Claude folders that exist (a path that itself
    ends in ``projects`` counts too)."""
    targets: list[Target] = []
    for root in configured:
        projects = root if root.name == "projects" else root / "projects"
        if projects.is_dir() and all(t.path != projects for t in targets):
            targets.append(Target(projects, projects))
    return targets


WHAT_TO_INGEST = (
    "give a Claude folder (e.g. ~/.claude), its projects/ folder, a project folder or a .jsonl file"
)
"""What `ingest PATH` reads, said when a PATH holds nothing of it."""


def targets_for(paths: Sequence[Path]) -> list[Target]:
    """Targets for paths a user named: a Claude folder, a ``projects/`` folder, one project's
    folder, or a single ``.jsonl`` file. Raises InvalidInputError for a path that does not exist
    or a file that is not ``.jsonl``."""
    targets: list[Target] = []
    for raw in paths:
        if not utf8(str(raw)):
            raise InvalidInputError(f"{str(raw).encode('utf-8', 'replace')!r} is not valid UTF-8; rename it")
        path = raw.expanduser().absolute()
        if path.is_file():
            # Any other file would be stored as a log whose every line is malformed, and every
            # answer would count those lines as skipped until the file was forgotten.
            if not path.name.endswith(".jsonl"):
                raise InvalidInputError(
                    f"{raw} is not a Claude Code log: Claude Code writes its logs as .jsonl files. "
                    "Give a .jsonl file, or a folder that holds them (e.g. ~/.claude)."
                )
            targets.append(Target(path, path.parent.parent))
        elif (path / "projects").is_dir():
            targets.append(Target(path / "projects", path / "projects"))
        elif path.is_dir():
            base = path if path.name == "projects" else path.parent
            targets.append(Target(path, base))
        else:
            # A pipe, socket or device is there but is no file to read (a pipe would wait forever).
            what = "is not a file or folder" if path.exists() else "does not exist"
            raise InvalidInputError(f"{raw} {what}; {WHAT_TO_INGEST}")
    return targets


def identify(path: Path, projects_dir: Path) -> FileIdentity:
    """Project and session of a log file, from where it sits under ``projects/``."""
    try:
        parts = path.relative_to(projects_dir).parts
    except ValueError:
        return FileIdentity(path, path.parent.name, path.stem)
    project = parts[0] if len(parts) > 1 else ""
    session = parts[1] if len(parts) > 2 else path.stem
    return FileIdentity(path, project, session)


def _walk(
    directory: Path, skipped: Counter[str], errors: list[str] | None = None
) -> Iterator[tuple[str, os.stat_result]]:
    """Every ``*.jsonl`` file below a folder (or the file itself), with its stat; a folder that
    cannot be listed is named in ``errors``."""
    return logfiles.walk(directory, (".jsonl",), skipped, errors)


# --- scanning ----------------------------------------------------------------------------------


@dataclass
class ScanStats:
    """What one scan did."""

    files_seen: int = 0
    files_new: int = 0
    files_changed: int = 0
    files_reset: int = 0
    files_unchanged: int = 0
    lines_read: int = 0
    bytes_read: int = 0
    usage_lines: int = 0
    events_added: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    skipped_files: Counter[str] = field(default_factory=Counter)
    first_ts_ms: int | None = None
    last_ts_ms: int | None = None
    unpriced: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    complete: bool = True
    files_pending: int = 0
    bytes_pending: int = 0


@dataclass(frozen=True, slots=True)
class _FileState:
    path: str
    device: int
    inode: int
    size: int
    mtime_ns: int
    offset: int
    check: bytes | None = None
    """Hash of the bytes just before ``offset`` (see :func:`_checkpoint`); None for offset 0."""
    skipping: bool = False
    """``offset`` lies inside an over-long line that was already counted as skipped."""
    project: str | None = None
    session_id: str | None = None

    def row(self) -> claude_logs.FileRow:
        """The state as ``store.claude_logs`` stores it (and the parse worker sends it)."""
        return (
            self.path,
            self.device,
            self.inode,
            self.size,
            self.mtime_ns,
            self.offset,
            self.check,
            self.skipping,
            self.project,
            self.session_id,
        )


class _Batch:
    """Best copies not yet written, and how far each file has been read."""

    def __init__(self) -> None:
        self.copies: dict[tuple[str, str, bool], Copy] = {}
        self.files: dict[str, _FileState] = {}
        self.skipped: Counter[tuple[str, str]] = Counter()
        self.restarted: set[str] = set()

    def add(self, copy: Copy) -> None:
        key = (copy.message_id, copy.request_id, copy.is_sidechain)
        held = self.copies.get(key)
        # Most copies are new or differ in tokens: the full rank is needed only on a tie.
        if (
            held is None
            or copy.total > held.total
            or (copy.total == held.total and copy.rank() < held.rank())
        ):
            self.copies[key] = copy
        if copy.extra:
            for sub in copy.extra:
                self.add(sub)

    def __len__(self) -> int:
        return len(self.copies)

    def clear(self) -> None:
        """Forget what was written."""
        self.copies.clear()
        self.files.clear()
        self.skipped.clear()
        self.restarted.clear()


def scan(
    conn: Conn,
    targets: Sequence[Target],
    pricer: Pricer,
    *,
    full: bool = False,
    progress: ProgressCallback | None = None,
    deadline: float | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    record: bool = True,
    left: LeftCallback | None = None,
) -> ScanStats:
    """Read what is new in every ``*.jsonl`` of the targets into the ledger.

    ``full`` forgets read offsets first (everything is read again; dedup keeps totals unchanged).
    ``deadline`` (a ``time.perf_counter()`` value) stops the scan early, keeping what was read:
    the next scan resumes where this one stopped. A line longer than ``max_line_bytes`` is skipped
    (counted ``too_long``) without ever being held in memory whole.
    Each batch of copies is written with the file offsets it came from in one transaction, so a
    crash loses nothing and counts nothing twice. Without ``record`` the scan is not remembered as
    a check of the logs (the status line reads one transcript: the rest of the tree is unchecked).
    ``left`` hears what is still to read as the read goes (:data:`LeftCallback`).
    """
    try:
        return _scan(conn, targets, pricer, full, progress, deadline, max_line_bytes, record, left)
    finally:
        _dismiss_standby()  # a worker forked early that this scan did not take (a small read)


def _scan(
    conn: Conn,
    targets: Sequence[Target],
    pricer: Pricer,
    full: bool,
    progress: ProgressCallback | None,
    deadline: float | None,
    max_line_bytes: int,
    record: bool,
    left: LeftCallback | None = None,
) -> ScanStats:
    started = time.perf_counter()
    stats = ScanStats()
    found: dict[str, tuple[os.stat_result, Target]] = {}
    for target in targets:
        for path, st in _walk(target.path, stats.skipped_files, stats.errors):
            found.setdefault(path, (st, target))
    # A few files (the status line's one transcript) are looked up by path: the whole table is
    # thousands of rows on a ledger of a million calls, read on every message otherwise.
    whole = not full and len(found) > FEW_FILES
    known = {} if full else _known_files(conn, None if whole else list(found))
    if whole:
        _forget_unread(conn, known, found, targets)
    work: _Work = []
    # In path order, a session's log comes just before its subagents' logs (``s.jsonl`` <
    # ``s/subagents/...``), whose calls it mirrors in progress lines: read together, a call's copies
    # mostly fall in one batch and are decided there. In the walk's order (a folder's files before
    # its subfolders) 8k of the 1x tree's 65k calls had copies in two batches, each recounted from
    # the table.
    for path in sorted(found):
        st, target = found[path]
        stats.files_seen += 1
        start = _resume_offset(path, known.get(path), st, stats)
        if start is not None:
            work.append((path, st, identify(Path(path), target.projects_dir), *start))
    _read_work(conn, work, pricer, stats, started, progress, deadline, max_line_bytes, left)
    if record:
        _record_state(conn, stats)
    return stats


def _read_work(
    conn: Conn,
    work: _Work,
    pricer: Pricer,
    stats: ScanStats,
    started: float,
    progress: ProgressCallback | None,
    deadline: float | None,
    max_line_bytes: int,
    left: LeftCallback | None = None,
) -> ScanStats:
    """Read the listed files from their start offsets, then refresh the rollup."""
    if not work:
        stats.seconds = time.perf_counter() - started
        return stats
    committed = _Left(work, left)
    total_bytes = sum(st.st_size - offset for _, st, _, offset, _ in work)
    # The scan allocates hundreds of thousands of short-lived objects and no cycles worth
    # collecting: the cyclic collector alone took ~9 % of a cold ingest.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    # A first load of a large history builds the secondary indexes once at the end instead of
    # row by row (see store.bulk; a crash in between is repaired by the next connect).
    bulk_load = total_bytes >= BULK_LOAD_BYTES and bulk.table_is_empty(conn)
    large = claude_logs.large_read(conn) if total_bytes >= BULK_LOAD_BYTES else contextlib.nullcontext()
    with large, rollup.watch(conn) as changes:
        if bulk_load:
            bulk.drop_secondary_indexes(conn, loader=True)
        try:
            # A large read parses in a second process while this one writes (the two take about as
            # long); a small one is not worth a fork.
            forked = total_bytes >= BULK_LOAD_BYTES and beside.may_fork()
            if not (
                forked
                and _read_beside(
                    conn, work, pricer, stats, progress, deadline, total_bytes, max_line_bytes, committed
                )
            ):
                _read_in_turn(
                    conn, work, pricer, stats, progress, deadline, total_bytes, max_line_bytes, committed
                )
        finally:
            if gc_was_enabled:
                gc.enable()
            if bulk_load:
                # After the last batch, not while the worker parses it: the writer is the one
                # behind at the end (on both engines the last batch was already waiting in 17 of 18
                # timed loads), so building first overlapped nothing (bench/README, issue 13,
                # eighth round).
                with claude_logs.checkpoint_beside(conn):
                    bulk.restore_indexes(conn)
    if not stats.complete:
        stats.files_pending, stats.bytes_pending = _pending(conn, work)
    rollup.refresh_changed(conn, changes)
    stats.seconds = time.perf_counter() - started
    return stats


_Work = list[tuple[str, os.stat_result, FileIdentity, int, bool]]
"""Files to read: path, stat, identity, start offset, and whether that offset is inside a skipped line."""


class _Left:
    """What of a scan's work is not in the ledger yet, from the file offsets each committed batch
    stores: a background reading says it as "left", which must go down as the read goes (it stayed
    at the last chunk's figure for a whole chunk) and never be less than is left (a hard budget is
    held back by what the unread bytes could cost), so it counts committed bytes, not parsed ones."""

    def __init__(self, work: _Work, report: LeftCallback | None) -> None:
        self._report = report
        if report is None:
            return
        self._size = {path: st.st_size for path, st, _, _, _ in work}
        self._done = {path: offset for path, _, _, offset, _ in work}
        self._bytes = sum(max(self._size[p] - done, 0) for p, done in self._done.items())
        self._files = sum(self._size[p] > done for p, done in self._done.items())
        self._tell()

    def written(self, batch: _Batch) -> None:
        """Count the offsets ``batch`` (just committed) stored."""
        if self._report is None:
            return
        for path, state in batch.files.items():
            size = self._size.get(path)
            if size is None:
                continue
            before = self._done[path]
            after = max(before, min(state.offset, size))
            self._done[path] = after
            self._bytes -= after - before
            self._files -= before < size <= after
        self._tell()

    def _tell(self) -> None:
        if self._report is not None:
            self._report(self._bytes, self._files)


def _pending(conn: Conn, work: _Work) -> tuple[int, int]:
    """Files and bytes of ``work`` that a stopped scan left unread, from the offsets now stored."""
    known = _known_files(conn)
    files = left = 0
    for path, st, _, offset, _ in work:
        state = known.get(path)
        same = state is not None and (state.device, state.inode) == (st.st_dev, st.st_ino)
        done = max(state.offset, offset) if state is not None and same else offset
        if st.st_size > done:
            files += 1
            left += st.st_size - done
    return files, left


def _read_in_turn(
    conn: Conn,
    work: _Work,
    pricer: Pricer,
    stats: ScanStats,
    progress: ProgressCallback | None,
    deadline: float | None,
    total_bytes: int,
    max_line_bytes: int,
    committed: _Left,
) -> None:
    """Read the files one after the other in this process, writing batches as they fill."""
    prices = _Prices(pricer)

    def write(batch: _Batch) -> None:
        _flush(conn, batch, prices, stats)
        committed.written(batch)

    _read_batches(work, stats, progress, deadline, total_bytes, max_line_bytes, write)


def _read_batches(
    work: _Work,
    stats: ScanStats,
    progress: ProgressCallback | None,
    deadline: float | None,
    total_bytes: int,
    max_line_bytes: int,
    sink: Callable[[_Batch], None],
    first_batch: int | None = None,
    taper: bool = False,
) -> None:
    """Read the files one after the other, handing each batch of BATCH_COPIES copies (the first of
    ``first_batch``, when given), and the last, to ``sink``; with ``taper``, the batches near the
    end smaller (see :func:`_tapered`)."""
    limit = first_batch or BATCH_COPIES
    batch = _Batch()
    handed = 0  # copies handed to the sink so far
    # This worker's own bytes: half a read's when two workers share it (total_bytes is the whole
    # read's, which progress reports count against).
    own_bytes = sum(st.st_size - offset for _, st, _, offset, _ in work) if taper else 0
    done_bytes = 0
    last_report = 0.0
    in_file = 0  # bytes read of the file being read, past its start offset

    def written(text: str) -> None:
        # Reported before each batch goes to the ledger, so that what a progress figure says is read
        # is never less than what the ledger already counts: a background reading's answers said
        # "0.0 MB read" beside thousands of calls until its chunk ended.
        if progress is not None:
            progress(done_bytes + in_file, max(total_bytes, 1), text)

    for index, (path, st, where, offset, skipping) in enumerate(work):
        # Checked between files only after the first, so that every scan moves on, however late it
        # starts (a budget of 0, a walk slower than the budget): the first file is read up to its
        # end or its first yield.
        if index and deadline is not None and time.perf_counter() > deadline:
            stats.complete = False
            break
        try:
            # Closed on the way out, so that a file left at the deadline counts what it read now.
            states = contextlib.closing(
                _read_file(path, st, where, offset, batch, stats, skipping, max_line_bytes)
            )
            with states as reading:
                for state in reading:
                    batch.files[state.path] = state
                    in_file = state.offset - offset
                    if len(batch) >= limit:
                        written(f"{index}/{len(work)} files read")
                        sink(batch)
                        handed += len(batch)
                        limit = _tapered(handed, done_bytes + in_file, own_bytes) if taper else BATCH_COPIES
                        # Cleared in place: the file reader still holds this batch and keeps adding to it.
                        batch.clear()
                    # At the file's end the loop goes on to the check above: a file read to its end
                    # was once marked unread too, so the next scan reopened it, read nothing, passed
                    # the deadline again and stopped there, every time (a dashboard's refreshes stalled).
                    if state.offset < st.st_size and deadline is not None and time.perf_counter() > deadline:
                        stats.complete = False
                        # Stopped inside the file: an mtime no file has makes the next scan continue it
                        # (its size and mtime are unchanged, which would otherwise mean "all read").
                        batch.files[path] = replace(state, mtime_ns=-1)
                        break
        except OSError as exc:
            stats.errors.append(f"{path}: {exc.strerror or exc}")
            continue
        if not stats.complete:
            break
        done_bytes += st.st_size - offset
        in_file = 0
        now = time.perf_counter()
        if progress is not None and (now - last_report > 0.25 or index == len(work) - 1):
            last_report = now
            progress(done_bytes, max(total_bytes, 1), f"{index + 1}/{len(work)} files read")
    if batch.copies:
        written(f"{len(work)}/{len(work)} files read" if stats.complete else "stopped at the time budget")
    sink(batch)


def _tapered(handed: int, read: int, total: int) -> int:
    """The next batch's size when batches taper: half the copies the unread bytes should hold at
    the rate read so far, between TAPER_COPIES and BATCH_COPIES.

    The parse worker is the slower side of the middle on SQLite (the writer waits for it), so
    after its last batch only the writing of that batch (and of the one before, if the writer is
    still on it) is left on the wall: halving the batches towards the end makes that ~one small
    batch instead of a full one (bench/README, issue 18, twentieth round)."""
    if read <= 0:
        return BATCH_COPIES
    left = handed * max(total - read, 0) // read
    return min(BATCH_COPIES, max(TAPER_COPIES, left // 2))


# --- parsing in a second process -----------------------------------------------------------------


class _WorkerTotals(msgspec.Struct, array_like=True):
    """What the parse worker counted, sent once at its end."""

    lines_read: int
    bytes_read: int
    usage_lines: int
    skipped: dict[str, int]
    first_ts_ms: int | None
    last_ts_ms: int | None
    errors: list[str]
    complete: bool
    unpriced: dict[str, int]


class _Shipment(msgspec.Struct, array_like=True, gc=False):
    """One message from the parse worker: a priced batch, a progress report, or (last) its totals."""

    rows: _Rows | None = None
    """The batch's copies priced and decided (see :func:`_rows`), ready to write."""
    files: list[tuple[str, int, int, int, int, int, bytes | None, bool, str | None, str | None]] = []
    skipped: list[tuple[str, str, int]] = []
    restarted: list[str] = []
    progress: tuple[int, int, str] | None = None
    totals: _WorkerTotals | None = None


def _read_beside(
    conn: Conn,
    work: _Work,
    pricer: Pricer,
    stats: ScanStats,
    progress: ProgressCallback | None,
    deadline: float | None,
    total_bytes: int,
    max_line_bytes: int,
    committed: _Left,
) -> bool:
    """Parse and price in a forked worker while this process writes; False if the worker failed.

    The worker builds the very batches :func:`_read_in_turn` would (copies deduplicated within the
    batch, with the file states they reach), prices them into rows with the same pricer, and sends
    each batch as MessagePack; this process writes each in one transaction as it arrives, so crash
    safety is the same as reading in turn. A bounded queue (:data:`beside.AHEAD_BATCHES`) lets the
    worker run only a few batches ahead, so memory stays bounded. When the worker dies before its
    totals arrive, the batches written stay (they are exact and idempotent) and the caller reads the
    work again in this process; dedup adds nothing twice.
    """
    # On SQLite the worker is the busy side of the middle of a load (its parse ~0.8 s of CPU, the
    # writer waiting ~0.6 s for batches on the 1x tree), so the batch's counted decisions and the
    # rollup's sums are left to the writer there; PostgreSQL's writer is client plus server CPU,
    # the slower side, and keeps receiving them done (bench/README, issue 18, eleventh round).
    decide = dialect(conn) != "sqlite"
    # One worker is then the slower side to the end, so its batches taper (see _tapered); not on
    # PostgreSQL, whose writer is behind at the end, nor over two workers, which the writer is
    # behind: there smaller batches only add the writer's cost per batch (twentieth round).
    order: _Order = (
        work,
        pricer,
        progress is not None,
        deadline,
        total_bytes,
        max_line_bytes,
        decide,
        not decide,
    )
    # Halved only for the standby, which has the price data loaded when it forks the second worker
    # (a worker forked here would load it on its first batch, in the middle of the load), and only
    # on SQLite: PostgreSQL's writer (client and server) is the slower side already, and a second
    # worker would take CPU from it on a two-core machine.
    halves = (
        _halves(work)
        if _standing and not decide and deadline is None and total_bytes >= SPLIT_BYTES
        else None
    )
    sibling: _Order | None = (halves[1], *order[1:7], False) if halves else None
    taken = _take_standby((halves[0], *order[1:7], False) if halves else order, sibling)
    workers = [(taken[0], taken[1]) if taken else _fork_worker(order)]
    if taken and sibling is not None:
        workers.append((_Sibling(), taken[2]))
    inbox, pumps = beside.pump_all([receive for _, receive in workers])
    decode = msgspec.msgpack.Decoder(_Shipment).decode
    batch = _Batch()
    totals: _WorkerTotals | None = None
    ended = [False] * len(workers)
    done_of = [0] * len(workers)
    try:
        while not all(ended):
            which, raw = inbox.get()
            if raw is None:
                if ended[which]:  # its pipe's end after its totals
                    continue
                break
            message = decode(raw)
            if message.totals is not None:
                ended[which] = True
                totals = message.totals if totals is None else _merged(totals, message.totals)
            elif message.progress is not None:
                if progress is not None:
                    # Each worker counts the bytes of its own half against the whole read's.
                    done_of[which] = message.progress[0]
                    progress(sum(done_of), message.progress[1], message.progress[2])
            else:
                batch.clear()
                batch.files.update((f[0], _FileState(*f)) for f in message.files)
                batch.skipped.update({(path, reason): n for path, reason, n in message.skipped})
                batch.restarted.update(message.restarted)
                _write(conn, message.rows or _Rows(), batch, stats)
                committed.written(batch)
    finally:
        beside.end_all(workers, inbox, pumps, done=all(ended))
    if totals is None or not all(ended):
        return False
    stats.lines_read += totals.lines_read
    stats.bytes_read += totals.bytes_read
    stats.usage_lines += totals.usage_lines
    stats.skipped.update(totals.skipped)
    for ts in (totals.first_ts_ms, totals.last_ts_ms):
        if ts is not None:
            stats.first_ts_ms = ts if stats.first_ts_ms is None else min(stats.first_ts_ms, ts)
            stats.last_ts_ms = ts if stats.last_ts_ms is None else max(stats.last_ts_ms, ts)
    stats.errors.extend(totals.errors)
    stats.unpriced.update(totals.unpriced)
    stats.complete = stats.complete and totals.complete
    return True


SPLIT_BYTES = 64 << 20
"""A read of at least this many bytes (without a time budget, on SQLite) is parsed by two workers, each
taking half its files (by bytes), while this process writes both's batches: the parse worker set
the pace of a cold ingest's middle (bench/README, issue 18, nineteenth round)."""


def _halves(work: _Work) -> tuple[_Work, _Work] | None:
    """``work`` cut in two of about as many bytes: its first files, and the rest; None for one file.

    Cut, not dealt file by file: each worker prices every (model, modifiers, UTC day) it meets
    afresh, and a session's files sit together in the walk's order, so dealt halves each met nearly
    every day (+0.3 s of CPU against +0.0-0.13 s for cut halves, bench/README nineteenth round)."""
    total = sum(st.st_size - offset for _, st, _, offset, _ in work)
    seen = 0
    for i, (_, st, _, offset, _) in enumerate(work[:-1]):
        seen += st.st_size - offset
        if seen * 2 >= total:
            return work[: i + 1], work[i + 1 :]
    return (work[:-1], work[-1:]) if len(work) > 1 else None


def _merged(a: _WorkerTotals, b: _WorkerTotals) -> _WorkerTotals:
    """Two workers' totals as one."""
    firsts = [t for t in (a.first_ts_ms, b.first_ts_ms) if t is not None]
    lasts = [t for t in (a.last_ts_ms, b.last_ts_ms) if t is not None]
    return _WorkerTotals(
        a.lines_read + b.lines_read,
        a.bytes_read + b.bytes_read,
        a.usage_lines + b.usage_lines,
        dict(Counter(a.skipped) + Counter(b.skipped)),
        min(firsts) if firsts else None,
        max(lasts) if lasts else None,
        a.errors + b.errors,
        a.complete and b.complete,
        dict(Counter(a.unpriced) + Counter(b.unpriced)),
    )


class _Sibling:
    """The second worker, forked by the standby (not by this process), which cannot kill or reap
    it: killing the standby kills it too (:func:`beside.die_with_parent`), and the standby waits
    for it before leaving and reaps it."""

    def kill(self) -> None:
        """Nothing to do: it ends with the standby, which is killed beside it."""

    def join(self) -> None:
        """Nothing to do: the standby reaps it."""


_Order = tuple[_Work, Pricer, bool, float | None, int, int, bool, bool]
"""What a parse worker is given (:func:`_parse_worker`'s arguments after its pipe ends)."""


def _fork_worker(order: _Order) -> tuple[Any, Any]:
    """Fork a parse worker for ``order``: the process and the pipe end its batches arrive on."""
    return beside.fork_beside(_parse_worker, *order)


@dataclass(slots=True)
class _Standby:
    """A parse worker forked before the rest of its process's start, waiting for its work."""

    process: Any
    orders: Any
    """The sending end of the pipe the worker's :data:`_Order` goes through (or None: dismissed)."""
    receive: Any
    """The receiving end of the pipe its batches come back on."""
    receive_sibling: Any
    """The receiving end of the pipe the batches of the worker it forks for half a large read
    come back on (closed by the standby when its order has no second half)."""


_standing: list[_Standby] = []
"""The early-forked worker, if any (at most one)."""


def stand_by() -> None:
    """Fork the parse worker of a read expected to be large now, before this process's start.

    A cold `cost-mcp ingest` spent ~0.2 s of CPU before its first batch in the worker's pricing
    data (genai-prices' import), forked after the command's imports, the ledger's migrations and
    the walk, while the writer waited: forked first, the worker loads it while this process
    starts, then waits for its work (:func:`_read_beside` sends it). A scan that does not take it
    ends it (:func:`_dismiss_standby`); if this process ends first, the worker sees its orders'
    pipe close and ends too. Only from a process that may fork (:func:`beside.may_fork`).
    """
    if _standing or not beside.may_fork():
        return
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    orders_in, orders = ctx.Pipe(duplex=False)
    receive, send = ctx.Pipe(duplex=False)
    receive_sibling, send_sibling = ctx.Pipe(duplex=False)
    worker = ctx.Process(
        target=_standing_worker,
        args=(orders_in, orders, send, receive, send_sibling, receive_sibling),
        daemon=True,
    )
    with beside.interrupts_held():
        worker.start()
    orders_in.close()
    send.close()
    send_sibling.close()
    _standing.append(_Standby(worker, orders, receive, receive_sibling))


def _standing_worker(
    orders_in: Any, orders: Any, send: Any, receive: Any, send_sibling: Any, receive_sibling: Any
) -> None:
    """The early-forked worker: load the price data, then wait for an order and work it; an order
    with a second half is worked by this worker and a sibling it forks then, both with the data
    loaded."""
    beside.leave_interrupts_to_writer()
    orders.close()  # so that the pipe ends (EOF here) when the process that forked this one does
    receive_sibling.close()  # as receive is in _parse_worker: the writer's end
    gc.disable()  # as the scan does before forking its worker (see _read_work)
    from cost_mcp.pricing import load_price_data

    with contextlib.suppress(Exception):  # a failure shows again where the worker prices
        load_price_data()
    try:
        given: tuple[_Order, _Order | None] | None = orders_in.recv()
    except (EOFError, OSError):
        given = None
    orders_in.close()
    if given is None:
        os._exit(0)
    order, sibling = given
    child = 0
    if sibling is not None:
        me = os.getpid()
        child = os.fork()
        if child == 0:
            # Killed with this worker: the writer, which cannot reach a process it did not fork,
            # ends both on a failure or Ctrl-C by killing this one (beside.end_all).
            beside.die_with_parent(me)
            send.close()
            _parse_worker(send_sibling, receive, *sibling)
    send_sibling.close()
    _parse_worker(send, receive, *order, child=child)


def _take_standby(order: _Order, sibling: _Order | None = None) -> tuple[Any, Any, Any] | None:
    """The early-forked worker, given ``order`` (and ``sibling``, the order of the worker it forks
    for the other half of the read): it and the pipe ends its and its sibling's batches arrive on;
    None when there is none (or it is gone)."""
    if not _standing:
        return None
    standby = _standing.pop()
    try:
        standby.orders.send((order, sibling))
    except Exception:
        # Gone (a broken pipe), or an order that does not pickle (a pricer the worker cannot be
        # sent): a worker forked afresh, as without a standby.
        _end(standby)
        return None
    standby.orders.close()
    if sibling is None:
        standby.receive_sibling.close()
    return standby.process, standby.receive, standby.receive_sibling


def _dismiss_standby() -> None:
    """End an early-forked worker no scan took (a small read, nothing to read, an error)."""
    while _standing:
        _end(_standing.pop())


def _end(standby: _Standby) -> None:
    # Killed rather than told: it may still be loading the price data, and a message would wait
    # for it to finish that.
    standby.process.kill()
    standby.process.join()
    standby.orders.close()
    standby.receive.close()
    standby.receive_sibling.close()


def _parse_worker(
    send: Any,
    receive: Any,
    work: _Work,
    pricer: Pricer,
    report_progress: bool,
    deadline: float | None,
    total_bytes: int,
    max_line_bytes: int,
    decide: bool,
    taper: bool,
    child: int = 0,
) -> None:
    """The forked worker: read the work into batches and send them (see :func:`_read_beside`);
    their rows decided and summed when ``decide``, else left to the writer (:func:`_write`); the
    last batches smaller with ``taper`` (:func:`_tapered`).
    ``child``: the sibling this worker forked, waited for at the end (:func:`beside.ship_then_exit`)."""
    beside.leave_interrupts_to_writer()
    # The fork copied the reading end too: closed here, so that if the writer dies the next send
    # fails (a broken pipe) instead of blocking forever on a pipe this process itself holds open.
    receive.close()
    encode = msgspec.msgpack.Encoder().encode
    stats = ScanStats()
    prices = _Prices(pricer)

    def ship(batch: _Batch) -> None:
        send.send_bytes(
            encode(
                _Shipment(
                    rows=_rows(batch, prices, stats, decide),
                    files=[f.row() for f in batch.files.values()],
                    skipped=[(path, reason, n) for (path, reason), n in batch.skipped.items()],
                    restarted=list(batch.restarted),
                )
            )
        )

    def report(done: int, total: int, text: str) -> None:
        send.send_bytes(encode(_Shipment(progress=(done, total, text))))

    def run() -> None:
        _read_batches(
            work,
            stats,
            report if report_progress else None,
            deadline,
            total_bytes,
            max_line_bytes,
            ship,
            min(FIRST_BATCH_COPIES, BATCH_COPIES),
            taper=taper,
        )
        totals = _WorkerTotals(
            stats.lines_read,
            stats.bytes_read,
            stats.usage_lines,
            dict(stats.skipped),
            stats.first_ts_ms,
            stats.last_ts_ms,
            stats.errors,
            stats.complete,
            dict(stats.unpriced),
        )
        send.send_bytes(encode(_Shipment(totals=totals)))

    beside.ship_then_exit(send, run, child)


def _resume_offset(
    path: str, prev: _FileState | None, st: os.stat_result, stats: ScanStats
) -> tuple[int, bool] | None:
    """Where to start reading a file and whether that is inside a skipped line; None when unchanged."""
    kind, offset, skipping = logfiles.resume(path, prev, st, tails=True)
    if kind == "unchanged":
        stats.files_unchanged += 1
        return None
    if kind == "new":
        stats.files_new += 1
    elif kind == "changed":
        stats.files_changed += 1
    else:
        stats.files_reset += 1
    return offset, skipping


def _read_file(
    path: str,
    st: os.stat_result,
    where: FileIdentity,
    offset: int,
    batch: _Batch,
    stats: ScanStats,
    skipping: bool = False,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> Generator[_FileState]:
    """Stream complete lines from ``offset``; yields the file's state after each line it consumed.

    Yields at most every few thousand lines (and at the end), which is when the caller may flush.
    Reads at most ``max_line_bytes + 1`` bytes at a time: a longer line is counted ``too_long`` once
    and passed over, even while it has no newline yet (``skipping`` carries that to the next scan).
    """
    lines = 0
    if offset == 0:
        batch.restarted.add(path)  # its skipped-line counts start again
    # A larger buffer than the default 8 KiB: lines average ~1 kB but run to megabytes, and
    # readline on a small buffer spends more time refilling and joining than splitting.
    # Not a plain open(): the walk saw a regular file, but one replaced by a pipe since would make
    # open() wait for a writer forever, and every answer with it; one replaced by a link leading out
    # of the folder would be read though the walk never judged it (``listed``).
    with open_regular_file(path, READ_BUFFER, st) as f:
        f.seek(offset)
        # A last line cut by a crash (no newline, the file long unchanged) is read, not held back forever.
        final = st.st_size if logfiles.settled(st) else -1
        reader = LineReader(f, offset, max_line_bytes, skipping, final)
        fd = f.fileno()

        def state() -> _FileState:
            return _FileState(
                path,
                st.st_dev,
                st.st_ino,
                st.st_size,
                st.st_mtime_ns,
                reader.consumed,
                logfiles.checkpoint(fd, reader.consumed),
                reader.skipping,
                where.project,
                where.session_id,
            )

        # The per-line work in locals (usage lines, time range, the batch's dict): attribute and
        # method look-ups on every line were a sizeable share of the Python per usage line.
        copies = batch.copies
        held_copy = copies.get
        usage_lines = 0
        first = last = None
        try:
            for line in reader:
                lines += 1
                if line is None:  # over the cap: counted once, passed over up to its newline
                    stats.skipped["too_long"] += 1
                    batch.skipped[(path, "too_long")] += 1
                    continue
                # An editor's byte-order mark before the first line: that line is still JSON.
                raw = line[len(_BOM) :] if lines == 1 and offset == 0 and line.startswith(_BOM) else line
                try:
                    result = _parse(raw, where)
                except RecursionError:  # parse_line reads such a line again, flattened
                    result = parse_line(raw, where)
                if type(result) is Copy:
                    usage_lines += 1
                    ts = result.ts_ms
                    if first is None or ts < first:
                        first = ts
                    if last is None or ts > last:
                        last = ts
                    if result.extra:
                        batch.add(result)
                    else:  # Batch.add, inline
                        key = (result.message_id, result.request_id, result.is_sidechain)
                        held = held_copy(key)
                        if (
                            held is None
                            or result.total > held.total
                            or (result.total == held.total and result.rank() < held.rank())
                        ):
                            copies[key] = result
                elif result is not None:
                    reason = cast(SkipReason, result)
                    stats.skipped[reason] += 1
                    batch.skipped[(path, reason)] += 1
                if lines % YIELD_EVERY_LINES == 0:
                    yield state()
        finally:
            # Also when the caller stops inside the file (its deadline): what a scan read counts,
            # whether or not it got to the end of the file.
            stats.usage_lines += usage_lines
            stats.lines_read += lines
            stats.bytes_read += reader.consumed - offset
            if first is not None and last is not None:
                stats.first_ts_ms = first if stats.first_ts_ms is None else min(stats.first_ts_ms, first)
                stats.last_ts_ms = last if stats.last_ts_ms is None else max(stats.last_ts_ms, last)
        yield state()


# --- writing -----------------------------------------------------------------------------------


def _flush(conn: Conn, batch: _Batch, prices: _Prices, stats: ScanStats) -> None:
    """Price a batch and write it (see :func:`_write`)."""
    if not batch.copies and not batch.files:
        return
    _write(conn, _rows(batch, prices, stats), batch, stats)


# Where _row puts what the batch's decisions and the rollup's sums need, and the counted flag (last):
# its columns are claude_logs.COPY_COLUMNS, whose token counts are as many as there are kinds.
_COPY = claude_logs.COPY_COLUMNS.split(", ")
_MESSAGE, _REQUEST, _SIDECHAIN, _TS, _SESSION, _TOTAL, _ORIGIN, _COUNTED = map(
    _COPY.index,
    ("message_id", "request_id", "is_sidechain", "ts_ms", "session_id", "total_tokens", "origin", "counted"),
)
_MODEL, _PROJECT, _COST, _REPORTED = map(
    _COPY.index, ("model", "project", "cost_nanos", "reported_cost_nanos")
)
_TOKENS = range(_COPY.index(COLUMNS[0]), _COPY.index(COLUMNS[0]) + len(COLUMNS))
_SUMMED = itemgetter(*_TOKENS, _COST, _REPORTED)
"""What :func:`_sums` adds up of a row: its token counts, then its cost and logged cost."""


class _Rows(msgspec.Struct, array_like=True, gc=False):
    """A batch's rows and what the writer needs of them, made before the write lock is taken (in
    the parse worker on a large read), so the writer's share of a batch is the SQL alone."""

    rows: list[tuple[Any, ...]] = []
    """:func:`_row`'s tuples, each followed by ``counted`` as decided within the batch, for a
    ledger holding none of its messages (the writer corrects the rows of messages it holds)."""
    messages: list[str] = []
    """The batch's distinct message ids."""
    fresh: int = 0
    """How many of ``rows`` are counted."""
    sums: list[tuple[Any, ...]] = []
    """The counted rows summed into the rollup's quarter-hour rows (see :func:`_sums`)."""
    decided: bool = True
    """False: ``rows`` all counted, ``messages``, ``fresh`` and ``sums`` not made yet (see
    :func:`_decided`, which the writer runs)."""


def _rows(batch: _Batch, prices: _Prices, stats: ScanStats, decide: bool = True) -> _Rows:
    """Price a batch's copies into rows and (with ``decide``) decide which count, as if the ledger
    held none of them."""
    rows = [_row(copy, prices, stats) for copy in batch.copies.values()]
    if not decide:
        return _Rows(rows, decided=False)
    # Counted in C from the batch's keys, whose message ids are the rows' in the same order.
    return _decided(rows, Counter(map(itemgetter(0), batch.copies)))


def _decided(rows: list[tuple[Any, ...]], per_message: Counter[str]) -> _Rows:
    """``rows`` (of one batch, every one counted) with the batch's counted decisions and sums."""
    fresh = len(rows) - _uncount_in_batch(rows, per_message)
    return _Rows(rows, list(per_message), fresh, _sums(rows))


def _sums(rows: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The counted ones of ``rows`` (with their counted flag) summed per quarter-hour and key, as
    ``store.rollup`` keeps them: each ``rollup.ROLLUP_KEY`` followed by ``rollup.ROLLUP_SUMS``, the
    same sums its rebuild takes over these rows in SQL.

    The writer adds them to the rollup with the rows instead of having the rollup rebuilt from the
    table after the load (0.3 s for 75k rows, a step nothing else ran beside). Grouped first, then
    each column summed in C: a Python addition per row and column cost more than the grouping.
    """
    groups: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
    quarter = rollup.QUARTER_HOUR_MS
    for row in rows:
        if row[_COUNTED]:
            key = (row[_TS] // quarter, row[_MODEL], row[_PROJECT], row[_SESSION])
            held = groups.get(key)
            if held is None:
                groups[key] = [row]
            else:
                held.append(row)
    sums = []
    for (qh, model, project, session), members in groups.items():
        # Only the summed columns transposed: all of a row's were three times as many tuples.
        *tokens, costs, reported = zip(*map(_SUMMED, members), strict=True)
        summed = rollup.group_sums(tokens, costs, reported)
        sums.append((qh, SOURCE, claude_provider(model), model, project, AGENT, "", session, *summed))
    return sums


def _write(conn: Conn, prepared: _Rows, batch: _Batch, stats: ScanStats) -> None:
    """Write priced rows, their recount, their rollup marks and the file offsets and skipped-line
    counts of ``batch`` they came from, atomically."""
    if not prepared.decided:
        # The rows' message ids in their order are the batch's keys' (see _rows).
        prepared = _decided(prepared.rows, Counter(map(itemgetter(_MESSAGE), prepared.rows)))
    rows = prepared.rows
    if not rows and not batch.files:
        return
    with write_transaction(conn):
        existing = claude_logs.touched_rows(conn, claude_logs.touch(conn, SOURCE, prepared.messages))
        # A message the ledger did not hold has all its rows in this batch (the write lock is
        # held from the look-up on), so which of them count was decided with the batch and is
        # written with them; only messages that were already there are recounted from the table.
        recounted = {m for m, _, _ in existing}
        fresh = prepared.fresh
        held: list[int] = []
        if recounted:
            held = [i for i, row in enumerate(rows) if row[_MESSAGE] in recounted]
            rows = list(rows)
            for i in held:
                fresh -= rows[i][_COUNTED]
                rows[i] = (*rows[i][:_COUNTED], 0)
        claude_logs.upsert_copies(conn, rows, stored_messages=recounted)
        recount(conn, recounted)
        # New calls = counted rows of the touched messages after, minus before: only those
        # messages change, so this costs the batch, not the ledger (a COUNT over every counted
        # row took seconds per scan on a ledger of a million events).
        stats.events_added += _counted_among(conn, recounted) + fresh - sum(c for _, _, c in existing)
        # The batch's counted rows, summed before the lock, go into the rollup as they are. The
        # quarter-hours of recounted messages (a stored row's old time, or the batch copy's when it
        # won) are rebuilt from the table instead, which replaces whatever the sums put there:
        # their rows' flags were decided without the stored copies.
        width = len(rollup.ROLLUP_KEY)
        rollup.add(conn, {g[:width]: list(g[width:]) for g in prepared.sums})
        rollup.mark_dirty(conn, [ts for _, ts, _ in existing] + [rows[i][_TS] for i in held])
        _save_files(conn, batch.files.values())
        skipped_lines.record(conn, batch.restarted, batch.skipped)
        bulk.beat(conn)  # a load with its indexes dropped goes on: others leave them to it


DAY_MS = 86_400_000
_RatesKey = tuple[str, str, str, str, int]
"""(model, speed, service tier, inference geo, UTC day): calls priced alike."""
_DayRates = tuple[Callable[[Counts], int], str, tuple[str, ...], str]
"""A day-stable plan as :func:`_row` reads it: its nanos function, priced model id and assumptions,
and the model's provider; unpacked at once, where reading a CallRates' attributes cost more."""


class _Prices:
    """Each distinct (model, modifiers, UTC day) resolved once for a scan, each call priced from it.

    genai-prices' prices change only at UTC dates, so within one day a model and its modifiers
    have one set of rates; :meth:`Pricer.rates` says when that does not hold (``day_stable``),
    and those calls, like price tables the compiled rates do not model, go through
    :meth:`Pricer.price` one by one. The result is the same number either way.
    """

    def __init__(self, pricer: Pricer) -> None:
        self.pricer = pricer
        self.plans: dict[_RatesKey, CallRates | Unpriced | None] = {}
        self.day_rates: dict[_RatesKey, _DayRates] = {}
        """The plans that price every call of their day alike (nearly all), with their model's
        provider: :func:`_row` prices and stores from these itself, without a call of :meth:`cost`
        per row."""

    def cost(self, copy: Copy) -> tuple[int | None, str | None, tuple[str, ...]]:
        """Nano-USD, the priced model id and the pricing assumptions of one call (None: unpriced)."""
        key = (copy.model, copy.speed, copy.service_tier, copy.inference_geo, copy.ts_ms // DAY_MS)
        plan = self.plans.get(key, False)
        if plan is False:
            plan = self.pricer.rates(
                copy.model,
                claude_provider(copy.model),
                ms_to_datetime(copy.ts_ms),
                speed=copy.speed,
                service_tier=copy.service_tier,
                inference_geo=copy.inference_geo,
            )
            if not isinstance(plan, CallRates) or plan.day_stable:
                self.plans[key] = plan
            if isinstance(plan, CallRates) and plan.day_stable:
                provider = claude_provider(copy.model)
                self.day_rates[key] = (plan.nanos, plan.model_id, plan.assumptions, provider)
        if isinstance(plan, CallRates) and plan.day_stable:
            return plan.nanos(copy.counts), plan.model_id, plan.assumptions
        if isinstance(plan, Unpriced):
            return None, None, ()
        priced = self.pricer.price(
            copy.tokens,
            copy.model,
            claude_provider(copy.model),
            ms_to_datetime(copy.ts_ms),
            speed=copy.speed,
            service_tier=copy.service_tier,
            inference_geo=copy.inference_geo,
        )
        if isinstance(priced, Price):
            return priced.total_nanos, priced.model_id, priced.assumptions
        return None, None, ()


def _row(copy: Copy, prices: _Prices, stats: ScanStats) -> tuple[Any, ...]:
    rates = prices.day_rates.get(
        (copy.model, copy.speed, copy.service_tier, copy.inference_geo, copy.ts_ms // DAY_MS)
    )
    cost: int | None
    priced_model: str | None
    if rates is not None:  # _Prices.cost, inline for the common case
        nanos, priced_model, assumptions, provider = rates
        cost = nanos(copy.counts)
    else:
        cost, priced_model, assumptions = prices.cost(copy)
        provider = claude_provider(copy.model)
    note = copy.note
    if assumptions:
        note = "; ".join(filter(None, (note, *assumptions)))
    if cost is None:
        stats.unpriced[copy.model] += 1
    reported = to_nanos(copy.reported_cost) if copy.reported_cost is not None else None
    # Counted until the batch's decisions say otherwise (_uncount_in_batch): most messages have one
    # copy in a batch, and making every tuple again to append its flag cost more than deciding.
    return (
        SOURCE,
        copy.message_id,
        copy.request_id,
        int(copy.is_sidechain),
        copy.ts_ms,
        provider,
        copy.model,
        copy.session_id,
        copy.project,
        AGENT,
        *copy.counts,
        copy.total,
        copy.speed,
        cost,
        reported,
        priced_model,
        copy.origin,
        copy.service_tier,
        copy.inference_geo,
        note,
        1,
    )


@dataclass(frozen=True, slots=True)
class _Row:
    id: int
    request_id: str
    is_sidechain: bool
    total_tokens: int
    ts_ms: int
    session_id: str
    origin: str


def recount(conn: Conn, message_ids: set[str]) -> None:
    """Mark one row per call as counted, among the rows of the given message ids.

    Copies of one message are one call when their request ids match, when one of them is a
    sidechain replay, or when one has no request id. Non-sidechain copies with distinct request
    ids stay distinct calls (some proxies reuse message ids); the others join the smallest such
    request id. The winner of a call is its copy with the most tokens, then the non-sidechain one.
    """
    if not message_ids:
        return
    rows = claude_logs.touched_copies(conn, claude_logs.touch(conn, SOURCE, message_ids))
    updates: list[tuple[int, int]] = []
    group: list[_Row] = []
    current: str | None = None
    for message_id, row_id, request_id, sidechain, total, ts_ms, session_id, origin in rows:
        if message_id != current and group:
            updates.extend(_winners(group))
            group = []
        current = message_id
        group.append(_Row(row_id, request_id, bool(sidechain), total, ts_ms, session_id, origin))
    if group:
        updates.extend(_winners(group))
    claude_logs.set_counted(conn, updates)


def _winners(rows: list[_Row]) -> Iterator[tuple[int, int]]:
    anchors = sorted({r.request_id for r in rows if r.request_id and not r.is_sidechain})

    def call_of(r: _Row) -> str:
        if not anchors:
            return ""
        return r.request_id if r.request_id in anchors else anchors[0]

    best: dict[str, _Row] = {}
    for r in rows:
        call = call_of(r)
        held = best.get(call)
        if held is None or _call_rank(r) < _call_rank(held):
            best[call] = r
    winners = {r.id for r in best.values()}
    for r in rows:
        yield (1 if r.id in winners else 0), r.id


def _call_rank(r: _Row) -> tuple[int, bool, int, str, str]:
    return (-r.total_tokens, r.is_sidechain, r.ts_ms, r.session_id, r.origin)


def _save_files(conn: Conn, files: Iterable[_FileState]) -> None:
    rows = [f.row() for f in files]
    claude_logs.save_files(conn, rows, datetime.now(UTC).isoformat())


FEW_FILES = 64
"""Up to this many files, a scan reads their stored states by path instead of every file's."""


def _forget_unread(
    conn: Conn, known: Mapping[str, _FileState], found: Container[str], targets: Sequence[Target]
) -> None:
    """Drop the read state of the known files a whole walk of ``targets`` did not find and that are
    read no more (:func:`logfiles.unread`): deleted (their skipped lines stay: the ledger still
    lacks them), or links passed over (their skipped lines go: the file's own path has them)."""
    gone, links = logfiles.unread(known, found, [t.path for t in targets])
    if gone or links:
        with write_transaction(conn):
            claude_logs.forget_files(conn, gone + links)
            skipped_lines.forget(conn, links)


def _known_files(conn: Conn, paths: Sequence[str] | None = None) -> dict[str, _FileState]:
    return {row[0]: _FileState(*row) for row in claude_logs.known_files(conn, paths)}


def _counted_among(conn: Conn, recounted: set[str]) -> int:
    """Counted rows of the recounted messages after a batch's upsert and recount."""
    if not recounted:
        return 0
    return claude_logs.counted_of_touched(conn, claude_logs.touch(conn, SOURCE, recounted))


def _uncount_in_batch(rows: list[tuple[Any, ...]], per_message: Counter[str]) -> int:
    """Set ``counted`` to 0 in the rows of a batch that do not count, for a ledger that holds none
    of its messages; returns how many.

    The same choice :func:`recount` makes from the table (:func:`_winners`: calls anchored on the
    non-sidechain request ids, the best :func:`_call_rank` of each, the first seen on a tie), made
    from the batch's row tuples among the rows of messages with more than one. On the tuples
    themselves: a ``_Row`` per row and a generator per message cost 0.10-0.12 s of the parse
    worker's CPU on the 1x tree (17k rows in such messages).
    """
    several = {message for message, n in per_message.items() if n > 1}
    if not several:
        return 0
    groups: dict[str, list[int]] = {}
    for index, message in enumerate(map(itemgetter(_MESSAGE), rows)):
        if message in several:
            held = groups.get(message)
            if held is None:
                groups[message] = [index]
            else:
                held.append(index)
    uncounted = 0
    for group in groups.values():
        if len(group) == 2:
            # Most such messages (a call and its sidechain or progress copy): two rows are one call
            # unless both are non-sidechain copies with distinct request ids, as _winners has it.
            first, second = rows[group[0]], rows[group[1]]
            if (
                first[_REQUEST]
                and second[_REQUEST]
                and not first[_SIDECHAIN]
                and not second[_SIDECHAIN]
                and first[_REQUEST] != second[_REQUEST]
            ):
                continue
            better = (-second[_TOTAL], second[_SIDECHAIN], second[_TS], second[_SESSION], second[_ORIGIN]) < (
                -first[_TOTAL],
                first[_SIDECHAIN],
                first[_TS],
                first[_SESSION],
                first[_ORIGIN],
            )
            loser = group[0] if better else group[1]
            rows[loser] = (*rows[loser][:_COUNTED], 0)
            uncounted += 1
            continue
        anchors = sorted({rows[i][_REQUEST] for i in group if rows[i][_REQUEST] and not rows[i][_SIDECHAIN]})
        best: dict[str, tuple[tuple[int, int, int, str, str], int]] = {}
        for index in group:
            row = rows[index]
            request = row[_REQUEST]
            call = (request if request in anchors else anchors[0]) if anchors else ""
            rank = (-row[_TOTAL], row[_SIDECHAIN], row[_TS], row[_SESSION], row[_ORIGIN])
            held_best = best.get(call)
            if held_best is None or rank < held_best[0]:
                best[call] = (rank, index)
        winners = {index for _, index in best.values()}
        for index in group:
            if index not in winners:
                rows[index] = (*rows[index][:_COUNTED], 0)
                uncounted += 1
    return uncounted


def _record_state(conn: Conn, stats: ScanStats) -> None:
    """Remember when the logs were checked and what that brought in, for results to show."""
    error = "; ".join(stats.errors[:5]) or None
    if stats.lines_read:
        files = stats.files_new + stats.files_changed + stats.files_reset
        detail = (
            f"read {stats.lines_read:,} new line(s) from {files} file(s): "
            f"{stats.events_added:,} new call(s) in {stats.seconds:.3f}s"
        )
    else:
        detail = f"no new lines ({stats.files_seen:,} file(s) checked in {stats.seconds:.3f}s)"
    if not stats.complete:
        if error is None and last_success(conn, SOURCE) is None:
            # A first read stopped at its time budget (a server's catch-up reads in 2 s chunks) has
            # not read every log: recorded as a check, it made the status line and the hook treat a
            # fraction of the history as the whole for the rest of the catch-up.
            note_reading(conn, SOURCE, _left_text(stats.bytes_pending))
            return
        detail += "; stopped at the time budget, the rest is read next time"
    record_scan(conn, SOURCE, error=error, detail=detail, wait=bool(stats.lines_read))


# --- the entry point ---------------------------------------------------------------------------


@dataclass(slots=True)
class ForgetReport:
    """What forgetting paths removed: the values of ``models.ForgetSummary``, field for field."""

    paths: list[str]
    events_removed: int
    files_forgotten: int
    warnings: list[str] = field(default_factory=list)


@dataclass(slots=True)
class IngestReport:
    """What a scan did: the values of ``models.IngestResult``, field for field and in its order.

    Plain data, so that `cost-mcp ingest` prints its result without importing pydantic and every
    result model (~0.25 s of a ~0.6 s process on an unchanged tree); the MCP tool and the refresh
    turn it into the model (``IngestResult.of``), and ``tests/test_cli_ingest.py`` holds the two
    JSON forms equal."""

    roots: list[str]
    files_seen: int
    files_new: int
    files_changed: int
    files_reread: int
    files_unchanged: int
    lines_read: int
    bytes_read: int
    usage_lines: int
    events_added: int
    duplicates_collapsed: int
    skipped: dict[str, int]
    skipped_files: dict[str, int]
    first_event: str | None
    last_event: str | None
    unpriced_models: dict[str, int]
    complete: bool
    files_pending: int
    bytes_pending: int
    errors: list[str]
    seconds: float
    forgotten: ForgetReport | None = None


def ingest(
    conn: Conn,
    settings: HasCoreSettings,
    pricer: Pricer,
    *,
    paths: Sequence[str] | None = None,
    full: bool = False,
    progress: ProgressCallback | None = None,
    budget_seconds: float | None = None,
    confined: bool = False,
    left: LeftCallback | None = None,
) -> IngestReport:
    """Scan the configured Claude Code folders (or ``paths``) and say what was found.

    Raises InvalidInputError for a named path that does not exist, or (when ``confined``, as for a
    path a model chose) one outside the configured Claude folders. Configured folders that do not
    exist are not an error (a machine may have only one of the defaults); the result then lists
    no roots and the caller can say how to configure them. ``left`` hears what is still to read as
    the read goes (:data:`LeftCallback`).
    """
    refuse_nul("paths", paths or ())
    if paths and confined:
        confine(paths, settings.claude_roots())
    targets = targets_for([Path(p) for p in paths]) if paths else default_targets(settings.claude_roots())
    deadline = time.perf_counter() + budget_seconds if budget_seconds is not None else None
    if last_success(conn, SOURCE) is None:
        progress = _telling_reading(conn, progress)
    stats = scan(
        conn,
        targets,
        pricer,
        full=full,
        progress=progress,
        deadline=deadline,
        max_line_bytes=settings.max_line_bytes,
        record=bool(targets),
        left=left,
    )
    if not targets:
        note_no_folder(conn, settings)
    return _result([str(t.path) for t in targets], stats)


def note_no_folder(conn: Conn, settings: HasCoreSettings) -> None:
    """Record that no Claude Code folder exists to read: a Codex-only user's source list said Claude
    Code was fine, "0 file(s) checked", as if its logs had been read. Still no error (a user may not
    use Claude Code), and recorded as a check, so the status stays current."""
    folders = [r if r.name == "projects" else r / "projects" for r in settings.claude_roots()]
    detail = logfiles.no_folder(
        "Claude Code", folders, "set CLAUDE_CONFIG_DIR if Claude Code's logs are elsewhere"
    )
    record_scan(conn, SOURCE, error=None, detail=detail, wait=False)


READING_NOTE_EVERY = 2.0
"""Seconds between a first read's notes of how far it got (well within source_state.READING_SECONDS)."""


def _telling_reading(conn: Conn, progress: ProgressCallback | None) -> ProgressCallback:
    """``progress``, also noting in the ledger how far a first read got (at once, then every
    :data:`READING_NOTE_EVERY` s): the status line and the hook of a session meanwhile said the
    logs were unread and asked for a `cost-mcp report`, while this very read was under way."""
    if log_marks(conn, [SOURCE]).reading is None:  # else a chunk of the same read, noted already
        note_reading(conn, SOURCE, "just started")
    last = time.monotonic()

    def tell(done: int, total: int, message: str) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= READING_NOTE_EVERY and not conn.in_transaction:
            last = now
            note_reading(conn, SOURCE, _left_text(total - done))
        if progress is not None:
            progress(done, total, message)

    return tell


def _left_text(left_bytes: int) -> str:
    """How far a first read got, as its notes say it: what is left goes down across the chunks of a
    catch-up, where each chunk's own "done of total" starts again."""
    return f"{max(left_bytes, 0) / 1e6:,.1f} MB left"


def _result(roots: list[str], stats: ScanStats, forgotten: ForgetReport | None = None) -> IngestReport:
    return IngestReport(
        roots=roots,
        files_seen=stats.files_seen,
        files_new=stats.files_new,
        files_changed=stats.files_changed,
        files_reread=stats.files_reset,
        files_unchanged=stats.files_unchanged,
        lines_read=stats.lines_read,
        bytes_read=stats.bytes_read,
        usage_lines=stats.usage_lines,
        events_added=stats.events_added,
        duplicates_collapsed=max(stats.usage_lines - stats.events_added, 0),
        skipped={reason: stats.skipped.get(reason, 0) for reason in SKIP_REASONS},
        skipped_files={reason: stats.skipped_files.get(reason, 0) for reason in FILE_SKIP_REASONS},
        first_event=None if stats.first_ts_ms is None else iso_utc(stats.first_ts_ms),
        last_event=None if stats.last_ts_ms is None else iso_utc(stats.last_ts_ms),
        unpriced_models=dict(stats.unpriced),
        complete=stats.complete,
        files_pending=stats.files_pending,
        bytes_pending=stats.bytes_pending,
        errors=stats.errors,
        seconds=round(stats.seconds, 3),
        forgotten=forgotten,
    )


# --- which paths, and undoing one ----------------------------------------------------------------


def refuse_nul(name: str, paths: Iterable[str]) -> None:
    """InvalidInputError when a path (of the argument ``name``) holds a NUL: no file is named so, and
    every look at it (``realpath``, ``stat``) raised ValueError, which a model was told as an
    unexplained "Error executing tool"."""
    if any("\x00" in raw for raw in paths):
        raise InvalidInputError(f"{name}: a path holds a NUL character (\\u0000); send it without")


def confine(paths: Sequence[str], roots: Sequence[Path]) -> None:
    """Raise InvalidInputError unless every path lies inside one of the configured Claude folders.

    Paths are compared after resolving symlinks and ``..``, so neither can lead outside. The check
    comes before any look at the path, so a refused path's existence is not revealed either.
    """
    for raw in paths:
        if not within(raw, roots):
            allowed = [os.path.realpath(root.expanduser()) for root in roots]
            where = ", ".join(allowed) or "none configured"
            raise InvalidInputError(
                f"{raw[:200]!r} is not inside a configured Claude Code folder ({where}); this tool reads "
                "only those. Give one of them or a folder inside it, or have the user add the folder to "
                "CLAUDE_CONFIG_DIR (or run `cost-mcp ingest PATH` themselves)."
            )


def refuse_whole_folders(paths: Sequence[str], roots: Sequence[Path]) -> None:
    """Raise InvalidInputError for a path that holds a configured Claude folder's whole ``projects``
    (the folder itself, ``~``, ``/``...). Forgetting it removes every call read from it, and those
    whose logs Claude Code has since deleted (after ``cleanupPeriodDays``) can never be read back:
    one call by a model, wrong or injected, would erase that history for good. The user can still
    do it at the CLI; a model forgets a project's folder or a file at a time."""
    for raw in paths:
        real = Path(os.path.realpath(Path(raw).expanduser()))
        for root in roots:
            projects = Path(os.path.realpath(root.expanduser() / "projects"))
            if projects.is_relative_to(real):
                raise InvalidInputError(
                    f"{raw[:200]!r} holds every log of the Claude folder {root}: forgetting it would remove "
                    "all its calls, for good where Claude Code has already deleted their logs. Forget one "
                    "project's folder or file instead, or have the user run `cost-mcp ingest --forget PATH`."
                )


def refuse_logs_gone(conn: Conn, paths: Sequence[str]) -> None:
    """Raise InvalidInputError when calls under ``paths`` were read from a file no longer on disk
    (Claude Code deletes transcripts after ``cleanupPeriodDays``): the ledger holds the only record
    of them, and forgetting them could never be undone. A model (wrong, or injected) forgetting
    project after project would erase that history for good; the user can, at the CLI. A file still
    on disk can be forgotten by a model: its calls can be read back."""
    for raw in paths:
        origins = {o for prefix in _prefixes(raw) for o in claude_logs.origins_under(conn, SOURCE, prefix)}
        gone = sorted(o for o in origins if not os.path.isfile(o))
        if gone:
            raise InvalidInputError(
                f"calls under {raw[:200]!r} were read from {len(gone)} log file(s) no longer on disk "
                f"(such as {gone[0][:200]!r}; Claude Code deletes old transcripts): the ledger is all "
                "that is left of them, and forgetting them could not be undone. Leave them, or have the "
                "user run `cost-mcp ingest --forget PATH`."
            )


def _prefixes(path: str) -> list[str]:
    """The spellings a path may have been stored under: as given (absolute) and resolved."""
    given = Path(path).expanduser().absolute()
    forms = [str(given), os.path.realpath(given)]
    return list(dict.fromkeys(f.rstrip("/") or "/" for f in forms))


def forget(
    conn: Conn, settings: HasCoreSettings, pricer: Pricer, paths: Sequence[str], *, confined: bool = False
) -> IngestReport:
    """Remove every usage event read from files under ``paths``, and those files' read state.

    ``confined`` (a path a model chose): a path holding a whole configured Claude folder's logs is
    refused (:func:`refuse_whole_folders`), and so is one holding calls whose log files are gone
    from disk (:func:`refuse_logs_gone`): what a model forgets can always be read back.

    Exact to the event: a stored row is the best copy of a call, and other files may have logged the
    same call. So, in the same transaction, every other known file is marked to be read again from
    the start, and is then re-read here (dedup makes that add nothing twice): a call the forgotten
    files shared with others stays counted, one they alone held is gone. The rollup is rebuilt for
    every quarter-hour touched.
    """
    refuse_nul("forget", paths)
    for raw in paths:
        if not utf8(raw) or not raw.strip():
            raise InvalidInputError(f"{raw[:200]!r} is not a usable path")
    if confined:
        refuse_whole_folders(paths, settings.claude_roots())
        refuse_logs_gone(conn, paths)
    started = time.perf_counter()
    prefixes = [prefix for raw in paths for prefix in _prefixes(raw)]
    removed = files_forgotten = 0
    with rollup.watch(conn) as removals, write_transaction(conn):
        ids = [row for prefix in prefixes for row in claude_logs.copies_from(conn, SOURCE, prefix)]
        rows = {row[0]: row for row in ids}
        claude_logs.delete_rows(conn, rows)
        removed = len(rows)
        recount(conn, {message_id for _, message_id, _ in rows.values()})
        rollup.mark_dirty(conn, [ts for _, _, ts in rows.values()])
        for prefix in prefixes:
            files_forgotten += claude_logs.forget_files_under(conn, prefix)
        if removed:
            # Marked here, not just re-read below: a crash in between must still lead to a re-read.
            claude_logs.reread_all_files(conn)
    stats = ScanStats()
    work: _Work = []
    if removed:
        for state in _known_files(conn).values():
            try:
                st = os.stat(state.path)
            except OSError as exc:
                stats.errors.append(f"{state.path}: {exc.strerror or exc}; calls only it logged stay counted")
                continue
            stats.files_seen += 1
            stats.files_reset += 1
            work.append((state.path, st, _stored_identity(state), 0, False))
    _read_work(conn, work, pricer, stats, started, None, None, settings.max_line_bytes)
    _record_state(conn, stats)
    rollup.refresh_changed(conn, removals)  # the re-read refreshed from its own changes
    warnings = [
        f"{raw} is inside the configured Claude folder {root}: the next scan reads it again. Move or "
        "delete it first to keep it out, or set CLAUDE_CONFIG_DIR to other folders."
        for raw in paths
        for root in settings.claude_roots()
        if Path(os.path.realpath(Path(raw).expanduser())).is_relative_to(os.path.realpath(root.expanduser()))
    ]
    if not removed and not files_forgotten:
        # Most often another agent's log (a Codex rollout): a bare "forgot 0" would read as done.
        warnings.append(
            f"nothing read from Claude Code's logs lies under {', '.join(paths)}: forgetting removes only "
            "the calls read from Claude Code's logs; other agents' calls (Codex, Gemini CLI, OpenCode...) "
            "stay in the ledger, even once their files are deleted"
        )
    summary = ForgetReport(
        paths=[_prefixes(raw)[0] for raw in paths],
        events_removed=removed,
        files_forgotten=files_forgotten,
        warnings=warnings,
    )
    return _result([], stats, summary)


def _stored_identity(state: _FileState) -> FileIdentity:
    """The identity a file was read with; for a state saved before identities were kept, the one a
    scan of its ``projects/`` folder (or else its grandparent) would give."""
    path = Path(state.path)
    if state.project is not None and state.session_id is not None:
        return FileIdentity(path, state.project, state.session_id)
    projects = next((p for p in path.parents if p.name == "projects"), path.parent.parent)
    return identify(path, projects)
