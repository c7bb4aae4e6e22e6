"""Many worker processes at once for the price of one process start.

A spawned worker imports what its target needs itself (pytest's ``__main__`` and the test's module
with cost_mcp: ~0.5-1.2 s of CPU each). Eight of them cost a 2-core machine 4-10 s of CPU, and
tens of seconds when other work shared it. :func:`start` spawns one process, with the test's
environment and clock (tests/tools/site) as any spawned process, which imports the code once and
forks a worker per argument tuple: each worker is its own process, with its own connections, as
separate from the others as a spawned one, since it is forked before any connection or thread.
"""

from __future__ import annotations

import importlib
import multiprocessing
import sys
from collections.abc import Callable, Sequence
from multiprocessing.process import BaseProcess
from typing import Any


def _fork_each(target: Callable[..., None], each: Sequence[tuple[Any, ...]]) -> None:
    """Run ``target(*args)`` in a forked process per ``args`` of ``each``; exit 1 if any failed."""
    # The ledger's code and its PostgreSQL driver, which connect() imports at its first call: once
    # here, not in each worker (importing them opens nothing).
    importlib.import_module("cost_mcp.store.postgres")
    fork = multiprocessing.get_context("fork")
    workers = [fork.Process(target=target, args=args) for args in each]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    failed = [w.exitcode for w in workers if w.exitcode != 0]
    if failed:
        sys.stderr.write(f"{len(failed)} of {len(workers)} workers failed: exit codes {failed}\n")
    sys.exit(1 if failed else 0)


def start(target: Callable[..., None], each: Sequence[tuple[Any, ...]]) -> BaseProcess:
    """Start a worker process running ``target(*args)`` for each ``args`` of ``each`` (a module-level
    function; arguments such as a Barrier or Queue made by the spawn context). The process returned
    exits 0 once every worker exited 0: join it and assert so."""
    fleet = multiprocessing.get_context("spawn").Process(target=_fork_each, args=(target, list(each)))
    fleet.start()
    return fleet
