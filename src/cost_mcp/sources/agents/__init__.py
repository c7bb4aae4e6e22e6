"""Other coding agents' local logs, one module per agent on one shared scanner (``scanner.py``).

To add an agent: write its module (where its files are, how a line becomes events) and add its
``LOG`` to :data:`AGENTS`.
"""

from __future__ import annotations

import time

from cost_mcp.agent_folders import AgentFolderPaths
from cost_mcp.pricing import Pricer
from cost_mcp.sources.agents import (
    amp,
    cline,
    codebuff,
    codex,
    copilot,
    crush,
    droid,
    gemini_cli,
    goose,
    hermes,
    kilo_cli,
    kimi,
    openclaw,
    opencode,
    pi,
    qwen_code,
)
from cost_mcp.sources.agents.scanner import AgentLog, AgentScan, note_no_folders, scan
from cost_mcp.store.connection import Conn

__all__ = ["AGENTS", "LABELS", "SOURCES", "AgentLog", "AgentScan", "ingest_all", "note_no_folders", "scan"]

AGENTS: tuple[AgentLog, ...] = (
    codex.LOG,
    gemini_cli.LOG,
    opencode.LOG,
    amp.LOG,
    copilot.LOG,
    *cline.LOGS,
    qwen_code.LOG,
    goose.LOG,
    pi.LOG,
    kimi.LOG,
    hermes.LOG,
    codebuff.LOG,
    crush.LOG,
    droid.LOG,
    kilo_cli.LOG,
    openclaw.LOG,
)
SOURCES: tuple[str, ...] = tuple(a.source for a in AGENTS)
LABELS: dict[str, str] = {a.source: a.label for a in AGENTS}
"""Each agent's source and its name as people write it (``gemini_cli``: "Gemini CLI")."""


def ingest_all(
    conn: Conn,
    settings: AgentFolderPaths,
    pricer: Pricer,
    *,
    budget_seconds: float | None = None,
    full: bool = False,
) -> list[AgentScan]:
    """Read what is new in every registered agent's logs, within ``budget_seconds`` in all;
    ``full``: every file again from its start (:func:`scanner.scan`)."""
    deadline = time.perf_counter() + budget_seconds if budget_seconds is not None else None
    scans = [scan(conn, fmt, settings, pricer, deadline=deadline, full=full) for fmt in AGENTS]
    note_no_folders(conn, settings, [fmt for fmt, done in zip(AGENTS, scans, strict=True) if not done.roots])
    return scans
