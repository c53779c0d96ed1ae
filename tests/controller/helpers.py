"""Builders shared by the controller tests: settings in tmp_path, job rows, a git upstream."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from foredeck.controller import Controller
from foredeck.db import Job, session_factory
from foredeck.db.engine import write_lock
from foredeck.db.jobs import JobCreate, Pull, Refs, create_job
from foredeck.db.models import JobType
from foredeck.settings import Settings
from tests.db.fixtures import Database
from tests.kit.git import Repo


def host_dir(tmp_path: Path) -> Path:
    """A directory of the test's that steps may write (bound into their sandbox): how a step
    signals the test, or the test a step."""
    path = tmp_path / "host"
    path.mkdir(exist_ok=True)
    path.chmod(0o777)  # steps of a root controller run as nobody
    return path


def make_settings(tmp_path: Path, db: Database, **controller: Any) -> Settings:
    values: dict[str, Any] = {
        "sandbox": {"bind": [str(host_dir(tmp_path))]},
        "poll_interval": 0.05,
        "heartbeat_interval": 0.2,
        "stale_after": 30.0,
        "default_grace_period": 0.5,
        "workdir": str(tmp_path / "runs"),
        "mirror_dir": str(tmp_path / "mirrors"),
        "max_concurrency": 4,
        "parallel": 2,
    }
    values.update(controller)
    return Settings.model_validate(
        {
            "database_url": db.url,
            "scm": {"provider": "local", "local_root": str(tmp_path / "repos")},
            "controller": values,
            "artifacts": {"url": f"file://{tmp_path / 'artifacts'}"},
        }
    )


def spec_config(script: str, **extra: Any) -> dict[str, Any]:
    """A Prow job config snapshot with one container running `sh -c script`."""
    return {
        "spec": {"containers": [{"image": "busybox", "command": ["sh", "-c", script]}]},
        **extra,
    }


def add_job(
    db: Database,
    name: str,
    config: dict[str, Any],
    *,
    type: JobType = "periodic",
    refs: Refs | None = None,
) -> int:
    spec = JobCreate(name=name, type=type, refs=refs, job_config={"name": name, **config})
    with write_lock(db.engine), session_factory(db.engine).begin() as session:
        job, _ = create_job(session, spec)
        return job.id


def get_job(db: Database, job_id: int) -> Job:
    with session_factory(db.engine)() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


async def run_all(controller: Controller, deadline: float = 30.0) -> None:
    """Claim and run until nothing is left to claim and nothing runs."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        claimed = await controller.run_once()
        if not claimed and not controller.running:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("jobs still queued or running at the deadline")


def unfinished(db: Database) -> int:
    with session_factory(db.engine)() as session:
        stmt = select(func.count()).select_from(Job).where(Job.state.in_(["triggered", "pending"]))
        return int(session.execute(stmt).scalar_one())


async def run_until_done(db: Database, *controllers: Controller, deadline: float = 30.0) -> None:
    """Rounds on every controller until no job is left unfinished in the database."""
    end = time.monotonic() + deadline
    while unfinished(db) or any(c.running for c in controllers):
        if time.monotonic() > end:
            raise AssertionError("jobs still queued or running at the deadline")
        await asyncio.gather(*(c.run_once() for c in controllers))
        await asyncio.sleep(0.02)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


class Upstream(Repo):
    """`<local_root>/org/repo` as the local provider sees it: `main` plus PR branches."""

    def __init__(self, root: Path) -> None:
        super().__init__(root / "org" / "repo", {"base.txt": "base\n"}, "change base.txt")
        self.commit("change shared.txt", {"shared.txt": "line 1\n"})

    def refs(self, number: int, head: str, ref: str) -> Refs:
        return Refs(
            org="org",
            repo="repo",
            base_ref="main",
            base_sha=self.head("main"),
            pulls=[Pull(number=number, sha=head, author="alice", ref=ref, title="A change")],
        )
