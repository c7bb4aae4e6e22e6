"""A warm `cost-mcp report` (the ccusage `daily` of README's map, on logs already read) imports only
what it uses: not the HTTP client (httpx2, stamina) that only a provider's fetch or a webhook needs,
nor genai-prices, which only pricing new calls needs. They were ~0.1 s of its ~0.6 s."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sources.claude_logs import assistant, session_file, user, write
from tests.test_cli import imported, run

STAMP = "2026-11-02T10:00:00.000Z"  # any fixed moment: the period asked for is that day
UNUSED = ("httpx2", "stamina", "genai_prices")


@pytest.mark.parametrize("as_json", [False, True], ids=["table", "json"])
def test_a_warm_report_imports_no_http_client_nor_genai_prices(home: Path, as_json: bool) -> None:
    claude = home / "claude"
    write(session_file(claude, "s1"), assistant("msg_1", "req_1", STAMP), user(STAMP))
    assert run("ingest").returncode == 0  # read in: the report below has nothing new to read
    args = ["report", "--group-by", "day", "--period", STAMP[:10], *(["--json"] if as_json else [])]
    shown = run(*args)
    assert shown.returncode == 0, shown.stderr
    assert "2026-11-02" in shown.stdout  # the call is in the answer
    assert imported(args, UNUSED) == set()


def test_results_are_built_on_first_use_and_all_before_a_server_answers() -> None:
    """models.py defers each result's validator and serializer (~50 ms of every command's start);
    a server builds them all on import, before its worker threads answer."""
    probe = (
        "import json\n"
        "from cost_mcp import models\n"
        "def results():\n"
        "    pending, found = [models.Result], []\n"
        "    while pending:\n"
        "        found.append(pending.pop())\n"
        "        pending.extend(found[-1].__subclasses__())\n"
        "    return found\n"
        "before = sum(m.__pydantic_complete__ for m in results())\n"
        "import cost_mcp.server\n"
        "print(json.dumps([before, len(results()), sum(m.__pydantic_complete__ for m in results())]))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    before, count, after = json.loads(done.stdout)
    assert count > 50
    assert before == 0
    assert after == count
