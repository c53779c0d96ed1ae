"""A final state the database refuses for a while (a full disk) is retried until it is
recorded, and a job of ours left pending with no run of ours going is ended by recovery: no job
(and no periodic behind it) stays pending forever."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError

from foredeck.config import JobConfig, Periodic
from foredeck.controller import Controller
from foredeck.db.types import utcnow
from foredeck.periodics import PeriodicScheduler
from tests.controller.helpers import add_job, get_job, host_dir, make_settings, run_all, spec_config
from tests.controller.test_recovery import make_pending
from tests.db.fixtures import Database
from tests.kit.wait import eventually

LOST = "controller lost track of the job (its end could not be recorded)"


class FullDisk:
    """Makes the database refuse the writes of final states (the only UPDATE of `jobs` that
    sets `finished_at`) the first `times` times, as a full disk would."""

    def __init__(self, times: int) -> None:
        self.left = times
        self.refused = 0

    def __call__(self, _conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if self.left and statement.startswith("UPDATE jobs") and "finished_at" in statement:
            self.left -= 1
            self.refused += 1
            raise OperationalError(statement, params, Exception("database or disk is full"))


@contextmanager
def full_disk(engine: Engine, times: int) -> Iterator[FullDisk]:
    hook = FullDisk(times)
    event.listen(engine, "before_cursor_execute", hook)
    try:
        yield hook
    finally:
        event.remove(engine, "before_cursor_execute", hook)


async def test_a_refused_final_state_is_retried_until_it_is_recorded(
    db: Database, tmp_path: Path
) -> None:
    job_id = add_job(db, "disk-full", spec_config("echo done"))
    controller = Controller(db.engine, make_settings(tmp_path, db))
    controller.finish_retry = (0.01, 0.05)
    with full_disk(db.engine, times=6) as disk:
        await run_all(controller)
    assert disk.refused == 6
    job = get_job(db, job_id)
    assert (job.state, job.description, job.owner) == ("success", "Job succeeded.", None)
    assert job.url is not None and job.finished_at is not None


async def test_a_job_of_ours_with_no_run_going_is_recovered(db: Database, tmp_path: Path) -> None:
    """Its final state was never recorded (or its claim's answer was lost): it is ours, pending,
    and no run of ours is going. Recovery ends it, and its periodic runs again."""
    marker = host_dir(tmp_path) / "started"
    running = add_job(db, "running", spec_config(f"touch {marker}; sleep 1"))
    controller = Controller(db.engine, make_settings(tmp_path, db))
    assert await controller.run_once() == [running]
    await eventually(marker.exists)
    stuck = add_job(db, "nightly", spec_config("true"))
    make_pending(db, stuck, controller.owner, 0, tmp_path / "runs" / str(stuck))

    assert await controller.recover_stale() == [stuck]  # not the job it is running
    job = get_job(db, stuck)
    assert (job.state, job.description, job.owner) == ("error", LOST, None)
    await run_all(controller)
    assert get_job(db, running).state == "success"

    nightly = Periodic(name="nightly", interval="1h")
    scheduler = PeriodicScheduler(db.engine, lambda: JobConfig(periodics=[nightly]))
    assert len(scheduler.tick(utcnow() + timedelta(hours=2))) == 1


async def test_a_stop_ends_the_retries_and_leaves_the_job_to_recovery(
    db: Database, tmp_path: Path
) -> None:
    job_id = add_job(db, "never-recorded", spec_config("true"))
    controller = Controller(db.engine, make_settings(tmp_path, db))
    controller.finish_retry = (0.01, 0.05)
    with full_disk(db.engine, times=10**9) as disk:
        thread = controller.start()
        await eventually(lambda: disk.refused >= 3, timeout=60)
        await asyncio.to_thread(controller.stop, 60)
        assert not thread.is_alive()
    job = get_job(db, job_id)
    assert (job.state, job.owner) == ("pending", controller.owner)
    assert await controller.recover_stale() == [job_id]
    assert get_job(db, job_id).state == "error"
