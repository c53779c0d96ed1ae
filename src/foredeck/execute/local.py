"""The local executor: runs a pipeline's DAG as host processes, with Tekton's semantics.

One asyncio loop drives everything; each step is a process in its own session (see
`process.py`), so a timeout, a cancel or the end of a step kills the step's whole tree. The
scheduler starts a task once every task it depends on has finished, bounded by `parallel`
slots shared by all tasks, including matrix instances and finally tasks.

Semantics, where Tekton leaves a choice or where a host differs from a pod:

- A task whose `when` is false is Skipped; as in Tekton (`when` scoped to the task), tasks that
  only run after it still run, while tasks that consume its results are Skipped for missing
  results. A task depending on a Failed, TimedOut or Cancelled task, or on one Skipped for any
  other reason, is Skipped too.
- The first DAG task to fail fails the run: tasks still running finish (retries included),
  tasks not started yet are Skipped; then the finally tasks run.
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
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Literal, cast

from foredeck.execute import matrix as fanout
from foredeck.execute.logs import BuildLog, OutputLimit, TaskLogger, timestamp
from foredeck.execute.orphans import MARKER, REAPER, SCAN_SECONDS, new_owner
from foredeck.execute.process import ProcessGroups, run_process
from foredeck.execute.results import ResultError, read_results
from foredeck.execute.runstate import (
    EventKind,
    RunEvent,
    RunResult,
    TaskRecord,
    run_json,
    tekton_aggregate_status,
    tekton_task_status,
    worst_status,
)
from foredeck.execute.sandbox import Sandbox
from foredeck.execute.workspace import RunLayout, dir_name
from foredeck.pipeline.expressions import (
    Lookup,
    SubstitutionError,
    iter_references,
    references,
    substitute,
    substitute_list,
    substitute_value,
)
from foredeck.pipeline.model import (
    ParamValue,
    Pipeline,
    PipelineRunSpec,
    PipelineTask,
    RunStatus,
    Step,
    TaskSpec,
    TaskStatus,
)
from foredeck.pipeline.validate import dependencies, task_references
from foredeck.storage import prow
from foredeck.types import PipelineError

KILL_GRACE = 3.0
_MARKER_KEY = MARKER.encode()
SNAPSHOT_SECONDS = 1.0  # pipeline-run.json is rewritten at most this often while running
NAMESPACE = "local"
# Roots the executor resolves; any other `$(...)` (`$(pwd)` in a script) is left to the shell.
_KNOWN_ROOTS = frozenset({"params", "tasks", "results", "workspaces", "context"})
_FAILED: frozenset[str] = frozenset({"Failed", "TimedOut", "Cancelled"})

EventCallback = Callable[[RunEvent], None]
StopReason = Literal["failed", "timeout", "cancel"]


def default_run_name(pipeline: str) -> str:
    """`<pipeline>-<UTC time>-<4 hex>`: unique, and sorts by start time in a runs folder."""
    return f"{pipeline}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(2)}"


def effective_params(pipeline: Pipeline, given: Mapping[str, ParamValue]) -> dict[str, ParamValue]:
    """Declared defaults overridden by the run's values; a param with neither is an error."""
    values: dict[str, ParamValue] = {}
    for spec in pipeline.params:
        if spec.name in given:
            values[spec.name] = given[spec.name]
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
) -> RunResult:
    """Run `run` on this machine, writing Prow's layout under `out_dir`.

    Returns the result whatever the tasks did. Raises PipelineError for input the run cannot
    start with (a param without value), OutputDirError when `out_dir` holds foreign files, and
    CancelledError when the coroutine was cancelled (after finally ran and files were written).
    `env` is the base environment of every step (default: this process's); without a `HOME`
    in it, steps get a private one. `sandbox` confines the steps (see `execute/sandbox.py`).
    `marker` (`<owner>/<run>`, default `<host>:<pid>:<random>/<run name>`) starts the
    `FOREDECK_RUN` of every unsandboxed step, `<marker>/<step number>` (see `orphans.py`).
    `max_output` caps the step output the build log holds (see `logs.py`).
    """
    if parallel < 1:
        raise ValueError(f"parallel must be at least 1, not {parallel}")
    executor = _Run(
        run, out_dir, parallel, on_event, cancel, env, kill_grace, sandbox, marker, max_output
    )
    return await executor.execute()


def shebang(script: str) -> list[str] | None:
    """The interpreter and its one optional argument of a `#!` line, as the kernel reads them.

    The step runs `interpreter [arg] script` rather than exec-ing the script: exec fails with
    ETXTBSY while any process holds the file open for writing, and a child forked by another
    thread of this process (a git clone, a database driver) can hold the just-written script
    open for a moment. Reading it is never refused.
    """
    if not script.startswith("#!"):
        return None
    words = script[2:].split("\n", 1)[0].strip().split(None, 1)
    return words or None


def _check(text: str, lookup: Lookup) -> None:
    """Raise for a reference the executor owns but cannot resolve; others stay for the shell."""
    if "$(" not in text:
        return
    for ref in iter_references(text):
        if ref.parts[0] in _KNOWN_ROOTS:
            substitute(ref.text, lookup)


def _text(text: str, lookup: Lookup) -> str:
    if "$(" not in text:
        return text
    _check(text, lookup)
    return substitute(text, lookup, strict=False)


def _args(items: list[str], lookup: Lookup) -> list[str]:
    for item in items:
        _check(item, lookup)
    return substitute_list(items, lookup, strict=False)


def _value(value: ParamValue, lookup: Lookup) -> ParamValue:
    for ref in references(value):
        if ref.parts[0] in _KNOWN_ROOTS:
            substitute(ref.text, lookup)
    return substitute_value(value, lookup, strict=False)


def _final(status: str) -> TaskStatus:
    if status in ("Succeeded", "Failed", "Skipped", "Cancelled", "TimedOut"):
        return cast(TaskStatus, status)
    return "Failed"  # cannot happen: every instance is settled before its matrix task


def _earliest(candidates: Iterable[tuple[float | None, str]]) -> tuple[float | None, str]:
    best: tuple[float | None, str] = (None, "")
    for deadline, label in candidates:
        if deadline is not None and (best[0] is None or deadline < best[0]):
            best = (deadline, label)
    return best


class _Phase:
    """The DAG tasks or the finally tasks: a scheduler with its own deadline and stop signal.

    Tasks become ready by counting finished parents, and a finishing task wakes the scheduler
    through a done callback: no scan of every pending or running task per wake-up, which would
    make a wide DAG quadratic.
    """

    def __init__(
        self,
        tasks: list[PipelineTask],
        *,
        is_finally: bool,
        stop: asyncio.Future[None],
        deadline: float | None,
        graph: dict[str, set[str]],
    ) -> None:
        self.tasks = tasks
        self.is_finally = is_finally
        self.stop = stop
        self.deadline = deadline
        self.stopping: StopReason | None = None
        self.running: dict[asyncio.Task[None], str] = {}
        self.finished: list[asyncio.Task[None]] = []
        names = {task.name for task in tasks}
        self.graph = {task.name: graph.get(task.name, set()) & names for task in tasks}
        self.children: dict[str, list[str]] = {task.name: [] for task in tasks}
        self.waiting = {name: len(parents) for name, parents in self.graph.items()}
        for name, parents in self.graph.items():
            for parent in parents:
                self.children[parent].append(name)
        self.ready: deque[str] = deque(name for name, count in self.waiting.items() if not count)
        self.unsettled = {task.name: task for task in tasks}
        self._wakeup: asyncio.Future[None] | None = None
        stop.add_done_callback(lambda _: self._wake())

    def expired(self) -> bool:
        return self.deadline is not None and asyncio.get_running_loop().time() >= self.deadline

    def track(self, task: asyncio.Task[None], name: str) -> None:
        self.running[task] = name
        task.add_done_callback(self._on_done)

    def _on_done(self, task: asyncio.Task[None]) -> None:
        self.finished.append(task)
        self._wake()

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    def settled(self, name: str) -> None:
        """`name` reached a final status: its children may be ready now."""
        self.unsettled.pop(name, None)
        for child in self.children.get(name, ()):
            self.waiting[child] -= 1
            if self.waiting[child] == 0:
                self.ready.append(child)

    async def wait(self, watch_deadline: bool) -> None:
        """Until a task finishes, the stop signal fires or (if watched) the deadline passes."""
        if self.finished:
            return
        loop = asyncio.get_running_loop()
        self._wakeup = loop.create_future()
        timer = None
        if watch_deadline and self.deadline is not None:
            timer = loop.call_at(self.deadline, self._wake)
        try:
            await self._wakeup
        finally:
            self._wakeup = None
            if timer is not None:
                timer.cancel()


class _Run:
    build_log: BuildLog  # opened once the output directory is prepared

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
    ) -> None:
        self.pipeline = spec.pipeline
        self.name = spec.name or default_run_name(spec.pipeline.name)
        self.marker = marker or f"{new_owner()}/{self.name.replace('/', '_')}"
        self.max_output = max_output
        self._steps_started = 0
        self.params = effective_params(spec.pipeline, spec.params)
        # Absolute: steps run in the workspace root, and paths given to them must still hold.
        self.sandbox = sandbox or Sandbox(None)
        self.layout = RunLayout(
            Path(os.path.abspath(out_dir)), shared=self.sandbox.run_as is not None
        )
        self._tmpdir = os.fsencode(self.layout.tmp)
        self.parallel = parallel
        self.on_event = on_event
        self.cancel_event = cancel
        base_env = os.environ if env is None else env
        # Encoded once: Popen would encode every variable again for every step.
        self.base_env = {os.fsencode(k): os.fsencode(v) for k, v in base_env.items()}
        self.base_env.setdefault(b"HOME", os.fsencode(self.layout.home))
        self.shell = shutil.which("sh", path=base_env.get("PATH")) or "/bin/sh"
        self.declared_workspaces = {workspace.name for workspace in self.pipeline.workspaces}
        self.kill_grace = kill_grace
        self.groups = ProcessGroups()
        self.graph = dependencies(self.pipeline)
        self.records: dict[str, TaskRecord] = {}
        self._guarded_off: set[str] = set()  # tasks Skipped by their own `when`
        for task in self.pipeline.tasks:
            self.records[task.name] = TaskRecord(
                task.name, task.name, run_after=sorted(self.graph.get(task.name, ()))
            )
        for task in self.pipeline.finally_tasks:
            self.records[task.name] = TaskRecord(task.name, task.name, is_finally=True)
        self.cancel_requested = False
        self.caller_cancelled = False
        self.timed_out = False
        self.started = 0.0
        self.t0 = 0.0
        self.slots = asyncio.Semaphore(parallel)
        self._last_snapshot = 0.0
        self._callback_failed = False

    # -- run -------------------------------------------------------------------------------

    async def execute(self) -> RunResult:
        loop = asyncio.get_running_loop()
        self.layout.prepare()
        layout = self.layout
        self.sandbox.hand_over(layout.workspaces, layout.emptydirs, layout.tmp, layout.home)
        for workspace in self.pipeline.workspaces:
            self.sandbox.make_dirs(layout.workspace(workspace.name))
        self.layout.precreate(
            [t.name for t in self.pipeline.tasks if t.matrix is None and not t.when]
        )
        self.started = time.time()
        self.t0 = loop.time()
        metadata = {"pipeline": self.pipeline.name, "run": self.name, "params": self.params}
        prow.write_started(self.layout.out_dir, self.started, metadata)
        self.build_log = BuildLog(self.layout.build_log, self.max_output)
        self._log(f"run {self.name} of pipeline {self.pipeline.name} started")
        if self.sandbox.bwrap is not None or self.sandbox.run_as is not None:
            self._log(self.sandbox.describe())
        self._snapshot(force=True)
        self._emit("run-started", at=self.started)
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
            if watcher is not None:
                watcher.cancel()
            if scanner is not None:
                scanner.cancel()
            result = self._finish(error)
        if self.caller_cancelled:
            raise asyncio.CancelledError
        return result

    def _collect_orphans(self) -> asyncio.Task[None] | None:
        """Unsandboxed steps: this process becomes their orphans' subreaper, and notes them
        every `SCAN_SECONDS` while the run goes (`orphans.py`); None in a sandbox."""
        if self.sandbox.bwrap is not None:
            return None
        problem = REAPER.enable()
        if problem is not None:
            self._log(f"processes that leave a step's process group are not collected: {problem}")
            return None

        async def scan() -> None:
            while True:
                await asyncio.sleep(SCAN_SECONDS)
                REAPER.scan()

        return asyncio.get_running_loop().create_task(scan())

    async def _watch_cancel(self, event: asyncio.Event, stop: asyncio.Future[None]) -> None:
        await event.wait()
        self._cancelled(stop)

    def _cancelled(self, stop: asyncio.Future[None]) -> None:
        if not self.cancel_requested:
            self.cancel_requested = True
            self._log("cancel requested: stopping running tasks, then running finally tasks")
        if not stop.done():
            stop.set_result(None)

    def _dag_deadline(self) -> float | None:
        pipeline = self.pipeline
        return _earliest(
            [
                (self.t0 + pipeline.timeout if pipeline.timeout else None, "pipeline"),
                (self.t0 + pipeline.tasks_timeout if pipeline.tasks_timeout else None, "tasks"),
            ]
        )[0]

    def _finally_deadline(self) -> float | None:
        pipeline = self.pipeline
        now = asyncio.get_running_loop().time()
        return _earliest(
            [
                (self.t0 + pipeline.timeout if pipeline.timeout else None, "pipeline"),
                (now + pipeline.finally_timeout if pipeline.finally_timeout else None, "finally"),
            ]
        )[0]

    async def _phase(
        self,
        tasks: list[PipelineTask],
        is_finally: bool,
        stop: asyncio.Future[None],
        deadline: float | None,
    ) -> None:
        if not tasks:
            return
        phase = _Phase(tasks, is_finally=is_finally, stop=stop, deadline=deadline, graph=self.graph)
        try:
            await self._schedule(phase)
        except asyncio.CancelledError:
            self.caller_cancelled = True
            self._log("run cancelled: stopping running tasks")
            if not stop.done():
                stop.set_result(None)
            phase.stopping = "cancel"
            await self._drain(phase)

    async def _drain(self, phase: _Phase) -> None:
        """Wait for running tasks to stop (they watch `phase.stop`), then settle the rest."""
        while phase.running:
            await phase.wait(watch_deadline=False)
            self._collect_finished(phase)
        for name in list(phase.unsettled):
            record = self.records[name]
            if not record.done:
                self._settle_unstarted(record, phase.stopping or "cancel")
            phase.settled(name)

    async def _schedule(self, phase: _Phase) -> None:
        while True:
            if phase.stopping is None and phase.stop.done():
                phase.stopping = "cancel"
            if phase.stopping is None and phase.expired():
                phase.stopping = "timeout"
                self.timed_out = True
                self._log("pipeline timeout expired: stopping running tasks")
            if phase.stopping is None:
                self._start_ready(phase)
            else:
                running = set(phase.running.values())
                for name in list(phase.unsettled):
                    if name not in running:
                        self._settle_unstarted(self.records[name], phase.stopping)
                        phase.settled(name)
            if not phase.running:
                for name in list(phase.unsettled):  # only a dependency cycle leaves tasks here
                    self._settle(self.records[name], "Skipped", "dependency cycle")
                    phase.settled(name)
                return
            await phase.wait(watch_deadline=phase.stopping is None)
            self._collect_finished(phase)

    def _start_ready(self, phase: _Phase) -> None:
        by_name = {task.name: task for task in phase.tasks} if phase.ready else {}
        while phase.ready:
            name = phase.ready.popleft()
            parents = phase.graph.get(name, set())
            blocked = [
                p
                for p in sorted(parents)
                if self.records[p].status != "Succeeded" and p not in self._guarded_off
            ]
            if blocked:
                parent = self.records[blocked[0]]
                reason = f"parent task {parent.name!r} is {parent.status}"
                self._settle(self.records[name], "Skipped", reason)
                phase.settled(name)
                continue
            coro = self._run_task(phase, by_name[name])
            phase.track(asyncio.get_running_loop().create_task(coro), name)

    def _collect_finished(self, phase: _Phase) -> None:
        while phase.finished:
            self._collect(phase, phase.finished.pop(0))

    def _collect(self, phase: _Phase, task: asyncio.Task[None]) -> None:
        name = phase.running.pop(task)
        record = self.records[name]
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            assert exc is not None
            detail = "".join(traceback.format_exception(exc)).rstrip()
            self._log(f"internal error in task {name}:\n{detail}")
            self._settle(record, "Failed", f"internal error: {exc!r}")
        elif not record.done:
            self._settle(record, "Failed", "internal error: task ended without a status")
        phase.settled(name)
        if record.status in _FAILED and not phase.is_finally and phase.stopping is None:
            phase.stopping = "failed"
            self._log(f"task {name} {record.status}: not starting further tasks")

    # -- one pipeline task -----------------------------------------------------------------

    async def _run_task(self, phase: _Phase, task: PipelineTask) -> None:
        record = self.records[task.name]
        lookup = self._pipeline_lookup(phase.is_finally)
        missing = self._missing_results(task)
        if missing:
            # A result of a task that never ran (guarded off) skips its consumers, as in Tekton;
            # a task that ran and did not write a result it declares is an error of the DAG.
            producer = self.records[missing.split(".", 1)[0]]
            skip = phase.is_finally or producer.status == "Skipped"
            status: TaskStatus = "Skipped" if skip else "Failed"
            self._settle(record, status, f"result {missing} was not produced")
            return
        try:
            spec = self.pipeline.spec_of(task)
            bound = {name: _value(value, lookup) for name, value in task.params.items()}
            guard = self._when(task, lookup)
            combos = None if task.matrix is None else fanout.combinations(task.matrix, lookup)
        except (SubstitutionError, PipelineError) as exc:
            self._settle(record, "Failed", str(exc))
            return
        if guard:
            self._guarded_off.add(task.name)
            self._settle(record, "Skipped", guard)
            return
        if combos is None:
            await self._run_instance(phase, task, spec, record, bound)
            return
        if not combos:
            self._settle(record, "Skipped", "matrix has no combinations")
            return
        instances: list[TaskRecord] = []
        for index, combo in enumerate(combos):
            name = fanout.instance_name(task.name, index)
            instance = TaskRecord(name, task.name, phase.is_finally, params=combo)
            self.records[name] = instance
            record.instances.append(name)
            instances.append(instance)
        record.status = "Running"
        outcomes = await asyncio.gather(
            *(
                self._run_instance(phase, task, spec, instance, {**bound, **instance.params})
                for instance in instances
            ),
            return_exceptions=True,
        )
        for instance, outcome in zip(instances, outcomes, strict=True):
            if isinstance(outcome, BaseException) and not instance.done:
                self._settle(instance, "Failed", f"internal error: {outcome!r}")
        self._settle_matrix(record, instances, spec)

    def _settle_matrix(
        self, record: TaskRecord, instances: list[TaskRecord], spec: TaskSpec
    ) -> None:
        statuses = [_final(i.status) for i in instances]
        started = [i.started for i in instances if i.started is not None]
        record.started = min(started) if started else None
        record.attempts = max(i.attempts for i in instances)
        aggregated: dict[str, ParamValue] = {}
        for result in spec.results:
            values = [i.results.get(result.name) for i in instances]
            if all(isinstance(value, str) for value in values):
                aggregated[result.name] = [str(value) for value in values]
        record.results = aggregated
        status = worst_status(statuses)
        reasons = [f"{i.name}: {i.reason}" for i in instances if i.status == status and i.reason]
        self._settle(record, status, "; ".join(reasons[:3]))

    def _missing_results(self, task: PipelineTask) -> str | None:
        for ref in task_references(task):
            parts = ref.parts
            if len(parts) >= 4 and parts[0] == "tasks" and parts[2] == "results":
                other = self.records.get(parts[1])
                if other is not None and other.done and parts[3] not in other.results:
                    return f"{parts[1]}.{parts[3]}"
        return None

    def _when(self, task: PipelineTask, lookup: Lookup) -> str:
        """Why the task is guarded off, or '' when every `when` expression holds."""
        for when in task.when:
            value = _text(when.input, lookup)
            allowed = _args(when.values, lookup)
            if (value in allowed) != (when.operator == "in"):
                return f"when: {value!r} {when.operator} {allowed!r} is false"
        return ""

    async def _run_instance(
        self,
        phase: _Phase,
        task: PipelineTask,
        spec: TaskSpec,
        record: TaskRecord,
        params: dict[str, ParamValue],
    ) -> None:
        async with self.slots:
            if phase.stopping is not None:
                self._settle_unstarted(record, phase.stopping)
                return
            record.status = "Running"
            record.started = time.time()
            dname = self.layout.task_dir_name(record.name)
            files = self.layout.open_task(dname)
            artifacts = files.artifacts
            self.sandbox.hand_over(artifacts)
            record.artifacts = f"{prow.ARTIFACTS_DIR}/{dname}"
            logger = TaskLogger(record.name, files.log, self.build_log)
            status: TaskStatus = "Failed"
            reason = ""
            try:
                for attempt in range(1, task.retries + 2):
                    record.attempts = attempt
                    # A first attempt is announced in the build log only: the task's own log
                    # holds what the task wrote, and is not created for a silent task.
                    logger.message(
                        f"attempt {attempt} of {task.retries + 1} started", own=attempt > 1
                    )
                    self._emit("task-started", record.name, "Running", attempt)
                    status, reason, retryable = await self._attempt(
                        phase, task, spec, record, params, dname, attempt, artifacts, logger
                    )
                    if status == "Succeeded" or not retryable or attempt > task.retries:
                        break
                    if phase.stop.done() or phase.expired():
                        break
                    logger.message(f"attempt {attempt} {status}: {reason}; retrying")
                    self._emit("task-retry", record.name, status, attempt, reason)
            finally:
                logger.close()
            if files.log.created:
                record.log = self.layout.task_log_rel(dname)
            self._settle(record, status, reason)

    async def _attempt(
        self,
        phase: _Phase,
        task: PipelineTask,
        spec: TaskSpec,
        record: TaskRecord,
        params: dict[str, ParamValue],
        dname: str,
        attempt: int,
        artifacts: str,
        logger: TaskLogger,
    ) -> tuple[TaskStatus, str, bool]:
        """One attempt: (status, reason, whether a retry may help)."""
        loop = asyncio.get_running_loop()
        results_dir = None
        if spec.results:  # a directory per attempt costs; only tasks with results get one
            results_dir = self.layout.results / f"{dname}.{attempt}"
            results_dir.mkdir()
            self.sandbox.hand_over(results_dir)
        workspaces = self._task_workspaces(task, spec, dname) if spec.workspaces else {}
        lookup = self._task_lookup(
            spec, params, results_dir, workspaces, dname, attempt, phase.is_finally
        )
        attempt_deadline = loop.time() + task.timeout if task.timeout else None
        env = {**self.base_env, b"ARTIFACTS": os.fsencode(artifacts), b"TMPDIR": self._tmpdir}
        for step in spec.steps:
            if phase.stop.done():
                return "Cancelled", "cancelled", False
            deadline: float | None = None
            which = ""
            if step.timeout or attempt_deadline is not None or phase.deadline is not None:
                deadline, which = _earliest(
                    [
                        (loop.time() + step.timeout if step.timeout else None, "step"),
                        (attempt_deadline, "task"),
                        (phase.deadline, "pipeline"),
                    ]
                )
            if deadline is not None and deadline <= loop.time():
                message = f"{which} timeout expired before step {step.name!r}"
                logger.message(message)
                return "TimedOut", message, which != "pipeline"
            try:
                argv, cwd, step_env = self._prepare_step(step, lookup, env)
                argv = self._confine(argv, cwd, artifacts, results_dir)
            except (SubstitutionError, ValueError, OSError) as exc:
                message = f"step {step.name!r}: {exc}"
                logger.message(message)
                return "Failed", message, False
            marker = self._step_marker()
            if marker is not None:
                step_env = {**step_env, _MARKER_KEY: marker.encode()}
            output = logger.step_output(step.name)
            try:
                outcome = await run_process(
                    argv,
                    cwd=cwd,
                    env=step_env,
                    sink=output.feed,
                    groups=self.groups,
                    deadline=deadline,
                    cancel=phase.stop,
                    grace=self.kill_grace,
                    marker=marker,
                )
            except OSError as exc:
                output.flush()
                message = f"step {step.name!r} could not start {argv[0]!r}: {exc.strerror}"
                logger.message(message)
                return "Failed", message, True
            output.flush()
            if outcome.leftovers:
                logger.message(f"step {step.name!r}: killed {outcome.leftovers} processes it left")
            if outcome.stopped == "cancel":
                logger.message(f"step {step.name!r} stopped: run cancelled")
                return "Cancelled", "cancelled", False
            if outcome.stopped == "deadline":
                message = f"{which} timeout expired during step {step.name!r}"
                logger.message(message)
                return "TimedOut", message, which != "pipeline"
            if outcome.returncode != 0:
                code = outcome.returncode
                how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
                message = f"step {step.name!r} {how}"
                logger.message(message)
                return "Failed", message, True
        try:
            if results_dir is not None:
                record.results = read_results(spec.results, results_dir)
        except ResultError as exc:
            logger.message(str(exc))
            return "Failed", str(exc), True
        return "Succeeded", "", False

    def _step_marker(self) -> str | None:
        """`<run marker>/<n>` for an unsandboxed step (bubblewrap's PID namespace needs none)."""
        if self.sandbox.bwrap is not None:
            return None
        self._steps_started += 1
        return f"{self.marker}/{self._steps_started}"

    def _prepare_step(
        self, step: Step, lookup: Lookup, env: dict[bytes, bytes]
    ) -> tuple[list[str], str, dict[bytes, bytes]]:
        args = _args(step.args, lookup)
        if step.script is not None:
            script = _text(step.script, lookup)
            path = self.layout.script(script)
            interpreter = shebang(script)
            argv = [*(interpreter or [self.shell, "-e"]), path, *args]
        else:
            command = _args(step.command, lookup)
            if not command:
                raise ValueError("no command or script (an image's entrypoint is not known here)")
            argv = [*command, *args]
        if step.env:
            overrides = {k: _text(v, lookup) for k, v in step.env.items()}
            env = {**env, **{os.fsencode(k): os.fsencode(v) for k, v in overrides.items()}}
        if not step.working_dir:
            return argv, self.layout.workspaces_str, env
        directory = _text(step.working_dir, lookup)
        # Tekton mounts workspaces under /workspace: map that prefix to the run's root.
        if directory == "/workspace" or directory.startswith("/workspace/"):
            directory = self.layout.workspaces_str + directory[len("/workspace") :]
        cwd = self.layout.workspaces / directory
        self.sandbox.make_dirs(cwd)
        return argv, str(cwd), env

    def _confine(
        self, argv: list[str], cwd: str, artifacts: str, results: Path | None
    ) -> list[str]:
        """The step's argv inside the sandbox: what the run owns is writable, no more."""
        if self.sandbox.bwrap is None:
            return argv
        layout = self.layout
        writable = [layout.workspaces_str, str(layout.emptydirs), str(layout.tmp)]
        writable += [str(layout.home), artifacts]
        if results is not None:
            writable.append(str(results))
        return self.sandbox.wrap(argv, cwd=cwd, writable=writable, readonly=[str(layout.scripts)])

    # -- lookups -----------------------------------------------------------------------------

    def _context(self) -> dict[str, str]:
        return {
            "pipelineRun.name": self.name,
            "pipelineRun.namespace": NAMESPACE,
            "pipeline.name": self.pipeline.name,
        }

    def _pipeline_lookup(self, in_finally: bool) -> Lookup:
        context = self._context()
        declared = {workspace.name for workspace in self.pipeline.workspaces}

        def lookup(path: str) -> ParamValue | None:
            root, _, rest = path.partition(".")
            if root == "params":
                return self.params.get(rest)
            if root == "tasks":
                if rest == "status":
                    return self._aggregate_status() if in_finally else None
                name, _, attribute = rest.partition(".")
                record = self.records.get(name)
                if record is None:
                    return None
                if attribute == "status":
                    return tekton_task_status(record.status) if in_finally else None
                if attribute.startswith("results."):
                    return record.results.get(attribute[len("results.") :])
                return None
            if root == "context":
                return context.get(rest)
            if root == "workspaces":
                name, _, attribute = rest.partition(".")
                if attribute == "bound" and name in declared:
                    return "true"
            return None

        return lookup

    def _aggregate_status(self) -> str:
        return tekton_aggregate_status([self.records[t.name].status for t in self.pipeline.tasks])

    def _task_workspaces(
        self, task: PipelineTask, spec: TaskSpec, dname: str
    ) -> dict[str, Path | None]:
        declared = self.declared_workspaces
        paths: dict[str, Path | None] = {}
        for workspace in spec.workspaces:
            target = task.workspaces.get(workspace.name)
            if target is None and workspace.name in declared:
                target = workspace.name
            if target is not None:
                path = self.layout.workspace(target)
            elif workspace.optional:
                paths[workspace.name] = None
                continue
            else:  # unbound: an emptyDir of this task
                path = self.layout.emptydirs / dname / dir_name(workspace.name)
            self.sandbox.make_dirs(path)
            paths[workspace.name] = path
        return paths

    def _task_lookup(
        self,
        spec: TaskSpec,
        params: dict[str, ParamValue],
        results_dir: Path | None,
        workspaces: dict[str, Path | None],
        dname: str,
        attempt: int,
        is_finally: bool,
    ) -> Lookup:
        # Built on first use: most steps reference nothing, and this runs for every attempt.
        cache: dict[str, dict[str, ParamValue]] = {}

        def scope() -> dict[str, dict[str, ParamValue]]:
            if not cache:
                values: dict[str, ParamValue] = {
                    p.name: p.default for p in spec.params if p.default is not None
                }
                values.update(params)
                context: dict[str, ParamValue] = dict(self._context())
                context.update(
                    {
                        "taskRun.name": f"{self.name}-{dname}",
                        "taskRun.namespace": NAMESPACE,
                        "task.name": spec.name,
                        "task.retry-count": str(attempt - 1),
                    }
                )
                cache["params"], cache["context"] = values, context
            return cache

        def lookup(path: str) -> ParamValue | None:
            root, _, rest = path.partition(".")
            if root == "params":
                # Pipeline params propagate into tasks that do not declare them (Tekton's
                # propagated parameters for embedded specs).
                found = scope()["params"].get(rest)
                return found if found is not None else self.params.get(rest)
            if root == "results":
                name, _, attribute = rest.partition(".")
                declared = any(result.name == name for result in spec.results)
                if attribute == "path" and declared and results_dir is not None:
                    return str(results_dir / dir_name(name))
                return None
            if root == "workspaces":
                name, _, attribute = rest.partition(".")
                if name not in workspaces:
                    return None
                bound = workspaces[name]
                if attribute == "path":
                    return "" if bound is None else str(bound)
                if attribute == "bound":
                    return "false" if bound is None else "true"
                return None
            if root == "context":
                return scope()["context"].get(rest)
            if root == "tasks":  # `$(tasks.status)` in a finally task's script, for one
                return self._pipeline_lookup(is_finally)(path)
            return None

        return lookup

    # -- bookkeeping -------------------------------------------------------------------------

    def _settle(self, record: TaskRecord, status: TaskStatus, reason: str = "") -> None:
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
        self._log(text)
        self._emit("task-finished", record.name, status, record.attempts, reason)
        self._snapshot()

    def _settle_unstarted(self, record: TaskRecord, why: StopReason) -> None:
        if why == "cancel":
            self._settle(record, "Cancelled", "not started: run cancelled")
        elif why == "timeout":
            self._settle(record, "Skipped", "not started: pipeline timeout")
        else:
            self._settle(record, "Skipped", "not started: the run failed")

    def _log(self, text: str) -> None:
        line = b"%s [foredeck] %s\n" % (timestamp(), text.encode(errors="replace"))
        self.build_log.write(line)

    def _emit(
        self,
        kind: EventKind,
        task: str | None = None,
        status: str | None = None,
        attempt: int = 0,
        reason: str = "",
        at: float | None = None,
    ) -> None:
        if self.on_event is None:
            return
        event = RunEvent(kind, self.name, task, status, attempt, reason, at or time.time())
        try:
            self.on_event(event)
        except Exception as exc:  # a broken progress display must not break the run
            if not self._callback_failed:
                self._callback_failed = True
                self._log(f"on_event callback failed: {exc!r}")

    def _ordered_records(self) -> dict[str, TaskRecord]:
        ordered: dict[str, TaskRecord] = {}
        for task in self.pipeline.all_tasks():
            record = self.records[task.name]
            ordered[task.name] = record
            for name in record.instances:
                ordered[name] = self.records[name]
        return ordered

    def _snapshot(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_snapshot < SNAPSHOT_SECONDS:
            return
        self._last_snapshot = now
        data = run_json(
            name=self.name,
            pipeline=self.pipeline.name,
            status="Running",
            params=self.params,
            results={},
            tasks=self._ordered_records(),
            started=self.started,
            finished=None,
        )
        prow.write_json_atomic(self.layout.run_json, data, indent=None)

    def _run_status(self, error: BaseException | None) -> RunStatus:
        if self.caller_cancelled or self.cancel_requested:
            return "Cancelled"
        if isinstance(error, asyncio.CancelledError):
            return "Cancelled"
        if self.timed_out:
            return "TimedOut"
        if error is not None:
            return "Failed"
        tasks = self.pipeline.all_tasks()
        if any(self.records[task.name].status in _FAILED for task in tasks):
            return "Failed"
        return "Succeeded"

    def _pipeline_results(self) -> dict[str, ParamValue]:
        lookup = self._pipeline_lookup(in_finally=True)
        values: dict[str, ParamValue] = {}
        for result in self.pipeline.results:
            try:
                values[result.name] = _value(result.value, lookup)
            except SubstitutionError as exc:
                self._log(f"pipeline result {result.name} not produced: {exc}")
        return values

    def _finish(self, error: BaseException | None) -> RunResult:
        finished = time.time()
        status = self._run_status(error)
        result = RunResult(
            name=self.name,
            pipeline=self.pipeline.name,
            out_dir=self.layout.out_dir,
            status=status,
            tasks=self._ordered_records(),
            results=self._pipeline_results(),
            params=self.params,
            started=self.started,
            finished=finished,
        )
        prow.write_json_atomic(self.layout.run_json, result.to_json(), indent=None)
        self._log(f"run {self.name}: {status} in {finished - self.started:.2f}s")
        metadata = {"pipeline": self.pipeline.name, "run": self.name, "status": status}
        prow.write_finished(
            self.layout.out_dir,
            finished,
            passed=result.passed,
            result=result.prow_result,
            metadata=metadata,
        )
        self._emit("run-finished", status=status, at=finished)
        self.build_log.close()
        return result
