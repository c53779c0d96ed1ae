"""Aborting a pull request's unfinished presubmits: when it closes, turns draft, or gets a
new head (Prow's `abortAllJobs` for superseded runs)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from foredeck.db.jobs import set_state, unfinished_presubmits
from foredeck.db.models import Job


def abort_presubmits(
    session: Session,
    org: str,
    repo: str,
    number: int,
    description: str,
    *,
    keep_sha: str | None = None,
    suppress_report: bool | None = None,
) -> list[Job]:
    """Abort the pull request's unfinished presubmits (except those testing `keep_sha`).

    Superseded runs get `suppress_report`: the new run's status replaces theirs on GitHub."""
    aborted: list[Job] = []
    for job in unfinished_presubmits(session, org, repo, number):
        if keep_sha is not None and any(p.get("sha") == keep_sha for p in job.pulls):
            continue
        if set_state(
            session, job.id, "aborted", description=description, suppress_report=suppress_report
        ):
            aborted.append(job)
    return aborted
