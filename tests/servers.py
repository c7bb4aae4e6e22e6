"""Server processes (``cost-mcp serve --http``) for the price of a fork, not of a Python start.

A ``python -m cost_mcp serve --http`` process spends some 2 s of CPU importing the MCP SDK, the
web stack and the ledger's code before it listens, and the team tests start one or more per test:
on a 2-core machine shared with other work, minutes of a suite run. :func:`start` asks a zygote (a
multiprocessing forkserver, started once per test run, that imported that code) to fork the
server instead: each is still a process of its own, with its own environment, ledger, port and
stderr, started by :func:`cost_mcp.launcher.main` with the command line a spawned one gets; it is
forked before any connection, thread or event loop exists, so it shares nothing with the others.

What the fork cannot give a server, :func:`start` leaves to a real process (it returns None): a
command prefix (``setpriv``), ``--workers`` (the workers are spawned by the server itself, and
the forkserver's child is no ``__main__`` of its own to spawn from) and an environment whose
``PYTHONPATH`` differs from this run's (another version's code, ``old_server_env``).

Coverage: the suite's (pytest-cov) is measured in the pytest process only; neither a spawned
server nor a forked one is measured, as before this module.
"""

from __future__ import annotations

import contextlib
import importlib.util
import multiprocessing
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Protocol

SITE = Path(__file__).resolve().parent / "tools" / "site"
"""tests/tools/site: its sitecustomize sets a process's clock (tests/tools/fakeclock.py)."""

_PRELOAD = ["tests.servers_preload"]
"""What a server imports before it listens: once, in the zygote."""

_PYTHONPATH = os.environ.get("PYTHONPATH", "")
"""This run's ``PYTHONPATH``: the code the zygote imported. A server asked for with another is
spawned (another version's code)."""


class ServerProcess(Protocol):
    """What the tests do with a server process: a :class:`subprocess.Popen` or a :class:`Forked`."""

    @property
    def pid(self) -> int: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def terminate(self) -> None: ...

    def kill(self) -> None: ...


class Forked:
    """A server forked by the zygote, with :class:`subprocess.Popen`'s ways to watch and end it
    (``returncode`` -N for a server ended by signal N, as Popen's)."""

    def __init__(self, process: BaseProcess, argv: Sequence[str]) -> None:
        self._process = process
        self._argv = list(argv)

    @property
    def pid(self) -> int:
        """The server's process id."""
        assert self._process.pid is not None
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        """The exit code, None while it runs."""
        return self._process.exitcode

    def poll(self) -> int | None:
        """The exit code if the server has exited, else None."""
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the server to exit; :class:`subprocess.TimeoutExpired` after ``timeout`` s."""
        self._process.join(timeout)
        code = self._process.exitcode
        if code is None:
            raise subprocess.TimeoutExpired(self._argv, timeout or 0)
        return code

    def send_signal(self, sig: int) -> None:
        """Send signal ``sig`` to the server; nothing once it has exited, as Popen's (a server
        stopped by the test is stopped again by its fixture)."""
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # it exited since
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        """SIGTERM, as :meth:`subprocess.Popen.terminate`."""
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL, as :meth:`subprocess.Popen.kill`."""
        self.send_signal(signal.SIGKILL)


def _paths(pythonpath: str) -> list[str]:
    """``pythonpath``'s entries, without tests/tools/site (which sets the clock, not the code)."""
    return [p for p in pythonpath.split(os.pathsep) if p and Path(p).resolve() != SITE]


def _zygote() -> multiprocessing.context.ForkServerContext:
    """The forkserver context, its server started (once) with the imports of :data:`_PRELOAD` and
    the real clock: a test's clock (``COST_MCP_FAKECLOCK_OFFSET``) is each forked server's own."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    offset = os.environ.pop("COST_MCP_FAKECLOCK_OFFSET", None)
    try:
        from multiprocessing import forkserver

        forkserver.ensure_running()
    finally:
        if offset is not None:
            os.environ["COST_MCP_FAKECLOCK_OFFSET"] = offset
    return context


def start(argv: Sequence[str], env: Mapping[str, str], stderr: Path) -> Forked | None:
    """``python -m cost_mcp *argv`` with environment ``env``, stdout to /dev/null and stderr
    appended to ``stderr``, forked by the zygote; None where only a spawned process will do (see
    the module's docstring): the caller spawns it."""
    if "--workers" in argv or _paths(env.get("PYTHONPATH", "")) != _paths(_PYTHONPATH):
        return None
    process = _zygote().Process(target=_serve, args=(list(argv), dict(env), str(stderr)))
    process.start()
    return Forked(process, argv)


def _serve(argv: list[str], env: dict[str, str], stderr: str) -> None:
    """In the forked server: become what ``python -m cost_mcp *argv`` started with ``env`` would be,
    then run it."""
    os.environ.clear()
    os.environ.update(env)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    log = os.open(stderr, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 2)
    os.close(devnull)
    os.close(log)
    if SITE in [Path(p).resolve() for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]:
        # The clock a spawned process would read: its sitecustomize runs at start.
        spec = importlib.util.spec_from_file_location("sitecustomize", SITE / "sitecustomize.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["sitecustomize"] = module
        spec.loader.exec_module(module)
    from cost_mcp import __main__ as entry
    from cost_mcp.launcher import main

    sys.argv = [str(entry.__file__), *argv]
    sys.exit(main(argv))
