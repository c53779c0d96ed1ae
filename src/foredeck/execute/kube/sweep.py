"""Which run objects on a cluster no job needs any more, and the sweep's entry point.

A controller deletes its run's Workflow or PipelineRun when the run ends; one that dies mid-run
(SIGKILL, node lost) leaves it running, with its lease Secret, and a re-queued job then runs
again in a new object beside it. The sweep lists the objects labelled `foredeck.dev/job-id`
and judges each by its job's row (`verdict`): a job that is gone or finished needs none, and a
job still going needs only the one its current attempt made, which carries the attempt's build
id (`foredeck.dev/build-id`, set before the object exists: the claim records the build id
first). The cluster work is `sweep_api.py`, imported (with the Kubernetes client) only when a
sweep runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Engine as Database

from foredeck.db.engine import read_only
from foredeck.db.jobs import JobAttempt, job_attempts
from foredeck.db.models import FINISHED_STATES
from foredeck.execute.kube.engine import BUILD_LABEL, parse_time
from foredeck.extras import MissingExtra, require
from foredeck.settings import Settings

log = logging.getLogger(__name__)

EngineName = Literal["argo", "tekton"]
Why = Literal["job gone", "job finished", "orphan"]
Lookup = Callable[[Collection[int]], Mapping[int, JobAttempt]]

ABORTED_WAIT = 600.0
"""Seconds after an abort during which the job's object is left to its controller: the runner
waits up to `RemoteOptions.abort_grace` (300 s) for the engine's exit handlers, drains the
logs (30 s), then deletes the object itself."""


@dataclass(frozen=True, slots=True)
class Deleted:
    kind: str
    """`workflows`, `pipelineruns` or `secrets`."""
    name: str
    job: str
    why: str


@dataclass(slots=True)
class ClusterTally:
    deleted: list[Deleted] = field(default_factory=list)
    aborted: int = 0
    """Deleted objects that were still running (the engine was told to stop first)."""
    kept: int = 0
    errors: int = 0
    """API calls that failed (logged); the sweep went on with the next object."""


def verdict(
    meta: Mapping[str, Any], job: JobAttempt | None, *, now: float, grace: float
) -> Why | None:
    """Why the object of `meta` (its job's row `job`, None when gone) should go; None: keep."""
    created = parse_time(meta.get("creationTimestamp"))
    if created is None or now - created < grace:
        return None  # maybe being created right now
    if job is None:
        return "job gone"
    if job.state in FINISHED_STATES:
        aborted_at = job.finished_at.timestamp() if job.finished_at is not None else None
        if job.state == "aborted" and aborted_at is not None and now - aborted_at < ABORTED_WAIT:
            return None  # its controller's runner is stopping it
        return "job finished"
    build = (meta.get("labels") or {}).get(BUILD_LABEL)
    if build is None:
        return None  # made before runs carried their attempt: unknown, left to its job's end
    if build != job.build_id:  # None while re-queued: every run of it is an orphan
        return "orphan"
    return None


def cluster_engines(settings: Settings) -> list[EngineName]:
    """The engines whose runs are swept: `sinker.cluster_engines`, else the default agent's."""
    if settings.sinker.cluster_engines is not None:
        return list(dict.fromkeys(settings.sinker.cluster_engines))
    agent = settings.kube.default_agent
    return [agent] if agent != "local" else []


def database_lookup(database: Database) -> Lookup:
    reader = read_only(database)

    def lookup(ids: Collection[int]) -> Mapping[int, JobAttempt]:
        with reader.connect() as conn:
            return job_attempts(conn, ids)

    return lookup


def sweep_cluster(
    settings: Settings, database: Database, now: datetime, who: str = "sinker"
) -> ClusterTally | None:
    """Sweep the runs of `cluster_engines` in `kube.namespace`; None when there is none to
    sweep or the `kube` extra is missing (said in one line). `who` prefixes the log lines."""
    engines = cluster_engines(settings)
    if not engines:
        return None
    try:
        require("kube", "kubernetes", "the cluster sweep")
    except MissingExtra as exc:
        log.warning("%s: %s", who, exc)
        return None
    from foredeck.execute.kube.sweep_api import ClusterSweeper  # the Kubernetes client

    sweeper = ClusterSweeper(settings.kube, engines, grace=settings.sinker.cluster_grace, who=who)
    return sweeper.sweep(database_lookup(database), now.timestamp())
