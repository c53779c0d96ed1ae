"""An Argo task's pod files (no podman): what is mounted and copied, never out of the folder."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from foredeck.execute.container_step import Mount, MountPlan
from foredeck.execute.pod_files import PodFiles, copy_out, input_mounts, pod_files, real_paths
from foredeck.execute.podman import PodmanConfig
from foredeck.pipeline.load import load_pipeline_text

WORKFLOW = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: pod}
spec:
  entrypoint: work
  templates:
    - name: work
      inputs:
        artifacts: [{name: part, path: /mnt/in/part.txt, raw: {data: x}}]
      container:
        image: busybox
        command: [sh, -c, 'cat /mnt/in/part.txt > /mnt/out/part.txt; echo hi > /output']
      outputs:
        parameters: [{name: said, valueFrom: {path: /output}}]
        artifacts: [{name: part, path: /mnt/out/part.txt}]
"""


def test_the_pod_files_of_a_workflow_task_and_its_real_paths() -> None:
    spec = load_pipeline_text(WORKFLOW, "wf.yaml")
    steps = spec.pipeline.task_library["work"].steps
    values = {"workspaces.argo-artifacts.path": "/repo", "context.taskRun.name": "pod-work"}
    pod = pod_files(steps, values.__getitem__)

    assert pod == PodFiles(
        "main",
        "/repo/.pods/pod-work",
        "/repo",
        ("/mnt/in/part.txt",),
        ("/mnt/out/part.txt",),
        ("/output",),
    )
    main = real_paths(next(s for s in steps if s.name == "main"))
    assert main.command[2] == "cat /mnt/in/part.txt > /mnt/out/part.txt; echo hi > /output"


def pod_in(tmp_path: Path) -> PodFiles:
    repository = tmp_path / "repo"
    (repository / ".pods" / "p").mkdir(parents=True)
    return PodFiles("main", str(repository / ".pods" / "p"), str(repository))


def test_an_input_leading_out_of_the_repository_is_refused(tmp_path: Path) -> None:
    pod = pod_in(tmp_path)
    (tmp_path / "secret").write_text("host file")
    (Path(pod.root or "") / "in").symlink_to(tmp_path / "secret")
    (Path(pod.root or "") / "ok").write_text("placed")

    assert [m.target for m in input_mounts(replace(pod, inputs=("/ok",)))] == ["/ok"]
    with pytest.raises(ValueError, match="leads out of the pod folder"):
        input_mounts(replace(pod, inputs=("/in", "/ok")))


def test_an_output_leading_out_of_the_repository_is_not_copied(tmp_path: Path) -> None:
    pod = replace(pod_in(tmp_path), artifacts=("/../../../outside/x",))
    config = PodmanConfig("podman", binary="/nonexistent/podman")

    problems = copy_out(config, "c", pod, MountPlan([]), None)

    assert problems == ["/../../../outside/x: leads out of the pod folder"]
    assert not (tmp_path / "outside").exists()


def test_an_output_written_into_an_input_mount_is_left_in_place(tmp_path: Path) -> None:
    """An output inside an input artifact's directory is already in the pod folder."""
    pod = replace(pod_in(tmp_path), artifacts=("/mnt/out/x",))
    made = Path(pod.root or "") / "mnt" / "out" / "x"
    made.parent.mkdir(parents=True)
    made.write_text("written")
    plan = MountPlan([Mount(str(made.parent.parent), "/mnt")])

    assert (
        copy_out(PodmanConfig("podman", binary="/nonexistent/podman"), "c", pod, plan, None) == []
    )
    assert made.read_text() == "written"
