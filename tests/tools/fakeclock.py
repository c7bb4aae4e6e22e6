"""Run a command (the test suite, by default) with the wall clock set to a given moment, ticking on.

    python tests/tools/fakeclock.py 2027-02-01T00:00:05Z [pytest args...]
    python tests/tools/fakeclock.py 2027-02-01T00:00:05Z -- some-command args...
    python tests/tools/fakeclock.py --no-reset 2026-12-31T23:58:00Z [pytest args...]

The moment is ISO 8601 and UTC unless it carries an offset. The Python process started here and
every Python process it starts (with the environment it inherits) read the clock that far off the
real one, through tests/tools/site/sitecustomize.py (time_machine), and under pytest every test
starts at the moment again (tests/tools/site/fakeclock_plugin.py); the PostgreSQL server and
Chromium keep the real clock. Tests that travel themselves (``time_machine.travel``, the ``clock``
fixture) still do: a travel nests inside this one. ``.ci/fakeclock`` wraps this.

``--no-reset`` lets the clock run on through the whole run instead: started a few minutes before
midnight, the modules are imported (and any module-level "now" taken) on one day and most tests
run on the next, as happens when CI's run spans midnight.

Why: CI runs the suite at any moment, and a test that seeds "now" and queries "today" or "this
month" breaks only around midnight, a month's or a week's start; this finds such tests on demand.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

SITE = Path(__file__).resolve().parent / "site"
ROOT = Path(__file__).resolve().parents[2]


def moment(text: str) -> datetime:
    """``text`` as an aware datetime (UTC when it names no offset)."""
    at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(__doc__, file=sys.stderr)
        return 2
    reset = argv[0] != "--no-reset"
    if not reset:
        argv = argv[1:]
    at = moment(argv[0])
    rest = argv[1:]
    # time_machine, a pytest plugin, is imported before pytest starts: pytest warns that it cannot
    # rewrite its asserts, and the suite's filterwarnings = error would make that fatal.
    # Every test starts at the moment (tests/tools/site/fakeclock_plugin.py).
    pytest = [
        *[sys.executable, "-m", "pytest", "-p", "fakeclock_plugin"],
        *["-W", "ignore::pytest.PytestAssertRewriteWarning"],
    ]
    command = rest[1:] if rest[:1] == ["--"] else [*pytest, *rest]
    env = dict(os.environ)
    env["COST_MCP_FAKECLOCK_OFFSET"] = repr(at.timestamp() - time.time())
    if reset:
        env["COST_MCP_FAKECLOCK_AT"] = repr(at.timestamp())
    else:
        env.pop("COST_MCP_FAKECLOCK_AT", None)
    paths = [str(SITE), str(ROOT / "src"), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    every = "every test starting there" if reset else "running on"
    print(f"fakeclock: {at.isoformat()} ({every}) for {' '.join(command)}", file=sys.stderr)
    os.chdir(ROOT)
    os.execvpe(command[0], command, env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
