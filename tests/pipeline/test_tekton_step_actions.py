"""Tekton StepActions: a step with `ref` runs a StepAction of the same input.

The StepAction's params are its own: the step passes them (in the task's scope) or defaults
fill them, an object key by key, as Tekton binds them; fields Tekton forbids next to a `ref`
and references to undeclared params are load errors; `--emit tekton` keeps the ref (the
StepAction document goes first), Argo gets the step inlined.
"""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest

from foredeck.execute.local import run_pipeline
from foredeck.pipeline.emit import emit
from foredeck.pipeline.emit_argo import emit_argo
from foredeck.pipeline.emit_tekton import emit_tekton
from foredeck.pipeline.load import load_pipeline_text
from foredeck.pipeline.model import PipelineRunSpec
from foredeck.storage import prow
from foredeck.types import PipelineError
from tests.pipeline.test_emit import argo_validator, schema_errors, tekton_validator

pytestmark = pytest.mark.timeout(60)

ACTION = """\
apiVersion: tekton.dev/v1beta1
kind: StepAction
metadata: {name: say}
spec:
  params:
    - {name: word, default: hi}
    - {name: list, type: array, default: [x, y]}
    - name: obj
      type: object
      properties: {a: {type: string}, b: {type: string}}
      default: {a: A0, b: B0}
  image: busybox
  env: [{name: WORD, value: $(params.word)}]
  command: [sh, -c, 'echo "$WORD|$0 $1|$2|$3"']
  args: ["$(params.list[*])", "$(params.obj.a)", "$(params.obj.b)"]
---
"""

TASK = """\
apiVersion: tekton.dev/v1
kind: Task
metadata: {name: t}
spec:
  params: [{name: given, default: from-task}]
  steps:
    - name: s
      ref: {name: say}
      params:
        - {name: word, value: $(params.given)}
        - {name: obj, value: {b: B1}}
"""


BY_REF = TASK.replace("{name: obj, value: {b: B1}}", '{name: obj, value: "$(params.o[*])"}')
BY_REF = BY_REF.replace(
    "params: [{name: given,",
    "params: [{name: o, type: object, properties: {b: {}}, default: {b: B}}, {name: given,",
)


def load(text: str) -> PipelineRunSpec:
    return load_pipeline_text(textwrap.dedent(text), "sa.yaml")


def lines_of(out: Path, task: str) -> list[str]:
    marker = f"[{task}/s] "
    log = (out / prow.BUILD_LOG).read_text().splitlines()
    return [line.split(marker, 1)[1] for line in log if marker in line]


def test_a_step_runs_its_step_action_with_its_params_and_defaults(tmp_path: Path) -> None:
    spec = load(TASK + "---\n" + ACTION)  # the StepAction may come after the Task
    step = spec.pipeline.task_library["t"].steps[0]
    assert (step.action, step.image) == ("say", "busybox")
    result = asyncio.run(run_pipeline(spec, tmp_path / "out"))
    assert result.status == "Succeeded"
    # the word from the task, the array's default, the object's `a` from its default
    assert lines_of(tmp_path / "out", "t") == ["from-task|x y|A0|B1"]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (TASK.replace("ref: {name: say}", "ref: {name: nope}"), 7, "unknown StepAction 'nope'"),
        (
            ACTION + TASK.replace("ref: {name: say}", "ref: {name: say}\n      image: alpine"),
            25,
            "unsupported field 'image'",
        ),
        (
            ACTION + TASK.replace("{name: word,", "{name: other,"),
            23,
            "passes param 'other', which StepAction 'say' does not declare",
        ),
        (ACTION.replace("$(params.obj.b)", "$(params.c)") + TASK, 5, "$(params.c) is not declared"),
        (
            ACTION.replace("$(params.obj.b)", "$(step.results.r.path)") + TASK,
            5,
            "step results are not supported",
        ),
        (
            ACTION + TASK.replace("ref: {name: say}\n", "image: busybox\n"),
            25,
            "'params' need a 'ref' to a StepAction",
        ),
    ],
)
def test_what_tekton_refuses_is_a_load_error_naming_the_line(
    text: str, line: int, message: str
) -> None:
    with pytest.raises(PipelineError) as err:
        load(text)
    assert message in str(err.value)
    assert f"sa.yaml:{line}:" in str(err.value)


def test_emitted_tekton_inlines_the_step_where_that_keeps_its_meaning() -> None:
    spec = load(ACTION + TASK)
    doc = emit_tekton(spec)
    assert schema_errors(tekton_validator(), doc) == []
    step = doc["spec"]["pipelineSpec"]["tasks"][0]["taskSpec"]["steps"][0]
    assert "ref" not in step
    assert step["args"] == ["x", "y", "A0", "B1"]
    assert step["env"] == [{"name": "WORD", "value": "$(params.given)"}]
    assert "StepAction" not in emit(spec, "tekton")
    assert "StepAction" not in emit(spec, "argo")


def test_emitted_tekton_keeps_the_ref_where_defaults_merge_at_run_time() -> None:
    spec = load(ACTION + BY_REF)
    doc = emit_tekton(spec)
    assert schema_errors(tekton_validator(), doc) == []
    step = doc["spec"]["pipelineSpec"]["tasks"][0]["taskSpec"]["steps"][0]
    assert step["ref"] == {"name": "say"}
    assert {"name": "obj", "value": "$(params.o[*])"} in step["params"]
    assert "image" not in step
    text = emit(spec, "tekton")
    assert text.index("kind: StepAction") < text.index("kind: PipelineRun")


def test_emitted_argo_inlines_the_step_or_says_why_it_cannot() -> None:
    doc = emit_argo(load(ACTION + TASK))
    assert schema_errors(argo_validator(), doc) == []
    text = str(doc)
    assert "A0" in text and "B1" in text and "{{inputs.parameters.given}}" in text
    with pytest.raises(PipelineError, match="keys merge with the StepAction's default"):
        emit_argo(load(ACTION + BY_REF))
