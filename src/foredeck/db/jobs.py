"""Job queries: the one place that creates job rows and moves their state.

`create_job` is idempotent on `dedupe_key`, so a plugin that handles the same event twice (the
worker delivers at least once) still creates each job once. `set_state` is a compare-and-set on
the current state, so the controller and an abort never overwrite each other's final word.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import ColumnElement, Connection, Insert, exists, func, select, type_coerce, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from foredeck.db.models import (
    FINISHED_STATES,
    UNFINISHED_STATES,
    Job,
    JobState,
    JobType,
)
from foredeck.db.types import utcnow
from foredeck.types import Pull, Refs

__all__ = [
    "JobAttempt",
    "JobCreate",
    "Pull",
    "Refs",
    "author_filter",
    "create_job",
    "get_job",
    "job_attempts",
    "latest_presubmits",
    "list_jobs",
    "set_state",
    "unfinished_presubmits",
]


class JobCreate(BaseModel):
    """A job to create. `org`, `repo`, `base_*` and `pulls` columns are derived from `refs`."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255)
    type: JobType
    state: JobState = "triggered"
    refs: Refs | None = None
    extra_refs: list[Refs] = Field(default_factory=list)
    job_config: dict[str, Any] = Field(default_factory=dict)
    """A snapshot of the job's configuration when it was triggered."""
    context: str | None = Field(default=None, max_length=255)
    agent: str | None = Field(default=None, max_length=32)
    trigger_reason: str | None = None
    cause: str | None = Field(default=None, max_length=128)
    """The delivery id of the event that caused the job, or 'api' / 'periodic'."""
    dedupe_key: str | None = Field(default=None, max_length=255)
    description: str | None = None

    @model_validator(mode="after")
    def _refs_match_type(self) -> JobCreate:
        pulls = len(self.refs.pulls) if self.refs is not None else 0
        if self.type in ("presubmit", "postsubmit", "batch") and self.refs is None:
            raise ValueError(f"a {self.type} job needs refs")
        if self.type == "presubmit" and pulls != 1:
            raise ValueError(f"a presubmit job needs exactly one pull in refs, got {pulls}")
        if self.type == "batch" and pulls < 1:
            raise ValueError("a batch job needs at least one pull in refs")
        if self.type == "postsubmit" and pulls:
            raise ValueError("a postsubmit job cannot have pulls in refs")
        return self


def _insert_ignoring_dedupe(session: Session) -> Insert:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(Job).on_conflict_do_nothing(index_elements=["dedupe_key"])
    return sqlite.insert(Job).on_conflict_do_nothing(index_elements=["dedupe_key"])


def create_job(session: Session, spec: JobCreate, now: datetime | None = None) -> tuple[Job, bool]:
    """Create a job, or return the one with the same `dedupe_key` and False.

    Runs in the caller's transaction (a plugin creates jobs in the worker's event transaction).
    """
    refs = spec.refs
    pulls = refs.pulls if refs is not None else []
    values: dict[str, Any] = {
        "name": spec.name,
        "type": spec.type,
        "state": spec.state,
        "org": refs.org if refs else None,
        "repo": refs.repo if refs else None,
        "base_ref": (refs.base_ref or None) if refs else None,
        "base_sha": (refs.base_sha or None) if refs else None,
        "pull_number": pulls[0].number if spec.type == "presubmit" else None,
        "pulls": [pull.model_dump(mode="json") for pull in pulls],
        "refs": refs.to_prow_json() if refs else None,
        "extra_refs": [extra.to_prow_json() for extra in spec.extra_refs],
        "job_config": spec.job_config,
        "context": spec.context,
        "agent": spec.agent,
        "trigger_reason": spec.trigger_reason,
        "cause": spec.cause,
        "dedupe_key": spec.dedupe_key,
        "created_at": now or utcnow(),
        "description": spec.description,
    }
    if spec.state in FINISHED_STATES:
        values["finished_at"] = values["created_at"]
    stmt = _insert_ignoring_dedupe(session).returning(Job.id)
    new_id = session.execute(stmt, values).scalar_one_or_none()
    if new_id is None:
        existing = session.execute(
            select(Job).where(Job.dedupe_key == spec.dedupe_key)
        ).scalar_one()
        return existing, False
    job = session.get(Job, new_id)
    assert job is not None
    return job, True


def get_job(session: Session, job_id: int) -> Job | None:
    return session.get(Job, job_id)


def unfinished_presubmits(session: Session, org: str, repo: str, pr_number: int) -> list[Job]:
    """Triggered or pending presubmits of one pull request, oldest first (for superseding)."""
    stmt = (
        select(Job)
        .where(
            Job.org == org,
            Job.repo == repo,
            Job.pull_number == pr_number,
            Job.type == "presubmit",
            Job.state.in_(UNFINISHED_STATES),
        )
        .order_by(Job.id)
    )
    return list(session.execute(stmt).scalars())


def latest_presubmits(
    session: Session, org: str, repo: str, pr_number: int, head_sha: str | None = None
) -> list[Job]:
    """The newest presubmit of each job name on one pull request (at `head_sha` if given).

    What `/retest` looks at: a job whose latest run on the current head failed is rerun; one
    whose latest run is still going or passed is not.
    """
    stmt = (
        select(Job)
        .where(
            Job.org == org,
            Job.repo == repo,
            Job.pull_number == pr_number,
            Job.type == "presubmit",
        )
        .order_by(Job.id.desc())
    )
    latest: dict[str, Job] = {}
    for job in session.execute(stmt).scalars():
        if head_sha is not None and not any(p.get("sha") == head_sha for p in job.pulls):
            continue
        latest.setdefault(job.name, job)
    return sorted(latest.values(), key=lambda j: j.id)


def set_state(
    session: Session,
    job_id: int,
    state: JobState,
    *,
    from_states: Collection[JobState] | None = UNFINISHED_STATES,
    description: str | None = None,
    url: str | None = None,
    build_id: str | None = None,
    suppress_report: bool | None = None,
    now: datetime | None = None,
) -> bool:
    """Move a job to `state` if its current state is in `from_states` (None: any state).

    Sets `started_at` on the first move to pending and `finished_at` on a final state (which also
    clears `owner`). By default a finished job is never changed. Returns whether the job was
    updated. `suppress_report=True` marks a superseded run that the reporter must not report.
    """
    at = now or utcnow()
    values: dict[str, Any] = {"state": state}
    if state == "pending":
        values["started_at"] = func.coalesce(Job.started_at, at)
    if state in FINISHED_STATES:
        values["finished_at"] = at
    if description is not None:
        values["description"] = description
    if url is not None:
        values["url"] = url
    if build_id is not None:
        values["build_id"] = build_id
    if suppress_report is not None:
        values["suppress_report"] = suppress_report
    if state not in ("triggered", "pending"):
        values["owner"] = None
    stmt = update(Job).where(Job.id == job_id)
    if from_states is not None:
        stmt = stmt.where(Job.state.in_(list(from_states)))
    updated = session.execute(
        stmt.values(**values).returning(Job.id).execution_options(synchronize_session="fetch")
    ).all()
    return bool(updated)


def author_filter(dialect: str, author: str) -> ColumnElement[bool]:
    """Jobs with a pull by `author` (any pull of a batch).

    The author lives inside the `pulls` JSON column: a `json_each` subquery on SQLite, JSONB
    containment (`@>`) on PostgreSQL. Both run in SQL, so keyset pages stay exact.
    """
    if dialect == "postgresql":
        return type_coerce(Job.pulls, JSONB).contains([{"author": author}])
    each = func.json_each(Job.pulls).table_valued("value").alias("pull")
    return exists().select_from(each).where(func.json_extract(each.c.value, "$.author") == author)


def list_jobs(
    session: Session,
    *,
    org: str | None = None,
    repo: str | None = None,
    name: str | None = None,
    type: JobType | None = None,
    state: JobState | Collection[JobState] | None = None,
    pull_number: int | None = None,
    author: str | None = None,
    limit: int = 50,
    after_id: int | None = None,
    max_limit: int = 1000,
    visible: ColumnElement[bool] | None = None,
) -> list[Job]:
    """Jobs newest first; pass the last id of a page as `after_id` for the next page (keyset).
    `visible` keeps only the jobs a caller may see (`Access.visible`)."""
    stmt = select(Job) if visible is None else select(Job).where(visible)
    if org is not None:
        stmt = stmt.where(Job.org == org)
    if repo is not None:
        stmt = stmt.where(Job.repo == repo)
    if name is not None:
        stmt = stmt.where(Job.name == name)
    if type is not None:
        stmt = stmt.where(Job.type == type)
    if isinstance(state, str):
        stmt = stmt.where(Job.state == state)
    elif state is not None:
        stmt = stmt.where(Job.state.in_(list(state)))
    if pull_number is not None:
        stmt = stmt.where(Job.pull_number == pull_number)
    if author is not None:
        stmt = stmt.where(author_filter(session.get_bind().dialect.name, author))
    if after_id is not None:
        stmt = stmt.where(Job.id < after_id)
    stmt = stmt.order_by(Job.id.desc()).limit(max(1, min(limit, max_limit)))
    return list(session.execute(stmt).scalars())


@dataclass(frozen=True, slots=True)
class JobAttempt:
    """What a cluster sweep needs of a job: its state and the build id of its current attempt
    (a new one at every claim, none while re-queued), which labels the attempt's run object."""

    state: str
    build_id: str | None
    finished_at: datetime | None


def job_attempts(session: Session | Connection, ids: Collection[int]) -> dict[int, JobAttempt]:
    """The jobs of `ids` that exist, by id (500 ids per query)."""
    wanted = sorted(set(ids))
    found: dict[int, JobAttempt] = {}
    for start in range(0, len(wanted), 500):
        stmt = select(Job.id, Job.state, Job.build_id, Job.finished_at).where(
            Job.id.in_(wanted[start : start + 500])
        )
        for row in session.execute(stmt):
            found[int(row.id)] = JobAttempt(row.state, row.build_id, row.finished_at)
    return found
