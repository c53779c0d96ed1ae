"""`build-image` tasks: loading, validation errors, and Kaniko in the emitted manifests."""

from __future__ import annotations

from typing import Any

import pytest

from foredeck.pipeline.emit_argo import emit_argo
from foredeck.pipeline.emit_kaniko import DOCKER_CONFIG_DIR, KANIKO_IMAGE
from foredeck.pipeline.emit_tekton import emit_tekton
from foredeck.pipeline.load import load_pipeline_text
from foredeck.pipeline.model import ImageBuild, PipelineRunSpec
from foredeck.types import PipelineError
from tests.pipeline.test_emit import argo_validator, schema_errors, tekton_validator

PIPELINE = """\
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: images
spec:
  params:
    - name: version
      default: "1.0"
  workspaces:
    - name: source
  tasks:
    - name: build
      workspaces: [{name: source, workspace: source}]
      taskSpec:
        workspaces: [{name: source}]
        build-image:
          context: $(workspaces.source.path)/app
          dockerfile: build/Containerfile
          destination: registry.example.com/team/app
          tags: [$(params.version), latest]
          build-args: {VERSION: $(params.version), FLAVOUR: slim}
          target: runtime
          cache: true
          cache-repo: registry.example.com/team/cache
          docker-config-secret: push-creds
    - name: deploy
      params:
        - name: image
          value: $(tasks.build.results.IMAGE_URL)
        - name: digest
          value: $(tasks.build.results.IMAGE_DIGEST)
      taskSpec:
        params: [{name: image}, {name: digest}]
        steps:
          - name: roll
            image: $(params.image)
            command: [echo, $(params.digest)]
"""


def load(text: str = PIPELINE) -> PipelineRunSpec:
    return load_pipeline_text(text, "images.yaml")


def test_build_image_loads_as_an_image_build_with_its_results() -> None:
    run = load()
    spec = run.pipeline.spec_of(run.pipeline.tasks[0])
    assert spec.steps == []
    assert spec.build == ImageBuild(
        destination="registry.example.com/team/app",
        context="$(workspaces.source.path)/app",
        dockerfile="build/Containerfile",
        tags=["$(params.version)", "latest"],
        build_args={"VERSION": "$(params.version)", "FLAVOUR": "slim"},
        target="runtime",
        cache=True,
        cache_repo="registry.example.com/team/cache",
        docker_config_secret="push-creds",
        source=spec.build.source if spec.build else spec.source,
    )
    assert [r.name for r in spec.results] == ["IMAGE_DIGEST", "IMAGE_URL"]
    # the propagated pipeline param is declared by the inline spec
    assert [p.name for p in spec.params] == ["version"]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("          cache: true\n", "", "'cache-repo' needs 'cache: true'"),
        ("team/app\n", "team/app:v1\n", "must be a repository (REGISTRY/NAME)"),
        ("[$(params.version), latest]", "[]", "'tags' must not be empty"),
        ("[$(params.version), latest]", "['a b']", "'a b' is not a valid image tag"),
        ("target: runtime", "targte: runtime", "unsupported field 'targte'"),
        ("FLAVOUR: slim", "FLA-VOUR: slim", "build arg 'FLA-VOUR' needs a NAME"),
        ("source.path)/app", "other.path)", "undeclared workspace 'other'"),
        (
            "[{name: source}]\n        build-image",
            "[{name: source}]\n        steps: [{name: s, image: x}]\n        build-image",
            "a 'build-image' task has no steps, sidecars or stepTemplate",
        ),
    ],
)
def test_bad_build_image_is_a_clear_error(old: str, new: str, message: str) -> None:
    text = PIPELINE.replace(old, new, 1)
    assert text != PIPELINE
    with pytest.raises(PipelineError) as info:
        load(text)
    assert message in str(info.value)
    assert str(info.value).startswith("images.yaml:")


def _kaniko(containers: list[dict[str, Any]]) -> dict[str, Any]:
    return next(c for c in containers if c["image"] == KANIKO_IMAGE)


def test_tekton_emits_kaniko_that_validates() -> None:
    doc = emit_tekton(load())
    assert schema_errors(tekton_validator(), doc) == []
    task = doc["spec"]["pipelineSpec"]["tasks"][0]["taskSpec"]
    kaniko = _kaniko(task["steps"])
    assert kaniko["args"] == [
        "--dockerfile=$(workspaces.source.path)/app/build/Containerfile",
        "--context=$(workspaces.source.path)/app",
        "--destination=registry.example.com/team/app:$(params.version)",
        "--destination=registry.example.com/team/app:latest",
        "--digest-file=$(results.IMAGE_DIGEST.path)",
        "--build-arg=VERSION=$(params.version)",
        "--build-arg=FLAVOUR=slim",
        "--target=runtime",
        "--cache=true",
        "--cache-repo=registry.example.com/team/cache",
    ]
    assert kaniko["volumeMounts"] == [
        {"name": "kaniko-docker-config", "mountPath": DOCKER_CONFIG_DIR, "readOnly": True}
    ]
    assert task["volumes"][0]["secret"]["secretName"] == "push-creds"
    assert task["volumes"][0]["secret"]["optional"] is True
    assert [r["name"] for r in task["results"]] == ["IMAGE_DIGEST", "IMAGE_URL"]
    url_step = task["steps"][1]
    assert "registry.example.com/team/app:$(params.version)" in url_step["command"]
    assert "$(results.IMAGE_URL.path)" in url_step["command"]


def test_argo_emits_kaniko_that_validates() -> None:
    doc = emit_argo(load())
    assert schema_errors(argo_validator(), doc) == []
    template = next(t for t in doc["spec"]["templates"] if "containerSet" in t)
    kaniko = _kaniko(template["containerSet"]["containers"])
    assert (
        "--destination=registry.example.com/team/app:{{inputs.parameters.version}}"
        in (kaniko["args"])
    )
    digest_arg = next(a for a in kaniko["args"] if a.startswith("--digest-file="))
    outputs = {p["name"]: p["valueFrom"]["path"] for p in template["outputs"]["parameters"]}
    assert digest_arg == f"--digest-file={outputs['IMAGE_DIGEST']}"
    assert {"name": "kaniko-docker-config", "mountPath": DOCKER_CONFIG_DIR, "readOnly": True} in (
        kaniko["volumeMounts"]
    )
    assert any(v.get("secret", {}).get("secretName") == "push-creds" for v in template["volumes"])


def test_a_relative_context_is_the_containers_working_directory() -> None:
    text = PIPELINE.replace("context: $(workspaces.source.path)/app", "context: ./app")
    text = text.replace("          dockerfile: build/Containerfile\n", "")
    task = emit_tekton(load(text))["spec"]["pipelineSpec"]["tasks"][0]["taskSpec"]
    args = _kaniko(task["steps"])["args"]
    assert args[:2] == ["--dockerfile=./app/Dockerfile", "--context=./app"]
