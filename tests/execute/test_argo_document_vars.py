"""Workflow variables the Workflow document fixes (priority, labels, annotations, ...) and
`{{workflow.status}}` outside the exit handler ("Running"), run on the host and emitted back."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import yaml

from foredeck.execute.local import run_pipeline
from foredeck.pipeline.emit_argo import emit_argo
from foredeck.pipeline.load import load_pipeline_text
from foredeck.types import PipelineError
from tests.execute.helpers import task_log
from tests.pipeline.test_emit import argo_validator, schema_errors

WORKFLOW = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: vars-
  labels: {app: demo}
  annotations:
    example.io/owner: team
    workflows.argoproj.io/scheduled-time: "2026-04-29T00:00:00Z"
spec:
  entrypoint: main
  priority: 5
  serviceAccountName: runner
  templates:
    - name: main
      steps:
        - - name: show
            template: show
            arguments: {parameters: [{name: st, value: "{{workflow.status}}"}]}
    - name: show
      inputs: {parameters: [{name: st}]}
      container:
        image: busybox
        command:
          - echo
          - "{{inputs.parameters.st}} {{workflow.status}} {{workflow.mainEntrypoint}}"
          - "{{workflow.priority}} {{workflow.serviceAccountName}} {{workflow.labels.app}}"
          - "{{workflow.annotations.example.io/owner}} {{workflow.scheduledTime}}"
          - "{{workflow.creationTimestamp.s}}"
"""


@pytest.mark.timeout(60)
def test_document_values_and_the_running_status_reach_the_step(tmp_path: Path) -> None:
    spec = load_pipeline_text(WORKFLOW, "wf.yaml")
    before = int(time.time())
    result = asyncio.run(run_pipeline(spec, tmp_path / "out", parallel=2))
    assert result.status == "Succeeded"
    log = task_log(tmp_path / "out", "show")
    line = next(line for line in log.splitlines() if "Running Running" in line)
    words = line[line.index("Running Running") :].split()
    expected = "Running Running main 5 runner demo team 2026-04-29T00:00:00Z"
    assert words[:8] == expected.split()
    assert before - 1 <= int(words[8]) <= int(time.time()) + 1  # creationTimestamp.s


def test_they_emit_back_as_valid_argo_with_argo_param_names() -> None:
    emitted = emit_argo(load_pipeline_text(WORKFLOW, "wf.yaml"))
    assert schema_errors(argo_validator(), emitted) == []
    show = next(t for t in emitted["spec"]["templates"] if t["name"] == "show")
    names = [p["name"] for p in show["inputs"]["parameters"]]
    assert "workflow-annotations-example-io-owner" in names
    assert emit_argo(load_pipeline_text(yaml.safe_dump(emitted), "back.yaml")) == emitted


@pytest.mark.parametrize("tag", ["workflow.priority", "workflow.labels.nope"])
def test_values_the_document_does_not_fix_are_refused(tag: str) -> None:
    text = WORKFLOW.replace("  priority: 5\n", "").replace(
        "{{workflow.mainEntrypoint}}", "{{" + tag + "}}"
    )
    with pytest.raises(PipelineError, match=r"wf\.yaml:\d+: .*" + tag.replace(".", r"\.")):
        load_pipeline_text(text, "wf.yaml")


@pytest.mark.timeout(60)
def test_an_unset_service_account_is_empty_as_argo_sets_it(tmp_path: Path) -> None:
    text = WORKFLOW.replace("  serviceAccountName: runner\n", "")
    spec = load_pipeline_text(text, "wf.yaml")
    result = asyncio.run(run_pipeline(spec, tmp_path / "out"))
    assert result.status == "Succeeded"
    log = task_log(tmp_path / "out", "show")
    assert " main 5  demo team " in log  # priority, an empty account, the label


EXIT_STATUS = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: ends-}
spec:
  entrypoint: main
  onExit: bye
  templates:
    - name: main
      container: {image: busybox, command: [sh, -c, "exit 3"]}
    - name: bye
      steps: [[{name: tell, template: tell}]]
    - name: tell
      script:
        image: alpine
        command: [sh]
        source: printf '%s' '{{workflow.status}}' > "$ARTIFACTS/status"
"""


@pytest.mark.timeout(60)
def test_a_step_of_the_exit_handler_reads_the_final_status_in_its_body(tmp_path: Path) -> None:
    result = asyncio.run(
        run_pipeline(load_pipeline_text(EXIT_STATUS, "wf.yaml"), tmp_path / "out", parallel=2)
    )
    assert result.status == "Failed"
    seen = tmp_path / "out" / str(result.tasks["tell"].artifacts) / "status"
    assert seen.read_text() == "Failed"  # not "Running": the workflow has ended
