"""A task result's `default` (Tekton's `enable-default-results`): what a consumer and the
pipeline's results read when the task does not write it or does not run."""

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
metadata: {name: defaults}
spec:
  pipelineSpec:
    results:
      - {name: word, value: $(tasks.silent.results.word)}
      - {name: list, type: array, value: "$(tasks.silent.results.list[*])"}
      - {name: skipped, value: $(tasks.never.results.out)}
    tasks:
      - name: silent
        taskSpec:
          results:
            - {name: word, default: fallback}
            - {name: list, type: array, default: [a, b]}
          steps: [{name: s, image: alpine, script: "echo writes nothing"}]
      - name: never
        when: [{input: "no", operator: in, values: ["yes"]}]
        taskSpec:
          results: [{name: out, default: from-skipped}]
          steps: [{name: s, image: alpine, script: "printf x > $(results.out.path)"}]
      - name: reader
        params: [{name: got, value: $(tasks.silent.results.word)}]
        taskSpec:
          params: [{name: got}]
          results: [{name: echoed}]
          steps: [{name: s, image: alpine, script: "printf $(params.got) > $(results.echoed.path)"}]
    finally:
      - name: after-skip
        params: [{name: got, value: $(tasks.never.results.out)}]
        taskSpec:
          params: [{name: got}]
          results: [{name: echoed}]
          steps: [{name: s, image: alpine, script: "printf $(params.got) > $(results.echoed.path)"}]
"""


def test_unwritten_and_skipped_results_read_their_defaults(tmp_path: Path) -> None:
    result = asyncio.run(run_pipeline(load_pipeline_text(RUN, "run.yaml"), tmp_path, parallel=2))
    assert result.status == "Succeeded"
    assert result.tasks["reader"].results == {"echoed": "fallback"}
    assert result.tasks["after-skip"].results == {"echoed": "from-skipped"}
    assert result.results == {"word": "fallback", "list": ["a", "b"], "skipped": "from-skipped"}


def test_defaults_are_emitted_to_tekton() -> None:
    emitted = emit_tekton(load_pipeline_text(RUN, "run.yaml"))
    silent = emitted["spec"]["pipelineSpec"]["tasks"][0]["taskSpec"]["results"]
    assert silent == [
        {"name": "word", "default": "fallback"},
        {"name": "list", "type": "array", "default": ["a", "b"]},
    ]
    back = load_pipeline_text(yaml.safe_dump(emitted), "back.yaml").pipeline.tasks[0]
    assert back.task_spec is not None
    assert [r.default for r in back.task_spec.results] == ["fallback", ["a", "b"]]


def test_a_default_of_another_type_is_refused() -> None:
    text = RUN.replace("{name: word, default: fallback}", "{name: word, default: [x]}")
    with pytest.raises(PipelineError, match="default is array, not string"):
        load_pipeline_text(text, "run.yaml")
