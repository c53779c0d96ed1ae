"""Argo daemons in containers (real podman, a private store): on a network of their own
(`containers.daemon_network`) each is at its own address, as Argo's daemon pods, so two
daemons of one workflow serve the same port. (On the steps' shared network both would be at
127.0.0.1: the second cannot bind, and its probe may even see the first one's port.)"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest

from foredeck.execute.containers import ContainerRun
from foredeck.execute.local import run_pipeline
from foredeck.execute.runstate import RunResult
from foredeck.execute.served import own_network
from foredeck.pipeline.load import load_pipeline_text
from tests.execute.helpers import task_log
from tests.kit.step_image import IMAGE, StepImage, build_step_image

pytestmark = pytest.mark.timeout(120)

TWO_DAEMONS = f"""\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {{name: two}}
spec:
  entrypoint: main
  templates:
    - name: main
      dag:
        tasks:
          - name: one
            template: serve
            arguments: {{parameters: [{{name: says, value: first}}]}}
          - name: two
            template: serve
            arguments: {{parameters: [{{name: says, value: second}}]}}
          - name: ask
            template: ask
            depends: one && two
            arguments:
              parameters:
                - {{name: a, value: "{{{{tasks.one.ip}}}}"}}
                - {{name: b, value: "{{{{tasks.two.ip}}}}"}}
    - name: serve
      daemon: true
      inputs: {{parameters: [{{name: says}}]}}
      container:
        image: {IMAGE}
        command: [nc, -ll, -p, "9999", -e, echo, "{{{{inputs.parameters.says}}}}"]
        readinessProbe: {{tcpSocket: {{port: 9999}}, periodSeconds: 1}}
    - name: ask
      inputs: {{parameters: [{{name: a}}, {{name: b}}]}}
      container:
        image: {IMAGE}
        command: [sh, -c]
        args: ["echo a={{{{inputs.parameters.a}}}}; nc {{{{inputs.parameters.a}}}} 9999 </dev/null;
                nc {{{{inputs.parameters.b}}}} 9999 </dev/null"]
"""


@pytest.fixture(scope="module")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StepImage]:
    image = build_step_image(tmp_path_factory.mktemp("podman"))
    yield image
    image.remove_all()


def run(out: Path, podman: StepImage, network: str | None) -> RunResult:
    spec = load_pipeline_text(TWO_DAEMONS, "wf.yaml")
    containers = ContainerRun(podman.config(daemon_network=network))
    return asyncio.run(run_pipeline(spec, out, containers=containers, kill_grace=0.5))


def test_two_daemons_on_networks_of_their_own_serve_one_port(
    podman: StepImage, tmp_path: Path
) -> None:
    result = run(tmp_path / "out", podman, "podman")
    assert result.status == "Succeeded", task_log(tmp_path / "out", "ask")
    tasks = result.tasks
    first, second = (tasks[name].reason.removeprefix("daemon ready at ") for name in ("one", "two"))
    assert first != second
    assert not ipaddress.ip_address(first).is_loopback
    assert not ipaddress.ip_address(second).is_loopback
    log = task_log(tmp_path / "out", "ask")
    assert f"a={first}" in log  # {{tasks.one.ip}} is the daemon's own address
    assert "first" in log and "second" in log
    assert not podman.containers()  # both stopped with their scope


def test_a_daemon_network_replaces_every_spelling_of_the_steps_network() -> None:
    args = ("--network=host", "--ulimit=nofile=4096:4096", "--net", "host", "--net=x")
    assert own_network(args, "podman") == ["--ulimit=nofile=4096:4096", "--network=podman"]
    assert own_network((), "podman") == ["--network=podman"]
