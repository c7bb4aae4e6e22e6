"""What the model reads: the tool list, its size, and the errors a bad call gets back.

The snapshot below is every tool's name, title, description, input schema and annotations, as
tools/list sends them. A change to what the model reads is then a visible diff in review: after an
intended change, run `python -m pytest tests/test_tool_list.py --inline-snapshot=fix` and read it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from inline_snapshot import snapshot
from mcp import Client
from mcp.types import ListToolsResult
from pydantic import BaseModel, Field, ValidationError

from cost_mcp.tool_text import allowed, argument_error, compact_schema

pytestmark = pytest.mark.anyio

MAX_TOOL_LIST_CHARS = 30_000
"""All of tools/list as sent: hosts put it in front of the model on every turn."""


async def _tools_wire(client: Client) -> tuple[ListToolsResult, str]:
    listed = await client.list_tools()
    # As the server sends it: JSON by alias, without nulls, no indentation.
    return listed, ListToolsResult(tools=listed.tools).model_dump_json(by_alias=True, exclude_none=True)


async def test_the_whole_tool_list_is_under_30000_characters(client: Client) -> None:
    listed, wire = await _tools_wire(client)
    assert len(listed.tools) >= 19
    assert len(wire) < MAX_TOOL_LIST_CHARS, f"tools/list is {len(wire):,} characters"


async def test_descriptions_carry_no_docstring_indentation_and_schemas_no_titles(client: Client) -> None:
    listed, wire = await _tools_wire(client)
    for tool in listed.tools:
        assert tool.description, tool.name
        assert "\n    " not in tool.description, tool.name
        assert tool.description == tool.description.strip(), tool.name
        assert "Example: " in tool.description, tool.name
    assert '"title":"' not in json.dumps([t.input_schema for t in listed.tools], separators=(",", ":"))
    # An optional argument is published as its type; leaving it out means "not given".
    assert '{"type":"null"}' not in wire


async def test_period_is_an_enum_and_optional_arguments_are_plain_types(client: Client) -> None:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    props = tools["get_spend"].input_schema["properties"]
    assert props["period"]["enum"] == [
        "today",
        "yesterday",
        "this_week",
        "last_week",
        "this_month",
        "last_month",
        "last_7_days",
        "last_30_days",
        "this_year",
    ]
    assert props["period"]["type"] == "string"
    assert props["providers"]["type"] == "array"
    assert "period" not in tools["get_spend"].input_schema.get("required", [])


async def test_optional_arguments_still_accept_null(client: Client) -> None:
    """The published schema is compact; what the tools accept has not narrowed."""
    arguments = {"period": None, "providers": None, "group_by": ["provider"]}
    result = await client.call_tool("get_spend", arguments)
    assert result.is_error is False, result.content


async def test_results_are_structured_behind_a_minimal_output_schema(client: Client) -> None:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert all(t.output_schema == {"type": "object"} for t in tools.values())
    result = await client.call_tool(
        "estimate_cost", {"model": "claude-sonnet-4-5", "input_tokens": 1000, "output_tokens": 10}
    )
    assert result.structured_content is not None
    # Money is a JSON number in every machine output (docs/architecture.md, "Money in machine output").
    assert isinstance(result.structured_content["cost_usd"], int | float)


@pytest.mark.parametrize(
    ("tool", "arguments", "expected"),
    [
        (
            "get_spend",
            {"period": 5},
            "get_spend: argument 'period' got 5; allowed: one of today, yesterday, this_week, last_week, "
            "this_month, last_month, last_7_days, last_30_days, this_year",
        ),
        (
            "get_spend",
            {"period": "last_year"},
            "get_spend: argument 'period' got \"last_year\"; allowed: one of today, yesterday, this_week, "
            "last_week, this_month, last_month, last_7_days, last_30_days, this_year",
        ),
        (
            "get_spend",
            {"group_by": ["modle"]},
            "get_spend: argument 'group_by.0' got \"modle\"; allowed: a list of up to 4 items, each one of "
            "provider, model, day, week, month, project, agent, session, member, source, basis",
        ),
        (
            "usage_blocks",
            {"days": 100},
            "usage_blocks: argument 'days' got 100; allowed: an integer from 1 to 31",
        ),
        (
            "estimate_cost",
            {"model": "claude-sonnet-4-5", "output_tokens": 1},
            "estimate_cost: argument 'input_tokens' is required; allowed: an integer from 0 to 10000000000",
        ),
        (
            "check_budget",
            {"estimated_cost_usd": "a lot"},
            "check_budget: argument 'estimated_cost_usd' got \"a lot\" (input should be a valid decimal); "
            "allowed: a number from 0 to 1000000000",
        ),
        (
            "set_budget",
            {"name": "ok", "amount_usd": 5, "period": "year"},
            "set_budget: argument 'period' got \"year\"; allowed: one of day, week, month",
        ),
    ],
)
async def test_a_bad_argument_is_one_line_naming_it_what_was_given_and_what_is_allowed(
    client: Client, tool: str, arguments: dict[str, Any], expected: str
) -> None:
    result = await client.call_tool(tool, arguments)
    assert result.is_error is True
    text = result.content[0].text  # type: ignore[union-attr]
    assert text == expected
    assert "\n" not in text and "pydantic" not in text and "validation error" not in text


async def test_no_bad_call_shows_pydantic_s_own_report(client: Client) -> None:
    """Every tool, every argument given a value of the wrong kind: never pydantic's banner or link."""
    for tool in (await client.list_tools()).tools:
        for name in tool.input_schema.get("properties", {}):
            result = await client.call_tool(tool.name, {name: {"not": "this"}})
            assert result.is_error is True, (tool.name, name)
            text = result.content[0].text  # type: ignore[union-attr]
            assert "\n" not in text, (tool.name, name, text)
            assert "errors.pydantic.dev" not in text and "Arguments" not in text, (tool.name, name, text)
            assert f"'{name}" in text, (tool.name, name, text)


def test_compact_schema_keeps_names_and_data_that_look_like_keywords() -> None:
    schema = {
        "title": "x",
        "properties": {
            "title": {"title": "Title", "type": "string"},
            "n": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None, "title": "N"},
            "m": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": 3},
            "k": {"enum": [{"title": "kept"}], "default": {"title": "kept"}},
            "usd": {"anyOf": [{"type": "number", "minimum": 0}, {"type": "string"}]},
        },
    }
    assert compact_schema(schema) == {
        "properties": {
            "title": {"type": "string"},
            "n": {"type": "integer"},
            "m": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": 3},
            "k": {"enum": [{"title": "kept"}], "default": {"title": "kept"}},
            "usd": {"type": "number", "minimum": 0},
        }
    }


def test_allowed_says_what_a_schema_takes() -> None:
    assert allowed({"type": "string", "maxLength": 10}) == "text of at most 10 characters"
    assert allowed({"type": "number", "exclusiveMinimum": 0}) == "a number above 0"
    assert allowed({"type": "boolean"}) == "true or false"
    assert allowed({"anyOf": [{"type": "integer"}, {"const": "max"}]}) == 'an integer or "max"'
    root = {"$defs": {"S": {"type": "object", "properties": {"a": {}, "b": {}}}}}
    assert allowed({"$ref": "#/$defs/S"}, root) == "an object with keys a, b"


def test_argument_error_cuts_long_values_and_counts_the_rest() -> None:
    class Args(BaseModel):
        a: int = Field(ge=0)
        b: int = Field(ge=0)
        c: int = Field(ge=0)
        d: int = Field(ge=0)

    with pytest.raises(ValidationError) as caught:
        Args.model_validate({"a": "x" * 500, "b": -1, "c": -1, "d": -1})
    text = argument_error(caught.value, Args.model_json_schema())
    assert len(text) < 400 and "…" in text and text.endswith("and 1 more")


async def test_the_tool_list_as_the_model_reads_it(client: Client) -> None:
    tools = (await client.list_tools()).tools
    shown = {
        t.name: {
            "title": t.title,
            "description": t.description,
            "input": t.input_schema,
            "annotations": t.annotations.model_dump(by_alias=True, exclude_none=True)
            if t.annotations
            else None,
        }
        for t in tools
    }
    assert shown == snapshot()
