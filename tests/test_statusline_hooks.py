"""`cost-mcp statusline`, `cost-mcp hook`, their --install, plan limits and doctor's cleanup warning."""

from __future__ import annotations

import io
import json
import math
import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
import time_machine
from mcp import Client

from cost_mcp import launcher, sync
from cost_mcp.analytics.budgets import set_budget
from cost_mcp.analytics.plan_limits import plan_limits
from cost_mcp.config import Settings
from cost_mcp.core_settings import load_core_settings
from cost_mcp.doctor import diagnose
from cost_mcp.hooks import UNREAD_NOTE
from cost_mcp.models import BudgetScope
from cost_mcp.money import format_usd, from_nanos, to_nanos
from cost_mcp.pricing import Price, Pricer, Tokens
from cost_mcp.sources.reported import record_call
from cost_mcp.statusline import read_transcript
from cost_mcp.store import status
from cost_mcp.store.connection import Conn, connect, write_transaction
from tests.pg_cluster import Cluster
from tests.sources.claude_logs import SONNET, assistant, read_without, session_file, write
from tests.test_cli import process
from tests.venvs import CACHE_TAG, environment, temporary_environment

NOW = datetime.now(UTC).replace(microsecond=0)
"""The moment this module's stamps, prices and "today" are computed from: each test's start."""


@pytest.fixture(autouse=True)
def now_is_the_tests_start(monkeypatch: pytest.MonkeyPatch, clock: None) -> None:
    """NOW, taken afresh as each test starts, today at noon (the ``clock`` fixture, which the CLI
    subprocesses some tests start read too). Taken once at import, it was minutes old by the time
    a test ran, and past midnight the calls a test wrote "10 minutes ago" (before NOW's midnight)
    were out of the statusline's "today" while its expectation, computed from NOW, counted them in;
    taken at the test's start, a midnight during the test did the same."""
    monkeypatch.setattr(sys.modules[__name__], "NOW", datetime.now(UTC).replace(microsecond=0))


def stamp(minutes_ago: int) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).isoformat().replace("+00:00", "Z")


def price(tokens: Tokens, minutes_ago: int) -> Decimal:
    p = Pricer().price(tokens, SONNET, "anthropic", NOW - timedelta(minutes=minutes_ago))
    assert isinstance(p, Price)
    return from_nanos(p.total_nanos)


def status_input(transcript: Path, session: str, **limits: object) -> str:
    data: dict[str, object] = {
        "session_id": session,
        "transcript_path": str(transcript),
        "cwd": "/home/dev/app",
        "model": {"id": SONNET, "display_name": "Sonnet"},
        "cost": {"total_cost_usd": 123.0},  # Claude Code's own estimate: never shown
    }
    if limits:
        data["rate_limits"] = limits
    return json.dumps(data)


def _at_evening(request: pytest.FixtureRequest) -> datetime:
    """Run the rest of the test at 21:00 UTC today (time-machine, ticking), so that calls made
    minutes before are today's whatever the hour CI runs at; returns that instant."""
    evening = NOW.replace(hour=21, minute=0, second=0)
    traveller = time_machine.travel(evening, tick=True)
    traveller.start()
    request.addfinalizer(traveller.stop)
    return evening


def _stamp(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


class _OneCall(NamedTuple):
    """A session of project -home-dev-app whose log holds one Sonnet call (:func:`_one_call`)."""

    evening: datetime
    transcript: Path
    spent: Decimal
    """What the call cost."""
    base: dict[str, object]
    """What each of the session's hook events carries."""
    prompt: dict[str, object]
    """The session's UserPromptSubmit event."""


def _one_call(home: Path, request: pytest.FixtureRequest) -> _OneCall:
    """The budget tests' session: one Sonnet call (1,000 input and 100,000 output tokens, about
    $1.50) five minutes before the test, which then runs at 21:00 UTC today (:func:`_at_evening`),
    so that day budgets count it whatever the hour CI runs at."""
    evening = _at_evening(request)
    transcript = session_file(home / "claude", "s1", project="-home-dev-app")
    at = evening - timedelta(minutes=5)
    write(transcript, assistant("m1", "r1", _stamp(at), session="s1", input=1000, output=100_000))
    priced = Pricer().price(Tokens(input=1000, output=100_000), SONNET, "anthropic", at)
    assert isinstance(priced, Price)
    base: dict[str, object] = {"session_id": "s1", "transcript_path": str(transcript), "cwd": "/home/dev/app"}
    prompt = {**base, "hook_event_name": "UserPromptSubmit", "prompt": "go on"}
    return _OneCall(evening, transcript, from_nanos(priced.total_nanos), base, prompt)


def run_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], stdin: str, *args: str
) -> tuple[int, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = launcher.main(list(args))
    return code, capsys.readouterr().out


def test_statusline_shows_the_ledgers_exact_session_cost_reading_only_its_transcript(
    home: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    mine = session_file(home / "claude", "s-mine")
    write(
        mine,
        assistant("m1", "r1", stamp(30), session="s-mine", input=100, output=2000, cache_read=50_000),
        assistant("m2", "r2", stamp(10), session="s-mine", input=50, output=1000, cache_read=60_000),
    )
    other = session_file(home / "claude", "s-other")
    write(other, assistant("m3", "r3", stamp(20), session="s-other", input=10, output=10))
    calls = {
        30: Tokens(input=100, output=2000, cache_read=50_000),
        10: Tokens(input=50, output=1000, cache_read=60_000),
    }
    session = sum((price(tokens, ago) for ago, tokens in calls.items()), Decimal(0))

    def today_of(calls: Mapping[int, Tokens]) -> Decimal:
        # In the first half hour of a UTC day the earlier call was yesterday's (the ledger is in UTC).
        on_today = (price(t, ago) for ago, t in calls.items() if stamp(ago)[:10] == NOW.date().isoformat())
        return sum(on_today, Decimal(0)).quantize(Decimal("0.01"))

    code, out = run_cli(
        monkeypatch, capsys, status_input(mine, "s-mine"), "statusline", "--fields", "session,today"
    )
    assert code == 0
    # s-other is not read yet: today is at least this session's, and says the rest is unread.
    mine_cost = session.quantize(Decimal("0.01"))
    assert out == f"${mine_cost} session · ≥${today_of(calls)} today (other logs unread)\n"
    conn = connect(settings.db)
    read = {r[0] for r in conn.execute("SELECT path FROM scanned_files")}
    conn.close()
    assert read == {str(mine)}  # the rest of the tree is left to the server's refresh
    # Once a reader has checked every log (here the CLI), today is the whole day's, unmarked.
    assert run_cli(monkeypatch, capsys, "", "report")[0] == 0
    code, out = run_cli(
        monkeypatch, capsys, status_input(mine, "s-mine"), "statusline", "--fields", "session,today"
    )
    everything = {**calls, 20: Tokens(input=10, output=10)}
    assert out == f"${mine_cost} session · ${today_of(everything)} today\n"


def test_statusline_and_hook_read_no_transcript_outside_the_claude_folders(
    home: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """QA (h-qa): the status line and the hook read whatever ``transcript_path`` their stdin named:
    a JSONL file anywhere (here beside the Claude folder, a symlink in it leading there too) was
    stored as Claude Code calls ($15 of them, in every report, budget and push), and /etc/passwd
    was opened and read through. README says they read their session's transcript only, which
    Claude Code keeps in its folder: a path outside the configured Claude folders is not read, and
    a path holding a NUL byte is no path (the line said "cost-mcp: error")."""
    monkeypatch.setenv("NO_COLOR", "1")
    outside = home / "elsewhere" / "projects" / "-x" / "s-out.jsonl"
    write(outside, assistant("m1", "r1", stamp(5), session="s-out", input=10, output=1_000_000))
    link = session_file(home / "claude", "s-link")
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside)
    for path in (str(outside), str(link), "/etc/passwd", "/tmp/x\x00y"):
        for command in ("statusline", "hook"):
            event = {"session_id": "s-out", "transcript_path": path, "hook_event_name": "UserPromptSubmit"}
            code, out = run_cli(monkeypatch, capsys, json.dumps(event), command)
            assert code == 0 and "error" not in out, (path, command, out)
    conn = connect(settings.db)
    try:
        stored = conn.execute("SELECT COUNT(*) FROM usage_events").fetchone()[0]
        read = [r[0] for r in conn.execute("SELECT path FROM scanned_files")]
    finally:
        conn.close()
    assert (stored, read) == (0, [])
    # Its own transcript, in the Claude folder, is read as before.
    mine = session_file(home / "claude", "s-mine")
    write(mine, assistant("m2", "r2", stamp(5), session="s-mine", input=10, output=1000))
    code, out = run_cli(
        monkeypatch, capsys, status_input(mine, "s-mine"), "statusline", "--fields", "session"
    )
    assert (
        code == 0 and out == f"${price(Tokens(input=10, output=1000), 5).quantize(Decimal('0.01'))} session\n"
    )


def test_a_call_stamped_years_ahead_does_not_become_the_active_block(
    home: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The QA case (h-qatime F6): one log line stamped 2099 (a clock set wrong) made the status line
    show "block $0.02 (635417h56m left)" and `blocks` list two active blocks; the block of the call
    made 20 minutes ago is the active one."""
    monkeypatch.setenv("NO_COLOR", "1")
    transcript = session_file(home / "claude", "s1")
    write(
        transcript,
        assistant("m1", "r1", stamp(20), session="s1", output=1000),
        assistant("m2", "r2", "2099-06-01T10:00:00.000Z", session="s1", output=1000),
    )
    code, listed = run_cli(monkeypatch, capsys, "", "blocks", "--json")  # reads every log too
    assert code == 0
    blocks = json.loads(listed)
    assert [b["start"][:4] for b in blocks["blocks"] if b["is_active"]] == [str(NOW.year)]
    assert blocks["active"]["requests"] == 1
    code, out = run_cli(
        monkeypatch, capsys, status_input(transcript, "s1"), "statusline", "--fields", "block"
    )
    assert code == 0
    # The block began at the hour of the call 20 minutes ago: 4 to 5 hours are left of it.
    assert re.fullmatch(r"block \$0\.02 \([34]h\d\dm left\)\n", out), out


def test_a_sessions_subagents_count_in_its_status_line_and_its_hook(
    home: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Claude Code's Task agents log under ``<session>/subagents/``: before, the status line's session
    cost left out every subagent call made since the last full read, unmarked, and a hard budget's
    hook let the subagents spend on."""
    monkeypatch.setenv("NO_COLOR", "1")
    main = session_file(home / "claude", "s-main")
    write(main, assistant("m1", "r1", stamp(30), session="s-main", input=100, output=1000))
    sub = main.parent / "s-main" / "subagents" / "agent-a1.jsonl"
    sub.parent.mkdir(parents=True)
    write(sub, assistant("m2", "r2", stamp(20), session="s-main", sidechain=True, input=100, output=2000))
    spent = price(Tokens(input=100, output=1000), 30) + price(Tokens(input=100, output=2000), 20)

    def session_line() -> str:
        code, out = run_cli(
            monkeypatch, capsys, status_input(main, "s-main"), "statusline", "--fields", "session"
        )
        assert code == 0
        return out

    assert session_line() == f"${spent.quantize(Decimal('0.01'))} session\n"  # a first line: nothing read yet
    assert run_cli(monkeypatch, capsys, "", "report")[0] == 0  # every log read once
    conn = connect(settings.db)
    set_budget(conn, "month", spent + Decimal("0.10"), "month", BudgetScope(), hard=True)
    conn.close()
    prompt = {
        "session_id": "s-main",
        "transcript_path": str(main),
        "cwd": "/home/dev/app",
        "hook_event_name": "UserPromptSubmit",
        "prompt": "go on",
    }
    assert _hook(monkeypatch, capsys, prompt) is None  # room left
    # A subagent works on (its transcript grows, the session's does not).
    write(
        sub,
        assistant("m3", "r3", stamp(1), session="s-main", sidechain=True, input=100, output=50_000),
        append=True,
    )
    spent += price(Tokens(input=100, output=50_000), 1)
    blocked = _hook(monkeypatch, capsys, prompt)
    assert blocked is not None and blocked["decision"] == "block" and "'month'" in str(blocked["reason"])
    assert session_line() == f"${spent.quantize(Decimal('0.01'))} session\n"


def test_a_subagent_link_leading_out_of_the_claude_folder_is_not_read_by_the_status_line(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The status line (and the budget hooks) listed ``<session>/subagents/`` on its own and read
    every ``.jsonl`` there wherever it led: a symlink to another file of the user's was read as a
    subagent's log and its calls counted, though a full read passes such a link over. It now finds
    subagents' logs as a full read does."""
    monkeypatch.setenv("NO_COLOR", "1")
    main = session_file(home / "claude", "s-main")
    write(main, assistant("m1", "r1", stamp(30), session="s-main", input=100, output=1000))
    private = home / "elsewhere" / "private.jsonl"
    write(private, assistant("m2", "r2", stamp(20), session="s-main", sidechain=True, output=900_000))
    subagents = main.parent / "s-main" / "subagents"
    subagents.mkdir(parents=True)
    (subagents / "agent-a1.jsonl").symlink_to(private)
    code, out = run_cli(
        monkeypatch, capsys, status_input(main, "s-main"), "statusline", "--fields", "session"
    )
    assert code == 0
    assert out == f"${price(Tokens(input=100, output=1000), 30).quantize(Decimal('0.01'))} session\n"


def test_statusline_reads_only_the_new_bytes_of_its_transcript(home: Path, settings: Settings) -> None:
    """With other files' read states in the ledger, the transcript resumes from its own saved
    offset: a later streamed copy of a call replaces it (counted once), and the other file, grown
    too, is left for the next refresh."""
    mine = session_file(home / "claude", "s-mine")
    other = session_file(home / "claude", "s-other")
    write(mine, assistant("m1", "r1", stamp(30), session="s-mine", input=100, output=10))
    write(other, assistant("m9", "r9", stamp(25), session="s-other", input=1, output=1))
    conn = connect(settings.db)
    try:
        for path in (mine, other):
            read_transcript(conn, settings, str(path))
        other_before = other.stat().st_size
        write(mine, assistant("m1", "r1", stamp(30), session="s-mine", input=100, output=900), append=True)
        write(mine, assistant("m2", "r2", stamp(5), session="s-mine", input=7, output=70), append=True)
        write(other, assistant("m8", "r8", stamp(4), session="s-other", input=1, output=1), append=True)
        read_transcript(conn, settings, str(mine))
        offsets = dict(conn.execute('SELECT path, "offset" FROM scanned_files').fetchall())
        assert offsets == {str(mine): mine.stat().st_size, str(other): other_before}
        counted = conn.execute(
            "SELECT message_id, output_tokens FROM usage_events WHERE counted = 1 ORDER BY message_id"
        ).fetchall()
        assert counted == [("m1", 900), ("m2", 70), ("m9", 1)]
    finally:
        conn.close()


def test_statusline_records_plan_limits_once_per_change_and_colours_them(
    home: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    transcript = session_file(home / "claude", "s1")
    write(transcript, assistant("m1", "r1", stamp(5), session="s1"))
    resets = int((NOW + timedelta(hours=2)).timestamp())
    week = int((NOW + timedelta(days=3)).timestamp())
    for used in (20, 20, 35):
        reading = status_input(
            transcript,
            "s1",
            five_hour={"used_percentage": used, "resets_at": resets},
            seven_day={"used_percentage": 81.5, "resets_at": week},
        )
        code, out = run_cli(monkeypatch, capsys, reading, "statusline", "--fields", "limits")
        assert code == 0
    # 81.5% read "7d 82%": rounded up, and with no word of what it is a share of.
    assert "\033[" in out and "5h limit 35% used" in out and "7d limit 81% used" in out
    monkeypatch.setenv("NO_COLOR", "1")
    _, plain = run_cli(monkeypatch, capsys, reading, "statusline", "--fields", "limits")
    assert "\033[" not in plain
    conn = connect(settings.db)
    try:
        limits = plan_limits(conn)
    finally:
        conn.close()
    by_window = {w.window: w for w in limits.windows}
    assert [r.used_percent for r in by_window["five_hour"].readings] == [20, 35]
    assert [r.used_percent for r in by_window["seven_day"].readings] == [81.5]


def test_statusline_rejects_an_unknown_field(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The line Claude Code shows names the field, since `doctor` cannot see a command's arguments,
    # and the exit is 0, or Claude Code shows nothing (statusline_failed); the same through the
    # full CLI's `--fields=weather` form.
    named = (
        "cost-mcp: unknown status-line field(s) weather; choose from session, today, block, budget, limits\n"
    )
    assert run_cli(monkeypatch, capsys, "{}", "statusline", "--fields", "session,weather") == (0, named)
    assert run_cli(monkeypatch, capsys, "{}", "statusline", "--fields=session,weather") == (0, named)


def test_statusline_on_a_ledger_that_cannot_be_used_shows_its_hint_and_exits_0(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Claude Code blanks the status row when the command exits non-zero
    (anthropics/claude-code#95759), so the status line's "run `cost-mcp doctor`" for an unusable
    ledger, shown with exit 2, was never seen. It exits 0 with its hint now, the detail on stderr,
    through the launcher's fast path and the full CLI alike."""
    db = os.environ["COST_MCP_DB"]
    if db.startswith("postgresql://"):
        monkeypatch.setenv(
            "COST_MCP_DB", db.replace("postgres@", "ghost@", 1)
        )  # a role the server does not know
        fix = 'role "ghost" does not exist'
    else:
        Path(db).parent.mkdir(parents=True)
        Path(db).write_bytes(b"not a database\n" * 100)
        fix = "is not a valid SQLite database"
    monkeypatch.setattr(sys, "stdin", io.StringIO("{}"))
    fast = launcher.main(["statusline"])
    said = capsys.readouterr()
    assert (fast, said.out) == (0, "cost-mcp: error (run `cost-mcp doctor`)\n")
    assert said.err.startswith("cost-mcp statusline: ") and fix in said.err, said.err
    monkeypatch.setattr(sys, "stdin", io.StringIO("{}"))
    full = launcher.main(["statusline", "--fields=session"])  # not the fast path's form
    said = capsys.readouterr()
    assert (full, said.out) == (fast, "cost-mcp: error (run `cost-mcp doctor`)\n")
    assert fix in said.err, said.err


def test_statusline_fields_are_read_from_the_env_file_and_a_bad_one_is_named_by_doctor(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Claude Code starts the status line with its own environment, so the env file is where a
    person sets COST_MCP_STATUSLINE_FIELDS (as `statusline --install` advises); it was read from the
    environment only, and a bad value made the line say "run `cost-mcp doctor`", which said nothing."""
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("COST_MCP_STATUSLINE_FIELDS", raising=False)
    mine = session_file(home / "claude", "s-mine")
    write(mine, assistant("m1", "r1", stamp(10), session="s-mine", output=1000))
    env_file = home / "config" / "env"
    env_file.parent.mkdir(parents=True, exist_ok=True)
    env_file.write_text("COST_MCP_STATUSLINE_FIELDS=session\n", encoding="utf-8")
    code, out = run_cli(monkeypatch, capsys, status_input(mine, "s-mine"), "statusline")
    cost = price(Tokens(output=1000), 10).quantize(Decimal("0.01"))
    assert (code, out) == (0, f"${cost} session\n")
    env_file.write_text("COST_MCP_STATUSLINE_FIELDS=session,weather\n", encoding="utf-8")
    assert run_cli(monkeypatch, capsys, "{}", "statusline")[1] == "cost-mcp: error (run `cost-mcp doctor`)\n"
    monkeypatch.setenv("COLUMNS", "400")
    code, out = run_cli(monkeypatch, capsys, "", "doctor")
    assert code == 1
    assert "problem: COST_MCP_STATUSLINE_FIELDS: unknown status-line field(s) weather; choose from" in out


def test_statusline_through_the_installed_command(home: Path) -> None:
    transcript = session_file(home / "claude", "s1")
    write(transcript, assistant("m1", "r1", stamp(5), session="s1", input=10, output=10))
    done = subprocess.run(
        [sys.executable, "-m", "cost_mcp", "statusline"],
        input=status_input(transcript, "s1"),
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        check=True,
    )
    # A first run, before any reader checked the other logs: today and the block are lower bounds.
    # A few tokens cost $0.00018: shown as $0.0002, never as $0.00.
    assert done.stdout.startswith("$0.0002 session · ≥$0.0002 today (other logs unread) · block ≥$0.0002")


def test_statusline_behind_another_writer_answers_at_once_marking_its_figures(
    home: Path, settings: Settings
) -> None:
    # Another process holds the write lock for long (a cold ingest of a big tree, a reprice, a
    # migration): the line waited the full minute's busy timeout, then showed an error.
    transcript = session_file(home / "claude", "s1")
    write(transcript, assistant("m1", "r1", stamp(5), session="s1", input=10, output=10))

    def statusline() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cost_mcp", "statusline", "--fields", "session,today"],
            input=status_input(transcript, "s1"),
            capture_output=True,
            text=True,
            env={**os.environ, "NO_COLOR": "1"},
            timeout=20,
            check=False,
        )

    assert statusline().stdout.startswith("$0.0002 session")
    write(transcript, assistant("m2", "r2", stamp(4), session="s1", input=10, output=10))
    holder = connect(settings.db)
    try:
        with write_transaction(holder):
            done = statusline()
    finally:
        holder.close()
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == "≥$0.0002 session (ledger busy) · ≥$0.0002 today (other logs unread)\n"
    assert statusline().stdout.startswith("$0.0004 session")  # the next call reads what was left


def test_the_hook_behind_another_writer_decides_at_once_and_says_so(home: Path, settings: Settings) -> None:
    """With a budget set the hook reads the session's new lines first: behind a long writer, every
    prompt and tool call of the session waited a minute. Since it decides at once from the ledger as
    it stands, a $750 call over a $1 hard budget then passed in silence: the answer now says the
    session's newest calls were not counted, on a prompt and on a tool call, and the next call
    that can read them is refused."""
    conn = connect(settings.db)
    set_budget(conn, "month", Decimal(1), "month", BudgetScope(), hard=True)
    conn.close()
    transcript = session_file(home / "claude", "s1")
    write(transcript, assistant("m1", "r1", stamp(5), session="s1", input=10, output=10))

    def hook(name: str) -> tuple[subprocess.CompletedProcess[str], float]:
        event = {"session_id": "s1", "transcript_path": str(transcript), "hook_event_name": name}
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "cost_mcp", "hook"],
            input=json.dumps(event),
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        return done, time.monotonic() - started

    first, _ = hook("PreToolUse")
    assert (first.returncode, first.stdout, first.stderr) == (0, "", "")  # read, well under $1
    # 90M input tokens of Sonnet (hundreds of dollars), logged while another process holds the lock.
    write(transcript, assistant("m2", "r2", stamp(4), session="s1", input=90_000_000, output=10), append=True)
    holder = connect(settings.db)
    try:
        with write_transaction(holder):
            answers = {name: hook(name) for name in ("UserPromptSubmit", "PreToolUse")}
    finally:
        holder.close()
    note = (
        "cost-mcp: budgets checked without this session's newest calls (another cost-mcp process holds "
        "the ledger's write lock): a hard budget they used up cannot stop this one; the next prompt or "
        "tool call reads them"
    )
    for name, (done, took) in answers.items():
        assert (done.returncode, done.stderr) == (0, ""), name
        assert took < 10, (name, took)  # the second's wait for the lock, and the process's start
        said = json.loads(done.stdout or "{}")
        assert "decision" not in said and "hookSpecificOutput" not in said, name  # let through...
        assert note in str(said.get("systemMessage", "")).split("\n"), name  # ...and said so
    after, _ = hook("PreToolUse")  # the lock released: the call is read and the budget holds
    assert json.loads(after.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"


@pytest.mark.postgresql_only  # about PostgreSQL's statement_timeout
def test_a_write_the_servers_statement_timeout_cancelled_is_not_said_to_be_a_busy_ledger(
    home: Path, settings: Settings, pg_cluster: Cluster
) -> None:
    """A role whose statement_timeout (an admin's ALTER ROLE ... SET) is shorter than the second a
    write waits for another process's lock: the server cancels the write. The status line said
    "(ledger busy)", the hook that another cost-mcp process held the lock and an answer that
    another process was writing the ledger, though waiting fixes nothing: the role's setting does,
    as a command that stops on it already said (store.connection.explain)."""
    conn = connect(settings.db)
    set_budget(conn, "month", Decimal(1000), "month", BudgetScope(), hard=True)
    conn.close()
    transcript = session_file(home / "claude", "s1")
    write(transcript, assistant("m1", "r1", stamp(5), session="s1", input=10, output=10))
    env = {**os.environ, "NO_COLOR": "1"}

    def cost_mcp(stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cost_mcp", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )

    assert cost_mcp(status_input(transcript, "s1"), "statusline").stdout.startswith("$0.0002 session")
    write(transcript, assistant("m2", "r2", stamp(4), session="s1", input=10, output=10), append=True)
    holder = connect(settings.db)  # opened before the setting: its session has no statement_timeout
    database = urlsplit(os.environ["COST_MCP_DB"]).path.lstrip("/")
    # Sessions opened from now on take it, as after ALTER ROLE; shorter than the lock's wait
    # (REFRESH_LOCK_TIMEOUT_MS), so the server cancels the wait behind the holder first.
    pg_cluster.exec(f"ALTER DATABASE {database} SET statement_timeout = '400ms'")
    try:
        with write_transaction(holder):
            line = cost_mcp(status_input(transcript, "s1"), "statusline", "--fields", "session,today")
            prompt = cost_mcp(
                json.dumps(
                    {
                        "session_id": "s1",
                        "transcript_path": str(transcript),
                        "hook_event_name": "UserPromptSubmit",
                    }
                ),
                "hook",
            )
            tool = cost_mcp(
                json.dumps(
                    {"session_id": "s1", "transcript_path": str(transcript), "hook_event_name": "PreToolUse"}
                ),
                "hook",
            )
            report = cost_mcp("", "report", "--json")
    finally:
        holder.close()
        pg_cluster.exec(f"ALTER DATABASE {database} RESET statement_timeout")
    assert (line.returncode, line.stderr) == (0, "")
    assert (
        line.stdout
        == "≥$0.0002 session (ledger: server cancelled write) · ≥$0.0002 today (other logs unread)\n"
    )
    note = (
        "cost-mcp: budgets checked without this session's newest calls (the ledger's PostgreSQL server "
        "cancelled the write: its statement_timeout for this role, set by an admin, or an admin stopped "
        "it): a hard budget they used up cannot stop this one. Raise the role's statement_timeout (ALTER "
        "ROLE <role> SET statement_timeout = '5min', or 0 for none)"
    )
    for name, done in (("UserPromptSubmit", prompt), ("PreToolUse", tool)):
        assert (done.returncode, done.stderr) == (0, ""), name
        said = json.loads(done.stdout or "{}")
        assert "decision" not in said and "hookSpecificOutput" not in said, name  # let through...
        assert note in str(said.get("systemMessage", "")).split("\n"), name  # ...and why, truly
    assert report.returncode == 0, report.stderr
    assert "waiting" not in report.stderr  # no other process to wait for
    warnings = json.loads(report.stdout)["warnings"]
    assert sync.CANCELLED_WARNING in warnings and sync.BUSY_WARNING not in warnings, warnings
    # The setting gone, the next call reads what was left.
    assert cost_mcp(status_input(transcript, "s1"), "statusline").stdout.startswith("$0.0004 session")


@pytest.mark.anyio
async def test_plan_limits_tool_gives_the_pace(home: Path, client: Client, settings: Settings) -> None:
    from cost_mcp.analytics.plan_limits import record_reading

    conn = connect(settings.db)
    resets = int((NOW + timedelta(hours=3)).timestamp() * 1000)
    record_reading(conn, "claude-code", "five_hour", 10.0, resets, "s1", NOW - timedelta(hours=2))
    record_reading(conn, "claude-code", "five_hour", 40.0, resets, "s1", NOW - timedelta(hours=1))
    conn.close()
    result = await client.call_tool("plan_limits", {"days": 1})
    assert result.structured_content is not None
    window = result.structured_content["windows"][0]
    assert window["percent_per_hour"] == 30.0
    # 60 points left at 30 an hour: two hours after the last reading, before the reset.
    assert window["reaches_100_at"] == (NOW + timedelta(hours=1)).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )


@pytest.mark.anyio
async def test_plan_limits_of_a_window_reset_since_its_last_reading_project_nothing(
    home: Path, client: Client, settings: Settings
) -> None:
    """Codex's last reading two days ago said 40%, rising fast: asked now, the window has reset
    since, so that 40% is not where the plan stands and its "100% at" moment is long gone."""
    from cost_mcp.analytics.plan_limits import record_reading

    conn = connect(settings.db)
    resets = NOW - timedelta(days=2)
    resets_ms = int(resets.timestamp() * 1000)
    # 60 points an hour: at that pace 100% came an hour before the reset, two days ago.
    record_reading(conn, "codex", "five_hour", 10.0, resets_ms, "s1", resets - timedelta(hours=3))
    record_reading(conn, "codex", "five_hour", 40.0, resets_ms, "s1", resets - timedelta(hours=2.5))
    # Another window still running, read as before: its projection stays.
    week_resets = int((NOW + timedelta(days=3)).timestamp() * 1000)
    record_reading(conn, "codex", "seven_day", 10.0, week_resets, "s1", NOW - timedelta(hours=2))
    record_reading(conn, "codex", "seven_day", 12.0, week_resets, "s1", NOW - timedelta(hours=1))
    conn.close()
    result = await client.call_tool("plan_limits", {"days": 7})
    assert result.structured_content is not None
    windows = {w["window"]: w for w in result.structured_content["windows"]}
    five, week = windows["five_hour"], windows["seven_day"]
    assert five["used_percent"] == 40.0  # the latest reading, as read
    assert five["reaches_100_at"] is None
    assert week["reaches_100_at"] is not None
    stamp = resets.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    said = [w for w in result.structured_content["warnings"] if w.startswith("codex five_hour:")]
    assert len(said) == 1 and stamp in said[0] and "40%" in said[0], result.structured_content["warnings"]
    assert not any(w.startswith("codex seven_day:") for w in result.structured_content["warnings"])


def _hook(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], event: Mapping[str, object]
) -> dict[str, object] | None:
    code, out = run_cli(monkeypatch, capsys, json.dumps(event), "hook")
    assert code == 0
    return json.loads(out) if out.strip() else None


def test_hooks_block_at_a_hard_budget_and_warn_at_a_soft_one(
    home: Path,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    _, _, spent, base, prompt = _one_call(home, request)
    tool = {**base, "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": "ls"}}
    assert _hook(monkeypatch, capsys, prompt) is None  # no budgets: nothing to say
    conn = connect(settings.db)
    # ...and nothing read: the new lines are the status line's to read, or the next budget check's.
    assert conn.execute("SELECT COUNT(*) FROM scanned_files").fetchone()[0] == 0
    set_budget(conn, "app-soft", spent / 2, "day", BudgetScope(projects=["-home-dev-app"]))
    conn.close()
    warned = _hook(monkeypatch, capsys, prompt)
    assert warned is not None
    # In the project's money format, as the hard budget's refusal is: never raw nano precision.
    # In cents, as every amount a person reads: it said "$1.5030 spent", the status line "$1.50".
    used_up = f"soft budget 'app-soft' is used up ({format_usd(spent)} spent of {format_usd(spent / 2)})"
    assert used_up in str(warned["systemMessage"]) and "USD" not in str(warned["systemMessage"])
    assert warned["hookSpecificOutput"] == {
        "hookEventName": "UserPromptSubmit",
        "additionalContext": warned["systemMessage"],
    }
    assert _hook(monkeypatch, capsys, tool) is None  # soft budgets never interrupt tool calls
    conn = connect(settings.db)
    set_budget(conn, "app-hard", spent, "day", BudgetScope(agents=["claude-code"]), hard=True)
    set_budget(conn, "other-project", Decimal("0.01"), "day", BudgetScope(projects=["-elsewhere"]), hard=True)
    conn.close()
    blocked = _hook(monkeypatch, capsys, prompt)
    assert blocked is not None and blocked["decision"] == "block" and "app-hard" in str(blocked["reason"])
    denied = _hook(monkeypatch, capsys, tool)
    assert denied is not None
    output = denied["hookSpecificOutput"]
    assert isinstance(output, dict) and output["permissionDecision"] == "deny"
    assert "app-hard" in output["permissionDecisionReason"]


def test_a_blocked_prompt_gives_the_command_that_raises_the_budget_and_when_it_starts_again(
    home: Path,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    """The hook's refusal is read by the person who sets the budgets, and it told them to "use a
    cheaper model, wait for the next period, or ask for a bigger budget": no model fits in a used-up
    budget, they are the one to ask, and it said neither how nor when. It now gives the command that
    raises the budget keeping its period, scope and hardness, and when its period starts again; that
    command, with a bigger amount, lets the next prompt through."""
    evening, _, spent, _, prompt = _one_call(home, request)
    assert run_cli(monkeypatch, capsys, "", "report")[0] == 0  # every log read once
    conn = connect(settings.db)
    set_budget(conn, "app-hard", Decimal("0.50"), "day", BudgetScope(agents=["claude-code"]), hard=True)
    conn.close()
    blocked = _hook(monkeypatch, capsys, prompt)
    assert blocked is not None and blocked["decision"] == "block"
    command = "cost-mcp budget set app-hard AMOUNT --period day --agent claude-code --hard"
    tomorrow = (evening + timedelta(days=1)).date()  # the tests' timezone is UTC
    cents = format_usd(spent)  # in cents, as the status line shows it
    assert blocked["reason"] == (
        f"cost-mcp: refused: hard budget 'app-hard' is used up ({cents} spent of $0.50); to go on, raise "
        f"it: {command} (AMOUNT in US dollars, above $0.50), or wait for its next day, from {tomorrow} "
        "00:00 (UTC)"
    )
    assert run_cli(monkeypatch, capsys, "", *command.replace("AMOUNT", "5").split()[1:])[0] == 0
    assert _hook(monkeypatch, capsys, prompt) is None


def test_a_refusal_whose_budget_lacks_a_bill_says_its_spent_is_at_least(
    home: Path,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    """With Anthropic's key set and its bill never synced, `budget status` marked a budget of every
    call "≥" (h-tidy9), yet the hook's refusal said "is used up ($1.50 spent of $0.50)" as the
    whole, and check_budget's "allowed: $x left" as sure. The refusal now says "≥$1.50 spent"; a
    budget that lacks nothing keeps its plain figure (the test above)."""
    _, _, spent, _, prompt = _one_call(home, request)
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", "sk-ant-admin01-" + "a" * 40)
    monkeypatch.setenv("COST_MCP_ANTHROPIC_BASE_URL", "http://127.0.0.1:9")  # offline: never synced
    code, out = run_cli(monkeypatch, capsys, "", "report")  # every log read once, the sync failed
    assert code == 0 and "PARTIAL: anthropic: never synced" in " ".join(out.split()), out
    conn = connect(settings.db)
    set_budget(conn, "app-hard", Decimal("0.50"), "day", BudgetScope(), hard=True)
    conn.close()
    blocked = _hook(monkeypatch, capsys, prompt)
    assert blocked is not None and blocked["decision"] == "block", blocked
    cents = format_usd(spent)
    assert str(blocked["reason"]).startswith(
        f"cost-mcp: refused: hard budget 'app-hard' is used up (≥{cents} spent of $0.50); to go on"
    ), blocked


@pytest.mark.parametrize(
    "scope",
    [
        pytest.param(BudgetScope(agents=["claude-code"]), id="rollup-path"),
        pytest.param(BudgetScope(agents=["claude-code"], basis=["estimated"]), id="full-path"),  # no glance
    ],
)
def test_the_hook_says_a_hard_budget_cannot_stop_calls_with_no_known_price(
    home: Path,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
    scope: BudgetScope,
) -> None:
    """A 3M-token call of a model with no known price counts nothing against a hard budget: the
    hook cannot block it, but must not let the prompt through in silence while check_budget,
    budget_status and the status line all say so."""
    evening = _at_evening(request)
    transcript = session_file(home / "claude", "s1", project="-home-dev-app")
    at = evening - timedelta(minutes=5)
    write(
        transcript,
        assistant("m1", "r1", _stamp(at), session="s1", input=1000, output=1000),
        assistant("m2", "r2", _stamp(at), session="s1", model="claude-mystery-7", input=3_000_000),
    )
    conn = connect(settings.db)
    set_budget(conn, "cap", Decimal(100), "day", scope, hard=True)
    set_budget(conn, "elsewhere", Decimal(100), "day", BudgetScope(projects=["-elsewhere"]), hard=True)
    conn.close()
    base = {"session_id": "s1", "transcript_path": str(transcript), "cwd": "/home/dev/app"}
    said = _hook(monkeypatch, capsys, {**base, "hook_event_name": "UserPromptSubmit", "prompt": "go on"})
    assert said is not None and "decision" not in said  # let through: it cannot be priced
    message = str(said["systemMessage"])
    assert "hard budget 'cap' cannot stop 1 call(s) in its period with no known price" in message
    assert str(settings.prices_file) in message and "elsewhere" not in message
    tool = {**base, "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": "ls"}}
    assert _hook(monkeypatch, capsys, tool) is None  # not on every tool call


def test_the_hook_says_a_project_budget_cannot_count_calls_a_workspace_bill_stands_for(
    home: Path,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    """Today Anthropic's bill so far ($50, by workspace) is larger than this machine's calls, so it
    is the day's total and the project's $3.00 of calls (500k input: long context) count nothing
    against its hard budget: the hook lets the prompt through, saying so with the amount, as
    budget_status does."""
    from cost_mcp.store import write_transaction
    from cost_mcp.store.buckets import DAY_MS, Bucket, replace_range

    evening = _at_evening(request)
    transcript = session_file(home / "claude", "s1", project="-home-dev-app")
    write(
        transcript, assistant("m1", "r1", _stamp(evening - timedelta(minutes=5)), session="s1", input=500_000)
    )
    day = int(evening.replace(hour=0).timestamp() * 1000)
    conn = connect(settings.db)
    with write_transaction(conn):
        bill = Bucket(day, day + DAY_MS, cost_nanos=50_000_000_000, model=SONNET, workspace="wrkspc_1")
        replace_range(conn, "anthropic", "cost", day, day + DAY_MS, [bill])
    set_budget(conn, "app", Decimal(1), "day", BudgetScope(projects=["/home/dev/app"]), hard=True)
    conn.close()
    base = {"session_id": "s1", "transcript_path": str(transcript), "cwd": "/home/dev/app"}
    said = _hook(monkeypatch, capsys, {**base, "hook_event_name": "UserPromptSubmit", "prompt": "go on"})
    assert said is not None and "decision" not in said
    assert (
        "cost-mcp: budget 'app': $3.00 of calls in its scope (estimated) are on days a provider's bill is "
        "the total, and count nothing against it"
    ) in str(said["systemMessage"])
    assert "so it cannot stop those calls" in str(said["systemMessage"])


@pytest.mark.parametrize("scoped", ["app", "/home/dev/app", "-home-dev-app"])
@pytest.mark.parametrize("with_cwd", [True, False])
def test_a_hard_project_budget_blocks_however_the_project_is_named(
    home: Path,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
    scoped: str,
    with_cwd: bool,
) -> None:
    """README: a project may be named by its path, its folder or Claude Code's folder slug. A hard
    budget set by any of them stops the session, whether the hook event carries the session's cwd
    or only its transcript (whose folder is the slug)."""
    evening = _at_evening(request)
    transcript = session_file(home / "claude", "s1", project="-home-dev-app")
    at = evening - timedelta(minutes=5)
    line = assistant("m1", "r1", _stamp(at), session="s1", input=1000, output=100_000)
    write(transcript, {**line, "cwd": "/home/dev/app"})
    event: dict[str, object] = {
        "session_id": "s1",
        "transcript_path": str(transcript),
        "hook_event_name": "UserPromptSubmit",
        "prompt": "go on",
    }
    if with_cwd:
        event["cwd"] = "/home/dev/app"
    conn = connect(settings.db)
    set_budget(conn, "app-cap", Decimal("0.01"), "day", BudgetScope(projects=[scoped]), hard=True)
    set_budget(conn, "elsewhere", Decimal("0.01"), "day", BudgetScope(projects=["other"]), hard=True)
    conn.close()
    blocked = _hook(monkeypatch, capsys, event)
    assert blocked is not None and blocked["decision"] == "block"
    assert "app-cap" in str(blocked["reason"]) and "elsewhere" not in str(blocked["reason"])


def test_a_hard_budget_scoped_to_claude_code_logs_blocks_the_hook(
    home: Path,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    """`budget set cc 0.01 --source claude_code --hard` counts this session's calls (budget_status
    says it is over): the hook must hold the session to it, not check it as a record_usage call."""
    evening = _at_evening(request)
    transcript = session_file(home / "claude", "s1", project="-home-dev-app")
    at = _stamp(evening - timedelta(minutes=5))
    write(transcript, assistant("m1", "r1", at, session="s1", output=100_000))
    conn = connect(settings.db)
    set_budget(conn, "cc-cap", Decimal("0.01"), "day", BudgetScope(sources=["claude_code"]), hard=True)
    set_budget(conn, "agents", Decimal("0.01"), "day", BudgetScope(sources=["record_usage"]), hard=True)
    conn.close()
    event = {"session_id": "s1", "transcript_path": str(transcript), "cwd": "/home/dev/app",
             "hook_event_name": "UserPromptSubmit", "prompt": "go on"}  # fmt: skip
    blocked = _hook(monkeypatch, capsys, event)
    assert blocked is not None and blocked["decision"] == "block"
    assert "'cc-cap'" in str(blocked["reason"]) and "'agents'" not in str(blocked["reason"])


def test_a_hard_budget_on_aws_holds_a_claude_code_session_on_bedrock(
    home: Path,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    """Claude Code on Bedrock (CLAUDE_CODE_USE_BEDROCK, which the hook inherits) spends AWS's money:
    its calls are stored under aws, and a hard budget on aws stops the session; the same session
    without the switch calls Anthropic's API, which that budget does not hold."""
    evening = _at_evening(request)
    transcript = session_file(home / "claude", "s1", project="-home-dev-app")
    at = evening - timedelta(minutes=5)
    bedrock = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    write(
        transcript, assistant("m1", "r1", _stamp(at), session="s1", model=bedrock, input=1000, output=100_000)
    )
    event = {"session_id": "s1", "transcript_path": str(transcript), "cwd": "/home/dev/app",
             "hook_event_name": "UserPromptSubmit", "prompt": "go on"}  # fmt: skip
    conn = connect(settings.db)
    set_budget(conn, "aws-cap", Decimal("0.01"), "day", BudgetScope(providers=["aws"]), hard=True)
    conn.close()
    monkeypatch.delenv("CLAUDE_CODE_USE_BEDROCK", raising=False)
    monkeypatch.delenv("CLAUDE_CODE_USE_VERTEX", raising=False)
    # Not blocked; only the note that no reader has checked the other logs yet.
    assert _hook(monkeypatch, capsys, event) == {"systemMessage": UNREAD_NOTE}
    monkeypatch.setenv("CLAUDE_CODE_USE_BEDROCK", "1")
    blocked = _hook(monkeypatch, capsys, event)
    assert blocked is not None and blocked["decision"] == "block" and "aws-cap" in str(blocked["reason"])


def test_the_hook_says_when_unread_logs_may_have_used_up_a_budget_it_lets_through(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A first run: a hard budget set from the CLI (which reads no logs), another session's log
    already over it, and the hook reading only its own transcript. It cannot see the month's spend,
    so it lets the prompt through (a first run must not lock anyone out) but says why, on prompts
    only; once a reader has checked every log, it blocks."""
    mine = session_file(home / "claude", "s-mine")
    write(mine, assistant("m1", "r1", stamp(10), session="s-mine", output=1000))
    other = session_file(home / "claude", "s-other")
    write(
        other, *(assistant(f"o{i}", f"q{i}", stamp(20), session="s-other", input=150_000) for i in range(40))
    )
    budget = ("budget", "set", "cap", "10", "--period", "month", "--hard")
    assert run_cli(monkeypatch, capsys, "", *budget)[0] == 0
    base = {"session_id": "s-mine", "transcript_path": str(mine), "cwd": "/home/dev/app"}
    prompt = {**base, "hook_event_name": "UserPromptSubmit", "prompt": "go on"}
    tool = {**base, "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": "ls"}}
    assert _hook(monkeypatch, capsys, prompt) == {"systemMessage": UNREAD_NOTE}
    assert _hook(monkeypatch, capsys, tool) is None  # not on every tool call
    assert run_cli(monkeypatch, capsys, "", "report")[0] == 0  # a reader checks every log
    blocked = _hook(monkeypatch, capsys, prompt)
    assert blocked is not None and blocked["decision"] == "block" and "'cap'" in str(blocked["reason"])


def test_the_hook_creates_no_ledger(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A hook runs before every prompt and tool call: with no ledger there is no budget, so it says
    nothing and leaves no file behind (a mistyped COST_MCP_DB made folders and a 270 kB ledger)."""
    target = home / "nowhere" / "deeper" / "cost.db"
    monkeypatch.setenv("COST_MCP_DB", str(target))
    event = {"hook_event_name": "UserPromptSubmit", "prompt": "hi", "cwd": "/home/dev/app"}
    assert _hook(monkeypatch, capsys, event) is None
    assert not (home / "nowhere").exists()


@pytest.mark.parametrize("command", ["statusline", "hook"])
def test_install_shows_the_diff_asks_and_keeps_other_settings(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    target = home / "claude" / "settings.json"
    target.write_text(
        json.dumps({"model": "opus", "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "x"}]}]}})
    )
    before = target.read_text()
    code, out = run_cli(monkeypatch, capsys, "n\n", command, "--install")
    assert code == 1 and "nothing written" in out and out.startswith("---")
    assert target.read_text() == before
    code, out = run_cli(monkeypatch, capsys, "", command, "--install", "--yes")
    ours = f"{Path(sys.executable).parent / 'cost-mcp'} {command}"  # by absolute path, like `mcp add`
    assert code == 0 and f'"command": "{ours}"' in out and out.startswith("---")
    data = json.loads(target.read_text())
    assert data["model"] == "opus" and data["hooks"]["Stop"][0]["hooks"][0]["command"] == "x"
    if command == "statusline":
        assert data["statusLine"] == {"type": "command", "command": ours, "padding": 0}
    else:
        assert [g["hooks"][0]["command"] for g in data["hooks"]["UserPromptSubmit"]] == [ours]
        assert data["hooks"]["PreToolUse"][0]["matcher"] == "*"
    code, out = run_cli(monkeypatch, capsys, "", command, "--install", "--yes")
    assert code == 0 and "nothing to change" in out


@pytest.mark.no_ledger
@pytest.mark.parametrize("command", ["statusline", "hook"])
def test_install_from_a_temporary_environment_writes_nothing_and_says_to_install(
    home: Path, command: str
) -> None:
    """`uvx cost-mcp statusline --install` wrote the path of uvx's environment, inside uv's cache
    (~/.cache/uv/archive-v0/<id>/bin/cost-mcp), into Claude Code's settings: `uv cache clean` deletes
    it, and the status line went blank (each hook run failing) with nothing saying why. From an
    environment inside a tagged cache it now writes nothing and says to install cost-mcp; an
    installed environment carrying the tag itself (uv and pipx tag theirs) installs as before."""
    cache = home / "cache" / "uv"
    target = home / "claude" / "settings.json"
    python = temporary_environment(cache)
    run = subprocess.run(
        [str(python), "-m", "cost_mcp", command, "--install", "--yes"],
        capture_output=True,
        text=True,
        check=False,
    )
    error = " ".join(run.stderr.split())
    assert run.returncode == 2 and not target.exists(), run
    assert f"nothing written: this cost-mcp runs from a temporary environment in {cache}" in error
    assert (
        f"(`uv tool install cost-mcp` or `pipx install cost-mcp`), then run `cost-mcp {command} --install`"
        in error
    )
    installed = home / "tools" / "cost-mcp"
    python = environment(installed)
    (installed / "CACHEDIR.TAG").write_text(CACHE_TAG)
    run = subprocess.run(
        [str(python), "-m", "cost_mcp", command, "--install", "--yes"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0 and target.is_file(), run


def test_install_without_a_claude_code_folder_says_only_claude_code_reads_the_file(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """On a machine with no Claude Code folder (a Codex or Gemini CLI user's), `statusline
    --install` and `hook --install` made one for a settings file nothing else reads, saying nothing
    of it. They now say so before asking; once the folder exists, they do not."""
    import shutil

    claude = home / "claude"
    shutil.rmtree(claude)
    note = (
        f"note: there is no Claude Code folder at {claude}: only Claude Code reads settings.json (Codex, "
        "Gemini CLI and the other agents never run this {what}); writing it creates the folder"
    )
    code, out = run_cli(monkeypatch, capsys, "n\n", "statusline", "--install")
    lines = out.splitlines()
    assert code == 1 and note.format(what="status line") in lines, out
    assert lines[-1].endswith("nothing written")
    assert not claude.exists()
    code, out = run_cli(monkeypatch, capsys, "", "hook", "--install", "--yes")
    assert code == 0 and note.format(what="hook") in out.splitlines()
    assert (claude / "settings.json").is_file()
    code, out = run_cli(monkeypatch, capsys, "y\n", "statusline", "--install")
    assert code == 0 and "wrote" in out and "no Claude Code folder" not in out


def test_install_with_fields_says_where_they_go_instead_of_dropping_them(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`statusline --install --fields session,budget` installed the line with every field, saying
    nothing of the fields asked for; now it installs nothing and says where fields are set."""
    target = home / "claude" / "settings.json"
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code = launcher.main(["statusline", "--install", "--yes", "--fields", "session,budget"])
    error = " ".join(capsys.readouterr().err.split())
    assert code == 2 and not target.exists()
    assert f"put COST_MCP_STATUSLINE_FIELDS=session,budget in {os.environ['COST_MCP_ENV_FILE']}" in error


def test_install_says_which_shell_settings_claude_code_would_not_see(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The ledger and zone of this shell are not Claude Code's environment: the status line it runs
    would read another ledger, unless the env file (read by every entry point) says the same."""
    code, out = run_cli(monkeypatch, capsys, "", "statusline", "--install", "--yes")
    env_file = Path(os.environ["COST_MCP_ENV_FILE"])
    assert code == 0
    note = " ".join(out.split())
    assert (
        f"note: COST_MCP_DB, COST_MCP_TIMEZONE, COST_MCP_PRICES_FILE set in this shell but not in {env_file}"
        in note
    )
    env_file.parent.mkdir(parents=True, exist_ok=True)
    env_file.write_text(
        "".join(
            f"{n}={os.environ[n]}\n" for n in ("COST_MCP_DB", "COST_MCP_TIMEZONE", "COST_MCP_PRICES_FILE")
        )
    )
    code, out = run_cli(monkeypatch, capsys, "", "hook", "--install", "--yes")
    assert code == 0 and "wrote" in out and "note:" not in out


def test_install_into_the_project(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = home / "work"
    project.mkdir()
    monkeypatch.chdir(project)
    code, _ = run_cli(monkeypatch, capsys, "y\n", "statusline", "--install", "--project")
    assert code == 0
    assert (
        json.loads((project / ".claude" / "settings.json").read_text())["statusLine"]["command"]
        == f"{Path(sys.executable).parent / 'cost-mcp'} statusline"
    )


def _ours(command: str) -> str:
    return f"{Path(sys.executable).parent / 'cost-mcp'} {command}"


def test_uninstall_gives_back_the_status_line_it_replaced_and_the_file_byte_for_byte(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A user who tries cost-mcp and changes their mind gets their settings back as they were:
    before, there was no --uninstall, no copy, and the ccusage status line ours replaced was lost."""
    target = home / "claude" / "settings.json"
    ccusage = {"type": "command", "command": "npx ccusage statusline"}
    original = '{"model":"opus",  "statusLine": {"type":"command","command":"npx ccusage statusline"}}\n'
    target.write_text(original)
    assert run_cli(monkeypatch, capsys, "", "statusline", "--install", "--yes")[0] == 0
    code, out = run_cli(monkeypatch, capsys, "", "hook", "--install", "--yes")
    backup = home / "claude" / "settings.json.before-cost-mcp"
    assert code == 0 and backup.read_text() == original  # the file before cost-mcp's first change
    assert json.loads(target.read_text())["statusLine"]["command"] == _ours("statusline")

    code, out = run_cli(monkeypatch, capsys, "n\n", "statusline", "--uninstall")
    assert code == 1 and "nothing written" in out and out.startswith("---")
    code, out = run_cli(monkeypatch, capsys, "y\n", "statusline", "--uninstall")
    data = json.loads(target.read_text())
    assert code == 0 and data["statusLine"] == ccusage and data["model"] == "opus"
    assert [g["hooks"][0]["command"] for g in data["hooks"]["UserPromptSubmit"]] == [_ours("hook")]

    code, out = run_cli(monkeypatch, capsys, "", "hook", "--uninstall", "--yes")
    assert code == 0 and target.read_text() == original and not backup.exists()
    code, out = run_cli(monkeypatch, capsys, "", "hook", "--uninstall", "--yes")
    assert code == 0 and "nothing to change" in out and target.read_text() == original


def test_uninstall_keeps_what_the_user_changed_since_and_removes_a_file_cost_mcp_created(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = home / "claude" / "settings.json"
    assert run_cli(monkeypatch, capsys, "", "hook", "--install", "--yes")[0] == 0
    assert run_cli(monkeypatch, capsys, "", "hook", "--uninstall", "--yes")[0] == 0
    assert not target.exists()  # Claude Code had no settings file before; it has none again

    target.write_text('{"model": "opus"}')
    assert run_cli(monkeypatch, capsys, "", "hook", "--install", "--yes")[0] == 0
    data = json.loads(target.read_text())
    data["hooks"]["Stop"] = [{"hooks": [{"type": "command", "command": "say done"}]}]
    data["theme"] = "dark"
    target.write_text(json.dumps(data))
    assert run_cli(monkeypatch, capsys, "", "hook", "--uninstall", "--yes")[0] == 0
    assert json.loads(target.read_text()) == {
        "model": "opus",
        "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "say done"}]}]},
        "theme": "dark",
    }


def test_uninstall_from_a_project_leaves_it_as_it_was_before_the_install(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Installing both into a project made its .claude/ folder and settings file, and the second
    install kept a copy of the first's file as "the file before cost-mcp"; taking both out again
    left that folder with a settings file of {} and the copy (one install: the empty folder)."""
    project = home / "work"
    project.mkdir()
    monkeypatch.chdir(project)
    folder = project / ".claude"
    for commands in (["statusline"], ["statusline", "hook"], ["hook", "statusline"]):
        for command in commands:
            assert run_cli(monkeypatch, capsys, "", command, "--install", "--project", "--yes")[0] == 0
        assert [p.name for p in folder.iterdir()] == ["settings.json"], commands  # no copy of our own file
        for command in commands:
            assert run_cli(monkeypatch, capsys, "", command, "--uninstall", "--project", "--yes")[0] == 0
        assert list(project.iterdir()) == [], commands

    # A copy of a file holding only our status line, as an earlier version kept, is not given back.
    folder.mkdir()
    (folder / "settings.json.before-cost-mcp").write_text(
        json.dumps({"statusLine": {"type": "command", "command": _ours("statusline")}})
    )
    assert run_cli(monkeypatch, capsys, "", "hook", "--install", "--project", "--yes")[0] == 0
    assert run_cli(monkeypatch, capsys, "", "hook", "--uninstall", "--project", "--yes")[0] == 0
    assert list(project.iterdir()) == []

    # A folder that holds anything else stays, as does a settings file the user had.
    (folder / "commands").mkdir(parents=True)
    assert run_cli(monkeypatch, capsys, "", "statusline", "--install", "--project", "--yes")[0] == 0
    assert run_cli(monkeypatch, capsys, "", "statusline", "--uninstall", "--project", "--yes")[0] == 0
    assert [p.name for p in folder.iterdir()] == ["commands"]
    (folder / "settings.json").write_text("{}\n")
    assert run_cli(monkeypatch, capsys, "", "statusline", "--install", "--project", "--yes")[0] == 0
    assert run_cli(monkeypatch, capsys, "", "statusline", "--uninstall", "--project", "--yes")[0] == 0
    assert (folder / "settings.json").read_text() == "{}\n"
    assert sorted(p.name for p in folder.iterdir()) == ["commands", "settings.json"]


def test_uninstall_gives_back_an_empty_settings_file_as_it_was(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A settings file of 0 bytes (the user's own, made by `touch` or an editor) was not copied before
    the first change, so taking cost-mcp out again deleted it, and the project's .claude/ with it."""
    project = home / "work"
    folder = project / ".claude"
    folder.mkdir(parents=True)
    monkeypatch.chdir(project)
    settings = folder / "settings.json"
    for commands in (["statusline"], ["hook", "statusline"]):
        settings.write_bytes(b"")
        for command in commands:
            assert run_cli(monkeypatch, capsys, "", command, "--install", "--project", "--yes")[0] == 0
        assert settings.stat().st_size > 0
        for command in commands:
            assert run_cli(monkeypatch, capsys, "", command, "--uninstall", "--project", "--yes")[0] == 0
        assert settings.read_bytes() == b"", commands
        assert [p.name for p in folder.iterdir()] == ["settings.json"], commands


def test_install_writes_through_a_symlinked_settings_file_and_keeps_its_permissions(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A settings.json kept in a dotfiles repository and linked into ~/.claude: before, the link was
    replaced by a plain file (the dotfiles never saw the change) with mode 0600."""
    dotfile = tmp_path / "dotfiles" / "claude-settings.json"
    dotfile.parent.mkdir()
    dotfile.write_text('{"model": "opus"}')
    dotfile.chmod(0o640)
    link = home / "claude" / "settings.json"
    link.symlink_to(dotfile)
    assert run_cli(monkeypatch, capsys, "", "statusline", "--install", "--yes")[0] == 0
    assert link.is_symlink() and link.resolve() == dotfile.resolve()
    assert json.loads(dotfile.read_text())["statusLine"]["command"] == _ours("statusline")
    assert oct(dotfile.stat().st_mode & 0o777) == oct(0o640)
    assert (dotfile.parent / "claude-settings.json.before-cost-mcp").read_text() == '{"model": "opus"}'


def test_install_leaves_a_read_only_settings_file_as_it_is(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rename replaces a read-only file as easily as any: before, it was rewritten (and made 0600)."""
    target = home / "claude" / "settings.json"
    target.write_text('{"model": "opus"}')
    target.chmod(0o444)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code = launcher.main(["statusline", "--install", "--yes"])
    out, err = capsys.readouterr()
    assert code == 1 and out.startswith("---")  # the diff, to make by hand
    assert "read-only" in err and f"chmod u+w {target}" in " ".join(err.split())
    assert target.read_text() == '{"model": "opus"}' and oct(target.stat().st_mode & 0o777) == oct(0o444)


def test_install_from_another_folder_replaces_the_old_installs_hooks(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A virtual environment made anew: before, both hooks were kept and Claude Code ran both on every
    prompt and tool call, the old one failing once its folder was gone."""
    target = home / "claude" / "settings.json"
    old = {"type": "command", "command": "/old/venv/bin/cost-mcp hook", "timeout": 10}
    mine = {"type": "command", "command": "echo hi"}
    target.write_text(
        json.dumps(
            {
                "hooks": {
                    "Stop": [],
                    "UserPromptSubmit": [{"hooks": [old, mine]}],
                    "PreToolUse": [{"matcher": "*", "hooks": [old]}],
                }
            }
        )
    )
    assert run_cli(monkeypatch, capsys, "", "hook", "--install", "--yes")[0] == 0
    hooks = json.loads(target.read_text())["hooks"]
    new = {"type": "command", "command": _ours("hook"), "timeout": 10}
    assert hooks == {
        "Stop": [],
        "UserPromptSubmit": [{"hooks": [mine]}, {"hooks": [new]}],
        "PreToolUse": [{"matcher": "*", "hooks": [new]}],
    }


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b'{"model": "opus",\n}', "is not valid JSON"),
        (b"// mine\n{}", "is not valid JSON"),
        (b"[]", "does not hold a JSON object"),
        (b'{"model": "\xff"}', "is not UTF-8 text"),
    ],
)
@pytest.mark.parametrize("flag", ["--install", "--uninstall"])
def test_a_settings_file_cost_mcp_cannot_read_is_named_and_left_as_it_is(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    content: bytes,
    said: str,
    flag: str,
) -> None:
    """Before, a settings file that was not UTF-8 ended the install in a traceback."""
    target = home / "claude" / "settings.json"
    target.write_bytes(content)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code = launcher.main(["hook", flag, "--yes"])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2 and f"{target} {said}" in err and "fix it by hand" in err
    assert target.read_bytes() == content


def test_doctor_warns_when_claude_deletes_transcripts_early(home: Path, settings: Settings) -> None:
    assert diagnose(settings).warnings == []
    (home / "claude" / "settings.json").write_text(json.dumps({"cleanupPeriodDays": 7}))
    warnings = diagnose(settings).warnings
    assert len(warnings) == 1
    assert "cleanupPeriodDays is 7" in warnings[0] and "only from when cost-mcp first read" in warnings[0]


HEAVY = ("pydantic", "pydantic_settings", "genai_prices", "mcp", "rich", "cost_mcp.config", "cost_mcp.models")


def fast_imports(
    calls: Sequence[tuple[Sequence[str], str]], heavy: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Runs the launcher's fast path on each (args, stdin) of ``calls`` in one fresh process: the
    lines they printed, and which of ``heavy`` it had imported when done (a name there stands for
    its submodules too). The process must succeed: a failing one proves nothing of a working one."""
    probe = (
        "import io, json, sys\n"
        "from cost_mcp import launcher\n"
        "for args, stdin in json.loads(sys.argv[1]):\n"
        "    sys.stdin = io.StringIO(stdin)\n"
        "    launcher.fast(args)\n"
        "heavy = json.loads(sys.argv[2])\n"
        "sys.stdout = sys.__stdout__\n"
        "print(json.dumps(sorted(m for m in sys.modules if m in heavy or m.split('.')[0] in heavy)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(calls), json.dumps(list(heavy))],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    *printed, loaded = done.stdout.splitlines()
    return printed, json.loads(loaded)


def test_statusline_and_hook_import_nothing_heavy_when_the_transcript_is_unchanged(home: Path) -> None:
    """The hot path's promise (it runs after every message): no pydantic, pricer, MCP SDK or CLI."""
    transcript = session_file(home / "claude", "s1")
    write(transcript, assistant("m1", "r1", stamp(5), session="s1", input=10, output=10))
    hook_event = json.dumps(
        {"session_id": "s1", "transcript_path": str(transcript), "hook_event_name": "UserPromptSubmit"}
    )
    warm = [(["statusline"], status_input(transcript, "s1"))]  # the first call reads the new transcript
    calls = [
        (["statusline"], status_input(transcript, "s1", five_hour={"used_percentage": 5, "resets_at": 1})),
        (["hook"], hook_event),
    ]
    # New lines: the log reader and the pricer (genai-prices, on pydantic) load, but not the settings
    # model, the result models, the MCP SDK or the CLI.
    _, with_new_lines = fast_imports(warm, HEAVY)
    assert "genai_prices" in with_new_lines
    assert not {"cost_mcp.config", "cost_mcp.models", "pydantic_settings", "mcp", "rich"} & set(
        with_new_lines
    )
    # Nothing new to read: nor the log reader, its decoder or the pricer either.
    _, loaded = fast_imports(calls, [*HEAVY, *NOT_WHEN_UNCHANGED])
    assert loaded == [], f"the hot path imported {loaded}"


NOT_WHEN_UNCHANGED = (
    "msgspec",
    "platformdirs",  # the paths are configured here (COST_MCP_DB, _ENV_FILE, _PRICES_FILE)
    "cost_mcp.sources.claude_code",
    "cost_mcp.pricing",
    "cost_mcp.store.otel",
)


def test_statusline_spells_out_claude_codes_sources() -> None:
    """The status line names Claude Code's two sources without importing their modules."""
    from cost_mcp.sources.claude_code import SOURCE
    from cost_mcp.statusline import CLAUDE_CODE_SOURCES
    from cost_mcp.store.otel import CLAUDE_SOURCE

    assert CLAUDE_CODE_SOURCES == (SOURCE, CLAUDE_SOURCE)


def test_statusline_spells_out_every_log_readers_source() -> None:
    """The status line and the hook name the log readers' sources without importing the agents."""
    from cost_mcp.sources import agents
    from cost_mcp.sources.claude_code import SOURCE
    from cost_mcp.statusline import LOG_SOURCES

    assert (SOURCE, *agents.SOURCES) == LOG_SOURCES


@pytest.mark.sqlite_only  # about log folders; root without the capabilities cannot reach PostgreSQL
def test_statusline_and_hook_say_when_some_logs_could_not_be_read(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A reader that could not open a log folder makes every answer say PARTIAL; the status line
    still showed today's total (and a budget's percent) as if whole, and the hook said nothing.
    Both now mark it, the amounts as lower bounds, until the folder can be read."""
    monkeypatch.setenv("NO_COLOR", "1")
    mine = session_file(home / "claude", "s-mine")
    write(mine, assistant("m1", "r1", stamp(10), session="s-mine", output=1000))
    hidden = write(
        session_file(home / "claude", "s-hidden", "-home-dev-secret"),
        *(assistant(f"o{i}", f"q{i}", stamp(20), session="s-hidden", input=150_000) for i in range(40)),
    ).parent
    budget = ("budget", "set", "cap", "10", "--period", "month", "--hard")
    assert run_cli(monkeypatch, capsys, "", *budget)[0] == 0
    line = status_input(mine, "s-mine")
    prompt = _prompt(mine)
    read_without(hidden)
    mine_cost = price(Tokens(output=1000), 10).quantize(Decimal("0.01"))
    _, out = run_cli(monkeypatch, capsys, line, "statusline", "--fields", "session,today,budget")
    assert out == f"${mine_cost} session · ≥${mine_cost} today · cap ≥0% of $10.00 · ⚠ logs unreadable\n"
    # The session's own figure is whole: alone, it is not marked.
    assert (
        run_cli(monkeypatch, capsys, line, "statusline", "--fields", "session")[1]
        == f"${mine_cost} session\n"
    )
    said = _hook(monkeypatch, capsys, prompt)
    assert said == {
        "systemMessage": "cost-mcp: some logs could not be read (`cost-mcp doctor` names them): budgets "
        "count none of their calls, so a budget they have used up cannot stop this session"
    }
    # Readable again: the next read counts them, and the marks go.
    assert run_cli(monkeypatch, capsys, "", "report")[0] == 0
    _, out = run_cli(monkeypatch, capsys, line, "statusline", "--fields", "today")
    assert out.startswith("$") and "⚠" not in out
    blocked = _hook(monkeypatch, capsys, prompt)
    assert blocked is not None and blocked["decision"] == "block"


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"COST_MCP_TIMEZONE": "Europe/Paris", "COST_MCP_COST_MODE": "calculate"},
        {"COST_MCP_TIMEZONE": "Mars/Olympus", "COST_MCP_COST_MODE": "guess", "COST_MCP_DB": "/tmp/x.db"},
        {"COST_MCP_COST_MODE": "display", "COST_MCP_PRICES_FILE": "/tmp/p.toml"},
        {"COST_MCP_WEEK_START": " Sunday", "COST_MCP_CLAUDE_CODE_BILLING": "subscription"},
        {"COST_MCP_WEEK_START": "someday", "COST_MCP_CLAUDE_CODE_BILLING": "Subscription"},
        {"CLAUDE_CONFIG_DIR": " /a/claude , ~/b,", "COST_MCP_MAX_LINE_BYTES": "4096"},
        {"CLAUDE_CONFIG_DIR": " ", "COST_MCP_CLAUDE_CONFIG_DIR": "/x", "COST_MCP_MAX_LINE_BYTES": "1023"},
        *(
            {"COST_MCP_MAX_LINE_BYTES": value}
            for value in (
                "\u00a0+0_4_096.00\t",
                "4096.",
                "4096.5",
                "1e4",
                "0x1000",
                "1__024",
                "\x1c4096",
                "\u0664\u0660\u0669\u0666",
                "",
                "-4096",
                "9" * 30,
            )
        ),
    ],
)
def test_core_settings_agree_with_settings(
    tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hot path's settings reader and pydantic's Settings give the same values, bad ones included,
    and the core reader calls unusable exactly the variables Settings complains about."""
    from cost_mcp.config import load_settings_leniently
    from cost_mcp.core_settings import load_core_settings

    # pydantic-settings also reads the process's environment: a developer's own CLAUDE_CONFIG_DIR
    # or COST_MCP_* settings must not leak into one side only.
    for name in [n for n in os.environ if n.upper().startswith(("COST_MCP_", "CLAUDE_CONFIG_DIR"))]:
        monkeypatch.delenv(name)

    env_file = tmp_path / "env"
    env_file.write_text("COST_MCP_DB=/from/env-file.db\nCOST_MCP_TIMEZONE=Asia/Tokyo\n")
    environ = {"HOME": str(tmp_path), **env}
    full, problems = load_settings_leniently(environ, env_file)
    core = load_core_settings(environ, env_file)
    assert (
        core.db,
        core.timezone,
        core.cost_mode,
        core.prices_file,
        core.week_start,
        core.claude_code_billing,
        core.claude_config_dir,
        core.claude_roots(),
        core.max_line_bytes,
    ) == (
        full.db,
        full.timezone,
        full.cost_mode,
        full.prices_file,
        full.week_start,
        full.claude_code_billing,
        full.claude_config_dir,
        full.claude_roots(),
        full.max_line_bytes,
    )
    complained = [p.removeprefix("setting ").partition("=")[0] for p in problems]
    assert sorted(core.unusable) == sorted(complained)
    assert core.full() == full


def test_todays_total_from_the_rollup_equals_the_sum_of_its_calls(home: Path, settings: Settings) -> None:
    """The status line sums today from the quarter-hour rollup (refreshed first, as get_spend does);
    it must equal the sum over the calls themselves, and an off-quarter start falls back to them."""
    from cost_mcp.statusline import _today
    from cost_mcp.store import status

    midnight = NOW.replace(hour=0, minute=0, second=0)
    at = midnight + timedelta(hours=3, minutes=5)  # "now", fixed: the test must not depend on the hour
    stamps = [midnight - timedelta(minutes=1), midnight, midnight + timedelta(minutes=7), at]
    transcript = session_file(home / "claude", "s1")
    write(
        transcript,
        *(
            assistant(
                f"m{i}", f"r{i}", t.isoformat().replace("+00:00", "Z"), session="s1", output=1000 * (i + 1)
            )
            for i, t in enumerate(stamps)
        ),
    )
    conn = connect(settings.db)
    try:
        from cost_mcp.statusline import read_transcript

        read_transcript(conn, settings, str(transcript))  # marks the rollup's quarter-hours dirty
        start, now = int(midnight.timestamp() * 1000), int(at.timestamp() * 1000)
        from_calls = status.cost_between(conn, start, now + 1, "auto")
        assert from_calls[0] > 0 and from_calls[1] == 0
        assert _today(conn, start, now, "auto") == from_calls
        assert _today(conn, start + 1, now, "auto") == status.cost_between(conn, start + 1, now + 1, "auto")
        assert status.cost_between(conn, start - 60_000, now + 1, "auto")[0] > from_calls[0]  # yesterday's
    finally:
        conn.close()


def test_statusline_block_is_usage_blocks_active_block(home: Path, settings: Settings) -> None:
    """The status line lays blocks out itself (no result models on its hot path): same block, cost
    and burn rate as usage_blocks, including after a pause that starts a new block."""
    from cost_mcp.analytics.claude_code import usage_blocks
    from cost_mcp.statusline import StatusInput, read_transcript, render

    minutes = [800, 780, 130, 95, 60, 20]  # a 10-hour pause between the first two and the rest
    transcript = session_file(home / "claude", "s1")
    write(
        transcript,
        *(
            assistant(f"m{i}", f"r{i}", stamp(m), session="s1", input=100 + i, output=900 * (i + 1))
            for i, m in enumerate(minutes)
        ),
    )
    conn = connect(settings.db)
    try:
        read_transcript(conn, settings, str(transcript))
        line = render(conn, settings, StatusInput("s1", str(transcript), "", {}), fields=["block"], now=NOW)
        active = usage_blocks(conn, settings, days=1, now=NOW).active
    finally:
        conn.close()
    assert active is not None and active.requests == 4 and active.burn_rate is not None
    assert active.cost_usd is not None and active.burn_rate.cost_per_hour_usd is not None
    cost = active.cost_usd.quantize(Decimal("0.01"))
    rate = active.burn_rate.cost_per_hour_usd.quantize(Decimal("0.01"))
    # Only this transcript is read (no reader checked the others): the block is marked a lower bound.
    assert line.startswith(f"block ≥${cost} (") and line.endswith(f"m left, ${rate}/h)")


def test_statusline_names_unpriced_calls_instead_of_showing_zero(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    """A call whose model has no known price is never shown as $0: 'unpriced', or '$x + unpriced'."""
    monkeypatch.setenv("NO_COLOR", "1")
    evening = _at_evening(request)  # "today" holds the call
    transcript = session_file(home / "claude", "s1")
    write(
        transcript,
        assistant(
            "m1",
            "r1",
            _stamp(evening - timedelta(minutes=5)),
            session="s1",
            model="claude-from-the-future-9",
            output=5000,
        ),
    )
    _, out = run_cli(
        monkeypatch, capsys, status_input(transcript, "s1"), "statusline", "--fields", "session,today,block"
    )
    assert out.startswith("unpriced session · unpriced today (other logs unread) · block unpriced (")
    # A budget over those calls has spent nothing it can count: its 0% says so.
    conn = connect(load_core_settings().db)
    try:
        set_budget(conn, "daily", Decimal(5), "day", BudgetScope(), hard=True)
    finally:
        conn.close()
    _, out = run_cli(monkeypatch, capsys, status_input(transcript, "s1"), "statusline", "--fields", "budget")
    assert out == "daily ≥0% of $5.00 + unpriced calls\n"  # other logs unread: at least
    with transcript.open("a") as f:
        f.write(
            json.dumps(
                assistant(
                    "m2", "r2", _stamp(evening - timedelta(minutes=1)), session="s1", input=10, output=10
                )
            )
            + "\n"
        )
    _, out = run_cli(monkeypatch, capsys, status_input(transcript, "s1"), "statusline", "--fields", "session")
    assert out == "$0.0002 + unpriced session\n"  # 10 input and 10 output tokens: not "$0.00"


@pytest.mark.parametrize("full_path", [False, True])
def test_statusline_shows_a_budget_that_counts_this_session(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
    full_path: bool,
) -> None:
    """The line shows the fullest budget that can count this Claude Code session (in /home/dev/app),
    not a Codex-only or another project's budget that happens to be fuller."""
    monkeypatch.setenv("NO_COLOR", "1")
    evening = _at_evening(request)
    transcript = session_file(home / "claude", "s1")
    line = assistant("m1", "r1", _stamp(evening - timedelta(minutes=5)), session="s1", output=5000)
    write(transcript, {**line, "cwd": "/home/dev/app"})
    conn = connect(load_core_settings().db)
    try:
        record_call(
            conn, Pricer(), provider="openai", model="gpt-5", tokens=Tokens(input=10_000_000), agent="codex",
            timestamp=evening - timedelta(minutes=3), now=evening,
        )  # fmt: skip
        set_budget(conn, "codex-cap", Decimal("0.01"), "day", BudgetScope(agents=["codex"]))
        set_budget(conn, "elsewhere", Decimal("0.01"), "day", BudgetScope(projects=["/home/dev/other"]))
        set_budget(conn, "app", Decimal(100), "day", BudgetScope(projects=["app"], agents=["claude-code"]))
        if full_path:  # a seat in the scope: only the full budget path counts it
            set_budget(conn, "team", Decimal(1000), "day", BudgetScope(members=["ana@example.com"]))
    finally:
        conn.close()
    _, out = run_cli(monkeypatch, capsys, status_input(transcript, "s1"), "statusline", "--fields", "budget")
    # No reader has checked every log yet: the percent is at least what the ledger holds.
    assert out == "app ≥0% of $100.00\n"  # $0.075 of Sonnet output


def test_statusline_budget_is_a_lower_bound_until_the_other_logs_are_read(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A budget set from the CLI (which reads no logs) on a ledger no reader has filled: the status
    line has read only its own transcript, so the month's other calls are missing from the percent,
    as from today's total. It says so until a reader has checked every log."""
    monkeypatch.setenv("NO_COLOR", "1")
    mine = session_file(home / "claude", "s-mine")
    write(mine, assistant("m1", "r1", stamp(10), session="s-mine", output=1000))
    other = session_file(home / "claude", "s-other")
    # $60 of Sonnet input (20M tokens at the long-context $6/M would be more: kept under 200k a call).
    write(
        other,
        *(assistant(f"o{i}", f"q{i}", stamp(20), session="s-other", input=150_000) for i in range(40)),
    )
    budget = ("budget", "set", "cap", "10", "--period", "month", "--hard")
    assert run_cli(monkeypatch, capsys, "", *budget)[0] == 0
    _, out = run_cli(monkeypatch, capsys, status_input(mine, "s-mine"), "statusline", "--fields", "budget")
    assert out == "cap ≥0% of $10.00\n"  # only $0.015 of this session is read
    assert run_cli(monkeypatch, capsys, "", "report")[0] == 0  # a reader checks every log
    _, out = run_cli(monkeypatch, capsys, status_input(mine, "s-mine"), "statusline", "--fields", "budget")
    # $18.075: 40 calls of 150k input at $3/M and 100 output at $15/M, and this session's $0.015:
    # 180.75%, rounded down as every budget percent is (100% only once the limit is reached).
    assert out == "cap 180% of $10.00\n"


@pytest.mark.sqlite_only  # about log folders; root without the capabilities cannot reach PostgreSQL
def test_statusline_marks_only_the_budgets_an_unreadable_folder_can_touch(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Codex folder the last read could not open marked every budget "≥" on the status line,
    a Claude Code budget too, which budget_status keeps whole (spend.logs_can_touch): Codex's calls
    cannot be in it. It now marks only a budget they may be in, here one over every agent."""
    monkeypatch.setenv("NO_COLOR", "1")
    mine = session_file(home / "claude", "s-mine")
    write(mine, assistant("m1", "r1", stamp(10), session="s-mine", output=1000))
    closed = home / "codex" / "sessions" / "2026" / "11"
    closed.mkdir(parents=True)
    budget = ("budget", "set", "local", "10", "--period", "month", "--agent", "claude-code")
    assert run_cli(monkeypatch, capsys, "", *budget)[0] == 0
    line = status_input(mine, "s-mine")
    read_without(closed)
    _, out = run_cli(monkeypatch, capsys, line, "statusline", "--fields", "budget")
    assert out == "local 0% of $10.00 · ⚠ logs unreadable\n"
    # A tighter budget over every agent may lack Codex's calls: at least.
    assert run_cli(monkeypatch, capsys, "", "budget", "set", "all", "1", "--period", "month")[0] == 0
    _, out = run_cli(monkeypatch, capsys, line, "statusline", "--fields", "budget")
    assert out == "all ≥1% of $1.00 · ⚠ logs unreadable\n"  # $0.015 of Sonnet output


@pytest.mark.sqlite_only  # about log folders; root without the capabilities cannot reach PostgreSQL
def test_statusline_block_is_bounded_only_by_claude_codes_own_unreadable_logs(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The 5-hour block counts Claude Code's calls alone: a Codex folder the last read could not
    open marked it "≥" all the same. Today's total (every agent's calls) stays a lower bound; the
    block is whole, until Claude Code's own folder cannot be opened."""
    monkeypatch.setenv("NO_COLOR", "1")
    mine = session_file(home / "claude", "s-mine")
    write(mine, assistant("m1", "r1", stamp(10), session="s-mine", output=1000))
    closed = home / "codex" / "sessions" / "2026" / "11"
    closed.mkdir(parents=True)
    line = status_input(mine, "s-mine")
    read_without(closed)
    _, out = run_cli(monkeypatch, capsys, line, "statusline", "--fields", "today,block")
    assert re.fullmatch(r"≥\$0\.02 today · block \$0\.02 \([34]h\d\dm left\) · ⚠ logs unreadable\n", out), out
    hidden = write(
        session_file(home / "claude", "s-hidden", "-home-dev-secret"),
        assistant("o1", "q1", stamp(20), session="s-hidden", input=1000),
    ).parent
    read_without(hidden)
    _, out = run_cli(monkeypatch, capsys, line, "statusline", "--fields", "block")
    assert re.fullmatch(r"block ≥\$0\.02 \([34]h\d\dm left\) · ⚠ logs unreadable\n", out), out


def test_statusline_marks_a_budget_whose_provider_bill_never_synced(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Anthropic's admin key set and its bill never synced (a wrong key): budget_status says a budget
    over Anthropic's spend lacks that bill ("≥"), the status line showed it as whole. It now marks
    it, and still not a Claude Code budget, which counts local calls only."""
    from cost_mcp.store import source_state

    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", "sk-ant-admin01-" + "x" * 40)
    mine = session_file(home / "claude", "s-mine")
    write(mine, assistant("m1", "r1", stamp(10), session="s-mine", output=1000))
    assert run_cli(monkeypatch, capsys, "", "ingest")[0] == 0  # every log read
    conn = connect(load_core_settings().db)
    try:
        source_state.record_failure(conn, "anthropic", datetime.now(UTC).isoformat(), "HTTP 401: bad key")
        set_budget(conn, "local", Decimal(10), "month", BudgetScope(agents=["claude-code"]))
    finally:
        conn.close()
    line = status_input(mine, "s-mine")
    _, out = run_cli(monkeypatch, capsys, line, "statusline", "--fields", "budget")
    assert out == "local 0% of $10.00\n"
    assert run_cli(monkeypatch, capsys, "", "budget", "set", "all", "1", "--period", "month")[0] == 0
    _, out = run_cli(monkeypatch, capsys, line, "statusline", "--fields", "budget")
    assert out == "all ≥1% of $1.00\n"
    status = json.loads(run_cli(monkeypatch, capsys, "", "budget", "status", "--json")[1])
    lacking = {b["budget"]["name"]: b["complete"] for b in status["budgets"]}
    assert lacking == {"all": False, "local": True}


@pytest.mark.parametrize("full_path", [False, True])
def test_statusline_on_bedrock_shows_the_aws_budget_not_an_anthropic_one(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
    full_path: bool,
) -> None:
    """With CLAUDE_CODE_USE_BEDROCK (which the status line inherits) the session's calls are AWS's:
    the line shows a budget on aws, which counts them, not a fuller one on anthropic (used up by
    another agent's calls), which cannot."""
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("CLAUDE_CODE_USE_BEDROCK", "1")
    evening = _at_evening(request)
    transcript = session_file(home / "claude", "s1")
    bedrock = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    write(
        transcript, assistant("m1", "r1", _stamp(evening - timedelta(minutes=5)), model=bedrock, output=5000)
    )
    conn = connect(load_core_settings().db)
    try:
        record_call(
            conn, Pricer(), provider="anthropic", model="claude-sonnet-4-5", tokens=Tokens(input=10_000_000),
            agent="script", timestamp=evening - timedelta(minutes=3), now=evening,
        )  # fmt: skip
        set_budget(conn, "anthropic-cap", Decimal("0.01"), "day", BudgetScope(providers=["anthropic"]))
        set_budget(conn, "aws", Decimal(100), "day", BudgetScope(providers=["aws"]))
        if full_path:  # a seat in the scope: only the full budget path counts it
            set_budget(conn, "team", Decimal(1000), "day", BudgetScope(members=["ana@example.com"]))
    finally:
        conn.close()
    _, out = run_cli(monkeypatch, capsys, status_input(transcript, "s1"), "statusline", "--fields", "budget")
    assert out == "aws ≥0% of $100.00\n"  # $0.0825 of Bedrock's regional Sonnet output


def test_statusline_prices_a_new_call_from_saved_plans_without_genai_prices(home: Path) -> None:
    """After the first call has looked the model up (and saved its plan in the ledger), a new line
    is priced without loading genai-prices (nor pydantic, nor platformdirs when the paths are
    configured), to the same exact cost."""
    transcript = session_file(home / "claude", "s1")
    write(transcript, assistant("m1", "r1", stamp(5), session="s1", input=10, output=2000, cache_read=9000))

    def call() -> tuple[str, list[str]]:
        printed, loaded = fast_imports(
            [(["statusline", "--fields", "session"], status_input(transcript, "s1"))],
            [*HEAVY, "platformdirs"],
        )
        (line,) = printed
        return line, loaded

    first, loaded = call()
    assert "genai_prices" in loaded  # nothing saved yet: the model is looked up in genai-prices
    assert (
        first
        == f"${price(Tokens(input=10, output=2000, cache_read=9000), 5).quantize(Decimal('0.01'))} session"
    )
    with transcript.open("a") as f:
        f.write(
            json.dumps(
                assistant("m2", "r2", stamp(1), session="s1", input=30, output=4000, cache_read=12_000)
            )
            + "\n"
        )
    second, loaded = call()
    assert loaded == []
    expected = price(Tokens(input=10, output=2000, cache_read=9000), 5) + price(
        Tokens(input=30, output=4000, cache_read=12_000), 1
    )
    assert second == f"${expected.quantize(Decimal('0.01'))} session"
    conn = connect(load_core_settings().db)
    try:
        assert status.session_cost(conn, "s1", "auto") == (2, to_nanos(expected), 0)
    finally:
        conn.close()


def test_budgets_with_room_keep_the_hot_path_light(
    home: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With budgets set, the status line and the hook answer from the rollup (budget_glance) without
    pydantic or the result models, showing what the full budget path shows."""
    from cost_mcp.analytics.budgets import list_budgets, states_of

    transcript = session_file(home / "claude", "s1")
    write(transcript, assistant("m1", "r1", stamp(5), session="s1", input=10, output=20_000))
    # Every log read once, as the MCP server does at start: the probe's calls find it unchanged,
    # and neither line marks a lower bound nor notes unread logs.
    assert run_cli(monkeypatch, capsys, "", "ingest")[0] == 0
    conn = connect(settings.db)
    set_budget(conn, "day-all", Decimal(100), "day", BudgetScope(), hard=True)
    set_budget(conn, "app-month", Decimal("0.5"), "month", BudgetScope(projects=["-home-dev-app"]))
    conn.close()
    hook_event = json.dumps(
        {"session_id": "s1", "transcript_path": str(transcript), "hook_event_name": "UserPromptSubmit"}
    )
    calls = [(["statusline", "--fields", "budget"], status_input(transcript, "s1")), (["hook"], hook_event)]
    (line,), loaded = fast_imports(calls, HEAVY)  # the hook printed nothing: every budget has room
    assert loaded == []
    conn = connect(settings.db)
    try:
        tightest = max(
            states_of(conn, settings, list_budgets(conn), datetime.now(UTC)),
            key=lambda s: (s.spent_usd / s.budget.amount_usd, s.budget.name),
        )
    finally:
        conn.close()
    amount = tightest.budget.amount_usd.quantize(Decimal("0.01"))
    assert line == f"{tightest.budget.name} {math.floor(tightest.percent)}% of ${amount}"


def test_statusline_answers_beside_a_day_whose_sums_pass_64_bits(
    home: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Yesterday's absurd calls cannot be rolled up: before, the line failed every time from then on."""
    from tests.test_hostile_input import store_absurd_calls

    store_absurd_calls(settings, [NOW - timedelta(days=1)] * 3)
    monkeypatch.setenv("NO_COLOR", "1")
    mine = session_file(home / "claude", "s-mine")
    write(mine, assistant("m1", "r1", stamp(5), session="s-mine", input=100, output=2000))
    cost = price(Tokens(input=100, output=2000), 5).quantize(Decimal("0.01"))
    code, out = run_cli(
        monkeypatch, capsys, status_input(mine, "s-mine"), "statusline", "--fields", "session,today"
    )
    assert (code, out) == (0, f"${cost} session · ≥${cost} today (other logs unread)\n")


def _prompt(mine: Path) -> dict[str, str]:
    """The hook's UserPromptSubmit event of the session logged in ``mine``."""
    return {"session_id": "s-mine", "transcript_path": str(mine), "cwd": "/home/dev/app",
            "hook_event_name": "UserPromptSubmit", "prompt": "go on"}  # fmt: skip


def _mine_beside_three_others(home: Path) -> tuple[Path, dict[str, str]]:
    """This session's log (one call) beside three other sessions' (five calls each), and the
    hook's prompt event of this session."""
    mine = session_file(home / "claude", "s-mine")
    write(mine, assistant("m1", "r1", stamp(10), session="s-mine", output=1000))
    for n in range(3):
        other = session_file(home / "claude", f"s-other{n}")
        write(
            other, *(assistant(f"o{n}-{i}", f"q{n}-{i}", stamp(20), session=f"s-other{n}") for i in range(5))
        )
    return mine, _prompt(mine)


def test_while_the_first_read_runs_the_hook_and_status_line_say_it_is_under_way(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A first `cost-mcp ingest` (or a server's catch-up) of a long history is under way while a
    session prompts: the hook and the status line said the logs were unread and to run `cost-mcp
    report`, which the read already under way was doing. They now say the logs are being read, and
    how far; once the read ends, nothing."""
    from cost_mcp.sources import claude_code

    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setattr(claude_code, "READING_NOTE_EVERY", 0.0, raising=False)  # a note per progress report
    mine, prompt = _mine_beside_three_others(home)
    seen: list[tuple[int, int, dict[str, object] | None, str]] = []
    conn = connect(load_core_settings().db)
    set_budget(conn, "cap", Decimal("1000"), "month", BudgetScope(), hard=True)  # the hook's reason to speak

    def meanwhile(done: int, total: int, _message: str) -> None:
        if not seen:  # another session's hook and status line, in the middle of the read
            hook = _hook(monkeypatch, capsys, prompt)
            _, line = run_cli(monkeypatch, capsys, status_input(mine, "s-mine"), "statusline")
            seen.append((done, total, hook, line))

    try:
        claude_code.ingest(conn, load_core_settings(), Pricer(), progress=meanwhile)
    finally:
        conn.close()
    assert len(seen) == 1
    done, total, hook, line = seen[0]
    assert total > 0
    assert hook is not None
    told = str(hook["systemMessage"])
    assert f"logs are being read now ({(total - done) / 1e6:,.1f} MB left)" in told
    assert "cost-mcp report" not in told
    assert "(other logs being read)" in line and "unread" not in line
    assert _hook(monkeypatch, capsys, prompt) is None  # read whole: nothing to say
    _, after = run_cli(monkeypatch, capsys, status_input(mine, "s-mine"), "statusline")
    assert "other logs" not in after


def test_a_first_read_that_stopped_is_no_longer_said_to_be_under_way(home: Path, settings: Settings) -> None:
    """A first read killed half-way left its last note: after a while the logs are unread again
    (the hook asks for a read), not "being read" for ever; a read whole once is never "being read"."""
    from cost_mcp.store import source_state

    conn = connect(settings.db)
    try:
        source_state.note_reading(conn, "claude_code", "12.0 of 95.0 MB read")
        now = datetime.now(UTC)
        assert source_state.log_marks(conn, ["claude_code"], now).reading == "12.0 of 95.0 MB read"
        later = now + timedelta(seconds=source_state.READING_SECONDS + 1)
        assert source_state.log_marks(conn, ["claude_code"], later) == source_state.LogMarks(
            False, False, frozenset(), None
        )
        source_state.record_scan(conn, "claude_code", error=None, detail="read 3 new line(s)")
        source_state.note_reading(conn, "claude_code", "0.0 of 1.0 MB read")
        assert source_state.log_marks(conn, ["claude_code"], now) == source_state.LogMarks(
            True, False, frozenset(), None
        )
    finally:
        conn.close()


def test_between_the_chunks_of_a_catch_up_the_logs_are_still_being_read(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A server reads a long history in 2-second chunks. After the first chunk the ledger took the
    logs for read: the hook fell silent and the status line showed a fraction of today as the whole
    of it, for the rest of the catch-up. A first read stopped at its time budget now leaves the logs
    "being read", with what is left."""
    from cost_mcp.sources import claude_code

    monkeypatch.setenv("NO_COLOR", "1")
    mine, prompt = _mine_beside_three_others(home)
    conn = connect(load_core_settings().db)
    try:
        set_budget(conn, "cap", Decimal("1000"), "month", BudgetScope(), hard=True)
        # A chunk of no time reads one file (every scan moves on), as a catch-up's first chunk does.
        first = claude_code.ingest(conn, load_core_settings(), Pricer(), budget_seconds=0)
        assert not first.complete and first.bytes_pending > 0
        hook = _hook(monkeypatch, capsys, prompt)
        assert hook is not None
        assert f"being read now ({first.bytes_pending / 1e6:,.1f} MB left)" in str(hook["systemMessage"])
        _, line = run_cli(monkeypatch, capsys, status_input(mine, "s-mine"), "statusline")
        assert "≥" in line and "(other logs being read)" in line
        assert claude_code.ingest(conn, load_core_settings(), Pricer()).complete  # the rest
    finally:
        conn.close()
    assert _hook(monkeypatch, capsys, prompt) is None
    _, after = run_cli(monkeypatch, capsys, status_input(mine, "s-mine"), "statusline")
    assert "≥" not in after and "other logs" not in after


@pytest.mark.sqlite_only  # how amounts are written
def test_statusline_writes_money_as_every_other_answer_does(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    """The status line said "$2074.75 session" where `report` said "$2,074.75", and "$0.00 session"
    for a session of a few tokens: one format_usd for every amount a person reads."""
    monkeypatch.setenv("NO_COLOR", "1")
    evening = _at_evening(request)
    big, small = session_file(home / "claude", "s-big"), session_file(home / "claude", "s-small")
    calls = [
        assistant(
            f"m{i}", f"r{i}", _stamp(evening - timedelta(minutes=30 - i)), session="s-big", input=150_000
        )
        for i in range(3000)
    ]
    write(big, *calls)
    write(
        small,
        assistant("t1", "q1", _stamp(evening - timedelta(minutes=1)), session="s-small", input=10, output=10),
    )
    cost = sum((price(Tokens(input=150_000, output=100), 0) for _ in calls), Decimal(0))
    assert cost > 1000
    _, out = run_cli(monkeypatch, capsys, status_input(big, "s-big"), "statusline", "--fields", "session")
    assert out == f"{format_usd(cost)} session\n" and "," in out
    _, out = run_cli(monkeypatch, capsys, status_input(small, "s-small"), "statusline", "--fields", "session")
    assert out == "$0.0002 session\n"


def test_the_line_marks_estimates_a_synced_bill_sets_aside(conn: Conn, settings: Settings) -> None:
    """Once a provider's bill for a day is synced, report and budget_status count it for that day and
    set this machine's estimates aside; the line showed today's estimates and a project budget's
    percent (its calls that day counting nothing: a bill by workspace names no project) with no
    word of it, where report and budget_status say so."""
    from cost_mcp.statusline import StatusInput, render
    from cost_mcp.store import source_state
    from cost_mcp.store.buckets import DAY_MS, Bucket, replace_range

    now = datetime(2026, 11, 10, 15, tzinfo=UTC)
    day = int(datetime(2026, 11, 10, tzinfo=UTC).timestamp() * 1000)
    record_call(
        conn, Pricer(), provider="anthropic", model=SONNET, tokens=Tokens(input=1_000_000),
        agent="claude-code", project="/home/dev/webapp", request_id="r1",
        timestamp=now - timedelta(hours=2), now=now,
    )  # fmt: skip
    set_budget(conn, "webapp", Decimal(50), "month", BudgetScope(projects=["/home/dev/webapp"]))
    source_state.record_scan(conn, "claude_code", error=None, detail="read")  # every log read once
    reading = StatusInput("s1", "", "/home/dev/webapp", {})
    core = load_core_settings()

    def line() -> str:
        return render(conn, core, reading, fields=["today", "budget"], colour=False, now=now)

    assert line() == "$6.00 today · webapp 12% of $50.00"  # estimates only: nothing to say
    with write_transaction(conn):
        bill = Bucket(day, day + DAY_MS, cost_nanos=9_000_000_000, model=SONNET)  # by workspace
        replace_range(conn, "anthropic", "cost", day, day + DAY_MS, [bill])
    assert line() == "$6.00 today (est.; bill synced) · webapp 0% of $50.00 + $6.00 set aside"


@pytest.mark.parametrize("change", ["--install", "--uninstall"])
def test_install_without_a_terminal_says_to_add_yes(home: Path, change: str) -> None:
    """`cost-mcp statusline --install` run from a script (no terminal, stdin closed) printed the
    diff, the question and "nothing written", exit 1, and no word of why or of --yes."""
    if change == "--uninstall":
        assert process("statusline", "--install", "--yes").returncode == 0
    before = (home / "claude" / "settings.json").read_bytes() if change == "--uninstall" else None
    done = subprocess.run(
        [sys.executable, "-m", "cost_mcp", "statusline", change],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    verb = "write" if change == "--install" else "remove"
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines()[-1] == (
        f"nothing written: no answer to the question (no terminal?); add --yes to {verb} it"
    )
    settings = home / "claude" / "settings.json"
    assert (settings.read_bytes() if settings.exists() else None) == before


def _times_the_clock_shows(wall: datetime, tz: ZoneInfo) -> int:
    """How many instants read ``wall`` (to the minute) on a clock in ``tz``: the oracle, minute by
    minute over the three days around it, apart from the code's own test of a fold."""
    naive = wall.replace(tzinfo=None, second=0, microsecond=0)
    start = naive.replace(tzinfo=UTC) - timedelta(days=1, hours=12)
    minutes = (start + timedelta(minutes=m) for m in range(3 * 24 * 60))
    return sum(1 for t in minutes if t.astimezone(tz).replace(tzinfo=None) == naive)


@pytest.mark.parametrize(
    ("zone", "now", "resets"),
    [
        # New York sets its clocks back from 02:00 EDT to 01:00 EST on 2026-11-01.
        (
            "America/New_York",
            datetime(2026, 11, 1, 4, 0, tzinfo=UTC),  # 00:00 EDT
            [datetime(2026, 11, 1, h, 30, tzinfo=UTC) for h in (4, 5, 6, 7)],  # 00:30 to 02:30
        ),
        # Havana from 01:00 CDT to 00:00 CST: midnight's hour comes twice.
        (
            "America/Havana",
            datetime(2026, 10, 31, 22, tzinfo=UTC),
            [datetime(2026, 11, 1, 5, 10, tzinfo=UTC)],
        ),
        # More than a day away: the weekday is shown, and the zone in the repeated hour.
        (
            "America/New_York",
            datetime(2026, 10, 29, 12, tzinfo=UTC),
            [datetime(2026, 11, 1, 6, 30, tzinfo=UTC)],
        ),
        # The hour a clock skips holds no time to show twice: no zone.
        ("America/New_York", datetime(2026, 3, 8, 5, tzinfo=UTC), [datetime(2026, 3, 8, 7, 30, tzinfo=UTC)]),
        ("Europe/Paris", datetime(2026, 10, 25, 0, tzinfo=UTC), [datetime(2026, 10, 25, 0, 15, tzinfo=UTC)]),
    ],
)
def test_a_reset_in_the_hour_a_clock_repeats_names_its_zone(
    conn: Conn, monkeypatch: pytest.MonkeyPatch, zone: str, now: datetime, resets: list[datetime]
) -> None:
    """The status line said "5h 40% (resets 01:30)" on the night New York's clocks go back, when
    01:30 comes twice an hour apart: a person could not tell which. A reset in that hour now says
    "01:30 EDT" or "01:30 EST", as a budget's refusal says "00:00 CDT"; any other keeps its bare
    time, and one more than a day away its weekday."""
    from cost_mcp.statusline import StatusInput, render

    monkeypatch.setenv("COST_MCP_TIMEZONE", zone)
    tz = ZoneInfo(zone)
    for reset in resets:
        limits = {"five_hour": {"used_percentage": 40, "resets_at": reset.timestamp()}}
        line = render(
            conn,
            load_core_settings(),
            StatusInput("s1", "", "", limits),
            fields=["limits"],
            colour=False,
            now=now,
        )
        at = reset.astimezone(tz)
        wall = f"{at:%H:%M}" if reset - now < timedelta(days=1) else f"{at:%a %H:%M}"
        twice = _times_the_clock_shows(at, tz) > 1
        assert line == f"5h limit 40% used (resets {wall}{f' {at.tzname()}' if twice else ''})", reset
    if zone == "America/New_York" and len(resets) == 4:  # the oracle's answer, spelt out once
        assert [_times_the_clock_shows(r.astimezone(tz), tz) for r in resets] == [1, 2, 2, 1]


def test_today_in_the_hour_havana_repeats_at_midnight_counts_the_first_one(
    conn: Conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Havana sets its clocks back from 01:00 to 00:00 (2026-11-01), so midnight comes twice and the
    day begins at the first. During the second 00:xx hour the line's "today" began at the second
    midnight: a call at the first 00:30 was in get_spend's today and not in the line's."""
    from cost_mcp.analytics.spend import get_spend, resolve
    from cost_mcp.config import load_settings
    from cost_mcp.statusline import StatusInput, render
    from cost_mcp.store import source_state

    monkeypatch.setenv("COST_MCP_TIMEZONE", "America/Havana")
    havana = ZoneInfo("America/Havana")
    now = datetime(2026, 11, 1, 5, 20, tzinfo=UTC)  # 00:20 CST, the second time 00:20 comes
    calls = {
        "yesterday": datetime(2026, 11, 1, 3, 50, tzinfo=UTC),  # 23:50 CDT, Oct 31
        "first midnight hour": datetime(2026, 11, 1, 4, 30, tzinfo=UTC),  # 00:30 CDT
        "second midnight hour": datetime(2026, 11, 1, 5, 10, tzinfo=UTC),  # 00:10 CST
    }
    for i, at in enumerate(calls.values()):
        record_call(
            conn, Pricer(), provider="anthropic", model=SONNET, tokens=Tokens(input=1_000_000 * 10**i),
            agent="claude-code", request_id=f"r{i}", timestamp=at, now=now,
        )  # fmt: skip
    source_state.record_scan(conn, "claude_code", error=None, detail="read")
    # The oracle: zoneinfo's local date of each call against the local date of now.
    today = now.astimezone(havana).date()
    expected = sum(
        (
            price(Tokens(input=1_000_000 * 10**i), 0)
            for i, at in enumerate(calls.values())
            if at.astimezone(havana).date() == today
        ),
        Decimal(0),
    )
    assert expected == price(Tokens(input=1_000_000 * 110), 0)  # both midnight hours, not yesterday
    line = render(
        conn, load_core_settings(), StatusInput("s1", "", "", {}), fields=["today"], colour=False, now=now
    )
    assert line == f"{format_usd(expected)} today"
    settings = load_settings()
    day = get_spend(conn, settings, resolve(settings, "today", None, None, None, now=now), take_alerts=False)
    assert day.total_usd == expected
