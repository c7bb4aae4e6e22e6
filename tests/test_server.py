"""The MCP surface, through the SDK's in-memory client and through a real stdio subprocess."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import anyio
import pytest
import time_machine
from mcp import Client, StdioServerParameters

from cost_mcp.models import Estimate
from tests.conftest import AGENT_FOLDERS

pytestmark = pytest.mark.anyio


async def test_tools_are_listed_with_annotations_and_schemas(client: Client) -> None:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    tool = tools["estimate_cost"]
    assert tool.annotations is not None and tool.annotations.read_only_hint is True
    assert tool.annotations.open_world_hint is False
    props = tool.input_schema["properties"]
    assert "ctx" not in props
    assert set(tool.input_schema["required"]) == {"model", "input_tokens", "output_tokens"}
    assert "Uncached input tokens" in props["input_tokens"]["description"]
    # Results are structured (validated against their model) behind a minimal published schema.
    assert tool.output_schema == {"type": "object"}
    assert tool.description and "Example:" in tool.description


async def test_estimate_cost_sonnet_million_in_and_out_is_18_dollars(client: Client) -> None:
    result = await client.call_tool(
        "estimate_cost", {"model": "claude-sonnet-4-5", "input_tokens": 1_000_000, "output_tokens": 1_000_000}
    )
    assert result.is_error is False
    assert result.structured_content is not None
    assert result.structured_content["cost_usd"] == 18
    estimate = Estimate.model_validate(result.structured_content)
    assert estimate.matched_model == "claude-sonnet-4-5"
    assert estimate.cost_by_kind.input_usd == 3 and estimate.cost_by_kind.output_usd == 15
    assert estimate.cheaper, "cheaper Anthropic models should be listed"
    costs = [a.cost_usd for a in estimate.cheaper]
    assert costs == sorted(costs) and all(c < 18 for c in costs)
    assert all(a.saving_usd == 18 - a.cost_usd for a in estimate.cheaper)


async def test_estimate_cost_single_long_context_call(client: Client) -> None:
    result = await client.call_tool(
        "estimate_cost",
        {"model": "claude-sonnet-4-5", "input_tokens": 1_000_000, "output_tokens": 1_000_000, "requests": 1},
    )
    assert result.structured_content is not None
    assert result.structured_content["cost_usd"] == 28.5
    assert result.structured_content["long_context"] is True


async def test_estimate_cost_with_cache_kinds(client: Client) -> None:
    result = await client.call_tool(
        "estimate_cost",
        {
            "model": "claude-sonnet-4-5",
            "input_tokens": 10_000,
            "output_tokens": 2_000,
            "cache_read_tokens": 50_000,
            "cache_write_tokens": 5_000,
            "cache_write_1h_tokens": 15_000,
        },
    )
    assert result.structured_content is not None
    by_kind = result.structured_content["cost_by_kind"]
    assert by_kind["cache_write_1h_usd"] == 0.09
    assert by_kind["cache_write_5m_usd"] == 0.01875
    assert result.structured_content["cost_usd"] == 0.18375


async def test_unknown_model_is_a_tool_error_naming_close_matches(client: Client) -> None:
    result = await client.call_tool(
        "estimate_cost", {"model": "claude-sonet-4-5", "input_tokens": 1, "output_tokens": 1}
    )
    assert result.is_error is True
    text = result.content[0].text  # type: ignore[union-attr]
    assert "claude-sonet-4-5" in text and "claude-sonnet-4-5" in text


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("estimate_cost", {"model": "llama-3.3-70b-versatile", "input_tokens": 1000, "output_tokens": 100}),
        (
            "estimate_cost",
            {"model": "claude-sonnet-4-5", "provider": "openai", "input_tokens": 1000, "output_tokens": 100},
        ),
        ("check_budget", {"model": "llama-3.3-70b-versatile", "input_tokens": 1000, "output_tokens": 100}),
    ],
)
async def test_a_known_model_under_no_or_the_wrong_provider_names_the_provider_to_pass(
    client: Client, tool: str, args: dict[str, object]
) -> None:
    """A model as an assistant follows an error: Groq's Llama without a provider was answered 'Did you
    mean: llama-3.3-70b-versatile?', the very id it sent, and Claude under provider 'openai' 'Add its
    price to the price override file'; the error now names the provider that prices it, and passing
    that provider, as the error says, prices the call."""
    refused = await client.call_tool(tool, args)
    assert refused.is_error is True
    text = refused.content[0].text  # type: ignore[union-attr]
    assert "Did you mean" not in text and "override" not in text
    named = re.search(r"pass provider='([a-z-]+)'", text)
    assert named is not None, text
    followed = await client.call_tool(tool, {**args, "provider": named.group(1)})
    assert followed.is_error is False, followed.content
    assert followed.structured_content is not None
    assert followed.structured_content["estimated_cost_usd" if tool == "check_budget" else "cost_usd"] > 0


async def test_negative_tokens_are_rejected_with_the_rule(client: Client) -> None:
    result = await client.call_tool(
        "estimate_cost", {"model": "gpt-5", "input_tokens": -5, "output_tokens": 1}
    )
    assert result.is_error is True
    assert "an integer from 0 to 10000000000" in result.content[0].text  # type: ignore[union-attr]


def raw_initialize() -> dict[str, object]:
    """The MCP ``initialize`` request (id 1) a raw JSON-RPC client writes first to a stdio server."""
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"},
        },
    }


def stdio_server(env: Mapping[str, str]) -> subprocess.Popen[str]:
    """`cost-mcp serve` started with ``env``, its stdin, stdout and stderr pipes of text for a raw
    JSON-RPC client (the caller closes them)."""
    return subprocess.Popen(
        [sys.executable, "-m", "cost_mcp", "serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(env),
    )


def server_env(home: Path) -> dict[str, str]:
    """The environment a stdio server subprocess gets: the test's ledger and folders, nothing else."""
    keep = (
        "COST_MCP_DB",
        "COST_MCP_ENV_FILE",
        "COST_MCP_PRICES_FILE",
        "COST_MCP_TIMEZONE",
        "CLAUDE_CONFIG_DIR",
        # Every agent's folders (tests/conftest.py), so the server reads the test's, not this machine's.
        *AGENT_FOLDERS,
    )
    # PYTHONPATH too, where set: the server must run the code under test, not an installed copy;
    # and the clock fixture's offset (tests/conftest.py), or the server answered about the real day.
    return {k: os.environ[k] for k in (*keep, "PYTHONPATH", "COST_MCP_FAKECLOCK_OFFSET") if k in os.environ}


async def test_estimate_cost_over_a_real_stdio_subprocess(home: Path) -> None:
    params = StdioServerParameters(command=sys.executable, args=["-m", "cost_mcp"], env=server_env(home))
    async with Client(params) as c:
        names = {t.name for t in (await c.list_tools()).tools}
        assert "estimate_cost" in names
        result = await c.call_tool(
            "estimate_cost",
            {"model": "claude-sonnet-4-5", "input_tokens": 1_000_000, "output_tokens": 1_000_000},
        )
    assert result.structured_content is not None
    assert result.structured_content["cost_usd"] == 18


async def test_a_bad_setting_does_not_stop_the_server_and_rides_along_in_results(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COST_MCP_TIMEZONE", "Paris")
    params = StdioServerParameters(command=sys.executable, args=["-m", "cost_mcp"], env=server_env(home))
    async with Client(params) as c:
        result = await c.call_tool("get_spend", {"period": "today"})
    assert result.structured_content is not None
    assert any("COST_MCP_TIMEZONE='Paris'" in w for w in result.structured_content["warnings"])


def test_server_writes_nothing_but_mcp_messages_to_stdout(home: Path) -> None:
    """Drive a raw JSON-RPC session and check every stdout line is a JSON-RPC message."""
    import json

    requests = [
        raw_initialize(),
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {
                "name": "estimate_cost",
                "arguments": {"model": "nope-9", "input_tokens": 1, "output_tokens": 1},
            },
        },
    ]
    proc = stdio_server({**os.environ, **server_env(home)})
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("".join(json.dumps(r) + "\n" for r in requests))
    proc.stdin.flush()
    lines = [proc.stdout.readline() for _ in range(3)]
    proc.stdin.close()
    assert proc.stderr is not None
    rest, stderr = proc.stdout.read(), proc.stderr.read()
    proc.wait(timeout=60)
    proc.stdout.close()
    proc.stderr.close()
    messages = [json.loads(line) for line in lines]
    assert all(m["jsonrpc"] == "2.0" for m in messages)
    assert {m["id"] for m in messages} == {1, 2, 3}
    assert messages[2]["result"]["isError"] is True
    assert rest.strip() == "", "nothing but the three responses may reach stdout"
    assert "cost-mcp" in stderr  # logs went to stderr


async def test_ingest_tool_reports_counts_and_progress(client: Client, home: Path) -> None:
    from cost_mcp.server import _live
    from tests.sources.claude_logs import assistant, session_file, write

    # The server's background reader scans the (empty) tree at start-up: let it finish first, or it
    # could read the file below before the tool does (then the tool rightly adds nothing).
    assert await anyio.to_thread.run_sync(_live[-1].reader.wait, 30.0)
    write(
        session_file(home / "claude", "s1"),
        assistant("m1", "r1", "2026-11-02T09:00:00.000Z", output=10),
        assistant("m1", "r1", "2026-11-02T09:00:01.000Z", output=20),
    )
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    result = await client.call_tool("ingest_claude_code_logs", {}, progress_callback=on_progress)
    assert result.is_error is False
    assert result.structured_content is not None
    assert result.structured_content["events_added"] == 1
    assert result.structured_content["duplicates_collapsed"] == 1
    assert seen
    assert seen[-1][0] == seen[-1][1]  # the last report says done


async def test_ingest_tool_names_a_missing_path(client: Client, home: Path) -> None:
    result = await client.call_tool("ingest_claude_code_logs", {"paths": [str(home / "claude" / "nope")]})
    assert result.is_error is True
    assert "does not exist" in result.content[0].text  # type: ignore[union-attr]


async def test_session_usage_reads_new_lines_first(
    client: Client, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.sources.claude_logs import assistant, session_file, write

    project = home / "work" / "app"
    project.mkdir(parents=True)
    monkeypatch.chdir(project)
    slug = str(project).replace("/", "-")
    write(
        session_file(home / "claude", "s-here", slug),
        assistant("m1", "r1", "2026-11-02T09:00:00.000Z", session="s-here", input=1_000, output=1_000),
    )
    write(
        session_file(home / "claude", "s-later", "-other"),
        assistant("m2", "r2", "2026-11-03T09:00:00.000Z", session="s-later"),
    )
    result = await client.call_tool("session_usage", {})
    assert result.is_error is False
    assert result.structured_content is not None
    assert result.structured_content["session_id"] == "s-here"
    assert result.structured_content["cost_usd"] == 0.018


async def test_a_project_asked_by_folder_name_counts_its_calls_logged_without_a_folder(
    client: Client, home: Path
) -> None:
    """get_spend takes a project 'also by folder name': asked for 'app', it counted the calls whose
    log lines named /home/dev/app and left out those of the same folder logged with no cwd (stored
    under Claude Code's slug, -home-dev-app), which asking by the path counted: $0.018 short, with
    nothing said. Both now count the same calls."""
    from tests.sources.claude_logs import assistant, session_file, write

    with_folder = assistant("m1", "r1", "2026-11-02T09:00:00.000Z", session="s1", input=1_000, output=1_000)
    without = assistant("m2", "r2", "2026-11-02T10:00:00.000Z", session="s1", input=1_000, output=1_000)
    write(
        session_file(home / "claude", "s1", "-home-dev-app"), {**with_folder, "cwd": "/home/dev/app"}, without
    )
    totals: dict[str, float] = {}
    for name in ("app", "/home/dev/app"):
        asked = {"start": "2026-11-01", "end": "2026-11-30", "projects": [name]}
        result = await client.call_tool("get_spend", asked)
        assert result.structured_content is not None
        totals[name] = result.structured_content["total_usd"]
    assert totals == {"app": 0.036, "/home/dev/app": 0.036}


async def test_session_usage_without_logs_is_an_actionable_error(client: Client) -> None:
    result = await client.call_tool("session_usage", {})
    assert result.is_error is True
    assert "cost-mcp doctor" in result.content[0].text  # type: ignore[union-attr]


async def test_session_usage_of_a_shortened_id_names_the_whole_ids_to_pass(
    client: Client, home: Path
) -> None:
    """'What did session 86100e80 cost?': the first part of a uuid, as people quote one, was answered
    only 'give no session id for the latest one'; the error now names the sessions whose id starts
    so, and passing the one named, as it says, answers."""
    from tests.sources.claude_logs import assistant, session_file, write

    whole = "86100e80-3858-4fdc-b0a9-14d41dcecab5"
    for n, sid in enumerate((whole, "86200e80-0000-4fdc-b0a9-14d41dcecab5")):
        write(
            session_file(home / "claude", sid, "-proj"),
            assistant(f"m{n}", f"r{n}", "2026-11-02T09:00:00.000Z", session=sid, input=1_000, output=1_000),
        )
    refused = await client.call_tool("session_usage", {"session_id": "86100e80"})
    assert refused.is_error is True
    said = refused.content[0].text  # type: ignore[union-attr]
    named = re.findall(r"'([0-9a-f-]{36})'", said)
    assert named == [whole], said
    followed = await client.call_tool("session_usage", {"session_id": named[0]})
    assert followed.structured_content is not None
    assert (
        followed.structured_content["session_id"] == whole
        and followed.structured_content["cost_usd"] == 0.018
    )


async def test_usage_blocks_rejects_a_bad_limit(client: Client) -> None:
    result = await client.call_tool("usage_blocks", {"token_limit": "lots"})
    assert result.is_error is True
    assert "max" in result.content[0].text  # type: ignore[union-attr]


async def _with_claude_usage(home: Path) -> None:
    from tests.sources.claude_logs import assistant, session_file, write

    write(
        session_file(home / "claude", "s1"),
        assistant("m1", "r1", "2026-11-02T09:00:00.000Z", input=1_000, output=1_000),
        assistant(
            "m2",
            "r2",
            "2026-11-03T09:00:00.000Z",
            input=1_000,
            output=1_000,
            model="claude-haiku-4-5-20251001",
        ),
    )


async def test_get_spend_through_the_client(client: Client, home: Path) -> None:
    await _with_claude_usage(home)
    result = await client.call_tool(
        "get_spend", {"start": "2026-11-01", "end": "2026-11-05", "group_by": ["model", "day"]}
    )
    assert result.is_error is False
    data = result.structured_content
    assert data is not None
    assert data["total_usd"] == 0.024
    assert [(r["group"]["model"], r["group"]["day"]) for r in data["rows"]] == [
        ("claude-sonnet-4-5-20250929", "2026-11-02"),
        ("claude-haiku-4-5-20251001", "2026-11-03"),
    ]
    assert data["sources"][0]["source"] == "claude_code"


@pytest.mark.parametrize("spelling", ["last week", "Last-Week", " LAST_WEEK "])
async def test_get_spend_takes_a_period_spelt_as_said(client: Client, spelling: str) -> None:
    canonical = await client.call_tool("get_spend", {"period": "last_week"})
    said = await client.call_tool("get_spend", {"period": spelling})
    assert said.is_error is False, said.content
    assert said.structured_content is not None and canonical.structured_content is not None
    assert said.structured_content["period"] == canonical.structured_content["period"]
    assert said.structured_content["period"]["name"] == "last_week"


@pytest.mark.parametrize(
    ("arguments", "fix"),
    [
        ({"period": "thisweek"}, "this_week"),
        ({"start": "2026-13-01"}, "YYYY-MM-DD"),
        ({"period": "today", "start": "2026-11-01"}, "either"),
        ({"group_by": ["colour"]}, "provider"),
        ({"timezone": "Mars/Base"}, "IANA"),
    ],
)
async def test_get_spend_bad_arguments_name_the_fix(
    client: Client, arguments: dict[str, object], fix: str
) -> None:
    result = await client.call_tool("get_spend", arguments)
    assert result.is_error is True
    assert fix in result.content[0].text  # type: ignore[union-attr]


async def test_model_breakdown_through_the_client(client: Client, home: Path) -> None:
    await _with_claude_usage(home)
    result = await client.call_tool(
        "model_breakdown", {"start": "2026-11-01", "end": "2026-11-05", "top_n": 1}
    )
    data = result.structured_content
    assert data is not None
    assert [m["model"] for m in data["models"]] == ["claude-sonnet-4-5-20250929", "(other)"]
    assert data["models"][0]["share_percent"] == 75.0


@pytest.mark.usefixtures("clock")
async def test_a_model_with_no_known_price_is_unpriced_not_zero(client: Client, home: Path) -> None:
    """model_breakdown counts a model's unpriced calls in its row, and the summary resource shows
    that model as "unpriced" rather than $0.00."""
    from datetime import UTC, datetime, timedelta

    from tests.sources.claude_logs import assistant, session_file, write

    now = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    write(
        session_file(home / "claude", "s1"),
        assistant("m1", "r1", now, input=1_000, output=1_000),
        assistant("m2", "r2", now, model="mystery-9", input=10, output=10),
        assistant("m3", "r3", now, model="mystery-9", input=10, output=10),
    )
    result = await client.call_tool("model_breakdown", {"period": "this_month"})
    data = result.structured_content
    assert data is not None
    rows = {m["model"]: m for m in data["models"]}
    assert (rows["mystery-9"]["cost_usd"], rows["mystery-9"]["unpriced_requests"]) == (None, 2)
    assert rows["mystery-9"]["cost_per_request_usd"] is None  # not a call at $0
    assert rows["claude-sonnet-4-5-20250929"]["unpriced_requests"] == 0
    resource = await client.read_resource("cost://summary")
    text = resource.contents[0].text  # type: ignore[union-attr]
    assert "  mystery-9: unpriced" in text.splitlines()


async def test_a_running_server_takes_an_edited_price_file(clock: None, client: Client, home: Path) -> None:
    """The warning says to add the model to the price override file: a running server then prices
    the calls it stored without a price, with no restart and no command; a broken edit keeps the
    prices before it and says so until it is mended."""
    from datetime import UTC, datetime, timedelta
    from typing import Any

    from tests.sources.claude_logs import assistant, session_file, write

    now = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    write(
        session_file(home / "claude", "s1"),
        assistant("m1", "r1", now, model="house-model-7", input=1_000_000, output=0),
    )

    async def spend() -> dict[str, Any]:
        result = await client.call_tool("get_spend", {"period": "today", "timezone": "UTC"})
        data: dict[str, Any] | None = result.structured_content
        assert data is not None
        data["unpriced_requests"] = sum(r.get("unpriced_requests", 0) for r in data["rows"])
        return data

    first = await spend()
    assert (first["total_usd"], first["unpriced_requests"]) == (0, 1)
    prices = home / "config" / "prices.toml"
    prices.parent.mkdir(parents=True, exist_ok=True)
    prices.write_text('[[price]]\nmodel = "house-model-7"\ninput_mtok = "2"\noutput_mtok = "8"\n')
    priced = await spend()
    assert (priced["total_usd"], priced["unpriced_requests"]) == (2, 0)
    assert not any("house-model-7" in w for w in priced["warnings"])
    prices.write_text('[[price]]\nmodel = "house-model-7"\ninput_mtok = "3" oops\n')
    broken = await spend()
    assert broken["total_usd"] == 2  # the prices before the broken edit
    assert any("is not valid TOML" in w and "still in use" in w for w in broken["warnings"])
    # A call logged now is priced with the prices still in use, and the warning goes once mended.
    later = (datetime.now(UTC) - timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    write(
        session_file(home / "claude", "s1"),
        assistant("m1", "r1", now, model="house-model-7", input=1_000_000, output=0),
        assistant("m2", "r2", later, model="house-model-7", input=500_000, output=0),
    )
    prices.write_text('[[price]]\nmodel = "house-model-7"\ninput_mtok = "2"\noutput_mtok = "8"\n')
    mended = await spend()
    assert (mended["total_usd"], mended["unpriced_requests"]) == (3, 0)
    assert not any("TOML" in w for w in mended["warnings"])


async def test_summary_resource_and_review_prompt(client: Client, home: Path) -> None:
    await _with_claude_usage(home)
    resource = await client.read_resource("cost://summary")
    text = resource.contents[0].text  # type: ignore[union-attr]
    assert "this_month" in text
    prompt = await client.get_prompt("weekly_cost_review", {"focus": "agents"})
    message = prompt.messages[0].content.text  # type: ignore[union-attr]
    assert 'get_spend(period="last_week"' in message
    assert "agents" in message


async def test_each_prompt_declares_every_tool_its_text_calls(client: Client) -> None:
    # prompts/list offers a team member only the prompts whose declared tools they may call: a tool
    # the text names but the declaration lacks would send a member's model to a refusal again.
    from cost_mcp.server import PROMPT_CALLS

    tools = {t.name for t in (await client.list_tools()).tools}
    prompts = (await client.list_prompts()).prompts
    assert {p.name for p in prompts} == set(PROMPT_CALLS)
    for p in prompts:
        text = (await client.get_prompt(p.name, {})).messages[0].content.text  # type: ignore[union-attr]
        assert {t for t in tools if f"{t}(" in text} == PROMPT_CALLS[p.name], p.name


async def test_get_spend_over_a_real_stdio_subprocess(home: Path) -> None:
    await _with_claude_usage(home)
    params = StdioServerParameters(command=sys.executable, args=["-m", "cost_mcp"], env=server_env(home))
    async with Client(params) as c:
        result = await c.call_tool("get_spend", {"start": "2026-11-01", "end": "2026-11-05"})
    assert result.structured_content is not None
    assert result.structured_content["total_usd"] == 0.024


async def test_a_group_of_unpriced_calls_only_costs_null_not_zero_over_stdio(home: Path) -> None:
    """A row read alone must not say $0 for calls whose price is unknown: get_spend's and
    model_breakdown's row of an unknown model has cost null; the known model keeps its price, and
    the total is that price with a warning naming the unpriced model."""
    from tests.sources.claude_logs import assistant, session_file, write

    write(
        session_file(home / "claude", "s1"),
        assistant("m1", "r1", "2026-11-02T09:00:00.000Z", input=1_000, output=1_000),
        assistant("m2", "r2", "2026-11-02T10:00:00.000Z", model="claude-mystery-9", input=10, output=10),
    )
    period = {"start": "2026-11-01", "end": "2026-11-05"}
    params = StdioServerParameters(command=sys.executable, args=["-m", "cost_mcp"], env=server_env(home))
    async with Client(params) as c:
        spend = await c.call_tool("get_spend", {**period, "group_by": ["member", "model"]})
        models = await c.call_tool("model_breakdown", period)
    data = spend.structured_content
    assert data is not None
    rows = {r["group"]["model"]: r for r in data["rows"]}
    assert (rows["claude-mystery-9"]["cost_usd"], rows["claude-mystery-9"]["unpriced_requests"]) == (None, 1)
    assert rows["claude-sonnet-4-5-20250929"]["cost_usd"] == 0.018
    assert data["total_usd"] == 0.018
    assert any("claude-mystery-9" in w for w in data["warnings"])
    breakdown = models.structured_content
    assert breakdown is not None
    by_model = {m["model"]: m for m in breakdown["models"]}
    assert by_model["claude-mystery-9"]["cost_usd"] is None
    assert by_model["claude-sonnet-4-5-20250929"]["cost_usd"] == 0.018
    assert breakdown["total_usd"] == 0.018
    assert any("claude-mystery-9" in w for w in breakdown["warnings"])
    # The unknown cost ranks after every known one.
    assert [m["model"] for m in breakdown["models"]] == ["claude-sonnet-4-5-20250929", "claude-mystery-9"]


async def test_a_session_block_and_hour_of_unpriced_calls_only_cost_null_over_stdio(home: Path) -> None:
    """A session, its 5-hour block and its hours, every call on a model with no known price: their
    costs, the block's projection and the dollar burn rates are null (unknown), never $0, while the
    token rates hold; an earlier block of priced calls keeps its dollars."""
    from datetime import UTC, datetime, timedelta

    from tests.sources.claude_logs import assistant, session_file, write

    now = datetime.now(UTC)

    def at(ago: timedelta) -> str:
        return (now - ago).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    write(
        session_file(home / "claude", "priced"),
        assistant("p1", "q1", at(timedelta(hours=8)), session="priced", input=1_000, output=1_000),
    )
    write(
        session_file(home / "claude", "dark"),
        *(
            assistant(
                f"m{i}", f"r{i}", at(ago), session="dark", model="claude-mystery-9", input=10, output=10
            )
            for i, ago in enumerate((timedelta(minutes=30), timedelta(minutes=10)))
        ),
    )
    days = {"start": (now - timedelta(days=2)).date().isoformat(), "end": now.date().isoformat()}
    params = StdioServerParameters(command=sys.executable, args=["-m", "cost_mcp"], env=server_env(home))
    async with Client(params) as c:
        session = (await c.call_tool("session_usage", {"session_id": "dark"})).structured_content
        blocks = (await c.call_tool("usage_blocks", {"days": 1})).structured_content
        board = (await c.call_tool("show_dashboard", days)).structured_content
    assert session is not None and blocks is not None and board is not None
    assert (session["cost_usd"], session["unpriced_requests"], session["requests"]) == (None, 2, 2)
    assert session["burn_rate"]["cost_per_hour_usd"] is None
    assert session["burn_rate"]["tokens_per_minute"] > 0
    assert [m["cost_usd"] for m in session["models"]] == [None]
    assert any("claude-mystery-9" in w for w in session["warnings"])
    active = blocks["active"]
    assert (active["cost_usd"], active["unpriced_requests"]) == (None, 2)
    assert active["burn_rate"]["cost_per_hour_usd"] is None
    assert active["projection"]["cost_usd"] is None and active["projection"]["total_tokens"] > 40
    [earlier] = [b for b in blocks["blocks"] if not b["is_gap"] and not b["is_active"]]
    assert (earlier["cost_usd"], earlier["unpriced_requests"]) == (0.018, 0)
    # Hours: the unpriced calls' hours are null; the priced call's hour has its price.
    tz = ZoneInfo(board["hourly"]["period"]["timezone"])
    hours = board["hourly"]["hours"]
    for ago in (timedelta(minutes=30), timedelta(minutes=10)):
        assert hours[(now - ago).astimezone(tz).hour]["cost_usd"] is None
    assert hours[(now - timedelta(hours=8)).astimezone(tz).hour]["cost_usd"] == 0.018
    assert board["hourly"]["total_usd"] == 0.018


async def test_agent_scenario_daily_budget_until_refused(clock: None, client: Client) -> None:
    """An agent sets a $5 daily budget, records calls until check_budget refuses the next one, and
    budget_status reports it exceeded with each alert delivered exactly once."""
    made = await client.call_tool(
        "set_budget",
        {"name": "agent-daily", "amount_usd": 5, "period": "day", "agents": ["bot"], "hard": True},
    )
    assert made.is_error is False
    # gpt-4o: 400,000 input tokens = $1.00 exactly
    call = {
        "model": "gpt-4o",
        "provider": "openai",
        "input_tokens": 400_000,
        "output_tokens": 0,
        "agent": "bot",
    }
    alerts: list[str] = []
    recorded = 0
    for i in range(10):
        check = await client.call_tool("check_budget", call)
        assert check.structured_content is not None
        if not check.structured_content["allowed"]:
            assert check.structured_content["binding_budget"] == "agent-daily"
            assert "refused" in check.structured_content["reason"]
            break
        result = await client.call_tool("record_usage", {**call, "request_id": f"req-{i}"})
        assert result.structured_content is not None
        alerts += result.structured_content["alerts"]
        recorded += 1
    assert recorded == 5  # $5 spent; the sixth $1 call would exceed the hard budget
    status = await client.call_tool("budget_status", {"name": "agent-daily"})
    assert status.structured_content is not None
    [state] = status.structured_content["budgets"]
    assert state["spent_usd"] == 5
    assert state["status"] == "exceeded"
    alerts += status.structured_content["alerts"]
    assert [a.split(" passed ")[1].split(" of ")[0] for a in alerts] == ["50%", "80%", "100%"]
    again = await client.call_tool("budget_status", {})
    assert again.structured_content is not None
    assert again.structured_content["alerts"] == []


async def test_an_agent_named_in_another_case_is_told_which_budget_it_escapes(
    clock: None, client: Client
) -> None:
    """Budget scopes match exactly: an agent that called itself 'Researcher' (or 'researcher ') was
    allowed past the used-up hard budget on 'researcher' and recorded outside it, with nothing said.
    Both answers now name the budget and the spelling to give; following that, the check refuses."""
    await client.call_tool(
        "set_budget",
        {"name": "research", "amount_usd": 1, "period": "day", "agents": ["researcher"], "hard": True},
    )
    # gpt-4o: 400,000 input tokens = $1.00 exactly, the whole budget
    call = {"model": "gpt-4o", "provider": "openai", "input_tokens": 400_000, "output_tokens": 0}
    spent = await client.call_tool("record_usage", {**call, "agent": "researcher", "request_id": "r1"})
    assert spent.structured_content is not None and spent.structured_content["warnings"] == []
    checked = await client.call_tool("check_budget", {**call, "agent": "Researcher"})
    assert checked.structured_content is not None
    said = " ".join(checked.structured_content["warnings"])
    assert "'research'" in said and "give agent='researcher'" in said, said
    followed = await client.call_tool("check_budget", {**call, "agent": "researcher"})
    assert followed.structured_content is not None and followed.structured_content["allowed"] is False
    recorded = await client.call_tool("record_usage", {**call, "agent": "researcher ", "request_id": "r2"})
    assert recorded.structured_content is not None
    assert recorded.structured_content["budgets"] == []
    assert any("give agent='researcher'" in w for w in recorded.structured_content["warnings"])


async def test_check_budget_on_an_unknown_model_says_what_the_agent_can_do(client: Client) -> None:
    """An agent about to call a model no price source knows: the error must not ask for the provider
    it already gave, and must say that its own estimate of the cost still checks the budgets."""
    call = {"model": "my-finetune-zz", "input_tokens": 1000, "output_tokens": 1000, "agent": "bot"}
    refused = await client.call_tool("check_budget", {**call, "provider": "openai"})
    assert refused.is_error is True
    said = refused.content[0].text  # type: ignore[union-attr]
    assert "No price known for model 'my-finetune-zz' for provider 'openai'" in said
    assert "Pass `provider`" not in said
    assert "add its price to the price override file" in said.lower()
    assert "pass estimated_cost_usd" in said
    checked = await client.call_tool("check_budget", {"estimated_cost_usd": 0.5, "agent": "bot"})
    assert checked.is_error is False  # the way out it names works
    unknown = await client.call_tool("check_budget", call)  # no provider: asking for one may help
    assert "Pass `provider` explicitly" in unknown.content[0].text  # type: ignore[union-attr]


async def test_record_usage_under_a_misspelt_provider_names_the_provider_that_prices_the_model(
    client: Client,
) -> None:
    """'opnai' for 'openai': the call is kept (unpriced, as any unknown pair), and the answer says
    which provider prices the model and how to remove the call, instead of only 'no known price'."""
    call = {"model": "gpt-4o", "input_tokens": 400_000, "output_tokens": 0, "agent": "bot"}
    result = await client.call_tool("record_usage", {**call, "provider": "opnai", "request_id": "typo-1"})
    assert result.structured_content is not None
    assert result.structured_content["cost_usd"] is None
    assert (
        "'gpt-4o' has a known price under provider 'openai': if that is who served it, report it with "
        "provider='openai'; this call stays unpriced under 'opnai' until `cost-mcp reported forget typo-1` "
        "removes it"
    ) in result.structured_content["warnings"]
    right = await client.call_tool("record_usage", {**call, "provider": "openai", "request_id": "ok-1"})
    assert right.structured_content is not None
    assert right.structured_content["cost_usd"] == 1  # $2.50 per million input tokens
    assert not any("known price under" in w for w in right.structured_content["warnings"])


async def test_later_answers_name_the_provider_that_prices_a_model_recorded_under_another(
    client: Client,
) -> None:
    """A Claude model reported under 'openai' (and GPT-4o under 'groq') is kept unpriced; get_spend
    then said to add the model's price to the price override file, a price of one's own for a model
    its provider lists. It now names that provider and how to move the calls to it; budget_status
    points there. A model no provider prices still gets the price override file."""
    calls = (("openai", "claude-sonnet-4-5", "anthropic"), ("groq", "gpt-4o", "openai"))
    for i, (provider, model, _) in enumerate(calls):
        call = {"provider": provider, "model": model, "input_tokens": 1000, "output_tokens": 10}
        recorded = await client.call_tool("record_usage", {**call, "agent": "bot", "request_id": f"w{i}"})
        assert recorded.structured_content is not None and recorded.structured_content["cost_usd"] is None
    unknown = {"provider": "openai", "model": "zq-internal-7", "input_tokens": 5, "output_tokens": 5}
    await client.call_tool("record_usage", {**unknown, "agent": "bot", "request_id": "w9"})
    spend = await client.call_tool("get_spend", {"period": "today"})
    assert spend.structured_content is not None
    warnings = spend.structured_content["warnings"]
    for _, model, right in calls:
        [said] = [w for w in warnings if w.startswith(f"{model}: 1 call(s)")]
        assert f"it is priced under provider {right!r}, not the one they were recorded under" in said
        assert f"report them with provider={right!r}" in said
        assert "`cost-mcp reported forget ID`" in said and "`cost-mcp reprice` keeps" in said
    [other] = [w for w in warnings if w.startswith("zq-internal-7: 1 call(s)")]
    assert "add the model to the price override file (" in other and "priced under" not in other
    await client.call_tool("set_budget", {"name": "day", "amount_usd": 5, "period": "day"})
    status = await client.call_tool("budget_status", {"name": "day"})
    assert status.structured_content is not None
    [note] = [w for w in status.structured_content["warnings"] if w.startswith("budget 'day'")]
    assert "needs the right provider instead: get_spend for the budget's period and filters names it" in note


async def test_record_usage_of_a_misspelt_model_names_the_models_it_is_close_to(client: Client) -> None:
    """'claude-sonet-4-5': before, the answer only said to add a price for it to the price file, where
    `cost-mcp estimate` says which model was meant."""
    call = {"model": "claude-sonet-4-5", "input_tokens": 1000, "output_tokens": 100, "agent": "bot"}
    result = await client.call_tool("record_usage", {**call, "provider": "anthropic", "request_id": "typo-m"})
    assert result.structured_content is not None and result.structured_content["cost_usd"] is None
    (said,) = [w for w in result.structured_content["warnings"] if w.startswith("no model")]
    assert said.startswith("no model 'claude-sonet-4-5' is known; did you mean 'claude-sonnet-4-5'")
    assert said.endswith(
        "If so, report the call again with that model under a new request id; this one stays unpriced "
        "until `cost-mcp reported forget typo-m` removes it"
    )
    # A model no price source is close to gets no guess.
    odd = await client.call_tool(
        "record_usage", {**call, "model": "zq-internal-7", "provider": "anthropic", "request_id": "odd-1"}
    )
    assert odd.structured_content is not None
    assert not [w for w in odd.structured_content["warnings"] if w.startswith("no model")]


async def test_record_usage_rejects_absurd_values(client: Client) -> None:
    result = await client.call_tool(
        "record_usage",
        {"provider": "openai", "model": "gpt-4o", "input_tokens": 10**12, "output_tokens": 1, "agent": "bot"},
    )
    assert result.is_error is True
    assert "'input_tokens' got 1000000000000" in result.content[0].text  # type: ignore[union-attr]
    assert "an integer from 0 to 10000000000" in result.content[0].text  # type: ignore[union-attr]


async def test_delete_unknown_budget_names_the_ones_that_exist(client: Client) -> None:
    await client.call_tool("set_budget", {"name": "monthly", "amount_usd": 150, "period": "month"})
    result = await client.call_tool("delete_budget", {"name": "montly"})
    assert result.is_error is True
    assert "budgets: monthly" in result.content[0].text  # type: ignore[union-attr]


async def test_subscription_shows_in_spend_with_its_basis(client: Client) -> None:
    made = await client.call_tool(
        "set_subscription",
        {
            "name": "max-ana",
            "vendor": "Anthropic",
            "amount_usd": 31,
            "period": "monthly",
            "start": "2026-03-01",
            "member": "ana",
        },
    )
    assert made.structured_content is not None
    assert made.structured_content["vendor"] == "anthropic"
    spend = await client.call_tool(
        "get_spend", {"start": "2026-03-01", "end": "2026-03-02", "group_by": ["member", "basis"]}
    )
    assert spend.structured_content is not None
    assert spend.structured_content["rows"][0]["group"] == {"member": "ana", "basis": "subscription"}
    assert spend.structured_content["total_usd"] == 2
    gone = await client.call_tool("delete_subscription", {"name": "max-ana"})
    assert gone.structured_content is not None and gone.structured_content["deleted"] == "max-ana"


async def test_delete_subscription_says_the_fees_it_takes_counted_to_the_local_day(
    home: Path, ledger_made: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tool removed a plan's fees from every past report and said nothing (the CLI says how
    much), and its day was UTC's where every report's is the configured timezone's: at 18:00 on
    March 1 in Pago Pago (05:00 UTC on March 2) a $31 plan from March 1 has counted $1.00, not
    $2.00. It now says the $1.00 that left the reports, counted to the local day."""
    monkeypatch.setenv("COST_MCP_TIMEZONE", "Pacific/Pago_Pago")
    now = datetime(2026, 3, 2, 5, tzinfo=UTC)
    local_day = now.astimezone(ZoneInfo("Pacific/Pago_Pago")).date()  # the oracle: zoneinfo's date
    assert local_day == date(2026, 3, 1)
    plan = {
        "name": "max",
        "vendor": "anthropic",
        "amount_usd": 31,
        "period": "monthly",
        "start": "2026-03-01",
    }
    from cost_mcp.server import mcp

    with time_machine.travel(now, tick=False):
        async with Client(mcp, raise_exceptions=True) as client:
            await client.call_tool("set_subscription", plan)
            gone = await client.call_tool("delete_subscription", {"name": "max"})
    assert gone.structured_content is not None
    assert gone.structured_content["warnings"] == [
        "the $1.00 its fees had counted up to 2026-03-01 left every report, past months too; to stop a "
        "subscription from a day on and keep what it counted, set it again with `end` (its last day)"
    ]


async def test_seat_fees_are_named_so_among_the_models(client: Client) -> None:
    """Before, a seat fee was "(model not reported)" in model_breakdown and cost://summary's top
    models, as a bill that lost its model."""
    await client.call_tool(
        "set_subscription",
        {"name": "max", "vendor": "anthropic", "amount_usd": 31, "period": "monthly", "start": "2026-03-01"},
    )
    got = await client.call_tool("model_breakdown", {"start": "2026-03-01", "end": "2026-03-02"})
    assert got.structured_content is not None
    assert [(m["model"], m["cost_usd"]) for m in got.structured_content["models"]] == [("(seat fees)", 2)]


async def test_a_budget_counts_seat_fees_only_with_its_basis(client: Client) -> None:
    await client.call_tool(
        "set_subscription",
        {"name": "seat", "vendor": "anthropic", "amount_usd": 30, "period": "monthly", "start": "2026-01-01"},
    )
    usage = await client.call_tool("set_budget", {"name": "usage", "amount_usd": 1000, "period": "month"})
    assert usage.structured_content is not None
    assert usage.structured_content["scope"]["basis"] == []
    seats = await client.call_tool(
        "set_budget",
        {
            "name": "seats",
            "amount_usd": 1000,
            "period": "month",
            "basis": ["billed", "estimated", "subscription"],
        },
    )
    assert seats.structured_content is not None
    status = await client.call_tool("budget_status", {})
    assert status.structured_content is not None
    spent = {b["budget"]["name"]: b["spent_usd"] for b in status.structured_content["budgets"]}
    assert spent["usage"] == 0
    assert spent["seats"] > 0  # today's share of the seat so far, never the days to come
    bad = await client.call_tool(
        "set_budget", {"name": "x", "amount_usd": 1, "period": "day", "basis": ["seats"]}
    )
    assert bad.is_error is True


CHANGED = "changed since this server started"


async def test_a_server_says_when_its_env_file_changed_since_it_started(home: Path) -> None:
    """A running server keeps the settings it started with: an env file mended meanwhile (here a
    misspelt week start) changed nothing, and every answer still said the default was used "until
    it is fixed". Answers now say the file changed and that a restart uses it; an unchanged file
    says nothing of the kind."""
    from cost_mcp.server import mcp

    env_file = home / "config" / "env"
    env_file.parent.mkdir(parents=True, exist_ok=True)
    env_file.write_text("COST_MCP_WEEK_START=sundy\n")
    async with Client(mcp, raise_exceptions=True) as c:
        first = (await c.call_tool("get_spend", {"period": "this_week"})).structured_content
        assert first is not None
        assert any("COST_MCP_WEEK_START='sundy' is not usable" in w for w in first["warnings"])
        assert not any(CHANGED in w for w in first["warnings"])

        env_file.write_text("COST_MCP_WEEK_START=sunday\n")
        after = (await c.call_tool("get_spend", {"period": "this_week"})).structured_content
        assert after is not None
        said = [w for w in after["warnings"] if CHANGED in w]
        assert len(said) == 1 and str(env_file) in said[0] and "restart it" in said[0], after["warnings"]


async def test_an_answer_of_unpriced_calls_only_counts_them_beside_its_total_over_stdio(home: Path) -> None:
    """An agent that only reported calls of a model no price list knows got back `total_usd: 0` and
    `by_basis: {"estimated": 0}`, nothing beside them saying the money was unknown, not nothing
    (a client reading the total had to sum the rows' counts). The total stays a number, of what has
    a price, and `unpriced_requests` counts the calls outside it; compare_periods' sides too."""
    params = StdioServerParameters(command=sys.executable, args=["-m", "cost_mcp"], env=server_env(home))
    call = {"provider": "acme", "model": "acme-dark-1", "input_tokens": 1_000, "output_tokens": 10}
    async with Client(params) as c:
        for i in range(3):
            recorded = await c.call_tool(
                "record_usage",
                {**call, "agent": "bot", "request_id": f"dark-{i}", "timestamp": "2026-11-03T10:00:00Z"},
            )
            assert recorded.is_error is False, recorded.content
        spent = await c.call_tool("get_spend", {"period": "2026-11", "group_by": ["model"]})
        models = await c.call_tool("model_breakdown", {"period": "2026-11"})
        compared = await c.call_tool("compare_periods", {"before": "2026-10", "after": "2026-11"})
    data = spent.structured_content
    assert data is not None
    assert (data["total_usd"], data["unpriced_requests"]) == (0, 3)
    assert [(r["cost_usd"], r["unpriced_requests"]) for r in data["rows"]] == [(None, 3)]
    assert any("acme-dark-1" in w and "no known price" in w for w in data["warnings"])
    breakdown = models.structured_content
    assert breakdown is not None
    assert (
        breakdown["total_usd"],
        breakdown["unpriced_requests"],
        breakdown["previous_unpriced_requests"],
    ) == (
        0,
        3,
        0,
    )
    sides = compared.structured_content
    assert sides is not None
    after = sides["after"]
    assert (after["cost_usd"], after["calls"], after["unpriced_calls"]) == (0, 0, 3)
    assert sides["before"]["unpriced_calls"] == 0


async def test_an_other_row_says_how_many_rows_it_sums(client: Client) -> None:
    """A bounded breakdown by model and project ended in `{"model": "(other)", "project": "(other)"}`
    and model_breakdown's top models in "other", neither saying what they held: a reader could take
    them for one more model. Each now counts the rows (or models) it sums; a row of its own says null."""
    models = ("claude-opus-4-1", "claude-sonnet-4-5", "claude-haiku-4-5")
    for i, model in enumerate(models):
        for j, project in enumerate(("alpha", "beta", "gamma")):
            done = await client.call_tool(
                "record_usage",
                {
                    "provider": "anthropic",
                    "model": model,
                    "input_tokens": 1_000 * (j + 1),
                    "output_tokens": 10,
                    "agent": "bot",
                    "project": project,
                    "session": f"s{i}{j}",
                    "request_id": f"fold-{i}-{j}",
                    "timestamp": "2026-11-03T10:00:00Z",
                },
            )
            assert done.is_error is False, done.content
    period = {"start": "2026-11-01", "end": "2026-11-30"}
    by_two = await client.call_tool("get_spend", {**period, "group_by": ["model", "project"], "limit": 3})
    data = by_two.structured_content
    assert data is not None and data["truncated"] is True and data["total_rows"] == 9
    *own, other = data["rows"]
    assert other["group"] == {"model": "(other)", "project": "(other)"}
    assert (other["folded_rows"], other["requests"]) == (6, 6)
    assert [r["folded_rows"] for r in own] == [None, None, None]
    by_session = await client.call_tool("get_spend", {**period, "group_by": ["session"], "limit": 4})
    sessions = by_session.structured_content
    assert sessions is not None
    assert [r["folded_rows"] for r in sessions["rows"]] == [None, None, None, None, 5]
    top = await client.call_tool("model_breakdown", {**period, "top_n": 1})
    ranked = top.structured_content
    assert ranked is not None
    assert [(m["model"], m["folded_models"]) for m in ranked["models"]] == [
        ("claude-opus-4-1", None),
        ("(other)", 2),
    ]
