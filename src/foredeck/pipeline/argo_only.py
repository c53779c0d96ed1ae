"""Argo expression constructs of the IR that Tekton cannot express, refused by its emitter.

An expression value `$(= ...)` (Argo's `{{=...}}`) has no Tekton equal: Tekton substitutes
values but never computes them. A govaluate `when` has none either: Tekton's `when` holds only
`in` / `notin` tests (and CEL behind a feature flag, which foredeck does not target). The Argo
front end keeps the simple forms (`==`, `!=`, `in (...)`) as `in` / `notin`, which do emit.
Nor has `$(context.lastRetry.*)` (Argo's `{{lastRetry.*}}`, `retry_vars.py`), nor a node fact
`$(tasks.T.phase)`, `.startedAt`, ... (Argo's `{{tasks.T.status}}`, `model.NODE_FACTS`).
"""

from __future__ import annotations

from foredeck.pipeline import retry_vars
from foredeck.pipeline.expressions import references
from foredeck.pipeline.exprlang.embed import START
from foredeck.pipeline.model import NODE_FACTS, ParamValue, Pipeline, PipelineTask
from foredeck.types import PipelineError

_WHY = "Tekton cannot compute values (an Argo `{{=...}}` expression)"


def _texts(value: ParamValue | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value.values()) if isinstance(value, dict) else list(value)


def _expression_in(task: PipelineTask, pipeline: Pipeline) -> str | None:
    """Where `task` holds an expression value, or None."""
    for name, value in task.params.items():
        if any(START in text for text in _texts(value)):
            return f"param {name!r}"
    if task.matrix is not None:
        for name, values in task.matrix.params.items():
            if any(START in text for text in _texts(values)):
                return f"matrix param {name!r}"
    for step in pipeline.spec_of(task).steps:
        if any(START in text for text in step.texts()):
            return f"step {step.name!r}"
    return None


def _node_fact_in(task: PipelineTask) -> str | None:
    """The first `$(tasks.T.<fact>)` (`model.NODE_FACTS`) a task's params read, or None."""
    for value in task.params.values():
        for ref in references(value):
            if ref.parts[0] == "tasks" and len(ref.parts) == 3 and ref.parts[2] in NODE_FACTS:
                return ref.text
    return None


def refuse_for_tekton(pipeline: Pipeline) -> None:
    """Raise `PipelineError` naming the first construct Tekton cannot express."""
    for task in pipeline.all_tasks():
        spec = pipeline.task_library.get(task.task_ref or "")
        if spec is not None and spec.empty_dirs:
            why = "its own emptyDir volumes (Argo template `volumes`) are not emitted to Tekton"
            raise PipelineError(spec.source, f"task {task.name!r}: {why}")
        for when in task.when:
            if (when.govaluate and not when.cel) or START in when.input:
                why = "Tekton's `when` has only in/notin tests"
                message = f"task {task.name!r}: `when: {when.input}`: {why}"
                raise PipelineError(when.source, message)
        if spec is not None and any(
            f"$({retry_vars.PREFIX}" in text for step in spec.steps for text in step.texts()
        ):
            why = "Argo's `{{lastRetry.*}}` in a body has no Tekton equal"
            raise PipelineError(spec.source, f"task {task.name!r}: {why}")
        where = _expression_in(task, pipeline)
        if where is not None:
            raise PipelineError(task.source, f"task {task.name!r} {where}: {_WHY}")
        fact = _node_fact_in(task)
        if fact is not None:
            why = "Argo's node facts (a task's ip, times, host, phase) have no Tekton equal"
            raise PipelineError(task.source, f"task {task.name!r}: {fact}: {why}")
    for result in pipeline.results:
        if any(START in text for text in _texts(result.value)):
            raise PipelineError(result.source, f"pipeline result {result.name!r}: {_WHY}")
