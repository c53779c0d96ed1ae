"""The values of Argo's workflow variables in a local run (`pipeline/workflow_vars.py`).

`failures` lists the tasks (and matrix instances, sub-graph tasks) that ended Failed, TimedOut
or Cancelled, with Argo's fields: Argo's `Error` phase has no local equal, so every entry is
`Failed`; `podName` is the task's run-unique name, `templateName` its pipeline task.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping

from foredeck.execute.runstate import TaskRecord, iso
from foredeck.pipeline.workflow_vars import PREFIX, STRFTIME

_FAILED = frozenset({"Failed", "TimedOut", "Cancelled"})


def values(run: str, started: float, records: Mapping[str, TaskRecord]) -> dict[str, str]:
    """`workflow.*` names (without `context.`) to their values now."""
    moment = time.gmtime(started)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", moment)
    out = {
        PREFIX[len("context.") :] + "duration": f"{max(time.time() - started, 0.0):.6f}",
        PREFIX[len("context.") :] + "creationTimestamp": stamp,
        PREFIX[len("context.") :] + "creationTimestamp.RFC3339": stamp,
        PREFIX[len("context.") :] + "failures": _failures(run, records),
        # `{{workflow.uid}}` / Tekton's `$(context.pipelineRun.uid)`: stable for the run
        "pipelineRun.uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"foredeck:{run}:{started}")),
    }
    for letter in STRFTIME:
        out[f"{PREFIX[len('context.') :]}creationTimestamp.{letter}"] = time.strftime(
            f"%{letter}", moment
        )
    return out


def _failures(run: str, records: Mapping[str, TaskRecord]) -> str:
    failed = [
        {
            "displayName": record.name,
            "message": record.reason,
            "templateName": record.pipeline_task,
            "phase": "Failed",
            "podName": f"{run}-{record.name}",
            "finishedAt": iso(record.finished) or "",
        }
        for record in records.values()
        if record.status in _FAILED and not record.instances
    ]
    return json.dumps(failed, separators=(",", ":"))
