"""A provider key never reaches the server log, not even inside an exception chain's tracebacks."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

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


CRASHING_SERVER = """
import os, sys

# The server's stderr (what an MCP host keeps in a log file) into a file the test reads.
os.dup2(os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 2)
import cost_mcp.analytics.plan_limits as plan_limits

KEY = os.environ["OPENAI_ADMIN_KEY"]


def crash(*args, **kwargs):
    # A tool's bug tripping over provider text that echoed the key: raw in the cause, spaced out
    # and as HTML references in what escapes.
    try:
        raise ValueError(f"provider said: invalid key {KEY}")
    except ValueError as exc:
        refs = "".join(f"&#{ord(c)};" for c in KEY)
        raise RuntimeError(f"could not read {' '.join(KEY)} / {refs}") from exc


plan_limits.plan_limits = crash
from cost_mcp.launcher import main

sys.argv[1:] = []
sys.exit(main())
"""


@pytest.mark.anyio
async def test_a_crashing_tools_traceback_reaches_the_server_log_without_the_key(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tool raising an unexpected exception is logged by the MCP SDK itself (UnexpectedToolError,
    ``logger.exception``): its traceback, the whole chain, went to the server's stderr unscrubbed,
    with whatever provider text the exceptions quoted, the key included. Every record the server
    logs is scrubbed now: the traceback is still there, and the key in none of its forms."""
    from mcp import Client, StdioServerParameters

    from tests.test_server import server_env

    log = tmp_path / "server.err"
    env = {**server_env(home), "OPENAI_ADMIN_KEY": OPENAI_KEY, "COST_MCP_SYNC_SKIP": "openai"}
    params = StdioServerParameters(command=sys.executable, args=["-c", CRASHING_SERVER, str(log)], env=env)
    async with Client(params) as c:
        result = await c.call_tool("plan_limits", {})
    assert result.is_error
    logged = log.read_text()
    assert "Tool 'plan_limits' raised an unexpected exception" in logged
    assert "RuntimeError: could not read" in logged and "ValueError: provider said" in logged
    assert OPENAI_KEY not in logged and " ".join(OPENAI_KEY) not in logged
    assert f"&#{ord(OPENAI_KEY[0])};&#{ord(OPENAI_KEY[1])};" not in logged
    assert OPENAI_KEY[8:24] not in logged


def test_every_record_a_server_logs_is_scrubbed_whatever_its_logger_and_level(
    settings: Settings, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scrubbing is the records' own (one factory for the process), not one logger's: an INFO
    line of a library's logger, its arguments included, loses the key as a warning does; a warning
    loses it in disguise too. Installed first with settings that held no key (as an earlier server
    in the same process, or this suite's earlier tests, did), it scrubs the keys of the latest."""
    from cost_mcp.log_records import scrub_log_records

    before = logging.getLogRecordFactory()
    try:
        with monkeypatch.context() as no_key:
            no_key.delenv("OPENAI_ADMIN_KEY")
            scrub_log_records(load_settings())
        scrub_log_records(settings)
        scrub_log_records(settings)  # once: a second call wraps nothing again
        with caplog.at_level(logging.INFO):
            logging.getLogger("uvicorn.error").info("peer sent %s", OPENAI_KEY.upper())
            logging.getLogger("mcp.server").warning("tool failed: %s", " ".join(OPENAI_KEY))
            logging.getLogger("uvicorn.access").info('%s - "%s %s"', "127.0.0.1:5", "GET", "/healthz")
    finally:
        logging.setLogRecordFactory(before)
    assert [r.getMessage() for r in caplog.records] == [
        "peer sent [redacted]",
        "tool failed: [redacted]",
        '127.0.0.1:5 - "GET /healthz"',
    ]
    # A record with nothing to scrub keeps its arguments: uvicorn's access formatter reads them.
    assert caplog.records[2].args == ("127.0.0.1:5", "GET", "/healthz")
