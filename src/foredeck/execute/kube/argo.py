"""Argo Workflows: submit an emitted `Workflow`, read its node tree, stop it.

Node names are `<workflow>.<task>` for the entrypoint DAG's tasks and
`<workflow>.onExit.<task>` for the exit handler's; a task's retries and loop items are its
children `<workflow>.<task>(0)`, `<workflow>.<task>(1:x)`. The task node's phase is the
task's status; its Pod children count the attempts. Pods carry the node name in the
`workflows.argoproj.io/node-name` annotation; `wait` and `init` are Argo's own containers.
"""

from __future__ import annotations

import re
from typing import Any

from foredeck.execute.kube import engine
from foredeck.execute.kube.engine import PodStep, ResourceEngine, RunView, TaskView
from foredeck.execute.runstate import TaskState
from foredeck.pipeline.emit_argo import emit_argo
from foredeck.pipeline.model import PipelineRunSpec

WORKFLOW_LABEL = "workflows.argoproj.io/workflow"
NODE_ANNOTATION = "workflows.argoproj.io/node-name"
_OWN_CONTAINERS = frozenset({"wait", "init"})
_SUFFIX = re.compile(r"\(.*\)$")
_NODE_STATES: dict[str, TaskState] = {
    "Pending": "Pending",
    "Running": "Running",
    "Succeeded": "Succeeded",
    "Failed": "Failed",
    "Error": "Failed",
    "Skipped": "Skipped",
    "Omitted": "Skipped",
}


def _is_deadline(message: str) -> bool:
    text = message.lower()
    return "deadline" in text or "max duration" in text


def _is_terminate(message: str) -> bool:
    return "terminate" in message.lower() or "stopped with strategy" in message.lower()


class ArgoEngine(ResourceEngine):
    group = "argoproj.io"
    version = "v1alpha1"
    plural = "workflows"
    kind = "Workflow"
    run_label = WORKFLOW_LABEL

    def __init__(self, run: PipelineRunSpec) -> None:
        self._tasks = {t.name for t in run.pipeline.all_tasks()}

    def emit(self, run: PipelineRunSpec) -> dict[str, Any]:
        return emit_argo(run)

    @staticmethod
    def abort_patch() -> dict[str, Any]:
        return {"spec": {"shutdown": "Terminate"}}

    def task_of_node(self, workflow: str, node_name: str) -> tuple[str, bool] | None:
        """(task, is the task node itself) for a node of `workflow`, else None."""
        parts = node_name.split(".")
        if len(parts) < 2 or parts[0] != workflow:
            return None
        rest = parts[1:]
        if rest[0] == "onExit":
            rest = rest[1:]
        if len(rest) != 1:
            return None
        bare = _SUFFIX.sub("", rest[0])
        if bare not in self._tasks:
            return None
        return bare, bare == rest[0]

    def view(self, obj: dict[str, Any], children: list[dict[str, Any]], aborted: bool) -> RunView:
        name = str((obj.get("metadata") or {}).get("name", ""))
        status = obj.get("status") or {}
        phase = str(status.get("phase") or "")
        message = str(status.get("message") or "")
        view = RunView(reason=message)
        pods: dict[str, int] = {}
        for node in (status.get("nodes") or {}).values():
            found = self.task_of_node(name, str(node.get("name", "")))
            if found is None:
                continue
            task, own = found
            if node.get("type") == "Pod":
                pods[task] = pods.get(task, 0) + 1
            if not own:
                continue
            state = _NODE_STATES.get(str(node.get("phase") or "Pending"), "Pending")
            node_message = str(node.get("message") or "")
            if state == "Failed" and (aborted or _is_terminate(node_message)):
                state = "Cancelled"
            elif state == "Failed" and _is_deadline(node_message):
                state = "TimedOut"
            view.tasks[task] = TaskView(
                name=task,
                status=state,
                started=engine.parse_time(node.get("startedAt")),
                finished=engine.parse_time(node.get("finishedAt")),
                reason=node_message,
            )
        for task, count in pods.items():
            if task in view.tasks:
                view.tasks[task].attempts = count
        if phase in ("", "Pending"):
            view.phase = "Pending"
        elif phase == "Running":
            view.phase = "Running"
        else:
            view.end(
                succeeded=phase == "Succeeded",
                cancelled=aborted or _is_terminate(message),
                timed_out=_is_deadline(message),
            )
        return view

    def pod_steps(self, pod: dict[str, Any]) -> list[PodStep]:
        meta = pod.get("metadata") or {}
        workflow = str((meta.get("labels") or {}).get(WORKFLOW_LABEL, ""))
        node_name = str((meta.get("annotations") or {}).get(NODE_ANNOTATION, ""))
        found = self.task_of_node(workflow, node_name)
        if found is None:
            return []
        running = engine.started_containers(pod)
        containers = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
        return [
            PodStep(pod=str(meta.get("name")), container=str(c), task=found[0], step=str(c))
            for c in containers
            if c not in _OWN_CONTAINERS and c in running
        ]
