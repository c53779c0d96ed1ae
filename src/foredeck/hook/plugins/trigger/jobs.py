"""Job rows from job configs: Prow's `pjutil.NewPresubmit` / `NewPostsubmit`, and aborting.

Every job row is keyed `<delivery id>:<job name>`, so handling the same delivery again (the
worker delivers at least once) finds the rows it made the first time instead of doubling them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from foredeck.config import Postsubmit, Presubmit, RepoJob
from foredeck.config import Refs as ExtraRefs
from foredeck.db.jobs import JobCreate, create_job, set_state, unfinished_presubmits
from foredeck.db.models import Job, JobType
from foredeck.types import Pull, Refs

MAX_KEY = 255
MAX_REASON = 1000


def dedupe_key(delivery_id: str, job_name: str) -> str:
    key = f"{delivery_id}:{job_name}"
    if len(key) <= MAX_KEY:
        return key
    digest = hashlib.sha256(job_name.encode()).hexdigest()
    return f"{delivery_id}:{digest}"


def pull_refs(
    *,
    org: str,
    repo: str,
    repo_link: str,
    base_ref: str,
    base_sha: str,
    number: int,
    head_sha: str,
    author: str,
    author_link: str = "",
    title: str = "",
    link: str = "",
    base_link: str = "",
    commit_link: str = "",
    pull_ref: str = "refs/pull/{number}/head",
) -> Refs:
    """Prow's presubmit refs; the pull's `ref` is the fetchable `refs/pull/N/head`. The links
    are the SCM's (`base_link`: the base commit, `commit_link`: the pull's head commit)."""
    return Refs(
        org=org,
        repo=repo,
        repo_link=repo_link,
        base_ref=base_ref,
        base_sha=base_sha,
        base_link=base_link,
        pulls=[
            Pull(
                number=number,
                author=author,
                sha=head_sha,
                title=title,
                ref=pull_ref.format(number=number),
                link=link,
                commit_link=commit_link,
                author_link=author_link,
            )
        ],
    )


def push_refs(
    *, org: str, repo: str, repo_link: str, ref: str, branch: str, sha: str, compare: str
) -> Refs:
    """Prow's postsubmit refs. A tag keeps its full `refs/tags/...` name so that it can be
    fetched; a branch is named as in Prow (`main`)."""
    return Refs(
        org=org,
        repo=repo,
        repo_link=repo_link,
        base_ref=ref if ref.startswith("refs/tags/") else branch,
        base_sha=sha,
        base_link=compare,
    )


def _complete_refs(job: RepoJob, refs: Refs) -> Refs:
    """Prow's `CompletePrimaryRefs`: the job's clone settings apply to its main repository."""
    return refs.model_copy(
        update={
            "path_alias": job.path_alias,
            "clone_uri": job.clone_uri,
            "skip_submodules": job.skip_submodules,
            "clone_depth": job.clone_depth,
            "skip_fetch_head": job.skip_fetch_head,
        }
    )


def _extra_refs(extra: Iterable[ExtraRefs]) -> list[Refs]:
    return [
        Refs(
            org=r.org,
            repo=r.repo,
            base_ref=r.base_ref,
            path_alias=r.path_alias,
            workdir=r.workdir,
            clone_uri=r.clone_uri,
            skip_submodules=r.skip_submodules,
            clone_depth=r.clone_depth,
            skip_fetch_head=r.skip_fetch_head,
        )
        for r in extra
    ]


def job_snapshot(job: Presubmit | Postsubmit) -> dict[str, Any]:
    """The job's config as stored on its row; env from matching presets travels with it (it
    lives in a private attribute that a dump leaves out), so the run gets what config check saw."""
    snapshot = job.model_dump(mode="json", by_alias=True, exclude_none=True)
    if job.preset_env:
        snapshot["preset_env"] = dict(job.preset_env)
    return snapshot


def job_spec(job: Presubmit | Postsubmit, refs: Refs, delivery_id: str, reason: str) -> JobCreate:
    kind: JobType = "presubmit" if isinstance(job, Presubmit) else "postsubmit"
    return JobCreate(
        name=job.name,
        type=kind,
        refs=_complete_refs(job, refs),
        extra_refs=_extra_refs(job.extra_refs),
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


def wants_changes(presubmits: Iterable[Presubmit], branch: str) -> bool:
    """Whether any job that may run against `branch` depends on the changed files.

    The changes are fetched before matching (the matching helpers are synchronous) and only
    when this says so, which saves an API call per event for repositories without file filters.
    """
    return any(p.could_run(branch) and p.could_run_on_changes() for p in presubmits)


def automatic_presubmits(
    presubmits: Iterable[Presubmit], branch: str, changes: Sequence[str]
) -> list[Presubmit]:
    """What runs without a command (Prow's test-all filter): always_run jobs, and jobs whose
    `run_if_changed` / `skip_if_only_changed` match; never jobs that need `/test NAME`."""
    return [
        p
        for p in presubmits
        if not p.needs_explicit_trigger() and p.could_run(branch) and p.should_run(changes)
    ]
