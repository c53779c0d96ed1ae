"""Prow's variables of a job: what every executor gives its steps (`RunRequest.env`).

Host steps get them over an allow-list of the server's environment (`execute/host.py`), pods
in their manifest (`execute/kube/decorate.py`); the job's own `env` and its presets are added by
the pipeline, per step.

Prow's pod utilities give every test container `JOB_NAME`, `JOB_TYPE`, `JOB_SPEC`, `BUILD_ID`,
`PROW_JOB_ID` and, with refs, `REPO_OWNER`, `REPO_NAME`, `PULL_BASE_REF`, `PULL_BASE_SHA`,
`PULL_REFS` and for a single pull `PULL_NUMBER` and `PULL_PULL_SHA` (see Prow's
`pkg/pod-utils/downwardapi`). Scripts written for Prow read them, so they are the same here.
"""

from __future__ import annotations

import json
from typing import Any

from foredeck.db.models import Job
from foredeck.types import Refs


def pull_refs_string(refs: Refs) -> str:
    """Prow's `Refs.String()`: `base_ref:base_sha,1:sha1,2:sha2`."""
    parts = [f"{refs.base_ref}:{refs.base_sha}" if refs.base_sha else refs.base_ref]
    for pull in refs.pulls:
        parts.append(f"{pull.number}:{pull.sha}" if pull.sha else str(pull.number))
    return ",".join(parts)


def refs_fields(job: Job) -> dict[str, Any]:
    """`refs` and `extra_refs` as Prow's `JobSpec` and `ProwJob` spec carry them (if set)."""
    fields: dict[str, Any] = {}
    if job.refs:
        fields["refs"] = job.refs
    if job.extra_refs:
        fields["extra_refs"] = job.extra_refs
    return fields


def job_spec(job: Job, build_id: str) -> dict[str, Any]:
    """Prow's `JobSpec` (the `JOB_SPEC` variable): type, job, ids, refs."""
    spec: dict[str, Any] = {
        "type": job.type,
        "job": job.name,
        "buildid": build_id,
        "prowjobid": str(job.id),
        **refs_fields(job),
    }
    decoration = (job.job_config or {}).get("decoration_config")
    if decoration:
        spec["decoration_config"] = decoration
    return spec


def prow_env(job: Job, build_id: str) -> dict[str, str]:
    env = {
        "CI": "true",
        "JOB_NAME": job.name,
        "JOB_TYPE": job.type,
        "JOB_SPEC": json.dumps(job_spec(job, build_id), separators=(",", ":")),
        "BUILD_ID": build_id,
        "BUILD_NUMBER": build_id,
        "PROW_JOB_ID": str(job.id),
    }
    refs: Refs | None = None
    if job.refs:
        refs = Refs.model_validate(job.refs)
    elif job.extra_refs:  # a periodic: Prow describes its first extra refs
        refs = Refs.model_validate(job.extra_refs[0])
    if refs is None:
        return env
    env.update(
        {
            "REPO_OWNER": refs.org,
            "REPO_NAME": refs.repo,
            "PULL_BASE_REF": refs.base_ref,
            "PULL_BASE_SHA": refs.base_sha,
            "PULL_REFS": pull_refs_string(refs),
        }
    )
    if len(refs.pulls) == 1:
        pull = refs.pulls[0]
        env["PULL_NUMBER"] = str(pull.number)
        env["PULL_PULL_SHA"] = pull.sha
        if pull.title:
            env["PULL_TITLE"] = pull.title
    return env
