"""The values of Argo's workflow variables in a local run (`pipeline/workflow_vars.py`).

`failures` lists the tasks (and matrix instances, sub-graph tasks) that ended Failed, TimedOut
or Cancelled, with Argo's fields: Argo's `Error` phase has no local equal, so every entry is
`Failed`; `podName` is the task's run-unique name, `templateName` its pipeline task. Its text is
Argo's to the byte: Go's `json.Marshal` of the list (`null` when empty, `<>&` escaped), then
`strconv.Quote`d, quotes included, "so that the escaped quotes are not removed during parameter
substitution" (workflow/controller/operator.go): `json.loads({{workflow.failures}})` in a
Python script and `echo {{workflow.failures}}` in a shell both give the JSON.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from foredeck.execute.runstate import TaskRecord, iso
from foredeck.pipeline.exprlang.values import go_json, go_quote
from foredeck.pipeline.workflow_vars import PREFIX, STRFTIME

_FAILED = frozenset({"Failed", "TimedOut", "Cancelled"})


def value(name: str, run: str, started: float, records: Mapping[str, TaskRecord]) -> str | None:
    """The value of context variable `name` (`workflow.duration`, ...) now, or None when it
    is not one of these. Computed when read: a run-wide scan, not for every task."""
    short = PREFIX[len("context.") :]
    if not name.startswith(short):
        return None
    what = name[len(short) :]
    moment = time.gmtime(started)
    if what == "duration":
        return f"{max(time.time() - started, 0.0):.6f}"
    if what == "failures":
        return _failures(run, records)
    if what in ("creationTimestamp", "creationTimestamp.RFC3339"):
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", moment)
    if what == "creationTimestamp.s":
        return str(int(started))
    letter = what.removeprefix("creationTimestamp.")
    if what.startswith("creationTimestamp.") and letter in STRFTIME and len(letter) == 1:
        return time.strftime(f"%{letter}", moment)
    return None


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
    return go_quote(go_json(failed or None))
