"""The log watcher: a running server skips the walk of an unchanged log tree, and never answers
from a stale one (``cost_mcp.logwatch``). Real folders, real files, real server processes."""

from __future__ import annotations

import ctypes
import errno
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters

from cost_mcp import logwatch, sync
from cost_mcp.config import load_settings
from cost_mcp.logwatch import LogWatcher, Root
from cost_mcp.pricing import Pricer
from cost_mcp.store import connect
from tests.sources.claude_logs import assistant, permissions_hold, session_file, write
from tests.test_server import server_env

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the watcher uses inotify")

WATCHED = "the log folders are watched"
CALL_USD = Decimal("0.018")  # one Sonnet call of 1,000 tokens in and 1,000 out
TIMEOUT = 30.0


def _call(n: int, session: str = "s1") -> dict[str, Any]:
    return assistant(
        f"m{n}", f"r{n}", f"2026-11-02T09:{n:02d}:00.000Z", session=session, input=1_000, output=1_000
    )


def _env(home: Path, watch: bool) -> dict[str, str]:
    return {**server_env(home), "HOME": str(home), "COST_MCP_WATCH_LOGS": "true" if watch else "false"}


async def _spend(c: Client) -> tuple[Decimal, str]:
    """The total and what the answer says of the Claude Code logs' last check."""
    result = await c.call_tool("get_spend", {"start": "2026-11-01", "end": "2026-11-05"})
    data = result.structured_content
    assert data is not None, result.content
    claude = next(s for s in data["sources"] if s["source"] == "claude_code")
    return Decimal(str(data["total_usd"])), str(claude["last_refresh"])


async def _until(c: Client, want: Callable[[Decimal, str], bool]) -> tuple[Decimal, str, int]:
    """Ask until the answer is ``want``ed (a bounded wait for the watcher); the answer and the asks."""
    deadline = time.monotonic() + TIMEOUT
    asks = 0
    while True:
        total, checked = await _spend(c)
        asks += 1
        if want(total, checked) or time.monotonic() > deadline:
            return total, checked, asks
        await anyio.sleep(0.05)


@linux_only
@pytest.mark.anyio
async def test_a_watched_server_skips_the_walk_and_still_sees_every_change(home: Path) -> None:
    claude = home / "claude"
    first = write(session_file(claude, "s1"), _call(1))
    params = StdioServerParameters(command=sys.executable, args=["-m", "cost_mcp"], env=_env(home, True))
    async with Client(params) as c:
        # Once the watches are up and one complete pass stands, questions skip the walk.
        total, checked, _ = await _until(c, lambda _t, checked: WATCHED in checked)
        assert WATCHED in checked and total == CALL_USD

        # A line appended to a file already read.
        write(first, _call(2), append=True)
        total, checked, _ = await _until(c, lambda t, _c: t == 2 * CALL_USD)
        assert total == 2 * CALL_USD
        total, checked, _ = await _until(c, lambda _t, checked: WATCHED in checked)
        assert WATCHED in checked and total == 2 * CALL_USD

        # A new file in a new project folder.
        write(session_file(claude, "s2", project="-home-dev-other"), _call(3, "s2"))
        total, checked, _ = await _until(c, lambda t, _c: t == 3 * CALL_USD)
        assert total == 3 * CALL_USD
        await _until(c, lambda _t, checked: WATCHED in checked)

        # A file replaced by another (new inode): read again from its start; its new call counts.
        replacement = first.with_name("s1.tmp")
        write(replacement, _call(1), _call(2), _call(4))
        os.replace(replacement, first)
        total, checked, _ = await _until(c, lambda t, _c: t == 4 * CALL_USD)
        assert total == 4 * CALL_USD
        await _until(c, lambda _t, checked: WATCHED in checked)

        # A file truncated and written again in place.
        with first.open("r+") as f:
            f.truncate(0)
        write(first, _call(5), append=True)
        total, checked, _ = await _until(c, lambda t, _c: t == 5 * CALL_USD)
        assert total == 5 * CALL_USD


@linux_only
@pytest.mark.sqlite_only  # about folder permissions; root without the capabilities cannot reach PostgreSQL
@pytest.mark.anyio
async def test_a_folder_unreadable_when_it_appeared_is_watched_once_it_is_readable(home: Path) -> None:
    """A project folder the watcher met without read permission could not be watched, and making it
    readable is no event: it stayed unwatched, so once a complete pass stood, a log written in it
    was missed by the next answers, which said the logs were checked (up to the safety interval).
    Now every question tries such a folder again."""
    claude = home / "claude"
    write(session_file(claude, "s1"), _call(1))
    command = [*permissions_hold(), sys.executable, "-m", "cost_mcp"]
    params = StdioServerParameters(command=command[0], args=command[1:], env=_env(home, True))
    async with Client(params) as c:
        total, checked, _ = await _until(c, lambda _t, checked: WATCHED in checked)
        assert WATCHED in checked and total == CALL_USD

        other = claude / "projects" / "-home-dev-other"
        other.mkdir(mode=0)  # as a folder another user's run left: no permission for this one
        try:
            # A question drains the queue: the watcher has met the new folder and could not watch it.
            total, _ = await _spend(c)
            assert total == CALL_USD
        finally:
            other.chmod(0o755)
        total, checked, _ = await _until(c, lambda _t, checked: WATCHED in checked)
        assert WATCHED in checked and total == CALL_USD

        write(session_file(claude, "s2", project=other.name), _call(2, "s2"))
        total, checked = await _spend(c)
        assert total == 2 * CALL_USD, f"the very next answer missed the new log ({checked})"


@pytest.mark.anyio
async def test_with_the_watcher_off_every_question_walks_the_logs(home: Path) -> None:
    first = write(session_file(home / "claude", "s1"), _call(1))
    params = StdioServerParameters(command=sys.executable, args=["-m", "cost_mcp"], env=_env(home, False))
    async with Client(params) as c:
        # Long enough for a watcher to be up and vouch (with it on, the second answer already
        # does): with it off, every answer comes from a walk of the files, which says so.
        asks = 0
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline or asks < 10:
            total, checked = await _spend(c)
            asks += 1
            assert "1 file(s) checked" in checked or "new line(s) from 1 file(s)" in checked, checked
            assert total == CALL_USD
            await anyio.sleep(0.05)
        write(first, _call(2), append=True)
        total, checked = await _spend(c)
        assert total == 2 * CALL_USD, "the very next answer walked the logs"


@linux_only
def test_the_local_dashboard_skips_the_walk_and_still_sees_every_change(home: Path) -> None:
    """``cost-mcp dashboard`` refreshes before every request (a page asks six questions): with the
    watcher its answers skip the walk of an unchanged tree, and a write is in the very next one."""
    first = write(session_file(home / "claude", "s1"), _call(1))
    proc = subprocess.Popen(
        [sys.executable, "-m", "cost_mcp", "dashboard", "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**_env(home, True), "PYTHONUNBUFFERED": "1"},
        cwd=home,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/\?token=[\w-]+", line)
        assert url, line
        with httpx2.Client(timeout=TIMEOUT, follow_redirects=True) as web:
            assert web.get(url[0]).status_code == 200  # the token exchanged for the session cookie
            spend = url[0].split("/?")[0] + "/api/spend?start=2026-11-01&end=2026-11-05"

            def answer() -> tuple[Decimal, str]:
                data = web.get(spend).json()
                claude = next(s for s in data["sources"] if s["source"] == "claude_code")
                return Decimal(str(data["total_usd"])), str(claude["last_refresh"])

            deadline = time.monotonic() + TIMEOUT
            while WATCHED not in (got := answer())[1] and time.monotonic() < deadline:
                time.sleep(0.05)
            assert got == (CALL_USD, got[1]) and WATCHED in got[1], got
            write(first, _call(2), append=True)
            total, checked = answer()
            assert total == 2 * CALL_USD and WATCHED not in checked, checked
    finally:
        proc.terminate()
        proc.communicate(timeout=TIMEOUT)


# --- the watcher itself, in process --------------------------------------------------------------


def _ready(w: LogWatcher) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not w.ready and w.failed is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert w.ready, w.failed


def _settle(w: LogWatcher) -> None:
    """One complete pass, reported: the next question may skip."""
    ticket = w.begin()
    assert not ticket.skip
    w.done(ticket, whole=True)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    projects = tmp_path / "claude" / "projects"
    write(projects / "p" / "s1.jsonl", _call(1))
    return projects


def _watcher(tree: Path, **kw: Any) -> LogWatcher:
    w = LogWatcher(lambda: [Root(tree, (".jsonl",), "claude_code")], **kw)
    w.start()
    _ready(w)
    return w


@linux_only
def test_a_write_is_seen_by_the_very_next_question(tree: Path) -> None:
    """inotify queues the event inside the write call: the question that follows drains it, with no
    delay to wait out, so no answer right after a write skips the walk."""
    w = _watcher(tree)
    try:
        for n in range(2, 30):
            _settle(w)
            assert w.begin().skip
            write(tree / "p" / "s1.jsonl", _call(n), append=True)
            assert not w.begin().skip
    finally:
        w.stop()


@linux_only
def test_what_does_not_count_and_what_does(tree: Path) -> None:
    w = _watcher(tree)
    try:
        _settle(w)
        (tree / "p" / "notes.txt").write_text("not a log")
        assert w.begin().skip, "a file no scan reads changes nothing"
        (tree / "q").mkdir()
        assert not w.begin().skip, "a new folder may hold logs"
        _settle(w)
        write(tree / "q" / "deep" / "s2.jsonl", _call(2))
        assert not w.begin().skip, "a log in a folder made after the watches were built"
        _settle(w)
        ticket = w.begin()
        write(tree / "p" / "s1.jsonl", _call(3), append=True)  # during the pass
        w.done(ticket, whole=True)
        assert not w.begin().skip, "a change during a pass: that pass does not stand"
        ticket = w.begin()
        w.done(ticket, whole=False)
        assert not w.begin().skip, "a pass stopped at its budget (or with an error) does not stand"
    finally:
        w.stop()


@linux_only
def test_a_root_that_goes_or_comes_back_means_a_walk(tree: Path) -> None:
    w = _watcher(tree)
    try:
        _settle(w)
        moved = tree.with_name("elsewhere")
        tree.rename(moved)
        assert not w.begin().skip
        moved.rename(tree)  # back, the same folder: the watches are built again for it
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            ticket = w.begin()
            w.done(ticket, whole=True)
            if w.begin().skip:
                break
            time.sleep(0.01)
        assert w.begin().skip
        write(tree / "p" / "s1.jsonl", _call(2), append=True)
        assert not w.begin().skip, "watched again after coming back"
    finally:
        w.stop()


@linux_only
def test_the_safety_interval_makes_a_walk_however_quiet(tree: Path) -> None:
    w = _watcher(tree, safety_seconds=0.3)
    try:
        _settle(w)
        assert w.begin().skip
        deadline = time.monotonic() + TIMEOUT
        while w.begin().skip and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not w.begin().skip
    finally:
        w.stop()


@linux_only
def test_an_overflowed_queue_means_a_walk_and_new_watches(tree: Path) -> None:
    w = _watcher(tree)
    try:
        _settle(w)
        built = w._built
        assert built is not None
        # The kernel's overflow event, as it reads from the queue (wd -1, IN_Q_OVERFLOW): events
        # were lost, so nothing can be vouched for until the watches are built again.
        with w._lock:
            w._events(built, logwatch._HEADER.pack(-1, 0x4000, 0, 0))
        assert not w.begin().skip
        deadline = time.monotonic() + TIMEOUT
        while w._built is built and time.monotonic() < deadline:
            time.sleep(0.01)
        assert w._built is not built and w.ready
        _settle(w)
        assert w.begin().skip
    finally:
        w.stop()


@linux_only
def test_a_symlinked_log_file_makes_the_watcher_give_up(tree: Path, tmp_path: Path) -> None:
    # A link the scan reads (inside the root): a write through it lands in a folder not watched.
    target = write(tree / "kept" / "real.log", _call(1))
    (tree / "p" / "linked.jsonl").symlink_to(target)
    w = LogWatcher(lambda: [Root(tree, (".jsonl",), "claude_code")])
    w.start()
    deadline = time.monotonic() + TIMEOUT
    while w.failed is None and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        assert w.failed is not None and "symlink" in w.failed
        assert not w.begin().skip
    finally:
        w.stop()


def _failure(w: LogWatcher) -> str | None:
    """Why the watcher gave up, once it has (None if it has not within the timeout)."""
    deadline = time.monotonic() + TIMEOUT
    while w.failed is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return w.failed


@linux_only
def test_a_link_leading_out_of_the_root_leaves_the_watcher_on(tree: Path, tmp_path: Path) -> None:
    """A ``.jsonl`` link to a file outside the log folder is never read (the walk counts it as
    link_outside), yet it made the watcher give up: every question walked the whole tree again
    for a file no answer reads. Only a link the scan reads does now, there or made later."""
    outside = write(tmp_path / "outside" / "private.jsonl", _call(1))
    (tree / "p" / "linked.jsonl").symlink_to(outside)
    w = _watcher(tree)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not w.ready and w.failed is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert w.failed is None and w.ready
        _settle(w)
        assert w.begin().skip
        (tree / "p" / "later.jsonl").symlink_to(outside)
        deadline = time.monotonic() + TIMEOUT
        while w.begin().skip and time.monotonic() < deadline:  # a change: the next question walks
            time.sleep(0.01)
        assert w.failed is None
        (tree / "p" / "inside.jsonl").symlink_to(write(tree / "kept" / "real.log", _call(2)))
        failed = _failure(w)
        assert failed is not None and "symlink" in failed
    finally:
        w.stop()


def test_without_inotify_every_question_walks(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> Any:
        raise OSError("no inotify here")

    monkeypatch.setattr(logwatch, "_inotify", missing)
    w = LogWatcher(lambda: [Root(tree, (".jsonl",), "claude_code")])
    w.start()
    deadline = time.monotonic() + TIMEOUT
    while w.failed is None and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        assert w.failed is not None
        for _ in range(3):
            ticket = w.begin()
            assert not ticket.skip
            w.done(ticket, whole=True)
    finally:
        w.stop()


class _WatchLimit:
    """The C library's inotify calls, with ``fs.inotify.max_user_watches`` reached while ``full``:
    inotify_add_watch fails with ENOSPC as the kernel makes it fail (the errno ctypes reads)."""

    def __init__(self, lib: Any) -> None:
        self.lib, self.full, self.refused = lib, True, 0

    def inotify_init1(self, flags: int) -> int:
        return int(self.lib.inotify_init1(flags))

    def inotify_add_watch(self, fd: int, path: bytes, mask: int) -> int:
        if self.full:
            self.refused += 1
            ctypes.set_errno(errno.ENOSPC)
            return -1
        return int(self.lib.inotify_add_watch(fd, path, mask))


def _ready_again(w: LogWatcher) -> None:
    """Wait for the watcher's next try to succeed (not a timed assertion: the timeout is generous)."""
    deadline = time.monotonic() + TIMEOUT
    while not w.ready and time.monotonic() < deadline:
        time.sleep(0.01)
    assert w.ready and w.failed is None


@linux_only
def test_a_watcher_over_the_watch_limit_tries_again_later(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At fs.inotify.max_user_watches the watcher gave up until the server restarted: every question
    walked the whole tree, though the tree shrank (Claude Code deletes old sessions) or the limit
    was raised. It now builds its watches again on a back-off, and vouches again once they fit."""
    limit = _WatchLimit(logwatch._inotify())
    monkeypatch.setattr(logwatch, "_inotify", lambda: limit)
    w = LogWatcher(lambda: [Root(tree, (".jsonl",), "claude_code")], retry_seconds=0.01)
    w.start()
    try:
        failed = _failure(w)
        assert failed is not None and "max_user_watches" in failed
        deadline = time.monotonic() + TIMEOUT
        while limit.refused < 3 and time.monotonic() < deadline:  # tried again, still refused
            time.sleep(0.01)
        assert limit.refused >= 3 and w.failed is not None
        ticket = w.begin()
        assert not ticket.skip  # meanwhile every question walks
        limit.full = False  # a watch freed, or the limit raised
        _ready_again(w)
        _settle(w)
        assert w.begin().skip
        write(tree / "p" / "s1.jsonl", _call(2), append=True)
        assert not w.begin().skip  # and sees every change again
    finally:
        w.stop()


@linux_only
def test_watches_follow_the_folders_and_the_thread_stops(tree: Path) -> None:
    """Memory: one entry per folder that exists, however many come and go."""
    w = _watcher(tree)
    try:
        for round_ in range(20):
            folders = [tree / f"r{round_}-{i}" for i in range(10)]
            for f in folders:
                write(f / "s.jsonl", _call(1))
            for f in folders:
                (f / "s.jsonl").unlink()
                f.rmdir()
            w.begin()
        built = w._built
        assert built is not None
        deadline = time.monotonic() + TIMEOUT
        while len(built.watches) > 2 and time.monotonic() < deadline:
            w.begin()  # drains the queue, as questions do
            time.sleep(0.01)
        assert len(built.watches) == 2  # projects/ and p/
    finally:
        w.stop()
    assert w._thread is not None and not w._thread.is_alive()
    assert not w.begin().skip


@linux_only
def test_a_vouched_refresh_reads_nothing_and_records_the_check(home: Path) -> None:
    """Through ``sync.read_local_logs``, on both ledgers: the check is recorded as made now."""
    write(session_file(home / "claude", "s1"), _call(1))
    settings = load_settings()
    w = LogWatcher(lambda: logwatch.log_roots(settings))
    w.start()
    _ready(w)
    conn = connect(settings.db)
    try:
        pricer = Pricer()
        walked = sync.read_local_logs(conn, settings, pricer, 5.0, watcher=w)
        assert walked.files_seen == 1 and walked.events_added == 1
        skipped = sync.read_local_logs(conn, settings, pricer, 5.0, watcher=w)
        assert skipped.files_seen == 0 and skipped.complete
        from cost_mcp.store import source_state

        claude = next(s for s in source_state.all_states(conn) if s.source == "claude_code")
        assert claude.detail is not None and WATCHED in claude.detail
        write(session_file(home / "claude", "s1"), _call(2), append=True)
        again = sync.read_local_logs(conn, settings, pricer, 5.0, watcher=w)
        assert again.files_seen == 1 and again.events_added == 1
    finally:
        conn.close()
        w.stop()


@linux_only
def test_a_vouched_refresh_says_which_log_folders_do_not_exist(home: Path) -> None:
    """A refresh the watcher vouched for recorded Claude Code's logs as "checked" where there is no
    Claude Code folder, and nothing of an agent whose folder was deleted since its last read, which
    became "not refreshed since" in every answer. Both are now recorded as their scans record them."""
    import shutil

    from cost_mcp.sources import agents
    from cost_mcp.sources.agents import codex
    from cost_mcp.store import source_state

    shutil.rmtree(home / "claude")
    shutil.copytree(Path(__file__).parent / "fixtures" / "agents" / "codex", home / "codex")
    settings = load_settings()
    conn = connect(settings.db)
    w = LogWatcher(lambda: logwatch.log_roots(settings))
    try:
        pricer = Pricer()
        agents.ingest_all(conn, settings, pricer)  # Codex read here once
        shutil.rmtree(home / "codex")
        w.start()
        _ready(w)
        walked = sync.read_local_logs(conn, settings, pricer, 5.0, watcher=w)
        assert walked.files_seen == 0 and walked.complete
        # What a vouched refresh must write again (it writes the same as the walk).
        with conn:
            conn.execute("UPDATE source_state SET detail = 'an earlier note'")
        assert w.begin().skip  # the next refresh is vouched for: it walks nothing
        vouched = sync.read_local_logs(conn, settings, pricer, 5.0, watcher=w)
        assert vouched.files_seen == 0 and vouched.complete
        details = {s.source: s.detail for s in source_state.all_states(conn)}
    finally:
        conn.close()
        w.stop()
    codex_folders = ", ".join(str(p) for p in codex.LOG.roots(settings))
    assert details == {
        "claude_code": f"no Claude Code folder at {home / 'claude' / 'projects'}: nothing to read "
        "(set CLAUDE_CONFIG_DIR if Claude Code's logs are elsewhere)",
        "codex": f"no Codex folder at {codex_folders}: nothing to read "
        "(`cost-mcp doctor` lists the folders read)",
    }
