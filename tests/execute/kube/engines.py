"""Simulated Argo and Tekton controllers: they write what the real ones write into the double.

Each call is one controller update (one watch event): node/TaskRun status, the pods with their
step containers and logs, and the run's phase or `Succeeded` condition. Field names and reasons
follow Argo v3.5 (`status.nodes`, `workflows.argoproj.io/node-name`) and Tekton v1
(`childReferences`, `tekton.dev/pipelineTask`, `step-<name>` containers).
"""

from __future__ import annotations

from typing import Any

from tests.execute.kube.kube_double import KubeDouble

WORKFLOWS = ("argoproj.io", "v1alpha1", "workflows")
PIPELINERUNS = ("tekton.dev", "v1", "pipelineruns")
TASKRUNS = ("tekton.dev", "v1", "taskruns")
T0 = "2026-01-01T00:00:0{}Z"


class ArgoSim:
    def __init__(self, double: KubeDouble, ns: str, name: str) -> None:
        self.double, self.ns, self.name = double, ns, name
        self.clock = 0

    def _time(self) -> str:
        self.clock += 1
        return T0.format(min(self.clock, 9))

    def running(self) -> None:
        def change(wf: dict[str, Any]) -> None:
            wf["status"] = {"phase": "Running", "startedAt": self._time(), "nodes": {}}

        self.double.update(WORKFLOWS, self.ns, self.name, change)

    def task(
        self,
        task: str,
        phase: str,
        *,
        logs: str = "",
        exit_handler: bool = False,
        message: str = "",
        code: int = 0,
    ) -> None:
        """A DAG task's Pod node (in the exit handler: under `onExit`) reaching `phase`."""
        node_name = f"{self.name}.onExit.{task}" if exit_handler else f"{self.name}.{task}"
        node_id = f"{self.name}-{abs(hash(node_name)) % 10**10}"
        pod = f"{self.name}-{task.lower()}-{node_id[-5:]}"
        if (self.ns, pod) not in self.double.pods:
            self.double.add_pod(
                self.ns,
                pod,
                ["init", "wait", "main"],
                labels={"workflows.argoproj.io/workflow": self.name},
                annotations={"workflows.argoproj.io/node-name": node_name},
            )
            self.double.set_container(self.ns, pod, "init", "terminated")
            self.double.set_container(self.ns, pod, "wait", "running")
        if logs:
            self.double.write_log(self.ns, pod, "main", logs)
        if phase in ("Running", "Pending"):
            if phase == "Running":
                self.double.set_container(self.ns, pod, "main", "running")
        else:
            self.double.set_container(self.ns, pod, "main", "terminated", code)
            self.double.set_container(self.ns, pod, "wait", "terminated")

        def change(wf: dict[str, Any]) -> None:
            nodes = wf["status"].setdefault("nodes", {})
            node = nodes.setdefault(
                node_id,
                {
                    "id": node_id,
                    "name": node_name,
                    "displayName": task,
                    "type": "Pod",
                    "templateName": "t",
                    "startedAt": self._time(),
                },
            )
            node["phase"] = phase
            if message:
                node["message"] = message
            if phase not in ("Running", "Pending"):
                node["finishedAt"] = self._time()

        self.double.update(WORKFLOWS, self.ns, self.name, change)

    def finish(self, phase: str, message: str = "", outputs: dict[str, str] | None = None) -> None:
        def change(wf: dict[str, Any]) -> None:
            wf["status"]["phase"] = phase
            wf["status"]["finishedAt"] = self._time()
            if message:
                wf["status"]["message"] = message
            if outputs:
                wf["status"]["outputs"] = {
                    "parameters": [{"name": k, "value": v} for k, v in outputs.items()]
                }

        self.double.update(WORKFLOWS, self.ns, self.name, change)


class TektonSim:
    def __init__(self, double: KubeDouble, ns: str, name: str) -> None:
        self.double, self.ns, self.name = double, ns, name
        self.children: list[dict[str, str]] = []

    def _condition(self, status: str, reason: str, message: str = "") -> list[dict[str, str]]:
        return [{"type": "Succeeded", "status": status, "reason": reason, "message": message}]

    def running(self) -> None:
        def change(pr: dict[str, Any]) -> None:
            pr["status"] = {
                "conditions": self._condition("Unknown", "Running"),
                "startTime": T0.format(1),
            }

        self.double.update(PIPELINERUNS, self.ns, self.name, change)

    def task(
        self,
        task: str,
        status: str,
        reason: str,
        *,
        logs: dict[str, str] | None = None,
        instance: int | None = None,
        retries: int = 0,
    ) -> None:
        """TaskRun `<run>-<task>` (matrix: `-<n>`) with `Succeeded` = status/reason; its pod's
        `step-<name>` containers print `logs`; then the PipelineRun notices (one event)."""
        suffix = "" if instance is None else f"-{instance}"
        taskrun = f"{self.name}-{task}{suffix}"
        labels = {
            "tekton.dev/pipelineRun": self.name,
            "tekton.dev/pipelineTask": task,
            "tekton.dev/taskRun": taskrun,
        }
        pod = f"{taskrun}-pod"
        if logs is not None and (self.ns, pod) not in self.double.pods:
            self.double.add_pod(self.ns, pod, [f"step-{s}" for s in logs], labels=labels)
        for step, text in (logs or {}).items():
            self.double.write_log(self.ns, pod, f"step-{step}", text)
            if status != "Unknown":
                self.double.set_container(self.ns, pod, f"step-{step}", "terminated")
        body: dict[str, Any] = {
            "conditions": self._condition(status, reason),
            "startTime": T0.format(2),
            "podName": pod,
        }
        if status != "Unknown":
            body["completionTime"] = T0.format(3)
        if retries:
            body["retriesStatus"] = [{"podName": f"{pod}-retry{n}"} for n in range(retries)]
        existing = self.double.get(TASKRUNS, self.ns, taskrun)
        obj = existing or {
            "apiVersion": "tekton.dev/v1",
            "kind": "TaskRun",
            "metadata": {"name": taskrun, "labels": labels},
            "spec": {},
        }
        obj["status"] = body
        self.double.put(TASKRUNS, self.ns, obj)
        if existing is None:
            self.children.append(
                {
                    "apiVersion": "tekton.dev/v1",
                    "kind": "TaskRun",
                    "name": taskrun,
                    "pipelineTaskName": task,
                }
            )

        def change(pr: dict[str, Any]) -> None:
            pr["status"]["childReferences"] = list(self.children)
            pr["status"]["conditions"] = self._condition(
                "Unknown", "Running", f"Tasks Completed: {len(self.children)}"
            )

        self.double.update(PIPELINERUNS, self.ns, self.name, change)

    def finish(
        self,
        status: str,
        reason: str,
        message: str = "",
        *,
        skipped: list[str] | None = None,
        results: dict[str, str] | None = None,
    ) -> None:
        def change(pr: dict[str, Any]) -> None:
            pr["status"]["conditions"] = self._condition(status, reason, message)
            pr["status"]["completionTime"] = T0.format(9)
            if skipped:
                pr["status"]["skippedTasks"] = [
                    {"name": s, "reason": "When Expressions evaluated to false"} for s in skipped
                ]
            if results:
                pr["status"]["results"] = [{"name": k, "value": v} for k, v in results.items()]

        self.double.update(PIPELINERUNS, self.ns, self.name, change)
