"""`build-image` tasks on the host: buildah with a private store, pushed to a local registry."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from moto import mock_aws

from foredeck.execute.local import run_pipeline
from foredeck.execute.sandbox import Sandbox
from foredeck.pipeline.load import load_pipeline_text
from foredeck.settings import ImageSettings
from tests.execute.helpers import task_log
from tests.kit.containers import (
    Registry,
    Store,
    build_busybox_image,
    make_store,
    require_tools,
    start_registry,
)

BASE = "localhost/foredeck-base:test"
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)

PIPELINE = """\
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: images
spec:
  params:
    - name: registry
    - name: version
      default: "1.0"
  workspaces:
    - name: source
  results:
    - name: digest
      value: $(tasks.build.results.IMAGE_DIGEST)
  tasks:
    - name: write
      workspaces: [{name: source, workspace: source}]
      taskSpec:
        workspaces: [{name: source}]
        steps:
          - name: write
            image: busybox
            script: |
              printf 'FROM %s AS base\\nARG VERSION\\nRUN echo "v$VERSION" > /version\\n' \\
                "BASE_IMAGE" > "$(workspaces.source.path)/Dockerfile"
    - name: build
      runAfter: [write]
      workspaces: [{name: source, workspace: source}]
      taskSpec:
        workspaces: [{name: source}]
        build-image:
          context: $(workspaces.source.path)
          destination: $(params.registry)/team/app
          tags: [$(params.version), latest]
          build-args: {VERSION: $(params.version)}
    - name: use
      params:
        - name: url
          value: $(tasks.build.results.IMAGE_URL)
      taskSpec:
        params: [{name: url}]
        steps:
          - name: show
            image: busybox
            script: echo "image $(params.url)"
"""


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Registry]]:
    require_tools("buildah")
    base = tmp_path_factory.mktemp("images")
    store = make_store(base / "store")
    build_busybox_image(store, BASE, base / "base-context")
    registry = start_registry(base / "registry")
    try:
        yield store, registry
    finally:
        registry.stop()


def manifest_digest(registry: Registry, name: str, tag: str, user: str = "") -> str:
    """The registry's digest of `name:tag` (`user`: `NAME:PASSWORD` for basic auth)."""
    url = f"http://{registry.host}/v2/{name}/manifests/{tag}"
    headers = {"Accept": MANIFEST_TYPES}
    if user:
        headers["Authorization"] = "Basic " + base64.b64encode(user.encode()).decode()
    request = urllib.request.Request(url, method="HEAD", headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(response.headers["Docker-Content-Digest"])


def settings_for(store: Store, registry: Registry, **more: object) -> ImageSettings:
    return ImageSettings(
        root=str(store.root),
        runroot=str(store.runroot),
        storage_driver=store.driver,
        insecure_registries=["127.0.0.1:*"],
        **more,  # type: ignore[arg-type]
    )


async def test_build_push_and_results_match_the_registry(
    parts: tuple[Store, Registry], tmp_path: Path
) -> None:
    store, registry = parts
    text = PIPELINE.replace("BASE_IMAGE", BASE)
    run = load_pipeline_text(text, "images.yaml", {"registry": registry.host, "version": "2.5"})
    out = tmp_path / "run"
    result = await run_pipeline(run, out, images=settings_for(store, registry))
    assert result.status == "Succeeded", (out / "build-log.txt").read_text()
    build = result.tasks["build"]
    digest = manifest_digest(registry, "team/app", "2.5")
    assert build.results["IMAGE_DIGEST"] == digest
    assert manifest_digest(registry, "team/app", "latest") == digest
    assert build.results["IMAGE_URL"] == f"{registry.host}/team/app:2.5"
    assert result.results["digest"] == digest
    pinned = [f"{registry.host}/team/app:{tag}@{digest}" for tag in ("2.5", "latest")]
    assert build.images == pinned
    run_json = json.loads((out / "pipeline-run.json").read_text())
    assert run_json["tasks"]["build"]["images"] == pinned
    finished = json.loads((out / "finished.json").read_text())
    assert finished["metadata"]["images"] == pinned
    log = task_log(out, "build")
    assert "[build/build-image] STEP 3/3: RUN" in (out / "build-log.txt").read_text()
    assert "STEP 3/3: RUN" in log  # buildah's output is the task's log
    used = task_log(out, "use")
    assert f"image {registry.host}/team/app:2.5" in used
    # the build arg reached the image: its file holds the version
    pulled = store.buildah(
        "from", "--tls-verify=false", f"docker://{registry.host}/team/app@{digest}"
    )
    container = pulled.stdout.strip().splitlines()[-1]
    shown = store.buildah("run", container, "--", "cat", "/version")
    assert shown.stdout.strip() == "v2.5"


ECR_PASSWORD = "123456789012-auth-token"  # what moto's get_authorization_token gives
CONFIG_PASSWORD = "pw-for-the-config-file"


@pytest.fixture(scope="module")
def locked(
    parts: tuple[Store, Registry], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    """A registry that asks for a password: moto's ECR token for `AWS`, another for `pusher`."""
    users = {"AWS": ECR_PASSWORD, "pusher": CONFIG_PASSWORD}
    registry = start_registry(tmp_path_factory.mktemp("locked"), users)
    try:
        yield registry
    finally:
        registry.stop()


def secrets_in(out: Path, *passwords: str) -> list[str]:
    """The files of a run that hold any of `passwords`, plain or as basic auth."""
    needles = [p.encode() for p in passwords]
    needles += [base64.b64encode(f"{u}:{p}".encode()) for u in ("AWS", "pusher") for p in passwords]
    return [
        str(f) for f in out.rglob("*") if f.is_file() and any(n in f.read_bytes() for n in needles)
    ]


async def test_ecr_token_from_boto3_pushes_and_stays_out_of_logs(
    parts: tuple[Store, Registry], locked: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _ = parts
    for key in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    text = PIPELINE.replace("BASE_IMAGE", BASE)
    run = load_pipeline_text(text, "images.yaml", {"registry": locked.host})
    images = settings_for(store, locked, registry_kinds={locked.host: "ecr"})
    out = tmp_path / "run"
    with mock_aws():
        result = await run_pipeline(run, out, images=images)
    assert result.status == "Succeeded", (out / "build-log.txt").read_text()
    digest = manifest_digest(locked, "team/app", "1.0", f"AWS:{ECR_PASSWORD}")
    assert result.tasks["build"].results["IMAGE_DIGEST"] == digest
    assert "--authfile" in (out / "build-log.txt").read_text()
    assert secrets_in(out, ECR_PASSWORD) == []


async def test_docker_config_auth_file_and_no_credentials(
    parts: tuple[Store, Registry], locked: Registry, tmp_path: Path
) -> None:
    store, _ = parts
    config = tmp_path / "config.json"
    auth = base64.b64encode(f"pusher:{CONFIG_PASSWORD}".encode()).decode()
    config.write_text(json.dumps({"auths": {locked.host: {"auth": auth}}}))
    config.chmod(0o600)
    text = PIPELINE.replace("BASE_IMAGE", BASE)
    run = load_pipeline_text(text, "images.yaml", {"registry": locked.host, "version": "cfg"})
    out = tmp_path / "with"
    images = settings_for(store, locked, auth_file=str(config))
    result = await run_pipeline(run, out, images=images)
    assert result.status == "Succeeded", (out / "build-log.txt").read_text()
    digest = manifest_digest(locked, "team/app", "cfg", f"pusher:{CONFIG_PASSWORD}")
    assert result.tasks["build"].results["IMAGE_DIGEST"] == digest
    assert secrets_in(out, CONFIG_PASSWORD) == []
    run = load_pipeline_text(text, "images.yaml", {"registry": locked.host, "version": "none"})
    out = tmp_path / "without"
    result = await run_pipeline(run, out, images=settings_for(store, locked))
    assert result.tasks["build"].status == "Failed"
    assert result.tasks["build"].reason.startswith("build-image: buildah push exited with code")
    assert "use" not in result.tasks or result.tasks["use"].status == "Skipped"


SLOW = """\
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: slow
spec:
  workspaces:
    - name: source
  tasks:
    - name: write
      workspaces: [{name: source, workspace: source}]
      taskSpec:
        workspaces: [{name: source}]
        steps:
          - name: write
            image: busybox
            script: |
              printf 'FROM BASE_IMAGE\\nRUN sleep 317\\n' > "$(workspaces.source.path)/Dockerfile"
    - name: build
      runAfter: [write]
      timeout: 3s
      workspaces: [{name: source, workspace: source}]
      taskSpec:
        workspaces: [{name: source}]
        build-image:
          context: $(workspaces.source.path)
          destination: 127.0.0.1:1/never
"""


async def test_a_task_timeout_kills_the_build(
    parts: tuple[Store, Registry], tmp_path: Path
) -> None:
    store, registry = parts
    run = load_pipeline_text(SLOW.replace("BASE_IMAGE", BASE), "slow.yaml")
    out = tmp_path / "run"
    result = await run_pipeline(run, out, images=settings_for(store, registry), kill_grace=1)
    build = result.tasks["build"]
    assert build.status == "TimedOut", (out / "build-log.txt").read_text()
    assert build.reason == "task timeout expired during build-image"
    left = [
        p.info["cmdline"]
        for p in psutil.process_iter(["cmdline"])
        if any("sleep 317" in part for part in p.info["cmdline"] or [])
        or str(store.root) in " ".join(p.info["cmdline"] or [])
    ]
    assert left == []


NO_NETWORK_BUILD = """\
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: offline
spec:
  params:
    - name: registry
  workspaces:
    - name: source
  tasks:
    - name: write
      workspaces: [{name: source, workspace: source}]
      taskSpec:
        workspaces: [{name: source}]
        steps:
          - name: write
            image: busybox
            script: |
              printf 'FROM %s\\nRUN (nc 127.0.0.1 PORT </dev/null && echo REACHED)||echo CUT\\n' \\
                "BASE_IMAGE" > "$(workspaces.source.path)/Dockerfile"
    - name: build
      runAfter: [write]
      workspaces: [{name: source, workspace: source}]
      taskSpec:
        workspaces: [{name: source}]
        build-image:
          context: $(workspaces.source.path)
          destination: $(params.registry)/team/offline
"""


async def test_when_steps_have_no_network_run_lines_have_none_and_the_push_is_made(
    parts: tuple[Store, Registry], tmp_path: Path
) -> None:
    """buildah's chroot isolation runs `RUN` lines on the host's network whatever `--network`
    says: with the sandbox's network off, the build runs in a network namespace of its own
    (the host's loopback, where foredeck's database may listen, is out of reach), and the push,
    foredeck's own, is made outside it."""
    store, registry = parts
    listener = socket.create_server(("127.0.0.1", 0))
    reached: list[object] = []

    def serve() -> None:  # every connection recorded and closed at once
        with contextlib.suppress(OSError):
            while True:
                connection, peer = listener.accept()
                reached.append(peer)
                connection.close()

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    port = listener.getsockname()[1]
    text = NO_NETWORK_BUILD.replace("BASE_IMAGE", BASE).replace("PORT", str(port))
    run = load_pipeline_text(text, "offline.yaml", {"registry": registry.host})
    out = tmp_path / "run"
    try:
        result = await run_pipeline(
            run, out, images=settings_for(store, registry), sandbox=Sandbox(None, network=False)
        )
    finally:
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # wakes the accept
        listener.close()
        server.join(5)
    assert reached == []
    log = (out / "build-log.txt").read_text()
    assert result.status == "Succeeded", log
    said = [line.rsplit("] ", 1)[-1] for line in log.splitlines()]
    assert "CUT" in said and "REACHED" not in said
    assert "buildah bud runs in a network namespace of its own" in log
    digest = manifest_digest(registry, "team/offline", "latest")
    assert result.tasks["build"].results["IMAGE_DIGEST"] == digest
