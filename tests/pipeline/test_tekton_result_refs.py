"""An inline taskSpec's steps reading an earlier task's result (`$(tasks.gen.results.uid)`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from foredeck.execute.local import run_pipeline
from foredeck.pipeline.dependency_graph import dependencies
from foredeck.pipeline.emit_tekton import emit_tekton
from foredeck.pipeline.load import load_pipeline_text

pytestmark = pytest.mark.timeout(60)

RUN = """\
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: implicit}
spec:
  pipelineSpec:
    tasks:
      - name: gen
        taskSpec:
          results: [{name: uid}]
          steps:
            - {name: s, image: alpine, script: "sleep 0.2; printf 1001 > $(results.uid.path)"}
      - name: show
        taskSpec:
          steps:
            - name: s
              image: alpine
              command: [sh, -c]
              args:
                - test "$(tasks.gen.results.uid)" = 1001 && echo "uid $(tasks.gen.results.uid)"
"""


def test_the_result_becomes_a_param_of_the_inline_spec_and_orders_the_tasks() -> None:
    run = load_pipeline_text(RUN, "run.yaml")
    show = run.pipeline.tasks[1]
    assert show.params == {"result-gen-uid": "$(tasks.gen.results.uid)"}
    assert show.task_spec is not None
    assert show.task_spec.steps[0].args == [
        'test "$(params.result-gen-uid)" = 1001 && echo "uid $(params.result-gen-uid)"'
    ]
    assert dependencies(run.pipeline)["show"] == {"gen"}


def test_the_step_reads_the_result_when_it_runs(tmp_path: Path) -> None:
    result = asyncio.run(run_pipeline(load_pipeline_text(RUN, "run.yaml"), tmp_path, parallel=2))
    assert result.status == "Succeeded"
    assert {name: task.status for name, task in result.tasks.items()} == {
        "gen": "Succeeded",
        "show": "Succeeded",
    }


def test_emitted_tekton_passes_the_result_explicitly() -> None:
    emitted = emit_tekton(load_pipeline_text(RUN, "run.yaml"))
    show = emitted["spec"]["pipelineSpec"]["tasks"][1]
    assert show["params"] == [{"name": "result-gen-uid", "value": "$(tasks.gen.results.uid)"}]
    back = load_pipeline_text(yaml.safe_dump(emitted), "back.yaml").pipeline.tasks[1]
    assert back.params == {"result-gen-uid": "$(tasks.gen.results.uid)"}
