"""Validation reports every problem of a file in one pass, each with its file:line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from foredeck.pipeline.errors import PipelineErrors, each_error
from foredeck.pipeline.load import load_pipeline_text, load_run
from foredeck.types import PipelineError
from tests.child import child_env
from tests.config.helpers import load_text, messages

# Three mistakes: a step reads an undeclared param, a task passes a param its task does not
# declare, and a finally task runs after another task.
THREE = """\
apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: p}
spec:
  tasks:
  - name: build
    taskSpec:
      steps:
      - {name: s, image: alpine, script: "echo $(params.nope)"}
  - name: test
    params: [{name: extra, value: x}]
    taskSpec:
      steps:
      - {name: s, image: alpine, script: "true"}
  finally:
  - name: report
    runAfter: [build]
    taskSpec:
      steps:
      - {name: s, image: alpine, script: "true"}
"""


def test_a_file_with_three_mistakes_reports_three_lines() -> None:
    with pytest.raises(PipelineErrors) as info:
        load_pipeline_text(THREE, "p.yaml")
    assert str(info.value).splitlines() == [
        "p.yaml:9: task 'build' step 's': $(params.nope) refers to a param task 'build' does"
        " not declare",
        "p.yaml:16: finally task 'report' cannot use runAfter",
        "p.yaml:10: task 'test' passes param 'extra', which task 'test' does not declare",
    ]
    # Still a PipelineError: its source and message are the first problem's.
    error: PipelineError = info.value
    assert (str(error.source), error.message.startswith("task 'build'")) == ("p.yaml:9", True)
    assert [str(e.source) for e in each_error(error)] == ["p.yaml:9", "p.yaml:16", "p.yaml:10"]


def test_one_mistake_is_one_plain_error() -> None:
    one = THREE.replace("$(params.nope)", "hi").replace("    runAfter: [build]\n", "")
    with pytest.raises(PipelineError) as info:
        load_pipeline_text(one, "p.yaml")
    assert not isinstance(info.value, PipelineErrors)
    assert [str(e) for e in each_error(info.value)] == [str(info.value)]


def test_every_bad_reference_of_a_step_and_each_bad_binding() -> None:
    text = THREE.replace("echo $(params.nope)", "echo $(params.a) $(results.r.path) $(params.b)")
    with pytest.raises(PipelineErrors) as info:
        load_pipeline_text(text, "p.yaml")
    lines = str(info.value).splitlines()
    assert len(lines) == 5
    assert [line.split(": ", 2)[2] for line in lines[:3]] == [
        "$(params.a) refers to a param task 'build' does not declare",
        "$(results.r.path) refers to undeclared result 'r'",
        "$(params.b) refers to a param task 'build' does not declare",
    ]


def test_an_unknown_task_ref_is_reported_once() -> None:
    inline = '    taskSpec:\n      steps:\n      - {name: s, image: alpine, script: "true"}\n'
    text = THREE.replace(inline + "  finally", "    taskRef: {name: missing}\n  finally")
    with pytest.raises(PipelineErrors) as info:
        load_pipeline_text(text, "p.yaml")
    assert sum("unknown taskRef 'missing'" in line for line in str(info.value).splitlines()) == 1
    assert "passes param 'extra'" not in str(info.value)  # its bindings cannot be judged


def test_a_cycle_stops_the_checks_that_need_an_order() -> None:
    text = """\
apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: p}
spec:
  params: [{name: p, default: x}, {name: p, default: y}]
  tasks:
  - {name: a, runAfter: [b], taskSpec: {steps: [{name: s, image: i, script: "true"}]}}
  - {name: b, runAfter: [a], taskSpec: {steps: [{name: s, image: i, script: "true"}]}}
"""
    with pytest.raises(PipelineErrors) as info:
        load_pipeline_text(text, "p.yaml")
    assert str(info.value).splitlines() == [
        "p.yaml:5: duplicate pipeline param 'p'",
        "p.yaml:7: dependency cycle: a -> b -> a",
    ]


def test_foredeck_run_prints_each_error_on_its_own_line(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(THREE, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "foredeck.cli", "run", str(path)],
        cwd=tmp_path,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == [f"{path}:9", f"{path}:16", f"{path}:10"]
    with pytest.raises(PipelineErrors):
        load_run([path])


def test_config_check_lists_each_error_of_an_inline_pipeline(tmp_path: Path) -> None:
    indented = "".join(f"      {line}\n" for line in THREE.splitlines())
    job = "presubmits:\n  org/repo:\n  - name: j\n    always_run: true\n    pipeline: |\n"
    config = job + indented
    result = load_text(tmp_path, config)
    path = tmp_path / "jobs.yaml"
    assert messages(result) == [  # the config's errors are listed by file and line
        f"{path}:14: job j: pipeline: task 'build' step 's': $(params.nope) refers to a param"
        " task 'build' does not declare",
        f"{path}:15: job j: pipeline: task 'test' passes param 'extra', which task 'test' does"
        " not declare",
        f"{path}:21: job j: pipeline: finally task 'report' cannot use runAfter",
    ]
