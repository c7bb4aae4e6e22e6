"""Every log record a server makes, scrubbed of the provider keys before any handler writes it.

Installed by the servers' logging setup: :func:`server_logging` for stdio, ``serve --http`` and each
``serve --http --workers`` process (web/http.py), after :func:`command_logging`, every process's
format. What a key looks like, in every form it is sent or echoed in, is the sources'
(:func:`cost_mcp.sources.http.scrub_keys`).
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cost_mcp.config import Settings

_TRACEBACKS = logging.Formatter()

LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"
"""One record, one line: what every cost-mcp process writes on stderr."""


def command_logging(*, replace: bool = False) -> None:
    """Warnings and errors on stderr, one line each (:data:`LOG_FORMAT`): a person reads the
    command's own output, and "INFO cost_mcp.sync: read 12 new Claude Code call(s)" before every
    table was noise (servers log at INFO: :func:`server_logging`). ``replace`` drops handlers set
    before (a ``serve --http --workers`` process, where the MCP SDK's import installed its own)."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format=LOG_FORMAT, force=replace)
    # A budget alert is shown in the answer that takes it ("alert: ..." lines, once); its log line
    # printed it a second time on stderr, in the middle of the table.
    logging.getLogger("cost_mcp.analytics.alerts").setLevel(logging.ERROR)
    # httpx2 logs every request at INFO; our own sync log says what matters, once per source.
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    # stamina logs each scheduled retry (dozens when offline); the sync table says each source's
    # state once, and a failure's cause is in its row.
    logging.getLogger("stamina").setLevel(logging.ERROR)


def server_logging(loaded: Settings) -> None:
    """Log at INFO, alerts included, for a server: its stderr is the operator's (or the MCP host's)
    record of what it read, synced and fired; a command's answer is the person's. Every record is
    scrubbed of the provider keys ``loaded`` holds, the MCP SDK's tracebacks included."""
    from cost_mcp.store.connection import set_lock_wait_teller

    scrub_log_records(loaded)
    logging.getLogger().setLevel(logging.INFO)
    logging.getLogger("cost_mcp.analytics.alerts").setLevel(logging.NOTSET)
    # The SDK's stateless HTTP transport says "Terminating session: None" at INFO after every MCP
    # request: a team's agents asking check_budget before each call buried the server's own lines.
    logging.getLogger("mcp.server.streamable_http").setLevel(logging.WARNING)
    # A server's writes wait for the lock unseen (its answers say when they did not wait): telling a
    # person who is not watching, from many threads, is only noise in the host's log.
    set_lock_wait_teller(None)


def scrub_log_records(settings: Settings) -> None:
    """Scrub every log record this process makes from now on as errors are (:func:`scrub_keys`):
    its message with its arguments, its traceback and its stack, whichever logger (ours, the MCP
    SDK's, uvicorn's) and handler it goes to. For a server, whose stderr is kept (a file the MCP
    host writes, a team server's journal): the MCP SDK logs a crashing tool's traceback with
    ``logger.exception``, whatever text its exceptions quote. Installed once per process; a later
    call only changes the keys it scrubs (``settings``, loaded again), never wraps it twice."""
    from cost_mcp.sources.http import scrub_keys  # here: a command's start need not import httpx2

    make = logging.getLogRecordFactory()
    installed: list[Settings] | None = getattr(make, "scrubs_keys_of", None)
    if installed is not None:
        installed[0] = settings
        return
    current = [settings]

    def record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        rec = make(*args, **kwargs)
        try:
            text = rec.getMessage()
        except Exception:  # arguments that do not fit the message: logging reports both, so both
            text = f"{rec.msg} % {rec.args!r}"
        # Warnings, errors and tracebacks carry what went wrong, provider text among it: scrubbed
        # of every disguise. The progress lines below them (the server's start, what a scan read)
        # of the key's forms as sent: the disguises' pattern would be built at start-up, a few
        # tenths of a second before the first answer.
        thorough = rec.levelno >= logging.WARNING or bool(rec.exc_info) or bool(rec.stack_info)
        keys = current[0]
        scrubbed = scrub_keys(keys, text, thorough=thorough)
        if scrubbed != text:  # else left whole: a formatter may read the arguments (uvicorn's access log)
            rec.msg, rec.args = scrubbed, None
        if rec.exc_info:
            # The formatted chain (causes and contexts included), in place of the exception itself:
            # a handler formatting it again would bring the raw text back.
            rec.exc_text = scrub_keys(keys, _TRACEBACKS.formatException(rec.exc_info))
            rec.exc_info = None
        if rec.stack_info:
            rec.stack_info = scrub_keys(keys, rec.stack_info)
        return rec

    record.scrubs_keys_of = current  # type: ignore[attr-defined]
    logging.setLogRecordFactory(record)
