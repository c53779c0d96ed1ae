"""Tekton's pod settings in an Argo `Workflow`: what maps, where, and what cannot.

`taskRunTemplate` becomes workflow-level pod fields, a `taskRunSpecs` entry template-level
ones, a step's `computeResources`/`securityContext`/`imagePullPolicy` the container's. A pod
template field Argo has no field for at that level goes into `podSpecPatch` (a patch of the
pod's spec, which Argo applies as Tekton applies its pod template). What has no Argo form at
all (a pod template's `env`, sidecar resources, a step's `onError: continue` or
`stdoutConfig`) is a compile error naming it, never dropped in silence. Fields carried from an
Argo workflow or template (`Pipeline.cluster`, `TaskSpec.cluster`) are written back as they were.
"""

from __future__ import annotations

import json
from typing import Any

from foredeck.pipeline.expressions import iter_references
from foredeck.pipeline.model import Pipeline, PipelineTask, Step, TaskRunSettings
from foredeck.types import PipelineError

_WORKFLOW_FIELDS = {
    "affinity": "affinity",
    "automountServiceAccountToken": "automountServiceAccountToken",
    "dnsConfig": "dnsConfig",
    "dnsPolicy": "dnsPolicy",
    "hostAliases": "hostAliases",
    "hostNetwork": "hostNetwork",
    "imagePullSecrets": "imagePullSecrets",
    "nodeSelector": "nodeSelector",
    "priorityClassName": "podPriorityClassName",
    "schedulerName": "schedulerName",
    "securityContext": "securityContext",
    "tolerations": "tolerations",
}
_TEMPLATE_FIELDS = {
    "affinity": "affinity",
    "automountServiceAccountToken": "automountServiceAccountToken",
    "hostAliases": "hostAliases",
    "nodeSelector": "nodeSelector",
    "priorityClassName": "priorityClassName",
    "schedulerName": "schedulerName",
    "securityContext": "securityContext",
    "tolerations": "tolerations",
}
_CONTAINER_FIELDS = {
    "computeResources": "resources",
    "securityContext": "securityContext",
    "imagePullPolicy": "imagePullPolicy",
    # a sidecar's service fields (Argo and Tekton sidecars are whole containers)
    "ports": "ports",
    "readinessProbe": "readinessProbe",
    "livenessProbe": "livenessProbe",
    "startupProbe": "startupProbe",
}


def _pod_fields(settings: TaskRunSettings, direct: dict[str, str], what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if settings.service_account:
        out["serviceAccountName"] = settings.service_account
    patch: dict[str, Any] = {}
    for key, value in settings.pod_template.items():
        if key == "env":
            raise PipelineError(
                settings.source,
                f"{what}: podTemplate 'env' (set on every step) has no Argo form;"
                " set env on the steps",
            )
        if key in direct:
            out[direct[key]] = value
        else:
            patch[key] = value
    if patch:
        out["podSpecPatch"] = json.dumps(patch, sort_keys=True)
    return out


def workflow_fields(pipeline: Pipeline) -> dict[str, Any]:
    """Workflow `spec` fields: those carried from an Argo workflow as written, and those
    from the run's `taskRunTemplate`."""
    out = dict(pipeline.cluster)
    template = pipeline.task_run_template
    if template is None:
        return out
    return out | _pod_fields(template, _WORKFLOW_FIELDS, "taskRunTemplate")


def template_fields(pipeline: Pipeline, task: PipelineTask) -> dict[str, Any]:
    """Template fields: those carried from the Argo template as written, and those from the
    task's `taskRunSpecs` entry (`timeout` is the task's own)."""
    spec = pipeline.spec_of(task) if task.graph_ref is None else None
    carried = dict(spec.cluster) if spec is not None else {}
    settings = pipeline.task_run_specs.get(task.name)
    if settings is None:
        return carried
    what = f"taskRunSpecs {task.name!r}"
    sidecars = {s.name for s in spec.sidecars} if spec is not None else set()
    for entry in settings.sidecar_specs:
        if entry.get("name") not in sidecars:
            message = f"{what}: sidecarSpecs names no sidecar of the task: {entry.get('name')!r}"
            raise PipelineError(settings.source, message)
    out = carried | _pod_fields(settings, _TEMPLATE_FIELDS, what)
    if settings.compute_resources:
        out["podResources"] = settings.compute_resources
    if settings.metadata:
        out["metadata"] = settings.metadata
    return out


def step_resources(pipeline: Pipeline, task: PipelineTask) -> dict[str, dict[str, Any]]:
    """`taskRunSpecs` `stepSpecs`: container resources by step name."""
    settings = pipeline.task_run_specs.get(task.name)
    if settings is None:
        return {}
    return {str(s["name"]): s.get("computeResources") or {} for s in settings.step_specs}


def sidecar_resources(pipeline: Pipeline, task: PipelineTask) -> dict[str, dict[str, Any]]:
    """`taskRunSpecs` `sidecarSpecs`: sidecar resources by sidecar name."""
    settings = pipeline.task_run_specs.get(task.name)
    if settings is None:
        return {}
    return {str(s["name"]): s.get("computeResources") or {} for s in settings.sidecar_specs}


def container_fields(step: Step, where: str) -> dict[str, Any]:
    """A step's pod-only fields as container fields; an error for what Argo cannot do."""
    if step.on_error != "stopAndFail":
        raise PipelineError(
            step.source,
            f"{where}: onError: {step.on_error} (a step failure that need not fail the"
            " task) has no Argo form",
        )
    for key, path in (("stdoutConfig", step.stdout_path), ("stderrConfig", step.stderr_path)):
        if path is not None:
            raise PipelineError(step.source, f"{where}: {key} has no Argo form")
    return {_CONTAINER_FIELDS[key]: value for key, value in step.cluster.items()}


def task_context(text: str, task: PipelineTask) -> str:
    """`$(context.pipelineTask.retries)` in what a task binds: a constant of the task."""
    if "pipelineTask" not in text:
        return text
    for ref in iter_references(text):
        if ref.path == "context.pipelineTask.retries":
            text = text.replace(ref.text, str(task.retries))
    return text


def sub_path(task: PipelineTask, inner: str) -> str | None:
    """A workspace binding's `subPath` in Argo's words (`{{workflow.parameters.x}}`)."""
    text = task.workspace_sub_paths.get(inner)
    if text is None:
        return None
    for ref in iter_references(text):
        parts = ref.parts
        if parts[0] != "params" or len(parts) != 2 or ref.star or ref.index is not None:
            raise PipelineError(
                task.source, f"task {task.name!r}: workspace subPath {ref.text} has no Argo form"
            )
        text = text.replace(ref.text, f"{{{{workflow.parameters.{parts[1]}}}}}")
    return text
