"""Argo pod-level fields, templateDefaults, sidecars, init containers and containerSet DAGs:
loaded into the IR, run on a host where that means something, emitted back to Argo (and to
Tekton where it has a form) and read back the same.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from foredeck.execute.host_notes import host_notes
from foredeck.execute.local import run_pipeline
from foredeck.execute.runstate import RunResult
from foredeck.pipeline.emit_argo import emit_argo
from foredeck.pipeline.emit_tekton import emit_tekton
from foredeck.pipeline.load import load_pipeline_text, load_run
from foredeck.pipeline.model import Pipeline, PipelineRunSpec, TaskSpec
from foredeck.types import PipelineError
from tests.execute.helpers import task_log
from tests.pipeline.test_emit import argo_validator, schema_errors, tekton_validator

DATA = Path(__file__).resolve().parents[1] / "data"
POD_FIELDS = DATA / "argo" / "pod-fields.yaml"
CLUSTER_ONLY = DATA / "argo-pod" / "cluster-only.yaml"

pytestmark = pytest.mark.timeout(60)


def spec_of(pipeline: Pipeline, task: str) -> TaskSpec:
    (found,) = [t for t in pipeline.all_tasks() if t.name == task]
    return pipeline.spec_of(found)


def run(spec: PipelineRunSpec, out: Path) -> RunResult:
    return asyncio.run(run_pipeline(spec, out, parallel=2))


def reload(doc: dict[str, Any]) -> Pipeline:
    return load_pipeline_text(yaml.safe_dump(doc), "emitted.yaml").pipeline


# -- load ---------------------------------------------------------------------------------------


def test_pod_fields_are_carried_at_workflow_and_template_level() -> None:
    p = load_run([POD_FIELDS]).pipeline
    assert p.cluster == {
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "serviceAccountName": "runner",
        "tolerations": [{"key": "dedicated", "operator": "Exists"}],
    }
    assert spec_of(p, "served").cluster == {
        "nodeSelector": {"disk": "ssd"},
        "securityContext": {"runAsNonRoot": True},
    }


def test_cluster_only_fields_keep_argo_tags_as_written() -> None:
    p = load_run([CLUSTER_ONLY]).pipeline
    assert set(p.cluster) == {"podSpecPatch", "synchronization"}
    assert p.artifact_repository_ref == {"key": "my-key"}  # the artifacts' own (artifacts.py)
    cluster = spec_of(p, "hello").cluster
    assert set(cluster) == {"podSpecPatch", "memoize", "archiveLocation"}
    assert "{{workflow.parameters.cpu}}" in cluster["podSpecPatch"]


def test_template_defaults_are_merged_into_leaf_templates() -> None:
    p = load_run([POD_FIELDS]).pipeline
    for task in p.tasks:
        assert task.timeout == 60 and task.retries == 1, task.name
    served = spec_of(p, "served")
    assert served.steps[0].env == {"GREETING": "hello"}
    # a default `container` reaches container templates only (Argo keeps a template's kind)
    assert all(not step.env for step in spec_of(p, "graph").steps)


def test_a_templates_own_values_win_over_the_defaults() -> None:
    text = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: d}
spec:
  entrypoint: t
  templateDefaults:
    timeout: 60s
    container:
      env: [{name: A, value: default}, {name: B, value: default}]
  templates:
    - name: t
      timeout: 5s
      container:
        image: busybox
        command: [env]
        env: [{name: B, value: own}]
"""
    p = load_pipeline_text(text, "wf.yaml").pipeline
    assert p.tasks[0].timeout == 5
    assert spec_of(p, "t").steps[0].env == {"A": "default", "B": "own"}


def test_sidecars_init_containers_and_container_dag_are_loaded() -> None:
    p = load_run([POD_FIELDS]).pipeline
    served = spec_of(p, "served")
    (helper,) = served.sidecars
    assert helper.name == "helper" and helper.cluster == {"ports": [{"containerPort": 8080}]}
    assert "$(workspaces.work.path)/sidecar-up" in helper.args[0]
    graph = spec_of(p, "graph")
    assert [(s.name, s.after) for s in graph.steps] == [
        ("a", []),
        ("b", ["a"]),
        ("c", ["a"]),
        ("main", ["b", "c"]),
    ]
    prepared = spec_of(p, "prepared")
    assert [(s.name, s.init) for s in prepared.steps] == [("setup", True), ("main", False)]


WORKFLOW = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: w}
spec:
  entrypoint: t
  templates:
    - name: t
%s
"""


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "      http: {method: GET}",
            "wf.yaml:9: template 't' http: `url` is required",
        ),
        (
            "      daemon: true\n      containerSet:\n        containers:\n"
            "          - {name: a, image: x, command: [true]}",
            "wf.yaml:9: template 't': a containerSet cannot be a daemon",
        ),
        ("      daemon: yes please\n      container: {image: x}", "`daemon` must be true or false"),
        (
            "      containerSet:\n        containers:\n"
            "          - {name: a, image: x, command: [true], dependencies: [b]}\n"
            "          - {name: b, image: x, command: [true], dependencies: [a]}",
            "template 't' containerSet: the dependencies of a, b form a cycle",
        ),
        (
            "      containerSet:\n        containers:\n"
            "          - {name: a, image: x, command: [true], dependencies: [z]}",
            "template 't' containerSet: container 'a' depends on unknown 'z'",
        ),
    ],
)
def test_what_a_host_cannot_run_says_what_it_needs(body: str, message: str) -> None:
    with pytest.raises(PipelineError) as err:
        load_pipeline_text(WORKFLOW % body, "wf.yaml")
    assert message in str(err.value)


# -- run ----------------------------------------------------------------------------------------


def test_sidecar_runs_beside_the_steps_and_is_stopped_after(tmp_path: Path) -> None:
    result = run(load_run([POD_FIELDS]), tmp_path / "out")
    assert result.status == "Succeeded"
    log = task_log(tmp_path / "out", "served")
    assert "[served/main] main saw the sidecar; hello" in log
    # SIGTERM reached the sidecar once the main container ended
    assert "[served/sidecar:helper] helper stopping" in log
    assert log.index("main saw the sidecar") < log.index("helper stopping")


def test_container_dag_runs_in_a_topological_order(tmp_path: Path) -> None:
    result = run(load_run([POD_FIELDS]), tmp_path / "out")
    assert result.status == "Succeeded"
    log = task_log(tmp_path / "out", "graph")
    lines = [line.split("] ", 1)[1] for line in log.splitlines() if "[graph/main]" in line]
    assert lines == ["a", "b", "c", "d"]
    assert "[prepared/main] from-init" in task_log(tmp_path / "out", "prepared")


def test_a_sidecar_relying_on_its_image_entrypoint_fails_in_one_line(tmp_path: Path) -> None:
    body = (
        "      container: {image: busybox, command: [echo, hi]}\n"
        "      sidecars:\n        - {name: db, image: influxdb:1.2}"
    )
    spec = load_pipeline_text(WORKFLOW % body, "wf.yaml")
    result = run(spec, tmp_path / "out")
    assert result.status == "Failed"
    reason = result.tasks["t"].reason
    assert reason.startswith("sidecar 'db': no command or script: it runs the entrypoint of")
    assert "container runtime" in reason


def test_the_host_run_notes_what_it_ignores() -> None:
    notes = host_notes(load_run([CLUSTER_ONLY]).pipeline)
    text = "\n".join(notes)
    assert "workflow fields podSpecPatch, synchronization" in text
    assert "template fields archiveLocation, memoize, podSpecPatch of hello" in text
    assert "memoize of hello: a host has no memoization cache" in text


def test_cluster_only_workflow_runs_on_a_host(tmp_path: Path) -> None:
    assert run(load_run([CLUSTER_ONLY]), tmp_path / "out").status == "Succeeded"


# -- emit ---------------------------------------------------------------------------------------


def test_argo_emit_keeps_every_construct_and_reads_back_the_same() -> None:
    run_spec = load_run([POD_FIELDS])
    doc = emit_argo(run_spec)
    assert schema_errors(argo_validator(), doc) == []
    templates = {t["name"]: t for t in doc["spec"]["templates"]}
    graph = templates["graph"]["containerSet"]["containers"]
    assert [(c["name"], c.get("dependencies")) for c in graph] == [
        ("a", None),
        ("b", ["a"]),
        ("c", ["a"]),
        ("main", ["b", "c"]),
    ]
    assert [c["name"] for c in templates["served"]["sidecars"]] == ["helper"]
    assert [c["name"] for c in templates["prepared"]["initContainers"]] == ["setup"]
    assert templates["served"]["nodeSelector"] == {"disk": "ssd"}
    assert doc["spec"]["serviceAccountName"] == "runner"
    back = reload(doc)
    before = run_spec.pipeline
    assert back.cluster == before.cluster
    for task in ("served", "graph", "prepared"):
        old, new = spec_of(before, task), spec_of(back, task)
        assert new.cluster == old.cluster
        assert [(s.name, s.after, s.init) for s in new.steps] == [
            (s.name, s.after, s.init) for s in old.steps
        ]
        assert [(s.name, s.args, s.cluster) for s in new.sidecars] == [
            (s.name, s.args, s.cluster) for s in old.sidecars
        ]


def test_argo_emit_writes_cluster_only_fields_back_verbatim() -> None:
    doc = emit_argo(load_run([CLUSTER_ONLY]))
    assert schema_errors(argo_validator(), doc) == []
    spec = doc["spec"]
    assert spec["synchronization"] == {"mutexes": [{"name": "one-at-a-time"}]}
    assert spec["artifactRepositoryRef"] == {"key": "my-key"}
    (hello,) = [t for t in spec["templates"] if "container" in t]
    assert "{{workflow.parameters.cpu}}" in hello["podSpecPatch"]
    assert hello["memoize"]["key"] == "hello"
    assert reload(doc).cluster == load_run([CLUSTER_ONLY]).pipeline.cluster


def test_tekton_emit_maps_pod_fields_and_sidecars() -> None:
    doc = emit_tekton(load_run([POD_FIELDS]))
    assert schema_errors(tekton_validator(), doc) == []
    spec = doc["spec"]
    assert spec["taskRunTemplate"] == {
        "serviceAccountName": "runner",
        "podTemplate": {
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "tolerations": [{"key": "dedicated", "operator": "Exists"}],
        },
    }
    assert spec["taskRunSpecs"] == [
        {
            "pipelineTaskName": "served",
            "podTemplate": {
                "nodeSelector": {"disk": "ssd"},
                "securityContext": {"runAsNonRoot": True},
            },
        }
    ]
    tasks = {t["name"]: t["taskSpec"] for t in spec["pipelineSpec"]["tasks"]}
    (sidecar,) = tasks["served"]["sidecars"]
    assert sidecar["name"] == "helper" and sidecar["ports"] == [{"containerPort": 8080}]
    assert [s["name"] for s in tasks["graph"]["steps"]] == ["a", "b", "c", "main"]
    assert [s["name"] for s in tasks["prepared"]["steps"]] == ["setup", "main"]


def test_tekton_emit_refuses_what_it_has_no_form_for() -> None:
    with pytest.raises(PipelineError) as err:
        emit_tekton(load_run([CLUSTER_ONLY]))
    assert "podSpecPatch, synchronization has no Tekton form" in str(err.value)


SIDECAR = """
      container: {image: busybox, command: [sh, -c, "%s"]}
      sidecars:
        - name: s
          image: busybox
          command: [sh, -c, "%s"]
"""


def test_a_sidecar_is_stopped_when_the_main_container_fails(tmp_path: Path) -> None:
    body = SIDECAR % (
        "until [ -f $TMPDIR/up ]; do sleep 0.05; done; exit 4",
        "trap 'echo s stopping; exit 0' TERM; touch $TMPDIR/up; while true; do sleep 0.05; done",
    )
    result = run(load_pipeline_text(WORKFLOW % body, "wf.yaml"), tmp_path / "out")
    assert result.status == "Failed"
    assert result.tasks["t"].reason == "step 'main' exited with code 4"
    assert "[t/sidecar:s] s stopping" in task_log(tmp_path / "out", "t")


def test_a_sidecar_that_ignores_sigterm_is_killed(tmp_path: Path) -> None:
    body = SIDECAR % ("echo done", "trap '' TERM; while true; do sleep 0.05; done")
    spec = load_pipeline_text(WORKFLOW % body, "wf.yaml")
    result = asyncio.run(run_pipeline(spec, tmp_path / "out", parallel=1, kill_grace=0.2))
    assert result.status == "Succeeded"
    assert "[t/main] done" in task_log(tmp_path / "out", "t")


def test_a_sidecar_that_exits_early_is_logged_and_the_steps_go_on(tmp_path: Path) -> None:
    body = SIDECAR % ("sleep 0.3; echo main", "exit 2")
    result = run(load_pipeline_text(WORKFLOW % body, "wf.yaml"), tmp_path / "out")
    assert result.status == "Succeeded"
    log = task_log(tmp_path / "out", "t")
    assert "sidecar 's' had exited with code 2 before the steps ended" in log


TEKTON_SIDECAR = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: r}
spec:
  pipelineSpec:
    tasks:
      - name: t
        taskSpec:
          steps:
            - name: main
              image: busybox
              script: |
                until [ -f $TMPDIR/up ]; do sleep 0.05; done
                echo main saw it
          sidecars:
            - name: helper
              image: busybox
              script: |
                trap 'echo helper stopping; exit 0' TERM
                touch $TMPDIR/up
                while true; do sleep 0.05; done
              ports: [{containerPort: 80}]
"""


def test_tekton_sidecars_load_run_and_emit_back(tmp_path: Path) -> None:
    spec = load_pipeline_text(TEKTON_SIDECAR, "run.yaml")
    (task,) = spec.pipeline.tasks
    assert task.task_spec is not None
    (helper,) = task.task_spec.sidecars
    assert helper.name == "helper" and helper.cluster == {"ports": [{"containerPort": 80}]}
    result = run(spec, tmp_path / "out")
    assert result.status == "Succeeded"
    log = task_log(tmp_path / "out", "t")
    assert "[t/main] main saw it" in log and "[t/sidecar:helper] helper stopping" in log
    tekton = emit_tekton(spec)
    assert schema_errors(tekton_validator(), tekton) == []
    (sidecar,) = tekton["spec"]["pipelineSpec"]["tasks"][0]["taskSpec"]["sidecars"]
    assert sidecar["script"] == helper.script
    argo = emit_argo(spec)
    assert schema_errors(argo_validator(), argo) == []
    (template,) = [t for t in argo["spec"]["templates"] if "sidecars" in t]
    assert template["sidecars"][0]["ports"] == [{"containerPort": 80}]


def test_daemon_false_is_a_plain_template() -> None:
    body = "      daemon: false\n      container: {image: busybox, command: [echo, hi]}"
    spec = load_pipeline_text(WORKFLOW % body, "wf.yaml")
    assert spec_of(spec.pipeline, "t").steps[0].command == ["echo", "hi"]


def test_a_workflow_running_a_template_keeps_its_own_pod_fields_and_defaults() -> None:
    text = """
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata: {name: base}
spec:
  entrypoint: t
  nodeSelector: {pool: base}
  templates:
    - name: t
      container: {image: busybox, command: [echo, hi]}
---
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: run-}
spec:
  workflowTemplateRef: {name: base}
  nodeSelector: {pool: mine}
  templateDefaults: {timeout: 7s}
"""
    p = load_pipeline_text(text, "wf.yaml").pipeline
    assert p.cluster == {"nodeSelector": {"pool": "mine"}}
    assert p.tasks[0].timeout == 7


def test_tekton_sidecar_specs_become_argo_sidecar_resources() -> None:
    limits = {"limits": {"memory": "64Mi"}}
    text = TEKTON_SIDECAR + (
        "  taskRunSpecs:\n    - pipelineTaskName: t\n"
        "      sidecarSpecs: [{name: helper, computeResources: {limits: {memory: 64Mi}}}]\n"
    )
    argo = emit_argo(load_pipeline_text(text, "run.yaml"))
    assert schema_errors(argo_validator(), argo) == []
    (template,) = [t for t in argo["spec"]["templates"] if "sidecars" in t]
    assert template["sidecars"][0]["resources"] == limits
    wrong = text.replace("name: helper, computeResources", "name: nope, computeResources")
    with pytest.raises(PipelineError) as err:
        emit_argo(load_pipeline_text(wrong, "run.yaml"))
    assert "sidecarSpecs names no sidecar of the task: 'nope'" in str(err.value)
