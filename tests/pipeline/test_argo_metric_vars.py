"""`{{resourcesDuration.cpu}}` / `.memory` (Argo's estimate of a node's use, in seconds) exist
only while Argo emits a template's metrics: the metrics are kept as written for a cluster, and
the variable anywhere else is refused as Argo's validation refuses it."""

from __future__ import annotations

import pytest
import yaml

from foredeck.pipeline.emit_argo import emit_argo
from foredeck.pipeline.load import load_pipeline_text
from foredeck.types import PipelineError
from tests.pipeline.test_emit import argo_validator, schema_errors

METRICS = {
    "prometheus": [
        {
            "name": "used",
            "help": "What the node used.",
            "labels": [{"key": "cpu", "value": "{{resourcesDuration.cpu}}"}],
            "gauge": {"realtime": False, "value": "{{resourcesDuration.memory}}"},
        }
    ]
}

WORKFLOW = f"""\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {{generateName: metric-}}
spec:
  entrypoint: work
  templates:
    - name: work
      metrics: {yaml.safe_dump(METRICS, default_flow_style=True, width=1000).strip()}
      container: {{image: busybox, command: [echo, BODY]}}
"""


def test_metrics_keep_the_variable_as_written_for_the_cluster() -> None:
    emitted = emit_argo(load_pipeline_text(WORKFLOW.replace("BODY", "hi"), "wf.yaml"))
    assert schema_errors(argo_validator(), emitted) == []
    work = next(t for t in emitted["spec"]["templates"] if t["name"] == "work")
    assert work["metrics"] == METRICS
    assert emit_argo(load_pipeline_text(yaml.safe_dump(emitted), "back.yaml")) == emitted


def test_the_variable_outside_metrics_is_refused_with_why() -> None:
    text = WORKFLOW.replace("BODY", "'{{resourcesDuration.cpu}}'")
    with pytest.raises(PipelineError, match=r"wf\.yaml:\d+: .*only a template's `metrics`"):
        load_pipeline_text(text, "wf.yaml")
