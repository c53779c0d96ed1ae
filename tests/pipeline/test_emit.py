"""The Argo and Tekton emitters: manifests that validate against the upstream schemas."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft4Validator, Draft7Validator

from foredeck.execute.cli import emit_manifest
from foredeck.pipeline.argo_manifest import RESULTS_DIR
from foredeck.pipeline.collector import COLLECT_STEP, CollectedOutput, collector_step
from foredeck.pipeline.emit import emit, manifest
from foredeck.pipeline.emit_argo import emit_argo
from foredeck.pipeline.emit_tekton import dns_label, emit_tekton, format_duration
from foredeck.pipeline.load import load_run
from foredeck.pipeline.model import (
    Matrix,
    ParamSpec,
    Pipeline,
    PipelineRunSpec,
    PipelineTask,
    ResultSpec,
    Step,
    TaskSpec,
)
from foredeck.types import PipelineError

DATA = Path(__file__).resolve().parents[1] / "data"
SAMPLES = sorted((DATA / "argo").glob("*.yaml"))


@cache
def argo_validator() -> Draft7Validator:
    schema = json.loads((DATA / "schemas" / "argo-workflows-schema.json").read_text())
    ref = "#/definitions/io.argoproj.workflow.v1alpha1.Workflow"
    definitions = schema["definitions"]
    # IntOrString (a probe's port) is a number or a name on the wire (custom marshaller); the
    # schema says string only. See tests/data/schemas/README.md.
    definitions["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = {"type": ["integer", "string"]}
    return Draft7Validator({"$ref": ref, "definitions": definitions})


@cache
def tekton_validator() -> Draft4Validator:
    schema = json.loads((DATA / "schemas" / "tekton-pipeline-v1-with-k8s.json").read_text())
    definitions = schema["definitions"]
    # Upstream's swagger shows ParamValue's Go struct; on the wire it is a string, an array of
    # strings or an object of strings (custom marshaller). See tests/data/schemas/README.md.
    strings = {"type": "string"}
    definitions["v1.ParamValue"] = {
        "anyOf": [
            strings,
            {"type": "array", "items": strings},
            {"type": "object", "additionalProperties": strings},
        ]
    }
    return Draft4Validator({"$ref": "#/definitions/v1.PipelineRun", "definitions": definitions})


def schema_errors(validator: Draft4Validator | Draft7Validator, doc: dict[str, Any]) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message[:300]}" for e in validator.iter_errors(doc)]


def one_task(spec: TaskSpec, **task: Any) -> PipelineRunSpec:
    node = PipelineTask(name="t", task_spec=spec, **task)
    return PipelineRunSpec(Pipeline(name="p", tasks=[node]))


@pytest.fixture(scope="module")
def runs() -> dict[str, PipelineRunSpec]:
    return {path.name: load_run([path]) for path in SAMPLES}


def test_the_schemas_reject_a_broken_manifest() -> None:
    """The validators really check: a wrong type in each manifest is reported."""
    run = load_run([DATA / "argo" / "dag-diamond.yaml"])
    argo = emit_argo(run)
    argo["spec"]["templates"][0]["dag"]["tasks"][0]["dependencies"] = "A"
    assert schema_errors(argo_validator(), argo)
    tekton = emit_tekton(run)
    tekton["spec"]["pipelineSpec"]["tasks"][0]["retries"] = "two"
    assert schema_errors(tekton_validator(), tekton)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_emitted_argo_validates(runs: dict[str, PipelineRunSpec], path: Path) -> None:
    doc = emit_argo(runs[path.name])
    assert schema_errors(argo_validator(), doc) == []
    assert doc["kind"] == "Workflow"


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_emitted_tekton_validates(runs: dict[str, PipelineRunSpec], path: Path) -> None:
    doc = emit_tekton(runs[path.name])
    assert schema_errors(tekton_validator(), doc) == []
    assert (doc["apiVersion"], doc["kind"]) == ("tekton.dev/v1", "PipelineRun")


def test_emit_returns_yaml_of_the_manifest(runs: dict[str, PipelineRunSpec]) -> None:
    run = runs["tekton-ci.yaml"]
    for fmt in ("argo", "tekton"):
        text = emit(run, fmt)
        assert yaml.safe_load(text) == manifest(run, fmt)
    # scripts stay readable in the YAML: a literal block, not an escaped one-liner
    assert "script: |" in emit(run, "tekton")
    with pytest.raises(ValueError, match="unknown format"):
        manifest(run, "jenkins")  # type: ignore[arg-type]


def test_argo_shape(runs: dict[str, PipelineRunSpec]) -> None:
    doc = emit_argo(runs["tekton-ci.yaml"])
    spec = doc["spec"]
    templates = {t["name"]: t for t in spec["templates"]}
    assert doc["metadata"] == {"name": "ci-run"}
    assert spec["activeDeadlineSeconds"] == 3600
    assert spec["onExit"] == "exit-handler"
    assert [p["name"] for p in spec["arguments"]["parameters"]] == ["env", "targets"]
    assert spec["arguments"]["parameters"][1]["value"] == '["amd64", "arm64"]'
    tasks = {t["name"]: t for t in templates[spec["entrypoint"]]["dag"]["tasks"]}
    assert tasks["test"]["dependencies"] == ["build"]
    assert tasks["test"]["when"] == (
        '"{{workflow.parameters.env}}" != "skip" && "{{workflow.parameters.env}}" != "none"'
    )
    assert tasks["test"]["withItems"] == ["linux", "windows"]
    assert tasks["package"]["withParam"] == "{{workflow.parameters.targets}}"
    assert {"name": "arch", "value": "{{item}}"} in tasks["package"]["arguments"]["parameters"]
    assert tasks["cross"]["withItems"] == [
        {"os": o, "arch": a} for a in ("amd64", "arm64") for o in ("linux", "darwin")
    ]  # Tekton's order: the first param varies fastest
    build = templates["build"]
    assert build["retryStrategy"] == {"limit": "2", "retryPolicy": "Always"}
    assert build["activeDeadlineSeconds"] == "600"
    containers = build["containerSet"]["containers"]
    assert [c["name"] for c in containers] == ["compile", "main"]
    assert containers[1]["dependencies"] == ["compile"]
    assert build["outputs"]["parameters"] == [
        {"name": "digest", "valueFrom": {"path": f"{RESULTS_DIR}/digest"}}
    ]
    assert containers[1]["args"] == [
        f"printf sha-{{{{inputs.parameters.target}}}} > {RESULTS_DIR}/digest"
    ]
    assert "/workspace/source/log" in containers[0]["args"][0]
    assert templates["test"]["activeDeadlineSeconds"] == "300"  # the step's timeout
    assert templates["test"]["script"]["command"] == ["bash"]
    handler = templates["exit-handler"]["dag"]["tasks"]
    assert (
        handler[0]["when"]
        == '("{{workflow.status}}" == "Failed" || "{{workflow.status}}" == "Error")'
    )
    assert spec["volumeClaimTemplates"][0]["metadata"] == {"name": "shared"}
    assert templates[spec["entrypoint"]]["outputs"]["parameters"] == [
        {"name": "digest", "valueFrom": {"parameter": "{{tasks.build.outputs.parameters.digest}}"}}
    ]


def test_tekton_shape_renames_tasks_to_dns_labels(runs: dict[str, PipelineRunSpec]) -> None:
    doc = emit_tekton(runs["dag-diamond.yaml"])
    tasks = {t["name"]: t for t in doc["spec"]["pipelineSpec"]["tasks"]}
    assert sorted(tasks) == ["a", "b", "c", "d"]
    assert tasks["d"]["runAfter"] == ["b", "c"]
    params = {p["name"]: p["value"] for p in tasks["d"]["params"]}
    assert params["text"] == "$(tasks.b.results.text)+$(tasks.c.results.text)"
    assert doc["spec"]["pipelineSpec"]["results"] == [
        {"name": "final", "value": "$(tasks.d.results.text)"}
    ]
    assert doc["spec"]["workspaces"][0]["name"] == "work"
    run = runs["tekton-ci.yaml"]
    timeouts = emit_tekton(run)["spec"]["timeouts"]
    assert timeouts == {"pipeline": "1h0m0s"}


def test_tekton_shares_files_of_the_argo_outputs_step() -> None:
    outputs = [CollectedOutput("a", "/tmp/a.txt"), CollectedOutput("b", "$(workspaces.w.path)/b")]
    spec = TaskSpec(
        "s",
        steps=[Step("main", "alpine", command=["true"]), collector_step(outputs)],
        results=[ResultSpec("a"), ResultSpec("b")],
    )
    task_spec = emit_tekton(one_task(spec))["spec"]["pipelineSpec"]["tasks"][0]["taskSpec"]
    assert task_spec["volumes"] == [{"name": "argo-outputs-0", "emptyDir": {}}]
    for step in task_spec["steps"]:
        assert step["volumeMounts"] == [{"name": "argo-outputs-0", "mountPath": "/tmp"}]
    assert task_spec["steps"][1]["name"] == COLLECT_STEP


def test_argo_folds_the_outputs_step_back_into_value_from_path() -> None:
    outputs = [CollectedOutput("a", "/tmp/$(params.x).txt", default="none")]
    spec = TaskSpec(
        "s",
        steps=[Step("main", "alpine", command=["true"]), collector_step(outputs)],
        params=[ParamSpec("x", default="1")],
        results=[ResultSpec("a")],
    )
    template = next(t for t in emit_argo(one_task(spec))["spec"]["templates"] if t["name"] == "t")
    assert "container" in template and "containerSet" not in template
    assert template["outputs"]["parameters"] == [
        {"name": "a", "valueFrom": {"path": "/tmp/{{inputs.parameters.x}}.txt", "default": "none"}}
    ]
    assert "volumes" not in template


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(30, "30s"), (90, "1m30s"), (3600, "1h0m0s"), (3723, "1h2m3s"), (1.5, "1.5s"), (0, "0s")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_dns_label() -> None:
    taken: set[str] = set()
    assert [dns_label(n, taken) for n in ("Build_It", "build-it", "--", "A" * 80)] == [
        "build-it",
        "build-it-2",
        "task",
        "a" * 57,
    ]


def _pipeline(**changes: Any) -> PipelineRunSpec:
    spec = TaskSpec("s", steps=[Step("main", "alpine", command=["echo", "hi"])])
    tasks = [PipelineTask("a", task_spec=spec)]
    return PipelineRunSpec(Pipeline(name="p", tasks=tasks, **changes))


@pytest.mark.parametrize(
    ("run", "why"),
    [
        (
            one_task(
                TaskSpec(
                    "s",
                    steps=[
                        Step("one", "a", command=["x"], timeout=5.0),
                        Step("two", "a", command=["y"]),
                    ],
                )
            ),
            "no per-step timeout",
        ),
        (
            one_task(
                TaskSpec(
                    "s",
                    steps=[Step("one", "a", command=["x", "$(params.list[*])"])],
                    params=[ParamSpec("list", "array", ["a"])],
                )
            ),
            "Argo has strings",
        ),
        (
            one_task(
                TaskSpec("s", steps=[Step("one", "a", command=["x"])], params=[ParamSpec("v")]),
                params={"v": "$(context.pipelineRun.nope)"},
            ),
            "cannot be expressed in Argo",
        ),
        (
            one_task(
                TaskSpec("s", steps=[Step("one", "a", command=["x"])], params=[ParamSpec("v")]),
                matrix=Matrix(params={"v": "$(params.a[*]) $(params.b[*])"}),
            ),
            "one whole array",
        ),
    ],
)
def test_what_argo_cannot_express_is_an_error(run: PipelineRunSpec, why: str) -> None:
    with pytest.raises(PipelineError, match=None) as info:
        emit_argo(run)
    assert why in info.value.message


def test_argo_exit_handler_cannot_read_task_results() -> None:
    spec = TaskSpec(
        "s", steps=[Step("main", "a", command=["x"])], params=[ParamSpec("v", default="")]
    )
    producer = TaskSpec("p", steps=[Step("main", "a", command=["x"])], results=[ResultSpec("r")])
    pipeline = Pipeline(
        name="p",
        tasks=[PipelineTask("a", task_spec=producer)],
        finally_tasks=[PipelineTask("f", task_spec=spec, params={"v": "$(tasks.a.results.r)"})],
    )
    with pytest.raises(PipelineError) as info:
        emit_argo(PipelineRunSpec(pipeline))
    assert "finally task 'f'" in info.value.message and "exit handler" in info.value.message


def test_cli_emit_prints_the_manifest_and_runs_nothing(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "foredeck.cli", "run", "--emit", "argo"]
    done = subprocess.run(
        [*command, str(DATA / "argo" / "loops.yaml")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert schema_errors(argo_validator(), yaml.safe_load(done.stdout)) == []
    assert list(tmp_path.iterdir()) == []  # no run directory: nothing ran
    bad = subprocess.run(
        [*command, str(DATA / "argo" / "tekton-ci.yaml"), "-p", "nope=1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2
    assert "unknown param 'nope'" in bad.stderr and bad.stdout == ""


def test_emit_manifest_rejects_unknown_formats(capsys: pytest.CaptureFixture[str]) -> None:
    assert emit_manifest([DATA / "argo" / "loops.yaml"], [], "jenkins") == 2
    assert "expected 'argo' or 'tekton'" in capsys.readouterr().err
    tekton_task = [DATA / "argo" / "tekton-ci.yaml"]
    assert emit_manifest(tekton_task, ["env=prod"], "tekton") == 0
    out = yaml.safe_load(capsys.readouterr().out)
    assert {"name": "env", "value": "prod"} in out["spec"]["params"]


@pytest.mark.parametrize(
    ("params", "why"),
    [
        ([ParamSpec("0banana")], "parameter named '0banana' (Tekton names begin with a letter"),
        ([ParamSpec("a.b", "object")], "parameter named 'a.b' (Tekton names begin with a"),
        ([ParamSpec("Apple"), ParamSpec("apple")], "parameters 'Apple' and 'apple' side by"),
    ],
)
def test_what_tekton_cannot_express_is_an_error(params: list[ParamSpec], why: str) -> None:
    steps = [Step("one", "a", command=["x"])]
    run = one_task(TaskSpec("s", steps=steps, params=params))
    run.pipeline.tasks[0].params = {p.name: "v" if p.type == "string" else {} for p in params}
    with pytest.raises(PipelineError) as info:
        emit_tekton(run)
    assert info.value.message.startswith("task 's': Tekton cannot express ")
    assert why in info.value.message
    ok = one_task(TaskSpec("s", steps=steps, params=[ParamSpec("_x.y"), ParamSpec("b-2")]))
    ok.pipeline.tasks[0].params = {"_x.y": "v", "b-2": "w"}
    emit_tekton(ok)
