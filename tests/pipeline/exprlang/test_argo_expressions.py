"""Argo workflows with `{{=...}}` tags and govaluate `when`s: loaded (errors name file:line),
run by the local executor, emitted back to Argo, and refused by Tekton's emitter by name."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from foredeck.execute.local import run_pipeline
from foredeck.execute.runstate import RunResult
from foredeck.pipeline.emit_argo import emit_argo
from foredeck.pipeline.emit_tekton import emit_tekton
from foredeck.pipeline.load import load_pipeline_text, load_run
from foredeck.pipeline.model import ParamValue, PipelineRunSpec
from foredeck.types import PipelineError
from tests.pipeline.test_emit import argo_validator, schema_errors

DATA = Path(__file__).resolve().parents[2] / "data" / "exprlang"

pytestmark = pytest.mark.timeout(60)

HEAD = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: wf
spec:
  entrypoint: main
  arguments:
    parameters: [{name: n, value: "2"}]
  templates:
    - name: main
      dag:
        tasks:
          - name: a
            template: echo
            arguments:
              parameters: [{name: msg, value: "{{=asInt(workflow.parameters.n) * 2}}"}]
    - name: echo
      inputs:
        parameters: [{name: msg}]
      container:
        image: alpine
        command: [echo]
        args:
          - "{{inputs.parameters.msg}}"
"""


def run(path: Path, tmp_path: Path, params: dict[str, ParamValue] | None = None) -> RunResult:
    spec = load_run([path], params or {})
    return asyncio.run(run_pipeline(spec, tmp_path / "out", parallel=2))


def statuses(result: RunResult) -> dict[str, str]:
    return {name: task.status for name, task in result.tasks.items()}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "wf.yaml"
    path.write_text(text)
    return path


def test_expressions_compute_values_and_guards_at_run_time(tmp_path: Path) -> None:
    result = run(DATA / "expressions.yaml", tmp_path)
    assert result.status == "Succeeded"
    assert statuses(result) == {
        "compute": "Succeeded",
        "big": "Succeeded",
        "tiny": "Skipped",
        "listed": "Succeeded",
    }
    # arguments, a script's source and its env were all computed
    assert result.tasks["compute"].results == {"double": "6", "text": "hello WORLD! 42"}
    assert result.tasks["tiny"].reason == "when: '7 < 3' is false"


@pytest.mark.parametrize(
    ("version", "ran", "results"),
    [
        ("v1.12.0", {"release", "new-minor"}, {"minor": "12", "new-minor": "13"}),
        ("v1.11.0", {"release"}, {"minor": "11"}),
        ("v1.9.1", {"release", "old-minor"}, {"minor": "9", "old-minor": "old"}),
        ("v1.14", {"new-minor"}, {"minor": "14", "new-minor": "15"}),
    ],
)
def test_govaluate_whens_decide_which_steps_run(
    tmp_path: Path, version: str, ran: set[str], results: dict[str, str]
) -> None:
    result = run(DATA / "steps-when.yaml", tmp_path, {"version": version})
    assert result.status == "Succeeded"
    guarded = {"release", "new-minor", "old-minor"}
    assert statuses(result) == {"minor": "Succeeded"} | {
        name: "Succeeded" if name in ran else "Skipped" for name in guarded
    }
    outputs = {name: task.results["text"] for name, task in result.tasks.items() if task.results}
    assert {k: v for k, v in outputs.items() if k != "release"} == results


def test_a_run_time_expression_error_fails_the_task_with_its_reason(tmp_path: Path) -> None:
    result = run(write(tmp_path, HEAD), tmp_path, {"n": "two"})
    assert result.status == "Failed"
    reason = result.tasks["a"].reason
    assert "asInt($(params.n)) * 2" in reason and "asInt: invalid syntax: 'two'" in reason


@pytest.mark.parametrize(
    ("old", "new", "why"),
    [
        (
            '"{{inputs.parameters.msg}}"',
            '"{{=sprig.nope(inputs.parameters.msg)}}"',
            "unknown function sprig.nope",
        ),
        (
            '"{{inputs.parameters.msg}}"',
            '"{{=inputs.parameters.msg +}}"',
            "unexpected 'end of expression'",
        ),
        (
            '"{{inputs.parameters.msg}}"',
            '"{{=inputs.parameters.other}}"',
            "no input parameter 'other'",
        ),
        (
            "asInt(workflow.parameters.n)",
            "asInt(workflow.parameters.n, 1)",
            "asInt takes 1 argument(s), got 2",
        ),
    ],
)
def test_bad_expressions_are_load_time_errors_naming_file_and_line(
    tmp_path: Path, old: str, new: str, why: str
) -> None:
    text = HEAD.replace(old, new)
    assert text != HEAD
    # the line of the field: an argument's own line, a container's `args:` key
    anchor = "args:" if "inputs.parameters.msg" in old else new
    line = next(i for i, row in enumerate(text.splitlines(), 1) if anchor in row)
    with pytest.raises(PipelineError) as info:
        load_run([write(tmp_path, text)], {})
    assert str(info.value).startswith(f"{tmp_path / 'wf.yaml'}:{line}:")
    assert why in info.value.message


def _reload(run_spec: PipelineRunSpec) -> PipelineRunSpec:
    return load_pipeline_text(yaml.safe_dump(emit_argo(run_spec)), "emitted.yaml")


@pytest.mark.parametrize("name", ["expressions.yaml", "steps-when.yaml", "exit-when.yaml"])
def test_argo_to_ir_to_argo_keeps_expressions_and_whens(name: str) -> None:
    first = load_run([DATA / name], {})
    second = _reload(first)
    assert _reload(second).pipeline == second.pipeline  # a fixed point from the first emit

    def form(spec: PipelineRunSpec) -> dict[str, object]:
        p = spec.pipeline
        return {
            t.name: (
                sorted(t.params.items()),
                [(w.input, w.operator, w.values, w.govaluate) for w in t.when],
                [s.texts() for s in p.spec_of(t).steps],
            )
            for t in p.all_tasks()
        }

    assert form(second) == form(first)
    assert any("$(=" in str(v) for v in form(first).values())


def test_emitted_argo_writes_expression_tags_and_when_text() -> None:
    doc = emit_argo(load_run([DATA / "expressions.yaml"], {}))
    dag = {t["name"]: t for t in doc["spec"]["templates"][0]["dag"]["tasks"]}
    assert dag["compute"]["arguments"]["parameters"][0] == {
        "name": "double",
        "value": "{{=asInt(workflow.parameters.count) * 2}}",
    }
    assert dag["tiny"]["when"] == "{{=asInt(tasks.compute.outputs.parameters.double) + 1}} < 3"


def test_tekton_emitter_names_the_construct_it_cannot_express(tmp_path: Path) -> None:
    with pytest.raises(PipelineError) as info:
        emit_tekton(load_run([DATA / "expressions.yaml"], {}))
    assert "task 'compute' param 'double'" in info.value.message
    assert "{{=...}}" in info.value.message
    when_only = load_run([DATA / "steps-when.yaml"], {})
    for task in when_only.pipeline.tasks:
        task.params = {k: "x" for k in task.params}
    with pytest.raises(PipelineError) as info:
        emit_tekton(when_only)
    assert "`when:" in info.value.message and "only in/notin" in info.value.message
    assert str(info.value).startswith(f"{DATA / 'steps-when.yaml'}:")


@pytest.mark.parametrize("name", ["expressions.yaml", "steps-when.yaml", "exit-when.yaml"])
def test_emitted_argo_with_expressions_validates_against_the_schema(name: str) -> None:
    doc = emit_argo(load_run([DATA / name], {}))
    assert schema_errors(argo_validator(), doc) == []


def test_an_expression_of_literals_is_evaluated_at_load_time(tmp_path: Path) -> None:
    text = HEAD.replace("asInt(workflow.parameters.n) * 2", "sprig.upper('a') + string(1 + 1)")
    spec = load_run([write(tmp_path, text)], {})
    assert spec.pipeline.tasks[0].params == {"msg": "A2"}
    bad = HEAD.replace("asInt(workflow.parameters.n) * 2", "asInt('x')")
    with pytest.raises(PipelineError) as info:
        load_run([write(tmp_path, bad)], {})
    assert "asInt: invalid syntax: 'x'" in info.value.message


def test_a_multi_line_expression_tag_is_one_expression(tmp_path: Path) -> None:
    text = HEAD.replace(
        '"{{=asInt(workflow.parameters.n) * 2}}"',
        '"{{=\\n  asInt(workflow.parameters.n)\\n  * 2\\n}}"',
    )
    spec = load_run([write(tmp_path, text)], {})
    msg = spec.pipeline.tasks[0].params["msg"]
    assert isinstance(msg, str) and msg.startswith("$(=")
    result = asyncio.run(run_pipeline(spec, tmp_path / "out", parallel=1))
    assert result.status == "Succeeded"


def test_a_when_testing_a_status_beside_other_tests_is_refused_outside_the_exit_handler(
    tmp_path: Path,
) -> None:
    anchor = '"{{=asInt(workflow.parameters.n) * 2}}"}]\n'
    when = "'{{tasks.a.status}} == Failed || {{workflow.parameters.n}} > 1'"
    task_b = (
        "          - name: b\n"
        "            template: echo\n"
        "            depends: a\n"
        "            arguments: {parameters: [{name: msg, value: x}]}\n"
        f"            when: {when}\n"
    )
    text = HEAD.replace(anchor, anchor + task_b)
    with pytest.raises(PipelineError) as info:
        load_run([write(tmp_path, text)], {})
    assert str(info.value).startswith(
        f"{tmp_path / 'wf.yaml'}:{text.count(chr(10), 0, text.index(when)) + 1}:"
    )
    assert "a task status can only be tested as" in info.value.message


def test_matrix_values_holding_expressions_are_evaluated_per_combination() -> None:
    from foredeck.execute.matrix import combinations
    from foredeck.pipeline.model import Matrix

    values = {"params.n": "4"}
    matrix = Matrix(
        params={"x": ["$(=asInt($(params.n)) + 1)", "plain-$(params.n)"]},
        include=[{"x": "$(=upper('a') + $(params.n))"}],
    )
    assert combinations(matrix, values.get) == [{"x": "5"}, {"x": "plain-4"}, {"x": "A4"}]


def test_an_expression_with_a_clock_or_random_value_is_left_to_run_time(tmp_path: Path) -> None:
    text = HEAD.replace("asInt(workflow.parameters.n) * 2", "sprig.randAlphaNum(4)")
    spec = load_run([write(tmp_path, text)], {})
    assert spec.pipeline.tasks[0].params == {"msg": "$(=sprig.randAlphaNum(4))"}


@pytest.mark.parametrize(
    ("fail", "status", "handler"),
    [
        ("no", "Succeeded", {"good": "Succeeded", "bad": "Skipped"}),
        ("yes", "Failed", {"good": "Skipped", "bad": "Succeeded"}),
    ],
)
def test_an_exit_handler_tests_the_workflow_status_in_argo_words(
    tmp_path: Path, fail: str, status: str, handler: dict[str, str]
) -> None:
    result = run(DATA / "exit-when.yaml", tmp_path, {"fail": fail})
    assert result.status == status
    assert {name: result.tasks[name].status for name in handler} == handler
    assert result.tasks["skipped"].status == "Skipped"
    if fail == "no":  # the IR's "Completed" (a task was skipped) reads as Argo's "Succeeded"
        assert "Succeeded" in result.tasks["bad"].reason


@pytest.mark.parametrize(
    "variable",
    ["workflow", "workflow.nope", "workflow.parameters", "inputs", "inputs.parameters", "tasks",
     "tasks.a", "tasks.a.outputs", "steps.x.outputs.result", "item", "pod", "nope.x.y"],
)  # fmt: skip
def test_an_unknown_variable_is_a_load_time_error(tmp_path: Path, variable: str) -> None:
    text = HEAD.replace("asInt(workflow.parameters.n) * 2", f"string({variable})")
    with pytest.raises(PipelineError) as info:
        load_run([write(tmp_path, text)], {})
    if variable == "item":  # the loop detection names it first
        assert "uses {{item}} without a loop" in info.value.message
    else:
        assert f"{{{{=string({variable})}}}}: {variable}" in info.value.message


ENTRY = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: entry
spec:
  entrypoint: main
  arguments:
    parameters: [{name: n, value: "4"}]
  templates:
    - name: main
      inputs:
        parameters:
          - {name: next, value: "{{=asInt(workflow.parameters.n) + 1}}"}
          - {name: same, value: "n={{workflow.parameters.n}}"}
      outputs:
        parameters:
          - {name: out, valueFrom: {path: /tmp/out}}
      container:
        image: alpine
        command: [sh, -c]
        args:
          - >-
            printf '%s %s' '{{inputs.parameters.next}}' '{{inputs.parameters.same}}'
            > {{outputs.parameters.out.path}}
"""


def test_an_entrypoint_input_computed_from_workflow_values_is_resolved(tmp_path: Path) -> None:
    result = run(write(tmp_path, ENTRY), tmp_path, {"n": "9"})
    assert result.status == "Succeeded"
    assert result.tasks["main"].results == {"out": "10 n=9"}


def test_loops_over_expressions(tmp_path: Path) -> None:
    """`{{=...}}` reading `{{item}}`, and withParam lists computed at load and at run time."""
    spec = load_run([DATA / "loops.yaml"], {})
    matrices = {t.name: t.matrix for t in spec.pipeline.tasks}
    tens, filtered = matrices["tens"], matrices["filtered"]
    assert tens is not None and tens.params == {"msg": ["10", "20", "30"]}  # known at load
    assert filtered is not None and filtered.params == {"msg": ["n=3", "n=5"]}
    result = asyncio.run(run_pipeline(spec, tmp_path / "out", parallel=2))
    assert result.status == "Succeeded"
    outputs = {name: result.tasks[name].results["out"] for name in ("tens", "filtered", "runtime")}
    assert outputs == {
        "tens": ["10", "20", "30"],
        "filtered": ["n=3", "n=5"],
        "runtime": ["A!", "B!"],  # each item a string literal inside the expression
    }
