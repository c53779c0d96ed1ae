"""The one loop of the components that poll: passes, wake-ups, failures, stop."""

from __future__ import annotations

import threading
import time

import pytest

from foredeck.polling import Poller


class Passes:
    def __init__(self, results: list[object] | None = None) -> None:
        self.count = 0
        self.results = results or []
        self.done = threading.Event()

    def __call__(self) -> object:
        self.count += 1
        self.done.set()
        result = self.results.pop(0) if self.results else None
        if isinstance(result, Exception):
            raise result
        return result


def wait_for_passes(passes: Passes, count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while passes.count < count:
        assert time.monotonic() < deadline, f"{passes.count} passes, expected {count}"
        time.sleep(0.005)


def test_a_pass_at_once_then_on_every_wake_up() -> None:
    passes = Passes()
    poller = Poller("test-poller", passes, lambda: 60.0)
    poller.start()
    try:
        wait_for_passes(passes, 1)
        poller.notify()
        wait_for_passes(passes, 2)
    finally:
        poller.stop()
    assert passes.count == 2


def test_a_failed_pass_is_logged_counted_and_retried_at_the_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    errors: list[int] = []
    passes = Passes([RuntimeError("boom"), False])
    poller = Poller("test-poller", passes, lambda: 0.01, lambda: errors.append(1))
    poller.start()
    try:
        wait_for_passes(passes, 3)
    finally:
        poller.stop()
    assert errors == [1]  # a pass returning False logged its failure itself
    assert [r.getMessage() for r in caplog.records] == ["test-poller: a pass failed"]


def test_a_failed_pass_is_not_retried_on_a_wake_up() -> None:
    passes = Passes([False])
    poller = Poller("test-poller", passes, lambda: 60.0)
    poller.start()
    try:
        wait_for_passes(passes, 1)
        poller.notify()
        time.sleep(0.2)
        assert passes.count == 1
    finally:
        poller.stop()


def test_stop_ends_the_thread_and_runs_on_exit_in_it() -> None:
    exited: list[str] = []
    poller = Poller(
        "test-poller",
        Passes(),
        lambda: 60.0,
        on_exit=lambda: exited.append(threading.current_thread().name),
    )
    assert poller.stop() is False  # never started
    thread = poller.start()
    assert poller.start() is thread  # already running
    assert poller.stop() is True
    assert not thread.is_alive() and exited == ["test-poller"]
    assert poller.stopping.is_set()


def test_wake_ups_in_a_storm_wait_longer_for_more() -> None:
    """A wake-up right after a pass means a storm: the next pass waits `storm_coalesce`, so a
    storm of wake-ups makes few passes; a wake-up after a quiet spell waits only `coalesce`."""
    passes = Passes()
    poller = Poller(
        "test-poller", passes, lambda: 60.0, coalesce=0.0, storm_coalesce=0.2, storm_gap=0.1
    )
    poller.start()
    try:
        wait_for_passes(passes, 1)
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            poller.notify()
            time.sleep(0.002)
        storm_passes = passes.count - 1
        # At most one pass per 0.2 s linger (plus the one the storm began with); without the
        # storm rule it would be one pass per wake-up, hundreds.
        assert 1 <= storm_passes <= 1.0 / 0.2 + 1, storm_passes
        wait_for_passes(passes, passes.count)  # the storm's last wake-up is served
    finally:
        poller.stop()
