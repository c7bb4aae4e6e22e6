"""Running a scan that might wait on a named pipe, without the test hanging when it does."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")


def without_waiting_on(pipe: Path, work: Callable[[], T], seconds: float = 30) -> T:
    """``work()``'s result; the test fails when it is still running after ``seconds`` (it is then
    waiting on ``pipe``, which a writer opening and closing it sets free)."""
    answers: list[T] = []
    thread = threading.Thread(target=lambda: answers.append(work()), daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(seconds)
        pytest.fail(f"waited on the pipe {pipe.name}")
    [answer] = answers
    return answer
