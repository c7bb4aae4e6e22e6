"""Never a silent partial answer: while logs are still being read, every result says so."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import pty
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from cost_mcp import catchup, tokens
from cost_mcp.analytics import budgets
from cost_mcp.analytics.budgets import Unread
from cost_mcp.config import Settings
from cost_mcp.models import BudgetScope
from cost_mcp.pricing import Price, Pricer
from cost_mcp.sources import claude_code
from cost_mcp.store import connect, write_transaction
from cost_mcp.store.connection import Conn
from tests.sources.claude_logs import assistant, encode, user

# A connection a test leaves open is an error here (psycopg warns when one is garbage-collected).
pytestmark = [
    pytest.mark.anyio,
    pytest.mark.filterwarnings("error::ResourceWarning", "error::pytest.PytestUnraisableExceptionWarning"),
]

FILES, CALLS = 40, 300
CALL_USD = Decimal("0.001512")  # Sonnet 4.5: 4 input tokens at $3/MTok + 100 output at $15/MTok


def _big_tree(claude: Path, when: datetime) -> Decimal:
    """FILES session logs of CALLS calls each, with filler lines; returns what they cost."""
    stamp = when.isoformat().replace("+00:00", "Z")
    filler = encode(user(stamp, size=1_000)) + "\n"
    for f in range(FILES):
        path = claude / "projects" / "-home-dev-app" / f"s{f}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w") as out:
            for i in range(CALLS):
                out.write(filler)
                out.write(encode(assistant(f"m{f}-{i}", f"r{f}-{i}", stamp, session=f"s{f}")) + "\n")
    return FILES * CALLS * CALL_USD


def _envelope_ok(name: str, result: dict[str, Any]) -> bool:
    """Complete with no reading, or incomplete with the reading and the warning first."""
    if result["complete"]:
        assert result["reading"] is None, name
        return True
    assert result["reading"] is not None, name
    assert result["warnings"][0].startswith("INCOMPLETE: Claude Code logs are still being read"), name
    # The logs being read are a source: never also "no data source is connected yet".
    assert not [w for w in result["warnings"] if w.startswith("no data source is connected yet")], name
    return False


async def test_a_tree_bigger_than_the_refresh_budget_is_labelled_until_read(
    clock: None, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No time at all to read logs before answering: the background reader does all of it.
    monkeypatch.setenv("COST_MCP_REFRESH_BUDGET_SECONDS", "0")
    truth = _big_tree(home / "claude", datetime.now(UTC) - timedelta(seconds=5))
    from cost_mcp.server import mcp

    async with Client(mcp, raise_exceptions=True) as client:

        async def call(name: str, args: dict[str, Any]) -> dict[str, Any]:
            result = await client.call_tool(name, args)
            assert result.is_error is False, (name, result.content)
            assert result.structured_content is not None
            return dict(result.structured_content)

        # Hard budget below the truth: whatever part has been read, never "allowed".
        await call("set_budget", {"name": "tight", "amount_usd": 5, "period": "month", "hard": True})
        incomplete = 0
        # Each call counted was read with the filler line before it: the reading can never say it
        # read less than that (it said "0.0 MB read" beside thousands of calls until a chunk ended).
        filler = len(encode(user("2026-01-01T00:00:00Z", size=1_000))) + 1
        for _ in range(5_000):
            spend = await call("get_spend", {})
            done = _envelope_ok("get_spend", spend)
            incomplete += not done
            if not done:
                counted = Decimal(str(spend["total_usd"])) / CALL_USD
                assert spend["reading"]["bytes_read"] >= counted * filler, spend["reading"]
            check = await call("check_budget", {"estimated_cost_usd": 0.01})
            _envelope_ok("check_budget", check)
            assert check["allowed"] is False, check
            for name in ("model_breakdown", "budget_status", "spend_forecast", "usage_blocks"):
                _envelope_ok(name, await call(name, {}))
            if done:
                break
            await anyio.sleep(0.01)
        assert incomplete, "the first answers came before the logs were read, and said so"
        final = await call("get_spend", {})
        assert final["complete"] is True and Decimal(str(final["total_usd"])) == truth
        assert _envelope_ok("session_usage", await call("session_usage", {}))
        check = await call("check_budget", {"estimated_cost_usd": 0.01})
        assert check["complete"] is True and check["allowed"] is False
        assert "tight" in check["reason"]


async def test_record_usage_carries_the_envelope(client: Client) -> None:
    result = await client.call_tool(
        "record_usage",
        {"provider": "openai", "model": "gpt-4o-mini", "input_tokens": 10, "output_tokens": 5, "agent": "a"},
    )
    assert result.structured_content is not None
    assert result.structured_content["complete"] is True and result.structured_content["reading"] is None


def test_a_background_reading_says_less_is_left_as_each_batch_commits(
    settings: Settings, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What is "left" stayed at the last chunk's end figure while the next chunk read on (and was unknown
    for the whole first chunk): a person watching a large first read saw it never go down."""
    _big_tree(home / "claude", datetime.now(UTC) - timedelta(seconds=5))
    logs = sorted(str(p) for p in (home / "claude").rglob("*.jsonl"))
    monkeypatch.setattr(claude_code, "BATCH_COPIES", 1_000)  # a batch every few files
    reader = catchup.LogReader(settings, Pricer(), functools.partial(connect, settings.db), chunk_seconds=600)
    seen: list[tuple[int | None, int | None, int, int]] = []
    write = claude_code._write

    def observed(conn: Conn, *args: Any) -> None:
        # Just before a batch commits: every batch before it is in the ledger, none of this one.
        at = reader.progress()
        stored = {row[0]: row[1] for row in conn.execute('SELECT path, "offset" FROM scanned_files')}
        behind = [os.path.getsize(p) - stored.get(p, 0) for p in logs]
        seen.append((at.bytes_left, at.files_left, sum(behind), sum(b > 0 for b in behind)))
        write(conn, *args)

    monkeypatch.setattr(claude_code, "_write", observed)
    reader.start()
    assert reader.wait(120)
    assert len(seen) >= 10, "one chunk of many batches"
    assert [(b, f) for b, f, _, _ in seen] == [(b, f) for _, _, b, f in seen]
    left = [b for _, _, b, _ in seen]  # equal to what was said, as asserted just above
    assert left == sorted(left, reverse=True) and len(set(left)) == len(left)


def test_hard_budget_refuses_while_unread_bytes_could_fill_it_and_allows_when_they_cannot(
    settings: Settings, conn: Conn
) -> None:
    budgets.set_budget(conn, "hard", Decimal(100), "month", BudgetScope(), hard=True)
    budgets.set_budget(conn, "agent-only", Decimal(1), "month", BudgetScope(agents=["bot"]), hard=True)
    fits = Unread(Decimal(99), "still reading")  # exactly fills what is left after the call
    does_not_fit = Unread(Decimal("99.5"), "still reading (1.0 MB left)")
    unknown = Unread(None, "still reading")
    cost = Decimal(1)
    assert budgets.check_budget(conn, settings, cost, unread=fits).allowed is True
    refused = budgets.check_budget(conn, settings, cost, unread=does_not_fit)
    assert refused.allowed is False and refused.binding_budget == "hard"
    assert refused.reason.startswith("refused for now: still reading (1.0 MB left)")
    assert budgets.check_budget(conn, settings, cost, unread=unknown).allowed is False
    # A budget Claude Code logs cannot count against (another agent) is not held back by them.
    budgets.delete_budget(conn, "hard")
    scoped = budgets.check_budget(conn, settings, Decimal("0.5"), agent="bot", unread=does_not_fit)
    assert [c.name for c in scoped.budgets] == ["agent-only"] and scoped.allowed is True


def test_unread_logs_hold_back_a_hard_budget_on_the_clouds_claude_code_runs_on(
    settings: Settings, conn: Conn
) -> None:
    """Unread Claude Code lines may be Bedrock's or Vertex's calls, stored under aws or google: a hard
    budget on either is held back by them as one on anthropic is; one on openai is not."""
    for provider in ("aws", "google", "openai"):
        budgets.set_budget(
            conn, provider, Decimal(100), "month", BudgetScope(providers=[provider]), hard=True
        )
    unread = Unread(Decimal("99.5"), "still reading (1.0 MB left)")
    for provider, allowed in (("aws", False), ("google", False), ("openai", True)):
        check = budgets.check_budget(conn, settings, Decimal(1), provider=provider, unread=unread)
        assert check.allowed is allowed, provider


def test_the_worst_case_bound_covers_the_dearest_shortest_line(settings: Settings) -> None:
    pricer = Pricer()
    shortest = b'{"type":"assistant","timestamp":"x","message":{"model":"x","usage":{"input_tokens":1}}}\n'
    assert len(shortest) == catchup.MIN_USAGE_LINE_BYTES
    # A dear line the parser accepts: every kind at the cap (the cache-write total too), on Opus.
    cap = tokens.MAX_CALL_TOKENS
    line = encode(
        assistant(
            "m",
            "r",
            "2026-02-20T10:00:00.000Z",
            model="claude-opus-4-1",
            input=cap,
            output=cap,
            cache_read=cap,
            write_5m=cap // 2,
            write_1h=cap // 2,
            web_searches=cap,
        )
    ).encode()
    where = claude_code.FileIdentity(Path("x.jsonl"), "p", "s")
    copy = claude_code.parse_line(line, where)
    assert isinstance(copy, claude_code.Copy)
    priced = pricer.price(copy.tokens, copy.model, "anthropic", datetime(2026, 2, 20, tzinfo=UTC))
    assert isinstance(priced, Price)
    worst = catchup.worst_case_usd(len(line) * 3, pricer)
    assert worst is not None and worst >= 3 * priced.total
    over = encode(assistant("m", "r", "2026-02-20T10:00:00.000Z", output=cap + 1)).encode()
    assert claude_code.parse_line(over, where) == "invalid_fields"
    assert catchup.worst_case_usd(None, pricer) is None
    assert catchup.worst_case_usd(catchup.MIN_USAGE_LINE_BYTES - 1, pricer) == 0


def _cli(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COST_MCP_REFRESH_BUDGET_SECONDS": "0"}
    return subprocess.run(
        [sys.executable, "-m", "cost_mcp", *args], text=True, env=env, timeout=300, check=False, **kw
    )


def _one_long_session(home: Path, calls: int) -> Decimal:
    stamp = (datetime.now(UTC) - timedelta(seconds=5)).isoformat().replace("+00:00", "Z")
    path = home / "claude" / "projects" / "-home-dev-app" / "long.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        for i in range(calls):
            out.write(encode(assistant(f"m{i}", f"r{i}", stamp)) + "\n")
    return calls * CALL_USD


@pytest.mark.usefixtures("home")
def test_cli_report_waits_for_every_log_line_even_with_no_refresh_budget(clock: None, home: Path) -> None:
    truth = _one_long_session(home, 10_000)  # more lines than a scan reads before it checks the clock
    proc = _cli("report", "--json", capture_output=True)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["complete"] is True and Decimal(str(result["total_usd"])) == truth
    assert "reading logs" not in proc.stderr  # no progress bar when stderr is not a terminal


@pytest.mark.usefixtures("home")
def test_cli_shows_a_progress_bar_on_a_terminal(home: Path) -> None:
    _one_long_session(home, 2_000)
    leader, follower = pty.openpty()
    env = {**os.environ, "COST_MCP_REFRESH_BUDGET_SECONDS": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cost_mcp", "budget", "list"],
        stdout=subprocess.DEVNULL,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    seen = b""
    try:
        with contextlib.suppress(OSError):  # EIO once the child has closed the terminal
            while chunk := os.read(leader, 65536):
                seen += chunk
    finally:
        os.close(leader)
        proc.wait(timeout=300)
    assert proc.returncode == 0
    assert b"reading logs" in seen


def _bad_lines(home: Path) -> Path:
    stamp = (datetime.now(UTC) - timedelta(seconds=5)).isoformat().replace("+00:00", "Z")
    path = home / "claude" / "projects" / "-home-dev-app" / "bad.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    good = encode(assistant("m1", "r1", stamp))
    negative = encode(assistant("m2", "r2", stamp, output=-5))
    path.write_text(f"{good}\n{{not json\n{negative}\n[1, 2]\n")
    return path


def test_skipped_lines_are_kept_per_file_and_counted_once(settings: Settings, home: Path, conn: Conn) -> None:
    path = _bad_lines(home)
    claude_code.ingest(conn, settings, Pricer())
    claude_code.ingest(conn, settings, Pricer(), full=True)  # read again: counts are replaced, not added
    from cost_mcp.store import skipped

    assert skipped.by_file(conn) == [(str(path), "claude_code", {"invalid_fields": 1, "malformed": 2})]
    warnings = skipped.warnings(conn, catchup.log_labels())
    assert len(warnings) == 1 and warnings[0].startswith("3 Claude Code log lines in 1 file were skipped")


async def test_a_later_answer_and_doctor_say_what_was_skipped(settings: Settings, home: Path) -> None:
    path = _bad_lines(home)
    conn = connect(settings.db)
    claude_code.ingest(conn, settings, Pricer())  # an earlier process read them
    conn.close()
    from cost_mcp.server import mcp

    async with Client(mcp, raise_exceptions=True) as client:
        result = await client.call_tool("get_spend", {})
        assert result.structured_content is not None
        warnings = result.structured_content["warnings"]
        assert any("were skipped" in w and "malformed 2" in w and "invalid_fields 1" in w for w in warnings)
    proc = _cli("doctor", "--json", capture_output=True)
    report = json.loads(proc.stdout)
    expected = {"path": str(path), "source": "claude_code", "lines": {"invalid_fields": 1, "malformed": 2}}
    assert report["skipped_log_lines"] == [expected]


# --- §4: names that mean one thing, and filters that say when they miss --------------------------


def _billed_openai(conn: Any) -> None:
    from cost_mcp.store.buckets import DAY_MS, Bucket, replace_range

    day = (int(datetime.now(UTC).timestamp() * 1000) // DAY_MS) * DAY_MS
    replace_range(conn, "openai", "cost", day, day + DAY_MS, [Bucket(day, day + DAY_MS, cost_nanos=10**9)])


def test_provider_source_and_basis_each_have_one_name(settings: Settings, conn: Conn) -> None:
    from cost_mcp.analytics import spend

    _billed_openai(conn)
    p = spend.resolve(settings, "this_month", None, None, None)
    rows = spend.get_spend(conn, settings, p, ["provider", "source", "basis"]).rows
    assert [r.group for r in rows] == [{"provider": "openai", "source": "openai-costs", "basis": "billed"}]
    by_source = spend.get_spend(conn, settings, p, (), spend.Filters(sources=["openai-costs"]))
    assert by_source.total_usd == 1 and not by_source.warnings
    # The older spelling still works; a provider given as a source matches nothing and says why.
    legacy = spend.get_spend(conn, settings, p, (), spend.Filters(sources=["openai billing api"]))
    assert legacy.total_usd == 1
    probe = spend.get_spend(conn, settings, p, (), spend.Filters(sources=["openai"]))
    assert probe.total_usd == 0
    assert any(
        "source filter 'openai' matches nothing" in w and "providers=['openai']" in w for w in probe.warnings
    )


def test_a_filter_that_matches_nothing_names_the_closest_known_values(
    settings: Settings, home: Path, conn: Conn
) -> None:
    from cost_mcp.analytics import spend

    _billed_openai(conn)
    p = spend.resolve(settings, "this_month", None, None, None)
    result = spend.get_spend(conn, settings, p, (), spend.Filters(providers=["opnai"], models=["gpt-5"]))
    assert "provider filter 'opnai' matches nothing in the ledger (closest known: openai)" in result.warnings
    assert any(w.startswith("model filter 'gpt-5' matches nothing") for w in result.warnings)


async def test_projects_show_their_folder_and_filters_accept_its_name(
    clock: None, client: Client, home: Path
) -> None:
    stamp = (datetime.now(UTC) - timedelta(seconds=5)).isoformat().replace("+00:00", "Z")
    line = {**assistant("m1", "r1", stamp, session="s1"), "cwd": "/home/alice/webapp"}
    odd = {**assistant("m2", "r2", stamp, session="s2"), "cwd": 5}  # a cwd that is not a path
    path = home / "claude" / "projects" / "-home-alice-webapp" / "s1.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(encode(line) + "\n" + encode(odd) + "\n")

    async def spend(args: dict[str, Any]) -> dict[str, Any]:
        result = await client.call_tool("get_spend", args)
        assert result.structured_content is not None
        return dict(result.structured_content)

    grouped = await spend({"group_by": ["project"]})
    # One folder, one row, under its path: the call stored under the slug is in it.
    assert [(r["group"]["project"], r["requests"]) for r in grouped["rows"]] == [("/home/alice/webapp", 2)]
    # The call with no usable cwd is stored under its folder's slug, which is the path's slug: the
    # path and the slug name both calls, and so does the folder name, through the stored path it
    # names (the bare name alone cannot be told from a slug's: see my.app below).
    for name in ("webapp", "/home/alice/webapp", "-home-alice-webapp"):
        filtered = await spend({"projects": [name]})
        assert Decimal(str(filtered["total_usd"])) == CALL_USD * 2
        assert not [w for w in filtered["warnings"] if "matches nothing" in w], name
    # Only a slug stored: the path still finds it (Claude Code replaced its '.' by '-').
    only_slug = {**assistant("m3", "r3", stamp, session="s3"), "cwd": None}
    dotted = home / "claude" / "projects" / "-home-alice-my-app" / "s3.jsonl"
    dotted.parent.mkdir(parents=True, exist_ok=True)
    dotted.write_text(encode(only_slug) + "\n")
    filtered = await spend({"projects": ["/home/alice/my.app"]})
    assert Decimal(str(filtered["total_usd"])) == CALL_USD
    assert not [w for w in filtered["warnings"] if "matches nothing" in w]
    missing = await spend({"projects": ["webap"]})
    assert any("project filter 'webap' matches nothing" in w and "webapp" in w for w in missing["warnings"])


def test_budget_status_names_a_scope_value_that_matches_nothing(settings: Settings, conn: Conn) -> None:
    _billed_openai(conn)
    budgets.set_budget(conn, "typo", Decimal(10), "month", BudgetScope(providers=["opnai"]))
    status = budgets.budget_status(conn, settings)
    assert status.warnings == [
        "budget 'typo': provider filter 'opnai' matches nothing in the ledger (closest known: openai)"
    ]


async def test_check_budget_waits_for_the_read_and_then_allows_a_call_that_fits(
    clock: None, home: Path
) -> None:
    truth = _big_tree(home / "claude", datetime.now(UTC) - timedelta(seconds=5))
    from cost_mcp.server import mcp

    async with Client(mcp, raise_exceptions=True) as client:
        await client.call_tool(
            "set_budget", {"name": "roomy", "amount_usd": 1000, "period": "month", "hard": True}
        )
        result = await client.call_tool("check_budget", {"estimated_cost_usd": 1})
        check = result.structured_content
        assert check is not None and check["complete"] is True and check["allowed"] is True, check
        left = Decimal(str(check["budgets"][0]["remaining_before_usd"]))
        assert left == 1000 - truth  # the whole tree was counted before deciding


def test_a_scan_stopped_inside_a_file_is_continued_by_the_next(
    clock: None, settings: Settings, home: Path, conn: Conn
) -> None:
    truth = _one_long_session(home, 10_000)  # stopped at the first check of the clock, after 4,096 lines
    first = claude_code.ingest(conn, settings, Pricer(), budget_seconds=0)
    assert first.complete is False and first.files_pending == 1 and first.bytes_pending > 0
    second = claude_code.ingest(conn, settings, Pricer())
    assert second.complete is True and second.files_changed == 1
    from cost_mcp.analytics import spend

    p = spend.resolve(settings, "this_month", None, None, None)
    assert spend.get_spend(conn, settings, p).total_usd == truth


def test_sources_name_the_data_sources_each_job_brings_in(settings: Settings, conn: Conn) -> None:
    from cost_mcp.analytics import spend

    _billed_openai(conn)
    with write_transaction(conn):
        conn.execute(
            "INSERT INTO source_state (source, last_attempt, last_success) VALUES ('openai', ?, ?)",
            (datetime.now(UTC).isoformat(), datetime.now(UTC).isoformat()),
        )
    p = spend.resolve(settings, "this_month", None, None, None)
    [openai] = [s for s in spend.get_spend(conn, settings, p).sources if s.source == "openai"]
    # The job is named after the provider; what it brings in carries the names filters and rows use.
    assert openai.data_sources == ["openai-costs"]


async def test_a_session_not_read_yet_is_not_reported_missing(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the logs are still being read, "no usage recorded; see doctor" (or "no such session")
    would send a person to fix a setup that is fine: the error says the read is under way."""
    from cost_mcp import sync

    monkeypatch.setenv("COST_MCP_REFRESH_BUDGET_SECONDS", "0")
    _big_tree(home / "claude", datetime.now(UTC) - timedelta(seconds=5))
    release = threading.Event()
    real_read = sync.read_local_logs

    def slow_read(*args: Any, **kwargs: Any) -> Any:
        release.wait(30)  # the background reader is held back until the test has asked
        return real_read(*args, **kwargs)

    monkeypatch.setattr(sync, "read_local_logs", slow_read)
    from cost_mcp.server import mcp

    async with Client(mcp) as client:
        for args in ({}, {"session_id": "s3"}):
            result = await client.call_tool("session_usage", args)
            assert result.is_error is True
            text = result.content[0].text  # type: ignore[union-attr]
            assert "INCOMPLETE: Claude Code logs are still being read" in text, text
            assert "ask again shortly" in text
        release.set()
        for _ in range(3_000):
            result = await client.call_tool("session_usage", {"session_id": "s3"})
            if not result.is_error and result.structured_content and result.structured_content["complete"]:
                break
            await anyio.sleep(0.01)
        assert result.structured_content is not None and result.structured_content["requests"] == CALLS
        missing = await client.call_tool("session_usage", {"session_id": "nope"})
        # Everything read: a missing session is just missing, with the usual advice.
        assert missing.is_error is True and "INCOMPLETE" not in missing.content[0].text  # type: ignore[union-attr]
