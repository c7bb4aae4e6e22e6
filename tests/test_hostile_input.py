"""Odd or malicious data in the places cost-mcp reads: answers stay bounded, readable and whole."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from mcp import Client

from cost_mcp.analytics.claude_code import session_usage, usage_blocks
from cost_mcp.analytics.hourly import cost_by_hour
from cost_mcp.analytics.spend import resolve
from cost_mcp.config import Settings
from cost_mcp.pricing import Pricer
from cost_mcp.sources import reported
from cost_mcp.sources.claude_code import ingest
from cost_mcp.store import rollup
from cost_mcp.store.connection import Conn, connect, dialect, explain, write_transaction
from cost_mcp.store.usage import insert_reported
from tests.sources.claude_logs import assistant, session_file, write
from tests.store.reported_calls import reported_call

MAX_UNPRICED_NAMED = 10
"""Unpriced models an answer names one by one (analytics.usage.MAX_UNPRICED_NAMED)."""
MORE = 45
"""Unknown models beyond those a warning names one by one."""


def _many_unknown_models(home: Path) -> None:
    """One session whose calls each name a model no price is known for, the first one twice."""
    n = MAX_UNPRICED_NAMED + MORE
    write(
        session_file(home / "claude", "s1"),
        *(
            assistant(f"m{i}", f"r{i}", "2026-11-04T10:00:00Z", model=f"made-up-{i:03d}", input=1, output=1)
            for i in range(n)
        ),
        assistant("again", "again", "2026-11-04T10:01:00.000Z", model="made-up-000", input=1, output=1),
        assistant("long", "long", "2026-11-04T10:02:00.000Z", model="x" * 5000, input=1, output=1),
    )


def _check_bounded(warnings: list[str], left_out_of: str) -> None:
    unpriced = [w for w in warnings if "no known price" in w]
    assert len(unpriced) == MAX_UNPRICED_NAMED + 1
    # The model with most calls is among those named; the rest are one line with their count.
    assert any(w.startswith("made-up-000: 2 call(s)") for w in unpriced)
    assert unpriced[-1].startswith(f"{MORE + 1} more model(s) with no known price: {MORE + 1} call(s)")
    assert left_out_of in unpriced[-1]
    assert all(len(w) < 1000 for w in warnings)


@pytest.mark.anyio
async def test_get_spend_names_a_few_unpriced_models_and_counts_the_rest(home: Path, client: Client) -> None:
    _many_unknown_models(home)
    result = await client.call_tool("get_spend", {"start": "2026-11-04", "end": "2026-11-04"})
    assert result.structured_content is not None
    _check_bounded(result.structured_content["warnings"], "the total")


def test_session_and_blocks_name_a_few_unpriced_models_and_count_the_rest(
    home: Path, conn: Conn, settings: Settings
) -> None:
    _many_unknown_models(home)
    ingest(conn, settings, Pricer())
    _check_bounded(session_usage(conn, settings, "s1").warnings, "cost_usd")
    blocks = usage_blocks(conn, settings, days=1, now=datetime(2026, 11, 4, 11, tzinfo=UTC))
    _check_bounded(blocks.warnings, "these blocks' costs")


def test_a_long_model_name_is_cut_in_its_warning(home: Path, conn: Conn, settings: Settings) -> None:
    write(
        session_file(home / "claude", "s1"),
        assistant("long", "long", "2026-11-04T10:02:00.000Z", model="x" * 5000, input=1, output=1),
    )
    ingest(conn, settings, Pricer())
    [warning] = [w for w in session_usage(conn, settings, "s1").warnings if "no known price" in w]
    assert warning.startswith("x" * 200 + "…: 1 call(s)")


def test_a_byte_order_mark_at_the_start_of_a_log_does_not_lose_its_first_call(
    home: Path, conn: Conn, settings: Settings
) -> None:
    """A log an editor saved with a UTF-8 BOM: its first line is still a call, counted once."""
    path = write(
        session_file(home / "claude", "s1"),
        assistant("m1", "r1", "2026-11-04T10:00:00Z", input=1_000, output=0),
        assistant("m2", "r2", "2026-11-04T10:01:00Z", input=1_000, output=0),
    )
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    result = ingest(conn, settings, Pricer())
    assert result.events_added == 2
    assert sum(result.skipped.values()) == 0
    assert session_usage(conn, settings, "s1").requests == 2


@pytest.mark.anyio
@pytest.mark.usefixtures("home")
@pytest.mark.parametrize("tool", ["session_usage", "usage_blocks"])
async def test_an_unknown_agent_is_named_cut_short_in_the_error(client: Client, tool: str) -> None:
    result = await client.call_tool(tool, {"agent": "a" * 1_000_000})
    assert result.is_error is True
    text = result.content[0].text  # type: ignore[union-attr]
    assert "unknown agent 'aaaa" in text and "known agents: " in text and len(text) < 1000


def test_a_log_lines_huge_model_and_session_are_kept_cut_as_over_otlp(
    home: Path, conn: Conn, settings: Settings
) -> None:
    write(
        session_file(home / "claude", "s1"),
        assistant("m1", "r1", "2026-11-04T10:00:00Z", session="s" * 100_000, model="m" * 1_000_000, input=1),
    )
    assert ingest(conn, settings, Pricer()).events_added == 1
    session = session_usage(conn, settings, "s" * 256)
    assert session.session_id == "s" * 256
    assert [m.model for m in session.models] == ["m" * 256]


def test_a_log_line_with_a_nul_character_is_read_with_the_rest(
    home: Path, conn: Conn, settings: Settings
) -> None:
    """A NUL (JSON's \\u0000) in a session id and a folder: on PostgreSQL, which cannot store one in
    text, the whole ingest failed with "the ledger ... cannot be used", every other line with it."""
    odd = assistant("m1", "r1", "2026-11-04T10:00:00Z", session="s\x00x", input=1_000, output=10)
    odd["cwd"] = "/home/ana/pro\x00ject"
    write(session_file(home / "claude", "s1"), odd, assistant("m2", "r2", "2026-11-04T10:01:00Z", input=1))
    assert ingest(conn, settings, Pricer()).events_added == 2
    assert session_usage(conn, settings, "s\ufffdx").requests == 1
    # Read again from the start, it is the same call, not a second one.
    assert ingest(conn, settings, Pricer(), full=True).events_added == 0


def test_an_advisor_model_with_a_nul_character_is_read_with_the_rest(
    home: Path, conn: Conn, settings: Settings
) -> None:
    """An iteration billed apart (the advisor) carries its own model: a NUL in it failed the whole
    ingest on PostgreSQL as one in the line's own model did."""
    line = assistant("m1", "r1", "2026-11-04T10:00:00Z", input=1_000, output=10)
    line["message"]["usage"]["iterations"] = [
        {"type": "advisor_message", "model": "claude-opus-4-6\x00x", "input_tokens": 100, "output_tokens": 2}
    ]
    write(session_file(home / "claude", "s1"), line, assistant("m2", "r2", "2026-11-04T10:01:00Z", input=1))
    assert ingest(conn, settings, Pricer()).events_added == 3
    models = dict(conn.execute("SELECT message_id, model FROM usage_events"))
    assert models["m1#advisor_message1"] == "claude-opus-4-6\ufffdx"


@pytest.mark.anyio
@pytest.mark.usefixtures("home")
@pytest.mark.parametrize("limit", [-1, 0])
async def test_usage_blocks_refuses_a_token_limit_below_one(client: Client, limit: object) -> None:
    result = await client.call_tool("usage_blocks", {"token_limit": limit})
    assert result.is_error is True
    assert "token_limit" in result.content[0].text and "'max'" in result.content[0].text  # type: ignore[union-attr]


def test_a_block_lists_a_bounded_number_of_models(home: Path, conn: Conn, settings: Settings) -> None:
    _many_unknown_models(home)
    ingest(conn, settings, Pricer())
    blocks = usage_blocks(conn, settings, days=1, now=datetime(2026, 11, 4, 11, tzinfo=UTC))
    [block] = blocks.blocks
    assert len(block.models) == 50 and block.models == sorted(block.models)
    assert f"a block used {MAX_UNPRICED_NAMED + MORE + 1} models" in " ".join(blocks.warnings)


@pytest.mark.anyio
@pytest.mark.usefixtures("home")
async def test_record_usage_refuses_a_provider_with_control_characters(client: Client) -> None:
    call = {"provider": "\x1b[2Jopenai", "model": "m", "input_tokens": 1, "output_tokens": 1, "agent": "a"}
    result = await client.call_tool("record_usage", call)
    assert result.is_error is True
    text = result.content[0].text  # type: ignore[union-attr]
    assert "provider '\\x1b[2Jopenai' holds control characters" in text and "\x1b" not in text
    spend = await client.call_tool("get_spend", {"group_by": ["provider"]})
    assert spend.structured_content is not None and spend.structured_content["rows"] == []


@pytest.mark.anyio
@pytest.mark.usefixtures("home")
@pytest.mark.parametrize("model", ["claude-sonnet-4-5\n; DROP TABLE x", "gpt-4o\x1b[2J", "gpt-4o\t"])
async def test_record_usage_refuses_a_model_with_control_characters(client: Client, model: str) -> None:
    """genai-prices matched such a name by its first part and priced it as the real model, stored as
    a model no filter could name."""
    call = {"provider": "anthropic", "model": model, "input_tokens": 1000, "output_tokens": 1, "agent": "a"}
    result = await client.call_tool("record_usage", call)
    assert result.is_error is True
    text = result.content[0].text  # type: ignore[union-attr]
    assert f"model {model!r} holds control characters" in text and "such as gpt-4o" in text
    assert "\n" not in text and "\x1b" not in text and "\t" not in text
    spend = await client.call_tool("get_spend", {"group_by": ["model"]})
    assert spend.structured_content is not None and spend.structured_content["rows"] == []


@pytest.mark.anyio
@pytest.mark.usefixtures("home")
async def test_record_usage_refuses_a_nul_character_saying_which_argument(client: Client) -> None:
    """PostgreSQL cannot store a NUL in text: the team server told a member its ledger "cannot be
    used", naming the ledger's address; SQLite stored it. Now both refuse it, naming the argument."""
    call = {
        "provider": "openai",
        "model": "gpt-4o",
        "input_tokens": 1,
        "output_tokens": 1,
        "agent": "bot\x00x",
    }
    result = await client.call_tool("record_usage", call)
    assert result.is_error is True
    text = result.content[0].text  # type: ignore[union-attr]
    assert "agent holds a NUL character (\\u0000); send it without" in text and "ledger" not in text
    spend = await client.call_tool("get_spend", {})
    assert spend.structured_content is not None and spend.structured_content["rows"] == []


@pytest.mark.anyio
@pytest.mark.usefixtures("home")
async def test_record_usage_refuses_a_call_larger_than_any_source_may_count(client: Client) -> None:
    """1e10 tokens a kind passed the argument bounds; 67,080 such calls overflowed every sum."""
    call = {
        "provider": "openai",
        "model": "gpt-4o",
        "input_tokens": 1,
        "output_tokens": 100_000_001,
        "agent": "a",
    }
    result = await client.call_tool("record_usage", call)
    assert result.is_error is True
    assert "output count 100,000,001 is more than one call can use (100,000,000)" in result.content[0].text  # type: ignore[union-attr]
    spend = await client.call_tool("get_spend", {})
    assert spend.structured_content is not None and spend.structured_content["rows"] == []


_ABSURD_NANOS = 4_000_000_000_000_000_000
"""$4 billion in one call: three of them pass int64 (9.2e18 nano-USD), where SQLite's SUM() raises
and PostgreSQL refuses to store a BIGINT."""


def store_absurd_calls(settings: Settings, at: list[datetime], first: int = 0) -> None:
    """Absurd calls stored straight into the ledger (no source lets one through): the state a flood
    of max-size calls reaches after hundreds of thousands of them, in a few rows."""
    with contextlib.closing(connect(settings.db)) as conn:
        for i, when in enumerate(at, start=first):
            insert_reported(
                conn,
                reported_call(
                    f"absurd{i}",
                    int(when.timestamp() * 1000),
                    source=reported.SOURCE,
                    model="gpt-4o",
                    session_id="",
                    project="",
                    agent="flood",
                    cost_nanos=_ABSURD_NANOS,
                    priced_model="gpt-4o",
                ),
            )


@pytest.mark.anyio
async def test_a_quarter_hour_past_64_bits_leaves_the_rest_of_the_ledger_answerable(
    client: Client, settings: Settings
) -> None:
    """Its rollup sums cannot be stored: before, every question failed with 'integer overflow' (or
    'bigint out of range') from then on; now those calls are left out, with a warning saying why."""
    store_absurd_calls(settings, [datetime.now(UTC) - timedelta(days=1)] * 3)
    call = {
        "provider": "openai",
        "model": "gpt-4o",
        "input_tokens": 1_000_000,
        "output_tokens": 0,
        "agent": "a",
    }
    recorded = await client.call_tool("record_usage", call)
    assert recorded.is_error is False, recorded.content
    spend = await client.call_tool("get_spend", {"period": "last_7_days"})
    assert spend.is_error is False, spend.content
    result = spend.structured_content
    assert result is not None
    assert result["total_usd"] == 2.5  # the real call, counted; the absurd ones left out
    assert rollup.TOO_LARGE_WARNING in result["warnings"]


def test_a_sum_past_64_bits_is_explained_with_the_fix(conn: Conn, settings: Settings) -> None:
    """Any other sum that overflows (SQLite's SUM(), PostgreSQL's BIGINT) reaches the caller as what
    happened and what to do, not as a bare 'integer overflow'."""
    big = _ABSURD_NANOS
    sql = (
        "SELECT SUM(x) FROM (SELECT ? AS x UNION ALL SELECT ? UNION ALL SELECT ?) v"
        if dialect(conn) == "sqlite"
        else "SELECT CAST(? AS BIGINT) + CAST(? AS BIGINT) + CAST(? AS BIGINT)"
    )
    with pytest.raises(sqlite3.OperationalError) as raised:
        conn.execute(sql, (big, big, big)).fetchone()
    text = explain(settings.db, raised.value)
    assert "more cost or tokens than a 64-bit sum holds" in text
    assert "cost-mcp ingest --forget PATH" in text and "narrower period" in text


@pytest.mark.anyio
async def test_rollup_additions_past_64_bits_are_left_out_not_failed_or_rounded(
    client: Client, settings: Settings
) -> None:
    """What a log or push reader adds straight to the rollup: the second addition passes 64 bits,
    which failed the write on PostgreSQL ('bigint out of range') and turned SQLite's sum into an
    inexact float. Now its quarter-hour is rebuilt from the calls, which cannot be stored either, so
    it is left out with the warning, and the rest still counts exactly."""
    day = datetime.now(UTC) - timedelta(days=1)
    store_absurd_calls(settings, [day] * 2)  # $8 billion: fits, and is in the rollup after this call
    real = {"provider": "openai", "model": "gpt-4o", "input_tokens": 10**6, "output_tokens": 0, "agent": "a"}
    assert (await client.call_tool("record_usage", real)).is_error is False
    # A third, stored and added to the rollup as a log or push reader adds a new call (its
    # quarter-hour not marked dirty: the addition is the rollup's only news of it).
    store_absurd_calls(settings, [day], first=2)
    qh = int(day.timestamp() * 1000) // rollup.QUARTER_HOUR_MS
    sums = dict.fromkeys(rollup.ROLLUP_SUMS, 0) | {"requests": 1, "input_tokens": 1}
    sums |= {"calculate_nanos": _ABSURD_NANOS, "auto_nanos": _ABSURD_NANOS}
    key = (qh, reported.SOURCE, "openai", "gpt-4o", "", "flood", "", "")
    with contextlib.closing(connect(settings.db)) as conn, write_transaction(conn):
        conn.execute("DELETE FROM rollup_dirty")
        rollup.add(conn, {key: list(sums.values())})
    # The dashboard's chart by hour says so too: it read the sums as they stood, saying nothing.
    with contextlib.closing(connect(settings.db)) as conn:
        hours = cost_by_hour(conn, settings, resolve(settings, "last_7_days", None, None, None))
    assert rollup.TOO_LARGE_WARNING in hours.warnings, hours.warnings
    assert hours.total_usd == Decimal("2.5")
    spend = await client.call_tool("get_spend", {"period": "last_7_days"})
    assert spend.is_error is False, spend.content
    result = spend.structured_content
    assert result is not None
    assert result["total_usd"] == 2.5
    assert rollup.TOO_LARGE_WARNING in result["warnings"]


@pytest.mark.anyio
async def test_budgets_answer_beside_a_quarter_hour_past_64_bits_and_say_what_is_left_out(
    client: Client, settings: Settings
) -> None:
    store_absurd_calls(settings, [datetime.now(UTC) - timedelta(minutes=30)] * 3)
    budget = {"name": "team", "amount_usd": 100, "period": "month"}
    assert (await client.call_tool("set_budget", budget)).is_error is False
    status = await client.call_tool("budget_status", {})
    assert status.is_error is False, status.content
    assert status.structured_content is not None
    assert rollup.TOO_LARGE_WARNING in status.structured_content["warnings"]
    check = await client.call_tool("check_budget", {"estimated_cost_usd": 1})
    assert check.is_error is False, check.content
    assert check.structured_content is not None
    assert rollup.TOO_LARGE_WARNING in check.structured_content["warnings"]


@pytest.mark.anyio
async def test_budget_checks_over_an_unchanged_overflowed_ledger_do_not_rebuild_it_again(
    client: Client, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quarter-hour past 64 bits stays dirty (it cannot be stored): each budget_status and
    check_budget rebuilt it again, the slow way, only to learn it still overflowed. The verdict is
    kept until the ledger changes."""
    store_absurd_calls(settings, [datetime.now(UTC) - timedelta(minutes=30)] * 3)
    budget = {"name": "team", "amount_usd": 100, "period": "month"}
    assert (await client.call_tool("set_budget", budget)).is_error is False
    first = await client.call_tool("budget_status", {})
    assert first.structured_content is not None
    assert rollup.TOO_LARGE_WARNING in first.structured_content["warnings"]

    rebuilt: list[list[int]] = []
    real_rebuild = rollup.rebuild

    def counting(conn: Conn, qhs: Iterable[int], *, empty: bool = False) -> None:
        rebuilt.append(list(qhs))
        real_rebuild(conn, rebuilt[-1], empty=empty)

    monkeypatch.setattr(rollup, "rebuild", counting)
    for _ in range(2):
        status = await client.call_tool("budget_status", {})
        assert status.structured_content is not None
        assert rollup.TOO_LARGE_WARNING in status.structured_content["warnings"]
        check = await client.call_tool("check_budget", {"estimated_cost_usd": 1})
        assert check.structured_content is not None
        assert rollup.TOO_LARGE_WARNING in check.structured_content["warnings"]
    assert rebuilt == []
    # A change to the ledger is looked at again: the new call counts, the flood is still left out.
    real = {"provider": "openai", "model": "gpt-4o", "input_tokens": 10**6, "output_tokens": 0, "agent": "a"}
    assert (await client.call_tool("record_usage", real)).is_error is False
    status = await client.call_tool("budget_status", {})
    assert status.structured_content is not None
    assert rollup.TOO_LARGE_WARNING in status.structured_content["warnings"]
    assert rebuilt != []
    [team] = status.structured_content["budgets"]
    assert team["spent_usd"] == 2.5
    # Once the absurd calls are gone (their quarter-hours marked, as every removal marks them),
    # the verdict goes with them.
    with contextlib.closing(connect(settings.db)) as conn, write_transaction(conn):
        gone = conn.execute("DELETE FROM usage_events WHERE agent = 'flood' RETURNING ts_ms").fetchall()
        rollup.mark_dirty(conn, (int(r[0]) for r in gone))
    status = await client.call_tool("budget_status", {})
    assert status.structured_content is not None
    assert rollup.TOO_LARGE_WARNING not in status.structured_content["warnings"]
    assert status.structured_content["budgets"][0]["spent_usd"] == 2.5


@pytest.mark.anyio
async def test_megabyte_filter_values_are_answered_at_once_without_echoing_them(
    home: Path, client: Client
) -> None:
    """A model's get_spend with filter values of a megabyte each took minutes (each was compared
    with every known name for a hint) and answered megabytes (each echoed whole in a warning):
    50 of them held the server for 253 s. Nothing stored is that long: said at once, briefly."""
    write(session_file(home / "claude", "s1"), assistant("m1", "r1", "2026-11-04T10:00:00Z", input=1))
    started = time.perf_counter()
    result = await client.call_tool("get_spend", {"period": "this_year", "agents": ["x" * 1_000_000] * 5})
    assert time.perf_counter() - started < 10
    assert not result.is_error
    assert len(result.content[0].text) < 20_000  # type: ignore[union-attr]
    said = [w for w in result.structured_content["warnings"] if "agent filter" in w]
    assert (
        said
        == [
            f"agent filter {'x' * 40!r}… (1,000,000 characters) matches nothing in the ledger: no agent "
            "is named with more than 1,024"
        ]
        * 5
    )


@pytest.mark.anyio
@pytest.mark.parametrize("argument", ["paths", "forget"])
async def test_a_log_path_with_a_nul_character_is_refused_saying_why(
    home: Path, client: Client, argument: str
) -> None:
    """A path a model sent with a NUL in it: no file can be named so, and the path checks raised
    Python's ValueError, which the model was told as "Error executing tool" with no reason (and the
    server logged as a crash). Now refused naming the argument, before any look at the disk."""
    folder = str(home / "claude" / "projects")
    result = await client.call_tool("ingest_claude_code_logs", {argument: [f"{folder}/p\x00x"]})
    assert result.is_error is True
    text = result.content[0].text  # type: ignore[union-attr]
    assert f"{argument}: " in text and "holds a NUL character (\\u0000); send it without" in text, text
