"""Tekton's pipelines in pipelines (alpha): a pipeline task with `pipelineRef`/`pipelineSpec`.

The child runs as a sub-graph: params in, workspaces mapped onto the parent's, its status the
child PipelineRun's (a failed finally fails it); a reference to its results is refused as
Tekton's webhook refuses it; it emits back as an inline `pipelineSpec` that validates.
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
from tests.pipeline.test_emit import schema_errors, tekton_validator

pytestmark = pytest.mark.timeout(60)

CHILD = """\
apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: child}
spec:
  params: [{name: word}]
  workspaces: [{name: inner}]
  tasks:
    - name: write
      params: [{name: word, value: $(params.word)}]
      workspaces: [{name: w, workspace: inner}]
      taskSpec:
        params: [{name: word}]
        workspaces: [{name: w}]
        steps:
          - {name: s, image: busybox, script: "printf %s $(params.word) > $(workspaces.w.path)/out"}
---
"""

PARENT = """\
apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: parent}
spec:
  workspaces: [{name: shared}]
  tasks:
    - name: call
      pipelineRef: {name: child}
      params: [{name: word, value: hello}]
      workspaces: [{name: inner, workspace: shared}]
    - name: check
      runAfter: [call]
      workspaces: [{name: s, workspace: shared}]
      taskSpec:
        workspaces: [{name: s}]
        steps:
          - {name: s, image: busybox, script: "echo read $(cat $(workspaces.s.path)/out)"}
"""

INLINE = """\
apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: parent}
spec:
  tasks:
    - name: call
      params: [{name: n, value: "7"}]
      pipelineSpec:
        params: [{name: n}]
        tasks:
          - name: inner
            params: [{name: n, value: $(params.n)}]
            taskSpec:
              params: [{name: n}]
              steps: [{name: s, image: busybox, script: "echo n=$(params.n)"}]
        finally:
          - name: last
            taskSpec: {steps: [{name: s, image: busybox, script: "exit 0"}]}
"""


RETRIES = "pipelineRef: {name: child}\n      retries: 2"


def load(text: str) -> PipelineRunSpec:
    return load_pipeline_text(textwrap.dedent(text), "pinp.yaml")


def lines_of(out: Path, task: str) -> list[str]:
    marker = f"[{task}/s] "
    log = (out / prow.BUILD_LOG).read_text().splitlines()
    return [line.split(marker, 1)[1] for line in log if marker in line]


def test_pipeline_ref_and_spec_load_as_sub_graph_calls() -> None:
    by_ref = load(CHILD + PARENT)  # no PipelineRun: the Pipeline no other one runs
    assert by_ref.pipeline.name == "parent"
    call = by_ref.pipeline.tasks[0]
    assert call.graph_ref == "child"
    assert by_ref.pipeline.graph_of(call).name == "child"
    assert call.workspaces == {"inner": "shared"}
    inline = load(INLINE)
    call = inline.pipeline.tasks[0]
    assert call.graph_ref == "parent/call"  # never a Pipeline's name
    assert [t.name for t in inline.pipeline.graph_of(call).tasks] == ["inner"]


def test_a_child_gets_its_params_and_the_parents_workspace(tmp_path: Path) -> None:
    result = asyncio.run(run_pipeline(load(CHILD + PARENT), tmp_path / "out", parallel=2))
    assert result.status == "Succeeded"
    assert result.tasks["call.write"].status == "Succeeded"
    assert lines_of(tmp_path / "out", "check") == ["read hello"]


def test_a_failed_finally_task_fails_the_child_and_so_the_parent(tmp_path: Path) -> None:
    ok = asyncio.run(run_pipeline(load(INLINE), tmp_path / "ok", parallel=2))
    assert ok.status == "Succeeded"
    assert lines_of(tmp_path / "ok", "call.inner") == ["n=7"]
    failing = INLINE.replace('script: "exit 0"', 'script: "exit 3"')
    result = asyncio.run(run_pipeline(load(failing), tmp_path / "bad", parallel=2))
    assert result.tasks["call.inner"].status == "Succeeded"
    assert result.tasks["call"].status == "Failed"
    assert result.status == "Failed"


PROPAGATED = """\
apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: parent}
spec:
  workspaces: [{name: ws}]
  tasks:
    - name: child
      params: [{name: greeting, value: hi}]
      workspaces: [{name: inner, workspace: ws}]
      pipelineSpec:
        tasks:
          - name: t
            taskSpec:
              steps:
                - name: s
                  image: busybox
                  script: "echo $(params.greeting) >$(workspaces.inner.path)/f"
    - name: read
      runAfter: [child]
      taskSpec:
        steps: [{name: s, image: busybox, script: "cat $(workspaces.ws.path)/f"}]
"""


def test_an_inline_child_takes_the_tasks_params_and_workspaces_undeclared(tmp_path: Path) -> None:
    """Embedded in the child PipelineRun they bind, they propagate as into any inline spec."""
    spec = load(PROPAGATED)
    child = spec.pipeline.graph_of(spec.pipeline.tasks[0])
    assert [p.name for p in child.params] == ["greeting"]
    assert [w.name for w in child.workspaces] == ["inner"]
    result = asyncio.run(run_pipeline(spec, tmp_path / "out"))
    assert result.status == "Succeeded"
    assert lines_of(tmp_path / "out", "read") == ["hi"]


def test_a_child_is_a_pipeline_run_of_its_own(tmp_path: Path) -> None:
    script = "echo $(context.pipelineRun.name) $(context.pipeline.name) $(params.st)"
    text = INLINE.replace('script: "exit 0"', f'script: "{script}"').replace(
        "            taskSpec: {steps:",
        "            params: [{name: st, value: $(tasks.status)}]\n"
        "            taskSpec: {params: [{name: st}], steps:",
    )
    result = asyncio.run(run_pipeline(load(text), tmp_path / "out"))
    assert result.status == "Succeeded"
    # Tekton names a child PipelineRun `<parent run>-<task>`; its finally sees its own tasks
    assert lines_of(tmp_path / "out", "call.last") == ["parent-call parent/call Succeeded"]


def test_an_ignored_failure_inside_the_child_does_not_fail_it(tmp_path: Path) -> None:
    text = INLINE.replace(
        "          - name: inner\n", "          - name: inner\n            onError: continue\n"
    )
    text = text.replace('"echo n=$(params.n)"', '"exit 1"')
    result = asyncio.run(run_pipeline(load(text), tmp_path / "out", parallel=2))
    assert result.tasks["call.inner"].status == "Failed"
    assert result.tasks["call"].status == "Succeeded"
    assert result.status == "Succeeded"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (PARENT, 7, "pipelineRef names unknown Pipeline 'child' (loaded: parent)"),
        (
            CHILD.replace("name: write\n", "name: write\n      runAfter: [back]\n").replace(
                "  tasks:\n", "  tasks:\n    - {name: back, pipelineRef: {name: parent}}\n", 1
            )
            + PARENT
            + "---\napiVersion: tekton.dev/v1\nkind: PipelineRun\nmetadata: {name: r}\n"
            "spec: {pipelineRef: {name: parent}, workspaces: [{name: shared, emptyDir: {}}]}\n",
            8,
            "pipelineRef cycle parent -> child -> parent",
        ),
        (
            CHILD
            + PARENT
            + "    - name: use\n      params: [{name: v, value: $(tasks.call.results.r)}]\n"
            "      taskSpec: {params: [{name: v}], steps: [{name: s, image: b, script: x}]}\n",
            34,
            "result reference to pipelineTask 'call' is not supported",
        ),
        (
            CHILD + PARENT.replace("pipelineRef: {name: child}", RETRIES),
            25,
            "'retries' of a child pipeline (pipelineRef/pipelineSpec) are not supported",
        ),
        (
            PARENT.replace(
                "pipelineRef: {name: child}", "pipelineRef: {name: child, resolver: git}"
            ),
            8,
            "remote resolution ('resolver') not supported",
        ),
    ],
)
def test_what_tekton_refuses_is_a_load_error_naming_the_line(
    text: str, line: int, message: str
) -> None:
    with pytest.raises(PipelineError) as err:
        load(text)
    assert message in str(err.value)
    assert f"pinp.yaml:{line}" in str(err.value)


def test_emitted_tekton_holds_the_child_inline_validates_and_loads_again() -> None:
    doc = emit_tekton(load(CHILD + PARENT))
    assert schema_errors(tekton_validator(), doc) == []
    call = doc["spec"]["pipelineSpec"]["tasks"][0]
    assert call["pipelineSpec"]["tasks"][0]["name"] == "write"
    assert call["workspaces"] == [{"name": "inner", "workspace": "shared"}]
    again = load_pipeline_text(yaml.safe_dump(doc), "emitted.yaml")
    assert again.pipeline.graph_of(again.pipeline.tasks[0]).params[0].name == "word"
    inline = emit_tekton(load(INLINE))
    assert schema_errors(tekton_validator(), inline) == []
    assert inline["spec"]["pipelineSpec"]["tasks"][0]["pipelineSpec"]["finally"]


def test_what_neither_engine_can_say_is_a_compile_error() -> None:
    spec = load(CHILD + PARENT)
    spec.pipeline.tasks[0].retries = 2
    with pytest.raises(PipelineError, match="retries over a child pipeline"):
        emit_tekton(spec)
    with pytest.raises(PipelineError, match="workspace 'inner' to 'shared'"):
        emit_argo(load(CHILD + PARENT))
