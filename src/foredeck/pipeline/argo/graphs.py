"""Dag/steps templates kept as sub-graphs of the IR, for calls that inlining cannot express.

Most calls of a dag/steps template are inlined (`dag.py`): the flat DAG is what the emitters and
a reader expect. Two kinds of call cannot be: a call of a template that is being expanded
(recursion, as in Argo's coinflip-recursive: the depth is only known at run time), and a call
that loops (`withItems` / `withParam` / `withSequence` over a dag/steps template). Such a call
becomes one IR node with `graph_ref`, naming a `Pipeline` of `graph_library` built once per
template: its params are the template's inputs, its results the template's outputs, and the
executor runs it as a nested phase (`execute/subgraph.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from foredeck.pipeline.argo.artifacts import output_artifact_names
from foredeck.pipeline.argo.fields import as_list, as_map, at, deadline, fail, src
from foredeck.pipeline.argo.loops import loop, looped_names
from foredeck.pipeline.argo.state import Collection, Frame, Node, Scope, Workflow
from foredeck.pipeline.argo.tags import call_text
from foredeck.pipeline.argo.templates import (
    declared_arguments,
    input_params,
    parallelism,
    template_kind,
)
from foredeck.pipeline.argo_manifest import unique_name
from foredeck.pipeline.model import (
    ParamValue,
    Pipeline,
    PipelineResult,
    PipelineTask,
    WhenExpression,
)
from foredeck.types import Source
from foredeck.yamlsrc import SourceMap

Expand = Callable[[Workflow, SourceMap, Frame], Node]
"""`dag.group`: inlines a dag/steps template (passed in: `dag` imports this module)."""


@dataclass(frozen=True)
class CallSite:
    """Where a dag/steps template is called: the IR node's name, what it waits for, its guards."""

    name: str
    deps: list[str]
    whens: list[WhenExpression]
    source: Source
    where: str
    scope: Scope
    item_whens: list[WhenExpression] = field(default_factory=list)


def graph_call(
    w: Workflow,
    call: SourceMap,
    template: SourceMap,
    coll: Collection,
    args: dict[str, tuple[str, Source]],
    site: CallSite,
    expand: Expand,
) -> Node:
    """The IR node of a call that runs `template` as a sub-graph."""
    key = _graph(w, template, coll, expand)
    args = declared_arguments(args, (p.name for p in w.graphs[key].params))
    matrix = loop(w, call, args, site.scope, site.where)
    looped = looped_names(matrix)
    bound: dict[str, ParamValue] = {}
    for pname, (value, source) in args.items():
        if pname not in looped:
            what = f"{site.where} argument {pname!r}"
            bound[pname] = call_text(value, site.scope, w.params, source, what)
    if site.name in w.names:
        raise fail(site.source, f"two tasks would both be named {site.name!r} in the DAG")
    w.names.add(site.name)
    timeout = None
    if "activeDeadlineSeconds" in template:
        raw, source = template["activeDeadlineSeconds"], at(template, "activeDeadlineSeconds")
        timeout = deadline(raw, source, f"template {template.get('name')!r} activeDeadlineSeconds")
    task = PipelineTask(
        name=site.name,
        params=bound,
        run_after=sorted(set(site.deps)),
        when=list(site.whens),
        timeout=timeout,
        matrix=matrix,
        source=site.source,
        graph_ref=key,
        item_when=list(site.item_whens),
    )
    if site.scope.finally_:
        if task.run_after:
            why = "an exit handler with ordered steps: IR finally tasks all run in parallel"
            raise fail(site.source, f"{site.where}: {why}")
        w.finally_tasks.append(task)
    else:
        w.tasks.append(task)
    outputs = {o: f"$(tasks.{site.name}.results.{o})" for o in _output_names(template)}
    return Node(site.name, [site.name], outputs, list(site.whens), looped=matrix is not None)


def recursive(w: Workflow, coll: Collection, template: SourceMap) -> bool:
    """Whether `template` can reach itself through the templates it calls (`template:` and
    `templateRef` of its dag tasks / steps, transitively): every call of it is then a sub-graph,
    the outermost too, so that an emitted and re-read workflow has the same IR."""
    start = (id(coll), str(template.get("name")))
    if start in w.recursive:
        return w.recursive[start]
    seen: set[tuple[int, str]] = set()
    stack = [(coll, template)]
    found = False
    while stack and not found:
        here, current = stack.pop()
        for there, callee in _callees(w, here, current):
            ident = (id(there), str(callee.get("name")))
            found = found or ident == start
            if ident not in seen:
                seen.add(ident)
                stack.append((there, callee))
    w.recursive[start] = found
    return found


def _callees(
    w: Workflow, coll: Collection, template: SourceMap
) -> list[tuple[Collection, SourceMap]]:
    """The templates a dag/steps template calls by name (malformed calls are reported later)."""
    calls: list[object] = []
    dag = template.get("dag")
    if isinstance(dag, dict):
        calls.extend(dag.get("tasks") or [])
    for group in template.get("steps") or []:
        calls.extend(group if isinstance(group, list) else [])
    found: list[tuple[Collection, SourceMap]] = []
    for call in calls:
        if not isinstance(call, dict):
            continue
        target, name = coll, call.get("template")
        ref = call.get("templateRef")
        if isinstance(ref, dict) and ref.get("name") in w.wfts:
            target, name = w.wfts[str(ref.get("name"))], ref.get("template")
        if isinstance(name, str) and name in target.templates:
            found.append((target, target.templates[name]))
    return found


def _output_names(template: SourceMap) -> list[str]:
    """The output parameter names of a dag/steps template (`outputs.py` reads them fully)."""
    where = f"template {template.get('name')!r}"
    raw = as_map(template.get("outputs") or {}, at(template, "outputs"), where)
    items = as_list(raw.get("parameters"), at(raw, "parameters"), where)
    names = [str(item.get("name")) for item in items if isinstance(item, dict)]
    return names + output_artifact_names(template)


def _graph(w: Workflow, template: SourceMap, coll: Collection, expand: Expand) -> str:
    """The `graph_library` key of `template`, built on its first call. The graph is registered
    before it is built, so a call of itself inside is a reference to it (recursion)."""
    name = str(template.get("name"))
    ident = (id(coll), name)
    if ident in w.graph_keys:
        return w.graph_keys[ident]
    key = unique_name(coll.prefix + name, w.graphs)
    w.graph_keys[ident] = key
    params = input_params(template, f"template {name!r}")
    graph = Pipeline(
        name=key,
        tasks=[],
        params=params,
        workspaces=list(w.workspaces.values()),  # the workflow's volumes: one per run
        task_library=w.library,
        graph_library=w.graphs,
        failure_policy="continue",  # as the workflow: an Argo dag goes on past a failure
        source=src(template),
    )
    w.graphs[key] = graph
    saved = (w.tasks, w.finally_tasks, w.names, w.graph_inputs)
    w.tasks, w.finally_tasks, w.names = [], [], set()
    w.graph_inputs = frozenset(p.name for p in params)
    w.graph_depth += 1
    inputs = {p.name: f"$(params.{p.name})" for p in params}
    kind = "tasks" if template_kind(template) == "dag" else "steps"
    try:
        node = expand(
            w,
            template,
            Frame("", Scope(kind, inputs, exported=w.exported, known=w.known), [], [], coll),
        )
        graph.tasks, graph.finally_tasks = w.tasks, w.finally_tasks
        graph.parallelism = parallelism(template, f"template {name!r}")
    finally:
        w.tasks, w.finally_tasks, w.names, w.graph_inputs = saved
        w.graph_depth -= 1
    graph.results = [
        PipelineResult(out, value, source=src(template)) for out, value in node.outputs.items()
    ]
    return key
