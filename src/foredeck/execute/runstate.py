"""What a run knows about its tasks while it runs and after: records, events and status rules.

Status rules live here, apart from the scheduler, because the finally phase, the CLI summary,
`pipeline-run.json` and `finished.json` must all agree on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from foredeck.pipeline.model import ParamValue, RunStatus, TaskStatus

TaskState = TaskStatus | Literal["Pending", "Running"]
EventKind = Literal["run-started", "task-started", "task-retry", "task-finished", "run-finished"]

FINAL_STATUSES: frozenset[str] = frozenset(
    {"Succeeded", "Failed", "Skipped", "Cancelled", "TimedOut"}
)
# Worst first: a matrix task takes the worst status of its instances.
_SEVERITY: tuple[TaskStatus, ...] = ("Cancelled", "TimedOut", "Failed", "Skipped", "Succeeded")


def iso(timestamp: float | None) -> str | None:
    """UTC ISO 8601 with milliseconds and a `Z`, the form Prow and Tekton show."""
    if timestamp is None:
        return None
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class TaskRecord:
    """One pipeline task, or one instance of a matrix task (`build[0]`)."""

    name: str
    pipeline_task: str
    is_finally: bool = False
    status: TaskState = "Pending"
    attempts: int = 0
    results: dict[str, ParamValue] = field(default_factory=dict)
    started: float | None = None
    finished: float | None = None
    reason: str = ""
    params: dict[str, str] = field(default_factory=dict)  # matrix combination of an instance
    instances: list[str] = field(default_factory=list)  # names of a matrix task's instances
    log: str | None = None  # relative to the run directory, when the task wrote a log
    artifacts: str | None = None  # relative to the run directory: the task's $ARTIFACTS
    run_after: list[str] = field(default_factory=list)  # upstream tasks (explicit and implied)
    exit_code: int | None = None  # of the last step that ran (Failed vs Errored, `outcomes.py`)
    daemoned: bool = False  # a daemon that became ready (`daemons.py`)
    address: str | None = None  # where that daemon serves (`served.py`)
    images: list[str] = field(default_factory=list)  # pushed by a build task, `REF@DIGEST`
    provenance: dict[str, str] = field(default_factory=dict)  # Tekton artifacts (`provenance.py`)

    @property
    def done(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def duration(self) -> float | None:
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "status": self.status,
            "attempts": self.attempts,
            "results": self.results,
            "started": iso(self.started),
            "finished": iso(self.finished),
        }
        if self.reason:
            data["reason"] = self.reason
        if self.is_finally:
            data["finally"] = True
        if self.pipeline_task != self.name:
            data["pipelineTask"] = self.pipeline_task
            data["params"] = self.params
        if self.instances:
            data["instances"] = self.instances
        if self.log is not None:
            data["log"] = self.log
        if self.artifacts is not None:
            data["artifacts"] = self.artifacts
        if self.run_after:
            data["runAfter"] = self.run_after  # the DAG's edges, for the dashboard's graph
        if self.images:
            data["images"] = self.images
        return data


@dataclass(frozen=True)
class RunEvent:
    """Progress notification for `on_event` (the CLI's live view, a controller's heartbeat)."""

    kind: EventKind
    run: str
    task: str | None = None
    status: str | None = None
    attempt: int = 0
    reason: str = ""
    time: float = 0.0


@dataclass
class RunResult:
    name: str
    pipeline: str
    out_dir: Path
    status: RunStatus
    tasks: dict[str, TaskRecord]
    results: dict[str, ParamValue]
    params: dict[str, ParamValue]
    started: float
    finished: float

    @property
    def passed(self) -> bool:
        return self.status == "Succeeded"

    @property
    def prow_result(self) -> Literal["SUCCESS", "FAILURE", "ABORTED"]:
        return prow_result(self.status)

    def to_json(self) -> dict[str, Any]:
        return run_json(
            name=self.name,
            pipeline=self.pipeline,
            status=self.status,
            params=self.params,
            results=self.results,
            tasks=self.tasks,
            started=self.started,
            finished=self.finished,
        )


def run_json(
    *,
    name: str,
    pipeline: str,
    status: str,
    params: dict[str, ParamValue],
    results: dict[str, ParamValue],
    tasks: dict[str, TaskRecord],
    started: float,
    finished: float | None,
) -> dict[str, Any]:
    """The content of `pipeline-run.json`, also written (throttled) while the run is going."""
    return {
        "name": name,
        "pipeline": pipeline,
        "status": status,
        "started": iso(started),
        "finished": iso(finished),
        "params": params,
        "results": results,
        "tasks": {key: record.to_json() for key, record in tasks.items()},
    }


def prow_result(status: RunStatus) -> Literal["SUCCESS", "FAILURE", "ABORTED"]:
    if status == "Succeeded":
        return "SUCCESS"
    if status == "Cancelled":
        return "ABORTED"
    return "FAILURE"


def worst_status(statuses: list[TaskStatus]) -> TaskStatus:
    """A matrix task's status: the worst of its instances (Cancelled > TimedOut > Failed ...)."""
    for candidate in _SEVERITY:
        if candidate in statuses:
            return candidate
    return "Skipped"


def tekton_task_status(status: TaskState) -> str:
    """`$(tasks.T.status)`: Tekton's three values; a timed-out or cancelled task has Failed."""
    if status == "Succeeded":
        return "Succeeded"
    if status in ("Failed", "TimedOut", "Cancelled"):
        return "Failed"
    return "None"


def tekton_aggregate_status(statuses: list[TaskState]) -> str:
    """`$(tasks.status)` over the DAG tasks, with Tekton's Succeeded/Failed/Completed/None."""
    mapped = [tekton_task_status(status) for status in statuses]
    if not statuses or any(status not in FINAL_STATUSES for status in statuses):
        return "None"
    if "Failed" in mapped:
        return "Failed"
    if "None" in mapped:
        return "Completed"
    return "Succeeded"
