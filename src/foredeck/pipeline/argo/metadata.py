"""Workflow variables whose value the Workflow document itself fixes.

Argo's controller sets them from the Workflow object when it starts (`setGlobalParameters`):
`workflow.mainEntrypoint` (`spec.entrypoint`), `workflow.serviceAccountName`
(`spec.serviceAccountName`; empty when unset, as the controller sets it whatever the spec says,
though the pods then run as the namespace's default account),
`workflow.priority` (`spec.priority`, when set),
`workflow.scheduledTime` (the `workflows.argoproj.io/scheduled-time` annotation, when set) and
`workflow.labels.<key>` / `workflow.annotations.<key>` for each label and annotation written
(the Workflow's own and those of `spec.workflowMetadata`, but for a `labelsFrom` key, which is
an expression Argo evaluates later). A host run knows them at load time, so they become text.

`workflow.labels` / `workflow.labels.json` (and the same for annotations) are the Workflow
object's labels as JSON (Go's `json.Marshal`: keys sorted, compact, `<>&` escaped; `null` when
there are none) at the reconcile that creates the node. The first reconcile, which starts the
nodes that are ready when the workflow starts, sees the document's own; the controller then
adds `workflows.argoproj.io/phase: Running` and `workflows.argoproj.io/completed: "false"`, the
`spec.workflowMetadata` labels, and the annotation `workflows.argoproj.io/pod-name-format: v2`,
which every later node sees (`running_json`). `known` holds the later value under the variable's
name and the first one under `AT_START` + the name; the front end picks by node
(`dag.leaf_task`, `tags.call_ref`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from foredeck.pipeline.exprlang.values import go_json as marshal

SCHEDULED = "workflows.argoproj.io/scheduled-time"
AT_START = "\x00start:"
"""The `known` key prefix of a value as the nodes started with the workflow see it."""
RUNNING_LABELS = {
    "workflows.argoproj.io/completed": "false",
    "workflows.argoproj.io/phase": "Running",
}
"""What the controller's `markWorkflowPhase(Running)` adds to a workflow's labels."""
RUNNING_ANNOTATIONS = {"workflows.argoproj.io/pod-name-format": "v2"}
"""What the controller's `setWfPodNamesAnnotation` adds (POD_NAMES defaults to v2)."""


def document_values(metadata: Any, spec: Any) -> dict[str, str]:
    """`{name after "workflow.": value}` for the variables the document fixes."""
    meta = metadata if isinstance(metadata, dict) else {}
    spec = spec if isinstance(spec, dict) else {}
    values: dict[str, str] = {}
    if isinstance(spec.get("entrypoint"), str):
        values["mainEntrypoint"] = spec["entrypoint"]
    account = spec.get("serviceAccountName")
    values["serviceAccountName"] = account if isinstance(account, str) else ""
    priority = spec.get("priority")
    if isinstance(priority, int) and not isinstance(priority, bool):
        values["priority"] = str(priority)
    extra = spec.get("workflowMetadata")
    extra = extra if isinstance(extra, dict) else {}
    computed = extra.get("labelsFrom")
    later = set(computed) if isinstance(computed, dict) else set()
    for kind in ("labels", "annotations"):
        values.update(_json_values(kind, meta.get(kind), extra.get(kind)))
        for entries, spec_side in ((meta.get(kind), False), (extra.get(kind), True)):
            for key, value in (entries if isinstance(entries, dict) else {}).items():
                if kind == "labels" and key in later:
                    continue
                if _plain(value, spec_side):  # Argo's order: the document's, then the spec's
                    values[f"{kind}.{key}"] = value
                    values.pop(f"{AT_START}{kind}.{key}", None)  # a label named `json` wins
    scheduled = values.get(f"annotations.{SCHEDULED}")
    if scheduled is not None:
        values["scheduledTime"] = scheduled
    return values


def _json_values(kind: str, own: Any, extra: Any) -> dict[str, str]:
    """`labels`, `labels.json` (or annotations) at start and later; none when a value is not
    plain text (`_plain`)."""
    own = own if isinstance(own, dict) else {}
    extra = extra if isinstance(extra, dict) else {}
    added = RUNNING_LABELS if kind == "labels" else RUNNING_ANNOTATIONS
    if not all(_plain(v) for v in own.values()) or not all(_plain(v, True) for v in extra.values()):
        return {}
    running = {**own, **extra, **added}
    start, later = go_json(own), go_json(running)
    return {
        kind: later,
        f"{kind}.json": later,
        f"{AT_START}{kind}": start,
        f"{AT_START}{kind}.json": start,
    }


def _plain(value: Any, spec_side: bool = False) -> bool:
    """Text the front end can give as is: not a YAML number (Kubernetes refuses the object),
    no `$(` (an IR reference); in `spec.workflowMetadata`, no `{{` (Argo substitutes it)."""
    text = isinstance(value, str) and "$(" not in value
    return text and not (spec_side and "{{" in value)


def go_json(entries: Mapping[str, str]) -> str:
    """A string map as Go's `json.Marshal` writes it: sorted keys, no spaces, HTML-safe
    (`<`, `>`, `&`, U+2028/9 as `\\u` escapes), other text as is; `null` for none, as a
    Kubernetes object without labels has a nil map."""
    return marshal(dict(entries) or None)


def pick(known: Mapping[str, str], name: str, starting: bool) -> str | None:
    """`known[name]`, or its value at the workflow's start for a node that starts with it."""
    if starting and AT_START + name in known:
        return known[AT_START + name]
    return known.get(name)
