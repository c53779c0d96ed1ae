"""A registry token fetched for a push (ECR, Google) is censored from buildah's output."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

from foredeck.censor import Censor
from foredeck.execute.image_build import ImageBuilder
from foredeck.execute.logs import BuildLog, LogIndex, TaskLogger
from foredeck.execute.process import ProcessGroups
from foredeck.execute.workspace import RunLayout
from foredeck.settings import ImageSettings

TOKEN = "ecr-token-9f8e7d6c5b"
LEAKY_BUILDAH = """#!/bin/sh
# A push that prints its credentials, as a failing tool might.
while [ $# -gt 0 ]; do
  case "$1" in
    --digestfile) digest=$2; shift ;;
    --authfile) auth=$2; shift ;;
  esac
  shift
done
cat "$auth"; echo
printf 'sha256:%064d' 0 > "$digest"
"""


async def test_a_fetched_registry_token_is_censored(tmp_path: Path) -> None:
    buildah = tmp_path / "buildah"
    buildah.write_text(LEAKY_BUILDAH)
    buildah.chmod(0o755)
    layout = RunLayout(tmp_path / "out")
    layout.workspaces.mkdir(parents=True)
    settings = ImageSettings(buildah=str(buildah), registry_kinds={"reg.example:5000": "ecr"})
    builder = ImageBuilder(
        settings, layout, ProcessGroups(), 0.5, logins={"ecr": lambda host: ("AWS", TOKEN)}
    )
    build_log = BuildLog(tmp_path / "build-log.txt", censor=Censor(["static-secret-1"]))
    logger = TaskLogger("t", LogIndex(tmp_path / "t.index"), build_log)
    stop: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    failed, digest = await builder._push("reg.example:5000/team/app:1", logger, stop, None, "t")
    build_log.close()
    assert failed is None and digest == "sha256:" + "0" * 64
    log = (tmp_path / "build-log.txt").read_text()
    assert '"auth": "CENSORED"' in log
    assert TOKEN not in log and base64.b64encode(f"AWS:{TOKEN}".encode()).decode() not in log
