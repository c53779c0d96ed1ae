"""Request and response bodies of `/api`: typed, so that `/openapi.json` describes every route.

Anyone may read the API, so a job is shown without the server's filesystem: a build directory
on the local store (`file:///...`) becomes the dashboard's link to the job's artifacts, and the
local SCM provider's `file://` links to repositories on disk are left out of refs and pulls.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from foredeck.bounds import NO_NUL, PullNumber, TextBody
from foredeck.db.flakes import RunVerdict
from foredeck.db.models import Job, JobState, JobType
from foredeck.leases.held import HeldLease
from foredeck.types import Refs

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
    """The build's artifacts: the store's URL (`s3://`, `gs://`, an http(s) link base) or the
    dashboard's artifact browser; None until the build is published."""
    build_id: str | None = None

    @classmethod
    def of(cls, job: Job, dashboard_url: str) -> JobSummary:
        return cls.model_validate(_summary_fields(job, dashboard_url))


class JobLease(BaseModel):
    """A lease the job held or holds (never its user data: that is the steps' alone)."""

    type: str
    name: str
    acquired_at: datetime
    released_at: datetime | None = None
    ended: str | None = None
    """`released` by the job, or `expired` (taken back by the reaper); None while held."""
    held_seconds: float
    cost: float | None = None
    """Estimated: hours held times the type's `leases.prices`; None without a price."""


class RunFlakes(BaseModel):
    """What the flake data says about a finished run (see docs/dashboard.md, "Flakes")."""

    flaky: bool
    """Another run of the job on the same commit ended the other way (failed / passed)."""
    known_flake: bool
    """The run failed, and every test that failed in it flaked in the job recently."""
    failed_tests: list[str] = Field(default_factory=list)
    known_flaky_tests: list[str] = Field(default_factory=list)
    """The failed tests that flaked in the job recently."""

    @classmethod
    def of(cls, verdict: RunVerdict) -> RunFlakes:
        return cls(
            flaky=verdict.flaky,
            known_flake=verdict.known_flake,
            failed_tests=verdict.failed_tests,
            known_flaky_tests=verdict.known_flaky_tests,
        )


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
    leases: list[JobLease] = Field(default_factory=list)
    flakes: RunFlakes | None = None
    """For a finished run with recorded results: is it flaky, are its failures known flakes."""

    @classmethod
    def of(
        cls,
        job: Job,
        dashboard_url: str,
        leases: Sequence[HeldLease] = (),
        flakes: RunVerdict | None = None,
    ) -> JobDetail:
        fields = _summary_fields(job, dashboard_url)
        fields.update(
            base_sha=job.base_sha,
            refs=_without_local_links(job.refs),
            extra_refs=[_without_local_links(r) for r in job.extra_refs or []],
            pulls=[_without_local_links(p) for p in job.pulls or []],
            trigger_reason=job.trigger_reason,
            agent=job.agent,
            heartbeat_at=job.heartbeat_at,
            requeues=job.requeues or 0,
            reported_state=job.reported_state,
            leases=[lease.to_json() for lease in leases],
            flakes=RunFlakes.of(flakes) if flakes is not None else None,
        )
        return cls.model_validate(fields)


STORE_SCHEMES = frozenset({"s3", "gs", "http", "https"})
LINK_FIELDS = frozenset(
    {"repo_link", "base_link", "clone_uri", "link", "commit_link", "author_link"}
)
"""The fields of Prow's `Refs` and `Pull` that hold links (`foredeck/types/refs.py`)."""
_SCP_LIKE = re.compile(r"[\w.-]+@[\w.-]+:")
"""git's `user@host:path` remote syntax."""


def _remote_scheme(url: str) -> str | None:
    """The scheme of a URL on another machine (`https`, `s3`, `ssh`, scp-like `git@host:`),
    or None for a local path or `file:` URL, which only describe the server's disk."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme and scheme != "file" and parts.netloc:
        return scheme
    return "ssh" if _SCP_LIKE.match(url.strip()) else None


def public_url(job: Job, dashboard_url: str) -> str | None:
    """Where others find the job's build (see `JobSummary.url`)."""
    if job.url is None:
        return None
    if _remote_scheme(job.url) in STORE_SCHEMES:
        return job.url
    return f"{dashboard_url.rstrip('/')}/view/{job.id}/artifacts"


def _without_local_links(value: dict[str, Any] | None) -> Any:
    """Prow refs (or one pull) JSON with links that are not remote blanked, pulls included."""
    if value is None:
        return None
    shown: dict[str, Any] = {}
    for key, item in value.items():
        if key in LINK_FIELDS and isinstance(item, str) and item:
            item = item if _remote_scheme(item) else ""
        elif key == "pulls" and isinstance(item, list):
            item = [_without_local_links(p) if isinstance(p, dict) else p for p in item]
        shown[key] = item
    return shown


def _summary_fields(job: Job, dashboard_url: str) -> dict[str, Any]:
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
        "url": public_url(job, dashboard_url),
        "build_id": job.build_id,
    }


class JobPage(BaseModel):
    """A page of jobs, newest first; pass `next` as `after` to get the following page."""

    jobs: list[JobSummary]
    next: int | None = None
    """The `after` cursor of the next page; None on the last page."""


class StartJob(TextBody):
    """`POST /api/jobs`: run a configured job now (Prow's gangway)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=MAX_NAME, pattern=NO_NUL)
    type: Literal["presubmit", "postsubmit", "periodic"] | None = None
    """Default: presubmit with a pull, postsubmit with refs, periodic without refs. Batches are
    started by the merge robot, not through the API."""
    refs: Refs | None = None
    pull: PullNumber | None = None
    """A pull request number to add to `refs` (shorthand for `refs.pulls: [{number: N}]`)."""


class ErrorBody(BaseModel):
    detail: str


class ValidationIssue(BaseModel):
    """One item of FastAPI's validation errors."""

    model_config = ConfigDict(extra="allow")

    loc: list[str | int]
    msg: str
    type: str


class Unprocessable(BaseModel):
    """422: a request that does not validate (FastAPI's list of issues), or one that validates
    but does not fit (a message: refs that do not fit the job's type, a branch it skips...)."""

    detail: str | list[ValidationIssue]
