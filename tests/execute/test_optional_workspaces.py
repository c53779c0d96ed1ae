"""A PipelineRun's workspace bindings locally: an optional workspace it binds nothing to is
unbound in the tasks given it (`$(workspaces.W.bound)` false, `.path` empty, in a pipeline's
`when` too) unless `--workspace` binds it; one bound to a ConfigMap of the input holds that
ConfigMap's keys as files. The emitted PipelineRun binds them as the run did."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from foredeck.execute.local import run_pipeline
from foredeck.execute.runstate import RunResult
from foredeck.pipeline.emit import emit
from foredeck.pipeline.load import load_pipeline_text
from foredeck.types import PipelineError
from tests.execute.helpers import task_log
from tests.pipeline.test_emit import schema_errors, tekton_validator

RUN = """\
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: opt}
spec:
  workspaces:
    - {name: given, emptyDir: {}}
  pipelineSpec:
    workspaces:
      - {name: given, optional: true}
      - {name: cache, optional: true}
    tasks:
      - name: without-cache
        when: [{input: "$(workspaces.cache.bound)", operator: in, values: ["false"]}]
        workspaces: [{name: cache, workspace: cache}, {name: given, workspace: given}]
        taskSpec:
          workspaces: [{name: cache, optional: true}, {name: given, optional: true}]
          steps:
            - name: s
              image: busybox
              script: |
                echo "cache=$(workspaces.cache.bound) path=[$(workspaces.cache.path)]"
                echo "given=$(workspaces.given.bound)"
      - name: with-cache
        when: [{input: "$(workspaces.cache.bound)", operator: in, values: ["true"]}]
        taskSpec:
          steps: [{name: s, image: busybox, script: "echo cached"}]
"""


def run(tmp_path: Path, **bindings: Path) -> RunResult:
    spec = load_pipeline_text(RUN, "run.yaml")
    return asyncio.run(run_pipeline(spec, tmp_path / "out", workspaces=dict(bindings)))


def test_an_optional_workspace_the_run_does_not_bind_is_unbound(tmp_path: Path) -> None:
    result = run(tmp_path)
    assert result.status == "Succeeded"
    assert result.tasks["without-cache"].status == "Succeeded"
    assert result.tasks["with-cache"].status == "Skipped"
    log = task_log(tmp_path / "out", "without-cache")
    assert "cache=false path=[]" in log and "given=true" in log


def test_a_workspace_bound_by_the_caller_is_bound(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    result = run(tmp_path, cache=cache)
    assert result.tasks["without-cache"].status == "Skipped"
    assert result.tasks["with-cache"].status == "Succeeded"


def test_the_emitted_pipeline_run_binds_only_what_the_run_bound() -> None:
    spec = load_pipeline_text(RUN, "run.yaml")
    doc = yaml.safe_load(emit(spec, "tekton"))
    assert schema_errors(tekton_validator(), doc) == []
    assert [w["name"] for w in doc["spec"]["workspaces"]] == ["given"]
    again = load_pipeline_text(emit(spec, "tekton"), "again.yaml")
    assert again.pipeline.unbound_workspaces == {"cache"}


CONFIG_MAP_RUN = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: motd}
data:
  morning: "Hello, good morning!"
  evening: "Hello, good evening!"
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: cm}
spec:
  workspaces:
    - {name: all, configMap: {name: motd}}
    - name: some
      configMap:
        name: motd
        items: [{key: evening, path: nested/late.txt}]
    - {name: none, configMap: {name: absent, optional: true}}
  pipelineSpec:
    workspaces: [{name: all}, {name: some}, {name: none}]
    tasks:
      - name: read
        workspaces:
          - {name: all, workspace: all}
          - {name: some, workspace: some}
          - {name: none, workspace: none}
        taskSpec:
          workspaces: [{name: all}, {name: some}, {name: none}]
          steps:
            - name: s
              image: busybox
              script: |
                cd "$(workspaces.all.path)" && ls && cat morning && echo
                cat "$(workspaces.some.path)/nested/late.txt" && echo
                ls "$(workspaces.some.path)"
                echo "none holds $(ls "$(workspaces.none.path)" | wc -l)"
"""


def test_a_workspace_bound_to_a_config_map_of_the_input_holds_its_keys(tmp_path: Path) -> None:
    spec = load_pipeline_text(CONFIG_MAP_RUN, "cm.yaml")
    result = asyncio.run(run_pipeline(spec, tmp_path / "out"))
    log = task_log(tmp_path / "out", "read")
    assert result.status == "Succeeded", log
    lines = [line.rsplit("] ", 1)[-1] for line in log.splitlines()]
    assert lines[lines.index("evening") + 1 : lines.index("evening") + 3] == [
        "morning",
        "Hello, good morning!",
    ]
    assert "Hello, good evening!" in lines and "nested" in lines and "none holds 0" in lines
    docs = list(yaml.safe_load_all(emit(spec, "tekton")))
    assert [d["kind"] for d in docs] == ["ConfigMap", "PipelineRun"]  # passed through, first
    assert schema_errors(tekton_validator(), docs[1]) == []
    bound = {w["name"]: w for w in docs[1]["spec"]["workspaces"]}
    assert bound["some"]["configMap"]["items"] == [{"key": "evening", "path": "nested/late.txt"}]


def test_a_config_map_workspace_needs_its_config_map_in_the_input(tmp_path: Path) -> None:
    """A cluster may hold the ConfigMap: it loads and emits; a host run refuses to start."""
    gone = CONFIG_MAP_RUN.replace(
        "{name: all, configMap: {name: motd}}", "{name: all, configMap: {name: gone}}"
    )
    noon = CONFIG_MAP_RUN.replace("key: evening", "key: noon")
    cases = [
        (gone, r"cm\.yaml:\d+: workspace 'all' is bound to ConfigMap 'gone', which is not among"),
        (noon, r"cm\.yaml:\d+: workspace 'some': ConfigMap 'motd' has no \['noon'\]"),
    ]
    for index, (text, error) in enumerate(cases):
        out = tmp_path / f"out-{index}"
        spec = load_pipeline_text(text, "cm.yaml")
        assert "configMap" in emit(spec, "tekton")
        with pytest.raises(PipelineError, match=error):
            asyncio.run(run_pipeline(spec, out))
        assert not list(out.glob("tasks/*"))  # no task started
    text = CONFIG_MAP_RUN.replace("path: nested/late.txt", "path: ../late.txt")
    with pytest.raises(PipelineError, match=r"path '\.\./late\.txt' must be relative"):
        load_pipeline_text(text, "cm.yaml")
