"""The controller: claims triggered jobs and runs them with the executor of their agent.

One asyncio loop (in a daemon thread, or the caller's for tests) does everything: each
`run_once()` recovers jobs of dead controllers, refreshes heartbeats (noticing jobs aborted
meanwhile), and claims as many jobs as there are free slots; each claimed job runs in a task of
its own: workspace, checkout, pipeline, executor (`jobrun.py`), publish (`publishing.py`),
final state. Database calls (`ledger.py`) and uploads run in worker threads, so a slow query
never stalls the running pipelines' log streams.

Lifecycle: `triggered -> pending -> success | failure | aborted | error`. `pending` belongs to one
controller (`owner`, `heartbeat_at`); every final state is a compare-and-set on that ownership,
so an abort, a recovery and the run's own end can never overwrite each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from foredeck.cd_pr.wiring import CdRunner
from foredeck.controller import leftovers
from foredeck.controller.delivery import Delivery, cd_runner_from_settings, pending_delivery
from foredeck.controller.jobrun import JobRunner
from foredeck.controller.ledger import Ledger
from foredeck.controller.live import LivePublisher
from foredeck.controller.metrics import ControllerMetrics
from foredeck.controller.publishing import Publisher
from foredeck.controller.queries import Claimed, this_host
from foredeck.controller.running import Outcome, Running
from foredeck.controller.testcases import run_cases
from foredeck.controller.workspace import OUT, clone_uri_for
from foredeck.db.engine import error_line
from foredeck.db.models import Job
from foredeck.db.testresults import CaseOutcome
from foredeck.db.types import utcnow
from foredeck.execute.executors import Executors
from foredeck.execute.kube.sweep import sweep_cluster
from foredeck.execute.orphans import new_owner
from foredeck.leases import LeaseService
from foredeck.scm.git import CloneUriFunc
from foredeck.settings import Settings
from foredeck.storage.buildid import BuildIdGenerator
from foredeck.storage.store import ArtifactStore

log = logging.getLogger(__name__)

FINISH_RETRY = (0.5, 10.0)
"""Seconds before the first retry of a final state the database refused, and at most between
two retries (doubling in between)."""
ROUND_GAP = 0.05
"""Seconds between the starts of two rounds at least (a wake-up sooner waits for the rest)."""


class Controller:
    def __init__(
        self,
        engine: Engine,
        settings: Settings | None = None,
        *,
        owner: str | None = None,
        clone_uri: CloneUriFunc | None = None,
        store: ArtifactStore | None = None,
        registry: CollectorRegistry | None = None,
        on_state_change: Callable[[], None] | None = None,
        executors: Executors | None = None,
        cd: CdRunner | None = None,
    ) -> None:
        """`executors` (default: `Executors.from_settings`) runs the jobs' pipelines; building
        it checks that they can run here (a required sandbox), so a controller that could not
        run its jobs does not start. `cd` bumps the images of postsubmits with `cd:` targets
        (default: made from settings on first use, `delivery.py`)."""
        self.on_state_change = on_state_change
        """Called (in the controller's thread) after jobs were claimed, ended or recovered:
        lets an in-process reporter act without waiting for its next poll."""
        self.settings = settings or Settings()
        c = self.settings.controller
        self.max_concurrency = c.max_concurrency or os.cpu_count() or 1
        self.poll_interval = c.poll_interval
        self.heartbeat_interval = c.heartbeat_interval
        self.stale_after = c.stale_after
        self.requeue_on_recovery = c.requeue_on_recovery
        if self.stale_after < 2 * self.heartbeat_interval:
            log.warning(
                "controller.stale_after (%gs) is under twice heartbeat_interval (%gs): live jobs "
                "of a busy controller may be taken for dead",
                self.stale_after,
                self.heartbeat_interval,
            )
        self.default_grace = c.default_grace_period
        self.workdir = Path(c.workdir).absolute()
        self.owner = owner or new_owner()
        self.host = this_host()
        self.publisher = Publisher(self.settings.artifacts.url, c, store)
        self._engine = engine
        self.cd = cd
        self.ledger = Ledger(
            engine, owner=self.owner, host=self.host, workdir=self.workdir, publisher=self.publisher
        )
        self.jobs = JobRunner(
            self.settings,
            owner=self.owner,
            clone_uri=clone_uri or clone_uri_for(self.settings),
            executors=executors or Executors.from_settings(self.settings),
            publisher=self.publisher,
            leases=LeaseService(engine, self.settings.leases)
            if self.settings.leases.types
            else None,
            describe=lambda job_id, text: self.ledger.call(self.ledger.describe, job_id, text),
        )
        self._build_ids = BuildIdGenerator()  # `for_job`: unique without a node per controller
        self._running: dict[int, Running] = {}
        self.finish_retry = FINISH_RETRY
        self._last_heartbeat = 0.0
        # The sinker's age and interval also govern this controller's own workdir (janitor.py).
        self.sweep_interval = self.settings.sinker.interval if self.settings.sinker.enabled else 0
        self.sweep_max_age = timedelta(seconds=self.settings.sinker.max_age)
        self._last_sweep = -float("inf")
        self._leftovers_killed = False
        self._cluster_swept = False
        self._stopping = False
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop_requested = threading.Event()
        self._metrics = ControllerMetrics(registry) if registry is not None else None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        engine: Engine,
        registry: CollectorRegistry | None = None,
        on_state_change: Callable[[], None] | None = None,
    ) -> Controller:
        return cls(engine, settings, registry=registry, on_state_change=on_state_change)

    def notify(self) -> None:
        """Start a round now (thread-safe): new jobs were created or some were aborted."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop just closed
                loop.call_soon_threadsafe(wake.set)

    def _changed(self) -> None:
        if self.on_state_change is not None:
            try:
                self.on_state_change()
            except Exception:
                log.exception("controller: on_state_change failed")

    # -- one round ---------------------------------------------------------------------------

    @property
    def running(self) -> list[int]:
        return sorted(self._running)

    async def run_once(self) -> list[int]:
        """Recover dead controllers' jobs, heartbeat and watch ours, claim what fits.

        Returns the ids of the jobs claimed (and started) by this call.
        """
        db = self.ledger
        if not self._leftovers_killed:  # first round: before any job is recovered
            await asyncio.to_thread(leftovers.kill_dead_owners, self.host, self.owner, self.workdir)
            self._leftovers_killed = True
        await self.recover_stale()
        if not self._cluster_swept:  # first round, after recovery: the dead runs' objects
            self._cluster_swept = True
            if self.settings.sinker.enabled:
                await asyncio.to_thread(self.sweep_cluster)
        await self.watch()
        if self.sweep_interval and time.monotonic() - self._last_sweep >= self.sweep_interval:
            self._last_sweep = time.monotonic()
            await db.call(db.sweep_workdir, frozenset(self._running), self.sweep_max_age)
        free = self.max_concurrency - len(self._running)
        if free <= 0 or self._stopping or not await db.call(db.has_triggered):
            return []
        claimed = await db.call(db.claim, free, self._build_ids.for_job)
        for job in claimed:
            self._start(job)
        if claimed:
            self._changed()
        return [job.id for job in claimed]

    async def wait_idle(self) -> None:
        """Until every job this controller runs has ended (claims nothing new)."""
        while self._running:
            tasks = [r.task for r in self._running.values() if r.task is not None]
            await asyncio.wait(tasks)

    async def watch(self) -> None:
        """Heartbeat (every `heartbeat_interval`) or read (otherwise) the state of our jobs; stop
        those that are no longer pending and ours: aborted by someone, or recovered."""
        # Jobs that are publishing keep their heartbeat too: an upload may take a while.
        ids = list(self._running)
        if not ids:
            return
        db = self.ledger
        if time.monotonic() - self._last_heartbeat >= self.heartbeat_interval:
            ours = await db.call(db.heartbeat, ids)
            self._last_heartbeat = time.monotonic()
        else:
            ours = await db.call(db.still_ours, ids)
        for job_id in ids:
            r = self._running.get(job_id)
            if job_id not in ours and r is not None and r.phase != "finish":
                log.info("job %d is no longer pending for us: stopping it", job_id)
                r.stop("abort")

    async def recover_stale(self) -> list[int]:
        """End (or re-queue once) pending jobs whose controller is gone, and pending jobs of ours
        that no run of ours is going for (their end could not be recorded); returns their ids."""
        db = self.ledger
        stale = await db.call(db.stale, frozenset(self._running), self.stale_after)
        recovered: list[int] = []
        for job in stale:
            state = await db.call(db.recover_one, job, self.requeue_on_recovery)
            if state is not None:
                recovered.append(job.id)
                if job.owner == self.owner:
                    log.warning("job %d: ours, yet no run of it is going: now %s", job.id, state)
                else:
                    log.warning("job %d of dead controller %s: now %s", job.id, job.owner, state)
                if self._metrics is not None:
                    self._metrics.recovered.labels(state).inc()
        if recovered:
            self._changed()
        return recovered

    def sweep_cluster(self) -> None:
        """Stop and delete the runs on the cluster that no job needs (`execute/kube/sweep.py`):
        at start, a dead controller's runs, whose jobs recovery just ended or re-queued."""
        try:
            sweep_cluster(self.settings, self._engine, utcnow(), who="controller")
        except Exception:
            log.exception("controller: cluster sweep failed")

    # -- one job -----------------------------------------------------------------------------

    def _start(self, claimed: Claimed) -> None:
        r = Running(claimed, self.default_grace)
        r.task = asyncio.get_running_loop().create_task(
            self._run_job(r), name=f"foredeck-job-{claimed.id}"
        )
        self._running[claimed.id] = r
        r.task.add_done_callback(lambda _task: self._ended(claimed.id))
        if self._metrics is not None:
            self._metrics.started.inc()
            self._metrics.running.set(len(self._running))

    def _ended(self, job_id: int) -> None:
        self._running.pop(job_id, None)
        if self._metrics is not None:
            self._metrics.running.set(len(self._running))
        if self._wake is not None:
            self._wake.set()

    async def _run_job(self, r: Running) -> None:
        job: Job | None = None
        live: LivePublisher | None = None
        try:
            try:
                job = await self.ledger.call(self.ledger.load, r.id)
                live = self.publisher.start_live(r, job)
                outcome = await self.jobs.execute(r, job)
            except Exception as exc:
                log.exception("job %d: internal error", r.id)
                outcome = Outcome("error", f"internal error: {type(exc).__name__}: {exc}")
        finally:
            if live is not None:  # before the final publish, which overwrites the snapshots
                await live.stop()
        r.done()
        outcome = outcome.censored(r.censor)
        url: str | None = None
        cases: list[CaseOutcome] = []
        delivery: Delivery | None = None
        if job is not None:
            try:
                agent = self.jobs.agent(job)
                url = await asyncio.to_thread(self.publisher.publish, r, job, outcome, agent)
                cases = await asyncio.to_thread(run_cases, Path(r.claimed.workspace) / OUT)
                if live is not None:  # the task logs' texts snapshots uploaded are stale now
                    await asyncio.to_thread(live.snapshots.forget)
                workspace = Path(r.claimed.workspace)
                delivery = pending_delivery(job, workspace, outcome.state, r.final_sha)
            except Exception:
                log.exception("job %d: publishing the artifacts failed", r.id)
        final = await self._record(r, outcome, url, cases)
        if final is None:
            return
        if self._metrics is not None:
            self._metrics.finished.labels(outcome.state if final else "taken").inc()
        self._changed()
        log.info("job %d (%s): %s: %s", r.id, r.claimed.name, outcome.state, outcome.description)
        if final and delivery is not None:
            await self._deliver(r, delivery)

    async def _deliver(self, r: Running, delivery: Delivery) -> None:
        """Bump the postsubmit's images in its `cd:` targets; its state is already final."""
        try:
            if self.cd is None:
                self.cd = cd_runner_from_settings(self.settings, self._engine)
            await self.cd.after_postsubmit(delivery.targets, delivery.built)
        except Exception:
            log.exception("job %d: continuous delivery failed", r.id)

    async def _record(
        self, r: Running, outcome: Outcome, url: str | None, cases: list[CaseOutcome]
    ) -> bool | None:
        """Record the final state (`Ledger.finish`), retrying with backoff while the database
        refuses it (a disk full for a while) until it works or the controller stops; None: not
        recorded.

        The job stays in `_running` meanwhile, so its heartbeat goes on and nobody takes it for
        dead. Left pending at a stop, it is recovered at the next start (its pid is gone).
        """
        delay, longest = self.finish_retry
        failures = 0
        while True:
            try:
                final = await self.ledger.call(self.ledger.finish, r, outcome, url, cases)
            except Exception as exc:
                failures += 1
                if failures == 1:
                    log.exception("job %d: cannot record its final state; retrying", r.id)
                else:
                    log.warning("job %d: final state still not recorded: %s", r.id, error_line(exc))
                if self._stop_requested.is_set():
                    log.error(
                        "job %d: controller stopping; its final state (%s) is not recorded, "
                        "recovery will end it",
                        r.id,
                        outcome.state,
                    )
                    return None
                await asyncio.to_thread(self._stop_requested.wait, delay)  # or until stop()
                delay = min(2 * delay, longest)
                continue
            if failures:
                log.info("job %d: final state recorded after %d refusals", r.id, failures)
            return final

    # -- the service -------------------------------------------------------------------------

    async def serve(self) -> None:
        """Run rounds until `stop()`: every `poll_interval`, and whenever a job ends."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        try:
            while not self._stop_requested.is_set():
                self._wake.clear()
                started = self._loop.time()
                try:
                    await self.run_once()
                except Exception:
                    log.exception("controller: a round failed; retrying")
                if self._stop_requested.is_set():
                    break
                await _wait(self._wake, self.poll_interval)
                # In a storm the event worker wakes us after every batch: rounds closer than
                # `ROUND_GAP` would be queries that find nothing new, under the hook's GIL.
                rest = started + ROUND_GAP - self._loop.time()
                if rest > 0 and not self._stop_requested.is_set():
                    await asyncio.sleep(rest)
        finally:
            await self._shutdown()
            self.ledger.close()

    async def _shutdown(self) -> None:
        self._stopping = True
        for r in list(self._running.values()):
            r.stop("stop")
        # Keep heartbeating while jobs stop (finally tasks may take their grace period).
        while self._running:
            tasks = [r.task for r in self._running.values() if r.task is not None]
            await asyncio.wait(tasks, timeout=self.heartbeat_interval)
            try:
                await self.watch()
            except Exception:
                log.exception("controller: heartbeat failed while stopping")

    def start(self) -> threading.Thread:
        """Serve in a daemon thread with its own asyncio loop."""
        if self._thread is not None and self._thread.is_alive():
            return self._thread
        self._stop_requested.clear()
        self._stopping = False
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self.serve()), name="foredeck-controller", daemon=True
        )
        self._thread.start()
        return self._thread

    def request_stop(self) -> None:
        """Ask `serve()` to stop (thread-safe, returns at once)."""
        self._stop_requested.set()
        self.notify()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop claiming; running jobs are cancelled and end `aborted` ("controller stopped")."""
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("controller: jobs still stopping after %gs", timeout)
            else:
                self._thread = None


async def _wait(event: asyncio.Event, timeout: float) -> None:
    waiter: Awaitable[Any] = event.wait()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(waiter, timeout)
