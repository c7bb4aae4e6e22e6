"""Reading the files a user names or keeps beside cost-mcp (env file, price overrides, Claude's
settings.json, a billing export to import, a credentials file) without ever blocking on one.

``Path.read_bytes`` on a named pipe waits for a writer forever, and on a device such as /dev/zero it
never ends: a FIFO left at the prices file's path hung every command, the MCP server and the status
line Claude Code runs on each prompt. These files are opened without blocking and read only when
they are regular files.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, Protocol


class NotRegularFileError(OSError):
    """The path names a pipe, socket or device: not a file to read settings from."""


class Identity(Protocol):
    """Which file a stat is of."""

    @property
    def st_dev(self) -> int: ...
    @property
    def st_ino(self) -> int: ...


class ReplacedFileError(OSError):
    """The path no longer names the file a folder's listing found there."""


def within(path: str | Path, roots: Sequence[Path]) -> bool:
    """Whether ``path`` lies inside one of ``roots``, both compared after symlinks and ``..`` are
    resolved, so neither can lead outside: the one check before a path a model or another program
    named is read (a model's ingest path, the status line's transcript)."""
    real = Path(os.path.realpath(Path(path).expanduser()))
    return any(real.is_relative_to(os.path.realpath(root.expanduser())) for root in roots)


def open_regular_file(path: Path | str, buffering: int = -1, listed: Identity | None = None) -> BinaryIO:
    """The regular file at ``path`` (symlinks followed), open for reading in binary with
    ``buffering`` as :func:`open` takes it, for a caller that streams it (a billing export may be
    large, an agent's log is read line by line). Raises FileNotFoundError, IsADirectoryError,
    PermissionError as opening would, and NotRegularFileError for anything that is not a regular
    file, without waiting on it.

    ``listed``: the file's stat when a walk of its folder found it (and judged it: a regular file,
    or a link resolving inside the folder). A path that names another file now (replaced since,
    say by a link to a file outside the folder) raises ReplacedFileError, never read: the walk's
    judgement was of the file it saw. The next walk judges the new one."""
    # O_NONBLOCK: opening a FIFO for reading otherwise waits for a writer before fstat can look.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    f = os.fdopen(fd, "rb", buffering=buffering)
    try:
        st = os.fstat(fd)  # the one stat the checks below need: no syscall added for ``listed``
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(
                errno.EINVAL, "not a regular file (a pipe, socket or device)", str(path)
            )
        if listed is not None and (st.st_dev, st.st_ino) != (listed.st_dev, listed.st_ino):
            raise ReplacedFileError(
                errno.ESTALE, "replaced since its folder was listed (read at the next scan)", str(path)
            )
    except BaseException:
        f.close()
        raise
    return f


def read_regular_file(path: Path) -> bytes:
    """The bytes of the regular file at ``path`` (symlinks followed). Raises FileNotFoundError,
    IsADirectoryError, PermissionError as reading would, and NotRegularFileError for anything
    that is not a regular file, without waiting on it."""
    with open_regular_file(path) as f:
        return f.read()


def file_system_type(path: Path) -> str | None:
    """The file system type of the mount holding ``path`` (``/proc/self/mountinfo``), or None."""
    try:
        real = os.path.realpath(path)
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    best, kind = "", None
    for line in lines:
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields = left.split()
        if len(fields) < 5:
            continue
        point = _unescape(fields[4])
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, right.split()[0]
    return kind


def _unescape(field: str) -> str:
    # mountinfo writes a space, tab, newline and backslash in a path as octal escapes.
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


NETWORK_FILE_SYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "ceph", "glusterfs", "fuse.glusterfs", "fuse.sshfs",
     "fuse.rclone", "afs", "lustre", "davfs", "fuse.davfs2", "gpfs", "beegfs"}
)  # fmt: skip
"""File systems served from another machine (or a VM's host), where SQLite's file locks are not
to be trusted and its WAL mode does not work (https://www.sqlite.org/wal.html, "WAL does not work
over a network filesystem")."""


def network_file_system(path: Path) -> str | None:
    """The type of the network file system holding ``path`` (a file's folder, or the nearest
    existing folder above a path not made yet), or None."""
    folder = path if path.is_dir() else path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    kind = file_system_type(folder)
    return kind if kind in NETWORK_FILE_SYSTEMS else None
