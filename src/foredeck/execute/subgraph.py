"""Sub-graph calls: a task that runs a graph of the pipeline's `graph_library` as a nested phase.

Argo templates call templates (a dag task running a steps template, a steps template calling
itself under a `when`); the IR keeps such a call as a node with `graph_ref`, and the executor
expands it when the node runs, so recursion ends when the data says so. The nested graph is
scheduled by the same `Phase` as the run's DAG, sharing its stop signal and deadline: a cancel
or timeout reaches every level. Its tasks are recorded as `<caller>.<task>` (unique, since the
caller's name is), listed under the caller like matrix instances.

The call's status is Failed (or TimedOut / Cancelled) when an inner task ended so, else
Succeeded: inner tasks skipped by their `when` do not fail the call, as in Argo, nor do its
finally tasks (a step's exit hook, `argo/hooks.py`: Argo ignores a hook that fails), except in a
graph of the "stop" failure policy (a Tekton child pipeline: a failed finally task fails a
PipelineRun). Its workspaces are the caller's the call maps them to (same name if not). Its results
are the graph's results, resolved over the inner tasks. A call nested deeper than
`MAX_GRAPH_DEPTH` fails with a message naming the graph (a recursion that does not end).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from foredeck.execute import lookups
from foredeck.execute.outcomes import run_failed
from foredeck.execute.runstate import TaskRecord, worst_status
from foredeck.execute.scheduler import FAILED, Phase, StopReason, earliest
from foredeck.pipeline.expressions import SubstitutionError
from foredeck.pipeline.model import ParamValue, Pipeline, PipelineTask, TaskStatus, over_default
from foredeck.pipeline.validate import dependencies

MAX_GRAPH_DEPTH = 50
"""How deep sub-graph calls may nest at run time (Argo has no limit; a host run wants one)."""


@dataclass
class Graph:
    """One running graph: the run's pipeline, or one sub-graph call. `records` maps the
    graph's own task names to their records (named `<caller>.<task>` in the run)."""

    pipeline: Pipeline
    records: dict[str, TaskRecord]
    scope: lookups.RunScope
    guarded_off: set[str] = field(default_factory=set)
    depth: int = 0
    workspaces: dict[str, str] = field(default_factory=dict)
    """The graph's workspaces -> the run's workspaces they are (a name not here is unbound)."""


class Runner(Protocol):
    """What a sub-graph call needs from the run (`local._Run`)."""

    records: dict[str, TaskRecord]
    params: dict[str, ParamValue]
    name: str
    timed_out: bool
    caller_cancelled: bool

    def task_in(self, g: Graph, phase: Phase, task: PipelineTask) -> Coroutine[Any, Any, None]: ...

    def settle(self, record: TaskRecord, status: TaskStatus, reason: str = "") -> None: ...

    def settle_unstarted(self, record: TaskRecord, why: StopReason) -> None: ...

    def log(self, text: str) -> None: ...


class _GraphHost:
    """The scheduler's host for a nested phase: the graph's records, the run's everything else."""

    def __init__(self, run: Runner, graph: Graph, own_deadline: bool) -> None:
        self.run = run
        self.graph = graph
        self.records = graph.records
        self.guarded_off = graph.guarded_off
        self.own_deadline = own_deadline  # the call's own timeout, not the run's, is nearest
        self.call_timed_out = False

    @property
    def timed_out(self) -> bool:
        return self.call_timed_out if self.own_deadline else self.run.timed_out

    @timed_out.setter
    def timed_out(self, value: bool) -> None:
        if self.own_deadline:
            self.call_timed_out = value
        else:
            self.run.timed_out = value

    @property
    def caller_cancelled(self) -> bool:
        return self.run.caller_cancelled

    @caller_cancelled.setter
    def caller_cancelled(self, value: bool) -> None:
        self.run.caller_cancelled = value

    def task(self, phase: Phase, task: PipelineTask) -> Coroutine[Any, Any, None]:
        return self.run.task_in(self.graph, phase, task)

    def settle(self, record: TaskRecord, status: TaskStatus, reason: str = "") -> None:
        self.run.settle(record, status, reason)

    def settle_unstarted(self, record: TaskRecord, why: StopReason) -> None:
        self.run.settle_unstarted(record, why)

    def log(self, text: str) -> None:
        self.run.log(text)


def _graph_params(
    run: Runner, graph: Pipeline, given: dict[str, ParamValue]
) -> dict[str, ParamValue] | str:
    """The run's params (they propagate), overridden by the graph's own; or why not."""
    values = dict(run.params)
    for spec in graph.params:
        if spec.name in given:
            values[spec.name] = over_default(given[spec.name], spec.default)
        elif spec.default is not None:
            values[spec.name] = spec.default
        else:
            return f"param {spec.name!r} of sub-graph {graph.name!r} has no value"
    return values


async def run_call(
    run: Runner,
    caller: Graph,
    phase: Phase,
    task: PipelineTask,
    record: TaskRecord,
    params: dict[str, ParamValue],
) -> None:
    """Run the sub-graph `task` calls as a nested phase and settle `record` from it; the call
    holds one of its phase's `parallelism` places while it runs."""
    async with phase.limit or contextlib.nullcontext():
        await _run_call(run, caller, phase, task, record, params)


async def _run_call(
    run: Runner,
    caller: Graph,
    phase: Phase,
    task: PipelineTask,
    record: TaskRecord,
    params: dict[str, ParamValue],
) -> None:
    graph = caller.pipeline.graph_of(task)
    if phase.stopping is not None:
        run.settle_unstarted(record, phase.stopping)
        return
    if caller.depth + 1 > MAX_GRAPH_DEPTH:
        why = f"sub-graph {graph.name!r} nests deeper than {MAX_GRAPH_DEPTH} levels"
        run.settle(record, "Failed", f"{why} (a recursion that does not end?)")
        return
    values = _graph_params(run, graph, params)
    if isinstance(values, str):
        run.settle(record, "Failed", values)
        return
    edges = dependencies(graph)
    records: dict[str, TaskRecord] = {}
    for inner in [*graph.tasks, *graph.finally_tasks]:
        name = f"{record.name}.{inner.name}"
        after = sorted(f"{record.name}.{d}" for d in edges.get(inner.name, ()))
        records[inner.name] = TaskRecord(name, name, phase.is_finally, run_after=after)
        run.records[name] = records[inner.name]
        record.instances.append(name)
    outer = caller.scope
    every = outer.records if outer.run_records is None else outer.run_records
    # A Tekton child pipeline is a PipelineRun of its own, `<parent run>-<task>`; an Argo
    # template's `workflow.name` is the run's.
    name = f"{outer.name}-{task.name}" if graph.failure_policy == "stop" else run.name
    guarded: set[str] = set()
    scope = lookups.RunScope(
        name,
        graph,
        values,
        records,
        uid=outer.uid,
        started=outer.started,
        run_records=every,
        guarded_off=guarded,
    )
    child = Graph(graph, records, scope, guarded, depth=caller.depth + 1)
    for decl in graph.workspaces:
        bound = caller.workspaces.get(task.workspaces.get(decl.name, decl.name))
        if bound is not None:
            child.workspaces[decl.name] = bound
    deadline = phase.deadline
    if task.timeout is not None:
        deadline = earliest([(deadline, "run"), (_now() + task.timeout, "call")])[0]
    host = _GraphHost(run, child, deadline != phase.deadline)
    record.status = "Running"
    record.started = time.time()
    await Phase(
        host,
        graph.tasks,
        is_finally=phase.is_finally,
        stop=phase.stop,
        deadline=deadline,
        graph=edges,
        policy=graph.failure_policy,
        lookup=scope.pipeline_lookup(phase.is_finally),
        limit=graph.parallelism,
    ).run()
    if graph.finally_tasks:
        stop: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await Phase(
            host,
            graph.finally_tasks,
            is_finally=True,
            stop=stop,
            deadline=phase.deadline,
            graph=edges,
            policy=graph.failure_policy,
        ).run()
    _settle_call(run, child, record, host.call_timed_out)


def _now() -> float:
    return asyncio.get_running_loop().time()


def _settle_call(run: Runner, child: Graph, record: TaskRecord, timed_out: bool) -> None:
    graph = child.pipeline
    lookup = child.scope.pipeline_lookup(in_finally=True)
    for result in graph.results:
        try:
            record.results[result.name] = lookups.value(result.value, lookup)
        except SubstitutionError as exc:  # an inner task did not run: consumers are skipped
            run.log(f"task {record.name}: output {result.name} not produced: {exc}")
    if graph.failure_policy == "stop":  # a Tekton child PipelineRun: its finally counts
        ended = [child.records[t.name] for t in graph.all_tasks()]
        edges = dependencies(graph)
        failed = [i for i in ended if i.status in FAILED]
        if failed and not run_failed(graph, child.records, edges, child.guarded_off):
            failed = []  # only failures its tasks' `onError: continue` ignore
    else:
        dag = [child.records[t.name] for t in graph.tasks]  # a failed exit hook is only logged
        failed = [i for i in dag if i.status in FAILED]
    bad = [cast(TaskStatus, i.status) for i in failed]
    status: TaskStatus = worst_status(bad) if bad else "Succeeded"
    reason = "; ".join(f"{i.name}: {i.status}" for i in failed[:3])
    if timed_out:  # its own activeDeadlineSeconds ended it
        status, reason = "TimedOut", f"sub-graph deadline expired; {reason}".rstrip("; ")
    run.settle(record, status, reason)
