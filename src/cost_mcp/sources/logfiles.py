"""The one scanner of coding agents' local log files: finding them, where to resume, complete lines.

Claude Code's reader (``sources/claude_code.py``) and every other agent's (``sources/agents/scanner.py``)
read their files through these, so the rules are the same for all of them:

- files: a folder is walked for names with the agent's suffixes (plain strings and ``DirEntry``:
  on an unchanged tree this walk is the whole cost of a refresh); a name that is not valid UTF-8 is
  counted and left alone, since it could not be stored, printed or sent as JSON; a symlink is
  followed only when it leads to a file inside the folder walked (one leading out of it, to another
  user's file or anywhere a hostile tree points, is counted as ``link_outside``), and a name that is
  not a regular file once followed (a pipe, socket, device or broken link) is counted as
  ``not_a_file``: neither is ever opened, so a scan cannot block on a pipe or read a device;
- offsets and rewrites: each file's device, inode, size, mtime and the byte offset after its last
  complete line are remembered with a short hash of the bytes just before that offset
  (:func:`checkpoint`). An unchanged file costs one ``stat``; a grown one is read from the offset;
  one that shrank, was replaced (new inode) or was rewritten in place before the offset is read
  again from its start (:func:`resume`);
- lines: :class:`LineReader` streams complete lines, leaves an unfinished last line for the next
  scan, and passes over a line longer than the cap without holding it, counting it once even when
  its newline arrives only in a later scan (``skipping``);
- a last line without a newline in a file left unchanged for :data:`SETTLED_NS` (its writer was
  killed mid-write, and nothing will finish it) is read as the file's last line: a complete JSON
  object counts as any line, anything else is skipped and named as the parser names it (Claude
  Code's reader: ``truncated``). The offset moves past it, so it is read once, and a file that grows
  again later is read from there (a line its next writer appends right after the cut one, with no
  newline between, is read whole instead of glued to it).

Light on imports: the status line reads Claude Code transcripts through this module.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
import time
from collections import Counter
from collections.abc import Callable, Container, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, Literal, Protocol

from cost_mcp.files import Identity, NotRegularFileError, open_regular_file

FileSkipReason = Literal["undecodable_name", "link_outside", "not_a_file"]
FILE_SKIP_REASONS: tuple[FileSkipReason, ...] = ("undecodable_name", "link_outside", "not_a_file")
"""Why :func:`walk` passes a file over, as it counts them (see its docstring)."""

BOM = b"\xef\xbb\xbf"
"""The UTF-8 byte order mark some editors and Windows tools put at the start of a file: not JSON,
so it is taken off a file's first line (or whole document) before parsing, never counted as bad."""

CHECK_BYTES = 64
"""How many bytes before a remembered offset are hashed to notice a file rewritten in place."""

SKIP_CHUNK = 1024 * 1024
"""Read size while passing over the rest of an over-long line."""

SETTLED_NS = 5 * 60 * 10**9
"""How long a file must have stayed unchanged before a last line without a newline is read as final.
Agents write each line whole (Claude Code one ``appendFile`` per line), so a line still unfinished
five minutes after the file last changed was cut by a crash, not being written."""


def utf8(name: str) -> bool:
    """Whether a name (as ``os`` gives it, undecodable bytes as lone surrogates) is valid UTF-8."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def boundary(root: Path | str) -> str:
    """The folder a log symlink under ``root`` must resolve inside to be read, as a prefix."""
    return os.path.join(os.path.realpath(root), "")


def read_through(link: str, inside: str) -> bool:
    """Whether :func:`walk` reads the symlink ``link`` found below the :func:`boundary` ``inside``:
    only when it resolves inside it."""
    return resolved_inside(link, inside) is not None


def resolved_inside(path: Path | str, inside: str) -> str | None:
    """``path`` with every link on it resolved, when that lies inside the :func:`boundary`
    ``inside``; else None."""
    real = os.path.realpath(path)
    return real if real.startswith(inside) else None


class LinkOutsideError(OSError):
    """A file beside an agent's logs that leads out of the agent's folder: not opened."""


def open_beside(path: Path | str, inside: str, skipped: Counter[str] | None = None) -> BinaryIO:
    """A file an agent keeps beside its logs (a task's metadata, a project marker, a message's
    parts), opened by :func:`walk`'s rule for the logs themselves: only when it resolves inside the
    :func:`boundary` ``inside`` (a link anywhere on its path leading out of it, to another user's
    file or anywhere a hostile tree points, is counted in ``skipped`` as ``link_outside`` and raises
    :class:`LinkOutsideError`) and is a regular file (else counted as ``not_a_file``, raising
    NotRegularFileError, without waiting on a pipe). A missing file raises FileNotFoundError."""
    real = resolved_inside(path, inside)
    if real is None:
        if skipped is not None:
            skipped["link_outside"] += 1
        raise LinkOutsideError(errno.EXDEV, "leads out of the agent's folder", str(path))
    try:
        # The resolved path: a link put in place of one of its parts since is not followed out.
        return open_regular_file(real)
    except NotRegularFileError:
        if skipped is not None:
            skipped["not_a_file"] += 1
        raise


def walk(
    root: Path,
    suffixes: tuple[str, ...],
    skipped: Counter[str] | None = None,
    errors: list[str] | None = None,
    inside: Path | None = None,
    accept: Callable[[str], bool] | None = None,
) -> Iterator[tuple[str, os.stat_result]]:
    """Every file below ``root`` whose name ends in one of ``suffixes``, with its stat.

    A ``root`` that is itself a file is yielded when its name has such a suffix (and, with
    ``inside`` given, it resolves inside that: else counted as ``link_outside``). Names that are not
    valid UTF-8 are counted in ``skipped`` as ``undecodable_name`` and left out; so are symlinks
    leading out of ``inside`` (default: ``root``; as it resolves), as ``link_outside``, and names
    that are not regular files (pipes, sockets, devices, broken links), as ``not_a_file``. Folder
    symlinks are not followed. A folder that cannot be listed (no permission) is named in ``errors`` as
    ``"<folder>: <reason>"``: the files in it are missing from the scan, and an answer must say so
    as it does for a file it cannot read. One that vanished meanwhile holds nothing to miss.
    Each file is yielded once: a link to a file also found by its own path is passed over (not
    counted: the file is read), and links come after the files, in name order.
    ``accept``: which names the caller reads; another passed over is not counted (a side file
    the agent's parser opens, and counts, through :func:`open_beside`).
    """
    if root.is_file():
        if root.name.endswith(suffixes):
            if inside is not None and not read_through(str(root), boundary(inside)):
                if skipped is not None and (accept is None or accept(str(root))):
                    skipped["link_outside"] += 1
                return
            with contextlib.suppress(OSError):
                yield str(root), root.stat()
        return
    # The boundary a file symlink must resolve inside: a link to ~/.ssh/id_rsa, /dev/zero or a
    # FIFO dropped into a log folder was opened like a log (a pipe hung the scan).
    limit = boundary(inside or root)
    pending = [str(root)]
    files: list[os.stat_result] = []  # what was yielded, for the links (cheaper than a set)
    links: list[tuple[str, os.stat_result]] = []
    while pending:
        folder = pending.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            if errors is not None:
                errors.append(f"{folder}: {exc.strerror or exc}")
            continue
        for entry in entries:
            if not entry.name.isascii() and not utf8(entry.name):
                if skipped is not None:
                    skipped["undecodable_name"] += 1
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                elif entry.name.endswith(suffixes):
                    link = entry.is_symlink()
                    if link and not read_through(entry.path, limit):
                        reason = "link_outside"
                    elif entry.is_file():
                        st = entry.stat()
                        if link:
                            links.append((entry.path, st))  # after the files: see below
                        else:
                            files.append(st)
                            yield entry.path, st
                        continue
                    else:
                        reason = "not_a_file"
                    if skipped is not None and (accept is None or accept(entry.path)):
                        skipped[reason] += 1
            except OSError:
                continue
    # A link to a file the walk reaches by its own path was read twice, its skipped lines counted
    # and named under both paths: a file is yielded once, by its own path whatever the order the
    # folders are listed in, and by a link (the first by name) only when the walk does not reach it.
    if links:
        read = {(st.st_dev, st.st_ino) for st in files}
        for path, st in sorted(links):
            if (st.st_dev, st.st_ino) not in read:
                read.add((st.st_dev, st.st_ino))
                yield path, st


COPIES_REMOVED = "an earlier version counted twice"
"""The words of an agent's scan status (its ``detail``) that say it removed copies
(:attr:`cost_mcp.sources.agents.scanner.AgentLog.copied`): answers repeat that part while it is the
agent's latest scan's, so it is said once (``analytics.spend.copies_removed_notes``)."""


def no_folder(label: str, folders: Iterable[Path | str], hint: str) -> str:
    """What a log reader's status says when none of its folders exists: the agent is not used on
    this machine (or its logs are elsewhere, which ``hint`` says how to tell), no error. One wording
    for Claude Code's reader and every other agent's, where Claude Code's said "0 file(s) checked"
    as if its logs had been read."""
    return f"no {label} folder at {', '.join(str(f) for f in folders)}: nothing to read ({hint})"


def within(path: str, roots: Iterable[Path | str]) -> bool:
    """Whether a walk of ``roots`` (folders, or files) would have reached ``path``."""
    return any(path == str(r) or path.startswith(os.path.join(r, "")) for r in roots)


def unread(
    known: Iterable[str], walked: Container[str], roots: Iterable[Path | str]
) -> tuple[list[str], list[str]]:
    """Of the ``known`` files (whose read state a reader keeps) below ``roots`` that a whole walk of
    them did not yield: those that no longer exist, and the links the walk now passes over.

    Agents delete their logs (Claude Code a transcript per session after ``cleanupPeriodDays``):
    the rows of deleted files stayed for good and every walking refresh read them all again. A
    file's calls stay in the ledger (its row only says how far it was read); one that comes back
    is read from its start, and dedup counts nothing twice. A link the walk passes over (to a file
    it reads by its own path, or leading out) is read no more: its state and skipped lines, kept
    under its path, would count that file twice. A file the walk could not reach (an unreadable
    folder) is neither: it still exists, and its row stays."""
    roots = list(roots)
    gone: list[str] = []
    links: list[str] = []
    for path in known:
        if path in walked or not within(path, roots):
            continue
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            gone.append(path)
            continue
        except OSError:
            continue  # there, but not reachable: not gone
        if stat.S_ISLNK(st.st_mode):
            links.append(path)
    return gone, links


def checkpoint(fd: int, offset: int) -> bytes | None:
    """A short hash of the bytes just before ``offset`` (None at the start of a file)."""
    if offset <= 0:
        return None
    window = os.pread(fd, min(CHECK_BYTES, offset), max(offset - CHECK_BYTES, 0))
    return hashlib.blake2b(window, digest_size=8).digest()


def checkpoint_of(path: str, offset: int, listed: Identity | None = None) -> bytes | None:
    """:func:`checkpoint` of a file by path (the one a walk listed with ``listed``, see
    :func:`~cost_mcp.files.open_regular_file`)."""
    if offset <= 0:
        return None
    # Not a plain open: a pipe put in the file's place since the walk would make it wait forever.
    with open_regular_file(path, 0, listed) as f:
        return checkpoint(f.fileno(), offset)


def checkpoint_holds(path: str, offset: int, check: bytes | None, listed: Identity | None = None) -> bool:
    """Whether the file still has, before ``offset``, the bytes it had when ``check`` was taken."""
    if check is None or offset <= 0:
        return True  # nothing remembered (offset 0, or a state from before checkpoints existed)
    try:
        return checkpoint_of(path, offset, listed) == check
    except OSError:
        return True  # the read that follows reports it


class Mark(Protocol):
    """What is remembered of a file after reading it."""

    @property
    def device(self) -> int: ...
    @property
    def inode(self) -> int: ...
    @property
    def size(self) -> int: ...
    @property
    def mtime_ns(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def check(self) -> bytes | None: ...
    @property
    def skipping(self) -> bool: ...


Resume = Literal["new", "unchanged", "changed", "reset"]


class Stat(Protocol):
    """The parts of a stat that tell a file changed."""

    @property
    def st_dev(self) -> int: ...
    @property
    def st_ino(self) -> int: ...
    @property
    def st_size(self) -> int: ...
    @property
    def st_mtime_ns(self) -> int: ...


def settled(st: Stat, now_ns: int | None = None) -> bool:
    """Whether a file has stayed unchanged for :data:`SETTLED_NS`: a last line it holds without a
    newline will not be finished, and is read as it is (:class:`LineReader`'s ``final``)."""
    return st.st_mtime_ns <= (time.time_ns() if now_ns is None else now_ns) - SETTLED_NS


def resume(path: str, prev: Mark | None, st: Stat, *, tails: bool = False) -> tuple[Resume, int, bool]:
    """What to do with a file: its kind of change, the offset to read from, and whether that
    offset is inside an over-long line already counted as skipped.

    ``tails`` (a reader of lines that passes ``final`` to :class:`LineReader`): an unchanged file
    whose last line was left unread for want of a newline is "changed" once it has
    :func:`settled`, so that line is read; otherwise it would wait for a write that never comes."""
    if prev is None:
        return "new", 0, False
    same_file = prev.device == st.st_dev and prev.inode == st.st_ino
    if same_file and prev.size == st.st_size and prev.mtime_ns == st.st_mtime_ns:
        # Only a file with bytes after its offset (a held-back last line) is looked at further:
        # the comparison is all an unchanged file costs beyond its stat.
        if tails and prev.offset < st.st_size and not prev.skipping and settled(st):
            return "changed", prev.offset, False
        return "unchanged", prev.offset, prev.skipping
    if same_file and st.st_size >= prev.offset and checkpoint_holds(path, prev.offset, prev.check, st):
        return "changed", prev.offset, prev.skipping
    # Replaced, shrunk, or rewritten in place (the bytes before the offset changed): the old
    # offset means nothing in the new content. Read it all; dedup keeps the totals exact.
    return "reset", 0, False


class LineReader:
    """Complete lines of a binary file from its current position.

    Iterating yields each complete line (newline included), or None once for a line longer than
    ``cap``, which is passed over in ``SKIP_CHUNK`` reads (memory stays at the cap) up to its
    newline, however far. ``consumed`` is the offset after the last line taken; an unfinished
    last line is not consumed (the next scan reads it whole), except inside an over-long line,
    where ``skipping`` stays True so that the next scan, resuming there, does not count it again.

    ``final``: the file's size when it has :func:`settled` (else -1). An unfinished last line that
    ends exactly there (the file has not grown since that stat) is yielded and consumed like any
    line, without its newline: its writer is gone, and the parser tells a complete line from a cut one.
    """

    __slots__ = ("cap", "consumed", "f", "final", "skipping")

    def __init__(self, f: BinaryIO, offset: int, cap: int, skipping: bool = False, final: int = -1) -> None:
        self.f, self.consumed, self.cap, self.skipping, self.final = f, offset, cap, skipping, final

    def __iter__(self) -> Iterator[bytes | None]:
        readline = self.f.readline
        limit = self.cap + 1
        while raw := readline(SKIP_CHUNK if self.skipping else limit):
            if raw[-1] != 0x0A:  # no newline: indexing gives an int, no one-byte copy per line
                if len(raw) < limit and not self.skipping:
                    if self.consumed + len(raw) == self.final:  # its writer is gone: read as it is
                        self.consumed += len(raw)
                        yield raw
                    return  # else an unfinished last line: left for the next scan
                self.consumed += len(raw)
                if not self.skipping:
                    self.skipping = True
                    yield None  # over the cap: counted once
                continue
            self.consumed += len(raw)
            if self.skipping:
                self.skipping = False  # the end of an over-long line
                continue
            yield raw
