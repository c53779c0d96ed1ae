"""Job rows for `POST /api/jobs` (Prow's gangway) and for reruns.

A started job is looked up by name in the central config and snapshotted like the trigger plugin
does (`foredeck.hook.plugins.trigger.jobs.job_spec`), so the controller cannot tell an API job
from a webhook one except by its `cause`.
"""

from __future__ import annotations

from typing import Any

from foredeck.config import Periodic, Postsubmit, Presubmit
from foredeck.config.jobconfig import JobConfig, branch_of_ref
from foredeck.config.models import AnyJob
from foredeck.db.jobs import JobCreate
from foredeck.db.models import Job, JobType
from foredeck.hook.plugins.trigger.jobs import MAX_REASON, job_snapshot, job_spec
from foredeck.types import Pull, Refs

API_CAUSE = "api"
GITHUB_PULL_REF = "refs/pull/{number}/head"


class UnknownJob(LookupError):
    """No configured job has that name (for those refs)."""


class BadRequest(ValueError):
    """The refs do not fit the job's type."""


def _kind(job: AnyJob) -> JobType:
    if isinstance(job, Presubmit):
        return "presubmit"
    if isinstance(job, Postsubmit):
        return "postsubmit"
    return "periodic"


def _infer_type(refs: Refs | None) -> JobType:
    if refs is None:
        return "periodic"
    return "presubmit" if refs.pulls else "postsubmit"


def start_spec(
    jobs: JobConfig,
    name: str,
    *,
    type: JobType | None = None,
    refs: Refs | None = None,
    pull: int | None = None,
    pull_ref: str = GITHUB_PULL_REF,
) -> JobCreate:
    """The row to create for running `name` now. Raises `UnknownJob` or `BadRequest`.

    `pull` adds that pull request to `refs`, fetched from `pull_ref` (a template with
    `{number}`: GitHub's `refs/pull/N/head`, or the local provider's branch).
    """
    if pull is not None:
        if refs is None:
            raise BadRequest("`pull` needs `refs` naming the repository and base")
        if refs.pulls and [p.number for p in refs.pulls] != [pull]:
            raise BadRequest("`pull` and `refs.pulls` name different pull requests")
        if not refs.pulls:
            refs = refs.model_copy(
                update={"pulls": [Pull(number=pull, ref=pull_ref.format(number=pull))]}
            )
    kind = type or _infer_type(refs)
    if kind == "batch":
        raise BadRequest("batch jobs are started by the merge robot, not through the API")
    org_repo = f"{refs.org}/{refs.repo}" if refs is not None else None
    candidates = [
        j for j in jobs.find(name, None if kind == "periodic" else org_repo) if _kind(j) == kind
    ]
    if not candidates:
        where = f" in {org_repo}" if org_repo and kind != "periodic" else ""
        raise UnknownJob(f"no {kind} job named {name!r}{where}")
    reason = f"started through the API as a {kind}"
    if kind == "periodic":
        if refs is not None:
            raise BadRequest("a periodic job takes no refs")
        job = candidates[0]
        assert isinstance(job, Periodic)
        return periodic_spec(job, reason)
    if refs is None:
        raise BadRequest(f"a {kind} job needs refs")
    branch = branch_of_ref(refs.base_ref)
    fitting = [
        j for j in candidates if isinstance(j, Presubmit | Postsubmit) and j.could_run(branch)
    ]
    if not fitting:
        raise BadRequest(f"job {name!r} does not run against branch {branch!r}")
    chosen = fitting[0]
    try:
        spec = job_spec(chosen, refs, API_CAUSE, reason)
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc
    return spec.model_copy(update={"cause": API_CAUSE, "dedupe_key": None})


def periodic_spec(job: Periodic, reason: str) -> JobCreate:
    extra = [Refs.model_validate(r.model_dump()) for r in job.extra_refs]
    return JobCreate(
        name=job.name,
        type="periodic",
        extra_refs=extra,
        job_config=job_snapshot(job),
        context=job.name,
        agent=job.agent,
        trigger_reason=reason[:MAX_REASON],
        cause=API_CAUSE,
    )


def rerun_spec(job: Job) -> JobCreate:
    """The same job again: same name, refs and config snapshot; a fresh row."""
    refs = Refs.model_validate(job.refs) if job.refs is not None else None
    extra: list[Any] = [Refs.model_validate(r) for r in job.extra_refs or []]
    return JobCreate(
        name=job.name,
        type=job.type,  # type: ignore[arg-type]
        refs=refs,
        extra_refs=extra,
        job_config=job.job_config or {},
        context=job.context,
        agent=job.agent,
        trigger_reason=f"rerun of job {job.id} through the API",
        cause=API_CAUSE,
    )
