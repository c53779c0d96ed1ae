"""Argo's JSON-valued variables as its controller writes them (Go's `json.Marshal`: compact):
`{{inputs.parameters}}` and `{{workflow.parameters}}` list the parameters only (an artifact's
locator param is foredeck's, not Argo's), `{{item}}` of a map item is compact JSON."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from foredeck.execute.local import run_pipeline
from foredeck.pipeline.load import load_pipeline_text

WORKFLOW = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: json-}
spec:
  entrypoint: main
  arguments:
    parameters: [{name: greeting, value: hello}]
    artifacts: [{name: seed, raw: {data: seed-content}}]
  templates:
    - name: main
      inputs: {artifacts: [{name: seed}]}
      steps:
        - - name: show
            template: show
            arguments:
              parameters: [{name: ctx, value: "{{item}}"}]
              artifacts: [{name: in, from: "{{inputs.artifacts.seed}}"}]
            withItems: [{k: alpha, v: "1"}]
    - name: show
      inputs:
        parameters: [{name: ctx}]
        artifacts: [{name: in, path: /tmp/in.txt}]
      script:
        image: alpine
        command: [sh]
        source: |
          printf '%s' '{{inputs.parameters}}' > "$ARTIFACTS/inputs"
          printf '%s' '{{workflow.parameters.json}}' > "$ARTIFACTS/workflow"
"""


@pytest.mark.timeout(60)
def test_json_variables_hold_argos_parameters_only_and_compact_items(tmp_path: Path) -> None:
    spec = load_pipeline_text(WORKFLOW, "wf.yaml")
    result = asyncio.run(run_pipeline(spec, tmp_path / "out", parallel=2))
    assert result.status == "Succeeded"
    folder = tmp_path / "out" / str(result.tasks["show[0]"].artifacts)
    inputs = (folder / "inputs").read_text()
    assert json.loads(inputs) == [{"name": "ctx", "value": '{"k":"alpha","v":"1"}'}]
    workflow = (folder / "workflow").read_text()
    assert json.loads(workflow) == [{"name": "greeting", "value": "hello"}]
