"""From a job's Prow model to the pipeline the executor runs, where it runs, and its limits.

The model comes from the row's config snapshot (`foredeck.jobs.job_model`, beside the function
that writes the snapshot), so `job_pipeline` gets exactly the job that was triggered, whatever
the central config says by now.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from foredeck.config import JobBase, job_pipeline
from foredeck.config.durations import DurationError, parse_go_duration
from foredeck.db.models import Job
from foredeck.jobs import JobSetupError
from foredeck.pipeline.model import PipelineRunSpec
from foredeck.types import UNKNOWN, PipelineError


def pipeline_message(exc: PipelineError) -> str:
    """`file:line: message`, without the meaningless position of a snapshot-built node."""
    return exc.message if exc.source == UNKNOWN else str(exc)


Agent = Literal["local", "argo", "tekton"]
RUNNABLE_AGENTS: tuple[Agent, ...] = ("local", "argo", "tekton")
DEFAULT_AGENTS = ("", "kubernetes")
"""Prow's default agent (and none at all) run where `kube.default_agent` says."""


def job_agent(job: Job) -> str:
    """The agent the job asked for: the row's column, else its config snapshot's."""
    return (job.agent or str((job.job_config or {}).get("agent") or "")).strip()


def effective_agent(agent: str, default: Agent) -> Agent | None:
    """Where a job with `agent` runs: `local`, `argo` or `tekton`; None for an agent foredeck
    does not run (`jenkins`, `tekton-pipeline`, ...)."""
    if agent in DEFAULT_AGENTS:
        return default
    return next((a for a in RUNNABLE_AGENTS if a == agent), None)


def unsupported_agent(agent: str) -> str:
    return (
        f"agent {agent!r} is not supported: foredeck runs agent kubernetes (on kube.default_agent)"
        ", local, argo and tekton jobs"
    )


def build_run(
    model: JobBase, repo_dir: Path | None, *, default_workdir: bool = True
) -> PipelineRunSpec:
    """`job_pipeline`, with steps that name no `workingDir` running in the checkout (as Prow's
    decorated containers do). Remote runs pass `default_workdir=False`: their pods have the
    checkout elsewhere, and the decoration sets it."""
    try:
        run = job_pipeline(model, repo_dir)
    except PipelineError as exc:
        raise JobSetupError(pipeline_message(exc)) from None
    if repo_dir is not None and default_workdir:
        pipeline = run.pipeline
        specs = [t.task_spec for t in pipeline.all_tasks() if t.task_spec is not None]
        for spec in [*specs, *pipeline.task_library.values()]:
            for step in spec.steps:
                if not step.working_dir:
                    step.working_dir = str(repo_dir)
    return run


@dataclass(frozen=True)
class Limits:
    timeout: float
    timeout_text: str
    grace: float


def _duration(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return parse_go_duration(text)
    except DurationError:
        return None


def format_seconds(seconds: float) -> str:
    """`1h30m`, `45s`, `0.5s`: short, Go-like."""
    if seconds < 60 or seconds != int(seconds):
        return f"{seconds:g}s"
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return text + (f"{secs}s" if secs else "")


def limits(model: JobBase, default_timeout: float, default_grace: float) -> Limits:
    """`decoration_config.timeout` / `grace_period`, else the controller's defaults."""
    dc = model.decoration_config
    raw_timeout = dc.timeout if dc is not None else None
    timeout = _duration(raw_timeout)
    grace = _duration(dc.grace_period if dc is not None else None)
    grace_seconds = default_grace if grace is None else grace
    if timeout is None or timeout <= 0:
        return Limits(default_timeout, format_seconds(default_timeout), grace_seconds)
    return Limits(timeout, raw_timeout or format_seconds(timeout), grace_seconds)
