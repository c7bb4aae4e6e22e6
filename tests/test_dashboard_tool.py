"""show_dashboard over MCP, for hosts without apps: the same facts as text, problems included."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client

from cost_mcp.models import Dashboard

pytestmark = pytest.mark.anyio


async def test_a_bad_setting_rides_along_in_the_dashboard(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COST_MCP_TIMEZONE", "Paris")
    from cost_mcp.server import mcp

    async with Client(mcp, raise_exceptions=True) as client:
        result = await client.call_tool("show_dashboard", {"period": "today"})
    assert not result.is_error and result.structured_content is not None
    d = Dashboard.model_validate(result.structured_content)
    assert any("COST_MCP_TIMEZONE='Paris'" in w for w in d.warnings)
    text = result.content[0].text  # type: ignore[union-attr]
    assert "today: $0.00" in text and "note: " in text and "COST_MCP_TIMEZONE" in text


async def test_a_bad_period_is_an_actionable_tool_error(client: Client) -> None:
    result = await client.call_tool("show_dashboard", {"period": "fortnight"})
    assert result.is_error
    assert "period" in result.content[0].text  # type: ignore[union-attr]
