"""`agent: argo|tekton` jobs: their pipeline is compiled for that engine when the config is
checked, so what the engine cannot express is a config error naming both files' lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.child import child_env
from tests.config.helpers import load_text, messages, write

# Argo names a parameter `2nd-stage` freely; Tekton names begin with a letter or '_'.
ARGO_JOB = """\
presubmits:
  org/repo:
  - name: staged
    always_run: true
    agent: {agent}
    pipeline:
      apiVersion: argoproj.io/v1alpha1
      kind: Workflow
      metadata: {{generateName: staged-}}
      spec:
        entrypoint: main
        arguments:
          parameters:
          - name: 2nd-stage
            value: deploy
        templates:
        - name: main
          container:
            image: alpine
            command: [echo, "{{{{workflow.parameters.2nd-stage}}}}"]
"""

# Argo has one deadline per container set: a per-step timeout in a two-step task is Tekton's.
TEKTON_JOB = """\
postsubmits:
  org/repo:
  - name: timed
    agent: {agent}
    pipeline: |
      apiVersion: tekton.dev/v1
      kind: Pipeline
      metadata: {{name: timed}}
      spec:
        tasks:
        - name: build
          taskSpec:
            steps:
            - {{name: one, image: alpine, script: "true", timeout: 5s}}
            - {{name: two, image: alpine, script: "true"}}
"""


@pytest.mark.parametrize("agent", ["argo", "local", "kubernetes"])
def test_a_pipeline_argo_runs_passes_for_argo(tmp_path: Path, agent: str) -> None:
    result = load_text(tmp_path, ARGO_JOB.format(agent=agent))
    assert result.ok, messages(result)


def test_a_pipeline_tekton_cannot_express_fails_for_tekton(tmp_path: Path) -> None:
    result = load_text(tmp_path, ARGO_JOB.format(agent="tekton"))
    path = tmp_path / "jobs.yaml"
    assert messages(result) == [
        f"{path}:5: job staged: the pipeline cannot run on agent tekton: pipeline 'staged':"
        " Tekton cannot express a parameter named '2nd-stage' (Tekton names begin with a"
        " letter or '_' and hold letters, digits, '-', '_', '.') (pipeline"
        f" {path}:14)"
    ]
    assert not list(result.jobs.all_jobs())  # the job is left out, like any invalid job


def test_a_pipeline_argo_cannot_express_fails_for_argo(tmp_path: Path) -> None:
    assert load_text(tmp_path, TEKTON_JOB.format(agent="tekton")).ok
    result = load_text(tmp_path, TEKTON_JOB.format(agent="argo"))
    path = tmp_path / "jobs.yaml"
    (message,) = messages(result)
    assert message.startswith(f"{path}:4: job timed: the pipeline cannot run on agent argo: ")
    assert "Argo has no per-step timeout in a multi-step task" in message
    assert message.endswith(f"(pipeline {path}:14)")  # the step


def _check(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "foredeck.cli", "config", "check", *map(str, args)],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_config_check_prints_it_and_fails(tmp_path: Path) -> None:
    path = write(tmp_path, "jobs.yaml", ARGO_JOB.format(agent="tekton"))
    proc = _check(path)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith(f"{path}:5: job staged: the pipeline cannot run on agent tekton")
    assert lines[-1].startswith("config check failed: 1 errors;")


IN_REPO = """\
presubmits:
- name: from-file
  always_run: true
  agent: {agent}
  pipeline: ci/pipeline.yaml
"""


def test_in_repo_checkout_compiles_the_pipeline_files_its_jobs_name(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    workflow = ARGO_JOB.format(agent="argo").split("    pipeline:\n", 1)[1]
    write(repo, "ci/pipeline.yaml", "\n".join(line[6:] for line in workflow.splitlines()))
    write(repo, ".foredeck.yaml", IN_REPO.format(agent="argo"))
    assert _check("--in-repo", repo).returncode == 0
    write(repo, ".foredeck.yaml", IN_REPO.format(agent="tekton"))
    proc = _check("--in-repo", repo)
    assert proc.returncode == 1
    first = proc.stderr.splitlines()[0]
    assert first.startswith(".foredeck.yaml:4: job from-file: the pipeline cannot run on agent")
    assert first.endswith("(pipeline ci/pipeline.yaml:8)")
    (repo / "ci/pipeline.yaml").unlink()
    proc = _check("--in-repo", repo)
    assert "pipeline file ci/pipeline.yaml not found in the repository" in proc.stderr
