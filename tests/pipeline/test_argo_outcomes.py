"""Argo workflows that run after failures and read stdout, end to end: load, run on this
machine, and emit back (`tests/data/argo/outcomes/README.md` says where each file is from).

Each run ends as Argo decides: a task a `depends` predicate rules out is Omitted (Skipped here,
with the predicate as its reason); a failure fails the workflow only when it reaches a leaf of
the dag (or a steps group) that does not continue on it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from foredeck.execute.local import run_pipeline
from foredeck.execute.runstate import RunResult
from foredeck.pipeline.emit import emit
from foredeck.pipeline.emit_argo import emit_argo
from foredeck.pipeline.emit_tekton import emit_tekton
from foredeck.pipeline.load import load_pipeline_text, load_run
from foredeck.pipeline.model import ParamValue
from foredeck.pipeline.predicates import render
from foredeck.types import PipelineError
from tests.pipeline.test_argo_roundtrip import normal_form
from tests.pipeline.test_emit import argo_validator, schema_errors

DATA = Path(__file__).resolve().parents[1] / "data" / "argo" / "outcomes"
SAMPLES = sorted(DATA.glob("*.yaml"))

pytestmark = pytest.mark.timeout(60)


def run(name: str, tmp_path: Path, params: dict[str, ParamValue] | None = None) -> RunResult:
    spec = load_run([DATA / name], params or {})
    return asyncio.run(run_pipeline(spec, tmp_path / "out", parallel=2))


def statuses(result: RunResult) -> dict[str, str]:
    return {name: task.status for name, task in result.tasks.items()}


def test_dag_continue_on_fail(tmp_path: Path) -> None:
    result = run("dag-continue-on-fail.yaml", tmp_path)
    assert statuses(result) == {
        "A": "Succeeded",
        "B": "Failed",
        "C": "Succeeded",
        "D": "Succeeded",  # B.Failed && C
        "E": "Failed",
        "F": "Succeeded",
        "G": "Skipped",  # E && F: Omitted
    }
    assert result.tasks["G"].reason.startswith("depends `E && F` is false")
    # E's failure reaches the leaf G, which did not run: the workflow fails (expected-failure)
    assert result.status == "Failed"


def test_steps_continue_on_fail(tmp_path: Path) -> None:
    result = run("continue-on-fail.yaml", tmp_path)
    assert statuses(result) == {"A": "Succeeded", "B": "Succeeded", "C": "Failed", "D": "Succeeded"}
    # a steps group whose only failure is a continueOn one succeeds, and so does the workflow
    assert result.status == "Succeeded"


def test_enhanced_depends(tmp_path: Path) -> None:
    result = run("enhanced-depends.yaml", tmp_path)
    assert statuses(result) == {
        "pass": "Succeeded",
        "fail": "Failed",
        "on-failure": "Succeeded",
        "never": "Skipped",
        "not-succeeded": "Succeeded",
        "after-never": "Succeeded",
        "plain": "Succeeded",
    }
    assert "pass Succeeded, fail Failed" in result.tasks["never"].reason
    # every failure was followed by a task that ran: no leaf failed
    assert result.status == "Succeeded"


@pytest.mark.parametrize("coin", ["heads", "tails"])
def test_coinflip_result_decides_the_branch(tmp_path: Path, coin: str) -> None:
    result = run("coinflip-result.yaml", tmp_path, {"coin": coin})
    assert result.status == "Succeeded"
    assert result.tasks["flip-coin"].results == {"result": coin}  # stdout only, no stderr
    other = "tails" if coin == "heads" else "heads"
    assert result.tasks[coin].status == "Succeeded"
    assert result.tasks[other].status == "Skipped"


def test_exit_code_of_a_failed_step(tmp_path: Path) -> None:
    result = run("exit-code-output.yaml", tmp_path)
    assert statuses(result) == {"failing": "Failed", "report": "Succeeded"}
    assert result.results == {"code": "3/3"}
    assert result.status == "Succeeded"


def test_scripts_results(tmp_path: Path) -> None:
    result = run("scripts-results.yaml", tmp_path)
    assert result.status == "Succeeded"
    assert result.results == {"sum": "141"}


def test_container_set_main_container_stdout(tmp_path: Path) -> None:
    result = run("container-set-outputs-result.yaml", tmp_path)
    assert statuses(result) == {"a": "Succeeded", "b": "Succeeded"}
    assert result.tasks["a"].results == {"result": "hi"}


def test_with_param_over_a_stdout_result(tmp_path: Path) -> None:
    result = run("loop-over-result.yaml", tmp_path)
    assert result.status == "Succeeded"
    assert result.tasks["generate"].results == {"result": "[1, 4, 9]"}
    assert [result.tasks[f"each[{i}]"].params for i in range(3)] == [
        {"value": "1"},
        {"value": "4"},
        {"value": "9"},
    ]


NESTED = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: nested}
spec:
  entrypoint: main
  templates:
    - name: main
      dag:
        tasks:
          - {name: a, template: boom}
          - {name: g, template: pair, depends: "a.Failed"}
          - {name: h, template: ok, depends: "DEPENDS"}
    - name: pair
      dag:
        tasks:
          - {name: x, template: ok}
          - {name: y, template: ok, depends: x}
    - name: ok
      container: {image: alpine, command: [echo, ok]}
    - name: boom
      container: {image: alpine, command: [sh, -c, "exit 2"]}
"""


def test_a_nested_call_takes_its_callers_predicate(tmp_path: Path) -> None:
    spec = load_pipeline_text(NESTED.replace("DEPENDS", "g"), "nested.yaml")
    by_name = {t.name: t for t in spec.pipeline.tasks}
    assert by_name["g-x"].depends is not None and render(by_name["g-x"].depends) == "a.Failed"
    h = by_name["h"].depends
    assert h is not None and render(h) == "g-y"  # `g` is done when the task it ends with is
    result = asyncio.run(run_pipeline(spec, tmp_path / "out", parallel=2))
    assert statuses(result) == {
        "a": "Failed",
        "g-x": "Succeeded",
        "g-y": "Succeeded",
        "h": "Succeeded",
    }
    assert result.status == "Succeeded"


def test_other_results_of_a_nested_call_are_refused() -> None:
    text = NESTED.replace("DEPENDS", "g.Failed")
    with pytest.raises(PipelineError) as info:
        load_pipeline_text(text, "nested.yaml")
    assert "`g.Failed` of a nested dag/steps call is not supported" in str(info.value)
    assert str(info.value).startswith("nested.yaml:12:")


# --- the IR they load into, and back out -------------------------------------------------------


def test_continue_on_and_depends_in_the_ir() -> None:
    p = load_run([DATA / "dag-continue-on-fail.yaml"]).pipeline
    by_name = {t.name: t for t in p.tasks}
    assert p.failure_policy == "continue"
    depends = by_name["D"].depends
    assert depends is not None and render(depends) == "B.Failed && C"
    steps = {t.name: t for t in load_run([DATA / "continue-on-fail.yaml"]).pipeline.tasks}
    assert steps["C"].continue_on == frozenset({"Failed"})
    assert steps["D"].run_after == ["B", "C"] and steps["D"].depends is None


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_argo_round_trip_keeps_structure_and_validates(path: Path) -> None:
    run_spec = load_run([path])
    manifest = emit_argo(run_spec)
    assert schema_errors(argo_validator(), manifest) == []
    back = load_pipeline_text(emit(run_spec, "argo"), "emitted-argo.yaml")
    assert normal_form(back) == normal_form(run_spec)
    assert emit(back, "argo") == emit(run_spec, "argo")


def test_argo_emits_depends_continue_on_and_result_references() -> None:
    manifest: dict[str, Any] = emit_argo(load_run([DATA / "exit-code-output.yaml"]))
    tasks = {t["name"]: t for t in manifest["spec"]["templates"][0]["dag"]["tasks"]}
    assert tasks["failing"]["continueOn"] == {"failed": True}
    assert tasks["report"]["arguments"]["parameters"][0]["value"] == (
        "{{tasks.failing.exitCode}}/{{tasks.failing.exitCode}}"
    )
    outputs = manifest["spec"]["templates"][0]["outputs"]["parameters"]
    reference = "{{tasks.report.outputs.result}}"
    assert outputs == [{"name": "code", "valueFrom": {"parameter": reference}}]
    emitted = emit_argo(load_run([DATA / "enhanced-depends.yaml"]))
    dag = {t["name"]: t for t in emitted["spec"]["templates"][0]["dag"]["tasks"]}
    assert dag["after-never"]["depends"] == "(never.Omitted || never.Skipped) && !on-failure.Failed"
    assert dag["plain"]["depends"] == "pass"


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("dag-continue-on-fail.yaml", "task 'D': depends `B.Failed && C`: Tekton runs a task"),
        ("continue-on-fail.yaml", "task 'C': `continueOn` of some failures only"),
        ("exit-code-output.yaml", "`continueOn`"),
        ("enhanced-depends.yaml", "task 'on-failure': depends `pass.Succeeded && fail.Failed`"),
    ],
)
def test_tekton_names_what_it_cannot_express(name: str, why: str) -> None:
    with pytest.raises(PipelineError) as info:
        emit_tekton(load_run([DATA / name]))
    assert why in str(info.value)
    assert str(info.value).startswith(str(DATA / name) + ":")


def test_tekton_reads_stdout_through_stdout_config() -> None:
    manifest = emit_tekton(load_run([DATA / "scripts-results.yaml"]))
    tasks = {t["name"]: t for t in manifest["spec"]["pipelineSpec"]["tasks"]}
    step = tasks["bash-number"]["taskSpec"]["steps"][0]
    assert step["stdoutConfig"] == {"path": "$(results.result.path)"}
    assert tasks["bash-number"]["taskSpec"]["results"] == [{"name": "result"}]
    # exit codes nobody reads are not declared
    assert tasks["sum"]["params"] == [
        {"name": "a", "value": "$(tasks.bash-number.results.result)"},
        {"name": "b", "value": "$(tasks.python-number.results.result)"},
    ]
