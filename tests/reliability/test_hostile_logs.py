"""A hostile Claude Code log tree never stops an answer, and never moves a good line's total (hypothesis).

Each example writes a real log tree mixing good calls with random bytes, deep nesting, huge or
non-finite numbers, impossible timestamps, empty files and odd (some not UTF-8) file and folder names,
then runs the CLI (`cost_mcp.cli.main`) and every query tool (in-memory MCP client) over it. All must
answer; the spend and output tokens must be exactly those of the good calls in readable files.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client

from cost_mcp.cli import main
from cost_mcp.money import from_nanos
from cost_mcp.pricing import Price, Pricer, Tokens
from tests.sources.claude_logs import SONNET, assistant, encode, user

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


@dataclass(frozen=True)
class Good:
    """A real call: these are what the totals must equal. Some carry a tool argument nested past
    the decoder's limit, as a model can make Claude Code log: still a real, billed call."""

    output: int
    minute: int
    depth: int = 0
    bracket: str = "["


def stamp(minute: int) -> str:
    return (NOW + timedelta(minutes=minute)).isoformat().replace("+00:00", "Z")


# Each is invalid for a token count and for costUSD alike (a valid value would make a real call).
HUGE = [2**63, 2**64, 10**30, -1, -(2**63), 1e308, "NaN", "-Infinity", "1e999"]
BAD_STAMPS = [
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59Z",
    "1969-12-31T23:59:59Z",
    "2026-02-30T00:00:00Z",
    "",
    "\x00",
]


def nested(depth: int, bracket: str) -> str:
    if bracket == "[":
        return "[" * depth + "]" * depth
    return '{"k":' * depth + '"]}["' + "}" * depth  # brackets inside a string do not nest


def with_deep_argument(line: dict[str, Any], depth: int, bracket: str) -> bytes:
    if not depth:
        return encode(line).encode()
    return (encode(line)[:-1] + ',"toolUseResult":' + nested(depth, bracket) + "}").encode()


def deep_user_line(depth: int, bracket: str) -> bytes:
    return with_deep_argument(user(stamp(1)), depth, bracket)


def deep_unbalanced(depth: int) -> bytes:
    line = encode(assistant("bad_deep", "req_deep", stamp(1))).encode()
    return line[:-1] + b',"toolUseResult":' + b"[" * depth + b"}"


def huge_number(field: str, value: Any, n: int) -> bytes:
    line = assistant(f"bad_num_{n}", f"req_num_{n}", stamp(2))
    if field == "costUSD":
        line["costUSD"] = value
    else:
        line["message"]["usage"][field] = value
    return json.dumps(line).encode()


def bad_stamp(value: str, n: int) -> bytes:
    return encode(assistant(f"bad_ts_{n}", f"req_ts_{n}", value)).encode()


hostile = st.one_of(
    st.binary(max_size=300),
    st.builds(deep_user_line, st.integers(1_000, 4_000), st.sampled_from("[{")),
    st.builds(deep_unbalanced, st.integers(1_000, 4_000)),
    st.builds(
        huge_number,
        st.sampled_from(["costUSD", "output_tokens", "input_tokens", "cache_read_input_tokens"]),
        st.sampled_from(HUGE),
        st.integers(0, 10**6),
    ),
    st.builds(bad_stamp, st.sampled_from(BAD_STAMPS), st.integers(0, 10**6)),
)
entry = st.one_of(
    st.builds(
        Good,
        st.integers(1, 200_000),
        st.integers(0, 60),
        st.sampled_from([0, 0, 1_000, 3_000]),
        st.sampled_from("[{"),
    ),
    hostile,
)

NAMES = [
    b"s1.jsonl",
    b"with space.jsonl",
    "s\u00e9ssion.jsonl".encode(),
    b"\xff\xfe.jsonl",
    b"-.jsonl",
    b"%_.jsonl",
]
FOLDERS = [b"-home-dev-app", b"-home-\xe9t\xe9", b"x" * 200, "\u65e5\u672c".encode(), b"a b"]
files = st.lists(
    st.tuples(st.sampled_from(FOLDERS), st.sampled_from(NAMES), st.lists(entry, max_size=8)),
    min_size=1,
    max_size=5,
)


def write_tree(projects: Path, spec: list[tuple[bytes, bytes, list[Any]]]) -> tuple[int, int, int]:
    """Write the tree; return the good calls' count, output tokens and nano-USD that must be counted."""
    pricer = Pricer()
    count = output = nanos = 0
    serial = 0
    for folder, name, entries in spec:
        directory = os.fsencode(projects) + b"/" + folder
        os.makedirs(directory, exist_ok=True)
        path = directory + b"/" + name
        readable = True
        try:
            os.fsdecode(path).encode("utf-8")
        except UnicodeEncodeError:
            readable = False
        with open(path, "ab") as f:
            for item in entries:
                if isinstance(item, Good):
                    serial += 1
                    line = assistant(
                        f"good_{serial}", f"req_good_{serial}", stamp(item.minute), output=item.output
                    )
                    f.write(with_deep_argument(line, item.depth, item.bracket) + b"\n")
                    if readable:
                        price = pricer.price(Tokens(input=4, output=item.output), SONNET, "anthropic", NOW)
                        assert isinstance(price, Price)
                        count, output, nanos = count + 1, output + item.output, nanos + price.total_nanos
                else:
                    f.write(item + b"\n")
    return count, output, nanos


QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("ingest_claude_code_logs", {}),
    ("get_spend", {"period": "last_7_days", "group_by": ["project", "session", "model", "day"]}),
    ("model_breakdown", {"period": "last_7_days"}),
    ("session_usage", {}),
    ("usage_blocks", {"days": 1, "token_limit": "max"}),
    ("budget_status", {}),
    ("check_budget", {"estimated_cost_usd": 1}),
    ("spend_forecast", {}),
]


async def ask_every_tool(expected_usd: Decimal, expected_output: int) -> None:
    from cost_mcp.server import mcp

    async with Client(mcp) as client:
        for tool, args in QUERIES:
            result = await client.call_tool(tool, args)
            if result.is_error:
                # Only an anticipated answer ("no usage recorded yet") for a tree with no good call;
                # a crash would reach the model as the bare first line.
                text = result.content[0].text  # type: ignore[union-attr]
                assert expected_output == 0 and text != f"Error executing tool {tool}", (tool, text)
        spend = await client.call_tool("get_spend", {"period": "last_7_days"})
        assert spend.structured_content is not None
        assert Decimal(str(spend.structured_content["total_usd"])) == expected_usd
        models = await client.call_tool("model_breakdown", {"period": "last_7_days"})
        assert models.structured_content is not None
        assert sum(m["output_tokens"] for m in models.structured_content["models"]) == expected_output
        assert (await client.read_resource("cost://summary")).contents


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    assert main(list(args)) == 0, args
    return capsys.readouterr().out


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=files)
def test_a_hostile_log_tree_never_stops_an_answer_and_never_moves_a_total(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    spec: list[tuple[bytes, bytes, list[Any]]],
) -> None:
    with tempfile.TemporaryDirectory(dir=home) as tmp:
        root = Path(tmp)
        monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(root / "claude"))
        monkeypatch.setenv("COST_MCP_DB", str(root / "cost.db"))
        monkeypatch.setenv("COST_MCP_MAX_LINE_BYTES", "65536")  # the deepest lines pass the cap
        count, output, nanos = write_tree(root / "claude" / "projects", spec)

        scan = json.loads(cli(capsys, "ingest", "--json"))
        assert scan["events_added"] == count
        report = json.loads(cli(capsys, "report", "--period", "last_7_days", "--json"))
        assert Decimal(str(report["total_usd"])) == from_nanos(nanos)
        cli(capsys, "report", "--period", "last_7_days", "--group-by", "project", "session")
        cli(capsys, "report", "--period", "last_7_days", "--csv")
        cli(capsys, "export", "--period", "last_7_days", "--format", "json")
        cli(capsys, "ingest", "--full")
        anyio.run(ask_every_tool, from_nanos(nanos), output)
