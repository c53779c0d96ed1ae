"""Argo daemons on a host: ready by their probe (or once started), reached at 127.0.0.1 by
later steps, killed when their phase ends; written back to Argo as daemons."""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from pathlib import Path

import pytest
import yaml

from foredeck.execute.local import run_pipeline
from foredeck.execute.runstate import RunResult
from foredeck.pipeline.emit_argo import emit_argo
from foredeck.pipeline.emit_tekton import emit_tekton
from foredeck.pipeline.load import load_pipeline_text
from foredeck.pipeline.model import PipelineRunSpec
from foredeck.types import PipelineError
from tests.pipeline.test_emit import argo_validator, schema_errors

pytestmark = pytest.mark.timeout(60)

SERVER = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: daemon-}
spec:
  entrypoint: main
  arguments: {parameters: [{name: port, value: "PORT"}]}
  templates:
    - name: main
      steps:
        - - name: server
            template: server
        - - name: client
            template: client
            arguments: {parameters: [{name: ip, value: "{{steps.server.ip}}"}]}
    - name: server
      daemon: true
      container:
        image: python:3
        command: [PYTHON, -m, http.server, "{{workflow.parameters.port}}", --bind, 127.0.0.1]
        readinessProbe:
          httpGet: {path: /, port: PORT}
    - name: client
      inputs: {parameters: [{name: ip}]}
      outputs: {parameters: [{name: page, valueFrom: {path: /tmp/page}}]}
      script:
        image: python:3
        command: [PYTHON]
        source: |
          import urllib.request
          url = "http://{{inputs.parameters.ip}}:{{workflow.parameters.port}}/"
          open("/tmp/page", "w").write(str(urllib.request.urlopen(url).status))
"""

SLEEPER = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: sleeper-}
spec:
  entrypoint: main
  templates:
    - name: main
      dag:
        tasks:
          - {name: svc, template: svc}
          - {name: after, template: echo, depends: svc.Daemoned}
    - name: svc
      daemon: true
      container: {image: busybox, command: [sleep, "30"]}
    - name: echo
      container: {image: busybox, command: [echo, hi]}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server(port: int) -> PipelineRunSpec:
    text = SERVER.replace("PORT", str(port)).replace("PYTHON", sys.executable)
    return load_pipeline_text(text, "wf.yaml")


def run(spec: PipelineRunSpec, tmp_path: Path, parallel: int = 1) -> RunResult:
    return asyncio.run(run_pipeline(spec, tmp_path / "out", parallel=parallel))


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_a_daemon_loads_with_its_address_as_a_reference() -> None:
    pipeline = server(8080).pipeline
    daemon = next(t for t in pipeline.tasks if t.name == "server")
    assert pipeline.spec_of(daemon).daemon
    assert "readinessProbe" in pipeline.spec_of(daemon).steps[0].cluster
    client = next(t for t in pipeline.tasks if t.name == "client")
    assert client.params["ip"] == "$(tasks.server.ip)"


def test_only_a_daemon_has_an_ip() -> None:
    text = SERVER.replace("      daemon: true\n", "").replace("PYTHON", "python3")
    text = text.replace("        readinessProbe:\n          httpGet: {path: /, port: PORT}\n", "")
    with pytest.raises(PipelineError, match=r"only a daemon DAG task has an ip"):
        load_pipeline_text(text.replace("PORT", "80"), "wf.yaml")


def test_a_ready_daemon_serves_later_steps_then_stops_with_its_scope(tmp_path: Path) -> None:
    port = free_port()
    result = run(server(port), tmp_path, parallel=1)  # one slot: a ready daemon frees its own
    assert result.status == "Succeeded"
    daemon, client = result.tasks["server"], result.tasks["client"]
    assert daemon.status == "Succeeded" and daemon.daemoned
    assert daemon.reason == "daemon ready at 127.0.0.1"
    assert client.results == {"page": "200"}
    assert not listening(port)  # killed when the steps template ended


def test_a_daemon_without_a_probe_counts_once_started_and_dies_with_the_run(
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    result = run(load_pipeline_text(SLEEPER, "wf.yaml"), tmp_path, parallel=2)
    assert result.status == "Succeeded"
    assert result.tasks["after"].status == "Succeeded"  # `svc.Daemoned` held
    assert time.monotonic() - started < 25  # not the daemon's 30 s


def test_a_daemon_that_ends_before_it_is_ready_fails(tmp_path: Path) -> None:
    text = SERVER.replace("PYTHON, -m, http.server", "PYTHON, -c, 'raise SystemExit(3)', x")
    spec = load_pipeline_text(
        text.replace("PORT", str(free_port())).replace("PYTHON", sys.executable), "wf.yaml"
    )
    result = run(spec, tmp_path)
    assert result.status == "Failed"
    assert result.tasks["server"].status == "Failed"
    assert "daemon ended before it was ready" in result.tasks["server"].reason
    assert result.tasks["client"].status == "Skipped"


def test_daemons_emit_back_to_argo_and_tekton_refuses_them() -> None:
    spec = server(8080)
    emitted = emit_argo(spec)
    assert schema_errors(argo_validator(), emitted) == []
    templates = {t["name"]: t for t in emitted["spec"]["templates"]}
    assert templates["server"]["daemon"] is True
    assert templates["server"]["container"]["readinessProbe"]["httpGet"]["port"] == 8080
    client = next(t for t in templates["main"]["dag"]["tasks"] if t["name"] == "client")
    assert client["arguments"]["parameters"][0]["value"] == "{{tasks.server.ip}}"
    assert emit_argo(load_pipeline_text(yaml.safe_dump(emitted), "emitted.yaml")) == emitted
    with pytest.raises(PipelineError, match="daemon"):
        emit_tekton(spec)
