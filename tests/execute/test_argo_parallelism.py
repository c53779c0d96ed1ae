"""Argo `parallelism` on a host: a dag/steps template runs at most that many of its children at
once (a looped item, a nested call each count one), `spec.parallelism` bounds the whole run;
both are written back to Argo, and Tekton refuses them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from foredeck.execute.local import run_pipeline
from foredeck.execute.runstate import RunResult
from foredeck.pipeline.emit_argo import emit_argo
from foredeck.pipeline.emit_tekton import emit_tekton
from foredeck.pipeline.load import load_pipeline_text
from foredeck.types import PipelineError
from tests.pipeline.test_emit import argo_validator, schema_errors

pytestmark = pytest.mark.timeout(60)

WORKFLOW = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: par-}
spec:
  entrypoint: main
  templates:
    - name: main
      parallelism: 2
      steps:
        - - name: fan
            template: work
            withSequence: {count: "5"}
        - - name: inner
            template: inner
    - name: inner
      parallelism: 1
      steps:
        - - {name: a, template: work}
          - {name: b, template: work}
          - {name: c, template: work}
    - name: work
      container: {image: busybox, command: [sleep, "0.2"]}
"""


def most_at_once(result: RunResult, names: list[str]) -> int:
    """The most of `names` whose [started, finished] intervals overlap at one moment."""
    events = []
    for name in names:
        task = result.tasks[name]
        assert task.started is not None and task.finished is not None
        events += [(task.started, 1), (task.finished, -1)]
    running = peak = 0
    for _, change in sorted(events, key=lambda e: (e[0], e[1])):  # an end before a start
        running += change
        peak = max(peak, running)
    return peak


def run(text: str, tmp_path: Path) -> RunResult:
    spec = load_pipeline_text(text, "wf.yaml")
    return asyncio.run(run_pipeline(spec, tmp_path / "out", parallel=8))


def test_template_parallelism_bounds_its_children(tmp_path: Path) -> None:
    result = run(WORKFLOW, tmp_path)
    assert result.status == "Succeeded"
    assert most_at_once(result, [f"fan[{i}]" for i in range(5)]) <= 2
    assert most_at_once(result, ["inner.a", "inner.b", "inner.c"]) == 1


def test_spec_parallelism_bounds_the_whole_run(tmp_path: Path) -> None:
    text = WORKFLOW.replace("      parallelism: 2\n", "").replace("      parallelism: 1\n", "")
    text = text.replace("  entrypoint: main\n", "  entrypoint: main\n  parallelism: 1\n")
    result = run(text, tmp_path)
    assert result.status == "Succeeded"
    leaves = [f"fan[{i}]" for i in range(5)] + ["inner-a", "inner-b", "inner-c"]
    assert most_at_once(result, leaves) == 1


def test_parallelism_is_emitted_back_and_tekton_refuses_it() -> None:
    text = WORKFLOW.replace("  entrypoint: main\n", "  entrypoint: main\n  parallelism: 3\n")
    spec = load_pipeline_text(text, "wf.yaml")
    emitted = emit_argo(spec)
    assert schema_errors(argo_validator(), emitted) == []
    assert emitted["spec"]["parallelism"] == 3
    templates = {t["name"]: t for t in emitted["spec"]["templates"]}
    assert templates["main"]["parallelism"] == 2
    assert templates["inner"]["parallelism"] == 1
    assert emit_argo(load_pipeline_text(yaml.safe_dump(emitted), "back.yaml")) == emitted
    plain = "  entrypoint: main\n  parallelism: 2\n  templates:\n    - name: main\n"
    plain += "      container: {image: busybox, command: [true]}\n"
    flat = WORKFLOW[: WORKFLOW.index("  entrypoint")] + plain
    with pytest.raises(PipelineError, match=r"parallelism \(2 at once\) has no Tekton equal"):
        emit_tekton(load_pipeline_text(flat, "wf.yaml"))


def test_a_bad_parallelism_is_a_load_error() -> None:
    with pytest.raises(PipelineError, match=r"wf\.yaml:\d+: .*at least 1"):
        load_pipeline_text(WORKFLOW.replace("parallelism: 2", "parallelism: 0"), "wf.yaml")
