"""Render `deploy/helm/foredeck` like `helm template` would, and validate the objects strictly.

Regenerate the committed manifests after changing the chart:

    .venv/bin/python -m tests.deploy.chart > deploy/manifests/foredeck.yaml
"""

from __future__ import annotations

import copy
import datetime
import sys
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s

from tests.deploy.gotemplate import render_chart

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "foredeck"
MANIFESTS = ROOT / "deploy" / "manifests" / "foredeck.yaml"
RELEASE = "foredeck"
NAMESPACE = "foredeck"


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's values merge: maps merge recursively, anything else replaces."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def render(
    values: dict[str, Any] | None = None, *, release: str = RELEASE, namespace: str = NAMESPACE
) -> str:
    """The chart's manifests as one multi-document YAML stream, templates in name order."""
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    context = {
        "Values": merge(defaults, values or {}),
        "Release": {"Name": release, "Namespace": namespace, "Service": "Helm"},
        "Chart": {
            "Name": chart["name"],
            "Version": chart["version"],
            "AppVersion": chart["appVersion"],
        },
    }
    templates = sorted((CHART / "templates").glob("*.yaml"))
    helpers = [p.read_text() for p in sorted((CHART / "templates").glob("_*.tpl"))]
    rendered = render_chart({p.name: p.read_text() for p in templates}, helpers, context)
    parts = []
    for name in sorted(rendered):
        body = rendered[name].strip("\n")
        if body.strip():
            parts.append(f"---\n# Source: foredeck/templates/{name}\n{body}\n")
    return "".join(parts)


def objects(stream: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(stream) if doc is not None]


PRIMITIVES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "bytes": (str, bytes),
    "datetime": (str, datetime.datetime),
    "date": (str, datetime.date),
}


def strict_check(data: Any, type_name: str, where: str) -> None:
    """Reject unknown fields and wrongly typed values against the official client's models."""
    if type_name.startswith("Optional["):
        strict_check(data, type_name[9:-1], where)
        return
    if type_name.startswith(("List[", "list[")):
        if not isinstance(data, list):
            raise ValueError(f"{where}: expected a list, got {data!r}")
        for i, item in enumerate(data):
            strict_check(item, type_name[5:-1], f"{where}[{i}]")
        return
    if type_name.startswith(("Dict[", "dict(")):
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected a map, got {data!r}")
        value_type = type_name[5:-1].split(", ", 1)[1]
        for key, item in data.items():
            strict_check(item, value_type, f"{where}.{key}")
        return
    if type_name == "object":  # IntOrString, Quantity, raw extensions
        if not isinstance(data, str | int | float | dict | list):
            raise ValueError(f"{where}: unexpected value {data!r}")
        return
    if type_name in PRIMITIVES:
        ok = isinstance(data, PRIMITIVES[type_name])
        if type_name in {"int", "float"} and isinstance(data, bool):
            ok = False
        if not ok:
            raise ValueError(f"{where}: expected {type_name}, got {data!r}")
        return
    model = getattr(k8s, type_name)
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a {type_name} object, got {data!r}")
    by_json = {json_name: attr for attr, json_name in model.attribute_map.items()}
    unknown = sorted(set(data) - set(by_json))
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown} for {type_name}")
    for key, value in data.items():
        if value is not None:
            strict_check(value, model.openapi_types[by_json[key]], f"{where}.{key}")


def validate(obj: dict[str, Any]) -> Any:
    """The object as its `kubernetes.client` model; raises on unknown/missing/mistyped fields."""
    version = obj.get("apiVersion", "").rsplit("/", 1)[-1]
    type_name = version.capitalize() + obj.get("kind", "")
    if not hasattr(k8s, type_name):
        raise ValueError(f"no kubernetes model {type_name} for {obj.get('kind')}")
    strict_check(obj, type_name, obj["kind"])
    # The generated models raise ValueError when a required field is missing.
    api = k8s.ApiClient()
    try:
        return api._ApiClient__deserialize(obj, type_name)  # type: ignore[attr-defined]
    finally:
        api.close()


if __name__ == "__main__":
    sys.stdout.write(render())
