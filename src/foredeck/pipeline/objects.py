"""The other Kubernetes objects of a pipeline's files: ConfigMaps it reads, and what it needs on
a cluster (PVCs, ServiceAccounts, RBAC, quotas, Secrets ...).

Upstream files often hold them next to the Workflow or PipelineRun so that one `kubectl create
-f` sets everything up. They are kept rather than refused: a ConfigMap's `data` feeds the
`configMapKeyRef`s of the run (env `valueFrom` of a step, and an Argo parameter's `valueFrom`),
read at load time so that a missing map or key is an error naming its `file:line` before
anything runs; the rest mean nothing on a host and are passed through by `--emit`, before the
workflow, in the order `kubectl` would need them. A Secret is kept by name only: its data is
never stored, logged or printed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from foredeck.pipeline.model import ClusterObject
from foredeck.types import PipelineError, Source
from foredeck.yamlsrc import Document, SourceMap, plain

ENGINE_GROUPS = ("tekton.dev", "argoproj.io")
"""API groups of the engines: their unsupported versions and kinds stay errors, not objects."""

_ORDER = (
    "Namespace",
    "ResourceQuota",
    "LimitRange",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "ClusterRole",
    "Role",
    "ClusterRoleBinding",
    "RoleBinding",
)
"""Kinds others depend on come first (as `helm install` orders them); any other kind after."""

# What the executor or the Argo front end would substitute in a value the cluster passes as is.
_SUBSTITUTED = re.compile(r"\{\{|\$\(\s*(params|tasks|results|workspaces|context|inputs|steps)\b")


def is_engine_api(api: str) -> bool:
    group = api.split("/", 1)[0] if "/" in api else ""
    return any(group == g or group.endswith("." + g) for g in ENGINE_GROUPS)


def cluster_object(doc: Document) -> ClusterObject:
    """A non-engine document as a cluster object (it needs `kind` and a name)."""
    data = doc.data
    assert isinstance(data, SourceMap)
    api, kind = data.get("apiVersion"), data.get("kind")
    if not isinstance(kind, str) or not kind:
        raise PipelineError(data.at("kind"), f"{api} document has no 'kind'")
    meta = data.get("metadata")
    name = ""
    if isinstance(meta, dict):
        name = meta.get("name") or meta.get("generateName") or ""
    if not isinstance(name, str) or not name:
        raise PipelineError(data.at("metadata"), f"{kind}: metadata.name is required")
    if kind == "Secret":  # by name only: its data never leaves the file
        manifest: dict[str, Any] = {"apiVersion": api, "kind": kind, "metadata": {"name": name}}
    else:
        manifest = plain(data)
    return ClusterObject(str(api), kind, name, manifest, data.source)


def config_maps(docs: Iterable[Document]) -> dict[str, dict[str, str]]:
    """The `data` of every ConfigMap among `docs`, by name."""
    out: dict[str, dict[str, str]] = {}
    first: dict[str, Source] = {}
    for doc in docs:
        data = doc.data
        if not isinstance(data, SourceMap) or data.get("kind") != "ConfigMap":
            continue
        if data.get("apiVersion") != "v1":
            continue
        meta = data.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        if not isinstance(name, str) or not name:
            raise PipelineError(data.at("metadata"), "ConfigMap: metadata.name is required")
        if name in first:
            message = f"duplicate ConfigMap {name!r} (also at {first[name]})"
            raise PipelineError(data.source, message)
        first[name] = data.source
        values = data.get("data")
        if values is None:  # `data:` left empty, or only `binaryData`
            values = {}
        if not isinstance(values, dict):
            raise PipelineError(data.at("data"), f"ConfigMap {name!r}: data must be a mapping")
        for key, value in values.items():
            if not isinstance(value, str):
                where = values.at(key) if isinstance(values, SourceMap) else data.at("data")
                raise PipelineError(
                    where, f"ConfigMap {name!r} key {key!r}: values are strings; quote {value!r}"
                )
        out[name] = {str(k): v for k, v in values.items()}
    return out


class _Resolver:
    """Rewrites `valueFrom.configMapKeyRef` into the value it reads (copy on write)."""

    def __init__(self, maps: Mapping[str, Mapping[str, str]], sources: Mapping[str, Source]):
        self.maps = maps
        self.sources = sources

    def walk(self, value: Any, parent: str = "") -> Any:
        if isinstance(value, list):
            items = [self.walk(item, parent) for item in value]
            kept = [item for item in items if item is not _DROP]
            same = all(a is b for a, b in zip(items, value, strict=True))
            changed = len(kept) != len(value) or not same
            return kept if changed else value
        if not isinstance(value, SourceMap):
            return value
        value_from = value.get("valueFrom")
        if isinstance(value_from, SourceMap) and "configMapKeyRef" in value_from:
            return self._resolve(value, value_from, parent)
        out: SourceMap | None = None
        for key, item in value.items():
            new = self.walk(item, str(key))
            if new is not item:
                out = out if out is not None else _copy(value)
                out[key] = new
        return value if out is None else out

    def _resolve(self, item: SourceMap, value_from: SourceMap, parent: str) -> Any:
        ref = value_from["configMapKeyRef"]
        where = f"{parent} {item.get('name')!r}" if parent else repr(item.get("name"))
        if not isinstance(ref, SourceMap):
            raise PipelineError(value_from.at("configMapKeyRef"), f"{where}: expected a mapping")
        name, key = ref.get("name"), ref.get("key")
        if not isinstance(name, str) or not isinstance(key, str) or not name or not key:
            raise PipelineError(ref.source, f"{where}: configMapKeyRef needs `name` and `key`")
        found = self.maps.get(name, {}).get(key)
        out = _copy(item)
        del out["valueFrom"]
        if found is not None:
            match = _SUBSTITUTED.search(found)
            if match:
                raise PipelineError(
                    ref.at("key"),
                    f"{where}: ConfigMap {name!r} key {key!r} holds {match.group(0)!r}, which"
                    " a local run would substitute but the cluster passes as is",
                )
            out["value"] = found
            out.key_sources["value"] = ref.at("key")
            return out
        if "default" in value_from:  # Argo: used when the map or key cannot be read
            out["value"] = value_from["default"]
            out.key_sources["value"] = value_from.at("default")
            return out
        if ref.get("optional") is True:
            return _DROP if parent == "env" else out  # an optional env var is left unset
        if name not in self.maps:
            why = f"ConfigMap {name!r} is not among the input files (add its manifest to them"
            why += ", or set optional: true)"
        else:
            keys = ", ".join(sorted(self.maps[name])) or "none"
            why = f"ConfigMap {name!r} (at {self.sources[name]}) has no key {key!r} (keys: {keys})"
        raise PipelineError(ref.source, f"{where}: {why}")


_DROP: Any = object()


def _copy(m: SourceMap) -> SourceMap:
    out = SourceMap(m)
    out.source = m.source
    out.key_sources = dict(m.key_sources)
    return out


def resolve_config_refs(
    docs: list[Document], maps: Mapping[str, Mapping[str, str]], objects: list[ClusterObject]
) -> list[Document]:
    """`docs` with each `configMapKeyRef` (env, Argo parameters) replaced by its value.

    A missing map or key is an error unless the reference is `optional` (the env var is then
    unset, the parameter keeps its default) or, for Argo, has a `valueFrom.default`.
    """
    sources = {o.name: o.source for o in objects if o.kind == "ConfigMap"}
    resolver = _Resolver(maps, sources)
    out = []
    for doc in docs:
        data = resolver.walk(doc.data)
        out.append(doc if data is doc.data else Document(data, doc.source, doc.duplicate_keys))
    return out


def passed_through(objects: Iterable[ClusterObject]) -> str:
    """The run log's one line about the objects a host run does not use ("" when none)."""
    others = [o.label for o in objects if o.kind not in ("ConfigMap", "StepAction")]
    if not others:
        return ""
    noun = "object" if len(others) == 1 else "objects"
    return (
        f"{len(others)} cluster {noun} passed through (not created by a host run;"
        f" --emit passes them to the cluster): {', '.join(others)}"
    )


def emitted(objects: Iterable[ClusterObject]) -> tuple[list[dict[str, Any]], list[str]]:
    """The manifests `--emit` prints before the workflow, dependencies first, and one note per
    Secret it leaves out (a Secret's data is never printed)."""
    rank = {kind: i for i, kind in enumerate(_ORDER)}
    ordered = sorted(
        enumerate(objects), key=lambda pair: (rank.get(pair[1].kind, len(rank)), pair[0])
    )
    manifests, notes = [], []
    for _, obj in ordered:
        if obj.kind == "Secret":
            notes.append(
                f"Secret {obj.name} ({obj.source}) is not printed: create it on the cluster first"
            )
        else:
            manifests.append(obj.manifest)
    return manifests, notes
