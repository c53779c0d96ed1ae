"""What a pipeline asks of a cluster that a host run ignores, said once in the run log.

Tekton's `taskRunTemplate`/`taskRunSpecs` (service account, pod template, resources) and a
step's pod-only fields choose how a pod is scheduled and confined; on a host they change
nothing, so a run goes on without them but says so, rather than appear to honour them. Run
params the pipeline does not declare are dropped, as Tekton drops them. When steps run in
their images, the container fields podman honours (`containers.py`) are not noted.
"""

from __future__ import annotations

from foredeck.pipeline.model import Pipeline

IN_CONTAINERS = frozenset({"computeResources", "securityContext", "imagePullPolicy"})
"""Step fields a container step honours (limits, `runAsUser`/`runAsGroup`, the pull policy)."""


def host_notes(pipeline: Pipeline, *, in_containers: bool = False) -> list[str]:
    """One line per kind of setting the run ignores (none for a plain pipeline)."""
    notes: list[str] = []
    template = pipeline.task_run_template
    if template is not None and template.fields():
        notes.append(
            f"taskRunTemplate ({', '.join(template.fields())}) only matters on a cluster:"
            " ignored on this host (--emit keeps it)"
        )
    if pipeline.task_run_specs:
        fields = sorted(
            {name for spec in pipeline.task_run_specs.values() for name in spec.fields()}
        )
        tasks = ", ".join(pipeline.task_run_specs)
        notes.append(
            f"taskRunSpecs of {tasks} ({', '.join(fields) or 'empty'}) only matter on a cluster:"
            " ignored on this host (--emit keeps them)"
        )
    cluster = sorted(
        {
            key
            for task in pipeline.all_tasks()
            if task.task_spec is not None
            for step in task.task_spec.steps
            for key in step.cluster
        }
        | {
            key
            for spec in pipeline.task_library.values()
            for step in spec.steps
            for key in step.cluster
        }
    )
    if in_containers:
        cluster = [key for key in cluster if key not in IN_CONTAINERS]
    if cluster:
        notes.append(f"step fields {', '.join(cluster)} only matter in a pod: ignored on this host")
    notes.extend(_argo_notes(pipeline))
    if pipeline.ignored_params:
        names = ", ".join(pipeline.ignored_params)
        notes.append(
            f"run params not declared by the pipeline are ignored, as Tekton does: {names}"
        )
    return notes


def _argo_notes(pipeline: Pipeline) -> list[str]:
    """Argo's pod and controller fields (`Pipeline.cluster`, `TaskSpec.cluster`)."""
    notes: list[str] = []
    if pipeline.cluster:
        fields = ", ".join(sorted(pipeline.cluster))
        notes.append(
            f"workflow fields {fields} only matter on a cluster: ignored on this host"
            " (--emit keeps them)"
        )
    specs = {spec.name: spec for spec in pipeline.task_library.values() if spec.cluster}
    for task in pipeline.all_tasks():
        if task.task_spec is not None and task.task_spec.cluster:
            specs[task.task_spec.name] = task.task_spec
    if not specs:
        return notes
    keys = sorted({key for spec in specs.values() for key in spec.cluster})
    notes.append(
        f"template fields {', '.join(keys)} of {', '.join(sorted(specs))} only matter on a"
        " cluster: ignored on this host (--emit keeps them)"
    )
    memoized = sorted(name for name, spec in specs.items() if "memoize" in spec.cluster)
    if memoized:
        notes.append(
            f"memoize of {', '.join(memoized)}: a host has no memoization cache, so they run"
            " every time"
        )
    return notes
