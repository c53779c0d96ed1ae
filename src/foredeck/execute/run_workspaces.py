"""What a PipelineRun's workspace bindings mean on a host.

Locally every pipeline workspace is a directory of the run (or what `--workspace` binds). Two
bindings say more: an optional workspace the PipelineRun binds nothing to is unbound (the tasks
given it see `$(workspaces.W.bound)` false), and one bound to a ConfigMap holds that ConfigMap's
keys as files, read from the input's ConfigMaps, as its volume would show them. A ConfigMap the
input lacks fails the run before any task starts, as the pod would fail on a cluster (a cluster
may have it: loading and `--emit` do not ask for it).
"""

from __future__ import annotations

from collections.abc import Mapping

from foredeck.execute.workspace import RunLayout
from foredeck.pipeline.model import ConfigMapVolume, Pipeline
from foredeck.types import PipelineError


def prepare(
    pipeline: Pipeline, layout: RunLayout, config_maps: Mapping[str, Mapping[str, str]]
) -> set[str]:
    """Write the ConfigMap-bound workspaces' files; the run's unbound optional workspaces.
    Raises PipelineError for a ConfigMap (or a key of its `items`) the input lacks."""
    for name, volume in pipeline.config_map_workspaces.items():
        if not layout.is_bound(name):
            write_config_map(layout, name, volume, config_maps)
    return {name for name in pipeline.unbound_workspaces if not layout.is_bound(name)}


def write_config_map(
    layout: RunLayout,
    workspace: str,
    volume: ConfigMapVolume,
    config_maps: Mapping[str, Mapping[str, str]],
) -> None:
    """Each key a file of its name, or `items`' keys at their paths; a missing optional
    ConfigMap or key: nothing."""
    data = config_maps.get(volume.name)
    if data is None and not volume.optional:
        raise PipelineError(
            volume.source,
            f"workspace {workspace!r} is bound to ConfigMap {volume.name!r}, which is not among"
            " the input's documents (a host run takes its files from there)",
        )
    data = data or {}
    missing = [key for key, _ in volume.items if key not in data]
    if missing and not volume.optional:
        raise PipelineError(
            volume.source, f"workspace {workspace!r}: ConfigMap {volume.name!r} has no {missing}"
        )
    directory = layout.workspace(workspace)
    for key, relative in volume.items or [(key, key) for key in data]:
        if key in data:
            target = directory / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(data[key], encoding="utf-8")
