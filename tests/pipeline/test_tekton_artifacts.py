"""Tekton artifacts (TEP-0147): provenance JSON a step writes, read by later tasks.

`$(artifacts.path)` / `$(step.artifacts.path)` are files of the attempt; when the task ends
their `inputs`/`outputs` are merged by name, and `$(tasks.T.outputs.N)` is the JSON of the
values, even inside another task's embedded steps (ordering it after T); bad JSON fails the
producer; Tekton emission writes the reference back where it was, Argo refuses it.
"""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path

import pytest

from foredeck.execute.local import run_pipeline
from foredeck.pipeline.emit_argo import emit_argo
from foredeck.pipeline.emit_tekton import emit_tekton
from foredeck.pipeline.load import load_pipeline_text
from foredeck.pipeline.model import PipelineRunSpec
from foredeck.storage import prow
from foredeck.types import PipelineError
from tests.pipeline.test_emit import schema_errors, tekton_validator

pytestmark = pytest.mark.timeout(60)

PIPELINE = """\
apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: p}
spec:
  tasks:
    - name: make
      taskSpec:
        steps:
          - name: a
            image: busybox
            script: |
              echo '{"outputs":[{"name":"image","values":[{"uri":"u1"}]}]}' > $(step.artifacts.path)
          - name: b
            image: busybox
            script: |
              out='{"outputs":[{"name":"image","values":[{"uri":"u2"}]}],'
              echo "$out"'"inputs":[{"name":"src","values":[{"uri":"s"}]}]}' > $(artifacts.path)
    - name: use
      taskSpec:
        steps:
          - name: s
            image: busybox
            script: |
              echo '$(tasks.make.outputs.image)'
              echo '$(tasks.make.inputs.src)'
"""


def load(text: str) -> PipelineRunSpec:
    return load_pipeline_text(textwrap.dedent(text), "art.yaml")


def lines_of(out: Path, task: str) -> list[str]:
    marker = f"[{task}/s] "
    log = (out / prow.BUILD_LOG).read_text().splitlines()
    return [line.split(marker, 1)[1] for line in log if marker in line]


def test_a_task_reads_the_artifacts_another_task_wrote(tmp_path: Path) -> None:
    spec = load(PIPELINE)
    use = spec.pipeline.tasks[1]
    assert use.params == {
        "artifact-make-outputs-image": "$(tasks.make.outputs.image)",
        "artifact-make-inputs-src": "$(tasks.make.inputs.src)",
    }
    result = asyncio.run(run_pipeline(spec, tmp_path / "out"))
    assert result.status == "Succeeded"
    assert result.tasks["use"].run_after == ["make"]  # the reference orders it
    image, src = lines_of(tmp_path / "out", "use")
    assert json.loads(image) == [{"uri": "u1"}, {"uri": "u2"}]  # step order, then the task's
    assert json.loads(src) == [{"uri": "s"}]


def test_an_artifacts_file_that_is_not_json_fails_the_task(tmp_path: Path) -> None:
    text = PIPELINE.replace(
        'echo \'{"outputs":[{"name":"image","values":[{"uri":"u1"}]}]}\'', "echo nope"
    )
    result = asyncio.run(run_pipeline(load(text), tmp_path / "out"))
    assert result.tasks["make"].status == "Failed"
    assert "artifacts file step-a.json: not JSON" in result.tasks["make"].reason
    assert result.tasks["use"].status == "Skipped"


def test_emitted_tekton_writes_the_reference_back_and_argo_refuses_it() -> None:
    doc = emit_tekton(load(PIPELINE))
    assert schema_errors(tekton_validator(), doc) == []
    use = doc["spec"]["pipelineSpec"]["tasks"][1]
    assert "params" not in use and "params" not in use["taskSpec"]
    assert "$(tasks.make.outputs.image)" in use["taskSpec"]["steps"][0]["script"]
    with pytest.raises(PipelineError, match="cannot be expressed in Argo"):
        emit_argo(load(PIPELINE))
