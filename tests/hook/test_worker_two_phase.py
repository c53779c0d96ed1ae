"""Two-phase plugins: `prepare` runs outside the write transaction, `apply` inside it."""

from __future__ import annotations

import threading

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from foredeck.db import Job, session_factory
from foredeck.db.engine import write_lock
from foredeck.db.jobs import create_job
from foredeck.hook.events import StoredEvent
from foredeck.hook.plugins import Apply, TwoPhasePlugin
from foredeck.hook.worker import Worker
from tests.db.fixtures import Database
from tests.hook.test_worker import _job, event_row, job_count, log


class TwoPhase:
    """Checks, while preparing, that another thread can write (nobody holds the write lock)."""

    name = "two-phase"

    def __init__(self, engine: Engine, fail_prepare: bool = False, fail_apply: bool = False):
        self.engine = engine
        self.fail_prepare = fail_prepare
        self.fail_apply = fail_apply
        self.handled = 0
        self.writable_during_prepare: list[bool] = []

    def handle(self, event: StoredEvent, session: Session) -> None:
        self.handled += 1  # never called: the worker uses prepare/apply

    async def prepare(self, event: StoredEvent, reader: Session) -> Apply | None:
        done = threading.Event()

        def other_writer() -> None:
            with write_lock(self.engine), self.engine.begin():
                done.set()

        thread = threading.Thread(target=other_writer)
        thread.start()
        thread.join(5)
        self.writable_during_prepare.append(done.is_set())
        if self.fail_prepare:
            raise RuntimeError("GitHub said no")
        if event.delivery_id == "quiet":
            return None

        def apply(session: Session) -> None:
            create_job(session, _job(f"{event.delivery_id}:two-phase"))
            if self.fail_apply:
                raise RuntimeError("apply broke")

        return apply


def test_prepare_runs_without_the_write_lock_and_apply_commits(db: Database) -> None:
    log(db, "a", "quiet", "b")
    plugin = TwoPhase(db.engine)
    assert isinstance(plugin, TwoPhasePlugin)
    # One batch whatever the machine's speed: past the batch budget, events prepared but not
    # yet committed are prepared again in the next batch (by design), and counted twice here.
    worker = Worker(db.engine, [plugin], batch_budget=60.0)
    assert worker.process_available() == 3
    assert plugin.writable_during_prepare == [True, True, True]
    assert plugin.handled == 0
    with session_factory(db.engine)() as s:
        keys = sorted(j.dedupe_key or "" for j in s.execute(select(Job)).scalars())
    assert keys == ["a:two-phase", "b:two-phase"]
    assert event_row(db, "quiet").processed_at is not None


def test_failed_prepare_records_the_error_and_writes_nothing(db: Database) -> None:
    log(db, "a")
    worker = Worker(db.engine, [TwoPhase(db.engine, fail_prepare=True)], max_attempts=2)
    worker.retry_backoff = 0
    assert worker.process_available() == 2
    row = event_row(db, "a")
    assert row.processed_at is None and row.attempts == 2
    assert row.last_error is not None and "GitHub said no" in row.last_error
    assert job_count(db) == 0


def test_failed_apply_is_rolled_back_to_its_savepoint(db: Database) -> None:
    log(db, "a")
    worker = Worker(db.engine, [TwoPhase(db.engine, fail_apply=True)], max_attempts=1)
    assert worker.process_available() == 1
    row = event_row(db, "a")
    assert row.processed_at is None and row.last_error is not None
    assert "apply broke" in row.last_error
    assert job_count(db) == 0  # the job created before the failure was rolled back
