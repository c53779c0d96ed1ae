"""Heartbeats, and recovery of jobs whose controller died: error, or re-queued once."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from foredeck.controller import Controller
from foredeck.db import Job, session_factory
from foredeck.db.engine import write_lock
from foredeck.db.types import utcnow
from tests.controller.helpers import add_job, get_job, host_dir, make_settings, run_all, spec_config
from tests.db.fixtures import Database
from tests.execute.helpers import lingering
from tests.kit.wait import eventually

DIED = "controller died while running the job"


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def make_pending(db: Database, job_id: int, owner: str, age: float, workspace: Path) -> None:
    now = utcnow()
    with write_lock(db.engine), session_factory(db.engine).begin() as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(
                state="pending",
                owner=owner,
                heartbeat_at=now - timedelta(seconds=age),
                started_at=now - timedelta(seconds=age + 1),
                build_id="1",
                workspace=str(workspace),
            )
        )


async def test_stale_heartbeat_ends_error(db: Database, tmp_path: Path) -> None:
    job_id = add_job(db, "lost", spec_config("true"))
    make_pending(db, job_id, "elsewhere:4242:abcd", 60, tmp_path / "runs" / str(job_id))
    fresh_id = add_job(db, "alive", spec_config("true"))
    make_pending(db, fresh_id, "elsewhere:4243:abcd", 1, tmp_path / "runs" / str(fresh_id))
    controller = Controller(db.engine, make_settings(tmp_path, db, stale_after=30))

    assert await controller.recover_stale() == [job_id]
    job = get_job(db, job_id)
    assert (job.state, job.description, job.owner) == ("error", DIED, None)
    assert get_job(db, fresh_id).state == "pending"  # another host's heartbeat is recent


async def test_dead_pid_on_this_host_is_recovered_at_once(db: Database, tmp_path: Path) -> None:
    host = socket.gethostname()
    dead = add_job(db, "dead", spec_config("true"))
    make_pending(db, dead, f"{host}:{dead_pid()}:abcd", 0, tmp_path / "runs" / str(dead))
    alive = add_job(db, "alive", spec_config("true"))
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        make_pending(db, alive, f"{host}:{live.pid}:abcd", 0, tmp_path / "runs" / str(alive))
        controller = Controller(db.engine, make_settings(tmp_path, db, stale_after=30))
        assert await controller.recover_stale() == [dead]
    finally:
        live.kill()
        live.wait()
    assert get_job(db, dead).state == "error"
    assert get_job(db, alive).state == "pending"


async def test_requeue_once_then_error(db: Database, tmp_path: Path) -> None:
    host = socket.gethostname()
    job_id = add_job(db, "flaky", spec_config("echo ran"))
    workspace = tmp_path / "runs" / str(job_id)
    (workspace / "out").mkdir(parents=True)
    (workspace / "out" / "half-written.txt").write_text("from the dead run\n")
    make_pending(db, job_id, f"{host}:{dead_pid()}:abcd", 0, workspace)
    settings = make_settings(tmp_path, db, requeue_on_recovery=True)
    controller = Controller(db.engine, settings)

    assert await controller.recover_stale() == [job_id]
    job = get_job(db, job_id)
    assert (job.state, job.requeues, job.owner, job.build_id) == ("triggered", 1, None, None)
    assert job.description == f"requeued: {DIED}"
    assert not workspace.exists()  # the dead run's files are gone before anyone can claim it

    await run_all(controller)
    job = get_job(db, job_id)
    assert job.state == "success", job.description
    build = tmp_path / "artifacts" / "logs" / "flaky" / str(job.build_id)
    assert not (build / "half-written.txt").exists()
    assert "ran" in (build / "build-log.txt").read_text()

    # The second death of the same job is final.
    make_pending(db, job_id, f"{host}:{dead_pid()}:abcd", 0, workspace)
    assert await controller.recover_stale() == [job_id]
    job = get_job(db, job_id)
    assert (job.state, job.description, job.requeues) == ("error", DIED, 1)


async def test_heartbeat_advances_while_running(db: Database, tmp_path: Path) -> None:
    marker = host_dir(tmp_path) / "started"
    job_id = add_job(db, "beat", spec_config(f"touch {marker}; sleep 1.5"))
    controller = Controller(db.engine, make_settings(tmp_path, db, heartbeat_interval=0.1))
    await controller.run_once()
    await eventually(marker.exists)
    first = get_job(db, job_id).heartbeat_at
    assert first is not None

    def beat_moved() -> bool:
        job = get_job(db, job_id)
        return job.heartbeat_at is not None and job.heartbeat_at > first

    while not beat_moved():
        await controller.run_once()
        assert controller.running == [job_id], "the job ended before a heartbeat"
        await asyncio.sleep(0.05)
    await run_all(controller)
    assert get_job(db, job_id).state == "success"


async def test_a_job_taken_from_us_is_stopped_and_left_alone(db: Database, tmp_path: Path) -> None:
    marker = host_dir(tmp_path) / "started"
    job_id = add_job(db, "taken", spec_config(f"touch {marker}; sleep 30"))
    controller = Controller(db.engine, make_settings(tmp_path, db))
    await controller.run_once()
    await eventually(marker.exists)
    # Another controller recovered the job (we looked dead) and runs it now.
    with write_lock(db.engine), session_factory(db.engine).begin() as session:
        session.execute(update(Job).where(Job.id == job_id).values(owner="other:1:cafe"))
    await run_all(controller)
    job = get_job(db, job_id)
    assert (job.state, job.owner, job.url) == ("pending", "other:1:cafe", None)
    assert lingering(tmp_path / "runs") == []


async def test_a_dead_runs_live_snapshot_is_sealed_as_error(db: Database, tmp_path: Path) -> None:
    """The dead controller's live snapshots reached the store: the build gets a finished.json,
    so readers of the bucket do not show it running forever. Without a snapshot, nothing."""
    host = socket.gethostname()
    seen = add_job(db, "seen", spec_config("true"))
    make_pending(db, seen, f"{host}:{dead_pid()}:abcd", 0, tmp_path / "runs" / str(seen))
    unseen = add_job(db, "unseen", spec_config("true"))
    make_pending(db, unseen, f"{host}:{dead_pid()}:abcd", 0, tmp_path / "runs" / str(unseen))
    snapshot = tmp_path / "artifacts" / "logs" / "seen" / "1"  # build id "1": make_pending
    snapshot.mkdir(parents=True)
    (snapshot / "started.json").write_text('{"timestamp": 1}')
    (snapshot / "build-log.txt").write_text("half a log\n")
    controller = Controller(db.engine, make_settings(tmp_path, db, stale_after=30))

    assert sorted(await controller.recover_stale()) == sorted([seen, unseen])
    finished = json.loads((snapshot / "finished.json").read_text())
    assert (finished["passed"], finished["result"]) == (False, "ERROR")
    assert finished["metadata"]["description"] == DIED
    assert (snapshot / "build-log.txt").read_text() == "half a log\n"
    assert not (tmp_path / "artifacts" / "logs" / "unseen").exists()
    assert get_job(db, seen).state == get_job(db, unseen).state == "error"
