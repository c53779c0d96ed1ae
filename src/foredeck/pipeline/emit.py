"""`foredeck run --emit argo|tekton`: a pipeline run as a manifest for a cluster.

The input's other Kubernetes objects (PVCs, ServiceAccounts, RBAC, ConfigMaps ...) come first,
as documents of their own, so that `kubectl create -f` sets up what the run needs; a Secret is
named in a comment, never printed.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import yaml

from foredeck.pipeline.emit_argo import emit_argo
from foredeck.pipeline.emit_tekton import emit_tekton
from foredeck.pipeline.model import PipelineRunSpec
from foredeck.pipeline.objects import emitted

EmitFormat = Literal["argo", "tekton"]


class _Dumper(yaml.SafeDumper):
    """Scripts stay readable: multi-line strings as `|` blocks; a value used twice (a run
    param's value that is also its default) is written twice, not as an `&anchor`."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def manifest(run: PipelineRunSpec, fmt: EmitFormat) -> dict[str, Any]:
    if fmt == "argo":
        return emit_argo(run)
    if fmt == "tekton":
        return emit_tekton(run)
    raise ValueError(f"unknown format {fmt!r} (expected 'argo' or 'tekton')")


def emit(run: PipelineRunSpec, fmt: EmitFormat) -> str:
    """The run as YAML: its cluster objects, then an Argo `Workflow` or a Tekton `PipelineRun`."""
    return with_objects(run, manifest(run, fmt))


def with_objects(run: PipelineRunSpec, doc: dict[str, Any]) -> str:
    """`doc` as YAML after the run's cluster objects (one document each). A Tekton StepAction
    goes only where a step still refers to it (one that could not be inlined)."""
    text = json.dumps(doc)
    objects = [
        o
        for o in run.cluster_objects
        if o.kind != "StepAction" or f'"ref": {json.dumps({"name": o.name})}' in text
    ]
    manifests, notes = emitted(objects)
    head = "".join(f"# {note}\n" for note in notes)
    return head + "---\n".join(dump(m) for m in [*manifests, doc])


def dump(doc: dict[str, Any]) -> str:
    """A manifest as YAML, in the order it was built, scripts as `|` blocks."""
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
