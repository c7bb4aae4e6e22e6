"""Parsing beside the writer: a forked worker parses a large read while this process writes.

The one mechanism both log readers use for a large read (Claude Code's logs in
``sources/claude_code.py``, the agents' logs in ``sources/agents/scanner.py``): :func:`may_fork`
says whether a worker may be forked here, :func:`fork_beside` forks it, :func:`pump_all` moves its
messages into a bounded queue (:data:`AHEAD_BATCHES`) and :func:`end_all` ends it. What a worker
sends and how its batches are written stays with each reader.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

PARSE_WORKER = True
"""Whether a large read parses in a forked worker while this process writes (either reader):
benchmarks turn it off to time the whole read in one process."""

AHEAD_BATCHES = 3
"""How many batches the parse worker may run ahead of the writer: on a busy machine the two are not
always scheduled at the same time, and a one-message pipe would make each wait for the other."""


def can_fork() -> bool:
    """Whether a parse worker can be forked safely and has a core of its own to run on.

    Only from a process with a single thread (the CLI, a benchmark): forking a threaded process
    (the MCP server, a progress bar's refresh thread) can copy a lock another thread held.
    """
    import multiprocessing

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return cores > 1 and threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods()


def may_fork() -> bool:
    """Whether a large read parses beside the writer here: the switch is on and it can fork."""
    return PARSE_WORKER and can_fork()


def fork_beside(target: Callable[..., None], *args: Any) -> tuple[Any, Any]:
    """Fork a parse worker running ``target(send, receive, *args)``: the process and the pipe end
    its messages arrive on. The one way a reader parses on the second core (Claude Code's logs,
    and the agents' scanner for a large read): ``target`` starts with
    :func:`leave_interrupts_to_writer`, closes ``receive``, and sends bytes on ``send`` through
    :func:`ship_then_exit`, which leaves the process; the writer reads them through :func:`pump_all`
    and ends with :func:`end_all`.
    ``args`` are not pickled: the child has them as the fork copied them."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    worker = ctx.Process(target=target, args=(send, receive, *args), daemon=True)
    with interrupts_held():
        worker.start()
    send.close()
    return worker, receive


def ship_then_exit(send: Any, work: Callable[[], None], child: int = 0) -> NoReturn:
    """In a forked worker: run ``work`` (which sends its batches and totals on ``send``), then leave
    the process. A writer that stopped (a broken pipe) is no error here: it reports its own. Any
    other failure is printed to stderr and the worker exits 1: the writer sees the pipe end without
    totals and reads the rest in turn. Left by ``os._exit``, as a forked child should: no flush of
    standard streams the parent had buffered (multiprocessing's exit path flushes stdout, which in
    the stdio server is the MCP channel), no close of the ledger connection the fork copied.

    ``child``: a worker this one forked (see :func:`die_with_parent`), waited for before a normal
    exit, which would end it mid-read; on a failure it ends with this process."""
    try:
        work()
    except BrokenPipeError:
        pass
    except BaseException:
        import traceback

        traceback.print_exc()
        os._exit(1)
    finally:
        send.close()
    if child:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(child, 0)
    os._exit(0)


def die_with_parent(parent: int) -> None:
    """In a process just forked by ``parent``: be killed when that process ends (Linux), so that a
    writer that kills its worker (a failure, Ctrl-C) ends the worker's own child too, which it
    cannot reach. Elsewhere the child ends at its next send, on the pipe its writer closed."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    if os.getppid() != parent:  # the parent ended before the request took effect
        os._exit(1)


def pump_all(
    receives: list[Any],
) -> tuple[queue.Queue[tuple[int, bytes | None]], list[threading.Thread]]:
    """A thread per worker moving its messages from its pipe into one bounded queue
    (:data:`AHEAD_BATCHES` a worker): each message with the index of the pipe it came on, and each
    pipe's end as ``(index, None)``."""
    inbox: queue.Queue[tuple[int, bytes | None]] = queue.Queue(maxsize=AHEAD_BATCHES * len(receives))

    def run(which: int, receive: Any) -> None:
        try:
            while True:
                inbox.put((which, receive.recv_bytes()))
        except (EOFError, OSError):
            pass
        inbox.put((which, None))

    threads = [
        threading.Thread(target=run, args=(which, receive), name="cost-mcp-parse-pump", daemon=True)
        for which, receive in enumerate(receives)
    ]
    for thread in threads:
        thread.start()
    return inbox, threads


def end_all(
    workers: list[tuple[Any, Any]],
    inbox: queue.Queue[tuple[int, bytes | None]],
    threads: list[threading.Thread],
    done: bool,
) -> None:
    """After the writer's last message from ``workers``, the ``(process, receiving end)`` pairs
    :func:`pump_all` read (or its failure): kill workers not ``done`` (nothing more of them is
    wanted), drain and join the pumps, close the pipes, reap the processes."""
    if not done:
        for worker, _ in workers:
            worker.kill()
    # The pumps end at the ends of their pipes; drained so that none is ever stuck on a full queue.
    while any(thread.is_alive() for thread in threads):
        with contextlib.suppress(queue.Empty):
            inbox.get(timeout=0.05)
    for thread in threads:
        thread.join()
    for worker, receive in workers:
        receive.close()
        worker.join()


@contextlib.contextmanager
def interrupts_held() -> Iterator[None]:
    """Hold back Ctrl-C while a worker is forked, so that it cannot land in the child before
    :func:`leave_interrupts_to_writer` (a pending one reaches this process when the fork is done)."""
    import signal

    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def leave_interrupts_to_writer() -> None:
    """In a forked worker: ignore Ctrl-C, which the terminal sends to the whole process group.

    The worker printed a KeyboardInterrupt traceback under the command's "aborted"; the writer
    is the one that stops the load (and kills this process, see :func:`end_all`), and the
    command says what happened. A worker whose writer is gone otherwise ends on its pipe.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # before unblocking: a pending one is discarded
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
