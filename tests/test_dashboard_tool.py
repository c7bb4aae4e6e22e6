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


async def test_seat_fees_are_named_so_among_the_dashboards_top_rows(client: Client) -> None:
    """The text a host without apps shows read "top models: (unknown) $2.00 subscription" (and
    agents, projects alike) for a seat fee, where model_breakdown and the forecast say "(seat
    fees)": "(unknown)" read as spend the ledger could not place."""
    await client.call_tool(
        "set_subscription",
        {"name": "max", "vendor": "anthropic", "amount_usd": 31, "period": "monthly", "start": "2026-03-01"},
    )
    result = await client.call_tool("show_dashboard", {"start": "2026-03-01", "end": "2026-03-02"})
    assert not result.is_error
    text = result.content[0].text  # type: ignore[union-attr]
    for dim in ("models", "agents", "projects"):
        assert f"top {dim}: (seat fees) $2.00 subscription" in text.splitlines(), text
    assert "(unknown)" not in text
