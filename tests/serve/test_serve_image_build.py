"""Build, push, run, end to end through `foredeck serve`: a pull request's presubmit builds the
repository's Dockerfile with buildah, pushes it to a registry on this machine, and a later task
runs a step in the pushed image with podman. The step relies on the image's entrypoint, which
only the built image has, and podman's store starts empty, so the image came from the registry.
The registry's manifest digest is the one the job recorded and its run page shows."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.kit.containers import (
    Registry,
    Store,
    build_busybox_image,
    make_store,
    require_tools,
    start_registry,
)
from tests.kit.git import Repo
from tests.kit.server import serve
from tests.kit.wait import wait_for

BASE = "localhost/foredeck-base:test"
SAYS = "hello from the built image"

IN_REPO = """\
presubmits:
- name: image
  always_run: true
  decorate: true
  pipeline: ci/pipeline.yaml
"""

PIPELINE = """\
apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {{name: ci}}
spec:
  tasks:
    - name: build
      taskSpec:
        build-image:
          context: .
          destination: {registry}/acme/widget
          tags: [pr]
    - name: smoke
      params: [{{name: image, value: $(tasks.build.results.IMAGE_URL)}}]
      taskSpec:
        params: [{{name: image}}]
        steps: [{{name: run, image: $(params.image), args: [--twice]}}]
"""

DOCKERFILE = f"""\
FROM {BASE}
COPY app.sh /app.sh
ENTRYPOINT ["sh", "/app.sh"]
"""

APP = f'echo "{SAYS} $1"\n'


@pytest.fixture
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    started = start_registry(tmp_path_factory.mktemp("registry"))
    yield started
    started.stop()


@pytest.fixture
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Store]]:
    """buildah's store with the base image, and podman's, empty."""
    require_tools("podman", "buildah", "runc")
    build = make_store(tmp_path_factory.mktemp("build"))
    build_busybox_image(build, BASE, tmp_path_factory.mktemp("base"))
    run = make_store(tmp_path_factory.mktemp("run"))
    yield build, run
    run.podman("rm", "--all", "--force", "--time=0", check=False)
    for store in (build, run):
        shutil.rmtree(store.runroot, ignore_errors=True)


def manifest_digest(registry: Registry, name: str, tag: str) -> str:
    accept = ", ".join(
        [
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.v2+json",
        ]
    )
    answer = httpx.head(
        f"http://{registry.host}/v2/{name}/manifests/{tag}", headers={"Accept": accept}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    return answer.headers["Docker-Content-Digest"]


def test_a_presubmit_builds_pushes_and_runs_its_image(
    tmp_path: Path, registry: Registry, stores: tuple[Store, Store]
) -> None:
    build, run = stores
    repo = Repo(tmp_path / "repos" / "acme" / "widget", {"README": "widget\n"})
    (tmp_path / "jobs.yaml").write_text("presubmits: {}\n")
    config: dict[str, Any] = {
        "scm": {"provider": "local", "local_root": "repos", "local_poll_interval": 0.2},
        "config_path": "jobs.yaml",
        "plugin_config": {"trigger": {"in_repo_config": True}},
        "api": {"token": "t"},
        "worker": {"poll_interval": 0.2},
        "controller": {"poll_interval": 0.2},
        "reporter": {"enabled": False},
        "artifacts": {"url": str(tmp_path / "artifacts")},
        "images": {
            "root": str(build.root),
            "runroot": str(build.runroot),
            "storage_driver": build.driver,
        },
        "containers": {
            "runtime": "podman",
            "storage_root": str(run.root),
            "storage_runroot": str(run.runroot),
            "storage_driver": run.driver,
            "oci_runtime": run.oci_runtime,
            "run_args": list(run.run_args),
        },
    }
    files = {
        ".foredeck.yaml": IN_REPO,
        "ci/pipeline.yaml": PIPELINE.format(registry=registry.host),
        "Dockerfile": DOCKERFILE,
        "app.sh": APP,
    }
    with serve(tmp_path, "all", config) as server:
        repo.topic("pr/1", files, "Build the image")

        def finished() -> dict[str, Any] | None:
            rows = httpx.get(f"{server.url}/api/jobs", params={"pr": 1}, timeout=10).json()
            done = [j for j in rows["jobs"] if j["state"] not in ("triggered", "pending")]
            return done[0] if done else None

        job = wait_for("the presubmit to finish", finished, timeout=240)
        log = httpx.get(f"{server.url}/api/jobs/{job['id']}/log", timeout=10).text
        assert job["state"] == "success", log
        assert f"{SAYS} --twice" in log  # the image's entrypoint, with the step's args

        digest = manifest_digest(registry, "acme/widget", "pr")
        pinned = f"{registry.host}/acme/widget:pr@{digest}"
        recorded = [
            json.loads(path.read_text()) for path in (tmp_path / "artifacts").rglob("finished.json")
        ]
        assert [f["metadata"]["images"] for f in recorded] == [[pinned]]
        page = httpx.get(f"{server.url}/jobs/{job['id']}", follow_redirects=True, timeout=10)
        assert page.status_code == 200, page.text
        page_text = page.text
        assert pinned in page_text
        listed = run.podman("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
        assert listed == [f"{registry.host}/acme/widget:pr"]  # pulled, not built there
