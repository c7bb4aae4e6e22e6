"""Gemini CLI: chat recordings under ``~/.gemini/tmp/<project>/chats/``.

Facts and sources are in ``docs/agent-formats.md``. Current versions append JSONL: a metadata
line (``sessionId``, ``projectHash``, ``startTime``...), then one line per message record, a record
being written again under the same ``id`` when it changes (a ``gemini`` message gets its
``tokens`` after the response), and ``{"$set": {...}}`` metadata updates. Older versions rewrote one
JSON document per session (``session-*.json`` with a ``messages`` array); resuming one converts it
to ``.jsonl`` with the same message ids.

``tokens`` mirrors the API's usageMetadata: ``input`` (promptTokenCount, cached included),
``cached`` (cachedContentTokenCount), ``output`` (candidatesTokenCount, thoughts excluded),
``thoughts`` (thoughtsTokenCount, billed as output), ``tool`` (toolUsePromptTokenCount, billed as
input) and ``total``. The ledger gets ``input - cached + tool`` uncached input, ``cached`` cache
reads and ``output + thoughts`` output. A message counts once by its id, however many files and
lines repeat it.

Project: the folder Gemini CLI ran in, as a path (as every other agent's calls name it), whenever
Gemini's own files say it: the ``.project_root`` file Gemini CLI (0.29 on) writes into
``tmp/<short id>/`` (and ``history/<short id>/``), else ``~/.gemini/projects.json`` (path -> short
id), else for an older ``tmp/<sha256 of the path>/`` folder (or the chat's ``projectHash``) the
path those files know with that SHA-256. Only when none says is it the folder's name under ``tmp/``;
calls stored under a folder's name move to its path once the files say it (``renamed_projects``).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections import Counter
from pathlib import Path, PurePosixPath, PureWindowsPath

import msgspec

from cost_mcp.agent_folders import AgentFolderPaths
from cost_mcp.pricing import Tokens
from cost_mcp.sources import logfiles
from cost_mcp.sources.agents.scanner import (
    AgentEvent,
    AgentLog,
    FileContext,
    Parsed,
    SkipReason,
    count,
    epoch_ms,
    event_key,
    file_stem,
)
from cost_mcp.tokens import MAX_CALL_TOKENS

AGENT = "gemini-cli"
SOURCE = "gemini_cli"
PROVIDER = "google"
UNKNOWN_MODEL = "unknown"


def roots(settings: AgentFolderPaths) -> list[Path]:
    """``<GEMINI_DIR, else ${GEMINI_CLI_HOME:-~}/.gemini>/tmp``."""
    return [settings.gemini_dir_path() / "tmp"]


PROJECT_ROOT_FILE = ".project_root"
"""Gemini CLI's ownership marker in ``tmp/<short id>/``: the project's absolute path, nothing else."""
REGISTRY_FILE = "projects.json"
"""Gemini CLI's registry beside ``tmp/``: ``{"projects": {"<absolute path>": "<short id>"}}``."""
MAX_ROOT_BYTES = 64 * 1024
MAX_REGISTRY_BYTES = 16 * 1024 * 1024
_HASH = re.compile(r"[0-9a-f]{64}")


def _read(path: Path, limit: int, inside: str, passed_over: Counter[str] | None) -> bytes | None:
    """A small file's bytes; None when absent, unreadable, larger than ``limit`` or refused by the
    walk's rule (:func:`logfiles.open_beside`: a link out of ``inside``, a pipe; counted in
    ``passed_over``). Never fatal: the project then falls back to the folder's name."""
    try:
        with logfiles.open_beside(path, inside, passed_over) as f:
            data = f.read(limit + 1)
    except OSError:
        return None
    return data if len(data) <= limit else None


def _as_path(value: object) -> str | None:
    """``value`` when it is one absolute path (POSIX or Windows) on one line, else None."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value or any(c in value for c in "\x00\r\n"):
        return None
    return value if PurePosixPath(value).is_absolute() or PureWindowsPath(value).is_absolute() else None


def _marker(folder: Path, inside: str, passed_over: Counter[str] | None) -> str | None:
    data = _read(folder / PROJECT_ROOT_FILE, MAX_ROOT_BYTES, inside, passed_over)
    try:
        return _as_path(data.decode()) if data is not None else None
    except UnicodeDecodeError:
        return None


def _registry(tmp: Path, inside: str, passed_over: Counter[str] | None) -> dict[str, str]:
    """``projects.json``'s path -> short id entries (empty when absent or not that shape)."""
    data = _read(tmp.parent / REGISTRY_FILE, MAX_REGISTRY_BYTES, inside, passed_over)
    if data is None:
        return {}
    doc = _decode(data)
    projects = doc.get("projects") if isinstance(doc, dict) else None
    if not isinstance(projects, dict):
        return {}
    return {path: slug for key, slug in projects.items() if (path := _as_path(key)) and isinstance(slug, str)}


class _Projects:
    """What Gemini CLI's files under one ``tmp/`` say about the projects of its folders, each file
    read at most once: one is made per scan (:func:`_projects`), for its rename pass and every chat
    file it reads, since each would otherwise read ``projects.json`` (up to 16 MB) and the markers
    again."""

    def __init__(self, tmp: Path, passed_over: Counter[str] | None = None) -> None:
        self.tmp = tmp
        self.bases = (tmp, tmp.parent / "history")
        # Its files are read by the walk's rule for the chats: a marker inside its own tmp/ or
        # history/ (as it resolves: either may be a link to another disk), the registry inside the
        # Gemini folder, beside tmp/.
        self.inside = logfiles.boundary(tmp.parent)
        self._inside = {base: logfiles.boundary(base) for base in self.bases}
        self.passed_over = passed_over
        self._registry: dict[str, str] | None = None
        self._known: set[str] | None = None
        self._markers: dict[Path, str | None] = {}
        self._found: dict[tuple[str, str | None], str] = {}

    def registry(self) -> dict[str, str]:
        if self._registry is None:
            self._registry = _registry(self.tmp, self.inside, self.passed_over)
        return self._registry

    def marker(self, folder: Path) -> str | None:
        if folder not in self._markers:
            inside = self._inside.get(folder.parent) or logfiles.boundary(folder.parent)
            self._markers[folder] = _marker(folder, inside, self.passed_over)
        return self._markers[folder]

    def known(self) -> set[str]:
        """Every path the registry or a marker names."""
        if self._known is None:
            self._known = set(self.registry())
            for base in self.bases:
                with contextlib.suppress(OSError):  # an unlistable folder: the other files still say
                    self._known.update(p for d in base.iterdir() if (p := self.marker(d)))
        return self._known

    def path(self, folder: str, project_hash: object = None) -> str:
        key = (folder, project_hash if isinstance(project_hash, str) else None)
        if key not in self._found:
            self._found[key] = self._path(folder, key[1])
        return self._found[key]

    def _path(self, folder: str, project_hash: str | None) -> str:
        for base in self.bases:
            if here := self.marker(base / folder):
                return here
        for path, slug in self.registry().items():
            if slug == folder:
                return path
        hashes = {h for h in (folder, project_hash) if isinstance(h, str) and _HASH.fullmatch(h)}
        if hashes:
            for path in sorted(self.known()):
                if hashlib.sha256(path.encode()).hexdigest() in hashes:
                    return path
        return folder


def _projects(tmp: Path, shared: dict[str, object] | None, passed_over: Counter[str] | None) -> _Projects:
    """The scan's :class:`_Projects` of ``tmp`` (kept in its ``shared``), a new one without a scan."""
    if shared is None:
        return _Projects(tmp, passed_over)
    key = f"{AGENT} projects {tmp}"
    found = shared.get(key)
    if not isinstance(found, _Projects):
        found = shared[key] = _Projects(tmp, passed_over)
    return found


def project_path(tmp: Path, folder: str, project_hash: object = None) -> str:
    """The project a chat under ``tmp/<folder>/`` belongs to: its path when Gemini CLI's files say
    it, else ``folder``.

    Gemini CLI 0.29 on names the folder with a short id (the path's last part, slugified) and writes
    the path into ``.project_root`` in ``tmp/<id>/`` and ``history/<id>/``, and into
    ``projects.json``; older versions named the folder with the SHA-256 of the path, which the chat's
    ``projectHash`` still is: that hash is matched against the paths those files know (upgrading
    copies the old folder into the new one and leaves both).
    """
    return _Projects(tmp).path(folder, project_hash)


def renamed_projects(
    tmp: Path, shared: dict[str, object] | None = None, passed_over: Counter[str] | None = None
) -> dict[str, str]:
    """Folder name -> path for each folder under ``tmp/`` whose path Gemini CLI's files now say:
    calls filed under the folder's name (by an earlier cost-mcp, or before Gemini CLI wrote the
    path down) are moved to the path. ``shared``: the scan's, whose chat files then reuse what was
    read here; ``passed_over``: its count of files not opened (a link out of the Gemini folder)."""
    projects = _projects(tmp, shared, passed_over)
    try:
        folders = sorted(d.name for d in tmp.iterdir() if d.is_dir())
    except OSError:
        return {}
    return {name: path for name in folders if (path := projects.path(name)) != name}


def _project(ctx: FileContext, project_hash: object = None) -> str:
    """The file's project, found once and kept in its parser state (a file never moves project)."""
    known = ctx.state.get("project")
    if isinstance(known, str):
        return known
    parts = Path(ctx.path).relative_to(ctx.root).parts
    project = (
        _projects(Path(ctx.root), ctx.shared, ctx.passed_over).path(parts[0], project_hash)
        if len(parts) > 1
        else ""
    )
    ctx.state["project"] = project
    return project


def _decode(raw: bytes) -> object:
    try:
        decoded: object = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        return "truncated" if "truncated" in str(exc) else "malformed"
    return decoded


def ledger_tokens(
    prompt: int,
    cached: int,
    candidates: int,
    thoughts: int,
    tool: int,
    *,
    thoughts_in_candidates: bool = False,
) -> Tokens | None:
    """One call's usageMetadata (``promptTokenCount``, ``cachedContentTokenCount``,
    ``candidatesTokenCount``, ``thoughtsTokenCount``, ``toolUsePromptTokenCount``) in the ledger's
    disjoint kinds, for every agent of the Gemini CLI family (Gemini CLI, Qwen Code); None when it
    counts nothing. The prompt count includes the cached part and not the tool-use prompt; the
    thoughts are billed as output, outside the candidates in the Gemini API's own counts, inside
    them where ``thoughts_in_candidates`` (an OpenAI-style ``completion_tokens``, which includes
    ``reasoning_tokens``, as Qwen Code's converter writes it). Raises ValueError for a count larger
    than one call can be (:data:`tokens.MAX_CALL_TOKENS`)."""
    if max(prompt, cached, candidates, thoughts, tool) > MAX_CALL_TOKENS:
        raise ValueError("more tokens than one call can count")
    if not (prompt or candidates or thoughts or tool):
        return None
    cached = min(cached, prompt)
    output = max(candidates, thoughts) if thoughts_in_candidates else candidates + thoughts
    return Tokens(input=prompt - cached + tool, cache_read=cached, output=output)


def _event(message: dict[str, object], ctx: FileContext, session: str) -> AgentEvent | SkipReason | None:
    tokens = message.get("tokens")
    if tokens is None:
        return None  # recorded before its response finished: the later copy has the tokens
    ts_ms = epoch_ms(message.get("timestamp"))
    model = message.get("model")
    if isinstance(model, str) and model:
        ctx.state["model"] = model
    elif "model" not in message:
        # A response with no text, thought or tool call is recorded with its tokens but without a
        # model (geminiChat.ts: recordSyntheticMessage): still a billed call, of the session's model.
        model = str(ctx.state.get("model") or UNKNOWN_MODEL)
    if not isinstance(tokens, dict) or ts_ms is None or not isinstance(model, str) or not model:
        return "invalid_fields"
    try:
        inp, cached, out, thoughts, tool = (
            count(tokens.get(k)) or 0 for k in ("input", "cached", "output", "thoughts", "tool")
        )
        found = ledger_tokens(inp, cached, out, thoughts, tool)
    except ValueError:
        return "invalid_fields"
    if found is None:
        return None
    message_id = message.get("id")
    key = (
        str(message_id) if isinstance(message_id, str) and message_id else event_key(session, ts_ms, inp, out)
    )
    return AgentEvent(
        key=key,
        ts_ms=ts_ms,
        provider=PROVIDER,
        model=model,
        session_id=session,
        project=_project(ctx),
        tokens=found,
    )


def parse_line(raw: bytes, ctx: FileContext) -> Parsed:
    """Usage from one JSONL record; the metadata line sets the file's session."""
    line = _decode(raw)
    if isinstance(line, str):
        return line  # type: ignore[return-value]
    if not isinstance(line, dict):
        return "malformed"
    update = line.get("$set")
    meta = update if isinstance(update, dict) else line if "type" not in line else {}
    if isinstance(meta.get("sessionId"), str):
        ctx.state["session"] = meta["sessionId"]
        _project(ctx, meta.get("projectHash"))  # found now, while the hash is at hand
        return None
    if line.get("type") != "gemini":
        return None
    found = _event(line, ctx, str(ctx.state.get("session") or file_stem(ctx.path)))
    if found is None or isinstance(found, str):
        return found
    return [found]


def parse_document(raw: bytes, ctx: FileContext) -> Parsed:
    """Usage from a legacy whole-session ``.json`` file; one bad message is skipped, not the file."""
    doc = _decode(raw)
    if isinstance(doc, str):
        return doc  # type: ignore[return-value]
    if not isinstance(doc, dict) or not isinstance(doc.get("messages"), list):
        return None  # another JSON file under tmp/ (settings, logs.json...): not a chat
    session = str(doc.get("sessionId") or file_stem(ctx.path))
    _project(ctx, doc.get("projectHash"))
    found: list[AgentEvent | SkipReason] = []
    for message in doc["messages"]:
        if isinstance(message, dict) and message.get("type") == "gemini":
            event = _event(message, ctx, session)
            if event is not None:
                found.append(event)  # a reason when the message is unusable: counted as skipped
    return found


LOG = AgentLog(
    agent=AGENT,
    label="Gemini CLI",
    source=SOURCE,
    roots=roots,
    line_suffixes=(".jsonl",),
    parse_line=parse_line,
    document_suffixes=(".json",),
    parse_document=parse_document,
    renamed_projects=renamed_projects,
)
