"""Tekton TaskRuns: one Task (by reference or inline) run as a one-task pipeline.

The run's params bind the Task's (an inline taskSpec may use them undeclared, as Tekton
propagates them; a partial object keeps its default's other keys), its timeout and retries are
the task's, its workspaces are the run's; it emits as a PipelineRun that validates.
"""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest

from foredeck.execute.local import run_pipeline
from foredeck.pipeline.emit_tekton import emit_tekton
from foredeck.pipeline.load import load_pipeline_text
from foredeck.pipeline.model import PipelineRunSpec
from foredeck.storage import prow
from foredeck.types import PipelineError
from tests.pipeline.test_emit import schema_errors, tekton_validator

pytestmark = pytest.mark.timeout(60)

INLINE = """\
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {generateName: hello-}
spec:
  params:
    - {name: message, value: hi}
    - {name: repo, value: {commit: c1}}
  workspaces: [{name: ws, emptyDir: {}}]
  timeout: 30s
  retries: 1
  taskSpec:
    params:
      - name: repo
        type: object
        properties: {url: {type: string}, commit: {type: string}}
        default: {url: u0, commit: c0}
    steps:
      - name: s
        image: busybox
        script: |
          echo "$(params.message) $(params.repo.url) $(params.repo.commit)" >$(workspaces.ws.path)/f
          cat $(workspaces.ws.path)/f
"""

BY_REF = """\
apiVersion: tekton.dev/v1
kind: Task
metadata: {name: greet}
spec:
  params: [{name: who}]
  steps: [{name: s, image: busybox, script: "echo hello $(params.who)"}]
---
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: run}
spec:
  taskRef: {name: greet}
  params: [{name: who, value: you}, {name: extra, value: ignored}]
  serviceAccountName: builder
"""


def load(text: str) -> PipelineRunSpec:
    return load_pipeline_text(textwrap.dedent(text), "tr.yaml")


def lines_of(out: Path, task: str) -> list[str]:
    marker = f"[{task}/s] "
    log = (out / prow.BUILD_LOG).read_text().splitlines()
    return [line.split(marker, 1)[1] for line in log if marker in line]


def test_an_inline_task_run_uses_propagated_params_and_merged_object_defaults(
    tmp_path: Path,
) -> None:
    spec = load(INLINE)
    node = spec.pipeline.tasks[0]
    assert (spec.name, node.timeout, node.retries) == ("hello-", 30.0, 1)
    result = asyncio.run(run_pipeline(spec, tmp_path / "out"))
    assert result.status == "Succeeded"
    assert lines_of(tmp_path / "out", "hello-") == ["hi u0 c1"]


def test_a_task_run_of_a_task_ignores_params_the_task_does_not_declare(tmp_path: Path) -> None:
    spec = load(BY_REF)
    assert spec.pipeline.ignored_params == ["extra"]
    assert spec.pipeline.task_run_specs["greet"].service_account == "builder"
    asyncio.run(run_pipeline(spec, tmp_path / "out"))
    assert lines_of(tmp_path / "out", "greet") == ["hello you"]
    doc = emit_tekton(spec)
    assert schema_errors(tekton_validator(), doc) == []
    assert doc["spec"]["taskRunSpecs"][0]["serviceAccountName"] == "builder"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            BY_REF.replace("taskRef: {name: greet}", "taskRef: {name: nope}"),
            12,
            "unknown Task 'nope'",
        ),
        (BY_REF + "---\n" + BY_REF.split("---\n")[1], 16, "several runs (run, run)"),
        (
            INLINE.replace("  retries: 1\n", "  retries: -1\n"),
            10,
            "'retries' must be a whole number",
        ),
        (
            INLINE.replace("  timeout: 30s\n", "  status: Cancelled\n"),
            9,
            "unsupported field 'status'",
        ),
    ],
)
def test_bad_task_runs_are_load_errors_naming_the_line(text: str, line: int, message: str) -> None:
    with pytest.raises(PipelineError) as err:
        load(text)
    assert message in str(err.value)
    assert f"tr.yaml:{line}:" in str(err.value)
