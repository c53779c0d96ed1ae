"""Decorated manifests (checkout, Prow env, artifact upload) are valid upstream objects, and the
commands they hold really work: the clonerefs argv checks a real repository out, the upload argv
puts `$ARTIFACTS` where a local run's go and exits with the first failing step's code."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from foredeck.cli import app
from foredeck.execute.kube.decorate import (
    ARTIFACTS_DIR,
    SRC_DIR,
    TEKTON_STEPS_DIR,
    Decoration,
    UploadTarget,
    decorate,
    pod_refs,
    pod_workdir,
    upload_target,
)
from foredeck.pipeline.emit_argo import emit_argo
from foredeck.pipeline.emit_tekton import emit_tekton
from foredeck.pipeline.load import load_pipeline_text
from foredeck.pipeline.model import PipelineRunSpec
from foredeck.storage.store import open_store
from foredeck.types import Pull, Refs, public_uri
from tests.controller.helpers import Upstream
from tests.execute.kube.kube_double import argo_validator, tekton_validator
from tests.kit.git import git
from tests.storage.servers import BUCKET, s3_endpoint  # noqa: F401  (fixture)

PIPELINE = """
apiVersion: tekton.dev/v1
kind: Task
metadata: {name: unit}
spec:
  steps:
    - name: test
      image: python:3.12
      script: |
        #!/bin/sh
        echo ok > "$ARTIFACTS/junit.xml"
---
apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: ci}
spec:
  tasks:
    - name: build
      taskSpec:
        steps:
          - name: compile
            image: golang:1.23
            command: [go, build, ./...]
          - name: vet
            image: golang:1.23
            workingDir: /elsewhere
            env: [{name: JOB_NAME, value: own-value}]
            command: [go, vet, ./...]
    - name: unit-a
      runAfter: [build]
      taskRef: {name: unit}
    - name: unit-b
      runAfter: [build]
      taskRef: {name: unit}
  finally:
    - name: report
      taskSpec:
        steps:
          - name: report
            image: alpine:3.20
            command: [sh, -c, "true"]
"""

ENV = {"JOB_NAME": "pull-ci", "PULL_NUMBER": "7", "BUILD_ID": "1234", "CI": "true"}
BUILD_DIR = "pr-logs/pull/org_repo/7/pull-ci/1234"


def pipeline() -> PipelineRunSpec:
    return load_pipeline_text(PIPELINE, "ci.yaml")


def main_refs(up: Upstream | None = None) -> Refs:
    if up is None:
        return Refs(org="org", repo="repo", base_ref="main", base_sha="a" * 40)
    head = up.topic("pr", {"feature.txt": "new\n"}, "A change")
    return up.refs(7, head, "refs/heads/pr")


def decoration(refs: Refs, clone_uri: str, upload: UploadTarget | None) -> Decoration:
    return Decoration(
        env=ENV,
        refs=pod_refs([refs], [clone_uri]),
        workdir=pod_workdir(refs),
        utility_image="ghcr.io/foredeck/foredeck:test",
        upload=upload,
    )


S3 = UploadTarget("s3://bucket/prefix", BUILD_DIR, "http://minio.ci:9000", "eu-west-1")


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env") or []}


def argo_leaves(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """DAG task name -> its template."""
    by_name = {t["name"]: t for t in doc["spec"]["templates"]}
    return {
        task["name"]: by_name[task["template"]]
        for t in doc["spec"]["templates"]
        if "dag" in t
        for task in t["dag"]["tasks"]
    }


def test_argo_decoration_is_valid_and_complete() -> None:
    run = pipeline()
    plain = emit_argo(run)
    dec = decoration(main_refs(), "https://github.com/org/repo.git", S3)
    doc = decorate("argo", plain, run, dec)
    assert plain == emit_argo(run)  # the emitted manifest itself is left alone
    errors = sorted(argo_validator().iter_errors(doc), key=str)
    assert not errors, errors[0].message
    volumes = {v["name"] for v in doc["spec"]["volumes"] if "emptyDir" in v}
    assert {"foredeck-src", "foredeck-artifacts"} <= volumes
    leaves = argo_leaves(doc)
    assert set(leaves) == {"build", "unit-a", "unit-b", "report"}
    # unit-a and unit-b shared one template: each now has its own (its own upload key)
    assert leaves["unit-a"]["name"] != leaves["unit-b"]["name"]
    for task, template in leaves.items():
        [init] = template["initContainers"]
        assert init["command"][:3] == ["foredeck", "util", "clonerefs"]
        assert init["image"] == "ghcr.io/foredeck/foredeck:test"
        [artifact] = template["outputs"]["artifacts"]
        assert artifact["path"] == ARTIFACTS_DIR
        assert artifact["archive"] == {"none": {}} and artifact["optional"] is True
        assert artifact["s3"] == {
            "bucket": "bucket",
            "key": f"prefix/{BUILD_DIR}/artifacts/{task}",
            "endpoint": "minio.ci:9000",
            "insecure": True,
            "region": "eu-west-1",
            "useSDKCreds": True,
        }
    containers = leaves["build"]["containerSet"]["containers"]
    mounts = {m["mountPath"] for m in leaves["build"]["containerSet"]["volumeMounts"]}
    assert {SRC_DIR, ARTIFACTS_DIR} <= mounts
    compile_, vet = containers
    assert env_of(compile_) == {**ENV, "ARTIFACTS": ARTIFACTS_DIR}
    assert env_of(vet)["JOB_NAME"] == "own-value"  # a step's own variable wins
    assert [e["name"] for e in vet["env"]].count("JOB_NAME") == 1
    assert compile_["workingDir"] == f"{SRC_DIR}/org/repo"
    assert vet["workingDir"] == "/elsewhere"
    script = leaves["unit-a"]["script"]
    assert env_of(script)["PULL_NUMBER"] == "7"
    assert script["workingDir"] == f"{SRC_DIR}/org/repo"
    assert {m["mountPath"] for m in script["volumeMounts"]} == {SRC_DIR, ARTIFACTS_DIR}


def test_tekton_decoration_is_valid_and_complete() -> None:
    run = pipeline()
    plain = emit_tekton(run)
    doc = decorate("tekton", plain, run, decoration(main_refs(), "https://x/org/repo.git", S3))
    assert plain == emit_tekton(run)
    errors = sorted(tekton_validator().iter_errors(doc), key=str)
    assert not errors, errors[0].message
    pspec = doc["spec"]["pipelineSpec"]
    for entry in [*pspec["tasks"], *pspec["finally"]]:
        spec = entry["taskSpec"]
        assert {"foredeck-src", "foredeck-artifacts"} <= {v["name"] for v in spec["volumes"]}
        clone, *user, upload = spec["steps"]
        assert clone["name"] == "foredeck-clonerefs"
        assert clone["command"][:3] == ["foredeck", "util", "clonerefs"]
        assert "onError" not in clone  # a failed checkout stops the task
        assert user and all(s["onError"] == "continue" for s in user)
        for step in user:
            assert env_of(step)["PULL_NUMBER"] == "7"
            assert env_of(step)["ARTIFACTS"] == ARTIFACTS_DIR
            assert step.get("workingDir")
        assert upload["name"] == "foredeck-upload" and "onError" not in upload
        command = upload["command"]
        assert command[:3] == ["foredeck", "util", "upload"]
        to = command[command.index("--to") + 1]
        assert to == f"s3://bucket/prefix/{BUILD_DIR}/artifacts/{entry['name']}"
        assert command[command.index("--exit-codes") + 1] == TEKTON_STEPS_DIR
        assert env_of(upload) == {
            "AWS_ENDPOINT_URL_S3": "http://minio.ci:9000",
            "AWS_REGION": "eu-west-1",
        }
    build_steps = pspec["tasks"][0]["taskSpec"]["steps"]
    assert build_steps[1]["workingDir"] == f"{SRC_DIR}/org/repo"
    assert build_steps[2]["workingDir"] == "/elsewhere"


def test_matrix_instances_upload_apart() -> None:
    text = """
apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: m}
spec:
  tasks:
    - name: test
      matrix:
        params: [{name: v, value: ["1", "2"]}]
      taskSpec:
        params: [{name: v}]
        steps: [{name: t, image: alpine, command: [echo, $(params.v)]}]
"""
    run = load_pipeline_text(text, "m.yaml")
    dec = decoration(main_refs(), "https://x/org/repo.git", S3)
    tekton = decorate("tekton", emit_tekton(run), run, dec)
    upload = tekton["spec"]["pipelineSpec"]["tasks"][0]["taskSpec"]["steps"][-1]
    assert upload["command"][upload["command"].index("--to") + 1].endswith(
        "/artifacts/test/$(context.taskRun.name)"
    )
    argo = decorate("argo", emit_argo(run), run, dec)
    assert not list(argo_validator().iter_errors(argo))
    [artifact] = argo_leaves(argo)["test"]["outputs"]["artifacts"]
    assert artifact["s3"]["key"].endswith("/artifacts/test/{{pod.name}}")


def test_without_refs_or_upload_only_env_and_mounts() -> None:
    run = pipeline()
    dec = Decoration(env=ENV)
    tekton = decorate("tekton", emit_tekton(run), run, dec)
    assert not list(tekton_validator().iter_errors(tekton))
    steps = tekton["spec"]["pipelineSpec"]["tasks"][0]["taskSpec"]["steps"]
    assert [s["name"] for s in steps] == ["compile", "vet"]
    assert all("onError" not in s for s in steps)
    assert "workingDir" not in steps[0]
    argo = decorate("argo", emit_argo(run), run, dec)
    assert not list(argo_validator().iter_errors(argo))
    for template in argo_leaves(argo).values():
        assert "initContainers" not in template and "outputs" not in template


def test_upload_targets() -> None:
    target, why = upload_target("file:///srv/artifacts", BUILD_DIR, {})
    assert target is None and why is not None and "pods cannot reach" in why
    target, why = upload_target("memory://x", BUILD_DIR, {})
    assert target is None and why is not None
    env = {"AWS_ENDPOINT_URL": "https://s3.example.org", "AWS_DEFAULT_REGION": "us-east-2"}
    target, why = upload_target("s3://b/p", BUILD_DIR, env)
    assert why is None and target is not None
    assert target.argo_location("t")["s3"]["endpoint"] == "s3.example.org"
    assert "insecure" not in target.argo_location("t")["s3"]
    target, _ = upload_target("s3://b", BUILD_DIR, {"AWS_REGION": "eu-west-1"})
    assert target is not None
    assert target.argo_location("t")["s3"]["endpoint"] == "s3.eu-west-1.amazonaws.com"
    assert target.argo_location("t")["s3"]["key"] == f"{BUILD_DIR}/artifacts/t"
    target, _ = upload_target("gs://bucket/pre", BUILD_DIR, env)
    assert target is not None and target.pod_env() == []
    assert target.argo_location("t") == {
        "gcs": {"bucket": "bucket", "key": f"pre/{BUILD_DIR}/artifacts/t"}
    }
    # A GCS-compatible server the controller uses is passed on to the upload step (no S3 vars).
    gcs_env = {**env, "STORAGE_EMULATOR_HOST": "http://gcs.ci:4443"}
    target, _ = upload_target("gs://bucket/pre", BUILD_DIR, gcs_env)
    assert target is not None
    assert target.pod_env() == [{"name": "STORAGE_EMULATOR_HOST", "value": "http://gcs.ci:4443"}]
    assert public_uri("https://user:token123456@github.com/o/r.git") == "https://github.com/o/r.git"


# -- the emitted commands, run for real ---------------------------------------------------------


def swap(argv: list[str], old: str, new: str) -> list[str]:
    return [a.replace(old, new) for a in argv]


def invoke(argv: list[str]) -> tuple[int, str]:
    assert argv[0] == "foredeck"
    result = CliRunner().invoke(app, argv[1:])
    return result.exit_code, result.output


def test_emitted_clonerefs_checks_the_refs_out(tmp_path: Path) -> None:
    up = Upstream(tmp_path / "repos")
    refs = main_refs(up)
    run = pipeline()
    doc = decorate("tekton", emit_tekton(run), run, decoration(refs, str(up.path), None))
    clone = doc["spec"]["pipelineSpec"]["tasks"][0]["taskSpec"]["steps"][0]
    src = tmp_path / "pod-src"
    code, output = invoke(swap(clone["command"], SRC_DIR, str(src)))
    assert code == 0, output
    checkout = src / "org" / "repo"
    assert (checkout / "feature.txt").read_text() == "new\n"  # the pull is merged
    assert (checkout / "base.txt").is_file()
    assert git(checkout, "rev-parse", "HEAD^2") == refs.pulls[0].sha
    # the same argv against a missing repository fails with the reason
    broken = swap(clone["command"], str(up.path), str(tmp_path / "nowhere"))
    code, output = invoke(swap(broken, SRC_DIR, str(tmp_path / "other")))
    assert code == 1 and "checkout failed" in output


def test_clonerefs_rejects_bad_refs() -> None:
    code, output = invoke(["foredeck", "util", "clonerefs", "--refs", "{", "--dest", "/tmp/x"])
    assert code == 2 and "not JSON" in output
    code, output = invoke(["foredeck", "util", "clonerefs", "--refs", "[{}]", "--dest", "/x"])
    assert code == 2 and "org" in output


def fake_pod(tmp_path: Path, codes: list[int]) -> tuple[Path, Path]:
    """`$ARTIFACTS` with files (and a symlink out of it) and Tekton's step directory."""
    artifacts = tmp_path / "artifacts"
    (artifacts / "sub").mkdir(parents=True)
    (artifacts / "junit.xml").write_text("<testsuite/>")
    (artifacts / "sub" / "coverage.txt").write_text("90%")
    secret = tmp_path / "secret.txt"
    secret.write_text("do not publish")
    (artifacts / "leak.txt").symlink_to(secret)
    steps = tmp_path / "steps"
    for index, code in enumerate(codes):
        named = steps / f"step-s{index}"
        named.mkdir(parents=True)
        (named / "exitCode").write_text(str(code))
        (steps / str(index)).symlink_to(named)
    (steps / str(len(codes))).mkdir()  # the upload step itself: no exit code yet
    return artifacts, steps


def upload_argv(doc: dict[str, Any], artifacts: Path, steps: Path) -> list[str]:
    upload = doc["spec"]["pipelineSpec"]["tasks"][0]["taskSpec"]["steps"][-1]
    argv = swap(upload["command"], ARTIFACTS_DIR, str(artifacts))
    return swap(argv, TEKTON_STEPS_DIR, str(steps))


@pytest.mark.parametrize(("codes", "expected"), [([0, 0, 0], 0), ([0, 3, 5], 3)])
def test_emitted_upload_to_a_file_store(tmp_path: Path, codes: list[int], expected: int) -> None:
    store_root = tmp_path / "store"
    target = UploadTarget(store_root.as_uri(), BUILD_DIR)
    run = pipeline()
    doc = decorate("tekton", emit_tekton(run), run, decoration(main_refs(), "/r", target))
    artifacts, steps = fake_pod(tmp_path, codes)
    code, output = invoke(upload_argv(doc, artifacts, steps))
    assert code == expected, output
    store = open_store(store_root.as_uri())
    assert store.read_bytes(f"{BUILD_DIR}/artifacts/build/junit.xml") == b"<testsuite/>"
    assert store.exists(f"{BUILD_DIR}/artifacts/build/sub/coverage.txt")
    assert not store.exists(f"{BUILD_DIR}/artifacts/build/leak.txt")  # symlinks stay out


def test_upload_without_artifacts_keeps_the_step_code(tmp_path: Path) -> None:
    _, steps = fake_pod(tmp_path, [0, 2])
    argv = ["foredeck", "util", "upload", "--dir", str(tmp_path / "absent")]
    code, _ = invoke([*argv, "--to", (tmp_path / "s").as_uri(), "--exit-codes", str(steps)])
    assert code == 2
    code, output = invoke([*argv[:4], str(tmp_path / "artifacts"), "--to", "nope://x"])
    assert code == 1 and "cannot upload" in output


@pytest.fixture
def s3_prefix(s3_endpoint: str) -> Iterator[str]:  # noqa: F811
    yield f"s3://{BUCKET}/decorate-{uuid.uuid4().hex[:8]}"


def test_emitted_upload_to_s3(tmp_path: Path, s3_endpoint: str, s3_prefix: str) -> None:  # noqa: F811
    target, why = upload_target(s3_prefix, BUILD_DIR)
    assert why is None and target is not None
    assert target.endpoint == s3_endpoint  # from AWS_ENDPOINT_URL_S3, as the store's
    run = pipeline()
    doc = decorate("tekton", emit_tekton(run), run, decoration(main_refs(), "/r", target))
    artifacts, steps = fake_pod(tmp_path, [0, 0, 7])
    code, output = invoke(upload_argv(doc, artifacts, steps))
    assert code == 7, output
    store = open_store(s3_prefix)
    assert store.read_bytes(f"{BUILD_DIR}/artifacts/build/junit.xml") == b"<testsuite/>"
    names = {e.path for e in store.list(f"{BUILD_DIR}/artifacts", recursive=True)}
    assert names == {
        f"{BUILD_DIR}/artifacts/build/junit.xml",
        f"{BUILD_DIR}/artifacts/build/sub/coverage.txt",
    }
    argo = decorate("argo", emit_argo(run), run, decoration(main_refs(), "/r", target))
    [artifact] = argo_leaves(argo)["build"]["outputs"]["artifacts"]
    assert artifact["s3"]["key"] == f"{s3_prefix.split('/', 3)[3]}/{BUILD_DIR}/artifacts/build"
    assert artifact["s3"]["insecure"] is True
    assert json.dumps(argo).count("AWS_SECRET") == 0


def test_pull_request_text_reaches_pods_without_template_syntax() -> None:
    """Argo substitutes `{{...}}` and Tekton `$(...)` everywhere, with no escape: a PR title or
    branch name holding them must neither break the run nor be evaluated."""
    title = "Support {{workflow.name}} and $(params.evil) {{= 1 + 1 }}"
    refs = Refs(
        org="org",
        repo="repo",
        base_ref="main",
        base_sha="a" * 40,
        pulls=[Pull(number=7, sha="b" * 40, author="someone", title=title, ref="refs/heads/x$(y)")],
    )
    spec = json.dumps({"refs": refs.model_dump(mode="json")}, separators=(",", ":"))
    dec = Decoration(
        env={"PULL_TITLE": title, "JOB_SPEC": spec, "PULL_HEAD_REF": "x$(y)"},
        refs=pod_refs([refs], ["https://github.com/org/repo.git"]),
        workdir=pod_workdir(refs),
    )
    run = pipeline()
    for engine, doc in (("argo", emit_argo(run)), ("tekton", emit_tekton(run))):
        decorated = decorate(engine, doc, run, dec)  # type: ignore[arg-type]
        text = json.dumps(decorated)
        for marker in ("{{workflow", "{{=", "$(params.evil", "$(y"):
            assert marker not in text, (engine, marker)
        containers = [
            c
            for c in _containers(decorated)
            if any(e["name"] == "JOB_SPEC" for e in c.get("env") or [])
        ]
        assert containers, engine
        env = env_of(containers[0])
        # JSON keeps its exact meaning; plain text is visibly defused.
        assert json.loads(env["JOB_SPEC"]) == json.loads(spec)
        assert env["PULL_TITLE"] == "Support { {workflow.name}} and $ (params.evil) { {= 1 + 1 }}"
        argv = next(
            c["command"] for c in _containers(decorated) if c.get("name") == "foredeck-clonerefs"
        )
        given = json.loads(argv[argv.index("--refs") + 1])
        assert given[0]["pulls"][0]["title"] == title


def _containers(doc: Any) -> Iterator[dict[str, Any]]:
    """Every container-like object (has an image) anywhere in a manifest."""
    if isinstance(doc, dict):
        if "image" in doc:
            yield doc
        for value in doc.values():
            yield from _containers(value)
    elif isinstance(doc, list):
        for value in doc:
            yield from _containers(value)
