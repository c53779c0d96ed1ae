"""The event worker: hands each logged event to the plugins, at least once and idempotently.

One event, one transaction: the event row is locked (`FOR UPDATE SKIP LOCKED` on PostgreSQL),
two-phase plugins prepare first (network calls, outside SQLite's write lock), each plugin's
writes run in a savepoint, and the "processed" mark commits together with the rows the
plugins created. A crash anywhere before that commit leaves the event unprocessed, and the next
worker to start handles it again; rows are deduplicated by their keys, so nothing doubles.

A plugin that fails is rolled back to its savepoint alone; the plugins that succeeded are
recorded in `plugins_done` and are not run again. The event is retried with exponential backoff
and, after `max_attempts`, left unprocessed with its `last_error` (visible, not lost; see
`foredeck.db.eventlog.failed_events` and `requeue`). An event a plugin refuses for good
(`PermanentEventError`) is parked at once, with one log line. Failures of the world (the
database, the network, GitHub, timeouts) are logged in one line; anything else (a bug) with its
traceback, and retried too: a fixed plugin then picks it up without a `requeue`.

The worker runs in its own thread with a private asyncio loop for async plugins; the hook wakes
it through `notify()` and it also polls, so events logged by another process are found too.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import threading
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, cast

import httpx
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from foredeck.db.engine import error_line, read_only, session_factory, write_lock
from foredeck.db.eventlog import (
    ClaimedEvent,
    claim_due,
    load_payload,
    mark_failed,
    mark_processed,
    retry_delay,
    still_due,
)
from foredeck.db.types import utcnow
from foredeck.hook.events import StoredEvent
from foredeck.hook.metrics import WorkerMetrics
from foredeck.hook.plugins import Apply, PermanentEventError, Plugin, TwoPhasePlugin
from foredeck.polling import Poller
from foredeck.scm.github_types import GitHubError
from foredeck.settings import Settings

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 4000
STORM_GAP = 0.02
"""A wake-up this soon (seconds) after the end of a pass means events arrive in a storm..."""
STORM_COALESCE = 0.2
"""...and the next pass waits this long for more: a tenth of the passes, at 50 ms of latency."""
EXPECTED_ERRORS = (SQLAlchemyError, httpx.HTTPError, GitHubError, TimeoutError, OSError)
"""Failures of the world, not of a plugin's code: logged without a traceback, retried."""


class EventWorker(Protocol):
    """What the hook needs of an event worker: this module's `Worker`, or one that runs it in
    another process."""

    def start(self) -> object: ...

    def stop(self, timeout: float = 30.0) -> None: ...

    def notify(self) -> None: ...


class Worker:
    def __init__(
        self,
        engine: Engine,
        plugins: Sequence[Plugin],
        *,
        max_attempts: int = 5,
        poll_interval: float = 2.0,
        retry_backoff: float = 5.0,
        batch_size: int = 64,
        batch_budget: float = 0.02,
        coalesce: float = 0.005,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.plugins = list(plugins)
        self.max_attempts = max_attempts
        self.poll_interval = poll_interval
        self.retry_backoff = retry_backoff
        self.batch_size = batch_size
        self.batch_budget = batch_budget
        self._engine = engine
        self._reader = read_only(engine)
        self._sessions = session_factory(engine)
        self._read_sessions = session_factory(self._reader)
        self._poller = Poller(
            "foredeck-worker",
            self.process_available_safely,
            lambda: self.poll_interval,
            on_exit=self.close,
            coalesce=coalesce,
            storm_coalesce=STORM_COALESCE,
            storm_gap=STORM_GAP,
        )
        self._runner: asyncio.Runner | None = None
        self._metrics = WorkerMetrics(registry) if registry is not None else None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        engine: Engine,
        plugins: Sequence[Plugin],
        registry: CollectorRegistry | None = None,
    ) -> Worker:
        w = settings.worker
        return cls(
            engine,
            plugins,
            max_attempts=w.max_attempts,
            poll_interval=w.poll_interval,
            retry_backoff=w.retry_backoff,
            batch_size=w.batch_size,
            batch_budget=w.batch_budget,
            registry=registry,
        )

    def notify(self) -> None:
        """Wake the worker now (thread-safe; called by the hook after each commit)."""
        self._poller.notify()

    def process_one(self) -> bool:
        """Handle the next due event; False when there is none."""
        return self.process_batch(limit=1) > 0

    def process_batch(self, limit: int | None = None) -> int:
        """Handle due events; returns how many were handled.

        Events are claimed `batch_size` at a time and handled one after the other until the
        `batch_budget` (seconds) is spent, so that cheap events share a commit while a slow
        plugin never holds SQLite's write lock for long. Two-phase plugins prepare outside the
        write transaction (see `foredeck.hook.plugins`). Each event's plugin effects and its
        mark commit together or not at all.
        """
        now = utcnow()
        size = self.batch_size if limit is None else max(1, min(limit, self.batch_size))
        if self._engine.dialect.name == "postgresql":
            # Row locks (SKIP LOCKED) keep other workers off these events while they are being
            # prepared; PostgreSQL has no database-wide write lock to hold up the hook.
            with self._sessions() as session, session.begin():
                claimed = claim_due(session, self.max_attempts, size, now)
                prepared = self._prepare(claimed, session)
                results = self._commit(session, prepared, now)
        else:
            # SQLite: prepare on a deferred (read) transaction, then write under the lock. One
            # worker process per SQLite file, so nobody else handles these events meanwhile;
            # the rows are re-checked anyway.
            with self._read_sessions() as reader, reader.begin():
                claimed = claim_due(reader, self.max_attempts, size, now)
                prepared = self._prepare(claimed, reader)
            if not prepared:
                return 0
            with write_lock(self._engine), self._sessions() as session, session.begin():
                due = still_due(session, [p.row.id for p in prepared])
                results = self._commit(session, [p for p in prepared if p.row.id in due], now)
        if self._metrics is not None:
            for result in results:
                self._metrics.events.labels(result).inc()
        return len(results)

    def _prepare(self, claimed: Sequence[ClaimedEvent], reader: Session) -> list[_Prepared]:
        """Run the prepare phase of two-phase plugins, within the batch budget."""
        started = time.monotonic()
        prepared: list[_Prepared] = []
        for row in claimed:
            if prepared and time.monotonic() - started > self.batch_budget:
                break  # the rest stays due for the next batch
            item = _Prepared(row, self._stored(row))
            for plugin in self.plugins:
                if plugin.name in row.plugins_done or not isinstance(plugin, TwoPhasePlugin):
                    continue
                try:
                    result = plugin.prepare(item.event, reader)
                    apply = self._await_if_needed(result) if inspect.isawaitable(result) else result
                except Exception as exc:
                    item.errors[plugin.name] = self._plugin_failed(plugin, item.event, exc)
                    continue
                item.applies[plugin.name] = cast("Apply | None", apply)
            prepared.append(item)
        return prepared

    def _commit(self, session: Session, prepared: Sequence[_Prepared], now: datetime) -> list[str]:
        """Apply/handle each prepared event in `session`; mark it processed or failed."""
        started = time.monotonic()
        results: list[str] = []
        succeeded: list[int] = []
        for item in prepared:
            if results and time.monotonic() - started > self.batch_budget:
                break  # the rest stays due (prepared again next time: effects are idempotent)
            row = item.row
            failures, done = self._handle(item, session)
            if not failures:
                succeeded.append(row.id)
                results.append("processed")
                continue
            permanent = any(f.permanent for f in failures)
            attempts = max(row.attempts + 1, self.max_attempts if permanent else 0)
            error = "\n".join(f.text for f in failures)[:MAX_ERROR_CHARS]
            mark_failed(
                session,
                row.id,
                attempts=attempts,
                plugins_done=done,
                error=error,
                not_before=now + retry_delay(attempts, self.retry_backoff),
            )
            if permanent:
                reason = error.replace("\n", "; ")
                log.warning("event %s (%s) parked: %s", row.delivery_id, row.event, reason)
                results.append("parked")
            elif attempts >= self.max_attempts:
                log.error(
                    "event %s (%s) failed %d times; giving up: %s",
                    row.delivery_id,
                    row.event,
                    attempts,
                    error,
                )
                results.append("gave_up")
            else:
                results.append("failed")
        if succeeded:
            mark_processed(session, succeeded, [p.name for p in self.plugins], utcnow())
        return results

    def process_available(self, limit: int | None = None) -> int:
        """Handle due events until none is left (or `limit`, or `stop()`); returns the count."""
        count = 0
        while (limit is None or count < limit) and not self._poller.stopping.is_set():
            handled = self.process_batch(None if limit is None else limit - count)
            if handled == 0:
                break
            count += handled
        return count

    def _stored(self, row: ClaimedEvent) -> StoredEvent:
        return StoredEvent(
            id=row.id,
            delivery_id=row.delivery_id,
            event=row.event,
            action=row.action,
            org=row.org,
            repo=row.repo,
            loader=functools.partial(self._read_payload, row.id),
            received_at=row.received_at,
            attempts=row.attempts,
        )

    def _handle(self, item: _Prepared, session: Session) -> tuple[list[_Failure], list[str]]:
        """Run the plugins that have not handled the event yet: (failures, plugins done)."""
        done = list(item.row.plugins_done)
        failures: list[_Failure] = []
        for plugin in self.plugins:
            if plugin.name in done:
                continue
            if plugin.name in item.errors:
                failure: _Failure | None = item.errors[plugin.name]
            elif plugin.name in item.applies:
                failure = self._run_apply(plugin, item.event, item.applies[plugin.name], session)
            else:
                failure = self._run_plugin(plugin, item.event, session)
            if failure is None:
                done.append(plugin.name)
            else:
                failures.append(failure)
        return failures, done

    def run(self) -> None:
        """Process events until `stop()`: on every `notify()` and every `poll_interval` (after
        a wake-up, `coalesce` seconds later, so that a burst of events shares a commit)."""
        self._poller.run()

    def process_available_safely(self) -> bool:
        """`process_available()`, surviving failures of the transaction itself.

        When a batch fails as a whole (not a plugin: the database, or a plugin that broke the
        transaction), the oldest due event is retried alone; if that fails too, the failure is
        counted as an attempt of that event in a transaction of its own, so that an event which
        always breaks the transaction ends up parked instead of blocking the log forever.
        Returns False when something failed.
        """
        try:
            self.process_available()
            return True
        except Exception:
            log.exception("event worker: a batch failed; retrying the oldest event alone")
        try:
            self.process_batch(limit=1)
            return False
        except Exception as exc:
            log.exception("event worker: the oldest due event fails its transaction")
            error = f"transaction failed: {type(exc).__name__}: {exc}"
        try:
            now = utcnow()
            with write_lock(self._engine), self._sessions() as session, session.begin():
                for row in claim_due(session, self.max_attempts, 1, now):
                    attempts = row.attempts + 1
                    mark_failed(
                        session,
                        row.id,
                        attempts=attempts,
                        plugins_done=list(row.plugins_done),
                        error=error[:MAX_ERROR_CHARS],
                        not_before=now + retry_delay(attempts, self.retry_backoff),
                    )
        except Exception:
            log.exception("event worker: cannot record the failure (database unavailable?)")
        return False

    def start(self) -> threading.Thread:
        return self._poller.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the event in progress, then close the plugins."""
        if not self._poller.stop(timeout):
            self.close()

    def close(self) -> None:
        for plugin in self.plugins:
            close = getattr(plugin, "close", None)
            if callable(close):
                try:
                    self._await_if_needed(close())
                except Exception:
                    log.exception("plugin %s: close failed", plugin.name)
        if self._runner is not None:
            self._runner.close()
            self._runner = None

    def _read_payload(self, event_id: int) -> bytes:
        # A read of its own (the body never changes): works during handle() and after it.
        with self._reader.connect() as conn:
            return load_payload(conn, event_id)

    def _run_plugin(self, plugin: Plugin, event: StoredEvent, session: Session) -> _Failure | None:
        try:
            with session.begin_nested():
                self._await_if_needed(plugin.handle(event, session))
                session.flush()
        except Exception as exc:
            return self._plugin_failed(plugin, event, exc)
        return None

    def _run_apply(
        self, plugin: Plugin, event: StoredEvent, apply: Apply | None, session: Session
    ) -> _Failure | None:
        if apply is None:
            return None
        try:
            with session.begin_nested():
                apply(session)
                session.flush()
        except Exception as exc:
            return self._plugin_failed(plugin, event, exc)
        return None

    def _plugin_failed(self, plugin: Plugin, event: StoredEvent, exc: Exception) -> _Failure:
        """Count and log (`_commit` logs the one line of a parked event) a plugin's failure."""
        if self._metrics is not None:
            self._metrics.plugin_errors.labels(plugin.name).inc()
        if isinstance(exc, PermanentEventError):
            return _Failure(f"{plugin.name}: {exc}", permanent=True)
        where = (plugin.name, event.delivery_id, event.event)
        if isinstance(exc, EXPECTED_ERRORS):
            reason = f"{type(exc).__name__}: {error_line(exc)}"
            log.warning("plugin %s failed on event %s (%s): %s", *where, reason)
        else:
            log.warning("plugin %s failed on event %s (%s)", *where, exc_info=exc)
        return _Failure(f"{plugin.name}: {type(exc).__name__}: {exc}", permanent=False)

    def _await_if_needed(self, result: Awaitable[Any] | Any) -> Any:
        if not inspect.isawaitable(result):
            return result
        if self._runner is None:
            self._runner = asyncio.Runner()
        return self._runner.run(_await(result))


@dataclass(frozen=True, slots=True)
class _Failure:
    """A plugin's failure on an event: `plugin: reason`, and whether to park the event now."""

    text: str
    permanent: bool


@dataclass
class _Prepared:
    """A claimed event after the prepare phase: what each two-phase plugin will apply."""

    row: ClaimedEvent
    event: StoredEvent
    applies: dict[str, Apply | None] = field(default_factory=dict)
    errors: dict[str, _Failure] = field(default_factory=dict)


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable
