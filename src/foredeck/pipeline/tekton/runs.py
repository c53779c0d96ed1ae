"""Tekton `PipelineRun`s: which pipeline runs (by name or inline), with which values, timeouts."""

from __future__ import annotations

from dataclasses import dataclass

from foredeck.pipeline.model import ParamValue, Pipeline
from foredeck.pipeline.tekton.fields import (
    as_map,
    check_fields,
    doc_spec,
    map_list,
    metadata_name,
    name_of,
    name_values,
    timeout_field,
)
from foredeck.pipeline.tekton.pipelines import pipeline_spec
from foredeck.types import UNKNOWN, PipelineError, Source
from foredeck.yamlsrc import SourceMap

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
        run.pipeline = pipeline_spec(inline, name, f"{what} pipelineSpec", propagated)
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
    for item in map_list(spec, "workspaces", what):
        # Bindings choose storage on a cluster; locally every workspace is a fresh directory.
        name_of(item, f"{what} workspace")
    return run
