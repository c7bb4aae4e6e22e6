"""A sync killed with SIGKILL in the middle of fetching leaves the previous data exactly as it was;
the next sync completes, and each bucket is counted once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

from cost_mcp.store import connect
from cost_mcp.store.connection import dialect
from tests.sources.fake_providers import local_server
from tests.test_providers_mcp import COSTS, ago, router

pytestmark = pytest.mark.slow


def _sync(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "cost_mcp", "sync", "--json"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _billed(db: Path | str) -> tuple[int, int]:
    with closing(connect(db)) as conn:
        if dialect(conn) == "sqlite":
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows, nanos = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(cost_nanos), 0) FROM provider_buckets WHERE provider = 'openai' "
            "AND kind = 'cost'"
        ).fetchone()
    return int(rows), int(nanos)


def test_sigkill_mid_sync_keeps_previous_data_then_completes(home: Path, clock: None) -> None:
    # On the clock fixture (noon): router() dates its reports two to four days back, and the late
    # row below is added under "two days back" again, seconds later; a test that started just
    # before midnight looked for that day after it, and found no such report (KeyError).
    fakes = router()
    slow = {"on": False}
    fetching = threading.Event()
    answer = fakes.openai.answer

    def maybe_slow(request):  # type: ignore[no-untyped-def]
        if slow["on"]:
            fetching.set()
            time.sleep(0.5)
        return answer(request)

    fakes.openai.answer = maybe_slow  # type: ignore[method-assign]
    with local_server(fakes) as url:
        env = {
            **os.environ,
            "COST_MCP_OPENAI_BASE_URL": url,
            "COST_MCP_ANTHROPIC_BASE_URL": url,
            "OPENAI_ADMIN_KEY": fakes.openai.key,
            "ANTHROPIC_ADMIN_KEY": fakes.anthropic.key,
        }
        db = env["COST_MCP_DB"]
        first = _sync(env)
        assert first.wait(120) == 0
        before = _billed(db)
        assert before == (2, 3_810_000_000)  # two days; the two undimensioned rows of one day add up
        # Late data arrives for a day already synced; the next sync is slow and killed while it fetches.
        fakes.openai.reports[COSTS][ago(2).isoformat()].append(
            {"object": "organization.costs.result", "amount": {"value": "1.00", "currency": "usd"}}
        )
        slow["on"] = True
        killed = _sync(env)
        # Killed once its first request is under way, whenever its start brought it there: a fixed
        # 1.5 s was most of the test's time, and on a loaded machine not always enough to be there.
        assert fetching.wait(60), "the sync never asked OpenAI for its costs"
        assert killed.poll() is None, "the sync should still be fetching"
        killed.send_signal(signal.SIGKILL)
        killed.wait(30)
        assert _billed(db) == before
        slow["on"] = False
        again = _sync(env)
        assert again.wait(120) == 0
    assert _billed(db) == (2, 4_810_000_000)  # the day replaced, not added to
