"""`when` over an earlier step's phase (`{{steps.A.status}} == Failed`) outside the exit handler:
a dependency predicate on A's outcome, after A continues on its failure."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from foredeck.execute.local import run_pipeline
from foredeck.pipeline.emit import emit
from foredeck.pipeline.load import load_pipeline_text
from foredeck.pipeline.predicates import ContinueOn, render, tasks_of

pytestmark = pytest.mark.timeout(60)

LEAVES = """    - name: fail
      container:
        image: alpine:3.19
        command: [sh, -c, "exit 1"]
    - name: ok
      container:
        image: alpine:3.19
        command: [echo, ok]
"""
"""The templates the workflows below call: one that fails, one that passes."""

WORKFLOW = (
    """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: status-when-
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - name: flaky
            template: fail
            continueOn:
              failed: true
        - - name: on-failure
            template: ok
            when: "{{steps.flaky.status}} == Failed"
          - name: on-success
            template: ok
            when: "{{steps.flaky.status}} == Succeeded"
          - name: not-failed
            template: ok
            when: "{{steps.flaky.status}} != Failed"
"""
    + LEAVES
)


def test_a_phase_test_of_an_earlier_step_is_a_predicate_on_its_outcome() -> None:
    tasks = {t.name: t for t in load_pipeline_text(WORKFLOW, "wf.yaml").pipeline.tasks}
    for name in ("on-failure", "on-success", "not-failed"):
        assert tasks[name].when == []
        assert tasks[name].run_after == ["flaky"]
        predicate = tasks[name].depends
        assert predicate is not None and tasks_of(predicate) == ["flaky"]

    def continues(name: str) -> ContinueOn:
        return tasks[name].continue_on

    depends = {name: tasks[name].depends for name in ("on-failure", "on-success", "not-failed")}
    rendered = {name: render(d, continues) for name, d in depends.items() if d is not None}
    # flaky continues on failure: its success is no longer implied by the run going on.
    assert rendered == {
        "on-failure": "flaky && flaky.Failed",
        "on-success": "flaky && flaky.Succeeded",
        "not-failed": "flaky && !flaky.Failed",
    }


def test_only_the_step_whose_phase_test_holds_runs(tmp_path: Path) -> None:
    run = load_pipeline_text(WORKFLOW, "wf.yaml")
    result = asyncio.run(run_pipeline(run, tmp_path / "out", parallel=2))
    statuses = {name: task.status for name, task in result.tasks.items()}
    assert statuses["flaky"] == "Failed"
    assert statuses["on-failure"] == "Succeeded"
    assert statuses["on-success"] == "Skipped"
    assert statuses["not-failed"] == "Skipped"
    assert "depends: flaky && flaky.Failed" in emit(run, "argo")


def test_a_steps_template_whose_skipped_steps_follow_a_continued_failure_succeeds(
    tmp_path: Path,
) -> None:
    """Argo's step group fails only on a step that failed and does not continue (steps.go):
    `flaky` continues on its failure and the other steps are skipped by their `when`, so the
    workflow Succeeds (Argo's status-reference example). It ended Failed: the skipped steps
    inherited flaky's failure by the DAG rule."""
    run = load_pipeline_text(WORKFLOW, "wf.yaml")
    result = asyncio.run(run_pipeline(run, tmp_path / "out", parallel=2))
    assert result.tasks["on-success"].status == "Skipped"
    assert result.status == "Succeeded"


DAG_WORKFLOW = (
    """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: dag-status-when-
spec:
  entrypoint: main
  templates:
    - name: main
      dag:
        tasks:
          - name: flaky
            template: fail
            continueOn:
              failed: true
          - name: on-success
            template: ok
            depends: flaky.Succeeded
"""
    + LEAVES
)

STOPPING_STEPS = (
    """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: steps-stop-
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - name: broken
            template: fail
        - - name: after
            template: ok
            when: "{{steps.broken.status}} == Succeeded"
"""
    + LEAVES
)


@pytest.mark.parametrize("text", [DAG_WORKFLOW, STOPPING_STEPS])
def test_a_dag_leaf_kept_from_running_and_an_uncontinued_step_failure_still_fail(
    tmp_path: Path, text: str
) -> None:
    """In a DAG, a leaf omitted after its parent failed inherits the failure even when the
    parent continues on it (Argo's dag.go: branch phases); in steps, a failure no step
    continues on fails the template, whatever is skipped after it."""
    run = load_pipeline_text(text, "wf.yaml")
    result = asyncio.run(run_pipeline(run, tmp_path / "out", parallel=2))
    assert result.status == "Failed"
