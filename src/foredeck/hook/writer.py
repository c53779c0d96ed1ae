"""Group commit for the hook: one thread writes all deliveries, many per transaction.

Each request waits for the commit that contains its delivery, so the 2xx still means "durable";
under load many deliveries share one commit. One writer also means the hook's own requests never
wait on each other's SQLite write lock. The results of a batch go back to the event loop in one
callback (one wake-up of the loop per commit, not per request). A batch that fails is retried
one delivery at a time, so a bad delivery fails alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections import defaultdict
from collections.abc import Callable

from sqlalchemy import Engine

from foredeck.db.engine import write_lock
from foredeck.db.eventlog import Logged, NewEvent, log_events

log = logging.getLogger(__name__)

_Item = tuple[NewEvent, asyncio.AbstractEventLoop, "asyncio.Future[Logged]"]
_Outcome = tuple["asyncio.Future[Logged]", Logged | BaseException]


class EventWriter:
    def __init__(
        self,
        engine: Engine,
        *,
        max_batch: int = 256,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._on_commit = on_commit
        self._queue: queue.SimpleQueue[list[_Item] | None] = queue.SimpleQueue()
        self._pending: list[_Item] = []
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    async def log(self, item: NewEvent) -> Logged:
        """Log `item`; returns once it is committed (raises if it could not be)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Logged] = loop.create_future()
        with self._lock:
            if self._closed:
                raise RuntimeError("event writer is closed")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="foredeck-event-writer", daemon=True
                )
                self._thread.start()
            if not self._pending:
                # Hand over everything queued during this turn of the event loop at once: one
                # wake-up of the writer thread per turn instead of one per request.
                loop.call_soon(self._hand_over)
            self._pending.append((item, loop, future))
        return await future

    def _hand_over(self) -> None:
        with self._lock:
            items, self._pending = self._pending, []
        if items:
            self._queue.put(items)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = first
            stop = False
            while len(batch) < self._max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.extend(nxt)
            outcomes: dict[asyncio.AbstractEventLoop, list[_Outcome]] = defaultdict(list)
            self._write(batch, outcomes)
            for loop, results in outcomes.items():
                with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                    loop.call_soon_threadsafe(_resolve, results)
            if stop:
                return

    def _write(
        self, batch: list[_Item], outcomes: dict[asyncio.AbstractEventLoop, list[_Outcome]]
    ) -> None:
        try:
            with write_lock(self._engine), self._engine.begin() as conn:
                results = log_events(conn, [item for item, _, _ in batch])
        except Exception as exc:
            if len(batch) > 1:
                for one in batch:
                    self._write([one], outcomes)
                return
            item, loop, future = batch[0]
            log.error("event log write failed for delivery %s: %r", item.delivery_id, exc)
            outcomes[loop].append((future, exc))
            return
        for (_, loop, future), result in zip(batch, results, strict=True):
            outcomes[loop].append((future, result))
        if self._on_commit is not None and any(not r.duplicate for r in results):
            self._on_commit()


def _resolve(outcomes: list[_Outcome]) -> None:
    for future, outcome in outcomes:
        if future.done():
            continue  # the request was cancelled (client gone); the event is logged anyway
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
