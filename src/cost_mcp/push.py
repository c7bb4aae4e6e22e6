"""Laptops push usage to a team server: the wire format, the server's side and the laptop's side.

Only normalised usage rows leave a laptop (:class:`WireRow`): time, source, provider, model, tokens
by kind, session, project (or a keyed hash of it), agent, message and request ids, the provider's
reported cost. Never prompts, content or file paths (a row's ``origin``, a log file's path, stays
home). The server prices every row itself and stores it under the member of the token that pushed
it, never a member named in the payload (there is no such field).

Wire format: ``{"rows": [WireRow, ...], "forgets": [WireForget, ...]}`` as JSON
(``application/json``) or MessagePack (``application/msgpack``), optionally gzip
(``Content-Encoding: gzip``; the server takes deflate too, as its OTLP receiver does); ``forgets``
(the laptop's forgets and unforgets of its reported calls,
and the log rows its reader removed as copies counted twice, applied to the member's own calls
first) is left out when empty, as a server from before it refuses a body with a field it does not
know. The answer is ``{"accepted": n, "changed": m, "refused": r,
"forgotten": f, "rejected": x, "removed": d, "lifted": l, "warnings": [...]}`` (a laptop reads a
field an older server leaves out as 0): the whole batch was written in one transaction, so a 200
acks every row and forget of it. Re-sending is harmless:
the server keeps the local ledger's dedup key and "max tokens wins", so the same rows twice, or in any
order, or from two machines of one member give the same totals. Calls are keyed across members, and a
call is the member's who pushed it first: a row whose call another member holds is refused (``refused``
of the ``accepted`` rows, acked all the same, with a warning saying why), since another member's token
may neither grow that call nor stop it counting. A row whose call an admin forgot on the server
(``cost-mcp reported forget``) is not stored either (``forgotten`` of the ``accepted`` rows, acked
too, so the laptop does not send it again and again): a laptop still holding the call, or sending
everything (``push --full``), does not bring it back. A reported cost in a row is not stored: the
server's price counts. A row whose time is not between 2020 and tomorrow on the server's clock (a
laptop's clock set wrong, a log line stamped so) is ``rejected``: left out, acked with the rest and
said in a warning, as OTLP's partial success does for such a record; so is a row of more web
searches than a call makes (:data:`MAX_CALL_WEB_SEARCHES`). A row dated after the server's now
(within the day) is stored at it: no call happens after it arrives. Refusing the whole batch for it,
as for a malformed row, would refuse it again at every push: none of that laptop's usage would ever
arrive.

A beat is ``{"rows": [], "beat": true}``: the laptop's push loop, with nothing to send, saying it
runs (at most every :data:`BEAT_SECONDS`). It carries nothing but the push's own token, and the
server records only when it came (``store.team.record_beat``), so a laptop nobody used for days is
not named in the team's answers as maybe missing usage, while one not heard from still is. A
server from before beats refuses the field (400), as it refuses ``forgets``: the laptop stops
beating it and it says what it said before.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import hmac
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from operator import attrgetter
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote, urlsplit

import msgspec

from cost_mcp import access, tokens
from cost_mcp.access import Caller
from cost_mcp.config import Settings, source_provider, url_problem
from cost_mcp.errors import CostMcpError, InvalidInputError
from cost_mcp.notify import display_url
from cost_mcp.output import counted
from cost_mcp.periods import arrival_time, iso_second
from cost_mcp.pricing import DayPrices, Pricer, claude_provider
from cost_mcp.store import otel as otel_store
from cost_mcp.store import reported as reported_store
from cost_mcp.store import team as team_store
from cost_mcp.store.connection import Conn, without_nul
from cost_mcp.tokens import MAX_CALL_TOKENS

if TYPE_CHECKING:
    import httpx2

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 8 * 1024 * 1024
"""Largest push body as sent (compressed)."""
MAX_DECODED_BYTES = 64 * 1024 * 1024
"""Largest push body once decompressed: a gzip bomb stops here."""
MAX_ROWS = 5_000
"""Most rows in one push; the client sends batches of :data:`BATCH_ROWS`."""
BATCH_ROWS = 2_000
MAX_CALL_WEB_SEARCHES = 10_000
"""Most web searches a pushed row's call may count ($100 at $10 per 1,000), far beyond any real
call's. The token limit (:data:`MAX_CALL_TOKENS`) would let one row carry a million dollars of
them: one member's push, buggy or hostile, put that in the team's totals, and two pushes of such
rows summed past what the ledger's 64-bit sums hold, which left the whole quarter-hour's spend,
every member's, out of every answer. Such a row is left out and said, as a row with a
call's impossible time is (refusing the batch would refuse the laptop's every push)."""
_MIN_TS_MS = 1_577_836_800_000  # 2020-01-01: before any of the agents we read existed
NOT_PUSHED = "origin"
"""The one usage-event column with a local path in it: never sent."""


class PushError(CostMcpError):
    """A push that the server refused or could not be reached; what was sent before stays acked."""

    def __init__(self, message: str, status: int | None = None, said: str = "") -> None:
        super().__init__(message)
        self.status = status
        """The server's HTTP status when it answered one (None: not reached)."""
        self.said = said
        """What the server said of its refusal (its ``error``), scrubbed of secrets ("" if none)."""


class PushStopped(PushError):
    """A push given up on because its process is stopping (:meth:`PushLoop.stop`): the batch in
    flight stays unacknowledged here and the next push sends it again, which the server counts once."""


class WrongAddress(PushError):
    """A push that reached no push endpoint (a wrong path in the server's URL, answered by the
    dashboard's guard or not at all): not the server refusing this laptop's pushes."""


class PushRejected(InvalidInputError):
    """A push body the server will not store, with the reason and an HTTP status (400/413/415)."""

    def __init__(self, message: str, status: int = 400, *, coding: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.coding = coding
        """Refused for its Content-Encoding: the answer names the codings taken (Accept-Encoding)."""


class WireRow(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """One usage event on the wire (see the module docstring)."""

    source: str
    message_id: str
    ts_ms: int
    provider: str
    model: str
    request_id: str = ""
    is_sidechain: int = 0
    session_id: str = ""
    project: str = ""
    agent: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    web_search_requests: int = 0
    speed: str = ""
    service_tier: str = ""
    inference_geo: str = ""
    reported_cost_nanos: int | None = None


class WireForget(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A laptop's forget of one of its reported calls (``cost-mcp reported forget``), or with
    ``unforget`` its undoing, keyed as the call's row is. Of another source (a log's row, never an
    unforget): a row the laptop's reader removed as a copy an earlier version counted twice
    (``store.agent_files.drop_copies``); the server removes the member's own copy, leaving no
    tombstone."""

    source: str
    message_id: str
    request_id: str = ""
    is_sidechain: int = 0
    unforget: bool = False


class WireBatch(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A push body. ``forgets`` is left out when empty, so a body without them is the one a server
    from before them takes (it refuses a field it does not know)."""

    rows: list[WireRow]
    forgets: list[WireForget] = msgspec.field(default_factory=list)
    beat: bool = False
    """A beat: no rows and no forgets, only "this laptop runs and has nothing to send" (see the
    module docstring); left out of a push, as ``forgets`` is when empty."""


class PushAnswer(msgspec.Struct):
    """The server's answer to a push (a server from before ``refused`` answers without it)."""

    accepted: int
    changed: int
    refused: int = 0
    """Of the accepted rows, those not stored: their call is another member's."""
    forgotten: int = 0
    """Of the accepted rows, those not stored: an admin forgot their call on the server."""
    warnings: list[str] = msgspec.field(default_factory=list)
    rejected: int = 0
    """Of the accepted rows, those not stored: their time is not one a call can have."""
    removed: int = 0
    """Calls of the member's the batch's forgets removed."""
    lifted: int = 0
    """Tombstones the batch's unforgets lifted."""


@dataclass
class Decoded:
    """A push body's rows to store, and why each row left out of them was (see :func:`decode`),
    and its forgets."""

    rows: list[WireRow]
    rejected: list[str] = field(default_factory=list)
    forgets: list[reported_store.ForgetChange] = field(default_factory=list)
    implausible: list[str] = field(default_factory=list)
    """Rows left out because no real call makes that many web searches (see
    :data:`MAX_CALL_WEB_SEARCHES`)."""
    beat: bool = False
    """The body is a beat (:func:`beat`), not a push."""
    ahead: list[str] = field(default_factory=list)
    """Rows dated more than :data:`periods.AHEAD_SAID_MS` after the server's now, stored at it
    instead (:func:`periods.arrival_time`)."""


_json_decoder = msgspec.json.Decoder(WireBatch)
_msgpack_decoder = msgspec.msgpack.Decoder(WireBatch)


class _Item(msgspec.Struct, gc=False):
    """A row or forget counted, its fields skipped: 16 bytes where a decoded row takes ~500."""


class _Counted(msgspec.Struct):
    """A push body's rows and forgets, counted only (:func:`_count`)."""

    rows: list[_Item] = msgspec.field(default_factory=list)
    forgets: list[_Item] = msgspec.field(default_factory=list)


_json_counter = msgspec.json.Decoder(_Counted)
_msgpack_counter = msgspec.msgpack.Decoder(_Counted)


def _count(raw: bytes, ctype: str) -> None:
    """Refuse a body of more than :data:`MAX_ROWS` rows or forgets before decoding them: decoded
    first, a 228 kB gzip of 64 MB of the smallest rows (~970k) took the server ~490 MB for the
    ~500-byte row each became, and only then was it refused; two at once, a small server's memory.
    Counted as bare objects (16 bytes each), the same body takes ~23 MB. A body this pass cannot read
    is refused with what is wrong: the decode proper would build every row before it first."""
    counter = _json_counter if ctype == "application/json" else _msgpack_counter
    try:
        counted = counter.decode(raw)
    except msgspec.ValidationError as exc:
        raise PushRejected(f"push body does not match the push format: {exc}") from None
    except msgspec.DecodeError as exc:
        raise PushRejected(f"push body is not valid {ctype}: {exc}") from None
    except RecursionError:
        # Only a field the push format does not have can nest: its own are numbers and text.
        raise PushRejected("push body does not match the push format: it nests too deeply") from None
    _at_most(len(counted.rows), len(counted.forgets))


def _at_most(rows: int, forgets: int) -> None:
    """Refuse more than :data:`MAX_ROWS` rows or forgets in one push (413)."""
    if rows > MAX_ROWS:
        raise PushRejected(f"{rows:,} rows in one push; send at most {MAX_ROWS:,}", 413)
    if forgets > MAX_ROWS:
        raise PushRejected(f"{forgets:,} forgets in one push; send at most {MAX_ROWS:,}", 413)


def pushable(source: str) -> bool:
    """Whether a laptop's events of this source may be pushed: its own readings (logs, agents,
    record_usage, OTel received locally), not a provider's reports, which the server syncs itself."""
    return source_provider(source) is None


# --- server side ---------------------------------------------------------------------------------


def decode(body: bytes, content_type: str, content_encoding: str) -> Decoded:
    """The rows of a push body; PushRejected says exactly what is wrong with it. A row whose time
    cannot be a call's is left out with the reason (``rejected``), the rest still stored."""
    if len(body) > MAX_BODY_BYTES:
        raise PushRejected(
            f"push body over {MAX_BODY_BYTES:,} bytes: send at most {MAX_ROWS:,} rows per push", 413
        )
    # The OTLP receiver's and /mcp's reading of the header and the body: gzip or deflate taken.
    from cost_mcp.sources.otel import PayloadError, TooLargeError, UnsupportedCodingError, compressed, inflate

    try:
        packed = compressed(content_encoding)
    except UnsupportedCodingError as exc:
        raise PushRejected(f"push {exc}", 415, coding=True) from None
    raw = body
    if packed:
        # Every member, and a truncated one or trailing bytes refused: the first member alone was
        # read, and what followed it dropped unsaid.
        try:
            raw = inflate(body, MAX_DECODED_BYTES)
        except TooLargeError:
            raise PushRejected(f"push body over {MAX_DECODED_BYTES:,} bytes once decompressed", 413) from None
        except PayloadError as exc:
            raise PushRejected(f"push body is not gzip as its Content-Encoding says: {exc}") from None
    ctype = content_type.split(";", maxsplit=1)[0].strip().lower()
    if ctype not in ("application/json", "application/msgpack"):
        raise PushRejected(
            f"Content-Type {ctype or '(none)'} is not supported: "
            "send application/json or application/msgpack",
            415,
        )
    # The OTLP receiver's threshold, one for both: the module is loaded already where pushes are received.
    from cost_mcp.sources.otel import COUNT_FIRST_BYTES

    if len(raw) > COUNT_FIRST_BYTES:
        _count(raw, ctype)
    try:
        batch = (_json_decoder if ctype == "application/json" else _msgpack_decoder).decode(raw)
    except msgspec.ValidationError as exc:
        said = f"push body does not match the push format: {exc}"
        if str(exc).startswith("Object contains unknown field"):
            # The push format only grows: a field it does not know is a newer laptop's (admins
            # upgrade last), and storing the row without it would drop its money in silence.
            said += (
                "; the laptop runs a newer cost-mcp than this team server, which stored none of "
                "this push: a team admin must upgrade cost-mcp on the server, and the laptop's next "
                "push sends it again"
            )
        raise PushRejected(said) from None
    except msgspec.DecodeError as exc:
        raise PushRejected(f"push body is not valid {ctype}: {exc}") from None
    _at_most(len(batch.rows), len(batch.forgets))
    if batch.beat:
        if batch.rows or batch.forgets:
            # A beat says "nothing to send": one with rows would be recorded as if they were not there.
            raise PushRejected("a beat carries no rows nor forgets: send them without `beat`")
        return Decoded([], beat=True)
    if ctype != "application/json" or b"\\u0000" in raw:  # JSON can only hold a NUL escaped
        _replace_nul(batch)
    allowed = {s for s in {r.source for r in batch.rows} if s and len(s) <= 64 and pushable(s)}
    decoded = Decoded([], forgets=[_forget(i, f) for i, f in enumerate(batch.forgets)])
    now_ms = int(time.time() * 1000)
    for i, row in enumerate(batch.rows):
        _check(i, row, allowed)
        arrived = arrival_time(row.ts_ms, now_ms) if row.ts_ms >= _MIN_TS_MS else None
        if arrived is None:
            decoded.rejected.append(f"row {i}: {_when(row.ts_ms)}")
            continue
        if row.web_search_requests > MAX_CALL_WEB_SEARCHES:
            decoded.implausible.append(f"row {i}: {row.web_search_requests:,} web searches")
            continue
        if arrived[1]:
            decoded.ahead.append(f"row {i}: {_when(row.ts_ms)}")
        row.ts_ms = arrived[0]
        decoded.rows.append(row)
        if row.provider == "anthropic" and row.source in _CLAUDE_CODE_SOURCES:
            # A laptop from before Claude Code's Bedrock and Vertex calls were stored under the
            # cloud that bills them sends them as anthropic's: stored so, an Anthropic cost report
            # covering their day would hide them.
            row.provider = claude_provider(row.model)
    return decoded


_TEXT_FIELDS = tuple(
    f
    for f in WireRow.__struct_fields__
    if f not in ("ts_ms", "is_sidechain", "reported_cost_nanos", *tokens.COLUMNS)
)
_FORGET_TEXT_FIELDS = ("source", "message_id", "request_id")


def _replace_nul(batch: WireBatch) -> None:
    """NUL characters in a batch's text replaced by U+FFFD, in place.

    A log line may hold one (a session id, a folder written so), and the laptop's SQLite ledger keeps
    it; PostgreSQL cannot store it in text at all, so a team server on PostgreSQL failed the whole
    push with a 500, and failed it again at every push after: none of that laptop's usage arrived.
    Replaced the same way every time, a row keeps one key: pushed twice, it is still one call."""
    for row in batch.rows:
        for name in _TEXT_FIELDS:
            value = getattr(row, name)
            if "\x00" in value:
                setattr(row, name, without_nul(value))
    for forget in batch.forgets:
        for name in _FORGET_TEXT_FIELDS:
            value = getattr(forget, name)
            if "\x00" in value:
                setattr(forget, name, without_nul(value))


def _when(ts_ms: int) -> str:
    """A rejected row's time as a person reads it (ISO 8601), or its raw number when no date has it."""
    try:
        return iso_second(ts_ms)
    except (OverflowError, OSError, ValueError):
        return f"ts_ms {ts_ms}"


_CLAUDE_CODE_SOURCES = frozenset({otel_store.LOG_SOURCE, otel_store.CLAUDE_SOURCE})


@functools.cache
def _copying_sources() -> frozenset[str]:
    """The sources whose laptop readers remove rows as copies counted twice (``AgentLog.copied``)."""
    from cost_mcp.sources.agents import AGENTS  # the readers: only once a push carries a forget

    return frozenset(a.source for a in AGENTS if a.copied is not None)


def _forget(i: int, f: WireForget) -> reported_store.ForgetChange:
    where = f"forget {i}"
    if f.source != reported_store.SOURCE and (f.unforget or f.source not in _copying_sources()):
        # Only reported calls are forgotten by the user; a log's row goes only when the laptop's
        # reader found it was a copy counted twice (store.agent_files.drop_copies), never to return,
        # and only of a reader that finds copies: no push takes out a member's Claude Code calls.
        raise PushRejected(f"{where}: {_ONLY_REPORTED}")
    if not f.message_id:
        raise PushRejected(f"{where}: message_id is required")
    if len(f.message_id) > 300 or len(f.request_id) > 300:
        raise PushRejected(f"{where}: message_id and request_id are at most 300 characters")
    if f.is_sidechain not in (0, 1):
        raise PushRejected(f"{where}: is_sidechain must be 0 or 1")
    return reported_store.ForgetChange((f.source, f.message_id, f.request_id, f.is_sidechain), f.unforget)


def _check(i: int, r: WireRow, allowed: set[str]) -> None:
    where = f"row {i}"
    if r.source not in allowed:
        raise PushRejected(
            f"{where}: source {r.source!r} cannot be pushed (provider reports are synced by the server)"
        )
    if not r.message_id or not r.model or not r.provider:
        raise PushRejected(f"{where}: message_id, provider and model are required")
    for name in ("message_id", "request_id", "session_id", "project", "agent", "model", "provider", "speed",
                 "service_tier", "inference_geo"):  # fmt: skip
        if len(getattr(r, name)) > 300:
            raise PushRejected(f"{where}: {name} longer than 300 characters")
    if "/" in r.project or "\\" in r.project:
        raise PushRejected(f"{where}: project must be a folder name or hash, not a path")
    if r.is_sidechain not in (0, 1):
        raise PushRejected(f"{where}: is_sidechain must be 0 or 1")
    for name in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_5m_tokens",
                 "cache_write_1h_tokens", "web_search_requests"):  # fmt: skip
        value = getattr(r, name)
        if not 0 <= value <= MAX_CALL_TOKENS:
            raise PushRejected(f"{where}: {name} must be between 0 and {MAX_CALL_TOKENS:,}, got {value}")
    if r.reported_cost_nanos is not None and not 0 <= r.reported_cost_nanos <= 10**15:
        raise PushRejected(f"{where}: reported_cost_nanos out of range")


def refusal(caller: Caller | None) -> tuple[int, str] | None:
    """Why ``/api/push`` refuses ``caller`` (HTTP status and what to do), None when it takes their
    pushes: the one decision for a push and for the check of a token (``GET /api/push``)."""
    if caller is None:
        return 401, "pushing needs a member's token: create one with `cost-mcp token create`"
    if caller.sends_only:
        # A push is one laptop's usage, stored under the token's member: a fleet's shared token
        # would put everyone's rows under whoever answers for it.
        return 403, access.send_only_refusal(
            caller,
            "pushing needs the member's own token",
            "give `cost-mcp push` (COST_MCP_TEAM_TOKEN) the member's own token: "
            "`cost-mcp token create NAME --member EMAIL` on the server",
        )
    return None


def beat(conn: Conn, caller: Caller) -> PushAnswer:
    """A decoded beat from ``caller``'s laptop: when it was heard from is all that is kept
    (``store.team.record_beat``); nothing in the ledger changes."""
    team_store.record_beat(conn, caller.token_name, caller.member)
    return PushAnswer(accepted=0, changed=0)


def receive(
    conn: Conn,
    pricer: Pricer,
    caller: Caller,
    rows: list[WireRow],
    prices: list[team_store.Priced] | None = None,
    rejected: Sequence[str] = (),
    forgets: Sequence[reported_store.ForgetChange] = (),
    settings: Settings | None = None,
    implausible: Sequence[str] = (),
    ahead: Sequence[str] = (),
) -> PushAnswer:
    """Price and store one decoded batch under the caller's member, atomically; ``prices`` are the
    rows' :func:`prices` when the caller priced them already (outside the ledger's lock),
    ``rejected`` the reasons :func:`decode` left rows out for (acked, said in a warning), and
    ``forgets`` the laptop's forgets and unforgets, applied to the caller's own calls only, and
    ``implausible`` the rows :func:`decode` left out for their count of web searches, ``ahead``
    those it stored at their arrival, dated later (a warning says so).

    With ``settings``, a forget that removed calls re-arms the budget thresholds spend no longer
    reaches, as an admin's forget on the server does (``analytics.alerts.rearm_alerts``)."""
    from cost_mcp.sources.claude_code import recount  # the log reader's own per-message recount

    stored = [_stored(r) for r in rows]
    if prices is None:
        prices = price_rows(pricer, rows)
    merged = team_store.store_pushed(conn, caller.member, caller.token_name, stored, prices, recount, forgets)
    warnings: list[str] = []
    applied = merged.forgets
    if applied is not None and applied.removed and settings is not None:
        from cost_mcp.analytics.alerts import rearm_alerts

        try:
            for line in rearm_alerts(conn, settings, datetime.now(UTC)):
                logger.info(
                    "push from token %s (%s) forgot calls: %s", caller.token_name, caller.member, line
                )
        except sqlite3.OperationalError as exc:
            # Committed already: the push is acked all the same, and the thresholds stay as they were
            # (a ledger holding a flood of absurd calls cannot sum budgets, see analytics.reported).
            logger.warning("budgets were not re-checked after a push's forgets: %s", exc)
    if applied is not None and applied.refused:
        _warn(
            warnings,
            caller,
            f"{applied.refused:,} forget(s) not applied: the call is another member's, and a member's "
            "token may not stop another member's call counting (an admin forgets it on the server)",
            "%d forget(s) of another member's calls refused",
            applied.refused,
        )
    if applied is not None and applied.originals:
        _warn(
            warnings,
            caller,
            f"{applied.originals:,} log call(s) your cost-mcp removed as copies counted twice are kept "
            "here: this server holds no call they copy, so they may be your only record of those calls",
            "%d removal(s) of log rows kept (no call they copy is held)",
            applied.originals,
        )
    if applied is not None and applied.kept:
        warnings.append(
            f"{applied.kept:,} unforget(s) not applied on the team server: the call was forgotten "
            "there by an admin, or is another member's (an admin lifts it with `cost-mcp reported "
            "unforget` on the server)"
        )
    if merged.refused:
        # The admin's record of who tried: a member's laptop holding another's log lines (a copied
        # folder), or a token used to change someone else's spend.
        # The holders named for the admin alone: a fleet's OpenTelemetry naming the member by
        # another address (their Claude account's, or its id) reads so, not as a copied folder.
        _warn(
            warnings,
            caller,
            refusal_warning(merged.refused),
            "%d row(s) refused, their calls are another member's (held by %s)",
            merged.refused,
            ", ".join(merged.held_by) or "another member",
        )
    if merged.forgotten:
        warnings.append(forgotten_warning(merged.forgotten))
    if rejected:
        _warn(
            warnings,
            caller,
            rejection_warning(rejected),
            "%d row(s) rejected, their time is not a call's (%s)",
            len(rejected),
            rejected[0],
        )
    if implausible:
        _warn(
            warnings,
            caller,
            implausible_warning(implausible),
            "%d row(s) rejected, more web searches than a call makes (%s)",
            len(implausible),
            implausible[0],
        )
    if ahead:
        _warn(
            warnings,
            caller,
            ahead_warning(ahead),
            "%d row(s) dated ahead of this server's clock, stored at their arrival (%s)",
            len(ahead),
            ahead[0],
        )
    return PushAnswer(
        len(rows) + len(rejected) + len(implausible),
        merged.changed,
        merged.refused,
        forgotten=merged.forgotten,
        warnings=warnings,
        rejected=len(rejected) + len(implausible),
        removed=len(applied.removed) if applied else 0,
        lifted=applied.lifted if applied else 0,
    )


def _left_out(rows: Sequence[str], rule: str, check: str) -> str:
    """A push answer's sentence for rows left out by one of its rules: how many, the first, what to check."""
    count = "1 row was" if len(rows) == 1 else f"{len(rows):,} rows were"
    first = f"{rows[0]}{', ...' if len(rows) > 1 else ''}"
    return f"{count} not stored: {rule} ({first}); {check}"


def _warn(warnings: list[str], caller: Caller, said: str, logged: str, *args: object) -> None:
    """Say ``said`` in a push's answer, and ``logged`` (formatted with ``args``) in this server's
    log with whose push it was: the admin's record of what members' pushes were refused or changed."""
    warnings.append(said)
    logger.warning("push from token %s (%s): " + logged, caller.token_name, caller.member, *args)


def rejection_warning(rejected: Sequence[str]) -> str:
    """What a push answer says of rows left out for their time: how many, the first, what to check."""
    return _left_out(
        rejected,
        "a call's time must lie between 2020 and tomorrow on the team server's clock",
        "check this machine's date and time, and the timestamps of the log lines they came from",
    )


def ahead_warning(ahead: Sequence[str]) -> str:
    """What a push answer says of rows dated after the server's now, stored at their arrival."""
    count = "1 row was" if len(ahead) == 1 else f"{len(ahead):,} rows were"
    first = f"{ahead[0]}{', ...' if len(ahead) > 1 else ''}"
    return (
        f"{count} dated after the team server's clock ({first}): stored at the time the server "
        "received them, since no call happens later; check this machine's date and time"
    )


def implausible_warning(implausible: Sequence[str]) -> str:
    """What a push answer says of rows left out for their count of web searches."""
    return _left_out(
        implausible,
        f"a call makes at most {MAX_CALL_WEB_SEARCHES:,} web searches",
        "check the log lines they came from (`server_tool_use.web_search_requests`)",
    )


def refusal_warning(refused: int) -> str:
    """What a push answer says of rows refused because their calls are another member's."""
    rows = "1 row has a message id" if refused == 1 else f"{refused:,} rows have message ids"
    return (
        f"{rows} another member already pushed or sent over OpenTelemetry: not stored, since a call "
        "counts for the member who sent it first and another member's token may not change it or stop "
        "it counting. If they are your own calls, your agent's OpenTelemetry may name you otherwise than "
        "this token does (Claude Code's user.email, else its account id): the team server's log names "
        "whose they are, for its admin"
    )


def forgotten_warning(forgotten: int) -> str:
    """What a push answer says of rows not stored because an admin forgot their calls."""
    rows = "1 row is a call" if forgotten == 1 else f"{forgotten:,} rows are calls"
    # A laptop cannot tell which command forgot them; the member's next step is the same either way.
    return (
        f"{rows} an admin forgot on the team server (`cost-mcp reported forget` or `cost-mcp team "
        "forget-pushes` there): not stored, not counted, and not sent again; if they should count, "
        "ask the admin to lift the forget (`cost-mcp reported unforget ID` or `cost-mcp team "
        "unforget-pushes --member EMAIL`), then run `cost-mcp push --full`"
    )


def price_rows(pricer: Pricer, rows: list[WireRow]) -> list[team_store.Priced]:
    """The server's price of each row: needs no ledger, so a server does it before taking the
    ledger's lock and concurrent pushes price side by side instead of in the queue.

    Through :class:`pricing.DayPrices` (rates resolved once per model, provider, modifiers and UTC
    day, each call priced from its counts): :meth:`Pricer.price` per row was a sixth of a loaded
    team server's CPU (issue 14); the result is the same to the nano-dollar."""
    prices = DayPrices(pricer)
    notes: dict[tuple[str, ...], str] = {}
    out: list[team_store.Priced] = []
    for r in rows:
        priced = prices.priced(
            _counts(r),
            r.model,
            r.provider,
            r.ts_ms,
            r.speed or None,
            r.service_tier or None,
            r.inference_geo or None,
        )
        if priced is None:
            out.append(_UNPRICED)
            continue
        nanos, model_id, _, assumptions = priced
        note = notes.get(assumptions)
        if note is None:
            note = notes[assumptions] = "; ".join(assumptions)
        out.append(team_store.Priced(nanos, model_id, note))
    return out


_counts = attrgetter(*tokens.COLUMNS)
"""A wire row's counts (its fields are named by column), as :class:`DayPrices` takes them."""
_UNPRICED = team_store.Priced(None, None, "")


_pushed_fields = attrgetter(*(f.name for f in fields(team_store.PushedRow)))
"""A wire row's fields in PushedRow's order (the two hold the same fields): positional
construction, at two thirds of the cost of copying them by name, for every pushed row."""


def _stored(r: WireRow) -> team_store.PushedRow:
    return team_store.PushedRow(*_pushed_fields(r))


@dataclass
class RateLimiter:
    """Per-token token bucket: ``rate`` pushes a second on average, bursts of ``burst``.

    Per server process (each replica limits on its own): a limit against a runaway client, not an
    accounting of anything, so it needs no shared state."""

    rate: float = 20.0
    burst: float = 40.0
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, key: str) -> float:
        """0 when a push may go ahead now, else the seconds to wait before trying again."""
        now = time.monotonic()
        with self._lock:
            level, then = self._buckets.get(key, (self.burst, now))
            level = min(self.burst, level + (now - then) * self.rate)
            if level >= 1:
                self._buckets[key] = (level - 1, now)
                return 0.0
            self._buckets[key] = (level, now)
            return (1 - level) / self.rate


# --- laptop side ---------------------------------------------------------------------------------


@dataclass
class PushStats:
    """What a push did."""

    sent: int = 0
    changed: int = 0
    batches: int = 0
    pending: int = 0
    refused: int = 0
    """Rows sent that the server did not store: their calls are another member's."""
    forgotten: int = 0
    """Rows sent that the server did not store: an admin forgot their calls there."""
    rejected: int = 0
    """Rows sent that the server did not store: their time (or their count of web searches) is not a
    call's."""
    forgets: int = 0
    """Forgets and unforgets the server acknowledged."""
    removed: int = 0
    """Calls the server removed for this laptop's forgets."""
    lifted: int = 0
    """Tombstones the server lifted for this laptop's unforgets."""
    warnings: list[str] = field(default_factory=list)
    """What the server said of them (each distinct warning once)."""
    beat: bool = False
    """Nothing was new, and the server was told this laptop runs with nothing to send (a beat)."""

    def add(self, answer: PushAnswer) -> None:
        """Count one acknowledged batch."""
        self.removed += answer.removed
        self.lifted += answer.lifted
        self.sent += answer.accepted
        self.changed += answer.changed
        self.refused += answer.refused
        self.forgotten += answer.forgotten
        self.rejected += answer.rejected
        self.batches += 1
        self.warnings.extend(w for w in answer.warnings if w not in self.warnings)


def hide_project(key: str, project: str) -> str:
    """A project name as the team server sees it with COST_MCP_TEAM_HIDE_PROJECTS: a keyed hash."""
    if not project:
        return ""
    return "p-" + hmac.new(key.encode(), project.encode(), hashlib.sha256).hexdigest()[:16]


def push(
    conn: Conn,
    settings: Settings,
    *,
    server: str | None = None,
    token: str | None = None,
    send: Callable[[str, str, bytes], PushAnswer] | None = None,
    confirm: bool = False,
    full: bool = False,
) -> PushStats:
    """Send every counted usage event added or changed since the server last acknowledged this
    ledger, in gzip JSON batches, moving the server's push mark as each batch is acknowledged (an
    interrupted push resumes where it stopped). With nothing new it reads two numbers and sends
    nothing, unless ``confirm``: then a beat (:func:`send_beat`) checks that the server takes the
    token (a person running ``cost-mcp push`` learns of a wrong token now, not at the next new
    call) and tells it the laptop is idle; a server from before beats gets an empty batch instead.

    ``full`` sends every counted event again from the start, whatever the mark says: after the
    server's ledger was restored from a backup, it lacks what it acknowledged since, and only the
    laptops hold it (the server keeps one row per call, so what it still has is not counted twice).

    The reported calls forgotten or unforgotten here since the server last acknowledged them
    (every one with ``full``) go first, in batches of their own (:func:`send_forgets`)."""
    url = (server or settings.team_server or "").rstrip("/")
    secret = token or (settings.team_token.get_secret_value() if settings.team_token else "")
    if not url or not secret:
        raise InvalidInputError(
            "no team server configured: pass --server URL --token T, or set COST_MCP_TEAM_SERVER and "
            "COST_MCP_TEAM_TOKEN"
        )
    if problem := url_problem(url):  # --server's; the setting's is checked where it is read
        raise InvalidInputError(f"the team server URL (--server) is {problem}")
    hide = settings.team_hide_projects.get_secret_value() if settings.team_hide_projects else None
    names: FolderNames | None = None  # read with the first batch: most pushes send none
    stats = PushStats()
    # The marks are kept under the server's name without the secrets its URL may carry.
    key = team_store.server_key(url)
    sender = noting_refusals(lambda: conn, key, send or http_sender)
    mark = team_store.push_mark(conn, key)
    if full:
        # From the start: marks saved as batches are acknowledged, so an interrupted full push
        # resumes where it stopped, as any push does.
        mark = team_store.PushMark(0, 0, mark.pushed_ms, mark.sent)
    send_forgets(conn, url, secret, key, sender, stats, 0 if full else mark.forget_seq)
    old_acks = key if not full and team_store.has_old_acks(conn, key) else None
    top_id, top_seq = team_store.push_tops(conn)
    at_id, at_seq = mark.last_id, mark.last_seq
    batch: list[team_store.PushedRow] = []

    def flush() -> None:
        sent = 0
        if batch:
            nonlocal names
            if names is None and not hide:
                names = FolderNames(conn)
            wire = [_wire(row, hide, names) for row in batch]
            body = gzip.compress(msgspec.json.encode(WireBatch(rows=wire)), compresslevel=5)
            try:
                answer = sender(url, secret, body)
            except PushError as exc:
                if not stats.sent or isinstance(exc, PushStopped):
                    raise
                # A server gone mid-push (a restart): said alone, it read as if nothing went.
                # UNSENT may begin a sentence there, capitalised.
                rest = "" if UNSENT[1:] in str(exc) else ", and the next push sends the rest"
                raise PushError(
                    f"{exc}; the {stats.sent:,} row(s) it took before stay there{rest}",
                    exc.status,
                    exc.said,
                ) from None
            stats.add(answer)
            sent = len(batch)
        now_ms = int(time.time() * 1000) if sent else None
        team_store.save_push_mark(conn, key, at_id, at_seq, sent, now_ms)
        batch.clear()

    def take(rows: list[team_store.PushedRow]) -> None:
        if len(batch) + len(rows) > BATCH_ROWS:
            flush()  # marks stop before this window: these rows go in the next batch
        batch.extend(r for r in rows if pushable(r.source))

    # Rows changed since the last push that lie below its id mark; rows above it go with the new ones.
    for after in range(mark.last_seq, top_seq, BATCH_ROWS):
        upto = min(after + BATCH_ROWS, top_seq)
        take(team_store.changed_events(conn, after, upto, mark.last_id))
        at_seq = upto
    for after in range(mark.last_id, top_id, BATCH_ROWS):
        upto = min(after + BATCH_ROWS, top_id)
        take(team_store.new_events(conn, after, upto, unacked_by=old_acks))
        at_id = upto
    if batch or (at_id, at_seq) != (mark.last_id, mark.last_seq):
        flush()
    if confirm and not stats.batches:
        # An empty batch was recorded as a push: `team pushes` listed each hand push with nothing
        # new, and the laptop's last push moved on. A beat is recorded only as "heard from".
        stats.beat = _beat(url, secret, sender)
        if not stats.beat:  # a server from before beats: the empty push, as then
            sender(url, secret, gzip.compress(msgspec.json.encode(WireBatch(rows=[]))))
    if old_acks or full:  # a full push walked past every old ack too
        team_store.drop_old_acks(conn, key)
    pending = team_store.pending_by_source(conn, key)
    stats.pending = sum(n for source, n in pending.items() if pushable(source))
    return stats


REFUSED_STATUSES = (401, 403)
"""A team server's answers that refuse this laptop's pushes until someone acts (its token revoked or
wrong, its member removed, a token that cannot push): recorded, and said in every local answer."""


def noting_refusals(
    open_conn: Callable[[], Conn], key: str, sender: Callable[[str, str, bytes], PushAnswer]
) -> Callable[[str, str, bytes], PushAnswer]:
    """``sender``, recording in the ledger (``open_conn``'s) the team server's refusal of a push
    (:data:`REFUSED_STATUSES`) and, once it takes one again, that the refusal is over.

    A laptop whose token was revoked kept answering from its own ledger with nothing saying its
    pushes failed (the local server only logged it): its user believed the team saw their spend.
    The answers read the refusal recorded here (``catchup.envelope``) and say so, with the fix."""
    taken = False

    def sending(url: str, secret: str, body: bytes) -> PushAnswer:
        nonlocal taken
        try:
            answer = sender(url, secret, body)
        except PushError as exc:
            if exc.status in REFUSED_STATUSES and not isinstance(exc, WrongAddress):
                refusal = team_store.PushRefusal(key, int(time.time() * 1000), exc.status or 0, str(exc))
                _noted(lambda: team_store.note_push_refused(open_conn(), refusal))
            raise
        if not taken:
            taken = True
            _noted(lambda: team_store.clear_push_refused(open_conn()))
        return answer

    return sending


def _noted(record: Callable[[], None]) -> None:
    """Record a push's refusal or its end; a ledger busy just now leaves the push's own outcome
    (its error, its answer) as it was, and the next push records it."""
    try:
        record()
    except (sqlite3.Error, CostMcpError) as exc:
        logger.warning("could not record whether the team server takes this laptop's pushes: %s", exc)


def send_forgets(
    conn: Conn,
    url: str,
    secret: str,
    key: str,
    sender: Callable[[str, str, bytes], PushAnswer],
    stats: PushStats,
    after_seq: int,
) -> None:
    """Send the server the forgets and unforgets numbered after ``after_seq`` (each call's latest),
    moving its forgets mark as each batch is acknowledged: the server removes the member's own
    copies of the calls and keeps them forgotten, or lifts what the member's forget left there.

    A server from before forgets travelled refuses a body with them (400: it refuses a field it
    does not know, as the push format always did): they stay unsent, a warning says so, and the
    rows are pushed as before, so an old server never stops a new laptop's push.

    A current server refuses a batch for one forget it will never take (400 naming it: a malformed
    key): that forget is left out and the rest sent again, and a warning says what the server
    said; the mark then passes it, so it is not sent again at every push. A 400 naming no forget
    keeps the batch for the next push, with the server's words in a warning.

    A server from before removals of log copies travelled (:func:`reported_store.log_removed`)
    refuses the first one by name: the user's forgets are sent without them, and the removals are
    numbered again after every other change (the mark passes where they were) to wait for a later
    push, with one warning that the server needs upgrading."""
    top = reported_store.top_forget_seq(conn)
    held = 0  # removals of log copies a server from before them refused: numbered again, kept
    while after_seq < top:
        changes, upto = reported_store.forget_changes(conn, after_seq, BATCH_ROWS)
        holding = held > 0  # this server refused them already: they are not offered again
        if holding:
            changes = [c for c in changes if not _removal(c)]
        while changes:
            wire = [WireForget(c.key[0], c.key[1], c.key[2], c.key[3], unforget=c.unforget) for c in changes]
            body = gzip.compress(msgspec.json.encode(WireBatch(rows=[], forgets=wire)), compresslevel=5)
            try:
                answer = sender(url, secret, body)
            except PushError as exc:
                if exc.status != 400:
                    raise
                if exc.said.endswith(_OLD_SERVER_REFUSAL):
                    stats.warnings.append(
                        f"the team server did not take this machine's forgets ({exc}); a server older than "
                        "this version does not know them: update it, or forget the calls there too "
                        "(`cost-mcp reported forget` on the server). They are sent again with the next push"
                    )
                    return
                at = _refused_forget(exc.said, len(changes))
                if at is None:
                    stats.warnings.append(
                        f"the team server refused this machine's forgets ({exc}); they are sent again "
                        "with the next push"
                    )
                    return
                refused = changes.pop(at)
                if _removal(refused) and _ONLY_REPORTED in exc.said:
                    # A server from before removals of log copies travelled: the user's forgets go,
                    # the removals wait for its upgrade (it would refuse each, one request apiece).
                    holding = True
                    changes = [c for c in changes if not _removal(c)]
                    continue
                what = "unforget" if refused.unforget else "forget"
                call = refused.key[1] if len(refused.key[1]) <= 80 else refused.key[1][:77] + "..."
                stats.warnings.append(
                    f"the team server refused the {what} of call {call!r} ({exc}); it would refuse it "
                    f"every time, so it is not sent again: {what} the call on the server if it must "
                    f"(`cost-mcp reported {what}` there)"
                )
                continue
            stats.add(answer)
            stats.forgets += len(changes)
            break
        if holding:  # numbered again before the mark passes them, so a crash between loses none
            held += reported_store.requeue_removals(conn, after_seq, upto)
        mark = team_store.push_mark(conn, key)
        team_store.save_push_mark(conn, key, mark.last_id, mark.last_seq, 0, None, upto)
        after_seq = upto
    if held:
        stats.warnings.append(
            f"the team server did not take {held:,} removal(s) of log calls an earlier cost-mcp on this "
            "machine counted twice (copies of other sessions' calls), so the team's totals still count "
            "them: the server runs an older cost-mcp than this machine. A team admin must upgrade "
            "cost-mcp on the server; the removals are kept and sent with the first push after it is"
        )


def _removal(change: reported_store.ForgetChange) -> bool:
    """Whether a change is a removal of a log copy this ledger's reader made (not a user's forget)."""
    return change.key[0] != reported_store.SOURCE


_ONLY_REPORTED = f"only calls of source {reported_store.SOURCE!r} are forgotten"
"""How a team server refuses a forget of another source than reported calls (:func:`_forget`): one
from before removals of log copies travelled refuses every removal so, as a later one refuses a
source it knows no reader to find copies of; to a laptop that sent a removal, either is a server
to upgrade."""


BEAT_SECONDS = 300.0
"""Least time between two beats of a laptop's push loop (a push counts as one): the server's
"last heard from" is at most five minutes behind, far inside the two days after which a laptop is
named as quiet, for a request of ~200 bytes and a one-row write on the server; a team of 20
idle laptops sends one beat every 15 s in all, a twentieth of what their pushes do when in use."""

_OLD_SERVER_BEAT = "Object contains unknown field `beat`"
"""How a server from before beats (its msgspec decoder) ends its 400 for a beat."""


def send_beat(settings: Settings, sender: Callable[[str, str, bytes], PushAnswer]) -> bool:
    """Tell the team server this laptop runs and has nothing to send (a beat: no usage, nothing
    but the push's own token); False when the server is from before beats (it refused the field),
    which then names the laptop as it always did. Any other failure is the PushError a push gets."""
    url = (settings.team_server or "").rstrip("/")
    secret = settings.team_token.get_secret_value() if settings.team_token else ""
    return _beat(url, secret, sender)


def _beat(url: str, secret: str, sender: Callable[[str, str, bytes], PushAnswer]) -> bool:
    """:func:`send_beat` to ``url`` with ``secret`` (a push's --server and --token)."""
    try:
        sender(url, secret, gzip.compress(msgspec.json.encode(WireBatch(rows=[], beat=True))))
    except PushError as exc:
        if exc.status == 400 and exc.said.endswith(_OLD_SERVER_BEAT):
            return False
        raise
    return True


_OLD_SERVER_REFUSAL = "Object contains unknown field `forgets`"
"""How a server from before forgets travelled (its msgspec decoder) ends its 400 for a body with
them; a current server's refusal of a forget names the forget instead (:func:`_refused_forget`)."""

_NAMED_FORGET = re.compile(r"^forget (\d+):|\$\.forgets\[(\d+)\]")
"""A current server's 400 for one forget: its own check (``forget 3: ...``) or the decoder's
(``... - at `$.forgets[3].message_id```)."""


def _refused_forget(said: str, count: int) -> int | None:
    """Which of the ``count`` forgets sent the server's refusal names (None: none of them)."""
    said = said.removeprefix("push body does not match the push format: ")
    found = _NAMED_FORGET.search(said)
    if found is None:
        return None
    at = int(found.group(1) or found.group(2))
    return at if at < count else None


class FolderNames:
    """Claude Code's folder slug of each project path the ledger knows, to the folder's name.

    A call whose log line carried no ``cwd`` is stored under its folder's slug
    (``-home-ana-src-webapp``), which spells out the whole path: only the folder name may leave
    the laptop, and it is found from a path of the same project.

    The paths the rollup knows first; a slug none of them spells looks at the calls still waiting
    for the rollup's rebuild too (marked quarter-hours: a path reported through record_usage, or
    read while another process held the ledger), once, as the answers' filters do
    (:class:`cost_mcp.analytics.vocabulary.Names`): only for such a slug, since while a
    ``reprice --all`` runs the marks cover years of calls."""

    def __init__(self, conn: Conn) -> None:
        from cost_mcp.store.known import known_values

        self._conn = conn
        self._names = _slug_names(known_values(conn, "project"))
        self._marks_read = False

    def get(self, slug: str) -> str | None:
        """The folder name of ``slug``, or None when no path the ledger holds spells it."""
        if slug not in self._names and not self._marks_read:
            from cost_mcp.store.known import marked_values

            self._marks_read = True
            self._names.update(_slug_names(marked_values(self._conn, "project")))
        return self._names.get(slug)


def _slug_names(projects: Iterable[str]) -> dict[str, str]:
    """Each folder slug of the paths among ``projects``, to the folder's name."""
    from cost_mcp.analytics.vocabulary import project_slugs

    names: dict[str, str] = {}
    for project in projects:
        if _is_path(project):
            name = _folder(project)
            names.update(dict.fromkeys(project_slugs(project), name))
    return names


def _is_path(project: str) -> bool:
    return "/" in project or "\\" in project


def _folder(project: str) -> str:
    return project.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]


_SLUG = re.compile(r"(?:-|[A-Za-z]--)[^/\\]*")
"""Claude Code's folder slug of an absolute path (every character not a letter or digit a dash,
:func:`vocabulary.project_slugs`): a POSIX path's starts with a dash (``-home-ana-x``), a Windows
path's with its drive letter and two dashes (``C--Users-ana-x``)."""


def _may_be_slug(project: str) -> bool:
    """Whether ``project`` may be Claude Code's folder slug of a path (:data:`_SLUG`), which spells
    the whole path out: the one rule for looking its folder's name up and for sending an id of it
    when none is found. Two rules disagreed: a Windows slug (``C--Users-ana-src-webapp``) was
    looked up, but not found it left the laptop whole, path and all."""
    return _SLUG.fullmatch(project) is not None


def _wire(r: team_store.PushedRow, hide: str | None, names: FolderNames | None) -> WireRow:
    fields = {name: getattr(r, name) for name in WireRow.__struct_fields__}
    # Only what may be a slug is looked up (a miss reads the marks).
    maybe_slug = _may_be_slug(r.project)
    named = names.get(r.project) if names is not None and maybe_slug else None
    if hide:
        fields["project"] = hide_project(hide, r.project)
    elif named is not None:
        fields["project"] = named
    elif maybe_slug:
        # A slug with no path known for it: its name cannot be told from the path it spells, which
        # must not leave the laptop; an id of it keeps its calls together on the server.
        fields["project"] = "p-" + hashlib.sha256(r.project.encode()).hexdigest()[:16]
    else:
        fields["project"] = _folder(r.project)
    return WireRow(**fields)


RETRIES = 5
_LEDGER_DOWN = "the team server cannot use its ledger just now"
"""How web.http's 503 for a ledger it cannot use begins (its LEDGER_UNAVAILABLE)."""
RETRY_SECONDS = 10.0
"""How long one batch is retried for, at most: a team server restarting, or its database, is back
within it. Five tries with the server's 30 s wait each kept a push 2.5 minutes without a word."""
UNSENT = "nothing was lost: what this push did not send waits here, and the next push sends it"
"""Said when a push gives up on a server that is down: the usage stays in the local ledger."""
STOPPED = (
    "this process is shutting down; the batch in flight was not acknowledged, so the next push "
    "sends it again (the server counts a batch it stored after all once)"
)
"""Said when the local server stops mid-push (:class:`PushStopped`)."""


WAIT_NOTICE_SECONDS = 5.0
"""How long a server may stay silent on a batch before ``waiting`` (a person's push) hears of it."""


def http_sender(
    url: str,
    token: str,
    body: bytes,
    *,
    stop: threading.Event | None = None,
    waiting: Callable[[str], None] | None = None,
) -> PushAnswer:
    """POST one batch to ``url``/api/push; 429 and 5xx are retried (honouring Retry-After) for
    :data:`RETRY_SECONDS` at most: a wait that would end past it ends the push at once. Anything
    else is a PushError that says what the server said (never the token, and the server only as
    doctor shows it: a URL may hold a user:password@ or a ?token=).

    ``stop`` set (the local server is shutting down) ends the waits between attempts at once and
    sends nothing more: :class:`PushStopped`. A request already sent cannot be called back; its
    thread is left to it (:meth:`PushLoop.stop`). ``waiting`` is told, once per attempt, when the
    server has been silent for :data:`WAIT_NOTICE_SECONDS`: a person at a terminal otherwise saw
    nothing for the whole read timeout."""
    import httpx2

    from cost_mcp.sources.http import TIMEOUT, USER_AGENT, scrub_secrets, secret_forms

    server = display_url(url)
    forms = secret_forms(token)
    try:  # what the URL itself may carry: a password (sent as HTTP Basic), a ?token=
        parts = urlsplit(url)
        for secret in (parts.password, *(v for _, v in parse_qsl(parts.query))):
            forms += secret_forms(secret) if secret else []
        if parts.password:
            for user, password in {
                (parts.username or "", parts.password),
                (unquote(parts.username or ""), unquote(parts.password)),
            }:
                forms.append(base64.b64encode(f"{user}:{password}".encode()).decode("ascii"))
    except ValueError:
        pass  # an unreadable URL fails before anything is sent or answered

    def scrubbed(text: str) -> str:
        # A server or proxy may echo the token upper-cased, spaced out or escaped: not only as sent.
        return scrub_secrets(forms, text.replace(url, server))

    _check_server_url(url, server)
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
        "User-Agent": USER_AGENT,
    }
    wait = 0.5
    started = time.monotonic()

    def retry_after(seconds: float) -> bool:
        """Whether to try again after ``seconds`` (sleeping them): not past RETRY_SECONDS."""
        if time.monotonic() + seconds - started > RETRY_SECONDS:
            return False
        if stop is None:
            time.sleep(seconds)
        elif stop.wait(seconds):
            raise PushStopped(f"push to the team server {server} stopped: {STOPPED}")
        return True

    def post(client: httpx2.Client) -> httpx2.Response:
        if stop is not None and stop.is_set():
            raise PushStopped(f"push to the team server {server} stopped: {STOPPED}")
        if waiting is None:
            return client.post(f"{url}/api/push", content=body, headers=headers)
        notice = threading.Timer(
            WAIT_NOTICE_SECONDS,
            waiting,
            (
                f"the team server {server} has not answered the push for {WAIT_NOTICE_SECONDS:g} s; "
                f"waiting up to {TIMEOUT.read:g} s for it (Ctrl-C stops the push and loses nothing: "
                "the next push sends what the server did not acknowledge)",
            ),
        )
        notice.daemon = True
        notice.start()
        try:
            return client.post(f"{url}/api/push", content=body, headers=headers)
        finally:
            notice.cancel()

    def gave_up(attempt: int) -> str:
        tries = counted(attempt + 1, "attempt")
        return f"gave up after {tries} in {time.monotonic() - started:.0f} s"

    with httpx2.Client(timeout=TIMEOUT, follow_redirects=False) as client:
        for attempt in range(RETRIES):
            last = attempt == RETRIES - 1
            try:
                response = post(client)
            except httpx2.InvalidURL:
                # Its message quotes the part it could not read, which may be a password.
                raise PushError(
                    f"the team server URL {server} cannot be read: check COST_MCP_TEAM_SERVER (or "
                    "--server), and percent-encode special characters in a user name or password"
                ) from None
            except httpx2.HTTPError as exc:
                if last or not retry_after(wait):
                    if isinstance(exc, httpx2.ReadTimeout):
                        # Reached, and sent the batch: "cannot reach ... is it running?" sent a person
                        # to check a server that took the connection. Not a shorter wait: a working
                        # server is as silent while its push waits behind others' and for its
                        # ledger's write lock (up to a minute), whatever the batch's size.
                        raise PushError(
                            f"the team server {server} took the connection but did not answer the "
                            f"push within {TIMEOUT.read:g} s ({gave_up(attempt)}): it, or a proxy in "
                            "front of it, is stuck or overloaded (the server's log says which). "
                            f"{UNSENT[0].upper()}{UNSENT[1:]} (a batch the server stored after all "
                            "counts once)"
                        ) from None
                    # httpx's message ("[Errno 111] Connection refused") says which of a typo, a
                    # stopped server or a firewall it is; it never holds the headers (the token),
                    # scrubbed all the same.
                    detail = scrubbed(str(exc))
                    raise PushError(
                        f"cannot reach the team server {server} ({type(exc).__name__}: "
                        f"{detail[:200] or 'no detail'}; {gave_up(attempt)}): is it running, "
                        f"and is the URL right? {UNSENT[0].upper()}{UNSENT[1:]}"
                    ) from None
                wait *= 2
                continue
            if response.status_code == 200:
                return msgspec.json.decode(response.content, type=PushAnswer)
            detail = scrubbed(_server_error(response.content))
            if response.status_code in (429, 502, 503, 504):
                after = response.headers.get("retry-after", "")
                pause = min(30.0, float(after)) if after.replace(".", "", 1).isdigit() else wait
                if not last and retry_after(pause):
                    wait *= 2
                    continue
                if response.status_code == 503 and detail.startswith(_LEDGER_DOWN):
                    # The server's own words end "a push is sent again by itself": true of the
                    # local server's pushes, not of this command's, which ends here.
                    raise PushError(
                        f"the team server {server} cannot use its database just now (it answered 503; "
                        f"{gave_up(attempt)}): its admin should check that the server's PostgreSQL "
                        f"is running and reachable (the server's log says why); {UNSENT}",
                        response.status_code,
                        detail,
                    )
                raise PushError(
                    f"the team server {server} answered {response.status_code}: {detail} "
                    f"({gave_up(attempt)}); {UNSENT}",
                    response.status_code,
                    detail,
                )
            if response.status_code == 401:
                raise PushError(
                    f"the team server {server} refused the token (401): it is wrong (mistyped, or made "
                    "by another team server) or revoked; ask this server's admin for a new one "
                    "(`cost-mcp token create` on it) and set COST_MCP_TEAM_TOKEN",
                    401,
                    detail,
                )
            if response.status_code in (404, 405, 501) or _not_a_push_answer(response.content):
                # A wrong path lands on the dashboard: "403: insufficient_scope" with a member's
                # token, "404: Not Found" with an admin's, neither of which said the address was wrong.
                raise WrongAddress(_wrong_path(server, response.status_code, detail), response.status_code)
            raise PushError(
                f"the team server {server} answered {response.status_code}: {detail}",
                response.status_code,
                detail,
            )
    raise AssertionError("unreachable: the last attempt returns or raises")


def _wrong_path(server: str, status: int, detail: str) -> str:
    """What push and doctor say when ``/api/push`` is not at the configured address."""
    return (
        f"the team server {server} answered {status} ({detail}): no push endpoint is at that address, "
        "so its path is likely wrong, or another program than `cost-mcp serve --http` answers on that "
        "port; COST_MCP_TEAM_SERVER (or --server) is the server's own address, "
        "https://host[:port], with a path only behind a reverse proxy that serves it under one"
    )


def _not_a_push_answer(body: bytes) -> bool:
    """Whether a refusal is the bearer check's (OAuth's ``error`` code with ``error_description``,
    as the dashboard's guard answers) rather than ``/api/push``'s own (an ``error`` sentence alone)."""
    try:
        said = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return False
    return isinstance(said, dict) and "error_description" in said


@dataclass(frozen=True)
class TokenCheck:
    """What the team server said of a laptop's token just now."""

    accepted: bool | None
    """False: refused (wrong or revoked); None: could not tell (unreachable, another answer)."""
    can_push: bool | None
    """Whether ``/api/push`` takes it; False: accepted, but every push is refused (an ingest
    token); None: not known (refused, unreachable, or a server older than the check)."""
    words: str
    """What was found, naming the fix and never the token."""


CHECK_READ_SECONDS = 10.0
"""How long ``doctor`` waits for the team server's answer to its token check. The check reads one
row and stores nothing, so a server that works answers at once; a push may wait behind the
ledger's lock, the check never does. Doctor stood silent for the push's 30 s before saying the
server was stuck."""


def check_token(url: str, token: str) -> TokenCheck:
    """Whether the team server takes ``token`` for pushes now, asked of ``GET /api/push``, which
    answers as a push would (the same :func:`refusal`) and stores nothing: an empty push would
    do, but the server would record it as the laptop's latest push and call a laptop fresh whose
    rows are still waiting. A server older than that check is asked for an MCP ``initialize``
    instead, which says only whether it takes the token at all. An address where neither is (a
    wrong path, landing on the dashboard) is told as a push would tell it."""
    import httpx2

    from cost_mcp.sources.http import TIMEOUT, USER_AGENT, scrub_secrets, secret_forms

    server = display_url(url)
    try:
        _check_server_url(url, server)
    except PushError as exc:
        return TokenCheck(None, None, str(exc))
    headers = {"Authorization": f"Bearer {token}", "User-Agent": USER_AGENT}
    refused = TokenCheck(
        False,
        None,
        f"the team server {server} refused the token (401): it is wrong (mistyped, or made by another "
        "team server), revoked or not a member's; ask this server's admin for a new one "
        "(`cost-mcp token create` on it) and set COST_MCP_TEAM_TOKEN",
    )
    forms = secret_forms(token)

    def said(body: bytes) -> str:
        return scrub_secrets(forms, _server_error(body))

    try:
        timeout = httpx2.Timeout(CHECK_READ_SECONDS, connect=TIMEOUT.connect)
        with httpx2.Client(timeout=timeout, follow_redirects=False) as client:
            answer = client.get(f"{url}/api/push", headers=headers)
            if answer.status_code == 403 and _not_a_push_answer(answer.content):
                # The dashboard's guard, not /api/push: a wrong path with a member's token, which
                # read as "token cannot push" though a right address would take its pushes.
                return TokenCheck(None, None, _wrong_path(server, 403, said(answer.content)))
            if answer.status_code in (404, 405):  # a server from before the check, or a wrong path
                status = _initialize(client, url, headers)
                if status == 200:
                    return TokenCheck(
                        True,
                        None,
                        f"the team server {server} takes the token; it is too old to say whether it "
                        "takes pushes with it (update it), so the next push will tell",
                    )
                if status == 401 or (status == 403 and answer.status_code == 405):
                    return refused
                if answer.status_code == 404:
                    # No route at all (an older server answers 405 to the GET of its POST route),
                    # and no /mcp beside it: the address is not the team server's own.
                    return TokenCheck(None, None, _wrong_path(server, 404, said(answer.content)))
                return TokenCheck(
                    None, None, f"the team server {server} answered {status} to a check of the token"
                )
    except httpx2.ReadTimeout:
        # Reached: "cannot reach ... is it running?" sent a person to check a server that took
        # the connection (as http_sender says of a push).
        return TokenCheck(
            None,
            None,
            f"the team server {server} took the connection but did not answer the token check within "
            f"{CHECK_READ_SECONDS:g} s: it, or a proxy in front of it, is stuck or overloaded (the "
            "server's log says which)",
        )
    except httpx2.HTTPError as exc:
        # Only the kind of failure: its message may quote the URL, which may carry a secret.
        kind = type(exc).__name__
        return TokenCheck(
            None,
            None,
            f"cannot reach the team server {server} ({kind}): is it running, and is the URL right?",
        )
    status = answer.status_code
    if status == 200:
        return TokenCheck(True, True, f"the team server {server} takes the token for pushes")
    if status == 401:
        return refused
    if status == 403:
        # Accepted (the server knows whose it is) but every push would be refused: not REFUSED,
        # whose fix (a new token of the same kind) would fail the same way.
        return TokenCheck(
            True, False, f"token cannot push: the team server {server} said: {said(answer.content)}"
        )
    return TokenCheck(None, None, f"the team server {server} answered {status} to a token check")


def _initialize(client: httpx2.Client, url: str, headers: dict[str, str]) -> int:
    """The status of one MCP ``initialize`` on ``/mcp`` (stores nothing; every token may make it)."""
    hello = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "cost-mcp-doctor", "version": "1"},
        },
    }
    accept = {**headers, "Accept": "application/json, text/event-stream"}
    return client.post(f"{url}/mcp", json=hello, headers=accept).status_code


def _check_server_url(url: str, server: str) -> None:
    """Refuse at once a team server URL that cannot be right, rather than retry it five times."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return  # httpx says so, without quoting it (above)
    if "://" not in url:
        # "cost.example.com:4318" parses as scheme "cost.example.com": shown as the server, that
        # read "the team server URL cost.example.com://?/… must start with https://".
        raise PushError(
            f"the team server URL has no https:// (or http://) in front: write it as "
            f"{team_store.server_key('https://' + url.strip())} (http:// only on a trusted network) in "
            "COST_MCP_TEAM_SERVER (or --server)"
        )
    if parts.scheme not in ("http", "https"):
        raise PushError(
            f"the team server URL {server} must start with https:// (or http:// on a trusted network), "
            "e.g. https://cost.example.com: set COST_MCP_TEAM_SERVER (or --server)"
        )
    if parts.username or parts.password:
        # httpx sends them as HTTP Basic in the one Authorization header, in place of the token.
        raise PushError(
            f"the team server URL {server} carries a user name or password, which would be sent in "
            "place of the token: remove them from COST_MCP_TEAM_SERVER (or --server); the token "
            "(COST_MCP_TEAM_TOKEN) is the credential"
        )
    if parts.query or parts.fragment:
        # The endpoint is appended to the URL, so it landed inside the query: the push went to the
        # server's root (an OTLP 404 about another feature), and a ?token= went out in every URL.
        raise PushError(
            f"the team server URL {server} carries a query or fragment (?... or #...), which cannot be "
            f"part of the server's address: give it alone, e.g. {team_store.server_key(url)}, in "
            "COST_MCP_TEAM_SERVER (or --server); the token (COST_MCP_TEAM_TOKEN) is the credential"
        )
    path = parts.path.rstrip("/")
    for endpoint in ("/mcp", "/v1", "/api/push"):
        if path.endswith(endpoint):
            base = team_store.server_key(url)[: -len(endpoint)]
            raise PushError(
                f"the team server URL ends in {endpoint}, one of its endpoints: give the server's own "
                f"address, e.g. {base}, in COST_MCP_TEAM_SERVER (or --server)"
            )


def _server_error(body: bytes) -> str:
    """What a team server's refusal says: its JSON ``error`` whole (it names the fix), else the
    start of the body."""
    try:
        said = msgspec.json.decode(body)
    except msgspec.DecodeError:
        said = None
    if isinstance(said, dict) and isinstance(said.get("error"), str):
        return str(said["error"])[:2000]
    text = body[:4000].decode("utf-8", "replace")
    if text.lstrip()[:1] == "<":
        # Another web server's error page (a proxy, a wrong port): its markup, quoted whole, buried
        # the status in a screenful of HTML. Its title says what it is.
        title = re.search(r"<title[^>]*>(.*?)</title>", text, re.S | re.I)
        name = " ".join(re.sub(r"<[^>]*>", "", title.group(1)).split())[:120] if title else ""
        return f"an HTML page{f': {name}' if name else ''}, not cost-mcp's answer"
    return text[:300]


STOP_WAIT = 2.0
"""How long :meth:`PushLoop.stop` lets the push thread finish what it is doing (a write to the
ledger, a batch the server is answering) before abandoning it."""


class PushLoop:
    """The local server's own pushes: when a team server is configured, push what it has not
    acknowledged after the start-up read of the logs and then every :attr:`interval` seconds (each
    query's refresh adds rows between them). A laptop that was offline catches up on the next round;
    failures are logged (never the token) and retried next round.

    A round with nothing to send beats (:func:`send_beat`) when the server has not heard from it for
    :data:`BEAT_SECONDS`, so the team's answers do not name an idle laptop as one whose usage may be
    missing; a server from before beats is not beaten again by this process."""

    def __init__(
        self, settings: Settings, open_conn: Callable[[], Conn], ready: Callable[[float], bool]
    ) -> None:
        self.settings = settings
        self.open_conn = open_conn
        self.ready = ready
        self.interval = 60.0
        self.beat_every = BEAT_SECONDS
        self._heard: float | None = None
        """When (monotonic) this loop last pushed or beat, or tried to beat; None: not yet."""
        self._beats = True
        """False once the server refused a beat as a server from before them does."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def configured(self) -> bool:
        """Whether a team server and token are set."""
        return bool(self.settings.team_server and self.settings.team_token)

    def start(self) -> None:
        """Start pushing in the background (nothing when no team server is configured)."""
        if self.configured and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="cost-mcp-push", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop now: a wait between attempts ends at once, and a batch the server has not answered
        is abandoned after :data:`STOP_WAIT` (the thread is a daemon's, gone with the process).

        Waiting for the push in flight kept a laptop's server from exiting for the team server's
        whole read timeout (30 s) when that server took the connection and never answered, Claude
        Code waiting on it. Abandoning it loses nothing: the push mark moves only once a batch is
        acknowledged (in its own transaction, after the answer), so the next push sends the batch
        again, and the server keeps one row per call."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=STOP_WAIT)

    def _run(self) -> None:
        while not self._stop.is_set() and not self.ready(1.0):
            pass
        while not self._stop.is_set():
            self.once()
            self._stop.wait(self.interval)

    def once(self) -> PushStats | None:
        """One push round, with a beat when due (:meth:`beat`); None when the push failed (logged)."""
        conn = self.open_conn()
        try:
            stats = push(conn, self.settings, send=functools.partial(http_sender, stop=self._stop))
        except PushStopped as exc:
            logger.info("%s", exc)
            return None
        except (CostMcpError, sqlite3.Error) as exc:
            logger.warning("push to the team server failed (next try in %.0f s): %s", self.interval, exc)
            return None
        finally:
            conn.close()
        if stats.sent:
            logger.info("pushed %d usage rows to the team server", stats.sent)
        for warning in stats.warnings:
            logger.warning("the team server: %s", warning)
        if stats.batches:
            self._heard = time.monotonic()
        elif not stats.pending:
            self.beat()
        return stats

    def beat(self) -> None:
        """A beat (:func:`send_beat`) when the server has not heard from this loop for
        :attr:`beat_every` seconds; a failure is logged, and tried again after as long (a server
        that is down is not asked, and its failure logged, every round)."""
        if not self._beats or (self._heard is not None and time.monotonic() - self._heard < self.beat_every):
            return
        self._heard = time.monotonic()
        conns: list[Conn] = []  # opened only to record a refusal, or its end

        def opened() -> Conn:
            if not conns:
                conns.append(self.open_conn())
            return conns[0]

        key = team_store.server_key(self.settings.team_server or "")
        sender = noting_refusals(opened, key, functools.partial(http_sender, stop=self._stop))
        try:
            try:
                self._beats = send_beat(self.settings, sender)
            except PushStopped as exc:
                logger.info("%s", exc)
            except CostMcpError as exc:
                logger.warning(
                    "the team server did not take this laptop's beat (next in %.0f s): %s",
                    self.beat_every,
                    exc,
                )
            else:
                if not self._beats:
                    logger.info(
                        "the team server is from before beats: it cannot tell this laptop is idle, not off; "
                        "update it for that (pushes go on as before)"
                    )
        finally:
            for conn in conns:
                conn.close()
