"""Periodic job rows: Prow's `pjutil.PeriodicSpec`, for the scheduler and the API alike."""

from __future__ import annotations

from foredeck.config import Periodic
from foredeck.db.jobs import JobCreate
from foredeck.jobs.snapshot import job_snapshot
from foredeck.jobs.specs import MAX_REASON
from foredeck.types import Refs

PERIODIC_CAUSE = "periodic"
"""The `cause` of the runs the periodic scheduler creates."""


def periodic_spec(
    job: Periodic, reason: str, *, cause: str, dedupe_key: str | None = None
) -> JobCreate:
    """No main refs, the job's `extra_refs`, a snapshot of its config (preset env included).

    `dedupe_key`: the scheduler's `periodic:NAME:SLOT` (`keys.periodic_key`); None for a run
    asked for by hand, which is new every time.
    """
    return JobCreate(
        name=job.name,
        type="periodic",
        refs=None,
        extra_refs=[Refs.model_validate(r.model_dump()) for r in job.extra_refs],
        job_config=job_snapshot(job),
        context=job.name,
        agent=job.agent,
        trigger_reason=reason[:MAX_REASON],
        cause=cause,
        dedupe_key=dedupe_key,
    )
