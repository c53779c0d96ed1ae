"""Job rows asked for by hand: `POST /api/jobs` (Prow's gangway) and reruns.

A started job is looked up by name in the central config and snapshotted as the trigger and the
scheduler do (`specs.job_spec`, `periodic.periodic_spec`), so the controller cannot tell an API
job from a webhook one except by its `cause`. A row made by hand is new every time: no dedupe
key.
"""

from __future__ import annotations

from typing import Any

from foredeck.config import JobConfig, Periodic, Postsubmit, Presubmit, branch_of_ref
from foredeck.config.models import AnyJob
from foredeck.db.jobs import JobCreate
from foredeck.db.models import Job, JobType
from foredeck.jobs.periodic import periodic_spec
from foredeck.jobs.refs import GITHUB_PULL_REF
from foredeck.jobs.specs import job_spec
from foredeck.types import Pull, Refs

API_CAUSE = "api"


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


def _with_pull(refs: Refs | None, pull: int, pull_ref: str) -> Refs:
    """`refs` testing pull request `pull` (added unless `refs` already names it)."""
    if refs is None:
        raise BadRequest("`pull` needs `refs` naming the repository and base")
    if refs.pulls and [p.number for p in refs.pulls] != [pull]:
        raise BadRequest("`pull` and `refs.pulls` name different pull requests")
    if refs.pulls:
        return refs
    return refs.model_copy(update={"pulls": [Pull(number=pull, ref=pull_ref.format(number=pull))]})


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
        refs = _with_pull(refs, pull, pull_ref)
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
        return periodic_spec(job, reason, cause=API_CAUSE)
    if refs is None:
        raise BadRequest(f"a {kind} job needs refs")
    branch = branch_of_ref(refs.base_ref)
    fitting = [
        j for j in candidates if isinstance(j, Presubmit | Postsubmit) and j.could_run(branch)
    ]
    if not fitting:
        raise BadRequest(f"job {name!r} does not run against branch {branch!r}")
    try:
        spec = job_spec(fitting[0], refs, API_CAUSE, reason)
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc
    return spec.model_copy(update={"cause": API_CAUSE, "dedupe_key": None})


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
