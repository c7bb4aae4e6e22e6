"""Every tool refuses arguments it does not take, naming the ones it does."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from mcp import Client

from tests.test_cli import run

pytestmark = pytest.mark.anyio


async def test_misspelt_period_is_an_error_naming_the_valid_arguments(client: Client) -> None:
    result = await client.call_tool("get_spend", {"perod": "last_month"})
    assert result.is_error is True
    text = result.content[0].text  # type: ignore[union-attr]
    assert "'perod'" in text and "did you mean 'period'" in text
    assert "valid arguments:" in text and "group_by" in text


@pytest.mark.parametrize(
    ("tool", "period", "days"),
    [
        ("get_spend", "2026-01-10..2026-03-04", ("2026-01-10", "2026-03-04")),
        ("model_breakdown", "2026-02", ("2026-02-01", "2026-02-28")),
        ("get_spend", "2026-03-05", ("2026-03-05", "2026-03-05")),
        ("spend_forecast", "2026-02", ("2026-02-01", "2026-02-28")),
    ],
)
async def test_a_period_written_as_days_is_taken_by_every_tool(
    client: Client, tool: str, period: str, days: tuple[str, str]
) -> None:
    """`get_spend(period="2026-11")` was refused (an enum of presets) while
    `compare_periods(after="2026-11")` and `cost-mcp report --period 2026-11` took it: one parser
    reads a period for every tool and command now, and the days are those start and end give."""
    result = await client.call_tool(tool, {"period": period})
    assert result.is_error is False, result.content
    given = result.structured_content
    assert given is not None
    start, end = days
    assert (given["period"]["first_day"], given["period"]["last_day"]) == (start, end)
    as_dates = await client.call_tool(tool, {"start": start, "end": end})
    assert as_dates.structured_content is not None
    assert as_dates.structured_content["period"]["first_day"] == start


@pytest.mark.parametrize("period", ["last_year", "2026-13", "2026-02-30", "2026-03-05..", "20260305"])
async def test_a_bad_period_is_refused_alike_by_get_spend_compare_periods_and_the_cli(
    client: Client, period: str
) -> None:
    """One parser, one refusal naming the fix: get_spend's said "allowed: one of today, ..." and
    compare_periods' named the forms it takes; get_spend only adds its other way (start/end)."""
    spent = await client.call_tool("get_spend", {"period": period})
    compared = await client.call_tool("compare_periods", {"after": period})
    assert spent.is_error is True and compared.is_error is True
    spent_text = spent.content[0].text.removeprefix("Error executing tool get_spend: ")  # type: ignore[union-attr]
    compared_text = compared.content[0].text.removeprefix(  # type: ignore[union-attr]
        "Error executing tool compare_periods: "
    )
    assert spent_text.removesuffix("; or start/end as YYYY-MM-DD.").rstrip(".") == compared_text.rstrip(".")
    assert period in compared_text
    cli = run("report", "--period", period)
    assert cli.returncode == 2
    assert " ".join(compared_text.rstrip(".").split()) in " ".join(cli.stderr.split())


async def test_every_tool_rejects_an_unknown_argument_and_says_so_in_its_schema(client: Client) -> None:
    tools = (await client.list_tools()).tools
    assert len(tools) > 10
    for tool in tools:
        assert tool.input_schema.get("additionalProperties") is False, tool.name
        result = await client.call_tool(tool.name, {"no_such_argument": 1})
        assert result.is_error is True, tool.name
        assert "no_such_argument" in result.content[0].text, tool.name  # type: ignore[union-attr]


RECORD = {"provider": "anthropic", "model": "claude-sonnet-4-5", "output_tokens": 3, "agent": "bot"}


@pytest.mark.parametrize(
    ("tool", "arguments", "named"),
    [
        ("record_usage", {**RECORD, "input_tokens": "12"}, "input_tokens"),
        ("record_usage", {**RECORD, "input_tokens": True}, "input_tokens"),
        ("record_usage", {**RECORD, "input_tokens": 12.5}, "input_tokens"),
        ("check_budget", {"model": "claude-sonnet-4-5", "output_tokens": "8000"}, "output_tokens"),
        ("check_budget", {"estimated_cost_usd": True}, "estimated_cost_usd"),
        ("set_budget", {"name": "b", "amount_usd": 5, "period": "month", "hard": "true"}, "hard"),
        ("set_budget", {"name": "b", "amount_usd": 5, "period": "month", "hard": 1}, "hard"),
        ("usage_blocks", {"days": "7"}, "days"),
    ],
)
async def test_an_argument_of_the_wrong_type_is_refused_naming_it(
    client: Client, tool: str, arguments: dict[str, Any], named: str
) -> None:
    """Arguments were coerced as pydantic's lax mode does: true was 1 token, "12" was 12 and "true"
    or 1 made a hard budget, so an agent's wrong type went unnoticed. Now it is an error naming it."""
    result = await client.call_tool(tool, arguments)
    assert result.is_error is True, (tool, arguments, result.structured_content)
    text = result.content[0].text  # type: ignore[union-attr]
    assert text.startswith(f"{tool}: argument '{named}' got "), text
    assert "pydantic" not in text and "\n" not in text


@pytest.mark.parametrize("token_limit", ["lots", 1.5, "1000"])
async def test_an_argument_of_two_kinds_is_refused_once_naming_both(
    client: Client, token_limit: object
) -> None:
    """usage_blocks(token_limit="lots") was answered "argument 'token_limit.int' got "lots" (input
    should be a valid integer); allowed: an integer; argument 'token_limit.literal['max']' got
    "lots"; allowed: an integer": pydantic's names of a union's members as if they were arguments,
    and twice "an integer" where "max" is allowed too, so a model never learnt of it."""
    result = await client.call_tool("usage_blocks", {"token_limit": token_limit})
    assert result.is_error is True
    text = result.content[0].text  # type: ignore[union-attr]
    shown = json.dumps(token_limit)
    assert text == f"usage_blocks: argument 'token_limit' got {shown}; allowed: an integer or \"max\"", text


async def test_what_clients_send_for_json_types_is_still_taken(client: Client) -> None:
    """Strict about JSON types, not about how JSON spells them: a money amount as an integer, a
    float or a numeric string, a whole number written 12.0 (an integer to JSON Schema), a time as
    an ISO string, a list sent as a JSON string (as Claude Desktop does)."""
    when = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    recorded = await client.call_tool(
        "record_usage", {**RECORD, "input_tokens": 1000.0, "timestamp": when, "request_id": "r1"}
    )
    assert recorded.is_error is False, recorded.content
    assert recorded.structured_content is not None
    for amount in (150, 4.99, "4.99"):
        result = await client.call_tool("set_budget", {"name": "b", "amount_usd": amount, "period": "month"})
        assert result.is_error is False, (amount, result.content)
        assert result.structured_content is not None
        assert Decimal(str(result.structured_content["amount_usd"])) == Decimal(str(amount))
    checked = await client.call_tool("check_budget", {"estimated_cost_usd": 2, "agent": "bot"})
    assert checked.is_error is False and checked.structured_content is not None
    spend = await client.call_tool("get_spend", {"group_by": '["agent"]', "start": "2020-01-01"})
    assert spend.is_error is False and spend.structured_content is not None
    assert [r["group"]["agent"] for r in spend.structured_content["rows"]] == ["bot"]


async def test_check_budget_without_a_cost_or_model_says_what_it_accepts(client: Client) -> None:
    """With neither a cost nor a model, the error said "model with input_tokens and output_tokens",
    while a model with input_tokens alone was taken and priced: a model read it as needing both and
    made up an output count. It now says what is taken: any token count may be left out (0)."""
    nothing = await client.call_tool("check_budget", {})
    assert nothing.is_error is True
    message = nothing.content[0].text  # type: ignore[union-attr]
    assert "input_tokens and output_tokens" not in message
    assert message.endswith(
        "give estimated_cost_usd, or model with the token counts you expect (input_tokens, output_tokens, "
        "cache_read_tokens; one left out counts as 0), to price the call"
    )
    priced = await client.call_tool("check_budget", {"model": "claude-sonnet-4-5", "input_tokens": 100_000})
    assert priced.is_error is False and priced.structured_content is not None
    assert priced.structured_content["estimated_cost_usd"] == 0.3  # $3/MTok of input, priced without output
    # A model and no token count at all was priced at $0 and let through every budget.
    bare = await client.call_tool("check_budget", {"model": "claude-sonnet-4-5"})
    assert bare.is_error is True
    assert bare.content[0].text.endswith(message[-60:])  # type: ignore[union-attr]


@pytest.mark.parametrize("agent", [" ", "\t\n", "\u3000"])
async def test_a_blank_agent_is_refused_and_nothing_is_recorded(client: Client, agent: str) -> None:
    """An agent of spaces passed the argument's minimum length and was stored as an agent that no
    budget, filter or breakdown row can name."""
    result = await client.call_tool("record_usage", {**RECORD, "input_tokens": 5, "agent": agent})
    assert result.is_error is True
    text = result.content[0].text  # type: ignore[union-attr]
    assert "agent is blank: name the agent making the call" in text, text
    spend = await client.call_tool("get_spend", {"period": "today", "group_by": ["agent"]})
    assert spend.is_error is False
    assert spend.structured_content is not None
    assert [r["group"]["agent"] for r in spend.structured_content["rows"]] == []
