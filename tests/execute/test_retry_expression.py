"""`retryStrategy.expression`: a failed attempt is retried only while the expression over
`lastRetry.*` holds (Argo's conditional retries); checked at load, emitted back to Argo."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from foredeck.execute.local import run_pipeline
from foredeck.execute.retry import last_retry, retry_delay
from foredeck.pipeline.emit_argo import emit_argo
from foredeck.pipeline.emit_tekton import emit_tekton
from foredeck.pipeline.load import load_pipeline_text
from foredeck.pipeline.model import RetryStrategy
from foredeck.types import PipelineError
from tests.pipeline.test_emit import argo_validator, schema_errors

WORKFLOW = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: retry-expr-}
spec:
  entrypoint: main
  volumeClaimTemplates:
    - metadata: {name: work}
      spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Mi}}}
  templates:
    - name: main
      steps:
        - - name: flaky
            template: flaky
    - name: flaky
      retryStrategy:
        limit: "5"
        expression: EXPR
      script:
        image: busybox
        command: [sh]
        volumeMounts: [{name: work, mountPath: /work}]
        source: |
          n=$(cat /work/n 2>/dev/null || echo 0); n=$((n + 1)); echo $n > /work/n
          exit $((n + 1))
"""


def run(expression: str, tmp_path: Path) -> int:
    spec = load_pipeline_text(WORKFLOW.replace("EXPR", expression), "wf.yaml")
    result = asyncio.run(run_pipeline(spec, tmp_path / "out", parallel=2))
    assert result.status == "Failed"
    return result.tasks["flaky"].attempts


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("expression", "attempts"),
    [
        ("'asInt(lastRetry.exitCode) < 4'", 3),  # exits 2, 3, then 4: no retry after 4
        ("'lastRetry.status == \"Failed\"'", 6),  # always true: the limit stops it
        ("'lastRetry.message matches \"never\"'", 1),
    ],
)
def test_a_retry_happens_only_while_the_expression_holds(
    expression: str, attempts: int, tmp_path: Path
) -> None:
    assert run(expression, tmp_path) == attempts


def test_last_retry_is_what_argo_gives() -> None:
    assert last_retry("Failed", 3, 1.5, "boom") == {
        "exitCode": "3",
        "status": "Failed",
        "duration": "1.5",
        "message": "boom",
    }
    assert last_retry("Failed", None, 0.0, "could not start")["status"] == "Error"
    assert last_retry("Failed", None, 0.0, "x")["exitCode"] == "-1"
    strategy = RetryStrategy(expression="asInt(lastRetry.exitCode) > 1")
    assert retry_delay(strategy, 1, "", 0.0, last_retry("Failed", 2, 0.1, "")) == 0.0
    assert retry_delay(strategy, 1, "", 0.0, last_retry("Failed", 1, 0.1, "")) is None
    bad = RetryStrategy(expression="asInt(lastRetry.message) > 1")  # an error counts as false
    assert retry_delay(bad, 1, "", 0.0, last_retry("Failed", 2, 0.1, "text")) is None


@pytest.mark.parametrize(
    ("expression", "why"),
    [
        ("'nope(lastRetry.exitCode)'", "unknown function nope"),
        ("'other.x == 1'", "unknown variable 'other'"),
        ("'{{inputs.parameters.x}} == true'", "tags inside it"),
    ],
)
def test_bad_retry_expressions_are_load_errors(expression: str, why: str) -> None:
    with pytest.raises(PipelineError, match=r"wf\.yaml:\d+: .*" + why):
        load_pipeline_text(WORKFLOW.replace("EXPR", expression), "wf.yaml")


def test_the_expression_is_emitted_back_and_tekton_refuses_it() -> None:
    spec = load_pipeline_text(WORKFLOW.replace("EXPR", "'asInt(lastRetry.exitCode) < 4'"), "w")
    emitted = emit_argo(spec)
    assert schema_errors(argo_validator(), emitted) == []
    flaky = next(t for t in emitted["spec"]["templates"] if t["name"] == "flaky")
    assert flaky["retryStrategy"]["expression"] == "asInt(lastRetry.exitCode) < 4"
    assert emit_argo(load_pipeline_text(yaml.safe_dump(emitted), "back.yaml")) == emitted
    with pytest.raises(PipelineError, match=r"retryStrategy\.expression"):
        emit_tekton(spec)
