"""Which commit status a job's state becomes, and on which commit (Prow crier's GitHub reporter).

Pure functions, so that what is reported can be tested without an SCM.
"""

from __future__ import annotations

from dataclasses import dataclass

from foredeck.report.queries import JobView
from foredeck.scm.github_types import StatusState, status_description

STATUS_OF: dict[str, StatusState] = {
    "triggered": "pending",
    "pending": "pending",
    "success": "success",
    "failure": "failure",
    "aborted": "failure",
    "error": "error",
}
"""GitHub has no "aborted": Prow reports an aborted job as a failure."""

DEFAULT_DESCRIPTION = {
    "triggered": "Job triggered.",
    "pending": "Job running.",
    "success": "Job succeeded.",
    "failure": "Job failed.",
    "aborted": "Job aborted.",
    "error": "Job could not run.",
}


@dataclass(frozen=True)
class StatusReport:
    org: str
    repo: str
    sha: str
    state: StatusState
    context: str
    description: str
    target_url: str


def job_url(dashboard_url: str, job_id: int) -> str:
    return f"{dashboard_url.rstrip('/')}/jobs/{job_id}"


def status_sha(job: JobView) -> str | None:
    """The commit a job reports on: a presubmit's PR head, otherwise the tested base commit.

    Batches are not reported (as in Prow: they test several heads at once); periodics only when
    they have refs.
    """
    if job.type == "presubmit":
        return job.head_sha
    if job.type in ("postsubmit", "periodic"):
        return job.base_sha or None
    return None


def status_for(job: JobView, dashboard_url: str) -> StatusReport | None:
    """The status to send for the job's current state; None when it is not reported at all."""
    if job.suppress_report or job.skip_report or job.state not in STATUS_OF:
        return None
    sha = status_sha(job)
    if sha is None or not job.org or not job.repo:
        return None
    description = (job.description or "").strip() or DEFAULT_DESCRIPTION[job.state]
    return StatusReport(
        org=job.org,
        repo=job.repo,
        sha=sha,
        state=STATUS_OF[job.state],
        context=job.context or job.name,
        description=status_description(description),
        target_url=job_url(dashboard_url, job.id),
    )
