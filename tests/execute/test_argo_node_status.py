"""`{{steps.X.status}}` / `{{tasks.X.status}}` outside the exit handler: the Argo phase of a
node that ran before (Succeeded, Failed, Error, Skipped, Omitted), a run-time node fact
(`$(tasks.X.phase)` in the IR), emitted back to Argo as written."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from foredeck.execute.local import run_pipeline
from foredeck.execute.lookups import _phase
from foredeck.execute.runstate import TaskRecord
from foredeck.pipeline.emit_argo import emit_argo
from foredeck.pipeline.emit_tekton import emit_tekton
from foredeck.pipeline.load import load_pipeline_text
from foredeck.types import PipelineError
from tests.pipeline.test_emit import argo_validator, schema_errors

pytestmark = pytest.mark.timeout(60)

STEPS = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: phases-}
spec:
  entrypoint: main
  arguments: {parameters: [{name: go, value: "no"}]}
  templates:
    - name: main
      steps:
        - - {name: ok, template: run, arguments: {parameters: [{name: code, value: "0"}]}}
          - name: bad
            template: run
            continueOn: {failed: true}
            arguments: {parameters: [{name: code, value: "3"}]}
          - name: idle
            template: run
            when: "{{workflow.parameters.go}} == yes"
            arguments: {parameters: [{name: code, value: "0"}]}
        - - name: read
            template: keep
            arguments:
              parameters:
                - name: seen
                  value: "{{steps.ok.status}} {{steps.bad.status}} {{steps.idle.status}}"
    - name: run
      inputs: {parameters: [{name: code}]}
      container: {image: busybox, command: [sh, -c, "exit {{inputs.parameters.code}}"]}
    - name: keep
      inputs: {parameters: [{name: seen}]}
      script:
        image: alpine
        command: [sh]
        source: printf '%s' '{{inputs.parameters.seen}}' > "$ARTIFACTS/seen"
"""

DAG = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: omitted-}
spec:
  entrypoint: main
  templates:
    - name: main
      dag:
        tasks:
          - {name: a, template: run}
          - {name: b, template: run, depends: a.Failed}
          - name: c
            template: keep
            depends: b.Omitted
            arguments: {parameters: [{name: seen, value: "{{tasks.a.status}} {{tasks.b.status}}"}]}
    - name: run
      container: {image: busybox, command: ["true"]}
    - name: keep
      inputs: {parameters: [{name: seen}]}
      script:
        image: alpine
        command: [sh]
        source: printf '%s' '{{inputs.parameters.seen}}' > "$ARTIFACTS/seen"
"""


def _seen(text: str, out: Path, reader: str) -> str:
    result = asyncio.run(run_pipeline(load_pipeline_text(text, "wf.yaml"), out, parallel=2))
    assert result.status == "Succeeded"
    return (out / str(result.tasks[reader].artifacts) / "seen").read_text()


def test_a_later_step_reads_each_earlier_steps_phase(tmp_path: Path) -> None:
    assert _seen(STEPS, tmp_path / "out", "read") == "Succeeded Failed Skipped"


def test_a_dag_task_reads_that_an_upstream_task_was_omitted(tmp_path: Path) -> None:
    assert _seen(DAG, tmp_path / "out", "c") == "Succeeded Omitted"


def test_a_failure_that_is_not_an_exit_code_is_argos_error_and_unsettled_is_unknown() -> None:
    errored = TaskRecord("t", "t", status="Failed", exit_code=None)  # e.g. could not start
    assert _phase(errored, frozenset()) == "Error"
    assert _phase(TaskRecord("t", "t", status="Failed", exit_code=2), frozenset()) == "Failed"
    assert _phase(TaskRecord("t", "t", status="Running"), frozenset()) is None


def test_the_phase_emits_back_as_argos_status() -> None:
    emitted = emit_argo(load_pipeline_text(STEPS, "wf.yaml"))
    assert schema_errors(argo_validator(), emitted) == []
    read = emitted["spec"]["templates"][0]["dag"]["tasks"][-1]
    value = read["arguments"]["parameters"][0]["value"]
    assert value == "{{tasks.ok.status}} {{tasks.bad.status}} {{tasks.idle.status}}"
    assert emit_argo(load_pipeline_text(yaml.safe_dump(emitted), "back.yaml")) == emitted


def test_a_status_test_beyond_succeeded_in_a_when_is_still_refused() -> None:
    text = STEPS.replace(
        "            template: keep\n",
        "            template: keep\n"
        '            when: "{{steps.bad.status}} == Failed || {{steps.ok.status}} == Error"\n',
    )
    with pytest.raises(PipelineError, match=r"outside the exit handler"):
        load_pipeline_text(text, "wf.yaml")


PIPELINE = """\
apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: p}
spec:
  tasks:
    - name: a
      taskSpec: {steps: [{name: s, image: busybox, script: "true"}]}
    - name: b
      RUN_AFTER
      params: [{name: x, value: "$(tasks.a.phase)"}]
      taskSpec:
        params: [{name: x}]
        steps: [{name: s, image: busybox, script: "echo $(params.x)"}]
"""


def test_the_ir_reads_a_phase_only_of_a_task_that_ran_before() -> None:
    load_pipeline_text(PIPELINE.replace("RUN_AFTER", "runAfter: [a]"), "p.yaml")
    with pytest.raises(PipelineError, match=r"p\.yaml:\d+: .*task 'a' is not upstream of 'b'"):
        load_pipeline_text(PIPELINE.replace("RUN_AFTER", ""), "p.yaml")


def test_tekton_has_no_phase_of_a_task_and_says_so() -> None:
    spec = load_pipeline_text(PIPELINE.replace("RUN_AFTER", "runAfter: [a]"), "p.yaml")
    with pytest.raises(PipelineError, match=r"\$\(tasks\.a\.phase\): Argo's node facts"):
        emit_tekton(spec)
