"""Argo `retryStrategy` beyond `limit`: retryPolicy, backoff (duration, factor, cap,
maxDuration), run by the local executor and carried by the emitters. Durations are tiny and
only lower bounds are asserted (a busy machine makes things slower, never faster)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from foredeck.execute.local import run_pipeline
from foredeck.execute.retry import retry_delay
from foredeck.execute.runstate import RunResult
from foredeck.pipeline.emit import emit, manifest
from foredeck.pipeline.load import load_pipeline_text
from foredeck.pipeline.model import PipelineRunSpec, RetryStrategy
from foredeck.types import PipelineError
from tests.pipeline.test_emit import argo_validator, schema_errors

pytestmark = pytest.mark.timeout(120)

WF = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {{name: retry}}
spec:
  entrypoint: flaky
  templates:
    - name: flaky
      retryStrategy:
{strategy}
      container:
        image: alpine
        command: {command}
"""
PASSES_THIRD = '[sh, -c, "[ {{retries}} -ge 2 ]"]'


def load(strategy: str, command: str = PASSES_THIRD) -> PipelineRunSpec:
    indented = "\n".join("        " + line for line in strategy.splitlines())
    return load_pipeline_text(WF.format(strategy=indented, command=command), "wf.yaml")


def run(spec: PipelineRunSpec, tmp_path: Path) -> RunResult:
    return asyncio.run(run_pipeline(spec, tmp_path / "out", parallel=2))


def test_backoff_waits_longer_before_each_retry(tmp_path: Path) -> None:
    spec = load('limit: "3"\nbackoff: {duration: "0.2s", factor: "2"}')
    assert spec.pipeline.tasks[0].retry == RetryStrategy("OnFailure", 0.2, 2.0, None, None)
    result = run(spec, tmp_path)
    task = result.tasks["flaky"]
    assert (result.status, task.attempts) == ("Succeeded", 3)
    assert task.duration is not None and task.duration >= 0.2 + 0.4


def test_max_duration_stops_retrying(tmp_path: Path) -> None:
    spec = load('limit: "3"\nbackoff: {duration: "1", maxDuration: "0.5s"}')
    result = run(spec, tmp_path)
    assert (result.status, result.tasks["flaky"].attempts) == ("Failed", 1)


def test_on_error_does_not_retry_a_step_that_failed(tmp_path: Path) -> None:
    result = run(load('limit: "2"\nretryPolicy: OnError'), tmp_path)
    assert (result.status, result.tasks["flaky"].attempts) == ("Failed", 1)


def test_on_error_retries_a_step_that_could_not_start(tmp_path: Path) -> None:
    spec = load('limit: "2"\nretryPolicy: OnError', command="[/nonexistent/foredeck-cmd]")
    result = run(spec, tmp_path)
    task = result.tasks["flaky"]
    assert (result.status, task.attempts) == ("Failed", 3)
    assert "could not start" in task.reason


def test_retry_delays_follow_factor_cap_and_max_duration() -> None:
    strategy = RetryStrategy("Always", backoff=1.0, factor=3.0, max_duration=20.0, cap=5.0)
    assert [retry_delay(strategy, n, "", 0.0) for n in (1, 2, 3)] == [1.0, 3.0, 5.0]
    assert retry_delay(strategy, 1, "", 19.5) is None
    assert retry_delay(None, 4, "", 1e9) == 0.0


@pytest.mark.parametrize(
    ("strategy", "message"),
    [
        ('limit: "1"\nexpression: "lastRetry.code == ("', "unexpected"),
        ('limit: "1"\nretryPolicy: Sometimes', "retryPolicy: one of Always"),
        ('limit: "1"\nbackoff: {factor: "x"}', "factor: not a number"),
        ('limit: "1"\nbackoff: {duration: "soon"}', "invalid duration"),
    ],
)
def test_bad_retry_strategies_are_load_errors_naming_the_line(strategy: str, message: str) -> None:
    with pytest.raises(PipelineError, match=message) as err:
        load(strategy)
    assert str(err.value).startswith("wf.yaml:")


def test_emitters_carry_the_strategy_or_say_why_not() -> None:
    spec = load('limit: "3"\nretryPolicy: Always\nbackoff: {duration: "2", factor: "2", cap: "1m"}')
    doc = manifest(spec, "argo")
    assert schema_errors(argo_validator(), doc) == []
    template = next(t for t in doc["spec"]["templates"] if "container" in t)
    assert template["retryStrategy"] == {
        "limit": "3",
        "retryPolicy": "Always",
        "backoff": {"duration": "2s", "cap": "60s", "factor": "2"},
    }
    back = load_pipeline_text(emit(spec, "argo"), "back.yaml")
    assert back.pipeline.tasks[0].retry == spec.pipeline.tasks[0].retry
    with pytest.raises(PipelineError, match="a retry backoff: Tekton retries at once"):
        emit(spec, "tekton")
    with pytest.raises(PipelineError, match="retryPolicy OnError: Tekton"):
        emit(load('limit: "1"\nretryPolicy: OnError'), "tekton")
