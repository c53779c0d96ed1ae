"""From a job row's config snapshot to the pipeline the executor runs, and its time limits.

The trigger stores `Presubmit.model_dump(mode="json", by_alias=True, exclude_none=True)` as the
job's `job_config`; validating it back into the same Prow model gives `job_pipeline` exactly the
job that was triggered, whatever the central config says by now.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from foredeck.config import JobBase, Periodic, Postsubmit, Presubmit, RepoJob, job_pipeline
from foredeck.config.durations import DurationError, parse_go_duration
from foredeck.db.models import Job
from foredeck.pipeline.model import PipelineRunSpec
from foredeck.types import UNKNOWN, PipelineError

_MODELS: dict[str, type[JobBase]] = {
    "presubmit": Presubmit,
    "batch": Presubmit,
    "postsubmit": Postsubmit,
    "periodic": Periodic,
}


PRESET_ENV = "preset_env"
"""Snapshot key for the env a `pipeline:` job gets from presets (kept apart from the model's
fields, where the config loader keeps it in a private attribute)."""


class JobSetupError(Exception):
    """The job cannot start (bad snapshot, broken pipeline): it ends as `error` with this text."""


def job_model(job: Job) -> JobBase:
    """The Prow job model back from the row's snapshot."""
    model_type = _MODELS.get(job.type)
    if model_type is None:
        raise JobSetupError(f"unknown job type {job.type!r}")
    data = {"name": job.name, **(job.job_config or {})}
    preset_env = data.pop(PRESET_ENV, None)
    data["pipeline"] = _inline_text(data.get("pipeline"))
    if data["pipeline"] is None:
        del data["pipeline"]
    try:
        model = model_type.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "job"
        raise JobSetupError(f"invalid job config snapshot: {where}: {first['msg']}") from None
    if isinstance(model, RepoJob):
        model.finalize(f"{job.org}/{job.repo}")
    if isinstance(preset_env, dict):
        model.preset_env.update({str(k): str(v) for k, v in preset_env.items()})
    return model


def _inline_text(value: Any) -> Any:
    """An inline pipeline of the snapshot (a mapping or a list of them) as YAML text.

    The config front end reads nested mappings only as loaded from a file (with positions);
    text starting with `---` is always an inline pipeline, never taken for a path.
    """
    if isinstance(value, dict):
        value = [value]
    if isinstance(value, list):
        return "".join("---\n" + yaml.safe_dump(doc, sort_keys=False) for doc in value)
    return value


def pipeline_message(exc: PipelineError) -> str:
    """`file:line: message`, without the meaningless position of a snapshot-built node."""
    return exc.message if exc.source == UNKNOWN else str(exc)


def job_agent(job: Job) -> str:
    """The agent the job asked for: the row's column, else its config snapshot's (which
    executor that is: `foredeck.execute.executors`)."""
    return (job.agent or str((job.job_config or {}).get("agent") or "")).strip()


def build_run(model: JobBase, repo_dir: Path | None) -> PipelineRunSpec:
    """`job_pipeline` (a `pipeline:` path read from the checkout at `repo_dir`). Steps that
    name no `workingDir` keep none: where they see the checkout is the executor's business
    (the local one runs them in `RunRequest.workdir`, as Prow's decorated containers)."""
    try:
        return job_pipeline(model, repo_dir)
    except PipelineError as exc:
        raise JobSetupError(pipeline_message(exc)) from None


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
