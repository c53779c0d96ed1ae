"""Dag and steps templates inlined into the one flat IR DAG.

Argo nests templates (a DAG task may call a steps template that calls a DAG ...). A nested
dag/steps call `g` names its tasks `g-<task>`; its roots run after the caller's dependencies
and the caller's dependents run after its leaves. Each leaf call (a container/script/
containerSet template) becomes one `PipelineTask` of the library spec `leaf.py` builds. A call
of a recursive template, a looped call of a dag/steps template and a call with an exit hook
become sub-graph nodes instead (`graphs.py`, `hooks.py`). A `depends` predicate becomes the
task's IR predicate (a nested call's roots take its caller's).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from foredeck.pipeline.argo.artifacts import artifact_arguments
from foredeck.pipeline.argo.depends import continue_on, ir_predicate, task_needs, toposort
from foredeck.pipeline.argo.fields import (
    IGNORED_TEMPLATE,
    as_list,
    as_map,
    at,
    check_keys,
    fail,
    name_of,
    scalar,
    src,
    unsupported,
)
from foredeck.pipeline.argo.graphs import CallSite, graph_call, recursive
from foredeck.pipeline.argo.hooks import Hooked, exit_hook, wrap
from foredeck.pipeline.argo.item_when import item_guards
from foredeck.pipeline.argo.leaf import build_leaf, call_timeout
from foredeck.pipeline.argo.lifecycle import Target, add_hooks, lifecycle_hooks
from foredeck.pipeline.argo.loops import loop, looped_names
from foredeck.pipeline.argo.outputs import group_outputs
from foredeck.pipeline.argo.state import (
    CALL_NAME,
    CALL_NODE,
    MAX_DEPTH,
    Collection,
    Frame,
    Leaf,
    Node,
    Scope,
    Workflow,
)
from foredeck.pipeline.argo.tags import RUNNING, call_text
from foredeck.pipeline.argo.targets import select
from foredeck.pipeline.argo.templates import (
    declared_arguments,
    find_template,
    input_params,
    retry_strategy,
    template_kind,
)
from foredeck.pipeline.artifacts import artifact_of
from foredeck.pipeline.model import (
    Matrix,
    ParamSpec,
    ParamValue,
    PipelineTask,
    RetryStrategy,
    WhenExpression,
)
from foredeck.pipeline.predicates import (
    NO_CONTINUE,
    AllOf,
    ContinueOn,
    Is,
    Predicate,
    all_done,
    tasks_of,
)
from foredeck.types import Source
from foredeck.yamlsrc import SourceMap


def group(w: Workflow, template: SourceMap, frame: Frame) -> Node:
    """Inline a dag/steps template (`frame.scope` is its own): returns its leaves and outputs
    for the caller."""
    w.depth += 1
    if w.depth > MAX_DEPTH:
        raise fail(src(template), f"templates nest deeper than {MAX_DEPTH} levels (recursion?)")
    name = str(template.get("name"))
    where = f"template {name!r}"
    allowed = {"name", "inputs", "outputs", "dag", "steps", "failFast", "activeDeadlineSeconds"}
    check_keys(template, allowed, IGNORED_TEMPLATE, where)
    if not isinstance(template.get("failFast", True), bool):
        raise fail(at(template, "failFast"), f"{where}: `failFast` must be true or false")
    leaves: list[str]
    if "dag" in template:
        dag = as_map(template["dag"], at(template, "dag"), where)
        check_keys(dag, {"tasks", "failFast", "target"}, {"parallelism"}, f"{where} dag")
        if not isinstance(dag.get("failFast", True), bool):
            raise fail(at(dag, "failFast"), f"{where} dag: `failFast` must be true or false")
        items = as_list(dag.get("tasks"), at(dag, "tasks"), f"{where} dag.tasks")
        leaves = _dag(w, items, frame, where, dag)
    else:
        groups = as_list(template["steps"], at(template, "steps"), f"{where} steps")
        leaves = _steps(w, groups, frame, where, template)
    outputs = group_outputs(template, frame.scope, w.params, where)
    w.depth -= 1
    return Node(None, leaves, outputs, list(frame.whens))


def _dag(w: Workflow, items: list[Any], frame: Frame, where: str, dag: SourceMap) -> list[str]:
    """A dag's tasks in dependency order; returns the leaves (tasks nothing depends on)."""
    scope = frame.scope
    tasks: dict[str, SourceMap] = {}
    for raw in items:
        task = as_map(raw, src(raw), f"{where} dag.tasks")
        tname = name_of(task, f"{where} dag task")
        if tname in tasks:
            raise fail(at(task, "name"), f"{where}: duplicate task name {tname!r}")
        tasks[tname] = task
    conts = {t: continue_on(task, f"{where} task {t!r}") for t, task in tasks.items()}

    def cont(name: str) -> ContinueOn:
        return conts.get(name, NO_CONTINUE)

    needs = {t: task_needs(task, f"{where} task {t!r}", cont) for t, task in tasks.items()}
    for tname, task in tasks.items():
        for dep in needs[tname][0]:
            if dep not in tasks:
                raise fail(src(task), f"{where} task {tname!r}: unknown dependency {dep!r}")
    edges = {t: needs[t][0] for t in tasks}
    order = toposort(edges, where, src(items))
    keep, target_guards = select(w, dag, scope, edges, where)
    order = [t for t in order if t in keep]
    depended = {d for t in order for d in needs[t][0]}
    leaves: list[str] = []
    for tname in order:
        task = tasks[tname]
        deps, predicate = needs[tname]
        task_deps = list(frame.deps) if not deps else []
        task_whens = list(frame.whens)
        if tname in target_guards:
            task_whens.append(target_guards[tname])
        for dep in deps:
            task_deps.extend(scope.nodes[dep].leaves)
        depends = frame.depends if not deps else None
        if predicate is not None:
            depends = _ir_depends(
                w, predicate, scope, at(task, "depends"), f"{where} task {tname!r}"
            )
        inner = replace(frame, deps=task_deps, whens=task_whens, depends=depends)
        node = _call(w, task, tname, inner, where)
        scope.nodes[tname] = node
        if tname not in depended:
            leaves.extend(node.leaves)
    return leaves


def _steps(
    w: Workflow, groups: list[Any], frame: Frame, where: str, template: SourceMap
) -> list[str]:
    """Groups of parallel steps, each group after the previous one; returns the last group."""
    scope = frame.scope
    previous = list(frame.deps)
    later = False
    for raw_group in groups:
        parallel = as_list(raw_group, at(template, "steps"), f"{where} steps (a list of lists)")
        current: list[str] = []
        pending: dict[str, Node] = {}
        for raw in parallel:
            step = as_map(raw, at(template, "steps"), f"{where} step")
            sname = name_of(step, f"{where} step")
            for key in ("dependencies", "depends"):
                if key in step:
                    raise unsupported(step, key, f"{where} step {sname!r}", "steps run in order")
            if sname in scope.nodes or sname in pending:
                raise fail(at(step, "name"), f"{where}: duplicate step name {sname!r}")
            inner = replace(frame, deps=previous, whens=list(frame.whens))
            if later:  # a later group waits for the last one by the default rule
                inner = replace(inner, depends=None)
            node = _call(w, step, sname, inner, where)
            pending[sname] = node
            current.extend(node.leaves)
        scope.nodes.update(pending)  # parallel steps cannot see each other's outputs
        later = later or bool(current)
        previous = current or previous
    return previous


def _call(w: Workflow, call: SourceMap, name: str, frame: Frame, where: str) -> Node:
    """One dag task or step: a nested dag/steps template is inlined, a leaf becomes a task."""
    scope = frame.scope
    where = f"{where} {'task' if scope.kind == 'tasks' else 'step'} {name!r}"
    allowed = {"name", "template", "templateRef", "inline", "arguments", "when"}
    allowed |= {"withItems", "withParam", "withSequence", "dependencies", "depends", "continueOn"}
    check_keys(call, allowed | {"hooks", "onExit"}, set(), where)
    continues = continue_on(call, where)
    hook = exit_hook(call, where)
    if hook is not None and scope.finally_:
        raise fail(hook.source, f"{where}: an exit hook inside the workflow's exit handler")
    if hook is not None and (continues or frame.depends is not None):
        why = "with an exit hook (put the hook on a dag/steps template around it)"
        raise unsupported(call, "continueOn" if continues else "depends", where, why)
    watchers = lifecycle_hooks(call, where)
    scope.current = name
    node = _node(w, call, name, frame, where, hook is not None or bool(watchers), continues)
    scope.current, scope.starting = None, False
    if hook is not None:
        hooked = Hooked(name, frame.prefix + name, node, scope, frame.coll, where)
        node = wrap(w, hook, hooked, call_arguments)
    if watchers:
        looped = any(k in call for k in ("withItems", "withParam", "withSequence"))
        target = Target(name, node, scope, frame.coll, where, looped)
        add_hooks(w, watchers, target, call_arguments)
    return node


def _node(
    w: Workflow,
    call: SourceMap,
    name: str,
    frame: Frame,
    where: str,
    hooked: bool,
    continues: ContinueOn,
) -> Node:
    """The node of a call (one task, unless an inlined dag/steps template; not when hooked)."""
    scope = frame.scope
    ir_name = frame.prefix + name
    target_coll, template, key = _resolve_template(w, call, frame.coll, ir_name, where)
    args = call_arguments(call, where)
    own_whens, item_whens, waits = item_guards(call, scope, w.params, args, where)
    whens = frame.whens + [g for g in own_whens if g not in frame.whens]
    deps = [*frame.deps, *(t for test in waits for t in tasks_of(test) if t not in frame.deps)]
    scope.starting = starts_with_workflow(w, deps, scope.finally_)
    kind = template_kind(template)
    if kind in ("dag", "steps"):
        loops = any(k in call for k in ("withItems", "withParam", "withSequence"))
        bounded = "activeDeadlineSeconds" in template  # a deadline for the call as a whole
        bounded = bounded or "parallelism" in template  # a limit of its own children
        if loops or hooked or bounded or recursive(w, target_coll, template):
            site = CallSite(ir_name, deps, whens, src(call), where, scope, item_whens)
            node = graph_call(w, call, template, target_coll, args, site, group)
            _outcome_rules(w, node, frame.depends, continues, waits, scope.kind == "steps")
            return node
        if continues:
            why = "on a nested dag/steps call (put it on the tasks inside)"
            raise unsupported(call, "continueOn", where, why)
        inputs = _group_inputs(w, template, args, scope, where)
        inner = Scope(
            "tasks" if kind == "dag" else "steps",
            inputs,
            finally_=scope.finally_,
            exported=w.exported,
            known=w.known,
        )
        frame = Frame(f"{ir_name}-", inner, deps, whens, target_coll, frame.depends)
        return group(w, template, frame)
    leaf = build_leaf(w, target_coll, template, key)
    declared = [p.name for p in leaf.spec.params if p.name not in leaf.bindings]
    args = declared_arguments(args, declared)
    matrix = loop(w, call, args, scope, where)
    looped = looped_names(matrix)
    bound: dict[str, ParamValue] = {}
    for pname, (value, source) in args.items():
        if pname not in looped:
            bound[pname] = call_text(value, scope, w.params, source, f"{where} argument {pname!r}")
    for p in leaf.spec.params:
        if p.name not in bound and p.name not in looped and _has_tag(p.default):
            bound[p.name] = _default(w, p, scope, where)
        missing = p.name not in bound and p.name not in leaf.bindings and p.default is None
        if missing and p.name not in looped:
            art = artifact_of(p.name)
            what = f"input {p.name!r}" if art is None else f"input artifact {art!r}"
            message = f"{where}: {what} of template {leaf.key!r} has no value"
            raise fail(src(call), message)
    task = leaf_task(w, ir_name, leaf, bound, deps, whens, matrix, src(call), scope.finally_, name)
    task.retry = template_retry(w, template)
    task.item_when = item_whens
    task.continue_on = continues
    task.depends = _status_depends(w, frame.depends, deps, waits)
    task.step_rule = scope.kind == "steps"
    if scope.finally_:
        if task.run_after:
            why = "an exit handler with ordered steps: IR finally tasks all run in parallel"
            raise fail(src(call), f"{where}: {why}")
        w.finally_tasks.append(task)
    else:
        w.tasks.append(task)
    outputs = {o: f"$(tasks.{ir_name}.results.{o})" for o in leaf.outputs}
    node = Node(ir_name, [ir_name], outputs, whens, looped=matrix is not None)
    _export(w, leaf, outputs, matrix is not None, src(call), where)
    if leaf.stdout is not None:
        node.stdout = f"$(tasks.{ir_name}.results.{leaf.stdout})"
    if leaf.exit_code is not None:
        node.exit_code = f"$(tasks.{ir_name}.results.{leaf.exit_code})"
    return node


def _outcome_rules(
    w: Workflow,
    node: Node,
    depends: Predicate | None,
    continues: ContinueOn,
    waits: list[Predicate],
    step: bool,
) -> None:
    """A sub-graph call's `depends`, `continueOn` and outcome rule (`step`: a call in a steps
    template), on the one IR task that calls it."""
    task = next((t for t in (*w.tasks, *w.finally_tasks) if t.name == node.task), None)
    if task is None:
        return
    task.step_rule = step
    task.continue_on = continues
    task.depends = _status_depends(w, depends, task.run_after, waits)


def _status_depends(
    w: Workflow, depends: Predicate | None, deps: list[str], waits: list[Predicate]
) -> Predicate | None:
    """A task's `depends` with the status tests of its `when` (`waits`) required too. Without a
    `depends`, `A.Succeeded` goes without saying when A's failure stops the run; any other
    test (or A continuing on failure) needs the default rule written out: each earlier task
    done, as it continues."""
    ir_tasks = {t.name: t for t in w.tasks}

    def continues(name: str) -> ContinueOn:
        task = ir_tasks.get(name)
        return task.continue_on if task is not None else NO_CONTINUE

    def implied(test: Predicate) -> bool:
        return isinstance(test, Is) and test.outcome == "Succeeded" and not continues(test.task)

    if depends is None and all(implied(test) for test in waits):
        return None
    if depends is None:
        depends = all_done(deps, continues)
    return AllOf((depends, *waits)) if waits else depends


def _ir_depends(
    w: Workflow, predicate: Predicate, scope: Scope, source: Source, where: str
) -> Predicate:
    """A `depends` predicate over the dag's tasks as one over the IR tasks they became."""
    ir_tasks = {t.name: t for t in w.tasks}
    leaves = {
        name: (scope.nodes[name].task, scope.nodes[name].leaves) for name in tasks_of(predicate)
    }

    def continues(name: str) -> ContinueOn:
        task = ir_tasks.get(name)
        return task.continue_on if task is not None else NO_CONTINUE

    return ir_predicate(predicate, leaves, continues, source, where)


def _resolve_template(
    w: Workflow, call: SourceMap, coll: Collection, ir_name: str, where: str
) -> tuple[Collection, SourceMap, str | None]:
    """(collection, template, inline key) of the template a call runs."""
    given = [k for k in ("template", "templateRef", "inline") if k in call]
    if len(given) != 1:
        raise fail(src(call), f"{where}: needs exactly one of template, templateRef, inline")
    if "template" in call:
        name = scalar(call["template"], at(call, "template"), where)
        return coll, find_template(coll, name, at(call, "template"), where), None
    if "inline" in call:
        inline = as_map(call["inline"], at(call, "inline"), where)
        inline.setdefault("name", ir_name)
        return coll, inline, f"inline:{ir_name}"
    ref = as_map(call["templateRef"], at(call, "templateRef"), where)
    check_keys(ref, {"name", "template", "clusterScope"}, set(), f"{where} templateRef")
    wft = ref.get("name")
    if wft not in w.wfts:
        message = f"{where}: templateRef names WorkflowTemplate {wft!r}, not among the inputs"
        raise fail(at(ref, "name"), message)
    target = w.wfts[str(wft)]
    tname = scalar(ref.get("template"), at(ref, "template"), f"{where} templateRef")
    return target, find_template(target, tname, at(ref, "template"), where), None


def call_arguments(call: SourceMap, where: str) -> dict[str, tuple[str, Source]]:
    """A call's `arguments.parameters`: name -> (value as written, where it was written)."""
    raw = as_map(call.get("arguments") or {}, at(call, "arguments"), where)
    check_keys(raw, {"parameters", "artifacts"}, set(), f"{where} arguments")
    args: dict[str, tuple[str, Source]] = artifact_arguments(raw, f"{where} arguments")
    for item in as_list(raw.get("parameters"), at(raw, "parameters"), where):
        p = as_map(item, at(raw, "parameters"), f"{where} arguments")
        check_keys(p, {"name", "value", "description"}, set(), f"{where} argument")
        pname = name_of(p, f"{where} argument")
        if "value" not in p:
            raise fail(src(p), f"{where}: argument {pname!r} needs a `value`")
        args[pname] = (scalar(p["value"], at(p, "value"), where), at(p, "value"))
    return args


def _group_inputs(
    w: Workflow,
    template: SourceMap,
    args: dict[str, tuple[str, Source]],
    scope: Scope,
    where: str,
) -> dict[str, str]:
    """The inputs of a nested dag/steps template: the caller's arguments, else the defaults."""
    inputs: dict[str, str] = {}
    declared = input_params(template, f"template {template.get('name')!r}")
    args = declared_arguments(args, (p.name for p in declared))
    for p in declared:
        if p.name in args:
            value, source = args[p.name]
            inputs[p.name] = call_text(
                value, scope, w.params, source, f"{where} argument {p.name!r}"
            )
        elif isinstance(p.default, str):
            inputs[p.name] = p.default
        else:
            raise fail(src(template), f"{where}: input {p.name!r} has no value")
    return inputs


def template_retry(w: Workflow, template: SourceMap) -> RetryStrategy | None:
    """A leaf template's retry policy and backoff, else the workflow's."""
    if "retryStrategy" in template:
        return retry_strategy(template["retryStrategy"], at(template, "retryStrategy"))
    return w.default_retry


def leaf_task(
    w: Workflow,
    name: str,
    leaf: Leaf,
    params: Mapping[str, ParamValue],
    deps: list[str],
    whens: list[WhenExpression],
    matrix: Matrix | None,
    source: Source,
    finally_: bool,
    call: str | None = None,
) -> PipelineTask:
    """The IR task of a leaf call, with the leaf's implicit params bound (names stay unique).
    `call` is the step/task name as written (default: `name`); the node name is
    `<workflow>.<name>` (Argo: `<workflow>.<path of steps/tasks>`). In the exit handler
    (`finally_`) a body's `{{workflow.status}}` is the final status, else "Running"."""
    if name in w.names:
        raise fail(source, f"two tasks would both be named {name!r} in the flattened DAG")
    w.names.add(name)
    bound: dict[str, ParamValue] = dict(params)
    starting = starts_with_workflow(w, deps, finally_)
    for pname, value in leaf.bindings.items():
        if starting and pname in leaf.start_bindings:
            value = leaf.start_bindings[pname]
        elif value == "$(tasks.status)" and not finally_:
            value = RUNNING  # `{{workflow.status}}` while the workflow runs
        elif value == CALL_NODE:
            value = f"$(context.pipelineRun.name).{name}"
        elif value == CALL_NAME:
            value = name if call is None else call
        bound[pname] = value
    return PipelineTask(
        name=name,
        task_ref=leaf.key,
        params=bound,
        run_after=sorted(set(deps)),
        when=whens,
        retries=leaf.retries,
        timeout=call_timeout(leaf, params),
        matrix=matrix,
        workspaces=dict(leaf.workspaces),
        source=source,
    )


def starts_with_workflow(w: Workflow, deps: list[str], finally_: bool) -> bool:
    """Whether Argo's first reconcile creates the node: it waits for nothing, and is neither
    in the exit handler nor in a sub-graph (taken to start later: a graph serves every call).
    A retry of such a node is a later pod, which this does not tell apart."""
    return not deps and not finally_ and w.graph_depth == 0


def _has_tag(value: ParamValue | None) -> bool:
    return isinstance(value, str) and "{{" in value


def _default(w: Workflow, p: ParamSpec, scope: Scope, where: str) -> str:
    """An input's default written with tags, resolved in the caller's scope as Argo does."""
    return call_text(str(p.default), scope, w.params, p.source, f"{where} input {p.name!r}")


def _export(
    w: Workflow, leaf: Leaf, outputs: dict[str, str], looped: bool, source: Source, where: str
) -> None:
    """Record the workflow outputs this call sets (`globalName`): the last call wins."""
    for result, key in leaf.spec.global_names.items():
        if looped:
            raise fail(source, f"{where}: a looped call exports {key!r} (globalName)")
        w.exported[key] = outputs[result]
