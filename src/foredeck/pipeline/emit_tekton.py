"""IR -> a Tekton v1 `PipelineRun` manifest (`foredeck run --emit tekton`).

The run embeds everything (`pipelineSpec`, and a `taskSpec` per pipeline task), so the manifest
is self-contained: `kubectl create -f` is all a cluster needs. The IR's expression language is
Tekton's, so values pass through unchanged except where Kubernetes is stricter than the IR:

- task and step names must be DNS-1123 labels: they are lowercased and cleaned, and every
  `$(tasks.<name>...)` reference is rewritten to the new name;
- the `argo-outputs` step of a task converted from Argo copies files another step wrote; steps
  are separate containers in Tekton, so each such file's directory is an `emptyDir` mounted
  into every step of the task;
- pipeline workspaces are bound to a `volumeClaimTemplate` each;
- a step that runs a StepAction is inlined, or keeps its `ref` where inlining would lose the
  StepAction's object defaults (the StepAction then goes with the run, `emit.with_objects`);
- a sub-graph call is a child pipeline (`pipelineSpec` inline; alpha in Tekton), unless Tekton
  cannot run it: an Argo template, recursion, results read back, a matrix or retries over it;
- a dependency predicate becomes `runAfter` when it only says "after these went well";
  one that reads other outcomes is a compile error naming the task; `continue_on` both
  failures is `onError: continue`, one of them only is a compile error. The
  "continue" failure policy (Argo) has no Tekton form: independent branches stop at the first
  failure on Tekton, where an Argo dag would finish them;
- a stdout result that something reads is the step's `stdoutConfig` file; an exit-code result
  that something reads is a compile error; unread ones are left out.
"""

from __future__ import annotations

import json
import posixpath
import re
from typing import Any

from foredeck.pipeline import emit_kaniko as kaniko
from foredeck.pipeline import emit_tekton_pod as tekton_pod
from foredeck.pipeline import workflow_vars
from foredeck.pipeline.argo_only import refuse_for_tekton
from foredeck.pipeline.collector import COLLECT_STEP, parse_collector
from foredeck.pipeline.emit_names import run_metadata
from foredeck.pipeline.model import (
    Matrix,
    ParamSpec,
    ParamValue,
    Pipeline,
    PipelineRunSpec,
    PipelineTask,
    ResultSpec,
    Step,
    TaskRunSettings,
    TaskSpec,
    WhenExpression,
)
from foredeck.pipeline.predicates import AllOf, Is, done, render, tasks_of
from foredeck.pipeline.step_params import inline
from foredeck.pipeline.tekton.artifacts import folded_back
from foredeck.pipeline.validate import results_read, task_references
from foredeck.types import PipelineError

TEKTON_API = "tekton.dev/v1"
_CLAIM_SIZE = "1Gi"
_TASK_REF = re.compile(r"(\$\(\s*tasks\.)([^.()\s]+)(\.)")


def format_duration(seconds: float) -> str:
    """Go's `time.Duration` text (`1h0m0s`, `1m30s`, `2.5s`), which Tekton parses."""
    whole = int(seconds)
    frac = seconds - whole
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    sec_text = f"{secs + frac:g}s" if frac else f"{secs}s"
    if hours:
        return f"{hours}h{minutes}m{sec_text}"
    if minutes:
        return f"{minutes}m{sec_text}"
    return sec_text


def dns_label(name: str, taken: set[str]) -> str:
    """`name` as a DNS-1123 label unique among `taken` (which it is added to)."""
    base = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:57] or "task"
    label, n = base, 1
    while label in taken:
        n += 1
        label = f"{base}-{n}"
    taken.add(label)
    return label


def _rename(value: ParamValue, names: dict[str, str]) -> ParamValue:
    def one(text: str) -> str:
        return _TASK_REF.sub(lambda m: m.group(1) + names.get(m.group(2), m.group(2)) + ".", text)

    if isinstance(value, str):
        return one(value)
    if isinstance(value, list):
        return [one(v) for v in value]
    return {k: one(v) for k, v in value.items()}


def _param_specs(params: list[ParamSpec], where: str) -> list[dict[str, Any]]:
    """Tekton's rules for parameter names, which Argo's are not: a letter or `_` first, no
    `.` in an object's name, and no two names that differ only in case."""
    seen: dict[str, str] = {}
    for param in params:
        name = param.name
        dots = "." if param.type != "object" else ""
        if not re.fullmatch(rf"[A-Za-z_][-A-Za-z0-9_{dots}]*", name):
            why = "names begin with a letter or '_' and hold letters, digits, '-', '_'"
            why += ", '.'" if dots else " (no '.' for an object)"
            raise PipelineError(
                param.source,
                f"{where}: Tekton cannot express a parameter named {name!r} (Tekton {why})",
            )
        other = seen.setdefault(name.lower(), name)
        if other != name:
            raise PipelineError(
                param.source,
                f"{where}: Tekton cannot express parameters {other!r} and {name!r} side by"
                " side (Tekton parameter names ignore case)",
            )
    return [_param_spec(param) for param in params]


def _param_spec(param: ParamSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"name": param.name}
    if param.type != "string":
        out["type"] = param.type
    if param.default is not None:
        out["default"] = param.default
    if param.description:
        out["description"] = param.description
    if param.properties:
        out["properties"] = {key: {"type": "string"} for key in param.properties}
    if param.enum:
        out["enum"] = list(param.enum)
    return out


def _task_spec(spec: TaskSpec, read: set[str], where: str) -> dict[str, Any]:
    """`read`: the results of this task that something reads (stdout ones need a step's
    `stdoutConfig`; unread stdout and exit-code results are left out)."""
    if spec.resource is not None:
        why = "an Argo `resource` template (a Kubernetes object acted on) has no Tekton equal"
        raise PipelineError(spec.resource.source, f"{where}: {why}; emit Argo (--emit argo)")
    out: dict[str, Any] = {}
    if spec.description:
        out["description"] = spec.description
    if spec.params:
        out["params"] = _param_specs(spec.params, f"task {spec.name!r}")
    results = [r for r in spec.results if r.value_from == "file" or r.name in read]
    stdout = _stdout_paths(spec, results, where)
    if results:
        out["results"] = [
            {"name": r.name, **({"type": r.type} if r.type != "string" else {})}
            | ({"description": r.description} if r.description else {})
            | ({"default": r.default} if r.default is not None else {})
            for r in results
        ]
    if spec.workspaces:
        out["workspaces"] = [
            {"name": w.name, **({"optional": True} if w.optional else {})}
            | ({"description": w.description} if w.description else {})
            for w in spec.workspaces
        ]
    taken: set[str] = set()
    steps = []
    for step in kaniko.build_steps(spec):
        body = _step_body(step, dns_label(step.name, taken))
        if step.timeout is not None:
            body["timeout"] = format_duration(step.timeout)
        _step_extras(step, body)
        if step.name in stdout:
            body.setdefault("stdoutConfig", {"path": stdout[step.name]})
        steps.append(body)
    out["steps"] = steps
    if spec.sidecars:
        out["sidecars"] = tekton_pod.sidecars(spec, dns_label)
    _share_collected_files(spec, steps, out)
    kaniko.add_to_tekton(spec, out)
    return out


def _step_body(step: Step, name: str) -> dict[str, Any]:
    """A step's container. A step that runs a StepAction is inlined (the manifest stays
    self-contained), unless that would change what it does (`step_params.inline`): then it
    keeps its `ref` and `params`, and the StepAction is printed before the run."""
    if not step.action:
        return tekton_pod.container(step, name)
    try:
        return tekton_pod.container(inline(step, ""), name)
    except PipelineError:
        pass
    body: dict[str, Any] = {"name": name, "ref": {"name": step.action}}
    if step.params:
        body["params"] = [{"name": k, "value": v} for k, v in step.params.items()]
    return body


def _step_extras(step: Step, body: dict[str, Any]) -> None:
    """Tekton-only step fields, as they were written."""
    if step.display_name:
        body["displayName"] = step.display_name
    if step.on_error != "stopAndFail":
        body["onError"] = step.on_error  # `continue`, or the param that chooses
    if step.stdout_path is not None:
        body["stdoutConfig"] = {"path": step.stdout_path}
    if step.stderr_path is not None:
        body["stderrConfig"] = {"path": step.stderr_path}
    body.update(step.cluster)


def _run_settings(settings: TaskRunSettings) -> dict[str, Any]:
    """A `taskRunTemplate` or `taskRunSpecs` entry (without its pipelineTaskName)."""
    out: dict[str, Any] = {}
    for key, value in (
        ("serviceAccountName", settings.service_account),
        ("podTemplate", settings.pod_template),
        ("computeResources", settings.compute_resources),
        ("stepSpecs", settings.step_specs),
        ("sidecarSpecs", settings.sidecar_specs),
        ("metadata", settings.metadata),
    ):
        if value:
            out[key] = value
    if settings.timeout is not None:
        out["timeout"] = format_duration(settings.timeout)
    return out


def _stdout_paths(spec: TaskSpec, results: list[ResultSpec], where: str) -> dict[str, str]:
    """Step name -> the result file its stdout goes to (Tekton's `stdoutConfig`; unlike Argo's
    256 KiB tail, a Tekton result is capped at 4 KiB and keeps its trailing newline)."""
    paths: dict[str, str] = {}
    for result in results:
        if result.value_from == "file":
            continue
        if result.value_from == "exit-code":
            why = f"result {result.name!r} is a step's exit code, which Tekton has no result for"
            raise PipelineError(result.source, f"{where}: {why}")
        step = result.step or spec.steps[-1].name
        if step in paths:
            why = f"two results hold the stdout of step {step!r}"
            raise PipelineError(result.source, f"{where}: {why}")
        paths[step] = f"$(results.{result.name}.path)"
    return paths


def _share_collected_files(
    spec: TaskSpec, steps: list[dict[str, Any]], out: dict[str, Any]
) -> None:
    """Give the `argo-outputs` step the files the other steps wrote (an emptyDir per dir)."""
    if not spec.steps or spec.steps[-1].name != COLLECT_STEP:
        return
    collected = parse_collector(spec.steps[-1])
    if collected is None:
        return
    dirs = sorted(
        {posixpath.dirname(o.path) for o in collected if "$(" not in o.path and o.path[:1] == "/"}
    )
    dirs = [d for d in dirs if d != "/"]
    if not dirs:
        return
    names = [f"argo-outputs-{i}" for i in range(len(dirs))]
    out["volumes"] = [{"name": n, "emptyDir": {}} for n in names]
    for body in steps:
        body["volumeMounts"] = [
            {"name": n, "mountPath": d} for n, d in zip(names, dirs, strict=True)
        ]


def _matrix_values(values: list[str] | str, names: dict[str, str]) -> ParamValue:
    """A literal JSON array text (Argo `withParam: '[...]'`) is a plain array in Tekton."""
    if isinstance(values, str) and "$(" not in values:
        try:
            parsed = json.loads(values)
        except ValueError:
            parsed = None
        if isinstance(parsed, list):
            return [v if isinstance(v, str) else json.dumps(v) for v in parsed]
    return _rename(values, names)


def _matrix(matrix: Matrix, names: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if matrix.params:
        out["params"] = [
            {"name": k, "value": _matrix_values(v, names)} for k, v in matrix.params.items()
        ]
    if matrix.include:
        out["include"] = [
            {
                "name": f"include-{i}",
                "params": [{"name": k, "value": _rename(v, names)} for k, v in row.items()],
            }
            for i, row in enumerate(matrix.include)
        ]
        for i, guards in matrix.include_when.items():
            out["include"][i]["when"] = [
                {
                    "input": _rename(w.input, names),
                    "operator": w.operator,
                    "values": _rename(w.values, names),
                }
                for w in guards
            ]
    return out


_IGNORE_FAILURE = frozenset({"Failed", "Errored"})


def _outcome_guards(
    by_name: dict[str, PipelineTask], task: PipelineTask, where: str
) -> list[WhenExpression]:
    """Tekton runs a task once its runAfter tasks succeeded or were skipped by their `when`: a
    predicate must say that of each task it reads (`A`), or that one succeeded (`A.Succeeded`,
    which is also A's guards, copied: they skip the task where they skipped A). Returns the
    guards to copy; anything else is a compile error."""
    if task.continue_on and task.continue_on != _IGNORE_FAILURE:
        why = "`continueOn` of some failures only: a Tekton pipeline task's `onError: continue` "
        why += "ignores every failure (continue on both failed and error to use it)"
        raise PipelineError(task.source, f"{where}: {why}")
    if task.depends is None:
        return []
    terms = task.depends.operands if isinstance(task.depends, AllOf) else (task.depends,)
    guards: list[WhenExpression] = []
    for term in terms:
        if isinstance(term, Is) and term.outcome == "Succeeded" and term.task in by_name:
            guards.extend(w for w in by_name[term.task].when if w not in guards)
            continue
        names = tasks_of(term)
        if len(names) == 1 and term == done(names[0], by_name[names[0]].continue_on):
            continue
        why = f"depends `{render(task.depends)}`: Tekton runs a task only after its runAfter "
        why += "tasks succeed; a task that reads other outcomes must be a finally task "
        why += "with `when: $(tasks.T.status)`"
        raise PipelineError(task.source, f"{where}: {why}")
    return [g for g in guards if g not in task.when]


def _pipeline_task(
    p: Pipeline,
    task: PipelineTask,
    names: dict[str, str],
    read: dict[str, set[str]],
    stack: tuple[str, ...],
) -> dict[str, Any]:
    where = f"task {task.name!r}"
    by_name = {t.name: t for t in p.all_tasks()} if task.depends else {}
    guards = [*task.when, *_outcome_guards(by_name, task, where)]
    out: dict[str, Any] = {"name": names[task.name]}
    params = task.params
    if task.graph_ref is not None:
        out["pipelineSpec"] = _child_pipeline(p, task, read, stack)
    else:
        params, spec = folded_back(task, p.spec_of(task))  # artifact references, as written
        out["taskSpec"] = _task_spec(spec, read.get(task.name, set()), where)
    if params:
        out["params"] = [{"name": k, "value": _rename(v, names)} for k, v in params.items()]
    if task.matrix is not None:
        out["matrix"] = _matrix(task.matrix, names)
    if task.run_after:
        out["runAfter"] = [names[n] for n in task.run_after]
    if guards:
        out["when"] = [
            {"cel": _rename(w.cel, names)}
            if w.cel
            else {
                "input": _rename(w.input, names),
                "operator": w.operator,
                "values": _rename(w.values, names),
            }
            for w in guards
        ]
    if task.continue_on:  # `_outcome_guards` let through only what onError can say
        out["onError"] = "continue"
    if task.retries:
        out["retries"] = task.retries
    retry = task.retry
    if task.retries and retry is not None and retry.policy in ("OnError", "OnTransientError"):
        why = f"retryPolicy {retry.policy}: Tekton retries every failed attempt"
        raise PipelineError(task.source, f"task {task.name!r}: {why}")
    if task.retries and retry is not None and retry.expression is not None:
        why = f"retryStrategy.expression {retry.expression!r}: Tekton retries every failed attempt"
        raise PipelineError(task.source, f"task {task.name!r}: {why}")
    if task.retries and retry is not None and retry.backoff:
        why = "a retry backoff: Tekton retries at once"
        raise PipelineError(task.source, f"task {task.name!r}: {why}")
    if task.timeout is not None:
        out["timeout"] = format_duration(task.timeout)
    if task.workspaces:
        out["workspaces"] = [
            {"name": k, "workspace": v}
            | ({"subPath": task.workspace_sub_paths[k]} if k in task.workspace_sub_paths else {})
            for k, v in task.workspaces.items()
        ]
    return out


def _child_pipeline(
    p: Pipeline, task: PipelineTask, read: dict[str, set[str]], stack: tuple[str, ...]
) -> dict[str, Any]:
    """A sub-graph call as Tekton's pipelines in pipelines (alpha: the cluster needs
    `enable-api-fields: alpha`): the graph's `pipelineSpec`, inline. What Tekton's child
    pipelines cannot do is a compile error naming the task."""
    graph = p.graph_of(task)
    key = str(task.graph_ref)
    where = f"task {task.name!r} calls {key!r}"
    if graph.failure_policy == "continue":  # an Argo template: its failure rules differ
        why = "Tekton cannot run a sub-graph"
        why += " (a looped or recursive dag/steps call, or an exit hook)"
        raise PipelineError(task.source, f"{where}: {why}")
    if key in stack:
        why = "a pipeline that runs itself: Tekton fails a recursive child pipeline"
        raise PipelineError(task.source, f"{where}: {why}")
    if read.get(task.name):
        results = ", ".join(sorted(read[task.name]))
        why = (
            f"its results ({results}) are read, and Tekton passes no child pipeline's results back"
        )
        raise PipelineError(task.source, f"{where}: {why}")
    if task.matrix is not None or task.retries:
        why = "a matrix or retries over a child pipeline are not emitted to Tekton"
        raise PipelineError(task.source, f"{where}: {why}")
    return _pipeline_body(graph, (*stack, key))


def _pipeline_body(p: Pipeline, stack: tuple[str, ...] = ()) -> dict[str, Any]:
    """A `pipelineSpec`: the run's pipeline, or (in `stack`) a child pipeline it runs."""
    _refuse_sub_graphs(p)
    refuse_for_tekton(p)
    taken: set[str] = set()
    names = {t.name: dns_label(t.name, taken) for t in p.all_tasks()}
    pipeline_spec: dict[str, Any] = {}
    if p.description:
        pipeline_spec["description"] = p.description
    if p.params:
        pipeline_spec["params"] = _param_specs(p.params, f"pipeline {p.name!r}")
    if p.workspaces:
        pipeline_spec["workspaces"] = [
            {"name": w.name, **({"optional": True} if w.optional else {})} for w in p.workspaces
        ]
    read = results_read(p)
    pipeline_spec["tasks"] = [_pipeline_task(p, t, names, read, stack) for t in p.tasks]
    if p.finally_tasks:
        pipeline_spec["finally"] = [
            _pipeline_task(p, t, names, read, stack) for t in p.finally_tasks
        ]
    for limit, what in ((p.parallelism, "parallelism"), (p.pod_limit, "spec.parallelism")):
        if limit is not None:  # after the tasks: what they cannot express is named first
            why = f"Argo's {what} ({limit} at once) has no Tekton equal"
            raise PipelineError(p.source, f"pipeline {p.name!r}: {why}")
    if p.results:
        pipeline_spec["results"] = [
            {"name": r.name, "value": _rename(r.value, names)} for r in p.results
        ]
    return pipeline_spec


def _refuse_sub_graphs(p: Pipeline) -> None:
    """What Argo front-end constructs Tekton cannot hold: Argo's workflow variables, a loop
    ignoring its item, a `when` over the item, a loop over a run-time list."""
    for task in p.all_tasks():
        if task.graph_ref is None and p.spec_of(task).http is not None:
            why = "an Argo `http` template (a request Argo's agent makes) has no Tekton equal"
            raise PipelineError(task.source, f"task {task.name!r}: {why}; emit it to Argo")
        if task.graph_ref is None and p.spec_of(task).daemon:
            why = "a daemon (a service running until its scope ends) has no Tekton equal"
            raise PipelineError(task.source, f"task {task.name!r}: {why}; use a sidecar")
        if task.trigger is not None:
            why = "a lifecycle hook (runs when an expression over live statuses holds)"
            raise PipelineError(task.source, f"task {task.name!r}: {why} has no Tekton equal")
        matrix = task.matrix
        if task.item_when:
            why = "a `when` over the loop item (Tekton guards a matrix task as a whole)"
            raise PipelineError(task.source, f"task {task.name!r}: {why}")
        if matrix is not None and matrix.items is not None:
            why = "a loop over a run-time list of items (Argo's withParam) has no Tekton equal"
            raise PipelineError(task.source, f"task {task.name!r}: {why}")
        if matrix is not None and not matrix.params and not all(matrix.include):
            why = "a loop whose arguments ignore the item has no Tekton matrix equal"
            raise PipelineError(task.source, f"task {task.name!r}: {why}")
        for ref in task_references(task):
            if ref.path in workflow_vars.CONTEXT:
                why = (
                    f"{ref.text} (Argo's workflow.{ref.path.split('.', 2)[2]}) has no Tekton equal"
                )
                raise PipelineError(task.source, f"task {task.name!r}: {why}")


def emit_tekton(run: PipelineRunSpec) -> dict[str, Any]:
    """A Tekton v1 `PipelineRun` (as a dict ready for YAML) that runs `run` on a cluster."""
    p = run.pipeline
    pipeline_spec = _pipeline_body(p)
    taken: set[str] = set()
    names = {t.name: dns_label(t.name, taken) for t in p.all_tasks()}  # as `_pipeline_body`
    spec: dict[str, Any] = {}
    declared = {param.name for param in p.params}
    for name in run.params:
        if name not in declared:
            raise PipelineError(p.source, f"pipeline {p.name!r} has no param {name!r}")
    if run.params:
        spec["params"] = [{"name": k, "value": v} for k, v in run.params.items()]
    spec["pipelineSpec"] = pipeline_spec
    timeouts = {
        key: format_duration(value)
        for key, value in (
            ("pipeline", p.timeout),
            ("tasks", p.tasks_timeout),
            ("finally", p.finally_timeout),
        )
        if value is not None
    }
    if timeouts:
        spec["timeouts"] = timeouts
    if p.task_run_template is not None and _run_settings(p.task_run_template):
        template = _run_settings(p.task_run_template)
        spec["taskRunTemplate"] = {
            k: v for k, v in template.items() if k in ("serviceAccountName", "podTemplate")
        }
    if p.task_run_specs:
        spec["taskRunSpecs"] = [
            {"pipelineTaskName": names.get(task, task), **_run_settings(settings)}
            for task, settings in p.task_run_specs.items()
        ]
    tekton_pod.add_settings(spec, p, names)
    bindings = [
        {"name": w.name, "configMap": p.config_map_workspaces[w.name].raw}
        if w.name in p.config_map_workspaces
        else {
            "name": w.name,
            "volumeClaimTemplate": {
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": _CLAIM_SIZE}},
                }
            },
        }
        for w in p.workspaces
        if w.name not in p.unbound_workspaces  # optional, and the run bound none
    ]
    if bindings:
        spec["workspaces"] = bindings
    metadata = run_metadata(run, lambda base: dns_label(base, set()))
    return {"apiVersion": TEKTON_API, "kind": "PipelineRun", "metadata": metadata, "spec": spec}
