"""A real hook server with the trigger plugin against a GitHub double that can hang.

Shared by the crash test (SIGKILL while GitHub stalls) and the stall test (the hook keeps
answering while GitHub stalls).
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import uuid
from pathlib import Path

from starlette.types import Receive, Scope, Send

from tests.db.fixtures import Database
from tests.doubles.github_api import GitHubDouble
from tests.hook.plugins.trigger_env import BOT, ORG, REPO, pr_payload, seed_github, sha
from tests.kit.server import ServerProcess
from tests.kit.webhooks import Delivery, headers, hook_server

JOBS = """\
presubmits:
  acme/widget:
  - name: unit
    always_run: true
    spec: {containers: [{image: alpine}]}
  - name: lint
    always_run: true
    spec: {containers: [{image: alpine}]}
  - name: e2e
    spec: {containers: [{image: alpine}]}
"""
UNTRUSTED_EVERY = 7


class StallingGitHub(GitHubDouble):
    """The GitHub double, plus a switch that makes every request wait (a GitHub outage)."""

    def __init__(self) -> None:
        super().__init__()
        self.stalled = threading.Event()

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        while self.stalled.is_set():
            await asyncio.sleep(0.005)
        await super().serve(scope, receive, send)


def author_of(number: int) -> str:
    return "mallory" if number % UNTRUSTED_EVERY == 0 else "alice"


def opened(number: int) -> Delivery:
    body = json.dumps(
        pr_payload("opened", number, author=author_of(number), head_sha=sha(f"crash-{number}"))
    ).encode()
    did = str(uuid.UUID(int=random.Random(number).getrandbits(128)))
    return Delivery(did, "pull_request", body, headers(body, did, "pull_request"), True)


def trigger_server(gh: StallingGitHub, db: Database, tmp_path: Path, prs: int) -> ServerProcess:
    """A (not yet started) server with the trigger plugin, and `prs` pull requests on `gh`."""
    seed_github(gh)
    for n in range(1, prs + 1):
        gh.add_pull(ORG, REPO, n, author=author_of(n), head_sha=sha(f"crash-{n}"), files=["a.py"])
    config = tmp_path / "jobs.yaml"
    config.write_text(JOBS)
    return hook_server(
        tmp_path,
        db.url,
        plugins=("foredeck.hook.plugins.trigger:create",),
        plugin_config={"trigger": {"bot_login": BOT, "cache_dir": str(tmp_path / "cache")}},
        github={"base_url": gh.url, "token": gh.token},
        config_path=str(config),
    )
