"""Keeping the ledger fresh before a question is answered.

Queries call :func:`refresh` first, so nobody has to run a refresh tool by hand: new Claude Code log
lines are read (incrementally, usually in milliseconds) within a time budget. A scan that runs out
of budget keeps what it read and the next query continues it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

from cost_mcp.config import Settings
from cost_mcp.models import IngestResult
from cost_mcp.pricing import Pricer
from cost_mcp.sources import claude_code

logger = logging.getLogger(__name__)


def refresh(conn: sqlite3.Connection, settings: Settings, pricer: Pricer) -> IngestResult:
    """Bring every source up to date before a question is answered."""
    return refresh_local(conn, settings, pricer)


def refresh_local(conn: sqlite3.Connection, settings: Settings, pricer: Pricer) -> IngestResult:
    """Read new log lines within ``settings.refresh_budget_seconds`` (no network), and fire any
    budget threshold they push over."""
    result = claude_code.ingest(conn, settings, pricer, budget_seconds=settings.refresh_budget_seconds)
    if result.events_added:
        logger.info("read %d new Claude Code call(s) in %.3fs", result.events_added, result.seconds)
        fire_alerts(conn, settings)
    return result


def fire_alerts(conn: sqlite3.Connection, settings: Settings) -> threading.Thread | None:
    """Fire budget thresholds crossed since the last check, POSTing any with a webhook.

    The webhook thread is returned so tests can wait for it; callers never need to.
    """
    from cost_mcp import notify
    from cost_mcp.analytics.budgets import evaluate_alerts

    fired = evaluate_alerts(conn, settings)
    for _, message, _ in fired:
        logger.warning("%s", message)
    return notify.deliver([(b.webhook_url, payload) for b, _, payload in fired if b.webhook_url])
