"""`activeDeadlineSeconds` on dag/steps templates: the entrypoint's bounds the DAG (Tekton's
`timeouts.tasks`), a called template's bounds that call (a sub-graph with a timeout)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from foredeck.execute.local import run_pipeline
from foredeck.pipeline.emit import emit, manifest
from foredeck.pipeline.load import load_pipeline_text
from tests.pipeline.test_emit import argo_validator, schema_errors

pytestmark = pytest.mark.timeout(60)

WF = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: deadlines}
spec:
  entrypoint: main
  templates:
    - name: main
      activeDeadlineSeconds: 120
      steps:
        - - {name: quick, template: echo}
        - - {name: slow, template: bounded}
    - name: bounded
      activeDeadlineSeconds: 1
      steps:
        - - {name: nap, template: sleep}
    - name: echo
      container: {image: alpine, command: [echo, hi]}
    - name: sleep
      container: {image: alpine, command: [sleep, "30"]}
"""


def test_a_called_templates_deadline_times_out_that_call(tmp_path: Path) -> None:
    spec = load_pipeline_text(WF, "wf.yaml")
    p = spec.pipeline
    assert p.tasks_timeout == 120.0
    slow = next(t for t in p.tasks if t.name == "slow")
    assert (slow.graph_ref, slow.timeout) == ("bounded", 1.0)
    started = time.monotonic()
    result = asyncio.run(run_pipeline(spec, tmp_path / "out", parallel=2))
    assert time.monotonic() - started < 25  # the 30 s sleep was stopped
    assert result.status == "Failed"  # the run's own deadlines did not expire
    assert result.tasks["slow"].status == "TimedOut"
    assert "sub-graph deadline expired" in result.tasks["slow"].reason
    assert result.tasks["slow.nap"].status == "TimedOut"


def test_template_deadlines_round_trip_through_argo() -> None:
    spec = load_pipeline_text(WF, "wf.yaml")
    doc = manifest(spec, "argo")
    assert schema_errors(argo_validator(), doc) == []
    templates = {t["name"]: t for t in doc["spec"]["templates"]}
    assert templates["main"]["activeDeadlineSeconds"] == "120"
    assert templates["bounded"]["activeDeadlineSeconds"] == "1"
    back = load_pipeline_text(emit(spec, "argo"), "back.yaml")
    assert back.pipeline.tasks_timeout == 120.0
    assert next(t for t in back.pipeline.tasks if t.name == "slow").timeout == 1.0
