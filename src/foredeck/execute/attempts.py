"""One task (or matrix instance) on the host: its attempts, each running the task's steps.

The run (`local.py`) decides when a task starts and what it binds; this is what happens once it
does: a slot, the task's directories and log, then attempts until one succeeds or the retry
strategy gives up, each with its own results directory, workspaces, lookup and environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from foredeck.execute import lookups, provenance
from foredeck.execute.capture import StepCapture, captured_results, wanted_stdout
from foredeck.execute.image_build import ImageBuilder
from foredeck.execute.logs import BuildLog, TaskLogger
from foredeck.execute.record import RunRecord
from foredeck.execute.resource_tasks import ResourceRunner
from foredeck.execute.results import ResultError, read_results
from foredeck.execute.retry import last_retry, retry_delay
from foredeck.execute.runstate import TaskRecord
from foredeck.execute.sandbox import Sandbox
from foredeck.execute.scheduler import Phase, StopReason
from foredeck.execute.served import Served
from foredeck.execute.step_files import uses_step_paths
from foredeck.execute.steps import Attempt, StepOutcome, StepRunner
from foredeck.execute.sync import LockError, Locks
from foredeck.execute.workspace import RunLayout, TaskFiles, dir_name, sub_directory
from foredeck.pipeline import retry_vars
from foredeck.pipeline.expressions import Lookup, SubstitutionError
from foredeck.pipeline.model import ParamValue, PipelineTask, Step, TaskSpec, TaskStatus
from foredeck.pipeline.step_params import bound_at_run
from foredeck.storage import prow


class AttemptHost(Protocol):
    """What a task's attempts need from the run (`local._Run`)."""

    layout: RunLayout
    sandbox: Sandbox
    steps: StepRunner
    images: ImageBuilder
    resources: ResourceRunner | None  # set when the pipeline has resource tasks
    scope: lookups.RunScope
    record: RunRecord
    build_log: BuildLog
    slots: asyncio.Semaphore
    base_env: dict[bytes, bytes]  # every step's environment, encoded once
    tmpdir: bytes  # every step's $TMPDIR
    read: dict[str, set[str]]  # task -> the results someone reads
    declared_workspaces: set[str]
    step_paths: dict[int, bool]  # spec id -> refers to `$(steps.…)`
    locks: Locks  # Argo's synchronization within the run
    artifact_paths: dict[int, bool]  # spec id -> refers to `$(artifacts.path)` (Tekton)

    def settle(self, record: TaskRecord, status: TaskStatus, reason: str = "") -> None: ...

    def settle_unstarted(self, record: TaskRecord, why: StopReason) -> None: ...


@dataclass(frozen=True)
class Instance:
    """One task (or matrix instance) being run: what each of its attempts needs."""

    phase: Phase
    task: PipelineTask
    spec: TaskSpec
    record: TaskRecord
    params: dict[str, ParamValue]
    dname: str  # its directory name
    artifacts: str  # its $ARTIFACTS
    logger: TaskLogger
    workspaces: dict[str, str] | None = None  # its pipeline's workspaces -> the run's
    scope: lookups.RunScope | None = None  # its graph's (None: the run's)
    stop: asyncio.Future[None] | None = None  # what stops its steps (None: the phase's stop)
    served: Served | None = None  # an Argo daemon's: where it serves (`served.py`)


async def run_instance(
    run: AttemptHost,
    phase: Phase,
    task: PipelineTask,
    spec: TaskSpec,
    record: TaskRecord,
    params: dict[str, ParamValue],
    workspaces: dict[str, str] | None = None,
    scope: lookups.RunScope | None = None,
) -> None:
    """Run the instance's attempts in a slot of the run, and settle its record. `workspaces`:
    the task's pipeline workspaces -> the run's (a sub-graph's are mapped; default: same);
    `scope`: what its expressions see (a sub-graph's own; default: the run's)."""
    try:
        run.locks.wanted(spec)
    except LockError as exc:
        run.settle(record, "Failed", str(exc))
        return
    async with phase.limit or contextlib.nullcontext(), run.locks.hold(spec), run.slots:
        if phase.stopping is not None:
            run.settle_unstarted(record, phase.stopping)
            return
        dname, files, logger = open_instance(run, record)
        artifacts = files.artifacts
        status: TaskStatus = "Failed"
        reason = ""
        last: Mapping[str, str] = retry_vars.FIRST
        try:
            for attempt in range(1, task.retries + 2):
                record.attempts = attempt
                began = time.time()
                # A first attempt is announced in the build log only: the task's own log
                # holds what the task wrote, and is not created for a silent task.
                logger.message(f"attempt {attempt} of {task.retries + 1} started", own=attempt > 1)
                run.record.emit("task-started", record.name, "Running", attempt)
                status, reason, retryable = await attempt_steps(
                    run,
                    Instance(
                        phase,
                        task,
                        spec,
                        record,
                        params,
                        dname,
                        artifacts,
                        logger,
                        workspaces,
                        scope or run.scope,
                    ),
                    attempt,
                    last,
                )
                if status == "Succeeded" or not retryable or attempt > task.retries:
                    break
                elapsed = time.time() - (record.started or time.time())
                last = last_retry(status, record.exit_code, time.time() - began, reason)
                delay = retry_delay(task.retry, attempt, reason, elapsed, last)
                if delay:  # a stop cuts the wait short
                    await asyncio.wait([phase.stop], timeout=delay)
                if delay is None or phase.stop.done() or phase.expired():
                    break
                logger.message(f"attempt {attempt} {status}: {reason}; retrying")
                run.record.emit("task-retry", record.name, status, attempt, reason)
        finally:
            logger.close()
        if files.log.created:
            record.log = run.layout.task_log_rel(dname)
        run.settle(record, status, reason)


def open_instance(run: AttemptHost, record: TaskRecord) -> tuple[str, TaskFiles, TaskLogger]:
    """Mark the instance started and open its directories and log: (dir name, files, log)."""
    record.status = "Running"
    record.started = time.time()
    dname = run.layout.task_dir_name(record.name)
    files = run.layout.open_task(dname)
    run.sandbox.hand_over(files.artifacts)
    record.artifacts = f"{prow.ARTIFACTS_DIR}/{dname}"
    return dname, files, TaskLogger(record.name, files.log, run.build_log)


async def attempt_steps(
    run: AttemptHost, one: Instance, attempt: int, last: Mapping[str, str] = retry_vars.FIRST
) -> StepOutcome:
    """One attempt (`last`: the one before's): (status, reason, whether a retry may help)."""
    loop = asyncio.get_running_loop()
    phase, task, spec, dname, logger = one.phase, one.task, one.spec, one.dname, one.logger
    results_dir = None
    files = [r for r in spec.results if r.value_from == "file"]
    if files:  # a directory per attempt costs; only tasks with file results get one
        results_dir = run.layout.results / f"{dname}.{attempt}"
        results_dir.mkdir()
        run.sandbox.hand_over(results_dir)
    try:
        workspaces = _task_workspaces(run, one) if spec.workspaces else {}
    except (SubstitutionError, ValueError) as exc:
        logger.message(str(exc))
        return "Failed", str(exc), False
    steps_dir = None
    uses = run.step_paths.get(id(spec))
    if uses is None:  # scanned once per spec: this runs for every attempt
        uses = run.step_paths[id(spec)] = uses_step_paths(spec)
    if uses:
        steps_dir = run.layout.steps_dir(dname, attempt)
    lookup = (one.scope or run.scope).task_lookup(
        spec,
        one.params,
        results_dir,
        workspaces,
        dname,
        attempt,
        phase.is_finally,
        task,
        steps_dir,
        last,
    )
    if spec.build is not None or spec.http is not None or spec.resource is not None:
        return await _without_steps(run, one, lookup)
    try:
        steps, artifacts_dir = _tekton_steps(run, one, attempt, lookup)
    except SubstitutionError as exc:
        logger.message(str(exc))
        return "Failed", str(exc), False
    artifacts = one.artifacts
    env = {**run.base_env, b"ARTIFACTS": os.fsencode(artifacts), b"TMPDIR": run.tmpdir}
    wanted = run.read.get(task.name, set())
    capture = StepCapture(wanted_stdout(spec.results, spec.steps, wanted))
    stop = one.stop or phase.stop
    shared = Attempt(lookup, env, artifacts, results_dir, logger, stop, steps_dir, capture)
    failed = await run.steps.run(
        steps,
        replace(shared, workspaces=workspaces, served=one.served),  # workspaces: mounted
        attempt_deadline=loop.time() + task.timeout if task.timeout else None,
        phase_deadline=phase.deadline,
        sidecars=spec.sidecars,
    )
    one.record.exit_code = capture.last_exit
    captured = captured_results(spec.results, spec.steps, capture, wanted)
    for name, tail in capture.tails.items():
        if tail.cut:
            logger.message(f"step {name!r}: stdout result keeps the last {tail.limit} bytes")
    one.record.results = dict(captured)
    if artifacts_dir is not None:
        try:
            one.record.provenance = provenance.read(artifacts_dir, steps)
        except ValueError as exc:
            logger.message(str(exc))
            return "Failed", str(exc), True
    if failed is not None:
        if task.continue_on and results_dir is not None:
            # Tekton keeps the results a task whose failure it ignores wrote (TEP-0050).
            with contextlib.suppress(ResultError):
                one.record.results = {**read_results(files, results_dir), **captured}
        return failed
    try:
        if results_dir is not None:
            one.record.results = {**read_results(files, results_dir), **captured}
    except ResultError as exc:
        logger.message(str(exc))
        return "Failed", str(exc), True
    return "Succeeded", "", False


async def _build(run: AttemptHost, one: Instance, lookup: Lookup) -> StepOutcome:
    """A `build-image` task's attempt: its results are what buildah pushed."""
    assert one.spec.build is not None
    failed, built = await run.images.run(
        one.spec.build, lookup, one.logger, one.phase.stop, _deadlines(one)
    )
    if built is None:
        return failed or ("Failed", "build-image: nothing pushed", True)
    one.record.results = dict(built.results)
    one.record.images = built.pinned
    return "Succeeded", "", False


async def _without_steps(run: AttemptHost, one: Instance, lookup: Lookup) -> StepOutcome:
    """A task that runs no steps: an image build, an HTTP request, a Kubernetes object."""
    if one.spec.build is not None:
        return await _build(run, one, lookup)
    if one.spec.http is not None:
        if not run.steps.sandbox.network:
            message = NO_NETWORK_HTTP
            one.logger.message(message)
            return "Failed", message, False
        return await _http(one, lookup)
    return await _resource(run, one, lookup)


NO_NETWORK_HTTP = (
    "http task not run: this run's steps have no network (sandbox network off), and foredeck"
    " would make the request on the host's network, reaching what the steps cannot"
)


def _deadlines(one: Instance) -> list[tuple[float | None, str]]:
    """The task's own deadline and its phase's, for a task that runs no steps."""
    timeout = one.task.timeout
    started = asyncio.get_running_loop().time()
    return [(started + timeout if timeout else None, "task"), (one.phase.deadline, "pipeline")]


async def _http(one: Instance, lookup: Lookup) -> StepOutcome:
    """An `http` task's attempt: its result is the response body (`http_call.py`)."""
    assert one.spec.http is not None
    from foredeck.execute.http_call import run_http  # httpx: imported by runs that call URLs

    result = next((r.name for r in one.spec.results if r.value_from == "stdout"), "result")
    stop = one.stop or one.phase.stop
    outcome, results = await run_http(
        one.spec.http, lookup, one.logger, stop, _deadlines(one), result
    )
    one.record.results = dict(results)
    return outcome


async def _resource(run: AttemptHost, one: Instance, lookup: Lookup) -> StepOutcome:
    """A `resource` task's attempt: its results are read from the object."""
    assert one.spec.resource is not None and run.resources is not None  # checked at start
    stop = one.stop or one.phase.stop
    outcome, results = await run.resources.run(
        one.spec.resource, lookup, one.logger, stop, _deadlines(one)
    )
    one.record.results = dict(results)
    return outcome


def _tekton_steps(
    run: AttemptHost, one: Instance, attempt: int, lookup: Lookup
) -> tuple[list[Step], Path | None]:
    """The attempt's steps with their StepActions' params bound in the task's scope, and the
    directory of their Tekton artifacts files (None: they write none). Raises
    SubstitutionError for a StepAction param that does not resolve."""
    spec = one.spec
    steps = spec.steps
    if any(s.action_params for s in steps):
        steps = [bound_at_run(s, lambda v, t: lookups.value(v, lookup, t)) for s in steps]
    wrote = run.artifact_paths.get(id(spec))
    if wrote is None:  # scanned once per spec, as `step_paths`
        wrote = run.artifact_paths[id(spec)] = provenance.uses_artifacts(spec)
    if not wrote:
        return steps, None
    directory = run.layout.tmp / "artifacts" / f"{one.dname}.{attempt}"  # a sandbox writes there
    directory.mkdir(parents=True)
    run.sandbox.hand_over(directory)
    return [provenance.with_paths(s, directory) for s in steps], directory


def _task_workspaces(run: AttemptHost, one: Instance) -> dict[str, Path | None]:
    phase, task, spec, dname = one.phase, one.task, one.spec, one.dname
    names = one.workspaces
    declared = run.declared_workspaces if names is None else set(names)
    paths: dict[str, Path | None] = {}
    for workspace in spec.workspaces:
        target = task.workspaces.get(workspace.name)
        if target is None and workspace.name in declared:
            target = workspace.name
        if target is not None and names is not None:
            target = names.get(target)  # a sub-graph's workspace the call left unbound: None
        if target in run.scope.unbound:  # the run's, nothing bound to it: as if none
            target = None
        if target is not None:
            path = run.layout.workspace(target)
            sub_path = task.workspace_sub_paths.get(workspace.name)
            if sub_path:
                lookup = (one.scope or run.scope).pipeline_lookup(phase.is_finally, task)
                path = sub_directory(path, lookups.text(sub_path, lookup))
        elif workspace.optional:
            paths[workspace.name] = None
            continue
        else:  # unbound: an emptyDir of this task
            path = run.layout.emptydirs / dname / dir_name(workspace.name)
        run.sandbox.make_dirs(path)
        paths[workspace.name] = path
    return paths
