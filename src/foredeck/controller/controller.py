"""The controller: claims triggered jobs and runs them with the local executor, Prow-style.

One asyncio loop (in a daemon thread, or the caller's for tests) does everything: each
`run_once()` recovers jobs of dead controllers, refreshes heartbeats (noticing jobs aborted
meanwhile), and claims as many jobs as there are free slots; each claimed job runs in a task of
its own: workspace, checkout, pipeline, publish, final state. Database calls and uploads run in
worker threads, so a slow query never stalls the running pipelines' log streams.

Lifecycle: `triggered -> pending -> success | failure | aborted | error`. `pending` belongs to one
controller (`owner`, `heartbeat_at`); every final state is a compare-and-set on that ownership,
so an abort, a recovery and the run's own end can never overwrite each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from prometheus_client import CollectorRegistry
from pydantic import ValidationError
from sqlalchemy import Engine

from foredeck.controller import artifacts, janitor, leftovers
from foredeck.controller.env import prow_env, step_env
from foredeck.controller.isolation import job_sandbox
from foredeck.controller.live import LivePublisher, LiveSnapshots
from foredeck.controller.metrics import ControllerMetrics
from foredeck.controller.pipeline import (
    Agent,
    Limits,
    build_run,
    effective_agent,
    format_seconds,
    job_agent,
    limits,
    unsupported_agent,
)
from foredeck.controller.queries import (
    DIED,
    LOST,
    Claimed,
    StaleJob,
    any_triggered,
    claim,
    finish,
    heartbeat,
    load_jobs,
    recover,
    stale_jobs,
    still_ours,
    this_host,
)
from foredeck.controller.workspace import (
    CLONE_RECORDS,
    OUT,
    SRC,
    all_refs,
    checkout_dir,
    clone_uri_for,
    describe_checkout_error,
    move_aside,
    prepare,
    remove,
    work_dir_refs,
)
from foredeck.db.engine import error_line, read_only, session_factory, write_lock
from foredeck.db.models import Job, JobState
from foredeck.db.types import utcnow
from foredeck.execute.local import run_pipeline
from foredeck.execute.logs import OutputLimit
from foredeck.execute.orphans import new_owner
from foredeck.execute.runstate import RunResult
from foredeck.execute.workspace import OutputDirError
from foredeck.jobs import JobSetupError, job_model
from foredeck.pipeline.model import PipelineRunSpec
from foredeck.scm.git import CheckoutError, CloneUriFunc, clone_refs, resolve_clone_uri
from foredeck.settings import Settings
from foredeck.storage import prow
from foredeck.storage.buildid import MAX_NODE, BuildIdGenerator
from foredeck.storage.store import ArtifactStore, open_store
from foredeck.types import PipelineError

if TYPE_CHECKING:
    from foredeck.execute.kube.decorate import Decoration

log = logging.getLogger(__name__)

StopReason = Literal["abort", "timeout", "stop"]
Phase = Literal["prepare", "run", "finish"]
STOPPED = "controller stopped"
FINISH_RETRY = (0.5, 10.0)
"""Seconds before the first retry of a final state the database refused, and at most between
two retries (doubling in between)."""
DB_THREADS = 2
T = TypeVar("T")


@dataclass(frozen=True)
class Outcome:
    state: JobState
    description: str


REMOTE_AGENTS = ("argo", "tekton")
"""Agents run on Kubernetes; `kube.default_agent` decides for `kubernetes` and no agent."""


class RemoteFailed(Exception):
    """The cluster could not be reached or refused the run: the job ends `error`."""


class _Running:
    """One job this controller runs, and how to stop it.

    Each phase runs in an inner task, so that stopping cancels just that phase: a checkout is
    cancelled outright (git's process groups are killed); a pipeline gets the executor's cancel
    event (steps get SIGTERM, finally tasks run) and, if it is still going after the grace
    period, is cancelled until it returns.
    """

    def __init__(self, claimed: Claimed, grace: float) -> None:
        self.claimed = claimed
        self.id = claimed.id
        self.cancel = asyncio.Event()
        self.reason: StopReason | None = None
        self.phase: Phase = "prepare"
        self.grace = grace
        self.final_sha = ""
        self.inner: asyncio.Future[Any] | None = None
        self.task: asyncio.Task[None] | None = None
        self._enforcer: asyncio.Task[None] | None = None

    def stop(self, reason: StopReason) -> None:
        if self.reason is not None or self.phase == "finish":
            return
        self.reason = reason
        if self.phase == "prepare":
            if self.inner is not None:
                self.inner.cancel()
        else:
            self.cancel.set()
            self._enforcer = asyncio.get_running_loop().create_task(self._enforce())

    async def _enforce(self) -> None:
        await asyncio.sleep(self.grace)
        while self.inner is not None and not self.inner.done():
            log.warning("job %d: still running %gs after stop; cancelling", self.id, self.grace)
            self.inner.cancel()
            await asyncio.wait({self.inner}, timeout=max(self.grace, 0.5))

    async def step(self, work: Coroutine[Any, Any, T]) -> T:
        inner = asyncio.ensure_future(work)
        self.inner = inner
        if self.reason is not None and self.phase == "prepare":
            inner.cancel()
        try:
            return await inner
        finally:
            self.inner = None

    def done(self) -> None:
        self.phase = "finish"
        if self._enforcer is not None:
            self._enforcer.cancel()


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
    ) -> None:
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
        self.default_timeout = c.default_timeout
        self.default_grace = c.default_grace_period
        self.parallel = c.parallel or os.cpu_count() or 1
        self.workdir = Path(c.workdir).absolute()
        self.mirror_dir = Path(c.mirror_dir).absolute()
        self.clone_uri = clone_uri or clone_uri_for(self.settings)
        self.sandbox = job_sandbox(self.settings)
        self.max_output = (
            OutputLimit(c.max_output_bytes, "controller.max_output_bytes")
            if c.max_output_bytes
            else None
        )
        self.owner = owner or new_owner()
        self.host = this_host()
        self._engine = engine
        self._sessions = session_factory(engine)
        self._reads = session_factory(read_only(engine))
        self._store = store
        self._store_lock = threading.Lock()
        self._build_ids = BuildIdGenerator(node=zlib.crc32(self.owner.encode()) & MAX_NODE)
        self._running: dict[int, _Running] = {}
        self.finish_retry = FINISH_RETRY
        self._last_heartbeat = 0.0
        # The sinker's age and interval also govern this controller's own workdir (janitor.py).
        self.sweep_interval = self.settings.sinker.interval if self.settings.sinker.enabled else 0
        self.sweep_max_age = timedelta(seconds=self.settings.sinker.max_age)
        self._last_sweep = -float("inf")
        self._leftovers_killed = False
        self._stopping = False
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop_requested = threading.Event()
        self._metrics = ControllerMetrics(registry) if registry is not None else None
        self._db_pool: ThreadPoolExecutor | None = None

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
        if not self._leftovers_killed:  # first round: before any job is recovered
            await asyncio.to_thread(leftovers.kill_dead_owners, self.host, self.owner, self.workdir)
            self._leftovers_killed = True
        await self.recover_stale()
        await self.watch()
        if self.sweep_interval and time.monotonic() - self._last_sweep >= self.sweep_interval:
            self._last_sweep = time.monotonic()
            await self._db(self._sweep_workdir)
        free = self.max_concurrency - len(self._running)
        if free <= 0 or self._stopping or not await self._db(self._has_triggered):
            return []
        claimed = await self._db(self._claim, free)
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
        if time.monotonic() - self._last_heartbeat >= self.heartbeat_interval:
            ours = await self._db(self._heartbeat, ids)
            self._last_heartbeat = time.monotonic()
        else:
            ours = await self._db(self._still_ours, ids)
        for job_id in ids:
            r = self._running.get(job_id)
            if job_id not in ours and r is not None and r.phase != "finish":
                log.info("job %d is no longer pending for us: stopping it", job_id)
                r.stop("abort")

    async def recover_stale(self) -> list[int]:
        """End (or re-queue once) pending jobs whose controller is gone, and pending jobs of ours
        that no run of ours is going for (their end could not be recorded); returns their ids."""
        stale = await self._db(self._stale, frozenset(self._running))
        recovered: list[int] = []
        for job in stale:
            state = await self._db(self._recover_one, job)
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

    # -- database (worker threads) -----------------------------------------------------------

    async def _db(self, call: Callable[..., T], *args: Any) -> T:
        """Run a database call in the controller's own small pool: uploads and workspace
        deletions in the default pool can never hold up a heartbeat."""
        if self._db_pool is None:
            self._db_pool = ThreadPoolExecutor(DB_THREADS, thread_name_prefix="foredeck-ctl-db")
        return await asyncio.get_running_loop().run_in_executor(
            self._db_pool, functools.partial(call, *args)
        )

    def _claim(self, limit: int) -> list[Claimed]:
        with write_lock(self._engine), self._sessions() as session, session.begin():
            return claim(
                session,
                owner=self.owner,
                limit=limit,
                next_build_id=self._build_ids.next,
                workspace_for=lambda job_id: str(self.workdir / str(job_id)),
            )

    def _has_triggered(self) -> bool:
        # A read first: on SQLite a claim is a write transaction, which an idle poll should not
        # take every second.
        with self._reads() as session, session.begin():
            return any_triggered(session)

    def _heartbeat(self, ids: list[int]) -> set[int]:
        with write_lock(self._engine), self._sessions() as session, session.begin():
            return heartbeat(session, self.owner, ids)

    def _still_ours(self, ids: list[int]) -> set[int]:
        with self._reads() as session, session.begin():
            return still_ours(session, self.owner, ids)

    def _stale(self, running: frozenset[int]) -> list[StaleJob]:
        threshold = utcnow() - timedelta(seconds=self.stale_after)
        with self._reads() as session, session.begin():
            return stale_jobs(
                session, threshold=threshold, host=self.host, own_owner=self.owner, running=running
            )

    def _recover_one(self, job: StaleJob) -> JobState | None:
        trash: list[Path | None] = []
        with self._reads() as session, session.begin():  # before a requeue forgets its build id
            row = load_jobs(session, [job.id]).get(job.id)
        leftovers.kill_job_leftovers(job, self.host)  # before it is ended or runs again
        with write_lock(self._engine), self._sessions() as session, session.begin():
            state = recover(
                session,
                job,
                reason=LOST if job.owner == self.owner else DIED,
                requeue=self.requeue_on_recovery,
                before_requeue=lambda: trash.append(move_aside(job.workspace, self.workdir)),
            )
        for path in trash:
            remove(path)
        if state is not None and row is not None:
            self._seal_dead_build(row)
        return state

    def _sweep_workdir(self) -> list[int]:
        """Remove this machine's workspaces that no job needs (see `janitor`)."""
        ids = [i for i in janitor.workspace_ids(self.workdir) if i not in self._running]
        cutoff = utcnow() - self.sweep_max_age
        gone: list[int] = []
        for start in range(0, len(ids), 500):
            with self._reads() as session, session.begin():
                gone += janitor.unneeded(session, ids[start : start + 500], cutoff)
        return janitor.remove_unneeded(self.workdir, gone)

    def _seal_dead_build(self, job: Job) -> None:
        """Give the live snapshots of a dead run a `finished.json` (ERROR): readers of the
        bucket (Prow's Spyglass, TestGrid) would otherwise show that build running forever."""
        if not job.build_id:
            return
        try:
            build_dir = artifacts.target(job, job.build_id).build_dir
            store = self._artifact_store()
            if not store.exists(f"{build_dir}/{prow.STARTED}"):
                return  # no snapshot reached the store: nothing to seal
            if store.exists(f"{build_dir}/{prow.FINISHED}"):
                return
            data = prow.finished(
                time.time(), passed=False, result="ERROR", metadata={"description": DIED}
            )
            store.write_bytes(f"{build_dir}/{prow.FINISHED}", json.dumps(data).encode())
        except Exception:  # the job's state is already right; the bucket is best effort
            log.exception("could not seal the build of dead job %s", job.id)

    def _load(self, job_id: int) -> Job:
        with self._reads() as session, session.begin():
            job = load_jobs(session, [job_id]).get(job_id)
        if job is None:
            raise LookupError(f"job {job_id} disappeared")
        return job

    def _finish(self, r: _Running, outcome: Outcome, url: str | None) -> bool:
        with write_lock(self._engine), self._sessions() as session, session.begin():
            return finish(
                session,
                r.id,
                owner=self.owner,
                build_id=r.claimed.build_id,
                state=outcome.state,
                description=outcome.description,
                url=url,
            )

    # -- one job -----------------------------------------------------------------------------

    def _start(self, claimed: Claimed) -> None:
        r = _Running(claimed, self.default_grace)
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

    async def _run_job(self, r: _Running) -> None:
        job: Job | None = None
        live: LivePublisher | None = None
        try:
            try:
                job = await self._db(self._load, r.id)
                live = self._start_live(r, job)
                outcome = await self._execute(r, job)
            except Exception as exc:
                log.exception("job %d: internal error", r.id)
                outcome = Outcome("error", f"internal error: {type(exc).__name__}: {exc}")
        finally:
            if live is not None:  # before the final publish, which overwrites the snapshots
                await live.stop()
        r.done()
        url: str | None = None
        if job is not None:
            try:
                url = await asyncio.to_thread(self._publish, r, job, outcome)
                if live is not None:  # the task logs' texts snapshots uploaded are stale now
                    await asyncio.to_thread(live.snapshots.forget)
            except Exception:
                log.exception("job %d: publishing the artifacts failed", r.id)
        final = await self._record(r, outcome, url)
        if final is None:
            return
        if self._metrics is not None:
            self._metrics.finished.labels(outcome.state if final else "taken").inc()
        self._changed()
        log.info("job %d (%s): %s: %s", r.id, r.claimed.name, outcome.state, outcome.description)

    async def _record(self, r: _Running, outcome: Outcome, url: str | None) -> bool | None:
        """Record the final state (`_finish`), retrying with backoff while the database refuses
        it (a disk full for a while) until it works or the controller stops; None: not recorded.

        The job stays in `_running` meanwhile, so its heartbeat goes on and nobody takes it for
        dead. Left pending at a stop, it is recovered at the next start (its pid is gone).
        """
        delay, longest = self.finish_retry
        failures = 0
        while True:
            try:
                final = await self._db(self._finish, r, outcome, url)
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

    async def _execute(self, r: _Running, job: Job) -> Outcome:
        """Checkout, pipeline, run: the outcome (never raises for the job's own problems)."""
        workspace = Path(r.claimed.workspace)
        await asyncio.to_thread(prepare, workspace, self.workdir)
        agent = self._agent(job)
        if agent is None:
            return Outcome("error", unsupported_agent(job_agent(job)))
        try:
            refs = all_refs(job)
        except ValidationError as exc:
            return Outcome("error", f"invalid refs: {exc.errors()[0]['msg']}")
        if refs:
            if r.reason is not None:
                return self._stopped(r, None, None)
            try:
                records = await r.step(
                    clone_refs(
                        refs,
                        workspace / SRC,
                        mirror_root=self.mirror_dir,
                        clone_uri=self.clone_uri,
                        records_path=workspace / CLONE_RECORDS,
                    )
                )
            except CheckoutError as exc:
                return Outcome("error", describe_checkout_error(exc))
            except ValueError as exc:
                return Outcome("error", f"checkout failed: {exc}")
            except asyncio.CancelledError:
                if _cancelling():
                    raise
                return self._stopped(r, None, None)
            if job.refs:
                r.final_sha = records[0].final_sha
            await asyncio.to_thread(self.sandbox.hand_over, workspace / SRC, tree=True)
        main = work_dir_refs(refs)
        repo_dir = checkout_dir(workspace / SRC, main) if main is not None else None
        try:
            model = job_model(job)
            lim = limits(model, self.default_timeout, self.default_grace)
            run = build_run(model, repo_dir, default_workdir=agent == "local")
        except JobSetupError as exc:
            return Outcome("error", str(exc))
        r.grace = lim.grace
        if r.reason is not None:
            return self._stopped(r, None, lim)
        return await self._run_pipeline(r, job, run, lim, agent)

    def _agent(self, job: Job) -> Agent | None:
        """Where the job runs (`kube.default_agent` for `kubernetes`), None if nowhere."""
        return effective_agent(job_agent(job), self.settings.kube.default_agent)

    async def _run_pipeline(
        self, r: _Running, job: Job, run: PipelineRunSpec, lim: Limits, agent: Agent
    ) -> Outcome:
        loop = asyncio.get_running_loop()
        r.phase = "run"
        timer = loop.call_later(lim.timeout, r.stop, "timeout")
        result: RunResult | None = None
        out_dir = Path(r.claimed.workspace) / OUT
        src = Path(r.claimed.workspace) / SRC  # the checkout, writable by the steps
        try:
            if agent != "local":
                decoration = self._decoration(job, r.claimed.build_id)
                result = await r.step(
                    self._run_remote(job, agent, run, out_dir, r.cancel, decoration)
                )
            else:
                result = await r.step(
                    run_pipeline(
                        run,
                        out_dir,
                        parallel=self.parallel,
                        cancel=r.cancel,
                        env=step_env(
                            job,
                            r.claimed.build_id,
                            passed=self.settings.controller.sandbox.pass_env,
                        ),
                        kill_grace=lim.grace,
                        sandbox=self.sandbox.with_writable(p for p in [src] if p.is_dir()),
                        marker=f"{self.owner}/{leftovers.run_name(self.workdir, job.id)}",
                        max_output=self.max_output,
                    )
                )
        except asyncio.CancelledError:
            if _cancelling():
                raise
        except (PipelineError, OutputDirError, RemoteFailed) as exc:
            return Outcome("error", str(exc))
        finally:
            timer.cancel()
            r.done()
        if result is not None and result.status in ("Succeeded", "Failed"):
            if result.status == "Succeeded":
                return Outcome("success", "Job succeeded.")
            failed = [
                name
                for name, task in result.tasks.items()
                if task.status in ("Failed", "TimedOut") and not task.instances
            ]
            detail = f": {', '.join(failed[:5])} failed" if failed else ""
            return Outcome("failure", f"Job failed{detail}.")
        if result is not None and result.status == "TimedOut" and r.reason is None:
            own = run.pipeline.timeout
            text = lim.timeout_text if own is None or own == lim.timeout else format_seconds(own)
            return Outcome("aborted", f"timed out after {text}")
        return self._stopped(r, result, lim)

    def _decoration(self, job: Job, build_id: str) -> Decoration:
        """What remote pods get, as Prow's pod utilities give it: the checkout of the job's
        refs, the Prow env (never the controller's own), and where to upload `$ARTIFACTS`."""
        from foredeck.execute.kube.decorate import (
            Decoration,
            UploadTarget,
            pod_refs,
            pod_workdir,
            upload_target,
        )

        refs = all_refs(job)
        uris = [resolve_clone_uri(one, self.clone_uri) for one in refs]
        target: UploadTarget | None = None
        why: str | None
        try:
            build_dir = artifacts.target(job, build_id).build_dir
        except ValueError as exc:
            why = f"no artifact upload: {exc}"
        else:
            target, why = upload_target(self._artifact_store().url, build_dir)
        return Decoration(
            env=prow_env(job, build_id),
            refs=pod_refs(refs, uris),
            workdir=pod_workdir(work_dir_refs(refs)),
            utility_image=self.settings.kube.utility_image,
            upload=target,
            no_upload_reason=why,
        )

    async def _run_remote(
        self,
        job: Job,
        engine: Literal["argo", "tekton"],
        run: PipelineRunSpec,
        out_dir: Path,
        cancel: asyncio.Event,
        decoration: Decoration | None = None,
    ) -> RunResult:
        """`agent: argo|tekton` (or the default agent): the same pipeline, compiled, decorated
        and run on Kubernetes (#6)."""
        # Imported here: the Kubernetes client is heavy, and most installations run locally.
        from foredeck.execute.kube.client import KubeConfigError, KubeTarget
        from foredeck.execute.kube.runner import RemoteOptions, RemoteRunError, run_remote

        kube = self.settings.kube
        target = KubeTarget(
            namespace=kube.namespace,
            auth=kube.auth,
            kubeconfig=kube.kubeconfig,
            context=kube.context,
            cluster=kube.cluster,
            region=kube.region,
            aws_profile=kube.aws_profile,
        )
        try:
            return await run_remote(
                run,
                out_dir,
                engine=engine,
                kube=target,
                job_id=job.id,
                cancel=cancel,
                options=RemoteOptions(ui_url=kube.ui_url, max_output=self.max_output),
                decoration=decoration,
            )
        except (KubeConfigError, RemoteRunError) as exc:
            raise RemoteFailed(str(exc)) from None

    def _stopped(self, r: _Running, result: RunResult | None, lim: Limits | None) -> Outcome:
        if r.reason == "timeout" and lim is not None:
            return Outcome("aborted", f"timed out after {lim.timeout_text}")
        if r.reason == "stop":
            return Outcome("aborted", STOPPED)
        return Outcome("aborted", "Job aborted.")

    # -- artifacts (worker thread) -----------------------------------------------------------

    def _artifact_store(self) -> ArtifactStore:
        with self._store_lock:
            if self._store is None:
                self._store = open_store(self.settings.artifacts.url)
            return self._store

    def _start_live(self, r: _Running, job: Job) -> LivePublisher | None:
        """Snapshots of the running job's logs to its build directory (`live.py`), if on."""
        c = self.settings.controller
        if c.live_publish_interval <= 0:
            return None
        try:
            build_dir = artifacts.target(job, r.claimed.build_id).build_dir
        except ValueError:
            return None  # no build directory: the final publish will say why
        snapshots = LiveSnapshots(
            self._artifact_store,
            build_dir,
            Path(r.claimed.workspace) / OUT,
            max_bytes=c.live_publish_max_bytes,
            max_file_bytes=c.live_publish_max_file_bytes,
        )
        live = LivePublisher(snapshots, c.live_publish_interval, r.id)
        live.start()
        return live

    def _publish(self, r: _Running, job: Job, outcome: Outcome) -> str:
        store = self._artifact_store()
        workspace = Path(r.claimed.workspace)
        out = workspace / OUT
        if not (out / prow.FINISHED).is_file():
            result = "ABORTED" if outcome.state == "aborted" else "ERROR"
            artifacts.write_unrun(out, outcome.description, result, time.time())
        paths = artifacts.target(job, r.claimed.build_id)
        url = store.url_for(paths.build_dir)
        job.started_at = job.started_at or utcnow()
        data = artifacts.prowjob(
            job,
            build_id=r.claimed.build_id,
            state=outcome.state,
            description=outcome.description,
            url=url,
            finished=utcnow(),
            agent=self._agent(job),
        )
        artifacts.complete_out(out, job, workspace, final_sha=r.final_sha, prowjob_data=data)
        artifacts.publish(store, paths, out)
        return url

    # -- the service -------------------------------------------------------------------------

    async def serve(self) -> None:
        """Run rounds until `stop()`: every `poll_interval`, and whenever a job ends."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        try:
            while not self._stop_requested.is_set():
                self._wake.clear()
                try:
                    await self.run_once()
                except Exception:
                    log.exception("controller: a round failed; retrying")
                if self._stop_requested.is_set():
                    break
                await _wait(self._wake, self.poll_interval)
        finally:
            await self._shutdown()
            if self._db_pool is not None:
                self._db_pool.shutdown(wait=False)
                self._db_pool = None

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


def _cancelling() -> bool:
    """Whether the current task itself is being cancelled (not just a phase we cancelled)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def _wait(event: asyncio.Event, timeout: float) -> None:
    waiter: Awaitable[Any] = event.wait()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(waiter, timeout)
