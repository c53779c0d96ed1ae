"""Job rows for pull requests and pushes: Prow's `pjutil.NewPresubmit` / `NewPostsubmit`.

Every row is keyed `<delivery id>:<job name>` (`keys.dedupe_key`), so handling the same
delivery again finds the rows it made the first time instead of doubling them.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from foredeck.config import Postsubmit, Presubmit
from foredeck.db.jobs import JobCreate, create_job
from foredeck.db.models import Job, JobType
from foredeck.jobs.keys import dedupe_key
from foredeck.jobs.refs import complete_refs, extra_refs
from foredeck.jobs.snapshot import job_snapshot
from foredeck.types import Refs

MAX_REASON = 1000
"""Characters of `trigger_reason` kept on the row."""


def job_spec(
    job: Presubmit | Postsubmit, refs: Refs, delivery_id: str, reason: str, *, batch: bool = False
) -> JobCreate:
    """The row for running `job` against `refs`, caused by the delivery `delivery_id`; with
    `batch`, a presubmit testing the several pulls of `refs` together (Prow's batch job)."""
    kind: JobType = "presubmit" if isinstance(job, Presubmit) else "postsubmit"
    if batch:
        kind = "batch"
    return JobCreate(
        name=job.name,
        type=kind,
        refs=complete_refs(job, refs),
        extra_refs=extra_refs(job.extra_refs),
        job_config=job_snapshot(job),
        context=job.context or job.name,
        agent=job.agent,
        trigger_reason=reason[:MAX_REASON],
        cause=delivery_id,
        dedupe_key=dedupe_key(delivery_id, job.name),
    )


def create_jobs(
    session: Session,
    jobs: Sequence[Presubmit] | Sequence[Postsubmit],
    refs: Refs,
    delivery_id: str,
    reason: str,
) -> list[Job]:
    """One row per job (each name once); returns the rows, new or found by their key."""
    rows: list[Job] = []
    seen: set[str] = set()
    for job in jobs:
        if job.name in seen:
            continue
        seen.add(job.name)
        row, _ = create_job(session, job_spec(job, refs, delivery_id, reason))
        rows.append(row)
    return rows
