"""Knowing that the log folders did not change, without a ``stat`` of every file (Linux inotify).

A running server refreshes the logs before every question. On an unchanged tree that refresh is a
walk of every folder and a ``stat`` of every log file: ~55 ms for 5,000 files, more than the whole
warm-query target. :class:`LogWatcher` watches the folders the scans read (Claude Code's
``projects/`` folders and every other agent's roots, recursively, as ``logfiles.walk`` walks
them), and a refresh asks it first (:meth:`LogWatcher.begin`): when no change was seen under them
since the last complete pass began, that pass still stands and the walk is skipped.

Why the kernel's inotify directly and not the ``watchfiles`` library: the guarantee needed is
"a write that returned before this question is seen by it". inotify queues a change's event inside
the write system call, so a question that drains the queue (a non-blocking ``read``, microseconds)
before deciding sees every change made before it. ``watchfiles`` hands events to Python from its own
thread after a debounce step (50 ms at the least) and has no call to flush what is pending, so a
question asked right after a line was written would skip the walk and miss the line while
saying the logs were checked: a silent stale answer. inotify is Linux only; elsewhere the watcher
is unavailable and every question does the full pass, as before.

The full pass is done, not skipped, whenever the watcher cannot vouch:

- it is off (``COST_MCP_WATCH_LOGS=false``), not on Linux, not started yet, or failed (no inotify
  instance left, too many watches (``ENOSPC``: ``fs.inotify.max_user_watches``); these two are
  tried again on a back-off, :data:`RETRY_SECONDS`), a root on a file
  system whose changes may come from elsewhere (NFS, SMB, FUSE...: inotify sees only local writes),
  a log file that is a symlink the scan reads (writes through its target are not seen in the
  watched folder; one leading out of its root is never read, so it changes nothing));
- the kernel's queue overflowed (the watches are built again, on the watcher's thread);
- a watched root appeared, vanished or was replaced (each question compares the roots' device and
  inode: a few ``stat`` calls) or a watched folder was removed;
- a folder that could not be watched when it was met (no read permission) could be now: each
  question tries it again, since being made readable is no event;
- any change was seen under the roots (a name with a log suffix, or any folder) since the last
  complete pass began, or that pass stopped at its time budget or met an error;
- the last complete pass began more than :data:`SAFETY_SECONDS` ago.

"Checked at" stays true: a skipped pass records the logs as checked now, because the watcher has
drained every change made up to now and there was none; what the answer holds is what a pass
would have read (see :data:`SAFETY_SECONDS` for the one rule that depends on the clock).

The watcher's thread reads the queue as it fills (so that a quiet hour between questions does not
overflow it) and adds watches on new folders; memory is one entry per watched folder. Its thread is
stopped by :meth:`LogWatcher.stop` at server shutdown. CLI commands (one-shot) do not use it.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import functools
import logging
import os
import select
import struct
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cost_mcp.files import file_system_type
from cost_mcp.sources import logfiles

logger = logging.getLogger(__name__)

SAFETY_SECONDS = 60.0
"""A complete pass older than this is done again even when no change was seen. It bounds how long
anything inotify cannot see stays unread (a write through a hard link in another folder, a file
system that misreports), and the one clock rule of the scans: a last line without a newline is read
once its file has stayed unchanged five minutes (``logfiles.SETTLED_NS``), with no event to say so;
with the watcher that line is read at most this much later. One pass a minute costs ~0.1 % of a
core on a 5,000-file tree, while questions within a conversation (seconds apart) skip it."""

RETRY_SECONDS = 60.0
"""After the kernel refused more watches (``fs.inotify.max_user_watches``) or another inotify
instance, the watcher builds its watches again this long later, then twice as long after each
refusal, up to :data:`RETRY_MAX_FACTOR` times as long: a tree that shrank (Claude Code deletes old
sessions) or a limit raised is watched again, where it was given up until a restart, every question
walking the whole tree. A try costs what building the watches costs (one ``scandir`` per folder)."""

RETRY_MAX_FACTOR = 60
"""The longest wait between two tries, in :data:`RETRY_SECONDS` (an hour)."""

LOCAL_FILE_SYSTEMS = frozenset(
    {
        "ext2",
        "ext3",
        "ext4",
        "xfs",
        "btrfs",
        "tmpfs",
        "ramfs",
        "overlay",
        "zfs",
        "f2fs",
        "jfs",
        "reiserfs",
        "bcachefs",
        "nilfs2",
    }
)
"""File systems whose every change is made through this kernel, so inotify reports it. Any other
(NFS, SMB, FUSE, 9p, virtiofs...) may change under us from another machine or a host unseen."""

_IN_MODIFY = 0x2
_IN_ATTRIB = 0x4
_IN_MOVED_FROM = 0x40
_IN_MOVED_TO = 0x80
_IN_CREATE = 0x100
_IN_DELETE = 0x200
_IN_DELETE_SELF = 0x400
_IN_MOVE_SELF = 0x800
_IN_UNMOUNT = 0x2000
_IN_Q_OVERFLOW = 0x4000
_IN_IGNORED = 0x8000
_IN_ONLYDIR = 0x01000000
_IN_ISDIR = 0x40000000
_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = 0o2000000
_MASK = (
    _IN_MODIFY
    | _IN_ATTRIB
    | _IN_MOVED_FROM
    | _IN_MOVED_TO
    | _IN_CREATE
    | _IN_DELETE
    | _IN_DELETE_SELF
    | _IN_MOVE_SELF
    | _IN_ONLYDIR
)
_GONE = _IN_DELETE_SELF | _IN_MOVE_SELF | _IN_UNMOUNT | _IN_IGNORED
_HEADER = struct.Struct("iIII")
_READ_SIZE = 64 * 1024


@dataclass(frozen=True)
class Root:
    """One place a scan reads: a folder walked recursively for names with ``suffixes``, or a single
    file (``file``), watched through its folder for its own name and its SQLite ``-wal``."""

    path: Path
    suffixes: tuple[str, ...]
    source: str
    file: bool = False


@dataclass(frozen=True)
class Ticket:
    """A refresh's answer from :meth:`LogWatcher.begin`: skip the pass (``skip``), or do it and
    report it with :meth:`LogWatcher.done`."""

    skip: bool
    epoch: int = -1
    """The change count when the pass began; -1: the watcher cannot vouch for this pass."""
    started: float = 0.0
    sources: tuple[str, ...] = ()
    """With ``skip``: the sources whose roots exist, to record as checked now."""
    absent: tuple[str, ...] = ()
    """With ``skip``: the sources none of whose roots exists, to record as such now (their scans do)."""
    since: float = 0.0
    """With ``skip``: when (``time.time()``) the pass that still stands began."""


@dataclass
class _Watch:
    path: str
    recursive: bool
    suffixes: tuple[str, ...]
    names: frozenset[str] | None
    root: bool
    inside: str = ""
    """The root's :func:`logfiles.boundary`: a log symlink resolving out of it is never read."""


@dataclass
class _Built:
    fd: int
    watches: dict[int, list[_Watch]] = field(default_factory=dict)
    blocked: dict[str, _Watch] = field(default_factory=dict)
    """Folders the kernel refused to watch (no read permission), tried again by every question."""


class Unavailable(Exception):
    """The watcher cannot watch these roots; the message says why (logged once). ``retry``: a
    limit of the kernel's was reached, which may not hold later (see :data:`RETRY_SECONDS`)."""

    def __init__(self, why: str, *, retry: bool = False) -> None:
        super().__init__(why)
        self.retry = retry


RootsFn = Callable[[], Sequence[Root]]


class LogWatcher:
    """Watches the log roots on a thread of its own; thread-safe. See the module docstring."""

    def __init__(
        self,
        roots: RootsFn,
        *,
        enabled: bool = True,
        safety_seconds: float = SAFETY_SECONDS,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        self._roots = roots
        self._enabled = enabled
        self._safety = safety_seconds
        self._retry_first = self._retry_wait = retry_seconds
        self._retry_at: float | None = None
        self._lock = threading.Lock()
        self._built: _Built | None = None
        self._signature: tuple[object, ...] | None = None
        self._sources: tuple[str, ...] = ()
        self._absent: tuple[str, ...] = ()
        self._epoch = 0
        self._clean_since: float | None = None
        self._clean_wall = 0.0
        self._rebuild = threading.Event()
        self._stopping = threading.Event()
        self._failed: str | None = None
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = -1, -1

    @property
    def failed(self) -> str | None:
        """Why the watcher gave up (every refresh then does the full pass), or None."""
        return self._failed

    @property
    def ready(self) -> bool:
        """Whether the watches are in place (a complete pass from now on can be vouched for)."""
        return self._built is not None and self._failed is None

    def start(self) -> None:
        """Start watching on a thread (the watches are built there, not on a question's time)."""
        if not self._enabled:
            self._failed = "watching the log folders is off (COST_MCP_WATCH_LOGS)"
            return
        if not sys.platform.startswith("linux"):
            self._failed = "watching the log folders needs Linux (inotify)"
            return
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name="cost-mcp-log-watcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop the thread and close the watches; refreshes do the full pass from then on."""
        self._stopping.set()
        thread = self._thread
        if thread is not None:
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"x")
            thread.join(timeout)
        with self._lock:
            self._close_built()
            self._failed = self._failed or "stopped"
            for fd in (self._wake_r, self._wake_w):
                if fd >= 0:
                    os.close(fd)
            self._wake_r = self._wake_w = -1

    # --- what a refresh asks -----------------------------------------------------------------

    def begin(self) -> Ticket:
        """Skip the pass (nothing changed since a complete one began, less than the safety interval
        ago), or do it. Never waits for the watcher's thread beyond draining the queue."""
        signature = _signature(self._roots())
        with self._lock:
            if self._failed is not None or self._built is None:
                return Ticket(skip=False)
            if signature != self._signature:
                self._request_rebuild()
                return Ticket(skip=False)
            self._retry_blocked()
            self._drain()
            if self._failed is not None or self._rebuild.is_set():
                return Ticket(skip=False)
            now = time.monotonic()
            if self._clean_since is not None and now - self._clean_since < self._safety:
                return Ticket(skip=True, sources=self._sources, absent=self._absent, since=self._clean_wall)
            return Ticket(skip=False, epoch=self._epoch, started=now)

    def done(self, ticket: Ticket, *, whole: bool) -> None:
        """Report the pass ``ticket`` allowed: ``whole`` when it read everything without an error.
        It stands for later questions only if no change was seen since it began."""
        if ticket.skip or ticket.epoch < 0:
            return
        with self._lock:
            if self._built is None or self._failed is not None:
                return
            self._drain()
            if whole and ticket.epoch == self._epoch and not self._rebuild.is_set():
                self._clean_since = ticket.started
                self._clean_wall = time.time() - (time.monotonic() - ticket.started)

    # --- the watcher's thread ----------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._install()
            while not self._stopping.is_set():
                built = self._built
                if built is None or self._failed is not None:
                    if not self._wait_to_retry():
                        return
                    self._install()
                    continue
                poller = select.poll()
                poller.register(built.fd, select.POLLIN)
                poller.register(self._wake_r, select.POLLIN)
                ready = {fd for fd, _ in poller.poll()}
                if self._wake_r in ready:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self._wake_r, 4096)
                if self._stopping.is_set():
                    return
                if self._rebuild.is_set():
                    self._install()
                elif built.fd in ready:
                    with self._lock:
                        self._drain()
        except Exception:
            # The watcher must never take the server down: refreshes then do the full pass.
            logger.exception("watching the log folders failed; every question re-checks the logs")
            with self._lock:
                self._failed = "the watcher stopped on an error"
                self._close_built()

    def _wait_to_retry(self) -> bool:
        """Wait until the watches may be built again after a kernel limit was reached; False when
        they will not be (another failure, or the watcher is stopping)."""
        while not self._stopping.is_set():
            with self._lock:
                at = self._retry_at
            if at is None:
                return False
            left = at - time.monotonic()
            if left <= 0:
                return True
            poller = select.poll()
            poller.register(self._wake_r, select.POLLIN)
            if poller.poll(max(1, int(left * 1000))):
                with contextlib.suppress(BlockingIOError):
                    os.read(self._wake_r, 4096)
        return False

    def _request_rebuild(self) -> None:
        self._rebuild.set()
        self._dirty()
        if self._wake_w >= 0:
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"r")

    def _install(self) -> None:
        """Build the watches afresh (first start, an overflow, a root that changed), then swap them in.
        Until the swap, ``_rebuild`` stays set: no pass begun meanwhile can be vouched for."""
        roots = list(self._roots())
        signature = _signature(roots)
        try:
            built = _build(roots)
        except Unavailable as exc:
            with self._lock:
                self._give_up(str(exc), retry=exc.retry)
            return
        with self._lock:
            if self._stopping.is_set():  # stopped while these were built: nothing to vouch with
                os.close(built.fd)
                return
            self._close_built()
            self._built, self._signature = built, signature
            self._failed, self._retry_at, self._retry_wait = None, None, self._retry_first
            self._rebuild.clear()
            present = {r.source for r in roots if r.path.exists()}
            self._sources = tuple(dict.fromkeys(r.source for r in roots if r.source in present))
            self._absent = tuple(dict.fromkeys(r.source for r in roots if r.source not in present))
            self._dirty()
        logger.debug("watching %d log folder(s)", len(built.watches))

    def _close_built(self) -> None:
        if self._built is not None:
            with contextlib.suppress(OSError):
                os.close(self._built.fd)
            self._built = None
        self._dirty()

    def _dirty(self) -> None:
        self._epoch += 1
        self._clean_since = None

    def _drain(self) -> None:
        """Read every queued event (non-blocking); any that matters makes the tree dirty. Holds the lock."""
        built = self._built
        if built is None:
            return
        while True:
            try:
                data = os.read(built.fd, _READ_SIZE)
            except BlockingIOError:
                return
            except OSError as exc:
                self._give_up(f"reading the watch queue failed: {exc.strerror or exc}")
                return
            if not data:
                return
            self._events(built, data)
            if self._failed is not None:
                return

    def _events(self, built: _Built, data: bytes) -> None:
        at = 0
        while at + _HEADER.size <= len(data):
            wd, mask, _cookie, length = _HEADER.unpack_from(data, at)
            raw = data[at + _HEADER.size : at + _HEADER.size + length].split(b"\0", 1)[0]
            at += _HEADER.size + length
            if mask & _IN_Q_OVERFLOW:
                # Events were lost, new folders among them perhaps: watch everything again.
                self._request_rebuild()
                continue
            watches = built.watches.get(wd)
            if not watches:
                continue
            if mask & _GONE and not raw:
                # The watched folder itself went, or moved (its watch follows it, but under a path
                # we no longer know: watch everything again, as for a root that went).
                if mask & _IN_MOVE_SELF or any(w.root for w in watches):
                    self._request_rebuild()
                else:
                    built.watches.pop(wd, None)
                self._dirty()
                continue
            name = os.fsdecode(raw)
            if mask & _IN_ISDIR:
                self._dirty()
                if mask & (_IN_CREATE | _IN_MOVED_TO):
                    for w in watches:
                        if w.recursive:
                            self._watch_new(built, os.path.join(w.path, name), w)
                continue
            if any(_matters(w, name) for w in watches):
                self._dirty()
                path = os.path.join(watches[0].path, name)
                if mask & (_IN_CREATE | _IN_MOVED_TO) and os.path.islink(path) and _read_link(path, watches):
                    self._give_up("a log file is a symlink: writes through its target are not seen")

    def _retry_blocked(self) -> None:
        """Watch the folders that could not be watched when they were met (no read permission, so
        the scans could not list them either). Made readable since, a folder is no event of its
        own (a mode change of a watched root is not even seen): without this, the first complete
        pass after it was vouched for while nothing watched it, and a log written in it was
        missed, the answer saying the logs were checked, until the safety interval ran out.
        Holds the lock."""
        built = self._built
        if built is None or not built.blocked:
            return
        waiting = list(built.blocked.items())
        built.blocked.clear()
        for folder, watch in waiting:
            try:
                if watch.recursive:
                    _add_tree(
                        built, folder, watch.suffixes, watch.names, root=watch.root, inside=watch.inside
                    )
                else:
                    _add(built, folder, watch)
            except Unavailable as exc:
                self._give_up(str(exc), retry=exc.retry)
                return
            if folder not in built.blocked:
                self._dirty()  # watched from now on (or gone): a pass must read what it holds

    def _watch_new(self, built: _Built, folder: str, parent: _Watch) -> None:
        try:
            _add_tree(built, folder, parent.suffixes, parent.names, inside=parent.inside)
        except Unavailable as exc:
            self._give_up(str(exc), retry=exc.retry)

    def _give_up(self, why: str, *, retry: bool = False) -> None:
        """Stop vouching (every question walks the logs); after a kernel limit (``retry``), try
        again on a back-off (:data:`RETRY_SECONDS`). Holds the lock."""
        if retry:
            self._retry_at = time.monotonic() + self._retry_wait
            later = f"; trying again in {self._retry_wait:.0f} s"
            self._retry_wait = min(self._retry_wait * 2, self._retry_first * RETRY_MAX_FACTOR)
        else:
            self._retry_at, later = None, ""
        logger.info("not watching the log folders (%s): every question re-checks the logs%s", why, later)
        self._failed = why
        self._close_built()
        if self._wake_w >= 0:  # the thread may be waiting on the closed queue: let it end
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"x")


def _matters(w: _Watch, name: str) -> bool:
    if w.names is not None:
        return name in w.names
    return name.endswith(w.suffixes)


def _signature(roots: Sequence[Root]) -> tuple[object, ...]:
    """Each root's kind, device and inode (None when missing): what a question compares."""
    out: list[object] = []
    for r in roots:
        try:
            st = r.path.stat()
        except OSError:
            out.append((str(r.path), None))
            continue
        out.append((str(r.path), r.file, os.path.isdir(r.path), st.st_dev, st.st_ino))
    return tuple(out)


# --- building the watches --------------------------------------------------------------------


@functools.cache
def _inotify() -> ctypes.CDLL:
    """The C library's inotify calls (Python has no binding of its own)."""
    lib = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    lib.inotify_init1.argtypes = [ctypes.c_int]
    lib.inotify_init1.restype = ctypes.c_int
    lib.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    lib.inotify_add_watch.restype = ctypes.c_int
    return lib


def _build(roots: Sequence[Root]) -> _Built:
    """A new inotify instance watching every root (folders recursively). Raises Unavailable."""
    for r in roots:
        if r.path.exists():
            kind = file_system_type(r.path)
            if kind not in LOCAL_FILE_SYSTEMS:
                raise Unavailable(f"{r.path} is on a {kind or 'unknown'} file system")
    try:
        lib = _inotify()
    except (OSError, AttributeError) as exc:
        raise Unavailable(f"no inotify: {exc}") from None
    fd = lib.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
    if fd < 0:
        # Another instance may be free later (fs.inotify.max_user_instances, counted per user).
        raise Unavailable(f"no inotify instance: {os.strerror(ctypes.get_errno())}", retry=True)
    built = _Built(fd)
    try:
        for r in roots:
            if r.file:
                if r.path.is_file():
                    names = frozenset({r.path.name, r.path.name + "-wal"})
                    _add(built, str(r.path.parent), _Watch(str(r.path.parent), False, (), names, True))
            elif r.path.is_dir():
                _add_tree(built, str(r.path), r.suffixes, None, root=True, inside=logfiles.boundary(r.path))
    except BaseException:
        os.close(fd)
        raise
    return built


def _add(built: _Built, folder: str, watch: _Watch) -> None:
    wd = _inotify().inotify_add_watch(built.fd, os.fsencode(folder), _MASK)
    if wd < 0:
        err = ctypes.get_errno()
        if err in (errno.ENOENT, errno.ENOTDIR):
            return  # gone meanwhile: its removal is an event
        if err == errno.EACCES:
            # Unreadable: the scan cannot list it either (and says so), but it may be made
            # readable later, which no event tells: every question tries it again.
            built.blocked[folder] = watch
            return
        if err == errno.ENOSPC:
            raise Unavailable("too many folders to watch (fs.inotify.max_user_watches)", retry=True)
        raise Unavailable(f"cannot watch {folder}: {os.strerror(err)}")
    built.watches.setdefault(wd, []).append(watch)


def _read_link(path: str, watches: Sequence[_Watch]) -> bool:
    """Whether a scan reads the log symlink ``path``: one leading out of its root is passed over, so
    writes through it need not be seen (a single file's watch, with no boundary, counts as read)."""
    return any(not w.inside or logfiles.read_through(path, w.inside) for w in watches)


def _add_tree(
    built: _Built,
    top: str,
    suffixes: tuple[str, ...],
    names: frozenset[str] | None,
    *,
    root: bool = False,
    inside: str = "",
) -> None:
    """Watch ``top`` and every folder below it, as ``logfiles.walk`` walks them (no folder symlinks).
    Raises Unavailable for a log file that is a symlink the scan reads (one resolving ``inside``): a
    change through its target is not seen."""
    pending = [(top, root)]
    while pending:
        folder, is_root = pending.pop()
        # Watched before it is listed: a folder made inside it meanwhile is an event, not missed.
        _add(built, folder, _Watch(folder, True, suffixes, names, is_root, inside))
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    pending.append((entry.path, False))
                elif (
                    entry.name.endswith(suffixes)
                    and entry.is_symlink()
                    and (not inside or logfiles.read_through(entry.path, inside))
                ):
                    raise Unavailable(f"{entry.path} is a symlink: writes through its target are not seen")
            except OSError:
                continue


def log_roots(settings: object) -> list[Root]:
    """Every place the refresh's scans read, from the settings: Claude Code's ``projects/`` folders
    and every registered agent's roots (missing ones included: one that appears is a change)."""
    from cost_mcp.config import Settings
    from cost_mcp.sources import agents, claude_code

    assert isinstance(settings, Settings)
    roots: list[Root] = []
    for configured in settings.claude_roots():
        projects = configured if configured.name == "projects" else configured / "projects"
        roots.append(Root(projects, (".jsonl",), claude_code.SOURCE))
    for fmt in agents.AGENTS:
        suffixes = fmt.line_suffixes + fmt.document_suffixes + fmt.database_suffixes
        suffixes += tuple(s + "-wal" for s in fmt.database_suffixes)
        for path in fmt.roots(settings):
            roots.append(Root(path, suffixes, fmt.source, file=path.is_file()))
    return roots
