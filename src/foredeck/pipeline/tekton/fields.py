"""Typed reads of Tekton YAML: every failure names the field and where it was written.

Tekton's values are strings (`true` and `3` are strings to a Task); these readers accept what
Tekton accepts, refuse the rest with a `PipelineError` at the field's `file:line`, and refuse
fields the IR cannot express (`check_fields`) rather than drop them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, cast

from foredeck.pipeline.durations import parse_timeout
from foredeck.pipeline.model import ParamType, ParamValue, value_type
from foredeck.types import PipelineError, Source
from foredeck.yamlsrc import SourceMap, plain

_LEGACY_INPUTS = re.compile(r"(\$\(\s*)inputs\.params(?=[.\[])")


def as_map(value: Any, where: Source, what: str) -> SourceMap:
    if not isinstance(value, SourceMap):
        raise PipelineError(where, f"{what} must be a mapping, got {kind_of(value)}")
    return value


def kind_of(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"{type(value).__name__} {value!r}"


def check_fields(m: SourceMap, allowed: Iterable[str], what: str) -> None:
    allowed = tuple(allowed)
    for key in m:
        if key not in allowed:
            raise PipelineError(
                m.at(key),
                f"{what}: unsupported field {key!r} (supported: {', '.join(allowed)})",
            )


def map_field(m: SourceMap, key: str, what: str) -> dict[str, Any]:
    """A mapping field as plain data (absent: empty)."""
    if m.get(key) is None:
        return {}
    return cast(dict[str, Any], plain(as_map(m[key], m.at(key), f"{what} {key!r}")))


def legacy_inputs(text: str) -> str:
    """`$(inputs.params.x)`, the pre-v1 spelling Tekton still substitutes, as `$(params.x)`."""
    if "inputs.params" not in text:
        return text
    return _LEGACY_INPUTS.sub(r"\1params", text)


def scalar(value: Any) -> str | None:
    """A YAML scalar as Tekton sees it (`true` and `3` are strings to a Task)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return None


def str_field(m: SourceMap, key: str, what: str, *, required: bool = False) -> str | None:
    """A scalar field as a string (absent: None, or an error when `required`)."""
    value = m.get(key)
    if value is None:
        if required:
            raise PipelineError(m.source, f"{what}: missing required field {key!r}")
        return None
    text = scalar(value)
    if text is None:
        raise PipelineError(m.at(key), f"{what}: {key!r} must be a string, got {kind_of(value)}")
    return text


def name_of(m: SourceMap, what: str) -> str:
    name = str_field(m, "name", what, required=True)
    assert name is not None
    if not name:
        raise PipelineError(m.at("name"), f"{what}: 'name' must not be empty")
    return name


def str_list(m: SourceMap, key: str, what: str) -> list[str]:
    value = m.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise PipelineError(m.at(key), f"{what}: {key!r} must be a list, got {kind_of(value)}")
    out: list[str] = []
    for item in value:
        text = scalar(item)
        if text is None:
            raise PipelineError(
                m.at(key), f"{what}: {key!r} items must be strings, got {kind_of(item)}"
            )
        out.append(text)
    return out


def map_list(m: SourceMap, key: str, what: str) -> list[SourceMap]:
    """A list of mappings (absent: empty)."""
    value = m.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise PipelineError(m.at(key), f"{what}: {key!r} must be a list, got {kind_of(value)}")
    out: list[SourceMap] = []
    for item in value:
        if not isinstance(item, SourceMap):
            raise PipelineError(
                m.at(key), f"{what}: {key!r} items must be mappings, got {kind_of(item)}"
            )
        out.append(item)
    return out


def bool_field(m: SourceMap, key: str, what: str) -> bool:
    value = m.get(key, False)
    if not isinstance(value, bool):
        raise PipelineError(m.at(key), f"{what}: {key!r} must be true or false")
    return value


def timeout_field(m: SourceMap, key: str, what: str) -> float | None:
    value = m.get(key)
    if value is None:
        return None
    try:
        return parse_timeout(value)
    except ValueError as exc:
        raise PipelineError(m.at(key), f"{what}: {key!r}: {exc}") from None


def param_value(value: Any, where: Source, what: str) -> ParamValue:
    """A param value: a string, an array of strings or an object of strings."""
    text = scalar(value)
    if text is not None:
        return text
    if isinstance(value, list):
        items = [scalar(item) for item in value]
        if any(item is None for item in items):
            raise PipelineError(where, f"{what}: array items must be strings")
        return cast(list[str], items)
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for key, item in value.items():
            text = scalar(item)
            if text is None:
                raise PipelineError(where, f"{what}: object values must be strings")
            out[key] = text
        return out
    raise PipelineError(where, f"{what}: value must be a string, an array or an object")


def param_type(m: SourceMap, what: str, default: ParamValue | None) -> ParamType:
    """The declared `type`, else the default's, else `object` if `properties` are given."""
    declared = str_field(m, "type", what)
    if declared is None:
        if default is not None:
            return value_type(default)
        return "object" if m.get("properties") is not None else "string"
    if declared not in ("string", "array", "object"):
        raise PipelineError(
            m.at("type"), f"{what}: type {declared!r} is not one of string, array, object"
        )
    return cast(ParamType, declared)


def name_values(
    m: SourceMap, key: str, what: str
) -> tuple[dict[str, ParamValue], dict[str, Source]]:
    """Tekton's `[{name, value}]` lists (task params, run params, matrix params)."""
    values: dict[str, ParamValue] = {}
    sources: dict[str, Source] = {}
    for item in map_list(m, key, what):
        check_fields(item, ("name", "value"), f"{what} param")
        name = name_of(item, f"{what} param")
        if name in values:
            raise PipelineError(item.at("name"), f"{what}: duplicate param {name!r}")
        if "value" not in item:
            raise PipelineError(item.source, f"{what}: param {name!r} has no 'value'")
        values[name] = param_value(item["value"], item.at("value"), f"{what} param {name!r}")
        sources[name] = item.source
    return values, sources


def metadata_name(doc: SourceMap, kind: str, *, generate: bool = False) -> str:
    """`metadata.name` (or, with `generate`, `generateName`) of a document."""
    if "metadata" not in doc:
        raise PipelineError(doc.source, f"{kind}: missing 'metadata.name'")
    meta = as_map(doc.get("metadata"), doc.at("metadata"), f"{kind} 'metadata'")
    name = str_field(meta, "name", f"{kind} metadata")
    if name is None and generate:
        name = str_field(meta, "generateName", f"{kind} metadata")
    if not name:
        raise PipelineError(meta.source, f"{kind}: missing 'metadata.name'")
    return name


def doc_spec(doc: SourceMap, kind: str, name: str) -> SourceMap:
    if "spec" not in doc:
        raise PipelineError(doc.source, f"{kind} {name!r}: missing 'spec'")
    return as_map(doc["spec"], doc.at("spec"), f"{kind} {name!r} 'spec'")
