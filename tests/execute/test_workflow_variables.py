"""Argo's workflow variables seen by an exit handler, run locally and carried by the emitters."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import pytest

from foredeck.execute.local import run_pipeline
from foredeck.pipeline.emit import emit, manifest
from foredeck.pipeline.exprlang.values import go_json, go_quote
from foredeck.pipeline.load import load_pipeline_text, load_run
from foredeck.types import PipelineError
from tests.execute.helpers import task_log
from tests.pipeline.test_emit import argo_validator, schema_errors

DATA = Path(__file__).resolve().parents[1] / "data" / "argo-nested"

pytestmark = pytest.mark.timeout(60)


def test_an_exit_handler_sees_the_workflow_variables(tmp_path: Path) -> None:
    spec = load_run([DATA / "exit-variables.yaml"])
    spec.name = "exit-run"
    before = time.time()
    result = asyncio.run(run_pipeline(spec, tmp_path / "out", parallel=2))
    assert result.status == "Failed"
    assert result.tasks["report"].status == "Succeeded"
    report = result.tasks["report"].results["report"]
    assert isinstance(report, str)
    lines = dict(line.split("=", 1) for line in report.splitlines())
    assert lines["name"] == "exit-run"
    assert lines["status"] == "Failed"
    assert lines["who"] == "tester"
    assert 0.0 <= float(lines["duration"]) <= time.time() - before + 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", lines["created"])
    assert lines["year"] == lines["created"][:4]
    # Argo's text: the JSON list, strconv.Quote'd (operator.go), so a script's
    # `json.loads({{workflow.failures}})` reads it
    assert lines["failures"].startswith('"[{\\"displayName\\":\\"fail\\",')
    failures = json.loads(json.loads(lines["failures"]))
    assert [(f["displayName"], f["phase"], f["templateName"]) for f in failures] == [
        ("fail", "Failed", "fail")
    ]
    assert "exited with code 3" in failures[0]["message"]
    assert failures[0]["finishedAt"].endswith("Z")


def test_workflow_variables_round_trip_through_argo_and_not_tekton() -> None:
    spec = load_run([DATA / "exit-variables.yaml"])
    doc = manifest(spec, "argo")
    assert schema_errors(argo_validator(), doc) == []
    text = emit(spec, "argo")
    for tag in ("workflow.duration", "workflow.failures", "workflow.creationTimestamp.Y"):
        assert "{{" + tag + "}}" in text
    assert emit(load_pipeline_text(text, "back.yaml"), "argo") == text
    with pytest.raises(PipelineError, match=r"\(Argo.s workflow\.duration\) has no Tekton equal"):
        emit(spec, "tekton")


HOOKED = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: wf-hook}
spec:
  entrypoint: main
  arguments: {parameters: [{name: who, value: me}]}
  hooks:
    exit:
      template: report
      arguments:
        parameters:
          - {name: status, value: "{{workflow.status}}"}
          - {name: who, value: "{{workflow.parameters.who}}"}
  templates:
    - name: main
      container: {image: alpine, command: [sh, -c, "exit 0"]}
    - name: report
      inputs: {parameters: [{name: status}, {name: who}]}
      container:
        image: alpine
        command: [sh, -c, "echo '{{inputs.parameters.who}}: {{inputs.parameters.status}}'"]
"""


def test_a_workflow_exit_hook_gets_its_arguments(tmp_path: Path) -> None:
    spec = load_pipeline_text(HOOKED, "wf.yaml")
    [handler] = spec.pipeline.finally_tasks
    assert handler.params == {"status": "$(tasks.status)", "who": "$(params.who)"}
    result = asyncio.run(run_pipeline(spec, tmp_path / "out", parallel=2))
    assert (result.status, result.tasks["report"].status) == ("Succeeded", "Succeeded")
    assert "me: Succeeded" in task_log(tmp_path / "out", "report")


RUNNING = """\
    running:
      expression: workflow.status == "Running"
      template: report
      arguments:
        parameters: [{name: status, value: Running}, {name: who, value: "{{workflow.name}}"}]
    exit:
"""


def test_a_workflow_running_hook_runs_beside_the_exit_hook(tmp_path: Path) -> None:
    spec = load_pipeline_text(HOOKED.replace("    exit:\n", RUNNING), "wf.yaml")
    spec.name = "hooked-run"
    result = asyncio.run(run_pipeline(spec, tmp_path / "out", parallel=2))
    assert result.status == "Succeeded"
    assert result.tasks["hooks-running"].status == "Succeeded"
    assert "hooked-run: Running" in task_log(tmp_path / "out", "hooks-running")
    assert "me: Succeeded" in task_log(tmp_path / "out", "report")


UID = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: uid}
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - {name: a, template: show}
          - {name: b, template: show}
    - name: show
      container:
        image: alpine
        command: [sh, -c, "printf '%s' '{{workflow.uid}}' > $ARTIFACTS/uid"]
"""


def test_workflow_uid_is_one_uuid_for_the_whole_run(tmp_path: Path) -> None:
    spec = load_pipeline_text(UID, "wf.yaml")
    result = asyncio.run(run_pipeline(spec, tmp_path / "out", parallel=2))
    assert result.status == "Succeeded"
    uids = {(tmp_path / "out" / str(result.tasks[t].artifacts) / "uid").read_text() for t in "ab"}
    assert len(uids) == 1
    assert re.fullmatch(r"[0-9a-f-]{36}", uids.pop())


def test_go_forms_of_json_and_quotes_are_argos() -> None:
    assert go_quote(go_json(None)) == '"null"'  # no failures: Go marshals a nil list
    assert go_json([{"m": "a<b & c>d\u2028é"}]) == '[{"m":"a\\u003cb \\u0026 c\\u003ed\\u2028é"}]'
    assert go_quote('say "hi"\\n\té\x01\x7f\u00a0') == '"say \\"hi\\"\\\\n\\té\\x01\\x7f\\u00a0"'
