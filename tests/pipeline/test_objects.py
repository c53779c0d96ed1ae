"""Files that hold other Kubernetes objects besides the pipeline: ConfigMaps feed
`configMapKeyRef`s locally, the rest are kept as cluster objects and passed through `--emit`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft7Validator

from foredeck.execute.cli import emit_manifest
from foredeck.execute.local import run_pipeline
from foredeck.pipeline.emit import emit
from foredeck.pipeline.load import load_pipeline_text, load_run
from foredeck.pipeline.model import PipelineRunSpec, Step
from foredeck.types import PipelineError, Source
from tests.child import child_env
from tests.pipeline.test_emit import argo_validator, schema_errors, tekton_validator

TEKTON = """\
apiVersion: v1
kind: ServiceAccount
metadata: {name: builder}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data:
  greeting: hello from a map
  literal: "keep $(this) and $HOME"
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: builder-edit}
roleRef: {kind: ClusterRole, name: edit, apiGroup: rbac.authorization.k8s.io}
subjects: [{kind: ServiceAccount, name: builder}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: cache}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: Secret
metadata: {name: token}
stringData: {token: s3cr3t-value}
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {generateName: objects-}
spec:
  pipelineSpec:
    tasks:
    - name: show
      taskSpec:
        stepTemplate:
          env:
          - name: FROM_TEMPLATE
            valueFrom: {configMapKeyRef: {name: settings, key: greeting}}
        steps:
        - name: main
          image: alpine
          env:
          - name: GREETING
            valueFrom:
              configMapKeyRef: {name: settings, key: greeting}
          - name: LITERAL
            valueFrom:
              configMapKeyRef: {name: settings, key: literal}
          - name: UNSET
            valueFrom:
              configMapKeyRef: {name: settings, key: missing, optional: true}
          script: |
            echo "$GREETING|$FROM_TEMPLATE|$LITERAL|${UNSET-unset}" > "$ARTIFACTS/out.txt"
"""

ARGO = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: simple-parameters}
data: {msg: hello world, other: two}
---
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: from-configmap-}
spec:
  entrypoint: main
  arguments:
    parameters:
    - name: message
      valueFrom:
        configMapKeyRef: {name: simple-parameters, key: msg}
  templates:
  - name: main
    inputs:
      parameters:
      - name: other
        valueFrom:
          configMapKeyRef: {name: simple-parameters, key: other}
      - name: fallback
        valueFrom:
          configMapKeyRef: {name: simple-parameters, key: nope}
          default: from-default
    container:
      image: busybox
      command: [echo, "{{workflow.parameters.message}}", "{{inputs.parameters.other}}"]
      args: ["{{inputs.parameters.fallback}}"]
      env:
      - name: MSG
        valueFrom: {configMapKeyRef: {name: simple-parameters, key: msg}}
"""


def _step(run: PipelineRunSpec) -> Step:
    (task,) = run.pipeline.tasks
    return run.pipeline.spec_of(task).steps[0]


def test_tekton_file_keeps_its_objects_and_reads_the_config_map() -> None:
    run = load_pipeline_text(TEKTON, "ci.yaml")
    labels = [o.label for o in run.cluster_objects]
    assert labels == [
        "ServiceAccount builder",
        "ConfigMap settings",
        "RoleBinding builder-edit",
        "PersistentVolumeClaim cache",
        "Secret token",
    ]
    assert run.cluster_objects[3].source == Source("ci.yaml", 18)
    assert run.config_maps == {
        "settings": {"greeting": "hello from a map", "literal": "keep $(this) and $HOME"}
    }
    assert _step(run).env == {
        "FROM_TEMPLATE": "hello from a map",
        "GREETING": "hello from a map",
        "LITERAL": "keep $(this) and $HOME",
    }


def test_a_secret_is_kept_by_name_only() -> None:
    run = load_pipeline_text(TEKTON, "ci.yaml")
    secret = next(o for o in run.cluster_objects if o.kind == "Secret")
    assert "s3cr3t" not in repr(secret)
    for fmt in ("argo", "tekton"):
        text = emit(run, fmt)
        assert "s3cr3t" not in text
        assert text.startswith("# Secret token (ci.yaml:25) is not printed")


@pytest.mark.parametrize("fmt", ["argo", "tekton"])
def test_emit_passes_the_objects_through_before_the_run(fmt: str) -> None:
    run = load_pipeline_text(TEKTON, "ci.yaml")
    docs = list(yaml.safe_load_all(emit(run, fmt)))  # type: ignore[arg-type]
    kinds = [(d["kind"], d["metadata"].get("name")) for d in docs[:-1]]
    # What others need comes first, whatever the input order.
    assert kinds == [
        ("ServiceAccount", "builder"),
        ("ConfigMap", "settings"),
        ("PersistentVolumeClaim", "cache"),
        ("RoleBinding", "builder-edit"),
    ]
    assert docs[-1]["kind"] == ("Workflow" if fmt == "argo" else "PipelineRun")
    validator = argo_validator() if fmt == "argo" else tekton_validator()
    assert schema_errors(validator, docs[-1]) == []
    pvc = Draft7Validator(
        {"$ref": "#/definitions/io.k8s.api.core.v1.PersistentVolumeClaim"}
        | {"definitions": argo_validator().schema["definitions"]}
    )
    assert schema_errors(pvc, docs[2]) == []
    assert docs[2]["spec"]["resources"] == {"requests": {"storage": "1Gi"}}


def test_cli_emit_prints_the_objects_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ci.yaml"
    path.write_text(TEKTON, encoding="utf-8")
    assert emit_manifest([path], [], "tekton") == 0
    out = capsys.readouterr().out
    docs = list(yaml.safe_load_all(out))
    assert [d["kind"] for d in docs][-2:] == ["RoleBinding", "PipelineRun"]
    assert docs[-1]["metadata"] == {"generateName": "objects-"}
    assert "s3cr3t" not in out


async def test_a_host_run_reads_the_map_and_names_the_objects_once(tmp_path: Path) -> None:
    run = load_pipeline_text(TEKTON, "ci.yaml")
    result = await run_pipeline(run, tmp_path / "out", env={"PATH": "/usr/bin:/bin"})
    assert result.passed, result.tasks["show"].reason
    (out,) = (tmp_path / "out").rglob("out.txt")
    assert out.read_text() == "hello from a map|hello from a map|keep $(this) and $HOME|unset\n"
    log = (tmp_path / "out" / "build-log.txt").read_text()
    line = (
        "4 cluster objects passed through (not created by a host run; --emit passes them to the"
        " cluster): ServiceAccount builder, RoleBinding builder-edit, PersistentVolumeClaim"
        " cache, Secret token"
    )
    assert log.count("cluster objects passed through") == 1 and line in log


def test_argo_parameters_and_env_read_the_config_map() -> None:
    run = load_pipeline_text(ARGO, "wf.yaml")
    assert run.params["message"] == "hello world"
    step = _step(run)
    assert step.env == {"MSG": "hello world"}
    spec = run.pipeline.spec_of(run.pipeline.tasks[0])
    defaults = {p.name: p.default for p in spec.params}
    assert defaults["other"] == "two" and defaults["fallback"] == "from-default"
    docs = list(yaml.safe_load_all(emit(run, "argo")))
    assert [d["kind"] for d in docs] == ["ConfigMap", "Workflow"]


def _replace(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


@pytest.mark.parametrize(
    ("old", "new", "error"),
    [
        (
            "{name: settings, key: greeting}}",
            "{name: nope, key: greeting}}",
            "ci.yaml:41: env 'FROM_TEMPLATE': ConfigMap 'nope' is not among the input files",
        ),
        (
            "configMapKeyRef: {name: settings, key: literal}",
            "configMapKeyRef: {name: settings, key: typo}",
            "ci.yaml:51: env 'LITERAL': ConfigMap 'settings' (at ci.yaml:5) has no key 'typo'"
            " (keys: greeting, literal)",
        ),
        (
            'literal: "keep $(this) and $HOME"',
            'literal: "$(params.x)"',
            "ci.yaml:51: env 'LITERAL': ConfigMap 'settings' key 'literal' holds '$(params'",
        ),
        ("greeting: hello from a map", "greeting: 3", "ci.yaml:9: ConfigMap 'settings' key"),
        ("metadata: {name: builder}\n", "metadata: {}\n", "ci.yaml:3: ServiceAccount: metadata"),
    ],
)
def test_config_map_errors_name_file_and_line(old: str, new: str, error: str) -> None:
    with pytest.raises(PipelineError) as info:
        load_pipeline_text(_replace(TEKTON, old, new), "ci.yaml")
    assert str(info.value).startswith(error)


def test_argo_example_without_its_config_map_says_what_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(ARGO.split("---\n", 1)[1], encoding="utf-8")
    with pytest.raises(PipelineError) as info:
        load_run([path])
    assert str(info.value).startswith(
        f"{path}:10: parameters 'message': ConfigMap 'simple-parameters' is not among the input"
    )


def test_engine_groups_stay_refused() -> None:
    with pytest.raises(PipelineError, match=r"unsupported apiVersion 'tekton\.dev/v1beta1'"):
        load_pipeline_text("apiVersion: tekton.dev/v1beta1\nkind: Task\n", "x.yaml")


def test_foredeck_run_says_it_once_too(tmp_path: Path) -> None:
    (tmp_path / "ci.yaml").write_text(TEKTON, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "foredeck.cli", "run", "ci.yaml", "--out", "out"],
        cwd=tmp_path,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("4 cluster objects passed through") == 1


def test_a_config_map_without_data_has_no_keys() -> None:
    text = TEKTON.replace(
        'data:\n  greeting: hello from a map\n  literal: "keep $(this) and $HOME"\n', "data:\n"
    )
    with pytest.raises(PipelineError) as info:
        load_pipeline_text(text, "ci.yaml")
    assert "ConfigMap 'settings' (at ci.yaml:5) has no key 'greeting' (keys: none)" in str(
        info.value
    )
