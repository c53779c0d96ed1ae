"""How a build task drives buildah, with a stand-in `buildah` that records its argv and
environment (the real one is in `test_image_build.py`), and the inputs a build refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from foredeck.execute.checkout_workspace import default_working_dir
from foredeck.execute.local import run_pipeline
from foredeck.execute.sandbox import Sandbox
from foredeck.pipeline.load import load_pipeline_text
from foredeck.settings import ImageSettings

DIGEST = "sha256:" + "c" * 64
FAKE = f"""#!/bin/sh
# records each call, as JSON lines; a push writes its digest file
python3 -c 'import json, os, sys; print(json.dumps({{"argv": sys.argv[1:],
  "isolation": os.environ.get("BUILDAH_ISOLATION")}}))' "$@" >> "$FAKE_LOG"
while [ $# -gt 0 ]; do
  if [ "$1" = --digestfile ]; then printf '{DIGEST}' > "$2"; fi
  shift
done
"""

BUILD = """\
apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: build
spec:
  build-image:
    CONTEXT
    destination: 127.0.0.1:5000/team/app
    tags: [v1, latest]
    build-args: {A: "1"}
    target: final
"""


async def test_buildah_argv_settings_and_a_checkout_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script, calls = tmp_path / "buildah", tmp_path / "calls.jsonl"
    script.write_text(FAKE)
    script.chmod(0o755)
    monkeypatch.setenv("FAKE_LOG", str(calls))
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "Dockerfile").write_text("FROM scratch\n")
    run = load_pipeline_text(BUILD.replace("CONTEXT", ""), "build.yaml")
    default_working_dir(run, checkout)  # as the controller does for a job's checkout
    config = tmp_path / "config.json"
    config.write_text("{}")
    settings = ImageSettings(
        buildah=str(script),
        global_args=["--log-level", "warn"],
        storage_driver="vfs",
        root=str(tmp_path / "root"),
        runroot=str(tmp_path / "runroot"),
        auth_file=str(config),
    )
    result = await run_pipeline(
        run,
        tmp_path / "out",
        images=settings,
        sandbox=Sandbox(None).with_writable([checkout]),
    )
    assert result.status == "Succeeded", (tmp_path / "out" / "build-log.txt").read_text()
    assert result.tasks["build"].results == {
        "IMAGE_DIGEST": DIGEST,
        "IMAGE_URL": "127.0.0.1:5000/team/app:v1",
    }
    recorded = [json.loads(line) for line in calls.read_text().splitlines()]
    store = ["--root", str(tmp_path / "root"), "--runroot", str(tmp_path / "runroot")]
    store += ["--storage-driver", "vfs", "--log-level", "warn"]
    refs = ["127.0.0.1:5000/team/app:v1", "127.0.0.1:5000/team/app:latest"]
    assert recorded[0]["argv"] == [
        *store,
        "bud",
        "--layers=false",
        "-f",
        str(checkout / "Dockerfile"),
        "--authfile",
        str(config),
        "-t",
        refs[0],
        "-t",
        refs[1],
        "--build-arg",
        "A=1",
        "--target",
        "final",
        str(checkout),
    ]
    for call, ref in zip(recorded[1:], refs, strict=True):
        argv = call["argv"]
        assert argv[: len(store) + 2] == [*store, "push", "--digestfile"]
        assert argv[len(store) + 3 :] == [
            "--tls-verify=false",  # 127.0.0.1 is an insecure registry by default
            "--authfile",
            str(config),
            ref,
            f"docker://{ref}",
        ]
    assert {call["isolation"] for call in recorded} == {"chroot"}
    assert len(recorded) == 3


async def test_a_context_outside_the_run_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "Dockerfile").write_text("FROM scratch\n")
    for context, why in (
        (f"context: {outside}", "is not in the run's workspaces"),
        ("context: /workspace/../../..", "is not in the run's workspaces"),
        ("context: .", "no Dockerfile 'Dockerfile' in context"),
        ("dockerfile: ../../outside/Dockerfile", "no Dockerfile '../../outside/Dockerfile'"),
    ):
        run = load_pipeline_text(BUILD.replace("CONTEXT", context), "build.yaml")
        out = tmp_path / "out"
        result = await run_pipeline(run, out, images=ImageSettings(buildah="/nonexistent"))
        build = result.tasks["build"]
        assert build.status == "Failed"
        assert build.reason.startswith("build-image: ") and why in build.reason, build.reason


async def test_substituted_tags_and_destinations_are_checked(tmp_path: Path) -> None:
    task = BUILD.replace("CONTEXT", "").replace("127.0.0.1:5000/team/app", "$(params.to)")
    task = task.replace("[v1, latest]", "[$(params.tag)]").replace(
        "spec:\n", "spec:\n  params: [{name: to}, {name: tag}]\n", 1
    )
    for to, tag, why in (
        ("127.0.0.1:5000/app", "bad tag", "'bad tag' is not a valid image tag"),
        ("127.0.0.1:5000/App:1", "ok", "is not a repository REGISTRY/NAME"),
        ("nohost", "ok", "'nohost' is not a repository REGISTRY/NAME"),
    ):
        run = load_pipeline_text(task, "build.yaml", {"to": to, "tag": tag})
        out = tmp_path / "out"
        result = await run_pipeline(run, out, images=ImageSettings(buildah="/nonexistent"))
        build = result.tasks["build"]
        assert build.status == "Failed"
        assert why in build.reason, build.reason
