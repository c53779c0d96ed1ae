"""Argo template fields given per call or per template: a deadline from an input parameter,
template-level `volumes`; each checked at load, and through Argo -> IR -> Argo."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from foredeck.execute.local import run_pipeline
from foredeck.pipeline.emit_argo import emit_argo
from foredeck.pipeline.load import load_pipeline_text
from foredeck.pipeline.model import PipelineRunSpec
from foredeck.types import PipelineError
from tests.pipeline.test_emit import argo_validator, schema_errors

TIMEOUT_PARAM = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: per-call-timeout-}
spec:
  entrypoint: main
  arguments:
    parameters: [{name: limit, value: "7s"}]
  templates:
    - name: main
      dag:
        tasks:
          - {name: a, template: sleep, arguments: {parameters: [{name: t, value: "1m30s"}]}}
          - {name: b, template: sleep, arguments: {parameters: [{name: t, value: "10s"}]}}
          - {name: c, template: sleep}
    - name: sleep
      KEY: "{{inputs.parameters.t}}"
      inputs:
        parameters: [{name: t, value: "20"}]
      container: {image: busybox, command: [sleep, "1"]}
"""


def load(text: str) -> PipelineRunSpec:
    return load_pipeline_text(text, "wf.yaml")


def emitted_again(text: str) -> dict[str, Any]:
    first = emit_argo(load(text))
    assert schema_errors(argo_validator(), first) == []
    second = emit_argo(load_pipeline_text(yaml.safe_dump(first), "emitted.yaml"))
    assert second == first
    return first


def test_a_timeout_from_an_input_is_each_calls_literal_argument() -> None:
    tasks = load(TIMEOUT_PARAM.replace("KEY", "timeout")).pipeline.tasks
    assert {t.name: t.timeout for t in tasks} == {"a": 90.0, "b": 10.0, "c": 20.0}


def test_an_active_deadline_from_an_input_is_whole_seconds() -> None:
    text = TIMEOUT_PARAM.replace("KEY", "activeDeadlineSeconds").replace('"1m30s"', '"90"')
    tasks = load(text.replace('"10s"', '"10"')).pipeline.tasks
    assert {t.name: t.timeout for t in tasks} == {"a": 90.0, "b": 10.0, "c": 20.0}
    bad = text.replace('"10s"', '"ten"')
    with pytest.raises(PipelineError, match=r"wf\.yaml:\d+: .*activeDeadlineSeconds \(t='ten'\)"):
        load(bad)


def test_a_timeout_known_only_at_run_time_is_refused_naming_the_field() -> None:
    text = TIMEOUT_PARAM.replace("KEY", "timeout").replace(
        '"10s"', '"{{workflow.parameters.limit}}"'
    )
    with pytest.raises(PipelineError, match=r"wf\.yaml:\d+: .*timeout: .*must be a literal"):
        load(text)


def test_a_timeout_from_an_input_is_emitted_back_as_the_input() -> None:
    emitted = emitted_again(TIMEOUT_PARAM.replace("KEY", "timeout"))
    sleeps = [t for t in emitted["spec"]["templates"] if "container" in t]
    assert len(sleeps) == 1  # one template, as written: not one per distinct deadline
    assert sleeps[0]["timeout"] == "{{inputs.parameters.t}}"


OWN_VOLUME = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: own-volume-}
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - {name: one, template: scratch}
          - {name: two, template: scratch}
    - name: scratch
      volumes:
        - {name: scratch, emptyDir: {}}
      containerSet:
        volumeMounts:
          - {name: scratch, mountPath: /scratch}
        containers:
          - name: write
            image: alpine
            command: [sh, -c, "test ! -e /scratch/f && echo hi > /scratch/f"]
          - name: main
            image: alpine
            dependencies: [write]
            command: [cat, /scratch/f]
"""


def test_a_template_emptydir_is_a_task_workspace_of_its_own() -> None:
    p = load(OWN_VOLUME).pipeline
    for task in p.tasks:
        spec = p.spec_of(task)
        assert spec.empty_dirs == ["scratch"]
        assert "scratch" not in task.workspaces  # no pipeline workspace shared by the calls
    assert "scratch" not in {w.name for w in p.workspaces}


def test_a_template_emptydir_is_fresh_for_each_call(tmp_path: Path) -> None:
    spec = load(OWN_VOLUME)
    result = asyncio.run(run_pipeline(spec, tmp_path / "out", parallel=1))
    assert result.status == "Succeeded"  # the second call did not see the first one's file
    assert {t.results.get("stdout", "hi\\n") for t in result.tasks.values()} == {"hi\\n"}


def test_a_template_emptydir_is_emitted_back_on_its_template() -> None:
    emitted = emitted_again(OWN_VOLUME)
    (scratch,) = [t for t in emitted["spec"]["templates"] if "containerSet" in t]
    assert {"name": "scratch", "emptyDir": {}} in scratch["volumes"]
    assert scratch["containerSet"]["volumeMounts"][0]["name"] == "scratch"
    assert "volumes" not in emitted["spec"]


def test_other_template_volumes_are_refused_naming_the_field() -> None:
    text = OWN_VOLUME.replace(
        "{name: scratch, emptyDir: {}}", "{name: scratch, hostPath: {path: /}}"
    )
    with pytest.raises(PipelineError, match=r"wf\.yaml:\d+: .*`volumes` is not supported"):
        load(text)
