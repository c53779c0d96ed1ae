"""`{{steps.X.startedAt}}`, `.finishedAt` (RFC 3339, as Argo writes node times) and
`.hostNodeName` (the host a node ran on: this one) of a step that ran before."""

from __future__ import annotations

import asyncio
import socket
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from foredeck.execute.local import run_pipeline
from foredeck.pipeline.emit_argo import emit_argo
from foredeck.pipeline.load import load_pipeline_text
from foredeck.types import PipelineError
from tests.pipeline.test_emit import argo_validator, schema_errors

WORKFLOW = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: facts-}
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - {name: a, template: nap}
        - - name: b
            template: keep
            arguments:
              parameters:
                - {name: facts, value: "{{steps.a.startedAt}} {{steps.a.finishedAt}} HOST"}
    - name: nap
      container: {image: busybox, command: [sleep, "1"]}
    - name: keep
      inputs: {parameters: [{name: facts}]}
      outputs: {parameters: [{name: facts, valueFrom: {path: /tmp/facts}}]}
      container:
        image: busybox
        command: [sh, -c, "printf '%s' '{{inputs.parameters.facts}}' > /tmp/facts"]
"""


@pytest.mark.timeout(60)
def test_a_later_step_reads_when_and_where_a_step_ran(tmp_path: Path) -> None:
    text = WORKFLOW.replace("HOST", "{{steps.a.hostNodeName}}")
    result = asyncio.run(run_pipeline(load_pipeline_text(text, "wf.yaml"), tmp_path / "out"))
    assert result.status == "Succeeded"
    started, finished, host = str(result.tasks["b"].results["facts"]).split(" ")
    begin, end = (datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ") for t in (started, finished))
    assert begin <= end
    assert host == socket.gethostname()


def test_node_facts_are_emitted_back() -> None:
    emitted = emit_argo(load_pipeline_text(WORKFLOW.replace("HOST", "x"), "wf.yaml"))
    assert schema_errors(argo_validator(), emitted) == []
    b = emitted["spec"]["templates"][0]["dag"]["tasks"][1]
    value = b["arguments"]["parameters"][0]["value"]
    assert value == "{{tasks.a.startedAt}} {{tasks.a.finishedAt}} x"
    assert emit_argo(load_pipeline_text(yaml.safe_dump(emitted), "back.yaml")) == emitted


def test_only_a_daemon_has_an_ip_and_a_later_step_cannot_be_read() -> None:
    with pytest.raises(PipelineError, match="only a daemon DAG task has an ip"):
        load_pipeline_text(WORKFLOW.replace("HOST", "{{steps.a.ip}}"), "wf.yaml")
    early = WORKFLOW.replace("{{steps.a.startedAt}}", "{{steps.b.startedAt}}")
    with pytest.raises(PipelineError, match="'b' has not run yet"):
        load_pipeline_text(early.replace("HOST", ""), "wf.yaml")
