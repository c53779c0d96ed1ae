"""The job's config snapshot on its row, and the job model back from it.

Whoever creates a row (the trigger, the API, the periodic scheduler) stores the Prow job as
`model_dump(mode="json", by_alias=True, exclude_none=True)` in `Job.job_config`; the controller
(and the run page's graph) validate it back into the same Prow model, so a run gets exactly the
job that was triggered, whatever the central config says by now. Both directions live here so
that they cannot drift apart.

Env from matching presets is the one part of a job a dump leaves out (the loader keeps it in a
private attribute): it travels under its own key, `PRESET_ENV`.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import ValidationError

from foredeck.config import JobBase, Periodic, Postsubmit, Presubmit, RepoJob
from foredeck.db.models import Job

PRESET_ENV = "preset_env"
"""Snapshot key for the env a `pipeline:` job gets from presets (kept apart from the model's
fields, where the config loader keeps it in a private attribute)."""

_MODELS: dict[str, type[JobBase]] = {
    "presubmit": Presubmit,
    "batch": Presubmit,
    "postsubmit": Postsubmit,
    "periodic": Periodic,
}


class JobSetupError(Exception):
    """The job cannot start (bad snapshot, broken pipeline): it ends as `error` with this text."""


def job_snapshot(job: JobBase) -> dict[str, Any]:
    """The job's config as stored on its row; env from matching presets travels with it, so
    the run gets what config check saw."""
    snapshot = job.model_dump(mode="json", by_alias=True, exclude_none=True)
    if job.preset_env:
        snapshot[PRESET_ENV] = dict(job.preset_env)
    return snapshot


def job_model(job: Job) -> JobBase:
    """The Prow job model back from the row's snapshot; `JobSetupError` when it is not one."""
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
