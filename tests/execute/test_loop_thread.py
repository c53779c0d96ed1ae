"""`foredeck run`'s loop in its own thread: its value and errors come back, signals reach it."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Callable, Coroutine, Iterator
from types import FrameType
from typing import Any

import pytest

from foredeck.execute.loop_thread import SignalRelay, run_in_thread


@pytest.fixture
def sigterm_seen() -> Iterator[list[int]]:
    """SIGTERM recorded instead of ending the test process, as the handler before the run."""
    seen: list[int] = []

    def record(signum: int, _frame: FrameType | None) -> None:
        seen.append(signum)

    before = signal.signal(signal.SIGTERM, record)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGTERM, before)


def test_the_loop_runs_in_another_thread_and_its_value_comes_back() -> None:
    async def main(_relay: SignalRelay) -> str:
        await asyncio.sleep(0)
        return threading.current_thread().name

    assert run_in_thread(main) == "foredeck-run" != threading.current_thread().name


def test_an_error_of_the_loop_is_raised_in_the_caller() -> None:
    async def main(_relay: SignalRelay) -> None:
        raise LookupError("from the loop")

    with pytest.raises(LookupError, match="from the loop"):
        run_in_thread(main)


def _to_the_process() -> None:
    os.kill(os.getpid(), signal.SIGTERM)


def _to_the_loop_thread() -> None:
    signal.pthread_kill(threading.get_ident(), signal.SIGTERM)


@pytest.mark.parametrize("send", [_to_the_process, _to_the_loop_thread])
def test_a_signal_while_listening_reaches_the_loop_not_the_handler_before(
    sigterm_seen: list[int], send: Callable[[], None]
) -> None:
    """Sent to the process, or to the loop's thread itself (where a system may deliver a
    process's signal): Python's C handler then runs in that thread and leaves the Python one to
    the main thread, which looks every `WAKE` seconds (a bare `join` was not always woken: the
    loop-thread case timed out about every other run without the looks)."""

    async def main(relay: SignalRelay) -> list[int]:
        got: list[int] = []
        arrived = asyncio.Event()

        def on_signal(signum: int) -> None:
            got.append(signum)
            arrived.set()

        relay.listen(on_signal)
        send()
        await asyncio.wait_for(arrived.wait(), timeout=10)
        relay.stop()
        return got

    assert run_in_thread(main) == [signal.SIGTERM]
    assert sigterm_seen == []
    os.kill(os.getpid(), signal.SIGTERM)
    assert sigterm_seen == [signal.SIGTERM]


def test_a_signal_before_listening_is_handed_over_when_the_loop_listens() -> None:
    async def main(relay: SignalRelay) -> list[int]:
        relay.handle(signal.SIGINT, None)  # as the main thread would, before `listen`
        got: list[int] = []
        relay.listen(got.append)
        await asyncio.sleep(0)
        relay.stop()
        return got

    assert run_in_thread(main) == [signal.SIGINT]


def test_a_signal_after_the_loop_stopped_listening_goes_to_the_handler_before(
    sigterm_seen: list[int],
) -> None:
    async def main(relay: SignalRelay) -> None:
        relay.listen(lambda _signum: pytest.fail("the loop no longer listens"))
        relay.stop()
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(0.05)  # the main thread records it as late meanwhile

    run_in_thread(main)
    assert sigterm_seen == [signal.SIGTERM]


def test_from_another_thread_nothing_is_caught_and_the_loop_still_runs() -> None:
    results: list[object] = []

    async def main(relay: SignalRelay) -> int:
        relay.listen(lambda _signum: None)
        relay.stop()
        return 7

    worker = threading.Thread(target=lambda: results.append(run_in_thread(main)))
    worker.start()
    worker.join()
    assert results == [7]


def test_a_signal_once_the_loop_closed_without_stop_goes_to_the_handler_before(
    sigterm_seen: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A coroutine that listens and returns without `stop()`: a signal landing after its loop
    closed (simulated right after `asyncio.run` returns) must not be handed to the closed loop
    (a RuntimeError in the signal handler, raised from the caller's `join`)."""
    relays: list[SignalRelay] = []
    real_run = asyncio.run

    def run_then_signal(coroutine: Coroutine[Any, Any, int]) -> int:
        value = real_run(coroutine)
        relays[0].handle(signal.SIGTERM, None)
        return value

    monkeypatch.setattr(asyncio, "run", run_then_signal)

    async def main(relay: SignalRelay) -> int:
        relays.append(relay)
        relay.listen(lambda _signum: pytest.fail("the loop is done"))
        return 7

    assert run_in_thread(main) == 7
    assert sigterm_seen == [signal.SIGTERM]
