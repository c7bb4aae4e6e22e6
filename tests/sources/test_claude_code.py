"""Claude Code log ingestion: real JSONL files on disk, a real SQLite ledger, one case per test."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cost_mcp.config import Settings
from cost_mcp.money import from_nanos
from cost_mcp.pricing import Pricer
from cost_mcp.sources import logfiles
from cost_mcp.sources.claude_code import FEW_FILES, FileIdentity, IngestReport, ingest, parse_line
from cost_mcp.store import claude_logs
from cost_mcp.store.connection import Conn
from tests.sources.claude_logs import (
    assistant,
    copy_fixture,
    encode,
    progress,
    session_file,
    user,
    write,
)


@pytest.fixture
def claude(home: Path) -> Path:
    return home / "claude"


def run(conn: Conn, settings: Settings, **kwargs: object) -> IngestReport:
    return ingest(conn, settings, Pricer(), **kwargs)  # type: ignore[arg-type]


def counted(conn: Conn) -> list[dict[str, Any]]:
    """The counted rows, by column name (on either backend)."""
    cur = conn.execute("SELECT * FROM usage_events WHERE counted = 1 ORDER BY ts_ms, message_id")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def totals(conn: Conn) -> tuple[int, ...]:
    row = conn.execute(
        """SELECT COUNT(*), SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens),
                  SUM(cache_write_5m_tokens), SUM(cache_write_1h_tokens), SUM(cost_nanos)
           FROM usage_events WHERE counted = 1"""
    ).fetchone()
    return tuple(int(v or 0) for v in row)


T0 = "2026-11-02T09:00:00.000Z"
T1 = "2026-11-02T09:00:01.000Z"
T2 = "2026-11-02T09:05:00.000Z"


def test_split_content_blocks_keep_the_final_output_count(
    claude: Path, conn: Conn, settings: Settings
) -> None:
    write(
        session_file(claude, "s1"),
        assistant("msg_a", "req_a", T0, output=12),
        assistant("msg_a", "req_a", "2026-11-02T09:00:00.037Z", output=80),
        assistant("msg_a", "req_a", "2026-11-02T09:00:00.512Z", output=331),
    )
    result = run(conn, settings)
    assert result.usage_lines == 3
    assert result.events_added == 1
    assert result.duplicates_collapsed == 2
    [event] = counted(conn)
    assert event["output_tokens"] == 331


def test_resumed_session_copying_history_counts_each_call_once(
    claude: Path, conn: Conn, settings: Settings
) -> None:
    a = assistant("msg_a", "req_a", T0, session="s1", output=100)
    b = assistant("msg_b", "req_b", T1, session="s1", output=200)
    write(session_file(claude, "s1"), a, b)
    copied = [dict(line, sessionId="s2") for line in (a, b)]
    write(session_file(claude, "s2"), *copied, assistant("msg_c", "req_c", T2, session="s2", output=300))
    result = run(conn, settings)
    assert result.events_added == 3
    assert totals(conn)[2] == 600


def test_sidechain_replay_under_a_new_request_id_is_the_same_call(
    claude: Path, conn: Conn, settings: Settings
) -> None:
    write(
        session_file(claude, "s1"),
        assistant("msg_a", "req_parent", T0, cache_read=5_000, output=100),
        assistant("msg_a", "req_replay", T2, sidechain=True, cache_read=5_000, output=100),
    )
    run(conn, settings)
    [event] = counted(conn)
    assert event["request_id"] == "req_parent"  # ties go to the non-sidechain copy
    assert event["is_sidechain"] == 0


def test_sidechain_copy_with_more_tokens_wins_but_still_counts_once(
    claude: Path, conn: Conn, settings: Settings
) -> None:
    write(
        session_file(claude, "s1"),
        assistant("msg_a", "req_replay", T2, sidechain=True, output=500),
        assistant("msg_a", "req_parent", T0, output=100),
    )
    run(conn, settings)
    [event] = counted(conn)
    assert event["output_tokens"] == 500


def test_distinct_request_ids_without_sidechain_stay_distinct_calls(
    claude: Path, conn: Conn, settings: Settings
) -> None:
    # Some proxies reuse message ids; two real requests must not collapse into one.
    write(
        session_file(claude, "s1"),
        assistant("msg_same", "req_1", T0, output=10),
        assistant("msg_same", "req_2", T1, output=20),
    )
    run(conn, settings)
    assert totals(conn)[0] == 2


def test_progress_copy_of_a_subagent_call_counts_once(claude: Path, conn: Conn, settings: Settings) -> None:
    sub = assistant("msg_sub", "req_sub", T1, session="s1", sidechain=True, cache_read=9_000, output=77)
    write(claude / "projects" / "-home-dev-app" / "s1" / "subagents" / "agent-1.jsonl", sub)
    write(session_file(claude, "s1"), user(T0), progress(sub), assistant("msg_main", "req_main", T2))
    result = run(conn, settings)
    assert result.usage_lines == 3
    assert result.events_added == 2
    events = {e["message_id"]: e for e in counted(conn)}
    assert events["msg_sub"]["output_tokens"] == 77
    assert events["msg_sub"]["session_id"] == "s1"


def test_progress_line_alone_counts(claude: Path, conn: Conn, settings: Settings) -> None:
    sub = assistant("msg_sub", "req_sub", T1, sidechain=True, output=5)
    write(session_file(claude, "s1"), progress(sub))
    assert run(conn, settings).events_added == 1


def test_missing_request_id_dedups_on_message_id(claude: Path, conn: Conn, settings: Settings) -> None:
    write(
        session_file(claude, "s1"),
        assistant("msg_a", None, T0, output=10),
        assistant("msg_a", None, "2026-11-02T09:00:00.037Z", output=40),
    )
    write(session_file(claude, "s2"), assistant("msg_a", None, T0, session="s2", output=10))
    write(
        session_file(claude, "s3"),
        assistant("msg_b", None, T1, session="s3", output=1),
        assistant("msg_b", "req_b", T1, session="s3", output=1),
    )
    run(conn, settings)
    events = {e["message_id"]: e for e in counted(conn)}
    assert set(events) == {"msg_a", "msg_b"}
    assert events["msg_a"]["output_tokens"] == 40


def test_truncated_last_line_is_read_when_completed(claude: Path, conn: Conn, settings: Settings) -> None:
    path = session_file(claude, "s1")
    first = encode(assistant("msg_a", "req_a", T0, output=10)) + "\n"
    second = encode(assistant("msg_b", "req_b", T1, output=20)) + "\n"
    path.parent.mkdir(parents=True)
    path.write_text(first + second[:57])
    result = run(conn, settings)
    assert result.events_added == 1
    assert sum(result.skipped.values()) == 0  # an unfinished line is not an error, just not yet
    with path.open("a") as f:
        f.write(second[57:])
    result = run(conn, settings)
    assert result.files_changed == 1
    assert result.lines_read == 1
    assert result.events_added == 1
    assert totals(conn)[2] == 30


def _left_alone(path: Path, minutes: int = 10) -> None:
    """Make a file look untouched for ``minutes`` (its writer gone), as os.utime sets it."""
    old = path.stat().st_mtime - minutes * 60
    os.utime(path, (old, old))


def _skipped_in(conn: Conn, path: Path) -> dict[str, int]:
    from cost_mcp.store import skipped

    return next((reasons for p, _source, reasons in skipped.by_file(conn) if p == str(path)), {})


def test_a_complete_last_line_a_crash_left_without_its_newline_is_read_once(
    claude: Path, conn: Conn, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read while fresh, the line waits for its newline; once the file has been left alone for
    minutes (Claude Code was killed), it is read as it is, once, and a later append is read on
    from there."""
    path = session_file(claude, "s1")
    path.parent.mkdir(parents=True)
    path.write_text(encode(assistant("msg_a", "req_a", T0, output=10)) + "\n")
    with path.open("a") as f:
        f.write(encode(assistant("msg_b", "req_b", T1, output=20)))  # no newline: the process died
    assert run(conn, settings).events_added == 1  # fresh: it may still be being written
    # The file is not touched again (same size and mtime as that scan saw); the minutes pass.
    monkeypatch.setattr(logfiles, "SETTLED_NS", 0, raising=False)
    result = run(conn, settings)
    assert (result.files_changed, result.lines_read, result.events_added) == (1, 1, 1)
    assert totals(conn)[:3] == (2, 8, 30)
    result = run(conn, settings)
    assert (result.files_unchanged, result.lines_read) == (1, 0)  # read once, not on every scan
    # Claude Code resumes the session and appends right after the cut line.
    with path.open("a") as f:
        f.write(encode(assistant("msg_c", "req_c", T2, output=40)) + "\n")
    result = run(conn, settings)
    assert (result.lines_read, result.events_added) == (1, 1)
    assert totals(conn)[:3] == (3, 12, 70)
    assert _skipped_in(conn, path) == {}


def test_a_cut_last_line_of_a_file_left_alone_is_named_as_truncated(
    claude: Path, conn: Conn, settings: Settings
) -> None:
    """A line cut mid-object (the write killed) is counted once as truncated, named for its file
    as other skipped lines are; a line appended after it later is read whole, not glued to it."""
    path = session_file(claude, "s1")
    path.parent.mkdir(parents=True)
    second = encode(assistant("msg_b", "req_b", T1, output=20))
    path.write_text(encode(assistant("msg_a", "req_a", T0, output=10)) + "\n" + second[:57])
    _left_alone(path)
    result = run(conn, settings)
    assert result.events_added == 1
    assert result.skipped["truncated"] == 1
    assert _skipped_in(conn, path) == {"truncated": 1}
    assert run(conn, settings).skipped["truncated"] == 0  # not counted again
    with path.open("a") as f:
        f.write(encode(assistant("msg_c", "req_c", T2, output=40)) + "\n")
    result = run(conn, settings)
    assert (result.lines_read, result.events_added, sum(result.skipped.values())) == (1, 1, 0)
    assert totals(conn)[:3] == (2, 8, 50)
    assert _skipped_in(conn, path) == {"truncated": 1}


def test_file_rewritten_shorter_is_read_again_without_double_counting(
    claude: Path, conn: Conn, settings: Settings
) -> None:
    path = write(
        session_file(claude, "s1"),
        assistant("msg_a", "req_a", T0, output=10),
        assistant("msg_b", "req_b", T1, output=20),
        assistant("msg_c", "req_c", T2, output=30),
    )
    run(conn, settings)
    write(path, assistant("msg_a", "req_a", T0, output=10), assistant("msg_d", "req_d", T2, output=40))
    result = run(conn, settings)
    assert result.files_reread == 1
    assert result.events_added == 1  # msg_d; msg_a was already counted
    assert totals(conn)[0] == 4
    assert totals(conn)[2] == 100


def test_replaced_file_with_a_new_inode_is_read_again(claude: Path, conn: Conn, settings: Settings) -> None:
    path = write(session_file(claude, "s1"), assistant("msg_a", "req_a", T0, output=10))
    run(conn, settings)
    tmp = write(
        path.with_suffix(".tmp"),
        assistant("msg_a", "req_a", T0, output=10),
        assistant("msg_b", "req_b", T1, output=1),
    )
    os.replace(tmp, path)
    result = run(conn, settings)
    assert result.files_reread + result.files_changed == 1
    assert totals(conn)[0] == 2


def test_the_read_state_of_deleted_logs_goes_and_their_calls_stay(
    claude: Path, conn: Conn, settings: Settings
) -> None:
    """Claude Code deletes transcripts after cleanupPeriodDays, a file per session: the read state
    of every deleted one stayed, and each refresh that walked the tree read it all again (after a
    year ~10 stale rows per live file). A deleted file's row now goes; its calls stay, and a file
    that comes back at that path is read again with nothing counted twice."""
    sessions = [f"s{i}" for i in range(FEW_FILES + 30)]  # more than a scan looks up one by one
    for i, session in enumerate(sessions):
        write(session_file(claude, session), assistant(f"msg_{i}", f"req_{i}", T0, output=10 + i))
    run(conn, settings)
    before = totals(conn)
    old = [str(session_file(claude, s)) for s in sessions[:20]]
    for path in old:
        os.remove(path)  # Claude Code's cleanup
    run(conn, settings)
    known = {row[0] for row in claude_logs.known_files(conn)}
    assert known == {str(session_file(claude, s)) for s in sessions[20:]}
    assert totals(conn) == before  # the ledger keeps the calls of deleted logs

    back = write(
        session_file(claude, sessions[0]),
        assistant("msg_0", "req_0", T0, output=10),
        assistant("msg_new", "req_new", T1, output=5),
    )
    run(conn, settings)
    assert str(back) in {row[0] for row in claude_logs.known_files(conn)}
    assert totals(conn)[0] == before[0] + 1 and totals(conn)[2] == before[2] + 5


def test_a_log_reached_through_a_link_too_is_read_and_named_once(
    claude: Path, conn: Conn, settings: Settings
) -> None:
    """A transcript also reached through a symlink inside the folder was read twice, once by each
    path: its malformed line said "2 lines in 2 files" and doctor named both paths. The file is now
    read once, by its own path; a link row read before it (its target then had no log's name) goes
    with its skipped lines once the walk reaches the file itself."""
    from cost_mcp.store import skipped

    path = write(session_file(claude, "s1"), assistant("msg_a", "req_a", T0, output=10))
    with path.open("a") as f:
        f.write("{not json\n")
    alias = session_file(claude, "alias", project="-home-dev-other")
    alias.parent.mkdir(parents=True)
    alias.symlink_to(path)
    result = run(conn, settings)
    assert (result.lines_read, result.skipped["malformed"], result.events_added) == (2, 1, 1)
    assert [p for p, _source, _reasons in skipped.by_file(conn)] == [str(path)]
    assert skipped.warnings(conn, {"claude_code": "Claude Code"})[0].startswith(
        "1 Claude Code log line in 1 file was skipped"
    )

    # A link read by its own path (its target kept under a name the walk does not read), in a tree
    # of more files than a scan looks up one by one: once the target is a log the walk reaches,
    # the link's row and skipped lines go and the file is named once.
    for i in range(FEW_FILES):
        write(session_file(claude, f"f{i}"), assistant(f"msg_f{i}", f"req_f{i}", T0, output=1))
    kept = write(path.parent / "kept.log", assistant("msg_b", "req_b", T1, output=20))
    with kept.open("a") as f:
        f.write("[1, 2]\n")
    link = session_file(claude, "link", project="-home-dev-other")
    link.symlink_to(kept)
    run(conn, settings)
    assert {p for p, _source, _reasons in skipped.by_file(conn)} == {str(link), str(path)}
    own = session_file(claude, "s2")
    kept.rename(own)
    link.unlink()
    link.symlink_to(own)
    before = totals(conn)
    result = run(conn, settings)
    assert (result.lines_read, result.skipped["malformed"]) == (2, 1)
    assert {p for p, _source, _reasons in skipped.by_file(conn)} == {str(path), str(own)}
    assert str(link) not in {row[0] for row in claude_logs.known_files(conn)}
    assert skipped.warnings(conn, {"claude_code": "Claude Code"})[0].startswith(
        "2 Claude Code log lines in 2 files were skipped"
    )
    assert totals(conn) == before


def test_malformed_lines_are_counted_by_reason_and_skipped(
    claude: Path, conn: Conn, settings: Settings
) -> None:
    copy_fixture("malformed.jsonl", claude)
    result = run(conn, settings)
    assert result.skipped == {
        "malformed": 3,  # not JSON, an array, a bare null
        "truncated": 1,  # cut mid-object, then a newline
        "no_usage": 1,
        "invalid_fields": 3,  # tokens as a string, an unreadable timestamp, negative tokens
        "synthetic": 1,
        "too_long": 0,
    }
    assert result.events_added == 1
    assert result.lines_read == 14


def test_spaced_json_counts(claude: Path, conn: Conn, settings: Settings) -> None:
    copy_fixture("spaced_json.jsonl", claude)
    assert run(conn, settings).events_added == 1
    assert totals(conn)[1:3] == (100, 200)


def test_nulls_unknown_speed_and_offset_timestamps_are_tolerated(
    claude: Path, conn: Conn, settings: Settings
) -> None:
    copy_fixture("nulls.jsonl", claude)
    result = run(conn, settings)
    assert result.events_added == 2
    assert sum(result.skipped.values()) == 0
    events = counted(conn)
    # 11:00+02:00 is 09:00Z
    assert {e["ts_ms"] for e in events} == {1793610000000}
    assert all(e["cost_nanos"] is not None for e in events)


def test_one_hour_cache_writes_are_priced_apart(claude: Path, conn: Conn, settings: Settings) -> None:
    write(
        session_file(claude, "s1"),
        assistant("msg_a", "req_a", T0, input=0, output=0, write_5m=20_000, write_1h=15_000),
    )
    run(conn, settings)
    [event] = counted(conn)
    assert (event["cache_write_5m_tokens"], event["cache_write_1h_tokens"]) == (20_000, 15_000)
    # 20k x $3.75 + 15k x $6 per MTok
    assert from_nanos(event["cost_nanos"]) == Decimal("0.165")


def test_request_over_200k_input_is_priced_at_the_long_context_rate(
    claude: Path, conn: Conn, settings: Settings
) -> None:
    write(
        session_file(claude, "s1"),
        assistant("msg_a", "req_a", T0, input=10, cache_read=250_000, output=1_000),
    )
    run(conn, settings)
    [event] = counted(conn)
    # all of it at the tier: 10 x $6 + 250k x $0.60 + 1k x $22.50 per MTok
    assert from_nanos(event["cost_nanos"]) == Decimal("0.17256")


def test_web_search_requests_are_priced(claude: Path, conn: Conn, settings: Settings) -> None:
    write(session_file(claude, "s1"), assistant("msg_a", "req_a", T0, input=0, output=0, web_searches=3))
    run(conn, settings)
    assert from_nanos(counted(conn)[0]["cost_nanos"]) == Decimal("0.03")


def test_claude_code_on_bedrock_is_priced_at_bedrock_prices(
    claude: Path, conn: Conn, settings: Settings
) -> None:
    """Claude Code on Bedrock logs Bedrock's model ids: priced as AWS lists them (in-region and
    "us." cross-region ids at the regional rate, 10% above Anthropic's for Sonnet 4.5; "global."
    at Anthropic's), never left unpriced."""
    write(
        session_file(claude, "s1"),
        assistant(
            "m1", "r1", T0, model="anthropic.claude-sonnet-4-5-20250929-v1:0", input=100_000, output=1_000
        ),
        assistant(
            "m2", "r2", T0, model="us.anthropic.claude-sonnet-4-5-20250929-v1:0", input=100_000, output=1_000
        ),
        assistant(
            "m3", "r3", T0, model="global.anthropic.claude-sonnet-4-5-20250929-v1:0", input=100_000, output=0
        ),
    )
    result = run(conn, settings)
    assert result.unpriced_models == {}
    costs = sorted(from_nanos(e["cost_nanos"]) for e in counted(conn))
    # 100k x $3.30 + 1k x $16.50 per MTok (regional); 100k x $3 (global)
    assert costs == [Decimal("0.3"), Decimal("0.3465"), Decimal("0.3465")]
    # AWS bills them, not Anthropic: stored under aws, so an Anthropic cost report never stands
    # for them (see test_providers_mcp for the total of such a day).
    assert {e["provider"] for e in counted(conn)} == {"aws"}


def test_claude_code_on_vertex_is_stored_under_google_and_first_party_ids_under_anthropic(
    claude: Path, conn: Conn, settings: Settings
) -> None:
    """Vertex AI's ids (version after an "@") are Google's to bill, priced at what genai-prices lists
    under google; Anthropic's own ids, dated or not, stay anthropic's."""
    write(
        session_file(claude, "s1"),
        assistant("m1", "r1", T0, model="claude-sonnet-4-5@20250929", input=100_000, output=1_000),
        assistant("m2", "r2", T0, model="claude-sonnet-4-5-20250929", input=100_000, output=1_000),
        assistant("m3", "r3", T0, model="claude-sonnet-4-5", input=100_000, output=1_000),
    )
    assert run(conn, settings).unpriced_models == {}
    stored = {e["model"]: (e["provider"], from_nanos(e["cost_nanos"])) for e in counted(conn)}
    assert stored == {
        "claude-sonnet-4-5@20250929": ("google", Decimal("0.315")),  # 100k x $3 + 1k x $15 per MTok
        "claude-sonnet-4-5-20250929": ("anthropic", Decimal("0.315")),
        "claude-sonnet-4-5": ("anthropic", Decimal("0.315")),
    }
    quarter_hours = conn.execute("SELECT DISTINCT model, provider FROM usage_rollup").fetchall()
    assert dict(quarter_hours) == {m: p for m, (p, _) in stored.items()}


def test_unknown_model_is_kept_unpriced_not_zero(claude: Path, conn: Conn, settings: Settings) -> None:
    write(session_file(claude, "s1"), assistant("msg_a", "req_a", T0, model="claude-nova-9-20300101"))
    result = run(conn, settings)
    assert result.unpriced_models == {"claude-nova-9-20300101": 1}
    assert counted(conn)[0]["cost_nanos"] is None


def test_reported_cost_usd_is_kept_beside_the_computed_one(
    claude: Path, conn: Conn, settings: Settings
) -> None:
    line = assistant("msg_a", "req_a", T0, input=100_000, output=0)
    line["costUSD"] = 0.5
    write(session_file(claude, "s1"), line)
    run(conn, settings)
    [event] = counted(conn)
    assert event["reported_cost_nanos"] == 500_000_000
    assert event["cost_nanos"] == 300_000_000  # 100k x $3 per MTok


def test_unchanged_tree_is_rechecked_with_stat_only(claude: Path, conn: Conn, settings: Settings) -> None:
    for i in range(5):
        write(session_file(claude, f"s{i}"), assistant(f"msg_{i}", f"req_{i}", T0))
    run(conn, settings)
    result = run(conn, settings)
    assert result.files_unchanged == 5
    assert result.lines_read == 0
    assert result.bytes_read == 0


def test_full_rescan_changes_no_total(claude: Path, conn: Conn, settings: Settings) -> None:
    write(session_file(claude, "s1"), assistant("msg_a", "req_a", T0), assistant("msg_b", "req_b", T1))
    run(conn, settings)
    before = totals(conn)
    result = run(conn, settings, full=True)
    assert result.lines_read == 2
    assert result.events_added == 0
    assert totals(conn) == before


def test_named_paths_and_a_missing_one(claude: Path, conn: Conn, settings: Settings, tmp_path: Path) -> None:
    from cost_mcp.errors import InvalidInputError

    other = tmp_path / "elsewhere"
    write(other / "projects" / "-p" / "x.jsonl", assistant("msg_x", "req_x", T0))
    result = run(conn, settings, paths=[str(other)])
    assert result.roots == [str(other / "projects")]
    assert result.events_added == 1
    with pytest.raises(InvalidInputError, match="does not exist"):
        run(conn, settings, paths=[str(tmp_path / "nope")])


def test_deadline_stops_early_and_the_next_scan_resumes(claude: Path, conn: Conn, settings: Settings) -> None:
    for i in range(3):
        write(session_file(claude, f"s{i}"), assistant(f"msg_{i}", f"req_{i}", T0))
    first = run(conn, settings, budget_seconds=0.0)
    assert first.complete is False
    second = run(conn, settings)
    assert second.complete is True
    assert totals(conn)[0] == 3


def test_scans_that_start_past_their_deadline_still_move_on(
    claude: Path, conn: Conn, settings: Settings
) -> None:
    # A budget of 0 (or a walk slower than the budget): each scan reads at least one file, and
    # one it read to the end is never read again, so repeated scans finish. They once stalled on
    # the first file read, marked unread at its end.
    for i in range(4):
        write(session_file(claude, f"s{i}"), assistant(f"msg_{i}", f"req_{i}", T0))
    results = [run(conn, settings, budget_seconds=0.0) for _ in range(5)]
    assert [r.events_added for r in results] == [1, 1, 1, 1, 0]
    assert [r.complete for r in results] == [False, False, False, True, True]
    assert totals(conn)[0] == 4


def test_a_scan_stopped_inside_a_file_counts_what_it_read(
    claude: Path, conn: Conn, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cost_mcp.sources import claude_code

    monkeypatch.setattr(claude_code, "YIELD_EVERY_LINES", 2)
    lines = [assistant(f"msg_{i}", f"req_{i}", T0) for i in range(5)]
    path = session_file(claude, "s1")
    write(path, *lines)
    sizes = [len(line) for line in path.read_bytes().splitlines(keepends=True)]
    first = run(conn, settings, budget_seconds=0.0)
    assert (first.complete, first.lines_read, first.bytes_read) == (False, 2, sum(sizes[:2]))
    rest = run(conn, settings)
    assert (rest.complete, rest.lines_read, rest.bytes_read) == (True, 3, sum(sizes[2:]))


def test_parse_line_ignores_lines_of_other_types() -> None:
    where = FileIdentity(Path("/x/projects/p/s.jsonl"), "p", "s")
    assert parse_line(b'{"type":"user","message":{"role":"user","content":"hi"}}\n', where) is None
    assert parse_line(b'{"type":"system","message":"compacted"}\n', where) is None


def test_a_flush_in_the_middle_of_a_file_loses_nothing(
    claude: Path, conn: Conn, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cost_mcp.sources import claude_code

    monkeypatch.setattr(claude_code, "BATCH_COPIES", 3)
    monkeypatch.setattr(claude_code, "YIELD_EVERY_LINES", 2)
    write(
        session_file(claude, "s1"), *(assistant(f"msg_{i}", f"req_{i}", T0, output=i + 1) for i in range(10))
    )
    result = run(conn, settings)
    assert result.events_added == 10
    assert totals(conn)[2] == sum(range(1, 11))


def test_fast_mode_is_priced_at_fast_rates(claude: Path, conn: Conn, settings: Settings) -> None:
    fast = assistant("msg_f", "req_f", T0, model="claude-opus-4-8", input=1_000, output=1_000)
    fast["message"]["usage"]["speed"] = "fast"
    standard = assistant("msg_s", "req_s", T1, model="claude-opus-4-8", input=1_000, output=1_000)
    write(session_file(claude, "s1"), fast, standard)
    run(conn, settings)
    costs = {e["message_id"]: from_nanos(e["cost_nanos"]) for e in counted(conn)}
    assert costs["msg_f"] == Decimal("0.06")  # fast: $10 in / $50 out per MTok
    assert costs["msg_s"] < costs["msg_f"]


@pytest.mark.parametrize(
    "stamp",
    [
        "2026-11-01T12:34:56.789Z",
        "2024-02-29T23:59:59.999Z",
        "1970-01-01T00:00:00.000Z",
        "2999-12-31T23:59:59.999Z",
        "2026-02-30T10:00:00.000Z",  # no such day
        "2023-02-29T10:00:00.000Z",  # not a leap year
        "2026-11-01T24:00:00.000Z",
        "2026-11-01T12:60:00.000Z",
        "2026-11-01T12:00:60.000Z",
        "3000-01-01T00:00:00.000Z",  # past the last accepted instant
        "\u0662\u0660\u0662\u0666-11-01T12:00:00.000Z",  # non-ASCII digits
        "2026-11-01T12:34:56.789+02:00",
        "2026-11-01T12:34:56Z",
    ],
)
def test_the_fast_timestamp_path_reads_exactly_what_fromisoformat_reads(stamp: str) -> None:
    """Claude Code's own stamp shape skips the datetime; every stamp still means the same instant
    (or is refused) as through ``datetime.fromisoformat``."""
    from cost_mcp.sources import claude_code

    def general(s: str) -> int | None:
        try:
            return claude_code._epoch_ms_general(s)
        except claude_code._InvalidLineError:
            return None

    def fast(s: str) -> int | None:
        try:
            return claude_code._epoch_ms(s)
        except claude_code._InvalidLineError:
            return None

    assert fast(stamp) == general(stamp)
    assert fast(stamp) == fast(stamp)  # the second read comes from the day cache


@given(
    st.lists(
        st.tuples(
            st.sampled_from([1970, 2023, 2024, 2026, 2999, 3000]),
            st.integers(1, 12),
            st.sampled_from([1, 28, 29, 30, 31]),
            st.integers(0, 24),
            st.integers(0, 60),
            st.integers(0, 60),
            st.integers(0, 999),
        ),
        min_size=1,
        max_size=20,
    )
)
@settings(max_examples=200, deadline=None)
def test_stamps_read_from_cached_parts_of_other_stamps_mean_what_fromisoformat_reads(
    parts: list[tuple[int, int, int, int, int, int, int]],
) -> None:
    """The fast path joins an hour, a minute and second and a millisecond cached from different
    stamps: every such join reads as ``datetime.fromisoformat`` reads it, or is refused alike."""
    from cost_mcp.sources import claude_code

    def read(read_ms: Any, s: str) -> int | None:
        try:
            return int(read_ms(s))
        except claude_code._InvalidLineError:
            return None

    for y, mo, d, h, mi, sec, ms in parts:
        stamp = f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{sec:02d}.{ms:03d}Z"
        assert read(claude_code._epoch_ms, stamp) == read(claude_code._epoch_ms_general, stamp)


ROLLUP_TABLES = tuple(
    f"{level}{twin}"
    for level in ("usage_rollup", "usage_rollup_hour", "usage_rollup_day")
    for twin in ("", "_nosession")
)


def rollup_tables(conn: Conn) -> dict[str, list[tuple[Any, ...]]]:
    return {t: sorted(tuple(r) for r in conn.execute(f"SELECT * FROM {t}")) for t in ROLLUP_TABLES}


def assert_rollup_is_rebuilt_from_events(conn: Conn) -> None:
    """Every rollup level equals a rebuild from the counted events, with nothing left to refresh."""
    from cost_mcp.store import rollup
    from cost_mcp.store.connection import write_transaction

    assert conn.execute("SELECT COUNT(*) FROM rollup_dirty").fetchone()[0] == 0
    kept = rollup_tables(conn)
    assert kept["usage_rollup"]
    qhs = {int(r[0]) for r in conn.execute("SELECT DISTINCT ts_ms / 900000 FROM usage_events")}
    qhs |= {int(r[0]) for r in conn.execute("SELECT qh FROM usage_rollup")}
    with write_transaction(conn):
        rollup.rebuild(conn, qhs)
    assert rollup_tables(conn) == kept


@pytest.mark.parametrize("bulk_load", [True, False])
def test_the_rollup_summed_with_each_batch_equals_one_rebuilt_from_the_events(
    claude: Path, conn: Conn, settings: Settings, monkeypatch: pytest.MonkeyPatch, bulk_load: bool
) -> None:
    """Batches add their counted rows' sums to the rollup; the rows of a call whose copies fall in
    several batches (recounted from the table, the winner moving to another session, project and
    quarter-hour) are rebuilt instead, on a first read and on a later one."""
    from cost_mcp.sources import claude_code

    monkeypatch.setattr(claude_code, "BATCH_COPIES", 3)
    monkeypatch.setattr(claude_code, "YIELD_EVERY_LINES", 1)
    if bulk_load:
        monkeypatch.setattr(claude_code, "BULK_LOAD_BYTES", 0)
    paid = assistant("msg_paid", "req_paid", T1, output=7)
    paid["costUSD"] = 0.25  # an old log's own cost: auto and display sums take it
    lines = [
        assistant("msg_a", "req_a", T0, output=10),
        assistant("msg_b", "req_b", T1, model="claude-unknown-9", output=3),  # unpriced
        paid,
        progress(assistant("msg_sub", "req_sub", T2, output=5, sidechain=True)),
        *(assistant(f"msg_{i}", f"req_{i}", T2, output=i + 1) for i in range(5)),
    ]
    write(session_file(claude, "s1", "-home-dev-app"), *lines)
    write(
        claude / "projects" / "-home-dev-app" / "s1" / "subagents" / "agent-1.jsonl",
        assistant("msg_sub", "req_sub", T2, output=9, sidechain=True),
    )
    # A later session in another project holds better copies: the winners move there.
    write(
        session_file(claude, "s2", "-home-dev-other"),
        assistant("msg_a", "req_a", "2026-11-02T11:30:00.000Z", session="s2", output=50),
        assistant("msg_3", "req_3", T2, session="s2", output=1),  # a worse copy: stays where it was
        *(assistant(f"msg_n{i}", f"req_n{i}", T0, session="s2", output=2) for i in range(4)),
    )
    run(conn, settings)
    assert_rollup_is_rebuilt_from_events(conn)
    # A later read: new calls beside better copies of stored ones, in the same batches.
    write(
        session_file(claude, "s1", "-home-dev-app"),
        assistant("msg_late", "req_late", T2, output=4),
        assistant("msg_b", "req_b", T1, model="claude-unknown-9", output=30),
        assistant("msg_1", "req_1", "2026-11-02T12:00:00.000Z", output=70),
        append=True,
    )
    result = run(conn, settings)
    assert result.events_added == 1
    assert_rollup_is_rebuilt_from_events(conn)
    assert totals(conn)[0] == 14
