"""Started by every Python process whose PYTHONPATH holds this folder (see tests/tools/fakeclock.py).

With ``COST_MCP_FAKECLOCK_OFFSET`` set (seconds, fake minus real), the wall clock (``time.time``,
``datetime.now``, ``date.today``...) reads that much off the real one and keeps ticking, through
time_machine; monotonic clocks are left alone. Every process that inherits the environment (the
suite's CLI and server subprocesses) reads the same moment; programs that are not Python (the
PostgreSQL server, Chromium) keep the real clock.
"""

from __future__ import annotations

import os
from typing import Any

_travels: list[Any] = []
"""The travel under way (at most one)."""


def restart(at: float) -> None:
    """Set this process's clock to ``at`` (a POSIX timestamp), ticking on, and the offset its
    children inherit to match."""
    import time

    import time_machine

    while _travels:
        _travels.pop().stop()
    real = time.time()
    os.environ["COST_MCP_FAKECLOCK_OFFSET"] = repr(at - real)
    travel = time_machine.travel(at, tick=True)
    travel.start()
    _travels.append(travel)


_offset = os.environ.get("COST_MCP_FAKECLOCK_OFFSET")
if _offset:
    import time

    restart(time.time() + float(_offset))
