"""OpenCode: messages in its SQLite database, and the legacy one-JSON-file-per-message store.

Facts and sources are in ``docs/agent-formats.md``. Both hold the same message object:
``{id, sessionID, role, providerID, modelID, time: {created, completed}, tokens: {input, output,
reasoning, cache: {read, write}, total?}, cost}``. OpenCode normalises ``tokens.input`` to the
uncached input for every provider (``Session.getUsage``), and keeps cache reads and writes apart.
Whether ``output`` already includes ``reasoning`` depends on the provider's SDK: when ``total`` is
there it tells (it equals input + cache + output + reasoning only when reasoning is apart); without
it, Google's models report thoughts apart and the others inside output. A message counts once by
its id, whether it is read from the database, a JSON file, or both. ``cost`` is OpenCode's own price of
the call (models.dev's rates, or the user's for a custom model), kept as the reported cost, except
where OpenCode counted the reasoning twice (reasoning inside ``output``, priced again on its own).

One assistant message can be several model calls (steps of a tool-calling loop): OpenCode adds each
step's cost to the message's ``cost`` but overwrites its ``tokens`` with the last step's
(``processor.ts``, ``step-finish``; anomalyco/opencode issues #21913, #42324). Every step's own
``tokens`` are in a ``step-finish`` part (the ``part`` table; legacy: ``storage/part/<message>/``
files): a message's tokens are the sum of its steps', each step being a request billed for all of
its input.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path

import msgspec

from cost_mcp.agent_folders import AgentFolderPaths
from cost_mcp.money import to_nanos
from cost_mcp.pricing import Tokens
from cost_mcp.sources.agents.scanner import (
    AgentEvent,
    AgentLog,
    FileContext,
    Parsed,
    SkipReason,
    count,
    database_log,
    read_agent_database,
    sqlite_busy,
)
from cost_mcp.sources.claude_code import MAX_CALL_COST

AGENT = "opencode"
SOURCE = "opencode"
_REASONING_APART = ("google", "google-vertex", "gemini")
_DECODER = msgspec.json.Decoder(float_hook=Decimal)
"""Numbers with a fraction as Decimal from their own text: ``cost`` is money, never a binary float."""


def roots(settings: AgentFolderPaths) -> list[Path]:
    """OpenCode's data folder (``OPENCODE_DATA_DIR``, else ``${XDG_DATA_HOME:-~/.local/share}/opencode``)."""
    return [settings.opencode_data_path()]


def accepting(app: str) -> Callable[[str], bool]:
    """Which files of the data folder of an agent writing OpenCode's storage as ``app`` to read: its
    databases (``<app>.db``, and ``<app>-<channel>.db`` of another release channel), and message
    files under ``storage/message/``."""

    def accept(path: str) -> bool:
        name = Path(path).name
        if name.endswith(".db"):
            return name == f"{app}.db" or name.startswith(f"{app}-")
        return f"{Path('storage') / 'message'}" in path

    return accept


Pricing = Callable[[str, str], str]
"""The provider a call is stored under, from the provider and model it logged (a fork's gateway:
:func:`scanner.gateway_pricing`)."""


def _logged(provider: str, model: str) -> str:
    """OpenCode's provider as it logged it."""
    return provider


def _event(
    message: object, session_hint: str | None = None, pricing: Pricing = _logged
) -> AgentEvent | SkipReason | None:
    if not isinstance(message, dict) or message.get("role", "assistant") != "assistant":
        return None
    tokens = message.get("tokens")
    if tokens is None:
        return None
    time = message.get("time")
    created = time.get("created") if isinstance(time, dict) else None
    model, provider, message_id = message.get("modelID"), message.get("providerID"), message.get("id")
    if (
        not isinstance(tokens, dict)
        or not isinstance(created, int)
        or isinstance(created, bool)
        or not isinstance(model, str)
        or not model
        or not isinstance(message_id, str)
        or not message_id
    ):
        return "invalid_fields"
    found_cache = tokens.get("cache")
    cache: dict[str, object] = found_cache if isinstance(found_cache, dict) else {}
    try:
        inp, out, reasoning, total = (count(tokens.get(k)) for k in ("input", "output", "reasoning", "total"))
        read, write = count(cache.get("read")) or 0, count(cache.get("write")) or 0
    except ValueError:
        return "invalid_fields"
    inp, out, reasoning = inp or 0, out or 0, reasoning or 0
    if not (inp or out or reasoning or read or write):
        return None
    provider_id = str(provider or "").strip().lower()
    if total:
        apart = total == inp + read + write + out + reasoning and reasoning > 0
    else:
        apart = provider_id in _REASONING_APART
    session = message.get("sessionID")
    # OpenCode prices ``reasoning`` at the output rate on top of ``output`` (``getUsage``: "charge
    # reasoning tokens at the same rate as output tokens"). Where ``output`` already holds the
    # reasoning (AI SDK v5 usage from OpenAI-style providers) its ``cost`` counts those tokens twice:
    # the call is priced from its tokens instead (or shown unpriced), never at that amount.
    reported = None if reasoning and not apart else _reported(message.get("cost"))
    return AgentEvent(
        key=message_id,
        ts_ms=created,
        provider=pricing(provider_id, model),
        model=model,
        session_id=str(session or session_hint or ""),
        project=_project(message),
        tokens=Tokens(
            input=inp, cache_read=read, cache_write_5m=write, output=out + (reasoning if apart else 0)
        ),
        reported_cost_nanos=reported,
    )


def _reported(cost: object) -> int | None:
    """OpenCode's cost of the call in nano-USD, or None when it has none to give. A cost of 0 is
    what OpenCode logs for a model without rates (a subscription login, a local model): our price,
    or "unpriced", says more than $0. A cost that is not a plausible amount is ignored, not the
    call: its tokens still count, priced by us."""
    if isinstance(cost, int) and not isinstance(cost, bool):
        cost = Decimal(cost)
    if not isinstance(cost, Decimal) or not cost.is_finite() or not 0 < cost <= MAX_CALL_COST:
        return None
    return to_nanos(cost)


def _project(message: dict[str, object]) -> str:
    path = message.get("path")
    root = path.get("root") if isinstance(path, dict) else None
    # The folder's path, as Claude Code's calls store it (their cwd), so one folder is one project.
    return root if isinstance(root, str) else ""


def parse_document(raw: bytes, ctx: FileContext, pricing: Pricing = _logged) -> Parsed:
    """One legacy ``storage/message/<session>/<message>.json`` file, with the ``step-finish`` parts
    of ``storage/part/<message>/`` when it is an assistant's."""
    try:
        message = _DECODER.decode(raw)
    except msgspec.DecodeError as exc:
        return "truncated" if "truncated" in str(exc) else "malformed"
    message_id = message.get("id") if isinstance(message, dict) else None
    # The message's file and its parts' folder are both named by its id: one that is not its file's
    # name (or a dot name) would name some other folder.
    if (
        isinstance(message, dict)
        and message.get("role", "assistant") == "assistant"
        and message_id == Path(ctx.path).stem
        and not message_id.startswith(".")
    ):
        # Read only when the message's own file changed (the scanner's rule for a document), not at
        # every scan: OpenCode rewrites the message at each step's end (its tokens and cost) and
        # again when it completes, so a new step comes with a changed message file.
        folder = Path(ctx.path).parents[2] / "part" / message_id
        _add_steps(message, _sum_steps(_part_files(folder, message_id, ctx)))
    found = _event(message, Path(ctx.path).parent.name, pricing)
    if found is None or isinstance(found, str):
        return found
    return [found]


def _counts(tokens: object) -> tuple[int, int, int, int | None, int, int] | None:
    """``tokens`` as (input, output, reasoning, total or None, cache read, cache write), or None."""
    if not isinstance(tokens, dict):
        return None
    found = tokens.get("cache")
    cache: dict[str, object] = found if isinstance(found, dict) else {}
    try:
        inp, out, reasoning, total = (count(tokens.get(k)) for k in ("input", "output", "reasoning", "total"))
        read, write = count(cache.get("read")), count(cache.get("write"))
    except ValueError:
        return None
    return inp or 0, out or 0, reasoning or 0, total, read or 0, write or 0


_STEPS_SINCE = "steps_since"
_STEPS_MARGIN_MS = 3_600_000
"""Messages updated this long before the last read's newest are summed again: a step written late
(clocks, a slow transaction) is not passed over."""


def _step_rows(conn: sqlite3.Connection, state: dict[str, object]) -> list[tuple[str, str | bytes]]:
    """The ``step-finish`` parts of the messages updated since the last read (all of them the first
    time): the part table holds every tool output, too large to read whole at each change. A
    message not read again keeps the summed copy already stored (the copy with more tokens wins)."""
    since = state.get(_STEPS_SINCE)
    try:
        newest = conn.execute("SELECT max(time_updated) FROM message").fetchone()[0]
    except sqlite3.OperationalError as exc:
        if sqlite_busy(exc):
            raise
        newest, since = None, None  # no time_updated column: every part, every time
    if isinstance(newest, int):
        state[_STEPS_SINCE] = newest
    if isinstance(since, int) and not isinstance(since, bool):
        return conn.execute(
            """
            -- CROSS JOIN keeps this order: the recent messages, then their parts by OpenCode's
            -- index on part.message_id (a plain JOIN lets SQLite scan every part instead)
            SELECT p.message_id, p.data FROM message m CROSS JOIN part p ON p.message_id = m.id
            WHERE m.time_updated >= ? AND p.data LIKE '%step-finish%'
            """,
            (since - _STEPS_MARGIN_MS,),
        ).fetchall()
    return conn.execute("SELECT message_id, data FROM part WHERE data LIKE '%step-finish%'").fetchall()


def _step_tokens(conn: sqlite3.Connection, state: dict[str, object]) -> dict[str, dict[str, object]]:
    """Per message id, the summed ``tokens`` of its ``step-finish`` parts (empty without a part table)."""
    try:
        rows = _step_rows(conn, state)
    except sqlite3.OperationalError as exc:
        if sqlite_busy(exc):
            raise
        return {}  # an older schema without parts: the messages' own tokens are all there is
    return _sum_steps(rows)


_STEP_PART_MAX_BYTES = 16 * 1024
"""A ``step-finish`` part is a few hundred bytes (ids, reason, snapshot, tokens, cost); a larger
part file is a tool's output or a file's text, not opened (its size is one ``stat``, cheaper than
reading it)."""


def _part_files(folder: Path, message_id: str, ctx: FileContext) -> list[tuple[str, bytes]]:
    """The legacy ``storage/part/<message>/*.json`` files that may be ``step-finish`` parts, as
    (message id, bytes) rows (none when the folder is not there: older OpenCode, or pruned). Opened
    by the walk's rule (:meth:`FileContext.open_beside`): a part leading out of OpenCode's folder,
    or a pipe, is counted and left alone."""
    rows: list[tuple[str, bytes]] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return rows
    for entry in entries:
        try:
            if not entry.name.endswith(".json") or entry.stat().st_size > _STEP_PART_MAX_BYTES:
                continue
            with ctx.open_beside(entry.path) as f:
                data = f.read(_STEP_PART_MAX_BYTES + 1)
        except OSError:
            continue  # gone since the listing, or unreadable: the message's own tokens still count
        if len(data) <= _STEP_PART_MAX_BYTES and b"step-finish" in data:
            rows.append((message_id, data))
    return rows


def _sum_steps(rows: Iterable[tuple[str, str | bytes]]) -> dict[str, dict[str, object]]:
    """Per message id, the summed ``tokens`` of the ``step-finish`` parts among (message id, part
    JSON) rows; other parts, and parts that are not JSON, are passed over."""
    sums: dict[str, list[int | None]] = {}
    for message_id, data in rows:
        try:
            part = _DECODER.decode(data)
        except (msgspec.DecodeError, TypeError):
            continue  # its message still counts, with the tokens it holds itself
        if not isinstance(part, dict) or part.get("type") != "step-finish":
            continue
        step = _counts(part.get("tokens"))
        if step is None:
            continue
        acc = sums.setdefault(str(message_id), [0, 0, 0, 0, 0, 0])
        for i, value in enumerate(step):
            before = acc[i]
            # A total only when every step gave one: it tells whether reasoning is apart from output.
            acc[i] = None if value is None or before is None else before + value
    return {
        message_id: {
            "input": inp,
            "output": out,
            "reasoning": rea,
            "total": tot,
            "cache": {"read": rd, "write": wr},
        }
        for message_id, (inp, out, rea, tot, rd, wr) in sums.items()
    }


def _size(tokens: object) -> int:
    """All tokens of a ``tokens`` object but its total (0 when unusable)."""
    found = _counts(tokens)
    return 0 if found is None else sum(n for i, n in enumerate(found) if i != 3 and n is not None)


def _add_steps(message: dict[str, object], steps: dict[str, dict[str, object]]) -> None:
    """Give ``message`` the summed tokens of its steps (from :func:`_sum_steps`) when they are more
    than its own: with several steps, the message kept only the last one's."""
    summed = steps.get(str(message.get("id")))
    if summed is not None and _size(summed) > _size(message.get("tokens")):
        message["tokens"] = summed


def read_database(path: str, ctx: FileContext, label: str = "OpenCode", pricing: Pricing = _logged) -> Parsed:
    """Every assistant message of an OpenCode database (or of an agent's that writes OpenCode's,
    named ``label`` in a lock's message), read-only: the agent may be writing it."""

    def read(
        conn: sqlite3.Connection,
    ) -> tuple[list[tuple[str, str, str | bytes]], dict[str, dict[str, object]]]:
        return conn.execute("SELECT id, session_id, data FROM message").fetchall(), _step_tokens(
            conn, ctx.state
        )

    got = read_agent_database(path, label, read)
    if got is None or isinstance(got, str):
        return got
    rows, steps = got
    found: list[AgentEvent | SkipReason] = []
    for row_id, session_id, data in rows:
        try:
            message = _DECODER.decode(data)
        except (msgspec.DecodeError, TypeError):
            found.append("malformed")  # a row that is not JSON: counted as a skipped line
            continue
        if isinstance(message, dict):
            message.setdefault("id", row_id)
            message.setdefault("sessionID", session_id)
            _add_steps(message, steps)
        event = _event(message, pricing=pricing)
        if event is not None:
            found.append(event)  # a reason when the message is unusable: counted as skipped
    return found


def storage_log(
    agent: str,
    label: str,
    source: str,
    folders: Callable[[AgentFolderPaths], list[Path]],
    app: str,
    pricing: Pricing = _logged,
) -> AgentLog:
    """The log of an agent that writes OpenCode's storage (its database and legacy message files)
    in a data folder of its own, its files named ``app`` (OpenCode's forks: Kilo CLI's ``kilo.db``):
    read by this module's one reader, as Cline's forks are by Cline's; ``pricing`` names the
    provider a call is stored under (its own gateway's calls under their model's vendor)."""
    return database_log(
        agent,
        label,
        source,
        folders,
        lambda path, ctx: read_database(path, ctx, label, pricing),
        accepting(app),
        document_suffixes=(".json",),
        parse_document=lambda raw, ctx: parse_document(raw, ctx, pricing),
    )


LOG = storage_log(AGENT, "OpenCode", SOURCE, roots, "opencode")
