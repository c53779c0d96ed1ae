"""Argo output fields beyond a file or an inner node's parameter: `valueFrom.expression`,
`globalName`; each checked at load (the IR value), at run time and through Argo -> IR -> Argo.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from foredeck.execute.local import run_pipeline
from foredeck.execute.runstate import RunResult
from foredeck.pipeline.emit_argo import emit_argo
from foredeck.pipeline.load import load_pipeline_text
from foredeck.pipeline.model import PipelineRunSpec
from foredeck.types import PipelineError
from tests.pipeline.test_emit import argo_validator, schema_errors

pytestmark = pytest.mark.timeout(60)

EXPRESSION_OUTPUT = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: expr-out-}
spec:
  entrypoint: main
  templates:
    - name: main
      dag:
        tasks:
          - {name: a, template: say}
      outputs:
        parameters:
          - name: loud
            valueFrom:
              expression: "upper(tasks.a.outputs.parameters.word) + '!'"
    - name: say
      container:
        image: alpine
        command: [sh, -c, "printf hello > /tmp/w"]
      outputs:
        parameters:
          - name: word
            valueFrom: {path: /tmp/w}
"""


def load(text: str) -> PipelineRunSpec:
    return load_pipeline_text(text, "wf.yaml")


def emitted_again(text: str) -> dict[str, Any]:
    """Argo -> IR -> Argo, checked against the schema and to be a fixed point."""
    first = emit_argo(load(text))
    assert schema_errors(argo_validator(), first) == []
    second = emit_argo(load_pipeline_text(yaml.safe_dump(first), "emitted.yaml"))
    assert second == first
    return first


def template(workflow: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(t for t in workflow["spec"]["templates"] if t["name"] == name)
    return found


def run(spec: PipelineRunSpec, tmp_path: Path) -> RunResult:
    return asyncio.run(run_pipeline(spec, tmp_path / "out", parallel=2))


def test_an_output_expression_is_an_ir_expression_over_the_inner_nodes() -> None:
    results = {r.name: r.value for r in load(EXPRESSION_OUTPUT).pipeline.results}
    loud = results["loud"]
    assert isinstance(loud, str) and loud.startswith("$(=")
    assert "$(tasks.a.results.word)" in loud


def test_an_output_expression_is_evaluated_after_the_run(tmp_path: Path) -> None:
    result = run(load(EXPRESSION_OUTPUT), tmp_path)
    assert result.status == "Succeeded"
    assert result.results == {"loud": "HELLO!"}


def test_an_output_needs_exactly_one_source() -> None:
    both = EXPRESSION_OUTPUT.replace(
        'expression: "upper',
        'parameter: "{{tasks.a.outputs.parameters.word}}"\n              expression: "upper',
    )
    with pytest.raises(PipelineError, match=r"wf\.yaml:\d+: .*exactly one"):
        load(both)


def test_a_skipped_tasks_output_is_nil_for_the_fallback_operator(tmp_path: Path) -> None:
    skipped = EXPRESSION_OUTPUT.replace(
        "{name: a, template: say}", "{name: a, template: say, when: 'false'}"
    ).replace(
        "upper(tasks.a.outputs.parameters.word) + '!'", "tasks.a.outputs.parameters.word ?? 'none'"
    )
    result = run(load(skipped), tmp_path)
    assert result.status == "Succeeded"
    assert result.results == {"loud": "none"}


ARTIFACT_EXPRESSION = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: expr-art-}
spec:
  entrypoint: main
  templates:
    - name: main
      dag:
        tasks:
          - {name: coin, template: coin}
          - name: heads
            template: write
            depends: coin
            when: "{{tasks.coin.outputs.result}} == heads"
          - name: tails
            template: write
            depends: coin
            when: "{{tasks.coin.outputs.result}} == tails"
      outputs:
        artifacts:
          - name: picked
            fromExpression: >-
              tasks.coin.outputs.result == 'heads'
              ? tasks.heads.outputs.artifacts.out : tasks.tails.outputs.artifacts.out
    - name: coin
      container: {image: alpine, command: [echo, heads]}
    - name: write
      container:
        image: alpine
        command: [sh, -c, "echo written > /tmp/out.txt"]
      outputs:
        artifacts:
          - {name: out, path: /tmp/out.txt}
"""


def test_an_output_artifact_from_an_expression_picks_the_task_that_ran(tmp_path: Path) -> None:
    spec = load(ARTIFACT_EXPRESSION)
    (picked,) = spec.pipeline.results
    assert isinstance(picked.value, str) and picked.value.startswith("$(=")
    assert "$(tasks.heads.results." in picked.value
    assert "$(tasks.tails.results." in picked.value
    result = run(spec, tmp_path)
    assert result.status == "Succeeded"
    assert result.tasks["tails"].status != "Succeeded"
    assert (
        result.results[picked.name]
        == result.tasks["heads"].results[picked.name.replace("picked", "out")]
    )


def test_output_expressions_are_emitted_back_as_expressions() -> None:
    (loud,) = template(emitted_again(EXPRESSION_OUTPUT), "main")["outputs"]["parameters"]
    assert loud["valueFrom"] == {"expression": "upper(tasks.a.outputs.parameters.word) + '!'"}
    (picked,) = template(emitted_again(ARTIFACT_EXPRESSION), "main")["outputs"]["artifacts"]
    assert "tasks.heads.outputs.artifacts[" in picked["fromExpression"]


GLOBAL_OUTPUT = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: global-out-}
spec:
  entrypoint: main
  onExit: report
  templates:
    - name: main
      steps:
        - - {name: make, template: make}
        - - name: use
            template: show
            arguments:
              parameters: [{name: text, value: "{{workflow.outputs.parameters.shared}}"}]
    - name: make
      container:
        image: alpine
        command: [sh, -c, "printf shared-value > /tmp/v; printf blob > /tmp/a"]
      outputs:
        parameters:
          - {name: v, valueFrom: {path: /tmp/v}, globalName: shared}
        artifacts:
          - {name: a, path: /tmp/a, globalName: shared-art}
    - name: show
      inputs:
        parameters: [{name: text}]
      container: {image: alpine, command: [echo, "{{inputs.parameters.text}}"]}
    - name: report
      inputs:
        parameters: [{name: text, value: "{{workflow.outputs.parameters.shared}}"}]
        artifacts: [{name: blob, path: /tmp/blob}]
      container:
        image: alpine
        command: [sh, -c, "echo {{inputs.parameters.text}}; cat /tmp/blob"]
"""
GLOBAL_EXIT = GLOBAL_OUTPUT.replace(
    "  onExit: report\n",
    "  onExit: exit\n",
).replace(
    "    - name: report\n",
    """    - name: exit
      steps:
        - - name: report
            template: report
            arguments:
              artifacts: [{name: blob, from: "{{workflow.outputs.artifacts.shared-art}}"}]
    - name: report
""",
)


def test_a_global_output_is_exported_by_the_template_that_sets_it() -> None:
    p = load(GLOBAL_EXIT).pipeline
    make = next(t for t in p.tasks if t.name == "make")
    assert p.spec_of(make).global_names == {
        "v": "parameters.shared",
        "argo-artifact-a": "artifacts.shared-art",
    }
    use = next(t for t in p.tasks if t.name == "use")
    assert use.params["text"] == "$(tasks.make.results.v)"


def test_later_tasks_and_the_exit_handler_read_the_global_output(tmp_path: Path) -> None:
    result = run(load(GLOBAL_EXIT), tmp_path)
    assert result.status == "Succeeded"
    log = (tmp_path / "out" / "build-log.txt").read_text()
    assert "[use/main] shared-value" in log
    assert "[report/main] shared-value" in log
    assert "[report/main] blob" in log


def test_a_global_output_is_emitted_back_with_its_name() -> None:
    emitted = emitted_again(GLOBAL_EXIT)
    outputs = template(emitted, "make")["outputs"]
    assert outputs["parameters"][0]["globalName"] == "shared"
    assert outputs["artifacts"][0]["globalName"] == "shared-art"
    text = yaml.safe_dump(emitted)
    assert "{{workflow.outputs.parameters.shared}}" in text  # read by the exit handler
    assert "{{workflow.outputs.artifacts.shared-art}}" in text


def test_reading_a_global_output_no_task_set_yet_names_the_field() -> None:
    early = GLOBAL_EXIT.replace("- - {name: make, template: make}\n        ", "")
    with pytest.raises(PipelineError, match=r"wf\.yaml:\d+: .*no task before this point exports"):
        load(early)
