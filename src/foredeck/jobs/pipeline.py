"""A job's pipeline, built from its Prow model: what the controller runs and the run page draws.

The model comes from the row's config snapshot (`job_model`), so `job_pipeline` gets exactly the
job that was triggered, whatever the central config says by now.
"""

from __future__ import annotations

from pathlib import Path

from foredeck.config import JobBase, job_pipeline
from foredeck.jobs.snapshot import JobSetupError
from foredeck.pipeline.model import PipelineRunSpec
from foredeck.types import UNKNOWN, PipelineError


def pipeline_message(exc: PipelineError) -> str:
    """`file:line: message`, without the meaningless position of a snapshot-built node."""
    return exc.message if exc.source == UNKNOWN else str(exc)


def build_run(model: JobBase, repo_dir: Path | None) -> PipelineRunSpec:
    """`job_pipeline` (a `pipeline:` path read from the checkout at `repo_dir`). Steps that
    name no `workingDir` keep none: where they see the checkout is the executor's business
    (the local one runs them in `RunRequest.workdir`, as Prow's decorated containers)."""
    try:
        return job_pipeline(model, repo_dir)
    except PipelineError as exc:
        raise JobSetupError(pipeline_message(exc)) from None
