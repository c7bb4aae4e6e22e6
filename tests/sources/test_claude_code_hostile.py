"""One hostile line or file name in the Claude Code logs is skipped with its reason; nothing else breaks.

Each case puts a good line and one bad line (or a badly named file) into a real log tree, then runs the
CLI (`cost_mcp.cli.main`) and the MCP tools (in-memory client) over it: every command answers, the bad
input is counted under its reason, and the total is exactly the good line's price.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from cost_mcp.cli import main
from cost_mcp.money import from_nanos
from cost_mcp.pricing import Price, Pricer, Tokens
from tests.sources.claude_logs import SONNET, assistant, encode, session_file, write

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
TS = NOW.isoformat().replace("+00:00", "Z")
DEEP = 5_000


def good_total() -> Decimal:
    """The price of the one good line every case writes (4 input and 100 output tokens)."""
    price = Pricer().price(Tokens(input=4, output=100), SONNET, "anthropic", NOW)
    assert isinstance(price, Price)
    return from_nanos(price.total_nanos)


def good_line() -> dict[str, Any]:
    return assistant("msg_good", "req_good", TS, output=100)


def bad_assistant(**changes: Any) -> str:
    line = assistant("msg_bad", "req_bad", TS, output=100)
    usage = changes.pop("usage", None)
    if usage:
        line["message"]["usage"].update(usage)
    line.update(changes)
    return encode(line)


DEEP_LIST = "[" * DEEP + "]" * DEEP
DEEP_OBJECT = '{"a":' * DEEP + '"[{"' + "}" * DEEP

# A case: the line, the reason it is skipped for (None: not skipped), and how many calls then count
# (the good line's, and the bad line's own when its usage is still readable).
BAD_LINES: dict[str, tuple[str, str | None, int]] = {
    # A model calling a tool with a deeply nested argument gets such lines logged by Claude Code.
    "deep user line": ('{"type":"user","toolUseResult":' + DEEP_LIST + "}", None, 1),
    "deep object in a user line": ('{"type":"user","toolUseResult":' + DEEP_OBJECT + "}", None, 1),
    # The call itself was real and billed: its usage, a few levels deep, still counts.
    "deep assistant line": (bad_assistant()[:-1] + ',"toolUseResult":' + DEEP_LIST + "}", None, 2),
    "deep and unbalanced": (bad_assistant()[:-1] + ',"toolUseResult":' + "[" * DEEP + "}", "malformed", 1),
    "costUSD NaN": (bad_assistant(costUSD="NaN"), "invalid_fields", 1),
    "costUSD Infinity": (bad_assistant(costUSD="Infinity"), "invalid_fields", 1),
    "costUSD sNaN": (bad_assistant(costUSD="sNaN"), "invalid_fields", 1),
    "negative costUSD": (bad_assistant(costUSD=-5), "invalid_fields", 1),
    "huge costUSD": (bad_assistant(costUSD=1e300), "invalid_fields", 1),
    "timestamp past 9999": (bad_assistant(timestamp="9999-12-31T23:59:59-14:00"), "invalid_fields", 1),
    "timestamp before 0001": (bad_assistant(timestamp="0001-01-01T00:00:00+14:00"), "invalid_fields", 1),
    "token count 2^63": (bad_assistant(usage={"output_tokens": 2**63}), "invalid_fields", 1),
    "token count 2^64": (bad_assistant(usage={"cache_read_input_tokens": 2**64}), "invalid_fields", 1),
}


def write_case(home: Path, bad: str) -> None:
    path = write(session_file(home / "claude", "s1"), good_line())
    with path.open("a", encoding="utf-8") as f:
        f.write(bad + "\n")


def cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    capsys.readouterr()
    assert main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def cli_answers(capsys: pytest.CaptureFixture[str]) -> None:
    """Every read command answers over the hostile tree (human output too)."""
    for args in (
        ["report", "--period", "last_7_days"],
        ["report", "--period", "this_year", "--csv"],
        ["ingest"],
    ):
        assert main(args) == 0, args
    assert main(["export", "--period", "this_year", "--format", "json"]) == 0
    assert main(["doctor", "--json"]) in (0, 1)  # 1 only for its own findings (e.g. no provider keys)
    capsys.readouterr()


@pytest.mark.parametrize("case", list(BAD_LINES))
def test_cli_skips_a_hostile_line_and_keeps_the_total(
    home: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    bad, reason, calls = BAD_LINES[case]
    write_case(home, bad)
    result = cli_json(capsys, "ingest")
    assert sum(result["skipped"].values()) == (0 if reason is None else 1)
    if reason is not None:
        assert result["skipped"][reason] == 1
    assert result["events_added"] == calls
    report = cli_json(capsys, "report", "--period", "last_7_days")
    assert Decimal(str(report["total_usd"])) == calls * good_total()
    cli_answers(capsys)


QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("get_spend", {"period": "last_7_days"}),
    ("get_spend", {"period": "this_year", "group_by": ["day", "session", "model", "project"]}),
    ("model_breakdown", {"period": "last_7_days"}),
    ("session_usage", {"session_id": "s1"}),
    ("usage_blocks", {"days": 1, "token_limit": "max"}),
    ("budget_status", {}),
    ("check_budget", {"estimated_cost_usd": 1}),
    ("spend_forecast", {}),
]


async def tools_answer(client: Client) -> None:
    for tool, args in QUERIES:
        result = await client.call_tool(tool, args)
        assert not result.is_error, (tool, result.content)
    summary = await client.read_resource("cost://summary")
    assert summary.contents


@pytest.mark.anyio
@pytest.mark.parametrize("case", list(BAD_LINES))
async def test_tools_skip_a_hostile_line_and_keep_the_total(home: Path, client: Client, case: str) -> None:
    bad, reason, calls = BAD_LINES[case]
    write_case(home, bad)
    spend = await client.call_tool("get_spend", {"period": "last_7_days"})
    assert not spend.is_error, spend.content
    assert spend.structured_content is not None
    assert Decimal(str(spend.structured_content["total_usd"])) == calls * good_total()
    await tools_answer(client)
    again = await client.call_tool("ingest_claude_code_logs", {"full_rescan": True})
    assert again.structured_content is not None
    assert sum(again.structured_content["skipped"].values()) == (0 if reason is None else 1)


def write_named(home: Path, kind: str) -> None:
    """The good line in a normal file, plus one file whose name (or folder) is not valid UTF-8."""
    write(session_file(home / "claude", "s1"), good_line())
    projects = os.fsencode(home / "claude" / "projects")
    other = encode(assistant("msg_other", "req_other", TS, output=100_000)).encode() + b"\n"
    if kind == "file":
        target = projects + b"/-home-dev-app/\xff\xfe.jsonl"
    elif kind == "folder":
        os.makedirs(projects + b"/-home-\xff")
        target = projects + b"/-home-\xff/s9.jsonl"
    else:  # an empty file, with a bad name: nothing to read, and still no crash
        target, other = projects + b"/-home-dev-app/\xc3\x28.jsonl", b""
    with open(target, "wb") as f:
        f.write(other)


@pytest.mark.parametrize("kind", ["file", "folder", "empty file"])
def test_cli_skips_a_file_whose_name_is_not_utf8(
    home: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    write_named(home, kind)
    result = cli_json(capsys, "ingest")
    assert result["skipped_files"] == {"undecodable_name": 1, "link_outside": 0, "not_a_file": 0}
    assert result["events_added"] == 1
    report = cli_json(capsys, "report", "--period", "last_7_days", "--group-by", "project", "session")
    assert Decimal(str(report["total_usd"])) == good_total()
    cli_answers(capsys)


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["file", "folder", "empty file"])
async def test_tools_skip_a_file_whose_name_is_not_utf8(home: Path, client: Client, kind: str) -> None:
    write_named(home, kind)
    spend = await client.call_tool("get_spend", {"period": "last_7_days", "group_by": ["project", "session"]})
    assert not spend.is_error, spend.content
    assert spend.structured_content is not None
    assert Decimal(str(spend.structured_content["total_usd"])) == good_total()
    await tools_answer(client)
    scan = await client.call_tool("ingest_claude_code_logs", {})
    assert scan.structured_content is not None
    assert scan.structured_content["skipped_files"] == {
        "undecodable_name": 1,
        "link_outside": 0,
        "not_a_file": 0,
    }


def test_an_empty_log_file_is_read_as_nothing(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(session_file(home / "claude", "s1"), good_line())
    session_file(home / "claude", "empty").touch()
    result = cli_json(capsys, "ingest")
    assert result["files_seen"] == 2 and result["events_added"] == 1
    assert sum(result["skipped"].values()) == 0
    cli_answers(capsys)


def test_a_log_replaced_by_a_pipe_after_the_walk_is_named_not_waited_on(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A log file swapped for a named pipe between the walk's look (a regular file) and the read
    made open() wait for a writer forever: `ingest`, and every MCP answer behind it, hung. Now that
    file is named as not a regular file and the others are counted."""
    from cost_mcp.sources import logfiles

    write(session_file(home / "claude", "s1"), good_line())
    swapped = write(session_file(home / "claude", "s2"), good_line())
    walk = logfiles.walk

    def racing_walk(*args: Any, **kwargs: Any) -> Iterator[tuple[str, os.stat_result]]:
        for path, st in walk(*args, **kwargs):
            if path == str(swapped):  # seen as a regular file, then replaced before it is opened
                swapped.unlink()
                os.mkfifo(swapped)
            yield path, st

    monkeypatch.setattr(logfiles, "walk", racing_walk)
    answers: list[Any] = []
    reading = threading.Thread(target=lambda: answers.append(cli_json(capsys, "ingest")), daemon=True)
    reading.start()
    reading.join(30)
    if reading.is_alive():  # the reader waits in open(): a writer that opens and closes ends it
        os.close(os.open(swapped, os.O_WRONLY | os.O_NONBLOCK))
        reading.join(30)
        pytest.fail("ingest waited on a pipe put where a log file was")
    [answer] = answers
    assert answer["events_added"] == 1, answer
    assert answer["errors"] == [f"{swapped}: not a regular file (a pipe, socket or device)"]


def test_a_log_replaced_by_a_link_leading_out_after_the_walk_is_not_read(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A log file swapped for a link to a file outside the Claude folder between the walk's look (a
    regular file inside) and the read was read wherever the link led, its calls counted: the walk
    judged one file and the read opened another. Now the file opened must be the one the walk saw;
    the other is named (read at the next scan, whose walk passes the link over)."""
    from cost_mcp.sources import logfiles

    write(session_file(home / "claude", "s1"), good_line())
    swapped = write(session_file(home / "claude", "s2"), good_line())
    outside = write(home / "elsewhere" / "private.jsonl", assistant("msg_out", "req_out", TS, output=100_000))
    walk = logfiles.walk

    def racing_walk(*args: Any, **kwargs: Any) -> Iterator[tuple[str, os.stat_result]]:
        for path, st in walk(*args, **kwargs):
            if path == str(swapped):  # seen as a regular file, then replaced before it is opened
                swapped.unlink()
                swapped.symlink_to(outside)
            yield path, st

    monkeypatch.setattr(logfiles, "walk", racing_walk)
    answer = cli_json(capsys, "ingest")
    assert answer["events_added"] == 1, answer
    assert answer["errors"] == [f"{swapped}: replaced since its folder was listed (read at the next scan)"]
    monkeypatch.setattr(logfiles, "walk", walk)
    again = cli_json(capsys, "ingest")  # the link itself, judged by the walk: passed over
    assert (again["events_added"], again["errors"]) == (0, [])
    assert again["skipped_files"]["link_outside"] == 1


def test_links_leading_out_of_the_claude_folder_are_counted_not_read(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ``.jsonl`` symlink in the Claude folder was followed wherever it led: another user file was
    read as a log (its lines counted, its text stored as skipped), and only luck kept a link to a
    pipe or a device from being opened. Now only links resolving inside the folder are read; the
    others, and pipes, are counted under their reason and never opened."""
    write(session_file(home / "claude", "s1"), good_line())
    outside = home / "elsewhere"
    # A file any hostile tree could point at, shaped so that reading it would change the total.
    write(outside / "private.jsonl", assistant("msg_outside", "req_outside", TS, output=100_000))
    os.mkfifo(outside / "pipe")
    app = session_file(home / "claude", "s1").parent
    (app / "s2.jsonl").symlink_to(outside / "private.jsonl")
    (app / "s3.jsonl").symlink_to("/dev/zero")
    (app / "s4.jsonl").symlink_to(outside / "pipe")
    os.mkfifo(app / "s5.jsonl")
    # A link that stays inside is read as before (a session's log kept under another name).
    kept = write(home / "claude" / "projects" / "kept" / "inner.log", assistant("msg_in", "req_in", TS))
    (app / "s6.jsonl").symlink_to(kept)
    result = cli_json(capsys, "ingest")
    assert result["skipped_files"] == {"undecodable_name": 0, "link_outside": 3, "not_a_file": 1}
    assert result["events_added"] == 2
    assert result["errors"] == []
    cli_answers(capsys)
