"""The local executor's scheduler: one phase (the DAG tasks, or the finally tasks) at a time.

A task starts once every task it depends on has settled and every one of them Succeeded (or was
guarded off by its own `when`, or failed in a way it continues on); otherwise it is Skipped. A
task with a dependency predicate (`PipelineTask.depends`) starts when the predicate holds over
the outcomes of the tasks it reads (`outcomes.py`), and is Skipped (Argo's Omitted) when not.
Under the "stop" failure policy the first failed DAG task stops the phase from starting more
(`stopping = "failed"`); under "continue" tasks keep starting as their predicates allow. The
stop signal (cancel) and the phase's deadline stop it too, and then the tasks still running are
waited for. What a task *does* is the host's (`PhaseHost.task`); this module only decides when.

Tasks become ready by counting finished parents, and a finishing task wakes the scheduler
through a done callback: no scan of every pending or running task per wake-up, which would make
a wide DAG quadratic.
"""

from __future__ import annotations

import asyncio
import traceback
from collections import deque
from collections.abc import Coroutine, Iterable
from typing import Any, Literal, Protocol

from foredeck.execute.hooks import HookWatch, hook_edges
from foredeck.execute.outcomes import blocked_by, continues
from foredeck.execute.runstate import TaskRecord
from foredeck.pipeline.expressions import Lookup
from foredeck.pipeline.model import FailurePolicy, PipelineTask, TaskStatus

StopReason = Literal["failed", "timeout", "cancel"]
FAILED: frozenset[str] = frozenset({"Failed", "TimedOut", "Cancelled"})


def earliest(candidates: Iterable[tuple[float | None, str]]) -> tuple[float | None, str]:
    """The earliest of some optional deadlines, with its label ("step", "task", ...)."""
    best: tuple[float | None, str] = (None, "")
    for deadline, label in candidates:
        if deadline is not None and (best[0] is None or deadline < best[0]):
            best = (deadline, label)
    return best


class PhaseHost(Protocol):
    """What the scheduler needs from the run it schedules for."""

    records: dict[str, TaskRecord]
    guarded_off: set[str]  # tasks Skipped by their own `when`: their dependents still run
    timed_out: bool
    caller_cancelled: bool

    def task(self, phase: Phase, task: PipelineTask) -> Coroutine[Any, Any, None]:
        """Run one task to a final status (settling its record)."""
        ...

    def settle(self, record: TaskRecord, status: TaskStatus, reason: str = "") -> None: ...

    def settle_unstarted(self, record: TaskRecord, why: StopReason) -> None: ...

    def log(self, text: str) -> None: ...


class Phase:
    """The DAG tasks or the finally tasks: a scheduler with its own deadline and stop signal."""

    def __init__(
        self,
        host: PhaseHost,
        tasks: list[PipelineTask],
        *,
        is_finally: bool,
        stop: asyncio.Future[None],
        deadline: float | None,
        graph: dict[str, set[str]],
        policy: FailurePolicy = "stop",
        lookup: Lookup | None = None,
        limit: int | None = None,
    ) -> None:
        self.host = host
        self.tasks = tasks
        self.policy = policy
        self.by_name = {task.name: task for task in tasks}
        self.is_finally = is_finally
        self.stop = stop
        self.deadline = deadline
        self.stopping: StopReason | None = None
        self.running: dict[asyncio.Task[None], str] = {}
        self.finished: list[asyncio.Task[None]] = []
        names = {task.name for task in tasks}
        self.graph = {task.name: graph.get(task.name, set()) & names for task in tasks}
        self.hooks = HookWatch(tasks, lookup)  # `lookup`: what hook expressions read
        # `limit`: at most this many of the phase's tasks run at once (Argo's `parallelism`)
        self.limit = asyncio.Semaphore(limit) if limit else None
        hook_edges(tasks, self.graph)
        self.children: dict[str, list[str]] = {task.name: [] for task in tasks}
        self.waiting = {name: len(parents) for name, parents in self.graph.items()}
        for name, parents in self.graph.items():
            for parent in parents:
                self.children[parent].append(name)
        self.ready: deque[str] = deque(
            name for name, count in self.waiting.items() if not count and name not in self.hooks
        )
        self.unsettled = {task.name: task for task in tasks}
        self._wakeup: asyncio.Future[None] | None = None
        stop.add_done_callback(lambda _: self._wake())
        # Ends the phase's daemons (`daemons.py`): once nothing else is left, or on a stop.
        self.scope_end: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        stop.add_done_callback(lambda _: self._end_scope())

    def expired(self) -> bool:
        return self.deadline is not None and asyncio.get_running_loop().time() >= self.deadline

    async def run(self) -> None:
        """Schedule every task of the phase to a final status. Cancelling this coroutine
        stops the phase (running tasks get the stop signal) and waits for its tasks."""
        if not self.tasks:
            return
        try:
            await self._schedule()
        except asyncio.CancelledError:
            self.host.caller_cancelled = True
            self.host.log("run cancelled: stopping running tasks")
            if not self.stop.done():
                self.stop.set_result(None)
            self.stopping = "cancel"
            await self._drain()

    # -- bookkeeping ---------------------------------------------------------------------------

    def _track(self, task: asyncio.Task[None], name: str) -> None:
        self.running[task] = name
        task.add_done_callback(self._on_done)

    def _on_done(self, task: asyncio.Task[None]) -> None:
        self.finished.append(task)
        self._wake()

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    def _end_scope(self) -> None:
        if not self.scope_end.done():
            self.scope_end.set_result(None)

    def daemon_ready(self, name: str) -> None:
        """Daemon `name` is ready and settled while its process runs on: its children may
        start (its coroutine ends with the phase)."""
        self._settled(name)
        self._wake()

    def _settled(self, name: str) -> None:
        """`name` reached a final status: its children may be ready now."""
        if self.unsettled.pop(name, None) is None:
            return  # a daemon, settled when it became ready
        for child in self.children.get(name, ()):
            self.waiting[child] -= 1
            if self.waiting[child] == 0 and child not in self.hooks:  # hooks: `_fire_hooks`
                self.ready.append(child)

    async def _wait(self, watch_deadline: bool) -> None:
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

    # -- the loop ------------------------------------------------------------------------------

    async def _schedule(self) -> None:
        host = self.host
        while True:
            if self.stopping is None and self.stop.done():
                self.stopping = "cancel"
            if self.stopping is None and self.expired():
                self.stopping = "timeout"
                host.timed_out = True
                host.log("pipeline timeout expired: stopping running tasks")
            if self.stopping is None:
                self._start_ready()
                self._fire_hooks()
            else:
                running = set(self.running.values())
                for name in list(self.unsettled):
                    if name not in running:
                        host.settle_unstarted(host.records[name], self.stopping)
                        self._settled(name)
            if not self.running:
                for name in list(self.unsettled):  # only a dependency cycle leaves tasks here
                    host.settle(host.records[name], "Skipped", "dependency cycle")
                    self._settled(name)
                return
            if not self.unsettled:  # only daemons still run: their scope has ended
                self._end_scope()
            await self._wait(watch_deadline=self.stopping is None)
            self._collect_finished()

    async def _drain(self) -> None:
        """Wait for running tasks to stop (they watch `stop`), then settle the rest."""
        host = self.host
        while self.running:
            await self._wait(watch_deadline=False)
            self._collect_finished()
        for name in list(self.unsettled):
            record = host.records[name]
            if not record.done:
                host.settle_unstarted(record, self.stopping or "cancel")
            self._settled(name)

    def _start_ready(self) -> None:
        host, records = self.host, self.host.records
        while self.ready:
            name = self.ready.popleft()
            task = self.by_name[name]
            reason = self._blocked(task)
            if reason:
                host.settle(records[name], "Skipped", reason)
                self._settled(name)
                continue
            coro = host.task(self, task)
            self._track(asyncio.get_running_loop().create_task(coro), name)

    def _fire_hooks(self) -> None:
        """Start the hooks whose expression holds now; skip those that can no longer run."""
        if not self.hooks:
            return
        started = set(self.running.values())
        idle = all(name in self.hooks.names for name in self.unsettled)
        records, guarded = self.host.records, self.host.guarded_off
        start, skip = self.hooks.due(records, started.__contains__, idle, guarded)
        for hook, why in skip:
            self.host.guarded_off.add(hook.name)
            self.host.settle(self.host.records[hook.name], "Skipped", why)
            self._settled(hook.name)
        for hook in start:
            coro = self.host.task(self, hook)
            self._track(asyncio.get_running_loop().create_task(coro), hook.name)
        if start or skip:
            self._start_ready()
            self._fire_hooks()  # a skipped hook may free tasks whose start fires others

    def _blocked(self, task: PipelineTask) -> str:
        """Why `task` may not run now that what it waits for has settled ('' if it may)."""
        host, records = self.host, self.host.records
        if task.depends is not None:
            return blocked_by(task, records, host.guarded_off) or ""
        for parent in sorted(self.graph.get(task.name, set())):
            record = records[parent]
            if record.status == "Succeeded" or parent in host.guarded_off:
                continue
            if continues(self.by_name[parent], record, host.guarded_off):
                continue
            return f"parent task {record.name!r} is {record.status}"
        return ""

    def _collect_finished(self) -> None:
        while self.finished:
            self._collect(self.finished.pop(0))

    def _collect(self, task: asyncio.Task[None]) -> None:
        host = self.host
        name = self.running.pop(task)
        record = host.records[name]
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            assert exc is not None
            detail = "".join(traceback.format_exception(exc)).rstrip()
            host.log(f"internal error in task {name}:\n{detail}")
            host.settle(record, "Failed", f"internal error: {exc!r}")
        elif not record.done:
            host.settle(record, "Failed", "internal error: task ended without a status")
        self._settled(name)
        stops = self.policy == "stop" and not self.is_finally and self.stopping is None
        if stops and record.status in FAILED and not self._continues(name, record):
            self.stopping = "failed"
            host.log(f"task {name} {record.status}: not starting further tasks")

    def _continues(self, name: str, record: TaskRecord) -> bool:
        return continues(self.by_name[name], record, self.host.guarded_off)
