"""Tekton's pipelines in pipelines (alpha, TEP-0056): a pipeline task that runs a Pipeline.

A pipeline task with `pipelineRef` (a Pipeline loaded with it) or an inline `pipelineSpec`
runs that pipeline as a child PipelineRun; in the IR it is a sub-graph call (`graph_ref`). Its
`params` bind the child's params and its `workspaces` map the child's workspaces onto the
parent's, as for a Task; the call ends as the child run does (a failed finally task fails it,
as it fails any PipelineRun). Tekton passes no result of a child back: its webhook rejects a
reference to one, and so does the loader, with the webhook's words. A pipeline that reaches
itself through `pipelineRef`s is refused at load (Tekton fails such a run when it starts).
"""

from __future__ import annotations

from collections.abc import Iterable

from foredeck.pipeline.dependency_graph import task_references
from foredeck.pipeline.expressions import Reference, references
from foredeck.pipeline.model import Pipeline, TaskSpec
from foredeck.pipeline.tekton.fields import as_map, check_fields, name_of
from foredeck.types import PipelineError, Source
from foredeck.yamlsrc import SourceMap

INLINE_SEPARATOR = "/"
"""The `graph_library` key of an inline `pipelineSpec` is `<parent key>/<task>`: never the
name of a Pipeline (a DNS subdomain), so the two cannot collide."""


def inline_key(parent: str, task: str) -> str:
    return f"{parent}{INLINE_SEPARATOR}{task}"


def pipeline_ref(task: SourceMap, what: str) -> str:
    """The name a pipeline task's `pipelineRef` gives (a Pipeline of the same input)."""
    ref = as_map(task["pipelineRef"], task.at("pipelineRef"), f"{what} 'pipelineRef'")
    for key in ("resolver", "params", "bundle"):
        if key in ref:
            raise PipelineError(ref.at(key), f"{what}: remote resolution ('{key}') not supported")
    check_fields(ref, ("name", "apiVersion"), f"{what} pipelineRef")
    return name_of(ref, f"{what} pipelineRef")


def refuse_child_results(pipeline: Pipeline) -> None:
    """Tekton's webhook: no result reference may target a task that runs a child pipeline."""
    children = {t.name for t in pipeline.all_tasks() if t.graph_ref is not None}
    if not children:
        return
    read: list[tuple[Reference, Source]] = []
    for task in pipeline.all_tasks():
        read.extend((ref, task.source) for ref in task_references(task))
    for result in pipeline.results:
        read.extend((ref, result.source) for ref in references(result.value))
    for ref, source in read:
        parts = ref.parts
        if (
            len(parts) >= 3
            and parts[0] == "tasks"
            and parts[1] in children
            and parts[2] == "results"
        ):
            raise PipelineError(
                source,
                f"{ref.text}: result reference to pipelineTask {parts[1]!r} is not supported:"
                " referenced task uses pipelineRef or pipelineSpec and result propagation"
                " from child Pipelines is not yet implemented (Tekton); pass values into a"
                " child Pipeline through params instead",
            )


def link_pipelines(
    root: Pipeline, pipelines: Iterable[Pipeline], tasks: dict[str, TaskSpec]
) -> None:
    """Give `root` and every pipeline it runs (by `pipelineRef` or inline) one shared task and
    graph library; a pipelineRef to no loaded Pipeline, or a cycle of them, is an error."""
    named: dict[str, Pipeline] = {}
    for pipeline in pipelines:
        if pipeline.name in named and named[pipeline.name] is not pipeline:
            other = named[pipeline.name]
            message = f"duplicate Pipeline {pipeline.name!r} (also at {other.source})"
            raise PipelineError(pipeline.source, message)
        named[pipeline.name] = pipeline
    every: dict[str, Pipeline] = dict(named)
    for pipeline in [root, *named.values()]:
        every.update(pipeline.graph_library)  # inline children, flattened when parsed
    library: dict[str, Pipeline] = {}
    _reach(root, every, library, [root.name])
    for graph in [root, *library.values()]:
        graph.task_library = tasks
        graph.graph_library = library


def _reach(
    pipeline: Pipeline, every: dict[str, Pipeline], library: dict[str, Pipeline], path: list[str]
) -> None:
    for task in pipeline.all_tasks():
        key = task.graph_ref
        if key is None:
            continue
        if key in path:
            cycle = " -> ".join([*path[path.index(key) :], key])
            raise PipelineError(
                task.source,
                f"task {task.name!r}: pipelineRef cycle {cycle} (Tekton fails such a run)",
            )
        if key not in every:
            known = ", ".join(sorted(k for k in every if INLINE_SEPARATOR not in k)) or "none"
            raise PipelineError(
                task.source,
                f"task {task.name!r}: pipelineRef names unknown Pipeline {key!r} (loaded: {known})",
            )
        library[key] = every[key]
        _reach(every[key], every, library, [*path, key])
