"""Workflow variables whose value the Workflow document itself fixes.

Argo's controller sets them from the Workflow object when it starts (`setGlobalParameters`):
`workflow.mainEntrypoint` (`spec.entrypoint`), `workflow.serviceAccountName`
(`spec.serviceAccountName`, when set: else the cluster's default applies),
`workflow.priority` (`spec.priority`, when set),
`workflow.scheduledTime` (the `workflows.argoproj.io/scheduled-time` annotation, when set) and
`workflow.labels.<key>` / `workflow.annotations.<key>` for each label and annotation written.
A host run knows them at load time, so they become text. The JSON forms
(`workflow.labels.json`, ...) are not among them: on a cluster they also hold the labels the
controller adds, which a host cannot know.
"""

from __future__ import annotations

from typing import Any

SCHEDULED = "workflows.argoproj.io/scheduled-time"


def document_values(metadata: Any, spec: Any) -> dict[str, str]:
    """`{name after "workflow.": value}` for the variables the document fixes."""
    meta = metadata if isinstance(metadata, dict) else {}
    spec = spec if isinstance(spec, dict) else {}
    values: dict[str, str] = {}
    if isinstance(spec.get("entrypoint"), str):
        values["mainEntrypoint"] = spec["entrypoint"]
    account = spec.get("serviceAccountName")
    if isinstance(account, str):  # unset: the cluster's default decides, unknown here
        values["serviceAccountName"] = account
    priority = spec.get("priority")
    if isinstance(priority, int) and not isinstance(priority, bool):
        values["priority"] = str(priority)
    for kind in ("labels", "annotations"):
        entries = meta.get(kind)
        if isinstance(entries, dict):
            for key, value in entries.items():
                if isinstance(value, str) and "$(" not in value:
                    values[f"{kind}.{key}"] = value
    scheduled = values.get(f"annotations.{SCHEDULED}")
    if scheduled is not None:
        values["scheduledTime"] = scheduled
    return values
