"""Tekton Pipelines: submit an emitted `PipelineRun`, read its TaskRuns, cancel it.

The run's `Succeeded` condition is its state (`Unknown` while running; `False` with a reason:
`PipelineRunTimeout`, `Cancelled`, `StoppedRunningFinally`, ...). Per-task status lives in the
TaskRuns (`status.childReferences` names them; they carry `tekton.dev/pipelineRun` and
`tekton.dev/pipelineTask` labels), plus `status.skippedTasks`. Task names in the manifest are
DNS labels (`dns_label`), mapped back to the pipeline's names here. Step containers are
`step-<step>`.
"""

from __future__ import annotations

from typing import Any

from foredeck.execute.kube import engine
from foredeck.execute.kube.engine import PodStep, ResourceEngine, RunView, TaskView
from foredeck.execute.runstate import TaskState, worst_status
from foredeck.pipeline.emit_tekton import dns_label, emit_tekton
from foredeck.pipeline.model import PipelineRunSpec, TaskStatus

RUN_LABEL = "tekton.dev/pipelineRun"
TASK_LABEL = "tekton.dev/pipelineTask"
_CANCELLED = frozenset(
    {"Cancelled", "CancelledRunningFinally", "StoppedRunningFinally", "PipelineRunCancelled"}
)
_TIMEOUT = frozenset({"PipelineRunTimeout"})


def succeeded_condition(obj: dict[str, Any]) -> tuple[str, str, str]:
    """(status True|False|Unknown, reason, message) of the `Succeeded` condition."""
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Succeeded":
            return (
                str(condition.get("status") or "Unknown"),
                str(condition.get("reason") or ""),
                str(condition.get("message") or ""),
            )
    return "Unknown", "", ""


def _task_state(status: str, reason: str) -> TaskState:
    if status == "True":
        return "Succeeded"
    if status == "False":
        if reason == "TaskRunTimeout":
            return "TimedOut"
        if reason in ("TaskRunCancelled", "Cancelled"):
            return "Cancelled"
        return "Failed"
    return "Pending" if reason in ("", "Pending") else "Running"


class TektonEngine(ResourceEngine):
    group = "tekton.dev"
    version = "v1"
    plural = "pipelineruns"
    kind = "PipelineRun"
    child_plural: str | None = "taskruns"
    run_label = RUN_LABEL

    def __init__(self, run: PipelineRunSpec) -> None:
        taken: set[str] = set()  # the emitter's renaming, in its order
        self._names = {dns_label(t.name, taken): t.name for t in run.pipeline.all_tasks()}

    def emit(self, run: PipelineRunSpec) -> dict[str, Any]:
        return emit_tekton(run)

    @staticmethod
    def abort_patch() -> dict[str, Any]:
        return {"spec": {"status": "Cancelled"}}

    def view(self, obj: dict[str, Any], children: list[dict[str, Any]], aborted: bool) -> RunView:
        status, reason, message = succeeded_condition(obj)
        view = RunView(reason=message or reason)
        instances: dict[str, list[TaskView]] = {}
        for child in children:
            labels = (child.get("metadata") or {}).get("labels") or {}
            task = self._names.get(str(labels.get(TASK_LABEL, "")))
            if task is None:
                continue
            child_status, child_reason, child_message = succeeded_condition(child)
            state = _task_state(child_status, child_reason)
            if aborted and state == "Failed":
                state = "Cancelled"
            body = child.get("status") or {}
            instances.setdefault(task, []).append(
                TaskView(
                    name=task,
                    status=state,
                    started=engine.parse_time(body.get("startTime")),
                    finished=engine.parse_time(body.get("completionTime")),
                    attempts=1 + len(body.get("retriesStatus") or []),
                    reason=child_message or child_reason,
                )
            )
        for task, views in instances.items():
            view.tasks[task] = _merge(views)
        for skipped in (obj.get("status") or {}).get("skippedTasks") or []:
            task = self._names.get(str(skipped.get("name", "")))
            if task is not None and task not in view.tasks:
                view.tasks[task] = TaskView(
                    name=task, status="Skipped", reason=str(skipped.get("reason") or "")
                )
        if status == "Unknown":
            started = (obj.get("status") or {}).get("startTime")
            view.phase = "Running" if started or reason == "Running" else "Pending"
        else:
            view.end(
                succeeded=status == "True",
                cancelled=reason in _CANCELLED or aborted,
                timed_out=reason in _TIMEOUT,
            )
        return view

    def pod_steps(self, pod: dict[str, Any]) -> list[PodStep]:
        meta = pod.get("metadata") or {}
        task = self._names.get(str((meta.get("labels") or {}).get(TASK_LABEL, "")))
        if task is None:
            return []
        running = engine.started_containers(pod)
        steps: list[PodStep] = []
        for container in (pod.get("spec") or {}).get("containers") or []:
            cname = str(container.get("name"))
            if cname.startswith("step-") and cname in running:
                steps.append(PodStep(str(meta.get("name")), cname, task, cname[len("step-") :]))
        return steps


def _merge(views: list[TaskView]) -> TaskView:
    """A matrix task's TaskRuns as one task: the worst final status, else still running."""
    if len(views) == 1:
        return views[0]
    first = views[0]
    states = [v.status for v in views]
    finals: list[TaskStatus] = [s for s in states if s not in ("Pending", "Running")]  # type: ignore[misc]
    status: TaskState = worst_status(finals) if len(finals) == len(states) else "Running"
    starts = [v.started for v in views if v.started is not None]
    ends = [v.finished for v in views if v.finished is not None]
    return TaskView(
        name=first.name,
        status=status,
        started=min(starts) if starts else None,
        finished=max(ends) if ends and status != "Running" else None,
        attempts=max(v.attempts for v in views),
        reason="; ".join(v.reason for v in views if v.reason),
    )
