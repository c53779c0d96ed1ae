"""Tekton v1 documents sorted by kind; which one runs is `load.py`'s choice."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from foredeck.pipeline.model import Pipeline, TaskSpec
from foredeck.pipeline.tekton.fields import as_map, check_fields
from foredeck.pipeline.tekton.pipelines import parse_pipeline
from foredeck.pipeline.tekton.runs import TektonRun, parse_run
from foredeck.pipeline.tekton.step_actions import (
    STEP_ACTION_APIS,
    StepAction,
    parse_step_action,
    resolve,
    task_specs,
)
from foredeck.pipeline.tekton.task_runs import TektonTaskRun, parse_task_run
from foredeck.pipeline.tekton.tasks import parse_task
from foredeck.types import PipelineError
from foredeck.yamlsrc import Document

API_VERSION = "tekton.dev/v1"


KINDS = ("Task", "Pipeline", "PipelineRun", "TaskRun")


_TOP_FIELDS = ("apiVersion", "kind", "metadata", "spec")


@dataclass
class TektonDocuments:
    tasks: list[TaskSpec] = field(default_factory=list)
    pipelines: list[Pipeline] = field(default_factory=list)
    runs: list[TektonRun] = field(default_factory=list)
    task_runs: list[TektonTaskRun] = field(default_factory=list)
    step_actions: dict[str, StepAction] = field(default_factory=dict)


def parse_documents(docs: Iterable[Document]) -> TektonDocuments:
    """Every Tekton document, by kind (the caller passes only Tekton's API group); steps that
    refer to a StepAction are resolved once all are read."""
    out = TektonDocuments()
    for doc in docs:
        data = as_map(doc.data, doc.source, "document")
        check_fields(data, _TOP_FIELDS, f"{data.get('kind', 'document')}")
        kind = data.get("kind")
        api = data.get("apiVersion")
        if kind == "StepAction" and api in STEP_ACTION_APIS:
            action = parse_step_action(data)
            if action.name in out.step_actions:
                other = out.step_actions[action.name].source
                message = f"duplicate StepAction {action.name!r} (also at {other})"
                raise PipelineError(data.source, message)
            out.step_actions[action.name] = action
        elif api != API_VERSION:
            versions = f"{API_VERSION}; StepAction: {', '.join(STEP_ACTION_APIS)}"
            raise PipelineError(data.at("apiVersion"), f"{kind} of {api!r} (supported: {versions})")
        elif kind == "Task":
            out.tasks.append(parse_task(data))
        elif kind == "Pipeline":
            out.pipelines.append(parse_pipeline(data))
        elif kind == "PipelineRun":
            out.runs.append(parse_run(data))
        elif kind == "TaskRun":
            out.task_runs.append(parse_task_run(data))
        elif kind is None:
            raise PipelineError(data.source, "document has no 'kind'")
        else:
            raise PipelineError(
                data.at("kind"),
                f"unsupported kind {kind!r} for {API_VERSION} (supported: {', '.join(KINDS)})",
            )
    pipelines = [*out.pipelines, *(r.pipeline for r in out.runs if r.pipeline is not None)]
    inline = [r.task for r in out.task_runs if r.task is not None]
    for spec in task_specs([*out.tasks, *inline], pipelines):
        resolve(spec.steps, out.step_actions)
    return out
