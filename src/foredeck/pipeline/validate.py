"""Semantic checks on the IR, shared by every front end, run before anything executes.

A pipeline that passes `validate()` can be run by the executor without an unresolvable reference
or an impossible ordering: every `$(...)` it uses names something that exists and, for task
results, something that has finished by then. Validation goes on past a problem and reports every
one it finds (a `PipelineErrors` of them), in a fixed order (declarations, task specs, then
pipeline tasks in declaration order), so one run names every mistake of a file and the same
input always reports the same errors. A check that depends on another's outcome (the bindings of
a task whose spec is unknown, anything after a dependency cycle) is skipped rather than repeating
it. The checks raise `PipelineError` and report it the same way (`validate_report.py`).

The checks are split by what they see: a task spec alone (`validate_specs.py`), what a pipeline
task binds for its spec (`validate_bindings.py`) against the pipeline-level scope
(`validate_scope.py`); this module checks the graph (names, ordering, cycles) and the run's
params, and drives the rest. The dependency graph itself is `dependency_graph.py`.
"""

from __future__ import annotations

from collections.abc import Mapping

from foredeck.pipeline.dependency_graph import (
    dependencies,
    find_cycle,
    results_read,
    task_references,
    upstream,
)
from foredeck.pipeline.errors import raise_all
from foredeck.pipeline.model import ParamValue, Pipeline, PipelineTask, value_type
from foredeck.pipeline.predicates import render, tasks_of
from foredeck.pipeline.validate_bindings import check_binding, check_value
from foredeck.pipeline.validate_report import collecting, duplicates, each, report
from foredeck.pipeline.validate_scope import TEKTON_CONTEXT, Scope
from foredeck.pipeline.validate_specs import check_task_spec
from foredeck.types import PipelineError

__all__ = [
    "TEKTON_CONTEXT",
    "check_value",
    "dependencies",
    "find_cycle",
    "results_read",
    "task_references",
    "upstream",
    "validate",
]


def _check_supplied(pipeline: Pipeline, params: Mapping[str, ParamValue]) -> None:
    declared = {p.name: p for p in pipeline.params}
    for name in params:
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            report(
                PipelineError(
                    pipeline.source,
                    f"pipeline {pipeline.name!r} has no param {name!r} (declared: {known})",
                )
            )
    for param in pipeline.params:
        with each():
            value = params.get(param.name, param.default)
            if value is None:
                raise PipelineError(
                    param.source,
                    f"param {param.name!r} is required: it has no default and no value",
                )
            if value_type(value) != param.type:
                raise PipelineError(
                    param.source,
                    f"param {param.name!r} is {param.type} but is given a"
                    f" {value_type(value)} value",
                )
            check_value(param, value, param.source, "pipeline")


def _check_depends(task: PipelineTask, group_names: set[str], group: str) -> None:
    """A predicate reads tasks of the task's own group, not itself; continue_on is a failure."""
    bad = set(task.continue_on) - {"Failed", "Errored"}
    if bad:
        message = f"{group} {task.name!r}: continue_on {sorted(bad)[0]!r} is not a failure"
        raise PipelineError(task.source, message)
    if task.depends is None:
        return
    for name in tasks_of(task.depends):
        if name == task.name:
            raise PipelineError(task.source, f"{group} {task.name!r} depends on itself")
        if name not in group_names:
            text = render(task.depends)
            message = f"{group} {task.name!r}: depends `{text}` names unknown task {name!r}"
            raise PipelineError(task.source, message)


def validate(pipeline: Pipeline, params: Mapping[str, ParamValue]) -> None:
    """Raise unless the pipeline can run with `params`: the one `PipelineError` found, or a
    `PipelineErrors` holding each problem found (see the module docstring).

    `params` are the run's values (PipelineRun and command line); defaults fill the rest.
    Sub-graphs are checked like the pipeline, where the pipeline's params are also visible
    (they propagate into sub-graphs, as Argo's `workflow.parameters` do).
    """
    with collecting() as found:
        with each():  # a problem that stops the pipeline's checks (no tasks, a cycle)
            _check_graph(pipeline, set())
        outer = {p.name for p in pipeline.params}
        for name in sorted(pipeline.graph_library):
            with each():
                _check_graph(pipeline.graph_library[name], outer)
        _check_supplied(pipeline, params)
    raise_all(_distinct(found))


def _distinct(errors: list[PipelineError]) -> list[PipelineError]:
    """Without an error that only repeats an earlier one at the same place (an unknown taskRef
    found again through a reference to the task's results)."""
    kept: list[PipelineError] = []
    for error in errors:
        if not any(k.source == error.source and k.message.startswith(error.message) for k in kept):
            kept.append(error)
    return kept


def _check_graph(pipeline: Pipeline, outer_params: set[str]) -> None:
    duplicates(((p.name, p.source) for p in pipeline.params), "pipeline param")
    duplicates(((w.name, w.source) for w in pipeline.workspaces), "pipeline workspace")
    duplicates(((r.name, r.source) for r in pipeline.results), "pipeline result")
    if not pipeline.tasks:
        raise PipelineError(pipeline.source, f"pipeline {pipeline.name!r} has no tasks")
    duplicates(((t.name, t.source) for t in pipeline.all_tasks()), "task name")
    for name in sorted(pipeline.task_library):
        check_task_spec(pipeline.task_library[name], f"task {name!r}")
    dag = {t.name for t in pipeline.tasks}
    final = {t.name for t in pipeline.finally_tasks}
    unresolved: set[str] = set()
    for task, in_finally in [
        *((t, False) for t in pipeline.tasks),
        *((t, True) for t in pipeline.finally_tasks),
    ]:
        group = "finally task" if in_finally else "task"
        with each():
            if task.graph_ref is not None:
                if task.graph_ref not in pipeline.graph_library:
                    message = f"{group} {task.name!r}: unknown sub-graph {task.graph_ref!r}"
                    unresolved.add(task.name)
                    raise PipelineError(task.source, message)
            elif task.task_spec is not None:
                check_task_spec(task.task_spec, f"{group} {task.name!r}")
            elif task.task_ref is None:
                unresolved.add(task.name)
                raise PipelineError(task.source, f"{group} {task.name!r} has no task")
            elif task.task_ref not in pipeline.task_library:
                unresolved.add(task.name)
                known = ", ".join(sorted(pipeline.task_library)) or "none loaded"
                raise PipelineError(
                    task.source,
                    f"{group} {task.name!r}: unknown taskRef {task.task_ref!r} (known: {known})",
                )
        if in_finally and task.run_after:
            report(PipelineError(task.source, f"finally task {task.name!r} cannot use runAfter"))
        with each():
            _check_depends(task, dag if not in_finally else final, group)
        for name in task.run_after if not in_finally else ():
            if name == task.name:
                report(PipelineError(task.source, f"task {task.name!r} runs after itself"))
            elif name not in dag:
                where = " (a finally task)" if name in final else ""
                message = f"task {task.name!r}: runAfter unknown task {name!r}{where}"
                report(PipelineError(task.source, message))
    graph = dependencies(pipeline)
    for group_tasks in (pipeline.tasks, pipeline.finally_tasks):
        cycle = find_cycle(group_tasks, graph)
        if cycle:
            first = next(t for t in group_tasks if t.name == cycle[0])
            # What runs before what is unknown: the checks that depend on it would mislead.
            raise PipelineError(first.source, f"dependency cycle: {' -> '.join(cycle)}")
    scope = Scope(pipeline, graph)
    scope.params |= outer_params
    for task in pipeline.tasks:
        if task.name not in unresolved:
            with each():
                check_binding(pipeline, scope, task, in_finally=False)
    for task in pipeline.finally_tasks:
        if task.name not in unresolved:
            with each():
                check_binding(pipeline, scope, task, in_finally=True)
    for result in pipeline.results:
        with each():
            scope.check(
                result.value, result.source, f"pipeline result {result.name!r}", None, False
            )
