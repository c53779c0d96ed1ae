"""Tekton v1 constructs beyond the basics: into the IR, back out to Tekton and to Argo.

Each construct is read from YAML as a user writes it, checked in the IR, then emitted: the
Tekton manifest must validate against the vendored v1 schema and keep the construct, and the
Argo manifest must either validate and carry what Argo can express, or fail naming what it
cannot.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from foredeck.execute.local import run_pipeline
from foredeck.pipeline.emit_argo import emit_argo
from foredeck.pipeline.emit_tekton import emit_tekton
from foredeck.pipeline.load import load_pipeline_text
from foredeck.pipeline.model import PipelineRunSpec
from foredeck.types import PipelineError
from tests.pipeline.test_emit import argo_validator, schema_errors, tekton_validator

FILE = "v1.yaml"


def load(text: str) -> PipelineRunSpec:
    return load_pipeline_text(textwrap.dedent(text), FILE)


def load_error(text: str) -> PipelineError:
    with pytest.raises(PipelineError) as info:
        load(text)
    assert "\n" not in str(info.value)
    assert str(info.value).startswith(f"{FILE}:")
    return info.value


def tekton(run: PipelineRunSpec) -> dict[str, Any]:
    doc = emit_tekton(run)
    assert schema_errors(tekton_validator(), doc) == []
    return doc


def argo(run: PipelineRunSpec) -> dict[str, Any]:
    doc = emit_argo(run)
    assert schema_errors(argo_validator(), doc) == []
    return doc


RUN_SETTINGS = """\
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  generateName: settings-
spec:
  params:
    - name: zone
      value: eu
  taskRunTemplate:
    serviceAccountName: builder
    podTemplate:
      nodeSelector:
        disktype: ssd
      runtimeClassName: gvisor
  taskRunSpecs:
    - pipelineTaskName: build
      serviceAccountName: pusher
      timeout: 90s
      podTemplate:
        tolerations:
          - key: dedicated
            operator: Equal
            value: ci
            effect: NoSchedule
        dnsPolicy: ClusterFirst
      stepSpecs:
        - name: compile
          computeResources:
            limits: {memory: 1Gi}
      metadata:
        labels: {team: ci}
  pipelineSpec:
    params:
      - name: zone
    tasks:
      - name: build
        taskSpec:
          steps:
            - name: compile
              image: alpine
              script: echo $(params.zone)
      - name: test
        runAfter: [build]
        taskSpec:
          steps:
            - name: t
              image: alpine
              script: echo test
"""


def test_run_settings_are_carried_in_the_ir() -> None:
    run = load(RUN_SETTINGS)
    p = run.pipeline
    assert p.task_run_template is not None
    assert p.task_run_template.service_account == "builder"
    assert p.task_run_template.pod_template == {
        "nodeSelector": {"disktype": "ssd"},
        "runtimeClassName": "gvisor",
    }
    build = p.task_run_specs["build"]
    assert build.service_account == "pusher"
    assert build.step_specs == [
        {"name": "compile", "computeResources": {"limits": {"memory": "1Gi"}}}
    ]
    assert build.metadata == {"labels": {"team": "ci"}}
    assert build.fields() == [
        "serviceAccountName",
        "podTemplate",
        "stepSpecs",
        "metadata",
    ]
    # A taskRunSpecs timeout is the TaskRun's timeout: the task's, on a host too.
    assert p.tasks[0].timeout == 90
    assert run.params == {"zone": "eu"}


def test_run_settings_emit_back_to_tekton() -> None:
    spec = tekton(load(RUN_SETTINGS))["spec"]
    assert spec["taskRunTemplate"] == {
        "serviceAccountName": "builder",
        "podTemplate": {"nodeSelector": {"disktype": "ssd"}, "runtimeClassName": "gvisor"},
    }
    (entry,) = spec["taskRunSpecs"]
    assert entry["pipelineTaskName"] == "build"
    assert entry["serviceAccountName"] == "pusher"
    assert entry["timeout"] == "1m30s"
    assert entry["stepSpecs"][0]["name"] == "compile"
    assert entry["podTemplate"]["dnsPolicy"] == "ClusterFirst"
    assert spec["params"] == [{"name": "zone", "value": "eu"}]


def test_run_settings_map_to_argo_pod_fields() -> None:
    doc = argo(load(RUN_SETTINGS))
    spec = doc["spec"]
    assert spec["serviceAccountName"] == "builder"
    assert spec["nodeSelector"] == {"disktype": "ssd"}
    # No workflow-level field: the pod spec patch carries it, as Tekton's pod template does.
    assert json.loads(spec["podSpecPatch"]) == {"runtimeClassName": "gvisor"}
    templates = {t["name"]: t for t in spec["templates"]}
    build = templates["build"]
    assert build["serviceAccountName"] == "pusher"
    assert build["tolerations"][0]["key"] == "dedicated"
    assert json.loads(build["podSpecPatch"]) == {"dnsPolicy": "ClusterFirst"}
    assert build["metadata"] == {"labels": {"team": "ci"}}
    assert build["script"]["resources"] == {"limits": {"memory": "1Gi"}}
    assert "serviceAccountName" not in templates["test"]


@pytest.mark.parametrize(
    ("settings", "line", "message"),
    [
        ("taskRunSpecs:\n  - pipelineTaskName: nope", 6, "taskRunSpecs names 'nope'"),
        (
            "taskRunSpecs:\n  - serviceAccountName: x",
            6,
            "missing required field 'pipelineTaskName'",
        ),
        (
            "taskRunSpecs:\n  - {pipelineTaskName: a}\n  - {pipelineTaskName: a}",
            7,
            "'a' is given twice",
        ),
        ("taskRunTemplate:\n  computeResources: {}", 6, "unsupported field 'computeResources'"),
        (
            "taskRunSpecs:\n  - pipelineTaskName: a\n    stepSpecs: [{name: s, image: x}]",
            7,
            "unsupported field 'image'",
        ),
        ("taskRunSpecs:\n  - pipelineTaskName: a\n    podTemplate: []", 7, "must be a mapping"),
        ("workspaces:\n  - name: w\n    hostPath: /etc", 7, "unsupported field 'hostPath'"),
    ],
)
def test_bad_run_settings_name_field_and_line(settings: str, line: int, message: str) -> None:
    text = (
        "apiVersion: tekton.dev/v1\nkind: PipelineRun\nmetadata: {name: r}\nspec:\n"
        "  pipelineSpec:\n    tasks:\n"
        "      - {name: a, taskSpec: {steps: [{name: s, image: x, script: 'true'}]}}\n"
    )
    text = text.replace("spec:\n", "spec:\n" + textwrap.indent(settings, "  ") + "\n", 1)
    err = load_error(text)
    assert err.source.line == line, err
    assert message in str(err)


STEPS = """\
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: steps
spec:
  params:
    - name: dir
      default: sub
  workspaces:
    - name: shared
  tasks:
    - name: t
      params:
        - name: who
          value: world
      workspaces:
        - name: src
          workspace: shared
          subPath: $(params.dir)/src
      taskSpec:
        params:
          - name: who
        workspaces:
          - name: src
        results:
          - name: out
        stepTemplate:
          securityContext: {runAsNonRoot: true}
        steps:
          - name: may-fail
            displayName: "A step that may fail"
            image: alpine
            onError: continue
            script: exit 3
          - name: report
            image: alpine
            imagePullPolicy: IfNotPresent
            computeResources:
              requests: {cpu: 100m}
            stdoutConfig:
              path: $(results.out.path)
            stderrConfig:
              path: $(workspaces.src.path)/stderr.txt
            script: cat $(steps.step-may-fail.exitCode.path); echo $(inputs.params.who)
"""


def test_step_fields_into_the_ir() -> None:
    p = load(STEPS).pipeline
    task = p.tasks[0]
    assert task.workspace_sub_paths == {"src": "$(params.dir)/src"}
    assert task.task_spec is not None
    first, second = task.task_spec.steps
    assert first.display_name == "A step that may fail"
    assert first.on_error == "continue"
    assert first.cluster == {"securityContext": {"runAsNonRoot": True}}
    assert second.on_error == "stopAndFail"
    assert second.stdout_path == "$(results.out.path)"
    assert second.stderr_path == "$(workspaces.src.path)/stderr.txt"
    assert second.cluster == {
        "imagePullPolicy": "IfNotPresent",
        "computeResources": {"requests": {"cpu": "100m"}},
        "securityContext": {"runAsNonRoot": True},
    }
    # The legacy `$(inputs.params.x)` is Tekton's `$(params.x)`.
    assert second.script is not None and second.script.endswith("echo $(params.who)")


def test_step_fields_emit_back_to_tekton() -> None:
    pipeline_spec = tekton(load(STEPS))["spec"]["pipelineSpec"]
    (task,) = pipeline_spec["tasks"]
    assert task["workspaces"] == [
        {"name": "src", "workspace": "shared", "subPath": "$(params.dir)/src"}
    ]
    first, second = task["taskSpec"]["steps"]
    assert first["displayName"] == "A step that may fail"
    assert first["onError"] == "continue"
    assert first["securityContext"] == {"runAsNonRoot": True}
    assert second["stdoutConfig"] == {"path": "$(results.out.path)"}
    assert second["stderrConfig"] == {"path": "$(workspaces.src.path)/stderr.txt"}
    assert second["computeResources"] == {"requests": {"cpu": "100m"}}
    assert "onError" not in second


def test_what_argo_cannot_express_of_steps_is_named() -> None:
    with pytest.raises(PipelineError, match=r"onError: continue .* has no Argo form"):
        emit_argo(load(STEPS))
    no_continue = STEPS.replace("onError: continue", "onError: stopAndFail")
    with pytest.raises(PipelineError, match="stdoutConfig has no Argo form"):
        emit_argo(load(no_continue))
    plain = no_continue.replace("stdoutConfig:", "x:").replace("stderrConfig:", "y:")
    plain = "\n".join(
        line for line in plain.splitlines() if not line.strip().startswith(("x:", "y:", "path:"))
    )
    doc = argo(load(plain))
    (template,) = [t for t in doc["spec"]["templates"] if "containerSet" in t]
    mounts = template["containerSet"]["volumeMounts"]
    assert {"name": "shared", "mountPath": "/workspace/src"} | {
        "subPath": "{{workflow.parameters.dir}}/src"
    } in mounts
    containers = template["containerSet"]["containers"]
    assert containers[1]["resources"] == {"requests": {"cpu": "100m"}}
    assert containers[1]["imagePullPolicy"] == "IfNotPresent"
    assert containers[0]["securityContext"] == {"runAsNonRoot": True}


def test_pod_template_env_has_no_argo_form() -> None:
    text = RUN_SETTINGS.replace(
        "      runtimeClassName: gvisor", "      env: [{name: A, value: b}]"
    )
    with pytest.raises(PipelineError, match="podTemplate 'env'"):
        emit_argo(load(text))


PARAMS = """\
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: params
spec:
  params:
    - name: level
      enum: [debug, info]
      default: info
    - name: repo
      properties:
        url: {type: string}
        branch: {type: string}
      default: {url: u, branch: main}
  tasks:
    - name: t
      params:
        - name: mode
          value: fast
        - name: repo
          value: {url: x, branch: y}
      taskSpec:
        params:
          - name: mode
            enum: [fast, slow]
          - name: repo
            type: object
            properties:
              url: {}
              branch: {type: string}
        steps:
          - name: s
            image: alpine
            script: echo $(params.mode) $(params.repo.url) $(params.level)
"""


def test_enum_and_properties_are_kept_and_emitted() -> None:
    run = load(PARAMS)
    level, repo = run.pipeline.params
    assert level.enum == ["debug", "info"]
    assert repo.type == "object" and repo.properties == ["url", "branch"]
    spec = tekton(run)["spec"]["pipelineSpec"]
    assert spec["params"][0]["enum"] == ["debug", "info"]
    assert spec["params"][1]["properties"] == {
        "url": {"type": "string"},
        "branch": {"type": "string"},
    }
    task_params = spec["tasks"][0]["taskSpec"]["params"]
    assert task_params[0]["enum"] == ["fast", "slow"]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("value: fast", "value: turbo", "param 'mode' is 'turbo', not one of fast, slow"),
        ("value: {url: x, branch: y}", "value: {url: x}", "lacks keys branch"),
        ("      default: info", "      default: trace", "default 'trace' is not in enum"),
        (
            "            enum: [fast, slow]",
            "            enum: [fast, slow]\n            type: array",
            "'enum' needs a string param",
        ),
    ],
)
def test_enum_and_properties_are_checked(old: str, new: str, message: str) -> None:
    text = PARAMS.replace(old, new, 1)
    assert text != PARAMS
    assert message in str(load_error(text))


def test_undeclared_run_param_is_ignored_but_a_wrong_declared_one_is_an_error() -> None:
    run = load(PARAMS + "---\n" + RUN_OF_PARAMS)
    assert run.params["level"] == "debug"
    assert run.pipeline.ignored_params == ["colour"]
    bad = RUN_OF_PARAMS.replace("value: debug", "value: loud")
    assert "param 'level' is 'loud', not one of debug, info" in str(
        load_error(PARAMS + "---\n" + bad)
    )


RUN_OF_PARAMS = """\
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: r
spec:
  pipelineRef: {name: params}
  params:
    - {name: level, value: debug}
    - {name: colour, value: blue}
"""


def test_when_with_cel_beyond_the_common_forms_is_a_clear_error() -> None:
    text = """\
    apiVersion: tekton.dev/v1
    kind: Pipeline
    metadata: {name: p}
    spec:
      tasks:
        - name: a
          when:
            - cel: "'$(params.x)'.matches('^y')"
          taskSpec: {steps: [{name: s, image: x, script: 'true'}]}
    """
    err = load_error(text)
    assert err.source.line == 8
    assert 'unsupported at ".matches(' in str(err) and "foredeck supports" in str(err)


MATRIX = """\
apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: m}
spec:
  tasks:
    - name: build
      matrix:
        params:
          - name: os
            value: [linux, mac]
      taskSpec:
        params: [{name: os}]
        results: [{name: url}]
        steps: [{name: s, image: x, script: 'printf $(params.os) > $(results.url.path)'}]
    - name: count
      runAfter: [build]
      params:
        - {name: n, value: $(tasks.build.matrix.length)}
        - {name: urls, value: $(tasks.build.matrix.url.length)}
        - {name: all, value: "$(tasks.build.results.url[*])"}
      taskSpec:
        params: [{name: n}, {name: urls}, {name: all, type: array}]
        steps: [{name: s, image: x, args: ["$(params.all[*])"], script: 'echo $(params.n)'}]
"""


def test_matrix_lengths_and_aggregated_results_load_and_emit() -> None:
    run = load(MATRIX)
    assert run.pipeline.tasks[1].params["n"] == "$(tasks.build.matrix.length)"
    tekton(run)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("build.matrix.length", "count.matrix.length", "'count' is not a matrix task"),
        ("matrix.url.length", "matrix.nope.length", "declares no result 'nope'"),
        ("matrix.url.length", "matrix.url.size", "unsupported reference"),
    ],
)
def test_bad_matrix_references(old: str, new: str, message: str) -> None:
    assert message in str(load_error(MATRIX.replace(old, new)))


def test_run_workspaces_and_task_params_propagate_into_embedded_specs() -> None:
    text = """\
    apiVersion: tekton.dev/v1
    kind: PipelineRun
    metadata: {generateName: prop-}
    spec:
      workspaces:
        - name: data
          subPath: runs
          emptyDir: {}
      pipelineSpec:
        tasks:
          - name: gen
            taskSpec:
              results: [{name: list, type: array}]
              steps: [{name: s, image: x, script: "echo $(workspaces.data.path)"}]
          - name: use
            params:
              - name: items
                value: $(tasks.gen.results.list[*])
            taskSpec:
              steps: [{name: s, image: x, args: ["$(params.items[*])"], script: 'echo "$@"'}]
    """
    run = load(text)
    p = run.pipeline
    assert [w.name for w in p.workspaces] == ["data"]
    assert p.tasks[0].workspaces == {"data": "data"}
    use = p.tasks[1]
    assert use.task_spec is not None
    # Passed by the pipeline task but not declared by its spec: Tekton propagates it.
    assert [(q.name, q.type) for q in use.task_spec.params] == [("items", "array")]
    tekton(run)


def test_pipeline_task_retries_in_a_binding_is_a_constant_in_argo() -> None:
    text = """\
    apiVersion: tekton.dev/v1
    kind: Pipeline
    metadata: {name: p}
    spec:
      tasks:
        - name: a
          retries: 2
          params: [{name: r, value: "$(context.pipelineTask.retries)"}]
          taskSpec:
            params: [{name: r}]
            steps: [{name: s, image: x, script: "echo $(params.r)"}]
    """
    (task,) = argo(load(text))["spec"]["templates"][0]["dag"]["tasks"]
    assert task["arguments"]["parameters"] == [{"name": "r", "value": "2"}]


async def test_a_propagated_object_keeps_the_run_keys_the_task_does_not_give(
    tmp_path: Path,
) -> None:
    """Tekton's propagated object params (its `propagated-pipeline-object-param` example): the
    pipeline task's partial object overrides the run's keys it gives and keeps the others."""
    run = load("""\
    apiVersion: tekton.dev/v1
    kind: PipelineRun
    metadata: {generateName: objects-}
    spec:
      params:
        - name: gitrepo
          value: {url: abc.com, commit: sha123}
      pipelineSpec:
        tasks:
          - name: task1
            params:
              - name: gitrepo
                value: {branch: main, url: xyz.com}
            taskSpec:
              steps:
                - name: write
                  image: bash
                  command: [echo]
                  args: ["$(params.gitrepo.url) $(params.gitrepo.commit) $(params.gitrepo.branch)"]
    """)
    result = await run_pipeline(run, tmp_path / "out", parallel=1)
    assert result.status == "Succeeded"
    log = (tmp_path / "out" / "build-log.txt").read_text()
    assert "[task1/write] xyz.com sha123 main" in log
