"""The local executor: runs a pipeline's DAG as host processes, with Tekton's semantics.

One asyncio loop drives everything; each step is a process in its own process group (see
`process.py`), so a timeout, a cancel or the end of a step kills the step's whole tree. The
scheduler starts a task once every task it depends on has finished, bounded by `parallel`
slots shared by all tasks, including matrix instances and finally tasks.

Semantics, where Tekton leaves a choice or where a host differs from a pod:

- A task whose `when` is false is Skipped; as in Tekton (`when` scoped to the task), tasks that
  only run after it still run, while tasks that consume its results are Skipped for missing
  results. A task depending on a Failed, TimedOut or Cancelled task, or on one Skipped for any
  other reason, is Skipped too.
- The first DAG task to fail fails the run: tasks still running finish (retries included),
  tasks not started yet are Skipped; then the finally tasks run. That is the "stop" failure
  policy (Tekton); under "continue" (Argo) tasks keep starting as their dependency predicates
  allow, and a task's `continue_on` outcomes neither stop nor fail anything (`outcomes.py`).
- A stdout or exit-code result is kept only when some task or pipeline result reads it
  (`capture.py`), as Argo captures `outputs.result` only when it is referenced.
- Cancel (`cancel` event, or cancelling the coroutine): running steps get SIGTERM, then
  SIGKILL after `kill_grace`; their tasks and tasks not started are Cancelled; finally tasks
  still run. Cancelling the coroutine again while finally runs stops the finally tasks too.
- Timeouts: a step timeout or a task timeout (per attempt) makes the attempt TimedOut, and a
  TimedOut attempt is retried like a failed one. `tasks_timeout` ends the DAG phase and
  `finally_timeout` the finally phase; `timeout` bounds the whole run, so when it expires
  during the DAG, finally tasks are Skipped (as in Tekton: set `tasks_timeout` to keep time
  for teardown). A pipeline-level expiry makes the run TimedOut.
- `$(tasks.T.status)` is Succeeded, Failed (also for TimedOut and Cancelled) or None (Skipped);
  `$(tasks.status)` is Failed, Completed (some skipped) or Succeeded.
- A step's process group is killed when its main process exits, as a container's processes
  die with it: a step cannot leave a daemon for the next step (Tekton uses sidecars for that).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, cast

from foredeck.censor import NO_CENSOR, Censor
from foredeck.execute import attempts, daemons, lookups, run_workspaces, subgraph
from foredeck.execute import matrix as fanout
from foredeck.execute.containers import ContainerRun, Containers
from foredeck.execute.host_notes import host_notes
from foredeck.execute.image_build import ImageBuilder
from foredeck.execute.logs import BuildLog, OutputLimit
from foredeck.execute.orphans import REAPER, SCAN_SECONDS, new_owner
from foredeck.execute.outcomes import run_failed
from foredeck.execute.process import ProcessGroups
from foredeck.execute.record import EventCallback, RunRecord
from foredeck.execute.resource_tasks import NEEDS_CLUSTER, ResourceRunner, uses_resources
from foredeck.execute.runstate import RunResult, TaskRecord, worst_status
from foredeck.execute.sandbox import Sandbox
from foredeck.execute.scheduler import Phase, StopReason, earliest
from foredeck.execute.steps import StepRunner
from foredeck.execute.sync import Locks
from foredeck.execute.workspace import RunLayout, WorkspaceBinding
from foredeck.pipeline.dependency_graph import results_read_everywhere
from foredeck.pipeline.expressions import Lookup, SubstitutionError
from foredeck.pipeline.model import (
    ParamValue,
    Pipeline,
    PipelineRunSpec,
    PipelineTask,
    RunStatus,
    TaskSpec,
    TaskStatus,
    over_default,
)
from foredeck.pipeline.objects import passed_through
from foredeck.pipeline.validate import dependencies, task_references
from foredeck.types import PipelineError

if TYPE_CHECKING:  # pydantic stays out of `foredeck run`
    from foredeck.settings import ImageSettings

KILL_GRACE = 3.0


def default_run_name(pipeline: str) -> str:
    """`<pipeline>-<UTC time>-<4 hex>`: unique, and sorts by start time in a runs folder."""
    return f"{pipeline}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(2)}"


def effective_params(pipeline: Pipeline, given: Mapping[str, ParamValue]) -> dict[str, ParamValue]:
    """Declared defaults overridden by the run's values; a param with neither is an error."""
    values: dict[str, ParamValue] = {}
    for spec in pipeline.params:
        if spec.name in given:
            values[spec.name] = over_default(given[spec.name], spec.default)
        elif spec.default is not None:
            values[spec.name] = spec.default
        else:
            raise PipelineError(spec.source, f"param {spec.name!r} has no value and no default")
    for name, value in given.items():
        values.setdefault(name, value)
    return values


async def run_pipeline(
    run: PipelineRunSpec,
    out_dir: Path,
    *,
    parallel: int = os.cpu_count() or 1,
    on_event: EventCallback | None = None,
    cancel: asyncio.Event | None = None,
    env: Mapping[str, str] | None = None,
    kill_grace: float = KILL_GRACE,
    sandbox: Sandbox | None = None,
    marker: str | None = None,
    max_output: OutputLimit | None = None,
    workspaces: Mapping[str, WorkspaceBinding] | None = None,
    containers: ContainerRun | None = None,
    images: ImageSettings | None = None,
    resources: ResourceRunner | None = None,
    censor: Censor = NO_CENSOR,
) -> RunResult:
    """Run `run` on this machine, writing Prow's layout under `out_dir`.

    Returns the result whatever the tasks did. Raises PipelineError for input the run cannot
    start with (a param without value), OutputDirError when `out_dir` holds foreign files, and
    CancelledError when the coroutine was cancelled (after finally ran and files were written).
    `env` is the base environment of every step (default: this process's); without a `HOME`
    in it, steps get a private one. `sandbox` confines the steps (see `execute/sandbox.py`).
    `marker` (`<owner>/<run>`, default `<host>:<pid>:<random>/<run name>`) starts the
    `FOREDECK_RUN` of every unsandboxed step, `<marker>/<step number>` (see `orphans.py`).
    `max_output` caps the step output the build log holds (see `logs.py`). `workspaces` binds
    pipeline workspaces to directories, or fills their fresh directories (`workspace.py`).
    `containers` runs steps in their images (`containers.py`); None: all on the host.
    `images` says how `build-image` tasks build and push (`image_build.py`); `resources`
    acts on the Kubernetes objects of `resource` tasks (`resource_tasks.py`): a run that has
    such tasks and no `resources` is refused at start. `censor` masks secrets in everything
    the run writes (`foredeck.censor`).
    """
    if resources is None and uses_resources(run.pipeline):
        raise PipelineError(run.pipeline.source, NEEDS_CLUSTER)
    if parallel < 1:
        raise ValueError(f"parallel must be at least 1, not {parallel}")
    executor = _Run(
        run,
        out_dir,
        parallel,
        on_event,
        cancel,
        env,
        kill_grace,
        sandbox,
        marker,
        max_output,
        containers,
    )
    executor.images = ImageBuilder(
        images,
        executor.layout,
        executor.groups,
        kill_grace,
        roots=executor.sandbox.writable,
        network=executor.sandbox.network,
    )
    executor.resources = resources
    executor.censor = censor
    executor.layout.bind(workspaces or {})
    try:
        return await executor.execute()
    finally:
        if resources is not None:
            resources.close()


def _final(status: str) -> TaskStatus:
    if status in ("Succeeded", "Failed", "Skipped", "Cancelled", "TimedOut"):
        return cast(TaskStatus, status)
    return "Failed"  # cannot happen: every instance is settled before its matrix task


class _Run:
    """One run: its state, its two phases (`scheduler.py`), and what starts one task (its
    guards and matrix; its attempts are `attempts.py`)."""

    build_log: BuildLog  # opened once the output directory is prepared
    images: ImageBuilder  # set by `run_pipeline`
    resources: ResourceRunner | None  # set by `run_pipeline`
    censor: Censor = NO_CENSOR  # set by `run_pipeline`

    def __init__(
        self,
        spec: PipelineRunSpec,
        out_dir: Path,
        parallel: int,
        on_event: EventCallback | None,
        cancel: asyncio.Event | None,
        env: Mapping[str, str] | None,
        kill_grace: float,
        sandbox: Sandbox | None = None,
        marker: str | None = None,
        max_output: OutputLimit | None = None,
        containers: ContainerRun | None = None,
    ) -> None:
        self.pipeline = spec.pipeline
        self.name = spec.name or default_run_name(spec.pipeline.name)
        self.passed_through = passed_through(spec.cluster_objects)
        self.max_output = max_output
        self.params = effective_params(spec.pipeline, spec.params)
        # Absolute: steps run in the workspace root, and paths given to them must still hold.
        self.sandbox = sandbox or Sandbox(None)
        in_containers = containers is not None and containers.config.uses_podman
        self.layout = RunLayout(  # a step's user (the sandbox's, an image's) reads its script
            Path(os.path.abspath(out_dir)), shared=self.sandbox.run_as is not None or in_containers
        )
        self.tmpdir = os.fsencode(self.layout.tmp)
        self.cancel_event = cancel
        base_env = os.environ if env is None else env
        # Encoded once: Popen would encode every variable again for every step.
        self.base_env = {os.fsencode(k): os.fsencode(v) for k, v in base_env.items()}
        self.base_env.setdefault(b"HOME", os.fsencode(self.layout.home))
        self.declared_workspaces = {workspace.name for workspace in self.pipeline.workspaces}
        self.groups = ProcessGroups()
        marker = marker or f"{new_owner()}/{self.name.replace('/', '_')}"
        self.containers = None
        if containers is not None and in_containers:
            self.containers = Containers(
                containers, marker=marker, run_name=self.name, note=self.log_note
            )
        self.steps = StepRunner(
            self.layout,
            self.sandbox,
            shell=shutil.which("sh", path=base_env.get("PATH")) or "/bin/sh",
            kill_grace=kill_grace,
            marker=marker,
            groups=self.groups,
            containers=self.containers,
        )
        self.graph = dependencies(self.pipeline)
        self.read = results_read_everywhere(self.pipeline)  # task -> the results someone reads
        self.records: dict[str, TaskRecord] = {}
        self.guarded_off: set[str] = set()  # tasks Skipped by their own `when`
        self.step_paths: dict[int, bool] = {}  # spec id -> refers to `$(steps.…)`
        self.artifact_paths: dict[int, bool] = {}  # spec id -> refers to `$(artifacts.path)`
        for task in self.pipeline.tasks:
            self.records[task.name] = TaskRecord(
                task.name, task.name, run_after=sorted(self.graph.get(task.name, ()))
            )
        for task in self.pipeline.finally_tasks:
            self.records[task.name] = TaskRecord(task.name, task.name, is_finally=True)
        self.scope = lookups.RunScope(
            self.name, self.pipeline, self.params, self.records, guarded_off=self.guarded_off
        )
        self.root = subgraph.Graph(self.pipeline, self.records, self.scope, self.guarded_off)
        self.root.workspaces = {name: name for name in self.declared_workspaces}
        self.record = RunRecord(
            self.layout, self.name, self.pipeline.name, self.params, self._ordered_records, on_event
        )
        self.log = self.record.log
        self.cancel_requested = False
        self.caller_cancelled = False
        self.timed_out = False
        self.t0 = 0.0
        self.locks = Locks(spec.config_maps)
        limit = self.pipeline.pod_limit  # Argo's spec.parallelism
        self.slots = asyncio.Semaphore(min(parallel, limit) if limit else parallel)

    # -- run -------------------------------------------------------------------------------

    async def execute(self) -> RunResult:
        loop = asyncio.get_running_loop()
        self.layout.prepare()
        layout = self.layout
        maps = self.locks.config_maps  # the input's ConfigMaps
        self.scope.unbound = frozenset(run_workspaces.prepare(self.pipeline, layout, maps))
        self.sandbox.hand_over(layout.workspaces, layout.emptydirs, layout.tmp, layout.home)
        for workspace in self.pipeline.workspaces:
            self.sandbox.make_dirs(layout.workspace(workspace.name))
        precreating = self.layout.precreate(
            [
                t.name
                for t in self.pipeline.tasks
                if t.matrix is None and not t.when and not t.graph_ref
            ]
        )
        started = time.time()
        self.scope.started = started
        self.t0 = loop.time()
        self.build_log = self.record.start(started, self.max_output, self.censor)
        self.log(f"run {self.name} of pipeline {self.pipeline.name} started")
        if self.passed_through:
            self.log(self.passed_through)
        for note in host_notes(self.pipeline, in_containers=self.containers is not None):
            self.log(note)
        if self.sandbox.bwrap is not None or self.sandbox.run_as is not None:
            self.log(self.sandbox.describe())
        if self.containers is not None:
            self.log(self.containers.describe())
        self.record.snapshot(force=True)
        self.record.emit("run-started", at=started)
        dag_stop: asyncio.Future[None] = loop.create_future()
        scanner = self._collect_orphans()
        watcher = None
        if self.cancel_event is not None:
            if self.cancel_event.is_set():  # before the first task could start
                self._cancelled(dag_stop)
            watcher = loop.create_task(self._watch_cancel(self.cancel_event, dag_stop))
        error: BaseException | None = None
        try:
            await self._phase(self.pipeline.tasks, False, dag_stop, self._dag_deadline())
            await self._phase(
                self.pipeline.finally_tasks, True, loop.create_future(), self._finally_deadline()
            )
        except BaseException as exc:
            error = exc
            raise
        finally:
            self.groups.close()
            # A run that ends early (a failure stops it) must not leave the thread making its
            # task directories: its caller may remove or reuse the output folder at once.
            precreating.join()
            if watcher is not None:
                watcher.cancel()
            if scanner is not None:
                scanner.cancel()
            result = self.record.finish(self._run_status(error), self._pipeline_results())
        if self.caller_cancelled:
            raise asyncio.CancelledError
        return result

    async def _phase(
        self,
        tasks: list[PipelineTask],
        is_finally: bool,
        stop: asyncio.Future[None],
        deadline: float | None,
    ) -> None:
        phase = Phase(
            self,
            tasks,
            is_finally=is_finally,
            stop=stop,
            deadline=deadline,
            graph=self.graph,
            policy=self.pipeline.failure_policy,
            lookup=self.scope.pipeline_lookup(is_finally),
            limit=None if is_finally else self.pipeline.parallelism,
        )
        await phase.run()

    def _collect_orphans(self) -> asyncio.Task[None] | None:
        """Unsandboxed steps: this process becomes their orphans' subreaper, and notes them
        every `SCAN_SECONDS` while the run goes (`orphans.py`); None in a sandbox."""
        if self.sandbox.bwrap is not None:
            return None
        problem = REAPER.enable()
        if problem is not None:
            self.log(f"processes that leave a step's process group are not collected: {problem}")
            return None

        async def scan() -> None:
            while True:
                await asyncio.sleep(SCAN_SECONDS)
                REAPER.scan()

        return asyncio.get_running_loop().create_task(scan())

    def log_note(self, text: str) -> None:
        """A line of the run log (said by the containers of the run)."""
        self.log(text)

    async def _watch_cancel(self, event: asyncio.Event, stop: asyncio.Future[None]) -> None:
        await event.wait()
        self._cancelled(stop)

    def _cancelled(self, stop: asyncio.Future[None]) -> None:
        if not self.cancel_requested:
            self.cancel_requested = True
            self.log("cancel requested: stopping running tasks, then running finally tasks")
        if not stop.done():
            stop.set_result(None)

    def _dag_deadline(self) -> float | None:
        pipeline = self.pipeline
        return earliest(
            [
                (self.t0 + pipeline.timeout if pipeline.timeout else None, "pipeline"),
                (self.t0 + pipeline.tasks_timeout if pipeline.tasks_timeout else None, "tasks"),
            ]
        )[0]

    def _finally_deadline(self) -> float | None:
        pipeline = self.pipeline
        now = asyncio.get_running_loop().time()
        return earliest(
            [
                (self.t0 + pipeline.timeout if pipeline.timeout else None, "pipeline"),
                (now + pipeline.finally_timeout if pipeline.finally_timeout else None, "finally"),
            ]
        )[0]

    # -- one pipeline task -----------------------------------------------------------------

    async def task(self, phase: Phase, task: PipelineTask) -> None:
        await self.task_in(self.root, phase, task)

    async def task_in(self, g: subgraph.Graph, phase: Phase, task: PipelineTask) -> None:
        """Run one task of graph `g` (all instances of a matrix task) to a final status."""
        record = g.records[task.name]
        lookup = g.scope.pipeline_lookup(phase.is_finally, task)
        missing = _missing_results(g.records, task, g.pipeline)
        if missing:
            # A result of a task that never ran (guarded off), or whose failure Tekton ignores,
            # skips its consumers ("Results were missing"); a task that ran and did not write a
            # result it declares is an error of the DAG.
            producer = g.records[missing.split(".", 1)[0]]
            tekton = g.pipeline.failure_policy == "stop"
            ignored = tekton and any(
                t.name == producer.name and t.continue_on for t in g.pipeline.tasks
            )
            skip = phase.is_finally or producer.status == "Skipped" or ignored
            status: TaskStatus = "Skipped" if skip else "Failed"
            self.settle(record, status, f"result {missing} was not produced")
            return
        try:
            spec = g.pipeline.spec_of(task)
            types = {param.name: param.type for param in spec.params}
            bound = {
                name: lookups.value(value, lookup, types.get(name))
                for name, value in task.params.items()
            }
            guard = self._when(task, lookup)
            combos = None if task.matrix is None else fanout.combinations(task.matrix, lookup)
        except (SubstitutionError, PipelineError) as exc:
            self.settle(record, "Failed", str(exc))
            return
        if guard:
            g.guarded_off.add(task.name)
            self.settle(record, "Skipped", guard)
            return
        if combos is None:
            await self._run_one(g, phase, task, spec, record, bound)
            return
        if not combos:
            if g.pipeline.failure_policy == "continue":
                g.guarded_off.add(task.name)  # Argo: Skipped (not Omitted), dependents run
            self.settle(record, "Skipped", "matrix has no combinations")
            return
        instances: list[TaskRecord] = []
        for index, combo in enumerate(combos):
            name = fanout.instance_name(record.name, index)  # `call.task[i]` in a sub-graph
            instance = TaskRecord(name, record.name, phase.is_finally, params=combo)
            self.records[name] = instance
            record.instances.append(name)
            instances.append(instance)
        record.status = "Running"
        running: list[TaskRecord] = []
        for instance in instances:  # per-item guards (Argo's `when` over `{{item}}`)
            stopped = fanout.item_guard(task.item_when, instance.params, lookup)
            if stopped is None:
                running.append(instance)
            else:
                self.settle(instance, *stopped)
        outcomes = await asyncio.gather(
            *(
                self._run_one(g, phase, task, spec, instance, {**bound, **instance.params})
                for instance in running
            ),
            return_exceptions=True,
        )
        for instance, outcome in zip(running, outcomes, strict=True):
            if isinstance(outcome, BaseException) and not instance.done:
                self.settle(instance, "Failed", f"internal error: {outcome!r}")
        self._settle_matrix(record, running or instances, spec)  # item-skips do not count

    def _settle_matrix(
        self, record: TaskRecord, instances: list[TaskRecord], spec: TaskSpec
    ) -> None:
        statuses = [_final(i.status) for i in instances]
        started = [i.started for i in instances if i.started is not None]
        record.started = min(started) if started else None
        record.attempts = max(i.attempts for i in instances)
        aggregated: dict[str, ParamValue] = {}
        for result in spec.results:
            # As Tekton: the array holds what the instances produced, in instance order.
            values = [i.results.get(result.name) for i in instances]
            present = [value for value in values if isinstance(value, str)]
            if present:
                aggregated[result.name] = present
        record.results = aggregated
        status = worst_status(statuses)
        reasons = [f"{i.name}: {i.reason}" for i in instances if i.status == status and i.reason]
        self.settle(record, status, "; ".join(reasons[:3]))

    async def _run_one(
        self,
        g: subgraph.Graph,
        phase: Phase,
        task: PipelineTask,
        spec: TaskSpec,
        record: TaskRecord,
        params: dict[str, ParamValue],
    ) -> None:
        """One task or matrix instance: its steps, or the sub-graph it calls."""
        if task.graph_ref is None and spec.daemon:
            await daemons.run_daemon(self, phase, task, spec, record, params, g.workspaces, g.scope)
        elif task.graph_ref is None:
            await attempts.run_instance(
                self, phase, task, spec, record, params, g.workspaces, g.scope
            )
        else:
            await subgraph.run_call(self, g, phase, task, record, params)

    def _when(self, task: PipelineTask, lookup: Lookup) -> str:
        """Why the task is guarded off, or '' when every `when` expression holds."""
        for when in task.when:
            if when.govaluate:  # an Argo `when`
                reason = lookups.guard_off(when.input, lookup)
                if reason:
                    return reason
                continue
            value = lookups.text(when.input, lookup)
            allowed = lookups.args(when.values, lookup)
            if (value in allowed) != (when.operator == "in"):
                return f"when: {value!r} {when.operator} {allowed!r} is false"
        return ""

    # -- bookkeeping -------------------------------------------------------------------------

    def settle(self, record: TaskRecord, status: TaskStatus, reason: str = "") -> None:
        record.status = status
        record.reason = reason
        if record.started is not None:
            record.finished = time.time()
        text = f"task {record.name}: {status}"
        if record.duration is not None:
            text += f" in {record.duration:.2f}s"
        if record.attempts > 1:
            text += f" after {record.attempts} attempts"
        if reason:
            text += f" ({reason})"
        self.log(text)
        self.record.emit("task-finished", record.name, status, record.attempts, reason)
        self.record.snapshot()

    def settle_unstarted(self, record: TaskRecord, why: StopReason) -> None:
        if why == "cancel":
            self.settle(record, "Cancelled", "not started: run cancelled")
        elif why == "timeout":
            self.settle(record, "Skipped", "not started: pipeline timeout")
        else:
            self.settle(record, "Skipped", "not started: the run failed")

    def _ordered_records(self) -> dict[str, TaskRecord]:
        ordered: dict[str, TaskRecord] = {}

        def add(name: str) -> None:  # instances and sub-graph tasks follow their caller
            ordered[name] = self.records[name]
            for inner in self.records[name].instances:
                add(inner)

        for task in self.pipeline.all_tasks():
            add(task.name)
        return ordered

    def _run_status(self, error: BaseException | None) -> RunStatus:
        if self.caller_cancelled or self.cancel_requested:
            return "Cancelled"
        if isinstance(error, asyncio.CancelledError):
            return "Cancelled"
        if self.timed_out:
            return "TimedOut"
        if error is not None:
            return "Failed"
        if run_failed(self.pipeline, self.records, self.graph, self.guarded_off):
            return "Failed"
        return "Succeeded"

    def _pipeline_results(self) -> dict[str, ParamValue]:
        lookup = self.scope.pipeline_lookup(in_finally=True)
        values: dict[str, ParamValue] = {}
        for result in self.pipeline.results:
            try:
                values[result.name] = lookups.value(result.value, lookup)
            except SubstitutionError as exc:
                self.log(f"pipeline result {result.name} not produced: {exc}")
        return values


def _missing_results(
    records: Mapping[str, TaskRecord], task: PipelineTask, pipeline: Pipeline
) -> str | None:
    """The first result `task` reads that a finished task left unwritten, with no default."""
    for ref in task_references(task):
        parts = ref.parts
        if len(parts) >= 4 and parts[0] == "tasks" and parts[2] == "results":
            other = records.get(parts[1])
            unwritten = other is not None and other.done and parts[3] not in other.results
            if unwritten and parts[3] not in lookups.result_defaults(pipeline, parts[1]):
                return f"{parts[1]}.{parts[3]}"
    return None
