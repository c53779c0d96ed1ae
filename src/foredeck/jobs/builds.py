"""Where a job's build is: its build directory in the artifact store (Prow's layout), which the
API's log endpoint and the run page both read."""

from __future__ import annotations

from foredeck.db.models import Job
from foredeck.storage.layout import job_path
from foredeck.storage.prow import BUILD_LOG


def build_dir(job: Job) -> str | None:
    """The build directory's path in the store, or None if the job has no build yet."""
    if not job.build_id:
        return None
    try:
        return job_path(
            job.type,  # type: ignore[arg-type]
            job.org,
            job.repo,
            job.pull_number,
            job.name,
            job.build_id,
        )
    except ValueError:
        return None


def store_log_path(job: Job) -> str | None:
    """The build log's path in the store, or None if the job has no build yet."""
    directory = build_dir(job)
    return None if directory is None else f"{directory}/{BUILD_LOG}"
