"""`{{workflow.parameters.json}}` (and the older `{{workflow.parameters}}`): the workflow's
parameters with their run values as Argo's JSON list, in a call and in a script body."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml

from foredeck.execute.local import run_pipeline
from foredeck.pipeline.emit_argo import emit_argo
from foredeck.pipeline.load import load_pipeline_text
from tests.pipeline.test_emit import argo_validator, schema_errors

WORKFLOW = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: pj-}
spec:
  entrypoint: main
  arguments: {parameters: [{name: greeting, value: hello}, {name: target, value: 'wor"ld'}]}
  templates:
    - name: main
      steps:
        - - name: a
            template: keep
            arguments: {parameters: [{name: all, value: "{{workflow.parameters.json}}"}]}
    - name: keep
      inputs: {parameters: [{name: all}]}
      outputs:
        parameters:
          - {name: all, valueFrom: {path: /tmp/all}}
          - {name: body, valueFrom: {path: /tmp/body}}
      script:
        image: busybox
        command: [sh]
        source: |
          cat > /tmp/all <<'X'
          {{inputs.parameters.all}}
          X
          cat > /tmp/body <<'X'
          {{workflow.parameters}}
          X
"""


@pytest.mark.timeout(60)
def test_the_parameters_json_holds_the_run_values(tmp_path: Path) -> None:
    spec = load_pipeline_text(WORKFLOW, "wf.yaml", {"greeting": "hi"})
    result = asyncio.run(run_pipeline(spec, tmp_path / "out"))
    assert result.status == "Succeeded"
    expected = [{"name": "greeting", "value": "hi"}, {"name": "target", "value": 'wor"ld'}]
    results = result.tasks["a"].results
    assert json.loads(str(results["all"])) == expected
    assert json.loads(str(results["body"])) == expected
    assert str(results["all"]).startswith('[{"name":"greeting","value":"hi"}')  # Go's layout


def test_it_is_emitted_back_as_an_expression() -> None:
    emitted = emit_argo(load_pipeline_text(WORKFLOW, "wf.yaml"))
    assert schema_errors(argo_validator(), emitted) == []
    value = emitted["spec"]["templates"][0]["dag"]["tasks"][0]["arguments"]["parameters"][0]
    assert value["value"].startswith('{{=toJson([{"name": "greeting", "value": workflow.')
    assert emit_argo(load_pipeline_text(yaml.safe_dump(emitted), "back.yaml")) == emitted


READ_IN_AN_EXPRESSION = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: pj-expr-}
spec:
  entrypoint: main
  arguments: {parameters: [{name: should-print, value: "true"}]}
  templates:
    - name: main
      steps:
        - - name: printed
            template: say
            when: "{{=jsonpath(workflow.parameters.json, '$[0].value') == 'true'}}"
          - name: not-printed
            template: say
            when: "{{=jsonpath(workflow.parameters.json, '$[0].value') == 'false'}}"
    - name: say
      container: {image: busybox, command: [echo, hello]}
"""


@pytest.mark.timeout(60)
def test_an_expression_may_read_the_parameters_json(tmp_path: Path) -> None:
    """Argo's conditionals example: `jsonpath(workflow.parameters.json, '$[0].value')`."""
    spec = load_pipeline_text(READ_IN_AN_EXPRESSION, "wf.yaml")
    result = asyncio.run(run_pipeline(spec, tmp_path / "out"))
    statuses = {name: task.status for name, task in result.tasks.items()}
    assert statuses == {"printed": "Succeeded", "not-printed": "Skipped"}
    emitted = emit_argo(spec)
    assert schema_errors(argo_validator(), emitted) == []
