"""A settled task's outcomes as dependency predicates see them, and whether a run has failed.

The executor's statuses map onto Argo's node phases: Succeeded; Failed when a step exited
non-zero, timed out or was stopped (Argo marks a pod past its deadline, or a stopped one,
Failed); Errored when the task failed for any other reason (a step that could not start, a
reference that did not resolve, a result too large), as Argo's Error phase is for what is not
a non-zero exit; Skipped when its own `when` was false; Omitted when it never ran for any
other reason (its predicate was false, a failure upstream). A daemon that became ready is
Succeeded and Daemoned (`daemons.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet

from foredeck.execute.runstate import TaskRecord
from foredeck.pipeline.model import Pipeline, PipelineTask
from foredeck.pipeline.predicates import evaluate, render, tasks_of

_STOPPED = frozenset({"TimedOut", "Cancelled"})


def outcome(record: TaskRecord, guarded_off: AbstractSet[str]) -> str | None:
    """The one phase of a settled task: Succeeded, Failed, Errored, Skipped or Omitted."""
    status = record.status
    if status == "Succeeded":
        return "Succeeded"
    if status in _STOPPED:
        return "Failed"
    if status == "Failed":
        exited = record.exit_code is not None and record.exit_code != 0
        if record.instances:  # a fanned-out task failed when an instance did
            return "Failed"
        return "Failed" if exited else "Errored"
    if status == "Skipped":
        return "Skipped" if record.name in guarded_off else "Omitted"
    return None


def outcomes(name: str, records: Mapping[str, TaskRecord], guarded_off: set[str]) -> frozenset[str]:
    """Every outcome name true of settled task `name` (with AnySucceeded / AllFailed)."""
    record = records[name]
    found = {outcome(record, guarded_off)} - {None}
    if record.daemoned:
        found.add("Daemoned")
    if record.instances:
        phases = [outcome(records[i], guarded_off) for i in record.instances]
        if "Succeeded" in phases:
            found.add("AnySucceeded")
        if phases and all(phase == "Failed" for phase in phases):
            found.add("AllFailed")
    return frozenset(str(o) for o in found)


def blocked_by(
    task: PipelineTask, records: Mapping[str, TaskRecord], guarded_off: set[str]
) -> str | None:
    """Why `task`'s predicate keeps it from running (None: it runs). Call once all settled."""
    assert task.depends is not None
    names = tasks_of(task.depends)
    known = {n: outcomes(n, records, guarded_off) for n in names if n in records}
    if evaluate(task.depends, known):
        return None
    seen = ", ".join(f"{n} {'/'.join(sorted(known.get(n, ()))) or 'unknown'}" for n in names)
    return f"depends `{render(task.depends)}` is false: {seen}"


def continues(task: PipelineTask, record: TaskRecord, guarded_off: set[str]) -> bool:
    """Whether `task` failed in a way it continues on (its failure stops nothing)."""
    phase = outcome(record, guarded_off)
    return phase in ("Failed", "Errored") and phase in task.continue_on


def run_failed(
    pipeline: Pipeline,
    records: Mapping[str, TaskRecord],
    graph: Mapping[str, set[str]],
    guarded_off: set[str],
) -> bool:
    """Whether the tasks' outcomes fail the run (before timeouts and cancels are counted)."""
    failed = ("Failed", "Errored")
    for task in pipeline.finally_tasks:
        record = records[task.name]
        if outcome(record, guarded_off) in failed and not continues(task, record, guarded_off):
            return True
    if pipeline.failure_policy == "stop":
        return any(
            outcome(records[t.name], guarded_off) in failed
            and not continues(t, records[t.name], guarded_off)
            for t in pipeline.tasks
        )
    return _failure_reaches_a_leaf(pipeline, records, graph, guarded_off)


def _failure_reaches_a_leaf(
    pipeline: Pipeline,
    records: Mapping[str, TaskRecord],
    graph: Mapping[str, set[str]],
    guarded_off: set[str],
) -> bool:
    """Argo's rule for a DAG: a task that ran has its own phase; one that did not inherits the
    worst phase of its parents; the run fails when a leaf's phase is a failure the leaf does
    not continue on (so a failure handled by a task that ran after it fails nothing). A step
    of a steps template (`step_rule`) that did not run inherits no failure its parent continues
    on: its step group, and so the template, succeeded (Argo's steps.go)."""
    names = [t.name for t in pipeline.tasks]
    by_name = {t.name: t for t in pipeline.tasks}
    branch: dict[str, str] = {}
    pending = list(names)
    while pending:  # in dependency order (validation excluded cycles)
        progressed = []
        for name in pending:
            parents = graph.get(name, set()) & set(names)
            if any(p not in branch for p in parents):
                continue
            phase = outcome(records[name], guarded_off) or "Omitted"
            if phase in ("Skipped", "Omitted"):
                step = by_name[name].step_rule
                inherited = [
                    branch[p]
                    for p in sorted(parents)
                    if not (step and continues(by_name[p], records[p], guarded_off))
                ]
                phase = next((p for p in inherited if p in ("Failed", "Errored")), "Succeeded")
            branch[name] = phase
            progressed.append(name)
        if not progressed:
            break
        pending = [n for n in pending if n not in branch]
    children = {p for name in names for p in graph.get(name, set())}
    for task in pipeline.tasks:
        phase = branch.get(task.name, "Succeeded")
        leaf = task.name not in children
        if leaf and phase in ("Failed", "Errored") and phase not in task.continue_on:
            return True
    return False
