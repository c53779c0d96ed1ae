"""Argo template `synchronization` within one run: a mutex lets one holder run at a time, a
semaphore as many as its ConfigMap says; a missing ConfigMap fails the task clearly."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from foredeck.execute.local import run_pipeline
from foredeck.execute.runstate import RunResult
from foredeck.pipeline.emit_argo import emit_argo
from foredeck.pipeline.load import load_pipeline_text
from tests.execute.test_argo_parallelism import most_at_once
from tests.pipeline.test_emit import argo_validator, schema_errors

pytestmark = pytest.mark.timeout(60)

WORKFLOW = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: limits}
data: {work: "2"}
---
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: sync-}
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - {name: locked, template: locked, withSequence: {count: "3"}}
          - {name: counted, template: counted, withSequence: {count: "4"}}
    - name: locked
      synchronization:
        mutexes: [{name: one}]
      container: {image: busybox, command: [sleep, "0.2"]}
    - name: counted
      synchronization:
        semaphores: [{configMapKeyRef: {name: limits, key: KEY}}]
      container: {image: busybox, command: [sleep, "0.2"]}
"""


def run(text: str, tmp_path: Path) -> RunResult:
    spec = load_pipeline_text(text, "wf.yaml")
    return asyncio.run(run_pipeline(spec, tmp_path / "out", parallel=8))


def test_a_mutex_and_a_semaphore_bound_their_holders(tmp_path: Path) -> None:
    result = run(WORKFLOW.replace("KEY", "work"), tmp_path)
    assert result.status == "Succeeded"
    assert most_at_once(result, [f"locked[{i}]" for i in range(3)]) == 1
    assert most_at_once(result, [f"counted[{i}]" for i in range(4)]) <= 2


def test_a_semaphore_without_its_configmap_fails_the_task(tmp_path: Path) -> None:
    result = run(WORKFLOW.replace("KEY", "nope"), tmp_path)
    assert result.status == "Failed"
    reason = result.tasks["counted[0]"].reason
    assert "ConfigMap 'limits' key 'nope' gives no positive limit" in reason
    assert result.tasks["locked"].status == "Succeeded"


def test_synchronization_is_emitted_back_as_written() -> None:
    emitted = emit_argo(load_pipeline_text(WORKFLOW.replace("KEY", "work"), "wf.yaml"))
    assert schema_errors(argo_validator(), emitted) == []
    locked = next(t for t in emitted["spec"]["templates"] if t["name"] == "locked")
    assert locked["synchronization"] == {"mutexes": [{"name": "one"}]}
    again = emit_argo(load_pipeline_text(yaml.safe_dump(emitted), "back.yaml"))
    assert again == emitted
