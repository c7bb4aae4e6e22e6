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
