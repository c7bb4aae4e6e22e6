"""A provider key never reaches the server log, not even inside an exception chain's tracebacks."""

from __future__ import annotations

import logging

import anyio
import pytest

from cost_mcp.config import Settings, load_settings
from cost_mcp.pricing import Pricer
from cost_mcp.sources.billing import Feed, Window
from cost_mcp.store.buckets import DAY_MS
from cost_mcp.sync import Plan, SourceSpec, fetch_sources
from tests.sources.fake_providers import OPENAI_KEY


@pytest.fixture
def settings(home: object, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", OPENAI_KEY)
    return load_settings()


async def _crashing_fetch(client: object, pricer: Pricer, window: Window) -> list[Feed]:
    """A fetcher with a bug that trips over an answer echoing the key: the key sits in the cause
    and in the context of what finally escapes, never in its own message."""
    try:
        try:
            raise ValueError(f"unexpected currency {OPENAI_KEY!r}")
        except ValueError as parse_error:
            raise RuntimeError("could not read the page") from parse_error
    except RuntimeError:
        raise KeyError("amount")  # noqa: B904 (the implicit __context__ is what this test is about)


def test_an_unexpected_sync_failure_logs_its_traceback_without_the_key(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """A fetcher bug was logged with logger.exception: the whole chain, __cause__ and __context__
    included, went to the server's stderr (a file the MCP host keeps) with the key in it as the
    provider had echoed it. The traceback is still there, and the key is not."""
    spec = SourceSpec("openai_costs", "openai", _crashing_fetch, "")
    plan = Plan(spec, Window(20_000 * DAY_MS, 20_001 * DAY_MS))
    with caplog.at_level(logging.ERROR, logger="cost_mcp.sync"):
        [outcome] = anyio.run(lambda: fetch_sources([plan], settings, Pricer(), budget=10))
    assert outcome.error == "internal error (KeyError); see the server log"
    logged = caplog.text
    assert "syncing openai_costs failed unexpectedly" in logged
    assert "could not read the page" in logged and "unexpected currency" in logged  # the chain is kept
    assert OPENAI_KEY not in logged
    assert OPENAI_KEY[8:24] not in logged
