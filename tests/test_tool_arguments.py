"""Every tool refuses arguments it does not take, naming the ones it does."""

from __future__ import annotations

import pytest
from mcp import Client

pytestmark = pytest.mark.anyio


async def test_misspelt_period_is_an_error_naming_the_valid_arguments(client: Client) -> None:
    result = await client.call_tool("get_spend", {"perod": "last_month"})
    assert result.is_error is True
    text = result.content[0].text  # type: ignore[union-attr]
    assert "'perod'" in text and "did you mean 'period'" in text
    assert "valid arguments:" in text and "group_by" in text


async def test_every_tool_rejects_an_unknown_argument_and_says_so_in_its_schema(client: Client) -> None:
    tools = (await client.list_tools()).tools
    assert len(tools) > 10
    for tool in tools:
        assert tool.input_schema.get("additionalProperties") is False, tool.name
        result = await client.call_tool(tool.name, {"no_such_argument": 1})
        assert result.is_error is True, tool.name
        assert "no_such_argument" in result.content[0].text, tool.name  # type: ignore[union-attr]
