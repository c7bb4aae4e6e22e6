"""Log files' read states (``scanned_files``) and skipped-line counts, saved a few or many at once."""

from __future__ import annotations

import pytest

from cost_mcp.store import bulk, claude_logs, skipped, write_transaction
from cost_mcp.store.claude_logs import FileRow
from cost_mcp.store.connection import Conn


def _file(
    n: int, offset: int, *, size: int = 1000, mtime: int = 5, check: bytes | None = b"\x00h"
) -> FileRow:
    return (f"/logs/p/s{n:03d}.jsonl", 1, 100 + n, size, mtime, offset, check, False, "p", f"s{n}")


@pytest.mark.parametrize("files", [3, bulk.FEW_ROWS + 5], ids=["few", "many"])
def test_a_slower_scan_never_moves_an_offset_back_unless_the_file_was_rewritten(
    conn: Conn, files: int
) -> None:
    """The upsert's rule holds whether the files go in a statement each or as one staged statement
    (PostgreSQL, more than ``bulk.FEW_ROWS``): an older stat of a file keeps the stored offset, a
    newer mtime (the file rewritten) moves it back, a new file goes in, and a NULL hash stays NULL."""
    with write_transaction(conn):
        claude_logs.save_files(conn, [_file(n, 800) for n in range(files)], "2026-12-07T10:00:00+00:00")
    later = [_file(n, 400) for n in range(files - 1)]  # a slower scan's older stat of each
    later[0] = _file(0, 300, mtime=9, check=None)  # the first rewritten since
    later.append(_file(files, 50))  # a file it met first
    with write_transaction(conn):
        claude_logs.save_files(conn, later, "2026-12-07T10:00:01+00:00")
    stored = {row[0]: row for row in claude_logs.known_files(conn)}
    assert len(stored) == files + 1
    assert stored[_file(0, 0)[0]] == _file(0, 300, mtime=9, check=None)
    assert all(stored[_file(n, 0)[0]] == _file(n, 800) for n in range(1, files))
    assert stored[_file(files, 0)[0]] == _file(files, 50)
    scanned = conn.execute("SELECT DISTINCT scanned_at FROM scanned_files ORDER BY 1").fetchall()
    assert [str(r[0]) for r in scanned] == ["2026-12-07T10:00:00+00:00", "2026-12-07T10:00:01+00:00"]


@pytest.mark.parametrize("files", [3, bulk.FEW_ROWS + 5], ids=["few", "many"])
def test_skipped_lines_of_restarted_files_start_again_and_the_others_add_up(conn: Conn, files: int) -> None:
    paths = [f"/logs/p/s{n:03d}.jsonl" for n in range(files)]
    with write_transaction(conn):
        skipped.record(conn, paths, {(p, reason): 2 for p in paths for reason in ("truncated", "invalid")})
    restarted = paths[: files // 2]
    counts = {(p, "truncated"): 1 for p in paths} | {(paths[-1], "synthetic"): 4, (paths[0], "invalid"): 0}
    with write_transaction(conn):
        skipped.record(conn, restarted, counts)
    held = {
        (str(p), str(r)): int(n) for p, r, n in conn.execute("SELECT path, reason, lines FROM skipped_lines")
    }
    expected = {(p, "truncated"): 1 for p in restarted}  # the first read's counts forgotten
    expected |= {(p, reason): 2 for p in paths[files // 2 :] for reason in ("truncated", "invalid")}
    expected |= {(p, "truncated"): 3 for p in paths[files // 2 :]} | {(paths[-1], "synthetic"): 4}
    assert held == expected
    with write_transaction(conn):
        skipped.forget(conn, paths[1:])
    assert conn.execute("SELECT path, reason, lines FROM skipped_lines").fetchall() == [
        (paths[0], "truncated", 1)
    ]
