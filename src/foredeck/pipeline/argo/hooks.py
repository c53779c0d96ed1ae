"""A step's or dag task's exit hook (`hooks.exit`, or the older `onExit`), as a sub-graph.

Argo runs the hook's template after the node ends, whatever its status; the node's dependents
wait for the hook; a hook that fails does not fail the node. The IR has that shape already: a
sub-graph whose DAG is the node and whose finally task is the hook (`execute/subgraph.py`
ignores its finally tasks' failures). The call becomes a node `X` calling that graph: its
guards, dependencies and loop stay on `X` (so a looped node runs its hook once per item, as
in Argo), the node runs inside as `X.X` and the hook as `X.onExit`.

The hook's arguments may read the node's own outputs (`{{steps.X.outputs.parameters.p}}`);
other values they read from the caller are passed in as params of the graph (`exit-arg-N`).
The Argo emitter writes the graph back as the node with its `hooks.exit`. Lifecycle hooks
other than `exit` run on an expression: `lifecycle.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from foredeck.pipeline.argo.fields import as_map, at, check_keys, fail, scalar, src
from foredeck.pipeline.argo.leaf import build_leaf, call_timeout
from foredeck.pipeline.argo.loops import looped_names
from foredeck.pipeline.argo.state import Collection, Node, Scope, Workflow
from foredeck.pipeline.argo.tags import call_text
from foredeck.pipeline.argo.templates import declared_arguments, find_template, template_kind
from foredeck.pipeline.argo_manifest import unique_name
from foredeck.pipeline.expressions import iter_references
from foredeck.pipeline.model import ParamSpec, ParamValue, Pipeline, PipelineResult, PipelineTask
from foredeck.types import Source
from foredeck.yamlsrc import SourceMap

HOOK_NAME = "onExit"
"""The hook's task inside the graph (`X.onExit`, as Argo names the node)."""

Arguments = Callable[[SourceMap, str], dict[str, tuple[str, Source]]]
"""`dag._arguments`: a call's `arguments.parameters` (passed in: `dag` imports this module)."""


@dataclass(frozen=True)
class Hook:
    """An exit hook: the template it runs and the mapping holding its `arguments`, if any."""

    template: str
    call: SourceMap | None
    source: Source


def exit_hook(call: SourceMap, where: str) -> Hook | None:
    """The exit hook of a step / dag task, or None."""
    if "onExit" in call and "hooks" in call:
        raise fail(at(call, "onExit"), f"{where}: use either onExit or hooks.exit")
    if "onExit" in call:
        name = scalar(call["onExit"], at(call, "onExit"), f"{where} onExit")
        return Hook(name, None, at(call, "onExit"))
    if "hooks" not in call:
        return None
    hooks = as_map(call["hooks"], at(call, "hooks"), f"{where} hooks")
    if "exit" not in hooks:  # the others run on an expression (`lifecycle.py`)
        return None
    hook = as_map(hooks.get("exit"), at(hooks, "exit"), f"{where} hooks.exit")
    check_keys(hook, {"template", "arguments"}, set(), f"{where} hooks.exit")
    name = scalar(hook.get("template"), at(hook, "template"), f"{where} hooks.exit.template")
    return Hook(name, hook, src(hook))


@dataclass(frozen=True)
class Hooked:
    """The node a hook wraps: its name in the template and in the IR, where it was called."""

    name: str
    ir_name: str
    node: Node
    scope: Scope
    coll: Collection
    where: str


def wrap(w: Workflow, hook: Hook, hooked: Hooked, arguments: Arguments) -> Node:
    """Replace the node's task (the last one added) by a call of a graph running it and then
    its exit hook; returns the node as its dependents see it (same name, same outputs)."""
    task = w.tasks.pop()
    assert task.name == hooked.ir_name, "the hooked node is the last task added"
    names = [*task.params]
    names += sorted(looped_names(task.matrix))
    names = list(dict.fromkeys(names))
    lifted: dict[str, str] = {}  # graph param -> the caller's value it stands for
    handler = _handler(w, hook, hooked, arguments, lifted)
    key = unique_name(f"{hooked.ir_name}-with-exit", w.graphs)
    inner = replace(
        task,
        name=hooked.name,
        params={n: f"$(params.{n})" for n in names},
        matrix=None,
        when=[],
        run_after=[],
        item_when=[],
    )
    w.graphs[key] = Pipeline(
        name=key,
        tasks=[inner],
        finally_tasks=[handler],
        params=[ParamSpec(n, source=task.source) for n in [*names, *lifted]],
        workspaces=list(w.workspaces.values()),
        results=[
            PipelineResult(o, f"$(tasks.{hooked.name}.results.{o})", source=task.source)
            for o in hooked.node.outputs
        ],
        task_library=w.library,
        graph_library=w.graphs,
        failure_policy="continue",  # as the workflow: an Argo dag goes on past a failure
        source=hook.source,
    )
    params: dict[str, ParamValue] = {**task.params, **lifted}
    w.tasks.append(
        PipelineTask(
            name=task.name,
            params=params,
            run_after=task.run_after,
            when=task.when,
            matrix=task.matrix,
            source=task.source,
            graph_ref=key,
            item_when=task.item_when,
        )
    )
    return hooked.node


def _handler(
    w: Workflow, hook: Hook, hooked: Hooked, arguments: Arguments, lifted: dict[str, str]
) -> PipelineTask:
    """The hook's task: a leaf template called with arguments translated in the caller's scope
    (where the hooked node is visible), then rewritten to the graph's names."""
    where = f"{hooked.where} exit hook"
    template = find_template(hooked.coll, hook.template, hook.source, where)
    if template_kind(template) in ("dag", "steps"):
        why = "an exit hook running a dag/steps template (call a container or script)"
        raise fail(hook.source, f"{where}: {why}")
    leaf = build_leaf(w, hooked.coll, template)
    args = arguments(hook.call, where) if hook.call is not None else {}
    inputs = [p.name for p in leaf.spec.params if p.name not in leaf.bindings]
    args = declared_arguments(args, inputs)
    scope = hooked.scope
    saved = scope.nodes.get(hooked.name)
    # a looped node's hook runs once per item and sees that item's outputs, not the list
    scope.nodes[hooked.name] = replace(hooked.node, looped=False)
    try:
        bound: dict[str, ParamValue] = {}
        for pname, (value, source) in args.items():
            text = call_text(value, scope, w.params, source, f"{where} argument {pname!r}")
            bound[pname] = _rewrite(text, hooked, lifted)
    finally:
        if saved is None:
            del scope.nodes[hooked.name]
        else:
            scope.nodes[hooked.name] = saved
    for p in leaf.spec.params:
        if p.name not in bound and p.name not in leaf.bindings and p.default is None:
            raise fail(hook.source, f"{where}: input {p.name!r} of {hook.template!r} has no value")
    bound.update(leaf.bindings)
    return PipelineTask(
        name=HOOK_NAME,
        task_ref=leaf.key,
        params=bound,
        retries=leaf.retries,
        timeout=call_timeout(leaf, bound),
        workspaces=dict(leaf.workspaces),
        source=hook.source,
    )


def _rewrite(text: str, hooked: Hooked, lifted: dict[str, str]) -> str:
    """The hooked node's outputs as the inner task's; any other value of the caller's as a
    param of the graph."""
    own = f"tasks.{hooked.ir_name}."
    for ref in list(iter_references(text)):
        if ref.parts[0] not in ("params", "tasks") or ref.path == "tasks.status":
            continue
        if ref.path.startswith(own):
            rest = ref.path[len(own) :]
            rest = "status" if rest == "phase" else rest  # the hook is the graph's finally task
            inner = f"tasks.{hooked.name}.{rest}"
            text = text.replace(ref.text, replace(ref, path=inner).text)
            continue
        name = next((n for n, v in lifted.items() if v == ref.text), None)
        if name is None:
            name = f"exit-arg-{len(lifted) + 1}"
            lifted[name] = ref.text
        text = text.replace(ref.text, f"$(params.{name})")
    return text
