"""`when` over the loop item (`{{item}}`, `{{item.key}}`): a guard per iteration."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from foredeck.execute.local import run_pipeline
from foredeck.pipeline.emit import emit
from foredeck.pipeline.load import load_pipeline_text, load_run
from foredeck.types import PipelineError

DATA = Path(__file__).resolve().parents[1] / "data" / "argo-nested"
SAMPLE = DATA / "item-when.yaml"

pytestmark = pytest.mark.timeout(60)


def test_item_guards_are_per_instance_in_the_ir() -> None:
    tasks = {t.name: t for t in load_run([SAMPLE]).pipeline.tasks}
    assert tasks["pick"].when == []
    assert [(w.input, w.operator, w.values) for w in tasks["pick"].item_when] == [
        ("$(params.text)", "notin", ["b"])
    ]
    assert [(w.input, w.operator, w.values) for w in tasks["maps"].item_when] == [
        ("$(params.os)", "in", ["alpine"])
    ]


def test_iterations_whose_item_fails_the_when_are_skipped(tmp_path: Path) -> None:
    result = asyncio.run(run_pipeline(load_run([SAMPLE]), tmp_path / "out", parallel=2))
    assert result.status == "Succeeded"
    statuses = {name: task.status for name, task in result.tasks.items()}
    assert statuses == {
        "pick": "Succeeded",
        "pick[0]": "Succeeded",
        "pick[1]": "Skipped",
        "pick[2]": "Succeeded",
        "maps": "Succeeded",
        "maps[0]": "Skipped",
        "maps[1]": "Succeeded",
    }
    assert result.tasks["pick[1]"].reason == "when: 'b' notin ['b'] is false"


def test_item_guards_round_trip_through_argo_and_not_tekton() -> None:
    run = load_run([SAMPLE])
    text = emit(run, "argo")
    assert 'when: \'"{{item}}" != "b"\'' in text
    assert 'when: \'"{{item.os}}" == "alpine"\'' in text
    back = load_pipeline_text(text, "back.yaml").pipeline.tasks
    assert [[(w.input, w.operator, w.values) for w in t.item_when] for t in back] == [
        [(w.input, w.operator, w.values) for w in t.item_when] for t in run.pipeline.tasks
    ]
    with pytest.raises(PipelineError, match="a `when` over the loop item"):
        emit(run, "tekton")


ITEM_FIELD = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: item-field-when-
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - name: each
            template: say
            arguments:
              parameters:
                - {name: text, value: "{{item.name}}"}
            withItems:
              - {name: a, keep: "yes"}
              - {name: b, keep: "no"}
            when: "{{item.keep}} == yes"
    - name: say
      inputs:
        parameters:
          - name: text
      container:
        image: alpine:3.19
        command: [echo, "{{inputs.parameters.text}}"]
"""


def test_a_when_on_an_item_field_no_argument_passes_reads_the_item(tmp_path: Path) -> None:
    """Argo's parameter-aggregation: `when: "{{item.evenness}} == even"` where only
    `{{item.num}}` is passed on; each instance keeps its item for its guard."""
    run = load_pipeline_text(ITEM_FIELD, "wf.yaml")
    task = run.pipeline.tasks[0]
    assert [(w.input, w.operator, w.values) for w in task.item_when] == [
        ("$(item.keep)", "in", ["yes"])
    ]
    result = asyncio.run(run_pipeline(run, tmp_path / "out", parallel=2))
    statuses = {name: t.status for name, t in result.tasks.items()}
    assert statuses == {"each": "Succeeded", "each[0]": "Succeeded", "each[1]": "Skipped"}
    text = emit(run, "argo")
    assert 'when: \'"{{item.keep}}" == "yes"\'' in text
    back = load_pipeline_text(text, "back.yaml").pipeline.tasks[0]
    assert back.item_when == [replace(w, source=back.item_when[0].source) for w in task.item_when]
