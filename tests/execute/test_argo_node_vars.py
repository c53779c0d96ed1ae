"""Argo's node-context variables (`node.name`, `steps.name` / `tasks.name`, `inputs.parameters`,
`steps.X.id` / `tasks.X.id`) given to a run on the host."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from foredeck.execute.local import run_pipeline
from foredeck.pipeline.argo.tags import node_id
from foredeck.pipeline.emit import emit, manifest
from foredeck.pipeline.load import load_pipeline_text
from foredeck.types import PipelineError
from tests.pipeline.test_emit import argo_validator, schema_errors

pytestmark = pytest.mark.timeout(60)

WF = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: nodes}
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - name: first
            template: show
            arguments: {parameters: [{name: msg, value: 'say "hi"'}]}
        - - name: second
            template: show
            arguments:
              parameters:
                - {name: msg, value: "{{steps.name}} after {{steps.first.id}}"}
        - - {name: inner, template: graph}
    - name: graph
      dag:
        tasks:
          - {name: a, template: show, arguments: {parameters: [{name: msg, value: x}]}}
          - name: b
            depends: a
            template: show
            arguments: {parameters: [{name: msg, value: "{{tasks.a.id}}"}]}
    - name: show
      inputs: {parameters: [{name: msg}]}
      script:
        image: alpine
        command: [sh]
        source: |
          {
            echo 'node={{node.name}}'
            echo 'step={{steps.name}}'
            echo 'task={{tasks.name}}'
            echo 'msg={{inputs.parameters.msg}}'
          } > "$ARTIFACTS/vars"
          printf '%s' '{{inputs.parameters}}' > "$ARTIFACTS/inputs.json"
"""


def test_leaf_bodies_and_arguments_see_their_node(tmp_path: Path) -> None:
    spec = load_pipeline_text(WF, "wf.yaml")
    spec.name = "nodes-run"
    result = asyncio.run(run_pipeline(spec, tmp_path / "out", parallel=2))
    assert result.status == "Succeeded"

    def seen(task: str, name: str) -> str:
        return (tmp_path / "out" / str(result.tasks[task].artifacts) / name).read_text()

    def lines(task: str) -> dict[str, str]:
        return dict(line.split("=", 1) for line in seen(task, "vars").splitlines())

    first = lines("first")
    assert first["node"] == "nodes-run.first"
    assert first["step"] == first["task"] == "first"
    assert json.loads(seen("first", "inputs.json")) == [{"name": "msg", "value": 'say "hi"'}]
    first_id = node_id("first").replace("$(context.pipelineRun.name)", "nodes-run")
    assert re.fullmatch(r"nodes-run-\d+", first_id)
    assert lines("second")["msg"] == f"second after {first_id}"  # `steps.name`: the caller
    leaf = lines("inner-a")
    assert leaf["node"] == "nodes-run.inner-a"
    assert leaf["task"] == "a"  # the name as written in the dag, not the flattened one
    assert lines("inner-b")["msg"] == node_id("inner-a").replace(
        "$(context.pipelineRun.name)", "nodes-run"
    )
    assert first_id != lines("inner-b")["msg"]


def test_node_ids_are_argo_fnv_hashes() -> None:
    # FNV-1a 32 of "a" is 0xe40c292c, as Go's hash/fnv gives (Argo's `NodeID`)
    assert node_id("a") == f"$(context.pipelineRun.name)-{0xE40C292C}"


def test_node_variables_round_trip_through_argo() -> None:
    spec = load_pipeline_text(WF, "wf.yaml")
    assert schema_errors(argo_validator(), manifest(spec, "argo")) == []
    text = emit(spec, "argo")
    assert "{{workflow.name}}.first" in text  # the node name, bound at the call
    assert emit(load_pipeline_text(text, "back.yaml"), "argo") == text


LOOP = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: loops}
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - name: fan
            template: leaf
            arguments: {parameters: [{name: v, value: "{{item}}"}]}
            withItems: [a, 'b"q']
        - - name: gather
            template: show
            arguments: {parameters: [{name: all, value: "{{steps.fan.outputs.parameters}}"}]}
    - name: leaf
      inputs: {parameters: [{name: v}]}
      outputs:
        parameters:
          - {name: out, valueFrom: {path: /tmp/o}}
          - {name: len, valueFrom: {path: /tmp/l}}
      script:
        image: alpine
        command: [sh]
        source: |
          printf 'x%s' '{{inputs.parameters.v}}' > '{{outputs.parameters.out.path}}'
          printf 1 > '{{outputs.parameters.len.path}}'
    - name: show
      inputs: {parameters: [{name: all}]}
      script:
        image: alpine
        command: [sh]
        source: |
          printf '%s' '{{inputs.parameters.all}}' > "$ARTIFACTS/all"
"""


def test_a_loops_output_parameters_are_a_list_of_maps(tmp_path: Path) -> None:
    spec = load_pipeline_text(LOOP, "wf.yaml")
    result = asyncio.run(run_pipeline(spec, tmp_path / "out", parallel=2))
    assert result.status == "Succeeded"
    seen = (tmp_path / "out" / str(result.tasks["gather"].artifacts) / "all").read_text()
    # Argo: each iteration's parameters as one map, in item order, as compact JSON
    assert seen == '[{"len":"1","out":"xa"},{"len":"1","out":"xb\\"q"}]'


RETRIED = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: retried}
spec:
  entrypoint: flaky
  templates:
    - name: flaky
      retryStrategy: {limit: "2"}
      script:
        image: alpine
        command: [sh]
        source: |
          echo '{{retries}}|{{lastRetry.status}}|{{lastRetry.exitCode}}|{{lastRetry.message}}|\
          {{lastRetry.duration}}' >> "$ARTIFACTS/seen"
          [ '{{retries}}' = 2 ] || exit 7
"""


def test_each_attempt_sees_the_last_one(tmp_path: Path) -> None:
    spec = load_pipeline_text(RETRIED, "wf.yaml")
    result = asyncio.run(run_pipeline(spec, tmp_path / "out", parallel=2))
    assert result.status == "Succeeded"
    seen = (tmp_path / "out" / str(result.tasks["flaky"].artifacts) / "seen").read_text()
    rows = [line.replace(" ", "").split("|") for line in seen.splitlines()]
    assert rows[0] == ["0", "", "0", "", "0"]  # Argo's values before any retry
    for row in rows[1:]:
        assert row[1:3] == ["Failed", "7"]
        assert "7" in row[3]
        assert float(row[4]) >= 0
    assert [r[0] for r in rows] == ["0", "1", "2"]
    argo = emit(spec, "argo")
    assert "{{lastRetry.status}}" in argo
    assert emit(load_pipeline_text(argo, "back.yaml"), "argo") == argo
    with pytest.raises(PipelineError, match=r"lastRetry.*no Tekton equal"):
        emit(spec, "tekton")
