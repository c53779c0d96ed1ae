"""Tekton `Task`s (and inline `taskSpec`s) into IR `TaskSpec`s: params, results, steps."""

from __future__ import annotations

import re
from typing import Any, get_args

from foredeck.pipeline.model import (
    ParamSpec,
    ResultSpec,
    Step,
    StepOnError,
    TaskSpec,
    WorkspaceDecl,
    value_type,
)
from foredeck.pipeline.tekton import build_image
from foredeck.pipeline.tekton.fields import (
    as_map,
    bool_field,
    check_fields,
    doc_spec,
    legacy_inputs,
    map_list,
    metadata_name,
    name_of,
    name_values,
    param_type,
    param_value,
    str_field,
    str_list,
    timeout_field,
)
from foredeck.types import PipelineError
from foredeck.yamlsrc import SourceMap, plain

_TASK_SPEC_FIELDS = (
    "params",
    "results",
    "workspaces",
    "steps",
    "stepTemplate",
    "description",
    "displayName",
    "sidecars",
    build_image.KEY,
)


_CLUSTER_FIELDS = ("imagePullPolicy", "computeResources", "securityContext")
"""Container fields that mean something in a pod only: carried to the emitters."""


_STEP_FIELDS = (
    "name",
    "displayName",
    "image",
    "command",
    "args",
    "script",
    "env",
    "workingDir",
    "timeout",
    "onError",
    "stdoutConfig",
    "stderrConfig",
    *_CLUSTER_FIELDS,
)


_STEP_TEMPLATE_FIELDS = ("image", "env", "workingDir", *_CLUSTER_FIELDS)


_PARAM_FIELDS = ("name", "type", "default", "description", "properties", "enum")


_RESULT_FIELDS = ("name", "type", "description", "properties", "default")


_TASK_WORKSPACE_FIELDS = ("name", "description", "optional", "readOnly")


def param_specs(m: SourceMap, what: str) -> list[ParamSpec]:
    """The `params` declarations of a Task or Pipeline spec."""
    out: list[ParamSpec] = []
    for item in map_list(m, "params", what):
        check_fields(item, _PARAM_FIELDS, f"{what} param")
        name = name_of(item, f"{what} param")
        pwhat = f"{what} param {name!r}"
        default = None
        if "default" in item and item["default"] is not None:
            default = param_value(item["default"], item.at("default"), pwhat)
        ptype = param_type(item, pwhat, default)
        if default is not None and value_type(default) != ptype:
            raise PipelineError(
                item.at("default"),
                f"{pwhat}: default is {value_type(default)} but the param is {ptype}",
            )
        description = str_field(item, "description", pwhat) or ""
        spec = ParamSpec(name, ptype, default, description, item.source)
        spec.properties = _properties(item, pwhat)
        if spec.properties and ptype != "object":
            raise PipelineError(item.at("properties"), f"{pwhat}: 'properties' need type object")
        spec.enum = str_list(item, "enum", pwhat)
        if spec.enum and ptype != "string":
            raise PipelineError(item.at("enum"), f"{pwhat}: 'enum' needs a string param")
        if spec.enum and isinstance(default, str) and default not in spec.enum:
            raise PipelineError(
                item.at("default"), f"{pwhat}: default {default!r} is not in enum {spec.enum}"
            )
        out.append(spec)
    return out


def _properties(item: SourceMap, what: str) -> list[str]:
    """An object param's keys (`properties: {key: {type: string}}`)."""
    if item.get("properties") is None:
        return []
    props = as_map(item["properties"], item.at("properties"), f"{what} 'properties'")
    for key, value in props.items():
        if value is None:
            continue
        entry = as_map(value, props.at(key), f"{what} property {key!r}")
        check_fields(entry, ("type",), f"{what} property {key!r}")
        kind = str_field(entry, "type", f"{what} property {key!r}")
        if kind not in (None, "string"):
            raise PipelineError(entry.at("type"), f"{what}: property {key!r} must be a string")
    return list(props)


def _results(m: SourceMap, what: str) -> list[ResultSpec]:
    out: list[ResultSpec] = []
    for item in map_list(m, "results", what):
        check_fields(item, _RESULT_FIELDS, f"{what} result")
        name = name_of(item, f"{what} result")
        rwhat = f"{what} result {name!r}"
        rtype = param_type(item, rwhat, None)
        result = ResultSpec(name, rtype, str_field(item, "description", rwhat) or "", item.source)
        if "default" in item and item["default"] is not None:
            result.default = param_value(item["default"], item.at("default"), rwhat)
            if value_type(result.default) != rtype:
                message = f"{rwhat}: default is {value_type(result.default)}, not {rtype}"
                raise PipelineError(item.at("default"), message)
        out.append(result)
    return out


def env_of(m: SourceMap, what: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in map_list(m, "env", what):
        name = name_of(item, f"{what} env")
        if "valueFrom" in item:
            raise PipelineError(
                item.at("valueFrom"),
                f"{what}: env {name!r}: 'valueFrom' is not supported (use 'value')",
            )
        check_fields(item, ("name", "value"), f"{what} env {name!r}")
        env[name] = str_field(item, "value", f"{what} env {name!r}") or ""
    return env


def _on_error(m: SourceMap, what: str) -> str:
    """`onError`: continue or stopAndFail, or a param reference resolved when the step runs."""
    value = str_field(m, "onError", what)
    if value is None:
        return "stopAndFail"
    if value in get_args(StepOnError) or re.fullmatch(r"\$\(params\.[^()\s]+\)", value.strip()):
        return value.strip()
    raise PipelineError(
        m.at("onError"), f"{what}: onError {value!r} is not continue, stopAndFail or a param"
    )


def _output_path(m: SourceMap, key: str, what: str) -> str | None:
    """`stdoutConfig.path` / `stderrConfig.path`: where the stream is also written."""
    if key not in m:
        return None
    config = as_map(m[key], m.at(key), f"{what} {key!r}")
    check_fields(config, ("path",), f"{what} {key}")
    path = str_field(config, "path", f"{what} {key}", required=True)
    if not path:
        raise PipelineError(config.at("path"), f"{what}: {key}.path must not be empty")
    return legacy_inputs(path)


def _cluster(m: SourceMap, template: SourceMap | None, what: str) -> dict[str, Any]:
    """The step's pod-only fields, the step template's filling what the step leaves unset."""
    out: dict[str, Any] = {}
    for key in _CLUSTER_FIELDS:
        for source in (template, m):
            if source is not None and source.get(key) is not None:
                value = plain(source[key])
                if isinstance(value, dict) and isinstance(out.get(key), dict):
                    value = {**out[key], **value}
                out[key] = value
    return out


_REF_STEP_FIELDS = (
    "name",
    "displayName",
    "ref",
    "params",
    "timeout",
    "onError",
    "stdoutConfig",
    "stderrConfig",
    "workingDir",
    *_CLUSTER_FIELDS,
)
"""What a step that runs a StepAction may set besides `ref` (the rest is the action's)."""


def _ref_step(m: SourceMap, step: Step, what: str) -> None:
    """A step's `ref` (a StepAction, resolved later) and the `params` it passes it."""
    ref = as_map(m["ref"], m.at("ref"), f"{what} 'ref'")
    for key in ("resolver", "params"):
        if key in ref:
            raise PipelineError(ref.at(key), f"{what}: remote resolution ('{key}') not supported")
    check_fields(ref, ("name",), f"{what} ref")
    step.action = name_of(ref, f"{what} ref")
    step.params, _ = name_values(m, "params", what)


def _step(
    m: SourceMap,
    index: int,
    task: str,
    template: SourceMap | None,
    fields: tuple[str, ...] = _STEP_FIELDS,
) -> Step:
    name = str_field(m, "name", f"Task {task!r} step {index}") or f"unnamed-{index}"
    what = f"Task {task!r} step {name!r}"
    if "ref" in m and fields is _STEP_FIELDS:
        check_fields(m, _REF_STEP_FIELDS, f"{what} (it has a 'ref')")
    elif "params" in m and fields is _STEP_FIELDS:
        raise PipelineError(m.at("params"), f"{what}: 'params' need a 'ref' to a StepAction")
    else:
        check_fields(m, fields, what)
    script = str_field(m, "script", what)
    command = str_list(m, "command", what)
    if script is not None and command:
        raise PipelineError(m.at("script"), f"{what}: 'script' cannot be used with 'command'")
    env: dict[str, str] = {}
    image = str_field(m, "image", what)
    working_dir = str_field(m, "workingDir", what)
    if template is not None:
        env.update(env_of(template, f"Task {task!r} stepTemplate"))
        image = image or str_field(template, "image", f"Task {task!r} stepTemplate")
        working_dir = working_dir or str_field(
            template, "workingDir", f"Task {task!r} stepTemplate"
        )
    env.update(env_of(m, what))
    step = Step(
        name=name,
        image=legacy_inputs(image or ""),
        command=[legacy_inputs(c) for c in command],
        args=[legacy_inputs(a) for a in str_list(m, "args", what)],
        script=None if script is None else legacy_inputs(script),
        env={k: legacy_inputs(v) for k, v in env.items()},
        working_dir=None if working_dir is None else legacy_inputs(working_dir),
        timeout=timeout_field(m, "timeout", what),
        source=m.source,
        display_name=str_field(m, "displayName", what) or "",
        on_error=_on_error(m, what),
        stdout_path=_output_path(m, "stdoutConfig", what),
        stderr_path=_output_path(m, "stderrConfig", what),
        cluster=_cluster(m, template, what),
    )
    if "ref" in m and fields is _STEP_FIELDS:
        _ref_step(m, step, what)
    return step


_SIDECAR_FIELDS = (
    *(f for f in _STEP_FIELDS if f not in ("timeout", "onError", "stdoutConfig", "stderrConfig")),
    "ports",
    "readinessProbe",
    "livenessProbe",
    "startupProbe",
)


def _sidecar(m: SourceMap, index: int, task: str) -> Step:
    """A sidecar: a step's fields, run beside the steps (`execute/sidecars.py`)."""
    what = f"Task {task!r} sidecar {index}"
    step = _step(m, index, task, None, _SIDECAR_FIELDS)
    step.name = str_field(m, "name", what) or f"sidecar-{index}"
    for key in ("ports", "readinessProbe", "livenessProbe", "startupProbe"):
        if m.get(key) is not None:
            step.cluster[key] = plain(m[key])
    return step


def task_spec(spec: SourceMap, name: str, what: str, extra: tuple[str, ...] = ()) -> TaskSpec:
    """A Task's `spec` (or an inline `taskSpec`, which also allows the `extra` fields)."""
    check_fields(spec, (*_TASK_SPEC_FIELDS, *extra), what)
    template = None
    if "stepTemplate" in spec:
        template = as_map(spec["stepTemplate"], spec.at("stepTemplate"), f"{what} stepTemplate")
        check_fields(template, _STEP_TEMPLATE_FIELDS, f"{what} stepTemplate")
    workspaces: list[WorkspaceDecl] = []
    for item in map_list(spec, "workspaces", what):
        wname = name_of(item, f"{what} workspace")
        if "mountPath" in item:
            raise PipelineError(
                item.at("mountPath"),
                f"{what} workspace {wname!r}: 'mountPath' is not supported;"
                f" use $(workspaces.{wname}.path)",
            )
        check_fields(item, _TASK_WORKSPACE_FIELDS, f"{what} workspace {wname!r}")
        workspaces.append(
            WorkspaceDecl(
                wname,
                bool_field(item, "optional", f"{what} workspace {wname!r}"),
                str_field(item, "description", what) or "",
                item.source,
            )
        )
    task = TaskSpec(
        name=name,
        steps=[
            _step(step, i, name, template) for i, step in enumerate(map_list(spec, "steps", what))
        ],
        params=param_specs(spec, what),
        results=_results(spec, what),
        workspaces=workspaces,
        description=str_field(spec, "description", what) or "",
        source=spec.source,
        sidecars=[_sidecar(m, i, name) for i, m in enumerate(map_list(spec, "sidecars", what))],
    )
    if build_image.KEY in spec:
        build_image.attach_build(task, spec, what)
    return task


def parse_task(doc: SourceMap) -> TaskSpec:
    name = metadata_name(doc, "Task")
    return task_spec(doc_spec(doc, "Task", name), name, f"Task {name!r}")
