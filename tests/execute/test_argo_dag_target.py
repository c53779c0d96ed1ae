"""A dag's `target`: only the named tasks and their dependencies run (Argo's dag-targets)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from foredeck.execute.local import run_pipeline
from foredeck.pipeline.load import load_pipeline_text
from foredeck.pipeline.model import ParamValue
from foredeck.types import PipelineError

pytestmark = pytest.mark.timeout(60)

# Argo's dag-targets example shape: A -> B, A -> C, B & C -> D, A -> E
WF = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {{name: dag-target}}
spec:
  entrypoint: dag-target
  arguments:
    parameters:
      - {{name: target, value: E}}
  templates:
    - name: dag-target
      dag:
        target: "{target}"
        tasks:
          - {{name: A, template: echo}}
          - {{name: B, depends: A, template: echo}}
          - {{name: C, depends: A, template: echo}}
          - {{name: D, depends: B && C, template: echo}}
          - {{name: E, depends: A, template: echo}}
    - name: echo
      container: {{image: alpine, command: [sh, -c, "true"]}}
"""


def statuses(target: str, params: dict[str, ParamValue], tmp_path: Path) -> dict[str, str]:
    spec = load_pipeline_text(WF.format(target=target), "wf.yaml", params)
    result = asyncio.run(run_pipeline(spec, tmp_path / "out", parallel=2))
    assert result.status == "Succeeded"
    return {name: task.status for name, task in result.tasks.items()}


def test_a_literal_target_prunes_the_dag_when_read() -> None:
    p = load_pipeline_text(WF.format(target="B E"), "wf.yaml").pipeline
    assert sorted(t.name for t in p.tasks) == ["A", "B", "E"]


def test_a_target_parameter_runs_the_target_and_its_dependencies(tmp_path: Path) -> None:
    target = "{{workflow.parameters.target}}"
    assert statuses(target, {}, tmp_path / "e") == {
        "A": "Succeeded",
        "B": "Skipped",
        "C": "Skipped",
        "D": "Skipped",
        "E": "Succeeded",
    }
    got = statuses(target, {"target": "D"}, tmp_path / "d")
    assert got == dict.fromkeys("ABCD", "Succeeded") | {"E": "Skipped"}


def test_an_unknown_target_is_an_error_naming_the_line() -> None:
    with pytest.raises(PipelineError, match=r"dag\.target: no task named 'F'") as err:
        load_pipeline_text(WF.format(target="A F"), "wf.yaml")
    assert str(err.value).startswith("wf.yaml:")
