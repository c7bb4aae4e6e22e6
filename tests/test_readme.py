"""README promises that must stay true: the tool table and the test command CI runs."""

from __future__ import annotations

import re
import shlex
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


def test_readme_says_how_many_workers_ci_runs_the_suite_on() -> None:
    """README said CI runs "the test command above", not that .ci/run runs it on two workers
    (pytest-xdist): a contributor timing the suite in one process saw twice CI's time."""
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    match = re.search(r'PYTEST_ADDOPTS="[^"]*(-n \d+)', ci)
    assert match, ".ci/run no longer sets its workers in PYTEST_ADDOPTS"
    development = README.read_text(encoding="utf-8").split("## Development", 1)[1]
    assert f"`{match.group(1)}`" in development


@pytest.mark.parametrize("command", ["statusline", "hook"])
def test_readme_says_an_install_without_a_terminal_needs_yes(command: str) -> None:
    """Without a terminal to ask on, `--install` writes nothing unless given --yes (it says so:
    cli/setup.py); README's paragraphs on the status line and hook said only that it asks first."""
    load_all()
    assert "--yes" in _options(cli.commands[command])
    text = " ".join(README.read_text(encoding="utf-8").split())
    at = text.index(f"`cost-mcp {command} --install`")
    assert "`--yes`" in text[at : at + 200], text[at : at + 200]


def _options(command: click.Command) -> set[str]:
    """The options of a command, or of any of a group's commands."""
    if isinstance(command, click.Group):
        return set().union(*(_options(c) for c in command.commands.values()))
    return {
        name for p in command.params for name in [*getattr(p, "opts", []), *getattr(p, "secondary_opts", [])]
    }


def _synopsis() -> list[tuple[list[click.Command], str]]:
    """README's CLI synopsis: each line with the commands it documents. A line names its command
    path (``budget set``), or alternatives at its end (``budget status|list``); a line that does not
    start with ``cost-mcp`` continues the one above."""
    block = README.read_text(encoding="utf-8").split("## CLI", 1)[1].split("```", 2)[1]
    load_all()  # commands are otherwise loaded on use
    lines: list[tuple[list[click.Command], str]] = []
    commands: list[click.Command] = [cli]
    for line in block.splitlines():
        words = line.split()
        if words[:1] == ["cost-mcp"]:
            commands = [cli]
            for word in words[1:]:
                group = commands[0]
                if len(commands) > 1 or not isinstance(group, click.Group):
                    break
                named = [group.commands[n] for n in word.strip("[]").split("|") if n in group.commands]
                if named:
                    commands = named
        # else: a continuation line of the command above
        lines.append((commands, line))
    return lines


def _leaves(command: click.Command, path: str = "") -> list[tuple[str, click.Command]]:
    """Every command that is not a group, with its path (``budget set``)."""
    if isinstance(command, click.Group):
        return [leaf for n, c in command.commands.items() for leaf in _leaves(c, f"{path} {n}".strip())]
    return [(path, command)]


def test_readme_cli_synopsis_names_only_real_commands_and_options() -> None:
    """An option on a line of alternatives (``team forget-pushes|unforget-pushes``) is one each of
    them takes: `unforget-pushes --yes`, which the line offered, was "No such option"."""
    checked = 0
    for commands, line in _synopsis():
        known = set.intersection(*(_options(c) for c in commands)) | {"--help", "--version"}
        for option in re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", line):
            assert option in known, (
                f"README's `{line.strip()}` names {option}, unknown to one of its commands"
            )
            checked += 1
    assert checked > 40


def test_readme_cli_synopsis_names_every_command_and_option() -> None:
    """The other way round: a command or option added to the CLI (and its --help) is added to the
    synopsis too. It lacked push, token and team, and a dozen options (--agent, --timezone...)."""
    documented: dict[int, set[str]] = {}
    for commands, line in _synopsis():
        for command in commands:
            if not isinstance(command, click.Group):
                documented.setdefault(id(command), set()).update(
                    re.findall(r"(?<![\w-])(--[a-z][\w-]*)", line)
                )
    load_all()
    missing = []
    for path, command in _leaves(cli):
        if id(command) not in documented:
            missing.append(f"the command `{path}`")
            continue
        for param in command.params:
            for option in getattr(param, "opts", []):
                if option.startswith("--") and option not in documented[id(command)]:
                    missing.append(f"`{path} {option}`")
    assert missing == [], f"README's CLI synopsis lacks {', '.join(missing)}"


# What ccusage 20.0.24 offers for Claude Code (`ccusage claude --help` and each command's): a user
# coming from it looks each one up in README's map.
CCUSAGE_VIEWS_AND_OPTIONS = (
    "daily",
    "weekly",
    "monthly",
    "session",
    "session --id",
    "blocks",
    "blocks --recent",
    "blocks --active",
    "--token-limit",
    "blocks --session-length",
    "statusline",
    "--since",
    "--until",
    "--last",
    "--timezone",
    "--breakdown",
    "--instances",
    "--project",
    "--mode",
    "--offline",
    "--json",
    "--compact",
    "--order",
    "--start-of-week",
)


def _ccusage_map() -> list[tuple[str, str]]:
    rows = re.findall(r"^\| (.+?) \| (.+?) \|$", _between("ccusage-map"), re.M)
    """(ccusage's, cost-mcp's) of each row of README's map."""
    return [(theirs, ours) for theirs, ours in rows if not set(theirs) <= {"-"} and theirs != "ccusage"]


def test_readme_maps_every_ccusage_view_and_option() -> None:
    """A ccusage user found `blocks`, `session` and `forecast` named as "the views ccusage users
    know", and had to guess the rest: `daily` is `report --group-by day`, `--instances` a project
    grouping, `--mode` an environment variable, `--project` has no `report` filter."""
    named = {
        name.replace("\\|", "|")
        for theirs, _ in _ccusage_map()
        for snippet in re.findall(r"`([^`]+)`", theirs)
        # `session --id ID` names `session --id`; `--since` alone is named as well
        for name in [snippet, *re.findall(r"(?:^|\s)(--[a-z-]+)", snippet), re.sub(r" [A-Z|]+$", "", snippet)]
    }
    assert [v for v in CCUSAGE_VIEWS_AND_OPTIONS if v not in named] == []


def test_readme_ccusage_map_names_only_real_commands_and_options() -> None:
    load_all()
    checked = 0
    for _, ours in _ccusage_map():
        command: click.Command | None = None
        for snippet in re.findall(r"`([^`]+)`", ours.replace("\\|", "|")):
            words = snippet.split()
            if words[0] == "cost-mcp":
                command = cli
                for word in words[1:]:
                    if isinstance(command, click.Group) and word in command.commands:
                        command = command.commands[word]
                assert not isinstance(command, click.Group), f"`{snippet}` names no command"
            elif not words[0].startswith("--") or command is None:
                continue  # a value (`2026-03`), a setting or a tool's argument
            assert command is not None
            for option in re.findall(r"(?<![\w-])(--[a-z][\w-]*)", snippet):
                assert option in _options(command), f"README's ccusage map: `{snippet}` names {option}"
                checked += 1
    assert checked > 15


def _shell_lines() -> list[str]:
    """Every line of README's shell code blocks (```bash, ```sh, and the plain ``$ `` transcripts),
    its continuation lines joined and a transcript's prompt removed."""
    text = README.read_text(encoding="utf-8")
    lines: list[str] = []
    for lang, body in re.findall(r"^```(\w*)\n(.*?)^```", text, re.S | re.M):
        if lang not in ("bash", "sh", ""):
            continue
        for line in body.replace("\\\n", " ").splitlines():
            if lang == "" and not line.startswith("$ "):
                continue  # a transcript's output, or the CLI synopsis (checked above)
            lines.append(line.removeprefix("$ "))
    return lines


def _cost_mcp_commands(line: str) -> list[list[str]]:
    """The argument lists of each cost-mcp run on a shell line (``a && cost-mcp x``, ``claude mcp
    add ... -- /path/bin/cost-mcp``), comments left out."""
    words = shlex.split(line, comments=True)
    runs: list[list[str]] = []
    current: list[str] = []
    for word in [*words, ";"]:
        if word in ("&&", "||", ";", "|"):
            runs.append(current)
            current = []
        else:
            current.append(word)
    found = []
    for run in runs:
        for i, word in enumerate(run):
            if (word == "cost-mcp" or word.endswith("/bin/cost-mcp")) and (i == 0 or run[i - 1] == "--"):
                found.append(run[i + 1 :])
                break
    return found


def _parse(args: list[str]) -> click.Command:
    """Parse ``args`` as the real CLI would, down to the command it runs, without running it:
    an unknown command, an unknown option, a missing argument or a bad value raises click's error."""
    load_all()
    ctx = cli.make_context("cost-mcp", list(args))
    command: click.Command = cli
    while isinstance(command, click.Group) and (rest := [*ctx._protected_args, *ctx.args]):
        name, sub, rest = command.resolve_command(ctx, rest)
        assert sub is not None and name is not None
        ctx = sub.make_context(name, rest, parent=ctx)
        command = sub
    return command


def test_readme_every_cost_mcp_command_line_parses() -> None:
    """A user copies README's lines as they are: each `cost-mcp ...` in its shell blocks is one the
    real CLI takes, command, options and values (the quick start's full path and the
    `claude mcp add ... -- .../cost-mcp` lines included)."""
    checked = []
    for line in _shell_lines():
        for args in _cost_mcp_commands(line):
            try:
                _parse(args)
            except click.ClickException as exc:
                pytest.fail(f"README's `{line.strip()}`: {exc.format_message()}")
            checked.append(args)
    assert len(checked) > 20, checked
    # The blocks a new user runs first are among them.
    assert ["report"] in checked and [] in checked and ["push"] in checked


def test_readme_every_cost_mcp_snippet_names_a_real_command_and_options() -> None:
    """The `cost-mcp ...` snippets of README's prose (placeholders such as `ID` or `...` in them):
    each names a command the CLI has, and only options that command takes."""
    load_all()
    text = README.read_text(encoding="utf-8")
    checked = 0
    for snippet in set(re.findall(r"`(cost-mcp(?:\s[^`]*)?)`", text)):
        command: click.Command = cli
        words = snippet.replace("[", " ").replace("]", " ").split()[1:]
        for word in words:
            if isinstance(command, click.Group) and word in command.commands:
                command = command.commands[word]
            elif isinstance(command, click.Group) and not word.startswith("-"):
                pytest.fail(f"README's `{snippet}`: {word!r} is no command of {command.name}")
            else:
                break
        known = _options(command) | {"--help", "--version"}
        for option in re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", snippet):
            assert option in known, f"README's `{snippet}` names {option}, unknown to its command"
        checked += 1
    assert checked > 50


def _configuration_table() -> list[tuple[set[str], str]]:
    """README's configuration table: per row, the variables its first column names and the row."""
    table = README.read_text(encoding="utf-8").split("## Configuration", 1)[1].split("\n### ", 1)[0]
    return [
        (set(re.findall(r"`([A-Z][A-Z0-9_<>]+)`", row.split("|")[1])), row)
        for row in table.splitlines()
        if row.startswith("| `")
    ]


def _variables_read() -> set[str]:
    """Every variable cost-mcp reads: each settings field's names, each provider's (its URLs as
    the table's pattern) and the two read before settings are (the env file's path, the status
    line's fields)."""
    from cost_mcp.config import Settings, _env_names
    from cost_mcp.sources import registry

    names = {name for field in Settings.model_fields for name in _env_names(field)}
    for spec in registry.providers():
        names.update(spec.env_names)
    names = {re.sub(r"^COST_MCP_[A-Z]+_(BASE|TOKEN)_URL$", r"COST_MCP_<PROVIDER>_\1_URL", n) for n in names}
    return names | {"COST_MCP_ENV_FILE", "COST_MCP_STATUSLINE_FIELDS"}


def test_readme_configuration_table_names_every_setting() -> None:
    """Each variable cost-mcp reads is in README's table, in a row of its own or beside the one it
    goes with (`GEMINI_CLI_HOME` in `GEMINI_DIR`'s): the team settings (`COST_MCP_TEAM_SERVER`,
    `COST_MCP_PUBLIC_URL`, the JWT ones) were only in Team mode's prose."""
    rows = _configuration_table()
    text = "\n".join(row for _, row in rows)
    missing = sorted(n for n in _variables_read() if not re.search(rf"`\$?{re.escape(n)}`", text))
    assert missing == [], f"README's configuration table lacks {', '.join(missing)}"


def test_readme_configuration_table_names_only_real_settings() -> None:
    """And the other way round: a variable the table lists is one cost-mcp reads."""
    documented = set().union(*(names for names, _ in _configuration_table()))
    assert sorted(documented - _variables_read()) == []
