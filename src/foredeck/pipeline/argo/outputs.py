"""Template outputs: what a dag/steps template passes up, and what a container writes to files.

A container/script output parameter is read from a file (`valueFrom.path`) and becomes a task
result (copied by the `argo-outputs` step, `pipeline/collector.py`); a dag/steps template's output
(`valueFrom.parameter`) names an inner node's output, and on the entrypoint becomes a pipeline
result. `outputs.result` (stdout) and the exit code are implicit results of every container
(`leaf.py`). Artifacts (`artifacts.py`) are results too: a dag/steps template's output artifact
is the locator result its `from` names. `valueFrom.expression` is expr-lang over the same
scope as a `{{=...}}` tag (`tags.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from foredeck.pipeline.argo.artifacts import group_artifact_sources
from foredeck.pipeline.argo.fields import (
    as_list,
    as_map,
    at,
    check_keys,
    fail,
    name_of,
    scalar,
    src,
)
from foredeck.pipeline.argo.state import Scope
from foredeck.pipeline.argo.tags import call_text
from foredeck.pipeline.artifacts import locator_name
from foredeck.pipeline.model import ParamSpec
from foredeck.types import Source
from foredeck.yamlsrc import SourceMap


class FileOutput(NamedTuple):
    """An output parameter of a container/script template, read from the file at `path`."""

    name: str
    path: str
    default: str | None
    source: Source


def group_outputs(
    template: SourceMap, scope: Scope, params: Mapping[str, ParamSpec], where: str
) -> dict[str, str]:
    """A dag/steps template's output parameters, as IR expressions over its inner nodes."""
    raw = as_map(template.get("outputs") or {}, at(template, "outputs"), where)
    check_keys(raw, {"parameters", "artifacts"}, set(), f"{where} outputs")
    outputs: dict[str, str] = {}
    for name, (written, at_from) in group_artifact_sources(template, where).items():
        outputs[name] = call_text(written, scope, params, at_from, f"{where} output artifact")
    for item in as_list(raw.get("parameters"), at(raw, "parameters"), where):
        p = as_map(item, at(raw, "parameters"), f"{where} outputs.parameters")
        check_keys(p, {"name", "valueFrom", "description"}, set(), f"{where} outputs")
        pname = name_of(p, f"{where} outputs.parameters")
        value_from = as_map(p.get("valueFrom"), at(p, "valueFrom"), f"{where} output {pname!r}")
        owhere = f"{where} output {pname!r}"
        check_keys(value_from, {"parameter", "expression"}, set(), f"{owhere} valueFrom")
        outputs[pname] = _group_output(value_from, scope, params, owhere)
    return outputs


def global_names(template: SourceMap, where: str) -> dict[str, str]:
    """A container/script template's exported outputs: result -> `parameters.G` /
    `artifacts.G` (`globalName` G, which `{{workflow.outputs....G}}` reads)."""
    raw = template.get("outputs")
    found: dict[str, str] = {}
    if not isinstance(raw, Mapping):
        return found
    for kind in ("parameters", "artifacts"):
        items = raw.get(kind)
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, Mapping) or "globalName" not in item:
                continue
            name = str(item.get("name"))
            g = scalar(item["globalName"], at(item, "globalName"), f"{where} output {name!r}")
            if not g or "{{" in g:
                why = "globalName must be a plain name"
                raise fail(at(item, "globalName"), f"{where} output {name!r}: {why}")
            found[name if kind == "parameters" else locator_name(name)] = f"{kind}.{g}"
    return found


def _group_output(
    value_from: SourceMap, scope: Scope, params: Mapping[str, ParamSpec], owhere: str
) -> str:
    """`valueFrom.parameter` (a tag) or `valueFrom.expression` (expr-lang over the scope)."""
    if len(set(value_from) & {"parameter", "expression"}) != 1:
        why = "needs exactly one of valueFrom.parameter and valueFrom.expression"
        raise fail(src(value_from), f"{owhere}: {why}")
    key = "parameter" if "parameter" in value_from else "expression"
    text = value_from[key]
    if not isinstance(text, str) or not text.strip():
        raise fail(at(value_from, key), f"{owhere}: valueFrom.{key} must be a non-empty string")
    if key == "expression":  # evaluated by Argo over the same scope as a `{{=...}}` tag
        text = "{{=" + text + "}}"
    return call_text(text, scope, params, at(value_from, key), f"{owhere} valueFrom.{key}")


def file_outputs(template: SourceMap, where: str) -> list[FileOutput]:
    """A container/script template's output parameters (each read from a file)."""
    raw = as_map(template.get("outputs") or {}, at(template, "outputs"), where)
    check_keys(raw, {"parameters", "artifacts"}, set(), f"{where} outputs")
    outputs: list[FileOutput] = []
    for item in as_list(raw.get("parameters"), at(raw, "parameters"), where):
        p = as_map(item, at(raw, "parameters"), f"{where} outputs.parameters")
        check_keys(p, {"name", "valueFrom", "description", "globalName"}, set(), f"{where} output")
        name = name_of(p, f"{where} outputs.parameters")
        owhere = f"{where} output {name!r}"
        value_from = as_map(p.get("valueFrom"), at(p, "valueFrom"), owhere)
        check_keys(value_from, {"path", "default"}, set(), f"{owhere} valueFrom")
        path = value_from.get("path")
        if not isinstance(path, str) or not path:
            raise fail(src(value_from), f"{owhere}: needs valueFrom.path")
        default = None
        if "default" in value_from:
            default = scalar(value_from["default"], at(value_from, "default"), owhere)
        if any(out.name == name for out in outputs):
            raise fail(at(p, "name"), f"{owhere}: duplicate output parameter")
        outputs.append(FileOutput(name, path, default, src(p)))
    return outputs
