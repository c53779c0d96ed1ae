"""Tekton's `when: [{cel: ...}]` in its common forms: loaded as a govaluate guard, run as
Tekton runs it, refused with file:line beyond those forms, emitted back as `cel`."""

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
from foredeck.pipeline.validate import dependencies
from foredeck.types import PipelineError
from tests.pipeline.test_emit import argo_validator, schema_errors, tekton_validator

pytestmark = pytest.mark.timeout(60)

CEL = """\
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {generateName: cel-}
spec:
  params: [{name: env, value: prod}]
  pipelineSpec:
    params: [{name: env}]
    tasks:
      - name: check
        taskSpec:
          results: [{name: ok}]
          steps: [{name: s, image: alpine, script: "printf yes > $(results.ok.path)"}]
      - name: eq
        when: [{cel: "'$(params.env)' == 'prod'"}]
        taskSpec: {steps: [{name: s, image: alpine, script: "true"}]}
      - name: ne
        when: [{cel: "'$(params.env)'!='prod'"}]
        taskSpec: {steps: [{name: s, image: alpine, script: "exit 1"}]}
      - name: in-list
        when: [{cel: "'$(params.env)' in ['dev', 'prod']"}]
        taskSpec: {steps: [{name: s, image: alpine, script: "true"}]}
      - name: and-or-not
        when: [{cel: "('$(tasks.check.results.ok)' == 'yes' && !('a' == 'b')) || false"}]
        taskSpec: {steps: [{name: s, image: alpine, script: "true"}]}
      - name: and-false
        when: [{cel: "'$(tasks.check.results.ok)' == 'yes' && '$(params.env)' == 'dev'"}]
        taskSpec: {steps: [{name: s, image: alpine, script: "exit 1"}]}
"""


def load(text: str) -> PipelineRunSpec:
    return load_pipeline_text(textwrap.dedent(text), "run.yaml")


def test_cel_guards_hold_as_tekton_evaluates_them(tmp_path: Path) -> None:
    result = asyncio.run(run_pipeline(load(CEL), tmp_path / "out", parallel=2))
    status = {name: record.status for name, record in result.tasks.items()}
    assert result.status == "Succeeded"
    assert status == {
        "check": "Succeeded",
        "eq": "Succeeded",
        "ne": "Skipped",
        "in-list": "Succeeded",
        "and-or-not": "Succeeded",
        "and-false": "Skipped",
    }


def test_a_result_in_cel_orders_the_task_after_its_producer() -> None:
    spec = load(CEL)
    tasks = {t.name: t for t in spec.pipeline.tasks}
    assert tasks["in-list"].when[0].input == "'$(params.env)' in ('dev', 'prod')"
    assert "check" in dependencies(spec.pipeline)["and-false"]


@pytest.mark.parametrize(
    ("cel", "message"),
    [
        ("size('$(params.env)') > 2", 'unsupported at "size('),
        ("'$(params.env)'.startsWith('p')", 'unsupported at ".startsWith('),
        ("'a' ==", "`cel: 'a' ==`"),
    ],
)
def test_other_cel_is_refused_with_its_line(cel: str, message: str) -> None:
    text = CEL.replace("'$(params.env)' == 'prod'", cel.replace('"', '\\"'))
    with pytest.raises(PipelineError) as err:
        load(text)
    assert "run.yaml:14" in str(err.value)
    assert message in str(err.value)


def test_emitted_tekton_keeps_cel_and_validates() -> None:
    doc = emit_tekton(load(CEL))
    assert schema_errors(tekton_validator(), doc) == []
    tasks = {t["name"]: t for t in doc["spec"]["pipelineSpec"]["tasks"]}
    assert tasks["in-list"]["when"] == [{"cel": "'$(params.env)' in ['dev', 'prod']"}]
    again = load_pipeline_text(yaml.safe_dump(doc), "emitted.yaml")

    def guards(spec: PipelineRunSpec) -> list[list[tuple[str, str]]]:
        return [[(w.input, w.cel) for w in t.when] for t in spec.pipeline.tasks]

    assert guards(again) == guards(load(CEL))


def test_emitted_argo_has_the_guard_as_a_when_and_validates() -> None:
    doc = emit_argo(load(CEL))
    assert schema_errors(argo_validator(), doc) == []
    dags = [t["dag"]["tasks"] for t in doc["spec"]["templates"] if "dag" in t]
    in_list = next(t for tasks in dags for t in tasks if t["name"] == "in-list")
    assert in_list["when"] == "'{{workflow.parameters.env}}' in ('dev', 'prod')"
