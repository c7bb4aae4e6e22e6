"""Eight real server processes share one ledger while Claude Code keeps writing its logs."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from tests.sources.claude_logs import assistant, encode, session_file
from tests.test_server import server_env

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

SERVERS = 8
CALLS = 240


async def test_eight_servers_and_a_writer_agree_exactly(home: Path) -> None:
    rng = random.Random(8)
    files = [session_file(home / "claude", f"s{i}") for i in range(4)]
    for f in files:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.touch()
    truth_output = 0
    errors: list[str] = []
    done = anyio.Event()

    async def writer() -> None:
        nonlocal truth_output
        for i in range(CALLS):
            out = rng.randint(1, 1_000)
            truth_output += out
            # each call is written as two growing content blocks, sometimes split mid-line
            partial = encode(assistant(f"m{i}", f"r{i}", "2026-11-02T09:00:00.000Z", output=1))
            final = encode(assistant(f"m{i}", f"r{i}", "2026-11-02T09:00:00.100Z", output=out))
            text = partial + "\n" + final + "\n"
            cut = rng.randint(0, len(text))
            target = rng.choice(files)
            with target.open("a") as f:
                f.write(text[:cut])
                f.flush()
                await anyio.sleep(0.002)
                f.write(text[cut:])
            await anyio.sleep(0.005)
        done.set()

    async def server(n: int) -> None:
        params = StdioServerParameters(command=sys.executable, args=["-m", "cost_mcp"], env=server_env(home))
        async with Client(params) as c:
            while not done.is_set():
                tool = "get_spend" if n % 2 else "ingest_claude_code_logs"
                args = {"start": "2026-11-01", "end": "2026-11-03"} if tool == "get_spend" else {}
                result = await c.call_tool(tool, args)
                if result.is_error:
                    errors.append(result.content[0].text)  # type: ignore[union-attr]
            final = await c.call_tool(
                "get_spend", {"start": "2026-11-01", "end": "2026-11-03", "group_by": ["day"]}
            )
            if final.is_error:
                errors.append(final.content[0].text)  # type: ignore[union-attr]

    with anyio.fail_after(180):
        async with anyio.create_task_group() as tg:
            tg.start_soon(writer)
            for n in range(SERVERS):
                tg.start_soon(server, n)
    assert errors == []
    params = StdioServerParameters(command=sys.executable, args=["-m", "cost_mcp"], env=server_env(home))
    async with Client(params) as c:
        result = await c.call_tool("get_spend", {"start": "2026-11-01", "end": "2026-11-03"})
    assert result.structured_content is not None
    [row] = result.structured_content["rows"]
    assert row["requests"] == CALLS
    assert row["tokens"]["output_tokens"] == truth_output
