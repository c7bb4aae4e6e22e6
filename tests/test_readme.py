"""README promises that must stay true: the tool table and the test command CI runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mcp import Client

README = Path(__file__).resolve().parents[1] / "README.md"


def _between(marker: str) -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"<!-- {marker} -->(.*?)<!-- /{marker} -->", text, re.S)
    assert match, f"README.md lost its <!-- {marker} --> block"
    return match.group(1)


@pytest.mark.anyio
async def test_readme_tool_table_matches_the_server(client: Client) -> None:
    documented = re.findall(r"^\| `([a-z_]+)` \|", _between("tools"), re.M)
    served = sorted(t.name for t in (await client.list_tools()).tools)
    assert sorted(documented) == served


def test_readme_test_command_runs_pytest() -> None:
    assert "pytest" in _between("test-command")
