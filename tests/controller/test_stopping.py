"""Abort, timeout and controller stop: the job ends `aborted` and no process survives."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from foredeck.controller import Controller
from foredeck.db import session_factory
from foredeck.db.engine import write_lock
from foredeck.db.jobs import set_state
from tests.controller.helpers import (
    add_job,
    get_job,
    host_dir,
    make_settings,
    read_json,
    run_all,
    spec_config,
)
from tests.db.fixtures import Database
from tests.execute.helpers import lingering
from tests.kit.wait import eventually


def stubborn(tmp_path: Path) -> str:
    """A step that ignores SIGTERM, leaves a background child in a session of its own, then
    waits: what must not survive is found by its working directory, in the job's workdir."""
    return f"trap '' TERM; setsid sleep 30 & touch {host_dir(tmp_path) / 'started'}; wait"


async def test_abort_while_running_kills_the_process_group(db: Database, tmp_path: Path) -> None:
    job_id = add_job(db, "long", spec_config(stubborn(tmp_path)), type="periodic")
    controller = Controller(db.engine, make_settings(tmp_path, db, default_grace_period=0.3))
    assert await controller.run_once() == [job_id]
    await eventually(lambda: (host_dir(tmp_path) / "started").exists())

    with write_lock(db.engine), session_factory(db.engine).begin() as session:
        assert set_state(session, job_id, "aborted", description="superseded", suppress_report=True)
    aborted_at = time.monotonic()
    await run_all(controller)
    assert time.monotonic() - aborted_at < 5  # poll 0.05 s + grace 0.3 s, with room for a slow box

    job = get_job(db, job_id)
    assert job.state == "aborted"
    assert job.description == "superseded" and job.suppress_report is True
    assert lingering(tmp_path / "runs") == []
    build = tmp_path / "artifacts" / "logs" / "long" / str(job.build_id)
    assert job.url == f"file://{build}"
    assert read_json(build / "finished.json")["result"] == "ABORTED"


async def test_timeout_cancels_then_kills_after_the_grace_period(
    db: Database, tmp_path: Path
) -> None:
    config = spec_config(
        stubborn(tmp_path), decoration_config={"timeout": "1s", "grace_period": "500ms"}
    )
    job_id = add_job(db, "slow", config)
    controller = Controller(db.engine, make_settings(tmp_path, db))
    started = time.monotonic()
    await run_all(controller)
    took = time.monotonic() - started
    job = get_job(db, job_id)
    assert job.state == "aborted"
    assert job.description == "timed out after 1s"
    assert 1.0 <= took < 8
    assert lingering(tmp_path / "runs") == []


async def test_timeout_of_a_pipeline_job_uses_the_controller_timer(
    db: Database, tmp_path: Path
) -> None:
    cleaned = host_dir(tmp_path) / "cleaned"
    pipeline = {
        "apiVersion": "tekton.dev/v1",
        "kind": "Pipeline",
        "metadata": {"name": "p"},
        "spec": {
            "tasks": [
                {
                    "name": "wait",
                    "taskSpec": {
                        "steps": [{"name": "s", "image": "x", "script": "setsid sleep 30 & wait"}]
                    },
                }
            ],
            "finally": [
                {
                    "name": "cleanup",
                    "taskSpec": {
                        "steps": [{"name": "c", "image": "x", "script": f"touch {cleaned}"}]
                    },
                }
            ],
        },
    }
    job_id = add_job(db, "pipe", {"pipeline": pipeline, "decoration_config": {"timeout": "1s"}})
    await run_all(Controller(db.engine, make_settings(tmp_path, db, default_grace_period=2.0)))
    job = get_job(db, job_id)
    assert job.state == "aborted"
    assert job.description == "timed out after 1s"
    assert cleaned.exists()  # finally tasks run within the grace period
    assert lingering(tmp_path / "runs") == []


async def test_default_timeout_applies(db: Database, tmp_path: Path) -> None:
    job_id = add_job(db, "forever", spec_config("sleep 30"))
    settings = make_settings(tmp_path, db, default_timeout=0.5, default_grace_period=0.2)
    await run_all(Controller(db.engine, settings))
    job = get_job(db, job_id)
    assert (job.state, job.description) == ("aborted", "timed out after 0.5s")


def test_stop_aborts_running_jobs(db: Database, tmp_path: Path) -> None:
    job_id = add_job(db, "long", spec_config(stubborn(tmp_path)))
    controller = Controller(db.engine, make_settings(tmp_path, db, default_grace_period=0.3))
    controller.start()
    try:
        asyncio.run(eventually(lambda: (host_dir(tmp_path) / "started").exists()))
    finally:
        controller.stop(timeout=10)
    job = get_job(db, job_id)
    assert (job.state, job.description) == ("aborted", "controller stopped")
    assert job.owner is None
    assert lingering(tmp_path / "runs") == []
