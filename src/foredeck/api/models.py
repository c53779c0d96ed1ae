"""Request and response bodies of `/api`: typed, so that `/openapi.json` describes every route."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from foredeck.bounds import PullNumber
from foredeck.db.models import Job, JobState, JobType
from foredeck.scm.refs import Refs

MAX_NAME = 255


class JobSummary(BaseModel):
    """One job in a listing."""

    id: int
    name: str
    type: JobType
    state: JobState
    org: str | None = None
    repo: str | None = None
    base_ref: str | None = None
    pull_number: int | None = None
    authors: list[str] = Field(default_factory=list)
    """The authors of the job's pulls (presubmit: one; batch: several)."""
    context: str | None = None
    cause: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    description: str | None = None
    url: str | None = None
    build_id: str | None = None

    @classmethod
    def of(cls, job: Job) -> JobSummary:
        return cls.model_validate(_summary_fields(job))


class JobDetail(JobSummary):
    """One job with what it tests and why it ran."""

    base_sha: str | None = None
    refs: dict[str, Any] | None = None
    """Prow's `Refs` JSON (empty fields omitted)."""
    extra_refs: list[dict[str, Any]] = Field(default_factory=list)
    pulls: list[dict[str, Any]] = Field(default_factory=list)
    trigger_reason: str | None = None
    agent: str | None = None
    heartbeat_at: datetime | None = None
    requeues: int = 0
    reported_state: str | None = None

    @classmethod
    def of(cls, job: Job) -> JobDetail:
        fields = _summary_fields(job)
        fields.update(
            base_sha=job.base_sha,
            refs=job.refs,
            extra_refs=job.extra_refs or [],
            pulls=job.pulls or [],
            trigger_reason=job.trigger_reason,
            agent=job.agent,
            heartbeat_at=job.heartbeat_at,
            requeues=job.requeues or 0,
            reported_state=job.reported_state,
        )
        return cls.model_validate(fields)


def _summary_fields(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "name": job.name,
        "type": job.type,
        "state": job.state,
        "org": job.org,
        "repo": job.repo,
        "base_ref": job.base_ref,
        "pull_number": job.pull_number,
        "authors": [str(p["author"]) for p in job.pulls or [] if p.get("author")],
        "context": job.context,
        "cause": job.cause,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "description": job.description,
        "url": job.url,
        "build_id": job.build_id,
    }


class JobPage(BaseModel):
    """A page of jobs, newest first; pass `next` as `after` to get the following page."""

    jobs: list[JobSummary]
    next: int | None = None
    """The `after` cursor of the next page; None on the last page."""


class StartJob(BaseModel):
    """`POST /api/jobs`: run a configured job now (Prow's gangway)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=MAX_NAME)
    type: JobType | None = None
    """Default: presubmit with a pull, postsubmit with refs, periodic without refs."""
    refs: Refs | None = None
    pull: PullNumber | None = None
    """A pull request number to add to `refs` (shorthand for `refs.pulls: [{number: N}]`)."""


class ErrorBody(BaseModel):
    detail: str
