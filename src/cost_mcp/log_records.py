"""Every log record a server makes, scrubbed of the provider keys before any handler writes it.

Installed by the servers' logging setup: ``server_logging`` (cli/app.py) for stdio and ``serve --http``,
and each ``serve --http --workers`` process (web/http.py). What a key looks like, in every form it is
sent or echoed in, is the sources' (:func:`cost_mcp.sources.http.scrub_keys`).
"""

from __future__ import annotations

import logging
from typing import Any

from cost_mcp.config import Settings
from cost_mcp.sources.http import scrub_keys

_TRACEBACKS = logging.Formatter()


def scrub_log_records(settings: Settings) -> None:
    """Scrub every log record this process makes from now on as errors are (:func:`scrub_keys`):
    its message with its arguments, its traceback and its stack, whichever logger (ours, the MCP
    SDK's, uvicorn's) and handler it goes to. For a server, whose stderr is kept (a file the MCP
    host writes, a team server's journal): the MCP SDK logs a crashing tool's traceback with
    ``logger.exception``, whatever text its exceptions quote. Installed once per process; a later
    call only changes the keys it scrubs (``settings``, loaded again), never wraps it twice."""
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
