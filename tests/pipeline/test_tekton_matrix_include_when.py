"""A guard on one matrix `include` entry (`matrix.include[].when`): the entry runs only when it
holds, the other entries as usual."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from foredeck.execute.local import run_pipeline
from foredeck.pipeline.emit import emit
from foredeck.pipeline.emit_tekton import emit_tekton
from foredeck.pipeline.load import load_pipeline_text
from foredeck.types import PipelineError

pytestmark = pytest.mark.timeout(60)

RUN = """\
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: platforms}
spec:
  params:
    - {name: enabled, value: [arm64, amd64]}
  pipelineSpec:
    params: [{name: enabled, type: array}]
    tasks:
      - name: build
        matrix:
          include:
            - name: amd64
              params: [{name: arch, value: amd64}]
              when: [{input: amd64, operator: in, values: ["$(params.enabled[*])"]}]
            - name: s390x
              params: [{name: arch, value: s390x}]
              when: [{input: s390x, operator: in, values: ["$(params.enabled[*])"]}]
            - name: always
              params: [{name: arch, value: any}]
        taskSpec:
          params: [{name: arch}]
          steps: [{name: s, image: alpine, script: "echo $(params.arch)"}]
"""


def test_an_include_entry_whose_guard_fails_runs_no_instance(tmp_path: Path) -> None:
    run = load_pipeline_text(RUN, "run.yaml")
    matrix = run.pipeline.tasks[0].matrix
    assert matrix is not None and sorted(matrix.include_when) == [0, 1]
    result = asyncio.run(run_pipeline(run, tmp_path / "out", parallel=2))
    assert result.status == "Succeeded"
    instances = {n: t.params for n, t in result.tasks.items() if n.startswith("build[")}
    assert instances == {"build[0]": {"arch": "amd64"}, "build[1]": {"arch": "any"}}


def test_the_guards_are_emitted_to_tekton_and_refused_for_argo() -> None:
    run = load_pipeline_text(RUN, "run.yaml")
    emitted = emit_tekton(run)
    include = emitted["spec"]["pipelineSpec"]["tasks"][0]["matrix"]["include"]
    assert [entry.get("when") for entry in include] == [
        [{"input": "amd64", "operator": "in", "values": ["$(params.enabled[*])"]}],
        [{"input": "s390x", "operator": "in", "values": ["$(params.enabled[*])"]}],
        None,
    ]
    back = load_pipeline_text(yaml.safe_dump(emitted), "back.yaml").pipeline.tasks[0].matrix
    assert back is not None and sorted(back.include_when) == [0, 1]
    with pytest.raises(PipelineError, match="a guard on one matrix include entry"):
        emit(run, "argo")
