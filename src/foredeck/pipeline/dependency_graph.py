"""The order a pipeline's tasks run in, as the references and `runAfter` they write imply it.

Validation, the local executor and the emitters all need the same edges (Tekton orders a task
after every task whose results it reads), so they are derived here once, apart from the checks.
"""

from __future__ import annotations

from collections.abc import Mapping

from foredeck.pipeline.expressions import Reference, references
from foredeck.pipeline.model import Pipeline, PipelineTask
from foredeck.pipeline.predicates import tasks_of


def task_references(task: PipelineTask) -> list[Reference]:
    """Every `$(...)` in what the pipeline binds for a task (params, when, matrix)."""
    refs: list[Reference] = []
    for value in task.params.values():
        refs.extend(references(value))
    for when in task.when:
        refs.extend(references(when.input))
        refs.extend(references(when.values))
    if task.matrix is not None:
        for values in task.matrix.params.values():
            refs.extend(references(values))
        for include in task.matrix.include:
            refs.extend(references(include))
        for guards in task.matrix.include_when.values():
            for when in guards:
                refs.extend(references([when.input, *when.values]))
        if task.matrix.items is not None:
            refs.extend(references(task.matrix.items))
    for when in task.item_when:
        refs.extend(references([when.input, *when.values]))
    return refs


_AFTER = ("results", "matrix", "outputs", "inputs")  # `inputs`/`outputs`: Tekton artifacts


def _result_task(ref: Reference) -> str | None:
    """The task whose results (or matrix lengths) `ref` reads: it must have finished."""
    parts = ref.parts
    if len(parts) >= 3 and parts[0] == "tasks" and parts[2] in _AFTER:
        return parts[1]
    return None


def dependencies(pipeline: Pipeline) -> dict[str, set[str]]:
    """Per task (DAG and finally), the tasks it must wait for: `runAfter` plus every task whose
    results it references in params, `when` or matrix (Tekton orders those implicitly).

    Only edges inside the task's own group count: DAG tasks wait on DAG tasks, finally tasks on
    finally tasks; the finally phase as a whole starts after the DAG.
    """
    graph: dict[str, set[str]] = {}
    for group in (pipeline.tasks, pipeline.finally_tasks):
        names = {task.name for task in group}
        for task in group:
            edges = {name for name in task.run_after if name in names}
            if task.depends is not None:
                edges.update(name for name in tasks_of(task.depends) if name in names)
            for ref in task_references(task):
                target = _result_task(ref)
                if target is not None and target in names:
                    edges.add(target)
            edges.discard(task.name)
            graph[task.name] = edges
    return graph


def results_read(pipeline: Pipeline) -> dict[str, set[str]]:
    """Per task, the results some task or pipeline result reads (stdout is kept for these)."""
    refs = [ref for task in pipeline.all_tasks() for ref in task_references(task)]
    for result in pipeline.results:
        refs.extend(references(result.value))
    read: dict[str, set[str]] = {}
    for ref in refs:
        parts = ref.parts
        if len(parts) >= 4 and parts[0] == "tasks" and parts[2] == "results":
            read.setdefault(parts[1], set()).add(parts[3])
    return read


def results_read_everywhere(pipeline: Pipeline) -> dict[str, set[str]]:
    """The results someone reads, per task name, in the pipeline and in every sub-graph it
    calls (a task of a looped or recursive call reads its siblings' stdout too); a name two
    graphs share keeps the union, which only keeps more stdout."""
    read: dict[str, set[str]] = {}
    todo, seen = [pipeline], set()
    while todo:
        graph = todo.pop()
        if id(graph) in seen:
            continue
        seen.add(id(graph))
        for name, results in results_read(graph).items():
            read.setdefault(name, set()).update(results)
        todo.extend(graph.graph_library.values())
    return read


def upstream(graph: Mapping[str, set[str]], name: str) -> set[str]:
    """Every task `name` transitively waits for."""
    seen: set[str] = set()
    stack = list(graph.get(name, ()))
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(graph.get(current, ()))
    return seen


def find_cycle(tasks: list[PipelineTask], graph: Mapping[str, set[str]]) -> list[str] | None:
    """The first cycle in declaration order, as `[a, b, ..., a]`, or None."""
    order = {task.name: i for i, task in enumerate(tasks)}
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for dep in sorted(graph.get(name, ()), key=lambda n: order.get(n, len(order))):
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        path.pop()
        state[name] = 2
        return None

    for task in tasks:
        if task.name not in state:
            found = visit(task.name)
            if found:
                return found
    return None
