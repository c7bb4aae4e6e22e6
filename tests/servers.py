"""Server processes (``cost-mcp serve --http``) and CLI commands for the price of a fork, not of a
Python start.

A ``python -m cost_mcp serve --http`` process spends some 2 s of CPU importing the MCP SDK, the
web stack and the ledger's code before it listens, and the team tests start one or more per test:
on a 2-core machine shared with other work, minutes of a suite run. :func:`start` asks a zygote (a
multiprocessing forkserver, started once per test run, that imported that code) to fork the
server instead: each is still a process of its own, with its own environment, ledger, port and
stderr, started by :func:`cost_mcp.launcher.main` with the command line a spawned one gets; it is
forked before any connection, thread or event loop exists, so it shares nothing with the others.
:func:`run` does the same for a CLI command (a laptop's ``cost-mcp push``, an admin's ``cost-mcp
token create``: some 1 s of CPU each spawned, and the team tests run hundreds), with
:func:`subprocess.run`'s answer: its exit code, stdout and stderr.

``serve --http --workers N`` is forked too: only its supervisor, which spawns the N workers
itself, fresh interpreters as ever (they import their code themselves, as a user's do).

What the fork cannot give a server, :func:`start` leaves to a real process (it returns None): a
command prefix (``setpriv``), an environment whose ``PYTHONPATH`` differs from this run's
(another version's code, ``old_server_env``), and one whose variables that shape an
interpreter's start (``PYTHON*``, the locale's) differ from the zygote's: a forked process keeps
the start it was forked from.

Coverage: the suite's (pytest-cov) is measured in the pytest process only; neither a spawned
server nor a forked one is measured, as before this module.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import locale
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
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


def _shapes_start(name: str) -> bool:
    """Whether variable ``name`` shapes an interpreter's start (its flags, hash seed, warnings,
    streams' encoding, the C library's time zone), which a forked process keeps from the zygote;
    ``PYTHONPATH`` is compared apart (:func:`_paths`)."""
    return (
        (name.startswith("PYTHON") and name != "PYTHONPATH")
        or name in ("LANG", "TZ")
        or name.startswith("LC_")
    )


_started_with: list[dict[str, str]] = []
"""The variables the zygote started with that shape an interpreter's start (:func:`_shapes_start`):
empty until it starts."""


def _zygote() -> multiprocessing.context.ForkServerContext:
    """The forkserver context, its server started (once) with the imports of :data:`_PRELOAD` and
    the real clock: a test's clock (``COST_MCP_FAKECLOCK_OFFSET``) is each forked server's own."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    offset = os.environ.pop("COST_MCP_FAKECLOCK_OFFSET", None)
    try:
        from multiprocessing import forkserver

        if not _started_with:
            _started_with.append({k: v for k, v in os.environ.items() if _shapes_start(k)})
        forkserver.ensure_running()
    finally:
        if offset is not None:
            os.environ["COST_MCP_FAKECLOCK_OFFSET"] = offset
    return context


def _forkable(env: Mapping[str, str]) -> bool:
    """Whether a command with environment ``env`` may be forked by the zygote (see the
    module's docstring)."""
    if _paths(env.get("PYTHONPATH", "")) != _paths(_PYTHONPATH):
        return False
    # Before the zygote starts: what it will start with.
    started = _started_with[0] if _started_with else {k: v for k, v in os.environ.items() if _shapes_start(k)}
    return {k: v for k, v in env.items() if _shapes_start(k)} == started


def start(argv: Sequence[str], env: Mapping[str, str], stderr: Path) -> Forked | None:
    """``python -m cost_mcp *argv`` with environment ``env``, stdout to /dev/null and stderr
    appended to ``stderr``, forked by the zygote; None where only a spawned process will do (see
    the module's docstring): the caller spawns it."""
    if not _forkable(env):
        return None
    process = _zygote().Process(target=_serve, args=(list(argv), dict(env), _umask(), str(stderr)))
    process.start()
    return Forked(process, argv)


class Command:
    """A CLI command under way (:func:`begin`): ``python -m cost_mcp *argv`` with its environment
    and stdin /dev/null, forked by the zygote where it can be, else spawned."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str]) -> None:
        self.args = [sys.executable, "-m", "cost_mcp", *argv]
        self._popen: subprocess.Popen[str] | None = None
        self._forked: Forked | None = None
        self._folder = ""
        if not _forkable(env):
            self._popen = subprocess.Popen(
                self.args,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            return
        self._folder = tempfile.mkdtemp(prefix="cost-mcp-cli-")
        child = _zygote().Process(target=_command, args=(list(argv), dict(env), _umask(), *self._outputs()))
        child.start()
        self._forked = Forked(child, self.args)

    @property
    def spawned(self) -> bool:
        """Whether the command was spawned (it could not be forked faithfully), not forked."""
        return self._popen is not None

    def _outputs(self) -> tuple[str, str]:
        return os.path.join(self._folder, "stdout"), os.path.join(self._folder, "stderr")

    def result(self, timeout: float) -> subprocess.CompletedProcess[str]:
        """Wait for the command to end; its exit code, stdout and stderr, as :func:`subprocess.run`
        with ``capture_output=True, text=True`` gives them. :class:`subprocess.TimeoutExpired` (the
        process killed) if it runs ``timeout`` s more."""
        if self._popen is not None:
            try:
                out, err = self._popen.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._popen.kill()
                self._popen.communicate()
                raise
            return subprocess.CompletedProcess(self.args, self._popen.returncode, out, err)
        assert self._forked is not None
        try:
            try:
                code = self._forked.wait(timeout)
            except subprocess.TimeoutExpired:
                self._forked.kill()
                self._forked.wait()
                raise
            out_path, err_path = self._outputs()
            out, err = (_text(Path(path).read_bytes()) for path in (out_path, err_path))
            return subprocess.CompletedProcess(self.args, code, out, err)
        finally:
            shutil.rmtree(self._folder, ignore_errors=True)


def begin(argv: Sequence[str], env: Mapping[str, str]) -> Command:
    """Start ``python -m cost_mcp *argv`` with environment ``env`` (see :class:`Command`): for
    commands that run at once; :meth:`Command.result` waits for one."""
    return Command(argv, env)


def run(argv: Sequence[str], env: Mapping[str, str], *, timeout: float) -> subprocess.CompletedProcess[str]:
    """``python -m cost_mcp *argv`` with environment ``env`` and stdin /dev/null, as
    :func:`subprocess.run` with ``capture_output=True, text=True`` runs it: forked by the zygote
    where it can be, else spawned. :class:`subprocess.TimeoutExpired` (the process killed) if it
    runs longer than ``timeout`` s."""
    return begin(argv, env).result(timeout)


def _text(data: bytes) -> str:
    """``data`` as :func:`subprocess.run` with ``text=True`` gives a stream: decoded in the
    locale's encoding, its line ends made ``\\n``."""
    return data.decode(locale.getpreferredencoding(False)).replace("\r\n", "\n").replace("\r", "\n")


def _umask() -> int:
    """This process's umask, which a process started from it inherits, and the zygote's children
    would not: a test may have set another. (The working folder they take already: multiprocessing
    starts each in its parent's.)"""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _become(env: dict[str, str], umask: int, stdin: str, stdout: str, stderr: str, *, append: bool) -> None:
    """In a forked process: take environment ``env``, ``umask`` (see :func:`_umask`) and the three
    streams from the files named (``stdout`` and ``stderr`` truncated first unless ``append``), and
    the clock a spawned process with ``env`` would read (its sitecustomize runs at start)."""
    os.environ.clear()
    os.environ.update(env)
    os.umask(umask)
    mode = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    for fd, path, flags in ((0, stdin, os.O_RDONLY), (1, stdout, mode), (2, stderr, mode)):
        opened = os.open(path, flags, 0o644)
        if opened != fd:
            os.dup2(opened, fd)
            os.close(opened)
    # multiprocessing gave the child a stdin of its own on another descriptor: an interpreter's
    # is descriptor 0 (uvicorn hands it on to the workers it spawns by number).
    sys.stdin = open(0, encoding=sys.stdout.encoding, errors=sys.stdout.errors, closefd=False)  # noqa: SIM115
    if SITE in [Path(p).resolve() for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]:
        spec = importlib.util.spec_from_file_location("sitecustomize", SITE / "sitecustomize.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["sitecustomize"] = module
        spec.loader.exec_module(module)


def _serve(argv: list[str], env: dict[str, str], umask: int, stderr: str) -> None:
    """In the forked server: become what ``python -m cost_mcp *argv`` started with ``env`` would be,
    then run it."""
    _become(env, umask, os.devnull, os.devnull, stderr, append=True)
    from cost_mcp import __main__ as entry
    from cost_mcp.launcher import main

    sys.argv = [str(entry.__file__), *argv]
    sys.exit(main(argv))


def _command(argv: list[str], env: dict[str, str], umask: int, stdout: str, stderr: str) -> None:
    """In the forked CLI command: become what ``python -m cost_mcp *argv`` started with ``env``
    would be, run it, and end as that interpreter ends: its exit code from ``SystemExit`` as
    Python takes it, an uncaught exception's traceback on stderr and 1, the ``atexit`` handlers
    run (logging's flush among them), then the streams flushed."""
    _become(env, umask, os.devnull, stdout, stderr, append=False)
    from cost_mcp import __main__ as entry
    from cost_mcp.launcher import main

    sys.argv = [str(entry.__file__), *argv]
    code: str | int | None = 1
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    except BaseException:  # as the interpreter: the traceback on stderr, exit code 1
        sys.excepthook(*sys.exc_info())
    finally:
        atexit._run_exitfuncs()
    sys.exit(code)
