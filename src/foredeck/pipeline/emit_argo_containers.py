"""The containers of an emitted Argo template beyond its main one: a `containerSet` (a chain,
or the DAG its steps' `after` edges form), `initContainers` and `sidecars`."""

from __future__ import annotations

from typing import Any, Protocol

from foredeck.pipeline import emit_argo_pod as pod
from foredeck.pipeline.argo_manifest import SCRIPT_MARKER, SCRIPT_WRAPPER
from foredeck.pipeline.model import Pipeline, PipelineTask, Step, TaskSpec
from foredeck.types import PipelineError, Source


class Builder(Protocol):
    """What of `emit_argo`'s template builder these functions use."""

    where: str
    spec: TaskSpec
    task: PipelineTask
    pipeline: Pipeline

    def _container(self, step: Step) -> dict[str, Any]: ...

    def _body(self, text: str, source: Source, where: str) -> str: ...


def _command(b: Builder, step: Step, body: dict[str, Any]) -> None:
    """A step's command into a container body (a script goes through Argo's script wrapper,
    which the front end reads back as a script)."""
    where = f"step {step.name!r}"
    if step.script is not None:
        body["command"] = ["sh", "-c", SCRIPT_WRAPPER, SCRIPT_MARKER]
        body["args"] = [b._body(step.script, step.source, where)]
        return
    if step.command:
        body["command"] = [b._body(c, step.source, where) for c in step.command]
    if step.args:
        body["args"] = [b._body(a, step.source, where) for a in step.args]


def _names(b: Builder, steps: list[Step]) -> list[str]:
    """Container names: Argo collects outputs from the container named `main`, so a chain
    whose last step has another name gets it (a DAG from Argo keeps its names unless it has
    file outputs to collect)."""
    names = [s.name for s in steps]
    files = any(r.value_from == "file" for r in b.spec.results)
    from_argo = all(s.after is not None for s in steps)
    if b.spec.results and names[-1] != "main" and (files or not from_argo):
        if "main" in names and files:
            message = f"{b.where}: Argo reads outputs from the container named 'main', "
            message += "which must be the last step"
            raise PipelineError(b.spec.source, message)
        if "main" not in names:
            names[-1] = "main"
    return names


def container_set(b: Builder, steps: list[Step]) -> dict[str, Any]:
    """Several steps as one pod's `containerSet`: each waits for its `after` steps, or for
    the step before it."""
    names = _names(b, steps)
    renamed = {s.name: n for s, n in zip(steps, names, strict=True)}
    containers = []
    previous: str | None = None
    for step, name in zip(steps, names, strict=True):
        if step.timeout is not None:
            where = f"step {step.name!r}"
            message = f"{b.where} {where}: Argo has no per-step timeout in a multi-step task"
            raise PipelineError(step.source, message)
        body = b._container(step)
        body["name"] = name
        _command(b, step, body)
        if step.after is not None:
            deps = [renamed.get(d, d) for d in step.after]
        else:
            deps = [] if previous is None else [previous]
        if deps:
            body["dependencies"] = deps
        previous = name
        containers.append(body)
    return {"containers": containers}


def extras(
    b: Builder, init: list[Step], sidecars: list[Step], mounts: list[dict[str, str]]
) -> dict[str, Any]:
    """`initContainers` and `sidecars` fields, with the main container's mounts (as
    `mirrorVolumeMounts` gives them)."""
    out: dict[str, Any] = {}
    resources = pod.sidecar_resources(b.pipeline, b.task)
    for key, steps in (("initContainers", init), ("sidecars", sidecars)):
        bodies = []
        for step in steps:
            body = b._container(step)
            if key == "sidecars" and resources.get(step.name):
                body["resources"] = resources[step.name]  # Tekton's sidecarSpecs
            _command(b, step, body)
            if mounts:
                body["volumeMounts"] = [dict(m) for m in mounts]
            bodies.append(body)
        if bodies:
            out[key] = bodies
    return out
