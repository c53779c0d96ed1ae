"""Argo lifecycle hooks other than `exit`: loaded as IR tasks with a trigger, run on the host
once when their expression first holds, and written back as `hooks` that validate."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from foredeck.execute.local import run_pipeline
from foredeck.execute.runstate import RunResult
from foredeck.pipeline.emit_argo import emit_argo
from foredeck.pipeline.emit_tekton import emit_tekton
from foredeck.pipeline.load import load_pipeline_text
from foredeck.pipeline.model import PipelineRunSpec
from foredeck.types import PipelineError
from tests.pipeline.test_emit import argo_validator, schema_errors

WORKFLOW = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: hooks-}
spec:
  entrypoint: main
  hooks:
    running:
      expression: workflow.status == "Running"
      template: note
      arguments: {parameters: [{name: what, value: wf-running}]}
  templates:
    - name: main
      steps:
        - - name: step-1
            hooks:
              running:
                expression: steps["step-1"].status == "Running"
                template: note
                arguments: {parameters: [{name: what, value: s1-running}]}
              success:
                expression: steps["step-1"].status == "Succeeded"
                template: note
                arguments: {parameters: [{name: what, value: s1-ok}]}
              failed:
                expression: steps["step-1"].status == "Failed"
                template: note
                arguments: {parameters: [{name: what, value: s1-failed}]}
              said:
                expression: steps["step-1"].outputs.result == "done"
                template: note
                arguments: {parameters: [{name: what, value: "{{steps.step-1.outputs.result}}"}]}
            template: work
        - - name: step2
            template: note
            arguments: {parameters: [{name: what, value: after}]}
    - name: work
      script:
        image: busybox
        command: [sh]
        source: "sleep 0.3; echo done; exit CODE"
    - name: note
      inputs: {parameters: [{name: what}]}
      container: {image: busybox, command: [echo, "{{inputs.parameters.what}}"]}
"""


def load(code: int = 0) -> PipelineRunSpec:
    return load_pipeline_text(WORKFLOW.replace("CODE", str(code)), "wf.yaml")


def run(spec: PipelineRunSpec, tmp_path: Path) -> RunResult:
    return asyncio.run(run_pipeline(spec, tmp_path / "out", parallel=4))


def test_hooks_load_as_triggered_tasks_over_live_statuses() -> None:
    tasks = {t.name: t for t in load().pipeline.tasks}
    running = tasks["step-1-hooks-running"]
    assert (running.hook_of, running.trigger) == (
        "step-1",
        '$(=$(tasks.step-1.status) == "Running")',
    )
    assert tasks["hooks-running"].hook_of is None
    assert tasks["hooks-running"].trigger == '$(=$(tasks.status) == "Running")'
    assert tasks["step-1-hooks-said"].params == {"what": "$(tasks.step-1.results.result)"}
    assert tasks["step2"].run_after == ["step-1"]  # the hooks are waited for at run time


@pytest.mark.timeout(60)
def test_each_hook_runs_once_when_its_expression_holds(tmp_path: Path) -> None:
    result = run(load(), tmp_path)
    assert result.status == "Succeeded"
    status = {name: task.status for name, task in result.tasks.items()}
    assert status == {
        "step-1": "Succeeded",
        "step-1-hooks-running": "Succeeded",
        "step-1-hooks-success": "Succeeded",
        "step-1-hooks-said": "Succeeded",
        "step-1-hooks-failed": "Skipped",
        "step2": "Succeeded",
        "hooks-running": "Succeeded",
    }
    step1, running = result.tasks["step-1"], result.tasks["step-1-hooks-running"]
    assert step1.started is not None and step1.finished is not None
    assert running.started is not None and running.started < step1.finished  # while it ran
    for hook in ("step-1-hooks-success", "step-1-hooks-said"):
        finished = result.tasks[hook].finished
        assert finished is not None and result.tasks["step2"].started is not None
        assert result.tasks["step2"].started >= finished  # the next step waits for the hooks
    assert "did not hold" in result.tasks["step-1-hooks-failed"].reason


@pytest.mark.timeout(60)
def test_a_failed_step_fires_its_failure_hook_not_the_success_one(tmp_path: Path) -> None:
    result = run(load(code=3), tmp_path)
    assert result.status == "Failed"
    assert result.tasks["step-1-hooks-failed"].status == "Succeeded"
    assert result.tasks["step-1-hooks-success"].status == "Skipped"
    assert result.tasks["step-1-hooks-running"].status == "Succeeded"


def test_hooks_are_emitted_back_and_validate() -> None:
    emitted = emit_argo(load())
    assert schema_errors(argo_validator(), emitted) == []
    spec = emitted["spec"]
    assert spec["hooks"]["running"]["expression"] == 'workflow.status == "Running"'
    step1 = next(t for t in spec["templates"][0]["dag"]["tasks"] if t["name"] == "step-1")
    assert set(step1["hooks"]) == {"running", "success", "failed", "said"}
    assert step1["hooks"]["success"]["expression"] == 'tasks["step-1"].status == "Succeeded"'
    names = [t["name"] for t in spec["templates"][0]["dag"]["tasks"]]
    assert names == ["step-1", "step2"]
    again = emit_argo(load_pipeline_text(yaml.safe_dump(emitted), "emitted.yaml"))
    assert again == emitted


RUNNING = 'expression: steps["step-1"].status == "Running"\n                template: note'
SUCCESS = "template: note\n                arguments: {parameters: [{name: what, value: s1-ok}]}"


@pytest.mark.parametrize(
    ("old", "new", "why"),
    [
        (RUNNING, "template: note", "a hook other than `exit` needs an `expression`"),
        (SUCCESS, "template: main", "a lifecycle hook running a dag/steps template"),
        ('steps["step-1"].status == "Running"', "nope(1)", "unknown function nope"),
        ("template: work\n", "template: work\n            withItems: [1, 2]\n", "looped call"),
    ],
)
def test_bad_hooks_are_clear_errors(old: str, new: str, why: str) -> None:
    text = WORKFLOW.replace("CODE", "0")
    assert old in text
    with pytest.raises(PipelineError, match=r"wf\.yaml:\d+: .*" + why):
        load_pipeline_text(text.replace(old, new, 1), "wf.yaml")


def test_tekton_refuses_a_hook_naming_it() -> None:
    with pytest.raises(PipelineError, match=r"lifecycle hook .* has no Tekton equal"):
        emit_tekton(load())


@pytest.mark.timeout(60)
def test_a_hook_reads_argo_phases_error_and_omitted(tmp_path: Path) -> None:
    text = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: phases-}
spec:
  entrypoint: main
  templates:
    - name: main
      dag:
        tasks:
          - name: broken
            template: broken
            hooks:
              error: {expression: 'tasks.broken.status == "Error"', template: note}
          - name: after
            template: note
            depends: broken.Succeeded
            hooks:
              omitted: {expression: 'tasks.after.status == "Omitted"', template: note}
    - name: broken
      container: {image: busybox, command: [/nonexistent/command]}
    - name: note
      container: {image: busybox, command: [echo, hook]}
"""
    result = run(load_pipeline_text(text, "wf.yaml"), tmp_path)
    assert result.status == "Failed"
    assert result.tasks["broken-hooks-error"].status == "Succeeded"
    assert result.tasks["after"].status == "Skipped"
    assert result.tasks["after-hooks-omitted"].status == "Succeeded"
