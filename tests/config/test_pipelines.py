"""From jobs to pipelines: Prow pod specs, inline Tekton/Argo pipelines, pipelines in the repo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from foredeck.config import JobBase, job_pipeline, load_config
from foredeck.config import pipelines as pipelines_mod
from foredeck.pipeline.model import PipelineRunSpec
from foredeck.types import PipelineError
from foredeck.yamlsrc import Document, load_documents
from tests.config.helpers import load_text, messages, one_error, write

INLINE = """
presets:
- labels: {preset-token: "true"}
  env: [{name: TOKEN_FILE, value: /etc/token}]
presubmits:
  org/repo:
  - name: inline
    always_run: true
    labels: {preset-token: "true"}
    pipeline_params: {greeting: hello}
    pipeline:
      apiVersion: tekton.dev/v1
      kind: Pipeline
      metadata:
        name: inline
      spec:
        params:
        - name: greeting
        tasks:
        - name: say
          params:
          - name: greeting
            value: $(params.greeting)
          taskSpec:
            params:
            - name: greeting
            steps:
            - name: echo
              image: alpine
              env:
              - name: TOKEN_FILE
                value: step-wins
              script: echo $(params.greeting)
            - name: second
              image: alpine
              script: echo done
"""


def only_job(tmp_path: Path, text: str) -> JobBase:
    result = load_text(tmp_path, text)
    assert result.ok, messages(result)
    (job,) = list(result.jobs.all_jobs())
    return job


def steps_of(run: PipelineRunSpec) -> list[Any]:
    spec = run.pipeline.spec_of(run.pipeline.tasks[0])
    return spec.steps


def test_spec_job_becomes_a_one_task_pipeline(tmp_path: Path) -> None:
    text = """
    presets:
    - labels: {preset-x: "true"}
      env: [{name: FROM_PRESET, value: "1"}]
    presubmits:
      org/repo:
      - name: unit
        always_run: true
        decorate: true
        labels: {preset-x: "true"}
        decoration_config: {timeout: 45m}
        spec:
          containers:
          - name: build
            image: golang:1.22
            command: [make]
            args: [build]
            workingDir: /src
            env: [{name: GOFLAGS, value: -mod=mod}]
          - name: test
            image: golang:1.22
            command: [make, test]
            env: [{name: SECRET, valueFrom: {secretKeyRef: {name: s, key: k}}}]
    """
    result = load_text(tmp_path, text)
    assert result.ok, messages(result)
    (warning,) = messages(result, warnings=True)
    assert "env SECRET uses valueFrom, which runs only on Kubernetes agents" in warning
    run = job_pipeline(next(result.jobs.all_jobs()), None)
    assert run.name == "unit" and run.pipeline.name == "unit"
    assert run.pipeline.timeout == 45 * 60
    assert [t.name for t in run.pipeline.tasks] == ["test"]
    build, test = steps_of(run)
    assert (build.name, build.image, build.command, build.args) == (
        "build",
        "golang:1.22",
        ["make"],
        ["build"],
    )
    assert build.working_dir == "/src"
    assert build.env == {"GOFLAGS": "-mod=mod", "FROM_PRESET": "1"}
    assert test.env == {"FROM_PRESET": "1"}  # valueFrom cannot be resolved outside Kubernetes
    assert str(build.source) == f"{tmp_path / 'jobs.yaml'}:13"
    assert str(test.source) == f"{tmp_path / 'jobs.yaml'}:19"


def test_single_unnamed_container_is_step_test(tmp_path: Path) -> None:
    text = "periodics:\n- {name: p, interval: 1h, spec: {containers: [{image: a}]}}\n"
    job = only_job(tmp_path, text)
    (step,) = steps_of(job_pipeline(job, None))
    assert step.name == "test" and step.image == "a" and step.command == []


def test_inline_pipeline_is_validated_at_load_time(tmp_path: Path) -> None:
    job = only_job(tmp_path, INLINE)
    assert job.inline_pipeline is not None
    run = job_pipeline(job, None)
    assert run.params == {"greeting": "hello"}
    first, second = steps_of(run)
    assert first.env["TOKEN_FILE"] == "step-wins"  # a step's own value wins over the preset
    assert second.env["TOKEN_FILE"] == "/etc/token"
    # every run gets its own copy: a run cannot change the loaded config
    second.env["TOKEN_FILE"] = "changed"
    assert steps_of(job_pipeline(job, None))[1].env["TOKEN_FILE"] == "/etc/token"


def test_inline_pipeline_errors_name_the_config_file_line(tmp_path: Path) -> None:
    broken = INLINE.replace("value: $(params.greeting)", "value: $(params.missing)")
    err = one_error(load_text(tmp_path, broken))
    assert err.startswith(f"{tmp_path / 'jobs.yaml'}:19: job inline: pipeline: "), err  # task
    assert "missing" in err
    assert load_text(tmp_path, broken).jobs.counts()["presubmits"] == 0


def test_inline_pipeline_as_yaml_text(tmp_path: Path) -> None:
    text = """
    periodics:
    - name: text-pipeline
      interval: 1h
      pipeline: |
        apiVersion: tekton.dev/v1
        kind: Pipeline
        metadata:
          name: t
        spec:
          tasks:
          - name: a
            runAfter: [nowhere]
            taskSpec:
              steps:
              - {name: s, image: alpine, script: echo}
    """
    err = one_error(load_text(tmp_path, text))
    assert err.startswith(f"{tmp_path / 'jobs.yaml'}:11: job text-pipeline: pipeline: "), err
    assert "nowhere" in err


def test_inline_argo_workflow(tmp_path: Path) -> None:
    text = """
    postsubmits:
      org/repo:
      - name: argo
        pipeline:
          apiVersion: argoproj.io/v1alpha1
          kind: Workflow
          metadata: {generateName: argo-}
          spec:
            entrypoint: main
            templates:
            - name: main
              container:
                image: alpine
                command: [echo, hi]
    """
    run = job_pipeline(only_job(tmp_path, text), None)
    (step,) = steps_of(run)
    assert step.image == "alpine" and [*step.command, *step.args] == ["echo", "hi"]


def test_pipeline_path_is_read_from_the_checkout_at_run_time(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        "config/jobs.yaml",
        """
        presubmits:
          org/repo:
          - name: from-repo
            always_run: true
            pipeline: ci/pipeline.yaml
            pipeline_params: {who: world}
        """,
    )
    result = load_config([config])
    assert result.ok, messages(result)
    job = next(result.jobs.all_jobs())
    assert job.pipeline_path == "ci/pipeline.yaml" and job.inline_pipeline is None
    repo = tmp_path / "checkout"
    write(
        repo,
        "ci/pipeline.yaml",
        """
        apiVersion: tekton.dev/v1
        kind: Task
        metadata: {name: hello}
        spec:
          params: [{name: who}]
          steps:
          - {name: say, image: alpine, script: echo $(params.who)}
        """,
    )
    run = job_pipeline(job, repo)
    assert run.params == {"who": "world"}
    assert steps_of(run)[0].name == "say"
    with pytest.raises(PipelineError, match="needs a repository checkout"):
        job_pipeline(job, None)
    with pytest.raises(PipelineError, match=r"ci/pipeline.yaml not found in the repository"):
        job_pipeline(job, tmp_path / "empty")
    (repo / "ci" / "pipeline.yaml").write_text("apiVersion: tekton.dev/v1\nkind: Task\nspec: [\n")
    with pytest.raises(PipelineError) as info:
        job_pipeline(job, repo)
    assert str(info.value).startswith("ci/pipeline.yaml:")  # named relative to the repository


def test_pipeline_path_may_not_leave_the_repository(tmp_path: Path) -> None:
    text = """
    periodics:
    - {name: a, interval: 1h, pipeline: /etc/passwd}
    - {name: b, interval: 1h, pipeline: ../outside.yaml}
    """
    result = load_text(tmp_path, text)
    errs = messages(result)
    assert len(errs) == 2
    assert all("must be relative and stay inside the repository" in e for e in errs)
    # a symlink that escapes is refused when the job runs
    ok = load_text(tmp_path, "periodics:\n- {name: c, interval: 1h, pipeline: ci/p.yaml}\n")
    repo = tmp_path / "repo"
    (repo / "ci").mkdir(parents=True)
    outside = write(tmp_path, "secret.yaml", "apiVersion: tekton.dev/v1\n")
    (repo / "ci" / "p.yaml").symlink_to(outside)
    with pytest.raises(PipelineError, match="leaves the repository"):
        job_pipeline(ok.jobs.periodics[0], repo)


def test_spec_and_pipeline_together_is_an_error(tmp_path: Path) -> None:
    text = """
    periodics:
    - name: both
      interval: 1h
      pipeline: ci/p.yaml
      spec: {containers: [{image: a}]}
    """
    err = one_error(load_text(tmp_path, text))
    assert ":4: job both: a job sets either spec or pipeline, not both" in err


def test_job_without_spec_or_pipeline_is_an_error(tmp_path: Path) -> None:
    err = one_error(load_text(tmp_path, "periodics:\n- {name: empty, interval: 1h}\n"))
    assert "job empty: agent kubernetes jobs require a spec or a pipeline" in err


def test_text_route_keeps_the_config_file_line_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A nested mapping goes to `run_from_documents` as loaded; YAML text goes through
    `load_pipeline_text`, and the text handed over must put every line where it is in the
    config file."""
    seen: list[tuple[str, str]] = []

    def load_pipeline_text(text: str, filename: str, params: Any = None) -> Any:
        seen.append((text, filename))
        raise PipelineError(load_documents(text, filename)[0].data.at("kind"), "stop here")

    def run_from_documents(docs: list[Document], params: Any = None, origin: Any = None) -> Any:
        raise PipelineError(docs[0].data.at("kind"), "stop here")

    monkeypatch.setattr(pipelines_mod, "load_pipeline_text", load_pipeline_text)
    monkeypatch.setattr(pipelines_mod, "run_from_documents", run_from_documents)
    text = INLINE + (
        "  - name: as-text\n"
        "    always_run: true\n"
        "    pipeline: |\n"
        "\n"
        "      apiVersion: tekton.dev/v1\n"
        "      kind: Pipeline\n"
    )
    result = load_text(tmp_path, text)
    lines = (tmp_path / "jobs.yaml").read_text().splitlines()
    kind_lines = [i + 1 for i, ln in enumerate(lines) if ln.strip() == "kind: Pipeline"]
    errs = messages(result)
    assert [e.split("jobs.yaml:")[1] for e in errs] == [
        f"{kind_lines[0]}: job inline: pipeline: stop here",
        f"{kind_lines[1]}: job as-text: pipeline: stop here",
    ], errs
    assert all(filename == str(tmp_path / "jobs.yaml") for _, filename in seen)
