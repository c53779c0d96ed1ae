"""Each controller clears its own workdir: workspaces whose job is gone (the sinker, on another
machine, deleted the row) or finished before the sinker's max_age; nothing else."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from foredeck.controller import Controller
from foredeck.db import Job, session_factory
from foredeck.db.engine import write_lock
from foredeck.db.types import utcnow
from tests.controller.helpers import add_job, make_settings, spec_config
from tests.db.fixtures import Database


def set_row(db: Database, job_id: int, **values: object) -> None:
    with write_lock(db.engine), session_factory(db.engine).begin() as session:
        session.execute(update(Job).where(Job.id == job_id).values(**values))


async def test_controller_removes_only_workspaces_no_job_needs(
    db: Database, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, db)
    settings.sinker.max_age = 3600
    runs = tmp_path / "runs"
    now = utcnow()
    old = add_job(db, "old", spec_config("true"))
    set_row(db, old, state="success", finished_at=now - timedelta(hours=2))
    recent = add_job(db, "recent", spec_config("true"))
    set_row(db, recent, state="failure", finished_at=now - timedelta(minutes=5))
    running = add_job(db, "running", spec_config("true"))
    set_row(db, running, state="pending", owner="elsewhere:1:x", heartbeat_at=now)
    gone = max(old, recent, running) + 1000  # its row was deleted by the sinker elsewhere
    for job_id in (old, recent, running, gone):
        (runs / str(job_id) / "out").mkdir(parents=True)
        (runs / str(job_id) / "out" / "build-log.txt").write_text("log\n")
    (runs / ".trash-7").mkdir()  # not a workspace name: left alone
    (runs / "123456").write_text("a file, not a workspace")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (runs / str(gone + 1)).symlink_to(outside, target_is_directory=True)

    disabled = make_settings(tmp_path, db)
    disabled.sinker.enabled = False
    await Controller(db.engine, disabled).run_once()
    assert (runs / str(old)).is_dir() and (runs / str(gone)).is_dir()

    controller = Controller(db.engine, settings)
    await controller.run_once()
    assert not (runs / str(old)).exists()
    assert not (runs / str(gone)).exists()
    assert (runs / str(recent) / "out" / "build-log.txt").read_text() == "log\n"
    assert (runs / str(running)).is_dir()
    assert (runs / ".trash-7").is_dir() and (runs / "123456").is_file()
    assert outside.is_dir()  # a link out of the workdir is never followed

    # Once per sinker interval, not every round.
    (runs / str(gone)).mkdir()
    await controller.run_once()
    assert (runs / str(gone)).is_dir()
