"""Argo fields that steer the pod or the controller, not what a step does: carried, not run.

`podSpecPatch`, `nodeSelector`, `memoize`, `synchronization`, `archiveLocation`,
`artifactRepositoryRef`, ... change nothing on a host, but a cluster acts on them: they are
kept as written (plain data, Argo's `{{...}}` tags included) in `Pipeline.cluster` and
`TaskSpec.cluster`, so that `--emit argo` writes them back and a host run says once that it
ignores them. `templateDefaults` is the exception that changes templates: it is merged into
each container/script/containerSet template as Argo's controller merges it.

`http` templates run on a host (`argo/http.py`); `resource` templates load, and a run needs a
cluster (`argo/resource.py`).
"""

from __future__ import annotations

from typing import Any

from foredeck.pipeline.argo.fields import IGNORED_SPEC, IGNORED_TEMPLATE, fail, src
from foredeck.types import Source
from foredeck.yamlsrc import SourceMap, plain

CARRIED_SPEC = (IGNORED_SPEC - {"parallelism", "shutdown"}) | {
    "podSpecPatch",
    "synchronization",
}
"""Workflow `spec` fields kept for the cluster (`parallelism` and `shutdown` steer the run
itself and stay accepted without effect; `artifactRepositoryRef` is the artifacts' own,
`argo/artifacts.py`)."""

CARRIED_TEMPLATE = (IGNORED_TEMPLATE - {"parallelism"}) | {
    "podSpecPatch",
    "archiveLocation",
    "memoize",
    "synchronization",
}
"""Fields of a container/script/containerSet template kept for the cluster."""

CARRIED_CONTAINER = {"resources": "computeResources", "securityContext": "securityContext"}
CARRIED_CONTAINER |= {"imagePullPolicy": "imagePullPolicy"}
"""Container fields kept in `Step.cluster`, under the IR's (Tekton's) names."""

SIDECAR_ONLY = ("ports", "readinessProbe", "livenessProbe", "startupProbe")
"""Fields a sidecar may carry for the cluster (a service's ports and probes)."""

_KINDS = ("container", "script", "containerSet", "dag", "steps", "resource", "http")


def carried(m: SourceMap, keys: set[str]) -> dict[str, Any]:
    """The fields of `m` among `keys`, as written."""
    return {key: plain(m[key]) for key in sorted(keys) if key in m}


def container_cluster(c: SourceMap, sidecar: bool) -> dict[str, Any]:
    out = {CARRIED_CONTAINER[k]: plain(c[k]) for k in sorted(CARRIED_CONTAINER) if k in c}
    if sidecar:
        out.update({k: plain(c[k]) for k in SIDECAR_ONLY if k in c})
    return out


def _merge(default: Any, given: Any) -> Any:
    """`given` over `default` as a strategic merge patch does for a template: mappings merge
    key by key, lists of named entries (env, volumeMounts) merge by name, other values and
    lists are replaced."""
    if isinstance(default, dict) and isinstance(given, dict):
        merged = SourceMap({**default, **given})
        merged.source = getattr(given, "source", src(default))
        merged.key_sources = {
            **getattr(default, "key_sources", {}),
            **getattr(given, "key_sources", {}),
        }
        for key in set(default) & set(given):
            merged[key] = _merge(default[key], given[key])
        return merged
    if _named(default) and _named(given):
        names = {entry["name"] for entry in given}
        return [*(e for e in default if e["name"] not in names), *given]
    return given


def _named(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(e, dict) and "name" in e for e in value)


def with_defaults(template: SourceMap, defaults: SourceMap | None) -> SourceMap:
    """A template with `spec.templateDefaults` merged in (the template's own values win).

    Argo keeps the template's kind: a default `container` reaches container templates only.
    foredeck merges into leaf templates (container, script, containerSet), the ones whose
    fields `templateDefaults` sets in practice (timeout, retryStrategy, container fields); a
    dag/steps template is left as written.
    """
    if defaults is None or not any(k in template for k in ("container", "script", "containerSet")):
        return template
    own = [k for k in _KINDS if k in template]
    base = SourceMap({k: v for k, v in defaults.items() if k not in _KINDS or k in own})
    base.source = defaults.source
    base.key_sources = dict(defaults.key_sources)
    merged = _merge(base, template)
    assert isinstance(merged, SourceMap)
    return merged


def container_order(after: dict[str, list[str]], source: Source, where: str) -> list[str]:
    """A containerSet's containers in an order that respects their `dependencies`: a host runs
    them one by one (Argo runs independent ones at once, in one pod). Among the containers
    ready at each point, the one declared first goes first."""
    for name, deps in after.items():
        for dep in deps:
            if dep not in after:
                raise fail(source, f"{where}: container {name!r} depends on unknown {dep!r}")
    order: list[str] = []
    while len(order) < len(after):
        ready = [n for n, d in after.items() if n not in order and all(x in order for x in d)]
        if not ready:
            cycle = sorted(n for n in after if n not in order)
            raise fail(source, f"{where}: the dependencies of {', '.join(cycle)} form a cycle")
        order.append(ready[0])
    return order
