"""Tekton v1 front end: `Task`, `Pipeline` and `PipelineRun` documents into the IR.

Strict on purpose: a field that would change what runs but that the IR cannot express (sidecars,
volumes, `onError`, remote resolution, ...) is an error naming the field and its file:line rather
than being silently dropped, so a pipeline never runs differently here than on a cluster. Purely
descriptive fields (metadata, description, displayName) are accepted.

Cross-document concerns (which pipeline runs, params from the command line) live in `load.py`;
semantic checks that every front end shares live in `validate.py`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from foredeck.pipeline.durations import parse_timeout
from foredeck.pipeline.expressions import references
from foredeck.pipeline.model import (
    Matrix,
    ParamSpec,
    ParamType,
    ParamValue,
    Pipeline,
    PipelineResult,
    PipelineTask,
    ResultSpec,
    Step,
    TaskSpec,
    WhenExpression,
    WorkspaceDecl,
)
from foredeck.types import UNKNOWN, PipelineError, Source
from foredeck.yamlsrc import Document, SourceMap

API_VERSION = "tekton.dev/v1"
KINDS = ("Task", "Pipeline", "PipelineRun")

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_TOP_FIELDS = ("apiVersion", "kind", "metadata", "spec")
_TASK_SPEC_FIELDS = (
    "params",
    "results",
    "workspaces",
    "steps",
    "stepTemplate",
    "description",
    "displayName",
)
_STEP_FIELDS = (
    "name",
    "image",
    "command",
    "args",
    "script",
    "env",
    "workingDir",
    "timeout",
    "imagePullPolicy",
    "computeResources",
)
_STEP_TEMPLATE_FIELDS = ("image", "env", "workingDir", "imagePullPolicy", "computeResources")
_PARAM_FIELDS = ("name", "type", "default", "description", "properties")
_RESULT_FIELDS = ("name", "type", "description", "properties")
_TASK_WORKSPACE_FIELDS = ("name", "description", "optional", "readOnly")
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
    "params",
    "runAfter",
    "when",
    "retries",
    "timeout",
    "matrix",
    "workspaces",
)
_RUN_SPEC_FIELDS = ("pipelineRef", "pipelineSpec", "params", "timeouts", "workspaces")
_TIMEOUT_FIELDS = ("pipeline", "tasks", "finally")


@dataclass
class TektonRun:
    """A parsed `PipelineRun`: which pipeline (by name or inline), with which values."""

    name: str
    pipeline_ref: str | None
    pipeline: Pipeline | None
    params: dict[str, ParamValue]
    param_sources: dict[str, Source]
    timeout: float | None = None
    tasks_timeout: float | None = None
    finally_timeout: float | None = None
    source: Source = UNKNOWN
    ref_source: Source = UNKNOWN


@dataclass
class TektonDocuments:
    tasks: list[TaskSpec] = field(default_factory=list)
    pipelines: list[Pipeline] = field(default_factory=list)
    runs: list[TektonRun] = field(default_factory=list)


# --- small typed accessors: every failure names the field and where it was written ---


def _mapping(value: Any, where: Source, what: str) -> SourceMap:
    if not isinstance(value, SourceMap):
        raise PipelineError(where, f"{what} must be a mapping, got {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"{type(value).__name__} {value!r}"


def _check_fields(m: SourceMap, allowed: Iterable[str], what: str) -> None:
    allowed = tuple(allowed)
    for key in m:
        if key not in allowed:
            raise PipelineError(
                m.at(key),
                f"{what}: unsupported field {key!r} (supported: {', '.join(allowed)})",
            )


def _scalar(value: Any) -> str | None:
    """A YAML scalar as Tekton sees it (`true` and `3` are strings to a Task)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return None


def _str(m: SourceMap, key: str, what: str, *, required: bool = False) -> str | None:
    value = m.get(key)
    if value is None:
        if required:
            raise PipelineError(m.source, f"{what}: missing required field {key!r}")
        return None
    text = _scalar(value)
    if text is None:
        raise PipelineError(m.at(key), f"{what}: {key!r} must be a string, got {_kind(value)}")
    return text


def _name(m: SourceMap, what: str) -> str:
    name = _str(m, "name", what, required=True)
    assert name is not None
    if not name:
        raise PipelineError(m.at("name"), f"{what}: 'name' must not be empty")
    return name


def _str_list(m: SourceMap, key: str, what: str) -> list[str]:
    value = m.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise PipelineError(m.at(key), f"{what}: {key!r} must be a list, got {_kind(value)}")
    out: list[str] = []
    for item in value:
        text = _scalar(item)
        if text is None:
            raise PipelineError(
                m.at(key), f"{what}: {key!r} items must be strings, got {_kind(item)}"
            )
        out.append(text)
    return out


def _maps(m: SourceMap, key: str, what: str) -> list[SourceMap]:
    value = m.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise PipelineError(m.at(key), f"{what}: {key!r} must be a list, got {_kind(value)}")
    out: list[SourceMap] = []
    for item in value:
        if not isinstance(item, SourceMap):
            raise PipelineError(
                m.at(key), f"{what}: {key!r} items must be mappings, got {_kind(item)}"
            )
        out.append(item)
    return out


def _bool(m: SourceMap, key: str, what: str) -> bool:
    value = m.get(key, False)
    if not isinstance(value, bool):
        raise PipelineError(m.at(key), f"{what}: {key!r} must be true or false")
    return value


def _timeout(m: SourceMap, key: str, what: str) -> float | None:
    value = m.get(key)
    if value is None:
        return None
    try:
        return parse_timeout(value)
    except ValueError as exc:
        raise PipelineError(m.at(key), f"{what}: {key!r}: {exc}") from None


def _param_value(value: Any, where: Source, what: str) -> ParamValue:
    text = _scalar(value)
    if text is not None:
        return text
    if isinstance(value, list):
        items = [_scalar(item) for item in value]
        if any(item is None for item in items):
            raise PipelineError(where, f"{what}: array items must be strings")
        return cast(list[str], items)
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for key, item in value.items():
            text = _scalar(item)
            if text is None:
                raise PipelineError(where, f"{what}: object values must be strings")
            out[key] = text
        return out
    raise PipelineError(where, f"{what}: value must be a string, an array or an object")


def _value_type(value: ParamValue) -> ParamType:
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


def _type(m: SourceMap, what: str, default: ParamValue | None) -> ParamType:
    declared = _str(m, "type", what)
    if declared is None:
        if default is not None:
            return _value_type(default)
        return "object" if m.get("properties") is not None else "string"
    if declared not in ("string", "array", "object"):
        raise PipelineError(
            m.at("type"), f"{what}: type {declared!r} is not one of string, array, object"
        )
    return cast(ParamType, declared)


def _name_value_list(
    m: SourceMap, key: str, what: str
) -> tuple[dict[str, ParamValue], dict[str, Source]]:
    """Tekton's `[{name, value}]` lists (task params, run params, matrix params)."""
    values: dict[str, ParamValue] = {}
    sources: dict[str, Source] = {}
    for item in _maps(m, key, what):
        _check_fields(item, ("name", "value"), f"{what} param")
        name = _name(item, f"{what} param")
        if name in values:
            raise PipelineError(item.at("name"), f"{what}: duplicate param {name!r}")
        if "value" not in item:
            raise PipelineError(item.source, f"{what}: param {name!r} has no 'value'")
        values[name] = _param_value(item["value"], item.at("value"), f"{what} param {name!r}")
        sources[name] = item.source
    return values, sources


# --- Task ---


def _params(m: SourceMap, what: str) -> list[ParamSpec]:
    out: list[ParamSpec] = []
    for item in _maps(m, "params", what):
        _check_fields(item, _PARAM_FIELDS, f"{what} param")
        name = _name(item, f"{what} param")
        pwhat = f"{what} param {name!r}"
        default = None
        if "default" in item and item["default"] is not None:
            default = _param_value(item["default"], item.at("default"), pwhat)
        ptype = _type(item, pwhat, default)
        if default is not None and _value_type(default) != ptype:
            raise PipelineError(
                item.at("default"),
                f"{pwhat}: default is {_value_type(default)} but the param is {ptype}",
            )
        description = _str(item, "description", pwhat) or ""
        out.append(ParamSpec(name, ptype, default, description, item.source))
    return out


def _results(m: SourceMap, what: str) -> list[ResultSpec]:
    out: list[ResultSpec] = []
    for item in _maps(m, "results", what):
        _check_fields(item, _RESULT_FIELDS, f"{what} result")
        name = _name(item, f"{what} result")
        rwhat = f"{what} result {name!r}"
        rtype = _type(item, rwhat, None)
        out.append(ResultSpec(name, rtype, _str(item, "description", rwhat) or "", item.source))
    return out


def _env(m: SourceMap, what: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in _maps(m, "env", what):
        name = _name(item, f"{what} env")
        if "valueFrom" in item:
            raise PipelineError(
                item.at("valueFrom"),
                f"{what}: env {name!r}: 'valueFrom' is not supported (use 'value')",
            )
        _check_fields(item, ("name", "value"), f"{what} env {name!r}")
        env[name] = _str(item, "value", f"{what} env {name!r}") or ""
    return env


def _step(m: SourceMap, index: int, task: str, template: SourceMap | None) -> Step:
    name = _str(m, "name", f"Task {task!r} step {index}") or f"unnamed-{index}"
    what = f"Task {task!r} step {name!r}"
    _check_fields(m, _STEP_FIELDS, what)
    script = _str(m, "script", what)
    command = _str_list(m, "command", what)
    if script is not None and command:
        raise PipelineError(m.at("script"), f"{what}: 'script' cannot be used with 'command'")
    env: dict[str, str] = {}
    image = _str(m, "image", what)
    working_dir = _str(m, "workingDir", what)
    if template is not None:
        env.update(_env(template, f"Task {task!r} stepTemplate"))
        image = image or _str(template, "image", f"Task {task!r} stepTemplate")
        working_dir = working_dir or _str(template, "workingDir", f"Task {task!r} stepTemplate")
    env.update(_env(m, what))
    return Step(
        name=name,
        image=image or "",
        command=command,
        args=_str_list(m, "args", what),
        script=script,
        env=env,
        working_dir=working_dir,
        timeout=_timeout(m, "timeout", what),
        source=m.source,
    )


def _task_spec(spec: SourceMap, name: str, what: str, extra: tuple[str, ...] = ()) -> TaskSpec:
    _check_fields(spec, (*_TASK_SPEC_FIELDS, *extra), what)
    template = None
    if "stepTemplate" in spec:
        template = _mapping(spec["stepTemplate"], spec.at("stepTemplate"), f"{what} stepTemplate")
        _check_fields(template, _STEP_TEMPLATE_FIELDS, f"{what} stepTemplate")
    workspaces: list[WorkspaceDecl] = []
    for item in _maps(spec, "workspaces", what):
        wname = _name(item, f"{what} workspace")
        if "mountPath" in item:
            raise PipelineError(
                item.at("mountPath"),
                f"{what} workspace {wname!r}: 'mountPath' is not supported;"
                f" use $(workspaces.{wname}.path)",
            )
        _check_fields(item, _TASK_WORKSPACE_FIELDS, f"{what} workspace {wname!r}")
        workspaces.append(
            WorkspaceDecl(
                wname,
                _bool(item, "optional", f"{what} workspace {wname!r}"),
                _str(item, "description", what) or "",
                item.source,
            )
        )
    return TaskSpec(
        name=name,
        steps=[_step(step, i, name, template) for i, step in enumerate(_maps(spec, "steps", what))],
        params=_params(spec, what),
        results=_results(spec, what),
        workspaces=workspaces,
        description=_str(spec, "description", what) or "",
        source=spec.source,
    )


def _metadata_name(doc: SourceMap, kind: str, *, generate: bool = False) -> str:
    if "metadata" not in doc:
        raise PipelineError(doc.source, f"{kind}: missing 'metadata.name'")
    meta = _mapping(doc.get("metadata"), doc.at("metadata"), f"{kind} 'metadata'")
    name = _str(meta, "name", f"{kind} metadata")
    if name is None and generate:
        name = _str(meta, "generateName", f"{kind} metadata")
    if not name:
        raise PipelineError(meta.source, f"{kind}: missing 'metadata.name'")
    return name


def _spec(doc: SourceMap, kind: str, name: str) -> SourceMap:
    if "spec" not in doc:
        raise PipelineError(doc.source, f"{kind} {name!r}: missing 'spec'")
    return _mapping(doc["spec"], doc.at("spec"), f"{kind} {name!r} 'spec'")


def parse_task(doc: SourceMap) -> TaskSpec:
    name = _metadata_name(doc, "Task")
    return _task_spec(_spec(doc, "Task", name), name, f"Task {name!r}")


# --- Pipeline ---


def _task_ref(task: SourceMap, what: str) -> str:
    ref = _mapping(task["taskRef"], task.at("taskRef"), f"{what} 'taskRef'")
    for key in ("resolver", "params"):
        if key in ref:
            raise PipelineError(ref.at(key), f"{what}: remote resolution ('{key}') not supported")
    _check_fields(ref, ("name", "kind", "apiVersion"), f"{what} taskRef")
    if "apiVersion" in ref:
        raise PipelineError(ref.at("apiVersion"), f"{what}: custom tasks are not supported")
    kind = _str(ref, "kind", f"{what} taskRef")
    if kind not in (None, "Task"):
        raise PipelineError(ref.at("kind"), f"{what}: taskRef kind {kind!r} not supported (Task)")
    return _name(ref, f"{what} taskRef")


def _when(task: SourceMap, what: str) -> list[WhenExpression]:
    out: list[WhenExpression] = []
    for item in _maps(task, "when", what):
        if "cel" in item:
            raise PipelineError(
                item.at("cel"), f"{what}: 'when' with 'cel' is unsupported (use input/operator)"
            )
        _check_fields(item, ("input", "operator", "values"), f"{what} when")
        operator = _str(item, "operator", f"{what} when", required=True)
        if operator not in ("in", "notin"):
            raise PipelineError(
                item.at("operator"), f"{what}: when operator {operator!r} is not 'in' or 'notin'"
            )
        values = _str_list(item, "values", f"{what} when")
        if not values:
            raise PipelineError(item.at("values"), f"{what}: when 'values' must not be empty")
        text = _str(item, "input", f"{what} when", required=True)
        assert text is not None
        out.append(WhenExpression(text, "in" if operator == "in" else "notin", values, item.source))
    return out


def _matrix(task: SourceMap, what: str) -> Matrix:
    m = _mapping(task["matrix"], task.at("matrix"), f"{what} 'matrix'")
    _check_fields(m, ("params", "include"), f"{what} matrix")
    params, sources = _name_value_list(m, "params", f"{what} matrix")
    matrix = Matrix()
    for name, value in params.items():
        if isinstance(value, dict):
            raise PipelineError(
                sources[name], f"{what}: matrix param {name!r} must be an array or an expression"
            )
        matrix.params[name] = value
    for item in _maps(m, "include", f"{what} matrix"):
        _check_fields(item, ("name", "params"), f"{what} matrix include")
        values, isources = _name_value_list(item, "params", f"{what} matrix include")
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


def _pipeline_task(task: SourceMap, finally_: bool) -> PipelineTask:
    group = "finally task" if finally_ else "task"
    name = _name(task, f"pipeline {group}")
    what = f"{group} {name!r}"
    if not _DNS_LABEL.fullmatch(name) or len(name) > 63:
        raise PipelineError(
            task.at("name"),
            f"{what}: name must be a DNS-1123 label (lowercase letters, digits and '-')",
        )
    _check_fields(task, _PIPELINE_TASK_FIELDS, what)
    if ("taskRef" in task) == ("taskSpec" in task):
        raise PipelineError(task.source, f"{what}: needs exactly one of 'taskRef' or 'taskSpec'")
    result = PipelineTask(name=name, source=task.source)
    if "taskRef" in task:
        result.task_ref = _task_ref(task, what)
    else:
        spec = _mapping(task["taskSpec"], task.at("taskSpec"), f"{what} 'taskSpec'")
        for key in ("apiVersion", "kind", "spec"):
            if key in spec:
                raise PipelineError(spec.at(key), f"{what}: custom tasks are not supported")
        result.task_spec = _task_spec(spec, name, f"{what} taskSpec", extra=("metadata",))
    result.params, _ = _name_value_list(task, "params", what)
    result.run_after = _str_list(task, "runAfter", what)
    result.when = _when(task, what)
    if "retries" in task:
        retries = task["retries"]
        if not isinstance(retries, int) or isinstance(retries, bool):
            raise PipelineError(task.at("retries"), f"{what}: 'retries' must be an integer")
        result.retries = retries
    result.timeout = _timeout(task, "timeout", what)
    if "matrix" in task:
        result.matrix = _matrix(task, what)
    for item in _maps(task, "workspaces", what):
        wname = _name(item, f"{what} workspace")
        if "subPath" in item:
            raise PipelineError(item.at("subPath"), f"{what}: workspace 'subPath' not supported")
        _check_fields(item, ("name", "workspace"), f"{what} workspace {wname!r}")
        if wname in result.workspaces:
            raise PipelineError(item.at("name"), f"{what}: duplicate workspace {wname!r}")
        result.workspaces[wname] = _str(item, "workspace", what) or wname
    return result


def _step_values(step: Step) -> list[str]:
    values = [step.image, *step.command, *step.args, *step.env.values()]
    if step.script is not None:
        values.append(step.script)
    if step.working_dir is not None:
        values.append(step.working_dir)
    return values


def _propagate(pipeline: Pipeline) -> None:
    """Tekton's propagated params and workspaces: an inline taskSpec may use the pipeline's
    params and workspaces without declaring them; make that explicit in the IR."""
    params = {p.name: p for p in pipeline.params}
    workspaces = {w.name: w for w in pipeline.workspaces}
    for task in pipeline.all_tasks():
        spec = task.task_spec
        if spec is None:
            continue
        declared = {p.name for p in spec.params}
        declared_ws = {w.name for w in spec.workspaces}
        for step in spec.steps:
            for ref in references(_step_values(step)):
                parts = ref.parts
                if len(parts) < 2:
                    continue
                if parts[0] == "params" and parts[1] not in declared and parts[1] in params:
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


def _pipeline_spec(
    spec: SourceMap,
    name: str,
    what: str,
    propagated: Mapping[str, tuple[ParamValue, Source]] | None = None,
) -> Pipeline:
    _check_fields(spec, _PIPELINE_SPEC_FIELDS, what)
    pipeline = Pipeline(name=name, tasks=[], source=spec.source)
    pipeline.params = _params(spec, what)
    if propagated:
        declared = {p.name for p in pipeline.params}
        for pname, (value, source) in propagated.items():
            if pname not in declared:
                pipeline.params.append(ParamSpec(pname, _value_type(value), source=source))
    for item in _maps(spec, "workspaces", what):
        wname = _name(item, f"{what} workspace")
        _check_fields(item, _PIPELINE_WORKSPACE_FIELDS, f"{what} workspace {wname!r}")
        pipeline.workspaces.append(
            WorkspaceDecl(
                wname,
                _bool(item, "optional", f"{what} workspace {wname!r}"),
                _str(item, "description", what) or "",
                item.source,
            )
        )
    pipeline.tasks = [_pipeline_task(t, False) for t in _maps(spec, "tasks", what)]
    pipeline.finally_tasks = [_pipeline_task(t, True) for t in _maps(spec, "finally", what)]
    for item in _maps(spec, "results", what):
        rname = _name(item, f"{what} result")
        rwhat = f"{what} result {rname!r}"
        _check_fields(item, _PIPELINE_RESULT_FIELDS, rwhat)
        if "value" not in item:
            raise PipelineError(item.source, f"{rwhat}: missing required field 'value'")
        value = _param_value(item["value"], item.at("value"), rwhat)
        pipeline.results.append(
            PipelineResult(rname, value, _str(item, "description", rwhat) or "", item.source)
        )
    pipeline.description = _str(spec, "description", what) or ""
    _propagate(pipeline)
    return pipeline


def parse_pipeline(doc: SourceMap) -> Pipeline:
    name = _metadata_name(doc, "Pipeline")
    return _pipeline_spec(_spec(doc, "Pipeline", name), name, f"Pipeline {name!r}")


# --- PipelineRun ---


def parse_run(doc: SourceMap) -> TektonRun:
    name = _metadata_name(doc, "PipelineRun", generate=True)
    what = f"PipelineRun {name!r}"
    spec = _spec(doc, "PipelineRun", name)
    _check_fields(spec, _RUN_SPEC_FIELDS, what)
    params, sources = _name_value_list(spec, "params", what)
    run = TektonRun(name, None, None, params, sources, source=doc.source)
    if ("pipelineRef" in spec) == ("pipelineSpec" in spec):
        raise PipelineError(spec.source, f"{what}: needs exactly one of pipelineRef, pipelineSpec")
    if "pipelineRef" in spec:
        ref = _mapping(spec["pipelineRef"], spec.at("pipelineRef"), f"{what} 'pipelineRef'")
        for key in ("resolver", "params"):
            if key in ref:
                raise PipelineError(ref.at(key), f"{what}: remote resolution not supported")
        _check_fields(ref, ("name",), f"{what} pipelineRef")
        run.pipeline_ref = _name(ref, f"{what} pipelineRef")
        run.ref_source = ref.source
    else:
        inline = _mapping(spec["pipelineSpec"], spec.at("pipelineSpec"), f"{what} 'pipelineSpec'")
        propagated = {k: (v, sources[k]) for k, v in params.items()}
        run.pipeline = _pipeline_spec(inline, name, f"{what} pipelineSpec", propagated)
        run.ref_source = inline.source
    if "timeouts" in spec:
        timeouts = _mapping(spec["timeouts"], spec.at("timeouts"), f"{what} 'timeouts'")
        _check_fields(timeouts, _TIMEOUT_FIELDS, f"{what} timeouts")
        run.timeout = _timeout(timeouts, "pipeline", f"{what} timeouts")
        run.tasks_timeout = _timeout(timeouts, "tasks", f"{what} timeouts")
        run.finally_timeout = _timeout(timeouts, "finally", f"{what} timeouts")
        if run.timeout is not None:
            for key, value in (("tasks", run.tasks_timeout), ("finally", run.finally_timeout)):
                if value is not None and value > run.timeout:
                    raise PipelineError(
                        timeouts.at(key),
                        f"{what}: timeouts.{key} exceeds timeouts.pipeline",
                    )
            if (
                run.tasks_timeout is not None
                and run.finally_timeout is not None
                and run.tasks_timeout + run.finally_timeout > run.timeout
            ):
                raise PipelineError(
                    timeouts.source,
                    f"{what}: timeouts.tasks + timeouts.finally exceed timeouts.pipeline",
                )
    for item in _maps(spec, "workspaces", what):
        # Bindings choose storage on a cluster; locally every workspace is a fresh directory.
        _name(item, f"{what} workspace")
    return run


# --- documents ---


def parse_documents(docs: Iterable[Document]) -> TektonDocuments:
    """Every Tekton document, by kind; the caller has checked `apiVersion`."""
    out = TektonDocuments()
    for doc in docs:
        data = _mapping(doc.data, doc.source, "document")
        _check_fields(data, _TOP_FIELDS, f"{data.get('kind', 'document')}")
        kind = data.get("kind")
        if kind == "Task":
            out.tasks.append(parse_task(data))
        elif kind == "Pipeline":
            out.pipelines.append(parse_pipeline(data))
        elif kind == "PipelineRun":
            out.runs.append(parse_run(data))
        elif kind is None:
            raise PipelineError(data.source, "document has no 'kind'")
        else:
            raise PipelineError(
                data.at("kind"),
                f"unsupported kind {kind!r} for {API_VERSION} (supported: {', '.join(KINDS)})",
            )
    return out
