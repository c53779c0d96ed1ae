"""The thread of a component that does one pass every few seconds (periodics, sinker, watcher).

Each such component is also driven pass by pass by its tests (`tick()`, `sweep()`,
`scan_once()`); this is only the loop around that pass, so that start, stop and "a failed pass
is logged and retried at the next interval" behave the same everywhere.
"""

from __future__ import annotations

import logging
import threading
from typing import ClassVar

log = logging.getLogger(__name__)


class Poller:
    """Mixin: call `_init_poller()` in `__init__`, define `_pass()` and `_interval()`."""

    _thread_name: ClassVar[str] = "foredeck-poller"
    _what: ClassVar[str] = "pass"  # for the log line of a failed pass

    def _init_poller(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _pass(self) -> object:
        raise NotImplementedError

    def _interval(self) -> float:
        raise NotImplementedError

    def _failed(self) -> None:
        """A pass raised (already logged): count it."""

    def run(self) -> None:
        """A pass at once, then one every `_interval()` seconds, until `stop()`."""
        while not self._stop.is_set():
            try:
                self._pass()
            except Exception:
                log.exception("%s failed", self._what)
                self._failed()
            self._stop.wait(self._interval())

    def start(self) -> threading.Thread:
        if self._thread is not None and self._thread.is_alive():
            return self._thread
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name=self._thread_name, daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the pass in progress."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
