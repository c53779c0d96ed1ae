"""Artifacts back to Argo: `TaskSpec.artifacts` as `inputs`/`outputs.artifacts`, locators as
`arguments.artifacts`.

The IR carries an artifact as a locator param or result named `argo-artifact-NAME`
(`pipeline/artifacts.py`) and does the work in two generated steps; Argo does that work itself.
So a leaf template drops those steps, params, results and the repository workspace and
declares its artifacts (`leaf_fields`), and `finish` turns, across the emitted workflow, every
locator parameter (call arguments, dag/steps inputs and outputs, `spec.arguments`) into the
artifact it carries: `{{tasks.A.outputs.parameters.argo-artifact-x}}` is `from:
"{{tasks.A.outputs.artifacts.x}}"`, a literal `key:K` an `s3: {key: K}` location, and so on.
An artifact on a volume keeps to that volume where the emitter mounts it (`/workspace/W`).
"""

from __future__ import annotations

import re
from typing import Any

from foredeck.pipeline.argo_manifest import WORKSPACE_ROOT
from foredeck.pipeline.artifacts import (
    IN_STEP,
    PREFIX,
    REPOSITORY,
    STEPS,
    artifact_of,
    pod_root,
)
from foredeck.pipeline.model import ArtifactSpec, Pipeline, Step, TaskSpec
from foredeck.types import PipelineError, Source

_EXPR_ARTIFACT = re.compile(r"outputs\.parameters\[([\"'])" + re.escape(PREFIX) + r"(.*?)\1\]")
"""An artifact's locator result in an emitted expression, named back as the artifact."""
_TAG = re.compile(
    r"^\{\{(?:(tasks|steps)\.([^.]+)\.outputs|inputs|workflow(\.outputs)?)\.parameters\.argo-artifact-"
    r"([^}]+)\}\}(?:/(.+))?$"
)


def leaf_steps(spec: TaskSpec, steps: list[Step]) -> list[Step]:
    """The steps Argo runs: without the generated artifact steps."""
    if not spec.artifacts:
        return steps
    return [s for s in steps if s.name not in STEPS]


def body_text(text: str) -> str:
    """A step's text with container paths as written (the host rewrite undone)."""
    return text.replace(pod_root(), "")


def is_locator(name: str) -> bool:
    return artifact_of(name) is not None


def leaf_fields(spec: TaskSpec, template: dict[str, Any]) -> None:
    """Declare the spec's artifacts on its emitted template (after params and results)."""
    paths = _container_paths(spec)
    for direction, section in (("input", "inputs"), ("output", "outputs")):
        items = [_declaration(a, paths) for a in spec.artifacts if a.direction == direction]
        for item in items if direction == "output" else []:
            exported = spec.global_names.get(PREFIX + item["name"], "")
            if exported.startswith("artifacts."):
                item["globalName"] = exported.partition(".")[2]
        if items:
            template.setdefault(section, {})["artifacts"] = items


_WORKSPACE_PATH = re.compile(r"^\$\(workspaces\.([^.()]+)\.path\)(?=/|$)")


def _container_paths(spec: TaskSpec) -> dict[str, str]:
    """Each artifact's path in the emitted container, by name. The generated input step says
    where it puts each artifact: on a volume (`$(workspaces.W.path)/...`), which the emitter
    mounts at `WORKSPACE_ROOT/W` whatever its original mount path, or in the pod's own tree."""
    step = next((s for s in spec.steps if s.name == IN_STEP), None)
    if step is None:
        return {}
    outputs = [a for a in spec.artifacts if a.direction == "output"]
    inputs = [a for a in spec.artifacts if a.direction == "input"]
    where = {a.name: step.env.get(f"ARGO_ARTIFACT_OUT_{i}") for i, a in enumerate(outputs)}
    where |= {a.name: step.env.get(f"ARGO_ARTIFACT_{i}_PATH") for i, a in enumerate(inputs)}
    paths = {}
    for name, host in where.items():
        if host is not None and not host.startswith(pod_root()):
            paths[name] = _WORKSPACE_PATH.sub(lambda m: f"{WORKSPACE_ROOT}/{m.group(1)}", host)
    return paths


def _declaration(art: ArtifactSpec, paths: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": art.name, "path": paths.get(art.name, art.path)}
    if art.optional:
        out["optional"] = True
    if art.mode is not None:
        out["mode"] = art.mode
    if art.archive_fields:
        out["archive"] = art.archive_fields
    out.update(art.location)
    return out


def mounts_without_repository(mounts: list[dict[str, str]]) -> list[dict[str, str]]:
    return [m for m in mounts if m.get("name") != REPOSITORY]


def finish(workflow: dict[str, Any], pipeline: Pipeline) -> None:
    """Turn locator params into artifacts across an emitted workflow (see the docstring)."""
    spec = workflow["spec"]
    source = pipeline.source
    if pipeline.artifact_repository_ref:
        spec["artifactRepositoryRef"] = dict(pipeline.artifact_repository_ref)
    claims = spec.get("volumeClaimTemplates")
    if claims is not None:
        kept = [c for c in claims if c.get("metadata", {}).get("name") != REPOSITORY]
        if kept:
            spec["volumeClaimTemplates"] = kept
        else:
            del spec["volumeClaimTemplates"]
    entry = next((t for t in spec["templates"] if t["name"] == spec["entrypoint"]), None)
    arguments = spec.get("arguments", {})
    globals_ = _split(arguments, "parameters", "artifacts", _argument, source)
    if not arguments.get("parameters", True):
        del arguments["parameters"]
    if entry is not None and globals_:
        entry.setdefault("inputs", {})["artifacts"] = [{"name": a["name"]} for a in globals_]
    for template in spec["templates"]:
        for section in ("inputs", "outputs"):
            block = template.get(section)
            if isinstance(block, dict):
                convert = _input if section == "inputs" else _output
                _split(block, "parameters", "artifacts", convert, source)
        for call in _calls(template):
            block = call.get("arguments")
            if isinstance(block, dict):
                _split(block, "parameters", "artifacts", _argument, source)


def _calls(template: dict[str, Any]) -> list[dict[str, Any]]:
    calls = list(template.get("dag", {}).get("tasks", []))
    for group in template.get("steps", []):
        calls.extend(group)
    return calls


def _split(block: dict[str, Any], old: str, new: str, convert: Any, source: Source) -> list[Any]:
    """Move the locator entries of `block[old]` to `block[new]`, converted; the moved ones."""
    entries = block.get(old)
    if not isinstance(entries, list):
        return []
    moved = [convert(e, source) for e in entries if is_locator(str(e.get("name")))]
    moved = [m for m in moved if m is not None]
    kept = [e for e in entries if not is_locator(str(e.get("name")))]
    if len(kept) != len(entries):
        if kept:
            block[old] = kept
        else:
            del block[old]
        if moved:
            block.setdefault(new, []).extend(moved)
    return moved


def _argument(entry: dict[str, Any], source: Source) -> dict[str, Any] | None:
    name = str(artifact_of(str(entry["name"])))
    value = entry.get("value")
    if value is None:
        return {"name": name}
    return {"name": name, **_locator(str(value), name, source)}


def _input(entry: dict[str, Any], source: Source) -> dict[str, Any]:
    name = str(artifact_of(str(entry["name"])))
    default = entry.get("default")
    if default is None:
        return {"name": name}
    if default == "":
        return {"name": name, "optional": True}
    return {"name": name, **_locator(str(default), name, source)}


def _output(entry: dict[str, Any], source: Source) -> dict[str, Any]:
    name = str(artifact_of(str(entry["name"])))
    value_from = entry.get("valueFrom", {})
    if "expression" in value_from:  # an expression choosing an artifact
        expr = _EXPR_ARTIFACT.sub(r"outputs.artifacts[\1\2\1]", str(value_from["expression"]))
        return {"name": name, "fromExpression": expr}
    text = str(value_from.get("parameter", ""))
    found = _locator(text, name, source)
    if "from" not in found:
        raise PipelineError(source, f"output artifact {name!r}: Argo needs `from` here")
    return {"name": name, **found}


def _locator(text: str, name: str, source: Source) -> dict[str, Any]:
    """An emitted locator value as Argo artifact fields."""
    m = _TAG.match(text)
    if m:
        kind, node, exported, artifact, sub_path = m.groups()
        if kind is not None:
            ref = f"{{{{{kind}.{node}.outputs.artifacts.{artifact}}}}}"
        elif exported:  # a workflow output (`globalName`)
            ref = f"{{{{workflow.outputs.artifacts.{artifact}}}}}"
        else:  # `inputs.` or `workflow.` (the entrypoint's inputs hold the workflow's)
            ref = f"{{{{inputs.artifacts.{artifact}}}}}"
        out: dict[str, Any] = {"from": ref}
        if sub_path:
            out["subPath"] = sub_path
        return out
    kinds = {"key:": ("s3", "key"), "raw:": ("raw", "data"), "url:": ("http", "url")}
    kinds["git:"] = ("git", "repo")
    for prefix, (kind, field) in kinds.items():
        if text.startswith(prefix):
            return {kind: {field: text[len(prefix) :]}}
    if text == "":
        return {"optional": True}
    raise PipelineError(source, f"artifact {name!r}: {text!r} cannot be expressed in Argo")
