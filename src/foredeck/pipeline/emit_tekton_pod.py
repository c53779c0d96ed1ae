"""Argo's pod-level fields (`Pipeline.cluster`, `TaskSpec.cluster`) and sidecars in a Tekton
`PipelineRun`: what maps, where, and what cannot.

A pod field Tekton's pod template has (`nodeSelector`, `tolerations`, `affinity`,
`securityContext`, ...) goes into `taskRunTemplate.podTemplate` (workflow level) or the task's
`taskRunSpecs` entry (template level); `serviceAccountName` beside it. Fields that change what
a cluster runs and that Tekton has no form for (`podSpecPatch`, `memoize`, `synchronization`,
`archiveLocation`, `artifactRepositoryRef`, `podResources`) are compile errors naming them;
Argo's controller housekeeping (`podGC`, `ttlStrategy`, `metrics`, ...) has no Tekton meaning
and is left out, as it always was.
"""

from __future__ import annotations

from typing import Any

from foredeck.pipeline.model import Pipeline, Step, TaskSpec
from foredeck.types import PipelineError

_POD_TEMPLATE = {
    "nodeSelector": "nodeSelector",
    "tolerations": "tolerations",
    "affinity": "affinity",
    "securityContext": "securityContext",
    "imagePullSecrets": "imagePullSecrets",
    "hostAliases": "hostAliases",
    "hostNetwork": "hostNetwork",
    "dnsPolicy": "dnsPolicy",
    "dnsConfig": "dnsConfig",
    "schedulerName": "schedulerName",
    "priorityClassName": "priorityClassName",
    "podPriorityClassName": "priorityClassName",
    "automountServiceAccountToken": "automountServiceAccountToken",
}
NO_TEKTON_FORM = {
    "podSpecPatch",
    "memoize",
    "synchronization",
    "archiveLocation",
    "artifactRepositoryRef",
    "podResources",
}


def _settings(cluster: dict[str, Any], what: str, pipeline: Pipeline) -> dict[str, Any]:
    bad = sorted(NO_TEKTON_FORM & set(cluster))
    if bad:
        raise PipelineError(pipeline.source, f"{what}: {', '.join(bad)} has no Tekton form")
    out: dict[str, Any] = {}
    if cluster.get("serviceAccountName"):
        out["serviceAccountName"] = cluster["serviceAccountName"]
    pod = {_POD_TEMPLATE[k]: v for k, v in cluster.items() if k in _POD_TEMPLATE}
    if pod:
        out["podTemplate"] = pod
    return out


def run_template(pipeline: Pipeline) -> dict[str, Any]:
    """`taskRunTemplate` fields from an Argo workflow's pod fields."""
    return _settings(pipeline.cluster, f"workflow {pipeline.name!r}", pipeline)


def task_settings(pipeline: Pipeline, spec: TaskSpec) -> dict[str, Any]:
    """A `taskRunSpecs` entry's fields from an Argo template's pod fields."""
    return _settings(spec.cluster, f"template {spec.name!r}", pipeline)


def sidecars(spec: TaskSpec, label: Any) -> list[dict[str, Any]]:
    """A task's sidecars as Tekton `sidecars` (`label` makes a DNS-1123 name)."""
    taken: set[str] = set()
    return [_sidecar(step, label(step.name, taken)) for step in spec.sidecars]


def container(step: Step, name: str) -> dict[str, Any]:
    """The container fields a Tekton step and a sidecar share (a script excludes a command, as
    the loaders ensure)."""
    body: dict[str, Any] = {"name": name, "image": step.image}
    if step.script is not None:
        body["script"] = step.script
    else:
        if step.command:
            body["command"] = list(step.command)
        if step.args:
            body["args"] = list(step.args)
    if step.env:
        body["env"] = [{"name": k, "value": v} for k, v in step.env.items()]
    if step.working_dir:
        body["workingDir"] = step.working_dir
    return body


def _sidecar(step: Step, name: str) -> dict[str, Any]:
    body = container(step, name)
    body.update(step.cluster)
    return body


def add_settings(spec: dict[str, Any], pipeline: Pipeline, names: dict[str, str]) -> None:
    """Add the Argo pod fields to a `PipelineRun` spec's `taskRunTemplate`/`taskRunSpecs`."""
    template = run_template(pipeline)
    if template:
        into = spec.setdefault("taskRunTemplate", {})
        pod = {**into.get("podTemplate", {}), **template.pop("podTemplate", {})}
        into.update(template)
        if pod:
            into["podTemplate"] = pod
    entries = []
    for task in pipeline.all_tasks():
        settings = task_settings(pipeline, pipeline.spec_of(task))
        if settings:
            entries.append({"pipelineTaskName": names[task.name], **settings})
    if entries:
        spec.setdefault("taskRunSpecs", []).extend(entries)
