"""The ``clock`` fixture moves the clock of the Python processes a test starts too: a test that seeds
calls in-process and asks the CLI about "today" must not straddle a midnight between the two."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest

# An hour far from the real one, so that a child on the real clock could not pass.
FAR_HOUR = (datetime.now(UTC).hour + 12) % 24


@pytest.mark.parametrize("hour_of_day", [FAR_HOUR])
def test_a_subprocess_reads_the_pinned_moment(clock: None) -> None:
    here = datetime.now(UTC)
    there = subprocess.run(
        [sys.executable, "-c", "from datetime import UTC, datetime; print(datetime.now(UTC).isoformat())"],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ),
    )
    child = datetime.fromisoformat(there.stdout.strip())
    assert (here.date(), here.hour) == (child.date(), child.hour) == (here.date(), FAR_HOUR)
    assert abs((child - here).total_seconds()) < 60  # ticking on from the same moment
