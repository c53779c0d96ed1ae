"""Validation of rendered Kubernetes objects by the `kubernetes` client's own models.

No JSON schemas for `rbac.authorization.k8s.io/v1` or a core `ConfigMap` are vendored in
`tests/data/schemas` (the Argo and Tekton ones hold only the types their CRDs use). The
`kubernetes` package's models (37.x, generated from the API server's OpenAPI description
release-1.37) are pydantic models: building one checks each required field and each type. A
model silently drops keys it does not know, so the object is also serialised back and must
equal the input: a misspelt or unknown field, anywhere, fails. Names are checked as the API
server does (RBAC objects: path segment names; namespaces: DNS labels), which no model does,
and `metadata` is validated against the upstream `ObjectMeta` schema (from the vendored Argo
schema, `tests/data/schemas/README.md`) as the API double for resource tasks does.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from kubernetes.client import (
    ApiClient,
    V1ClusterRole,
    V1ClusterRoleBinding,
    V1ConfigMap,
    V1Role,
    V1RoleBinding,
)

MODELS: dict[tuple[str, str], Any] = {
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): V1ClusterRole,
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): V1ClusterRoleBinding,
    ("rbac.authorization.k8s.io/v1", "Role"): V1Role,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): V1RoleBinding,
    ("v1", "ConfigMap"): V1ConfigMap,
}
SCHEMAS = Path(__file__).resolve().parents[1] / "data" / "schemas"
CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding"}
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
CONFIGMAP_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


@cache
def meta_validator() -> Draft7Validator:
    schema = json.loads((SCHEMAS / "argo-workflows-schema.json").read_text())
    ref = "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    return Draft7Validator({"$ref": ref, "definitions": schema["definitions"]})


def problems(obj: Any) -> list[str]:
    """What is wrong with `obj` as a Kubernetes object of the kinds foredeck renders."""
    if not isinstance(obj, dict):
        return ["not a mapping"]
    model = MODELS.get((str(obj.get("apiVersion")), str(obj.get("kind"))))
    if model is None:
        return [f"unknown apiVersion/kind {obj.get('apiVersion')}/{obj.get('kind')}"]
    try:
        built = model.from_dict(obj)
    except Exception as exc:  # pydantic's ValidationError, with every field that failed
        return [str(exc)]
    found = []
    again = ApiClient().sanitize_for_serialization(built)
    if again != obj:
        found.append(f"fields the model does not know or types it changed: {again} != {obj}")
    meta = obj.get("metadata") or {}
    found.extend(f"metadata: {e.message[:200]}" for e in meta_validator().iter_errors(meta))
    name, namespace = meta.get("name", ""), meta.get("namespace")
    if obj["kind"] in CLUSTER_SCOPED:
        if namespace is not None:
            found.append(f"{obj['kind']} is cluster-scoped but has a namespace")
    elif namespace is None or not DNS_LABEL.match(namespace):
        found.append(f"namespace {namespace!r} is not a DNS label")
    if obj["kind"] == "ConfigMap":
        if not CONFIGMAP_NAME.match(name):
            found.append(f"ConfigMap name {name!r} is not a DNS subdomain")
    elif not name or name in (".", "..") or "/" in name or "%" in name or len(name) > 253:
        found.append(f"{obj['kind']} name {name!r} is not a path segment name")
    return found
