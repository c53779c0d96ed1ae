"""Argo artifacts in the IR: what loads, what is refused (with file:line), and the emitters."""

from __future__ import annotations

import pytest

from foredeck.pipeline.artifacts import IN_STEP, OUT_STEP, REPOSITORY
from foredeck.pipeline.emit_argo import emit_argo
from foredeck.pipeline.emit_tekton import emit_tekton
from foredeck.pipeline.load import load_pipeline_text
from foredeck.pipeline.model import PipelineRunSpec
from foredeck.types import PipelineError
from tests.pipeline.test_emit import argo_validator, schema_errors, tekton_validator

HEAD = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: arts}
spec:
  entrypoint: main
"""

WF = (
    HEAD
    + """\
  arguments:
    artifacts:
      - name: tool
        http: {url: "https://example.com/tool"}
  templates:
    - name: main
      inputs:
        artifacts:
          - {name: tool}
      dag:
        tasks:
          - name: make
            template: make
          - name: use
            depends: make
            template: use
            arguments:
              artifacts:
                - {name: in, from: "{{tasks.make.outputs.artifacts.out}}", subPath: a.txt}
                - {name: raw, raw: {data: "inline"}}
                - {name: tool, from: "{{inputs.artifacts.tool}}"}
      outputs:
        artifacts:
          - {name: final, from: "{{tasks.make.outputs.artifacts.out}}"}
    - name: make
      container:
        image: busybox
        command: [sh, -c, "mkdir -p /mnt/out && echo a > /mnt/out/a.txt"]
      outputs:
        artifacts:
          - name: out
            path: /mnt/out
            archive: {none: {}}
          - name: keyed
            path: /tmp/keyed.txt
            optional: true
            s3: {key: "{{workflow.name}}/keyed.txt"}
    - name: use
      inputs:
        artifacts:
          - {name: in, path: /tmp/in.txt}
          - {name: raw, path: /tmp/raw.txt}
          - {name: tool, path: /usr/local/bin/tool, mode: 0755}
          - {name: maybe, path: /tmp/maybe, optional: true}
      container:
        image: busybox
        command: [sh, -c, "cat {{inputs.artifacts.in.path}} /tmp/raw.txt"]
"""
)


def load(text: str) -> PipelineRunSpec:
    return load_pipeline_text(text, "wf.yaml")


def test_artifacts_load_as_declarations_locators_and_steps() -> None:
    run = load(WF)
    p = run.pipeline
    assert REPOSITORY in {w.name for w in p.workspaces}
    make = p.spec_of(p.tasks[0])
    assert [(a.name, a.direction, a.archive, a.optional) for a in make.artifacts] == [
        ("out", "output", "none", False),
        ("keyed", "output", "tgz", True),
    ]
    assert [s.name for s in make.steps] == [IN_STEP, "main", OUT_STEP]
    assert "argo-artifact-out" in {r.name for r in make.results}
    main = make.steps[1]
    assert main.command[-1].endswith("/.pods/$(context.taskRun.name)/mnt/out/a.txt")
    out_env = make.steps[2].env
    assert out_env["ARGO_ARTIFACT_1_KEY"] == "$(context.pipelineRun.name)/keyed.txt"
    use = p.tasks[1]
    assert use.params["argo-artifact-in"] == "$(tasks.make.results.argo-artifact-out)/a.txt"
    assert use.params["argo-artifact-raw"] == "raw:inline"
    spec = p.spec_of(use)
    defaults = {q.name: q.default for q in spec.params}
    assert defaults["argo-artifact-maybe"] == ""  # optional: empty locator
    assert defaults["argo-artifact-in"] is None
    assert {q.name: q.default for q in p.params}["argo-artifact-tool"] == (
        "url:https://example.com/tool"
    )
    assert [r.name for r in p.results] == ["argo-artifact-final"]


def test_emitted_argo_keeps_the_artifacts_and_validates() -> None:
    doc = emit_argo(load(WF))
    assert schema_errors(argo_validator(), doc) == []
    spec = doc["spec"]
    assert "volumeClaimTemplates" not in spec  # the repository is Argo's own
    assert spec["arguments"] == {
        "artifacts": [{"name": "tool", "http": {"url": "https://example.com/tool"}}]
    }
    templates = {t["name"]: t for t in spec["templates"]}
    entry = templates[spec["entrypoint"]]
    assert entry["inputs"] == {"artifacts": [{"name": "tool"}]}
    assert entry["outputs"] == {
        "artifacts": [{"name": "final", "from": "{{tasks.make.outputs.artifacts.out}}"}]
    }
    use_call = entry["dag"]["tasks"][1]
    assert use_call["arguments"]["artifacts"] == [
        {"name": "in", "from": "{{tasks.make.outputs.artifacts.out}}", "subPath": "a.txt"},
        {"name": "raw", "raw": {"data": "inline"}},
        {"name": "tool", "from": "{{inputs.artifacts.tool}}"},
    ]
    make = templates[use_call["template"].replace("use", "make")]
    assert make["container"]["command"] == [
        "sh",
        "-c",
        "mkdir -p /mnt/out && echo a > /mnt/out/a.txt",
    ]
    assert make["outputs"]["artifacts"][0] == {
        "name": "out",
        "path": "/mnt/out",
        "archive": {"none": {}},
    }
    assert make["outputs"]["artifacts"][1]["s3"] == {"key": "{{workflow.name}}/keyed.txt"}
    assert "parameters" not in make.get("outputs", {})
    use = templates[use_call["template"]]
    assert use["container"]["command"][-1] == "cat /tmp/in.txt /tmp/raw.txt"
    assert use["inputs"]["artifacts"][2] == {
        "name": "tool",
        "path": "/usr/local/bin/tool",
        "mode": 0o755,
    }
    assert "volumeMounts" not in use["container"]


def test_argo_round_trip_keeps_the_artifacts() -> None:
    import yaml

    first = emit_argo(load(WF))
    second = emit_argo(load(yaml.safe_dump(first, sort_keys=False)))
    assert second == first


def test_emitted_tekton_shares_the_repository_as_a_workspace() -> None:
    text = WF.split("  arguments:\n")[0] + "  templates:" + WF.split("  templates:", 1)[1]
    text = text.replace('                - {name: tool, from: "{{inputs.artifacts.tool}}"}\n', "")
    text = text.replace("      inputs:\n        artifacts:\n          - {name: tool}\n", "", 1)
    text = text.replace("          - {name: tool, path: /usr/local/bin/tool, mode: 0755}\n", "")
    doc = emit_tekton(load(text))
    assert schema_errors(tekton_validator(), doc) == []
    assert REPOSITORY in {w["name"] for w in doc["spec"]["pipelineSpec"]["workspaces"]}


@pytest.mark.parametrize(
    ("fragment", "message"),
    [
        ("{name: a, path: tmp/x}", "wf.yaml:14: template 'leaf' outputs.artifacts 'a': needs an"),
        ("{name: a, path: /x, archive: {zip: {}}}", "`zip` is not supported"),
        ("{name: a, path: /x, s3: {key: k}, raw: {data: d}}", "more than one location"),
        ("{name: a, path: /x, globalName: g, fromExpression: x}", "`fromExpression` is not"),
    ],
)
def test_bad_artifacts_are_refused_with_their_line(fragment: str, message: str) -> None:
    text = (
        HEAD
        + """\
  templates:
    - name: main
      steps:
        - - {name: one, template: leaf}
    - name: leaf
      container: {image: busybox, command: [sh, -c, "true"]}
      outputs:
        artifacts:
          - FRAGMENT
""".replace("FRAGMENT", fragment)
    )
    with pytest.raises(PipelineError) as exc:
        load(text)
    assert message in str(exc.value)


def test_a_dag_output_artifact_expression_over_a_missing_artifact_is_refused() -> None:
    text = (
        HEAD
        + """\
  templates:
    - name: main
      dag:
        tasks:
          - {name: one, template: leaf}
      outputs:
        artifacts:
          - {name: r, fromExpression: "tasks.one.outputs.artifacts.a"}
    - name: leaf
      container: {image: busybox, command: [sh, -c, "true"]}
"""
    )
    with pytest.raises(PipelineError, match=r"wf.yaml:\d+: .*'one' has no output artifact 'a'"):
        load(text)


def test_an_artifact_of_an_unknown_node_output_is_refused() -> None:
    text = WF.replace('outputs.artifacts.out}}", subPath', 'outputs.artifacts.nope}}", subPath')
    with pytest.raises(PipelineError, match="'make' has no output artifact 'nope'"):
        load(text)


def test_a_call_without_a_required_input_artifact_names_it() -> None:
    text = WF.replace('                - {name: raw, raw: {data: "inline"}}\n', "")
    with pytest.raises(PipelineError, match="input artifact 'raw' of template 'use' has no value"):
        load(text)


def test_an_artifact_repository_ref_is_kept_for_argo() -> None:
    text = HEAD + (
        "  artifactRepositoryRef: {configMap: repos, key: my-key}\n"
        "  templates:\n"
        "    - name: main\n"
        "      container: {image: busybox, command: [sh, -c, 'echo hi > /tmp/f']}\n"
        "      outputs: {artifacts: [{name: f, path: /tmp/f}]}\n"
    )
    run = load(text)
    assert run.pipeline.artifact_repository_ref == {"configMap": "repos", "key": "my-key"}
    doc = emit_argo(run)
    assert doc["spec"]["artifactRepositoryRef"] == {"configMap": "repos", "key": "my-key"}
    assert schema_errors(argo_validator(), doc) == []
    with pytest.raises(PipelineError, match=r"wf\.yaml:6: spec\.artifactRepositoryRef: `bucket`"):
        load(text.replace("configMap: repos", "bucket: b"))
