"""A CLI command forked by tests/servers.py's zygote answers as the same command spawned does: the
team tests run their laptops' and admins' commands so (:func:`tests.servers.run`), and what they
assert about exit codes, stdout and stderr must hold of the real command."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests import servers

COMMANDS = [
    ["--version"],
    ["--help"],  # laid out for the environment's COLUMNS: the command reads the environment given
    ["budget", "set", "x", "notanumber"],  # an error: exit code 2 and the reason on stderr
    ["no-such-command"],
]


@pytest.mark.no_ledger
@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_a_forked_command_answers_as_the_spawned_one(home: Path, argv: list[str]) -> None:
    env = {**os.environ, "COLUMNS": "61", "NO_COLOR": "1"}
    spawned = subprocess.run(
        [sys.executable, "-m", "cost_mcp", *argv],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    forked = servers.run(argv, env, timeout=60)
    assert (forked.returncode, forked.stdout, forked.stderr) == (
        spawned.returncode,
        spawned.stdout,
        spawned.stderr,
    )
    assert forked.stdout or forked.stderr  # each says something: the comparison holds of output


@pytest.mark.no_ledger
def test_a_command_that_cannot_be_forked_faithfully_is_spawned(home: Path) -> None:
    """Variables read at an interpreter's start (here, its warnings) are the zygote's in a forked
    command: one that sets them otherwise is spawned, and starts with them."""
    env = {**os.environ, "PYTHONWARNINGS": "error::UserWarning:nowhere"}
    spawned, forked = servers.begin(["--version"], env), servers.begin(["--version"], dict(os.environ))
    assert (spawned.spawned, forked.spawned) == (True, False)
    assert spawned.result(60).stdout == forked.result(60).stdout != ""


def test_a_forked_command_runs_in_the_callers_working_folder(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The zygote's working folder is the one the run started in; a command is started from the
    test's, which a test may have changed: a relative path names the file there."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "here.jsonl").write_text("")
    # The zygote started (if no test did yet) in the run's folder, before the test changes it.
    assert servers.run(["--version"], dict(os.environ), timeout=60).returncode == 0
    monkeypatch.chdir(folder)
    forked = servers.run(["ingest", "here.jsonl"], dict(os.environ), timeout=60)
    assert forked.returncode == 0, forked.stderr


@pytest.mark.no_ledger
def test_a_forked_command_takes_the_callers_umask(
    home: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A spawned process inherits its parent's umask, and so the mode of the files it makes (the
    ledger among them); the zygote's children had the zygote's, whatever the test had set."""
    folder = tmp_path_factory.mktemp("umask")  # beside the test's folder: no ledger under home
    (folder / "empty.jsonl").write_text("")
    argv = ["ingest", str(folder / "empty.jsonl")]
    # The zygote started (if no test did yet) with the run's umask, before the test sets another.
    assert servers.run(["--version"], dict(os.environ), timeout=60).returncode == 0
    was = os.umask(0o077)
    try:
        forked = servers.run(argv, {**os.environ, "COST_MCP_DB": str(folder / "forked.db")}, timeout=60)
        spawned = subprocess.run(
            [sys.executable, "-m", "cost_mcp", *argv],
            env={**os.environ, "COST_MCP_DB": str(folder / "spawned.db")},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.umask(was)
    assert (forked.returncode, spawned.returncode) == (0, 0), forked.stderr + spawned.stderr
    modes = [stat.S_IMODE((folder / name).stat().st_mode) for name in ("forked.db", "spawned.db")]
    assert modes == [0o600, 0o600]
