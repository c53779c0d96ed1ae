"""Typed reads of Argo YAML: each failure is a `PipelineError` naming the field and `file:line`.

Argo values are strings, but YAML lets users write numbers and booleans; the readers here accept
what Argo accepts and refuse the rest. The `IGNORED_*` sets are the fields that only steer
Kubernetes scheduling and are accepted without effect (listed in docs/argo-tekton.md); any other
field the IR cannot express is refused by `check_keys`.
"""

from __future__ import annotations

import re
from typing import Any

from foredeck.pipeline.durations import parse_duration as _go_duration
from foredeck.types import UNKNOWN, PipelineError, Source
from foredeck.yamlsrc import SourceMap

NAME = re.compile(r"^[A-Za-z0-9_][-A-Za-z0-9_.]*$")

IGNORED_SPEC = {
    "serviceAccountName", "automountServiceAccountToken", "nodeSelector", "tolerations",
    "affinity", "securityContext", "imagePullSecrets", "podMetadata", "workflowMetadata",
    "podGC", "ttlStrategy", "archiveLogs", "priority", "podPriorityClassName", "schedulerName",
    "dnsPolicy", "dnsConfig", "hostAliases", "hostNetwork", "executor", "volumeClaimGC",
    "podDisruptionBudget", "metrics", "artifactGC", "parallelism", "shutdown", "podResources",
}  # fmt: skip
IGNORED_TEMPLATE = {
    "metadata", "nodeSelector", "tolerations", "affinity", "serviceAccountName",
    "automountServiceAccountToken", "priorityClassName", "schedulerName", "securityContext",
    "parallelism", "podResources", "metrics", "annotations", "hostAliases",
}  # fmt: skip
IGNORED_CONTAINER = {
    "resources", "imagePullPolicy", "securityContext", "terminationMessagePath",
    "terminationMessagePolicy", "resizePolicy",
}  # fmt: skip
IGNORED_CRON = {
    "schedule", "schedules", "timezone", "concurrencyPolicy", "startingDeadlineSeconds",
    "successfulJobsHistoryLimit", "failedJobsHistoryLimit", "suspend", "workflowMetadata",
    "stopStrategy", "when",
}  # fmt: skip


def at(m: Any, key: str) -> Source:
    """Where `key` of mapping `m` was written (the mapping's own line if unknown)."""
    return m.at(key) if isinstance(m, SourceMap) else src(m)


def src(m: Any) -> Source:
    return m.source if isinstance(m, SourceMap) else UNKNOWN


def fail(source: Source, message: str) -> PipelineError:
    return PipelineError(source, message)


def unsupported(m: Any, key: str, where: str, why: str = "") -> PipelineError:
    reason = why or "the pipeline IR cannot express it"
    return fail(at(m, key), f"{where}: `{key}` is not supported ({reason})")


def check_keys(m: SourceMap, allowed: set[str], ignored: set[str], where: str) -> None:
    for key in m:
        if key not in allowed and key not in ignored:
            raise unsupported(m, key, where)


def as_map(value: Any, source: Source, where: str) -> SourceMap:
    if not isinstance(value, dict):
        raise fail(source, f"{where}: expected a mapping")
    if not isinstance(value, SourceMap):
        wrapped = SourceMap(value)
        wrapped.source = source
        wrapped.key_sources = {}
        return wrapped
    return value


def as_list(value: Any, source: Source, where: str) -> list[Any]:
    """A list field (absent: empty)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise fail(source, f"{where}: expected a list")
    return value


def scalar(value: Any, source: Source, where: str) -> str:
    """Argo values are strings, but YAML lets users write numbers and booleans."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise fail(source, f"{where}: expected a string")


def name_of(m: SourceMap, where: str) -> str:
    name = m.get("name")
    if not isinstance(name, str) or not name:
        raise fail(at(m, "name"), f"{where}: `name` is required")
    if not NAME.match(name):
        raise fail(at(m, "name"), f"{where}: invalid name {name!r}")
    return name


def integer(value: Any, source: Source, where: str) -> int:
    if isinstance(value, bool):
        raise fail(source, f"{where}: expected an integer")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    else:
        raise fail(source, f"{where}: expected an integer, got {value!r}")
    if number < 0:
        raise fail(source, f"{where}: must not be negative")
    return number


def deadline(value: Any, source: Source, where: str) -> float:
    seconds = integer(value, source, where)
    if seconds == 0:
        raise fail(source, f"{where}: must be a positive number of seconds")
    return float(seconds)


def duration(value: Any, source: Source, where: str) -> float:
    """Argo's `timeout`: a Go duration (`1h30m`, `90s`) or a number of seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and value.strip().isdigit():
        return float(value.strip())
    try:
        return _go_duration(value)
    except ValueError as exc:
        raise fail(source, f"{where}: {exc}") from None
