"""Keeping the ledger fresh before a question is answered.

Queries call :func:`refresh` first, so nobody has to run a refresh tool by hand: new Claude Code log
lines are read (incrementally, usually in milliseconds) within a time budget. A scan that runs out
of budget keeps what it read and the next query continues it.
"""

from __future__ import annotations

import logging
import sqlite3

from cost_mcp.config import Settings
from cost_mcp.models import IngestResult
from cost_mcp.pricing import Pricer
from cost_mcp.sources import claude_code

logger = logging.getLogger(__name__)


def refresh(conn: sqlite3.Connection, settings: Settings, pricer: Pricer) -> IngestResult:
    """Read new log lines within ``settings.refresh_budget_seconds``."""
    result = claude_code.ingest(conn, settings, pricer, budget_seconds=settings.refresh_budget_seconds)
    if result.events_added:
        logger.info("read %d new Claude Code call(s) in %.3fs", result.events_added, result.seconds)
    return result
