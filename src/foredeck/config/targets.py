"""Whether a job's pipeline can run where its agent sends it.

A job with `agent: argo` or `agent: tekton` runs its pipeline compiled to a Workflow or a
PipelineRun. What an engine cannot express (an Argo exit handler reading a task's outputs, a
Tekton parameter named `0banana` ...) would otherwise fail only when the job runs; compiling at
check time makes it a config error naming the job's `agent:` line and the pipeline's own
`file:line`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from foredeck.config.models import JobBase
from foredeck.config.pipelines import job_pipeline, locate
from foredeck.config.result import Diagnostic
from foredeck.pipeline.emit import manifest
from foredeck.pipeline.errors import each_error
from foredeck.pipeline.model import PipelineRunSpec
from foredeck.types import PipelineError

ENGINE_AGENTS = ("argo", "tekton")
"""Agents whose jobs run compiled to an engine's manifest."""


def compile_problem(job: JobBase, run: PipelineRunSpec) -> Diagnostic | None:
    """Why `run` cannot be compiled for `job.agent` (at the job's `agent:` line), or None."""
    agent = job.agent
    if agent not in ENGINE_AGENTS:
        return None
    try:
        manifest(run, "argo" if agent == "argo" else "tekton")
    except PipelineError as exc:
        where = locate(job.raw, ("agent",), job.source)
        message = f"the pipeline cannot run on agent {agent}: {exc.message} (pipeline {exc.source})"
        return Diagnostic(where, message, job.name)
    return None


def check_repo_pipelines(jobs: Iterable[JobBase], repo_dir: Path) -> list[Diagnostic]:
    """Load and compile the pipeline files (`pipeline: path`) that engine-agent jobs of a
    checkout name: the files a run would read from that checkout."""
    problems: list[Diagnostic] = []
    for job in jobs:
        if job.agent not in ENGINE_AGENTS or job.pipeline_path is None:
            continue
        try:
            run = job_pipeline(job, repo_dir)
        except PipelineError as exc:
            problems += [
                Diagnostic(e.source, f"pipeline: {e.message}", job.name) for e in each_error(exc)
            ]
            continue
        problem = compile_problem(job, run)
        if problem is not None:
            problems.append(problem)
    return problems
