"""Tekton `PipelineRun`s: which pipeline runs (by name or inline), with which values, timeouts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from foredeck.pipeline.leases import pipeline_leases
from foredeck.pipeline.model import ConfigMapVolume, ParamValue, Pipeline, TaskRunSettings
from foredeck.pipeline.tekton.fields import (
    as_map,
    check_fields,
    doc_spec,
    map_field,
    map_list,
    metadata_name,
    name_of,
    name_values,
    str_field,
    timeout_field,
)
from foredeck.pipeline.tekton.pipelines import pipeline_spec
from foredeck.types import UNKNOWN, PipelineError, Source
from foredeck.yamlsrc import SourceMap, plain

_RUN_SPEC_FIELDS = (
    "pipelineRef",
    "pipelineSpec",
    "params",
    "timeouts",
    "workspaces",
    "taskRunTemplate",
    "taskRunSpecs",
)


_TEMPLATE_FIELDS = ("serviceAccountName", "podTemplate")


_TASK_RUN_SPEC_FIELDS = (
    "pipelineTaskName",
    "serviceAccountName",
    "podTemplate",
    "computeResources",
    "stepSpecs",
    "sidecarSpecs",
    "metadata",
    "timeout",
)


_RUN_WORKSPACE_FIELDS = (
    "name",
    "subPath",
    "emptyDir",
    "volumeClaimTemplate",
    "persistentVolumeClaim",
    "configMap",
    "secret",
    "projected",
    "csi",
)


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
    task_run_template: TaskRunSettings | None = None
    task_run_specs: dict[str, TaskRunSettings] = field(default_factory=dict)
    workspaces: set[str] = field(default_factory=set)  # the workspaces the run binds
    config_maps: dict[str, ConfigMapVolume] = field(default_factory=dict)  # those to ConfigMaps


def _settings(m: SourceMap, what: str, allowed: tuple[str, ...]) -> TaskRunSettings:
    check_fields(m, allowed, what)
    out = pod_settings(m, what)
    out.metadata = map_field(m, "metadata", what)
    out.timeout = timeout_field(m, "timeout", what)
    return out


def pod_settings(m: SourceMap, what: str) -> TaskRunSettings:
    """What a TaskRun's spec (or a PipelineRun's taskRunTemplate/taskRunSpecs entry) says of
    its pod: service account, pod template, compute resources, step and sidecar specs."""
    out = TaskRunSettings(source=m.source)
    out.service_account = str_field(m, "serviceAccountName", what) or ""
    out.pod_template = map_field(m, "podTemplate", what)
    out.compute_resources = map_field(m, "computeResources", what)
    for key in ("stepSpecs", "sidecarSpecs"):
        specs = []
        for item in map_list(m, key, what):
            check_fields(item, ("name", "computeResources"), f"{what} {key}")
            name_of(item, f"{what} {key}")
            specs.append(cast(dict[str, Any], plain(item)))
        if key == "stepSpecs":
            out.step_specs = specs
        else:
            out.sidecar_specs = specs
    return out


def _task_run_settings(spec: SourceMap, run: TektonRun, what: str) -> None:
    if "taskRunTemplate" in spec:
        template = as_map(spec["taskRunTemplate"], spec.at("taskRunTemplate"), f"{what} template")
        run.task_run_template = _settings(template, f"{what} taskRunTemplate", _TEMPLATE_FIELDS)
    for item in map_list(spec, "taskRunSpecs", what):
        twhat = f"{what} taskRunSpecs"
        task = str_field(item, "pipelineTaskName", twhat, required=True) or ""
        if task in run.task_run_specs:
            raise PipelineError(item.source, f"{twhat}: {task!r} is given twice")
        run.task_run_specs[task] = _settings(item, f"{twhat} {task!r}", _TASK_RUN_SPEC_FIELDS)


def apply_run(run: TektonRun, pipeline: Pipeline) -> None:
    """What the run sets on the pipeline it runs: timeouts, task run settings; run params the
    pipeline does not declare are dropped from `run.params`, as Tekton ignores them."""
    pipeline.timeout = run.timeout
    pipeline.tasks_timeout = run.tasks_timeout
    pipeline.finally_timeout = run.finally_timeout
    pipeline.task_run_template = run.task_run_template
    names = {task.name for task in pipeline.all_tasks()}
    for task, settings in run.task_run_specs.items():
        if task not in names:
            raise PipelineError(
                settings.source,
                f"PipelineRun {run.name!r}: taskRunSpecs names {task!r},"
                f" which is not a task of pipeline {pipeline.name!r}",
            )
    pipeline.task_run_specs = dict(run.task_run_specs)
    pipeline.config_map_workspaces = dict(run.config_maps)
    pipeline.unbound_workspaces = {
        w.name for w in pipeline.workspaces if w.optional and w.name not in run.workspaces
    }
    for node in pipeline.all_tasks():
        override = run.task_run_specs.get(node.name)
        if override is not None and override.timeout is not None:
            node.timeout = override.timeout  # the TaskRun's timeout, as Tekton sets it
    declared = {param.name for param in pipeline.params}
    for name in list(run.params):
        if name not in declared:
            del run.params[name]
            pipeline.ignored_params.append(name)


def parse_run(doc: SourceMap) -> TektonRun:
    name = metadata_name(doc, "PipelineRun", generate=True)
    what = f"PipelineRun {name!r}"
    spec = doc_spec(doc, "PipelineRun", name)
    check_fields(spec, _RUN_SPEC_FIELDS, what)
    params, sources = name_values(spec, "params", what)
    run = TektonRun(name, None, None, params, sources, source=doc.source)
    if ("pipelineRef" in spec) == ("pipelineSpec" in spec):
        raise PipelineError(spec.source, f"{what}: needs exactly one of pipelineRef, pipelineSpec")
    if "pipelineRef" in spec:
        ref = as_map(spec["pipelineRef"], spec.at("pipelineRef"), f"{what} 'pipelineRef'")
        for key in ("resolver", "params"):
            if key in ref:
                raise PipelineError(ref.at(key), f"{what}: remote resolution not supported")
        check_fields(ref, ("name",), f"{what} pipelineRef")
        run.pipeline_ref = name_of(ref, f"{what} pipelineRef")
        run.ref_source = ref.source
    else:
        inline = as_map(spec["pipelineSpec"], spec.at("pipelineSpec"), f"{what} 'pipelineSpec'")
        propagated = {k: (v, sources[k]) for k, v in params.items()}
        run.pipeline = pipeline_spec(
            inline, name, f"{what} pipelineSpec", propagated, run_workspaces(spec, what)
        )
        run.pipeline.leases = pipeline_leases(doc.get("metadata"), doc.source)
        run.ref_source = inline.source
    if "timeouts" in spec:
        timeouts = as_map(spec["timeouts"], spec.at("timeouts"), f"{what} 'timeouts'")
        check_fields(timeouts, _TIMEOUT_FIELDS, f"{what} timeouts")
        run.timeout = timeout_field(timeouts, "pipeline", f"{what} timeouts")
        run.tasks_timeout = timeout_field(timeouts, "tasks", f"{what} timeouts")
        run.finally_timeout = timeout_field(timeouts, "finally", f"{what} timeouts")
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
    run.workspaces = set(run_workspaces(spec, what))
    run.config_maps = _config_map_workspaces(spec, what)
    _task_run_settings(spec, run, what)
    return run


def run_workspaces(spec: SourceMap, what: str) -> dict[str, Source]:
    """The run's workspace bindings, by name. They choose storage on a cluster; locally every
    workspace is a fresh directory (or what `--workspace` binds)."""
    out: dict[str, Source] = {}
    for item in map_list(spec, "workspaces", what):
        wname = name_of(item, f"{what} workspace")
        check_fields(item, _RUN_WORKSPACE_FIELDS, f"{what} workspace {wname!r}")
        out[wname] = item.source
    return out


_CONFIG_MAP_FIELDS = ("name", "items", "optional", "defaultMode")


def _config_map_workspaces(spec: SourceMap, what: str) -> dict[str, ConfigMapVolume]:
    """The run's workspaces bound to a ConfigMap (a `configMap` volume source)."""
    out: dict[str, ConfigMapVolume] = {}
    for item in map_list(spec, "workspaces", what):
        if "configMap" not in item:
            continue
        wname = name_of(item, f"{what} workspace")
        where = f"{what} workspace {wname!r} configMap"
        volume = as_map(item["configMap"], item.at("configMap"), where)
        check_fields(volume, _CONFIG_MAP_FIELDS, where)
        items = []
        for entry in map_list(volume, "items", where):
            check_fields(entry, ("key", "path", "mode"), f"{where} items")
            key = str_field(entry, "key", f"{where} items", required=True) or ""
            path = str_field(entry, "path", f"{where} items", required=True) or ""
            parts = path.split("/")
            if path.startswith("/") or ".." in parts or not all(parts):
                raise PipelineError(entry.at("path"), f"{where}: path {path!r} must be relative")
            items.append((key, path))
        out[wname] = ConfigMapVolume(
            name=name_of(volume, where),
            items=items,
            optional=bool(volume.get("optional", False)),
            raw=cast(dict[str, Any], plain(volume)),
            source=volume.source,
        )
    return out
