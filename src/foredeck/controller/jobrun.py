"""What one claimed job goes through before its final state: workspace, checkout, pipeline,
run by the executor of its agent, outcome.

Nothing here raises for the job's own problems (an agent foredeck does not run, bad refs, a
merge conflict, a broken pipeline, a cluster that refuses the run): each is an `Outcome`.
Where the pipeline runs is the executor's business (`foredeck.execute.executors`); this module
only tells it what the job is (`RunRequest`), and stops it on abort, timeout or a stop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from pathlib import Path

from pydantic import ValidationError

from foredeck.censor import CensorError
from foredeck.controller import artifacts, leftovers
from foredeck.controller.env import prow_env
from foredeck.controller.jobleases import (
    Describe,
    JobLeases,
    LeaseFailed,
    unknown_types,
    wanted,
)
from foredeck.controller.pipeline import Limits, format_seconds, job_agent, limits
from foredeck.controller.publishing import Publisher
from foredeck.controller.running import Outcome, Running, cancelling
from foredeck.controller.secrets import SecretsError, job_censor
from foredeck.controller.workspace import (
    CLONE_RECORDS,
    OUT,
    SRC,
    all_refs,
    checkout_dir,
    describe_checkout_error,
    prepare,
)
from foredeck.db.models import Job
from foredeck.execute.executor import Executor, ExecutorError, RunRequest, work_dir_refs
from foredeck.execute.executors import Executors, UnsupportedAgent
from foredeck.execute.logs import OutputLimit
from foredeck.execute.runstate import RunResult
from foredeck.jobs import JobSetupError, build_run, job_model
from foredeck.leases import Lease, LeaseService
from foredeck.pipeline.model import PipelineRunSpec
from foredeck.scm.git import CheckoutError, CloneUriFunc, clone_refs, resolve_clone_uri
from foredeck.settings import Settings
from foredeck.types import Refs

STOPPED = "controller stopped"


class JobRunner:
    """Runs claimed jobs for one controller (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        *,
        owner: str,
        clone_uri: CloneUriFunc,
        executors: Executors,
        publisher: Publisher,
        leases: LeaseService | None = None,
        describe: Callable[[int, str | None], Awaitable[None]] | None = None,
    ) -> None:
        """`leases` hands out the jobs' `leases:` (None: a job that asks for one ends `error`);
        `describe` sets a pending job's description (what it waits for)."""
        c = settings.controller
        self.settings = settings
        self.leases = leases
        self.lease_ttl = settings.leases.job_ttl
        self.lease_wait = settings.leases.job_wait
        self.describe = describe
        self.owner = owner
        self.clone_uri = clone_uri
        self.executors = executors
        self.publisher = publisher
        self.workdir = Path(c.workdir).absolute()
        self.mirror_dir = Path(c.mirror_dir).absolute()
        self.default_timeout = c.default_timeout
        self.default_grace = c.default_grace_period
        self.max_output = (
            OutputLimit(c.max_output_bytes, "controller.max_output_bytes")
            if c.max_output_bytes
            else None
        )

    def agent(self, job: Job) -> str | None:
        """Where the job runs (`kube.default_agent` for `kubernetes`), None if nowhere."""
        return self.executors.agent(job_agent(job))

    async def execute(self, r: Running, job: Job) -> Outcome:
        """Checkout, pipeline, run: the outcome (never raises for the job's own problems)."""
        workspace = Path(r.claimed.workspace)
        await asyncio.to_thread(prepare, workspace, self.workdir)
        failed = await self._censor(r)
        if failed is not None:
            return failed
        try:
            executor = self.executors.for_agent(job_agent(job))
        except UnsupportedAgent as exc:
            return Outcome("error", str(exc))
        try:
            refs = all_refs(job)
        except ValidationError as exc:
            return Outcome("error", f"invalid refs: {exc.errors()[0]['msg']}")
        if refs:
            failed = await self._checkout(r, job, workspace, refs)
            if failed is not None:
                return failed
        main = work_dir_refs(refs)
        repo_dir = checkout_dir(workspace / SRC, main) if main is not None else None
        try:
            model = job_model(job)
            lim = limits(model, self.default_timeout, self.default_grace)
            run = build_run(model, repo_dir)
        except JobSetupError as exc:
            return Outcome("error", str(exc))
        r.grace = lim.grace
        if r.reason is not None:
            return self._stopped(r, lim)
        request = self._request(r, job, refs, repo_dir, lim)
        needs = run.pipeline.leases
        if (model.leases or needs) and self.leases is not None:
            unknown = unknown_types(self.leases, model.leases, needs)
            if unknown is not None:
                return Outcome("error", unknown)
        held = JobLeases(
            self.leases,
            job.id,
            wanted(model.leases, needs),
            self.lease_ttl,
            on_lost=lambda why: r.stop("lease", why),
            max_wait=self.lease_wait,
        )
        try:
            try:
                if not await held.acquire(lambda: r.reason is not None, self._describer(job.id)):
                    return self._stopped(r, lim)
            except LeaseFailed as exc:
                return Outcome("error", str(exc))
            r.leases = held.summary()
            if r.reason is not None:  # stopped, or a lease lost, since the last was had
                return self._stopped(r, lim)
            env, lease_dir = await asyncio.to_thread(held.hand_over, workspace)
            failed = await self._censor(r, held.held, request.refs)
            if failed is not None:
                return failed
            request = replace(
                request, env={**request.env, **env}, lease_dir=lease_dir, censor=r.censor
            )
            return await self._run(r, executor, run, request, lim)
        finally:
            await held.release()

    async def _censor(
        self, r: Running, leases: Sequence[Lease] = (), refs: Sequence[Refs] = ()
    ) -> Outcome | None:
        """Set the job's censor (`secrets.py`); an outcome if a secret cannot be read: a job
        must not run when its logs could not be censored."""
        try:
            r.censor = await asyncio.to_thread(job_censor, self.settings, leases, refs)
        except (SecretsError, CensorError) as exc:
            return Outcome("error", f"secrets to censor: {exc}")
        return None

    def _describer(self, job_id: int) -> Describe:
        async def describe(text: str | None) -> None:
            if self.describe is not None:
                await self.describe(job_id, text)

        return describe

    async def _checkout(
        self, r: Running, job: Job, workspace: Path, refs: list[Refs]
    ) -> Outcome | None:
        """Clone the refs into the workspace like Prow's clonerefs; an outcome if that failed."""
        if r.reason is not None:
            return self._stopped(r, None)
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
            if cancelling():
                raise
            return self._stopped(r, None)
        if job.refs:
            r.final_sha = records[0].final_sha
        return None

    def _request(
        self, r: Running, job: Job, refs: list[Refs], repo_dir: Path | None, lim: Limits
    ) -> RunRequest:
        build_id = r.claimed.build_id
        build_dir: str | None = None
        no_build_dir = ""
        try:
            build_dir = artifacts.target(job, build_id).build_dir
        except ValueError as exc:
            no_build_dir = str(exc)
        return RunRequest(
            job_id=job.id,
            build_id=build_id,
            env=prow_env(job, build_id),
            refs=[
                one.model_copy(update={"clone_uri": resolve_clone_uri(one, self.clone_uri)})
                for one in refs
            ],
            checkout=Path(r.claimed.workspace) / SRC if refs else None,
            workdir=repo_dir,
            grace=lim.grace,
            marker=f"{self.owner}/{leftovers.run_name(self.workdir, job.id)}",
            max_output=self.max_output,
            build_dir=build_dir,
            no_build_dir=no_build_dir,
            store=self.publisher.store,
        )

    async def _run(
        self,
        r: Running,
        executor: Executor,
        run: PipelineRunSpec,
        request: RunRequest,
        lim: Limits,
    ) -> Outcome:
        loop = asyncio.get_running_loop()
        r.phase = "run"
        timer = loop.call_later(lim.timeout, r.stop, "timeout")
        result: RunResult | None = None
        out_dir = Path(r.claimed.workspace) / OUT
        try:
            result = await r.step(executor.run(run, out_dir, request, r.cancel))
        except asyncio.CancelledError:
            if cancelling():
                raise
        except ExecutorError as exc:
            return Outcome("error", str(exc))
        finally:
            timer.cancel()
            r.done()
        if r.reason == "lease":  # what the steps did on a resource they lost proves nothing
            return Outcome("error", r.why)
        if result is not None and result.status in ("Succeeded", "Failed"):
            return _ended(result)
        if result is not None and result.status == "TimedOut" and r.reason is None:
            own = run.pipeline.timeout
            text = lim.timeout_text if own is None or own == lim.timeout else format_seconds(own)
            return Outcome("aborted", f"timed out after {text}")
        return self._stopped(r, lim)

    def _stopped(self, r: Running, lim: Limits | None) -> Outcome:
        if r.reason == "timeout" and lim is not None:
            return Outcome("aborted", f"timed out after {lim.timeout_text}")
        if r.reason == "stop":
            return Outcome("aborted", STOPPED)
        if r.reason == "lease":
            return Outcome("error", r.why)
        return Outcome("aborted", "Job aborted.")


def _ended(result: RunResult) -> Outcome:
    """A run that went to its end: `success`, or `failure` naming up to five failed tasks."""
    if result.status == "Succeeded":
        return Outcome("success", "Job succeeded.")
    failed = [
        name
        for name, task in result.tasks.items()
        if task.status in ("Failed", "TimedOut") and not task.instances
    ]
    detail = f": {', '.join(failed[:5])} failed" if failed else ""
    return Outcome("failure", f"Job failed{detail}.")
