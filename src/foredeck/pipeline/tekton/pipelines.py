"""Tekton `Pipeline`s (and inline `pipelineSpec`s) into the IR: tasks, finally, results.

Tekton propagates params and workspaces: an inline `taskSpec` may use the pipeline's without
declaring them. `_propagate` makes that explicit in the IR (declared on the task, bound by the
pipeline task), so that validation and every back end see plain declarations; so does
`result_refs` for the results of earlier tasks its steps read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from foredeck.pipeline.expressions import references
from foredeck.pipeline.leases import pipeline_leases
from foredeck.pipeline.model import (
    Matrix,
    ParamSpec,
    ParamType,
    ParamValue,
    Pipeline,
    PipelineResult,
    PipelineTask,
    WhenExpression,
    WorkspaceDecl,
    value_type,
)
from foredeck.pipeline.predicates import NO_CONTINUE, ContinueOn
from foredeck.pipeline.tekton.artifacts import artifact_params
from foredeck.pipeline.tekton.cel import cel_guard
from foredeck.pipeline.tekton.child_pipelines import (
    inline_key,
    pipeline_ref,
    refuse_child_results,
)
from foredeck.pipeline.tekton.fields import (
    as_map,
    bool_field,
    check_fields,
    doc_spec,
    map_list,
    metadata_name,
    name_of,
    name_values,
    param_value,
    str_field,
    str_list,
    timeout_field,
)
from foredeck.pipeline.tekton.result_refs import bind_result_refs
from foredeck.pipeline.tekton.tasks import param_specs, task_spec
from foredeck.types import PipelineError, Source
from foredeck.yamlsrc import SourceMap

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


_PIPELINE_SPEC_FIELDS = (
    "params",
    "workspaces",
    "tasks",
    "finally",
    "results",
    "description",
    "displayName",
)


_PIPELINE_WORKSPACE_FIELDS = ("name", "description", "optional")


_PIPELINE_RESULT_FIELDS = ("name", "type", "description", "value")


_PIPELINE_TASK_FIELDS = (
    "name",
    "displayName",
    "description",
    "taskRef",
    "taskSpec",
    "pipelineRef",
    "pipelineSpec",
    "params",
    "runAfter",
    "when",
    "retries",
    "timeout",
    "matrix",
    "workspaces",
    "onError",
)

# `onError: continue` (TEP-0050): Tekton ignores every failure of the task's TaskRun, a
# non-zero exit or not: the run does not fail, dependents run (reason `FailureIgnored`).
_IGNORE_FAILURE: ContinueOn = frozenset({"Failed", "Errored"})


def _on_error(task: SourceMap, what: str) -> ContinueOn:
    """A pipeline task's `onError` as the outcomes it continues on."""
    value = task.get("onError", "stopAndFail")
    if value not in ("continue", "stopAndFail"):
        why = f"{what}: 'onError' must be 'continue' or 'stopAndFail', not {value!r}"
        raise PipelineError(task.at("onError"), why)
    return _IGNORE_FAILURE if value == "continue" else NO_CONTINUE


def _task_ref(task: SourceMap, what: str) -> str:
    ref = as_map(task["taskRef"], task.at("taskRef"), f"{what} 'taskRef'")
    for key in ("resolver", "params"):
        if key in ref:
            raise PipelineError(ref.at(key), f"{what}: remote resolution ('{key}') not supported")
    check_fields(ref, ("name", "kind", "apiVersion"), f"{what} taskRef")
    if "apiVersion" in ref:
        raise PipelineError(ref.at("apiVersion"), f"{what}: custom tasks are not supported")
    kind = str_field(ref, "kind", f"{what} taskRef")
    if kind not in (None, "Task", "task"):  # Tekton reads any other as a Task too
        raise PipelineError(ref.at("kind"), f"{what}: taskRef kind {kind!r} not supported (Task)")
    return name_of(ref, f"{what} taskRef")


def _when(task: SourceMap, what: str) -> list[WhenExpression]:
    out: list[WhenExpression] = []
    for item in map_list(task, "when", what):
        if "cel" in item:
            check_fields(item, ("cel",), f"{what} when")
            text = str_field(item, "cel", f"{what} when", required=True)
            assert text is not None
            out.append(cel_guard(text, item.source, what))
            continue
        check_fields(item, ("input", "operator", "values"), f"{what} when")
        operator = str_field(item, "operator", f"{what} when", required=True)
        if operator not in ("in", "notin"):
            raise PipelineError(
                item.at("operator"), f"{what}: when operator {operator!r} is not 'in' or 'notin'"
            )
        values = str_list(item, "values", f"{what} when")
        if not values:
            raise PipelineError(item.at("values"), f"{what}: when 'values' must not be empty")
        text = str_field(item, "input", f"{what} when", required=True)
        assert text is not None
        out.append(WhenExpression(text, "in" if operator == "in" else "notin", values, item.source))
    return out


def _matrix(task: SourceMap, what: str) -> Matrix:
    m = as_map(task["matrix"], task.at("matrix"), f"{what} 'matrix'")
    check_fields(m, ("params", "include"), f"{what} matrix")
    params, sources = name_values(m, "params", f"{what} matrix")
    matrix = Matrix()
    for name, value in params.items():
        if isinstance(value, dict):
            raise PipelineError(
                sources[name], f"{what}: matrix param {name!r} must be an array or an expression"
            )
        matrix.params[name] = value
    for item in map_list(m, "include", f"{what} matrix"):
        check_fields(item, ("name", "params", "when"), f"{what} matrix include")
        if "when" in item:
            matrix.include_when[len(matrix.include)] = _when(item, f"{what} matrix include")
        values, isources = name_values(item, "params", f"{what} matrix include")
        combo: dict[str, str] = {}
        for name, value in values.items():
            if not isinstance(value, str):
                raise PipelineError(
                    isources[name], f"{what}: matrix include param {name!r} must be a string"
                )
            combo[name] = value
        matrix.include.append(combo)
    if not matrix.params and not matrix.include:
        raise PipelineError(m.source, f"{what}: matrix has neither params nor include")
    return matrix


_RUNS = ("taskRef", "taskSpec", "pipelineRef", "pipelineSpec")


def _what_runs(
    task: SourceMap, result: PipelineTask, graphs: dict[str, Pipeline], parent: str, what: str
) -> None:
    """The task's Task (by reference or inline), or the child Pipeline it runs (alpha)."""
    given = [key for key in _RUNS if key in task]
    if len(given) != 1:
        raise PipelineError(task.source, f"{what}: needs exactly one of {', '.join(_RUNS)}")
    if "taskRef" in task:
        result.task_ref = _task_ref(task, what)
    elif "pipelineRef" in task:
        result.graph_ref = pipeline_ref(task, what)
    elif "pipelineSpec" in task:
        key = inline_key(parent, result.name)
        spec = as_map(task["pipelineSpec"], task.at("pipelineSpec"), f"{what} 'pipelineSpec'")
        # Embedded in the child PipelineRun, which the task's params and workspaces bind:
        # they propagate into it, as a PipelineRun's into its inline pipelineSpec.
        params, sources = name_values(task, "params", what)
        propagated = {k: (v, sources[k]) for k, v in params.items()}
        bound = {w.get("name"): w.source for w in map_list(task, "workspaces", what)}
        workspaces = {k: v for k, v in bound.items() if isinstance(k, str)}
        child = pipeline_spec(spec, key, f"{what} pipelineSpec", propagated, workspaces)
        graphs.update(child.graph_library)
        child.graph_library = {}
        graphs[key] = child
        result.graph_ref = key
    else:
        spec = as_map(task["taskSpec"], task.at("taskSpec"), f"{what} 'taskSpec'")
        for key in ("apiVersion", "kind", "spec"):
            if key in spec:
                raise PipelineError(spec.at(key), f"{what}: custom tasks are not supported")
        result.task_spec = task_spec(spec, result.name, f"{what} taskSpec", extra=("metadata",))


def _pipeline_task(
    task: SourceMap, finally_: bool, graphs: dict[str, Pipeline], parent: str
) -> PipelineTask:
    group = "finally task" if finally_ else "task"
    name = name_of(task, f"pipeline {group}")
    what = f"{group} {name!r}"
    if not _DNS_LABEL.fullmatch(name) or len(name) > 63:
        raise PipelineError(
            task.at("name"),
            f"{what}: name must be a DNS-1123 label (lowercase letters, digits and '-')",
        )
    check_fields(task, _PIPELINE_TASK_FIELDS, what)
    result = PipelineTask(name=name, source=task.source)
    _what_runs(task, result, graphs, parent, what)
    result.params, _ = name_values(task, "params", what)
    result.run_after = str_list(task, "runAfter", what)
    result.when = _when(task, what)
    if "retries" in task:
        retries = task["retries"]
        if not isinstance(retries, int) or isinstance(retries, bool):
            raise PipelineError(task.at("retries"), f"{what}: 'retries' must be an integer")
        result.retries = retries
        if retries and result.graph_ref is not None:
            why = "'retries' of a child pipeline (pipelineRef/pipelineSpec) are not supported"
            raise PipelineError(task.at("retries"), f"{what}: {why}")
    result.timeout = timeout_field(task, "timeout", what)
    result.continue_on = _on_error(task, what)
    if "matrix" in task:
        result.matrix = _matrix(task, what)
    for item in map_list(task, "workspaces", what):
        wname = name_of(item, f"{what} workspace")
        check_fields(item, ("name", "workspace", "subPath"), f"{what} workspace {wname!r}")
        if wname in result.workspaces:
            raise PipelineError(item.at("name"), f"{what}: duplicate workspace {wname!r}")
        result.workspaces[wname] = str_field(item, "workspace", what) or wname
        sub_path = str_field(item, "subPath", f"{what} workspace {wname!r}")
        if sub_path:
            result.workspace_sub_paths[wname] = sub_path
    return result


def _passed_type(value: ParamValue, params: Mapping[str, ParamSpec]) -> ParamType:
    """The type of a value passed to an undeclared param: a lone `$(x[*])` is an array (or
    the object a pipeline param `x` is)."""
    if not isinstance(value, str):
        return value_type(value)
    refs = references(value)
    if len(refs) == 1 and refs[0].star and value.strip() == refs[0].text:
        parts = refs[0].parts
        outer = params.get(parts[1]) if parts[0] == "params" and len(parts) == 2 else None
        return "object" if outer is not None and outer.type == "object" else "array"
    return "string"


def _merged(value: ParamValue, outer: ParamSpec | None) -> ParamValue:
    """A pipeline task's object value over the pipeline's object param of the same name, as
    Tekton merges propagated objects: the keys it does not give read the pipeline's."""
    if not isinstance(value, dict) or outer is None or outer.type != "object":
        return value
    missing = [key for key in outer.properties if key not in value]
    return {**{key: f"$(params.{outer.name}.{key})" for key in missing}, **value}


def _propagate(pipeline: Pipeline) -> None:
    """Tekton's propagated params and workspaces: an inline taskSpec may use the pipeline's
    params and workspaces without declaring them; make that explicit in the IR."""
    params = {p.name: p for p in pipeline.params}
    workspaces = {w.name: w for w in pipeline.workspaces}
    for task in pipeline.all_tasks():
        spec = task.task_spec
        if spec is None:
            continue
        artifact_params(task, spec)
        declared = {p.name for p in spec.params}
        declared_ws = {w.name for w in spec.workspaces}
        texts = [text for step in spec.steps for text in step.texts()]
        if spec.build is not None:
            texts.extend(spec.build.texts())
        if texts:
            for ref in references(texts):
                parts = ref.parts
                if len(parts) < 2:
                    continue
                if parts[0] == "params" and parts[1] not in declared and parts[1] in task.params:
                    # Passed by the pipeline task but not declared by its embedded spec; an
                    # object keeps the keys of the pipeline's own it does not give.
                    value = task.params[parts[1]] = _merged(
                        task.params[parts[1]], params.get(parts[1])
                    )
                    passed = ParamSpec(parts[1], _passed_type(value, params), source=task.source)
                    spec.params.append(passed)
                    declared.add(parts[1])
                elif parts[0] == "params" and parts[1] not in declared and parts[1] in params:
                    outer = params[parts[1]]
                    spec.params.append(ParamSpec(outer.name, outer.type, source=outer.source))
                    declared.add(outer.name)
                    if outer.name not in task.params:
                        task.params[outer.name] = (
                            f"$(params.{outer.name}[*])"
                            if outer.type != "string"
                            else f"$(params.{outer.name})"
                        )
                elif (
                    parts[0] == "workspaces"
                    and parts[1] not in declared_ws
                    and parts[1] in workspaces
                ):
                    outer_ws = workspaces[parts[1]]
                    spec.workspaces.append(
                        WorkspaceDecl(outer_ws.name, outer_ws.optional, source=outer_ws.source)
                    )
                    declared_ws.add(outer_ws.name)
                    task.workspaces.setdefault(outer_ws.name, outer_ws.name)


def pipeline_spec(
    spec: SourceMap,
    name: str,
    what: str,
    propagated: Mapping[str, tuple[ParamValue, Source]] | None = None,
    workspaces: Mapping[str, Source] | None = None,
) -> Pipeline:
    """A Pipeline's `spec` (or a PipelineRun's inline `pipelineSpec`, whose run params and
    `workspaces` are propagated: usable without being declared, as in Tekton)."""
    check_fields(spec, _PIPELINE_SPEC_FIELDS, what)
    pipeline = Pipeline(name=name, tasks=[], source=spec.source)
    pipeline.params = param_specs(spec, what)
    if propagated:
        declared = {p.name for p in pipeline.params}
        for pname, (value, source) in propagated.items():
            if pname not in declared:
                keys = list(value) if isinstance(value, dict) else []
                typed = ParamSpec(pname, value_type(value), source=source, properties=keys)
                pipeline.params.append(typed)
    for item in map_list(spec, "workspaces", what):
        wname = name_of(item, f"{what} workspace")
        check_fields(item, _PIPELINE_WORKSPACE_FIELDS, f"{what} workspace {wname!r}")
        pipeline.workspaces.append(
            WorkspaceDecl(
                wname,
                bool_field(item, "optional", f"{what} workspace {wname!r}"),
                str_field(item, "description", what) or "",
                item.source,
            )
        )
    declared_ws = {w.name for w in pipeline.workspaces}
    for wname, source in (workspaces or {}).items():
        if wname not in declared_ws:
            pipeline.workspaces.append(WorkspaceDecl(wname, source=source))
    graphs = pipeline.graph_library  # inline child pipelines, by `inline_key`
    tasks = map_list(spec, "tasks", what)
    pipeline.tasks = [_pipeline_task(t, False, graphs, name) for t in tasks]
    finals = map_list(spec, "finally", what)
    pipeline.finally_tasks = [_pipeline_task(t, True, graphs, name) for t in finals]
    for item in map_list(spec, "results", what):
        rname = name_of(item, f"{what} result")
        rwhat = f"{what} result {rname!r}"
        check_fields(item, _PIPELINE_RESULT_FIELDS, rwhat)
        if "value" not in item:
            raise PipelineError(item.source, f"{rwhat}: missing required field 'value'")
        value = param_value(item["value"], item.at("value"), rwhat)
        pipeline.results.append(
            PipelineResult(rname, value, str_field(item, "description", rwhat) or "", item.source)
        )
    pipeline.description = str_field(spec, "description", what) or ""
    bind_result_refs(pipeline)
    _propagate(pipeline)
    refuse_child_results(pipeline)
    return pipeline


def parse_pipeline(doc: SourceMap) -> Pipeline:
    name = metadata_name(doc, "Pipeline")
    pipeline = pipeline_spec(doc_spec(doc, "Pipeline", name), name, f"Pipeline {name!r}")
    pipeline.leases = pipeline_leases(doc.get("metadata"), doc.source)
    return pipeline
