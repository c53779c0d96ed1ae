"""Tekton v1 constructs run by the local executor, with the outcome Tekton gives them.

Images are recorded, not pulled: the steps are portable shell run on this machine.
"""

from __future__ import annotations

import asyncio
import textwrap
import uuid
from pathlib import Path

import pytest

from foredeck.execute.local import run_pipeline
from foredeck.execute.runstate import RunResult
from foredeck.pipeline.load import load_pipeline_text
from foredeck.storage import prow

pytestmark = pytest.mark.timeout(60)


def run(text: str, tmp_path: Path) -> RunResult:
    spec = load_pipeline_text(textwrap.dedent(text), "run.yaml")
    return asyncio.run(run_pipeline(spec, tmp_path / "out", parallel=2))


def build_log(tmp_path: Path) -> str:
    return (tmp_path / "out" / prow.BUILD_LOG).read_text()


def lines_of(tmp_path: Path, task: str, step: str) -> list[str]:
    marker = f"[{task}/{step}] "
    return [line.split(marker, 1)[1] for line in build_log(tmp_path).splitlines() if marker in line]


ON_ERROR = """\
apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: on-error}
spec:
  tasks:
    - name: t
      taskSpec:
        results: [{name: code}]
        steps:
          - name: exit-with-3
            image: alpine
            onError: continue
            script: exit 3
          - name: verify
            image: alpine
            script: |
              code=$(cat $(steps.step-exit-with-3.exitCode.path))
              printf '%s' "$code" > $(results.code.path)
              test "$code" = 3
"""


def test_step_on_error_continue_records_the_exit_code_and_goes_on(tmp_path: Path) -> None:
    result = run(ON_ERROR, tmp_path)
    assert result.status == "Succeeded"
    assert result.tasks["t"].results == {"code": "3"}
    assert "step 'exit-with-3': onError continue, carrying on" in build_log(tmp_path)


def test_without_on_error_a_failing_step_fails_the_task(tmp_path: Path) -> None:
    result = run(ON_ERROR.replace("onError: continue", "onError: stopAndFail"), tmp_path)
    assert result.status == "Failed"
    assert result.tasks["t"].reason == "step 'exit-with-3' exited with code 3"


def test_stdout_and_stderr_config_copy_the_streams(tmp_path: Path) -> None:
    text = """\
    apiVersion: tekton.dev/v1
    kind: Pipeline
    metadata: {name: streams}
    spec:
      workspaces: [{name: ws}]
      tasks:
        - name: t
          workspaces: [{name: ws, workspace: ws}]
          taskSpec:
            workspaces: [{name: ws}]
            results: [{name: greeting}]
            steps:
              - name: speak
                image: alpine
                stdoutConfig: {path: $(results.greeting.path)}
                stderrConfig: {path: /workspace/ws/err.txt}
                script: |
                  echo hello
                  echo oops >&2
              - name: check
                image: alpine
                script: grep -qx oops $(workspaces.ws.path)/err.txt
    """
    result = run(text, tmp_path)
    assert result.status == "Succeeded", result.tasks["t"].reason
    assert result.tasks["t"].results == {"greeting": "hello"}
    # The log still has both streams, as Tekton's does.
    assert set(lines_of(tmp_path, "t", "speak")) == {"hello", "oops"}


def test_a_stream_file_outside_the_run_is_refused(tmp_path: Path) -> None:
    text = f"""\
    apiVersion: tekton.dev/v1
    kind: Task
    metadata: {{name: t}}
    spec:
      steps:
        - name: s
          image: alpine
          stdoutConfig: {{path: {tmp_path}/escaped.txt}}
          script: echo hi
    """
    result = run(text, tmp_path)
    assert result.status == "Failed"
    assert "outside the run's directory" in result.tasks["t"].reason
    assert not (tmp_path / "escaped.txt").exists()


SUB_PATH = """\
apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: sub-path}
spec:
  params:
    - {name: dir, default: one}
  workspaces: [{name: shared}]
  tasks:
    - name: write
      workspaces:
        - {name: out, workspace: shared, subPath: $(params.dir)/deep}
      taskSpec:
        workspaces: [{name: out}]
        steps:
          - {name: s, image: alpine, script: "echo data > $(workspaces.out.path)/file"}
    - name: read
      runAfter: [write]
      workspaces:
        - {name: all, workspace: shared}
      taskSpec:
        workspaces: [{name: all}]
        steps:
          - {name: s, image: alpine, script: "cat $(workspaces.all.path)/one/deep/file"}
"""


def test_workspace_sub_path_is_a_directory_of_the_workspace(tmp_path: Path) -> None:
    result = run(SUB_PATH, tmp_path)
    assert result.status == "Succeeded", result.tasks
    assert lines_of(tmp_path, "read", "s") == ["data"]


def test_a_sub_path_that_leaves_the_workspace_fails_the_task(tmp_path: Path) -> None:
    result = run(SUB_PATH.replace("default: one", "default: .."), tmp_path)
    assert result.status == "Failed"
    assert "must be a relative path inside it" in result.tasks["write"].reason


def test_context_variables_tekton_documents(tmp_path: Path) -> None:
    text = """\
    apiVersion: tekton.dev/v1
    kind: PipelineRun
    metadata: {name: ctx-run}
    spec:
      pipelineSpec:
        tasks:
          - name: t
            retries: 2
            params:
              - {name: retries, value: $(context.pipelineTask.retries)}
              - {name: run-uid, value: $(context.pipelineRun.uid)}
            taskSpec:
              params: [{name: retries}, {name: run-uid}]
              steps:
                - name: s
                  image: alpine
                  script: |
                    echo "retries=$(params.retries) in-step=$(context.pipelineTask.retries)"
                    echo "try=$(context.task.retry-count) task=$(context.task.name)"
                    echo "run=$(context.pipelineRun.name) ns=$(context.pipelineRun.namespace)"
                    echo "taskrun=$(context.taskRun.name) ns=$(context.taskRun.namespace)"
                    echo "uids=$(params.run-uid) $(context.pipelineRun.uid) $(context.taskRun.uid)"
                    echo 'undocumented=$(context.task2.status)'
                    test "$(context.task.retry-count)" = "$(params.retries)"
    """
    result = run(text, tmp_path)
    assert result.status == "Succeeded"
    assert result.tasks["t"].attempts == 3  # fails until the last retry, as upstream's example
    out = lines_of(tmp_path, "t", "s")
    assert out[:4] == [
        "retries=2 in-step=2",
        "try=0 task=t",
        "run=ctx-run ns=local",
        "taskrun=ctx-run-t ns=local",
    ]
    run_uid, same, task_uid = out[4].split("=", 1)[1].split()
    assert run_uid == same != task_uid
    uuid.UUID(run_uid), uuid.UUID(task_uid)
    # Tekton leaves a `$(context.…)` it does not document as written; so does a host run.
    assert out[5] == "undocumented=$(context.task2.status)"


def test_finally_sees_task_status_and_reason(tmp_path: Path) -> None:
    text = """\
    apiVersion: tekton.dev/v1
    kind: Pipeline
    metadata: {name: reasons}
    spec:
      tasks:
        - {name: ok, taskSpec: {steps: [{name: s, image: x, script: "true"}]}}
        - {name: bad, taskSpec: {steps: [{name: s, image: x, script: "exit 1"}]}}
        - name: late
          timeout: 1s
          taskSpec: {steps: [{name: s, image: x, script: "sleep 30"}]}
      finally:
        - name: report
          params:
            - {name: ok, value: "$(tasks.ok.status)/$(tasks.ok.reason)"}
            - {name: bad, value: "$(tasks.bad.status)/$(tasks.bad.reason)"}
            - {name: late, value: "$(tasks.late.status)/$(tasks.late.reason)"}
            - {name: all, value: $(tasks.status)}
          taskSpec:
            params: [{name: ok}, {name: bad}, {name: late}, {name: all}]
            steps:
              - name: s
                image: x
                script: echo "$(params.ok) $(params.bad) $(params.late) $(params.all)"
    """
    result = run(text, tmp_path)
    assert result.status == "Failed"
    (line,) = lines_of(tmp_path, "report", "s")
    assert line == "Succeeded/Succeeded Failed/Failed Failed/TaskRunTimeout Failed"


def test_matrix_lengths_and_partial_results(tmp_path: Path) -> None:
    text = """\
    apiVersion: tekton.dev/v1
    kind: Pipeline
    metadata: {name: m}
    spec:
      tasks:
        - name: build
          matrix:
            params:
              - {name: os, value: [linux, mac]}
              - {name: arch, value: [amd64, arm64]}
          taskSpec:
            params: [{name: os}, {name: arch}]
            results: [{name: url}, {name: arm}]
            steps:
              - name: s
                image: x
                script: |
                  printf '%s' "$(params.os)-$(params.arch)" > $(results.url.path)
                  if [ "$(params.arch)" = arm64 ]; then printf y > $(results.arm.path); fi
        - name: count
          params:
            - {name: n, value: $(tasks.build.matrix.length)}
            - {name: arm, value: $(tasks.build.matrix.arm.length)}
            - {name: urls, value: "$(tasks.build.results.url[*])"}
          taskSpec:
            params: [{name: n}, {name: arm}, {name: urls, type: array}]
            steps:
              - name: s
                image: x
                args: ["$(params.urls[*])"]
                script: echo "$(params.n) $(params.arm) $*"
    """
    result = run(text, tmp_path)
    assert result.status == "Succeeded"
    # Tekton's order: the first matrix param varies fastest.
    (line,) = lines_of(tmp_path, "count", "s")
    assert line == "4 2 linux-amd64 mac-amd64 linux-arm64 mac-arm64"
    assert result.tasks["build"].results["arm"] == ["y", "y"]


def test_whole_array_result_feeds_an_array_param(tmp_path: Path) -> None:
    text = """\
    apiVersion: tekton.dev/v1
    kind: Pipeline
    metadata: {name: arrays}
    spec:
      tasks:
        - name: gen
          taskSpec:
            results: [{name: list, type: array}]
            steps:
              - {name: s, image: x, script: "printf '[\\"a\\", \\"b c\\"]' > $(results.list.path)"}
        - name: use
          params:
            - {name: items, value: $(tasks.gen.results.list)}
          taskSpec:
            params: [{name: items, type: array}]
            steps:
              - name: s
                image: x
                args: ["$(params.items[*])"]
                script: 'for i in "$@"; do echo "<$i>"; done'
    """
    result = run(text, tmp_path)
    assert result.status == "Succeeded", result.tasks["use"].reason
    assert lines_of(tmp_path, "use", "s") == ["<a>", "<b c>"]


def test_cluster_settings_are_noted_once_and_extra_params_ignored(tmp_path: Path) -> None:
    text = """\
    apiVersion: tekton.dev/v1
    kind: Pipeline
    metadata: {name: p}
    spec:
      params: [{name: env, default: dev}]
      tasks:
        - name: a
          taskSpec:
            steps:
              - name: s
                image: x
                securityContext: {runAsUser: 1000}
                script: echo $(params.env)
        - name: b
          taskSpec:
            steps: [{name: s, image: x, script: "echo $(inputs.params.env)"}]
    ---
    apiVersion: tekton.dev/v1
    kind: PipelineRun
    metadata: {name: r}
    spec:
      pipelineRef: {name: p}
      params:
        - {name: env, value: prod}
        - {name: colour, value: blue}
      taskRunTemplate:
        serviceAccountName: builder
      taskRunSpecs:
        - pipelineTaskName: a
          timeout: 30s
          podTemplate: {nodeSelector: {disk: ssd}}
    """
    result = run(text, tmp_path)
    assert result.status == "Succeeded"
    assert result.params == {"env": "prod"}
    assert lines_of(tmp_path, "b", "s") == ["prod"]  # `$(inputs.params.x)` is `$(params.x)`
    log = build_log(tmp_path)
    notes = [
        "taskRunTemplate (serviceAccountName) only matters on a cluster",
        "taskRunSpecs of a (podTemplate) only matter on a cluster",
        "step fields securityContext only matter in a pod",
        "run params not declared by the pipeline are ignored, as Tekton does: colour",
    ]
    for note in notes:
        assert log.count(note) == 1, note
