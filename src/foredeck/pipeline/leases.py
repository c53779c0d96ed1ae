"""A pipeline's own leases: the `foredeck.dev/leases` annotation of a Tekton `Pipeline` or an
Argo `Workflow`/`WorkflowTemplate` (docs/leases.md, "Pipelines").

An annotation, not a field: Tekton and Argo refuse fields they do not know, and a pipeline file
must stay one a cluster accepts. Its value is a JSON or YAML list of `{type, count, ttl}`, as a
job's `leases:`; the controller leases both. Whether each type exists is the config check's and
the controller's business (the pipeline layer does not know the settings).
"""

from __future__ import annotations

from typing import Any

import yaml

from foredeck.pipeline.model import LeaseNeed
from foredeck.types import PipelineError, Source

LEASES_ANNOTATION = "foredeck.dev/leases"
MAX_TEXT = 4096
"""Characters the annotation holds at most (a few entries; Kubernetes allows 256 KiB)."""
MAX_COUNT = 20
_FIELDS = frozenset({"type", "count", "ttl"})


def pipeline_leases(metadata: Any, where: Source) -> list[LeaseNeed]:
    """The leases the annotation in `metadata` (a document's `metadata`, or None) asks for;
    `PipelineError` at `where` (the annotation's line, when known) when it is malformed."""
    if not isinstance(metadata, dict):
        return []
    annotations = metadata.get("annotations")
    if not isinstance(annotations, dict) or LEASES_ANNOTATION not in annotations:
        return []
    at = getattr(annotations, "at", None)
    if callable(at):
        where = at(LEASES_ANNOTATION)
    what = f"annotation {LEASES_ANNOTATION}"
    text = annotations[LEASES_ANNOTATION]
    if not isinstance(text, str):
        raise PipelineError(where, f"{what}: expected a JSON or YAML list in a string")
    if len(text) > MAX_TEXT:
        raise PipelineError(where, f"{what}: longer than {MAX_TEXT} characters")
    try:
        items = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PipelineError(where, f"{what}: not JSON or YAML: {_first_line(exc)}") from None
    if not isinstance(items, list):
        raise PipelineError(where, f"{what}: expected a list of {{type, count, ttl}}")
    return [_need(item, i, where, what) for i, item in enumerate(items)]


def _need(item: Any, index: int, where: Source, what: str) -> LeaseNeed:
    what = f"{what}[{index}]"
    if not isinstance(item, dict):
        raise PipelineError(where, f"{what}: expected a mapping {{type, count, ttl}}")
    unknown = sorted(str(k) for k in item if k not in _FIELDS)
    if unknown:
        raise PipelineError(where, f"{what}: unknown field {unknown[0]!r} (type, count, ttl)")
    kind = item.get("type")
    if not isinstance(kind, str) or not kind:
        raise PipelineError(where, f"{what}: `type` must be a non-empty string")
    count = item.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        raise PipelineError(where, f"{what}: `count` must be an integer from 1 to {MAX_COUNT}")
    ttl = item.get("ttl")
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl <= 0):
        raise PipelineError(where, f"{what}: `ttl` must be a positive number of seconds")
    return LeaseNeed(kind, count, None if ttl is None else float(ttl), where)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
