"""`{{workflow.labels}}` / `{{workflow.annotations}}` (and their `.json` forms): the Workflow's
labels or annotations as Argo's controller gives them, JSON of the object's map at the reconcile
that creates the node. The first reconcile (nodes ready at the start) sees the document's own;
later nodes also see what the controller added by then (`argo/metadata.py`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from foredeck.execute.local import run_pipeline
from foredeck.pipeline.argo.metadata import go_json
from foredeck.pipeline.emit_argo import emit_argo
from foredeck.pipeline.load import load_pipeline_text
from foredeck.types import PipelineError
from tests.pipeline.test_emit import argo_validator, schema_errors

pytestmark = pytest.mark.timeout(60)

WORKFLOW = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: meta-
  labels: {tier: web, app: demo}
  annotations: {note: "<x> & y"}
spec:
  entrypoint: main
  onExit: bye
  workflowMetadata:
    labels: {team: blue}
  templates:
    - name: main
      steps:
        - - name: first
            template: show
            arguments: {parameters: [{name: arg, value: "{{workflow.labels.json}}"}]}
        - - name: second
            template: show
            arguments: {parameters: [{name: arg, value: "{{workflow.labels}}"}]}
    - name: bye
      steps: [[{name: last, template: show, arguments: {parameters: [{name: arg, value: x}]}}]]
    - name: show
      inputs: {parameters: [{name: arg}]}
      script:
        image: alpine
        command: [sh]
        source: |
          printf '%s' '{{inputs.parameters.arg}}' > "$ARTIFACTS/arg"
          printf '%s' '{{workflow.labels.json}}' > "$ARTIFACTS/labels"
          printf '%s' '{{workflow.annotations}}' > "$ARTIFACTS/annotations"
          printf '%s' '{{workflow.labels.team}}' > "$ARTIFACTS/team"
"""

# What Argo's json.Marshal gives: keys sorted, no spaces, `<`, `>` and `&` escaped.
START_LABELS = '{"app":"demo","tier":"web"}'
LATER_LABELS = (
    '{"app":"demo","team":"blue","tier":"web",'
    '"workflows.argoproj.io/completed":"false","workflows.argoproj.io/phase":"Running"}'
)
START_NOTES = '{"note":"\\u003cx\\u003e \\u0026 y"}'
LATER_NOTES = '{"note":"\\u003cx\\u003e \\u0026 y","workflows.argoproj.io/pod-name-format":"v2"}'


def _seen(out: Path, artifacts: str | None, name: str) -> str:
    return (out / str(artifacts) / name).read_text()


def test_the_first_nodes_see_the_documents_own_and_later_ones_the_controllers_too(
    tmp_path: Path,
) -> None:
    spec = load_pipeline_text(WORKFLOW, "wf.yaml")
    result = asyncio.run(run_pipeline(spec, tmp_path / "out", parallel=2))
    assert result.status == "Succeeded"
    seen = {
        task: {
            name: _seen(tmp_path / "out", result.tasks[task].artifacts, name)
            for name in ("arg", "labels", "annotations", "team")
        }
        for task in ("first", "second", "last")
    }
    assert seen["first"] == {
        "arg": START_LABELS,
        "labels": START_LABELS,
        "annotations": START_NOTES,
        "team": "blue",  # a workflowMetadata label is a variable from the start
    }
    later = {"arg": LATER_LABELS, "labels": LATER_LABELS, "annotations": LATER_NOTES}
    assert seen["second"] == {**later, "team": "blue"}
    assert seen["last"] == {**later, "arg": "x", "team": "blue"}  # the exit handler: later


def test_a_workflow_without_labels_starts_with_null() -> None:
    text = WORKFLOW.replace("  labels: {tier: web, app: demo}\n", "")
    spec = load_pipeline_text(text, "wf.yaml")
    first, second = spec.pipeline.tasks
    assert first.params["arg"] == "null"  # a nil map, as Kubernetes keeps no empty one
    assert second.params["arg"] == LATER_LABELS.replace('"app":"demo",', "").replace(
        '"tier":"web",', ""
    )


def test_a_label_from_an_expression_is_not_known_before_argo_evaluates_it() -> None:
    text = WORKFLOW.replace(
        "    labels: {team: blue}\n",
        "    labels: {team: blue}\n    labelsFrom: {team: {expression: workflow.name}}\n",
    )
    with pytest.raises(PipelineError, match=r"wf\.yaml:\d+: .*workflow\.labels\.team"):
        load_pipeline_text(text, "wf.yaml")


def test_a_value_that_is_not_text_is_refused_with_the_reason() -> None:
    text = WORKFLOW.replace("tier: web", "tier: 5")
    with pytest.raises(PipelineError, match=r"wf\.yaml:\d+: .*one of its values is not plain"):
        load_pipeline_text(text, "wf.yaml")


def test_go_json_is_what_json_marshal_writes() -> None:
    assert go_json({}) == "null"
    assert go_json({"b": "1", "a": "é\u2028"}) == '{"a":"é\\u2028","b":"1"}'
    assert go_json({"k": 'say "<hi>"'}) == '{"k":"say \\"\\u003chi\\u003e\\""}'


def test_they_emit_to_argo_as_the_values_the_run_saw() -> None:
    emitted = emit_argo(load_pipeline_text(WORKFLOW, "wf.yaml"))
    assert schema_errors(argo_validator(), emitted) == []
    main = emitted["spec"]["templates"][0]
    values = [t["arguments"]["parameters"] for t in main["dag"]["tasks"]]
    args = [next(p["value"] for p in params if p["name"] == "arg") for params in values]
    assert args == [START_LABELS, LATER_LABELS]
    assert emit_argo(load_pipeline_text(yaml.safe_dump(emitted), "back.yaml")) == emitted
