"""Loops over a list known only at run time whose items are objects (Argo's `withParam` with
`{{item.key}}`): `Matrix.items` expanded by the executor."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from foredeck.execute.local import run_pipeline
from foredeck.execute.matrix import combinations
from foredeck.pipeline.emit import emit, manifest
from foredeck.pipeline.expressions import Lookup, SubstitutionError
from foredeck.pipeline.load import load_pipeline_text, load_run
from foredeck.pipeline.model import Matrix, ParamValue
from foredeck.types import PipelineError
from tests.pipeline.test_emit import argo_validator, schema_errors

DATA = Path(__file__).resolve().parents[1] / "data" / "argo-nested"
SAMPLE = DATA / "loops-param-argument.yaml"

pytestmark = pytest.mark.timeout(60)


def lookup(values: dict[str, ParamValue]) -> Lookup:
    return values.get


def test_upstream_loops_param_argument_runs_one_task_per_object(tmp_path: Path) -> None:
    spec = load_run([SAMPLE])
    task = spec.pipeline.tasks[0]
    assert task.matrix == Matrix(
        items="$(params.os-list)", item_params={"image": "$(item.image)", "tag": "$(item.tag)"}
    )
    result = asyncio.run(run_pipeline(spec, tmp_path / "out", parallel=2))
    assert result.status == "Succeeded"
    assert result.tasks["test-linux"].instances == [f"test-linux[{i}]" for i in range(4)]
    assert result.tasks["test-linux[3]"].params == {"image": "ubuntu", "tag": "17.10"}


def test_items_fill_fields_scalars_and_whole_objects() -> None:
    matrix = Matrix(items="$(params.l)", item_params={"a": "x-$(item.k.n)", "b": "$(item)"})
    items = '[{"k": {"n": 1}}, {"k": {"n": "two"}}]'
    assert combinations(matrix, lookup({"params.l": items})) == [
        {"a": "x-1", "b": '{"k":{"n":1}}'},
        {"a": "x-two", "b": '{"k":{"n":"two"}}'},
    ]
    scalars = Matrix(items="$(params.l)", item_params={"a": "$(item)"})
    assert combinations(scalars, lookup({"params.l": ["p", "q"]})) == [{"a": "p"}, {"a": "q"}]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('[{"x": 1}]', "has no field 'k'"),
        ('{"k": 1}', "are not a JSON list"),
        ("not json", "are not a JSON list"),
    ],
)
def test_bad_items_fail_the_task_with_a_reason(value: str, message: str) -> None:
    matrix = Matrix(items="$(params.l)", item_params={"a": "$(item.k)"})
    with pytest.raises(SubstitutionError, match=message):
        combinations(matrix, lookup({"params.l": value}))


def test_a_run_time_item_loop_round_trips_through_argo_and_not_tekton() -> None:
    spec = load_run([SAMPLE])
    assert schema_errors(argo_validator(), manifest(spec, "argo")) == []
    text = emit(spec, "argo")
    assert "withParam: '{{workflow.parameters.os-list}}'" in text
    assert "value: '{{item.image}}'" in text
    with pytest.raises(PipelineError, match="run-time list of items"):
        emit(spec, "tekton")


SEQUENCE = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: seq-
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - name: how-many
            template: three
        - - name: up
            template: echo
            arguments: {parameters: [{name: n, value: "{{item}}"}]}
            withSequence: {start: "1", end: "{{steps.how-many.outputs.result}}"}
          - name: down
            template: echo
            arguments: {parameters: [{name: n, value: "{{item}}"}]}
            withSequence: {start: "{{steps.how-many.outputs.result}}", end: "2"}
          - name: counted
            template: echo
            arguments: {parameters: [{name: n, value: "{{item}}"}]}
            withSequence: {count: "{{steps.how-many.outputs.result}}", start: "5"}
    - name: three
      script:
        image: alpine:3.19
        command: [sh]
        source: echo 3
    - name: echo
      inputs: {parameters: [{name: n}]}
      container:
        image: alpine:3.19
        command: [echo, "{{inputs.parameters.n}}"]
"""


def test_a_sequence_whose_numbers_come_from_a_step_expands_at_run_time(tmp_path: Path) -> None:
    """Argo's withsequence-nested-result: `end: "{{steps.a.outputs.result}}"`."""
    run = load_pipeline_text(SEQUENCE, "wf.yaml")
    result = asyncio.run(run_pipeline(run, tmp_path / "out", parallel=2))
    assert result.status == "Succeeded"
    instances = {
        loop: [t.params["n"] for name, t in result.tasks.items() if name.startswith(f"{loop}[")]
        for loop in ("up", "down", "counted")
    }
    assert instances == {"up": ["1", "2", "3"], "down": ["3", "2"], "counted": ["5", "6", "7"]}
    emitted = emit(run, "argo")
    assert 'withParam: \'{{=toJson(map(0..(asInt(tasks["how-many"].outputs.result) - 1)' in emitted


def test_a_run_time_sequence_keeps_the_default_format_only() -> None:
    text = SEQUENCE.replace('end: "2"}', 'end: "2", format: "%02d"}')
    with pytest.raises(PipelineError, match="only the default %d"):
        load_pipeline_text(text, "wf.yaml")


LOOPED_GRAPH = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: looped-graph-
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - name: each
            template: inner
            withItems: [x, y]
    - name: inner
      steps:
        - - name: make
            template: word
        - - name: use
            template: echo
            arguments: {parameters: [{name: n, value: "{{steps.make.outputs.result}}"}]}
    - name: word
      script:
        image: alpine:3.19
        command: [sh]
        source: echo made
    - name: echo
      inputs: {parameters: [{name: n}]}
      container:
        image: alpine:3.19
        command: [sh, -c, 'test "{{inputs.parameters.n}}" = made']
"""


def test_a_step_of_a_looped_call_reads_its_siblings_stdout(tmp_path: Path) -> None:
    """The stdout results a sub-graph's own tasks read are kept (not only the top level's)."""
    run = load_pipeline_text(LOOPED_GRAPH, "wf.yaml")
    result = asyncio.run(run_pipeline(run, tmp_path / "out", parallel=2))
    assert result.status == "Succeeded"
    assert {name: t.status for name, t in result.tasks.items() if name.endswith(".use")} == {
        "each[0].use": "Succeeded",
        "each[1].use": "Succeeded",
    }
