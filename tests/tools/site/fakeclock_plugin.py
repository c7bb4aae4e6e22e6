"""pytest plugin of tests/tools/fakeclock.py: every test starts at the moment given
(``COST_MCP_FAKECLOCK_AT``, a POSIX timestamp), so that 23:59:50 means 23:59:50 for the last test of
a twelve-minute run too, not 00:11:40."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator

import pytest


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    at = os.environ.get("COST_MCP_FAKECLOCK_AT")
    if at:
        # This folder's sitecustomize (imported by name: mypy does not see this folder as a path).
        importlib.import_module("sitecustomize").restart(float(at))
    return (yield)
