"""The thread of a component that does one pass now and then: the event worker, the reporter,
the periodic scheduler, the sinker and the local watcher.

Each of them is also driven pass by pass by its tests (`process_available()`,
`report_pending()`, `tick()`, `sweep()`, `scan_once()`); a `Poller` is only the loop around that
pass, so that start, stop, wake-ups and "a failed pass is logged and retried at the next
interval" behave the same everywhere.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Poller:
    """Runs `work` in a daemon thread: at once, then after `interval()` seconds or as soon as
    `notify()` is called, until `stop()`.

    `work` failed when it raised (logged with its traceback, then `on_error()`) or returned
    `False` (it logged the failure itself). A failed pass is retried after `interval()` seconds,
    not on the next wake-up: a broken database is not helped by hammering it. After a wake-up
    the loop waits `coalesce` more seconds, so that what arrives in a burst shares one pass;
    in a storm (a wake-up within `storm_gap` seconds of the end of the last pass) it waits
    `storm_coalesce` instead: fewer, larger passes cost less per item than many small ones,
    which matters when they share the machine with what wakes them (the event worker and the
    hook of `serve --role all`). `on_exit()` runs in the thread when it ends (to close what
    the thread opened).
    """

    def __init__(
        self,
        name: str,
        work: Callable[[], object],
        interval: Callable[[], float],
        on_error: Callable[[], None] | None = None,
        *,
        on_exit: Callable[[], None] | None = None,
        coalesce: float = 0.0,
        storm_coalesce: float = 0.0,
        storm_gap: float = 0.0,
    ) -> None:
        self.name = name
        self.coalesce = coalesce
        self.storm_coalesce = storm_coalesce
        self.storm_gap = storm_gap
        self.stopping = threading.Event()
        """Set by `stop()`: a long pass checks it between its steps."""
        self._work = work
        self._interval = interval
        self._on_error = on_error
        self._on_exit = on_exit
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def notify(self) -> None:
        """Do a pass now (thread-safe), or right after the one in progress."""
        self._wake.set()

    def run(self) -> None:
        """The loop, in the calling thread, until `stop()`."""
        try:
            while not self.stopping.is_set():
                self._wake.clear()
                if not self._pass():
                    self.stopping.wait(self._interval())
                    continue
                ended = time.monotonic()
                if self._wake.wait(self._interval()):
                    storm = time.monotonic() - ended < self.storm_gap
                    linger = max(self.coalesce, self.storm_coalesce) if storm else self.coalesce
                    if linger:
                        self.stopping.wait(linger)
        finally:
            if self._on_exit is not None:
                self._on_exit()

    def _pass(self) -> bool:
        try:
            return self._work() is not False
        except Exception:
            log.exception("%s: a pass failed", self.name)
            if self._on_error is not None:
                self._on_error()
            return False

    def start(self) -> threading.Thread:
        if self._thread is not None and self._thread.is_alive():
            return self._thread
        self.stopping.clear()
        self._thread = threading.Thread(target=self.run, name=self.name, daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop after the pass in progress; False when the thread was not started."""
        self.stopping.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is None:
            return False
        thread.join(timeout)
        if thread.is_alive():
            log.warning("%s: still busy after %.0fs; leaving the daemon thread", self.name, timeout)
        return True
