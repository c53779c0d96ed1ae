"""A workflow's spec into a `Pipeline`: arguments, volumes, the entrypoint and the exit handler.

The entrypoint's tasks form the IR's DAG and the `onExit` handler's its `finally` tasks (which
all run in parallel: a handler with ordered steps is refused). `spec.activeDeadlineSeconds` is
the pipeline timeout and `spec.retryStrategy` every task's default retries.
"""

from __future__ import annotations

from foredeck.pipeline.argo.artifacts import artifact_arguments, repository_ref, uses_artifacts
from foredeck.pipeline.argo.dag import call_arguments, group, leaf_task, template_retry
from foredeck.pipeline.argo.fields import (
    IGNORED_SPEC,
    as_list,
    as_map,
    at,
    check_keys,
    deadline,
    fail,
    name_of,
    src,
    unsupported,
)
from foredeck.pipeline.argo.hooks import Hook, exit_hook
from foredeck.pipeline.argo.leaf import build_leaf
from foredeck.pipeline.argo.lifecycle import Target, add_hooks, lifecycle_hooks
from foredeck.pipeline.argo.pod import CARRIED_SPEC, carried
from foredeck.pipeline.argo.state import Frame, Scope, Workflow
from foredeck.pipeline.argo.tags import call_text
from foredeck.pipeline.argo.templates import (
    declared_arguments,
    find_template,
    input_params,
    parallelism,
    param_spec,
    retry_limit,
    retry_strategy,
    template_kind,
)
from foredeck.pipeline.artifacts import REPOSITORY, artifact_of
from foredeck.pipeline.model import ParamSpec, Pipeline, PipelineResult, WorkspaceDecl
from foredeck.types import Source
from foredeck.yamlsrc import SourceMap


def convert(w: Workflow, name: str, source: Source) -> Pipeline:
    """The pipeline of the workflow `w` was set up with (`documents.py` reads the inputs)."""
    spec = w.spec
    allowed = {"entrypoint", "templates", "arguments", "onExit", "activeDeadlineSeconds"}
    allowed |= {
        "volumeClaimTemplates",
        "volumes",
        "retryStrategy",
        "hooks",
        "artifactRepositoryRef",
        "templateDefaults",
    }
    allowed |= CARRIED_SPEC
    check_keys(spec, allowed, IGNORED_SPEC, "spec")
    _workflow_params(w)
    _workflow_volumes(w)
    if uses_artifacts(spec) or any(uses_artifacts(c.templates) for c in w.wfts.values()):
        if REPOSITORY in w.workspaces:
            message = f"spec: the volume name {REPOSITORY!r} is reserved (artifacts)"
            raise fail(w.workspaces[REPOSITORY].source, message)
        why = "the run's artifact repository"
        w.workspaces[REPOSITORY] = WorkspaceDecl(REPOSITORY, description=why, source=source)
    if "retryStrategy" in spec:
        w.default_retries = retry_limit(spec["retryStrategy"], at(spec, "retryStrategy"))
        w.default_retry = retry_strategy(spec["retryStrategy"], at(spec, "retryStrategy"))
    entry_name = spec.get("entrypoint")
    if not isinstance(entry_name, str) or not entry_name:
        raise fail(at(spec, "entrypoint"), "spec: `entrypoint` is required")
    entry = find_template(w.main, entry_name, at(spec, "entrypoint"), "spec.entrypoint")
    results = _entrypoint(w, entry)
    watchers = lifecycle_hooks(spec, "spec")
    if watchers:
        root = Scope("tasks", {}, exported=w.exported, known=w.known)
        add_hooks(w, watchers, Target(None, None, root, w.main, "spec"), call_arguments)
    hook = _workflow_hook(spec)
    if hook is not None:
        _exit_handler(w, hook)
    exit_template = None if hook is None else find_template(w.main, hook.template, hook.source, "")
    timeout = None
    if "activeDeadlineSeconds" in spec:
        seconds = spec["activeDeadlineSeconds"]
        at_field = at(spec, "activeDeadlineSeconds")
        timeout = deadline(seconds, at_field, "spec.activeDeadlineSeconds")
    pipeline = Pipeline(
        name=name,
        tasks=w.tasks,
        finally_tasks=w.finally_tasks,
        params=list(w.params.values()),
        workspaces=list(w.workspaces.values()),
        results=results,
        task_library=w.library,
        timeout=timeout,
        tasks_timeout=_group_deadline(entry),
        finally_timeout=None if exit_template is None else _group_deadline(exit_template),
        graph_library=w.graphs,
        source=source,
        failure_policy="continue",  # an Argo dag goes on past a failure where `depends` lets it
        cluster=carried(spec, CARRIED_SPEC),
    )
    pipeline.artifact_repository_ref = repository_ref(spec)
    pipeline.parallelism = parallelism(entry, f"template {entry_name!r}")
    pipeline.pod_limit = parallelism(spec, "spec")
    return pipeline


def _group_deadline(template: SourceMap) -> float | None:
    """A dag/steps template's `activeDeadlineSeconds` (a leaf's is its task's timeout)."""
    if template_kind(template) not in ("dag", "steps") or "activeDeadlineSeconds" not in template:
        return None
    where = f"template {template.get('name')!r} activeDeadlineSeconds"
    return deadline(template["activeDeadlineSeconds"], at(template, "activeDeadlineSeconds"), where)


def _workflow_params(w: Workflow) -> None:
    arguments = as_map(w.spec.get("arguments") or {}, at(w.spec, "arguments"), "spec")
    check_keys(arguments, {"parameters", "artifacts"}, set(), "spec.arguments")
    where = "spec.arguments.parameters"
    for raw in as_list(arguments.get("parameters"), at(arguments, "parameters"), where):
        param = param_spec(raw, at(arguments, "parameters"), where)
        if param.name in w.params:
            raise fail(param.source, f"{where}: duplicate parameter {param.name!r}")
        w.params[param.name] = param
    for pname, (locator, source) in artifact_arguments(arguments, "spec.arguments").items():
        if pname in w.params:
            raise fail(source, f"spec.arguments: duplicate artifact {pname!r}")
        w.params[pname] = ParamSpec(pname, default=locator, source=source)


def _workflow_volumes(w: Workflow) -> None:
    spec = w.spec
    for key in ("volumeClaimTemplates", "volumes"):
        for raw in as_list(spec.get(key), at(spec, key), f"spec.{key}"):
            volume = as_map(raw, at(spec, key), f"spec.{key}")
            if key == "volumeClaimTemplates":
                meta = as_map(volume.get("metadata") or {}, src(volume), "volumeClaimTemplate")
                name = name_of(meta, f"spec.{key}[].metadata")
            else:
                name = name_of(volume, f"spec.{key}")
                kinds = set(volume) - {"name"}
                if not kinds <= {"emptyDir", "persistentVolumeClaim"}:
                    bad = sorted(kinds - {"emptyDir", "persistentVolumeClaim"})[0]
                    raise unsupported(volume, bad, f"spec.volumes {name!r}")
            w.workspaces[name] = WorkspaceDecl(name, source=src(volume))


def _has_tags(value: object) -> bool:
    return isinstance(value, str) and "{{" in value


def _entrypoint(w: Workflow, entry: SourceMap) -> list[PipelineResult]:
    entry_name = str(entry["name"])
    inputs: dict[str, str] = {}
    for param in input_params(entry, f"template {entry_name!r}"):
        # An artifact's locator keeps its tags: the template's own scope resolves them.
        own = param.name in w.params or artifact_of(param.name) is not None
        if own or not _has_tags(param.default):
            w.params.setdefault(param.name, param)
            inputs[param.name] = f"$(params.{param.name})"
            continue
        # A default computed from the workflow's values (`{{=...}}`, `{{workflow....}}`) is
        # bound where the entrypoint is called, in the workflow's scope, as Argo resolves it.
        where = f"template {entry_name!r} input {param.name!r}"
        assert isinstance(param.default, str)
        inputs[param.name] = call_text(
            param.default,
            Scope("tasks", {}, exported=w.exported, known=w.known),
            w.params,
            param.source,
            where,
        )
    kind = template_kind(entry)
    if kind in ("dag", "steps"):
        scope = Scope(
            "tasks" if kind == "dag" else "steps", inputs, exported=w.exported, known=w.known
        )
        node = group(w, entry, Frame("", scope, [], [], w.main))
        results = [
            PipelineResult(name, value, source=src(entry)) for name, value in node.outputs.items()
        ]
        return results
    leaf = build_leaf(w, w.main, entry)
    args = {p: v for p, v in inputs.items() if p in {s.name for s in leaf.spec.params}}
    task = leaf_task(w, entry_name, leaf, args, [], [], None, src(entry), False)
    task.retry = template_retry(w, entry)
    w.tasks.append(task)
    return [
        PipelineResult(r, f"$(tasks.{task.name}.results.{r})", source=src(entry))
        for r in sorted(leaf.outputs)
    ]


def _workflow_hook(spec: SourceMap) -> Hook | None:
    """`spec.onExit`, or `spec.hooks.exit` (the same, with arguments); the other hooks run
    on an expression (`lifecycle.py`)."""
    hooks = spec.get("hooks")
    if (isinstance(hooks, dict) and "exit" in hooks) or "onExit" not in spec:
        return exit_hook(spec, "spec")  # its own error when both are given
    if not isinstance(spec["onExit"], str):
        raise fail(at(spec, "onExit"), "spec.onExit: expected a template name")
    return Hook(spec["onExit"], None, at(spec, "onExit"))


def _exit_handler(w: Workflow, hook: Hook) -> None:
    name = hook.template
    template = find_template(w.main, name, hook.source, "spec.onExit")
    args = call_arguments(hook.call, "spec.hooks.exit") if hook.call is not None else {}
    scope = Scope("tasks", {}, finally_=True, exported=w.exported, known=w.known)
    inputs: dict[str, str] = {}
    declared = input_params(template, f"template {name!r}")
    args = declared_arguments(args, (p.name for p in declared))
    for param in declared:
        if param.name in args:
            value, source = args[param.name]
            where = f"spec.hooks.exit argument {param.name!r}"
            inputs[param.name] = call_text(value, scope, w.params, source, where)
        elif isinstance(param.default, str):
            inputs[param.name] = param.default
        else:
            message = f"exit handler template {name!r}: input {param.name!r} has no value"
            raise fail(param.source, message)
    kind = template_kind(template)
    if kind in ("dag", "steps"):
        scope = Scope(
            "tasks" if kind == "dag" else "steps",
            inputs,
            finally_=True,
            exported=w.exported,
            known=w.known,
        )
        group(w, template, Frame("", scope, [], [], w.main))
        return
    leaf = build_leaf(w, w.main, template)
    bound = {p: v for p, v in inputs.items() if p in args}
    task = leaf_task(w, name, leaf, bound, [], [], None, hook.source, True)
    task.retry = template_retry(w, template)
    w.finally_tasks.append(task)
