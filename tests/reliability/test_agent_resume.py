"""Every other agent's reader, read by a process that dies between two of its writes and then read
again: the ledger after the resumed read is the ledger of one read that never died, row for row.

A read writes a batch whenever it holds enough calls, often in the middle of a file, and stores a
file's offset only once the file is read; a read that dies in between leaves the next one to read
that file again from its stored offset. What it gives again must then add nothing: a call is
stored under its key, a plan reading only with its file's offset. Each agent's layout is the fuzz
suite's (tests/reliability/test_agent_fuzz.py), written a batch per call so that the deaths fall
inside files and databases.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from cost_mcp.config import Settings, load_settings
from cost_mcp.sources.agents import scanner
from cost_mcp.store.connection import connect
from tests.conftest import copy_migrated, isolation
from tests.reliability.test_agent_fuzz import AGENTS, BY_NAME, Agent, scan, stored
from tests.sources.test_agents_worker import Killed, killed_after


def _ledger(cfg: Settings) -> dict[str, list[tuple[Any, ...]]]:
    """What a read leaves: the calls, the plan readings, each file's stored offset and parser state,
    the lines it skipped."""
    conn = connect(cfg.db)
    try:
        return {
            "usage_events": stored(conn),
            "plan_limit_readings": [
                tuple(r)
                for r in conn.execute(
                    'SELECT ts_ms, agent, "window", used_percent, resets_at_ms, session_id '
                    "FROM plan_limit_readings ORDER BY id"
                )
            ],
            "agent_files": [
                tuple(r)
                for r in conn.execute(
                    'SELECT path, size, "offset", head, state FROM agent_files ORDER BY path'
                )
            ],
            "skipped_lines": [
                tuple(r)
                for r in conn.execute("SELECT path, reason, lines FROM skipped_lines ORDER BY path, reason")
            ],
        }
    finally:
        conn.close()


def _read(cfg: Settings, agent: Agent) -> None:
    conn = connect(cfg.db)
    try:
        scan(conn, cfg, agent)
    finally:
        conn.close()


def _died_after(batches: int, cfg: Settings, agent: Agent) -> bool:
    """Read ``agent``'s layout into ``cfg``'s ledger, the reading process dying as it is about to
    write its batch ``batches + 1``, then read it again; False if the read was whole before that."""
    with mock.patch.object(scanner._Writer, "flush", killed_after(batches)):
        try:
            _read(cfg, agent)
        except Killed:
            pass
        else:
            return False
    _read(cfg, agent)
    return True


@pytest.mark.parametrize("name", [a.name for a in AGENTS])
def test_a_read_that_died_and_is_read_again_stores_what_one_read_stores(
    home: Path, tmp_path: Path, sqlite_template: Path, name: str
) -> None:
    """Killed after each of its batches in turn (fresh SQLite ledgers), and after its first on the
    test's ledger (each engine): each time, the ledger one read that never died leaves."""
    agent = BY_NAME[name]
    root = tmp_path / "layout"
    agent.build(root)
    values, _ = isolation(root)

    def settings_at(db: str) -> Settings:
        return load_settings({**values, "COST_MCP_DB": db}, env_file=root / "absent")

    def fresh(n: str) -> Settings:
        copy_migrated(sqlite_template, root / n / "cost.db")
        return settings_at(str(root / n / "cost.db"))

    with mock.patch.object(scanner, "BATCH_EVENTS", 1):  # a batch per call: deaths inside files
        alone = fresh("alone")
        _read(alone, agent)
        expected = _ledger(alone)
        assert expected["usage_events"], f"{name}'s layout gives no call"
        deaths = 0
        while _died_after(deaths, died := fresh(f"died-{deaths}"), agent):
            assert _ledger(died) == expected, f"{name}: killed after batch {deaths}"
            deaths += 1
        assert deaths >= 2, f"{name}'s layout is read in fewer than two batches: no death inside it"
        on_engine = settings_at(str(load_settings().db))
        assert _died_after(1, on_engine, agent)
        assert _ledger(on_engine) == expected
