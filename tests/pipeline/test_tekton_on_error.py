"""A Tekton pipeline task's `onError: continue`: its failure is ignored (TEP-0050).

The run succeeds, tasks that run after it still run, tasks that consume a result it did not
write are skipped, finally tasks read `Failed` / `FailureIgnored` (and `$(tasks.status)` is
`Failed`, as Tekton counts every TaskRun whose condition is false); emitted as Tekton
`onError` and as Argo `continueOn`.
"""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest
import yaml

from foredeck.execute.local import run_pipeline
from foredeck.pipeline.emit_argo import emit_argo
from foredeck.pipeline.emit_tekton import emit_tekton
from foredeck.pipeline.load import load_pipeline_text
from foredeck.pipeline.model import PipelineRunSpec
from foredeck.storage import prow
from foredeck.types import PipelineError
from tests.pipeline.test_emit import argo_validator, schema_errors, tekton_validator

pytestmark = pytest.mark.timeout(60)

IGNORED = """\
apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: ignored}
spec:
  tasks:
    - name: flaky
      onError: continue
      taskSpec:
        results: [{name: out}, {name: never}]
        steps:
          - {name: s, image: alpine, script: "printf yes > $(results.out.path); exit 1"}
    - name: after
      runAfter: [flaky]
      taskSpec: {steps: [{name: s, image: alpine, script: "echo after ran"}]}
    - name: uses-written
      params: [{name: v, value: $(tasks.flaky.results.out)}]
      taskSpec:
        params: [{name: v}]
        steps: [{name: s, image: alpine, script: "echo got $(params.v)"}]
    - name: uses-missing
      params: [{name: v, value: $(tasks.flaky.results.never)}]
      taskSpec:
        params: [{name: v}]
        steps: [{name: s, image: alpine, script: "echo should not run"}]
  finally:
    - name: report
      params:
        - {name: flaky, value: "$(tasks.flaky.status)/$(tasks.flaky.reason)"}
        - {name: after, value: "$(tasks.after.status)/$(tasks.after.reason)"}
        - {name: all, value: $(tasks.status)}
      taskSpec:
        params: [{name: flaky}, {name: after}, {name: all}]
        steps:
          - {name: s, image: alpine, script: "echo $(params.flaky) $(params.after) $(params.all)"}
"""


def load(text: str) -> PipelineRunSpec:
    return load_pipeline_text(textwrap.dedent(text), "run.yaml")


def lines_of(out: Path, task: str) -> list[str]:
    marker = f"[{task}/s] "
    log = (out / prow.BUILD_LOG).read_text().splitlines()
    return [line.split(marker, 1)[1] for line in log if marker in line]


def test_on_error_continue_loads_as_continue_on_every_failure() -> None:
    spec = load(IGNORED)
    flaky, after = spec.pipeline.tasks[0], spec.pipeline.tasks[1]
    assert flaky.continue_on == frozenset({"Failed", "Errored"})
    assert not after.continue_on


def test_an_ignored_failure_neither_fails_the_run_nor_stops_dependents(tmp_path: Path) -> None:
    result = asyncio.run(run_pipeline(load(IGNORED), tmp_path / "out", parallel=2))
    assert result.status == "Succeeded"
    tasks = result.tasks
    assert tasks["flaky"].status == "Failed"
    assert tasks["after"].status == "Succeeded"
    assert tasks["uses-written"].status == "Succeeded"
    assert lines_of(tmp_path / "out", "uses-written") == ["got yes"]
    assert tasks["uses-missing"].status == "Skipped"
    report = ["Failed/FailureIgnored Succeeded/Succeeded Failed"]
    assert lines_of(tmp_path / "out", "report") == report


def test_without_on_error_the_same_failure_fails_the_run(tmp_path: Path) -> None:
    text = IGNORED.replace("      onError: continue\n", "")
    result = asyncio.run(run_pipeline(load(text), tmp_path / "out", parallel=2))
    assert result.status == "Failed"
    assert result.tasks["after"].status == "Skipped"
    assert lines_of(tmp_path / "out", "report") == ["Failed/Failed None/None Failed"]


def test_stop_and_fail_is_the_default_and_other_values_are_refused() -> None:
    explicit = load(IGNORED.replace("onError: continue", "onError: stopAndFail"))
    assert not explicit.pipeline.tasks[0].continue_on
    with pytest.raises(PipelineError) as err:
        load(IGNORED.replace("onError: continue", "onError: ignore"))
    assert "run.yaml:7" in str(err.value)
    assert "'onError' must be 'continue' or 'stopAndFail'" in str(err.value)


def test_emitted_tekton_keeps_on_error_and_validates() -> None:
    doc = emit_tekton(load(IGNORED))
    assert schema_errors(tekton_validator(), doc) == []
    tasks = {t["name"]: t for t in doc["spec"]["pipelineSpec"]["tasks"]}
    assert tasks["flaky"]["onError"] == "continue"
    assert "onError" not in tasks["after"]
    again = load_pipeline_text(yaml.safe_dump(doc), "emitted.yaml")
    assert again.pipeline.tasks[0].continue_on == frozenset({"Failed", "Errored"})


def test_emitted_argo_continues_on_failed_and_error_and_validates() -> None:
    # Without the finally task: Argo has no form for `$(tasks.T.status)` in a param.
    doc = emit_argo(load(IGNORED.split("  finally:")[0]))
    assert schema_errors(argo_validator(), doc) == []
    dags = [t["dag"]["tasks"] for t in doc["spec"]["templates"] if "dag" in t]
    flaky = next(t for tasks in dags for t in tasks if t["name"] == "flaky")
    assert flaky["continueOn"] == {"failed": True, "error": True}


def test_continue_on_failed_only_is_a_tekton_compile_error() -> None:
    spec = load(IGNORED)
    spec.pipeline.tasks[0].continue_on = frozenset({"Failed"})
    with pytest.raises(PipelineError) as err:
        emit_tekton(spec)
    assert "task 'flaky'" in str(err.value)
    assert "onError: continue" in str(err.value)
