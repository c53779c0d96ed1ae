"""Argo artifacts and file outputs of a main step in its image (real podman, a private store):
inputs at their real paths, outputs outside `/tmp` copied out of the stopped container."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from foredeck.execute.containers import ContainerRun
from foredeck.execute.local import run_pipeline
from foredeck.execute.podman import LABEL_RUN
from foredeck.execute.runstate import RunResult
from foredeck.pipeline.load import load_pipeline_text
from tests.execute.helpers import task_log
from tests.kit.step_image import IMAGE, StepImage, build_step_image

pytestmark = pytest.mark.timeout(120)

HEAD = f"""\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {{name: pod}}
spec:
  entrypoint: main
  templates:
    - name: main
      dag:
        tasks: [{{name: work, template: work}}]
    - name: work
      container:
        image: {IMAGE}
"""


@pytest.fixture(scope="module")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StepImage]:
    image = build_step_image(tmp_path_factory.mktemp("podman"))
    yield image
    image.remove_all()


async def run(text: str, out: Path, podman: StepImage, marker: str) -> RunResult:
    spec = load_pipeline_text(HEAD + text, "wf.yaml")
    return await run_pipeline(
        spec, out, containers=ContainerRun(podman.config()), kill_grace=0.5, marker=marker
    )


def stored(out: Path, key: str) -> dict[str, bytes]:
    """The files of the gzipped tar at `key` in the run's artifact repository."""
    path = out / ".work" / "workspaces" / "argo-artifacts" / key
    with tarfile.open(path) as tar:
        return {
            m.name: (tar.extractfile(m) or io.BytesIO()).read()
            for m in tar.getmembers()
            if m.isfile()
        }


INPUTS = """\
        command: [sh, -c, 'find /mnt /tmp -type f | sort; cat /mnt/in/part.txt /tmp/x > /tmp/out']
      inputs:
        artifacts:
          - {name: part, path: /mnt/in/part.txt, raw: {data: "hello "}}
          - {name: x, path: /tmp/x, raw: {data: raw}}
      outputs:
        artifacts:
          - {name: part, path: /tmp/out}
"""


async def test_input_artifacts_are_at_their_argo_paths_in_the_container(
    podman: StepImage, tmp_path: Path
) -> None:
    """Argo mounts each input artifact at its path; an output may share an input's name."""
    out = tmp_path / "out"
    result = await run(INPUTS, out, podman, "owner/inputs")

    assert result.status == "Succeeded", (out / "build-log.txt").read_text()
    listed = task_log(out, "work").split()
    assert "/mnt/in/part.txt" in listed and "/tmp/x" in listed
    assert not any(".pods" in line for line in listed)  # the host's pod folder is not seen
    assert stored(out, "pod/pod-work/part.tgz") == {"out": b"hello raw"}


OUTPUTS = """\
        command: [sh, -c, 'mkdir /mnt/out && printf made >/mnt/out/part.txt && echo said >/output']
      outputs:
        parameters:
          - name: word
            valueFrom: {path: /output}
          - name: gone
            valueFrom: {path: /missing, default: fallback}
        artifacts:
          - {name: part, path: /mnt/out}
"""


async def test_outputs_outside_tmp_are_copied_out_of_the_stopped_container(
    podman: StepImage, tmp_path: Path
) -> None:
    """The main container is kept until its outputs are copied (as Argo's executor reads the
    stopped container), then removed; `/mnt/out` is the image's own, not made beforehand."""
    out = tmp_path / "out"
    result = await run(OUTPUTS, out, podman, "owner/outputs")

    assert result.status == "Succeeded", (out / "build-log.txt").read_text()
    assert result.tasks["work"].results["word"] == "said"
    assert result.tasks["work"].results["gone"] == "fallback"
    assert stored(out, "pod/pod-work/part.tgz") == {"out/part.txt": b"made"}
    assert podman.containers(f"{LABEL_RUN}=owner/outputs") == []
