"""Argo `resource` templates run on the host against a Kubernetes API (the double): create,
wait on conditions, read outputs by JSONPath, delete, patch; and the run refuses to start
without a cluster."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from foredeck.execute.kube.client import KubeTarget
from foredeck.execute.local import run_pipeline
from foredeck.execute.resource_tasks import ResourceRunner
from foredeck.execute.runstate import RunResult
from foredeck.pipeline.emit_argo import emit_argo
from foredeck.pipeline.emit_tekton import emit_tekton
from foredeck.pipeline.load import load_pipeline_text, load_run
from foredeck.types import PipelineError
from tests.child import child_env
from tests.execute.kube.resource_double import ResourceDouble
from tests.pipeline.test_emit import argo_validator, schema_errors

NS = "ci"
CONFIGMAPS = ("", "v1", "configmaps")
JOBS = ("batch", "v1", "jobs")

CREATE = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: res-}
spec:
  entrypoint: main
  arguments: {parameters: [{name: v, value: hello}]}
  templates:
    - name: main
      steps:
        - - name: mk
            template: mk
            arguments: {parameters: [{name: v, value: "{{workflow.parameters.v}}"}]}
        - - name: show
            template: show
            arguments: {parameters: [{name: n, value: "{{steps.mk.outputs.parameters.name}}"}]}
    - name: mk
      inputs: {parameters: [{name: v}]}
      resource:
        action: create
        manifest: |
          apiVersion: v1
          kind: ConfigMap
          metadata: {generateName: cm-, labels: {app: demo}}
          data: {k: "{{inputs.parameters.v}}"}
      outputs:
        parameters:
          - {name: name, valueFrom: {jsonPath: "{.metadata.name}"}}
          - {name: k, valueFrom: {jsonPath: "{.data.k}"}}
          - {name: data, valueFrom: {jqFilter: ".data"}}
    - name: show
      inputs: {parameters: [{name: n}]}
      outputs: {parameters: [{name: seen, valueFrom: {path: /tmp/seen}}]}
      script: {image: alpine, source: "printf '%s' '{{inputs.parameters.n}}' > /tmp/seen"}
"""

JOB = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: job-}
spec:
  entrypoint: job
  templates:
    - name: job
      resource:
        action: create
        successCondition: status.succeeded > 0
        failureCondition: status.failed > 3
        manifest: |
          apiVersion: batch/v1
          kind: Job
          metadata: {name: pi}
          spec: {backoffLimit: 4}
      outputs:
        parameters:
          - {name: done, valueFrom: {jsonPath: "{.status.succeeded}"}}
"""


def one_template(resource: str) -> str:
    return (
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {generateName: r-}\n"
        "spec:\n  entrypoint: t\n  templates:\n    - name: t\n      resource:\n"
        + "".join(f"        {line}\n" for line in resource.splitlines())
    )


@pytest.fixture
def double() -> Iterator[ResourceDouble]:
    d = ResourceDouble()
    d.start()
    try:
        yield d
    finally:
        d.stop()


@pytest.fixture
def runner(double: ResourceDouble, tmp_path: Path) -> ResourceRunner:
    config = double.kubeconfig(tmp_path / "kubeconfig", namespace=NS)
    return ResourceRunner(KubeTarget(namespace=NS, kubeconfig=str(config)), poll=0.05)


def run(text: str, runner: ResourceRunner, out: Path) -> RunResult:
    spec = load_pipeline_text(text, "wf.yaml")
    return asyncio.run(run_pipeline(spec, out, resources=runner))


def when_created(double: ResourceDouble, name: str, change: Any) -> threading.Thread:
    """Change the Job once it exists (as its controller would), from another thread."""

    def play() -> None:
        deadline = time.monotonic() + 30
        while double.get(JOBS, NS, name) is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)  # the task is polling by now
        double.update(JOBS, NS, name, change)

    thread = threading.Thread(target=play, daemon=True)
    thread.start()
    return thread


@pytest.mark.timeout(60)
def test_create_a_config_map_and_read_its_outputs(
    double: ResourceDouble, runner: ResourceRunner, tmp_path: Path
) -> None:
    result = run(CREATE, runner, tmp_path / "out")
    assert result.status == "Succeeded", result.tasks
    name = str(result.tasks["mk"].results["name"])
    assert name.startswith("cm-")
    assert result.tasks["mk"].results["k"] == "hello"
    assert result.tasks["mk"].results["data"] == '{"k":"hello"}'
    assert result.tasks["show"].results["seen"] == name
    created = double.get(CONFIGMAPS, NS, name)
    assert created is not None and created["data"] == {"k": "hello"}


@pytest.mark.timeout(60)
def test_a_job_is_awaited_until_its_success_condition_holds(
    double: ResourceDouble, runner: ResourceRunner, tmp_path: Path
) -> None:
    player = when_created(double, "pi", lambda job: job.update(status={"succeeded": 1}))
    result = run(JOB, runner, tmp_path / "out")
    player.join(5)
    assert result.status == "Succeeded", result.tasks
    assert result.tasks["job"].results["done"] == "1"


@pytest.mark.timeout(60)
def test_a_failure_condition_fails_the_task(
    double: ResourceDouble, runner: ResourceRunner, tmp_path: Path
) -> None:
    player = when_created(double, "pi", lambda job: job.update(status={"failed": 4}))
    result = run(JOB, runner, tmp_path / "out")
    player.join(5)
    assert result.status == "Failed"
    assert "failure condition 'status.failed>3' evaluated true" in result.tasks["job"].reason


@pytest.mark.timeout(60)
def test_delete_removes_the_object_and_ignores_one_already_gone(
    double: ResourceDouble, runner: ResourceRunner, tmp_path: Path
) -> None:
    double.put(
        CONFIGMAPS, NS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "old"}}
    )
    text = one_template(
        "action: delete\nmanifest: |\n  apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: old}"
    )
    assert run(text, runner, tmp_path / "one").status == "Succeeded"
    assert double.get(CONFIGMAPS, NS, "old") is None
    assert run(text, runner, tmp_path / "two").status == "Succeeded"


@pytest.mark.timeout(60)
def test_a_merge_patch_names_its_object_by_flags(
    double: ResourceDouble, runner: ResourceRunner, tmp_path: Path
) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "1"}}
    double.put(CONFIGMAPS, NS, cm)
    text = one_template(
        "action: patch\nmergeStrategy: merge\nflags: [configmap, cfg]\n"
        "manifest: |\n  data: {b: '2'}\n  metadata: {labels: {patched: 'yes'}}"
    )
    assert run(text, runner, tmp_path / "out").status == "Succeeded"
    patched = double.get(CONFIGMAPS, NS, "cfg")
    assert patched is not None
    assert patched["data"] == {"a": "1", "b": "2"}
    assert patched["metadata"]["labels"] == {"patched": "yes"}


@pytest.mark.timeout(60)
def test_an_api_refusal_fails_the_task_with_the_servers_message(
    double: ResourceDouble, runner: ResourceRunner, tmp_path: Path
) -> None:
    double.put(CONFIGMAPS, NS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
    text = one_template(
        "action: create\nmanifest: |\n  apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: x}"
    )
    result = run(text, runner, tmp_path / "out")
    assert result.status == "Failed"
    assert "AlreadyExists" in result.tasks["t"].reason


def test_without_a_cluster_the_run_refuses_to_start(tmp_path: Path) -> None:
    spec = load_pipeline_text(JOB, "wf.yaml")
    with pytest.raises(PipelineError, match="a resource template needs a Kubernetes cluster"):
        asyncio.run(run_pipeline(spec, tmp_path / "out"))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("text", [CREATE, JOB])
def test_emitted_back_to_argo_as_written(text: str) -> None:
    emitted = emit_argo(load_pipeline_text(text, "wf.yaml"))
    assert schema_errors(argo_validator(), emitted) == []
    source = yaml.safe_load(text)["spec"]["templates"]
    by_name = {t["name"]: t for t in emitted["spec"]["templates"]}
    for template in (t for t in source if "resource" in t):
        assert by_name[template["name"]]["resource"] == template["resource"]
        assert by_name[template["name"]]["outputs"] == template["outputs"]
    assert emit_argo(load_pipeline_text(yaml.safe_dump(emitted), "back.yaml")) == emitted


def test_tekton_cannot_express_it() -> None:
    with pytest.raises(PipelineError, match=r"`resource` template .* has no Tekton equal"):
        emit_tekton(load_pipeline_text(JOB, "wf.yaml"))


@pytest.mark.parametrize(
    ("resource", "message"),
    [
        ("action: scale\nmanifest: 'kind: Job'", "`action` must be one of get, create"),
        ("action: create\nflags: [--dry-run]\nmanifest: 'kind: Job'", "flag '--dry-run' is not"),
        ("action: get\nsuccessCondition: 'status >'\nmanifest: 'kind: Job'", "> needs an integer"),
        ("action: create", "needs a `manifest` or `flags`"),
        ("action: create\nmanifestFrom: {artifact: {name: m}}", "`manifestFrom` is not supported"),
    ],
)
def test_bad_resource_templates_are_refused_at_load(resource: str, message: str) -> None:
    with pytest.raises(PipelineError, match=message):
        load_pipeline_text(one_template(resource), "wf.yaml")


def test_a_jq_filter_beyond_a_path_is_refused_at_load() -> None:
    text = one_template("action: get\nmanifest: 'kind: Job'") + (
        "      outputs:\n        parameters:\n"
        "          - {name: n, valueFrom: {jqFilter: '.items | length'}}\n"
    )
    with pytest.raises(PipelineError, match=r"wf.yaml:\d+: .*only a path such as `.`"):
        load_pipeline_text(text, "wf.yaml")


UPSTREAM = Path(__file__).resolve().parents[1] / "data" / "upstream" / "argo"


@pytest.mark.parametrize(
    "name", ["k8s-owner-reference", "k8s-patch-json-pod", "k8s-patch-merge-pod", "k8s-patch-pod"]
)
def test_the_upstream_k8s_examples_load_and_emit_back(name: str) -> None:
    path = UPSTREAM / f"{name}.yaml"
    emitted = emit_argo(load_run([path]))
    assert schema_errors(argo_validator(), emitted) == []
    written = yaml.safe_load(path.read_text())["spec"]["templates"][0]["resource"]
    by_name = {t["name"]: t for t in emitted["spec"]["templates"]}
    resource = by_name["main"]["resource"]
    assert resource == written


CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, labels: {tmp: 'yes'}}\n"


@pytest.mark.timeout(60)
def test_apply_creates_then_updates_and_get_reads_it(
    double: ResourceDouble, runner: ResourceRunner, tmp_path: Path
) -> None:
    for n, value in enumerate(("1", "2")):
        manifest = CM.replace("\n", "\n  ") + f"data: {{a: '{value}'}}"
        text = one_template(f"action: apply\nmanifest: |\n  {manifest}")
        assert run(text, runner, tmp_path / f"apply{n}").status == "Succeeded"
        found = double.get(CONFIGMAPS, NS, "cfg")
        assert found is not None and found["data"] == {"a": value}
    text = one_template("action: get\nflags: [cm/cfg]") + (
        "      outputs:\n        parameters:\n"
        "          - {name: a, valueFrom: {jsonPath: 'a={.data.a}'}}\n"
    )
    result = run(text, runner, tmp_path / "get")
    assert result.status == "Succeeded", result.tasks
    assert result.tasks["t"].results["a"] == "a=2"


@pytest.mark.timeout(60)
def test_a_json_patch_and_a_delete_by_selector(
    double: ResourceDouble, runner: ResourceRunner, tmp_path: Path
) -> None:
    double.put(CONFIGMAPS, NS, yaml.safe_load(CM))
    double.put(
        CONFIGMAPS, NS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "keep"}}
    )
    text = one_template(
        "action: patch\nmergeStrategy: json\nflags: [configmaps, cfg]\n"
        "manifest: |\n  - {op: add, path: /data, value: {x: y}}"
    )
    assert run(text, runner, tmp_path / "patch").status == "Succeeded"
    patched = double.get(CONFIGMAPS, NS, "cfg")
    assert patched is not None and patched["data"] == {"x": "y"}
    text = one_template("action: delete\nflags: [configmap, --selector, tmp=yes]")
    assert run(text, runner, tmp_path / "delete").status == "Succeeded"
    assert double.names(CONFIGMAPS, NS) == ["keep"]


@pytest.mark.timeout(60)
def test_a_wait_that_never_ends_times_out(
    double: ResourceDouble, runner: ResourceRunner, tmp_path: Path
) -> None:
    text = JOB.replace("    - name: job\n", "    - name: job\n      activeDeadlineSeconds: 1\n")
    began = time.monotonic()
    result = run(text, runner, tmp_path / "out")
    assert result.tasks["job"].status == "TimedOut"
    assert "task timeout expired" in result.tasks["job"].reason
    assert time.monotonic() - began < 30


@pytest.mark.timeout(90)
def test_foredeck_run_uses_the_cluster_of_the_kube_settings(
    double: ResourceDouble, tmp_path: Path
) -> None:
    """Through the CLI: without a cluster it refuses at start (exit 2); with
    `FOREDECK_KUBE__KUBECONFIG` the object is created in `kube.namespace`."""
    workflow = tmp_path / "wf.yaml"
    workflow.write_text(CREATE)
    env = child_env()
    env.update(HOME=str(tmp_path), KUBECONFIG="")
    for key in [k for k in env if k.startswith("FOREDECK_KUBE__") or k == "FOREDECK_CONFIG"]:
        del env[key]
    argv = [sys.executable, "-m", "foredeck.cli", "run", str(workflow)]

    def foredeck(out: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*argv, "--out", str(tmp_path / out)],
            cwd=tmp_path,
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=60,
        )

    refused = foredeck("one")
    assert refused.returncode == 2
    assert "a resource template needs a Kubernetes cluster: set kube.kubeconfig" in refused.stderr
    config = double.kubeconfig(tmp_path / "kubeconfig", namespace="elsewhere")
    done = foredeck("two", FOREDECK_KUBE__KUBECONFIG=str(config), FOREDECK_KUBE__NAMESPACE=NS)
    assert done.returncode == 0, done.stderr
    assert [n for n in double.names(CONFIGMAPS, NS) if n.startswith("cm-")]


@pytest.mark.timeout(60)
def test_shell_text_in_a_manifest_is_kept_and_a_result_is_refused(
    double: ResourceDouble, runner: ResourceRunner, tmp_path: Path
) -> None:
    text = one_template(
        "action: create\nmanifest: |\n  apiVersion: batch/v1\n  kind: Job\n"
        "  metadata: {name: sh}\n"
        "  spec: {template: {spec: {containers:\n"
        "    [{name: a, command: [sh, -c, 'echo $(date) $X']}]}}}"
    )
    assert run(text, runner, tmp_path / "out").status == "Succeeded"
    job = double.get(JOBS, NS, "sh")
    assert job is not None
    assert job["spec"]["template"]["spec"]["containers"][0]["command"][2] == "echo $(date) $X"
    reads = CREATE.replace("{{steps.mk.outputs.parameters.name}}", "{{steps.mk.outputs.result}}")
    with pytest.raises(PipelineError, match=r"outputs\.result: a resource template gives none"):
        load_pipeline_text(reads, "wf.yaml")


@pytest.mark.timeout(60)
def test_cancelling_the_run_stops_the_wait(
    double: ResourceDouble, runner: ResourceRunner, tmp_path: Path
) -> None:
    async def main() -> RunResult:
        cancel = asyncio.Event()
        spec = load_pipeline_text(JOB, "wf.yaml")
        running = asyncio.ensure_future(
            run_pipeline(spec, tmp_path / "out", cancel=cancel, resources=runner)
        )
        while double.get(JOBS, NS, "pi") is None:  # created: the task now polls it
            await asyncio.sleep(0.02)
        cancel.set()
        return await running

    result = asyncio.run(main())
    assert result.status == "Cancelled"
    assert result.tasks["job"].status == "Cancelled"


@pytest.mark.timeout(60)
def test_a_delete_gives_its_outputs_defaults(
    double: ResourceDouble, runner: ResourceRunner, tmp_path: Path
) -> None:
    text = one_template("action: delete\nflags: [configmap, gone]") + (
        "      outputs:\n        parameters:\n"
        "          - {name: n, valueFrom: {jsonPath: '{.metadata.name}', default: none}}\n"
    )
    result = run(text, runner, tmp_path / "out")
    assert result.status == "Succeeded"
    assert result.tasks["t"].results["n"] == "none"
