"""What the merge pool reads of, and adds to, the job table: which base each pull request's
presubmits ran on, the batches of a pool, and the runs it starts (retests and batches).

Tide keeps no state of its own (as Prow's): the jobs are the record. A retest or a batch is a
job row keyed by what it tests (`tide:` + base and heads + job name), so a decision taken twice
(a restart, two processes) starts one run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, select

from foredeck.config import Presubmit
from foredeck.db.engine import read_only, session_factory, write_lock
from foredeck.db.jobs import create_job
from foredeck.db.models import Job
from foredeck.jobs.specs import job_spec
from foredeck.types import Refs

RUNNING = ("triggered", "pending")
MAX_BATCH_ROWS = 500
"""Batch rows read per pool and sync (newest first): far more than any pool has at one base."""

PullKey = tuple[tuple[int, str], ...]
"""The pull requests of a batch: (number, head sha), in order."""


@dataclass(frozen=True, slots=True)
class Run:
    name: str
    state: str
    base_sha: str


def latest_presubmits(
    engine: Engine, org: str, repo: str, heads: dict[int, str]
) -> dict[int, dict[str, Run]]:
    """For each pull request (number -> head sha), the newest run of each presubmit on that
    head."""
    found: dict[int, dict[str, Run]] = {n: {} for n in heads}
    if not heads:
        return found
    stmt = (
        select(Job.pull_number, Job.name, Job.state, Job.base_sha, Job.pulls)
        .where(Job.org == org, Job.repo == repo, Job.type == "presubmit")
        .where(Job.pull_number.in_(sorted(heads)))
        .order_by(Job.id.desc())
    )
    with session_factory(read_only(engine))() as s, s.begin():
        for number, name, state, base_sha, pulls in s.execute(stmt):
            head = pulls[0].get("sha") if pulls else None
            if number in found and head == heads[number] and name not in found[number]:
                found[number][name] = Run(name, state, base_sha or "")
    return found


def batches(
    engine: Engine, org: str, repo: str, branch: str, base_sha: str
) -> dict[PullKey, dict[str, Run]]:
    """The batches run on `base_sha`: each set of pulls, with the newest run of each job."""
    stmt = (
        select(Job.name, Job.state, Job.pulls)
        .where(Job.org == org, Job.repo == repo, Job.type == "batch")
        .where(Job.base_ref == branch, Job.base_sha == base_sha)
        .order_by(Job.id.desc())
        .limit(MAX_BATCH_ROWS)
    )
    found: dict[PullKey, dict[str, Run]] = {}
    with session_factory(read_only(engine))() as s, s.begin():
        for name, state, pulls in s.execute(stmt):
            key = tuple((int(p["number"]), str(p.get("sha", ""))) for p in pulls)
            found.setdefault(key, {}).setdefault(name, Run(name, state, base_sha))
    return found


def start_runs(engine: Engine, jobs: Sequence[Presubmit], refs: Refs, reason: str) -> int:
    """Start `jobs` on `refs` (one pull: a retest; several: a batch); how many rows are new."""
    pulls = ",".join(f"{p.number}@{p.sha}" for p in refs.pulls)
    digest = hashlib.sha256(f"{refs.org}/{refs.repo}@{refs.base_sha}:{pulls}".encode()).hexdigest()
    cause = f"tide:{digest[:40]}"
    created = 0
    with write_lock(engine), session_factory(engine).begin() as session:
        for job in jobs:
            spec = job_spec(job, refs, cause, reason, batch=len(refs.pulls) > 1)
            _, new = create_job(session, spec)
            created += new
    return created
