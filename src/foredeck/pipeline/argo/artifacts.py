"""Argo artifact declarations: template inputs and outputs, call arguments, dag/steps outputs.

An artifact travels as a locator string (`pipeline/artifacts.py`): an input artifact is the
template's param `argo-artifact-NAME` (its own location, if any, is the default), an output
artifact the result of the same name, so that `from: "{{tasks.A.outputs.artifacts.x}}"` passes
a result like any output parameter. Locations name where Argo's executor would fetch or store:
`s3`/`gcs`/`oss` keys and `azure` blobs are keys of the run's repository (a host run stands
its own repository in for the configured one), `raw` is inline data, `http`/`artifactory`
URLs and `git` repositories need the network (a run-time error on a host).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from foredeck.pipeline.argo.fields import (
    NAME,
    as_list,
    as_map,
    at,
    check_keys,
    fail,
    name_of,
    scalar,
    src,
    unsupported,
)
from foredeck.pipeline.artifacts import MAX_RAW, locator_name
from foredeck.pipeline.model import ArtifactArchive, ArtifactSpec, ParamSpec
from foredeck.types import Source
from foredeck.yamlsrc import SourceMap, plain

KEYED = {"s3": "key", "gcs": "key", "oss": "key", "azure": "blob"}
FETCHED = {"http": "url", "artifactory": "url", "git": "repo"}
REMOTE = {"hdfs", "plugin", "huggingface"}
LOCATIONS = {*KEYED, *FETCHED, *REMOTE, "raw"}
IGNORED = {"archiveLogs", "artifactGC", "deleted", "recurseMode", "globalName", "description"}
FIELDS = {"name", "path", "optional", "mode", "archive", *LOCATIONS}


def uses_artifacts(value: Any) -> bool:
    """Whether any `artifacts` list appears in a workflow spec (then it gets a repository)."""
    if isinstance(value, dict):
        found = isinstance(value.get("artifacts"), list) and bool(value["artifacts"])
        return found or any(uses_artifacts(v) for v in value.values())
    if isinstance(value, list):
        return any(uses_artifacts(v) for v in value)
    return False


def _location(a: SourceMap, where: str) -> tuple[dict[str, Any], str | None]:
    """The artifact's location as written, and its locator (None: it has none)."""
    kinds = [k for k in a if k in LOCATIONS]
    if len(kinds) > 1:
        raise fail(src(a), f"{where}: more than one location ({', '.join(kinds)})")
    if not kinds:
        return {}, None
    kind = kinds[0]
    raw = as_map(a[kind], at(a, kind), f"{where} {kind}")
    written = {kind: plain(raw)}
    if kind == "raw":
        data = raw.get("data")
        if not isinstance(data, str):
            raise fail(at(a, kind), f"{where}: raw needs `data`")
        if len(data.encode()) > MAX_RAW:
            raise fail(at(a, kind), f"{where}: raw data is over {MAX_RAW} bytes")
        return written, "raw:" + data
    field = KEYED.get(kind) or FETCHED.get(kind)
    value = raw.get(field) if field else None
    if isinstance(value, str) and value:
        if kind in KEYED:
            return written, "key:" + value.lstrip("/")
        return written, ("git:" if kind == "git" else "url:") + value
    return written, f"remote:{kind} location"


def _archive(a: SourceMap, where: str) -> tuple[ArtifactArchive, dict[str, Any]]:
    if "archive" not in a:
        return "tgz", {}
    raw = as_map(a["archive"], at(a, "archive"), f"{where} archive")
    check_keys(raw, {"none", "tar"}, set(), f"{where} archive")
    if len(raw) != 1:
        raise fail(at(a, "archive"), f"{where}: archive needs exactly one of none, tar")
    return ("none" if "none" in raw else "tgz"), plain(raw)


def _artifact(raw: Any, source: Source, where: str, direction: str) -> ArtifactSpec:
    a = as_map(raw, source, where)
    check_keys(a, FIELDS, IGNORED, where)
    name = name_of(a, where)
    awhere = f"{where} {name!r}"
    path = a.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise fail(at(a, "path") if "path" in a else src(a), f"{awhere}: needs an absolute `path`")
    location, _ = _location(a, awhere)
    archive, archive_fields = _archive(a, awhere)
    mode = a.get("mode")
    if mode is not None and (not isinstance(mode, int) or not 0 <= mode <= 0o7777):
        raise fail(at(a, "mode"), f"{awhere}: `mode` must be a file mode (0755)")
    art = ArtifactSpec(
        name,
        path.rstrip("/") or "/",
        "input" if direction == "input" else "output",
        archive,
        a.get("optional") is True,
        location,
        mode,
        src(a),
        archive_fields,
    )
    return art


def template_artifacts(template: SourceMap, where: str) -> list[ArtifactSpec]:
    """A container/script template's input and output artifacts."""
    found: list[ArtifactSpec] = []
    for section, direction in (("inputs", "input"), ("outputs", "output")):
        raw = as_map(template.get(section) or {}, at(template, section), where)
        items = as_list(raw.get("artifacts"), at(raw, "artifacts"), f"{where} {section}")
        names: set[str] = set()
        for item in items:
            art = _artifact(item, at(raw, "artifacts"), f"{where} {section}.artifacts", direction)
            if art.name in names:
                raise fail(art.source, f"{where}: duplicate {direction} artifact {art.name!r}")
            names.add(art.name)
            found.append(art)
    return found


def input_artifact_params(template: SourceMap, where: str) -> list[ParamSpec]:
    """The params carrying a template's input artifacts (its own location is the default)."""
    raw = as_map(template.get("inputs") or {}, at(template, "inputs"), where)
    params = []
    for item in as_list(raw.get("artifacts"), at(raw, "artifacts"), f"{where} inputs"):
        a = as_map(item, at(raw, "artifacts"), f"{where} inputs.artifacts")
        name = name_of(a, f"{where} inputs.artifacts")
        if not NAME.match(name):
            raise fail(src(a), f"{where}: bad artifact name {name!r}")
        _, locator = _location(a, f"{where} input artifact {name!r}")
        if locator is None and a.get("optional") is True:
            locator = ""
        description = f"Argo input artifact {name!r}"
        params.append(ParamSpec(locator_name(name), default=locator, description=description))
        params[-1].source = src(a)
    return params


def artifact_arguments(arguments: SourceMap, where: str) -> dict[str, tuple[str, Source]]:
    """A call's (or `spec.arguments`') `artifacts`: param -> (locator text, source)."""
    args: dict[str, tuple[str, Source]] = {}
    for item in as_list(arguments.get("artifacts"), at(arguments, "artifacts"), where):
        a = as_map(item, at(arguments, "artifacts"), f"{where} artifacts")
        check_keys(a, {"name", "from", "subPath", "optional", *LOCATIONS}, IGNORED, where)
        name = name_of(a, f"{where} artifacts")
        awhere = f"{where} artifact {name!r}"
        if "fromExpression" in a:
            raise unsupported(a, "fromExpression", awhere, "expressions over artifacts")
        _, locator = _location(a, awhere)
        if "from" in a:
            text = scalar(a["from"], at(a, "from"), awhere)
            if "subPath" in a:
                text += "/" + scalar(a["subPath"], at(a, "subPath"), awhere).strip("/")
            args[locator_name(name)] = (text, at(a, "from"))
        elif locator is not None:
            args[locator_name(name)] = (locator, src(a))
        else:
            raise fail(src(a), f"{awhere}: needs `from` or a location")
    return args


def group_artifact_sources(template: SourceMap, where: str) -> dict[str, tuple[str, Source]]:
    """A dag/steps template's output artifacts: result -> (`from` as written, source)."""
    raw = as_map(template.get("outputs") or {}, at(template, "outputs"), where)
    found: dict[str, tuple[str, Source]] = {}
    for item in as_list(raw.get("artifacts"), at(raw, "artifacts"), f"{where} outputs"):
        a = as_map(item, at(raw, "artifacts"), f"{where} outputs.artifacts")
        name = name_of(a, f"{where} outputs.artifacts")
        awhere = f"{where} output artifact {name!r}"
        check_keys(a, {"name", "from", "fromExpression"}, IGNORED | {"path"}, awhere)
        if len(set(a) & {"from", "fromExpression"}) != 1:
            raise fail(src(a), f"{awhere}: needs exactly one of `from` and `fromExpression`")
        if "fromExpression" in a:  # expr-lang choosing an artifact, as a `{{=...}}` tag
            text = scalar(a["fromExpression"], at(a, "fromExpression"), awhere)
            found[locator_name(name)] = ("{{=" + text + "}}", at(a, "fromExpression"))
            continue
        found[locator_name(name)] = (scalar(a["from"], at(a, "from"), awhere), at(a, "from"))
    return found


def output_artifact_names(template: SourceMap) -> list[str]:
    """The result names of a template's output artifacts (for a sub-graph's interface)."""
    raw = template.get("outputs")
    items = raw.get("artifacts") if isinstance(raw, Mapping) else None
    if not isinstance(items, list):
        return []
    return [locator_name(str(i.get("name"))) for i in items if isinstance(i, Mapping)]


def output_key(art: ArtifactSpec) -> str | None:
    """The key an output artifact's location names (None: the default key)."""
    for kind, field in KEYED.items():
        value = art.location.get(kind, {}).get(field)
        if isinstance(value, str) and value:
            return value.lstrip("/")
    return None


def path_pattern(path: str) -> str:
    """A regex matching container path `path` as a whole path or a prefix of one in text (not
    inside a longer name, nor already behind a `$(...)` rewrite)."""
    return rf"(?<![\w/.)-]){re.escape(path)}(?=/|$|[^\w.-])"


def repository_ref(spec: SourceMap) -> dict[str, Any]:
    """`spec.artifactRepositoryRef` as plain data (a host run uses its own repository)."""
    if "artifactRepositoryRef" not in spec:
        return {}
    where = "spec.artifactRepositoryRef"
    raw = as_map(spec["artifactRepositoryRef"], at(spec, "artifactRepositoryRef"), where)
    check_keys(raw, {"configMap", "key"}, set(), where)
    for key in raw:
        scalar(raw[key], at(raw, key), where)
    return {str(k): str(v) for k, v in raw.items()}
