"""The Kubernetes objects a run brings beside its pipeline, as plain data: passed through to a
cluster by the emitters, and read locally where a host can (ConfigMaps)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from foredeck.types import UNKNOWN, Source


@dataclass
class ClusterObject:
    """A Kubernetes object that came with the pipeline (a ConfigMap, PVC, ServiceAccount, RBAC,
    a quota ...): meaningless to a host run, passed to the cluster by `--emit`. `manifest` is
    the document as plain data (a Secret's: its name only, never its data)."""

    api_version: str
    kind: str
    name: str
    manifest: dict[str, Any]
    source: Source = UNKNOWN

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass
class ConfigMapVolume:
    """A workspace the PipelineRun binds to a ConfigMap (a `configMap` volume source): locally
    its files are written from the input's ConfigMap of that name (`items`: (key, path) pairs
    to write, else every key as a file of its name; `optional`: a missing ConfigMap gives an
    empty directory). `raw` is the binding as written, for the emitters."""

    name: str
    items: list[tuple[str, str]] = field(default_factory=list)
    optional: bool = False
    raw: dict[str, Any] = field(default_factory=dict)
    source: Source = UNKNOWN
