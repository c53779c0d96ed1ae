from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from foredeck.db import Event, Job, session_factory
from foredeck.db.eventlog import NewEvent, failed_events, get_event, log_events, mark_processed
from foredeck.db.jobs import JobCreate, Pull, Refs, create_job
from foredeck.hook import worker as worker_module
from foredeck.hook.events import StoredEvent
from foredeck.hook.plugins import PermanentEventError, Plugin, PluginError, load_plugins
from foredeck.hook.worker import Worker
from foredeck.scm.github_types import GitHubError, PullRequestEvent
from foredeck.settings import Settings, WorkerSettings
from tests.db.fixtures import Database
from tests.hook.helpers import example_bytes
from tests.hook.recorder import Recorder, create_table, handled_counts


@pytest.fixture
def recorded(db: Database) -> Iterator[Database]:
    create_table(db.engine)
    yield db


def log(db: Database, *deliveries: str, body: bytes | None = None) -> None:
    payload = body if body is not None else example_bytes("pull_request.opened")
    with session_factory(db.engine).begin() as s:
        log_events(
            s,
            [
                NewEvent(d, "pull_request", "opened", "Codertocat", "Hello-World", payload)
                for d in deliveries
            ],
        )


def event_row(db: Database, delivery: str) -> Event:
    with session_factory(db.engine)() as s:
        row = get_event(s, delivery)
        assert row is not None
        return row


class Failing:
    def __init__(self, name: str = "failing", times: int = 10**9) -> None:
        self.name = name
        self.times = times
        self.calls = 0

    def handle(self, event: StoredEvent, session: Session) -> None:
        self.calls += 1
        # A row written before the failure must be rolled back with the plugin's savepoint.
        create_job(session, _job(f"{event.delivery_id}:failing-{self.calls}"))
        if self.calls <= self.times:
            raise RuntimeError(f"boom {self.calls}")


class AsyncJobs:
    """Like the trigger plugin: awaits something (GitHub), then creates a job."""

    name = "async-jobs"

    def __init__(self) -> None:
        self.loops: set[int] = set()
        self.closed = False

    async def handle(self, event: StoredEvent, session: Session) -> None:
        await asyncio.sleep(0)
        self.loops.add(id(asyncio.get_running_loop()))
        typed = event.typed()
        assert isinstance(typed, PullRequestEvent)
        create_job(session, _job(f"{event.delivery_id}:unit", typed.number))

    async def close(self) -> None:
        self.closed = True


def _job(key: str, pr: int = 1) -> JobCreate:
    refs = Refs(org="Codertocat", repo="Hello-World", pulls=[Pull(number=pr)])
    return JobCreate(name="unit", type="presubmit", refs=refs, dedupe_key=key, cause=key)


def job_count(db: Database) -> int:
    with session_factory(db.engine)() as s:
        return int(s.execute(select(func.count()).select_from(Job)).scalar_one())


def test_events_are_handed_to_plugins_once_and_marked_processed(recorded: Database) -> None:
    log(recorded, "a", "b", "c")
    recorder = Recorder()
    worker = Worker(recorded.engine, [recorder])
    assert worker.process_available() == 3
    assert worker.process_available() == 0
    assert [e.delivery_id for e in recorder.seen] == ["a", "b", "c"]
    first = recorder.seen[0]
    assert (first.event, first.action, first.org, first.attempts) == (
        "pull_request",
        "opened",
        "Codertocat",
        0,
    )
    assert first.payload["pull_request"]["number"] == first.typed().number  # type: ignore[union-attr]
    assert handled_counts(recorded.engine) == {"a": 1, "b": 1, "c": 1}
    row = event_row(recorded, "b")
    assert row.processed_at is not None and row.attempts == 1 and row.plugins_done == ["recorder"]


def test_async_plugin_runs_on_the_workers_loop_and_jobs_dedupe(recorded: Database) -> None:
    log(recorded, "a", "b")
    plugin = AsyncJobs()
    worker = Worker(recorded.engine, [plugin])
    assert worker.process_available() == 2
    assert job_count(recorded) == 2
    assert len(plugin.loops) == 1  # one private loop, reused
    # Reprocessing the same events (as after a crash before the commit) creates no new jobs.
    with session_factory(recorded.engine).begin() as s:
        for row in s.execute(select(Event)).scalars():
            row.processed_at = None
            row.plugins_done = []
    assert worker.process_available() == 2
    assert job_count(recorded) == 2
    worker.stop()
    assert plugin.closed


def test_failing_plugin_is_isolated_retried_with_backoff_then_given_up(recorded: Database) -> None:
    log(recorded, "a")
    recorder, failing = Recorder(), Failing()
    worker = Worker(recorded.engine, [recorder, failing], max_attempts=3, retry_backoff=0)
    assert worker.process_available() == 3  # three attempts, no backoff
    assert worker.process_available() == 0
    row = event_row(recorded, "a")
    assert row.processed_at is None and row.attempts == 3
    assert row.last_error is not None and "failing: RuntimeError: boom 3" in row.last_error
    assert row.plugins_done == ["recorder"]
    assert handled_counts(recorded.engine) == {"a": 1}  # the good plugin ran once only
    assert job_count(recorded) == 0  # the failing plugin's rows were rolled back
    with session_factory(recorded.engine)() as s:
        assert [e.delivery_id for e in failed_events(s, max_attempts=3)] == ["a"]


def test_retry_waits_for_backoff_and_succeeds(recorded: Database) -> None:
    log(recorded, "a")
    failing = Failing(times=1)
    worker = Worker(recorded.engine, [failing], max_attempts=5, retry_backoff=60)
    assert worker.process_available() == 1
    assert worker.process_available() == 0  # not due for a minute
    row = event_row(recorded, "a")
    assert row.not_before is not None and row.attempts == 1
    with session_factory(recorded.engine).begin() as s:
        due = get_event(s, "a")
        assert due is not None
        due.not_before = None
    assert worker.process_available() == 1
    row = event_row(recorded, "a")
    assert row.processed_at is not None and row.attempts == 2
    assert job_count(recorded) == 1  # only the successful attempt's job


def test_crash_inside_processing_loses_and_duplicates_nothing(recorded: Database) -> None:
    """A process dying mid-event (here: an exception that is not an Exception) rolls back all."""

    class Dies:
        name = "dies"

        def handle(self, event: StoredEvent, session: Session) -> None:
            create_job(session, _job(f"{event.delivery_id}:unit"))
            raise KeyboardInterrupt

    log(recorded, "a")
    with pytest.raises(KeyboardInterrupt):
        Worker(recorded.engine, [Recorder(), Dies()]).process_one()
    row = event_row(recorded, "a")
    assert (row.processed_at, row.attempts, row.plugins_done) == (None, 0, [])
    assert job_count(recorded) == 0 and handled_counts(recorded.engine) == {}
    # "Restart": a new worker picks the event up and handles it exactly once.
    Worker(recorded.engine, [Recorder(), AsyncJobs()]).process_available()
    assert job_count(recorded) == 1 and handled_counts(recorded.engine) == {"a": 1}


def test_unreadable_payload_is_parked_not_lost(recorded: Database) -> None:
    log(recorded, "bad", body=b"[1]")
    recorder = Recorder()
    worker = Worker(recorded.engine, [recorder, AsyncJobs()], max_attempts=2, retry_backoff=0)
    assert worker.process_available() == 2
    row = event_row(recorded, "bad")
    assert row.processed_at is None and row.attempts == 2
    assert row.last_error is not None and "not a JSON object" in row.last_error
    assert len(recorder.seen) == 1  # a plugin that never reads the payload is not affected


def test_event_that_breaks_its_transaction_is_parked_not_blocking(
    recorded: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    log(recorded, "poison", "fine-1", "fine-2")
    poison_id = event_row(recorded, "poison").id
    real = mark_processed

    def failing_mark(session: Session, ids: list[int], *args: Any) -> None:
        if poison_id in ids:
            raise RuntimeError("the transaction is broken")
        real(session, ids, *args)

    monkeypatch.setattr(worker_module, "mark_processed", failing_mark)
    worker = Worker(recorded.engine, [Recorder()], max_attempts=2, retry_backoff=0)
    assert not worker.process_available_safely()
    assert not worker.process_available_safely()
    row = event_row(recorded, "poison")
    assert row.attempts == 2 and row.processed_at is None
    assert row.last_error is not None and "the transaction is broken" in row.last_error
    assert worker.process_available_safely()  # the poison is parked: the others flow again
    assert event_row(recorded, "fine-2").processed_at is not None
    assert handled_counts(recorded.engine) == {"fine-1": 1, "fine-2": 1}


class Unusable:
    """Refuses the event `bad` for good, as the trigger does a payload it cannot use."""

    name = "unusable"

    def __init__(self) -> None:
        self.calls = 0

    def handle(self, event: StoredEvent, session: Session) -> None:
        if event.delivery_id == "bad":
            self.calls += 1
            create_job(session, _job(f"{event.delivery_id}:unusable"))  # rolled back
            raise PermanentEventError("pull_request payload is not usable: pull_request: missing")


def test_a_permanent_error_parks_the_event_at_once_in_one_line(
    recorded: Database, caplog: pytest.LogCaptureFixture
) -> None:
    log(recorded, "bad", "good")
    recorder, unusable = Recorder(), Unusable()
    worker = Worker(recorded.engine, [recorder, unusable], max_attempts=5, retry_backoff=0)
    with caplog.at_level(logging.INFO, logger="foredeck.hook"):
        assert worker.process_available() == 2
        assert worker.process_available() == 0  # not retried
    assert unusable.calls == 1
    row = event_row(recorded, "bad")
    assert (row.processed_at, row.attempts, row.plugins_done) == (None, 5, ["recorder"])
    assert row.last_error == "unusable: pull_request payload is not usable: pull_request: missing"
    with session_factory(recorded.engine)() as s:
        assert [e.delivery_id for e in failed_events(s, max_attempts=5)] == ["bad"]
    assert event_row(recorded, "good").processed_at is not None
    assert job_count(recorded) == 0
    [line] = [r for r in caplog.records if "bad" in r.getMessage()]
    assert line.exc_info is None and "\n" not in line.getMessage()
    assert line.getMessage() == (
        "event bad (pull_request) parked: unusable: pull_request payload is not usable: "
        "pull_request: missing"
    )


class Unreachable:
    """GitHub (or the database) does not answer, the first `times` times."""

    name = "unreachable"

    def __init__(self, error: Exception, times: int = 1) -> None:
        self.error = error
        self.times = times

    def handle(self, event: StoredEvent, session: Session) -> None:
        if self.times:
            self.times -= 1
            raise self.error


@pytest.mark.parametrize(
    "error",
    [
        OperationalError("UPDATE jobs", {}, Exception("database or disk is full")),
        httpx.ConnectError("connection refused"),
        TimeoutError("timed out"),
        GitHubError(502, "Bad Gateway", method="GET", url="/repos/o/r"),
    ],
    ids=["database", "network", "timeout", "github-5xx"],
)
def test_a_transient_error_is_retried_and_logged_in_one_line(
    recorded: Database, caplog: pytest.LogCaptureFixture, error: Exception
) -> None:
    log(recorded, "a")
    worker = Worker(recorded.engine, [Unreachable(error)], max_attempts=5, retry_backoff=0)
    with caplog.at_level(logging.INFO, logger="foredeck.hook"):
        assert worker.process_available() == 2  # failed once, then handled
    row = event_row(recorded, "a")
    assert row.processed_at is not None and row.attempts == 2
    [line] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert line.exc_info is None and "\n" not in line.getMessage()


def test_notify_wakes_a_sleeping_worker(recorded: Database) -> None:
    recorder = Recorder()
    worker = Worker(recorded.engine, [recorder], poll_interval=60)
    worker.start()
    try:
        time.sleep(0.1)  # let it go to sleep on an empty log
        log(recorded, "late")
        started = time.monotonic()
        worker.notify()
        while not recorder.seen and time.monotonic() - started < 10:
            time.sleep(0.01)
        assert [e.delivery_id for e in recorder.seen] == ["late"]
        assert time.monotonic() - started < 5  # far below the 60 s poll interval
    finally:
        worker.stop()


def test_several_workers_share_the_log_on_postgres(pg_db: Database) -> None:
    """SKIP LOCKED: concurrent workers never handle one event twice, and all share the work."""
    create_table(pg_db.engine)
    deliveries = [f"d{i}" for i in range(60)]
    log(pg_db, *deliveries)
    recorders = [Recorder(delay=0.005) for _ in range(3)]
    workers = [Worker(pg_db.engine, [r], batch_size=4) for r in recorders]
    threads = [threading.Thread(target=w.process_available) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert handled_counts(pg_db.engine) == dict.fromkeys(deliveries, 1)
    assert all(r.seen for r in recorders), [len(r.seen) for r in recorders]


def test_load_plugins_from_settings() -> None:
    settings = Settings(worker=WorkerSettings(plugins=["tests.hook.test_worker:make_failing"]))
    plugins = load_plugins(settings)
    assert [p.name for p in plugins] == ["failing"]
    assert isinstance(plugins[0], Plugin)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_colon", "must look like"),
        ("tests.hook.nonexistent_module:x", "cannot import"),
        ("tests.hook.test_worker:nothing_here", "no callable"),
        ("tests.hook.test_worker:make_not_a_plugin", "did not return a plugin"),
    ],
)
def test_load_plugins_errors(spec: str, message: str) -> None:
    with pytest.raises(PluginError, match=message):
        load_plugins(Settings(worker=WorkerSettings(plugins=[spec])))


def test_duplicate_plugin_names_are_rejected() -> None:
    spec = "tests.hook.test_worker:make_failing"
    with pytest.raises(PluginError, match="two plugins are named 'failing'"):
        load_plugins(Settings(worker=WorkerSettings(plugins=[spec, spec])))


def make_failing(settings: Settings) -> Failing:
    return Failing()


def make_not_a_plugin(settings: Settings) -> object:
    return object()
