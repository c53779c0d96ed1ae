"""What `podman run` a step becomes, without podman: mounts, paths, environment, entrypoint,
limits, labels; the settings and `--runtime` that choose it; what a crash cleanup removes."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from pathlib import Path

import pytest

from foredeck.execute.cli import EXIT_INVALID, RunArgs, execute
from foredeck.execute.container_config import podman_config
from foredeck.execute.container_step import (
    ARTIFACTS_DIR,
    Mount,
    MountPlan,
    cpu_quantity,
    memory_quantity,
)
from foredeck.execute.containers import ContainerRun, Containers, host_helper_view
from foredeck.execute.host_notes import host_notes
from foredeck.execute.orphans import read_stat
from foredeck.execute.podman import LABEL_HOST, LABEL_PID, LABEL_START, PodmanConfig, dead_owners
from foredeck.execute.run_args import parse_run_args
from foredeck.execute.steps import Attempt
from foredeck.execute.workspace import RunLayout
from foredeck.pipeline.collector import CollectedOutput, collector_step, parse_collector
from foredeck.pipeline.model import Pipeline, PipelineTask, Step, TaskSpec
from foredeck.settings import ContainerSettings

SECRET = "s3cr3t-value"


def launch_of(step: Step, tmp_path: Path) -> tuple[list[str], dict[bytes, bytes], RunLayout]:
    layout = RunLayout(tmp_path / "out")
    layout.prepare()
    workspace = layout.workspaces / "shared"
    workspace.mkdir()
    results = layout.results / "t.1"
    results.mkdir()
    (layout.artifacts / "t").mkdir()
    paths = {"workspaces.src.path": str(workspace), "results.out.path": str(results / "out")}
    paths["params.word"] = "hi"
    containers = Containers(
        ContainerRun(PodmanConfig("podman", run_args=("--network=host",)), {"JOB_NAME": "j"}),
        marker="me/run",
        run_name="my run",
        note=lambda _: None,
    )
    loop = asyncio.new_event_loop()
    try:
        attempt = Attempt(
            paths.get,
            {b"PATH": b"/host/bin"},
            str(layout.artifacts / "t"),
            results,
            None,  # type: ignore[arg-type]  # no step writes a message here
            loop.create_future(),
            workspaces={"src": workspace},
        )
        launch = containers.launch(step, attempt, layout)
    finally:
        loop.close()
    assert launch.container is not None and launch.container in " ".join(launch.argv)
    return launch.argv, launch.env, layout


def test_a_script_step_runs_in_its_image_with_the_cluster_paths(tmp_path: Path) -> None:
    step = Step(
        "s",
        "busybox:$(params.word)",
        script="echo $(params.word) > $(results.out.path)\n",
        env={"SECRET": SECRET, "PATH": "/opt/bin:/bin", "WHERE": "$(workspaces.src.path)"},
        working_dir=str(tmp_path / "out" / ".work" / "workspaces" / "shared" / "sub"),
    )
    argv, env, layout = launch_of(step, tmp_path)

    assert argv[:3] == ["podman", "run", "--rm"]
    assert "--network=host" in argv and "--label=foredeck.run=me/run" in argv
    assert f"--label={LABEL_PID}={os.getpid()}" in argv
    # Values travel in podman's environment, never on its command line ...
    assert "--env=SECRET" in argv and all(SECRET not in arg for arg in argv)
    assert env[b"SECRET"] == SECRET.encode() and env[b"JOB_NAME"] == b"j"
    assert env[b"WHERE"] == b"/workspace/src" and env[b"ARTIFACTS"] == ARTIFACTS_DIR.encode()
    # ... but for names podman reads itself; the host's PATH is not the container's.
    assert "--env=PATH=/opt/bin:/bin" in argv and "--env=HOME" not in " ".join(argv)
    assert "--workdir=/workspace/src/sub" in argv
    assert (layout.workspaces / "shared" / "sub").is_dir()  # made, as Kubernetes makes it
    mounts = [arg for arg in argv if arg.startswith("--mount=")]
    results = layout.results / "t.1"
    assert f'--mount=type=bind,"source={results}","target=/tekton/results"' in mounts
    assert f'"source={layout.scripts}","target=/tekton/scripts",readonly' in " ".join(mounts)
    entrypoint = json.loads(argv[-2].removeprefix("--entrypoint="))
    assert entrypoint[:2] == ["/bin/sh", "-e"] and entrypoint[2].startswith("/tekton/scripts/")
    script = layout.scripts / os.path.basename(entrypoint[2])
    assert script.read_text() == "echo hi > /tekton/results/out\n"
    assert argv[-1] == "busybox:hi"


def test_command_replaces_the_entrypoint_args_the_cmd_and_limits_become_flags(
    tmp_path: Path,
) -> None:
    pod = {
        "computeResources": {"limits": {"cpu": "250m", "memory": "64Mi"}},
        "securityContext": {"runAsUser": 1000, "runAsGroup": 100},
        "imagePullPolicy": "Never",
    }
    command, _, _ = launch_of(Step("s", "img", ["echo"], ["a b", "$(params.word)"]), tmp_path)
    image_own, _, _ = launch_of(Step("s", "img", args=["x"], cluster=pod), tmp_path / "2")

    assert command[-4:] == ['--entrypoint=["echo"]', "img", "a b", "hi"]
    assert not any(arg.startswith("--entrypoint") for arg in image_own)
    assert image_own[-2:] == ["img", "x"]
    assert {"--cpus=0.25", f"--memory={64 * 1024 * 1024}b", "--user=1000:100"} <= set(image_own)
    assert "--pull=never" in image_own and "--pull=missing" not in image_own


@pytest.mark.parametrize(
    ("text", "cpus"), [("2", "2"), ("500m", "0.5"), ("1.5", "1.5"), ("100m", "0.1")]
)
def test_cpu_quantities(text: str, cpus: str) -> None:
    assert cpu_quantity(text) == cpus


@pytest.mark.parametrize(
    ("text", "size"), [("128Mi", 128 * 1024**2), ("1G", 10**9), ("1e6", 10**6), ("2Ki", 2048)]
)
def test_memory_quantities(text: str, size: int) -> None:
    assert memory_quantity(text) == size


@pytest.mark.parametrize("text", ["lots", "1Q", "-1", "0"])
def test_a_bad_quantity_is_a_clear_error(text: str) -> None:
    with pytest.raises(ValueError, match=r"resources\.limits\.(cpu|memory)"):
        memory_quantity(text)
    with pytest.raises(ValueError, match=r"resources\.limits\.cpu"):
        cpu_quantity(text)


def test_paths_translate_through_the_longest_mount() -> None:
    plan = MountPlan([Mount("/run/ws", "/workspace/a"), Mount("/run/ws/deep", "/data")])
    assert plan.to_container("/run/ws/deep/x") == "/data/x"
    assert plan.to_container("/run/ws/y") == "/workspace/a/y"
    assert plan.to_container("/run/wsx") is None
    assert plan.to_host("/workspace/a/b") == "/run/ws/b" and plan.to_host("/etc") is None


def test_only_dead_owners_on_this_host_are_removed() -> None:
    me = read_stat(os.getpid())
    assert me is not None
    host = socket.gethostname()

    def item(ident: str, host: str, pid: int, start: int) -> dict[str, object]:
        labels = {LABEL_HOST: host, LABEL_PID: str(pid), LABEL_START: str(start)}
        return {"Id": ident, "Labels": labels}

    listing = [
        item("live", host, os.getpid(), me.start),
        item("recycled", host, 1, 0),  # pid 1 runs, but it is not the process that started it
        item("elsewhere", "another-host", 999_999_999, 0),
        item("gone", host, 999_999_999, 0),
        {"Id": "unlabelled", "Labels": {LABEL_HOST: host}},
    ]
    assert dead_owners(json.dumps(listing), host) == ["recycled", "gone"]


def test_the_argo_collector_on_the_host_reads_the_containers_tmp(tmp_path: Path) -> None:
    outputs = [CollectedOutput("a", "/tmp/a.txt"), CollectedOutput("b", "/data/b", "none")]
    viewed = host_helper_view(collector_step(outputs), tmp_path)
    assert parse_collector(viewed) == [
        CollectedOutput("a", f"{tmp_path}/a.txt"),
        CollectedOutput("b", "/data/b", "none"),
    ]
    other = Step("x", "img", script="cat /tmp/a.txt")
    assert host_helper_view(other, tmp_path) is other


def test_settings_become_podmans_flags() -> None:
    settings = ContainerSettings(
        runtime="auto",
        storage_root="/s",
        storage_driver="vfs",
        oci_runtime="runc",
        run_args=["--network=host"],
        global_args=["--log-level=error"],
    )
    config = podman_config(settings, "podman")
    assert config.runtime == "podman"
    assert config.command("ps") == [
        "podman",
        "--root=/s",
        "--storage-driver=vfs",
        "--runtime=runc",
        "--log-level=error",
        "ps",
    ]
    assert podman_config(ContainerSettings()).uses_podman is False


def test_runtime_flag_is_read_and_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    parsed = parse_run_args(["p.yaml", "--runtime", "podman"])
    assert parsed is not None and parsed.runtime == "podman"
    (tmp_path / "p.yaml").write_text(
        "apiVersion: tekton.dev/v1\nkind: Task\nmetadata: {name: t}\n"
        "spec: {steps: [{name: s, image: x, script: 'true'}]}\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FOREDECK_CONFIG", raising=False)
    assert execute(RunArgs([Path("p.yaml")], runtime="docker")) == EXIT_INVALID
    assert "--runtime 'docker': expected one of host, podman, auto" in capsys.readouterr().err
    monkeypatch.setenv("FOREDECK_CONTAINERS__PODMAN", str(tmp_path / "no-podman"))
    assert execute(RunArgs([Path("p.yaml")], runtime="podman")) == EXIT_INVALID
    assert "no-podman is not installed" in capsys.readouterr().err


def test_container_runs_do_not_note_the_pod_fields_they_honour() -> None:
    step = Step("s", "img", ["true"], cluster={"computeResources": {}, "ports": []})
    spec = TaskSpec("t", steps=[step])
    pipeline = Pipeline("p", tasks=[PipelineTask("t", task_spec=spec)])
    assert "computeResources, ports" in host_notes(pipeline)[0]
    assert "step fields ports only matter" in host_notes(pipeline, in_containers=True)[0]


def test_images_of_plain_http_registries_are_pulled_without_tls() -> None:
    """Where `build-image` tasks push (`images.insecure_registries`), steps pull from."""
    config = PodmanConfig("podman", insecure_registries=("127.0.0.1:*", "registry.lan:5000"))
    assert config.tls_flags("127.0.0.1:5000/acme/app:1") == ["--tls-verify=false"]
    assert config.tls_flags("registry.lan:5000/app") == ["--tls-verify=false"]
    assert config.tls_flags("registry.lan/app") == []
    assert config.tls_flags("busybox") == []  # Docker Hub
    assert config.tls_flags("ghcr.io/127.0.0.1:5000/x") == []
