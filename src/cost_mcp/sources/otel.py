"""OTLP payloads (logs, traces, metrics) turned into usage events, priced like record_usage.

What becomes a usage event:
- Claude Code's ``claude_code.api_request`` log events (source ``claude_code_otel``, agent
  ``claude-code``). The dedup key is the API ``request_id``, the value the JSONL log calls
  ``requestId``: while a log copy of that request exists (source ``claude_code``) the OTel copy is
  stored uncounted (``store.otel``; m016, m021), so a call seen both ways counts once.
- Codex ``codex.sse_event`` events of kind ``response.completed`` and Gemini CLI
  ``gemini_cli.api_response`` events (source ``otel``).
- Spans carrying the GenAI semantic conventions (``gen_ai.usage.*``), with the resource's
  ``service.name`` as the agent (source ``otel``). Spans of agent runs and tool calls
  (``gen_ai.operation.name`` = ``invoke_agent``/``create_agent``/``execute_tool``) carry totals of
  the model calls beneath them and are skipped, so are the spans of Claude Code, Codex and Gemini CLI
  (their log events count; names checked against their source, see docs/agent-formats.md).

A call whose event or span names no model is stored unpriced under no model: every answer names it
"(model not reported)" and leaves it out of its amounts, saying so, where rejected it was in no
total and said only in the OTLP answer, which exporters do not show.

Metrics (``claude_code.cost.usage``, ``claude_code.token.usage``) are only kept to flag sessions
where they say more than the events did; they never add to a total.

Nothing here imports MCP or HTTP: :func:`read` turns a decoded request into priced rows without the
ledger, :func:`write` stores them in one transaction, :func:`receive` does both.
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from operator import itemgetter
from typing import Literal, NamedTuple, cast

import msgspec
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality, NumberDataPoint

from cost_mcp.money import NANOS_PER_USD, to_nanos
from cost_mcp.periods import MAX_AHEAD_MS, arrival_time, iso_utc, to_ms
from cost_mcp.pricing import DayPrices, Pricer, Tokens, claude_provider
from cost_mcp.sources.claude_code import MAX_CALL_COST, MAX_ID_CHARS
from cost_mcp.sources.reported import MAX_PAST, normalize_provider
from cost_mcp.store import otel as store
from cost_mcp.store.connection import Conn, without_nul
from cost_mcp.tokens import COLUMNS, MAX_CALL_TOKENS, Counts, of_call, token_total

Signal = Literal["logs", "metrics", "traces"]
Encoding = Literal["protobuf", "json"]

MAX_BODY_BYTES = 4 * 1024 * 1024
"""Largest request body accepted as sent (compressed or not): 413 above it."""
MAX_DECODED_BYTES = 32 * 1024 * 1024
"""Largest body after gunzip: a small gzip bomb must not take the server's memory."""
COUNT_FIRST_BYTES = 1024 * 1024
"""A received body over this (unpacked) has its records counted before it is parsed, here
(:func:`_count_first`) and in a team server's pushes (``push._count``): under it, the parse itself
is bounded. The SDKs' batch of 512 records is ~0.6 MB of Claude Code events, and a laptop's push of
2,000 rows ~0.8 MB (a body under it holds at most ~20k of the smallest rows, ~10 MB decoded), so
what exporters and laptops send is parsed once."""
MAX_RECORDS = 200_000
"""Most log records, spans or metric data points in one request, and most ``{`` in a JSON one (413
above): 390 of the SDKs' 512-record batches, 24 of a Collector's default 8,192. 200k empty records
parse to ~24 MB (0.3 s); 200k ``{}`` in JSON to ~40 MB (1.4 s)."""
MAX_MESSAGES = 1_000_000
"""Most protobuf messages of any kind (records, attributes, their values) in one request (413 above):
a Claude Code event is ~50, so a Collector's batch of 8,192 is ~410k; 1M empty attributes parse to
~50 MB (1.2 s)."""
MAX_DIMENSIONS = 32
MAX_DIMENSION_CHARS = 256
MAX_METRIC_TOKENS = MAX_CALL_TOKENS * 10_000
"""Most tokens one metric point may count (a session's cumulative total: 10,000 calls at the most a
call can count). Above it the point is no real session's, and 2^63 - 1 of them, stored, overflowed
the sums every later gap check makes (SQLite raises on it)."""
MAX_METRIC_COST = MAX_CALL_COST * 10_000
"""Most US dollars one metric point may count, as :data:`MAX_METRIC_TOKENS` for tokens: a cost of
1e308 was a 500 (no 64-bit integer holds it in nano-dollars) that the exporter retried."""

CLAUDE_EVENTS = frozenset({"api_request", "claude_code.api_request"})
CODEX_EVENTS = frozenset({"codex.sse_event", "sse_event"})
GEMINI_EVENTS = frozenset({"gemini_cli.api_response", "api_response"})
SKIPPED_OPERATIONS = frozenset({"invoke_agent", "create_agent", "execute_tool"})
CLAUDE_SERVICE = "claude-code"
GEMINI_SERVICE = "gemini-cli"
TOKEN_METRIC = "claude_code.token.usage"
COST_METRIC = "claude_code.cost.usage"

# Resource attributes that describe the process, not who or what the spend belongs to.
_PROCESS_PREFIXES = ("service.", "telemetry.", "host.", "os.", "process.", "user.", "session.")
# Event attributes worth keeping beside the ledger's columns.
_KEPT_EVENT_ATTRS = (
    "prompt.id",
    "query_source",
    "agent.name",
    "skill.name",
    "plugin.name",
    "marketplace.name",
    "mcp_server.name",
    "mcp_tool.name",
    "effort",
    "organization.id",
    "user.account_id",
    "app.entrypoint",
    "workflow.run_id",
    "workflow.name",
    "team.id",
    "cost_center",
)
_encode_json = msgspec.json.Encoder().encode
_PROVIDER_ALIASES = {
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "gemini": "google",
    "vertex_ai": "google",
    "aws.bedrock": "aws",
    "az.ai.openai": "azure",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "x_ai": "x-ai",
    "mistral_ai": "mistral",
}


class PayloadError(ValueError):
    """The whole request cannot be read: answered with 400 and this message."""


class TooLargeError(ValueError):
    """The request body is over the size limit: answered with 413."""


class UnsupportedCodingError(ValueError):
    """The request body's Content-Encoding is none this server undoes: answered with 415 and an
    ``Accept-Encoding`` naming :data:`CONTENT_CODINGS` (RFC 9110, 15.5.16)."""


CONTENT_CODINGS = ("gzip", "deflate")
"""The Content-Encodings a received body may have besides none (``identity``), each undone by
:func:`inflate` under its limit: the OTLP receiver's, ``/mcp``'s and pushes' one list."""


def compressed(content_encoding: str) -> bool:
    """Whether a body sent with this ``Content-Encoding`` header (empty: none) is compressed, for
    :func:`inflate` to undo; :class:`UnsupportedCodingError` for a coding not in
    :data:`CONTENT_CODINGS`. The OTLP receiver's, ``/mcp``'s and pushes' one reading of the header."""
    coding = content_encoding.strip().lower() or "identity"
    if coding == "identity":
        return False
    if coding in CONTENT_CODINGS:
        return True
    # The header is the client's text: cut, and repr'd so that it cannot end a line of a log.
    raise UnsupportedCodingError(
        f"Content-Encoding {coding[:40]!r} is not supported: send the body as it is, or with "
        f"Content-Encoding {' or '.join(CONTENT_CODINGS)}"
    )


@dataclass
class Outcome:
    """What one OTLP request did: the events stored, what was rejected and why."""

    signal: Signal
    accepted: int = 0
    added: int = 0
    points: int = 0
    rejected: int = 0
    ignored: int = 0
    reasons: list[str] = field(default_factory=list)
    ahead: int = 0
    """Events dated after this server's clock by more than :data:`periods.AHEAD_SAID_MS`, stored at
    their arrival (:func:`periods.arrival_time`), as a team push stores such calls."""
    first_ahead: str = ""

    def reject(self, reason: str, count: int = 1) -> None:
        """Count rejected records (one by default), keeping the first few reasons."""
        self.rejected += count
        if len(self.reasons) < 5 and reason not in self.reasons:
            self.reasons.append(reason)

    def refuse(self, count: int) -> None:
        """Count events left out because another member's call holds their key."""
        held = "1 event has a request id" if count == 1 else f"{count:,} events have request ids"
        self.reject(
            f"{held} another member already sent: not stored, since a call counts for the member "
            "who sent it first",
            count,
        )

    def forgotten(self, count: int) -> None:
        """Count events left out because an admin forgot their calls (``team forget-pushes``)."""
        held = "1 event names a call" if count == 1 else f"{count:,} events name calls"
        self.reject(
            f"{held} a team admin forgot (`cost-mcp team forget-pushes`): not stored again "
            "(`cost-mcp team unforget-pushes` on the server lifts that)",
            count,
        )

    @property
    def error_message(self) -> str:
        """OTLP's partial-success message: why records were rejected, and events stored at their
        arrival for a clock ahead (a warning: OTLP sends one as a message with 0 rejected); empty
        when neither."""
        said = [f"{self.rejected} record(s) rejected: " + "; ".join(self.reasons)] if self.rejected else []
        if self.ahead:
            count = "1 event was" if self.ahead == 1 else f"{self.ahead:,} events were"
            said.append(
                f"{count} dated after this server's clock (first: {self.first_ahead}): stored at the "
                "time the server received them, since no call happens later; check the sending "
                "machine's date and time"
            )
        return "; ".join(said)


# --- decoding -----------------------------------------------------------------------------------


_REQUESTS: dict[Signal, type[Message]] = {
    "logs": ExportLogsServiceRequest,
    "metrics": ExportMetricsServiceRequest,
    "traces": ExportTraceServiceRequest,
}


def decode(signal: Signal, body: bytes, *, encoding: Encoding, gzipped: bool) -> Message:
    """The export request in ``body``; raises PayloadError (400) or TooLargeError (413)."""
    if len(body) > MAX_BODY_BYTES:
        raise TooLargeError(f"request body is {len(body):,} bytes; the limit is {MAX_BODY_BYTES:,}")
    if gzipped:
        body = inflate(body)
    if len(body) > COUNT_FIRST_BYTES:
        _count_first(signal, body, encoding)
    message = _REQUESTS[signal]()
    try:
        if encoding == "json":
            text = body.decode("utf-8")
            _refuse_a_json_non_object(signal, text)
            json_format.Parse(text, message, ignore_unknown_fields=True)
        else:
            message.ParseFromString(body)
    except (DecodeError, json_format.ParseError, UnicodeDecodeError, RecursionError) as exc:
        raise PayloadError(f"not a valid OTLP {signal} export request ({encoding}): {exc}") from None
    return message


_JSON_KINDS: dict[type, str] = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


_OBJECT_START = re.compile(r"[ \t\n\r]*\{")
"""JSON's whitespace then ``{``: matched in place, where ``lstrip`` copied a body of up to 32 MB."""


def _refuse_a_json_non_object(signal: Signal, text: str) -> None:
    """PayloadError for an OTLP/JSON body that is valid JSON but no object (``[]``, ``"x"``, ``1``,
    ``null``): the protobuf parser reads any iterable as a message's fields, so ``[]`` or a string
    was taken as an empty request and answered 200, and ``[{}]`` got a 400 about an unhashable
    dict. A body that is not JSON at all is left to the parser, which says where it breaks."""
    if _OBJECT_START.match(text):
        return  # JSON that begins with "{" is an object, or not JSON (the parser's to say)
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return
    request = cast(Descriptor, _REQUESTS[signal].DESCRIPTOR)
    first = request.fields[0].json_name
    raise PayloadError(
        f"not a valid OTLP {signal} export request (json): the body is {_JSON_KINDS[type(value)]}, "
        f'not an object; send one {request.name} as a JSON object, {{"{first}": [...]}}'
    )


def inflate(body: bytes, limit: int = MAX_DECODED_BYTES) -> bytes:
    """``body`` inflated, every gzip member of it (RFC 1952: a stream may be several, as pigz or an
    exporter flushing members writes it), at most ``limit`` bytes in all (TooLargeError above).
    Only the first member was read, and the records of the others dropped unsaid; bytes after the
    last that are no member are a PayloadError, as a truncated member is. The OTLP receiver's and
    a team server's pushes' one reading of a gzip body."""
    parts: list[bytes] = []
    size = 0
    rest = body
    while True:
        inflater = zlib.decompressobj(wbits=47)  # gzip or zlib (deflate) framing, told apart by header
        try:
            out = inflater.decompress(rest, limit + 1 - size)
        except zlib.error as exc:
            which = "body" if not parts else f"what follows gzip member {len(parts)}"
            raise PayloadError(f"{which} is not the gzip/deflate its Content-Encoding says: {exc}") from None
        size += len(out)
        if size > limit:
            raise TooLargeError(f"request body inflates to more than {limit:,} bytes")
        if not inflater.eof:
            raise PayloadError("gzip body is truncated")
        parts.append(out)
        rest = inflater.unused_data
        if not rest:
            return b"".join(parts)


_RECORD_TYPES = frozenset(
    {
        "opentelemetry.proto.logs.v1.LogRecord",
        "opentelemetry.proto.trace.v1.Span",
        "opentelemetry.proto.metrics.v1.NumberDataPoint",
        "opentelemetry.proto.metrics.v1.HistogramDataPoint",
        "opentelemetry.proto.metrics.v1.ExponentialHistogramDataPoint",
        "opentelemetry.proto.metrics.v1.SummaryDataPoint",
    }
)
_RECORDS: dict[Signal, str] = {"logs": "log records", "metrics": "data points", "traces": "spans"}
MAX_VALUES = 4_000_000
"""Most items of repeated numbers or texts (a histogram's bucket counts and bounds) in one request (413
above): each is a byte or two sent and 8 parsed, so a 33 kB gzip of 32M packed zero bucket counts took
the server 544 MB to parse. An exponential histogram point has at most 2 x 160 buckets: 4M is 12,500
of them."""
_TEXT = -1
"""Width of an item of a repeated text field: one per field, however long."""
_HIGH_BYTES = bytes(range(0x80, 0x100))


class _Fields(dict[int, "tuple[_Fields | None, int]"]):
    """The fields of a message type the count looks at, by number: for a message, the child's fields and
    1 if it is a record (0 if not); for a repeated number or text, None and the bytes one item takes
    packed (0 for a varint, :data:`_TEXT` for a text)."""


_WIDTHS = {FieldDescriptor.TYPE_STRING: _TEXT, FieldDescriptor.TYPE_BYTES: _TEXT}
_WIDTHS.update(
    dict.fromkeys(
        (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FIXED64, FieldDescriptor.TYPE_SFIXED64), 8
    )
)
_WIDTHS.update(
    dict.fromkeys(
        (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_FIXED32, FieldDescriptor.TYPE_SFIXED32), 4
    )
)


def _fields(descriptor: Descriptor, built: dict[str, _Fields], lean: bool) -> _Fields:
    """``descriptor``'s fields for the walk; ``lean``: only those on the way to a record or a repeated
    number (the messages inside records are bounded by :func:`_tags_under` instead)."""
    fields = built.get(descriptor.full_name)
    if fields is None:
        fields = built[descriptor.full_name] = _Fields()  # before the children: AnyValue nests itself
        for f in descriptor.fields:
            if f.message_type is not None:
                child = _fields(f.message_type, built, lean)
                record = f.message_type.full_name in _RECORD_TYPES
                if child or record or not lean:
                    fields[f.number] = (child, record)
            elif f.is_repeated:
                fields[f.number] = (None, _WIDTHS.get(f.type, 0))
    return fields


_built: dict[str, _Fields] = {}
_FIELDS = {
    signal: _fields(cast(Descriptor, request.DESCRIPTOR), _built, False)
    for signal, request in _REQUESTS.items()
}
_built_lean: dict[str, _Fields] = {}
_LEAN = {
    signal: _fields(cast(Descriptor, request.DESCRIPTOR), _built_lean, True)
    for signal, request in _REQUESTS.items()
}


def _not_tags(descriptor: Descriptor) -> bytes:
    """The bytes that cannot begin the tag of a message field of ``descriptor`` or anything inside it:
    a tag's first byte holds the wire type (2, or 3 for a group) and the field number's low 4 bits,
    its high bit set when the tag goes on (a number of 16 or more, or written long)."""
    numbers: set[int] = set()
    seen: set[str] = set()
    todo = [descriptor]
    while todo:
        message = todo.pop()
        if message.full_name not in seen:
            seen.add(message.full_name)
            for f in message.fields:
                if f.message_type is not None:
                    numbers.add(f.number)
                    todo.append(f.message_type)
    tags = {(n & 0x0F) << 3 | kind for n in numbers for kind in (2, 3)}
    return bytes(b for b in range(256) if b & 0x7F not in tags)


_NOT_TAGS = {signal: _not_tags(cast(Descriptor, request.DESCRIPTOR)) for signal, request in _REQUESTS.items()}


def _count_first(signal: Signal, body: bytes, encoding: Encoding) -> None:
    """Refuse a body of more than :data:`MAX_RECORDS` records, :data:`MAX_MESSAGES` messages or
    :data:`MAX_VALUES` repeated numbers before parsing it (413): parsed first, a 7 kB gzip of 4M empty
    log records took the server ~520 MB (~130 bytes each, from 2 bytes sent) and 12 s of CPU. The
    protobuf is walked without building anything: fields that are no message are skipped by their
    length. A body this walk cannot follow is left to the parser, which says what is wrong with it."""
    if encoding == "json":
        # Every record and message is at least one object: `{` over-counts, never under-counts. Arrays
        # count with them: json.loads builds every one before the schema is looked at (a 9 kB gzip of
        # 3M `[]` took ~400 MB and 10 s), and every value after an array's first follows a comma.
        if body.count(b"{") + body.count(b"[") > MAX_RECORDS:
            raise TooLargeError(
                f"over {MAX_RECORDS:,} JSON objects and arrays in one request; send at most "
                f"{MAX_RECORDS:,} {_RECORDS[signal]} a request (the OpenTelemetry SDKs' batches are 512)"
            )
        if body.count(b",") > MAX_MESSAGES:
            raise TooLargeError(
                f"over {MAX_MESSAGES:,} JSON values (array items, object members) in one request; send at "
                f"most {MAX_RECORDS:,} {_RECORDS[signal]} a request (the OpenTelemetry SDKs' batches are 512)"
            )
        return
    # Every message the parser builds starts with the tag of a message field (wire type 2; 3 were it
    # a group, which upb leaves unparsed), so the bytes that can begin one bound the messages. Where
    # that is under the limit (SDK batches of Claude Code events: ~0.16 a byte, up to ~6 MiB), the walk
    # counts only the records and repeated numbers and steps over each record whole: ~2 ms a MiB,
    # where walking every attribute took ~30.
    fields = _LEAN[signal] if _tags_under(signal, body, MAX_MESSAGES) else _FIELDS[signal]
    _walk(signal, body, fields)


def _tags_under(signal: Signal, body: bytes, limit: int) -> bool:
    """Whether at most ``limit`` bytes of ``body`` could begin the tag of a message field (counted in
    64 KiB slices, so the count holds no copy of a 32 MB body, and only until over the limit)."""
    step, delete, count = 1 << 16, _NOT_TAGS[signal], 0
    for start in range(0, len(body), step):
        count += len(body[start : start + step].translate(None, delete))
        if count > limit:
            return False
    return True


def _varints(body: bytes, pos: int, end: int) -> int:
    """How many varints the packed field ``body[pos:end]`` holds: one per byte under 0x80."""
    step = 1 << 16
    return sum(len(body[i : min(i + step, end)].translate(None, _HIGH_BYTES)) for i in range(pos, end, step))


def _walk(signal: Signal, body: bytes, top: _Fields) -> None:
    records = messages = values = 0
    # Depth first, where the walk resumes in each enclosing message: as deep as the nesting, never
    # as long as the records (a stack of 200k siblings took ~28 MB).
    stack: list[tuple[int, int, _Fields]] = []
    pos, end, fields = 0, len(body), top
    try:
        while True:
            if pos >= end:
                if not stack:
                    return
                pos, end, fields = stack.pop()
                continue
            tag = body[pos]
            pos += 1
            if tag >= 0x80:
                tag, pos = _varint(body, pos, tag)
            kind = tag & 7
            if kind == 2:  # length-delimited: a message, text, bytes or packed numbers
                size = body[pos]
                pos += 1
                if size >= 0x80:
                    size, pos = _varint(body, pos, size)
                field = fields.get(tag >> 3)
                if field is None:
                    pos += size
                    continue
                child, width = field
                if child is None:  # repeated numbers or texts: 8 bytes or more each, parsed
                    values += (
                        1 if width == _TEXT else size // width if width else _varints(body, pos, pos + size)
                    )
                    if values > MAX_VALUES:
                        raise TooLargeError(
                            f"over {MAX_VALUES:,} repeated numbers (histogram bucket counts and bounds) in "
                            f"one request; send fewer {_RECORDS[signal]} a request"
                        )
                    pos += size
                    continue
                messages += 1
                records += width
                if records > MAX_RECORDS or messages > MAX_MESSAGES:
                    raise TooLargeError(
                        f"over {MAX_RECORDS:,} {_RECORDS[signal]} or {MAX_MESSAGES:,} messages "
                        f"in one request; send at most {MAX_RECORDS:,} {_RECORDS[signal]} a "
                        "request (the OpenTelemetry SDKs' batches are 512)"
                    )
                if child:
                    stack.append((pos + size, end, fields))
                    end, fields = pos + size, child
                else:  # nothing inside to count (the lean walk's records): stepped over whole
                    pos += size
                continue
            if kind == 0:
                while body[pos] >= 0x80:
                    pos += 1
                pos += 1
            elif kind == 1:
                pos += 8
            elif kind == 5:
                pos += 4
            else:
                # Groups (3, 4) are parsed as unknown fields, and this walk cannot skip them.
                raise PayloadError(
                    f"not a valid OTLP {signal} export request (protobuf): wire type {kind} "
                    "(a group, which OTLP does not use, or no wire type at all)"
                )
            field = fields.get(tag >> 3)
            if field is not None and field[0] is None:  # one item of a repeated number, unpacked
                values += 1
                if values > MAX_VALUES:
                    raise TooLargeError(
                        f"over {MAX_VALUES:,} repeated numbers (histogram bucket counts and bounds) in "
                        f"one request; send fewer {_RECORDS[signal]} a request"
                    )
    except IndexError:
        return  # truncated: the parser refuses it


def _varint(body: bytes, pos: int, first: int) -> tuple[int, int]:
    """The varint whose first byte (``first``) came before ``pos``, and the position after it."""
    value, shift = first & 0x7F, 7
    while True:
        byte = body[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise IndexError  # longer than any varint: the parser refuses it


def response_body(signal: Signal, outcome: Outcome, *, encoding: Encoding) -> bytes:
    """The OTLP export response, with partial_success filled in when records were rejected or
    stored at their arrival (a warning)."""
    message: Message
    if signal == "logs":
        message = ExportLogsServiceResponse()
        if outcome.rejected or outcome.ahead:
            message.partial_success.rejected_log_records = outcome.rejected
            message.partial_success.error_message = outcome.error_message
    elif signal == "traces":
        message = ExportTraceServiceResponse()
        if outcome.rejected or outcome.ahead:
            message.partial_success.rejected_spans = outcome.rejected
            message.partial_success.error_message = outcome.error_message
    else:
        message = ExportMetricsServiceResponse()
        if outcome.rejected or outcome.ahead:
            message.partial_success.rejected_data_points = outcome.rejected
            message.partial_success.error_message = outcome.error_message
    if encoding == "json":
        return str(json_format.MessageToJson(message, indent=None)).encode()
    return bytes(message.SerializeToString())


# --- attributes ---------------------------------------------------------------------------------


_SCALARS = frozenset({"string_value", "int_value", "double_value", "bool_value"})


def attributes(kvs: Iterable[KeyValue]) -> dict[str, object]:
    """OTLP attributes as a plain dict of scalar values (arrays, maps and bytes read as None)."""
    out: dict[str, object] = {}
    for kv in kvs:
        v: AnyValue = kv.value
        # Most attributes are non-empty strings: one read answers them, where WhichOneof + getattr
        # costs two calls into upb (the receiver's hottest loop, ~14 attributes per event).
        text = v.string_value
        if text:
            # A NUL (which PostgreSQL cannot store in text) failed the whole request with a 500,
            # which exporters retry and then drop, with every other record of the batch.
            out[kv.key] = text if "\x00" not in text else without_nul(text)
            continue
        # Token counts are the next most common: a non-zero int_value is the one set (a oneof).
        number = v.int_value
        if number:
            out[kv.key] = number
            continue
        kind = v.WhichOneof("value")
        out[kv.key] = getattr(v, kind) if kind in _SCALARS else None
    return out


class _BadRecordError(ValueError):
    pass


def _count(attrs: Mapping[str, object], *names: str) -> int:
    """A token count from the first present attribute: an integer, or a string/float holding one,
    at most :data:`MAX_CALL_TOKENS` (beyond it the record is not a real call, and its count could
    overflow the ledger's sums for every query after it)."""
    if len(names) == 1:
        # The usual case, answered without the loop: one attribute holding a plain int.
        raw = attrs.get(names[0])
        if type(raw) is int and 0 <= raw <= MAX_CALL_TOKENS:
            return raw
    for name in names:
        raw = attrs.get(name)
        if raw is None or raw == "":
            continue
        if isinstance(raw, bool):
            raise _BadRecordError(f"{name} is not a whole number")
        if isinstance(raw, int):
            value = raw
        elif isinstance(raw, float) and raw.is_integer():
            value = int(raw)
        elif isinstance(raw, str) and raw.strip().isdigit():
            value = int(raw.strip())
        else:
            raise _BadRecordError(f"{name} is not a whole number: {str(raw)[:40]!r}")
        if value < 0:
            raise _BadRecordError(f"{name} is negative")
        if value > MAX_CALL_TOKENS:
            raise _BadRecordError(f"{name} is {value:,}, more than one call can count ({MAX_CALL_TOKENS:,})")
        return value
    return 0


def _text(attrs: Mapping[str, object], *names: str) -> str:
    for name in names:
        raw = attrs.get(name)
        if isinstance(raw, str) and raw:
            return raw[:MAX_ID_CHARS]
    return ""


_PLAIN_USD = re.compile(r"(\d{1,15})(?:\.(\d{1,9}))?", re.ASCII)
"""An amount Decimal would read exactly to the nano-dollar: digits, and at most nine decimals."""
_MAX_CALL_NANOS = to_nanos(MAX_CALL_COST)


def _usd(attrs: Mapping[str, object]) -> int | None:
    """Claude Code's own cost estimate, in nano-USD (micros preferred: they are exact)."""
    micros = attrs.get("cost_usd_micros")
    if type(micros) is int and 0 <= micros * 1000 <= _MAX_CALL_NANOS:
        return micros * 1000
    cost = attrs.get("cost_usd")
    if (micros is None or micros == "") and cost is not None and cost != "":
        # The usual amount ("0.0123", or a double's repr) in integers: Decimal and its rounding
        # cost ~1 µs an event for a number that has no digit below a nano-dollar.
        plain = _PLAIN_USD.fullmatch(cost if type(cost) is str else str(cost))
        if plain is not None:
            whole, decimals = plain.groups()
            nanos = int(whole) * NANOS_PER_USD
            if decimals:
                nanos += int(decimals) * 10 ** (9 - len(decimals))
            if nanos > _MAX_CALL_NANOS:
                raise _BadRecordError("cost_usd is negative, not finite or absurd")
            return nanos
    try:
        if micros is not None and micros != "":
            value = Decimal(str(micros)) / 1_000_000
        elif cost is not None and cost != "":
            value = Decimal(str(cost))
        else:
            return None
    except InvalidOperation:
        raise _BadRecordError("cost_usd is not a number") from None
    if not (value.is_finite() and 0 <= value <= MAX_CALL_COST):
        raise _BadRecordError("cost_usd is negative, not finite or absurd")
    return to_nanos(value)


class _Window(NamedTuple):
    """The instants a call may be dated at: up to MAX_PAST before the request and MAX_AHEAD_MS
    after it (a sender's clock ahead: :func:`_at_arrival` stores such a call at its arrival)."""

    earliest: datetime
    latest: datetime


def _window(now: datetime) -> _Window:
    return _Window(now - MAX_PAST, now + timedelta(milliseconds=MAX_AHEAD_MS))


def _when(attrs: Mapping[str, object], time_unix_nano: int, window: _Window) -> int:
    stamp = attrs.get("event.timestamp")
    when: datetime | None = None
    if isinstance(stamp, str) and stamp:
        try:
            when = datetime.fromisoformat(stamp)  # a trailing Z is read as UTC since Python 3.11
        except ValueError:
            raise _BadRecordError(f"event.timestamp is not ISO 8601: {stamp[:40]!r}") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
    elif time_unix_nano:
        when = datetime.fromtimestamp(time_unix_nano / 1e9, UTC)
    if when is None:
        raise _BadRecordError("no timestamp")
    if when > window.latest:
        raise _BadRecordError(f"timestamp {when.isoformat()} is more than a day after this server's clock")
    if when < window.earliest:
        raise _BadRecordError(f"timestamp {when.isoformat()} is more than a year old")
    return int(when.timestamp() * 1000)


def resource_dimensions(resource: Mapping[str, object]) -> dict[str, str]:
    """The resource attributes kept as dimensions (team.id, cost_center...): all but the process's."""
    return {
        key[:MAX_DIMENSION_CHARS]: str(value)[:MAX_DIMENSION_CHARS]
        for key, value in resource.items()
        if value is not None and not key.startswith(_PROCESS_PREFIXES)
    }


_KEPT_EVENT_KEYS = frozenset(_KEPT_EVENT_ATTRS)


def _dimensions(base: Mapping[str, str], attrs: Mapping[str, object]) -> str:
    kept = dict(base)
    # An event carries a few of the sixteen, if any: found in one pass in C over its attributes,
    # then kept in _KEPT_EVENT_ATTRS's order (sixteen dict look-ups an event cost ~0.5 µs).
    present = _KEPT_EVENT_KEYS.intersection(attrs)
    if present:
        for key in _KEPT_EVENT_ATTRS:
            if key in present:
                value = attrs[key]
                if value is not None and value != "":
                    kept[key] = str(value)[:MAX_DIMENSION_CHARS]
    if not kept:
        return ""
    if len(kept) > MAX_DIMENSIONS:
        kept = dict(list(kept.items())[:MAX_DIMENSIONS])
    # msgspec: the same compact JSON (UTF-8 kept as is) at a tenth of json.dumps's cost per event.
    return _encode_json(kept).decode()


def _hash_key(*parts: object) -> str:
    text = "\x1f".join(str(p) for p in parts)
    return "otel:" + hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


# --- records to events --------------------------------------------------------------------------


_row_counts = itemgetter(*(COLUMNS.index(c) for c in store.ROW_KINDS))
"""Of a call's counts, the kinds an OTLP event row holds, in its order."""


class _Call(NamedTuple):
    # A tuple: built once per event, and a frozen dataclass's __init__ costs several times more.
    source: str
    key: str
    request_id: str
    ts_ms: int
    provider: str | None
    model: str
    session_id: str
    agent: str
    member: str
    counts: Counts
    speed: str
    reported_cost_nanos: int | None
    dimensions: str


def _member(attrs: Mapping[str, object], resource: Mapping[str, object]) -> str:
    member = _text(attrs, "user.email", "user.account_id") or _text(resource, "user.email", "user.account_id")
    # Tokens, JWTs, teams and budgets keep an email lower-cased: kept as sent, an identity provider's
    # "Ana@Example.com" was a second member that her budgets and her own view never counted. An
    # account id (no @) is an opaque id, kept as it is.
    return member.strip().lower() if "@" in member else member


def _event_name(record_attrs: Mapping[str, object], record: LogRecord) -> str:
    name = record_attrs.get("event.name")
    if isinstance(name, str) and name:
        return name
    # Read from the record only now: each field read builds a Python object.
    if record.event_name:
        return record.event_name
    body = record.body
    return body.string_value if body.WhichOneof("value") == "string_value" else ""


_SPEEDS = frozenset({"fast", "normal", "standard"})


def _claude_call(
    attrs: Mapping[str, object],
    resource: Mapping[str, object],
    base: Mapping[str, str],
    time_ns: int,
    window: _Window,
) -> _Call:
    """One ``api_request`` event: the receiver's hottest path, so each attribute is read inline
    when it holds what it usually does (a plain string or int) and through _text/_count, with
    their fallbacks and reasons, when it does not; the result is the same."""
    get = attrs.get
    model = get("model")
    # None named: still a call, stored unpriced under no model as a GenAI span is (_span_call).
    model = model[:MAX_ID_CHARS] if type(model) is str and model else _text(attrs, "gen_ai.request.model")
    # OTel gives no 5-minute/1-hour split; the JSONL copy (which wins when present) has it.
    fresh = get("input_tokens")
    if type(fresh) is not int or not 0 <= fresh <= MAX_CALL_TOKENS:
        fresh = _count(attrs, "input_tokens")
    read = get("cache_read_tokens")
    if type(read) is not int or not 0 <= read <= MAX_CALL_TOKENS:
        read = _count(attrs, "cache_read_tokens")
    written = get("cache_creation_tokens")
    if type(written) is not int or not 0 <= written <= MAX_CALL_TOKENS:
        written = _count(attrs, "cache_creation_tokens")
    output = get("output_tokens")
    if type(output) is not int or not 0 <= output <= MAX_CALL_TOKENS:
        output = _count(attrs, "output_tokens")
    counts: Counts = (fresh, output, read, written, 0, 0)  # in KINDS order
    ts_ms = _when(attrs, time_ns, window)
    session = get("session.id")
    session = session[:MAX_ID_CHARS] if type(session) is str and session else _text(resource, "session.id")
    request_id = get("request_id")
    if type(request_id) is str and request_id:
        key = request_id = request_id[:MAX_ID_CHARS]
    else:
        request_id = _text(attrs, "gen_ai.response.id")
        if request_id:
            key = request_id
        else:
            tokens = Tokens(input=fresh, output=output, cache_read=read, cache_write_5m=written)
            key = _hash_key(session, _text(attrs, "event.sequence"), ts_ms, model, tokens)
    speed = get("speed")
    return _Call(
        store.CLAUDE_SOURCE,
        key,
        request_id,
        ts_ms,
        claude_provider(model),  # Bedrock's and Vertex's ids are the clouds' that bill them
        model,
        session,
        CLAUDE_SERVICE,
        _member(attrs, resource),
        counts,
        speed if speed in _SPEEDS else "",
        _usd(attrs),
        _dimensions(base, attrs),
    )


def _log_call(
    name: str,
    attrs: Mapping[str, object],
    resource: Mapping[str, object],
    base: Mapping[str, str],
    time_ns: int,
    window: _Window,
) -> _Call | None:
    if name in CLAUDE_EVENTS:
        return _claude_call(attrs, resource, base, time_ns, window)
    if name in CODEX_EVENTS:
        if _text(attrs, "event.kind") != "response.completed":
            return None
        if "input_token_count" not in attrs and "output_token_count" not in attrs:
            return None  # Codex's see_event_completed_failed: a completion that failed, no usage
        # OpenAI counts cached input inside input, and reasoning inside output. Codex sends the
        # input and output counts as strings (Display-formatted), cached and reasoning as ints, and
        # its tool_token_count is the call's total_tokens: not read, it would count twice.
        total_in = _count(attrs, "input_token_count")
        cached = min(_count(attrs, "cached_token_count"), total_in)
        return _generic(
            attrs,
            resource,
            base,
            time_ns,
            window,
            provider="openai",
            default_agent="codex",
            session=(_text(attrs, "conversation.id", "session.id") or _text(resource, "session.id")),
            tokens=Tokens(
                input=total_in - cached, cache_read=cached, output=_count(attrs, "output_token_count")
            ),
            request_id="",
        )
    if name in GEMINI_EVENTS:
        # Gemini counts cached content inside the prompt; thoughts and tool prompts are billed on top.
        total_in = _count(attrs, "input_token_count") + _count(attrs, "tool_token_count")
        cached = min(_count(attrs, "cached_content_token_count"), total_in)
        return _generic(
            attrs,
            resource,
            base,
            time_ns,
            window,
            provider="google",
            default_agent="gemini-cli",
            session=(_text(attrs, "session.id") or _text(resource, "session.id")),
            tokens=Tokens(
                input=total_in - cached,
                cache_read=cached,
                output=_count(attrs, "output_token_count") + _count(attrs, "thoughts_token_count"),
            ),
            request_id=_text(attrs, "response_id", "gen_ai.response.id"),
        )
    return None


def _generic(
    attrs: Mapping[str, object],
    resource: Mapping[str, object],
    base: Mapping[str, str],
    time_ns: int,
    window: _Window,
    *,
    provider: str | None,
    default_agent: str,
    session: str,
    tokens: Tokens,
    request_id: str,
) -> _Call:
    # A token event naming no model is still a call: stored unpriced, as a GenAI span is (_span_call).
    model = _text(attrs, "model", "gen_ai.response.model", "gen_ai.request.model")
    ts_ms = _when(attrs, time_ns, window)
    # The names the local log readers give these agents, so group_by agent shows one row for each.
    agent = default_agent
    key = _hash_key(agent, session, request_id, time_ns, ts_ms, model, tokens, _text(attrs, "prompt_id"))
    return _Call(
        source=store.GENERIC_SOURCE,
        key=key,
        request_id=request_id,
        ts_ms=ts_ms,
        provider=provider,
        model=model,
        session_id=session,
        agent=agent,
        member=_member(attrs, resource),
        counts=of_call(tokens),
        speed="",
        reported_cost_nanos=None,
        dimensions=_dimensions(base, attrs),
    )


def _logs_its_calls(service: str, attrs: Mapping[str, object]) -> bool:
    """Whether a span comes from an agent whose log events already count each call: Claude Code,
    Codex (its ``handle_responses`` span carries ``gen_ai.usage.*`` and ``codex.usage.*`` but no
    model; service name its originator, ``codex_cli_rs``, ``codex-tui``…) and Gemini CLI (its
    ``llm_call`` spans carry ``gen_ai.usage.*`` and ``gen_ai.agent.name`` = ``gemini-cli``)."""
    return (
        service in (CLAUDE_SERVICE, GEMINI_SERVICE)
        or service.lower().startswith("codex")
        or attrs.get("gen_ai.agent.name") == GEMINI_SERVICE
        or "codex.usage.total_tokens" in attrs
        or "codex.usage.reasoning_output_tokens" in attrs
    )


def _span_call(
    attrs: Mapping[str, object],
    resource: Mapping[str, object],
    base: Mapping[str, str],
    trace_id: bytes,
    span_id: bytes,
) -> _Call | None:
    if "gen_ai.usage.input_tokens" not in attrs and "gen_ai.usage.output_tokens" not in attrs:
        return None
    if _text(attrs, "gen_ai.operation.name") in SKIPPED_OPERATIONS:
        return None
    agent = _text(resource, "service.name") or "unknown_service"
    if _logs_its_calls(agent, attrs):
        return None  # its log events are the record of these calls
    # The model that answered is what was billed; the requested alias is the fallback. A span naming
    # neither (GitHub Copilot's may not) is still a call: stored unpriced under no model, which every
    # answer names "(model not reported)" and leaves out of its amounts, saying so. Rejected, it was
    # in no total, said only in the OTLP answer, which exporters do not show.
    model = _text(attrs, "gen_ai.response.model", "gen_ai.request.model")
    raw_provider = _text(attrs, "gen_ai.provider.name", "gen_ai.system").lower()
    provider = _PROVIDER_ALIASES.get(raw_provider, raw_provider) or None
    # The conventions count cache reads and writes inside gen_ai.usage.input_tokens.
    total_in = _count(attrs, "gen_ai.usage.input_tokens")
    read = _count(attrs, "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens")
    write = _count(
        attrs, "gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_creation_input_tokens"
    )
    if read + write > total_in:
        raise _BadRecordError("GenAI span has more cache tokens than input tokens")
    tokens = Tokens(
        input=total_in - read - write,
        output=_count(attrs, "gen_ai.usage.output_tokens"),
        cache_read=read,
        cache_write_5m=write,
    )
    return _Call(
        source=store.GENERIC_SOURCE,
        key="span:" + trace_id.hex() + ":" + span_id.hex(),
        request_id=_text(attrs, "gen_ai.response.id"),
        ts_ms=0,  # filled from the span's end time by the caller
        provider=provider,
        model=model,
        session_id=_text(attrs, "session.id", "gen_ai.conversation.id") or _text(resource, "session.id"),
        agent=agent,
        member=_member(attrs, resource),
        counts=of_call(tokens),
        speed="",
        reported_cost_nanos=None,
        dimensions=_dimensions(base, attrs),
    )


def _price(
    calls: Sequence[_Call],
    pricer: Pricer,
    member: str | None = None,
    *,
    reported: bool = True,
) -> list[store.Row]:
    """The calls as stored rows, priced; ``member``, when given, is every row's member; without
    ``reported`` the cost an event reports is not kept (see :func:`read`)."""
    # One batch is mostly a few models on a day or two: each (model, provider, speed, day) is
    # resolved once and every call priced from its rates, the same nano-dollars as Pricer.price.
    prices = DayPrices(pricer)
    providers: dict[str, str] = {}
    rows: list[store.Row] = []
    append = rows.append
    # Unpacked in the loop header: one step, where reading 13 fields by name costs ~0.4 µs a call.
    for (
        source,
        key,
        request_id,
        ts_ms,
        sent_provider,
        model,
        session_id,
        agent,
        sent_member,
        n,
        speed,
        reported_cost_nanos,
        dimensions,
    ) in calls:
        provider: str | None = None
        if sent_provider:
            provider = providers.get(sent_provider)
            if provider is None:
                provider = providers[sent_provider] = normalize_provider(sent_provider)
        priced = prices.cost(n, model, provider, ts_ms, "fast" if speed == "fast" else None)
        # A plain tuple in EventRow's order (see store.otel.Row).
        append(
            (
                source,
                key,
                request_id,
                ts_ms,
                provider or (priced[2] if priced else "unknown"),
                model,
                session_id,
                agent,
                sent_member if member is None else member,
                *_row_counts(n),
                token_total(n),
                speed,
                priced[0] if priced else None,
                reported_cost_nanos if reported else None,
                priced[1] if priced else None,
                dimensions,
            )
        )
    return rows


def _at_arrival(calls: list[_Call], now_ms: int, outcome: Outcome) -> list[_Call]:
    """The calls with those dated after ``now_ms`` (a sender's clock ahead, up to a day: the window
    refused later) moved to it, as a team push stores them (:func:`periods.arrival_time`). Their
    keys keep the time they were sent with, so an exporter's retry, received later, is the same call."""
    if all(c.ts_ms <= now_ms for c in calls):
        return calls  # the usual batch: nothing to move
    moved: list[_Call] = []
    for call in calls:
        arrived = arrival_time(call.ts_ms, now_ms)
        if arrived is None or arrived[0] == call.ts_ms:
            moved.append(call)
            continue
        if arrived[1]:
            outcome.ahead += 1
            outcome.first_ahead = outcome.first_ahead or iso_utc(call.ts_ms)
        moved.append(call._replace(ts_ms=arrived[0]))
    return moved


def _logs(request: ExportLogsServiceRequest, window: _Window, outcome: Outcome) -> list[_Call]:
    calls: list[_Call] = []
    for rl in request.resource_logs:
        resource = attributes(rl.resource.attributes)
        base = resource_dimensions(resource)
        for sl in rl.scope_logs:
            for record in sl.log_records:
                attrs = attributes(record.attributes)
                name = attrs.get("event.name")
                if type(name) is not str or not name:
                    name = _event_name(attrs, record)
                try:
                    call = _log_call(name, attrs, resource, base, record.time_unix_nano, window)
                except _BadRecordError as exc:
                    outcome.reject(f"{name or 'log record'}: {exc}")
                    continue
                if call is None:
                    outcome.ignored += 1
                else:
                    calls.append(call)
    return calls


def _spans(request: ExportTraceServiceRequest, window: _Window, outcome: Outcome) -> list[_Call]:
    calls: list[_Call] = []
    for rs in request.resource_spans:
        resource = attributes(rs.resource.attributes)
        base = resource_dimensions(resource)
        for ss in rs.scope_spans:
            for span in ss.spans:
                attrs = attributes(span.attributes)
                try:
                    call = _span_call(attrs, resource, base, span.trace_id, span.span_id)
                    if call is not None:
                        stamp = span.end_time_unix_nano or span.start_time_unix_nano
                        call = call._replace(ts_ms=_when({}, stamp, window))
                except _BadRecordError as exc:
                    outcome.reject(f"span {span.name[:60]!r}: {exc}")
                    continue
                if call is None:
                    outcome.ignored += 1
                else:
                    calls.append(call)
    return calls


def _points(
    request: ExportMetricsServiceRequest, window: _Window, outcome: Outcome, member: str | None
) -> list[store.MetricPoint]:
    points: list[store.MetricPoint] = []
    for rm in request.resource_metrics:
        resource = attributes(rm.resource.attributes)
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name not in (TOKEN_METRIC, COST_METRIC) or metric.WhichOneof("data") != "sum":
                    outcome.ignored += len(getattr(metric, metric.WhichOneof("data") or "sum").data_points)
                    continue
                cumulative = (
                    metric.sum.aggregation_temporality
                    == AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
                )
                for dp in metric.sum.data_points:
                    try:
                        points.append(_point(metric.name, dp, resource, cumulative, window, member))
                    except _BadRecordError as exc:
                        outcome.reject(f"{metric.name}: {exc}")
    return points


def _point(
    name: str,
    dp: NumberDataPoint,
    resource: Mapping[str, object],
    cumulative: bool,
    window: _Window,
    member: str | None,
) -> store.MetricPoint:
    attrs = attributes(dp.attributes)
    raw: Decimal | int = dp.as_int if dp.WhichOneof("value") == "as_int" else Decimal(repr(dp.as_double))
    if not isinstance(raw, int) and not raw.is_finite():
        raise _BadRecordError("value is not finite")
    if raw < 0:
        raise _BadRecordError("value is negative")
    if raw > (MAX_METRIC_TOKENS if name == TOKEN_METRIC else MAX_METRIC_COST):
        raise _BadRecordError(f"value {raw:.6g} is more than a session can count")
    # Dated as log events are (a year back, a day ahead): a point of 2^64 - 1 ns did not fit the
    # ledger's 64-bit columns, a 500 for its whole batch. A start after the point's own time is no
    # series' start.
    _when({}, dp.time_unix_nano, window)
    if cumulative and dp.start_time_unix_nano > dp.time_unix_nano:
        raise _BadRecordError("start time is after the point's time")
    identity = json.dumps([name, sorted(resource.items()), sorted(attrs.items())], default=str)
    stream = hashlib.sha1(identity.encode(), usedforsecurity=False).hexdigest()
    point = dp.start_time_unix_nano if cumulative else dp.time_unix_nano
    is_tokens = name == TOKEN_METRIC
    return store.MetricPoint(
        stream=stream,
        point=point,
        metric=name,
        session_id=_text(attrs, "session.id") or _text(resource, "session.id"),
        time_ms=dp.time_unix_nano // 1_000_000,
        tokens=int(raw) if is_tokens else 0,
        cost_nanos=0 if is_tokens else to_nanos(Decimal(raw)),
        # The token's member whatever the point says, as for events: whose answers warn of it.
        member=_member(attrs, resource) if member is None else member,
    )


# --- the entry point ----------------------------------------------------------------------------


class Received(NamedTuple):
    """One export request read and priced, not yet written: what :func:`write` stores."""

    outcome: Outcome
    events: list[store.Row]
    points: list[store.MetricPoint]


def read(
    pricer: Pricer,
    signal: Signal,
    request: Message,
    *,
    now: datetime | None = None,
    member: str | None = None,
    reported_costs: bool = True,
) -> Received:
    """Turn one decoded export request into priced usage events (or metric points), without the
    ledger: a server does this outside its ledger lock, so one request is read while another is
    written (SQLite works without the GIL). Records that cannot be read are counted as rejected
    with a reason. ``member`` (a team member's token) is every event's member, whatever the events say.

    ``reported_costs=False`` (a server that authenticates its senders) keeps no cost an event
    reports (Claude Code's ``cost_usd``): in the default cost mode a reported cost counts instead of
    the price, and a sender must not set what their own calls cost. The server's price counts."""
    now = now or datetime.now(UTC)
    window = _window(now)
    outcome = Outcome(signal)
    events: list[store.Row] = []
    points: list[store.MetricPoint] = []
    if isinstance(request, ExportLogsServiceRequest):
        calls = _at_arrival(_logs(request, window, outcome), to_ms(now), outcome)
        events = _price(calls, pricer, member, reported=reported_costs)
    elif isinstance(request, ExportTraceServiceRequest):
        calls = _at_arrival(_spans(request, window, outcome), to_ms(now), outcome)
        events = _price(calls, pricer, member, reported=reported_costs)
    elif isinstance(request, ExportMetricsServiceRequest):
        points = _points(request, window, outcome, member)
    outcome.accepted = len(events)
    outcome.points = len(points)
    return Received(outcome, events, points)


def write(conn: Conn, received: Received) -> Outcome:
    """Store what :func:`read` made of one request, in one transaction (never half-kept)."""
    outcome = received.outcome
    if received.events or received.points:
        written = store.write(conn, received.events, received.points)
        outcome.added = written.added
        if written.refused:
            outcome.refuse(written.refused)
        if written.forgotten:
            outcome.forgotten(written.forgotten)
    return outcome


def receive(
    conn: Conn,
    pricer: Pricer,
    signal: Signal,
    request: Message,
    *,
    now: datetime | None = None,
    member: str | None = None,
) -> Outcome:
    """:func:`read` and :func:`write` one decoded export request."""
    return write(conn, read(pricer, signal, request, now=now, member=member))
