"""Job rows for reporter tests, inserted the way the trigger and the controller write them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, update

from foredeck.db import Job, session_factory
from foredeck.db.engine import write_lock
from foredeck.db.jobs import JobCreate, Pull, Refs, create_job, set_state
from foredeck.db.models import JobState

ORG, REPO, PR = "acme", "widget", 7
HEAD = "b" * 40
DASH = "https://ci.example.com"  # the reporters' dashboard_url in these tests
NEW_HEAD = "c" * 40
BASE = "a" * 40


def presubmit(
    name: str,
    *,
    sha: str = HEAD,
    pr: int = PR,
    author: str = "alice",
    config: dict[str, Any] | None = None,
    context: str | None = None,
) -> JobCreate:
    refs = Refs(
        org=ORG,
        repo=REPO,
        base_ref="main",
        base_sha=BASE,
        pulls=[Pull(number=pr, sha=sha, author=author)],
    )
    job_config = {"name": name, "context": context or name, **(config or {})}
    return JobCreate(
        name=name, type="presubmit", refs=refs, job_config=job_config, context=context or name
    )


def postsubmit(name: str, *, sha: str = BASE) -> JobCreate:
    refs = Refs(org=ORG, repo=REPO, base_ref="main", base_sha=sha)
    return JobCreate(name=name, type="postsubmit", refs=refs, context=name)


def periodic(name: str) -> JobCreate:
    return JobCreate(name=name, type="periodic")


def add(engine: Engine, spec: JobCreate, *states: JobState, **kw: Any) -> int:
    """Create the job, then move it through `states` (kwargs go to the last `set_state`)."""
    with write_lock(engine), session_factory(engine).begin() as session:
        job, _ = create_job(session, spec)
        job_id = job.id
    move(engine, job_id, *states, **kw)
    return job_id


def move(engine: Engine, job_id: int, *states: JobState, **kw: Any) -> None:
    for i, state in enumerate(states):
        extra = kw if i == len(states) - 1 else {}
        with write_lock(engine), session_factory(engine).begin() as session:
            assert set_state(session, job_id, state, **extra), f"job {job_id} -> {state}"


def get(engine: Engine, job_id: int) -> Job:
    with session_factory(engine)() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def forget_reports(engine: Engine) -> None:
    """As if every report had been sent but the process died before recording it."""
    with write_lock(engine), session_factory(engine).begin() as session:
        session.execute(update(Job).values(reported_state=None, reported_at=None))
