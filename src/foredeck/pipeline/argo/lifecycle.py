"""Lifecycle hooks other than `exit` (`hooks.<name>: {expression, template, arguments}`).

Argo runs the hook's template once, the first time its `expression` (expr-lang, no `{{ }}`)
holds: a template-level hook over the scope of the step or dag task it is written on
(`steps["step-1"].status == "Running"`, that node's outputs, the workflow's values), a
workflow-level hook over the workflow's values (`workflow.status == "Running"`). Each becomes
an IR task with a `trigger` (the expression as `$(= ...)`) and `hook_of` (the hooked task, or
None for the workflow); the executor decides when it starts (`execute/hooks.py`) and the Argo
emitter writes it back as the hook it came from. A hook runs a container or script template.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from foredeck.pipeline.argo.fields import as_map, at, check_keys, fail, scalar, src
from foredeck.pipeline.argo.leaf import build_leaf, call_timeout
from foredeck.pipeline.argo.state import Collection, Node, Scope, Workflow
from foredeck.pipeline.argo.tags import RUNNING, Unresolvable, call_ref, call_text, expression
from foredeck.pipeline.argo.templates import declared_arguments, find_template, template_kind
from foredeck.pipeline.model import ParamValue, PipelineTask
from foredeck.types import Source
from foredeck.yamlsrc import SourceMap

Arguments = Callable[[SourceMap, str], dict[str, tuple[str, Source]]]
"""`dag.call_arguments` (passed in: `dag` imports this module)."""


@dataclass(frozen=True)
class LifecycleHook:
    name: str
    expression: str
    template: str
    call: SourceMap
    source: Source


def lifecycle_hooks(holder: SourceMap, where: str) -> list[LifecycleHook]:
    """The hooks other than `exit` of a step, dag task or workflow spec, as written."""
    if "hooks" not in holder:
        return []
    hooks = as_map(holder["hooks"], at(holder, "hooks"), f"{where} hooks")
    found: list[LifecycleHook] = []
    for name in hooks:
        if name == "exit":
            continue
        hwhere = f"{where} hooks.{name}"
        hook = as_map(hooks[name], at(hooks, str(name)), hwhere)
        check_keys(hook, {"template", "arguments", "expression"}, set(), hwhere)
        if "expression" not in hook:
            raise fail(src(hook), f"{hwhere}: a hook other than `exit` needs an `expression`")
        text = scalar(hook["expression"], at(hook, "expression"), f"{hwhere}.expression")
        template = scalar(hook.get("template"), at(hook, "template"), f"{hwhere}.template")
        found.append(LifecycleHook(str(name), text, template, hook, src(hook)))
    return found


@dataclass(frozen=True)
class Target:
    """What the hooks watch: the hooked node (None: the workflow) and where they are written."""

    node_name: str | None
    node: Node | None
    scope: Scope
    coll: Collection
    where: str
    looped: bool = False  # the hooked call has withItems / withParam / withSequence


def add_hooks(
    w: Workflow, hooks: list[LifecycleHook], target: Target, arguments: Arguments
) -> list[str]:
    """Add one IR task per hook to `w.tasks`; returns their names."""
    scope, names = target.scope, []
    saved = scope.nodes.get(target.node_name or "")
    if target.node_name is not None and target.node is not None:
        scope.nodes[target.node_name] = target.node  # the hook reads its own node
    try:
        for hook in hooks:
            names.append(_hook_task(w, hook, target, arguments))
    finally:
        if target.node_name is not None:
            if saved is None:
                scope.nodes.pop(target.node_name, None)
            else:
                scope.nodes[target.node_name] = saved
    return names


def _hook_task(w: Workflow, hook: LifecycleHook, target: Target, arguments: Arguments) -> str:
    where = f"{target.where} hooks.{hook.name}"
    hooked = target.node.task if target.node is not None else None
    if target.scope.finally_:
        raise fail(hook.source, f"{where}: a lifecycle hook inside the exit handler")
    if target.looped:
        why = "a lifecycle hook on a looped call (Argo runs it for each item; put it inside)"
        raise fail(hook.source, f"{where}: {why}")
    if target.node is not None and hooked is None:
        why = "a lifecycle hook on a nested dag/steps call (put it on the steps inside)"
        raise fail(hook.source, f"{where}: {why}")
    template = find_template(target.coll, hook.template, at(hook.call, "template"), where)
    if template_kind(template) in ("dag", "steps"):
        why = "a lifecycle hook running a dag/steps template (call a container or script)"
        raise fail(hook.source, f"{where}: {why}")
    leaf = build_leaf(w, target.coll, template)
    scope = target.scope

    def resolve(path: str) -> str:
        if path == "workflow.status":
            return "$(tasks.status)"  # the executor reads "Running" while the run goes
        found = call_ref(path, scope, w.params, None)
        if found.startswith("$(tasks.") and found.endswith(".phase)"):
            # a hook reads a node's live status (Pending, Running, then its phase)
            return found.removesuffix(".phase)") + ".status)"
        return found

    try:
        trigger = expression(hook.expression, resolve, at(hook.call, "expression"), where)
    except Unresolvable as exc:  # pragma: no cover - `expression` turns these into errors
        raise fail(hook.source, f"{where}: {exc}") from None
    inputs = [p.name for p in leaf.spec.params if p.name not in leaf.bindings]
    args = declared_arguments(arguments(hook.call, where), inputs)
    bound: dict[str, ParamValue] = {
        name: call_text(value, scope, w.params, source, f"{where} argument {name!r}")
        for name, (value, source) in args.items()
    }
    for p in leaf.spec.params:
        if p.name not in bound and p.name not in leaf.bindings and p.default is None:
            raise fail(hook.source, f"{where}: input {p.name!r} of {hook.template!r} has no value")
    bound.update({k: RUNNING if v == "$(tasks.status)" else v for k, v in leaf.bindings.items()})
    base = f"{hooked}-hooks-{hook.name}" if hooked else f"hooks-{hook.name}"
    name, n = base, 1
    while name in w.names:
        n += 1
        name = f"{base}-{n}"
    w.names.add(name)
    w.tasks.append(
        PipelineTask(
            name=name,
            task_ref=leaf.key,
            params=bound,
            retries=leaf.retries,
            timeout=call_timeout(leaf, bound),
            workspaces=dict(leaf.workspaces),
            source=hook.source,
            trigger=trigger,
            hook_of=hooked,
        )
    )
    return name
