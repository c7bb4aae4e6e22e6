"""README promises that must stay true: the tool table and the test command CI runs."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from mcp import Client

from cost_mcp.cli import cli, load_all

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


def _options(command: click.Command) -> set[str]:
    """The options of a command, or of any of a group's commands."""
    if isinstance(command, click.Group):
        return set().union(*(_options(c) for c in command.commands.values()))
    return {name for p in command.params for name in getattr(p, "opts", [])}


def test_readme_cli_synopsis_names_only_real_commands_and_options() -> None:
    block = README.read_text(encoding="utf-8").split("## CLI", 1)[1].split("```", 2)[1]
    checked = 0
    load_all()  # commands are otherwise loaded on use
    command: click.Command = cli
    for line in block.splitlines():
        words = line.split()
        if words[:1] == ["cost-mcp"]:
            command = cli
            for word in words[1:]:
                name = word.strip("[]|")
                if isinstance(command, click.Group) and name in command.commands:
                    command = command.commands[name]
        # else: a continuation line of the command above
        known = _options(command) | {"--help", "--version"}
        for option in re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", line):
            assert option in known, f"README's `{line.strip()}` names {option}, unknown to the CLI"
            checked += 1
    assert checked > 40
