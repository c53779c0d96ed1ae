"""A step's `onError` chosen by a param (`onError: $(params.CONTINUE)`), resolved as it runs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from foredeck.execute.local import run_pipeline
from foredeck.pipeline.emit_tekton import emit_tekton
from foredeck.pipeline.load import load_pipeline_text
from foredeck.types import PipelineError

pytestmark = pytest.mark.timeout(60)

RUN = """\
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: choose}
spec:
  params: [{name: mode, value: "MODE"}]
  pipelineSpec:
    params: [{name: mode}]
    tasks:
      - name: t
        params: [{name: how, value: $(params.mode)}]
        taskSpec:
          params: [{name: how}]
          steps:
            - {name: fails, image: alpine, onError: $(params.how), script: "exit 3"}
            - {name: after, image: alpine, script: "echo after"}
"""


def run(mode: str, tmp_path: Path) -> dict[str, tuple[str, str]]:
    spec = load_pipeline_text(RUN.replace("MODE", mode), "run.yaml")
    result = asyncio.run(run_pipeline(spec, tmp_path / mode, parallel=1))
    return {name: (task.status, task.reason) for name, task in result.tasks.items()}


def test_the_param_chooses_whether_a_failed_step_stops_the_task(tmp_path: Path) -> None:
    assert run("continue", tmp_path)["t"][0] == "Succeeded"
    status, reason = run("stopAndFail", tmp_path)["t"]
    assert status == "Failed" and "exited with code 3" in reason
    status, reason = run("maybe", tmp_path)["t"]
    assert status == "Failed" and "onError 'maybe' is not continue or stopAndFail" in reason


def test_the_param_is_kept_when_emitted_and_read_back(tmp_path: Path) -> None:
    spec = load_pipeline_text(RUN.replace("MODE", "continue"), "run.yaml")
    emitted = emit_tekton(spec)
    steps = emitted["spec"]["pipelineSpec"]["tasks"][0]["taskSpec"]["steps"]
    assert [s.get("onError") for s in steps] == ["$(params.how)", None]
    back = load_pipeline_text(yaml.safe_dump(emitted), "back.yaml")
    assert [s.on_error for s in back.pipeline.tasks[0].task_spec.steps] == [  # type: ignore[union-attr]
        "$(params.how)",
        "stopAndFail",
    ]


def test_an_on_error_that_is_neither_a_value_nor_a_param_is_refused() -> None:
    text = RUN.replace("$(params.how)", "sometimes").replace("MODE", "x")
    with pytest.raises(PipelineError, match="is not continue, stopAndFail or a param"):
        load_pipeline_text(text, "run.yaml")
