"""A step with no command and no script runs its image's entrypoint: it loads and emits (a
cluster runs it), and only a host run fails, with one line saying why."""

from __future__ import annotations

from pathlib import Path

import pytest

from foredeck.execute.local import run_pipeline
from foredeck.pipeline.emit import manifest
from foredeck.pipeline.load import load_pipeline_text

ARGO = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: entrypoint-}
spec:
  entrypoint: main
  templates:
  - name: main
    container:
      image: docker/whalesay:latest
      args: [hello]
"""

TEKTON = """\
apiVersion: tekton.dev/v1
kind: Task
metadata: {name: t}
spec:
  steps:
  - name: idle
    image: alpine
    args: [hello]
"""


@pytest.mark.parametrize("text", [ARGO, TEKTON], ids=["argo", "tekton"])
async def test_loads_emits_and_fails_on_the_host_with_one_line(text: str, tmp_path: Path) -> None:
    run = load_pipeline_text(text, "p.yaml")
    argo = manifest(run, "argo")
    container = argo["spec"]["templates"][1]["container"]
    assert "command" not in container and container["args"] == ["hello"]
    steps = manifest(run, "tekton")["spec"]["pipelineSpec"]["tasks"][0]["taskSpec"]["steps"]
    assert "command" not in steps[0] and "script" not in steps[0]
    result = await run_pipeline(run, tmp_path / "out", env={"PATH": "/usr/bin:/bin"})
    (record,) = result.tasks.values()
    assert record.status == "Failed" and record.attempts <= 1
    assert "\n" not in record.reason and "neither" not in record.reason
    image = "docker/whalesay:latest" if text is ARGO else "alpine"
    assert record.reason == (
        f"step {run.pipeline.spec_of(run.pipeline.tasks[0]).steps[0].name!r}: no command or"
        f" script: it runs the entrypoint of image {image!r}, which needs a container runtime;"
        " run it with --runtime podman or on a cluster (--emit argo|tekton): the host cannot"
        " (this run uses the host runtime)"
    )
