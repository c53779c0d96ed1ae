"""Shared pieces of the dashboard tests: jobs made through `create_job`/`set_state`, and the
service app (`create_service_app`) on a test database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from foredeck.db import session_factory
from foredeck.db.engine import write_lock
from foredeck.db.jobs import JobCreate, Pull, Refs, create_job, set_state
from foredeck.db.models import JobState, JobType
from foredeck.db.testresults import CaseOutcome, record_run
from foredeck.serve.app import create_service_app
from foredeck.settings import Settings
from tests.db.fixtures import Database

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def make_job(
    db: Database,
    name: str = "unit",
    *,
    type: JobType = "presubmit",
    state: JobState = "success",
    org: str = "acme",
    repo: str = "widget",
    pr: int = 7,
    sha: str = "b" * 40,
    author: str = "alice",
    at: datetime = T0,
    runtime: timedelta = timedelta(seconds=90),
    description: str | None = None,
    links: dict[str, str] | None = None,
    job_config: dict[str, Any] | None = None,
    cases: dict[str, str] | None = None,
) -> int:
    """A job created at `at`; started a second later and, unless unfinished, finished after
    `runtime`. With `cases` (test name -> `passed`/`failed`/`skipped`), the run and its tests
    are recorded as the controller records them with its final state. Returns its id."""
    pulls = []
    if type in ("presubmit", "batch"):
        pulls = [Pull(number=pr, sha=sha, author=author, title="Fix it", **(links or {}))]
    refs = None
    if type != "periodic":
        refs = Refs(org=org, repo=repo, base_ref="main", base_sha="a" * 40, pulls=pulls)
        if links and "repo_link" in links:
            refs.repo_link = links["repo_link"]
    spec = JobCreate(name=name, type=type, refs=refs, job_config=job_config or {})
    with write_lock(db.engine), session_factory(db.engine).begin() as s:
        job, _ = create_job(s, spec, now=at)
        job_id = job.id
        if state != "triggered":
            set_state(s, job_id, "pending", now=at + timedelta(seconds=1))
        if state not in ("triggered", "pending"):
            set_state(
                s, job_id, state, description=description, now=at + timedelta(seconds=1) + runtime
            )
        elif description is not None:
            set_state(s, job_id, state, from_states=None, description=description)
        if cases is not None:
            outcomes = [CaseOutcome(n, st, 0.5) for n, st in cases.items()]
            record_run(s, job_id, outcomes, now=at + runtime)
    return job_id


def client_for(db: Database, **settings: Any) -> TestClient:
    return TestClient(create_service_app(Settings(database_url=db.url, **settings), db.engine))
