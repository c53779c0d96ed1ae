"""Polling until something a server, a worker or a process does has happened."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Deadline:
    """Fails the test naming `what` once `timeout` seconds have passed."""

    def __init__(self, what: str, timeout: float) -> None:
        self.what, self.timeout = what, timeout
        self.end = time.monotonic() + timeout

    def check(self) -> None:
        assert time.monotonic() < self.end, (
            f"timed out after {self.timeout}s waiting for {self.what}"
        )


def wait_for(
    what: str, check: Callable[[], T | None], timeout: float = 60.0, interval: float = 0.05
) -> T:
    """Poll `check` until it returns something truthy, and return that; fail naming `what`
    after `timeout` seconds."""
    deadline = Deadline(what, timeout)
    while not (value := check()):
        deadline.check()
        time.sleep(interval)
    return value


async def eventually(
    check: Callable[[], T | None],
    what: str = "the condition",
    timeout: float = 15.0,
    interval: float = 0.02,
) -> T:
    """`wait_for` in a test's event loop, which keeps running the code under test meanwhile."""
    deadline = Deadline(what, timeout)
    while not (value := check()):
        deadline.check()
        await asyncio.sleep(interval)
    return value
