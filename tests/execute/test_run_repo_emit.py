"""`foredeck run --emit` for a human: `generateName` kept, `--decorate` as the controller does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from foredeck.execute.cli import emit_manifest
from foredeck.execute.decorated_emit import HandDecoration
from foredeck.execute.kube.decorate import ARTIFACTS_DIR, CLONEREFS_NAME, UPLOAD_NAME
from tests.child import child_env
from tests.pipeline.test_emit import argo_validator, schema_errors, tekton_validator

ARGO = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  {meta}
spec:
  entrypoint: main
  templates:
    - name: main
      container:
        image: alpine
        command: [sh, -c, "make test"]
"""
TEKTON_RUN = """\
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  {meta}
spec:
  pipelineSpec:
    tasks:
      - name: unit
        taskSpec:
          steps:
            - {{name: test, image: alpine, script: "make test"}}
"""
TEKTON_REF_RUN = """\
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: nightly-7
spec:
  pipelineRef: {{name: ci}}
---
"""
TEKTON_PIPELINE = """\
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: ci
spec:
  tasks:
    - name: unit
      taskSpec:
        steps:
          - {{name: test, image: alpine, script: "make test"}}
"""


def emitted(
    capsys: pytest.CaptureFixture[str],
    path: Path,
    engine: str,
    decoration: HandDecoration | None = None,
) -> tuple[dict[str, Any], str]:
    assert emit_manifest([path], [], engine, decoration) == 0, capsys.readouterr().err
    captured = capsys.readouterr()
    return yaml.safe_load(captured.out), captured.err


def write(tmp_path: Path, template: str, meta: str) -> Path:
    path = tmp_path / "in.yaml"
    text = template.format(meta=meta)
    path.write_text(text + TEKTON_PIPELINE.format() if template == TEKTON_REF_RUN else text)
    return path


@pytest.mark.parametrize(
    ("template", "meta", "engine", "expected"),
    [
        (ARGO, "generateName: hello-", "argo", {"generateName": "hello-"}),
        (ARGO, "generateName: hello-", "tekton", {"generateName": "hello-"}),
        (TEKTON_RUN, "generateName: ci-run-", "tekton", {"generateName": "ci-run-"}),
        (TEKTON_RUN, "generateName: ci-run-", "argo", {"generateName": "ci-run-"}),
        (TEKTON_RUN, "name: ci-run-7", "tekton", {"name": "ci-run-7"}),
        (ARGO, "name: hello-7", "argo", {"name": "hello-7"}),
        (TEKTON_REF_RUN, "", "tekton", {"name": "nightly-7"}),
        (TEKTON_PIPELINE, "", "tekton", {"generateName": "ci-"}),
        (TEKTON_PIPELINE, "", "argo", {"generateName": "ci-"}),
    ],
)
def test_emit_keeps_generate_name(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    template: str,
    meta: str,
    engine: str,
    expected: dict[str, str],
) -> None:
    doc, _ = emitted(capsys, write(tmp_path, template, meta), engine)
    assert doc["metadata"] == expected
    validator = argo_validator() if engine == "argo" else tekton_validator()
    assert schema_errors(validator, doc) == []


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env") or []}


def test_decorated_argo_clones_the_repo_and_uploads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    options = HandDecoration("acme/widgets", "main", upload="s3://bucket/manual")
    path = write(tmp_path, ARGO, "generateName: hello-")
    doc, err = emitted(capsys, path, "argo", options)
    assert schema_errors(argo_validator(), doc) == []
    assert doc["metadata"] == {"generateName": "hello-"}
    main = next(t for t in doc["spec"]["templates"] if t["name"] == "main")
    (clone,) = main["initContainers"]
    assert clone["name"] == CLONEREFS_NAME and clone["command"][:3] == [
        "foredeck",
        "util",
        "clonerefs",
    ]
    refs = json.loads(clone["command"][clone["command"].index("--refs") + 1])
    assert refs == [
        {
            "org": "acme",
            "repo": "widgets",
            "base_ref": "main",
            "clone_uri": "https://github.com/acme/widgets.git",
        }
    ]
    env = env_of(main["container"])
    assert env["ARTIFACTS"] == ARTIFACTS_DIR and env["JOB_TYPE"] == "postsubmit"
    assert env["REPO_OWNER"] == "acme" and env["REPO_NAME"] == "widgets"
    assert env["PULL_BASE_REF"] == "main" and env["JOB_NAME"] == "hello"
    assert json.loads(env["JOB_SPEC"])["refs"]["base_ref"] == "main"
    assert main["container"]["workingDir"] == "/foredeck/src/acme/widgets"
    (artifact,) = main["outputs"]["artifacts"]
    assert artifact["s3"]["bucket"] == "bucket"
    assert artifact["s3"]["key"].startswith("manual/artifacts/main")
    assert err == ""


def test_decorated_tekton_validates_and_says_when_nothing_is_uploaded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    options = HandDecoration("acme/widgets", "v1.2", clone_uri="https://git.example/w.git")
    doc, err = emitted(capsys, write(tmp_path, TEKTON_RUN, "generateName: ci-"), "tekton", options)
    assert schema_errors(tekton_validator(), doc) == []
    steps = doc["spec"]["pipelineSpec"]["tasks"][0]["taskSpec"]["steps"]
    assert [s["name"] for s in steps] == [CLONEREFS_NAME, "test"]
    assert '"clone_uri":"https://git.example/w.git"' in steps[0]["command"][4]
    assert env_of(steps[1])["PULL_BASE_REF"] == "v1.2"
    assert steps[1]["workingDir"] == "/foredeck/src/acme/widgets"
    assert "no artifact upload" in err and "--upload" in err
    upload = HandDecoration("acme/widgets", "v1.2", upload="gs://bucket/p")
    doc, _ = emitted(capsys, write(tmp_path, TEKTON_RUN, "generateName: ci-"), "tekton", upload)
    steps = doc["spec"]["pipelineSpec"]["tasks"][0]["taskSpec"]["steps"]
    assert (
        steps[-1]["name"] == UPLOAD_NAME and "gs://bucket/p/artifacts/unit" in steps[-1]["command"]
    )
    assert schema_errors(tekton_validator(), doc) == []


def foredeck(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "foredeck.cli", "run", *map(str, args)],
        cwd=cwd,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_decorate_options(tmp_path: Path) -> None:
    path = write(tmp_path, TEKTON_PIPELINE, "")
    ok = foredeck(
        path, "--emit", "argo", "--decorate", "--repo", "acme/w", "--ref", "main", cwd=tmp_path
    )
    assert ok.returncode == 0, ok.stderr
    assert schema_errors(argo_validator(), yaml.safe_load(ok.stdout)) == []
    assert CLONEREFS_NAME in ok.stdout
    cases = [
        (["--emit", "argo", "--decorate", "--repo", "acme/w"], "--ref"),
        (["--emit", "argo", "--decorate", "--repo", "acme", "--ref", "m"], "ORG/REPO"),
        (["--emit", "argo", "--repo", "acme/w", "--ref", "m"], "need --decorate"),
        (["--decorate", "--repo", "acme/w", "--ref", "m"], "--decorate needs --emit"),
        (
            ["--emit", "tekton", "--decorate", "--repo", "a/w", "--ref", "m", "--upload", "/x"],
            "pods",
        ),
    ]
    for args, expected in cases:
        bad = foredeck(path, *args, cwd=tmp_path)
        assert bad.returncode == 2 and expected in bad.stderr, (args, bad.stderr)
        assert bad.stderr.count("\n") == 1 and bad.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.yaml"]  # nothing ran
