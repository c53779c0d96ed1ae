"""Tekton `TaskRun`s: one Task (by `taskRef` or inline `taskSpec`) run as a one-task pipeline.

The pipeline exposes the Task's params, workspaces and results (`load.single_task_pipeline`);
the TaskRun's `params` are the run's values, its `timeout` and `retries` the task's, and its
pod fields (`serviceAccountName`, `podTemplate`, `computeResources`, `stepSpecs`,
`sidecarSpecs`) are carried to the emitters as a PipelineRun's `taskRunSpecs` entry would be.
As for an inline `pipelineSpec`, an inline `taskSpec` may use the run's params and workspaces
without declaring them (propagation). Params a referenced Task does not declare are ignored,
as Tekton ignores them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from foredeck.pipeline.expressions import references
from foredeck.pipeline.model import ParamSpec, ParamValue, TaskRunSettings, TaskSpec, WorkspaceDecl
from foredeck.pipeline.model import value_type as type_of
from foredeck.pipeline.tekton.fields import (
    as_map,
    check_fields,
    doc_spec,
    metadata_name,
    name_of,
    name_values,
    str_field,
    timeout_field,
)
from foredeck.pipeline.tekton.runs import pod_settings, run_workspaces
from foredeck.pipeline.tekton.tasks import task_spec
from foredeck.types import UNKNOWN, PipelineError, Source
from foredeck.yamlsrc import SourceMap

_SPEC_FIELDS = (
    "taskRef",
    "taskSpec",
    "params",
    "workspaces",
    "timeout",
    "retries",
    "serviceAccountName",
    "podTemplate",
    "computeResources",
    "stepSpecs",
    "sidecarSpecs",
)


@dataclass
class TektonTaskRun:
    name: str
    task_ref: str | None
    task: TaskSpec | None
    params: dict[str, ParamValue]
    param_sources: dict[str, Source]
    timeout: float | None = None
    retries: int = 0
    settings: TaskRunSettings = field(default_factory=TaskRunSettings)
    source: Source = UNKNOWN
    ref_source: Source = UNKNOWN


def parse_task_run(doc: SourceMap) -> TektonTaskRun:
    name = metadata_name(doc, "TaskRun", generate=True)
    what = f"TaskRun {name!r}"
    spec = doc_spec(doc, "TaskRun", name)
    check_fields(spec, _SPEC_FIELDS, what)
    params, sources = name_values(spec, "params", what)
    run = TektonTaskRun(name, None, None, params, sources, source=doc.source)
    if ("taskRef" in spec) == ("taskSpec" in spec):
        raise PipelineError(spec.source, f"{what}: needs exactly one of taskRef, taskSpec")
    workspaces = run_workspaces(spec, what)
    if "taskRef" in spec:
        ref = as_map(spec["taskRef"], spec.at("taskRef"), f"{what} 'taskRef'")
        for key in ("resolver", "params", "bundle"):
            if key in ref:
                raise PipelineError(ref.at(key), f"{what}: remote resolution not supported")
        check_fields(ref, ("name", "kind"), f"{what} taskRef")
        kind = str_field(ref, "kind", f"{what} taskRef")
        if kind not in (None, "Task", "task"):  # Tekton reads any other as a Task too
            raise PipelineError(ref.at("kind"), f"{what}: taskRef kind {kind!r} (supported: Task)")
        run.task_ref = name_of(ref, f"{what} taskRef")
        run.ref_source = ref.source
    else:
        inline = as_map(spec["taskSpec"], spec.at("taskSpec"), f"{what} 'taskSpec'")
        run.task = task_spec(inline, name, f"{what} taskSpec")
        _propagate(run.task, params, sources, workspaces)
    run.timeout = timeout_field(spec, "timeout", what)
    retries = spec.get("retries", 0)
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise PipelineError(spec.at("retries"), f"{what}: 'retries' must be a whole number")
    run.retries = retries
    run.settings = pod_settings(spec, what)
    return run


def _propagate(
    spec: TaskSpec,
    params: dict[str, ParamValue],
    sources: dict[str, Source],
    workspaces: dict[str, Source],
) -> None:
    """The run's params and workspaces an inline taskSpec uses without declaring them."""
    declared = {p.name for p in spec.params}
    declared_ws = {w.name for w in spec.workspaces}
    for ref in references([text for step in spec.steps for text in step.texts()]):
        parts = ref.parts
        if len(parts) < 2:
            continue
        if parts[0] == "params" and parts[1] in params and parts[1] not in declared:
            value = params[parts[1]]
            spec.params.append(ParamSpec(parts[1], type_of(value), source=sources[parts[1]]))
            declared.add(parts[1])
        elif parts[0] == "workspaces" and parts[1] in workspaces and parts[1] not in declared_ws:
            spec.workspaces.append(WorkspaceDecl(parts[1], source=workspaces[parts[1]]))
            declared_ws.add(parts[1])
