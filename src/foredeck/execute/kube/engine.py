"""What the runner needs from an engine (Argo or Tekton), and the engine-neutral run view.

Each engine module turns its custom resource (plus, for Tekton, the TaskRuns) into a `RunView`
with the local executor's vocabulary, so `pipeline-run.json`, `finished.json` and the
controller's job states mean the same thing whichever executor ran the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from foredeck.execute.runstate import TaskState
from foredeck.pipeline.model import PipelineRunSpec, RunStatus

JOB_LABEL = "foredeck.dev/job-id"
RUN_LABEL = "foredeck.dev/run"
BUILD_LABEL = "foredeck.dev/build-id"
"""The build id of the job's attempt that made the run: a re-queued job's new attempt has a new
one, so a run whose label differs from its job's `build_id` is an orphan (`sweep.py`)."""
RunPhase = Literal["Pending", "Running", "Done"]


@dataclass
class TaskView:
    """One pipeline task as the engine reports it."""

    name: str  # the pipeline's (IR) task name
    status: TaskState = "Pending"
    started: float | None = None
    finished: float | None = None
    attempts: int = 0
    reason: str = ""


@dataclass
class RunView:
    phase: RunPhase = "Pending"
    status: RunStatus | None = None  # once Done
    reason: str = ""
    tasks: dict[str, TaskView] = field(default_factory=dict)

    def end(self, *, succeeded: bool, cancelled: bool, timed_out: bool) -> RunView:
        """The run reached its terminal phase: Succeeded, else Cancelled (we or someone asked
        it to stop), else TimedOut, else Failed."""
        self.phase = "Done"
        if succeeded:
            self.status = "Succeeded"
        elif cancelled:
            self.status = "Cancelled"
        elif timed_out:
            self.status = "TimedOut"
        else:
            self.status = "Failed"
        return self


@dataclass(frozen=True)
class PodStep:
    """A container of a task's pod whose log is one step's output."""

    pod: str
    container: str
    task: str  # IR task name
    step: str


class Engine(Protocol):
    group: str
    version: str
    plural: str
    kind: str
    # Tekton: the TaskRuns hold per-task status; None when the run object holds it all.
    child_plural: str | None

    def manifest(self, run: PipelineRunSpec, name: str, labels: dict[str, str]) -> dict[str, Any]:
        """The custom resource to create, named `name`, with `labels`."""
        ...

    def abort_patch(self) -> dict[str, Any]:
        """The merge patch that asks the engine to stop the run."""
        ...

    def view(self, obj: dict[str, Any], children: list[dict[str, Any]], aborted: bool) -> RunView:
        """The run's state from the resource (and children). `aborted`: we asked it to stop."""
        ...

    def selector(self, name: str) -> str:
        """Label selector of the run's pods (and children)."""
        ...

    def pod_steps(self, pod: dict[str, Any]) -> list[PodStep]:
        """The step containers of one of the run's pods that have started (have a log)."""
        ...


class ResourceEngine:
    """What the Argo and Tekton engines share: naming, labels and the pods' selector.

    A subclass sets the resource's coordinates and `run_label` (the label the engine puts on
    the run's pods and children), and emits the manifest (`emit`).
    """

    group: str
    version: str
    plural: str
    kind: str
    child_plural: str | None = None
    run_label: str

    def emit(self, run: PipelineRunSpec) -> dict[str, Any]:
        raise NotImplementedError

    def manifest(self, run: PipelineRunSpec, name: str, labels: dict[str, str]) -> dict[str, Any]:
        doc = self.emit(run)
        doc["metadata"] = {"name": name, "labels": labels}
        return doc

    def selector(self, name: str) -> str:
        return f"{self.run_label}={name}"


def parse_time(value: Any) -> float | None:
    """Kubernetes' RFC 3339 times (`2024-05-01T12:00:00Z`) as epoch seconds."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def started_containers(pod: dict[str, Any]) -> set[str]:
    """Containers that run or ran: reading the log of a waiting container is an error."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    names: set[str] = set()
    for status in statuses:
        state = status.get("state") or {}
        if "running" in state or "terminated" in state:
            names.add(str(status.get("name")))
    return names
