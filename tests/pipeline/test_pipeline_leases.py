"""A pipeline's own leases: the `foredeck.dev/leases` annotation of a Tekton Pipeline, an inline
PipelineRun or an Argo Workflow, parsed with the annotation's `file:line` for errors."""

from __future__ import annotations

import textwrap

import pytest

from foredeck.pipeline.load import load_pipeline_text
from foredeck.pipeline.model import LeaseNeed
from foredeck.types import PipelineError

TEKTON = """\
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: e2e
  annotations:
    foredeck.dev/leases: '{value}'
spec:
  tasks:
  - name: t
    taskSpec:
      steps: [{{name: s, image: busybox, script: "true"}}]
"""

ARGO = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: e2e-
  annotations:
    other: kept
    foredeck.dev/leases: |
      - type: eks-cluster
        ttl: 600
spec:
  entrypoint: main
  templates:
  - name: main
    container: {image: busybox, command: ["true"]}
"""

INLINE_RUN = """\
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: run
  annotations: {"foredeck.dev/leases": '[{"type": "test-db"}]'}
spec:
  pipelineSpec:
    tasks:
    - name: t
      taskSpec:
        steps: [{name: s, image: busybox, script: "true"}]
"""


def leases_of(text: str) -> list[LeaseNeed]:
    return load_pipeline_text(text, "p.yaml").pipeline.leases


def test_a_tekton_pipeline_declares_leases_in_json() -> None:
    value = '[{"type": "test-db"}, {"type": "slot", "count": 2, "ttl": 90}]'
    [db, slot] = leases_of(TEKTON.format(value=value))

    assert (db.type, db.count, db.ttl) == ("test-db", 1, None)
    assert (slot.type, slot.count, slot.ttl) == ("slot", 2, 90.0)
    assert (db.source.file, db.source.line) == ("p.yaml", 6)  # the annotation's line


def test_an_argo_workflow_and_an_inline_pipeline_run_declare_leases_in_yaml() -> None:
    [cluster] = leases_of(ARGO)
    assert (cluster.type, cluster.count, cluster.ttl) == ("eks-cluster", 1, 600.0)
    assert [n.type for n in leases_of(INLINE_RUN)] == ["test-db"]


def test_a_pipeline_without_the_annotation_leases_nothing() -> None:
    assert leases_of(ARGO.replace("foredeck.dev/leases", "something-else")) == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('{"type": "x"}', "expected a list of {type, count, ttl}"),
        ('["x"]', "[0]: expected a mapping"),
        ('[{"type": "x", "cont": 2}]', "[0]: unknown field 'cont'"),
        ('[{"count": 2}]', "[0]: `type` must be a non-empty string"),
        ('[{"type": "x", "count": 0}]', "`count` must be an integer from 1 to 20"),
        ('[{"type": "x", "count": true}]', "`count` must be an integer from 1 to 20"),
        ('[{"type": "x", "ttl": -1}]', "`ttl` must be a positive number"),
        ('[{"type": "x"', "not JSON or YAML"),
        ("[" + "{}, " * 2000 + "]", "longer than 4096 characters"),
    ],
)
def test_a_malformed_annotation_is_an_error_at_its_line(value: str, message: str) -> None:
    with pytest.raises(PipelineError) as caught:
        leases_of(TEKTON.format(value=value))
    assert message in caught.value.message
    assert "foredeck.dev/leases" in caught.value.message
    assert caught.value.source.line == 6


def test_an_annotation_that_is_not_a_string_is_an_error() -> None:
    text = textwrap.dedent(TEKTON.format(value="x")).replace("'x'", "[{type: x}]")
    with pytest.raises(PipelineError, match="expected a JSON or YAML list in a string"):
        leases_of(text)
