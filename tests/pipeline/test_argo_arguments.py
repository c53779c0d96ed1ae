"""Arguments a template does not declare: Argo binds each declared input from the argument of
its name and ignores the others (`common.ProcessArgs`), for leaf, nested and sub-graph calls."""

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
metadata: {generateName: extra-args-}
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - name: leaf
            template: echo
            arguments:
              parameters: [{name: msg, value: one}, {name: unused, value: x}]
        - - name: nested
            template: inner
            arguments:
              parameters: [{name: message, value: ignored}]
        - - name: looped
            template: inner
            withItems: [a, b]
            arguments:
              parameters: [{name: message, value: "{{item}}"}]
    - name: inner
      steps:
        - - name: hi
            template: echo
            arguments:
              parameters: [{name: msg, value: inner}, {name: workflow-name, value: x}]
    - name: echo
      inputs:
        parameters: [{name: msg}]
      container: {image: busybox, command: [echo, "{{inputs.parameters.msg}}"]}
"""


def test_undeclared_arguments_are_ignored_not_bound() -> None:
    pipeline = load_pipeline_text(WORKFLOW, "wf.yaml").pipeline
    leaf = next(t for t in pipeline.tasks if t.name == "leaf")
    assert leaf.params == {"msg": "one"}
    nested = next(t for t in pipeline.tasks if t.name == "nested-hi")
    assert nested.params == {"msg": "inner"}
    looped = next(t for t in pipeline.tasks if t.name == "looped")
    assert looped.graph_ref is not None
    assert looped.params == {}
    assert pipeline.graph_library[looped.graph_ref].params == []


@pytest.mark.timeout(60)
def test_a_call_with_extra_arguments_runs_and_emits_valid_argo(tmp_path: Path) -> None:
    spec = load_pipeline_text(WORKFLOW, "wf.yaml")
    result = asyncio.run(run_pipeline(spec, tmp_path / "out", parallel=2))
    assert result.status == "Succeeded"
    emitted = emit_argo(spec)
    assert schema_errors(argo_validator(), emitted) == []
    again = emit_argo(load_pipeline_text(yaml.safe_dump(emitted), "emitted.yaml"))
    assert again == emitted
