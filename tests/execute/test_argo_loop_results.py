"""`{{steps.X.outputs.result}}` of a looped step: Argo's aggregate, a JSON list of each item's
stdout read as JSON when it is JSON (else as text), keys sorted as Go writes them."""

from __future__ import annotations

import asyncio
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
metadata: {generateName: agg-}
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - name: gen
            template: gen
        - - name: half
            template: half
            arguments: {parameters: [{name: num, value: "{{item}}"}]}
            withParam: "{{steps.gen.outputs.result}}"
        - - name: show
            template: show
            arguments: {parameters: [{name: all, value: "{{steps.half.outputs.result}}"}]}
    - name: gen
      script: {image: busybox, command: [sh], source: "echo '[1, 2, 3]'"}
    - name: half
      inputs: {parameters: [{name: num}]}
      script:
        image: busybox
        command: [sh]
        source: |
          n={{inputs.parameters.num}}
          if [ $n = 2 ]; then echo plain; else echo "{\\"num\\": $n, \\"even\\": false}"; fi
    - name: show
      inputs: {parameters: [{name: all}]}
      outputs: {parameters: [{name: all, valueFrom: {path: /tmp/all}}]}
      container:
        image: busybox
        command: [sh, -c, "printf '%s' '{{inputs.parameters.all}}' > /tmp/all"]
"""


@pytest.mark.timeout(60)
def test_a_looped_result_is_the_json_list_of_each_items_result(tmp_path: Path) -> None:
    spec = load_pipeline_text(WORKFLOW, "wf.yaml")
    show = next(t for t in spec.pipeline.tasks if t.name == "show")
    assert show.params["all"] == "$(tasks.half.results.result.values)"
    result = asyncio.run(run_pipeline(spec, tmp_path / "out", parallel=2))
    assert result.status == "Succeeded"
    expected = '[{"even":false,"num":1},"plain",{"even":false,"num":3}]'
    assert result.tasks["show"].results == {"all": expected}


def test_it_is_written_back_as_the_steps_outputs_result() -> None:
    emitted = emit_argo(load_pipeline_text(WORKFLOW, "wf.yaml"))
    assert schema_errors(argo_validator(), emitted) == []
    show = emitted["spec"]["templates"][0]["dag"]["tasks"][2]
    assert show["arguments"]["parameters"] == [
        {"name": "all", "value": "{{tasks.half.outputs.result}}"}
    ]
    assert emit_argo(load_pipeline_text(yaml.safe_dump(emitted), "back.yaml")) == emitted
