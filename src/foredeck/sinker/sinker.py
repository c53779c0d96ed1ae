"""The sinker (Prow's sinker): removes old finished jobs, their workspaces, and old events.

The artifact store is the history and is never touched; what goes is local state: job rows,
the per-run workspaces under the controller's workdir, and processed webhook events.

Work is done in batches so that SQLite's write lock is held for one short `DELETE` at a time:
candidates are read without the lock, their workspaces removed (slow file-system work, no lock),
then the rows deleted in a write transaction that checks every condition again. A workspace is
removed before its row, so that a crash in between leaves a row whose workspace is gone (the
next sweep deletes it) rather than a directory nobody knows about.

With a cluster to sweep (`execute/kube/sweep.py`), each sweep first stops and deletes the Argo
Workflows / Tekton PipelineRuns no job needs (dead controllers' runs, leftovers of finished or
deleted jobs) and lease Secrets whose run is gone: before the job rows, so that a run whose row
is about to go is still judged by it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import Engine

from foredeck.db.engine import read_only, session_factory, write_lock
from foredeck.db.types import utcnow
from foredeck.execute.kube.sweep import ClusterTally, sweep_cluster
from foredeck.execute.removal import Removal, remove_workspace
from foredeck.polling import Poller
from foredeck.settings import Settings
from foredeck.sinker.queries import (
    Candidate,
    delete_jobs,
    delete_old_events,
    forget_workspaces,
    kept_workspaces,
    old_jobs,
)

log = logging.getLogger(__name__)

BATCH_SIZE = 500
MAX_LISTED = 100

Clock = Callable[[], datetime]
ClusterSweep = Callable[[datetime], ClusterTally | None]


@dataclass(slots=True)
class SweepResult:
    jobs: int = 0
    """Job rows deleted."""
    workspaces: int = 0
    """Workspace directories deleted."""
    refused: int = 0
    """Workspaces outside the workdir, left alone (their rows are kept)."""
    errors: int = 0
    """Workspaces that could not be deleted (their rows are kept for the next sweep)."""
    events: int = 0
    """Processed events deleted (with their payloads)."""
    refused_paths: list[str] = field(default_factory=list)
    """The first refused workspace paths (at most `MAX_LISTED`)."""
    cluster: ClusterTally | None = None
    """What the cluster sweep did (None: no cluster to sweep)."""


class SinkerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.deleted = Counter(
            "foredeck_sinker_deleted",
            "Things the sinker removed, by kind (jobs, workspaces, events).",
            ["kind"],
            registry=registry,
        )
        self.refused = Counter(
            "foredeck_sinker_refused_workspaces",
            "Workspaces not deleted because they resolve outside the workdir.",
            registry=registry,
        )
        self.errors = Counter(
            "foredeck_sinker_errors",
            "Workspaces that could not be deleted, and sweeps that failed.",
            registry=registry,
        )
        self.cluster_deleted = Counter(
            "foredeck_sinker_cluster_deleted",
            "Run objects and lease Secrets deleted on the cluster, by kind and reason.",
            ["kind", "reason"],
            registry=registry,
        )
        self.cluster_errors = Counter(
            "foredeck_sinker_cluster_errors",
            "Kubernetes API calls of the cluster sweep that failed.",
            registry=registry,
        )


class Sinker:
    def __init__(
        self,
        engine: Engine,
        *,
        workdir: str | Path,
        max_age: float,
        interval: float = 3600.0,
        batch_size: int = BATCH_SIZE,
        now: Clock = utcnow,
        registry: CollectorRegistry | None = None,
        cluster: ClusterSweep | None = None,
    ) -> None:
        """`cluster` sweeps the cluster's runs (`sweep_cluster`) at each sweep."""
        self.root = Path(workdir).resolve()
        self.max_age = timedelta(seconds=max_age)
        self.interval = interval
        self.batch_size = max(1, batch_size)
        self._engine = engine
        self._reader = read_only(engine)
        self._sessions = session_factory(engine)
        self._now = now
        self._cluster = cluster
        self._metrics = SinkerMetrics(registry) if registry is not None else None
        errors = self._metrics.errors.inc if self._metrics is not None else None
        self._poller = Poller("foredeck-sinker", self.sweep, lambda: self.interval, errors)

    def start(self) -> threading.Thread:
        """Sweep in a daemon thread until `stop()`: now, then every `interval` seconds."""
        return self._poller.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._poller.stop(timeout)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        engine: Engine,
        *,
        now: Clock = utcnow,
        registry: CollectorRegistry | None = None,
    ) -> Sinker:
        return cls(
            engine,
            workdir=settings.controller.workdir,
            max_age=settings.sinker.max_age,
            interval=settings.sinker.interval,
            now=now,
            registry=registry,
            cluster=lambda at: sweep_cluster(settings, engine, at),
        )

    def sweep(self, now: datetime | None = None) -> SweepResult:
        """Remove everything older than `max_age` at `now`; returns what was removed."""
        at = self._now() if now is None else now
        cutoff = at - self.max_age
        result = SweepResult()
        if self._cluster is not None:
            result.cluster = self._sweep_cluster(self._cluster, at)
        self._sweep_jobs(cutoff, result)
        self._sweep_kept_workspaces(cutoff, result)
        self._sweep_events(cutoff, result)
        if self._metrics is not None:
            self._metrics.deleted.labels("jobs").inc(result.jobs)
            self._metrics.deleted.labels("workspaces").inc(result.workspaces)
            self._metrics.deleted.labels("events").inc(result.events)
            self._metrics.refused.inc(result.refused)
            self._metrics.errors.inc(result.errors)
        if result.jobs or result.events or result.refused or result.errors:
            log.info(
                "sinker: deleted %d jobs, %d workspaces, %d events (%d refused, %d errors)",
                result.jobs,
                result.workspaces,
                result.events,
                result.refused,
                result.errors,
            )
        return result

    def _sweep_cluster(self, sweep: ClusterSweep, at: datetime) -> ClusterTally | None:
        try:
            tally = sweep(at)
        except Exception:  # e.g. the database: the local sweep still runs
            log.exception("sinker: cluster sweep failed")
            if self._metrics is not None:
                self._metrics.cluster_errors.inc()
            return None
        if tally is not None and self._metrics is not None:
            for gone in tally.deleted:
                self._metrics.cluster_deleted.labels(gone.kind, gone.why).inc()
            self._metrics.cluster_errors.inc(tally.errors)
        return tally

    def _remove(self, batch: list[Candidate], result: SweepResult) -> list[Candidate]:
        """Remove the workspaces of `batch`; returns the jobs whose workspace is gone."""
        gone: list[Candidate] = []
        for job in batch:
            if job.workspace:
                outcome = remove_workspace(job.workspace, self.root)
                if outcome is Removal.REMOVED:
                    result.workspaces += 1
                elif outcome is Removal.REFUSED:
                    result.refused += 1
                    if len(result.refused_paths) < MAX_LISTED:
                        result.refused_paths.append(job.workspace)
                    continue
                elif outcome is Removal.FAILED:
                    result.errors += 1
                    continue
            gone.append(job)
        return gone

    def _sweep_jobs(self, cutoff: datetime, result: SweepResult) -> None:
        after = 0
        while not self._poller.stopping.is_set():
            with self._reader.connect() as conn:
                batch = old_jobs(conn, cutoff, self.batch_size, after)
            if not batch:
                return
            after = batch[-1].id
            ready = [job.id for job in self._remove(batch, result)]
            with write_lock(self._engine), self._sessions() as session, session.begin():
                result.jobs += delete_jobs(session, ready, cutoff)
            if len(batch) < self.batch_size:
                return

    def _sweep_kept_workspaces(self, cutoff: datetime, result: SweepResult) -> None:
        """The latest run of a periodic keeps its row, but not an old workspace."""
        after = 0
        while not self._poller.stopping.is_set():
            with self._reader.connect() as conn:
                batch = kept_workspaces(conn, cutoff, self.batch_size, after)
            if not batch:
                return
            after = batch[-1].id
            gone = self._remove(batch, result)
            if gone:
                with write_lock(self._engine), self._sessions() as session, session.begin():
                    forget_workspaces(session, gone)
            if len(batch) < self.batch_size:
                return

    def _sweep_events(self, cutoff: datetime, result: SweepResult) -> None:
        while not self._poller.stopping.is_set():
            with write_lock(self._engine), self._sessions() as session, session.begin():
                deleted = delete_old_events(session, cutoff, self.batch_size)
            result.events += deleted
            if deleted < self.batch_size:
                return
