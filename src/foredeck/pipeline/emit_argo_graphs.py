"""Sub-graphs of the IR as Argo dag templates (used by `emit_argo.py`).

A graph of one task and one finally task is a step's exit hook (`argo/hooks.py`): it is
written back as that task, in the caller's dag, with `hooks.exit`.

A `graph_ref` node calls a dag template emitted once per graph: its inputs are the graph's
params, its outputs the graph's results (`valueFrom.parameter`), its tasks emitted like the
entrypoint's. Inside it, a param of the graph is `{{inputs.parameters.X}}` and any other param
is the workflow's (params propagate into sub-graphs). A graph that calls itself is a template
that calls itself, as Argo writes recursion.
"""

from __future__ import annotations

import copy
import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from foredeck.pipeline import emit_argo_hooks as hooks
from foredeck.pipeline.expressions import iter_references
from foredeck.pipeline.model import Pipeline, PipelineTask, RetryStrategy, WhenExpression
from foredeck.pipeline.validate import dependencies
from foredeck.types import PipelineError

if TYPE_CHECKING:
    from foredeck.pipeline.emit_argo import _Emitter


def graph_template(emitter: _Emitter, task: PipelineTask) -> str:
    """The name of the dag template of the graph `task` calls (emitted on first use)."""
    key = str(task.graph_ref)
    renamed = sorted(inner for inner, outer in task.workspaces.items() if inner != outer)
    if renamed:  # a Tekton child pipeline's workspaces, mapped onto others
        why = f"binds the child's workspace {renamed[0]!r} to {task.workspaces[renamed[0]]!r}:"
        why += " Argo templates see the workflow's volumes by their own names"
        raise PipelineError(task.source, f"task {task.name!r} calls {key!r}: {why}")
    if key in emitter.graph_templates:
        return emitter.graph_templates[key]
    graph = emitter.pipeline.graph_of(task)
    name = emitter._unique(key)
    emitter.graph_templates[key] = name
    if graph.finally_tasks:
        why = "finally tasks of a sub-graph have no Argo equal yet"
        raise PipelineError(graph.source, f"sub-graph {graph.name!r}: {why}")
    child = copy.copy(emitter)  # shares the template tables: one template per spec / graph
    child.pipeline = graph
    child.graph = dependencies(graph)
    child.matrix_tasks = {t.name for t in graph.tasks if t.matrix is not None}
    child.by_name = {t.name: t for t in graph.all_tasks()}  # whose stdout / exit code is read
    child.finally_names = set()
    child.inputs = {p.name for p in graph.params}
    template: dict[str, Any] = {"name": name}
    inputs: list[dict[str, Any]] = []
    for param in graph.params:
        entry: dict[str, Any] = {"name": param.name}
        if isinstance(param.default, str):
            entry["value"] = param.default
        inputs.append(entry)
    if inputs:
        template["inputs"] = {"parameters": inputs}
    outputs = [child._pipeline_result(r.name, r.value, r.source) for r in graph.results]
    if outputs:
        template["outputs"] = {"parameters": outputs}
    if graph.parallelism is not None:
        template["parallelism"] = graph.parallelism
    if task.timeout is not None:  # from the template's own activeDeadlineSeconds
        template["activeDeadlineSeconds"] = str(max(1, math.ceil(task.timeout)))
    if any(t.trigger is not None and t.hook_of is None for t in graph.tasks):
        raise PipelineError(graph.source, f"sub-graph {graph.name!r}: a workflow-level hook")
    template["dag"] = {"tasks": hooks.dag_tasks(child, graph.tasks)}
    emitter.graph_bodies.append(template)
    return name


def retry_strategy(retries: int, retry: RetryStrategy | None) -> dict[str, Any]:
    """A template's `retryStrategy`: the limit, the policy and the backoff."""
    out: dict[str, Any] = {"limit": str(retries), "retryPolicy": "Always"}
    if retry is None:
        return out
    out["retryPolicy"] = retry.policy
    backoff: dict[str, Any] = {}
    for key, value in (
        ("duration", retry.backoff),
        ("maxDuration", retry.max_duration),
        ("cap", retry.cap),
    ):
        if value is not None:
            backoff[key] = f"{value:g}s"  # a Go duration
    if retry.factor != 1.0:
        backoff["factor"] = f"{retry.factor:g}"
    if backoff:
        out["backoff"] = backoff
    if retry.expression is not None:
        out["expression"] = retry.expression
    return out


def is_exit_wrapper(graph: Pipeline) -> bool:
    """Whether `graph` is a node with its exit hook (one task, one finally task)."""
    return len(graph.tasks) == 1 and len(graph.finally_tasks) == 1


def hooked_task(emitter: _Emitter, task: PipelineTask, finally_: bool) -> dict[str, Any]:
    """The dag task of a call of an exit wrapper: the inner node under the call's name, its
    guards, dependencies and loop, with `hooks.exit` running the finally task."""
    graph = emitter.pipeline.graph_of(task)
    inner, handler = graph.tasks[0], graph.finally_tasks[0]
    own = {n: v for n, v in task.params.items() if n in inner.params}
    outer = replace(
        inner,
        name=task.name,
        params=own,
        matrix=task.matrix,
        when=task.when,
        run_after=task.run_after,
    )
    out = emitter._dag_task(outer, finally_)
    hook: dict[str, Any] = {"template": emitter._template(handler)}
    args: list[dict[str, str]] = []
    for name, value in handler.params.items():
        text = str(value)
        for ref in list(iter_references(text)):
            parts = ref.parts
            if parts[0] == "params" and len(parts) == 2 and parts[1] in task.params:
                text = text.replace(ref.text, str(task.params[parts[1]]))
            elif parts[0] == "tasks" and parts[1:2] == [inner.name]:
                # the node's own outputs / status (per item of a loop: never aggregated)
                rest = ["outputs", "parameters", parts[3]] if parts[2] == "results" else parts[2:]
                tag = "{{" + ".".join(["tasks", task.name, *rest]) + "}}"
                text = text.replace(ref.text, tag)
        where = f"task {task.name!r} exit hook param {name!r}"
        args.append({"name": name, "value": emitter._call_text(text, False, task.source, where)})
    if args:
        hook["arguments"] = {"parameters": args}
    out["hooks"] = {"exit": hook}
    return out


def item_tests(task: PipelineTask, items: dict[str, str]) -> list[WhenExpression]:
    """A task's per-item guards over the loop item: `$(params.p)` of a looped param `p` is
    written as the item the loop passes it (`{{item}}`, `{{item.key}}`), and a field of the
    item itself, `$(item.key)`, as `{{item.key}}`."""

    def as_item(text: str) -> str:
        for ref in list(iter_references(text)):
            if ref.parts[0] == "params" and len(ref.parts) == 2 and ref.parts[1] in items:
                text = text.replace(ref.text, items[ref.parts[1]])
            elif ref.parts[0] == "item":
                text = text.replace(ref.text, "{{" + ".".join(ref.parts) + "}}")
        return text

    return [
        replace(w, input=as_item(w.input), values=[as_item(v) for v in w.values])
        for w in task.item_when
    ]
