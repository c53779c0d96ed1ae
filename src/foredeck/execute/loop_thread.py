"""`foredeck run`'s event loop in a thread of its own, with SIGINT and SIGTERM relayed to it.

Why a thread: on the 2-core development VM the same run took about 12% less time per task
when its loop ran in a fresh thread than in the main thread that had just imported foredeck and
read the pipeline (1,000 one-step tasks through the CLI, three pairs of runs: 921-996 ms
against 1,023-1,079 ms; `bench/local_overhead.py`). The loop's own CPU time was the same (about
0.43 ms a task): what differed is how long it waited, for a CPU or for a step's child to exec
(the main thread spent ~50 ms more a thousand tasks waiting to run). The cause is the kernel's
and was not pinned down; a run that waited 150 ms before starting in the main thread was as
fast, and so was every run of the in-process bench, whose main thread waits for `xargs` first.

Python runs signal handlers in the main thread only: it catches the signals while it waits for
the loop's thread (waking every `WAKE` seconds) and hands each to the loop (`SignalRelay`). A
signal that comes before the loop listens is handed over when it does; one that comes after it
stopped listening is raised again once the thread is done, with the handler there was before.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Coroutine
from types import FrameType
from typing import Any, TypeVar

T = TypeVar("T")
RELAYED = (signal.SIGINT, signal.SIGTERM)
WAKE = 0.2
"""Seconds between the main thread's looks at caught signals while it waits. Linux hands a
process's signal to its main thread, which a wait for a lock then returns to handle; other
systems may hand it to any thread, and Python runs handlers in the main thread only."""


class SignalRelay:
    """Signals caught in the main thread, for a callback on the loop (`listen`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._target: tuple[asyncio.AbstractEventLoop, Callable[[int], None]] | None = None
        self._waiting: list[int] = []
        self.late: list[int] = []
        """Signals that came once the loop had stopped listening."""
        self._done = False

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        with self._lock:
            if self._target is not None:
                loop, callback = self._target
                loop.call_soon_threadsafe(callback, signum)
            elif self._done:
                self.late.append(signum)
            else:
                self._waiting.append(signum)

    def listen(self, callback: Callable[[int], None]) -> None:
        """Hand signals to `callback` on the running loop, those caught so far first."""
        loop = asyncio.get_running_loop()
        with self._lock:
            self._target = (loop, callback)
            for signum in self._waiting:
                loop.call_soon(callback, signum)
            self._waiting.clear()

    def stop(self) -> None:
        with self._lock:
            self._target = None
            self._done = True
            self.late += self._waiting
            self._waiting.clear()


def run_in_thread(main: Callable[[SignalRelay], Coroutine[Any, Any, T]]) -> T:
    """`asyncio.run(main(relay))` in a new thread; SIGINT and SIGTERM go to the relay while it
    runs (from the main thread only: elsewhere Python cannot catch them, and none is relayed)."""
    relay = SignalRelay()
    outcome: list[tuple[bool, Any]] = []

    async def listened() -> T:
        try:
            return await main(relay)
        finally:  # on the loop, before it closes: a later signal is late, not for a closed loop
            relay.stop()

    def target() -> None:
        try:
            outcome.append((True, asyncio.run(listened())))
        except BaseException as exc:  # raised again in the caller's thread
            outcome.append((False, exc))
        finally:
            relay.stop()

    catching = threading.current_thread() is threading.main_thread()
    before = {sig: signal.signal(sig, relay.handle) for sig in RELAYED} if catching else {}
    try:
        thread = threading.Thread(target=target, name="foredeck-run")
        thread.start()
        while thread.is_alive():  # woken now and then: a signal the C handler took in the
            thread.join(WAKE)  # loop's thread (macOS, or sent to it) is handled here

    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    for signum in relay.late:
        signal.raise_signal(signum)
    ok, value = outcome[0]
    if not ok:
        raise value
    result: T = value
    return result
