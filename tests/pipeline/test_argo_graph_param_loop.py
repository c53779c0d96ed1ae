"""A workflow param passed as text into a sub-graph that loops over it (`withParam` over the
sub-graph's own input): the sub-graph gets the JSON text, as in Argo, and loops over its items;
the workflow param of the same name stays text."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from foredeck.execute.local import run_pipeline
from foredeck.pipeline.emit_argo import emit_argo
from foredeck.pipeline.load import load_pipeline_text
from tests.pipeline.test_emit import argo_validator, schema_errors

pytestmark = pytest.mark.timeout(60)

NESTED = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: nested-loop-}
spec:
  entrypoint: outer
  arguments:
    parameters:
      - {name: letters, value: '["a","b"]'}
      - {name: numbers, value: '[1,2]'}
  templates:
    - name: outer
      inputs:
        parameters: [{name: letters}, {name: numbers}]
      steps:
        - - name: each-number
            template: inner
            arguments:
              parameters:
                - {name: letters, value: "{{inputs.parameters.letters}}"}
                - {name: n, value: "{{item}}"}
            withParam: "{{inputs.parameters.numbers}}"
    - name: inner
      inputs:
        parameters: [{name: letters}, {name: n}]
      steps:
        - - name: each-letter
            template: say
            arguments:
              parameters:
                - {name: text, value: "{{inputs.parameters.n}}{{item}}"}
            withParam: "{{inputs.parameters.letters}}"
    - name: say
      inputs:
        parameters: [{name: text}]
      container: {image: alpine, command: [sh, -c, "echo {{inputs.parameters.text}}"]}
"""


def test_the_workflow_param_stays_the_json_text_passed_to_the_sub_graph() -> None:
    p = load_pipeline_text(NESTED, "wf.yaml").pipeline
    letters = next(param for param in p.params if param.name == "letters")
    assert letters.type == "string"
    assert letters.default == '["a","b"]'


def test_the_sub_graph_loops_over_the_items_of_the_text_it_gets(tmp_path: Path) -> None:
    spec = load_pipeline_text(NESTED, "wf.yaml")
    result = asyncio.run(run_pipeline(spec, tmp_path / "out", parallel=2))
    assert result.status == "Succeeded"
    log = "\n".join(p.read_text() for p in (tmp_path / "out").rglob("*.txt"))
    for word in ("1a", "1b", "2a", "2b"):
        assert word in log
    assert "a b" not in log  # not the items joined with spaces


def test_it_is_emitted_back_as_a_withparam_over_the_input() -> None:
    first = emit_argo(load_pipeline_text(NESTED, "wf.yaml"))
    assert schema_errors(argo_validator(), first) == []
    assert emit_argo(load_pipeline_text(yaml.safe_dump(first), "again.yaml")) == first
    text = yaml.safe_dump(first)
    assert "withParam: '{{inputs.parameters.letters}}'" in text
