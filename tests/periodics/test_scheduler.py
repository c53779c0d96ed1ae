"""The scheduler against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import logging
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import select

from foredeck.config import ConfigAgent, JobConfig, Periodic, load_config
from foredeck.db import Job, make_engine, session_factory
from foredeck.db.engine import write_lock
from foredeck.db.jobs import set_state
from foredeck.db.models import JobState
from foredeck.periodics import PeriodicScheduler
from foredeck.periodics import scheduler as scheduler_module
from foredeck.periodics.schedule import decide
from foredeck.settings import Settings
from tests.db.fixtures import Database
from tests.kit.wait import wait_for

T0 = datetime(2026, 1, 1, 10, 0, 30, tzinfo=UTC)

JOBS_YAML = """\
periodics:
- name: hourly
  cron: "0 * * * *"
  agent: local
  spec:
    containers:
    - image: alpine
      command: ["true"]
- name: every-2h
  interval: 2h
  extra_refs:
  - org: acme
    repo: widget
    base_ref: main
  spec:
    containers:
    - image: alpine
      command: ["true"]
- name: cooldown
  minimum_interval: 1h
  spec:
    containers:
    - image: alpine
      command: ["true"]
"""


def h(hours: float, day: int = 1) -> datetime:
    """`day` at 10:00 UTC plus `hours`."""
    return datetime(2026, 1, day, 10, tzinfo=UTC) + timedelta(hours=hours)


@pytest.fixture
def jobs(tmp_path: Path) -> dict[str, Periodic]:
    """The periodics of `JOBS_YAML`, as the config loader makes them."""
    file = tmp_path / "jobs.yaml"
    file.write_text(JOBS_YAML)
    result = load_config([str(file)])
    assert result.ok, result.errors
    return {p.name: p for p in result.jobs.periodics}


def scheduler(db: Database, *periodics: Periodic) -> PeriodicScheduler:
    config = JobConfig(periodics=list(periodics))
    return PeriodicScheduler(db.engine, lambda: config)


def rows(db: Database) -> list[Job]:
    with session_factory(db.engine)() as s:
        return list(s.execute(select(Job).order_by(Job.id)).scalars())


def finish(db: Database, job_id: int, at: datetime, state: JobState = "success") -> None:
    with write_lock(db.engine), session_factory(db.engine).begin() as s:
        assert set_state(s, job_id, state, now=at)


def test_cron_fires_at_its_slot_not_before(db: Database, jobs: dict[str, Periodic]) -> None:
    hourly = jobs["hourly"]
    sched = scheduler(db, hourly)
    assert sched.tick(T0) == []  # first seen at 10:00:30: waits for 11:00
    assert sched.tick(h(0.999)) == []
    [job_id] = sched.tick(h(1))
    [row] = rows(db)
    assert row.id == job_id
    assert (row.name, row.type, row.state, row.cause) == (
        "hourly",
        "periodic",
        "triggered",
        "periodic",
    )
    assert row.dedupe_key == "periodic:hourly:2026-01-01T11:00:00Z"
    assert row.trigger_reason == "cron 0 * * * *: scheduled 2026-01-01T11:00:00Z"
    assert row.created_at == h(1)
    assert row.refs is None and row.org is None and row.extra_refs == []
    assert row.job_config == hourly.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert row.agent == "local" and row.context == "hourly"


def test_cron_never_overlaps_and_fires_once_for_missed_slots(
    db: Database, jobs: dict[str, Periodic]
) -> None:
    sched = scheduler(db, jobs["hourly"])
    sched.tick(T0)
    [first] = sched.tick(h(1))
    for hour in (2, 3, 4, 4.4):
        assert sched.tick(h(hour)) == [], f"fired at {h(hour)} while the run was going"
    finish(db, first, h(4.5))
    [second] = sched.tick(h(4.5))
    assert sched.tick(h(4.6)) == []
    assert rows(db)[-1].dedupe_key == "periodic:hourly:2026-01-01T14:00:00Z"
    finish(db, second, h(4.7))
    assert sched.tick(h(4.99)) == []  # counted from the late run: next slot 15:00
    assert len(sched.tick(h(5))) == 1
    assert len(rows(db)) == 3


def test_interval_runs_at_once_then_every_interval_from_the_start(
    db: Database, jobs: dict[str, Periodic]
) -> None:
    sched = scheduler(db, jobs["every-2h"])
    [first] = sched.tick(T0)
    row = rows(db)[0]
    assert row.dedupe_key == "periodic:every-2h:first"
    assert row.trigger_reason == "interval 2h: first run"
    assert row.refs is None
    assert row.extra_refs == [{"org": "acme", "repo": "widget", "base_ref": "main"}]
    assert sched.tick(T0 + timedelta(hours=3)) == []  # still running
    finish(db, first, T0 + timedelta(hours=3))
    [second] = sched.tick(T0 + timedelta(hours=3, seconds=1))  # 2h after the start had passed
    assert rows(db)[1].dedupe_key == "periodic:every-2h:2026-01-01T12:00:30Z"
    finish(db, second, T0 + timedelta(hours=3, minutes=10))
    assert sched.tick(T0 + timedelta(hours=5, seconds=0.5)) == []
    assert len(sched.tick(T0 + timedelta(hours=5, seconds=1))) == 1


def test_minimum_interval_counts_from_the_finish(db: Database, jobs: dict[str, Periodic]) -> None:
    sched = scheduler(db, jobs["cooldown"])
    [first] = sched.tick(T0)
    finish(db, first, T0 + timedelta(minutes=50))
    assert sched.tick(T0 + timedelta(minutes=109)) == []
    [second] = sched.tick(T0 + timedelta(minutes=110))
    assert rows(db)[1].trigger_reason == "minimum_interval 1h: scheduled 2026-01-01T11:50:30Z"
    assert second != first


def test_restart_does_not_fire_again_and_catches_up_once(
    db: Database, jobs: dict[str, Periodic]
) -> None:
    periodics = (jobs["hourly"], jobs["every-2h"])
    first = scheduler(db, *periodics)
    created = first.tick(T0) + first.tick(h(1))  # every-2h at once, hourly at 11:00
    assert len(created) == 2 and len(rows(db)) == 2
    for job_id in created:
        finish(db, job_id, h(1.1))
    # A new process on the same database, at the same instant and a little later.
    other = make_engine(db.url)
    try:
        again = PeriodicScheduler(other, lambda: JobConfig(periodics=list(periodics)))
        assert again.tick(h(1)) == []
        assert again.tick(h(1.5)) == []
        # Down from 11:30 until 15:20: hourly slots 12:00..15:00 passed, every-2h was due 12:00.
        created = again.tick(h(5.33))
        assert len(created) == 2
        keys = {r.dedupe_key for r in rows(db)[2:]}
        assert keys == {
            "periodic:hourly:2026-01-01T15:00:00Z",
            "periodic:every-2h:2026-01-01T12:00:30Z",
        }
        assert again.tick(h(5.34)) == []
    finally:
        other.dispose()


def test_two_schedulers_ticking_the_same_instant_create_one_run(
    db: Database, jobs: dict[str, Periodic]
) -> None:
    engines = [make_engine(db.url) for _ in range(2)]
    try:
        schedulers = [
            PeriodicScheduler(e, lambda: JobConfig(periodics=[jobs["hourly"], jobs["every-2h"]]))
            for e in engines
        ]
        for s in schedulers:
            s.tick(T0)  # both see the jobs at 10:00:30 (every-2h: first run, once)
        assert len(rows(db)) == 1
        barrier = threading.Barrier(2)
        results: list[list[int]] = []
        errors: list[BaseException] = []

        def run(s: PeriodicScheduler) -> None:
            try:
                barrier.wait(timeout=10)
                results.append(s.tick(h(1)))
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(s,)) for s in schedulers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors and len(results) == 2
        assert sorted(len(r) for r in results) == [0, 1]
        assert [r.name for r in rows(db)] == ["every-2h", "hourly"]
    finally:
        for e in engines:
            e.dispose()


def write_jobs(path: Path, text: str, mtime: float) -> None:
    path.write_text(text)
    os.utime(path, (mtime, mtime))  # a distinct mtime, however coarse the file system's clock


def test_config_reload_adds_and_removes_periodics(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "jobs.yaml"
    one = JOBS_YAML.split("- name: every-2h")[0]  # only `hourly`
    two = "periodics:\n- name: every-2h" + JOBS_YAML.split("- name: every-2h")[1]
    write_jobs(path, one, 1_000_000)
    config = ConfigAgent(str(path), reload_interval=0.0)
    sched = PeriodicScheduler.from_settings(
        Settings(config_path=str(path)), db.engine, config=config
    )
    assert sched.tick(T0) == []
    [hourly_run] = sched.tick(h(1))
    finish(db, hourly_run, h(1.1))
    # `hourly` removed, `every-2h` added (and `cooldown` as well).
    write_jobs(path, two, 1_000_100)
    created = sched.tick(h(2))
    assert {r.name for r in rows(db) if r.id in created} == {"every-2h", "cooldown"}
    assert sched.tick(h(3)) == []  # hourly's 13:00 slot: no longer configured
    # Put `hourly` back: it is counted from its last run, so 14:00 is due at once.
    write_jobs(path, one, 1_000_200)
    created = sched.tick(h(4))
    assert [r.dedupe_key for r in rows(db) if r.id in created] == [
        "periodic:hourly:2026-01-01T14:00:00Z"
    ]


def test_unusable_schedule_is_logged_and_others_still_run(
    db: Database, jobs: dict[str, Periodic], caplog: pytest.LogCaptureFixture
) -> None:
    broken = Periodic(name="broken", interval="whenever")  # the loader would refuse this
    unfit = Periodic(name="unfit", interval="1h", agent="a" * 40)  # too long for its column
    sched = scheduler(db, broken, unfit, jobs["every-2h"])
    with caplog.at_level(logging.ERROR):
        assert len(sched.tick(T0)) == 1
        assert sched.tick(T0 + timedelta(seconds=1)) == []
    assert [r.name for r in rows(db)] == ["every-2h"]
    assert "periodic broken" in caplog.text and "periodic unfit" in caplog.text
    assert caplog.text.count("periodic unfit") == 1  # once per config load, not every tick


def test_start_ticks_in_a_thread_until_stopped(db: Database, jobs: dict[str, Periodic]) -> None:
    clock = [T0]
    woken = threading.Event()
    registry = CollectorRegistry()
    sched = PeriodicScheduler(
        db.engine,
        lambda: JobConfig(periodics=[jobs["every-2h"]]),
        tick=0.01,
        now=lambda: clock[0],
        registry=registry,
        notify=woken.set,
    )
    thread = sched.start()
    try:
        assert woken.wait(10), "notify was not called after a run was created"
        wait_for("the first periodic row", lambda: len(rows(db)) == 1, 10, 0.01)
    finally:
        sched.stop(timeout=10)
    assert not thread.is_alive()
    assert registry.get_sample_value("foredeck_periodics_triggered_total") == 1
    finish(db, rows(db)[0].id, T0)
    clock[0] = T0 + timedelta(hours=3)
    assert len(rows(db)) == 1  # stopped: nothing ticks any more


class CountingDecide:
    """Stands in for `decide` in the scheduler: records which periodics were evaluated."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.names: list[str] = []
        self._real = decide
        monkeypatch.setattr(scheduler_module, "decide", self)

    def __call__(self, schedule: Any, last: Any, now: datetime, **kwargs: Any) -> Any:
        self.names.append(schedule.text)
        return self._real(schedule, last, now, **kwargs)

    def take(self) -> list[str]:
        """The schedules evaluated since the last call."""
        taken, self.names = self.names, []
        return taken


def test_an_idle_scheduler_evaluates_nothing_and_sleeps_until_the_next_due_time(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only periodics whose time has come are evaluated; between them the scheduler sleeps
    until the next due time (at most `tick`, when it looks for config reloads)."""
    evaluated = CountingDecide(monkeypatch)
    nightly = [Periodic(name=f"nightly-{i}", cron=f"{i % 60} 3 * * *") for i in range(200)]
    soon = Periodic(name="soon", cron="30 10 * * *")  # 10:30, T0 is 10:00:30
    config = [JobConfig(periodics=[*nightly, soon])]
    sched = PeriodicScheduler(db.engine, lambda: config[0], tick=60.0)

    assert sched.tick(T0) == []
    assert len(evaluated.take()) == 201  # first sight: each periodic once
    for seconds in (1, 2, 60, 600, 1769):
        assert sched.tick(T0 + timedelta(seconds=seconds)) == []
    assert evaluated.take() == []
    assert sched.next_wake(T0) == 60.0  # nothing due for 29.5 min: wake for reloads only
    assert sched.next_wake(h(0.5) - timedelta(seconds=10)) == 10.0

    [run] = sched.tick(h(0.5))
    assert set(evaluated.take()) == {"30 10 * * *"}  # `soon` alone
    assert rows(db)[-1].id == run
    assert sched.tick(h(0.5) + timedelta(seconds=1)) == []
    assert evaluated.take() == []

    # A reload (a new config object) with the same periodics and one more: only the new one.
    hourly = Periodic(name="hourly", cron="0 * * * *")
    config[0] = JobConfig(periodics=[*nightly, soon, hourly])
    assert sched.tick(h(0.6)) == []
    assert evaluated.take() == ["0 * * * *"]
    assert sched.next_wake(h(0.99)) == pytest.approx(36.0)  # hourly's 11:00 slot
