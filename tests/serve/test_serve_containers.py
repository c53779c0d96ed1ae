"""`foredeck serve` with `containers.runtime: podman`: a job's step runs in its image, and a
SIGKILL of the server mid-step leaves no container once the server has started again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from foredeck.execute.podman import LABEL_PID
from tests.kit.git import Repo
from tests.kit.server import ServerProcess
from tests.kit.step_image import IMAGE, IN_IMAGE, StepImage, build_step_image
from tests.kit.wait import wait_for

JOBS = f"""\
presubmits:
  acme/widget:
  - name: unit
    always_run: true
    spec:
      containers:
      - image: {IMAGE}
        command: [sh, -c, "cat /etc/in-image; cat feature.txt; echo waiting; sleep 300"]
"""


@pytest.fixture
def podman(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StepImage]:
    image = build_step_image(tmp_path_factory.mktemp("podman"))
    yield image
    image.remove_all()


def test_a_sigkill_of_serve_mid_step_leaves_no_container_after_the_next_start(
    podman: StepImage, tmp_path: Path
) -> None:
    repo = Repo(tmp_path / "repos" / "acme" / "widget", {"README": "widget\n"})
    (tmp_path / "jobs.yaml").write_text(JOBS)
    config: dict[str, Any] = {
        "scm": {"provider": "local", "local_root": "repos", "local_poll_interval": 0.2},
        "config_path": "jobs.yaml",
        "api": {"token": "t"},
        "worker": {"poll_interval": 0.2},
        "controller": {"poll_interval": 0.2},
        "reporter": {"enabled": False},
        "containers": podman.settings(),
    }
    server = ServerProcess(workdir=tmp_path, config=config, options=("--role", "all"))
    server.start()
    try:
        repo.topic("pr/1", {"feature.txt": "the feature\n"}, "Add the feature")

        def log() -> str:
            rows = httpx.get(f"{server.url}/api/jobs", timeout=10).json()["jobs"]
            if not rows:
                return ""
            return httpx.get(f"{server.url}/api/jobs/{rows[0]['id']}/log", timeout=10).text

        text = wait_for(
            "the step to run in its image", lambda: log() if "waiting" in log() else None
        )
        assert IN_IMAGE in text and "the feature" in text  # the image's file, the checkout's
        first = f"{LABEL_PID}={server.pid}"
        assert len(podman.containers(first)) == 1
        server.kill()
        assert len(podman.containers(first)) == 1  # a crash does not stop it

        server.start()
        wait_for("the dead server's container to go", lambda: podman.containers(first) == [])
    finally:
        server.cleanup()
